/* tug_layer_to_erofs: crafted layer tars -> image -> parsed back here, field by field. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/erofs.h"
#include "store/erofs_format.h"
#include "util/cleanup.h"
#include "util/digest.h"

/* ---- Making layers ---------------------------------------------------------------------- */

struct buf {
    uint8_t *data;
    size_t len, cap;
};

static la_ssize_t buf_write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
    struct buf *b = ud;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return (la_ssize_t)n;
}

struct ent {
    const char *name;
    mode_t type;
    unsigned mode;
    const char *data; /* content; the target of a symlink or hard link */
    size_t size;      /* bytes of a generated content when data is NULL */
    long long uid, gid;
    long mtime_ns;
    const char *xattr, *xvalue; /* one xattr */
    unsigned rmajor, rminor;
    bool hardlink;
};

static void pattern(uint8_t *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 31 + seed * 7) >> 3);
}

static struct buf make_layer(const struct ent *ents, bool gzip)
{
    struct buf b = {0};
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
    if (gzip)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &b, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    for (size_t k = 0; ents[k].name; k++) {
        const struct ent *e = &ents[k];
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->name);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, 1700000000 + (time_t)k, e->mtime_ns);
        size_t len = 0;
        uint8_t *content = NULL;
        if (e->hardlink) {
            archive_entry_set_hardlink(ae, e->data);
        } else {
            archive_entry_set_filetype(ae, e->type);
            archive_entry_set_perm(ae, e->mode ? e->mode : 0644);
            if (e->type == AE_IFLNK)
                archive_entry_set_symlink(ae, e->data);
            if (e->type == AE_IFCHR || e->type == AE_IFBLK) {
                archive_entry_set_rdevmajor(ae, e->rmajor);
                archive_entry_set_rdevminor(ae, e->rminor);
            }
            if (e->type == AE_IFREG) {
                len = e->data ? strlen(e->data) : e->size;
                content = malloc(len + 1);
                if (e->data)
                    memcpy(content, e->data, len);
                else
                    pattern(content, len, k);
                archive_entry_set_size(ae, (la_int64_t)len);
            }
        }
        if (e->xattr)
            archive_entry_xattr_add_entry(ae, e->xattr, e->xvalue, strlen(e->xvalue));
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

/* ---- Reading images back ---------------------------------------------------------------- */

struct image {
    uint8_t *p;
    size_t len;
    const struct erofs_sb *sb;
};

static int write_image(const struct buf *layer, struct image *img, tug_unpack_result *res,
                       tug_error **err)
{
    int in = memfd_create("layer", MFD_CLOEXEC), out = memfd_create("image", MFD_CLOEXEC);
    assert_true(in >= 0 && out >= 0);
    assert_int_equal(write(in, layer->data, layer->len), (ssize_t)layer->len);
    assert_int_equal(lseek(in, 0, SEEK_SET), 0);
    int r = tug_layer_to_erofs(in, out, res, err);
    close(in);
    if (r == 0) {
        struct stat st;
        assert_int_equal(fstat(out, &st), 0);
        img->len = (size_t)st.st_size;
        img->p = mmap(NULL, img->len, PROT_READ, MAP_PRIVATE, out, 0);
        assert_true(img->p != MAP_FAILED);
        img->sb = (const void *)(img->p + EROFS_SB_OFFSET);
        assert_int_equal(img->sb->magic, EROFS_MAGIC);
        assert_int_equal(img->sb->blkszbits, EROFS_BLKBITS);
        assert_int_equal((uint64_t)img->sb->blocks * EROFS_BLKSIZE, img->len);
    }
    close(out);
    return r;
}

static void image_free(struct image *img)
{
    if (img->p)
        munmap(img->p, img->len);
}

static const struct erofs_inode_ext *inode_at(const struct image *img, uint64_t nid)
{
    uint64_t off = (uint64_t)img->sb->meta_blkaddr * EROFS_BLKSIZE + nid * 32;
    assert_true(off + 64 <= img->len);
    const struct erofs_inode_ext *in = (const void *)(img->p + off);
    assert_int_equal(in->i_format & 1, EROFS_INODE_EXTENDED);
    return in;
}

