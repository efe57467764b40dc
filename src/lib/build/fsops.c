/* COPY, ADD and WORKDIR inside a stage's rootfs, as BuildKit's file operations do them: a
 * directory source gives its contents, a file keeps its name under a directory destination,
 * modes and mtimes come along, owners are 0:0 or --chown's, parents are made 0755. */
#include "fsops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../store/unpack.h"
#include "../util/cleanup.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct fs_open_how {
    uint64_t flags, mode, resolve;
};
#define FS_RESOLVE_IN_ROOT 0x10
#define FS_RESOLVE_NO_MAGICLINKS 0x02

/* Open path (absolute in the rootfs) with symlinks resolved as if rootfd were "/". */
static int open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
    struct fs_open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = mode,
                              .resolve = FS_RESOLVE_IN_ROOT | FS_RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}

/* ---- owners ---- */

/* The id of name in an /etc file of the rootfs (passwd: field 3, group: field 3). */
static int lookup_id(int rootfd, const char *file, const char *name, long *ret)
{
    cleanup_close int fd = open_in_root(rootfd, file, O_RDONLY | O_NONBLOCK, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    FILE *f = fdopen(fd, "re");
    if (f == NULL)
        return -1;
    fd = -1;
    char line[1024];
    int r = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, nl) != 0 || line[nl] != ':')
            continue;
        char *p = strchr(line + nl + 1, ':'); /* past the password */
        if (p) {
            *ret = strtol(p + 1, NULL, 10);
            r = 0;
        }
        break;
    }
    fclose(f);
    return r;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int tug_fs_resolve_owner(int rootfd, const char *spec, uid_t *ret_uid, gid_t *ret_gid,
                         tug_error **err)
{
    char user[256], group[256] = "";
    snprintf(user, sizeof(user), "%s", spec);
    char *colon = strchr(user, ':');
    if (colon) {
        *colon = '\0';
        snprintf(group, sizeof(group), "%s", colon + 1);
    }
    long uid = 0, gid = 0;
    if (all_digits(user))
        uid = strtol(user, NULL, 10);
    else if (lookup_id(rootfd, "/etc/passwd", user, &uid) < 0)
        return tug_error_user(err, "unable to convert uid/gid chown string to host mapping: "
                                   "can't find uid for user %s: no such user: %s",
                              user, user);
    if (*group == '\0') {
        /* the user's own group, as docker takes it (a number alone: that number) */
        if (!all_digits(user)) {
            cleanup_close int fd = open_in_root(rootfd, "/etc/passwd", O_RDONLY | O_NONBLOCK, 0);
            FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
            if (f) {
                fd = -1;
                char line[1024];
                size_t nl = strlen(user);
                while (fgets(line, sizeof(line), f))
                    if (strncmp(line, user, nl) == 0 && line[nl] == ':') {
                        char *p = strchr(line + nl + 1, ':');
                        p = p ? strchr(p + 1, ':') : NULL;
                        if (p)
                            gid = strtol(p + 1, NULL, 10);
                        break;
                    }
                fclose(f);
            }
        } else {
            gid = uid;
        }
    } else if (all_digits(group)) {
        gid = strtol(group, NULL, 10);
    } else if (lookup_id(rootfd, "/etc/group", group, &gid) < 0) {
        return tug_error_user(err, "unable to convert uid/gid chown string to host mapping: "
                                   "can't find gid for group %s: no such group: %s",
                              group, group);
    }
    *ret_uid = (uid_t)uid;
    *ret_gid = (gid_t)gid;
    return 0;
}

/* ---- directories ---- */

