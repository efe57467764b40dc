/* HTTP/1.1 requests in, answers out. The parser sees bytes from any local client: it bounds
 * the head, takes only what RFC 9112 allows (no folded lines, one Content-Length, not both a
 * length and chunking) and never reads past len. */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

/* tchar of RFC 9110: the characters of a method or a header name */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The end of the head: the offset after its blank line, or 0 when it has not come yet. Lines
 * end in CRLF or, as Go's server allows, a bare LF. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Split off the next line of the head (its terminator replaced by NULs); NULL at the end. */
static char *next_line(char **cur, char *end)
{
    char *p = *cur;
    if (p >= end)
        return NULL;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        nl = end;
    *nl = '\0';
    if (nl > p && nl[-1] == '\r')
        nl[-1] = '\0';
    *cur = nl + 1;
    return p;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Does the comma-separated header value list token (case-insensitive)? */
static bool has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}

static int parse_request_line(char *line, tug_http_req *req, const char **why)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ')) {
        *why = "malformed HTTP request line";
        return -1;
    }
    *sp1 = *sp2 = '\0';
    if (sp1 == line || sp1 - line > 16) {
        *why = "malformed HTTP method";
        return -1;
    }
    for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p)) {
            *why = "malformed HTTP method";
            return -1;
        }
    char *target = sp1 + 1, *version = sp2 + 1;
    if (target[0] != '/') {
        *why = "malformed HTTP request target: it must start with /";
        return -1;
    }
    for (char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
            *why = "malformed HTTP request target";
            return -1;
        }
    if (strncmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1') ||
        version[8] != '\0') {
        *why = "malformed HTTP version: only HTTP/1.0 and HTTP/1.1 are served";
        return -1;
    }
    req->method = line;
    req->target = target;
    req->minor = version[7] - '0';
    char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    req->query = q ? q + 1 : "";
    req->path = tug_http_unescape(target, plen, false);
    if (req->path == NULL) {
        *why = "malformed HTTP request target: bad percent-encoding";
        return -1;
    }
    return 0;
}

static int parse_header(char *line, tug_http_req *req, const char **why)
{
    if (line[0] == ' ' || line[0] == '\t') {
        *why = "malformed HTTP header: folded lines are not allowed";
        return -1;
    }
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line) {
        *why = "malformed HTTP header: no name and colon";
        return -1;
    }
    *colon = '\0';
    for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p)) {
            *why = "malformed HTTP header name";
            return -1;
        }
    char *value = trim(colon + 1);
    for (char *p = value; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || (unsigned char)*p == 0x7f) {
            *why = "malformed HTTP header value";
            return -1;
        }
    if (req->n_headers >= TUG_HTTP_MAX_HEADERS) {
        *why = "too many HTTP headers";
        return -1;
    }
    req->headers[req->n_headers++] = (tug_http_header){line, value};
    if (strcasecmp(line, "Content-Length") == 0) {
        char *end;
        errno = 0;
        long long n = value[0] >= '0' && value[0] <= '9' ? strtoll(value, &end, 10) : -1;
        if (n < 0 || errno || *end != '\0' ||
            (req->content_length >= 0 && req->content_length != n)) {
            *why = "bad Content-Length";
            return -1;
        }
        req->content_length = n;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        if (strcasecmp(value, "chunked") != 0) {
            *why = "unsupported Transfer-Encoding: only chunked is understood";
            return -1;
        }
        req->chunked = true;
    }
    return 0;
}

long tug_http_parse(const char *buf, size_t len, tug_http_req *req, const char **ret_why)
{
    *req = (tug_http_req){.content_length = -1};
    size_t end = head_end(buf, len < TUG_HTTP_MAX_HEAD ? len : TUG_HTTP_MAX_HEAD);
    if (end == 0)
        return len >= TUG_HTTP_MAX_HEAD ? -2 : 0;
    const char *why = NULL, *conn;
    req->head = malloc(end + 1);
    if (req->head == NULL) {
        *ret_why = "out of memory";
        return -1;
    }
    memcpy(req->head, buf, end);
    req->head[end] = '\0';
    char *cur = req->head, *stop = req->head + end;
    char *line = next_line(&cur, stop);
    /* RFC 9112 2.2: empty lines before the request line are skipped */
    while (line && *line == '\0')
        line = next_line(&cur, stop);
    if (line == NULL) {
        why = "empty HTTP request";
        goto bad;
    }
    if (memchr(buf, '\0', end)) {
        why = "malformed HTTP request: NUL byte";
        goto bad;
    }
    if (parse_request_line(line, req, &why) < 0)
        goto bad;
    while ((line = next_line(&cur, stop)) != NULL && *line != '\0')
        if (parse_header(line, req, &why) < 0)
            goto bad;
    if (req->chunked && req->content_length >= 0) {
        why = "both Content-Length and Transfer-Encoding given";
        goto bad;
    }
    if (req->minor == 1 && tug_http_header_get(req, "Host") == NULL) {
        why = "missing required Host header";
        goto bad;
    }
    conn = tug_http_header_get(req, "Connection");
    req->keep_alive = req->minor == 1 ? !has_token(conn, "close") : has_token(conn, "keep-alive");
    return (long)end;
bad:
    tug_http_req_clear(req);
    *ret_why = why;
    return -1;
}

