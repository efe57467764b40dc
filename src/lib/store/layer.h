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
