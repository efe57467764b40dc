#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"
#include "creds.h"

/* ---- WWW-Authenticate (RFC 7235) ---- */

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static const char *skip_ws_commas(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    return p;
}

static size_t token_len(const char *p)
{
    size_t n = 0;
    while (is_tchar(p[n]))
        n++;
    return n;
}

/* Read a token or a quoted-string at *pp into a new string; *pp moves past it. */
static char *parse_value(const char **pp)
{
    const char *p = *pp;
    if (*p != '"') {
        /* strictly a token, but unquoted URLs are seen in the wild */
        size_t n = strcspn(p, ", \t");
        *pp = p + n;
        return strndup(p, n);
    }
    p++;
    char *out = malloc(strlen(p) + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        out[n++] = *p++;
    }
    out[n] = '\0';
    if (*p == '"')
        p++;
    *pp = p;
    return out;
}

void tug_auth_challenge_clear(tug_auth_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

static void challenge_clearp(tug_auth_challenge *c)
{
    tug_auth_challenge_clear(c);
}

int tug_auth_parse_challenge(const char *header, tug_auth_challenge *ret, tug_error **err)
{
    __attribute__((cleanup(challenge_clearp))) tug_auth_challenge best = {0};
    const char *p = header ? header : "";

    for (;;) {
        p = skip_ws_commas(p);
        size_t n = token_len(p);
        if (n == 0)
            break;
        __attribute__((cleanup(challenge_clearp))) tug_auth_challenge c = {0};
        if (n == 6 && strncasecmp(p, "bearer", 6) == 0)
            c.scheme = TUG_AUTH_BEARER;
        else if (n == 5 && strncasecmp(p, "basic", 5) == 0)
            c.scheme = TUG_AUTH_BASIC;
        p += n;

        /* auth-params until a token that is not followed by '=' starts the next challenge */
        for (;;) {
            const char *q = skip_ws_commas(p);
            size_t kn = token_len(q);
            if (kn == 0) {
                p = q;
                if (*q == '\0')
                    break;
                if (*q != '"') {
                    p++; /* a stray character */
                    continue;
                }
                char *junk = parse_value(&p);
                if (junk == NULL)
                    return tug_error_set(err, ENOMEM, "parse WWW-Authenticate");
                free(junk);
                continue;
            }
            const char *eq = skip_ws(q + kn);
            if (*eq != '=') {
                p = q;
                break;
            }
            const char *v = skip_ws(eq + 1);
            char *value = parse_value(&v);
            if (value == NULL)
                return tug_error_set(err, ENOMEM, "parse WWW-Authenticate");
            char **slot = NULL;
            if (kn == 5 && strncasecmp(q, "realm", 5) == 0)
                slot = &c.realm;
            else if (kn == 7 && strncasecmp(q, "service", 7) == 0)
                slot = &c.service;
            else if (kn == 5 && strncasecmp(q, "scope", 5) == 0)
                slot = &c.scope;
            if (slot != NULL && *slot == NULL)
                *slot = value;
            else
                free(value);
            p = v;
        }

        if (c.scheme == TUG_AUTH_BEARER && c.realm != NULL && *c.realm != '\0') {
            tug_auth_challenge_clear(&best);
            best = c;
            memset(&c, 0, sizeof(c));
            break;
        }
        if (c.scheme == TUG_AUTH_BASIC && best.scheme == TUG_AUTH_NONE) {
            best = c;
            memset(&c, 0, sizeof(c));
        }
    }
    *ret = best;
    memset(&best, 0, sizeof(best));
    return 0;
}

/* ---- docker config.json (read by creds.c) ---- */

static int basic_of(tug_creds *c, char **ret_basic, const char *domain, tug_error **err)
{
    *ret_basic = NULL;
    if (c->username == NULL)
        return 0;
    *ret_basic = tug_creds_basic(c);
    return *ret_basic ? 0 : tug_error_set(err, ENOMEM, "credentials for %s", domain);
}

int tug_auth_find_credentials(const char *json, size_t len, const char *domain, char **ret_basic,
                              tug_error **err)
{
    cleanup_creds tug_creds c = {0};
    *ret_basic = NULL;
    if (tug_creds_find(json, len, domain, &c, err) < 0)
        return -1;
    return basic_of(&c, ret_basic, domain, err);
}

int tug_auth_load_credentials(const char *path, const char *domain, char **ret_basic,
                              tug_error **err)
{
    cleanup_creds tug_creds c = {0};
    *ret_basic = NULL;
    if (tug_creds_get(path, domain, &c, err) < 0)
        return -1;
    return basic_of(&c, ret_basic, domain, err);
}

/* ---- token server ---- */

static bool append_escaped(char **buf, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *nb = realloc(*buf, *len + n * 3 + 1);
    if (nb == NULL)
        return false;
    *buf = nb;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            nb[(*len)++] = (char)c;
        } else {
            nb[(*len)++] = '%';
            nb[(*len)++] = hex[c >> 4];
            nb[(*len)++] = hex[c & 15];
        }
    }
    nb[*len] = '\0';
    return true;
}

static bool append_raw(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *nb = realloc(*buf, *len + n + 1);
    if (nb == NULL)
        return false;
    memcpy(nb + *len, s, n + 1);
    *buf = nb;
    *len += n;
    return true;
}

static bool append_param(char **buf, size_t *len, const char *name, const char *value)
{
    if (value == NULL || *value == '\0')
        return true;
    return append_raw(buf, len, strchr(*buf, '?') ? "&" : "?") && append_raw(buf, len, name) &&
           append_raw(buf, len, "=") && append_escaped(buf, len, value);
}

