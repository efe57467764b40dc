/* One process per container with IPv6 published ports: it accepts on each listening socket and
 * forks a relay per connection, which connects to the container's IPv4 address and copies both
 * ways (a half close passed on as shutdown). It ends when the container does (a pidfd) or when
 * its parent, the monitor, goes (the parent-death signal); a relay ends with the proxy. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/fs.h"

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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctr_port)};
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || inet_pton(AF_INET, ctr_ip, &a.sin_addr) != 1 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
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

__attribute__((noreturn)) static void proxy_main(const int *fds, const int *ctr_ports, size_t n,
                                                 const char *ctr_ip, pid_t watch)
{
    prctl(PR_SET_NAME, "tug-proxy", 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN); /* relays are reaped by the kernel */
    int pidfd = (int)syscall(SYS_pidfd_open, watch, 0);
    if (pidfd < 0 && kill(watch, 0) < 0 && errno == ESRCH)
        _exit(0);
    struct pollfd *p = calloc(n + 1, sizeof(*p));
    if (p == NULL)
        _exit(1);
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    p[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    pid_t self = getpid();
    for (;;) {
        if (poll(p, pidfd >= 0 ? n + 1 : n, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (pidfd >= 0 && p[n].revents)
            _exit(0); /* the container ended */
        for (size_t i = 0; i < n; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            int c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            pid_t r = fork();
            if (r == 0) {
                die_with_parent(self);
                for (size_t j = 0; j < n; j++)
                    close(fds[j]);
                if (pidfd >= 0)
                    close(pidfd);
                relay(c, ctr_ip, ctr_ports[i]);
            }
            close(c);
        }
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
    proxy_main(fds, ctr_ports, n, ctr_ip, watch);
}
