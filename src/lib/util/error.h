/* Errors are values: a message built up with context by each caller. */
#pragma once
#include <stdarg.h>

typedef enum {
    TUG_ERR_ENGINE = 0, /* a failure of tug or the host: exit 125 */
    TUG_ERR_USER,       /* bad input or a missing object: exit 1 */
} tug_error_kind;

/* What went wrong, for a front end that answers with a status of its own (tug serve's HTTP
 * codes); the CLI's exit status follows kind alone. */
typedef enum {
    TUG_ERR_R_NONE = 0,
    TUG_ERR_R_NOT_FOUND, /* no such container, image, network or volume: 404 */
    TUG_ERR_R_CONFLICT,  /* the object's state forbids it: 409 */
} tug_error_reason;

typedef struct tug_error {
    int errnum;          /* errno of the root cause, 0 if none */
    tug_error_kind kind;
    tug_error_reason reason;
    int status;          /* HTTP status of a registry answer, 0 if none */
    char *msg;
} tug_error;

/* Set *err (when err is not NULL) and return -1 (or -errnum when errnum > 0). */
int tug_error_set(tug_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, marked as the user's mistake (exit status 1). */
int tug_error_user(tug_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A user error naming an object that is not there (reason TUG_ERR_R_NOT_FOUND). */
int tug_error_not_found(tug_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A user error for an object whose state forbids the request (reason TUG_ERR_R_CONFLICT). */
int tug_error_conflict(tug_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the existing message with "context: "; returns the same negative value pattern. */
int tug_error_wrap(tug_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tug_error_free(tug_error *err);
void tug_error_freep(tug_error **err);
/* Drop an error the caller expected (like ENOENT). */
void tug_error_release(tug_error **err);
