/* Layers from directories: tar headers byte for byte as docker writes them, a tree of every
 * kind of entry written and unpacked again to the same tree, and layers stored from a tmp dir. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h> /* after the headers it needs */

#include "store/diff.h"
#include "store/layer.h"
#include "store/tarwrite.h"
#include "store/unpack.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"

/* ---- header encoding ------------------------------------------------------------------- */

static uint8_t *enc;
static size_t enc_cap;

static long encode(const tug_tar_entry *e)
{
    tug_error *err = NULL;
    long n = tug_tar_encode(e, &enc, &enc_cap, &err);
    if (n < 0) {
        fprintf(stderr, "encode %s: %s\n", e->name, err->msg);
        tug_error_free(err);
    }
    return n;
}

/* The field at off of the block at b, len bytes, compared with want (len bytes too). */
static void field_is(const uint8_t *b, size_t off, const void *want, size_t len)
{
    if (memcmp(b + off, want, len) != 0) {
        fprintf(stderr, "field at %zu: got '%.*s'\n", off, (int)len, (const char *)b + off);
        fail_msg("field at %zu differs", off);
    }
}

static void checksum_ok(const uint8_t *b)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? ' ' : b[i];
    char want[8];
    snprintf(want, sizeof(want), "%06lo", sum);
    field_is(b, 148, want, 7); /* six digits and a NUL */
    assert_int_equal(b[155], ' ');
    field_is(b, 257,
             "ustar\0"
             "00",
             8);
}

static const tug_tar_entry plain_file = {.name = "etc/f2",
                                         .type = '0',
                                         .mode = 0100640,
                                         .size = 4,
                                         .mtime = 946684800,
                                         .uname = "root",
                                         .gname = "root"};

static void test_ustar_header(void **state)
{
    (void)state;
    assert_int_equal(encode(&plain_file), 512);
    field_is(enc, 0, "etc/f2\0", 7);
    field_is(enc, 100, "0100640\0", 8);
    field_is(enc, 108,
             "0000000\0"
             "0000000\0",
             16);
    field_is(enc, 124, "00000000004\0", 12);
    field_is(enc, 136, "07033241600\0", 12);
    assert_int_equal(enc[156], '0');
    field_is(enc, 265, "root\0", 5);
    field_is(enc, 297, "root\0", 5);
    /* Go writes device numbers for every type */
    field_is(enc, 329,
             "0000000\0"
             "0000000\0",
             16);
    checksum_ok(enc);
    /* the largest uid octal holds stays USTAR; a name of exactly 100 bytes has no NUL */
    char name[101];
    memset(name, 'n', 100);
    name[100] = '\0';
    tug_tar_entry e = plain_file;
    e.name = name;
    e.uid = 2097151;
    assert_int_equal(encode(&e), 512);
    field_is(enc, 0, name, 100);
    field_is(enc, 100,
             "0100640\0"
             "7777777\0",
             16);
    assert_int_equal(enc[345], '\0');
}

static void test_long_names_split(void **state)
{
    (void)state;
    /* t/ + 100: the prefix takes "t" */
    char name[300];
    snprintf(name, sizeof(name), "t/%0100d", 0);
    tug_tar_entry e = plain_file;
    e.name = name;
    assert_int_equal(encode(&e), 512);
    field_is(enc, 345, "t\0", 2);
    field_is(enc, 0, name + 2, 100);
    /* a directory's name of 101 bytes splits before its trailing slash */
    snprintf(name, sizeof(name), "t/%098d/", 0);
    e.name = name;
    e.type = '5';
    e.mode = 040755;
    e.size = 0;
    assert_int_equal(encode(&e), 512);
    field_is(enc, 345, "t\0", 2);
    field_is(enc, 0, name + 2, 99);
    assert_int_equal(enc[99], '\0');
}

/* The PAX header's records, as a string. */
static const char *pax_records(void)
{
    assert_int_equal(enc[156], 'x');
    static char rec[4096];
    long size = strtol((const char *)enc + 124, NULL, 8);
    assert_true(size < (long)sizeof(rec));
    memcpy(rec, enc + 512, (size_t)size);
    rec[size] = '\0';
    return rec;
}

