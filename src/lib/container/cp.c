/* cp: docker cp's two directions over one tar stream.
 *
 * The container's side is a directory fd of its root, and every path in it is resolved from
 * there with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), every tree below it walked with
 * *at() calls that follow nothing: a symlink in the container (to /, to ../../..) leads to the
 * container's own root, never the host's.
 *   running  the root of its init (/proc/PID/root, the pid checked through a pidfd to be that
 *            init): paths lead through the container's own mounts (volumes, binds, tmpfs) as
 *            its processes see them, and no process of tug enters the container, so there is
 *            nothing there for the container to attack, and no library is ever loaded from it
 *            (NSS, libarchive: all work is done by the caller, with the host's files);
 *   stopped  a holder child mounts the image's layers and the container's upper dir in a mount
 *            namespace of its own, binds the container's volumes and binds in place (their
 *            destinations resolved in that root), hands the root over as an fd and keeps the
 *            namespace alive until the copy is done.
 * Out of the container, the tree is tarred (docker's format, tug_path_tar) by a child and the
 * caller writes it out or unpacks it on the host; into it, the host tree or stdin's tar is
 * unpacked by tug_archive_unpack_at under the destination directory's fd, which nothing it
 * writes can leave. */
#include "cp.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/attach.h"
#include "../runtime/container.h"
#include "../runtime/linux_child.h"
#include "../store/diff.h"
#include "../store/unpack.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/lazylib.h"
#include "../util/strutil.h"
#include "commit.h"

#define MAX_LINKS 40 /* symlinks followed in one path, as the kernel's limit */

/* ---- docker's path rules ------------------------------------------------------------------ */

char *tug_cp_clean(const char *path, bool *ret_contents, bool *ret_asserts_dir)
{
    size_t len = strlen(path);
    bool dot = strcmp(path, ".") == 0 || (len >= 2 && strcmp(path + len - 2, "/.") == 0);
    bool abs = path[0] == '/';
    *ret_contents = dot || strcmp(path, "/") == 0;
    *ret_asserts_dir = dot || (len > 0 && path[len - 1] == '/');
    char *out = malloc(len + 2);
    if (out == NULL)
        return NULL;
    /* Go's filepath.Clean: empty and "." elements go, ".." takes the element before it away
     * (at the root it goes too; a relative path keeps the ones with nothing before them) */
    size_t o = abs ? 1 : 0, keep = o; /* out[0..keep) is "/" or leading ".." elements */
    out[0] = '/';
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (o > keep) {
                while (o > keep && out[o - 1] != '/')
                    o--;
                if (o > keep) /* the '/' before it */
                    o--;
            } else if (!abs) {
                if (o > 0)
                    out[o++] = '/';
                out[o++] = '.';
                out[o++] = '.';
                keep = o;
            }
        } else {
            if (o > 0 && out[o - 1] != '/')
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return out;
}

tug_cp_verdict tug_cp_decide(const tug_cp_src *src, const tug_cp_dest *dest, tug_cp_plan *ret)
{
    tug_cp_plan p = {0};
    if (dest->exists && dest->is_dir) {
        p.as = src->contents ? "." : src->base;
    } else if (dest->exists) {
        if (src->is_dir)
            return TUG_CP_COPY_DIR;
        if (dest->asserts_dir)
            return TUG_CP_NO_DIR;
        p.into_parent = true;
        p.as = dest->base;
    } else {
        if (!dest->parent_exists)
            return TUG_CP_NO_PARENT;
        if (dest->asserts_dir && !src->is_dir)
            return TUG_CP_NO_DIR;
        p.into_parent = true;
        p.make_dir = src->contents;
        p.as = src->contents ? "." : dest->base;
    }
    *ret = p;
    return TUG_CP_OK;
}

/* The directory part and the last element of a cleaned path ("/a/b": "/a" and "b"). */
static char *split_path(const char *clean, const char **ret_base)
{
    const char *slash = strrchr(clean, '/');
    *ret_base = slash ? slash + 1 : clean;
    if (slash == NULL)
        return strdup(".");
    return strndup(clean, slash == clean ? 1 : (size_t)(slash - clean));
}

/* ---- the container's root ------------------------------------------------------------------ */

static int open_in_root(int root, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    return (int)syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));
}

