#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int make_error(tug_error **err, int errnum, tug_error_kind kind, const char *fmt,
                      va_list ap)
{
    if (err == NULL)
        return errnum > 0 ? -errnum : -1;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (msg != NULL && errnum > 0) {
        char *full = NULL;
        if (asprintf(&full, "%s: %s", msg, strerror(errnum)) >= 0) {
            free(msg);
            msg = full;
        }
    }
    tug_error *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        free(msg);
        return -ENOMEM;
    }
    e->errnum = errnum;
    e->kind = kind;
    e->msg = msg ? msg : strdup("out of memory");
    tug_error_free(*err);
    *err = e;
    return errnum > 0 ? -errnum : -1;
}

int tug_error_set(tug_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = make_error(err, errnum, TUG_ERR_ENGINE, fmt, ap);
    va_end(ap);
    return r;
}

int tug_error_user(tug_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = make_error(err, 0, TUG_ERR_USER, fmt, ap);
    va_end(ap);
    return r;
}

int tug_error_not_found(tug_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = make_error(err, 0, TUG_ERR_USER, fmt, ap);
    va_end(ap);
    if (err && *err)
        (*err)->reason = TUG_ERR_R_NOT_FOUND;
    return r;
}

int tug_error_conflict(tug_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = make_error(err, 0, TUG_ERR_USER, fmt, ap);
    va_end(ap);
    if (err && *err)
        (*err)->reason = TUG_ERR_R_CONFLICT;
    return r;
}

int tug_error_wrap(tug_error **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    tug_error *e = *err;
    char *ctx = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&ctx, fmt, ap);
    va_end(ap);
    if (n >= 0 && asprintf(&full, "%s: %s", ctx, e->msg) >= 0) {
        free(e->msg);
        e->msg = full;
    }
    free(ctx);
    return e->errnum > 0 ? -e->errnum : -1;
}

void tug_error_free(tug_error *err)
{
    if (err == NULL)
        return;
    free(err->msg);
    free(err);
}

void tug_error_freep(tug_error **err)
{
    if (err == NULL)
        return;
    tug_error_free(*err);
    *err = NULL;
}

void tug_error_release(tug_error **err)
{
    tug_error_freep(err);
}
