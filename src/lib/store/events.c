/* The event log: writing (one O_APPEND write per event, rotation at a bound), filtering, and
 * reading with following. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "events.h"

#define LOG_NAME "events.log"

static char *events_dir(tug_store *s)
{
    char *p = NULL;
    return asprintf(&p, "%s/events", s->root) < 0 ? NULL : p;
}

static char *events_path(tug_store *s, bool old)
{
    char *p = NULL;
    return asprintf(&p, "%s/events/" LOG_NAME "%s", s->root, old ? ".1" : "") < 0 ? NULL : p;
}

/* TUG_EVENTS_MAX_BYTES, or $TUG_EVENTS_MAX_BYTES (tests use a small one). */
static long long max_bytes(void)
{
    const char *v = getenv("TUG_EVENTS_MAX_BYTES");
    long long n = v ? atoll(v) : 0;
    return n > 0 ? n : TUG_EVENTS_MAX_BYTES;
}

static int open_log(tug_store *s, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT) {
        cleanup_free char *dir = events_dir(s);
        if (dir && mkdir(dir, 0700) < 0 && errno != EEXIST)
            return -1;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    return fd;
}

/* The log is full: under its lock, and only if no other writer rotated it meanwhile (the path
 * still names the file fd has open), it becomes events.log.1. */
static void rotate(tug_store *s, int fd, const char *path, long long limit)
{
    cleanup_free char *old = events_path(s, true);
    struct stat a, b;
    if (old == NULL || flock(fd, LOCK_EX) < 0)
        return;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
        a.st_size >= limit)
        rename(path, old);
    flock(fd, LOCK_UN);
}

static void append_line(tug_store *s, const char *line, size_t len)
{
    cleanup_free char *path = events_path(s, false);
    if (path == NULL)
        return;
    long long limit = max_bytes();
    cleanup_close int fd = open_log(s, path);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size + (long long)len > limit) {
        rotate(s, fd, path, limit - (long long)len);
        close(fd);
        fd = open_log(s, path);
    }
    /* one write: with O_APPEND, lines of concurrent writers never interleave */
    if (fd >= 0 && write(fd, line, len) != (ssize_t)len) {
        /* lost: an event never fails the command */
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* attrs with its keys in order, as docker (Go's maps) prints them. */
static json_t *sorted_attrs(json_t *attrs)
{
    json_t *out = json_object();
    size_t n = json_object_size(attrs), i = 0;
    const char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
    const char *k;
    json_t *v;
    if (out == NULL || (n && keys == NULL)) {
        free(keys);
        return out;
    }
    json_object_foreach(attrs, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++)
        json_object_set(out, keys[i], json_object_get(attrs, keys[i]));
    free(keys);
    return out;
}

/* docker's event object: the legacy status/id/from, Type, Action, Actor, scope and times. */
static json_t *make_event(const char *type, const char *action, const char *id, json_t *attrs,
                          long long ns)
{
    json_t *ev = json_object(), *actor = json_object();
    if (ev == NULL || actor == NULL) {
        json_decref(ev);
        json_decref(actor);
        return NULL;
    }
    /* the fields docker's API had before Type/Actor, which it still sends for these two */
    if (strcmp(type, "container") == 0 || strcmp(type, "image") == 0) {
        json_object_set_new(ev, "status", json_string(action));
        json_object_set_new(ev, "id", json_string(id ? id : ""));
        json_t *from = json_object_get(attrs, "image");
        if (strcmp(type, "container") == 0 && from)
            json_object_set(ev, "from", from);
    }
    json_object_set_new(ev, "Type", json_string(type));
    json_object_set_new(ev, "Action", json_string(action));
    json_object_set_new(actor, "ID", json_string(id ? id : ""));
    json_object_set(actor, "Attributes", attrs);
    json_object_set_new(ev, "Actor", actor);
    json_object_set_new(ev, "scope", json_string("local"));
    json_object_set_new(ev, "time", json_integer(ns / 1000000000LL));
    json_object_set_new(ev, "timeNano", json_integer(ns));
    return ev;
}

void tug_event_emitj(tug_store *s, const char *type, const char *action, const char *id,
                     json_t *attrs)
{
    int saved = errno;
    long long ns = tug_now_ns();
    json_t *sorted = sorted_attrs(attrs);
    json_decref(attrs);
    json_t *ev = s && type && action && sorted ? make_event(type, action, id, sorted, ns) : NULL;
    json_decref(sorted);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    char *line = NULL;
    int len = text ? asprintf(&line, "%s\n", text) : -1;
    if (len > 0)
        append_line(s, line, (size_t)len);
    free(text);
    if (len > 0)
        free(line);
    errno = saved;
}

void tug_event_emit(tug_store *s, const char *type, const char *action, const char *id, ...)
{
    json_t *attrs = json_object();
    va_list ap;
    va_start(ap, id);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (v && attrs)
            json_object_set_new(attrs, k, json_string(v));
    }
    va_end(ap);
    tug_event_emitj(s, type, action, id, attrs);
}

static const char *familiar(const char *name)
{
    if (name && tug_str_has_prefix(name, "docker.io/library/"))
        return name + strlen("docker.io/library/");
    if (name && tug_str_has_prefix(name, "docker.io/"))
        return name + strlen("docker.io/");
    return name;
}

void tug_event_image(tug_store *s, const char *action, const char *id, const char *name)
{
    tug_event_emit(s, "image", action, familiar(id), "name", familiar(name), NULL);
}

/* ---------------- filters ---------------- */

static const char *const filter_keys[] = {"container", "event", "image", "label",
                                          "network",   "type",  "volume"};
#define N_KEYS (sizeof(filter_keys) / sizeof(filter_keys[0]))

struct tug_event_filter {
    char **values[N_KEYS]; /* NULL-terminated per key */
    size_t n[N_KEYS];
};

int tug_event_filter_add(tug_event_filter **f, const char *arg, tug_error **err)
{
    const char *eq = strchr(arg, '=');
    size_t k;
    for (k = 0; eq && k < N_KEYS; k++)
        if (strlen(filter_keys[k]) == (size_t)(eq - arg) &&
            strncmp(arg, filter_keys[k], (size_t)(eq - arg)) == 0)
            break;
    if (eq == NULL || k == N_KEYS)
        return tug_error_user(err,
                              "invalid filter '%s': events filter by container, event, image, "
                              "label, network, type or volume (key=value)",
                              arg);
    if (*f == NULL && (*f = calloc(1, sizeof(**f))) == NULL)
        return tug_error_set(err, ENOMEM, "filter");
    char **v = realloc((*f)->values[k], ((*f)->n[k] + 2) * sizeof(char *));
    if (v == NULL)
        return tug_error_set(err, ENOMEM, "filter");
    (*f)->values[k] = v;
    if ((v[(*f)->n[k]] = strdup(eq + 1)) == NULL)
        return tug_error_set(err, ENOMEM, "filter");
    v[++(*f)->n[k]] = NULL;
    return 0;
}

void tug_event_filter_free(tug_event_filter *f)
{
    if (f == NULL)
        return;
    for (size_t k = 0; k < N_KEYS; k++) {
        for (size_t i = 0; i < f->n[k]; i++)
            free(f->values[k][i]);
        free(f->values[k]);
    }
    free(f);
}

void tug_event_filter_freep(tug_event_filter **f)
{
    tug_event_filter_free(*f);
}

static const char *attr(json_t *ev, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(ev, "Actor"), "Attributes"), key));
}

