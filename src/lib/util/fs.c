#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int close_range_slow(unsigned first, unsigned last, bool cloexec)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        unsigned long fd = strtoul(de->d_name, &end, 10);
        if (*end != '\0' || de->d_name[0] == '.' || fd < first || fd > last || (int)fd == self)
            continue;
        if (cloexec)
            fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        else
            close((int)fd);
    }
    closedir(d);
    return 0;
}

static int close_between(unsigned first, unsigned last, bool cloexec)
{
    if (first > last)
        return 0;
    if (syscall(SYS_close_range, first, last, cloexec ? CLOSE_RANGE_CLOEXEC : 0U) == 0)
        return 0;
    if (errno != ENOSYS && errno != EINVAL)
        return -1;
    return close_range_slow(first, last, cloexec);
}

int tug_close_fds_from(int first, bool cloexec)
{
    return close_between((unsigned)first, UINT_MAX, cloexec);
}

int tug_close_fds_except(const int *keep, size_t n_keep)
{
    unsigned from = 3;
    for (;;) {
        /* the lowest kept fd at or above from */
        unsigned next = UINT_MAX;
        bool found = false;
        for (size_t i = 0; i < n_keep; i++)
            if (keep[i] >= 0 && (unsigned)keep[i] >= from && (unsigned)keep[i] <= next) {
                next = (unsigned)keep[i];
                found = true;
            }
        if (!found)
            return close_between(from, UINT_MAX, false);
        if (next > from && close_between(from, next - 1, false) < 0)
            return -1;
        if (next == UINT_MAX)
            return 0;
        from = next + 1;
    }
}

int tug_mkdir_p(const char *path, mode_t mode, tug_error **err)
{
    cleanup_free char *p = strdup(path);
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "mkdir %s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return tug_error_set(err, errno, "mkdir %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "mkdir %s", p);
    return 0;
}

static int write_atomic(const char *path, const char *tmpl, const void *data, size_t len,
                        mode_t mode, bool sync, tug_error **err)
{
    cleanup_free char *tmp = tmpl ? strdup(tmpl) : NULL;
    if (tmp == NULL && asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
        tmp = NULL;
    if (tmp == NULL)
        return tug_error_set(err, ENOMEM, "write %s", path);
    cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "create %s", tmp);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            unlink(tmp);
            return tug_error_set(err, e, "write %s", path);
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0)) {
        int e = errno;
        unlink(tmp);
        return tug_error_set(err, e, "write %s", path);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return tug_error_set(err, e, "rename %s", path);
    }
    return 0;
}

int tug_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          tug_error **err)
{
    return write_atomic(path, NULL, data, len, mode, true, err);
}

int tug_write_file_atomic_via(const char *tmpl, const char *path, const void *data, size_t len,
                              mode_t mode, tug_error **err)
{
    return write_atomic(path, tmpl, data, len, mode, true, err);
}

int tug_write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                 tug_error **err)
{
    return write_atomic(path, NULL, data, len, mode, false, err);
}

