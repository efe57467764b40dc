/* tug serve's socket and processes: one single-threaded listener that forks a process per
 * connection (docs/serve.md says why). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"
#include "util/cleanup.h"

/* A body up to this size is read whole before the endpoint is called; a larger one (or a
 * chunked one) only by an endpoint that reads it as it comes. */
#define MAX_BODY (1024 * 1024)
/* Connections answered at once; more wait in the listen queue until one ends. */
#define MAX_CONNECTIONS 256
/* An open keep-alive connection with no request for this long is closed. */
#define KEEPALIVE_SECONDS 300

#define EXTRA_HEADERS                                                                          \
    "Api-Version: " TUG_API_VERSION "\r\nDocker-Experimental: false\r\nOstype: linux\r\n"       \
    "Server: tug/" TUG_VERSION " (linux)\r\n"

static long long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

/* Read more of the connection into *buf (grown as needed): bytes read, 0 at the end, -1 on an
 * error or when nothing came for timeout_ms. */
static ssize_t read_more(int fd, char **buf, size_t *len, size_t *cap, int timeout_ms)
{
    if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16384;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return -1;
    ssize_t n;
    while ((n = read(fd, *buf + *len, *cap - *len)) < 0 && errno == EINTR)
        ;
    if (n > 0)
        *len += (size_t)n;
    return n;
}

/* After an answer that ends the connection early (a bad request): stop writing, and read what
 * the client still sends for a moment, so that closing does not reset the connection before
 * the client has read the answer. */
