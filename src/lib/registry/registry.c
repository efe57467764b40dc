#include "registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../image/reference.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/lazylib.h"
#include "auth.h"
#include "http.h"
#include "registry_int.h"

#define MANIFEST_MAX (4 << 20)
#define TOKEN_MAX (1 << 20)
#define ERROR_BODY_MAX (64 << 10)
#define PROGRESS_INTERVAL_NS 100000000LL
#define MAX_ATTEMPTS 5

/* Returned by registry_get when the server's answer to a Range request does not continue the
 * partial file: the caller starts the blob over. */
#define RESTART 1

typedef enum {
    SCHEME_HTTPS,
    SCHEME_HTTP,
    SCHEME_PROBE, /* insecure registry: https without verification, else plain http */
} scheme_mode;

struct tug_registry {
    char *domain;
    char *host;
    char *repo;
    char *user_agent;
    char *basic; /* base64 user:pass from config.json, or NULL */
    bool tls_verify;

    CURLSH *share; /* DNS cache and TLS sessions shared by all transfers of this handle */
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

    pthread_mutex_t token_lock; /* one token request at a time */
    pthread_mutex_t lock;       /* guards the fields below */
    scheme_mode scheme;
    tug_auth_scheme auth;
    char *token;
    unsigned token_gen;
    bool push;         /* tokens are asked for with push scope */
    char **pull_repos; /* other repositories a token must read (mounts from them) */
};

/* One answer being received: its headers and where its body goes. */
typedef struct xfer {
    long status;
    char *content_type;
    char *www_auth;
    long long range_start;
    long long content_length;
    char *location;      /* an upload's next URL */
    char *docker_digest; /* Docker-Content-Digest */
    long long range_end; /* an upload's Range: 0-N, -1 when absent */

    /* error bodies always, and success bodies without a file */
    char *body;
    size_t len;
    size_t max;
    bool too_big;

    /* blob downloads */
    int fd;
    const char *path;
    tug_sha256 *hash;
    long long offset; /* bytes on disk when the request was sent */
    long long done;   /* bytes on disk now */
    long long expected;
    long long total;
    bool restart;
    bool unsatisfiable;
    bool oversize;
    int write_errno;
    tug_progress_fn progress;
    void *userdata;
    struct timespec last_progress;
} xfer;

static void xfer_clear(xfer *x)
{
    free(x->content_type);
    free(x->www_auth);
    free(x->body);
    free(x->location);
    free(x->docker_digest);
    x->content_type = x->www_auth = x->body = x->location = x->docker_digest = NULL;
}

static void xfer_clearp(xfer *x)
{
    xfer_clear(x);
}
#define cleanup_xfer __attribute__((cleanup(xfer_clearp)))

