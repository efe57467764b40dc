/* Go's text/template over jansson values: parse into a tree, then walk it against the data.
 * Positions are byte offsets into the text so errors say "line:column" as Go's do.
 *
 * JSON has no Go types, so an object stands for a Go struct when all its keys look like
 * exported field names (Config, State...) and for a map otherwise (Labels, Ports...):
 * a field a struct lacks is an error, a key a map lacks prints "<no value>", as docker's
 * inspect gives them. */
#include "template.h"
#include "template_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "strutil.h"

#define MAX_OUTPUT (64u << 20) /* a range over a huge number stops here, not at OOM */
#define MAX_DEPTH 200

/* ---- the tree ---- */

typedef enum {
    O_FIELD,
    O_VAR,
    O_PIPE,
    O_STRING,
    O_INT,
    O_FLOAT,
    O_BOOL,
    O_NIL,
    O_IDENT,
    O_DOT
} op_kind;
typedef enum {
    N_LIST,
    N_TEXT,
    N_ACTION,
    N_IF,
    N_WITH,
    N_RANGE,
    N_BREAK,
    N_CONTINUE,
    N_TEMPLATE /* {{template "name" pipe}}: text is the name, src the action as Go prints it */
} node_kind;

typedef struct pipe_ pipe_;
typedef struct operand {
    op_kind kind;
    size_t pos; /* where Go's errors point: the second name of a chain, else the start */
    char *src;  /* the text as written, for "at <...>" */
    char *str;  /* string value, function name, or variable name ("$x") */
    json_int_t i;
    double f;
    char **chain; /* field names after the operand: .A.B, $x.A, (p).A */
    size_t nchain;
    pipe_ *pipe;
} operand;

typedef struct cmd {
    operand **args;
    size_t n, pos;
    char *src;
} cmd;

struct pipe_ {
    char *vars[2];
    size_t nvars;
    bool assign; /* $x = ... (not :=) */
    cmd *cmds;
    size_t n, pos;
};

typedef struct node node;
struct node {
    node_kind kind;
    size_t pos;
    char *text;
    char *src;
    pipe_ *pipe;
    node *list, *elsel;
    node **kids;
    size_t nkids;
};

/* {{define "name"}}body{{end}} and {{block}}: the named templates beside the main one. */
typedef struct tpl_def {
    char *name;
    node *body;
} tpl_def;

struct tug_template {
    node *root;
    char *text;
    char *name; /* "" unless named (docker's version: "version") */
    tpl_def *defs;
    size_t ndefs;
};

static void free_pipe(pipe_ *p);
static void free_operand(operand *o)
{
    if (o == NULL)
        return;
    free(o->src);
    free(o->str);
    for (size_t i = 0; i < o->nchain; i++)
        free(o->chain[i]);
    free(o->chain);
    free_pipe(o->pipe);
    free(o);
}
static void free_pipe(pipe_ *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->cmds[i].n; j++)
            free_operand(p->cmds[i].args[j]);
        free(p->cmds[i].args);
        free(p->cmds[i].src);
    }
    free(p->cmds);
    free(p->vars[0]);
    free(p->vars[1]);
    free(p);
}
static void free_node(node *n)
{
    if (n == NULL)
        return;
    free(n->text);
    free(n->src);
    free_pipe(n->pipe);
    free_node(n->list);
    free_node(n->elsel);
    for (size_t i = 0; i < n->nkids; i++)
        free_node(n->kids[i]);
    free(n->kids);
    free(n);
}

/* ---- parsing ---- */

typedef struct {
    const char *s;
    size_t pos;
    tug_error **err;
    char **vars; /* variables in scope, for Go's "undefined variable" */
    size_t nvars;
    int depth;
    const char *name; /* the template's name, in its messages */
    bool in_define;
    tpl_def **defs; /* where {{define}} puts what it parses */
    size_t *ndefs;
} parser;

static size_t line_of(const char *s, size_t pos)
{
    size_t line = 1;
    for (size_t i = 0; i < pos && s[i]; i++)
        line += s[i] == '\n';
    return line;
}

__attribute__((format(printf, 2, 3))) static void *perr(parser *p, const char *fmt, ...)
{
    if (*p->err)
        return NULL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tug_error_user(p->err, "template: %s:%zu: %s", p->name, line_of(p->s, p->pos), msg);
    return NULL;
}

static void skip_space(parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
}

static bool at_close(parser *p)
{
    const char *s = p->s + p->pos;
    return (s[0] == '}' && s[1] == '}') || (s[0] == '-' && s[1] == '}' && s[2] == '}');
}

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static bool push_str(char ***v, size_t *n, char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL) {
        free(s);
        return false;
    }
    *v = nv;
    nv[(*n)++] = s;
    return true;
}

static bool var_known(parser *p, const char *name, size_t len)
{
    if (len == 1)
        return true; /* $ is the data */
    for (size_t i = p->nvars; i > 0; i--)
        if (strlen(p->vars[i - 1]) == len && strncmp(p->vars[i - 1], name, len) == 0)
            return true;
    return false;
}

static void pop_vars(parser *p, size_t to)
{
    while (p->nvars > to)
        free(p->vars[--p->nvars]);
}

/* what: "command", "if", "with", "range" or "parenthesized pipeline", for Go's messages */
static pipe_ *parse_pipe(parser *p, const char *what);

/* A string literal at p->pos: "..." with Go's escapes or `raw`. */
static char *parse_string(parser *p)
{
    const char *s = p->s + p->pos;
    char q = *s;
    tug_strbuf b = {0};
    size_t i = 1;
    for (; s[i] && s[i] != q; i++) {
        char c = s[i];
        if (q == '"' && c == '\n')
            break;
        if (q == '"' && c == '\\' && s[i + 1]) {
            i++;
            switch (s[i]) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'a':
                c = '\a';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'v':
                c = '\v';
                break;
            case '\\':
            case '"':
            case '\'':
                c = s[i];
                break;
            case 'x':
            case 'u':
            case 'U': {
                size_t nd = s[i] == 'x' ? 2 : s[i] == 'u' ? 4 : 8, k = 1;
                char hex[9] = {0};
                for (; k <= nd && isxdigit((unsigned char)s[i + k]); k++)
                    hex[k - 1] = s[i + k];
                if (k <= nd)
                    goto bad_escape;
                unsigned long r = strtoul(hex, NULL, 16);
                i += nd;
                if (s[i - nd] == 'x') {
                    c = (char)r;
                    break;
                }
                tpl_utf8_encode(&b, (uint32_t)r);
                continue;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
                if (s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7') {
                    c = (char)((s[i] - '0') << 6 | (s[i + 1] - '0') << 3 | (s[i + 2] - '0'));
                    i += 2;
                    break;
                }
                goto bad_escape;
            bad_escape:
            default:
                tug_strbuf_free(&b);
                return perr(p, "invalid syntax: %.*s", (int)(i + 1), s);
            }
        }
        tug_strbuf_addc(&b, c);
    }
    if (s[i] != q) {
        tug_strbuf_free(&b);
        return perr(p, q == '"' ? "unterminated quoted string" : "unterminated raw quoted string");
    }
    p->pos += i + 1;
    char *out = tug_strbuf_steal(&b);
    return out ? out : strdup("");
}

