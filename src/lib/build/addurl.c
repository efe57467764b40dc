/* ADD's remote sources. Downloads go through libcurl as the registry client's transfers do (the
 * same setup), into an unlinked file hashed while it is written. */
#include "addurl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../registry/http.h"

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

tug_add_kind tug_add_source_kind(const char *src)
{
    if (has_prefix(src, "git@") || has_prefix(src, "git://") || has_prefix(src, "ssh://"))
        return TUG_ADD_GIT;
    if (!has_prefix(src, "http://") && !has_prefix(src, "https://"))
        return TUG_ADD_LOCAL;
    /* BuildKit reads an http(s) URL whose path ends in .git (then an optional #ref) as git */
    size_t len = strcspn(src, "?#");
    if (len >= 4 && strncmp(src + len - 4, ".git", 4) == 0)
        return TUG_ADD_GIT;
    return TUG_ADD_HTTP;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *tug_url_file_name(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p += strcspn(p, "/?#"); /* past the host */
    size_t len = *p == '/' ? strcspn(p, "?#") : 0;
    while (len > 0 && p[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/')
        start--;
    /* percent-decoded: a %2F splits the path as Go's url.Parse does, so the part after it */
    cleanup_free char *name = malloc(len - start + 1);
    if (name == NULL)
        return NULL;
    size_t n = 0;
    bool bad = false;
    for (size_t i = start; i < len; i++) {
        char c = p[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(p[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                bad = true; /* Go refuses such a URL: no name from it */
                break;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '/') {
            n = 0;
            continue;
        }
        if (c == '\0') {
            bad = true;
            break;
        }
        name[n++] = c;
    }
    name[n] = '\0';
    if (bad || n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return strdup("__unnamed__");
    return steal_pointer(&name);
}

int tug_add_checksum_valid(const char *sum)
{
    if (!has_prefix(sum, "sha256:") || strlen(sum) != 7 + 64)
        return -1;
    for (const char *c = sum + 7; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return -1;
    return 0;
}

/* ---- the download ---- */

typedef struct fetch {
    int fd;
    tug_sha256 *hash;
    int write_errno;
    char status_line[128]; /* the last response's, for its reason phrase */
} fetch;

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    fetch *f = userdata;
    size_t n = size * nitems;
    if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        size_t l = n < sizeof(f->status_line) ? n : sizeof(f->status_line) - 1;
        memcpy(f->status_line, buf, l);
        f->status_line[l] = '\0';
        f->status_line[strcspn(f->status_line, "\r\n")] = '\0';
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    fetch *f = userdata;
    size_t n = size * nmemb;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(f->fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            f->write_errno = errno;
            return 0; /* curl stops with CURLE_WRITE_ERROR */
        }
        off += (size_t)w;
    }
    tug_sha256_update(f->hash, data, n);
    return n;
}

static void curl_cleanupp(CURL **c)
{
    if (*c)
        curl_easy_cleanup(*c);
}

/* "404 Not Found" out of "HTTP/1.1 404 Not Found" (or the number alone). */
static const char *status_text(const fetch *f, long status, char *buf, size_t size)
{
    const char *sp = strchr(f->status_line, ' ');
    if (sp && strtol(sp + 1, NULL, 10) == status) {
        snprintf(buf, size, "%s", sp + 1);
        return buf;
    }
    snprintf(buf, size, "%ld", status);
    return buf;
}

int tug_download_url(const char *url, const char *tmpdir, tug_download *ret, tug_error **err)
{
    if (tug_http_init(err) < 0)
        return -1;
    cleanup_close int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "a temporary file in %s", tmpdir);
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(err);
    if (h == NULL)
        return -1;
    __attribute__((cleanup(curl_cleanupp))) CURL *c = curl_easy_init();
    if (c == NULL)
        return tug_error_set(err, ENOMEM, "libcurl");
    fetch f = {.fd = fd, .hash = h};
    char errbuf[CURL_ERROR_SIZE];
    tug_http_setup(c, url, "tug/" TUG_VERSION, errbuf);
    curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_WRITE_ERROR && f.write_errno)
        return tug_error_set(err, f.write_errno, "write the download into %s", tmpdir);
    if (rc != CURLE_OK)
        return tug_error_user(err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (status < 200 || status > 299) {
        char text[128];
        return tug_error_user(err, "the server answered %s",
                              status_text(&f, status, text, sizeof(text)));
    }
    curl_off_t when = -1;
    if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &when) != CURLE_OK)
        when = -1;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "seek the download");
    tug_sha256_final(h, ret->digest);
    ret->mtime = when > 0 ? (long long)when : 0;
    ret->fd = steal_fd(&fd);
    return 0;
}