/* Make every missing directory of path (absolute in the rootfs); returns an O_PATH fd of it. */
static int mkdir_all(int rootfd, const char *path, uid_t uid, gid_t gid, bool *made,
                     tug_error **err)
{
    int fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0)
        return fd;
    if (errno == ENOTDIR)
        return tug_error_user(err, "%s is not a directory", path);
    if (errno != ENOENT)
        return tug_error_set(err, errno, "open %s", path);
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        return tug_error_user(err, "bad path %s", path);
    char nm[NAME_MAX + 1];
    snprintf(nm, sizeof(nm), "%s", slash + 1);
    if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    cleanup_close int pfd = mkdir_all(rootfd, parent, uid, gid, made, err);
    if (pfd < 0)
        return -1;
    cleanup_close int pdir = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pdir < 0)
        return tug_error_set(err, errno, "open %s", parent);
    if (mkdirat(pdir, nm, 0755) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "mkdir %s", path);
    if (fchownat(pdir, nm, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(pdir, nm, 0755, 0) < 0)
        return tug_error_set(err, errno, "mkdir %s", path);
    *made = true;
    fd = openat(pdir, nm, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", path);
    return fd;
}

int tug_fs_mkdir(int rootfd, const char *path, uid_t uid, gid_t gid, bool *ret_made,
                 tug_error **err)
{
    bool made = false;
    int fd = mkdir_all(rootfd, path, uid, gid, &made, err);
    if (fd < 0)
        return -1;
    close(fd);
    if (ret_made)
        *ret_made = made;
    return 0;
}

/* ---- entries ---- */

typedef struct copy_ctx {
    const tug_fs_copy *c;
    uid_t uid;
    gid_t gid;
    bool chown;
    /* directories made or merged, to get their times and modes once their contents are in */
    struct dir_fix {
        int fd;
        struct timespec mtime;
    } *dirs;
    size_t n_dirs;
} copy_ctx;

static mode_t mode_of(const copy_ctx *x, mode_t src)
{
    return x->c->chmod >= 0 ? (mode_t)x->c->chmod : (src & 07777);
}

static int copy_data(int in, int out, const char *what, tug_error **err)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return tug_error_set(err, errno, "copy %s", what);
        break;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read %s", what);
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return tug_error_set(err, errno, "write %s", what);
            off += w;
        }
    }
}

/* Replace whatever is at dir/name (not a directory we merge into). */
static void clear_name(int dir, const char *name, bool for_dir)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        if (!for_dir) {
            /* docker refuses a file over a directory; the caller reports it */
        }
        return;
    }
    unlinkat(dir, name, 0);
}

/* Write one entry named name in dir. st: its metadata; src: its content (regular file) or -1;
 * link: a symlink's target. A directory is made (or merged into) and left for fix_dirs. */