int tug_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tug_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int tug_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = 0;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tug_read_file(const char *path, char **ret_data, size_t *ret_len, tug_error **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", path);
    size_t cap = 4096, len = 0;
    cleanup_free char *buf = malloc(cap);
    if (buf == NULL)
        return tug_error_set(err, ENOMEM, "read %s", path);
    for (;;) {
        if (len + 1 >= cap) {
            if (__builtin_mul_overflow(cap, 2, &cap))
                return tug_error_set(err, EFBIG, "read %s", path);
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                return tug_error_set(err, ENOMEM, "read %s", path);
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return tug_error_set(err, errno, "read %s", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret_data = steal_pointer(&buf);
    return 0;
}

/* ---- walking a tree with a bounded number of descriptors ----
 *
 * A walk holds two descriptors at the most, however deep the tree: the directory it is in and,
 * for a moment, the one it moves to. Going down opens the child by name (O_NOFOLLOW) and
 * closes the parent; coming back up opens ".." and checks that it is the directory the walk
 * came from (device and inode kept for every level), so a tree changed under the walk stops it
 * with an error instead of sending it elsewhere. What is left to visit in each directory on the
 * way down is kept in memory as names, which costs a few bytes per directory, not a descriptor
 * per level: a tree 5000 deep needs nothing a `ulimit -n 64` does not allow. */

struct walk_name {
    char *name;
    unsigned char type; /* DT_* */
};

struct walk_level {
    struct walk_name *ents; /* subdirectories not visited yet (sorted: every entry) */
    size_t n, next, cap;
    dev_t dev;
    ino_t ino;
    char *name; /* this directory's name in its parent; NULL for the root */
};

struct tug_walk {
    const char *root_name;
    bool sorted;
    struct walk_level *lv;
    size_t depth, cap; /* lv[0 .. depth] are in use */
    char *buf;         /* getdents64 */
};

#define WALK_BUF_SIZE (32 * 1024)
/* Past this length a path in a message keeps its start and its end. */
#define WALK_PATH_SHOWN 1024

char *tug_walk_path(const tug_walk *w, const char *name)
{
    if (w == NULL) /* an entry outside any walk: its own name */
        return name ? strdup(name) : NULL;
    size_t len = strlen(w->root_name) + (name ? strlen(name) + 1 : 0) + 1;
    for (size_t i = 1; i <= w->depth; i++)
        len += strlen(w->lv[i].name) + 1;
    char *p = malloc(len);
    if (p == NULL)
        return NULL;
    size_t o = (size_t)snprintf(p, len, "%s", w->root_name);
    for (size_t i = 1; i <= w->depth; i++)
        o += (size_t)snprintf(p + o, len - o, "/%s", w->lv[i].name);
    if (name)
        snprintf(p + o, len - o, "/%s", name);
    size_t total = strlen(p);
    if (total > WALK_PATH_SHOWN) {
        /* ROOT/first/names/.../last/names: whole names at each end, a quarter of the length
         * at the start (the root at least), half at the end */
        size_t root = strlen(w->root_name), head = WALK_PATH_SHOWN / 4;
        if (head < root)
            head = root;
        while (head > root && p[head] != '/')
            head--;
        const char *tail = p + total - WALK_PATH_SHOWN / 2;
        while (*tail && *tail != '/')
            tail++;
        if (tail > p + head + 4) {
            memcpy(p + head, "/...", 4);
            memmove(p + head + 4, tail, strlen(tail) + 1);
        }
    }
    return p;
}

static void level_clear(struct walk_level *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ents[i].name);
    free(l->ents);
    free(l->name);
    memset(l, 0, sizeof(*l));
}

int tug_walk_fail(const tug_walk *w, const char *name, int errnum, const char *verb,
                  tug_error **err)
{
    cleanup_free char *path = tug_walk_path(w, name);
    return tug_error_set(err, errnum, "%s %s", verb, path ? path : w ? w->root_name : "");
}

static int level_add(struct walk_level *l, const char *name, unsigned char type)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct walk_name *v = realloc(l->ents, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->ents = v;
        l->cap = cap;
    }
    if ((l->ents[l->n].name = strdup(name)) == NULL)
        return -1;
    l->ents[l->n++].type = type;
    return 0;
}

static int walk_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct walk_name *)a)->name, ((const struct walk_name *)b)->name);
}

/* Read the directory at fd (the walk's top level): files go to fn now, subdirectories are kept
 * for later; a sorted walk keeps every entry, in order, for walk_down. */
static int walk_read(tug_walk *w, int fd, tug_walk_fn fn, void *data, tug_error **err)
{
    struct walk_level *l = &w->lv[w->depth];
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_walk_fail(w, NULL, errno, "read", err);
    for (;;) {
        ssize_t n = getdents64(fd, w->buf, WALK_BUF_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_walk_fail(w, NULL, errno, "read", err);
        if (n == 0) {
            if (w->sorted && l->n > 1)
                qsort(l->ents, l->n, sizeof(*l->ents), walk_name_cmp);
            return 0;
        }
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *de = (struct dirent64 *)(w->buf + off);
            off += de->d_reclen;
            const char *name = de->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                continue;
            unsigned char type = de->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                    if (errno == ENOENT)
                        continue;
                    return tug_walk_fail(w, name, errno, "stat", err);
                }
                type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
            }
            if (type == DT_DIR || w->sorted) {
                if (level_add(l, name, type) < 0)
                    return tug_walk_fail(w, name, ENOMEM, "walk", err);
                continue;
            }
            tug_walk_entry e = {
                .event = TUG_WALK_FILE, .dirfd = fd, .name = name, .fd = -1, .d_type = type};
            if (fn(w, &e, data, err) < 0)
                return -1;
        }
    }
}

