/* Container commands: run, create, start, stop, kill, restart, rm, wait, rename, pause, unpause,
 * container prune, top, and the monitor's hand-over (container-finish). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "container/connect.h"
#include "container/system.h"
#include "container/top.h"
#include "create_flags.h"
#include "image/image.h"
#include "image/reference.h"
#include "progress.h"
#include "prune.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/strutil.h"

static int fail_for_start(tug_error *err)
{
    /* 126: found but cannot be run; 127: not found; 125: anything else (docker's codes) */
    int status = err->status == 126 || err->status == 127 ? err->status : EXIT_ENGINE;
    fprintf(stderr, "Error: %s\n", err->msg);
    tug_error_free(err);
    return status;
}

/* Pull the image when run/create needs it, as docker does. */
static int ensure_image(cli_ctx *ctx, tug_store *s, const create_flags *f)
{
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    bool have = tug_store_find_image(s, f->image, &img, &err) == 0;
    tug_error_free(err);
    err = NULL;
    if (have && strcmp(f->pull, "always") != 0)
        return 0;
    if (!have && strcmp(f->pull, "never") == 0) {
        fprintf(stderr, "Error: No such image: %s\n", f->image);
        return EXIT_ENGINE;
    }
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(f->image, &ref, &err) < 0) {
        fprintf(stderr, "Error: %s\n", err->msg);
        tug_error_free(err);
        return EXIT_ENGINE;
    }
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_free char *fam = tug_familiar_name(name);
    if (!have && !f->quiet)
        fprintf(stderr, "Unable to find image '%s:%s' locally\n", fam,
                ref->tag ? ref->tag : "latest");
    /* progress goes to stderr so that `tug run` output stays the container's */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    tug_pull_result res = {0};
    int r = cli_pull_with_view(ctx, s, ref, f->quiet, f->platform, &res, &err);
    if (r == 0 && !f->quiet) {
        printf("Digest: %s\nStatus: %s for %s:%s\n", res.digest,
               res.up_to_date ? "Image is up to date" : "Downloaded newer image", fam,
               ref->tag ? ref->tag : "latest");
    }
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    tug_pull_result_clear(&res);
    if (r < 0) {
        /* docker run's status for a failure before the container exists */
        cleanup_free char *full = tug_reference_string(ref);
        fprintf(stderr, "Error: pull %s: %s\n", full ? full : f->image, err->msg);
        tug_error_free(err);
        return EXIT_ENGINE;
    }
    return 0;
}

static int create_container(cli_ctx *ctx, create_flags *f, tug_container **ret)
{
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    if ((rc = ensure_image(ctx, s, f)) != 0)
        return rc;
    for (size_t i = 0; i < f->n_warnings; i++)
        fprintf(stderr, "%s\n", f->warnings[i]);
    tug_error *err = NULL;
    if (tug_container_create(s, f->image, f->request, f->name, ret, &err) < 0) {
        int status = err->kind == TUG_ERR_USER ? EXIT_ENGINE : EXIT_ENGINE;
        fprintf(stderr, "Error: %s\n", err->msg);
        tug_error_free(err);
        return status;
    }
    return 0;
}

/* Create the container; with --cidfile, write its ID there as docker's client does: a file
 * already there is refused before anything is done, and the file goes if the create fails. */
static int do_create(cli_ctx *ctx, create_flags *f, tug_container **ret)
{
    if (f->cidfile == NULL)
        return create_container(ctx, f, ret);
    cleanup_close int fd = open(f->cidfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) {
        fprintf(stderr,
                "Error: Container ID file found, make sure the other container isn't "
                "running or delete %s\n",
                f->cidfile);
        return EXIT_ENGINE;
    }
    if (fd < 0) {
        fprintf(stderr, "Error: failed to create the container ID file: open %s: %s\n", f->cidfile,
                strerror(errno));
        return EXIT_ENGINE;
    }
    int rc = create_container(ctx, f, ret);
    size_t len = rc == 0 ? strlen((*ret)->id) : 0;
    errno = 0;
    if (rc == 0 && write(fd, (*ret)->id, len) != (ssize_t)len) {
        fprintf(stderr, "Error: failed to write the container ID to %s: %s\n", f->cidfile,
                strerror(errno ? errno : ENOSPC));
        rc = EXIT_ENGINE;
    }
    if (rc != 0)
        unlink(f->cidfile);
    return rc;
}

