/* diff: the changes of a container's filesystem read from its upper dir as docker reads an
 * overlay2 one (moby's OverlayChanges): a whiteout or an opaque directory is a deletion, an
 * entry no layer below has is an addition, one they have a change (a directory only when its
 * size, mode or mtime differ), and the directory holding an addition or deletion a change. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "commit.h"
#include "stubs.h"

typedef struct differ {
    const tug_ctr_fs *f;
    tug_strbuf path; /* "a/b": the directory the walk is in, relative */
    size_t *lens;    /* path's length before each directory entered */
    bool *noted;     /* per depth: that directory is in the list already */
    size_t depth, cap;
    tug_change *v;
    size_t n, vcap;
} differ;

static void differ_clear(differ *d)
{
    tug_strbuf_free(&d->path);
    free(d->lens);
    free(d->noted);
    tug_changes_free(d->v, d->n);
}

void tug_changes_free(tug_change *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].path);
    free(v);
}

static int note(differ *d, char kind, const char *rel)
{
    if (d->n == d->vcap) {
        size_t cap = d->vcap ? d->vcap * 2 : 32;
        tug_change *v = realloc(d->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        d->v = v;
        d->vcap = cap;
    }
    char *p = NULL;
    if (asprintf(&p, "/%s", rel) < 0)
        return -1;
    d->v[d->n++] = (tug_change){.kind = kind, .path = p};
    return 0;
}

/* moby's sameFsTime: equal, or equal seconds where one side has no nanoseconds. */
static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec &&
           (a->tv_nsec == b->tv_nsec || a->tv_nsec == 0 || b->tv_nsec == 0);
}

static char kind_of(const differ *d, const char *rel, const struct stat *st, int dirfd,
                    bool *ret_skip)
{
    *ret_skip = false;
    if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
        return 'D';
    if (S_ISDIR(st->st_mode) && dirfd >= 0) {
        char v[2];
        if (fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y')
            return 'D';
    }
    struct stat low;
    if (!tug_in_lowers(d->f->lowers, d->f->n_lower, rel, &low))
        return 'A';
    /* a directory copied up only for what changed inside it is no change itself */
    *ret_skip = S_ISDIR(st->st_mode) && S_ISDIR(low.st_mode) && st->st_size == low.st_size &&
                st->st_mode == low.st_mode && same_time(&st->st_mtim, &low.st_mtim);
    return 'C';
}

static int push_dir(differ *d, size_t len, bool noted)
{
    if (d->depth == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        size_t *l = realloc(d->lens, cap * sizeof(*l));
        if (l == NULL)
            return -1;
        d->lens = l;
        bool *n = realloc(d->noted, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        d->noted = n;
        d->cap = cap;
    }
    d->lens[d->depth] = len;
    d->noted[d->depth++] = noted;
    return 0;
}

/* One entry (rel: its path, whose first len bytes are its directory's). */
static int diff_one(differ *d, tug_walk *w, const tug_walk_entry *e, size_t len, tug_error **err)
{
    const char *rel = d->path.s;
    bool dir = e->event == TUG_WALK_ENTER;
    if (tug_stub_listed(d->f->stubs, rel))
        return dir; /* not gone into */
    struct stat st;
    if (!dir && fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : tug_walk_fail(w, e->name, errno, "stat", err);
    bool same = false;
    char kind = kind_of(d, rel, dir ? e->st : &st, dir ? e->fd : -1, &same);
    bool *parent_noted = d->depth ? &d->noted[d->depth - 1] : NULL;
    int r = 0;
    if (!same && kind != 'C' && parent_noted && !*parent_noted) {
        /* the directory holding it, before it */
        char saved = d->path.s[len];
        d->path.s[len] = '\0';
        r = note(d, 'C', rel);
        d->path.s[len] = saved;
        *parent_noted = true;
    }
    if (r == 0 && !same)
        r = note(d, kind, rel);
    if (r == 0 && dir)
        r = push_dir(d, len, !same);
    return r < 0 ? tug_walk_fail(w, e->name, ENOMEM, "diff", err) : 0;
}

static int diff_entry(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    differ *d = data;
    if (e->event == TUG_WALK_LEAVE) {
        d->path.len = d->lens[--d->depth];
        d->path.s[d->path.len] = '\0';
        return 0;
    }
    size_t len = d->path.len;
    if (len)
        tug_strbuf_addc(&d->path, '/');
    tug_strbuf_adds(&d->path, e->name);
    if (d->path.failed)
        return tug_walk_fail(w, e->name, ENOMEM, "diff", err);
    int r = diff_one(d, w, e, len, err);
    /* a directory gone into keeps its name on the path until its LEAVE */
    if (r != 0 || e->event != TUG_WALK_ENTER) {
        d->path.len = len;
        d->path.s[len] = '\0';
    }
    return r;
}

int tug_container_changes(tug_store *s, const char *what, tug_change **ret, size_t *ret_n,
                          tug_error **err)
{
    __attribute__((cleanup(tug_ctr_fs_clear))) tug_ctr_fs f = {0};
    if (tug_ctr_fs_open(s, what, &f, err) < 0)
        return -1;
    cleanup_close int fd = open(f.upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", f.upper);
    __attribute__((cleanup(differ_clear))) differ d = {.f = &f};
    if (tug_walk_tree_sorted(fd, f.upper, diff_entry, &d, err) < 0)
        return tug_error_wrap(err, "diff %s", what);
    *ret = steal_pointer(&d.v);
    *ret_n = d.n;
    d.n = 0;
    return 0;
}
