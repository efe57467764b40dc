/* A container's filesystem as docker shows it: its changes (diff), a new image of them
 * (commit), and the whole tree as a tar (export). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../runtime/container.h"
#include "../store/store.h"
#include "../util/error.h"

/* A container's layers: the image's, its upper dir, and the mount stubs in it that are no
 * change of the container's (tug_mount_stubs of the runtime's own mount points; the mount
 * points of -v and --mount stay, as docker commits them). */
typedef struct tug_ctr_fs {
    tug_container *c;
    tug_image *img;
    char **lowers; /* layer dirs, bottom first, NULL-terminated */
    size_t n_lower;
    char *upper;
    char **stubs; /* relative to upper */
} tug_ctr_fs;

/* Find the container (what: ID, prefix or name; "No such container: X") and its layers. */
int tug_ctr_fs_open(tug_store *s, const char *what, tug_ctr_fs *ret, tug_error **err);
void tug_ctr_fs_clear(tug_ctr_fs *f);

/* ---- commit (commit.c) ---- */

typedef struct tug_commit_opts {
    const char *author;   /* -a: the config's and the history entry's author; NULL for none */
    const char *message;  /* -m: the history entry's comment */
    const char **changes; /* -c: tug_config_apply_change's instructions, NULL-terminated */
    bool pause;           /* freeze a running container while its upper dir is read */
    const char *tag;      /* full "name:tag" or NULL */
} tug_commit_opts;

/* The container's changes as one layer (none when there are none) on its image's, with its
 * config and the changes applied, as `docker commit` makes it. *ret_image_id: "sha256:...". */
int tug_container_commit(tug_store *s, const char *what, const tug_commit_opts *o,
                         char **ret_image_id, tug_error **err);

/* ---- diff (changes.c) ---- */

typedef struct tug_change {
    char kind;  /* 'A' added, 'C' changed, 'D' deleted */
    char *path; /* absolute */
} tug_change;

/* docker's list of changes of the container's filesystem to its image's, in the order of a walk
 * of the upper dir (each directory's names in byte order, a directory before what it holds). */
int tug_container_changes(tug_store *s, const char *what, tug_change **ret, size_t *ret_n,
                          tug_error **err);
void tug_changes_free(tug_change *v, size_t n);

/* ---- export (export.c) ---- */

/* The container's whole filesystem (its image's layers with its changes on them; not its
 * volumes nor anything else mounted in it) as a tar written to out. */
int tug_container_export(tug_store *s, const char *what, int out, tug_error **err);
