/* The Engine API's container lifecycle: create, start, stop, kill, restart, pause, wait, rm,
 * rename and logs. Each calls the library functions the CLI's commands call; a request runs in
 * its connection's own single-threaded process, which may block (wait, logs --follow) and may
 * start containers. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "container/logs.h"
#include "runtime/container.h"
#include "runtime/request.h"
#include "store/events.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* The container the path names, its state brought up to date, or -1 after answering (404
 * and such). */
static int find(const tug_api_call *a, tug_store **ret_s, tug_container **ret)
{
    if (tug_api_store(a->x, a->o, ret_s) < 0)
        return -1;
    tug_error *err = NULL;
    if (tug_container_find(*ret_s, a->arg, ret, &err) < 0 ||
        tug_container_refresh(*ret_s, *ret, &err) < 0) {
        tug_api_send_err(a->o, err);
        return -1;
    }
    return 0;
}

int tug_api_container_find(const tug_api_call *a, tug_store **ret_s, tug_container **ret)
{
    return find(a, ret_s, ret);
}

static bool active(const tug_container *c)
{
    return strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0 ||
           strcmp(c->state, TUG_STATE_RESTARTING) == 0;
}

static int no_content(tug_http_out *o, int status)
{
    return tug_http_send(o, status, NULL, "", 0);
}

/* Members that are null say "not given", as the library's request leaves them out. */
static void drop_nulls(json_t *obj)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, v)
    {
        if (json_is_null(v))
            json_object_del(obj, key);
    }
}

/* docker's create body (the container's config with HostConfig and NetworkingConfig beside
 * it) as the library's request: {"Config":..., "HostConfig":..., "NetworkingConfig":...}, the
 * shape the CLI's flags make. */
static json_t *request_of(json_t *body)
{
    json_t *cfg = json_deep_copy(body);
    json_t *hc = json_object_get(cfg, "HostConfig");
    json_t *nc = json_object_get(cfg, "NetworkingConfig");
    json_t *req = json_object();
    json_object_set_new(req, "HostConfig", json_is_object(hc) ? json_incref(hc) : json_object());
    if (json_is_object(nc))
        json_object_set(req, "NetworkingConfig", nc);
    json_object_del(cfg, "HostConfig");
    json_object_del(cfg, "NetworkingConfig");
    json_object_del(cfg, "Image");
    drop_nulls(cfg);
    hc = json_object_get(req, "HostConfig");
    drop_nulls(hc);
    const char *mode = json_string_value(json_object_get(hc, "NetworkMode"));
    if (mode == NULL || *mode == '\0' || strcmp(mode, "bridge") == 0)
        json_object_set_new(hc, "NetworkMode", json_string("default"));
    else if (strcmp(mode, "none") == 0 || strcmp(mode, "host") == 0)
        json_object_set_new(hc, "PortBindings", json_object());
    if (json_object_get(hc, "Memory") == NULL)
        json_object_set_new(hc, "Memory", json_integer(0));
    if (json_object_get(hc, "MemorySwap") == NULL)
        json_object_set_new(hc, "MemorySwap", json_integer(0));
    json_object_set_new(req, "Config", cfg);
    return req;
}

int tug_api_container_create(const tug_api_call *a)
{
    json_auto_t *body =
        tug_api_body_object(a, "config cannot be empty in order to create a container");
    if (body == NULL)
        return 0;
    const char *image = json_string_value(json_object_get(body, "Image"));
    if (image == NULL || *image == '\0')
        return tug_http_send_error(a->o, 400,
                                   "no image given: the create request needs \"Image\"");
    tug_store *s;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    cleanup_free char *name = tug_http_query_get(a->req, "name");
    if (name && *name == '/')
        memmove(name, name + 1, strlen(name));
    json_auto_t *request = request_of(body);
    json_t *warnings = json_array();
    tug_error *err = NULL;
    /* the CLI's flags go through the same check before its create */
    if (tug_request_validate(request, false, NULL, warnings, &err) < 0) {
        json_decref(warnings);
        return tug_api_send_err(a->o, err);
    }
    cleanup_container tug_container *c = NULL;
    if (tug_container_create(s, image, request, name && *name ? name : NULL, &c, &err) < 0) {
        json_decref(warnings);
        return tug_api_send_err(a->o, err);
    }
    return tug_http_send_json(a->o, 201,
                              json_pack("{s:s, s:o}", "Id", c->id, "Warnings", warnings));
}

