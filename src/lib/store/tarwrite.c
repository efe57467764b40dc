/* Tar headers as Go's archive/tar (1.19, docker 20.10's) writes them for moby's pkg/archive:
 * a header is USTAR when every field fits one, with a long name split between the prefix and
 * name fields where a '/' allows it; otherwise a PAX extended header ('x', named
 * DIR/PaxHeaders.0/BASE) holds what does not fit, in records sorted by key, and the block after
 * it holds the rest, each field cut to its size (numbers that do not fit are written as 0). */
#include "tarwrite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

/* Fields of a header block: offset and size. */
enum {
    F_NAME = 0,
    F_NAME_LEN = 100,
    F_MODE = 100,
    F_UID = 108,
    F_GID = 116,
    F_NUM8_LEN = 8,
    F_SIZE = 124,
    F_MTIME = 136,
    F_NUM12_LEN = 12,
    F_CHKSUM = 148,
    F_TYPE = 156,
    F_LINK = 157,
    F_MAGIC = 257,
    F_UNAME = 265,
    F_GNAME = 297,
    F_OWNER_LEN = 32,
    F_DEVMAJOR = 329,
    F_DEVMINOR = 337,
    F_PREFIX = 345,
    F_PREFIX_LEN = 155,
};

/* What Go refuses to put in one PAX header's records. */
#define PAX_MAX_RECORDS (1 << 20)

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* s without its bytes >= 0x80: Go drops every rune that is not ASCII, and a byte that is not
 * ASCII is always part of one. */
static char *to_ascii(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (; *s; s++)
        if ((unsigned char)*s < 0x80)
            *o++ = *s;
    *o = '\0';
    return out;
}

static bool fits_octal(size_t field, long long x)
{
    return x >= 0 && (field >= 22 || x < 1LL << ((field - 1) * 3));
}

/* Zero-padded octal and a NUL; a number that does not fit is written as 0. */
static void put_octal(uint8_t *b, size_t n, long long x)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%0*llo", (int)(n - 1), fits_octal(n, x) ? x : 0LL);
    memcpy(b, digits, n - 1);
    b[n - 1] = '\0';
}

/* s cut to the field, NUL-terminated when there is room. A name cut right after a '/' loses
 * the slashes it ends with (Go does it so that no reader takes a file for a directory). */
static void put_string(uint8_t *b, size_t n, const char *s)
{
    size_t len = strlen(s);
    memcpy(b, s, len < n ? len : n);
    if (len < n)
        b[len] = '\0';
    if (len > n && b[n - 1] == '/') {
        size_t k = n;
        while (k > 0 && s[k - 1] == '/')
            k--;
        b[k] = '\0';
    }
}

/* Where a name too long for the name field splits into prefix and name: the last '/' that
 * leaves at most 155 bytes before it and 1 to 100 after it. */
static bool split_ustar(const char *name, size_t *ret_at)
{
    size_t len = strlen(name), end = len;
    if (len <= F_NAME_LEN || !is_ascii(name))
        return false;
    if (end > F_PREFIX_LEN + 1)
        end = F_PREFIX_LEN + 1;
    else if (name[end - 1] == '/')
        end--;
    const char *slash = memrchr(name, '/', end);
    if (slash == NULL || slash == name)
        return false;
    size_t at = (size_t)(slash - name), rest = len - at - 1;
    if (rest > F_NAME_LEN || rest == 0 || at > F_PREFIX_LEN)
        return false;
    *ret_at = at;
    return true;
}

/* The magic and the checksum, once every other field is in place. */
static void finish_block(uint8_t *blk)
{
    static const char magic[8] = {'u', 's', 't', 'a', 'r', '\0', '0', '0'}; /* and version */
    memcpy(blk + F_MAGIC, magic, sizeof(magic));
    unsigned long sum = 0;
    for (size_t i = 0; i < TUG_TAR_BLOCK; i++)
        sum += i >= F_CHKSUM && i < F_CHKSUM + 8 ? ' ' : blk[i];
    put_octal(blk + F_CHKSUM, 7, (long long)sum);
    blk[F_CHKSUM + 7] = ' ';
}

struct record {
    char *key; /* owned */
    const void *value;
    size_t len;
};

/* An entry's records: at most one per header field that can overflow, and its xattrs. */
#define MAX_FIELD_RECORDS 8
struct records {
    struct record *v;
    size_t n, cap;
    char numbers[4][24];
    size_t n_numbers;
};

static void records_clear(struct records *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].key);
    free(r->v);
}

static int add_record(struct records *r, const char *prefix, const char *key, const void *value,
                      size_t len)
{
    if (r->n == r->cap)
        return -E2BIG;
    if (asprintf(&r->v[r->n].key, "%s%s", prefix, key) < 0)
        return -ENOMEM;
    r->v[r->n].value = value;
    r->v[r->n].len = len;
    r->n++;
    return 0;
}

