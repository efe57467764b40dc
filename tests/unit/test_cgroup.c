/* Control groups on the running host (needs root): limits land in the kernel's files, processes
 * can be entered, listed, frozen and killed, the OOM killer is reported, and nothing is left. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "runtime/cgroup.h"
#include "runtime/cgroup_devices.h"
#include "runtime/devices.h"
#include "util/cleanup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define PARENT "tug-test"
#define MiB (1024LL * 1024)

static char *unique_name(void)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *name = NULL;
    assert_true(asprintf(&name, PARENT "/%d-%lx-%u", (int)getpid(), (unsigned long)ts.tv_nsec,
                         counter++) > 0);
    return name;
}

/* The mount point of the hierarchy holding ctrl ("" = the cgroup2 tree), read independently of
 * the code under test. */
static char *mount_of(const char *ctrl)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    assert_non_null(f);
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (found == NULL && getline(&line, &cap, f) > 0) {
        char mnt[4096], fstype[64], opts[1024];
        char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
            continue;
        if (ctrl[0] == '\0') {
            if (strcmp(fstype, "cgroup2") == 0)
                found = strdup(mnt);
            continue;
        }
        if (strcmp(fstype, "cgroup") != 0)
            continue;
        char *save = NULL;
        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
            if (strcmp(o, ctrl) == 0)
                found = strdup(mnt);
    }
    free(line);
    fclose(f);
    return found;
}

/* Where the group's files for ctrl live on this host; NULL when ctrl is not there. */
static char *group_path(const char *ctrl, const char *name)
{
    char *mnt = mount_of(tug_cgroup_host_mode() == TUG_CGROUP_V2 ? "" : ctrl);
    if (mnt == NULL)
        return NULL;
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", mnt, name) > 0);
    free(mnt);
    return p;
}

/* The content of a group file without the trailing newline; NULL when it does not exist. */
static char *read_group_file(const char *ctrl, const char *name, const char *file)
{
    char *dir = group_path(ctrl, name);
    if (dir == NULL)
        return NULL;
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, file) > 0);
    free(dir);
    FILE *f = fopen(path, "re");
    free(path);
    if (f == NULL)
        return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return strdup(buf);
}

static void assert_group_file(const char *ctrl, const char *name, const char *file,
                              const char *want)
{
    char *got = read_group_file(ctrl, name, file);
    if (got == NULL)
        fail_msg("%s of %s is missing", file, name);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", file, got, want);
    free(got);
}

static bool group_file_exists(const char *ctrl, const char *name, const char *file)
{
    char *got = read_group_file(ctrl, name, file);
    free(got);
    return got != NULL;
}

static const char *all_ctrls[] = {"cpu",     "cpuacct", "cpuset", "memory",
                                  "devices", "freezer", "blkio",  "pids"};
#define N_CTRLS (sizeof(all_ctrls) / sizeof(all_ctrls[0]))

static void write_file(const char *dir, const char *file, const char *val)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    fputs(val, f);
    if (fclose(f) != 0)
        fail_msg("write %s to %s: %s", val, path, strerror(errno));
}

/* True when the group's directory exists in any hierarchy tug uses. */
static bool group_exists(const char *name)
{
    const char *const *ctrls = all_ctrls;
    for (size_t i = 0; i < N_CTRLS; i++) {
        char *p = group_path(ctrls[i], name);
        struct stat st;
        bool there = p && stat(p, &st) == 0;
        free(p);
        if (there)
            return true;
    }
    return false;
}

static void require_root(void)
{
    if (geteuid() != 0) {
        print_message("skipped: cgroup tests need root\n");
        skip();
    }
}

/* fork; the child dies with the test process even when an assertion ends it early. */
static pid_t fork_child(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    return pid;
}

static pid_t spawn_sleeper(void)
{
    pid_t pid = fork_child();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

/* How many lines of /proc/PID/cgroup (one per hierarchy) name the group. */
static int hierarchies_naming(pid_t pid, const char *name)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, name) != NULL;
    fclose(f);
    return n;
}

