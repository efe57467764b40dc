#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/manifest.h"
#include "registry/registry.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char docker_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" TUG_MT_DOCKER_MANIFEST "\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1469,"
    "\"digest\":\"" D1 "\"},"
    "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
    "\"size\":2811969,\"digest\":\"" D2 "\"}]}";

static const char oci_index[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" TUG_MT_OCI_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" TUG_MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" D1 "\","
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" TUG_MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" D2 "\","
    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"" TUG_MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" D3 "\","
    "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}]}";

static void test_docker_manifest(void **state)
{
    (void)state;
    tug_manifest *m = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_manifest_parse(docker_manifest, strlen(docker_manifest), NULL, &m, &err),
                     0);
    assert_false(m->is_index);
    assert_string_equal(m->config.digest, D1);
    assert_int_equal(m->config.size, 1469);
    assert_int_equal(m->n_layers, 1);
    assert_string_equal(m->layers[0].digest, D2);
    assert_int_equal(tug_layer_compression(m->layers[0].media_type), TUG_COMPRESS_GZIP);
    tug_manifest_free(m);
}

static void test_index_select(void **state)
{
    (void)state;
    tug_manifest *m = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_manifest_parse(oci_index, strlen(oci_index), NULL, &m, &err), 0);
    assert_true(m->is_index);
    assert_int_equal(m->n_manifests, 3);
    tug_platform p;
    const tug_descriptor *d = NULL;
    assert_int_equal(tug_platform_parse("linux/amd64", &p, &err), 0);
    assert_int_equal(tug_index_select(m, &p, &d, &err), 0);
    assert_string_equal(d->digest, D1);
    tug_platform_clear(&p);
    assert_int_equal(tug_platform_parse("linux/arm64", &p, &err), 0);
    assert_int_equal(tug_index_select(m, &p, &d, &err), 0);
    assert_string_equal(d->digest, D2);
    tug_platform_clear(&p);
    assert_int_equal(tug_platform_parse("linux/s390x", &p, &err), 0);
    assert_true(tug_index_select(m, &p, &d, &err) < 0);
    assert_non_null(strstr(err->msg, "linux/s390x"));
    assert_non_null(strstr(err->msg, "linux/amd64, linux/arm64/v8"));
    assert_null(strstr(err->msg, "unknown"));
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
    tug_platform_clear(&p);
    tug_manifest_free(m);
}

static void test_bad_manifests(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{not json",
        "[]",
        "{\"schemaVersion\":1,\"name\":\"x\"}",
        "{\"schemaVersion\":2,\"mediaType\":\"" TUG_MT_OCI_MANIFEST "\",\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"" TUG_MT_OCI_MANIFEST "\",\"config\":{\"digest\":"
        "\"sha256:abc\",\"size\":1},\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"application/x-unknown\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_manifest *m = NULL;
        tug_error *err = NULL;
        assert_true(tug_manifest_parse(bad[i], strlen(bad[i]), NULL, &m, &err) < 0);
        assert_null(m);
        assert_non_null(err);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
    }
}

static void test_platform_parse(void **state)
{
    (void)state;
    tug_platform p;
    tug_error *err = NULL;
    assert_int_equal(tug_platform_parse("linux/arm/v7", &p, &err), 0);
    assert_string_equal(p.os, "linux");
    assert_string_equal(p.arch, "arm");
    assert_string_equal(p.variant, "v7");
    tug_platform_clear(&p);
    assert_int_equal(tug_platform_parse("x86_64", &p, &err), 0);
    assert_string_equal(p.arch, "amd64");
    tug_platform_clear(&p);
    assert_true(tug_platform_parse("linux/", &p, &err) < 0);
    tug_error_free(err);
    err = NULL;
    assert_true(tug_platform_parse("a/b/c/d", &p, &err) < 0);
    tug_error_free(err);
    assert_int_equal(tug_layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"),
                     TUG_COMPRESS_ZSTD);
    assert_int_equal(tug_layer_compression("application/vnd.oci.image.layer.v1.tar"),
                     TUG_COMPRESS_NONE);
    assert_int_equal(tug_layer_compression("application/x-bogus"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_manifest),
        cmocka_unit_test(test_index_select),
        cmocka_unit_test(test_bad_manifests),
        cmocka_unit_test(test_platform_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
