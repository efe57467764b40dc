/* Save: images of the store as a docker-archive tar whose layer files are the OCI layout's
 * blobs (one file each, named by digest, shared layers once), or as an OCI layout directory.
 * Layers go out as the store keeps them (the compressed blob pulled or built): no layer is
 * unpacked, tarred or compressed again unless its blob is gone. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/diff.h"
#include "../store/events.h"
#include "../store/tarwrite.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "archive.h"
#include "reference.h"
#include "../store/layer.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"

/* One blob to write: a file of the store or, for a layer whose blob is gone, one made again. */
typedef struct save_blob {
    char digest[TUG_DIGEST_LEN + 1];
    char *path;
    bool made;   /* path is ours to unlink */
    bool config; /* an image config: written before the layers */
    long long size;
} save_blob;

typedef struct save_image {
    tug_image *img;
    char **tags; /* full names */
    size_t n_tags;
    size_t *layers; /* indexes into the blob list, one per layer */
    size_t config;  /* the config's blob */
    char manifest_digest[TUG_DIGEST_LEN + 1];
    char *manifest; /* OCI image manifest */
} save_image;

typedef struct saver {
    tug_store *s;
    save_image *images;
    size_t n_images;
    save_blob *blobs;
    size_t n_blobs;
} saver;

static void saver_clear(saver *v)
{
    for (size_t i = 0; i < v->n_images; i++) {
        save_image *si = &v->images[i];
        tug_image_free(si->img);
        for (size_t t = 0; t < si->n_tags; t++)
            free(si->tags[t]);
        free(si->tags);
        free(si->layers);
        free(si->manifest);
    }
    free(v->images);
    for (size_t i = 0; i < v->n_blobs; i++) {
        if (v->blobs[i].made)
            unlink(v->blobs[i].path);
        free(v->blobs[i].path);
    }
    free(v->blobs);
}

static int add_blob(saver *v, const char *digest, char *path, bool made, size_t *ret_idx,
                    tug_error **err)
{
    for (size_t i = 0; i < v->n_blobs; i++)
        if (strcmp(v->blobs[i].digest, digest) == 0) {
            if (made)
                unlink(path);
            free(path);
            *ret_idx = i;
            return 0;
        }
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        free(path);
        return tug_error_set(err, e, "blob %s", digest);
    }
    save_blob *nb = realloc(v->blobs, (v->n_blobs + 1) * sizeof(*nb));
    if (nb == NULL) {
        free(path);
        return tug_error_set(err, ENOMEM, "save");
    }
    v->blobs = nb;
    save_blob *b = &nb[v->n_blobs];
    *b = (save_blob){.made = made, .size = st.st_size};
    snprintf(b->digest, sizeof(b->digest), "%s", digest);
    b->path = path;
    *ret_idx = v->n_blobs++;
    return 0;
}

/* The layer's blob: the one the store keeps, else the layer tarred and compressed again from
 * its unpacked files, used when it gives the same diff ID (docker's tar of those files). */
static int layer_blob(saver *v, const tug_image *img, size_t i, size_t *ret_idx, tug_error **err)
{
    const tug_image_layer *l = &img->layers[i];
    if (l->blob_digest && tug_store_has_blob(v->s, l->blob_digest))
        return add_blob(v, l->blob_digest, tug_store_blob_path(v->s, l->blob_digest), false,
                        ret_idx, err);
    cleanup_free char *dir = tug_store_layer_dir(v->s, l->chain_id);
    cleanup_free char *file = NULL;
    tug_new_layer nl;
    if (dir == NULL || tug_store_layer_dir_ready(v->s, dir, err) < 0 ||
        tug_layer_blob(v->s, dir, NULL, &file, &nl, err) < 0)
        return tug_error_wrap(err, "layer %.19s of image %.19s", l->diff_id, img->id);
    if (strcmp(nl.diff_id, l->diff_id) != 0) {
        unlink(file);
        return tug_error_user(err,
                              "layer %.19s of image %.19s: its blob is gone from the store and "
                              "its files do not make the same layer again; pull the image again",
                              l->diff_id, img->id);
    }
    return add_blob(v, nl.blob_digest, steal_pointer(&file), true, ret_idx, err);
}

static const char *layer_media_type(const char *path)
{
    unsigned char m[4] = {0};
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, m, sizeof(m)) : -1;
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return "application/vnd.oci.image.layer.v1.tar+gzip";
    if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    return "application/vnd.oci.image.layer.v1.tar";
}

