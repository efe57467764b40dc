/* The Engine API's routes: versioned paths, the read-only endpoints, and library errors as
 * HTTP statuses. The documents come from the same library functions the CLI prints. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/cache.h"
#include "container/summary.h"
#include "container/system.h"
#include "image/image.h"
#include "net/network.h"
#include "runtime/container.h"
#include "runtime/volume.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/strutil.h"

typedef int (*api_fn)(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o);

/* The HTTP status for a library error, by its kind and reason. */
static int status_of(const tug_error *err)
{
    if (err == NULL)
        return 500;
    if (err->reason == TUG_ERR_R_NOT_FOUND)
        return 404;
    if (err->reason == TUG_ERR_R_CONFLICT)
        return 409;
    return err->kind == TUG_ERR_USER ? 400 : 500;
}

int tug_api_send_err(tug_http_out *o, tug_error *err)
{
    int r = tug_http_send_error(o, status_of(err), err && err->msg ? err->msg : "unknown failure");
    tug_error_free(err);
    return r;
}

int tug_api_store(tug_api_ctx *x, tug_http_out *o, tug_store **ret)
{
    tug_error *err = NULL;
    if (x->store == NULL && tug_store_open(x->root, &x->store, &err) < 0) {
        tug_error_wrap(&err, "open the store at %s", x->root);
        tug_api_send_err(o, err);
        return -1;
    }
    *ret = x->store;
    return 0;
}

/* A boolean query parameter as Go's strconv.ParseBool and docker's BoolValue read it: "1",
 * "true" (any case) and such; absent or "0"/"false"/"" is false. */
json_t *tug_api_body_object(const tug_api_call *a, const char *if_empty)
{
    if (a->body_len == 0 && if_empty) {
        tug_http_send_error(a->o, 400, if_empty);
        return NULL;
    }
    if (a->body_len == 0)
        return json_object();
    json_error_t je;
    json_t *doc = json_loadb(a->body, a->body_len, 0, &je);
    if (json_is_object(doc))
        return doc;
    json_decref(doc);
    char msg[256];
    snprintf(msg, sizeof(msg), "invalid JSON body: %s", doc ? "not an object" : je.text);
    tug_http_send_error(a->o, 400, msg);
    return NULL;
}

bool tug_api_query_bool(const tug_http_req *req, const char *key)
{
    cleanup_free char *v = tug_http_query_get(req, key);
    if (v == NULL)
        return false;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "t") == 0 ||
           strcmp(v, "T") == 0 || strcasecmp(v, "yes") == 0;
}

/* ?filters= as docker sends it: {"key":["v1","v2"]} or the older {"key":{"v1":true}}. Calls
 * add for each pair; a malformed document is the client's error. */
int tug_api_each_filter(const tug_http_req *req, tug_api_filter_fn add, void *data,
                        tug_error **err)
{
    cleanup_free char *text = tug_http_query_get(req, "filters");
    if (text == NULL || *text == '\0')
        return 0;
    json_error_t je;
    json_auto_t *doc = json_loads(text, 0, &je);
    if (!json_is_object(doc))
        return tug_error_user(err, "invalid filter: %s", doc ? "not an object" : je.text);
    const char *key;
    json_t *vals;
    json_object_foreach(doc, key, vals)
    {
        if (json_is_array(vals)) {
            size_t i;
            json_t *v;
            json_array_foreach(vals, i, v)
            {
                if (!json_is_string(v))
                    return tug_error_user(err, "invalid filter: '%s' takes strings", key);
                if (add(data, key, json_string_value(v), err) < 0)
                    return -1;
            }
        } else if (json_is_object(vals)) {
            const char *v;
            json_t *on;
            json_object_foreach(vals, v, on)
            {
                if (json_is_true(on) && add(data, key, v, err) < 0)
                    return -1;
            }
        } else
            return tug_error_user(err, "invalid filter: '%s' takes a list", key);
    }
    return 0;
}

/* ---- system ---- */

static int api_ping(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    static const char hdrs[] = "Cache-Control: no-cache, no-store, must-revalidate\r\n"
                               "Pragma: no-cache\r\n";
    cleanup_free char *extra = NULL;
    if (asprintf(&extra, "%s%s", o->extra_headers ? o->extra_headers : "", hdrs) < 0)
        return tug_http_send_error(o, 500, "out of memory");
    tug_http_out with = *o;
    with.extra_headers = extra;
    bool head = strcmp(req->method, "HEAD") == 0;
    return tug_http_send(&with, 200, "text/plain; charset=utf-8", head ? "" : "OK", head ? 0 : 2);
}