char *tug_auth_token_url(const char *realm, const char *service, const char *const *scopes)
{
    cleanup_free char *url = NULL;
    size_t len = 0;
    if (!append_raw(&url, &len, realm) || !append_param(&url, &len, "service", service))
        return NULL;
    for (size_t i = 0; scopes != NULL && scopes[i] != NULL; i++)
        if (!append_param(&url, &len, "scope", scopes[i]))
            return NULL;
    return steal_pointer(&url);
}

static bool strv_add(char ***v, size_t *n, char *s)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0) {
            free(s);
            return true;
        }
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
    if (nv == NULL) {
        free(s);
        return false;
    }
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return true;
}

char **tug_auth_scopes(const char *repo, bool push, const char *const *pull_repos,
                       const char *challenge_scope)
{
    cleanup_strv char **v = calloc(1, sizeof(*v));
    size_t n = 0;
    char *s = NULL;
    if (v == NULL)
        return NULL;
    /* no repository: a login, which asks for the challenge's scope alone */
    if (repo != NULL && (asprintf(&s, "repository:%s:pull%s", repo, push ? ",push" : "") < 0 ||
                         !strv_add(&v, &n, s)))
        return NULL;
    for (size_t i = 0; pull_repos != NULL && pull_repos[i] != NULL; i++)
        if (asprintf(&s, "repository:%s:pull", pull_repos[i]) < 0 || !strv_add(&v, &n, s))
            return NULL;
    /* a challenge may name several scopes at once, space separated (a mount's two repos) */
    for (const char *p = challenge_scope; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len > 0 && !strv_add(&v, &n, strndup(p, len)))
            return NULL;
        p += len + strspn(p + len, " ");
    }
    return steal_pointer(&v);
}

int tug_auth_parse_token(const char *body, size_t len, char **ret_token, tug_error **err)
{
    json_error_t jerr;
    json_auto_t *root = json_loadb(body, len, 0, &jerr);
    if (root == NULL)
        return tug_error_set(err, 0, "token answer is not JSON: %s", jerr.text);
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (tok == NULL || *tok == '\0')
        tok = json_string_value(json_object_get(root, "access_token"));
    if (tok == NULL || *tok == '\0')
        return tug_error_set(err, 0, "token answer holds no token");
    /* the token goes into a header line */
    if (strpbrk(tok, "\r\n") != NULL)
        return tug_error_set(err, 0, "token answer holds a malformed token");
    char *t = strdup(tok);
    if (t == NULL)
        return tug_error_set(err, ENOMEM, "token");
    *ret_token = t;
    return 0;
}

/* ---- error bodies ---- */

/* "BLOB_UNKNOWN" -> "blob unknown" */
static char *describe_code(const char *code)
{
    char *s = strdup(code);
    if (s == NULL)
        return NULL;
    for (char *p = s; *p; p++) {
        if (*p == '_')
            *p = ' ';
        else if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return s;
}

char *tug_registry_error_text(const char *body, size_t len)
{
    if (body == NULL || len == 0)
        return NULL;
    json_auto_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root))
        return NULL;

    json_t *errors = json_object_get(root, "errors");
    json_t *first = json_array_get(errors, 0);
    if (json_is_object(first)) {
        const char *code = json_string_value(json_object_get(first, "code"));
        const char *msg = json_string_value(json_object_get(first, "message"));
        cleanup_free char *what = code && *code ? describe_code(code) : NULL;
        char *out = NULL;
        int r;
        if (what != NULL && msg != NULL && *msg != '\0' && strcasecmp(what, msg) != 0)
            r = asprintf(&out, "%s: %s", what, msg);
        else if (what != NULL)
            r = asprintf(&out, "%s", what);
        else if (msg != NULL && *msg != '\0')
            r = asprintf(&out, "%s", msg);
        else
            r = -1;
        return r < 0 ? NULL : out;
    }

    static const char *const keys[] = {"details", "error_description", "message", "error"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(keys); i++) {
        const char *s = json_string_value(json_object_get(root, keys[i]));
        if (s != NULL && *s != '\0')
            return strdup(s);
    }
    return NULL;
}

/* ---- insecure registries ---- */

/* Does an entry ("host", "host:port", "http://host:port/") name this domain? A bare host covers
 * every port. */
static bool insecure_entry_matches(const char *entry, size_t n, const char *domain)
{
    while (n > 0 && (*entry == ' ' || *entry == '\t'))
        entry++, n--;
    while (n > 0 && (entry[n - 1] == ' ' || entry[n - 1] == '\t' || entry[n - 1] == '/'))
        n--;
    if (n > 8 && strncasecmp(entry, "https://", 8) == 0)
        entry += 8, n -= 8;
    else if (n > 7 && strncasecmp(entry, "http://", 7) == 0)
        entry += 7, n -= 7;
    if (n == 0)
        return false;
    if (strlen(domain) == n && strncasecmp(entry, domain, n) == 0)
        return true;
    const char *port = strrchr(domain, ':');
    if (port == NULL || strchr(port, ']') != NULL || memchr(entry, ':', n) != NULL)
        return false;
    return (size_t)(port - domain) == n && strncasecmp(entry, domain, n) == 0;
}

bool tug_auth_insecure(const char *domain, const char *const *list, const char *env_list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (insecure_entry_matches(list[i], strlen(list[i]), domain))
            return true;
    while (env_list != NULL && *env_list != '\0') {
        size_t n = strcspn(env_list, ",");
        if (insecure_entry_matches(env_list, n, domain))
            return true;
        env_list += n;
        if (*env_list == ',')
            env_list++;
    }
    return false;
}
