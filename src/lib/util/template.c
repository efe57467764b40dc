/* Go's text/template over jansson values: parse into a tree, then walk it against the data.
 * Positions are byte offsets into the text so errors say "line:column" as Go's do.
 *
 * JSON has no Go types, so an object stands for a Go struct when all its keys look like
 * exported field names (Config, State...) and for a map otherwise (Labels, Ports...):
 * a field a struct lacks is an error, a key a map lacks prints "<no value>", as docker's
 * inspect gives them. */
#include "template.h"

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
typedef enum { N_LIST, N_TEXT, N_ACTION, N_IF, N_WITH, N_RANGE, N_BREAK, N_CONTINUE } node_kind;

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
    pipe_ *pipe;
    node *list, *elsel;
    node **kids;
    size_t nkids;
};

struct tug_template {
    node *root;
    char *text;
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
} parser;

static const char *const functions[] = {
    "and",  "or",    "not",   "eq",    "ne",     "lt",      "le",       "gt",
    "ge",   "len",   "index", "print", "printf", "println", "slice",    "json",
    "join", "split", "lower", "upper", "title",  "pad",     "truncate",
};

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
    tug_error_user(p->err, "template: :%zu: %s", line_of(p->s, p->pos), msg);
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

static pipe_ *parse_pipe(parser *p, bool in_paren, bool decl_ok);

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
                if (isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
                    char hex[3] = {s[i + 1], s[i + 2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    i += 2;
                    break;
                }
                /* fall through */
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
        o->pipe = parse_pipe(p, true, true);
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
            bool known = false;
            for (size_t k = 0; k < TUG_ARRAY_SIZE(functions); k++)
                known |= strcmp(functions[k], o->str) == 0;
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
        return perr(p, "unexpected \"%c\" in operand", *s);
    }
    if (ok && p->s[p->pos] && !isspace((unsigned char)p->s[p->pos]) && p->s[p->pos] != '|' &&
        p->s[p->pos] != ')' && !at_close(p) && p->s[p->pos] != '(' && p->s[p->pos] != ',' &&
        !(p->s[p->pos] == '.' && o->kind == O_PIPE)) {
        perr(p, "unexpected \"%c\" in operand", p->s[p->pos]);
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
static bool parse_decl(parser *p, pipe_ *pp)
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
        if (!decl && !assign && !(c == ',' && k == 0))
            break;
        pp->vars[pp->nvars++] = strndup(s, i);
        if (c == ',') {
            p->pos = after + 1;
            continue;
        }
        pp->assign = assign;
        if (assign && !var_known(p, s, i))
            return perr(p, "undefined variable \"%.*s\"", (int)i, s), false;
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

static pipe_ *parse_pipe(parser *p, bool in_paren, bool decl_ok)
{
    pipe_ *pp = calloc(1, sizeof(*pp));
    if (pp == NULL)
        return NULL;
    skip_space(p);
    pp->pos = p->pos;
    if (decl_ok && !parse_decl(p, pp))
        goto fail;
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
            perr(p, ch == ')' ? "unexpected right paren" : "unclosed action");
            goto fail;
        }
        if (c.n == 0) {
            free(c.args);
            perr(p, "missing value for %s",
                 pp->n      ? "command"
                 : in_paren ? "parenthesized pipeline"
                            : "command");
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
    n->pipe = parse_pipe(p, false, true);
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
        } else if (keyword(p, "define") || keyword(p, "template") || keyword(p, "block")) {
            perr(p, "{{%.*s}} is not supported", (int)(p->pos - kwpos), p->s + kwpos);
            goto fail;
        } else {
            n = new_node(N_ACTION, kwpos);
            if (n == NULL || (n->pipe = parse_pipe(p, false, true)) == NULL ||
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

int tug_template_parse(const char *text, tug_template **ret_tmpl, tug_error **err)
{
    tug_error *local = NULL;
    parser p = {.s = text, .err = err ? err : &local};
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
    if (t == NULL || (t->text = strdup(text)) == NULL) {
        free(t);
        free_node(root);
        tug_error_free(local);
        if (err && *err == NULL)
            return tug_error_set(err, 12, "template: out of memory");
        return -1;
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
    free(tmpl->text);
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

static bool is_method_key(const char *k)
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
        if (!is_method_key(k))
            keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    *ret_n = n;
    return keys;
}

static void format_into(tug_strbuf *b, json_t *v, int depth)
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
            format_into(b, json_array_get(v, i), depth + 1);
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
            format_into(b, json_object_get(v, keys[i]), depth + 1);
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
        format_into(&b, v, 0);
    char *s = tug_strbuf_steal(&b);
    return s ? s : strdup("");
}

char *tug_template_go_quote(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    tug_strbuf b = {0};
    tug_strbuf_addc(&b, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"':
            tug_strbuf_adds(&b, "\\\"");
            break;
        case '\\':
            tug_strbuf_adds(&b, "\\\\");
            break;
        case '\n':
            tug_strbuf_adds(&b, "\\n");
            break;
        case '\t':
            tug_strbuf_adds(&b, "\\t");
            break;
        case '\r':
            tug_strbuf_adds(&b, "\\r");
            break;
        case '\a':
            tug_strbuf_adds(&b, "\\a");
            break;
        case '\b':
            tug_strbuf_adds(&b, "\\b");
            break;
        case '\f':
            tug_strbuf_adds(&b, "\\f");
            break;
        case '\v':
            tug_strbuf_adds(&b, "\\v");
            break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                char e[5] = {'\\', 'x', hex[*c >> 4], hex[*c & 15], 0};
                tug_strbuf_adds(&b, e);
            } else
                tug_strbuf_addc(&b, (char)*c);
        }
    }
    tug_strbuf_addc(&b, '"');
    return tug_strbuf_steal(&b);
}

/* Go's type name of a value, for its messages. */
static const char *type_name(json_t *v)
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

/* An object whose keys are all Go field names (Config, NetworkSettings) is a struct. */
static bool struct_like(json_t *obj)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(obj, k, v)
    {
        if (is_method_key(k))
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
    size_t n = strlen(ctx);
    tug_error_user(st->err, "template: :%zu:%zu: executing \"\" at <%.20s%s>: %s", line, col, ctx,
                   n > 20 ? "..." : "", msg);
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

static int eval_pipe(state *st, pipe_ *p, json_t *dot, json_t **ret);
static int eval_args_call(state *st, cmd *c, const char *name, size_t pos, operand **args,
                          size_t nargs, json_t *final, json_t *dot, json_t **ret);

/* One field of recv; args make it a method ("@Name" members: docker's .Label "key"). */
static int field_of(state *st, operand *o, json_t *recv, const char *name, json_t **argv,
                    size_t argc, json_t **ret)
{
    *ret = NULL;
    if (recv == NULL)
        return 0; /* Go: a missing value's field is missing too */
    if (json_is_object(recv)) {
        if (argc > 0 && st->o->header && json_is_string(argv[0])) {
            /* a label's column: its last dotted part, upper case, - and _ as spaces */
            const char *k = json_string_value(argv[0]), *dot = strrchr(k, '.');
            cleanup_free char *h = strdup(dot ? dot + 1 : k);
            for (char *c = h; c && *c; c++)
                *c = *c == '-' || *c == '_' ? ' ' : (char)toupper((unsigned char)*c);
            *ret = json_string(h ? h : "");
            return 0;
        }
        if (argc > 0) {
            char mkey[256];
            snprintf(mkey, sizeof(mkey), "@%s", name);
            json_t *m = json_object_get(recv, mkey);
            if (json_is_string(m) || (m && argc != 1)) {
                *ret = json_is_string(m) ? json_incref(m) : NULL;
                return json_is_string(m)
                           ? 0
                           : exec_err(st, o->pos, o->src,
                                      "wrong number of args for %s: want 1 got %zu", name, argc);
            }
            if (json_is_object(m)) {
                if (!json_is_string(argv[0]))
                    return exec_err(st, o->pos, o->src,
                                    "wrong type for value; expected string; got %s",
                                    type_name(argv[0]));
                json_t *v = json_object_get(m, json_string_value(argv[0]));
                *ret = v ? json_incref(v) : json_string("");
                return 0;
            }
            if (json_object_get(recv, name) || !st->o->type_name)
                return exec_err(st, o->pos, o->src, "%s is not a method but has arguments", name);
        }
        json_t *v = json_object_get(recv, name);
        if (v && !is_method_key(name)) {
            *ret = json_incref(v);
            return 0;
        }
        if (st->o->type_name && recv == st->root)
            return exec_err(st, o->pos, o->src, "can't evaluate field %s in type %s", name,
                            st->o->type_name);
        if (st->o->header || !struct_like(recv))
            return 0;
        return exec_err(st, o->pos, o->src, "map has no entry for key \"%s\"", name);
    }
    if (json_is_null(recv))
        return exec_err(st, o->pos, o->src, "nil pointer evaluating interface {}.%s", name);
    return exec_err(st, o->pos, o->src, "can't evaluate field %s in type %s", name,
                    type_name(recv));
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
            r = field_of(st, o, recv, o->chain[i], argv, argc, &next);
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
    case O_NIL:
        return exec_err(st, o->pos, o->src, "nil is not a command");
    case O_IDENT:
        return eval_args_call(st, NULL, o->str, o->pos, NULL, 0, NULL, dot, ret);
    }
    return walk_chain(st, o, base, args, nargs, final, dot, ret);
}

/* ---- functions ---- */

typedef struct {
    state *st;
    json_t **argv;
    size_t argc;
    json_t *ret;
    char msg[256]; /* "error calling NAME: msg" */
} call;

__attribute__((format(printf, 2, 3))) static int fail(call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A string argument, or a Go type error. */
static const char *want_str(call *c, size_t i)
{
    json_t *v = c->argv[i];
    if (json_is_string(v))
        return json_string_value(v);
    fail(c, "wrong type for value; expected string; got %s", v ? type_name(v) : "<nil>");
    return NULL;
}

static bool want_int(call *c, size_t i, json_int_t *ret)
{
    json_t *v = c->argv[i];
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return true;
    }
    fail(c, "wrong type for value; expected int; got %s", v ? type_name(v) : "<nil>");
    return false;
}

static int ret_str(call *c, const char *s, size_t n)
{
    c->ret = json_stringn_nocheck(s, n);
    return c->ret ? 0 : fail(c, "out of memory");
}

static int ret_buf(call *c, tug_strbuf *b)
{
    char *s = tug_strbuf_steal(b);
    int r = ret_str(c, s ? s : "", s ? strlen(s) : 0);
    free(s);
    return r;
}

/* Go's basic comparison: -2 incompatible, -3 not comparable, else <0, 0, >0 */
static int compare(json_t *a, json_t *b)
{
    if (a == NULL || b == NULL || json_is_array(a) || json_is_object(a) || json_is_array(b) ||
        json_is_object(b))
        return -3;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            json_int_t x = json_integer_value(a), y = json_integer_value(b);
            return x < y ? -1 : x > y;
        }
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_string(a) && json_is_string(b)) {
        int r = strcmp(json_string_value(a), json_string_value(b));
        return r < 0 ? -1 : r > 0;
    }
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) == json_is_true(b) ? 0 : 2;
    if (json_is_null(a) && json_is_null(b))
        return 0;
    return -2;
}

