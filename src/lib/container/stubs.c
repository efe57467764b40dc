/* Mount stubs in an overlay upper dir, found without changing it: a build step removes them
 * from a finished step's upper dir, commit and diff read a container's, which may be running. */
#include "stubs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/cleanup.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct stub_open_how {
    uint64_t flags, mode, resolve;
};
#define STUB_RESOLVE_NO_SYMLINKS 0x04
#define STUB_RESOLVE_BENEATH 0x08

/* Open dir (relative to base, no symlink followed on the way: the container wrote what is
 * there). */
static int open_beneath(int base, const char *dir)
{
    struct stub_open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                .resolve = STUB_RESOLVE_BENEATH | STUB_RESOLVE_NO_SYMLINKS};
    while (*dir == '/')
        dir++;
    return (int)syscall(SYS_openat2, base, *dir ? dir : ".", &how, sizeof(how));
}

/* parent/name split of a relative path; parent "" for the top. */
static const char *split(char parent[PATH_MAX], const char *path)
{
    snprintf(parent, PATH_MAX, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) {
        parent[0] = '\0';
        return path;
    }
    *slash = '\0';
    return path + (slash - parent) + 1;
}

bool tug_in_lowers(char *const *lowers, size_t n_lower, const char *path, struct stat *ret)
{
    char parent[PATH_MAX];
    const char *name = split(parent, path);
    for (size_t i = n_lower; i-- > 0;) {
        cleanup_close int base = open(lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (base < 0)
            continue;
        cleanup_close int d = open_beneath(base, parent);
        if (d >= 0 && fstatat(d, name, ret, AT_SYMLINK_NOFOLLOW) == 0)
            return true;
    }
    return false;
}

bool tug_stub_listed(char *const *paths, const char *path)
{
    for (char *const *p = paths; p && *p; p++)
        if (strcmp(*p, path) == 0)
            return true;
    return false;
}

/* A directory (path, name in parent) whose every entry is a stub found already. */
static bool only_stubs(int parent, const char *name, const char *path, char *const *found)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    cleanup_dir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return false;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= (int)sizeof(child) ||
            !tug_stub_listed(found, child))
            return false;
    }
    return true;
}

typedef struct stub_list {
    char **v;
    size_t n, cap;
} stub_list;

static int stub_add(stub_list *l, const char *path)
{
    if (tug_stub_listed(l->v, path))
        return 0;
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof(char *));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(path)) == NULL)
        return -1;
    l->v[++l->n] = NULL;
    return 0;
}

/* What the runtime made for dest: the mount point, then parents that hold only stubs. The
 * container could not write there (something was mounted on it), so what the upper dir has at
 * such a path is the stub, and a parent copied up only to hold it is unchanged. */
static int find_stubs(int upper, char *const *lowers, size_t n_lower, const char *dest,
                      stub_list *found)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dest + strspn(dest, "/"));
    for (size_t n = strlen(path); n > 0 && path[n - 1] == '/'; n--)
        path[n - 1] = '\0';
    while (path[0] != '\0') {
        char parent[PATH_MAX];
        const char *name = split(parent, path);
        cleanup_close int pfd = open_beneath(upper, parent);
        struct stat st, low;
        if (pfd < 0 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
        bool stub;
        if (!tug_in_lowers(lowers, n_lower, path, &low))
            stub = S_ISDIR(st.st_mode) ? only_stubs(pfd, name, path, found->v)
                                       : S_ISREG(st.st_mode) && st.st_size == 0;
        else
            stub = S_ISDIR(st.st_mode) && S_ISDIR(low.st_mode) &&
                   (st.st_mode & 07777) == (low.st_mode & 07777) && st.st_uid == low.st_uid &&
                   st.st_gid == low.st_gid && only_stubs(pfd, name, path, found->v);
        if (!stub)
            return 0;
        if (stub_add(found, path) < 0)
            return -1;
        snprintf(path, sizeof(path), "%s", parent);
    }
    return 0;
}

int tug_mount_stubs(const char *upper, char *const *lowers, size_t n_lower,
                    const char *const *dests, size_t n_dests, char ***ret_paths, tug_error **err)
{
    stub_list found = {0};
    cleanup_close int ufd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0)
        return tug_error_set(err, errno, "open %s", upper);
    int r = 0;
    for (size_t i = 0; r == 0 && i < n_dests; i++)
        if (dests[i] && dests[i][0] == '/')
            r = find_stubs(ufd, lowers, n_lower, dests[i], &found);
    if (r == 0 && found.v == NULL && (found.v = calloc(1, sizeof(char *))) == NULL)
        r = -1;
    if (r < 0) {
        cleanup_strvp(&found.v);
        return tug_error_set(err, ENOMEM, "mount stubs of %s", upper);
    }
    *ret_paths = found.v;
    return 0;
}

void tug_mount_stubs_remove(const char *upper, char *const *paths)
{
    cleanup_close int ufd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (char *const *p = paths; ufd >= 0 && p && *p; p++) {
        char parent[PATH_MAX];
        const char *name = split(parent, *p);
        cleanup_close int pfd = open_beneath(ufd, parent);
        struct stat st;
        if (pfd >= 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            unlinkat(pfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
    }
}
