#include "attach.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/attach.h"
#include "runtime/proc.h"

static void send_size(int sock)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 &&
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
        return;
    unsigned char b[4] = {(unsigned char)(ws.ws_row >> 8), (unsigned char)ws.ws_row,
                          (unsigned char)(ws.ws_col >> 8), (unsigned char)ws.ws_col};
    tug_frame_write(sock, TUG_FRAME_RESIZE, b, 4);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int attach_relay(int sock, bool forward_stdin, unsigned streams, bool tty, int proxy_pidfd,
                 bool finish_self)
{
    struct termios saved;
    bool raw = false;
    if (tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t);
        t.c_oflag = saved.c_oflag;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
            raw = true;
    }
    if (tty)
        send_size(sock);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    if (proxy_pidfd >= 0) {
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGQUIT);
    }
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    static char buf[TUG_FRAME_MAX];
    int code = -1;
    bool in_open = forward_stdin;
    for (;;) {
        struct pollfd p[3] = {{.fd = sock, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH)
                    send_size(sock);
                else if (proxy_pidfd >= 0)
                    tug_pidfd_signal(proxy_pidfd, (int)si.ssi_signo);
            }
        }
        if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n > 0)
                tug_frame_write(sock, TUG_FRAME_STDIN, buf, (size_t)n);
            else if (n == 0 || errno != EINTR) {
                tug_frame_write(sock, TUG_FRAME_STDIN_EOF, NULL, 0);
                in_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t len = 0;
            int t = tug_frame_read(sock, buf, &len);
            if (t < 0)
                break;
            if (t == TUG_FRAME_STDOUT && (streams & ATTACH_STDOUT))
                write_all(STDOUT_FILENO, buf, len);
            else if (t == TUG_FRAME_STDERR && (streams & ATTACH_STDERR))
                write_all(STDERR_FILENO, buf, len);
            else if (t == TUG_FRAME_EXIT && len == 4) {
                unsigned char *b = (unsigned char *)buf;
                code = (int)((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 |
                             b[3]);
                if (finish_self)
                    tug_frame_write(sock, TUG_FRAME_FINISH, NULL, 0);
                break;
            }
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return code;
}
