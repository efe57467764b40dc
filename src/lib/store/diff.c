/* A layer from a directory in overlayfs's format. The tree is walked once (tug_walk_tree_sorted:
 * docker's order, two descriptors at any depth, a third for the file being read) and written
 * as docker writes a container's diff; the stream goes through sha256 (the diff ID) and isa-l's
 * deflate into a blob file, whose own digest is computed as it is written. */
#include "diff.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <isa-l/igzip_lib.h>
#include <linux/magic.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "layer.h"

/* ---- owners' names, as Go's os/user finds them (once per id) ----------------------------- */

struct owner {
    unsigned id;
    char *name; /* NULL: this host has none */
};

struct owners {
    struct owner *v;
    size_t n, cap;
    bool groups;
};

static void owners_clear(struct owners *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].name);
    free(o->v);
}

static char *lookup_owner(unsigned id, bool group)
{
    size_t cap = 4096;
    for (;;) {
        cleanup_free char *buf = malloc(cap);
        if (buf == NULL)
            return NULL;
        int r;
        const char *name = NULL;
        if (group) {
            struct group gr, *res = NULL;
            r = getgrgid_r((gid_t)id, &gr, buf, cap, &res);
            name = res ? res->gr_name : NULL;
        } else {
            struct passwd pw, *res = NULL;
            r = getpwuid_r((uid_t)id, &pw, buf, cap, &res);
            name = res ? res->pw_name : NULL;
        }
        if (r == ERANGE && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        return name ? strdup(name) : NULL;
    }
}

/* The name of id; NULL when there is none (or no memory: a name left out, as Go leaves it). */
static const char *owner_name(struct owners *o, unsigned id)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].id == id)
            return o->v[i].name;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        struct owner *v = realloc(o->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n] = (struct owner){.id = id, .name = lookup_owner(id, o->groups)};
    return o->v[o->n++].name;
}

/* ---- inodes seen under a first name (hard links) ------------------------------------------ */

struct link {
    dev_t dev;
    ino_t ino;
    char *name; /* NULL: a free slot */
};

struct links {
    struct link *v;
    size_t n, cap; /* cap: a power of two, at most half full */
};

static void links_clear(struct links *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->v[i].name);
    free(t->v);
}

static size_t link_slot(const struct links *t, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;
    size_t i = (size_t)(h ^ (h >> 29)) & (t->cap - 1);
    while (t->v[i].name && (t->v[i].dev != dev || t->v[i].ino != ino))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int links_grow(struct links *t)
{
    struct links bigger = {.cap = t->cap ? t->cap * 2 : 64};
    bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
    if (bigger.v == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].name)
            bigger.v[link_slot(&bigger, t->v[i].dev, t->v[i].ino)] = t->v[i];
    bigger.n = t->n;
    free(t->v);
    *t = bigger;
    return 0;
}

/* The name the inode was first written under (*ret_first), or 0 with name remembered as its
 * first; -1 without memory. */
static int link_seen(struct links *t, const struct stat *st, const char *name,
                     const char **ret_first)
{
    if ((t->n + 1) * 2 > t->cap && links_grow(t) < 0)
        return -1;
    size_t i = link_slot(t, st->st_dev, st->st_ino);
    if (t->v[i].name) {
        *ret_first = t->v[i].name;
        return 1;
    }
    if ((t->v[i].name = strdup(name)) == NULL)
        return -1;
    t->v[i].dev = st->st_dev;
    t->v[i].ino = st->st_ino;
    t->n++;
    return 0;
}

/* ---- the walk ------------------------------------------------------------------------------ */

struct tarrer {
    tug_tar_writer *w;
    bool user_xattrs;
    char *const *skip; /* paths left out, with what they hold */
    char *path;        /* "a/b/": the directory the walk is in, as tar names it */
    size_t len, cap;
    char *name; /* the current entry's name */
    size_t name_cap;
    char *target; /* a symlink's */
    size_t target_cap;
    struct links links;
    struct owners users, groups;
    /* the current entry's xattrs: names from flistxattr, values one after another */
    char *xnames;
    size_t xnames_cap;
    uint8_t *xvalues;
    size_t xvalues_len, xvalues_cap;
    tug_tar_xattr *xattrs;
    size_t n_xattrs, xattrs_cap;
    long long size;
    /* tug_path_tar: a merged tree (no whiteouts, mount points gone into), only the entry
     * `only` of the top directory, named `as` in the tar */
    bool merged;
    const char *only, *as;
};

