/* BuildKit's shell lexer (frontend/dockerfile/shell/lex.go) rewritten for tug: see shell.h. */
#include "shell.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

#define LEX_EOF (-1)
/* ${a:-${b:-...}} recurses once per level: a bound keeps a hostile Dockerfile off the stack */
#define MAX_DEPTH 1000

void tug_shell_printable(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

int tug_utf8_decode(const char *s, size_t n, size_t *ret_len)
{
    const unsigned char *u = (const unsigned char *)s;
    *ret_len = 1;
    if (u[0] < 0x80)
        return u[0];
    size_t len;
    int min, cp;
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        len = 2, min = 0x80, cp = u[0] & 0x1f;
    } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
        len = 3, min = 0x800, cp = u[0] & 0x0f;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        len = 4, min = 0x10000, cp = u[0] & 0x07;
    } else {
        return 0xfffd;
    }
    if (n < len)
        return 0xfffd;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80)
            return 0xfffd;
        cp = (cp << 6) | (u[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0xfffd;
    *ret_len = len;
    return cp;
}

bool tug_unicode_space(int r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200a;
    }
}

/* BuildKit's wordsStruct: the words of ProcessWords as they build up. */
typedef struct words {
    tug_strbuf buf;
    bool in_word;
    char **v;
    size_t n, cap;
    bool failed;
} words;

static void words_push(words *w)
{
    if (w->n + 2 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        char **v = realloc(w->v, cap * sizeof(*v));
        if (v == NULL) {
            w->failed = true;
            return;
        }
        w->v = v;
        w->cap = cap;
    }
    char *s = tug_strbuf_steal(&w->buf);
    if (s == NULL) {
        w->failed = true;
        return;
    }
    w->v[w->n++] = s;
    w->v[w->n] = NULL;
}

static void words_add_raw(words *w, const char *s, size_t n)
{
    if (w == NULL)
        return;
    tug_strbuf_add(&w->buf, s, n);
    w->in_word = true;
}

/* One character of unquoted text: whitespace ends a word that has something in it. */
static void words_add_char(words *w, const char *s, size_t n, int rune)
{
    if (w == NULL)
        return;
    bool space = tug_unicode_space(rune);
    if (space && w->in_word) {
        if (w->buf.len != 0) {
            words_push(w);
            w->in_word = false;
        }
    } else if (!space) {
        words_add_raw(w, s, n);
    }
}

static void words_add_text(words *w, const char *s, size_t n)
{
    if (w == NULL)
        return;
    for (size_t i = 0, len; i < n; i += len) {
        int r = tug_utf8_decode(s + i, n - i, &len);
        words_add_char(w, s + i, len, r);
    }
}

typedef struct lexer {
    const char *s;
    size_t n, pos;
    const tug_shell_opts *o;
    bool raw_escapes; /* as the current processStopOn asked */
    int depth;
    bool oom;
    char *msg; /* the first error */
} lexer;

static int lex_fail(lexer *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lex_fail(lexer *lx, const char *fmt, ...)
{
    if (lx->msg == NULL) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&lx->msg, fmt, ap) < 0) {
            lx->msg = NULL;
            lx->oom = true;
        }
        va_end(ap);
    }
    return -1;
}

static int peek(const lexer *lx, size_t *ret_len)
{
    *ret_len = 0;
    if (lx->pos >= lx->n)
        return LEX_EOF;
    return tug_utf8_decode(lx->s + lx->pos, lx->n - lx->pos, ret_len);
}

/* Consume one character; its bytes are lx->s[*ret_at .. *ret_at + *ret_len). */
static int next(lexer *lx, size_t *ret_at, size_t *ret_len)
{
    *ret_at = lx->pos;
    int c = peek(lx, ret_len);
    lx->pos += *ret_len;
    return c;
}

static bool get_env(const lexer *lx, const char *name, size_t len, const char **ret_value)
{
    *ret_value = "";
    if (lx->o->lookup == NULL)
        return false;
    char small[64];
    cleanup_free char *big = NULL;
    char *z = small;
    if (len >= sizeof(small)) {
        z = big = strndup(name, len);
        if (big == NULL)
            return false;
    } else {
        memcpy(small, name, len);
        small[len] = '\0';
    }
    const char *v = NULL;
    if (!lx->o->lookup(z, &v, lx->o->userdata) || v == NULL) {
        *ret_value = "";
        return false;
    }
    *ret_value = v;
    return true;
}

