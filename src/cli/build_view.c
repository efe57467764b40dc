/* How a build's progress is drawn: BuildKit's plain lines, or its terminal view redrawn in
 * place. Both take the library's events (build.h). */
#include "build_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_VERTICES 4096
#define TTY_LOG_LINES 6

/* BuildKit's plain progress: "#N name", then the vertex's lines, "#N DONE 0.3s". */
typedef struct plain_view {
    FILE *out;
    int last; /* the vertex printed last: a blank line separates groups */
    double started[MAX_VERTICES];
    char *pending[MAX_VERTICES]; /* a log line not ended yet */
} plain_view;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void group(plain_view *v, int vertex)
{
    if (v->last != 0 && v->last != vertex)
        fputc('\n', v->out);
    v->last = vertex;
}

static void plain_start(void *ud, int vertex, const char *name)
{
    plain_view *v = ud;
    if (vertex <= 0 || vertex >= MAX_VERTICES)
        return;
    v->started[vertex] = now_s();
    group(v, vertex);
    fprintf(v->out, "#%d %s\n", vertex, name);
    fflush(v->out);
}

static void plain_status(void *ud, int vertex, const char *text)
{
    plain_view *v = ud;
    group(v, vertex);
    fprintf(v->out, "#%d %s\n", vertex, text);
    fflush(v->out);
}

static void log_line(plain_view *v, int vertex, const char *line, size_t n)
{
    double t = vertex > 0 && vertex < MAX_VERTICES ? now_s() - v->started[vertex] : 0;
    group(v, vertex);
    fprintf(v->out, "#%d %.3f %.*s\n", vertex, t, (int)n, line);
}

static void flush_pending(plain_view *v, int vertex)
{
    if (vertex <= 0 || vertex >= MAX_VERTICES || v->pending[vertex] == NULL)
        return;
    log_line(v, vertex, v->pending[vertex], strlen(v->pending[vertex]));
    free(v->pending[vertex]);
    v->pending[vertex] = NULL;
}

static void plain_log(void *ud, int vertex, int stream, const char *buf, size_t len)
{
    plain_view *v = ud;
    (void)stream;
    if (vertex <= 0 || vertex >= MAX_VERTICES)
        return;
    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        char *prev = v->pending[vertex];
        char *joined = NULL;
        if (asprintf(&joined, "%s%.*s", prev ? prev : "", (int)n, buf) < 0)
            return;
        free(prev);
        v->pending[vertex] = joined;
        if (nl == NULL)
            break;
        flush_pending(v, vertex);
        buf += n + 1;
        len -= n + 1;
    }
    fflush(v->out);
}

static void plain_cached(void *ud, int vertex)
{
    plain_view *v = ud;
    group(v, vertex);
    fprintf(v->out, "#%d CACHED\n", vertex);
    fflush(v->out);
}

static void plain_done(void *ud, int vertex)
{
    plain_view *v = ud;
    flush_pending(v, vertex);
    double t = vertex > 0 && vertex < MAX_VERTICES ? now_s() - v->started[vertex] : 0;
    group(v, vertex);
    fprintf(v->out, "#%d DONE %.1fs\n", vertex, t);
    fflush(v->out);
}

static void plain_error(void *ud, int vertex, const char *message)
{
    plain_view *v = ud;
    flush_pending(v, vertex);
    group(v, vertex);
    fprintf(v->out, "#%d ERROR: %s\n", vertex, message);
    fflush(v->out);
}

static void plain_canceled(void *ud, int vertex)
{
    plain_view *v = ud;
    flush_pending(v, vertex);
    group(v, vertex);
    fprintf(v->out, "#%d CANCELED\n", vertex);
    fflush(v->out);
}

/* ---- BuildKit's terminal view: every vertex on a line, its time running, the last lines of a
 * running step's output under it, redrawn in place ---- */

typedef struct tty_vertex {
    char *name;
    char state; /* 'r' running, 'd' done, 'c' cached, 'e' error */
    double start, end;
    char *logs[TTY_LOG_LINES];
    size_t n_logs;
    char *partial;
    char *why; /* "cache miss: ...": stays under the step when it is done */
} tty_vertex;

typedef struct tty_view {
    FILE *out;
    double start, last_draw;
    int drawn; /* lines of the last drawing, to go up over */
    tty_vertex *v;
    int n;
    bool failed;
} tty_view;

static tty_vertex *tty_at(tty_view *t, int vertex)
{
    if (vertex <= 0 || vertex >= MAX_VERTICES)
        return NULL;
    if (vertex > t->n) {
        tty_vertex *nv = realloc(t->v, (size_t)vertex * sizeof(*nv));
        if (nv == NULL)
            return NULL;
        memset(nv + t->n, 0, (size_t)(vertex - t->n) * sizeof(*nv));
        t->v = nv;
        t->n = vertex;
    }
    return &t->v[vertex - 1];
}

static int term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

