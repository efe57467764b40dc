/* Getting images into the store: pull from a registry, import a rootfs tarball. */
#pragma once
#include <stdbool.h>

#include "../registry/registry.h"
#include "../store/store.h"
#include "reference.h"

/* Per-layer progress, with docker's words: "Pulling fs layer", "Waiting", "Downloading",
 * "Verifying Checksum", "Download complete", "Extracting", "Pull complete", "Already exists".
 * Called from worker threads, one call at a time. */
typedef void (*tug_pull_progress_fn)(void *userdata, const char *digest, const char *status,
                                     long long done, long long total);

typedef struct tug_pull_opts {
    const char *platform; /* "os/arch[/variant]"; NULL for this machine's */
    const tug_registry_opts *registry;
    tug_pull_progress_fn progress;
    void *userdata;
    int parallel; /* layers fetched at once; 0 for the default */
} tug_pull_opts;

typedef struct tug_pull_result {
    char *image_id;
    char *digest;    /* what the reference resolved to (index or manifest) */
    bool up_to_date; /* the tag already pointed at this image and nothing was fetched */
} tug_pull_result;

/* Called once the manifest is resolved, before any layer is fetched: the layer digests. */
typedef void (*tug_pull_layers_fn)(void *userdata, const char *const *digests, size_t n);

int tug_pull(tug_store *s, const tug_reference *ref, const tug_pull_opts *opts,
             tug_pull_layers_fn on_layers, tug_pull_result *ret, tug_error **err);
void tug_pull_result_clear(tug_pull_result *r);

typedef struct tug_import_opts {
    const char **changes; /* Dockerfile-like: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
                             WORKDIR, STOPSIGNAL; NULL-terminated */
    const char *message;  /* commit message into history */
    const char *platform;
    const char *tag;      /* full "name:tag" or NULL */
    const char *source;   /* for the history comment: "-" or a URL */
} tug_import_opts;

/* Import a rootfs tarball (plain, gzip or zstd) read from fd as a one-layer image. */
int tug_import(tug_store *s, int fd, const tug_import_opts *opts, char **ret_image_id,
               tug_error **err);
/* docker's container Config with every field at its empty default, as image configs and
 * create requests carry it. */
json_t *tug_config_new(void);
/* Apply one docker "change" instruction to an image config's "config" object. */
int tug_config_apply_change(json_t *config, const char *change, tug_error **err);

/* docker's `image inspect` document for an image. */
json_t *tug_image_inspect_json(tug_store *s, const tug_image *img);

/* One row of `history`, newest first. */
typedef struct tug_history_row {
    bool top;       /* the image itself (the rest show as <missing>) */
    long long created;
    const char *created_by;
    const char *comment;
    long long size;
    bool empty_layer;
} tug_history_row;
/* Rows from the config's history, with each layer's size; *ret_rows is one allocation whose
 * strings point into img->config. */
int tug_image_history(const tug_image *img, tug_history_row **ret_rows, size_t *ret_n,
                      tug_error **err);