static uint32_t xattr_ibody(const struct erofs_inode_ext *in)
{
    return in->i_xattr_icount ? 12 + (in->i_xattr_icount - 1u) * 4 : 0;
}

static unsigned layout(const struct erofs_inode_ext *in)
{
    return (in->i_format >> EROFS_LAYOUT_SHIFT) & 7;
}

/* The inode's data, as the kernel reads it (a malloc'd copy of i_size bytes). */
static uint8_t *read_data(const struct image *img, const struct erofs_inode_ext *in)
{
    uint64_t size = in->i_size;
    uint8_t *out = calloc(1, size + 1);
    const uint8_t *after = (const uint8_t *)in + 64 + xattr_ibody(in);
    switch (layout(in)) {
    case EROFS_FLAT_PLAIN:
        assert_true((uint64_t)in->i_u * EROFS_BLKSIZE + size <= img->len);
        memcpy(out, img->p + (uint64_t)in->i_u * EROFS_BLKSIZE, size);
        break;
    case EROFS_FLAT_INLINE: {
        uint64_t full = size / EROFS_BLKSIZE * EROFS_BLKSIZE, tail = size - full;
        memcpy(out, img->p + (uint64_t)in->i_u * EROFS_BLKSIZE, full);
        /* the tail stays inside the block the inode's xattrs end in */
        uint64_t at = (uint64_t)(after - img->p);
        assert_true(at % EROFS_BLKSIZE + tail <= EROFS_BLKSIZE);
        memcpy(out + full, after, tail);
        break;
    }
    case EROFS_CHUNK_BASED: {
        uint64_t chunk = (uint64_t)EROFS_BLKSIZE << (in->i_u & EROFS_CHUNK_BLKBITS_MASK);
        const uint32_t *map = (const void *)after;
        for (uint64_t off = 0; off < size; off += chunk) {
            uint64_t n = size - off < chunk ? size - off : chunk;
            if (map[off / chunk] != EROFS_NULL_ADDR)
                memcpy(out + off, img->p + (uint64_t)map[off / chunk] * EROFS_BLKSIZE, n);
        }
        break;
    }
    default:
        fail_msg("unexpected layout %u", layout(in));
    }
    return out;
}

/* The nid of name in directory dir; every block's names checked sorted on the way. */
static bool dir_lookup(const struct image *img, uint64_t dir, const char *name, uint64_t *ret,
                       unsigned *ret_count)
{
    const struct erofs_inode_ext *in = inode_at(img, dir);
    assert_true(S_ISDIR(in->i_mode));
    uint8_t *d = read_data(img, in);
    bool found = false;
    char prev[256] = "";
    unsigned count = 0;
    bool have_prev = false;
    for (uint64_t blk = 0; blk * EROFS_BLKSIZE < in->i_size; blk++) {
        const uint8_t *b = d + blk * EROFS_BLKSIZE;
        uint64_t bsize = in->i_size - blk * EROFS_BLKSIZE;
        if (bsize > EROFS_BLKSIZE)
            bsize = EROFS_BLKSIZE;
        const struct erofs_dirent *de = (const void *)b;
        unsigned n = de[0].nameoff / 12;
        assert_true(n > 0);
        for (unsigned i = 0; i < n; i++) {
            unsigned end = i + 1 < n ? de[i + 1].nameoff : (unsigned)bsize;
            unsigned len = (unsigned)strnlen((const char *)b + de[i].nameoff, end - de[i].nameoff);
            char nm[256];
            assert_true(len > 0 && len < sizeof(nm));
            memcpy(nm, b + de[i].nameoff, len);
            nm[len] = '\0';
            if (have_prev)
                assert_true(strcmp(prev, nm) < 0);
            strcpy(prev, nm);
            have_prev = true;
            count++;
            if (strcmp(nm, name) == 0) {
                *ret = de[i].nid;
                found = true;
            }
        }
    }
    free(d);
    if (ret_count)
        *ret_count = count;
    return found;
}

