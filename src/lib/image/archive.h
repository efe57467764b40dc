/* Image archives: `save` writes a docker-archive tar with the OCI image layout beside it (the
 * same blob files serve both, as docker 25 writes them) or an OCI layout directory; `load`
 * reads docker-archive (docker's and podman's, gzip'd or not) and OCI archives into the store.
 * See docs/save-load.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../store/store.h"

typedef enum {
    TUG_SAVE_DOCKER_ARCHIVE = 0, /* docker-archive + OCI layout in one tar */
    TUG_SAVE_OCI_DIR,            /* an OCI image layout directory */
} tug_save_format;

typedef struct tug_save_opts {
    tug_save_format format;
    const char *path; /* the archive or directory to write (through a temp name and a rename);
                         NULL: the tar goes to out_fd */
    int out_fd;
} tug_save_opts;

/* Save the images named (references or IDs, as docker takes them): a name that is a tag puts
 * that tag in the archive, an ID none. A layer several images share is written once. */
int tug_save(tug_store *s, const char *const *names, size_t n, const tug_save_opts *opts,
             tug_error **err);

typedef struct tug_loaded_image {
    char *id;
    char **tags; /* full names: docker.io/library/busybox:latest */
    size_t n_tags;
    char **replaced; /* per tag: the image it named before, when another; else NULL */
} tug_loaded_image;

typedef struct tug_load_result {
    tug_loaded_image *images;
    size_t n;
} tug_load_result;

/* Load every image of the archive read from fd (a tar, plain or compressed). Each layer goes
 * through tug_store_add_layer with its content checked against the config's diff IDs and each
 * OCI blob against its name; a bad archive stores nothing. */
int tug_load(tug_store *s, int fd, tug_load_result *ret, tug_error **err);
void tug_load_result_clear(tug_load_result *r);

/* 1 when the tar in fd (plain or compressed) is an image archive (manifest.json with layer
 * files, or an OCI layout), else 0; fd is left at its start. For import's hint. */
int tug_image_archive_probe(int fd, tug_error **err);