static int api_version(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    json_t *doc = tug_engine_version();
    char min[16];
    snprintf(min, sizeof(min), "1.%d", TUG_API_MIN_MINOR);
    json_object_set_new(doc, "ApiVersion", json_string(TUG_API_VERSION));
    json_object_set_new(doc, "MinAPIVersion", json_string(min));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "Components"), i, c)
    {
        json_t *d = json_object_get(c, "Details");
        if (json_is_object(d)) {
            json_object_set_new(d, "ApiVersion", json_string(TUG_API_VERSION));
            json_object_set_new(d, "MinAPIVersion", json_string(min));
            json_object_set_new(d, "Experimental", json_string("false"));
        }
    }
    return tug_http_send_json(o, 200, doc);
}

static int api_info(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    json_t *info = NULL;
    /* the insecure registries the server reaches registries with (its --insecure-registry,
     * daemon.json), as `tug info` lists the CLI's */
    if (tug_engine_info(s, x->registry ? x->registry->insecure_registries : NULL, &info, &err) < 0)
        return tug_api_send_err(o, err);
    return tug_http_send_json(o, 200, info);
}

/* ---- containers ---- */

static int add_ps_filter(void *data, const char *key, const char *value, tug_error **err)
{
    return tug_ps_filters_add(data, key, value, err);
}

static int api_containers(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    tug_ps_filters flt = {0};
    cleanup_free char *limit_s = tug_http_query_get(req, "limit");
    char *end = NULL;
    long limit = limit_s && *limit_s ? strtol(limit_s, &end, 10) : -1;
    if (end && *end) {
        tug_ps_filters_clear(&flt);
        return tug_http_send_error(o, 400, "invalid limit: not a number");
    }
    if (tug_api_each_filter(req, add_ps_filter, &flt, &err) < 0 ||
        tug_ps_filters_resolve(s, &flt, &err) < 0) {
        tug_ps_filters_clear(&flt);
        return tug_api_send_err(o, err);
    }
    tug_container **v = NULL;
    json_t **ports = NULL;
    size_t n = 0;
    int r = tug_ps_select(s, &flt, tug_api_query_bool(req, "all"), (int)limit, &v, &ports, &n, &err);
    tug_ps_filters_clear(&flt);
    if (r < 0)
        return tug_api_send_err(o, err);
    json_t *list = json_array();
    bool size = tug_api_query_bool(req, "size");
    for (size_t i = 0; i < n; i++) {
        json_t *row = tug_container_summary_json(s, v[i], size);
        if (row)
            json_array_append_new(list, row);
    }
    tug_ps_selection_free(v, ports, n);
    return tug_http_send_json(o, 200, list);
}

static int api_container_inspect(tug_api_ctx *x, tug_http_req *req, const char *arg,
                                 tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    json_t *doc = tug_container_inspect_doc(s, arg, tug_api_query_bool(req, "size"), &err);
    return doc ? tug_http_send_json(o, 200, doc) : tug_api_send_err(o, err);
}

/* ---- images ---- */

typedef struct image_filters {
    int dangling; /* -1: either, 0: tagged only, 1: untagged only */
    json_t *labels, *references; /* arrays of strings */
} image_filters;

static int add_image_filter(void *data, const char *key, const char *value, tug_error **err)
{
    image_filters *f = data;
    if (strcmp(key, "dangling") == 0) {
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            f->dangling = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            f->dangling = 0;
        else
            return tug_error_user(err, "Invalid filter 'dangling=%s'", value);
    } else if (strcmp(key, "label") == 0)
        json_array_append_new(f->labels, json_string(value));
    else if (strcmp(key, "reference") == 0)
        json_array_append_new(f->references, json_string(value));
    else
        return tug_error_user(err, "Invalid filter '%s'", key);
    return 0;
}

/* docker's reference filter: a glob over the familiar name, or the whole name:tag (or
 * name@digest) */
