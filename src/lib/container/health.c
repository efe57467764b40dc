/* Health checks: the container's effective check, one probe, the state file.
 *
 * The state is <container dir>/health.json, written by the probe alone (the monitor runs one at
 * a time) through a temp file and a rename: {"Run":<StartedAt ns>,"Status":...,
 * "FailingStreak":N,"Log":[...]}. "Run" ties it to one run of the container: a new start
 * begins again at "starting" with a streak of 0 and keeps the log, as docker does, without a
 * hook in start. A container that is not running reads as "unhealthy", docker's status once its
 * health monitor stopped. */
#include "health.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/proc.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"

static long long ns_field(json_t *o, const char *key, long long dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (long long)json_integer_value(v)
                                                           : dflt;
}

int tug_health_check_get(json_t *cfg, tug_health_check *ret)
{
    memset(ret, 0, sizeof(*ret));
    json_t *hc = json_object_get(cfg, "Healthcheck");
    json_t *test = json_object_get(hc, "Test");
    size_t n = json_array_size(test);
    const char *kind = json_string_value(json_array_get(test, 0));
    if (n < 2 || kind == NULL || (strcmp(kind, "CMD") != 0 && strcmp(kind, "CMD-SHELL") != 0))
        return 0;
    bool shell = strcmp(kind, "CMD-SHELL") == 0;
    json_t *sh = json_object_get(cfg, "Shell");
    size_t nsh = json_array_size(sh);
    size_t argc = shell ? (nsh ? nsh : 2) + 1 : n - 1;
    char **argv = calloc(argc + 1, sizeof(char *));
    if (argv == NULL)
        return -1;
    size_t a = 0;
    if (shell) {
        for (size_t i = 0; i < nsh; i++)
            argv[a++] = strdup(json_string_value(json_array_get(sh, i)) ?: "");
        if (nsh == 0) {
            argv[a++] = strdup("/bin/sh");
            argv[a++] = strdup("-c");
        }
        argv[a++] = strdup(json_string_value(json_array_get(test, 1)) ?: "");
    } else {
        for (size_t i = 1; i < n; i++)
            argv[a++] = strdup(json_string_value(json_array_get(test, i)) ?: "");
    }
    ret->argv = argv;
    for (size_t i = 0; i < a; i++)
        if (argv[i] == NULL) {
            tug_health_check_clear(ret);
            return -1;
        }
    ret->interval = ns_field(hc, "Interval", TUG_HEALTH_INTERVAL_NS);
    ret->timeout = ns_field(hc, "Timeout", TUG_HEALTH_TIMEOUT_NS);
    ret->start_period = ns_field(hc, "StartPeriod", 0);
    ret->start_interval = ns_field(hc, "StartInterval", TUG_HEALTH_START_INTERVAL_NS);
    long long retries = ns_field(hc, "Retries", TUG_HEALTH_RETRIES);
    ret->retries = retries > INT_MAX ? INT_MAX : (int)retries;
    return 1;
}

void tug_health_check_clear(tug_health_check *h)
{
    for (size_t i = 0; h->argv && h->argv[i]; i++)
        free(h->argv[i]);
    free(h->argv);
    h->argv = NULL;
}

/* Append "<whole>[.<frac>]<unit>" with trailing zeros of the fraction dropped, as Go does. */
static void add_fraction(tug_strbuf *b, long long v, long long unit, const char *name)
{
    char num[64];
    snprintf(num, sizeof(num), "%lld", v / unit);
    tug_strbuf_adds(b, num);
    long long frac = v % unit;
    if (frac) {
        /* the digits of frac below unit, leading zeros kept */
        size_t n = 0;
        num[n++] = '.';
        for (long long u = unit / 10; u >= 1 && n < sizeof(num) - 1; u /= 10)
            num[n++] = (char)('0' + frac / u % 10);
        num[n] = '\0';
        size_t len = strlen(num);
        while (len > 1 && num[len - 1] == '0')
            num[--len] = '\0';
        tug_strbuf_adds(b, num);
    }
    tug_strbuf_adds(b, name);
}