static void curl_cleanupp(CURL **c)
{
    if (*c)
        curl_easy_cleanup(*c);
}
#define cleanup_curl __attribute__((cleanup(curl_cleanupp)))

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}
#define cleanup_slist __attribute__((cleanup(slist_freep)))

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userdata)
{
    tug_registry *reg = userdata;
    pthread_mutex_lock(&reg->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userdata)
{
    tug_registry *reg = userdata;
    pthread_mutex_unlock(&reg->share_locks[data]);
}

/* ---- receiving ---- */

static bool is_success(long status)
{
    return status >= 200 && status < 300;
}

static bool append_body(xfer *x, const char *data, size_t n, size_t max)
{
    if (x->len + n > max)
        return false;
    size_t need = x->len + n + 1;
    char *nb = realloc(x->body, need);
    if (nb == NULL)
        return false;
    memcpy(nb + x->len, data, n);
    x->body = nb;
    x->len += n;
    x->body[x->len] = '\0';
    return true;
}

static void report_progress(xfer *x, bool force)
{
    if (x->progress == NULL)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns = (now.tv_sec - x->last_progress.tv_sec) * 1000000000LL +
                   (now.tv_nsec - x->last_progress.tv_nsec);
    if (!force && ns < PROGRESS_INTERVAL_NS)
        return;
    x->last_progress = now;
    x->progress(x->userdata, x->done, x->total);
}

/* Reached the end of an answer's headers: decide what its body does to the partial file. */
static bool headers_done(xfer *x)
{
    if (x->fd < 0)
        return true;
    if (x->status == 416 && x->offset > 0) {
        /* nothing after our offset; the body is not wanted (and some servers send a
         * Content-Length they do not honour) */
        x->unsatisfiable = true;
        return false;
    }
    if (x->status == 206 && x->range_start != x->offset) {
        x->restart = true;
        return false;
    }
    if (x->status == 200 && x->offset > 0) {
        /* the registry ignored the Range: the full blob follows */
        char scratch[TUG_DIGEST_LEN + 1];
        if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
            x->write_errno = errno;
            return false;
        }
        tug_sha256_final(x->hash, scratch);
        x->offset = x->done = 0;
    }
    if (x->expected < 0 && is_success(x->status) && x->content_length > 0)
        x->total = x->offset + x->content_length;
    return true;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nitems;

    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new answer (after a redirect or 1xx): forget the previous one */
        xfer_clear(x);
        x->len = 0;
        x->range_start = -1;
        x->range_end = -1;
        x->content_length = -1;
        const char *sp = memchr(buf, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n'))
        return headers_done(x) ? n : 0;

    const char *colon = memchr(buf, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v);

#define HEADER_IS(s) (name_len == strlen(s) && strncasecmp(buf, s, name_len) == 0)
    if (HEADER_IS("content-type")) {
        free(x->content_type);
        x->content_type = strndup(v, vlen);
    } else if (HEADER_IS("www-authenticate")) {
        /* several challenges may arrive in separate headers; the parser takes a list */
        char *joined = NULL;
        if (asprintf(&joined, "%s%s%.*s", x->www_auth ? x->www_auth : "", x->www_auth ? ", " : "",
                     (int)vlen, v) >= 0) {
            free(x->www_auth);
            x->www_auth = joined;
        }
    } else if (HEADER_IS("content-length")) {
        x->content_length = strtoll(v, NULL, 10);
    } else if (HEADER_IS("location")) {
        free(x->location);
        x->location = strndup(v, vlen);
    } else if (HEADER_IS("docker-content-digest")) {
        free(x->docker_digest);
        x->docker_digest = strndup(v, vlen);
    } else if (HEADER_IS("range")) {
        /* "0-N": the bytes an upload holds so far */
        const char *dash = memchr(v, '-', vlen);
        if (dash != NULL)
            x->range_end = strtoll(dash + 1, NULL, 10);
    } else if (HEADER_IS("content-range")) {
        if (vlen > 6 && strncasecmp(v, "bytes ", 6) == 0)
            x->range_start = strtoll(v + 6, NULL, 10);
    }
#undef HEADER_IS
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;

    if (x->fd >= 0 && (x->status == 200 || x->status == 206)) {
        if (x->expected >= 0 && x->done + (long long)n > x->expected) {
            x->oversize = true;
            return 0;
        }
        for (size_t off = 0; off < n;) {
            ssize_t w = write(x->fd, data + off, n - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                x->write_errno = errno;
                return 0;
            }
            off += (size_t)w;
        }
        tug_sha256_update(x->hash, data, n);
        x->done += (long long)n;
        report_progress(x, false);
        return n;
    }

    if (x->fd < 0 && is_success(x->status)) {
        if (!append_body(x, data, n, x->max)) {
            x->too_big = true;
            return 0;
        }
        return n;
    }
    /* an error answer: keep its start for the message */
    append_body(x, data, n, ERROR_BODY_MAX);
    return n;
}

/* ---- sending ---- */

/* "host:port" of the URL a transfer ended on (after redirects). */
static char *effective_host(CURL *curl)
{
    char *url = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL)
        return NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return NULL;
    char *host = NULL, *port = NULL, *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
            port = NULL;
        if (asprintf(&out, "%s%s%s", host, port ? ":" : "", port ? port : "") < 0)
            out = NULL;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static int transport_error(tug_registry *reg, CURL *curl, CURLcode rc, const char *errbuf,
                           tug_error **err)
{
    cleanup_free char *host = effective_host(curl);
    const char *h = host ? host : reg->host;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno > 0)
            return tug_error_set(err, (int)os_errno, "connect %s", h);
        return tug_error_set(err, 0, "connect %s: %s", h, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
        return tug_error_set(err, 0,
                             "lookup %s: no such host (check the registry's name and this "
                             "machine's DNS, or use an image from a registry it reaches)",
                             h);
    case CURLE_SSL_CONNECT_ERROR:
        return tug_error_set(err, 0,
                             "tls %s: %s (if it serves plain HTTP, add %s to "
                             "TUG_INSECURE_REGISTRIES)",
                             h, detail, reg->domain);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return tug_error_set(err, 0,
                             "tls %s: %s (to use it anyway, add %s to TUG_INSECURE_REGISTRIES)", h,
                             detail, reg->domain);
    default:
        return tug_error_set(err, 0, "%s: %s", h, detail);
    }
}

