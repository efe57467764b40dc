/* ADD's sources: which are URLs or git repositories, the name a download gets, --checksum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "build/addurl.h"

static void test_source_kind(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        tug_add_kind kind;
    } cases[] = {
        {"app.tar", TUG_ADD_LOCAL},
        {"dir/http://x", TUG_ADD_LOCAL},
        {"httpfile", TUG_ADD_LOCAL},
        {"http://example.com/a.tar.gz", TUG_ADD_HTTP},
        {"https://example.com/", TUG_ADD_HTTP},
        {"https://example.com/x.gitignore", TUG_ADD_HTTP},
        {"https://example.com/a?x=.git", TUG_ADD_HTTP},
        {"https://github.com/moby/moby.git", TUG_ADD_GIT},
        {"https://github.com/moby/moby.git#v1.0:docs", TUG_ADD_GIT},
        {"http://host/repo.git#main", TUG_ADD_GIT},
        {"git@github.com:moby/moby.git", TUG_ADD_GIT},
        {"git://host/repo", TUG_ADD_GIT},
        {"ssh://git@host/repo", TUG_ADD_GIT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tug_add_source_kind(cases[i].src) != cases[i].kind)
            fail_msg("%s: kind %d, want %d", cases[i].src, tug_add_source_kind(cases[i].src),
                     cases[i].kind);
}

static void test_file_name(void **state)
{
    (void)state;
    static const struct {
        const char *url, *name;
    } cases[] = {
        {"http://h/a/b/file.tar.gz", "file.tar.gz"},
        {"http://h/file?x=1&y=/z#frag", "file"},
        {"http://h/dir/", "dir"}, /* Go's path.Base drops trailing slashes */
        {"http://h/dir//", "dir"},
        {"http://h:8080/x%20y.txt", "x y.txt"},
        {"http://h/a%2Fb", "b"}, /* decoded before the last part is taken */
        {"http://h/", "__unnamed__"},
        {"http://h", "__unnamed__"},
        {"http://h?q=1", "__unnamed__"},
        {"http://h/..", "__unnamed__"},
        {"http://h/%2e%2e", "__unnamed__"},
        {"http://h/bad%zz", "__unnamed__"},
        {"http://h/nul%00x", "__unnamed__"},
        {"http://h/end%2", "__unnamed__"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *n = tug_url_file_name(cases[i].url);
        assert_non_null(n);
        if (strcmp(n, cases[i].name) != 0)
            fail_msg("%s: named %s, want %s", cases[i].url, n, cases[i].name);
        free(n);
    }
}

static void test_checksum(void **state)
{
    (void)state;
    const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(tug_add_checksum_valid(good), 0);
    assert_int_equal(tug_add_checksum_valid("sha256:0123"), -1);
    assert_int_equal(tug_add_checksum_valid("md5:0123456789abcdef0123456789abcdef"), -1);
    assert_int_equal(tug_add_checksum_valid(
                         "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
                     -1);
    assert_int_equal(tug_add_checksum_valid(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_kind),
        cmocka_unit_test(test_file_name),
        cmocka_unit_test(test_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
