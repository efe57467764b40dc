#include "fs.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
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

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                        tug_error **err)
{
    cleanup_free char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
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
    return write_atomic(path, data, len, mode, true, err);
}

int tug_write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                 tug_error **err)
{
    return write_atomic(path, data, len, mode, false, err);
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

static int rm_children(int dfd, tug_error **err)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int e = errno;
        close(dfd);
        return tug_error_set(err, e, "opendir");
    }
    cleanup_dir DIR *dir = d;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (tug_rm_rf_at(dirfd(dir), de->d_name, err) < 0)
            return -1;
    }
    return 0;
}

int tug_rm_rf_at(int dirfd, const char *name, tug_error **err)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return tug_error_set(err, errno, "remove %s", name);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return tug_error_set(err, errno, "open %s", name);
    }
    if (rm_children(fd, err) < 0)
        return tug_error_wrap(err, "remove %s", name);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return tug_error_set(err, errno, "remove %s", name);
    return 0;
}

int tug_rm_rf(const char *path, tug_error **err)
{
    return tug_rm_rf_at(AT_FDCWD, path, err);
}

static long long size_children(int dfd)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return 0;
    }
    cleanup_dir DIR *dir = d;
    long long total = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
            total += st.st_size;
        else if (S_ISDIR(st.st_mode)) {
            int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                total += size_children(fd);
        }
    }
    return total;
}

int tug_dir_size(const char *path, long long *ret_size, tug_error **err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", path);
    *ret_size = size_children(fd);
    return 0;
}