static void reap_killed(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static bool pid_in(pid_t pid, const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

static void test_host_mode(void **state)
{
    (void)state;
    struct statfs sfs;
    assert_int_equal(statfs("/sys/fs/cgroup", &sfs), 0);
    tug_cgroup_mode want;
    if (sfs.f_type == CGROUP2_SUPER_MAGIC)
        want = TUG_CGROUP_V2;
    else if (statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        want = TUG_CGROUP_HYBRID;
    else
        want = TUG_CGROUP_V1;
    assert_int_equal(tug_cgroup_host_mode(), want);
}

static void test_limits_land_in_the_kernel(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup_limits lim = {.memory = 64 * MiB,
                             .pids_limit = 10,
                             .cpu_quota = 50000,
                             .cpu_period = 100000,
                             .cpu_shares = 512};
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    int r = tug_cgroup_create(name, &lim, &cg, &err);
    if (r < 0)
        fail_msg("create: %s", err->msg);

    if (tug_cgroup_host_mode() == TUG_CGROUP_V2) {
        assert_group_file("memory", name, "memory.max", "67108864");
        /* docker's default: as much swap as memory (when the kernel accounts swap) */
        if (group_file_exists("memory", name, "memory.swap.max"))
            assert_group_file("memory", name, "memory.swap.max", "67108864");
        assert_group_file("pids", name, "pids.max", "10");
        assert_group_file("cpu", name, "cpu.max", "50000 100000");
        assert_group_file("cpu", name, "cpu.weight", "20");
        assert_true(tug_cgroup_clone_fd(cg) >= 0);
    } else {
        assert_group_file("memory", name, "memory.limit_in_bytes", "67108864");
        if (group_file_exists("memory", name, "memory.memsw.limit_in_bytes"))
            assert_group_file("memory", name, "memory.memsw.limit_in_bytes", "134217728");
        assert_group_file("pids", name, "pids.max", "10");
        assert_group_file("cpu", name, "cpu.cfs_quota_us", "50000");
        assert_group_file("cpu", name, "cpu.cfs_period_us", "100000");
        assert_group_file("cpu", name, "cpu.shares", "512");
        /* the cpuset group is usable: cpus and mems came down from the root */
        char *cpus = read_group_file("cpuset", "", "cpuset.cpus");
        if (cpus)
            assert_group_file("cpuset", name, "cpuset.cpus", cpus);
        free(cpus);
        assert_int_equal(tug_cgroup_clone_fd(cg), -1);
    }
    tug_cgroup_free(cg);

    /* An existing group is reused and takes the new limits (growing past the old swap limit). */
    lim.memory = 256 * MiB;
    lim.pids_limit = 20;
    r = tug_cgroup_create(name, &lim, &cg, &err);
    if (r < 0)
        fail_msg("create again: %s", err->msg);
    assert_group_file("pids", name, "pids.max", "20");
    assert_group_file("memory", name,
                      tug_cgroup_host_mode() == TUG_CGROUP_V2 ? "memory.max"
                                                              : "memory.limit_in_bytes",
                      "268435456");

    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    assert_false(group_exists(name));
    tug_cgroup_free(cg);
    free(name);
}

static void test_enter_list_freeze_kill(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);

    pid_t child = spawn_sleeper();
    if (tug_cgroup_enter(cg, child, &err) < 0)
        fail_msg("enter: %s", err->msg);
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(tug_cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    /* the kernel agrees on where the child is */
    assert_true(hierarchies_naming(child, name) >= 1);

    bool v2 = tug_cgroup_host_mode() == TUG_CGROUP_V2;
    if (tug_cgroup_freeze(cg, true, &err) < 0)
        fail_msg("freeze: %s", err->msg);
    if (v2) {
        char *ev = read_group_file("", name, "cgroup.events");
        assert_non_null(strstr(ev, "frozen 1"));
        free(ev);
    } else {
        assert_group_file("freezer", name, "freezer.state", "FROZEN");
    }
    assert_int_equal(tug_cgroup_freeze(cg, false, &err), 0);
    if (v2) {
        char *ev = read_group_file("", name, "cgroup.events");
        assert_non_null(strstr(ev, "frozen 0"));
        free(ev);
    } else {
        assert_group_file("freezer", name, "freezer.state", "THAWED");
    }

    /* a signal the child ignores by default leaves it alive; SIGKILL does not */
    assert_int_equal(tug_cgroup_kill(cg, SIGCHLD, &err), 0);
    assert_int_equal(kill(child, 0), 0);
    assert_int_equal(tug_cgroup_kill(cg, SIGKILL, &err), 0);
    reap_killed(child);
    assert_int_equal(tug_cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(pids);

    /* killing a paused container works (docker kill on a paused container) */
    child = spawn_sleeper();
    assert_int_equal(tug_cgroup_enter(cg, child, &err), 0);
    assert_int_equal(tug_cgroup_freeze(cg, true, &err), 0);
    assert_int_equal(tug_cgroup_kill(cg, SIGKILL, &err), 0);
    reap_killed(child);

    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    assert_false(group_exists(name));
    tug_cgroup_free(cg);
    free(name);
}

/* A child that moves itself in lands in every hierarchy's group, as one moved by its parent. */
static void test_enter_self(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork_child();
    if (child == 0) {
        tug_error *e = NULL;
        char ok = tug_cgroup_enter_self(cg, &e) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    assert_int_equal(ok, 'y');

    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(tug_cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);
    /* every hierarchy tug uses puts the child in the group */
    int in_group = hierarchies_naming(child, name);
    assert_true(in_group >= 1);
    if (tug_cgroup_host_mode() != TUG_CGROUP_V2)
        assert_true(in_group >= 5); /* cpu, cpuacct, memory, pids, ... */

    assert_int_equal(tug_cgroup_kill(cg, SIGKILL, &err), 0);
    reap_killed(child);
    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    tug_cgroup_free(cg);
    free(name);
}

/* destroy kills what is still running, grandchildren included, and removes the group. */
static void test_destroy_kills_leftovers(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t child = fork_child();
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        if (fork() == 0)
            for (;;)
                pause();
        for (;;)
            pause();
    }
    close(go[0]);
    assert_int_equal(tug_cgroup_enter(cg, child, &err), 0);
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    pid_t *pids = NULL;
    size_t n = 0;
    for (int i = 0; i < 1000 && n < 2; i++) {
        free(pids);
        pids = NULL;
        assert_int_equal(tug_cgroup_pids(cg, &pids, &n, &err), 0);
        if (n < 2)
            usleep(1000);
    }
    assert_int_equal(n, 2);
    assert_true(pid_in(child, pids, n));
    free(pids);

    if (tug_cgroup_destroy(cg, &err) < 0)
        fail_msg("destroy: %s", err->msg);
    assert_false(group_exists(name));
    /* both were killed: the child here, the grandchild through this process as subreaper */
    for (int i = 0; i < 2; i++) {
        int status = 0;
        pid_t got = waitpid(-1, &status, 0);
        assert_true(got > 0);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
    }
    tug_cgroup_free(cg);
    free(name);
}

/* A container that made groups of its own below tug's (systemd, docker-in-docker) and moved
 * processes into them still goes away completely. */
static void test_destroy_removes_nested_groups(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);
    pid_t child = spawn_sleeper();
    assert_int_equal(tug_cgroup_enter(cg, child, &err), 0);

    char *inner = NULL, pidbuf[32];
    assert_true(asprintf(&inner, "%s/inner/deeper", name) > 0);
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)child);
    bool v2 = tug_cgroup_host_mode() == TUG_CGROUP_V2;
    for (size_t i = 0; i < (v2 ? 1 : N_CTRLS); i++) {
        char *dir = group_path(all_ctrls[i], inner);
        if (dir == NULL)
            continue;
        char *mid = strdup(dir);
        *strrchr(mid, '/') = '\0';
        mkdir(mid, 0755);
        mkdir(dir, 0755);
        if (strcmp(all_ctrls[i], "cpuset") == 0 && !v2) {
            char *cpus = read_group_file("cpuset", name, "cpuset.cpus");
            char *mems = read_group_file("cpuset", name, "cpuset.mems");
            write_file(mid, "cpuset.cpus", cpus);
            write_file(mid, "cpuset.mems", mems);
            write_file(dir, "cpuset.cpus", cpus);
            write_file(dir, "cpuset.mems", mems);
            free(cpus);
            free(mems);
        }
        write_file(dir, "cgroup.procs", pidbuf);
        free(mid);
        free(dir);
    }
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(tug_cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    if (tug_cgroup_destroy(cg, &err) < 0)
        fail_msg("destroy: %s", err->msg);
    reap_killed(child);
    assert_false(group_exists(name));
    tug_cgroup_free(cg);
    free(inner);
    free(name);
}

static void test_missing_group(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_open(name, &cg, &err), -ENOENT);
    assert_int_equal(err->errnum, ENOENT);
    tug_error_free(err);
    err = NULL;

    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);
    tug_cgroup *other = NULL;
    assert_int_equal(tug_cgroup_open(name, &other, &err), 0);
    assert_int_equal(tug_cgroup_destroy(other, &err), 0);
    tug_cgroup_free(other);
    /* destroying a group that is already gone succeeds */
    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    assert_false(group_exists(name));
    tug_cgroup_free(cg);
    free(name);
}