static const struct erofs_inode_ext *lookup_path(const struct image *img, const char *path)
{
    uint64_t nid = img->sb->root_nid;
    char *copy = strdup(path), *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
        if (!dir_lookup(img, nid, c, &nid, NULL)) {
            free(copy);
            return NULL;
        }
    free(copy);
    return inode_at(img, nid);
}

static const struct erofs_inode_ext *must(const struct image *img, const char *path)
{
    const struct erofs_inode_ext *in = lookup_path(img, path);
    if (in == NULL)
        fail_msg("%s is not in the image", path);
    return in;
}

/* The value of an inline xattr (index, suffix), or NULL. */
static char *xattr_get(const struct erofs_inode_ext *in, unsigned index, const char *suffix)
{
    if (in->i_xattr_icount == 0)
        return NULL;
    const uint8_t *p = (const uint8_t *)in + 64 + 12,
                  *end = (const uint8_t *)in + 64 + xattr_ibody(in);
    while (p < end) {
        const struct erofs_xattr_entry *x = (const void *)p;
        if (x->e_name_index == index && x->e_name_len == strlen(suffix) &&
            memcmp(x + 1, suffix, x->e_name_len) == 0)
            return strndup((const char *)(x + 1) + x->e_name_len, x->e_value_size);
        p += (4 + x->e_name_len + x->e_value_size + 3) & ~3u;
    }
    return NULL;
}

static void assert_content(const struct image *img, const char *path, const uint8_t *want,
                           size_t len)
{
    const struct erofs_inode_ext *in = must(img, path);
    assert_int_equal(in->i_size, len);
    uint8_t *d = read_data(img, in);
    assert_memory_equal(d, want, len);
    free(d);
}

/* ---- Tests ------------------------------------------------------------------------------ */

static const struct ent tree[] = {
    {"dir", AE_IFDIR, 0755},
    {"dir/empty", AE_IFREG, 0600, "", .uid = 100000, .gid = 200000},
    {"dir/small", AE_IFREG, 04755, "hello\n", .mtime_ns = 123456789},
    {"dir/block", AE_IFREG, 0644, NULL, 4096},
    {"dir/tail", AE_IFREG, 0644, NULL, 4096 * 3 + 1000},
    {"dir/cap", AE_IFREG, 0755, NULL, 5000, .xattr = "security.capability", .xvalue = "caps"},
    /* its tail of 4090 bytes cannot sit beside inode and xattrs: a data block */
    {"dir/noinline", AE_IFREG, 0644, NULL, 4090, .xattr = "user.k", .xvalue = "v"},
    {"dir/sub", AE_IFDIR, 02775, .uid = 7, .gid = 8},
    {"dir/sub/x", AE_IFREG, 0644, "x"},
    {"link", AE_IFLNK, 0777, "dir/small"},
    {"hard", .data = "dir/small", .hardlink = true},
    {"dir/sub/hard2", .data = "dir/small", .hardlink = true},
    {"null", AE_IFCHR, 0666, .rmajor = 1, .rminor = 3},
    {"disk", AE_IFBLK, 0660, .rmajor = 259, .rminor = 65536},
    {"fifo", AE_IFIFO, 0644},
    {"trusted", AE_IFREG, 0644, "t", .xattr = "trusted.overlay.opaque", .xvalue = "y"},
    {"user", AE_IFREG, 0644, "u", .xattr = "user.name", .xvalue = "value"},
    {NULL},
};

