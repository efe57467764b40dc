/* What every HTTP transfer of tug's shares (the registry client's, ADD's downloads): libcurl
 * opened and initialised once, and the options a transfer starts from. */
#pragma once
#include <curl/curl.h>

#include "../util/error.h"

/* Open libcurl (on first use) and initialise it once for the process. */
int tug_http_init(tug_error **err);

/* url over http or https only (redirects too, at most 10), errors into errbuf (CURL_ERROR_SIZE
 * bytes), 30 s to connect and a minute without a byte to give up, no signals. */
void tug_http_setup(CURL *curl, const char *url, const char *user_agent, char *errbuf);
