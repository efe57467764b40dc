/* The OCI runtime spec (config.json) of a container, built from the image and the flags. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"

/* Annotations that carry what the OCI spec has no field for. */
#define TUG_ANN_LOWERDIRS "io.tug.overlay.lowerdirs" /* colon-separated, top first */
#define TUG_ANN_UPPERDIR "io.tug.overlay.upperdir"
#define TUG_ANN_WORKDIR "io.tug.overlay.workdir"
#define TUG_ANN_USER "io.tug.user"       /* "name[:group]" resolved inside the container */
#define TUG_ANN_SECCOMP "io.tug.seccomp" /* "default", "unconfined" or a profile path */
#define TUG_ANN_INIT "io.tug.init"       /* "1": run tug's init as PID 1 */
#define TUG_ANN_GROUPS "io.tug.groups" /* --group-add, comma-separated names or ids */
#define TUG_ANN_JOIN_PID "io.tug.join.pid" /* ID of the container whose PID namespace to join */
#define TUG_ANN_JOIN_IPC "io.tug.join.ipc" /* ... IPC namespace (and /dev/shm) */
#define TUG_ANN_PRIVILEGED "io.tug.privileged" /* "1": the host's devices too */

/* Merge the image's config into docker's create request (Cmd, Entrypoint, Env, WorkingDir,
 * User, Labels, StopSignal, ExposedPorts, Volumes), as docker does at create. */
int tug_request_merge_image(json_t *request, json_t *image_config, tug_error **err);

/* Build the OCI spec for a container. lowerdirs are the image's layer dirs, bottom first. */
json_t *tug_spec_build(const char *id, json_t *request, const char *const *lowerdirs,
                       size_t n_lower, const char *ctr_dir, tug_error **err);
/* The container's cgroup, relative to each hierarchy's root: "tug/<id>", or under
 * HostConfig.CgroupParent ("/a/b" or "a/b": "a/b/<id>"). asprintf's result. */
int tug_spec_cgroup_path(json_t *hc, const char *id, char **ret);
/* Whether the container gets a namespace of type ("pid", "ipc", "uts", "cgroup") of its own:
 * not with HostConfig's PidMode/IpcMode/UTSMode/CgroupnsMode "host" or "container:NAME". */
bool tug_spec_own_ns(json_t *hc, const char *type);
/* Add the HostConfig keys docker's inspect shows that hc lacks, with docker's defaults (an
 * older container's stored request, flags never given). */
void tug_spec_host_config_defaults(json_t *hc);
/* Whether every --device-*-bps/-iops path is a block device. */
int tug_spec_check_throttle(json_t *hc, tug_error **err);
/* linux.resources of the spec from HostConfig's limits (create, and `update` rewriting it). */
json_t *tug_spec_resources(json_t *hc);