static int fn_eq(call *c)
{
    if (c->argc < 2)
        return fail(c, "missing argument for comparison");
    bool any = false;
    for (size_t i = 1; i < c->argc; i++) {
        int r = compare(c->argv[0], c->argv[i]);
        if (r == -3)
            return fail(c, "non-comparable type %s", type_name(c->argv[c->argv[0] ? i : 0]));
        if (r == -2)
            return fail(c, "incompatible types for comparison");
        any |= r == 0;
    }
    c->ret = json_boolean(any);
    return 0;
}

static int fn_cmp(call *c, const char *name)
{
    int r = compare(c->argv[0], c->argv[1]);
    if (r == -2)
        return fail(c, "incompatible types for comparison");
    if (r == -3 || r == 2 || json_is_boolean(c->argv[0]) || json_is_null(c->argv[0]))
        return fail(c, name[0] == 'n' ? "non-comparable types" : "invalid type for comparison");
    bool v = name[0] == 'n'   ? r != 0
             : name[0] == 'l' ? (name[1] == 't' ? r < 0 : r <= 0)
                              : (name[1] == 't' ? r > 0 : r >= 0);
    c->ret = json_boolean(v);
    return 0;
}

static int fn_len(call *c)
{
    json_t *v = c->argv[0];
    if (json_is_array(v))
        c->ret = json_integer((json_int_t)json_array_size(v));
    else if (json_is_object(v))
        c->ret = json_integer((json_int_t)json_object_size(v));
    else if (json_is_string(v))
        c->ret = json_integer((json_int_t)json_string_length(v));
    else if (v == NULL || json_is_null(v))
        return fail(c, "len of nil pointer");
    else
        return fail(c, "len of type %s", type_name(v));
    return 0;
}