static void tarrer_clear(struct tarrer *t)
{
    free(t->path);
    free(t->name);
    free(t->target);
    links_clear(&t->links);
    owners_clear(&t->users);
    owners_clear(&t->groups);
    free(t->xnames);
    free(t->xvalues);
    free(t->xattrs);
}

static int reserve(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *n = realloc(*(void **)pp, c * elem);
    if (n == NULL)
        return -1;
    *(void **)pp = n;
    *cap = c;
    return 0;
}

/* t->name = the directory's path + parts (NULL-terminated). */
static int set_name(struct tarrer *t, const char *const *parts)
{
    size_t need = t->len + 1;
    for (const char *const *p = parts; *p; p++)
        need += strlen(*p);
    if (reserve(&t->name, &t->name_cap, need, 1) < 0)
        return -1;
    memcpy(t->name, t->path ? t->path : "", t->len);
    size_t o = t->len;
    for (const char *const *p = parts; *p; p++) {
        size_t l = strlen(*p);
        memcpy(t->name + o, *p, l);
        o += l;
    }
    t->name[o] = '\0';
    return 0;
}

/* The name an entry of the walk's current directory has in the tar. */
static const char *shown(const struct tarrer *t, const char *name)
{
    return t->as && t->only && t->len == 0 && strcmp(name, t->only) == 0 ? t->as : name;
}

/* A file system of the kernel's own (proc, sysfs...): a mount point of one in a container's
 * tree is written as an empty directory, as docker sees it outside the container. */
static bool pseudo_fs(int fd)
{
    static const long types[] = {
        PROC_SUPER_MAGIC,    SYSFS_MAGIC,        CGROUP_SUPER_MAGIC,
        CGROUP2_SUPER_MAGIC, DEVPTS_SUPER_MAGIC, 0x19800202 /* mqueue */,
        SECURITYFS_MAGIC,    DEBUGFS_MAGIC,      TRACEFS_MAGIC,
        BPF_FS_MAGIC,        NSFS_MAGIC,         0x73636673 /* configfs */};
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return true;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if ((long)sf.f_type == types[i])
            return true;
    return false;
}

/* A value as docker keeps it: a capability set of revision 3 (root's uid of a user namespace)
 * as revision 2, which means the same outside it. */
static size_t docker_capability(uint8_t *v, size_t len)
{
    if (len >= 4 && v[3] == 3) {
        v[3] = 2;
        return len < 20 ? len : 20;
    }
    return len;
}

static int add_xattr(struct tarrer *t, int fd, const char *key, tug_walk *w, const char *name,
                     tug_error **err)
{
    for (;;) {
        ssize_t n = fgetxattr(fd, key, NULL, 0);
        if (n < 0 && errno == ENODATA)
            return 0; /* gone since it was listed */
        if (n < 0)
            return tug_walk_fail(w, name, errno, "read the xattrs of", err);
        if (reserve(&t->xvalues, &t->xvalues_cap, t->xvalues_len + (size_t)n + 1, 1) < 0 ||
            reserve(&t->xattrs, &t->xattrs_cap, t->n_xattrs + 1, sizeof(*t->xattrs)) < 0)
            return tug_walk_fail(w, name, ENOMEM, "read the xattrs of", err);
        uint8_t *v = t->xvalues + t->xvalues_len;
        ssize_t got = fgetxattr(fd, key, v, (size_t)n);
        if (got < 0 && errno == ERANGE)
            continue; /* it grew */
        if (got < 0)
            return tug_walk_fail(w, name, errno, "read the xattrs of", err);
        size_t len = (size_t)got;
        if (strcmp(key, "security.capability") == 0)
            len = docker_capability(v, len);
        /* values are placed by offset: the buffer may move before the entry is written */
        t->xattrs[t->n_xattrs++] = (tug_tar_xattr){
            .name = key, .value = (const void *)(uintptr_t)t->xvalues_len, .len = len};
        t->xvalues_len += len;
        return 0;
    }
}

/* The xattrs of fd a layer carries, in t->xattrs; *ret_opaque for a directory marked opaque.
 * overlayfs's redirects and metacopy files keep their content in a lower layer, which a tar
 * of the upper dir would lose: refused. */