static void test_tree(void **state)
{
    struct buf layer = make_layer(tree, false);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err), 0);
    char want[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(layer.data, layer.len, want);
    assert_string_equal(res.diff_id, want);
    /* regular files and symlink targets, as unpack counts them */
    assert_int_equal(res.size, 0 + 6 + 4096 + 4096 * 3 + 1000 + 5000 + 4090 + 1 + 9 + 1 + 1);

    assert_int_equal(img.sb->root_nid, 0);
    const struct erofs_inode_ext *root = inode_at(&img, img.sb->root_nid);
    assert_int_equal(root->i_mode, S_IFDIR | 0755);
    assert_int_equal(root->i_nlink, 3); /* . .. and dir */
    uint64_t nid;
    unsigned count;
    assert_true(dir_lookup(&img, img.sb->root_nid, "..", &nid, &count));
    assert_int_equal(nid, img.sb->root_nid);
    assert_int_equal(count, 2 + 8);

    const struct erofs_inode_ext *in = must(&img, "dir/small");
    assert_int_equal(in->i_mode, S_IFREG | 04755);
    assert_int_equal(in->i_nlink, 3);
    assert_int_equal(in->i_mtime_nsec, 123456789);
    assert_int_equal(layout(in), EROFS_FLAT_INLINE);
    assert_ptr_equal(must(&img, "hard"), in);
    assert_ptr_equal(must(&img, "dir/sub/hard2"), in);
    assert_content(&img, "dir/small", (const uint8_t *)"hello\n", 6);

    in = must(&img, "dir/empty");
    assert_int_equal(in->i_uid, 100000);
    assert_int_equal(in->i_gid, 200000);
    assert_int_equal(in->i_size, 0);

    for (size_t k = 0; tree[k].name; k++) {
        if (tree[k].type != AE_IFREG || tree[k].data)
            continue;
        uint8_t *want_data = malloc(tree[k].size);
        pattern(want_data, tree[k].size, k);
        assert_content(&img, tree[k].name, want_data, tree[k].size);
        free(want_data);
    }
    assert_int_equal(layout(must(&img, "dir/tail")), EROFS_FLAT_INLINE);
    assert_int_equal(layout(must(&img, "dir/block")), EROFS_FLAT_PLAIN);
    assert_int_equal(layout(must(&img, "dir/noinline")), EROFS_FLAT_PLAIN);

    in = must(&img, "dir/cap");
    cleanup_free char *cap = xattr_get(in, EROFS_XATTR_INDEX_SECURITY, "capability");
    assert_non_null(cap);
    assert_string_equal(cap, "caps");
    cleanup_free char *uv = xattr_get(must(&img, "user"), EROFS_XATTR_INDEX_USER, "name");
    assert_string_equal(uv, "value");
    /* overlay's own xattrs come only from whiteout entries */
    assert_int_equal(must(&img, "trusted")->i_xattr_icount, 0);

    in = must(&img, "dir/sub");
    assert_int_equal(in->i_mode, S_IFDIR | 02775);
    assert_int_equal(in->i_nlink, 2);
    assert_int_equal(must(&img, "dir")->i_nlink, 3);

    in = must(&img, "link");
    assert_int_equal(in->i_mode, S_IFLNK | 0777);
    assert_content(&img, "link", (const uint8_t *)"dir/small", 9);

    in = must(&img, "null");
    assert_int_equal(in->i_mode, S_IFCHR | 0666);
    assert_int_equal(in->i_u, (1u << 8) | 3u);
    in = must(&img, "disk");
    assert_int_equal(in->i_mode, S_IFBLK | 0660);
    /* the kernel's new_decode_dev */
    assert_int_equal((in->i_u & 0xfff00) >> 8, 259);
    assert_int_equal((in->i_u & 0xff) | ((in->i_u >> 12) & 0xfff00), 65536);
    assert_int_equal(must(&img, "fifo")->i_mode, S_IFIFO | 0644);

    image_free(&img);
    free(layer.data);
}