static void tty_draw(tty_view *t, bool final)
{
    double now = now_s();
    if (!final && now - t->last_draw < 0.1)
        return;
    t->last_draw = now;
    int width = term_width(t->out);
    if (t->drawn > 0)
        fprintf(t->out, "\033[%dA", t->drawn);
    int lines = 0, done = 0;
    for (int i = 0; i < t->n; i++)
        done += t->v[i].state != 'r' && t->v[i].name;
    fprintf(t->out, "\r\033[K[+] Building %.1fs (%d/%d)%s\n", now - t->start, done, t->n,
            final ? (t->failed ? " FAILED" : " FINISHED") : "");
    lines++;
    for (int i = 0; i < t->n; i++) {
        tty_vertex *x = &t->v[i];
        if (x->name == NULL)
            continue;
        double took = (x->state == 'r' ? now : x->end) - x->start;
        char right[32];
        snprintf(right, sizeof(right), " %.1fs", took < 0 ? 0 : took);
        const char *prefix = x->state == 'c'   ? " => CACHED "
                             : x->state == 'e' ? " => ERROR "
                             : x->state == 'x' ? " => CANCELED "
                                               : " => ";
        int room = width - (int)strlen(prefix) - (int)strlen(right) - 1;
        if (room < 10)
            room = 10;
        fprintf(t->out, "\r\033[K%s%-*.*s%s\n", prefix, room, room, x->name, right);
        lines++;
        if (x->state == 'r' || x->state == 'e')
            for (size_t k = 0; k < x->n_logs; k++) {
                fprintf(t->out, "\r\033[K => => # %.*s\n", width > 12 ? width - 12 : 1, x->logs[k]);
                lines++;
            }
        else if (x->why) {
            fprintf(t->out, "\r\033[K => => # %.*s\n", width > 12 ? width - 12 : 1, x->why);
            lines++;
        }
    }
    /* what a shorter drawing leaves of the last one is cleared */
    for (int k = lines; k < t->drawn; k++)
        fprintf(t->out, "\r\033[K\n");
    if (t->drawn > lines)
        fprintf(t->out, "\033[%dA", t->drawn - lines);
    t->drawn = lines;
    fflush(t->out);
}

static void tty_start(void *ud, int vertex, const char *name)
{
    tty_view *t = ud;
    tty_vertex *x = tty_at(t, vertex);
    if (x == NULL)
        return;
    free(x->name);
    x->name = strdup(name);
    x->state = 'r';
    x->start = now_s();
    tty_draw(t, false);
}

static void tty_finish(tty_view *t, int vertex, char state)
{
    tty_vertex *x = tty_at(t, vertex);
    if (x == NULL)
        return;
    x->state = state;
    x->end = now_s();
    if (state == 'e')
        t->failed = true;
    tty_draw(t, false);
}

static void tty_add_log(tty_vertex *x, const char *line, size_t n)
{
    if (x->n_logs == TTY_LOG_LINES) {
        free(x->logs[0]);
        memmove(x->logs, x->logs + 1, (TTY_LOG_LINES - 1) * sizeof(char *));
        x->n_logs--;
    }
    x->logs[x->n_logs] = strndup(line, n);
    if (x->logs[x->n_logs])
        x->n_logs++;
}

static void tty_status(void *ud, int vertex, const char *text)
{
    tty_vertex *x = tty_at(ud, vertex);
    if (x)
        tty_add_log(x, text, strlen(text));
    if (x && strncmp(text, "cache miss: ", 12) == 0) {
        free(x->why);
        x->why = strdup(text);
    }
    tty_draw(ud, false);
}

static void tty_log(void *ud, int vertex, int stream, const char *buf, size_t len)
{
    (void)stream;
    tty_vertex *x = tty_at(ud, vertex);
    if (x == NULL)
        return;
    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        if (nl == NULL) {
            char *joined = NULL;
            if (asprintf(&joined, "%s%.*s", x->partial ? x->partial : "", (int)n, buf) >= 0) {
                free(x->partial);
                x->partial = joined;
            }
            break;
        }
        char *line = NULL;
        if (asprintf(&line, "%s%.*s", x->partial ? x->partial : "", (int)n, buf) >= 0) {
            tty_add_log(x, line, strlen(line));
            free(line);
        }
        free(x->partial);
        x->partial = NULL;
        buf += n + 1;
        len -= n + 1;
    }
    tty_draw(ud, false);
}

static void tty_cached(void *ud, int vertex)
{
    tty_finish(ud, vertex, 'c');
}

static void tty_done(void *ud, int vertex)
{
    tty_finish(ud, vertex, 'd');
}

static void tty_error(void *ud, int vertex, const char *message)
{
    tty_vertex *x = tty_at(ud, vertex);
    if (x)
        tty_add_log(x, message, strlen(message));
    tty_finish(ud, vertex, 'e');
}

static void tty_canceled(void *ud, int vertex)
{
    tty_finish(ud, vertex, 'x');
}

/* ---- either ---- */

struct build_view {
    bool tty;
    plain_view plain;
    tty_view t;
};

build_view *build_view_new(bool tty, FILE *out)
{
    build_view *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->tty = tty;
    v->plain.out = out;
    v->t.out = out;
    v->t.start = now_s();
    return v;
}

tug_build_events build_view_events(build_view *v)
{
    if (v->tty)
        return (tug_build_events){.start = tty_start, .status = tty_status, .log = tty_log,
                                  .cached = tty_cached, .done = tty_done, .error = tty_error,
                                  .canceled = tty_canceled, .userdata = &v->t};
    return (tug_build_events){.start = plain_start, .status = plain_status, .log = plain_log,
                              .cached = plain_cached, .done = plain_done, .error = plain_error,
                              .canceled = plain_canceled, .userdata = &v->plain};
}

void build_view_free(build_view *v, bool ok)
{
    if (v == NULL)
        return;
    if (v->tty) {
        v->t.failed |= !ok;
        tty_draw(&v->t, true);
        for (int i = 0; i < v->t.n; i++) {
            free(v->t.v[i].name);
            free(v->t.v[i].partial);
            free(v->t.v[i].why);
            for (size_t k = 0; k < v->t.v[i].n_logs; k++)
                free(v->t.v[i].logs[k]);
        }
        free(v->t.v);
    }
    for (int i = 0; i < MAX_VERTICES; i++)
        free(v->plain.pending[i]);
    free(v);
}
