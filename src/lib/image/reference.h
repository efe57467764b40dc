/* Image references as docker parses them: "nginx" is docker.io/library/nginx:latest. */
#pragma once
#include <stdbool.h>

#include "../util/error.h"

typedef struct tug_reference {
    char *domain;       /* "docker.io", "127.0.0.1:5000", "localhost" */
    char *path;         /* "library/nginx", "ns/repo" */
    char *tag;          /* "latest"; NULL when only a digest was given */
    char *digest;       /* "sha256:<hex>" or NULL */
    bool tag_defaulted; /* no tag and no digest was written: tag is "latest" */
} tug_reference;

/* Parse a reference; with neither tag nor digest, tag becomes "latest" and tag_defaulted is set.
 * Errors are user errors whose message starts with "invalid reference format". */
int tug_reference_parse(const char *s, tug_reference **ret_ref, tug_error **err);
void tug_reference_free(tug_reference *ref);
void tug_reference_freep(tug_reference **ref);
#define cleanup_reference __attribute__((cleanup(tug_reference_freep)))

/* "docker.io/library/nginx" */
char *tug_reference_name(const tug_reference *ref);
/* "docker.io/library/nginx:latest", "host/r@sha256:..", or "name:tag@digest" when both. */
char *tug_reference_string(const tug_reference *ref);
/* The short form docker prints: "docker.io/library/nginx" -> "nginx", "docker.io/u/app" -> "u/app";
 * other domains are kept. Takes a full name (no tag). */
char *tug_familiar_name(const char *full_name);
/* The same of a full reference with its tag or digest: "docker.io/library/nginx:latest" ->
 * "nginx:latest", "h:5000/r@sha256:.." -> itself. */
char *tug_familiar_ref(const char *full_ref);
/* The host to talk to for a domain: docker.io -> registry-1.docker.io. */
const char *tug_registry_host(const char *domain);
/* True for a domain that is loopback (localhost, 127.0.0.0/8, [::1]) and thus plain HTTP. */
bool tug_domain_is_loopback(const char *domain);
