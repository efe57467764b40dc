/* A container as lists show it: docker's ps and GET /containers/json share these. */
#include "summary.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../net/netsetup.h"
#include "../net/network.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "health.h"
#include "system.h"

char *tug_container_command(const tug_container *c)
{
    json_t *cfg = json_object_get(c->config, "Config");
    const char *keys[] = {"Entrypoint", "Cmd"};
    tug_strbuf out = {0};
    bool first = true;
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cfg, keys[k]), i, v)
        {
            const char *word = json_string_value(v);
            if (word == NULL)
                continue;
            if (!first)
                tug_strbuf_addc(&out, ' ');
            /* the arguments after the program, quoted when they hold a space, as docker's
             * daemon writes a summary's Command */
            bool quote = !first && strchr(word, ' ') != NULL;
            if (quote)
                tug_strbuf_addc(&out, '\'');
            tug_strbuf_adds(&out, word);
            if (quote)
                tug_strbuf_addc(&out, '\'');
            first = false;
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

char *tug_container_status_text(tug_store *s, tug_container *c)
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

json_t *tug_container_ports_summary(tug_store *s, tug_container *c)
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

json_t *tug_container_network_names(tug_store *s, tug_container *c)
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

typedef struct tug_ps_filter_def {
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
    return tug_label_match(json_object_get(json_object_get(c->config, "Config"), "Labels"), v);
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

static bool m_network(ps_filter_ctx *x, tug_container *c, const char *v)
{
    json_t *names = tug_container_network_names(x->s, c);
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

int tug_ps_filters_add(tug_ps_filters *f, const char *key, const char *value, tug_error **err)
{
    const ps_filter_def *def = NULL;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(ps_filters); i++)
        if (strcmp(key, ps_filters[i].key) == 0)
            def = &ps_filters[i];
    if (def == NULL)
        return tug_error_user(err, "Invalid filter '%s'", key);
    cleanup_free char *bad = def->check ? def->check(def->key, value) : NULL;
    if (bad)
        return tug_error_user(err, "%s", bad);
    tug_ps_filter *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return tug_error_set(err, ENOMEM, "filter");
    f->v = nv;
    nv[f->n].def = def;
    if ((nv[f->n].value = strdup(value)) == NULL)
        return tug_error_set(err, ENOMEM, "filter");
    f->n++;
    return 0;
}

int tug_ps_filters_resolve(tug_store *s, tug_ps_filters *f, tug_error **err)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].def->resolve && f->v[i].def->resolve(s, &f->v[i].value, err) < 0)
            return -1;
    return 0;
}

bool tug_ps_filters_show_all(const tug_ps_filters *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].def->show_all)
            return true;
    return false;
}

bool tug_ps_filters_match(const tug_ps_filters *f, tug_store *s, tug_container *c, json_t *ports)
{
    ps_filter_ctx x = {.s = s, .ports = ports};
    for (size_t k = 0; k < TUG_ARRAY_SIZE(ps_filters); k++) {
        const ps_filter_def *def = &ps_filters[k];
        bool seen = false, any = false, every = true;
        for (size_t i = 0; i < f->n; i++) {
            if (f->v[i].def != def)
                continue;
            bool m = def->match(&x, c, f->v[i].value);
            seen = true;
            any |= m;
            every &= m;
        }
        if (seen && !(def->every ? every : any))
            return false;
    }
    return true;
}

void tug_ps_filters_clear(tug_ps_filters *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].value);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

