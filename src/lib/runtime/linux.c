/* The container's init: clone with namespaces, build the rootfs, drop privileges, exec. */
#include "linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/limits.h>
#include <linux/sched.h> /* struct clone_args */
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "security.h"
#include "spec.h"
#include "linux_child.h"
#include "volume.h"

#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif

/* ---------------- spec parsing ---------------- */

static char **strv_from_json(json_t *a)
{
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    char **v = calloc(n + 1, sizeof(char *));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        v[i] = strdup(s ? s : "");
    }
    return v;
}

static void strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static const struct {
    const char *name;
    unsigned long set, clear;
    unsigned long prop;
} mount_opts[] = {
    {"ro", MS_RDONLY, 0, 0},         {"rw", 0, MS_RDONLY, 0},
    {"nosuid", MS_NOSUID, 0, 0},     {"suid", 0, MS_NOSUID, 0},
    {"nodev", MS_NODEV, 0, 0},       {"dev", 0, MS_NODEV, 0},
    {"noexec", MS_NOEXEC, 0, 0},     {"exec", 0, MS_NOEXEC, 0},
    {"relatime", MS_RELATIME, 0, 0}, {"strictatime", MS_STRICTATIME, 0, 0},
    {"noatime", MS_NOATIME, 0, 0},   {"sync", MS_SYNCHRONOUS, 0, 0},
    {"bind", MS_BIND, 0, 0},         {"rbind", MS_BIND | MS_REC, 0, 0},
    {"private", 0, 0, MS_PRIVATE},   {"rprivate", 0, 0, MS_PRIVATE | MS_REC},
    {"slave", 0, 0, MS_SLAVE},       {"rslave", 0, 0, MS_SLAVE | MS_REC},
    {"shared", 0, 0, MS_SHARED},     {"rshared", 0, 0, MS_SHARED | MS_REC},
};

static int parse_mount(json_t *m, tug_mount *out, tug_error **err)
{
    const char *dest = json_string_value(json_object_get(m, "destination"));
    if (dest == NULL || dest[0] != '/')
        return tug_error_user(err, "mount destination must be an absolute path");
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *src = json_string_value(json_object_get(m, "source"));
    out->dest = strdup(dest);
    out->type = strdup(type ? type : "none");
    out->src = strdup(src ? src : "none");
    size_t cap = 1, i;
    json_t *o;
    json_array_foreach(json_object_get(m, "options"), i, o) cap +=
        json_string_length(o) + 1;
    out->data = calloc(1, cap);
    if (out->data == NULL)
        return tug_error_set(err, ENOMEM, "mount");
    json_array_foreach(json_object_get(m, "options"), i, o)
    {
        const char *s = json_string_value(o);
        bool known = false;
        if (s && strcmp(s, "tug-copyup") == 0) {
            out->copyup = true;
            continue;
        }
        for (size_t k = 0; s && k < TUG_ARRAY_SIZE(mount_opts); k++)
            if (strcmp(s, mount_opts[k].name) == 0) {
                out->flags = (out->flags | mount_opts[k].set) & ~mount_opts[k].clear;
                out->pflags |= mount_opts[k].prop;
                known = true;
            }
        if (!known && s) {
            size_t used = strlen(out->data);
            snprintf(out->data + used, cap - used, "%s%s", used ? "," : "", s);
        }
    }
    if (strcmp(out->type, "bind") == 0)
        out->flags |= MS_BIND;
    out->bind = (out->flags & MS_BIND) != 0;
    out->ro = (out->flags & MS_RDONLY) != 0;
    return 0;
}

static int rlimit_resource(const char *name)
{
    static const struct {
        const char *n;
        int r;
    } t[] = {
        {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
        {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(t); i++)
        if (strcmp(t[i].n, name) == 0)
            return t[i].r;
    return -1;
}

static uint64_t caps_from_json(json_t *a, tug_error **err, bool *ok)
{
    uint64_t set = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        int cap;
        bool all = false;
        if (tug_caps_parse(json_string_value(v), &cap, &all, err) < 0) {
            *ok = false;
            return 0;
        }
        set |= all ? tug_caps_all() : (1ULL << cap);
    }
    return set;
}

void tug_spawn_spec_free(tug_spawn_spec *s)
{
    if (s == NULL)
        return;
    strv_free(s->args);
    strv_free(s->env);
    free(s->cwd);
    free(s->user);
    free(s->rlimits);
    free(s->hostname);
    free(s->rootfs);
    free(s->lowerdirs);
    free(s->upperdir);
    free(s->workdir);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].dest);
        free(s->mounts[i].type);
        free(s->mounts[i].src);
        free(s->mounts[i].data);
    }
    free(s->mounts);
    free(s->netns_path);
    free(s->pidns_path);
    free(s->ipcns_path);
    free(s->utsns_path);
    free(s->shm_from);
    free(s->domainname);
    free(s->groups);
    free(s->cgroup_path);
    free((char *)s->limits.cpuset_cpus);
    free((char *)s->limits.cpuset_mems);
    strv_free(s->sysctl);
    strv_free(s->masked);
    strv_free(s->readonly);
    free(s->seccomp);
    free(s->device_rules);
    free(s->throttle);
    tug_device_nodes_free(s->devices, s->n_devices);
    free(s);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* linux.resources.blockIO's throttle lists into s->throttle. */
static int parse_throttle(json_t *bio, tug_spawn_spec *s)
{
    static const char *const keys[] = {"throttleReadBpsDevice", "throttleWriteBpsDevice",
                                       "throttleReadIOPSDevice", "throttleWriteIOPSDevice",
                                       "weightDevice"};
    size_t n = 0;
    for (size_t k = 0; k < TUG_ARRAY_SIZE(keys); k++)
        n += json_array_size(json_object_get(bio, keys[k]));
    if (n == 0)
        return 0;
    s->throttle = calloc(n, sizeof(*s->throttle));
    if (s->throttle == NULL)
        return -1;
    for (size_t k = 0; k < TUG_ARRAY_SIZE(keys); k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(bio, keys[k]), i, v)
        {
            tug_blkio_throttle *t = &s->throttle[s->limits.n_throttle++];
            t->kind = (tug_throttle_kind)k;
            t->major = (unsigned)json_integer_value(json_object_get(v, "major"));
            t->minor = (unsigned)json_integer_value(json_object_get(v, "minor"));
            t->rate = (unsigned long long)json_integer_value(
                json_object_get(v, t->kind == TUG_BLKIO_WEIGHT_DEVICE ? "weight" : "rate"));
        }
    }
    s->limits.throttle = s->throttle;
    return 0;
}

int tug_spawn_spec_join(tug_spawn_spec *s, const char *type, pid_t pid, tug_error **err)
{
    char *path = NULL;
    if (asprintf(&path, "/proc/%d/ns/%s", (int)pid, type) < 0)
        return tug_error_set(err, ENOMEM, "join");
    char **slot = strcmp(type, "pid") == 0 ? &s->pidns_path : &s->ipcns_path;
    free(*slot);
    *slot = path;
    if (strcmp(type, "ipc") != 0)
        return 0;
    free(s->shm_from);
    s->shm_from = NULL;
    if (asprintf(&s->shm_from, "/proc/%d/ns/mnt", (int)pid) < 0) {
        s->shm_from = NULL;
        return tug_error_set(err, ENOMEM, "join");
    }
    return 0;
}