int cmd_create(cli_ctx *ctx, int argc, char **argv)
{
    create_flags f;
    int rc = parse_create_flags(ctx, argc, argv, false, &f);
    if (rc != 0) {
        create_flags_clear(&f);
        return rc < 0 ? 0 : rc;
    }
    if (!f.detach && f.interactive && f.tty && !isatty(STDIN_FILENO)) {
        create_flags_clear(&f);
        return cli_not_a_tty();
    }
    cleanup_container tug_container *c = NULL;
    rc = do_create(ctx, &f, &c);
    create_flags_clear(&f);
    if (rc)
        return rc;
    printf("%s\n", c->id);
    return 0;
}

/* Start c, attached or not; returns the exit status tug should end with. run has the flags
 * of tug run (the streams of -a, --sig-proxy), NULL for start and restart; detach_keys is
 * --detach-keys (NULL: the config's or docker's). */
static int start_container(cli_ctx *ctx, tug_container *c, bool attach, bool interactive,
                           const create_flags *run, const char *detach_keys)
{
    tug_store *s = ctx->store;
    tug_error *err = NULL;
    int sv[2] = {-1, -1};
    tug_detach_matcher keys;
    if (attach) {
        int rc = attach_detach_keys(ctx, detach_keys, &keys);
        if (rc)
            return rc;
        /* start -a of a running container attaches to it, as docker does */
        if (run == NULL && tug_container_refresh(s, c, &err) == 0 &&
            strcmp(c->state, TUG_STATE_RUNNING) == 0) {
            int r = attach_running(s, c, interactive, true, &keys);
            return r == ATTACH_DETACHED ? 0 : r; /* start -ai leaves quietly, as docker */
        }
        tug_error_free(err);
        err = NULL;
    }
    if (attach && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        return EXIT_ENGINE;
    }
    tug_start_opts o = {.attach_fd = sv[1], .open_stdin = interactive};
    struct winsize ws;
    if (attach && (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 ||
                   ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)) {
        o.rows = ws.ws_row;
        o.cols = ws.ws_col;
    }
    int r = tug_container_start(s, c, &o, &err);
    if (sv[1] >= 0)
        close(sv[1]);
    if (r < 0) {
        if (sv[0] >= 0)
            close(sv[0]);
        bool autoremove =
            json_is_true(json_object_get(json_object_get(c->config, "HostConfig"), "AutoRemove"));
        if (autoremove) {
            tug_error *e2 = NULL;
            tug_container_remove(s, c, &e2);
            tug_error_free(e2);
        }
        tug_error_wrap(&err, "failed to start container %.12s", c->id);
        return fail_for_start(err);
    }
    if (!attach)
        return 0;
    bool tty = json_is_true(json_object_get(json_object_get(c->config, "Config"), "Tty"));
    unsigned streams = run && run->attach ? run->attach : ATTACH_STDOUT | ATTACH_STDERR;
    /* signals go to the init through a pidfd: never to a process that took a dead init's pid */
    bool proxy = !tty && !(run && run->no_sig_proxy);
    int pidfd = proxy ? tug_container_pidfd(c, NULL) : -1;
    attach_opts ao = {.forward_stdin = interactive, .eof_closes = true, .streams = streams,
                      .tty = tty, .proxy_pidfd = pidfd, .finish_self = true, .keys = &keys};
    int code = attach_relay(sv[0], &ao);
    if (pidfd >= 0)
        close(pidfd);
    close(sv[0]);
    if (code == ATTACH_DETACHED)
        return 0; /* the container runs on; its monitor records the exit */
    if (code >= 0) {
        /* The monitor left the bookkeeping to us (see TUG_FRAME_FINISH). */
        if (tug_container_finish(s, c->id, -1, &err) < 0)
            return cli_fail(err);
    } else {
        /* The channel broke (the monitor was killed): ask the store how it ended. */
        if (tug_container_wait(s, c, &err) < 0)
            return cli_fail(err);
        code = c->exit_code;
    }
    return code;
}

int cmd_run(cli_ctx *ctx, int argc, char **argv)
{
    create_flags f;
    int rc = parse_create_flags(ctx, argc, argv, true, &f);
    if (rc != 0) {
        create_flags_clear(&f);
        return rc < 0 ? 0 : rc;
    }
    if (!f.detach && f.interactive && f.tty && !isatty(STDIN_FILENO)) {
        create_flags_clear(&f);
        return cli_not_a_tty();
    }
    cleanup_container tug_container *c = NULL;
    rc = do_create(ctx, &f, &c);
    if (rc == 0)
        rc = start_container(ctx, c, !f.detach, f.interactive, &f, f.detach_keys);
    if (rc == 0 && f.detach)
        printf("%s\n", c->id);
    create_flags_clear(&f);
    return rc;
}

