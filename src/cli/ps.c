/* ps / container ls: docker's columns, filters and formats. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "container/health.h"
#include "net/netsetup.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"

#define HELP_OPT {"help", no_argument, NULL, 'H'}

static char *command_of(tug_container *c)
{
    json_t *cfg = json_object_get(c->config, "Config");
    const char *keys[] = {"Entrypoint", "Cmd"};
    tug_strbuf out = {0};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cfg, keys[k]), i, v)
        {
            const char *word = json_string_value(v);
            if (word == NULL)
                continue;
            if (out.len)
                tug_strbuf_addc(&out, ' ');
            tug_strbuf_adds(&out, word);
        }
    }
    return tug_strbuf_steal(&out);
}

/* Go's strconv.Quote, enough for commands. */
static char *go_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 3), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else
            *o++ = (char)c;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* " (health: starting)", " (healthy)", " (unhealthy)" or "" as docker's status ends */
static const char *health_suffix(tug_store *s, tug_container *c)
{
    const char *h = tug_health_status(s, c);
    return strcmp(h, "starting") == 0    ? " (health: starting)"
           : strcmp(h, "healthy") == 0   ? " (healthy)"
           : strcmp(h, "unhealthy") == 0 ? " (unhealthy)"
                                         : "";
}

static char *status_of(tug_store *s, tug_container *c)
{
    long long now = (long long)time(NULL);
    char *out = NULL;
    int r = -1;
    if (strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0) {
        cleanup_free char *d = tug_human_duration(now - c->started_ns / 1000000000LL);
        r = asprintf(&out, "Up %s%s", d,
                     strcmp(c->state, TUG_STATE_PAUSED) == 0 ? " (Paused)" : health_suffix(s, c));
    } else if (strcmp(c->state, TUG_STATE_EXITED) == 0 ||
               strcmp(c->state, TUG_STATE_RESTARTING) == 0) {
        cleanup_free char *d = tug_human_duration(now - c->finished_ns / 1000000000LL);
        r = asprintf(&out, "%s (%d) %s ago",
                     strcmp(c->state, TUG_STATE_EXITED) == 0 ? "Exited" : "Restarting",
                     c->exit_code, d);
    } else if (strcmp(c->state, TUG_STATE_CREATED) == 0) {
        out = strdup("Created");
        r = 0;
    } else {
        out = strdup("Dead");
        r = 0;
    }
    return r < 0 ? NULL : out;
}

typedef struct ps_filter {
    char **status, **names, **labels, **ancestors, **ids;
    size_t n_status, n_names, n_labels, n_ancestors, n_ids;
    int exited; /* -1 any */
    char **health; /* starting | healthy | unhealthy | none */
    size_t n_health;
} ps_filter;

static void push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL)
        return;
    *v = nv;
    nv[(*n)++] = (char *)s;
}

static int parse_filter(const char *f, ps_filter *flt)
{
    const char *eq = strchr(f, '=');
    if (eq == NULL) {
        fprintf(stderr, "Error: bad format of filter (expected name=value)\n");
        return -1;
    }
    size_t kl = (size_t)(eq - f);
    const char *v = eq + 1;
    if (kl == 6 && strncmp(f, "status", 6) == 0) {
        static const char *ok[] = {"created", "restarting", "running", "removing", "paused",
                                   "exited", "dead"};
        bool known = false;
        for (size_t i = 0; i < TUG_ARRAY_SIZE(ok); i++)
            known |= strcmp(v, ok[i]) == 0;
        if (!known) {
            fprintf(stderr, "Error: invalid filter 'status=%s'\n", v);
            return -1;
        }
        push(&flt->status, &flt->n_status, v);
    } else if (kl == 6 && strncmp(f, "health", 6) == 0) {
        if (strcmp(v, "starting") != 0 && strcmp(v, "healthy") != 0 &&
            strcmp(v, "unhealthy") != 0 && strcmp(v, "none") != 0) {
            fprintf(stderr, "Error: Unrecognised filter value for health: %s (use starting, "
                            "healthy, unhealthy or none)\n",
                    v);
            return -1;
        }
        push(&flt->health, &flt->n_health, v);
    } else if (kl == 4 && strncmp(f, "name", 4) == 0)
        push(&flt->names, &flt->n_names, v);
    else if (kl == 5 && strncmp(f, "label", 5) == 0)
        push(&flt->labels, &flt->n_labels, v);
    else if (kl == 8 && strncmp(f, "ancestor", 8) == 0)
        push(&flt->ancestors, &flt->n_ancestors, v);
    else if (kl == 2 && strncmp(f, "id", 2) == 0)
        push(&flt->ids, &flt->n_ids, v);
    else if (kl == 6 && strncmp(f, "exited", 6) == 0) {
        char *end;
        flt->exited = (int)strtol(v, &end, 10);
        if (end == v || *end) {
            fprintf(stderr, "Error: invalid filter 'exited=%s'\n", v);
            return -1;
        }
    } else {
        fprintf(stderr, "Error: invalid filter '%.*s'\n", (int)kl, f);
        return -1;
    }
    return 0;
}

