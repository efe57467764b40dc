/* libcurl, opened on first use: the functions tug calls, forwarded to the real library.
 * tug_registry_open loads it and reports a failure; a forwarder reached without it fails as
 * curl itself would fail. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "../util/lazylib.h"

#define CURL_FNS(X)                                                                                \
    X(curl_global_init)                                                                            \
    X(curl_easy_init)                                                                              \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_reset)                                                                             \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_strerror)                                                                          \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_getinfo)                                                                           \
    X(curl_share_init)                                                                             \
    X(curl_share_cleanup)                                                                          \
    X(curl_share_setopt)                                                                           \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)                                                                         \
    X(curl_free)                                                                                   \
    X(curl_url)                                                                                    \
    X(curl_url_cleanup)                                                                            \
    X(curl_url_get)                                                                                \
    X(curl_url_set)

CURL_FNS(TUG_LAZY_POINTER)
static const tug_lazysym curl_syms[] = {CURL_FNS(TUG_LAZY_ENTRY){NULL, NULL}};
static const char *const curl_sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4", NULL};
tug_lazylib tug_libcurl = {.sonames = curl_sonames, .syms = curl_syms};

#define LOADED tug_lazylib_ready(&tug_libcurl)
#define CALL_OR(fail, name, ...) TUG_LAZY_CALL_OR(&tug_libcurl, fail, name, __VA_ARGS__)

CURLcode curl_global_init(long flags)
{
    return CALL_OR(CURLE_FAILED_INIT, curl_global_init, flags);
}

CURL *curl_easy_init(void)
{
    return CALL_OR(NULL, curl_easy_init);
}

void curl_easy_cleanup(CURL *h)
{
    if (LOADED)
        p_curl_easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
    if (LOADED)
        p_curl_easy_reset(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return CALL_OR(CURLE_FAILED_INIT, curl_easy_perform, h);
}

const char *curl_easy_strerror(CURLcode c)
{
    return CALL_OR("libcurl is not loaded", curl_easy_strerror, c);
}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    if (!LOADED)
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode r;
    /* The option number tells the argument's type. */
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        r = p_curl_easy_setopt(h, opt, va_arg(ap, long));
    else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
        r = p_curl_easy_setopt(h, opt, va_arg(ap, curl_off_t));
    else
        r = p_curl_easy_setopt(h, opt, va_arg(ap, void *));
    va_end(ap);
    return r;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *);
    va_end(ap);
    return CALL_OR(CURLE_FAILED_INIT, curl_easy_getinfo, h, info, out);
}

CURLSH *curl_share_init(void)
{
    return CALL_OR(NULL, curl_share_init);
}

CURLSHcode curl_share_cleanup(CURLSH *sh)
{
    return CALL_OR(CURLSHE_NOT_BUILT_IN, curl_share_cleanup, sh);
}

CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
    if (!LOADED)
        return CURLSHE_NOT_BUILT_IN;
    va_list ap;
    va_start(ap, opt);
    CURLSHcode r;
    if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
        r = p_curl_share_setopt(sh, opt, va_arg(ap, int));
    else
        r = p_curl_share_setopt(sh, opt, va_arg(ap, void *));
    va_end(ap);
    return r;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return CALL_OR(NULL, curl_slist_append, l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
    if (LOADED)
        p_curl_slist_free_all(l);
}

void curl_free(void *p)
{
    if (LOADED)
        p_curl_free(p);
}

CURLU *curl_url(void)
{
    return CALL_OR(NULL, curl_url);
}

void curl_url_cleanup(CURLU *u)
{
    if (LOADED)
        p_curl_url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
    return CALL_OR(CURLUE_OUT_OF_MEMORY, curl_url_get, u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
    return CALL_OR(CURLUE_OUT_OF_MEMORY, curl_url_set, u, what, part, flags);
}