typedef struct cp_root {
    tug_container *c;
    int fd;       /* O_PATH: the container's root */
    pid_t holder; /* the child keeping a stopped container's mounts, or 0 */
    int sock;     /* our end of its socket: closing it lets it go */
} cp_root;

static void cp_root_clear(cp_root *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->sock >= 0)
        close(r->sock);
    while (r->holder > 0 && waitpid(r->holder, NULL, 0) < 0 && errno == EINTR) {
    }
    tug_container_free(r->c);
    *r = (cp_root){.fd = -1, .sock = -1};
}

/* A running container's root: its init's, that init checked through a pidfd after the open. */
static int live_root(cp_root *r, tug_error **err)
{
    cleanup_close int pidfd = tug_container_pidfd(r->c, err);
    if (pidfd < 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/root", (int)r->c->pid);
    r->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r->fd < 0 || pidfd_send_signal(pidfd, 0, NULL, 0) < 0)
        return tug_error_user(err, "Container %s is not running any more", r->c->name);
    return 0;
}

static void send_fd(int sock, int fd)
{
    char one = 'R';
    struct iovec iov = {.iov_base = &one, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        tug_child_die(125, errno, "cp: hand over the container's root");
}

/* In the holder: the mount point dest in root, made (a directory, or an empty file for a file
 * bind) where the container has nothing yet, as the runtime makes it at start. */
static int mount_point(int root, const char *dest, bool dir)
{
    int fd = open_in_root(root, dest, O_PATH);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    bool contents, asserts;
    cleanup_free char *p = tug_cp_clean(dest, &contents, &asserts);
    const char *base;
    cleanup_free char *parent = p ? split_path(p, &base) : NULL;
    if (parent == NULL || strcmp(p, "/") == 0)
        return -1;
    cleanup_close int pfd = mount_point(root, parent, true);
    if (pfd < 0)
        return -1;
    cleanup_close int pdir = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pdir < 0)
        return -1;
    int r = dir ? mkdirat(pdir, base, 0755)
                : openat(pdir, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (r < 0 && errno != EEXIST)
        return -1;
    if (!dir && r >= 0)
        close(r);
    return openat(pdir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/* In the holder: the container's volumes and binds (TugMounts of type bind) mounted in root. */
static void mount_binds(int root, json_t *mounts)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *src = json_string_value(json_object_get(m, "source"));
        const char *dest = json_string_value(json_object_get(m, "destination"));
        if (type == NULL || strcmp(type, "bind") != 0 || src == NULL || dest == NULL)
            continue;
        bool ro = false;
        size_t j;
        json_t *opt;
        json_array_foreach(json_object_get(m, "options"), j, opt)
        {
            const char *o = json_string_value(opt);
            ro = ro || (o && strcmp(o, "ro") == 0);
        }
        struct stat st;
        if (stat(src, &st) < 0)
            continue; /* a bind source gone: the container could not start either */
        int tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        int at = tree < 0 ? -1 : mount_point(root, dest, S_ISDIR(st.st_mode));
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (at < 0 ||
            (ro &&
             mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) ||
            move_mount(tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            tug_child_die(125, errno, "cp: mount %s on %s in the container", src, dest);
        close(at);
        close(tree);
    }
}

/* Fork a child that runs fn(arg) and never returns, its failures told through a pipe
 * (tug_child_die) whose read end is *ret_fail; ours is the caller's end of the channel to it,
 * closed in the child. */
static pid_t fork_child(void (*fn)(void *), void *arg, int ours, int *ret_fail, tug_error **err)
{
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "cp: pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fail[0]);
        close(ours);
        tug_child_fail_fd = fail[1];
        fn(arg);
        _exit(0);
    }
    int e = errno;
    close(fail[1]);
    if (pid < 0) {
        close(fail[0]);
        return tug_error_set(err, e, "cp: fork");
    }
    *ret_fail = fail[0];
    return pid;
}

/* What the child said in the pipe fail before it ended (which this closes), if anything. */
static bool child_said(int fail, child_fail *ret)
{
    ssize_t n;
    do
        n = read(fail, ret, sizeof(*ret));
    while (n < 0 && errno == EINTR);
    close(fail);
    ret->msg[sizeof(ret->msg) - 1] = '\0';
    return n == (ssize_t)sizeof(*ret);
}

typedef struct holder_plan {
    const char *lowers; /* colon-separated, top first */
    const char *upper, *work, *target;
    json_t *mounts;
    int sock;
} holder_plan;

/* The holder child: the container's filesystem in a mount namespace of its own, its root handed
 * over, the namespace kept until the caller closes its end. */
static void holder_main(void *arg)
{
    const holder_plan *h = arg;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        tug_child_die(125, errno, "cp: make the helper non-dumpable");
    int keep[] = {tug_child_fail_fd, h->sock};
    if (tug_close_fds_except(keep, TUG_ARRAY_SIZE(keep)) < 0)
        tug_child_die(125, errno, "cp: close the caller's file descriptors");
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        tug_child_die(125, errno, "cp: a mount namespace for the container's files");
    tug_child_mount_overlay(h->lowers, h->upper, h->work, h->target);
    int root = open(h->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        tug_child_die(125, errno, "cp: open %s", h->target);
    mount_binds(root, h->mounts);
    send_fd(h->sock, root);
    close(root);
    char c;
    while (read(h->sock, &c, 1) > 0 || errno == EINTR) {
    }
}

/* A stopped container's root, from a holder child. */
static int stopped_root(tug_store *s, cp_root *r, tug_error **err)
{
    __attribute__((cleanup(tug_ctr_fs_clear))) tug_ctr_fs f = {0};
    if (tug_ctr_fs_open(s, r->c->id, &f, err) < 0)
        return -1;
    tug_strbuf lowers = {0};
    for (size_t i = f.n_lower; i-- > 0;) {
        tug_strbuf_adds(&lowers, f.lowers[i]);
        if (i > 0)
            tug_strbuf_adds(&lowers, ":");
    }
    cleanup_free char *low = tug_strbuf_steal(&lowers);
    cleanup_free char *dir = tug_container_dir(s, r->c->id);
    cleanup_free char *work = NULL, *target = NULL;
    if (low == NULL || dir == NULL || asprintf(&work, "%s/work", dir) < 0 ||
        asprintf(&target, "%s/rootfs", dir) < 0)
        return tug_error_set(err, ENOMEM, "cp");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return tug_error_set(err, errno, "cp: socketpair");
    holder_plan h = {.lowers = low,
                     .upper = f.upper,
                     .work = work,
                     .target = target,
                     .mounts = json_object_get(r->c->config, "TugMounts"),
                     .sock = sv[1]};
    int fail = -1;
    pid_t pid = fork_child(holder_main, &h, sv[0], &fail, err);
    close(sv[1]);
    r->sock = sv[0];
    if (pid < 0)
        return -1;
    r->holder = pid;
    r->fd = tug_recv_fd(sv[0]);
    child_fail cf;
    if (r->fd >= 0) {
        close(fail);
        return 0;
    }
    bool said = child_said(fail, &cf);
    if (said)
        return tug_error_set(err, 0, "%s", cf.msg);
    return tug_error_set(err, 0, "cp: the helper mounting container %s ended", r->c->name);
}

static int open_root(tug_store *s, const char *what, cp_root *r, tug_error **err)
{
    *r = (cp_root){.fd = -1, .sock = -1};
    if (tug_container_find(s, what, &r->c, err) < 0 || tug_container_refresh(s, r->c, err) < 0)
        return -1;
    return tug_container_alive(r->c) ? live_root(r, err) : stopped_root(s, r, err);
}

/* ---- one side writes a tar, the other reads it ---------------------------------------------- */

typedef int (*cp_end_fn)(void *arg, int fd, tug_error **err);

typedef struct producer {
    cp_end_fn fn;
    void *arg;
    int out;
} producer;

/* A reader gone first (EPIPE) says so with status 3: the reader's own error is the one. */
static void producer_main(void *arg)
{
    const producer *p = arg;
    tug_error *e = NULL;
    if (p->fn(p->arg, p->out, &e) < 0)
        tug_child_die(e && e->errnum == EPIPE        ? 3
                      : e && e->kind == TUG_ERR_USER ? 1
                                                     : 125,
                      0, "%s", e && e->msg ? e->msg : "cp failed");
}

/* produce(parg, w) in a child writing into a pipe, consume(carg, r) here reading from it. The
 * producer's failure is the one told: the consumer's is then only a stream cut short. */
static int pump(cp_end_fn produce, void *parg, cp_end_fn consume, void *carg, tug_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "cp: pipe");
    producer pr = {.fn = produce, .arg = parg, .out = p[1]};
    int fail = -1;
    pid_t pid = fork_child(producer_main, &pr, p[0], &fail, err);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    tug_error *cerr = NULL;
    int r = consume(carg, p[0], &cerr);
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    child_fail cf;
    if (child_said(fail, &cf) && !(cf.code == 3 && r < 0)) {
        tug_error_free(cerr);
        return cf.code == 1 ? tug_error_user(err, "%s", cf.msg)
                            : tug_error_set(err, 0, "%s", cf.msg);
    }
    if (r < 0) {
        *err = cerr;
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return tug_error_set(err, 0, "cp: the tar writer ended with status %d", st);
    return 0;
}

static int to_fd(void *data, const uint8_t *buf, size_t len, tug_error **err)
{
    if (tug_write_all(*(int *)data, buf, len) < 0)
        return tug_error_set(err, errno, "write the tar");
    return 0;
}

typedef struct tar_job {
    int dir;          /* holding the source (or, name NULL, the source itself) */
    const char *name; /* the source's name there */
    const char *as;
} tar_job;

static int produce_tar(void *arg, int out, tug_error **err)
{
    const tar_job *j = arg;
    return tug_path_tar(j->dir, j->name, j->as, to_fd, &out, err);
}

/* Where a tar comes from when it is not made here: stdin, or a request's body. */
typedef struct copy_src {
    tug_cp_read_fn fn;
    void *arg;
} copy_src;

static ssize_t fd_read(void *arg, void *buf, size_t n)
{
    return read(*(int *)arg, buf, n);
}

static int copy_all(const copy_src *src, int out, tug_error **err)
{
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = src->fn(src->arg, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read the tar");
        if (n == 0)
            return 0;
        if (tug_write_all(out, buf, (size_t)n) < 0)
            return tug_error_set(err, errno, "write the tar");
    }
}

static int produce_copy(void *arg, int out, tug_error **err)
{
    return copy_all(arg, out, err);
}

typedef struct untar_job {
    int dir;
    tug_untar_opts o;
} untar_job;

static int consume_untar(void *arg, int in, tug_error **err)
{
    const untar_job *j = arg;
    return tug_archive_unpack_at(in, j->dir, &j->o, err);
}

static int consume_copy(void *arg, int in, tug_error **err)
{
    copy_src src = {.fn = fd_read, .arg = &in};
    return copy_all(&src, *(int *)arg, err) < 0 ? tug_error_wrap(err, "cp") : 0;
}

/* ---- container -> host ---------------------------------------------------------------------- */

/* The source in the container: the directory holding it (*ret_name its name there), or, for
 * its contents, the directory itself (*ret_name NULL). src->base is the name as found there. */
static int open_src(int root, const char *what, const char *path, bool follow, int *ret_dir,
                    char **ret_name, tug_cp_src *src, tug_error **err)
{
    bool asserts;
    cleanup_free char *p = tug_cp_clean(path, &src->contents, &asserts);
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "cp");
    for (int hops = 0;; hops++) {
        if (src->contents) {
            int fd = open_in_root(root, p, O_RDONLY | O_DIRECTORY);
            if (fd < 0)
                break;
            *ret_dir = fd;
            *ret_name = NULL;
            src->is_dir = true;
            return 0;
        }
        const char *base;
        cleanup_free char *dir = split_path(p, &base);
        cleanup_close int fd = dir ? open_in_root(root, dir, O_RDONLY | O_DIRECTORY) : -1;
        struct stat st;
        if (fd < 0 || fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            break;
        if (S_ISLNK(st.st_mode) && (follow || asserts) && hops < MAX_LINKS) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(fd, base, target, sizeof(target) - 1);
            if (n < 0)
                break;
            target[n] = '\0';
            cleanup_free char *next = NULL;
            if (asprintf(&next, "%s/%s", target[0] == '/' ? "" : dir, target) < 0)
                return tug_error_set(err, ENOMEM, "cp");
            bool c2, a2;
            free(p);
            p = tug_cp_clean(next, &c2, &a2);
            if (p == NULL)
                return tug_error_set(err, ENOMEM, "cp");
            continue;
        }
        if (asserts && !S_ISDIR(st.st_mode))
            return tug_error_user(err, "%s in container %s: not a directory", path, what);
        if ((*ret_name = strdup(base)) == NULL)
            return tug_error_set(err, ENOMEM, "cp");
        src->is_dir = S_ISDIR(st.st_mode);
        src->base = *ret_name;
        *ret_dir = fd;
        fd = -1;
        return 0;
    }
    if (errno == ENOTDIR)
        return tug_error_user(err, "%s in container %s: not a directory", path, what);
    if (errno == ENOENT || errno == ELOOP)
        return tug_error_not_found(err, "Could not find the file %s in container %s", path, what);
    return tug_error_set(err, errno, "%s in container %s", path, what);
}

static char *absolute(const char *path)
{
    char cwd[PATH_MAX];
    char *out = NULL;
    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return strdup(path);
    return asprintf(&out, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path) < 0 ? NULL : out;
}

/* tug_cp_decide with docker's words for its verdicts; no_parent's for TUG_CP_NO_PARENT. */
__attribute__((format(printf, 5, 6))) static int decide(const tug_cp_src *src, const tug_cp_dest *d,
                                                        tug_cp_plan *plan, tug_error **err,
                                                        const char *no_parent, ...)
{
    switch (tug_cp_decide(src, d, plan)) {
    case TUG_CP_OK:
        return 0;
    case TUG_CP_COPY_DIR:
        return tug_error_user(err, "cannot copy directory");
    case TUG_CP_NO_DIR:
        return tug_error_user(err, "no such directory");
    case TUG_CP_NO_PARENT:
        break;
    }
    va_list ap;
    va_start(ap, no_parent);
    cleanup_free char *msg = NULL;
    if (vasprintf(&msg, no_parent, ap) < 0)
        msg = NULL;
    va_end(ap);
    return tug_error_user(err, "%s", msg ? msg : "the destination's directory does not exist");
}

/* The destination cleaned (*ret_path), its parent (*ret_parent) and d's names. */
static int dest_paths(const char *dst, tug_cp_dest *d, char **ret_path, char **ret_parent,
                      tug_error **err)
{
    bool contents;
    char *p = tug_cp_clean(dst, &contents, &d->asserts_dir);
    char *parent = p ? split_path(p, &d->base) : NULL;
    if (parent == NULL) {
        free(p);
        return tug_error_set(err, ENOMEM, "cp");
    }
    *ret_path = p;
    *ret_parent = parent;
    return 0;
}

/* The host directory the tar is unpacked in, by docker's rules for src at dst; *ret_as the
 * name the source takes there. */
static int host_target(const char *dst, const tug_cp_src *src, char **ret_as, tug_error **err)
{
    tug_cp_plan pl, *plan = &pl;
    tug_cp_dest d = {0};
    cleanup_free char *p = NULL, *parent = NULL;
    if (dest_paths(dst, &d, &p, &parent, err) < 0)
        return -1;
    struct stat st;
    d.exists = stat(p, &st) == 0;
    d.is_dir = d.exists && S_ISDIR(st.st_mode);
    d.parent_exists = stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
    cleanup_free char *abs = absolute(parent);
    if (decide(src, &d, plan, err, "invalid output path: directory \"%s\" does not exist",
               abs ? abs : dst) < 0)
        return -1;
    if (plan->make_dir && mkdir(p, 0755) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "create %s", p);
    const char *where = plan->into_parent && !plan->make_dir ? parent : p;
    int fd = open(where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", where);
    if ((*ret_as = strdup(plan->as)) == NULL) {
        close(fd);
        return tug_error_set(err, ENOMEM, "cp");
    }
    return fd;
}

/* A source in the container: its root held, and the directory and name open_src found. */
typedef struct cp_source {
    cp_root r;
    int dir;
    char *name;
    tug_cp_src info;
} cp_source;

static void cp_source_clear(cp_source *x)
{
    if (x->dir >= 0)
        close(x->dir);
    free(x->name);
    x->dir = -1;
    x->name = NULL;
    cp_root_clear(&x->r);
}

static int open_source(tug_store *s, const char *what, const char *path, bool follow,
                       cp_source *x, tug_error **err)
{
    *x = (cp_source){.r = {.fd = -1, .sock = -1}, .dir = -1};
    if (open_root(s, what, &x->r, err) < 0)
        return -1;
    return open_src(x->r.fd, what, path, follow, &x->dir, &x->name, &x->info, err);
}

int tug_cp_from_container(tug_store *s, const char *what, const char *src, const char *dst, int out,
                          const tug_cp_opts *o, tug_error **err)
{
    __attribute__((cleanup(cp_source_clear))) cp_source x = {.r = {.fd = -1, .sock = -1},
                                                             .dir = -1};
    if (open_source(s, what, src, o->follow, &x, err) < 0)
        return -1;
    int dir = x.dir;
    const char *name = x.name;
    tug_cp_src info = x.info;
    tar_job tj = {.dir = dir, .name = name, .as = info.contents ? "." : info.base};
    if (dst == NULL)
        return pump(produce_tar, &tj, consume_copy, &out, err);
    /* on the host the top entry takes the name given, a followed link's own (docker's rebase) */
    bool c, a;
    cleanup_free char *given = tug_cp_clean(src, &c, &a);
    if (given == NULL)
        return tug_error_set(err, ENOMEM, "cp");
    const char *gbase = strrchr(given, '/') ? strrchr(given, '/') + 1 : given;
    tug_cp_src hs = {.is_dir = info.is_dir, .contents = info.contents, .base = gbase};
    cleanup_free char *as = NULL;
    untar_job uj = {.o = {.chown = !o->archive, .uid = getuid(), .gid = getgid()}};
    if ((uj.dir = host_target(dst, &hs, &as, err)) < 0)
        return -1;
    tj.as = as;
    int rc = pump(produce_tar, &tj, consume_untar, &uj, err);
    close(uj.dir);
    return rc;
}

/* ---- host -> container ---------------------------------------------------------------------- */

/* strerror as Go spells it, which scripts written for docker match: lower case. */
static const char *go_strerror(int e)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

/* The host source: like open_src, with the host's own path rules (its symlinks followed but for
 * the last, which -L follows too). */
static int open_host_src(const char *path, bool follow, int *ret_dir, char **ret_name,
                         char **ret_base, tug_cp_src *src, tug_error **err)
{
    bool asserts;
    cleanup_free char *p = tug_cp_clean(path, &src->contents, &asserts);
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "cp");
    const char *base;
    cleanup_free char *dir = split_path(p, &base);
    struct stat st;
    if (dir == NULL || (follow || asserts ? stat(p, &st) : lstat(p, &st)) < 0) {
        cleanup_free char *abs = absolute(path);
        return tug_error_user(err, "lstat %s: %s", abs ? abs : path, go_strerror(errno));
    }
    src->is_dir = S_ISDIR(st.st_mode);
    if (asserts && !src->is_dir)
        return tug_error_user(err, "lstat %s: not a directory", path);
    /* -L: the target's own directory and name; the tar still names it as the link */
    cleanup_free char *real = follow && !src->contents ? realpath(p, NULL) : NULL;
    const char *rbase = base;
    cleanup_free char *rdir = real ? split_path(real, &rbase) : NULL;
    if (follow && !src->contents && rdir == NULL)
        return tug_error_user(err, "lstat %s: %s", path, go_strerror(errno ? errno : ENOMEM));
    if ((*ret_base = strdup(src->contents ? "." : base)) == NULL ||
        (!src->contents && (*ret_name = strdup(rbase)) == NULL))
        return tug_error_set(err, ENOMEM, "cp");
    src->base = *ret_base;
    *ret_dir = open(src->contents ? p : rdir ? rdir : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*ret_dir < 0)
        return tug_error_set(err, errno, "open %s", path);
    return 0;
}

/* The directory in the container the tar is unpacked in, by docker's rules for src at dst,
 * *ret_as the name the source takes there; src NULL: dst itself, which must be a directory (a
 * tar from stdin). */
static int ctr_target(int root, const char *what, const char *dst, const tug_cp_src *src,
                      char **ret_as, tug_error **err)
{
    tug_cp_plan pl, *plan = &pl;
    tug_cp_dest d = {0};
    cleanup_free char *p = NULL, *parent = NULL;
    if (dest_paths(dst, &d, &p, &parent, err) < 0)
        return -1;
    cleanup_close int fd = open_in_root(root, p, O_PATH);
    struct stat st;
    d.exists = fd >= 0 && fstat(fd, &st) == 0;
    d.is_dir = d.exists && S_ISDIR(st.st_mode);
    cleanup_close int pfd = d.exists ? -1 : open_in_root(root, parent, O_PATH | O_DIRECTORY);
    d.parent_exists = pfd >= 0;
    if (src == NULL) {
        if (!d.is_dir)
            return tug_error_user(err, "destination \"%s:%s\" must be a directory", what, dst);
        *plan = (tug_cp_plan){0};
    } else if (decide(src, &d, plan, err, "Could not find the file %s in container %s", parent,
                      what) < 0) {
        return -1;
    }
    int dir = open_in_root(root, plan->into_parent ? parent : p, O_RDONLY | O_DIRECTORY);
    if (dir >= 0 && plan->make_dir) {
        int made = mkdirat(dir, d.base, 0755) < 0 && errno != EEXIST
                       ? -1
                       : openat(dir, d.base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = made;
    }
    if (dir < 0)
        return tug_error_set(err, errno, "open %s in container %s", dst, what);
    if (plan->as && (*ret_as = strdup(plan->as)) == NULL) {
        close(dir);
        return tug_error_set(err, ENOMEM, "cp");
    }
    return dir;
}

/* src (a host path), or, src NULL, the tar from tar. */
static int to_container(tug_store *s, const char *what, const char *dst, const char *src,
                        const copy_src *tar, const tug_cp_opts *o, tug_error **err)
{
    cleanup_close int sdir = -1;
    cleanup_free char *sname = NULL, *sbase = NULL;
    tug_cp_src info = {0};
    if (src && open_host_src(src, o->follow, &sdir, &sname, &sbase, &info, err) < 0)
        return -1;
    /* the unpacker is loaded from the host before anything of the container is opened */
    if (tug_lazylib_load(&tug_libarchive, err) < 0)
        return -1;
    __attribute__((cleanup(cp_root_clear))) cp_root r = {.fd = -1, .sock = -1};
    if (open_root(s, what, &r, err) < 0)
        return -1;
    cleanup_free char *as = NULL;
    untar_job uj = {.o = {.chown = !o->archive, .no_dir_swap = o->no_dir_swap}};
    if ((uj.dir = ctr_target(r.fd, what, dst, src ? &info : NULL, &as, err)) < 0)
        return -1;
    struct statvfs vfs;
    if (fstatvfs(uj.dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        close(uj.dir);
        return tug_error_user(err, "%s in container %s is on a read-only mount", dst, what);
    }
    tar_job tj = {.dir = sdir, .name = sname, .as = as};
    int rc = src ? pump(produce_tar, &tj, consume_untar, &uj, err)
                 : pump(produce_copy, (void *)tar, consume_untar, &uj, err);
    close(uj.dir);
    return rc;
}

int tug_cp_to_container(tug_store *s, const char *what, const char *dst, const char *src, int in,
                        const tug_cp_opts *o, tug_error **err)
{
    copy_src tar = {.fn = fd_read, .arg = &in};
    return to_container(s, what, dst, src, &tar, o, err);
}

int tug_cp_tar_to_container(tug_store *s, const char *what, const char *dst, tug_cp_read_fn fn,
                            void *arg, const tug_cp_opts *o, tug_error **err)
{
    copy_src tar = {.fn = fn, .arg = arg};
    return to_container(s, what, dst, NULL, &tar, o, err);
}

int tug_cp_stat(tug_store *s, const char *what, const char *path, tug_cp_stat_info *ret,
                tug_error **err)
{
    __attribute__((cleanup(cp_source_clear))) cp_source x = {.r = {.fd = -1, .sock = -1},
                                                             .dir = -1};
    if (open_source(s, what, path, false, &x, err) < 0)
        return -1;
    int dir = x.dir;
    const char *name = x.name;
    struct stat st;
    if ((name ? fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) : fstat(dir, &st)) < 0)
        return tug_error_set(err, errno, "%s in container %s", path, what);
    *ret = (tug_cp_stat_info){.mode = st.st_mode, .size = st.st_size,
                              .mtime_s = st.st_mtim.tv_sec, .mtime_ns = st.st_mtim.tv_nsec};
    bool c, a;
    cleanup_free char *clean = tug_cp_clean(path, &c, &a);
    const char *slash = clean ? strrchr(clean, '/') : NULL;
    ret->name = strdup(slash && slash[1] ? slash + 1 : "/");
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dir, name, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        ret->link_target = strdup(target);
    }
    if (ret->name == NULL || (S_ISLNK(st.st_mode) && ret->link_target == NULL)) {
        tug_cp_stat_info_clear(ret);
        return tug_error_set(err, ENOMEM, "cp");
    }
    return 0;
}

void tug_cp_stat_info_clear(tug_cp_stat_info *i)
{
    free(i->name);
    free(i->link_target);
    *i = (tug_cp_stat_info){0};
}
