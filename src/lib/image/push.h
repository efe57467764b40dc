/* Push: an image's blobs the registry lacks, then its manifest. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../registry/registry.h"
#include "../store/store.h"
#include "../util/digest.h"
#include "manifest.h"
#include "reference.h"

/* Progress per layer with docker's words: "Preparing", "Waiting", "Pushing" (done/total bytes),
 * "Pushed", "Layer already exists", "Mounted from REPO". id is the layer's diff ID. Called from
 * worker threads, one call at a time. */
typedef void (*tug_push_progress_fn)(void *userdata, const char *id, const char *status,
                                     long long done, long long total);
/* Called once before any upload: the diff IDs of the layers, top layer first. */
typedef void (*tug_push_layers_fn)(void *userdata, const char *const *ids, size_t n);

typedef struct tug_push_opts {
    const tug_registry_opts *registry;
    /* TUG_COMPRESS_NONE: the recorded manifest as it is (a new one gets gzip layers); GZIP or
     * ZSTD: every layer so (zstd: an OCI manifest), each recompressed once and kept */
    tug_compression compression;
    tug_push_layers_fn on_layers;
    tug_push_progress_fn progress;
    void *userdata;
} tug_push_opts;

typedef struct tug_push_result {
    char digest[TUG_DIGEST_LEN + 1]; /* of the manifest pushed */
    long long size;                  /* its bytes */
} tug_push_result;

/* Push the image tagged ref (name:tag) to ref's repository. The manifest is the one recorded
 * for the image (pulled: byte for byte), else a docker schema2 manifest made from the layers'
 * gzip blobs (a layer without one is gzipped once and the blob kept), recorded then; with
 * opts->compression, the layers are first made so (see there). After the
 * push the image has the digest reference name@digest. */
int tug_push(tug_store *s, const tug_reference *ref, const tug_push_opts *opts,
             tug_push_result *ret, tug_error **err);

/* The tags of repository name ("domain/path") in the store, full "name:tag", sorted;
 * NULL-terminated (cleanup_strv). A user error when there is none. */
int tug_push_repo_tags(tug_store *s, const char *name, char ***ret_tags, tug_error **err);