int tug_api_container_start(const tug_api_call *a)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    tug_error *err = NULL;
    if (strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0)
        return no_content(a->o, 304);
    /* an attach waiting for this start gets the channel from the start on */
    tug_start_opts so = {.attach_fd = tug_api_attach_waiting(s, c),
                         .open_stdin = json_is_true(
                             json_object_get(json_object_get(c->config, "Config"), "OpenStdin"))};
    int r = tug_container_start(s, c, &so, &err);
    if (so.attach_fd >= 0)
        close(so.attach_fd);
    if (r < 0) {
        if (json_is_true(
                json_object_get(json_object_get(c->config, "HostConfig"), "AutoRemove"))) {
            tug_error *e2 = NULL;
            tug_container_remove(s, c, &e2);
            tug_error_free(e2);
        }
        tug_error_wrap(&err, "failed to start container %.12s", c->id);
        return tug_api_send_err(a->o, err);
    }
    return no_content(a->o, 204);
}

/* ?t= (seconds; -1 when absent) and ?signal= of stop and restart; -1 after a 400. */
static int stop_params(const tug_api_call *a, int *ret_t, int *ret_sig)
{
    cleanup_free char *t = tug_http_query_get(a->req, "t");
    cleanup_free char *sig = tug_http_query_get(a->req, "signal");
    *ret_t = -1;
    *ret_sig = 0;
    if (t && *t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < -1 || v > 1000000) {
            tug_http_send_error(a->o, 400, "invalid value for t: not a number of seconds");
            return -1;
        }
        *ret_t = (int)v;
    }
    if (sig && *sig && (*ret_sig = tug_signal_parse(sig)) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Invalid signal: %.100s", sig);
        tug_http_send_error(a->o, 400, msg);
        return -1;
    }
    return 0;
}

/* stop, and with restart start again: 304 for a stop of a container that does not run */
static int stop_like(const tug_api_call *a, bool restart)
{
    int t, sig;
    if (stop_params(a, &t, &sig) < 0)
        return 0;
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    tug_error *err = NULL;
    if (!restart && !active(c))
        return no_content(a->o, 304);
    bool forced = false;
    if (tug_container_stop(s, c, sig, t, &forced, &err) < 0)
        return tug_api_send_err(a->o, err);
    if (!restart)
        return no_content(a->o, 204);
    tug_start_opts so = {.attach_fd = -1};
    if (tug_container_start(s, c, &so, &err) < 0)
        return tug_api_send_err(a->o, err);
    tug_container_event(s, c, "restart", NULL);
    return no_content(a->o, 204);
}

int tug_api_container_stop(const tug_api_call *a)
{
    return stop_like(a, false);
}

int tug_api_container_restart(const tug_api_call *a)
{
    return stop_like(a, true);
}

int tug_api_container_kill(const tug_api_call *a)
{
    cleanup_free char *sig_s = tug_http_query_get(a->req, "signal");
    int sig = SIGKILL;
    if (sig_s && *sig_s && (sig = tug_signal_parse(sig_s)) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Invalid signal: %.100s", sig_s);
        return tug_http_send_error(a->o, 400, msg);
    }
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    tug_error *err = NULL;
    if (tug_container_signal(s, c, sig, &err) < 0) {
        tug_error_wrap(&err, "Cannot kill container: %s", a->arg);
        return tug_api_send_err(a->o, err);
    }
    return no_content(a->o, 204);
}

static int pause_like(const tug_api_call *a, bool pause)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    tug_error *err = NULL;
    if (tug_container_pause(s, c, pause, &err) < 0)
        return tug_api_send_err(a->o, err);
    return no_content(a->o, 204);
}

int tug_api_container_pause(const tug_api_call *a)
{
    return pause_like(a, true);
}

int tug_api_container_unpause(const tug_api_call *a)
{
    return pause_like(a, false);
}

/* Has the client gone? Waits up to ms for it to hang up, or for an event to be written when
 * watch (tug_events_watch) is not -1: a start, an end, a removal. */