static int read_xattrs(struct tarrer *t, int fd, tug_walk *w, const char *name, bool *ret_opaque,
                       tug_error **err)
{
    t->n_xattrs = 0;
    t->xvalues_len = 0;
    ssize_t n;
    for (;;) {
        n = flistxattr(fd, NULL, 0);
        if (n < 0 && errno == ENOTSUP)
            return 0;
        if (n <= 0)
            return n < 0 ? tug_walk_fail(w, name, errno, "list the xattrs of", err) : 0;
        if (reserve(&t->xnames, &t->xnames_cap, (size_t)n + 1, 1) < 0)
            return tug_walk_fail(w, name, ENOMEM, "list the xattrs of", err);
        n = flistxattr(fd, t->xnames, t->xnames_cap);
        if (n >= 0)
            break;
        if (errno != ERANGE)
            return tug_walk_fail(w, name, errno, "list the xattrs of", err);
    }
    for (const char *k = t->xnames; k < t->xnames + n; k += strlen(k) + 1) {
        if (strcmp(k, "trusted.overlay.opaque") == 0 && ret_opaque) {
            char v[2];
            *ret_opaque = fgetxattr(fd, k, v, sizeof(v)) == 1 && v[0] == 'y';
        } else if (strcmp(k, "trusted.overlay.redirect") == 0 ||
                   strcmp(k, "trusted.overlay.metacopy") == 0) {
            cleanup_free char *path = tug_walk_path(w, name);
            return tug_error_set(err, EINVAL,
                                 "%s is an overlayfs %s, whose content is in a lower layer: mount "
                                 "the overlay with redirect_dir=off,metacopy=off",
                                 path ? path : name, k + 16);
        } else if (strcmp(k, "security.capability") == 0 ||
                   (t->user_xattrs && strncmp(k, "user.", 5) == 0 &&
                    strncmp(k, "user.overlay.", 13) != 0 && strchr(k, '=') == NULL)) {
            if (add_xattr(t, fd, k, w, name, err) < 0)
                return -1;
        }
    }
    for (size_t i = 0; i < t->n_xattrs; i++)
        t->xattrs[i].value = t->xvalues + (uintptr_t)t->xattrs[i].value;
    return 0;
}

static void set_owner(struct tarrer *t, tug_tar_entry *te, const struct stat *st)
{
    te->uid = st->st_uid;
    te->gid = st->st_gid;
    te->uname = owner_name(&t->users, st->st_uid);
    te->gname = owner_name(&t->groups, st->st_gid);
}

static int tar_dir(struct tarrer *t, tug_walk *w, const tug_walk_entry *e, tug_error **err)
{
    if (e->other_fs && !t->merged) {
        cleanup_free char *path = tug_walk_path(w, e->name);
        return tug_error_set(err, EBUSY,
                             "%s is a mount point: unmount what the step mounted before its "
                             "layer is made",
                             path ? path : e->name);
    }
    bool opaque = false;
    if (read_xattrs(t, e->fd, w, e->name, &opaque, err) < 0)
        return -1;
    const char *name = shown(t, e->name);
    const char *parts[] = {name, "/", NULL};
    if (set_name(t, parts) < 0)
        return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
    const struct stat *st = e->st;
    tug_tar_entry te = {.name = t->name,
                        .type = '5',
                        .mode = TUG_TAR_MODE_DIR | (st->st_mode & 07777),
                        .mtime = st->st_mtim.tv_sec,
                        .xattrs = t->xattrs,
                        .n_xattrs = t->n_xattrs};
    set_owner(t, &te, st);
    if (tug_tar_write_header(t->w, &te, err) < 0)
        return tug_error_wrap(err, "tar %s", t->name);
    if (e->other_fs && pseudo_fs(e->fd))
        return 1;
    if (opaque) {
        /* right after the directory, before what it holds; permissions only, no time */
        const char *opq[] = {name, "/.wh..wh..opq", NULL};
        if (set_name(t, opq) < 0)
            return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
        tug_tar_entry wo = {.name = t->name,
                            .type = '0',
                            .mode = st->st_mode & 0777,
                            .uid = te.uid,
                            .gid = te.gid,
                            .uname = te.uname,
                            .gname = te.gname};
        if (tug_tar_write_header(t->w, &wo, err) < 0)
            return tug_error_wrap(err, "tar %s", t->name);
    }
    size_t l = strlen(name);
    if (reserve(&t->path, &t->cap, t->len + l + 2, 1) < 0)
        return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
    memcpy(t->path + t->len, name, l);
    t->len += l;
    t->path[t->len++] = '/';
    t->path[t->len] = '\0';
    return 0;
}

