#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/auth.h"
#include "registry/registry.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"

/* ---- WWW-Authenticate ---- */

static void test_challenge_bearer(void **state)
{
    (void)state;
    tug_auth_challenge c;
    assert_int_equal(
        tug_auth_parse_challenge(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
            "scope=\"repository:library/nginx:pull\"",
            &c, NULL),
        0);
    assert_int_equal(c.scheme, TUG_AUTH_BEARER);
    assert_string_equal(c.realm, "https://auth.docker.io/token");
    assert_string_equal(c.service, "registry.docker.io");
    assert_string_equal(c.scope, "repository:library/nginx:pull");
    tug_auth_challenge_clear(&c);

    /* case-insensitive names, unquoted values, a comma and an escape inside quotes */
    assert_int_equal(
        tug_auth_parse_challenge("bearer REALM=http://x/t , Scope=\"repository:a:pull,push\","
                                 " service=\"s\\\"q\"",
                                 &c, NULL),
        0);
    assert_int_equal(c.scheme, TUG_AUTH_BEARER);
    assert_string_equal(c.realm, "http://x/t");
    assert_string_equal(c.scope, "repository:a:pull,push");
    assert_string_equal(c.service, "s\"q");
    tug_auth_challenge_clear(&c);
}

static void test_challenge_other(void **state)
{
    (void)state;
    tug_auth_challenge c;
    assert_int_equal(tug_auth_parse_challenge("Basic realm=\"Registry Realm\"", &c, NULL), 0);
    assert_int_equal(c.scheme, TUG_AUTH_BASIC);
    assert_string_equal(c.realm, "Registry Realm");
    assert_null(c.service);
    tug_auth_challenge_clear(&c);

    /* several challenges: Bearer wins wherever it is */
    assert_int_equal(tug_auth_parse_challenge("Basic realm=\"b\", Bearer realm=\"https://t\","
                                              "service=\"svc\"",
                                              &c, NULL),
                     0);
    assert_int_equal(c.scheme, TUG_AUTH_BEARER);
    assert_string_equal(c.realm, "https://t");
    assert_string_equal(c.service, "svc");
    tug_auth_challenge_clear(&c);

    static const char *none[] = {
        "",  "Negotiate abc==",   "Bearer service=\"no realm\"", "Bearer realm=\"\"", "\"\"=,,,",
        "=", "Digest realm=\"x\""};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(none); i++) {
        assert_int_equal(tug_auth_parse_challenge(none[i], &c, NULL), 0);
        if (c.scheme != TUG_AUTH_NONE)
            fail_msg("\"%s\" gave scheme %d", none[i], c.scheme);
        tug_auth_challenge_clear(&c);
    }
    assert_int_equal(tug_auth_parse_challenge(NULL, &c, NULL), 0);
    assert_int_equal(c.scheme, TUG_AUTH_NONE);
}

/* ---- config.json ---- */

static char *find(const char *json, const char *domain)
{
    char *basic = (char *)"unset";
    cleanup_error tug_error *err = NULL;
    if (tug_auth_find_credentials(json, strlen(json), domain, &basic, &err) < 0)
        fail_msg("%s: %s", domain, err->msg);
    return basic;
}