static bool parse_number(parser *p, operand *o)
{
    const char *s = p->s + p->pos;
    size_t i = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (is_alnum(s[i]) || s[i] == '.' ||
           ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E')))
        i++;
    cleanup_free char *t = strndup(s, i);
    char *end;
    if (t == NULL)
        return false;
    /* Go's digit separators: 1_000 */
    size_t w = 0;
    for (size_t r = 0; t[r]; r++)
        if (t[r] != '_')
            t[w++] = t[r];
    t[w] = '\0';
    errno = 0;
    long long v = strtoll(t, &end, 0);
    if (*end == '\0' && errno == 0) {
        o->kind = O_INT;
        o->i = v;
    } else {
        errno = 0;
        o->f = strtod(t, &end);
        if (*end || errno || strncmp(t + strspn(t, "+-"), "0x", 2) == 0) {
            perr(p, "bad number syntax: \"%s\"", t);
            return false;
        }
        o->kind = O_FLOAT;
    }
    p->pos += i;
    return true;
}

/* .A.B after an operand; the chain's position is its first name's (Go's ChainNode). */
static bool parse_chain(parser *p, operand *o)
{
    while (p->s[p->pos] == '.' && is_alnum(p->s[p->pos + 1]) &&
           !isdigit((unsigned char)p->s[p->pos + 1])) {
        if (o->nchain == (o->kind == O_FIELD ? 1u : 0u))
            o->pos = p->pos;
        size_t start = ++p->pos;
        while (is_alnum(p->s[p->pos]))
            p->pos++;
        if (!push_str(&o->chain, &o->nchain, strndup(p->s + start, p->pos - start)))
            return false;
    }
    return true;
}

/* Go's lexer on a character no token starts with */
static void *bad_char(parser *p, char c)
{
    if (c == '}')
        return perr(p, "bad character U+007D '}'");
    return perr(p, "unexpected \"%c\" in operand", c);
}

static operand *parse_operand(parser *p)
{
    skip_space(p);
    size_t start = p->pos;
    const char *s = p->s + p->pos;
    operand *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->pos = start;
    bool ok = true;
    if (*s == '"' || *s == '`') {
        o->kind = O_STRING;
        ok = (o->str = parse_string(p)) != NULL;
    } else if (*s == '(') {
        if (++p->depth > MAX_DEPTH) {
            free(o);
            return perr(p, "nesting too deep");
        }
        p->pos++;
        o->kind = O_PIPE;
        o->pipe = parse_pipe(p, "parenthesized pipeline");
        p->depth--;
        ok = o->pipe != NULL;
        if (ok) {
            p->pos++; /* ) */
            ok = parse_chain(p, o);
        }
    } else if (*s == '.' && !is_alnum(s[1])) {
        o->kind = O_DOT;
        p->pos++;
    } else if (*s == '.') {
        o->kind = O_FIELD;
        ok = parse_chain(p, o);
    } else if (*s == '$') {
        size_t i = 1;
        while (is_alnum(s[i]))
            i++;
        if (!var_known(p, s, i)) {
            free(o);
            return perr(p, "undefined variable \"%.*s\"", (int)i, s);
        }
        o->kind = O_VAR;
        o->str = strndup(s, i);
        p->pos += i;
        ok = o->str && parse_chain(p, o);
    } else if (isdigit((unsigned char)*s) ||
               ((*s == '-' || *s == '+' || *s == '.') && isdigit((unsigned char)s[1]))) {
        ok = parse_number(p, o);
    } else if (isalpha((unsigned char)*s) || *s == '_') {
        size_t i = 0;
        while (is_alnum(s[i]))
            i++;
        o->str = strndup(s, i);
        p->pos += i;
        if (o->str == NULL)
            ok = false;
        else if (strcmp(o->str, "true") == 0 || strcmp(o->str, "false") == 0)
            o->kind = O_BOOL;
        else if (strcmp(o->str, "nil") == 0)
            o->kind = O_NIL;
        else {
            o->kind = O_IDENT;
            bool known =
                tpl_fn_find(o->str) || strcmp(o->str, "and") == 0 || strcmp(o->str, "or") == 0;
            if (!known) {
                perr(p, "function \"%s\" not defined", o->str);
                ok = false;
            }
        }
    } else if (*s == '\0') {
        free(o);
        return perr(p, "unclosed action");
    } else {
        free(o);
        return bad_char(p, *s);
    }
    if (ok && p->s[p->pos] && !isspace((unsigned char)p->s[p->pos]) && p->s[p->pos] != '|' &&
        p->s[p->pos] != ')' && !at_close(p) && p->s[p->pos] != '(' && p->s[p->pos] != ',' &&
        !(p->s[p->pos] == '.' && o->kind == O_PIPE)) {
        bad_char(p, p->s[p->pos]);
        ok = false;
    }
    if (ok && (o->src = strndup(p->s + start, p->pos - start)) == NULL)
        ok = false;
    if (!ok) {
        free_operand(o);
        return NULL;
    }
    return o;
}

/* "$x :=", "$k, $v :=" or "$x =" at the start of a pipeline. */
static bool parse_decl(parser *p, pipe_ *pp, const char *what)
{
    size_t save = p->pos;
    for (size_t k = 0; k < 2; k++) {
        skip_space(p);
        const char *s = p->s + p->pos;
        if (*s != '$')
            break;
        size_t i = 1;
        while (is_alnum(s[i]))
            i++;
        size_t after = p->pos + i;
        while (p->s[after] == ' ' || p->s[after] == '\t')
            after++;
        char c = p->s[after];
        bool decl = c == ':' && p->s[after + 1] == '=';
        bool assign = c == '=' && p->s[after + 1] != '=';
        if (c == ',' && k == 1)
            return perr(p, "too many declarations in %s", what), false;
        if (!decl && !assign && !(c == ',' && k == 0))
            break;
        pp->vars[pp->nvars++] = strndup(s, i);
        if (c == ',') {
            p->pos = after + 1;
            skip_space(p);
            if (p->s[p->pos] != '$')
                return perr(p, "too many declarations in %s", what), false;
            continue;
        }
        if (k == 1 && c == ',')
            return perr(p, "too many declarations in %s", what), false;
        pp->assign = assign;
        p->pos = after + (decl ? 2 : 1);
        return true;
    }
    for (size_t k = 0; k < pp->nvars; k++) {
        free(pp->vars[k]);
        pp->vars[k] = NULL;
    }
    pp->nvars = 0;
    p->pos = save;
    return true;
}

static char *join_src(operand **args, size_t n)
{
    tug_strbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            tug_strbuf_addc(&b, ' ');
        tug_strbuf_adds(&b, args[i]->src);
    }
    return tug_strbuf_steal(&b);
}

