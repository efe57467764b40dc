/* A layer tar as an EROFS image, in one pass (docs/erofs.md). File data goes to the image as
 * it streams in, block after block from block 1; the tree is kept in memory (names, inodes,
 * xattrs, symlink targets and files' last partial blocks, which are capped) and written at the
 * end after the data: directory blocks, then the metadata area with every inode. Entries mean
 * what they mean to tug_layer_unpack, whose walk over the stream this shares. */
#include "erofs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "erofs_format.h"
#include "unpack_int.h"

#define NONE UINT32_MAX
#define MAX_SYMLINKS 40
#define TAIL_CAP (64u << 20)   /* bytes of files' last blocks held for inlining */
#define SPARSE_CHUNKS 512      /* a sparse file's chunk map has at most this many entries */
#define META_BUF (1u << 20)    /* the metadata area is written through a buffer this big */
#define XATTR_BODY_MAX 262136u /* entries after the 12-byte header: i_xattr_icount is 16 bits */
#define INODE_SIZE ((uint32_t)sizeof(struct erofs_inode_ext))

struct inode {
    uint32_t mode; /* S_IF* | permissions */
    uint32_t uid, gid;
    int64_t mtime;
    uint32_t mtime_ns;
    uint32_t rdev; /* the kernel's encoding of major:minor */
    uint64_t size;
    uint32_t blkaddr; /* first data block (flat layouts) */
    uint8_t layout;
    uint8_t chunkbits;
    uint32_t nchunks;
    uint32_t *chunks; /* chunk-based: each chunk's first block, or EROFS_NULL_ADDR */
    uint8_t *xattrs;  /* erofs_xattr_entry records, each 4-byte aligned */
    uint32_t xattr_len;
    uint8_t *data; /* a file's last partial block (inline), or a symlink's target */
    uint32_t data_len;
    uint32_t node; /* a directory's node: its children */
    uint32_t nlink;
    uint64_t nid;
    bool seen;
};

struct node {
    char *name;
    uint32_t namelen;
    uint32_t parent, ino;
    uint32_t first_child, next_sibling; /* a directory's children, newest first */
    uint32_t hnext;                     /* the next node in its hash bucket */
    bool dead;                          /* replaced or removed: skipped everywhere */
};

struct writer {
    int fd;
    struct node *nodes;
    uint32_t nnodes, nodes_cap;
    struct inode *inodes;
    uint32_t ninodes, inodes_cap;
    uint32_t *buckets; /* node index per hash of (parent, name) */
    uint32_t nbuckets;
    uint64_t next_block; /* the next free data block */
    uint64_t tail_bytes;
    bool chunked, aufs_links;
    int64_t now;
    char *name, *link; /* the cleaned name and hard link target of the current entry */
    size_t name_cap, link_cap;
    long long size;
    uint8_t *block; /* one block for directory writes */
};

static void writer_free(struct writer *w)
{
    for (uint32_t i = 0; i < w->nnodes; i++)
        free(w->nodes[i].name);
    for (uint32_t i = 0; i < w->ninodes; i++) {
        free(w->inodes[i].chunks);
        free(w->inodes[i].xattrs);
        free(w->inodes[i].data);
    }
    free(w->nodes);
    free(w->inodes);
    free(w->buckets);
    free(w->name);
    free(w->link);
    free(w->block);
}