static json_t *descriptor(const char *mt, const char *digest, long long size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size",
                     (json_int_t)size);
}

/* The OCI manifest of an image: the one it was pulled with when that is OCI and its blobs
 * are the ones written, else one made for the blobs written. */
static int image_manifest(saver *v, save_image *si, tug_error **err)
{
    const tug_image *img = si->img;
    bool same = img->manifest_digest && img->manifest_media_type &&
                strcmp(img->manifest_media_type, MT_OCI_MANIFEST) == 0 &&
                tug_store_has_blob(v->s, img->manifest_digest);
    for (size_t i = 0; same && i < img->n_layers; i++)
        same = img->layers[i].blob_digest &&
               strcmp(v->blobs[si->layers[i]].digest, img->layers[i].blob_digest) == 0;
    if (same) {
        cleanup_free char *path = tug_store_blob_path(v->s, img->manifest_digest);
        size_t len;
        if (path != NULL && tug_read_file(path, &si->manifest, &len, NULL) == 0) {
            snprintf(si->manifest_digest, sizeof(si->manifest_digest), "%s", img->manifest_digest);
            return 0;
        }
    }
    json_t *layers = json_array();
    for (size_t i = 0; i < img->n_layers; i++) {
        const save_blob *b = &v->blobs[si->layers[i]];
        json_array_append_new(layers, descriptor(layer_media_type(b->path), b->digest, b->size));
    }
    const save_blob *cb = &v->blobs[si->config];
    json_t *m = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
                          "config", descriptor(MT_OCI_CONFIG, img->id, cb->size), "layers", layers);
    si->manifest = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (si->manifest == NULL)
        return tug_error_set(err, ENOMEM, "save");
    tug_sha256_buf(si->manifest, strlen(si->manifest), si->manifest_digest);
    return 0;
}

/* A name that is a tag of the store brings that tag; anything else is looked up as docker
 * looks up an image (ID, prefix, digest reference) and brings none. */
static int resolve(saver *v, const char *name, tug_error **err)
{
    cleanup_image tug_image *img = NULL;
    cleanup_free char *tag = NULL;
    cleanup_reference tug_reference *ref = NULL;
    tug_error *perr = NULL;
    if (tug_reference_parse(name, &ref, &perr) == 0 && ref->tag && ref->digest == NULL) {
        tag = tug_reference_string(ref);
        cleanup_free char *id = tug_store_tag_image(v->s, tag);
        if (id == NULL)
            free(steal_pointer(&tag));
    }
    tug_error_free(perr);
    if (tug_store_find_image(v->s, name, &img, err) < 0)
        return -1;
    save_image *si = NULL;
    for (size_t i = 0; i < v->n_images; i++)
        if (strcmp(v->images[i].img->id, img->id) == 0)
            si = &v->images[i];
    if (si == NULL) {
        save_image *ni = realloc(v->images, (v->n_images + 1) * sizeof(*ni));
        if (ni == NULL)
            return tug_error_set(err, ENOMEM, "save");
        v->images = ni;
        si = &ni[v->n_images++];
        *si = (save_image){.img = steal_pointer(&img)};
    }
    if (tag == NULL)
        return 0;
    for (size_t t = 0; t < si->n_tags; t++)
        if (strcmp(si->tags[t], tag) == 0)
            return 0;
    char **nt = realloc(si->tags, (si->n_tags + 1) * sizeof(*nt));
    if (nt == NULL)
        return tug_error_set(err, ENOMEM, "save");
    si->tags = nt;
    nt[si->n_tags++] = steal_pointer(&tag);
    return 0;
}

static int collect(saver *v, tug_error **err)
{
    for (size_t n = 0; n < v->n_images; n++) {
        save_image *si = &v->images[n];
        const tug_image *img = si->img;
        if (img->config_raw == NULL || img->config_error)
            return tug_error_user(err, "image %.19s has no valid config to save", img->id);
        if (!tug_store_has_blob(v->s, img->id) &&
            tug_store_put_blob(v->s, img->id, img->config_raw, strlen(img->config_raw), err) < 0)
            return -1;
        if (add_blob(v, img->id, tug_store_blob_path(v->s, img->id), false, &si->config, err) < 0)
            return -1;
        v->blobs[si->config].config = true;
        si->layers = calloc(img->n_layers + 1, sizeof(*si->layers));
        if (si->layers == NULL)
            return tug_error_set(err, ENOMEM, "save");
        for (size_t i = 0; i < img->n_layers; i++)
            if (layer_blob(v, img, i, &si->layers[i], err) < 0)
                return -1;
        if (image_manifest(v, si, err) < 0)
            return -1;
    }
    return 0;
}

