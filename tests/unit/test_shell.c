#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "build/shell.h"
#include "util/cleanup.h"

/* NAME=value pairs, NULL-terminated; a name listed without '=' is unset */
static bool lookup(const char *name, const char **ret, void *userdata)
{
    for (const char *const *e = userdata; *e; e++) {
        size_t n = strlen(name);
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            *ret = *e + n + 1;
            return true;
        }
    }
    return false;
}

static const char *env[] = {"DIR=/srv",      "SH=ash",          "EMPTY=",
                            "NAME=web",      "KR=한국어",       "FILE=/tmp/a.tar.gz",
                            "STARS=a***yy*", "URL=http://x.io", "PATHS=/usr/bin:/bin",
                            "SPACED=a  b",   "LEAD=  x y",      NULL};

typedef struct {
    const char *in, *out; /* out NULL: an error */
} row;

static void check_rows(const row *rows, size_t n, char escape)
{
    for (size_t i = 0; i < n; i++) {
        char *out = NULL;
        tug_error *err = NULL;
        int r = tug_shell_expand(rows[i].in, escape, lookup, env, &out, &err);
        if (rows[i].out == NULL) {
            if (r == 0)
                fail_msg("%s: expected an error, got \"%s\"", rows[i].in, out);
            assert_int_equal(err->kind, TUG_ERR_USER);
            assert_non_null(strstr(err->msg, rows[i].in));
            tug_error_free(err);
            continue;
        }
        if (r < 0)
            fail_msg("%s: %s", rows[i].in, err->msg);
        if (strcmp(out, rows[i].out) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", rows[i].in, out, rows[i].out);
        free(out);
    }
}

/* Quote removal and escapes, as BuildKit's ProcessWord does them. */
static void test_quotes(void **state)
{
    (void)state;
    static const row rows[] = {
        {"plain", "plain"},     {"sp'li't", "split"},
        {"it's", NULL},         {"it\\'s", "it's"},
        {"it\\\\'s", NULL},     {"a\\nb", "anb"},
        {"\"a\\nb\"", "a\\nb"}, {"\"a\\\\nb\"", "a\\nb"},
        {"'a\\nb'", "a\\nb"},   {"tail\\", "tail"},
        {"tail\\\\", "tail\\"}, {"\"open", NULL},
        {"\"open\\\"", NULL},   {"\"it's\"", "it's"},
        {"'open", NULL},        {"'back\\'", "back\\"},
        {"\"''\"", "''"},       {"'\"q\"'", "\"q\""},
        {"a  b", "a  b"},       {"\"a  b\"", "a  b"},
        {"안'녕'", "안녕"},     {"", ""},
    };
    check_rows(rows, TUG_ARRAY_SIZE(rows), '\\');
}

static void test_variables(void **state)
{
    (void)state;
    static const row rows[] = {
        {"$DIR", "/srv"},
        {"x$DIR.y", "x/srv.y"},
        {"x${DIR}y", "x/srvy"},
        {"$dir", ""}, /* names are case-sensitive on Linux */
        {"$.", "$."},
        {"$", "$"},
        {"a$", "a$"},
        {"\\$DIR", "$DIR"},
        {"\\\\$DIR", "\\/srv"},
        {"\"\\$DIR\"", "$DIR"},
        {"\"\\\\$DIR\"", "\\/srv"},
        {"'$DIR'", "$DIR"},
        {"'\\$DIR'", "\\$DIR"},
        {"\"x'$DIR'\"", "x'/srv'"},
        {"$KR!", "한국어!"},
        {"x$1y", "xy"},
        {"$001a", "a"},
        {"${42}", ""},
        {"$@@", "@"},
        {"$$", ""},
        {"${#}", ""},
        {"${?:-q}", "q"},
        {"${0:+z}", ""},
        {"${}", NULL},
        {"x${}y", NULL},
        {"\\${}", "${}"},
        {"${:}", NULL},
        {"${{DIR}", NULL},
        {"${DIR}}", "/srv}"},
        {"${DIR", NULL},
        {"${.}", NULL},
        {"${DIR=x}", NULL},
        {"${DIR:=x}", NULL},
        {"${DIR:x}", NULL},
        {"${DIR:", NULL},
        {"${DIR", NULL},
        {"${", NULL},
    };
    check_rows(rows, TUG_ARRAY_SIZE(rows), '\\');
}

static void test_modifiers(void **state)
{
    (void)state;
    static const row rows[] = {
        {"${NOPE:-dflt}", "dflt"},
        {"${EMPTY:-dflt}", "dflt"},
        {"${DIR:-dflt}", "/srv"},
        {"${NOPE-dflt}", "dflt"},
        {"${EMPTY-dflt}", ""},
        {"${NOPE:-$DIR}", "/srv"},
        {"${NOPE:-${NOPE2:-deep}}x", "deepx"},
        {"${NOPE:-${DIR:-deep}}", "/srv"},
        {"${NOPE:+alt}", ""},
        {"${EMPTY:+alt}", ""},
        {"${EMPTY+alt}", "alt"},
        {"${DIR:+alt}", "alt"},
        {"${DIR:+${SH}}!", "ash!"},
        {"${DIR:+$DIR:}", "/srv:"},
        {"${NOPE:-\\$DIR:}", "$DIR:"},
        {"${NOPE:-\\${DIR}z}", "${DIRz}"},
        {"${NOPE:-a {b}", "a {b"},
        {"${NOPE:-a ${b}", NULL},
        {"${NOPE:-a}}", "a}"},
        {"${DIR?}", "/srv"},
        {"${DIR:?}", "/srv"},
        {"${EMPTY?}", ""},
        {"${EMPTY:?}", NULL},
        {"${NOPE?}", NULL},
        {"${NOPE:?set NOPE}", NULL},
        {"'${NOPE:?x}'", "${NOPE:?x}"},
        {"${NOPE:-x", NULL},
        {"${1:-one}", "one"},
        {"${@:-at}x", "atx"},
    };
    check_rows(rows, TUG_ARRAY_SIZE(rows), '\\');

    /* the ${X?msg} message says what the user asked it to */
    char *out = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_shell_expand("${NOPE:?set NOPE please}", '\\', lookup, env, &out, &err),
                     -1);
    assert_non_null(strstr(err->msg, "NOPE: set NOPE please"));
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_shell_expand("${EMPTY:?}", '\\', lookup, env, &out, &err), -1);
    assert_non_null(strstr(err->msg, "EMPTY: is not allowed to be empty"));
    tug_error_free(err);
}

