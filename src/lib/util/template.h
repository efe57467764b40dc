/* A subset of Go's text/template, enough for docker's --format and inspect -f:
 * {{.Field.Sub}}, {{json .}}, {{index .Map "key"}}, {{range .List}}..{{end}},
 * {{if ..}}..{{else}}..{{end}}, pipelines with |, functions json index upper lower join
 * split title len println, and {{- -}} trimming. Data is a jansson value. */
#pragma once
#include <jansson.h>

#include "error.h"

typedef struct tug_template tug_template;

int tug_template_parse(const char *text, tug_template **ret_tmpl, tug_error **err);
/* Render against dot; *ret_out is a new string. */
int tug_template_render(const tug_template *tmpl, json_t *dot, char **ret_out, tug_error **err);
void tug_template_free(tug_template *tmpl);
void tug_template_freep(tug_template **tmpl);
#define cleanup_template __attribute__((cleanup(tug_template_freep)))

/* Go's %v of a JSON value: strings bare, lists as [a b], objects as map[k:v]. */
char *tug_template_format_value(json_t *v);
