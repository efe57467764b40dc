#include "strutil.h"

#include "cleanup.h"

#include <ctype.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

char *tug_human_size(double size, int precision)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    int i = 0;
    while (size >= 1000.0 && i < 8) {
        size /= 1000.0;
        i++;
    }
    char *out = NULL;
    if (asprintf(&out, "%.*g%s", precision, size, units[i]) < 0)
        return NULL;
    return out;
}

/* docker's units.BytesSize: binary units, four significant digits (1.234MiB, 23.54GiB). */
char *tug_human_size_binary(double size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int i = 0;
    while (size >= 1024.0 && i < 6) {
        size /= 1024.0;
        i++;
    }
    char *out = NULL;
    return asprintf(&out, "%.4g%s", size, units[i]) < 0 ? NULL : out;
}

char *tug_human_duration(long long seconds)
{
    char *out = NULL;
    long long minutes = seconds / 60;
    long long hours = (long long)((double)seconds / 3600.0 + 0.5);
    int r;
    if (seconds < 1)
        r = asprintf(&out, "Less than a second");
    else if (seconds == 1)
        r = asprintf(&out, "1 second");
    else if (seconds < 60)
        r = asprintf(&out, "%lld seconds", seconds);
    else if (minutes == 1)
        r = asprintf(&out, "About a minute");
    else if (minutes < 60)
        r = asprintf(&out, "%lld minutes", minutes);
    else if (hours == 1)
        r = asprintf(&out, "About an hour");
    else if (hours < 48)
        r = asprintf(&out, "%lld hours", hours);
    else if (hours < 24 * 7 * 2)
        r = asprintf(&out, "%lld days", hours / 24);
    else if (hours < 24 * 30 * 2)
        r = asprintf(&out, "%lld weeks", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        r = asprintf(&out, "%lld months", hours / 24 / 30);
    else
        r = asprintf(&out, "%lld years", (long long)((double)seconds / 3600.0 / 24 / 365));
    return r < 0 ? NULL : out;
}

char *tug_time_ago(long long unix_time)
{
    if (unix_time <= 0)
        return strdup("N/A");
    long long now = (long long)time(NULL);
    char *d = tug_human_duration(now > unix_time ? now - unix_time : 0);
    char *out = NULL;
    if (d == NULL || asprintf(&out, "%s ago", d) < 0)
        out = NULL;
    free(d);
    return out;
}

char *tug_ellipsis(const char *s, size_t width)
{
    size_t chars = 0;
    const char *p = s;
    const char *cut = NULL;
    while (*p) {
        if (chars == (width > 0 ? width - 1 : 0) && cut == NULL)
            cut = p;
        chars++;
        p++;
        while ((*p & 0xC0) == 0x80)
            p++;
    }
    if (chars <= width)
        return strdup(s);
    if (width == 0)
        return strdup("");
    size_t n = (size_t)(cut - s);
    char *out = malloc(n + 4);
    if (out == NULL)
        return NULL;
    memcpy(out, s, n);
    memcpy(out + n, "\xe2\x80\xa6", 4);
    return out;
}

char *tug_format_rfc3339(long long sec, long nsec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    char base[64];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[32] = "";
    if (nsec > 0) {
        snprintf(frac, sizeof(frac), ".%09ld", nsec);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    char *out = NULL;
    if (asprintf(&out, "%s%sZ", base, frac) < 0)
        return NULL;
    return out;
}

int tug_parse_rfc3339(const char *s, long long *ret_sec, long *ret_nsec)
{
    struct tm tm = {0};
    if (s == NULL)
        return -1;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    long nsec = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                nsec = nsec * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 9)
            nsec *= 10;
    }
    long long offset = 0;
    if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%d:%d", &hh, &mm) != 2)
            return -1;
        offset = (hh * 3600LL + mm * 60LL) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z') {
        return -1;
    }
    *ret_sec = (long long)timegm(&tm) - offset;
    if (ret_nsec)
        *ret_nsec = nsec;
    return 0;
}