static const struct ent replaced[] = {
    {"d", AE_IFDIR, 0755},
    {"d/kept", AE_IFREG, 0644, "kept"},
    {"d", AE_IFDIR, 0700, .uid = 5},
    {"f", AE_IFREG, 0644, "first"},
    {"h", .data = "f", .hardlink = true},
    {"f", AE_IFREG, 0644, "second"},
    {"x", AE_IFDIR, 0755},
    {"x/child", AE_IFREG, 0644, "gone"},
    {"x", AE_IFREG, 0644, "file now"},
    {"a/b/c", AE_IFREG, 0644, "deep"},
    {"o/.wh..wh..opq", AE_IFREG, 0644, ""},
    {"o/.wh.hidden", AE_IFREG, 0644, "", .uid = 3},
    {".wh..wh.plnk/1", AE_IFREG, 0644, "aufs"},
    {"plink", .data = ".wh..wh.plnk/1", .hardlink = true},
    {".wh..wh.other", AE_IFREG, 0644, ""},
    {NULL},
};

static void test_replace_and_whiteouts(void **state)
{
    struct buf layer = make_layer(replaced, true);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err), 0);

    const struct erofs_inode_ext *in = must(&img, "d");
    assert_int_equal(in->i_mode, S_IFDIR | 0700);
    assert_int_equal(in->i_uid, 5);
    assert_content(&img, "d/kept", (const uint8_t *)"kept", 4);
    assert_content(&img, "f", (const uint8_t *)"second", 6);
    assert_content(&img, "h", (const uint8_t *)"first", 5);
    assert_int_equal(must(&img, "h")->i_nlink, 1);
    assert_content(&img, "x", (const uint8_t *)"file now", 8);
    in = must(&img, "a");
    assert_int_equal(in->i_mode, S_IFDIR | 0755);
    assert_int_equal(in->i_uid, 0);
    assert_content(&img, "a/b/c", (const uint8_t *)"deep", 4);

    in = must(&img, "o");
    cleanup_free char *opq = xattr_get(in, EROFS_XATTR_INDEX_TRUSTED, "overlay.opaque");
    assert_non_null(opq);
    assert_string_equal(opq, "y");
    in = must(&img, "o/hidden");
    assert_int_equal(in->i_mode & S_IFMT, S_IFCHR);
    assert_int_equal(in->i_u, 0);
    assert_int_equal(in->i_uid, 3);
    assert_null(lookup_path(&img, "o/.wh.hidden"));
    assert_null(lookup_path(&img, "o/.wh..wh..opq"));

    /* aufs hard link directory: gone, its file kept by the link */
    assert_null(lookup_path(&img, ".wh..wh.plnk"));
    assert_null(lookup_path(&img, ".wh..wh.other"));
    assert_content(&img, "plink", (const uint8_t *)"aufs", 4);
    assert_int_equal(must(&img, "plink")->i_nlink, 1);
    image_free(&img);
    free(layer.data);
}

static void test_big_directory(void **state)
{
    enum { N = 600 };
    struct ent *ents = calloc(N + 2, sizeof(*ents));
    char **names = calloc(N, sizeof(*names));
    ents[0] = (struct ent){"big", AE_IFDIR, 0755};
    for (int i = 0; i < N; i++) {
        char nm[300];
        int len = 1 + (i * 37) % 250;
        memset(nm, 'a' + i % 26, (size_t)len);
        snprintf(nm + len, sizeof(nm) - (size_t)len, "%d", i);
        assert_int_not_equal(asprintf(&names[i], "big/%s", nm), -1);
        ents[i + 1] = (struct ent){names[i], AE_IFREG, 0644, names[i] + 4};
    }
    struct buf layer = make_layer(ents, false);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err), 0);
    const struct erofs_inode_ext *dir = must(&img, "big");
    assert_true(dir->i_size > 10 * EROFS_BLKSIZE);
    for (int i = 0; i < N; i++) {
        const char *base = names[i] + 4;
        assert_content(&img, names[i], (const uint8_t *)base, strlen(base));
        free(names[i]);
    }
    image_free(&img);
    free(layer.data);
    free(names);
    free(ents);
}

