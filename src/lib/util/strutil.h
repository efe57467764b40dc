/* Small string helpers, and the number and time formats docker prints. */
#pragma once
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* docker's units.HumanSizeWithPrecision: decimal units, "%.*g" precision digits: 142MB, 4.26MB. */
char *tug_human_size(double size, int precision);
/* docker's units.BytesSize: binary units, four significant digits (1.234MiB, 23.54GiB). */
char *tug_human_size_binary(double size);
/* docker's units.HumanDuration: "Less than a second", "About a minute", "3 weeks". */
char *tug_human_duration(long long seconds);
/* "<duration> ago" from a unix time to now; "N/A" for time 0. */
char *tug_time_ago(long long unix_time);
/* Truncate to at most width characters (counting UTF-8 code points), ending in "…". */
char *tug_ellipsis(const char *s, size_t width);
/* RFC 3339 with nanoseconds in UTC, as Go formats time.Time in JSON. */
char *tug_format_rfc3339(long long sec, long nsec);
/* Parse RFC 3339 ("2021-12-29T19:28:29.892199479Z", offsets too); -1 on failure. */
int tug_parse_rfc3339(const char *s, long long *ret_sec, long *ret_nsec);
bool tug_str_has_prefix(const char *s, const char *prefix);
/* Append one formatted line (and its newline) to *text (NULL: empty); on failure it stays. */
void tug_append_line(char **text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tug_append_linev(char **text, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Wall-clock time in nanoseconds since the epoch. */
long long tug_now_ns(void);
/* Parse a size like "10m", "1.5g", "512k" or plain bytes; -1 on failure. */
int tug_parse_size(const char *s, long long *ret);
/* A decimal ("1.5", "-2", "0.01") in billionths, exactly (1.5 -> 1500000000), as docker reads
 * --cpus: -1 for anything else ("inf", "nan", "1e3", more than 9 decimals); a value past what
 * 64 bits hold comes out as the largest (or smallest) one, for range checks to refuse. */
int tug_parse_nano(const char *s, long long *ret);
/* Go's path.Match glob (*, ?, [...]; '*' does not cross '/'). */
bool tug_glob_match(const char *pattern, const char *s);
/* A Go duration ("30s", "1m30s", "1.5h", "-2ms", "0"; units ns us µs ms s m h) in
 * nanoseconds; -1 when malformed or beyond int64. */
int tug_parse_go_duration(const char *s, int64_t *ret_ns);
/* docker's until= of the prune filters: a duration back from now (24h), unix seconds, or an
 * RFC 3339 time, as unix seconds; 0, or -1 for none of those. */
int tug_parse_until(const char *v, long long *ret);

/* A growable string to build text in. After an allocation
 * fails every append is a no-op and tug_strbuf_steal returns NULL. */
typedef struct tug_strbuf {
    char *s;
    size_t len, cap;
    bool failed;
} tug_strbuf;

void tug_strbuf_add(tug_strbuf *b, const char *s, size_t n);
void tug_strbuf_addc(tug_strbuf *b, char c);
void tug_strbuf_adds(tug_strbuf *b, const char *s);
/* The text as a new string (the buffer is left empty), or NULL when an allocation failed. */
char *tug_strbuf_steal(tug_strbuf *b);
void tug_strbuf_free(tug_strbuf *b);
/* nbytes (at most 64) random bytes as lower-case hex into out (2 * nbytes + 1 chars): IDs. */
void tug_random_hex(char *out, size_t nbytes);
/* Go's path.Clean of the n bytes at path (n > 0), written to out, which has room for n + 2 bytes:
 * one slash between names, no "." names, ".." taken back where it can be. Returns out. */
char *tug_path_clean_to(const char *path, size_t n, char *out);
/* The strings of a JSON array joined by spaces, as docker shows a command (history, errors);
 * "" for no array. NULL only without memory. */
char *tug_json_join_words(json_t *words);

/* docker's detach keys ("ctrl-p,ctrl-q", "ctrl-a,x"): comma separated, each one character or
 * ctrl-@, ctrl-a..ctrl-z, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_ (another "ctrl-" name is
 * skipped, as docker does). Writes at most cap bytes to out and their count to *ret_len; -1 for
 * anything else (an empty sequence too). */
int tug_detach_keys_parse(const char *spec, unsigned char *out, size_t cap, size_t *ret_len);

/* Watches typed input for a detach sequence. Bytes of a partial sequence are held back until
 * the next byte tells: the sequence's end detaches, any other byte lets them all through. */
typedef struct tug_detach_matcher {
    unsigned char keys[16];
    size_t len;     /* 0: nothing detaches */
    size_t matched; /* bytes of keys held back */
} tug_detach_matcher;
/* Copies the n bytes at in that are to be forwarded to out (room for n + 16 bytes), their
 * count to *ret_len; true when the sequence completed (what followed it is dropped). */
bool tug_detach_filter(tug_detach_matcher *d, const char *in, size_t n, char *out,
                       size_t *ret_len);
/* docker's label filter against an object's Labels: "key" (present) or "key=value". */
bool tug_label_match(json_t *labels, const char *filter);

/* docker's prune filters: every label= (key or key=value) must hold, label!= must not;
 * until=: only what was created before (unix seconds; 0: any time). */
typedef struct tug_prune_filter {
    const char *labels[16];
    size_t nlabels;
    const char *nolabels[16];
    size_t nnolabels;
    long long until;
} tug_prune_filter;

bool tug_prune_match(const tug_prune_filter *f, json_t *labels, long long created);