static pipe_ *parse_pipe(parser *p, const char *what)
{
    bool in_paren = what[0] == 'p';
    pipe_ *pp = calloc(1, sizeof(*pp));
    if (pp == NULL)
        return NULL;
    skip_space(p);
    pp->pos = p->pos;
    if (!parse_decl(p, pp, what))
        goto fail;
    if (pp->nvars > 1 && strcmp(what, "range") != 0) {
        perr(p, "too many declarations in %s", what);
        goto fail;
    }
    for (;;) {
        cmd c = {0};
        skip_space(p);
        c.pos = p->pos;
        for (;;) {
            skip_space(p);
            char ch = p->s[p->pos];
            if (ch == '\0' || ch == '|' || ch == ')' || at_close(p))
                break;
            operand *o = parse_operand(p);
            if (o == NULL || !(c.args = realloc(c.args, (c.n + 1) * sizeof(*c.args)))) {
                free_operand(o);
                for (size_t j = 0; j < c.n; j++)
                    free_operand(c.args[j]);
                free(c.args);
                goto fail;
            }
            c.args[c.n++] = o;
        }
        char ch = p->s[p->pos];
        if (ch == '\0' || (ch == ')' && !in_paren) || (at_close(p) && in_paren)) {
            for (size_t j = 0; j < c.n; j++)
                free_operand(c.args[j]);
            free(c.args);
            perr(p, ch == ')'  ? "unexpected right paren"
                    : in_paren ? "unclosed left paren"
                               : "unclosed action");
            goto fail;
        }
        if (c.n == 0 && pp->n > 0 && ch != '|') {
            /* Go takes {{.A | }} as {{.A}} */
            free(c.args);
            break;
        }
        if (c.n == 0) {
            free(c.args);
            if (ch == '|')
                perr(p, "unexpected \"|\" in %s", pp->n ? "command" : what);
            else
                perr(p, "missing value for %s", pp->n ? "command" : what);
            goto fail;
        }
        /* a literal cannot take the value piped into it (Go's parse check) */
        op_kind k0 = c.args[0]->kind;
        if (pp->n > 0 && (k0 == O_BOOL || k0 == O_DOT || k0 == O_NIL || k0 == O_INT ||
                          k0 == O_FLOAT || k0 == O_STRING)) {
            for (size_t j = 0; j < c.n; j++)
                free_operand(c.args[j]);
            free(c.args);
            perr(p, "non executable command in pipeline stage %zu", pp->n + 1);
            goto fail;
        }
        c.src = join_src(c.args, c.n);
        cmd *nc = realloc(pp->cmds, (pp->n + 1) * sizeof(*nc));
        if (nc == NULL) {
            for (size_t j = 0; j < c.n; j++)
                free_operand(c.args[j]);
            free(c.args);
            free(c.src);
            goto fail;
        }
        pp->cmds = nc;
        pp->cmds[pp->n++] = c;
        if (p->s[p->pos] != '|')
            break;
        p->pos++;
    }
    /* declared after the value is parsed: {{$x := $x}} reads the outer $x */
    for (size_t k = 0; k < pp->nvars && !pp->assign; k++)
        if (!push_str(&p->vars, &p->nvars, strdup(pp->vars[k])))
            goto fail;
    return pp;
fail:
    free_pipe(pp);
    return NULL;
}

typedef enum { STOP_EOF, STOP_END, STOP_ELSE, STOP_ELSE_IF, STOP_ELSE_WITH } stop_kind;

static node *new_node(node_kind kind, size_t pos)
{
    node *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->pos = pos;
    }
    return n;
}

static bool add_kid(node *list, node *kid)
{
    node **k = kid ? realloc(list->kids, (list->nkids + 1) * sizeof(*k)) : NULL;
    if (k == NULL) {
        free_node(kid);
        return false;
    }
    list->kids = k;
    list->kids[list->nkids++] = kid;
    return true;
}

static bool keyword(parser *p, const char *kw)
{
    size_t n = strlen(kw);
    const char *s = p->s + p->pos;
    if (strncmp(s, kw, n) != 0 || is_alnum(s[n]))
        return false;
    p->pos += n;
    return true;
}

/* The "}}" ending an action; *trim says whether it was " -}}". */
static bool close_action(parser *p, bool *trim, const char *what)
{
    skip_space(p);
    *trim = false;
    if (p->s[p->pos] == '-' && p->s[p->pos + 1] == '}' && p->s[p->pos + 2] == '}' && p->pos > 0 &&
        isspace((unsigned char)p->s[p->pos - 1])) {
        *trim = true;
        p->pos++;
    }
    if (strncmp(p->s + p->pos, "}}", 2) != 0) {
        if (p->s[p->pos] == '\0')
            perr(p, "unclosed action");
        else
            perr(p, "unexpected \"%c\" in %s", p->s[p->pos], what);
        return false;
    }
    p->pos += 2;
    return true;
}

static node *parse_list(parser *p, stop_kind *ret_stop, bool trim_first);

/* if/with/range: pipeline, body, optional else (or else if / else with), end. */
static node *parse_control(parser *p, node_kind kind, size_t pos, bool *ret_trim)
{
    node *n = new_node(kind, pos);
    if (n == NULL)
        return NULL;
    size_t scope = p->nvars;
    bool trim;
    stop_kind stop;
    if (++p->depth > MAX_DEPTH)
        goto fail_msg;
    n->pipe = parse_pipe(p, kind == N_IF ? "if" : kind == N_WITH ? "with" : "range");
    if (n->pipe == NULL || !close_action(p, &trim, kind == N_RANGE ? "range" : "command"))
        goto fail;
    if (kind != N_RANGE && n->pipe->nvars > 0 && n->pipe->assign) {
        /* {{if $x = ..}} is Go's too; nothing to check */
    }
    n->list = parse_list(p, &stop, trim);
    if (n->list == NULL)
        goto fail;
    if (stop == STOP_ELSE_IF || stop == STOP_ELSE_WITH) {
        node *inner = parse_control(p, stop == STOP_ELSE_IF ? N_IF : N_WITH, p->pos, ret_trim);
        if (inner == NULL || (n->elsel = new_node(N_LIST, p->pos)) == NULL) {
            free_node(inner);
            goto fail;
        }
        if (!add_kid(n->elsel, inner))
            goto fail;
        pop_vars(p, scope);
        p->depth--;
        return n;
    }
    if (stop == STOP_ELSE) {
        /* the pipeline's variables reach into {{else}}, as Go's do */
        n->elsel = parse_list(p, &stop, true);
        if (n->elsel == NULL)
            goto fail;
        if (stop != STOP_END) {
            perr(p, stop == STOP_EOF ? "unexpected EOF" : "expected end; found {{else}}");
            goto fail;
        }
    }
    if (stop != STOP_END) {
        perr(p, "unexpected EOF");
        goto fail;
    }
    *ret_trim = p->s[p->pos - 3] == '-';
    pop_vars(p, scope);
    p->depth--;
    return n;
fail_msg:
    perr(p, "nesting too deep");
fail:
    pop_vars(p, scope);
    free_node(n);
    return NULL;
}

static bool add_text(node *list, const char *t, size_t len)
{
    if (len == 0)
        return true;
    node *tn = new_node(N_TEXT, 0);
    if (tn == NULL || (tn->text = strndup(t, len)) == NULL) {
        free_node(tn);
        return false;
    }
    return add_kid(list, tn);
}

static int loop_depth; /* parse-time only, guarded by the single-threaded CLI */

/* Go's IsEmptyTree: nothing but blank text (a definition that may be replaced). */
static bool empty_tree(const node *n)
{
    if (n->kind == N_TEXT) {
        for (const char *c = n->text; *c; c++)
            if (!isspace((unsigned char)*c))
                return false;
        return true;
    }
    if (n->kind != N_LIST)
        return false;
    for (size_t i = 0; i < n->nkids; i++)
        if (!empty_tree(n->kids[i]))
            return false;
    return true;
}

/* The quoted name after define, template or block; Go's message for anything else. */
static char *parse_tname(parser *p, const char *clause)
{
    skip_space(p);
    const char *s = p->s + p->pos;
    if (*s == '"' || *s == '`')
        return parse_string(p);
    if (*s == '\0')
        return perr(p, "unclosed action");
    size_t n = at_close(p) ? (*s == '-' ? 3 : 2) : 1;
    while (is_alnum(s[0]) && is_alnum(s[n]))
        n++;
    return perr(p, "unexpected \"%.*s\" in %s clause", (int)n, s, clause);
}