static int fn_index(call *c)
{
    json_t *cur = c->argv[0];
    for (size_t i = 1; i < c->argc; i++) {
        json_t *k = c->argv[i];
        if (cur == NULL || json_is_null(cur))
            return fail(c, "index of untyped nil");
        if (json_is_array(cur) || json_is_string(cur)) {
            if (!json_is_integer(k))
                return fail(c, "cannot index slice/array with type %s", type_name(k));
            json_int_t x = json_integer_value(k);
            size_t n = json_is_array(cur) ? json_array_size(cur) : json_string_length(cur);
            if (x < 0 || (size_t)x >= n)
                return fail(c, "index out of range: %" JSON_INTEGER_FORMAT, x);
            if (json_is_string(cur)) {
                c->ret = json_integer((unsigned char)json_string_value(cur)[x]);
                return i + 1 == c->argc ? 0 : fail(c, "can't index item of type uint8");
            }
            cur = json_array_get(cur, (size_t)x);
        } else if (json_is_object(cur)) {
            if (!json_is_string(k))
                return fail(c, "value has type %s; should be string", type_name(k));
            json_t *next = json_object_get(cur, json_string_value(k));
            if (next == NULL) {
                /* the zero value of docker's map[string]string */
                if (i + 1 < c->argc)
                    return fail(c, "can't index item of type string");
                c->ret = json_string("");
                return 0;
            }
            cur = next;
        } else
            return fail(c, "can't index item of type %s", type_name(cur));
    }
    c->ret = json_incref(cur);
    return 0;
}

