/* Control groups: the v1 hierarchies (pure v1 and hybrid hosts) and the v2 unified tree, each
 * behind one table of operations. Mount points are discovered once per process. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "cgroup_devices.h"

/* v1 controllers a container is placed in, one bit each. */
enum { V1_CPU, V1_CPUACCT, V1_CPUSET, V1_MEMORY, V1_DEVICES, V1_FREEZER, V1_BLKIO, V1_PIDS, V1_N };
static const char *const v1_names[V1_N] = {"cpu",     "cpuacct", "cpuset", "memory",
                                           "devices", "freezer", "blkio",  "pids"};

/* v2 controllers tug enables for its groups, in the order they are enabled. */
enum { V2_CPUSET, V2_CPU, V2_IO, V2_MEMORY, V2_PIDS, V2_N };
static const char *const v2_names[V2_N] = {"cpuset", "cpu", "io", "memory", "pids"};

#define MIN_MEMORY (6LL * 1024 * 1024) /* docker's floor for -m */
#define DESTROY_WAIT_NS (2LL * 1000000000)
#define FREEZE_WAIT_NS (5LL * 1000000000)
#define MAX_DEPTH 32 /* nested groups a container made under its own */

struct hierarchy {
    char *mount;
    unsigned ctrls; /* V1_* bits */
};

static struct {
    tug_cgroup_mode mode;
    char *unified; /* cgroup2 mount point, NULL when there is none */
    size_t n;
    struct hierarchy h[V1_N];
} host;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

struct group_dir {
    int fd;         /* O_PATH of the group, -1 when absent */
    unsigned ctrls; /* V1_* bits of the hierarchy; 0 for the unified tree */
    size_t mount_len;
    bool made; /* this process created the leaf (removed again when create fails) */
    char *path;
};

struct cg_ops;

struct tug_cgroup {
    const struct cg_ops *ops;
    char *name;
    size_t n;
    size_t primary;    /* the directory whose cgroup.procs lists the processes */
    unsigned v2_ctrls; /* V2_* bits enabled for the leaf, known after create */
    struct group_dir d[V1_N];
};

struct cg_ops {
    int (*make)(tug_cgroup *cg, tug_error **err);
    int (*limit)(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err);
    /* Replace the group's device policy with the rules. */
    int (*devices)(tug_cgroup *cg, const tug_device_rule *rules, size_t n, tug_error **err);
    int (*freeze)(tug_cgroup *cg, bool frozen, tug_error **err);
    bool (*oom_killed)(tug_cgroup *cg);
    int (*kill)(tug_cgroup *cg, int sig, tug_error **err);
    /* 1 while processes are left (in the subtree), 0 when empty. */
    int (*populated)(tug_cgroup *cg);
    /* Wait for a change, at most until deadline (CLOCK_MONOTONIC ns). */
    void (*wait)(tug_cgroup *cg, long long deadline, long *nap_ns);
    void (*stats)(tug_cgroup *cg, tug_cgroup_stats *ret);
};

/* ---- small helpers ---------------------------------------------------------------------- */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sleep *nap_ns (never past deadline), then back off up to 10 ms. */
static void nap(long *nap_ns, long long deadline)
{
    long long left = deadline - now_ns();
    long ns = *nap_ns;
    if (left <= 0)
        return;
    if (ns > left)
        ns = (long)left;
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
    if (*nap_ns < 10 * 1000 * 1000)
        *nap_ns *= 2;
}

/* Write val to file in the group directory; 0 or -errno. */
static int write_raw(int dfd, const char *file, const char *val)
{
    cleanup_close int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(val);
    ssize_t n = write(fd, val, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static int write_at(int dfd, const char *file, const char *val, tug_error **err)
{
    int r = write_raw(dfd, file, val);
    if (r < 0)
        return tug_error_set(err, -r, "write %s to %s", val, file);
    return 0;
}

static int write_ll(int dfd, const char *file, long long v, tug_error **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    return write_at(dfd, file, buf, err);
}

/* Read a small file into buf (NUL-terminated); length or -errno. */
static ssize_t read_small(int dfd, const char *file, char *buf, size_t size)
{
    cleanup_close int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Read a file of any size (cgroup.procs of a busy group); 0 or -errno. */
static int read_all(int dfd, const char *file, char **ret_buf)
{
    cleanup_close int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    cleanup_free char *buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = cap < (1u << 30) ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL)
                return -ENOMEM;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_buf = steal_pointer(&buf);
    return 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* The value of "key N" in a flat-keyed file (memory.events, cpu.stat...); -1 if absent. */
static long long keyed_value(const char *buf, const char *key)
{
    size_t klen = strlen(key);
    const char *p = buf;
    while (*p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return strtoll(p + klen + 1, NULL, 10);
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return -1;
}

static long long read_keyed(int dfd, const char *file, const char *key)
{
    cleanup_free char *buf = NULL;
    if (read_all(dfd, file, &buf) < 0)
        return -1;
    return keyed_value(buf, key);
}

static long long read_number(int dfd, const char *file)
{
    char buf[64];
    if (read_small(dfd, file, buf, sizeof(buf)) <= 0)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno || end == buf ? -1 : v;
}

/* usage less the inactive page cache, as docker counts memory; -1 when usage is. */
static long long mem_in_use(int dfd, const char *usage_file, const char *inactive_key)
{
    long long mem = read_number(dfd, usage_file);
    if (mem < 0)
        return -1;
    long long inactive = read_keyed(dfd, "memory.stat", inactive_key);
    if (inactive > 0)
        mem = inactive < mem ? mem - inactive : 0;
    return mem;
}

/* A limit file's value; "max" (v2) and v1's page-rounded LLONG_MAX are no limit (-1). */
static long long read_limit(int dfd, const char *file)
{
    long long v = read_number(dfd, file);
    return v >= (LLONG_MAX & ~0xfffLL) ? -1 : v;
}

/* ---- host discovery ----------------------------------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static void note_mount(const char *fstype, char *mount, char *opts)
{
    if (strcmp(fstype, "cgroup2") == 0) {
        /* The canonical place wins over other mounts of the same tree. */
        if (host.unified == NULL || strcmp(mount, "/sys/fs/cgroup") == 0) {
            free(host.unified);
            host.unified = strdup(mount);
        }
        return;
    }
    if (strcmp(fstype, "cgroup") != 0 || host.n == V1_N)
        return;
    unsigned ctrls = 0;
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
        for (int i = 0; i < V1_N; i++)
            if (strcmp(o, v1_names[i]) == 0)
                ctrls |= 1u << i;
    if (ctrls == 0)
        return;
    for (size_t i = 0; i < host.n; i++)
        if (host.h[i].ctrls & ctrls)
            return; /* another mount of a hierarchy already known */
    char *m = strdup(mount);
    if (m == NULL)
        return;
    host.h[host.n].mount = m;
    host.h[host.n].ctrls = ctrls;
    host.n++;
}

static void discover(void)
{
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    cleanup_free char *line = NULL;
    size_t cap = 0;
    while (f != NULL && getline(&line, &cap, f) > 0) {
        /* id parent dev root mountpoint options [optional...] - fstype source superoptions */
        char *sep = strstr(line, " - ");
        if (sep == NULL)
            continue;
        *sep = '\0';
        char *save = NULL, *mount = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 1; tok && i <= 4; i++)
            mount = tok = strtok_r(NULL, " ", &save);
        char *fstype = strtok_r(sep + 3, " \n", &save);
        char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
        char *opts = source ? strtok_r(NULL, " \n", &save) : NULL;
        if (mount == NULL || opts == NULL || strncmp(fstype, "cgroup", 6) != 0)
            continue;
        unescape_octal(mount);
        note_mount(fstype, mount, opts);
    }
    if (host.n > 0)
        host.mode = host.unified ? TUG_CGROUP_HYBRID : TUG_CGROUP_V1;
    else
        host.mode = TUG_CGROUP_V2;
}

tug_cgroup_mode tug_cgroup_host_mode(void)
{
    pthread_once(&host_once, discover);
    return host.mode;
}

/* ---- validation --------------------------------------------------------------------------- */

static int check_name(const char *name, tug_error **err)
{
    if (name == NULL || *name == '\0' || *name == '/')
        return tug_error_user(err, "invalid cgroup name \"%s\": must be a relative path",
                              name ? name : "");
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len > 255 || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.') || memchr(p, '\n', len))
            return tug_error_user(err, "invalid cgroup name \"%s\"", name);
        p += len + (slash ? 1 : 0);
        if (slash && *p == '\0')
            return tug_error_user(err, "invalid cgroup name \"%s\"", name);
    }
    return 0;
}