static void test_pax_for_what_ustar_cannot_hold(void **state)
{
    (void)state;
    /* a base name of 101 bytes cannot be split */
    char name[300];
    snprintf(name, sizeof(name), "t/%0101d", 0);
    tug_tar_entry e = plain_file;
    e.name = name;
    assert_int_equal(encode(&e), 512 * 3);
    char want[400];
    snprintf(want, sizeof(want), "113 path=%s\n", name);
    assert_string_equal(pax_records(), want);
    snprintf(want, sizeof(want), "t/PaxHeaders.0/%.85s", name + 2);
    field_is(enc, 0, want, 100);
    field_is(enc, 100,
             "0000000\0"
             "0000000\0"
             "0000000\0"
             "00000000161\0"
             "00000000000\0",
             44);
    assert_int_equal(enc[265], '\0'); /* no owner names in the extended header */
    assert_int_equal(enc[329], '\0'); /* nor device numbers */
    checksum_ok(enc);
    const uint8_t *h = enc + 1024; /* the name cut to 100 bytes */
    field_is(h, 0, name, 100);
    assert_int_equal(h[345], '\0');
    checksum_ok(h);

    /* ids past octal's reach: records sorted by key, the fields 0; one that fits stays */
    e = plain_file;
    e.name = "t/edge";
    e.uid = 2097151;
    e.gid = 2097152;
    e.uname = e.gname = NULL;
    assert_int_equal(encode(&e), 512 * 3);
    assert_string_equal(pax_records(), "15 gid=2097152\n");
    field_is(enc, 0, "t/PaxHeaders.0/edge\0", 20);
    field_is(enc + 1024, 108,
             "7777777\0"
             "0000000\0",
             16);
    e.uid = 3000000;
    e.gid = 3000001;
    assert_int_equal(encode(&e), 512 * 3);
    assert_string_equal(pax_records(), "15 gid=3000001\n15 uid=3000000\n");

    /* times before 1970 and after 2242 */
    e = plain_file;
    e.mtime = -100;
    encode(&e);
    assert_string_equal(pax_records(), "14 mtime=-100\n");
    field_is(enc + 1024, 136, "00000000000\0", 12);
    e.mtime = 9000000000;
    encode(&e);
    assert_string_equal(pax_records(), "20 mtime=9000000000\n");

    /* names that are not ASCII: the record keeps the bytes, the headers drop them */
    e = plain_file;
    e.name = "t/\xc3\xa9-\xc3\xbc";
    encode(&e);
    assert_string_equal(pax_records(), "16 path=t/\xc3\xa9-\xc3\xbc\n");
    field_is(enc, 0, "t/PaxHeaders.0/-\0", 17);
    field_is(enc + 1024, 0, "t/-\0", 4);

    /* a long symlink target */
    char target[200];
    memset(target, 'm', 101);
    target[101] = '\0';
    e = plain_file;
    e.name = "t/sym101";
    e.type = '2';
    e.mode = 0120777;
    e.size = 0;
    e.linkname = target;
    encode(&e);
    snprintf(want, sizeof(want), "115 linkpath=%s\n", target);
    assert_string_equal(pax_records(), want);
    field_is(enc + 1024, 157, target, 100);
}

static void test_pax_xattrs(void **state)
{
    (void)state;
    static const uint8_t cap[20] = {1, 0, 0, 2, 0, 0x20};
    tug_tar_xattr x[] = {
        {"user.b", "2", 1}, {"security.capability", cap, sizeof(cap)}, {"user.a", "1", 1}};
    tug_tar_entry e = plain_file;
    e.name = "t/cap";
    e.xattrs = x;
    e.n_xattrs = 3;
    assert_int_equal(encode(&e), 512 * 3);
    const uint8_t *rec = enc + 512;
    /* "57 SCHILY.xattr.security.capability=" + 20 bytes + "\n", then the user ones */
    field_is(rec, 0, "57 SCHILY.xattr.security.capability=", 36);
    assert_memory_equal(rec + 36, cap, sizeof(cap));
    field_is(rec, 57, "25 SCHILY.xattr.user.a=1\n25 SCHILY.xattr.user.b=2\n", 50);
    field_is(enc, 124, "00000000153\0", 12);
    /* an xattr name with '=' has no record */
    tug_tar_xattr bad[] = {{"user.a=b", "1", 1}};
    e.xattrs = bad;
    e.n_xattrs = 1;
    tug_error *err = NULL;
    assert_true(tug_tar_encode(&e, &enc, &enc_cap, &err) < 0);
    tug_error_free(err);
}

static void test_pax_records_for_all_that_is_long(void **state)
{
    (void)state;
    /* a name USTAR could split still gets its record when the header is PAX for the uid */
    char longer[200];
    memset(longer, 'y', 150);
    longer[50] = '/';
    longer[150] = '\0';
    tug_tar_entry e = plain_file;
    e.name = longer;
    e.uid = 3000000;
    encode(&e);
    char rec[300];
    snprintf(rec, sizeof(rec), "160 path=%s\n15 uid=3000000\n", longer);
    assert_string_equal(pax_records(), rec);
    field_is(enc + 1024, 0, longer, 100);
    assert_int_equal(enc[1024 + 345], '\0'); /* no prefix in a PAX header's block */
    /* an owner's name that is not ASCII */
    e = plain_file;
    e.uname = "\xc3\xa9";
    encode(&e);
    assert_string_equal(pax_records(), "12 uname=\xc3\xa9\n");
    /* key + value + 3 = 98: with its length the record is 100, whose length has 3 digits */
    char v[100];
    memset(v, 'v', 81);
    v[81] = '\0';
    tug_tar_xattr x[] = {{"a", v, 81}};
    e = plain_file;
    e.xattrs = x;
    e.n_xattrs = 1;
    encode(&e);
    assert_int_equal(strncmp(pax_records(), "101 SCHILY.xattr.a=vvv", 22), 0);
    assert_int_equal(strlen(pax_records()), 101);
}

