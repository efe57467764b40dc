#include "template.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* Parsed template: a tree of nodes. */
typedef enum { N_TEXT, N_ACTION, N_RANGE, N_IF, N_WITH, N_LIST } node_kind;
typedef enum { A_FIELD, A_STRING, A_NUMBER, A_CALL, A_PIPE, A_BOOL } arg_kind;

typedef struct arg arg;
typedef struct cmd {
    arg **args; /* first is a function name (A_CALL) or an operand */
    size_t n;
} cmd;
typedef struct pipe_ {
    cmd *cmds;
    size_t n;
} pipe_;
struct arg {
    arg_kind kind;
    char *text;      /* field path (".A.B", "." ) / string / function name / number */
    pipe_ *pipe;     /* A_PIPE: parenthesised pipeline */
};

typedef struct node node;
struct node {
    node_kind kind;
    char *text;
    pipe_ *pipe;
    node *list;  /* N_LIST children, or body of range/if */
    node *elsel; /* else branch */
    node **kids;
    size_t nkids;
};

struct tug_template {
    node *root;
};

typedef struct {
    const char *s;
    size_t pos;
    tug_error **err;
} parser;

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static int sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

static int sb_puts(sbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

static void free_pipe(pipe_ *p);
static void free_arg(arg *a)
{
    if (a == NULL)
        return;
    free(a->text);
    free_pipe(a->pipe);
    free(a);
}
static void free_pipe(pipe_ *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->cmds[i].n; j++)
            free_arg(p->cmds[i].args[j]);
        free(p->cmds[i].args);
    }
    free(p->cmds);
    free(p);
}
static void free_node(node *n)
{
    if (n == NULL)
        return;
    free(n->text);
    free_pipe(n->pipe);
    free_node(n->list);
    free_node(n->elsel);
    for (size_t i = 0; i < n->nkids; i++)
        free_node(n->kids[i]);
    free(n->kids);
    free(n);
}

static int add_kid(node *list, node *kid)
{
    node **k = realloc(list->kids, (list->nkids + 1) * sizeof(*k));
    if (k == NULL) {
        free_node(kid);
        return -1;
    }
    list->kids = k;
    list->kids[list->nkids++] = kid;
    return 0;
}

static void skip_space(parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n')
        p->pos++;
}

static pipe_ *parse_pipe(parser *p, const char *stop);

static arg *parse_operand(parser *p)
{
    skip_space(p);
    const char *s = p->s + p->pos;
    arg *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    if (*s == '"' || *s == '`') {
        char q = *s;
        sbuf b = {0};
        size_t i = 1;
        while (s[i] && s[i] != q) {
            char c = s[i];
            if (q == '"' && c == '\\' && s[i + 1]) {
                i++;
                c = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
            }
            sb_add(&b, &c, 1);
            i++;
        }
        if (s[i] != q) {
            free(b.buf);
            free(a);
            tug_error_user(p->err, "template: unterminated string");
            return NULL;
        }
        a->kind = A_STRING;
        a->text = b.buf ? b.buf : strdup("");
        p->pos += i + 1;
        return a;
    }
    if (*s == '(') {
        p->pos++;
        a->kind = A_PIPE;
        a->pipe = parse_pipe(p, ")");
        if (a->pipe == NULL) {
            free(a);
            return NULL;
        }
        skip_space(p);
        if (p->s[p->pos] != ')') {
            free_arg(a);
            tug_error_user(p->err, "template: missing )");
            return NULL;
        }
        p->pos++;
        /* (pipeline).Field.Sub */
        if (p->s[p->pos] == '.') {
            size_t start = p->pos;
            while (p->s[p->pos] && !isspace((unsigned char)p->s[p->pos]) && p->s[p->pos] != '|' &&
                   p->s[p->pos] != ')' && !(p->s[p->pos] == '}' && p->s[p->pos + 1] == '}'))
                p->pos++;
            a->text = strndup(p->s + start, p->pos - start);
        }
        return a;
    }
    size_t i = 0;
    while (s[i] && !isspace((unsigned char)s[i]) && s[i] != '|' && s[i] != ')' && s[i] != '(' &&
           !(s[i] == '}' && s[i + 1] == '}') && !(s[i] == '-' && i > 0 && s[i + 1] == '}'))
        i++;
    if (i == 0) {
        free(a);
        tug_error_user(p->err, "template: missing value at \"%.10s\"", s);
        return NULL;
    }
    a->text = strndup(s, i);
    if (s[0] == '.' || s[0] == '$')
        a->kind = A_FIELD;
    else if (isdigit((unsigned char)s[0]) || s[0] == '-')
        a->kind = A_NUMBER;
    else if (strcmp(a->text, "true") == 0 || strcmp(a->text, "false") == 0)
        a->kind = A_BOOL;
    else
        a->kind = A_CALL;
    p->pos += i;
    return a;
}