/* docker's messages for the limits it refuses before asking the kernel. */
static int check_limits(const tug_cgroup_limits *lim, tug_error **err)
{
    if (lim->memory < 0)
        return tug_error_user(err, "invalid memory limit %lld", lim->memory);
    if (lim->memory > 0 && lim->memory < MIN_MEMORY)
        return tug_error_user(err, "Minimum memory limit allowed is 6MB");
    if (lim->memory_swap > 0 && lim->memory == 0)
        return tug_error_user(
            err, "You should always set the Memory limit when using Memoryswap limit, see usage");
    if (lim->memory_swap > 0 && lim->memory_swap < lim->memory)
        return tug_error_user(
            err, "Minimum memoryswap limit should be larger than memory limit, see usage");
    if (lim->cpu_period != 0 && (lim->cpu_period < 1000 || lim->cpu_period > 1000000))
        return tug_error_user(err, "CPU cfs period can not be less than 1ms (i.e. 1000) or "
                                   "larger than 1s (i.e. 1000000)");
    if (lim->cpu_quota > 0 && lim->cpu_quota < 1000)
        return tug_error_user(err, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    return 0;
}

/* Memory plus swap in bytes: 0 = leave alone, -1 = unlimited. */
static long long swap_total(const tug_cgroup_limits *lim)
{
    if (lim->memory <= 0)
        return 0;
    if (lim->memory_swap == 0) {
        long long twice;
        return __builtin_mul_overflow(lim->memory, 2, &twice) ? -1 : twice;
    }
    return lim->memory_swap < 0 ? -1 : lim->memory_swap;
}

static long long clamp_shares(long long s)
{
    return s < 2 ? 2 : s > 262144 ? 262144 : s;
}

/* ---- shared group operations -------------------------------------------------------------- */

static struct group_dir *dir_of(tug_cgroup *cg, int v1_ctrl)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->d[i].ctrls & (1u << v1_ctrl))
            return &cg->d[i];
    return NULL;
}

/* Parse cgroup.procs, appending to a growing array. */
static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return x < y ? -1 : x > y;
}

static int append_pids(const char *buf, pid_t **pids, size_t *n, size_t *cap)
{
    for (const char *p = buf; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            pid_t *np = realloc(*pids, nc * sizeof(pid_t));
            if (np == NULL)
                return -ENOMEM;
            *pids = np;
            *cap = nc;
        }
        (*pids)[(*n)++] = (pid_t)v;
        p = end;
        while (*p == '\n')
            p++;
    }
    return 0;
}

/* Every pid in the group at dfd and the groups below it. */
static int collect_pids(int dfd, int depth, pid_t **pids, size_t *n, size_t *cap)
{
    cleanup_free char *buf = NULL;
    int r = read_all(dfd, "cgroup.procs", &buf);
    if (r < 0)
        return r;
    r = append_pids(buf, pids, n, cap);
    if (r < 0 || depth >= MAX_DEPTH)
        return r;
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0)
        return -errno;
    cleanup_dir DIR *dir = fdopendir(lfd);
    if (dir == NULL) {
        close(lfd);
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        cleanup_close int sub = openat(dirfd(dir), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sub >= 0 && (r = collect_pids(sub, depth + 1, pids, n, cap)) < 0 && r != -ENOENT)
            return r;
    }
    return 0;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Signal every process of the group and the groups below it, never a process that took the pid
 * of one that left: each pid gets a pidfd, and only those still listed in the group after their
 * pidfd was opened are signalled (a pidfd names the process that had the pid when it was
 * opened). */
static int signal_dir(int dfd, int sig, size_t *ret_n)
{
    cleanup_free pid_t *pids = NULL, *again = NULL;
    size_t n = 0, cap = 0, n2 = 0, cap2 = 0;
    int r = collect_pids(dfd, 0, &pids, &n, &cap);
    cleanup_free int *fds = calloc(n ? n : 1, sizeof(int));
    if (fds == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        fds[i] = (int)syscall(SYS_pidfd_open, pids[i], 0);
    int r2 = collect_pids(dfd, 0, &again, &n2, &cap2);
    if (r == 0 && r2 < 0)
        r = r2;
    if (again)
        qsort(again, n2, sizeof(pid_t), cmp_pid);
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        if (again && bsearch(&pids[i], again, n2, sizeof(pid_t), cmp_pid) &&
            syscall(SYS_pidfd_send_signal, fds[i], sig, NULL, 0) < 0 && errno != ESRCH && r == 0)
            r = -errno;
        close(fds[i]);
    }
    if (ret_n)
        *ret_n = n;
    return r == -ENOENT ? 0 : r;
}

/* Remove the empty groups a container created under its own, deepest first. */
static void remove_children(int dfd, int depth)
{
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0)
        return;
    cleanup_dir DIR *dir = fdopendir(lfd);
    if (dir == NULL) {
        close(lfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (depth < MAX_DEPTH) {
            cleanup_close int sub =
                openat(dirfd(dir), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0)
                remove_children(sub, depth + 1);
        }
        unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR);
    }
}

/* mkdir the group and the levels above it up to the mount; an existing group is fine. */
static int make_levels(struct group_dir *d, tug_error **err)
{
    char *path = d->path;
    /* The usual case (parent there) costs one mkdir. */
    if (mkdir(path, 0755) == 0) {
        d->made = true;
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return tug_error_set(err, errno, "mkdir %s", path);
    for (char *s = path + d->mount_len + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            int r = tug_error_set(err, errno, "mkdir %s", path);
            *s = '/';
            return r;
        }
        *s = '/';
    }
    if (mkdir(path, 0755) == 0)
        d->made = true;
    else if (errno != EEXIST)
        return tug_error_set(err, errno, "mkdir %s", path);
    return 0;
}

