#include "reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"
#include "../util/digest.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    return false;
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool valid_path_component(const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == start)
            return false;
        if (i == n)
            return true;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
    }
}

static bool valid_path(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (!valid_path_component(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* One label of a host name: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? */
static bool valid_host_label(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* host[:port] where host is a dotted name, an IPv4 address or a bracketed IPv6 address. */
static bool valid_domain(const char *s, size_t n)
{
    size_t host_end;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':'))
                return false;
        host_end = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        host_end = colon ? (size_t)(colon - s) : n;
        size_t start = 0;
        for (size_t i = 0; i <= host_end; i++) {
            if (i == host_end || s[i] == '.') {
                if (!valid_host_label(s + start, i - start))
                    return false;
                start = i + 1;
            }
        }
    }
    if (host_end == n)
        return true;
    return s[host_end] == ':' && is_digits(s + host_end + 1, n - host_end - 1);
}

static bool valid_tag(const char *s, size_t n)
{
    if (n == 0 || n > TAG_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool word = is_alnum(s[i]) || s[i] == '_';
        if (!word && (i == 0 || (s[i] != '.' && s[i] != '-')))
            return false;
    }
    return true;
}

/* docker's rule: the first component names a registry only when it cannot be a repository
 * component, i.e. it has a '.', a ':' or an uppercase letter, or is "localhost". */
static bool looks_like_domain(const char *s, size_t n)
{
    return memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
           (n == 9 && memcmp(s, "localhost", 9) == 0) || has_upper(s, n);
}

static int invalid(tug_error **err)
{
    return tug_error_user(err, "invalid reference format");
}

void tug_reference_free(tug_reference *ref)
{
    if (ref == NULL)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    free(ref);
}

void tug_reference_freep(tug_reference **ref)
{
    tug_reference_free(*ref);
    *ref = NULL;
}

int tug_reference_parse(const char *s, tug_reference **ret_ref, tug_error **err)
{
    if (s == NULL || *s == '\0')
        return invalid(err);

    size_t len = strlen(s);
    /* A bare image ID would otherwise become docker.io/library/<hex>. */
    if (len == 64 && strspn(s, "0123456789abcdef") == 64)
        return tug_error_user(err,
                              "invalid reference format: repository name (%s) cannot be a "
                              "64-character hexadecimal string",
                              s);

    const char *at = strchr(s, '@');
    size_t name_tag_len = at ? (size_t)(at - s) : len;
    const char *digest = at ? at + 1 : NULL;
    if (digest != NULL && !tug_digest_valid(digest))
        return invalid(err);

    /* A ':' after the last '/' starts the tag; one before it belongs to a registry port. */
    size_t name_len = name_tag_len;
    const char *tag = NULL;
    size_t tag_len = 0;
    for (size_t i = name_tag_len; i > 0; i--) {
        char c = s[i - 1];
        if (c == '/')
            break;
        if (c == ':') {
            name_len = i - 1;
            tag = s + i;
            tag_len = name_tag_len - i;
            break;
        }
    }
    if (tag != NULL && !valid_tag(tag, tag_len))
        return invalid(err);
    if (name_len == 0)
        return invalid(err);

    const char *slash = memchr(s, '/', name_len);
    const char *domain = DEFAULT_DOMAIN;
    size_t domain_len = strlen(DEFAULT_DOMAIN);
    const char *rest = s;
    size_t rest_len = name_len;
    if (slash != NULL && looks_like_domain(s, (size_t)(slash - s))) {
        domain = s;
        domain_len = (size_t)(slash - s);
        rest = slash + 1;
        rest_len = name_len - domain_len - 1;
        if (!valid_domain(domain, domain_len))
            return invalid(err);
        if (domain_len == strlen(LEGACY_DOMAIN) && memcmp(domain, LEGACY_DOMAIN, domain_len) == 0) {
            domain = DEFAULT_DOMAIN;
            domain_len = strlen(DEFAULT_DOMAIN);
        }
    }

    if (has_upper(rest, rest_len))
        return tug_error_user(err, "invalid reference format: repository name must be lowercase");
    if (!valid_path(rest, rest_len))
        return invalid(err);

    bool official = domain_len == strlen(DEFAULT_DOMAIN) &&
                    memcmp(domain, DEFAULT_DOMAIN, domain_len) == 0 &&
                    memchr(rest, '/', rest_len) == NULL;

    cleanup_reference tug_reference *ref = calloc(1, sizeof(*ref));
    if (ref == NULL)
        return tug_error_set(err, ENOMEM, "parse reference");
    ref->domain = strndup(domain, domain_len);
    if (asprintf(&ref->path, "%s%.*s", official ? OFFICIAL_PREFIX : "", (int)rest_len, rest) < 0)
        ref->path = NULL;
    if (tag != NULL) {
        ref->tag = strndup(tag, tag_len);
    } else if (digest == NULL) {
        ref->tag = strdup("latest");
        ref->tag_defaulted = true;
    }
    if (digest != NULL)
        ref->digest = strdup(digest);
    if (ref->domain == NULL || ref->path == NULL ||
        ((tag != NULL || digest == NULL) && !ref->tag) || (digest != NULL && ref->digest == NULL))
        return tug_error_set(err, ENOMEM, "parse reference");

    if (strlen(ref->domain) + 1 + strlen(ref->path) > NAME_MAX_LEN)
        return tug_error_user(err,
                              "invalid reference format: repository name must not be more "
                              "than %d characters",
                              NAME_MAX_LEN);

    *ret_ref = steal_pointer(&ref);
    return 0;
}

char *tug_reference_name(const tug_reference *ref)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", ref->domain, ref->path) < 0)
        return NULL;
    return s;
}