char *tug_health_duration_string(long long ns)
{
    tug_strbuf b = {0};
    if (ns < 0) {
        tug_strbuf_addc(&b, '-');
        ns = -ns;
    }
    if (ns == 0)
        tug_strbuf_adds(&b, "0s");
    else if (ns < 1000)
        add_fraction(&b, ns, 1, "ns");
    else if (ns < 1000000)
        add_fraction(&b, ns, 1000, "µs");
    else if (ns < 1000000000)
        add_fraction(&b, ns, 1000000, "ms");
    else {
        long long sec = ns / 1000000000LL, h = sec / 3600, m = sec / 60 % 60;
        char num[32];
        if (h) {
            snprintf(num, sizeof(num), "%lldh", h);
            tug_strbuf_adds(&b, num);
        }
        if (h || m) {
            snprintf(num, sizeof(num), "%lldm", m);
            tug_strbuf_adds(&b, num);
        }
        add_fraction(&b, ns % 60000000000LL, 1000000000LL, "s");
    }
    return tug_strbuf_steal(&b);
}

/* ---- the state file ---- */

static char *state_path(tug_store *s, const char *id)
{
    cleanup_free char *dir = tug_container_dir(s, id);
    char *p = NULL;
    if (dir == NULL || asprintf(&p, "%s/health.json", dir) < 0)
        return NULL;
    return p;
}

/* The recorded state, or NULL when no probe has run yet. */
static json_t *state_load(tug_store *s, const char *id)
{
    cleanup_free char *p = state_path(s, id);
    json_t *st = p ? json_load_file(p, 0, NULL) : NULL;
    if (st && !json_is_object(st)) {
        json_decref(st);
        st = NULL;
    }
    return st;
}

static bool is_running(const tug_container *c)
{
    return strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0;
}

