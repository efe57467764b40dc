/* The Engine API's exec endpoints and the interactive streams: exec create, start (on the
 * hijacked connection), inspect and resize; container resize; and the relay attach uses to
 * feed a container's stdin from the connection.
 *
 * An exec lives between requests (docker's client creates it, then starts it, then inspects it
 * for its exit code, each in a request of its own) as a record in the store's run directory
 * (container/execs.h). The start runs it in the connection's own process, as `tug exec` does
 * (tug_container_exec), and relays the connection and the process's pipes or terminal: the
 * output as docker's stdcopy frames without a TTY, raw with one; what the client sends to the
 * process's stdin, its end of input (a half-closed connection) as the end of stdin. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/execs.h"
#include "runtime/attach.h"
#include "runtime/attach_client.h"
#include "runtime/container.h"
#include "runtime/proc.h"
#include "serve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"

/* ---- the relay between a hijacked connection and a process ---- */

typedef struct relay {
    int client; /* the hijacked connection; -1: output dropped (a detached exec) */
    bool tty;   /* output raw; without, in stdcopy frames */
    bool want_out, want_err;
    bool want_in;            /* the client's bytes are the process's stdin */
    int in;                  /* ... written here as they are (a pipe, a terminal's master) */
    int mon;                 /* or a monitor's attach channel: input as frames, output from it */
    bool eof_closes;         /* the client's end of input ends the process's */
    int out, err;            /* an exec's pipes (out: its terminal's master with a tty) */
    int pidfd;               /* the exec's helper: its end ends the relay once out/err are read */
    tug_detach_matcher keys; /* with a tty: the keys that leave it running */
    int exit_code;           /* from the monitor: -1 until known */
    bool detached;
    /* input `in` did not take yet (it is written without blocking: a process that does not
     * read its stdin must not hold its output up); the client is not read meanwhile */
    char pend[16384 + 16];
    size_t pend_off, pend_len;
} relay;

static void to_client(relay *r, int stream, const char *buf, size_t n)
{
    if (r->client < 0 || n == 0 || !(stream == 2 ? r->want_err : r->want_out))
        return;
    if (!r->tty) {
        unsigned char h[8] = {(unsigned char)stream,
                              0,
                              0,
                              0,
                              (unsigned char)(n >> 24),
                              (unsigned char)(n >> 16),
                              (unsigned char)(n >> 8),
                              (unsigned char)n};
        if (tug_write_all(r->client, h, sizeof(h)) < 0) {
            r->client = -1;
            return;
        }
    }
    if (tug_write_all(r->client, buf, n) < 0)
        r->client = -1; /* the client has gone: the process runs on, its output dropped */
}

/* Read what fd has for the client; false at its end. */
static bool drain_one(relay *r, int fd, int stream)
{
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    to_client(r, stream, buf, (size_t)n);
    return true;
}

/* After the process ended: what it wrote is in the pipes (or the terminal) already. */
static void drain_rest(relay *r)
{
    int fds[2] = {r->out, r->tty ? -1 : r->err};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        while (drain_one(r, fds[i], i + 1)) {
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if (poll(&p, 1, 0) <= 0)
                break;
        }
    }
}

/* Write what input is pending, as much as `in` takes now. */
static void flush_input(relay *r)
{
    while (r->pend_off < r->pend_len) {
        ssize_t w = write(r->in, r->pend + r->pend_off, r->pend_len - r->pend_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w < 0) {
            if (r->in != r->out)
                close(r->in); /* the process closed its stdin */
            r->in = -1;
            break;
        }
        r->pend_off += (size_t)w;
    }
    r->pend_off = r->pend_len = 0;
}

/* The client's bytes for the process; false when the detach keys completed. */
static bool from_client(relay *r, const char *buf, size_t n)
{
    char typed[16384 + sizeof(r->keys.keys)];
    size_t len = n;
    bool detach = false;
    if (r->tty && r->keys.len)
        detach = tug_detach_filter(&r->keys, buf, n, typed, &len);
    else
        memcpy(typed, buf, n);
    if (len > 0) {
        if (r->mon >= 0)
            tug_frame_write(r->mon, TUG_FRAME_STDIN, typed, len);
        else if (r->in >= 0) {
            memcpy(r->pend, typed, len);
            r->pend_off = 0;
            r->pend_len = len;
            flush_input(r);
        }
    }
    return !detach;
}

