/* Unpacking a layer tarball into its own directory, safely. */
#pragma once
#include "../util/digest.h"
#include "../util/error.h"

typedef struct tug_unpack_result {
    char diff_id[TUG_DIGEST_LEN + 1]; /* sha256 of the uncompressed tar stream */
    long long size;                   /* sum of st_size of regular files and symlinks */
} tug_unpack_result;

/* Unpack the layer in blob_fd (gzip, zstd or plain tar, told apart by magic bytes) into
 * target_dir, an existing empty directory. OCI whiteouts (.wh.NAME, .wh..wh..opq) become overlay
 * whiteouts (0:0 char devices, trusted.overlay.opaque=y). Ownership, modes, setuid bits, xattrs,
 * hard links, symlinks and device nodes are kept. No entry (.., absolute name, symlink or hard
 * link escape) ever creates or changes anything outside target_dir. */
int tug_layer_unpack(int blob_fd, const char *target_dir, tug_unpack_result *ret,
                     tug_error **err);