static bool reference_match(const char *ref, const char *pattern)
{
    cleanup_free char *repo = strdup(ref);
    char *at = repo ? strchr(repo, '@') : NULL, *colon = repo ? strrchr(repo, ':') : NULL;
    if (at)
        *at = '\0';
    else if (colon && !strchr(colon, '/'))
        *colon = '\0';
    return fnmatch(pattern, ref, 0) == 0 || (repo && fnmatch(pattern, repo, 0) == 0);
}

/* The names of list that match one of the patterns. */
static json_t *references_kept(json_t *list, json_t *patterns)
{
    json_t *kept = json_array();
    size_t i, k;
    json_t *v, *p;
    json_array_foreach(list, i, v)
    {
        bool hit = false;
        json_array_foreach(patterns, k, p) hit |=
            reference_match(json_string_value(v), json_string_value(p));
        if (hit)
            json_array_append(kept, v);
    }
    return kept;
}

/* Does the summary pass the filters? With reference filters, its RepoTags and RepoDigests
 * keep only the names that match one, as docker's daemon lists them. */
static bool image_filter_match(const image_filters *f, json_t *summary)
{
    json_t *tags = json_object_get(summary, "RepoTags");
    bool dangling = json_array_size(tags) == 0;
    if (f->dangling >= 0 && dangling != (f->dangling == 1))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(f->labels, i, v)
    {
        if (!tug_label_match(json_object_get(summary, "Labels"), json_string_value(v)))
            return false;
    }
    if (json_array_size(f->references) == 0)
        return true;
    json_t *kept = references_kept(tags, f->references);
    json_t *digests = references_kept(json_object_get(summary, "RepoDigests"), f->references);
    bool any = json_array_size(kept) > 0 || json_array_size(digests) > 0;
    json_object_set_new(summary, "RepoTags", kept);
    json_object_set_new(summary, "RepoDigests", digests);
    return any;
}

/* docker's ImageSummary, from the image's inspect document. containers: how many containers
 * use it (-1: not counted); shared: the bytes of its layers other images have too (-1: not
 * counted). */
static json_t *image_summary(tug_store *s, const tug_image *img, long long containers,
                             long long shared)
{
    json_auto_t *doc = tug_image_inspect_json(s, img);
    json_t *r = json_object();
    json_object_set_new(r, "Containers", json_integer(containers));
    json_object_set_new(r, "Created", json_integer(img->created));
    json_object_set_new(r, "Id", json_string(img->id));
    json_t *labels = json_object_get(json_object_get(img->config, "config"), "Labels");
    json_object_set_new(r, "Labels", json_is_object(labels) ? json_copy(labels) : json_object());
    json_object_set_new(r, "ParentId", json_string(""));
    json_t *tags = json_object_get(doc, "RepoTags"), *digests = json_object_get(doc, "RepoDigests");
    json_object_set_new(r, "RepoDigests", json_is_array(digests) ? json_copy(digests) : json_array());
    json_object_set_new(r, "RepoTags", json_is_array(tags) ? json_copy(tags) : json_array());
    json_object_set_new(r, "SharedSize", json_integer(shared));
    json_object_set_new(r, "Size", json_integer(img->size));
    json_object_set_new(r, "VirtualSize", json_integer(img->size));
    return r;
}

static int api_images(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    image_filters f = {.dangling = -1, .labels = json_array(), .references = json_array()};
    tug_image **imgs = NULL;
    size_t n = 0;
    if (tug_api_each_filter(req, add_image_filter, &f, &err) < 0 ||
        tug_store_list_images(s, &imgs, &n, &err) < 0) {
        json_decref(f.labels);
        json_decref(f.references);
        return tug_api_send_err(o, err);
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = image_summary(s, imgs[i], -1, -1);
        if (image_filter_match(&f, row))
            json_array_append_new(out, row);
        else
            json_decref(row);
    }
    tug_images_free(imgs, n);
    json_decref(f.labels);
    json_decref(f.references);
    return tug_http_send_json(o, 200, out);
}

static int api_image_inspect(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    if (tug_store_find_image(s, arg, &img, &err) < 0)
        return tug_api_send_err(o, err);
    return tug_http_send_json(o, 200, tug_image_inspect_json(s, img));
}

