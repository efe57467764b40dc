/* Load: the archive is read once into a spool directory of the store (each regular entry a
 * file named by its number, hashed on the way: no name from the archive ever reaches the file
 * system), then read as docker-archive (manifest.json) or OCI layout (index.json) by
 * load_docs.c and checked whole; only then are its layers committed and its images recorded.
 * A layer whose image is known before it comes (tug's own archives) is unpacked while it is
 * read. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../store/events.h"
#include "../store/imgconfig.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/lazylib.h"
#include "../util/strutil.h"
#include "archive.h"
#include "load_int.h"
#include "manifest.h"
#include "reference.h"
static void loader_clear(loader *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].file);
        free(l->v[i].link);
    }
    free(l->v);
    for (size_t i = 0; i < l->n_images; i++) {
        load_image *im = &l->images[i];
        free(im->config_raw);
        json_decref(im->config);
        for (size_t k = 0; k < im->n_layers; k++) {
            free(im->layers[k].media_type);
            free(im->layers[k].name);
            if (im->layers[k].tmp)
                tug_store_drop_tmp(im->layers[k].tmp);
            free(im->layers[k].tmp);
        }
        free(im->layers);
        for (size_t k = 0; k < im->n_tags; k++) {
            free(im->tags ? im->tags[k] : NULL);
            free(im->replaced ? im->replaced[k] : NULL);
        }
        free(im->tags);
        free(im->replaced);
        free(im->manifest_mt);
        free(im->rows);
        free(im->chains);
    }
    free(l->images);
    if (l->dir) {
        tug_error *ignored = NULL;
        tug_rm_rf(l->dir, &ignored);
        tug_error_free(ignored);
        free(l->dir);
    }
}

/* ---- Spooling ------------------------------------------------------------------------- */

/* A layer unpacked while it is spooled: the spooler sends each block down a socket too, and a
 * thread unpacks from the other end. */
typedef struct layer_stream {
    tug_store *s;
    int fd[2]; /* [0] the unpacker reads, [1] the spooler writes */
    pthread_t thread;
    bool broken; /* the unpacker stopped reading (it failed): the spool goes on alone */
    int rc;
    char *tmp;
    tug_unpack_result res;
    tug_error *err;
} layer_stream;

static void *stream_main(void *arg)
{
    layer_stream *st = arg;
    st->rc = tug_store_unpack_layer(st->s, st->fd[0], &st->tmp, &st->res, &st->err);
    close(st->fd[0]); /* a send after this fails, and the spooler stops sending */
    return NULL;
}

static int stream_start(layer_stream *st, tug_store *s, tug_error **err)
{
    *st = (layer_stream){.s = s, .fd = {-1, -1}};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->fd) < 0)
        return tug_error_set(err, errno, "socketpair");
    if (pthread_create(&st->thread, NULL, stream_main, st) != 0) {
        close(st->fd[0]);
        close(st->fd[1]);
        return tug_error_set(err, EAGAIN, "start an unpacker thread");
    }
    return 0;
}