static void test_cut_name_loses_trailing_slashes(void **state)
{
    (void)state;
    /* a directory whose name, cut to 100 bytes, ends in '/' */
    char name[400];
    memset(name, 'a', 99);
    name[99] = '/';
    memset(name + 100, 'b', 200);
    name[300] = '/';
    name[301] = '\0';
    tug_tar_entry e = {.name = name, .type = '5', .mode = 040755, .mtime = 1};
    encode(&e);
    field_is(enc, 0, name, 99); /* the extended header: ".../PaxHeaders.0" cut, slash trimmed */
    assert_int_equal(enc[99], '\0');
    const uint8_t *h = enc + 512 + ((strlen(pax_records()) + 511) / 512) * 512;
    field_is(h, 0, name, 99);
    assert_int_equal(h[99], '\0');
    assert_int_equal(h[156], '5');
}

/* ---- the stream ------------------------------------------------------------------------ */

struct membuf {
    uint8_t *data;
    size_t len, cap;
};

static int to_mem(void *data, const uint8_t *buf, size_t len, tug_error **err)
{
    (void)err;
    struct membuf *m = data;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->data = realloc(m->data, m->cap);
        assert_non_null(m->data);
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static void test_stream_pads_and_ends(void **state)
{
    (void)state;
    struct membuf m = {0};
    tug_error *err = NULL;
    tug_tar_writer *w = tug_tar_writer_new(to_mem, &m, &err);
    assert_non_null(w);
    tug_tar_entry e = plain_file;
    e.size = 3;
    assert_int_equal(tug_tar_write_header(w, &e, &err), 0);
    assert_int_equal(tug_tar_write_data(w, "abc", 3, &err), 0);
    /* a big one, read straight into the stream, across chunks */
    e.size = 3 * TUG_TAR_CHUNK + 7;
    assert_int_equal(tug_tar_write_header(w, &e, &err), 0);
    while (tug_tar_data_left(w) > 0) {
        size_t room;
        uint8_t *p = tug_tar_data_space(w, &room, &err);
        assert_non_null(p);
        memset(p, 'z', room);
        tug_tar_data_done(w, room);
    }
    /* a directory has no data, whatever the size says */
    tug_tar_entry d = {.name = "d/", .type = '5', .mode = 040755, .size = 0};
    assert_int_equal(tug_tar_write_header(w, &d, &err), 0);
    assert_int_equal(tug_tar_finish(w, &err), 0);
    size_t want = 512 + 512 + 512 + (3 * TUG_TAR_CHUNK + 512) + 512 + 1024;
    assert_int_equal(m.len, want);
    assert_int_equal(tug_tar_written(w), (long long)want);
    assert_memory_equal(m.data + 512, "abc\0\0", 5);
    for (size_t i = m.len - 1024; i < m.len; i++)
        assert_int_equal(m.data[i], 0);
    tug_tar_writer_free(w);

    /* an entry whose data is short is an error, not a corrupt stream */
    m.len = 0;
    w = tug_tar_writer_new(to_mem, &m, &err);
    assert_int_equal(tug_tar_write_header(w, &e, &err), 0);
    assert_int_equal(tug_tar_write_data(w, "abc", 3, &err), 0);
    assert_true(tug_tar_finish(w, &err) < 0);
    tug_error_free(err);
    tug_tar_writer_free(w);
    free(m.data);
}

/* ---- a tree of every kind ---------------------------------------------------------------- */

static char base[64];

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/var/tmp/tug-diff-test-XXXXXX");
    return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tug_error *err = NULL;
    tug_rm_rf(base, &err);
    tug_error_free(err);
    return 0;
}

