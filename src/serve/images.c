/* The image endpoints of the Engine API: pull (POST /images/create), tag, remove, push, save
 * (get), load and prune, on the library calls the CLI's commands use. Pulls and pushes answer
 * with docker's JSON progress stream: one object per line, chunked. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "container/commit.h"
#include "container/imagerm.h"
#include "image/archive.h"
#include "image/image.h"
#include "image/push.h"
#include "image/reference.h"
#include "registry/creds.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strutil.h"

/* ---- the JSON progress stream ---- */

/* The answer's head goes with the first message, so that a failure before it is an HTTP error
 * status (as dockerd answers a pull of a missing image with a 404), and one after it an
 * errorDetail message inside the 200 stream. */
typedef struct jstream {
    tug_http_out *o;
    bool begun, gone;
} jstream;

static void js_send(jstream *js, json_t *doc)
{
    cleanup_free char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL || js->gone)
        return;
    if (!js->begun && tug_http_chunked_begin(js->o, 200, "application/json") < 0)
        js->gone = true;
    js->begun = true;
    size_t n = strlen(text);
    text[n] = '\n'; /* over the NUL: the chunk is the line */
    if (!js->gone && tug_http_chunk(js->o, text, n + 1) < 0)
        js->gone = true;
}

static void js_status(jstream *js, const char *status)
{
    js_send(js, json_pack("{s:s}", "status", status));
}

/* The error of a stream that has begun: {"errorDetail":{"message":m},"error":m}. */
static void js_error(jstream *js, const char *msg)
{
    js_send(js, json_pack("{s:{s:s}, s:s}", "errorDetail", "message", msg, "error", msg));
}

/* End the stream: 0, or -1 when the peer has gone. */
static int js_end(jstream *js)
{
    if (!js->begun)
        return tug_http_chunked_begin(js->o, 200, "application/json") < 0 ||
                       tug_http_chunked_end(js->o) < 0
                   ? -1
                   : 0;
    return js->gone || tug_http_chunked_end(js->o) < 0 ? -1 : 0;
}

/* docker's progress bar in a message: "[=====>      ]  1.2MB/2.4MB" */
static char *progress_text(long long done, long long total)
{
    int filled = total > 0 ? (int)((double)done / (double)total * 50) : 0;
    if (filled > 50)
        filled = 50;
    char bar[64];
    memset(bar, '=', (size_t)filled);
    bar[filled] = '>';
    memset(bar + filled + 1, ' ', (size_t)(50 - filled));
    bar[51] = '\0';
    cleanup_free char *d = tug_human_size((double)done, 4);
    cleanup_free char *t = tug_human_size((double)total, 4);
    char *out = NULL;
    if (asprintf(&out, "[%s] %8s/%s", bar, d ? d : "", t ? t : "") < 0)
        return NULL;
    return out;
}

/* A layer's message: {"status", "progressDetail", ["progress"], "id": its short ID}. */
static void js_layer(jstream *js, const char *digest, const char *status, long long done,
                     long long total)
{
    char id[13];
    snprintf(id, sizeof(id), "%.12s", tug_digest_hex(digest));
    bool counted = (strcmp(status, "Downloading") == 0 || strcmp(status, "Extracting") == 0 ||
                    strcmp(status, "Pushing") == 0) &&
                   total > 0;
    json_t *m = json_pack("{s:s}", "status", status);
    if (counted) {
        json_object_set_new(m, "progressDetail", json_pack("{s:I, s:I}", "current",
                                                           (json_int_t)done, "total",
                                                           (json_int_t)total));
        char *bar = progress_text(done, total);
        if (bar)
            json_object_set_new(m, "progress", json_string(bar));
        free(bar);
    } else
        json_object_set_new(m, "progressDetail", json_object());
    json_object_set_new(m, "id", json_string(id));
    js_send(js, m);
}

/* The HTTP status of a pull's or push's failure before its stream began, as dockerd's: 404
 * for what the registry does not have, 400 for a bad reference, else 500. */