static void expect_user_error(const tug_cgroup_limits *lim, const char *msg)
{
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_true(tug_cgroup_create(name, lim, &cg, &err) < 0);
    assert_null(cg);
    assert_non_null(err);
    assert_int_equal(err->kind, TUG_ERR_USER);
    if (strstr(err->msg, msg) == NULL)
        fail_msg("got \"%s\", want \"%s\"", err->msg, msg);
    tug_error_free(err);
    assert_false(group_exists(name));
    free(name);
}

static void test_limits_docker_refuses(void **state)
{
    (void)state;
    expect_user_error(&(tug_cgroup_limits){.memory = 1 * MiB},
                      "Minimum memory limit allowed is 6MB");
    expect_user_error(&(tug_cgroup_limits){.memory = 64 * MiB, .memory_swap = 32 * MiB},
                      "Minimum memoryswap limit should be larger than memory limit");
    expect_user_error(&(tug_cgroup_limits){.memory_swap = 64 * MiB},
                      "You should always set the Memory limit when using Memoryswap limit");
    expect_user_error(&(tug_cgroup_limits){.cpu_quota = 500}, "CPU cfs quota can not be less");
    expect_user_error(&(tug_cgroup_limits){.cpu_period = 2000000}, "CPU cfs period can not be");
}

