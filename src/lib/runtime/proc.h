/* Processes tug started but is not the parent of (a container's init and its monitor, once the
 * command that started them has exited): read from /proc, and reached through pidfds checked
 * against the start time recorded with the pid, so that a pid the kernel has since given to
 * another process is never signalled. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

typedef struct tug_proc {
    char state; /* /proc's letter: 'R', 'S', 'D', 'T', ... 'Z' (zombie), 'X' (dead) */
    pid_t ppid;
    long long start; /* clock ticks after boot */
    int wait_status; /* a zombie's status as waitpid() gives it; -1 when not readable */
} tug_proc;

/* Read /proc/PID/stat. -1 with errno ESRCH when there is no such process. */
int tug_proc_read(pid_t pid, tug_proc *ret);
/* The process has ended (a zombie only its parent can reap, or on its way out). */
bool tug_proc_ended(const tug_proc *p);
/* A pidfd for whatever process has pid now (ESRCH: none). */
int tug_pidfd_open(pid_t pid);
/* A pidfd (O_CLOEXEC) for pid when it is the process that started at start_ticks, or -1 with
 * errno ESRCH when it is gone and its pid free or another's. The start time is read after the
 * pidfd is open, so a match proves the pidfd refers to that process. */
int tug_pidfd_open_checked(pid_t pid, long long start_ticks);
/* Send sig through a pidfd: 0, or -errno (ESRCH: it has been reaped). */
int tug_pidfd_signal(int pidfd, int sig);
/* Wait until the process ends (a zombie has), up to timeout_ms (< 0: for ever). True once it
 * has ended. */
bool tug_pidfd_wait(int pidfd, int timeout_ms);

/* Fork a process that outlives the caller and is not its child: the caller's child forks it
 * and exits at once (reaped here), and it runs in a session of its own with /dev/null as its
 * stdin, stdout and stderr. Returns 0 in it, 1 in the caller, -1 (errno) when a fork fails.
 * *ret_report (O_CLOEXEC): a pipe for its word on how things went, the write end in it, the
 * read end in the caller; both other ends are closed. */
int tug_fork_detached(int *ret_report);