static void test_credentials(void **state)
{
    (void)state;
    /* "dTpw" is base64("u:p"), "YWxpY2U6c2VjcmV0" base64("alice:secret") */
    const char *cfg = "{\"auths\":{"
                      "\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6c2VjcmV0\"},"
                      "\"https://reg.example.com:5000\":{\"auth\":\"dTpw\"},"
                      "\"ghcr.io\":{\"username\":\"u\",\"password\":\"p\"},"
                      "\"quay.io\":{\"auth\":\"\"},"
                      "\"http://127.0.0.1:5000/v2/\":{\"auth\":\"dTpw\"},"
                      "\"pad1.example\":{\"username\":\"ab\",\"password\":\"cd\"},"
                      "\"pad2.example\":{\"username\":\"ab\",\"password\":\"c\"}"
                      "},\"credsStore\":\"desktop\"}";
    struct {
        const char *domain;
        const char *want;
    } cases[] = {
        {"docker.io", "YWxpY2U6c2VjcmV0"},
        {"reg.example.com:5000", "dTpw"},
        {"REG.example.com:5000", "dTpw"},
        {"ghcr.io", "dTpw"},
        {"127.0.0.1:5000", "dTpw"},
        {"pad1.example", "YWI6Y2Q="}, /* base64 padding, one and two '=' */
        {"pad2.example", "YWI6Yw=="},
        {"reg.example.com", NULL},
        {"quay.io", NULL},
        {"example.org", NULL},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cases); i++) {
        cleanup_free char *b = find(cfg, cases[i].domain);
        if (cases[i].want == NULL && b != NULL)
            fail_msg("%s: got %s", cases[i].domain, b);
        if (cases[i].want != NULL && (b == NULL || strcmp(b, cases[i].want) != 0))
            fail_msg("%s: got %s want %s", cases[i].domain, b ? b : "(null)", cases[i].want);
    }

    /* an entry named exactly like the domain wins; padding may be missing */
    cleanup_free char *exact = find(
        "{\"auths\":{\"https://h:1\":{\"auth\":\"dTpw\"},\"h:1\":{\"auth\":\"YTpi\"}}}", "h:1");
    assert_string_equal(exact, "YTpi");
    cleanup_free char *unpadded = find("{\"auths\":{\"h\":{\"auth\":\"dTp4eQ\"}}}", "h");
    assert_string_equal(unpadded, "dTp4eQ==");
    cleanup_free char *none = find("{}", "docker.io");
    assert_null(none);

    static const char *bad[] = {"{", "{\"auths\":{\"h\":{\"auth\":\"!!!\"}}}",
                                "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(bad); i++) {
        char *b = NULL;
        cleanup_error tug_error *err = NULL;
        assert_true(tug_auth_find_credentials(bad[i], strlen(bad[i]), "h", &b, &err) < 0);
        assert_non_null(err);
        assert_null(b);
    }
}

static void test_credentials_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/tug-test-auth-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_free char *path = NULL;
    assert_true(asprintf(&path, "%s/config.json", dir) > 0);
    const char *cfg = "{\"auths\":{\"h:1\":{\"auth\":\"dTpw\"}}}";
    assert_int_equal(tug_write_file_atomic(path, cfg, strlen(cfg), 0600, NULL), 0);

    char *b = NULL;
    assert_int_equal(tug_auth_load_credentials(path, "h:1", &b, NULL), 0);
    assert_string_equal(b, "dTpw");
    free(b);

    setenv("DOCKER_CONFIG", dir, 1);
    assert_int_equal(tug_auth_load_credentials(NULL, "h:1", &b, NULL), 0);
    assert_string_equal(b, "dTpw");
    free(b);
    unsetenv("DOCKER_CONFIG");

    /* ~/.docker/config.json missing is not an error */
    const char *home = getenv("HOME");
    cleanup_free char *saved = home ? strdup(home) : NULL;
    setenv("HOME", dir, 1);
    b = (char *)"unset";
    assert_int_equal(tug_auth_load_credentials(NULL, "h:1", &b, NULL), 0);
    assert_null(b);
    if (saved)
        setenv("HOME", saved, 1);

    b = (char *)"unset";
    assert_int_equal(tug_auth_load_credentials("/nonexistent/config.json", "h:1", &b, NULL), 0);
    assert_null(b);
    assert_int_equal(tug_rm_rf(dir, NULL), 0);
}

/* ---- token server answers ---- */

