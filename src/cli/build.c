/* build and builder prune: flags, then the library's work, its events drawn by build_view. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build/build.h"
#include "build/build_mounts.h"
#include "build_view.h"
#include "build/cache.h"
#include "util/strutil.h"
#include "cli.h"
#include "commands.h"
#include "prune.h"
#include "image/reference.h"
#include "util/cleanup.h"
#include "util/fs.h"

enum {
    O_BUILDARG = 1000, O_LABEL, O_TARGET, O_PLATFORM, O_NOCACHE, O_PULL, O_IIDFILE, O_NETWORK,
    O_ADDHOST, O_CACHEFROM, O_PROGRESS, O_SECRET, O_HELP,
};

static const char build_help[] =
    "      --add-host list           Add a custom host-to-IP mapping (host:ip)\n"
    "      --build-arg list          Set build-time variables\n"
    "      --cache-from strings      Images to consider as cache sources\n"
    "  -f, --file string             Name of the Dockerfile (Default is 'PATH/Dockerfile')\n"
    "      --iidfile string          Write the image ID to the file\n"
    "      --label list              Set metadata for an image\n"
    "      --network string          Set the networking mode for the RUN instructions during "
    "build (default \"default\")\n"
    "      --no-cache                Do not use cache when building the image\n"
    "      --platform string         Set platform if server is multi-platform capable\n"
    "      --progress string         Set type of progress output (auto, plain, tty, quiet). Use "
    "plain to show container output (default \"auto\")\n"
    "      --pull                    Always attempt to pull a newer version of the image\n"
    "  -q, --quiet                   Suppress the build output and print image ID on success\n"
    "      --secret stringArray      Secret to expose to the build (format: "
    "\"id=mysecret[,src=/local/secret]\" or \"id=mysecret,env=VAR\")\n"
    "  -t, --tag list                Name and optionally a tag in the 'name:tag' format\n"
    "      --target string           Set the target build stage to build.\n";

typedef struct strlist {
    const char **v;
    size_t n;
} strlist;

static void strlist_add(strlist *l, const char *s)
{
    const char **nv = realloc(l->v, (l->n + 2) * sizeof(*nv));
    if (nv == NULL)
        return;
    l->v = nv;
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

/* -t values as full names; docker's words for a bad one. */
static int full_tags(cli_ctx *ctx, strlist *given, char ***ret)
{
    char **full = calloc(given->n + 1, sizeof(char *));
    if (full == NULL)
        return EXIT_ENGINE;
    for (size_t i = 0; i < given->n; i++) {
        tug_error *err = NULL;
        tug_reference *ref = NULL;
        if (tug_reference_parse(given->v[i], &ref, &err) < 0 || ref->digest) {
            fprintf(stderr, "invalid argument \"%s\" for \"-t, --tag\" flag: %s\nSee '%s %s "
                            "--help'.\n",
                    given->v[i], err ? err->msg : "a tag cannot hold a digest", ctx->prog,
                    ctx->cmd);
            tug_error_free(err);
            tug_reference_free(ref);
            for (size_t j = 0; j < i; j++)
                free(full[j]);
            free(full);
            return EXIT_ENGINE;
        }
        full[i] = tug_reference_string(ref);
        tug_reference_free(ref);
    }
    *ret = full;
    return 0;
}

/* The build itself, once the flags are read. */
static int do_build(cli_ctx *ctx, tug_build_opts *o, const char *context, strlist *tags,
                    bool quiet, const char *progress, const char *iidfile)
{
    if (strstr(context, "://") || strncmp(context, "git@", 4) == 0) {
        fprintf(stderr, "Error: building from %s is not supported: give a local directory or - "
                        "(a tar on stdin)\n",
                context);
        return EXIT_USER;
    }
    cleanup_strv char **full = NULL;
    int rc = full_tags(ctx, tags, &full);
    if (rc != 0)
        return rc;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    o->context = context;
    o->tags = (const char *const *)full;
    o->registry = &ropts;
    build_view *view = NULL;
    if (!quiet && strcmp(progress, "quiet") != 0) {
        bool tty = strcmp(progress, "tty") == 0 ||
                   (strcmp(progress, "auto") == 0 && isatty(STDERR_FILENO));
        view = build_view_new(tty, stderr);
        if (view == NULL)
            return EXIT_ENGINE;
        o->events = build_view_events(view);
    }
    tug_error *err = NULL;
    cleanup_free char *id = NULL;
    int r = tug_build(s, o, &id, &err);
    build_view_free(view, r == 0);
    if (r < 0) {
        fprintf(stderr, "ERROR: failed to solve: %s\n", err->msg);
        tug_error_free(err);
        return EXIT_USER;
    }
    if (quiet)
        printf("%s\n", id);
    if (iidfile && tug_write_file_atomic_nosync(iidfile, id, strlen(id), 0644, &err) < 0)
        return cli_fail(err);
    return 0;
}