static int entry_error(tug_error **err, int errnum, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int entry_error(tug_error **err, int errnum, const char *name, const char *fmt, ...)
{
    cleanup_free char *shown = tug_layer_printable(name);
    cleanup_free char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    const char *w = n >= 0 ? what : "?";
    const char *s = shown ? shown : "?";
    if (errnum > 0)
        return tug_error_set(err, errnum, "layer entry %s: %s", s, w);
    return tug_error_user(err, "layer entry %s: %s", s, w);
}

static off_t block_at(uint64_t blk)
{
    return (off_t)(blk * EROFS_BLKSIZE);
}

/* ---- The tree --------------------------------------------------------------------------- */

static uint32_t name_hash(uint32_t parent, const char *name, size_t len)
{
    uint32_t h = 2166136261u ^ parent;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
    if (n < *cap)
        return 0;
    if (*cap >= UINT32_MAX / 2)
        return -1;
    uint32_t ncap = *cap ? *cap * 2 : 1024;
    void *na = realloc(*arr, (size_t)ncap * size);
    if (na == NULL)
        return -1;
    *arr = na;
    *cap = ncap;
    return 0;
}

static int rehash(struct writer *w)
{
    uint32_t nb = w->nbuckets ? w->nbuckets * 2 : 4096;
    uint32_t *b = malloc((size_t)nb * sizeof(*b));
    if (b == NULL)
        return -1;
    memset(b, 0xff, (size_t)nb * sizeof(*b));
    for (uint32_t i = 1; i < w->nnodes; i++) {
        struct node *n = &w->nodes[i];
        uint32_t h = name_hash(n->parent, n->name, n->namelen) & (nb - 1);
        n->hnext = b[h];
        b[h] = i;
    }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = nb;
    return 0;
}

static uint32_t lookup(const struct writer *w, uint32_t parent, const char *name, size_t len)
{
    uint32_t h = name_hash(parent, name, len) & (w->nbuckets - 1);
    for (uint32_t i = w->buckets[h]; i != NONE; i = w->nodes[i].hnext) {
        const struct node *n = &w->nodes[i];
        if (!n->dead && n->parent == parent && n->namelen == len && memcmp(n->name, name, len) == 0)
            return i;
    }
    return NONE;
}

static uint32_t new_inode(struct writer *w, uint32_t mode, uint32_t uid, uint32_t gid)
{
    if (grow((void **)&w->inodes, &w->inodes_cap, w->ninodes, sizeof(*w->inodes)) < 0)
        return NONE;
    struct inode *in = &w->inodes[w->ninodes];
    *in = (struct inode){.mode = mode, .uid = uid, .gid = gid, .mtime = w->now, .node = NONE};
    return w->ninodes++;
}

static uint32_t new_node(struct writer *w, uint32_t parent, const char *name, size_t len,
                         uint32_t ino)
{
    if (grow((void **)&w->nodes, &w->nodes_cap, w->nnodes, sizeof(*w->nodes)) < 0)
        return NONE;
    if (w->nnodes >= w->nbuckets && rehash(w) < 0)
        return NONE;
    char *copy = strndup(name, len);
    if (copy == NULL)
        return NONE;
    uint32_t i = w->nnodes++;
    struct node *n = &w->nodes[i];
    uint32_t h = name_hash(parent, name, len) & (w->nbuckets - 1);
    *n = (struct node){.name = copy,
                       .namelen = (uint32_t)len,
                       .parent = parent,
                       .ino = ino,
                       .first_child = NONE,
                       .next_sibling = w->nodes[parent].first_child,
                       .hnext = w->buckets[h]};
    w->buckets[h] = i;
    w->nodes[parent].first_child = i;
    if (S_ISDIR(w->inodes[ino].mode))
        w->inodes[ino].node = i;
    return i;
}

static bool is_dir(const struct writer *w, uint32_t node)
{
    return S_ISDIR(w->inodes[w->nodes[node].ino].mode);
}

/* A new directory as unpack makes a missing parent: 0755, root's, created now. */
static uint32_t implicit_dir(struct writer *w, uint32_t parent, const char *name, size_t len)
{
    uint32_t ino = new_inode(w, S_IFDIR | 0755, 0, 0);
    return ino == NONE ? NONE : new_node(w, parent, name, len, ino);
}

/* The directory at path (cleaned, relative) with symlinks followed inside the layer, as
 * RESOLVE_IN_ROOT resolves them for unpack. With create, missing components of path itself
 * (not of a symlink's target) are made. -errno on failure. */
static int resolve_dir(struct writer *w, const char *path, size_t len, bool create, uint32_t *ret)
{
    cleanup_free char *rest = strndup(path, len);
    if (rest == NULL)
        return -ENOMEM;
    size_t pos = 0, orig_from = 0; /* rest from orig_from on is path's own */
    uint32_t cur = 0;
    int links = 0;
    for (;;) {
        while (rest[pos] == '/')
            pos++;
        if (rest[pos] == '\0')
            break;
        size_t end = pos + strcspn(rest + pos, "/");
        size_t n = end - pos, next = rest[end] ? end + 1 : end;
        const char *comp = rest + pos;
        if (n == 1 && comp[0] == '.') {
            pos = next;
            continue;
        }
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            cur = w->nodes[cur].parent;
            pos = next;
            continue;
        }
        uint32_t child = lookup(w, cur, comp, n);
        if (child == NONE) {
            if (!create || pos < orig_from)
                return -ENOENT;
            child = implicit_dir(w, cur, comp, n);
            if (child == NONE)
                return -ENOMEM;
        }
        const struct inode *in = &w->inodes[w->nodes[child].ino];
        if (S_ISLNK(in->mode)) {
            if (++links > MAX_SYMLINKS)
                return -ELOOP;
            char *joined = NULL;
            if (asprintf(&joined, "%.*s/%s", (int)in->data_len, (const char *)in->data,
                         rest + next) < 0)
                return -ENOMEM;
            orig_from = in->data_len + 1 + (orig_from > next ? orig_from - next : 0);
            free(rest);
            rest = joined;
            pos = 0;
            if (in->data_len > 0 && in->data[0] == '/')
                cur = 0;
            continue;
        }
        if (!S_ISDIR(in->mode))
            return -ENOTDIR;
        cur = child;
        pos = next;
    }
    *ret = cur;
    return 0;
}

/* Whatever is at base in dir goes (a directory with its contents): later entries win. */
static void remove_existing(struct writer *w, uint32_t dir, const char *base)
{
    uint32_t old = lookup(w, dir, base, strlen(base));
    if (old != NONE)
        w->nodes[old].dead = true;
}

/* ---- Entry metadata --------------------------------------------------------------------- */

/* The kernel's 32-bit device number encoding. */
static uint32_t encode_dev(uint32_t major, uint32_t minor)
{
    return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffu) << 12);
}

static int entry_owner(struct archive_entry *e, uint32_t *uid, uint32_t *gid)
{
    la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
    if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
        return -1;
    *uid = (uint32_t)u;
    *gid = (uint32_t)g;
    return 0;
}

static void entry_mtime(struct inode *in, struct archive_entry *e)
{
    in->mtime = archive_entry_mtime(e);
    long ns = archive_entry_mtime_nsec(e);
    in->mtime_ns = ns >= 0 && ns < 1000000000 ? (uint32_t)ns : 0;
}

static uint32_t xattr_ibody_size(const struct inode *in)
{
    return in->xattr_len ? (uint32_t)sizeof(struct erofs_xattr_ibody_header) + in->xattr_len : 0;
}

/* The EROFS name index of an xattr name and the suffix stored; 0 for a name no Linux file
 * system stores (unpack's setxattr would be refused: such names are dropped as there). */