static void put_file(const char *dir, const char *name, const char *content, mode_t mode)
{
    char p[8192];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void at(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Every kind of entry a step's upper dir holds, under dir. */
static void make_tree(const char *dir)
{
    char p[8192], q[8192];
    assert_int_equal(tug_mkdir_p(dir, 0755, NULL), 0);
    put_file(dir, "file", "hello\n", 0644);
    put_file(dir, "empty", "", 0600);
    put_file(dir, "suid", "s\n", 04755);
    put_file(dir, "sgid-file", "g\n", 02644);
    at(p, sizeof(p), dir, "sticky");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chmod(p, 01777), 0);
    at(p, sizeof(p), dir, "sgid");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chmod(p, 02755), 0);
    /* order: byte order per directory, a directory where its name falls */
    for (const char *const *n = (const char *const[]){"sorted", "sorted/a", "sorted/B", NULL}; *n;
         n++) {
        at(p, sizeof(p), dir, *n);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    for (const char *const *n = (const char *const[]){"sorted/a.b", "sorted/a-b", "sorted/a/x",
                                                      "sorted/_", "sorted/Z", NULL};
         *n; n++)
        put_file(dir, *n, "", 0644);
    /* links: a symlink with a long target, three names of one inode */
    char target[300];
    memset(target, 'l', 150);
    target[150] = '\0';
    at(p, sizeof(p), dir, "longlink");
    assert_int_equal(symlink(target, p), 0);
    at(p, sizeof(p), dir, "rel");
    assert_int_equal(symlink("file", p), 0);
    put_file(dir, "h1", "linked\n", 0644);
    at(p, sizeof(p), dir, "h1");
    at(q, sizeof(q), dir, "h2");
    assert_int_equal(link(p, q), 0);
    at(q, sizeof(q), dir, "sgid/h3");
    assert_int_equal(link(p, q), 0);
    /* long names: a base name over 100 bytes, a path over 255 */
    char longname[200];
    memset(longname, 'n', 120);
    longname[120] = '\0';
    put_file(dir, longname, "long\n", 0644);
    char deep[400] = "deep";
    for (int i = 0; i < 5; i++) {
        size_t l = strlen(deep);
        snprintf(deep + l, sizeof(deep) - l, "/%060d", i);
    }
    at(p, sizeof(p), dir, deep);
    assert_int_equal(tug_mkdir_p(p, 0755, NULL), 0);
    strcat(deep, "/file-at-the-bottom");
    put_file(dir, deep, "deep\n", 0644);
    /* owners octal cannot hold, one this host names */
    at(p, sizeof(p), dir, "big-ids");
    put_file(dir, "big-ids", "u\n", 0644);
    assert_int_equal(lchown(p, 3000000, 3000001), 0);
    at(p, sizeof(p), dir, "daemon-owned");
    put_file(dir, "daemon-owned", "d\n", 0644);
    assert_int_equal(lchown(p, 1, 1), 0);
    /* xattrs: a capability, user.* (only on request), trusted.* never */
    static const uint8_t cap[20] = {1, 0, 0, 2, 0, 0x20}; /* cap_net_bind_service */
    put_file(dir, "cap", "c\n", 0755);
    at(p, sizeof(p), dir, "cap");
    assert_int_equal(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
    put_file(dir, "xattrs", "x\n", 0644);
    at(p, sizeof(p), dir, "xattrs");
    assert_int_equal(setxattr(p, "user.color", "blue", 4, 0), 0);
    assert_int_equal(setxattr(p, "trusted.secret", "no", 2, 0), 0);
    /* devices, a fifo, a socket (left out) */
    at(p, sizeof(p), dir, "null");
    assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
    at(p, sizeof(p), dir, "sda1");
    assert_int_equal(mknod(p, S_IFBLK | 0660, makedev(8, 1)), 0);
    at(p, sizeof(p), dir, "big-dev");
    assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(4095, 1048575)), 0);
    at(p, sizeof(p), dir, "fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    at(p, sizeof(p), dir, "sock");
    assert_true(strlen(p) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, p, strlen(p) + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    /* overlay's: whiteouts (two names of one whiteout inode, as overlayfs links them), an
     * opaque directory */
    at(p, sizeof(p), dir, "etc");
    assert_int_equal(mkdir(p, 0755), 0);
    at(p, sizeof(p), dir, "etc/motd");
    assert_int_equal(mknod(p, S_IFCHR | 0, makedev(0, 0)), 0);
    at(q, sizeof(q), dir, "etc/passwd");
    assert_int_equal(link(p, q), 0);
    at(p, sizeof(p), dir, "gone");
    assert_int_equal(mknod(p, S_IFCHR | 0, makedev(0, 0)), 0);
    at(p, sizeof(p), dir, "opq");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
    put_file(dir, "opq/only", "o\n", 0644);
    /* times: seconds are kept, the rest dropped */
    at(p, sizeof(p), dir, "file");
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 999999999}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
    at(p, sizeof(p), dir, "sorted");
    ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

struct tarred {
    struct membuf tar;
    long long size;
    char diff_id[TUG_DIGEST_LEN + 1];
};

static struct tarred tar_dir(const char *dir, unsigned flags)
{
    struct tarred t = {0};
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    tug_error *err = NULL;
    int r = tug_layer_tar(fd, dir, flags, to_mem, &t.tar, &t.size, &err);
    if (r < 0)
        fail_msg("tar %s: %s", dir, err->msg);
    close(fd);
    tug_sha256_buf(t.tar.data, t.tar.len, t.diff_id);
    return t;
}

struct seen {
    char name[512];
    char type;
    char link[512];
    mode_t perm;
    long long uid, size, mtime;
    const char *uname;
    bool cap, user_xattr, trusted;
};

/* The entries of a tar, read with libarchive (another reader than tug's). */
static size_t read_entries(const struct membuf *m, struct seen *out, size_t cap)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, m->data, m->len), ARCHIVE_OK);
    struct archive_entry *e;
    size_t n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        assert_true(n < cap);
        struct seen *s = &out[n++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", archive_entry_pathname(e));
        const char *hl = archive_entry_hardlink(e), *sl = archive_entry_symlink(e);
        s->type = hl ? '1' : sl ? '2' : 0;
        snprintf(s->link, sizeof(s->link), "%s", hl ? hl : sl ? sl : "");
        s->perm = archive_entry_perm(e);
        s->uid = archive_entry_uid(e);
        s->size = archive_entry_size(e);
        s->mtime = archive_entry_mtime(e);
        assert_int_equal(archive_entry_mtime_nsec(e), 0);
        assert_false(archive_entry_atime_is_set(e));
        assert_false(archive_entry_ctime_is_set(e));
        const char *k;
        const void *v;
        size_t l;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &k, &v, &l) == ARCHIVE_OK) {
            s->cap |= strcmp(k, "security.capability") == 0;
            s->user_xattr |= strcmp(k, "user.color") == 0;
            s->trusted |= strncmp(k, "trusted.", 8) == 0;
        }
    }
    archive_read_free(a);
    return n;
}