bool tug_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int tug_parse_size(const char *s, long long *ret)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0 || !isfinite(v))
        return -1;
    double mult = 1;
    switch (tolower((unsigned char)*end)) {
    case '\0':
        break;
    case 'b':
        break;
    case 'k':
        mult = 1024.0;
        break;
    case 'm':
        mult = 1024.0 * 1024;
        break;
    case 'g':
        mult = 1024.0 * 1024 * 1024;
        break;
    case 't':
        mult = 1024.0 * 1024 * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (*end) {
        end++;
        if (*end == 'b' || *end == 'B' || *end == 'i')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    double bytes = v * mult;
    if (bytes > 9.2e18)
        return -1;
    *ret = (long long)bytes;
    return 0;
}

int tug_parse_nano(const char *s, long long *ret)
{
    if (s == NULL)
        return -1;
    bool neg = *s == '-';
    const char *p = s + (neg || *s == '+');
    size_t whole = strspn(p, "0123456789");
    const char *frac = p + whole;
    size_t decimals = 0;
    if (*frac == '.') {
        frac++;
        decimals = strspn(frac, "0123456789");
    }
    if ((whole == 0 && decimals == 0) || frac[decimals] != '\0' || decimals > 9)
        return -1;
    unsigned long long v = 0;
    bool over = false;
    for (size_t i = 0; i < whole; i++)
        over |= __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, p[i] - '0', &v);
    over |= __builtin_mul_overflow(v, 1000000000ULL, &v);
    unsigned long long f = 0;
    for (size_t i = 0; i < 9; i++)
        f = f * 10 + (i < decimals ? (unsigned long long)(frac[i] - '0') : 0);
    over |= __builtin_add_overflow(v, f, &v) || v > (unsigned long long)LLONG_MAX;
    if (over)
        *ret = neg ? LLONG_MIN : LLONG_MAX;
    else
        *ret = neg ? -(long long)v : (long long)v;
    return 0;
}

bool tug_glob_match(const char *pattern, const char *s)
{
    return fnmatch(pattern, s, FNM_PATHNAME) == 0;
}

void tug_append_line(char **text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tug_append_linev(text, fmt, ap);
    va_end(ap);
}

void tug_append_linev(char **text, const char *fmt, va_list ap)
{
    char *line = NULL, *more = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        return;
    if (asprintf(&more, "%s%s\n", *text ? *text : "", line) >= 0) {
        free(*text);
        *text = more;
    }
    free(line);
}

long long tug_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool duration_digit(char c)
{
    return c >= '0' && c <= '9';
}

int tug_parse_go_duration(const char *s, int64_t *ret)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},           {"us", 1000},         {"\xc2\xb5s", 1000}, /* µs */
        {"\xce\xbcs", 1000},                                            /* μs */
        {"ms", 1000000},     {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL},
    };
    const uint64_t max = 1ULL << 63;
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (strcmp(s, "0") == 0) {
        *ret = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    uint64_t total = 0;
    while (*s) {
        if (*s != '.' && !duration_digit(*s))
            return -1;
        const char *start = s;
        uint64_t v = 0, f = 0;
        double scale = 1;
        for (; duration_digit(*s); s++) {
            if (v > max / 10)
                return -1;
            v = v * 10 + (uint64_t)(*s - '0');
            if (v > max)
                return -1;
        }
        bool pre = s != start, post = false;
        if (*s == '.') {
            const char *frac = ++s;
            bool overflow = false;
            for (; duration_digit(*s); s++) {
                if (overflow || f > (max - 1) / 10 || f * 10 + (uint64_t)(*s - '0') > max) {
                    overflow = true;
                    continue;
                }
                f = f * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
            post = s != frac;
        }
        if (!pre && !post)
            return -1;
        const char *u = s;
        while (*s && *s != '.' && !duration_digit(*s))
            s++;
        uint64_t unit = 0;
        for (size_t i = 0; i < TUG_ARRAY_SIZE(units); i++)
            if (strlen(units[i].name) == (size_t)(s - u) && memcmp(units[i].name, u, s - u) == 0)
                unit = units[i].ns;
        if (unit == 0 || v > max / unit)
            return -1;
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > max)
                return -1;
        }
        total += v;
        if (total > max)
            return -1;
    }
    if (!neg && total == max)
        return -1;
    *ret = neg ? (int64_t)(0 - total) : (int64_t)total;
    return 0;
}