/* Past 64 MiB of file tails held for inlining, the rest get data blocks of their own. */
static void test_tail_cap(void **state)
{
    enum { N = 17000, SIZE = 4000 };
    struct ent *ents = calloc(N + 1, sizeof(*ents));
    char **names = calloc(N, sizeof(*names));
    for (int i = 0; i < N; i++) {
        assert_int_not_equal(asprintf(&names[i], "f%05d", i), -1);
        ents[i] = (struct ent){names[i], AE_IFREG, 0644, NULL, SIZE};
    }
    struct buf layer = make_layer(ents, false);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err), 0);
    uint8_t want[SIZE];
    for (int i = 0; i < N; i += 997) {
        pattern(want, SIZE, (size_t)i);
        assert_content(&img, names[i], want, SIZE);
    }
    pattern(want, SIZE, N - 1);
    assert_content(&img, names[N - 1], want, SIZE);
    assert_int_equal(layout(must(&img, names[0])), EROFS_FLAT_INLINE);
    assert_int_equal(layout(must(&img, names[N - 1])), EROFS_FLAT_PLAIN);
    for (int i = 0; i < N; i++)
        free(names[i]);
    image_free(&img);
    free(layer.data);
    free(names);
    free(ents);
}

static void expect_error(const struct ent *ents, const char *want)
{
    struct buf layer = make_layer(ents, false);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err) < 0, 1);
    assert_non_null(err);
    assert_string_equal(err->msg, want);
    tug_error_free(err);
    free(layer.data);
}

static void test_hostile(void **state)
{
    expect_error((const struct ent[]){{"../x", AE_IFREG, 0644, "x"}, {NULL}},
                 "layer entry ../x escapes the layer");
    expect_error((const struct ent[]){{"h", .data = "../../etc/passwd", .hardlink = true}, {NULL}},
                 "layer entry h: hard link target ../../etc/passwd escapes the layer");
    expect_error((const struct ent[]){{"h", .data = "nothing", .hardlink = true}, {NULL}},
                 "layer entry h: hard link to nothing: No such file or directory");
    expect_error(
        (const struct ent[]){{"f", AE_IFREG, 0644, "x"}, {"f/y", AE_IFREG, 0644, "y"}, {NULL}},
        "layer entry f/y: open parent directory: Not a directory");
    expect_error((const struct ent[]){{"big", AE_IFREG, 0644, "x", .uid = 4294967295LL}, {NULL}},
                 "layer entry big: owner out of range");
    expect_error(
        (const struct ent[]){{"l", AE_IFLNK, 0777, "l/"}, {"l/x", AE_IFREG, 0644, "x"}, {NULL}},
        "layer entry l/x: open parent directory: Too many levels of symbolic links");

    char long_name[300];
    memset(long_name, 'n', 256);
    strcpy(long_name + 256, "/x");
    char long_msg[400];
    snprintf(long_msg, sizeof(long_msg), "layer entry %s: name: File name too long", long_name);
    expect_error((const struct ent[]){{long_name, AE_IFREG, 0644, "x"}, {NULL}}, long_msg);

    /* a symlink on the way leads inside the layer, whatever it says */
    struct buf layer = make_layer((const struct ent[]){{"up", AE_IFLNK, 0777, "../../.."},
                                                       {"up/etc/x", AE_IFREG, 0644, "in"},
                                                       {NULL}},
                                  false);
    struct image img = {0};
    tug_unpack_result res = {0};
    tug_error *err = NULL;
    assert_int_equal(write_image(&layer, &img, &res, &err), 0);
    assert_content(&img, "etc/x", (const uint8_t *)"in", 2);
    image_free(&img);
    free(layer.data);

    /* a gzip stream cut short */
    layer = make_layer(tree, true);
    layer.len = 100; /* inside the deflate data, not the writer's zero padding */
    assert_int_equal(write_image(&layer, &img, &res, &err) < 0, 1);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "layer is truncated or corrupt"));
    tug_error_free(err);
    free(layer.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_replace_and_whiteouts),
        cmocka_unit_test(test_big_directory),
        cmocka_unit_test(test_tail_cap),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