static char *blob_name(const char *digest)
{
    char *p = NULL;
    if (asprintf(&p, "blobs/sha256/%s", tug_digest_hex(digest)) < 0)
        return NULL;
    return p;
}

/* index.json: one entry per tag (docker's annotations), one without for an untagged image. */
static char *index_json(const saver *v)
{
    json_t *list = json_array();
    for (size_t n = 0; n < v->n_images; n++) {
        const save_image *si = &v->images[n];
        size_t len = strlen(si->manifest);
        for (size_t t = 0; t < (si->n_tags ? si->n_tags : 1); t++) {
            json_t *d = descriptor(MT_OCI_MANIFEST, si->manifest_digest, (long long)len);
            if (si->n_tags) {
                const char *colon = strrchr(si->tags[t], ':');
                json_object_set_new(d, "annotations",
                                    json_pack("{s:s, s:s}", "io.containerd.image.name", si->tags[t],
                                              "org.opencontainers.image.ref.name",
                                              colon ? colon + 1 : "latest"));
            }
            json_array_append_new(list, d);
        }
    }
    json_t *doc = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                            "manifests", list);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return s;
}

/* manifest.json and repositories, docker-archive's own files. */
static int docker_files(const saver *v, char **ret_manifest, char **ret_repos)
{
    json_t *list = json_array(), *repos = json_object();
    for (size_t n = 0; n < v->n_images; n++) {
        const save_image *si = &v->images[n];
        json_t *layers = json_array(), *tags = si->n_tags ? json_array() : json_null();
        for (size_t i = 0; i < si->img->n_layers; i++) {
            cleanup_free char *name = blob_name(v->blobs[si->layers[i]].digest);
            json_array_append_new(layers, json_string(name));
        }
        for (size_t t = 0; t < si->n_tags; t++) {
            char *fam = tug_familiar_ref(si->tags[t]);
            if (fam == NULL)
                continue;
            json_array_append_new(tags, json_string(fam));
            char *colon = strrchr(fam, ':');
            *colon = '\0';
            json_t *r = json_object_get(repos, fam);
            if (r == NULL)
                json_object_set_new(repos, fam, r = json_object());
            const char *top = si->img->n_layers ? v->blobs[si->layers[si->img->n_layers - 1]].digest
                                                : si->img->id;
            json_object_set_new(r, colon + 1, json_string(tug_digest_hex(top)));
            free(fam);
        }
        cleanup_free char *cfg = blob_name(si->img->id);
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:o}", "Config", cfg, "RepoTags", tags, "Layers", layers));
    }
    *ret_manifest = json_dumps(list, JSON_COMPACT);
    *ret_repos = json_object_size(repos) ? json_dumps(repos, JSON_COMPACT) : NULL;
    json_decref(list);
    json_decref(repos);
    return *ret_manifest ? 0 : -1;
}

/* Copy size bytes of in to out: in the kernel (copy_file_range to a file, sendfile to a pipe
 * or socket) where it can, through a buffer where it cannot. */
static int copy_fd(int out, int in, long long size, const char *what, tug_error **err)
{
    long long left = size;
    bool cfr = true, sf = true;
    while (left > 0) {
        size_t chunk = left > (1 << 30) ? (size_t)1 << 30 : (size_t)left;
        ssize_t n = -1;
        if (cfr && (n = copy_file_range(in, NULL, out, NULL, chunk, 0)) < 0)
            cfr = false;
        if (!cfr && sf && (n = sendfile(out, in, NULL, chunk)) < 0 && errno != EINTR)
            sf = false;
        if (!cfr && !sf) {
            char buf[1 << 16];
            n = read(in, buf, chunk < sizeof(buf) ? chunk : sizeof(buf));
            if (n > 0 && tug_write_all(out, buf, (size_t)n) < 0)
                return tug_error_set(err, errno, "write %s", what);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "copy %s", what);
        if (n == 0)
            return tug_error_set(err, EIO, "copy %s: the blob is shorter than it was", what);
        left -= n;
    }
    return 0;
}

typedef struct tar_out {
    int fd;
    uint8_t *hdr;
    size_t cap;
} tar_out;