static int write_entry(copy_ctx *x, int dir, const char *name, const struct stat *st, int src,
                       const char *link, const char *what, tug_error **err)
{
    uid_t uid = x->chown ? x->uid : 0;
    gid_t gid = x->chown ? x->gid : 0;
    struct timespec times[2] = {st->st_mtim, st->st_mtim};
    if (S_ISDIR(st->st_mode)) {
        struct stat cur;
        if (fstatat(dir, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(cur.st_mode))
            unlinkat(dir, name, 0);
        if (mkdirat(dir, name, 0700) < 0 && errno != EEXIST)
            return tug_error_set(err, errno, "mkdir %s", what);
        int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return tug_error_set(err, errno, "open %s", what);
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode_of(x, st->st_mode)) < 0) {
            int e = errno;
            close(fd);
            return tug_error_set(err, e, "set the owner of %s", what);
        }
        struct dir_fix *nd = realloc(x->dirs, (x->n_dirs + 1) * sizeof(*nd));
        if (nd == NULL) {
            close(fd);
            return tug_error_set(err, ENOMEM, "copy");
        }
        x->dirs = nd;
        x->dirs[x->n_dirs++] = (struct dir_fix){.fd = fd, .mtime = st->st_mtim};
        return 0;
    }
    {
        struct stat cur;
        if (fstatat(dir, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(cur.st_mode))
            return tug_error_user(err, "cannot copy %s: a directory of that name is in the "
                                       "way",
                                  what);
    }
    clear_name(dir, name, false);
    if (S_ISLNK(st->st_mode)) {
        if (symlinkat(link ? link : "", dir, name) < 0)
            return tug_error_set(err, errno, "symlink %s", what);
    } else if (S_ISREG(st->st_mode)) {
        cleanup_close int out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                                      O_CLOEXEC,
                                       0600);
        if (out < 0)
            return tug_error_set(err, errno, "create %s", what);
        if (src >= 0 && copy_data(src, out, what, err) < 0)
            return -1;
        /* the mode, then the owner, as docker does it: the chown clears setuid and setgid (a
         * 4755 file of the context is 0755 in the layer); --chmod is applied as given */
        if (fchmod(out, st->st_mode & 07777) < 0 || fchown(out, uid, gid) < 0 ||
            (x->c->chmod >= 0 && fchmod(out, (mode_t)x->c->chmod) < 0) || futimens(out, times) < 0)
            return tug_error_set(err, errno, "set the owner of %s", what);
        return 0;
    } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode)) {
        if (mknodat(dir, name, st->st_mode & (S_IFMT | 07777), st->st_rdev) < 0)
            return tug_error_set(err, errno, "create %s", what);
    } else {
        return 0; /* sockets are left out, as docker leaves them */
    }
    if (fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return tug_error_set(err, errno, "set the owner of %s", what);
    if (!S_ISLNK(st->st_mode) && fchmodat(dir, name, mode_of(x, st->st_mode), 0) < 0)
        return tug_error_set(err, errno, "set the mode of %s", what);
    if (utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
        return tug_error_set(err, errno, "set the time of %s", what);
    return 0;
}

/* Directories get their mtimes last (writing into them changed them), deepest first. */
static void fix_dirs(copy_ctx *x)
{
    for (size_t i = x->n_dirs; i-- > 0;) {
        struct timespec t[2] = {x->dirs[i].mtime, x->dirs[i].mtime};
        futimens(x->dirs[i].fd, t);
        close(x->dirs[i].fd);
    }
    free(x->dirs);
    x->dirs = NULL;
    x->n_dirs = 0;
}

/* Split path (absolute in the rootfs) into its parent, made as needed, and its last name. */
static int dest_parent(copy_ctx *x, int rootfd, const char *path, char *name, size_t size,
                       tug_error **err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", path);
    size_t len = strlen(parent);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    char *slash = strrchr(parent, '/');
    snprintf(name, size, "%s", slash ? slash + 1 : parent);
    if (slash == parent)
        parent[1] = '\0';
    else if (slash)
        *slash = '\0';
    bool made = false;
    cleanup_close int p = mkdir_all(rootfd, parent, x->chown ? x->uid : 0,
                                    x->chown ? x->gid : 0, &made, err);
    if (p < 0)
        return -1;
    int d = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return tug_error_set(err, errno, "open %s", parent);
    return d;
}

/* The directory entries go into (made as needed), as a readable fd. */
static int dest_dir(copy_ctx *x, int rootfd, const char *path, tug_error **err)
{
    bool made = false;
    cleanup_close int p = mkdir_all(rootfd, path, x->chown ? x->uid : 0, x->chown ? x->gid : 0,
                                    &made, err);
    if (p < 0)
        return -1;
    int d = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return tug_error_set(err, errno, "open %s", path);
    return d;
}

/* Open the parent directory of rel under base (a dir fd), following nothing. */
static int open_rel_parent(int base, const char *rel, const char **ret_name)
{
    const char *slash = strrchr(rel, '/');
    *ret_name = slash ? slash + 1 : rel;
    if (slash == NULL)
        return fcntl(base, F_DUPFD_CLOEXEC, 3);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
    struct fs_open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                              .resolve = 0x08 /* BENEATH */ | 0x04 /* NO_SYMLINKS */};
    return (int)syscall(SYS_openat2, base, dir, &how, sizeof(how));
}

/* ADD of a local file that is a tar (by its content, whatever its name): unpacked into dest as
 * a directory. 0 when it is no tar, to be copied as it is. */
static int unpack_match(copy_ctx *x, int rootfd, const tug_copy_entry *e, tug_error **err)
{
    cleanup_close int src = tug_context_open_entry(x->c->ctx, e, err);
    if (src < 0)
        return -1;
    int r = tug_archive_probe(src, err);
    if (r <= 0)
        return r;
    cleanup_close int dir = dest_dir(x, rootfd, x->c->dest, err);
    if (dir < 0)
        return -1;
    tug_untar_opts o = {.chown = x->chown, .uid = x->uid, .gid = x->gid};
    if (tug_archive_unpack_at(src, dir, &o, err) < 0)
        return tug_error_wrap(err, "unpack %s", e->path);
    return 1;
}

/* One match of the context: a directory's entries into dest, anything else as dest/name (or
 * dest itself when dest names the file). */
