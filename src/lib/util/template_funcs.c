/* The functions templates call: Go's (and/or aside, which template.c evaluates lazily)
 * and docker's, with printf and Go's messages for what they refuse. */
#include <ctype.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "cleanup.h"
#include "template_impl.h"

__attribute__((format(printf, 2, 3))) static int fail(tpl_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A string argument, or a Go type error. */
static const char *want_str(tpl_call *c, size_t i)
{
    json_t *v = c->argv[i];
    if (json_is_string(v))
        return json_string_value(v);
    c->bad_arg = i;
    c->want = "string";
    fail(c, "wrong type for value; expected string; got %s", v ? tpl_type_name(v) : "<nil>");
    return NULL;
}

static bool want_int(tpl_call *c, size_t i, json_int_t *ret)
{
    json_t *v = c->argv[i];
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return true;
    }
    c->bad_arg = i;
    c->want = "int";
    fail(c, "wrong type for value; expected int; got %s", v ? tpl_type_name(v) : "<nil>");
    return false;
}

static int ret_str(tpl_call *c, const char *s, size_t n)
{
    c->ret = json_stringn_nocheck(s, n);
    return c->ret ? 0 : fail(c, "out of memory");
}

static int ret_buf(tpl_call *c, tug_strbuf *b)
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
    /* Go compares an int with an int and a float with a float, never across */
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_real(a) && json_is_real(b)) {
        double x = json_real_value(a), y = json_real_value(b);
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

static int fn_eq(tpl_call *c)
{
    if (c->argc < 2)
        return fail(c, "missing argument for comparison");
    /* the first equal one answers, before later ones are looked at (Go) */
    for (size_t i = 1; i < c->argc; i++) {
        int r = compare(c->argv[0], c->argv[i]);
        if (r == -3)
            return fail(c, "non-comparable type %s", tpl_type_name(c->argv[c->argv[0] ? i : 0]));
        if (r == -2)
            return fail(c, "incompatible types for comparison");
        if (r == 0) {
            c->ret = json_true();
            return 0;
        }
    }
    c->ret = json_false();
    return 0;
}

static int fn_cmp(tpl_call *c, const char *name)
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

static int fn_len(tpl_call *c)
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
        return fail(c, "len of type %s", tpl_type_name(v));
    return 0;
}

static int fn_index(tpl_call *c)
{
    json_t *cur = c->argv[0];
    for (size_t i = 1; i < c->argc; i++) {
        json_t *k = c->argv[i];
        if (cur == NULL || json_is_null(cur))
            return fail(c, "index of untyped nil");
        if (json_is_array(cur) || json_is_string(cur)) {
            if (!json_is_integer(k))
                return fail(c, "cannot index slice/array with type %s", tpl_type_name(k));
            json_int_t x = json_integer_value(k);
            size_t n = json_is_array(cur) ? json_array_size(cur) : json_string_length(cur);
            /* Go checks x > len itself, and x == len trips reflect's own check */
            if (x < 0 || (size_t)x > n)
                return fail(c, "index out of range: %" JSON_INTEGER_FORMAT, x);
            if ((size_t)x == n)
                return fail(c, "reflect: %s index out of range",
                            json_is_string(cur) ? "string" : "slice");
            if (json_is_string(cur)) {
                c->ret = json_integer((unsigned char)json_string_value(cur)[x]);
                return i + 1 == c->argc ? 0 : fail(c, "can't index item of type uint8");
            }
            cur = json_array_get(cur, (size_t)x);
        } else if (json_is_object(cur)) {
            if (!json_is_string(k))
                return fail(c, "value has type %s; should be string", tpl_type_name(k));
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
            return fail(c, "can't index item of type %s", tpl_type_name(cur));
    }
    c->ret = json_incref(cur);
    return 0;
}

static int fn_slice(tpl_call *c)
{
    json_t *v = c->argv[0];
    size_t n = json_is_array(v)    ? json_array_size(v)
               : json_is_string(v) ? json_string_length(v)
                                   : 0;
    if (!json_is_array(v) && !json_is_string(v))
        return fail(c, "can't slice item of type %s", tpl_type_name(v));
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
        tpl_format_into(b, v, 0);
}

static int fn_print(tpl_call *c, bool ln)
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
        tug_strbuf_adds(b, tpl_type_name(v));
        tug_strbuf_addc(b, '=');
        tpl_format_into(b, v, 0);
    }
    tug_strbuf_addc(b, ')');
}

