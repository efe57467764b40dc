/* HTTP/1.1 for tug serve: a request parser (pure, fuzzed in tests/fuzz/fuzz_http.c) and the
 * response writers (Content-Length for documents, chunked for streams). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A request head larger than this is refused (431) before it is parsed. */
#define TUG_HTTP_MAX_HEAD (64 * 1024)
#define TUG_HTTP_MAX_HEADERS 100

typedef struct tug_http_header {
    const char *name, *value; /* into the request's copy of its head */
} tug_http_header;

typedef struct tug_http_req {
    char *head;          /* a NUL-separated copy of the head that the fields point into */
    const char *method;  /* "GET" */
    const char *target;  /* "/v1.41/containers/json?all=1", as sent */
    char *path;          /* the target's path, percent-decoded */
    const char *query;   /* after '?', still encoded ("" when none) */
    int minor;           /* HTTP/1.<minor> */
    bool keep_alive;     /* the connection stays open after the answer */
    bool chunked;        /* Transfer-Encoding: chunked body */
    long long content_length; /* -1 when not given */
    tug_http_header headers[TUG_HTTP_MAX_HEADERS];
    size_t n_headers;
} tug_http_req;

/* Parse the head of the request at buf[0..len). Returns the head's length (through the blank
 * line) when it is complete, 0 when more bytes are needed, -1 for a malformed head (*ret_why
 * says what is wrong; answer 400) or -2 for a head over TUG_HTTP_MAX_HEAD (431). On success
 * req owns a copy: tug_http_req_clear frees it. */
long tug_http_parse(const char *buf, size_t len, tug_http_req *req, const char **ret_why);
void tug_http_req_clear(tug_http_req *req);
/* The value of a header (case-insensitive name), or NULL. */
const char *tug_http_header_get(const tug_http_req *req, const char *name);
/* The decoded value of query parameter key (malloc'd), or NULL when absent. */
char *tug_http_query_get(const tug_http_req *req, const char *key);
/* Every non-empty value of a repeated parameter (t=a&t=b), decoded, NULL-terminated (a
 * value that does not decode is left out); NULL when out of memory. */
char **tug_http_query_all(const tug_http_req *req, const char *key);
/* Percent-decode (and '+' as space when form is set) s[0..n) into a new string; NULL for a
 * bad escape or an embedded NUL. */
char *tug_http_unescape(const char *s, size_t n, bool form);
/* The reason phrase of a status code. */
const char *tug_http_reason(int status);

/* A request body read as it comes, for an endpoint that takes a large or chunked one (POST
 * /build's context): what came with the head first, then the connection; Content-Length or
 * chunked (chunk extensions and trailers are skipped, a size line is bounded). */
typedef struct tug_http_body {
    int fd;                /* -1: only the bytes given (the fuzz target) */
    const char *cur;       /* bytes read and not yet used */
    size_t avail;
    bool chunked;
    int state;             /* chunked: where in the framing the next byte is */
    long long left;        /* of the length, or of the chunk at hand */
    int timeout_ms;        /* for each read of the connection */
    const char *why;       /* what went wrong, after -1 */
    char buf[16384];
} tug_http_body;

/* Start reading req's body: pre[0..pre_len) came after the head (the body's first bytes, or
 * more); the rest is read from fd. */
void tug_http_body_init(tug_http_body *b, const tug_http_req *req, int fd, const char *pre,
                        size_t pre_len, int timeout_ms);
/* Up to n bytes of the body: their count, 0 at its end, -1 (b->why says why) when the
 * connection ended or idled before it, or the chunking is malformed. */
long tug_http_body_read(tug_http_body *b, void *out, size_t n);

/* Writing answers on a connection. Headers every answer carries (the Engine API's Api-Version,
 * Ostype...) come from the extra string, "Name: value\r\n" lines. Each returns 0, or -1 when
 * the peer has gone. */
typedef struct tug_http_out {
    int fd;
    bool head_only; /* a HEAD request: headers without the body */
    bool close;     /* Connection: close is sent, the connection ends after this answer */
    const char *extra_headers;
} tug_http_out;

int tug_http_send(tug_http_out *o, int status, const char *content_type, const void *body,
                  size_t len);
/* A JSON document with Content-Length; doc is consumed. */
int tug_http_send_json(tug_http_out *o, int status, json_t *doc);
/* {"message": msg} with the status, as the Engine API reports errors. */
int tug_http_send_error(tug_http_out *o, int status, const char *msg);
/* A chunked answer for streams: the head, then chunks, then the last (empty) chunk. */
int tug_http_chunked_begin(tug_http_out *o, int status, const char *content_type);
int tug_http_chunk(tug_http_out *o, const void *data, size_t len);
int tug_http_chunked_end(tug_http_out *o);
/* A hijacked stream (attach): "101 UPGRADED" with Upgrade: tcp when the client asked to
 * upgrade, else a 200 with neither length nor chunks; after it the bytes go on the connection
 * as they are (tug_http_raw), and the connection ends with them. */
int tug_http_hijack(tug_http_out *o, bool upgrade, const char *content_type);
int tug_http_raw(tug_http_out *o, const void *data, size_t len);