/* A limit the kernel refuses names the file and the value, and leaves no group behind. */
static void test_kernel_refusal_is_explained(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup_limits lim = {.cpu_quota = 1LL << 50};
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_true(tug_cgroup_create(name, &lim, &cg, &err) < 0);
    assert_null(cg);
    const char *want = tug_cgroup_host_mode() == TUG_CGROUP_V2
                           ? "set cpu quota: write 1125899906842624 100000 to cpu.max: "
                           : "set cpu quota: write 1125899906842624 to cpu.cfs_quota_us: ";
    if (strstr(err->msg, want) == NULL)
        fail_msg("got \"%s\", want \"%s\"", err->msg, want);
    assert_int_equal(err->errnum, EINVAL);
    tug_error_free(err);
    assert_false(group_exists(name));
    free(name);
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *bad[] = {"", "/abs", "../escape", "a/../b", "a//b", "a/", "./a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_cgroup *cg = NULL;
        tug_error *err = NULL;
        assert_true(tug_cgroup_create(bad[i], NULL, &cg, &err) < 0);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
    }
}

static void test_oom_kill_is_reported(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup_limits lim = {.memory = 16 * MiB};
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    if (tug_cgroup_create(name, &lim, &cg, &err) < 0) {
        print_message("skipped: no memory limit on this host: %s\n", err->msg);
        tug_error_free(err);
        free(name);
        skip();
    }
    bool v2 = tug_cgroup_host_mode() == TUG_CGROUP_V2;
    char *counters = read_group_file("memory", name, v2 ? "memory.events" : "memory.oom_control");
    bool counted = counters && strstr(counters, "oom_kill ") != NULL;
    free(counters);
    if (!counted) {
        tug_cgroup_destroy(cg, &err);
        tug_cgroup_free(cg);
        free(name);
        print_message("skipped: the kernel does not count OOM kills per cgroup (Linux < 4.13)\n");
        skip();
    }
    assert_false(tug_cgroup_oom_killed(cg));

    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t child = fork_child();
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        size_t size = 200 * MiB;
        volatile char *p = malloc(size);
        if (p == NULL)
            _exit(2);
        for (size_t off = 0; off < size; off += 4096)
            p[off] = 1;
        _exit(0);
    }
    close(go[0]);
    assert_int_equal(tug_cgroup_enter(cg, child, &err), 0);
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    reap_killed(child);
    assert_true(tug_cgroup_oom_killed(cg));

    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    assert_false(group_exists(name));
    tug_cgroup_free(cg);
    free(name);
}

