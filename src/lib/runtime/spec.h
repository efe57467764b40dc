/* The OCI runtime spec (config.json) of a container, built from the image and the flags. */
#pragma once
#include <jansson.h>

#include "../store/store.h"
#include "../util/error.h"

/* Annotations that carry what the OCI spec has no field for. */
#define TUG_ANN_LOWERDIRS "io.tug.overlay.lowerdirs" /* colon-separated, top first */
#define TUG_ANN_UPPERDIR "io.tug.overlay.upperdir"
#define TUG_ANN_WORKDIR "io.tug.overlay.workdir"
#define TUG_ANN_USER "io.tug.user"       /* "name[:group]" resolved inside the container */
#define TUG_ANN_SECCOMP "io.tug.seccomp" /* "default", "unconfined" or a profile path */
#define TUG_ANN_INIT "io.tug.init"       /* "1": run tug's init as PID 1 */
#define TUG_ANN_PRIVILEGED "io.tug.privileged" /* "1": the host's devices too */

/* Merge the image's config into docker's create request (Cmd, Entrypoint, Env, WorkingDir,
 * User, Labels, StopSignal, ExposedPorts, Volumes), as docker does at create. */
int tug_request_merge_image(json_t *request, json_t *image_config, tug_error **err);

/* Build the OCI spec for a container. lowerdirs are the image's layer dirs, bottom first. */
json_t *tug_spec_build(const char *id, json_t *request, const char *const *lowerdirs,
                       size_t n_lower, const char *ctr_dir, tug_error **err);
/* linux.resources of the spec from HostConfig's limits (create, and `update` rewriting it). */
json_t *tug_spec_resources(json_t *hc);