static bool at_end(parser *p, const char *stop)
{
    const char *s = p->s + p->pos;
    if (*s == '\0')
        return true;
    if (stop[0] == ')' )
        return *s == ')';
    return (s[0] == '}' && s[1] == '}') || (s[0] == '-' && s[1] == '}' && s[2] == '}');
}

static pipe_ *parse_pipe(parser *p, const char *stop)
{
    pipe_ *pp = calloc(1, sizeof(*pp));
    if (pp == NULL)
        return NULL;
    for (;;) {
        cmd c = {0};
        for (;;) {
            skip_space(p);
            if (at_end(p, stop) || p->s[p->pos] == '|')
                break;
            arg *a = parse_operand(p);
            if (a == NULL) {
                for (size_t j = 0; j < c.n; j++)
                    free_arg(c.args[j]);
                free(c.args);
                free_pipe(pp);
                return NULL;
            }
            arg **na = realloc(c.args, (c.n + 1) * sizeof(*na));
            if (na == NULL) {
                free_arg(a);
                free_pipe(pp);
                return NULL;
            }
            c.args = na;
            c.args[c.n++] = a;
        }
        if (c.n == 0) {
            free(c.args);
            free_pipe(pp);
            tug_error_user(p->err, "template: missing command");
            return NULL;
        }
        cmd *nc = realloc(pp->cmds, (pp->n + 1) * sizeof(*nc));
        if (nc == NULL) {
            free_pipe(pp);
            return NULL;
        }
        pp->cmds = nc;
        pp->cmds[pp->n++] = c;
        skip_space(p);
        if (p->s[p->pos] == '|') {
            p->pos++;
            continue;
        }
        return pp;
    }
}