static bool peer_gone_or_event(int fd, int watch, int ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLRDHUP}, {.fd = watch, .events = POLLIN}};
    if (poll(p, watch >= 0 ? 2 : 1, ms) <= 0)
        return false;
    if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR))
        return true;
    /* readable, not hung up: a request sent ahead, which waits its turn; the wait goes on on
     * the events alone (a sleep without a watch), or it would turn into a spin */
    if (p[0].revents && !p[1].revents)
        poll(&p[1], watch >= 0 ? 1 : 0, ms);
    return false;
}

static bool peer_gone(int fd, int ms)
{
    return peer_gone_or_event(fd, -1, ms);
}

/* Poll until the container runs (want_active) or does not, or is gone (*ret_gone); -1 when
 * the client hangs up first (err unset) or on an error. Each look at the store follows an
 * event (watch), or a second without one (a monitor killed writes none). */
static int poll_until(const tug_api_call *a, tug_store *s, int watch, tug_container **c,
                      bool want_active, bool *ret_gone, tug_error **err)
{
    /* waiting for a start: one that came and went between two looks counts too */
    long long started = (*c)->started_ns;
    *ret_gone = false;
    for (;;) {
        if (watch >= 0)
            tug_events_watch_drain(watch);
        tug_container *fresh = NULL;
        tug_error *e = NULL;
        if (tug_container_find(s, (*c)->id, &fresh, &e) < 0) {
            if (e && e->reason == TUG_ERR_R_NOT_FOUND) {
                tug_error_free(e);
                *ret_gone = true;
                return 0;
            }
            *err = e;
            return -1;
        }
        tug_container_free(*c);
        *c = fresh;
        if (tug_container_refresh(s, *c, err) < 0)
            return -1;
        if (active(*c) == want_active || (want_active && (*c)->started_ns != started))
            return 0;
        if (peer_gone_or_event(a->o->fd, watch, watch >= 0 ? 1000 : 100))
            return -1;
    }
}

/* The exit status of a container its --rm took away before it was seen ended: the last "die"
 * event of id since since_ns. */
typedef struct die_seen {
    const char *id;
    int code;
} die_seen;

static int on_event(json_t *ev, void *data)
{
    die_seen *d = data;
    json_t *actor = json_object_get(ev, "Actor");
    const char *action = json_string_value(json_object_get(ev, "Action"));
    const char *id = json_string_value(json_object_get(actor, "ID"));
    const char *code = json_string_value(json_object_get(json_object_get(actor, "Attributes"),
                                                         "exitCode"));
    if (action && strcmp(action, "die") == 0 && id && strcmp(id, d->id) == 0 && code)
        d->code = atoi(code);
    return 0;
}

static int exit_from_events(tug_store *s, const char *id, long long since_ns)
{
    die_seen d = {.id = id, .code = 0};
    tug_error *err = NULL;
    if (tug_events_read(s, since_ns, 0, false, NULL, on_event, &d, &err) < 0)
        tug_error_free(err);
    return d.code;
}

/* docker's client reads the answer's head before it starts the container: the head goes at
 * once (chunked), the document when the condition is met, its error in "Error". */