static int registry_status(const tug_error *err)
{
    if (err->status == 404 || err->reason == TUG_ERR_R_NOT_FOUND)
        return 404;
    if (err->msg && strstr(err->msg, "invalid reference format"))
        return 400;
    return 500;
}

/* ---- X-Registry-Auth ---- */

/* X-Registry-Auth's credentials (tug_creds_registry_auth); -1 after answering 400 for a bad
 * header. */
static int registry_auth(const tug_api_call *c, char **ret_basic)
{
    tug_error *err = NULL;
    if (tug_creds_registry_auth(tug_http_header_get(c->req, "X-Registry-Auth"), ret_basic,
                                &err) < 0) {
        tug_api_send_err(c->o, err);
        return -1;
    }
    return 0;
}

/* The registry options of a request: the server's, with X-Registry-Auth's credentials. */
static void request_registry(const tug_api_call *c, const char *basic, tug_registry_opts *ret)
{
    if (c->x->registry)
        *ret = *c->x->registry;
    else
        *ret = (tug_registry_opts){.user_agent = "tug/" TUG_VERSION};
    ret->basic = basic;
}

/* ---- POST /images/create: pull ---- */

typedef struct pull_state {
    jstream js;
    const tug_reference *ref;
    bool header_sent;
} pull_state;

static void pull_header(pull_state *p)
{
    if (p->header_sent)
        return;
    p->header_sent = true;
    cleanup_free char *status = NULL;
    if (asprintf(&status, "Pulling from %s", p->ref->path) >= 0)
        js_send(&p->js, json_pack("{s:s, s:s}", "status", status, "id",
                                  p->ref->tag ? p->ref->tag : p->ref->digest));
}

static void pull_on_layers(void *ud, const char *const *digests, size_t n)
{
    pull_header(ud);
}

static void pull_on_progress(void *ud, const char *digest, const char *status, long long done,
                             long long total)
{
    pull_state *p = ud;
    pull_header(p);
    js_layer(&p->js, digest, status, done, total);
}

/* A pull's failure: an error answer before the stream began, else its last message. */
static int pull_failed(pull_state *p, tug_error *err)
{
    int r;
    if (!p->js.begun)
        r = tug_http_send_error(p->js.o, registry_status(err), err->msg);
    else {
        js_error(&p->js, err->msg);
        r = js_end(&p->js);
    }
    tug_error_free(err);
    return r;
}

/* Pull one reference into the stream, up to its Digest line. */
static int pull_one(tug_store *s, const tug_reference *ref, tug_pull_opts *popts, pull_state *p,
                    bool *ret_downloaded, tug_error **err)
{
    p->ref = ref;
    p->header_sent = false;
    tug_pull_result res = {0};
    int r = tug_pull(s, ref, popts, pull_on_layers, &res, err);
    if (r == 0) {
        pull_header(p);
        cleanup_free char *line = NULL;
        if (asprintf(&line, "Digest: %s", res.digest) >= 0)
            js_status(&p->js, line);
        *ret_downloaded |= !res.up_to_date;
    }
    tug_pull_result_clear(&res);
    return r;
}