int cmd_build(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tag", required_argument, NULL, 't'},        {"file", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},            {"build-arg", required_argument, NULL, O_BUILDARG},
        {"label", required_argument, NULL, O_LABEL},  {"target", required_argument, NULL, O_TARGET},
        {"platform", required_argument, NULL, O_PLATFORM},
        {"no-cache", no_argument, NULL, O_NOCACHE},   {"pull", no_argument, NULL, O_PULL},
        {"iidfile", required_argument, NULL, O_IIDFILE},
        {"network", required_argument, NULL, O_NETWORK},
        {"add-host", required_argument, NULL, O_ADDHOST},
        {"cache-from", required_argument, NULL, O_CACHEFROM},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"secret", required_argument, NULL, O_SECRET},
        {"help", no_argument, NULL, O_HELP},          {NULL, 0, NULL, 0},
    };
    strlist tags = {0}, args = {0}, labels = {0}, hosts = {0}, cache_from = {0}, secrets = {0};
    tug_build_opts o = {.network = "default"};
    const char *iidfile = NULL, *progress = "auto";
    bool quiet = false;
    int rc = 0, c;
    while ((c = cli_getopt(argc, argv, "t:f:q", opts)) != -1) {
        switch (c) {
        case 't':
            strlist_add(&tags, optarg);
            break;
        case 'f':
            o.dockerfile = optarg;
            break;
        case 'q':
            quiet = cli_opt_on();
            break;
        case O_BUILDARG:
            strlist_add(&args, optarg);
            break;
        case O_LABEL:
            strlist_add(&labels, optarg);
            break;
        case O_TARGET:
            o.target = optarg;
            break;
        case O_PLATFORM:
            o.platform = optarg;
            break;
        case O_NOCACHE:
            o.no_cache = cli_opt_on();
            break;
        case O_PULL:
            o.pull = cli_opt_on();
            break;
        case O_IIDFILE:
            iidfile = optarg;
            break;
        case O_NETWORK:
            o.network = optarg;
            break;
        case O_ADDHOST:
            strlist_add(&hosts, optarg);
            break;
        case O_CACHEFROM:
            strlist_add(&cache_from, optarg);
            break;
        case O_PROGRESS:
            progress = optarg;
            break;
        case O_SECRET: {
            tug_build_secret sec;
            tug_error *err = NULL;
            if (tug_build_secret_parse(optarg, &sec, &err) < 0) {
                fprintf(stderr, "invalid argument \"%s\" for \"--secret\" flag: %s\nSee '%s %s "
                                "--help'.\n",
                        optarg, err->msg, ctx->prog, ctx->cmd);
                tug_error_free(err);
                rc = EXIT_ENGINE;
                goto out;
            }
            tug_build_secret_clear(&sec);
            strlist_add(&secrets, optarg);
            break;
        }
        case O_HELP:
            cli_print_help("tug build [OPTIONS] PATH | URL | -", "Build an image from a Dockerfile",
                           build_help);
            goto out;
        default:
            rc = cli_flag_error(ctx);
            goto out;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_error(ctx, "\"build\" requires exactly 1 argument.\n\nUsage:  tug build "
                                  "[OPTIONS] PATH | URL | -");
        goto out;
    }
    if (strcmp(progress, "auto") != 0 && strcmp(progress, "plain") != 0 &&
        strcmp(progress, "tty") != 0 && strcmp(progress, "quiet") != 0) {
        rc = cli_bad_value(ctx, progress, "--progress", "use auto, plain, tty or quiet");
        goto out;
    }
    if (strcmp(o.network, "default") != 0 && strcmp(o.network, "none") != 0 &&
        strcmp(o.network, "host") != 0) {
        fprintf(stderr, "Error: network mode \"%s\" not supported by buildkit: use default, none "
                        "or host\n",
                o.network);
        rc = EXIT_USER;
        goto out;
    }
    o.build_args = args.v;
    o.labels = labels.v;
    o.add_hosts = hosts.v;
    o.cache_from = cache_from.v;
    o.secrets = secrets.v;
    rc = do_build(ctx, &o, argv[optind], &tags, quiet, progress, iidfile);
out:
    free(tags.v);
    free(args.v);
    free(labels.v);
    free(hosts.v);
    free(cache_from.v);
    free(secrets.v);
    return rc;
}

int cli_prune_build_cache(tug_store *s, const cli_prune_opts *o, long long *reclaimed)
{
    tug_error *err = NULL;
    long long rows = 0, bytes = 0;
    if (tug_build_cache_prune(s, o->until, &rows, &bytes, &err) < 0)
        return cli_fail(err);
    *reclaimed += bytes;
    return 0;
}

/* builder prune: the build cache's rows go, the layers only they kept, and the cache mounts. */
int cmd_builder_prune(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {"filter", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    long long until = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "af", opts)) != -1) {
        switch (c) {
        case 'a':
            /* every row is the cache of some build: -a and not -a prune the same */
            break;
        case 'f':
            force = cli_opt_on();
            break;
        case 'F': {
            int64_t ns = 0;
            if (strncmp(optarg, "until=", 6) != 0 || tug_parse_go_duration(optarg + 6, &ns) < 0 ||
                ns < 0)
                return cli_usage_error(ctx, "invalid filter '%s' (tug supports until=DURATION, "
                                            "e.g. until=24h)",
                                       optarg);
            until = (long long)time(NULL) - ns / 1000000000LL;
            break;
        }
        case 'H':
            cli_print_help("tug builder prune", "Remove build cache",
                           "  -a, --all             Remove all unused build cache, not just "
                           "dangling ones\n      --filter filter   Provide filter values (e.g. "
                           "'until=24h')\n  -f, --force           Do not prompt for "
                           "confirmation\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    if (!force && !cli_confirm("WARNING! This will remove all dangling build cache."))
        return 0;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    long long reclaimed = 0;
    cli_prune_opts po = {.until = until};
    rc = cli_prune_build_cache(s, &po, &reclaimed);
    cli_prune_total(reclaimed);
    return rc;
}