void tug_strbuf_add(tug_strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    size_t need;
    if (__builtin_add_overflow(b->len, n + 1, &need)) {
        b->failed = true;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < need) {
            if (__builtin_mul_overflow(cap, 2, &cap)) {
                b->failed = true;
                return;
            }
        }
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void tug_strbuf_addc(tug_strbuf *b, char c)
{
    tug_strbuf_add(b, &c, 1);
}

void tug_strbuf_adds(tug_strbuf *b, const char *s)
{
    tug_strbuf_add(b, s, strlen(s));
}

char *tug_strbuf_steal(tug_strbuf *b)
{
    if (!b->failed && b->s == NULL)
        tug_strbuf_add(b, "", 0);
    char *s = b->failed ? NULL : b->s;
    if (b->failed)
        free(b->s);
    *b = (tug_strbuf){0};
    return s;
}

void tug_strbuf_free(tug_strbuf *b)
{
    free(b->s);
    *b = (tug_strbuf){0};
}


void tug_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof(b))
        nbytes = sizeof(b);
    if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
        /* no entropy source: the clock and pid make an ID unique enough for names */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long t = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
                               (unsigned long long)getpid();
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 131);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

char *tug_path_clean_to(const char *path, size_t n, char *out)
{
    bool rooted = path[0] == '/';
    size_t w = 0, dotdot = 0; /* dotdot: where a leading run of .. ends */
    if (rooted)
        out[w++] = '/', dotdot = 1;
    for (size_t r = 0; r < n;) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && r + 1 < n && path[r + 1] == '.' &&
                   (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}

char *tug_json_join_words(json_t *words)
{
    tug_strbuf b = {0};
    size_t i;
    json_t *a;
    json_array_foreach(words, i, a)
    {
        if (i)
            tug_strbuf_addc(&b, ' ');
        tug_strbuf_adds(&b, json_string_value(a) ? json_string_value(a) : "");
    }
    return tug_strbuf_steal(&b);
}

int tug_detach_keys_parse(const char *spec, unsigned char *out, size_t cap, size_t *ret_len)
{
    static const char ctrl[] = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
    size_t n = 0;
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t klen = end ? (size_t)(end - p) : strlen(p);
        if (klen == 1) {
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)p[0];
        } else if (klen == 6 && strncmp(p, "ctrl-", 5) == 0 && p[5] != '\0' &&
                   strchr(ctrl, p[5]) != NULL) {
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)(strchr(ctrl, p[5]) - ctrl);
        } else if (klen < 5 || strncmp(p, "ctrl-", 5) != 0) {
            return -1;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (n == 0)
        return -1;
    *ret_len = n;
    return 0;
}

bool tug_detach_filter(tug_detach_matcher *d, const char *in, size_t n, char *out,
                       size_t *ret_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)in[i];
        if (d->len > 0 && b == d->keys[d->matched]) {
            if (++d->matched == d->len) {
                d->matched = 0;
                *ret_len = o;
                return true;
            }
            continue;
        }
        /* not the sequence after all: what was held back goes through with this byte */
        memcpy(out + o, d->keys, d->matched);
        o += d->matched;
        d->matched = 0;
        out[o++] = (char)b;
    }
    *ret_len = o;
    return false;
}

bool tug_label_match(json_t *labels, const char *filter)
{
    const char *eq = strchr(filter, '=');
    cleanup_free char *key = eq ? strndup(filter, (size_t)(eq - filter)) : strdup(filter);
    json_t *v = key ? json_object_get(labels, key) : NULL;
    if (v == NULL)
        return false;
    return eq == NULL || (json_is_string(v) && strcmp(json_string_value(v), eq + 1) == 0);
}

int tug_parse_until(const char *v, long long *ret)
{
    int64_t ns = 0;
    long nsec = 0;
    char *end = NULL;
    if (tug_parse_go_duration(v, &ns) == 0 && ns >= 0) {
        *ret = (long long)time(NULL) - ns / 1000000000LL;
        return 0;
    }
    long long sec = strtoll(v, &end, 10);
    if (end != v && (*end == '\0' || *end == '.')) {
        *ret = sec;
        return 0;
    }
    return tug_parse_rfc3339(v, ret, &nsec);
}

bool tug_prune_match(const tug_prune_filter *f, json_t *labels, long long created)
{
    if (f == NULL)
        return true;
    if (f->until && created >= f->until)
        return false;
    for (size_t k = 0; k < f->nlabels; k++)
        if (!tug_label_match(labels, f->labels[k]))
            return false;
    for (size_t k = 0; k < f->nnolabels; k++)
        if (tug_label_match(labels, f->nolabels[k]))
            return false;
    return true;
}
