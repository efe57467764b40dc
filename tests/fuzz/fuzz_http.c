/* tug serve's HTTP request parser: any bytes a local client sends. */
#include "fuzz.h"

#include "serve/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *why = NULL;
    tug_http_req req;
    long r = tug_http_parse(buf, size, &req, &why);
    fuzz_check(r >= -2 && r <= (long)size, "answer %ld for %zu bytes", r, size);
    if (r == -1)
        fuzz_check(why != NULL && why[0] != '\0', "refused without a reason");
    if (r == -2)
        fuzz_check(size >= TUG_HTTP_MAX_HEAD, "431 for a head of %zu bytes", size);
    if (r > 0) {
        fuzz_check(r <= TUG_HTTP_MAX_HEAD, "a head of %ld bytes taken", r);
        fuzz_check(req.method && req.method[0] && req.path && req.path[0] == '/' && req.query,
                   "a request with no method, path or query");
        fuzz_check(req.minor == 0 || req.minor == 1, "HTTP/1.%d", req.minor);
        fuzz_check(!(req.chunked && req.content_length >= 0), "both a length and chunks");
        fuzz_check(strlen(req.path) <= strlen(req.target), "the path grew when decoded");
        for (size_t i = 0; i < req.n_headers; i++)
            fuzz_check(req.headers[i].name[0] != '\0', "a header with no name");
        (void)tug_http_header_get(&req, "Host");
        free(tug_http_query_get(&req, "filters"));
        free(tug_http_query_get(&req, "all"));
        /* the rest as a body (POST /build's reader), from the bytes given alone */
        tug_http_body b;
        char out[512];
        tug_http_body_init(&b, &req, -1, buf + r, size - (size_t)r, 0);
        long n, total = 0;
        while ((n = tug_http_body_read(&b, out, sizeof(out))) > 0)
            total += n;
        fuzz_check(total <= (long)size - r, "a body of %ld bytes from %zu", total, size - (size_t)r);
        fuzz_check(n == 0 || (b.why && b.why[0]), "a body refused without a reason");
        tug_http_req_clear(&req);
    }
    return 0;
}