int tug_api_image_create(const tug_api_call *c)
{
    cleanup_free char *src = tug_http_query_get(c->req, "fromSrc");
    if (src)
        return tug_http_send_error(c->o, 501, "importing an image (fromSrc) is not served by tug "
                                              "serve yet; use tug import");
    cleanup_free char *from = tug_http_query_get(c->req, "fromImage");
    cleanup_free char *tag = tug_http_query_get(c->req, "tag");
    cleanup_free char *platform = tug_http_query_get(c->req, "platform");
    if (from == NULL || *from == '\0')
        return tug_http_send_error(c->o, 400, "give the image to pull as fromImage (or a "
                                              "tarball to import as fromSrc)");
    cleanup_free char *name = NULL;
    if (tag && *tag && asprintf(&name, "%s%s%s", from, strchr(tag, ':') ? "@" : ":", tag) < 0)
        return tug_http_send_error(c->o, 500, "out of memory");
    tug_error *err = NULL;
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(name ? name : from, &ref, &err) < 0)
        return tug_api_send_err(c->o, err);
    cleanup_free char *basic = NULL;
    tug_store *s;
    if (registry_auth(c, &basic) < 0 || tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_registry_opts ropts;
    request_registry(c, basic, &ropts);
    pull_state p = {.js = {.o = c->o}, .ref = ref};
    tug_pull_opts popts = {
        .platform = platform && *platform ? platform : NULL,
        .registry = &ropts,
        .progress = pull_on_progress,
        .userdata = &p,
    };
    cleanup_free char *full = tug_reference_name(ref);
    cleanup_free char *fam = full ? tug_familiar_name(full) : NULL;
    cleanup_free char *shown = NULL;
    bool downloaded = false;
    if (ref->tag_defaulted && (tag == NULL || *tag == '\0')) {
        /* no tag: every tag of the repository, as docker pull -a asks */
        tug_registry *reg = NULL;
        cleanup_strv char **tags = NULL;
        if (tug_registry_open(ref->domain, ref->path, &ropts, &reg, &err) < 0 ||
            tug_registry_list_tags(reg, &tags, &err) < 0) {
            tug_registry_free(reg);
            return pull_failed(&p, err);
        }
        tug_registry_free(reg);
        for (size_t i = 0; tags[i]; i++) {
            cleanup_free char *one = NULL;
            cleanup_reference tug_reference *tref = NULL;
            if (asprintf(&one, "%s:%s", full, tags[i]) < 0) {
                tug_error_set(&err, ENOMEM, "pull");
                return pull_failed(&p, err);
            }
            if (tug_reference_parse(one, &tref, &err) < 0 ||
                pull_one(s, tref, &popts, &p, &downloaded, &err) < 0)
                return pull_failed(&p, err);
        }
        shown = fam ? strdup(fam) : NULL;
    } else {
        if (pull_one(s, ref, &popts, &p, &downloaded, &err) < 0)
            return pull_failed(&p, err);
        if (asprintf(&shown, "%s%s%s", fam ? fam : "", ref->tag ? ":" : "@",
                     ref->tag ? ref->tag : ref->digest) < 0)
            shown = NULL;
    }
    cleanup_free char *line = NULL;
    if (asprintf(&line, "Status: %s for %s",
                 downloaded ? "Downloaded newer image" : "Image is up to date",
                 shown ? shown : "") >= 0)
        js_status(&p.js, line);
    return js_end(&p.js);
}

/* ---- POST /images/{name}/tag ---- */

/* repo and tag of the query as a full reference ("name:tag"), in *ret; a user error for a
 * bad one or one with a digest. */
static int query_target(const tug_api_call *c, const char *repo, char **ret, tug_error **err)
{
    cleanup_free char *tag = tug_http_query_get(c->req, "tag");
    cleanup_free char *name = NULL;
    if (asprintf(&name, "%s%s%s", repo, tag && *tag ? ":" : "", tag && *tag ? tag : "") < 0)
        return tug_error_set(err, ENOMEM, "tag");
    cleanup_reference tug_reference *target = NULL;
    if (tug_reference_parse(name, &target, err) < 0)
        return -1;
    if (target->digest)
        return tug_error_user(err, "refusing to create a tag with a digest reference");
    *ret = tug_reference_string(target);
    return *ret ? 0 : tug_error_set(err, ENOMEM, "tag");
}

int tug_api_image_tag(const tug_api_call *c)
{
    cleanup_free char *repo = tug_http_query_get(c->req, "repo");
    if (repo == NULL || *repo == '\0')
        return tug_http_send_error(c->o, 400, "give the new name as repo (and tag)");
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_image tug_image *img = NULL;
    cleanup_free char *full = NULL;
    if (tug_store_find_image(s, c->arg, &img, &err) < 0 ||
        query_target(c, repo, &full, &err) < 0 || tug_store_set_tag(s, full, img->id, &err) < 0)
        return tug_api_send_err(c->o, err);
    return tug_http_send(c->o, 201, NULL, "", 0);
}