static void test_token_url(void **state)
{
    (void)state;
    const char *one[] = {"repository:library/nginx:pull", NULL};
    cleanup_free char *u1 =
        tug_auth_token_url("https://auth.docker.io/token", "registry.docker.io", one);
    assert_string_equal(u1, "https://auth.docker.io/token?service=registry.docker.io"
                            "&scope=repository%3Alibrary%2Fnginx%3Apull");
    const char *two[] = {"a b", "x&y=z", NULL};
    cleanup_free char *u2 = tug_auth_token_url("http://h/t?x=1", NULL, two);
    assert_string_equal(u2, "http://h/t?x=1&scope=a%20b&scope=x%26y%3Dz");
    cleanup_free char *u3 = tug_auth_token_url("http://h/t", "", NULL);
    assert_string_equal(u3, "http://h/t");
}

static void test_token_scopes(void **state)
{
    (void)state;
    cleanup_strv char **pull = tug_auth_scopes("a/b", false, NULL, "repository:a/b:pull");
    assert_non_null(pull);
    assert_string_equal(pull[0], "repository:a/b:pull");
    assert_null(pull[1]);
    /* a mount's challenge names both repositories, space separated */
    const char *from[] = {"lib/src", NULL};
    cleanup_strv char **push = tug_auth_scopes(
        "a/b", true, from, "repository:a/b:pull,push repository:lib/src:pull  extra:x:y");
    assert_non_null(push);
    assert_string_equal(push[0], "repository:a/b:pull,push");
    assert_string_equal(push[1], "repository:lib/src:pull");
    assert_string_equal(push[2], "extra:x:y");
    assert_null(push[3]);
}

static void test_token_parse(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"token\":\"abc\",\"expires_in\":300}", "abc"},
        {"{\"access_token\":\"xyz\"}", "xyz"},
        {"{\"token\":\"\",\"access_token\":\"xyz\"}", "xyz"},
        {"{}", NULL},
        {"not json", NULL},
        {"{\"token\":\"a\\r\\nX-Evil: 1\"}", NULL},
        {"{\"token\":5}", NULL},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cases); i++) {
        char *tok = NULL;
        cleanup_error tug_error *err = NULL;
        int r = tug_auth_parse_token(cases[i].body, strlen(cases[i].body), &tok, &err);
        if (cases[i].want) {
            assert_int_equal(r, 0);
            assert_string_equal(tok, cases[i].want);
            free(tok);
        } else {
            assert_true(r < 0);
            assert_null(tok);
            assert_non_null(err);
        }
    }
}

static void test_error_text(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\"}]}",
         "blob unknown: blob unknown to registry"},
        {"{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}",
         "manifest unknown"},
        {"{\"errors\":[{\"code\":\"DENIED\"}]}", "denied"},
        {"{\"errors\":[{\"message\":\"only a message\"}]}", "only a message"},
        {"{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"You have reached your pull "
         "rate limit.\"},{\"code\":\"X\"}]}",
         "toomanyrequests: You have reached your pull rate limit."},
        {"{\"details\":\"incorrect username or password\"}", "incorrect username or password"},
        {"{\"errors\":[]}", NULL},
        {"{\"errors\":[{}]}", NULL},
        {"<html>502 Bad Gateway</html>", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cases); i++) {
        cleanup_free char *t = tug_registry_error_text(cases[i].body, strlen(cases[i].body));
        if (cases[i].want == NULL && t != NULL)
            fail_msg("%s: got %s", cases[i].body, t);
        if (cases[i].want != NULL && (t == NULL || strcmp(t, cases[i].want) != 0))
            fail_msg("%s: got %s", cases[i].body, t ? t : "(null)");
    }
    assert_null(tug_registry_error_text(NULL, 0));
}