static void stream_send(layer_stream *st, const void *buf, size_t len)
{
    const char *p = buf;
    while (st && !st->broken && len > 0) {
        ssize_t n = send(st->fd[1], p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st->broken = true;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* The end of the data: wait for the unpacker; its failure is the load's. */
static int stream_end(layer_stream *st, const char *name, tug_error **err)
{
    close(st->fd[1]);
    pthread_join(st->thread, NULL);
    if (st->rc < 0) {
        if (err) {
            tug_error_free(*err);
            *err = steal_pointer(&st->err);
        }
        tug_error_free(st->err);
        return tug_error_wrap(err, "layer %s", name);
    }
    return 0;
}

static int spool_data(loader *l, struct archive *a, entry *e, layer_stream *st, tug_error **err)
{
    if (asprintf(&e->file, "%s/%zu", l->dir, l->n) < 0)
        return tug_error_set(err, ENOMEM, "load");
    cleanup_close int fd = open(e->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "create %s", e->file);
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(err);
    if (h == NULL)
        return -1;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return tug_error_user(err, "the archive is truncated or corrupt at %s: %s", e->name,
                                  archive_error_string(a) ? archive_error_string(a) : "?");
        /* sparse holes: the data is what the offsets say */
        if (off != e->size) {
            static const char zeros[4096];
            for (long long gap = off - e->size; gap > 0;) {
                size_t n = gap > (long long)sizeof(zeros) ? sizeof(zeros) : (size_t)gap;
                if (tug_write_all(fd, zeros, n) < 0)
                    return tug_error_set(err, errno, "write %s", e->file);
                stream_send(st, zeros, n);
                tug_sha256_update(h, zeros, n);
                gap -= (long long)n;
                e->size += (long long)n;
            }
        }
        if (len && tug_write_all(fd, buf, len) < 0)
            return tug_error_set(err, errno, "write %s", e->file);
        stream_send(st, buf, len);
        tug_sha256_update(h, buf, len);
        e->size += (long long)len;
    }
    tug_sha256_final(h, e->digest);
    /* an OCI blob is the digest its name says, or the archive is refused */
    if (tug_str_has_prefix(e->name, "blobs/sha256/")) {
        const char *hex = e->name + strlen("blobs/sha256/");
        if (strcmp(hex, tug_digest_hex(e->digest)) != 0)
            return tug_error_user(err, "%s holds content of digest %s, not the one its name says",
                                  e->name, e->digest);
    }
    return 0;
}

static int mismatch(const entry *e, const char *got, const char *want, tug_error **err)
{
    return tug_error_user(err,
                          "layer %s: its content (%s) does not match the image "
                          "configuration (%s)",
                          e->name, got, want);
}

/* The layer of a planned image that this entry is, when the store lacks it: the first one, so
 * that each layer is unpacked once. */
static load_layer *stream_target(loader *l, const char *name)
{
    for (size_t i = 0; l->planned && i < l->n_images; i++)
        for (size_t k = 0; k < l->images[i].n_layers; k++) {
            load_layer *ll = &l->images[i].layers[k];
            if (ll->name && strcmp(ll->name, name) == 0 && !ll->stream_tried) {
                ll->stream_tried = true;
                return tug_store_has_layer(l->s, ll->chain) ? NULL : ll;
            }
        }
    return NULL;
}

static int spool_entry(loader *l, struct archive *a, struct archive_entry *ae, tug_error **err)
{
    const char *raw = archive_entry_pathname(ae);
    cleanup_free char *name = ld_clean_name("", raw);
    if (name == NULL)
        return tug_error_user(err, "the archive's entry \"%s\" leaves the archive; refused",
                              raw ? raw : "(null)");
    mode_t type = archive_entry_filetype(ae);
    if (type == AE_IFDIR || *name == '\0')
        return 0;
    const char *hard = archive_entry_hardlink(ae);
    if (type != AE_IFREG && type != AE_IFLNK)
        return tug_error_user(err, "the archive's entry %s is not a file; refused", name);
    if (ld_find_entry(l, name) != NULL)
        return tug_error_user(err, "the archive holds %s twice; refused", name);
    struct statvfs fs;
    la_int64_t need = archive_entry_size(ae);
    if (type == AE_IFREG && statvfs(l->dir, &fs) == 0 &&
        need > (la_int64_t)(fs.f_bavail * fs.f_frsize))
        return tug_error_user(err,
                              "the archive's entry %s is %lld bytes, more than the %llu free "
                              "in %s",
                              name, (long long)need,
                              (unsigned long long)(fs.f_bavail * fs.f_frsize), l->s->root);
    if (l->n == MAX_ENTRIES)
        return tug_error_user(err, "the archive has more than %d entries", MAX_ENTRIES);
    entry *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return tug_error_set(err, ENOMEM, "load");
    l->v = nv;
    entry *e = &nv[l->n];
    *e = (entry){.name = steal_pointer(&name)};
    l->n++;
    if (hard || type == AE_IFLNK) {
        /* docker's older archives link a layer seen before instead of writing it again */
        cleanup_free char *base = strdup(e->name);
        char *slash = base ? strrchr(base, '/') : NULL;
        if (base == NULL)
            return tug_error_set(err, ENOMEM, "load");
        if (slash)
            *slash = '\0';
        else
            *base = '\0';
        e->link = hard ? ld_clean_name("", hard) : ld_clean_name(base, archive_entry_symlink(ae));
        if (e->link == NULL)
            return tug_error_user(err, "the archive's link %s points outside the archive; refused",
                                  e->name);
        return 0;
    }
    if (ld_plan(l, err) < 0)
        return -1;
    load_layer *target = stream_target(l, e->name);
    layer_stream st;
    if (target && stream_start(&st, l->s, err) < 0)
        return -1;
    int r = spool_data(l, a, e, target ? &st : NULL, err);
    if (target) {
        /* the unpacker ends whatever happened: a spool that failed closes its input early */
        tug_error *serr = NULL;
        int sr = stream_end(&st, e->name, r < 0 ? &serr : err);
        tug_error_free(serr);
        target->tmp = st.tmp;
        target->res = st.res;
        if (r == 0 && sr < 0)
            r = -1;
        if (r == 0 && strcmp(st.res.diff_id, target->diff_id) != 0)
            r = mismatch(e, st.res.diff_id, target->diff_id, err);
    }
    if (r == 0 && strcmp(e->name, "manifest.json") == 0)
        l->manifest_json = (size_t)(e - l->v) + 1;
    return r;
}

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

static int open_reader(int fd, struct archive **ret, tug_error **err)
{
    if (tug_lazylib_load(&tug_libarchive, err) < 0)
        return -1;
    struct archive *a = archive_read_new();
    if (a == NULL)
        return tug_error_set(err, ENOMEM, "read the archive");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK) {
        tug_error_user(err, "not an image archive (a tar, plain or compressed): %s",
                       archive_error_string(a) ? archive_error_string(a) : "?");
        archive_read_free(a);
        return -1;
    }
    *ret = a;
    return 0;
}

static int spool(loader *l, int fd, tug_error **err)
{
    if (asprintf(&l->dir, "%s/ingest/load-%d-XXXXXX", l->s->root, (int)getpid()) < 0 ||
        mkdtemp(l->dir) == NULL) {
        int e = errno;
        free(steal_pointer(&l->dir));
        return tug_error_set(err, e ? e : ENOMEM, "create a spool directory");
    }
    __attribute__((cleanup(archive_freep))) struct archive *a = NULL;
    if (open_reader(fd, &a, err) < 0)
        return -1;
    for (size_t seen = 0;; seen++) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            return seen ? 0 : tug_error_user(err, "the archive is empty");
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            const char *why = archive_error_string(a);
            return tug_error_user(err, "%s: %s",
                                  seen ? "the archive is truncated or corrupt"
                                       : "not an image archive (a tar, plain or compressed)",
                                  why ? why : "?");
        }
        if (spool_entry(l, a, ae, err) < 0)
            return -1;
    }
}

