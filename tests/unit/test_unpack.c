/* Layer unpacking: what lands in the layer directory, and what never lands outside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

/* The unit under test is included whole so that a test can switch off openat2 and run the
 * same layers through the fallback resolver. */
#include "../../src/lib/store/unpack.c"

#include <openssl/sha.h>
#include <sys/mman.h>
#include <zlib.h>

/* ---- Building layers -------------------------------------------------------------------- */

struct buf {
    unsigned char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static la_ssize_t buf_write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
    buf_add(ud, p, n);
    return (la_ssize_t)n;
}

/* ZSTD_FILE: zstd as zstd(1) writes it, with no padding after the frame (libarchive's zstd
 * reader, unlike the layer unpacker, refuses the zeros libarchive's writer pads with) */
enum filter { PLAIN, GZIP, ZSTD, BZIP2, XZ, ZSTD_FILE };

struct ent {
    const char *name;
    int type;         /* AE_IFREG ... */
    int perm;         /* 0 means 0644 for files, 0755 for directories */
    const char *data; /* file content or symlink target */
    const char *hardlink;
    long uid, gid;
    long mtime;
    unsigned rmajor, rminor;
    const char *xattr, *xattr_value;
    size_t size; /* data of this many pseudo-random bytes instead of data */
};

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static struct buf make_layer(const struct ent *ents, enum filter f)
{
    struct buf b = {0};
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (f == GZIP)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    else if (f == ZSTD || f == ZSTD_FILE)
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    else if (f == BZIP2)
        assert_int_equal(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
    else if (f == XZ)
        assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK);
    if (f == ZSTD_FILE)
        assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &b, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    for (const struct ent *e = ents; e->name; e++) {
        struct archive_entry *ae = archive_entry_new();
        int type = e->type ? e->type : (int)AE_IFREG;
        archive_entry_set_pathname(ae, e->name);
        archive_entry_set_filetype(ae, (unsigned)type);
        archive_entry_set_perm(ae, e->perm ? e->perm : type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1500000000, 0);
        unsigned char *content = NULL;
        size_t len = 0;
        if (e->hardlink) {
            archive_entry_set_hardlink(ae, e->hardlink);
        } else if (type == AE_IFLNK) {
            archive_entry_set_symlink(ae, e->data);
        } else if (type == AE_IFREG) {
            len = e->size ? e->size : e->data ? strlen(e->data) : 0;
            content = malloc(len + 1);
            if (e->size)
                fill_pattern(content, len, (unsigned)len);
            else if (e->data)
                memcpy(content, e->data, len);
            archive_entry_set_size(ae, (la_int64_t)len);
        } else if (type == AE_IFCHR || type == AE_IFBLK) {
            archive_entry_set_rdevmajor(ae, e->rmajor);
            archive_entry_set_rdevminor(ae, e->rminor);
        }
        if (e->xattr)
            archive_entry_xattr_add_entry(ae, e->xattr, e->xattr_value, strlen(e->xattr_value));
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (len > 0)
            assert_int_equal(archive_write_data(a, content, len), (la_ssize_t)len);
        free(content);
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return b;
}

static void hex_digest(const void *data, size_t len, char out[TUG_DIGEST_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    memcpy(out, "sha256:", 8);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static struct buf gzip_member(const void *data, size_t len)
{
    struct buf b = {0};
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    b.cap = deflateBound(&z, len) + 64;
    b.data = malloc(b.cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (unsigned)len;
    z.next_out = b.data;
    z.avail_out = (unsigned)b.cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    b.len = z.total_out;
    deflateEnd(&z);
    return b;
}

/* The uncompressed stream, by other means than the code under test. */
static struct buf decompress(const struct buf *in, enum filter filt)
{
    struct buf out = {0};
    unsigned char tmp[65536];
    if (filt == PLAIN) {
        buf_add(&out, in->data, in->len);
    } else if (filt == GZIP) {
        z_stream z = {0};
        assert_int_equal(inflateInit2(&z, 31), Z_OK);
        z.next_in = in->data;
        z.avail_in = (unsigned)in->len;
        int r;
        do {
            z.next_out = tmp;
            z.avail_out = sizeof(tmp);
            r = inflate(&z, Z_NO_FLUSH);
            assert_true(r == Z_OK || r == Z_STREAM_END);
            buf_add(&out, tmp, sizeof(tmp) - z.avail_out);
        } while (r != Z_STREAM_END);
        inflateEnd(&z);
    } else {
        ZSTD_DStream *zs = ZSTD_createDStream();
        ZSTD_inBuffer ib = {in->data, in->len, 0};
        size_t r = 1;
        while (r != 0) {
            ZSTD_outBuffer ob = {tmp, sizeof(tmp), 0};
            r = ZSTD_decompressStream(zs, &ob, &ib);
            assert_false(ZSTD_isError(r));
            buf_add(&out, tmp, ob.pos);
        }
        ZSTD_freeDStream(zs);
    }
    return out;
}

/* ---- Running them ----------------------------------------------------------------------- */

struct fixture {
    char base[64];
    char layer[128];   /* the target directory */
    char outside[128]; /* a directory no entry may touch */
    char hostfile[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->base, sizeof(f->base), "/var/tmp/tug-unpack-XXXXXX");
    if (mkdtemp(f->base) == NULL)
        return -1;
    snprintf(f->layer, sizeof(f->layer), "%s/layer", f->base);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
    snprintf(f->hostfile, sizeof(f->hostfile), "%s/hostfile", f->base);
    if (mkdir(f->layer, 0755) < 0 || mkdir(f->outside, 0755) < 0)
        return -1;
    int fd = open(f->hostfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "host\n", 5) != 5)
        return -1;
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tug_error *err = NULL;
    tug_rm_rf(f->base, &err);
    tug_error_free(err);
    free(f);
    __atomic_store_n(&have_openat2, -1, __ATOMIC_RELAXED);
    return 0;
}

static int unpack_bytes(const void *data, size_t len, const char *dir, tug_unpack_result *r,
                        tug_error **err)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    assert_true(fd >= 0);
    if (len > 0)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    int rc = tug_layer_unpack(fd, dir, r, err);
    close(fd);
    return rc;
}

static int unpack_layer(const struct ent *ents, enum filter filt, const char *dir,
                        tug_unpack_result *r, tug_error **err)
{
    struct buf b = make_layer(ents, filt);
    int rc = unpack_bytes(b.data, b.len, dir, r, err);
    free(b.data);
    return rc;
}

/* Unpacking must fail, with a message that contains want. */
static void expect_failure(const struct ent *ents, const char *dir, const char *want)
{
    tug_unpack_result r;
    tug_error *err = NULL;
    assert_true(unpack_layer(ents, PLAIN, dir, &r, &err) < 0);
    assert_non_null(err);
    if (strstr(err->msg, want) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err->msg, want);
    tug_error_free(err);
}

static char *at(const char *dir, const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

static struct stat lstat_ok(const char *dir, const char *name)
{
    struct stat st;
    if (lstat(at(dir, name), &st) < 0)
        fail_msg("%s: %s", name, strerror(errno));
    return st;
}

static bool exists(const char *dir, const char *name)
{
    struct stat st;
    return lstat(at(dir, name), &st) == 0;
}

static void assert_file(const char *dir, const char *name, const char *content)
{
    char buf[256] = {0};
    int fd = open(at(dir, name), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    assert_string_equal(buf, content);
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n == 0;
}

static void assert_host_untouched(struct fixture *f)
{
    assert_true(dir_is_empty(f->outside));
    struct stat st;
    assert_int_equal(lstat(f->hostfile, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_size, 5);
    assert_file(f->base, "hostfile", "host\n");
    /* Nothing appeared next to the layer directory either. */
    DIR *d = opendir(f->base);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && strcmp(de->d_name, "layer") != 0 &&
            strcmp(de->d_name, "outside") != 0 && strcmp(de->d_name, "hostfile") != 0)
            fail_msg("%s appeared next to the layer", de->d_name);
    closedir(d);
}

/* ---- Tests ------------------------------------------------------------------------------ */

static const struct ent tree[] = {
    {"./", AE_IFDIR},
    {"./etc/", AE_IFDIR, 0755, .mtime = 1400000000},
    {"./etc/passwd", AE_IFREG, 0644, "root:x:0:0::/root:/bin/sh\n", .mtime = 1400000001},
    {"./etc/shadow", AE_IFREG, 0640, "secret\n", .gid = 42},
    {"./usr/", AE_IFDIR, 0755},
    {"./usr/bin/", AE_IFDIR, 0755},
    {"./usr/bin/su", AE_IFREG, 04755, "#!su\n"},
    {"./usr/bin/wall", AE_IFREG, 02755, "#!wall\n", .gid = 5},
    {"./usr/bin/sh", AE_IFLNK, 0777, "/bin/dash", .uid = 7, .gid = 8},
    {"./usr/bin/dash", AE_IFREG, 0755, "#!dash\n", .uid = 1000, .gid = 1001},
    {"./usr/bin/sh2", AE_IFREG, 0, NULL, "usr/bin/dash"},
    {"./tmp/", AE_IFDIR, 01777, .mtime = 1300000000},
    {"./dev/", AE_IFDIR, 0755},
    {"./dev/null", AE_IFCHR, 0666, .rmajor = 1, .rminor = 3},
    {"./dev/loop9", AE_IFBLK, 0660, .rmajor = 7, .rminor = 9, .gid = 6},
    {"./dev/fifo", AE_IFIFO, 0600},
    {"/abs/file", AE_IFREG, 0600, "abs\n"},
    {"big/blob", AE_IFREG, 0644, .size = 3 * 1024 * 1024 + 17},
    {"srv/", AE_IFDIR, 02775, .gid = 50},
    {"srv/root-owned", AE_IFREG, 0644, "r"}, /* not the group a setgid directory hands down */
    {"srv/sub/", AE_IFDIR, 0755},
    {NULL},
};

static void check_tree(const char *dir)
{
    struct stat st = lstat_ok(dir, "etc/passwd");
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_mtime, 1400000001);
    assert_file(dir, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    /* A directory keeps its own time although its children were created after it. */
    assert_int_equal(lstat_ok(dir, "etc").st_mtime, 1400000000);
    st = lstat_ok(dir, "tmp");
    assert_int_equal(st.st_mode & 07777, 01777);
    assert_int_equal(st.st_mtime, 1300000000);

    st = lstat_ok(dir, "etc/shadow");
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, 42);
    st = lstat_ok(dir, "usr/bin/su");
    assert_int_equal(st.st_mode & 07777, 04755);
    st = lstat_ok(dir, "usr/bin/wall");
    assert_int_equal(st.st_mode & 07777, 02755);
    assert_int_equal(st.st_gid, 5);
    st = lstat_ok(dir, "usr/bin/dash");
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_nlink, 2);
    struct stat st2 = lstat_ok(dir, "usr/bin/sh2");
    assert_int_equal(st.st_ino, st2.st_ino);

    st = lstat_ok(dir, "usr/bin/sh");
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_uid, 7);
    assert_int_equal(st.st_gid, 8);
    char target[64] = {0};
    assert_int_equal(readlink(at(dir, "usr/bin/sh"), target, sizeof(target) - 1), 9);
    assert_string_equal(target, "/bin/dash");

    st = lstat_ok(dir, "dev/null");
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 3);
    assert_int_equal(st.st_mode & 07777, 0666);
    st = lstat_ok(dir, "dev/loop9");
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(minor(st.st_rdev), 9);
    assert_int_equal(st.st_gid, 6);
    assert_true(S_ISFIFO(lstat_ok(dir, "dev/fifo").st_mode));
    assert_file(dir, "abs/file", "abs\n");
    assert_int_equal(lstat_ok(dir, "srv").st_mode & 07777, 02775);
    assert_int_equal(lstat_ok(dir, "srv/root-owned").st_gid, 0);
    st = lstat_ok(dir, "srv/sub");
    assert_int_equal(st.st_gid, 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    /* A file larger than the chunks the stream is cut into arrives intact. */
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *want = malloc(n), *got = malloc(n + 1);
    fill_pattern(want, n, (unsigned)n);
    int fd = open(at(dir, "big/blob"), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t have = 0;
    ssize_t r;
    while ((r = read(fd, got + have, n + 1 - have)) > 0)
        have += (size_t)r;
    close(fd);
    assert_int_equal(have, n);
    assert_memory_equal(got, want, n);
    free(want);
    free(got);
}

static long long tree_size(void)
{
    long long size = 0;
    for (const struct ent *e = tree; e->name; e++) {
        if (e->hardlink)
            continue;
        if (e->type == AE_IFREG)
            size += e->size ? (long long)e->size : (long long)strlen(e->data);
        else if (e->type == AE_IFLNK)
            size += (long long)strlen(e->data);
    }
    return size;
}

static void unpack_tree(struct fixture *f, enum filter filt)
{
    if (geteuid() != 0)
        skip();
    tug_unpack_result r;
    tug_error *err = NULL;
    struct buf layer = make_layer(tree, filt);
    if (unpack_bytes(layer.data, layer.len, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    check_tree(f->layer);
    assert_int_equal(r.size, tree_size());

    struct buf plain = decompress(&layer, filt);
    char want[TUG_DIGEST_LEN + 1];
    hex_digest(plain.data, plain.len, want);
    assert_string_equal(r.diff_id, want);
    free(plain.data);
    free(layer.data);
}

static void test_plain_tar(void **state)
{
    unpack_tree(*state, PLAIN);
}

static void test_gzip(void **state)
{
    unpack_tree(*state, GZIP);
}

static void test_zstd(void **state)
{
    unpack_tree(*state, ZSTD);
}

/* Modes come from the layer, not from the umask of the process that unpacks it. */
static void test_umask_does_not_matter(void **state)
{
    mode_t old = umask(077);
    unpack_tree(*state, PLAIN);
    umask(old);
}

static void test_fallback_resolver(void **state)
{
    __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    unpack_tree(*state, GZIP);
}

/* pigz and some registries write several gzip members; the digest covers all of them. */
static void test_gzip_members(void **state)
{
    struct fixture *f = *state;
    struct buf plain = make_layer(tree, PLAIN);
    size_t half = plain.len / 2 + 123;
    struct buf m1 = gzip_member(plain.data, half);
    struct buf m2 = gzip_member(plain.data + half, plain.len - half);
    buf_add(&m1, m2.data, m2.len);
    tug_unpack_result r;
    tug_error *err = NULL;
    if (unpack_bytes(m1.data, m1.len, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    check_tree(f->layer);
    char want[TUG_DIGEST_LEN + 1];
    hex_digest(plain.data, plain.len, want);
    assert_string_equal(r.diff_id, want);
    free(plain.data);
    free(m1.data);
    free(m2.data);
}

/* Bytes after the tar's end marker are part of the stream docker hashes. */
static void test_digest_covers_trailing_bytes(void **state)
{
    struct fixture *f = *state;
    static const struct ent one[] = {{"a", AE_IFREG, 0644, "a\n"}, {NULL}};
    struct buf plain = make_layer(one, PLAIN);
    unsigned char zeros[8192] = {0};
    buf_add(&plain, zeros, sizeof(zeros));
    struct buf gz = gzip_member(plain.data, plain.len);
    tug_unpack_result r;
    tug_error *err = NULL;
    assert_int_equal(unpack_bytes(gz.data, gz.len, f->layer, &r, &err), 0);
    char want[TUG_DIGEST_LEN + 1];
    hex_digest(plain.data, plain.len, want);
    assert_string_equal(r.diff_id, want);
    assert_int_equal(r.size, 2);
    free(plain.data);
    free(gz.data);
}

static void test_empty_layers(void **state)
{
    struct fixture *f = *state;
    tug_unpack_result r;
    tug_error *err = NULL;
    char want[TUG_DIGEST_LEN + 1];

    assert_int_equal(unpack_bytes("", 0, f->layer, &r, &err), 0);
    hex_digest("", 0, want);
    assert_string_equal(r.diff_id, want);
    assert_int_equal(r.size, 0);

    /* What docker writes for a layer with no files: two zero blocks, gzipped. */
    unsigned char zeros[1024] = {0};
    struct buf gz = gzip_member(zeros, sizeof(zeros));
    assert_int_equal(unpack_bytes(gz.data, gz.len, f->layer, &r, &err), 0);
    hex_digest(zeros, sizeof(zeros), want);
    assert_string_equal(r.diff_id, want);
    assert_true(dir_is_empty(f->layer));
    free(gz.data);
}

static void test_xattrs(void **state)
{
    struct fixture *f = *state;
    /* user.* xattrs need file system support: probe it where the layer goes. */
    if (setxattr(f->layer, "user.probe", "1", 1, 0) < 0) {
        print_message("skipped: %s does not take user xattrs (%s)\n", f->layer, strerror(errno));
        skip();
    }
    removexattr(f->layer, "user.probe");
    static const struct ent ents[] = {
        {"d", AE_IFDIR, 0755, .xattr = "user.dir", .xattr_value = "dv"},
        {"d/f", AE_IFREG, 0644, "x", .xattr = "user.file", .xattr_value = "fv"},
        {"d/g", AE_IFREG, 0644, "x", .xattr = "trusted.overlay.redirect", .xattr_value = "/etc"},
        {NULL},
    };
    tug_unpack_result r;
    tug_error *err = NULL;
    if (unpack_layer(ents, PLAIN, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    char v[16] = {0};
    assert_int_equal(getxattr(at(f->layer, "d/f"), "user.file", v, sizeof(v)), 2);
    assert_string_equal(v, "fv");
    memset(v, 0, sizeof(v));
    assert_int_equal(getxattr(at(f->layer, "d"), "user.dir", v, sizeof(v)), 2);
    assert_string_equal(v, "dv");
    /* overlayfs acts on its own xattrs: a layer does not get to set them. */
    assert_true(getxattr(at(f->layer, "d/g"), "trusted.overlay.redirect", v, sizeof(v)) < 0);
}

static void test_whiteouts(void **state)
{
    struct fixture *f = *state;
    static const struct ent ents[] = {
        {"d/", AE_IFDIR, 0755},
        {"d/.wh..wh..opq", AE_IFREG, 0644, ""},
        {"e/f/.wh..wh..opq", AE_IFREG, 0644, ""}, /* its directory has no entry of its own */
        {".wh.gone", AE_IFREG, 0644, ""},
        {"d/victim", AE_IFREG, 0644, "v"},
        {"d/.wh.victim", AE_IFREG, 0644, ""},
        {".wh..wh..wh.orph", AE_IFREG, 0644, ""},
        {".wh..wh.plnk/", AE_IFDIR, 0700},
        {".wh..wh.plnk/1.2", AE_IFREG, 0644, "linked\n"},
        {"d/aufs-link", AE_IFREG, 0, NULL, ".wh..wh.plnk/1.2"},
        {NULL},
    };
    tug_unpack_result r;
    tug_error *err = NULL;
    if (unpack_layer(ents, GZIP, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);

    char v[4] = {0};
    assert_int_equal(getxattr(at(f->layer, "d"), "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_string_equal(v, "y");
    memset(v, 0, sizeof(v));
    assert_int_equal(getxattr(at(f->layer, "e/f"), "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_string_equal(v, "y");
    assert_false(exists(f->layer, "d/.wh..wh..opq"));

    struct stat st = lstat_ok(f->layer, "gone");
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_false(exists(f->layer, ".wh.gone"));
    st = lstat_ok(f->layer, "d/victim"); /* the file of this layer gave way to its whiteout */
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));

    /* aufs bookkeeping disappears; the hard link into it keeps its content. */
    assert_false(exists(f->layer, ".wh..wh.plnk"));
    assert_false(exists(f->layer, ".wh..wh..wh.orph"));
    assert_file(f->layer, "d/aufs-link", "linked\n");
}

static void test_later_entries_replace_earlier(void **state)
{
    struct fixture *f = *state;
    static const struct ent ents[] = {
        {"a", AE_IFREG, 0644, "file"},
        {"a/", AE_IFDIR, 0700}, /* a directory replaces a file */
        {"a/child", AE_IFREG, 0644, "c"},
        {"a/", AE_IFDIR, 0751}, /* a directory over a directory keeps its children */
        {"b/", AE_IFDIR, 0755, .mtime = 1111111111},
        {"b/deep/x", AE_IFREG, 0644, "x"},
        {"b", AE_IFREG, 0600, "now a file", .mtime = 1222222222}, /* replaces a whole tree */
        {NULL},
    };
    static const struct ent more[] = {
        {"s", AE_IFLNK, 0777, "target"},
        {"s", AE_IFREG, 0644, "plain"},
        {"t", AE_IFREG, 0644, "plain"},
        {"t", AE_IFLNK, 0777, "elsewhere"},
        {"n", AE_IFREG, 0644, "one"},
        {"n", AE_IFREG, 0644, "two"},
        {NULL},
    };
    tug_unpack_result r;
    tug_error *err = NULL;
    if (unpack_layer(ents, PLAIN, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    struct stat st = lstat_ok(f->layer, "a");
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_file(f->layer, "a/child", "c");
    st = lstat_ok(f->layer, "b");
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mtime, 1222222222); /* not the time of the directory it replaced */
    assert_file(f->layer, "b", "now a file");

    if (unpack_layer(more, PLAIN, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    assert_true(S_ISREG(lstat_ok(f->layer, "s").st_mode));
    assert_file(f->layer, "s", "plain");
    assert_true(S_ISLNK(lstat_ok(f->layer, "t").st_mode));
    assert_file(f->layer, "n", "two");
}

static void test_sparse_file(void **state)
{
    struct fixture *f = *state;
    struct buf b = {0};
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &b, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, "sparse");
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, 5 << 20);
    archive_entry_sparse_add_entry(ae, 0, 4096);
    archive_entry_sparse_add_entry(ae, 4 << 20, 4096);
    assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
    /* The writer takes the whole file and stores only what is outside the holes. */
    unsigned char *content = calloc(1, 5 << 20);
    memset(content, 'a', 4096);
    memset(content + (4 << 20), 'b', 4096);
    assert_int_equal(archive_write_data(a, content, 5 << 20), 5 << 20);
    free(content);
    archive_entry_free(ae);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);

    tug_unpack_result r;
    tug_error *err = NULL;
    if (unpack_bytes(b.data, b.len, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    assert_true(b.len < 64 * 1024);
    free(b.data);
    assert_int_equal(r.size, 5 << 20);
    int fd = open(at(f->layer, "sparse"), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 5 << 20);
    assert_true(st.st_blocks * 512 < (1 << 20)); /* the holes stay holes */
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, 4095), 1);
    assert_int_equal(c, 'a');
    assert_int_equal(pread(fd, &c, 1, 4096), 1);
    assert_int_equal(c, 0);
    assert_int_equal(pread(fd, &c, 1, (4 << 20) + 1), 1);
    assert_int_equal(c, 'b');
    assert_int_equal(pread(fd, &c, 1, (5 << 20) - 1), 1);
    assert_int_equal(c, 0);
    close(fd);
}

static void test_missing_parents(void **state)
{
    struct fixture *f = *state;
    static const struct ent ents[] = {{"x/y/z/file", AE_IFREG, 0644, "deep"}, {NULL}};
    tug_unpack_result r;
    tug_error *err = NULL;
    assert_int_equal(unpack_layer(ents, PLAIN, f->layer, &r, &err), 0);
    assert_file(f->layer, "x/y/z/file", "deep");
    assert_int_equal(lstat_ok(f->layer, "x/y").st_mode & 07777, 0755);
}

static void test_dotdot_names_are_refused(void **state)
{
    struct fixture *f = *state;
    static const struct ent e1[] = {{"../escape", AE_IFREG, 0644, "x"}, {NULL}};
    static const struct ent e2[] = {{"/abs/../../x", AE_IFREG, 0644, "x"}, {NULL}};
    static const struct ent e3[] = {{"a/../../x", AE_IFREG, 0644, "x"}, {NULL}};
    static const struct ent e4[] = {{"../", AE_IFDIR, 0777}, {NULL}};
    static const struct ent e5[] = {
        {"ok", AE_IFREG, 0644, "x"}, {"h", AE_IFREG, 0, NULL, "../../etc/passwd"}, {NULL}};
    expect_failure(e1, f->layer, "layer entry ../escape escapes the layer");
    expect_failure(e2, f->layer, "escapes the layer");
    expect_failure(e3, f->layer, "escapes the layer");
    expect_failure(e4, f->layer, "escapes the layer");
    expect_failure(e5, f->layer, "layer entry h: hard link target ../../etc/passwd escapes");
    assert_host_untouched(f);
    assert_int_equal(lstat_ok(f->base, ".").st_mode & 07777, 0700); /* "../" did not chmod it */
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* A failure while the decompressor is far ahead stops it, and leaks nothing. */
static void test_failure_with_data_in_flight(void **state)
{
    struct fixture *f = *state;
    int fds = count_fds();
    static const struct ent ents[] = {
        {"first", AE_IFREG, 0644, .size = 1000},
        {"../x", AE_IFREG, 0644, "x"},
        {"after", AE_IFREG, 0644, .size = 24 * 1024 * 1024},
        {NULL},
    };
    for (enum filter filt = PLAIN; filt <= ZSTD; filt++) {
        struct buf b = make_layer(ents, filt);
        tug_unpack_result r;
        tug_error *err = NULL;
        assert_true(unpack_bytes(b.data, b.len, f->layer, &r, &err) < 0);
        assert_non_null(strstr(err->msg, "escapes the layer"));
        tug_error_free(err);
        free(b.data);
    }
    assert_false(exists(f->layer, "after"));
    assert_int_equal(count_fds(), fds);
}

static void symlink_escapes(struct fixture *f)
{
    char outside_file[256];
    snprintf(outside_file, sizeof(outside_file), "%s/pwned", f->outside);
    /* Symlinks are data; a later entry that goes through one stays below the layer root. */
    const struct ent through_abs[] = {
        {"link", AE_IFLNK, 0777, f->outside},
        {"link/pwned", AE_IFREG, 0644, "x"},
        {NULL},
    };
    const struct ent through_rel[] = {
        {"l", AE_IFLNK, 0777, "../../.."},
        {"l/x", AE_IFREG, 0644, "inside"},
        {"l/l/l/y/", AE_IFDIR, 0755},
        {NULL},
    };
    const struct ent to_host_file[] = {
        {"evil", AE_IFLNK, 0777, f->hostfile},
        {"evil", AE_IFREG, 0644, "pwned"}, /* replaces the symlink, never writes through it */
        {"evil2", AE_IFLNK, 0777, f->hostfile},
        {"hl", AE_IFREG, 0, NULL, "evil2"}, /* links the symlink itself */
        {NULL},
    };
    const struct ent hardlink_abs[] = {{"h", AE_IFREG, 0, NULL, f->hostfile}, {NULL}};

    tug_unpack_result r;
    tug_error *err = NULL;
    int rc = unpack_layer(through_abs, PLAIN, f->layer, &r, &err);
    if (rc < 0) {
        assert_non_null(strstr(err->msg, "layer entry link/pwned"));
        tug_error_free(err);
        err = NULL;
    }
    assert_host_untouched(f);

    if (unpack_layer(through_rel, PLAIN, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    assert_file(f->layer, "x", "inside");
    assert_true(S_ISDIR(lstat_ok(f->layer, "y").st_mode));
    assert_host_untouched(f);

    if (unpack_layer(to_host_file, GZIP, f->layer, &r, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    assert_file(f->layer, "evil", "pwned");
    assert_true(S_ISLNK(lstat_ok(f->layer, "hl").st_mode));
    assert_host_untouched(f);

    /* An absolute hard link target means the layer's own path: here it does not exist. */
    rc = unpack_layer(hardlink_abs, PLAIN, f->layer, &r, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err->msg, "layer entry h: hard link to"));
    tug_error_free(err);
    assert_host_untouched(f);
}

static void test_symlinks_do_not_escape(void **state)
{
    symlink_escapes(*state);
}

static void test_symlinks_do_not_escape_without_openat2(void **state)
{
    __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    symlink_escapes(*state);
}

static void expect_corrupt(struct fixture *f, const void *data, size_t len)
{
    tug_unpack_result r;
    tug_error *err = NULL;
    assert_true(unpack_bytes(data, len, f->layer, &r, &err) < 0);
    assert_non_null(err);
    if (strstr(err->msg, "layer is truncated or corrupt") == NULL)
        fail_msg("unexpected error: %s", err->msg);
    tug_error_free(err);
}

static void test_truncated_layers(void **state)
{
    struct fixture *f = *state;
    for (enum filter filt = PLAIN; filt <= ZSTD; filt++) {
        struct buf b = make_layer(tree, filt);
        size_t end = b.len; /* where the data ends and the block padding starts */
        while (end > 0 && b.data[end - 1] == 0)
            end--;
        expect_corrupt(f, b.data, end / 2);
        expect_corrupt(f, b.data, end - 5);
        free(b.data);
    }
}

static void test_garbage(void **state)
{
    struct fixture *f = *state;
    unsigned char junk[70000];
    fill_pattern(junk, sizeof(junk), 99);
    junk[0] = 'x';
    expect_corrupt(f, junk, sizeof(junk));
    junk[0] = 0x1f, junk[1] = 0x8b; /* gzip magic, then noise */
    expect_corrupt(f, junk, sizeof(junk));
    junk[0] = 0x28, junk[1] = 0xb5, junk[2] = 0x2f, junk[3] = 0xfd;
    expect_corrupt(f, junk, sizeof(junk));

    /* A damaged gzip checksum is caught even though the tar itself reads fine. */
    struct buf b = make_layer(tree, GZIP);
    b.data[b.len - 6] ^= 0x55;
    expect_corrupt(f, b.data, b.len);
    /* So is data that is not gzip after the last member. */
    b.data[b.len - 6] ^= 0x55;
    buf_add(&b, "trailing", 8);
    expect_corrupt(f, b.data, b.len);
    free(b.data);
}

/* When no thread can be started the stream is read inline, with the same result. */
static void test_stream_without_threads(void **state)
{
    for (enum filter filt = PLAIN; filt <= ZSTD; filt++) {
        struct buf layer = make_layer(tree, filt);
        int fd = memfd_create("layer", MFD_CLOEXEC);
        assert_int_equal(write(fd, layer.data, layer.len), (ssize_t)layer.len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

        struct pipeline *p = calloc(1, sizeof(*p));
        tug_error *err = NULL;
        assert_int_equal(source_open(&p->src, fd, &err), 0);
        p->hash = tug_sha256_new(NULL);
        p->chunk[0] = malloc(CHUNK_SIZE);
        struct buf out = {0};
        const uint8_t *chunk;
        size_t n;
        do {
            assert_int_equal(pipeline_next(p, &chunk, &n), 0);
            buf_add(&out, chunk, n);
        } while (n > 0);
        char got[TUG_DIGEST_LEN + 1], want[TUG_DIGEST_LEN + 1];
        tug_sha256_final(p->hash, got);
        struct buf expect = decompress(&layer, filt);
        hex_digest(expect.data, expect.len, want);
        assert_string_equal(got, want);
        assert_int_equal(out.len, expect.len);
        assert_memory_equal(out.data, expect.data, out.len);
        pipeline_freep(&p);
        close(fd);
        free(out.data);
        free(expect.data);
        free(layer.data);
    }
}

/* ---- ADD's archives ---------------------------------------------------------------------- */

static int memfd_of(const void *data, size_t len)
{
    int fd = memfd_create("archive", MFD_CLOEXEC);
    assert_true(fd >= 0);
    if (len > 0)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    return fd;
}

/* tug_archive_unpack_at into dir as ADD does, after the probe says it is a tar. */
static int add_unpack(const struct ent *ents, enum filter filt, const char *dir,
                      const tug_untar_opts *o, tug_error **err)
{
    struct buf b = make_layer(ents, filt);
    int fd = memfd_of(b.data, b.len);
    free(b.data);
    assert_int_equal(tug_archive_probe(fd, err), 1);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    tug_untar_opts none = {0};
    int rc = tug_archive_unpack_at(fd, dfd, o ? o : &none, err);
    close(dfd);
    close(fd);
    return rc;
}

/* A tar is told by its content, whatever compresses it; anything else (an empty tar too, as
 * docker's isArchivePath has it) is no archive. */
static void test_archive_probe(void **state)
{
    (void)state;
    static const struct ent one[] = {{"f", AE_IFREG, 0644, "x"}, {NULL}};
    static const struct ent none[] = {{NULL}};
    const enum filter filters[] = {PLAIN, GZIP, ZSTD_FILE, BZIP2, XZ};
    tug_error *err = NULL;
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        struct buf b = make_layer(one, filters[i]);
        int fd = memfd_of(b.data, b.len);
        assert_int_equal(tug_archive_probe(fd, &err), 1);
        close(fd);
        free(b.data);
        b = make_layer(none, filters[i]);
        fd = memfd_of(b.data, b.len);
        assert_int_equal(tug_archive_probe(fd, &err), 0);
        close(fd);
        free(b.data);
    }
    const char text[] = "not a tar, though it may be named one\n";
    int fd = memfd_of(text, sizeof(text) - 1);
    assert_int_equal(tug_archive_probe(fd, &err), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
    struct buf gz = gzip_member(text, sizeof(text) - 1); /* compressed, but no tar */
    fd = memfd_of(gz.data, gz.len);
    assert_int_equal(tug_archive_probe(fd, &err), 0);
    close(fd);
    free(gz.data);
    fd = memfd_of("", 0);
    assert_int_equal(tug_archive_probe(fd, &err), 0);
    close(fd);
    assert_null(err);
}

/* ADD keeps whiteout-looking names as files (docker untars them so), owners and modes from the
 * archive or --chown's, and replaces what is in the way. */
static void test_archive_unpack(void **state)
{
    struct fixture *f = *state;
    static const struct ent ents[] = {
        {"d/", AE_IFDIR, 0750, NULL, NULL, 12, 34},
        {"d/f", AE_IFREG, 0640, "file\n", NULL, 56, 78},
        {".wh.gone", AE_IFREG, 0644, "w\n"},
        {"d/.wh..wh..opq", AE_IFREG, 0644, "o\n"},
        {"old", AE_IFREG, 0644, "new\n"},
        {NULL},
    };
    assert_int_equal(mkdir(at(f->layer, "old"), 0755), 0);
    tug_error *err = NULL;
    if (add_unpack(ents, BZIP2, f->layer, NULL, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    struct stat st = lstat_ok(f->layer, "d");
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_uid, 12);
    assert_int_equal(st.st_gid, 34);
    st = lstat_ok(f->layer, "d/f");
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_uid, 56);
    assert_file(f->layer, ".wh.gone", "w\n");
    assert_file(f->layer, "d/.wh..wh..opq", "o\n");
    assert_false(exists(f->layer, "gone"));
    assert_file(f->layer, "old", "new\n");

    tug_untar_opts o = {.chown = true, .uid = 1001, .gid = 1002};
    if (add_unpack(ents, XZ, f->layer, &o, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    st = lstat_ok(f->layer, "d/f");
    assert_int_equal(st.st_uid, 1001);
    assert_int_equal(st.st_gid, 1002);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(lstat_ok(f->layer, "d").st_uid, 1001);
}

/* The destination is the root of every name and link: nothing lands outside it. */
static void archive_escapes(struct fixture *f)
{
    static const struct ent dots[] = {{"../escape", AE_IFREG, 0644, "x"}, {NULL}};
    static const struct ent hard[] = {{"h", AE_IFREG, 0, NULL, "../hostfile"}, {NULL}};
    const struct ent through[] = {
        {"up", AE_IFLNK, 0777, "../../../../.."},
        {"up/landed", AE_IFREG, 0644, "inside"},
        {"host", AE_IFLNK, 0777, f->hostfile},
        {"host", AE_IFREG, 0644, "replaced the link, not the file"},
        {NULL},
    };
    tug_error *err = NULL;
    assert_true(add_unpack(dots, PLAIN, f->layer, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "archive entry ../escape escapes the destination"));
    tug_error_free(err);
    err = NULL;
    assert_true(add_unpack(hard, PLAIN, f->layer, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "archive entry h: hard link target ../hostfile escapes"));
    tug_error_free(err);
    err = NULL;
    if (add_unpack(through, GZIP, f->layer, NULL, &err) < 0)
        fail_msg("unpack: %s", err->msg);
    assert_file(f->layer, "landed", "inside");
    assert_file(f->layer, "host", "replaced the link, not the file");
    assert_host_untouched(f);
}

static void test_archive_escapes(void **state)
{
    archive_escapes(*state);
}

static void test_archive_escapes_without_openat2(void **state)
{
    __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    archive_escapes(*state);
}

static void test_clean_name(void **state)
{
    char *buf = NULL;
    size_t cap = 0, len;
    assert_int_equal(clean_name("./a//b/./c/", &buf, &cap, &len), 0);
    assert_string_equal(buf, "a/b/c");
    assert_int_equal(clean_name("///", &buf, &cap, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(clean_name("..", &buf, &cap, &len), -1);
    assert_int_equal(clean_name("a/..b/c..", &buf, &cap, &len), 0);
    assert_string_equal(buf, "a/..b/c..");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_name),
        cmocka_unit_test(test_archive_probe),
        cmocka_unit_test_setup_teardown(test_archive_unpack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_escapes_without_openat2, setup, teardown),
        cmocka_unit_test(test_stream_without_threads),
        cmocka_unit_test_setup_teardown(test_plain_tar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_umask_does_not_matter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_resolver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_covers_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_entries_replace_earlier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_parents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_names_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_with_data_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_do_not_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_do_not_escape_without_openat2, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