/* ---- POST /commit: docker commit ---- */

int tug_api_commit(const tug_api_call *c)
{
    cleanup_free char *ctr = tug_http_query_get(c->req, "container");
    cleanup_free char *repo = tug_http_query_get(c->req, "repo");
    cleanup_free char *comment = tug_http_query_get(c->req, "comment");
    cleanup_free char *author = tug_http_query_get(c->req, "author");
    cleanup_free char *pause = tug_http_query_get(c->req, "pause");
    cleanup_strv char **changes = tug_http_query_all(c->req, "changes");
    if (ctr == NULL || *ctr == '\0')
        return tug_http_send_error(c->o, 400, "give the container to commit as container");
    if (changes == NULL)
        return tug_http_send_error(c->o, 500, "out of memory");
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_free char *full = NULL;
    if (repo && *repo && query_target(c, repo, &full, &err) < 0)
        return tug_api_send_err(c->o, err);
    /* a change may hold several lines (docker's client sends each --change as one) */
    tug_commit_opts o = {
        .author = author && *author ? author : NULL,
        .message = comment && *comment ? comment : NULL,
        .changes = (const char **)changes,
        .pause = pause == NULL || *pause == '\0' || tug_api_query_bool(c->req, "pause"),
        .tag = full,
    };
    cleanup_free char *id = NULL;
    if (tug_container_commit(s, ctr, &o, &id, &err) < 0)
        return tug_api_send_err(c->o, err);
    return tug_http_send_json(c->o, 201, json_pack("{s:s}", "Id", id));
}

/* ---- DELETE /images/{name} ---- */

static void removed_json(void *ud, bool deleted, const char *what)
{
    json_array_append_new(ud, json_pack("{s:s}", deleted ? "Deleted" : "Untagged", what));
}

int tug_api_image_delete(const tug_api_call *c)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    /* noprune: tug's images have no parent images to keep */
    tug_error *err = NULL;
    json_t *list = json_array();
    if (tug_image_remove(s, c->arg, tug_api_query_bool(c->req, "force"), removed_json, list,
                         &err) < 0) {
        json_decref(list);
        return tug_api_send_err(c->o, err);
    }
    return tug_http_send_json(c->o, 200, list);
}

/* ---- POST /images/{name}/push ---- */

typedef struct push_state {
    jstream js;
} push_state;

static void push_on_layers(void *ud, const char *const *ids, size_t n)
{
    push_state *p = ud;
    for (size_t i = 0; i < n; i++)
        js_layer(&p->js, ids[i], "Preparing", 0, 0);
}

static void push_on_progress(void *ud, const char *id, const char *status, long long done,
                             long long total)
{
    push_state *p = ud;
    js_layer(&p->js, id, status, done, total);
}

