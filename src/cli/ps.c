/* ps / container ls: docker's columns, filters and formats. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "container/health.h"
#include "container/summary.h"
#include "net/netsetup.h"
#include "net/network.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/template.h"

/* 0, or the exit status for a filter the flag or the engine refuses */
static int parse_filter(cli_ctx *ctx, const char *f, tug_ps_filters *set)
{
    const char *eq = strchr(f, '=');
    if (eq == NULL)
        return cli_bad_value(ctx, f, "-f, --filter", "bad format of filter (expected name=value)");
    cleanup_free char *key = strndup(f, (size_t)(eq - f));
    tug_error *err = NULL;
    if (key == NULL || tug_ps_filters_add(set, key, eq + 1, &err) < 0)
        return cli_fail(err);
    return 0;
}

/* "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp" */
static json_t *ports_string(json_t *ports)
{
    tug_strbuf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        char one[128];
        json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));
        json_int_t priv = json_integer_value(json_object_get(p, "PrivatePort"));
        const char *type = json_string_value(json_object_get(p, "Type"));
        const char *ip = json_string_value(json_object_get(p, "IP"));
        bool v6 = ip && strchr(ip, ':'); /* "[::]:8080->80/tcp", as docker's CLI */
        if (pub)
            snprintf(one, sizeof(one),
                     "%s%s%s:%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT "/%s", v6 ? "[" : "",
                     ip ? ip : "", v6 ? "]" : "", pub, priv, type);
        else
            snprintf(one, sizeof(one), "%" JSON_INTEGER_FORMAT "/%s", priv, type);
        if (i)
            tug_strbuf_adds(&b, ", ");
        tug_strbuf_adds(&b, one);
    }
    char *str = tug_strbuf_steal(&b);
    json_t *out = json_string(str ? str : "");
    free(str);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's .Networks: the names sorted, joined by commas */
static char *networks_field(tug_store *s, tug_container *c)
{
    json_t *names = tug_container_network_names(s, c);
    const char **sorted = calloc(json_object_size(names) + 1, sizeof(*sorted));
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(names, k, v)
    {
        if (sorted)
            sorted[n++] = k;
    }
    if (sorted)
        qsort(sorted, n, sizeof(*sorted), cmp_str);
    tug_strbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            tug_strbuf_addc(&b, ',');
        tug_strbuf_adds(&b, sorted[i]);
    }
    free(sorted);
    json_decref(names);
    return tug_strbuf_steal(&b);
}

/* docker's .Mounts (volume names, else sources; 15 characters unless --no-trunc) and
 * .LocalVolumes (how many are local volumes). */
static void mounts_fields(tug_container *c, bool no_trunc, json_t *row)
{
    tug_strbuf b = {0};
    int local = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c->config, "TugMountPoints"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "Name"));
        const char *src = json_string_value(json_object_get(m, "Source"));
        const char *driver = json_string_value(json_object_get(m, "Driver"));
        local += driver && strcmp(driver, "local") == 0;
        cleanup_free char *shown = no_trunc ? strdup(name  ? name
                                                     : src ? src
                                                           : "")
                                            : tug_ellipsis(name  ? name
                                                           : src ? src
                                                                 : "",
                                                           15);
        if (b.len)
            tug_strbuf_addc(&b, ',');
        tug_strbuf_adds(&b, shown ? shown : "");
    }
    char *mounts = tug_strbuf_steal(&b);
    json_object_set_new(row, "Mounts", json_string(mounts ? mounts : ""));
    free(mounts);
    char n[16];
    snprintf(n, sizeof(n), "%d", local);
    json_object_set_new(row, "LocalVolumes", json_string(n));
}

/* docker's SIZE: what the container wrote, and with its image's layers: "2B (virtual 1.2MB)" */
static char *size_field(tug_store *s, tug_container *c)
{
    long long rw = tug_store_container_size_rw(s, c->id), virt = rw;
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    if (tug_store_load_image(s, c->image_id, &img, &err) == 0)
        virt += img->size;
    tug_error_free(err);
    cleanup_free char *a = tug_human_size((double)rw, 3);
    cleanup_free char *b = tug_human_size((double)virt, 3);
    char *sz = NULL;
    if (virt > 0 ? asprintf(&sz, "%s (virtual %s)", a, b) < 0 : (sz = strdup(a)) == NULL)
        return NULL;
    return sz;
}