static int api_image_history(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    cleanup_free tug_history_row *hr = NULL;
    size_t n = 0;
    if (tug_store_find_image(s, arg, &img, &err) < 0 || tug_image_history(img, &hr, &n, &err) < 0)
        return tug_api_send_err(o, err);
    json_auto_t *doc = tug_image_inspect_json(s, img);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *tags = json_object_get(doc, "RepoTags");
        json_array_append_new(
            out, json_pack("{s:s, s:I, s:s, s:o, s:I, s:s}", "Id",
                           hr[i].top ? img->id : "<missing>", "Created", (json_int_t)hr[i].created,
                           "CreatedBy", hr[i].created_by ? hr[i].created_by : "", "Tags",
                           hr[i].top && json_is_array(tags) ? json_copy(tags) : json_null(),
                           "Size", (json_int_t)hr[i].size, "Comment",
                           hr[i].comment ? hr[i].comment : ""));
    }
    return tug_http_send_json(o, 200, out);
}

/* ---- networks and volumes ---- */

/* "key=value" strings of the network filters, checked (tug_network_filter_valid) */
static int add_network_filter(void *data, const char *key, const char *value, tug_error **err)
{
    cleanup_free char *f = NULL;
    if (asprintf(&f, "%s=%s", key, value) < 0)
        return tug_error_set(err, ENOMEM, "filter");
    if (!tug_network_filter_valid(f))
        return tug_error_user(err, "Invalid filter '%s'", key);
    json_array_append_new(data, json_string(f));
    return 0;
}

/* A network's document as dockerd's: a user network's Options are the ones it was created
 * with, none (tug takes no driver options); tug's inspect names the host's bridge there, and
 * docker-compose takes an option it did not ask for as a change to the network ("needs to be
 * recreated"). The default network's are dockerd's bridge options, kept. */
static json_t *network_doc(tug_store *s, const tug_network *n)
{
    json_t *doc = tug_network_inspect_json(s, n);
    if (doc && strcmp(n->name, TUG_DEFAULT_NETWORK) != 0)
        json_object_set_new(doc, "Options", json_object());
    return doc;
}

static int api_networks(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    tug_error *err = NULL;
    json_auto_t *given = json_array();
    if (tug_api_each_filter(req, add_network_filter, given, &err) < 0)
        return tug_api_send_err(o, err);
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_network **v = NULL;
    size_t n = 0;
    if (tug_network_list(s, &v, &n, &err) < 0)
        return tug_api_send_err(o, err);
    size_t nf = json_array_size(given);
    cleanup_free const char **filters = calloc(nf + 1, sizeof(*filters));
    for (size_t k = 0; filters && k < nf; k++)
        filters[k] = json_string_value(json_array_get(given, k));
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        if (filters && !tug_network_filter_match(filters, nf, v[i]->id, v[i]->name,
                                                 v[i]->driver, v[i]->labels,
                                                 strcmp(v[i]->name, TUG_DEFAULT_NETWORK) == 0))
            continue;
        json_t *doc = network_doc(s, v[i]);
        if (doc)
            json_array_append_new(out, doc);
    }
    tug_networks_free(v, n);
    return tug_http_send_json(o, 200, out);
}

static int api_network_inspect(tug_api_ctx *x, tug_http_req *req, const char *arg,
                               tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, arg, &n, &err) < 0)
        return tug_api_send_err(o, err);
    return tug_http_send_json(o, 200, network_doc(s, n));
}

/* "key=value" strings of the volume filters, checked */
static int add_volume_filter(void *data, const char *key, const char *value, tug_error **err)
{
    char *f = NULL;
    if (asprintf(&f, "%s=%s", key, value) < 0)
        return tug_error_set(err, ENOMEM, "filter");
    if (tug_volume_filter_check(f, err) < 0) {
        free(f);
        return -1;
    }
    json_array_append_new(data, json_string(f));
    free(f);
    return 0;
}

static int api_volumes(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    json_auto_t *given = json_array();
    tug_volume **v = NULL;
    size_t n = 0;
    if (tug_api_each_filter(req, add_volume_filter, given, &err) < 0 ||
        tug_volume_list(s, &v, &n, &err) < 0)
        return tug_api_send_err(o, err);
    size_t nf = json_array_size(given);
    const char **filters = calloc(nf + 1, sizeof(*filters));
    for (size_t k = 0; filters && k < nf; k++)
        filters[k] = json_string_value(json_array_get(given, k));
    json_t *vols = json_array();
    for (size_t i = 0; i < n; i++) {
        cleanup_strv char **users = NULL;
        size_t nu = 0;
        tug_error *e = NULL;
        if (nf > 0 && tug_volume_users(s, v[i]->name, &users, &nu, &e) < 0)
            tug_error_free(e);
        if (filters && !tug_volume_filters_match(v[i], nu, filters, nf))
            continue;
        json_t *doc = tug_volume_inspect_json(s, v[i]);
        if (doc)
            json_array_append_new(vols, doc);
    }
    free(filters);
    tug_volumes_free(v, n);
    return tug_http_send_json(o, 200, json_pack("{s:o, s:n}", "Volumes", vols, "Warnings"));
}

