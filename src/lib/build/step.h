/* A build step's work on a stage's filesystem: a command run in a container of tug's own runtime
 * (RUN), or a function of the builder's run in a private view of the rootfs (COPY, ADD, WORKDIR).
 * Either way the changes land in an upper dir that becomes the step's layer as it is. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../store/store.h"
#include "../util/error.h"

/* The stage's layers with an upper dir over them. */
typedef struct tug_step_rootfs {
    char **lowerdirs;     /* layer diff dirs, bottom first; none for FROM scratch */
    size_t n_lower;
    const char *tmp;      /* a tug_store_layer_tmp directory: scratch space of the step */
    const char *upperdir; /* its diff/ subdirectory, where the changes go */
} tug_step_rootfs;

/* Output of a RUN, as it comes: stream 1 or 2. */
typedef void (*tug_step_output_fn)(void *userdata, int stream, const char *buf, size_t len);

typedef struct tug_step_cmd {
    char **argv;
    char **env;           /* K=V: the stage's ENV and the build args in use */
    const char *user;     /* "" or NULL: root */
    const char *cwd;      /* absolute */
    const char *network;  /* "default" (tug's bridge), "none" or "host" */
    json_t *extra_hosts;  /* --add-host's ["name:ip", ...] or NULL */
    json_t *mounts;       /* RUN --mount: more OCI mounts for the container, or NULL */
    tug_step_output_fn output;
    void *userdata;
    int cancel_fd;        /* > 0: once readable or hung up, the command is killed (exit 137) */
} tug_step_cmd;

/* Run cmd over fs with the isolation of `tug run`. *ret_status is the command's exit status
 * (128+N for a signal); -1 with err when it could not run. Nothing of it is left but its
 * changes in fs->upperdir: no container record, cgroup, mount, address or link; the mount
 * points the runtime made where the image had nothing are taken out of the changes again. */
int tug_step_run(tug_store *s, const tug_step_rootfs *fs, const tug_step_cmd *cmd,
                 int *ret_status, tug_error **err);

/* Run fn in a child process that has the rootfs mounted in a mount namespace of its own;
 * rootfd is an O_PATH fd of its root, paths in it to be resolved with RESOLVE_IN_ROOT. fn's
 * error comes back as this call's. */
typedef int (*tug_step_fs_fn)(int rootfd, void *userdata, tug_error **err);
int tug_step_in_rootfs(const tug_step_rootfs *fs, tug_step_fs_fn fn, void *userdata,
                       tug_error **err);

/* Remove what the step left beside its diff (work dir, links, scratch), so that the tmp
 * directory is a layer to commit. */
int tug_step_finish(const tug_step_rootfs *fs, tug_error **err);