static int xattr_index(const char *name, const char **ret_suffix)
{
    static const struct {
        const char *prefix;
        int index;
        bool whole; /* the name is the prefix itself */
    } map[] = {
        {"user.", EROFS_XATTR_INDEX_USER, false},
        {"trusted.", EROFS_XATTR_INDEX_TRUSTED, false},
        {"security.", EROFS_XATTR_INDEX_SECURITY, false},
        {"system.posix_acl_access", EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, true},
        {"system.posix_acl_default", EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT, true},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t n = strlen(map[i].prefix);
        if (strncmp(name, map[i].prefix, n) != 0)
            continue;
        if (map[i].whole ? name[n] != '\0' : name[n] == '\0')
            continue;
        *ret_suffix = name + n;
        return map[i].index;
    }
    return 0;
}

static uint32_t xattr_record_size(uint32_t name_len, uint32_t value_len)
{
    return ((uint32_t)sizeof(struct erofs_xattr_entry) + name_len + value_len + 3) & ~3u;
}

/* Set one xattr on an inode, replacing one of the same name. */
static int set_xattr(struct inode *in, const char *key, const void *value, size_t size,
                     const char *name, tug_error **err)
{
    const char *suffix;
    int index = xattr_index(key, &suffix);
    if (index == 0)
        return 0;
    size_t slen = strlen(suffix);
    if (slen > 255 || size > UINT16_MAX)
        return entry_error(err, 0, name, "xattr %s is too long", key);
    uint32_t rec = xattr_record_size((uint32_t)slen, (uint32_t)size);
    /* drop an earlier value of the same name */
    for (uint32_t off = 0; off < in->xattr_len;) {
        const struct erofs_xattr_entry *x = (const void *)(in->xattrs + off);
        uint32_t xr = xattr_record_size(x->e_name_len, x->e_value_size);
        if (x->e_name_index == index && x->e_name_len == slen && memcmp(x + 1, suffix, slen) == 0) {
            memmove(in->xattrs + off, in->xattrs + off + xr, in->xattr_len - off - xr);
            in->xattr_len -= xr;
            break;
        }
        off += xr;
    }
    if (in->xattr_len + rec > XATTR_BODY_MAX)
        return entry_error(err, 0, name, "xattrs are too large (%u bytes at most)", XATTR_BODY_MAX);
    uint8_t *nx = realloc(in->xattrs, in->xattr_len + rec);
    if (nx == NULL)
        return entry_error(err, ENOMEM, name, "xattr %s", key);
    in->xattrs = nx;
    uint8_t *p = nx + in->xattr_len;
    memset(p, 0, rec);
    struct erofs_xattr_entry h = {(uint8_t)slen, (uint8_t)index, (uint16_t)size};
    memcpy(p, &h, sizeof(h));
    memcpy(p + sizeof(h), suffix, slen);
    if (size > 0)
        memcpy(p + sizeof(h) + slen, value, size);
    in->xattr_len += rec;
    return 0;
}

/* overlayfs reads its own xattrs as instructions: only whiteout entries may produce them. */
static bool xattr_allowed(const char *name)
{
    return strncmp(name, "trusted.overlay.", 16) != 0 && strncmp(name, "user.overlay.", 13) != 0;
}

static int entry_xattrs(struct inode *in, struct archive_entry *e, const char *name,
                        tug_error **err)
{
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    const char *key;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK)
        if (key != NULL && xattr_allowed(key) && set_xattr(in, key, value, size, name, err) < 0)
            return -1;
    return 0;
}

/* A new inode for the entry (owner, permissions, mtime, xattrs), placed at base in dir in
 * place of whatever was there. */
static int add_entry(struct writer *w, struct archive_entry *e, uint32_t type, uint32_t dir,
                     const char *base, uint32_t *ret_ino, tug_error **err)
{
    uint32_t uid, gid;
    if (entry_owner(e, &uid, &gid) < 0)
        return entry_error(err, 0, w->name, "owner out of range");
    uint32_t perm = type == S_IFLNK ? 0777 : (uint32_t)archive_entry_perm(e) & 07777;
    uint32_t ino = new_inode(w, type | perm, uid, gid);
    if (ino == NONE)
        return entry_error(err, ENOMEM, w->name, "add");
    entry_mtime(&w->inodes[ino], e);
    if (entry_xattrs(&w->inodes[ino], e, w->name, err) < 0)
        return -1;
    remove_existing(w, dir, base);
    if (new_node(w, dir, base, strlen(base), ino) == NONE)
        return entry_error(err, ENOMEM, w->name, "add");
    *ret_ino = ino;
    return 0;
}

static int add_size(struct writer *w, long long n, tug_error **err)
{
    if (n < 0 || __builtin_add_overflow(w->size, n, &w->size))
        return entry_error(err, 0, w->name, "size out of range");
    return 0;
}

/* ---- Regular files: data straight to the image ------------------------------------------ */

static int take_blocks(struct writer *w, uint64_t n, uint32_t *ret, tug_error **err)
{
    if (n > UINT32_MAX || w->next_block + n > UINT32_MAX)
        return entry_error(err, EFBIG, w->name, "the image would pass 16 TiB");
    *ret = (uint32_t)w->next_block;
    w->next_block += n;
    return 0;
}

/* A sparse file is chunk-based: chunks with no data are holes and take no blocks. */
static int sparse_layout(struct writer *w, struct inode *in, tug_error **err)
{
    uint32_t bits = 0;
    while (bits < EROFS_CHUNK_BLKBITS_MASK &&
           ((in->size - 1) >> (EROFS_BLKBITS + bits)) + 1 > SPARSE_CHUNKS)
        bits++;
    in->layout = EROFS_CHUNK_BASED;
    in->chunkbits = (uint8_t)bits;
    in->nchunks = (uint32_t)(((in->size - 1) >> (EROFS_BLKBITS + bits)) + 1);
    in->chunks = malloc(in->nchunks * sizeof(*in->chunks));
    if (in->chunks == NULL)
        return entry_error(err, ENOMEM, w->name, "chunk map");
    memset(in->chunks, 0xff, in->nchunks * sizeof(*in->chunks));
    w->chunked = true;
    return 0;
}

