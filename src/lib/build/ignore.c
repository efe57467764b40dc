/* .dockerignore patterns and COPY globs (see ignore.h for the rules). */
#include "ignore.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"

#define RUNE_ERROR 0xFFFDu
#define RUNE_MAX 0x10FFFFu

/* ---- UTF-8, as Go decodes it ------------------------------------------------------------ */

/* One rune of s (len > 0): an invalid or truncated sequence is U+FFFD of width 1. */
static uint32_t decode_rune(const char *s, size_t len, size_t *ret_n)
{
    const unsigned char *u = (const unsigned char *)s;
    *ret_n = 1;
    if (u[0] < 0x80)
        return u[0];
    size_t n;
    uint32_t r, min;
    if ((u[0] & 0xE0) == 0xC0) {
        n = 2, r = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3, r = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4, r = u[0] & 0x07, min = 0x10000;
    } else {
        return RUNE_ERROR;
    }
    if (len < n)
        return RUNE_ERROR;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return RUNE_ERROR;
        r = (r << 6) | (u[i] & 0x3F);
    }
    if (r < min || r > RUNE_MAX || (r >= 0xD800 && r <= 0xDFFF))
        return RUNE_ERROR;
    *ret_n = n;
    return r;
}

/* Go's unicode.IsSpace, which strings.TrimSpace trims. */
static bool is_space_rune(uint32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

/* strings.TrimSpace: the span of s[0..len) without leading and trailing white space. */
static void trim_space(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len, w;
    while (n > 0 && is_space_rune(decode_rune(p, n, &w)))
        p += w, n -= w;
    while (n > 0) {
        /* the last rune starts at the last byte that is not a continuation byte */
        size_t start = n - 1;
        while (start > 0 && n - start < 4 && ((unsigned char)p[start] & 0xC0) == 0x80)
            start--;
        uint32_t r = decode_rune(p + start, n - start, &w);
        if (start + w != n) /* not one rune: the last byte alone is an invalid one */
            break;
        if (!is_space_rune(r))
            break;
        n = start;
    }
    *s = p;
    *len = n;
}

/* ---- Go's filepath.Clean and filepath.Match ---------------------------------------------- */

static char *clean_n(const char *path, size_t n)
{
    if (n == 0)
        return strdup(".");
    char *out = malloc(n + 2);
    return out ? tug_path_clean_to(path, n, out) : NULL;
}

char *tug_path_clean(const char *path)
{
    return clean_n(path, strlen(path));
}

/* Go's getEsc: one class character, "\"-escaped or not. Returns its width, -1 when bad. */
static int class_char(const char *c, size_t len, uint32_t *ret)
{
    if (len == 0 || c[0] == '-' || c[0] == ']')
        return -1;
    size_t off = 0, n;
    if (c[0] == '\\') {
        off = 1;
        if (len == 1)
            return -1;
    }
    *ret = decode_rune(c + off, len - off, &n);
    if (*ret == RUNE_ERROR && n == 1)
        return -1;
    off += n;
    if (off == len) /* the class is not closed */
        return -1;
    return (int)off;
}

/* Go's matchChunk: 1 and *ret_rest (what s has left) on a match, 0 on none, -1 when the chunk is
 * malformed (checked to its end even after a mismatch). */
static int match_chunk(const char *c, size_t clen, const char *s, size_t slen, size_t *ret_rest)
{
    bool failed = false;
    size_t ci = 0, si = 0, n;
    while (ci < clen) {
        if (!failed && si == slen)
            failed = true;
        switch (c[ci]) {
        case '[': {
            uint32_t r = 0;
            if (!failed) {
                r = decode_rune(s + si, slen - si, &n);
                si += n;
            }
            ci++;
            bool negated = ci < clen && c[ci] == '^';
            if (negated)
                ci++;
            bool match = false;
            for (int nrange = 0;; nrange++) {
                if (ci < clen && c[ci] == ']' && nrange > 0) {
                    ci++;
                    break;
                }
                uint32_t lo, hi;
                int w = class_char(c + ci, clen - ci, &lo);
                if (w < 0)
                    return -1;
                ci += (size_t)w;
                hi = lo;
                if (c[ci] == '-') {
                    w = class_char(c + ci + 1, clen - ci - 1, &hi);
                    if (w < 0)
                        return -1;
                    ci += 1 + (size_t)w;
                }
                if (lo <= r && r <= hi)
                    match = true;
            }
            if (match == negated)
                failed = true;
            break;
        }
        case '?':
            if (!failed) {
                if (s[si] == '/')
                    failed = true;
                decode_rune(s + si, slen - si, &n);
                si += n;
            }
            ci++;
            break;
        case '\\':
            ci++;
            if (ci == clen)
                return -1;
            /* fall through */
        default:
            if (!failed) {
                if (c[ci] != s[si])
                    failed = true;
                si++;
            }
            ci++;
            break;
        }
    }
    if (failed)
        return 0;
    *ret_rest = si;
    return 1;
}

/* Go's scanChunk: leading stars, then the chunk up to the next star outside brackets. */
static void scan_chunk(const char **p, size_t *plen, bool *ret_star, size_t *ret_clen)
{
    bool star = false;
    while (*plen > 0 && **p == '*')
        (*p)++, (*plen)--, star = true;
    bool inrange = false;
    size_t i;
    for (i = 0; i < *plen; i++) {
        char ch = (*p)[i];
        if (ch == '\\') {
            if (i + 1 < *plen)
                i++;
        } else if (ch == '[') {
            inrange = true;
        } else if (ch == ']') {
            inrange = false;
        } else if (ch == '*' && !inrange) {
            break;
        }
    }
    *ret_star = star;
    *ret_clen = i;
}

static int glob_match_n(const char *p, size_t plen, const char *s, size_t slen)
{
    while (plen > 0) {
        bool star;
        size_t clen, rest;
        scan_chunk(&p, &plen, &star, &clen);
        const char *chunk = p;
        p += clen, plen -= clen;
        if (star && clen == 0) /* a trailing star takes the rest of s but a '/' */
            return memchr(s, '/', slen) == NULL;
        int r = match_chunk(chunk, clen, s, slen, &rest);
        if (r > 0 && (rest == slen || plen > 0)) {
            s += rest, slen -= rest;
            continue;
        }
        if (r < 0)
            return -1;
        if (star) {
            bool next = false;
            for (size_t i = 0; i < slen && s[i] != '/'; i++) {
                r = match_chunk(chunk, clen, s + i + 1, slen - i - 1, &rest);
                if (r > 0) {
                    if (plen == 0 && rest < slen - i - 1)
                        continue;
                    size_t used = i + 1 + rest;
                    s += used, slen -= used;
                    next = true;
                    break;
                }
                if (r < 0)
                    return -1;
            }
            if (next)
                continue;
        }
        /* no match: the rest of the pattern must still be well formed */
        while (plen > 0) {
            scan_chunk(&p, &plen, &star, &clen);
            if (match_chunk(p, clen, "", 0, &rest) < 0)
                return -1;
            p += clen, plen -= clen;
        }
        return 0;
    }
    return slen == 0;
}

int tug_glob_match_path(const char *pattern, const char *name)
{
    return glob_match_n(pattern, strlen(pattern), name, strlen(name));
}

bool tug_glob_has_wildcards(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            if (s[1] == '\0')
                break;
            s++;
        } else if (*s == '*' || *s == '?' || *s == '[') {
            return true;
        }
    }
    return false;
}

