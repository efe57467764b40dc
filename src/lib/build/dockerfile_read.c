/* The readers of dockerfile.h: one parsed instruction into the structure the executor uses,
 * with $VAR expanded where BuildKit expands it; and the checks the parser shares with them. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "dockerfile.h"
#include "dockerfile_int.h"

static void df_freep(void *p)
{
    tug_df_free(*(void **)p);
}
#define cleanup_df __attribute__((cleanup(df_freep)))

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A reader called on the wrong instruction: the caller's bug, not the user's. */
static int want(const tug_df_instruction *in, bool ok, const char *what, tug_error **err)
{
    if (ok)
        return 0;
    return tug_error_set(err, EINVAL, "%s:%d: %s is not %s", in->file, in->line,
                         tug_df_kind_name(in->kind), what);
}

/* One word through tug_shell_expand, into the arena. */
static int expand(df_arena *a, const tug_df_instruction *in, const char *word,
                  tug_shell_lookup lookup, void *userdata, const char **ret, tug_error **err)
{
    char *x = NULL;
    if (tug_shell_expand(word, in->escape, lookup, userdata, &x, err) < 0)
        return df_wrap(in, err);
    if ((*ret = df_adopt(a, x)) == NULL)
        return df_oom(err);
    return 0;
}

static const char *const *copy_strv(df_arena *a, const char *const *v, size_t n)
{
    const char **c = df_alloc(a, (n + 1) * sizeof(*c));
    for (size_t i = 0; c != NULL && i < n; i++)
        if ((c[i] = df_strdup(a, v[i])) == NULL)
            return NULL;
    return c;
}

/* ---- heredocs ---- */

int df_heredoc_word(df_arena *a, const char *word, tug_df_heredoc *ret, tug_error **err)
{
    /* ^(\d*)<<(-?)\s*([^<]*)$ */
    const char *s = word;
    unsigned long long fd = 0;
    for (; is_digit(*s); s++)
        fd = fd > UINT_MAX ? fd : fd * 10 + (unsigned)(*s - '0');
    if (s[0] != '<' || s[1] != '<')
        return 1;
    s += 2;
    bool chomp = *s == '-';
    s += chomp;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\f' || *s == '\r')
        s++;
    if (*s == '\0' || strchr(s, '<') != NULL)
        return 1;
    /* the name: one word; quoted anywhere (as the quote counts with and without quote
     * removal tell) means the body is taken literally */
    tug_shell_opts o = {.escape = '\\', .keep_unset = true};
    cleanup_strv char **words = NULL, **raw = NULL;
    if (tug_shell_process(s, strlen(s), &o, NULL, &words, err) < 0)
        return -1;
    if (words[0] == NULL || words[1] != NULL)
        return 1;
    o.raw_quotes = true;
    if (tug_shell_process(s, strlen(s), &o, NULL, &raw, err) < 0)
        return -1;
    if (raw[0] == NULL || raw[1] != NULL)
        return tug_error_user(err, "internal lexing of heredoc produced inconsistent results: %s",
                              s);
    size_t quotes = 0, raw_quotes = 0;
    for (const char *c = words[0]; *c; c++)
        quotes += *c == '\'' || *c == '"';
    for (const char *c = raw[0]; *c; c++)
        raw_quotes += *c == '\'' || *c == '"';
    *ret = (tug_df_heredoc){
        .name = df_strdup(a, words[0]),
        .fd = fd > UINT_MAX ? UINT_MAX : (unsigned)fd,
        .chomp = chomp,
        .expand = quotes == raw_quotes,
    };
    return ret->name ? 0 : df_oom(err);
}

/* <<-: the tabs at the start of every line go */
static void heredoc_text(tug_strbuf *b, const tug_df_heredoc *h)
{
    const char *s = h->body;
    while (*s) {
        while (h->chomp && *s == '\t')
            s++;
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
        tug_strbuf_add(b, s, n);
        s += n;
    }
}

char *df_heredoc_text(df_arena *a, const tug_df_heredoc *h)
{
    tug_strbuf b __attribute__((cleanup(tug_strbuf_free))) = {0};
    heredoc_text(&b, h);
    return b.failed ? NULL : df_strndup(a, b.s ? b.s : "", b.len);
}

char *tug_df_heredoc_text(const tug_df_heredoc *h)
{
    tug_strbuf b = {0};
    heredoc_text(&b, h);
    return tug_strbuf_steal(&b);
}

/* ---- numbers ---- */


/* Go's strconv.ParseUint(s, base, 32). */
static int parse_u32(const char *s, int base, long long *ret)
{
    unsigned long long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (!is_digit(*s) || *s - '0' >= base)
            return -1;
        v = v * (unsigned)base + (unsigned)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *ret = (long long)v;
    return 0;
}