void tug_http_req_clear(tug_http_req *req)
{
    free(req->head);
    free(req->path);
    *req = (tug_http_req){.content_length = -1};
}

const char *tug_http_header_get(const tug_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

char *tug_http_unescape(const char *s, size_t n, bool form)
{
    char *out = malloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && form)
            c = ' ';
        if (c == '\0') {
            free(out);
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

char *tug_http_query_get(const tug_http_req *req, const char *key)
{
    for (const char *p = req->query; *p;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        size_t kl = eq ? (size_t)(eq - p) : n;
        cleanup_free char *k = tug_http_unescape(p, kl, true);
        if (k && strcmp(k, key) == 0)
            return eq ? tug_http_unescape(eq + 1, n - kl - 1, true) : strdup("");
        p += n;
        if (*p == '&')
            p++;
    }
    return NULL;
}

char **tug_http_query_all(const tug_http_req *req, const char *key)
{
    size_t n = 0, cap = 4;
    char **out = calloc(cap + 1, sizeof(*out));
    for (const char *p = req->query; out && *p;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        cleanup_free char *k = tug_http_unescape(p, kl, true);
        char *v = eq && k && strcmp(k, key) == 0 ? tug_http_unescape(eq + 1, len - kl - 1, true)
                                                 : NULL;
        if (v && *v == '\0') {
            free(v);
            v = NULL;
        }
        if (v && n == cap) {
            char **nv = realloc(out, (2 * cap + 1) * sizeof(*out));
            if (nv == NULL) {
                free(v);
                break;
            }
            out = nv;
            cap *= 2;
        }
        if (v) {
            out[n++] = v;
            out[n] = NULL;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return out;
}

const char *tug_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default: return "Unknown";
    }
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The status line and the headers; length < 0: chunked. */
static int send_head(tug_http_out *o, int status, const char *content_type, long long length)
{
    char date[64], len_hdr[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    if (length >= 0)
        snprintf(len_hdr, sizeof(len_hdr), "Content-Length: %lld\r\n", length);
    else
        snprintf(len_hdr, sizeof(len_hdr), "Transfer-Encoding: chunked\r\n");
    cleanup_free char *head = NULL;
    int n = asprintf(&head, "HTTP/1.1 %d %s\r\n%s%s%s%sDate: %s\r\n%s%s\r\n", status,
                     tug_http_reason(status), o->extra_headers ? o->extra_headers : "",
                     content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "", date, len_hdr,
                     o->close ? "Connection: close\r\n" : "");
    return n < 0 ? -1 : write_all(o->fd, head, (size_t)n);
}

int tug_http_send(tug_http_out *o, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (send_head(o, status, content_type, (long long)len) < 0)
        return -1;
    return o->head_only || len == 0 ? 0 : write_all(o->fd, body, len);
}

int tug_http_send_json(tug_http_out *o, int status, json_t *doc)
{
    /* ENCODE_ANY: a bare null is an answer too (dockerd's /changes of none) */
    cleanup_free char *text =
        doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(doc);
    if (text == NULL)
        return tug_http_send_error(o, 500, "out of memory");
    size_t n = strlen(text);
    /* a newline ends the document, as Go's json.Encoder writes it */
    char *nl = realloc(text, n + 2);
    if (nl == NULL)
        return tug_http_send_error(o, 500, "out of memory");
    text = nl;
    text[n] = '\n';
    text[n + 1] = '\0';
    return tug_http_send(o, status, "application/json", text, n + 1);
}

int tug_http_send_error(tug_http_out *o, int status, const char *msg)
{
    json_t *doc = json_pack("{s:s}", "message", msg ? msg : "unknown error");
    cleanup_free char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    static const char fallback[] = "{\"message\":\"out of memory\"}";
    const char *body = text ? text : fallback;
    cleanup_free char *line = NULL;
    if (asprintf(&line, "%s\n", body) < 0)
        return -1;
    return tug_http_send(o, status, "application/json", line, strlen(line));
}

int tug_http_chunked_begin(tug_http_out *o, int status, const char *content_type)
{
    return send_head(o, status, content_type, -1);
}

int tug_http_chunk(tug_http_out *o, const void *data, size_t len)
{
    if (len == 0 || o->head_only)
        return 0; /* an empty chunk would end the body */
    char size[32];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    if (write_all(o->fd, size, (size_t)n) < 0 || write_all(o->fd, data, len) < 0)
        return -1;
    return write_all(o->fd, "\r\n", 2);
}

int tug_http_chunked_end(tug_http_out *o)
{
    return o->head_only ? 0 : write_all(o->fd, "0\r\n\r\n", 5);
}

int tug_http_hijack(tug_http_out *o, bool upgrade, const char *content_type)
{
    cleanup_free char *head = NULL;
    int n = asprintf(&head, "HTTP/1.1 %s\r\n%sContent-Type: %s\r\n%s\r\n",
                     upgrade ? "101 UPGRADED" : "200 OK",
                     o->extra_headers ? o->extra_headers : "", content_type,
                     upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "");
    o->close = true;
    return n < 0 ? -1 : write_all(o->fd, head, (size_t)n);
}

int tug_http_raw(tug_http_out *o, const void *data, size_t len)
{
    return write_all(o->fd, data, len);
}

/* ---- request bodies as they come ---- */

enum { BODY_SIZE, BODY_DATA, BODY_DATA_END, BODY_TRAILER, BODY_DONE };

void tug_http_body_init(tug_http_body *b, const tug_http_req *req, int fd, const char *pre,
                        size_t pre_len, int timeout_ms)
{
    b->fd = fd;
    b->chunked = req->chunked;
    b->left = req->chunked || req->content_length < 0 ? 0 : req->content_length;
    b->state = req->chunked ? BODY_SIZE : b->left > 0 ? BODY_DATA : BODY_DONE;
    b->timeout_ms = timeout_ms;
    b->why = NULL;
    /* a length-framed body ends at its length: what follows is the next request's */
    if (!req->chunked && (long long)pre_len > b->left)
        pre_len = (size_t)b->left;
    b->cur = pre;
    b->avail = pre_len;
}

/* More bytes into b->buf when what was read is used up: 0, or -1 at the connection's end. */
static int body_fill(tug_http_body *b)
{
    if (b->avail > 0)
        return 0;
    if (b->fd < 0) {
        b->why = "the request body ended early";
        return -1;
    }
    struct pollfd p = {.fd = b->fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, b->timeout_ms)) < 0 && errno == EINTR)
        ;
    ssize_t n = -1;
    if (r > 0)
        while ((n = read(b->fd, b->buf, sizeof(b->buf))) < 0 && errno == EINTR)
            ;
    if (n <= 0) {
        b->why = r == 0 ? "the client sent nothing more of the request body" :
                          "the request body ended early";
        return -1;
    }
    b->cur = b->buf;
    b->avail = (size_t)n;
    return 0;
}

/* One line of the chunked framing (a size line or a trailer) into line, without its CRLF. */
static int body_line(tug_http_body *b, char *line, size_t size)
{
    size_t n = 0;
    for (;;) {
        if (body_fill(b) < 0)
            return -1;
        char c = *b->cur++;
        b->avail--;
        if (c == '\n')
            break;
        if (n + 1 >= size) {
            b->why = "malformed chunked request body: a line too long";
            return -1;
        }
        line[n++] = c;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return 0;
}

/* The chunked framing up to the next data (or the end): state BODY_DATA or BODY_DONE. */
static int body_frame(tug_http_body *b)
{
    char line[4096];
    while (b->state != BODY_DATA && b->state != BODY_DONE) {
        if (body_line(b, line, sizeof(line)) < 0)
            return -1;
        if (b->state == BODY_DATA_END) {
            if (line[0] != '\0') {
                b->why = "malformed chunked request body: no CRLF after a chunk";
                return -1;
            }
            b->state = BODY_SIZE;
        } else if (b->state == BODY_TRAILER) {
            if (line[0] == '\0')
                b->state = BODY_DONE;
        } else {
            long long size = 0;
            size_t i = 0;
            for (; hexval(line[i]) >= 0; i++) {
                if (size > (LLONG_MAX >> 4)) {
                    b->why = "malformed chunked request body: a chunk too large";
                    return -1;
                }
                size = size * 16 + hexval(line[i]);
            }
            if (i == 0 || (line[i] != '\0' && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
                b->why = "malformed chunked request body: a bad chunk size";
                return -1;
            }
            b->left = size;
            b->state = size > 0 ? BODY_DATA : BODY_TRAILER;
        }
    }
    return 0;
}

long tug_http_body_read(tug_http_body *b, void *out, size_t n)
{
    if (b->chunked && body_frame(b) < 0)
        return -1;
    if (b->state == BODY_DONE || n == 0)
        return 0;
    if (body_fill(b) < 0)
        return -1;
    size_t take = b->avail < n ? b->avail : n;
    if ((long long)take > b->left)
        take = (size_t)b->left;
    memcpy(out, b->cur, take);
    b->cur += take;
    b->avail -= take;
    b->left -= (long long)take;
    if (b->left == 0)
        b->state = b->chunked ? BODY_DATA_END : BODY_DONE;
    return (long)take;
}