/* One of the statuses as a static string (st's own is freed when st's "Status" is set). */
static const char *known_status(const char *s)
{
    static const char *const known[] = {"starting", "healthy", "unhealthy"};
    for (size_t i = 0; s && i < TUG_ARRAY_SIZE(known); i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return known[0];
}

json_t *tug_health_state_json(tug_store *s, tug_container *c)
{
    tug_health_check hc;
    int has = tug_health_check_get(json_object_get(c->config, "Config"), &hc);
    tug_health_check_clear(&hc);
    if (has <= 0 || c->started_ns <= 0)
        return NULL;
    json_auto_t *st = state_load(s, c->id);
    json_t *log = json_object_get(st, "Log");
    bool this_run = json_integer_value(json_object_get(st, "Run")) == c->started_ns;
    const char *status = "starting";
    long long streak = 0;
    if (!is_running(c) || strcmp(c->state, TUG_STATE_PAUSED) == 0) {
        /* docker stops the health monitor of a paused container too */
        status = "unhealthy";
        streak = json_integer_value(json_object_get(st, "FailingStreak"));
    } else if (this_run) {
        status = known_status(json_string_value(json_object_get(st, "Status")));
        streak = json_integer_value(json_object_get(st, "FailingStreak"));
    }
    json_t *h = json_object();
    json_object_set_new(h, "Status", json_string(status));
    json_object_set_new(h, "FailingStreak", json_integer(streak));
    json_object_set_new(h, "Log", json_is_array(log) ? json_incref(log) : json_array());
    return h;
}

const char *tug_health_status(tug_store *s, tug_container *c)
{
    json_auto_t *h = tug_health_state_json(s, c);
    return h ? known_status(json_string_value(json_object_get(h, "Status"))) : "none";
}

/* ---- one probe ---- */

typedef struct probe_result {
    long long start, end;
    int exit_code;
    char out[TUG_HEALTH_OUTPUT_MAX];
    size_t len;
} probe_result;

/* Read the process's stdout and stderr into r (the first TUG_HEALTH_OUTPUT_MAX bytes, the rest
 * read and dropped) until both end or the deadline; false when the deadline came first. */
static bool collect(tug_exec_proc *p, probe_result *r, long long deadline)
{
    int fds[2] = {p->out, p->err};
    for (;;) {
        struct pollfd pf[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0)
                pf[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (n == 0)
            return true;
        long long left = (deadline - tug_now_ns()) / 1000000;
        if (left <= 0)
            return false;
        int pr = poll(pf, n, left > 60000 ? 60000 : (int)left + 1);
        if (pr < 0 && errno != EINTR)
            return true;
        for (nfds_t k = 0; pr > 0 && k < n; k++) {
            if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t got = read(pf[k].fd, buf, sizeof(buf));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                for (int i = 0; i < 2; i++)
                    if (fds[i] == pf[k].fd)
                        fds[i] = -1;
                continue;
            }
            size_t take = sizeof(r->out) - r->len;
            if (take > (size_t)got)
                take = (size_t)got;
            memcpy(r->out + r->len, buf, take);
            r->len += take;
        }
    }
}

static void run_probe(tug_store *s, tug_container *c, const tug_health_check *hc, probe_result *r)
{
    r->start = tug_now_ns();
    tug_exec_opts o = {.args = hc->argv, .console = -1, .die_with_helper = true};
    tug_exec_proc p = {.in = -1, .out = -1, .err = -1};
    tug_error *err = NULL;
    if (tug_container_exec(s, c, &o, &p, &err) < 0) {
        r->exit_code = -1;
        r->len = (size_t)snprintf(r->out, sizeof(r->out), "%s", err->msg);
        if (r->len >= sizeof(r->out))
            r->len = sizeof(r->out) - 1;
        tug_error_free(err);
        r->end = tug_now_ns();
        return;
    }
    if (p.in >= 0)
        close(p.in);
    long long deadline = r->start + hc->timeout;
    bool done = collect(&p, r, deadline);
    if (done) {
        /* the process may have closed its stdio and run on: the timeout holds for it too */
        cleanup_close int pidfd = tug_pidfd_open(p.pid);
        long long left = (deadline - tug_now_ns()) / 1000000 + 1;
        done = pidfd < 0 || tug_pidfd_wait(pidfd, left < 1         ? 1
                                                  : left > INT_MAX ? INT_MAX
                                                                   : (int)left);
    }
    if (!done)
        kill(p.pid, SIGKILL); /* the process dies with its helper (die_with_helper) */
    int st = 0;
    while (waitpid(p.pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (p.out >= 0)
        close(p.out);
    if (p.err >= 0)
        close(p.err);
    r->end = tug_now_ns();
    /* docker records the probe's end as any exec's */
    tug_exec_event(s, c, "exec_die", NULL, p.exec_id,
                   WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    if (!done) {
        cleanup_free char *d = tug_health_duration_string(hc->timeout);
        r->exit_code = -1;
        r->len = (size_t)snprintf(r->out, sizeof(r->out), "Health check exceeded timeout (%s)",
                                  d ? d : "?");
        return;
    }
    r->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static json_t *time_json(long long ns)
{
    cleanup_free char *t = tug_format_rfc3339(ns / 1000000000LL, (long)(ns % 1000000000LL));
    return json_string(t ? t : "");
}

/* The output as a JSON string: valid UTF-8 kept, other bytes as U+FFFD, as Go's encoder does. */
static json_t *output_json(const probe_result *r)
{
    json_t *j = json_stringn(r->out, r->len);
    if (j)
        return j;
    tug_strbuf b = {0};
    for (size_t i = 0; i < r->len; i++) {
        unsigned char ch = (unsigned char)r->out[i];
        if (ch < 0x80) {
            tug_strbuf_addc(&b, (char)ch);
            continue;
        }
        size_t n = (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
        json_t *one = n && i + n <= r->len ? json_stringn(r->out + i, n) : NULL;
        if (one) {
            tug_strbuf_add(&b, r->out + i, n);
            json_decref(one);
            i += n - 1;
        } else {
            tug_strbuf_adds(&b, "\xef\xbf\xbd");
        }
    }
    cleanup_free char *text = tug_strbuf_steal(&b);
    return json_string(text ? text : "");
}

/* docker's rules: a pass makes it healthy; a failure counts towards retries unless the
 * container is still starting inside its start period. */
static const char *judge(json_t *st, const tug_container *c, const tug_health_check *hc,
                         const probe_result *r)
{
    const char *status = known_status(json_string_value(json_object_get(st, "Status")));
    long long streak = json_integer_value(json_object_get(st, "FailingStreak"));
    if (r->exit_code == 0) {
        streak = 0;
        status = "healthy";
    } else if (!(strcmp(status, "starting") == 0 && r->start - c->started_ns < hc->start_period)) {
        streak++;
        if (streak >= hc->retries)
            status = "unhealthy";
    }
    json_object_set_new(st, "FailingStreak", json_integer(streak));
    return status;
}

static int record(tug_store *s, tug_container *c, const tug_health_check *hc, const probe_result *r,
                  int *ret_status, tug_error **err)
{
    json_auto_t *st = state_load(s, c->id);
    if (st == NULL)
        st = json_object();
    if (json_integer_value(json_object_get(st, "Run")) != c->started_ns) {
        /* a new run of the container: starting again, the log kept */
        json_object_set_new(st, "Run", json_integer(c->started_ns));
        json_object_set_new(st, "Status", json_string("starting"));
        json_object_set_new(st, "FailingStreak", json_integer(0));
    }
    json_t *log = json_object_get(st, "Log");
    if (!json_is_array(log)) {
        log = json_array();
        json_object_set_new(st, "Log", log);
    }
    while (json_array_size(log) >= TUG_HEALTH_LOG_ENTRIES)
        json_array_remove(log, 0);
    json_t *e = json_object();
    json_object_set_new(e, "Start", time_json(r->start));
    json_object_set_new(e, "End", time_json(r->end));
    json_object_set_new(e, "ExitCode", json_integer(r->exit_code));
    json_object_set_new(e, "Output", output_json(r));
    json_array_append_new(log, e);
    const char *old = known_status(json_string_value(json_object_get(st, "Status")));
    const char *status = judge(st, c, hc, r);
    char action[64];
    snprintf(action, sizeof(action), "health_status: %s", status);
    if (strcmp(old, status) != 0)
        tug_container_event(s, c, action, NULL);
    json_object_set_new(st, "Status", json_string(status));
    cleanup_free char *text = json_dumps(st, JSON_COMPACT);
    cleanup_free char *path = state_path(s, c->id);
    if (text == NULL || path == NULL)
        return tug_error_set(err, ENOMEM, "record the health of %s", c->id);
    if (tug_write_file_atomic_nosync(path, text, strlen(text), 0600, err) < 0)
        return -1;
    *ret_status = strcmp(status, "healthy") == 0     ? TUG_HEALTH_HEALTHY
                  : strcmp(status, "unhealthy") == 0 ? TUG_HEALTH_UNHEALTHY
                                                     : TUG_HEALTH_STARTING;
    return 0;
}

int tug_health_probe(tug_store *s, tug_container *c, int *ret_status, tug_error **err)
{
    *ret_status = TUG_HEALTH_NONE;
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    /* a paused container is not probed (docker stops its monitor meanwhile) */
    if (strcmp(c->state, TUG_STATE_RUNNING) != 0 || !tug_container_alive(c))
        return 0;
    tug_health_check hc;
    int has = tug_health_check_get(json_object_get(c->config, "Config"), &hc);
    if (has < 0)
        return tug_error_set(err, ENOMEM, "health check of %s", c->id);
    if (has == 0)
        return 0;
    probe_result *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        tug_health_check_clear(&hc);
        return tug_error_set(err, ENOMEM, "health check of %s", c->id);
    }
    run_probe(s, c, &hc, r);
    int rc = record(s, c, &hc, r, ret_status, err);
    free(r);
    tug_health_check_clear(&hc);
    return rc;
}
