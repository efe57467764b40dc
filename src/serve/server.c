/* tug serve's socket and processes: one single-threaded listener that forks a process per
 * connection (docs/serve.md says why). */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"
#include "tls.h"
#include "util/cleanup.h"

/* A body larger than this is refused (413): the endpoints served so far take none. */
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

/* A request whose endpoint reads its body as it comes (POST /build): pre[0..pre_len) is what
 * came after the head. The connection ends after it: what the endpoint left of the body is
 * read and dropped for a moment, so the client reads the answer, not a reset. */
static void serve_streamed(tug_api_ctx *x, tug_http_req *req, int fd, const char *pre,
                           size_t pre_len, int timeout_ms, tug_http_out *o)
{
    const char *expect = tug_http_header_get(req, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && req->minor == 1) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (write(fd, go_on, sizeof(go_on) - 1) < 0)
            return;
    }
    tug_http_body in;
    tug_http_body_init(&in, req, fd, pre, pre_len, timeout_ms);
    x->body = &in;
    o->close = true;
    tug_api_handle(x, req, NULL, 0, o);
    x->body = NULL;
    linger_close(fd);
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
        if (tug_api_streams_body(&req)) {
            serve_streamed(&x, &req, fd, buf + head, len - (size_t)head, timeout_ms, &o);
            tug_http_req_clear(&req);
            break;
        }
        if (req.chunked) {
            tug_http_send_error(&o, 501, "chunked request bodies are not served for this endpoint");
            tug_http_req_clear(&req);
            linger_close(fd);
            break;
        }
        long long body = req.content_length > 0 ? req.content_length : 0;
        if (body > MAX_BODY) {
            tug_http_send_error(&o, 413, "request body too large");
            tug_http_req_clear(&req);
            linger_close(fd);
            break;
        }
        bool gone = false;
        while (len < (size_t)head + (size_t)body && !gone)
            gone = read_more(fd, &buf, &len, &cap, timeout_ms) <= 0;
        if (gone) {
            tug_http_req_clear(&req);
            break;
        }
        o.close = !req.keep_alive;
        int r = tug_api_handle(&x, &req, buf + head, (size_t)body, &o);
        bool again = r == 0 && req.keep_alive;
        tug_http_req_clear(&req);
        if (!again)
            break;
        size_t used = (size_t)head + (size_t)body;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    tug_store_close(x.store);
}

/* Where to listen: a unix socket's path, or a TCP address on loopback. */
typedef struct listen_addr {
    const char *path; /* unix:// */
    struct sockaddr_storage sa; /* tcp:// */
    socklen_t sa_len;
} listen_addr;

/* "tcp://127.0.0.1:2375", "tcp://[::1]:2375", "tcp://localhost:2375" into sa; a host that is
 * not a loopback address is refused unless TLS with client certificates guards it. */
static int tcp_addr(const char *host, bool tls, listen_addr *ret, tug_error **err)
{
    const char *hp = host + 6;
    cleanup_free char *name = NULL;
    const char *port;
    if (hp[0] == '[') {
        const char *close_br = strchr(hp, ']');
        if (close_br == NULL || close_br[1] != ':')
            return tug_error_user(err, "cannot serve %s: give tcp://[::1]:PORT", host);
        name = strndup(hp + 1, (size_t)(close_br - hp - 1));
        port = close_br + 2;
    } else {
        const char *colon = strrchr(hp, ':');
        if (colon == NULL)
            return tug_error_user(err, "cannot serve %s: give tcp://127.0.0.1:PORT", host);
        name = strndup(hp, (size_t)(colon - hp));
        port = colon + 1;
    }
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (name == NULL || end == port || (*end != '\0' && *end != '/') || errno || p < 1 ||
        p > 65535)
        return tug_error_user(err, "cannot serve %s: give a port from 1 to 65535, as "
                                   "tcp://127.0.0.1:2375", host);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ret->sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ret->sa;
    memset(&ret->sa, 0, sizeof(ret->sa));
    if (strcmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &in4->sin_addr) == 1) {
        if (strcmp(name, "localhost") == 0)
            in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        ret->sa_len = sizeof(*in4);
        if (tls || (ntohl(in4->sin_addr.s_addr) >> 24) == 127)
            return 0;
    } else if (inet_pton(AF_INET6, name, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        ret->sa_len = sizeof(*in6);
        if (tls || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 0;
    } else {
        return tug_error_user(err, "cannot serve %s: give an IP address (or localhost), as "
                                   "tcp://127.0.0.1:2375", host);
    }
    return tug_error_user(err, "cannot serve %s without TLS: the API gives root on this machine "
                               "to whoever reaches it; give --tlsverify with --tlscacert, "
                               "--tlscert and --tlskey, or a loopback address "
                               "(tcp://127.0.0.1:PORT)", host);
}

/* -H as a unix socket's path or a loopback TCP address; anything else is refused with the
 * way out. */
static int parse_host(const char *host, bool tls, listen_addr *ret, tug_error **err)
{
    if (strncmp(host, "unix://", 7) == 0 && host[7] == '/') {
        if (tls)
            return tug_error_user(err, "cannot serve %s with TLS: --tlsverify is for tcp:// "
                                       "addresses; a unix socket's mode and group guard it", host);
        ret->path = host + 7;
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0)
        return tcp_addr(host, tls, ret, err);
    if (strncmp(host, "fd://", 5) == 0)
        return tug_error_user(err, "cannot serve %s: no socket was passed (systemd socket "
                                   "activation sets LISTEN_PID and LISTEN_FDS); start tug serve "
                                   "from tug.socket, or give -H unix:///path/to/tug.sock", host);
    if (strncmp(host, "ssh://", 6) == 0)
        return tug_error_user(err, "cannot serve %s: ssh:// is a client's address; give -H "
                                   "unix:///path/to/tug.sock", host);
    return tug_error_user(err, "cannot serve %s: give a unix socket as unix:///path/to/tug.sock "
                               "or tcp://127.0.0.1:PORT", host);
}

/* A TCP socket on a loopback address. */
static int listen_tcp(const char *host, const listen_addr *a, tug_error **err)
{
    cleanup_close int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tug_error_set(err, errno, "socket for %s", host);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->sa.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0) {
        int e = errno;
        return e == EADDRINUSE ? tug_error_user(err, "cannot serve %s: the address is in use; "
                                                     "give another port",
                                                host)
                               : tug_error_set(err, e, "bind %s", host);
    }
    if (listen(fd, 128) < 0)
        return tug_error_set(err, errno, "listen on %s", host);
    return steal_fd(&fd);
}

