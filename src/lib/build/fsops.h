/* Filesystem steps inside a stage's rootfs (run by tug_step_in_rootfs in its own mount
 * namespace): COPY and ADD's writing, WORKDIR's mkdir. Every path inside the rootfs is resolved
 * with RESOLVE_IN_ROOT, so an image's symlinks lead nowhere outside it. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../util/error.h"
#include "context.h"

/* A file that is not in the context: a heredoc, or a downloaded ADD. */
typedef struct tug_fs_inline {
    const char *name; /* the file's name */
    const char *data; /* its content (heredoc), or NULL with fd */
    int fd;           /* a file to copy from (downloaded), -1 with data */
    mode_t mode;
    long long mtime;
} tug_fs_inline;

typedef struct tug_fs_copy {
    tug_build_context *ctx;          /* the context the sources are in (NULL: from_root) */
    const tug_copy_sources *sources; /* resolved context sources */
    int from_root;                   /* COPY --from: an O_PATH fd of the other rootfs, -1 */
    const tug_fs_inline *inlines;    /* heredocs, downloads */
    size_t n_inlines;
    const char *dest;                /* absolute in the rootfs (WORKDIR already applied) */
    bool dest_is_dir;                /* it ends in '/', or several sources: a directory */
    const char *chown;               /* "user[:group]" or NULL: 0:0 */
    long long chmod;                 /* -1: keep the sources' modes */
    bool unpack;                     /* ADD: a local archive is unpacked into dest */
} tug_fs_copy;

/* Copy into the rootfs at rootfd. User errors for what docker refuses (a destination that is not
 * a directory for several sources, an unknown --chown user). */
int tug_fs_copy_run(int rootfd, const tug_fs_copy *c, tug_error **err);

/* COPY --from: paths in c->from_root (an O_PATH fd of the other rootfs) copied into the rootfs
 * at rootfd the same way. */
int tug_fs_copy_from(int rootfd, const tug_fs_copy *c, const char *const *paths, size_t n,
                     tug_error **err);

/* mkdir -p path (absolute in the rootfs), owned by uid:gid, 0755; *ret_made says whether
 * anything was created. */
int tug_fs_mkdir(int rootfd, const char *path, uid_t uid, gid_t gid, bool *ret_made,
                 tug_error **err);

/* "user[:group]" to ids by the rootfs's /etc/passwd and /etc/group (numbers as they are). */
int tug_fs_resolve_owner(int rootfd, const char *spec, uid_t *ret_uid, gid_t *ret_gid,
                         tug_error **err);
