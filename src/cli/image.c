/* Image commands: pull, images, rmi, tag, import, image prune. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "container/imagerm.h"
#include "image/image.h"
#include "image/reference.h"
#include "runtime/container.h"
#include "progress.h"
#include "prune.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strutil.h"

/* ---------------- pull ---------------- */

static bool is_host_failure(int errnum)
{
    return errnum == ENOSPC || errnum == EIO || errnum == EROFS || errnum == ENOMEM ||
           errnum == EDQUOT || errnum == EMFILE || errnum == ENFILE;
}

int cli_pull_with_view(cli_ctx *ctx, tug_store *s, tug_reference *ref, bool quiet,
                       const char *platform, tug_pull_result *res, tug_error **err)
{
    cleanup_free char *header = NULL;
    if (asprintf(&header, "%s: Pulling from %s", ref->digest ? ref->digest : ref->tag,
                 ref->path) < 0)
        header = NULL;
    pull_view *view = pull_view_new(quiet, header);
    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    tug_pull_opts popts = {
        .platform = platform,
        .registry = &ropts,
        .progress = pull_view_progress,
        .userdata = view,
    };
    int r = tug_pull(s, ref, &popts, pull_view_layers, res, err);
    pull_view_free(view);
    return r;
}

/* Pull one reference with the progress view; 0 or the exit status of the failure. */
static int pull_ref(cli_ctx *ctx, tug_store *s, tug_reference *ref, bool quiet,
                    const char *platform, tug_pull_result *res)
{
    tug_error *err = NULL;
    cleanup_free char *full = tug_reference_string(ref);
    if (cli_pull_with_view(ctx, s, ref, quiet, platform, res, &err) < 0) {
        tug_error_wrap(&err, "pull %s", full);
        /* What the registry or the image got wrong is the user's to fix (exit 1); a store
         * that cannot be written is tug's (125). */
        if (!is_host_failure(err->errnum))
            err->kind = TUG_ERR_USER;
        return cli_fail(err);
    }
    return 0;
}

/* pull -a: every tag the registry lists for the repository, then one status line as docker. */
static int pull_all_tags(cli_ctx *ctx, tug_store *s, tug_reference *ref, bool quiet,
                         const char *platform)
{
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_free char *fam_name = tug_familiar_name(name);
    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    tug_registry *reg = NULL;
    tug_error *err = NULL;
    cleanup_strv char **tags = NULL;
    if (tug_registry_open(ref->domain, ref->path, &ropts, &reg, &err) < 0 ||
        tug_registry_list_tags(reg, &tags, &err) < 0) {
        tug_registry_free(reg);
        tug_error_wrap(&err, "pull %s", name);
        if (!is_host_failure(err->errnum))
            err->kind = TUG_ERR_USER;
        return cli_fail(err);
    }
    tug_registry_free(reg);
    bool downloaded = false;
    for (size_t i = 0; tags[i]; i++) {
        cleanup_free char *one = NULL;
        cleanup_reference tug_reference *tref = NULL;
        if (asprintf(&one, "%s:%s", name, tags[i]) < 0)
            return EXIT_ENGINE;
        if (tug_reference_parse(one, &tref, &err) < 0)
            return cli_fail(err);
        tug_pull_result res = {0};
        int rc = pull_ref(ctx, s, tref, quiet, platform, &res);
        if (rc) {
            tug_pull_result_clear(&res);
            return rc;
        }
        downloaded |= !res.up_to_date;
        if (!quiet)
            printf("Digest: %s\n", res.digest);
        tug_pull_result_clear(&res);
        fflush(stdout);
    }
    if (!quiet)
        printf("Status: %s for %s\n",
               downloaded ? "Downloaded newer image" : "Image is up to date", fam_name);
    printf("%s\n", name);
    return 0;
}

