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
#include "net/network.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/template.h"

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

/* ---- filters: docker's keys, one table row each ---- */

typedef struct ps_filter_ctx {
    tug_store *s;
    json_t *ports; /* the container's ports as docker's summary lists them */
} ps_filter_ctx;

/* value is checked when the flag is read: NULL when fine, else the error line */
typedef char *(*ps_check_fn)(const char *key, const char *value);
/* value is looked up once the store is open (before=, since=); may replace *value */
typedef int (*ps_resolve_fn)(tug_store *s, char **value, tug_error **err);
typedef bool (*ps_match_fn)(ps_filter_ctx *x, tug_container *c, const char *value);

typedef struct ps_filter_def {
    const char *key;
    ps_check_fn check;
    ps_resolve_fn resolve;
    ps_match_fn match;
    bool every;    /* every value must match (label); otherwise any one */
    bool show_all; /* also looks at stopped containers (status, exited) */
} ps_filter_def;

static char *check_status(const char *key, const char *v)
{
    static const char *ok[] = {"created", "restarting", "running", "removing",
                               "paused",  "exited",     "dead"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(ok); i++)
        if (strcmp(v, ok[i]) == 0)
            return NULL;
    char *m = NULL;
    return asprintf(&m, "Invalid filter 'status=%s'", v) < 0 ? NULL : m;
}

static char *check_health(const char *key, const char *v)
{
    char *m = NULL;
    if (strcmp(v, "starting") == 0 || strcmp(v, "healthy") == 0 || strcmp(v, "unhealthy") == 0 ||
        strcmp(v, "none") == 0)
        return NULL;
    return asprintf(&m,
                    "Unrecognised filter value for health: %s (use starting, healthy, unhealthy "
                    "or none)",
                    v) < 0
               ? NULL
               : m;
}

static char *check_int(const char *key, const char *v)
{
    char *end, *m = NULL;
    strtol(v, &end, 10);
    if (end != v && *end == '\0')
        return NULL;
    /* Go's strconv.Atoi error, as docker's daemon passes it on */
    return asprintf(&m, "strconv.Atoi: parsing \"%s\": invalid syntax", v) < 0 ? NULL : m;
}

/* docker's <port>[/<proto>] or <start>-<end>[/<proto>] */
static bool port_range(const char *v, long *lo, long *hi, char proto[8])
{
    const char *slash = strchr(v, '/');
    snprintf(proto, 8, "%s", slash ? slash + 1 : "tcp");
    char *end;
    *lo = strtol(v, &end, 10);
    *hi = *lo;
    if (end != v && *end == '-') {
        const char *h = end + 1;
        *hi = strtol(h, &end, 10);
        if (end == h)
            return false;
    }
    return end != v && (end == slash || *end == '\0') && *lo >= 0 && *hi >= *lo && *hi <= 65535 &&
           *proto != '\0';
}

static char *check_port(const char *key, const char *v)
{
    long lo, hi;
    char proto[8], *m = NULL;
    int r;
    if (strchr(v, ':'))
        r = asprintf(&m, "filter for '%s' should not contain ':': %s", key, v);
    else if (!port_range(v, &lo, &hi, proto)) {
        /* the part that is no number, in Go's words */
        size_t n = strcspn(v, "-/");
        const char *bad = v;
        if (n > 0 && strspn(v, "0123456789") == n && v[n] == '-')
            bad = v + n + 1, n = strcspn(bad, "/");
        r = asprintf(&m,
                     "error while looking up for %s %s: strconv.ParseUint: parsing \"%.*s\": "
                     "invalid syntax",
                     key, v, (int)n, bad);
    } else
        return NULL;
    return r < 0 ? NULL : m;
}

static int resolve_container(tug_store *s, char **value, tug_error **err)
{
    cleanup_container tug_container *c = NULL;
    tug_error *e = NULL;
    if (tug_container_find(s, *value, &c, &e) < 0) {
        bool missing = e && e->kind == TUG_ERR_USER;
        if (!missing) {
            *err = e;
            return -1;
        }
        tug_error_free(e);
        return tug_error_user(err, "no such container %s", *value);
    }
    free(*value);
    *value = strdup(c->id);
    return *value ? 0 : tug_error_set(err, 12, "out of memory");
}

static int resolve_network(tug_store *s, char **value, tug_error **err)
{
    cleanup_network tug_network *n = NULL;
    tug_error *e = NULL;
    if (tug_network_find(s, *value, &n, &e) == 0) {
        free(*value);
        *value = strdup(n->name);
    }
    tug_error_free(e); /* a network that is gone matches nothing */
    return *value ? 0 : tug_error_set(err, 12, "out of memory");
}

