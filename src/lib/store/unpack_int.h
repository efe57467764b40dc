/* What unpack.c shares with the other readers of layer tars (erofs.c): the parallel
 * inflate/hash/parse walk over a layer's entries, and the way entry names are cleaned. */
#pragma once
#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>

#include "../util/digest.h"
#include "../util/error.h"

struct pipeline;

/* Called for each tar entry; the entry's data is read with archive_read_data_block(a, ...),
 * and a failure of that read is reported with tug_layer_tar_error(p, a, err). */
typedef int (*tug_layer_entry_fn)(void *data, struct pipeline *p, struct archive *a,
                                  struct archive_entry *e, tug_error **err);

/* Every entry of the layer in blob_fd (gzip, zstd or plain, by magic bytes) to fn; then the
 * rest of the stream, whose sha256 (the diff ID) goes to ret_diff_id. */
int tug_layer_walk(int blob_fd, tug_layer_entry_fn fn, void *data,
                   char ret_diff_id[TUG_DIGEST_LEN + 1], tug_error **err);
/* The error of a failed libarchive call: the stream's own failure when it has one. */
int tug_layer_tar_error(struct pipeline *p, struct archive *a, tug_error **err);
/* A tar name as a relative path without empty, "." or leading "/" components in *buf
 * (grown as needed); -1 when a component is "..", -ENOMEM. */
int tug_layer_clean_name(const char *name, char **buf, size_t *cap, size_t *ret_len);
/* A copy of s with control characters as '?', for messages (NULL without memory). */
char *tug_layer_printable(const char *s);

/* How overlay's format reads a layer entry (its cleaned name and last component). */
enum tug_whiteout {
    TUG_WH_NONE,      /* an entry like any other */
    TUG_WH_SKIP,      /* .wh..wh.* bookkeeping: ignored */
    TUG_WH_OPAQUE,    /* .wh..wh..opq: its directory hides the layers below */
    TUG_WH_HIDE,      /* .wh.NAME: NAME of the layers below is hidden */
    TUG_WH_AUFS_LINK, /* under .wh..wh.plnk, aufs's hard link targets: kept until the end */
};
enum tug_whiteout tug_layer_whiteout(const char *name, const char *base);
