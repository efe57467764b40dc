/* BuildKit's RUN mounts outside the executor: `tug build --secret` values, and the cache mounts
 * (type=cache) kept in the store between builds, under $ROOT/build-cache-mounts, one directory
 * per id (and more for sharing=private when one is in use), each with a lock file a step holds
 * while it uses the directory. */
#pragma once
#include <stdbool.h>

#include "../store/store.h"
#include "cache.h"
#include "../util/error.h"

typedef enum {
    TUG_SECRET_AUTO, /* neither src nor env: the variable named id if set, else the file id */
    TUG_SECRET_FILE,
    TUG_SECRET_ENV,
} tug_secret_kind;

/* --secret id=x,src=path | id=x,env=VAR | type=file|env,... (docker's forms). */
typedef struct tug_build_secret {
    char *id;
    tug_secret_kind kind;
    char *src; /* FILE: the path (relative to the cwd); ENV: the variable's name */
} tug_build_secret;

/* Pure: a --secret value; a user error naming the value for a bad one. */
int tug_build_secret_parse(const char *spec, tug_build_secret *ret, tug_error **err);
void tug_build_secret_clear(tug_build_secret *s);
/* The secret's bytes: 1 with *ret_data (free()), 0 when its source is not there (no file, no
 * variable), -1 with err for another failure (one over 500 KB, as BuildKit refuses). */
int tug_build_secret_read(const tug_build_secret *s, char **ret_data, size_t *ret_len,
                          tug_error **err);

/* Remove the cache mounts (those last used before until, unix seconds; 0: all) that no build
 * uses now; *ret_count and *ret_bytes say what went. */
int tug_build_cache_mounts_prune(tug_store *s, long long until, long long *ret_count,
                                 long long *ret_bytes, tug_error **err);
/* For system df: how many cache mounts there are and their size. */
int tug_build_cache_mounts_usage(tug_store *s, long long *ret_count, long long *ret_bytes,
                                 tug_error **err);

/* Append the cache mounts to *list (n entries, grown with realloc), for system df -v. */
int tug_build_cache_mounts_list(tug_store *s, tug_build_cache_entry **list, size_t *n,
                                tug_error **err);