/* Parse until {{end}}/{{else}} or the end of input; *ret_stop tells which. */
static node *parse_list(parser *p, char **ret_stop)
{
    node *list = calloc(1, sizeof(*list));
    if (list == NULL)
        return NULL;
    list->kind = N_LIST;
    *ret_stop = NULL;
    bool trim_next = false;
    for (;;) {
        const char *s = p->s + p->pos;
        const char *open = strstr(s, "{{");
        size_t tlen = open ? (size_t)(open - s) : strlen(s);
        const char *t = s;
        if (trim_next)
            while (tlen > 0 && isspace((unsigned char)*t))
                t++, tlen--;
        bool trim_prev = open && open[2] == '-' && isspace((unsigned char)open[3]);
        if (trim_prev)
            while (tlen > 0 && isspace((unsigned char)t[tlen - 1]))
                tlen--;
        if (tlen > 0) {
            node *tn = calloc(1, sizeof(*tn));
            if (tn == NULL || (tn->text = strndup(t, tlen)) == NULL) {
                free(tn);
                free_node(list);
                return NULL;
            }
            tn->kind = N_TEXT;
            if (add_kid(list, tn) < 0) {
                free_node(list);
                return NULL;
            }
        }
        if (open == NULL) {
            p->pos += strlen(s);
            return list;
        }
        p->pos = (size_t)(open - p->s) + 2 + (trim_prev ? 1 : 0);
        skip_space(p);
        const char *kw = p->s + p->pos;
        node *n = NULL;
        if (strncmp(kw, "end", 3) == 0 || strncmp(kw, "else", 4) == 0) {
            bool is_end = kw[1] == 'n';
            p->pos += is_end ? 3 : 4;
            skip_space(p);
            trim_next = p->s[p->pos] == '-';
            if (trim_next)
                p->pos++;
            if (strncmp(p->s + p->pos, "}}", 2) != 0) {
                free_node(list);
                tug_error_user(p->err, "template: unexpected text after %s", is_end ? "end" : "else");
                return NULL;
            }
            p->pos += 2;
            *ret_stop = strdup(is_end ? "end" : "else");
            if (!is_end && trim_next)
                while (isspace((unsigned char)p->s[p->pos]))
                    p->pos++;
            if (is_end && trim_next)
                while (isspace((unsigned char)p->s[p->pos]))
                    p->pos++;
            return list;
        }
        n = calloc(1, sizeof(*n));
        if (n == NULL) {
            free_node(list);
            return NULL;
        }
        if (strncmp(kw, "range ", 6) == 0 || strncmp(kw, "if ", 3) == 0 ||
            strncmp(kw, "with ", 5) == 0) {
            n->kind = kw[0] == 'r' ? N_RANGE : kw[0] == 'i' ? N_IF : N_WITH;
            p->pos += kw[0] == 'r' ? 6 : kw[0] == 'i' ? 3 : 5;
        } else {
            n->kind = N_ACTION;
        }
        n->pipe = parse_pipe(p, "}}");
        if (n->pipe == NULL) {
            free(n);
            free_node(list);
            return NULL;
        }
        skip_space(p);
        trim_next = p->s[p->pos] == '-';
        if (trim_next)
            p->pos++;
        if (strncmp(p->s + p->pos, "}}", 2) != 0) {
            free_node(n);
            free_node(list);
            tug_error_user(p->err, "template: unclosed action");
            return NULL;
        }
        p->pos += 2;
        if (n->kind != N_ACTION) {
            cleanup_free char *stop = NULL;
            n->list = parse_list(p, &stop);
            if (n->list == NULL) {
                free_node(n);
                free_node(list);
                return NULL;
            }
            if (stop && strcmp(stop, "else") == 0) {
                free(stop);
                stop = NULL;
                n->elsel = parse_list(p, &stop);
                if (n->elsel == NULL) {
                    free_node(n);
                    free_node(list);
                    return NULL;
                }
            }
            if (stop == NULL || strcmp(stop, "end") != 0) {
                free_node(n);
                free_node(list);
                tug_error_user(p->err, "template: missing {{end}}");
                return NULL;
            }
            trim_next = false;
        }
        if (add_kid(list, n) < 0) {
            free_node(list);
            return NULL;
        }
    }
}

int tug_template_parse(const char *text, tug_template **ret_tmpl, tug_error **err)
{
    parser p = {.s = text, .pos = 0, .err = err};
    cleanup_free char *stop = NULL;
    tug_error *local = NULL;
    if (err == NULL)
        p.err = &local;
    node *root = parse_list(&p, &stop);
    if (root == NULL) {
        tug_error_free(local);
        if (err && *err == NULL)
            return tug_error_user(err, "template: parse error");
        return -1;
    }
    if (stop != NULL) {
        free_node(root);
        return tug_error_user(err, "template: unexpected {{%s}}", stop);
    }
    tug_template *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        free_node(root);
        return tug_error_set(err, 12, "template");
    }
    t->root = root;
    *ret_tmpl = t;
    return 0;
}

void tug_template_free(tug_template *tmpl)
{
    if (tmpl == NULL)
        return;
    free_node(tmpl->root);
    free(tmpl);
}

void tug_template_freep(tug_template **tmpl)
{
    tug_template_free(*tmpl);
}