static const struct seen *find(const struct seen *v, size_t n, const char *name, size_t *ret_i)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) {
            if (ret_i)
                *ret_i = i;
            return &v[i];
        }
    fail_msg("no entry %s in the tar", name);
    return NULL;
}

static void test_tree_as_docker_writes_it(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/upper", base);
    make_tree(dir);
    struct tarred t = tar_dir(dir, 0);
    static struct seen e[128];
    size_t n = read_entries(&t.tar, e, 128), i = 0, j = 0;

    /* order */
    find(e, n, "sorted/", &i);
    static const char *const order[] = {"sorted/B/",  "sorted/Z",   "sorted/_",  "sorted/a/",
                                        "sorted/a/x", "sorted/a-b", "sorted/a.b"};
    for (size_t k = 0; k < TUG_ARRAY_SIZE(order); k++)
        assert_string_equal(e[i + 1 + k].name, order[k]);
    /* times in seconds, owners and their names */
    assert_int_equal(find(e, n, "file", NULL)->mtime, 1000000000);
    assert_int_equal(find(e, n, "sorted/", NULL)->mtime, 1000000000);
    assert_int_equal(find(e, n, "big-ids", NULL)->uid, 3000000);
    /* modes */
    assert_int_equal(find(e, n, "suid", NULL)->perm, 04755);
    assert_int_equal(find(e, n, "sgid-file", NULL)->perm, 02644);
    assert_int_equal(find(e, n, "sticky/", NULL)->perm, 01777);
    assert_int_equal(find(e, n, "sgid/", NULL)->perm, 02755);
    /* links: the first name in walk order is the file, the others link to it */
    assert_int_equal(find(e, n, "h1", NULL)->type, 0);
    assert_int_equal(find(e, n, "h1", NULL)->size, 7);
    assert_int_equal(find(e, n, "h2", NULL)->type, '1');
    assert_string_equal(find(e, n, "h2", NULL)->link, "h1");
    assert_string_equal(find(e, n, "sgid/h3", NULL)->link, "h1");
    assert_int_equal(find(e, n, "longlink", NULL)->type, '2');
    assert_int_equal(strlen(find(e, n, "longlink", NULL)->link), 150);
    /* xattrs: the capability only */
    assert_true(find(e, n, "cap", NULL)->cap);
    assert_false(find(e, n, "xattrs", NULL)->user_xattr);
    for (size_t k = 0; k < n; k++)
        assert_false(e[k].trusted);
    /* whiteouts and the opaque marker; no socket */
    const struct seen *wh = find(e, n, "etc/.wh.motd", NULL);
    assert_int_equal(wh->perm, 0600);
    assert_int_equal(wh->size, 0);
    find(e, n, "etc/.wh.passwd", NULL);
    find(e, n, ".wh.gone", NULL);
    find(e, n, "opq/", &i);
    find(e, n, "opq/.wh..wh..opq", &j);
    assert_int_equal(j, i + 1);
    assert_int_equal(e[j].mtime, 0);
    assert_int_equal(e[j].perm, 0755);
    for (size_t k = 0; k < n; k++) {
        assert_null(strstr(e[k].name, "sock"));
        assert_string_not_equal(e[k].name, "etc/motd");
    }
    /* the size the store records: files and symlinks, each inode once */
    long long want = 6 + 0 + 2 + 2 + 7 + 5 + 5 + 2 + 2 + 2 + 2 + 2 /* opq/only */ + 150 + 4;
    assert_int_equal(t.size, want);

    /* a second write of the same tree is the same bytes */
    struct tarred again = tar_dir(dir, 0);
    assert_string_equal(t.diff_id, again.diff_id);
    free(again.tar.data);

    /* user.* xattrs when asked for */
    struct tarred with_user = tar_dir(dir, TUG_LAYER_USER_XATTRS);
    n = read_entries(&with_user.tar, e, 128);
    assert_true(find(e, n, "xattrs", NULL)->user_xattr);
    free(with_user.tar.data);
    free(t.tar.data);
}