int tug_spawn_spec_parse(json_t *spec, const char *bundle, tug_spawn_spec **ret_spec,
                         tug_error **err)
{
    tug_spawn_spec *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return tug_error_set(err, ENOMEM, "spec");
    json_t *proc = json_object_get(spec, "process");
    json_t *ann = json_object_get(spec, "annotations");
    json_t *linux_ = json_object_get(spec, "linux");
    s->args = strv_from_json(json_object_get(proc, "args"));
    s->env = strv_from_json(json_object_get(proc, "env"));
    const char *cwd = json_string_value(json_object_get(proc, "cwd"));
    s->cwd = strdup(cwd ? cwd : "/");
    s->terminal = json_is_true(json_object_get(proc, "terminal"));
    json_t *user = json_object_get(proc, "user");
    s->uid = (uid_t)json_integer_value(json_object_get(user, "uid"));
    s->gid = (gid_t)json_integer_value(json_object_get(user, "gid"));
    s->user = dup_or_null(json_string_value(json_object_get(ann, TUG_ANN_USER)));
    bool ok = true;
    s->caps = caps_from_json(json_object_get(json_object_get(proc, "capabilities"), "bounding"),
                             err, &ok);
    if (!ok) {
        tug_spawn_spec_free(s);
        return -1;
    }
    s->no_new_privs = json_is_true(json_object_get(proc, "noNewPrivileges"));
    json_t *rl = json_object_get(proc, "rlimits");
    s->rlimits = calloc(json_array_size(rl) + 1, sizeof(*s->rlimits));
    size_t i;
    json_t *v;
    json_array_foreach(rl, i, v)
    {
        int r = rlimit_resource(json_string_value(json_object_get(v, "type")));
        if (r < 0)
            continue;
        tug_rlimit *t = &s->rlimits[s->n_rlimits++];
        t->resource = r;
        t->soft = (rlim_t)json_integer_value(json_object_get(v, "soft"));
        t->hard = (rlim_t)json_integer_value(json_object_get(v, "hard"));
    }
    s->hostname = dup_or_null(json_string_value(json_object_get(spec, "hostname")));
    s->domainname = dup_or_null(json_string_value(json_object_get(spec, "domainname")));
    s->groups = dup_or_null(json_string_value(json_object_get(ann, TUG_ANN_GROUPS)));
    json_t *oom = json_object_get(proc, "oomScoreAdj");
    s->oom_score_adj_set = json_is_integer(oom);
    s->oom_score_adj = (int)json_integer_value(oom);
    json_t *root = json_object_get(spec, "root");
    const char *rp = json_string_value(json_object_get(root, "path"));
    if (rp == NULL)
        rp = "rootfs";
    if (rp[0] == '/')
        s->rootfs = strdup(rp);
    else if (asprintf(&s->rootfs, "%s/%s", bundle, rp) < 0)
        s->rootfs = NULL;
    s->readonly_root = json_is_true(json_object_get(root, "readonly"));
    s->lowerdirs = dup_or_null(json_string_value(json_object_get(ann, TUG_ANN_LOWERDIRS)));
    s->upperdir = dup_or_null(json_string_value(json_object_get(ann, TUG_ANN_UPPERDIR)));
    s->workdir = dup_or_null(json_string_value(json_object_get(ann, TUG_ANN_WORKDIR)));
    json_t *mounts = json_object_get(spec, "mounts");
    s->mounts = calloc(json_array_size(mounts) + 1, sizeof(*s->mounts));
    json_array_foreach(mounts, i, v)
    {
        if (parse_mount(v, &s->mounts[s->n_mounts], err) < 0) {
            s->n_mounts++;
            tug_spawn_spec_free(s);
            return tug_error_wrap(err, "mounts[%zu]", i);
        }
        s->n_mounts++;
    }
    json_array_foreach(json_object_get(linux_, "namespaces"), i, v)
    {
        const char *t = json_string_value(json_object_get(v, "type"));
        const char *path = json_string_value(json_object_get(v, "path"));
        if (t == NULL)
            continue;
        int flag = strcmp(t, "pid") == 0       ? CLONE_NEWPID
                   : strcmp(t, "network") == 0 ? CLONE_NEWNET
                   : strcmp(t, "ipc") == 0     ? CLONE_NEWIPC
                   : strcmp(t, "uts") == 0     ? CLONE_NEWUTS
                   : strcmp(t, "mount") == 0   ? CLONE_NEWNS
                   : strcmp(t, "cgroup") == 0  ? CLONE_NEWCGROUP
                                               : 0;
        char **join = flag == CLONE_NEWNET   ? &s->netns_path
                      : flag == CLONE_NEWPID ? &s->pidns_path
                      : flag == CLONE_NEWIPC ? &s->ipcns_path
                      : flag == CLONE_NEWUTS ? &s->utsns_path
                                             : NULL;
        if (join && path) {
            free(*join);
            *join = strdup(path);
            continue;
        }
        s->ns_flags |= flag;
    }
    s->cgroup_path = dup_or_null(json_string_value(json_object_get(linux_, "cgroupsPath")));
    json_t *res = json_object_get(linux_, "resources");
    json_t *mem = json_object_get(res, "memory");
    s->limits.memory = json_integer_value(json_object_get(mem, "limit"));
    s->limits.memory_swap = json_integer_value(json_object_get(mem, "swap"));
    json_t *cpu = json_object_get(res, "cpu");
    s->limits.cpu_shares = json_integer_value(json_object_get(cpu, "shares"));
    s->limits.cpu_quota = json_integer_value(json_object_get(cpu, "quota"));
    s->limits.cpu_period = json_integer_value(json_object_get(cpu, "period"));
    s->limits.cpu_rt_period = json_integer_value(json_object_get(cpu, "realtimePeriod"));
    s->limits.cpu_rt_runtime = json_integer_value(json_object_get(cpu, "realtimeRuntime"));
    s->limits.pids_limit = json_integer_value(json_object_get(json_object_get(res, "pids"), "limit"));
    s->limits.memory_reservation = json_integer_value(json_object_get(mem, "reservation"));
    json_t *swp = json_object_get(mem, "swappiness");
    s->limits.swappiness_set = json_is_integer(swp);
    s->limits.memory_swappiness = json_integer_value(swp);
    s->limits.oom_kill_disable = json_is_true(json_object_get(mem, "disableOOMKiller"));
    s->limits.blkio_weight =
        json_integer_value(json_object_get(json_object_get(res, "blockIO"), "weight"));
    if (parse_throttle(json_object_get(res, "blockIO"), s) < 0) {
        tug_spawn_spec_free(s);
        return tug_error_set(err, ENOMEM, "spec");
    }
    s->limits.cpuset_cpus = dup_or_null(json_string_value(json_object_get(cpu, "cpus")));
    s->limits.cpuset_mems = dup_or_null(json_string_value(json_object_get(cpu, "mems")));
    json_t *sc_obj = json_object_get(linux_, "sysctl");
    s->sysctl = calloc(2 * json_object_size(sc_obj) + 1, sizeof(char *));
    if (s->sysctl) {
        size_t n = 0;
        const char *key;
        json_object_foreach(sc_obj, key, v)
        {
            const char *val = json_string_value(v);
            if (val == NULL || strchr(key, '/') || strstr(key, ".."))
                continue;
            s->sysctl[n++] = strdup(key);
            s->sysctl[n++] = strdup(val);
        }
    }
    s->masked = strv_from_json(json_object_get(linux_, "maskedPaths"));
    s->readonly = strv_from_json(json_object_get(linux_, "readonlyPaths"));
    const char *sc = json_string_value(json_object_get(ann, TUG_ANN_SECCOMP));
    s->seccomp = strdup(sc ? sc : "default");
    s->init = json_string_value(json_object_get(ann, TUG_ANN_INIT)) != NULL;
    s->privileged = json_string_value(json_object_get(ann, TUG_ANN_PRIVILEGED)) != NULL;
    if (tug_devices_from_spec(linux_, s->privileged, &s->device_rules, &s->n_device_rules,
                              &s->devices, &s->n_devices, err) < 0) {
        tug_spawn_spec_free(s);
        return -1;
    }
    s->limits.devices = s->device_rules;
    s->limits.n_devices = s->n_device_rules;
    if (s->args == NULL || s->args[0] == NULL) {
        tug_spawn_spec_free(s);
        return tug_error_user(err, "the spec has no process.args");
    }
    *ret_spec = s;
    return 0;
}