static void format_into(sbuf *b, json_t *v, bool top)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        sb_add(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sb_puts(b, num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%g", json_real_value(v));
        sb_puts(b, num);
        break;
    case JSON_TRUE:
        sb_puts(b, "true");
        break;
    case JSON_FALSE:
        sb_puts(b, "false");
        break;
    case JSON_NULL:
        sb_puts(b, "<nil>");
        break;
    case JSON_ARRAY: {
        sb_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                sb_puts(b, " ");
            format_into(b, json_array_get(v, i), false);
        }
        sb_puts(b, "]");
        break;
    }
    case JSON_OBJECT: {
        /* Go prints maps with sorted keys. */
        size_t n = json_object_size(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) keys[i++] = k;
        for (size_t a = 1; a < n; a++)
            for (size_t c = a; c > 0 && strcmp(keys[c - 1], keys[c]) > 0; c--) {
                const char *tmp = keys[c];
                keys[c] = keys[c - 1];
                keys[c - 1] = tmp;
            }
        sb_puts(b, "map[");
        for (i = 0; i < n; i++) {
            if (i)
                sb_puts(b, " ");
            sb_puts(b, keys[i]);
            sb_puts(b, ":");
            format_into(b, json_object_get(v, keys[i]), false);
        }
        sb_puts(b, "]");
        free(keys);
        break;
    }
    }
    (void)top;
}

char *tug_template_format_value(json_t *v)
{
    sbuf b = {0};
    if (v == NULL)
        sb_puts(&b, "<no value>");
    else
        format_into(&b, v, true);
    return b.buf ? b.buf : strdup("");
}

typedef struct {
    json_t *root;
    tug_error **err;
} env;

static json_t *eval_pipe(env *e, pipe_ *p, json_t *dot);

static json_t *lookup_field(env *e, const char *path, json_t *dot)
{
    json_t *cur = path[0] == '$' ? e->root : dot;
    const char *s = path[0] == '$' ? path + 1 : path;
    if (strcmp(s, ".") == 0 || *s == '\0')
        return json_incref(cur);
    while (*s == '.') {
        s++;
        const char *end = strchr(s, '.');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (!json_is_object(cur)) {
            tug_error_user(e->err, "template: can't evaluate field %.*s", (int)n, s);
            return NULL;
        }
        cleanup_free char *key = strndup(s, n);
        json_t *next = json_object_get(cur, key);
        if (next == NULL) {
            /* Go's templates print "<no value>" for a missing map key. */
            return json_string("<no value>");
        }
        cur = next;
        s += n;
    }
    return json_incref(cur);
}

static bool truthy(json_t *v)
{
    if (v == NULL)
        return false;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    default:
        return true;
    }
}

static json_t *eval_arg(env *e, arg *a, json_t *dot)
{
    switch (a->kind) {
    case A_FIELD:
        return lookup_field(e, a->text, dot);
    case A_STRING:
        return json_string(a->text);
    case A_NUMBER:
        return json_integer(strtoll(a->text, NULL, 10));
    case A_BOOL:
        return json_boolean(a->text[0] == 't');
    case A_PIPE: {
        json_t *v = eval_pipe(e, a->pipe, dot);
        if (v == NULL || a->text == NULL)
            return v;
        json_t *field = lookup_field(e, a->text, v);
        json_decref(v);
        return field;
    }
    case A_CALL:
        break;
    }
    return NULL;
}

static char *to_str(json_t *v)
{
    return tug_template_format_value(v);
}