static bool any_match(char **v, size_t n, bool (*fn)(const char *, tug_container *, void *),
                      tug_container *c, void *ud)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (fn(v[i], c, ud))
            return true;
    return false;
}

static bool m_status(const char *v, tug_container *c, void *ud)
{
    return strcmp(v, c->state) == 0;
}
static bool m_health(const char *v, tug_container *c, void *ud)
{
    return strcmp(v, tug_health_status(ud, c)) == 0;
}
static bool m_name(const char *v, tug_container *c, void *ud)
{
    return strstr(c->name, v) != NULL;
}
static bool m_id(const char *v, tug_container *c, void *ud)
{
    return strncmp(c->id, v, strlen(v)) == 0;
}
static bool m_label(const char *v, tug_container *c, void *ud)
{
    return cli_label_match(json_object_get(json_object_get(c->config, "Config"), "Labels"), v);
}
static bool m_ancestor(const char *v, tug_container *c, void *ud)
{
    tug_store *s = ud;
    tug_image *img = NULL;
    tug_error *err = NULL;
    bool ok = false;
    if (tug_store_find_image(s, v, &img, &err) == 0)
        ok = strcmp(img->id, c->image_id) == 0;
    tug_error_free(err);
    tug_image_free(img);
    return ok || strcmp(v, c->image_name) == 0;
}

/* "0.0.0.0:8080->80/tcp, 443/tcp": published ports, then exposed ones, as docker lists them. */
static json_t *ports_string(tug_store *s, tug_container *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bool running = strcmp(c->state, TUG_STATE_RUNNING) == 0 ||
                   strcmp(c->state, TUG_STATE_PAUSED) == 0;
    json_t *ports = running ? tug_net_ports_json(s, c->id) : json_object();
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(ports, k, v)
    {
        size_t i;
        json_t *b;
        json_array_foreach(v, i, b)
        {
            fprintf(f, "%s%s:%s->%s", first ? "" : ", ",
                    json_string_value(json_object_get(b, "HostIp")),
                    json_string_value(json_object_get(b, "HostPort")), k);
            first = false;
        }
    }
    json_object_foreach(json_object_get(json_object_get(c->config, "Config"), "ExposedPorts"), k,
                        v)
    {
        if (json_object_get(ports, k))
            continue;
        fprintf(f, "%s%s", first ? "" : ", ", k);
        first = false;
    }
    json_decref(ports);
    fclose(f);
    json_t *out = json_string(buf ? buf : "");
    free(buf);
    return out;
}

