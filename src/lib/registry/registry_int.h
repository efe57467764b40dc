/* Internal to src/lib/registry: one request of any method through the registry handle's scheme
 * probe and auth dance, for the upload code (upload.c). */
#pragma once
#include <stdbool.h>

#include "registry.h"
#include "upload.h"

/* A request body: len bytes from data, or else from fd at offset. progress (may be NULL) is
 * told the bytes sent so far. */
typedef struct tug_reg_body {
    const char *data;
    int fd;
    long long offset;
    long long len;
    long long sent;
    tug_progress_fn progress;
    void *userdata;
} tug_reg_body;

/* What a request got back. */
typedef struct tug_reg_answer {
    long status;
    char *location;      /* an upload's next URL, or NULL */
    char *docker_digest; /* Docker-Content-Digest, or NULL */
    long long range_end; /* Range: 0-N's N, -1 when absent */
    char *error_text;    /* the registry's error body as text, or NULL */
} tug_reg_answer;
void tug_reg_answer_clear(tug_reg_answer *a);

/* method target (a URL or a path under /v2/) with the extra header lines (NULL-terminated, may
 * be NULL) and body (may be NULL). Any HTTP status but an unresolved 401 is an answer (0); a
 * broken connection is an error with status 0, a 401 an error with status 401. */
int tug_registry_send(tug_registry *reg, const char *method, const char *target,
                      const char *const *extra, tug_reg_body *body, tug_reg_answer *ret,
                      const char *what, tug_error **err);

/* An error for an answer that was not the one wanted: 5xx the registry's trouble, 401/403 and
 * other 4xx the user's, with err->status set. */
int tug_registry_answer_error(tug_registry *reg, const tug_reg_answer *a, const char *what,
                              tug_error **err);

/* The handle's registry host ("127.0.0.1:5000") and repository path. */
const char *tug_registry_repo(const tug_registry *reg);
