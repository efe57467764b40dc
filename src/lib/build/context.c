/* The build context: opening it, resolving COPY sources in it, checksumming them. */
#include "context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../store/db.h"
#include "../store/unpack.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define MAX_SYMLINKS 40

struct tug_build_context {
    char *dir;        /* what is read; NULL for a lone Dockerfile */
    char *tmp;        /* a private unpack directory to remove, or NULL */
    int root_fd;      /* dir, O_PATH */
    char *dockerfile; /* its bytes */
    size_t dockerfile_len;
    char *dockerfile_name;
    tug_ignore *ignore;
    char *ignore_name;
    tug_store *store;
};

/* ---- Opening inside the context, following nothing ---------------------------------------- */

static int have_openat2 = -1;

/* path is relative and clean ("" for the root). */
static int open_beneath(int root_fd, const char *path, int flags)
{
    if (path[0] == '\0')
        path = ".";
    flags |= O_CLOEXEC | O_NOFOLLOW;
    if (have_openat2 != 0) {
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve =
                                   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && !(errno == EPERM && have_openat2 < 0))) {
            have_openat2 = 1;
            return fd;
        }
        have_openat2 = 0;
    }
    /* one component at a time, each opened without following it */
    int dfd = dup(root_fd);
    const char *p = path;
    while (dfd >= 0) {
        const char *slash = strchr(p, '/');
        if (slash == NULL) {
            int fd = openat(dfd, p, flags);
            int saved = errno;
            close(dfd);
            errno = saved;
            return fd;
        }
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        if (n > NAME_MAX) {
            close(dfd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int next = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(dfd);
        errno = saved;
        dfd = next;
        p = slash + 1;
    }
    return -1;
}

int tug_context_open_path(tug_build_context *c, const char *path, bool o_path, tug_error **err)
{
    if (c->dir == NULL)
        return tug_error_user(err, "%s: the build has no context (a Dockerfile from stdin)", path);
    int fd = open_beneath(c->root_fd, path, o_path ? O_PATH : O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s in the build context", path);
    return fd;
}

int tug_context_open_entry(tug_build_context *c, const tug_copy_entry *e, tug_error **err)
{
    cleanup_close int fd = tug_context_open_path(c, e->path, false, err);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return tug_error_set(err, errno, "stat %s in the build context", e->path);
    if (st.st_ino != e->st.st_ino || st.st_dev != e->st.st_dev ||
        (st.st_mode & S_IFMT) != (e->st.st_mode & S_IFMT))
        return tug_error_user(err, "%s changed in the build context while the build read it",
                              e->path);
    return steal_fd(&fd);
}

/* ---- Paths: joining, and docker's way of cleaning a source --------------------------------- */

static char *join(const char *a, const char *b)
{
    char *out = NULL;
    if (a[0] == '\0')
        return strdup(b);
    if (b[0] == '\0')
        return strdup(a);
    return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

/* "/" + src cleaned, without its leading "/": ".." cannot climb above the context root. */
static char *clean_source(const char *src)
{
    cleanup_free char *abs = NULL;
    if (asprintf(&abs, "/%s", src) < 0)
        return NULL;
    char *cleaned = tug_path_clean(abs);
    if (cleaned == NULL)
        return NULL;
    memmove(cleaned, cleaned + 1, strlen(cleaned)); /* drop the "/" */
    return cleaned;
}

static int not_found(tug_error **err, const char *cleaned, const char *given)
{
    char shown[PATH_MAX + 2];
    snprintf(shown, sizeof(shown), "/%s", cleaned);
    if (given == NULL || strcmp(given, shown) == 0 || strcmp(given, cleaned) == 0)
        return tug_error_user(err,
                              "failed to compute cache key: failed to calculate checksum of ref "
                              "context: \"%s\": not found",
                              shown);
    return tug_error_user(err,
                          "failed to compute cache key: failed to calculate checksum of ref "
                          "context: \"%s\": not found (source \"%s\")",
                          shown, given);
}

/* ---- Symlink resolution in the context, as BuildKit's in-root resolution --------------------

 * Components are walked with lstat; a symlink is expanded in place (an absolute target starts
 * again from the root, ".." stops at the root); the real path is what comes out. Every real
 * component must be in the context as the .dockerignore leaves it. */
struct resolved {
    char *path; /* real, relative, clean */
    struct stat st;
};

/* Whether the context (after .dockerignore) holds path (a real path) as the kind st says: an
 * excluded directory only if something under it is, which the walk of a match decides. */
static bool visible(const tug_build_context *c, const char *path, const struct stat *st)
{
    tug_ignore_verdict v = tug_ignore_check_path(c->ignore, path, S_ISDIR(st->st_mode));
    return v == TUG_IGNORE_INCLUDED || (v == TUG_IGNORE_EXCLUDED && S_ISDIR(st->st_mode));
}

static int resolve(tug_build_context *c, const char *path, bool follow_last, struct resolved *ret)
{
    cleanup_free char *real = strdup("");
    cleanup_free char *rest = strdup(path);
    if (real == NULL || rest == NULL)
        return -ENOMEM;
    int links = 0;
    struct stat st;
    if (fstatat(c->root_fd, "", &st, AT_EMPTY_PATH) < 0)
        return -errno;
    while (rest[0] != '\0') {
        char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        cleanup_free char *comp = strndup(rest, n);
        cleanup_free char *remain = strdup(slash ? slash + 1 : "");
        if (comp == NULL || remain == NULL)
            return -ENOMEM;
        free(rest);
        rest = steal_pointer(&remain);
        if (comp[0] == '\0' || strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) { /* only from a symlink's target: sources are clean */
            char *up = strrchr(real, '/');
            if (up)
                *up = '\0';
            else
                real[0] = '\0';
            st.st_mode = S_IFDIR; /* the parent of where we were */
            continue;
        }
        if (!S_ISDIR(st.st_mode))
            return -ENOENT;
        cleanup_free char *next = join(real, comp);
        if (next == NULL)
            return -ENOMEM;
        cleanup_close int dfd = open_beneath(c->root_fd, real, O_PATH | O_DIRECTORY);
        if (dfd < 0 || fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno;
        bool last = rest[0] == '\0';
        if (!visible(c, next, &st))
            return -ENOENT;
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++links > MAX_SYMLINKS)
                return -ELOOP;
            char target[PATH_MAX];
            ssize_t tl = readlinkat(dfd, comp, target, sizeof(target) - 1);
            if (tl < 0)
                return -errno;
            target[tl] = '\0';
            cleanup_free char *joined = NULL;
            if (asprintf(&joined, "%s/%s", target, rest) < 0)
                return -ENOMEM;
            free(rest);
            rest = steal_pointer(&joined);
            if (target[0] == '/')
                real[0] = '\0';
            /* the directory we are in again: stat it for the next component */
            cleanup_close int rfd = open_beneath(c->root_fd, real, O_PATH | O_DIRECTORY);
            if (rfd < 0 || fstat(rfd, &st) < 0)
                return -errno;
            continue;
        }
        free(real);
        real = steal_pointer(&next);
    }
    ret->path = steal_pointer(&real);
    ret->st = st;
    return 0;
}

/* ---- Walking a match ------------------------------------------------------------------------ */

struct filter {
    const tug_ignore *ig;  /* context-relative paths */
    const tug_ignore *inc; /* --parents: relative to the match; an entry must match */
    const tug_ignore *exc; /* --exclude: relative to the match; an entry must not match */
};

/* The states of the three matchers for one directory. */
struct states {
    unsigned char *ig, *inc, *exc;
};

static void states_free(struct states *s)
{
    free(s->ig);
    free(s->inc);
    free(s->exc);
}

/* Room for each matcher's state; none for a matcher that is not there (or has no pattern). */
static int states_alloc(const struct filter *f, struct states *s)
{
    const tug_ignore *m[] = {f->ig, f->inc, f->exc};
    unsigned char **out[] = {&s->ig, &s->inc, &s->exc};
    for (size_t i = 0; i < 3; i++) {
        size_t sz = tug_ignore_state_size(m[i]);
        if (sz > 0 && (*out[i] = calloc(1, sz)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

/* The .dockerignore state of a directory (real path), checked down from the root. */
static int ignore_state_of(const tug_ignore *ig, const char *path, unsigned char *ret_state)
{
    size_t sz = tug_ignore_state_size(ig);
    if (sz == 0 || path[0] == '\0')
        return 0;
    cleanup_free unsigned char *prev = calloc(1, sz);
    cleanup_free char *buf = strdup(path);
    if (prev == NULL || buf == NULL)
        return -ENOMEM;
    bool first = true;
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        tug_ignore_check(ig, buf, true, first ? NULL : prev, ret_state);
        memcpy(prev, ret_state, sz);
        first = false;
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

static int add_entry(tug_copy_match *m, const char *path, const char *rel, const struct stat *st,
                     const char *link)
{
    size_t n = m->n_entries;
    if ((n & (n - 1)) == 0) { /* 0, 1, 2, 4...: grow to twice as many */
        tug_copy_entry *v = realloc(m->entries, (n ? n * 2 : 1) * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        m->entries = v;
    }
    tug_copy_entry *e = &m->entries[n];
    *e = (tug_copy_entry){.st = *st};
    e->path = strdup(path);
    e->rel = strdup(rel);
    e->link = link ? strdup(link) : NULL;
    if (e->path == NULL || e->rel == NULL || (link && e->link == NULL)) {
        free(e->path);
        free(e->rel);
        free(e->link);
        return -ENOMEM;
    }
    m->n_entries++;
    return 0;
}

static void truncate_entries(tug_copy_match *m, size_t n)
{
    while (m->n_entries > n) {
        tug_copy_entry *e = &m->entries[--m->n_entries];
        free(e->path);
        free(e->rel);
        free(e->link);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The names in a directory depth levels below where a walk started, sorted bytewise. */
static int read_names(int dfd, unsigned depth, char ***ret, size_t *ret_n)
{
    if (depth > 4096)
        return -ELOOP;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    cleanup_dir DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return -e;
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (nv == NULL) {
                r = -ENOMEM;
                break;
            }
            v = nv;
        }
        if ((v[n] = strdup(de->d_name)) == NULL) {
            r = -ENOMEM;
            break;
        }
        v[++n] = NULL;
    }
    if (r == 0 && errno != 0)
        r = -errno;
    if (r < 0) {
        free_names(v, n);
        return r;
    }
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_names);
    *ret = v;
    *ret_n = n;
    return 0;
}

struct walk {
    tug_build_context *c;
    const struct filter *f;
    tug_copy_match *m;
    /* the directories on the walk's path that are kept only if something below them is */
    size_t *waiting;
    size_t n_waiting, cap_waiting;
};

static int wait_for_child(struct walk *w, size_t idx)
{
    if (w->n_waiting == w->cap_waiting) {
        size_t cap = w->cap_waiting ? w->cap_waiting * 2 : 16;
        size_t *v = realloc(w->waiting, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        w->waiting = v;
        w->cap_waiting = cap;
    }
    w->waiting[w->n_waiting++] = idx;
    return 0;
}

static int walk_dir(struct walk *w, int dfd, const char *path, const char *rel,
                    const struct states *parent, unsigned depth);

/* One entry of a directory being walked. */
static int walk_entry(struct walk *w, int dfd, const char *name, const char *dpath,
                      const char *drel, const struct states *parent, unsigned depth)
{
    const struct filter *f = w->f;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    bool is_dir = S_ISDIR(st.st_mode);
    cleanup_free char *path = join(dpath, name);
    cleanup_free char *rel = join(drel, name);
    if (path == NULL || rel == NULL)
        return -ENOMEM;
    struct states mine = {0};
    int r = states_alloc(f, &mine);
    if (r < 0) {
        states_free(&mine);
        return r;
    }
    tug_ignore_verdict vi = tug_ignore_check(f->ig, path, is_dir, parent->ig, mine.ig);
    tug_ignore_verdict vn = tug_ignore_check(f->inc, rel, is_dir, parent->inc, mine.inc);
    tug_ignore_verdict vx = tug_ignore_check(f->exc, rel, is_dir, parent->exc, mine.exc);
    bool in = vi == TUG_IGNORE_INCLUDED && (f->inc == NULL || vn != TUG_IGNORE_INCLUDED) &&
              vx == TUG_IGNORE_INCLUDED;
    bool skip = vi == TUG_IGNORE_PRUNED || (!is_dir && !in) ||
                (vx != TUG_IGNORE_INCLUDED && f->inc == NULL && !tug_ignore_has_exceptions(f->exc));
    if (skip) {
        states_free(&mine);
        return 0;
    }
    char target[PATH_MAX];
    const char *link = NULL;
    if (S_ISLNK(st.st_mode)) {
        ssize_t tl = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (tl < 0) {
            states_free(&mine);
            return -errno;
        }
        target[tl] = '\0';
        link = target;
    }
    size_t idx = w->m->n_entries;
    r = add_entry(w->m, path, rel, &st, link);
    if (r == 0 && in)
        w->n_waiting = 0; /* every directory above it is in */
    else if (r == 0)
        r = wait_for_child(w, idx);
    if (r == 0 && is_dir) {
        int cfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = cfd < 0 ? -errno : walk_dir(w, cfd, path, rel, &mine, depth + 1);
        if (cfd >= 0)
            close(cfd);
        /* a directory nothing under which is in goes away again */
        if (r == 0 && w->n_waiting > 0 && w->waiting[w->n_waiting - 1] == idx) {
            w->n_waiting--;
            truncate_entries(w->m, idx);
        }
    }
    states_free(&mine);
    return r;
}

static int walk_dir(struct walk *w, int dfd, const char *path, const char *rel,
                    const struct states *parent, unsigned depth)
{
    char **names = NULL;
    size_t n = 0;
    int r = read_names(dfd, depth, &names, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++)
        r = walk_entry(w, dfd, names[i], path, rel, parent, depth);
    free_names(names, n);
    return r;
}

/* Fill a match's entries: the match itself, then (a directory) what the filters keep of it.
 * The match's own --parents and --exclude paths are "": it is never left out. */
static int walk_match(tug_build_context *c, const struct filter *f, tug_copy_match *m,
                      const struct stat *st)
{
    int r = add_entry(m, m->path, "", st, NULL);
    if (r < 0 || !S_ISDIR(st->st_mode))
        return r;
    struct walk w = {.c = c, .f = f, .m = m};
    cleanup_free unsigned char *ig = NULL;
    struct states top = {0};
    if (m->path[0] != '\0') {
        ig = calloc(1, tug_ignore_state_size(f->ig) + 1);
        if (ig == NULL || ignore_state_of(f->ig, m->path, ig) < 0)
            return -ENOMEM;
        top.ig = ig;
    }
    int dfd = open_beneath(c->root_fd, m->path, O_PATH | O_DIRECTORY);
    r = dfd < 0 ? -errno : walk_dir(&w, dfd, m->path, "", &top, 0);
    if (dfd >= 0)
        close(dfd);
    free(w.waiting);
    return r;
}

/* ---- Resolving sources ---------------------------------------------------------------------- */

/* What resolve() answers for a path the context does not hold. */
static bool absent(int r)
{
    return r == -ENOENT || r == -ENOTDIR || r == -ELOOP;
}

static tug_copy_match *new_match(tug_copy_sources *s, size_t source, const char *path,
                                 const char *name)
{
    tug_copy_match *v = realloc(s->matches, (s->n_matches + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    s->matches = v;
    tug_copy_match *m = &v[s->n_matches];
    *m = (tug_copy_match){.source = source};
    m->path = strdup(path);
    m->name = strdup(name);
    if (m->path == NULL || m->name == NULL) {
        free(m->path);
        free(m->name);
        return NULL;
    }
    s->n_matches++;
    return m;
}

static void match_clear(tug_copy_match *m)
{
    truncate_entries(m, 0);
    free(m->entries);
    free(m->path);
    free(m->name);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Add path (context-relative, as written or matched) as a match, following it if it is a
 * symlink. Returns 0, 1 when the context does not hold it, < 0 on failure. */
static int add_path_match(tug_build_context *c, const struct filter *f, tug_copy_sources *s,
                          size_t source, const char *path, tug_error **err)
{
    struct resolved rv = {0};
    int r = resolve(c, path, true, &rv);
    if (absent(r))
        return 1;
    if (r < 0)
        return tug_error_set(err, -r, "resolve %s in the build context", path);
    cleanup_free char *real = rv.path;
    tug_copy_match *m = new_match(s, source, real, path[0] ? base_name(path) : "");
    if (m == NULL)
        return tug_error_set(err, ENOMEM, "resolve %s", path);
    m->is_dir = S_ISDIR(rv.st.st_mode);
    r = walk_match(c, f, m, &rv.st);
    if (r < 0)
        return tug_error_set(err, -r, "read %s in the build context", real);
    /* an excluded directory with nothing in the context under it is not there at all */
    if (m->n_entries == 1 && m->is_dir && real[0] != '\0' &&
        tug_ignore_check_path(c->ignore, real, true) != TUG_IGNORE_INCLUDED) {
        match_clear(m);
        s->n_matches--;
        return 1;
    }
    return 0;
}

/* The part of a cleaned source before its first component with a wildcard, and the rest. */
static void split_wildcards(const char *path, char **ret_base, char **ret_pattern)
{
    const char *p = path, *cut = path;
    while (*p) {
        const char *end = strchrnul(p, '/');
        cleanup_free char *comp = strndup(p, (size_t)(end - p));
        if (comp && tug_glob_has_wildcards(comp))
            break;
        cut = end;
        p = *end ? end + 1 : end;
    }
    *ret_base = strndup(path, (size_t)(cut - path));
    *ret_pattern = strdup(*cut == '/' ? cut + 1 : cut);
}

struct glob_walk {
    tug_build_context *c;
    const char *pattern;
    char **found; /* context paths that match, in walk order */
    size_t n, cap;
};

static int glob_dir(struct glob_walk *g, int dfd, const char *path, const char *rel,
                    const unsigned char *pstate, unsigned depth)
{
    char **names = NULL;
    size_t n = 0;
    int r = read_names(dfd, depth, &names, &n);
    if (r < 0)
        return r;
    size_t sz = tug_ignore_state_size(g->c->ignore);
    unsigned char *mine = calloc(1, sz + 1);
    if (mine == NULL)
        r = -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool is_dir = S_ISDIR(st.st_mode);
        cleanup_free char *cpath = join(path, names[i]);
        cleanup_free char *crel = join(rel, names[i]);
        if (cpath == NULL || crel == NULL) {
            r = -ENOMEM;
            break;
        }
        tug_ignore_verdict v = tug_ignore_check(g->c->ignore, cpath, is_dir, pstate, mine);
        if (v == TUG_IGNORE_PRUNED || (!is_dir && v != TUG_IGNORE_INCLUDED))
            continue;
        if (tug_glob_match_path(g->pattern, crel) == 1) {
            if (g->n == g->cap) {
                g->cap = g->cap ? g->cap * 2 : 8;
                char **nv = realloc(g->found, g->cap * sizeof(*nv));
                if (nv == NULL) {
                    r = -ENOMEM;
                    break;
                }
                g->found = nv;
            }
            g->found[g->n++] = steal_pointer(&cpath);
            continue; /* a matched directory is taken whole */
        }
        if (is_dir) {
            int cfd = openat(dfd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                continue;
            r = glob_dir(g, cfd, cpath, crel, mine, depth + 1);
            close(cfd);
        }
    }
    free(mine);
    free_names(names, n);
    return r;
}

/* A source with wildcards: the directory before them (symlinks followed), walked for what the
 * rest matches. Returns 0, 1 when that directory is not in the context, < 0 on failure. */
static int add_wildcard_matches(tug_build_context *c, const struct filter *f, tug_copy_sources *s,
                                size_t source, const char *cleaned, tug_error **err)
{
    cleanup_free char *base = NULL, *pattern = NULL;
    split_wildcards(cleaned, &base, &pattern);
    if (base == NULL || pattern == NULL)
        return tug_error_set(err, ENOMEM, "resolve %s", cleaned);
    struct resolved rv = {0};
    int r = resolve(c, base, true, &rv);
    if (absent(r))
        return 1;
    if (r < 0)
        return tug_error_set(err, -r, "resolve %s in the build context", base);
    cleanup_free char *real = rv.path;
    if (!S_ISDIR(rv.st.st_mode))
        return 0;
    struct glob_walk g = {.c = c, .pattern = pattern};
    size_t sz = tug_ignore_state_size(c->ignore);
    cleanup_free unsigned char *state = calloc(1, sz + 1);
    if (state == NULL || ignore_state_of(c->ignore, real, state) < 0)
        return tug_error_set(err, ENOMEM, "resolve %s", cleaned);
    int dfd = open_beneath(c->root_fd, real, O_PATH | O_DIRECTORY);
    r = dfd < 0 ? -errno : glob_dir(&g, dfd, real, "", real[0] ? state : NULL, 0);
    if (dfd >= 0)
        close(dfd);
    for (size_t i = 0; i < g.n && r == 0; i++) {
        int k = add_path_match(c, f, s, source, g.found[i], err);
        if (k < 0)
            r = -1;
        else if (k > 0) /* a dangling symlink: BuildKit fails to copy it */
            r = not_found(err, g.found[i], NULL);
    }
    for (size_t i = 0; i < g.n; i++)
        free(g.found[i]);
    free(g.found);
    if (r < 0 && err && *err == NULL)
        return tug_error_set(err, -r, "read %s in the build context", real);
    return r < 0 ? -1 : 0;
}

/* --parents: "pivot/./pattern" or "pattern" under the root. */
static int add_parents_source(tug_build_context *c, const struct filter *base, tug_copy_sources *s,
                              size_t source, const char *given, tug_error **err)
{
    const char *cut = strstr(given, "/./");
    cleanup_free char *pivot = cut ? strndup(given, (size_t)(cut - given)) : strdup("/");
    cleanup_free char *pattern = clean_source(cut ? cut + 3 : given);
    cleanup_free char *pivot_clean = pivot ? clean_source(pivot) : NULL;
    if (pattern == NULL || pivot_clean == NULL)
        return tug_error_set(err, ENOMEM, "resolve %s", given);
    const char *pats[] = {pattern};
    cleanup_ignore tug_ignore *inc = NULL;
    if (tug_ignore_new(pats, 1, "COPY --parents", &inc, err) < 0)
        return -1;
    struct filter f = *base;
    f.inc = inc;
    size_t first = s->n_matches;
    int r = tug_glob_has_wildcards(pivot_clean)
                ? add_wildcard_matches(c, &f, s, source, pivot_clean, err)
                : add_path_match(c, &f, s, source, pivot_clean, err);
    if (r < 0)
        return -1;
    if (r > 0)
        return not_found(err, pivot_clean, NULL);
    if (tug_glob_has_wildcards(pivot_clean) || tug_glob_has_wildcards(pattern))
        return 0;
    /* a plain path must be there: some entry at or under pivot/pattern */
    cleanup_free char *required = join(pivot_clean, pattern);
    if (required == NULL)
        return tug_error_set(err, ENOMEM, "resolve %s", given);
    size_t rl = strlen(required);
    for (size_t i = first; i < s->n_matches; i++) {
        const tug_copy_match *m = &s->matches[i];
        for (size_t k = 1; k < m->n_entries; k++) {
            cleanup_free char *shown = join(pivot_clean, m->entries[k].rel);
            if (shown && strncmp(shown, required, rl) == 0)
                return 0;
        }
    }
    return not_found(err, required, NULL);
}

void tug_copy_sources_free(tug_copy_sources *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_matches; i++)
        match_clear(&s->matches[i]);
    free(s->matches);
    free(s->wildcard);
    free(s);
}

void tug_copy_sources_freep(tug_copy_sources **s)
{
    tug_copy_sources_free(*s);
}

int tug_context_resolve(tug_build_context *c, const char *const *sources, size_t n_sources,
                        const tug_copy_opts *opts, tug_copy_sources **ret_sources, tug_error **err)
{
    static const tug_copy_opts none = {0};
    if (opts == NULL)
        opts = &none;
    cleanup_copy_sources tug_copy_sources *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->wildcard = calloc(n_sources + 1, sizeof(bool))) == NULL)
        return tug_error_set(err, ENOMEM, "resolve sources");
    s->n_sources = n_sources;
    cleanup_ignore tug_ignore *exc = NULL;
    if (opts->n_excludes > 0 &&
        tug_ignore_new(opts->excludes, opts->n_excludes, "--exclude", &exc, err) < 0)
        return -1;
    struct filter f = {.ig = c->ignore, .exc = exc};
    for (size_t i = 0; i < n_sources; i++) {
        cleanup_free char *cleaned = clean_source(sources[i]);
        if (cleaned == NULL)
            return tug_error_set(err, ENOMEM, "resolve sources");
        s->wildcard[i] = tug_glob_has_wildcards(cleaned);
        if (c->dir == NULL) {
            if (s->wildcard[i])
                continue;
            return not_found(err, cleaned, sources[i]);
        }
        int r;
        if (opts->parents) {
            if (add_parents_source(c, &f, s, i, sources[i], err) < 0)
                return -1;
            continue;
        }
        r = s->wildcard[i] ? add_wildcard_matches(c, &f, s, i, cleaned, err)
                           : add_path_match(c, &f, s, i, cleaned, err);
        if (r < 0)
            return -1;
        if (r > 0)
            return not_found(err, cleaned, sources[i]);
    }
    *ret_sources = steal_pointer(&s);
    return 0;
}

/* ---- Checksums and the file hash cache ------------------------------------------------------ */

/* File hashes by (device, inode, size, mtime, ctime) in the store's database: one lookup per
 * file, new hashes written in one transaction at the end. */
struct hash_cache {
    tug_store *store;
    sqlite3_stmt *get, *get_match;
    struct cached {
        struct stat st;
        char digest[TUG_DIGEST_LEN + 1];
    } * todo;
    size_t n, cap;
    /* whole matches by the fingerprint of their entries' metadata (match_fingerprint) */
    struct cached_match {
        char fingerprint[TUG_DIGEST_LEN + 1];
        char digest[TUG_DIGEST_LEN + 1];
    } * todo_matches;
    size_t n_matches, cap_matches;
    long long now_ns;
};

static long long ns_of(struct timespec ts)
{
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool cache_get(struct hash_cache *hc, const struct stat *st, char out[TUG_DIGEST_LEN + 1])
{
    if (hc->get == NULL)
        return false;
    sqlite3_reset(hc->get);
    sqlite3_bind_int64(hc->get, 1, (sqlite3_int64)st->st_dev);
    sqlite3_bind_int64(hc->get, 2, (sqlite3_int64)st->st_ino);
    sqlite3_bind_int64(hc->get, 3, (sqlite3_int64)st->st_size);
    sqlite3_bind_int64(hc->get, 4, ns_of(st->st_mtim));
    sqlite3_bind_int64(hc->get, 5, ns_of(st->st_ctim));
    if (sqlite3_step(hc->get) != SQLITE_ROW)
        return false;
    const unsigned char *d = sqlite3_column_text(hc->get, 0);
    if (d == NULL || !tug_digest_valid((const char *)d))
        return false;
    memcpy(out, d, TUG_DIGEST_LEN + 1);
    return true;
}

static void cache_put(struct hash_cache *hc, const struct stat *st, const char *digest)
{
    /* a file changed within the last second may change again in the same clock tick without
     * its times moving: not remembered (git's "racily clean" entries) */
    long long newest =
        ns_of(st->st_mtim) > ns_of(st->st_ctim) ? ns_of(st->st_mtim) : ns_of(st->st_ctim);
    if (hc->store == NULL || newest > hc->now_ns - 1000000000LL)
        return;
    if (hc->n == hc->cap) {
        size_t cap = hc->cap ? hc->cap * 2 : 64;
        struct cached *v = realloc(hc->todo, cap * sizeof(*v));
        if (v == NULL)
            return;
        hc->todo = v;
        hc->cap = cap;
    }
    hc->todo[hc->n].st = *st;
    memcpy(hc->todo[hc->n++].digest, digest, TUG_DIGEST_LEN + 1);
}

/* The fingerprint of a match: every entry's metadata including what tells a file unchanged
 * (device, inode, size, mtime, ctime). Equal fingerprints, equal checksums, so a match found by
 * it needs no file read and no per-file lookup. False when an entry changed within the last
 * second (see cache_put): such a fingerprint is not kept. */
static bool match_fingerprint(const tug_copy_match *m, bool xattrs, long long now_ns, tug_sha256 *h,
                              char out[TUG_DIGEST_LEN + 1])
{
    bool settled = true;
    char meta[256];
    int n = snprintf(meta, sizeof(meta), "fingerprint 1 %d %d", xattrs, m->is_dir);
    tug_sha256_update(h, meta, (size_t)n + 1);
    tug_sha256_update(h, m->name, strlen(m->name) + 1);
    for (size_t i = 0; i < m->n_entries; i++) {
        const tug_copy_entry *e = &m->entries[i];
        const struct stat *st = &e->st;
        /* binary: a fingerprint is only compared with ones made on this machine */
        int64_t v[] = {st->st_mode,          st->st_uid,         st->st_gid,
                       (int64_t)st->st_rdev, st->st_size,        (int64_t)st->st_dev,
                       (int64_t)st->st_ino,  ns_of(st->st_mtim), ns_of(st->st_ctim)};
        tug_sha256_update(h, e->rel, strlen(e->rel) + 1);
        tug_sha256_update(h, v, sizeof(v));
        tug_sha256_update(h, e->link ? e->link : "", e->link ? strlen(e->link) + 1 : 1);
        long long newest =
            ns_of(st->st_mtim) > ns_of(st->st_ctim) ? ns_of(st->st_mtim) : ns_of(st->st_ctim);
        if (newest > now_ns - 1000000000LL)
            settled = false;
    }
    tug_sha256_final(h, out);
    return settled;
}

static bool match_cache_get(struct hash_cache *hc, const char *fingerprint,
                            char out[TUG_DIGEST_LEN + 1])
{
    if (hc->get_match == NULL)
        return false;
    sqlite3_reset(hc->get_match);
    BIND_TEXT(hc->get_match, 1, fingerprint);
    if (sqlite3_step(hc->get_match) != SQLITE_ROW)
        return false;
    const unsigned char *d = sqlite3_column_text(hc->get_match, 0);
    if (d == NULL || !tug_digest_valid((const char *)d))
        return false;
    memcpy(out, d, TUG_DIGEST_LEN + 1);
    return true;
}

static void match_cache_put(struct hash_cache *hc, const char *fingerprint, const char *digest)
{
    if (hc->n_matches == hc->cap_matches) {
        size_t cap = hc->cap_matches ? hc->cap_matches * 2 : 8;
        struct cached_match *v = realloc(hc->todo_matches, cap * sizeof(*v));
        if (v == NULL)
            return;
        hc->todo_matches = v;
        hc->cap_matches = cap;
    }
    struct cached_match *cm = &hc->todo_matches[hc->n_matches++];
    memcpy(cm->fingerprint, fingerprint, TUG_DIGEST_LEN + 1);
    memcpy(cm->digest, digest, TUG_DIGEST_LEN + 1);
}

/* Write what was hashed; the cache only saves work, so a busy or read-only database loses the
 * new hashes and nothing else. */
static void cache_flush(struct hash_cache *hc)
{
    if (hc->store == NULL || (hc->n == 0 && hc->n_matches == 0))
        return;
    tug_error *err = NULL;
    if (tug_store_begin(hc->store, &err) < 0) {
        tug_error_free(err);
        return;
    }
    sqlite3_stmt *put = tug_db_prepare(hc->store,
                                       "INSERT OR REPLACE INTO build_file_hashes "
                                       "(dev, ino, size, mtime_ns, ctime_ns, digest, created) "
                                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                       &err);
    bool ok = put != NULL;
    for (size_t i = 0; ok && i < hc->n; i++) {
        const struct stat *st = &hc->todo[i].st;
        sqlite3_reset(put);
        sqlite3_bind_int64(put, 1, (sqlite3_int64)st->st_dev);
        sqlite3_bind_int64(put, 2, (sqlite3_int64)st->st_ino);
        sqlite3_bind_int64(put, 3, (sqlite3_int64)st->st_size);
        sqlite3_bind_int64(put, 4, ns_of(st->st_mtim));
        sqlite3_bind_int64(put, 5, ns_of(st->st_ctim));
        BIND_TEXT(put, 6, hc->todo[i].digest);
        sqlite3_bind_int64(put, 7, hc->now_ns / 1000000000LL);
        ok = sqlite3_step(put) == SQLITE_DONE;
    }
    sqlite3_finalize(put);
    put = ok ? tug_db_prepare(hc->store,
                              "INSERT OR REPLACE INTO build_match_sums (fingerprint, digest, "
                              "created) VALUES (?1, ?2, ?3)",
                              &err)
             : NULL;
    ok = put != NULL;
    for (size_t i = 0; ok && i < hc->n_matches; i++) {
        sqlite3_reset(put);
        BIND_TEXT(put, 1, hc->todo_matches[i].fingerprint);
        BIND_TEXT(put, 2, hc->todo_matches[i].digest);
        sqlite3_bind_int64(put, 3, hc->now_ns / 1000000000LL);
        ok = sqlite3_step(put) == SQLITE_DONE;
    }
    sqlite3_finalize(put);
    if (!ok || tug_store_commit(hc->store, &err) < 0)
        tug_store_rollback(hc->store);
    tug_error_free(err);
}

static int hash_file(tug_build_context *c, struct hash_cache *hc, tug_copy_entry *e, tug_sha256 *h,
                     tug_error **err)
{
    if (cache_get(hc, &e->st, e->digest))
        return 0;
    cleanup_close int fd = tug_context_open_entry(c, e, err);
    if (fd < 0)
        return -1;
    static __thread char buf[128 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read %s in the build context", e->path);
        if (n == 0)
            break;
        tug_sha256_update(h, buf, (size_t)n);
    }
    tug_sha256_final(h, e->digest);
    /* the times as they are now: a write while it was read leaves them newer than e->st's */
    struct stat now;
    if (fstat(fd, &now) == 0 && ns_of(now.st_mtim) == ns_of(e->st.st_mtim) &&
        ns_of(now.st_ctim) == ns_of(e->st.st_ctim) && now.st_size == e->st.st_size)
        cache_put(hc, &e->st, e->digest);
    return 0;
}

/* The extended attributes of an entry, sorted by name, into the hash (symlinks have none that
 * docker copies). */
static void hash_xattrs(tug_build_context *c, const tug_copy_entry *e, tug_sha256 *h)
{
    if (S_ISLNK(e->st.st_mode))
        return;
    /* O_PATH: opening a device node or a FIFO for real could do something */
    cleanup_close int fd = open_beneath(c->root_fd, e->path, O_PATH);
    char names[4096], value[4096], proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = fd < 0 ? -1 : listxattr(proc, names, sizeof(names));
    if (n <= 0)
        return;
    const char *v[256];
    size_t k = 0;
    for (const char *p = names; p < names + n && k < 256; p += strlen(p) + 1)
        v[k++] = p;
    qsort(v, k, sizeof(*v), cmp_names);
    for (size_t i = 0; i < k; i++) {
        ssize_t vl = getxattr(proc, v[i], value, sizeof(value));
        if (vl < 0)
            continue;
        tug_sha256_update(h, "x", 1);
        tug_sha256_update(h, v[i], strlen(v[i]) + 1);
        tug_sha256_update(h, value, (size_t)vl);
    }
}

/* One entry's record in its match's hash: what docker's copy keeps of it, not its times. */
static int hash_entry(tug_build_context *c, struct hash_cache *hc, tug_copy_entry *e,
                      tug_sha256 *file_h, tug_sha256 *h, bool xattrs, tug_error **err)
{
    char meta[128];
    const char *what = e->link ? e->link : "";
    if (S_ISREG(e->st.st_mode)) {
        if (hash_file(c, hc, e, file_h, err) < 0)
            return -1;
        what = e->digest;
    }
    char type = S_ISREG(e->st.st_mode)    ? 'f'
                : S_ISDIR(e->st.st_mode)  ? 'd'
                : S_ISLNK(e->st.st_mode)  ? 'l'
                : S_ISCHR(e->st.st_mode)  ? 'c'
                : S_ISBLK(e->st.st_mode)  ? 'b'
                : S_ISFIFO(e->st.st_mode) ? 'p'
                                          : 's';
    int n =
        snprintf(meta, sizeof(meta), "%c %04o %u %u %llu", type, (unsigned)(e->st.st_mode & 07777),
                 (unsigned)e->st.st_uid, (unsigned)e->st.st_gid,
                 (type == 'c' || type == 'b') ? (unsigned long long)e->st.st_rdev : 0ULL);
    tug_sha256_update(h, e->rel, strlen(e->rel) + 1);
    tug_sha256_update(h, meta, (size_t)n + 1);
    tug_sha256_update(h, what, strlen(what) + 1);
    if (xattrs)
        hash_xattrs(c, e, h);
    return 0;
}

int tug_context_checksum(tug_build_context *c, tug_copy_sources *s, bool xattrs,
                         char ret_digest[TUG_DIGEST_LEN + 1], tug_error **err)
{
    cleanup_sha256 tug_sha256 *total = tug_sha256_new(err);
    cleanup_sha256 tug_sha256 *h = total ? tug_sha256_new(err) : NULL;
    cleanup_sha256 tug_sha256 *file_h = h ? tug_sha256_new(err) : NULL;
    if (file_h == NULL)
        return -1;
    struct hash_cache hc = {.store = c->store, .now_ns = tug_now_ns()};
    if (c->store)
        hc.get = tug_db_prepare(c->store,
                                "SELECT digest FROM build_file_hashes WHERE dev = ?1 AND "
                                "ino = ?2 AND size = ?3 AND mtime_ns = ?4 AND ctime_ns = ?5",
                                NULL);
    if (c->store)
        hc.get_match = tug_db_prepare(
            c->store, "SELECT digest FROM build_match_sums WHERE fingerprint = ?1", NULL);
    int r = 0;
    for (size_t i = 0; i < s->n_matches && r == 0; i++) {
        tug_copy_match *m = &s->matches[i];
        char fp[TUG_DIGEST_LEN + 1];
        bool settled = c->store && match_fingerprint(m, xattrs, hc.now_ns, h, fp);
        if (!settled || !match_cache_get(&hc, fp, m->digest)) {
            if (!m->is_dir)
                tug_sha256_update(h, m->name, strlen(m->name) + 1);
            for (size_t k = 0; k < m->n_entries && r == 0; k++)
                r = hash_entry(c, &hc, &m->entries[k], file_h, h, xattrs, err);
            if (r < 0)
                break;
            tug_sha256_final(h, m->digest);
            if (settled)
                match_cache_put(&hc, fp, m->digest);
        }
        char idx[32];
        int n = snprintf(idx, sizeof(idx), "%zu ", m->source);
        tug_sha256_update(total, idx, (size_t)n);
        tug_sha256_update(total, m->digest, TUG_DIGEST_LEN + 1);
    }
    sqlite3_finalize(hc.get);
    sqlite3_finalize(hc.get_match);
    if (r == 0)
        cache_flush(&hc);
    free(hc.todo);
    free(hc.todo_matches);
    if (r < 0)
        return -1;
    tug_sha256_final(total, ret_digest);
    return 0;
}

/* ---- Opening a context ---------------------------------------------------------------------- */

void tug_context_free(tug_build_context *c)
{
    if (c == NULL)
        return;
    if (c->root_fd >= 0)
        close(c->root_fd);
    if (c->tmp) {
        tug_error *err = NULL;
        if (tug_rm_rf(c->tmp, &err) < 0)
            tug_error_free(err); /* tug_store_sweep_dir takes what is left */
    }
    free(c->tmp);
    free(c->dir);
    free(c->dockerfile);
    free(c->dockerfile_name);
    tug_ignore_free(c->ignore);
    free(c->ignore_name);
    free(c);
}

void tug_context_freep(tug_build_context **c)
{
    tug_context_free(*c);
}

const char *tug_context_dockerfile(const tug_build_context *c, size_t *ret_len)
{
    if (ret_len)
        *ret_len = c->dockerfile_len;
    return c->dockerfile;
}

const char *tug_context_dockerfile_name(const tug_build_context *c)
{
    return c->dockerfile_name;
}

const char *tug_context_dir(const tug_build_context *c)
{
    return c->dir;
}

const tug_ignore *tug_context_ignore(const tug_build_context *c)
{
    return c->ignore;
}

const char *tug_context_ignore_name(const tug_build_context *c)
{
    return c->ignore_name;
}

/* Read all of fd after the head already read. */
static int read_rest(int fd, char *head, size_t head_len, char **ret, size_t *ret_len,
                     tug_error **err)
{
    size_t cap = head_len + 4096, len = head_len;
    cleanup_free char *buf = malloc(cap);
    if (buf == NULL)
        return tug_error_set(err, ENOMEM, "read stdin");
    if (head_len > 0)
        memcpy(buf, head, head_len);
    for (;;) {
        if (len + 1 >= cap) {
            if (__builtin_mul_overflow(cap, 2, &cap))
                return tug_error_set(err, EFBIG, "read stdin");
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                return tug_error_set(err, ENOMEM, "read stdin");
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read stdin");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = steal_pointer(&buf);
    *ret_len = len;
    return 0;
}

/* A tar header block: its checksum (the bytes with the checksum field as spaces) holds. */
static bool is_tar_header(const unsigned char *b, size_t len)
{
    if (len < 512)
        return false;
    unsigned long sum = 0, want = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : b[i];
    size_t i = 148;
    while (i < 156 && b[i] == ' ')
        i++;
    if (i == 156 || b[i] < '0' || b[i] > '7')
        return false;
    for (; i < 156 && b[i] >= '0' && b[i] <= '7'; i++)
        want = want * 8 + (b[i] - '0');
    return sum == want;
}

/* Standard input as a context: a tar (unpacked into a private directory) or a Dockerfile. */
static int open_stdin(tug_build_context *c, const tug_context_opts *o, tug_error **err)
{
    unsigned char head[512];
    size_t got = 0;
    while (got < sizeof(head)) {
        ssize_t n = read(o->stdin_fd, head + got, sizeof(head) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read the build context from stdin");
        if (n == 0)
            break;
        got += (size_t)n;
    }
    bool gzip = got >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    bool zstd = got >= 4 && memcmp(head, "\x28\xb5\x2f\xfd", 4) == 0;
    if ((got >= 3 && memcmp(head, "BZh", 3) == 0) || (got >= 6 && memcmp(head,
                                                                         "\xfd"
                                                                         "7zXZ\0",
                                                                         6) == 0))
        return tug_error_user(err, "the build context on stdin is compressed with bzip2 or xz, "
                                   "which tug does not read: send it plain, gzip or zstd");
    if (!gzip && !zstd && !is_tar_header(head, got)) {
        if (o->dockerfile && strcmp(o->dockerfile, "-") != 0)
            return tug_error_user(err,
                                  "stdin holds a Dockerfile, not a tar: -f %s cannot name "
                                  "a file in it",
                                  o->dockerfile);
        c->dockerfile_name = strdup("-");
        return read_rest(o->stdin_fd, (char *)head, got, &c->dockerfile, &c->dockerfile_len, err);
    }
    if (o->tmp_dir == NULL)
        return tug_error_set(err, EINVAL,
                             "a build context from stdin needs a directory to "
                             "unpack into");
    if (asprintf(&c->tmp, "%s/ctx-%d-XXXXXX", o->tmp_dir, (int)getpid()) < 0 ||
        mkdtemp(c->tmp) == NULL) {
        int e = errno;
        free(c->tmp);
        c->tmp = NULL;
        return tug_error_set(err, e, "make a directory for the build context in %s", o->tmp_dir);
    }
    /* the tar, spooled: the unpacker reads a whole stream from one fd */
    cleanup_close int spool = open(c->tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (spool < 0)
        return tug_error_set(err, errno, "spool the build context in %s", c->tmp);
    char buf[65536];
    size_t n = got;
    off_t total = 0;
    memcpy(buf, head, got);
    for (;;) {
        total += (off_t)n;
        for (size_t off = 0; off < n;) {
            ssize_t w = write(spool, buf + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return tug_error_set(err, errno, "spool the build context in %s", c->tmp);
            off += (size_t)w;
        }
        ssize_t r = read(o->stdin_fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (r < 0)
            return tug_error_set(err, errno, "read the build context from stdin");
        if (r == 0)
            break;
        n = (size_t)r;
    }
    /* docker's CLI ends the tar it sends for a -f outside the context right after the last
     * entry's data, without its padding or the end blocks (Go's tar reader takes that): a
     * plain tar gets them, which changes nothing for one that has them */
    if (!gzip && !zstd) {
        static const char zeros[512 * 3];
        if (tug_write_all(spool, zeros, (size_t)(512 - total % 512) % 512 + 1024) < 0)
            return tug_error_set(err, errno, "spool the build context in %s", c->tmp);
    }
    if (lseek(spool, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "spool the build context");
    if (asprintf(&c->dir, "%s/root", c->tmp) < 0)
        return tug_error_set(err, ENOMEM, "build context");
    if (mkdir(c->dir, 0755) < 0)
        return tug_error_set(err, errno, "mkdir %s", c->dir);
    tug_unpack_result res;
    if (tug_layer_unpack(spool, c->dir, &res, err) < 0)
        return tug_error_wrap(err, "unpack the build context from stdin");
    return 0;
}

/* The Dockerfile of a directory context, or one named in a tar's. */
static int read_dockerfile(tug_build_context *c, const tug_context_opts *o, char **ret_path,
                           tug_error **err)
{
    const char *given = o->dockerfile;
    cleanup_free char *path = NULL;
    if (given == NULL || (c->tmp && given[0] != '/')) {
        const char *rel = given ? given : "Dockerfile";
        path = join(c->dir, rel);
        struct stat st;
        if (given == NULL && path && lstat(path, &st) < 0 && errno == ENOENT) {
            cleanup_free char *lower = join(c->dir, "dockerfile");
            if (lower && lstat(lower, &st) == 0) {
                free(path);
                path = steal_pointer(&lower);
            }
        }
        c->dockerfile_name = strdup(given ? given : base_name(path ? path : "Dockerfile"));
    } else {
        path = strdup(given);
        c->dockerfile_name = strdup(given);
    }
    if (path == NULL || c->dockerfile_name == NULL)
        return tug_error_set(err, ENOMEM, "read the Dockerfile");
    int r;
    if (c->tmp) { /* inside the tar: nothing followed out of it */
        cleanup_free char *rel = clean_source(given ? given : base_name(path));
        cleanup_close int fd = rel ? open_beneath(c->root_fd, rel, O_RDONLY) : -1;
        if (fd < 0)
            return tug_error_user(err, "failed to read dockerfile: open %s: %s", c->dockerfile_name,
                                  strerror(errno));
        r = read_rest(fd, NULL, 0, &c->dockerfile, &c->dockerfile_len, err);
    } else {
        tug_error *e = NULL;
        r = tug_read_file(path, &c->dockerfile, &c->dockerfile_len, &e);
        if (r < 0) {
            int errnum = e->errnum;
            tug_error_free(e);
            return tug_error_user(err, "failed to read dockerfile: open %s: %s", c->dockerfile_name,
                                  strerror(errnum));
        }
    }
    if (r == 0)
        *ret_path = steal_pointer(&path);
    return r;
}

/* One candidate ignore file: 0 and its text, 1 when it is not there, < 0 on failure. A
 * directory context's are the user's own files, read as docker's client reads them (a symlink
 * followed); a tar's are read inside its unpacked copy, following nothing. */
static int read_ignore_file(tug_build_context *c, const char *path, char **ret, size_t *ret_len,
                            tug_error **err)
{
    if (c->tmp == NULL) {
        tug_error *e = NULL;
        if (tug_read_file(path, ret, ret_len, &e) == 0)
            return 0;
        int errnum = e->errnum;
        tug_error_free(e);
        return errnum == ENOENT || errnum == ENOTDIR ? 1
                                                     : tug_error_set(err, errnum, "read %s", path);
    }
    size_t dl = strlen(c->dir);
    const char *rel = strncmp(path, c->dir, dl) == 0 && path[dl] == '/' ? path + dl + 1 : NULL;
    cleanup_free char *clean = rel ? clean_source(rel) : NULL;
    if (clean == NULL)
        return 1; /* a Dockerfile outside the tar has no ignore file in it */
    cleanup_close int fd = open_beneath(c->root_fd, clean, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 1 : tug_error_set(err, errno, "open %s", rel);
    return read_rest(fd, NULL, 0, ret, ret_len, err);
}

/* "<Dockerfile>.dockerignore" next to the Dockerfile, else the context's .dockerignore. */
static int read_ignore(tug_build_context *c, const char *dockerfile_path, tug_error **err)
{
    cleanup_free char *text = NULL, *own = NULL, *root = join(c->dir, ".dockerignore");
    size_t len = 0;
    if (root == NULL || (dockerfile_path && asprintf(&own, "%s.dockerignore", dockerfile_path) < 0))
        return tug_error_set(err, ENOMEM, ".dockerignore");
    int r = own ? read_ignore_file(c, own, &text, &len, err) : 1;
    const char *used = own;
    if (r == 1) {
        r = read_ignore_file(c, root, &text, &len, err);
        used = root;
    }
    if (r != 0)
        return r < 0 ? -1 : 0;
    c->ignore_name = strdup(base_name(used));
    if (c->ignore_name == NULL)
        return tug_error_set(err, ENOMEM, ".dockerignore");
    return tug_ignore_parse(text, len, c->ignore_name, &c->ignore, err);
}

int tug_context_open(const tug_context_opts *o, tug_build_context **ret_ctx, tug_error **err)
{
    cleanup_context tug_build_context *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return tug_error_set(err, ENOMEM, "build context");
    c->root_fd = -1;
    c->store = o->store;
    bool ctx_stdin = strcmp(o->context, "-") == 0;
    bool df_stdin = o->dockerfile && strcmp(o->dockerfile, "-") == 0;
    if (ctx_stdin && df_stdin)
        return tug_error_user(err, "invalid argument: can't use stdin for both build context "
                                   "and dockerfile");
    if (ctx_stdin) {
        if (open_stdin(c, o, err) < 0)
            return -1;
        if (c->dir == NULL) { /* a lone Dockerfile */
            *ret_ctx = steal_pointer(&c);
            return 0;
        }
    } else {
        struct stat st;
        if (stat(o->context, &st) < 0)
            return tug_error_user(err, "unable to prepare context: path \"%s\" not found",
                                  o->context);
        if (!S_ISDIR(st.st_mode))
            return tug_error_user(err,
                                  "unable to prepare context: context must be a "
                                  "directory: %s",
                                  o->context);
        c->dir = strdup(o->context);
        if (c->dir == NULL)
            return tug_error_set(err, ENOMEM, "build context");
    }
    c->root_fd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->root_fd < 0)
        return tug_error_set(err, errno, "open the build context %s", c->dir);
    cleanup_free char *df_path = NULL;
    if (df_stdin) {
        c->dockerfile_name = strdup("-");
        if (c->dockerfile_name == NULL ||
            read_rest(o->stdin_fd, NULL, 0, &c->dockerfile, &c->dockerfile_len, err) < 0)
            return tug_error_set(err, ENOMEM, "read the Dockerfile from stdin");
    } else if (read_dockerfile(c, o, &df_path, err) < 0) {
        return -1;
    }
    if (read_ignore(c, df_path, err) < 0)
        return -1;
    *ret_ctx = steal_pointer(&c);
    return 0;
}
