/* tug: one binary, no daemon. This file dispatches commands; src/lib does the work. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "util/cleanup.h"
#include "util/fs.h"

static const cli_command image_cmds[] = {
    {"ls", cmd_images, "List images"},
    {"list", cmd_images, NULL},
    {"build", cmd_build, "Build an image from a Dockerfile"},
    {"pull", cmd_pull, "Download an image from a registry"},
    {"push", cmd_push, "Upload an image to a registry"},
    {"rm", cmd_rmi, "Remove one or more images"},
    {"remove", cmd_rmi, NULL},
    {"tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"history", cmd_history, "Show the history of an image"},
    {"inspect", cmd_image_inspect, "Display detailed information on one or more images"},
    {"import", cmd_import, "Import the contents from a tarball to create a filesystem image"},
    {"save", cmd_save, "Save one or more images to a tar archive"},
    {"load", cmd_load, "Load an image from a tar archive or STDIN"},
    {"prune", cmd_image_prune, "Remove unused images"},
    {NULL, NULL, NULL},
};

static const cli_command container_cmds[] = {
    {"ls", cmd_ps, "List containers"},
    {"list", cmd_ps, NULL},
    {"ps", cmd_ps, NULL},
    {"run", cmd_run, "Create and run a new container from an image"},
    {"create", cmd_create, "Create a new container"},
    {"start", cmd_start, "Start one or more stopped containers"},
    {"attach", cmd_attach, "Attach local standard input, output, and error streams to a running container"},
    {"stop", cmd_stop, "Stop one or more running containers"},
    {"restart", cmd_restart, "Restart one or more containers"},
    {"kill", cmd_kill, "Kill one or more running containers"},
    {"rm", cmd_rm, "Remove one or more containers"},
    {"remove", cmd_rm, NULL},
    {"logs", cmd_logs, "Fetch the logs of a container"},
    {"wait", cmd_wait, "Block until one or more containers stop, then print their exit codes"},
    {"inspect", cmd_container_inspect, "Display detailed information on one or more containers"},
    {"exec", cmd_exec, "Execute a command in a running container"},
    {"rename", cmd_rename, "Rename a container"},
    {"top", cmd_top, "Display the running processes of a container"},
    {"pause", cmd_pause, "Pause all processes within one or more containers"},
    {"unpause", cmd_unpause, "Unpause all processes within one or more containers"},
    {"prune", cmd_container_prune, "Remove all stopped containers"},
    {"commit", cmd_commit, "Create a new image from a container's changes"},
    {"diff", cmd_diff, "Inspect changes to files or directories on a container's filesystem"},
    {"export", cmd_export, "Export a container's filesystem as a tar archive"},
    {"stats", cmd_stats, "Display a live stream of container(s) resource usage statistics"},
    {"update", cmd_update, "Update configuration of one or more containers"},
    {"cp", cmd_cp, "Copy files/folders between a container and the local filesystem"},
    {"port", cmd_port, "List port mappings or a specific mapping for the container"},
    {NULL, NULL, NULL},
};

static const cli_command system_cmds[] = {
    {"df", cmd_system_df, "Show tug disk usage"},
    {"check", cmd_system_check, "Check the store and repair what a crash left behind"},
    {"migrate", cmd_system_migrate, "Convert a directory store's layers to EROFS images"},
    {"events", cmd_events, "Get real time events from the server"},
    {"info", cmd_info, "Display system-wide information"},
    {"prune", cmd_system_prune, "Remove unused data"},
    {NULL, NULL, NULL},
};

static const cli_command builder_cmds[] = {
    {"build", cmd_build, "Build an image from a Dockerfile"},
    {"prune", cmd_builder_prune, "Remove build cache"},
    {NULL, NULL, NULL},
};

static int cmd_builder_group(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "builder", builder_cmds, argc, argv);
}

static int cmd_image_group(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "image", image_cmds, argc, argv);
}

static int cmd_container_group(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "container", container_cmds, argc, argv);
}

static int cmd_system_group(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "system", system_cmds, argc, argv);
}

static const cli_command top_cmds[] = {
    {"run", cmd_run, "Create and run a new container from an image"},
    {"ps", cmd_ps, "List containers"},
    {"create", cmd_create, "Create a new container"},
    {"start", cmd_start, "Start one or more stopped containers"},
    {"attach", cmd_attach, "Attach local standard input, output, and error streams to a running container"},
    {"stop", cmd_stop, "Stop one or more running containers"},
    {"restart", cmd_restart, "Restart one or more containers"},
    {"kill", cmd_kill, "Kill one or more running containers"},
    {"rm", cmd_rm, "Remove one or more containers"},
    {"logs", cmd_logs, "Fetch the logs of a container"},
    {"exec", cmd_exec, "Execute a command in a running container"},
    {"wait", cmd_wait, "Block until one or more containers stop, then print their exit codes"},
    {"rename", cmd_rename, "Rename a container"},
    {"top", cmd_top, "Display the running processes of a container"},
    {"pause", cmd_pause, "Pause all processes within one or more containers"},
    {"unpause", cmd_unpause, "Unpause all processes within one or more containers"},
    {"commit", cmd_commit, "Create a new image from a container's changes"},
    {"diff", cmd_diff, "Inspect changes to files or directories on a container's filesystem"},
    {"export", cmd_export, "Export a container's filesystem as a tar archive"},
    {"stats", cmd_stats, "Display a live stream of container(s) resource usage statistics"},
    {"update", cmd_update, "Update configuration of one or more containers"},
    {"cp", cmd_cp, "Copy files/folders between a container and the local filesystem"},
    {"container", cmd_container_group, "Manage containers"},
    {"container-finish", cmd_container_finish, NULL},
    {"container-health", cmd_container_health, NULL},
    {"network", cmd_network, "Manage networks"},
    {"volume", cmd_volume, "Manage volumes"},
    {"port", cmd_port, "List port mappings or a specific mapping for the container"},
    {"build", cmd_build, "Build an image from a Dockerfile"},
    {"pull", cmd_pull, "Download an image from a registry"},
    {"login", cmd_login, "Log in to a registry"},
    {"logout", cmd_logout, "Log out from a registry"},
    {"push", cmd_push, "Upload an image to a registry"},
    {"images", cmd_images, "List images"},
    {"rmi", cmd_rmi, "Remove one or more images"},
    {"tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"history", cmd_history, "Show the history of an image"},
    {"import", cmd_import, "Import the contents from a tarball to create a filesystem image"},
    {"save", cmd_save, "Save one or more images to a tar archive"},
    {"load", cmd_load, "Load an image from a tar archive or STDIN"},
    {"inspect", cmd_inspect, "Return low-level information on tug objects"},
    {"image", cmd_image_group, "Manage images"},
    {"builder", cmd_builder_group, "Manage builds"},
    {"system", cmd_system_group, "Manage tug"},
    {"version", cmd_version, "Show the tug version information"},
    {"events", cmd_events, "Get real time events from the server"},
    {"info", cmd_info, "Display system-wide information"},
    {"search", cmd_search, "Search a registry for images"},
    {"serve", cmd_serve, "Serve the Docker Engine API on a unix socket"},
    {NULL, NULL, NULL},
};

static void list_commands(FILE *out, const cli_command *cmds)
{
    for (const cli_command *c = cmds; c->name; c++)
        if (c->summary)
            fprintf(out, "  %-10s  %s\n", c->name, c->summary);
}

static void usage(FILE *out)
{
    fprintf(out, "\nUsage:  tug [OPTIONS] COMMAND\n\n"
                 "A container engine with no daemon\n\n"
                 "Options:\n"
                 "      --config string              Location of client config files "
                 "(default \"$DOCKER_CONFIG\" or \"~/.docker\")\n"
                 "  -D, --debug                      Enable debug mode\n"
                 "  -H, --host list                  Daemon socket to connect to (tug "
                 "works on the store; see 'tug serve')\n"
                 "      --insecure-registry string   A registry reached over plain HTTP or "
                 "unverified TLS\n"
                 "  -l, --log-level string           Set the logging level (\"debug\", "
                 "\"info\", \"warn\", \"error\", \"fatal\") (default \"info\")\n"
                 "      --root string                Store root (default $TUG_ROOT or "
                 "/var/lib/tug)\n"
                 "  -v, --version                    Print version information and quit\n\n"
                 "Commands:\n");
    list_commands(out, top_cmds);
    fprintf(out, "\nRun 'tug COMMAND --help' for more information on a command.\n");
}

static int dispatch(cli_ctx *ctx, const char *group, const cli_command *cmds, int argc,
                    char **argv)
{
    for (const cli_command *c = cmds; c->name; c++) {
        if (strcmp(c->name, argv[0]) != 0)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%s%s%s", group ? group : "", group ? " " : "", argv[0]);
        ctx->cmd = name;
        optind = 0; /* the command's own flags are read from the start */
        return c->run(ctx, argc, argv);
    }
    if (group)
        fprintf(stderr, "tug: '%s %s' is not a tug command.\nSee 'tug %s --help'\n", group,
                argv[0], group);
    else
        fprintf(stderr, "tug: '%s' is not a tug command.\nSee 'tug --help'\n", argv[0]);
    return EXIT_USER;
}