/* Go's strconv.ParseInt(s, 10, 64) within [min, max]: a sign, then digits only. */
static int parse_int(const char *s, long long min, long long max, long long *ret)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        return -1;
    unsigned long long v = 0;
    for (; *s; s++) {
        if (!is_digit(*s) || v > (unsigned long long)LLONG_MAX / 10)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > (unsigned long long)LLONG_MAX)
        return -1;
    long long x = neg ? -(long long)v : (long long)v;
    if (x < min || x > max)
        return -1;
    *ret = x;
    return 0;
}

/* Go's strconv.ParseBool */
static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(yes); i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *ret = strcmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* ---- HEALTHCHECK ---- */

static int health_duration(const tug_df_instruction *in, const char *name, int64_t *ret,
                           tug_error **err)
{
    const char *v = df_flag(in, name, NULL);
    *ret = 0;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (tug_parse_go_duration(v, ret) < 0)
        return df_fail(in, err, "HEALTHCHECK --%s: invalid duration \"%s\" (e.g. 30s, 1m30s)", name,
                       v);
    if (*ret != 0 && *ret < 1000000)
        return df_fail(in, err, "Interval \"%s\" cannot be less than 1ms", name);
    return 0;
}

int df_check_healthcheck(const tug_df_instruction *in, df_arena *a, tug_df_healthcheck *ret,
                         tug_error **err)
{
    if (in->argc == 0)
        return df_fail(in, err, "HEALTHCHECK requires at least one argument");
    df_list test = {0};
    if (strcasecmp(in->argv[0], "NONE") == 0) {
        if (in->argc != 1)
            return df_fail(in, err, "HEALTHCHECK NONE takes no arguments");
        if (df_list_push(a, &test, "NONE") < 0)
            return df_oom(err);
        *ret = (tug_df_healthcheck){.n_test = 1, .test = test.v};
        return 0;
    }
    if (strcasecmp(in->argv[0], "CMD") != 0)
        return df_fail(in, err, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", in->argv[0]);
    if (in->argc == 1)
        return df_fail(in, err, "Missing command after HEALTHCHECK CMD");
    if (df_list_push(a, &test, in->json ? "CMD" : "CMD-SHELL") < 0)
        return df_oom(err);
    for (size_t i = 1; i < in->argc; i++)
        if (df_list_push(a, &test, df_strdup(a, in->argv[i])) < 0)
            return df_oom(err);
    tug_df_healthcheck h = {.n_test = test.n, .test = test.v};
    if (health_duration(in, "interval", &h.interval, err) < 0 ||
        health_duration(in, "timeout", &h.timeout, err) < 0 ||
        health_duration(in, "start-period", &h.start_period, err) < 0 ||
        health_duration(in, "start-interval", &h.start_interval, err) < 0)
        return -1;
    const char *retries = df_flag(in, "retries", NULL);
    if (retries && retries[0]) {
        long long v;
        if (parse_int(retries, INT32_MIN, INT32_MAX, &v) < 0)
            return df_fail(in, err, "HEALTHCHECK --retries: \"%s\" is not a number", retries);
        if (v < 0)
            return df_fail(in, err, "--retries cannot be negative (%lld)", v);
        h.retries = (int)v;
    }
    *ret = h;
    return 0;
}

/* ---- RUN --mount ---- */

/* Go's encoding/csv for one line, as BuildKit reads --mount. */
static int csv_fields(df_arena *a, const char *s, df_list *out, const char **ret_msg)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '\n')
        n -= n > 1 && s[n - 2] == '\r' ? 2 : 1;
    if (n == 0) {
        *ret_msg = "EOF";
        return -1;
    }
    size_t i = 0;
    for (;;) {
        tug_strbuf f __attribute__((cleanup(tug_strbuf_free))) = {0};
        if (i >= n || s[i] != '"') {
            size_t start = i;
            while (i < n && s[i] != ',')
                if (s[i++] == '"') {
                    *ret_msg = "bare \" in non-quoted field";
                    return -1;
                }
            tug_strbuf_add(&f, s + start, i - start);
        } else {
            for (i++;;) {
                const char *q = memchr(s + i, '"', n - i);
                if (q == NULL) {
                    *ret_msg = "extraneous or missing \" in quoted-field";
                    return -1;
                }
                tug_strbuf_add(&f, s + i, (size_t)(q - s) - i);
                i = (size_t)(q - s) + 1;
                if (i < n && s[i] == '"') {
                    tug_strbuf_addc(&f, '"');
                    i++;
                    continue;
                }
                if (i < n && s[i] != ',') {
                    *ret_msg = "extraneous or missing \" in quoted-field";
                    return -1;
                }
                break;
            }
        }
        tug_strbuf_add(&f, "", 0);
        if (df_list_push(a, out, df_adopt(a, tug_strbuf_steal(&f))) < 0) {
            *ret_msg = NULL;
            return -1;
        }
        if (i >= n)
            return 0;
        i++; /* the comma */
    }
}

