/* The Dockerfile parser: BuildKit's parser.Parse and instructions.Parse in one pass over the
 * text (see dockerfile.h); the readers are in dockerfile_read.c. */
#include "dockerfile.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"
#include "dockerfile_int.h"

/* bufio.Scanner's limit in BuildKit: a longer line is an error there too */
#define MAX_LINE 65535

/* ---- arenas ---- */

typedef struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
} block;

struct df_arena {
    block *head;
};

typedef struct holder {
    df_arena a;
    max_align_t result[];
} holder;

void *df_new(size_t size, df_arena **ret_arena)
{
    holder *h = calloc(1, sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    *ret_arena = &h->a;
    return h->result;
}

void tug_df_free(void *result)
{
    if (result == NULL)
        return;
    holder *h = (holder *)((char *)result - offsetof(holder, result));
    for (block *b = h->a.head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(h);
}

void tug_dockerfile_free(tug_dockerfile *df)
{
    tug_df_free(df);
}

void *df_alloc(df_arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t), chunk = 8192;
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - sizeof(block) - align)
        return NULL;
    size = (size + align - 1) / align * align;
    block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > chunk / 2 ? size : chunk;
        b = calloc(1, sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        /* a big one gets a block of its own behind the current one, which keeps its room */
        if (size > chunk / 2 && a->head != NULL) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

char *df_strndup(df_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = df_alloc(a, n + 1);
    if (d != NULL && n > 0)
        memcpy(d, s, n);
    return d;
}

char *df_strdup(df_arena *a, const char *s)
{
    return df_strndup(a, s, strlen(s));
}

char *df_adopt(df_arena *a, char *s)
{
    if (s == NULL)
        return NULL;
    char *d = df_strdup(a, s);
    free(s);
    return d;
}

int df_list_push(df_arena *a, df_list *l, const char *s)
{
    if (s == NULL)
        return -1;
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        const char **v = df_alloc(a, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
    return 0;
}

int df_oom(tug_error **err)
{
    return tug_error_set(err, ENOMEM, "parse Dockerfile");
}

int df_fail(const tug_df_instruction *in, tug_error **err, const char *fmt, ...)
{
    cleanup_free char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return df_oom(err);
    tug_shell_printable(msg);
    return tug_error_user(err, "%s:%d: %s", in->file, in->line, msg);
}

int df_wrap(const tug_df_instruction *in, tug_error **err)
{
    if (err != NULL && *err != NULL && (*err)->errnum == 0)
        (*err)->kind = TUG_ERR_USER;
    return tug_error_wrap(err, "%s:%d", in->file, in->line);
}

const char *df_flag(const tug_df_instruction *in, const char *name, bool *ret_set)
{
    const char *value = NULL;
    bool set = false;
    for (size_t i = 0; i < in->n_flags; i++) {
        if (strcmp(in->flags[i].name, name) == 0) {
            value = in->flags[i].value;
            set = true;
        }
    }
    if (ret_set)
        *ret_set = set;
    return value;
}

/* ---- characters ---- */

/* Go's \s in BuildKit's regular expressions */
static bool re_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* BuildKit's reWhitespace: [\t\v\f\r ] */
static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static size_t space_len(const char *s, size_t n)
{
    size_t len;
    return n > 0 && tug_unicode_space(tug_utf8_decode(s, n, &len)) ? len : 0;
}

static void trim_left(const char **s, size_t *n)
{
    for (size_t k; (k = space_len(*s, *n)) > 0; *s += k, *n -= k)
        ;
}

void df_trim_space(const char **s, size_t *n)
{
    trim_left(s, n);
    while (*n > 0) {
        /* step back to the start of the last rune */
        size_t i = *n - 1;
        while (i > 0 && *n - i < 4 && ((unsigned char)(*s)[i] & 0xc0) == 0x80)
            i--;
        size_t k = space_len(*s + i, *n - i);
        if (k == 0 || i + k != *n)
            break;
        *n = i;
    }
}

static bool is_comment(const char *s, size_t n)
{
    trim_left(&s, &n);
    return n > 0 && s[0] == '#';
}

/* Levenshtein distance, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    cleanup_free size_t *row = calloc(nb + 1, sizeof(*row));
    if (row == NULL)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *df_suggest(const char *val, const char *const *options, size_t n)
{
    const char *match = "";
    size_t best = 3;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(val, options[i]) == 0)
            return "";
        size_t d = distance(val, options[i]);
        if (d < best) {
            best = d;
            match = options[i];
        }
    }
    return match;
}

/* ---- the instructions ---- */

typedef enum { FL_BOOL, FL_STRING, FL_STRINGS } flag_type;
typedef struct flag_spec {
    const char *name;
    flag_type type;
} flag_spec;

static const flag_spec add_flags[] = {
    {"chown", FL_STRING},    {"chmod", FL_STRING},
    {"link", FL_BOOL},       {"keep-git-dir", FL_BOOL},
    {"checksum", FL_STRING}, {"unpack", FL_BOOL},
    {"exclude", FL_STRINGS}, {NULL, 0},
};
static const flag_spec copy_flags[] = {
    {"chown", FL_STRING},
    {"from", FL_STRING},
    {"chmod", FL_STRING},
    {"link", FL_BOOL},
    {"exclude", FL_STRINGS},
    {"parents", FL_BOOL},
    {NULL, 0},
};
static const flag_spec from_flags[] = {{"platform", FL_STRING}, {NULL, 0}};
static const flag_spec run_flags[] = {
    {"mount", FL_STRINGS},
    {"network", FL_STRING},
    {"security", FL_STRING},
    {"device", FL_STRINGS},
    {NULL, 0},
};
static const flag_spec health_flags[] = {
    {"interval", FL_STRING},       {"timeout", FL_STRING}, {"start-period", FL_STRING},
    {"start-interval", FL_STRING}, {"retries", FL_STRING}, {NULL, 0},
};
static const flag_spec no_flags[] = {{NULL, 0}};

/* How BuildKit's parser splits each instruction's arguments (its dispatch table). */
typedef enum {
    SPLIT_MAYBE_JSON, /* parseMaybeJSON */
    SPLIT_JSON_LIST,  /* parseMaybeJSONToList */
    SPLIT_BLANKS,     /* parseStringsWhitespaceDelimited */
    SPLIT_STRING,     /* parseString */
    SPLIT_NAME_VALUE, /* parseEnv, parseLabel */
    SPLIT_WORDS,      /* parseNameOrNameVal */
    SPLIT_HEALTH,     /* parseHealthConfig */
    SPLIT_SUBCOMMAND, /* parseSubCommand */
} split_kind;

static const struct kind_info {
    const char *name;
    split_kind split;
    const flag_spec *flags;
    bool heredocs;
} kinds[] = {
    [TUG_DF_ADD] = {"ADD", SPLIT_JSON_LIST, add_flags, true},
    [TUG_DF_ARG] = {"ARG", SPLIT_WORDS, no_flags, false},
    [TUG_DF_CMD] = {"CMD", SPLIT_MAYBE_JSON, no_flags, false},
    [TUG_DF_COPY] = {"COPY", SPLIT_JSON_LIST, copy_flags, true},
    [TUG_DF_ENTRYPOINT] = {"ENTRYPOINT", SPLIT_MAYBE_JSON, no_flags, false},
    [TUG_DF_ENV] = {"ENV", SPLIT_NAME_VALUE, no_flags, false},
    [TUG_DF_EXPOSE] = {"EXPOSE", SPLIT_BLANKS, no_flags, false},
    [TUG_DF_FROM] = {"FROM", SPLIT_BLANKS, from_flags, false},
    [TUG_DF_HEALTHCHECK] = {"HEALTHCHECK", SPLIT_HEALTH, health_flags, false},
    [TUG_DF_LABEL] = {"LABEL", SPLIT_NAME_VALUE, no_flags, false},
    [TUG_DF_MAINTAINER] = {"MAINTAINER", SPLIT_STRING, no_flags, false},
    [TUG_DF_ONBUILD] = {"ONBUILD", SPLIT_SUBCOMMAND, no_flags, false},
    [TUG_DF_RUN] = {"RUN", SPLIT_MAYBE_JSON, run_flags, true},
    [TUG_DF_SHELL] = {"SHELL", SPLIT_MAYBE_JSON, no_flags, false},
    [TUG_DF_STOPSIGNAL] = {"STOPSIGNAL", SPLIT_STRING, no_flags, false},
    [TUG_DF_USER] = {"USER", SPLIT_STRING, no_flags, false},
    [TUG_DF_VOLUME] = {"VOLUME", SPLIT_JSON_LIST, no_flags, false},
    [TUG_DF_WORKDIR] = {"WORKDIR", SPLIT_STRING, no_flags, false},
};

const char *tug_df_kind_name(tug_df_kind kind)
{
    return (size_t)kind < TUG_ARRAY_SIZE(kinds) ? kinds[kind].name : "?";
}

/* ---- the parser ---- */

typedef struct parser {
    df_arena *a;
    const char *file;
    const char *text;
    size_t len, pos;
    int lineno; /* lines read so far */
    char escape;
    bool directives_done;
    bool trigger;    /* tug_dockerfile_parse_trigger */
    bool in_trigger; /* parsing ONBUILD's instruction */
    const char *syntax, *check;
    bool seen_escape;
    tug_df_instruction *inst;
    size_t n_inst, cap_inst;
    tug_df_stage *stages;
    size_t n_stages, cap_stages;
    size_t n_meta_args;
    df_list warnings;
    tug_error **err;
} parser;

static int perr(parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *p, int line, const char *fmt, ...)
{
    cleanup_free char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return df_oom(p->err);
    tug_shell_printable(msg);
    return tug_error_user(p->err, "%s:%d: %s", p->file, line, msg);
}

/* Grow an array living in the arena to hold n + 1 elements. */
static int grow(df_arena *a, void **v, size_t *cap, size_t n, size_t elem)
{
    if (n + 1 <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *nv = df_alloc(a, c * elem);
    if (nv == NULL)
        return -1;
    if (n)
        memcpy(nv, *v, n * elem);
    *v = nv;
    *cap = c;
    return 0;
}

/* One line of the file: s/n without its line end, raw/raw_n with it (a heredoc body keeps
 * line ends as written). */
typedef struct pline {
    const char *s, *raw;
    size_t n, raw_n;
} pline;

/* 1 and *l when there is another line, 0 at the end, <0 on an error. */
static int next_line(parser *p, pline *l)
{
    if (p->pos >= p->len)
        return 0;
    const char *s = p->text + p->pos;
    size_t rest = p->len - p->pos;
    const char *nl = memchr(s, '\n', rest);
    size_t raw = nl ? (size_t)(nl - s) + 1 : rest;
    if (p->lineno == INT_MAX)
        return perr(p, p->lineno, "more than %d lines", INT_MAX);
    p->pos += raw;
    p->lineno++;
    if ((nl ? raw - 1 : raw) > MAX_LINE)
        return perr(p, p->lineno, "line longer than %d bytes", MAX_LINE);
    *l = (pline){.s = s, .raw = s, .n = raw, .raw_n = raw};
    while (l->n > 0 && (s[l->n - 1] == '\n' || s[l->n - 1] == '\r'))
        l->n--;
    if (p->lineno == 1 && l->n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        l->s += 3;
        l->n -= 3;
    }
    return 1;
}

/* A parser directive: "# name = value" among the first lines (syntax, escape, check); any
 * other line ends them. */
static int directive(parser *p, const char *s, size_t n, bool *ret_is)
{
    *ret_is = false;
    if (p->directives_done)
        return 0;
    p->directives_done = true;
    if (n == 0 || s[0] != '#')
        return 0;
    s++, n--;
    trim_left(&s, &n);
    size_t k = 0;
    if (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
        while (++k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
                           (s[k] >= '0' && s[k] <= '9')))
            ;
    size_t key_n = k;
    while (k < n && re_space(s[k]))
        k++;
    if (key_n == 0 || k >= n || s[k] != '=')
        return 0;
    k++;
    size_t v = k;
    while (v < n && re_space(s[v]))
        v++;
    size_t e = n;
    while (e > v && re_space(s[e - 1]))
        e--;
    if (v == e) {
        /* (.+?) wants a character: a value of blanks only is the last one */
        if (k == n)
            return 0;
        v = n - 1;
        e = n;
    }
    char key[16];
    if (key_n >= sizeof(key))
        return 0;
    for (size_t i = 0; i < key_n; i++)
        key[i] = (char)(s[i] | 0x20);
    key[key_n] = '\0';
    const char **slot = strcmp(key, "syntax") == 0  ? &p->syntax
                        : strcmp(key, "check") == 0 ? &p->check
                                                    : NULL;
    bool esc = strcmp(key, "escape") == 0;
    if (slot == NULL && !esc)
        return 0;
    if ((slot && *slot) || (esc && p->seen_escape))
        return perr(p, p->lineno, "only one %s parser directive can be used", key);
    if (esc) {
        if (e - v != 1 || (s[v] != '\\' && s[v] != '`'))
            return perr(p, p->lineno, "invalid escape token '%.*s' does not match ` or \\",
                        (int)(e - v), s + v);
        p->escape = s[v];
        p->seen_escape = true;
    } else if ((*slot = df_strndup(p->a, s + v, e - v)) == NULL) {
        return df_oom(p->err);
    }
    p->directives_done = false;
    *ret_is = true;
    return 0;
}

/* The escape character last on a line (blanks after it allowed) continues the line, unless an
 * escape character precedes it (BuildKit's regular expression cannot see "\\\" either). */
static bool trim_continuation(const char *s, size_t *n, char escape)
{
    size_t e = *n;
    while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    if (e == 0 || s[e - 1] != escape)
        return false;
    if (e >= 2 && s[e - 2] == escape)
        return false;
    *n = e - 1;
    return true;
}

/* Words at blanks, quotes grouping, in one of BuildKit's two ways:
 * - flags (extractBuilderFlags): only the leading --words, quotes and escapes removed (an escape
 *   works inside single quotes too); *ret_rest is the first other word (after a lone "--");
 * - otherwise (parseWords, for ENV, LABEL and ARG): every word, quotes and escapes kept (an
 *   escape inside single quotes is an ordinary character).
 * Either way an escape at the very end goes. */
static int scan_words(df_arena *a, const char *s, size_t n, char escape, bool flags, df_list *out,
                      const char **ret_rest)
{
    enum { SPACES, WORD, QUOTE } phase = SPACES;
    tug_strbuf word __attribute__((cleanup(tug_strbuf_free))) = {0};
    bool blank_ok = false;
    int quote = 0;
    if (ret_rest)
        *ret_rest = s + n;
    for (size_t pos = 0, w = 0; pos <= n; pos += w) {
        int ch = pos < n ? tug_utf8_decode(s + pos, n - pos, &w) : -1;
        if (phase == SPACES) {
            if (pos == n)
                break;
            if (tug_unicode_space(ch))
                continue;
            if (flags && (ch != '-' || pos + 1 == n || s[pos + 1] != '-')) {
                *ret_rest = s + pos;
                break;
            }
            phase = WORD;
        }
        if (pos == n || (phase == WORD && tug_unicode_space(ch))) {
            bool dashes = flags && word.len == 2 && memcmp(word.s, "--", 2) == 0;
            if (dashes && pos < n) {
                *ret_rest = s + pos;
                break;
            }
            if (!dashes && (blank_ok || word.len > 0) &&
                df_list_push(a, out, df_adopt(a, tug_strbuf_steal(&word))) < 0)
                return -1;
            tug_strbuf_free(&word);
            blank_ok = false;
            phase = SPACES;
            continue;
        }
        if (phase == WORD && (ch == '\'' || ch == '"')) {
            quote = ch;
            blank_ok = true;
            phase = QUOTE;
            if (flags)
                continue;
        } else if (phase == QUOTE && ch == quote) {
            phase = WORD;
            if (flags)
                continue;
        } else if (ch == escape && (flags || phase == WORD || quote != '\'')) {
            if (pos + w == n) {
                phase = WORD;
                continue;
            }
            if (!flags)
                tug_strbuf_add(&word, s + pos, w);
            pos += w;
            tug_utf8_decode(s + pos, n - pos, &w);
        }
        tug_strbuf_add(&word, s + pos, w);
    }
    return word.failed ? -1 : 0;
}

/* Split at runs of [\t\v\f\r ], at most max words (the last takes the rest); none for "". */
static int split_blanks(df_arena *a, const char *s, size_t n, size_t max, df_list *out)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        if (out->n + 1 == max) {
            i = n;
        } else {
            while (i < n && !ws(s[i]))
                i++;
        }
        if (df_list_push(a, out, df_strndup(a, s + start, i - start)) < 0)
            return -1;
        while (i < n && ws(s[i]))
            i++;
    }
    return 0;
}

/* parseJSON: 1 when s is a JSON array of strings (into out), 0 when it is no JSON array at
 * all (the shell form then), <0 when it is one with something else than strings in it. */
static int parse_json(parser *p, const tug_df_instruction *in, const char *s, df_list *out)
{
    size_t n = strlen(s);
    trim_left(&s, &n);
    if (n == 0 || s[0] != '[')
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(s, n, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (root == NULL)
        return 0;
    int r = 1;
    size_t i;
    json_t *v;
    json_array_foreach(root, i, v)
    {
        if (!json_is_string(v)) {
            r = df_fail(in, p->err,
                        "when using JSON array syntax, arrays must be comprised of strings only");
            break;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            r = df_fail(in, p->err, "a NUL character (\\u0000) in a JSON string");
            break;
        }
        if (df_list_push(p->a, out, df_strdup(p->a, json_string_value(v))) < 0) {
            r = df_oom(p->err);
            break;
        }
    }
    json_decref(root);
    return r;
}

/* parseMaybeJSON: a JSON array of strings, else the text as one word (none for ""). */
static int maybe_json(parser *p, tug_df_instruction *in, const char *text, df_list *argv)
{
    if (text[0] == '\0')
        return 0;
    int r = parse_json(p, in, text, argv);
    if (r < 0)
        return r;
    in->json = r == 1;
    if (!in->json && df_list_push(p->a, argv, text) < 0)
        return df_oom(p->err);
    return 0;
}

static int parse_node(parser *p, const char *line, size_t n, tug_df_instruction *in, bool eof);

/* The arguments into in->argv / in->json as BuildKit's dispatch table splits them. */
static int split_args(parser *p, tug_df_instruction *in, bool eof)
{
    df_list argv = {0};
    const char *args = in->args;
    size_t n = strlen(args);
    int r = 0;
    switch (kinds[in->kind].split) {
    case SPLIT_MAYBE_JSON:
        if ((r = maybe_json(p, in, args, &argv)) < 0)
            return r;
        break;
    case SPLIT_JSON_LIST:
        if ((r = parse_json(p, in, args, &argv)) < 0)
            return r;
        in->json = r == 1;
        if (!in->json && split_blanks(p->a, args, n, SIZE_MAX, &argv) < 0)
            return df_oom(p->err);
        break;
    case SPLIT_BLANKS:
        if (split_blanks(p->a, args, n, SIZE_MAX, &argv) < 0)
            return df_oom(p->err);
        break;
    case SPLIT_STRING:
        if (n > 0 && df_list_push(p->a, &argv, args) < 0)
            return df_oom(p->err);
        break;
    case SPLIT_WORDS:
        if (scan_words(p->a, args, n, p->escape, false, &argv, NULL) < 0)
            return df_oom(p->err);
        break;
    case SPLIT_NAME_VALUE: {
        df_list words = {0};
        if (scan_words(p->a, args, n, p->escape, false, &words, NULL) < 0)
            return df_oom(p->err);
        if (words.n == 0)
            break;
        if (strchr(words.v[0], '=') == NULL) {
            /* the old form: KEY value with blanks */
            if (split_blanks(p->a, args, n, 2, &argv) < 0)
                return df_oom(p->err);
            if (argv.n < 2)
                return df_fail(in, p->err, "%s must have two arguments", kinds[in->kind].name);
            break;
        }
        for (size_t i = 0; i < words.n; i++) {
            const char *eq = strchr(words.v[i], '=');
            if (eq == NULL)
                return df_fail(in, p->err,
                               "Syntax error - can't find = in \"%s\". Must be of the form: "
                               "name=value",
                               words.v[i]);
            if (df_list_push(p->a, &argv, df_strndup(p->a, words.v[i], eq - words.v[i])) < 0 ||
                df_list_push(p->a, &argv, eq + 1) < 0)
                return df_oom(p->err);
        }
        break;
    }
    case SPLIT_HEALTH: {
        size_t sep = 0, w;
        while (sep < n && !tug_unicode_space(tug_utf8_decode(args + sep, n - sep, &w)))
            sep += w;
        if (sep == 0)
            break;
        const char *cmd = args + sep;
        size_t cn = n - sep;
        trim_left(&cmd, &cn); /* the rest of args: still NUL-terminated */
        if (df_list_push(p->a, &argv, df_strndup(p->a, args, sep)) < 0)
            return df_oom(p->err);
        if ((r = maybe_json(p, in, cmd, &argv)) < 0)
            return r;
        break;
    }
    case SPLIT_SUBCOMMAND: {
        /* ONBUILD ONBUILD is refused: no need to go deeper than one trigger */
        if (n == 0 || p->in_trigger)
            break;
        tug_df_instruction *t = df_alloc(p->a, sizeof(*t));
        if (t == NULL)
            return df_oom(p->err);
        *t = (tug_df_instruction){.file = in->file, .line = in->line, .escape = in->escape};
        p->in_trigger = true;
        r = parse_node(p, args, n, t, eof);
        p->in_trigger = false;
        if (r < 0)
            return -1;
        in->trigger = t;
        break;
    }
    }
    static const char *const none[] = {NULL};
    in->argv = argv.v ? argv.v : none;
    in->argc = argv.n;
    return 0;
}

static int find_kind(const char *kw, size_t n, tug_df_kind *ret)
{
    for (size_t k = 0; k < TUG_ARRAY_SIZE(kinds); k++) {
        if (strlen(kinds[k].name) == n && strncasecmp(kinds[k].name, kw, n) == 0) {
            *ret = (tug_df_kind)k;
            return 0;
        }
    }
    return -1;
}

static int unknown_instruction(parser *p, const tug_df_instruction *in, const char *kw, bool eof)
{
    if (kw[0] == '\0')
        return df_fail(in, p->err,
                       eof ? "a line continuation at the end of the file continues "
                             "no instruction"
                           : "empty instruction");
    const char *names[TUG_ARRAY_SIZE(kinds)];
    for (size_t k = 0; k < TUG_ARRAY_SIZE(kinds); k++)
        names[k] = kinds[k].name;
    /* case-insensitive, the suggestion in the case the user wrote */
    cleanup_free char *upper = strdup(kw);
    if (upper == NULL)
        return df_oom(p->err);
    bool lower = true, all_upper = true;
    for (char *c = upper; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            lower = false;
        if (*c >= 'a' && *c <= 'z') {
            all_upper = false;
            *c = (char)(*c - 'a' + 'A');
        }
    }
    const char *m = df_suggest(upper, names, TUG_ARRAY_SIZE(names));
    if (m[0] == '\0')
        return df_fail(in, p->err, "unknown instruction: %s", kw);
    /* BuildKit's matchCase: upper case only for a keyword written all in capitals */
    char cased[16];
    snprintf(cased, sizeof(cased), "%s", m);
    if (lower || !all_upper)
        for (char *c = cased; *c; c++)
            *c = (char)(*c | 0x20);
    return df_fail(in, p->err, "unknown instruction: %s (did you mean %s?)", kw, cased);
}

/* newNodeFromLine: keyword, flags, arguments. */
static int parse_node(parser *p, const char *line, size_t n, tug_df_instruction *in, bool eof)
{
    df_trim_space(&line, &n);
    if ((in->original = df_strndup(p->a, line, n)) == NULL)
        return df_oom(p->err);
    size_t k = 0;
    while (k < n && !ws(line[k]))
        k++;
    cleanup_free char *kw = strndup(line, k);
    if (kw == NULL)
        return df_oom(p->err);
    const char *rest = line + k;
    size_t rn = n - k;
    while (rn > 0 && ws(rest[0]))
        rest++, rn--;
    df_list flags = {0};
    const char *after = rest;
    if (k < n && scan_words(p->a, rest, rn, p->escape, true, &flags, &after) < 0)
        return df_oom(p->err);
    size_t an = (size_t)(rest + rn - after);
    df_trim_space(&after, &an);
    if ((in->args = df_strndup(p->a, after, an)) == NULL)
        return df_oom(p->err);
    if (find_kind(kw, k, &in->kind) < 0)
        return unknown_instruction(p, in, kw, eof);
    tug_df_flag *f = df_alloc(p->a, (flags.n + 1) * sizeof(*f));
    if (f == NULL)
        return df_oom(p->err);
    for (size_t i = 0; i < flags.n; i++) {
        const char *word = flags.v[i] + 2, *eq = strchr(word, '=');
        f[i].name = eq ? df_strndup(p->a, word, eq - word) : word;
        f[i].value = eq ? eq + 1 : NULL;
        if (f[i].name == NULL)
            return df_oom(p->err);
    }
    in->flags = f;
    in->n_flags = flags.n;
    return split_args(p, in, eof);
}

/* heredocsFromLine: every word of the line (lexed raw, as BuildKit does) that starts a
 * heredoc; a line the lexer refuses has none. */
static int find_heredocs(parser *p, const char *line, tug_df_instruction *in)
{
    tug_shell_opts o = {
        .escape = '\\', .raw_quotes = true, .raw_escapes = true, .keep_unset = true};
    cleanup_strv char **words = NULL;
    tug_error *lex_err = NULL;
    if (tug_shell_process(line, strlen(line), &o, NULL, &words, &lex_err) < 0) {
        bool oom = lex_err->errnum == ENOMEM;
        tug_error_free(lex_err);
        return oom ? df_oom(p->err) : 0;
    }
    size_t n = 0;
    for (char **w = words; *w; w++)
        n++;
    tug_df_heredoc *h = df_alloc(p->a, (n + 1) * sizeof(*h));
    if (h == NULL)
        return df_oom(p->err);
    size_t nh = 0;
    for (char **w = words; *w; w++) {
        int r = df_heredoc_word(p->a, *w, &h[nh], p->err);
        if (r < 0)
            return df_wrap(in, p->err);
        if (r == 0)
            nh++;
    }
    in->heredocs = h;
    in->n_heredocs = nh;
    return 0;
}

/* Each heredoc's body: the lines up to its terminator, in the order the heredocs were named. */
static int read_heredocs(parser *p, tug_df_instruction *in)
{
    tug_df_heredoc *h = (tug_df_heredoc *)in->heredocs;
    for (size_t i = 0; i < in->n_heredocs; i++) {
        tug_strbuf body __attribute__((cleanup(tug_strbuf_free))) = {0};
        size_t name_n = strlen(h[i].name);
        bool done = false;
        pline l;
        int r;
        while (!done && (r = next_line(p, &l)) > 0) {
            const char *s = l.s;
            size_t n = l.n;
            while (h[i].chomp && n > 0 && s[0] == '\t')
                s++, n--;
            done = n == name_n && memcmp(s, h[i].name, n) == 0;
            if (!done)
                tug_strbuf_add(&body, l.raw, l.raw_n);
        }
        if (r < 0)
            return r;
        if (!done)
            return df_fail(in, p->err,
                           "unterminated heredoc: no line \"%s\" ends <<%s before the end of the "
                           "file",
                           h[i].name, h[i].name);
        if (body.failed || (h[i].body = df_strndup(p->a, body.s ? body.s : "", body.len)) == NULL)
            return df_oom(p->err);
    }
    return 0;
}

static int check_flags(parser *p, const tug_df_instruction *in)
{
    const char *kw = kinds[in->kind].name;
    const flag_spec *spec = kinds[in->kind].flags;
    for (size_t i = 0; i < in->n_flags; i++) {
        const tug_df_flag *f = &in->flags[i];
        const flag_spec *s = spec;
        while (s->name && strcmp(s->name, f->name) != 0)
            s++;
        if (s->name == NULL) {
            const char *names[8];
            size_t n = 0;
            for (const flag_spec *t = spec; t->name && n < TUG_ARRAY_SIZE(names); t++)
                names[n++] = t->name;
            const char *m = df_suggest(f->name, names, n);
            return df_fail(in, p->err, "%s does not take --%s%s%s%s", kw, f->name,
                           m[0] ? " (did you mean --" : "", m, m[0] ? "?)" : "");
        }
        for (size_t j = 0; j < i && s->type != FL_STRINGS; j++)
            if (strcmp(in->flags[j].name, f->name) == 0)
                return df_fail(in, p->err, "%s --%s is given twice", kw, f->name);
        if (s->type == FL_BOOL) {
            if (f->value && f->value[0] == '\0')
                return df_fail(in, p->err, "missing a value on flag: --%s", f->name);
            if (f->value && strcasecmp(f->value, "true") != 0 && strcasecmp(f->value, "false"))
                return df_fail(in, p->err, "expecting boolean value for flag --%s, not: %s",
                               f->name, f->value);
        } else if (f->value == NULL) {
            return df_fail(in, p->err, "missing a value on flag: --%s (--%s=VALUE)", f->name,
                           f->name);
        }
    }
    return 0;
}

static int check_from(parser *p, const tug_df_instruction *in)
{
    if (in->argc == 3 && strcasecmp(in->argv[1], "as") == 0) {
        const char *name = in->argv[2];
        bool ok = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z');
        for (const char *c = name; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '-' || *c == '_' || *c == '.';
        if (!ok)
            return df_fail(in, p->err,
                           "invalid name for build stage: \"%s\", name can't start with a number "
                           "or contain symbols",
                           name);
        return 0;
    }
    if (in->argc != 1)
        return df_fail(in, p->err, "FROM requires either one or three arguments");
    return 0;
}

static int check_copy(parser *p, const tug_df_instruction *in)
{
    const char *kw = kinds[in->kind].name;
    if (in->argc < 2)
        return df_fail(in, p->err,
                       "%s requires at least two arguments, but only one was provided. "
                       "Destination could not be determined",
                       kw);
    tug_df_heredoc h;
    if (df_heredoc_word(p->a, in->argv[in->argc - 1], &h, NULL) == 0)
        return df_fail(in, p->err, "%s cannot accept a heredoc as a destination", kw);
    const char *from = df_flag(in, "from", NULL);
    if (from) {
        /* BuildKit refuses what an expansion would change: a stage name must be literal */
        cleanup_free char *x = NULL;
        tug_error *e = NULL;
        int xr = tug_shell_expand(from, in->escape, NULL, NULL, &x, &e);
        tug_error_free(e);
        if (xr < 0 || strcmp(x, from) != 0)
            return df_fail(in, p->err,
                           "variable expansion is not supported for --from, define a new stage "
                           "with FROM using ARG from global scope as a workaround");
    }
    return 0;
}

static int check_run(parser *p, const tug_df_instruction *in, bool eof)
{
    const char *net = df_flag(in, "network", NULL);
    if (net && strcmp(net, "default") && strcmp(net, "none") && strcmp(net, "host"))
        return df_fail(in, p->err, "invalid network mode \"%s\" (default, none or host)", net);
    const char *sec = df_flag(in, "security", NULL);
    if (sec && strcmp(sec, "sandbox") && strcmp(sec, "insecure"))
        return df_fail(in, p->err, "security \"%s\" is not valid (sandbox or insecure)", sec);
    for (size_t i = 0; i < in->n_flags; i++) {
        if (strcmp(in->flags[i].name, "mount") != 0)
            continue;
        tug_df_mount m;
        /* without a variable in it the spec is checked whole now, else when it runs */
        bool whole = strchr(in->flags[i].value, '$') == NULL;
        if (df_parse_mount(in, in->flags[i].value, whole, NULL, NULL, p->a, &m, p->err) < 0)
            return -1;
    }
    if (in->argc == 0)
        return df_fail(in, p->err, "RUN requires at least one argument%s",
                       eof ? " (its line continuation reaches the end of the file)" : "");
    return 0;
}

/* instructions.Parse's checks of one instruction: everything that needs no variable. */
static int check_instruction(parser *p, const tug_df_instruction *in, bool eof)
{
    const char *kw = kinds[in->kind].name;
    if (check_flags(p, in) < 0)
        return -1;
    switch (in->kind) {
    case TUG_DF_ENV:
    case TUG_DF_LABEL:
    case TUG_DF_ARG:
    case TUG_DF_EXPOSE:
    case TUG_DF_VOLUME:
        if (in->argc == 0)
            return df_fail(in, p->err, "%s requires at least one argument", kw);
        for (size_t i = 0; in->kind == TUG_DF_ARG && i < in->argc; i++)
            if (in->argv[i][0] == '=')
                return df_fail(in, p->err, "ARG names can not be blank");
        for (size_t i = 0; in->kind != TUG_DF_ARG && in->kind != TUG_DF_EXPOSE && i < in->argc;
             i++) {
            const char *s = in->argv[i];
            size_t n = strlen(s);
            bool key = in->kind != TUG_DF_VOLUME && i % 2 == 0;
            if (in->kind == TUG_DF_VOLUME)
                df_trim_space(&s, &n);
            if ((key || in->kind == TUG_DF_VOLUME) && n == 0)
                return df_fail(in, p->err,
                               in->kind == TUG_DF_VOLUME
                                   ? "VOLUME specified can not be an empty string"
                                   : "%s names can not be blank",
                               kw);
        }
        return 0;
    case TUG_DF_MAINTAINER:
    case TUG_DF_WORKDIR:
    case TUG_DF_USER:
    case TUG_DF_STOPSIGNAL:
        if (in->argc != 1)
            return df_fail(in, p->err, "%s requires exactly one argument", kw);
        return 0;
    case TUG_DF_ADD:
    case TUG_DF_COPY:
        return check_copy(p, in);
    case TUG_DF_FROM:
        return check_from(p, in);
    case TUG_DF_RUN:
        return check_run(p, in, eof);
    case TUG_DF_HEALTHCHECK:
        return df_check_healthcheck(in, p->a, &(tug_df_healthcheck){0}, p->err);
    case TUG_DF_SHELL:
        if (in->argc == 0)
            return df_fail(in, p->err, "SHELL requires at least one argument");
        if (!in->json)
            return df_fail(in, p->err, "SHELL requires the arguments to be in JSON form");
        return 0;
    case TUG_DF_ONBUILD: {
        if (in->trigger == NULL)
            return df_fail(in, p->err, "ONBUILD requires at least one argument");
        tug_df_kind t = in->trigger->kind;
        if (t == TUG_DF_ONBUILD)
            return df_fail(in, p->err, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (t == TUG_DF_MAINTAINER || t == TUG_DF_FROM)
            return df_fail(in, p->err, "%s isn't allowed as an ONBUILD trigger", kinds[t].name);
        return check_instruction(p, in->trigger, eof);
    }
    case TUG_DF_CMD:
    case TUG_DF_ENTRYPOINT:
        return 0;
    }
    return 0;
}

/* ONBUILD's text for the image config: the line without "ONBUILD", heredocs after it. */
static int trigger_text(parser *p, const char *line, tug_df_instruction *in)
{
    while (re_space(*line))
        line++;
    line += strlen("ONBUILD");
    while (re_space(*line))
        line++;
    tug_strbuf b __attribute__((cleanup(tug_strbuf_free))) = {0};
    tug_strbuf_adds(&b, line);
    for (size_t i = 0; i < in->n_heredocs; i++) {
        tug_strbuf_addc(&b, '\n');
        tug_strbuf_adds(&b, in->heredocs[i].body);
        tug_strbuf_adds(&b, in->heredocs[i].name);
    }
    if (b.failed || (in->trigger_text = df_strndup(p->a, b.s, b.len)) == NULL)
        return df_oom(p->err);
    tug_df_instruction *t = (tug_df_instruction *)in->trigger;
    t->heredocs = in->heredocs;
    t->n_heredocs = in->n_heredocs;
    return 0;
}

/* One instruction from its logical line: node, heredocs, checks, stages. */
static int add_instruction(parser *p, const char *line, int start, bool eof)
{
    if (grow(p->a, (void **)&p->inst, &p->cap_inst, p->n_inst, sizeof(*p->inst)) < 0)
        return df_oom(p->err);
    tug_df_instruction *in = &p->inst[p->n_inst];
    *in = (tug_df_instruction){.file = p->file, .line = start, .escape = p->escape};
    if (parse_node(p, line, strlen(line), in, eof) < 0)
        return -1;
    const tug_df_instruction *h = in->kind == TUG_DF_ONBUILD && in->trigger ? in->trigger : in;
    if (kinds[h->kind].heredocs && !h->json && strstr(line, "<<") != NULL) {
        if (find_heredocs(p, line, in) < 0 || read_heredocs(p, in) < 0)
            return -1;
    }
    in->end_line = p->lineno;
    if (in->kind == TUG_DF_ONBUILD && in->trigger) {
        ((tug_df_instruction *)in->trigger)->end_line = p->lineno;
        if (trigger_text(p, line, in) < 0)
            return -1;
    }
    if (check_instruction(p, in, eof) < 0)
        return -1;
    p->n_inst++;
    if (p->trigger)
        return 0;
    if (in->kind == TUG_DF_FROM) {
        if (grow(p->a, (void **)&p->stages, &p->cap_stages, p->n_stages, sizeof(*p->stages)) < 0)
            return df_oom(p->err);
        tug_df_stage *s = &p->stages[p->n_stages++];
        s->from = p->n_inst - 1;
        if (in->argc == 3) {
            char *name = df_strdup(p->a, in->argv[2]);
            if (name == NULL)
                return df_oom(p->err);
            for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c | 0x20);
            s->name = name;
        }
    } else if (p->n_stages == 0) {
        if (in->kind != TUG_DF_ARG)
            return df_fail(in, p->err,
                           "no FROM instruction before %s: ARG is the only instruction allowed "
                           "before FROM",
                           kinds[in->kind].name);
        p->n_meta_args++;
    }
    return 0;
}

/* Parse's loop: logical lines (continuations joined, comments and empty continuation lines
 * dropped), each one instruction. */
static int parse_lines(parser *p)
{
    pline l;
    int r;
    while ((r = next_line(p, &l)) > 0) {
        const char *s = l.s;
        size_t n = l.n;
        trim_left(&s, &n);
        bool is_directive;
        if (directive(p, s, n, &is_directive) < 0)
            return -1;
        if (is_comment(s, n))
            n = 0;
        int start = p->lineno;
        bool more = trim_continuation(s, &n, p->escape);
        if (!more && n == 0)
            continue;
        tug_strbuf line __attribute__((cleanup(tug_strbuf_free))) = {0};
        tug_strbuf_add(&line, s, n);
        bool empty_continuation = false, eof = false;
        while (more) {
            if ((r = next_line(p, &l)) < 0)
                return r;
            if (r == 0) {
                eof = true;
                break;
            }
            if (is_comment(l.s, l.n))
                continue;
            const char *t = l.s;
            size_t tn = l.n;
            trim_left(&t, &tn);
            if (tn == 0) {
                empty_continuation = true;
                continue;
            }
            tn = l.n;
            more = trim_continuation(l.s, &tn, p->escape);
            tug_strbuf_add(&line, l.s, tn);
        }
        tug_strbuf_add(&line, "", 0);
        if (line.failed)
            return df_oom(p->err);
        if (empty_continuation) {
            char *w = NULL;
            if (asprintf(&w, "Empty continuation line found in: %s", line.s) < 0 ||
                df_list_push(p->a, &p->warnings, df_adopt(p->a, w)) < 0)
                return df_oom(p->err);
        }
        if (add_instruction(p, line.s, start, eof) < 0)
            return -1;
    }
    return r;
}

static int parse(const char *name, const char *text, size_t len, bool trigger, tug_dockerfile **ret,
                 tug_error **err)
{
    df_arena *a = NULL;
    tug_dockerfile *df = df_new(sizeof(*df), &a);
    if (df == NULL)
        return df_oom(err);
    parser p = {.a = a,
                .file = df_strdup(a, name),
                .text = text,
                .len = len,
                .escape = '\\',
                .trigger = trigger,
                .err = err};
    int r = p.file ? 0 : df_oom(err);
    const char *nul = r == 0 ? memchr(text, '\0', len) : NULL;
    if (nul) {
        int line = 1;
        for (const char *c = text; c < nul; c++)
            line += *c == '\n';
        r = perr(&p, line, "a NUL byte: a Dockerfile is text");
    }
    if (r == 0)
        r = parse_lines(&p);
    if (r == 0 && p.n_inst == 0)
        r = tug_error_user(err, "%s: the file has no instructions", p.file);
    if (r == 0 && trigger && p.n_inst != 1)
        r = tug_error_user(err, "%s: onbuild trigger should be a single expression", p.file);
    if (r == 0 && !trigger && p.n_stages == 0)
        r = tug_error_user(err, "%s: no FROM instruction: nothing to build", p.file);
    if (r < 0) {
        tug_df_free(df);
        return r;
    }
    for (size_t i = 0; i < p.n_stages; i++)
        p.stages[i].end = i + 1 < p.n_stages ? p.stages[i + 1].from : p.n_inst;
    static const char *const none[] = {NULL};
    *df = (tug_dockerfile){
        .name = p.file,
        .escape = p.escape,
        .syntax = p.syntax,
        .check = p.check,
        .inst = p.inst,
        .n_inst = p.n_inst,
        .n_meta_args = p.n_meta_args,
        .stages = p.stages,
        .n_stages = p.n_stages,
        .warnings = p.warnings.v ? p.warnings.v : none,
        .n_warnings = p.warnings.n,
    };
    *ret = df;
    return 0;
}

int tug_dockerfile_parse(const char *name, const char *text, size_t len, tug_dockerfile **ret,
                         tug_error **err)
{
    return parse(name, text, len, false, ret, err);
}

int tug_dockerfile_parse_trigger(const char *name, const char *text, tug_dockerfile **ret,
                                 tug_error **err)
{
    tug_dockerfile *df = NULL;
    if (parse(name, text, strlen(text), true, &df, err) < 0)
        return -1;
    tug_df_kind k = df->inst[0].kind;
    if (k == TUG_DF_ONBUILD || k == TUG_DF_FROM || k == TUG_DF_MAINTAINER) {
        int r = df_fail(&df->inst[0], err, "%s isn't allowed as an ONBUILD trigger", kinds[k].name);
        tug_df_free(df);
        return r;
    }
    *ret = df;
    return 0;
}
