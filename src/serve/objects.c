/* The Engine API's networks (create, rm, connect, disconnect, prune), volumes (create, rm,
 * prune), container prune and POST /auth: each calls the library function the CLI's command
 * calls, and answers with dockerd's statuses and documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container/connect.h"
#include "container/logs.h"
#include "net/network.h"
#include "registry/login.h"
#include "runtime/volume.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/strutil.h"

static int no_content(tug_http_out *o, int status)
{
    return tug_http_send(o, status, NULL, "", 0);
}

static int send_msg(tug_http_out *o, int status, const char *fmt, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, what);
    return tug_http_send_error(o, status, msg);
}

/* A library error answered with the status dockerd gives it here (err is freed). */
static int send_err_as(tug_http_out *o, int status, tug_error *err)
{
    int sent = tug_http_send_error(o, status, err && err->msg ? err->msg : "unknown failure");
    tug_error_free(err);
    return sent;
}

static const char *str_of(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v && *v ? v : NULL;
}

static bool predefined(const char *name)
{
    return strcmp(name, TUG_DEFAULT_NETWORK) == 0 || strcmp(name, "host") == 0 ||
           strcmp(name, "none") == 0 || strcmp(name, "default") == 0;
}

/* An object of strings (Labels, Options), copied; NULL when absent, -1 when malformed. */
static int string_map(json_t *body, const char *key, json_t **ret)
{
    json_t *m = json_object_get(body, key);
    *ret = NULL;
    if (m == NULL || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (!json_is_string(v))
            return -1;
    }
    *ret = json_copy(m);
    return 0;
}

/* ---- networks ---- */

/* IPAM.Config's entries sorted into o by address family, as docker's bridge driver takes them:
 * one IPv4 and one IPv6 subnet at most, each gateway in a subnet given. NULL, or why not. */
static const char *ipam_config(json_t *ipam, tug_network_opts *o)
{
    const char *driver = str_of(ipam, "Driver");
    if (driver && strcmp(driver, "default") != 0)
        return "tug networks use the default IPAM driver";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(ipam, "Config"), i, c)
    {
        const char *subnet = str_of(c, "Subnet"), *gw = str_of(c, "Gateway");
        const char *range = str_of(c, "IPRange");
        if (subnet == NULL)
            return gw || range ? "every ip-range or gateway must have a corresponding subnet"
                               : NULL;
        if (range && strcmp(range, subnet) != 0)
            return "tug does not take an IPRange inside a subnet: give a Subnet of the range's "
                   "size instead";
        bool v6 = strchr(subnet, ':') != NULL;
        const char **slot = v6 ? &o->subnet6 : &o->subnet;
        if (*slot)
            return "bridge driver doesn't support multiple subnets: give one IPv4 and one IPv6 "
                   "subnet at most";
        *slot = subnet;
        if (gw && (strchr(gw, ':') != NULL) != v6)
            return "no matching subnet for the gateway: give each gateway in its subnet";
        *(v6 ? &o->gateway6 : &o->gateway) = gw;
    }
    return NULL;
}

int tug_api_network_create(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, NULL);
    tug_store *s;
    if (body == NULL)
        return 0;
    const char *name = str_of(body, "Name"), *driver = str_of(body, "Driver");
    if (name == NULL)
        return tug_http_send_error(a->o, 400, "a network needs a Name");
    if (driver && strcmp(driver, "bridge") != 0)
        return send_msg(a->o, 404, "plugin \"%s\" not found: tug networks use the bridge driver",
                        driver);
    if (predefined(name)) /* dockerd's words, its space at the end too */
        return send_msg(a->o, 403, "operation is not permitted on predefined %s network ", name);
    tug_network_opts o = {.internal = json_is_true(json_object_get(body, "Internal")),
                          .ipv6 = json_is_true(json_object_get(body, "EnableIPv6"))};
    const char *why = ipam_config(json_object_get(body, "IPAM"), &o);
    if (why)
        return tug_http_send_error(a->o, 400, why);
    json_auto_t *labels = NULL, *options = NULL;
    if (string_map(body, "Labels", &labels) < 0 || string_map(body, "Options", &options) < 0)
        return tug_http_send_error(a->o, 400, "Labels and Options take strings");
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    o.labels = labels;
    tug_error *err = NULL;
    cleanup_network tug_network *n = NULL;
    if (tug_network_create_opts(s, name, &o, &n, &err) < 0)
        return tug_api_send_err(a->o, err);
    /* the bridge driver's options (its name, MTU...) are tug's to choose */
    char warn[256] = "";
    if (options && json_object_size(options) > 0)
        snprintf(warn, sizeof(warn), "tug ignores the network's driver options");
    return tug_http_send_json(a->o, 201, json_pack("{s:s, s:s}", "Id", n->id, "Warning", warn));
}

