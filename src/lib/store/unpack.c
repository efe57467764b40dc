/* Layer unpacking. One helper thread reads and inflates the blob (isa-l for gzip, libzstd),
 * another hashes every uncompressed byte, and the calling thread parses the tar with libarchive
 * and creates each entry with *at() calls relative to a parent directory resolved inside the
 * layer root. Creating inodes is what costs: nothing is fsynced but the one syncfs at the end. */
#include "unpack.h"
#include "unpack_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/lazylib.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define CHUNK_SIZE (1u << 20) /* uncompressed bytes handed to libarchive at a time */
#define NCHUNKS 8             /* chunks in flight between the threads */
#define IN_SIZE (256u << 10)  /* compressed bytes read at a time */
#define MAX_SYMLINKS 40
/* The one syncfs at the end waits for every byte: files of some size start their writeback as
 * soon as they are written, so that the disk works while later entries are created. */
#define WRITEBACK_MIN (64 << 10)
#define WRITEBACK_STEP (8 << 20)

static const char corrupt_prefix[] = "layer is truncated or corrupt";

/* ---- The uncompressed stream ------------------------------------------------------------ */

enum codec { CODEC_PLAIN, CODEC_GZIP, CODEC_ZSTD };

struct source {
    int fd;
    enum codec codec;
    uint8_t *in;
    size_t in_pos, in_len;
    bool in_eof;
    bool in_member; /* inside a gzip member or a zstd frame */
    bool done;
    struct inflate_state *gz;
    ZSTD_DStream *zs;
};

