/* Capabilities and seccomp. Everything that changes the process's privileges runs in a forked
 * child so the test process keeps its own; these tests need root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/security.h"
#include "util/cleanup.h"
#include "util/fs.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#define CAP_BIT(c) (UINT64_C(1) << (c))
#define SYS_ADMIN 21 /* CAP_SYS_ADMIN */

static char tmpdir[] = "/tmp/tug-test-security-XXXXXX";
static char cache_dir[160];

/* A check inside a child: report and fail the child. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s (errno %d %s)\n", __FILE__, __LINE__, #cond,  \
                    errno, strerror(errno));                                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)
/* A syscall that must fail with this errno. */
#define CHECK_ERRNO(call, err)                                                                     \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long _r = (long)(call);                                                                    \
        if (_r != -1 || errno != (err)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %ld errno %d (%s), wanted errno %d\n", __FILE__,   \
                    __LINE__, #call, _r, errno, strerror(errno), (err));                           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Run fn in a child; it may write a result to out_fd. Returns the exit status (128 + signal). */
static int in_child(int (*fn)(void *arg, int out_fd), void *arg, void *result, size_t result_len)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(fn(arg, fds[1]));
    }
    close(fds[1]);
    if (result_len > 0) {
        ssize_t n = read(fds[0], result, result_len);
        if (n != (ssize_t)result_len)
            memset(result, 0, result_len);
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t status_field(const char *field)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL)
        return UINT64_MAX;
    char line[256];
    uint64_t v = UINT64_MAX;
    size_t len = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtoull(line + len + 1, NULL, 16);
            break;
        }
    }
    fclose(f);
    return v;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int load_default(uint64_t caps)
{
    tug_error *err = NULL;
    if (tug_seccomp_load_default(cache_dir, caps, &err) < 0) {
        fprintf(stderr, "load default profile: %s\n", err ? err->msg : "?");
        tug_error_free(err);
        return -1;
    }
    return 0;
}

/* ---- capabilities ---------------------------------------------------------------------------- */

static void test_caps_default_is_dockers(void **state)
{
    (void)state;
    assert_int_equal(tug_caps_default(), UINT64_C(0x00000000a80425fb));
}

static void test_caps_all_follows_the_kernel(void **state)
{
    (void)state;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    assert_non_null(f);
    int last = -1;
    assert_int_equal(fscanf(f, "%d", &last), 1);
    fclose(f);
    uint64_t want = last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
    assert_int_equal(tug_caps_all(), want);
}

static void test_caps_parse_spellings(void **state)
{
    (void)state;
    const char *spellings[] = {"NET_ADMIN", "CAP_NET_ADMIN", "net_admin", "cap_Net_Admin"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(spellings); i++) {
        int cap = -2;
        bool all = true;
        assert_int_equal(tug_caps_parse(spellings[i], &cap, &all, NULL), 0);
        assert_int_equal(cap, 12);
        assert_false(all);
    }
    int cap = 0;
    bool all = false;
    assert_int_equal(tug_caps_parse("all", &cap, &all, NULL), 0);
    assert_true(all);

    assert_string_equal(tug_caps_name(21), "CAP_SYS_ADMIN");
    assert_string_equal(tug_caps_name(0), "CAP_CHOWN");
    assert_string_equal(tug_caps_name(40), "CAP_CHECKPOINT_RESTORE");
    assert_null(tug_caps_name(-1));
    assert_null(tug_caps_name(64));
    for (int c = 0; c <= 40; c++) {
        int back = -1;
        assert_int_equal(tug_caps_parse(tug_caps_name(c), &back, NULL, NULL), 0);
        assert_int_equal(back, c);
    }
}

static void test_caps_parse_unknown_is_a_user_error(void **state)
{
    (void)state;
    cleanup_error tug_error *err = NULL;
    int cap = 7;
    assert_true(tug_caps_parse("CAP_FLY", &cap, NULL, &err) < 0);
    assert_non_null(err);
    assert_int_equal(err->kind, TUG_ERR_USER);
    assert_non_null(strstr(err->msg, "CAP_FLY"));
    assert_int_equal(cap, 7); /* untouched on failure */
    tug_error_freep(&err);
    assert_true(tug_caps_parse("CAP_ALL", &cap, NULL, &err) < 0);
    assert_true(tug_caps_parse("", &cap, NULL, &err) < 0);
}

