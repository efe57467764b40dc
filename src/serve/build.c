/* POST /build and /build/prune: the builder `tug build` uses, its context a tar in the request
 * body, its progress as the JSON stream docker's classic builder (DOCKER_BUILDKIT=0) answers
 * with: "Step 1/3 : FROM busybox", " ---> 1a2b3c4d5e6f", the RUNs' output, the image's ID as
 * aux, "Successfully built" and "Successfully tagged", or errorDetail when it fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "build/build.h"
#include "build/cache.h"
#include "image/reference.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"

/* The answer as it goes: its head is sent with the first line, so that a build that fails
 * before it says anything is answered with an error status, as dockerd does. */
typedef struct classic {
    tug_http_out *o;
    bool begun, gone, quiet;
    int exit_code; /* of the RUN that failed */
} classic;

/* The document's text as Go's encoder writes it: <, > and & escaped (they are only ever
 * inside strings), a newline at the end. */
static char *go_json(json_t *doc)
{
    cleanup_free char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL)
        return NULL;
    tug_strbuf b = {0};
    for (const char *p = text; *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&') {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)*p);
            tug_strbuf_adds(&b, esc);
        } else
            tug_strbuf_addc(&b, *p);
    }
    tug_strbuf_addc(&b, '\n');
    return tug_strbuf_steal(&b);
}

/* One JSON document of the stream (consumed). */
static void emit(classic *cl, json_t *doc)
{
    cleanup_free char *text = go_json(doc);
    json_decref(doc);
    if (text == NULL || cl->gone)
        return;
    if (!cl->begun) {
        cl->begun = true;
        if (tug_http_chunked_begin(cl->o, 200, "application/json") < 0) {
            cl->gone = true;
            return;
        }
    }
    /* a client that hung up stops the answer, not the build: its layers and cache stay */
    if (tug_http_chunk(cl->o, text, strlen(text)) < 0)
        cl->gone = true;
}

/* text as a JSON string: bytes that are not UTF-8 become U+FFFD, as Go's encoder writes them. */
static json_t *utf8_string(const char *text, size_t len)
{
    json_t *s = json_stringn(text, len);
    if (s)
        return s;
    tug_strbuf b = {0};
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)text[i + k] & 0xc0) == 0x80;
        cleanup_free char *one = ok ? strndup(text + i, n) : NULL;
        json_t *probe = one ? json_string(one) : NULL;
        if (probe) {
            tug_strbuf_adds(&b, one);
            i += n;
        } else {
            tug_strbuf_adds(&b, "\xef\xbf\xbd");
            i++;
        }
        json_decref(probe);
    }
    cleanup_free char *clean = tug_strbuf_steal(&b);
    return json_string(clean ? clean : "");
}

static void emit_stream(classic *cl, const char *text)
{
    emit(cl, json_pack("{s:s}", "stream", text));
}

static void ev_step(void *ud, int n, int total, const char *instruction)
{
    classic *cl = ud;
    if (cl->quiet)
        return;
    cleanup_free char *line = NULL;
    if (asprintf(&line, "Step %d/%d : %s", n, total, instruction) < 0)
        return;
    emit(cl, json_pack("{s:o}", "stream", utf8_string(line, strlen(line))));
    emit_stream(cl, "\n");
}

/* "sha256:<hex>" -> its first 12 hex digits, as docker shows IDs */
static const char *short_id(const char *id, char out[13])
{
    const char *colon = strchr(id, ':');
    snprintf(out, 13, "%s", colon ? colon + 1 : id);
    return out;
}

static void ev_step_end(void *ud, const char *id, bool cached, int exit_code)
{
    classic *cl = ud;
    if (exit_code != 0)
        cl->exit_code = exit_code;
    if (cl->quiet || id == NULL)
        return;
    if (cached)
        emit_stream(cl, " ---> Using cache\n");
    char s[13], line[32];
    snprintf(line, sizeof(line), " ---> %s\n", short_id(id, s));
    emit_stream(cl, line);
}

static void ev_log(void *ud, int vertex, int stream, const char *buf, size_t len)
{
    classic *cl = ud;
    (void)vertex;
    (void)stream;
    if (!cl->quiet && len > 0)
        emit(cl, json_pack("{s:o}", "stream", utf8_string(buf, len)));
}

/* A JSON object parameter ({"K":"V"}) as "K=V" strings; a null value is left out (the
 * Dockerfile's default then holds). */