static int copy_data(struct tarrer *t, int fd, tug_walk *w, const char *name, tug_error **err)
{
    while (tug_tar_data_left(t->w) > 0) {
        size_t room;
        uint8_t *p = tug_tar_data_space(t->w, &room, err);
        if (p == NULL)
            return -1;
        ssize_t n = read(fd, p, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_walk_fail(w, name, errno, "read", err);
        if (n == 0) {
            cleanup_free char *path = tug_walk_path(w, name);
            return tug_error_set(err, EIO, "%s changed while its layer was written",
                                 path ? path : name);
        }
        tug_tar_data_done(t->w, (size_t)n);
    }
    return 0;
}

static int read_target(struct tarrer *t, const tug_walk_entry *e, const struct stat *st,
                       tug_walk *w, tug_error **err)
{
    size_t want = (size_t)st->st_size + 1;
    for (;;) {
        if (reserve(&t->target, &t->target_cap, want + 1, 1) < 0)
            return tug_walk_fail(w, e->name, ENOMEM, "read the symlink", err);
        ssize_t n = readlinkat(e->dirfd, e->name, t->target, t->target_cap);
        if (n < 0)
            return tug_walk_fail(w, e->name, errno, "read the symlink", err);
        if ((size_t)n < t->target_cap) {
            t->target[n] = '\0';
            return 0;
        }
        want = t->target_cap * 2;
    }
}

static int tar_file(struct tarrer *t, tug_walk *w, const tug_walk_entry *e, tug_error **err)
{
    struct stat st;
    if (fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : tug_walk_fail(w, e->name, errno, "stat", err);
    tug_tar_entry te = {.mode = st.st_mode & 07777, .mtime = st.st_mtim.tv_sec};
    cleanup_close int fd = -1;
    bool whiteout = false;
    t->n_xattrs = 0;
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        te.type = '0';
        te.mode |= TUG_TAR_MODE_REG;
        te.size = st.st_size;
        fd = openat(e->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return tug_walk_fail(w, e->name, errno, "open", err);
        struct stat now;
        if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != st.st_ino)
            return tug_walk_fail(w, e->name, EAGAIN, "read (it was replaced)", err);
        if (read_xattrs(t, fd, w, e->name, NULL, err) < 0)
            return -1;
        break;
    case S_IFLNK:
        te.type = '2';
        te.mode |= TUG_TAR_MODE_LNK;
        if (read_target(t, e, &st, w, err) < 0)
            return -1;
        te.linkname = t->target;
        break;
    case S_IFCHR:
    case S_IFBLK:
        te.type = S_ISCHR(st.st_mode) ? '3' : '4';
        te.mode |= S_ISCHR(st.st_mode) ? TUG_TAR_MODE_CHR : TUG_TAR_MODE_BLK;
        te.devmajor = major(st.st_rdev);
        te.devminor = minor(st.st_rdev);
        whiteout = !t->merged && S_ISCHR(st.st_mode) && st.st_rdev == 0;
        break;
    case S_IFIFO:
        te.type = '6';
        te.mode |= TUG_TAR_MODE_FIFO;
        break;
    default: /* sockets: docker's tar writer refuses them, and so the entry is left out */
        return 0;
    }
    const char *parts[] = {shown(t, e->name), NULL};
    if (set_name(t, parts) < 0)
        return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
    if (st.st_nlink > 1) {
        const char *first = NULL;
        int seen = link_seen(&t->links, &st, t->name, &first);
        if (seen < 0)
            return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
        if (seen) {
            /* a whiteout keeps this link name with its type made '0' again (overlayfs makes
             * every whiteout of a mount a link to one inode) */
            te.type = '1';
            te.linkname = first;
            te.size = 0;
        }
    }
    if (whiteout) {
        const char *wh[] = {".wh.", e->name, NULL};
        if (set_name(t, wh) < 0)
            return tug_walk_fail(w, e->name, ENOMEM, "tar", err);
        te.type = '0';
        te.mode = 0600;
        te.size = 0;
    } else if (te.type == '0') {
        t->size += st.st_size;
    } else if (te.type == '2') {
        t->size += (long long)strlen(t->target);
    }
    te.name = t->name;
    te.xattrs = t->xattrs;
    te.n_xattrs = t->n_xattrs;
    set_owner(t, &te, &st);
    if (tug_tar_write_header(t->w, &te, err) < 0)
        return tug_error_wrap(err, "tar %s", t->name);
    if (te.type == '0' && te.size > 0) {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return copy_data(t, fd, w, e->name, err);
    }
    return 0;
}

/* Is the entry name of the current directory one of t->skip? */
static int skipped(struct tarrer *t, const char *name)
{
    if (t->skip == NULL || t->skip[0] == NULL)
        return 0;
    const char *parts[] = {name, NULL};
    if (set_name(t, parts) < 0)
        return -1;
    for (char *const *p = t->skip; *p; p++)
        if (strcmp(*p, t->name) == 0)
            return 1;
    return 0;
}

static int tar_entry(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    struct tarrer *t = data;
    if (t->only && t->len == 0 && e->event != TUG_WALK_LEAVE && strcmp(e->name, t->only) != 0)
        return e->event == TUG_WALK_ENTER;
    int skip = e->event == TUG_WALK_LEAVE ? 0 : skipped(t, e->name);
    if (skip != 0) /* a directory's ENTER: 1 skips what it holds too */
        return skip < 0 ? tug_walk_fail(w, e->name, ENOMEM, "tar", err) : e->event != TUG_WALK_FILE;
    switch (e->event) {
    case TUG_WALK_ENTER:
        return tar_dir(t, w, e, err);
    case TUG_WALK_LEAVE: /* back to the '/' before the directory's name as shown */
        for (t->len--; t->len > 0 && t->path[t->len - 1] != '/';)
            t->len--;
        t->path[t->len] = '\0';
        return 0;
    case TUG_WALK_FILE:
        return tar_file(t, w, e, err);
    }
    return 0;
}

int tug_layer_tar(int dirfd, const char *dir_name, unsigned flags, tug_tar_sink_fn sink, void *data,
                  long long *ret_size, tug_error **err)
{
    return tug_layer_tar_skip(dirfd, dir_name, flags, NULL, sink, data, ret_size, err);
}

int tug_layer_tar_skip(int dirfd, const char *dir_name, unsigned flags, char *const *skip,
                       tug_tar_sink_fn sink, void *data, long long *ret_size, tug_error **err)
{
    __attribute__((cleanup(tarrer_clear))) struct tarrer t = {
        .user_xattrs = flags & TUG_LAYER_USER_XATTRS, .skip = skip, .groups = {.groups = true}};
    t.w = tug_tar_writer_new(sink, data, err);
    if (t.w == NULL)
        return -1;
    int r = tug_walk_tree_sorted(dirfd, dir_name, tar_entry, &t, err);
    if (r == 0)
        r = tug_tar_finish(t.w, err);
    tug_tar_writer_free(t.w);
    if (r == 0 && ret_size)
        *ret_size = t.size;
    return r < 0 ? -1 : 0;
}

int tug_path_tar(int dirfd, const char *name, const char *as, tug_tar_sink_fn sink, void *data,
                 tug_error **err)
{
    __attribute__((cleanup(tarrer_clear))) struct tarrer t = {
        .merged = true, .only = name, .as = as, .groups = {.groups = true}};
    t.w = tug_tar_writer_new(sink, data, err);
    if (t.w == NULL)
        return -1;
    /* name NULL: the directory itself first, which a walk does not report */
    struct stat st;
    tug_walk_entry top = {.event = TUG_WALK_ENTER, .name = as, .fd = dirfd, .st = &st};
    int r = name == NULL && fstat(dirfd, &st) < 0 ? tug_error_set(err, errno, "stat %s", as) : 0;
    if (r == 0 && name == NULL)
        r = tar_dir(&t, NULL, &top, err);
    if (r == 0)
        r = tug_walk_tree_sorted(dirfd, name ? name : as, tar_entry, &t, err);
    if (r == 0)
        r = tug_tar_finish(t.w, err);
    tug_tar_writer_free(t.w);
    return r < 0 ? -1 : 0;
}

/* ---- the layer: the tar through sha256 and gzip into a blob --------------------------------- */

#define DEFAULT_GZIP_LEVEL 1
#define GZIP_OUT (256u << 10)
#define QUEUED_CHUNKS 4 /* between the tar and the compressor's thread */

static const uint32_t gzip_level_buf[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
                                          ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};

/* Deflating costs twice what walking, reading and hashing do: it runs on a thread of its own,
 * on copies of the tar's chunks (the tar writer reuses its buffer). */
struct blob_writer {
    int fd;
    const char *path;
    tug_sha256 *tar_hash, *blob_hash;
    struct isal_zstream zs;
    ZSTD_CCtx *zc; /* zstd instead of gzip */
    uint8_t *level_buf, *out;
    long long tar_bytes, blob_bytes;
    /* the compressor's thread */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    uint8_t *chunk[QUEUED_CHUNKS];
    size_t len[QUEUED_CHUNKS];
    unsigned long queued, deflated;
    bool ending, cancel, failed;
    tug_error *err; /* the thread's failure */
};

/* Write and hash n compressed bytes at b->out. */
static int blob_out(struct blob_writer *b, size_t n, tug_error **err)
{
    if (n == 0)
        return 0;
    tug_sha256_update(b->blob_hash, b->out, n);
    if (tug_write_all(b->fd, b->out, n) < 0)
        return tug_error_set(err, errno, "write %s", b->path);
    b->blob_bytes += (long long)n;
    return 0;
}

/* Compress in with zstd (last: and end the frame). */
static int zstd_into(struct blob_writer *b, const uint8_t *in, size_t len, bool last,
                     tug_error **err)
{
    ZSTD_inBuffer ib = {in, len, 0};
    for (;;) {
        ZSTD_outBuffer ob = {b->out, GZIP_OUT, 0};
        size_t left = ZSTD_compressStream2(b->zc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return tug_error_set(err, EIO, "zstd %s: %s", b->path, ZSTD_getErrorName(left));
        if (blob_out(b, ob.pos, err) < 0)
            return -1;
        if (last ? left == 0 : ib.pos == ib.size)
            return 0;
    }
}

/* Deflate in (last: and end the gzip member), writing and hashing what comes out. */
static int deflate_into(struct blob_writer *b, const uint8_t *in, size_t len, bool last,
                        tug_error **err)
{
    if (b->zc)
        return zstd_into(b, in, len, last, err);
    b->zs.next_in = (uint8_t *)in;
    b->zs.avail_in = (uint32_t)len;
    b->zs.end_of_stream = last;
    for (;;) {
        b->zs.next_out = b->out;
        b->zs.avail_out = GZIP_OUT;
        int r = isal_deflate(&b->zs);
        if (r != COMP_OK)
            return tug_error_set(err, EIO, "gzip %s: isa-l's deflate failed (%d)", b->path, r);
        if (blob_out(b, GZIP_OUT - b->zs.avail_out, err) < 0)
            return -1;
        bool more_out = b->zs.avail_out == 0;
        bool done = last ? b->zs.internal_state.state == ZSTATE_END : b->zs.avail_in == 0;
        if (done && !more_out)
            return 0;
    }
}

static void *compressor_main(void *arg)
{
    struct blob_writer *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->deflated == b->queued && !b->ending)
            pthread_cond_wait(&b->changed, &b->mu);
        if (b->cancel || b->deflated == b->queued)
            break;
        unsigned slot = (unsigned)(b->deflated % QUEUED_CHUNKS);
        pthread_mutex_unlock(&b->mu);
        tug_error *e = NULL;
        int r = deflate_into(b, b->chunk[slot], b->len[slot], false, &e);
        pthread_mutex_lock(&b->mu);
        if (r < 0) {
            b->failed = true;
            b->err = e;
            pthread_cond_broadcast(&b->changed);
            break;
        }
        b->deflated++;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Wait for the thread to finish what it was given (or only to stop, with cancel). */
static void stop_compressor(struct blob_writer *b, bool cancel)
{
    if (!b->threaded)
        return;
    pthread_mutex_lock(&b->mu);
    b->ending = true;
    b->cancel |= cancel;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->threaded = false;
}

static void blob_writer_clear(struct blob_writer *b)
{
    stop_compressor(b, true);
    if (b->chunk[0]) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->changed);
    }
    for (unsigned i = 0; i < QUEUED_CHUNKS; i++)
        free(b->chunk[i]);
    tug_error_free(b->err);
    if (b->fd >= 0)
        close(b->fd);
    tug_sha256_free(b->tar_hash);
    tug_sha256_free(b->blob_hash);
    free(b->level_buf);
    free(b->out);
    ZSTD_freeCCtx(b->zc);
}