/* The client ended its input (it half-closed the connection). A terminal's user ends input
 * with a ^D of their own, which went through as typed: the end of the connection's input is
 * then the client leaving (docker's client ends it so when it detaches), and the process
 * runs on, as with dockerd. */
static void client_eof(relay *r)
{
    if (r->tty)
        return;
    if (r->mon >= 0) {
        if (r->eof_closes)
            tug_frame_write(r->mon, TUG_FRAME_STDIN_EOF, NULL, 0);
    } else if (r->in >= 0) {
        close(r->in);
        r->in = -1;
    }
}

/* Relay until the process ends (its helper's pidfd, or the monitor's EXIT frame), the client
 * hangs up, or the user detaches. */
static void relay_run(relay *r)
{
    static char buf[TUG_FRAME_MAX];
    bool in_open = r->want_in && r->client >= 0;
    bool out_open = r->out >= 0, err_open = r->err >= 0 && !r->tty;
    if (r->in >= 0)
        fcntl(r->in, F_SETFL, fcntl(r->in, F_GETFL) | O_NONBLOCK);
    for (;;) {
        bool pending = r->pend_len > 0 && r->in >= 0;
        struct pollfd p[6] = {
            {.fd = r->client, .events = in_open && !pending ? POLLIN : 0},
            {.fd = out_open ? r->out : -1, .events = POLLIN},
            {.fd = err_open ? r->err : -1, .events = POLLIN},
            {.fd = r->mon, .events = POLLIN},
            {.fd = r->pidfd, .events = POLLIN},
            {.fd = pending ? r->in : -1, .events = POLLOUT},
        };
        if (poll(p, 6, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents & POLLIN) {
            ssize_t n = read(r->client, buf, 16384);
            if (n > 0 && !from_client(r, buf, (size_t)n)) {
                r->detached = true;
                return;
            }
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                in_open = false;
                client_eof(r);
            }
        } else if (p[0].revents & (POLLHUP | POLLERR)) {
            /* the client has gone altogether; an exec's process runs on without it, with the
             * end of its input after what the client sent */
            if (r->pidfd < 0)
                return;
            r->client = -1;
            if (in_open && r->in >= 0) {
                fcntl(r->in, F_SETFL, fcntl(r->in, F_GETFL) & ~O_NONBLOCK);
                flush_input(r);
                client_eof(r);
            }
            in_open = false;
        }
        if (p[5].revents)
            flush_input(r);
        if (p[1].revents && !drain_one(r, r->out, 1))
            out_open = false;
        if (p[2].revents && !drain_one(r, r->err, 2))
            err_open = false;
        if (p[3].revents) {
            size_t len = 0;
            int t = tug_frame_read(r->mon, buf, &len);
            if (t < 0)
                return;
            if (t == TUG_FRAME_STDOUT || t == TUG_FRAME_STDERR)
                to_client(r, t, buf, len);
            else if (t == TUG_FRAME_EXIT && len == 4) {
                unsigned char *b = (unsigned char *)buf;
                r->exit_code =
                    (int)((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3]);
                return;
            }
        }
        if (p[4].revents) {
            drain_rest(r);
            return;
        }
        if (r->pidfd < 0 && r->mon < 0 && !out_open && !err_open)
            return;
    }
}

/* ---- exec ---- */

/* The container of an exec or of the path, brought up to date; 409 when it does not run. */
static int running_container(const tug_api_call *a, tug_store *s, const char *id,
                             tug_container **ret)
{
    tug_error *err = NULL;
    if (tug_container_find(s, id, ret, &err) < 0 || tug_container_refresh(s, *ret, &err) < 0) {
        tug_api_send_err(a->o, err);
        return -1;
    }
    if (!tug_container_alive(*ret) || strcmp((*ret)->state, TUG_STATE_RUNNING) != 0) {
        bool paused = strcmp((*ret)->state, TUG_STATE_PAUSED) == 0;
        tug_error_conflict(&err,
                           paused ? "Container %s is paused, unpause the container first"
                                  : "Container %s is not running",
                           (*ret)->id);
        tug_container_free(*ret);
        *ret = NULL;
        tug_api_send_err(a->o, err);
        return -1;
    }
    return 0;
}

