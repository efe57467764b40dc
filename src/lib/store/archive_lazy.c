/* libarchive, opened on first use (it and its dependencies cost ~3 ms at every start): the
 * functions the unpacker calls, forwarded to the real library. */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>

#include "../util/lazylib.h"

static const char *const archive_sonames[] = {"libarchive.so.13", NULL};

#define REAL(name) ((__typeof__(&name))tug_lazylib_sym(archive_sonames, #name))
#define FWD1(ret, name, t1)                                                                        \
    ret name(t1 a)                                                                                 \
    {                                                                                              \
        return REAL(name)(a);                                                                      \
    }

FWD1(time_t, archive_entry_atime, struct archive_entry *)
FWD1(int, archive_entry_atime_is_set, struct archive_entry *)
FWD1(long, archive_entry_atime_nsec, struct archive_entry *)
FWD1(__LA_MODE_T, archive_entry_filetype, struct archive_entry *)
FWD1(la_int64_t, archive_entry_gid, struct archive_entry *)
FWD1(const char *, archive_entry_hardlink, struct archive_entry *)
FWD1(time_t, archive_entry_mtime, struct archive_entry *)
FWD1(long, archive_entry_mtime_nsec, struct archive_entry *)
FWD1(const char *, archive_entry_pathname, struct archive_entry *)
FWD1(__LA_MODE_T, archive_entry_perm, struct archive_entry *)
FWD1(dev_t, archive_entry_rdevmajor, struct archive_entry *)
FWD1(dev_t, archive_entry_rdevminor, struct archive_entry *)
FWD1(la_int64_t, archive_entry_size, struct archive_entry *)
FWD1(const char *, archive_entry_symlink, struct archive_entry *)
FWD1(la_int64_t, archive_entry_uid, struct archive_entry *)
FWD1(int, archive_entry_xattr_reset, struct archive_entry *)
FWD1(const char *, archive_error_string, struct archive *)
FWD1(int, archive_read_free, struct archive *)
FWD1(int, archive_read_support_format_empty, struct archive *)
FWD1(int, archive_read_support_format_tar, struct archive *)

int archive_entry_xattr_next(struct archive_entry *e, const char **name, const void **value,
                             size_t *size)
{
    return REAL(archive_entry_xattr_next)(e, name, value, size);
}

struct archive *archive_read_new(void)
{
    return REAL(archive_read_new)();
}

int archive_read_data_block(struct archive *a, const void **buf, size_t *size, la_int64_t *off)
{
    return REAL(archive_read_data_block)(a, buf, size, off);
}

int archive_read_next_header(struct archive *a, struct archive_entry **e)
{
    return REAL(archive_read_next_header)(a, e);
}

int archive_read_open(struct archive *a, void *data, archive_open_callback *o,
                      archive_read_callback *r, archive_close_callback *c)
{
    return REAL(archive_read_open)(a, data, o, r, c);
}

void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    REAL(archive_set_error)(a, err, "%s", msg);
}
