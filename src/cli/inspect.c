/* history, image inspect and inspect. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "container/summary.h"
#include "container/system.h"
#include "image/image.h"
#include "net/network.h"
#include "runtime/container.h"
#include "runtime/volume.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strutil.h"
#include "util/template.h"

#define INSPECT_HELP_OPT {"help", no_argument, NULL, O_HELP}

enum { O_HELP = 1000 }; /* history's -H is --human */

int cmd_history(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"human", no_argument, NULL, 'H'},       {"no-trunc", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},       {"format", required_argument, NULL, 'F'},
        INSPECT_HELP_OPT,                                {NULL, 0, NULL, 0},
    };
    bool human = true, no_trunc = false, quiet = false;
    const char *format = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "qH", opts)) != -1) {
        switch (c) {
        case 'H':
            human = cli_opt_on();
            break;
        case 'n':
            no_trunc = cli_opt_on();
            break;
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'F':
            format = optarg;
            break;
        case O_HELP:
            cli_print_help("tug history [OPTIONS] IMAGE", "Show the history of an image",
                           "      --format string   Pretty-print images using a Go template\n"
                           "  -H, --human           Print sizes and dates in human readable "
                           "format (default true)\n"
                           "      --no-trunc        Don't truncate output\n"
                           "  -q, --quiet           Only show image IDs\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"history\" requires exactly 1 argument.\n\nUsage:  tug "
                                    "history [OPTIONS] IMAGE");
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    if (tug_store_find_image(s, argv[optind], &img, &err) < 0)
        return cli_fail(err);
    cleanup_free tug_history_row *hr = NULL;
    size_t n = 0;
    if (tug_image_history(img, &hr, &n, &err) < 0)
        return cli_fail(err);
    json_t *rows = json_array();
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%.12s", tug_digest_hex(img->id));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "ID", json_string(hr[i].top ? (no_trunc ? img->id : shortid)
                                                            : "<missing>"));
        cleanup_free char *since = tug_time_ago(hr[i].created);
        cleanup_free char *at = tug_format_rfc3339(hr[i].created, 0);
        json_object_set_new(r, "CreatedSince", json_string(human ? since : at));
        json_object_set_new(r, "CreatedAt", json_string(at));
        cleanup_free char *by = strdup(hr[i].created_by ? hr[i].created_by : "");
        for (char *p = by; *p; p++)
            if (*p == '\t')
                *p = ' ';
        cleanup_free char *shown = no_trunc ? strdup(by) : tug_ellipsis(by, 45);
        json_object_set_new(r, "CreatedBy", json_string(shown));
        cleanup_free char *size = NULL;
        if (human)
            size = tug_human_size((double)hr[i].size, 3);
        else if (asprintf(&size, "%lld", hr[i].size) < 0)
            size = NULL;
        json_object_set_new(r, "Size", json_string(size ? size : ""));
        json_object_set_new(r, "Comment", json_string(hr[i].comment ? hr[i].comment : ""));
        json_array_append_new(rows, r);
    }
    json_t *header = json_object();
    json_object_set_new(header, "ID", json_string("IMAGE"));
    json_object_set_new(header, "CreatedSince", json_string("CREATED"));
    json_object_set_new(header, "CreatedAt", json_string("CREATED AT"));
    json_object_set_new(header, "CreatedBy", json_string("CREATED BY"));
    json_object_set_new(header, "Size", json_string("SIZE"));
    json_object_set_new(header, "Comment", json_string("COMMENT"));
    if (quiet && (format == NULL || *format == '\0'))
        format = "{{.ID}}";
    rc = cli_print_rows(format, "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                        header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}

typedef struct inspect_opts {
    const char *type; /* NULL: any kind, tried in docker's order */
    bool size;        /* -s: SizeRw and SizeRootFs on containers */
} inspect_opts;

static json_t *container_doc(tug_store *s, const char *name, const inspect_opts *o, tug_error **err)
{
    return tug_container_inspect_doc(s, name, o->size, err);
}

static json_t *image_doc(tug_store *s, const char *name, const inspect_opts *o, tug_error **err)
{
    (void)o;
    cleanup_image tug_image *img = NULL;
    return tug_store_find_image(s, name, &img, err) < 0 ? NULL : tug_image_inspect_json(s, img);
}

static json_t *network_doc(tug_store *s, const char *name, const inspect_opts *o, tug_error **err)
{
    (void)o;
    cleanup_network tug_network *n = NULL;
    return tug_network_find(s, name, &n, err) < 0 ? NULL : tug_network_inspect_json(s, n);
}

static json_t *volume_doc(tug_store *s, const char *name, const inspect_opts *o, tug_error **err)
{
    (void)o;
    cleanup_volume tug_volume *v = NULL;
    return tug_volume_find(s, name, &v, err) < 0 ? NULL : tug_volume_inspect_json(s, v);
}

static const struct {
    const char *type;
    json_t *(*find)(tug_store *s, const char *name, const inspect_opts *o, tug_error **err);
} kinds[] = {
    {"container", container_doc},
    {"image", image_doc},
    {"network", network_doc},
    {"volume", volume_doc},
};

/* One kind with --type (its own "No such ..." error), else the first kind that has the name. */
static json_t *find_object_doc(tug_store *s, const char *name, void *data, tug_error **err)
{
    const inspect_opts *o = data;
    for (size_t k = 0; k < TUG_ARRAY_SIZE(kinds); k++) {
        if (o->type && strcmp(o->type, kinds[k].type) != 0)
            continue;
        json_t *doc = kinds[k].find(s, name, o, err);
        if (doc || o->type)
            return doc;
        tug_error_freep(err);
    }
    tug_error_user(err, "No such object: %s", name);
    return NULL;
}

static bool known_type(const char *type)
{
    for (size_t k = 0; k < TUG_ARRAY_SIZE(kinds); k++)
        if (strcmp(type, kinds[k].type) == 0)
            return true;
    return false;
}

static int parse_inspect(cli_ctx *ctx, int argc, char **argv, const char *fixed_type)
{
    bool any_type = fixed_type == NULL;
    inspect_opts io = {.type = fixed_type};
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"type", required_argument, NULL, 't'},
        {"size", no_argument, NULL, 's'},
        INSPECT_HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "f:s", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 't':
            if (!any_type)
                return cli_flag_unknown(ctx);
            if (!known_type(optarg)) {
                fprintf(stderr,
                        "unknown type: \"%s\": must be one of \"container\", \"image\", "
                        "\"network\", \"volume\"\n",
                        optarg);
                return EXIT_USER;
            }
            io.type = optarg;
            break;
        case 's':
            if (fixed_type && strcmp(fixed_type, "container") != 0)
                return cli_flag_unknown(ctx);
            io.size = cli_opt_on();
            break;
        case O_HELP:
            cli_print_help(any_type ? "tug inspect [OPTIONS] NAME|ID [NAME|ID...]"
                                    : "tug image|container inspect [OPTIONS] NAME [NAME...]",
                           any_type ? "Return low-level information on tug objects"
                                    : "Display detailed information on one or more objects",
                           "  -f, --format string   Format the output using the given Go "
                           "template\n"
                           "  -s, --size            Display total file sizes if the type is "
                           "container\n"
                           "      --type string     Return JSON for specified type\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (optind >= argc)
        return cli_usage_error(ctx, "\"%s\" requires at least 1 argument.", ctx->cmd);
    return cli_inspect_each(ctx, argc - optind, argv + optind, format, find_object_doc, &io);
}

int cmd_image_inspect(cli_ctx *ctx, int argc, char **argv)
{
    return parse_inspect(ctx, argc, argv, "image");
}

int cmd_container_inspect(cli_ctx *ctx, int argc, char **argv)
{
    return parse_inspect(ctx, argc, argv, "container");
}

int cmd_inspect(cli_ctx *ctx, int argc, char **argv)
{
    return parse_inspect(ctx, argc, argv, NULL);
}