static int fn_slice(call *c)
{
    json_t *v = c->argv[0];
    size_t n = json_is_array(v)    ? json_array_size(v)
               : json_is_string(v) ? json_string_length(v)
                                   : 0;
    if (!json_is_array(v) && !json_is_string(v))
        return fail(c, "can't slice item of type %s", type_name(v));
    json_int_t ix[2] = {0, (json_int_t)n};
    for (size_t i = 1; i < c->argc && i < 3; i++)
        if (!want_int(c, i, &ix[i - 1]))
            return -1;
    if (c->argc > 3)
        return fail(c, "too many slice indexes: %zu", c->argc - 1);
    if (ix[0] < 0 || ix[1] < ix[0] || (size_t)ix[1] > n)
        return fail(c, "index out of range: %" JSON_INTEGER_FORMAT, ix[1] < ix[0] ? ix[0] : ix[1]);
    if (json_is_string(v))
        return ret_str(c, json_string_value(v) + ix[0], (size_t)(ix[1] - ix[0]));
    c->ret = json_array();
    for (json_int_t i = ix[0]; i < ix[1]; i++)
        json_array_append(c->ret, json_array_get(v, (size_t)i));
    return 0;
}

static void add_value(tug_strbuf *b, json_t *v)
{
    if (v == NULL)
        tug_strbuf_adds(b, "<nil>");
    else
        format_into(b, v, 0);
}