static int open_dirs(tug_cgroup *cg, bool missing_ok, tug_error **err)
{
    for (size_t i = 0; i < cg->n; i++) {
        cg->d[i].fd = open(cg->d[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cg->d[i].fd < 0 && !(missing_ok && errno == ENOENT))
            return tug_error_set(err, errno, "open %s", cg->d[i].path);
    }
    return 0;
}

static int write_pids(int dfd, long long limit, tug_error **err)
{
    int r =
        limit > 0 ? write_ll(dfd, "pids.max", limit, err) : write_at(dfd, "pids.max", "max", err);
    return r < 0 ? tug_error_wrap(err, "set pids limit") : 0;
}

/* A weight goes to the controller's own file, or to BFQ's where only it keeps weights. */
static int write_weight(int dfd, const char *file, const char *bfq_file, const char *fmt,
                        long long w, tug_error **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), fmt, w);
    int r = write_raw(dfd, file, buf);
    if (r == -ENOENT) {
        snprintf(buf, sizeof(buf), "%lld", w);
        r = write_raw(dfd, bfq_file, buf);
    }
    if (r < 0)
        return tug_error_set(err, -r, "write %s to %s", buf, file);
    return 0;
}

/* Block I/O rate limits: v1's blkio.throttle.* files take "maj:min rate" a line, v2's io.max
 * "maj:min rbps=N"; a device's weight goes to the weight file, or BFQ's (dfd -1: no
 * controller for them). */