typedef int (*each_fn)(cli_ctx *ctx, tug_container *c, void *arg);

/* Run fn for every named container; errors are printed and the worst status returned, as
 * docker does for commands taking several containers. */
static int for_each(cli_ctx *ctx, int argc, char **argv, each_fn fn, void *arg)
{
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    for (int i = 0; i < argc; i++) {
        tug_error *err = NULL;
        cleanup_container tug_container *c = NULL;
        ctx->cur_arg = argv[i];
        if (tug_container_find(s, argv[i], &c, &err) < 0) {
            int r = cli_fail(err);
            rc = r > rc ? r : rc;
            continue;
        }
        int r = fn(ctx, c, arg);
        rc = r > rc ? r : rc;
    }
    return rc;
}

static int need_args(cli_ctx *ctx, int n, const char *usage)
{
    if (n > 0)
        return 0;
    fprintf(stderr, "\"%s\" requires at least 1 argument.\nSee '%s %s --help'.\n\nUsage:  %s\n",
            ctx->cmd, ctx->prog, ctx->cmd, usage);
    return EXIT_USER;
}

/* ---- start ---- */

typedef struct start_args {
    bool attach, interactive;
    const char *detach_keys;
} start_args;

static int start_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    start_args *a = arg;
    int code = start_container(ctx, c, a->attach, a->interactive, NULL, a->detach_keys);
    if (!a->attach && code == 0)
        printf("%s\n", c->name);
    return code;
}