char *tug_reference_string(const tug_reference *ref)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
                 ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                 ref->digest ? ref->digest : "") < 0)
        return NULL;
    return s;
}

char *tug_familiar_name(const char *full_name)
{
    const char *p = full_name;
    size_t dlen = strlen(DEFAULT_DOMAIN);
    if (strncmp(p, DEFAULT_DOMAIN, dlen) == 0 && p[dlen] == '/') {
        p += dlen + 1;
        size_t plen = strlen(OFFICIAL_PREFIX);
        /* "library/" is dropped only for one-component official names, like docker does. */
        if (strncmp(p, OFFICIAL_PREFIX, plen) == 0 && strchr(p + plen, '/') == NULL)
            p += plen;
    }
    return strdup(p);
}

const char *tug_registry_host(const char *domain)
{
    if (strcmp(domain, DEFAULT_DOMAIN) == 0)
        return "registry-1.docker.io";
    return domain;
}

/* 127.0.0.0/8 in dotted-quad form. */
static bool is_ipv4_loopback(const char *s, size_t n)
{
    int parts = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        size_t plen = i - start;
        if (plen == 0 || plen > 3 || !is_digits(s + start, plen))
            return false;
        int v = 0;
        for (size_t j = start; j < i; j++)
            v = v * 10 + (s[j] - '0');
        if (v > 255 || (parts == 0 && v != 127))
            return false;
        parts++;
        start = i + 1;
    }
    return parts == 4;
}

bool tug_domain_is_loopback(const char *domain)
{
    if (domain == NULL)
        return false;
    size_t n = strlen(domain);
    size_t host_len = n;
    if (strncmp(domain, "[::1]", 5) == 0) {
        host_len = 5;
    } else {
        const char *colon = strchr(domain, ':');
        if (colon != NULL)
            host_len = (size_t)(colon - domain);
    }
    if (host_len < n &&
        (domain[host_len] != ':' || !is_digits(domain + host_len + 1, n - host_len - 1)))
        return false;
    if (host_len == 5 && strncmp(domain, "[::1]", 5) == 0)
        return true;
    if (host_len == 9 && strncasecmp(domain, "localhost", 9) == 0)
        return true;
    return is_ipv4_loopback(domain, host_len);
}

char *tug_familiar_ref(const char *full)
{
    const char *cut = strchr(full, '@');
    const char *colon = strrchr(full, ':'), *slash = strrchr(full, '/');
    if (cut == NULL && colon && (slash == NULL || colon > slash))
        cut = colon;
    if (cut == NULL)
        return tug_familiar_name(full);
    char *name = strndup(full, (size_t)(cut - full));
    char *fam = name ? tug_familiar_name(name) : NULL;
    char *out = NULL;
    if (fam == NULL || asprintf(&out, "%s%s", fam, cut) < 0)
        out = NULL;
    free(name);
    free(fam);
    return out;
}