static const char *const mount_types[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
static const char *const sharings[] = {"shared", "private", "locked"};

/* " (did you mean x?)" when a name is close to v, else "". */
static const char *did_you_mean(const char *v, const char *const *names, size_t n, char *buf,
                                size_t size)
{
    const char *m = df_suggest(v, names, n);
    if (m[0] == '\0')
        return "";
    snprintf(buf, size, " (did you mean %s?)", m);
    return buf;
}

static int mount_option(const tug_df_instruction *in, tug_df_mount *m, const char *key,
                        const char *value, const char *field, bool *ro_auto, bool *sharing_set,
                        tug_error **err)
{
    static const char *const keys[] = {
        "type",        "from", "source", "target",    "readonly", "id",  "sharing",
        "required",    "size", "mode",   "uid",       "gid",      "src", "dst",
        "destination", "ro",   "rw",     "readwrite", "env",
    };
    char hint[64];
    bool b;
    bool secretish = m->type == TUG_DF_MOUNT_SECRET || m->type == TUG_DF_MOUNT_SSH;
    const char *tname = mount_types[m->type];
    if (strcmp(key, "type") == 0) {
        for (size_t i = 0; i < TUG_ARRAY_SIZE(mount_types); i++) {
            if (strcasecmp(value, mount_types[i]) == 0) {
                m->type = (tug_df_mount_type)i;
                return 0;
            }
        }
        return df_fail(
            in, err, "unsupported mount type \"%s\"%s", value,
            did_you_mean(value, mount_types, TUG_ARRAY_SIZE(mount_types), hint, sizeof(hint)));
    } else if (strcmp(key, "from") == 0) {
        m->from = value;
    } else if (strcmp(key, "source") == 0 || strcmp(key, "src") == 0) {
        m->source = value;
    } else if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination")) {
        m->target = value;
    } else if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
               !strcmp(key, "rw")) {
        if (parse_bool(value, &b) < 0)
            return df_fail(in, err, "invalid value for %s: %s", key, value);
        m->readonly = !strcmp(key, "readonly") || !strcmp(key, "ro") ? b : !b;
        *ro_auto = false;
    } else if (strcmp(key, "required") == 0) {
        if (!secretish)
            return df_fail(in, err, "unexpected key '%s' for mount type '%s'", key, tname);
        if (parse_bool(value, &m->required) < 0)
            return df_fail(in, err, "invalid value for %s: %s", key, value);
    } else if (strcmp(key, "size") == 0) {
        if (m->type != TUG_DF_MOUNT_TMPFS)
            return df_fail(in, err, "unexpected key '%s' for mount type '%s'", key, tname);
        if (tug_parse_size(value, &m->size) < 0)
            return df_fail(in, err, "invalid value for %s: %s", key, value);
    } else if (strcmp(key, "id") == 0) {
        m->id = value;
    } else if (strcmp(key, "sharing") == 0) {
        for (size_t i = 0; i < TUG_ARRAY_SIZE(sharings); i++) {
            if (strcasecmp(value, sharings[i]) == 0) {
                m->sharing = (tug_df_sharing)i;
                *sharing_set = true;
                return 0;
            }
        }
        return df_fail(in, err, "unsupported sharing value \"%s\"%s", value,
                       did_you_mean(value, sharings, TUG_ARRAY_SIZE(sharings), hint, sizeof(hint)));
    } else if (strcmp(key, "mode") == 0) {
        if (parse_u32(value, 8, &m->mode) < 0)
            return df_fail(in, err, "invalid value %s for mode", value);
    } else if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
        if (parse_u32(value, 10, key[0] == 'u' ? &m->uid : &m->gid) < 0)
            return df_fail(in, err, "invalid value %s for %s", value, key);
    } else if (strcmp(key, "env") == 0) {
        m->env = value;
    } else {
        return df_fail(in, err, "unexpected key '%s' in '%s'%s", key, field,
                       did_you_mean(key, keys, TUG_ARRAY_SIZE(keys), hint, sizeof(hint)));
    }
    return 0;
}

/* Go's path.Base and path.Clean, for the mount defaults. */
static const char *path_base(df_arena *a, const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    if (n == 0)
        return ".";
    if (n == 1 && p[0] == '/')
        return "/";
    size_t s = n;
    while (s > 0 && p[s - 1] != '/')
        s--;
    return df_strndup(a, p + s, n - s);
}

static const char *path_clean(df_arena *a, const char *p)
{
    size_t n = strlen(p);
    if (n == 0)
        return ".";
    char *out = df_alloc(a, n + 2);
    return out ? tug_path_clean_to(p, n, out) : NULL;
}