static int stop_on(lexer *lx, int stop, bool raw_escapes, tug_strbuf *out, words *w);

static bool is_special_param(int c)
{
    return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
           c == '0';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_char(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* processName: a name, a run of digits or one special parameter; may be empty. */
static void read_name(lexer *lx, size_t *ret_at, size_t *ret_len)
{
    size_t start = lx->pos;
    *ret_at = start;
    while (lx->pos < lx->n) {
        int c = (unsigned char)lx->s[lx->pos];
        if (lx->pos == start && is_digit(c)) {
            while (lx->pos < lx->n && is_digit((unsigned char)lx->s[lx->pos]))
                lx->pos++;
            break;
        }
        if (lx->pos == start && is_special_param(c)) {
            lx->pos++;
            break;
        }
        if (!is_name_char(c))
            break;
        lx->pos++;
    }
    *ret_len = lx->pos - start;
}

/* A glob of ${VAR#pat} and friends, as BuildKit turns it into a regular expression: * and ?
 * (neither matching a newline), literal runes, \* \? \\ literal, \} and \/ plain } and /. */
enum { TOK_LIT, TOK_ANY, TOK_STAR };
typedef struct ptok {
    int kind;
    const char *lit;
    size_t len;
} ptok;

static int compile_glob(lexer *lx, const char *p, size_t n, ptok **ret, size_t *ret_n)
{
    cleanup_free ptok *t = calloc(n + 1, sizeof(*t));
    if (t == NULL) {
        lx->oom = true;
        return -1;
    }
    size_t nt = 0;
    for (size_t i = 0, len; i < n; i += len) {
        tug_utf8_decode(p + i, n - i, &len);
        if (p[i] == '*' || p[i] == '?') {
            t[nt++] = (ptok){p[i] == '*' ? TOK_STAR : TOK_ANY, NULL, 0};
            continue;
        }
        if (p[i] == '\\') {
            if (i + 1 < n && (p[i + 1] == '}' || p[i + 1] == '/'))
                continue; /* len is 1: the } or / comes next as a literal */
            if (i + 1 >= n || (p[i + 1] != '*' && p[i + 1] != '?' && p[i + 1] != '\\'))
                return lex_fail(lx, "invalid pattern (%.*s) in substitution: invalid escape '\\%s'",
                                (int)n, p, i + 1 < n ? (char[]){p[i + 1], 0} : "");
            i++;
        }
        t[nt++] = (ptok){TOK_LIT, p + i, len};
    }
    *ret = steal_pointer(&t);
    *ret_n = nt;
    return 0;
}

/* For every start position s, where the first match the regular expression engine would pick
 * (lazy or greedy stars, Perl's order) ends, or -1: a table filled backwards, one pattern
 * token at a time, so neither the stack nor the time grows past tokens x length. */
static ssize_t *match_ends(lexer *lx, const ptok *t, size_t nt, const char *s, size_t n,
                           bool greedy)
{
    cleanup_free ssize_t *cur = calloc(n + 1, sizeof(*cur));
    cleanup_free ssize_t *nxt = calloc(n + 1, sizeof(*nxt));
    cleanup_free size_t *w = calloc(n + 1, sizeof(*w));
    if (cur == NULL || nxt == NULL || w == NULL) {
        lx->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        tug_utf8_decode(s + i, n - i, &w[i]);
    for (size_t i = 0; i <= n; i++)
        nxt[i] = (ssize_t)i;
    for (size_t k = nt; k-- > 0;) {
        for (size_t i = n + 1; i-- > 0;) {
            bool one = i < n && s[i] != '\n'; /* can . take the rune at i */
            ssize_t r = -1;
            switch (t[k].kind) {
            case TOK_LIT:
                if (i + t[k].len <= n && memcmp(s + i, t[k].lit, t[k].len) == 0)
                    r = nxt[i + t[k].len];
                break;
            case TOK_ANY:
                if (one)
                    r = nxt[i + w[i]];
                break;
            default:
                if (greedy) {
                    r = one ? cur[i + w[i]] : -1;
                    if (r < 0)
                        r = nxt[i];
                } else {
                    r = nxt[i];
                    if (r < 0 && one)
                        r = cur[i + w[i]];
                }
            }
            cur[i] = r;
        }
        ssize_t *tmp = nxt;
        nxt = cur;
        cur = tmp;
    }
    return steal_pointer(&nxt);
}

/* The runes of s (invalid bytes one by one) in reverse order. */
static char *reverse_runes(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if (r == NULL)
        return NULL;
    for (size_t i = 0, len; i < n; i += len) {
        tug_utf8_decode(s + i, n - i, &len);
        memcpy(r + n - i - len, s + i, len);
    }
    r[n] = '\0';
    return r;
}

/* ${VAR#pat} ${VAR##pat} ${VAR%pat} ${VAR%%pat} */
static int trim_match(lexer *lx, const char *value, const char *pat, size_t plen, bool suffix,
                      bool greedy, tug_strbuf *out)
{
    cleanup_free ptok *t = NULL;
    size_t nt = 0, n = strlen(value);
    if (compile_glob(lx, pat, plen, &t, &nt) < 0)
        return -1;
    cleanup_free char *rev = NULL;
    const char *subject = value;
    if (suffix) {
        /* the shortest or longest suffix is the same prefix of everything reversed */
        for (size_t i = 0; i < nt / 2; i++) {
            ptok tmp = t[i];
            t[i] = t[nt - 1 - i];
            t[nt - 1 - i] = tmp;
        }
        subject = rev = reverse_runes(value, n);
        if (rev == NULL) {
            lx->oom = true;
            return -1;
        }
    }
    cleanup_free ssize_t *ends = match_ends(lx, t, nt, subject, n, greedy);
    if (ends == NULL)
        return -1;
    if (ends[0] < 0)
        tug_strbuf_add(out, value, n);
    else if (suffix)
        tug_strbuf_add(out, value, n - (size_t)ends[0]);
    else
        tug_strbuf_add(out, value + ends[0], n - (size_t)ends[0]);
    return 0;
}

/* ${VAR/pat/repl} and ${VAR//pat/repl}, with Go's ReplaceAllString steps for empty matches
 * (the replacement is taken literally: tug does not expand Go's $1 in it). */
static int replace_match(lexer *lx, const char *value, const char *pat, size_t plen,
                         const char *repl, bool all, tug_strbuf *out)
{
    cleanup_free ptok *t = NULL;
    size_t nt = 0, n = strlen(value);
    if (compile_glob(lx, pat, plen, &t, &nt) < 0)
        return -1;
    cleanup_free ssize_t *ends = match_ends(lx, t, nt, value, n, true);
    if (ends == NULL)
        return -1;
    size_t last_end = 0, search = 0;
    while (search <= n) {
        size_t at = search, len;
        while (at < n && ends[at] < 0) {
            tug_utf8_decode(value + at, n - at, &len);
            at += len;
        }
        if (ends[at] < 0)
            break;
        size_t end = (size_t)ends[at];
        tug_strbuf_add(out, value + last_end, at - last_end);
        if (end > last_end || at == 0)
            tug_strbuf_adds(out, repl);
        last_end = end;
        if (!all)
            break;
        size_t width = 0;
        if (search < n)
            tug_utf8_decode(value + search, n - search, &width);
        if (search + width > end)
            search += width;
        else if (search + 1 > end)
            search++;
        else
            search = end;
    }
    tug_strbuf_add(out, value + last_end, n - last_end);
    return 0;
}

/* stop_on into a new string; a missing terminator is reported as BuildKit words it. */
static int stop_on_word(lexer *lx, int stop, bool raw_escapes, const char *missing,
                        tug_strbuf *word)
{
    if (stop_on(lx, stop, raw_escapes, word, NULL) < 0) {
        if (lx->pos >= lx->n && !lx->oom) {
            free(lx->msg);
            lx->msg = NULL;
            return lex_fail(lx, "syntax error: missing '%s'", missing);
        }
        return -1;
    }
    return 0;
}

static int dollar_modifier(lexer *lx, const char *name, size_t nlen, int ch, bool colon,
                           tug_strbuf *out)
{
    bool pattern = ch == '#' || ch == '%';
    char chs[3] = {0};
    snprintf(chs, sizeof(chs), "%s%c", colon ? ":" : "", ch > 0 && ch < 128 ? ch : '?');
    if (colon && pattern)
        return lex_fail(lx, "unsupported modifier (%s) in substitution", chs);
    tug_strbuf word __attribute__((cleanup(tug_strbuf_free))) = {0};
    if (stop_on_word(lx, '}', pattern, "}", &word) < 0)
        return -1;
    const char *w = word.s ? word.s : "";
    const char *value;
    bool set = get_env(lx, name, nlen, &value);
    if (!set && lx->o->keep_unset) {
        tug_strbuf_adds(out, "${");
        tug_strbuf_add(out, name, nlen);
        tug_strbuf_adds(out, chs);
        tug_strbuf_adds(out, w);
        tug_strbuf_adds(out, "}");
        return 0;
    }
    bool null = !set || (colon && value[0] == '\0');
    switch (ch) {
    case '-':
        tug_strbuf_adds(out, null ? w : value);
        return 0;
    case '+':
        tug_strbuf_adds(out, null ? "" : w);
        return 0;
    case '?':
        if (null)
            return lex_fail(lx, "%.*s: %s", (int)nlen, name,
                            w[0]   ? w
                            : !set ? "is not allowed to be unset"
                                   : "is not allowed to be empty");
        tug_strbuf_adds(out, value);
        return 0;
    case '#':
    case '%': {
        bool greedy = w[0] == ch;
        const char *pat = greedy ? w + 1 : w;
        return trim_match(lx, value, pat, strlen(pat), ch == '%', greedy, out);
    }
    default:
        return lex_fail(lx, "unsupported modifier (%s) in substitution", chs);
    }
}

static int dollar_replace(lexer *lx, const char *name, size_t nlen, tug_strbuf *out)
{
    bool all = lx->pos < lx->n && lx->s[lx->pos] == '/';
    if (all)
        lx->pos++;
    tug_strbuf pat __attribute__((cleanup(tug_strbuf_free))) = {0};
    tug_strbuf repl __attribute__((cleanup(tug_strbuf_free))) = {0};
    if (stop_on_word(lx, '/', true, "/' in ${", &pat) < 0 ||
        stop_on_word(lx, '}', true, "}", &repl) < 0)
        return -1;
    const char *p = pat.s ? pat.s : "", *r = repl.s ? repl.s : "";
    const char *value;
    bool set = get_env(lx, name, nlen, &value);
    if (!set && lx->o->keep_unset) {
        tug_strbuf_adds(out, "${");
        tug_strbuf_add(out, name, nlen);
        tug_strbuf_adds(out, "/");
        tug_strbuf_adds(out, p);
        tug_strbuf_adds(out, "/");
        tug_strbuf_adds(out, r);
        tug_strbuf_adds(out, "}");
        return 0;
    }
    return replace_match(lx, value, p, pat.len, r, all, out);
}

/* processDollar: at a '$'. */
static int dollar(lexer *lx, tug_strbuf *out)
{
    lx->pos++;
    size_t at, len;
    if (lx->pos >= lx->n || lx->s[lx->pos] != '{') {
        read_name(lx, &at, &len);
        if (len == 0) {
            tug_strbuf_addc(out, '$');
            return 0;
        }
        const char *value;
        if (!get_env(lx, lx->s + at, len, &value) && lx->o->keep_unset) {
            tug_strbuf_addc(out, '$');
            tug_strbuf_add(out, lx->s + at, len);
            return 0;
        }
        tug_strbuf_adds(out, value);
        return 0;
    }
    lx->pos++;
    if (lx->pos >= lx->n)
        return lex_fail(lx, "syntax error: missing '}'");
    char c = lx->s[lx->pos];
    if (c == '{' || c == '}' || c == ':')
        return lex_fail(lx, "syntax error: bad substitution");
    read_name(lx, &at, &len);
    const char *name = lx->s + at;
    size_t w;
    int ch = next(lx, &(size_t){0}, &w);
    switch (ch) {
    case '}': {
        const char *value;
        if (!get_env(lx, name, len, &value) && lx->o->keep_unset) {
            tug_strbuf_adds(out, "${");
            tug_strbuf_add(out, name, len);
            tug_strbuf_adds(out, "}");
            return 0;
        }
        tug_strbuf_adds(out, value);
        return 0;
    }
    case ':':
        return dollar_modifier(lx, name, len, next(lx, &(size_t){0}, &w), true, out);
    case '+':
    case '-':
    case '?':
    case '#':
    case '%':
        return dollar_modifier(lx, name, len, ch, false, out);
    case '/':
        return dollar_replace(lx, name, len, out);
    case LEX_EOF:
        return lex_fail(lx, "syntax error: missing '}'");
    default:
        return lex_fail(lx, "unsupported modifier (%.*s) in substitution", (int)w,
                        lx->s + lx->pos - w);
    }
}

static int single_quote(lexer *lx, tug_strbuf *out)
{
    lx->pos++;
    if (lx->o->raw_quotes)
        tug_strbuf_addc(out, '\'');
    for (;;) {
        size_t at, len;
        int c = next(lx, &at, &len);
        if (c == LEX_EOF)
            return lex_fail(lx, "unexpected end of statement while looking for matching "
                                "single-quote");
        if (c == '\'') {
            if (lx->o->raw_quotes)
                tug_strbuf_addc(out, '\'');
            return 0;
        }
        tug_strbuf_add(out, lx->s + at, len);
    }
}

static int double_quote(lexer *lx, tug_strbuf *out)
{
    char esc = lx->o->escape;
    lx->pos++;
    if (lx->o->raw_quotes)
        tug_strbuf_addc(out, '"');
    for (;;) {
        size_t at, len;
        int c = peek(lx, &len);
        if (c == LEX_EOF)
            return lex_fail(lx, "unexpected end of statement while looking for matching "
                                "double-quote");
        if (c == '"') {
            lx->pos++;
            if (lx->o->raw_quotes)
                tug_strbuf_addc(out, '"');
            return 0;
        }
        if (c == '$') {
            if (dollar(lx, out) < 0)
                return -1;
            continue;
        }
        c = next(lx, &at, &len);
        if (c == esc) {
            if (lx->raw_escapes)
                tug_strbuf_addc(out, esc);
            size_t plen;
            int p = peek(lx, &plen);
            if (p == LEX_EOF)
                continue;
            if (p == '"' || p == '$' || p == esc)
                c = next(lx, &at, &len);
        }
        tug_strbuf_add(out, lx->s + at, len);
    }
}

/* processPossibleHeredoc: "<<" and the blanks after it stay together in one word. */
static void maybe_heredoc(lexer *lx, tug_strbuf *out)
{
    lx->pos++;
    if (lx->pos >= lx->n || lx->s[lx->pos] != '<') {
        tug_strbuf_addc(out, '<');
        return;
    }
    size_t start = lx->pos - 1;
    lx->pos++;
    while (lx->pos < lx->n &&
           (lx->s[lx->pos] == '\t' || lx->s[lx->pos] == '\r' || lx->s[lx->pos] == ' '))
        lx->pos++;
    tug_strbuf_add(out, lx->s + start, lx->pos - start);
}

/* processStopOn: up to stop (consumed) or the end; stop at the end is an error. */
static int stop_on(lexer *lx, int stop, bool raw_escapes, tug_strbuf *out, words *w)
{
    if (lx->depth >= MAX_DEPTH)
        return lex_fail(lx, "substitutions nested deeper than %d", MAX_DEPTH);
    bool saved = lx->raw_escapes;
    lx->raw_escapes = raw_escapes;
    lx->depth++;
    int r = 0;
    for (;;) {
        size_t at, len;
        int c = peek(lx, &len);
        if (c == LEX_EOF)
            break;
        if (stop != LEX_EOF && c == stop) {
            lx->pos += len;
            goto out;
        }
        bool quote = !lx->o->skip_quotes && (c == '\'' || c == '"');
        if (c == '$' || c == '<' || quote) {
            tug_strbuf tmp __attribute__((cleanup(tug_strbuf_free))) = {0};
            if (c == '<')
                maybe_heredoc(lx, &tmp);
            else
                r = c == '$'    ? dollar(lx, &tmp)
                    : c == '\'' ? single_quote(lx, &tmp)
                                : double_quote(lx, &tmp);
            if (r < 0)
                goto out;
            const char *t = tmp.s ? tmp.s : "";
            tug_strbuf_add(out, t, tmp.len);
            if (c == '$')
                words_add_text(w, t, tmp.len);
            else
                words_add_raw(w, t, tmp.len);
            continue;
        }
        c = next(lx, &at, &len);
        if (c == lx->o->escape) {
            if (lx->raw_escapes) {
                words_add_raw(w, lx->s + at, len);
                tug_strbuf_add(out, lx->s + at, len);
            }
            c = next(lx, &at, &len);
            if (c == LEX_EOF)
                break;
            words_add_raw(w, lx->s + at, len);
        } else {
            words_add_char(w, lx->s + at, len, c);
        }
        tug_strbuf_add(out, lx->s + at, len);
    }
    if (stop != LEX_EOF)
        r = lex_fail(lx, "unexpected end of statement while looking for matching %c", stop);
out:
    lx->depth--;
    lx->raw_escapes = saved;
    if (out->failed || (w != NULL && (w->failed || w->buf.failed)))
        lx->oom = true;
    return lx->oom ? -1 : r;
}

int tug_shell_process(const char *word, size_t len, const tug_shell_opts *opts, char **ret_word,
                      char ***ret_words, tug_error **err)
{
    lexer lx = {.s = word, .n = len, .o = opts};
    tug_strbuf out __attribute__((cleanup(tug_strbuf_free))) = {0};
    words w = {0};
    int r = stop_on(&lx, LEX_EOF, opts->raw_escapes, &out, ret_words ? &w : NULL);
    if (r == 0 && ret_words != NULL && w.buf.len > 0)
        words_push(&w);
    if (r == 0 && ret_words != NULL && w.v == NULL && !w.failed) {
        w.v = calloc(1, sizeof(char *));
        w.failed = w.v == NULL;
    }
    char *joined = r == 0 && ret_word ? tug_strbuf_steal(&out) : NULL;
    if (r == 0 && (w.failed || (ret_word && joined == NULL)))
        lx.oom = true;
    if (lx.oom || r < 0) {
        free(joined);
        tug_strbuf_free(&w.buf);
        cleanup_strvp(&w.v);
        if (lx.oom) {
            free(lx.msg);
            return tug_error_set(err, ENOMEM, "process \"%.*s\"", (int)len, word);
        }
        r = tug_error_user(err, "failed to process \"%.*s\": %s", (int)len, word, lx.msg);
        free(lx.msg);
        if (err && *err)
            tug_shell_printable((*err)->msg);
        return r;
    }
    tug_strbuf_free(&w.buf);
    if (ret_word)
        *ret_word = joined;
    if (ret_words)
        *ret_words = w.v;
    return 0;
}

int tug_shell_expand(const char *word, char escape, tug_shell_lookup lookup, void *userdata,
                     char **ret, tug_error **err)
{
    tug_shell_opts o = {.escape = escape, .lookup = lookup, .userdata = userdata};
    return tug_shell_process(word, strlen(word), &o, ret, NULL, err);
}

int tug_shell_words(const char *word, char escape, tug_shell_lookup lookup, void *userdata,
                    char ***ret, size_t *ret_n, tug_error **err)
{
    tug_shell_opts o = {.escape = escape, .lookup = lookup, .userdata = userdata};
    char **v = NULL;
    int r = tug_shell_process(word, strlen(word), &o, NULL, &v, err);
    if (r < 0)
        return r;
    if (ret_n) {
        size_t n = 0;
        while (v[n])
            n++;
        *ret_n = n;
    }
    *ret = v;
    return 0;
}
