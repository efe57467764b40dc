/* Layer tar streams (plain, gzip or zstd) unpacked as pull, import and load unpack them. The
 * first byte picks the resolver (bit 1: the fallback used where openat2 is missing, else
 * openat2) and the unpacker (bit 2: ADD's tug_archive_unpack_at, any compression, with bit 4
 * every entry chowned; else the layer unpacker).
 *
 * A layer is hostile, and a bug here could write anywhere: the target runs in a sandbox. At
 * start it re-executes itself as PID 1 of new mount and PID namespaces, chrooted into a tmpfs
 * (nosuid, nodev) that holds only its own /proc (read-only, this namespace's processes),
 * /usr read-only, and its own /dev nodes. Every input is unpacked into /x/t; anything that
 * appears elsewhere in the sandbox is an escape, reported as a crash. The working directory
 * stays outside the chroot: give corpus and artifact paths relative to it. Needs root. */
#include "../../src/lib/store/unpack.c"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fuzz.h"

#define SANDBOX_ENV "TUG_FUZZ_SANDBOX"
#define WORK "/x"
#define TARGET WORK "/t"

int LLVMFuzzerInitialize(int *argc, char ***argv);

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "fuzz_unpack: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void at(char *buf, size_t size, const char *root, const char *path)
{
    snprintf(buf, size, "%s%s", root, path);
}

static void must(int r, const char *what)
{
    if (r < 0)
        die(what);
}

/* The sandbox's file system, built by PID 1 before it re-executes itself inside. */
static void build_sandbox(const char *root)
{
    char p[PATH_MAX];
    must(unshare(CLONE_NEWNS), "unshare the mount namespace");
    must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make mounts private");
    must(mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1g"), "tmpfs");
    at(p, sizeof(p), root, "/proc");
    must(mkdir(p, 0555), p);
    must(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL), p);
    at(p, sizeof(p), root, "/usr");
    must(mkdir(p, 0755), p);
    must(mount("/usr", p, NULL, MS_BIND | MS_REC, NULL), p);
    must(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), p);
    static const char *const links[][2] = {
        {"/lib", "usr/lib"}, {"/lib64", "usr/lib64"}, {"/bin", "usr/bin"}, {"/sbin", "usr/sbin"}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        at(p, sizeof(p), root, links[i][0]);
        must(symlink(links[i][1], p), p);
    }
    /* the loader's cache, so that the symbolizer finds its libraries */
    at(p, sizeof(p), root, "/etc");
    must(mkdir(p, 0755), p);
    at(p, sizeof(p), root, "/etc/ld.so.cache");
    int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    must(fd, p);
    close(fd);
    must(mount("/etc/ld.so.cache", p, NULL, MS_BIND, NULL), p);
    must(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), p);
    /* device nodes of its own: nothing done to them reaches the host's */
    at(p, sizeof(p), root, "/dev");
    must(mkdir(p, 0755), p);
    must(mount("tmpfs", p, "tmpfs", MS_NOSUID, "mode=0755,size=64k"), p);
    static const struct {
        const char *name;
        unsigned minor;
    } nodes[] = {{"/dev/null", 3}, {"/dev/zero", 5}, {"/dev/random", 8}, {"/dev/urandom", 9}};
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        at(p, sizeof(p), root, nodes[i].name);
        must(mknod(p, S_IFCHR | 0666, makedev(1, nodes[i].minor)), p);
    }
    at(p, sizeof(p), root, "/tmp");
    must(mkdir(p, 01777), p);
    must(chmod(p, 01777), p);
    at(p, sizeof(p), root, WORK);
    must(mkdir(p, 0755), p);
}

static pid_t child;
static void forward(int sig)
{
    kill(child, sig);
}

/* Runs in the original process: start PID 1 of the sandbox, wait for it, clean up. */
__attribute__((noreturn)) static void start_sandbox(char **argv)
{
    char root[] = "/tmp/tug-fuzz-unpack.XXXXXX";
    if (mkdtemp(root) == NULL)
        die("mkdtemp");
    if (unshare(CLONE_NEWPID) < 0)
        die("unshare (fuzz_unpack needs root for its sandbox)");
    child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        build_sandbox(root);
        setenv(SANDBOX_ENV, root, 1);
        execv("/proc/self/exe", argv);
        die("execv /proc/self/exe");
    }
    struct sigaction sa = {.sa_handler = forward};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int st;
    while (waitpid(child, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    rmdir(root);
    /* _exit: no leak check here, where no process can be started any more (the namespace's
     * PID 1 is gone) and nothing was fuzzed */
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static char *listing(const char *dir, const char *ignore_prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        die(dir);
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (ignore_prefix && strncmp(e->d_name, ignore_prefix, strlen(ignore_prefix)) == 0)
            continue;
        /* more than any sandbox directory holds: an escape, shown by the comparison */
        if (n < 64)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, " ");
        free(names[i]);
    }
    return out;
}

/* What the sandbox holds outside the target; it must never change. */
static const char *const watched[] = {"/", WORK, "/dev", "/tmp"};
#define N_WATCHED (sizeof(watched) / sizeof(watched[0]))
static char *before[N_WATCHED];

static char *watch(size_t i)
{
    /* libFuzzer's merge keeps its control file in /tmp */
    return listing(watched[i], i == 3 ? "libFuzzerTemp." : NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *root = getenv(SANDBOX_ENV);
    if (root == NULL)
        start_sandbox(*argv);
    /* a process libFuzzer starts from inside (a merge) is in the sandbox already */
    if (strcmp(root, "/") != 0) {
        must(chroot(root), "chroot");
        setenv(SANDBOX_ENV, "/", 1);
    }
    umask(022);
    must(mkdir(TARGET, 0755), "mkdir " TARGET);
    for (size_t i = 0; i < N_WATCHED; i++)
        before[i] = watch(i);
    must(rmdir(TARGET), "rmdir " TARGET);
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
        fuzz_check(errno == ENOENT, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (mkdir(TARGET, 0755) < 0)
        die("mkdir " TARGET);
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0)
        die("memfd_create");
    for (size_t off = 1; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            die("write memfd");
        off += (size_t)w;
    }
    lseek(fd, 0, SEEK_SET);
    __atomic_store_n(&have_openat2, data[0] & 1 ? 0 : -1, __ATOMIC_RELAXED);
    tug_unpack_result res;
    tug_error *err = NULL;
    if (data[0] & 2) {
        /* ADD's untar of the same bytes: names as they are, the target as the root */
        int dir = open(TARGET, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            die("open " TARGET);
        tug_untar_opts o = {.chown = data[0] & 4, .uid = 1000, .gid = 1000};
        int r = tug_archive_probe(fd, &err);
        fuzz_check_error(r, err);
        if (r == 1)
            r = tug_archive_unpack_at(fd, dir, &o, &err);
        fuzz_check_error(r, err);
        close(dir);
    } else {
        int r = tug_layer_unpack(fd, TARGET, &res, &err);
        fuzz_check_error(r, err);
        if (r == 0)
            fuzz_check(res.size >= 0 && strncmp(res.diff_id, "sha256:", 7) == 0,
                       "size %lld, diff ID %s", res.size, res.diff_id);
    }
    tug_error_free(err);
    close(fd);
    for (size_t i = 0; i < N_WATCHED; i++) {
        char *now = watch(i);
        fuzz_check(strcmp(now, before[i]) == 0, "escape: %s held [%s], now [%s]", watched[i],
                   before[i], now);
        free(now);
    }
    nftw(TARGET, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return 0;
}