/* Keep body as the template called name (both taken). As Go: a blank definition gives way to
 * a full one; two full ones are an error. */
static bool add_def(parser *p, char *name, node *body)
{
    for (size_t i = 0; i < *p->ndefs; i++) {
        tpl_def *d = &(*p->defs)[i];
        if (strcmp(d->name, name) != 0)
            continue;
        bool ok = empty_tree(body) || empty_tree(d->body);
        if (!ok) {
            cleanup_free char *q = tug_template_go_quote(name);
            perr(p, "template: multiple definition of template %s", q ? q : name);
        }
        if (ok && !empty_tree(body)) {
            free_node(d->body);
            d->body = body;
        } else
            free_node(body);
        free(name);
        return ok;
    }
    tpl_def *nd = realloc(*p->defs, (*p->ndefs + 1) * sizeof(*nd));
    if (nd == NULL) {
        free(name);
        free_node(body);
        return false;
    }
    *p->defs = nd;
    nd[(*p->ndefs)++] = (tpl_def){.name = name, .body = body};
    return true;
}

/* A definition's body, up to its {{end}}: its own variables ($ alone) and no enclosing range. */
static bool parse_def_body(parser *p, char *name, bool trim)
{
    char **outer = p->vars;
    size_t nouter = p->nvars;
    int loops = loop_depth;
    bool in_define = p->in_define;
    p->vars = NULL;
    p->nvars = 0;
    loop_depth = 0;
    p->in_define = true;
    stop_kind stop = STOP_EOF;
    node *body = parse_list(p, &stop, trim);
    pop_vars(p, 0);
    free(p->vars);
    p->vars = outer;
    p->nvars = nouter;
    loop_depth = loops;
    p->in_define = in_define;
    if (body && stop != STOP_END) {
        perr(p, stop == STOP_EOF ? "unexpected EOF" : "unexpected {{else}}");
        free_node(body);
        body = NULL;
    }
    if (body == NULL) {
        free(name);
        return false;
    }
    return add_def(p, name, body);
}

/* A call as Go prints it in messages: {{template "name" pipe}}. */
static char *call_src(const node *n)
{
    cleanup_free char *q = tug_template_go_quote(n->text);
    tug_strbuf b = {0};
    tug_strbuf_adds(&b, "{{template ");
    tug_strbuf_adds(&b, q ? q : "");
    for (size_t i = 0; n->pipe && i < n->pipe->n; i++) {
        tug_strbuf_adds(&b, i ? " | " : " ");
        tug_strbuf_adds(&b, n->pipe->cmds[i].src ? n->pipe->cmds[i].src : "");
    }
    tug_strbuf_adds(&b, "}}");
    return tug_strbuf_steal(&b);
}

/* {{template "name" pipe}} and {{block "name" pipe}}body{{end}}: a call of a named template;
 * the block defines it too. */
static node *parse_call(parser *p, bool block, bool *ret_trim)
{
    const char *clause = block ? "block" : "template";
    skip_space(p);
    node *n = new_node(N_TEMPLATE, p->pos);
    if (n == NULL || (n->text = parse_tname(p, clause)) == NULL)
        goto fail;
    skip_space(p);
    char what[32];
    snprintf(what, sizeof(what), "%s clause", clause);
    if ((block || !at_close(p)) && (n->pipe = parse_pipe(p, what)) == NULL)
        goto fail;
    if (!close_action(p, ret_trim, what) || (n->src = call_src(n)) == NULL)
        goto fail;
    if (block) {
        char *name = strdup(n->text);
        if (name == NULL || !parse_def_body(p, name, *ret_trim))
            goto fail;
        *ret_trim = p->s[p->pos - 3] == '-';
    }
    return n;
fail:
    free_node(n);
    return NULL;
}

/* Parse text and actions until {{end}}, {{else}} or the end of input. */
static node *parse_list(parser *p, stop_kind *ret_stop, bool trim_first)
{
    node *list = new_node(N_LIST, p->pos);
    if (list == NULL)
        return NULL;
    bool trim_next = trim_first;
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
        if (!add_text(list, t, tlen))
            goto fail;
        if (open == NULL) {
            p->pos += strlen(s);
            *ret_stop = STOP_EOF;
            return list;
        }
        size_t at = (size_t)(open - p->s);
        p->pos = at + 2 + (trim_prev ? 1 : 0);
        skip_space(p);
        if (strncmp(p->s + p->pos, "/*", 2) == 0) {
            const char *end = strstr(p->s + p->pos + 2, "*/");
            if (end == NULL) {
                perr(p, "unclosed comment");
                goto fail;
            }
            p->pos = (size_t)(end - p->s) + 2;
            if (!close_action(p, &trim_next, "comment"))
                goto fail;
            continue;
        }
        size_t kwpos = p->pos;
        if (keyword(p, "end") || keyword(p, "else")) {
            bool is_end = p->s[kwpos + 1] == 'n';
            skip_space(p);
            if (!is_end && (keyword(p, "if") || keyword(p, "with"))) {
                *ret_stop = p->s[p->pos - 1] == 'f' ? STOP_ELSE_IF : STOP_ELSE_WITH;
                return list;
            }
            if (!close_action(p, &trim_next, is_end ? "end" : "else"))
                goto fail;
            *ret_stop = is_end ? STOP_END : STOP_ELSE;
            if (trim_next)
                while (isspace((unsigned char)p->s[p->pos]))
                    p->pos++;
            return list;
        }
        node *n = NULL;
        if (keyword(p, "if") || keyword(p, "with") || keyword(p, "range")) {
            char k = p->s[kwpos];
            node_kind kind = k == 'i' ? N_IF : k == 'w' ? N_WITH : N_RANGE;
            loop_depth += kind == N_RANGE;
            n = parse_control(p, kind, kwpos, &trim_next);
            loop_depth -= kind == N_RANGE;
            if (n == NULL)
                goto fail;
        } else if (keyword(p, "break") || keyword(p, "continue")) {
            bool brk = p->s[kwpos] == 'b';
            if (loop_depth == 0) {
                perr(p, "{{%s}} outside {{range}}", brk ? "break" : "continue");
                goto fail;
            }
            if (!close_action(p, &trim_next, brk ? "break" : "continue"))
                goto fail;
            n = new_node(brk ? N_BREAK : N_CONTINUE, kwpos);
        } else if (keyword(p, "define")) {
            if (p->depth > 0 || p->in_define) {
                perr(p, "unexpected <define> in command");
                goto fail;
            }
            char *name = parse_tname(p, "define");
            if (name == NULL || !close_action(p, &trim_next, "define clause")) {
                free(name);
                goto fail;
            }
            if (!parse_def_body(p, name, trim_next))
                goto fail;
            trim_next = p->s[p->pos - 3] == '-';
            continue;
        } else if (keyword(p, "template") || keyword(p, "block")) {
            if ((n = parse_call(p, p->s[kwpos] == 'b', &trim_next)) == NULL)
                goto fail;
        } else {
            n = new_node(N_ACTION, kwpos);
            if (n == NULL || (n->pipe = parse_pipe(p, "command")) == NULL ||
                !close_action(p, &trim_next, "command")) {
                free_node(n);
                goto fail;
            }
        }
        if (!add_kid(list, n))
            goto fail;
    }