/* ---------------- the child: runs between clone and exec ---------------- */


int tug_child_fail_fd = -1;

__attribute__((noreturn, format(printf, 3, 4))) void tug_child_die(int code, int e, const char *fmt,
                                                                 ...)
{
    child_fail f = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f.msg, sizeof(f.msg), fmt, ap);
    va_end(ap);
    if (e && n >= 0 && (size_t)n < sizeof(f.msg))
        snprintf(f.msg + n, sizeof(f.msg) - (size_t)n, ": %s", strerror(e));
    if (tug_child_fail_fd >= 0 && write(tug_child_fail_fd, &f, sizeof(f)) < 0) {
        /* nothing left to tell */
    }
    _exit(code);
}

struct tug_open_how {
    uint64_t flags, mode, resolve;
};
#define TUG_RESOLVE_NO_MAGICLINKS 0x02
#define TUG_RESOLVE_IN_ROOT 0x10
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Open path inside rootfd, symlinks resolved as if rootfd were "/". */
static int open_in_root(int rootfd, const char *path, int flags)
{
    struct tug_open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .resolve = TUG_RESOLVE_IN_ROOT | TUG_RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    if (*path == '\0')
        path = ".";
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Create every missing directory of path inside rootfd; returns an O_PATH fd of the last. */
static int mkdir_in_root(int rootfd, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    int fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char *slash = strrchr(buf, '/');
    const char *base = buf;
    int parent;
    if (slash && slash != buf) {
        *slash = '\0';
        parent = mkdir_in_root(rootfd, buf);
        base = slash + 1;
    } else {
        parent = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
        base = slash ? slash + 1 : buf;
    }
    if (parent < 0)
        return -1;
    if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        close(parent);
        errno = e;
        return -1;
    }
    close(parent);
    return open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
}

/* An O_PATH fd for a mount point inside rootfd, created (as a file or a directory) when missing.
 * A dangling symlink is followed inside the root and its target created. */
static int mountpoint_in_root(int rootfd, const char *path, bool as_file, int depth)
{
    int fd = open_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT || depth > 8)
        return fd;
    if (!as_file)
        return mkdir_in_root(rootfd, path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (slash)
        *slash = '\0';
    int pfd = mkdir_in_root(rootfd, slash ? (*dir ? dir : "/") : "/");
    if (pfd < 0)
        return -1;
    int f = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f >= 0) {
        close(f);
    } else if (errno == EEXIST) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            char next[PATH_MAX * 2];
            if (target[0] == '/')
                snprintf(next, sizeof(next), "%s", target);
            else
                snprintf(next, sizeof(next), "%s/%s", slash ? dir : "", target);
            close(pfd);
            return mountpoint_in_root(rootfd, next, as_file, depth + 1);
        }
    }
    close(pfd);
    return open_in_root(rootfd, path, O_PATH);
}

static void fdpath(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct tug_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define TUG_MOUNT_ATTR_RDONLY 0x1
#define TUG_MOUNT_ATTR_NOSUID 0x2
#define TUG_MOUNT_ATTR_NODEV 0x4
#define TUG_MOUNT_ATTR_NOEXEC 0x8

/* Set read-only, nosuid, nodev, noexec (those in flags) and the propagation (MS_PRIVATE,
 * MS_SLAVE, MS_SHARED or 0) on the mount fd names, and with recursive on every mount under it:
 * a read-only bind whose submounts stayed writable would not be read-only. Kernels before 5.12
 * have no mount_setattr: the top mount is changed, as docker before 25 does. */
static void set_mount_attrs(int fd, unsigned long flags, unsigned long propagation,
                            bool recursive, const char *what)
{
    struct tug_mount_attr a = {.propagation = propagation};
    if (flags & MS_RDONLY)
        a.attr_set |= TUG_MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID)
        a.attr_set |= TUG_MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV)
        a.attr_set |= TUG_MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC)
        a.attr_set |= TUG_MOUNT_ATTR_NOEXEC;
    if (a.attr_set == 0 && a.propagation == 0)
        return;
    unsigned at = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if (syscall(SYS_mount_setattr, fd, "", at, &a, sizeof(a)) == 0)
        return;
    if (errno != ENOSYS)
        tug_child_die(125, errno, "set the mount options of %s", what);
    char path[64];
    fdpath(path, sizeof(path), fd);
    unsigned long keep = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
    if (keep && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | keep, NULL) < 0)
        tug_child_die(125, errno, "remount %s", what);
    if (propagation &&
        mount(NULL, path, NULL, propagation | (recursive ? MS_REC : 0), NULL) < 0)
        tug_child_die(125, errno, "set propagation of %s", what);
}

static void remount_ro(const char *target, unsigned long flags)
{
    int fd = open(target, O_PATH | O_CLOEXEC);
    if (fd < 0)
        tug_child_die(125, errno, "remount %s read-only", target);
    set_mount_attrs(fd, (flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | MS_RDONLY, 0, true,
                    target);
    close(fd);
}

static void mount_cgroups(int rootfd, const char *dest, const char *target, unsigned long flags)
{
    struct stat st;
    /* A pure cgroup v2 host has cgroup2 at /sys/fs/cgroup itself. */
    FILE *f = fopen("/proc/self/cgroup", "re");
    bool v2_only = true;
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "0::", 3) != 0)
            v2_only = false;
    if (v2_only) {
        if (f)
            fclose(f);
        if (mount("cgroup2", target, "cgroup2", flags | MS_RDONLY, NULL) < 0)
            tug_child_die(125, errno, "mount cgroup2 at /sys/fs/cgroup");
        return;
    }
    if (mount("tmpfs", target, "tmpfs", flags, "mode=755") < 0)
        tug_child_die(125, errno, "mount tmpfs at /sys/fs/cgroup");
    /* the caller's fd names the directory under the tmpfs: open the tmpfs itself */
    int tfd = open_in_root(rootfd, dest, O_PATH | O_DIRECTORY);
    if (tfd < 0)
        tug_child_die(125, errno, "open %s", dest);
    char tpath[64];
    fdpath(tpath, sizeof(tpath), tfd);
    target = tpath;
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        char *ctrl = strchr(line, ':');
        if (ctrl == NULL)
            continue;
        ctrl++;
        char *end = strchr(ctrl, ':');
        if (end == NULL)
            continue;
        *end = '\0';
        char dir[PATH_MAX];
        const char *name = *ctrl ? ctrl : "unified";
        if (strncmp(name, "name=", 5) == 0)
            name += 5;
        snprintf(dir, sizeof(dir), "%s/%s", target, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            continue;
        int r = *ctrl ? mount("cgroup", dir, "cgroup", flags | MS_RDONLY, ctrl)
                      : mount("cgroup2", dir, "cgroup2", flags | MS_RDONLY, NULL);
        if (r < 0 && stat(dir, &st) == 0)
            rmdir(dir);
    }
    fclose(f);
    mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | flags, "mode=755");
    close(tfd);
}

