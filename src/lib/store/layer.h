/* The one way a layer enters the store, whoever made it: pull and import unpack a blob into a
 * tmp directory, build tars a step's upper dir into a blob; both end in tug_store_add_layer. */
#pragma once
#include "store.h"
#include "unpack.h"

typedef struct tug_layer_add {
    const char *tmp;          /* from tug_store_layer_tmp, its diff/ complete; what else it holds
                                 (an overlay's work dir) is dropped */
    const char *parent_chain; /* chain ID of the layer below; NULL for the first */
    const char *diff_id;
    long long size;          /* unpacked size (tug_unpack_result's) */
    const char *blob_file;   /* the layer's blob, written beside the store and not in it yet;
                                NULL when the blob store has it */
    const char *blob_digest; /* with blob_file */
} tug_layer_add;

/* Put the blob into the blob store (when given), then tmp in place as the layer of chain ID
 * chain(parent_chain, diff_id) and its row (a layer the store has already is kept and tmp
 * dropped). tmp and blob_file are consumed whatever happens: moved into the store or removed.
 * ret_chain (may be NULL) gets the chain ID. */
int tug_store_add_layer(tug_store *s, const tug_layer_add *l, char ret_chain[TUG_DIGEST_LEN + 1],
                        tug_error **err);

/* Unpack the blob in blob_fd into a new tmp directory of the store (tug_store_layer_tmp).
 * Nothing is left on failure. */
int tug_store_unpack_layer(tug_store *s, int blob_fd, char **ret_tmp, tug_unpack_result *ret,
                           tug_error **err);

/* Remove a tmp layer directory, quietly (the cleanup of a failure). */
void tug_store_drop_tmp(const char *tmp);

/* ---- layer formats (layerfs.c) ---- */

typedef enum {
    TUG_LAYERS_DIRECTORY = 0, /* layers/<hex>/diff holds the layer's files */
    TUG_LAYERS_EROFS,         /* layers/<hex>/layer.erofs, mounted on layers/<hex>/diff */
} tug_layer_format;

/* The format the store writes new layers in, recorded in $ROOT/layer-format when the store
 * is new (TUG_LAYER_FORMAT=erofs|directory, else EROFS where the kernel has it); a store with
 * layers and no record is a directory store. Reading one store never mixes the two up: each
 * layer is what it holds. */
int tug_store_layer_format(tug_store *s, tug_error **err);
const char *tug_layer_format_name(tug_layer_format f);
/* Record the format new layers take from now on. */
int tug_store_set_layer_format(tug_store *s, tug_layer_format f, tug_error **err);
/* EROFS in this kernel: built in, loaded, or a module it can load. */
bool tug_kernel_has_erofs(void);

/* The layer in blob_fd as an EROFS image in tmp (from tug_store_layer_tmp): tmp/layer.erofs,
 * its digest and size in tmp/layer.erofs.sum, both synced, and tmp/diff its mount point. */
int tug_store_image_layer(tug_store *s, int blob_fd, const char *tmp, tug_unpack_result *ret,
                          tug_error **err);
/* A build step's layer: its blob (blob_path) written as tmp's EROFS image, tmp/diff emptied
 * to be the mount point. */
int tug_store_image_dir_layer(tug_store *s, const char *tmp, const char *blob_path,
                              tug_error **err);

/* Make the layer directory dir (tug_store_layer_dir's) readable: an EROFS layer's image is
 * checked against the digest written with it and mounted there when it is not yet; a
 * directory layer is ready as it is. */
int tug_store_layer_dir_ready(tug_store *s, const char *dir, tug_error **err);
int tug_store_layers_ready(tug_store *s, char *const *dirs, size_t n, tug_error **err);
/* The same for an overlay's colon-separated lowerdir list (a container's, written when it was
 * made); *ret gets the list as it is now: a layer converted since then is where it is now. */
int tug_store_lowerdirs_ready(tug_store *s, const char *lowerdirs, char **ret, tug_error **err);
/* Take the mount of an EROFS layer away, detached: a container still using it keeps it until
 * it ends. */
void tug_store_layer_unmount(tug_store *s, const char *chain_id);
/* Unmount and remove the mount points under run/layers that keep (given s) does not keep, all
 * when keep is NULL; their names are appended to *gone one per line when gone is not NULL.
 * Returns how many went, or -errno. */
int tug_layer_mounts_sweep(const char *run, tug_store *s,
                           bool (*keep)(tug_store *, const char *hex), char **gone);

/* (migrate.c) A directory store's layers as EROFS images, one at a time (each swapped in whole under the
 * write lock, so a kill leaves every layer one kind or the other; running it again goes on),
 * then the store records erofs for new layers. Refused while containers run on the layers.
 * progress (may be NULL) hears of each layer converted. Returns how many were. */
typedef void (*tug_convert_fn)(const char *chain_id, long long size, void *ud);
int tug_store_convert_layers(tug_store *s, tug_convert_fn progress, void *ud, tug_error **err);