int tug_api_exec_create(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, "give the exec's configuration as a JSON object");
    if (body == NULL)
        return 0;
    tug_store *s;
    if (tug_api_store(a->x, a->o, &s) < 0)
        return 0;
    cleanup_container tug_container *c = NULL;
    if (running_container(a, s, a->arg, &c) < 0)
        return 0;
    const char *keys = json_string_value(json_object_get(body, "DetachKeys"));
    unsigned char kb[16];
    size_t kl;
    if (keys && *keys && tug_detach_keys_parse(keys, kb, sizeof(kb), &kl) < 0)
        return tug_http_send_error(a->o, 400,
                                   "Invalid detach keys provided: use ctrl-a..ctrl-z, "
                                   "ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ "
                                   "or single characters, comma separated");
    json_t *rec = NULL;
    tug_error *err = NULL;
    if (tug_exec_record_create(s, c, body, &rec, &err) < 0)
        return tug_api_send_err(a->o, err);
    json_t *doc = json_pack("{s:O}", "Id", json_object_get(rec, "ID"));
    json_decref(rec);
    return tug_http_send_json(a->o, 201, doc);
}

/* The store and the record of the exec the path names; -1 after answering (404). */
static int find_exec(const tug_api_call *a, tug_store **ret_s, json_t **ret)
{
    if (tug_api_store(a->x, a->o, ret_s) < 0)
        return -1;
    tug_error *err = NULL;
    if (tug_exec_record_load(*ret_s, a->arg, ret, &err) < 0) {
        tug_api_send_err(a->o, err);
        return -1;
    }
    return 0;
}

int tug_api_exec_inspect(const tug_api_call *a)
{
    tug_store *s;
    json_auto_t *rec = NULL;
    if (find_exec(a, &s, &rec) < 0)
        return 0;
    return tug_http_send_json(a->o, 200, tug_exec_record_public(rec));
}

/* A NULL-ended copy of a JSON array of strings (pointing into it). */
static char **string_list(json_t *a)
{
    size_t n = json_array_size(a);
    char **v = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (char *)json_string_value(json_array_get(a, i));
    return v;
}

/* The detach keys of the exec (its DetachKeys, else docker's ctrl-p,ctrl-q). */
static void detach_keys(const char *spec, tug_detach_matcher *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (spec == NULL || *spec == '\0' ||
        tug_detach_keys_parse(spec, ret->keys, sizeof(ret->keys), &ret->len) < 0) {
        ret->keys[0] = 16; /* ctrl-p */
        ret->keys[1] = 17; /* ctrl-q */
        ret->len = 2;
    }
}

/* Run exec rec in container c and relay it to client (-1: nobody, a detached exec); the
 * record says it runs, then how it ended. hijack: the request whose head is answered first (a
 * process that could not start has its runtime's words as the stream, as docker writes them). */