/* File data to image offset at. Whole blocks of zeros are left as holes: the image file starts
 * empty, so they read as zeros. Layers carry sparse files as runs of zeros (docker's tars are
 * never sparse); this keeps them sparse in the image. */
static int write_data(int fd, const uint8_t *buf, size_t len, uint64_t at)
{
    size_t start = 0, pos = 0;
    while (pos < len) {
        size_t n = EROFS_BLKSIZE - (at + pos) % EROFS_BLKSIZE;
        if (n > len - pos)
            n = len - pos;
        if (n == EROFS_BLKSIZE && buf[pos] == 0 && memcmp(buf + pos, buf + pos + 1, n - 1) == 0) {
            if (pos > start &&
                tug_pwrite_all(fd, buf + start, pos - start, (off_t)(at + start)) < 0)
                return -1;
            start = pos + n;
        }
        pos += n;
    }
    if (pos > start && tug_pwrite_all(fd, buf + start, pos - start, (off_t)(at + start)) < 0)
        return -1;
    return 0;
}

static int write_sparse(struct writer *w, struct inode *in, const uint8_t *buf, size_t len,
                        uint64_t off, tug_error **err)
{
    uint64_t chunk = (uint64_t)EROFS_BLKSIZE << in->chunkbits;
    while (len > 0) {
        uint64_t ci = off / chunk, in_chunk = off % chunk;
        size_t n = len < chunk - in_chunk ? len : (size_t)(chunk - in_chunk);
        if (in->chunks[ci] == EROFS_NULL_ADDR) {
            uint64_t bytes = in->size - ci * chunk < chunk ? in->size - ci * chunk : chunk;
            if (take_blocks(w, (bytes + EROFS_BLKSIZE - 1) / EROFS_BLKSIZE, &in->chunks[ci], err) <
                0)
                return -1;
        }
        if (write_data(w->fd, buf, n, (uint64_t)block_at(in->chunks[ci]) + in_chunk) < 0)
            return entry_error(err, errno, w->name, "write the image");
        buf += n;
        len -= n;
        off += n;
    }
    return 0;
}

static int write_flat(struct writer *w, struct inode *in, const uint8_t *buf, size_t len,
                      uint64_t off, tug_error **err)
{
    uint64_t inline_from = in->data ? in->size - in->data_len : in->size;
    if (off < inline_from) {
        size_t n = len < inline_from - off ? len : (size_t)(inline_from - off);
        if (write_data(w->fd, buf, n, (uint64_t)block_at(in->blkaddr) + off) < 0)
            return entry_error(err, errno, w->name, "write the image");
        buf += n;
        len -= n;
        off += n;
    }
    if (len > 0)
        memcpy(in->data + (off - inline_from), buf, len);
    return 0;
}

/* Where the data goes, decided before it comes: full blocks from the next free one; the last
 * partial block inline after the inode when it fits beside it (and the cap allows). */
static int plan_file(struct writer *w, struct inode *in, struct archive_entry *e, tug_error **err)
{
    if (in->size > 0 && archive_entry_sparse_count(e) > 0)
        return sparse_layout(w, in, err);
    uint64_t full = in->size / EROFS_BLKSIZE;
    uint32_t tail = (uint32_t)(in->size % EROFS_BLKSIZE);
    bool inl = tail > 0 && INODE_SIZE + xattr_ibody_size(in) + tail <= EROFS_BLKSIZE &&
               w->tail_bytes + tail <= TAIL_CAP;
    in->layout = inl ? EROFS_FLAT_INLINE : EROFS_FLAT_PLAIN;
    if (inl) {
        in->data = calloc(1, tail);
        if (in->data == NULL)
            return entry_error(err, ENOMEM, w->name, "file tail");
        in->data_len = tail;
        w->tail_bytes += tail;
    }
    uint64_t nblocks = full + (!inl && tail > 0);
    return nblocks == 0 ? 0 : take_blocks(w, nblocks, &in->blkaddr, err);
}

static int add_file(struct writer *w, struct pipeline *p, struct archive *a,
                    struct archive_entry *e, uint32_t dir, const char *base, tug_error **err)
{
    la_int64_t size = archive_entry_size(e);
    if (size < 0)
        return entry_error(err, 0, w->name, "size out of range");
    uint32_t ino;
    if (add_entry(w, e, S_IFREG, dir, base, &ino, err) < 0)
        return -1;
    w->inodes[ino].size = (uint64_t)size;
    if (plan_file(w, &w->inodes[ino], e, err) < 0)
        return -1;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return tug_layer_tar_error(p, a, err);
        if (off < 0 || off > size || len > (uint64_t)(size - off))
            return entry_error(err, 0, w->name, "data beyond the file's size");
        struct inode *in = &w->inodes[ino]; /* inodes may move as the array grows */
        r = in->layout == EROFS_CHUNK_BASED ? write_sparse(w, in, buf, len, (uint64_t)off, err)
                                            : write_flat(w, in, buf, len, (uint64_t)off, err);
        if (r < 0)
            return -1;
    }
    return add_size(w, size, err);
}

/* ---- The other entry types -------------------------------------------------------------- */