static void test_usage(void **state)
{
    (void)state;
    require_root();
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_cgroup_create(name, NULL, &cg, &err), 0);
    int go[2], ready[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork_child();
    if (child == 0) {
        char c;
        close(go[1]);
        close(ready[0]);
        /* once moved into every hierarchy, use some memory */
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        size_t size = 8 * MiB;
        volatile char *p = malloc(size);
        for (size_t off = 0; p && off < size; off += 4096)
            p[off] = 1;
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(go[0]);
    close(ready[1]);
    assert_int_equal(tug_cgroup_enter(cg, child, &err), 0);
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    long long mem = -1, cpu = -1;
    /* the counters can trail the child's work by a moment on a loaded machine */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(tug_cgroup_usage(cg, &mem, &cpu), 0);
        if (mem >= 8 * MiB && cpu > 0)
            break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (mem < 8 * MiB || cpu <= 0)
        fail_msg("usage: memory %lld bytes (want >= %lld), cpu %lld ns (want > 0)", mem, 8 * MiB,
                 cpu);
    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    reap_killed(child);
    tug_cgroup_free(cg);
    free(name);
}

/* Remove the shared parent the tests created in every hierarchy. */
/* ---- the device policy ------------------------------------------------------------------- */

#define RWM TUG_DEV_RWM

static unsigned acc_bits(const char *acc)
{
    unsigned b = 0;
    for (; *acc; acc++)
        b |= *acc == 'r' ? TUG_DEV_READ : *acc == 'w' ? TUG_DEV_WRITE : TUG_DEV_MKNOD;
    return b;
}

/* What the kernel answers (1 allow, 0 deny) when the program runs for one access. Only the
 * instructions tug emits are known; anything else, or a backward jump, fails the test. */
static int run_program(const struct bpf_insn *p, size_t len, char type, unsigned maj,
                       unsigned min, const char *acc)
{
    uint32_t ctx[3] = {
        (acc_bits(acc) << 16) | (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), maj,
        min};
    uint64_t r[11] = {0};
    for (size_t pc = 0; pc < len; pc++) {
        const struct bpf_insn *i = &p[pc];
        uint64_t imm = (uint64_t)(int64_t)i->imm;
        switch (i->code) {
        case BPF_LDX | BPF_W | BPF_MEM:
            assert_int_equal(i->src_reg, 1);
            assert_true(i->off >= 0 && i->off <= 8 && i->off % 4 == 0);
            r[i->dst_reg] = ctx[i->off / 4];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_X:
            r[i->dst_reg] = r[i->src_reg];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_K:
            r[i->dst_reg] = imm;
            break;
        case BPF_ALU64 | BPF_AND | BPF_K:
            r[i->dst_reg] &= imm;
            break;
        case BPF_ALU64 | BPF_RSH | BPF_K:
            r[i->dst_reg] >>= i->imm;
            break;
        case BPF_JMP | BPF_JNE | BPF_K:
        case BPF_JMP | BPF_JEQ | BPF_K:
            assert_true(i->off >= 0);
            if ((r[i->dst_reg] == imm) == (BPF_OP(i->code) == BPF_JEQ))
                pc += (size_t)i->off;
            break;
        case BPF_JMP | BPF_EXIT:
            return (int)r[0];
        default:
            fail_msg("instruction %zu: unexpected opcode 0x%x", pc, i->code);
        }
    }
    fail_msg("the program runs past its end");
    return -1;
}

struct access_case {
    char type;
    unsigned maj, min;
    const char *acc;
    int want;
};

static void check_program(const tug_device_rule *rules, size_t n, const struct access_case *c,
                          size_t nc, size_t *ret_len)
{
    struct bpf_insn *prog = NULL;
    size_t len = 0;
    tug_error *err = NULL;
    assert_int_equal(tug_device_bpf_build(rules, n, &prog, &len, &err), 0);
    for (size_t i = 0; i < nc; i++) {
        int got = run_program(prog, len, c[i].type, c[i].maj, c[i].min, c[i].acc);
        if (got != c[i].want)
            fail_msg("%c %u:%u %s: got %s, want %s", c[i].type, c[i].maj, c[i].min, c[i].acc,
                     got ? "allow" : "deny", c[i].want ? "allow" : "deny");
    }
    /* the verifier takes it (root only: loading needs CAP_BPF or CAP_SYS_ADMIN) */
    if (geteuid() == 0) {
        int fd = tug_device_bpf_load(prog, len, &err);
        if (fd < 0)
            fail_msg("load: %s", err->msg);
        close(fd);
    }
    free(prog);
    if (ret_len)
        *ret_len = len;
}

static void test_device_program_decides(void **state)
{
    (void)state;
    size_t n_def = 0;
    const tug_device_rule *def = tug_device_rules_default(&n_def);
    /* docker's defaults: the few harmless nodes, mknod of anything, nothing else */
    static const struct access_case docker[] = {
        {'c', 1, 3, "rw", 1},   {'c', 1, 9, "r", 1},    {'c', 5, 2, "rw", 1},
        {'c', 136, 7, "rw", 1}, {'c', 10, 200, "rw", 1}, {'c', 5, 1, "w", 1},
        {'c', 10, 232, "r", 0}, {'c', 10, 232, "m", 1}, {'c', 7, 0, "r", 0},
        {'c', 4, 0, "rw", 0},   {'c', 10, 229, "rw", 0}, {'b', 7, 0, "rw", 0},
        {'b', 7, 0, "m", 1},    {'b', 1, 3, "r", 0},    {'c', 1, 1, "r", 0},
        {'c', 10, 232, "rm", 0},
    };
    check_program(def, n_def, docker, TUG_ARRAY_SIZE(docker), NULL);

    /* --device-cgroup-rule 'c 42:* rmw' after them */
    tug_device_rule more[32];
    memcpy(more, def, n_def * sizeof(*def));
    more[n_def] = (tug_device_rule){true, 'c', 42, -1, RWM};
    static const struct access_case extra[] = {
        {'c', 42, 7, "rw", 1}, {'c', 43, 7, "r", 0}, {'b', 42, 7, "r", 0}};
    check_program(more, n_def + 1, extra, TUG_ARRAY_SIZE(extra), NULL);

    /* privileged: allow-all last makes the rules before it dead code, which is not emitted */
    static const tug_device_rule priv[] = {{false, 'a', -1, -1, RWM}, {true, 'a', -1, -1, RWM}};
    static const struct access_case all[] = {{'c', 10, 232, "rw", 1}, {'b', 7, 0, "rwm", 1}};
    size_t len = 0;
    check_program(priv, 2, all, TUG_ARRAY_SIZE(all), &len);
    assert_int_equal(len, 6 + 2);

    /* the last rule that matches decides: a deny of w narrows an earlier allow */
    static const tug_device_rule narrow[] = {
        {false, 'a', -1, -1, RWM}, {true, 'c', 1, 3, RWM}, {false, 'c', 1, 3, TUG_DEV_WRITE}};
    static const struct access_case narrowed[] = {
        {'c', 1, 3, "r", 1}, {'c', 1, 3, "w", 0}, {'c', 1, 3, "rw", 0}, {'c', 1, 5, "r", 0}};
    check_program(narrow, 3, narrowed, TUG_ARRAY_SIZE(narrowed), NULL);

    /* an allow covers an access only with all its bits; type a is either type */
    static const tug_device_rule read_any[] = {{true, 'a', -1, -1, TUG_DEV_READ}};
    static const struct access_case reads[] = {
        {'b', 8, 0, "r", 1}, {'c', 4, 0, "r", 1}, {'b', 8, 0, "w", 0}, {'c', 4, 0, "rw", 0}};
    check_program(read_any, 1, reads, TUG_ARRAY_SIZE(reads), NULL);

    /* no rule: nothing is allowed */
    static const struct access_case none[] = {{'c', 1, 3, "r", 0}};
    check_program(NULL, 0, none, 1, NULL);

    /* what a 32-bit immediate cannot hold is refused, not truncated */
    tug_device_rule big = {true, 'c', 1LL << 32, 0, RWM};
    struct bpf_insn *prog = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_device_bpf_build(&big, 1, &prog, &len, &err), -EINVAL);
    assert_null(prog);
    tug_error_free(err);
}

