/* tug login / logout: credentials checked against the registry, then kept where docker keeps
 * them (creds.h). */
#pragma once
#include <stdbool.h>

#include "../util/error.h"
#include "registry.h"

typedef struct tug_login_opts {
    const char *server; /* NULL or "": Docker Hub; else host[:port], a URL allowed */
    const char *username;
    const char *password;
    const tug_registry_opts *registry; /* its auth_config_path names the config file */
} tug_login_opts;

typedef struct tug_login_result {
    char *key;         /* what the credentials are filed under (docker's key) */
    char *helper;      /* the credential helper that holds them, or NULL: the file itself */
    char *config_path; /* the config file */
} tug_login_result;

void tug_login_result_clear(tug_login_result *r);

/* Check the credentials against the server, then store them; nothing is written when the
 * registry refuses them (a user error naming the server). */
int tug_login(const tug_login_opts *opts, tug_login_result *ret, tug_error **err);

/* Erase the server's credentials; *ret_key is its key, *ret_found whether any were stored. */
int tug_logout(const char *server, const char *config_path, char **ret_key, bool *ret_found,
               tug_error **err);