int tug_api_container_wait(const tug_api_call *a)
{
    cleanup_free char *cond = tug_http_query_get(a->req, "condition");
    const char *w = cond && *cond ? cond : "not-running";
    if (strcmp(w, "not-running") != 0 && strcmp(w, "next-exit") != 0 &&
        strcmp(w, "removed") != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid condition: \"%.100s\"", w);
        return tug_http_send_error(a->o, 400, msg);
    }
    tug_store *s;
    tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    if (tug_http_chunked_begin(a->o, 200, "application/json") < 0) {
        tug_container_free(c);
        return -1;
    }
    tug_error *err = NULL;
    /* without a watch, the store is looked at ten times a second */
    tug_error *werr = NULL;
    cleanup_close int watch = tug_events_watch(s, &werr);
    tug_error_free(werr);
    bool gone = false;
    int r = 0;
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    long long since = (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec;
    /* next-exit: a container that does not run yet is waited for to start, then to end */
    if (strcmp(w, "next-exit") == 0)
        r = poll_until(a, s, watch, &c, true, &gone, &err);
    if (r == 0 && !gone)
        r = poll_until(a, s, watch, &c, false, &gone, &err);
    /* removed: its --rm (or a docker rm) takes it away; a restart is waited out */
    while (r == 0 && !gone && strcmp(w, "removed") == 0 && !c->removed) {
        r = poll_until(a, s, watch, &c, true, &gone, &err);
        if (r == 0 && !gone)
            r = poll_until(a, s, watch, &c, false, &gone, &err);
    }
    int code = gone && r == 0 ? exit_from_events(s, c->id, since) : c->exit_code;
    json_t *doc = json_pack("{s:i, s:n}", "StatusCode", code, "Error");
    if (c->error && *c->error)
        json_object_set_new(doc, "Error", json_pack("{s:s}", "Message", c->error));
    tug_container_free(c);
    if (r < 0 && err == NULL) { /* the client has gone */
        json_decref(doc);
        return -1;
    }
    if (r < 0) {
        json_object_set_new(doc, "Error", json_pack("{s:s}", "Message", err->msg));
        tug_error_free(err);
    }
    cleanup_free char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL || tug_http_chunk(a->o, text, strlen(text)) < 0 ||
        tug_http_chunk(a->o, "\n", 1) < 0)
        return -1;
    return tug_http_chunked_end(a->o);
}

int tug_api_container_delete(const tug_api_call *a)
{
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    c->remove_volumes = tug_api_query_bool(a->req, "v");
    tug_error *err = NULL;
    if (tug_container_rm(s, c, tug_api_query_bool(a->req, "force"), &err) < 0)
        return tug_api_send_err(a->o, err);
    return no_content(a->o, 204);
}

int tug_api_container_rename(const tug_api_call *a)
{
    cleanup_free char *name = tug_http_query_get(a->req, "name");
    if (name == NULL || *name == '\0')
        return tug_http_send_error(a->o, 400, "rename needs the new name: ?name=NEW_NAME");
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    tug_error *err = NULL;
    if (tug_container_rename(s, c, name[0] == '/' ? name + 1 : name, &err) < 0)
        return tug_api_send_err(a->o, err);
    return no_content(a->o, 204);
}

typedef struct log_writer {
    tug_http_out *o;
    bool out, err;   /* the streams asked for */
    bool tty;        /* raw: no frames, as the container wrote one stream */
    bool timestamps;
    bool begun;  /* the answer's head is out */
    bool attach; /* a hijacked connection: no chunks */
    bool upgrade; /* the client asked for Upgrade: tcp */
} log_writer;

/* The stream's head goes with its first line: an error before it is still an answer. */
static int log_begin(log_writer *w)
{
    if (w->begun)
        return 0;
    w->begun = true;
    if (w->attach)
        return tug_http_hijack(w->o, w->upgrade, "application/vnd.docker.raw-stream");
    return tug_http_chunked_begin(w->o, 200, "application/vnd.docker.raw-stream");
}

/* One line: docker's stdcopy frame (stream 1 or 2, three zeros, the length big-endian) and the
 * line, or the line alone for a container with a TTY. */
static int log_emit(void *data, const tug_log_entry *e)
{
    log_writer *w = data;
    if (!(e->is_stderr ? w->err : w->out))
        return 0;
    if (log_begin(w) < 0)
        return -1;
    size_t ts = w->timestamps && e->time ? strlen(e->time) + 1 : 0;
    size_t len = ts + e->len, head = w->tty ? 0 : 8;
    cleanup_free unsigned char *buf = malloc(head + len);
    if (buf == NULL)
        return -1;
    if (head) {
        buf[0] = e->is_stderr ? 2 : 1;
        buf[1] = buf[2] = buf[3] = 0;
        buf[4] = (unsigned char)(len >> 24);
        buf[5] = (unsigned char)(len >> 16);
        buf[6] = (unsigned char)(len >> 8);
        buf[7] = (unsigned char)len;
    }
    if (ts) {
        memcpy(buf + head, e->time, ts - 1);
        buf[head + ts - 1] = ' ';
    }
    memcpy(buf + head + ts, e->text, e->len);
    if (w->attach)
        return tug_http_raw(w->o, buf, head + len);
    return tug_http_chunk(w->o, buf, head + len);
}

