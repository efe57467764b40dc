#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/load_int.h"

/* ld_clean_name gives name (NULL: refused) for raw relative to base. */
static void expect_name(const char *base, const char *raw, const char *name)
{
    char *got = ld_clean_name(base, raw);
    if (name == NULL) {
        if (got != NULL)
            fail_msg("\"%s\" under \"%s\" gave \"%s\", expected a refusal", raw ? raw : "(null)",
                     base, got);
    } else {
        if (got == NULL)
            fail_msg("\"%s\" under \"%s\" was refused, expected \"%s\"", raw, base, name);
        assert_string_equal(got, name);
    }
    free(got);
}

/* What docker, podman and tug write: kept as they are, "./" and doubled slashes dropped. */
static void test_plain_names(void **state)
{
    (void)state;
    expect_name("", "manifest.json", "manifest.json");
    expect_name("", "./blobs/sha256/ab", "blobs/sha256/ab");
    expect_name("", "blobs//sha256/./ab/", "blobs/sha256/ab");
    expect_name("", "./", "");
    expect_name("", "a/b/../c", "a/c");
}

/* A name that leaves the archive, however it is spelled, is refused. */
static void test_escapes(void **state)
{
    (void)state;
    expect_name("", "../x", NULL);
    expect_name("", "a/../../x", NULL);
    expect_name("", "/etc/passwd", NULL);
    expect_name("", "./../x", NULL);
    expect_name("", "a/./.././../x", NULL);
    expect_name("", NULL, NULL);
}

/* Link targets are read from the link's own directory, as docker's old archives write them. */
static void test_relative_to_a_link(void **state)
{
    (void)state;
    expect_name("abc", "../def/layer.tar", "def/layer.tar");
    expect_name("a/b", "../../x", "x");
    expect_name("a/b", "../../../x", NULL);
    expect_name("a", "/abs", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_names),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_relative_to_a_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
