#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/ignore.h"
#include "util/cleanup.h"

/* The verdict for path under patterns (a NULL-ended list), checked from the root. */
static tug_ignore_verdict verdict_dir(bool is_dir, const char *path, ...)
{
    const char *pats[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, path);
    for (const char *p; (p = va_arg(ap, const char *)) != NULL;)
        pats[n++] = p;
    va_end(ap);
    tug_ignore *ig = NULL;
    tug_error *err = NULL;
    if (tug_ignore_new(pats, n, "test", &ig, &err) < 0)
        fail_msg("%s", err->msg);
    tug_ignore_verdict v = tug_ignore_check_path(ig, path, is_dir);
    tug_ignore_free(ig);
    return v;
}
#define excluded(path, ...) (verdict_dir(false, path, __VA_ARGS__, NULL) != TUG_IGNORE_INCLUDED)
#define dir_verdict(path, ...) verdict_dir(true, path, __VA_ARGS__, NULL)

static tug_ignore *parse_ok(const char *text)
{
    tug_ignore *ig = NULL;
    tug_error *err = NULL;
    if (tug_ignore_parse(text, strlen(text), ".dockerignore", &ig, &err) < 0)
        fail_msg("%s", err->msg);
    return ig;
}

static void parse_fails(const char *text, const char *want)
{
    tug_ignore *ig = NULL;
    tug_error *err = NULL;
    assert_int_not_equal(tug_ignore_parse(text, strlen(text), ".dockerignore", &ig, &err), 0);
    assert_null(ig);
    assert_non_null(err);
    if (strstr(err->msg, want) == NULL)
        fail_msg("\"%s\": error \"%s\" does not say \"%s\"", text, err->msg, want);
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
}

static void test_parse_file(void **state)
{
    (void)state;
    tug_ignore *ig = parse_ok("\xEF\xBB\xBF# comment\n"
                              "\n"
                              "   \t\n"
                              "/build/\r\n"
                              "./tmp//x/../y\n"
                              " #not a comment\n"
                              "! /keep.txt \n"
                              "!./a/b\n"
                              "*.log");
    const char *want[] = {"build", "tmp/y", "#not a comment", "!keep.txt", "!a/b", "*.log"};
    assert_int_equal(tug_ignore_count(ig), TUG_ARRAY_SIZE(want));
    for (size_t i = 0; i < TUG_ARRAY_SIZE(want); i++)
        assert_string_equal(tug_ignore_pattern(ig, i), want[i]);
    assert_true(tug_ignore_has_exceptions(ig));
    assert_int_equal(tug_ignore_check_path(ig, "build/out/x", false), TUG_IGNORE_PRUNED);
    assert_int_equal(tug_ignore_check_path(ig, "keep.txt", false), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check_path(ig, "a/b", false), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check_path(ig, "x/debug.log", false), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check_path(ig, "debug.log", false), TUG_IGNORE_EXCLUDED);
    tug_ignore_free(ig);

    ig = parse_ok("");
    assert_int_equal(tug_ignore_count(ig), 0);
    assert_int_equal(tug_ignore_check_path(ig, "anything", true), TUG_IGNORE_INCLUDED);
    tug_ignore_free(ig);
    /* a NUL byte is part of a line, not its end */
    tug_ignore *ig2 = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_ignore_parse("a\0b\nc", 5, "x", &ig2, &err), 0);
    assert_int_equal(tug_ignore_count(ig2), 2);
    tug_ignore_free(ig2);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("ok\n!\n", ".dockerignore line 2: illegal exclusion pattern: \"!\"");
    parse_fails("!/", "illegal exclusion pattern");
    parse_fails("a\n[abc\n", "line 2: syntax error in pattern \"[abc\"");
    parse_fails("a\\", "syntax error in pattern");
    parse_fails("[]a]", "syntax error");
    parse_fails("[x-]", "syntax error");
    parse_fails("a[", "syntax error");
    parse_fails("[*]", "'*' and '?' inside [...]");
    parse_fails("x\\p{Greek}", "this escape");
    parse_fails("x\\1", "this escape");
    parse_fails("[z-a]", "invalid character class range");
    parse_fails("[[:nope:]]", "unknown character class name");
}