/* BuildKit's checks once every option is read, then its defaults for the executor. */
static int mount_finish(const tug_df_instruction *in, tug_df_mount *m, bool ro_auto,
                        bool sharing_set, df_arena *a, tug_error **err)
{
    const char *tname = mount_types[m->type];
    if (m->type != TUG_DF_MOUNT_SECRET && m->type != TUG_DF_MOUNT_SSH &&
        m->type != TUG_DF_MOUNT_CACHE) {
        const char *bad = m->mode >= 0 ? "mode" : m->uid >= 0 ? "uid" : m->gid >= 0 ? "gid" : NULL;
        if (bad)
            return df_fail(in, err, "%s not allowed for \"%s\" type mounts", bad, tname);
    }
    if (ro_auto)
        m->readonly = m->type != TUG_DF_MOUNT_CACHE && m->type != TUG_DF_MOUNT_TMPFS;
    if (m->type == TUG_DF_MOUNT_SECRET) {
        if (m->from)
            return df_fail(in, err, "secret mount should not have a from");
        if (sharing_set)
            return df_fail(in, err, "secret mount should not define sharing");
        if (!m->source && !m->target && !m->id)
            return df_fail(in, err, "invalid secret mount. one of source, target required");
        if (m->source && m->id)
            return df_fail(in, err, "both source and id can't be set");
    }
    if (sharing_set && m->type != TUG_DF_MOUNT_CACHE)
        return df_fail(in, err, "invalid cache sharing set for %s mount", tname);
    if (m->type == TUG_DF_MOUNT_CACHE && m->id == NULL && m->target != NULL)
        m->id = path_clean(a, m->target);
    if (m->type == TUG_DF_MOUNT_SECRET) {
        if (m->source)
            m->id = m->source;
        else if (m->id == NULL)
            m->id = path_base(a, m->target);
        if (m->env == NULL && m->target == NULL) {
            const char *base = path_base(a, m->id);
            char *t = base ? df_alloc(a, strlen(base) + sizeof("/run/secrets/")) : NULL;
            if (t)
                snprintf(t, strlen(base) + sizeof("/run/secrets/"), "/run/secrets/%s", base);
            m->target = t;
        }
        if (m->id == NULL || (m->env == NULL && m->target == NULL))
            return df_oom(err);
    }
    return 0;
}

int df_parse_mount(const tug_df_instruction *in, const char *spec, bool expand_now,
                   tug_shell_lookup lookup, void *userdata, df_arena *a, tug_df_mount *ret,
                   tug_error **err)
{
    df_list fields = {0};
    const char *msg = NULL;
    if (csv_fields(a, spec, &fields, &msg) < 0)
        return msg ? df_fail(in, err, "failed to parse csv mounts: %s", msg) : df_oom(err);
    tug_df_mount m = {.type = TUG_DF_MOUNT_BIND, .mode = -1, .uid = -1, .gid = -1};
    bool ro_auto = true, sharing_set = false;
    for (size_t i = 0; i < fields.n; i++) {
        const char *field = fields.v[i], *eq = strchr(field, '=');
        char *key = df_strndup(a, field, eq ? (size_t)(eq - field) : strlen(field));
        if (key == NULL)
            return df_oom(err);
        for (char *c = key; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c | 0x20);
        if (eq == NULL) {
            if (!expand_now)
                continue;
            if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
                !strcmp(key, "rw")) {
                m.readonly = !strcmp(key, "readonly") || !strcmp(key, "ro");
                ro_auto = false;
            } else if (!strcmp(key, "required") &&
                       (m.type == TUG_DF_MOUNT_SECRET || m.type == TUG_DF_MOUNT_SSH)) {
                m.required = true;
            } else if (!strcmp(key, "required")) {
                return df_fail(in, err, "unexpected key '%s' for mount type '%s'", key,
                               mount_types[m.type]);
            } else {
                return df_fail(in, err, "invalid field '%s' must be a key=value pair", field);
            }
            continue;
        }
        const char *value = eq + 1;
        if (!expand_now) {
            /* BuildKit's parse-time pass: only from= is looked at */
            const char *dollar = strcmp(key, "from") == 0 ? strchr(value, '$') : NULL;
            if (dollar && dollar[1] != '\0')
                return df_fail(in, err,
                               "'from' doesn't support variable expansion, define alias stage "
                               "instead");
            continue;
        }
        if (expand(a, in, value, lookup, userdata, &value, err) < 0)
            return -1;
        if (mount_option(in, &m, key, value, field, &ro_auto, &sharing_set, err) < 0)
            return -1;
    }
    if (expand_now && mount_finish(in, &m, ro_auto, sharing_set, a, err) < 0)
        return -1;
    *ret = m;
    return 0;
}

/* ---- the readers ---- */