/* curl reads a request body from memory or from a file range. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    tug_reg_body *b = userdata;
    size_t want = size * nitems;
    long long left = b->len - b->sent;
    if ((long long)want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (b->data != NULL) {
        memcpy(buf, b->data + b->sent, want);
    } else {
        ssize_t n;
        do
            n = pread(b->fd, buf, want, b->offset + b->sent);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)n;
    }
    b->sent += (long long)want;
    if (b->progress != NULL)
        b->progress(b->userdata, b->sent, b->len);
    return want;
}

static CURLcode perform_body(tug_registry *reg, CURL *curl, const char *method, const char *url,
                             struct curl_slist *headers, const char *range, tug_reg_body *body,
                             xfer *x, char *errbuf)
{
    curl_easy_reset(curl);
    x->status = 0;
    x->len = 0;
    x->range_start = -1;
    x->range_end = -1;
    x->restart = x->unsatisfiable = x->oversize = x->too_big = false;
    x->write_errno = 0;

    tug_http_setup(curl, url, reg->user_agent, errbuf);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_SHARE, reg->share);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, reg->tls_verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, reg->tls_verify ? 2L : 0L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    if (range != NULL)
        curl_easy_setopt(curl, CURLOPT_RANGE, range);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (body != NULL) {
        body->sent = 0;
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, body);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    return curl_easy_perform(curl);
}

static CURLcode perform(tug_registry *reg, CURL *curl, const char *url, struct curl_slist *headers,
                        const char *range, xfer *x, char *errbuf)
{
    return perform_body(reg, curl, "GET", url, headers, range, NULL, x, errbuf);
}

static const char *unauthorized_detail(const char *text)
{
    if (text == NULL)
        return NULL;
    if (strncmp(text, "unauthorized: ", 14) == 0)
        text += 14;
    if (strcmp(text, "unauthorized") == 0 || strcmp(text, "authentication required") == 0)
        return NULL;
    return text;
}

static int unauthorized(const xfer *x, tug_error **err)
{
    cleanup_free char *text = tug_registry_error_text(x->body, x->len);
    const char *detail = unauthorized_detail(text);
    int r = tug_error_user(err, "unauthorized: authentication required%s%s", detail ? ": " : "",
                           detail ? detail : "");
    if (err && *err)
        (*err)->status = 401;
    return r;
}

/* An answer that is not what we asked for. 5xx is the registry's trouble, the rest the user's. */
static int http_error(tug_registry *reg, const xfer *x, const char *what, tug_error **err)
{
    if (x->status == 401)
        return unauthorized(x, err);
    cleanup_free char *text = tug_registry_error_text(x->body, x->len);
    int r;
    if (x->status >= 500 || x->status < 400)
        r = tug_error_set(err, 0, "registry %s: %s: HTTP %ld%s%s", reg->host, what, x->status,
                          text ? ": " : "", text ? text : "");
    else if (text != NULL)
        r = tug_error_user(err, "%s", text);
    else
        r = tug_error_user(err, "%s: HTTP %ld from %s", what, x->status, reg->host);
    if (err && *err)
        (*err)->status = (int)x->status;
    return r;
}

/* ---- auth ---- */