static int add_dir(struct writer *w, struct archive_entry *e, uint32_t dir, const char *base,
                   tug_error **err)
{
    uint32_t old = lookup(w, dir, base, strlen(base));
    if (old == NONE || !is_dir(w, old)) {
        uint32_t ino;
        return add_entry(w, e, S_IFDIR, dir, base, &ino, err);
    }
    /* a directory over a directory: its children and xattrs stay, the rest is the entry's */
    struct inode *in = &w->inodes[w->nodes[old].ino];
    uint32_t uid, gid;
    if (entry_owner(e, &uid, &gid) < 0)
        return entry_error(err, 0, w->name, "owner out of range");
    in->uid = uid;
    in->gid = gid;
    in->mode = S_IFDIR | ((uint32_t)archive_entry_perm(e) & 07777);
    entry_mtime(in, e);
    return entry_xattrs(in, e, w->name, err);
}

static int add_symlink(struct writer *w, struct archive_entry *e, uint32_t dir, const char *base,
                       tug_error **err)
{
    const char *target = archive_entry_symlink(e);
    if (target == NULL)
        return entry_error(err, 0, w->name, "symlink without a target");
    size_t len = strlen(target);
    if (len == 0 || len >= EROFS_BLKSIZE)
        return entry_error(err, 0, w->name, "symlink target of %zu bytes", len);
    uint32_t ino;
    if (add_entry(w, e, S_IFLNK, dir, base, &ino, err) < 0)
        return -1;
    struct inode *in = &w->inodes[ino];
    in->data = (uint8_t *)strdup(target);
    if (in->data == NULL)
        return entry_error(err, ENOMEM, w->name, "symlink");
    in->data_len = (uint32_t)len;
    in->size = len;
    return add_size(w, (long long)len, err);
}

static int add_node(struct writer *w, struct archive_entry *e, uint32_t type, uint32_t dir,
                    const char *base, tug_error **err)
{
    uint32_t ino;
    if (add_entry(w, e, type, dir, base, &ino, err) < 0)
        return -1;
    if (type != S_IFIFO)
        w->inodes[ino].rdev =
            encode_dev((uint32_t)archive_entry_rdevmajor(e), (uint32_t)archive_entry_rdevminor(e));
    return 0;
}

static int add_hardlink(struct writer *w, const char *target, uint32_t dir, const char *base,
                        tug_error **err)
{
    size_t len;
    int r = tug_layer_clean_name(target, &w->link, &w->link_cap, &len);
    if (r == -ENOMEM)
        return entry_error(err, ENOMEM, w->name, "hard link");
    if (r < 0 || len == 0) {
        cleanup_free char *shown = tug_layer_printable(target);
        return entry_error(err, 0, w->name, "hard link target %s escapes the layer",
                           shown ? shown : "?");
    }
    if (strcmp(w->link, w->name) == 0)
        return 0;
    cleanup_free char *shown = tug_layer_printable(w->link);
    const char *to = shown ? shown : "?";
    const char *slash = strrchr(w->link, '/');
    const char *tbase = slash ? slash + 1 : w->link;
    uint32_t tdir = 0;
    if (slash != NULL) {
        r = resolve_dir(w, w->link, (size_t)(slash - w->link), false, &tdir);
        if (r < 0)
            return entry_error(err, -r, w->name, "hard link to %s", to);
    }
    uint32_t t = lookup(w, tdir, tbase, strlen(tbase));
    if (t == NONE)
        return entry_error(err, ENOENT, w->name, "hard link to %s", to);
    if (is_dir(w, t))
        return entry_error(err, EPERM, w->name, "hard link to %s", to);
    if (lookup(w, dir, base, strlen(base)) == t)
        return 0;
    remove_existing(w, dir, base);
    if (new_node(w, dir, base, strlen(base), w->nodes[t].ino) == NONE)
        return entry_error(err, ENOMEM, w->name, "hard link");
    return 0;
}