fail:
    free_node(list);
    return NULL;
}

static void free_defs(tpl_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(defs[i].name);
        free_node(defs[i].body);
    }
    free(defs);
}

int tug_template_parse(const char *text, tug_template **ret_tmpl, tug_error **err)
{
    return tug_template_parse_named("", text, ret_tmpl, err);
}

int tug_template_parse_named(const char *name, const char *text, tug_template **ret_tmpl,
                             tug_error **err)
{
    tug_error *local = NULL;
    tpl_def *defs = NULL;
    size_t ndefs = 0;
    parser p = {.s = text, .err = err ? err : &local, .name = name, .defs = &defs, .ndefs = &ndefs};
    stop_kind stop;
    loop_depth = 0;
    node *root = parse_list(&p, &stop, false);
    if (root && stop != STOP_EOF) {
        free_node(root);
        root = NULL;
        perr(&p, "unexpected {{%s}}", stop == STOP_END ? "end" : "else");
    }
    pop_vars(&p, 0);
    free(p.vars);
    tug_template *t = root ? calloc(1, sizeof(*t)) : NULL;
    if (t == NULL || (t->text = strdup(text)) == NULL || (t->name = strdup(name)) == NULL) {
        if (t)
            free(t->text);
        free(t);
        free_node(root);
        free_defs(defs, ndefs);
        tug_error_free(local);
        if (err && *err == NULL)
            return tug_error_set(err, 12, "template: out of memory");
        return -1;
    }
    t->root = root;
    t->defs = defs;
    t->ndefs = ndefs;
    *ret_tmpl = t;
    return 0;
}

void tug_template_free(tug_template *tmpl)
{
    if (tmpl == NULL)
        return;
    free_node(tmpl->root);
    free(tmpl->text);
    free(tmpl->name);
    free_defs(tmpl->defs, tmpl->ndefs);
    free(tmpl);
}

void tug_template_freep(tug_template **tmpl)
{
    tug_template_free(*tmpl);
}

/* ---- values as Go prints them ---- */