static int tar_header(tar_out *o, const char *name, char type, long long size, tug_error **err)
{
    tug_tar_entry e = {.name = name, .type = type, .mode = type == '5' ? 0755 : 0644, .size = size};
    long n = tug_tar_encode(&e, &o->hdr, &o->cap, err);
    if (n < 0)
        return -1;
    if (tug_write_all(o->fd, o->hdr, (size_t)n) < 0)
        return tug_error_set(err, errno, "write the archive");
    return 0;
}

static int tar_pad(tar_out *o, long long size, tug_error **err)
{
    static const uint8_t zeros[2 * TUG_TAR_BLOCK];
    size_t pad = (size_t)((TUG_TAR_BLOCK - size % TUG_TAR_BLOCK) % TUG_TAR_BLOCK);
    if (pad && tug_write_all(o->fd, zeros, pad) < 0)
        return tug_error_set(err, errno, "write the archive");
    return 0;
}

static int tar_bytes(tar_out *o, const char *name, const char *data, tug_error **err)
{
    size_t len = strlen(data);
    if (tar_header(o, name, '0', (long long)len, err) < 0)
        return -1;
    if (tug_write_all(o->fd, data, len) < 0)
        return tug_error_set(err, errno, "write the archive");
    return tar_pad(o, (long long)len, err);
}

