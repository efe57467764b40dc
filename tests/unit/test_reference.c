#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/reference.h"
#include "util/cleanup.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct good_case {
    const char *in;
    const char *domain;
    const char *path;
    const char *tag;
    const char *digest;
    bool defaulted;
    const char *string; /* tug_reference_string */
};

static const struct good_case good[] = {
    {"nginx", "docker.io", "library/nginx", "latest", NULL, true, "docker.io/library/nginx:latest"},
    {"nginx:1.25", "docker.io", "library/nginx", "1.25", NULL, false,
     "docker.io/library/nginx:1.25"},
    {"user/app:1", "docker.io", "user/app", "1", NULL, false, "docker.io/user/app:1"},
    {"docker.io/nginx", "docker.io", "library/nginx", "latest", NULL, true,
     "docker.io/library/nginx:latest"},
    {"index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", NULL, true,
     "docker.io/library/nginx:latest"},
    {"index.docker.io/nginx:x", "docker.io", "library/nginx", "x", NULL, false,
     "docker.io/library/nginx:x"},
    {"docker.io/library/nginx", "docker.io", "library/nginx", "latest", NULL, true,
     "docker.io/library/nginx:latest"},
    {"localhost:5000/a/b:t", "localhost:5000", "a/b", "t", NULL, false, "localhost:5000/a/b:t"},
    {"localhost/x", "localhost", "x", "latest", NULL, true, "localhost/x:latest"},
    {"localhost", "docker.io", "library/localhost", "latest", NULL, true,
     "docker.io/library/localhost:latest"},
    /* like docker: without a '/', the port is read as a tag */
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL, false,
     "docker.io/library/localhost:5000"},
    {"127.0.0.1:5000/x@" D64, "127.0.0.1:5000", "x", NULL, D64, false, "127.0.0.1:5000/x@" D64},
    {"nginx:1.25@" D64, "docker.io", "library/nginx", "1.25", D64, false,
     "docker.io/library/nginx:1.25@" D64},
    {"nginx@" D64, "docker.io", "library/nginx", NULL, D64, false, "docker.io/library/nginx@" D64},
    {"ghcr.io/o/r/deep/path:v1.2.3-rc_1", "ghcr.io", "o/r/deep/path", "v1.2.3-rc_1", NULL, false,
     "ghcr.io/o/r/deep/path:v1.2.3-rc_1"},
    {"quay.io/a.b/c_d__e--f:_T", "quay.io", "a.b/c_d__e--f", "_T", NULL, false,
     "quay.io/a.b/c_d__e--f:_T"},
    {"[::1]:5000/img:1", "[::1]:5000", "img", "1", NULL, false, "[::1]:5000/img:1"},
    {"Example.COM/app", "Example.COM", "app", "latest", NULL, true, "Example.COM/app:latest"},
    {"my-registry.local:443/ns/app", "my-registry.local:443", "ns/app", "latest", NULL, true,
     "my-registry.local:443/ns/app:latest"},
};

static void test_parse_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(good); i++) {
        const struct good_case *c = &good[i];
        cleanup_reference tug_reference *ref = NULL;
        cleanup_error tug_error *err = NULL;
        int r = tug_reference_parse(c->in, &ref, &err);
        if (r != 0)
            fail_msg("%s: %s", c->in, err->msg);
        assert_string_equal(ref->domain, c->domain);
        assert_string_equal(ref->path, c->path);
        if (c->tag)
            assert_string_equal(ref->tag, c->tag);
        else
            assert_null(ref->tag);
        if (c->digest)
            assert_string_equal(ref->digest, c->digest);
        else
            assert_null(ref->digest);
        assert_int_equal(ref->tag_defaulted, c->defaulted);
        cleanup_free char *s = tug_reference_string(ref);
        assert_string_equal(s, c->string);
    }
}

struct bad_case {
    const char *in;
    const char *msg;
};

static const char INVALID[] = "invalid reference format";
static const char LOWER[] = "invalid reference format: repository name must be lowercase";