static int api_volume_inspect(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_volume tug_volume *v = NULL;
    if (tug_volume_find(s, arg, &v, &err) < 0)
        return tug_api_send_err(o, err);
    return tug_http_send_json(o, 200, tug_volume_inspect_json(s, v));
}

/* ---- system df ---- */

static json_t *df_images(tug_store *s, tug_container **ctrs, size_t n_ctrs, long long *ret_layers,
                         tug_error **err)
{
    tug_image_usage *u = NULL;
    size_t n = 0;
    if (tug_image_usage_list(s, ctrs, n_ctrs, &u, &n, ret_layers, err) < 0)
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, image_summary(s, u[i].img, u[i].containers, u[i].shared));
    tug_image_usage_free(u, n);
    return out;
}

static json_t *df_volumes(tug_store *s, tug_error **err)
{
    tug_volume **v = NULL;
    size_t n = 0;
    if (tug_volume_list(s, &v, &n, err) < 0)
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *doc = tug_volume_inspect_json(s, v[i]);
        if (doc == NULL)
            continue;
        cleanup_strv char **users = NULL;
        size_t links = 0;
        tug_error *e = NULL;
        if (tug_volume_users(s, v[i]->name, &users, &links, &e) < 0)
            tug_error_free(e);
        json_object_set_new(doc, "UsageData",
                            json_pack("{s:I, s:I}", "Size", (json_int_t)tug_volume_size(s, v[i]->name),
                                      "RefCount", (json_int_t)links));
        json_array_append_new(out, doc);
    }
    tug_volumes_free(v, n);
    return out;
}