static int compressor_failed(struct blob_writer *b, tug_error **err)
{
    tug_error_free(*err);
    *err = steal_pointer(&b->err);
    return -1;
}

static int blob_sink(void *data, const uint8_t *buf, size_t len, tug_error **err)
{
    struct blob_writer *b = data;
    tug_sha256_update(b->tar_hash, buf, len);
    b->tar_bytes += (long long)len;
    if (!b->threaded)
        return deflate_into(b, buf, len, false, err);
    pthread_mutex_lock(&b->mu);
    while (b->queued - b->deflated == QUEUED_CHUNKS && !b->failed)
        pthread_cond_wait(&b->changed, &b->mu);
    bool failed = b->failed;
    unsigned slot = (unsigned)(b->queued % QUEUED_CHUNKS);
    pthread_mutex_unlock(&b->mu);
    if (failed)
        return compressor_failed(b, err);
    memcpy(b->chunk[slot], buf, len); /* a slot the thread is done with */
    b->len[slot] = len;
    pthread_mutex_lock(&b->mu);
    b->queued++;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* The rest of the stream deflated and the gzip member ended. */
static int blob_finish(struct blob_writer *b, tug_error **err)
{
    stop_compressor(b, false);
    if (b->failed)
        return compressor_failed(b, err);
    return deflate_into(b, NULL, 0, true, err);
}

/* level: isa-l's gzip level, or ZSTD_LEVEL for zstd at its default level. */
#define ZSTD_LEVEL (-2)

static int blob_writer_open(struct blob_writer *b, char *path, int level, tug_error **err)
{
    b->path = path;
    b->fd = mkostemp(path, O_CLOEXEC);
    if (b->fd < 0)
        return tug_error_set(err, errno, "create %s", path);
    b->tar_hash = tug_sha256_new(err);
    b->blob_hash = b->tar_hash ? tug_sha256_new(err) : NULL;
    if (b->blob_hash == NULL)
        return -1;
    b->out = malloc(GZIP_OUT);
    if (b->out == NULL)
        return tug_error_set(err, ENOMEM, "compress");
    if (level == ZSTD_LEVEL) {
        b->zc = ZSTD_createCCtx();
        if (b->zc == NULL)
            return tug_error_set(err, ENOMEM, "zstd");
    } else {
        b->level_buf = gzip_level_buf[level] ? malloc(gzip_level_buf[level]) : NULL;
        if (gzip_level_buf[level] && b->level_buf == NULL)
            return tug_error_set(err, ENOMEM, "gzip");
        isal_deflate_init(&b->zs);
        b->zs.level = (uint32_t)level;
        b->zs.level_buf = b->level_buf;
        b->zs.level_buf_size = gzip_level_buf[level];
        b->zs.gzip_flag = IGZIP_GZIP;
    }
    for (unsigned i = 0; i < QUEUED_CHUNKS; i++)
        if ((b->chunk[i] = malloc(TUG_TAR_CHUNK)) == NULL)
            return tug_error_set(err, ENOMEM, "gzip");
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->changed, NULL);
    /* without a thread the same work runs inline */
    b->threaded = pthread_create(&b->thread, NULL, compressor_main, b) == 0;
    if (b->threaded)
        pthread_setname_np(b->thread, "tug-deflate");
    return 0;
}