/* The Authorization header to send now, and which token generation it carries. */
static int auth_header(tug_registry *reg, char **ret_header, unsigned *ret_gen)
{
    int r = 0;
    *ret_header = NULL;
    pthread_mutex_lock(&reg->lock);
    *ret_gen = reg->token_gen;
    if (reg->auth == TUG_AUTH_BEARER && reg->token != NULL)
        r = asprintf(ret_header, "Authorization: Bearer %s", reg->token);
    else if (reg->auth == TUG_AUTH_BASIC && reg->basic != NULL)
        r = asprintf(ret_header, "Authorization: Basic %s", reg->basic);
    pthread_mutex_unlock(&reg->lock);
    if (r < 0) {
        *ret_header = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int fetch_token(tug_registry *reg, CURL *curl, const tug_auth_challenge *ch, tug_error **err)
{
    pthread_mutex_lock(&reg->lock);
    cleanup_strv char **scopes =
        tug_auth_scopes(reg->repo, reg->push, (const char *const *)reg->pull_repos, ch->scope);
    pthread_mutex_unlock(&reg->lock);
    if (scopes == NULL)
        return tug_error_set(err, ENOMEM, "token");
    cleanup_free char *url =
        tug_auth_token_url(ch->realm, ch->service, (const char *const *)scopes);
    if (url == NULL)
        return tug_error_set(err, ENOMEM, "token");

    cleanup_slist struct curl_slist *headers = NULL;
    cleanup_free char *basic = NULL;
    if (reg->basic != NULL) {
        if (asprintf(&basic, "Authorization: Basic %s", reg->basic) < 0)
            return tug_error_set(err, ENOMEM, "token");
        headers = curl_slist_append(NULL, basic);
        if (headers == NULL)
            return tug_error_set(err, ENOMEM, "token");
    }

    cleanup_xfer xfer x = {.fd = -1, .max = TOKEN_MAX, .expected = -1};
    char errbuf[CURL_ERROR_SIZE];
    CURLcode rc = perform(reg, curl, url, headers, NULL, &x, errbuf);
    if (rc != CURLE_OK) {
        if (x.too_big)
            return tug_error_set(err, 0, "token answer from %s is too large", ch->realm);
        transport_error(reg, curl, rc, errbuf, err);
        return tug_error_wrap(err, "get token");
    }
    if (x.status == 401 || x.status == 403) {
        cleanup_free char *text = tug_registry_error_text(x.body, x.len);
        const char *detail = unauthorized_detail(text);
        int r = tug_error_user(err, "unauthorized: %s",
                               detail ? detail : "incorrect username or password");
        if (err && *err)
            (*err)->status = (int)x.status;
        return r;
    }
    if (x.status != 200) {
        http_error(reg, &x, "token", err);
        return tug_error_wrap(err, "get token from %s", ch->realm);
    }

    char *token = NULL;
    if (tug_auth_parse_token(x.body, x.len, &token, err) < 0)
        return tug_error_wrap(err, "get token from %s", ch->realm);
    pthread_mutex_lock(&reg->lock);
    free(reg->token);
    reg->token = token;
    reg->token_gen++;
    reg->auth = TUG_AUTH_BEARER;
    pthread_mutex_unlock(&reg->lock);
    return 0;
}

/* After a 401 with a Bearer challenge: get a token unless another thread already replaced the
 * one we were refused with. */
static int refresh_token(tug_registry *reg, CURL *curl, const tug_auth_challenge *ch,
                         unsigned used_gen, tug_error **err)
{
    pthread_mutex_lock(&reg->token_lock);
    pthread_mutex_lock(&reg->lock);
    bool fresh = reg->auth == TUG_AUTH_BEARER && reg->token != NULL && reg->token_gen != used_gen;
    pthread_mutex_unlock(&reg->lock);
    int r = fresh ? 0 : fetch_token(reg, curl, ch, err);
    pthread_mutex_unlock(&reg->token_lock);
    return r;
}

/* ---- requests ---- */

/* The URL of target: a full URL (an upload's Location) as it is, a path from the root
 * ("/v2/...") or a path under /v2/. Credentials go only to the registry's own host. */
static char *request_url(tug_registry *reg, scheme_mode mode, const char *target, bool *ret_own)
{
    const char *scheme = mode == SCHEME_HTTP ? "http" : "https";
    char *url = NULL;
    *ret_own = true;
    if (strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0) {
        url = strdup(target);
        const char *h = strstr(target, "://") + 3;
        size_t hl = strlen(reg->host);
        *ret_own = strncmp(h, reg->host, hl) == 0 && (h[hl] == '/' || h[hl] == '\0');
    } else if (asprintf(&url, "%s://%s%s%s", scheme, reg->host, target[0] == '/' ? "" : "/v2/",
                        target) < 0) {
        url = NULL;
    }
    return url;
}

/* A request to the registry, through the scheme probe and the auth dance. extra is a
 * NULL-terminated list of header lines (may be NULL); body (may be NULL) is sent with
 * PUT/PATCH. Returns 0 with the final answer in x (any status but an unresolved 401), RESTART,
 * or an error. */
static int registry_request(tug_registry *reg, CURL *curl, const char *method, const char *target,
                            const char *const *extra, tug_reg_body *body, xfer *x, const char *what,
                            tug_error **err)
{
    bool fetched = false, sent_basic = false;
    char errbuf[CURL_ERROR_SIZE];

    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        pthread_mutex_lock(&reg->lock);
        scheme_mode mode = reg->scheme;
        pthread_mutex_unlock(&reg->lock);

        bool own = true;
        cleanup_free char *url = request_url(reg, mode, target, &own);
        if (url == NULL)
            return tug_error_set(err, ENOMEM, "%s", what);
        cleanup_free char *authz = NULL;
        unsigned gen = 0;
        if (own && auth_header(reg, &authz, &gen) < 0)
            return tug_error_set(err, ENOMEM, "%s", what);
        cleanup_slist struct curl_slist *headers = NULL;
        for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
            struct curl_slist *h = curl_slist_append(headers, extra[i]);
            if (h == NULL)
                return tug_error_set(err, ENOMEM, "%s", what);
            headers = h;
        }
        if (authz != NULL) {
            struct curl_slist *h = curl_slist_append(headers, authz);
            if (h == NULL)
                return tug_error_set(err, ENOMEM, "%s", what);
            headers = h;
            sent_basic = sent_basic || strncmp(authz, "Authorization: Basic", 20) == 0;
        }
        char range[32];
        bool ranged = x->fd >= 0 && x->offset > 0;
        if (ranged)
            snprintf(range, sizeof(range), "%lld-", x->offset);

        CURLcode rc =
            perform_body(reg, curl, method, url, headers, ranged ? range : NULL, body, x, errbuf);
        if (rc != CURLE_OK) {
            if (x->restart)
                return RESTART;
            if (x->unsatisfiable)
                return 0;
            if (x->write_errno)
                return tug_error_set(err, x->write_errno, "write %s", x->path);
            if (x->oversize)
                return tug_error_set(err, 0, "%s: size mismatch (more than %lld bytes)", what,
                                     x->expected);
            if (x->too_big)
                return tug_error_set(err, 0, "%s: larger than %d bytes", what, (int)x->max);
            if (mode == SCHEME_PROBE && x->status == 0 && own) {
                pthread_mutex_lock(&reg->lock);
                reg->scheme = SCHEME_HTTP;
                pthread_mutex_unlock(&reg->lock);
                continue;
            }
            return transport_error(reg, curl, rc, errbuf, err);
        }
        if (mode == SCHEME_PROBE) {
            pthread_mutex_lock(&reg->lock);
            reg->scheme = SCHEME_HTTPS;
            pthread_mutex_unlock(&reg->lock);
        }
        if (x->status != 401)
            return 0;

        tug_auth_challenge ch = {0};
        if (tug_auth_parse_challenge(x->www_auth, &ch, err) < 0)
            return -1;
        int r = 0;
        if (ch.scheme == TUG_AUTH_BEARER && !fetched) {
            fetched = true;
            r = refresh_token(reg, curl, &ch, gen, err);
        } else if (ch.scheme == TUG_AUTH_BASIC && reg->basic != NULL && !sent_basic) {
            pthread_mutex_lock(&reg->lock);
            reg->auth = TUG_AUTH_BASIC;
            pthread_mutex_unlock(&reg->lock);
        } else {
            r = unauthorized(x, err);
        }
        tug_auth_challenge_clear(&ch);
        if (r < 0)
            return r;
    }
    return unauthorized(x, err);
}