static void test_device_rules_v1_lines(void **state)
{
    (void)state;
    char lines[2][64];
    tug_device_rule r = {true, 'c', 136, -1, RWM};
    assert_int_equal(tug_device_rule_v1(&r, lines), 1);
    assert_string_equal(lines[0], "c 136:* rwm");
    r = (tug_device_rule){false, 'a', -1, -1, RWM};
    assert_int_equal(tug_device_rule_v1(&r, lines), 1);
    assert_string_equal(lines[0], "a");
    /* the kernel would read "a *:* r" as all access: one line per type instead */
    r = (tug_device_rule){true, 'a', -1, -1, TUG_DEV_READ | TUG_DEV_MKNOD};
    assert_int_equal(tug_device_rule_v1(&r, lines), 2);
    assert_string_equal(lines[0], "c *:* rm");
    assert_string_equal(lines[1], "b *:* rm");
}

/* In a process inside the group: 0 when the policy holds (a null node made here opens, a kvm
 * node is made but opening it fails with EPERM), else which step did not. */
static int probe_devices(const char *dir)
{
    char null_path[4200], kvm_path[4200];
    snprintf(null_path, sizeof(null_path), "%s/null", dir);
    snprintf(kvm_path, sizeof(kvm_path), "%s/kvm", dir);
    if (mknod(null_path, S_IFCHR | 0600, makedev(1, 3)) < 0)
        return 1;
    if (mknod(kvm_path, S_IFCHR | 0600, makedev(10, 232)) < 0)
        return 2;
    int fd = open(null_path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 3;
    close(fd);
    fd = open(kvm_path, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return 4;
    return errno == EPERM ? 0 : 5;
}

static void assert_probe_passes(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    static const char *const why[] = {"", "mknod of null failed", "mknod of kvm failed",
                                      "null does not open", "kvm opens",
                                      "kvm fails, but not with EPERM", "could not enter"};
    int code = WEXITSTATUS(status);
    if (code != 0)
        fail_msg("%s", code < 7 ? why[code] : "?");
}

static char *probe_dir(void)
{
    char *dir = strdup("/tmp/tug-test-devices-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_probe_dir(char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/null", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/kvm", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void test_device_rules_in_force(void **state)
{
    (void)state;
    require_root();
    size_t n_def = 0;
    const tug_device_rule *def = tug_device_rules_default(&n_def);
    tug_device_rule rules[32];
    memcpy(rules, def, n_def * sizeof(*def));
    rules[n_def] = (tug_device_rule){true, 'c', 42, -1, RWM};
    tug_cgroup_limits lim = {.devices = rules, .n_devices = n_def + 1};
    char *name = unique_name();
    tug_cgroup *cg = NULL;
    tug_error *err = NULL;
    if (tug_cgroup_create(name, &lim, &cg, &err) < 0)
        fail_msg("%s", err->msg);
    if (tug_cgroup_host_mode() != TUG_CGROUP_V2)
        assert_group_file("devices", name, "devices.list",
                          "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\n"
                          "c 1:9 rwm\nc 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n"
                          "c 10:200 rwm\nc 42:* rwm");
    char *dir = probe_dir();
    pid_t pid = fork_child();
    if (pid == 0)
        _exit(tug_cgroup_enter_self(cg, NULL) < 0 ? 6 : probe_devices(dir));
    assert_probe_passes(pid);
    remove_probe_dir(dir);
    assert_int_equal(tug_cgroup_destroy(cg, &err), 0);
    tug_cgroup_free(cg);
    free(name);
}

static uint32_t device_programs(int dfd)
{
    uint32_t ids[64];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)dfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = 64;
    assert_int_equal(syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)), 0);
    return a.query.prog_cnt;
}

/* The v2 program on a cgroup2 group, whatever tug uses on this host (a hybrid host has the
 * cgroup2 tree too): it holds for the group's processes, and attaching again replaces it. */
static void test_device_program_on_cgroup2(void **state)
{
    (void)state;
    require_root();
    char *mnt = mount_of("");
    if (mnt == NULL) {
        print_message("skipped: no cgroup2 tree is mounted\n");
        free(mnt);
        skip();
    }
    char *name = unique_name(), *path = NULL, *parent = NULL;
    assert_true(asprintf(&parent, "%s/" PARENT, mnt) > 0);
    assert_true(asprintf(&path, "%s/%s", mnt, name) > 0);
    assert_true(mkdir(parent, 0755) == 0 || errno == EEXIST);
    assert_int_equal(mkdir(path, 0755), 0);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    size_t n_def = 0;
    const tug_device_rule *def = tug_device_rules_default(&n_def);
    struct bpf_insn *prog = NULL;
    size_t len = 0;
    tug_error *err = NULL;
    assert_int_equal(tug_device_bpf_build(def, n_def, &prog, &len, &err), 0);
    for (int round = 0; round < 2; round++) {
        if (tug_device_bpf_attach(dfd, prog, len, &err) < 0)
            fail_msg("%s", err->msg);
        assert_int_equal(device_programs(dfd), 1);
    }
    char *dir = probe_dir();
    pid_t pid = fork_child();
    if (pid == 0) {
        char procs[4200];
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
        FILE *f = fopen(procs, "we");
        _exit(f == NULL || fputs("0", f) < 0 || fclose(f) != 0 ? 6 : probe_devices(dir));
    }
    assert_probe_passes(pid);
    remove_probe_dir(dir);
    close(dfd);
    assert_int_equal(rmdir(path), 0);
    free(prog);
    free(path);
    free(parent);
    free(name);
    free(mnt);
}

static int remove_parent(void **state)
{
    (void)state;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char mnt[4096], fstype[64], path[4200];
        char *sep = strstr(line, " - ");
        if (sep && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
            sscanf(sep + 3, "%63s", fstype) == 1 && strncmp(fstype, "cgroup", 6) == 0) {
            snprintf(path, sizeof(path), "%s/" PARENT, mnt);
            rmdir(path);
        }
    }
    free(line);
    fclose(f);
    return 0;
}

int main(void)
{
    /* Grandchildren of the tests are reparented here, so they can be reaped and checked. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_mode),
        cmocka_unit_test(test_limits_land_in_the_kernel),
        cmocka_unit_test(test_enter_list_freeze_kill),
        cmocka_unit_test(test_enter_self),
        cmocka_unit_test(test_destroy_kills_leftovers),
        cmocka_unit_test(test_destroy_removes_nested_groups),
        cmocka_unit_test(test_missing_group),
        cmocka_unit_test(test_limits_docker_refuses),
        cmocka_unit_test(test_kernel_refusal_is_explained),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_oom_kill_is_reported),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_device_program_decides),
        cmocka_unit_test(test_device_rules_v1_lines),
        cmocka_unit_test(test_device_rules_in_force),
        cmocka_unit_test(test_device_program_on_cgroup2),
    };
    return cmocka_run_group_tests(tests, NULL, remove_parent);
}
