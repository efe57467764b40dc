/* The store: blobs by digest, unpacked layers by chain ID, and the metadata database. */
#pragma once
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

typedef struct tug_store {
    char *root;
    sqlite3 *db;
    int layer_format; /* tug_layer_format + 1 once read (layerfs.c), 0 before */
    /* Collection leaves the unlinking of what it took away (big files: a layer's image, its
     * blob) to a child process that holds the collection lock until it is done, so the command
     * returns first; set by the CLI for rmi and prune. */
    bool gc_detach;
} tug_store;

typedef struct tug_image_layer {
    char *chain_id;
    char *diff_id;
    char *blob_digest; /* compressed blob as pulled or imported */
    char *media_type;
    long long blob_size;
    long long size; /* unpacked size */
} tug_image_layer;

typedef struct tug_image {
    char *id; /* config digest "sha256:..." */
    json_t *config;
    char *config_raw; /* the config bytes exactly as stored */
    /* A config stored before tug checked them whose bad fields were taken out of config
     * (imgconfig.h): the first problem. Such an image runs no container. */
    char *config_error;
    char *manifest_digest;
    char *manifest_media_type;
    long long created; /* unix seconds from the config */
    long long added;   /* when stored */
    long long size;    /* sum of layer sizes */
    char **tags;       /* full names: docker.io/library/nginx:latest */
    size_t n_tags;
    char **digests;    /* full names: docker.io/library/nginx@sha256:... */
    size_t n_digests;
    tug_image_layer *layers;
    size_t n_layers;
} tug_image;

/* Open (creating if needed) the store at root; repairs nothing, checks the schema. */
int tug_store_open(const char *root, tug_store **ret_store, tug_error **err);
void tug_store_close(tug_store *s);
void tug_store_closep(tug_store **s);
/* Close the database connection for a while, and open it again: a process about to fork
 * workers that use the store closes it first, as SQLite's connections and locks must not be
 * carried across fork; each worker then opens its own. */
int tug_store_disconnect(tug_store *s, tug_error **err);
int tug_store_reconnect(tug_store *s, tug_error **err);
#define cleanup_store __attribute__((cleanup(tug_store_closep)))
/* The default root: $TUG_ROOT or /var/lib/tug. */
const char *tug_store_default_root(void);

/* Transactions (BEGIN IMMEDIATE so writers queue instead of failing). */
int tug_store_begin(tug_store *s, tug_error **err);
int tug_store_commit(tug_store *s, tug_error **err);
void tug_store_rollback(tug_store *s);
int tug_store_exec(tug_store *s, const char *sql, tug_error **err);

/* Blobs */
char *tug_store_blob_path(tug_store *s, const char *digest);
bool tug_store_has_blob(tug_store *s, const char *digest);
/* Where a download of digest goes while incomplete (kept across crashes for resume). */
char *tug_store_ingest_path(tug_store *s, const char *digest);
/* Move a verified file into the blob store. */
int tug_store_commit_blob_file(tug_store *s, const char *path, const char *digest,
                               tug_error **err);
int tug_store_put_blob(tug_store *s, const char *digest, const void *data, size_t len,
                       tug_error **err);

/* Layers */
bool tug_store_has_layer(tug_store *s, const char *chain_id);
/* The unpacked size recorded for a layer, 0 when unknown. */
long long tug_store_layer_size(tug_store *s, const char *chain_id);
/* Where a layer's files are read: layers/<hex>/diff of a directory layer, the mount point of an
 * EROFS layer (<run>/layers/<hex>; tug_store_layer_dir_ready mounts it). */
char *tug_store_layer_dir(tug_store *s, const char *chain_id);
/* Whether the layer (by the hex of its chain ID) is an EROFS image (layerfs.c). */
bool tug_store_layer_is_image(tug_store *s, const char *hex);
/* The store's directory of runtime state: /run/tug/<16 hex of the root's digest>, gone after a
 * reboot. Its layers/<hex> are where EROFS layers are mounted. */