static int query_map(const tug_http_req *req, const char *key, char ***ret, tug_error **err)
{
    cleanup_free char *text = tug_http_query_get(req, key);
    json_error_t je;
    json_auto_t *doc = text && *text ? json_loads(text, 0, &je) : json_object();
    if (!json_is_object(doc))
        return tug_error_user(err, "invalid %s: %s", key, doc ? "not a JSON object" : je.text);
    char **out = calloc(json_object_size(doc) + 1, sizeof(char *));
    if (out == NULL)
        return tug_error_set(err, ENOMEM, "%s", key);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            cleanup_strvp(&out);
            return tug_error_user(err, "invalid %s: the value of %s is not a string", key, k);
        }
        if (asprintf(&out[n++], "%s=%s", k, json_string_value(v)) < 0) {
            out[--n] = NULL;
            cleanup_strvp(&out);
            return tug_error_set(err, ENOMEM, "%s", key);
        }
    }
    *ret = out;
    return 0;
}

/* The t= names as full references (what the store tags) and as docker prints them. */
static int parse_tags(char **given, char ***ret_full, char ***ret_shown, tug_error **err)
{
    size_t n = 0;
    while (given && given[n])
        n++;
    cleanup_strv char **full = calloc(n + 1, sizeof(char *));
    cleanup_strv char **shown = calloc(n + 1, sizeof(char *));
    if (full == NULL || shown == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (size_t i = 0; i < n; i++) {
        cleanup_reference tug_reference *ref = NULL;
        if (tug_reference_parse(given[i], &ref, err) < 0)
            return -1;
        if (ref->digest)
            return tug_error_user(err, "invalid reference format: %s: a tag cannot hold a digest",
                                  given[i]);
        cleanup_free char *name = tug_reference_name(ref);
        cleanup_free char *familiar = name ? tug_familiar_name(name) : NULL;
        full[i] = tug_reference_string(ref);
        if (familiar == NULL || full[i] == NULL ||
            asprintf(&shown[i], "%s:%s", familiar, ref->tag) < 0)
            return tug_error_set(err, ENOMEM, "build");
    }
    *ret_full = steal_pointer(&full);
    *ret_shown = steal_pointer(&shown);
    return 0;
}

/* The body (the context's tar) into an unnamed file in the store's tmp: the build reads it from
 * there. Returns the fd at offset 0, or -1 with err. */
static int spool_body(tug_http_body *in, const char *root, tug_error **err)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/tmp", root) < 0)
        return tug_error_set(err, ENOMEM, "build");
    cleanup_close int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "spool the build context in %s", dir);
    char buf[65536];
    for (;;) {
        long n = in ? tug_http_body_read(in, buf, sizeof(buf)) : 0;
        if (n < 0)
            return tug_error_user(err, "read the build context: %s", in->why);
        if (n == 0)
            break;
        if (tug_write_all(fd, buf, (size_t)n) < 0)
            return tug_error_set(err, errno, "spool the build context in %s", dir);
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "spool the build context");
    return steal_fd(&fd);
}

/* The query's options into o (strings owned by the lists given). 0, or -1 with err. */
static int read_options(const tug_http_req *req, tug_build_opts *o, char **strs, tug_error **err)
{
    cleanup_free char *version = tug_http_query_get(req, "version");
    if (version && strcmp(version, "2") == 0)
        return tug_error_user(err, "BuildKit builds (version=2) are not served: build with the "
                                   "classic builder (DOCKER_BUILDKIT=0), or with tug build");
    cleanup_free char *remote = tug_http_query_get(req, "remote");
    if (remote && *remote)
        return tug_error_user(err, "building from %s (remote) is not served: send the context "
                                   "as a tar in the body",
                              remote);
    strs[0] = tug_http_query_get(req, "dockerfile");
    strs[1] = tug_http_query_get(req, "target");
    strs[2] = tug_http_query_get(req, "platform");
    strs[3] = tug_http_query_get(req, "networkmode");
    o->dockerfile = strs[0] && *strs[0] ? strs[0] : NULL;
    o->target = strs[1] && *strs[1] ? strs[1] : NULL;
    o->platform = strs[2] && *strs[2] ? strs[2] : NULL;
    const char *net = strs[3] && *strs[3] ? strs[3] : "default";
    if (strcmp(net, "default") != 0 && strcmp(net, "none") != 0 && strcmp(net, "host") != 0)
        return tug_error_user(err, "network mode \"%s\" not supported by tug build: use "
                                   "default, none or host",
                              net);
    o->network = net;
    o->no_cache = tug_api_query_bool(req, "nocache");
    o->pull = tug_api_query_bool(req, "pull");
    /* rm and forcerm: tug's RUN steps leave no intermediate containers either way */
    return 0;
}

