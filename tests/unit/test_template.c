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
    /* an object of Go field names is a struct: a field it lacks is docker's inspect error */
    CHECK("{{.Nope}}", "{\"Id\":\"x\"}",
          "!emplate: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"");
    CHECK("{{.State.Health.Status}}", "{\"State\":{\"Status\":\"running\"}}",
          "!emplate: :1:8: executing \"\" at <.State.Health.Status>: map has no entry for key "
          "\"Health\"");
    CHECK("{{.Config.Labels.nope}}", "{\"Config\":{\"Labels\":{\"com.x\":\"1\"}}}", "<no value>");
    CHECK("{{.Name.X}}", "{\"Name\":\"web\"}",
          "!emplate: :1:7: executing \"\" at <.Name.X>: can't evaluate field X in type interface {}");
    /* a nil pointer docker's JSON leaves out prints <nil>; looked into, it is the map's error */
    CHECK("{{json .State.Health}}|{{.State.Health}}|{{if .State.Health}}h{{else}}n{{end}}",
          "{\"State\":{\"Status\":\"created\"}}", "null|<nil>|n");
    /* a field docker declares as a map gives <no value>, whatever its keys look like */
    CHECK("{{.GraphDriver.Data.Nope}}", "{\"GraphDriver\":{\"Data\":{\"UpperDir\":\"/u\"}}}",
          "<no value>");
    CHECK("{{.F}} {{.G}} {{.H}}", "{\"F\":1.5,\"G\":1000000.0,\"H\":null}", "1.5 1e+06 <nil>");
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
          "!emplate: :1:2: executing \"\" at <index .Labels \"none\" \"x\">: error calling index: "
          "can't index item of type string");
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

static void test_go_functions(void **state)
{
    (void)state;
    CHECK("{{printf \"%s|%d|%v|%q|%-6s|%5.2f|%5s|%x|%t|%05d|%+d|%.3s\" \"a\" 42 \"v\" \"q\\\"x\" \"l\" 3.14159 "
          "\"r\" 255 true 42 5 \"abcdef\"}}",
          "{}", "a|42|v|\"q\\\"x\"|l     | 3.14|    r|ff|true|00042|+5|abc");
    CHECK("{{printf \"%d\" \"s\"}} {{printf \"%s\" 5}} {{printf \"%d\"}} {{printf \"%d\" 1 2}}", "{}",
          "%!d(string=s) %!s(int=5) %!d(MISSING) 1%!(EXTRA int=2)");
    CHECK("{{printf \"%-8s|\" .A}}{{printf \"%v\" .L}}", "{\"A\":\"é\",\"L\":[1,\"x\"]}", "é       |[1 x]");
    CHECK("{{print 1 2 \"a\" \"b\" 3}}|{{println 1 \"a\"}}", "{}", "1 2ab3|1 a\n");
    CHECK("{{eq 1 2 3 1}} {{eq \"a\" \"a\"}} {{eq .A 1.5}} {{ne 1 1}}", "{\"A\":1.5}", "true true true false");
    /* Go: the first equal operand answers; an int is no float */
    CHECK("{{eq 1 1 \"x\"}} {{eq nil nil}}", "{}", "true true");
    CHECK("{{eq 1 1.0}}", "{}",
          "!emplate: :1:2: executing \"\" at <eq 1 1.0>: error calling eq: incompatible types for "
          "comparison");
    CHECK("{{printf \"%q|%U|%q|%5d|%s\" 65 65 .L .N nil}}", "{\"L\":[\"a\",\"b\"],\"N\":[1,2]}",
          "'A'|U+0041|[\"a\" \"b\"]|[    1     2]|%!s(<nil>)");
    CHECK("{{title \"don't foo_bar x.y 1st\"}} {{upper \"straße é\"}} {{lower \"ÀB\"}}", "{}",
          "Don'T Foo_bar X.Y 1st STRAßE É àb");
    CHECK("{{1_000}} {{\"\\u00e9\\x41\\101\"}}", "{}", "1000 éAA");
    CHECK("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}", "{}", "true true true false");
    CHECK("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 \"\"}} {{not 0}}", "{}", "0 2 x  true");
    CHECK("{{eq 1 \"a\"}}", "{}",
          "!emplate: :1:2: executing \"\" at <eq 1 \"a\">: error calling eq: incompatible types for "
          "comparison");
    CHECK("{{lt .L 1}}", "{\"L\":[]}",
          "!emplate: :1:2: executing \"\" at <lt .L 1>: error calling lt: invalid type for comparison");
    CHECK("{{if and .A (not .B)}}y{{end}}", "{\"A\":1,\"B\":false}", "y");
    CHECK("{{len .M}} {{len \"abc\"}}", "{\"M\":{\"a\":1}}", "1 3");
    CHECK("{{len 3}}", "{}", "!emplate: :1:2: executing \"\" at <len 3>: error calling len: len of type int");
    CHECK("{{index .M \"a\" \"b\" 1}}", "{\"M\":{\"a\":{\"b\":[5,6]}}}", "6");
    CHECK("{{index .L 5}}", "{\"L\":[1]}",
          "!emplate: :1:2: executing \"\" at <index .L 5>: error calling index: index out of range: 5");
    CHECK("{{slice \"abcdef\" 1 3}} {{slice .L 1}}", "{\"L\":[1,2,3]}", "bc [2 3]");
    CHECK("{{printf \"%q\" \"a\\tb\\x01\\\\\"}}", "{}", "\"a\\tb\\x01\\\\\"");
    CHECK("{{upper}}", "{}",
          "!emplate: :1:2: executing \"\" at <upper>: wrong number of args for upper: want 1 got 0");
}