int tug_df_read_from(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                     tug_df_from **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_FROM, "FROM", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_from *r = df_new(sizeof(*r), &a);
    if (r == NULL)
        return df_oom(err);
    if (expand(a, in, in->argv[0], lookup, userdata, &r->image, err) < 0)
        return -1;
    if (r->image[0] == '\0')
        return df_fail(in, err, "base name (%s) should not be blank", in->argv[0]);
    const char *platform = df_flag(in, "platform", NULL);
    if (platform && platform[0]) { /* --platform= is no platform, as in BuildKit */
        if (expand(a, in, platform, lookup, userdata, &r->platform, err) < 0)
            return -1;
        if (r->platform[0] == '\0')
            return df_fail(in, err, "empty platform value from expression %s", platform);
    }
    if (in->argc == 3) {
        char *name = df_strdup(a, in->argv[2]);
        if (name == NULL)
            return df_oom(err);
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c | 0x20);
        r->stage = name;
    }
    *ret = steal_pointer(&r);
    return 0;
}

int tug_df_read_pairs(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                      tug_df_pairs **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_ENV || in->kind == TUG_DF_LABEL, "ENV or LABEL", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_pairs *r = df_new(sizeof(*r), &a);
    tug_df_pair *v = r ? df_alloc(a, (in->argc / 2 + 1) * sizeof(*v)) : NULL;
    if (v == NULL)
        return df_oom(err);
    for (size_t i = 0; i + 1 < in->argc; i += 2) {
        tug_df_pair *p = &v[i / 2];
        if (expand(a, in, in->argv[i], lookup, userdata, &p->key, err) < 0 ||
            expand(a, in, in->argv[i + 1], lookup, userdata, &p->value, err) < 0)
            return -1;
    }
    r->n = in->argc / 2;
    r->v = v;
    *ret = steal_pointer(&r);
    return 0;
}

int tug_df_read_arg(const tug_df_instruction *in, tug_df_pairs **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_ARG, "ARG", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_pairs *r = df_new(sizeof(*r), &a);
    tug_df_pair *v = r ? df_alloc(a, (in->argc + 1) * sizeof(*v)) : NULL;
    if (v == NULL)
        return df_oom(err);
    for (size_t i = 0; i < in->argc; i++) {
        const char *eq = strchr(in->argv[i], '=');
        v[i].key =
            df_strndup(a, in->argv[i], eq ? (size_t)(eq - in->argv[i]) : strlen(in->argv[i]));
        v[i].value = eq ? df_strdup(a, eq + 1) : NULL;
        if (v[i].key == NULL || (eq && v[i].value == NULL))
            return df_oom(err);
    }
    r->n = in->argc;
    r->v = v;
    *ret = steal_pointer(&r);
    return 0;
}

/* parsePortRange: "80" or "8000-8010", each 0..65535. */
static int port_range(const char *s, long *ret_start, long *ret_end)
{
    const char *dash = strchr(s, '-');
    size_t n = dash ? (size_t)(dash - s) : strlen(s);
    long v[2];
    for (int k = 0; k < 2; k++) {
        const char *p = k == 0 ? s : dash + 1;
        size_t len = k == 0 ? n : strlen(p);
        char buf[24];
        long long x;
        if (len == 0 || len >= sizeof(buf))
            return -1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (parse_int(buf, 0, 65535, &x) < 0)
            return -1;
        v[k] = (long)x;
        if (!dash || (strlen(dash + 1) == n && memcmp(dash + 1, s, n) == 0)) {
            v[1] = v[0];
            break;
        }
    }
    if (v[1] < v[0])
        return -1;
    *ret_start = v[0];
    *ret_end = v[1];
    return 0;
}