/* An image as the user names it: "busybox" is "busybox:latest", an ID by its prefix. */
static bool image_match(const char *want, const char *have)
{
    if (have == NULL)
        return false;
    size_t n = strlen(want);
    if (strcmp(want, have) == 0)
        return true;
    if (strncmp(have, want, n) == 0 && strcmp(have + n, ":latest") == 0)
        return true;
    const char *hex = tug_str_has_prefix(have, "sha256:") ? have + 7 : NULL;
    const char *w = tug_str_has_prefix(want, "sha256:") ? want + 7 : want;
    return hex && strlen(w) >= 4 && strncmp(hex, w, strlen(w)) == 0;
}

static bool one_match(size_t k, const char *want, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "Type"));
    const char *action = json_string_value(json_object_get(ev, "Action"));
    const char *id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));
    const char *name = attr(ev, "name");
    if (type == NULL || action == NULL || id == NULL)
        return false;
    const char *key = filter_keys[k];
    if (strcmp(key, "type") == 0)
        return strcmp(type, want) == 0;
    if (strcmp(key, "event") == 0) {
        /* "exec_start: sh -c ..." is an exec_start */
        size_t n = strlen(want);
        return strcmp(action, want) == 0 || (strncmp(action, want, n) == 0 && action[n] == ':');
    }
    if (strcmp(key, "label") == 0) {
        const char *eq = strchr(want, '=');
        cleanup_free char *lk = eq ? strndup(want, (size_t)(eq - want)) : strdup(want);
        const char *v = lk ? attr(ev, lk) : NULL;
        return v && (eq == NULL || strcmp(v, eq + 1) == 0);
    }
    if (strcmp(key, "container") == 0) {
        /* a container's own events, and those of networks and volumes it is attached to */
        const char *cid = strcmp(type, "container") == 0 ? id : attr(ev, "container");
        if (cid && strlen(want) >= 1 && strncmp(cid, want, strlen(want)) == 0)
            return true;
        return strcmp(type, "container") == 0 && name && strcmp(name, want) == 0;
    }
    if (strcmp(key, "image") == 0) {
        if (strcmp(type, "image") == 0)
            return image_match(want, id) || image_match(want, name);
        return strcmp(type, "container") == 0 && image_match(want, attr(ev, "image"));
    }
    /* network, volume: that object's events */
    if (strcmp(type, key) != 0)
        return false;
    return strcmp(id, want) == 0 || (name && strcmp(name, want) == 0) ||
           (strcmp(key, "network") == 0 && strlen(want) >= 1 &&
            strncmp(id, want, strlen(want)) == 0);
}