/* ---- Patterns: docker's translation, matched without a regexp engine -------------------- */

/* A character set: ranges of runes, maybe negated. */
struct range {
    uint32_t lo, hi;
};
struct charset {
    bool negated;
    struct range *r;
    size_t n, cap;
};

typedef enum {
    IT_LIT,       /* one rune */
    IT_ANY,       /* "?": one rune but '/' */
    IT_STAR,      /* "*": runes but '/', any number */
    IT_DIRS_OPT,  /* "**" + "/" before more: optionally enter the next item ... */
    IT_DIRS_LOOP, /* ... any runes but '\n', then a '/' (docker's optional group of dirs) */
    IT_TAIL,      /* "**" at the end after something else: runes but '\n' (docker's ".*") */
    IT_SET,       /* a bracket expression or a \d-like escape */
    IT_BOL,       /* a bare '^' or \A, which docker's regexp keeps as "at the start" */
    IT_EOL,       /* \z: at the end */
    IT_WORDB,     /* \b: between a word character ([0-9A-Za-z_]) and another or an end */
    IT_NWORDB,    /* \B: not there */
} item_kind;

struct item {
    item_kind kind;
    uint32_t rune;
    struct charset *set;
};

typedef enum { MT_EXACT, MT_PREFIX, MT_SUFFIX, MT_REGEX } match_type;