int tug_api_image_push(const tug_api_call *c)
{
    /* docker's clients always send the header, empty ({}) without credentials */
    if (tug_http_header_get(c->req, "X-Registry-Auth") == NULL)
        return tug_http_send_error(c->o, 400, "Bad parameters and missing X-Registry-Auth: "
                                              "send the registry credentials (or {}) in it");
    cleanup_free char *tag = tug_http_query_get(c->req, "tag");
    tug_error *err = NULL;
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(c->arg, &ref, &err) < 0)
        return tug_api_send_err(c->o, err);
    if (ref->digest)
        return tug_http_send_error(c->o, 400, "cannot push a digest reference; push a tag");
    cleanup_free char *basic = NULL;
    tug_store *s;
    if (registry_auth(c, &basic) < 0 || tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    cleanup_free char *name = tug_reference_name(ref);
    push_state p = {.js = {.o = c->o}};
    cleanup_free char *line = NULL;
    if (name == NULL || asprintf(&line, "The push refers to repository [%s]", name) < 0)
        return tug_http_send_error(c->o, 500, "out of memory");
    js_status(&p.js, line);
    /* the tag given (in the name or as tag), else every tag of the repository */
    cleanup_strv char **tags = NULL;
    bool all = ref->tag_defaulted && (tag == NULL || *tag == '\0');
    cleanup_image tug_image *img = NULL;
    int found;
    if (!all) {
        tags = calloc(2, sizeof(*tags));
        if (tags == NULL || asprintf(&tags[0], "%s:%s", name, tag && *tag ? tag : ref->tag) < 0)
            return js_end(&p.js);
        found = tug_store_find_image(s, tags[0], &img, &err);
    } else
        found = tug_push_repo_tags(s, name, &tags, &err);
    if (found < 0) {
        tug_error_free(err);
        free(steal_pointer(&line));
        if (asprintf(&line, "An image does not exist locally with the tag: %s", name) >= 0)
            js_error(&p.js, line);
        return js_end(&p.js);
    }
    tug_registry_opts ropts;
    request_registry(c, basic, &ropts);
    tug_push_opts popts = {
        .registry = &ropts,
        .on_layers = push_on_layers,
        .progress = push_on_progress,
        .userdata = &p,
    };
    for (size_t i = 0; tags[i]; i++) {
        cleanup_reference tug_reference *one = NULL;
        tug_push_result res;
        if (tug_reference_parse(tags[i], &one, &err) < 0 ||
            tug_push(s, one, &popts, &res, &err) < 0) {
            js_error(&p.js, err->msg);
            tug_error_free(err);
            return js_end(&p.js);
        }
        free(steal_pointer(&line));
        if (asprintf(&line, "%s: digest: %s size: %lld", one->tag, res.digest, res.size) >= 0)
            js_status(&p.js, line);
        js_send(&p.js, json_pack("{s:{}, s:{s:s, s:s, s:I}}", "progressDetail", "aux", "Tag",
                                 one->tag, "Digest", res.digest, "Size", (json_int_t)res.size));
    }
    return js_end(&p.js);
}

/* ---- GET /images/{name}/get, GET /images/get?names= : save ---- */

static int save_names(const tug_api_call *c, char **names, size_t n)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    for (size_t i = 0; i < n; i++) { /* every name is checked before the answer starts */
        cleanup_image tug_image *img = NULL;
        if (tug_store_find_image(s, names[i], &img, &err) < 0)
            return tug_api_send_err(c->o, err);
    }
    /* the tar goes as tug_save writes it, the connection's end closing it */
    if (tug_http_hijack(c->o, false, "application/x-tar") < 0)
        return -1;
    tug_save_opts so = {.out_fd = c->o->fd};
    if (tug_save(s, (const char *const *)names, n, &so, &err) < 0)
        tug_error_free(err); /* the answer is cut short: the client sees a broken tar */
    return -1;
}

int tug_api_image_get(const tug_api_call *c)
{
    char *names[] = {(char *)c->arg};
    return save_names(c, names, 1);
}

int tug_api_images_get(const tug_api_call *c)
{
    /* names= repeated, as docker's client sends them */
    cleanup_strv char **names = tug_http_query_all(c->req, "names");
    size_t n = 0;
    while (names && names[n])
        n++;
    if (names == NULL)
        return tug_http_send_error(c->o, 500, "out of memory");
    if (n == 0)
        return tug_http_send_error(c->o, 400, "give the images to save as names=");
    return save_names(c, names, n);
}

/* ---- POST /images/load ---- */

typedef struct pump {
    const tug_api_call *c;
    int fd; /* the pipe the loader reads */
    const char *why; /* the body was malformed or cut short */
} pump;