static int fn_print(call *c, bool ln)
{
    tug_strbuf b = {0};
    for (size_t i = 0; i < c->argc; i++) {
        /* Sprint spaces operands when neither is a string; Sprintln always */
        if (i && (ln || (!json_is_string(c->argv[i - 1]) && !json_is_string(c->argv[i]))))
            tug_strbuf_addc(&b, ' ');
        add_value(&b, c->argv[i]);
    }
    if (ln)
        tug_strbuf_addc(&b, '\n');
    return ret_buf(c, &b);
}

/* Pad s (n bytes) to width runes, as fmt does. */
static void pad_to(tug_strbuf *b, const char *s, size_t n, long width, bool left, bool zero)
{
    long runes = 0;
    for (size_t i = 0; i < n; i++)
        runes += ((unsigned char)s[i] & 0xC0) != 0x80;
    long fill = width > runes ? width - runes : 0;
    if (!left)
        for (long i = 0; i < fill; i++)
            tug_strbuf_addc(b, zero ? '0' : ' ');
    tug_strbuf_add(b, s, n);
    if (left)
        for (long i = 0; i < fill; i++)
            tug_strbuf_addc(b, ' ');
}

static void bad_verb(tug_strbuf *b, char verb, json_t *v)
{
    tug_strbuf_addc(b, '%');
    tug_strbuf_addc(b, '!');
    tug_strbuf_addc(b, verb);
    tug_strbuf_addc(b, '(');
    if (v == NULL || json_is_null(v)) {
        tug_strbuf_adds(b, "<nil>");
    } else {
        tug_strbuf_adds(b, type_name(v));
        tug_strbuf_addc(b, '=');
        format_into(b, v, 0);
    }
    tug_strbuf_addc(b, ')');
}