/* Enter the next subdirectory of the top level (a sorted walk gives fn the files before it);
 * 1 when there is none left. */
static int walk_down(tug_walk *w, int *cur, tug_walk_fn fn, void *data, tug_error **err)
{
    struct walk_level *l = &w->lv[w->depth];
    while (l->next < l->n) {
        const struct walk_name *wn = &l->ents[l->next++];
        char *name = wn->name;
        if (wn->type != DT_DIR) {
            tug_walk_entry e = {
                .event = TUG_WALK_FILE, .dirfd = *cur, .name = name, .fd = -1, .d_type = wn->type};
            if (fn(w, &e, data, err) < 0)
                return -1;
            continue;
        }
        int child = openat(*cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0 && errno == ENOENT)
            continue; /* gone since it was read */
        if (child < 0 && (errno == ENOTDIR || errno == ELOOP)) {
            /* no longer a directory: an entry like the others */
            tug_walk_entry e = {.event = TUG_WALK_FILE, .dirfd = *cur, .name = name, .fd = -1};
            if (fn(w, &e, data, err) < 0)
                return -1;
            continue;
        }
        if (child < 0)
            return tug_walk_fail(w, name, errno, "open", err);
        struct stat st;
        if (fstat(child, &st) < 0) {
            int e = errno;
            close(child);
            return tug_walk_fail(w, name, e, "stat", err);
        }
        tug_walk_entry e = {.event = TUG_WALK_ENTER,
                            .dirfd = *cur,
                            .name = name,
                            .fd = child,
                            .st = &st,
                            .d_type = DT_DIR,
                            .other_fs = st.st_dev != l->dev};
        int r = fn(w, &e, data, err);
        if (r != 0) {
            close(child);
            if (r < 0)
                return -1;
            continue;
        }
        if (w->depth + 1 == w->cap) {
            size_t cap = w->cap * 2;
            struct walk_level *v = realloc(w->lv, cap * sizeof(*v));
            if (v == NULL) {
                close(child);
                return tug_walk_fail(w, name, ENOMEM, "walk", err);
            }
            w->lv = v;
            w->cap = cap;
        }
        struct walk_level *next = &w->lv[w->depth + 1];
        memset(next, 0, sizeof(*next));
        next->dev = st.st_dev;
        next->ino = st.st_ino;
        next->name = strdup(name);
        if (next->name == NULL) {
            close(child);
            return tug_walk_fail(w, NULL, ENOMEM, "walk", err);
        }
        w->depth++;
        close(*cur);
        *cur = child;
        return 0;
    }
    return 1;
}

/* Leave the top level for its parent, by "..", checked against what the walk came through. */
static int walk_up(tug_walk *w, int *cur, tug_walk_fn fn, void *data, tug_error **err)
{
    struct walk_level *l = &w->lv[w->depth], *up = &w->lv[w->depth - 1];
    int parent = openat(*cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0)
        return tug_walk_fail(w, NULL, errno, "open the parent of", err);
    struct stat pst, st;
    if (fstat(parent, &pst) < 0 || fstat(*cur, &st) < 0) {
        int e = errno;
        close(parent);
        return tug_walk_fail(w, NULL, e, "stat", err);
    }
    if (pst.st_dev != up->dev || pst.st_ino != up->ino) {
        close(parent);
        cleanup_free char *path = tug_walk_path(w, NULL);
        return tug_error_set(err, 0, "%s was moved while tug walked the tree; try again",
                             path ? path : w->root_name);
    }
    tug_walk_entry e = {.event = TUG_WALK_LEAVE,
                        .dirfd = parent,
                        .name = l->name,
                        .fd = *cur,
                        .st = &st,
                        .d_type = DT_DIR};
    /* the message of a failure names this directory: the level stays until fn returns */
    w->depth--;
    int r = fn(w, &e, data, err);
    w->depth++;
    level_clear(l);
    w->depth--;
    close(*cur);
    *cur = parent;
    return r < 0 ? -1 : 0;
}

