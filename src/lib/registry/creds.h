/* Registry credentials kept where docker keeps them: config.json's "auths" (base64 user:pass),
 * or a docker-credential-NAME helper named by "credHelpers" (per registry) or "credsStore". The
 * file is shared with docker: every key tug does not own is written back as it was read. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

/* docker's key for Docker Hub in config.json and in helpers */
#define TUG_CREDS_HUB_KEY "https://index.docker.io/v1/"

typedef struct tug_creds {
    char *username; /* NULL when nothing is stored */
    char *secret;
} tug_creds;

void tug_creds_clear(tug_creds *c);
#define cleanup_creds __attribute__((cleanup(tug_creds_clear)))

/* path when not NULL, else $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json; NULL
 * (and 0) when neither variable is set. */
int tug_creds_config_path(const char *path, char **ret_path, tug_error **err);

/* The key docker files a registry under: TUG_CREDS_HUB_KEY for Docker Hub (also for NULL, ""
 * and "docker.io"), otherwise host[:port] with any scheme and path dropped. */
char *tug_creds_key(const char *server);

/* Credentials for `server` (a reference's domain or a login's server) from the config file at
 * config_path (NULL: tug_creds_config_path's choice): its helper first when one is configured,
 * then "auths". A missing file means none. A helper that cannot run is an error naming it. */
int tug_creds_get(const char *config_path, const char *server, tug_creds *ret, tug_error **err);

/* Store credentials for `server` under tug_creds_key(server): through the registry's helper
 * (the file then keeps an empty entry, as docker's does), else base64 in "auths". The file is
 * written through a temp file and rename, mode 0600. *ret_helper (may be NULL) gets the
 * helper's name, or NULL when the secret went into the file itself. */
int tug_creds_store(const char *config_path, const char *server, const tug_creds *creds,
                    char **ret_helper, tug_error **err);

/* Erase what is stored for `server`: under its key and the spellings docker also tried
 * (the server as given, http:// and https:// before the host), in the file and its helper.
 * *ret_found says whether anything was there. */
int tug_creds_erase(const char *config_path, const char *server, bool *ret_found, tug_error **err);

/* The credentials for `domain` in the "auths" of the config.json text given (no helper). */
int tug_creds_find(const char *json, size_t len, const char *domain, tug_creds *ret,
                   tug_error **err);

/* base64 of "user:secret", what follows "Authorization: Basic "; NULL when out of memory. */
char *tug_creds_basic(const tug_creds *c);

/* The credentials of an X-Registry-Auth header (docker's clients to the Engine API: base64url
 * JSON with username and password, or auth) as *ret_basic (base64 "user:pass"); NULL when the
 * header is NULL, empty or says none ("{}"). A header that is not such a document is a user
 * error. */
int tug_creds_registry_auth(const char *header, char **ret_basic, tug_error **err);