/* One verb of printf; spec is the "%-5.2" part, for snprintf. */
static void printf_verb(tug_strbuf *b, char verb, const char *flags, long width, long prec,
                        json_t *v, int depth)
{
    if (depth > 50)
        return;
    bool left = strchr(flags, '-') != NULL, zero = strchr(flags, '0') != NULL && !left;
    char buf[512];
    if (json_is_array(v) && verb != 'v') {
        /* fmt applies the verb to each element of a slice: [%q %q] */
        tug_strbuf_addc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                tug_strbuf_addc(b, ' ');
            printf_verb(b, verb, flags, width, prec, json_array_get(v, i), depth + 1);
        }
        tug_strbuf_addc(b, ']');
        return;
    }
    if (verb == 'q' && json_is_integer(v) && json_integer_value(v) >= 0x20 &&
        json_integer_value(v) < 0x7f) {
        /* a rune, quoted */
        char r[8];
        json_int_t x = json_integer_value(v);
        snprintf(r, sizeof(r), x == '\'' || x == '\\' ? "'\\%c'" : "'%c'", (char)x);
        pad_to(b, r, strlen(r), width, left, zero);
        return;
    }
    if (verb == 'U' && json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "U+%04llX", (unsigned long long)json_integer_value(v));
        pad_to(b, buf, strlen(buf), width, left, zero);
        return;
    }
    if (verb == 'v' || verb == 's' || verb == 'q') {
        if (verb != 'v' && !json_is_string(v)) {
            bad_verb(b, verb, v);
            return;
        }
        if (v == NULL || (json_is_null(v) && verb == 'v')) {
            pad_to(b, "<nil>", 5, width, left, false);
            return;
        }
        tug_strbuf t = {0};
        tpl_format_into(&t, v, 0);
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
        /* Go writes a negative number in hex or octal as a sign and its magnitude */
        bool neg = x < 0 && verb != 'd';
        unsigned long long mag = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        if (neg)
            snprintf(fmt, sizeof(fmt), "-%%%s", conv);
        if (neg)
            snprintf(buf, sizeof(buf), fmt, mag);
        else if (prec >= 0)
            snprintf(buf, sizeof(buf), fmt, (int)prec, x);
        else
            snprintf(buf, sizeof(buf), fmt, x);
        tug_strbuf_adds(b, buf);
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

static int fn_printf(tpl_call *c)
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
                    prec, c->argv[argi++], 0);
    }
    if (argi < c->argc) {
        tug_strbuf_adds(&b, "%!(EXTRA ");
        for (size_t i = argi; i < c->argc; i++) {
            if (i > argi)
                tug_strbuf_adds(&b, ", ");
            tug_strbuf_adds(&b, c->argv[i] ? tpl_type_name(c->argv[i]) : "<nil>");
            tug_strbuf_addc(&b, '=');
            add_value(&b, c->argv[i]);
        }
        tug_strbuf_addc(&b, ')');
    }
    return ret_buf(c, &b);
}

/* docker's json: compact, <>& kept as they are (its encoder does not escape HTML) but for a
 * list row, which marshals itself; "@" methods left out. */
static int fn_json(tpl_call *c)
{
    json_t *v = c->argv[0];
    json_t *copy = NULL;
    if (json_is_object(v)) {
        copy = json_object();
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val)
        {
            if (!tpl_is_method_key(k))
                json_object_set(copy, k, val);
        }
        v = copy;
    }
    /* a docker row marshals as a map: sorted keys; a document keeps its struct order */
    size_t order = c->o->type_name ? JSON_SORT_KEYS : JSON_PRESERVE_ORDER;
    cleanup_free char *s =
        v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | order) : strdup("null");
    json_decref(copy);
    if (!(c->o->type_name && c->argv[0] == c->root))
        return ret_str(c, s ? s : "null", s ? strlen(s) : 4);
    /* a docker row marshals itself with encoding/json, which escapes <, > and & */
    tug_strbuf b = {0};
    for (const char *p = s ? s : "null"; *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&') {
            char u[8];
            snprintf(u, sizeof(u), "\\u00%02x", (unsigned char)*p);
            tug_strbuf_adds(&b, u);
        } else
            tug_strbuf_addc(&b, *p);
    }
    return ret_buf(c, &b);
}