/* ---- Into the store ------------------------------------------------------------------- */

static const char *docker_media_type(const entry *e)
{
    unsigned char m[4] = {0};
    cleanup_close int fd = open(e->file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, m, sizeof(m)) : -1;
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return "application/vnd.docker.image.rootfs.diff.tar.gzip";
    if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    return "application/vnd.docker.image.rootfs.diff.tar";
}

/* Unpack a layer the store lacks, check it is the one the config names and commit it with
 * its blob; a layer the store has is taken as it is. */
static int store_layer(loader *l, load_layer *ll, const char *parent,
                       char chain[TUG_DIGEST_LEN + 1], long long *ret_size, tug_error **err)
{
    entry *e = ll->e;
    memcpy(chain, ll->chain, sizeof(ll->chain));
    cleanup_free char *stored = e->stored ? tug_store_blob_path(l->s, e->digest) : NULL;
    cleanup_close int fd = ll->tmp ? -1 : open(stored ? stored : e->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && ll->tmp == NULL)
        return tug_error_set(err, errno, "open %s", e->name);
    if (ll->tmp == NULL && tug_store_has_layer(l->s, chain)) {
        /* the layer is here; its blob is kept too (push and save send it) once it is shown
         * to be this layer */
        char diff_id[TUG_DIGEST_LEN + 1];
        *ret_size = tug_store_layer_size(l->s, chain);
        if (e->stored || tug_store_has_blob(l->s, e->digest))
            return 0;
        if (tug_layer_diff_id(fd, diff_id, err) < 0)
            return tug_error_wrap(err, "layer %s", e->name);
        if (strcmp(diff_id, ll->diff_id) != 0)
            return mismatch(e, diff_id, ll->diff_id, err);
        e->stored = true;
        return tug_store_commit_blob_file(l->s, e->file, e->digest, err);
    }
    cleanup_free char *tmp = steal_pointer(&ll->tmp);
    tug_unpack_result res = ll->res;
    if (tmp == NULL && tug_store_unpack_layer(l->s, fd, &tmp, &res, err) < 0)
        return tug_error_wrap(err, "layer %s", e->name);
    if (strcmp(res.diff_id, ll->diff_id) != 0) {
        tug_store_drop_tmp(tmp);
        return mismatch(e, res.diff_id, ll->diff_id, err);
    }
    tug_layer_add add = {.tmp = tmp,
                         .parent_chain = parent,
                         .diff_id = res.diff_id,
                         .size = res.size,
                         .blob_file = e->stored ? NULL : e->file,
                         .blob_digest = e->digest};
    e->stored = true; /* whatever happens the spooled file is consumed */
    if (tug_store_add_layer(l->s, &add, NULL, err) < 0)
        return -1;
    *ret_size = res.size;
    return 0;
}

