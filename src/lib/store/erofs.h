/* A layer as one EROFS image (docs/erofs.md): written in one pass from the tar stream. */
#pragma once
#include "../util/error.h"
#include "unpack.h"

/* Write the layer in blob_fd (gzip, zstd or plain tar, by magic bytes) as an EROFS image into
 * out_fd (an empty regular file opened O_RDWR; not fsynced here). Same entry semantics and
 * safety as tug_layer_unpack: OCI whiteouts become overlay whiteouts (char 0:0; .wh..wh..opq ->
 * trusted.overlay.opaque=y on the dir), a later entry for a path replaces the earlier one (a dir
 * over a dir keeps its children), missing parents are made 0755 root, names are cleaned the same
 * way (no .., no absolute, hard links only to earlier entries of the same layer), the same
 * xattrs are kept. ret gets the diff ID (sha256 of the uncompressed tar) and size (as unpack's).
 * On failure the file holds garbage: the caller removes it. */
int tug_layer_to_erofs(int blob_fd, int out_fd, tug_unpack_result *ret, tug_error **err);