static int tar_blob(tar_out *o, const save_blob *b, tug_error **err)
{
    cleanup_free char *name = blob_name(b->digest);
    cleanup_close int in = open(b->path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return tug_error_set(err, errno, "open %s", b->path);
    if (name == NULL || tar_header(o, name, '0', b->size, err) < 0 ||
        copy_fd(o->fd, in, b->size, b->path, err) < 0)
        return -1;
    return tar_pad(o, b->size, err);
}

/* The metadata first, then the configs, then layers and manifests, each blob once: a reader
 * that streams (tug load) knows every image before its first layer comes. */
static int write_tar(const saver *v, int fd, tug_error **err)
{
    cleanup_free char *index = index_json(v), *manifest = NULL, *repos = NULL;
    if (index == NULL || docker_files(v, &manifest, &repos) < 0)
        return tug_error_set(err, ENOMEM, "save");
    tar_out o = {.fd = fd};
    static const uint8_t end[2 * TUG_TAR_BLOCK];
    int r = -1;
    if (tar_bytes(&o, "oci-layout", OCI_LAYOUT, err) < 0 ||
        tar_bytes(&o, "index.json", index, err) < 0 ||
        tar_bytes(&o, "manifest.json", manifest, err) < 0 ||
        (repos && tar_bytes(&o, "repositories", repos, err) < 0) ||
        tar_header(&o, "blobs/", '5', 0, err) < 0 ||
        tar_header(&o, "blobs/sha256/", '5', 0, err) < 0)
        goto out;
    for (int configs = 1; configs >= 0; configs--)
        for (size_t i = 0; i < v->n_blobs; i++)
            if (v->blobs[i].config == configs && tar_blob(&o, &v->blobs[i], err) < 0)
                goto out;
    for (size_t n = 0; n < v->n_images; n++) {
        const save_image *si = &v->images[n];
        cleanup_free char *name = blob_name(si->manifest_digest);
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strcmp(v->images[k].manifest_digest, si->manifest_digest) == 0;
        if (!dup && (name == NULL || tar_bytes(&o, name, si->manifest, err) < 0))
            goto out;
    }
    if (tug_write_all(fd, end, sizeof(end)) < 0) {
        tug_error_set(err, errno, "write the archive");
        goto out;
    }
    r = 0;
out:
    free(o.hdr);
    return r;
}

/* An OCI image layout directory, made beside dir and renamed into place. */
static int write_dir_at(const saver *v, int dfd, const char *dir, tug_error **err)
{
    cleanup_free char *index = index_json(v);
    if (index == NULL)
        return tug_error_set(err, ENOMEM, "save");
    if (mkdirat(dfd, "blobs", 0755) < 0 || mkdirat(dfd, "blobs/sha256", 0755) < 0)
        return tug_error_set(err, errno, "create %s/blobs/sha256", dir);
    for (size_t i = 0; i < v->n_blobs; i++) {
        const save_blob *b = &v->blobs[i];
        cleanup_free char *name = blob_name(b->digest);
        cleanup_close int in = open(b->path, O_RDONLY | O_CLOEXEC);
        cleanup_close int out =
            name ? openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
        if (in < 0 || out < 0)
            return tug_error_set(err, errno, "copy %s into %s", b->digest, dir);
        if (copy_fd(out, in, b->size, b->path, err) < 0)
            return -1;
    }
    for (size_t n = 0; n < v->n_images; n++) {
        const save_image *si = &v->images[n];
        cleanup_free char *name = blob_name(si->manifest_digest);
        cleanup_close int out =
            name ? openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        if (out < 0 || tug_write_all(out, si->manifest, strlen(si->manifest)) < 0)
            return tug_error_set(err, errno, "write a manifest into %s", dir);
    }
    static const struct {
        const char *name;
        bool index;
    } files[] = {{"oci-layout", false}, {"index.json", true}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(files); i++) {
        const char *data = files[i].index ? index : OCI_LAYOUT;
        cleanup_close int out =
            openat(dfd, files[i].name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0 || tug_write_all(out, data, strlen(data)) < 0)
            return tug_error_set(err, errno, "write %s/%s", dir, files[i].name);
    }
    if (syncfs(dfd) < 0)
        return tug_error_set(err, errno, "sync %s", dir);
    return 0;
}

/* "DIR/.NAME.tug-XXXXXX" beside path. */
static char *temp_beside(const char *path)
{
    cleanup_free char *d = strdup(path), *b = strdup(path);
    char *t = NULL;
    if (d == NULL || b == NULL || asprintf(&t, "%s/.%s.tug-XXXXXX", dirname(d), basename(b)) < 0)
        return NULL;
    return t;
}

/* Where the output cannot be made (no such directory, no permission): the user's to fix. */
static int bad_output(const char *path, tug_error **err)
{
    return tug_error_user(err, "invalid output path %s: %s", path, strerror(errno));
}

static int write_dir(const saver *v, const char *dir, tug_error **err)
{
    struct stat st;
    if (stat(dir, &st) == 0 || errno != ENOENT)
        return tug_error_user(err, "%s exists; name a directory that does not", dir);
    cleanup_free char *tmp = temp_beside(dir);
    if (tmp == NULL)
        return tug_error_set(err, ENOMEM, "save");
    if (mkdtemp(tmp) == NULL)
        return bad_output(dir, err);
    cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* mkdtemp's 0700 is no mode for a directory others read */
    int r = dfd < 0 || fchmod(dfd, 0755) < 0 ? tug_error_set(err, errno, "open %s", tmp)
                                             : write_dir_at(v, dfd, dir, err);
    if (r == 0 && rename(tmp, dir) < 0)
        r = tug_error_set(err, errno, "rename %s to %s", tmp, dir);
    if (r < 0) {
        tug_error *ignored = NULL;
        tug_rm_rf(tmp, &ignored);
        tug_error_free(ignored);
    }
    return r;
}

static int write_file(const saver *v, const char *path, tug_error **err)
{
    cleanup_free char *tmp = temp_beside(path);
    if (tmp == NULL)
        return tug_error_set(err, ENOMEM, "save");
    cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return bad_output(path, err);
    int r = write_tar(v, fd, err);
    if (r == 0 && fchmod(fd, 0644) < 0)
        r = tug_error_set(err, errno, "chmod %s", tmp);
    if (r == 0 && fsync(fd) < 0)
        r = tug_error_set(err, errno, "sync %s", tmp);
    if (r == 0 && rename(tmp, path) < 0)
        r = tug_error_set(err, errno, "rename %s to %s", tmp, path);
    if (r < 0)
        unlink(tmp);
    return r;
}

int tug_save(tug_store *s, const char *const *names, size_t n, const tug_save_opts *opts,
             tug_error **err)
{
    if (n == 0)
        return tug_error_user(err, "save: name at least one image");
    /* blobs stay while they are read, and a layer made again goes into ingest/ */
    cleanup_close int lock = tug_store_lock_shared(s, err);
    if (lock < 0)
        return -1;
    __attribute__((cleanup(saver_clear))) saver v = {.s = s};
    for (size_t i = 0; i < n; i++)
        if (resolve(&v, names[i], err) < 0)
            return -1;
    if (collect(&v, err) < 0)
        return -1;
    int r = opts->format == TUG_SAVE_OCI_DIR ? write_dir(&v, opts->path, err)
            : opts->path                     ? write_file(&v, opts->path, err)
                                             : write_tar(&v, opts->out_fd, err);
    for (size_t i = 0; r == 0 && i < v.n_images; i++)
        tug_event_image(s, "save", v.images[i].img->id, v.images[i].img->id);
    return r;
}