static bool m_status(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strcmp(v, c->state) == 0;
}
static bool m_health(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strcmp(v, tug_health_status(x->s, c)) == 0;
}
static bool m_name(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strstr(c->name, v) != NULL;
}
static bool m_id(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strncmp(c->id, v, strlen(v)) == 0;
}
static bool m_label(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return cli_label_match(json_object_get(json_object_get(c->config, "Config"), "Labels"), v);
}
static bool m_exited(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strcmp(c->state, TUG_STATE_EXITED) == 0 && c->exit_code == atoi(v);
}
static bool m_ancestor(ps_filter_ctx *x, tug_container *c, const char *v)
{
    tug_image *img = NULL;
    tug_error *err = NULL;
    bool ok = false;
    if (tug_store_find_image(x->s, v, &img, &err) == 0)
        ok = strcmp(img->id, c->image_id) == 0;
    tug_error_free(err);
    tug_image_free(img);
    return ok || strcmp(v, c->image_name) == 0;
}

static long long created_of(ps_filter_ctx *x, const char *id)
{
    cleanup_container tug_container *ref = NULL;
    tug_error *err = NULL;
    long long t = tug_container_find(x->s, id, &ref, &err) == 0 ? ref->created_ns : -1;
    tug_error_free(err);
    return t;
}
static bool m_before(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return strcmp(c->id, v) != 0 && c->created_ns < created_of(x, v);
}
static bool m_since(ps_filter_ctx *x, tug_container *c, const char *v)
{
    long long t = created_of(x, v);
    return strcmp(c->id, v) != 0 && t >= 0 && c->created_ns > t;
}

/* publish= names a host port, expose= a container port, as docker's daemon compares them */
static bool port_match(ps_filter_ctx *x, const char *v, const char *field)
{
    long lo, hi;
    char proto[8];
    if (!port_range(v, &lo, &hi, proto))
        return false;
    size_t i;
    json_t *p;
    json_array_foreach(x->ports, i, p)
    {
        long port = (long)json_integer_value(json_object_get(p, field));
        if (port > 0 && port >= lo && port <= hi &&
            strcmp(json_string_value(json_object_get(p, "Type")), proto) == 0)
            return true;
    }
    return false;
}
static bool m_publish(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return port_match(x, v, "PublicPort");
}
static bool m_expose(ps_filter_ctx *x, tug_container *c, const char *v)
{
    return port_match(x, v, "PrivatePort");
}

static json_t *network_names(tug_store *s, tug_container *c);
static bool m_network(ps_filter_ctx *x, tug_container *c, const char *v)
{
    json_t *names = network_names(x->s, c);
    bool ok = json_object_get(names, v) != NULL;
    json_decref(names);
    return ok;
}

static bool m_volume(ps_filter_ctx *x, tug_container *c, const char *v)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c->config, "TugMountPoints"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "Name"));
        const char *dst = json_string_value(json_object_get(m, "Destination"));
        if ((name && strcmp(name, v) == 0) || (dst && strcmp(dst, v) == 0))
            return true;
    }
    return false;
}

static const ps_filter_def ps_filters[] = {
    {"status", check_status, NULL, m_status, false, true},
    {"exited", check_int, NULL, m_exited, false, true},
    {"health", check_health, NULL, m_health, false, false},
    {"name", NULL, NULL, m_name, false, false},
    {"id", NULL, NULL, m_id, false, false},
    {"label", NULL, NULL, m_label, true, false},
    {"ancestor", NULL, NULL, m_ancestor, false, false},
    {"before", NULL, resolve_container, m_before, false, false},
    {"since", NULL, resolve_container, m_since, false, false},
    {"publish", check_port, NULL, m_publish, false, false},
    {"expose", check_port, NULL, m_expose, false, false},
    {"network", NULL, resolve_network, m_network, false, false},
    {"volume", NULL, NULL, m_volume, false, false},
};

typedef struct ps_filter {
    const ps_filter_def *def;
    char *value;
} ps_filter;

typedef struct ps_filters_set {
    ps_filter *v;
    size_t n;
} ps_filters_set;

static void filters_clear(ps_filters_set *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].value);
    free(f->v);
}

/* 0, or the exit status for a filter the flag or the engine refuses */
static int parse_filter(cli_ctx *ctx, const char *f, ps_filters_set *set)
{
    const char *eq = strchr(f, '=');
    if (eq == NULL)
        return cli_bad_value(ctx, f, "-f, --filter", "bad format of filter (expected name=value)");
    size_t kl = (size_t)(eq - f);
    const ps_filter_def *def = NULL;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(ps_filters); i++)
        if (strlen(ps_filters[i].key) == kl && strncmp(f, ps_filters[i].key, kl) == 0)
            def = &ps_filters[i];
    if (def == NULL) {
        fprintf(stderr, "Error: Invalid filter '%.*s'\n", (int)kl, f);
        return EXIT_USER;
    }
    cleanup_free char *bad = def->check ? def->check(def->key, eq + 1) : NULL;
    if (bad) {
        fprintf(stderr, "Error: %s\n", bad);
        return EXIT_USER;
    }
    ps_filter *nv = realloc(set->v, (set->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return EXIT_ENGINE;
    set->v = nv;
    nv[set->n].def = def;
    if ((nv[set->n].value = strdup(eq + 1)) == NULL)
        return EXIT_ENGINE;
    set->n++;
    return 0;
}

static int filters_resolve(tug_store *s, ps_filters_set *set, tug_error **err)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].def->resolve && set->v[i].def->resolve(s, &set->v[i].value, err) < 0)
            return -1;
    return 0;
}