static bool log_stop(void *data)
{
    log_writer *w = data;
    /* a follower waiting for the first line has the head already */
    if (log_begin(w) < 0)
        return true;
    return peer_gone(w->o->fd, 0);
}

/* ?since= / ?until=: unix seconds (with a fraction) as docker's client sends them; 0 when
 * absent, -1 after a 400. */
static int time_param(const tug_api_call *a, const char *key, long long *ret_ns)
{
    return tug_api_time_param(a->req, a->o, key, ret_ns);
}

int tug_api_container_logs(const tug_api_call *a)
{
    log_writer w = {.o = a->o,
                    .out = tug_api_query_bool(a->req, "stdout"),
                    .err = tug_api_query_bool(a->req, "stderr"),
                    .timestamps = tug_api_query_bool(a->req, "timestamps")};
    if (!w.out && !w.err)
        return tug_http_send_error(a->o, 400,
                                   "Bad parameters: you must choose at least one stream");
    tug_logs_opts lo = {.follow = tug_api_query_bool(a->req, "follow"), .emit = log_emit,
                        .stop = log_stop, .data = &w};
    cleanup_free char *tail = tug_http_query_get(a->req, "tail");
    lo.tail = tail && *tail ? tug_logs_parse_tail(tail) : -1;
    if (time_param(a, "since", &lo.since_ns) < 0 || time_param(a, "until", &lo.until_ns) < 0)
        return 0;
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    w.tty = json_is_true(json_object_get(json_object_get(c->config, "Config"), "Tty"));
    tug_error *err = NULL;
    int r = tug_logs_read(s, c, &lo, &err);
    if (r < 0 && !w.begun)
        return tug_api_send_err(a->o, err);
    tug_error_free(err); /* after the head, the stream just ends */
    if (log_begin(&w) < 0)
        return -1;
    return tug_http_chunked_end(a->o);
}

/* Attach: the hijacked connection relays the container's output (as logs frames it) and, with
 * stdin=1, the client's bytes to its stdin, until the container ends. A running container's
 * monitor serves the channel; for one that does not run, the attach waits for its start (docker
 * run and start -a attach first), which hands the monitor's end of the channel over, so that
 * nothing it writes is missed. logs=1 replays what was written before. */
int tug_api_container_attach(const tug_api_call *a)
{
    cleanup_free char *keys = tug_http_query_get(a->req, "detachKeys");
    tug_api_attach_opts ao = {.in = tug_api_query_bool(a->req, "stdin"),
                              .out = tug_api_query_bool(a->req, "stdout"),
                              .err = tug_api_query_bool(a->req, "stderr"),
                              .detach_keys = keys,
                              .channel = -1,
                              .listener = -1};
    bool stream = tug_api_query_bool(a->req, "stream"), logs = tug_api_query_bool(a->req, "logs");
    log_writer w = {.o = a->o, .out = ao.out, .err = ao.err, .attach = true};
    const char *up = tug_http_header_get(a->req, "Upgrade");
    w.upgrade = up && strcasecmp(up, "tcp") == 0;
    tug_store *s;
    cleanup_container tug_container *c = NULL;
    if (find(a, &s, &c) < 0)
        return 0;
    w.tty = json_is_true(json_object_get(json_object_get(c->config, "Config"), "Tty"));
    ao.running = stream && active(c);
    if (ao.running && (ao.channel = tug_api_attach_channel(a, s, c)) < 0)
        return 0;
    if (stream && !ao.running && (ao.listener = tug_api_attach_listen(s, c)) < 0)
        return tug_http_send_error(a->o, 500, "attach: cannot listen for the container's start");
    tug_error *err = NULL;
    if (log_begin(&w) < 0 ||
        (logs && tug_logs_read(s, c, &(tug_logs_opts){.tail = -1, .emit = log_emit, .data = &w},
                               &err) < 0)) {
        tug_error_free(err);
        if (ao.channel >= 0)
            close(ao.channel);
        tug_api_attach_unlisten(s, c, ao.listener);
        return -1;
    }
    if (stream)
        tug_api_attach_relay(a, s, c, &ao);
    shutdown(a->o->fd, SHUT_WR);
    return -1; /* the connection was the stream's: it ends here */
}