/* ".wh.NAME" hides NAME of the layers below: overlayfs reads a 0:0 char device as that. */
static int add_whiteout(struct writer *w, struct archive_entry *e, uint32_t dir, const char *hidden,
                        tug_error **err)
{
    if (hidden[0] == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
        return entry_error(err, 0, w->name, "invalid whiteout");
    uint32_t uid, gid;
    if (entry_owner(e, &uid, &gid) < 0)
        return entry_error(err, 0, w->name, "owner out of range");
    uint32_t ino = new_inode(w, S_IFCHR, uid, gid);
    if (ino == NONE)
        return entry_error(err, ENOMEM, w->name, "create whiteout");
    entry_mtime(&w->inodes[ino], e);
    remove_existing(w, dir, hidden);
    if (new_node(w, dir, hidden, strlen(hidden), ino) == NONE)
        return entry_error(err, ENOMEM, w->name, "create whiteout");
    return 0;
}

static int add_tar_entry(void *data, struct pipeline *p, struct archive *a, struct archive_entry *e,
                         tug_error **err)
{
    struct writer *w = data;
    const char *raw = archive_entry_pathname(e);
    if (raw == NULL)
        return tug_error_user(err, "layer is truncated or corrupt: an entry has no name");
    size_t len;
    int r = tug_layer_clean_name(raw, &w->name, &w->name_cap, &len);
    if (r == -ENOMEM)
        return tug_error_set(err, ENOMEM, "write layer image");
    if (r < 0) {
        cleanup_free char *shown = tug_layer_printable(raw);
        return tug_error_user(err, "layer entry %s escapes the layer", shown ? shown : "?");
    }
    if (len == 0) /* the layer root itself; its metadata is the store's */
        return 0;
    const char *name = w->name;
    for (const char *c = name; *c;) { /* a directory block holds names of up to NAME_MAX */
        size_t n = strcspn(c, "/");
        if (n > NAME_MAX)
            return entry_error(err, ENAMETOOLONG, name, "name");
        c += n + (c[n] == '/');
    }
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    size_t dir_len = slash ? (size_t)(slash - name) : 0;

    enum tug_whiteout wh = tug_layer_whiteout(name, base);
    if (wh == TUG_WH_SKIP)
        return 0;
    w->aufs_links |= wh == TUG_WH_AUFS_LINK;

    uint32_t dir = 0;
    if (dir_len > 0 && (r = resolve_dir(w, name, dir_len, true, &dir)) < 0)
        return entry_error(err, -r, name, "open parent directory");
    if (wh == TUG_WH_OPAQUE)
        return set_xattr(&w->inodes[w->nodes[dir].ino], "trusted.overlay.opaque", "y", 1, name,
                         err);
    if (wh == TUG_WH_HIDE)
        return add_whiteout(w, e, dir, base + 4, err);

    const char *hardlink = archive_entry_hardlink(e);
    if (hardlink != NULL)
        return add_hardlink(w, hardlink, dir, base, err);

    uint32_t type = archive_entry_filetype(e);
    switch (type) {
    case AE_IFREG:
        return add_file(w, p, a, e, dir, base, err);
    case AE_IFDIR:
        return add_dir(w, e, dir, base, err);
    case AE_IFLNK:
        return add_symlink(w, e, dir, base, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return add_node(w, e, type, dir, base, err);
    default: /* sockets and unknown types carry nothing to recreate */
        return 0;
    }
}

/* ---- Laying out the metadata ------------------------------------------------------------ */

struct dent {
    const char *name;
    uint32_t len;
    uint32_t ino;
};

static int dent_cmp(const void *a, const void *b)
{
    const struct dent *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* A directory's entries, "." and ".." among them, sorted as the kernel's lookup wants. */
static int dir_entries(const struct writer *w, uint32_t node, struct dent **ret, uint32_t *ret_n)
{
    uint32_t n = 2;
    for (uint32_t c = w->nodes[node].first_child; c != NONE; c = w->nodes[c].next_sibling)
        n += !w->nodes[c].dead;
    struct dent *d = malloc((size_t)n * sizeof(*d));
    if (d == NULL)
        return -1;
    uint32_t parent = w->nodes[node].parent;
    d[0] = (struct dent){".", 1, w->nodes[node].ino};
    d[1] = (struct dent){"..", 2, w->nodes[parent].ino};
    uint32_t i = 2;
    for (uint32_t c = w->nodes[node].first_child; c != NONE; c = w->nodes[c].next_sibling)
        if (!w->nodes[c].dead)
            d[i++] = (struct dent){w->nodes[c].name, w->nodes[c].namelen, w->nodes[c].ino};
    qsort(d, n, sizeof(*d), dent_cmp);
    *ret = d;
    *ret_n = n;
    return 0;
}

/* Bytes of the directory: full blocks, then what the last one uses. */
static uint64_t dir_size(const struct dent *d, uint32_t n)
{
    uint64_t blocks = 0;
    uint32_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t need = (uint32_t)sizeof(struct erofs_dirent) + d[i].len;
        if (used + need > EROFS_BLKSIZE) {
            blocks++;
            used = 0;
        }
        used += need;
    }
    return blocks * EROFS_BLKSIZE + used;
}

/* Every reachable inode once, the root first (its nid must fit 16 bits), then breadth first;
 * nlink counted on the way; directory sizes known. */
static int collect(struct writer *w, uint32_t **ret_order, uint32_t *ret_n, tug_error **err)
{
    cleanup_free uint32_t *order = malloc((size_t)w->ninodes * sizeof(*order));
    if (order == NULL)
        return tug_error_set(err, ENOMEM, "write layer image");
    uint32_t n = 0;
    order[n++] = 0;
    w->inodes[0].seen = true;
    w->inodes[0].nlink = 2;
    for (uint32_t k = 0; k < n; k++) {
        struct inode *in = &w->inodes[order[k]];
        if (!S_ISDIR(in->mode))
            continue;
        for (uint32_t c = w->nodes[in->node].first_child; c != NONE; c = w->nodes[c].next_sibling) {
            if (w->nodes[c].dead)
                continue;
            struct inode *ci = &w->inodes[w->nodes[c].ino];
            if (S_ISDIR(ci->mode)) {
                in->nlink++;
                ci->nlink = 2;
            } else {
                ci->nlink++;
            }
            if (!ci->seen) {
                ci->seen = true;
                order[n++] = w->nodes[c].ino;
            }
        }
        cleanup_free struct dent *d = NULL;
        uint32_t nd = 0;
        if (dir_entries(w, in->node, &d, &nd) < 0)
            return tug_error_set(err, ENOMEM, "write layer image");
        in->size = dir_size(d, nd);
    }
    *ret_order = steal_pointer(&order);
    *ret_n = n;
    return 0;
}

/* Bytes after the inode and its xattrs: inline data or the chunk map. */
static uint32_t inline_len(const struct inode *in)
{
    if (in->layout == EROFS_CHUNK_BASED)
        return in->nchunks * (uint32_t)sizeof(uint32_t);
    return in->layout == EROFS_FLAT_INLINE ? (uint32_t)(in->size % EROFS_BLKSIZE) : 0;
}

/* Directories and symlinks get their layout now that their size is known: the last partial
 * block inline when it fits beside the inode, the rest in data blocks after the files'. */
static int plan_meta_data(struct writer *w, const uint32_t *order, uint32_t n, tug_error **err)
{
    for (uint32_t k = 0; k < n; k++) {
        struct inode *in = &w->inodes[order[k]];
        if (!S_ISDIR(in->mode) && !S_ISLNK(in->mode))
            continue;
        uint32_t tail = (uint32_t)(in->size % EROFS_BLKSIZE);
        bool inl = tail > 0 && INODE_SIZE + xattr_ibody_size(in) + tail <= EROFS_BLKSIZE;
        in->layout = inl ? EROFS_FLAT_INLINE : EROFS_FLAT_PLAIN;
        uint64_t nblocks = in->size / EROFS_BLKSIZE + (!inl && tail > 0);
        if (nblocks > 0 && take_blocks(w, nblocks, &in->blkaddr, err) < 0)
            return -1;
    }
    return 0;
}

/* nids: records (inode, xattrs, inline data) 32-byte aligned, one that fits in a block never
 * crossing into the next. Returns the metadata area's size in bytes. */
static uint64_t place_inodes(struct writer *w, const uint32_t *order, uint32_t n)
{
    uint64_t pos = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct inode *in = &w->inodes[order[k]];
        uint64_t rec = INODE_SIZE + xattr_ibody_size(in) + inline_len(in);
        pos = (pos + 31) & ~31ull;
        if (rec <= EROFS_BLKSIZE && pos % EROFS_BLKSIZE + rec > EROFS_BLKSIZE)
            pos = (pos + EROFS_BLKSIZE - 1) & ~(uint64_t)(EROFS_BLKSIZE - 1);
        in->nid = pos >> EROFS_NID_SHIFT;
        pos += rec;
    }
    return pos;
}

/* ---- Writing the metadata --------------------------------------------------------------- */

static uint8_t file_type(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return EROFS_FT_REG_FILE;
    case S_IFDIR:
        return EROFS_FT_DIR;
    case S_IFCHR:
        return EROFS_FT_CHRDEV;
    case S_IFBLK:
        return EROFS_FT_BLKDEV;
    case S_IFIFO:
        return EROFS_FT_FIFO;
    case S_IFSOCK:
        return EROFS_FT_SOCK;
    case S_IFLNK:
        return EROFS_FT_SYMLINK;
    default:
        return EROFS_FT_UNKNOWN;
    }
}