/* BuildKit's parsePort: [ip:][hostport:]port[-end][/proto] into "port/proto" words. */
static int expose_port(df_arena *a, const tug_df_instruction *in, const char *raw, df_list *out,
                       tug_error **err)
{
    const char *colon = strrchr(raw, ':');
    const char *container = colon ? colon + 1 : raw;
    cleanup_free char *ip = NULL, *host = NULL;
    if (colon) {
        const char *h = colon;
        while (h > raw && h[-1] != ':')
            h--;
        host = strndup(h, (size_t)(colon - h));
        ip = strndup(raw, h > raw ? (size_t)(h - raw) - 1 : 0);
        if (host == NULL || ip == NULL)
            return df_oom(err);
    }
    const char *slash = strchr(container, '/');
    cleanup_free char *port =
        strndup(container, slash ? (size_t)(slash - container) : strlen(container));
    char proto[8] = "tcp";
    if (port == NULL)
        return df_oom(err);
    if (port[0] == '\0')
        return df_fail(in, err, "invalid port: \"%s\": no port specified", raw);
    if (slash && slash[1]) {
        if (strcasecmp(slash + 1, "tcp") && strcasecmp(slash + 1, "udp") &&
            strcasecmp(slash + 1, "sctp"))
            return df_fail(in, err, "invalid port: \"%s\": invalid proto: %s", raw, slash + 1);
        for (size_t i = 0; slash[1 + i]; i++)
            proto[i] = (char)(slash[1 + i] | 0x20);
        proto[strlen(slash + 1)] = '\0';
    }
    if (ip && ip[0]) {
        char *addr = ip;
        size_t n = strlen(ip);
        if (ip[0] == '[') {
            if (n < 2 || ip[n - 1] != ']')
                return df_fail(in, err, "invalid IP address %s", ip);
            ip[n - 1] = '\0';
            addr = ip + 1;
        }
        unsigned char buf[16];
        if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
            return df_fail(in, err, "invalid IP address: %s", addr);
    }
    long start, end, hstart, hend;
    if (port_range(port, &start, &end) < 0)
        return df_fail(in, err, "invalid containerPort: %s", port);
    if (host && host[0]) {
        if (port_range(host, &hstart, &hend) < 0)
            return df_fail(in, err, "invalid hostPort: %s", host);
        if (end - start != hend - hstart && end != start)
            return df_fail(in, err,
                           "invalid ranges specified for container and host Ports: %s and %s", port,
                           host);
    }
    for (long p = start; p <= end; p++) {
        char *w = df_alloc(a, 16);
        if (w == NULL)
            return df_oom(err);
        snprintf(w, 16, "%ld/%s", p, proto);
        if (df_list_push(a, out, w) < 0)
            return df_oom(err);
    }
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int tug_df_read_expose(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       tug_df_words **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_EXPOSE, "EXPOSE", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_words *r = df_new(sizeof(*r), &a);
    const char **sorted = r ? df_alloc(a, (in->argc + 1) * sizeof(*sorted)) : NULL;
    if (sorted == NULL)
        return df_oom(err);
    memcpy(sorted, in->argv, in->argc * sizeof(*sorted));
    qsort(sorted, in->argc, sizeof(*sorted), cmp_str);
    df_list out = {0};
    for (size_t i = 0; i < in->argc; i++) {
        cleanup_strv char **words = NULL;
        if (tug_shell_words(sorted[i], in->escape, lookup, userdata, &words, NULL, err) < 0)
            return df_wrap(in, err);
        for (char **w = words; *w; w++)
            if (expose_port(a, in, *w, &out, err) < 0)
                return -1;
    }
    static const char *const none[] = {NULL};
    r->v = out.v ? out.v : none;
    r->n = out.n;
    *ret = steal_pointer(&r);
    return 0;
}

int tug_df_read_volume(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       tug_df_words **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_VOLUME, "VOLUME", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_words *r = df_new(sizeof(*r), &a);
    if (r == NULL)
        return df_oom(err);
    df_list out = {0};
    for (size_t i = 0; i < in->argc; i++) {
        /* BuildKit trims the path before it expands it */
        const char *s = in->argv[i], *v;
        size_t n = strlen(s);
        df_trim_space(&s, &n);
        char *t = df_strndup(a, s, n);
        if (t == NULL)
            return df_oom(err);
        if (expand(a, in, t, lookup, userdata, &v, err) < 0)
            return -1;
        if (v[0] == '\0')
            return df_fail(in, err, "VOLUME specified can not be an empty string");
        if (df_list_push(a, &out, v) < 0)
            return df_oom(err);
    }
    r->v = out.v;
    r->n = out.n;
    *ret = steal_pointer(&r);
    return 0;
}

int tug_df_read_string(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       char **ret, tug_error **err)
{
    bool ok =
        in->kind == TUG_DF_WORKDIR || in->kind == TUG_DF_USER || in->kind == TUG_DF_STOPSIGNAL;
    if (want(in, ok, "WORKDIR, USER or STOPSIGNAL", err) < 0)
        return -1;
    if (tug_shell_expand(in->argv[0], in->escape, lookup, userdata, ret, err) < 0)
        return df_wrap(in, err);
    return 0;
}

/* ShellDependantCmdLine into c: JSON strings, or the shell form's one string. */
static int cmdline(df_arena *a, const tug_df_instruction *in, const char *const *argv, size_t argc,
                   tug_df_cmdline *c)
{
    c->shell = !in->json;
    c->argc = argc;
    c->argv = copy_strv(a, argv, argc);
    return c->argv ? 0 : -1;
}

int tug_df_read_cmdline(const tug_df_instruction *in, tug_df_cmdline **ret, tug_error **err)
{
    bool ok = in->kind == TUG_DF_CMD || in->kind == TUG_DF_ENTRYPOINT || in->kind == TUG_DF_SHELL;
    if (want(in, ok, "CMD, ENTRYPOINT or SHELL", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_cmdline *r = df_new(sizeof(*r), &a);
    if (r == NULL || cmdline(a, in, in->argv, in->argc, r) < 0)
        return df_oom(err);
    r->null = in->kind == TUG_DF_ENTRYPOINT && in->argc == 0;
    *ret = steal_pointer(&r);
    return 0;
}

int tug_df_read_healthcheck(const tug_df_instruction *in, tug_df_healthcheck **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_HEALTHCHECK, "HEALTHCHECK", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_healthcheck *r = df_new(sizeof(*r), &a);
    if (r == NULL)
        return df_oom(err);
    if (df_check_healthcheck(in, a, r, err) < 0)
        return -1;
    *ret = steal_pointer(&r);
    return 0;
}

/* COPY <<EOF /dst: the body of the heredoc of that name (an unknown name: empty), tabs gone
 * for <<-, $VAR expanded when the name was unquoted (with '\' and quotes left alone, as
 * BuildKit's ExpandRaw does). */
static int copy_heredoc(df_arena *a, const tug_df_instruction *in, const tug_df_heredoc *word,
                        tug_shell_lookup lookup, void *userdata, tug_df_source *src,
                        tug_error **err)
{
    tug_df_heredoc h = *word;
    h.body = "";
    for (size_t i = 0; i < in->n_heredocs; i++)
        if (strcmp(in->heredocs[i].name, word->name) == 0)
            h.body = in->heredocs[i].body;
    char *data = df_heredoc_text(a, &h);
    if (data == NULL)
        return df_oom(err);
    src->path = word->name;
    src->data = data;
    if (!word->expand)
        return 0;
    tug_shell_opts o = {
        .escape = '\\', .skip_quotes = true, .lookup = lookup, .userdata = userdata};
    char *x = NULL;
    if (tug_shell_process(data, strlen(data), &o, &x, NULL, err) < 0)
        return df_wrap(in, err);
    if ((src->data = df_adopt(a, x)) == NULL)
        return df_oom(err);
    return 0;
}

/* A string flag expanded; not given, or empty once expanded, is NULL (BuildKit tests for ""). */
static int copy_flag(df_arena *a, const tug_df_instruction *in, const char *name,
                     tug_shell_lookup lookup, void *userdata, const char **ret, tug_error **err)
{
    const char *v = df_flag(in, name, NULL);
    *ret = NULL;
    if (v == NULL || expand(a, in, v, lookup, userdata, ret, err) < 0)
        return v == NULL ? 0 : -1;
    if ((*ret)[0] == '\0')
        *ret = NULL;
    return 0;
}

static int copy_flags(df_arena *a, const tug_df_instruction *in, tug_shell_lookup lookup,
                      void *userdata, tug_df_copy *r, tug_error **err)
{
    const char *v;
    bool set;
    if (copy_flag(a, in, "chown", lookup, userdata, &r->chown, err) < 0 ||
        copy_flag(a, in, "chmod", lookup, userdata, &r->chmod, err) < 0 ||
        copy_flag(a, in, "checksum", lookup, userdata, &r->checksum, err) < 0)
        return -1;
    if ((v = df_flag(in, "from", NULL)) && v[0] && (r->from = df_strdup(a, v)) == NULL)
        return df_oom(err);
    v = df_flag(in, "link", &set);
    r->link = set && (v == NULL || strcasecmp(v, "true") == 0);
    v = df_flag(in, "parents", &set);
    r->parents = set && (v == NULL || strcasecmp(v, "true") == 0);
    v = df_flag(in, "keep-git-dir", &set);
    r->keep_git_dir = set ? v == NULL || strcasecmp(v, "true") == 0 : -1;
    v = df_flag(in, "unpack", &set);
    r->unpack = set ? v == NULL || strcasecmp(v, "true") == 0 : -1;
    df_list ex = {0};
    for (size_t i = 0; i < in->n_flags; i++)
        if (strcmp(in->flags[i].name, "exclude") == 0 &&
            df_list_push(a, &ex, df_strdup(a, in->flags[i].value)) < 0)
            return df_oom(err);
    static const char *const none[] = {NULL};
    r->excludes = ex.v ? ex.v : none;
    r->n_excludes = ex.n;
    return 0;
}

int tug_df_read_copy(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                     tug_df_copy **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_COPY || in->kind == TUG_DF_ADD, "COPY or ADD", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_copy *r = df_new(sizeof(*r), &a);
    tug_df_source *src = r ? df_alloc(a, in->argc * sizeof(*src)) : NULL;
    if (src == NULL)
        return df_oom(err);
    r->add = in->kind == TUG_DF_ADD;
    for (size_t i = 0; i + 1 < in->argc; i++) {
        tug_df_heredoc h;
        if (df_heredoc_word(a, in->argv[i], &h, NULL) == 0) {
            if (copy_heredoc(a, in, &h, lookup, userdata, &src[i], err) < 0)
                return -1;
        } else if (expand(a, in, in->argv[i], lookup, userdata, &src[i].path, err) < 0) {
            return -1;
        }
    }
    r->sources = src;
    r->n_sources = in->argc - 1;
    if (expand(a, in, in->argv[in->argc - 1], lookup, userdata, &r->dest, err) < 0 ||
        copy_flags(a, in, lookup, userdata, r, err) < 0)
        return -1;
    *ret = steal_pointer(&r);
    return 0;
}

/* BuildKit's summarizeHeredoc: the first line, "..." when there are more. */
static char *summarize(df_arena *a, const char *body)
{
    size_t n = strlen(body);
    df_trim_space(&body, &n);
    const char *nl = memchr(body, '\n', n);
    size_t first = nl ? (size_t)(nl - body) : n;
    if (first > 0 && body[first - 1] == '\r' && nl)
        first--;
    char *s = df_alloc(a, first + 4);
    if (s != NULL)
        snprintf(s, first + 4, "%.*s%s", (int)first, body, nl ? "..." : "");
    return s;
}

/* dispatchRun's heredoc cases (see tug_df_run). */
static int run_heredocs(df_arena *a, const tug_df_instruction *in, tug_df_run *r)
{
    tug_strbuf b __attribute__((cleanup(tug_strbuf_free))) = {0};
    const char **argv = df_alloc(a, 2 * sizeof(*argv));
    if (argv == NULL)
        return -1;
    r->cmd.argv = argv;
    r->cmd.argc = 1;
    tug_df_heredoc h;
    if (df_heredoc_word(a, in->argv[0], &h, NULL) == 0) {
        const tug_df_heredoc *first = &in->heredocs[0];
        char *data = df_heredoc_text(a, first);
        char *sum = summarize(a, first->body);
        if (data == NULL || sum == NULL)
            return -1;
        if (strncmp(data, "#!", 2) == 0) {
            tug_strbuf_adds(&b, "/dev/pipes/");
            tug_strbuf_adds(&b, first->name);
            const char *path = path_clean(a, b.s ? b.s : "");
            if (path == NULL)
                return -1;
            r->script_path = path;
            r->script = data;
            argv[0] = path;
        } else {
            argv[0] = data;
        }
        tug_strbuf_free(&b);
        tug_strbuf_adds(&b, in->original);
        tug_strbuf_adds(&b, " (");
        tug_strbuf_adds(&b, sum);
        tug_strbuf_adds(&b, ")");
        if (b.failed || (r->display = df_strndup(a, b.s, b.len)) == NULL)
            return -1;
        return 0;
    }
    tug_strbuf_adds(&b, in->argv[0]);
    for (size_t i = 0; i < in->n_heredocs; i++) {
        tug_strbuf_addc(&b, '\n');
        tug_strbuf_adds(&b, in->heredocs[i].body);
        tug_strbuf_adds(&b, in->heredocs[i].name);
    }
    if (b.failed || (argv[0] = df_strndup(a, b.s, b.len)) == NULL)
        return -1;
    return 0;
}

int tug_df_read_run(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                    tug_df_run **ret, tug_error **err)
{
    if (want(in, in->kind == TUG_DF_RUN, "RUN", err) < 0)
        return -1;
    df_arena *a = NULL;
    cleanup_df tug_df_run *r = df_new(sizeof(*r), &a);
    if (r == NULL || cmdline(a, in, in->argv, in->argc, &r->cmd) < 0)
        return df_oom(err);
    r->display = in->original;
    if (in->n_heredocs > 0 && run_heredocs(a, in, r) < 0)
        return df_oom(err);
    if ((r->display = df_strdup(a, r->display)) == NULL)
        return df_oom(err);
    size_t nm = 0;
    for (size_t i = 0; i < in->n_flags; i++)
        nm += strcmp(in->flags[i].name, "mount") == 0;
    tug_df_mount *m = df_alloc(a, (nm + 1) * sizeof(*m));
    if (m == NULL)
        return df_oom(err);
    df_list devices = {0};
    for (size_t i = 0; i < in->n_flags; i++) {
        const tug_df_flag *f = &in->flags[i];
        if (strcmp(f->name, "mount") == 0) {
            if (df_parse_mount(in, f->value, true, lookup, userdata, a, &m[r->n_mounts], err) < 0)
                return -1;
            r->n_mounts++;
        } else if (strcmp(f->name, "network") == 0) {
            r->network = strcmp(f->value, "none") == 0   ? TUG_DF_NETWORK_NONE
                         : strcmp(f->value, "host") == 0 ? TUG_DF_NETWORK_HOST
                                                         : TUG_DF_NETWORK_DEFAULT;
        } else if (strcmp(f->name, "security") == 0) {
            r->insecure = strcmp(f->value, "insecure") == 0;
        } else if (strcmp(f->name, "device") == 0) {
            if (df_list_push(a, &devices, df_strdup(a, f->value)) < 0)
                return df_oom(err);
        }
    }
    static const char *const none[] = {NULL};
    r->mounts = m;
    r->devices = devices.v ? devices.v : none;
    r->n_devices = devices.n;
    *ret = steal_pointer(&r);
    return 0;
}
