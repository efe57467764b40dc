/* Internal to src/lib/registry: parsing for registry auth (challenges, docker's config.json,
 * token answers), the insecure-registries list and registry error bodies. Pure functions, so
 * they can be unit tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

typedef enum {
    TUG_AUTH_NONE = 0,
    TUG_AUTH_BASIC,
    TUG_AUTH_BEARER,
} tug_auth_scheme;

typedef struct tug_auth_challenge {
    tug_auth_scheme scheme;
    char *realm;
    char *service; /* NULL when absent */
    char *scope;   /* NULL when absent */
} tug_auth_challenge;

/* Parse a WWW-Authenticate value (several challenges may be listed); Bearer is preferred over
 * Basic. An unknown or malformed header gives scheme TUG_AUTH_NONE and returns 0. */
int tug_auth_parse_challenge(const char *header, tug_auth_challenge *ret, tug_error **err);
void tug_auth_challenge_clear(tug_auth_challenge *c);

/* Credentials for `domain` from the text of a docker config.json: *ret_basic is the base64
 * "user:pass" that goes after "Authorization: Basic ", or NULL when none is stored. */
int tug_auth_find_credentials(const char *json, size_t len, const char *domain, char **ret_basic,
                              tug_error **err);
/* The same, read from `path`, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
 * A missing file means no credentials. */
int tug_auth_load_credentials(const char *path, const char *domain, char **ret_basic,
                              tug_error **err);

/* realm?service=..&scope=..&scope=.. with the values percent-encoded; service may be NULL and
 * scopes is a NULL-terminated list (or NULL). */
char *tug_auth_token_url(const char *realm, const char *service, const char *const *scopes);
/* The scopes a token is asked for: "repository:REPO:pull" (",push" added with push; none when
 * REPO is NULL, as for a login), each of pull_repos (NULL-terminated, may be NULL) as
 * "repository:X:pull", then every scope of the challenge (space separated, may be NULL).
 * NULL-terminated, each string and the array freed (cleanup_strv). NULL when out of memory. */
char **tug_auth_scopes(const char *repo, bool push, const char *const *pull_repos,
                       const char *challenge_scope);
/* The token from a token server's JSON answer ("token" or "access_token"). */
int tug_auth_parse_token(const char *body, size_t len, char **ret_token, tug_error **err);

/* "blob unknown: blob unknown to registry" from {"errors":[{"code":..,"message":..}]} (or a
 * token server's "details"/"error_description"); NULL when the body says nothing usable. */
char *tug_registry_error_text(const char *body, size_t len);

/* Is `domain` named in `list` (NULL-terminated, may be NULL) or in the comma-separated
 * `env_list` (TUG_INSECURE_REGISTRIES, may be NULL)? Entries are "host", "host:port" or a URL. */
bool tug_auth_insecure(const char *domain, const char *const *list, const char *env_list);