/* --privileged: every device node of the host, as docker gives it. */
static void copy_host_devices(int dev, const char *sub)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "/dev%s%s", *sub ? "/" : "", sub);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "pts") == 0 ||
            strcmp(de->d_name, "shm") == 0 || strcmp(de->d_name, "mqueue") == 0)
            continue;
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", de->d_name);
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && !*sub) {
            mkdirat(dev, rel, 0755);
            copy_host_devices(dev, rel);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            if (mknodat(dev, rel, st.st_mode, st.st_rdev) == 0)
                fchownat(dev, rel, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        }
    }
    if (d)
        closedir(d);
}

/* A --device node at its path in the root, directories above it made. A file already there
 * stays, as runc leaves it. */
static void make_device_node(int rootfd, const tug_device_node *d)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", d->path);
    char *slash = strrchr(dir, '/'); /* the path is absolute */
    *slash = '\0';
    int pfd = mkdir_in_root(rootfd, *dir ? dir : "/");
    if (pfd < 0)
        tug_child_die(125, errno, "create the directory of device %s", d->path);
    if (mknodat(pfd, slash + 1, d->mode, d->rdev) == 0) {
        if (fchownat(pfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
            tug_child_die(125, errno, "chown device %s", d->path);
    } else if (errno != EEXIST) {
        tug_child_die(125, errno, "create device %s", d->path);
    }
    close(pfd);
}

static void make_dev(int rootfd, const tug_spawn_spec *s)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } devs[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        tug_child_die(125, errno, "open /dev");
    /* before the defaults: one given at a default's path is the one the container gets */
    for (size_t i = 0; i < s->n_devices; i++)
        make_device_node(rootfd, &s->devices[i]);
    for (size_t i = 0; i < TUG_ARRAY_SIZE(devs); i++)
        if (mknodat(dev, devs[i].name, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0 &&
            errno != EEXIST)
            tug_child_die(125, errno, "create /dev/%s", devs[i].name);
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},         {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"},   {"/proc/self/fd/2", "stderr"},
        {"pts/ptmx", "ptmx"},            {"/proc/kcore", "core"},
    };
    /* /dev/core only where the host has a /proc/kcore for it to name, as runc makes it */
    size_t n_links = TUG_ARRAY_SIZE(links) - (access("/proc/kcore", F_OK) == 0 ? 0 : 1);
    for (size_t i = 0; i < n_links; i++)
        if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
            tug_child_die(125, errno, "create /dev/%s", links[i][1]);
    if (s->privileged)
        copy_host_devices(dev, "");
    close(dev);
}

/* docker's copy-up: an empty volume gets what the image has at the mount point. Both sides
 * are opened without following symlinks out of the rootfs or the volume. */
static void copy_up(int rootfd, const tug_mount *m)
{
    int src = open_in_root(rootfd, m->dest, O_RDONLY | O_DIRECTORY);
    if (src < 0)
        return; /* nothing (or no directory) there in the image */
    int dst = open(m->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dst < 0)
        tug_child_die(125, errno, "open volume %s", m->src);
    tug_error *err = NULL;
    if (tug_volume_copy_up(src, dst, &err) < 0)
        tug_child_die(125, 0, "copy %s into its volume: %s", m->dest, err->msg);
    close(src);
    close(dst);
}

static void do_mounts(const tug_spawn_spec *s, int rootfd)
{
    char path[64];
    for (size_t i = 0; i < s->n_mounts; i++) {
        const tug_mount *m = &s->mounts[i];
        struct stat st;
        bool as_file = m->bind && stat(m->src, &st) == 0 && !S_ISDIR(st.st_mode);
        int fd = mountpoint_in_root(rootfd, m->dest, as_file, 0);
        if (fd < 0)
            tug_child_die(125, errno, "create mount point %s", m->dest);
        fdpath(path, sizeof(path), fd);
        unsigned long flags = m->flags & ~(MS_RDONLY | (m->bind ? 0UL : MS_BIND));
        if (strcmp(m->type, "cgroup") == 0) {
            mount_cgroups(rootfd, m->dest, path, flags);
        } else if (m->bind) {
            if (m->copyup)
                copy_up(rootfd, m);
            if (mount(m->src, path, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
                tug_child_die(125, errno, "bind %s to %s", m->src, m->dest);
            /* the fd names what was under the mount: later steps need the mount itself */
            close(fd);
            fd = open_in_root(rootfd, m->dest, O_PATH);
            if (fd < 0)
                tug_child_die(125, errno, "open %s", m->dest);
            fdpath(path, sizeof(path), fd);
            /* read-only and propagation reach the submounts a recursive bind brought along */
            set_mount_attrs(fd, (flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) |
                                    (m->ro ? MS_RDONLY : 0),
                            m->pflags & ~MS_REC, (m->flags & MS_REC) != 0, m->dest);
            close(fd);
            continue;
        } else {
            unsigned long mf = flags | (m->ro && strcmp(m->type, "sysfs") == 0 ? MS_RDONLY : 0);
            if (mount(m->src, path, m->type, mf, *m->data ? m->data : NULL) < 0) {
                /* sysfs needs its own network namespace; bind the host's read-only then. */
                if (strcmp(m->type, "sysfs") == 0 && errno == EPERM &&
                    mount("/sys", path, NULL, MS_BIND | MS_REC, NULL) == 0)
                    remount_ro(path, flags);
                else
                    tug_child_die(125, errno, "mount %s on %s", m->type, m->dest);
            }
            close(fd);
            fd = open_in_root(rootfd, m->dest, O_PATH);
            if (fd < 0)
                tug_child_die(125, errno, "open %s", m->dest);
            fdpath(path, sizeof(path), fd);
            if (m->ro && strcmp(m->type, "sysfs") != 0)
                remount_ro(path, flags);
        }
        if (m->pflags && mount(NULL, path, NULL, m->pflags, NULL) < 0)
            tug_child_die(125, errno, "set propagation of %s", m->dest);
        close(fd);
        if (strcmp(m->dest, "/dev") == 0 && strcmp(m->type, "tmpfs") == 0)
            make_dev(rootfd, s);
    }
}

/* Write linux.sysctl through the container's own /proc/sys, before it is made read-only. */
static void write_sysctls(const tug_spawn_spec *s)
{
    for (char **kv = s->sysctl; kv && kv[0] && kv[1]; kv += 2) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "/proc/sys/%s", kv[0]);
        if (n < 0 || (size_t)n >= sizeof(path))
            tug_child_die(125, ENAMETOOLONG, "sysctl %s", kv[0]);
        for (char *p = path + 10; *p; p++)
            if (*p == '.')
                *p = '/';
        int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || write(fd, kv[1], strlen(kv[1])) < 0)
            tug_child_die(125, errno, "sysctl %s=%s", kv[0], kv[1]);
        close(fd);
    }
}

