#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Fields of /proc/PID/stat, counted from 1 as proc(5) does. */
#define STAT_STATE 3
#define STAT_PPID 4
#define STAT_STARTTIME 22
#define STAT_EXIT_CODE 52

int tug_proc_read(pid_t pid, tug_proc *ret)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            errno = ESRCH;
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int e = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 && e != ESRCH ? e : ESRCH; /* reaped between open and read */
        return -1;
    }
    buf[n] = '\0';
    /* the command name (field 2) may hold spaces and parentheses: count from its last ")" */
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        errno = EPROTO;
        return -1;
    }
    tug_proc r = {.wait_status = -1};
    int field = STAT_STATE;
    char *save = NULL;
    for (char *t = strtok_r(p + 1, " \n", &save); t; t = strtok_r(NULL, " \n", &save), field++) {
        if (field == STAT_STATE)
            r.state = t[0];
        else if (field == STAT_PPID)
            r.ppid = (pid_t)strtol(t, NULL, 10);
        else if (field == STAT_STARTTIME)
            r.start = strtoll(t, NULL, 10);
        else if (field == STAT_EXIT_CODE)
            r.wait_status = (int)strtol(t, NULL, 10);
    }
    if (field <= STAT_STARTTIME) {
        errno = EPROTO;
        return -1;
    }
    *ret = r;
    return 0;
}

bool tug_proc_ended(const tug_proc *p)
{
    return p->state == 'Z' || p->state == 'X';
}

int tug_pidfd_open(pid_t pid)
{
    if (pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    return (int)syscall(SYS_pidfd_open, pid, 0); /* pidfds are always close-on-exec */
}

int tug_pidfd_open_checked(pid_t pid, long long start_ticks)
{
    int fd = tug_pidfd_open(pid);
    if (fd < 0)
        return -1;
    tug_proc p;
    if (tug_proc_read(pid, &p) < 0 || p.start != start_ticks) {
        close(fd);
        errno = ESRCH;
        return -1;
    }
    return fd;
}

int tug_pidfd_signal(int pidfd, int sig)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}

bool tug_pidfd_wait(int pidfd, int timeout_ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

int tug_fork_detached(int *ret_report)
{
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t mid = fork();
    if (mid < 0) {
        int e = errno;
        close(rep[0]);
        close(rep[1]);
        errno = e;
        return -1;
    }
    if (mid == 0) {
        close(rep[0]);
        if (fork() != 0)
            _exit(0); /* a failed fork: the caller reads an empty report */
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; i < 3 && null >= 0; i++)
            dup2(null, i);
        *ret_report = rep[1];
        return 0;
    }
    close(rep[1]);
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
    }
    *ret_report = rep[0];
    return 1;
}