struct pattern {
    char *text;  /* cleaned, without the '!' */
    char *shown; /* as tug_ignore_pattern gives it: with the '!' */
    bool exception;
    match_type type;
    struct item *items;
    size_t n_items, cap_items;
    char *trimmed; /* text without a trailing "/ **" then "/ *" (fsutil's pruning test) */
};

struct tug_ignore {
    struct pattern *p;
    size_t n;
    bool exceptions;
    bool only_prefix_exceptions; /* no exception has a wildcard before its last "/ *" */
};

static void pattern_clear(struct pattern *p)
{
    for (size_t i = 0; i < p->n_items; i++) {
        if (p->items[i].set) {
            free(p->items[i].set->r);
            free(p->items[i].set);
        }
    }
    free(p->items);
    free(p->text);
    free(p->shown);
    free(p->trimmed);
}

void tug_ignore_free(tug_ignore *ig)
{
    if (ig == NULL)
        return;
    for (size_t i = 0; i < ig->n; i++)
        pattern_clear(&ig->p[i]);
    free(ig->p);
    free(ig);
}

void tug_ignore_freep(tug_ignore **ig)
{
    tug_ignore_free(*ig);
}

static struct item *add_item(struct pattern *p, item_kind kind, uint32_t rune)
{
    if (p->n_items == p->cap_items) {
        size_t cap = p->cap_items ? p->cap_items * 2 : 8;
        struct item *v = realloc(p->items, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        p->items = v;
        p->cap_items = cap;
    }
    struct item *it = &p->items[p->n_items++];
    *it = (struct item){.kind = kind, .rune = rune};
    return it;
}

static int set_add(struct charset *cs, uint32_t lo, uint32_t hi)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4;
        struct range *v = realloc(cs->r, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        cs->r = v;
        cs->cap = cap;
    }
    cs->r[cs->n++] = (struct range){lo, hi};
    return 0;
}

/* Add ranges (sorted, disjoint), or everything outside them. */
static int set_add_all(struct charset *cs, const struct range *r, size_t n, bool negated)
{
    if (!negated) {
        for (size_t i = 0; i < n; i++)
            if (set_add(cs, r[i].lo, r[i].hi) < 0)
                return -1;
        return 0;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].lo > next && set_add(cs, next, r[i].lo - 1) < 0)
            return -1;
        next = r[i].hi + 1;
    }
    return next <= RUNE_MAX ? set_add(cs, next, RUNE_MAX) : 0;
}

static bool set_match(const struct charset *cs, uint32_t r)
{
    bool in = false;
    for (size_t i = 0; i < cs->n && !in; i++)
        in = cs->r[i].lo <= r && r <= cs->r[i].hi;
    return in != cs->negated;
}

/* The ASCII classes of Go's regexp syntax (POSIX names, and Perl's \d \s \w). */
struct named_class {
    const char *name;
    struct range r[5];
    size_t n;
};
static const struct named_class named_classes[] = {
    {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}, 3},
    {"alpha", {{'A', 'Z'}, {'a', 'z'}}, 2},
    {"ascii", {{0, 0x7F}}, 1},
    {"blank", {{'\t', '\t'}, {' ', ' '}}, 2},
    {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}, 2},
    {"digit", {{'0', '9'}}, 1},
    {"graph", {{'!', '~'}}, 1},
    {"lower", {{'a', 'z'}}, 1},
    {"print", {{' ', '~'}}, 1},
    {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}, 4},
    {"space", {{'\t', '\r'}, {' ', ' '}}, 2},
    {"upper", {{'A', 'Z'}}, 1},
    {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, 4},
    {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}, 3},
    /* Perl's, by their letter */
    {"d", {{'0', '9'}}, 1},
    {"s", {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}}, 3},
    {"w", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, 4},
};

static const struct named_class *find_class(const char *name, size_t len)
{
    for (size_t i = 0; i < TUG_ARRAY_SIZE(named_classes); i++)
        if (strlen(named_classes[i].name) == len && memcmp(named_classes[i].name, name, len) == 0)
            return &named_classes[i];
    return NULL;
}

/* The compiler's cursor over one pattern's text. */
struct cursor {
    const char *s;
    size_t len, pos;
    const char *why; /* why the pattern is refused */
};