static int api_system_df(tug_api_ctx *x, tug_http_req *req, const char *arg, tug_http_out *o)
{
    tug_store *s;
    if (tug_api_store(x, o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    tug_container **ctrs = NULL;
    size_t n = 0;
    if (tug_container_list(s, &ctrs, &n, &err) < 0)
        return tug_api_send_err(o, err);
    long long layers = 0;
    json_t *images = df_images(s, ctrs, n, &layers, &err);
    json_t *containers = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = tug_container_summary_json(s, ctrs[i], true);
        if (row)
            json_array_append_new(containers, row);
    }
    tug_containers_free(ctrs, n);
    json_t *volumes = images ? df_volumes(s, &err) : NULL;
    if (images == NULL || volumes == NULL) {
        json_decref(images);
        json_decref(containers);
        return tug_api_send_err(o, err);
    }
    /* the build cache's records are not listed one by one yet: its total is in tug system df */
    return tug_http_send_json(o, 200,
                              json_pack("{s:I, s:o, s:o, s:o, s:[]}", "LayersSize",
                                        (json_int_t)layers, "Images", images, "Containers",
                                        containers, "Volumes", volumes, "BuildCache"));
}

/* ---- routing ---- */

/* A route's path: literal, or with one '*' that stands for a non-empty name (which may hold
 * slashes, as image names do, except at the path's end: there "**" is such a name). */
typedef struct api_route {
    const char *method, *path;
    api_fn fn;
    int (*call)(const tug_api_call *a); /* instead of fn: an endpoint that takes a body */
    bool stream; /* the endpoint reads its body as it comes (x->body), of any size */
} api_route;

static const api_route routes[] = {
    {"GET", "/_ping", api_ping},
    {"HEAD", "/_ping", api_ping},
    {"GET", "/version", api_version},
    {"GET", "/info", api_info},
    {"GET", "/system/df", api_system_df},
    {"GET", "/containers/json", api_containers},
    {"GET", "/containers/*/json", api_container_inspect},
    {"POST", "/containers/create", NULL, tug_api_container_create},
    {"POST", "/containers/*/start", NULL, tug_api_container_start},
    {"POST", "/containers/*/stop", NULL, tug_api_container_stop},
    {"POST", "/containers/*/restart", NULL, tug_api_container_restart},
    {"POST", "/containers/*/kill", NULL, tug_api_container_kill},
    {"POST", "/containers/*/pause", NULL, tug_api_container_pause},
    {"POST", "/containers/*/unpause", NULL, tug_api_container_unpause},
    {"POST", "/containers/*/wait", NULL, tug_api_container_wait},
    {"POST", "/containers/*/rename", NULL, tug_api_container_rename},
    {"GET", "/containers/*/logs", NULL, tug_api_container_logs},
    {"POST", "/containers/*/attach", NULL, tug_api_container_attach},
    {"DELETE", "/containers/*", NULL, tug_api_container_delete},
    {"GET", "/images/json", api_images},
    {"GET", "/images/*/json", api_image_inspect},
    {"GET", "/images/*/history", api_image_history},
    {"GET", "/networks", api_networks},
    {"GET", "/networks/*", api_network_inspect},
    {"GET", "/volumes", api_volumes},
    {"GET", "/volumes/*", api_volume_inspect},
    /* exec and the interactive streams (exec.c) */
    {"POST", "/containers/*/exec", NULL, tug_api_exec_create},
    {"POST", "/containers/*/resize", NULL, tug_api_container_resize},
    {"POST", "/exec/*/start", NULL, tug_api_exec_start},
    {"POST", "/exec/*/resize", NULL, tug_api_exec_resize},
    {"GET", "/exec/*/json", NULL, tug_api_exec_inspect},
    /* build (build.c) */
    {"POST", "/build", NULL, tug_api_build, true},
    {"POST", "/build/prune", NULL, tug_api_build_prune},
    /* images: pull, tag, remove, push, save, load, prune (images.c) */
    {"POST", "/images/create", NULL, tug_api_image_create},
    {"POST", "/images/load", NULL, tug_api_image_load, true},
    {"POST", "/images/prune", NULL, tug_api_images_prune},
    {"GET", "/images/search", NULL, tug_api_images_search},
    {"GET", "/images/get", NULL, tug_api_images_get},
    {"GET", "/images/*/get", NULL, tug_api_image_get},
    {"POST", "/images/*/tag", NULL, tug_api_image_tag},
    {"POST", "/images/*/push", NULL, tug_api_image_push},
    {"DELETE", "/images/**", NULL, tug_api_image_delete},
    {"POST", "/commit", NULL, tug_api_commit},
    /* networks, volumes, events, auth and container prune (objects.c, events.c) */
    {"POST", "/networks/create", NULL, tug_api_network_create},
    {"POST", "/networks/prune", NULL, tug_api_network_prune},
    {"POST", "/networks/*/connect", NULL, tug_api_network_connect},
    {"POST", "/networks/*/disconnect", NULL, tug_api_network_disconnect},
    {"DELETE", "/networks/*", NULL, tug_api_network_delete},
    {"POST", "/volumes/create", NULL, tug_api_volume_create},
    {"POST", "/volumes/prune", NULL, tug_api_volume_prune},
    {"DELETE", "/volumes/*", NULL, tug_api_volume_delete},
    {"POST", "/containers/prune", NULL, tug_api_container_prune},
    {"GET", "/events", NULL, tug_api_events},
    {"POST", "/auth", NULL, tug_api_auth},
    /* containers' files, processes and resources (containers_io.c) */
    {"GET", "/containers/*/top", NULL, tug_api_container_top},
    {"GET", "/containers/*/stats", NULL, tug_api_container_stats},
    {"GET", "/containers/*/changes", NULL, tug_api_container_changes},
    {"GET", "/containers/*/export", NULL, tug_api_container_export},
    {"HEAD", "/containers/*/archive", NULL, tug_api_container_archive_head},
    {"GET", "/containers/*/archive", NULL, tug_api_container_archive_get},
    {"PUT", "/containers/*/archive", NULL, tug_api_container_archive_put, true},
    {"POST", "/containers/*/update", NULL, tug_api_container_update},
};

/* Does path match pattern? *ret_arg gets what '*' stood for (malloc'd). */
static bool route_match(const char *pattern, const char *path, char **ret_arg)
{
    const char *star = strchr(pattern, '*');
    if (star == NULL)
        return strcmp(pattern, path) == 0;
    /* a final "**": a name that may hold slashes (DELETE /images/{name}) */
    if (strcmp(star, "**") == 0) {
        size_t pre = (size_t)(star - pattern);
        if (strncmp(path, pattern, pre) != 0 || path[pre] == '\0')
            return false;
        *ret_arg = strdup(path + pre);
        return *ret_arg != NULL;
    }
    size_t pre = (size_t)(star - pattern), post = strlen(star + 1), len = strlen(path);
    if (len <= pre + post || strncmp(path, pattern, pre) != 0 ||
        strcmp(path + len - post, star + 1) != 0)
        return false;
    /* a name that ends the route (networks, volumes) holds no slash */
    if (post == 0 && memchr(path + pre, '/', len - pre))
        return false;
    *ret_arg = strndup(path + pre, len - pre - post);
    return *ret_arg != NULL;
}

/* Strip a "/v1.NN" prefix; 0, or -1 after answering 400 for a version out of range. */
static int strip_version(const char **path, tug_http_out *o)
{
    const char *p = *path;
    if (p[0] != '/' || p[1] != 'v' || p[2] < '0' || p[2] > '9')
        return 0;
    size_t n = strcspn(p + 1, "/");
    cleanup_free char *v = strndup(p + 2, n - 1);
    int major = 0, minor = 0, used = 0;
    if (v == NULL || sscanf(v, "%d.%d%n", &major, &minor, &used) != 2 || v[used] != '\0' ||
        strspn(v, "0123456789.") != strlen(v))
        return 0; /* not a version: the path as it is (and a 404) */
    char msg[200];
    if (major < 1 || (major == 1 && minor < TUG_API_MIN_MINOR)) {
        snprintf(msg, sizeof(msg),
                 "client version %s is too old. Minimum supported API version is 1.%d, please "
                 "upgrade your client to a newer version",
                 v, TUG_API_MIN_MINOR);
        tug_http_send_error(o, 400, msg);
        return -1;
    }
    if (major > 1 || minor > TUG_API_MAX_MINOR) {
        snprintf(msg, sizeof(msg),
                 "client version %s is too new. Maximum supported API version is 1.%d", v,
                 TUG_API_MAX_MINOR);
        tug_http_send_error(o, 400, msg);
        return -1;
    }
    *path = p + 1 + n;
    return 0;
}

/* The route of a method and an unversioned path, or NULL; *ret_arg gets what its '*' stood
 * for (malloc'd). */
static const api_route *find_route(const char *method, const char *path, char **ret_arg)
{
    for (size_t i = 0; i < TUG_ARRAY_SIZE(routes); i++) {
        char *arg = NULL;
        if (!route_match(routes[i].path, path, &arg))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            *ret_arg = arg;
            return &routes[i];
        }
        free(arg);
    }
    return NULL;
}

