/* libarchive, opened on first use (it and its dependencies cost ~3 ms at every start): the
 * functions the unpacker calls, forwarded to the real library. tug_layer_unpack loads it and
 * reports a failure; a forwarder reached without it fails as libarchive itself would fail. */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>

#include "../util/lazylib.h"

#define ARCHIVE_FNS(X)                                                                             \
    X(archive_entry_atime)                                                                         \
    X(archive_entry_atime_is_set)                                                                  \
    X(archive_entry_atime_nsec)                                                                    \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_gid)                                                                           \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_mtime)                                                                         \
    X(archive_entry_mtime_nsec)                                                                    \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_rdevmajor)                                                                     \
    X(archive_entry_rdevminor)                                                                     \
    X(archive_entry_size)                                                                          \
    X(archive_entry_sparse_count)                                                                  \
    X(archive_entry_symlink)                                                                       \
    X(archive_entry_uid)                                                                           \
    X(archive_entry_xattr_reset)                                                                   \
    X(archive_entry_xattr_next)                                                                    \
    X(archive_error_string)                                                                        \
    X(archive_read_free)                                                                           \
    X(archive_read_support_format_empty)                                                           \
    X(archive_read_support_format_tar)                                                             \
    X(archive_read_new)                                                                            \
    X(archive_read_data_block)                                                                     \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open)                                                                           \
    X(archive_read_open_fd)                                                                        \
    X(archive_read_support_filter_bzip2)                                                           \
    X(archive_read_support_filter_gzip)                                                            \
    X(archive_read_support_filter_xz)                                                              \
    X(archive_read_support_filter_zstd)                                                            \
    X(archive_set_error)

ARCHIVE_FNS(TUG_LAZY_POINTER)
static const tug_lazysym archive_syms[] = {ARCHIVE_FNS(TUG_LAZY_ENTRY){NULL, NULL}};
static const char *const archive_sonames[] = {"libarchive.so.13", NULL};
tug_lazylib tug_libarchive = {.sonames = archive_sonames, .syms = archive_syms};

#define LOADED tug_lazylib_ready(&tug_libarchive)
#define CALL_OR(fail, name, ...) TUG_LAZY_CALL_OR(&tug_libarchive, fail, name, __VA_ARGS__)
#define FWD1(ret, name, t1, fail)                                                                  \
    ret name(t1 a)                                                                                 \
    {                                                                                              \
        return CALL_OR(fail, name, a);                                                             \
    }

FWD1(time_t, archive_entry_atime, struct archive_entry *, 0)
FWD1(int, archive_entry_atime_is_set, struct archive_entry *, 0)
FWD1(long, archive_entry_atime_nsec, struct archive_entry *, 0)
FWD1(__LA_MODE_T, archive_entry_filetype, struct archive_entry *, 0)
FWD1(la_int64_t, archive_entry_gid, struct archive_entry *, 0)
FWD1(const char *, archive_entry_hardlink, struct archive_entry *, NULL)
FWD1(time_t, archive_entry_mtime, struct archive_entry *, 0)
FWD1(long, archive_entry_mtime_nsec, struct archive_entry *, 0)
FWD1(const char *, archive_entry_pathname, struct archive_entry *, NULL)
FWD1(__LA_MODE_T, archive_entry_perm, struct archive_entry *, 0)
FWD1(dev_t, archive_entry_rdevmajor, struct archive_entry *, 0)
FWD1(dev_t, archive_entry_rdevminor, struct archive_entry *, 0)
FWD1(la_int64_t, archive_entry_size, struct archive_entry *, 0)
FWD1(int, archive_entry_sparse_count, struct archive_entry *, 0)
FWD1(const char *, archive_entry_symlink, struct archive_entry *, NULL)
FWD1(la_int64_t, archive_entry_uid, struct archive_entry *, 0)
FWD1(int, archive_entry_xattr_reset, struct archive_entry *, 0)
FWD1(const char *, archive_error_string, struct archive *, "libarchive is not loaded")
FWD1(int, archive_read_free, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_format_empty, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_format_tar, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_filter_bzip2, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_filter_gzip, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_filter_xz, struct archive *, ARCHIVE_FATAL)
FWD1(int, archive_read_support_filter_zstd, struct archive *, ARCHIVE_FATAL)

int archive_entry_xattr_next(struct archive_entry *e, const char **name, const void **value,
                             size_t *size)
{
    return CALL_OR(ARCHIVE_WARN, archive_entry_xattr_next, e, name, value, size);
}

struct archive *archive_read_new(void)
{
    return CALL_OR(NULL, archive_read_new);
}

int archive_read_data_block(struct archive *a, const void **buf, size_t *size, la_int64_t *off)
{
    return CALL_OR(ARCHIVE_FATAL, archive_read_data_block, a, buf, size, off);
}

int archive_read_next_header(struct archive *a, struct archive_entry **e)
{
    return CALL_OR(ARCHIVE_FATAL, archive_read_next_header, a, e);
}

int archive_read_open(struct archive *a, void *data, archive_open_callback *o,
                      archive_read_callback *r, archive_close_callback *c)
{
    return CALL_OR(ARCHIVE_FATAL, archive_read_open, a, data, o, r, c);
}

int archive_read_open_fd(struct archive *a, int fd, size_t block_size)
{
    return CALL_OR(ARCHIVE_FATAL, archive_read_open_fd, a, fd, block_size);
}

void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
    if (!LOADED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p_archive_set_error(a, err, "%s", msg);
}