static void test_docker_functions(void **state)
{
    (void)state;
    CHECK("{{title \"hELLO woRLD-x\"}}|{{pad \"ab\" 2 3}}|{{pad \"\" 2 3}}|{{truncate \"abcdef\" 3}}|"
          "{{truncate \"ab\" 3}}",
          "{}", "HELLO WoRLD-X|  ab   ||abc|ab");
    CHECK("{{split \"a,b,,c\" \",\"}}|{{join (split \"a,b\" \",\") \"+\"}}|{{len (split \"a:b:c\" \":\")}}",
          "{}", "[a b  c]|a+b|3");
    CHECK("{{json .}}", "{\"A\":\"<a&b>\",\"@Label\":{}}", "{\"A\":\"<a&b>\"}");
    CHECK("{{.Label \"com.x\"}}|{{.Label \"none\"}}|{{.Labels}}",
          "{\"Labels\":\"com.x=1\",\"@Label\":{\"com.x\":\"1\"}}", "1||com.x=1");
    CHECK("{{.Names | upper | printf \"%s!\"}}", "{\"Names\":\"web\"}", "WEB!");
    CHECK("{{lower .A}}", "{\"A\":1}",
          "!emplate: :1:8: executing \"\" at <.A>: wrong type for value; expected string; got int");
}