/* What goes into a gzip blob: a stream handed to blob_sink; *ret_size the unpacked size when
 * the filler knows it. */
typedef int (*blob_fill_fn)(void *arg, struct blob_writer *b, long long *ret_size, tug_error **err);

/* A gzip blob beside the store (ingest/put-*) of what fill writes. */
static int gzip_blob(tug_store *s, int gzip_level, blob_fill_fn fill, void *arg,
                     char **ret_blob_file, tug_new_layer *ret, tug_error **err)
{
    int level = gzip_level >= 0 || gzip_level == ZSTD_LEVEL ? gzip_level : DEFAULT_GZIP_LEVEL;
    if (level > ISAL_DEF_MAX_LEVEL)
        return tug_error_set(err, EINVAL, "gzip level %d: isa-l has levels 0 to %d", level,
                             ISAL_DEF_MAX_LEVEL);
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/ingest/put-%d-XXXXXX", s->root, (int)getpid()) < 0)
        return tug_error_set(err, ENOMEM, "layer");
    __attribute__((cleanup(blob_writer_clear))) struct blob_writer b = {.fd = -1};
    tug_new_layer l = {.media_type = level == ZSTD_LEVEL
                                         ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                         : "application/vnd.docker.image.rootfs.diff.tar.gzip"};
    if (blob_writer_open(&b, path, level, err) < 0 || fill(arg, &b, &l.size, err) < 0 ||
        blob_finish(&b, err) < 0) {
        if (b.fd >= 0)
            unlink(path);
        return -1;
    }
    tug_sha256_final(b.tar_hash, l.diff_id);
    tug_sha256_final(b.blob_hash, l.blob_digest);
    l.blob_size = b.blob_bytes;
    l.tar_size = b.tar_bytes;
    l.empty = l.tar_size == 2 * TUG_TAR_BLOCK;
    *ret = l;
    *ret_blob_file = steal_pointer(&path);
    return 0;
}