static void mask_paths(const tug_spawn_spec *s)
{
    for (char **p = s->masked; p && *p; p++) {
        struct stat st;
        if (stat(*p, &st) < 0)
            continue;
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", *p, "tmpfs", MS_RDONLY, "size=0")
                                    : mount("/dev/null", *p, NULL, MS_BIND, NULL);
        if (r < 0 && errno != ENOENT)
            tug_child_die(125, errno, "mask %s", *p);
    }
    for (char **p = s->readonly; p && *p; p++) {
        if (mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            tug_child_die(125, errno, "bind %s", *p);
        }
        if (mount(NULL, *p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
                                      MS_NOEXEC,
                  NULL) < 0)
            remount_ro(*p, 0);
    }
}

/* With a terminal, /dev/console is the container's pty (now on fd 0), as runc binds it. */
static void bind_console(void)
{
    char pts[PATH_MAX];
    ssize_t n = readlink("/proc/self/fd/0", pts, sizeof(pts) - 1);
    if (n <= 0)
        tug_child_die(125, errno, "find the container's terminal");
    pts[n] = '\0';
    int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        tug_child_die(125, errno, "create /dev/console");
    close(fd);
    if (mount(pts, "/dev/console", NULL, MS_BIND, NULL) < 0)
        tug_child_die(125, errno, "bind %s to /dev/console", pts);
}

static void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
}

/* The image's /etc/passwd or /etc/group, or NULL when it has none. Anything but a regular file
 * of a sane size (a FIFO would block the start forever, a device could be endless) is refused. */
#define USER_DB_MAX (64LL * 1024 * 1024)
static FILE *open_user_db(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return NULL;
        tug_child_die(125, errno, "unable to read %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        tug_child_die(125, errno, "unable to read %s", path);
    if (!S_ISREG(st.st_mode))
        tug_child_die(125, 0, "unable to read %s: not a regular file; the image must ship a "
                              "plain file there", path);
    if (st.st_size > USER_DB_MAX)
        tug_child_die(125, 0, "unable to read %s: larger than %lld MiB", path,
                      USER_DB_MAX / (1024 * 1024));
    FILE *f = fdopen(fd, "re");
    if (f == NULL)
        tug_child_die(125, errno, "unable to read %s", path);
    return f;
}

/* Look a user (and group) up in the container's own /etc/passwd and /etc/group. */
void tug_child_resolve_user(const char *spec, uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups,
                         char *home, size_t home_size)
{
    char user[256], group[256] = "";
    snprintf(user, sizeof(user), "%s", spec);
    char *colon = strchr(user, ':');
    if (colon) {
        *colon = '\0';
        snprintf(group, sizeof(group), "%s", colon + 1);
    }
    char *end;
    bool numeric = *user && (strtoul(user, &end, 10), *end == '\0');
    bool found = false;
    FILE *f = open_user_db("/etc/passwd");
    struct passwd *pw;
    while (f && (pw = fgetpwent(f)) != NULL) {
        if ((numeric && pw->pw_uid == (uid_t)strtoul(user, NULL, 10)) ||
            (!numeric && strcmp(pw->pw_name, user) == 0)) {
            *uid = pw->pw_uid;
            *gid = pw->pw_gid;
            snprintf(home, home_size, "%s", pw->pw_dir);
            snprintf(user, sizeof(user), "%s", pw->pw_name);
            found = true;
            break;
        }
    }
    if (f)
        fclose(f);
    if (!found) {
        if (!numeric)
            tug_child_die(125, 0, "unable to find user %s: no matching entries in passwd file", user);
        *uid = (uid_t)strtoul(user, NULL, 10);
        *gid = 0;
    }
    *ngroups = 0;
    f = open_user_db("/etc/group");
    struct group *gr;
    bool group_found = !*group;
    bool gnum = *group && (strtoul(group, &end, 10), *end == '\0');
    while (f && (gr = fgetgrent(f)) != NULL) {
        if (*group && ((gnum && gr->gr_gid == (gid_t)strtoul(group, NULL, 10)) ||
                       (!gnum && strcmp(gr->gr_name, group) == 0))) {
            *gid = gr->gr_gid;
            group_found = true;
        }
        for (char **m = gr->gr_mem; found && m && *m && *ngroups < 64; m++)
            if (strcmp(*m, user) == 0)
                groups[(*ngroups)++] = gr->gr_gid;
    }
    if (f)
        fclose(f);
    if (!group_found) {
        if (!gnum)
            tug_child_die(125, 0, "unable to find group %s: no matching entries in group file", group);
        *gid = (gid_t)strtoul(group, NULL, 10);
    }
}

void tug_child_add_groups(const char *list, gid_t *groups, int *ngroups)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", list);
    char *save = NULL;
    for (char *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long n = strtoul(g, &end, 10);
        bool numeric = *g && *end == '\0';
        bool found = false;
        gid_t gid = (gid_t)n;
        FILE *f = open_user_db("/etc/group");
        struct group *gr;
        while (f && !found && (gr = fgetgrent(f)) != NULL)
            if ((numeric && gr->gr_gid == gid) || (!numeric && strcmp(gr->gr_name, g) == 0)) {
                gid = gr->gr_gid;
                found = true;
            }
        if (f)
            fclose(f);
        if (!found && !numeric)
            tug_child_die(125, 0, "Unable to find group %s: no matching entries in group file", g);
        bool have = false;
        for (int i = 0; i < *ngroups; i++)
            have |= groups[i] == gid;
        if (!have && *ngroups < 64)
            groups[(*ngroups)++] = gid;
    }
}

const char *tug_child_env_get(char **env, const char *key)
{
    size_t kl = strlen(key);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, key, kl) == 0 && (*e)[kl] == '=')
            return *e + kl + 1;
    return NULL;
}

/* Find the program like execvp, with the container's PATH. */
void tug_child_find_program(const char *prog, char **env, char *out, size_t size)
{
    if (strchr(prog, '/')) {
        struct stat st;
        if (stat(prog, &st) < 0)
            tug_child_die(127, 0, "exec: \"%s\": stat %s: no such file or directory", prog, prog);
        snprintf(out, size, "%s", prog);
        return;
    }
    const char *path = tug_child_env_get(env, "PATH");
    if (path == NULL)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char buf[PATH_MAX];
    bool denied = false;
    for (const char *p = path; *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", prog);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(buf, X_OK) == 0) {
                snprintf(out, size, "%s", buf);
                return;
            }
            denied = true;
        }
        p += n + (c ? 1 : 0);
        if (c == NULL)
            break;
    }
    if (denied)
        tug_child_die(126, 0, "exec: \"%s\": permission denied", prog);
    tug_child_die(127, 0, "exec: \"%s\": executable file not found in $PATH", prog);
}