static json_t *ps_row_ports(tug_store *s, tug_container *c, json_t *ports, bool no_trunc, bool size)
{
    json_t *r = json_object();
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%.12s", c->id);
    json_object_set_new(r, "ID", json_string(no_trunc ? c->id : shortid));
    json_object_set_new(r, "Image", json_string(c->image_name));
    cleanup_free char *cmd = tug_container_command(c);
    cleanup_free char *shown = no_trunc ? strdup(cmd ? cmd : "") : tug_ellipsis(cmd ? cmd : "", 20);
    cleanup_free char *quoted = tug_template_go_quote(shown ? shown : "");
    json_object_set_new(r, "Command", json_string(quoted ? quoted : ""));
    time_t t = (time_t)(c->created_ns / 1000000000LL);
    struct tm tm;
    char at[64];
    localtime_r(&t, &tm);
    strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    json_object_set_new(r, "CreatedAt", json_string(at));
    cleanup_free char *ago = tug_time_ago(c->created_ns / 1000000000LL);
    json_object_set_new(r, "RunningFor", json_string(ago));
    json_object_set_new(r, "Ports", ports_string(ports));
    json_object_set_new(r, "State", json_string(c->state));
    json_object_set_new(r, "Platform", json_null()); /* docker's: no image manifest recorded */
    cleanup_free char *status = tug_container_status_text(s, c);
    json_object_set_new(r, "Status", json_string(status ? status : ""));
    json_object_set_new(r, "Names", json_string(c->name));
    json_t *labels = json_object_get(json_object_get(c->config, "Config"), "Labels");
    tug_strbuf lb = {0};
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        if (lb.len)
            tug_strbuf_addc(&lb, ',');
        tug_strbuf_adds(&lb, k);
        tug_strbuf_addc(&lb, '=');
        tug_strbuf_adds(&lb, json_string_value(v) ? json_string_value(v) : "");
    }
    cleanup_free char *lab = tug_strbuf_steal(&lb);
    json_object_set_new(r, "Labels", json_string(lab ? lab : ""));
    json_object_set_new(r, "@Label", json_is_object(labels) ? json_copy(labels) : json_object());
    mounts_fields(c, no_trunc, r);
    cleanup_free char *nets = networks_field(s, c);
    json_object_set_new(r, "Networks", json_string(nets ? nets : ""));
    cleanup_free char *sz = size ? size_field(s, c) : NULL;
    json_object_set_new(r, "Size", json_string(sz ? sz : "0B"));
    return r;
}

json_t *ps_row(tug_store *s, tug_container *c, bool no_trunc, bool size)
{
    json_t *ports = tug_container_ports_summary(s, c);
    json_t *r = ps_row_ports(s, c, ports, no_trunc, size);
    json_decref(ports);
    return r;
}

#define PS_ROW_TYPE "*formatter.ContainerContext"

