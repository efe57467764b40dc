/* tug push: parse, ask src/lib/image/push.c, print docker's lines. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "image/push.h"
#include "image/reference.h"
#include "progress.h"
#include "util/cleanup.h"

static const char push_usage[] = "tug push [OPTIONS] NAME[:TAG]";

/* Layers known: docker's "Preparing" line for each. */
static void on_layers(void *ud, const char *const *ids, size_t n)
{
    pull_view_layers(ud, ids, n);
    for (size_t i = 0; i < n; i++)
        pull_view_progress(ud, ids[i], "Preparing", 0, 0);
}

static int push_one(tug_store *s, const tug_reference *ref, const tug_push_opts *base, bool quiet,
                    tug_error **err)
{
    pull_view *view = pull_view_new(quiet, NULL);
    tug_push_opts opts = *base;
    opts.userdata = view;
    tug_push_result res;
    int r = tug_push(s, ref, &opts, &res, err);
    pull_view_free(view);
    if (r < 0)
        return r;
    if (!quiet)
        printf("%s: digest: %s size: %lld\n", ref->tag, res.digest, res.size);
    fflush(stdout);
    return 0;
}

int cmd_push(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all-tags", no_argument, NULL, 'a'},
        {"compression", required_argument, NULL, 'C'},
        {"quiet", no_argument, NULL, 'q'},
        {"disable-content-trust", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, all = false;
    tug_compression compression = TUG_COMPRESS_NONE;
    int c;
    while ((c = cli_getopt(argc, argv, "aq", opts)) != -1) {
        switch (c) {
        case 'a':
            all = cli_opt_on();
            break;
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'C':
            if (strcmp(optarg, "gzip") == 0)
                compression = TUG_COMPRESS_GZIP;
            else if (strcmp(optarg, "zstd") == 0)
                compression = TUG_COMPRESS_ZSTD;
            else
                return cli_bad_value(ctx, optarg, "--compression", "use gzip or zstd");
            break;
        case 'T':
            if (!cli_opt_on())
                return cli_usage_error(ctx, "content trust (Notary signatures) is not supported "
                                            "by tug; push without --disable-content-trust=false");
            break;
        case 'H':
            cli_print_help(push_usage, "Upload an image to a registry",
                           "  -a, --all-tags                Push all tags of an image to the "
                           "repository\n"
                           "      --compression string      Compress every layer as gzip or zstd "
                           "(an OCI\n"
                           "                                manifest; docker 20.10 cannot pull "
                           "it)\n"
                           "      --disable-content-trust   Skip image signing (default true)\n"
                           "  -q, --quiet                   Suppress verbose output\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"push\" requires exactly 1 argument.\n\nUsage:  %s",
                               push_usage);
    const char *arg = argv[optind];
    tug_error *err = NULL;
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(arg, &ref, &err) < 0) {
        tug_error_wrap(&err, "push \"%s\"", arg);
        return cli_fail(err);
    }
    if (ref->digest != NULL)
        return cli_usage_error(ctx, "push %s: cannot push a digest reference; push a tag", arg);
    if (all && !ref->tag_defaulted)
        return cli_usage_error(ctx, "tag can't be used with --all-tags/-a");
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_strv char **tags = NULL;
    if (all && tug_push_repo_tags(s, name, &tags, &err) < 0) {
        tug_error_wrap(&err, "push %s", name);
        return cli_fail(err);
    }
    if (!quiet && ref->tag_defaulted && !all)
        printf("Using default tag: latest\n");
    if (!quiet)
        printf("The push refers to repository [%s]\n", name);
    fflush(stdout);

    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    tug_push_opts popts = {
        .registry = &ropts,
        .compression = compression,
        .on_layers = on_layers,
        .progress = pull_view_progress,
    };
    for (size_t i = 0; all ? tags[i] != NULL : i < 1; i++) {
        cleanup_reference tug_reference *one = NULL;
        if (all && tug_reference_parse(tags[i], &one, &err) < 0)
            return cli_fail(err);
        const tug_reference *r = all ? one : ref;
        if (push_one(s, r, &popts, quiet, &err) < 0) {
            cleanup_free char *full = tug_reference_string(r);
            tug_error_wrap(&err, "push %s", full ? full : arg);
            if (err->errnum != ENOSPC && err->errnum != EIO && err->errnum != EROFS &&
                err->errnum != ENOMEM)
                err->kind = TUG_ERR_USER;
            return cli_fail(err);
        }
    }
    cleanup_free char *full = tug_reference_string(ref);
    if (quiet)
        printf("%s\n", all || ref->tag_defaulted || full == NULL ? name : full);
    return 0;
}