static int add_number(struct records *r, const char *key, long long x)
{
    char *s = r->numbers[r->n_numbers++];
    int n = snprintf(s, sizeof(r->numbers[0]), "%lld", x);
    return add_record(r, "", key, s, (size_t)n);
}

static int record_cmp(const void *a, const void *b)
{
    return strcmp(((const struct record *)a)->key, ((const struct record *)b)->key);
}

static size_t digits(size_t x)
{
    size_t d = 1;
    while (x >= 10) {
        x /= 10;
        d++;
    }
    return d;
}

/* "LEN KEY=VALUE\n", LEN counting itself. */
static size_t record_len(const struct record *r)
{
    size_t n = strlen(r->key) + r->len + 3, total = n + digits(n);
    if (digits(total) != digits(n))
        total = n + digits(total);
    return total;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *nb = realloc(*buf, c);
    if (nb == NULL)
        return -1;
    *buf = nb;
    *cap = c;
    return 0;
}

/* The records e needs and whether a USTAR header alone can hold it. */
static int collect(const tug_tar_entry *e, struct records *r, bool *ret_ustar)
{
    const char *link = e->linkname ? e->linkname : "";
    const char *uname = e->uname ? e->uname : "", *gname = e->gname ? e->gname : "";
    size_t at;
    bool ustar = e->n_xattrs == 0;
    int rc = 0;
    if (!is_ascii(e->name) || strlen(e->name) > F_NAME_LEN) {
        ustar &= split_ustar(e->name, &at);
        rc = rc ? rc : add_record(r, "", "path", e->name, strlen(e->name));
    }
    static const struct {
        const char *key;
        size_t size;
    } strings[] = {{"linkpath", F_NAME_LEN}, {"uname", F_OWNER_LEN}, {"gname", F_OWNER_LEN}};
    const char *values[] = {link, uname, gname};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(strings); i++)
        if (!is_ascii(values[i]) || strlen(values[i]) > strings[i].size) {
            ustar = false;
            rc = rc ? rc : add_record(r, "", strings[i].key, values[i], strlen(values[i]));
        }
    static const struct {
        const char *key;
        size_t size;
    } numbers[] = {
        {"uid", F_NUM8_LEN}, {"gid", F_NUM8_LEN}, {"size", F_NUM12_LEN}, {"mtime", F_NUM12_LEN}};
    const long long nvalues[] = {e->uid, e->gid, e->size, e->mtime};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(numbers); i++)
        if (!fits_octal(numbers[i].size, nvalues[i])) {
            ustar = false;
            rc = rc ? rc : add_number(r, numbers[i].key, nvalues[i]);
        }
    for (size_t i = 0; i < e->n_xattrs && rc == 0; i++) {
        if (strchr(e->xattrs[i].name, '=') != NULL)
            return -EINVAL;
        rc =
            add_record(r, "SCHILY.xattr.", e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len);
    }
    *ret_ustar = ustar;
    return rc;
}

/* DIR/PaxHeaders.0/BASE (a directory's: DIR/BASE/PaxHeaders.0), as path.Join makes it. */
static char *pax_name(const char *name)
{
    size_t len = strlen(name);
    bool dir = len > 0 && name[len - 1] == '/';
    const char *slash = dir ? NULL : strrchr(name, '/');
    size_t dlen = dir ? len : slash ? (size_t)(slash - name) + 1 : 0;
    char *joined = NULL;
    if (asprintf(&joined, "%.*sPaxHeaders.0%s%s", (int)dlen, name, dir ? "" : "/",
                 dir ? "" : name + dlen) < 0)
        return NULL;
    char *ascii = to_ascii(joined);
    free(joined);
    if (ascii == NULL)
        return NULL;
    if (strlen(ascii) > F_NAME_LEN)
        ascii[F_NAME_LEN] = '\0';
    for (size_t n = strlen(ascii); n > 0 && ascii[n - 1] == '/'; n--)
        ascii[n - 1] = '\0';
    return ascii;
}

/* Every field of e's block (zeroed before) but the prefix, the magic and the checksum; strings
 * made ASCII first when ascii (a PAX header's block, whose records hold what it cuts). */