static void test_variables(void **state)
{
    (void)state;
    CHECK("{{$x := .A}}{{$x}}{{$x = \"b\"}}{{$x}}", "{\"A\":\"a\"}", "ab");
    CHECK("{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}", "{\"M\":{\"b\":2,\"a\":1}}", "a=1;b=2;");
    CHECK("{{range $i, $e := .L}}{{$i}}:{{$e}} {{end}}", "{\"L\":[\"x\",\"y\"]}", "0:x 1:y ");
    CHECK("{{range $e := .L}}{{$e}}{{end}}", "{\"L\":[\"x\",\"y\"]}", "xy");
    CHECK("{{range .L}}{{$.T}}{{.}}{{end}}", "{\"T\":\"-\",\"L\":[1,2]}", "-1-2");
    CHECK("{{with $x := .M}}{{$x.A}}{{end}}", "{\"M\":{\"A\":\"v\"}}", "v");
    CHECK("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
          "{\"L\":[1,2,3,4,5]}", "13");
    CHECK("{{range 3}}{{.}}{{end}}", "{}", "012");
    CHECK("{{if eq .A 1}}one{{else if eq .A 2}}two{{else}}many{{end}}", "{\"A\":2}", "two");
    CHECK("{{with .X}}x{{else with .Y}}{{.}}{{end}}", "{\"X\":\"\",\"Y\":\"y\"}", "y");
    CHECK("{{range $e := .L}}{{else}}[{{$e}}]{{end}}", "{\"L\":[]}", "[[]]");
    CHECK("{{with $x := .A}}{{else}}[{{$x}}]{{end}}", "{\"A\":0}", "[0]");
    CHECK("{{/* a comment */}}a{{- /* trimmed */ -}} b", "{}", "ab");
    CHECK("{{(index .L 0).A}} {{(.M).A}}", "{\"L\":[{\"A\":1}],\"M\":{\"A\":2}}", "1 2");
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
    CHECK("{{.A", "{}", "!emplate: :1: unclosed action");
    CHECK("{{nope 1}}", "{}", "!emplate: :1: function \"nope\" not defined");
    CHECK("{{if .A}}", "{}", "!emplate: :1: unexpected EOF");
    CHECK("x{{end}}", "{}", "!emplate: :1: unexpected {{end}}");
    CHECK("\n{{$y}}", "{}", "!emplate: :2: undefined variable \"$y\"");
    CHECK("{{range .L}}{{$i := 1}}{{end}}{{$i}}", "{\"L\":[]}", "!emplate: :1: undefined variable \"$i\"");
    CHECK("{{break}}", "{}", "!emplate: :1: {{break}} outside {{range}}");
    /* Go's parse messages, as docker prints them */
    CHECK("{{.A}", "{}", "!emplate: :1: bad character U+007D '}'");
    CHECK("{{.A ~ 1}}", "{}", "!emplate: :1: unexpected \"~\" in operand");
    CHECK("{{|}}", "{}", "!emplate: :1: unexpected \"|\" in command");
    CHECK("{{(.A}}", "{}", "!emplate: :1: unclosed left paren");
    CHECK("{{if}}{{end}}", "{}", "!emplate: :1: missing value for if");
    CHECK("{{range}}{{end}}", "{}", "!emplate: :1: missing value for range");
    CHECK("{{3 | 4}}", "{}", "!emplate: :1: non executable command in pipeline stage 2");
    CHECK("{{$a, $b := 1}}", "{}", "!emplate: :1: too many declarations in command");
    CHECK("{{range $a, $b, $c := .L}}{{end}}", "{}", "!emplate: :1: too many declarations in range");
    CHECK("{{$x = 1}}", "{}",
          "!emplate: :1:2: executing \"\" at <$x>: undefined variable: $x");
    CHECK("{{.A 1}}", "{\"A\":1}",
          "!emplate: :1:2: executing \"\" at <.A>: A is not a method but has arguments");
    CHECK("{{range .S}}{{end}}", "{\"S\":\"ab\"}",
          "!emplate: :1:8: executing \"\" at <.S>: range can't iterate over ab");
}

static char *render_opts(const char *tmpl, const char *json, const tug_template_opts *o)
{
    json_t *dot = json_loads(json, 0, NULL);
    tug_template *t = NULL;
    tug_error *err = NULL;
    char *out = NULL;
    if (tug_template_parse(tmpl, &t, &err) == 0)
        tug_template_render_opts(t, dot, o, &out, &err);
    if (out == NULL)
        out = strdup(err && err->msg ? err->msg : "(error)");
    tug_error_free(err);
    tug_template_free(t);
    json_decref(dot);
    return out;
}