static json_t *call_fn(env *e, const char *name, json_t **argv, size_t argc)
{
    if (strcmp(name, "json") == 0 && argc == 1) {
        char *s = json_dumps(argv[0], JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_t *r = json_string(s ? s : "null");
        free(s);
        return r;
    }
    if ((strcmp(name, "upper") == 0 || strcmp(name, "lower") == 0 || strcmp(name, "title") == 0) &&
        argc == 1) {
        cleanup_free char *s = to_str(argv[0]);
        bool start = true;
        for (char *c = s; *c; c++) {
            if (name[0] == 'u')
                *c = (char)toupper((unsigned char)*c);
            else if (name[0] == 'l')
                *c = (char)tolower((unsigned char)*c);
            else {
                if (start)
                    *c = (char)toupper((unsigned char)*c);
                start = isspace((unsigned char)*c);
            }
        }
        return json_string(s);
    }
    if (strcmp(name, "len") == 0 && argc == 1) {
        json_t *v = argv[0];
        size_t n = json_is_array(v)    ? json_array_size(v)
                   : json_is_object(v) ? json_object_size(v)
                   : json_is_string(v) ? json_string_length(v)
                                       : 0;
        return json_integer((json_int_t)n);
    }
    if (strcmp(name, "index") == 0 && argc >= 2) {
        json_t *cur = json_incref(argv[0]);
        for (size_t i = 1; i < argc && cur; i++) {
            json_t *next = NULL;
            if (json_is_array(cur) && json_is_integer(argv[i]))
                next = json_array_get(cur, (size_t)json_integer_value(argv[i]));
            else if (json_is_object(cur) && json_is_string(argv[i]))
                next = json_object_get(cur, json_string_value(argv[i]));
            else if (json_is_null(cur))
                next = NULL;
            else {
                tug_error_user(e->err, "template: index of %s not possible",
                               json_is_array(cur) ? "list" : "value");
                json_decref(cur);
                return NULL;
            }
            if (next == NULL && json_is_array(cur)) {
                json_decref(cur);
                tug_error_user(e->err, "template: index out of range");
                return NULL;
            }
            json_t *old = cur;
            cur = next ? json_incref(next) : json_string("<no value>");
            json_decref(old);
        }
        return cur;
    }
    if (strcmp(name, "join") == 0 && argc == 2 && json_is_array(argv[0])) {
        sbuf b = {0};
        cleanup_free char *sep = to_str(argv[1]);
        for (size_t i = 0; i < json_array_size(argv[0]); i++) {
            if (i)
                sb_puts(&b, sep);
            cleanup_free char *s = to_str(json_array_get(argv[0], i));
            sb_puts(&b, s);
        }
        json_t *r = json_string(b.buf ? b.buf : "");
        free(b.buf);
        return r;
    }
    if (strcmp(name, "split") == 0 && argc == 2) {
        cleanup_free char *s = to_str(argv[0]);
        cleanup_free char *sep = to_str(argv[1]);
        json_t *r = json_array();
        char *p = s;
        size_t sl = strlen(sep);
        for (char *q; sl && (q = strstr(p, sep)) != NULL; p = q + sl)
            json_array_append_new(r, json_stringn(p, (size_t)(q - p)));
        json_array_append_new(r, json_string(p));
        return r;
    }
    if (strcmp(name, "println") == 0) {
        sbuf b = {0};
        for (size_t i = 0; i < argc; i++) {
            if (i)
                sb_puts(&b, " ");
            cleanup_free char *s = to_str(argv[i]);
            sb_puts(&b, s);
        }
        sb_puts(&b, "\n");
        json_t *r = json_string(b.buf);
        free(b.buf);
        return r;
    }
    if (strcmp(name, "print") == 0) {
        sbuf b = {0};
        for (size_t i = 0; i < argc; i++) {
            cleanup_free char *s = to_str(argv[i]);
            sb_puts(&b, s);
        }
        json_t *r = json_string(b.buf ? b.buf : "");
        free(b.buf);
        return r;
    }
    if ((strcmp(name, "eq") == 0 || strcmp(name, "ne") == 0) && argc == 2) {
        bool eq = json_equal(argv[0], argv[1]);
        return json_boolean(name[0] == 'e' ? eq : !eq);
    }
    if (strcmp(name, "not") == 0 && argc == 1)
        return json_boolean(!truthy(argv[0]));
    tug_error_user(e->err, "template: function \"%s\" not defined or given %zu arguments", name,
                   argc);
    return NULL;
}

static json_t *eval_cmd(env *e, cmd *c, json_t *dot, json_t *piped)
{
    if (c->args[0]->kind != A_CALL) {
        if (c->n > 1 || piped) {
            tug_error_user(e->err, "template: can't give argument to non-function %s",
                           c->args[0]->text ? c->args[0]->text : "(...)");
            return NULL;
        }
        return eval_arg(e, c->args[0], dot);
    }
    size_t argc = c->n - 1 + (piped ? 1 : 0);
    json_t **argv = calloc(argc + 1, sizeof(*argv));
    if (argv == NULL)
        return NULL;
    json_t *r = NULL;
    size_t i;
    for (i = 0; i + 1 < c->n; i++) {
        argv[i] = eval_arg(e, c->args[i + 1], dot);
        if (argv[i] == NULL)
            goto out;
    }
    if (piped)
        argv[i++] = json_incref(piped);
    r = call_fn(e, c->args[0]->text, argv, argc);
out:
    for (size_t j = 0; j < argc; j++)
        json_decref(argv[j]);
    free(argv);
    return r;
}

static json_t *eval_pipe(env *e, pipe_ *p, json_t *dot)
{
    json_t *val = NULL;
    for (size_t i = 0; i < p->n; i++) {
        json_t *next = eval_cmd(e, &p->cmds[i], dot, val);
        json_decref(val);
        if (next == NULL)
            return NULL;
        val = next;
    }
    return val;
}

static int exec_node(env *e, node *n, json_t *dot, sbuf *out)
{
    switch (n->kind) {
    case N_TEXT:
        return sb_puts(out, n->text);
    case N_LIST:
        for (size_t i = 0; i < n->nkids; i++)
            if (exec_node(e, n->kids[i], dot, out) < 0)
                return -1;
        return 0;
    case N_ACTION: {
        json_t *v = eval_pipe(e, n->pipe, dot);
        if (v == NULL)
            return -1;
        cleanup_free char *s = to_str(v);
        json_decref(v);
        return sb_puts(out, s);
    }
    case N_IF: {
        json_t *v = eval_pipe(e, n->pipe, dot);
        if (v == NULL)
            return -1;
        bool t = truthy(v);
        json_decref(v);
        if (t)
            return exec_node(e, n->list, dot, out);
        return n->elsel ? exec_node(e, n->elsel, dot, out) : 0;
    }
    case N_WITH: {
        json_t *v = eval_pipe(e, n->pipe, dot);
        if (v == NULL)
            return -1;
        int r = 0;
        if (truthy(v))
            r = exec_node(e, n->list, v, out);
        else if (n->elsel)
            r = exec_node(e, n->elsel, dot, out);
        json_decref(v);
        return r;
    }
    case N_RANGE: {
        json_t *v = eval_pipe(e, n->pipe, dot);
        if (v == NULL)
            return -1;
        int r = 0;
        bool any = false;
        if (json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v) && r == 0; i++, any = true)
                r = exec_node(e, n->list, json_array_get(v, i), out);
        } else if (json_is_object(v)) {
            const char *k;
            json_t *val;
            json_object_foreach(v, k, val)
            {
                any = true;
                if ((r = exec_node(e, n->list, val, out)) < 0)
                    break;
            }
        }
        if (r == 0 && !any && n->elsel)
            r = exec_node(e, n->elsel, dot, out);
        json_decref(v);
        return r;
    }
    }
    return 0;
}

int tug_template_render(const tug_template *tmpl, json_t *dot, char **ret_out, tug_error **err)
{
    sbuf out = {0};
    env e = {.root = dot, .err = err};
    tug_error *local = NULL;
    if (err == NULL)
        e.err = &local;
    if (exec_node(&e, tmpl->root, dot, &out) < 0) {
        free(out.buf);
        tug_error_free(local);
        if (err && *err == NULL)
            return tug_error_user(err, "template: execution failed");
        return -1;
    }
    *ret_out = out.buf ? out.buf : strdup("");
    return 0;
}