json_t *ps_row(tug_store *s, tug_container *c, bool no_trunc, bool size)
{
    json_t *r = json_object();
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%.12s", c->id);
    json_object_set_new(r, "ID", json_string(no_trunc ? c->id : shortid));
    json_object_set_new(r, "Image", json_string(c->image_name));
    cleanup_free char *cmd = command_of(c);
    cleanup_free char *shown = no_trunc ? strdup(cmd ? cmd : "") : tug_ellipsis(cmd ? cmd : "", 20);
    cleanup_free char *quoted = go_quote(shown ? shown : "");
    json_object_set_new(r, "Command", json_string(quoted ? quoted : ""));
    time_t t = (time_t)(c->created_ns / 1000000000LL);
    struct tm tm;
    char at[64];
    localtime_r(&t, &tm);
    strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    json_object_set_new(r, "CreatedAt", json_string(at));
    cleanup_free char *ago = tug_time_ago(c->created_ns / 1000000000LL);
    json_object_set_new(r, "RunningFor", json_string(ago));
    json_object_set_new(r, "Ports", ports_string(s, c));
    json_object_set_new(r, "State", json_string(c->state));
    cleanup_free char *status = status_of(s, c);
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
    json_object_set_new(r, "Mounts", json_string(""));
    json_t *eps = tug_net_endpoints_json(s, c->id);
    const char *mode = json_string_value(
        json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
    const char *netname = mode == NULL || strcmp(mode, "default") == 0 ? "bridge" : mode;
    json_object_set_new(r, "Networks", json_string(json_object_size(eps) ? netname : netname));
    json_decref(eps);
    json_object_set_new(r, "LocalVolumes", json_string("0"));
    if (size) {
        long long rw = tug_store_container_size_rw(s, c->id), virt = rw;
        cleanup_image tug_image *img = NULL;
        tug_error *err = NULL;
        if (tug_store_load_image(s, c->image_id, &img, &err) == 0)
            virt += img->size;
        tug_error_free(err);
        cleanup_free char *a = tug_human_size((double)rw, 3);
        cleanup_free char *b = tug_human_size((double)virt, 3);
        cleanup_free char *sz = NULL;
        if (asprintf(&sz, "%s (virtual %s)", a, b) >= 0)
            json_object_set_new(r, "Size", json_string(sz));
    } else {
        json_object_set_new(r, "Size", json_string("0B"));
    }
    return r;
}

int cmd_ps(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},         {"quiet", no_argument, NULL, 'q'},
        {"latest", no_argument, NULL, 'l'},      {"last", required_argument, NULL, 'n'},
        {"size", no_argument, NULL, 's'},        {"no-trunc", no_argument, NULL, 'T'},
        {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
        HELP_OPT,                                {NULL, 0, NULL, 0},
    };
    bool all = false, quiet = false, size = false, no_trunc = false, latest = false;
    int last = -1;
    const char *format = NULL;
    ps_filter flt = {.exited = -1};
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
            if (parse_filter(optarg, &flt) < 0)
                return EXIT_USER;
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
    if ((rc = cli_no_operands(ctx, argc, argv)) != 0)
        return rc;
    if (latest && last == -1)
        last = 1;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    tug_container **v = NULL;
    size_t n = 0;
    if (tug_container_list(s, &v, &n, &err) < 0)
        return cli_fail(err);
    json_t *rows = json_array();
    int shown = 0;
    bool show_all = all || last > 0 || flt.n_status || flt.exited >= 0;
    for (size_t i = 0; i < n; i++) {
        tug_container *ct = v[i];
        if (last > 0 && shown >= last)
            break;
        bool running = strcmp(ct->state, TUG_STATE_RUNNING) == 0 ||
                       strcmp(ct->state, TUG_STATE_PAUSED) == 0 ||
                       strcmp(ct->state, TUG_STATE_RESTARTING) == 0;
        if (!show_all && !running)
            continue;
        if (!any_match(flt.status, flt.n_status, m_status, ct, s) ||
            !any_match(flt.names, flt.n_names, m_name, ct, s) ||
            !any_match(flt.ids, flt.n_ids, m_id, ct, s) ||
            !any_match(flt.ancestors, flt.n_ancestors, m_ancestor, ct, s) ||
            !any_match(flt.health, flt.n_health, m_health, ct, s))
            continue;
        bool labels_ok = true;
        for (size_t k = 0; k < flt.n_labels; k++)
            labels_ok &= m_label(flt.labels[k], ct, s);
        if (!labels_ok)
            continue;
        if (flt.exited >= 0 && (strcmp(ct->state, TUG_STATE_EXITED) != 0 ||
                                ct->exit_code != flt.exited))
            continue;
        json_array_append_new(rows, ps_row(s, ct, no_trunc, size));
        shown++;
    }
    tug_containers_free(v, n);
    free(flt.status);
    free(flt.health);
    free(flt.names);
    free(flt.labels);
    free(flt.ancestors);
    free(flt.ids);
    json_t *header = json_object();
    static const char *pairs[][2] = {
        {"ID", "CONTAINER ID"}, {"Image", "IMAGE"},        {"Command", "COMMAND"},
        {"CreatedAt", "CREATED AT"}, {"RunningFor", "CREATED"}, {"Ports", "PORTS"},
        {"State", "STATE"},     {"Status", "STATUS"},      {"Size", "SIZE"},
        {"Names", "NAMES"},     {"Labels", "LABELS"},      {"Mounts", "MOUNTS"},
        {"Networks", "NETWORKS"}, {"LocalVolumes", "LOCAL VOLUMES"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(pairs); i++)
        json_object_set_new(header, pairs[i][0], json_string(pairs[i][1]));
    if (quiet && (format == NULL || *format == '\0'))
        format = "{{.ID}}";
    rc = cli_print_rows(format,
                        size ? "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
                               "{{.Ports}}\t{{.Names}}\t{{.Size}}"
                             : "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
                               "{{.Ports}}\t{{.Names}}",
                        header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}