static void test_typed_rows(void **state)
{
    (void)state;
    tug_template_opts row = {.type_name = "*formatter.ContainerContext"};
    char *got = render_opts("{{.Names}} {{.Nope}}", "{\"Names\":\"web\"}", &row);
    assert_string_equal(got, "template: :1:13: executing \"\" at <.Nope>: can't evaluate field Nope "
                             "in type *formatter.ContainerContext");
    free(got);
    /* a row marshals itself, escaping <>&; other values keep them */
    got = render_opts("{{json .}}|{{json .A}}", "{\"A\":\"<x>\"}", &row);
    assert_string_equal(got, "{\"A\":\"\\u003cx\\u003e\"}|\"<x>\"");
    free(got);
    /* a table header: docker's string functions give the title back as it is */
    tug_template_opts header = {.header = true};
    got = render_opts("{{.Names | lower}}\t{{truncate .ID 3}}\t{{.Label \"com.x.app-name\"}}",
                      "{\"Names\":\"NAMES\",\"ID\":\"CONTAINER ID\"}", &header);
    assert_string_equal(got, "NAMES\tCONTAINER ID\tapp name");
    free(got);
}

/* {{define}}, {{template}} and {{block}}, with Go's messages. */
static void test_named_templates(void **state)
{
    (void)state;
    CHECK("{{define \"x\"}}<{{.}}>{{end}}{{template \"x\" .A}}{{template \"x\"}}", "{\"A\":\"a\"}",
          "<a><<no value>>");
    /* used before it is defined; a blank definition gives way to a full one */
    CHECK("{{template \"x\" .A}}{{define \"x\"}} {{end}}{{define \"x\"}}({{.}}){{end}}",
          "{\"A\":1}", "(1)");
    CHECK("{{block \"b\" .A}}[{{.}}]{{end}}|{{template \"b\" 2}}", "{\"A\":1}", "[1]|[2]");
    CHECK("{{define \"x\" -}}  A  {{- end}}[{{template \"x\"}}]", "{}", "[A]");
    /* a definition has its own variables and $ */
    CHECK("{{define \"x\"}}{{$.B}}{{end}}{{range .L}}{{template \"x\" .}}{{end}}",
          "{\"L\":[{\"B\":1},{\"B\":2}]}", "12");
    CHECK("{{define \"x\"}}{{$y}}{{end}}{{$y := 1}}", "{}",
          "!emplate: :1: undefined variable \"$y\"");
    CHECK("{{define \"x\"}}A{{end}}{{define \"x\"}}B{{end}}", "{}",
          "!emplate: :1: template: multiple definition of template \"x\"");
    CHECK("{{if 1}}{{define \"x\"}}A{{end}}{{end}}", "{}",
          "!emplate: :1: unexpected <define> in command");
    CHECK("{{define x}}A{{end}}", "{}", "!emplate: :1: unexpected \"x\" in define clause");
    CHECK("{{template}}", "{}", "!emplate: :1: unexpected \"}}\" in template clause");
    CHECK("{{define \"x\"}}A", "{}", "!emplate: :1: unexpected EOF");
    CHECK("{{block \"b\"}}{{end}}", "{}", "!emplate: :1: missing value for block clause");
    CHECK("{{ template \"x\" . }}", "{}",
          "!emplate: :1:12: executing \"\" at <{{template \"x\" .}}>: template \"x\" not defined");
    CHECK("{{define \"x\"}}\n{{.Nope}}{{end}}{{template \"x\" .}}", "{\"A\":1}",
          "!emplate: :2:2: executing \"x\" at <.Nope>: map has no entry for key \"Nope\"");
    CHECK("{{define \"x\"}}{{template \"x\" .}}{{end}}{{template \"x\" .}}", "{}",
          "!emplate: :1:25: executing \"x\" at <{{template \"x\" .}}>: exceeded maximum template "
          "depth (1000)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_go_functions),
        cmocka_unit_test(test_docker_functions),
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_typed_rows),
        cmocka_unit_test(test_named_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