/* The layers and blobs of an image into the store, and its row filled for the record. */
static int store_image(loader *l, load_image *im, tug_error **err)
{
    tug_image *img = &im->row;
    *img = (tug_image){.id = im->id, .config = im->config, .config_raw = im->config_raw};
    im->rows = calloc(im->n_layers + 1, sizeof(*im->rows));
    im->chains = calloc(im->n_layers + 1, TUG_DIGEST_LEN + 1);
    if (im->rows == NULL || im->chains == NULL)
        return tug_error_set(err, ENOMEM, "load");
    const char *parent = NULL;
    for (size_t i = 0; i < im->n_layers; i++) {
        load_layer *ll = &im->layers[i];
        char *chain = im->chains + i * (TUG_DIGEST_LEN + 1);
        long long size = 0;
        if (store_layer(l, ll, parent, chain, &size, err) < 0)
            return tug_error_wrap(err, "image %.19s", im->id);
        parent = chain;
        im->rows[i] = (tug_image_layer){
            .chain_id = chain,
            .diff_id = ll->diff_id,
            .blob_digest = ll->e->digest,
            .media_type = ll->media_type ? ll->media_type : (char *)docker_media_type(ll->e),
            .blob_size = ll->e->size,
            .size = size};
        img->size += size;
    }
    if (tug_store_put_blob(l->s, im->id, im->config_raw, strlen(im->config_raw), err) < 0)
        return -1;
    if (im->manifest) {
        cleanup_free char *body = NULL;
        size_t len;
        if (tug_read_file(im->manifest->file, &body, &len, err) < 0 ||
            tug_store_put_blob(l->s, im->manifest->digest, body, len, err) < 0)
            return -1;
        img->manifest_digest = im->manifest->digest;
        img->manifest_media_type = im->manifest_mt;
    }
    tug_parse_rfc3339(json_string_value(json_object_get(im->config, "created")), &img->created,
                      NULL);
    img->layers = im->rows;
    img->n_layers = im->n_layers;
    return 0;
}

/* Every image and tag in one transaction: an archive loads whole or not at all. */
static int record_images(loader *l, tug_error **err)
{
    if (tug_store_begin(l->s, err) < 0)
        return -1;
    for (size_t i = 0; i < l->n_images; i++) {
        load_image *im = &l->images[i];
        if (tug_store_add_image(l->s, &im->row, err) < 0)
            goto fail;
        im->replaced = calloc(im->n_tags + 1, sizeof(*im->replaced));
        if (im->replaced == NULL) {
            tug_error_set(err, ENOMEM, "load");
            goto fail;
        }
        for (size_t t = 0; t < im->n_tags; t++) {
            char *before = tug_store_tag_image(l->s, im->tags[t]);
            if (before && strcmp(before, im->id) != 0)
                im->replaced[t] = before;
            else
                free(before);
            if (tug_store_set_tag(l->s, im->tags[t], im->id, err) < 0)
                goto fail;
        }
    }
    return tug_store_commit(l->s, err);
fail:
    tug_store_rollback(l->s);
    return -1;
}

