/* tug serve's request parser: what it takes, what it refuses and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "serve/http.h"

static long parse(const char *s, tug_http_req *req, const char **why)
{
    *why = NULL;
    return tug_http_parse(s, strlen(s), req, why);
}

static void test_request(void **state)
{
    (void)state;
    const char *s = "GET /v1.41/containers/json?all=1&filters=%7B%22a%22%3A%5B%22b+c%22%5D%7D "
                    "HTTP/1.1\r\nHost: docker\r\nUser-Agent:  x y \r\n\r\nNEXT";
    tug_http_req req;
    const char *why;
    long n = parse(s, &req, &why);
    assert_int_equal(n, (long)(strstr(s, "NEXT") - s));
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/v1.41/containers/json");
    assert_int_equal(req.minor, 1);
    assert_true(req.keep_alive);
    assert_int_equal(req.content_length, -1);
    assert_string_equal(tug_http_header_get(&req, "user-agent"), "x y");
    char *v = tug_http_query_get(&req, "filters");
    assert_string_equal(v, "{\"a\":[\"b c\"]}");
    free(v);
    v = tug_http_query_get(&req, "all");
    assert_string_equal(v, "1");
    free(v);
    assert_null(tug_http_query_get(&req, "size"));
    tug_http_req_clear(&req);

    /* bare LFs as Go's server takes them; 1.0 closes unless asked to keep alive */
    assert_true(parse("HEAD /_ping HTTP/1.0\n\n", &req, &why) > 0);
    assert_false(req.keep_alive);
    tug_http_req_clear(&req);
    assert_true(parse("GET /a%2Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                      "2\r\n\r\n{}",
                      &req, &why) > 0);
    assert_false(req.keep_alive);
    assert_int_equal(req.content_length, 2);
    assert_string_equal(req.path, "/a/b");
    tug_http_req_clear(&req);
}

static void test_incomplete(void **state)
{
    (void)state;
    tug_http_req req;
    const char *why;
    assert_int_equal(parse("GET /_ping HTTP/1.1\r\nHost: x\r\n", &req, &why), 0);
    assert_int_equal(parse("", &req, &why), 0);
    size_t big = TUG_HTTP_MAX_HEAD + 10;
    char *s = malloc(big);
    memset(s, 'a', big);
    assert_int_equal(tug_http_parse(s, big, &req, &why), -2);
    free(s);
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *req, *why;
    } bad[] = {
        {"GARBAGE\r\n\r\n", "malformed HTTP request line"},
        {"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n", "malformed HTTP request line"},
        {"G(T /x HTTP/1.1\r\nHost: x\r\n\r\n", "malformed HTTP method"},
        {"GET x HTTP/1.1\r\nHost: x\r\n\r\n", "malformed HTTP request target: it must start with /"},
        {"GET /x HTTP/2.0\r\nHost: x\r\n\r\n",
         "malformed HTTP version: only HTTP/1.0 and HTTP/1.1 are served"},
        {"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
         "malformed HTTP request target: bad percent-encoding"},
        {"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
         "malformed HTTP request target: bad percent-encoding"},
        {"GET /x HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
         "malformed HTTP header: folded lines are not allowed"},
        {"GET /x HTTP/1.1\r\nHost x\r\n\r\n", "malformed HTTP header: no name and colon"},
        {"GET /x HTTP/1.1\r\nHo st: x\r\n\r\n", "malformed HTTP header name"},
        {"GET /x HTTP/1.1\r\n\r\n", "missing required Host header"},
        {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
        {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         "bad Content-Length"},
        {"GET /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
         "unsupported Transfer-Encoding: only chunked is understood"},
        {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         "both Content-Length and Transfer-Encoding given"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_http_req req;
        const char *why;
        if (parse(bad[i].req, &req, &why) != -1)
            fail_msg("took bad request %zu: %s", i, bad[i].req);
        assert_string_equal(why, bad[i].why);
    }
    /* a NUL in the head */
    static const char nul[] = "GET /x HTTP/1.1\r\nHost: \0x\r\n\r\n";
    tug_http_req req;
    const char *why = NULL;
    assert_int_equal(tug_http_parse(nul, sizeof(nul) - 1, &req, &why), -1);
    assert_string_equal(why, "malformed HTTP request: NUL byte");
}

/* What the writers put on the wire: a JSON document with its length, a chunked stream. */
static char *written(int fd)
{
    static char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_writers(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    tug_http_out o = {.fd = p[1], .extra_headers = "Api-Version: 1.41\r\n"};
    assert_int_equal(tug_http_send_error(&o, 404, "No such container: x"), 0);
    char *w = written(p[0]);
    static const char head[] = "HTTP/1.1 404 Not Found\r\nApi-Version: 1.41\r\n";
    assert_true(strncmp(w, head, sizeof(head) - 1) == 0);
    assert_non_null(strstr(w, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(w, "Content-Length: 35\r\n\r\n{\"message\":\"No such container: x\"}\n"));
    o.close = true;
    assert_int_equal(tug_http_chunked_begin(&o, 200, "application/json"), 0);
    assert_int_equal(tug_http_chunk(&o, "{\"a\":1}\n", 8), 0);
    assert_int_equal(tug_http_chunk(&o, "", 0), 0); /* nothing: an empty chunk would end it */
    assert_int_equal(tug_http_chunked_end(&o), 0);
    w = written(p[0]);
    assert_non_null(strstr(w, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                              "8\r\n{\"a\":1}\n\r\n0\r\n\r\n"));
    close(p[0]);
    close(p[1]);
}

/* A body of the request head given, its bytes after the head in pre, the rest (if any) on a
 * pipe; read in reads of step bytes. Returns the bytes (malloc'd) or NULL after -1. */
static char *body_of(const char *head_and_pre, const char *later, size_t step, const char **why)
{
    tug_http_req req;
    const char *w;
    long n = parse(head_and_pre, &req, &w);
    assert_true(n > 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    if (later)
        assert_int_equal(write(p[1], later, strlen(later)), (ssize_t)strlen(later));
    close(p[1]);
    tug_http_body b;
    tug_http_body_init(&b, &req, p[0], head_and_pre + n, strlen(head_and_pre + n), 1000);
    char *out = calloc(1, 4096);
    size_t len = 0;
    long r;
    while ((r = tug_http_body_read(&b, out + len, step)) > 0)
        len += (size_t)r;
    close(p[0]);
    tug_http_req_clear(&req);
    *why = b.why;
    if (r < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_body(void **state)
{
    (void)state;
    const char *why;
    char *b = body_of("POST /build HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcdeNEXT",
                      NULL, 2, &why);
    assert_string_equal(b, "abcde"); /* the next request's bytes are not the body's */
    free(b);
    b = body_of("POST /build HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", "cde", 64,
                &why);
    assert_string_equal(b, "abcde");
    free(b);
    /* chunks split anywhere between what came with the head and the connection; an extension
     * and a trailer are skipped */
    b = body_of("POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nab",
                "c\r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n", 4, &why);
    assert_string_equal(b, "abc0123456789");
    free(b);
    assert_null(body_of("POST /build HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", NULL,
                        64, &why));
    assert_string_equal(why, "the request body ended early");
    assert_null(body_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                        NULL, 64, &why));
    assert_string_equal(why, "malformed chunked request body: a bad chunk size");
    assert_null(body_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
                        NULL, 64, &why));
    assert_string_equal(why, "malformed chunked request body: no CRLF after a chunk");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_request),
                                       cmocka_unit_test(test_incomplete),
                                       cmocka_unit_test(test_refused),
                                       cmocka_unit_test(test_writers),
                                       cmocka_unit_test(test_body)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