static void test_patterns(void **state)
{
    (void)state;
    static const row rows[] = {
        {"${FILE#*.}", "tar.gz"},
        {"${FILE##*.}", "gz"},
        {"${FILE%.*}", "/tmp/a.tar"},
        {"${FILE%%.*}", "/tmp/a"},
        {"${FILE#/tmp/}", "a.tar.gz"},
        {"${FILE#nomatch}", "/tmp/a.tar.gz"},
        {"${FILE#}", "/tmp/a.tar.gz"},
        {"${FILE##}", "/tmp/a.tar.gz"},
        {"${FILE%}", "/tmp/a.tar.gz"},
        {"${FILE#*}", "/tmp/a.tar.gz"}, /* the shortest: nothing */
        {"${FILE##*}", ""},             /* the longest: everything */
        {"${FILE#?}", "tmp/a.tar.gz"},
        {"${FILE#/?\?\?/}", "a.tar.gz"},
        {"${STARS%%\\**}", "a"},
        {"${STARS%\\*}", "a***yy"},
        {"${STARS#a\\*}", "**yy*"},
        {"${NOPE#x}", ""},
        {"${FILE#$NOPE}", "/tmp/a.tar.gz"},
        {"${FILE#\\x}", NULL},
        {"${FILE#x\\}", NULL},
        {"${FILE:#x}", NULL},
        {"${FILE:%x}", NULL},
        {"${KR#한}", "국어"},
        {"${KR%?}", "한국"},
        {"${URL/http:\\/\\//https://}", "https://x.io"},
        {"${PATHS/:/ }", "/usr/bin /bin"},
        {"${PATHS//\\//|}", "|usr|bin:|bin"},
        {"${PATHS//bin/sbin}", "/usr/sbin:/sbin"},
        {"${PATHS/*:/}", "/bin"},
        {"${PATHS/nomatch/x}", "/usr/bin:/bin"},
        {"${NAME/$NOPE/x}", "xweb"}, /* an empty pattern matches at the start */
        {"${NAME//$NOPE/.}", ".w.e.b."},
        {"${NAME///}", "web"},
        {"${NOPE///}", ""},
        {"${NAME//x}", NULL},
        {"${NAME//}", NULL},
        {"${NAME/x/y", NULL},
        {"${NAME//?/\\/}", "\\/\\/\\/"}, /* the replacement keeps its backslashes */
    };
    check_rows(rows, TUG_ARRAY_SIZE(rows), '\\');
}

/* # escape=` : the backtick escapes, the backslash is an ordinary character. */
static void test_backtick(void **state)
{
    (void)state;
    static const row rows[] = {
        {"C:\\path\\$NAME", "C:\\path\\web"},
        {"`$NAME", "$NAME"},
        {"a` b", "a b"},
        {"\"q`\"q\"", "q\"q"},
        {"\"back\\slash\"", "back\\slash"},
        {"tail`", "tail"},
    };
    check_rows(rows, TUG_ARRAY_SIZE(rows), '`');
}

typedef struct {
    const char *in;
    const char *words[6]; /* {"error"} for an error */
} words_row;

