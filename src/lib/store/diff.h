/* Layers made from a directory in overlayfs's format (a build step's upper dir): the tar docker
 * would write for it, its diff ID computed while it is written, its gzip blob kept in the store
 * for push and save, and the directory itself moved into the store as the unpacked layer. */
#pragma once
#include <stdbool.h>

#include "../util/digest.h"
#include "store.h"
#include "tarwrite.h"

/* The diff ID of a layer without entries (1024 zero bytes). */
#define TUG_EMPTY_LAYER_DIFF_ID                                                                    \
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

/* Write the tree under dirfd as docker 20.10 writes a container's diff (moby's
 * pkg/archive on an overlay2 upper dir): entries in the order of Go's filepath.Walk (each
 * directory's names in byte order, a directory before what it holds), a directory's name
 * ending in '/', overlay whiteouts (0:0 character devices) as .wh.NAME files, an opaque
 * directory (trusted.overlay.opaque=y) followed by its .wh..wh..opq, a second name of an inode
 * as a hard link to the first, owners' names looked up on this host, mtimes in whole seconds,
 * no atime or ctime, the xattr security.capability as a PAX record and no other (trusted.*
 * never; user.* only with TUG_LAYER_USER_XATTRS: docker drops them). Sockets are left out, as
 * docker leaves them. dir_name names the tree in messages. *ret_size (may be NULL) is the
 * unpacked size the store records for such a layer (tug_layer_unpack's: regular files and
 * symlinks, each inode once). */
#define TUG_LAYER_USER_XATTRS 1u
int tug_layer_tar(int dirfd, const char *dir_name, unsigned flags, tug_tar_sink_fn sink, void *data,
                  long long *ret_size, tug_error **err);

/* The same, leaving out the entries at skip (paths relative to the tree without a leading '/',
 * NULL-terminated; a directory's with all it holds): a container's mount stubs. */
int tug_layer_tar_skip(int dirfd, const char *dir_name, unsigned flags, char *const *skip,
                       tug_tar_sink_fn sink, void *data, long long *ret_size, tug_error **err);

/* docker cp's archive of one path (moby's TarWithOptions with IncludeFiles and RebaseNames): the
 * entry name of the directory dirfd, with all it holds when it is a directory, named as in the
 * tar; or, name NULL, what dirfd holds, named as/... The tree is a merged one: no whiteouts are
 * translated, mount points under it are gone into but those of the kernel's pseudo file systems
 * (proc, sysfs...), which are written as empty directories. */
int tug_path_tar(int dirfd, const char *name, const char *as, tug_tar_sink_fn sink, void *data,
                 tug_error **err);

typedef struct tug_layer_opts {
    const char *parent_chain; /* chain ID of the layer below; NULL for the first */
    int gzip_level;           /* isa-l's 0 (fastest) to 3; -1 for the default */
    bool keep_empty;          /* store a layer for an empty directory too */
    bool user_xattrs;         /* keep user.* xattrs (TUG_LAYER_USER_XATTRS) */
    char *const *skip;        /* tug_layer_tar_skip's, or NULL */
} tug_layer_opts;

typedef struct tug_new_layer {
    char diff_id[TUG_DIGEST_LEN + 1];
    char chain_id[TUG_DIGEST_LEN + 1];
    char blob_digest[TUG_DIGEST_LEN + 1];
    const char *media_type; /* of the blob, for manifests */
    long long blob_size;
    long long size;     /* unpacked size, as the store records it */
    long long tar_size; /* bytes of the uncompressed tar */
    bool empty;         /* the directory held nothing: docker's legacy builder records no
                           layer for such a step (history "empty_layer": true) */
    bool stored;        /* the layer is in the store (false only for an empty one that
                           keep_empty did not ask for) */
} tug_new_layer;

/* Tar dir (tug_layer_tar) through sha256 and gzip into a blob file beside the store
 * (ingest/put-*), leaving dir as it is: ret gets the diff ID, the blob's digest and the sizes
 * (not chain_id, nor stored), *ret_blob_file the file, for tug_store_add_layer (or to unlink).
 * For a container's upper dir (commit), whose layer is unpacked from the blob: dir goes on. */
int tug_layer_blob(tug_store *s, const char *dir, const tug_layer_opts *opts, char **ret_blob_file,
                   tug_new_layer *ret, tug_error **err);

/* The layer in blob_fd (plain tar or zstd) gzipped (isa-l, gzip_level -1 for the default) into
 * a blob file beside the store, as tug_layer_blob writes one: ret gets the diff ID of the
 * stream, the new blob's digest and sizes. */
int tug_layer_regzip(tug_store *s, int blob_fd, int gzip_level, char **ret_blob_file,
                     tug_new_layer *ret, tug_error **err);
/* The same with zstd (its default level) instead of gzip: an OCI tar+zstd blob. */
int tug_layer_rezstd(tug_store *s, int blob_fd, char **ret_blob_file, tug_new_layer *ret,
                     tug_error **err);

/* Make a layer of tmp, a directory from tug_store_layer_tmp whose diff/ is finished (a build
 * step's upper dir, unmounted; its overlay work dir may sit beside it and is dropped): tar it
 * (tug_layer_tar) through sha256 and gzip into a blob of the store, then store tmp as the
 * unpacked layer with chain ID = chain(opts->parent_chain, diff ID). A layer the store holds
 * already (a rebuild that made the same bytes) is kept and tmp dropped. tmp is consumed,
 * whatever happens: moved into the store or removed. The caller holds tug_store_lock_shared
 * from before the step until an image refers to the layer, as pull does, so that garbage
 * collection never takes it meanwhile. */
int tug_layer_from_dir(tug_store *s, const char *tmp, const tug_layer_opts *opts,
                       tug_new_layer *ret, tug_error **err);
