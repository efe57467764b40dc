/* libcurl, opened on first use: the functions tug calls, forwarded to the real library. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "../util/lazylib.h"

static const char *const curl_sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4", NULL};

#define REAL(name) ((__typeof__(&name))tug_lazylib_sym(curl_sonames, #name))

CURLcode curl_global_init(long flags)
{
    return REAL(curl_global_init)(flags);
}

CURL *curl_easy_init(void)
{
    return REAL(curl_easy_init)();
}

void curl_easy_cleanup(CURL *h)
{
    REAL(curl_easy_cleanup)(h);
}

void curl_easy_reset(CURL *h)
{
    REAL(curl_easy_reset)(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return REAL(curl_easy_perform)(h);
}

const char *curl_easy_strerror(CURLcode c)
{
    return REAL(curl_easy_strerror)(c);
}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    CURLcode (*fn)(CURL *, CURLoption, ...) = REAL(curl_easy_setopt);
    CURLcode r;
    /* The option number tells the argument's type. */
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        r = fn(h, opt, va_arg(ap, long));
    else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
        r = fn(h, opt, va_arg(ap, curl_off_t));
    else
        r = fn(h, opt, va_arg(ap, void *));
    va_end(ap);
    return r;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *);
    va_end(ap);
    CURLcode (*fn)(CURL *, CURLINFO, ...) = REAL(curl_easy_getinfo);
    return fn(h, info, out);
}

CURLSH *curl_share_init(void)
{
    return REAL(curl_share_init)();
}

CURLSHcode curl_share_cleanup(CURLSH *sh)
{
    return REAL(curl_share_cleanup)(sh);
}

CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
    va_list ap;
    va_start(ap, opt);
    CURLSHcode (*fn)(CURLSH *, CURLSHoption, ...) = REAL(curl_share_setopt);
    CURLSHcode r;
    if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
        r = fn(sh, opt, va_arg(ap, int));
    else
        r = fn(sh, opt, va_arg(ap, void *));
    va_end(ap);
    return r;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return REAL(curl_slist_append)(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
    REAL(curl_slist_free_all)(l);
}

void curl_free(void *p)
{
    REAL(curl_free)(p);
}

CURLU *curl_url(void)
{
    return REAL(curl_url)();
}

void curl_url_cleanup(CURLU *u)
{
    REAL(curl_url_cleanup)(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
    return REAL(curl_url_get)(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
    return REAL(curl_url_set)(u, what, part, flags);
}