/* The metadata area through a buffer: records come in increasing offsets. */
struct meta_out {
    int fd;
    uint64_t base;  /* the area's byte offset in the image */
    uint64_t start; /* buf holds [start, start + META_BUF) of the area */
    uint64_t end;   /* bytes of buf in use */
    uint8_t *buf;
};

static int meta_flush(struct meta_out *m)
{
    if (m->end > 0 && tug_pwrite_all(m->fd, m->buf, m->end, (off_t)(m->base + m->start)) < 0)
        return -1;
    m->start += m->end;
    m->end = 0;
    return 0;
}

/* Room for len bytes at area offset pos, zeroed; what lies between records is zeros too
 * (a gap left when the buffer was written out is a hole of the image file). */
static uint8_t *meta_at(struct meta_out *m, uint64_t pos, size_t len)
{
    if (pos + len - m->start > META_BUF) {
        if (meta_flush(m) < 0)
            return NULL;
        m->start = pos;
    }
    uint64_t off = pos - m->start;
    if (off > m->end)
        memset(m->buf + m->end, 0, off - m->end);
    memset(m->buf + off, 0, len);
    m->end = off + len;
    return m->buf + off;
}

/* One directory block from d[0..n) into out (len bytes of it used, the rest zeros). */
static void fill_dir_block(const struct writer *w, const struct dent *d, uint32_t n, uint8_t *out,
                           uint32_t len)
{
    memset(out, 0, len);
    uint32_t nameoff = n * (uint32_t)sizeof(struct erofs_dirent);
    for (uint32_t i = 0; i < n; i++) {
        const struct inode *ci = &w->inodes[d[i].ino];
        struct erofs_dirent de = {
            .nid = ci->nid, .nameoff = (uint16_t)nameoff, .file_type = file_type(ci->mode)};
        memcpy(out + i * sizeof(de), &de, sizeof(de));
        memcpy(out + nameoff, d[i].name, d[i].len);
        nameoff += d[i].len;
    }
}

/* A directory's blocks: the full ones to its data blocks, the last partial one inline
 * (to *ret_tail, a block's worth) or to a data block too. */
static int write_dir(struct writer *w, const struct inode *in, uint8_t *tail, tug_error **err)
{
    cleanup_free struct dent *d = NULL;
    uint32_t n = 0;
    if (dir_entries(w, in->node, &d, &n) < 0)
        return tug_error_set(err, ENOMEM, "write layer image");
    uint64_t blk = 0;
    uint32_t first = 0, used = 0;
    for (uint32_t i = 0; i <= n; i++) {
        uint32_t need = i < n ? (uint32_t)sizeof(struct erofs_dirent) + d[i].len : 0;
        if (i < n && used + need <= EROFS_BLKSIZE) {
            used += need;
            continue;
        }
        bool last = i == n;
        bool inl = last && in->layout == EROFS_FLAT_INLINE;
        uint8_t *out = inl ? tail : w->block;
        fill_dir_block(w, d + first, i - first, out, inl ? used : EROFS_BLKSIZE);
        if (!inl && tug_pwrite_all(w->fd, out, EROFS_BLKSIZE, block_at(in->blkaddr + blk)) < 0)
            return tug_error_set(err, errno, "write the image");
        blk++;
        first = i;
        used = need;
    }
    return 0;
}