static void test_insecure(void **state)
{
    (void)state;
    const char *const list[] = {"reg.lan:5000", "https://other.lan/", NULL};
    assert_true(tug_auth_insecure("reg.lan:5000", list, NULL));
    assert_false(tug_auth_insecure("reg.lan:5001", list, NULL));
    assert_false(tug_auth_insecure("reg.lan", list, NULL));
    assert_true(tug_auth_insecure("other.lan", list, NULL));
    assert_true(tug_auth_insecure("other.lan:443", list, NULL)); /* a bare host covers ports */
    assert_true(tug_auth_insecure("a.lan:1", NULL, "x, a.lan:1 ,y"));
    assert_true(tug_auth_insecure("y:2", NULL, "x, a.lan:1 ,y"));
    assert_true(tug_auth_insecure("[fd00::2]:5000", NULL, "[fd00::2]:5000"));
    assert_false(tug_auth_insecure("[fd00::2]:5000", NULL, "[fd00::2]"));
    assert_false(tug_auth_insecure("b.lan", NULL, ",,a.lan, "));
    assert_false(tug_auth_insecure("b.lan", NULL, ""));
    assert_false(tug_auth_insecure("b.lan", NULL, NULL));
}

/* ---- against a tiny in-process registry ---- */

#define BLOB_LEN (300 * 1024)
static const char MANIFEST[] = "{\"schemaVersion\":2,\"mediaType\":"
                               "\"application/vnd.docker.distribution.manifest.v2+json\"}";

static struct fake {
    int fd;
    int port;
    char domain[32];
    pthread_t thread;
    pthread_mutex_t lock;
    char blob[BLOB_LEN];
    char blob_digest[TUG_DIGEST_LEN + 1];
    char manifest_digest[TUG_DIGEST_LEN + 1];
    /* behaviour */
    bool need_token;
    bool ignore_range;
    bool corrupt;
    int cut_next; /* cut this many blob answers halfway */
    /* observations */
    int token_requests;
    char last_range[64];
    char last_auth[128];
} srv;

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *extra, const void *body, size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     len, extra ? extra : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

static void header_value(const char *req, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = strcasestr(req, name);
    if (p == NULL)
        return;
    p += strlen(name);
    size_t n = strcspn(p, "\r\n");
    snprintf(out, outlen, "%.*s", (int)n, p);
}

static void serve(int fd)
{
    char req[8192];
    size_t len = 0;
    while (len < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[1024] = "", auth[128], range[64];
    sscanf(req, "GET %1023s", path);
    header_value(req, "\r\nAuthorization: ", auth, sizeof(auth));
    header_value(req, "\r\nRange: bytes=", range, sizeof(range));

    pthread_mutex_lock(&srv.lock);
    bool is_token = strncmp(path, "/token", 6) == 0;
    if (is_token)
        srv.token_requests++;
    else {
        snprintf(srv.last_range, sizeof(srv.last_range), "%s", range);
        snprintf(srv.last_auth, sizeof(srv.last_auth), "%s", auth);
    }
    bool need_token = srv.need_token, ignore_range = srv.ignore_range, corrupt = srv.corrupt;
    bool cut = false;
    if (strstr(path, "/blobs/") && srv.cut_next > 0) {
        srv.cut_next--;
        cut = true;
    }
    pthread_mutex_unlock(&srv.lock);

    static const char unknown_blob[] =
        "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\"}]}";
    if (is_token) {
        if (strstr(path, "scope=repository%3Atest%3Apull") == NULL)
            return respond(fd, 400, NULL, "{}", 2);
        return respond(fd, 200, NULL, "{\"token\":\"T0K\"}", 15);
    }
    if (need_token && strcmp(auth, "Bearer T0K") != 0) {
        char extra[256];
        snprintf(
            extra, sizeof(extra),
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake\"\r\n",
            srv.port);
        return respond(fd, 401, extra, "{}", 2);
    }
    char want[256];
    snprintf(want, sizeof(want), "/v2/test/manifests/%s", srv.manifest_digest);
    if (strcmp(path, "/v2/test/manifests/v1") == 0 || strcmp(path, want) == 0)
        return respond(fd, 200, "Content-Type: text/plain; charset=utf-8\r\n", MANIFEST,
                       strlen(MANIFEST));
    snprintf(want, sizeof(want), "/v2/test/manifests/%s", srv.blob_digest);
    if (strcmp(path, want) == 0) /* a body that does not match the digest asked for */
        return respond(fd, 200, NULL, MANIFEST, strlen(MANIFEST));
    snprintf(want, sizeof(want), "/v2/test/blobs/%s", srv.blob_digest);
    if (strcmp(path, want) != 0)
        return respond(fd, 404, "Content-Type: application/json\r\n", unknown_blob,
                       strlen(unknown_blob));

    char body[BLOB_LEN];
    memcpy(body, srv.blob, BLOB_LEN);
    if (corrupt)
        body[BLOB_LEN - 1] ^= 1;
    long start = range[0] && !ignore_range ? strtol(range, NULL, 10) : 0;
    if (start >= BLOB_LEN)
        return respond(fd, 416, NULL, NULL, 0);
    char extra[128] = "";
    if (range[0] && !ignore_range)
        snprintf(extra, sizeof(extra), "Content-Range: bytes %ld-%d/%d\r\n", start, BLOB_LEN - 1,
                 BLOB_LEN);
    int status = extra[0] ? 206 : 200;
    if (cut) {
        char head[256];
        int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %ld\r\n%s\r\n",
                         status, BLOB_LEN - start, extra);
        send_all(fd, head, (size_t)n);
        send_all(fd, body + start, (size_t)(BLOB_LEN - start) / 2);
        return;
    }
    respond(fd, status, extra, body + start, (size_t)(BLOB_LEN - start));
}