static int write_throttle(int dfd, bool v2, const tug_cgroup_limits *lim, tug_error **err)
{
    static const char *const v1_files[] = {
        "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};
    static const char *const v2_keys[] = {"rbps", "wbps", "riops", "wiops"};
    for (size_t i = 0; i < lim->n_throttle; i++) {
        const tug_blkio_throttle *t = &lim->throttle[i];
        if (dfd < 0)
            return tug_error_set(err, EOPNOTSUPP, "set block I/O limits: the %s cgroup is not "
                                                  "mounted", v2 ? "io" : "blkio");
        char line[96];
        if (t->kind == TUG_BLKIO_WEIGHT_DEVICE) {
            snprintf(line, sizeof(line), "%u:%u %llu", t->major, t->minor, t->rate);
            int r = write_raw(dfd, v2 ? "io.weight" : "blkio.weight_device", line);
            if (r == -ENOENT)
                r = write_raw(dfd, v2 ? "io.bfq.weight" : "blkio.bfq.weight_device", line);
            if (r < 0)
                return tug_error_set(err, -r, "set block I/O weight %s", line);
            continue;
        }
        if (v2)
            snprintf(line, sizeof(line), "%u:%u %s=%llu", t->major, t->minor, v2_keys[t->kind],
                     t->rate);
        else
            snprintf(line, sizeof(line), "%u:%u %llu", t->major, t->minor, t->rate);
        if (write_at(dfd, v2 ? "io.max" : v1_files[t->kind], line, err) < 0)
            return tug_error_wrap(err, "set block I/O limit %s", line);
    }
    return 0;
}

/* cpuset.cpus and cpuset.mems (the same file names in v1 and v2). */
static int write_cpusets(int dfd, const tug_cgroup_limits *lim, tug_error **err)
{
    const char *vals[2] = {lim->cpuset_cpus, lim->cpuset_mems};
    const char *files[2] = {"cpuset.cpus", "cpuset.mems"};
    for (int i = 0; i < 2; i++) {
        if (vals[i] == NULL || *vals[i] == '\0')
            continue;
        if (dfd < 0)
            return tug_error_set(err, EOPNOTSUPP, "set %s: the cpuset controller is missing",
                                 files[i]);
        if (write_at(dfd, files[i], vals[i], err) < 0)
            return tug_error_wrap(err, "set %s", files[i]);
    }
    return 0;
}

/* ---- cgroup v1 ---------------------------------------------------------------------------- */

/* Copy cpuset.cpus and cpuset.mems down from the parent into every level that has none: the
 * kernel refuses tasks in a cpuset group until both are set. */
static int v1_make_cpuset(struct group_dir *d, tug_error **err)
{
    char *path = d->path;
    char cpus[4096], mems[1024], own[4096];
    char *level_end = path + d->mount_len;
    char saved = *level_end;
    *level_end = '\0';
    int dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    *level_end = saved;
    if (dfd < 0)
        return tug_error_set(err, errno, "open %.*s", (int)d->mount_len, path);
    ssize_t r1 = read_small(dfd, "cpuset.cpus", cpus, sizeof(cpus));
    ssize_t r2 = read_small(dfd, "cpuset.mems", mems, sizeof(mems));
    close(dfd);
    if (r1 < 0 || r2 < 0)
        return tug_error_set(err, (int)-(r1 < 0 ? r1 : r2), "read cpuset of %.*s",
                             (int)d->mount_len, path);
    chomp(cpus);
    chomp(mems);
    while (*level_end) {
        char *next = strchr(level_end + 1, '/');
        level_end = next ? next : level_end + strlen(level_end);
        saved = *level_end;
        *level_end = '\0';
        int r = 0;
        bool created = mkdir(path, 0755) == 0;
        d->made = created && saved == '\0';
        if (!created && errno != EEXIST)
            r = tug_error_set(err, errno, "mkdir %s", path);
        cleanup_close int fd = r < 0 ? -1 : open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (r == 0 && fd < 0)
            r = tug_error_set(err, errno, "open %s", path);
        const char *files[2] = {"cpuset.cpus", "cpuset.mems"};
        char *vals[2] = {cpus, mems};
        size_t sizes[2] = {sizeof(cpus), sizeof(mems)};
        for (int i = 0; i < 2 && r == 0; i++) {
            /* A level that has its own set passes it down instead of the parent's. */
            if (!created && read_small(fd, files[i], own, sizeof(own)) > 0) {
                chomp(own);
                if (own[0] != '\0') {
                    snprintf(vals[i], sizes[i], "%s", own);
                    continue;
                }
            }
            if ((r = write_at(fd, files[i], vals[i], err)) < 0)
                tug_error_wrap(err, "set up cpuset %s", path);
        }
        *level_end = saved;
        if (r < 0)
            return r;
    }
    return 0;
}

static int v1_make(tug_cgroup *cg, tug_error **err)
{
    for (size_t i = 0; i < cg->n; i++) {
        struct group_dir *d = &cg->d[i];
        int r = d->ctrls & (1u << V1_CPUSET) ? v1_make_cpuset(d, err) : make_levels(d, err);
        if (r < 0)
            return r;
    }
    return open_dirs(cg, false, err);
}

static int v1_limit_memory(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err)
{
    struct group_dir *d = dir_of(cg, V1_MEMORY);
    if (d == NULL)
        return tug_error_set(err, EOPNOTSUPP, "the memory cgroup is not mounted");
    char mem[32], total[32];
    snprintf(mem, sizeof(mem), "%lld", lim->memory);
    long long t = swap_total(lim);
    snprintf(total, sizeof(total), "%lld", t);
    /* memsw must stay >= the memory limit at every step: raise it first when growing. */
    int r = write_raw(d->fd, "memory.limit_in_bytes", mem);
    if (r == -EINVAL && t != 0 && write_raw(d->fd, "memory.memsw.limit_in_bytes", total) == 0)
        r = write_raw(d->fd, "memory.limit_in_bytes", mem);
    if (r == -EBUSY)
        return tug_error_user(err, "memory limit %lld is below what the container uses now",
                              lim->memory);
    if (r < 0)
        return tug_error_set(err, -r, "write %s to memory.limit_in_bytes", mem);
    if (t == 0)
        return 0;
    r = write_raw(d->fd, "memory.memsw.limit_in_bytes", total);
    if (r == -ENOENT)
        return 0; /* swap accounting is off: there is no swap limit to set */
    if (r < 0)
        return tug_error_set(err, -r, "write %s to memory.memsw.limit_in_bytes", total);
    return 0;
}

static int v1_limit(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err)
{
    if (lim->memory > 0 && v1_limit_memory(cg, lim, err) < 0)
        return tug_error_wrap(err, "set memory limit");
    if (lim->cpu_quota > 0 || lim->cpu_period > 0 || lim->cpu_shares > 0) {
        struct group_dir *d = dir_of(cg, V1_CPU);
        if (d == NULL)
            return tug_error_set(err, EOPNOTSUPP, "set cpu limit: the cpu cgroup is not mounted");
        long long period = lim->cpu_period > 0 ? lim->cpu_period : 100000;
        if (lim->cpu_quota > 0 || lim->cpu_period > 0) {
            /* A period the current quota does not fit needs the quota first: on failure the
             * period is written again after the quota. */
            char pbuf[32];
            snprintf(pbuf, sizeof(pbuf), "%lld", period);
            int r = write_raw(d->fd, "cpu.cfs_period_us", pbuf);
            if (lim->cpu_quota > 0 && write_ll(d->fd, "cpu.cfs_quota_us", lim->cpu_quota, err) < 0)
                return tug_error_wrap(err, "set cpu quota");
            if (r < 0 && write_at(d->fd, "cpu.cfs_period_us", pbuf, err) < 0)
                return tug_error_wrap(err, "set cpu period");
        }
        if (lim->cpu_shares > 0 &&
            write_ll(d->fd, "cpu.shares", clamp_shares(lim->cpu_shares), err) < 0)
            return tug_error_wrap(err, "set cpu shares");
    }
    if (lim->cpu_rt_period != 0 || lim->cpu_rt_runtime != 0) {
        /* the kernel takes a group's real-time time only out of its parent's: tug's parent
         * group has none unless the host gave it some, and then the write is refused */
        struct group_dir *d = dir_of(cg, V1_CPU);
        if (d == NULL)
            return tug_error_set(err, EOPNOTSUPP, "set cpu real-time: the cpu cgroup is not "
                                                  "mounted");
        if (lim->cpu_rt_period != 0 &&
            write_ll(d->fd, "cpu.rt_period_us", lim->cpu_rt_period, err) < 0)
            return tug_error_wrap(err, "set cpu real-time period");
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", lim->cpu_rt_runtime);
        int r = lim->cpu_rt_runtime != 0 ? write_raw(d->fd, "cpu.rt_runtime_us", buf) : 0;
        if (r == -EINVAL)
            return tug_error_user(err,
                                  "set cpu real-time runtime: write %s to cpu.rt_runtime_us: "
                                  "invalid argument (more than the parent cgroup's "
                                  "cpu.rt_runtime_us leaves: raise it first, or ask for less)",
                                  buf);
        if (r < 0)
            return tug_error_set(err, -r, "set cpu real-time runtime: write %s to "
                                          "cpu.rt_runtime_us", buf);
    }
    if (lim->pids_limit != 0) {
        struct group_dir *d = dir_of(cg, V1_PIDS);
        if (d == NULL)
            return tug_error_set(err, EOPNOTSUPP, "set pids limit: the pids cgroup is not mounted");
        if (write_pids(d->fd, lim->pids_limit, err) < 0)
            return -1;
    }
    struct group_dir *m = dir_of(cg, V1_MEMORY), *b = dir_of(cg, V1_BLKIO),
                     *cs = dir_of(cg, V1_CPUSET);
    if (lim->memory_reservation > 0 &&
        (m ? write_ll(m->fd, "memory.soft_limit_in_bytes", lim->memory_reservation, err)
           : tug_error_set(err, EOPNOTSUPP, "the memory cgroup is not mounted")) < 0)
        return tug_error_wrap(err, "set memory reservation");
    if (lim->swappiness_set &&
        (m ? write_ll(m->fd, "memory.swappiness", lim->memory_swappiness, err)
           : tug_error_set(err, EOPNOTSUPP, "the memory cgroup is not mounted")) < 0)
        return tug_error_wrap(err, "set memory swappiness");
    if (lim->oom_kill_disable &&
        (m ? write_ll(m->fd, "memory.oom_control", 1, err)
           : tug_error_set(err, EOPNOTSUPP, "the memory cgroup is not mounted")) < 0)
        return tug_error_wrap(err, "disable the OOM killer");
    if (lim->blkio_weight > 0 &&
        (b ? write_weight(b->fd, "blkio.weight", "blkio.bfq.weight", "%lld", lim->blkio_weight, err)
           : tug_error_set(err, EOPNOTSUPP, "the blkio cgroup is not mounted")) < 0)
        return tug_error_wrap(err, "set blkio weight");
    if (write_throttle(b ? b->fd : -1, false, lim, err) < 0)
        return -1;
    if (write_cpusets(cs ? cs->fd : -1, lim, err) < 0)
        return -1;
    return 0;
}

static int v1_devices(tug_cgroup *cg, const tug_device_rule *rules, size_t n, tug_error **err)
{
    struct group_dir *d = dir_of(cg, V1_DEVICES);
    if (d == NULL)
        return tug_error_set(err, EOPNOTSUPP, "the devices cgroup is not mounted");
    /* "a" on deny empties the group's list and denies by default; then the rules in order. */
    if (write_at(d->fd, "devices.deny", "a", err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char lines[2][64];
        size_t k = tug_device_rule_v1(&rules[i], lines);
        for (size_t j = 0; j < k; j++)
            if (write_at(d->fd, rules[i].allow ? "devices.allow" : "devices.deny", lines[j],
                         err) < 0)
                return -1;
    }
    return 0;
}

static int v1_freeze(tug_cgroup *cg, bool frozen, tug_error **err)
{
    struct group_dir *d = dir_of(cg, V1_FREEZER);
    if (d == NULL || d->fd < 0)
        return tug_error_set(err, EOPNOTSUPP, "the freezer cgroup is not mounted");
    const char *want = frozen ? "FROZEN" : "THAWED";
    long long deadline = now_ns() + FREEZE_WAIT_NS;
    long wait = 100 * 1000;
    char state[32] = "";
    for (;;) {
        /* Writing FROZEN again retries the tasks that were busy the last time. */
        if (write_at(d->fd, "freezer.state", want, err) < 0)
            return -1;
        if (read_small(d->fd, "freezer.state", state, sizeof(state)) < 0)
            break;
        chomp(state);
        if (strcmp(state, want) == 0)
            return 0;
        if (now_ns() >= deadline)
            break;
        nap(&wait, deadline);
    }
    if (frozen)
        write_raw(d->fd, "freezer.state", "THAWED");
    return tug_error_set(err, ETIMEDOUT, "wait for freezer.state %s (still %s)", want,
                         state[0] ? state : "unknown");
}

static bool v1_oom_killed(tug_cgroup *cg)
{
    struct group_dir *d = dir_of(cg, V1_MEMORY);
    /* oom_kill is there since Linux 4.13; failcnt counts reclaim too, so it is no substitute. */
    return d && d->fd >= 0 && read_keyed(d->fd, "memory.oom_control", "oom_kill") > 0;
}

static int v1_kill(tug_cgroup *cg, int sig, tug_error **err)
{
    struct group_dir *d = &cg->d[cg->primary];
    int r = d->fd < 0 ? 0 : signal_dir(d->fd, sig, NULL);
    if (r < 0)
        return tug_error_set(err, -r, "signal the processes of %s", d->path);
    /* A frozen task only dies once it runs again. */
    struct group_dir *fz = dir_of(cg, V1_FREEZER);
    if (sig == SIGKILL && fz && fz->fd >= 0)
        write_raw(fz->fd, "freezer.state", "THAWED");
    return 0;
}

static int v1_populated(tug_cgroup *cg)
{
    struct group_dir *d = &cg->d[cg->primary];
    if (d->fd < 0)
        return 0;
    pid_t *pids = NULL;
    size_t n = 0, cap = 0;
    collect_pids(d->fd, 0, &pids, &n, &cap);
    free(pids);
    return n > 0;
}

static void v1_wait(tug_cgroup *cg, long long deadline, long *nap_ns)
{
    nap(nap_ns, deadline);
}

/* Sum the "Read" and "Write" lines of a blkio *io_service_bytes* file; false when it has
 * none (the file of a scheduler that is not in use). */
static bool v1_blkio_sum(int dfd, const char *file, tug_cgroup_stats *ret)
{
    cleanup_free char *buf = NULL;
    if (read_all(dfd, file, &buf) < 0)
        return false;
    bool any = false;
    ret->blk_read = ret->blk_write = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char op[16];
        long long v;
        if (sscanf(l, "%*s %15s %lld", op, &v) != 2)
            continue;
        any = true;
        if (strcmp(op, "Read") == 0)
            ret->blk_read += v;
        else if (strcmp(op, "Write") == 0)
            ret->blk_write += v;
    }
    return any;
}

static void v1_stats(tug_cgroup *cg, tug_cgroup_stats *ret)
{
    struct group_dir *m = dir_of(cg, V1_MEMORY), *c = dir_of(cg, V1_CPUACCT),
                     *b = dir_of(cg, V1_BLKIO), *p = dir_of(cg, V1_PIDS);
    *ret = (tug_cgroup_stats){-1, -1, -1, -1, -1, -1};
    if (c && c->fd >= 0)
        ret->cpu_ns = read_number(c->fd, "cpuacct.usage");
    if (m && m->fd >= 0) {
        ret->mem_usage = mem_in_use(m->fd, "memory.usage_in_bytes", "total_inactive_file");
        ret->mem_limit = read_limit(m->fd, "memory.limit_in_bytes");
    }
    /* The scheduler's own counters when it keeps them (CFQ, BFQ), else the throttle layer's,
     * which sees every request; docker reads them in the same order. */
    if (b && b->fd >= 0 && !v1_blkio_sum(b->fd, "blkio.io_service_bytes_recursive", ret))
        v1_blkio_sum(b->fd, "blkio.throttle.io_service_bytes_recursive", ret);
    if (p && p->fd >= 0)
        ret->pids = read_number(p->fd, "pids.current");
}

static const struct cg_ops v1_ops = {
    .make = v1_make,
    .limit = v1_limit,
    .devices = v1_devices,
    .freeze = v1_freeze,
    .oom_killed = v1_oom_killed,
    .kill = v1_kill,
    .populated = v1_populated,
    .wait = v1_wait,
    .stats = v1_stats,
};

/* ---- cgroup v2 ---------------------------------------------------------------------------- */

static unsigned v2_parse_ctrls(const char *buf)
{
    unsigned mask = 0;
    for (const char *p = buf; *p;) {
        size_t len = strcspn(p, " \n");
        for (int i = 0; i < V2_N; i++)
            if (strlen(v2_names[i]) == len && strncmp(p, v2_names[i], len) == 0)
                mask |= 1u << i;
        p += len;
        p += strspn(p, " \n");
    }
    return mask;
}

/* Enable the wanted controllers for the children of the group at dfd; returns what is on. */
static unsigned v2_enable(int dfd, unsigned want)
{
    char buf[512];
    if (read_small(dfd, "cgroup.subtree_control", buf, sizeof(buf)) < 0)
        return 0;
    unsigned have = v2_parse_ctrls(buf);
    unsigned miss = want & ~have;
    if (miss == 0)
        return have;
    char req[128] = "";
    size_t len = 0;
    for (int i = 0; i < V2_N; i++)
        if (miss & (1u << i))
            len += (size_t)snprintf(req + len, sizeof(req) - len, "%s+%s", len ? " " : "",
                                    v2_names[i]);
    if (write_raw(dfd, "cgroup.subtree_control", req) == 0)
        return have | miss;
    /* One refusal (say cpu with realtime tasks around) must not cost the others. */
    for (int i = 0; i < V2_N; i++) {
        if (!(miss & (1u << i)))
            continue;
        snprintf(req, sizeof(req), "+%s", v2_names[i]);
        if (write_raw(dfd, "cgroup.subtree_control", req) == 0)
            have |= 1u << i;
    }
    return have;
}

static int v2_make(tug_cgroup *cg, tug_error **err)
{
    struct group_dir *d = &cg->d[0];
    if (make_levels(d, err) < 0)
        return -1;
    /* Each ancestor from the mount down hands the controllers to the next level. */
    char *path = d->path;
    char buf[512];
    size_t end = d->mount_len;
    unsigned avail = 0;
    for (bool first = true;; first = false) {
        char saved = path[end];
        path[end] = '\0';
        cleanup_close int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int e = errno;
        path[end] = saved;
        if (fd < 0)
            return tug_error_set(err, e, "open %.*s", (int)end, path);
        if (first) {
            if (read_small(fd, "cgroup.controllers", buf, sizeof(buf)) >= 0)
                avail = v2_parse_ctrls(buf);
        }
        avail = v2_enable(fd, avail);
        char *next = strchr(path + end + 1, '/');
        if (next == NULL)
            break;
        end = (size_t)(next - path);
    }
    cg->v2_ctrls = avail;
    return open_dirs(cg, false, err);
}

static int v2_need(tug_cgroup *cg, int c, const char *what, tug_error **err)
{
    if (cg->v2_ctrls & (1u << c))
        return 0;
    /* Name the level whose cgroup.subtree_control would have to list it. */
    const char *path = cg->d[0].path;
    int parent_len = (int)(strrchr(path, '/') - path);
    return tug_error_set(
        err, EOPNOTSUPP,
        "set %s: the %s controller is not available in %.*s/cgroup.subtree_control", what,
        v2_names[c], parent_len, path);
}

static int v2_limit(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err)
{
    int fd = cg->d[0].fd;
    char buf[64];
    if (lim->memory > 0) {
        if (v2_need(cg, V2_MEMORY, "memory limit", err) < 0)
            return -1;
        if (write_ll(fd, "memory.max", lim->memory, err) < 0)
            return tug_error_wrap(err, "set memory limit");
        long long t = swap_total(lim);
        if (t < 0)
            snprintf(buf, sizeof(buf), "max");
        else
            snprintf(buf, sizeof(buf), "%lld", t - lim->memory);
        int r = write_raw(fd, "memory.swap.max", buf);
        if (r < 0 && r != -ENOENT) /* no file: swap accounting is off */
            return tug_error_set(err, -r, "set swap limit: write %s to memory.swap.max", buf);
    }
    if (lim->cpu_quota > 0 || lim->cpu_period > 0) {
        if (v2_need(cg, V2_CPU, "cpu quota", err) < 0)
            return -1;
        long long period = lim->cpu_period > 0 ? lim->cpu_period : 100000;
        if (lim->cpu_quota > 0)
            snprintf(buf, sizeof(buf), "%lld %lld", lim->cpu_quota, period);
        else
            snprintf(buf, sizeof(buf), "max %lld", period);
        if (write_at(fd, "cpu.max", buf, err) < 0)
            return tug_error_wrap(err, "set cpu quota");
    }
    if (lim->cpu_shares > 0) {
        if (v2_need(cg, V2_CPU, "cpu shares", err) < 0)
            return -1;
        long long weight = 1 + ((clamp_shares(lim->cpu_shares) - 2) * 9999) / 262142;
        if (write_ll(fd, "cpu.weight", weight, err) < 0)
            return tug_error_wrap(err, "set cpu shares");
    }
    if (lim->pids_limit != 0 &&
        (v2_need(cg, V2_PIDS, "pids limit", err) < 0 || write_pids(fd, lim->pids_limit, err) < 0))
        return -1;
    if (lim->memory_reservation > 0 &&
        (v2_need(cg, V2_MEMORY, "memory reservation", err) < 0 ||
         write_ll(fd, "memory.low", lim->memory_reservation, err) < 0))
        return tug_error_wrap(err, "set memory reservation");
    if (lim->blkio_weight > 0 && (v2_need(cg, V2_IO, "blkio weight", err) < 0 ||
                                  write_weight(fd, "io.weight", "io.bfq.weight", "default %lld",
                                               lim->blkio_weight, err) < 0))
        return tug_error_wrap(err, "set blkio weight");
    if (lim->n_throttle > 0 && (v2_need(cg, V2_IO, "block I/O limits", err) < 0 ||
                                write_throttle(fd, true, lim, err) < 0))
        return -1;
    if (((lim->cpuset_cpus && *lim->cpuset_cpus) || (lim->cpuset_mems && *lim->cpuset_mems)) &&
        v2_need(cg, V2_CPUSET, "cpuset", err) < 0)
        return -1;
    return write_cpusets(fd, lim, err);
}

/* v2 has no devices controller: a program attached to the group decides each access. */
static int v2_devices(tug_cgroup *cg, const tug_device_rule *rules, size_t n, tug_error **err)
{
    cleanup_free struct bpf_insn *prog = NULL;
    size_t len = 0;
    if (tug_device_bpf_build(rules, n, &prog, &len, err) < 0)
        return -1;
    /* BPF_PROG_ATTACH wants the group opened for reading, not O_PATH */
    cleanup_close int fd = open(cg->d[0].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", cg->d[0].path);
    return tug_device_bpf_attach(fd, prog, len, err);
}

/* Wait until "key value" shows in cgroup.events; the kernel signals changes with POLLPRI. */
static int v2_wait_event(int dfd, const char *key, long long value, long long deadline)
{
    cleanup_close int fd = openat(dfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[256];
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            return -errno;
        buf[n] = '\0';
        if (keyed_value(buf, key) == value)
            return 0;
        long long left = deadline - now_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLPRI};
        /* Notifications can lag (the kernel rate-limits them): re-read every 50 ms at most. */
        long long step = left < 50000000 ? left : 50000000;
        struct timespec ts = {step / 1000000000, step % 1000000000};
        ppoll(&p, 1, &ts, NULL);
    }
}

static int v2_freeze(tug_cgroup *cg, bool frozen, tug_error **err)
{
    int fd = cg->d[0].fd;
    if (write_at(fd, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
        return -1;
    int r = v2_wait_event(fd, "frozen", frozen ? 1 : 0, now_ns() + FREEZE_WAIT_NS);
    if (r < 0) {
        if (frozen)
            write_raw(fd, "cgroup.freeze", "0");
        return tug_error_set(err, -r, "wait for cgroup.events frozen %d", frozen ? 1 : 0);
    }
    return 0;
}

static bool v2_oom_killed(tug_cgroup *cg)
{
    return cg->d[0].fd >= 0 && read_keyed(cg->d[0].fd, "memory.events", "oom_kill") > 0;
}

static int v2_kill(tug_cgroup *cg, int sig, tug_error **err)
{
    int fd = cg->d[0].fd;
    if (fd < 0)
        return 0;
    /* cgroup.kill (Linux 5.14) also catches processes forked while the signal goes out. */
    if (sig == SIGKILL && write_raw(fd, "cgroup.kill", "1") == 0)
        return 0;
    int r = signal_dir(fd, sig, NULL);
    if (r < 0)
        return tug_error_set(err, -r, "signal the processes of %s", cg->d[0].path);
    return 0;
}

static int v2_populated(tug_cgroup *cg)
{
    if (cg->d[0].fd < 0)
        return 0;
    return read_keyed(cg->d[0].fd, "cgroup.events", "populated") > 0;
}

static void v2_wait(tug_cgroup *cg, long long deadline, long *nap_ns)
{
    long long until = now_ns() + *nap_ns;
    v2_wait_event(cg->d[0].fd, "populated", 0, until < deadline ? until : deadline);
    if (*nap_ns < 10 * 1000 * 1000)
        *nap_ns *= 2;
}

static void v2_stats(tug_cgroup *cg, tug_cgroup_stats *ret)
{
    int fd = cg->d[0].fd;
    *ret = (tug_cgroup_stats){-1, -1, -1, -1, -1, -1};
    if (fd < 0)
        return;
    long long usec = read_keyed(fd, "cpu.stat", "usage_usec");
    if (usec >= 0)
        ret->cpu_ns = usec * 1000;
    ret->mem_usage = mem_in_use(fd, "memory.current", "inactive_file");
    ret->mem_limit = read_limit(fd, "memory.max");
    ret->pids = read_number(fd, "pids.current");
    /* io.stat: one line per device, "MAJ:MIN rbytes=N wbytes=N rios=N ..." */
    cleanup_free char *buf = NULL;
    if (read_all(fd, "io.stat", &buf) < 0)
        return;
    ret->blk_read = ret->blk_write = 0;
    for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        if (strncmp(t, "rbytes=", 7) == 0)
            ret->blk_read += strtoll(t + 7, NULL, 10);
        else if (strncmp(t, "wbytes=", 7) == 0)
            ret->blk_write += strtoll(t + 7, NULL, 10);
    }
}

static const struct cg_ops v2_ops = {
    .make = v2_make,
    .limit = v2_limit,
    .devices = v2_devices,
    .freeze = v2_freeze,
    .oom_killed = v2_oom_killed,
    .kill = v2_kill,
    .populated = v2_populated,
    .wait = v2_wait,
    .stats = v2_stats,
};

/* ---- public API --------------------------------------------------------------------------- */

void tug_cgroup_free(tug_cgroup *cg)
{
    if (cg == NULL)
        return;
    for (size_t i = 0; i < cg->n; i++) {
        if (cg->d[i].fd >= 0)
            close(cg->d[i].fd);
        free(cg->d[i].path);
    }
    free(cg->name);
    free(cg);
}

static void cleanup_cgroupp(tug_cgroup **cg)
{
    tug_cgroup_free(*cg);
}
#define cleanup_cgroup __attribute__((cleanup(cleanup_cgroupp)))

static int add_dir(tug_cgroup *cg, const char *mount, unsigned ctrls)
{
    struct group_dir *d = &cg->d[cg->n];
    if (asprintf(&d->path, "%s/%s", mount, cg->name) < 0) {
        d->path = NULL;
        return -ENOMEM;
    }
    d->fd = -1;
    d->ctrls = ctrls;
    d->mount_len = strlen(mount);
    cg->n++;
    return 0;
}

/* The group's directories, one per hierarchy, nothing opened yet. */
static int cgroup_new(const char *name, tug_cgroup **ret_cg, tug_error **err)
{
    if (check_name(name, err) < 0)
        return -1;
    pthread_once(&host_once, discover);
    if (host.n == 0 && host.unified == NULL)
        return tug_error_set(err, ENOENT, "no cgroup file system is mounted");
    cleanup_cgroup tug_cgroup *cg = calloc(1, sizeof(*cg));
    if (cg == NULL || (cg->name = strdup(name)) == NULL)
        return tug_error_set(err, ENOMEM, "cgroup %s", name);
    if (host.n > 0) {
        cg->ops = &v1_ops;
        for (size_t i = 0; i < host.n; i++)
            if (add_dir(cg, host.h[i].mount, host.h[i].ctrls) < 0)
                return tug_error_set(err, ENOMEM, "cgroup %s", name);
        /* pids lists every task that has one; memory and freezer are the next best. */
        static const int prefer[] = {V1_PIDS, V1_MEMORY, V1_FREEZER};
        for (size_t k = TUG_ARRAY_SIZE(prefer); k-- > 0;)
            for (size_t i = 0; i < cg->n; i++)
                if (cg->d[i].ctrls & (1u << prefer[k]))
                    cg->primary = i;
    } else {
        cg->ops = &v2_ops;
        if (add_dir(cg, host.unified, 0) < 0)
            return tug_error_set(err, ENOMEM, "cgroup %s", name);
    }
    *ret_cg = steal_pointer(&cg);
    return 0;
}

int tug_cgroup_create(const char *name, const tug_cgroup_limits *lim, tug_cgroup **ret_cg,
                      tug_error **err)
{
    static const tug_cgroup_limits none;
    if (lim == NULL)
        lim = &none;
    if (check_limits(lim, err) < 0)
        return -1;
    cleanup_cgroup tug_cgroup *cg = NULL;
    if (cgroup_new(name, &cg, err) < 0)
        return tug_error_wrap(err, "create cgroup");
    int r = cg->ops->make(cg, err);
    if (r >= 0)
        r = cg->ops->limit(cg, lim, err);
    /* before any process is in the group: nothing runs a moment without the policy */
    if (r >= 0 && lim->devices &&
        cg->ops->devices(cg, lim->devices, lim->n_devices, err) < 0)
        r = tug_error_wrap(err, "set the device rules");
    if (r < 0) {
        /* Leave no half-made group behind; one that was there before stays. */
        for (size_t i = 0; i < cg->n; i++)
            if (cg->d[i].made)
                rmdir(cg->d[i].path);
        return tug_error_wrap(err, "create cgroup %s", name);
    }
    *ret_cg = steal_pointer(&cg);
    return 0;
}

int tug_cgroup_open(const char *name, tug_cgroup **ret_cg, tug_error **err)
{
    cleanup_cgroup tug_cgroup *cg = NULL;
    if (cgroup_new(name, &cg, err) < 0 || open_dirs(cg, true, err) < 0)
        return tug_error_wrap(err, "open cgroup");
    size_t found = 0;
    for (size_t i = 0; i < cg->n; i++)
        found += cg->d[i].fd >= 0;
    if (found == 0)
        return tug_error_set(err, ENOENT, "open cgroup %s", name);
    char buf[512];
    /* what create enabled for the group, for `update` */
    if (cg->ops == &v2_ops && read_small(cg->d[0].fd, "cgroup.controllers", buf, sizeof(buf)) >= 0)
        cg->v2_ctrls = v2_parse_ctrls(buf);
    *ret_cg = steal_pointer(&cg);
    return 0;
}

int tug_cgroup_enter(tug_cgroup *cg, pid_t pid, tug_error **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    for (size_t i = 0; i < cg->n; i++) {
        struct group_dir *d = &cg->d[i];
        if (d->fd < 0)
            continue;
        if (write_at(d->fd, "cgroup.procs", buf, err) < 0)
            return tug_error_wrap(err, "enter cgroup %s", d->path);
    }
    return 0;
}

int tug_cgroup_enter_self(tug_cgroup *cg, tug_error **err)
{
    /* v1's tasks file moves one thread without the kernel's global threadgroup lock, whose
     * write side waits for an RCU grace period (10-20 ms here) on every move; the caller has
     * one thread, so that thread is the whole process. v2 has no such file. */
    const char *file = cg->ops == &v2_ops ? "cgroup.procs" : "tasks";
    for (size_t i = 0; i < cg->n; i++) {
        struct group_dir *d = &cg->d[i];
        if (d->fd >= 0 && write_at(d->fd, file, "0", err) < 0)
            return tug_error_wrap(err, "enter cgroup %s", d->path);
    }
    return 0;
}

int tug_cgroup_clone_fd(tug_cgroup *cg)
{
    return cg->ops == &v2_ops ? cg->d[0].fd : -1;
}

int tug_cgroup_freeze(tug_cgroup *cg, bool frozen, tug_error **err)
{
    if (cg->ops->freeze(cg, frozen, err) < 0)
        return tug_error_wrap(err, "%s cgroup %s", frozen ? "freeze" : "thaw", cg->name);
    return 0;
}

int tug_cgroup_pids(tug_cgroup *cg, pid_t **ret_pids, size_t *ret_n, tug_error **err)
{
    struct group_dir *d = &cg->d[cg->primary];
    pid_t *pids = NULL;
    size_t n = 0, cap = 0;
    int r = d->fd < 0 ? -ENOENT : collect_pids(d->fd, 0, &pids, &n, &cap);
    if (r < 0) {
        free(pids);
        return tug_error_set(err, -r, "list the processes of cgroup %s", cg->name);
    }
    /* v1's cgroup.procs may list a process twice. */
    if (n > 1)
        qsort(pids, n, sizeof(*pids), cmp_pid);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || pids[u - 1] != pids[i])
            pids[u++] = pids[i];
    *ret_pids = pids;
    *ret_n = u;
    return 0;
}

bool tug_cgroup_oom_killed(tug_cgroup *cg)
{
    return cg->ops->oom_killed(cg);
}

int tug_cgroup_kill(tug_cgroup *cg, int sig, tug_error **err)
{
    if (cg->ops->kill(cg, sig, err) < 0)
        return tug_error_wrap(err, "kill cgroup %s", cg->name);
    return 0;
}

/* rmdir one hierarchy's group, clearing what a container left below it. */
static int remove_dir(tug_cgroup *cg, struct group_dir *d, long long deadline, tug_error **err)
{
    long wait = 200 * 1000;
    for (;;) {
        if (rmdir(d->path) == 0 || errno == ENOENT)
            return 0;
        int e = errno;
        if (e != EBUSY && e != ENOTEMPTY)
            return tug_error_set(err, e, "remove %s", d->path);
        if (now_ns() >= deadline)
            return tug_error_set(err, e, "remove %s", d->path);
        if (d->fd >= 0) {
            remove_children(d->fd, 0);
            signal_dir(d->fd, SIGKILL, NULL);
        }
        nap(&wait, deadline);
    }
}

int tug_cgroup_destroy(tug_cgroup *cg, tug_error **err)
{
    long long deadline = now_ns() + DESTROY_WAIT_NS;
    /* Usually the container is gone already and one rmdir per hierarchy is all it takes. */
    struct group_dir *p = &cg->d[cg->primary];
    if (rmdir(p->path) < 0 && errno != ENOENT && cg->ops->populated(cg)) {
        if (cg->ops->kill(cg, SIGKILL, err) < 0)
            return tug_error_wrap(err, "destroy cgroup %s", cg->name);
        long wait = 100 * 1000;
        long long rekill = now_ns() + 50000000;
        while (cg->ops->populated(cg) && now_ns() < deadline) {
            cg->ops->wait(cg, deadline, &wait);
            if (now_ns() >= rekill) { /* children forked before the first signal landed */
                cg->ops->kill(cg, SIGKILL, NULL);
                rekill = now_ns() + 50000000;
            }
        }
    }
    for (size_t i = 0; i < cg->n; i++)
        if (remove_dir(cg, &cg->d[i], deadline, err) < 0)
            return tug_error_wrap(err, "destroy cgroup %s", cg->name);
    return 0;
}

int tug_cgroup_usage(tug_cgroup *cg, long long *ret_mem, long long *ret_cpu_ns)
{
    tug_cgroup_stats st;
    cg->ops->stats(cg, &st);
    *ret_mem = st.mem_usage;
    *ret_cpu_ns = st.cpu_ns;
    return st.mem_usage < 0 && st.cpu_ns < 0 ? -1 : 0;
}

void tug_cgroup_stats_read(tug_cgroup *cg, tug_cgroup_stats *ret)
{
    cg->ops->stats(cg, ret);
}

int tug_cgroup_read(tug_cgroup *cg, const char *ctrl, const char *file, char **ret_buf)
{
    for (int c = 0; c < V1_N; c++) {
        struct group_dir *d = strcmp(v1_names[c], ctrl) == 0 ? dir_of(cg, c) : NULL;
        if (d && d->fd >= 0)
            return read_all(d->fd, file, ret_buf);
    }
    for (size_t i = 0; i < cg->n; i++)
        if (cg->d[i].ctrls == 0 && cg->d[i].fd >= 0)
            return read_all(cg->d[i].fd, file, ret_buf);
    return -ENOENT;
}

int tug_cgroup_update(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err)
{
    if (check_limits(lim, err) < 0 || cg->ops->limit(cg, lim, err) < 0)
        return tug_error_wrap(err, "update cgroup %s", cg->name);
    return 0;
}

bool tug_cgroup_memory_v1_knob(const char *file)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "/sys/fs/cgroup/memory/%s", file) < 0)
        return false;
    return tug_cgroup_host_mode() != TUG_CGROUP_V2 && access(path, F_OK) == 0;
}

