/* logs: reading the json-file log the monitor writes, and following it while the container
 * runs. The CLI prints the lines, tug serve frames them for the Engine API. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/container.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "logs.h"

/* One recorded line through the time bounds to emit; a negative return stops the reading. */
static int emit_line(const char *line, const tug_logs_opts *o)
{
    json_t *rec = json_loads(line, 0, NULL);
    if (rec == NULL)
        return 0;
    const char *time_s = json_string_value(json_object_get(rec, "time"));
    long long sec = 0;
    long nsec = 0;
    if (time_s)
        tug_parse_rfc3339(time_s, &sec, &nsec);
    long long t = sec * 1000000000LL + nsec;
    int r = 0;
    if (!((o->since_ns && t < o->since_ns) || (o->until_ns && t > o->until_ns))) {
        const char *stream = json_string_value(json_object_get(rec, "stream"));
        json_t *log = json_object_get(rec, "log");
        tug_log_entry e = {.is_stderr = stream && strcmp(stream, "stderr") == 0,
                           .time = time_s,
                           .text = json_string_value(log) ? json_string_value(log) : "",
                           .len = json_string_length(log)};
        r = o->emit(o->data, &e);
    }
    json_decref(rec);
    return r;
}

/* Lines of the log files, oldest first (rotated files are log.N ... log.1, then log). */
static void read_all(const char *path, char ***ret_lines, size_t *ret_n)
{
    char **lines = NULL;
    size_t n = 0;
    for (int i = 10; i >= 0; i--) {
        char p[4096];
        if (i)
            snprintf(p, sizeof(p), "%s.%d", path, i);
        else
            snprintf(p, sizeof(p), "%s", path);
        FILE *f = fopen(p, "re");
        if (f == NULL)
            continue;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
            char **nl = realloc(lines, (n + 1) * sizeof(*nl));
            if (nl == NULL)
                break;
            lines = nl;
            lines[n++] = strdup(line);
        }
        free(line);
        fclose(f);
    }
    *ret_lines = lines;
    *ret_n = n;
}

static bool running(const tug_container *c)
{
    return strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0 ||
           strcmp(c->state, TUG_STATE_RESTARTING) == 0;
}

/* Follow: read what is appended to path until the container has stopped and the file is
 * drained. */
static int follow(tug_store *s, const char *id, const char *path, const tug_logs_opts *o)
{
    int watch = -1;
    if (o->from_now) {
        cleanup_free char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = '\0';
            watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
            if (watch >= 0 && inotify_add_watch(watch, dir, IN_CREATE) < 0) {
                close(watch);
                watch = -1;
            }
        }
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && !o->from_now)
        return 0;
    if (fd >= 0)
        lseek(fd, 0, SEEK_END);
    char buf[65536];
    size_t have = 0;
    cleanup_free char *pending = malloc(1 << 20);
    const size_t cap = 1 << 20;
    int stop = pending ? 0 : -1;
    while (stop == 0) {
        /* a log the first start has not made yet is read from its beginning */
        if (fd < 0)
            fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf)) : 0;
        if (r > 0) {
            for (ssize_t i = 0; i < r && stop == 0; i++) {
                if (have < cap - 1)
                    pending[have++] = buf[i];
                if (buf[i] == '\n') {
                    pending[have] = '\0';
                    stop = emit_line(pending, o) < 0;
                    have = 0;
                }
            }
            continue;
        }
        cleanup_container tug_container *ct = NULL;
        tug_error *err = NULL;
        /* a container its --rm has removed has ended: what the open log still holds is read */
        bool gone = tug_container_find(s, id, &ct, &err) < 0 ||
                    tug_container_refresh(s, ct, &err) < 0;
        tug_error_free(err);
        bool waiting = !gone && o->from_now && strcmp(ct->state, TUG_STATE_CREATED) == 0;
        if (gone || (!running(ct) && !waiting)) {
            /* one last read after the monitor finished writing */
            r = fd >= 0 ? read(fd, buf, sizeof(buf)) : 0;
            if (r <= 0)
                break;
            lseek(fd, -r, SEEK_CUR);
            continue;
        }
        struct stat st;
        if (fd >= 0 && stat(path, &st) == 0 && st.st_size < lseek(fd, 0, SEEK_CUR)) {
            /* rotated: start over on the new file */
            close(fd);
            fd = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (o->stop && o->stop(o->data))
            break;
        /* before the first start: woken as soon as the log is made, so that it is open
         * before a quick container ends and its --rm takes the file away */
        struct pollfd p = {.fd = fd < 0 ? watch : -1, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t n = read(watch, ev, sizeof(ev));
            const char *base = strrchr(path, '/') + 1;
            for (ssize_t off = 0; n > 0 && off < n && fd < 0;) {
                const struct inotify_event *ie = (const void *)(ev + off);
                if (ie->len && strcmp(ie->name, base) == 0)
                    fd = open(path, O_RDONLY | O_CLOEXEC); /* at once: see above */
                off += (ssize_t)(sizeof(*ie) + ie->len);
            }
        }
    }
    if (watch >= 0)
        close(watch);
    if (fd >= 0)
        close(fd);
    return 0;
}

int tug_logs_read(tug_store *s, tug_container *ct, const tug_logs_opts *o, tug_error **err)
{
    const char *driver = json_string_value(json_object_get(
        json_object_get(json_object_get(ct->config, "HostConfig"), "LogConfig"), "Type"));
    if (driver && strcmp(driver, "none") == 0)
        return tug_error_set(err, 0,
                              "configured logging driver does not support reading: container "
                              "%s logs with --log-driver none",
                              ct->name);
    cleanup_free char *dir = tug_container_dir(s, ct->id);
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/%s-json.log", dir, ct->id) < 0)
        return tug_error_set(err, ENOMEM, "logs");
    if (o->from_now)
        return follow(s, ct->id, path, o);
    char **lines = NULL;
    size_t n = 0;
    read_all(path, &lines, &n);
    size_t first = o->tail >= 0 && (size_t)o->tail < n ? n - (size_t)o->tail : 0;
    bool stopped = false;
    for (size_t i = 0; i < n; i++) {
        if (i >= first && !stopped)
            stopped = emit_line(lines[i], o) < 0;
        free(lines[i]);
    }
    free(lines);
    if (!o->follow || stopped)
        return 0;
    return follow(s, ct->id, path, o);
}