int cmd_pull(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"platform", required_argument, NULL, 'p'},
        {"all-tags", no_argument, NULL, 'a'},
        {"disable-content-trust", no_argument, NULL, 'T'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, all_tags = false;
    const char *platform = getenv("DOCKER_DEFAULT_PLATFORM");
    int c;
    while ((c = cli_getopt(argc, argv, "qa", opts)) != -1) {
        switch (c) {
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'p':
            platform = optarg;
            break;
        case 'a':
            all_tags = cli_opt_on();
            break;
        case 'T':
            /* true is docker's default: tug verifies digests, not Notary signatures */
            if (!cli_opt_on())
                return cli_usage_error(ctx, "content trust (Notary signatures) is not supported "
                                            "by tug; pull without --disable-content-trust=false");
            break;
        case 'H':
            cli_print_help("tug pull [OPTIONS] NAME[:TAG|@DIGEST]",
                           "Download an image from a registry",
                           "  -a, --all-tags                Download all tagged images in the "
                           "repository\n"
                           "      --platform string   Set platform if server is multi-platform "
                           "capable\n  -q, --quiet             Suppress verbose output\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"pull\" requires exactly 1 argument.\n\nUsage:  tug pull "
                                    "[OPTIONS] NAME[:TAG|@DIGEST]");
    const char *arg = argv[optind];
    tug_error *err = NULL;
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(arg, &ref, &err) < 0) {
        tug_error_wrap(&err, "pull \"%s\"", arg);
        return cli_fail(err);
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    if (all_tags) {
        if (!ref->tag_defaulted) {
            fprintf(stderr, "tag can't be used with --all-tags/-a\n");
            return EXIT_USER;
        }
        return pull_all_tags(ctx, s, ref, quiet, platform);
    }
    cleanup_free char *full = tug_reference_string(ref);
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_free char *fam_name = tug_familiar_name(name);
    if (!quiet && ref->tag_defaulted) {
        printf("Using default tag: latest\n");
        fflush(stdout);
    }
    tug_pull_result res = {0};
    if ((rc = pull_ref(ctx, s, ref, quiet, platform, &res)) != 0) {
        tug_pull_result_clear(&res);
        return rc;
    }
    if (!quiet) {
        cleanup_free char *shown = NULL;
        if (ref->tag && asprintf(&shown, "%s:%s", fam_name, ref->tag) < 0)
            shown = NULL;
        if (ref->tag == NULL && asprintf(&shown, "%s@%s", fam_name, ref->digest) < 0)
            shown = NULL;
        printf("Digest: %s\n", res.digest);
        printf("Status: %s for %s\n",
               res.up_to_date ? "Image is up to date" : "Downloaded newer image",
               shown ? shown : full);
    }
    printf("%s\n", full);
    tug_pull_result_clear(&res);
    return 0;
}

/* ---------------- images ---------------- */

typedef struct image_filter {
    int dangling; /* -1 any, 0 tagged only, 1 untagged only */
    char **refs;
    size_t n_refs;
    char **labels;
    size_t n_labels;
    long long before, since; /* created bounds, 0 for none */
} image_filter;

static bool ref_match(const char *pattern, const char *fam_repo, const char *tag)
{
    if (tug_glob_match(pattern, fam_repo))
        return true;
    if (tag == NULL)
        return false;
    cleanup_free char *both = NULL;
    if (asprintf(&both, "%s:%s", fam_repo, tag) < 0)
        return false;
    return tug_glob_match(pattern, both);
}

static int parse_image_filter(tug_store *s, const char *f, image_filter *flt, tug_error **err)
{
    const char *eq = strchr(f, '=');
    if (eq == NULL)
        return tug_error_user(err, "bad format of filter (expected name=value): %s", f);
    cleanup_free char *key = strndup(f, (size_t)(eq - f));
    const char *val = eq + 1;
    if (strcmp(key, "dangling") == 0) {
        if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            flt->dangling = 1;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            flt->dangling = 0;
        else
            return tug_error_user(err, "invalid filter 'dangling=%s': use true or false", val);
        return 0;
    }
    if (strcmp(key, "reference") == 0) {
        char **n = realloc(flt->refs, (flt->n_refs + 1) * sizeof(*n));
        if (n == NULL)
            return tug_error_set(err, ENOMEM, "filter");
        flt->refs = n;
        flt->refs[flt->n_refs++] = strdup(val);
        return 0;
    }
    if (strcmp(key, "label") == 0) {
        char **n = realloc(flt->labels, (flt->n_labels + 1) * sizeof(*n));
        if (n == NULL)
            return tug_error_set(err, ENOMEM, "filter");
        flt->labels = n;
        flt->labels[flt->n_labels++] = strdup(val);
        return 0;
    }
    if (strcmp(key, "before") == 0 || strcmp(key, "since") == 0) {
        cleanup_image tug_image *img = NULL;
        if (tug_store_find_image(s, val, &img, err) < 0)
            return -1;
        if (key[0] == 'b')
            flt->before = img->created;
        else
            flt->since = img->created;
        return 0;
    }
    return tug_error_user(err, "invalid filter '%s'", key);
}

static void image_filter_clear(image_filter *f)
{
    for (size_t i = 0; i < f->n_refs; i++)
        free(f->refs[i]);
    free(f->refs);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->labels);
}

static json_t *images_header(void)
{
    json_t *h = json_object();
    static const char *pairs[][2] = {
        {"Repository", "REPOSITORY"},     {"Tag", "TAG"},
        {"ID", "IMAGE ID"},               {"CreatedSince", "CREATED"},
        {"CreatedAt", "CREATED AT"},      {"Size", "SIZE"},
        {"Digest", "DIGEST"},             {"Containers", "CONTAINERS"},
        {"SharedSize", "SHARED SIZE"},    {"UniqueSize", "UNIQUE SIZE"},
        {"VirtualSize", "VIRTUAL SIZE"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(pairs); i++)
        json_object_set_new(h, pairs[i][0], json_string(pairs[i][1]));
    return h;
}

static char *go_time_string(long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[80];
    localtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    return strdup(buf);
}

static json_t *image_row(const tug_image *img, const char *repo, const char *tag,
                         const char *digest, bool no_trunc)
{
    json_t *r = json_object();
    cleanup_free char *since = tug_time_ago(img->created);
    cleanup_free char *at = go_time_string(img->created);
    cleanup_free char *size = tug_human_size((double)img->size, 3);
    cleanup_free char *vsize = tug_human_size((double)img->size, 4);
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%.12s", tug_digest_hex(img->id));
    json_object_set_new(r, "Containers", json_string("N/A"));
    json_object_set_new(r, "CreatedAt", json_string(at));
    json_object_set_new(r, "CreatedSince", json_string(since));
    json_object_set_new(r, "Digest", json_string(digest ? digest : "<none>"));
    json_object_set_new(r, "ID", json_string(no_trunc ? img->id : shortid));
    json_object_set_new(r, "Repository", json_string(repo));
    json_object_set_new(r, "SharedSize", json_string("N/A"));
    json_object_set_new(r, "Size", json_string(size));
    json_object_set_new(r, "Tag", json_string(tag));
    json_object_set_new(r, "UniqueSize", json_string("N/A"));
    json_object_set_new(r, "VirtualSize", json_string(vsize));
    return r;
}

/* The digest recorded for a repository (full name without tag), if any. */
static const char *digest_for_repo(const tug_image *img, const char *repo_full)
{
    size_t n = strlen(repo_full);
    for (size_t i = 0; i < img->n_digests; i++)
        if (strncmp(img->digests[i], repo_full, n) == 0 && img->digests[i][n] == '@')
            return img->digests[i] + n + 1;
    return NULL;
}

static bool image_passes(const tug_image *img, const image_filter *flt)
{
    bool dangling = img->n_tags == 0;
    if (flt->dangling == 1 && !dangling)
        return false;
    if (flt->dangling == 0 && dangling)
        return false;
    for (size_t i = 0; i < flt->n_labels; i++)
        if (!cli_label_match(json_object_get(json_object_get(img->config, "config"), "Labels"),
                         flt->labels[i]))
            return false;
    if (flt->before && img->created >= flt->before)
        return false;
    if (flt->since && img->created <= flt->since)
        return false;
    return true;
}

int cmd_images(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},       {"quiet", no_argument, NULL, 'q'},
        {"digests", no_argument, NULL, 'd'},   {"no-trunc", no_argument, NULL, 'n'},
        {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
        HELP_OPT,                              {NULL, 0, NULL, 0},
    };
    bool quiet = false, digests = false, no_trunc = false;
    const char *format = NULL;
    image_filter flt = {.dangling = -1};
    char **filters = NULL;
    size_t nfilters = 0;
    int c, rc = 0;
    while ((c = cli_getopt(argc, argv, "aqf:", opts)) != -1) {
        switch (c) {
        case 'a':
            break; /* tug keeps no intermediate images: -a shows the same list */
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'd':
            digests = cli_opt_on();
            break;
        case 'n':
            no_trunc = cli_opt_on();
            break;
        case 'f': {
            char **n = realloc(filters, (nfilters + 1) * sizeof(*n));
            if (n == NULL)
                return EXIT_ENGINE;
            filters = n;
            filters[nfilters++] = optarg;
            break;
        }
        case 'F':
            format = optarg;
            break;
        case 'H':
            free(filters);
            cli_print_help("tug images [OPTIONS] [REPOSITORY[:TAG]]", "List images",
                           "  -a, --all             Show all images\n"
                           "      --digests         Show digests\n"
                           "  -f, --filter filter   Filter output based on conditions provided\n"
                           "      --format string   Pretty-print images using a Go template\n"
                           "      --no-trunc        Don't truncate output\n"
                           "  -q, --quiet           Only show image IDs\n");
            return 0;
        default:
            free(filters);
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind > 1) {
        free(filters);
        return cli_usage_error(ctx, "\"images\" requires at most 1 argument.");
    }
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0) {
        free(filters);
        return rc;
    }
    tug_error *err = NULL;
    for (size_t i = 0; i < nfilters; i++)
        if (parse_image_filter(s, filters[i], &flt, &err) < 0) {
            free(filters);
            image_filter_clear(&flt);
            return cli_fail(err);
        }
    free(filters);
    /* A positional REPOSITORY[:TAG] is docker's reference filter on the familiar name. */
    cleanup_free char *pos_repo = NULL, *pos_tag = NULL;
    if (optind < argc) {
        cleanup_reference tug_reference *ref = NULL;
        if (tug_reference_parse(argv[optind], &ref, &err) < 0) {
            image_filter_clear(&flt);
            return cli_fail(err);
        }
        cleanup_free char *name = tug_reference_name(ref);
        pos_repo = tug_familiar_name(name);
        if (!ref->tag_defaulted && ref->tag)
            pos_tag = strdup(ref->tag);
    }
    tug_image **imgs = NULL;
    size_t n = 0;
    if (tug_store_list_images(s, &imgs, &n, &err) < 0) {
        image_filter_clear(&flt);
        return cli_fail(err);
    }
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        tug_image *img = imgs[i];
        if (!image_passes(img, &flt))
            continue;
        if (img->n_tags == 0) {
            if (pos_repo || flt.n_refs)
                continue;
            /* Untagged: one row per repository it was pulled by digest from, else <none>. */
            if (img->n_digests == 0) {
                json_array_append_new(rows, image_row(img, "<none>", "<none>", NULL, no_trunc));
                continue;
            }
            for (size_t d = 0; d < img->n_digests; d++) {
                const char *at = strchr(img->digests[d], '@');
                cleanup_free char *repo = strndup(img->digests[d], (size_t)(at - img->digests[d]));
                cleanup_free char *fam = tug_familiar_name(repo);
                json_array_append_new(rows, image_row(img, fam, "<none>", at + 1, no_trunc));
            }
            continue;
        }
        for (size_t t = 0; t < img->n_tags; t++) {
            const char *full = img->tags[t];
            const char *colon = strrchr(full, ':');
            cleanup_free char *repo = strndup(full, (size_t)(colon - full));
            cleanup_free char *fam = tug_familiar_name(repo);
            const char *tag = colon + 1;
            if (pos_repo && (strcmp(pos_repo, fam) != 0 || (pos_tag && strcmp(pos_tag, tag) != 0)))
                continue;
            bool ok = flt.n_refs == 0;
            for (size_t k = 0; k < flt.n_refs && !ok; k++)
                ok = ref_match(flt.refs[k], fam, tag);
            if (!ok)
                continue;
            json_array_append_new(
                rows, image_row(img, fam, tag, digest_for_repo(img, repo), no_trunc));
        }
    }
    tug_images_free(imgs, n);
    image_filter_clear(&flt);
    json_t *header = images_header();
    const char *def = digests ? "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}"
                                "\t{{.Size}}"
                              : "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    if (quiet && (format == NULL || *format == '\0'))
        format = "{{.ID}}";
    rc = cli_print_rows_typed(format, def, "*formatter.imageContext", header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}

/* ---------------- tag ---------------- */

int cmd_tag(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                           "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE");
    if (rc)
        return rc < 0 ? 0 : rc;
    if (argc - optind != 2)
        return cli_usage_error(ctx, "\"tag\" requires exactly 2 arguments.\n\nUsage:  tug tag "
                                    "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]");
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    cleanup_reference tug_reference *target = NULL;
    if (tug_reference_parse(argv[optind + 1], &target, &err) < 0) {
        tug_error_wrap(&err, "tag \"%s\"", argv[optind + 1]);
        return cli_fail(err);
    }
    if (target->digest)
        return cli_fail((tug_error_user(&err, "refusing to create a tag with a digest reference: "
                                              "%s",
                                        argv[optind + 1]),
                         err));
    cleanup_image tug_image *img = NULL;
    if (tug_store_find_image(s, argv[optind], &img, &err) < 0)
        return cli_fail(err);
    cleanup_free char *full = tug_reference_string(target);
    if (tug_store_set_tag(s, full, img->id, &err) < 0)
        return cli_fail(err);
    return 0;
}