int tug_api_network_delete(const tug_api_call *a)
{
    tug_store *s;
    if (strcmp(a->arg, "host") == 0 || strcmp(a->arg, "none") == 0)
        return send_msg(a->o, 403, "%s is a pre-defined network and cannot be removed", a->arg);
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, a->arg, &n, &err) < 0)
        return tug_api_send_err(a->o, err);
    if (strcmp(n->name, TUG_DEFAULT_NETWORK) == 0)
        return send_msg(a->o, 403, "%s is a pre-defined network and cannot be removed", n->name);
    cleanup_strv char **users = NULL;
    if (tug_network_users(s, n, &users, &err) < 0)
        return tug_api_send_err(a->o, err);
    int r = tug_network_remove(s, n, &err);
    if (r < 0 && users && users[0]) /* dockerd: active endpoints are forbidden */
        return send_err_as(a->o, 403, err);
    return r < 0 ? tug_api_send_err(a->o, err) : no_content(a->o, 204);
}

/* connect and disconnect: {"Container": ..., ...} */
static int connect_like(const tug_api_call *a, bool connect)
{
    json_auto_t *body = tug_api_body_object(a, NULL);
    tug_store *s;
    if (body == NULL)
        return 0;
    const char *ctr = str_of(body, "Container");
    if (ctr == NULL)
        return tug_http_send_error(a->o, 400, "the body names no Container");
    json_t *ep = json_object_get(body, "EndpointConfig");
    json_t *ipam = json_object_get(ep, "IPAMConfig"), *aliases = json_object_get(ep, "Aliases");
    if (aliases && !json_is_array(aliases) && !json_is_null(aliases))
        return tug_http_send_error(a->o, 400, "EndpointConfig.Aliases takes a list of names");
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    json_auto_t *names = json_is_array(aliases) ? json_incref(aliases) : json_array();
    int r = connect ? tug_container_connect(s, ctr, a->arg, names, str_of(ipam, "IPv4Address"),
                                            str_of(ipam, "IPv6Address"), &err)
                    : tug_container_disconnect(s, ctr, a->arg, &err);
    return r < 0 ? tug_api_send_err(a->o, err) : tug_http_send(a->o, 200, NULL, "", 0);
}

int tug_api_network_connect(const tug_api_call *a)
{
    return connect_like(a, true);
}

int tug_api_network_disconnect(const tug_api_call *a)
{
    return connect_like(a, false);
}

/* ---- prune filters ---- */

static int add_prune_filter(void *data, const char *key, const char *value, tug_error **err)
{
    tug_api_prune *q = data;
    json_t *v = json_string(value);
    json_array_append_new(q->keep, v);
    const char *kept = json_string_value(v);
    bool labels = !(q->takes & TUG_PRUNE_UNTIL_ONLY);
    if (labels && strcmp(key, "label") == 0 && q->f.nlabels < TUG_ARRAY_SIZE(q->f.labels))
        q->f.labels[q->f.nlabels++] = kept;
    else if (labels && (strcmp(key, "label!") == 0 || strcmp(key, "label!=") == 0) &&
             q->f.nnolabels < TUG_ARRAY_SIZE(q->f.nolabels))
        q->f.nolabels[q->f.nnolabels++] = kept;
    else if (strcmp(key, "until") == 0 && !(q->takes & TUG_PRUNE_ALL)) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ns = 0;
        cleanup_free char *why = NULL;
        if (tug_logs_parse_time(value, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec, 0, &ns,
                                &why) < 0)
            return tug_error_user(err, "invalid filter 'until=%s': %s", value, why ? why : "");
        q->f.until = ns / 1000000000LL;
    } else if (strcmp(key, "all") == 0 && (q->takes & TUG_PRUNE_ALL)) {
        bool yes = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!yes && strcmp(value, "false") != 0 && strcmp(value, "0") != 0)
            return tug_error_user(err, "invalid filter 'all=%s': use true or false", value);
        q->all = yes;
    } else if (strcmp(key, "dangling") == 0 && (q->takes & TUG_PRUNE_DANGLING)) {
        bool yes = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!yes && strcmp(value, "false") != 0 && strcmp(value, "0") != 0)
            return tug_error_user(err, "invalid filter 'dangling=%s': use true or false", value);
        q->dangling = yes;
    } else
        return tug_error_user(err, "Invalid filter '%s'", key);
    return 0;
}

int tug_api_prune_filters(const tug_api_call *a, tug_api_prune *q, unsigned takes)
{
    *q = (tug_api_prune){.keep = json_array(), .all = -1, .dangling = -1, .takes = takes};
    tug_error *err = NULL;
    if (tug_api_each_filter(a->req, add_prune_filter, q, &err) < 0) {
        tug_api_send_err(a->o, err);
        json_decref(q->keep);
        return -1;
    }
    return 0;
}