static int child_apply_default(void *arg, int out)
{
    tug_error *err = NULL;
    CHECK(tug_caps_apply(tug_caps_default(), &err) == 0);
    CHECK(status_field("CapEff") == tug_caps_default());
    CHECK(status_field("CapPrm") == tug_caps_default());
    CHECK(status_field("CapBnd") == tug_caps_default());
    CHECK(status_field("CapInh") == 0);
    CHECK(status_field("CapAmb") == 0);
    /* What was dropped stays dropped. */
    CHECK(prctl(PR_CAPBSET_READ, SYS_ADMIN, 0, 0, 0) == 0);
    CHECK(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 && errno == EPERM);
    return 0;
}

static void test_caps_apply_gives_dockers_default_set(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_apply_default, NULL, NULL, 0), 0);
}

static int child_apply_after_setuid(void *arg, int out)
{
    tug_error *err = NULL;
    CHECK(tug_caps_prepare_setuid(&err) == 0);
    CHECK(setresgid(1000, 1000, 1000) == 0);
    CHECK(setresuid(1000, 1000, 1000) == 0);
    CHECK(status_field("CapEff") == 0);               /* the uid switch cleared it */
    uint64_t keep = tug_caps_default() | CAP_BIT(12); /* + CAP_NET_ADMIN */
    CHECK(tug_caps_apply(keep, &err) == 0);
    CHECK(status_field("CapEff") == keep);
    CHECK(status_field("CapPrm") == keep);
    CHECK(status_field("CapBnd") == keep);
    CHECK(status_field("CapAmb") == 0);
    CHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
    return 0;
}

static void test_caps_apply_after_switching_to_a_user(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_apply_after_setuid, NULL, NULL, 0), 0);
}

/* ---- the default seccomp profile ------------------------------------------------------------- */

#if defined(__x86_64__)
/* An i386 syscall from 64-bit code. */
static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

static int child_probe_int80(void *arg, int out)
{
    return int80(20 /* i386 getpid */, 0, 0, 0) == getpid() ? 0 : 1;
}
#endif

static int child_default_denies(void *arg, int out)
{
    bool ia32 = *(bool *)arg;
    CHECK(setsid() > 0); /* no controlling terminal for vhangup to hang up if it got through */
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(load_default(tug_caps_default()) == 0);
    CHECK(status_field("Seccomp") == 2);

    CHECK_ERRNO(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_add_key, "user", "tug", "x", 1, -3), EPERM);
    CHECK_ERRNO(syscall(SYS_request_key, "user", "tug", NULL, 0), EPERM);
    CHECK_ERRNO(unshare(CLONE_NEWUSER), EPERM);
    CHECK_ERRNO(unshare(CLONE_NEWNS), EPERM);
    CHECK_ERRNO(setns(0, 0), EPERM);
    /* Arguments that fail harmlessly should the filter let them through. */
    CHECK_ERRNO(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL), EPERM);
    CHECK_ERRNO(syscall(SYS_init_module, NULL, 0, ""), EPERM);
    CHECK_ERRNO(syscall(SYS_finit_module, -1, "", 0), EPERM);
    CHECK_ERRNO(syscall(SYS_delete_module, "tug_none", 0), EPERM);
    CHECK_ERRNO(syscall(SYS_bpf, 0, NULL, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_userfaultfd, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_mount, "none", "/", NULL, MS_REC | MS_PRIVATE, NULL), EPERM);
    CHECK_ERRNO(syscall(SYS_umount2, "/nonexistent", 0), EPERM);
    CHECK_ERRNO(syscall(SYS_pivot_root, "/nonexistent", "/nonexistent"), EPERM);
    CHECK_ERRNO(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM); /* bad magic */
    CHECK_ERRNO(syscall(SYS_settimeofday, NULL, NULL), EPERM);
    CHECK_ERRNO(syscall(SYS_acct, "/nonexistent/acct"), EPERM);
    CHECK_ERRNO(syscall(SYS_iopl, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_io_uring_setup, 1, NULL), EPERM);
    CHECK_ERRNO(syscall(SYS_vhangup), EPERM);
    CHECK_ERRNO(syscall(SYS_syslog, 3, NULL, 0), EPERM);
    /* Namespace flags in clone are refused; clone3 answers ENOSYS so libc falls back. */
    CHECK_ERRNO(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL), EPERM);
    CHECK_ERRNO(syscall(SYS_clone3, NULL, 0), ENOSYS);
    /* Sockets: AF_VSOCK and AF_ALG refused, also with junk in the upper half of the family. */
    CHECK_ERRNO(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM);
    CHECK_ERRNO(socket(AF_ALG, SOCK_SEQPACKET, 0), EPERM);
    CHECK_ERRNO(syscall(SYS_socket, (1UL << 32) | AF_ALG, SOCK_SEQPACKET, 0), EPERM);
    /* personality: only the values docker lists. */
    CHECK_ERRNO(personality(ADDR_NO_RANDOMIZE), EPERM);
    /* A syscall newer than any the profile names: ENOSYS, so libc can fall back. */
    CHECK_ERRNO(syscall(1000), ENOSYS);
    CHECK_ERRNO(syscall(0x3fffffff), ENOSYS);