/* ---------------- rmi ---------------- */

/* "Untagged: busybox:latest", "Deleted: sha256:..." as rmi prints what went */
static void print_removed(void *ud, bool deleted, const char *what)
{
    printf("%s: %s\n", deleted ? "Deleted" : "Untagged", what);
}

int cmd_rmi(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"no-prune", no_argument, NULL, 'n'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int c;
    while ((c = cli_getopt(argc, argv, "f", opts)) != -1) {
        switch (c) {
        case 'f':
            force = cli_opt_on();
            break;
        case 'n':
            break; /* no parent images to keep: tug's images have none (builds keep no
                    * intermediate images) */
        case 'H':
            cli_print_help("tug rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
                           "  -f, --force      Force removal of the image\n"
                           "      --no-prune   Do not delete untagged parents\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (optind >= argc)
        return cli_usage_error(ctx, "\"rmi\" requires at least 1 argument.\n\nUsage:  tug rmi "
                                    "[OPTIONS] IMAGE [IMAGE...]");
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    /* as docker: each image is tried; a missing one is only reported under -f, any other
     * failure makes the status 1 */
    for (int i = optind; i < argc; i++) {
        tug_error *err = NULL;
        int r = tug_image_remove(s, argv[i], force, print_removed, NULL, &err);
        fflush(stdout);
        if (r < 0) {
            cli_fail(err);
            if (r == -1 || !force)
                rc = EXIT_USER;
        }
    }
    return rc;
}

/* ---------------- import ---------------- */

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"change", required_argument, NULL, 'c'},
        {"message", required_argument, NULL, 'm'},
        {"platform", required_argument, NULL, 'p'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char **changes = calloc((size_t)argc + 1, sizeof(*changes));
    size_t nch = 0;
    const char *message = NULL, *platform = NULL;
    int c;
    if (changes == NULL)
        return EXIT_ENGINE;
    while ((c = cli_getopt(argc, argv, "c:m:", opts)) != -1) {
        switch (c) {
        case 'c':
            changes[nch++] = optarg;
            break;
        case 'm':
            message = optarg;
            break;
        case 'p':
            platform = optarg;
            break;
        case 'H':
            free(changes);
            cli_print_help("tug import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                           "Import the contents from a tarball to create a filesystem image",
                           "  -c, --change list       Apply Dockerfile instruction to the created "
                           "image\n  -m, --message string    Set commit message for imported "
                           "image\n      --platform string   Set platform if server is "
                           "multi-platform capable\n");
            return 0;
        default:
            free(changes);
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        free(changes);
        return cli_usage_error(ctx, "\"import\" requires at least 1 and at most 2 arguments.\n\n"
                                    "Usage:  tug import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]");
    }
    const char *src = argv[optind];
    tug_error *err = NULL;
    cleanup_free char *tag = NULL;
    if (argc - optind == 2) {
        cleanup_reference tug_reference *ref = NULL;
        if (tug_reference_parse(argv[optind + 1], &ref, &err) < 0) {
            free(changes);
            tug_error_wrap(&err, "import");
            return cli_fail(err);
        }
        if (ref->digest) {
            free(changes);
            tug_error_user(&err, "import: a tag cannot hold a digest: %s", argv[optind + 1]);
            return cli_fail(err);
        }
        tag = tug_reference_string(ref);
    }
    if (strstr(src, "://") != NULL) {
        free(changes);
        tug_error_user(&err, "import %s: importing from a URL is not supported; download the "
                             "file and import it",
                       src);
        return cli_fail(err);
    }
    cleanup_close int fd = strcmp(src, "-") == 0 ? dup(STDIN_FILENO)
                                                 : open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(changes);
        tug_error_user(&err, "import %s: %s", src, strerror(errno));
        return cli_fail(err);
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc) {
        free(changes);
        return rc;
    }
    tug_import_opts io = {
        .changes = changes, .message = message, .platform = platform, .tag = tag, .source = "-"};
    cleanup_free char *id = NULL;
    int r = tug_import(s, fd, &io, &id, &err);
    free(changes);
    if (r < 0) {
        tug_error_wrap(&err, "import %s", src);
        if (err->errnum == 0)
            err->kind = TUG_ERR_USER;
        return cli_fail(err);
    }
    printf("%s\n", id);
    return 0;
}

/* ---------------- image prune ---------------- */

/* image prune's section: "untagged: ...", "deleted: ..." */
static void prune_said(void *ud, bool deleted, const char *what)
{
    fprintf(ud, "%s: %s\n", deleted ? "deleted" : "untagged", what);
}

static bool prune_match(void *ud, const tug_image *img)
{
    json_t *labels = json_object_get(json_object_get(img->config, "config"), "Labels");
    return cli_prune_match(ud, labels, img->created);
}

int cli_prune_images(tug_store *s, const cli_prune_opts *o, long long *reclaimed)
{
    tug_error *err = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return EXIT_ENGINE;
    long long freed = 0;
    int r = tug_image_prune(s, o->all, prune_match, (void *)o, prune_said, out, &freed, &err);
    fclose(out);
    if (len > 0)
        printf("Deleted Images:\n%s\n", buf);
    free(buf);
    *reclaimed += freed;
    return r < 0 ? cli_fail(err) : 0;
}

int cmd_image_prune(cli_ctx *ctx, int argc, char **argv)
{
    cli_prune_opts po = {0};
    int rc =
        cli_prune_parse(ctx, argc, argv, "tug image prune [OPTIONS]", "Remove unused images",
                        "  -a, --all             Remove all unused images, not just dangling ones\n"
                        "      --filter filter   Provide filter values (e.g. 'until=<timestamp>')\n"
                        "  -f, --force           Do not prompt for confirmation\n",
                        true, false, &po);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!po.force && !cli_confirm(po.all ? "WARNING! This will remove all images without at least "
                                           "one container associated to them."
                                         : "WARNING! This will remove all dangling images."))
        return 0;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    long long reclaimed = 0;
    rc = cli_prune_images(s, &po, &reclaimed);
    cli_prune_total(reclaimed);
    return rc;
}