static bool at_end(const struct cursor *c)
{
    return c->pos >= c->len;
}

static uint32_t peek(const struct cursor *c, size_t *ret_n)
{
    return decode_rune(c->s + c->pos, c->len - c->pos, ret_n);
}

static uint32_t next_rune(struct cursor *c)
{
    size_t n;
    uint32_t r = peek(c, &n);
    c->pos += n;
    return r;
}

/* A Perl class letter (d, D, s, S, w, W): its class, negated for the capitals. */
static const struct named_class *perl_class(uint32_t r, bool *ret_negated)
{
    if (r >= 'A' && r <= 'Z') {
        *ret_negated = true;
        r = r - 'A' + 'a';
    } else {
        *ret_negated = false;
    }
    if (r != 'd' && r != 's' && r != 'w')
        return NULL;
    char name = (char)r;
    return find_class(&name, 1);
}

/* The character an escape outside a class stands for (the backslash consumed): -1 when it is a
 * Perl class (then *ret_class), -2 when tug refuses it. */
static int64_t escaped_char(struct cursor *c, const struct named_class **ret_class,
                            bool *ret_negated)
{
    uint32_t r = next_rune(c);
    *ret_class = NULL;
    if (r < 0x80 && !(r >= '0' && r <= '9') && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z'))
        return r;
    switch (r) {
    case 'a':
        return 7;
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    default:
        break;
    }
    *ret_class = perl_class(r, ret_negated);
    if (*ret_class)
        return -1;
    c->why = "this escape (a digit, \\p, \\Q, \\x or an unknown letter) has a regular-expression "
             "meaning in docker that tug does not give it; escape only punctuation";
    return -2;
}

/* One member of a bracket expression, escapes resolved: 0 and *ret, or 1 when it was a Perl
 * class (\d) added to cs; < 0 when refused (c->why) or out of memory (-ENOMEM). */
static int set_member(struct cursor *c, struct charset *cs, uint32_t *ret)
{
    uint32_t r = next_rune(c);
    if (r == '*' || r == '?') {
        c->why = "'*' and '?' inside [...] are not wildcards there (escape them: \\*)";
        return -1;
    }
    if (r != '\\') {
        *ret = r;
        return 0;
    }
    if (at_end(c)) {
        c->why = "trailing \\";
        return -1;
    }
    const struct named_class *pc;
    bool neg;
    int64_t e = escaped_char(c, &pc, &neg);
    if (e == -2)
        return -1;
    if (e == -1)
        return set_add_all(cs, pc->r, pc->n, neg) < 0 ? -ENOMEM : 1;
    *ret = (uint32_t)e;
    return 0;
}

/* "[:name:]" or "[:^name:]" at the cursor: 1 when it was one (added to cs), 0 when the '[' is
 * a plain character, < 0 when the name is unknown or memory ran out. */
static int set_named(struct cursor *c, struct charset *cs)
{
    if (c->len - c->pos < 2 || c->s[c->pos] != '[' || c->s[c->pos + 1] != ':')
        return 0;
    const char *name = c->s + c->pos + 2;
    const char *end = memmem(name, c->len - c->pos - 2, ":]", 2);
    if (end == NULL)
        return 0;
    bool neg = name < end && *name == '^';
    const struct named_class *nc = find_class(name + neg, (size_t)(end - name) - neg);
    if (nc == NULL || nc->name[1] == '\0') {
        c->why = "unknown character class name";
        return -1;
    }
    if (set_add_all(cs, nc->r, nc->n, neg) < 0)
        return -ENOMEM;
    c->pos = (size_t)(end + 2 - c->s);
    return 1;
}

/* A bracket expression as docker's regexp reads it; the cursor is past the '['. */
static int compile_set(struct cursor *c, struct charset *cs)
{
    if (!at_end(c) && c->s[c->pos] == '^') {
        cs->negated = true;
        c->pos++;
    }
    for (bool first = true;; first = false) {
        if (at_end(c)) {
            c->why = "missing ]";
            return -1;
        }
        if (c->s[c->pos] == ']' && !first) {
            c->pos++;
            return 0;
        }
        int k = set_named(c, cs);
        if (k != 0) {
            if (k < 0)
                return k;
            continue;
        }
        uint32_t lo, hi;
        if ((k = set_member(c, cs, &lo)) != 0) {
            if (k < 0)
                return k;
            continue;
        }
        hi = lo;
        /* "a-" before "]" is 'a' and '-' */
        if (c->len - c->pos >= 2 && c->s[c->pos] == '-' && c->s[c->pos + 1] != ']') {
            c->pos++;
            if ((k = set_member(c, cs, &hi)) < 0)
                return k;
            if (k > 0 || hi < lo) {
                c->why = "invalid character class range";
                return -1;
            }
        }
        if (set_add(cs, lo, hi) < 0)
            return -ENOMEM;
    }
}

static int add_set_item(struct pattern *p, struct item **ret)
{
    struct item *it = add_item(p, IT_SET, 0);
    if (it == NULL || (it->set = calloc(1, sizeof(*it->set))) == NULL)
        return -ENOMEM;
    *ret = it;
    return 0;
}

/* One "\\" escape outside brackets (the cursor past the backslash, not at the end). */
static int compile_escape(struct pattern *p, struct cursor *c)
{
    /* the assertions of Go's regexp syntax */
    static const struct {
        char letter;
        item_kind kind;
    } asserts[] = {{'A', IT_BOL}, {'z', IT_EOL}, {'b', IT_WORDB}, {'B', IT_NWORDB}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(asserts); i++) {
        if (c->s[c->pos] == asserts[i].letter) {
            c->pos++;
            return add_item(p, asserts[i].kind, 0) ? 0 : -ENOMEM;
        }
    }
    const struct named_class *pc;
    bool neg;
    int64_t e = escaped_char(c, &pc, &neg);
    if (e == -2)
        return -1;
    if (e >= 0)
        return add_item(p, IT_LIT, (uint32_t)e) ? 0 : -ENOMEM;
    struct item *it;
    if (add_set_item(p, &it) < 0 || set_add_all(it->set, pc->r, pc->n, neg) < 0)
        return -ENOMEM;
    return 0;
}

/* "**" (the cursor past both stars): docker's prefix, suffix or "any directories" forms. */
static int compile_double_star(struct pattern *p, struct cursor *c, size_t i, match_type *type)
{
    if (!at_end(c) && c->s[c->pos] == '/')
        c->pos++;
    if (!at_end(c)) {
        if (!add_item(p, IT_DIRS_OPT, 0) || !add_item(p, IT_DIRS_LOOP, 0))
            return -ENOMEM;
        *type = MT_REGEX;
    } else if (*type == MT_EXACT) {
        *type = MT_PREFIX;
    } else {
        if (!add_item(p, IT_TAIL, 0))
            return -ENOMEM;
        *type = MT_REGEX;
    }
    if (i == 0)
        *type = MT_SUFFIX;
    return 0;
}

/* Translate a cleaned pattern as docker's patternmatcher does: a plain string, a prefix before a
 * final "**", a suffix after a leading "**", or (the general case) a list of items. */
static int compile_pattern(struct pattern *p, const char **ret_why)
{
    struct cursor c = {p->text, strlen(p->text), 0, NULL};
    /* docker reads the pattern with Go's text/scanner, which drops a leading BOM */
    if (strncmp(p->text, "\xEF\xBB\xBF", 3) == 0)
        c.pos = 3;
    match_type type = MT_EXACT;
    int r = 0;
    for (size_t i = 0; !at_end(&c) && r == 0; i++) {
        uint32_t ch = next_rune(&c);
        struct item *it;
        switch (ch) {
        case '*':
            if (!at_end(&c) && c.s[c.pos] == '*') {
                c.pos++;
                r = compile_double_star(p, &c, i, &type);
                break;
            }
            r = add_item(p, IT_STAR, 0) ? 0 : -ENOMEM;
            type = MT_REGEX;
            break;
        case '?':
            r = add_item(p, IT_ANY, 0) ? 0 : -ENOMEM;
            type = MT_REGEX;
            break;
        case '\\':
            /* a trailing backslash never gets here: Go's glob check refuses it first */
            r = at_end(&c) ? (add_item(p, IT_LIT, ch) ? 0 : -ENOMEM) : compile_escape(p, &c);
            type = MT_REGEX;
            break;
        case '[':
            r = add_set_item(p, &it);
            if (r == 0)
                r = compile_set(&c, it->set);
            type = MT_REGEX;
            break;
        case ']':
            r = add_item(p, IT_LIT, ch) ? 0 : -ENOMEM;
            type = MT_REGEX;
            break;
        case '^': /* docker leaves it unescaped: the regexp's "at the start" */
            r = add_item(p, IT_BOL, 0) ? 0 : -ENOMEM;
            break;
        default:
            r = add_item(p, IT_LIT, ch) ? 0 : -ENOMEM;
            break;
        }
    }
    if (r < 0) {
        *ret_why = r == -ENOMEM ? NULL : c.why;
        return r;
    }
    p->type = type;
    return 0;
}

static bool is_word(uint32_t r)
{
    return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || r == '_';
}

/* Run the items over s as one anchored match: a set of live item positions, one rune at a
 * time, so a pattern of many stars costs its length times the path's, never more. */
static bool match_items(const struct pattern *p, const char *s, size_t len)
{
    size_t m = p->n_items;
    unsigned char small[2][256];
    unsigned char *cur = small[0], *nxt = small[1], *heap = NULL;
    if (m + 1 > sizeof(small[0])) {
        heap = calloc(2, m + 1);
        if (heap == NULL)
            return false;
        cur = heap;
        nxt = heap + m + 1;
    }
    memset(cur, 0, m + 1);
    cur[0] = 1;
    bool any = true;
    uint32_t prev = 0; /* the rune before pos */
    for (size_t pos = 0;;) {
        /* epsilon moves go forward only: one pass in order closes the set */
        for (size_t i = 0; i < m; i++) {
            if (!cur[i])
                continue;
            switch (p->items[i].kind) {
            case IT_STAR:
            case IT_TAIL:
                cur[i + 1] = 1;
                break;
            case IT_DIRS_OPT:
                cur[i + 1] = 1;
                cur[i + 2] = 1;
                break;
            case IT_BOL:
                cur[i + 1] |= pos == 0;
                break;
            case IT_EOL:
                cur[i + 1] |= pos == len;
                break;
            case IT_WORDB:
            case IT_NWORDB: {
                size_t w;
                bool next = pos < len && is_word(decode_rune(s + pos, len - pos, &w));
                bool boundary = (pos > 0 && is_word(prev)) != next;
                cur[i + 1] |= boundary == (p->items[i].kind == IT_WORDB);
                break;
            }
            default:
                break;
            }
        }
        if (pos == len || !any)
            break;
        size_t w;
        uint32_t r = decode_rune(s + pos, len - pos, &w);
        pos += w;
        prev = r;
        memset(nxt, 0, m + 1);
        any = false;
        for (size_t i = 0; i < m; i++) {
            if (!cur[i])
                continue;
            const struct item *it = &p->items[i];
            size_t to = 0; /* the state r leads to, plus one; 0: none */
            switch (it->kind) {
            case IT_LIT:
                to = r == it->rune ? i + 2 : 0;
                break;
            case IT_ANY:
                to = r != '/' ? i + 2 : 0;
                break;
            case IT_SET:
                to = set_match(it->set, r) ? i + 2 : 0;
                break;
            case IT_STAR:
                to = r != '/' ? i + 1 : 0;
                break;
            case IT_TAIL:
                to = r != '\n' ? i + 1 : 0;
                break;
            case IT_DIRS_LOOP:
                to = r != '\n' ? i + 1 : 0;
                if (r == '/')
                    nxt[i + 1] = 1, any = true;
                break;
            case IT_DIRS_OPT:
            case IT_BOL:
            case IT_EOL:
            case IT_WORDB:
            case IT_NWORDB:
                break;
            }
            if (to) {
                nxt[to - 1] = 1;
                any = true;
            }
        }
        unsigned char *t = cur;
        cur = nxt;
        nxt = t;
    }
    bool matched = any && cur[m];
    free(heap);
    return matched;
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return n <= len && memcmp(s + len - n, suffix, n) == 0;
}

/* One pattern against s[0..len) (a path or one of its parents). */
static bool pattern_match(const struct pattern *p, const char *s, size_t len)
{
    size_t tl;
    switch (p->type) {
    case MT_EXACT:
        return strlen(p->text) == len && memcmp(p->text, s, len) == 0;
    case MT_PREFIX:
        tl = strlen(p->text) - 2;
        return tl <= len && memcmp(p->text, s, tl) == 0;
    case MT_SUFFIX: {
        const char *suffix = p->text + 2;
        if (has_suffix(s, len, suffix))
            return true;
        return suffix[0] == '/' && strlen(suffix + 1) == len && memcmp(suffix + 1, s, len) == 0;
    }
    case MT_REGEX:
        return match_items(p, s, len);
    }
    return false;
}

/* fsutil's pruning test reads the pattern without a trailing "/ **", then without a "/ *". */
static char *trim_trailing_glob(const char *text)
{
    size_t n = strlen(text);
    if (n >= 3 && memcmp(text + n - 3, "/**", 3) == 0)
        n -= 3;
    if (n >= 2 && memcmp(text + n - 2, "/*", 2) == 0)
        n -= 2;
    return strndup(text, n);
}

/* patternmatcher.New for one pattern (already trimmed by the caller as ReadAll does or not). */
static int add_pattern(tug_ignore *ig, const char *raw, size_t rawlen, const char *what,
                       size_t line, tug_error **err)
{
    char where[64] = "";
    if (line > 0)
        snprintf(where, sizeof(where), " line %zu", line);
    trim_space(&raw, &rawlen);
    if (rawlen == 0)
        return 0;
    cleanup_free char *cleaned = clean_n(raw, rawlen);
    if (cleaned == NULL)
        return tug_error_set(err, ENOMEM, "%s", what);
    bool exception = cleaned[0] == '!';
    if (exception && cleaned[1] == '\0')
        return tug_error_user(err, "%s%s: illegal exclusion pattern: \"!\"", what, where);
    const char *text = cleaned + exception;
    if (tug_glob_match_path(text, ".") < 0)
        return tug_error_user(err, "%s%s: syntax error in pattern \"%s\"", what, where, cleaned);
    struct pattern *v = realloc(ig->p, (ig->n + 1) * sizeof(*v));
    if (v == NULL)
        return tug_error_set(err, ENOMEM, "%s", what);
    ig->p = v;
    struct pattern *p = &ig->p[ig->n];
    *p = (struct pattern){.exception = exception};
    p->text = strdup(text);
    p->shown = strdup(cleaned);
    p->trimmed = p->text ? trim_trailing_glob(p->text) : NULL;
    const char *why = NULL;
    int r = p->text && p->shown && p->trimmed ? compile_pattern(p, &why) : -ENOMEM;
    if (r < 0) {
        pattern_clear(p);
        if (why == NULL)
            return tug_error_set(err, ENOMEM, "%s", what);
        return tug_error_user(err, "%s%s: pattern \"%s\": %s", what, where, cleaned, why);
    }
    ig->n++;
    if (exception) {
        ig->exceptions = true;
        if (strpbrk(p->trimmed, "*[]?^\\"))
            ig->only_prefix_exceptions = false;
    }
    return 0;
}

static tug_ignore *ignore_alloc(void)
{
    tug_ignore *ig = calloc(1, sizeof(*ig));
    if (ig)
        ig->only_prefix_exceptions = true;
    return ig;
}

/* One line as docker's ignorefile.ReadAll makes it a pattern: into *ret (NULL to skip it). */
static char *read_line_pattern(const char *line, size_t len)
{
    if (len > 0 && line[0] == '#')
        return NULL;
    trim_space(&line, &len);
    if (len == 0)
        return NULL;
    bool invert = line[0] == '!';
    if (invert) {
        line++, len--;
        trim_space(&line, &len);
    }
    char *clean = NULL, *out = NULL;
    if (len > 0) {
        clean = clean_n(line, len);
        if (clean == NULL)
            return strdup(""); /* the caller sees an empty string for out of memory */
    }
    const char *body = clean ? clean : "";
    if (strlen(body) > 1 && body[0] == '/')
        body++;
    if (asprintf(&out, "%s%s", invert ? "!" : "", body) < 0)
        out = strdup("");
    free(clean);
    return out;
}

int tug_ignore_parse(const char *text, size_t len, const char *name, tug_ignore **ret_ignore,
                     tug_error **err)
{
    tug_ignore *ig = ignore_alloc();
    if (ig == NULL)
        return tug_error_set(err, ENOMEM, "%s", name);
    cleanup_ignore tug_ignore *guard = ig;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3, len -= 3;
    size_t lineno = 0;
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t n = nl ? (size_t)(nl - text) : len;
        size_t linelen = n > 0 && text[n - 1] == '\r' ? n - 1 : n;
        lineno++;
        cleanup_free char *pat = read_line_pattern(text, linelen);
        if (pat && pat[0] == '\0')
            return tug_error_set(err, ENOMEM, "%s", name);
        if (pat && add_pattern(ig, pat, strlen(pat), name, lineno, err) < 0)
            return -1;
        text += nl ? n + 1 : n;
        len -= nl ? n + 1 : n;
    }
    *ret_ignore = steal_pointer(&guard);
    return 0;
}