struct dir_fill {
    int dfd;
    const char *dir;
    unsigned flags;
    char *const *skip;
};

static int fill_from_dir(void *arg, struct blob_writer *b, long long *ret_size, tug_error **err)
{
    struct dir_fill *d = arg;
    return tug_layer_tar_skip(d->dfd, d->dir, d->flags, d->skip, blob_sink, b, ret_size, err);
}

int tug_layer_blob(tug_store *s, const char *dir, const tug_layer_opts *opts, char **ret_blob_file,
                   tug_new_layer *ret, tug_error **err)
{
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return tug_error_set(err, errno, "open %s", dir);
    struct dir_fill d = {.dfd = dfd,
                         .dir = dir,
                         .flags = opts && opts->user_xattrs ? TUG_LAYER_USER_XATTRS : 0,
                         .skip = opts ? opts->skip : NULL};
    return gzip_blob(s, opts ? opts->gzip_level : -1, fill_from_dir, &d, ret_blob_file, ret, err);
}

static int fill_from_blob(void *arg, struct blob_writer *b, long long *ret_size, tug_error **err)
{
    (void)ret_size;
    return tug_layer_decompress(*(int *)arg, blob_sink, b, err);
}

int tug_layer_regzip(tug_store *s, int blob_fd, int gzip_level, char **ret_blob_file,
                     tug_new_layer *ret, tug_error **err)
{
    return gzip_blob(s, gzip_level, fill_from_blob, &blob_fd, ret_blob_file, ret, err);
}