char *tug_store_run_dir(tug_store *s);
/* <run>/FMT..., formatted; NULL when out of memory. */
char *tug_store_run_path(tug_store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Make <run>SUB (SUB "" or "/..."), and the run directory's mark naming the store's root
 * ("root"), by which `system check` of any store tells the run directory of a store that is
 * gone: its containers' state and its layers' mounts. */
#define TUG_RUN_ROOT_FILE "root"
int tug_store_run_dir_make(tug_store *s, const char *sub, tug_error **err);
/* A fresh private directory to unpack into; *ret_dir is its diff/ subdirectory. */
int tug_store_layer_tmp(tug_store *s, char **ret_tmp, char **ret_dir, tug_error **err);
/* Remove what writers that died (kill -9) left: unpack dirs and import spools named after a
 * pid that no longer runs. Pull and import call it. */
void tug_store_sweep_dead(tug_store *s);
/* True for a name PREFIX<pid>-... whose writer (pid) is dead. */
bool tug_store_dead_writer(const char *name, const char *prefix);
/* Remove the entries of $ROOT/sub named PREFIX<pid>-... whose writer (pid) is dead. */
void tug_store_sweep_dir(tug_store *s, const char *sub, const char *prefix);
/* Move an unpacked tmp dir into place and record the layer (idempotent). */
int tug_store_commit_layer(tug_store *s, const char *tmp, const char *chain_id,
                           const char *diff_id, long long size, tug_error **err);
/* chain(n) = sha256(chain(n-1) + " " + diff_id(n)) */
void tug_chain_id(const char *parent_chain, const char *diff_id, char out[72]);

/* Images */
int tug_store_add_image(tug_store *s, tug_image *img, tug_error **err);
/* Resolve a full ID, "sha256:" prefix, short ID prefix or reference. User error "No such image". */
int tug_store_find_image(tug_store *s, const char *what, tug_image **ret_img, tug_error **err);
int tug_store_load_image(tug_store *s, const char *id, tug_image **ret_img, tug_error **err);
/* Every image with its tags and digests, newest first; layers are not loaded. */
int tug_store_list_images(tug_store *s, tug_image ***ret_imgs, size_t *ret_n, tug_error **err);
/* Point a tag (full name:tag) at an image; returns 1 if the tag moved from another image. */
int tug_store_set_tag(tug_store *s, const char *tag, const char *image_id, tug_error **err);
int tug_store_add_digest_ref(tug_store *s, const char *ref, const char *image_id, tug_error **err);
int tug_store_remove_digest_ref(tug_store *s, const char *ref, tug_error **err);
int tug_store_remove_tag(tug_store *s, const char *tag, tug_error **err);
/* Image id of a tag or NULL. */
char *tug_store_tag_image(tug_store *s, const char *tag);
/* Remove an image's row (tags and digests included). Call tug_store_gc after. */
int tug_store_remove_image(tug_store *s, const char *id, tug_error **err);
/* Names of the containers using an image (filled by the container layer later). */
int tug_store_image_users(tug_store *s, const char *id, char ***ret_names, tug_error **err);
void tug_image_free(tug_image *img);
void tug_image_freep(tug_image **img);
void tug_images_free(tug_image **imgs, size_t n);
#define cleanup_image __attribute__((cleanup(tug_image_freep)))

/* Where blobs were pulled from or pushed to (blobsrc.c): repositories of a registry (its
 * domain, "127.0.0.1:5000") that hold blob digest, for cross-repository mounts. */
int tug_store_note_blob_source(tug_store *s, const char *digest, const char *registry,
                               const char *repo, tug_error **err);
/* The repositories of registry known to hold digest, most recent first, NULL-terminated
 * (cleanup_strv); an empty list when none is known. */
int tug_store_blob_sources(tug_store *s, const char *digest, const char *registry,
                           char ***ret_repos, tug_error **err);
/* Layer idx of an image now has the compressed blob digest (made once for a push). */
int tug_store_set_layer_blob(tug_store *s, const char *image_id, size_t idx, const char *digest,
                             const char *media_type, long long size, tug_error **err);
/* The manifest an image was pushed with, when it had none (built, imported, committed). */
int tug_store_set_image_manifest(tug_store *s, const char *image_id, const char *digest,
                                 const char *media_type, tug_error **err);

/* Garbage collection: drop layers and blobs no image references. ret_layers lists the chain IDs
 * removed (may be NULL). */
int tug_store_gc(tug_store *s, char ***ret_layers, tug_error **err);

/* Consistency check and repair of crash leftovers. */
typedef struct tug_check_report {
    int temp_removed;       /* interrupted unpacks and writes */
    int orphan_layers;      /* layer dirs with no record */
    int missing_layers;     /* records whose directory is gone */
    int unused_blobs;       /* complete blobs no image uses (kept for the next pull) */
    int unused_layers;      /* complete layers no image uses */
    long long unused_bytes;
    int broken_images;      /* images whose layers are gone (removed) */
    int partial_downloads;  /* kept to resume a pull */
    long long partial_bytes;
    char *details;          /* one line per finding */
} tug_check_report;
int tug_store_check(tug_store *s, bool repair, tug_check_report *ret, tug_error **err);
void tug_check_report_clear(tug_check_report *r);

/* Disk usage summary. */
typedef struct tug_df {
    long long images, images_active, images_size, images_reclaimable;
    long long containers, containers_active, containers_size, containers_reclaimable;
} tug_df;
int tug_store_df(tug_store *s, tug_df *ret, tug_error **err);
/* Bytes container id wrote: its upper directory (docker's SizeRw); 0 when unreadable. */
long long tug_store_container_size_rw(tug_store *s, const char *id);

/* Writers that add files before their rows exist (pull, import) hold the shared lock, so that
 * garbage collection (exclusive) never takes their files for leftovers. Returns an fd to close. */
int tug_store_lock_shared(tug_store *s, tug_error **err);
/* Exclusive; with wait false returns -EWOULDBLOCK (no error set) when a writer is busy. */
int tug_store_lock_exclusive(tug_store *s, bool wait, tug_error **err);