int tug_ps_select(tug_store *s, const tug_ps_filters *f, bool all, int last,
                  tug_container ***ret_ctrs, json_t ***ret_ports, size_t *ret_n, tug_error **err)
{
    tug_container **v = NULL;
    size_t n = 0, kept = 0;
    if (tug_container_list(s, &v, &n, err) < 0)
        return -1;
    json_t **ports = calloc(n + 1, sizeof(*ports));
    if (ports == NULL) {
        tug_containers_free(v, n);
        return tug_error_set(err, ENOMEM, "list containers");
    }
    bool show_all = all || last > 0 || tug_ps_filters_show_all(f);
    for (size_t i = 0; i < n; i++) {
        tug_container *c = v[i];
        v[i] = NULL;
        bool running = strcmp(c->state, TUG_STATE_RUNNING) == 0 ||
                       strcmp(c->state, TUG_STATE_PAUSED) == 0 ||
                       strcmp(c->state, TUG_STATE_RESTARTING) == 0;
        json_t *p = NULL;
        if ((last <= 0 || (int)kept < last) && (show_all || running)) {
            p = tug_container_ports_summary(s, c);
            if (!tug_ps_filters_match(f, s, c, p)) {
                json_decref(p);
                p = NULL;
            }
        }
        if (p == NULL) {
            tug_container_free(c);
            continue;
        }
        v[kept] = c;
        ports[kept++] = p;
    }
    *ret_ctrs = v;
    *ret_ports = ports;
    *ret_n = kept;
    return 0;
}

void tug_ps_selection_free(tug_container **ctrs, json_t **ports, size_t n)
{
    for (size_t i = 0; ports && i < n; i++)
        json_decref(ports[i]);
    free(ports);
    tug_containers_free(ctrs, n);
}

json_t *tug_container_inspect_doc(tug_store *s, const char *name, bool size, tug_error **err)
{
    cleanup_container tug_container *c = NULL;
    if (tug_container_find(s, name, &c, err) < 0)
        return NULL;
    tug_container_refresh(s, c, NULL);
    json_t *doc = tug_container_inspect_json(s, c);
    if (doc == NULL) {
        tug_error_set(err, ENOMEM, "inspect %s", name);
        return NULL;
    }
    json_t *health = tug_health_state_json(s, c);
    if (health)
        json_object_set_new(json_object_get(doc, "State"), "Health", health);
    long long rw = 0, rootfs = 0;
    if (size && tug_container_disk_size(s, c, &rw, &rootfs, NULL) == 0) {
        json_object_set_new(doc, "SizeRw", json_integer(rw));
        json_object_set_new(doc, "SizeRootFs", json_integer(rootfs));
    }
    return doc;
}

json_t *tug_container_summary_json(tug_store *s, tug_container *c, bool size)
{
    json_t *r = json_object();
    json_object_set_new(r, "Id", json_string(c->id));
    cleanup_free char *slashed = NULL;
    if (asprintf(&slashed, "/%s", c->name) < 0)
        slashed = NULL;
    json_object_set_new(r, "Names", json_pack("[s]", slashed ? slashed : c->name));
    json_object_set_new(r, "Image", json_string(c->image_name ? c->image_name : ""));
    json_object_set_new(r, "ImageID", json_string(c->image_id ? c->image_id : ""));
    cleanup_free char *cmd = tug_container_command(c);
    json_object_set_new(r, "Command", json_string(cmd ? cmd : ""));
    json_object_set_new(r, "Created", json_integer(c->created_ns / 1000000000LL));
    json_object_set_new(r, "Ports", tug_container_ports_summary(s, c));
    if (size) {
        long long rw = 0, rootfs = 0;
        if (tug_container_disk_size(s, c, &rw, &rootfs, NULL) == 0) {
            json_object_set_new(r, "SizeRw", json_integer(rw));
            json_object_set_new(r, "SizeRootFs", json_integer(rootfs));
        }
    }
    json_t *labels = json_object_get(json_object_get(c->config, "Config"), "Labels");
    json_object_set_new(r, "Labels", json_is_object(labels) ? json_copy(labels) : json_object());
    json_object_set_new(r, "State", json_string(c->state));
    cleanup_free char *status = tug_container_status_text(s, c);
    json_object_set_new(r, "Status", json_string(status ? status : ""));
    /* inspect's NetworkMode, Networks and Mounts, without the rest of its document */
    const char *mode = json_string_value(
        json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
    json_object_set_new(r, "HostConfig",
                        json_pack("{s:s}", "NetworkMode", mode && *mode ? mode : "default"));
    json_object_set_new(r, "NetworkSettings",
                        json_pack("{s:o}", "Networks", tug_container_networks_json(s, c)));
    json_t *mounts = json_object_get(c->config, "TugMountPoints");
    json_object_set_new(r, "Mounts", json_is_array(mounts) ? json_incref(mounts) : json_array());
    return r;
}
