/* Registry credentials in docker's config.json: keys, store and erase (helpers are exercised by
 * tests/system/510-login.bats with a fake docker-credential-test). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "registry/creds.h"
#include "util/cleanup.h"
#include "util/fs.h"

static void test_key(void **state)
{
    (void)state;
    struct {
        const char *server, *want;
    } cases[] = {
        {NULL, TUG_CREDS_HUB_KEY},
        {"", TUG_CREDS_HUB_KEY},
        {"docker.io", TUG_CREDS_HUB_KEY},
        {"index.docker.io", TUG_CREDS_HUB_KEY},
        {"https://index.docker.io/v1/", TUG_CREDS_HUB_KEY},
        {"registry-1.docker.io", TUG_CREDS_HUB_KEY},
        {"ghcr.io", "ghcr.io"},
        {"http://127.0.0.1:5000/", "127.0.0.1:5000"},
        {"https://reg.example.com:5000/v2/", "reg.example.com:5000"},
        {"localhost:5000", "localhost:5000"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cases); i++) {
        cleanup_free char *k = tug_creds_key(cases[i].server);
        if (k == NULL || strcmp(k, cases[i].want) != 0)
            fail_msg("%s: got %s want %s", cases[i].server ? cases[i].server : "(null)",
                     k ? k : "(null)", cases[i].want);
    }
}

static char *dir_path(char *dir, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void test_store_erase(void **state)
{
    (void)state;
    char dir[] = "/tmp/tug-test-creds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* a directory that does not exist yet is made */
    cleanup_free char *path = dir_path(dir, "sub/config.json");
    tug_creds bob = {.username = (char *)"bob", .secret = (char *)"p:w d"};
    cleanup_error tug_error *err = NULL;
    char *helper = (char *)"unset";
    assert_int_equal(tug_creds_store(path, "http://h:1/", &bob, &helper, &err), 0);
    assert_null(helper);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    cleanup_creds tug_creds got = {0};
    assert_int_equal(tug_creds_get(path, "h:1", &got, &err), 0);
    assert_string_equal(got.username, "bob");
    assert_string_equal(got.secret, "p:w d");

    /* other keys stay as they were, order included */
    const char *cfg = "{\"psFormat\": \"x\", \"auths\": {\"o\": {\"auth\": \"dTpw\"}}, "
                      "\"n\": 12345678901234, \"l\": [1, null, \"a\"]}";
    assert_int_equal(tug_write_file_atomic(path, cfg, strlen(cfg), 0644, NULL), 0);
    assert_int_equal(tug_creds_store(path, "h:1", &bob, NULL, &err), 0);
    json_auto_t *root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "psFormat")), "x");
    assert_true(json_integer_value(json_object_get(root, "n")) == 12345678901234LL);
    assert_int_equal(json_array_size(json_object_get(root, "l")), 3);
    json_t *auths = json_object_get(root, "auths");
    assert_string_equal(json_string_value(json_object_get(json_object_get(auths, "o"), "auth")),
                        "dTpw");
    /* base64("bob:p:w d") */
    assert_string_equal(json_string_value(json_object_get(json_object_get(auths, "h:1"), "auth")),
                        "Ym9iOnA6dyBk");
    assert_string_equal(json_object_iter_key(json_object_iter(root)), "psFormat");

    bool found = false;
    assert_int_equal(tug_creds_erase(path, "h:1", &found, &err), 0);
    assert_true(found);
    assert_int_equal(tug_creds_erase(path, "h:1", &found, &err), 0);
    assert_false(found);
    json_auto_t *after = json_load_file(path, 0, NULL);
    assert_non_null(json_object_get(json_object_get(after, "auths"), "o"));
    assert_null(json_object_get(json_object_get(after, "auths"), "h:1"));

    /* a malformed file is an error naming it, and stays as it was */
    const char *bad = "{\"auths\": {";
    assert_int_equal(tug_write_file_atomic(path, bad, strlen(bad), 0600, NULL), 0);
    assert_true(tug_creds_store(path, "h:1", &bob, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, path));
    cleanup_free char *data = NULL;
    size_t len = 0;
    assert_int_equal(tug_read_file(path, &data, &len, NULL), 0);
    assert_string_equal(data, bad);
    assert_int_equal(tug_rm_rf(dir, NULL), 0);
}

static void test_bad_helper_name(void **state)
{
    (void)state;
    char dir[] = "/tmp/tug-test-creds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_free char *path = dir_path(dir, "config.json");
    const char *cfg = "{\"credsStore\": \"../../bin/sh\"}";
    assert_int_equal(tug_write_file_atomic(path, cfg, strlen(cfg), 0600, NULL), 0);
    cleanup_creds tug_creds got = {0};
    cleanup_error tug_error *err = NULL;
    assert_true(tug_creds_get(path, "h:1", &got, &err) < 0);
    assert_non_null(strstr(err->msg, "credsStore"));
    assert_null(got.username);
    assert_int_equal(tug_rm_rf(dir, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_store_erase),
        cmocka_unit_test(test_bad_helper_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