#if defined(__x86_64__)
    if (ia32) {
        CHECK(int80(20 /* getpid */, 0, 0, 0) == getpid());
        CHECK(int80(288 /* keyctl */, 0, -3, 0) == -EPERM);
        CHECK(int80(26 /* ptrace: allowed */, -1, 0, 0) != -EPERM);
        CHECK(int80(1000, 0, 0, 0) == -ENOSYS);
    }
#endif
    return 0;
}

static void test_default_profile_denies_what_docker_denies(void **state)
{
    (void)state;
    bool ia32 = false;
#if defined(__x86_64__)
    ia32 = in_child(child_probe_int80, NULL, NULL, 0) == 0;
    if (!ia32)
        fprintf(stderr, "(no ia32 emulation: i386 checks skipped)\n");
#endif
    assert_int_equal(in_child(child_default_denies, &ia32, NULL, 0), 0);
}

static void *thread_main(void *arg)
{
    return arg;
}

static int child_default_allows(void *arg, int out)
{
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(load_default(tug_caps_default()) == 0);

    CHECK(getpid() > 0);
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "ok", 2) == 2);
    char buf[2];
    CHECK(read(fds[0], buf, 2) == 2 && memcmp(buf, "ok", 2) == 0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    CHECK(munmap(p, 4096) == 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    close(s);
    s = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    close(s);
    s = socket(AF_NETLINK, SOCK_RAW, 0);
    CHECK(s >= 0);
    close(s);
    CHECK(personality(0xffffffff) != -1);
    CHECK(chroot("/nonexistent") == -1 && errno == ENOENT); /* CAP_SYS_CHROOT is in the set */
    CHECK(syscall(SYS_ptrace, -1, 0, 0, 0) == -1 && errno != EPERM); /* allowed since 4.8 */

    pid_t pid = fork(); /* clone without namespace flags */
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(7);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
    pthread_t t; /* clone3 first, clone after its ENOSYS */
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    return 0;
}

static void test_default_profile_lets_ordinary_programs_run(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_default_allows, NULL, NULL, 0), 0);
}

static int child_sys_admin(void *arg, int out)
{
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(load_default(tug_caps_default() | CAP_BIT(SYS_ADMIN)) == 0);
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHECK(syscall(SYS_clone3, NULL, 0) == -1 && errno != ENOSYS && errno != EPERM);
    CHECK_ERRNO(syscall(SYS_keyctl, 0, -3, 0), EPERM); /* never allowed */
    CHECK_ERRNO(syscall(SYS_init_module, NULL, 0, ""), EPERM);
    return 0;
}

static void test_cap_sys_admin_opens_mount_and_unshare(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_sys_admin, NULL, NULL, 0), 0);
}

static int child_needs_nnp(void *arg, int out)
{
    tug_error *err = NULL;
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    CHECK(tug_caps_apply(tug_caps_default(), &err) == 0);
    CHECK(tug_seccomp_load_default(cache_dir, tug_caps_default(), &err) < 0);
    CHECK(err->errnum == EACCES && strstr(err->msg, "no_new_privs") != NULL);
    tug_error_free(err);
    return 0;
}

static void test_load_without_no_new_privs_or_sys_admin_fails(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_needs_nnp, NULL, NULL, 0), 0);
}

/* ---- the compiled-filter cache --------------------------------------------------------------- */