static void test_parse_bad(void **state)
{
    (void)state;
    char long_tag[256], long_tag_ok[256], long_name[300];
    memset(long_tag, 0, sizeof(long_tag));
    memcpy(long_tag, "nginx:", 6);
    memset(long_tag + 6, 'a', 200);
    memset(long_tag_ok, 0, sizeof(long_tag_ok));
    memcpy(long_tag_ok, "nginx:", 6);
    memset(long_tag_ok + 6, 'a', 128);
    memset(long_name, 0, sizeof(long_name));
    memset(long_name, 'a', 250);

    const struct bad_case bad[] = {
        {"", INVALID},
        {":tag", INVALID},
        {"nginx/", INVALID},
        {"/nginx", INVALID},
        {"a//b", INVALID},
        {"a:b:c", INVALID},
        {"nginx:", INVALID},
        {"nginx@", INVALID},
        {"nginx@sha256:abc", INVALID},
        {"nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", INVALID},
        {"nginx@md5:0123456789abcdef0123456789abcdef", INVALID},
        {"nginx:-x", INVALID},
        {"nginx:.x", INVALID},
        {"ngi nx", INVALID},
        {"a__-b", INVALID},
        {"a___b", INVALID},
        {"-a", INVALID},
        {"a.", INVALID},
        {"foo_bar.com/x", INVALID},
        {"-host.io/x", INVALID},
        {"host.io:/x", INVALID},
        {"host.io:50a/x", INVALID},
        {"[]:5000/x", INVALID},
        {"localhost:5000/a/b:t@sha256:x", INVALID},
        {long_tag, INVALID},
        {long_name, "invalid reference format: repository name must not be more than 255 "
                    "characters"},
        {"Nginx", LOWER},
        {"Nginx:1", LOWER},
        {"user/App", LOWER},
        {"localhost:5000/Foo", LOWER},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "invalid reference format: repository name"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(bad); i++) {
        cleanup_reference tug_reference *ref = NULL;
        cleanup_error tug_error *err = NULL;
        int r = tug_reference_parse(bad[i].in, &ref, &err);
        if (r == 0)
            fail_msg("%s: parsed as %s/%s", bad[i].in, ref->domain, ref->path);
        assert_null(ref);
        assert_int_equal(err->kind, TUG_ERR_USER);
        if (strncmp(err->msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].in, err->msg, bad[i].msg);
    }

    cleanup_reference tug_reference *ref = NULL;
    assert_int_equal(tug_reference_parse(long_tag_ok, &ref, NULL), 0);
    assert_int_equal(strlen(ref->tag), 128);
    assert_true(tug_reference_parse(NULL, &ref, NULL) < 0);
}

static void test_name(void **state)
{
    (void)state;
    cleanup_reference tug_reference *ref = NULL;
    assert_int_equal(tug_reference_parse("nginx:1@" D64, &ref, NULL), 0);
    cleanup_free char *name = tug_reference_name(ref);
    assert_string_equal(name, "docker.io/library/nginx");
}

static void test_familiar_name(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"docker.io/library/nginx", "nginx"},
        {"docker.io/u/app", "u/app"},
        {"docker.io/library/a/b", "library/a/b"},
        {"localhost:5000/library/x", "localhost:5000/library/x"},
        {"ghcr.io/o/r", "ghcr.io/o/r"},
        {"docker.iox/a", "docker.iox/a"},
        {"nginx", "nginx"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cases); i++) {
        cleanup_free char *f = tug_familiar_name(cases[i][0]);
        assert_string_equal(f, cases[i][1]);
    }
}

static void test_registry_host(void **state)
{
    (void)state;
    assert_string_equal(tug_registry_host("docker.io"), "registry-1.docker.io");
    assert_string_equal(tug_registry_host("ghcr.io"), "ghcr.io");
    assert_string_equal(tug_registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
}

static void test_loopback(void **state)
{
    (void)state;
    static const char *yes[] = {"localhost",      "localhost:5000", "LocalHost:1", "127.0.0.1",
                                "127.0.0.1:5000", "127.1.2.3:80",   "[::1]",       "[::1]:5000"};
    static const char *no[] = {"docker.io",   "localhost.example.com", "localhost:",
                               "localhost:x", "128.0.0.1:5000",        "127.0.0.256",
                               "127.0.0",     "127.0.0.1.1",           "[::2]:5000",
                               "[::1]5000",   "10.0.0.1:5000",         "",
                               "127..0.1"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(yes); i++)
        if (!tug_domain_is_loopback(yes[i]))
            fail_msg("%s should be loopback", yes[i]);
    for (size_t i = 0; i < TUG_ARRAY_SIZE(no); i++)
        if (tug_domain_is_loopback(no[i]))
            fail_msg("%s should not be loopback", no[i]);
    assert_false(tug_domain_is_loopback(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_name),          cmocka_unit_test(test_familiar_name),
        cmocka_unit_test(test_registry_host), cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