static void test_match_forms(void **state)
{
    (void)state;
    /* "**" forms */
    assert_true(excluded("file", "**"));
    assert_true(excluded("dir/file", "**/"));
    assert_true(excluded("dir/file", "**/**"));
    assert_true(excluded("dir/file", "dir/**"));
    assert_true(excluded("dir/dir2/file", "dir/**"));
    assert_true(excluded("dir", "**/dir"));
    assert_true(excluded("dir/file", "**/dir"));
    assert_true(excluded("dir/dir2/file", "**/dir2/*"));
    assert_true(excluded("file", "**file"));
    assert_true(excluded("dir/dir/file", "**file"));
    assert_true(excluded("xfile", "**file")); /* a suffix, not a component */
    assert_true(excluded("dir/dir/file.txt", "**/file*.txt"));
    assert_false(excluded("dir/dir/file.txt", "**/**/*.txt2"));
    assert_true(excluded("file.txt", "**/*.txt"));
    assert_true(excluded("a/dir/dir/file.txt", "a**/*.txt"));
    assert_false(excluded("a/dir/file.txt", "a/*.txt"));
    assert_true(excluded("a/file.txt", "a/*.txt**"));
    assert_true(excluded("foo/bar", "**/foo/bar"));
    assert_true(excluded("dir/dir2/foo/bar", "**/foo/bar"));
    assert_false(excluded("abc", "abc/**"));
    assert_true(excluded("abc/def/ghi", "abc/**"));
    assert_true(excluded("abcdef/x", "abc**")); /* a plain prefix */
    assert_false(excluded("bar.foo", "**/.foo"));
    /* one-component wildcards, classes, escapes, regexp characters taken literally */
    assert_true(excluded("abc", "*"));
    assert_true(excluded("ab/c", "a*")); /* through its parent "ab" */
    assert_false(excluded("a/c/b", "a*/b"));
    assert_true(excluded("axbxcxdxexxx/f", "a*b*c*d*e*/f"));
    assert_false(excluded("axbxcxdxe/xxx/f", "a*b*c*d*e*/f"));
    assert_true(excluded("abxbbxdbxebxczzx", "a*b?c*x"));
    assert_false(excluded("abxbbxdbxebxczzy", "a*b?c*x"));
    assert_true(excluded("ace", "a[b-d]e"));
    assert_false(excluded("aae", "a[b-d]e"));
    assert_true(excluded("aze", "a[^b-d]e"));
    assert_true(excluded("a\xe2\x98\xba"
                         "b",
                         "a?b"));
    assert_false(excluded("a\xe2\x98\xba"
                          "b",
                          "a???b"));
    assert_true(excluded("\xce\xb1", "[a-\xce\xb6]*"));
    assert_true(excluded(".foo", ".*"));
    assert_false(excluded("foo", ".*"));
    assert_false(excluded("abcZdef", "abc.def"));
    assert_true(excluded("abcZdef", "abc?def"));
    assert_true(excluded("a\\", "a\\\\"));
    assert_true(excluded("a*b", "a\\*b"));
    assert_false(excluded("axb", "a\\*b"));
    assert_true(excluded("a(b)c/def", "a(b)c/def"));
    assert_true(excluded("a.|)$(}+{bc", "a.|)$(}+{bc"));
    assert_true(excluded("x/1.whl", "x/*.whl"));
    assert_true(excluded("]", "[\\]a]"));
    assert_true(excluded("-", "[x\\-]"));
    assert_false(excluded("z", "[x\\-]"));
    /* docker's regexp lets brackets match '/', and keeps what its regexp syntax gives them */
    assert_true(excluded("a/b", "a[/]b"));
    assert_true(excluded("a/b", "a[^x]b"));
    assert_true(excluded("v7", "v[[:digit:]]"));
    assert_false(excluded("vx", "v[[:digit:]]"));
    assert_true(excluded("vx", "v[[:^digit:]]"));
    assert_true(excluded("v7", "v\\d"));
    assert_true(excluded("v x", "v\\sx"));
    assert_true(excluded("tab\tx", "tab\\tx"));
    /* docker leaves a bare '^' as its regexp's anchor: only at the start does it match */
    assert_true(excluded("abc", "^a*"));
    assert_false(excluded("x^abc", "x^a*"));
    assert_true(excluded("x^abc", "x^abc")); /* no wildcard: a plain string */
    /* a BOM that starts a pattern (not the file) is dropped by docker's reading of wildcards */
    assert_true(excluded("a.x", "\xEF\xBB\xBF*.x"));
    assert_false(excluded("a.x", "\xEF\xBB\xBF"
                                 "a.x"));
    /* Go's regexp assertions: \A at the start, \z at the end, \b \B word boundaries */
    assert_true(excluded("abc", "\\Aabc"));
    assert_false(excluded("x/abc", "x/\\Aabc"));
    assert_true(excluded("ab", "ab\\z"));
    assert_true(excluded("foo", "foo\\b"));
    assert_false(excluded("foobar", "foo\\bar")); /* docker: never matches, silently */
    assert_true(excluded("foo.x", "foo\\b.x"));
    assert_true(excluded("foobar", "foo\\Bbar"));
    assert_false(excluded("foo-bar", "foo\\B-bar"));
    /* ".*" from a final "**" stops at a newline, as Go's '.' does */
    assert_true(excluded("a/x/b", "a/**/b"));
    assert_false(excluded("a/x\ny/b", "a/**/b"));
    assert_false(excluded("x/a\nb", "*/**"));
    assert_true(excluded("x/a\nb", "x/**")); /* a plain prefix again */
}

