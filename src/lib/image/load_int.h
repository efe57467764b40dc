/* Shared by load.c (spooling the archive, unpacking, recording) and load_docs.c (reading
 * manifest.json, index.json and configs); not an API. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../store/store.h"
#include "../store/unpack.h"
#include "../util/digest.h"
#include "../util/error.h"

#define MAX_ENTRIES 10000
#define MAX_JSON_BYTES TUG_CONFIG_MAX_BYTES /* manifest.json, index.json, manifests, configs */
#define MAX_LINK_HOPS 8
#define MAX_INDEX_DEPTH 4

typedef struct entry {
    char *name; /* cleaned: "blobs/sha256/<hex>", "<id>/layer.tar" */
    char *file; /* the spooled copy; NULL for a link */
    char *link; /* a symlink's or hard link's target, cleaned */
    long long size;
    char digest[TUG_DIGEST_LEN + 1];
    bool stored; /* the file went into the blob store */
} entry;

typedef struct load_layer {
    entry *e;
    char *name; /* docker-archive: the path manifest.json gives, cleaned; e is found by it */
    char diff_id[TUG_DIGEST_LEN + 1];
    char chain[TUG_DIGEST_LEN + 1];
    char *media_type;
    bool stream_tried;
    char *tmp; /* unpacked while the archive was read, not committed yet */
    tug_unpack_result res;
} load_layer;

typedef struct load_image {
    char id[TUG_DIGEST_LEN + 1];
    char *config_raw;
    json_t *config;
    load_layer *layers;
    size_t n_layers;
    char **tags;
    char **replaced; /* per tag, filled when the tags are recorded */
    size_t n_tags;
    entry *manifest; /* OCI: the manifest blob, kept for push and save */
    char *manifest_mt;
    tug_image row; /* what is recorded, pointing into this struct */
    tug_image_layer *rows;
    char *chains;
} load_image;

typedef struct loader {
    tug_store *s;
    char *dir;
    entry *v;
    size_t n;
    load_image *images;
    size_t n_images;
    size_t manifest_json; /* its entry + 1 (entries move as they grow), 0 before it came */
    bool planned;
    int plan_tries;
} loader;

/* A name inside the archive, relative to base (a directory name, "" for the top): "." and
 * empty parts dropped, ".." taken back; NULL when it is absolute or leaves the archive. */
char *ld_clean_name(const char *base, const char *raw);
/* The entry of that name, links followed (within the archive); NULL when there is none. */
entry *ld_find_entry(loader *l, const char *name);
/* The entry a document (doc) names, or a user error saying which document named what. */
int ld_named_entry(loader *l, const char *doc, const char *name, entry **ret, tug_error **err);
/* A spooled entry's bytes, refused when it is larger than max. */
int ld_read_entry(const entry *e, size_t max, char **ret_data, size_t *ret_len, tug_error **err);
/* The images manifest.json (me) lists, their configs read and checked, their layers by name. */
int ld_read_docker(loader *l, const entry *me, tug_error **err);
/* The images index.json (ie) lists, down to this machine's platform, blobs checked. */
int ld_read_oci(loader *l, const entry *ie, tug_error **err);
/* manifest.json's layer names to entries, once the whole archive is spooled. */
int ld_resolve_layers(loader *l, tug_error **err);
/* manifest.json read as soon as it and its configs are spooled (0 while they are not): the
 * layers after it are unpacked as they come. */
int ld_plan(loader *l, tug_error **err);