static int copy_match(copy_ctx *x, int rootfd, const tug_copy_match *m, tug_error **err)
{
    const tug_fs_copy *c = x->c;
    if (c->unpack && !m->is_dir && m->n_entries == 1 && S_ISREG(m->entries[0].st.st_mode)) {
        int r = unpack_match(x, rootfd, &m->entries[0], err);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }
    cleanup_close int base = -1;
    char name[NAME_MAX + 1];
    if (m->is_dir) {
        base = dest_dir(x, rootfd, c->dest, err);
    } else if (c->dest_is_dir) {
        base = dest_dir(x, rootfd, c->dest, err);
        snprintf(name, sizeof(name), "%s", m->name);
    } else {
        /* an existing directory takes the file under its own name */
        cleanup_close int d = open_in_root(rootfd, c->dest, O_RDONLY | O_DIRECTORY, 0);
        if (d >= 0) {
            base = steal_fd(&d);
            snprintf(name, sizeof(name), "%s", m->name);
        } else {
            base = dest_parent(x, rootfd, c->dest, name, sizeof(name), err);
        }
    }
    if (base < 0)
        return -1;
    for (size_t i = 0; i < m->n_entries; i++) {
        const tug_copy_entry *e = &m->entries[i];
        if (m->is_dir && i == 0)
            continue; /* the directory itself: its contents go into dest */
        const char *leaf = name;
        cleanup_close int dir = -1;
        if (m->is_dir) {
            dir = open_rel_parent(base, e->rel, &leaf);
        } else {
            dir = fcntl(base, F_DUPFD_CLOEXEC, 3);
        }
        if (dir < 0)
            return tug_error_set(err, errno, "copy %s", e->path);
        cleanup_close int src = -1;
        if (S_ISREG(e->st.st_mode) && (src = tug_context_open_entry(c->ctx, e, err)) < 0)
            return -1;
        if (write_entry(x, dir, leaf, &e->st, src, e->link, e->path, err) < 0)
            return -1;
    }
    return 0;
}

/* A file given inline (heredoc, download). */
static int copy_inline(copy_ctx *x, int rootfd, const tug_fs_inline *f, tug_error **err)
{
    const tug_fs_copy *c = x->c;
    char name[NAME_MAX + 1];
    cleanup_close int base = -1;
    if (c->dest_is_dir) {
        base = dest_dir(x, rootfd, c->dest, err);
        snprintf(name, sizeof(name), "%s", f->name);
    } else {
        cleanup_close int d = open_in_root(rootfd, c->dest, O_RDONLY | O_DIRECTORY, 0);
        if (d >= 0) {
            base = steal_fd(&d);
            snprintf(name, sizeof(name), "%s", f->name);
        } else {
            base = dest_parent(x, rootfd, c->dest, name, sizeof(name), err);
        }
    }
    if (base < 0)
        return -1;
    struct stat st = {.st_mode = S_IFREG | (f->mode & 07777)};
    st.st_mtim.tv_sec = f->mtime;
    int src = f->fd;
    int pipefd[2] = {-1, -1};
    if (f->data) {
        /* small: through a memfd so write_entry copies it like any file */
        src = memfd_create("tug-heredoc", MFD_CLOEXEC);
        size_t len = strlen(f->data);
        if (src < 0 || write(src, f->data, len) != (ssize_t)len || lseek(src, 0, SEEK_SET) < 0) {
            if (src >= 0)
                close(src);
            return tug_error_set(err, errno, "heredoc %s", f->name);
        }
    }
    (void)pipefd;
    int r = write_entry(x, base, name, &st, src, NULL, f->name, err);
    if (f->data)
        close(src);
    return r;
}