static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL;
        serve(c);
        shutdown(c, SHUT_WR);
        close(c);
    }
}

static int server_up(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.lock, NULL);
    for (int i = 0; i < BLOB_LEN; i++)
        srv.blob[i] = (char)((i * 131) ^ (i >> 7));
    tug_sha256_buf(srv.blob, BLOB_LEN, srv.blob_digest);
    tug_sha256_buf(MANIFEST, strlen(MANIFEST), srv.manifest_digest);

    srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(srv.fd, 16) < 0 || getsockname(srv.fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    srv.port = ntohs(sa.sin_port);
    snprintf(srv.domain, sizeof(srv.domain), "127.0.0.1:%d", srv.port);
    return pthread_create(&srv.thread, NULL, server_main, NULL) == 0 ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    shutdown(srv.fd, SHUT_RDWR);
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    return 0;
}

static void reset_server(void)
{
    pthread_mutex_lock(&srv.lock);
    srv.need_token = srv.ignore_range = srv.corrupt = false;
    srv.cut_next = 0;
    srv.token_requests = 0;
    srv.last_range[0] = srv.last_auth[0] = '\0';
    pthread_mutex_unlock(&srv.lock);
}

static tug_registry *open_fake(void)
{
    static const char *const none[] = {NULL};
    tug_registry_opts opts = {.insecure_registries = none,
                              .auth_config_path = "/nonexistent/config.json"};
    tug_registry *reg = NULL;
    cleanup_error tug_error *err = NULL;
    if (tug_registry_open(srv.domain, "test", &opts, &reg, &err) < 0)
        fail_msg("open: %s", err->msg);
    return reg;
}

static void registry_freep(tug_registry **r)
{
    tug_registry_free(*r);
}
#define cleanup_registry __attribute__((cleanup(registry_freep)))

