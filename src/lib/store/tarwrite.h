/* Writing tar streams byte for byte as docker writes a layer: Go's archive/tar as moby's
 * pkg/archive drives it (USTAR headers, PAX ones only for what USTAR cannot hold, two zero
 * blocks at the end and no record padding). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/error.h"

#define TUG_TAR_BLOCK 512

/* The type bits docker puts in a header's mode field besides the permissions. */
#define TUG_TAR_MODE_REG 0100000
#define TUG_TAR_MODE_DIR 040000
#define TUG_TAR_MODE_LNK 0120000
#define TUG_TAR_MODE_CHR 020000
#define TUG_TAR_MODE_BLK 060000
#define TUG_TAR_MODE_FIFO 010000

typedef struct tug_tar_xattr {
    const char *name;
    const void *value;
    size_t len;
} tug_tar_xattr;

typedef struct tug_tar_entry {
    const char *name;     /* a directory's ends in '/' */
    const char *linkname; /* symlink target or hard link target; NULL for none */
    char type;            /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir,
                             '6' fifo */
    long long mode;       /* as written: permissions and docker's file type bits */
    long long uid, gid;
    long long size;  /* bytes of data that follow: regular files only */
    long long mtime; /* whole seconds */
    long long devmajor, devminor;
    const char *uname, *gname; /* NULL for none */
    const tug_tar_xattr *xattrs;
    size_t n_xattrs;
} tug_tar_entry;

/* Encode e's header: one USTAR block, or a PAX extended header (its block and records) and a
 * block after it. *ret_buf grows as needed (NULL and 0 to start; the caller frees it); the
 * header's length is returned, or -1 when e cannot be written (a field no format holds). */
long tug_tar_encode(const tug_tar_entry *e, uint8_t **ret_buf, size_t *ret_cap, tug_error **err);

/* A stream of entries handed to sink in chunks of up to TUG_TAR_CHUNK bytes. */
#define TUG_TAR_CHUNK (1u << 20)
typedef int (*tug_tar_sink_fn)(void *data, const uint8_t *buf, size_t len, tug_error **err);
typedef struct tug_tar_writer tug_tar_writer;

tug_tar_writer *tug_tar_writer_new(tug_tar_sink_fn sink, void *data, tug_error **err);
void tug_tar_writer_free(tug_tar_writer *w);
void tug_tar_writer_freep(tug_tar_writer **w);
#define cleanup_tar_writer __attribute__((cleanup(tug_tar_writer_freep)))
/* Start an entry; e->size bytes of data must follow (tug_tar_data_space/_done or
 * tug_tar_write_data) before the next entry or the end. */
int tug_tar_write_header(tug_tar_writer *w, const tug_tar_entry *e, tug_error **err);
/* Where the next bytes of the entry's data go, read straight into the stream: room for
 * *ret_len of them (never more than the entry still needs). tug_tar_data_done says how many
 * were put there. */
uint8_t *tug_tar_data_space(tug_tar_writer *w, size_t *ret_len, tug_error **err);
void tug_tar_data_done(tug_tar_writer *w, size_t n);
int tug_tar_write_data(tug_tar_writer *w, const void *buf, size_t len, tug_error **err);
/* Bytes of the current entry's data not written yet. */
long long tug_tar_data_left(const tug_tar_writer *w);
/* The two zero blocks that end the archive, then everything to the sink. */
int tug_tar_finish(tug_tar_writer *w, tug_error **err);
/* Bytes written so far (all of the stream after tug_tar_finish). */
long long tug_tar_written(const tug_tar_writer *w);
