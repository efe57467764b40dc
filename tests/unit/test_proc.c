/* Processes read from /proc and reached through checked pidfds: a zombie is ended and tells
 * its status, a pid whose start time does not match is never opened, signals go through the
 * pidfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/proc.h"

/* A child that waits for a signal, or exits with code at once (code >= 0). */
static pid_t child(int code)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (code >= 0)
            _exit(code);
        for (;;)
            pause();
    }
    return pid;
}

/* Until the child has ended (not reaped: it stays a zombie for the test to read). */
static void wait_zombie(pid_t pid)
{
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
}

static void test_reads_a_live_process(void **state)
{
    (void)state;
    tug_proc p;
    assert_int_equal(tug_proc_read(getpid(), &p), 0);
    assert_int_equal(p.state, 'R');
    assert_int_equal(p.ppid, getppid());
    assert_true(p.start > 0);
    assert_false(tug_proc_ended(&p));
    errno = 0;
    assert_int_equal(tug_proc_read(0x3fffffff, &p), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_a_zombie_is_ended_and_tells_its_status(void **state)
{
    (void)state;
    pid_t pid = child(3);
    wait_zombie(pid);
    tug_proc p;
    assert_int_equal(tug_proc_read(pid, &p), 0);
    assert_int_equal(p.state, 'Z');
    assert_true(tug_proc_ended(&p));
    assert_true(WIFEXITED(p.wait_status));
    assert_int_equal(WEXITSTATUS(p.wait_status), 3);
    /* a pidfd on it polls as ended at once */
    int fd = tug_pidfd_open_checked(pid, p.start);
    assert_true(fd >= 0);
    assert_true(tug_pidfd_wait(fd, 0));
    close(fd);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    errno = 0;
    assert_int_equal(tug_pidfd_open_checked(pid, p.start), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_pidfd_is_checked_against_the_start_time(void **state)
{
    (void)state;
    pid_t pid = child(-1);
    tug_proc p;
    assert_int_equal(tug_proc_read(pid, &p), 0);
    /* another start time: the pid is taken for another process's and never opened */
    errno = 0;
    assert_int_equal(tug_pidfd_open_checked(pid, p.start + 1), -1);
    assert_int_equal(errno, ESRCH);
    int fd = tug_pidfd_open_checked(pid, p.start);
    assert_true(fd >= 0);
    assert_false(tug_pidfd_wait(fd, 0));
    assert_int_equal(tug_pidfd_signal(fd, SIGTERM), 0);
    assert_true(tug_pidfd_wait(fd, 5000));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    /* reaped: the pidfd still names it, and signals through it fail */
    assert_int_equal(tug_pidfd_signal(fd, SIGTERM), -ESRCH);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_a_live_process),
        cmocka_unit_test(test_a_zombie_is_ended_and_tells_its_status),
        cmocka_unit_test(test_pidfd_is_checked_against_the_start_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