bool tug_event_filter_match(const tug_event_filter *f, json_t *ev)
{
    if (f == NULL)
        return true;
    for (size_t k = 0; k < N_KEYS; k++) {
        if (f->n[k] == 0)
            continue;
        bool any = false;
        for (size_t i = 0; i < f->n[k] && !any; i++)
            any = one_match(k, f->values[k][i], ev);
        if (!any)
            return false;
    }
    return true;
}

/* ---------------- reading ---------------- */

typedef struct reader {
    long long since, until;
    const tug_event_filter *f;
    tug_event_fn fn;
    void *data;
    tug_strbuf pending; /* a line not yet complete */
    bool stop;
} reader;

static void one_line(reader *r, const char *line)
{
    json_t *ev = json_loads(line, 0, NULL);
    if (ev == NULL)
        return;
    long long t = json_integer_value(json_object_get(ev, "timeNano"));
    if ((r->since == 0 || t >= r->since) && (r->until == 0 || t <= r->until) &&
        tug_event_filter_match(r->f, ev) && r->fn(ev, r->data) != 0)
        r->stop = true;
    json_decref(ev);
}

/* Everything fd has from where it is to its end, line by line. */
static void drain(reader *r, int fd)
{
    char buf[65536];
    ssize_t n;
    while (!r->stop && (n = read(fd, buf, sizeof(buf))) > 0) {
        tug_strbuf_add(&r->pending, buf, (size_t)n);
        if (r->pending.failed)
            return;
        char *start = r->pending.s, *nl;
        while (!r->stop &&
               (nl = memchr(start, '\n', r->pending.len - (size_t)(start - r->pending.s)))) {
            *nl = '\0';
            one_line(r, start);
            start = nl + 1;
        }
        size_t rest = r->pending.len - (size_t)(start - r->pending.s);
        memmove(r->pending.s, start, rest);
        r->pending.len = rest;
    }
}

static void read_file(reader *r, const char *path)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        drain(r, fd);
    r->pending.len = 0; /* a line cut off at the end of a file is not an event */
}

static bool same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

int tug_events_watch(tug_store *s, tug_error **err)
{
    cleanup_free char *dir = events_dir(s);
    if (dir == NULL)
        return tug_error_set(err, ENOMEM, "events");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "events: create %s", dir);
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in < 0 || inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        int e = errno;
        if (in >= 0)
            close(in);
        return tug_error_set(err, e, "events: watch %s", dir);
    }
    return in;
}

void tug_events_watch_drain(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

int tug_events_read(tug_store *s, long long since_ns, long long until_ns, bool follow,
                    const tug_event_filter *f, tug_event_fn fn, void *data, tug_error **err)
{
    reader r = {.since = since_ns, .until = until_ns, .f = f, .fn = fn, .data = data};
    cleanup_free char *path = events_path(s, false), *old = events_path(s, true);
    if (path == NULL || old == NULL)
        return tug_error_set(err, ENOMEM, "events");
    /* watch before reading, so nothing written in between is missed */
    cleanup_close int in = follow ? tug_events_watch(s, err) : -1;
    if (follow && in < 0)
        return -1;
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (since_ns != 0 || !follow) {
        read_file(&r, old);
        if (fd >= 0 && !r.stop)
            drain(&r, fd);
    } else if (fd >= 0) {
        lseek(fd, 0, SEEK_END); /* only what comes from now on */
    }
    while (follow && !r.stop) {
        long long now = tug_now_ns();
        if (until_ns && now > until_ns)
            break;
        long long wait_ms = until_ns ? (until_ns - now) / 1000000 + 1 : 1000;
        struct pollfd p = {.fd = in, .events = POLLIN};
        if (poll(&p, 1, (int)(wait_ms < 1000 ? wait_ms : 1000)) < 0 && errno != EINTR)
            return tug_error_set(err, errno, "events: wait");
        tug_events_watch_drain(in);
        if (fn(NULL, data) != 0) /* a reader whose client may have gone */
            break;
        if (fd >= 0)
            drain(&r, fd);
        if (fd >= 0 && same_file(fd, path))
            continue;
        /* rotated (or first written): what the old file got last is read above; the new one
         * is read from its start */
        if (fd >= 0)
            close(fd);
        r.pending.len = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            drain(&r, fd);
    }
    tug_strbuf_free(&r.pending);
    return 0;
}