static int fill_block(uint8_t *h, const tug_tar_entry *e, bool ascii)
{
    const char *strs[] = {e->name, e->linkname ? e->linkname : "", e->uname ? e->uname : "",
                          e->gname ? e->gname : ""};
    static const size_t offs[] = {F_NAME, F_LINK, F_UNAME, F_GNAME};
    static const size_t lens[] = {F_NAME_LEN, F_NAME_LEN, F_OWNER_LEN, F_OWNER_LEN};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(strs); i++) {
        cleanup_free char *a = ascii ? to_ascii(strs[i]) : NULL;
        if (ascii && a == NULL)
            return -1;
        put_string(h + offs[i], lens[i], ascii ? a : strs[i]);
    }
    put_octal(h + F_MODE, F_NUM8_LEN, e->mode);
    put_octal(h + F_UID, F_NUM8_LEN, e->uid);
    put_octal(h + F_GID, F_NUM8_LEN, e->gid);
    put_octal(h + F_SIZE, F_NUM12_LEN, e->size);
    put_octal(h + F_MTIME, F_NUM12_LEN, e->mtime);
    put_octal(h + F_DEVMAJOR, F_NUM8_LEN, e->devmajor);
    put_octal(h + F_DEVMINOR, F_NUM8_LEN, e->devminor);
    h[F_TYPE] = (uint8_t)e->type;
    return 0;
}

static long encode_pax(const tug_tar_entry *e, struct records *r, uint8_t **buf, size_t *cap,
                       tug_error **err)
{
    qsort(r->v, r->n, sizeof(r->v[0]), record_cmp);
    size_t data = 0;
    for (size_t i = 0; i < r->n; i++)
        data += record_len(&r->v[i]);
    if (data > PAX_MAX_RECORDS)
        return tug_error_set(err, E2BIG, "tar entry %s: its PAX records take %zu bytes", e->name,
                             data);
    size_t padded = (data + TUG_TAR_BLOCK - 1) / TUG_TAR_BLOCK * TUG_TAR_BLOCK;
    size_t total = TUG_TAR_BLOCK + padded + TUG_TAR_BLOCK;
    cleanup_free char *xname = pax_name(e->name);
    if (xname == NULL || grow(buf, cap, total) < 0)
        return tug_error_set(err, ENOMEM, "tar entry %s", e->name);
    uint8_t *x = *buf;
    memset(x, 0, total);
    put_string(x + F_NAME, F_NAME_LEN, xname);
    put_octal(x + F_MODE, F_NUM8_LEN, 0);
    put_octal(x + F_UID, F_NUM8_LEN, 0);
    put_octal(x + F_GID, F_NUM8_LEN, 0);
    put_octal(x + F_SIZE, F_NUM12_LEN, (long long)data);
    put_octal(x + F_MTIME, F_NUM12_LEN, 0);
    x[F_TYPE] = 'x';
    finish_block(x);
    char *p = (char *)x + TUG_TAR_BLOCK;
    for (size_t i = 0; i < r->n; i++) {
        size_t rl = record_len(&r->v[i]);
        int n = snprintf(p, rl, "%zu %s=", rl, r->v[i].key);
        memcpy(p + n, r->v[i].value, r->v[i].len);
        p[rl - 1] = '\n';
        p += rl;
    }

    /* the block after it: every string made ASCII and cut to its field */
    uint8_t *h = x + TUG_TAR_BLOCK + padded;
    if (fill_block(h, e, true) < 0)
        return tug_error_set(err, ENOMEM, "tar entry %s", e->name);
    finish_block(h);
    return (long)total;
}

static long encode_ustar(const tug_tar_entry *e, uint8_t **buf, size_t *cap, tug_error **err)
{
    if (grow(buf, cap, TUG_TAR_BLOCK) < 0)
        return tug_error_set(err, ENOMEM, "tar entry %s", e->name);
    uint8_t *h = *buf;
    memset(h, 0, TUG_TAR_BLOCK);
    fill_block(h, e, false);
    size_t at;
    if (split_ustar(e->name, &at)) {
        memset(h + F_NAME, 0, F_NAME_LEN);
        memcpy(h + F_PREFIX, e->name, at);
        put_string(h + F_NAME, F_NAME_LEN, e->name + at + 1);
    }
    finish_block(h);
    return TUG_TAR_BLOCK;
}

long tug_tar_encode(const tug_tar_entry *e, uint8_t **ret_buf, size_t *ret_cap, tug_error **err)
{
    /* what neither USTAR nor PAX can hold (Go would fall back to GNU's base-256 numbers) */
    if (!fits_octal(F_NUM8_LEN, e->mode) || !fits_octal(F_NUM8_LEN, e->devmajor) ||
        !fits_octal(F_NUM8_LEN, e->devminor))
        return tug_error_set(err, EOVERFLOW, "tar entry %s: mode or device number out of range",
                             e->name);
    if (e->size < 0)
        return tug_error_set(err, EINVAL, "tar entry %s: negative size", e->name);
    struct records r = {.cap = MAX_FIELD_RECORDS + e->n_xattrs};
    r.v = calloc(r.cap, sizeof(*r.v));
    bool ustar;
    int rc = r.v ? collect(e, &r, &ustar) : -ENOMEM;
    long n;
    if (rc < 0)
        n = tug_error_set(err, -rc, "tar entry %s%s", e->name,
                          rc == -EINVAL ? ": an xattr name holds '='" : "");
    else if (ustar)
        n = encode_ustar(e, ret_buf, ret_cap, err);
    else
        n = encode_pax(e, &r, ret_buf, ret_cap, err);
    records_clear(&r);
    return n;
}

