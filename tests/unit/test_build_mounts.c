/* `tug build --secret` values (docker's forms) and reading a secret from its source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "build/build_mounts.h"
#include "util/cleanup.h"
#include "util/fs.h"

static void parse_ok(const char *spec, const char *id, tug_secret_kind kind, const char *src)
{
    tug_build_secret s;
    tug_error *err = NULL;
    assert_int_equal(tug_build_secret_parse(spec, &s, &err), 0);
    assert_string_equal(s.id, id);
    assert_int_equal(s.kind, kind);
    if (src)
        assert_string_equal(s.src, src);
    else
        assert_null(s.src);
    tug_build_secret_clear(&s);
}

static void parse_bad(const char *spec, const char *msg)
{
    tug_build_secret s = {0};
    tug_error *err = NULL;
    assert_int_equal(tug_build_secret_parse(spec, &s, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->kind, TUG_ERR_USER);
    if (strstr(err->msg, msg) == NULL)
        fail_msg("\"%s\" gave \"%s\", not \"%s\"", spec, err->msg, msg);
    assert_null(s.id);
    tug_error_free(err);
}

static void test_forms(void **state)
{
    (void)state;
    parse_ok("id=a,src=/p/f", "a", TUG_SECRET_FILE, "/p/f");
    parse_ok("id=a,source=rel", "a", TUG_SECRET_FILE, "rel");
    parse_ok("type=file,id=a", "a", TUG_SECRET_FILE, "a");
    parse_ok("id=a,env=VAR", "a", TUG_SECRET_ENV, "VAR");
    parse_ok("type=env,id=API_TOKEN", "API_TOKEN", TUG_SECRET_ENV, "API_TOKEN");
    parse_ok("type=env,id=a,src=VAR", "a", TUG_SECRET_ENV, "VAR");
    parse_ok("id=a", "a", TUG_SECRET_AUTO, NULL);
    parse_ok("ID=a,SRC=f", "a", TUG_SECRET_FILE, "f");
}

static void test_bad(void **state)
{
    (void)state;
    parse_bad("src=/x", "needs an id");
    parse_bad("id=", "needs an id");
    parse_bad("id=a,bogus=1", "unexpected key 'bogus'");
    parse_bad("id=a,type=ssh", "unsupported type \"ssh\"");
    parse_bad("id=a,src=f,env=V", "not both");
    parse_bad("id=a,src=", "an empty src");
    parse_bad("id=a,novalue", "\"novalue\" is not key=value");
}

static void test_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/tug-test-secret.XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_free char *file = NULL;
    assert_true(asprintf(&file, "%s/tok", dir) > 0);
    assert_int_equal(tug_write_file_atomic_nosync(file, "abc\n", 4, 0600, NULL), 0);
    tug_build_secret s = {.id = "x", .kind = TUG_SECRET_FILE, .src = file};
    char *data = NULL;
    size_t len = 0;
    tug_error *err = NULL;
    assert_int_equal(tug_build_secret_read(&s, &data, &len, &err), 1);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "abc\n", 4);
    free(data);
    /* not there: 0, the caller decides (required or not) */
    s.src = "/nonexistent/tug-secret";
    assert_int_equal(tug_build_secret_read(&s, &data, &len, &err), 0);
    setenv("TUG_TEST_SECRET", "from-env", 1);
    tug_build_secret e = {.id = "x", .kind = TUG_SECRET_ENV, .src = "TUG_TEST_SECRET"};
    assert_int_equal(tug_build_secret_read(&e, &data, &len, &err), 1);
    assert_string_equal(data, "from-env");
    free(data);
    e.src = "TUG_TEST_SECRET_UNSET";
    assert_int_equal(tug_build_secret_read(&e, &data, &len, &err), 0);
    /* neither src nor env: the variable named id first, else the file of that name */
    tug_build_secret a = {.id = "TUG_TEST_SECRET", .kind = TUG_SECRET_AUTO};
    assert_int_equal(tug_build_secret_read(&a, &data, &len, &err), 1);
    assert_string_equal(data, "from-env");
    free(data);
    a.id = file;
    assert_int_equal(tug_build_secret_read(&a, &data, &len, &err), 1);
    assert_string_equal(data, "abc\n");
    free(data);
    /* a directory is no secret */
    s.src = dir;
    assert_int_equal(tug_build_secret_read(&s, &data, &len, &err), -1);
    assert_non_null(strstr(err->msg, "not a regular file"));
    tug_error_free(err);
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