int tug_api_build(const tug_api_call *c)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    cleanup_strv char **given = tug_http_query_all(c->req, "t");
    cleanup_strv char **full = NULL, **shown = NULL, **args = NULL, **labels = NULL;
    char *strs[4] = {0};
    tug_build_opts o = {.context = "-"};
    int r = read_options(c->req, &o, strs, &err);
    if (r == 0)
        r = parse_tags(given, &full, &shown, &err);
    if (r == 0)
        r = query_map(c->req, "buildargs", &args, &err);
    if (r == 0)
        r = query_map(c->req, "labels", &labels, &err);
    cleanup_close int ctx_fd = r == 0 ? spool_body(c->x->body, c->x->root, &err) : -1;
    if (r < 0 || ctx_fd < 0) {
        for (size_t i = 0; i < TUG_ARRAY_SIZE(strs); i++)
            free(strs[i]);
        return tug_api_send_err(c->o, err);
    }
    classic cl = {.o = c->o, .quiet = tug_api_query_bool(c->req, "q")};
    /* the server's registry options (its --insecure-registry, daemon.json) */
    tug_registry_opts ropts = c->x->registry ? *c->x->registry : (tug_registry_opts){0};
    ropts.user_agent = "tug/" TUG_VERSION;
    o.context_fd = ctx_fd;
    o.tags = (const char *const *)full;
    o.build_args = (const char *const *)args;
    o.labels = (const char *const *)labels;
    o.registry = &ropts;
    o.events = (tug_build_events){.log = ev_log, .step = ev_step, .step_end = ev_step_end,
                                  .userdata = &cl};
    o.sequential = true; /* the steps in order, as the classic builder numbers them */
    /* the body is read whole before: the connection is readable again only when the client
     * hangs up, which stops the build as dockerd stops it */
    o.cancel_fd = c->o->fd;
    cleanup_free char *id = NULL;
    r = tug_build(s, &o, &id, &err);
    for (size_t i = 0; i < TUG_ARRAY_SIZE(strs); i++)
        free(strs[i]);
    if (r < 0 && !cl.begun)
        return tug_api_send_err(c->o, err);
    if (r < 0) {
        const char *msg = err && err->msg ? err->msg : "build failed";
        json_t *detail = cl.exit_code != 0
                             ? json_pack("{s:i, s:s}", "code", cl.exit_code, "message", msg)
                             : json_pack("{s:s}", "message", msg);
        emit(&cl, json_pack("{s:o, s:s}", "errorDetail", detail, "error", msg));
        tug_error_free(err);
    } else if (cl.quiet) {
        cleanup_free char *line = NULL;
        if (asprintf(&line, "%s\n", id) >= 0)
            emit_stream(&cl, line);
    } else {
        char sid[13];
        cleanup_free char *built = NULL;
        emit(&cl, json_pack("{s:{s:s}}", "aux", "ID", id));
        if (asprintf(&built, "Successfully built %s\n", short_id(id, sid)) >= 0)
            emit_stream(&cl, built);
        for (char **t = shown; t && *t; t++) {
            cleanup_free char *line = NULL;
            if (asprintf(&line, "Successfully tagged %s\n", *t) >= 0)
                emit_stream(&cl, line);
        }
    }
    if (cl.gone)
        return -1;
    return tug_http_chunked_end(c->o);
}

int tug_api_build_prune(const tug_api_call *c)
{
    tug_store *s;
    if (tug_api_store(c->x, c->o, &s) < 0)
        return 0;
    tug_api_prune q;
    if (tug_api_prune_filters(c, &q, TUG_PRUNE_UNTIL_ONLY) < 0)
        return 0;
    json_decref(q.keep);
    tug_error *err = NULL;
    long long rows = 0, bytes = 0;
    if (tug_build_cache_prune(s, q.f.until, &rows, &bytes, &err) < 0)
        return tug_api_send_err(c->o, err);
    /* the cache's rows have no IDs of docker's kind to list: dockerd's null when none go */
    return tug_http_send_json(c->o, 200, json_pack("{s:n, s:I}", "CachesDeleted",
                                                   "SpaceReclaimed", (json_int_t)bytes));
}