/* Feed the request body into the loader's pipe as it comes. */
static void *pump_body(void *arg)
{
    pump *p = arg;
    const tug_api_call *c = p->c;
    long n = 0;
    if (c->x->body == NULL) { /* a small body, read whole already */
        size_t off = 0;
        while (off < c->body_len) {
            ssize_t w = write(p->fd, c->body + off, c->body_len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    } else {
        char buf[65536];
        while ((n = tug_http_body_read(c->x->body, buf, sizeof(buf))) > 0) {
            size_t off = 0;
            while (off < (size_t)n) {
                ssize_t w = write(p->fd, buf + off, (size_t)n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    goto out; /* the loader stopped reading */
                off += (size_t)w;
            }
        }
    }
out:
    if (c->x->body && n < 0)
        p->why = c->x->body->why;
    close(p->fd);
    p->fd = -1;
    return NULL;
}

int tug_api_image_load(const tug_api_call *c)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    /* Expect: 100-continue is answered before (server.c) */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return tug_http_send_error(c->o, 500, "pipe for the archive");
    pump p = {.c = c, .fd = fds[1]};
    pthread_t t;
    if (pthread_create(&t, NULL, pump_body, &p) != 0) {
        close(fds[0]);
        close(fds[1]);
        return tug_http_send_error(c->o, 500, "thread for the archive");
    }
    tug_error *err = NULL;
    tug_load_result res;
    int r = tug_load(s, fds[0], &res, &err);
    close(fds[0]); /* a pump still writing stops */
    pthread_join(t, NULL);
    jstream js = {.o = c->o};
    if (r < 0) {
        js_error(&js, p.why ? p.why : err->msg);
        tug_error_free(err);
        return js_end(&js);
    }
    for (size_t i = 0; i < res.n; i++) {
        const tug_loaded_image *im = &res.images[i];
        cleanup_free char *line = NULL;
        if (im->n_tags == 0 && asprintf(&line, "Loaded image ID: %s\n", im->id) >= 0)
            js_send(&js, json_pack("{s:s}", "stream", line));
        for (size_t t = 0; t < im->n_tags; t++) {
            cleanup_free char *fam = tug_familiar_ref(im->tags[t]);
            free(steal_pointer(&line));
            if (im->replaced[t] &&
                asprintf(&line, "The image %s already exists, renaming the old one with ID %s to "
                                "empty string\n",
                         fam ? fam : im->tags[t], im->replaced[t]) >= 0)
                js_send(&js, json_pack("{s:s}", "stream", line));
            free(steal_pointer(&line));
            if (asprintf(&line, "Loaded image: %s\n", fam ? fam : im->tags[t]) >= 0)
                js_send(&js, json_pack("{s:s}", "stream", line));
        }
    }
    tug_load_result_clear(&res);
    return js_end(&js);
}

/* ---- POST /images/prune ---- */

static bool prune_match(void *ud, const tug_image *img)
{
    const tug_prune_filter *f = ud;
    return tug_prune_match(f, json_object_get(json_object_get(img->config, "config"), "Labels"),
                           img->created);
}

int tug_api_images_prune(const tug_api_call *c)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_api_prune q;
    if (tug_api_prune_filters(c, &q, TUG_PRUNE_DANGLING) < 0)
        return 0;
    json_auto_t *keep = q.keep;
    tug_error *err = NULL;
    /* dangling=true (the default): untagged images only; false: every unused one */
    json_t *gone = json_array();
    long long reclaimed = 0;
    if (tug_image_prune(s, q.dangling == 0, prune_match, &q.f, removed_json, gone, &reclaimed,
                        &err) < 0) {
        json_decref(gone);
        return tug_api_send_err(c->o, err);
    }
    if (json_array_size(gone) == 0) {
        json_decref(gone);
        gone = json_null();
    }
    return tug_http_send_json(c->o, 200, json_pack("{s:o, s:I}", "ImagesDeleted", gone,
                                                   "SpaceReclaimed", (json_int_t)reclaimed));
}

/* ---- GET /images/search ---- */

int tug_api_images_search(const tug_api_call *c)
{
    return tug_http_send_error(c->o, 501, "searching a registry is not served by tug serve: tug "
                                          "has no search; look the image up on its registry");
}
