/* logs: docker's readings of --since/--until, --tail and --details (pure functions). */
#include "logs.h"

#include <ctype.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"

static int why(char **ret_why, const char *value)
{
    if (asprintf(ret_why, "failed to parse value as time or duration: \"%s\"", value) < 0)
        *ret_why = NULL;
    return -1;
}

static int bad(char **ret_why, const char *value, const char *what)
{
    if (asprintf(ret_why, "parsing time \"%s\": %s", value, what) < 0)
        *ret_why = NULL;
    return -1;
}

/* n digits exactly (fixed) or 1..n digits, as Go's layouts read "01" and "15" */
static bool num(const char **p, int n, bool fixed, int *ret)
{
    int v = 0, i = 0;
    for (; i < n && isdigit((unsigned char)(*p)[i]); i++)
        v = v * 10 + ((*p)[i] - '0');
    if (i == 0 || (fixed && i < n))
        return false;
    *p += i;
    *ret = v;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int count(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Go's strconv.ParseInt (base 10) of the whole string. */
static bool parse_int(const char *s, long long *ret)
{
    const char *d = *s == '+' || *s == '-' ? s + 1 : s;
    if (*d == '\0')
        return false;
    for (const char *p = d; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    char *end;
    *ret = strtoll(s, &end, 10);
    return *end == '\0';
}

int tug_logs_parse_time(const char *value, int64_t now_ns, long local_offset, int64_t *ret_ns,
                        char **ret_why)
{
    *ret_why = NULL;
    int64_t d;
    if (strcmp(value, "0") != 0 && tug_parse_go_duration(value, &d) == 0) {
        *ret_ns = (now_ns - d) / 1000000000LL * 1000000000LL; /* docker keeps whole seconds */
        return 0;
    }
    /* docker's choice of layout: a zone when there is a Z, a + or three dashes */
    bool local = !(strpbrk(value, "zZ+") || count(value, '-') == 3);
    bool frac_layout = strchr(value, '.') != NULL;
    int fields = 0; /* after the date: 0 none, 1 hour, 2 hh:mm, 3 hh:mm:ss */
    if (frac_layout)
        fields = 3;
    else if (strchr(value, 'T')) {
        int colons = count(value, ':');
        if (!local && !strpbrk(value, "zZ") && colons > 0)
            colons--;
        fields = colons == 0 ? 1 : colons == 1 ? 2 : 3;
    }
    const char *p = value;
    int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
    long nsec = 0;
    long offset = local ? local_offset : 0;
    bool ok = num(&p, 4, true, &year) && *p++ == '-' && num(&p, 2, true, &mon) && *p++ == '-' &&
              num(&p, 2, true, &day);
    if (ok && fields > 0)
        ok = *p++ == 'T' && num(&p, 2, false, &hour);
    if (ok && fields > 1)
        ok = *p++ == ':' && num(&p, 2, true, &min);
    if (ok && fields > 2)
        ok = *p++ == ':' && num(&p, 2, true, &sec);
    if (ok && fields > 2 && *p == '.' && isdigit((unsigned char)p[1])) {
        p++;
        long scale = 100000000;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            nsec += scale ? (*p - '0') * scale : 0;
    }
    if (ok && !local) {
        int oh = 0, om = 0;
        if (*p == 'Z')
            p++;
        else if ((*p == '+' || *p == '-') && (p++, num(&p, 2, true, &oh)) && *p++ == ':' &&
                 num(&p, 2, true, &om))
            offset = (p[-6] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        else
            ok = false;
    }
    if (ok && *p != '\0')
        ok = false;
    if (!ok) {
        /* not a date: unix seconds, with an optional fraction */
        if (strchr(value, '-'))
            return bad(ret_why, value, "not a time docker's layouts accept");
        const char *dot = strchr(value, '.');
        long long s, f = 0;
        cleanup_free char *whole = strndup(value, dot ? (size_t)(dot - value) : strlen(value));
        if (whole == NULL || !parse_int(whole, &s) || (dot && !parse_int(dot + 1, &f)))
            return why(ret_why, value);
        size_t digits = dot ? strlen(dot + 1) : 0;
        double scale = 1e9;
        for (size_t i = 0; i < digits; i++)
            scale /= 10;
        *ret_ns = s * 1000000000LL + (int64_t)((double)f * scale);
        return 0;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || mon > 12)
        return bad(ret_why, value, "month out of range");
    if (day < 1 || day > mdays[mon - 1] + (mon == 2 && leap(year)))
        return bad(ret_why, value, "day out of range");
    if (hour > 23)
        return bad(ret_why, value, "hour out of range");
    if (min > 59)
        return bad(ret_why, value, "minute out of range");
    if (sec > 59)
        return bad(ret_why, value, "second out of range");
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour,
                    .tm_min = min, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - offset;
    *ret_ns = t * 1000000000LL + nsec;
    return 0;
}

long tug_logs_parse_tail(const char *value)
{
    long long n;
    if (!parse_int(value, &n) || n < 0 || n > 0x7fffffffLL)
        return -1;
    return (long)n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* url.QueryEscape: letters, digits and -_.~ as they are, space as +, the rest %XX */
static void query_escape(tug_strbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            tug_strbuf_addc(b, (char)c);
        else if (c == ' ')
            tug_strbuf_addc(b, '+');
        else
        {
            char hex[4];
            snprintf(hex, sizeof(hex), "%%%02X", c);
            tug_strbuf_adds(b, hex);
        }
    }
}

static bool in_list(const char *list, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == kl && strncmp(p, key, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

static bool matches(const char *re, const char *key)
{
    regex_t r;
    if (re == NULL || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool m = regexec(&r, key, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

char *tug_logs_details(json_t *ctr_config)
{
    json_t *opts = json_object_get(
        json_object_get(json_object_get(ctr_config, "HostConfig"), "LogConfig"), "Config");
    json_t *cfg = json_object_get(ctr_config, "Config");
    const char *labels = json_string_value(json_object_get(opts, "labels"));
    const char *labels_re = json_string_value(json_object_get(opts, "labels-regex"));
    const char *env = json_string_value(json_object_get(opts, "env"));
    const char *env_re = json_string_value(json_object_get(opts, "env-regex"));
    json_t *attrs = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(cfg, "Labels"), k, v)
    {
        if (json_is_string(v) && (in_list(labels, k) || matches(labels_re, k)))
            json_object_set(attrs, k, v);
    }
    size_t i;
    json_array_foreach(json_object_get(cfg, "Env"), i, v)
    {
        const char *kv = json_string_value(v);
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (eq == NULL)
            continue;
        char *key = strndup(kv, (size_t)(eq - kv));
        if (key && (in_list(env, key) || matches(env_re, key)))
            json_object_set_new(attrs, key, json_string(eq + 1));
        free(key);
    }
    size_t n = json_object_size(attrs), j = 0;
    const char **keys = calloc(n + 1, sizeof(*keys));
    json_object_foreach(attrs, k, v) if (keys) keys[j++] = k;
    tug_strbuf b = {0};
    if (keys) {
        qsort(keys, n, sizeof(*keys), cmp_str);
        for (j = 0; j < n; j++) {
            if (j)
                tug_strbuf_addc(&b, ',');
            query_escape(&b, keys[j]);
            tug_strbuf_addc(&b, '=');
            query_escape(&b, json_string_value(json_object_get(attrs, keys[j])));
        }
    }
    free(keys);
    json_decref(attrs);
    char *out = tug_strbuf_steal(&b);
    return out ? out : strdup("");
}
