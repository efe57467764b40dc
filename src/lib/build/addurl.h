/* ADD's remote sources: what a source names (a local path, an http(s) URL, a git repository),
 * the name a download gets, and the download itself. */
#pragma once
#include <stdbool.h>

#include "../util/digest.h"
#include "../util/error.h"

typedef enum {
    TUG_ADD_LOCAL, /* a path in the context */
    TUG_ADD_HTTP,  /* http:// or https://: downloaded */
    TUG_ADD_GIT,   /* git@host:repo, git://, ssh://, or an http(s) URL of a .git (#ref) */
} tug_add_kind;

/* What an ADD source names, as BuildKit tells them apart. */
tug_add_kind tug_add_source_kind(const char *src);

/* The file name a download gets under a directory destination, as BuildKit names it: the URL
 * path's last part (percent-decoded, trailing slashes ignored), "__unnamed__" when it has none.
 * NULL on ENOMEM. */
char *tug_url_file_name(const char *url);

/* 0 when sum is "sha256:" and 64 lower-case hex digits (--checksum's form that tug checks). */
int tug_add_checksum_valid(const char *sum);

typedef struct tug_download {
    int fd;                          /* the content, an unlinked file at offset 0 */
    char digest[TUG_DIGEST_LEN + 1]; /* "sha256:<hex>" of it */
    long long mtime;                 /* Last-Modified, else 0 (BuildKit's epoch) */
} tug_download;

/* GET url (following redirects) into an unlinked file in tmpdir. A status that is not 2xx and
 * a host that cannot be reached are user errors naming the URL. */
int tug_download_url(const char *url, const char *tmpdir, tug_download *ret, tug_error **err);