static int child_timed_load(void *arg, int out)
{
    const char *dir = arg;
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    tug_error *err = NULL;
    double t0 = now_ms();
    int r = tug_seccomp_load_default(dir, tug_caps_default(), &err);
    double ms = now_ms() - t0;
    if (r < 0)
        fprintf(stderr, "load: %s\n", err->msg);
    CHECK(r == 0);
    CHECK(syscall(SYS_keyctl, 0, -3, 0) == -1 && errno == EPERM);
    CHECK(write(out, &ms, sizeof(ms)) == sizeof(ms));
    return 0;
}

/* The one .bpf file in dir. */
static void only_cache_file(const char *dir, char *path, size_t len)
{
    cleanup_dir DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        assert_non_null(strstr(de->d_name, ".bpf"));
        snprintf(path, len, "%s/%s", dir, de->d_name);
        n++;
    }
    assert_int_equal(n, 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_cache_is_written_once_and_reused(void **state)
{
    (void)state;
    char dir[160], file[512];
    snprintf(dir, sizeof(dir), "%s/cache-once", tmpdir);

    double first = 0;
    assert_int_equal(in_child(child_timed_load, dir, &first, sizeof(first)), 0);
    only_cache_file(dir, file, sizeof(file));
    struct stat st1, st2;
    assert_int_equal(stat(file, &st1), 0);
    assert_int_equal(st1.st_size % 8, 0);

    enum { RUNS = 25 };
    double cached[RUNS];
    for (int i = 0; i < RUNS; i++)
        assert_int_equal(in_child(child_timed_load, dir, &cached[i], sizeof(double)), 0);
    assert_int_equal(stat(file, &st2), 0);
    assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
    assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
    assert_int_equal(st1.st_ino, st2.st_ino);
    only_cache_file(dir, file, sizeof(file));

    qsort(cached, RUNS, sizeof(double), cmp_double);
    printf("seccomp default profile (%lld BPF instructions): compile+cache+load %.2f ms; "
           "cached load min %.3f / median %.3f / max %.3f ms\n",
           (long long)st1.st_size / 8, first, cached[0], cached[RUNS / 2], cached[RUNS - 1]);
    assert_true(cached[RUNS / 2] < 2.0);
}

static void test_cache_key_follows_the_capabilities(void **state)
{
    (void)state;
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/cache-caps", tmpdir);
    snprintf(cache_dir, sizeof(cache_dir), "%s", dir);
    /* Capabilities the profile never looks at share a file; CAP_SYS_ADMIN gets its own. */
    assert_int_equal(in_child(child_default_allows, NULL, NULL, 0), 0);
    assert_int_equal(in_child(child_sys_admin, NULL, NULL, 0), 0);
    int n = 0;
    cleanup_dir DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    assert_int_equal(n, 2);
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", tmpdir);
}

static void test_corrupt_cache_is_rebuilt(void **state)
{
    (void)state;
    char dir[160], file[512];
    snprintf(dir, sizeof(dir), "%s/cache-corrupt", tmpdir);
    double ms;
    assert_int_equal(in_child(child_timed_load, dir, &ms, sizeof(ms)), 0);
    only_cache_file(dir, file, sizeof(file));
    struct stat good;
    assert_int_equal(stat(file, &good), 0);

    assert_int_equal(tug_write_file_atomic(file, "garbage", 7, 0644, NULL), 0);
    assert_int_equal(in_child(child_timed_load, dir, &ms, sizeof(ms)), 0);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_size, good.st_size);

    /* A file others could have written is not trusted either. */
    assert_int_equal(chmod(file, 0666), 0);
    assert_int_equal(in_child(child_timed_load, dir, &ms, sizeof(ms)), 0);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
}

static int child_no_cache(void *arg, int out)
{
    tug_error *err = NULL;
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(tug_seccomp_load_default(NULL, tug_caps_default(), &err) == 0);
    CHECK_ERRNO(syscall(SYS_keyctl, 0, -3, 0), EPERM);
    return 0;
}

static void test_load_without_a_cache(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_no_cache, NULL, NULL, 0), 0);
}

/* ---- JSON profiles --------------------------------------------------------------------------- */

static char *write_profile(const char *name, const char *json)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    assert_int_equal(tug_write_file_atomic(path, json, strlen(json), 0644, NULL), 0);
    return path;
}

