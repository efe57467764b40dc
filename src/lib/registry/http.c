#include "http.h"

#include <pthread.h>

#include "../util/lazylib.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tug_http_init(tug_error **err)
{
    if (tug_lazylib_load(&tug_libcurl, err) < 0)
        return -1;
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return tug_error_set(err, 0, "initialize libcurl: %s",
                             curl_easy_strerror(curl_init_result));
    return 0;
}

void tug_http_setup(CURL *curl, const char *url, const char *user_agent, char *errbuf)
{
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* blob storage often sits behind a redirect; libcurl keeps an Authorization header for the
     * original host only */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    /* no total timeout: a large layer on a slow link may take hours, a stalled one may not */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
}