/* GET /v2/<path>, with an Accept header line or NULL. */
static int registry_get(tug_registry *reg, CURL *curl, const char *path, const char *accept,
                        xfer *x, const char *what, tug_error **err)
{
    const char *extra[] = {accept, NULL};
    return registry_request(reg, curl, "GET", path, extra, NULL, x, what, err);
}

/* ---- public API ---- */

static bool valid_repo(const char *s)
{
    if (*s == '\0' || *s == '/')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return false;
    return strstr(s, "//") == NULL && strstr(s, "..") == NULL;
}

static bool valid_domain_chars(const char *s)
{
    if (*s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-:[]", *p)))
            return false;
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

void tug_registry_free(tug_registry *reg)
{
    if (reg == NULL)
        return;
    if (reg->share != NULL) {
        curl_share_cleanup(reg->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&reg->share_locks[i]);
    }
    pthread_mutex_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->token_lock);
    free(reg->domain);
    free(reg->host);
    free(reg->repo);
    free(reg->user_agent);
    free(reg->basic);
    free(reg->token);
    for (size_t i = 0; reg->pull_repos != NULL && reg->pull_repos[i] != NULL; i++)
        free(reg->pull_repos[i]);
    free(reg->pull_repos);
    free(reg);
}

static void registry_freep(tug_registry **reg)
{
    tug_registry_free(*reg);
}

/* repo NULL: a handle on the registry alone (login); creds false: no stored credentials. */
static int registry_open(const char *domain, const char *repo, const tug_registry_opts *opts,
                         bool creds, tug_registry **ret_reg, tug_error **err)
{
    if (domain == NULL || !valid_domain_chars(domain))
        return tug_error_user(err, "invalid registry name \"%s\"", domain ? domain : "");
    if (repo != NULL && !valid_repo(repo))
        return tug_error_user(err, "invalid repository name \"%s\"", repo);
    if (tug_http_init(err) < 0)
        return -1;

    __attribute__((cleanup(registry_freep))) tug_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return tug_error_set(err, ENOMEM, "open registry %s", domain);
    pthread_mutex_init(&reg->lock, NULL);
    pthread_mutex_init(&reg->token_lock, NULL);
    reg->domain = strdup(domain);
    reg->host = strdup(tug_registry_host(domain));
    reg->repo = repo ? strdup(repo) : NULL;
    if (opts != NULL && opts->user_agent != NULL)
        reg->user_agent = strdup(opts->user_agent);
    else
        reg->user_agent = strdup("tug/" TUG_VERSION);
    if (!reg->domain || !reg->host || (repo && !reg->repo) || !reg->user_agent)
        return tug_error_set(err, ENOMEM, "open registry %s", domain);

    if (tug_domain_is_loopback(domain)) {
        reg->scheme = SCHEME_HTTP;
    } else if (tug_auth_insecure(domain, opts ? opts->insecure_registries : NULL,
                                 getenv("TUG_INSECURE_REGISTRIES"))) {
        reg->scheme = SCHEME_PROBE;
    } else {
        reg->scheme = SCHEME_HTTPS;
        reg->tls_verify = true;
    }

    if (creds && opts && opts->basic) {
        if ((reg->basic = strdup(opts->basic)) == NULL)
            return tug_error_set(err, ENOMEM, "open registry %s", domain);
    } else if (creds && tug_auth_load_credentials(opts ? opts->auth_config_path : NULL, domain,
                                                  &reg->basic, err) < 0)
        return tug_error_wrap(err, "open registry %s", domain);

    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&reg->share_locks[i], NULL);
    reg->share = curl_share_init();
    if (reg->share == NULL)
        return tug_error_set(err, ENOMEM, "open registry %s", domain);
    curl_share_setopt(reg->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(reg->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(reg->share, CURLSHOPT_USERDATA, reg);
    curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

    *ret_reg = steal_pointer(&reg);
    return 0;
}

int tug_registry_open(const char *domain, const char *repo, const tug_registry_opts *opts,
                      tug_registry **ret_reg, tug_error **err)
{
    if (repo == NULL)
        return tug_error_user(err, "invalid repository name \"\"");
    return registry_open(domain, repo, opts, true, ret_reg, err);
}

int tug_registry_check_login(const char *domain, const char *basic, const tug_registry_opts *opts,
                             tug_error **err)
{
    __attribute__((cleanup(registry_freep))) tug_registry *reg = NULL;
    if (registry_open(domain, NULL, opts, false, &reg, err) < 0)
        return -1;
    reg->basic = strdup(basic);
    if (reg->basic == NULL)
        return tug_error_set(err, ENOMEM, "log in to %s", domain);
    cleanup_curl CURL *curl = curl_easy_init();
    if (curl == NULL)
        return tug_error_set(err, ENOMEM, "log in to %s", domain);
    cleanup_xfer xfer x = {.fd = -1, .max = ERROR_BODY_MAX, .expected = -1};
    int r = registry_get(reg, curl, "", NULL, &x, "log in", err);
    if (r == 0 && x.status != 200)
        r = http_error(reg, &x, "log in", err);
    return r < 0 ? -1 : 0;
}

/* Content-Type when it is specific, else the body's mediaType, else a guess from its shape. */
static char *manifest_media_type(const char *content_type, const char *body, size_t len)
{
    cleanup_free char *ct =
        content_type ? strndup(content_type, strcspn(content_type, "; ")) : NULL;
    if (ct != NULL && *ct != '\0' && strcasecmp(ct, "application/json") != 0 &&
        strcasecmp(ct, "text/plain") != 0 && strcasecmp(ct, "application/octet-stream") != 0)
        return steal_pointer(&ct);

    json_auto_t *root = json_loadb(body, len, 0, NULL);
    const char *mt = NULL;
    if (json_is_object(root)) {
        mt = json_string_value(json_object_get(root, "mediaType"));
        if (mt == NULL && json_is_array(json_object_get(root, "manifests")))
            mt = TUG_MT_OCI_INDEX;
        else if (mt == NULL && json_is_object(json_object_get(root, "config")))
            mt = TUG_MT_OCI_MANIFEST;
    }
    return strdup(mt ? mt : (ct && *ct ? ct : "application/octet-stream"));
}

int tug_registry_get_manifest(tug_registry *reg, const char *tag_or_digest, char **ret_body,
                              size_t *ret_len, char **ret_media_type, tug_error **err)
{
    bool by_digest = strchr(tag_or_digest, ':') != NULL;
    if (by_digest ? !tug_digest_valid(tag_or_digest) : !valid_tag(tag_or_digest))
        return tug_error_user(err, "invalid tag or digest \"%s\"", tag_or_digest);

    cleanup_free char *full = NULL;
    if (asprintf(&full, "%s/%s", reg->domain, reg->repo) < 0)
        return tug_error_set(err, ENOMEM, "get manifest");
    cleanup_free char *name = tug_familiar_name(full);
    cleanup_free char *what = NULL, *path = NULL;
    if (name == NULL ||
        asprintf(&what, "manifest for %s%c%s", name, by_digest ? '@' : ':', tag_or_digest) < 0)
        return tug_error_set(err, ENOMEM, "get manifest");
    if (asprintf(&path, "%s/manifests/%s", reg->repo, tag_or_digest) < 0)
        return tug_error_set(err, ENOMEM, "get manifest");

    cleanup_curl CURL *curl = curl_easy_init();
    if (curl == NULL)
        return tug_error_set(err, ENOMEM, "get %s", what);
    cleanup_xfer xfer x = {.fd = -1, .max = MANIFEST_MAX, .expected = -1};
    const char *accept = "Accept: " TUG_MT_DOCKER_MANIFEST ", " TUG_MT_DOCKER_LIST
                         ", " TUG_MT_OCI_MANIFEST ", " TUG_MT_OCI_INDEX;
    int r = registry_get(reg, curl, path, accept, &x, what, err);
    if (r < 0)
        return r;
    if (x.status == 404) {
        r = tug_error_user(err, "manifest unknown: %s not found", what);
        if (err && *err)
            (*err)->status = 404;
        return r;
    }
    if (x.status != 200)
        return http_error(reg, &x, what, err);

    if (by_digest) {
        char got[TUG_DIGEST_LEN + 1];
        tug_sha256_buf(x.body ? x.body : "", x.len, got);
        if (strcmp(got, tag_or_digest) != 0)
            return tug_error_set(err, 0, "%s: digest mismatch (got %s)", what, got);
    }

    char *media_type = manifest_media_type(x.content_type, x.body ? x.body : "", x.len);
    if (media_type == NULL)
        return tug_error_set(err, ENOMEM, "get %s", what);
    if (x.body == NULL && (x.body = calloc(1, 1)) == NULL) {
        free(media_type);
        return tug_error_set(err, ENOMEM, "get %s", what);
    }
    *ret_len = x.len;
    *ret_body = steal_pointer(&x.body);
    *ret_media_type = media_type;
    return 0;
}

int tug_registry_list_tags(tug_registry *reg, char ***ret_tags, tug_error **err)
{
    cleanup_free char *path = NULL, *what = NULL, *full = NULL;
    if (asprintf(&path, "%s/tags/list", reg->repo) < 0 ||
        asprintf(&full, "%s/%s", reg->domain, reg->repo) < 0)
        return tug_error_set(err, ENOMEM, "list tags");
    cleanup_free char *name = tug_familiar_name(full);
    if (name == NULL || asprintf(&what, "tags of %s", name) < 0)
        return tug_error_set(err, ENOMEM, "list tags");
    cleanup_curl CURL *curl = curl_easy_init();
    if (curl == NULL)
        return tug_error_set(err, ENOMEM, "list %s", what);
    cleanup_xfer xfer x = {.fd = -1, .max = MANIFEST_MAX, .expected = -1};
    int r = registry_get(reg, curl, path, "Accept: application/json", &x, what, err);
    if (r < 0)
        return r;
    if (x.status == 404) {
        r = tug_error_user(err, "repository %s not found: does not exist or no pull access",
                           name);
        if (err && *err)
            (*err)->status = 404;
        return r;
    }
    if (x.status != 200)
        return http_error(reg, &x, what, err);
    json_error_t jerr;
    json_t *doc = json_loadb(x.body ? x.body : "", x.len, 0, &jerr);
    json_t *tags = json_object_get(doc, "tags");
    size_t n = json_array_size(tags), i, k = 0;
    char **out = calloc(n + 1, sizeof(*out));
    json_t *v;
    if (out == NULL) {
        json_decref(doc);
        return tug_error_set(err, ENOMEM, "list %s", what);
    }
    json_array_foreach(tags, i, v)
    {
        if (json_is_string(v) && valid_tag(json_string_value(v)) &&
            (out[k] = strdup(json_string_value(v))) != NULL)
            k++;
    }
    json_decref(doc);
    if (doc == NULL) {
        free(out);
        return tug_error_set(err, 0, "list %s: the registry's answer is no JSON: %s", what,
                             jerr.text);
    }
    *ret_tags = out;
    return 0;
}

/* Feed what the partial file already holds to the hash; *ret_have is its length. A file longer
 * than the blob can be is cut back to nothing. */
static int hash_existing(int fd, tug_sha256 *h, long long expected, const char *path,
                         long long *ret_have, tug_error **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return tug_error_set(err, errno, "stat %s", path);
    if (expected >= 0 && st.st_size > expected) {
        if (ftruncate(fd, 0) < 0)
            return tug_error_set(err, errno, "truncate %s", path);
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "seek %s", path);
    cleanup_free char *buf = malloc(1 << 20);
    if (buf == NULL)
        return tug_error_set(err, ENOMEM, "read %s", path);
    long long have = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read %s", path);
        if (n == 0)
            break;
        tug_sha256_update(h, buf, (size_t)n);
        have += n;
    }
    *ret_have = have;
    return 0;
}

static int start_over(int fd, tug_sha256 *h, const char *path, tug_error **err)
{
    char scratch[TUG_DIGEST_LEN + 1];
    tug_sha256_final(h, scratch);
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "truncate %s", path);
    return 0;
}