static int walk_tree(int rootfd, const char *root_name, bool sorted, tug_walk_fn fn, void *data,
                     tug_error **err)
{
    tug_walk w = {.root_name = root_name ? root_name : ".", .sorted = sorted, .cap = 16};
    w.lv = calloc(w.cap, sizeof(*w.lv));
    w.buf = malloc(WALK_BUF_SIZE);
    int cur = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = -1;
    struct stat st;
    if (w.lv == NULL || w.buf == NULL) {
        tug_error_set(err, ENOMEM, "walk %s", w.root_name);
        goto out;
    }
    if (cur < 0 || fstat(cur, &st) < 0) {
        tug_error_set(err, errno, "open %s", w.root_name);
        goto out;
    }
    w.lv[0].dev = st.st_dev;
    w.lv[0].ino = st.st_ino;
    if (walk_read(&w, cur, fn, data, err) < 0)
        goto out;
    for (;;) {
        int down = walk_down(&w, &cur, fn, data, err);
        if (down < 0)
            goto out;
        if (down == 0) {
            if (walk_read(&w, cur, fn, data, err) < 0)
                goto out;
            continue;
        }
        if (w.depth == 0)
            break;
        if (walk_up(&w, &cur, fn, data, err) < 0)
            goto out;
    }
    r = 0;
out:
    for (size_t i = 0; w.lv && i <= w.depth; i++)
        level_clear(&w.lv[i]);
    free(w.lv);
    free(w.buf);
    if (cur >= 0)
        close(cur);
    return r;
}

int tug_walk_tree(int rootfd, const char *root_name, tug_walk_fn fn, void *data, tug_error **err)
{
    return walk_tree(rootfd, root_name, false, fn, data, err);
}

int tug_walk_tree_sorted(int rootfd, const char *root_name, tug_walk_fn fn, void *data,
                         tug_error **err)
{
    return walk_tree(rootfd, root_name, true, fn, data, err);
}

static int rm_entry(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    switch (e->event) {
    case TUG_WALK_ENTER:
        if (e->other_fs)
            return tug_walk_fail(w, e->name, EBUSY, "remove", err);
        return 0;
    case TUG_WALK_FILE:
        if (unlinkat(e->dirfd, e->name, 0) == 0 || errno == ENOENT)
            return 0;
        break;
    case TUG_WALK_LEAVE:
        if (unlinkat(e->dirfd, e->name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        break;
    }
    return tug_walk_fail(w, e->name, errno, "remove", err);
}

int tug_rm_rf_at(int dirfd, const char *name, tug_error **err)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return tug_error_set(err, errno, "remove %s", name);
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return tug_error_set(err, errno, "open %s", name);
    }
    if (tug_walk_tree(fd, name, rm_entry, NULL, err) < 0)
        return -1;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return tug_error_set(err, errno, "remove %s", name);
    return 0;
}

int tug_rm_rf(const char *path, tug_error **err)
{
    return tug_rm_rf_at(AT_FDCWD, path, err);
}

static int size_entry(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    long long *total = data;
    if (e->event == TUG_WALK_ENTER)
        return e->other_fs ? 1 : 0; /* what is mounted there is not this tree's */
    if (e->event != TUG_WALK_FILE)
        return 0;
    struct stat st;
    if (fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : tug_walk_fail(w, e->name, errno, "stat", err);
    if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
        *total += st.st_size;
    return 0;
}

int tug_dir_size(const char *path, long long *ret_size, tug_error **err)
{
    long long total = 0;
    cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = fd < 0 ? tug_error_set(err, errno, "open %s", path)
                   : tug_walk_tree(fd, path, size_entry, &total, err);
    *ret_size = total;
    return r < 0 ? -1 : 0;
}

char *tug_self_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return strdup("/usr/local/bin");
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    return strdup(buf);
}
