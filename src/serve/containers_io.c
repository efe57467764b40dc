/* The Engine API's endpoints for what is in and about a container: top, stats, changes,
 * export, archive (docker cp's stat, GET and PUT) and update, each on the library call the
 * matching tug command makes. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "container/commit.h"
#include "container/cp.h"
#include "container/stats.h"
#include "container/top.h"
#include "runtime/container.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* A "200 OK" whose body is the stream that follows until the connection closes (no length,
 * no chunks: the tar writers write to the socket itself), with more headers (or NULL). The
 * handler then returns -1, so the connection ends. */
static int stream_head(const tug_api_call *a, const char *more, const char *content_type)
{
    cleanup_free char *extra = NULL;
    if (asprintf(&extra, "%s%s", a->o->extra_headers ? a->o->extra_headers : "", more ? more : "") <
        0)
        return -1;
    tug_http_out with = *a->o;
    with.extra_headers = extra;
    int r = tug_http_hijack(&with, false, content_type);
    a->o->close = true;
    return r;
}

/* ---- top ---- */

/* ps's line split into n fields at blanks, the last field taking the rest (its command). */
static json_t *split_fields(const char *line, size_t n)
{
    json_t *row = json_array();
    const char *p = line;
    for (size_t i = 0; i < n && *p; i++) {
        p += strspn(p, " \t");
        size_t len = i + 1 == n ? strlen(p) : strcspn(p, " \t");
        json_array_append_new(row, json_stringn(p, len));
        p += len;
    }
    return row;
}

int tug_api_container_top(const tug_api_call *a)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (tug_api_container_find(a, &s, &c) < 0)
        return 0;
    cleanup_free char *ps_args = tug_http_query_get(a->req, "ps_args");
    /* docker splits ps_args at spaces */
    char *args[64];
    size_t n = 0;
    for (char *save = NULL, *t = ps_args ? strtok_r(ps_args, " ", &save) : NULL;
         t && n < TUG_ARRAY_SIZE(args); t = strtok_r(NULL, " ", &save))
        args[n++] = t;
    tug_error *err = NULL;
    cleanup_strv char **lines = NULL;
    size_t nl = 0;
    if (tug_container_top(c, args, n, &lines, &nl, &err) < 0)
        return tug_api_send_err(a->o, err);
    json_t *titles = json_array(), *procs = json_array();
    cleanup_free char *head = strdup(lines[0]);
    for (char *save = NULL, *t = head ? strtok_r(head, " \t", &save) : NULL; t;
         t = strtok_r(NULL, " \t", &save))
        json_array_append_new(titles, json_string(t));
    for (size_t i = 1; i < nl; i++)
        json_array_append_new(procs, split_fields(lines[i], json_array_size(titles)));
    return tug_http_send_json(a->o, 200,
                              json_pack("{s:o, s:o}", "Processes", procs, "Titles", titles));
}

/* ---- stats ---- */

/* Wait ms, or less when the client hangs up: false then. */
static bool nap_unless_gone(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    int r = poll(&p, 1, ms);
    return r == 0 || (r < 0 && errno == EINTR);
}

/* A new sample of c, looked up again (its init may have changed with a restart); NULL when
 * it is gone. */
static json_t *sample(tug_store *s, tug_container *c, const json_t *prev)
{
    tug_error *err = NULL;
    if (tug_container_refresh(s, c, &err) < 0) {
        tug_error_free(err);
        return NULL;
    }
    return tug_stats_doc(c, prev);
}

int tug_api_container_stats(const tug_api_call *a)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (tug_api_container_find(a, &s, &c) < 0)
        return 0;
    cleanup_free char *stream_q = tug_http_query_get(a->req, "stream");
    bool stream = stream_q == NULL || tug_api_query_bool(a->req, "stream");
    bool one_shot = tug_api_query_bool(a->req, "one-shot");
    if (!stream) {
        /* as dockerd: the sample a second after the one before it, so CPU % has a window;
         * one-shot: at once, without the one before */
        json_auto_t *prev = one_shot ? NULL : tug_stats_doc(c, NULL);
        if (!one_shot && !nap_unless_gone(a->o->fd, 1000))
            return -1;
        json_t *doc = sample(s, c, prev);
        return doc ? tug_http_send_json(a->o, 200, doc)
                   : tug_http_send_error(a->o, 404, "No such container");
    }
    if (tug_http_chunked_begin(a->o, 200, "application/json") < 0)
        return -1;
    json_auto_t *prev = NULL;
    for (;;) {
        json_t *doc = sample(s, c, prev);
        if (doc == NULL)
            break;
        cleanup_free char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(prev);
        prev = doc;
        if (text == NULL)
            break;
        size_t len = strlen(text);
        text[len] = '\n'; /* json_dumps's NUL: a line per document, as Go's encoder */
        if (tug_http_chunk(a->o, text, len + 1) < 0 || !nap_unless_gone(a->o->fd, 1000))
            return -1;
    }
    return tug_http_chunked_end(a->o);
}

