#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "container/cp.h"

/* tug_cp_clean(path) is want, with the contents and asserts-dir flags given. */
static void check_clean(const char *path, const char *want, bool contents, bool asserts)
{
    bool c = !contents, a = !asserts;
    char *got = tug_cp_clean(path, &c, &a);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("clean(\"%s\") = \"%s\", want \"%s\"", path, got, want);
    if (c != contents || a != asserts)
        fail_msg("clean(\"%s\"): contents %d asserts %d", path, c, a);
    free(got);
}

static void test_clean(void **state)
{
    (void)state;
    check_clean("/", "/", true, true);
    check_clean("/etc", "/etc", false, false);
    check_clean("/etc/", "/etc", false, true);
    check_clean("/etc/.", "/etc", true, true);
    check_clean("//etc//x/", "/etc/x", false, true);
    check_clean("/a/b/../c", "/a/c", false, false);
    check_clean("/../../x", "/x", false, false);
    check_clean("/a/..", "/", false, false);
    check_clean("/a/./b/.", "/a/b", true, true);
    check_clean(".", ".", true, true);
    check_clean("x", "x", false, false);
    check_clean("x/../..", "..", false, false);
    check_clean("../a/../../b", "../../b", false, false);
    check_clean("a/b/..", "a", false, false);
    check_clean("./d/.", "d", true, true);
}

static void check_decide(tug_cp_src src, tug_cp_dest dest, tug_cp_verdict want, bool parent,
                         bool make_dir, const char *as)
{
    tug_cp_plan p = {.as = "untouched"};
    tug_cp_verdict v = tug_cp_decide(&src, &dest, &p);
    assert_int_equal(v, want);
    if (v != TUG_CP_OK) {
        assert_string_equal(p.as, "untouched");
        return;
    }
    assert_int_equal(p.into_parent, parent);
    assert_int_equal(p.make_dir, make_dir);
    assert_string_equal(p.as, as);
}

static void test_decide(void **state)
{
    (void)state;
    tug_cp_src file = {.base = "f"}, dir = {.is_dir = true, .base = "d"},
               contents = {.is_dir = true, .contents = true, .base = "."};
    tug_cp_dest is_dir = {.exists = true, .is_dir = true, .base = "x"},
                is_file = {.exists = true, .base = "x"},
                file_slash = {.exists = true, .asserts_dir = true, .base = "x"},
                missing = {.parent_exists = true, .base = "x"},
                missing_slash = {.parent_exists = true, .asserts_dir = true, .base = "x"},
                orphan = {.base = "x"};
    /* into an existing directory: under the source's name, or its contents */
    check_decide(file, is_dir, TUG_CP_OK, false, false, "f");
    check_decide(dir, is_dir, TUG_CP_OK, false, false, "d");
    check_decide(contents, is_dir, TUG_CP_OK, false, false, ".");
    /* onto a file: a file replaces it, a directory cannot */
    check_decide(file, is_file, TUG_CP_OK, true, false, "x");
    check_decide(dir, is_file, TUG_CP_COPY_DIR, false, false, NULL);
    check_decide(file, file_slash, TUG_CP_NO_DIR, false, false, NULL);
    /* a new name: taken; a new directory for contents; "x/" wants a directory source */
    check_decide(file, missing, TUG_CP_OK, true, false, "x");
    check_decide(dir, missing, TUG_CP_OK, true, false, "x");
    check_decide(contents, missing, TUG_CP_OK, true, true, ".");
    check_decide(file, missing_slash, TUG_CP_NO_DIR, false, false, NULL);
    check_decide(dir, missing_slash, TUG_CP_OK, true, false, "x");
    check_decide(file, orphan, TUG_CP_NO_PARENT, false, false, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_decide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