static int child_load_file(const char *path)
{
    tug_error *err = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    if (tug_seccomp_load_file(path, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err ? err->msg : "?");
        tug_error_free(err);
        return -1;
    }
    return 0;
}

static const char deny_mkdir_profile[] =
    "{\n"
    "  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
    "  \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"],\n"
    "  \"syscalls\": [\n"
    "    {\"names\": [\"mkdir\", \"mkdirat\", \"no_such_syscall\"], \"action\": "
    "\"SCMP_ACT_ERRNO\",\n"
    "     \"errnoRet\": 18},\n"
    "    {\"names\": [\"dup\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 33,\n"
    "     \"args\": [{\"index\": 0, \"value\": 100, \"op\": \"SCMP_CMP_EQ\"}]},\n"
    "    {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
    "     \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
    "    {\"names\": [\"getpgrp\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
    "     \"excludes\": {\"caps\": [\"CAP_CHOWN\"]}},\n"
    "    {\"names\": [\"getsid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 34,\n"
    "     \"includes\": {\"caps\": [\"CAP_KILL\"], \"minKernel\": \"3.0\"}},\n"
    "    {\"name\": \"getpriority\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 35,\n"
    "     \"args\": [{\"index\": 0, \"value\": 7, \"op\": \"SCMP_CMP_EQ\"},\n"
    "              {\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]}\n"
    "  ]\n"
    "}\n";

static int child_deny_mkdir(void *arg, int out)
{
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/made-by-child", tmpdir);
    CHECK(child_load_file(arg) == 0);
    CHECK_ERRNO(mkdir(dir, 0755), 18 /* EXDEV, the profile's errnoRet */);
    CHECK_ERRNO(mkdirat(AT_FDCWD, dir, 0755), 18);
    CHECK_ERRNO(dup(100), 33);
    int fd = dup(0);
    CHECK(fd >= 0);
    close(fd);
    CHECK(getppid() > 0);               /* includes.caps not held: rule left out */
    CHECK(getpgrp() > 0);               /* excludes.caps held: rule left out */
    CHECK_ERRNO(getsid(0), 34);         /* includes met */
    CHECK_ERRNO(getpriority(7, 0), 35); /* same-argument comparisons combine as "any of" */
    CHECK_ERRNO(getpriority(8, 0), 35);
    errno = 0;
    CHECK(getpriority(PRIO_PROCESS, 0) != -1 || errno == 0);
    return 0;
}

static void test_json_profile_denies_mkdir_with_its_errno(void **state)
{
    (void)state;
    cleanup_free char *path = write_profile("deny-mkdir.json", deny_mkdir_profile);
    assert_int_equal(in_child(child_deny_mkdir, path, NULL, 0), 0);
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/made-by-child", tmpdir);
    assert_int_equal(access(dir, F_OK), -1);
}

/* A docker-shaped allowlist: archMap, defaultErrnoRet, just enough to finish the test. */
static const char allowlist_profile[] =
    "{\n"
    "  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n"
    "  \"defaultErrnoRet\": 1,\n"
    "  \"archMap\": [\n"
    "    {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]},\n"
    "    {\"architecture\": \"SCMP_ARCH_X86_64\",\n"
    "     \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]}\n"
    "  ],\n"
    "  \"syscalls\": [\n"
    "    {\"names\": [\"read\", \"write\", \"exit\", \"exit_group\", \"getpid\", \"brk\", "
    "\"mmap\",\n"
    "                \"munmap\", \"mprotect\", \"close\", \"fstat\", \"newfstatat\", \"futex\",\n"
    "                \"rt_sigreturn\", \"rt_sigprocmask\", \"rt_sigaction\", \"sigaltstack\",\n"
    "                \"madvise\", \"getrandom\", \"prctl\", \"gettid\"],\n"
    "     \"action\": \"SCMP_ACT_ALLOW\"},\n"
    "    {\"names\": [\"uname\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}\n"
    "  ]\n"
    "}\n";

static int child_allowlist(void *arg, int out)
{
    CHECK(child_load_file(arg) == 0);
    CHECK(getpid() > 0);
    CHECK_ERRNO(syscall(SYS_getppid), EPERM);
    CHECK_ERRNO(syscall(SYS_keyctl, 0, -3, 0), EPERM);
    CHECK_ERRNO(syscall(1000), ENOSYS);
    return 0;
}