/* ---- changes and export ---- */

int tug_api_container_changes(const tug_api_call *a)
{
    tug_store *s;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    tug_error *err = NULL;
    tug_change *v = NULL;
    size_t n = 0;
    if (tug_container_changes(s, a->arg, &v, &n, &err) < 0)
        return tug_api_send_err(a->o, err);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) /* docker's kinds: 0 modified, 1 added, 2 deleted */
        json_array_append_new(out, json_pack("{s:s, s:i}", "Path", v[i].path, "Kind",
                                             v[i].kind == 'A'   ? 1
                                             : v[i].kind == 'D' ? 2
                                                                : 0));
    tug_changes_free(v, n);
    if (n == 0) { /* dockerd's answer for no changes */
        json_decref(out);
        out = json_null();
    }
    return tug_http_send_json(a->o, 200, out);
}

int tug_api_container_export(const tug_api_call *a)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (tug_api_container_find(a, &s, &c) < 0)
        return 0;
    if (stream_head(a, NULL, "application/x-tar") < 0)
        return -1;
    /* once the head is out an error can only cut the tar short */
    tug_error *err = NULL;
    if (tug_container_export(s, c->id, a->o->fd, &err) < 0)
        tug_error_free(err);
    return -1; /* the end of the connection is the end of the tar */
}

/* ---- archive ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *in, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* st_mode as Go's os.FileMode, which docker's path stat carries */
static json_int_t go_file_mode(unsigned m)
{
    static const struct {
        unsigned fmt;
        json_int_t bits;
    } kinds[] = {
        {S_IFDIR, 1LL << 31},  {S_IFLNK, 1LL << 27}, {S_IFIFO, 1LL << 25},
        {S_IFSOCK, 1LL << 24}, {S_IFBLK, 1LL << 26}, {S_IFCHR, (1LL << 26) | (1LL << 21)},
    };
    json_int_t v = m & 0777;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(kinds); i++)
        if ((m & S_IFMT) == kinds[i].fmt)
            v |= kinds[i].bits;
    if (m & S_ISUID)
        v |= 1LL << 23;
    if (m & S_ISGID)
        v |= 1LL << 22;
    if (m & S_ISVTX)
        v |= 1LL << 20;
    return v;
}

/* The X-Docker-Container-Path-Stat header line for path, or NULL after answering (404 for a
 * path that is not there). */
static char *path_stat_header(const tug_api_call *a, tug_store *s, const char *path)
{
    tug_error *err = NULL;
    tug_cp_stat_info st;
    if (tug_cp_stat(s, a->arg, path, &st, &err) < 0) {
        tug_api_send_err(a->o, err);
        return NULL;
    }
    cleanup_free char *mtime = tug_format_rfc3339(st.mtime_s, st.mtime_ns);
    json_t *doc = json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", st.name, "size",
                            (json_int_t)st.size, "mode", go_file_mode(st.mode), "mtime",
                            mtime ? mtime : "", "linkTarget", st.link_target ? st.link_target : "");
    tug_cp_stat_info_clear(&st);
    cleanup_free char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    cleanup_free char *enc = text ? base64(text, strlen(text)) : NULL;
    char *line = NULL;
    if (enc == NULL || asprintf(&line, "X-Docker-Container-Path-Stat: %s\r\n", enc) < 0) {
        tug_http_send_error(a->o, 500, "out of memory");
        return NULL;
    }
    return line;
}

/* ?path=, which must be given; NULL after a 400 */
static char *path_param(const tug_api_call *a)
{
    char *path = tug_http_query_get(a->req, "path");
    if (path == NULL || *path == '\0') {
        free(path);
        tug_http_send_error(a->o, 400, "path parameter is required");
        return NULL;
    }
    return path;
}

/* ?path= (*ret_path), the store and the path's stat header line; NULL after answering. */
static char *archive_begin(const tug_api_call *a, tug_store **ret_s, char **ret_path)
{
    char *path = path_param(a);
    if (path == NULL || tug_api_store(a->x, a->o, ret_s) < 0) {
        free(path);
        return NULL;
    }
    char *hdr = path_stat_header(a, *ret_s, path);
    if (hdr == NULL)
        free(path);
    else
        *ret_path = path;
    return hdr;
}