static void test_exceptions(void **state)
{
    (void)state;
    assert_false(excluded("docs/README.md", "docs", "!docs/README.md"));
    assert_false(excluded("docs/README.md", "docs/", "!docs/README.md"));
    assert_false(excluded("docs/README.md", "docs/*", "!docs/README.md"));
    assert_true(excluded("docs/other.md", "docs", "!docs/README.md"));
    assert_false(excluded("fileutils.go", "*.go", "!fileutils.go"));
    assert_true(excluded("fileutils.go", "!fileutils.go", "*.go")); /* later patterns win */
    assert_false(excluded("util/docker/web/foo", "**", "!util/docker/web"));
    assert_true(excluded("util/docker/web/foo", "**", "!util/docker/web", "util/docker/web/foo"));
    assert_false(excluded("dist/a.whl", "**", "!dist/*.whl"));
    /* whitespace around an exception's '!' */
    assert_false(excluded("docs/README.md", "docs", "  !docs/README.md  "));
}

static void test_pruning(void **state)
{
    (void)state;
    /* no exceptions: an excluded directory is not walked */
    assert_int_equal(dir_verdict("node_modules", "node_modules"), TUG_IGNORE_PRUNED);
    assert_int_equal(dir_verdict("src", "node_modules"), TUG_IGNORE_INCLUDED);
    /* an exception below it: walked */
    assert_int_equal(dir_verdict("docs", "docs", "!docs/README.md"), TUG_IGNORE_EXCLUDED);
    assert_int_equal(dir_verdict("docs/sub", "docs", "!docs/README.md"), TUG_IGNORE_PRUNED);
    assert_int_equal(dir_verdict("a", "a", "!a/b/*"), TUG_IGNORE_EXCLUDED);
    assert_int_equal(dir_verdict("other", "*", "!a/b/**"), TUG_IGNORE_PRUNED);
    /* docker's test reads text only: "ab" is not under "a" */
    assert_int_equal(dir_verdict("a", "a", "!ab"), TUG_IGNORE_PRUNED);
    /* an exception with a wildcard before its end: every excluded directory is walked */
    assert_int_equal(dir_verdict("build", "build", "!**/*.keep"), TUG_IGNORE_EXCLUDED);
    assert_int_equal(dir_verdict("build", "build", "!x/*/y"), TUG_IGNORE_EXCLUDED);
    assert_false(excluded("build/a.keep", "build", "!**/*.keep"));
    /* below a pruned directory, nothing is in the context even if it matches an exception */
    assert_int_equal(verdict_dir(false, "x/y/keep", "x", "!keep", NULL), TUG_IGNORE_PRUNED);
}

