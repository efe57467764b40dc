/* Layer tar streams (plain, gzip or zstd) written as EROFS images, as the store writes them.
 * The image goes to a memfd, so nothing outside the process is touched. A layer the writer
 * accepts must give an image the kernel would read: the superblock right, every inode and its
 * inline data and xattrs inside the image, inline data never crossing a block, every
 * directory's dirents sorted with names of 1 to 255 bytes and nids of real inodes, file data
 * inside the image. The tree is walked from the root to check this. */
#include "fuzz.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/erofs.h"
#include "store/erofs_format.h"

struct img {
    const uint8_t *p;
    uint64_t len, meta;
};

static const struct erofs_inode_ext *inode_at(const struct img *m, uint64_t nid)
{
    uint64_t off = m->meta + nid * 32;
    fuzz_check(off + 64 <= m->len, "inode %llu outside the image", (unsigned long long)nid);
    const struct erofs_inode_ext *in = (const void *)(m->p + off);
    fuzz_check(in->i_format & 1, "inode %llu is not extended", (unsigned long long)nid);
    uint64_t xs = in->i_xattr_icount ? 12 + (in->i_xattr_icount - 1u) * 4ull : 0;
    fuzz_check(off + 64 + xs <= m->len, "xattrs outside the image");
    return in;
}

/* Where byte pos of the inode's data is: the image offset. */
static uint64_t data_at(const struct img *m, const struct erofs_inode_ext *in, uint64_t pos)
{
    unsigned layout = (in->i_format >> EROFS_LAYOUT_SHIFT) & 7;
    uint64_t xs = in->i_xattr_icount ? 12 + (in->i_xattr_icount - 1u) * 4ull : 0;
    uint64_t after = (uint64_t)((const uint8_t *)in - m->p) + 64 + xs;
    uint64_t full = in->i_size / EROFS_BLKSIZE * EROFS_BLKSIZE;
    if (layout == EROFS_FLAT_INLINE && pos >= full) {
        fuzz_check(after % EROFS_BLKSIZE + (in->i_size - full) <= EROFS_BLKSIZE,
                   "inline data crosses a block");
        return after + (pos - full);
    }
    if (layout == EROFS_CHUNK_BASED) {
        uint64_t chunk = (uint64_t)EROFS_BLKSIZE << (in->i_u & EROFS_CHUNK_BLKBITS_MASK);
        const uint32_t *map = (const void *)(m->p + after);
        fuzz_check(after + 4 * (pos / chunk + 1) <= m->len, "chunk map outside the image");
        if (map[pos / chunk] == EROFS_NULL_ADDR)
            return UINT64_MAX;
        return (uint64_t)map[pos / chunk] * EROFS_BLKSIZE + pos % chunk;
    }
    fuzz_check(layout == EROFS_FLAT_PLAIN || layout == EROFS_FLAT_INLINE, "layout %u", layout);
    return (uint64_t)in->i_u * EROFS_BLKSIZE + pos;
}

static void check_data(const struct img *m, const struct erofs_inode_ext *in)
{
    if (in->i_size == 0)
        return;
    uint64_t last = data_at(m, in, in->i_size - 1);
    fuzz_check(last == UINT64_MAX || last < m->len, "data outside the image");
    uint64_t first = data_at(m, in, 0);
    fuzz_check(first == UINT64_MAX || first < m->len, "data outside the image");
}

static void check_dir(const struct img *m, uint64_t nid, unsigned depth)
{
    const struct erofs_inode_ext *in = inode_at(m, nid);
    fuzz_check(S_ISDIR(in->i_mode), "not a directory");
    fuzz_check(depth < 4096, "directories too deep");
    check_data(m, in);
    char prev[256];
    size_t prev_len = 0;
    bool have_prev = false, dot = false, dotdot = false;
    for (uint64_t blk = 0; blk * EROFS_BLKSIZE < in->i_size; blk++) {
        uint64_t bsize = in->i_size - blk * EROFS_BLKSIZE;
        if (bsize > EROFS_BLKSIZE)
            bsize = EROFS_BLKSIZE;
        const uint8_t *b = m->p + data_at(m, in, blk * EROFS_BLKSIZE);
        const struct erofs_dirent *de = (const void *)b;
        unsigned n = de[0].nameoff / 12;
        fuzz_check(n > 0 && de[0].nameoff % 12 == 0 && de[0].nameoff < bsize, "bad first nameoff");
        for (unsigned i = 0; i < n; i++) {
            unsigned end = i + 1 < n ? de[i + 1].nameoff : (unsigned)bsize;
            fuzz_check(de[i].nameoff < end && end <= bsize, "bad nameoff");
            size_t len = strnlen((const char *)b + de[i].nameoff, end - de[i].nameoff);
            fuzz_check(len >= 1 && len <= 255, "name of %zu bytes", len);
            const char *name = (const char *)b + de[i].nameoff;
            if (have_prev) {
                size_t k = len < prev_len ? len : prev_len;
                int c = memcmp(prev, name, k);
                fuzz_check(c < 0 || (c == 0 && prev_len < len), "dirents not sorted");
            }
            memcpy(prev, name, len);
            prev_len = len;
            have_prev = true;
            bool is_dot = len == 1 && name[0] == '.', is_dotdot = len == 2 && !memcmp(name, "..", 2);
            dot |= is_dot;
            dotdot |= is_dotdot;
            const struct erofs_inode_ext *child = inode_at(m, de[i].nid);
            if (is_dot || is_dotdot)
                continue;
            if (S_ISDIR(child->i_mode))
                check_dir(m, de[i].nid, depth + 1);
            else if (S_ISREG(child->i_mode) || S_ISLNK(child->i_mode))
                check_data(m, child);
        }
    }
    fuzz_check(dot && dotdot, "no . or ..");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int in = memfd_create("layer", MFD_CLOEXEC), out = memfd_create("image", MFD_CLOEXEC);
    fuzz_check(in >= 0 && out >= 0, "memfd");
    fuzz_check(write(in, data, size) == (ssize_t)size, "write the layer");
    lseek(in, 0, SEEK_SET);
    tug_unpack_result res;
    tug_error *err = NULL;
    int r = tug_layer_to_erofs(in, out, &res, &err);
    close(in);
    if (r < 0) {
        fuzz_check(err != NULL && err->msg != NULL && strchr(err->msg, '\n') == NULL,
                   "a failure without a one-line message");
        tug_error_free(err);
        close(out);
        return 0;
    }
    struct stat st;
    fuzz_check(fstat(out, &st) == 0 && st.st_size >= EROFS_BLKSIZE, "image too small");
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, out, 0);
    fuzz_check(p != MAP_FAILED, "mmap the image");
    const struct erofs_sb *sb = (const void *)((const uint8_t *)p + EROFS_SB_OFFSET);
    fuzz_check(sb->magic == EROFS_MAGIC && sb->blkszbits == EROFS_BLKBITS, "superblock");
    fuzz_check((uint64_t)sb->blocks * EROFS_BLKSIZE == (uint64_t)st.st_size, "block count");
    struct img m = {p, (uint64_t)st.st_size, (uint64_t)sb->meta_blkaddr * EROFS_BLKSIZE};
    check_dir(&m, sb->root_nid, 0);
    munmap(p, (size_t)st.st_size);
    close(out);
    return 0;
}