int tug_api_container_archive_head(const tug_api_call *a)
{
    tug_store *s;
    cleanup_free char *path = NULL;
    cleanup_free char *hdr = archive_begin(a, &s, &path);
    if (hdr == NULL)
        return 0;
    cleanup_free char *extra = NULL;
    if (asprintf(&extra, "%s%s", a->o->extra_headers ? a->o->extra_headers : "", hdr) < 0)
        return tug_http_send_error(a->o, 500, "out of memory");
    tug_http_out with = *a->o;
    with.extra_headers = extra;
    return tug_http_send(&with, 200, NULL, "", 0);
}

int tug_api_container_archive_get(const tug_api_call *a)
{
    tug_store *s;
    cleanup_free char *path = NULL;
    cleanup_free char *hdr = archive_begin(a, &s, &path);
    if (hdr == NULL)
        return 0;
    if (stream_head(a, hdr, "application/x-tar") < 0)
        return -1;
    tug_error *err = NULL;
    tug_cp_opts opts = {0};
    if (tug_cp_from_container(s, a->arg, path, NULL, a->o->fd, &opts, &err) < 0)
        tug_error_free(err);
    return -1; /* the end of the connection is the end of the tar */
}

static ssize_t body_read(void *arg, void *buf, size_t n)
{
    return tug_http_body_read(arg, buf, n);
}

int tug_api_container_archive_put(const tug_api_call *a)
{
    tug_store *s;
    cleanup_free char *path = path_param(a);
    if (path == NULL || tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    /* a path that is not there is docker's 404, before the body is read */
    tug_error *err = NULL;
    tug_cp_stat_info st;
    if (tug_cp_stat(s, a->arg, path, &st, &err) < 0)
        return tug_api_send_err(a->o, err);
    bool not_dir = !S_ISDIR(st.mode) && !S_ISLNK(st.mode); /* a link is followed there */
    tug_cp_stat_info_clear(&st);
    if (not_dir)
        return tug_http_send_error(a->o, 400, "extraction point is not a directory");
    tug_http_body mem, *in = a->x->body;
    if (in == NULL) { /* a body read whole already */
        tug_http_body_init(&mem, a->req, -1, a->body, a->body_len, 0);
        in = &mem;
    }
    /* copyUIDGID keeps the tar's owners (docker cp -a); without it what is written is root's
     * in the container. */
    tug_cp_opts opts = {.archive = tug_api_query_bool(a->req, "copyUIDGID"),
                        .no_dir_swap = tug_api_query_bool(a->req, "noOverwriteDirNonDir")};
    if (tug_cp_tar_to_container(s, a->arg, path, body_read, in, &opts, &err) < 0)
        return tug_api_send_err(a->o, err);
    return tug_http_send(a->o, 200, NULL, "", 0);
}

/* ---- update ---- */

/* docker's client sends every resource, unset ones as 0 or "": only what is set is a change,
 * as dockerd reads the body. */
static json_t *update_changes(json_t *body)
{
    static const char *const keys[] = {
        "Memory",     "MemorySwap",  "MemoryReservation", "NanoCpus",           "CpuShares",
        "CpuPeriod",  "CpuQuota",    "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus",
        "CpusetMems", "BlkioWeight",
    };
    json_t *ch = json_object();
    for (size_t i = 0; i < TUG_ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if ((json_is_integer(v) && json_integer_value(v) != 0) ||
            (json_is_string(v) && *json_string_value(v)))
            json_object_set(ch, keys[i], v);
    }
    json_t *pids = json_object_get(body, "PidsLimit");
    if (json_is_integer(pids))
        json_object_set(ch, "PidsLimit", pids);
    json_t *rp = json_object_get(body, "RestartPolicy");
    const char *name = json_string_value(json_object_get(rp, "Name"));
    if (name && *name)
        json_object_set(ch, "RestartPolicy", rp);
    return ch;
}

int tug_api_container_update(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, "give the update as a JSON object");
    if (body == NULL)
        return 0;
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (tug_api_container_find(a, &s, &c) < 0)
        return 0;
    json_auto_t *ch = update_changes(body);
    json_t *warnings = json_array();
    tug_error *err = NULL;
    if (tug_container_update(s, c, ch, warnings, &err) < 0) {
        json_decref(warnings);
        return tug_api_send_err(a->o, err);
    }
    return tug_http_send_json(a->o, 200, json_pack("{s:o}", "Warnings", warnings));
}