/* The column titles, by field, as docker heads them. */
static json_t *ps_header(void)
{
    json_t *header = json_object();
    static const char *pairs[][2] = {
        {"ID", "CONTAINER ID"},    {"Image", "IMAGE"},
        {"Command", "COMMAND"},    {"CreatedAt", "CREATED AT"},
        {"RunningFor", "CREATED"}, {"Ports", "PORTS"},
        {"State", "STATE"},        {"Status", "STATUS"},
        {"Size", "SIZE"},          {"Names", "NAMES"},
        {"Labels", "LABELS"},      {"Mounts", "MOUNTS"},
        {"Networks", "NETWORKS"},  {"LocalVolumes", "LOCAL VOLUMES"},
        {"Platform", "PLATFORM"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(pairs); i++)
        json_object_set_new(header, pairs[i][0], json_string(pairs[i][1]));
    return header;
}

/* docker checks --format as written, over an empty row, before it lists anything. */
static int check_format(const char *format)
{
    tug_error *err = NULL;
    cleanup_template tug_template *t = NULL;
    const char *what = "failed to parse template";
    int r = tug_template_parse(format, &t, &err);
    if (r == 0) {
        json_t *header = ps_header();
        what = "failed to execute template";
        r = cli_check_row_format(t, PS_ROW_TYPE, header, &err);
        json_decref(header);
    }
    if (r == 0)
        return 0;
    fprintf(stderr, "%s: %s\n", what, err && err->msg ? err->msg : "unknown failure");
    tug_error_free(err);
    return EXIT_USER;
}

int cmd_ps(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"latest", no_argument, NULL, 'l'},
        {"last", required_argument, NULL, 'n'},
        {"size", no_argument, NULL, 's'},
        {"no-trunc", no_argument, NULL, 'T'},
        {"filter", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    bool all = false, quiet = false, size = false, no_trunc = false, latest = false;
    int last = -1;
    const char *format = NULL;
    tug_ps_filters flt = {0};
    int c, rc = 0;
    char *end;
    while ((c = cli_getopt(argc, argv, "aqln:sf:", opts)) != -1) {
        switch (c) {
        case 'a':
            all = cli_opt_on();
            break;
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'l':
            latest = cli_opt_on();
            break;
        case 'n':
            last = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end) {
                fprintf(stderr, "invalid argument \"%s\" for \"-n, --last\" flag\n", optarg);
                return EXIT_ENGINE;
            }
            break;
        case 's':
            size = cli_opt_on();
            break;
        case 'T':
            no_trunc = cli_opt_on();
            break;
        case 'f':
            if ((rc = parse_filter(ctx, optarg, &flt)) != 0) {
                tug_ps_filters_clear(&flt);
                return rc;
            }
            break;
        case 'F':
            format = optarg;
            break;
        case 'H':
            cli_print_help("tug ps [OPTIONS]", "List containers",
                           "  -a, --all             Show all containers (default shows just "
                           "running)\n"
                           "  -f, --filter filter   Filter output based on conditions provided\n"
                           "      --format string   Pretty-print containers using a Go template\n"
                           "  -n, --last int        Show n last created containers (includes all "
                           "states)\n"
                           "  -l, --latest          Show the latest created container\n"
                           "      --no-trunc        Don't truncate output\n"
                           "  -q, --quiet           Only display container IDs\n"
                           "  -s, --size            Display total file sizes\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if ((rc = cli_no_operands(ctx, argc, argv)) != 0) {
        tug_ps_filters_clear(&flt);
        return rc;
    }
    if (format && *format && (rc = check_format(format)) != 0) {
        tug_ps_filters_clear(&flt);
        return rc;
    }
    if (quiet && format && *format) {
        fprintf(stderr, "WARNING: Ignoring custom format, because both --format and --quiet are "
                        "set.\n");
        format = NULL;
    }
    if (latest && last == -1)
        last = 1;
    /* docker works the size out when the template shows it */
    if (format && strstr(format, ".Size"))
        size = true;
    tug_store *s;
    tug_error *err = NULL;
    if ((rc = cli_store(ctx, &s)) != 0) {
        tug_ps_filters_clear(&flt);
        return rc;
    }
    if (tug_ps_filters_resolve(s, &flt, &err) < 0) {
        tug_ps_filters_clear(&flt);
        return cli_fail(err);
    }
    tug_container **v = NULL;
    json_t **ports = NULL;
    size_t n = 0;
    if (tug_ps_select(s, &flt, all, last, &v, &ports, &n, &err) < 0) {
        tug_ps_filters_clear(&flt);
        return cli_fail(err);
    }
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, ps_row_ports(s, v[i], ports[i], no_trunc, size));
    tug_ps_selection_free(v, ports, n);
    tug_ps_filters_clear(&flt);
    json_t *header = ps_header();
    if (quiet && (format == NULL || *format == '\0'))
        format = "{{.ID}}";
    rc = cli_print_rows_typed(
        format,
        size ? "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
               "{{.Ports}}\t{{.Names}}\t{{.Size}}"
             : "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
               "{{.Ports}}\t{{.Names}}",
        "*formatter.ContainerContext", header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}