static void test_words(void **state)
{
    (void)state;
    static const words_row rows[] = {
        {"hello", {"hello"}},
        {"hello${NOPE}bye", {"hellobye"}},
        {"hello${SH}bye", {"helloashbye"}},
        {"x${SPACED}y", {"xa", "by"}},
        {"x\"${SPACED}\"y", {"xa  by"}},
        {"x \"${SPACED}\"y", {"x", "a  by"}},
        {"x${LEAD}z", {"x", "x", "yz"}},
        {"x\"${LEAD}\" z", {"x  x y", "z"}},
        {"a b\tc   d", {"a", "b", "c", "d"}},
        {"a\\ b", {"a b"}},
        {"a\" b", {"error"}},
        {"a\\\" b", {"a\"", "b"}},
        {"a\"\\\\b\"", {"a\\b"}},
        {"a'\\\\b'", {"a\\\\b"}},
        {"a'$NAME'", {"a$NAME"}},
        {"a \"\" b", {"a", "b"}},
        {"  ", {NULL}},
        {"80 443/tcp", {"80", "443/tcp"}},
        {"p${NOPE:-80 81}", {"p80", "81"}},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(rows); i++) {
        cleanup_strv char **w = NULL;
        size_t n = 0;
        tug_error *err = NULL;
        int r = tug_shell_words(rows[i].in, '\\', lookup, env, &w, &n, &err);
        if (rows[i].words[0] && strcmp(rows[i].words[0], "error") == 0) {
            if (r == 0)
                fail_msg("%s: expected an error", rows[i].in);
            tug_error_free(err);
            continue;
        }
        if (r < 0)
            fail_msg("%s: %s", rows[i].in, err->msg);
        size_t want = 0;
        while (want < 6 && rows[i].words[want])
            want++;
        if (n != want)
            fail_msg("%s: %zu words, want %zu", rows[i].in, n, want);
        for (size_t k = 0; k < n; k++)
            if (strcmp(w[k], rows[i].words[k]) != 0)
                fail_msg("%s: word %zu is \"%s\", want \"%s\"", rows[i].in, k, w[k],
                         rows[i].words[k]);
        assert_null(w[n]);
    }
}

static bool count_lookup(const char *name, const char **ret, void *userdata)
{
    (void)name;
    (*(int *)userdata)++;
    *ret = "v";
    return true;
}

/* The switches the parser uses, and the lookup's calls (the executor's cache key). */
static void test_options(void **state)
{
    (void)state;
    char *out = NULL;
    tug_shell_opts raw = {
        .escape = '\\', .raw_quotes = true, .raw_escapes = true, .keep_unset = true};
    const char *s = "'a' \"b $X\" \\c ${Y:-z} <<  EOF";
    cleanup_strv char **w = NULL;
    assert_int_equal(tug_shell_process(s, strlen(s), &raw, &out, &w, NULL), 0);
    assert_string_equal(out, "'a' \"b $X\" \\c ${Y:-z} <<  EOF");
    assert_string_equal(w[0], "'a'");
    assert_string_equal(w[1], "\"b $X\"");
    assert_string_equal(w[2], "\\c");
    assert_string_equal(w[3], "${Y:-z}");
    assert_string_equal(w[4], "<<  EOF");
    assert_null(w[5]);
    free(out);

    /* heredoc bodies: quotes are text, only $ and the escape matter */
    tug_shell_opts body = {.escape = '\\', .skip_quotes = true, .lookup = lookup, .userdata = env};
    s = "echo '$NAME' \"$NAME\" \\$NAME\n";
    assert_int_equal(tug_shell_process(s, strlen(s), &body, &out, NULL, NULL), 0);
    assert_string_equal(out, "echo 'web' \"web\" $NAME\n");
    free(out);

    int calls = 0;
    assert_int_equal(
        tug_shell_expand("$A ${B} ${C:-x} '$D' \\$E", '\\', count_lookup, &calls, &out, NULL), 0);
    assert_string_equal(out, "v v v $D $E");
    assert_int_equal(calls, 3);
    free(out);

    /* no lookup: every variable is unset */
    assert_int_equal(tug_shell_expand("[$A${B:-b}]", '\\', NULL, NULL, &out, NULL), 0);
    assert_string_equal(out, "[b]");
    free(out);
}

/* Hostile input: deep nesting is an error, not a crash; long values stay linear. */
static void test_limits(void **state)
{
    (void)state;
    size_t depth = 5000;
    char *deep = malloc(depth * 8 + 1), *p = deep;
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "${X:-");
    for (size_t i = 0; i < depth; i++)
        *p++ = '}';
    *p = '\0';
    char *out = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_shell_expand(deep, '\\', NULL, NULL, &out, &err), -1);
    assert_non_null(strstr(err->msg, "nested"));
    tug_error_free(err);
    free(deep);

    size_t n = 200000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    const char *benv[] = {NULL, NULL};
    char *kv = malloc(n + 3);
    snprintf(kv, n + 3, "V=%s", big);
    benv[0] = kv;
    assert_int_equal(
        tug_shell_expand("${V##*a*a*a*a*b}${V%%a*a*a*}", '\\', lookup, benv, &out, NULL), 0);
    assert_string_equal(out, big);
    free(out);
    free(kv);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes),    cmocka_unit_test(test_variables),
        cmocka_unit_test(test_modifiers), cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_backtick),  cmocka_unit_test(test_words),
        cmocka_unit_test(test_options),   cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