static bool filters_show_all(const ps_filters_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].def->show_all)
            return true;
    return false;
}

/* Values of one key: any may match (all for label); keys: all must. */
static bool filters_match(const ps_filters_set *set, ps_filter_ctx *x, tug_container *c)
{
    for (size_t k = 0; k < TUG_ARRAY_SIZE(ps_filters); k++) {
        const ps_filter_def *def = &ps_filters[k];
        bool seen = false, any = false, every = true;
        for (size_t i = 0; i < set->n; i++) {
            if (set->v[i].def != def)
                continue;
            bool m = def->match(x, c, set->v[i].value);
            seen = true;
            any |= m;
            every &= m;
        }
        if (seen && !(def->every ? every : any))
            return false;
    }
    return true;
}

/* The container's ports as docker's summary has them: published ones (while it runs), then
 * exposed ones, each {IP, PrivatePort, PublicPort, Type}. */
static json_t *ps_ports(tug_store *s, tug_container *c)
{
    json_t *out = json_array();
    bool running =
        strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0;
    json_t *ports = running ? tug_net_ports_json(s, c->id) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(ports, k, v)
    {
        size_t i;
        json_t *b;
        json_array_foreach(v, i, b)
        {
            const char *slash = strchr(k, '/');
            json_array_append_new(
                out, json_pack(
                         "{s:s, s:I, s:I, s:s}", "IP",
                         json_string_value(json_object_get(b, "HostIp")) ?: "", "PrivatePort",
                         (json_int_t)atoi(k), "PublicPort",
                         (json_int_t)atoi(json_string_value(json_object_get(b, "HostPort")) ?: "0"),
                         "Type", slash ? slash + 1 : "tcp"));
        }
    }
    json_object_foreach(json_object_get(json_object_get(c->config, "Config"), "ExposedPorts"), k, v)
    {
        if (json_object_get(ports, k))
            continue;
        const char *slash = strchr(k, '/');
        json_array_append_new(out, json_pack("{s:I, s:s}", "PrivatePort", (json_int_t)atoi(k),
                                             "Type", slash ? slash + 1 : "tcp"));
    }
    json_decref(ports);
    return out;
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

/* The networks a container is on, as a set (object): its mode's network and the ones it was
 * connected to. */
static json_t *network_names(tug_store *s, tug_container *c)
{
    json_t *names = json_object();
    const char *mode =
        json_string_value(json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
    json_object_set_new(names, mode == NULL || strcmp(mode, "default") == 0 ? "bridge" : mode,
                        json_true());
    const char *k;
    json_t *v;
    json_object_foreach(
        json_object_get(json_object_get(c->config, "NetworkingConfig"), "EndpointsConfig"), k, v)
        json_object_set_new(names, k, json_true());
    json_t *eps = tug_net_endpoints_json(s, c->id);
    json_object_foreach(eps, k, v) json_object_set_new(names, k, json_true());
    json_decref(eps);
    return names;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's .Networks: the names sorted, joined by commas */
static char *networks_field(tug_store *s, tug_container *c)
{
    json_t *names = network_names(s, c);
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
    cleanup_free char *cmd = command_of(c);
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
    json_t *ports = ps_ports(s, c);
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
    ps_filters_set flt = {0};
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
                filters_clear(&flt);
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
        filters_clear(&flt);
        return rc;
    }
    if (format && *format && (rc = check_format(format)) != 0) {
        filters_clear(&flt);
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
    if ((rc = cli_store(ctx, &s)) != 0 || (rc = filters_resolve(s, &flt, &err)) != 0) {
        filters_clear(&flt);
        return rc ? cli_fail(err) : rc;
    }
    tug_container **v = NULL;
    size_t n = 0;
    if (tug_container_list(s, &v, &n, &err) < 0) {
        filters_clear(&flt);
        return cli_fail(err);
    }
    json_t *rows = json_array();
    int shown = 0;
    bool show_all = all || last > 0 || filters_show_all(&flt);
    for (size_t i = 0; i < n; i++) {
        tug_container *ct = v[i];
        if (last > 0 && shown >= last)
            break;
        bool running = strcmp(ct->state, TUG_STATE_RUNNING) == 0 ||
                       strcmp(ct->state, TUG_STATE_PAUSED) == 0 ||
                       strcmp(ct->state, TUG_STATE_RESTARTING) == 0;
        if (!show_all && !running)
            continue;
        ps_filter_ctx x = {.s = s, .ports = ps_ports(s, ct)};
        if (filters_match(&flt, &x, ct)) {
            json_array_append_new(rows, ps_row_ports(s, ct, x.ports, no_trunc, size));
            shown++;
        }
        json_decref(x.ports);
    }
    tug_containers_free(v, n);
    filters_clear(&flt);
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