int tug_registry_get_blob(tug_registry *reg, const char *digest, long long expected_size,
                          const char *partial_path, tug_progress_fn progress, void *userdata,
                          tug_error **err)
{
    if (!tug_digest_valid(digest))
        return tug_error_user(err, "invalid digest \"%s\"", digest);
    cleanup_free char *what = NULL, *path = NULL;
    if (asprintf(&what, "blob %s", digest) < 0 ||
        asprintf(&path, "%s/blobs/%s", reg->repo, digest) < 0)
        return tug_error_set(err, ENOMEM, "get blob %s", digest);

    cleanup_close int fd = open(partial_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", partial_path);
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(err);
    if (h == NULL)
        return -1;
    cleanup_curl CURL *curl = curl_easy_init();
    if (curl == NULL)
        return tug_error_set(err, ENOMEM, "get %s", what);

    /* the second round starts from nothing after the partial file proved useless */
    for (int round = 0; round < 2; round++) {
        long long have = 0;
        if (hash_existing(fd, h, expected_size, partial_path, &have, err) < 0)
            return -1;
        cleanup_xfer xfer x = {
            .fd = fd,
            .path = partial_path,
            .hash = h,
            .offset = have,
            .done = have,
            .expected = expected_size,
            .total = expected_size > 0 ? expected_size : 0,
            .progress = progress,
            .userdata = userdata,
        };
        bool fetched = false;
        if (expected_size < 0 || have < expected_size) {
            report_progress(&x, true);
            int r = registry_get(reg, curl, path, NULL, &x, what, err);
            if (r == RESTART && round == 0) {
                if (start_over(fd, h, partial_path, err) < 0)
                    return -1;
                continue;
            }
            if (r == RESTART)
                return tug_error_set(err, 0, "%s: registry %s answers ranges wrongly", what,
                                     reg->host);
            if (r < 0) {
                if (x.oversize)
                    unlink(partial_path);
                return r;
            }
            /* 416 to a Range from the end of the file: nothing more to get */
            if (!(x.status == 416 && have > 0)) {
                if (x.status != 200 && x.status != 206)
                    return http_error(reg, &x, what, err);
                fetched = true;
            }
        }

        char got[TUG_DIGEST_LEN + 1];
        tug_sha256_final(h, got);
        if (strcmp(got, digest) != 0) {
            if (!fetched && round == 0) {
                if (start_over(fd, h, partial_path, err) < 0)
                    return -1;
                continue;
            }
            unlink(partial_path);
            return tug_error_set(err, 0, "%s: digest mismatch (got %s)", what, got);
        }
        if (expected_size >= 0 && x.done != expected_size) {
            unlink(partial_path);
            return tug_error_set(err, 0, "%s: size mismatch (got %lld bytes, expected %lld)", what,
                                 x.done, expected_size);
        }
        x.total = x.done;
        report_progress(&x, true);
        return 0;
    }
    return tug_error_set(err, 0, "%s: download did not converge", what);
}

/* ---- for uploads (registry_int.h) ---- */

void tug_reg_answer_clear(tug_reg_answer *a)
{
    free(a->location);
    free(a->docker_digest);
    free(a->error_text);
    memset(a, 0, sizeof(*a));
    a->range_end = -1;
}

int tug_registry_send(tug_registry *reg, const char *method, const char *target,
                      const char *const *extra, tug_reg_body *body, tug_reg_answer *ret,
                      const char *what, tug_error **err)
{
    cleanup_curl CURL *curl = curl_easy_init();
    if (curl == NULL)
        return tug_error_set(err, ENOMEM, "%s", what);
    cleanup_xfer xfer x = {.fd = -1, .max = ERROR_BODY_MAX, .expected = -1};
    tug_reg_answer_clear(ret);
    int r = registry_request(reg, curl, method, target, extra, body, &x, what, err);
    if (r < 0)
        return r;
    ret->status = x.status;
    ret->location = steal_pointer(&x.location);
    ret->docker_digest = steal_pointer(&x.docker_digest);
    ret->range_end = x.range_end;
    if (!is_success(x.status))
        ret->error_text = tug_registry_error_text(x.body, x.len);
    return 0;
}

int tug_registry_answer_error(tug_registry *reg, const tug_reg_answer *a, const char *what,
                              tug_error **err)
{
    const char *text = a->error_text;
    int r;
    if (a->status == 401 || a->status == 403)
        r = tug_error_user(err, "%s: %s%s%s", what,
                           a->status == 401 ? "unauthorized: authentication required"
                                            : "denied: requested access to the resource is denied",
                           text ? ": " : "", text ? text : "");
    else if (a->status >= 500 || a->status < 400)
        r = tug_error_set(err, 0, "registry %s: %s: HTTP %ld%s%s", reg->host, what, a->status,
                          text ? ": " : "", text ? text : "");
    else
        r = tug_error_user(err, "%s: %s", what, text ? text : "unexpected answer");
    if (err && *err)
        (*err)->status = (int)a->status;
    return r;
}

int tug_registry_allow_push(tug_registry *reg, const char *from_repo, tug_error **err)
{
    pthread_mutex_lock(&reg->lock);
    reg->push = true;
    size_t n = 0;
    bool known = from_repo == NULL;
    for (; reg->pull_repos != NULL && reg->pull_repos[n] != NULL; n++)
        known = known || strcmp(reg->pull_repos[n], from_repo) == 0;
    char **nv = known ? NULL : realloc(reg->pull_repos, (n + 2) * sizeof(*nv));
    if (nv != NULL) {
        nv[n] = strdup(from_repo);
        nv[n + 1] = NULL;
        reg->pull_repos = nv;
    }
    pthread_mutex_unlock(&reg->lock);
    if (!known && (nv == NULL || nv[n] == NULL))
        return tug_error_set(err, ENOMEM, "registry");
    return 0;
}

const char *tug_registry_repo(const tug_registry *reg)
{
    return reg->repo;
}