static int write_inode(struct writer *w, struct meta_out *m, uint32_t index, tug_error **err)
{
    const struct inode *in = &w->inodes[index];
    uint32_t xs = xattr_ibody_size(in), il = inline_len(in);
    uint8_t *rec = meta_at(m, in->nid << EROFS_NID_SHIFT, INODE_SIZE + xs + il);
    if (rec == NULL)
        return tug_error_set(err, errno, "write the image");
    uint32_t u = in->blkaddr;
    if (S_ISCHR(in->mode) || S_ISBLK(in->mode))
        u = in->rdev;
    else if (S_ISFIFO(in->mode) || S_ISSOCK(in->mode))
        u = 0;
    else if (in->layout == EROFS_CHUNK_BASED)
        u = in->chunkbits;
    struct erofs_inode_ext ie = {
        .i_format = (uint16_t)(EROFS_INODE_EXTENDED | (in->layout << EROFS_LAYOUT_SHIFT)),
        .i_xattr_icount = (uint16_t)(xs ? (in->xattr_len / 4) + 1 : 0),
        .i_mode = (uint16_t)in->mode,
        .i_size = S_ISCHR(in->mode) || S_ISBLK(in->mode) || S_ISFIFO(in->mode) ? 0 : in->size,
        .i_u = u,
        .i_ino = index + 1,
        .i_uid = in->uid,
        .i_gid = in->gid,
        .i_mtime = (uint64_t)in->mtime,
        .i_mtime_nsec = in->mtime_ns,
        .i_nlink = in->nlink,
    };
    memcpy(rec, &ie, sizeof(ie));
    if (xs > 0)
        memcpy(rec + INODE_SIZE + sizeof(struct erofs_xattr_ibody_header), in->xattrs,
               in->xattr_len);
    uint8_t *after = rec + INODE_SIZE + xs;
    if (in->layout == EROFS_CHUNK_BASED)
        memcpy(after, in->chunks, il);
    else if (S_ISDIR(in->mode))
        return write_dir(w, in, il ? after : NULL, err);
    else if (S_ISLNK(in->mode) && il == 0 &&
             tug_pwrite_all(w->fd, in->data, in->data_len, block_at(in->blkaddr)) < 0)
        return tug_error_set(err, errno, "write the image");
    else if (il > 0)
        memcpy(after, in->data, il);
    return 0;
}

static int write_super(struct writer *w, uint32_t root_nid, uint32_t meta_blkaddr, uint64_t blocks,
                       uint32_t inos, tug_error **err)
{
    struct erofs_sb sb = {
        .magic = EROFS_MAGIC,
        .blkszbits = EROFS_BLKBITS,
        .root_nid = (uint16_t)root_nid,
        .inos = inos,
        .build_time = (uint64_t)w->now,
        .blocks = (uint32_t)blocks,
        .meta_blkaddr = meta_blkaddr,
        .feature_incompat = w->chunked ? EROFS_INCOMPAT_CHUNKED_FILE : 0,
    };
    if (tug_pwrite_all(w->fd, &sb, sizeof(sb), EROFS_SB_OFFSET) < 0)
        return tug_error_set(err, errno, "write the image");
    /* holes at the end (sparse chunks, the last block's rest) read as zeros */
    if (ftruncate(w->fd, (off_t)(blocks * EROFS_BLKSIZE)) < 0)
        return tug_error_set(err, errno, "write the image");
    return 0;
}

static int write_image(struct writer *w, tug_error **err)
{
    if (w->aufs_links) {
        uint32_t plnk = lookup(w, 0, ".wh..wh.plnk", 12);
        if (plnk != NONE)
            w->nodes[plnk].dead = true;
    }
    cleanup_free uint32_t *order = NULL;
    uint32_t n = 0;
    if (collect(w, &order, &n, err) < 0)
        return -1;
    if (plan_meta_data(w, order, n, err) < 0)
        return -1;
    uint64_t meta_blkaddr = w->next_block;
    uint64_t meta_bytes = place_inodes(w, order, n);
    uint64_t blocks = meta_blkaddr + (meta_bytes + EROFS_BLKSIZE - 1) / EROFS_BLKSIZE;
    if (blocks > UINT32_MAX)
        return tug_error_set(err, EFBIG, "the layer's image would pass 16 TiB");
    cleanup_free uint8_t *buf = malloc(META_BUF);
    if (buf == NULL)
        return tug_error_set(err, ENOMEM, "write layer image");
    struct meta_out m = {.fd = w->fd, .base = meta_blkaddr * EROFS_BLKSIZE, .buf = buf};
    for (uint32_t k = 0; k < n; k++)
        if (write_inode(w, &m, order[k], err) < 0)
            return -1;
    if (meta_flush(&m) < 0)
        return tug_error_set(err, errno, "write the image");
    return write_super(w, (uint32_t)w->inodes[0].nid, (uint32_t)meta_blkaddr, blocks, n, err);
}

int tug_layer_to_erofs(int blob_fd, int out_fd, tug_unpack_result *ret, tug_error **err)
{
    __attribute__((cleanup(writer_free))) struct writer w = {
        .fd = out_fd,
        .next_block = 1, /* block 0 holds the superblock */
        .now = (int64_t)time(NULL),
        .block = malloc(EROFS_BLKSIZE),
    };
    if (w.block == NULL || rehash(&w) < 0)
        return tug_error_set(err, ENOMEM, "write layer image");
    uint32_t root = new_inode(&w, S_IFDIR | 0755, 0, 0);
    if (root == NONE || grow((void **)&w.nodes, &w.nodes_cap, 0, sizeof(*w.nodes)) < 0)
        return tug_error_set(err, ENOMEM, "write layer image");
    w.nodes[0] =
        (struct node){.name = NULL, .first_child = NONE, .next_sibling = NONE, .hnext = NONE};
    w.nnodes = 1;
    w.inodes[root].node = 0;

    char diff_id[TUG_DIGEST_LEN + 1];
    if (tug_layer_walk(blob_fd, add_tar_entry, &w, diff_id, err) < 0)
        return -1;
    if (write_image(&w, err) < 0)
        return tug_error_wrap(err, "write layer image");
    memcpy(ret->diff_id, diff_id, sizeof(diff_id));
    ret->size = w.size;
    return 0;
}