static void test_whiteouts_sharing_an_inode(void **state)
{
    (void)state;
    /* overlayfs links every whiteout of a mount to one inode; docker's writer then records the
     * first whiteout's own name as the link name of the others, with the type still '0' */
    struct tarred t = {0};
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/upper", base);
    make_tree(dir);
    t = tar_dir(dir, 0);
    const uint8_t *p = t.tar.data;
    bool found = false;
    for (size_t off = 0; off + 512 <= t.tar.len; off += 512) {
        if (strcmp((const char *)p + off, "etc/.wh.passwd") == 0) {
            assert_int_equal(p[off + 156], '0');
            assert_string_equal((const char *)p + off + 157, "etc/motd");
            field_is(p + off, 100, "0000600\0", 8);
            found = true;
        }
        if (strcmp((const char *)p + off, "etc/.wh.motd") == 0)
            assert_int_equal(p[off + 157], '\0');
    }
    assert_true(found);
    free(t.tar.data);
}

/* Two trees the same: types, modes, owners, mtimes (seconds), contents, targets, devices,
 * xattrs a layer carries; the same names share an inode in both. */
static void compare_trees(const char *a, const char *b, const char *rel)
{
    cleanup_free char *pa = NULL, *pb = NULL;
    assert_true(asprintf(&pa, "%s/%s", a, rel) > 0 && asprintf(&pb, "%s/%s", b, rel) > 0);
    struct dirent **la, **lb;
    int na = scandir(pa, &la, NULL, alphasort), nb = scandir(pb, &lb, NULL, alphasort);
    assert_true(na >= 0 && nb >= 0);
    if (na != nb)
        fail_msg("%s: %d entries against %d", pa, na, nb);
    for (int i = 0; i < na; i++) {
        const char *n = la[i]->d_name;
        assert_string_equal(n, lb[i]->d_name);
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        cleanup_free char *ea = NULL, *eb = NULL, *sub = NULL;
        assert_true(asprintf(&ea, "%s/%s", pa, n) > 0 && asprintf(&eb, "%s/%s", pb, n) > 0 &&
                    asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", n) > 0);
        struct stat sa, sb;
        assert_int_equal(lstat(ea, &sa), 0);
        assert_int_equal(lstat(eb, &sb), 0);
        if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
            sa.st_rdev != sb.st_rdev || sa.st_nlink != sb.st_nlink)
            fail_msg("%s: mode %o/%o uid %u/%u nlink %lu/%lu", sub, sa.st_mode, sb.st_mode,
                     sa.st_uid, sb.st_uid, (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
        if (!S_ISLNK(sa.st_mode) && !S_ISDIR(sa.st_mode))
            assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
        if (S_ISREG(sa.st_mode)) {
            char *da = NULL, *db = NULL;
            size_t la_, lb_;
            assert_int_equal(tug_read_file(ea, &da, &la_, NULL), 0);
            assert_int_equal(tug_read_file(eb, &db, &lb_, NULL), 0);
            assert_int_equal(la_, lb_);
            assert_memory_equal(da, db, la_);
            free(da);
            free(db);
        } else if (S_ISLNK(sa.st_mode)) {
            char ta[4096] = {0}, tb[4096] = {0};
            assert_true(readlink(ea, ta, sizeof(ta)) > 0);
            assert_true(readlink(eb, tb, sizeof(tb)) > 0);
            assert_string_equal(ta, tb);
        }
        static const char *const names[] = {"security.capability", "user.color",
                                            "trusted.overlay.opaque"};
        for (size_t k = 0; k < TUG_ARRAY_SIZE(names) && !S_ISLNK(sa.st_mode); k++) {
            char va[64], vb[64];
            ssize_t xa = lgetxattr(ea, names[k], va, sizeof(va));
            ssize_t xb = lgetxattr(eb, names[k], vb, sizeof(vb));
            if (xa != xb || (xa > 0 && memcmp(va, vb, (size_t)xa) != 0))
                fail_msg("%s: xattr %s differs", sub, names[k]);
        }
        if (S_ISDIR(sa.st_mode)) {
            compare_trees(a, b, sub);
            assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
        }
    }
    for (int i = 0; i < na; i++) {
        free(la[i]);
        free(lb[i]);
    }
    free(la);
    free(lb);
}

static void test_round_trip_through_unpack(void **state)
{
    (void)state;
    char dir[128], back[128], path[256];
    snprintf(dir, sizeof(dir), "%s/upper", base);
    snprintf(back, sizeof(back), "%s/unpacked", base);
    make_tree(dir);
    /* what no layer can carry goes from the original before the comparison */
    snprintf(path, sizeof(path), "%s/sock", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/xattrs", dir);
    assert_int_equal(removexattr(path, "trusted.secret"), 0);
    struct tarred t = tar_dir(dir, TUG_LAYER_USER_XATTRS);
    snprintf(path, sizeof(path), "%s/layer.tar", base);
    assert_int_equal(tug_write_file_atomic(path, t.tar.data, t.tar.len, 0600, NULL), 0);
    assert_int_equal(mkdir(back, 0755), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    tug_unpack_result res;
    tug_error *err = NULL;
    if (tug_layer_unpack(fd, back, &res, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    close(fd);
    assert_string_equal(res.diff_id, t.diff_id);
    assert_int_equal(res.size, t.size);
    /* the two whiteouts come back as two inodes, as from any layer: link them as they were */
    char p[256], q[256];
    snprintf(p, sizeof(p), "%s/etc/passwd", back);
    snprintf(q, sizeof(q), "%s/etc/motd", back);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(link(q, p), 0);
    /* and as unpack makes whiteouts with no time of their own, give them the originals' */
    for (const char *const *n = (const char *const[]){"etc/motd", "gone", "etc", NULL}; *n; n++) {
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, *n);
        assert_int_equal(lstat(p, &st), 0);
        snprintf(p, sizeof(p), "%s/%s", back, *n);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
    }
    compare_trees(dir, back, "");
    /* and the unpacked tree writes the same tar again */
    struct tarred again = tar_dir(back, TUG_LAYER_USER_XATTRS);
    assert_string_equal(again.diff_id, t.diff_id);
    free(again.tar.data);
    free(t.tar.data);
}

/* ---- layers in the store ----------------------------------------------------------------- */

static tug_store *open_store(void)
{
    char root[128];
    snprintf(root, sizeof(root), "%s/root", base);
    tug_store *s = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_store_open(root, &s, &err), 0);
    return s;
}

/* A tmp layer dir of the store with a few files in diff/ and an overlay work dir beside. */
static char *step_dir(tug_store *s, const char *content)
{
    char *tmp = NULL, *dir = NULL, p[512];
    tug_error *err = NULL;
    assert_int_equal(tug_store_layer_tmp(s, &tmp, &dir, &err), 0);
    put_file(dir, "a", content, 0644);
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    put_file(dir, "sub/b", "bbb\n", 0644);
    struct timespec ts[2] = {{1500000000, 0}, {1500000000, 0}};
    for (const char *const *n = (const char *const[]){"a", "sub/b", "sub", NULL}; *n; n++) {
        snprintf(p, sizeof(p), "%s/%s", dir, *n);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    snprintf(p, sizeof(p), "%s/work/work", tmp);
    assert_int_equal(tug_mkdir_p(p, 0700, NULL), 0);
    free(dir);
    return tmp;
}

static struct membuf gunzip_file(const char *path)
{
    char *gz = NULL;
    size_t len = 0;
    assert_int_equal(tug_read_file(path, &gz, &len, NULL), 0);
    struct membuf out = {0};
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 31), Z_OK);
    z.next_in = (unsigned char *)gz;
    z.avail_in = (unsigned)len;
    uint8_t chunk[65536];
    int r;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        r = inflate(&z, Z_NO_FLUSH);
        assert_true(r == Z_OK || r == Z_STREAM_END);
        to_mem(&out, chunk, sizeof(chunk) - z.avail_out, NULL);
    } while (r != Z_STREAM_END);
    assert_int_equal(z.avail_in, 0); /* one member, nothing after it */
    inflateEnd(&z);
    free(gz);
    return out;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Entries of the store's directory sub (ingest, layers) but hidden ones. */
static int store_entries(tug_store *s, const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", s->root, sub);
    return count_entries(path);
}

static void test_layer_from_dir(void **state)
{
    (void)state;
    /* what a directory store keeps of a step (an EROFS store's image of it: 710-layer-formats) */
    setenv("TUG_LAYER_FORMAT", "directory", 1);
    tug_store *s = open_store();
    tug_error *err = NULL;
    char *tmp = step_dir(s, "first\n");
    const char *parent = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    tug_layer_opts opts = {.parent_chain = parent, .gzip_level = -1};
    tug_new_layer l;
    if (tug_layer_from_dir(s, tmp, &opts, &l, &err) < 0)
        fail_msg("layer: %s", err->msg);
    assert_true(l.stored);
    assert_false(l.empty);
    assert_int_equal(access(tmp, F_OK), -1);
    /* chain ID from the parent's and the diff ID */
    char chain[TUG_DIGEST_LEN + 1];
    tug_chain_id(parent, l.diff_id, chain);
    assert_string_equal(l.chain_id, chain);
    assert_true(tug_store_has_layer(s, chain));
    assert_int_equal(tug_store_layer_size(s, chain), 6 + 4);
    assert_int_equal(l.size, 6 + 4);
    /* the blob: its digest, and inside it the tar of the diff ID */
    char *blob = tug_store_blob_path(s, l.blob_digest);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tug_read_file(blob, &data, &len, NULL), 0);
    assert_int_equal((long long)len, l.blob_size);
    char digest[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(data, len, digest);
    assert_string_equal(digest, l.blob_digest);
    free(data);
    struct membuf tar = gunzip_file(blob);
    assert_int_equal((long long)tar.len, l.tar_size);
    tug_sha256_buf(tar.data, tar.len, digest);
    assert_string_equal(digest, l.diff_id);
    free(tar.data);
    /* the layer directory holds its diff only, and the store no leftovers */
    char *ldir = tug_store_layer_dir(s, chain), path[512];
    snprintf(path, sizeof(path), "%s/..", ldir);
    assert_int_equal(count_entries(path), 1);
    assert_int_equal(store_entries(s, "ingest"), 0);

    /* the same step again: the same layer and blob, the new directory dropped */
    free(tmp);
    tmp = step_dir(s, "first\n");
    tug_new_layer again;
    assert_int_equal(tug_layer_from_dir(s, tmp, &opts, &again, &err), 0);
    assert_string_equal(again.diff_id, l.diff_id);
    assert_string_equal(again.chain_id, l.chain_id);
    assert_string_equal(again.blob_digest, l.blob_digest);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(store_entries(s, "layers"), 1);
    assert_int_equal(count_entries(ldir), 2);
    free(tmp);

    /* every level of isa-l gives a blob that inflates to the same tar */
    for (int level = 0; level <= 3; level++) {
        tmp = step_dir(s, "first\n");
        opts.gzip_level = level;
        assert_int_equal(tug_layer_from_dir(s, tmp, &opts, &again, &err), 0);
        assert_string_equal(again.diff_id, l.diff_id);
        free(blob);
        blob = tug_store_blob_path(s, again.blob_digest);
        tar = gunzip_file(blob);
        tug_sha256_buf(tar.data, tar.len, digest);
        assert_string_equal(digest, l.diff_id);
        free(tar.data);
        free(tmp);
    }
    opts.gzip_level = 4;
    tmp = step_dir(s, "first\n");
    assert_true(tug_layer_from_dir(s, tmp, &opts, &again, &err) < 0);
    assert_non_null(strstr(err->msg, "gzip level 4"));
    tug_error_free(err);
    err = NULL;
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    free(ldir);
    free(blob);
    tug_store_close(s);
}

static void test_empty_step(void **state)
{
    (void)state;
    tug_store *s = open_store();
    tug_error *err = NULL;
    char *tmp = NULL, *dir = NULL;
    assert_int_equal(tug_store_layer_tmp(s, &tmp, &dir, &err), 0);
    tug_new_layer l;
    tug_layer_opts opts = {.gzip_level = -1};
    assert_int_equal(tug_layer_from_dir(s, tmp, &opts, &l, &err), 0);
    assert_true(l.empty);
    assert_false(l.stored);
    assert_string_equal(l.diff_id, TUG_EMPTY_LAYER_DIFF_ID);
    assert_int_equal(l.tar_size, 1024);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(store_entries(s, "ingest"), 0);
    assert_int_equal(store_entries(s, "layers"), 0);
    free(tmp);
    free(dir);
    /* kept when asked for: the empty tar's layer */
    assert_int_equal(tug_store_layer_tmp(s, &tmp, &dir, &err), 0);
    opts.keep_empty = true;
    assert_int_equal(tug_layer_from_dir(s, tmp, &opts, &l, &err), 0);
    assert_true(l.empty && l.stored);
    assert_true(tug_store_has_layer(s, TUG_EMPTY_LAYER_DIFF_ID));
    free(tmp);
    free(dir);
    tug_store_close(s);
}

static void test_redirects_are_refused(void **state)
{
    (void)state;
    tug_store *s = open_store();
    tug_error *err = NULL;
    char *tmp = step_dir(s, "x\n"), path[512];
    snprintf(path, sizeof(path), "%s/diff/sub", tmp);
    assert_int_equal(setxattr(path, "trusted.overlay.redirect", "/old", 4, 0), 0);
    tug_new_layer l;
    assert_true(tug_layer_from_dir(s, tmp, NULL, &l, &err) < 0);
    assert_non_null(strstr(err->msg, "redirect_dir=off"));
    assert_non_null(strstr(err->msg, "/diff/sub"));
    tug_error_free(err);
    err = NULL;
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(store_entries(s, "ingest"), 0);
    free(tmp);
    /* found after megabytes went to the compressor: it stops, and nothing is left either */
    tmp = step_dir(s, "x\n");
    snprintf(path, sizeof(path), "%s/diff/big", tmp);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 9 * TUG_TAR_CHUNK), 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/diff/zz", tmp);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(setxattr(path, "trusted.overlay.metacopy", "", 0, 0), 0);
    assert_true(tug_layer_from_dir(s, tmp, NULL, &l, &err) < 0);
    assert_non_null(strstr(err->msg, "metacopy"));
    tug_error_free(err);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(store_entries(s, "ingest"), 0);
    free(tmp);
    tug_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ustar_header),
        cmocka_unit_test(test_long_names_split),
        cmocka_unit_test(test_pax_for_what_ustar_cannot_hold),
        cmocka_unit_test(test_pax_xattrs),
        cmocka_unit_test(test_pax_records_for_all_that_is_long),
        cmocka_unit_test(test_cut_name_loses_trailing_slashes),
        cmocka_unit_test(test_stream_pads_and_ends),
        cmocka_unit_test_setup_teardown(test_tree_as_docker_writes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts_sharing_an_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_through_unpack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_from_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirects_are_refused, setup, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free(enc);
    return r;
}