int cli_run_group(cli_ctx *ctx, const char *group, const cli_command *cmds, int argc,
                  char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "\nUsage:  tug %s COMMAND\n\nCommands:\n", group);
        list_commands(out, cmds);
        fprintf(out, "\nRun 'tug %s COMMAND --help' for more information on a command.\n",
                group);
        return argc < 2 ? EXIT_USER : 0;
    }
    return dispatch(ctx, group, cmds, argc - 1, argv + 1);
}

void cli_debug(const cli_ctx *ctx, const char *fmt, ...)
{
    if (ctx->log_level > CLI_LOG_DEBUG)
        return;
    char msg[1024], when[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
    /* %z is +0000: RFC 3339 wants +00:00 */
    size_t n = strlen(when);
    if (n > 5 && (when[n - 5] == '+' || when[n - 5] == '-')) {
        memmove(when + n - 1, when + n - 2, 3);
        when[n - 2] = ':';
    }
    fprintf(stderr, "time=\"%s\" level=debug msg=\"", when);
    for (const char *p = msg; *p; p++) /* quoted as logfmt quotes */
        fprintf(stderr, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    fprintf(stderr, "\"\n");
}

/* logrus's level names, as docker's -l/--log-level reads them */
static int parse_log_level(const char *s)
{
    static const char *const names[] = {"trace", "debug", "info",  "warn",
                                        "error", "fatal", "panic"};
    for (int i = 0; i < (int)TUG_ARRAY_SIZE(names); i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return CLI_LOG_WARN;
    return -1;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {.root = tug_store_default_root(), .prog = "tug", .cmd = "",
                   .log_level = CLI_LOG_INFO};
    /* fds the caller left open (exec 7</dir) go no further than this process */
    tug_close_fds_from(3, true);
    /* A reader that goes away (tug images | head) ends output, not the store's work. */
    signal(SIGPIPE, SIG_IGN);
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'},
        {"insecure-registry", required_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"debug", no_argument, NULL, 'D'},
        {"log-level", required_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *host = NULL, *level = NULL;
    bool debug = false;
    int c;
    while ((c = cli_getopt(argc, argv, "+vhDl:H:", opts)) != -1) {
        switch (c) {
        case 'D':
            debug = cli_opt_on();
            break;
        case 'l':
            level = optarg;
            break;
        case 'c':
            ctx.config_dir = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'r':
            ctx.root = optarg;
            break;
        case 'k':
            if (ctx.n_insecure < TUG_ARRAY_SIZE(ctx.insecure) - 1)
                ctx.insecure[ctx.n_insecure++] = optarg;
            break;
        case 'v':
            if (!cli_opt_on())
                break;
            return cmd_version(&ctx, 0, NULL);
        case 'h':
            usage(stdout);
            return 0;
        default:
            return cli_flag_error(&ctx);
        }
    }
    if (level && (ctx.log_level = parse_log_level(level)) < 0) {
        fprintf(stderr, "Unable to parse logging level: %s\n", level);
        return EXIT_USER;
    }
    if (debug)
        ctx.log_level = CLI_LOG_DEBUG;
    if (optind >= argc) {
        usage(stderr);
        return 0;
    }
    if (host) {
        /* no daemon: commands work on the store itself, an endpoint needs `tug serve` */
        fprintf(stderr, "Cannot connect to %s: tug has no daemon; 'tug serve' serves the store to "
                        "docker's clients (tug serve -H %s); leave out -H/--host to work on the "
                        "store at %s\n",
                host, host, ctx.root);
        return EXIT_USER;
    }
    if (strcmp(argv[optind], "help") == 0) {
        usage(stdout);
        return 0;
    }
    int rc = dispatch(&ctx, NULL, top_cmds, argc - optind, argv + optind);
    tug_store_close(ctx.store);
    fflush(stdout);
    return rc;
}