static void test_manifest(void **state)
{
    (void)state;
    reset_server();
    cleanup_registry tug_registry *reg = open_fake();
    cleanup_free char *body = NULL, *mt = NULL;
    size_t len = 0;
    assert_int_equal(tug_registry_get_manifest(reg, "v1", &body, &len, &mt, NULL), 0);
    assert_int_equal(len, strlen(MANIFEST));
    assert_memory_equal(body, MANIFEST, len);
    /* a generic Content-Type falls back to the body's mediaType */
    assert_string_equal(mt, TUG_MT_DOCKER_MANIFEST);

    cleanup_free char *body2 = NULL, *mt2 = NULL;
    assert_int_equal(tug_registry_get_manifest(reg, srv.manifest_digest, &body2, &len, &mt2, NULL),
                     0);

    cleanup_error tug_error *err = NULL;
    assert_true(tug_registry_get_manifest(reg, "nope", &body2, &len, &mt2, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
    assert_int_equal(err->status, 404);
    char want[128];
    snprintf(want, sizeof(want), "manifest unknown: manifest for %s/test:nope not found",
             srv.domain);
    assert_string_equal(err->msg, want);
    tug_error_freep(&err);

    /* by digest, the body must hash to it */
    assert_true(tug_registry_get_manifest(reg, srv.blob_digest, &body2, &len, &mt2, &err) < 0);
    assert_non_null(strstr(err->msg, "digest mismatch"));
    tug_error_freep(&err);

    assert_true(tug_registry_get_manifest(reg, "bad/tag", &body2, &len, &mt2, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
}

static void blob_path(char *out, size_t len)
{
    snprintf(out, len, "/tmp/tug-test-blob-%d", (int)getpid());
    unlink(out);
}

static void assert_blob_file(const char *path)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    assert_int_equal(tug_read_file(path, &data, &len, NULL), 0);
    assert_int_equal(len, BLOB_LEN);
    assert_memory_equal(data, srv.blob, BLOB_LEN);
}

static void write_prefix(const char *path, size_t n, bool damage)
{
    cleanup_free char *buf = malloc(n);
    memcpy(buf, srv.blob, n);
    if (damage)
        buf[0] ^= 1;
    assert_int_equal(tug_write_file_atomic(path, buf, n, 0644, NULL), 0);
}

struct prog {
    long long last;
    long long total;
    int calls;
};

static void on_progress(void *userdata, long long done, long long total)
{
    struct prog *p = userdata;
    assert_true(done >= p->last);
    p->last = done;
    p->total = total;
    p->calls++;
}

static void test_blob(void **state)
{
    (void)state;
    reset_server();
    cleanup_registry tug_registry *reg = open_fake();
    char path[64];
    blob_path(path, sizeof(path));

    struct prog p = {0};
    assert_int_equal(
        tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, on_progress, &p, NULL), 0);
    assert_blob_file(path);
    assert_string_equal(srv.last_range, "");
    assert_int_equal(p.last, BLOB_LEN);
    assert_int_equal(p.total, BLOB_LEN);

    /* resume: only the rest is asked for */
    write_prefix(path, 1000, false);
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, -1, path, NULL, NULL, NULL), 0);
    assert_string_equal(srv.last_range, "1000-");
    assert_blob_file(path);

    /* a registry that ignores Range sends everything: the file starts over */
    srv.ignore_range = true;
    write_prefix(path, 5000, false);
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, NULL),
                     0);
    assert_blob_file(path);
    srv.ignore_range = false;

    /* a complete file with unknown size: the registry answers 416 and the file stands */
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, -1, path, NULL, NULL, NULL), 0);
    assert_blob_file(path);

    /* a complete but damaged file is fetched again */
    write_prefix(path, BLOB_LEN, true);
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, NULL),
                     0);
    assert_blob_file(path);
    unlink(path);
}

