/* A container's filesystem: commit, diff, export. src/lib/container does the work. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "container/commit.h"
#include "image/reference.h"
#include "util/cleanup.h"

/* ---------------- commit ---------------- */

static int commit_help(void)
{
    cli_print_help("tug commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
                   "Create a new image from a container's changes",
                   "  -a, --author string    Author (e.g., \"John Hannibal Smith "
                   "<hannibal@a-team.com>\")\n"
                   "  -c, --change list      Apply Dockerfile instruction to the created image\n"
                   "  -m, --message string   Commit message\n"
                   "  -p, --pause            Pause container during commit (default true)\n");
    return 0;
}

/* REPOSITORY[:TAG] as a full name:tag (latest when none); *ret NULL without one. */
static int commit_tag(const char *arg, char **ret, tug_error **err)
{
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(arg, &ref, err) < 0)
        return -1;
    if (ref->digest)
        return tug_error_user(err, "a tag cannot hold a digest: %s", arg);
    *ret = tug_reference_string(ref);
    return *ret ? 0 : tug_error_set(err, ENOMEM, "commit");
}

int cmd_commit(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"author", required_argument, NULL, 'a'},
        {"change", required_argument, NULL, 'c'},
        {"message", required_argument, NULL, 'm'},
        {"pause", no_argument, NULL, 'p'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    cleanup_free const char **changes = calloc((size_t)argc + 1, sizeof(char *));
    if (changes == NULL)
        return EXIT_ENGINE;
    tug_commit_opts o = {.changes = changes, .pause = true};
    size_t nch = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "a:c:m:p", opts)) != -1) {
        switch (c) {
        case 'a':
            o.author = optarg;
            break;
        case 'c':
            changes[nch++] = optarg;
            break;
        case 'm':
            o.message = optarg;
            break;
        case 'p':
            o.pause = cli_opt_on();
            break;
        case 'H':
            return commit_help();
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage_error(ctx, "\"commit\" requires at least 1 and at most 2 arguments.\n\n"
                                    "Usage:  tug commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]");
    tug_error *err = NULL;
    cleanup_free char *tag = NULL;
    if (argc - optind == 2 && commit_tag(argv[optind + 1], &tag, &err) < 0) {
        tug_error_wrap(&err, "commit");
        return cli_fail(err);
    }
    o.tag = tag;
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    cleanup_free char *id = NULL;
    if (tug_container_commit(s, argv[optind], &o, &id, &err) < 0)
        return cli_fail(err);
    printf("%s\n", id);
    return 0;
}

/* ---------------- diff ---------------- */

int cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug diff CONTAINER",
                           "Inspect changes to files or directories on a container's filesystem");
    if (rc)
        return rc < 0 ? 0 : rc;
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"diff\" requires exactly 1 argument.\n\n"
                                    "Usage:  tug diff CONTAINER");
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    tug_change *v = NULL;
    size_t n = 0;
    if (tug_container_changes(s, argv[optind], &v, &n, &err) < 0)
        return cli_fail(err);
    for (size_t i = 0; i < n; i++)
        printf("%c %s\n", v[i].kind, v[i].path);
    tug_changes_free(v, n);
    return 0;
}

/* ---------------- export ---------------- */

/* -o FILE: written under a temporary name beside it and renamed into place once complete. */
static int export_to_file(tug_store *s, const char *what, const char *file, tug_error **err)
{
    cleanup_free char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", file) < 0)
        return tug_error_set(err, ENOMEM, "export");
    cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return tug_error_user(err, "failed to export container: open %s: %s", file,
                              strerror(errno));
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask); /* as docker's os.Create makes it */
    int r = tug_container_export(s, what, fd, err);
    if (r == 0 && fsync(fd) < 0)
        r = tug_error_set(err, errno, "write %s", file);
    if (r == 0 && rename(tmp, file) < 0)
        r = tug_error_set(err, errno, "rename %s to %s", tmp, file);
    if (r < 0)
        unlink(tmp);
    return r;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "o:", opts)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'H':
            cli_print_help("tug export [OPTIONS] CONTAINER",
                           "Export a container's filesystem as a tar archive",
                           "  -o, --output string   Write to a file, instead of STDOUT\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"export\" requires exactly 1 argument.\n\n"
                                    "Usage:  tug export [OPTIONS] CONTAINER");
    tug_error *err = NULL;
    if (output == NULL && isatty(STDOUT_FILENO)) {
        tug_error_user(&err, "cowardly refusing to save to a terminal. Use the -o flag or "
                             "redirect");
        return cli_fail(err);
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    fflush(stdout);
    int r = output ? export_to_file(s, argv[optind], output, &err)
                   : tug_container_export(s, argv[optind], STDOUT_FILENO, &err);
    return r < 0 ? cli_fail(err) : 0;
}