static int corrupt(tug_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(tug_error **err, const char *fmt, ...)
{
    cleanup_free char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    return tug_error_user(err, "%s: %s", corrupt_prefix, n >= 0 ? what : "?");
}

/* Move unread input to the front of the buffer and append what the blob has next. */
static int source_read_in(struct source *s, tug_error **err)
{
    if (s->in_pos > 0) {
        memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
        s->in_len -= s->in_pos;
        s->in_pos = 0;
    }
    if (s->in_len == IN_SIZE)
        return corrupt(err, "the decompressor makes no progress");
    for (;;) {
        ssize_t n = read(s->fd, s->in + s->in_len, IN_SIZE - s->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read layer blob");
        if (n == 0)
            s->in_eof = true;
        s->in_len += (size_t)n;
        return 0;
    }
}

static int source_open(struct source *s, int fd, tug_error **err)
{
    s->fd = fd;
    s->in = malloc(IN_SIZE);
    if (s->in == NULL)
        return tug_error_set(err, ENOMEM, "unpack layer");
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (s->in_len < 4 && !s->in_eof)
        if (source_read_in(s, err) < 0)
            return -1;

    static const uint8_t gzip_magic[] = {0x1f, 0x8b}, zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};
    if (s->in_len >= 2 && memcmp(s->in, gzip_magic, 2) == 0) {
        s->codec = CODEC_GZIP;
        s->gz = malloc(sizeof(*s->gz));
        if (s->gz == NULL)
            return tug_error_set(err, ENOMEM, "unpack layer");
        isal_inflate_init(s->gz);
    } else if (s->in_len >= 4 && memcmp(s->in, zstd_magic, 4) == 0) {
        s->codec = CODEC_ZSTD;
        s->zs = ZSTD_createDStream();
        if (s->zs == NULL)
            return tug_error_set(err, ENOMEM, "unpack layer");
        s->in_member = true;
    } else {
        s->codec = CODEC_PLAIN;
    }
    return 0;
}

static void source_close(struct source *s)
{
    free(s->in);
    free(s->gz);
    ZSTD_freeDStream(s->zs);
}

static const char *isal_strerror(int r)
{
    switch (r) {
    case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
        return "invalid back-reference distance";
    case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
        return "checksum mismatch";
    default:
        return "inflate failed";
    }
}

static int fill_plain(struct source *s, uint8_t *out, size_t cap, size_t *got, tug_error **err)
{
    if (s->in_pos < s->in_len) { /* the bytes read to sniff the magic */
        size_t n = s->in_len - s->in_pos < cap ? s->in_len - s->in_pos : cap;
        memcpy(out, s->in + s->in_pos, n);
        s->in_pos += n;
        *got = n;
    }
    while (*got < cap && !s->in_eof) {
        ssize_t n = read(s->fd, out + *got, cap - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read layer blob");
        if (n == 0)
            s->in_eof = true;
        *got += (size_t)n;
    }
    if (*got == 0)
        s->done = true;
    return 0;
}

/* Members follow one another (pigz and some registries write several). Zero bytes after the
 * last one (block padding) are tolerated, anything else is not; the same goes for zstd frames. */
static int fill_gzip(struct source *s, uint8_t *out, size_t cap, size_t *got, tug_error **err)
{
    struct inflate_state *st = s->gz;
    while (*got < cap) {
        if (s->in_pos == s->in_len && !s->in_eof) {
            if (source_read_in(s, err) < 0)
                return -1;
            continue;
        }
        if (!s->in_member) {
            if (s->in_pos == s->in_len) {
                s->done = true;
                break;
            }
            if (s->in[s->in_pos] == 0) {
                s->in_pos++;
                continue;
            }
            isal_inflate_reset(st);
            st->crc_flag = ISAL_GZIP;
            s->in_member = true;
        }
        size_t avail = s->in_len - s->in_pos;
        st->next_in = s->in + s->in_pos;
        st->avail_in = (uint32_t)avail;
        st->next_out = out + *got;
        st->avail_out = (uint32_t)(cap - *got);
        int r = isal_inflate(st);
        size_t used = avail - st->avail_in;
        size_t made = (size_t)(st->next_out - (out + *got));
        s->in_pos += used;
        *got += made;
        if (r < 0)
            return corrupt(err, "gzip: %s", isal_strerror(r));
        if (st->block_state == ISAL_BLOCK_FINISH) {
            s->in_member = false;
            continue;
        }
        if (used == 0 && made == 0) {
            if (s->in_eof)
                return corrupt(err, "the gzip data ends early");
            if (source_read_in(s, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int fill_zstd(struct source *s, uint8_t *out, size_t cap, size_t *got, tug_error **err)
{
    while (*got < cap) {
        if (s->in_pos == s->in_len && !s->in_eof) {
            if (source_read_in(s, err) < 0)
                return -1;
            continue;
        }
        if (!s->in_member && s->in_pos == s->in_len) {
            s->done = true;
            break;
        }
        if (!s->in_member && s->in[s->in_pos] == 0) { /* padding, as libarchive writes it */
            s->in_pos++;
            continue;
        }
        ZSTD_inBuffer ib = {s->in + s->in_pos, s->in_len - s->in_pos, 0};
        ZSTD_outBuffer ob = {out + *got, cap - *got, 0};
        size_t r = ZSTD_decompressStream(s->zs, &ob, &ib);
        if (ZSTD_isError(r))
            return corrupt(err, "zstd: %s", ZSTD_getErrorName(r));
        s->in_pos += ib.pos;
        *got += ob.pos;
        s->in_member = r != 0;
        if (ib.pos == 0 && ob.pos == 0) {
            if (s->in_eof) {
                if (s->in_member)
                    return corrupt(err, "the zstd data ends early");
                s->done = true;
                break;
            }
            if (source_read_in(s, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* Fill out with up to cap uncompressed bytes; *ret_len is 0 only at the end of the stream. */
static int source_fill(struct source *s, uint8_t *out, size_t cap, size_t *ret_len, tug_error **err)
{
    size_t got = 0;
    int r = 0;
    if (!s->done) {
        switch (s->codec) {
        case CODEC_PLAIN:
            r = fill_plain(s, out, cap, &got, err);
            break;
        case CODEC_GZIP:
            r = fill_gzip(s, out, cap, &got, err);
            break;
        case CODEC_ZSTD:
            r = fill_zstd(s, out, cap, &got, err);
            break;
        }
    }
    if (r < 0)
        return r;
    *ret_len = got;
    return 0;
}

int tug_layer_decompress(int blob_fd, tug_tar_sink_fn sink, void *data, tug_error **err)
{
    struct source src = {0};
    cleanup_free uint8_t *buf = malloc(TUG_TAR_CHUNK);
    int r = buf ? source_open(&src, blob_fd, err) : tug_error_set(err, ENOMEM, "decompress");
    for (size_t got = 1; r == 0 && got > 0;) {
        r = source_fill(&src, buf, TUG_TAR_CHUNK, &got, err);
        if (r == 0 && got > 0)
            r = sink(data, buf, got, err);
    }
    source_close(&src);
    return r;
}

/* ---- Inflating, hashing and tar parsing in parallel, sharing chunks without copies ----- */

struct pipeline {
    struct source src;
    tug_sha256 *hash;
    bool have_producer, have_hasher, joined;
    pthread_t producer, hasher;
    pthread_mutex_t mu;
    pthread_cond_t can_fill; /* a chunk was read and hashed, or everyone stops */
    pthread_cond_t can_read; /* a chunk was filled, or the stream ended or failed */
    bool synced;             /* mu and the conditions exist */
    uint8_t *chunk[NCHUNKS];
    size_t len[NCHUNKS];
    unsigned long filled, released, hashed; /* chunks through each stage */
    bool holding;                           /* libarchive still reads chunk[released % NCHUNKS] */
    bool eof, failed, cancel;
    tug_error *err; /* why the stream failed */
};

static unsigned long slowest_reader(struct pipeline *p)
{
    return p->released < p->hashed ? p->released : p->hashed;
}

static void *producer_main(void *arg)
{
    struct pipeline *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->filled - slowest_reader(p) == NCHUNKS && !p->cancel)
            pthread_cond_wait(&p->can_fill, &p->mu);
        bool stop = p->cancel;
        unsigned slot = (unsigned)(p->filled % NCHUNKS);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;

        size_t n = 0;
        tug_error *e = NULL;
        int r = source_fill(&p->src, p->chunk[slot], CHUNK_SIZE, &n, &e);
        if (r == 0 && !p->have_hasher)
            tug_sha256_update(p->hash, p->chunk[slot], n);

        pthread_mutex_lock(&p->mu);
        if (r < 0) {
            p->failed = true;
            p->err = e;
        } else if (n == 0) {
            p->eof = true;
        } else {
            p->len[slot] = n;
            p->filled++;
            if (!p->have_hasher)
                p->hashed++;
        }
        pthread_cond_broadcast(&p->can_read);
        pthread_mutex_unlock(&p->mu);
        if (r < 0 || n == 0)
            return NULL;
    }
}

/* SHA-256 costs half as much as inflating: on its own thread it overlaps with both others. */
static void *hasher_main(void *arg)
{
    struct pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->hashed == p->filled && !p->eof && !p->failed && !p->cancel)
            pthread_cond_wait(&p->can_read, &p->mu);
        if (p->cancel || p->failed || p->hashed == p->filled)
            break;
        unsigned slot = (unsigned)(p->hashed % NCHUNKS);
        pthread_mutex_unlock(&p->mu);
        tug_sha256_update(p->hash, p->chunk[slot], p->len[slot]);
        pthread_mutex_lock(&p->mu);
        p->hashed++;
        pthread_cond_signal(&p->can_fill);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pipeline_join(struct pipeline *p)
{
    if (p->have_producer)
        pthread_join(p->producer, NULL);
    if (p->have_hasher)
        pthread_join(p->hasher, NULL);
    p->joined = true;
}

/* Stop both helpers, whatever they are doing. */
static void pipeline_stop(struct pipeline *p)
{
    if (p->joined || !p->synced)
        return;
    pthread_mutex_lock(&p->mu);
    p->cancel = true;
    pthread_cond_broadcast(&p->can_fill);
    pthread_cond_broadcast(&p->can_read);
    pthread_mutex_unlock(&p->mu);
    pipeline_join(p);
}

static int pipeline_start(struct pipeline *p, int fd, tug_error **err)
{
    if (source_open(&p->src, fd, err) < 0)
        return -1;
    p->hash = tug_sha256_new(err);
    if (p->hash == NULL)
        return -1;
    for (unsigned i = 0; i < NCHUNKS; i++) {
        p->chunk[i] = malloc(CHUNK_SIZE);
        if (p->chunk[i] == NULL)
            return tug_error_set(err, ENOMEM, "unpack layer");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->can_fill, NULL);
    pthread_cond_init(&p->can_read, NULL);
    p->synced = true;
    /* Without threads the same work runs inline, only slower. */
    p->have_hasher = pthread_create(&p->hasher, NULL, hasher_main, p) == 0;
    p->have_producer = pthread_create(&p->producer, NULL, producer_main, p) == 0;
    if (p->have_hasher)
        pthread_setname_np(p->hasher, "tug-hash");
    if (p->have_producer)
        pthread_setname_np(p->producer, "tug-inflate");
    if (!p->have_producer) /* all inline then: the hasher would wait for nothing */
        pipeline_stop(p);
    return 0;
}

/* The next chunk of the stream, valid until the next call; *ret_len 0 at the end.
 * -1 when the stream failed (p->err says why). */
static int pipeline_next(struct pipeline *p, const uint8_t **ret_buf, size_t *ret_len)
{
    if (!p->have_producer) {
        size_t n = 0;
        if (p->failed || source_fill(&p->src, p->chunk[0], CHUNK_SIZE, &n, &p->err) < 0) {
            p->failed = true;
            return -1;
        }
        tug_sha256_update(p->hash, p->chunk[0], n);
        *ret_buf = p->chunk[0];
        *ret_len = n;
        return 0;
    }
    if (p->joined) { /* stopped after a failure */
        *ret_len = 0;
        return p->failed ? -1 : 0;
    }
    int r = 0;
    pthread_mutex_lock(&p->mu);
    if (p->holding) {
        p->released++;
        p->holding = false;
        pthread_cond_signal(&p->can_fill);
    }
    while (p->filled == p->released && !p->eof && !p->failed)
        pthread_cond_wait(&p->can_read, &p->mu);
    if (p->filled != p->released) {
        unsigned slot = (unsigned)(p->released % NCHUNKS);
        *ret_buf = p->chunk[slot];
        *ret_len = p->len[slot];
        p->holding = true;
    } else if (p->failed) {
        r = -1;
    } else {
        *ret_len = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* Read what follows the tar's end marker (the digest covers it, and the gzip checksum sits
 * there), then wait for the helpers to finish: the digest is complete after this. */
static int pipeline_finish(struct pipeline *p)
{
    for (;;) {
        const uint8_t *buf;
        size_t n = 0;
        if (pipeline_next(p, &buf, &n) < 0)
            return -1;
        if (n == 0)
            break;
    }
    if (!p->joined)
        pipeline_join(p);
    return 0;
}

static void pipeline_freep(struct pipeline **pp)
{
    struct pipeline *p = *pp;
    if (p == NULL)
        return;
    pipeline_stop(p);
    if (p->synced) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->can_fill);
        pthread_cond_destroy(&p->can_read);
    }
    for (unsigned i = 0; i < NCHUNKS; i++)
        free(p->chunk[i]);
    source_close(&p->src);
    tug_sha256_free(p->hash);
    tug_error_free(p->err);
    free(p);
}

static la_ssize_t archive_read_cb(struct archive *a, void *data, const void **buf)
{
    struct pipeline *p = data;
    const uint8_t *b = NULL;
    size_t n = 0;
    if (pipeline_next(p, &b, &n) < 0) {
        archive_set_error(a, EIO, "decompression failed");
        return ARCHIVE_FATAL;
    }
    *buf = b;
    return (la_ssize_t)n;
}

/* ---- Paths inside the layer root -------------------------------------------------------- */

static int have_openat2 = -1; /* unknown until the first call; tests force the fallback */

/* The fallback resolver: walk one component at a time with O_NOFOLLOW, expand symlinks
 * ourselves, and clamp ".." at the root, as RESOLVE_IN_ROOT does. Returns a directory fd. */
static int resolve_fallback(int root_fd, const char *path)
{
    int stack_cap = 16, depth = 0, links = 0, result = -1, saved = 0;
    size_t pos = 0;
    int *stack = malloc(sizeof(int) * (size_t)stack_cap);
    char *rest = strdup(path);
    char *target = malloc(PATH_MAX);
    if (stack == NULL || rest == NULL || target == NULL) {
        saved = ENOMEM;
        goto out;
    }
    stack[0] = root_fd;
    for (;;) {
        while (rest[pos] == '/')
            pos++;
        if (rest[pos] == '\0')
            break;
        size_t end = pos;
        while (rest[end] != '\0' && rest[end] != '/')
            end++;
        char saved_ch = rest[end];
        rest[end] = '\0';
        const char *comp = rest + pos;
        size_t next = saved_ch ? end + 1 : end;

        if (strcmp(comp, ".") == 0) {
            pos = next;
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            if (depth > 0)
                close(stack[depth--]);
            pos = next;
            continue;
        }
        int fd = openat(stack[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            saved = errno;
            goto out;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
            saved = errno;
            close(fd);
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlinkat(fd, "", target, PATH_MAX - 1);
            saved = errno;
            close(fd);
            if (n < 0)
                goto out;
            if (++links > MAX_SYMLINKS) {
                saved = ELOOP;
                goto out;
            }
            target[n] = '\0';
            if (target[0] == '/')
                while (depth > 0)
                    close(stack[depth--]);
            char *joined = NULL;
            if (asprintf(&joined, "%s/%s", target, rest + next) < 0) {
                saved = ENOMEM;
                goto out;
            }
            free(rest);
            rest = joined;
            pos = 0;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            saved = ENOTDIR;
            goto out;
        }
        if (depth + 1 == stack_cap) {
            int *ns = realloc(stack, sizeof(int) * (size_t)stack_cap * 2);
            if (ns == NULL) {
                close(fd);
                saved = ENOMEM;
                goto out;
            }
            stack = ns;
            stack_cap *= 2;
        }
        stack[++depth] = fd;
        pos = next;
    }
    result = openat(stack[depth], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    saved = errno;
out:
    while (stack != NULL && depth > 0)
        close(stack[depth--]);
    free(stack);
    free(rest);
    free(target);
    if (result < 0)
        errno = saved;
    return result;
}

/* Open the directory at path (relative, already cleaned) with every symlink on the way
 * resolved as if root_fd were "/". */
static int open_dir_in_root(int root_fd, const char *path)
{
    int have = __atomic_load_n(&have_openat2, __ATOMIC_RELAXED);
    if (have != 0) {
        struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        int fd;
        int tries = 0;
        do /* EAGAIN: a rename raced with a ".." walk; the layer root is ours, so retry */
            fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        while (fd < 0 && errno == EAGAIN && ++tries < 8);
        /* Seccomp profiles that predate openat2 answer EPERM instead of ENOSYS. */
        bool missing = fd < 0 && (errno == ENOSYS || (errno == EPERM && have < 0));
        if (!missing) {
            if (have < 0)
                __atomic_store_n(&have_openat2, 1, __ATOMIC_RELAXED);
            return fd;
        }
        __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    }
    return resolve_fallback(root_fd, path);
}

/* Turn a tar name into a relative path without empty, "." or leading "/" components.
 * Returns -1 when a component is "..". */
static int clean_name(const char *name, char **buf, size_t *cap, size_t *ret_len)
{
    size_t need = strlen(name) + 1;
    if (need > *cap) {
        char *nb = realloc(*buf, need);
        if (nb == NULL)
            return -ENOMEM;
        *buf = nb;
        *cap = need;
    }
    char *out = *buf;
    size_t len = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
        }
        p = end;
    }
    out[len] = '\0';
    *ret_len = len;
    return 0;
}

/* ---- Creating entries ------------------------------------------------------------------- */

struct dir_time {
    char *path;
    struct timespec ts[2];
};

struct extractor {
    int root_fd;
    int parent_fd;     /* cached: entries cluster by directory */
    char *parent_path; /* the path parent_fd was opened for; NULL when nothing is cached */
    size_t parent_len;
    char *name; /* the cleaned name of the current entry */
    size_t name_cap;
    char *link; /* the cleaned hard link target */
    size_t link_cap;
    struct dir_time *dirs;
    size_t ndirs, dirs_cap;
    long long size;
    bool aufs_links; /* the layer has a .wh..wh.plnk directory */
    bool replaced;   /* an entry took the place of an earlier one */
    /* What a new file gets without asking, to skip chown and chmod calls that change nothing. */
    uid_t euid;
    gid_t egid;
    int umask; /* -1 when unknown */
    bool root_setgid, parent_setgid;
    /* ADD's untar: names are taken as they are (no whiteouts), owners may be one for all */
    const char *kind;  /* "layer" or "archive": what messages call the input */
    const char *scope; /* "the layer" or "the destination": what entries must stay in */
    bool literal;
    bool chown;
    uid_t uid;
    gid_t gid;
    bool no_dir_swap; /* tug_untar_opts' */
    bool entry_dir;   /* the current entry is a directory */
};

static void extractor_done(struct extractor *x)
{
    if (x->parent_fd >= 0)
        close(x->parent_fd);
    free(x->parent_path);
    free(x->name);
    free(x->link);
    for (size_t i = 0; i < x->ndirs; i++)
        free(x->dirs[i].path);
    free(x->dirs);
}

/* Names come from the layer: keep control characters out of messages. */
static char *printable(const char *s)
{
    char *c = strdup(s ? s : "(no name)");
    for (char *p = c; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return c;
}

static int entry_error(const struct extractor *x, tug_error **err, int errnum, const char *name,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int entry_error(const struct extractor *x, tug_error **err, int errnum, const char *name,
                       const char *fmt, ...)
{
    cleanup_free char *shown = printable(name);
    cleanup_free char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    const char *w = n >= 0 ? what : "?";
    const char *s = shown ? shown : "?";
    if (errnum > 0)
        return tug_error_set(err, errnum, "%s entry %s: %s", x->kind, s, w);
    return tug_error_user(err, "%s entry %s: %s", x->kind, s, w);
}

static void forget_parent(struct extractor *x)
{
    free(x->parent_path);
    x->parent_path = NULL;
}

static void cache_parent(struct extractor *x, int fd, const char *path, size_t len, bool setgid)
{
    char *copy = strndup(path, len);
    if (copy == NULL) {
        close(fd);
        return;
    }
    if (x->parent_fd >= 0)
        close(x->parent_fd);
    free(x->parent_path);
    x->parent_fd = fd;
    x->parent_path = copy;
    x->parent_len = len;
    x->parent_setgid = setgid;
}

/* Create the missing directories of path one by one, each inside the one before. */
static int create_parents(struct extractor *x, char *path)
{
    int prev = -1;
    for (char *p = path;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int fd = open_dir_in_root(x->root_fd, path);
        if (fd < 0 && errno == ENOENT) {
            const char *comp = strrchr(path, '/');
            comp = comp ? comp + 1 : path;
            int at = prev >= 0 ? prev : x->root_fd;
            bool made = mkdirat(at, comp, 0755) == 0;
            if (made)
                (void)fchmodat(at, comp, 0755, 0); /* whatever the umask */
            if (made || errno == EEXIST)
                fd = open_dir_in_root(x->root_fd, path);
        }
        *p = saved;
        int e = errno;
        if (prev >= 0)
            close(prev);
        if (fd < 0) {
            errno = e;
            return -1;
        }
        prev = fd;
        if (saved == '\0')
            return prev;
    }
}

/* The directory holding an entry, opened inside the root. The fd belongs to the cache. */
static int get_parent(struct extractor *x, const char *dir, size_t len, bool create)
{
    if (len == 0)
        return x->root_fd;
    if (x->parent_path != NULL && x->parent_len == len && memcmp(x->parent_path, dir, len) == 0)
        return x->parent_fd;
    cleanup_free char *path = strndup(dir, len);
    if (path == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open_dir_in_root(x->root_fd, path);
    if (fd < 0 && errno == ENOENT && create)
        fd = create_parents(x, path);
    if (fd < 0)
        return -1;
    struct stat st;
    bool setgid = fstat(fd, &st) < 0 || (st.st_mode & S_ISGID);
    cache_parent(x, fd, dir, len, setgid);
    if (x->parent_path == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return fd;
}

/* Whatever sits at base goes, a directory with its contents: later entries win. */
static int remove_existing(struct extractor *x, int pfd, const char *base, tug_error **err)
{
    struct stat st;
    if (x->no_dir_swap && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode) != x->entry_dir)
        return entry_error(x, err, 0, x->name, "cannot overwrite %s with %s",
                           x->entry_dir ? "non-directory" : "directory",
                           x->entry_dir ? "directory" : "non-directory");
    int r = unlinkat(pfd, base, 0);
    if (r < 0 && errno == ENOENT)
        return 0;
    forget_parent(x); /* the cached directory may be the one removed */
    x->replaced = true;
    if (r == 0)
        return 0;
    if (errno == EISDIR) {
        cleanup_error tug_error *rm_err = NULL;
        if (tug_rm_rf_at(pfd, base, &rm_err) == 0)
            return 0;
        errno = rm_err->errnum;
    }
    return entry_error(x, err, errno, x->name, "remove what is in its place");
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
}

static int entry_owner(const struct extractor *x, struct archive_entry *e, uid_t *uid, gid_t *gid)
{
    if (x->chown) {
        *uid = x->uid;
        *gid = x->gid;
        return 0;
    }
    la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
    if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
        return -1;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

/* overlayfs reads its own xattrs as instructions: only whiteout entries may produce them. */
static bool xattr_allowed(const char *name)
{
    return strncmp(name, "trusted.overlay.", 16) != 0 && strncmp(name, "user.overlay.", 13) != 0;
}

/* Set the entry's xattrs on fd, or on base in pfd when there is no fd to use (symlinks and
 * device nodes: through /proc/self/fd/PFD, which names the directory already resolved). */
static int apply_xattrs(const struct extractor *x, struct archive_entry *e, int fd, int pfd,
                        const char *base, const char *name, tug_error **err)
{
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    const char *key;
    const void *value;
    size_t size;
    char path[64 + NAME_MAX + 1];
    if (fd < 0)
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", pfd, base);
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
        if (!xattr_allowed(key))
            continue;
        int r = fd >= 0 ? fsetxattr(fd, key, value, size, 0) : lsetxattr(path, key, value, size, 0);
        /* Like docker: a file system without xattrs, or a kernel refusing one, is no failure. */
        if (r < 0 && errno != ENOTSUP && errno != EPERM)
            return entry_error(x, err, errno, name, "set xattr %s", key);
    }
    return 0;
}

static int tar_error(struct pipeline *p, struct archive *a, tug_error **err);

static int add_size(struct extractor *x, la_int64_t n, const char *name, tug_error **err)
{
    if (n < 0 || __builtin_add_overflow(x->size, (long long)n, &x->size))
        return entry_error(x, err, 0, name, "size out of range");
    return 0;
}

static int make_file(struct extractor *x, struct pipeline *p, struct archive *a,
                     struct archive_entry *e, int pfd, const char *base, tug_error **err)
{
    const char *name = x->name;
    uid_t uid;
    gid_t gid;
    if (entry_owner(x, e, &uid, &gid) < 0)
        return entry_error(x, err, 0, name, "owner out of range");
    mode_t mode = archive_entry_perm(e) & 07777;
    /* Most files get their mode at creation; setuid bits must wait until after chown. */
    bool exact_mode = x->umask >= 0 && (mode & 07000) == 0 && (mode & (mode_t)x->umask) == 0;
    mode_t create_mode = exact_mode ? mode : 0600;
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    cleanup_close int fd = openat(pfd, base, flags, create_mode);
    if (fd < 0 && errno == EEXIST) {
        if (remove_existing(x, pfd, base, err) < 0)
            return -1;
        fd = openat(pfd, base, flags, create_mode);
    }
    if (fd < 0)
        return entry_error(x, err, errno, name, "create");

    la_int64_t end = 0, flushed = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return tar_error(p, a, err);
        if (len > 0 && tug_pwrite_all(fd, buf, len, off) < 0)
            return entry_error(x, err, errno, name, "write");
        if (off + (la_int64_t)len > end)
            end = off + (la_int64_t)len;
        if (end - flushed >= WRITEBACK_STEP) {
            (void)sync_file_range(fd, flushed, end - flushed, SYNC_FILE_RANGE_WRITE);
            flushed = end;
        }
    }
    la_int64_t size = archive_entry_size(e);
    if (end < size && ftruncate(fd, size) < 0) /* a sparse file ending in a hole */
        return entry_error(x, err, errno, name, "truncate");
    if (size >= WRITEBACK_MIN)
        (void)sync_file_range(fd, flushed, 0, SYNC_FILE_RANGE_WRITE);

    /* chown drops setuid bits and capabilities: mode and xattrs come after it. A new file
     * belongs to us, and to our group unless its directory is setgid. */
    bool setgid_dir = pfd == x->root_fd ? x->root_setgid : x->parent_setgid;
    if ((uid != x->euid || gid != x->egid || setgid_dir) && fchown(fd, uid, gid) < 0)
        return entry_error(x, err, errno, name, "chown");
    if (!exact_mode && fchmod(fd, mode) < 0)
        return entry_error(x, err, errno, name, "chmod");
    if (apply_xattrs(x, e, fd, pfd, base, name, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (futimens(fd, ts) < 0)
        return entry_error(x, err, errno, name, "set times");
    return add_size(x, size, name, err);
}

static int make_dir(struct extractor *x, struct archive_entry *e, int pfd, const char *base,
                    tug_error **err)
{
    const char *name = x->name;
    uid_t uid;
    gid_t gid;
    if (entry_owner(x, e, &uid, &gid) < 0)
        return entry_error(x, err, 0, name, "owner out of range");
    if (mkdirat(pfd, base, 0700) < 0) {
        if (errno != EEXIST)
            return entry_error(x, err, errno, name, "mkdir");
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_error(x, err, errno, name, "stat");
        if (!S_ISDIR(st.st_mode)) {
            if (remove_existing(x, pfd, base, err) < 0)
                return -1;
            if (mkdirat(pfd, base, 0700) < 0)
                return entry_error(x, err, errno, name, "mkdir");
        }
    }
    cleanup_close int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return entry_error(x, err, errno, name, "open");
    if (fchown(fd, uid, gid) < 0)
        return entry_error(x, err, errno, name, "chown");
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return entry_error(x, err, errno, name, "chmod");
    if (apply_xattrs(x, e, fd, pfd, base, name, err) < 0)
        return -1;

    /* Creating its children changes a directory's mtime: set it once they all exist. */
    if (x->ndirs == x->dirs_cap) {
        size_t cap = x->dirs_cap ? x->dirs_cap * 2 : 256;
        struct dir_time *nd = realloc(x->dirs, cap * sizeof(*nd));
        if (nd == NULL)
            return entry_error(x, err, ENOMEM, name, "mkdir");
        x->dirs = nd;
        x->dirs_cap = cap;
    }
    struct dir_time *d = &x->dirs[x->ndirs];
    d->path = strdup(name);
    if (d->path == NULL)
        return entry_error(x, err, ENOMEM, name, "mkdir");
    entry_times(e, d->ts);
    x->ndirs++;

    /* Its children most likely come next: it becomes the cached parent. */
    cache_parent(x, steal_fd(&fd), name, strlen(name), archive_entry_perm(e) & S_ISGID);
    return 0;
}

/* Owner, mode, xattrs and times of a node that has no fd of its own (symlink, device). */
static int finish_node(const struct extractor *x, struct archive_entry *e, int pfd,
                       const char *base, const char *name, bool is_link, tug_error **err)
{
    uid_t uid;
    gid_t gid;
    if (entry_owner(x, e, &uid, &gid) < 0)
        return entry_error(x, err, 0, name, "owner out of range");
    if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_error(x, err, errno, name, "chown");
    /* fchmodat follows symlinks, but base is a device or fifo made a moment ago. */
    if (!is_link && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
        return entry_error(x, err, errno, name, "chmod");
    if (apply_xattrs(x, e, -1, pfd, base, name, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_error(x, err, errno, name, "set times");
    return 0;
}

static int make_symlink(struct extractor *x, struct archive_entry *e, int pfd, const char *base,
                        tug_error **err)
{
    const char *target = archive_entry_symlink(e);
    if (target == NULL)
        return entry_error(x, err, 0, x->name, "symlink without a target");
    if (symlinkat(target, pfd, base) < 0) {
        if (errno != EEXIST)
            return entry_error(x, err, errno, x->name, "symlink");
        if (remove_existing(x, pfd, base, err) < 0)
            return -1;
        if (symlinkat(target, pfd, base) < 0)
            return entry_error(x, err, errno, x->name, "symlink");
    }
    if (finish_node(x, e, pfd, base, x->name, true, err) < 0)
        return -1;
    return add_size(x, (la_int64_t)strlen(target), x->name, err);
}

static int make_node(struct extractor *x, struct archive_entry *e, mode_t type, int pfd,
                     const char *base, tug_error **err)
{
    dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    if (type == S_IFIFO)
        dev = 0;
    if (mknodat(pfd, base, type | 0600, dev) < 0) {
        if (errno != EEXIST)
            return entry_error(x, err, errno, x->name, "mknod");
        if (remove_existing(x, pfd, base, err) < 0)
            return -1;
        if (mknodat(pfd, base, type | 0600, dev) < 0)
            return entry_error(x, err, errno, x->name, "mknod");
    }
    return finish_node(x, e, pfd, base, x->name, false, err);
}

static int make_hardlink(struct extractor *x, const char *target, int pfd, const char *dir,
                         size_t dir_len, const char *base, tug_error **err)
{
    const char *name = x->name;
    size_t len;
    int r = clean_name(target, &x->link, &x->link_cap, &len);
    if (r == -ENOMEM)
        return entry_error(x, err, ENOMEM, name, "hard link");
    if (r < 0 || len == 0) {
        cleanup_free char *shown = printable(target);
        return entry_error(x, err, 0, name, "hard link target %s escapes %s", shown ? shown : "?",
                           x->scope);
    }
    if (strcmp(x->link, name) == 0)
        return 0;
    cleanup_free char *shown = printable(x->link);
    const char *to = shown ? shown : "?";
    const char *slash = strrchr(x->link, '/');
    const char *tbase = slash ? slash + 1 : x->link;
    size_t tdir_len = slash ? (size_t)(slash - x->link) : 0;

    cleanup_close int own_fd = -1;
    int tpfd;
    if (tdir_len == dir_len && memcmp(x->link, dir, dir_len) == 0) {
        tpfd = pfd;
    } else if (tdir_len == 0) {
        tpfd = x->root_fd;
    } else {
        x->link[tdir_len] = '\0';
        own_fd = open_dir_in_root(x->root_fd, x->link);
        x->link[tdir_len] = '/';
        if (own_fd < 0)
            return entry_error(x, err, errno, name, "hard link to %s", to);
        tpfd = own_fd;
    }
    if (linkat(tpfd, tbase, pfd, base, 0) < 0) {
        if (errno != EEXIST)
            return entry_error(x, err, errno, name, "hard link to %s", to);
        if (remove_existing(x, pfd, base, err) < 0)
            return -1;
        if (linkat(tpfd, tbase, pfd, base, 0) < 0)
            return entry_error(x, err, errno, name, "hard link to %s", to);
    }
    return 0;
}

/* ".wh.NAME" hides NAME of the layers below: overlayfs reads a 0:0 char device as that. */
static int make_whiteout(struct extractor *x, struct archive_entry *e, int pfd, const char *hidden,
                         tug_error **err)
{
    if (hidden[0] == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
        return entry_error(x, err, 0, x->name, "invalid whiteout");
    if (remove_existing(x, pfd, hidden, err) < 0)
        return -1;
    if (mknodat(pfd, hidden, S_IFCHR, makedev(0, 0)) < 0)
        return entry_error(x, err, errno, x->name, "create whiteout");
    uid_t uid;
    gid_t gid;
    if (entry_owner(x, e, &uid, &gid) < 0)
        return entry_error(x, err, 0, x->name, "owner out of range");
    if ((uid != 0 || gid != 0) && fchownat(pfd, hidden, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_error(x, err, errno, x->name, "chown");
    return 0;
}

static int extract_entry(struct extractor *x, struct pipeline *p, struct archive *a,
                         struct archive_entry *e, tug_error **err)
{
    const char *raw = archive_entry_pathname(e);
    if (raw == NULL)
        return tug_error_user(err, "%s: an entry has no name", corrupt_prefix);
    size_t len;
    int r = clean_name(raw, &x->name, &x->name_cap, &len);
    if (r == -ENOMEM)
        return tug_error_set(err, ENOMEM, "unpack layer");
    if (r < 0) {
        cleanup_free char *shown = printable(raw);
        return tug_error_user(err, "%s entry %s escapes %s", x->kind, shown ? shown : "?",
                              x->scope);
    }
    if (len == 0) /* the layer root itself; its metadata is the store's */
        return 0;

    const char *name = x->name;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    size_t dir_len = slash ? (size_t)(slash - name) : 0;

    /* docker's ADD untars with no whiteout format: .wh. names are files like any other */
    enum tug_whiteout wh = x->literal ? TUG_WH_NONE : tug_layer_whiteout(name, base);
    if (wh == TUG_WH_SKIP)
        return 0;
    x->aufs_links |= wh == TUG_WH_AUFS_LINK;

    int pfd = get_parent(x, name, dir_len, true);
    if (pfd < 0)
        return entry_error(x, err, errno, name, "open parent directory");

    if (wh == TUG_WH_OPAQUE) {
        if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return entry_error(x, err, errno, name, "mark directory opaque");
        return 0;
    }
    if (wh == TUG_WH_HIDE)
        return make_whiteout(x, e, pfd, base + 4, err);

    const char *hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    x->entry_dir = hardlink == NULL && type == AE_IFDIR;
    if (hardlink != NULL)
        return make_hardlink(x, hardlink, pfd, name, dir_len, base, err);

    switch (type) {
    case AE_IFREG:
        return make_file(x, p, a, e, pfd, base, err);
    case AE_IFDIR:
        return make_dir(x, e, pfd, base, err);
    case AE_IFLNK:
        return make_symlink(x, e, pfd, base, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return make_node(x, e, type, pfd, base, err);
    default: /* sockets and unknown types carry nothing to recreate */
        return 0;
    }
}

/* Directory times, now that nothing more is created inside them. */
static int fix_dir_times(struct extractor *x, tug_error **err)
{
    for (size_t i = 0; i < x->ndirs; i++) {
        const char *path = x->dirs[i].path;
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        size_t dir_len = slash ? (size_t)(slash - path) : 0;
        int pfd = get_parent(x, path, dir_len, false);
        if (pfd < 0 && (errno == ENOENT || errno == ENOTDIR)) /* replaced by a later entry */
            continue;
        if (pfd < 0)
            return entry_error(x, err, errno, path, "open parent directory");
        struct stat st;
        if (x->replaced &&
            (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
            continue;
        if (utimensat(pfd, base, x->dirs[i].ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
            return entry_error(x, err, errno, path, "set times");
    }
    return 0;
}

/* A failure of the stream explains a tar error better than libarchive's view of it. */
static int tar_error(struct pipeline *p, struct archive *a, tug_error **err)
{
    if (p != NULL)
        pipeline_stop(p);
    if (p != NULL && p->failed && p->err != NULL) {
        tug_error_free(*err);
        *err = steal_pointer(&p->err);
        return (*err)->errnum > 0 ? -(*err)->errnum : -1;
    }
    const char *why = archive_error_string(a);
    return corrupt(err, "%s", why ? why : "invalid tar data");
}

/* umask() can only be read by setting it, which races with other threads: ask /proc. */
static int read_umask(void)
{
    cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned mask;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Umask: %o", &mask) == 1)
            return (int)(mask & 0777);
    return -1;
}

/* Every entry of the archive, then the directories' times. */
static int extract_all(struct extractor *x, struct pipeline *p, struct archive *a, tug_error **err)
{
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return tar_error(p, a, err);
        if (extract_entry(x, p, a, e, err) < 0)
            return -1;
    }
}

/* An extractor creating entries under root_fd, with what a new file gets without asking. */
static struct extractor extractor_at(int root_fd)
{
    struct extractor x = {
        .root_fd = root_fd,
        .parent_fd = -1,
        .euid = geteuid(),
        .egid = getegid(),
        .umask = read_umask(),
    };
    struct stat st;
    x.root_setgid = fstat(root_fd, &st) < 0 || (st.st_mode & S_ISGID);
    return x;
}

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

int tug_layer_walk(int blob_fd, tug_layer_entry_fn fn, void *data,
                   char ret_diff_id[TUG_DIGEST_LEN + 1], tug_error **err)
{
    if (tug_lazylib_load(&tug_libarchive, err) < 0)
        return -1;
    __attribute__((cleanup(pipeline_freep))) struct pipeline *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "unpack layer");
    if (pipeline_start(p, blob_fd, err) < 0)
        return -1;
    __attribute__((cleanup(archive_freep))) struct archive *a = archive_read_new();
    if (a == NULL)
        return tug_error_set(err, ENOMEM, "unpack layer");
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open(a, p, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
        return tar_error(p, a, err);
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return tar_error(p, a, err);
        if (fn(data, p, a, e, err) < 0)
            return -1;
    }
    if (pipeline_finish(p) < 0)
        return tar_error(p, a, err);
    tug_sha256_final(p->hash, ret_diff_id);
    return 0;
}

int tug_layer_tar_error(struct pipeline *p, struct archive *a, tug_error **err)
{
    return tar_error(p, a, err);
}

int tug_layer_clean_name(const char *name, char **buf, size_t *cap, size_t *ret_len)
{
    return clean_name(name, buf, cap, ret_len);
}

char *tug_layer_printable(const char *s)
{
    return printable(s);
}

enum tug_whiteout tug_layer_whiteout(const char *name, const char *base)
{
    if (strcmp(base, ".wh..wh..opq") == 0)
        return TUG_WH_OPAQUE;
    if (strncmp(name, ".wh..wh.", 8) == 0) {
        /* aufs bookkeeping at the top. Its .wh..wh.plnk holds the files that hard links
         * elsewhere in the layer point to: read like the rest, dropped at the end. */
        if (strcspn(name, "/") != 12 || strncmp(name, ".wh..wh.plnk", 12) != 0)
            return TUG_WH_SKIP;
        return TUG_WH_AUFS_LINK;
    }
    if (strncmp(base, ".wh..wh.", 8) == 0)
        return TUG_WH_SKIP;
    return strncmp(base, ".wh.", 4) == 0 ? TUG_WH_HIDE : TUG_WH_NONE;
}

static int unpack_entry(void *data, struct pipeline *p, struct archive *a, struct archive_entry *e,
                        tug_error **err)
{
    return extract_entry(data, p, a, e, err);
}

int tug_layer_unpack(int blob_fd, const char *target_dir, tug_unpack_result *ret, tug_error **err)
{
    cleanup_close int root_fd = open(target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return tug_error_set(err, errno, "open %s", target_dir);

    __attribute__((cleanup(extractor_done))) struct extractor x = extractor_at(root_fd);
    x.kind = "layer";
    x.scope = "the layer";
    char diff_id[TUG_DIGEST_LEN + 1];
    if (tug_layer_walk(blob_fd, unpack_entry, &x, diff_id, err) < 0)
        return -1;
    if (x.aufs_links && tug_rm_rf_at(root_fd, ".wh..wh.plnk", err) < 0)
        return tug_error_wrap(err, "unpack layer");
    if (fix_dir_times(&x, err) < 0)
        return -1;
    if (syncfs(root_fd) < 0)
        return tug_error_set(err, errno, "sync %s", target_dir);

    memcpy(ret->diff_id, diff_id, sizeof(diff_id));
    ret->size = x.size;
    return 0;
}

int tug_layer_diff_id(int blob_fd, char ret[TUG_DIGEST_LEN + 1], tug_error **err)
{
    __attribute__((cleanup(pipeline_freep))) struct pipeline *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "read layer");
    if (pipeline_start(p, blob_fd, err) < 0)
        return -1;
    if (pipeline_finish(p) < 0) {
        if (p->err == NULL)
            return corrupt(err, "decompression failed");
        if (err)
            *err = steal_pointer(&p->err);
        return -1;
    }
    tug_sha256_final(p->hash, ret);
    return 0;
}

/* ---- ADD's archives --------------------------------------------------------------------- */

/* A reader of fd from its start with docker's decompressors (told apart by content) and tar. */
static int archive_reader(int fd, struct archive **ret, tug_error **err)
{
    if (tug_lazylib_load(&tug_libarchive, err) < 0)
        return -1;
    if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) /* a pipe or socket is read as it is */
        return tug_error_set(err, errno, "seek the archive");
    struct archive *a = archive_read_new();
    if (a == NULL)
        return tug_error_set(err, ENOMEM, "read the archive");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    *ret = a;
    return 0;
}

int tug_archive_probe(int fd, tug_error **err)
{
    __attribute__((cleanup(archive_freep))) struct archive *a = NULL;
    if (archive_reader(fd, &a, err) < 0)
        return -1;
    struct archive_entry *e;
    /* as docker's isArchivePath: a tar is what yields a first header (an empty one is not) */
    int r = archive_read_open_fd(a, fd, 64 << 10) == ARCHIVE_OK &&
            archive_read_next_header(a, &e) == ARCHIVE_OK;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "seek the archive");
    return r;
}

int tug_archive_unpack_at(int src_fd, int dir_fd, const tug_untar_opts *o, tug_error **err)
{
    __attribute__((cleanup(archive_freep))) struct archive *a = NULL;
    if (archive_reader(src_fd, &a, err) < 0)
        return -1;
    __attribute__((cleanup(extractor_done))) struct extractor x = extractor_at(dir_fd);
    x.kind = "archive";
    x.scope = "the destination";
    x.literal = true;
    x.chown = o->chown;
    x.uid = o->uid;
    x.gid = o->gid;
    x.no_dir_swap = o->no_dir_swap;
    if (archive_read_open_fd(a, src_fd, 64 << 10) != ARCHIVE_OK)
        return tar_error(NULL, a, err);
    if (extract_all(&x, NULL, a, err) < 0)
        return -1;
    return fix_dir_times(&x, err);
}
