/* Pushing blobs and manifests (the distribution spec's upload protocol). */
#include "upload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/cleanup.h"
#include "../util/digest.h"
#include "registry_int.h"

#define UPLOAD_ATTEMPTS 5
#define BACKOFF_MS 250
#define DEFAULT_CHUNK (32LL << 20)

static void answer_clearp(tug_reg_answer *a)
{
    tug_reg_answer_clear(a);
}
#define cleanup_answer __attribute__((cleanup(answer_clearp)))

/* Worth another try: the registry's 5xx or a connection that broke (not one refused). */
static bool transient(const tug_error *e)
{
    return e != NULL && (e->status >= 500 ||
                         (e->status == 0 && e->errnum != ECONNREFUSED && e->errnum != ENOMEM));
}

static void backoff(int attempt)
{
    long ms = (long)BACKOFF_MS << attempt;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Bytes per PATCH, and the largest blob sent in one PUT ($TUG_PUSH_CHUNK_SIZE for tests). */
static long long chunk_size(void)
{
    const char *e = getenv("TUG_PUSH_CHUNK_SIZE");
    long long v = e ? strtoll(e, NULL, 10) : 0;
    return v > 0 ? v : DEFAULT_CHUNK;
}

int tug_registry_has_blob(tug_registry *reg, const char *digest, tug_error **err)
{
    cleanup_free char *path = NULL, *what = NULL;
    if (asprintf(&path, "%s/blobs/%s", tug_registry_repo(reg), digest) < 0 ||
        asprintf(&what, "check blob %.19s", digest) < 0)
        return tug_error_set(err, ENOMEM, "check blob");
    cleanup_answer tug_reg_answer a = {0};
    for (int attempt = 0;; attempt++) {
        cleanup_error tug_error *e = NULL;
        if (tug_registry_send(reg, "HEAD", path, NULL, NULL, &a, what, &e) == 0) {
            if (a.status == 200)
                return 1;
            if (a.status == 404)
                return 0;
            tug_registry_answer_error(reg, &a, what, &e);
        }
        if (!transient(e) || attempt + 1 == UPLOAD_ATTEMPTS) {
            *err = steal_pointer(&e);
            return -1;
        }
        backoff(attempt);
    }
}

/* POST to uploads/ (with a query or none): the answer as it is. */
static int post_upload(tug_registry *reg, const char *query, tug_reg_answer *a, const char *what,
                       tug_error **err)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/blobs/uploads/%s", tug_registry_repo(reg), query) < 0)
        return tug_error_set(err, ENOMEM, "%s", what);
    return tug_registry_send(reg, "POST", path, NULL, NULL, a, what, err);
}

int tug_registry_mount_blob(tug_registry *reg, const char *digest, const char *from_repo,
                            char **ret_upload, tug_error **err)
{
    *ret_upload = NULL;
    cleanup_free char *query = NULL, *what = NULL;
    if (asprintf(&query, "?mount=%s&from=%s", digest, from_repo) < 0 ||
        asprintf(&what, "mount blob %.19s from %s", digest, from_repo) < 0)
        return tug_error_set(err, ENOMEM, "mount blob");
    if (tug_registry_allow_push(reg, from_repo, err) < 0)
        return -1;
    cleanup_answer tug_reg_answer a = {0};
    if (post_upload(reg, query, &a, what, err) < 0)
        return -1;
    if (a.status == 201)
        return 1;
    if (a.status == 202) {
        *ret_upload = steal_pointer(&a.location);
        return 0;
    }
    return tug_registry_answer_error(reg, &a, what, err);
}

/* Open an upload: its URL. */
static int start_upload(tug_registry *reg, char **ret_loc, const char *what, tug_error **err)
{
    cleanup_answer tug_reg_answer a = {0};
    if (post_upload(reg, "", &a, what, err) < 0)
        return -1;
    if (a.status != 202 || a.location == NULL)
        return tug_registry_answer_error(reg, &a, what, err);
    *ret_loc = steal_pointer(&a.location);
    return 0;
}

/* loc with "digest=" added to its query. */
static char *with_digest(const char *loc, const char *digest)
{
    char *out = NULL;
    const char *colon = strchr(digest, ':');
    if (asprintf(&out, "%s%cdigest=%.*s%%3A%s", loc, strchr(loc, '?') ? '&' : '?',
                 (int)(colon - digest), digest, colon + 1) < 0)
        return NULL;
    return out;
}

typedef struct sent_progress {
    tug_progress_fn fn;
    void *userdata;
    long long base, total;
} sent_progress;

static void on_sent(void *ud, long long done, long long total)
{
    sent_progress *p = ud;
    (void)total;
    if (p->fn)
        p->fn(p->userdata, p->base + done, p->total);
}

/* One request of the upload with a part of the blob as its body; the answer in a. */
static int send_part(tug_registry *reg, const char *method, const char *url, int fd,
                     long long offset, long long len, sent_progress *sp, tug_reg_answer *a,
                     const char *what, tug_error **err)
{
    char range[64];
    snprintf(range, sizeof(range), "Content-Range: %lld-%lld", offset, offset + len - 1);
    const char *extra[] = {"Content-Type: application/octet-stream",
                           "Expect:", len > 0 && strcmp(method, "PATCH") == 0 ? range : NULL, NULL};
    sp->base = offset;
    tug_reg_body body = {
        .fd = fd, .offset = offset, .len = len, .progress = on_sent, .userdata = sp};
    return tug_registry_send(reg, method, url, extra, len > 0 ? &body : NULL, a, what, err);
}