/* A walk passes each directory's state to its children: the same verdicts as path by path. */
static void test_walk_state(void **state)
{
    (void)state;
    const char *pats[] = {"a", "!a/b", "a/b/c", "!**/keep", "*.tmp"};
    tug_ignore *ig = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_ignore_new(pats, 5, "t", &ig, &err), 0);
    size_t sz = tug_ignore_state_size(ig);
    assert_int_equal(sz, 5);
    unsigned char s_a[5], s_ab[5], s_abc[5];
    assert_int_equal(tug_ignore_check(ig, "a", true, NULL, s_a), TUG_IGNORE_EXCLUDED);
    assert_int_equal(tug_ignore_check(ig, "a/b", true, s_a, s_ab), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check(ig, "a/b/x", false, s_ab, NULL), TUG_IGNORE_INCLUDED);
    /* "*.tmp" is for the root's entries only */
    assert_int_equal(tug_ignore_check(ig, "a/b/x.tmp", false, s_ab, NULL), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check(ig, "a/b/c", true, s_ab, s_abc), TUG_IGNORE_EXCLUDED);
    assert_int_equal(tug_ignore_check(ig, "a/b/c/keep", false, s_abc, NULL), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check(ig, "a/b/c/d", false, s_abc, NULL), TUG_IGNORE_EXCLUDED);
    assert_int_equal(tug_ignore_check_path(ig, "a/b/c/keep", false), TUG_IGNORE_INCLUDED);
    assert_int_equal(tug_ignore_check_path(ig, "a/other", false), TUG_IGNORE_EXCLUDED);
    tug_ignore_free(ig);
    assert_int_equal(tug_ignore_check(NULL, "x", true, NULL, NULL), TUG_IGNORE_INCLUDED);
}

static void test_glob(void **state)
{
    (void)state;
    struct {
        const char *pattern, *name;
        int want;
    } t[] = {
        {"abc", "abc", 1},     {"*", "abc", 1},
        {"*c", "abc", 1},      {"a*", "a", 1},
        {"a*", "ab/c", 0},     {"a*/b", "abc/b", 1},
        {"a*/b", "a/c/b", 0},  {"**", "a/b", 0},
        {"*/*", "a/b", 1},     {"a*b?c*x", "abxbbxdbxebxczzx", 1},
        {"ab[^c]", "abc", 0},  {"ab[^e-g]", "abc", 1},
        {"a\\*b", "a*b", 1},   {"a\\*b", "ab", 0},
        {"a?b", "a/b", 0},     {"a*b", "a/b", 0},
        {"[\\]a]", "]", 1},    {"[x\\-]", "-", 1},
        {"[]a]", "]", -1},     {"[-]", "-", -1},
        {"[x-]", "x", -1},     {"\\", "a", -1},
        {"[a-b-c]", "a", -1},  {"[", "a", -1},
        {"[^bc", "a", -1},     {"a[", "a", -1},
        {"a[", "ab", -1},      {"*x", "xxx", 1},
        {"[!a]", "!", 1},      {"a[", "x", -1}, /* checked to its end after a mismatch */
        {"*.txt", "a.txt", 1}, {"dir/*.txt", "dir/a.txt", 1},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(t); i++) {
        int got = tug_glob_match_path(t[i].pattern, t[i].name);
        if (got != t[i].want)
            fail_msg("match(%s, %s) = %d, want %d", t[i].pattern, t[i].name, got, t[i].want);
    }
    assert_true(tug_glob_has_wildcards("*.c"));
    assert_true(tug_glob_has_wildcards("a/b?"));
    assert_true(tug_glob_has_wildcards("[ab]"));
    assert_false(tug_glob_has_wildcards("a\\*b"));
    assert_false(tug_glob_has_wildcards("plain/path.txt"));
    assert_false(tug_glob_has_wildcards("trailing\\"));
}

static void test_clean(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } t[] = {
        {"", "."},       {"a/b", "a/b"},         {"a//b/", "a/b"},        {"./a", "a"},
        {"a/../b", "b"}, {"../a", "../a"},       {"/../a", "/a"},         {"/", "/"},
        {"a/..", "."},   {"a/b/../../..", ".."}, {"..//../x", "../../x"}, {"/a/./b/.", "/a/b"}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(t); i++) {
        char *got = tug_path_clean(t[i].in);
        assert_string_equal(got, t[i].out);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file),  cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_match_forms), cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_pruning),     cmocka_unit_test(test_walk_state),
        cmocka_unit_test(test_glob),        cmocka_unit_test(test_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