static void send_fd(int sock, int fd)
{
    char dummy = 'T';
    struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &msg, 0) < 0)
        tug_child_die(125, errno, "send the terminal to the monitor");
}

void tug_child_setup_terminal(int console, unsigned short rows, unsigned short cols)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        tug_child_die(125, errno, "open /dev/ptmx");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        tug_child_die(125, errno, "unlock the terminal");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        tug_child_die(125, errno, "open the terminal");
    /* sized before the command runs, so its first look at the size is right */
    if (rows && cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        ioctl(slave, TIOCSWINSZ, &ws);
    }
    send_fd(console, master);
    close(master);
    close(console);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        tug_child_die(125, errno, "make the terminal the controlling one");
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            tug_child_die(125, errno, "dup the terminal");
    if (slave > 2)
        close(slave);
}

void tug_child_setup_stdio(const tug_spawn_io *io)
{
    int fds[3] = {io->in, io->out, io->err};
    int devnull = -1;
    for (int i = 0; i < 3; i++) {
        int fd = fds[i];
        if (fd < 0) {
            if (devnull < 0)
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            fd = devnull;
        }
        if (fd != i && dup2(fd, i) < 0)
            tug_child_die(125, errno, "set up stdio");
        if (fd == i) {
            int flags = fcntl(i, F_GETFD);
            fcntl(i, F_SETFD, flags & ~FD_CLOEXEC);
        }
    }
}

/* Point <dir>/l/<i> at path, leaving a link that already does alone. */
static void short_link(int ldir, size_t i, const char *path)
{
    char name[24], cur[PATH_MAX];
    snprintf(name, sizeof(name), "%zu", i);
    ssize_t n = readlinkat(ldir, name, cur, sizeof(cur) - 1);
    if (n >= 0) {
        cur[n] = '\0';
        if (strcmp(cur, path) == 0)
            return;
        unlinkat(ldir, name, 0);
    }
    if (symlinkat(path, ldir, name) < 0)
        tug_child_die(125, errno, "link layer %zu of the root filesystem", i);
}

/* The overlay's layers go by short links (<the container's dir>/l/0, /1 ...) and its upper and
 * work dirs by relative names from there: mount(2) takes one page of options, which absolute
 * layer paths fill at about 40 layers, and a store path holding a comma or colon would break
 * the option string. The kernel stacks at most 500 layers. */
#define OVERLAY_MAX_LAYERS 500
void tug_child_mount_overlay(const char *lowerdirs, const char *upperdir, const char *workdir,
                             const char *target)
{
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s", upperdir);
    char *slash = strrchr(base, '/');
    if (slash == NULL || slash == base)
        tug_child_die(125, EINVAL, "overlay upper dir %s", upperdir);
    *slash = '\0';
    const char *upper = slash + 1;
    size_t blen = strlen(base);
    const char *work = strncmp(workdir, base, blen) == 0 && workdir[blen] == '/' &&
                               strchr(workdir + blen + 1, '/') == NULL
                           ? workdir + blen + 1
                           : workdir;
    int bfd = open(base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0 || (mkdirat(bfd, "l", 0700) < 0 && errno != EEXIST))
        tug_child_die(125, errno, "prepare the root filesystem in %s", base);
    int ldir = openat(bfd, "l", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ldir < 0)
        tug_child_die(125, errno, "prepare the root filesystem in %s", base);
    char *layers = strdup(lowerdirs);
    size_t cap = strlen(lowerdirs) + strlen(upper) + strlen(work) + 64;
    char *opts = malloc(cap > 4096 ? cap : 4096);
    if (layers == NULL || opts == NULL)
        tug_child_die(125, ENOMEM, "overlay");
    size_t n = 0, len = (size_t)snprintf(opts, 4096, "lowerdir=");
    for (char *save = NULL, *p = strtok_r(layers, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (++n > OVERLAY_MAX_LAYERS)
            tug_child_die(125, 0, "the image has more than %d layers, more than overlayfs stacks",
                          OVERLAY_MAX_LAYERS);
        short_link(ldir, n - 1, p);
        len += (size_t)snprintf(opts + len, 4096 - len, "%sl/%zu", n > 1 ? ":" : "", n - 1);
    }
    /* the upper dir must hold whole files (a layer is made of it): no metadata-only copy-up,
     * no redirect to a lower directory */
    int r = snprintf(opts + len, 4096 - len, ",upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off",
                     upper, work);
    if (r < 0 || len + (size_t)r >= 4096)
        tug_child_die(125, E2BIG, "overlay options for %s", target);
    /* relative names are taken from the working directory */
    if (fchdir(bfd) < 0)
        tug_child_die(125, errno, "prepare the root filesystem in %s", base);
    if (mount("overlay", target, "overlay", 0, opts) < 0) {
        /* a kernel that has neither option has neither feature */
        char *extra = strstr(opts, ",redirect_dir=off");
        if (errno != EINVAL || extra == NULL)
            tug_child_die(125, errno, "mount the root filesystem (overlay of %zu layers on %s)", n,
                          target);
        *extra = '\0';
        if (mount("overlay", target, "overlay", 0, opts) < 0)
            tug_child_die(125, errno, "mount the root filesystem (overlay of %zu layers on %s)",
                          n, target);
    }
    free(opts);
    free(layers);
    close(ldir);
    close(bfd);
}

/* The propagation the container's mount namespace starts with. Every mount is a slave of the
 * host's (runc's default): nothing mounted in the container reaches the host, and a bind that
 * asks for rslave sees what the host mounts under it later. A bind that asks for shared or
 * rshared needs the host's peer groups kept (docker then makes the root rshared); the mount
 * holding the rootfs is made private so that the rootfs itself is not mounted on the host. */
static void set_root_propagation(const tug_spawn_spec *s)
{
    bool shared = false;
    for (size_t i = 0; i < s->n_mounts; i++)
        if (s->mounts[i].pflags & MS_SHARED)
            shared = true;
    if (!shared) {
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
            tug_child_die(125, errno, "make the mounts slaves of the host's");
        return;
    }
    /* climb from the rootfs to the root of the mount it is on */
    int fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct statx here;
    if (fd < 0 || statx(fd, "..", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &here) < 0)
        tug_child_die(125, errno, "find the mount of %s", s->rootfs);
    int cur = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
        struct statx up;
        if (statx(cur, "..", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &up) < 0)
            break;
        if (up.stx_mnt_id != here.stx_mnt_id || (up.stx_ino == here.stx_ino &&
                                                 up.stx_dev_major == here.stx_dev_major &&
                                                 up.stx_dev_minor == here.stx_dev_minor))
            break; /* cur is the mount's root (or "/") */
        int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = next;
        here = up;
    }
    if (cur < 0)
        tug_child_die(125, errno, "find the mount of %s", s->rootfs);
    set_mount_attrs(cur, 0, MS_PRIVATE, false, "the mount holding the rootfs");
    close(cur);
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define TUG_OPEN_TREE_CLONE 1
#define TUG_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define TUG_MOVE_MOUNT_T_EMPTY_PATH 0x40

/* A detached copy of the /dev/shm of the mount namespace at ns_path (another container's): a
 * bind cannot reach into another namespace, a copy made from inside it can be attached here.
 * Called before pivot_root; back in this namespace after. */
static int clone_shm_of(const char *ns_path)
{
    int own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    int other = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (own < 0 || other < 0 || setns(other, CLONE_NEWNS) < 0)
        tug_child_die(125, errno, "enter the mount namespace %s for its /dev/shm", ns_path);
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/dev/shm",
                            TUG_OPEN_TREE_CLONE | O_CLOEXEC);
    int e = errno;
    if (setns(own, CLONE_NEWNS) < 0)
        tug_child_die(125, errno, "come back to the container's mount namespace");
    if (tree < 0)
        tug_child_die(125, e, "copy /dev/shm of %s", ns_path);
    close(own);
    close(other);
    return tree;
}