int tug_ignore_new(const char *const *patterns, size_t n, const char *what, tug_ignore **ret_ignore,
                   tug_error **err)
{
    tug_ignore *ig = ignore_alloc();
    if (ig == NULL)
        return tug_error_set(err, ENOMEM, "%s", what);
    cleanup_ignore tug_ignore *guard = ig;
    for (size_t i = 0; i < n; i++)
        if (add_pattern(ig, patterns[i], strlen(patterns[i]), what, 0, err) < 0)
            return -1;
    *ret_ignore = steal_pointer(&guard);
    return 0;
}

size_t tug_ignore_count(const tug_ignore *ig)
{
    return ig ? ig->n : 0;
}

const char *tug_ignore_pattern(const tug_ignore *ig, size_t i)
{
    return ig && i < ig->n ? ig->p[i].shown : NULL;
}

bool tug_ignore_has_exceptions(const tug_ignore *ig)
{
    return ig && ig->exceptions;
}

size_t tug_ignore_state_size(const tug_ignore *ig)
{
    return ig ? ig->n : 0;
}

/* Whether docker walks into an excluded directory: fsutil's test, which reads only the text
 * of the exceptions (so that the walk's result is docker's, pruning included). */
static bool may_include_below(const tug_ignore *ig, const char *dir)
{
    if (!ig->exceptions)
        return false;
    if (!ig->only_prefix_exceptions)
        return true;
    size_t dl = strlen(dir);
    for (size_t i = 0; i < ig->n; i++) {
        const struct pattern *p = &ig->p[i];
        if (!p->exception)
            continue;
        /* trimmed + "/" starts with dir + "/" */
        size_t tl = strlen(p->trimmed);
        if (tl >= dl && memcmp(p->trimmed, dir, dl) == 0 && (tl == dl || p->trimmed[dl] == '/'))
            return true;
    }
    return false;
}

