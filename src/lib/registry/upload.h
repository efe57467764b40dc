/* Pushing to a registry: blobs (HEAD first, cross-repository mounts, monolithic or chunked
 * uploads that resume after a failure) and manifests. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

/* Ask tokens for push scope (and pull scope on from_repo, which may be NULL) from now on. */
int tug_registry_allow_push(tug_registry *reg, const char *from_repo, tug_error **err);

/* 1 when the registry has blob digest, 0 when it does not. */
int tug_registry_has_blob(tug_registry *reg, const char *digest, tug_error **err);

/* Mount blob digest from from_repo, another repository of the same registry: 1 when mounted,
 * 0 when the registry did not (then *ret_upload is the upload it opened instead, or NULL). */
int tug_registry_mount_blob(tug_registry *reg, const char *digest, const char *from_repo,
                            char **ret_upload, tug_error **err);

/* Upload the size bytes of fd as blob digest: in one PUT when small, else in chunks (PATCH).
 * upload (may be NULL) is an upload the registry opened already. A 5xx or a broken connection
 * is retried with backoff, a chunked upload resuming from what the registry says it holds. */
int tug_registry_put_blob(tug_registry *reg, const char *digest, int fd, long long size,
                          const char *upload, tug_progress_fn progress, void *userdata,
                          tug_error **err);

/* PUT the manifest body (len bytes of media_type) as tag; the registry must agree on its
 * digest. */
int tug_registry_put_manifest(tug_registry *reg, const char *tag, const char *body, size_t len,
                              const char *media_type, tug_error **err);
