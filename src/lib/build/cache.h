/* The build cache: a step's key (what it started from and what it did) -> the layer it made.
 * A row is written only after its layer is in the store, and garbage collection keeps the
 * layers rows name, so a hit never points at a missing layer; `builder prune` lets them go. */
#pragma once
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"

/* The hex sha256 of a step's key text, as rows are keyed. */
void tug_build_cache_key(const char *text, char out[65]);
/* A hit fills *ret (strings owned by the caller: tug_build_layer_clear; chain_id NULL for a
 * step that made no layer) and *ret_created (when the step first ran, unix seconds), and marks
 * the row used; 0 on a miss (or a row whose layer is gone, which is dropped), 1 on a hit. */
int tug_build_cache_get(tug_store *s, const char *key, tug_image_layer *ret,
                        long long *ret_created, tug_error **err);
/* What a row's step was and read, remembered beside it so that a later miss can say what
 * changed (table build_cache_inputs). */
typedef struct tug_build_cache_inputs {
    const char *parent; /* the chain ID it started from, "" for none */
    const char *kind;   /* "RUN", "COPY", "ADD", "WORKDIR" */
    const char *text;   /* the instruction as written */
    const char *inputs; /* JSON: what it read (build args, sources' checksums...) */
} tug_build_cache_inputs;

/* layer NULL or with chain_id NULL: the step made no layer. created: unix seconds. in: NULL
 * for a step no miss is explained of. */
int tug_build_cache_put(tug_store *s, const char *key, const tug_image_layer *layer,
                        long long created, const char *description,
                        const tug_build_cache_inputs *in, tug_error **err);
/* The row a step that missed is the new version of: the same parent and instruction, else the
 * same parent and kind, else the same instruction on another parent; the last used (then the
 * last written) first.
 * 1 with *ret filled (strings the caller frees: tug_build_cache_inputs_clear), 0 when none. */
int tug_build_cache_previous(tug_store *s, const tug_build_cache_inputs *step,
                             tug_build_cache_inputs *ret, tug_error **err);
void tug_build_cache_inputs_clear(tug_build_cache_inputs *in);
void tug_build_layer_clear(tug_image_layer *l);
/* Drop rows (all, or those last used before `until`, unix seconds; 0: any age), then the layers
 * and blobs nothing else keeps, and the RUN cache mounts no build uses now (build_mounts.h).
 * *ret_rows (rows and cache mounts) and *ret_bytes: what went. */
int tug_build_cache_prune(tug_store *s, long long until, long long *ret_rows,
                          long long *ret_bytes, tug_error **err);
/* For system df: rows and cache mounts, the size of the layers they keep and of the cache
 * mounts, the part only they keep. */
int tug_build_cache_usage(tug_store *s, long long *ret_rows, long long *ret_size,
                          long long *ret_reclaimable, tug_error **err);

/* One entry of the build cache as `system df -v` lists it (docker's CACHE ID ... SHARED). */
typedef struct tug_build_cache_entry {
    char id[72];      /* the row's key, or the cache mount's directory name */
    const char *type; /* "regular" (a step's layer) or "exec.cachemount" (RUN --mount=type=cache) */
    long long size;   /* bytes */
    long long created, last_used; /* unix seconds */
    /* tug keeps when a row was last used, not how often: 1, or 2 when it was used again since
     * it was made (a lower bound of BuildKit's count) */
    int usage;
    bool in_use; /* a build holds it now (cache mounts) */
    bool shared; /* an image has its layer too: pruning the cache does not free it */
} tug_build_cache_entry;

/* The rows and cache mounts, least recently used first (then by ID), as docker lists them. */
int tug_build_cache_list(tug_store *s, tug_build_cache_entry **ret, size_t *ret_n,
                         tug_error **err);