/* One verb of printf; spec is the "%-5.2" part, for snprintf. */
static void printf_verb(tug_strbuf *b, char verb, const char *flags, long width, long prec,
                        json_t *v)
{
    bool left = strchr(flags, '-') != NULL, zero = strchr(flags, '0') != NULL && !left;
    char buf[512];
    if (verb == 'v' || verb == 's' || verb == 'q') {
        if (verb != 'v' && !json_is_string(v) &&
            !(verb == 's' && json_is_array(v) && json_array_size(v) &&
              json_is_string(json_array_get(v, 0)))) {
            if (verb == 's' && json_is_array(v)) {
                tug_strbuf t = {0};
                format_into(&t, v, 0);
                pad_to(b, t.s ? t.s : "", t.len, width, left, zero);
                tug_strbuf_free(&t);
                return;
            }
            bad_verb(b, verb, v);
            return;
        }
        if (v == NULL || (json_is_null(v) && verb == 'v')) {
            pad_to(b, "<nil>", 5, width, left, false);
            return;
        }
        tug_strbuf t = {0};
        format_into(&t, v, 0);
        char *s = t.s ? t.s : "";
        size_t n = t.len;
        if (prec >= 0 && verb != 'q') {
            long runes = 0;
            size_t i = 0;
            for (; i < n; i++) {
                if (((unsigned char)s[i] & 0xC0) != 0x80 && runes++ == prec)
                    break;
            }
            n = i;
        }
        if (verb == 'q') {
            cleanup_free char *q = tug_template_go_quote(s);
            pad_to(b, q ? q : "", q ? strlen(q) : 0, width, left, zero);
        } else
            pad_to(b, s, n, width, left, zero);
        tug_strbuf_free(&t);
        return;
    }
    if (strchr("dxXobc", verb)) {
        if (json_is_string(v) && (verb == 'x' || verb == 'X')) {
            tug_strbuf t = {0};
            for (const unsigned char *c = (const unsigned char *)json_string_value(v); *c; c++) {
                snprintf(buf, sizeof(buf), verb == 'x' ? "%02x" : "%02X", *c);
                tug_strbuf_adds(&t, buf);
            }
            pad_to(b, t.s ? t.s : "", t.len, width, left, zero);
            tug_strbuf_free(&t);
            return;
        }
        if (!json_is_integer(v)) {
            bad_verb(b, verb, v);
            return;
        }
        long long x = json_integer_value(v);
        if (verb == 'c') {
            char u[5] = {0};
            if (x < 0x80)
                u[0] = (char)x;
            else if (x < 0x800)
                u[0] = (char)(0xC0 | (x >> 6)), u[1] = (char)(0x80 | (x & 0x3F));
            else
                u[0] = (char)(0xE0 | ((x >> 12) & 0x0F)), u[1] = (char)(0x80 | ((x >> 6) & 0x3F)),
                u[2] = (char)(0x80 | (x & 0x3F));
            pad_to(b, u, strlen(u), width, left, false);
            return;
        }
        if (verb == 'b') {
            char bits[72];
            int i = 71;
            bits[i] = '\0';
            unsigned long long ux = x < 0 ? (unsigned long long)-x : (unsigned long long)x;
            do
                bits[--i] = (char)('0' + (ux & 1));
            while ((ux >>= 1) && i > 1);
            if (x < 0)
                bits[--i] = '-';
            pad_to(b, bits + i, strlen(bits + i), width, left, zero);
            return;
        }
        char conv[8];
        snprintf(conv, sizeof(conv), "ll%c", verb == 'd' ? 'd' : verb);
        char fmt[80];
        snprintf(fmt, sizeof(fmt), "%%%s%s%s", flags, prec >= 0 ? ".*" : "", conv);
        if (prec >= 0)
            snprintf(buf, sizeof(buf), fmt, (int)prec, x);
        else
            snprintf(buf, sizeof(buf), fmt, x);
        pad_to(b, buf, strlen(buf), width, left, zero && prec < 0 && verb == 'd' ? false : false);
        return;
    }
    if (strchr("feEgGF", verb)) {
        if (!json_is_real(v)) {
            bad_verb(b, verb, v);
            return;
        }
        char fmt[48];
        snprintf(fmt, sizeof(fmt), "%%%s*.*%c", flags, verb);
        snprintf(buf, sizeof(buf), fmt, (int)(width > 0 && width < 200 ? width : 0),
                 (int)(prec >= 0 && prec < 100      ? prec
                       : verb == 'g' || verb == 'G' ? -1
                                                    : 6),
                 json_real_value(v));
        tug_strbuf_adds(b, buf);
        return;
    }
    if (verb == 't' && json_is_boolean(v)) {
        pad_to(b, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5, width, left, false);
        return;
    }
    bad_verb(b, verb, v);
}

static int fn_printf(call *c)
{
    const char *f = want_str(c, 0);
    if (f == NULL)
        return -1;
    tug_strbuf b = {0};
    size_t argi = 1;
    for (const char *p = f; *p; p++) {
        if (*p != '%') {
            tug_strbuf_addc(&b, *p);
            continue;
        }
        char flags[8] = {0};
        size_t nf = 0;
        while (*++p && strchr("-+# 0", *p))
            if (nf < sizeof(flags) - 1 && !strchr(flags, *p))
                flags[nf++] = *p;
        long width = -1, prec = -1;
        if (isdigit((unsigned char)*p)) {
            width = strtol(p, (char **)&p, 10);
            if (width > 10000)
                width = 10000;
        }
        if (*p == '.') {
            p++;
            prec = isdigit((unsigned char)*p) ? strtol(p, (char **)&p, 10) : 0;
            if (prec > 1000)
                prec = 1000;
        }
        if (*p == '\0') {
            tug_strbuf_adds(&b, "%!(NOVERB)");
            break;
        }
        if (*p == '%') {
            tug_strbuf_addc(&b, '%');
            continue;
        }
        if (argi >= c->argc) {
            char miss[24];
            snprintf(miss, sizeof(miss), "%%!%c(MISSING)", *p);
            tug_strbuf_adds(&b, miss);
            continue;
        }
        /* width goes to snprintf for numbers: keep it in the flags string */
        char spec[40];
        if (width >= 0 && strchr("dxXo", *p))
            snprintf(spec, sizeof(spec), "%s%ld", flags, width);
        else
            snprintf(spec, sizeof(spec), "%s", flags);
        printf_verb(&b, *p, strchr("dxXo", *p) ? spec : flags, strchr("dxXo", *p) ? -1 : width,
                    prec, c->argv[argi++]);
    }
    if (argi < c->argc) {
        tug_strbuf_adds(&b, "%!(EXTRA ");
        for (size_t i = argi; i < c->argc; i++) {
            if (i > argi)
                tug_strbuf_adds(&b, ", ");
            tug_strbuf_adds(&b, c->argv[i] ? type_name(c->argv[i]) : "<nil>");
            tug_strbuf_addc(&b, '=');
            add_value(&b, c->argv[i]);
        }
        tug_strbuf_addc(&b, ')');
    }
    return ret_buf(c, &b);
}

