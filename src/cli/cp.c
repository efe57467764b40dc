/* tug cp (and tug container cp): operands read as docker reads them; src/lib/container/cp.c
 * does the copy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "container/cp.h"
#include "util/cleanup.h"

#define CP_USAGE                                                                                   \
    "tug cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"                                            \
    "\ttug cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"

/* docker's splitCpArg: an absolute path, or one whose part before ':' starts with '.', is the
 * host's; CONTAINER:PATH otherwise. *ret_path is what follows the ':' (made absolute). */
static bool container_arg(char *arg, const char **ret_ctr, const char **ret_path)
{
    char *colon = strchr(arg, ':');
    if (arg[0] == '/' || colon == NULL || arg[0] == '.')
        return false;
    *colon = '\0';
    *ret_ctr = arg;
    *ret_path = colon + 1;
    return true;
}

int cmd_cp(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"archive", no_argument, NULL, 'a'},
        {"follow-link", no_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    /* docker's CLI always asks the daemon not to put a file where a directory is or the
     * reverse (a file named etc over /etc leaves a container that cannot start) */
    tug_cp_opts o = {.no_dir_swap = true};
    int c;
    while ((c = cli_getopt(argc, argv, "aLq", opts)) != -1) {
        switch (c) {
        case 'a':
            o.archive = cli_opt_on();
            break;
        case 'L':
            o.follow = cli_opt_on();
            break;
        case 'q': /* progress is never printed: nothing to quiet */
            break;
        case 'H':
            cli_print_help(CP_USAGE,
                           "Copy files/folders between a container and the local filesystem\n\n"
                           "Use '-' as the source to read a tar archive from stdin\n"
                           "and extract it to a directory destination in a container.\n"
                           "Use '-' as the destination to stream a tar archive of a\n"
                           "container source to stdout.",
                           "  -a, --archive       Archive mode (copy all uid/gid information)\n"
                           "  -L, --follow-link   Always follow symbol link in SRC_PATH\n"
                           "  -q, --quiet         Suppress progress output during copy\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(ctx, "\"cp\" requires exactly 2 arguments.\n\nUsage:  " CP_USAGE);
    char *src = argv[optind], *dst = argv[optind + 1];
    const char *sctr = NULL, *spath = NULL, *dctr = NULL, *dpath = NULL;
    bool from = container_arg(src, &sctr, &spath), to = container_arg(dst, &dctr, &dpath);
    tug_error *err = NULL;
    if (from && to)
        tug_error_user(&err, "copying between containers is not supported");
    else if (!from && !to)
        tug_error_user(&err, "must specify at least one container source");
    else if ((from ? *spath : *dpath) == '\0' || (from ? *dst : *src) == '\0')
        tug_error_user(&err, "%s can not be empty",
                       (from ? *spath : *src) ? "destination" : "source");
    if (err)
        return cli_fail(err);
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    /* a container path is from the container's root, as docker takes one */
    cleanup_free char *cpath = NULL;
    if (asprintf(&cpath, "%s%s", (from ? *spath : *dpath) == '/' ? "" : "/", from ? spath : dpath) <
        0)
        return tug_error_set(&err, ENOMEM, "cp"), cli_fail(err);
    fflush(stdout);
    int r = from ? tug_cp_from_container(s, sctr, cpath, strcmp(dst, "-") == 0 ? NULL : dst,
                                         STDOUT_FILENO, &o, &err)
                 : tug_cp_to_container(s, dctr, cpath, strcmp(src, "-") == 0 ? NULL : src,
                                       STDIN_FILENO, &o, &err);
    return r < 0 ? cli_fail(err) : 0;
}