tug_ignore_verdict tug_ignore_check(const tug_ignore *ig, const char *path, bool is_dir,
                                    const unsigned char *parent_state, unsigned char *ret_state)
{
    if (ig == NULL || ig->n == 0)
        return TUG_IGNORE_INCLUDED;
    size_t len = strlen(path);
    bool matched = false;
    for (size_t i = 0; i < ig->n; i++) {
        const struct pattern *p = &ig->p[i];
        bool match = parent_state ? parent_state[i] != 0 : false;
        if (!match) {
            if (p->exception != matched) {
                if (ret_state)
                    ret_state[i] = 0;
                continue;
            }
            match = pattern_match(p, path, len);
            /* with no parent results, docker tries each parent directory in turn */
            for (size_t k = 0; !match && parent_state == NULL && k < len; k++)
                if (path[k] == '/')
                    match = pattern_match(p, path, k);
        }
        if (ret_state)
            ret_state[i] = match;
        if (match)
            matched = !p->exception;
    }
    if (!matched)
        return TUG_IGNORE_INCLUDED;
    if (!is_dir || may_include_below(ig, path))
        return TUG_IGNORE_EXCLUDED;
    return TUG_IGNORE_PRUNED;
}

tug_ignore_verdict tug_ignore_check_path(const tug_ignore *ig, const char *path, bool is_dir)
{
    if (ig == NULL || ig->n == 0)
        return TUG_IGNORE_INCLUDED;
    cleanup_free unsigned char *states = calloc(2, ig->n);
    cleanup_free char *buf = strdup(path);
    if (states == NULL || buf == NULL)
        return TUG_IGNORE_PRUNED; /* out of memory: say it is not there rather than guess */
    unsigned char *parent = NULL, *mine = states;
    for (char *slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        tug_ignore_verdict v = tug_ignore_check(ig, buf, true, parent, mine);
        *slash = '/';
        if (v == TUG_IGNORE_PRUNED)
            return v;
        parent = mine;
        mine = mine == states ? states + ig->n : states;
    }
    return tug_ignore_check(ig, path, is_dir, parent, NULL);
}