bool tug_cgroup_blkio_weight_supported(void)
{
    pthread_once(&host_once, discover);
    for (size_t i = 0; i < host.n; i++) {
        if (!(host.h[i].ctrls & (1u << V1_BLKIO)))
            continue;
        cleanup_close int fd = open(host.h[i].mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd >= 0 && (faccessat(fd, "blkio.weight", F_OK, 0) == 0 ||
                           faccessat(fd, "blkio.bfq.weight", F_OK, 0) == 0);
    }
    if (host.n > 0 || host.unified == NULL)
        return false;
    /* v2: the root has no io.weight; io.bfq.weight shows in tug's own group when BFQ is on */
    cleanup_free char *tug = NULL;
    if (asprintf(&tug, "%s/tug", host.unified) < 0)
        return false;
    cleanup_close int fd = open(tug, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 && (faccessat(fd, "io.weight", F_OK, 0) == 0 ||
                       faccessat(fd, "io.bfq.weight", F_OK, 0) == 0);
}

/* The groups under parent in every hierarchy: empty ones at least min_age(name) seconds old (a
 * start makes its group just before the init joins it) are leftovers of containers and build
 * steps that are gone. */
int tug_cgroup_sweep(const char *parent, long long (*min_age)(const char *, void *), void *ud,
                     bool repair, char ***ret_names, tug_error **err)
{
    pthread_once(&host_once, discover);
    const char *mounts[V1_N + 1];
    size_t n = 0;
    for (size_t i = 0; i < host.n; i++)
        mounts[n++] = host.h[i].mount;
    if (host.unified)
        mounts[n++] = host.unified;
    char **names = NULL;
    size_t nn = 0;
    time_t now = time(NULL);
    for (size_t m = 0; m < n; m++) {
        cleanup_free char *dir = NULL;
        if (asprintf(&dir, "%s/%s", mounts[m], parent) < 0)
            return tug_error_set(err, ENOMEM, "cgroup");
        cleanup_dir DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.' || de->d_type != DT_DIR)
                continue;
            struct stat st;
            long long age = min_age ? min_age(de->d_name, ud) : 0;
            if (age < 0 || fstatat(dirfd(d), de->d_name, &st, 0) < 0 || now - st.st_mtime < age)
                continue;
            cleanup_close int g = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
            pid_t *pids = NULL;
            size_t np = 0, cap = 0;
            if (g < 0 || collect_pids(g, 0, &pids, &np, &cap) < 0 || np > 0) {
                free(pids);
                continue; /* someone's processes are in it: not a leftover */
            }
            free(pids);
            bool seen = false;
            for (size_t k = 0; k < nn; k++)
                seen |= strcmp(names[k], de->d_name) == 0;
            if (!seen) {
                char **nv = realloc(names, (nn + 2) * sizeof(*nv));
                if (nv == NULL)
                    break;
                names = nv;
                names[nn++] = strdup(de->d_name);
                names[nn] = NULL;
            }
            if (repair) {
                remove_children(g, 0);
                unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
            }
        }
    }
    *ret_names = names;
    return (int)nn;
}