static int fn_join(tpl_call *c)
{
    if (!json_is_array(c->argv[0])) {
        c->bad_arg = 0;
        c->want = "[]string";
        return fail(c, "wrong type for value; expected []string; got %s",
                    tpl_type_name(c->argv[0]));
    }
    const char *sep = want_str(c, 1);
    if (sep == NULL)
        return -1;
    tug_strbuf b = {0};
    for (size_t i = 0; i < json_array_size(c->argv[0]); i++) {
        if (i)
            tug_strbuf_adds(&b, sep);
        add_value(&b, json_array_get(c->argv[0], i));
    }
    return ret_buf(c, &b);
}

static int fn_split(tpl_call *c)
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

/* Unicode case mapping needs a UTF-8 LC_CTYPE; glibc always has C.UTF-8. */
static locale_t utf8_locale(void)
{
    static locale_t loc;
    static bool tried;
    if (!tried) {
        tried = true;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return loc;
}

/* One UTF-8 rune at s and its length; a byte that starts none stands for itself. */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret)
{
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    uint32_t r = n == 1 ? s[0] : s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *ret = s[0];
            return 1;
        }
        r = r << 6 | (s[i] & 0x3F);
    }
    *ret = r;
    return n;
}

void tpl_utf8_encode(tug_strbuf *b, uint32_t r)
{
    char u[4];
    size_t n;
    if (r < 0x80)
        u[0] = (char)r, n = 1;
    else if (r < 0x800)
        u[0] = (char)(0xC0 | r >> 6), u[1] = (char)(0x80 | (r & 0x3F)), n = 2;
    else if (r < 0x10000)
        u[0] = (char)(0xE0 | r >> 12), u[1] = (char)(0x80 | ((r >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (r & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | r >> 18), u[1] = (char)(0x80 | ((r >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((r >> 6) & 0x3F)), u[3] = (char)(0x80 | (r & 0x3F)), n = 4;
    tug_strbuf_add(b, u, n);
}

static int fn_case(tpl_call *c, char how)
{
    const char *s = want_str(c, 0);
    if (s == NULL)
        return -1;
    locale_t loc = utf8_locale();
    tug_strbuf b = {0};
    bool start = true;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t r;
        size_t n = utf8_decode(p, &r);
        bool bad = n == 1 && r >= 0x80; /* kept byte for byte */
        wint_t w = (wint_t)r;
        if (bad)
            tug_strbuf_addc(&b, (char)*p);
        else {
            bool word = loc ? (iswalnum_l(w, loc) || w == '_') : (isalnum((int)w) || w == '_');
            if (how == 'u' || (how == 't' && start))
                w = loc ? towupper_l(w, loc) : (wint_t)toupper((int)(w < 0x80 ? w : 0));
            else if (how == 'l')
                w = loc ? towlower_l(w, loc) : (wint_t)tolower((int)(w < 0x80 ? w : 0));
            /* title: each word's first letter up, the rest as it was; words are letters,
             * digits and _ (Go's strings.Title: "don't" is "Don'T") */
            start = !word;
            tpl_utf8_encode(&b, w ? (uint32_t)w : r);
        }
        p += n;
    }
    return ret_buf(c, &b);
}

static int fn_pad(tpl_call *c)
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

static int fn_truncate(tpl_call *c)
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

static int fn_not(tpl_call *c)
{
    c->ret = json_boolean(!tpl_truthy(c->argv[0]));
    return 0;
}

static int fn_println(tpl_call *c)
{
    return fn_print(c, true);
}
static int fn_sprint(tpl_call *c)
{
    return fn_print(c, false);
}
static int fn_upper(tpl_call *c)
{
    return fn_case(c, 'u');
}
static int fn_lower(tpl_call *c)
{
    return fn_case(c, 'l');
}
static int fn_title(tpl_call *c)
{
    return fn_case(c, 't');
}

static const tpl_fn fn_table[] = {
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

const tpl_fn *tpl_fn_find(const char *name)
{
    for (size_t i = 0; i < TUG_ARRAY_SIZE(fn_table); i++)
        if (strcmp(fn_table[i].name, name) == 0)
            return &fn_table[i];
    return NULL;
}
