/* Go's text/template over jansson values, as docker's --format and inspect -f use it:
 * fields and chains (.A.B, $x.A, (pipe).A), variables ($x := .., $x = .., range $k, $v := ..),
 * if/with/range with else and else if, break/continue, pipelines, {{- -}} trimming, comments,
 * {{define "x"}}..{{end}}, {{template "x" pipe}} and {{block "x" pipe}}..{{end}},
 * Go's functions (and or not eq ne lt le gt ge len index print printf println) and docker's
 * (json join split lower upper title pad truncate). Errors read as Go's do:
 * `template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"`.
 * A member "@Name" of an object stands for a method taking one argument (docker's
 * `.Label "key"` on ps and images rows): `.Name "arg"` indexes it; json and %v skip it. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "error.h"

typedef struct tug_template tug_template;

/* How the data stands for docker's Go values. */
typedef struct tug_template_opts {
    /* A row of a list command (ps, images): dot is a Go struct of this type
     * ("*formatter.ContainerContext"), so a field it lacks is an error naming the type. */
    const char *type_name;
    /* Pairs {field, type, ..., NULL}: the Go types of dot ("" as the field) and of the objects
     * its fields hold, for "can't evaluate field X in type T" where a map would say "no entry"
     * (version's {"", "system.versionInfo", "Client", "system.clientVersion", ...}). */
    const char *const *field_types;
    /* When set, a failed render leaves here what it wrote before the error (a new string):
     * docker's version and info print it. */
    char **ret_partial;
    /* The header line of a table: dot maps fields to column titles and docker's string
     * functions give their argument back unchanged. */
    bool header;
} tug_template_opts;

int tug_template_parse(const char *text, tug_template **ret_tmpl, tug_error **err);
/* The same with the template's name, which its messages carry ("template: version:1: ..."). */
int tug_template_parse_named(const char *name, const char *text, tug_template **ret_tmpl,
                             tug_error **err);
/* Render against dot (an inspect document: objects are Go structs or maps, see template.c);
 * *ret_out is a new string. */
int tug_template_render(const tug_template *tmpl, json_t *dot, char **ret_out, tug_error **err);
int tug_template_render_opts(const tug_template *tmpl, json_t *dot, const tug_template_opts *opts,
                             char **ret_out, tug_error **err);
void tug_template_free(tug_template *tmpl);
void tug_template_freep(tug_template **tmpl);
#define cleanup_template __attribute__((cleanup(tug_template_freep)))

/* Go's %v of a JSON value: strings bare, lists as [a b], objects as map[k:v]. */
char *tug_template_format_value(json_t *v);
/* Go's strconv.Quote of s: "a\"b\n" with \x, \u escapes for what is not printable. */
char *tug_template_go_quote(const char *s);