/* Where an upload stands after a failure: *loc and *offset from the registry's answer, or loc
 * NULL when the upload is gone (start over). */
static int upload_status(tug_registry *reg, char **loc, long long *offset, const char *what,
                         tug_error **err)
{
    cleanup_answer tug_reg_answer a = {0};
    if (tug_registry_send(reg, "GET", *loc, NULL, NULL, &a, what, err) < 0)
        return -1;
    if (a.status == 204) {
        if (a.location != NULL) {
            free(*loc);
            *loc = steal_pointer(&a.location);
        }
        /* an empty upload says "0-0" too: one byte held is taken for none */
        *offset = a.range_end > 0 ? a.range_end + 1 : 0;
        return 0;
    }
    free(*loc);
    *loc = NULL;
    *offset = 0;
    return 0;
}

/* The upload from *offset on: PATCHes (or nothing, when small) then the closing PUT. *loc and
 * *offset move along with what the registry took. */
static int upload_from(tug_registry *reg, const char *digest, int fd, long long size, char **loc,
                       long long *offset, sent_progress *sp, const char *what, tug_error **err)
{
    long long chunk = chunk_size();
    bool whole = size <= chunk && *offset == 0;
    while (!whole && *offset < size) {
        long long len = size - *offset < chunk ? size - *offset : chunk;
        cleanup_answer tug_reg_answer a = {0};
        if (send_part(reg, "PATCH", *loc, fd, *offset, len, sp, &a, what, err) < 0)
            return -1;
        if (a.status != 202)
            return tug_registry_answer_error(reg, &a, what, err);
        if (a.location != NULL) {
            free(*loc);
            *loc = steal_pointer(&a.location);
        }
        *offset = a.range_end >= 0 ? a.range_end + 1 : *offset + len;
    }
    cleanup_free char *url = with_digest(*loc, digest);
    if (url == NULL)
        return tug_error_set(err, ENOMEM, "%s", what);
    cleanup_answer tug_reg_answer a = {0};
    if (send_part(reg, "PUT", url, fd, 0, whole ? size : 0, sp, &a, what, err) < 0)
        return -1;
    if (a.status != 201)
        return tug_registry_answer_error(reg, &a, what, err);
    if (a.docker_digest != NULL && strcmp(a.docker_digest, digest) != 0)
        return tug_error_set(err, 0, "%s: the registry stored it as %s", what, a.docker_digest);
    return 0;
}

int tug_registry_put_blob(tug_registry *reg, const char *digest, int fd, long long size,
                          const char *upload, tug_progress_fn progress, void *userdata,
                          tug_error **err)
{
    cleanup_free char *what = NULL;
    if (asprintf(&what, "upload blob %.19s", digest) < 0)
        return tug_error_set(err, ENOMEM, "upload blob");
    cleanup_free char *loc = upload ? strdup(upload) : NULL;
    long long offset = 0;
    sent_progress sp = {.fn = progress, .userdata = userdata, .total = size};
    for (int attempt = 0;; attempt++) {
        cleanup_error tug_error *e = NULL;
        if ((loc != NULL || start_upload(reg, &loc, what, &e) == 0) &&
            upload_from(reg, digest, fd, size, &loc, &offset, &sp, what, &e) == 0)
            return 0;
        if (!transient(e) || attempt + 1 == UPLOAD_ATTEMPTS) {
            *err = steal_pointer(&e);
            return -1;
        }
        backoff(attempt);
        /* a chunked upload goes on from what the registry holds; a single PUT starts over */
        if (loc != NULL && size > chunk_size()) {
            cleanup_error tug_error *ignored = NULL;
            if (upload_status(reg, &loc, &offset, what, &ignored) < 0) {
                free(loc);
                loc = NULL;
                offset = 0;
            }
        } else {
            free(loc);
            loc = NULL;
        }
    }
}

int tug_registry_put_manifest(tug_registry *reg, const char *tag, const char *body, size_t len,
                              const char *media_type, tug_error **err)
{
    cleanup_free char *path = NULL, *what = NULL, *ctype = NULL;
    if (asprintf(&path, "%s/manifests/%s", tug_registry_repo(reg), tag) < 0 ||
        asprintf(&what, "put manifest %s", tag) < 0 ||
        asprintf(&ctype, "Content-Type: %s", media_type) < 0)
        return tug_error_set(err, ENOMEM, "put manifest");
    char digest[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(body, len, digest);
    const char *extra[] = {ctype, "Expect:", NULL};
    for (int attempt = 0;; attempt++) {
        cleanup_error tug_error *e = NULL;
        cleanup_answer tug_reg_answer a = {0};
        tug_reg_body b = {.data = body, .len = (long long)len};
        if (tug_registry_send(reg, "PUT", path, extra, &b, &a, what, &e) == 0) {
            if (a.status == 201) {
                if (a.docker_digest != NULL && strcmp(a.docker_digest, digest) != 0)
                    return tug_error_set(err, 0, "%s: the registry stored it as %s (not %s)", what,
                                         a.docker_digest, digest);
                return 0;
            }
            tug_registry_answer_error(reg, &a, what, &e);
        }
        if (!transient(e) || attempt + 1 == UPLOAD_ATTEMPTS) {
            *err = steal_pointer(&e);
            return -1;
        }
        backoff(attempt);
    }
}