int cmd_start(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"attach", no_argument, NULL, 'a'},
        {"interactive", no_argument, NULL, 'i'},
        {"detach-keys", required_argument, NULL, 'K'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    start_args flags = {0};
    int c;
    while ((c = cli_getopt(argc, argv, "ai", opts)) != -1) {
        switch (c) {
        case 'a':
            flags.attach = cli_opt_on();
            break;
        case 'i':
            flags.interactive = cli_opt_on();
            break;
        case 'K':
            flags.detach_keys = optarg;
            break;
        case 'H':
            cli_print_help("tug start [OPTIONS] CONTAINER [CONTAINER...]",
                           "Start one or more stopped containers",
                           "  -a, --attach               Attach STDOUT/STDERR and forward signals\n"
                           "      --detach-keys string   Override the key sequence for detaching a "
                           "container\n"
                           "  -i, --interactive          Attach container's STDIN\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = need_args(ctx, argc - optind, "tug start [OPTIONS] CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    if (flags.attach && argc - optind > 1) {
        fprintf(stderr, "Error: you cannot start and attach multiple containers at once\n");
        return EXIT_USER;
    }
    return for_each(ctx, argc - optind, argv + optind, start_one, &flags);
}

/* ---- stop / kill / restart ---- */

typedef struct stop_args {
    int timeout;
    int sig;
    bool restart;
} stop_args;

static int stop_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    stop_args *a = arg;
    tug_error *err = NULL;
    bool forced = false;
    if (tug_container_stop(ctx->store, c, a->sig, a->timeout, &forced, &err) < 0)
        return cli_fail(err);
    if (forced) {
        int t = a->timeout;
        if (t < 0) {
            json_t *st = json_object_get(json_object_get(c->config, "Config"), "StopTimeout");
            t = json_is_integer(st) ? (int)json_integer_value(st) : 10;
        }
        cli_debug(ctx, "%s did not exit within %d second%s of its stop signal: killed it",
                  c->name, t, t == 1 ? "" : "s");
    }
    if (a->restart) {
        int code = start_container(ctx, c, false, false, NULL, NULL);
        if (code)
            return code;
        tug_container_event(ctx->store, c, "restart", NULL);
    }
    printf("%s\n", ctx->cur_arg);
    return 0;
}

static int stop_like(cli_ctx *ctx, int argc, char **argv, bool restart)
{
    static const struct option opts[] = {
        {"time", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 't'}, /* docker 23's name for --time */
        {"signal", required_argument, NULL, 's'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    stop_args a = {.timeout = -1, .sig = 0, .restart = restart};
    int c;
    char *end;
    while ((c = cli_getopt(argc, argv, "t:s:", opts)) != -1) {
        switch (c) {
        case 't':
            a.timeout = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end) {
                fprintf(stderr, "invalid argument \"%s\" for \"-t, --time\" flag: invalid syntax\n",
                        optarg);
                return EXIT_ENGINE;
            }
            break;
        case 's':
            a.sig = tug_signal_parse(optarg);
            if (a.sig < 0) {
                fprintf(stderr, "Error: invalid signal: %s\n", optarg);
                return EXIT_ENGINE;
            }
            break;
        case 'H':
            cli_print_help(restart ? "tug restart [OPTIONS] CONTAINER [CONTAINER...]"
                                   : "tug stop [OPTIONS] CONTAINER [CONTAINER...]",
                           restart ? "Restart one or more containers"
                                   : "Stop one or more running containers",
                           "  -s, --signal string   Signal to send to the container\n"
                           "  -t, --time int        Seconds to wait before killing the "
                           "container (default 10)\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = need_args(ctx, argc - optind, "tug stop [OPTIONS] CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    return for_each(ctx, argc - optind, argv + optind, stop_one, &a);
}

int cmd_stop(cli_ctx *ctx, int argc, char **argv)
{
    return stop_like(ctx, argc, argv, false);
}

int cmd_restart(cli_ctx *ctx, int argc, char **argv)
{
    return stop_like(ctx, argc, argv, true);
}

static int kill_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    tug_error *err = NULL;
    if (tug_container_signal(ctx->store, c, *(int *)arg, &err) < 0) {
        tug_error_wrap(&err, "Cannot kill container: %s", ctx->cur_arg);
        return cli_fail(err);
    }
    printf("%s\n", ctx->cur_arg);
    return 0;
}

int cmd_kill(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"signal", required_argument, NULL, 's'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    int sig = SIGKILL, c;
    while ((c = cli_getopt(argc, argv, "s:", opts)) != -1) {
        switch (c) {
        case 's':
            sig = tug_signal_parse(optarg);
            if (sig < 0) {
                fprintf(stderr, "Error: invalid signal: %s\n", optarg);
                return EXIT_ENGINE;
            }
            break;
        case 'H':
            cli_print_help("tug kill [OPTIONS] CONTAINER [CONTAINER...]",
                           "Kill one or more running containers",
                           "  -s, --signal string   Signal to send to the container (default "
                           "\"KILL\")\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = need_args(ctx, argc - optind, "tug kill [OPTIONS] CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    return for_each(ctx, argc - optind, argv + optind, kill_one, &sig);
}

/* ---- rm ---- */

typedef struct rm_opts {
    bool force, volumes;
} rm_opts;

static int rm_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    bool force = ((rm_opts *)arg)->force;
    c->remove_volumes = ((rm_opts *)arg)->volumes;
    tug_error *err = NULL;
    if (tug_container_rm(ctx->store, c, force, &err) < 0)
        return cli_fail(err);
    printf("%s\n", ctx->cur_arg);
    return 0;
}

int cmd_rm(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"volumes", no_argument, NULL, 'v'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    rm_opts o = {false, false};
    int c;
    while ((c = cli_getopt(argc, argv, "fv", opts)) != -1) {
        switch (c) {
        case 'f':
            o.force = cli_opt_on();
            break;
        case 'v':
            o.volumes = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug rm [OPTIONS] CONTAINER [CONTAINER...]",
                           "Remove one or more containers",
                           "  -f, --force     Force the removal of a running container (uses "
                           "SIGKILL)\n  -v, --volumes   Remove anonymous volumes associated with "
                           "the container\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = need_args(ctx, argc - optind, "tug rm [OPTIONS] CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    return for_each(ctx, argc - optind, argv + optind, rm_one, &o);
}

/* ---- wait, rename, pause ---- */

static int wait_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    tug_error *err = NULL;
    if (tug_container_wait(ctx->store, c, &err) < 0)
        return cli_fail(err);
    printf("%d\n", c->exit_code);
    fflush(stdout);
    return 0;
}

int cmd_wait(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug wait CONTAINER [CONTAINER...]",
                           "Block until one or more containers stop, then print their exit "
                           "codes");
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = need_args(ctx, argc - optind, "tug wait CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    return for_each(ctx, argc - optind, argv + optind, wait_one, NULL);
}

int cmd_rename(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug rename CONTAINER NEW_NAME", "Rename a container");
    if (rc)
        return rc < 0 ? 0 : rc;
    if (argc - optind != 2) {
        fprintf(stderr, "\"rename\" requires exactly 2 arguments.\nSee 'tug rename --help'.\n");
        return EXIT_USER;
    }
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    cleanup_container tug_container *ct = NULL;
    if (tug_container_find(s, argv[optind], &ct, &err) < 0)
        return cli_fail(err);
    if (tug_container_rename(s, ct, argv[optind + 1], &err) < 0)
        return cli_fail(err);
    return 0;
}

static int pause_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    tug_error *err = NULL;
    if (tug_container_pause(ctx->store, c, *(bool *)arg, &err) < 0)
        return cli_fail(err);
    printf("%s\n", ctx->cur_arg);
    return 0;
}

static int pause_like(cli_ctx *ctx, int argc, char **argv, bool pause)
{
    int rc = cli_help_only(ctx, argc, argv,
                           pause ? "tug pause CONTAINER [CONTAINER...]"
                                 : "tug unpause CONTAINER [CONTAINER...]",
                           pause ? "Pause all processes within one or more containers"
                                 : "Unpause all processes within one or more containers");
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = need_args(ctx, argc - optind,
                   pause ? "tug pause CONTAINER [CONTAINER...]"
                         : "tug unpause CONTAINER [CONTAINER...]");
    if (rc)
        return rc;
    return for_each(ctx, argc - optind, argv + optind, pause_one, &pause);
}

int cmd_pause(cli_ctx *ctx, int argc, char **argv)
{
    return pause_like(ctx, argc, argv, true);
}

int cmd_unpause(cli_ctx *ctx, int argc, char **argv)
{
    return pause_like(ctx, argc, argv, false);
}

/* ---- container prune ---- */

int cli_prune_containers(tug_store *s, const cli_prune_opts *o, long long *reclaimed)
{
    tug_prune_filter f;
    cli_prune_filter_of(o, &f);
    tug_error *err = NULL;
    cleanup_strv char **ids = NULL;
    long long freed = 0;
    int r = tug_container_prune(s, &f, &ids, &freed, &err);
    for (size_t i = 0; ids && ids[i]; i++)
        printf("%s%s\n", i == 0 ? "Deleted Containers:\n" : "", ids[i]);
    if (ids && ids[0])
        printf("\n");
    *reclaimed += freed;
    return r < 0 ? cli_fail(err) : 0;
}

int cmd_container_prune(cli_ctx *ctx, int argc, char **argv)
{
    cli_prune_opts po = {0};
    int rc = cli_prune_parse(
        ctx, argc, argv, "tug container prune [OPTIONS]", "Remove all stopped containers",
        "      --filter filter   Provide filter values (e.g. 'until=<timestamp>')\n"
        "  -f, --force           Do not prompt for confirmation\n",
        false, false, &po);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!po.force && !cli_confirm("WARNING! This will remove all stopped containers."))
        return 0;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    long long reclaimed = 0;
    rc = cli_prune_containers(s, &po, &reclaimed);
    cli_prune_total(reclaimed);
    return rc;
}

/* ---- what the monitor hands over to ---- */

int cmd_container_finish(cli_ctx *ctx, int argc, char **argv)
{
    int attach = -1;
    if (argc >= 4 && strcmp(argv[2], "--attach-fd") == 0)
        attach = atoi(argv[3]);
    if (argc < 2)
        return EXIT_USER;
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_error *err = NULL;
    if (tug_container_finish(s, argv[1], attach, &err) < 0) {
        tug_error_free(err);
        return EXIT_ENGINE;
    }
    return 0;
}

/* ---- top ---- */

typedef struct top_args {
    char **v;
    size_t n;
} top_args;

static int top_one(cli_ctx *ctx, tug_container *c, void *arg)
{
    const top_args *a = arg;
    tug_error *err = NULL;
    cleanup_strv char **lines = NULL;
    size_t n = 0;
    if (tug_container_refresh(ctx->store, c, &err) < 0 ||
        tug_container_top(c, a->v, a->n, &lines, &n, &err) < 0)
        return cli_fail(err);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", lines[i]);
    return 0;
}

int cmd_top(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {HELP_OPT, {NULL, 0, NULL, 0}};
    int c;
    /* what follows the container is ps's own options */
    while ((c = cli_getopt(argc, argv, "+", opts)) != -1) {
        if (c == 'H') {
            cli_print_help("tug top CONTAINER [ps OPTIONS]",
                           "Display the running processes of a container", "");
            return 0;
        }
        return cli_flag_error(ctx);
    }
    if (argc - optind < 1) {
        fprintf(stderr, "\"top\" requires at least 1 argument.\nSee 'tug top --help'.\n");
        return EXIT_USER;
    }
    top_args a = {.v = argv + optind + 1, .n = (size_t)(argc - optind - 1)};
    return for_each(ctx, 1, argv + optind, top_one, &a);
}