static void exec_run(tug_store *s, tug_container *c, json_t *rec, int client,
                     const tug_api_call *hijack, int report)
{
    json_t *cfg = json_object_get(rec, "Config");
    bool tty = json_is_true(json_object_get(cfg, "Tty"));
    cleanup_free char **args = string_list(json_object_get(cfg, "Cmd"));
    cleanup_free char **env = string_list(json_object_get(cfg, "Env"));
    tug_exec_opts o = {
        .args = args,
        .env = env,
        .cwd = json_string_value(json_object_get(cfg, "WorkingDir")),
        .user = json_string_value(json_object_get(cfg, "User")),
        .privileged = json_is_true(json_object_get(cfg, "Privileged")),
        .interactive = client >= 0 && json_is_true(json_object_get(cfg, "AttachStdin")),
        .tty = tty,
        .console = -1,
        .rows = 24,
        .cols = 80,
    };
    relay rl = {.client = client,
                .tty = tty,
                .want_in = o.interactive,
                .in = -1,
                .mon = -1,
                .out = -1,
                .err = -1,
                .pidfd = -1,
                .exit_code = -1,
                .want_out = json_is_true(json_object_get(cfg, "AttachStdout")),
                .want_err = json_is_true(json_object_get(cfg, "AttachStderr"))};
    /* the head first, as docker's engine: a client that reads the head with a buffered reader
     * (python's http.client) would keep output that came with it from its reads of the stream */
    if (hijack) {
        const char *up = tug_http_header_get(hijack->req, "Upgrade");
        if (tug_http_hijack(hijack->o, up && strcasecmp(up, "tcp") == 0,
                            "application/vnd.docker.raw-stream") < 0)
            rl.client = -1;
    }
    int sv[2] = {-1, -1};
    if (tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
        o.console = sv[1];
    tug_exec_proc proc = {.in = -1, .out = -1, .err = -1};
    tug_error *err = NULL;
    int r = tug_container_exec(s, c, &o, &proc, &err);
    if (sv[1] >= 0)
        close(sv[1]);
    rl.in = proc.in;
    rl.out = proc.out;
    rl.err = proc.err;
    if (r == 0) {
        if (tty) {
            int master = tug_recv_fd(sv[0]);
            rl.in = rl.out = master;
        }
        json_object_set_new(rec, "Running", json_true());
        /* a quick process may have ended already: its helper's pid then */
        pid_t pid = tug_exec_process_pid(proc.pid);
        json_object_set_new(rec, "Pid", json_integer(pid > 0 ? pid : proc.pid));
        tug_exec_record_save(s, rec, NULL);
    }
    if (sv[0] >= 0)
        close(sv[0]);
    int code;
    if (report >= 0) {
        /* a detached start says how the launch went: "" or the error */
        cleanup_free char *why = r < 0 ? tug_exec_failure_text(err) : NULL;
        const char *msg = r == 0 ? "" : why ? why : err->msg;
        if (tug_write_all(report, msg, strlen(msg)) < 0) {
            /* the start's answer goes without it */
        }
        close(report);
    }
    if (r < 0) {
        cleanup_free char *why = tug_exec_failure_text(err);
        cleanup_free char *line = NULL;
        if (asprintf(&line, "%s\r\n", why ? why : err->msg) > 0)
            to_client(&rl, 1, line, strlen(line));
        code = why ? 126 : 125;
        tug_error_free(err);
    } else {
        detach_keys(json_string_value(json_object_get(rec, "DetachKeys")), &rl.keys);
        rl.pidfd = tug_pidfd_open(proc.pid);
        relay_run(&rl);
        if (rl.detached && rl.pidfd >= 0) {
            /* the user left with the detach keys: the client's stream ends, the process runs
             * on with its terminal held (its output dropped) until it ends and is recorded */
            shutdown(client, SHUT_WR);
            rl.client = -1;
            rl.want_in = false;
            relay_run(&rl);
        }
        if (rl.pidfd >= 0)
            close(rl.pidfd);
        int fds[3] = {rl.in, rl.out, tty ? -1 : rl.err};
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0 && (i == 0 || fds[i] != fds[0]))
                close(fds[i]);
        int st = 0;
        while (waitpid(proc.pid, &st, 0) < 0 && errno == EINTR) {
        }
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        tug_exec_event(s, c, "exec_die", NULL, proc.exec_id, code);
    }
    json_object_set_new(rec, "Running", json_false());
    json_object_set_new(rec, "ExitCode", json_integer(code));
    tug_exec_record_save(s, rec, NULL);
}

/* A detached exec: run by a grandchild of its own session, with a store of its own (a store
 * does not cross a fork), so that it outlives the connection and records its end. */
static int exec_detached(const tug_api_call *a, tug_container *c, json_t *rec)
{
    int rep;
    int r = tug_fork_detached(&rep);
    if (r < 0)
        return tug_http_send_error(a->o, 500, "exec: fork failed");
    if (r == 0) {
        close(a->o->fd);
        tug_store *s2 = NULL;
        tug_error *err = NULL;
        if (tug_store_open(a->x->root, &s2, &err) == 0)
            exec_run(s2, c, rec, -1, NULL, rep);
        _exit(0);
    }
    /* the launch's outcome: nothing when the process runs, else why not (docker's 400) */
    char why[1024];
    size_t n = 0;
    for (ssize_t k; n < sizeof(why) - 1 && (k = read(rep, why + n, sizeof(why) - 1 - n)) != 0;) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        n += (size_t)k;
    }
    close(rep);
    why[n] = '\0';
    if (n > 0)
        return tug_http_send_error(a->o, 400, why);
    return tug_http_send(a->o, 200, NULL, "", 0);
}