static void test_blob_errors(void **state)
{
    (void)state;
    reset_server();
    cleanup_registry tug_registry *reg = open_fake();
    char path[64];
    blob_path(path, sizeof(path));
    cleanup_error tug_error *err = NULL;
    struct stat st;

    /* a cut connection leaves the partial file, and the next call resumes */
    srv.cut_next = 1;
    assert_true(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, &err) < 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, BLOB_LEN / 2);
    tug_error_freep(&err);
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, NULL),
                     0);
    char want_range[32];
    snprintf(want_range, sizeof(want_range), "%d-", BLOB_LEN / 2);
    assert_string_equal(srv.last_range, want_range);
    assert_blob_file(path);
    unlink(path);

    /* wrong bytes: the file goes and the error says what came */
    srv.corrupt = true;
    assert_true(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, &err) < 0);
    char want[256];
    snprintf(want, sizeof(want), "blob %s: digest mismatch (got sha256:", srv.blob_digest);
    assert_memory_equal(err->msg, want, strlen(want));
    assert_int_equal(stat(path, &st), -1);
    tug_error_freep(&err);
    srv.corrupt = false;

    /* more bytes than the manifest promised */
    assert_true(tug_registry_get_blob(reg, srv.blob_digest, 100, path, NULL, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "size mismatch"));
    assert_int_equal(stat(path, &st), -1);
    tug_error_freep(&err);

    /* the registry's own words for a missing blob */
    const char *missing = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_true(tug_registry_get_blob(reg, missing, -1, path, NULL, NULL, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
    assert_int_equal(err->status, 404);
    assert_string_equal(err->msg, "blob unknown: blob unknown to registry");
    tug_error_freep(&err);
    unlink(path);

    assert_true(tug_registry_get_blob(reg, "sha256:xyz", -1, path, NULL, NULL, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
}

static void test_token_flow(void **state)
{
    (void)state;
    reset_server();
    srv.need_token = true;
    cleanup_registry tug_registry *reg = open_fake();
    cleanup_free char *body = NULL, *mt = NULL;
    size_t len = 0;
    assert_int_equal(tug_registry_get_manifest(reg, "v1", &body, &len, &mt, NULL), 0);
    assert_int_equal(srv.token_requests, 1);
    assert_string_equal(srv.last_auth, "Bearer T0K");

    /* the token is kept for the next request */
    char path[64];
    blob_path(path, sizeof(path));
    assert_int_equal(tug_registry_get_blob(reg, srv.blob_digest, BLOB_LEN, path, NULL, NULL, NULL),
                     0);
    assert_int_equal(srv.token_requests, 1);
    assert_blob_file(path);
    unlink(path);
}

static void test_unreachable(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* nothing listens on this port now */

    char domain[32];
    snprintf(domain, sizeof(domain), "127.0.0.1:%d", ntohs(sa.sin_port));
    tug_registry_opts opts = {.auth_config_path = "/nonexistent/config.json"};
    cleanup_registry tug_registry *reg = NULL;
    assert_int_equal(tug_registry_open(domain, "x", &opts, &reg, NULL), 0);
    cleanup_error tug_error *err = NULL;
    char *body = NULL, *mt = NULL;
    size_t len = 0;
    assert_true(tug_registry_get_manifest(reg, "latest", &body, &len, &mt, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_ENGINE);
    char want[96];
    snprintf(want, sizeof(want), "connect %s: Connection refused", domain);
    assert_string_equal(err->msg, want);
}

static void test_open_invalid(void **state)
{
    (void)state;
    tug_registry *reg = NULL;
    cleanup_error tug_error *err = NULL;
    assert_true(tug_registry_open("h", "../x", NULL, &reg, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_freep(&err);
    assert_true(tug_registry_open("h/x", "x", NULL, &reg, &err) < 0);
    assert_null(reg);
}

int main(void)
{
    const struct CMUnitTest parsing[] = {
        cmocka_unit_test(test_challenge_bearer), cmocka_unit_test(test_challenge_other),
        cmocka_unit_test(test_credentials),      cmocka_unit_test(test_credentials_file),
        cmocka_unit_test(test_token_url),        cmocka_unit_test(test_token_scopes),
        cmocka_unit_test(test_token_parse),      cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_insecure),         cmocka_unit_test(test_open_invalid),
        cmocka_unit_test(test_unreachable),
    };
    const struct CMUnitTest fake[] = {
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_blob),
        cmocka_unit_test(test_blob_errors),
        cmocka_unit_test(test_token_flow),
    };
    int failed = cmocka_run_group_tests_name("parsing", parsing, NULL, NULL);
    failed += cmocka_run_group_tests_name("fake registry", fake, server_up, server_down);
    return failed;
}
