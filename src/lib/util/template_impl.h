/* What template.c and template_funcs.c share: a function call and the value helpers. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "strutil.h"
#include "template.h"

/* One call: the arguments, the result, or a message for "error calling NAME: msg". */
typedef struct tpl_call {
    const tug_template_opts *o;
    json_t *root; /* the data the template runs over */
    json_t **argv;
    size_t argc;
    json_t *ret;
    char msg[256];
    const char *want; /* set with bad_arg when an argument has the wrong Go type */
    size_t bad_arg;
} tpl_call;

typedef struct tpl_fn {
    const char *name;
    int min, max;         /* max -1: any number */
    bool header_identity; /* in a table header, gives its first argument back (docker) */
    int (*fn)(tpl_call *c);
    int (*fn_named)(tpl_call *c, const char *name);
} tpl_fn;

/* The function called name, NULL when there is none (and, or are template.c's own). */
const tpl_fn *tpl_fn_find(const char *name);

/* Go's %v of v into b. */
void tpl_format_into(tug_strbuf *b, json_t *v, int depth);
/* Go's type name of a value, for its messages. */
const char *tpl_type_name(json_t *v);
/* Go's truth: false, 0, "", empty lists and maps, nil and a missing value are false. */
bool tpl_truthy(json_t *v);
/* "@Name" members are methods (template.h), not data. */
bool tpl_is_method_key(const char *k);
/* Append rune r to b as UTF-8. */
void tpl_utf8_encode(tug_strbuf *b, uint32_t r);
