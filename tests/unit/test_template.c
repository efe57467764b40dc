#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/template.h"

static char *render(const char *tmpl, const char *json)
{
    json_t *dot = json_loads(json, 0, NULL);
    assert_non_null(dot);
    tug_template *t = NULL;
    tug_error *err = NULL;
    char *out = NULL;
    if (tug_template_parse(tmpl, &t, &err) == 0)
        tug_template_render(t, dot, &out, &err);
    if (out == NULL) {
        out = strdup(err && err->msg ? err->msg : "(error)");
        out[0] = out[0] == 't' ? '!' : out[0]; /* mark errors: they start with "template" */
    }
    tug_error_free(err);
    tug_template_free(t);
    json_decref(dot);
    return out;
}

#define CHECK(tmpl, json, want)                                                                    \
    do {                                                                                           \
        char *got = render(tmpl, json);                                                            \
        assert_string_equal(got, want);                                                            \
        free(got);                                                                                 \
    } while (0)

static void test_fields(void **state)
{
    (void)state;
    CHECK("{{.Repository}}:{{.Tag}}", "{\"Repository\":\"nginx\",\"Tag\":\"latest\"}",
          "nginx:latest");
    CHECK("{{.Config.Cmd}}", "{\"Config\":{\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"]}}",
          "[nginx -g daemon off;]");
    CHECK("{{.Size}}", "{\"Size\":141479488}", "141479488");
    CHECK("{{.Missing}}", "{}", "<no value>");
    CHECK("{{.Labels}}", "{\"Labels\":{\"b\":\"2\",\"a\":\"1\"}}", "map[a:1 b:2]");
    CHECK("plain text", "{}", "plain text");
}

static void test_functions(void **state)
{
    (void)state;
    CHECK("{{json .}}", "{\"A\":1}", "{\"A\":1}");
    CHECK("{{json .Config.Env}}", "{\"Config\":{\"Env\":[\"PATH=/bin\"]}}", "[\"PATH=/bin\"]");
    CHECK("{{index .RepoTags 0}}", "{\"RepoTags\":[\"nginx:latest\",\"web:1\"]}", "nginx:latest");
    CHECK("{{index .Labels \"com.x\"}}", "{\"Labels\":{\"com.x\":\"y\"}}", "y");
    /* a missing key gives "<no value>", which cannot be indexed further (found by fuzz_template) */
    CHECK("{{index .Labels \"none\" \"x\"}}", "{\"Labels\":{}}",
          "!emplate: index of value not possible");
    CHECK("{{upper .A}} {{lower .B}}", "{\"A\":\"abc\",\"B\":\"DEF\"}", "ABC def");
    CHECK("{{join .L \",\"}}", "{\"L\":[\"a\",\"b\"]}", "a,b");
    CHECK("{{len .L}}", "{\"L\":[1,2,3]}", "3");
    CHECK("{{.A | upper}}", "{\"A\":\"x\"}", "X");
}

static void test_control(void **state)
{
    (void)state;
    CHECK("{{range .L}}[{{.}}]{{end}}", "{\"L\":[\"a\",\"b\"]}", "[a][b]");
    CHECK("{{range .N}}{{.IP}} {{end}}", "{\"N\":{\"bridge\":{\"IP\":\"10.0.0.2\"}}}", "10.0.0.2 ");
    CHECK("{{if .A}}yes{{else}}no{{end}}", "{\"A\":true}", "yes");
    CHECK("{{if .A}}yes{{else}}no{{end}}", "{\"A\":\"\"}", "no");
    CHECK("{{range .L}}x{{else}}empty{{end}}", "{\"L\":[]}", "empty");
    CHECK("a {{- \" b \" -}} c", "{}", "a b c");
    CHECK("{{(index .L 1).A}}", "{\"L\":[{\"A\":1},{\"A\":2}]}", "2");
    CHECK("{{with .M}}[{{.X}}]{{end}}", "{\"M\":{\"X\":\"y\"}}", "[y]");
    CHECK("{{with .M}}x{{else}}none{{end}}", "{\"M\":null}", "none");
}

static void test_errors(void **state)
{
    (void)state;
    char *got = render("{{.A", "{}");
    assert_int_equal(got[0], '!');
    free(got);
    got = render("{{nosuchfn .A}}", "{\"A\":1}");
    assert_int_equal(got[0], '!');
    free(got);
    got = render("{{range .L}}x", "{\"L\":[]}");
    assert_int_equal(got[0], '!');
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