int tug_api_exec_start(const tug_api_call *a)
{
    json_auto_t *body = tug_api_body_object(a, NULL);
    if (body == NULL)
        return 0;
    tug_store *s;
    json_auto_t *rec = NULL;
    if (find_exec(a, &s, &rec) < 0)
        return 0;
    tug_error *err = NULL;
    if (json_is_true(json_object_get(rec, "Running")) ||
        !json_is_null(json_object_get(rec, "ExitCode"))) {
        tug_error_conflict(&err, "Error: Exec command %s is already running", a->arg);
        return tug_api_send_err(a->o, err);
    }
    cleanup_container tug_container *c = NULL;
    const char *cid = json_string_value(json_object_get(rec, "ContainerID"));
    if (running_container(a, s, cid ? cid : "", &c) < 0)
        return 0;
    /* taken: a second start finds it running */
    json_object_set_new(rec, "Running", json_true());
    if (tug_exec_record_save(s, rec, &err) < 0)
        return tug_api_send_err(a->o, err);
    signal(SIGPIPE, SIG_IGN);
    if (json_is_true(json_object_get(body, "Detach")))
        return exec_detached(a, c, rec);
    exec_run(s, c, rec, a->o->fd, a, -1);
    shutdown(a->o->fd, SHUT_WR);
    return -1; /* the connection was the stream's: it ends here */
}

/* ?h= and ?w=: the size, and the store; -1 after answering (400). */
static int size_params(const tug_api_call *a, unsigned short *rows, unsigned short *cols,
                       tug_store **ret_s)
{
    cleanup_free char *h = tug_http_query_get(a->req, "h");
    cleanup_free char *w = tug_http_query_get(a->req, "w");
    char *e1 = NULL, *e2 = NULL;
    long hv = h ? strtol(h, &e1, 10) : -1, wv = w ? strtol(w, &e2, 10) : -1;
    if (h == NULL || w == NULL || *h == '\0' || *w == '\0' || *e1 || *e2 || hv < 0 || wv < 0 ||
        hv > 65535 || wv > 65535) {
        tug_http_send_error(a->o, 400, "resize needs its size as numbers: ?h=ROWS&w=COLUMNS");
        return -1;
    }
    *rows = (unsigned short)hv;
    *cols = (unsigned short)wv;
    return tug_api_store(a->x, a->o, ret_s);
}

int tug_api_exec_resize(const tug_api_call *a)
{
    unsigned short rows, cols;
    tug_store *s;
    json_auto_t *rec = NULL;
    if (size_params(a, &rows, &cols, &s) < 0 || find_exec(a, &s, &rec) < 0)
        return 0;
    tug_error *err = NULL;
    json_int_t pid = json_integer_value(json_object_get(rec, "Pid"));
    /* docker's client resizes as soon as the start's head is in: the process may be starting */
    for (int i = 0; i < 50 && pid <= 0 && json_is_true(json_object_get(rec, "Running")); i++) {
        poll(NULL, 0, 20);
        json_decref(rec);
        rec = NULL;
        if (tug_exec_record_load(s, a->arg, &rec, &err) < 0)
            return tug_api_send_err(a->o, err);
        pid = json_integer_value(json_object_get(rec, "Pid"));
    }
    if (!json_is_true(json_object_get(rec, "Running")) || pid <= 0)
        return tug_http_send_error(a->o, 404, "no such exec");
    if (json_is_true(json_object_get(json_object_get(rec, "Config"), "Tty"))) {
        /* the process's stdin is its terminal: the size is the terminal's, its SIGWINCH too */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%lld/fd/0", (long long)pid);
        cleanup_close int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        if (fd < 0 || ioctl(fd, TIOCSWINSZ, &ws) < 0)
            return tug_http_send_error(a->o, 500, "resize: the exec's terminal is gone");
    }
    return tug_http_send(a->o, 200, NULL, "", 0);
}

int tug_api_attach_channel(const tug_api_call *a, tug_store *s, tug_container *c)
{
    tug_error *err = NULL;
    int fd = tug_container_attach(s, c, &err);
    if (fd < 0) {
        if (err->kind == TUG_ERR_USER && err->reason == TUG_ERR_R_NONE)
            err->reason = TUG_ERR_R_CONFLICT;
        tug_api_send_err(a->o, err);
    }
    return fd;
}