/* docker's json: compact, and <>& kept as they are (its encoder does not escape HTML); "@"
 * methods left out. */
static int fn_json(call *c)
{
    json_t *v = c->argv[0];
    json_t *copy = NULL;
    if (json_is_object(v)) {
        copy = json_object();
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val)
        {
            if (!is_method_key(k))
                json_object_set(copy, k, val);
        }
        v = copy;
    }
    /* a docker row marshals as a map: sorted keys; a document keeps its struct order */
    size_t order = c->st->o->type_name ? JSON_SORT_KEYS : JSON_PRESERVE_ORDER;
    cleanup_free char *s =
        v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | order) : strdup("null");
    json_decref(copy);
    return ret_str(c, s ? s : "null", s ? strlen(s) : 4);
}

static int fn_join(call *c)
{
    const char *sep = want_str(c, 1);
    if (sep == NULL)
        return -1;
    if (!json_is_array(c->argv[0]))
        return fail(c, "wrong type for value; expected []string; got %s", type_name(c->argv[0]));
    tug_strbuf b = {0};
    for (size_t i = 0; i < json_array_size(c->argv[0]); i++) {
        if (i)
            tug_strbuf_adds(&b, sep);
        add_value(&b, json_array_get(c->argv[0], i));
    }
    return ret_buf(c, &b);
}

static int fn_split(call *c)
{
    const char *s = want_str(c, 0), *sep = s ? want_str(c, 1) : NULL;
    if (sep == NULL)
        return -1;
    c->ret = json_array();
    size_t sl = strlen(sep);
    if (sl == 0) { /* Go splits into UTF-8 characters */
        for (const char *p = s; *p;) {
            size_t n = 1;
            while (((unsigned char)p[n] & 0xC0) == 0x80)
                n++;
            json_array_append_new(c->ret, json_stringn_nocheck(p, n));
            p += n;
        }
        return 0;
    }
    const char *p = s;
    for (const char *q; (q = strstr(p, sep)) != NULL; p = q + sl)
        json_array_append_new(c->ret, json_stringn_nocheck(p, (size_t)(q - p)));
    json_array_append_new(c->ret, json_string_nocheck(p));
    return 0;
}

static int fn_case(call *c, char how)
{
    const char *s = want_str(c, 0);
    if (s == NULL)
        return -1;
    cleanup_free char *t = strdup(s);
    if (t == NULL)
        return fail(c, "out of memory");
    bool start = true;
    for (char *p = t; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (how == 'u')
            *p = (char)toupper(ch);
        else if (how == 'l')
            *p = (char)tolower(ch);
        else {
            /* title: each word's first letter up, the rest as it was */
            if (start && islower(ch))
                *p = (char)toupper(ch);
            start = !(isalnum(ch) || ch == '\'' || ch >= 0x80);
        }
    }
    return ret_str(c, t, strlen(t));
}