/* Join the namespace at path (another container's, or the host's) in place of a new one. */
static void join_ns(const char *path, int type, const char *what)
{
    if (path == NULL)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, type) < 0)
        tug_child_die(125, errno, "join %s namespace %s", what, path);
    close(fd);
}

__attribute__((noreturn)) static void child_main(const tug_spawn_spec *s, const tug_spawn_io *io,
                                                 const tug_spawn_paths *paths, tug_cgroup *cg,
                                                 const tug_seccomp_filter *filter, int go_fd)
{
    /* Into the cgroup while the parent plumbs the network. */
    if (cg) {
        tug_error *err = NULL;
        if (tug_cgroup_enter_self(cg, &err) < 0)
            tug_child_die(125, 0, "%s", err && err->msg ? err->msg : "enter the cgroup");
    }
    /* the go pipe's write end closes when the parent dies: past this read it was alive, and
     * from here its death kills the init */
    if (paths->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        tug_child_die(125, errno, "tie the init to its parent");
    char c;
    if (read(go_fd, &c, 1) != 1)
        _exit(125); /* the parent gave up */
    close(go_fd);
    umask(0);
    /* stdio first: the fds may be among those the next steps close */
    if (!s->terminal)
        tug_child_setup_stdio(io);
    if ((s->ns_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        tug_child_die(125, errno, "create the cgroup namespace");
    join_ns(s->netns_path, CLONE_NEWNET, "network");
    /* before the mounts: /dev/mqueue shows the IPC namespace of who mounts it */
    join_ns(s->ipcns_path, CLONE_NEWIPC, "IPC");
    join_ns(s->utsns_path, CLONE_NEWUTS, "UTS");
    if (s->oom_score_adj_set) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%d", s->oom_score_adj);
        int ofd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (ofd < 0 || write(ofd, buf, (size_t)n) != n)
            tug_child_die(125, errno, "write %s to /proc/self/oom_score_adj", buf);
        close(ofd);
    }
    int init_fd = -1;
    if (s->init && paths->init_binary) {
        init_fd = open(paths->init_binary, O_RDONLY | O_CLOEXEC);
        if (init_fd < 0)
            tug_child_die(125, errno, "open %s", paths->init_binary);
    }
    set_root_propagation(s);
    if (s->lowerdirs && *s->lowerdirs) {
        tug_child_mount_overlay(s->lowerdirs, s->upperdir, s->workdir, s->rootfs);
    } else if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        tug_child_die(125, errno, "bind the root filesystem %s", s->rootfs);
    }
    int shm_tree = s->shm_from ? clone_shm_of(s->shm_from) : -1;
    int rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        tug_child_die(125, errno, "open %s", s->rootfs);
    do_mounts(s, rootfd);
    if (shm_tree >= 0) {
        int shm = open_in_root(rootfd, "/dev/shm", O_PATH);
        if (shm < 0 || syscall(SYS_move_mount, shm_tree, "", shm, "",
                               TUG_MOVE_MOUNT_F_EMPTY_PATH | TUG_MOVE_MOUNT_T_EMPTY_PATH) < 0)
            tug_child_die(125, errno, "put the shared /dev/shm in place");
        close(shm);
        close(shm_tree);
    }
    int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (oldroot < 0 || chdir(s->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        tug_child_die(125, errno, "pivot_root into %s", s->rootfs);
    /* The old root is stacked on "/". Cut it (by its fd: "." would name the new root) loose
     * from the host's mounts before detaching it, or with shared propagation the unmount would
     * reach the host. */
    set_mount_attrs(oldroot, 0, MS_SLAVE, true, "the host's root");
    close(oldroot);
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        tug_child_die(125, errno, "detach the host's root after pivot_root into %s", s->rootfs);
    close(rootfd);
    write_sysctls(s);
    mask_paths(s);
    if (s->readonly_root && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        tug_child_die(125, errno, "make the root filesystem read-only");
    if (s->hostname && (s->ns_flags & CLONE_NEWUTS) &&
        sethostname(s->hostname, strlen(s->hostname)) < 0)
        tug_child_die(125, errno, "set hostname %s", s->hostname);
    if (s->domainname && (s->ns_flags & CLONE_NEWUTS) &&
        setdomainname(s->domainname, strlen(s->domainname)) < 0)
        tug_child_die(125, errno, "set domainname %s", s->domainname);
    if (s->ns_flags & CLONE_NEWNET)
        loopback_up();
    if (s->terminal) {
        tug_child_setup_terminal(io->console, io->rows, io->cols);
        bind_console();
    }

    uid_t uid = s->uid;
    gid_t gid = s->gid;
    gid_t groups[64];
    int ngroups = 0;
    char home[PATH_MAX] = "/";
    if (s->user)
        tug_child_resolve_user(s->user, &uid, &gid, groups, &ngroups, home, sizeof(home));
    else
        tug_child_resolve_user("0", &uid, &gid, groups, &ngroups, home, sizeof(home));
    if (s->user == NULL) {
        uid = s->uid;
        gid = s->gid;
    }
    if (s->groups)
        tug_child_add_groups(s->groups, groups, &ngroups);
    /* HOME from the user's entry unless set, as docker does. */
    char **env = s->env;
    if (tug_child_env_get(env, "HOME") == NULL) {
        size_t n = 0;
        while (env[n])
            n++;
        char **ne = calloc(n + 2, sizeof(char *));
        memcpy(ne, env, n * sizeof(char *));
        if (asprintf(&ne[n], "HOME=%s", home) < 0)
            ne[n] = NULL;
        env = ne;
    }
    for (size_t i = 0; i < s->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard};
        struct rlimit cur;
        /* Above the host's hard limit cannot be had: clamp (the CLI warned). */
        if (getrlimit(s->rlimits[i].resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
            if (rl.rlim_max > cur.rlim_max)
                rl.rlim_max = cur.rlim_max;
            if (rl.rlim_cur > rl.rlim_max)
                rl.rlim_cur = rl.rlim_max;
        }
        if (setrlimit(s->rlimits[i].resource, &rl) < 0)
            tug_child_die(125, errno, "set rlimit %d", s->rlimits[i].resource);
    }
    struct stat st;
    if (stat(s->cwd, &st) < 0) {
        /* docker creates a missing working directory */
        int rfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int d = rfd >= 0 ? mkdir_in_root(rfd, s->cwd) : -1;
        if (d < 0)
            tug_child_die(125, errno, "create working directory %s", s->cwd);
        close(d);
        close(rfd);
    }
    if (chdir(s->cwd) < 0)
        tug_child_die(125, errno, "chdir to cwd (\"%s\") set in config.json failed", s->cwd);
    char prog[PATH_MAX];
    if (init_fd < 0)
        tug_child_find_program(s->args[0], env, prog, sizeof(prog));

    tug_child_become(s->caps, s->no_new_privs, filter, uid, gid, groups, ngroups);
    umask(022);
    if (init_fd >= 0) {
        size_t n = 0;
        while (s->args[n])
            n++;
        char **argv = calloc(n + 3, sizeof(char *));
        argv[0] = "tug-init";
        argv[1] = "--";
        memcpy(argv + 2, s->args, n * sizeof(char *));
        syscall(SYS_execveat, init_fd, "", argv, env, AT_EMPTY_PATH);
        tug_child_die(126, errno, "exec tug's init");
    }
    execve(prog, s->args, env);
    int e = errno;
    if (e == ENOENT)
        tug_child_die(127, 0, "exec: \"%s\": no such file or directory", s->args[0]);
    if (e == EACCES || e == EISDIR)
        tug_child_die(126, 0, "exec: \"%s\": permission denied", s->args[0]);
    tug_child_die(126, e, "exec: \"%s\"", s->args[0]);
}

void tug_child_become(uint64_t caps, bool no_new_privs, const tug_seccomp_filter *filter,
                      uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
    tug_error *err = NULL;
    /* Whatever the caller inherited and left open must not outlive the exec (runc's
     * CVE-2024-21626): the fds still needed until then are closed by it. */
    if (tug_close_fds_from(3, true) < 0)
        tug_child_die(125, errno, "close inherited file descriptors");
    /* Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before the caps go. */
    if (!no_new_privs && tug_seccomp_install(filter, &err) < 0)
        tug_child_die(125, 0, "seccomp: %s", err && err->msg ? err->msg : "load failed");
    if (setgroups((size_t)ngroups, groups) < 0)
        tug_child_die(125, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        tug_child_die(125, errno, "setgid %u", (unsigned)gid);
    if (uid != 0 && tug_caps_prepare_setuid(&err) < 0)
        tug_child_die(125, 0, "capabilities: %s", err->msg);
    if (setresuid(uid, uid, uid) < 0)
        tug_child_die(125, errno, "setuid %u", (unsigned)uid);
    if (tug_caps_apply(caps, &err) < 0)
        tug_child_die(125, 0, "capabilities: %s", err->msg);
    if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        tug_child_die(125, errno, "no_new_privs");
    if (no_new_privs && tug_seccomp_install(filter, &err) < 0)
        tug_child_die(125, 0, "seccomp: %s", err && err->msg ? err->msg : "load failed");
}

/* ---------------- the parent ---------------- */

/* fork() into new namespaces. Given a v2 group's fd, the child is born in that group
 * (CLONE_INTO_CGROUP, Linux 5.7): moving a process in later costs an RCU grace period. */
static pid_t clone_child(unsigned long ns_flags, int cgroup_fd, bool *ret_joined)
{
    *ret_joined = false;
#ifdef CLONE_INTO_CGROUP
    if (cgroup_fd >= 0) {
        struct clone_args a = {
            .flags = ns_flags | CLONE_INTO_CGROUP,
            .exit_signal = SIGCHLD,
            .cgroup = (uint64_t)cgroup_fd,
        };
        pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
        if (pid >= 0) {
            *ret_joined = true;
            return pid;
        }
        if (errno != ENOSYS && errno != E2BIG && errno != EINVAL)
            return -1;
    }
#else
    (void)cgroup_fd;
#endif
    return (pid_t)syscall(SYS_clone, ns_flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* setns into the PID namespace at path for this process's next children; *ret_own gets an fd
 * of its own one to go back to. -1 with errno. */
static int join_pidns_for_children(const char *path, int *ret_own)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || own < 0 || setns(fd, CLONE_NEWPID) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (own >= 0)
            close(own);
        errno = e;
        return -1;
    }
    close(fd);
    *ret_own = own;
    return 0;
}

int tug_spawn(const tug_spawn_spec *s, const tug_spawn_io *io, const tug_spawn_paths *paths,
              tug_spawned *ret, tug_error **err)
{
    /* Compiled (or read from the cache) here: the init reads nothing of the host's once it is
     * inside. */
    cleanup_seccomp_filter tug_seccomp_filter *filter = NULL;
    if (tug_seccomp_prepare(s->seccomp, paths->seccomp_cache, s->caps, &filter, err) < 0)
        return -1;
    tug_cgroup *cg = NULL;
    if (s->cgroup_path && tug_cgroup_create(s->cgroup_path, &s->limits, &cg, err) < 0)
        return -1;
    int go[2], fail[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "pipe");
    if (pipe2(fail, O_CLOEXEC) < 0) {
        int e = errno;
        close(go[0]);
        close(go[1]);
        return tug_error_set(err, e, "pipe");
    }
    bool joined = false;
    /* another PID namespace is joined by the children of whoever joins it: this process, for
     * the one clone, and back to its own after */
    int own_pidns = -1, join_errno = 0;
    if (s->pidns_path && join_pidns_for_children(s->pidns_path, &own_pidns) < 0)
        join_errno = errno;
    pid_t pid = join_errno ? -1
                           : clone_child((unsigned long)(s->ns_flags & ~CLONE_NEWCGROUP),
                                         cg ? tug_cgroup_clone_fd(cg) : -1, &joined);
    if (own_pidns >= 0 && pid != 0) {
        if (setns(own_pidns, CLONE_NEWPID) < 0) {
            /* this process's later children would land there: it starts nothing else */
        }
        close(own_pidns);
    }
    if (pid < 0) {
        int e = join_errno ? join_errno : errno;
        close(go[0]);
        close(go[1]);
        close(fail[0]);
        close(fail[1]);
        if (cg) {
            tug_error *ignored = NULL;
            tug_cgroup_destroy(cg, &ignored);
            tug_error_free(ignored);
            tug_cgroup_free(cg);
        }
        if (join_errno)
            return tug_error_set(err, e, "join PID namespace %s", s->pidns_path);
        return tug_error_set(err, e, "create the container's namespaces");
    }
    if (pid == 0) {
        close(go[1]);
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        child_main(s, io, paths, joined ? NULL : cg, filter, go[0]);
    }
    close(go[0]);
    close(fail[1]);
    int r = 0;
    if (paths->before_start && paths->before_start(pid, paths->userdata, err) < 0)
        r = -1;
    if (r == 0 && write(go[1], "g", 1) != 1)
        r = tug_error_set(err, errno, "start the container");
    close(go[1]);
    child_fail f;
    ssize_t n;
    do
        n = read(fail[0], &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(fail[0]);
    if (r == 0 && n == (ssize_t)sizeof(f)) {
        f.msg[sizeof(f.msg) - 1] = '\0';
        tug_error_user(err, "%s", f.msg);
        (*err)->status = f.code;
        r = -1;
    }
    if (r < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (cg) {
            tug_error *ignored = NULL;
            tug_cgroup_destroy(cg, &ignored);
            tug_error_free(ignored);
            tug_cgroup_free(cg);
        }
        return -1;
    }
    ret->pid = pid;
    ret->cg = cg;
    return 0;
}