int tug_api_container_resize(const tug_api_call *a)
{
    unsigned short rows, cols;
    tug_store *s;
    if (size_params(a, &rows, &cols, &s) < 0)
        return 0;
    cleanup_container tug_container *c = NULL;
    tug_error *err = NULL;
    if (tug_container_find(s, a->arg, &c, &err) < 0)
        return tug_api_send_err(a->o, err);
    cleanup_close int fd = tug_api_attach_channel(a, s, c);
    if (fd < 0)
        return 0;
    unsigned char b[4] = {(unsigned char)(rows >> 8), (unsigned char)rows,
                          (unsigned char)(cols >> 8), (unsigned char)cols};
    tug_frame_write(fd, TUG_FRAME_RESIZE, b, 4);
    return tug_http_send(a->o, 200, NULL, "", 0);
}

/* ---- attach with stdin ---- */

/* Where an attach waits for the start of a container that does not run: a socket the start
 * (tug_api_attach_waiting) connects to, handing the monitor's end of it to the monitor, as
 * `tug run` hands its own. */
static char *waiting_dir(tug_store *s, const char *id)
{
    return tug_store_run_path(s, "serve-attach/%s", id);
}

int tug_api_attach_listen(tug_store *s, const tug_container *c)
{
    cleanup_free char *dir = waiting_dir(s, c->id);
    if (dir == NULL || tug_mkdir_p(dir, 0700, NULL) < 0)
        return -1;
    return tug_attach_listen(dir);
}

void tug_api_attach_unlisten(tug_store *s, const tug_container *c, int listener)
{
    cleanup_free char *dir = waiting_dir(s, c->id);
    if (listener < 0 || dir == NULL)
        return;
    tug_attach_unlisten(dir);
    close(listener);
    rmdir(dir);
}

int tug_api_attach_waiting(tug_store *s, const tug_container *c)
{
    cleanup_free char *dir = waiting_dir(s, c->id);
    struct stat st;
    if (dir == NULL || stat(dir, &st) < 0)
        return -1;
    tug_error *err = NULL;
    int fd = tug_attach_connect(dir, &err);
    tug_error_free(err);
    return fd;
}

int tug_api_attach_relay(const tug_api_call *a, tug_store *s, tug_container *c,
                         const tug_api_attach_opts *ao)
{
    signal(SIGPIPE, SIG_IGN);
    json_t *cfg = json_object_get(c->config, "Config");
    relay r = {.client = a->o->fd,
               .tty = json_is_true(json_object_get(cfg, "Tty")),
               .want_out = ao->out,
               .want_err = ao->err,
               .want_in = ao->in && json_is_true(json_object_get(cfg, "OpenStdin")),
               .eof_closes = json_is_true(json_object_get(cfg, "StdinOnce")),
               .in = -1,
               .mon = -1,
               .out = -1,
               .err = -1,
               .pidfd = -1,
               .exit_code = -1};
    detach_keys(ao->detach_keys, &r.keys);
    bool own = false; /* the channel the start handed over: this side records the end */
    if (ao->running) {
        r.mon = ao->channel;
    } else {
        long long started = c->started_ns;
        tug_error *err = NULL;
        while (r.mon < 0) {
            struct pollfd p[2] = {{.fd = ao->listener, .events = POLLIN},
                                  {.fd = r.client, .events = 0}};
            int n = poll(p, 2, 100);
            if (n > 0 && (p[1].revents & (POLLHUP | POLLERR)))
                break;
            if (n > 0 && (p[0].revents & POLLIN)) {
                r.mon = accept4(ao->listener, NULL, NULL, SOCK_CLOEXEC);
                own = r.mon >= 0;
                continue;
            }
            /* started by another way (tug start): its monitor's channel, from now on */
            if (tug_container_refresh(s, c, &err) < 0 || c->started_ns != started) {
                if (strcmp(c->state, TUG_STATE_RUNNING) == 0)
                    r.mon = tug_container_attach(s, c, &err);
                break;
            }
        }
        tug_error_free(err);
        tug_api_attach_unlisten(s, c, ao->listener);
        if (r.mon < 0)
            return -1;
    }
    relay_run(&r);
    if (own && r.exit_code >= 0) {
        /* as tug run: the monitor leaves the record of the end to its attached starter */
        tug_frame_write(r.mon, TUG_FRAME_FINISH, NULL, 0);
        tug_error *err = NULL;
        if (tug_container_finish(s, c->id, -1, &err) < 0)
            tug_error_free(err);
    }
    close(r.mon);
    return 0;
}