static void linger_close(int fd)
{
    shutdown(fd, SHUT_WR);
    char sink[16384];
    size_t total = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (total < 4 * 1024 * 1024 && poll(&p, 1, 1000) > 0) {
        ssize_t n = read(fd, sink, sizeof(sink));
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* Answer the requests of one connection until it closes, asks to or idles out. */
static void serve_connection(int fd, const tug_serve_opts *opts)
{
    tug_api_ctx x = {.root = opts->root, .registry = opts->registry};
    cleanup_free char *buf = NULL;
    size_t len = 0, cap = 0;
    int timeout_ms = 1000 * (opts->idle_seconds > 0 && opts->idle_seconds < KEEPALIVE_SECONDS
                                 ? opts->idle_seconds
                                 : KEEPALIVE_SECONDS);
    for (;;) {
        tug_http_req req;
        const char *why = NULL;
        long head = tug_http_parse(buf ? buf : "", len, &req, &why);
        tug_http_out o = {.fd = fd, .extra_headers = EXTRA_HEADERS, .close = true};
        if (head == 0) {
            if (read_more(fd, &buf, &len, &cap, timeout_ms) <= 0)
                break;
            continue;
        }
        if (head == -2) {
            tug_http_send_error(&o, 431, "request header too large");
            linger_close(fd);
            break;
        }
        if (head < 0) {
            tug_http_send_error(&o, 400, why);
            linger_close(fd);
            break;
        }
        o.head_only = strcmp(req.method, "HEAD") == 0;
        long long body = req.content_length > 0 ? req.content_length : 0;
        /* a chunked or large body is read as it comes by the endpoints that take one (the
         * others refuse it: tug_api_handle) */
        bool streamed = req.chunked || body > MAX_BODY;
        bool gone = false;
        while (!streamed && len < (size_t)head + (size_t)body && !gone)
            gone = read_more(fd, &buf, &len, &cap, timeout_ms) <= 0;
        if (gone) {
            tug_http_req_clear(&req);
            break;
        }
        o.close = !req.keep_alive;
        tug_http_body stream;
        size_t used = (size_t)head + (size_t)body;
        if (streamed) {
            tug_http_body_init(&stream, fd, &req, buf, len, cap, (size_t)head, timeout_ms);
            buf = NULL;
            x.body = &stream;
        }
        int r = tug_api_handle(&x, &req, streamed ? NULL : buf + head, streamed ? 0 : (size_t)body,
                               &o);
        if (streamed) {
            x.body = NULL;
            buf = stream.buf;
            len = stream.len;
            cap = stream.cap;
            used = stream.pos;
            if (!stream.done) { /* where the next request starts is not known */
                tug_http_req_clear(&req);
                if (r == 0)
                    linger_close(fd);
                break;
            }
        }
        bool again = r == 0 && req.keep_alive;
        tug_http_req_clear(&req);
        if (!again)
            break;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    tug_store_close(x.store);
}

/* "unix:///path" -> "/path"; anything else is refused with the way out. */
static int socket_path(const char *host, const char **ret_path, tug_error **err)
{
    if (strncmp(host, "unix://", 7) == 0 && host[7] == '/') {
        *ret_path = host + 7;
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0 || strncmp(host, "ssh://", 6) == 0 ||
        strncmp(host, "fd://", 5) == 0)
        return tug_error_user(err, "cannot serve %s: only unix sockets are served yet; give -H "
                                   "unix:///path/to/tug.sock", host);
    return tug_error_user(err, "cannot serve %s: give a unix socket as unix:///path/to/tug.sock",
                          host);
}

/* Bind the socket, taking over a stale one (no server answers on it) but never a live one. */
static int listen_unix(const char *path, tug_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return tug_error_user(err, "socket path %s is too long (at most %zu bytes)", path,
                              sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return tug_error_user(err, "%s exists and is not a socket: remove it or give another "
                                       "path with -H", path);
        cleanup_close int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return tug_error_user(err, "a server already answers on %s: stop it or give another "
                                       "path with -H", path);
        if (unlink(path) < 0 && errno != ENOENT)
            return tug_error_set(err, errno, "remove stale socket %s", path);
    }
    cleanup_free char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return tug_error_set(err, errno, "create the socket's directory %s", dir);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tug_error_set(err, errno, "socket");
    mode_t old = umask(0117); /* 0660 from the start: no moment with a wider mode */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0) {
        int e = errno;
        close(fd);
        return tug_error_set(err, e, "bind %s", path);
    }
    struct group *g = getgrnam("tug");
    if (g && chown(path, (uid_t)-1, g->gr_gid) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return tug_error_set(err, e, "give %s to group tug", path);
    }
    if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return tug_error_set(err, e, "listen on %s", path);
    }
    return fd;
}

int tug_serve(const tug_serve_opts *opts, tug_error **err)
{
    const char *path = NULL;
    if (socket_path(opts->host, &path, err) < 0)
        return -1;
    { /* a store that cannot open is said now, not per request */
        cleanup_store tug_store *s = NULL;
        if (tug_store_open(opts->root, &s, err) < 0)
            return -1;
    }
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    cleanup_close int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return tug_error_set(err, errno, "signalfd");
    }
    cleanup_close int lfd = listen_unix(path, err);
    if (lfd < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    if (!opts->quiet) {
        fprintf(stderr, "tug serve: API listening on %s\n", path);
        fflush(stderr);
    }
    long long last = now_s();
    int children = 0;
    for (;;) {
        int timeout = -1;
        if (opts->idle_seconds > 0 && children == 0) {
            long long left = last + opts->idle_seconds - now_s();
            if (left <= 0)
                break;
            timeout = (int)(left * 1000);
        }
        struct pollfd p[2] = {{.fd = children < MAX_CONNECTIONS ? lfd : -1, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        int r = poll(p, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            bool stop = false;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                stop |= si.ssi_signo != SIGCHLD;
            while (waitpid(-1, NULL, WNOHANG) > 0) {
                children--;
                last = now_s();
            }
            if (stop)
                break;
        }
        if (p[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd < 0)
                continue;
            last = now_s();
            pid_t pid = fork();
            if (pid == 0) {
                close(lfd);
                close(sfd);
                sigprocmask(SIG_SETMASK, &old, NULL);
                serve_connection(cfd, opts);
                close(cfd);
                _exit(0);
            }
            close(cfd);
            if (pid > 0)
                children++;
        }
    }
    unlink(path);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}
