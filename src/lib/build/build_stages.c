/* The stages a target needs, each built once the stages it names are: independent stages at
 * the same time, each in a process of its own forked from the builder (docs/build.md,
 * "Concurrent stages"). A stage's process is the builder as it was, single-threaded, with its
 * own database connection and mount namespace; it sends its events and, at the end, its stage
 * (or its error) back over a pipe as frames. The builder numbers the vertices as their starts
 * arrive, so the plain lines interleave as BuildKit's do, each with its own #N. A stage that
 * is alone runs in the builder itself, as every stage did before. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "builder.h"

/* A frame: its head, then len bytes (a name, a line, output, or JSON). */
enum { F_START, F_STATUS, F_LOG, F_CACHED, F_DONE, F_ERROR, F_RESULT, F_FAIL, F_STEP, F_STEP_END };
typedef struct frame_head {
    uint32_t kind;
    int32_t vertex; /* the stage process's own number */
    uint32_t stream;
    uint32_t len;
} frame_head;
#define FRAME_MAX (256u << 20)

bool bld_cancelled(builder *b)
{
    if (b->cancel_fd < 0)
        return false;
    struct pollfd p = {.fd = b->cancel_fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* ---- the stage's process ---- */

static void send_frame(int fd, uint32_t kind, int vertex, int stream, const void *buf, size_t len)
{
    frame_head h = {
        .kind = kind, .vertex = vertex, .stream = (uint32_t)stream, .len = (uint32_t)len};
    /* the builder gone, nobody reads: what is left of the stage is cancelled anyway */
    if (tug_write_all(fd, &h, sizeof(h)) == 0 && len > 0)
        tug_write_all(fd, buf, len);
}

static void send_text(void *ud, uint32_t kind, int v, const char *text)
{
    send_frame(*(int *)ud, kind, v, 0, text, text ? strlen(text) : 0);
}

static void ev_start(void *ud, int v, const char *name)
{
    send_text(ud, F_START, v, name);
}

static void ev_status(void *ud, int v, const char *text)
{
    send_text(ud, F_STATUS, v, text);
}

static void ev_log(void *ud, int v, int stream, const char *buf, size_t len)
{
    send_frame(*(int *)ud, F_LOG, v, stream, buf, len);
}

static void ev_cached(void *ud, int v)
{
    send_text(ud, F_CACHED, v, NULL);
}

static void ev_done(void *ud, int v)
{
    send_text(ud, F_DONE, v, NULL);
}

static void ev_error(void *ud, int v, const char *message)
{
    send_text(ud, F_ERROR, v, message);
}

/* the classic builder's events: the step's number and total in vertex and stream; its end's
 * exit status and cached in them, the id as the text */
static void ev_step(void *ud, int n, int total, const char *instruction)
{
    send_frame(*(int *)ud, F_STEP, n, total, instruction, strlen(instruction));
}

static void ev_step_end(void *ud, const char *id, bool cached, int exit_code)
{
    send_frame(*(int *)ud, F_STEP_END, exit_code, cached, id, id ? strlen(id) : 0);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *stage_json(const tug_stage *st)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < st->n_layers; i++) {
        const tug_image_layer *l = &st->layers[i];
        json_array_append_new(
            layers, json_pack("{s:o,s:o,s:o,s:o,s:I,s:I}", "chain_id", str_or_null(l->chain_id),
                              "diff_id", str_or_null(l->diff_id), "blob_digest",
                              str_or_null(l->blob_digest), "media_type", str_or_null(l->media_type),
                              "blob_size", (json_int_t)l->blob_size, "size", (json_int_t)l->size));
    }
    return json_pack("{s:o,s:O,s:O,s:o,s:I,s:I,s:O,s:b,s:o,s:O?}", "base", str_or_null(st->base),
                     "config", st->config, "history", st->history, "layers", layers, "created",
                     (json_int_t)st->created, "nsec", (json_int_t)st->nsec, "args", st->args,
                     "cmd_set", st->cmd_set, "image_id", str_or_null(st->image_id), "cache_record",
                     st->cache_record);
}

static void send_json(int fd, uint32_t kind, json_t *doc)
{
    /* the config's keys keep their order: the image ID is a digest of them */
    cleanup_free char *raw = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (raw)
        send_frame(fd, kind, 0, 0, raw, strlen(raw));
}

/* The stage's process: the stage built, then sent back (or its error). The parent's database
 * connection was closed before the fork; this process opens its own. */
__attribute__((noreturn)) static void stage_main(builder *b, size_t idx, int fd, int cancel_fd)
{
    tug_build_opts o = *b->o;
    int out = fd;
    o.events = (tug_build_events){.start = ev_start,
                                  .status = ev_status,
                                  .log = ev_log,
                                  .cached = ev_cached,
                                  .done = ev_done,
                                  .error = ev_error,
                                  .step = b->o->events.step ? ev_step : NULL,
                                  .step_end = b->o->events.step_end ? ev_step_end : NULL,
                                  .userdata = &out};
    b->o = &o;
    b->vertex = 0;
    b->cancel_fd = cancel_fd;
    tug_error *err = NULL;
    int r = tug_store_reconnect(b->s, &err);
    if (r == 0)
        r = bld_build_stage(b, idx, &err);
    if (r == 0)
        send_json(fd, F_RESULT, stage_json(&b->stages[idx]));
    else
        send_json(fd, F_FAIL,
                  json_pack("{s:i,s:i,s:i,s:s}", "errnum", err ? err->errnum : 0, "kind",
                            err ? (int)err->kind : 0, "status", err ? err->status : 0, "msg",
                            err && err->msg ? err->msg : "build stage failed"));
    tug_store_disconnect(b->s, NULL);
    _exit(0);
}

/* ---- the builder's side ---- */

typedef struct kid {
    pid_t pid;
    int fd;     /* its frames */
    int cancel; /* closed: the stage is cancelled */
    int *vmap;  /* its vertex numbers -> the build's */
    size_t n_vmap;
    bool ended; /* its result or error came */
} kid;

/* Stage idx into a process of its own; kids[0..n) are the others (their pipes stay out of it:
 * each stage's cancel pipe has the builder alone at its other end). */
static int fork_stage(builder *b, size_t idx, kid *kids, size_t n, tug_error **err)
{
    kid *k = &kids[idx];
    int frames[2], cancel[2];
    if (pipe2(frames, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "build stage: pipe");
    if (pipe2(cancel, O_CLOEXEC) < 0) {
        int e = errno;
        close(frames[0]);
        close(frames[1]);
        return tug_error_set(err, e, "build stage: pipe");
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(frames[0]);
        close(frames[1]);
        close(cancel[0]);
        close(cancel[1]);
        return tug_error_set(err, e, "build stage: fork");
    }
    if (pid == 0) {
        close(frames[0]);
        close(cancel[1]);
        /* a step's cancel fd is never 0 (its unset value) */
        if (cancel[0] == 0)
            cancel[0] = fcntl(0, F_DUPFD_CLOEXEC, 3);
        for (size_t j = 0; j < n; j++)
            if (kids[j].pid > 0) {
                close(kids[j].fd);
                if (kids[j].cancel >= 0)
                    close(kids[j].cancel);
            }
        stage_main(b, idx, frames[1], cancel[0]);
    }
    close(frames[1]);
    close(cancel[0]);
    *k = (kid){.pid = pid, .fd = frames[0], .cancel = cancel[1]};
    return 0;
}

static void cancel_kid(kid *k)
{
    if (k->cancel >= 0)
        close(k->cancel);
    k->cancel = -1;
}

static char *dup_str(json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s ? strdup(s) : NULL;
}

static json_t *take(json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    return json_is_null(v) ? NULL : json_incref(v);
}

/* A stage's process's result into the builder's stage. */
static int stage_from_json(tug_stage *st, json_t *doc, tug_error **err)
{
    json_t *layers = json_object_get(doc, "layers");
    st->base = dup_str(doc, "base");
    st->config = take(doc, "config");
    st->history = take(doc, "history");
    st->args = take(doc, "args");
    st->cache_record = take(doc, "cache_record");
    st->image_id = dup_str(doc, "image_id");
    st->created = json_integer_value(json_object_get(doc, "created"));
    st->nsec = (long)json_integer_value(json_object_get(doc, "nsec"));
    st->cmd_set = json_is_true(json_object_get(doc, "cmd_set"));
    st->layers = calloc(json_array_size(layers) + 1, sizeof(*st->layers));
    if (!json_is_object(st->config) || !json_is_array(st->history) || !json_is_array(layers) ||
        st->layers == NULL)
        return tug_error_set(err, EPROTO, "build stage %d: its result", st->index);
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        tug_image_layer *d = &st->layers[st->n_layers++];
        d->chain_id = dup_str(l, "chain_id");
        d->diff_id = dup_str(l, "diff_id");
        d->blob_digest = dup_str(l, "blob_digest");
        d->media_type = dup_str(l, "media_type");
        d->blob_size = json_integer_value(json_object_get(l, "blob_size"));
        d->size = json_integer_value(json_object_get(l, "size"));
    }
    st->done = true;
    return 0;
}

static tug_error *error_from_json(json_t *doc)
{
    tug_error *e = NULL;
    const char *msg = json_string_value(json_object_get(doc, "msg"));
    tug_error_set(&e, 0, "%s", msg ? msg : "build stage failed");
    if (e) {
        e->errnum = (int)json_integer_value(json_object_get(doc, "errnum"));
        e->kind = json_integer_value(json_object_get(doc, "kind")) == TUG_ERR_USER ? TUG_ERR_USER
                                                                                   : TUG_ERR_ENGINE;
        e->status = (int)json_integer_value(json_object_get(doc, "status"));
    }
    return e;
}

/* The build's number of the process's vertex v; a start gets the next one. */
static int vertex_of(builder *b, kid *k, uint32_t kind, int v)
{
    if (v <= 0)
        return 0;
    if (kind == F_START) {
        if ((size_t)v >= k->n_vmap) {
            int *nv = realloc(k->vmap, ((size_t)v + 16) * sizeof(int));
            if (nv == NULL)
                return 0;
            memset(nv + k->n_vmap, 0, ((size_t)v + 16 - k->n_vmap) * sizeof(int));
            k->vmap = nv;
            k->n_vmap = (size_t)v + 16;
        }
        k->vmap[v] = ++b->vertex;
    }
    return (size_t)v < k->n_vmap ? k->vmap[v] : 0;
}

/* One frame of a stage's process, passed on. 1: the process said its last (or ended). */
static int take_frame(builder *b, tug_stage *st, kid *k, tug_error **first)
{
    frame_head h;
    if (tug_read_all(k->fd, &h, sizeof(h)) < 0)
        return 1;
    cleanup_free char *buf = h.len < FRAME_MAX ? malloc((size_t)h.len + 1) : NULL;
    if (buf == NULL || tug_read_all(k->fd, buf, h.len) < 0)
        return 1;
    buf[h.len] = '\0';
    const tug_build_events *ev = &b->o->events;
    if (h.kind == F_STEP || h.kind == F_STEP_END) {
        if (h.kind == F_STEP && ev->step)
            ev->step(ev->userdata, h.vertex, (int)h.stream, buf);
        else if (h.kind == F_STEP_END && ev->step_end)
            ev->step_end(ev->userdata, h.len ? buf : NULL, h.stream != 0, h.vertex);
        return 0;
    }
    int v = vertex_of(b, k, h.kind, h.vertex);
    switch (h.kind) {
    case F_START:
        if (ev->start && v)
            ev->start(ev->userdata, v, buf);
        return 0;
    case F_STATUS:
        if (ev->status && v)
            ev->status(ev->userdata, v, buf);
        return 0;
    case F_LOG:
        if (ev->log && v)
            ev->log(ev->userdata, v, (int)h.stream, buf, h.len);
        return 0;
    case F_CACHED:
        if (ev->cached && v)
            ev->cached(ev->userdata, v);
        return 0;
    case F_DONE:
        if (ev->done && v)
            ev->done(ev->userdata, v);
        return 0;
    case F_ERROR:
        if (*first && ev->canceled && v)
            ev->canceled(ev->userdata, v);
        else if (ev->error && v)
            ev->error(ev->userdata, v, buf);
        return 0;
    }
    json_t *doc = json_loads(buf, JSON_ALLOW_NUL, NULL);
    k->ended = true;
    tug_error *e = NULL;
    if (h.kind == F_RESULT && doc && stage_from_json(st, doc, &e) == 0) {
        json_decref(doc);
        return 1;
    }
    if (e == NULL)
        e = doc && h.kind == F_FAIL ? error_from_json(doc) : NULL;
    if (e == NULL)
        tug_error_set(&e, EPROTO, "build stage %d: what its process sent", st->index);
    json_decref(doc);
    if (*first == NULL)
        *first = e;
    else
        tug_error_free(e);
    return 1;
}

/* The process has nothing more to say: reaped; ended without a word, it failed. */
static void reap(tug_stage *st, kid *k, tug_error **first)
{
    close(k->fd);
    k->fd = -1;
    cancel_kid(k);
    int status = 0;
    while (waitpid(k->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!k->ended && *first == NULL && st->name)
        tug_error_set(first, 0, "build stage %s: its process ended with status %d", st->name,
                      status);
    else if (!k->ended && *first == NULL)
        tug_error_set(first, 0, "build stage stage-%d: its process ended with status %d", st->index,
                      status);
    free(k->vmap);
    k->vmap = NULL;
    k->pid = 0;
}

/* TUG_BUILD_SEQUENTIAL=1 builds the stages one after the other in the builder, in the
 * Dockerfile's order (for tests: the same image either way). */
static bool sequential(void)
{
    const char *v = getenv("TUG_BUILD_SEQUENTIAL");
    return v && *v && strcmp(v, "0") != 0;
}

/* Stage i can start: needed, not started, every stage it names built. */
static bool ready(builder *b, const bool *needed, const bool *deps, const char *state, size_t i)
{
    size_t n = b->df->n_stages;
    if (!needed[i] || state[i] != 0)
        return false;
    for (size_t j = 0; j < i; j++)
        if (deps[i * n + j] && state[j] != 2)
            return false;
    return true;
}

/* Wait for a frame from any running stage; pass on what came. */
static void take_frames(builder *b, kid *kids, char *state, size_t target, size_t *running,
                        tug_error **first)
{
    cleanup_free struct pollfd *p = calloc(target + 1, sizeof(*p));
    if (p == NULL)
        return;
    for (size_t i = 0; i <= target; i++)
        p[i] = (struct pollfd){.fd = state[i] == 1 ? kids[i].fd : -1, .events = POLLIN};
    if (poll(p, target + 1, -1) < 0)
        return;
    for (size_t i = 0; i <= target; i++) {
        if (!p[i].revents || state[i] != 1)
            continue;
        bool was_first = *first != NULL;
        if (take_frame(b, &b->stages[i], &kids[i], first) == 0)
            continue;
        reap(&b->stages[i], &kids[i], first);
        state[i] = b->stages[i].done ? 2 : 3;
        (*running)--;
        if (!was_first && *first)
            for (size_t j = 0; j <= target; j++)
                cancel_kid(&kids[j]);
    }
}

int bld_build_stages(builder *b, const bool *needed, const bool *deps, size_t target,
                     tug_error **err)
{
    if (sequential() || b->o->sequential) {
        for (size_t i = 0; i <= target; i++)
            if (needed[i] && bld_build_stage(b, i, err) < 0)
                return -1;
        return 0;
    }
    /* state: 0 waiting, 1 running in a process, 2 built, 3 failed */
    cleanup_free char *state = calloc(target + 1, 1);
    cleanup_free kid *kids = calloc(target + 1, sizeof(kid));
    cleanup_free size_t *ready_ = calloc(target + 1, sizeof(size_t));
    if (state == NULL || kids == NULL || ready_ == NULL)
        return tug_error_set(err, ENOMEM, "build");
    tug_error *first = NULL;
    size_t running = 0;
    for (;;) {
        size_t n_ready = 0;
        for (size_t i = 0; first == NULL && i <= target; i++)
            if (ready(b, needed, deps, state, i))
                ready_[n_ready++] = i;
        if (n_ready == 1 && running == 0) {
            /* alone: in this process, as a one-stage build */
            if (tug_store_reconnect(b->s, &first) < 0 || bld_build_stage(b, ready_[0], &first) < 0)
                break;
            state[ready_[0]] = 2;
            continue;
        }
        if (n_ready > 0 && tug_store_disconnect(b->s, &first) < 0)
            n_ready = 0;
        for (size_t r = 0; r < n_ready && first == NULL; r++) {
            size_t i = ready_[r];
            if (fork_stage(b, i, kids, target + 1, &first) < 0)
                break;
            state[i] = 1;
            running++;
        }
        if (first)
            for (size_t j = 0; j <= target; j++)
                cancel_kid(&kids[j]);
        if (running == 0)
            break;
        take_frames(b, kids, state, target, &running, &first);
    }
    /* the export (or the caller) uses the store again */
    tug_error *ignored = NULL;
    if (tug_store_reconnect(b->s, first ? &ignored : &first) < 0)
        tug_error_free(ignored);
    if (first == NULL)
        return 0;
    int r = first->errnum > 0 ? -first->errnum : -1;
    if (err)
        *err = first;
    else
        tug_error_free(first);
    return r;
}