bool tug_api_streams_body(const tug_http_req *req)
{
    const char *path = req->path;
    size_t n = strcspn(path + 1, "/");
    /* a /vX.Y prefix (strip_version answers a bad one when the request is handled) */
    if (path[1] == 'v' && path[2] >= '0' && path[2] <= '9' && path[1 + n] == '/')
        path += 1 + n;
    char *arg = NULL;
    const api_route *r = find_route(req->method, path, &arg);
    free(arg);
    return r && r->stream;
}

int tug_api_handle(tug_api_ctx *x, tug_http_req *req, const char *body, size_t body_len,
                   tug_http_out *o)
{
    const char *path = req->path;
    if (strip_version(&path, o) < 0)
        return 0;
    char *arg = NULL;
    const api_route *rt = find_route(req->method, path, &arg);
    if (rt) {
        tug_api_call call = {.x = x, .req = req, .arg = arg, .body = body,
                             .body_len = body_len, .o = o};
        int r = rt->call ? rt->call(&call) : rt->fn(x, req, arg, o);
        free(arg);
        return r;
    }
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return tug_http_send_error(o, 404, "page not found");
    /* an endpoint of the Engine API tug does not serve yet: say so, not "not found" */
    char msg[512];
    snprintf(msg, sizeof(msg), "tug serve does not serve %s %.300s yet; use the tug CLI for it",
             req->method, path);
    return tug_http_send_error(o, 501, msg);
}
