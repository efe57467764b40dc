/* Unpacking a layer tarball into its own directory, safely. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../util/digest.h"
#include "../util/error.h"
#include "tarwrite.h"

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

/* Hand the uncompressed stream of the blob in blob_fd (gzip, zstd or plain, by magic bytes)
 * to sink in chunks of up to TUG_TAR_CHUNK bytes. */
int tug_layer_decompress(int blob_fd, tug_tar_sink_fn sink, void *data, tug_error **err);
/* The diff ID of the layer in blob_fd (gzip, zstd or plain): its uncompressed stream hashed,
 * nothing unpacked. */
int tug_layer_diff_id(int blob_fd, char ret[TUG_DIGEST_LEN + 1], tug_error **err);

/* ADD's archives: 1 when fd holds a tar (plain, gzip, bzip2, xz or zstd, told by content as
 * docker tells them: a tar is what has a first entry), else 0; fd is left at its start. */
int tug_archive_probe(int fd, tug_error **err);

typedef struct tug_untar_opts {
    bool chown; /* every entry owned by uid:gid, not by the archive's owners */
    uid_t uid;
    gid_t gid;
    /* docker's noOverwriteDirNonDir (docker cp): an entry may not take the place of a
     * directory unless it is one, nor a directory that of something else */
    bool no_dir_swap;
} tug_untar_opts;

/* Unpack the tar in src_fd into the directory dir_fd as docker's ADD does: owners, modes,
 * xattrs and times from the archive, what is in an entry's way replaced, whiteout-looking
 * names written as they are. dir_fd is the root of every name, symlink and hard link in it:
 * nothing outside it is created or changed (an entry that would leave it is an error). */
int tug_archive_unpack_at(int src_fd, int dir_fd, const tug_untar_opts *o, tug_error **err);
