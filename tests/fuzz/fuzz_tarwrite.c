/* Tar headers for what a build step left in its upper dir: names, link targets, owners' names
 * and xattrs are whatever the step's commands made them. Every header must be well formed
 * (block-sized, checksums right) and read back by another reader (libarchive) as what was
 * written.
 * Input: a type byte, seven 8-byte numbers (mode, uid, gid, size, mtime, device major and
 * minor), then NUL-separated name, link name, owner and group names, xattr names and values. */
#include "fuzz.h"

#include <archive.h>
#include <archive_entry.h>

#include "store/tarwrite.h"

static int64_t take_number(const uint8_t **p, size_t *n)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && *n > 0; i++, (*p)++, (*n)--)
        v |= (uint64_t) * *p << (8 * i);
    return (int64_t)v;
}

/* The next NUL-terminated string of the input (the rest, when no NUL is left). */
static char *take_string(const uint8_t **p, size_t *n)
{
    const uint8_t *end = memchr(*p, 0, *n);
    size_t len = end ? (size_t)(end - *p) : *n;
    char *s = fuzz_str(*p, len);
    *p += end ? len + 1 : len;
    *n -= end ? len + 1 : len;
    return s;
}

static bool ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

static void checksum_ok(const uint8_t *b)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < TUG_TAR_BLOCK; i++)
        sum += i >= 148 && i < 156 ? ' ' : b[i];
    char want[8];
    snprintf(want, sizeof(want), "%06lo", sum);
    fuzz_check(memcmp(b + 148, want, 7) == 0 && b[155] == ' ', "checksum %.8s, not %s",
               (const char *)b + 148, want);
    fuzz_check(memcmp(b + 257,
                      "ustar\0"
                      "00",
                      8) == 0,
               "magic");
}

static void read_back(const tug_tar_entry *e, const uint8_t *hdr, size_t len)
{
    size_t data = e->type == '0' ? (size_t)e->size : 0;
    size_t total = len + (data + TUG_TAR_BLOCK - 1) / TUG_TAR_BLOCK * TUG_TAR_BLOCK + 1024;
    uint8_t *buf = calloc(1, total);
    if (buf == NULL)
        abort();
    memcpy(buf, hdr, len);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    struct archive_entry *ae;
    fuzz_check(archive_read_open_memory(a, buf, total) == ARCHIVE_OK, "open");
    int r = archive_read_next_header(a, &ae);
    fuzz_check(r == ARCHIVE_OK || r == ARCHIVE_WARN, "libarchive: %s", archive_error_string(a));
    fuzz_check(archive_entry_uid(ae) == e->uid && archive_entry_gid(ae) == e->gid,
               "owner %lld:%lld read as %lld:%lld", e->uid, e->gid,
               (long long)archive_entry_uid(ae), (long long)archive_entry_gid(ae));
    fuzz_check(archive_entry_mtime(ae) == e->mtime, "mtime %lld read as %lld", e->mtime,
               (long long)archive_entry_mtime(ae));
    if (e->type == '0')
        fuzz_check(archive_entry_size(ae) == e->size, "size %lld read as %lld", e->size,
                   (long long)archive_entry_size(ae));
    if (ascii(e->name))
        fuzz_check(strcmp(archive_entry_pathname(ae), e->name) == 0, "name %s read as %s", e->name,
                   archive_entry_pathname(ae));
    const char *link = e->type == '1'   ? archive_entry_hardlink(ae)
                       : e->type == '2' ? archive_entry_symlink(ae)
                                        : NULL;
    if (link && e->linkname && ascii(e->linkname))
        fuzz_check(strcmp(link, e->linkname) == 0, "link %s read as %s", e->linkname, link);
    archive_read_free(a);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char types[] = "0123456";
    static const long long type_bits[] = {0100000, 0100000, 0120000, 020000,
                                          060000,  040000,  010000};
    if (size < 1 + 7 * 8)
        return 0;
    unsigned t = data[0] % 7;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    tug_tar_entry e = {.type = types[t]};
    e.mode = type_bits[t] | (take_number(&p, &n) & 07777);
    e.uid = take_number(&p, &n) & 0xffffffff;
    e.gid = take_number(&p, &n) & 0xffffffff;
    e.size = take_number(&p, &n) & ((1LL << 40) - 1);
    e.mtime = take_number(&p, &n) % (1LL << 40);
    e.devmajor = take_number(&p, &n) & 07777777;
    e.devminor = take_number(&p, &n) & 07777777;
    char *name = take_string(&p, &n), *link = take_string(&p, &n);
    char *uname = take_string(&p, &n), *gname = take_string(&p, &n);
    tug_tar_xattr x[8];
    char *xs[16];
    size_t nx = 0;
    while (n > 0 && nx < 8) {
        xs[2 * nx] = take_string(&p, &n);
        xs[2 * nx + 1] = take_string(&p, &n);
        x[nx] = (tug_tar_xattr){xs[2 * nx], xs[2 * nx + 1], strlen(xs[2 * nx + 1])};
        nx++;
    }
    /* names as a walk makes them: relative, no empty part, a directory's ending in '/' and
     * nothing else's (readers differ on "a//b" split into USTAR's prefix and name) */
    size_t nl = strlen(name);
    bool ok = nl > 0 && (name[nl - 1] == '/') == (e.type == '5') && nl < 4096 && name[0] != '/' &&
              strstr(name, "//") == NULL;
    for (size_t i = 0; i < nx; i++)
        ok &= x[i].name[0] != '\0';
    e.name = name;
    e.linkname = link[0] ? link : NULL;
    e.uname = uname;
    e.gname = gname;
    e.xattrs = x;
    e.n_xattrs = nx;
    if (ok) {
        uint8_t *buf = NULL;
        size_t cap = 0;
        tug_error *err = NULL;
        long len = tug_tar_encode(&e, &buf, &cap, &err);
        fuzz_check_error(len < 0 ? -1 : 0, err);
        if (len > 0) {
            fuzz_check(len % TUG_TAR_BLOCK == 0, "%ld bytes", len);
            checksum_ok(buf);
            if (buf[156] == 'x') {
                long rec = strtol((const char *)buf + 124, NULL, 8);
                long at = TUG_TAR_BLOCK + (rec + TUG_TAR_BLOCK - 1) / TUG_TAR_BLOCK * TUG_TAR_BLOCK;
                fuzz_check(at + TUG_TAR_BLOCK == len, "records of %ld bytes in %ld", rec, len);
                checksum_ok(buf + at);
            }
            if (e.size <= (1 << 20))
                read_back(&e, buf, (size_t)len);
        }
        tug_error_free(err);
        free(buf);
    }
    for (size_t i = 0; i < 2 * nx; i++)
        free(xs[i]);
    free(name);
    free(link);
    free(uname);
    free(gname);
    return 0;
}
