/* A client of the OCI distribution spec: manifests and blobs, with docker's auth flows. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../util/error.h"

/* Media types a pull accepts, in the Accept header order. */
#define TUG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define TUG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define TUG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define TUG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

typedef struct tug_registry_opts {
    /* Extra registries (host[:port]) reached over plain HTTP or unverified TLS. */
    const char *const *insecure_registries;
    /* docker's config.json with "auths"; NULL means $DOCKER_CONFIG/config.json or
     * ~/.docker/config.json. */
    const char *auth_config_path;
    /* Identifies tug in User-Agent. */
    const char *user_agent;
    /* Credentials to use instead of the stored ones (base64 "user:pass", what follows
     * "Authorization: Basic "), as tug serve gets them in X-Registry-Auth; NULL: the stored. */
    const char *basic;
} tug_registry_opts;

typedef struct tug_registry tug_registry;

/* Progress of a blob download: bytes on disk so far and the total (0 if unknown). */
typedef void (*tug_progress_fn)(void *userdata, long long done, long long total);

/* A handle on one repository of one registry. domain is the reference's domain
 * ("docker.io" is reached at registry-1.docker.io). Safe to use from several threads at once. */
int tug_registry_open(const char *domain, const char *repo, const tug_registry_opts *opts,
                      tug_registry **ret_reg, tug_error **err);
void tug_registry_free(tug_registry *reg);

/* Check credentials (basic: base64 "user:pass") against the registry at domain: GET /v2/ with
 * them, through basic auth or the token server's flow. A refusal is a user error with
 * err->status 401 (or the token server's 401/403). */
int tug_registry_check_login(const char *domain, const char *basic, const tug_registry_opts *opts,
                             tug_error **err);

/* GET a manifest by tag or digest with every media type above accepted. The body is returned
 * byte for byte as received (digests are over these bytes). *ret_media_type comes from
 * Content-Type, or the body's mediaType when the header is generic. On 404 the error is a user
 * error naming the reference ("manifest unknown"), with err->status set. */
int tug_registry_get_manifest(tug_registry *reg, const char *tag_or_digest, char **ret_body,
                              size_t *ret_len, char **ret_media_type, tug_error **err);

/* The repository's tags (GET /v2/<repo>/tags/list), in the registry's order, NULL-terminated.
 * A repository the registry does not know is a user error naming it. */
int tug_registry_list_tags(tug_registry *reg, char ***ret_tags, tug_error **err);

/* Download blob `digest` into the file `partial_path`, continuing from the bytes already
 * there (HTTP Range) when the registry allows it, and verify the digest over the whole file.
 * On success the file holds exactly the blob. On a digest mismatch the partial file is removed
 * and the error says so. expected_size < 0 when unknown. */
int tug_registry_get_blob(tug_registry *reg, const char *digest, long long expected_size,
                          const char *partial_path, tug_progress_fn progress, void *userdata,
                          tug_error **err);