/* Go's %v of a float64: the shortest digits that read back, %e past 21 digits or below 1e-4. */
static void format_float(tug_strbuf *b, double d)
{
    char buf[64];
    if (isinf(d)) {
        tug_strbuf_adds(b, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan(d)) {
        tug_strbuf_adds(b, "NaN");
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
    int exp = atoi(strchr(buf, 'e') + 1);
    int eprec = 6; /* strconv's choice for the shortest form */
    if (exp < -4 || exp >= eprec) {
        /* Go writes e+06 as C does */
        tug_strbuf_adds(b, buf);
        return;
    }
    int decimals = prec - 1 - exp;
    snprintf(buf, sizeof(buf), "%.*f", decimals > 0 ? decimals : 0, d);
    tug_strbuf_adds(b, buf);
}

bool tpl_is_method_key(const char *k)
{
    return k[0] == '@';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object's keys but its "@" methods, sorted as Go orders a map; NULL without memory. */
static const char **sorted_keys(json_t *obj, size_t *ret_n)
{
    const char **keys = calloc(json_object_size(obj) + 1, sizeof(*keys));
    const char *k;
    json_t *val;
    size_t n = 0;
    if (keys == NULL)
        return NULL;
    json_object_foreach(obj, k, val)
    {
        if (!tpl_is_method_key(k))
            keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    *ret_n = n;
    return keys;
}

void tpl_format_into(tug_strbuf *b, json_t *v, int depth)
{
    char num[32];
    if (depth > MAX_DEPTH)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        tug_strbuf_add(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        tug_strbuf_adds(b, num);
        break;
    case JSON_REAL:
        format_float(b, json_real_value(v));
        break;
    case JSON_TRUE:
        tug_strbuf_adds(b, "true");
        break;
    case JSON_FALSE:
        tug_strbuf_adds(b, "false");
        break;
    case JSON_NULL:
        tug_strbuf_adds(b, "<nil>");
        break;
    case JSON_ARRAY:
        tug_strbuf_addc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                tug_strbuf_addc(b, ' ');
            tpl_format_into(b, json_array_get(v, i), depth + 1);
        }
        tug_strbuf_addc(b, ']');
        break;
    case JSON_OBJECT: {
        size_t n, i;
        const char **keys = sorted_keys(v, &n);
        if (keys == NULL)
            return;
        tug_strbuf_adds(b, "map[");
        for (i = 0; i < n; i++) {
            if (i)
                tug_strbuf_addc(b, ' ');
            tug_strbuf_adds(b, keys[i]);
            tug_strbuf_addc(b, ':');
            tpl_format_into(b, json_object_get(v, keys[i]), depth + 1);
        }
        tug_strbuf_addc(b, ']');
        free(keys);
        break;
    }
    }
}

char *tug_template_format_value(json_t *v)
{
    tug_strbuf b = {0};
    if (v == NULL)
        tug_strbuf_adds(&b, "<no value>");
    else
        tpl_format_into(&b, v, 0);
    char *s = tug_strbuf_steal(&b);
    return s ? s : strdup("");
}

char *tug_template_go_quote(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    tug_strbuf b = {0};
    tug_strbuf_addc(&b, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        /* Go's short escapes: each character of from is written as \ and to's */
        static const char from[] = "\"\\\n\t\r\a\b\f\v", to[] = "\"\\ntrabfv";
        const char *e = strchr(from, (char)*c);
        if (e) {
            tug_strbuf_addc(&b, '\\');
            tug_strbuf_addc(&b, to[e - from]);
        } else if (*c < 0x20 || *c == 0x7f) {
            char x[5] = {'\\', 'x', hex[*c >> 4], hex[*c & 15], 0};
            tug_strbuf_adds(&b, x);
        } else
            tug_strbuf_addc(&b, (char)*c);
    }
    tug_strbuf_addc(&b, '"');
    return tug_strbuf_steal(&b);
}

/* Go's type name of a value, for its messages. */
const char *tpl_type_name(json_t *v)
{
    if (v == NULL)
        return "<nil>";
    switch (json_typeof(v)) {
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "int";
    case JSON_REAL:
        return "float64";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_ARRAY:
        return "[]interface {}";
    case JSON_OBJECT:
        return "map[string]interface {}";
    default:
        return "interface {}";
    }
}

/* Fields docker's types declare as maps, whatever their keys look like
 * (GraphDriver.Data has MergedDir, UpperDir...). */
static const char *const map_fields[] = {
    "Labels",  "Options",    "Networks", "Ports",      "ExposedPorts", "Volumes",    "PortBindings",
    "Sysctls", "DriverOpts", "Data",     "Containers", "Annotations",  "StorageOpt", "Tmpfs",
};

/* An object whose keys are all Go field names (Config, NetworkSettings) is a struct, unless it
 * was reached through a field docker declares as a map (via). */
static bool struct_like(json_t *obj, const char *via)
{
    for (size_t i = 0; via && i < TUG_ARRAY_SIZE(map_fields); i++)
        if (strcmp(via, map_fields[i]) == 0)
            return false;
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(obj, k, v)
    {
        if (tpl_is_method_key(k))
            continue;
        if (!isupper((unsigned char)k[0]))
            return false;
        for (const char *c = k; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_')
                return false;
        n++;
    }
    return n > 0;
}

/* ---- execution ---- */

typedef struct {
    const char *name;
    json_t *val;
} var;

typedef struct {
    const char *text;
    const tug_template *t;
    const char *tname; /* the template running: the main one's name or a definition's */
    int calls;         /* {{template}} calls deep */
    const tug_template_opts *o;
    json_t *root;
    tug_error **err;
    var *vars;
    size_t nvars, cap;
    tug_strbuf out;
    enum { FLOW_NEXT, FLOW_BREAK, FLOW_CONTINUE } flow;
    int depth;
} state;

/* Go's "template: :1:2: executing "" at <.Nope>: ..." */
__attribute__((format(printf, 4, 5))) static int exec_err(state *st, size_t pos, const char *ctx,
                                                          const char *fmt, ...)
{
    if (*st->err)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line = 1, col = 0;
    for (size_t i = 0; i < pos && st->text[i]; i++) {
        col++;
        if (st->text[i] == '\n') {
            line++;
            col = 0;
        }
    }
    tug_error_user(st->err, "template: %s:%zu:%zu: executing \"%s\" at <%s>: %s", st->t->name, line,
                   col, st->tname, ctx, msg);
    return -1;
}

static bool push_var(state *st, const char *name, json_t *val)
{
    if (st->nvars == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        var *nv = realloc(st->vars, cap * sizeof(*nv));
        if (nv == NULL) {
            json_decref(val);
            return false;
        }
        st->vars = nv;
        st->cap = cap;
    }
    st->vars[st->nvars].name = name;
    st->vars[st->nvars++].val = val;
    return true;
}

static void pop_to(state *st, size_t mark)
{
    while (st->nvars > mark)
        json_decref(st->vars[--st->nvars].val);
}

static var *find_var(state *st, const char *name)
{
    for (size_t i = st->nvars; i > 0; i--)
        if (strcmp(st->vars[i - 1].name, name) == 0)
            return &st->vars[i - 1];
    return NULL;
}

bool tpl_truthy(json_t *v)
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

static int eval_pipe(state *st, pipe_ *p, json_t *dot, json_t **ret);
static int eval_args_call(state *st, cmd *c, const char *name, size_t pos, operand **args,
                          size_t nargs, json_t *final, json_t *dot, json_t **ret);

/* One field of recv; args make it a method ("@Name" members: docker's .Label "key"). */
/* Pointer fields of docker's inspect types that its JSON leaves out when nil. */
static const char *const nil_fields[] = {"Health", "SizeRw", "SizeRootFs"};

static int field_of(state *st, operand *o, json_t *recv, const char *via, const char *name,
                    bool last, json_t **argv, size_t argc, operand *arg0, json_t **ret)
{
    *ret = NULL;
    if (recv == NULL)
        return 0; /* Go: a missing value's field is missing too */
    if (json_is_object(recv)) {
        if (argc > 0 && st->o->header && json_is_string(argv[0])) {
            /* a label's column: its last dotted part, - and _ as spaces (docker) */
            const char *k = json_string_value(argv[0]), *dot = strrchr(k, '.');
            cleanup_free char *h = strdup(dot ? dot + 1 : k);
            for (char *c = h; c && *c; c++)
                *c = *c == '-' || *c == '_' ? ' ' : *c;
            *ret = json_string(h ? h : "");
            return 0;
        }
        char mkey[256];
        snprintf(mkey, sizeof(mkey), "@%s", name);
        json_t *m = json_object_get(recv, mkey);
        bool typed = st->o->type_name && recv == st->root;
        if (m && argc != 1 && !json_is_string(m))
            return exec_err(st, o->pos, o->src, "wrong number of args for %s: want 1 got %zu", name,
                            argc);
        if (argc > 0 && json_is_string(m)) {
            *ret = json_incref(m);
            return 0;
        }
        if (argc > 0 && json_is_object(m)) {
            if (!json_is_string(argv[0]) && arg0 && arg0->kind >= O_STRING && arg0->kind <= O_NIL)
                return exec_err(st, arg0->pos, arg0->src, "expected string; found %s", arg0->src);
            if (!json_is_string(argv[0]))
                return exec_err(st, arg0 ? arg0->pos : o->pos, arg0 ? arg0->src : o->src,
                                "wrong type for value; expected string; got %s",
                                tpl_type_name(argv[0]));
            json_t *v = json_object_get(m, json_string_value(argv[0]));
            *ret = v ? json_incref(v) : json_string("");
            return 0;
        }
        if (argc > 0 && json_object_get(recv, name) && typed)
            /* a docker row's fields are methods without arguments */
            return exec_err(st, o->pos, o->src, "wrong number of args for %s: want 0 got %zu", name,
                            argc);
        if (argc > 0 && (json_object_get(recv, name) || !st->o->type_name))
            return exec_err(st, o->pos, o->src, "%s is not a method but has arguments", name);
        json_t *v = json_object_get(recv, name);
        if (v && !tpl_is_method_key(name)) {
            *ret = json_incref(v);
            return 0;
        }
        if (st->o->type_name && recv == st->root)
            return exec_err(st, o->pos, o->src, "can't evaluate field %s in type %s", name,
                            st->o->type_name);
        for (const char *const *ft = st->o->field_types; ft && ft[0]; ft += 2)
            if (*ft[0] ? via && strcmp(ft[0], via) == 0 && recv == json_object_get(st->root, via)
                       : recv == st->root)
                return exec_err(st, o->pos, o->src, "can't evaluate field %s in type %s", name,
                                ft[1]);
        if (st->o->header || !struct_like(recv, via))
            return 0;
        /* docker's pointer fields left out of the JSON are nil to its typed template: printed,
         * they are <nil> (json null); looked into, the error is the map's */
        for (size_t i = 0; last && i < TUG_ARRAY_SIZE(nil_fields); i++)
            if (strcmp(name, nil_fields[i]) == 0) {
                *ret = json_null();
                return 0;
            }
        return exec_err(st, o->pos, o->src, "map has no entry for key \"%s\"", name);
    }
    if (json_is_null(recv))
        return exec_err(st, o->pos, o->src, "nil pointer evaluating interface {}.%s", name);
    /* a document's values are interface {} to docker's inspect; a row's fields have types */
    return exec_err(st, o->pos, o->src, "can't evaluate field %s in type %s", name,
                    st->o->type_name ? tpl_type_name(recv) : "interface {}");
}

/* Walk o's chain from recv (a reference it takes); the last name gets the arguments. */
static int walk_chain(state *st, operand *o, json_t *recv, operand **args, size_t nargs,
                      json_t *final, json_t *dot, json_t **ret)
{
    for (size_t i = 0; i < o->nchain; i++) {
        bool last = i + 1 == o->nchain;
        size_t argc = last ? nargs + (final ? 1 : 0) : 0;
        json_t **argv = calloc(argc + 1, sizeof(*argv));
        int r = argv ? 0 : -1;
        for (size_t k = 0; r == 0 && last && k < nargs; k++)
            r = eval_args_call(st, NULL, NULL, 0, &args[k], 1, NULL, dot, &argv[k]);
        if (r == 0 && last && final)
            argv[nargs] = json_incref(final);
        json_t *next = NULL;
        if (r == 0)
            r = field_of(st, o, recv, i ? o->chain[i - 1] : NULL, o->chain[i], last, argv, argc,
                         last && nargs ? args[0] : NULL, &next);
        for (size_t k = 0; argv && k < argc; k++)
            json_decref(argv[k]);
        free(argv);
        json_decref(recv);
        if (r < 0)
            return -1;
        recv = next;
    }
    if (o->nchain == 0 && (nargs || final)) {
        json_decref(recv);
        return exec_err(st, o->pos, o->src, "can't give argument to non-function %s", o->src);
    }
    *ret = recv;
    return 0;
}

/* An operand's value; args/final only for a chain that ends in a method. */
static int eval_operand(state *st, operand *o, operand **args, size_t nargs, json_t *final,
                        json_t *dot, json_t **ret)
{
    json_t *base = NULL;
    *ret = NULL;
    switch (o->kind) {
    case O_DOT:
        base = json_incref(dot);
        break;
    case O_FIELD:
        base = json_incref(dot);
        break;
    case O_VAR: {
        var *v = find_var(st, o->str);
        if (v == NULL)
            return exec_err(st, o->pos, o->src, "undefined variable: %s", o->str);
        base = json_incref(v->val);
        break;
    }
    case O_PIPE:
        if (eval_pipe(st, o->pipe, dot, &base) < 0)
            return -1;
        break;
    case O_STRING:
        base = json_string(o->str);
        break;
    case O_INT:
        base = json_integer(o->i);
        break;
    case O_FLOAT:
        base = json_real(o->f);
        break;
    case O_BOOL:
        base = json_boolean(o->str[0] == 't');
        break;
    case O_NIL: /* as an argument; eval_cmd refuses it as a command */
        base = json_null();
        break;
    case O_IDENT:
        return eval_args_call(st, NULL, o->str, o->pos, NULL, 0, NULL, dot, ret);
    }
    return walk_chain(st, o, base, args, nargs, final, dot, ret);
}

/* and/or: Go evaluates left to right and stops at the first false/true operand, whose value
 * is the result. */
static int call_logic(state *st, bool is_and, operand **args, size_t nargs, json_t *final,
                      json_t *dot, json_t **ret)
{
    json_t *v = NULL;
    size_t total = nargs + (final ? 1 : 0);
    for (size_t i = 0; i < total; i++) {
        json_decref(v);
        v = NULL;
        if (i < nargs) {
            if (eval_operand(st, args[i], NULL, 0, NULL, dot, &v) < 0)
                return -1;
        } else
            v = json_incref(final);
        if (tpl_truthy(v) != is_and)
            break;
    }
    *ret = v;
    return 0;
}

/* With name NULL: evaluate args[0] alone as an argument. Otherwise call the function. */
static int eval_args_call(state *st, cmd *c, const char *name, size_t pos, operand **args,
                          size_t nargs, json_t *final, json_t *dot, json_t **ret)
{
    *ret = NULL;
    if (name == NULL)
        return eval_operand(st, args[0], NULL, 0, NULL, dot, ret);
    const tpl_fn *def = tpl_fn_find(name);
    size_t argc = nargs + (final ? 1 : 0);
    bool logic = strcmp(name, "and") == 0 || strcmp(name, "or") == 0;
    int min = logic ? 1 : def ? def->min : 0, max = logic ? -1 : def ? def->max : 0;
    if ((int)argc < min || (max >= 0 && (int)argc > max)) {
        if (max < 0)
            return exec_err(st, pos, name, "wrong number of args for %s: want at least %d got %zu",
                            name, min, argc);
        return exec_err(st, pos, name, "wrong number of args for %s: want %d got %zu", name, min,
                        argc);
    }
    if (logic)
        return call_logic(st, name[0] == 'a', args, nargs, final, dot, ret);
    tpl_call cl = {.o = st->o, .root = st->root, .argc = argc};
    cl.argv = calloc(argc + 1, sizeof(json_t *));
    if (cl.argv == NULL)
        return tug_error_set(st->err, 12, "template: out of memory");
    int r = 0;
    for (size_t i = 0; i < nargs && r == 0; i++)
        r = eval_operand(st, args[i], NULL, 0, NULL, dot, &cl.argv[i]);
    if (r == 0 && final)
        cl.argv[nargs] = json_incref(final);
    if (r == 0) {
        if (st->o->header && def->header_identity && json_is_string(cl.argv[0])) {
            cl.ret = json_incref(cl.argv[0]);
        } else if ((def->fn ? def->fn(&cl) : def->fn_named(&cl, name)) < 0) {
            const char *ctx = c ? c->src : name;
            size_t at = c ? c->pos : pos;
            operand *bad = cl.want && cl.bad_arg < nargs ? args[cl.bad_arg] : NULL;
            /* Go points at the argument; a literal of the wrong type "is found" */
            if (bad && bad->kind >= O_STRING && bad->kind <= O_NIL)
                exec_err(st, bad->pos, bad->src, "expected %s; found %s",
                         strcmp(cl.want, "int") == 0 ? "integer" : cl.want, bad->src);
            else if (bad)
                exec_err(st, bad->pos, bad->src, "%s", cl.msg);
            else if (cl.want)
                exec_err(st, at, ctx, "%s", cl.msg);
            else
                exec_err(st, at, ctx, "error calling %s: %s", name, cl.msg);
            r = -1;
        }
    }
    for (size_t i = 0; i < argc; i++)
        json_decref(cl.argv[i]);
    free(cl.argv);
    if (r < 0) {
        json_decref(cl.ret);
        return -1;
    }
    *ret = cl.ret;
    return 0;
}

static int eval_cmd(state *st, cmd *c, json_t *dot, json_t *final, json_t **ret)
{
    operand *first = c->args[0];
    if (first->kind == O_NIL)
        return exec_err(st, first->pos, first->src, "nil is not a command");
    if (first->kind == O_IDENT)
        return eval_args_call(st, c, first->str, first->pos, c->args + 1, c->n - 1, final, dot,
                              ret);
    if (first->nchain == 0 && (c->n > 1 || final))
        return exec_err(st, first->pos, first->src, "can't give argument to non-function %s",
                        first->src);
    return eval_operand(st, first, c->args + 1, c->n - 1, final, dot, ret);
}

static int eval_pipe(state *st, pipe_ *p, json_t *dot, json_t **ret)
{
    json_t *val = NULL;
    if (++st->depth > MAX_DEPTH) {
        st->depth--;
        return exec_err(st, p->pos, "", "nesting too deep");
    }
    for (size_t i = 0; i < p->n; i++) {
        json_t *next = NULL;
        int r = eval_cmd(st, &p->cmds[i], dot, val, &next);
        json_decref(val);
        if (r < 0) {
            st->depth--;
            return -1;
        }
        val = next;
    }
    st->depth--;
    if (p->nvars == 1 || (p->nvars == 2 && p->assign)) {
        if (p->assign) {
            var *v = find_var(st, p->vars[0]);
            if (v == NULL) {
                json_decref(val);
                return exec_err(st, p->pos, p->vars[0], "undefined variable: %s", p->vars[0]);
            }
            json_decref(v->val);
            v->val = json_incref(val);
        } else if (!push_var(st, p->vars[0], json_incref(val))) {
            json_decref(val);
            return -1;
        }
    }
    *ret = val;
    return 0;
}

static int exec_node(state *st, node *n, json_t *dot);

static int exec_list(state *st, node *n, json_t *dot)
{
    for (size_t i = 0; i < n->nkids && st->flow == FLOW_NEXT; i++)
        if (exec_node(st, n->kids[i], dot) < 0)
            return -1;
    return 0;
}

static int out_add(state *st, const char *s, size_t n)
{
    if (st->out.len + n > MAX_OUTPUT)
        return exec_err(st, 0, "", "output larger than %u bytes", MAX_OUTPUT);
    tug_strbuf_add(&st->out, s, n);
    return st->out.failed ? tug_error_set(st->err, 12, "template: out of memory") : 0;
}

/* One pass of a range body with its variables set. */
static int range_step(state *st, node *n, json_t *key, json_t *val)
{
    size_t mark = st->nvars;
    pipe_ *p = n->pipe;
    if (p->nvars == 1 && !push_var(st, p->vars[0], json_incref(val)))
        return -1;
    if (p->nvars == 2 && (!push_var(st, p->vars[0], json_incref(key)) ||
                          !push_var(st, p->vars[1], json_incref(val))))
        return -1;
    int r = exec_list(st, n->list, val);
    pop_to(st, mark);
    if (st->flow == FLOW_CONTINUE)
        st->flow = FLOW_NEXT;
    return r;
}

static int exec_range(state *st, node *n, json_t *dot)
{
    json_t *v = NULL;
    size_t nv = n->pipe->nvars;
    n->pipe->nvars = 0; /* the range's variables are per element, not the pipeline's value */
    int r = eval_pipe(st, n->pipe, dot, &v);
    n->pipe->nvars = nv;
    if (r < 0)
        return -1;
    bool any = false;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && r == 0 && st->flow != FLOW_BREAK; i++) {
            json_t *k = json_integer((json_int_t)i);
            any = true;
            r = range_step(st, n, k, json_array_get(v, i));
            json_decref(k);
        }
    } else if (json_is_object(v)) {
        /* Go visits a map's keys in sorted order */
        size_t cnt, i;
        const char **keys = sorted_keys(v, &cnt);
        if (keys == NULL) {
            json_decref(v);
            return -1;
        }
        for (i = 0; i < cnt && r == 0 && st->flow != FLOW_BREAK; i++) {
            json_t *kj = json_string(keys[i]);
            any = true;
            r = range_step(st, n, kj, json_object_get(v, keys[i]));
            json_decref(kj);
        }
        free(keys);
    } else if (json_is_integer(v)) {
        if (nv > 1) {
            json_int_t cnt = json_integer_value(v);
            json_decref(v);
            return exec_err(
                st, n->pipe->pos, "",
                "can't use %" JSON_INTEGER_FORMAT " to iterate over more than one variable", cnt);
        }
        for (json_int_t i = 0; i < json_integer_value(v) && r == 0 && st->flow != FLOW_BREAK; i++) {
            json_t *k = json_integer(i);
            any = true;
            r = range_step(st, n, k, k);
            json_decref(k);
        }
    } else if (v != NULL && !json_is_null(v)) {
        cleanup_free char *s = tug_template_format_value(v);
        json_decref(v);
        return exec_err(st, n->pipe->cmds[0].pos, n->pipe->cmds[0].src,
                        "range can't iterate over %s", s);
    }
    st->flow = FLOW_NEXT;
    /* Go declares the range's variables with the whole value before the first element */
    for (size_t k = 0; r == 0 && !any && n->elsel && k < nv; k++)
        if (!push_var(st, n->pipe->vars[k], json_incref(v)))
            r = -1;
    if (r == 0 && !any && n->elsel)
        r = exec_list(st, n->elsel, dot);
    json_decref(v);
    return r;
}

#define MAX_CALLS 1000 /* {{template}} within {{template}}: Go allows 100000, a C stack fewer */

/* {{template "name" pipe}}: the definition runs with its own variables, $ and dot the value. */
static int exec_call(state *st, node *n, json_t *dot)
{
    const tpl_def *def = NULL;
    for (size_t i = 0; i < st->t->ndefs && def == NULL; i++)
        if (strcmp(st->t->defs[i].name, n->text) == 0)
            def = &st->t->defs[i];
    if (def == NULL) {
        cleanup_free char *q = tug_template_go_quote(n->text);
        return exec_err(st, n->pos, n->src, "template %s not defined", q ? q : n->text);
    }
    if (st->calls >= MAX_CALLS)
        return exec_err(st, n->pos, n->src, "exceeded maximum template depth (%d)", MAX_CALLS);
    json_t *v = NULL;
    if (n->pipe && eval_pipe(st, n->pipe, dot, &v) < 0)
        return -1;
    var *vars = st->vars;
    size_t nvars = st->nvars, cap = st->cap;
    const char *tname = st->tname;
    st->vars = NULL;
    st->nvars = st->cap = 0;
    st->tname = def->name;
    st->calls++;
    int r = push_var(st, "$", json_incref(v)) ? exec_list(st, def->body, v) : -1;
    st->calls--;
    pop_to(st, 0);
    free(st->vars);
    st->vars = vars;
    st->nvars = nvars;
    st->cap = cap;
    st->tname = tname;
    json_decref(v);
    return r;
}

static int exec_node(state *st, node *n, json_t *dot)
{
    size_t mark = st->nvars;
    json_t *v = NULL;
    int r = 0;
    switch (n->kind) {
    case N_TEXT:
        return out_add(st, n->text, strlen(n->text));
    case N_LIST:
        return exec_list(st, n, dot);
    case N_BREAK:
        st->flow = FLOW_BREAK;
        return 0;
    case N_CONTINUE:
        st->flow = FLOW_CONTINUE;
        return 0;
    case N_ACTION: {
        if (eval_pipe(st, n->pipe, dot, &v) < 0)
            return -1;
        if (n->pipe->nvars == 0) {
            cleanup_free char *s = tug_template_format_value(v);
            r = s ? out_add(st, s, strlen(s)) : -1;
        }
        json_decref(v);
        return r;
    }
    case N_IF:
    case N_WITH:
        if (eval_pipe(st, n->pipe, dot, &v) < 0)
            return -1;
        if (tpl_truthy(v))
            r = exec_list(st, n->list, n->kind == N_WITH ? v : dot);
        else if (n->elsel)
            r = exec_list(st, n->elsel, dot);
        json_decref(v);
        pop_to(st, mark);
        return r;
    case N_RANGE:
        r = exec_range(st, n, dot);
        pop_to(st, mark);
        return r;
    case N_TEMPLATE:
        return exec_call(st, n, dot);
    }
    return 0;
}

int tug_template_render_opts(const tug_template *tmpl, json_t *dot, const tug_template_opts *opts,
                             char **ret_out, tug_error **err)
{
    static const tug_template_opts none = {0};
    tug_error *local = NULL;
    state st = {.text = tmpl->text,
                .t = tmpl,
                .tname = tmpl->name,
                .o = opts ? opts : &none,
                .root = dot,
                .err = err ? err : &local};
    int r = push_var(&st, "$", json_incref(dot)) ? exec_node(&st, tmpl->root, dot) : -1;
    pop_to(&st, 0);
    free(st.vars);
    tug_error_free(local);
    if (r < 0 || st.out.failed) {
        if (st.o->ret_partial && !st.out.failed)
            *st.o->ret_partial = st.out.s ? strndup(st.out.s, st.out.len) : NULL;
        tug_strbuf_free(&st.out);
        if (err && *err == NULL)
            return tug_error_set(err, 12, "template: out of memory");
        return -1;
    }
    char *s = tug_strbuf_steal(&st.out);
    *ret_out = s ? s : strdup("");
    return *ret_out ? 0 : tug_error_set(err, 12, "template: out of memory");
}

int tug_template_render(const tug_template *tmpl, json_t *dot, char **ret_out, tug_error **err)
{
    return tug_template_render_opts(tmpl, dot, NULL, ret_out, err);
}
