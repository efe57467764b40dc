/* GET /events: the store's event log (what `tug events` reads, tug_events_read), one JSON
 * object per line as dockerd writes them, past ones from ?since= and, unless ?until= has
 * passed, new ones as they are recorded until the client hangs up. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container/logs.h"
#include "serve.h"
#include "store/events.h"
#include "util/cleanup.h"
#include "util/strutil.h"

int tug_api_time_param(const tug_http_req *req, tug_http_out *o, const char *key, long long *ret_ns)
{
    cleanup_free char *v = tug_http_query_get(req, key);
    *ret_ns = 0;
    if (v == NULL || *v == '\0' || strcmp(v, "0") == 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ns = 0;
    cleanup_free char *why = NULL;
    if (tug_logs_parse_time(v, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec, 0, &ns, &why) <
        0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "invalid value for %s: %.200s", key, why ? why : v);
        tug_http_send_error(o, 400, msg);
        return -1;
    }
    *ret_ns = ns;
    return 0;
}

static int add_event_filter(void *data, const char *key, const char *value, tug_error **err)
{
    cleanup_free char *f = NULL;
    if (asprintf(&f, "%s=%s", key, value) < 0)
        return tug_error_set(err, ENOMEM, "filter");
    return tug_event_filter_add(data, f, err);
}

typedef struct events_out {
    tug_http_out *o;
    bool gone;
} events_out;

static int send_event(json_t *ev, void *data)
{
    events_out *w = data;
    if (ev == NULL) { /* the reader woke with nothing new: has the client hung up? */
        struct pollfd p = {.fd = w->o->fd, .events = POLLRDHUP};
        w->gone = poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
        return w->gone;
    }
    cleanup_free char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cleanup_free char *line = NULL;
    int n = text ? asprintf(&line, "%s\n", text) : -1;
    if (n > 0 && tug_http_chunk(w->o, line, (size_t)n) < 0)
        w->gone = true;
    return w->gone;
}

int tug_api_events(const tug_api_call *a)
{
    long long since = 0, until = 0;
    if (tug_api_time_param(a->req, a->o, "since", &since) < 0 ||
        tug_api_time_param(a->req, a->o, "until", &until) < 0)
        return 0;
    cleanup_event_filter tug_event_filter *f = NULL;
    tug_error *err = NULL;
    if (tug_api_each_filter(a->req, add_event_filter, &f, &err) < 0)
        return tug_api_send_err(a->o, err);
    tug_store *s;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    /* dockerd follows unless until has passed; the head goes at once so that the client knows
     * it is listening before anything happens */
    bool follow = until == 0 || until > tug_now_ns();
    /* "from now on" is from before the head goes: what the client does once it has the head
     * is recorded after this, and read even if the reader is not watching yet */
    if (since == 0 && follow)
        since = tug_now_ns();
    if (tug_http_chunked_begin(a->o, 200, "application/json") < 0)
        return -1;
    events_out w = {.o = a->o};
    if (tug_events_read(s, since, until, follow, f, send_event, &w, &err) < 0) {
        /* the head has gone: the error can only end the stream */
        tug_error_free(err);
    }
    if (w.gone)
        return -1;
    return tug_http_chunked_end(a->o);
}