/* A list of names for a prune report: null when none, as dockerd's nil slice. */
static json_t *name_list(char **names)
{
    if (names == NULL || names[0] == NULL)
        return json_null();
    json_t *out = json_array();
    for (size_t i = 0; names[i]; i++)
        json_array_append_new(out, json_string(names[i]));
    return out;
}

typedef enum { PRUNE_NETWORKS, PRUNE_CONTAINERS, PRUNE_VOLUMES } prune_kind;

/* The prune of one kind, as dockerd reports it: what went ("...Deleted", null when nothing
 * did) and, but for networks, the bytes freed. */
static int prune(const tug_api_call *a, prune_kind kind)
{
    static const char *const deleted[] = {"NetworksDeleted", "ContainersDeleted", "VolumesDeleted"};
    tug_api_prune q;
    tug_store *s;
    if (tug_api_prune_filters(a, &q, kind == PRUNE_VOLUMES ? TUG_PRUNE_ALL : 0) < 0)
        return 0;
    json_auto_t *keep = q.keep;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_strv char **names = NULL;
    long long freed = 0;
    /* API 1.41 (dockerd 20.10) prunes every unused volume; all=false keeps named ones */
    int r = kind == PRUNE_NETWORKS     ? tug_network_prune(s, &q.f, &names, &err)
            : kind == PRUNE_CONTAINERS ? tug_container_prune(s, &q.f, &names, &freed, &err)
                                       : tug_volume_prune(s, q.all != 0, &q.f, &names, &freed, &err);
    if (r < 0)
        return tug_api_send_err(a->o, err);
    json_t *doc = json_pack("{s:o}", deleted[kind], name_list(names));
    if (kind != PRUNE_NETWORKS)
        json_object_set_new(doc, "SpaceReclaimed", json_integer(freed));
    return tug_http_send_json(a->o, 200, doc);
}

int tug_api_network_prune(const tug_api_call *a)
{
    return prune(a, PRUNE_NETWORKS);
}

int tug_api_container_prune(const tug_api_call *a)
{
    return prune(a, PRUNE_CONTAINERS);
}

int tug_api_volume_prune(const tug_api_call *a)
{
    return prune(a, PRUNE_VOLUMES);
}

/* ---- volumes ---- */

int tug_api_volume_create(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, NULL);
    tug_store *s;
    if (body == NULL)
        return 0;
    const char *name = str_of(body, "Name"), *driver = str_of(body, "Driver");
    if (driver && strcmp(driver, "local") != 0)
        return send_msg(a->o, 404, "plugin \"%s\" not found: tug's volumes use the local driver",
                        driver);
    json_auto_t *labels = NULL, *options = NULL;
    if (string_map(body, "Labels", &labels) < 0 || string_map(body, "DriverOpts", &options) < 0)
        return tug_http_send_error(a->o, 400, "Labels and DriverOpts take strings");
    /* no name: a random one, as dockerd gives (not an anonymous volume of a container) */
    char random[65];
    if (name == NULL) {
        tug_random_hex(random, 32);
        name = random;
    }
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_volume tug_volume *v = NULL;
    if (tug_volume_create(s, name, labels, options, &v, &err) < 0)
        return tug_api_send_err(a->o, err);
    return tug_http_send_json(a->o, 201, tug_volume_inspect_json(s, v));
}

int tug_api_volume_delete(const tug_api_call *a)
{
    tug_store *s;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    if (tug_volume_remove(s, a->arg, &err) < 0) {
        /* force: a volume that is not there is gone already */
        if (err->reason == TUG_ERR_R_NOT_FOUND && tug_api_query_bool(a->req, "force")) {
            tug_error_free(err);
            return no_content(a->o, 204);
        }
        return tug_api_send_err(a->o, err);
    }
    return no_content(a->o, 204);
}

/* ---- auth ---- */

int tug_api_auth(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, NULL);
    if (body == NULL)
        return 0;
    /* the server's registry options (its --insecure-registry, daemon.json) */
    tug_registry_opts ropts = a->x->registry ? *a->x->registry : (tug_registry_opts){0};
    ropts.user_agent = "tug/" TUG_VERSION;
    tug_login_opts lo = {.server = str_of(body, "serveraddress"),
                         .username = str_of(body, "username"),
                         .password = str_of(body, "password"),
                         .registry = &ropts};
    __attribute__((cleanup(tug_login_result_clear))) tug_login_result res = {0};
    tug_error *err = NULL;
    if (tug_login(&lo, &res, &err) < 0) {
        /* the registry refused, or the request lacked a name or password: dockerd's 401; an
         * unreachable or failing registry: its 500 */
        bool refused = err->kind == TUG_ERR_USER && (err->status == 401 || err->status == 403 ||
                                                     lo.username == NULL || lo.password == NULL);
        return send_err_as(a->o, refused ? 401 : 500, err);
    }
    return tug_http_send_json(
        a->o, 200, json_pack("{s:s, s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
}