/* The socket systemd passed (socket activation): fd 3 when LISTEN_PID is this process and
 * LISTEN_FDS is 1; -2 when none was passed. The variables are dropped, so that what this
 * process starts does not take the socket for its own. */
#define LISTEN_FDS_START 3
static int activated_socket(tug_error **err)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    if (pid_s == NULL || fds_s == NULL)
        return -2;
    char *end;
    long pid = strtol(pid_s, &end, 10);
    if (*end || pid != (long)getpid())
        return -2;
    long n = strtol(fds_s, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (*end || n != 1)
        return tug_error_user(err, "socket activation passed %s sockets: tug serve listens on "
                                   "one (one ListenStream= in tug.socket)", fds_s);
    int fd = LISTEN_FDS_START, listening = 0, type = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
        return tug_error_user(err, "socket activation: fd 3 is not a listening socket");
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return tug_error_user(err, "socket activation: fd 3 is not a stream socket "
                                   "(ListenStream= in tug.socket)");
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return tug_error_set(err, errno, "socket activation: fd 3");
    return fd;
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

static void tls_freep(tug_tls **t)
{
    tug_tls_free(*t);
}

/* The answering side of a TLS connection (tls.c runs it in a process of its own). */
static void serve_plain(int fd, void *opts)
{
    serve_connection(fd, opts);
}

int tug_serve(const tug_serve_opts *opts, tug_error **err)
{
    /* systemd's socket (tug.socket) when it passed one; -H then names nothing to make */
    cleanup_close int lfd = activated_socket(err);
    if (lfd == -1)
        return -1;
    listen_addr addr = {0};
    if (lfd == -2 && parse_host(opts->host, opts->tls_ca != NULL, &addr, err) < 0)
        return -1;
    __attribute__((cleanup(tls_freep))) tug_tls *tls = NULL;
    if (opts->tls_ca && tug_tls_new(opts->tls_ca, opts->tls_cert, opts->tls_key, &tls, err) < 0)
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
    const char *path = addr.path; /* the socket file this process made and removes */
    if (lfd == -2)
        lfd = path ? listen_unix(path, err) : listen_tcp(opts->host, &addr, err);
    if (lfd < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    if (!opts->quiet) {
        fprintf(stderr, "tug serve: API listening on %s%s\n",
                path ? path : addr.sa_len ? opts->host : "the socket systemd passed (fd 3)",
                tls ? " (TLS, client certificates required)" : "");
        /* the unix socket's mode and group guard it; plain TCP has nothing of the kind */
        if (!path && addr.sa_len && !tls)
            fprintf(stderr, "tug serve: warning: every user and process of this machine can "
                            "reach %s, and through it run anything as root; serve a unix "
                            "socket, or TCP with --tlsverify\n",
                    opts->host);
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
                if (tls)
                    tug_tls_serve(tls, cfd, serve_plain, (void *)opts);
                else
                    serve_connection(cfd, opts);
                close(cfd);
                _exit(0);
            }
            close(cfd);
            if (pid > 0)
                children++;
        }
    }
    if (path)
        unlink(path);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}