int tug_layer_rezstd(tug_store *s, int blob_fd, char **ret_blob_file, tug_new_layer *ret,
                     tug_error **err)
{
    return gzip_blob(s, ZSTD_LEVEL, fill_from_blob, &blob_fd, ret_blob_file, ret, err);
}

int tug_layer_from_dir(tug_store *s, const char *tmp, const tug_layer_opts *opts,
                       tug_new_layer *ret, tug_error **err)
{
    cleanup_close int lock = tug_store_lock_shared(s, err);
    cleanup_free char *dir = NULL, *blob = NULL;
    tug_new_layer l;
    if (lock < 0) {
        tug_store_drop_tmp(tmp);
        return -1;
    }
    if (asprintf(&dir, "%s/diff", tmp) < 0)
        dir = NULL;
    if (dir == NULL || tug_layer_blob(s, dir, opts, &blob, &l, err) < 0) {
        if (dir == NULL)
            tug_error_set(err, ENOMEM, "layer");
        tug_store_drop_tmp(tmp);
        return tug_error_wrap(err, "make a layer of %s", tmp);
    }
    if (l.empty && !(opts && opts->keep_empty)) {
        unlink(blob);
        tug_store_drop_tmp(tmp);
        *ret = l;
        return 0;
    }
    /* one sync for the layer's files and its blob, before rows point at them (as unpack);
     * none when both are stored already and this copy only goes */
    tug_chain_id(opts ? opts->parent_chain : NULL, l.diff_id, l.chain_id);
    bool surplus = tug_store_has_layer(s, l.chain_id) && tug_store_has_blob(s, l.blob_digest);
    cleanup_close int dfd = surplus ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!surplus && (dfd < 0 || syncfs(dfd) < 0)) {
        int e = errno;
        unlink(blob);
        tug_store_drop_tmp(tmp);
        return tug_error_set(err, e, "sync %s", dir);
    }
    tug_layer_add add = {.tmp = tmp,
                         .parent_chain = opts ? opts->parent_chain : NULL,
                         .diff_id = l.diff_id,
                         .size = l.size,
                         .blob_file = blob,
                         .blob_digest = l.blob_digest};
    if (tug_store_add_layer(s, &add, l.chain_id, err) < 0)
        return tug_error_wrap(err, "store the layer of %s", tmp);
    l.stored = true;
    *ret = l;
    return 0;
}