static int fn_pad(call *c)
{
    const char *s = want_str(c, 0);
    json_int_t pre, post;
    if (s == NULL || !want_int(c, 1, &pre) || !want_int(c, 2, &post))
        return -1;
    tug_strbuf b = {0};
    if (*s) {
        for (json_int_t i = 0; i < pre && i < 10000; i++)
            tug_strbuf_addc(&b, ' ');
        tug_strbuf_adds(&b, s);
        for (json_int_t i = 0; i < post && i < 10000; i++)
            tug_strbuf_addc(&b, ' ');
    }
    return ret_buf(c, &b);
}

static int fn_truncate(call *c)
{
    const char *s = want_str(c, 0);
    json_int_t n;
    if (s == NULL || !want_int(c, 1, &n))
        return -1;
    size_t len = strlen(s);
    if (n < 0)
        return fail(c, "slice bounds out of range [:%" JSON_INTEGER_FORMAT "]", n);
    return ret_str(c, s, (size_t)n < len ? (size_t)n : len);
}

static int fn_not(call *c)
{
    c->ret = json_boolean(!truthy(c->argv[0]));
    return 0;
}

typedef struct {
    const char *name;
    int min, max;         /* max -1: any number */
    bool header_identity; /* in a table header, gives its first argument back (docker) */
    int (*fn)(call *c);
    int (*fn_named)(call *c, const char *name);
} fn_def;

static int fn_println(call *c)
{
    return fn_print(c, true);
}
static int fn_sprint(call *c)
{
    return fn_print(c, false);
}
static int fn_upper(call *c)
{
    return fn_case(c, 'u');
}
static int fn_lower(call *c)
{
    return fn_case(c, 'l');
}
static int fn_title(call *c)
{
    return fn_case(c, 't');
}

static const fn_def fn_table[] = {
    {"not", 1, 1, false, fn_not, NULL},          {"eq", 1, -1, false, fn_eq, NULL},
    {"ne", 2, 2, false, NULL, fn_cmp},           {"lt", 2, 2, false, NULL, fn_cmp},
    {"le", 2, 2, false, NULL, fn_cmp},           {"gt", 2, 2, false, NULL, fn_cmp},
    {"ge", 2, 2, false, NULL, fn_cmp},           {"len", 1, 1, false, fn_len, NULL},
    {"index", 1, -1, false, fn_index, NULL},     {"slice", 1, -1, false, fn_slice, NULL},
    {"print", 0, -1, false, fn_sprint, NULL},    {"println", 0, -1, false, fn_println, NULL},
    {"printf", 1, -1, false, fn_printf, NULL},   {"json", 1, 1, true, fn_json, NULL},
    {"join", 2, 2, true, fn_join, NULL},         {"split", 2, 2, true, fn_split, NULL},
    {"lower", 1, 1, true, fn_lower, NULL},       {"upper", 1, 1, true, fn_upper, NULL},
    {"title", 1, 1, true, fn_title, NULL},       {"pad", 3, 3, true, fn_pad, NULL},
    {"truncate", 2, 2, true, fn_truncate, NULL},
};

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
        if (truthy(v) != is_and)
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
    const fn_def *def = NULL;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(fn_table); i++)
        if (strcmp(fn_table[i].name, name) == 0)
            def = &fn_table[i];
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
    call cl = {.st = st, .argc = argc};
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
            if (strncmp(cl.msg, "wrong type", 10) == 0)
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
            if (v) {
                json_decref(v->val);
                v->val = json_incref(val);
            }
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
        return exec_err(st, n->pipe->pos, n->pipe->cmds[0].src, "range can't iterate over %s", s);
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
        if (truthy(v))
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
    }
    return 0;
}

int tug_template_render_opts(const tug_template *tmpl, json_t *dot, const tug_template_opts *opts,
                             char **ret_out, tug_error **err)
{
    static const tug_template_opts none = {0};
    tug_error *local = NULL;
    state st = {
        .text = tmpl->text, .o = opts ? opts : &none, .root = dot, .err = err ? err : &local};
    int r = push_var(&st, "$", json_incref(dot)) ? exec_node(&st, tmpl->root, dot) : -1;
    pop_to(&st, 0);
    free(st.vars);
    tug_error_free(local);
    if (r < 0 || st.out.failed) {
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