/* COPY --from: a path of another rootfs, copied whole (a directory's contents into dest). */
static int copy_tree_at(copy_ctx *x, int from_dir, int to_dir, const char *what, int depth,
                        tug_error **err)
{
    if (depth > 4096)
        return tug_error_user(err, "%s: directories nested too deep", what);
    int fd = openat(from_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", what);
    cleanup_dir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return tug_error_set(err, errno, "open %s", what);
    }
    /* sorted, as BuildKit copies */
    struct dirent **names = NULL;
    int n = scandirat(dirfd(d), ".", &names, NULL, alphasort);
    if (n < 0)
        return tug_error_set(err, errno, "read %s", what);
    int r = 0;
    for (int i = 0; i < n && r == 0; i++) {
        const char *nm = names[i]->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = tug_error_set(err, errno, "stat %s/%s", what, nm);
            break;
        }
        char link[PATH_MAX] = "";
        if (S_ISLNK(st.st_mode)) {
            ssize_t l = readlinkat(dirfd(d), nm, link, sizeof(link) - 1);
            link[l > 0 ? l : 0] = '\0';
        }
        cleanup_close int src = S_ISREG(st.st_mode)
                                    ? openat(dirfd(d), nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                                    : -1;
        r = write_entry(x, to_dir, nm, &st, src, link, nm, err);
        if (r == 0 && S_ISDIR(st.st_mode)) {
            cleanup_close int sub_from = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY |
                                                                  O_NOFOLLOW | O_CLOEXEC);
            cleanup_close int sub_to = openat(to_dir, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                              O_CLOEXEC);
            if (sub_from < 0 || sub_to < 0)
                r = tug_error_set(err, errno, "open %s/%s", what, nm);
            else
                r = copy_tree_at(x, sub_from, sub_to, nm, depth + 1, err);
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

static int copy_from_root(copy_ctx *x, int rootfd, const char *src_path, tug_error **err)
{
    const tug_fs_copy *c = x->c;
    cleanup_close int src = open_in_root(c->from_root, src_path, O_PATH, 0);
    if (src < 0)
        return tug_error_user(err, "failed to compute cache key: failed to calculate checksum "
                                   "of ref: \"%s\": not found",
                              src_path);
    struct stat st;
    if (fstat(src, &st) < 0)
        return tug_error_set(err, errno, "stat %s", src_path);
    if (S_ISDIR(st.st_mode)) {
        cleanup_close int from = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cleanup_close int to = dest_dir(x, rootfd, c->dest, err);
        if (to < 0)
            return -1;
        if (from < 0)
            return tug_error_set(err, errno, "open %s", src_path);
        return copy_tree_at(x, from, to, src_path, 0, err);
    }
    const char *base = strrchr(src_path, '/');
    base = base ? base + 1 : src_path;
    char name[NAME_MAX + 1];
    cleanup_close int dir = -1;
    if (c->dest_is_dir) {
        dir = dest_dir(x, rootfd, c->dest, err);
        snprintf(name, sizeof(name), "%s", base);
    } else {
        cleanup_close int d = open_in_root(rootfd, c->dest, O_RDONLY | O_DIRECTORY, 0);
        if (d >= 0) {
            dir = steal_fd(&d);
            snprintf(name, sizeof(name), "%s", base);
        } else {
            dir = dest_parent(x, rootfd, c->dest, name, sizeof(name), err);
        }
    }
    if (dir < 0)
        return -1;
    char link[PATH_MAX] = "";
    cleanup_close int data = -1;
    if (S_ISLNK(st.st_mode)) {
        ssize_t l = readlinkat(src, "", link, sizeof(link) - 1);
        link[l > 0 ? l : 0] = '\0';
    } else if (S_ISREG(st.st_mode)) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", src);
        data = open(p, O_RDONLY | O_CLOEXEC);
        if (data < 0)
            return tug_error_set(err, errno, "open %s", src_path);
    }
    return write_entry(x, dir, name, &st, data, link, src_path, err);
}

int tug_fs_copy_run(int rootfd, const tug_fs_copy *c, tug_error **err)
{
    copy_ctx x = {.c = c};
    if (c->chown && *c->chown) {
        if (tug_fs_resolve_owner(rootfd, c->chown, &x.uid, &x.gid, err) < 0)
            return -1;
        x.chown = true;
    }
    int r = 0;
    for (size_t i = 0; c->sources && i < c->sources->n_matches && r == 0; i++)
        r = copy_match(&x, rootfd, &c->sources->matches[i], err);
    for (size_t i = 0; i < c->n_inlines && r == 0; i++)
        r = copy_inline(&x, rootfd, &c->inlines[i], err);
    fix_dirs(&x);
    return r;
}

int tug_fs_copy_from(int rootfd, const tug_fs_copy *c, const char *const *paths, size_t n,
                     tug_error **err)
{
    copy_ctx x = {.c = c};
    if (c->chown && *c->chown) {
        if (tug_fs_resolve_owner(rootfd, c->chown, &x.uid, &x.gid, err) < 0)
            return -1;
        x.chown = true;
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = copy_from_root(&x, rootfd, paths[i], err);
    fix_dirs(&x);
    return r;
}