static void test_json_profile_in_dockers_shape(void **state)
{
    (void)state;
    cleanup_free char *path = write_profile("allowlist.json", allowlist_profile);
    assert_int_equal(in_child(child_allowlist, path, NULL, 0), 0);
}

static void expect_profile_error(const char *name, const char *json, const char *want)
{
    cleanup_free char *path = write_profile(name, json);
    cleanup_error tug_error *err = NULL;
    assert_true(tug_seccomp_load_file(path, &err) < 0);
    assert_non_null(err);
    assert_int_equal(err->kind, TUG_ERR_USER);
    cleanup_free char *full = NULL;
    assert_true(asprintf(&full, "seccomp profile %s: %s", path, want) > 0);
    if (strncmp(err->msg, full, strlen(full)) != 0)
        fail_msg("got \"%s\"\nwanted \"%s...\"", err->msg, full);
}

static void test_json_profile_errors_name_the_file_and_field(void **state)
{
    (void)state;
    expect_profile_error("syntax.json",
                         "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}",
                         "line 2 column");
    expect_profile_error("action.json",
                         "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
                         "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                         "{\"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                         "{\"names\": [\"open\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                         "{\"names\": [\"close\"], \"action\": \"FOO\"}]}",
                         "syscalls[3].action: unknown action FOO");
    expect_profile_error("default.json", "{\"defaultAction\": \"SCMP_ACT_FOO\", \"syscalls\": []}",
                         "defaultAction: unknown action SCMP_ACT_FOO");
    expect_profile_error("op.json",
                         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                         "[\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, "
                         "\"value\": 1, \"op\": \"SCMP_CMP_ROUGHLY\"}]}]}",
                         "syscalls[0].args[0].op: unknown operator SCMP_CMP_ROUGHLY");
    expect_profile_error("index.json",
                         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                         "[\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, "
                         "\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                         "syscalls[0].args[0].index: 6 is not a syscall argument");
    expect_profile_error("names.json",
                         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                         "\"read\", \"action\": \"SCMP_ACT_ERRNO\"}]}",
                         "syscalls[0].names: expected an array of strings");
    expect_profile_error("arch.json",
                         "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": "
                         "[\"SCMP_ARCH_Z80\"]}",
                         "architectures[0]: unknown architecture SCMP_ARCH_Z80");
    expect_profile_error("errno.json",
                         "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": -1}",
                         "defaultErrnoRet: expected a non-negative integer");
    expect_profile_error("notify.json", "{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}",
                         "defaultAction: SCMP_ACT_NOTIFY");
    expect_profile_error("array.json", "[]", "expected a JSON object");

    /* A missing file names the file too. */
    cleanup_error tug_error *err = NULL;
    assert_true(tug_seccomp_load_file("/nonexistent/profile.json", &err) < 0);
    assert_non_null(strstr(err->msg, "/nonexistent/profile.json"));
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_security needs root\n");
        return -1;
    }
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tug_rm_rf(tmpdir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_default_is_dockers),
        cmocka_unit_test(test_caps_all_follows_the_kernel),
        cmocka_unit_test(test_caps_parse_spellings),
        cmocka_unit_test(test_caps_parse_unknown_is_a_user_error),
        cmocka_unit_test(test_caps_apply_gives_dockers_default_set),
        cmocka_unit_test(test_caps_apply_after_switching_to_a_user),
        cmocka_unit_test(test_default_profile_denies_what_docker_denies),
        cmocka_unit_test(test_default_profile_lets_ordinary_programs_run),
        cmocka_unit_test(test_cap_sys_admin_opens_mount_and_unshare),
        cmocka_unit_test(test_load_without_no_new_privs_or_sys_admin_fails),
        cmocka_unit_test(test_cache_is_written_once_and_reused),
        cmocka_unit_test(test_cache_key_follows_the_capabilities),
        cmocka_unit_test(test_corrupt_cache_is_rebuilt),
        cmocka_unit_test(test_load_without_a_cache),
        cmocka_unit_test(test_json_profile_denies_mkdir_with_its_errno),
        cmocka_unit_test(test_json_profile_in_dockers_shape),
        cmocka_unit_test(test_json_profile_errors_name_the_file_and_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