void tug_load_result_clear(tug_load_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->images[i].id);
        for (size_t t = 0; t < r->images[i].n_tags; t++) {
            free(r->images[i].tags[t]);
            free(r->images[i].replaced ? r->images[i].replaced[t] : NULL);
        }
        free(r->images[i].replaced);
        free(r->images[i].tags);
    }
    free(r->images);
    memset(r, 0, sizeof(*r));
}

int tug_load(tug_store *s, int fd, tug_load_result *ret, tug_error **err)
{
    memset(ret, 0, sizeof(*ret));
    cleanup_close int lock = tug_store_lock_shared(s, err);
    if (lock < 0)
        return -1;
    tug_store_sweep_dead(s);
    __attribute__((cleanup(loader_clear))) loader l = {.s = s};
    if (spool(&l, fd, err) < 0)
        return -1;
    entry *me = ld_find_entry(&l, "manifest.json"), *ie = ld_find_entry(&l, "index.json");
    if (!l.planned && me && me->file && ld_read_docker(&l, me, err) < 0)
        return -1;
    if (ld_resolve_layers(&l, err) < 0)
        return -1;
    if ((me == NULL || me->file == NULL) && ie && ie->file && ld_read_oci(&l, ie, err) < 0)
        return -1;
    if (l.n_images == 0)
        return tug_error_user(err, "not an image archive: it has neither manifest.json nor "
                                   "index.json (a root file system tarball goes to tug import)");
    for (size_t i = 0; i < l.n_images; i++)
        if (store_image(&l, &l.images[i], err) < 0)
            return -1;
    if (record_images(&l, err) < 0)
        return -1;
    ret->images = calloc(l.n_images, sizeof(*ret->images));
    if (ret->images == NULL)
        return tug_error_set(err, ENOMEM, "load");
    for (size_t i = 0; i < l.n_images; i++) {
        load_image *im = &l.images[i];
        tug_loaded_image *out = &ret->images[ret->n++];
        out->id = strdup(im->id);
        tug_event_image(s, "load", im->id, im->id);
        out->tags = steal_pointer(&im->tags);
        out->replaced = steal_pointer(&im->replaced);
        out->n_tags = im->n_tags;
        im->n_tags = 0;
    }
    return 0;
}

int tug_image_archive_probe(int fd, tug_error **err)
{
    __attribute__((cleanup(archive_freep))) struct archive *a = NULL;
    tug_error *ignored = NULL;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "seek the archive");
    if (open_reader(fd, &a, &ignored) < 0) {
        tug_error_free(ignored);
        return lseek(fd, 0, SEEK_SET) < 0 ? tug_error_set(err, errno, "seek the archive") : 0;
    }
    bool manifest = false, layer = false, layout = false, index = false;
    struct archive_entry *ae;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        cleanup_free char *name = ld_clean_name("", archive_entry_pathname(ae));
        if (name == NULL)
            continue;
        /* a directory no image archive has (bin/, etc/): a root file system, read no further */
        if (archive_entry_filetype(ae) == AE_IFDIR && *name && strcmp(name, "blobs") != 0 &&
            strcmp(name, "blobs/sha256") != 0 &&
            !(strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64))
            break;
        manifest |= strcmp(name, "manifest.json") == 0;
        index |= strcmp(name, "index.json") == 0;
        layout |= strcmp(name, "oci-layout") == 0;
        size_t n = strlen(name);
        layer |= tug_str_has_prefix(name, "blobs/sha256/") ||
                 (n > 4 && strcmp(name + n - 4, ".tar") == 0);
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tug_error_set(err, errno, "seek the archive");
    return (manifest && layer) || (layout && index);
}