/* ---- the stream ------------------------------------------------------------------------ */

struct tug_tar_writer {
    tug_tar_sink_fn sink;
    void *data;
    uint8_t *buf; /* TUG_TAR_CHUNK */
    size_t pos;
    uint8_t *hdr; /* encoded headers */
    size_t hdr_cap;
    long long left; /* data the current entry still needs */
    size_t pad;     /* zeros after it */
    long long written;
};

tug_tar_writer *tug_tar_writer_new(tug_tar_sink_fn sink, void *data, tug_error **err)
{
    tug_tar_writer *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->buf = malloc(TUG_TAR_CHUNK)) == NULL) {
        free(w);
        tug_error_set(err, ENOMEM, "tar writer");
        return NULL;
    }
    w->sink = sink;
    w->data = data;
    return w;
}

void tug_tar_writer_free(tug_tar_writer *w)
{
    if (w == NULL)
        return;
    free(w->buf);
    free(w->hdr);
    free(w);
}

void tug_tar_writer_freep(tug_tar_writer **w)
{
    tug_tar_writer_free(*w);
}

static int flush(tug_tar_writer *w, tug_error **err)
{
    if (w->pos == 0)
        return 0;
    int r = w->sink(w->data, w->buf, w->pos, err);
    w->pos = 0;
    return r < 0 ? -1 : 0;
}

static int put(tug_tar_writer *w, const uint8_t *p, size_t n, tug_error **err)
{
    while (n > 0) {
        if (w->pos == TUG_TAR_CHUNK && flush(w, err) < 0)
            return -1;
        size_t k = TUG_TAR_CHUNK - w->pos < n ? TUG_TAR_CHUNK - w->pos : n;
        if (p != NULL) {
            memcpy(w->buf + w->pos, p, k);
            p += k;
        } else {
            memset(w->buf + w->pos, 0, k);
        }
        w->pos += k;
        w->written += (long long)k;
        n -= k;
    }
    return 0;
}

/* The padding of the entry before, once its data is complete. */
static int end_entry(tug_tar_writer *w, tug_error **err)
{
    if (w->left != 0)
        return tug_error_set(err, EIO, "tar: %lld bytes of an entry's data were not written",
                             w->left);
    int r = put(w, NULL, w->pad, err);
    w->pad = 0;
    return r;
}

int tug_tar_write_header(tug_tar_writer *w, const tug_tar_entry *e, tug_error **err)
{
    if (end_entry(w, err) < 0)
        return -1;
    long n = tug_tar_encode(e, &w->hdr, &w->hdr_cap, err);
    if (n < 0 || put(w, w->hdr, (size_t)n, err) < 0)
        return -1;
    long long size = e->type == '0' ? e->size : 0; /* the other types have no data */
    w->left = size;
    w->pad = (size_t)((TUG_TAR_BLOCK - size % TUG_TAR_BLOCK) % TUG_TAR_BLOCK);
    return 0;
}

uint8_t *tug_tar_data_space(tug_tar_writer *w, size_t *ret_len, tug_error **err)
{
    if (w->pos == TUG_TAR_CHUNK && flush(w, err) < 0)
        return NULL;
    size_t room = TUG_TAR_CHUNK - w->pos;
    *ret_len = w->left < (long long)room ? (size_t)w->left : room;
    return w->buf + w->pos;
}

void tug_tar_data_done(tug_tar_writer *w, size_t n)
{
    w->pos += n;
    w->written += (long long)n;
    w->left -= (long long)n;
}

int tug_tar_write_data(tug_tar_writer *w, const void *buf, size_t len, tug_error **err)
{
    if ((long long)len > w->left)
        return tug_error_set(err, EIO, "tar: more data than the entry's size");
    if (put(w, buf, len, err) < 0)
        return -1;
    w->left -= (long long)len;
    return 0;
}

long long tug_tar_data_left(const tug_tar_writer *w)
{
    return w->left;
}

int tug_tar_finish(tug_tar_writer *w, tug_error **err)
{
    if (end_entry(w, err) < 0 || put(w, NULL, 2 * TUG_TAR_BLOCK, err) < 0)
        return -1;
    return flush(w, err);
}

long long tug_tar_written(const tug_tar_writer *w)
{
    return w->written;
}
