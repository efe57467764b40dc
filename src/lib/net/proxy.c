/* One process per container with IPv6 published ports: it accepts on each listening socket and
 * forks a relay per connection, which connects to the container's IPv4 address and copies both
 * ways (a half close passed on as shutdown); udp datagrams go through a socket per client. It
 * ends when the container does (a pidfd) or when its parent, the monitor, goes (the
 * parent-death signal); a relay ends with the proxy. It handles traffic from anyone who can
 * reach the port, so before it relays anything it confines itself (confine() below): an empty
 * root, the uid nobody, no capability, and a seccomp filter of the calls its loop makes. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/confine.h"
#include "../util/fs.h"

static int ctr_socket(int type, const char *ctr_ip, int ctr_port);

/* Tied to the parent: gone when it is (already gone: at once). */
static void die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
        _exit(0);
}

/* Copy what a has to b; false at the end of a (or on an error). */
static bool pass(int a, int b)
{
    char buf[65536];
    ssize_t n;
    do
        n = read(a, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(b, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

__attribute__((noreturn)) static void relay(int client, const char *ctr_ip, int ctr_port)
{
    int c = ctr_socket(SOCK_STREAM, ctr_ip, ctr_port);
    if (c < 0)
        _exit(1);
    int fds[2] = {client, c};
    bool open[2] = {true, true};
    while (open[0] || open[1]) {
        struct pollfd p[2];
        nfds_t np = 0;
        int which[2];
        for (int i = 0; i < 2; i++)
            if (open[i]) {
                which[np] = i;
                p[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
            }
        if (poll(p, np, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (nfds_t k = 0; k < np; k++) {
            int i = which[k];
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (!pass(fds[i], fds[1 - i])) {
                /* this side is done: the other hears of it, and may still answer */
                open[i] = false;
                shutdown(fds[1 - i], SHUT_WR);
            }
        }
    }
    _exit(0);
}

/* A udp client: its datagrams go out of a socket connected to the container, whose answers
 * go back to the client from the host port. Forgotten after UDP_IDLE_S without traffic. */
#define UDP_IDLE_S 90
#define UDP_FLOWS_MAX 1024
/* TCP connections relayed at once (a process each): more wait in the listen backlog, so that
 * a flood of connections from outside costs the host a bounded number of processes */
#define RELAYS_MAX 256
typedef struct udp_flow {
    int fd;
    size_t listener;
    struct sockaddr_in6 client;
    time_t last;
} udp_flow;

static udp_flow flows[UDP_FLOWS_MAX];
static size_t n_flows;

static int ctr_socket(int type, const char *ctr_ip, int ctr_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctr_port)};
    int c = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (c < 0)
        return -1;
    if (inet_pton(AF_INET, ctr_ip, &a.sin_addr) != 1 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(c);
        return -1;
    }
    return c;
}

/* A datagram for the container from a client on listener l. */
static void udp_in(int lfd, size_t l, const char *ctr_ip, int ctr_port)
{
    char buf[65536];
    struct sockaddr_in6 from = {0};
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(lfd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0)
        return;
    udp_flow *f = NULL;
    for (size_t i = 0; i < n_flows && f == NULL; i++)
        if (flows[i].listener == l && memcmp(&flows[i].client, &from, sizeof(from)) == 0)
            f = &flows[i];
    if (f == NULL) {
        if (n_flows == UDP_FLOWS_MAX)
            return;
        int c = ctr_socket(SOCK_DGRAM, ctr_ip, ctr_port);
        if (c < 0)
            return;
        f = &flows[n_flows++];
        *f = (udp_flow){.fd = c, .listener = l, .client = from};
    }
    f->last = time(NULL);
    if (send(f->fd, buf, (size_t)n, MSG_DONTWAIT) < 0) {
        /* the container is not listening (yet): the next datagram tries again */
    }
}

/* An answer from the container for flow i's client. */
static void udp_out(size_t i, const int *fds)
{
    char buf[65536];
    ssize_t n = recv(flows[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0)
        return;
    flows[i].last = time(NULL);
    sendto(fds[flows[i].listener], buf, (size_t)n, MSG_DONTWAIT,
           (struct sockaddr *)&flows[i].client, sizeof(flows[i].client));
}

static void udp_expire(void)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < n_flows;)
        if (now - flows[i].last >= UDP_IDLE_S) {
            close(flows[i].fd);
            flows[i] = flows[--n_flows];
        } else {
            i++;
        }
}

/* What the proxy and its relays call once confined (strace of a relay in use, and of the
 * udp path), and no more: sockets are IPv4 ones (the container's address), a new process is a
 * relay (no namespace), prctl only arms the parent-death signal; memory calls and
 * sigaltstack serve malloc and the sanitizers' runtime. Everything else (open, execve, kill,
 * ptrace...) fails with EPERM. */
/* clang-format off */
#define CLONE_NAMESPACES (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
static const struct sock_filter proxy_calls[] = {
    TUG_ALLOW(__NR_read), TUG_ALLOW(__NR_write), TUG_ALLOW(__NR_close), TUG_ALLOW(__NR_ppoll),
#ifdef __NR_poll
    TUG_ALLOW(__NR_poll),
#endif
    TUG_ALLOW(__NR_accept4),
#ifdef __NR_accept
    TUG_ALLOW(__NR_accept),
#endif
    TUG_ALLOW_IF2(__NR_socket, 0, AF_INET, AF_INET), TUG_ALLOW(__NR_connect),
    TUG_ALLOW(__NR_shutdown), TUG_ALLOW(__NR_recvfrom), TUG_ALLOW(__NR_sendto),
    TUG_ALLOW_WITHOUT(__NR_clone, 0, CLONE_NAMESPACES), TUG_ALLOW(__NR_set_robust_list),
    TUG_ALLOW(__NR_wait4), TUG_ALLOW_IF2(__NR_prctl, 0, PR_SET_PDEATHSIG, PR_SET_PDEATHSIG),
    TUG_ALLOW(__NR_getppid), TUG_ALLOW(__NR_getpid), TUG_ALLOW(__NR_gettid),
    TUG_ALLOW(__NR_clock_gettime), TUG_ALLOW(__NR_gettimeofday),
#ifdef __NR_time
    TUG_ALLOW(__NR_time),
#endif
    TUG_ALLOW(__NR_brk), TUG_ALLOW(__NR_mmap), TUG_ALLOW(__NR_munmap), TUG_ALLOW(__NR_madvise),
    TUG_ALLOW(__NR_mprotect), TUG_ALLOW(__NR_futex), TUG_ALLOW(__NR_rt_sigreturn),
    TUG_ALLOW(__NR_rt_sigprocmask), TUG_ALLOW(__NR_restart_syscall), TUG_ALLOW(__NR_exit),
    TUG_ALLOW(__NR_exit_group),
    TUG_ALLOW(__NR_sigaltstack), /* ASan asks it at a noreturn call (the relay's _exit) */
};
/* clang-format on */

/* Once its sockets are open and before it relays: an empty root, the uid nobody (connecting
 * to the container needs no privilege), no capability, no_new_privs and the filter above.
 * The parent-death signal, cleared by the change of uid, is armed again. */
static int confine(pid_t parent)
{
    if (tug_confine_root_empty("/tmp") < 0 || tug_confine_drop_privileges(true) < 0)
        return -1;
    die_with_parent(parent);
    return tug_seccomp_allow_only(proxy_calls, sizeof(proxy_calls) / sizeof(proxy_calls[0]));
}

__attribute__((noreturn)) static void proxy_main(const int *fds, const int *ctr_ports, size_t n,
                                                 const char *ctr_ip, pid_t watch, pid_t parent)
{
    prctl(PR_SET_NAME, "tug-proxy", 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    size_t relays = 0; /* relay processes not yet reaped */
    int pidfd = (int)syscall(SYS_pidfd_open, watch, 0);
    if (pidfd < 0 && kill(watch, 0) < 0 && errno == ESRCH)
        _exit(0);
    bool *udp = calloc(n, sizeof(*udp));
    struct pollfd *p = calloc(n + 1 + UDP_FLOWS_MAX, sizeof(*p));
    if (udp == NULL || p == NULL)
        _exit(1);
    for (size_t i = 0; i < n; i++) {
        int type = 0;
        socklen_t tl = sizeof(type);
        udp[i] = getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM;
    }
    pid_t self = getpid();
    if (confine(parent) < 0)
        _exit(1); /* it does not relay unconfined */
    for (;;) {
        nfds_t np = 0;
        for (size_t i = 0; i < n; i++)
            p[np++] = (struct pollfd){.fd = udp[i] || relays < RELAYS_MAX ? fds[i] : -1,
                                      .events = POLLIN};
        p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN}; /* -1 is left alone */
        size_t nf = n_flows;
        for (size_t i = 0; i < nf; i++)
            p[np++] = (struct pollfd){.fd = flows[i].fd, .events = POLLIN};
        /* with relays running, wake each second to reap them and count them out */
        if (poll(p, np, relays ? 1000 : nf ? 10000 : -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (p[n].revents)
            _exit(0); /* the container ended */
        for (size_t i = 0; i < nf; i++)
            if (p[n + 1 + i].revents & POLLIN)
                udp_out(i, fds);
        while (relays > 0 && waitpid(-1, NULL, WNOHANG) > 0)
            relays--;
        for (size_t i = 0; i < n; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            if (udp[i]) {
                udp_in(fds[i], i, ctr_ip, ctr_ports[i]);
                continue;
            }
            if (relays >= RELAYS_MAX)
                continue; /* left in the backlog until a relay ends */
            int c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            pid_t r = fork();
            if (r > 0)
                relays++;
            if (r == 0) {
                die_with_parent(self);
                for (size_t j = 0; j < n; j++)
                    close(fds[j]);
                for (size_t j = 0; j < n_flows; j++)
                    close(flows[j].fd);
                if (pidfd >= 0)
                    close(pidfd);
                relay(c, ctr_ip, ctr_ports[i]);
            }
            close(c);
        }
        udp_expire();
    }
}

pid_t tug_proxy_spawn(const int *fds, const int *ctr_ports, size_t n, const char *ctr_ip,
                      pid_t watch)
{
    if (n == 0)
        return 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    die_with_parent(parent);
    if (tug_close_fds_except(fds, n) < 0)
        _exit(1);
    proxy_main(fds, ctr_ports, n, ctr_ip, watch, parent);
}
