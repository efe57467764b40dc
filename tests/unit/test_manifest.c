#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/manifest.h"
#include "registry/registry.h"
#include "store/imgconfig.h"

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

/* A docker config as `docker build` writes it: every field of the right type passes. */
static const char good_config[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00.5Z\","
    "\"author\":\"a\",\"docker_version\":\"20.10.24\",\"container\":\"abc\","
    "\"config\":{\"Hostname\":\"\",\"User\":\"nobody\",\"AttachStdin\":false,"
    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{},\"8000-8010\":{}},\"Tty\":false,"
    "\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\",\"-c\",\"echo\"],\"Image\":\"sha256:x\","
    "\"Volumes\":{\"/data\":{}},\"WorkingDir\":\"/w\",\"Entrypoint\":null,\"OnBuild\":null,"
    "\"Labels\":{\"a\":\"b\"},\"StopSignal\":\"SIGINT\",\"StopTimeout\":10,"
    "\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":1000000000,\"Retries\":3},"
    "\"Shell\":[\"/bin/sh\",\"-c\"],\"ArgsEscaped\":true},"
    "\"container_config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop) CMD\"]},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]},"
    "\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"ADD x\"},"
    "{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"CMD\",\"empty_layer\":true}]}";

static json_t *config_with(const char *path, const char *value_json)
{
    json_t *doc = json_loads(good_config, 0, NULL);
    assert_non_null(doc);
    json_error_t jerr;
    json_t *v = json_loads(value_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        fail_msg("%s: %s", value_json, jerr.text);
    /* "config/Cmd" -> doc["config"]["Cmd"] */
    char *copy = strdup(path), *dot = strchr(copy, '/');
    json_t *parent = doc;
    if (dot) {
        *dot = '\0';
        parent = json_object_get(doc, copy);
    }
    json_object_set_new(parent, dot ? dot + 1 : copy, v);
    free(copy);
    return doc;
}

static void test_config_good(void **state)
{
    (void)state;
    json_t *doc = json_loads(good_config, 0, NULL);
    tug_error *err = NULL;
    if (tug_image_config_check(doc, D1, &err) < 0)
        fail_msg("%s", err->msg);
    json_decref(doc);
}

static void test_config_hostile(void **state)
{
    (void)state;
    struct {
        const char *path, *value, *msg;
    } cases[] = {
        {"config/Cmd", "[\"sh\", 1]", "Cmd[1] is not a string"},
        {"config/Cmd", "5", "Cmd is not a string or a list of strings"},
        {"config/Entrypoint", "{}", "Entrypoint is not a string or a list of strings"},
        {"config/Env", "[\"A=1\", \"B=\\u0000x\"]", "Env[1] holds a NUL character"},
        {"config/Env", "[null]", "Env[0] is not a string"},
        {"config/WorkingDir", "5", "WorkingDir is not a string"},
        {"config/User", "[]", "User is not a string"},
        {"config/StopSignal", "{}", "StopSignal is not a string"},
        {"config/Tty", "\"yes\"", "Tty is not a boolean"},
        {"config/StopTimeout", "1.5", "StopTimeout is not an integer"},
        {"config/Labels", "{\"a\": 1}", "Labels[\"a\"] is not a string"},
        {"config/Labels", "[\"a=b\"]", "Labels is not an object of strings"},
        {"config/ExposedPorts", "[\"80/tcp\"]", "ExposedPorts is not an object"},
        {"config/ExposedPorts", "{\"http\": {}}",
         "ExposedPorts[\"http\"] is not a port (80, 80/tcp, 8000-8010/udp)"},
        {"config/ExposedPorts", "{\"70000/tcp\": {}}", "ExposedPorts[\"70000/tcp\"] is not a port"},
        {"config/ExposedPorts", "{\"80/tcp\": 1}", "ExposedPorts[\"80/tcp\"] is not an object"},
        {"config/Volumes", "{\"data\": {}}", "Volumes[\"data\"] is not an absolute path"},
        {"config/Volumes", "{\"/a\\u0001b\": 1}", "Volumes[\"/a?b\"] is not an object"},
        {"config/Healthcheck", "{\"Test\": true}",
         "Healthcheck.Test is not a string or a list of strings"},
        {"config/Healthcheck", "{\"Retries\": \"3\"}", "Healthcheck.Retries is not an integer"},
        {"config/Shell", "[[]]", "Shell[0] is not a string"},
        {"config/OnBuild", "1", "OnBuild is not a list of strings"},
        {"container_config/Cmd", "[1]", "container_config.Cmd[0] is not a string"},
        {"config", "[]", "config is not an object"},
        {"rootfs/diff_ids", "[1]", "rootfs.diff_ids[0] is not a string"},
        {"rootfs/diff_ids", "[\"sha256:abc\"]", "rootfs.diff_ids[0] is not a sha256 digest"},
        {"rootfs/type", "7", "rootfs.type is not a string"},
        {"history", "\"x\"", "history is not a list of objects"},
        {"history", "[1]", "history[0] is not an object"},
        {"history", "[{\"empty_layer\": \"yes\"}]", "history[0].empty_layer is not a boolean"},
        {"history", "[{\"created\": \"yesterday\"}]",
         "history[0].created is not a time (RFC 3339)"},
        {"created", "\"2024-13-45\"", "created is not a time (RFC 3339)"},
        {"architecture", "1", "architecture is not a string"},
        {"os.features", "\"x\"", "os.features is not a list of strings"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = config_with(cases[i].path, cases[i].value);
        tug_error *err = NULL;
        if (tug_image_config_check(doc, D2, &err) == 0)
            fail_msg("%s = %s: accepted", cases[i].path, cases[i].value);
        char want[512];
        snprintf(want, sizeof(want), "image config %.19s: %s", D2, cases[i].msg);
        if (strncmp(err->msg, want, strlen(want)) != 0)
            fail_msg("%s = %s:\n got  %s\n want %s", cases[i].path, cases[i].value, err->msg, want);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
        json_decref(doc);
    }
}

static void test_config_huge_lists(void **state)
{
    (void)state;
    const char *keys[] = {"Cmd", "Env", "Labels", "Volumes"};
    for (size_t k = 0; k < 4; k++) {
        json_t *doc = json_loads(good_config, 0, NULL);
        json_t *cfg = json_object_get(doc, "config");
        bool obj = k >= 2;
        json_t *v = obj ? json_object() : json_array();
        for (int i = 0; i <= TUG_CONFIG_MAX_ENTRIES; i++) {
            char s[32];
            snprintf(s, sizeof(s), "/v%d", i);
            if (obj)
                json_object_set_new(v, s, k == 2 ? json_string("x") : json_object());
            else
                json_array_append_new(v, json_string(s));
        }
        json_object_set_new(cfg, keys[k], v);
        tug_error *err = NULL;
        assert_int_equal(tug_image_config_check(doc, D1, &err), -1);
        char want[128];
        snprintf(want, sizeof(want), "%s has %d entries, more than the %d tug reads", keys[k],
                 TUG_CONFIG_MAX_ENTRIES + 1, TUG_CONFIG_MAX_ENTRIES);
        if (strstr(err->msg, want) == NULL)
            fail_msg("got %s", err->msg);
        tug_error_free(err);
        json_decref(doc);
    }
}

/* A config from a store written before the check: what fails goes, the rest stays. */
static void test_config_repair(void **state)
{
    (void)state;
    json_t *doc = config_with("config/Cmd", "[\"sh\", 1]");
    json_object_set_new(json_object_get(doc, "config"), "Labels", json_loads("{\"a\":1}", 0, NULL));
    json_object_set_new(doc, "history", json_string("x"));
    tug_error *err = NULL;
    assert_int_equal(tug_image_config_repair(doc, D1, &err), -1);
    assert_non_null(strstr(err->msg, "Cmd[1] is not a string")); /* the first problem */
    tug_error_free(err);
    json_t *cfg = json_object_get(doc, "config");
    assert_null(json_object_get(cfg, "Cmd"));
    assert_null(json_object_get(cfg, "Labels"));
    assert_null(json_object_get(doc, "history"));
    assert_string_equal(json_string_value(json_object_get(cfg, "User")), "nobody");
    assert_int_equal(json_array_size(json_object_get(cfg, "Env")), 1);
    /* repaired, it passes */
    err = NULL;
    assert_int_equal(tug_image_config_check(doc, D1, &err), 0);
    json_decref(doc);
    /* not an object at all */
    json_t *arr = json_array();
    assert_int_equal(tug_image_config_check(arr, D1, &err), -1);
    assert_non_null(strstr(err->msg, "is not a JSON object"));
    tug_error_free(err);
    json_decref(arr);
}

static void test_container_config(void **state)
{
    (void)state;
    json_t *cfg = json_loads("{\"Cmd\":[\"a\",2],\"Env\":[\"X=1\"]}", 0, NULL);
    tug_error *err = NULL;
    assert_int_equal(tug_container_config_check(cfg, "container", false, &err), -1);
    assert_string_equal(err->msg, "container: Cmd[1] is not a string");
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_container_config_check(cfg, "container", true, &err), -1);
    tug_error_free(err);
    assert_null(json_object_get(cfg, "Cmd"));
    assert_non_null(json_object_get(cfg, "Env"));
    json_decref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_manifest),   cmocka_unit_test(test_index_select),
        cmocka_unit_test(test_bad_manifests),     cmocka_unit_test(test_platform_parse),
        cmocka_unit_test(test_config_good),       cmocka_unit_test(test_config_hostile),
        cmocka_unit_test(test_config_huge_lists), cmocka_unit_test(test_config_repair),
        cmocka_unit_test(test_container_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
