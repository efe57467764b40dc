/* Push: the manifest an image is known by (or one made from its kept blobs), the blobs the
 * registry lacks (mounted from another repository of the registry where the store knows one
 * holds them), then the manifest. */
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../registry/upload.h"
#include "../store/diff.h"
#include "../store/events.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/parallel.h"
#include "../util/strutil.h"
#include "manifest.h"

#define PUSH_PARALLEL 3
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

typedef struct push_job {
    const char *digest;
    long long size;
    const char *id; /* diff ID shown in progress; NULL for the config */
} push_job;

typedef struct push_ctx {
    tug_store *store;
    tug_registry *reg;
    const tug_reference *ref;
    const tug_push_opts *opts;
    push_job *jobs;
    size_t n_jobs;
    pthread_mutex_t lock; /* the database connection and the progress callback */
} push_ctx;

static void report(push_ctx *c, const push_job *j, const char *status, long long done,
                   long long total)
{
    if (c->opts->progress == NULL || j->id == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->opts->progress(c->opts->userdata, j->id, status, done, total);
    pthread_mutex_unlock(&c->lock);
}

typedef struct {
    push_ctx *c;
    const push_job *j;
    long long last_ns;
} up_progress;

static void on_upload(void *ud, long long done, long long total)
{
    up_progress *p = ud;
    long long now = tug_now_ns();
    if (done != total && now - p->last_ns < 100000000LL)
        return;
    p->last_ns = now;
    report(p->c, p->j, "Pushing", done, total);
}

/* Mount j's blob from a repository of this registry the store knows holds it: 1 mounted, 0
 * not (*ret_upload may then be an upload the registry opened). */
static int try_mount(push_ctx *c, const push_job *j, char **ret_upload, tug_error **err)
{
    cleanup_strv char **repos = NULL;
    pthread_mutex_lock(&c->lock);
    int r = tug_store_blob_sources(c->store, j->digest, c->ref->domain, &repos, err);
    pthread_mutex_unlock(&c->lock);
    if (r < 0)
        return -1;
    for (char **p = repos; *p; p++) {
        if (strcmp(*p, c->ref->path) == 0)
            continue;
        free(*ret_upload);
        *ret_upload = NULL;
        /* a mount refused (the repository is gone, or not ours to read) is only a miss */
        cleanup_error tug_error *e = NULL;
        r = tug_registry_mount_blob(c->reg, j->digest, *p, ret_upload, &e);
        if (r == 1) {
            cleanup_free char *status = NULL;
            if (asprintf(&status, "Mounted from %s", *p) < 0)
                return tug_error_set(err, ENOMEM, "push");
            report(c, j, status, 0, 0);
            return 1;
        }
    }
    return 0;
}

static int push_blob(push_ctx *c, const push_job *j, tug_error **err)
{
    int have = tug_registry_has_blob(c->reg, j->digest, err);
    if (have < 0)
        return -1;
    if (have) {
        report(c, j, "Layer already exists", 0, 0);
    } else {
        cleanup_free char *upload = NULL;
        int mounted = try_mount(c, j, &upload, err);
        if (mounted < 0)
            return -1;
        if (!mounted) {
            cleanup_free char *path = tug_store_blob_path(c->store, j->digest);
            cleanup_close int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
            if (fd < 0)
                return tug_error_set(err, errno, "open blob %s", path ? path : j->digest);
            up_progress p = {.c = c, .j = j};
            report(c, j, "Pushing", 0, j->size);
            if (tug_registry_put_blob(c->reg, j->digest, fd, j->size, upload, on_upload, &p, err) <
                0)
                return -1;
            report(c, j, "Pushed", 0, 0);
        }
    }
    pthread_mutex_lock(&c->lock);
    int r = tug_store_note_blob_source(c->store, j->digest, c->ref->domain, c->ref->path, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int push_one_job(void *data, size_t i, tug_error **err)
{
    push_ctx *c = data;
    return push_blob(c, &c->jobs[i], err);
}

static int run_jobs(push_ctx *c, tug_error **err)
{
    for (size_t i = PUSH_PARALLEL; i < c->n_jobs; i++)
        report(c, &c->jobs[i], "Waiting", 0, 0);
    return tug_parallel_for(c->n_jobs, PUSH_PARALLEL, push_one_job, c, err);
}

/* ---- the manifest ---- */

static bool is_type(const char *mt, tug_compression want)
{
    return mt != NULL && tug_layer_compression(mt) == (int)want;
}

/* Layer idx of img gets a blob compressed as want (gzip or zstd) kept in the store: its blob
 * recompressed, or with no blob (gzip only) its unpacked directory written as a tar, as long as
 * what comes out is the layer the config names (its diff ID). */
static int compress_layer(tug_store *s, tug_image *img, size_t idx, tug_compression want,
                          tug_error **err)
{
    tug_image_layer *l = &img->layers[idx];
    cleanup_free char *file = NULL;
    tug_new_layer nl;
    bool have_blob = l->blob_digest != NULL && tug_store_has_blob(s, l->blob_digest);
    if (have_blob) {
        cleanup_free char *path = tug_store_blob_path(s, l->blob_digest);
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return tug_error_set(err, errno, "open %s", path);
        if ((want == TUG_COMPRESS_ZSTD ? tug_layer_rezstd(s, fd, &file, &nl, err)
                                       : tug_layer_regzip(s, fd, -1, &file, &nl, err)) < 0)
            return -1;
    } else if (want == TUG_COMPRESS_ZSTD) {
        return tug_error_user(err, "layer %.19s has no blob to recompress: push it with gzip",
                              l->diff_id);
    } else {
        cleanup_free char *dir = tug_store_layer_dir(s, l->chain_id);
        if (dir == NULL || tug_store_layer_dir_ready(s, dir, err) < 0 ||
            tug_layer_blob(s, dir, NULL, &file, &nl, err) < 0)
            return tug_error_wrap(err, "layer %.19s has no blob", l->diff_id);
    }
    if (strcmp(nl.diff_id, l->diff_id) != 0) {
        unlink(file);
        return tug_error_user(err,
                              "layer %.19s: its content now reads as %.19s; it cannot be pushed "
                              "(pull or build the image again)",
                              l->diff_id, nl.diff_id);
    }
    if (tug_store_has_blob(s, nl.blob_digest))
        unlink(file);
    else if (tug_store_commit_blob_file(s, file, nl.blob_digest, err) < 0)
        return -1;
    if (tug_store_set_layer_blob(s, img->id, idx, nl.blob_digest, nl.media_type, nl.blob_size,
                                 err) < 0)
        return -1;
    free(l->blob_digest);
    free(l->media_type);
    l->blob_digest = strdup(nl.blob_digest);
    l->media_type = strdup(nl.media_type);
    l->blob_size = nl.blob_size;
    return l->blob_digest && l->media_type ? 0 : tug_error_set(err, ENOMEM, "push");
}

static json_t *descriptor(const char *mt, long long size, const char *digest)
{
    json_t *d = json_object();
    json_object_set_new(d, "mediaType", json_string(mt));
    json_object_set_new(d, "size", json_integer(size));
    json_object_set_new(d, "digest", json_string(digest));
    return d;
}

/* A manifest for an image without one (or whose layers are not compressed as want): a docker
 * schema2 manifest of gzip blobs, or with zstd an OCI manifest of zstd blobs; the config stored
 * as a blob; the manifest kept as a blob and recorded as the image's. */
static int make_manifest(tug_store *s, tug_image *img, tug_compression want, char **ret_body,
                         size_t *ret_len, tug_error **err)
{
    bool zstd = want == TUG_COMPRESS_ZSTD;
    const char *mt_manifest = zstd ? TUG_MT_OCI_MANIFEST : TUG_MT_DOCKER_MANIFEST;
    for (size_t i = 0; i < img->n_layers; i++) {
        tug_image_layer *l = &img->layers[i];
        if (!(is_type(l->media_type, want) && l->blob_digest &&
              tug_store_has_blob(s, l->blob_digest)) &&
            compress_layer(s, img, i, want, err) < 0)
            return -1;
    }
    size_t cfg_len = strlen(img->config_raw);
    if (!tug_store_has_blob(s, img->id) &&
        tug_store_put_blob(s, img->id, img->config_raw, cfg_len, err) < 0)
        return -1;
    json_auto_t *m = json_object();
    json_object_set_new(m, "schemaVersion", json_integer(2));
    json_object_set_new(m, "mediaType", json_string(mt_manifest));
    json_object_set_new(m, "config", descriptor(zstd ? MT_OCI_CONFIG : MT_DOCKER_CONFIG,
                                                (long long)cfg_len, img->id));
    json_t *layers = json_array();
    for (size_t i = 0; i < img->n_layers; i++) {
        const tug_image_layer *l = &img->layers[i];
        json_array_append_new(
            layers, descriptor(zstd ? MT_OCI_ZSTD : MT_DOCKER_GZIP, l->blob_size, l->blob_digest));
    }
    json_object_set_new(m, "layers", layers);
    char *body = json_dumps(m, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
    if (body == NULL)
        return tug_error_set(err, ENOMEM, "manifest");
    size_t len = strlen(body);
    char digest[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(body, len, digest);
    if (tug_store_put_blob(s, digest, body, len, err) < 0 ||
        tug_store_set_image_manifest(s, img->id, digest, mt_manifest, err) < 0) {
        free(body);
        return -1;
    }
    *ret_body = body;
    *ret_len = len;
    return 0;
}

/* Whether every layer of m is compressed as want (TUG_COMPRESS_NONE: whatever it is). */
static bool layers_are(const tug_manifest *m, tug_compression want)
{
    for (size_t i = 0; want != TUG_COMPRESS_NONE && i < m->n_layers; i++)
        if (!is_type(m->layers[i].media_type, want))
            return false;
    return true;
}

/* The manifest recorded for img when its blob is kept (and names the image's config, and its
 * layers are compressed as want asks), else a new one. */
static int image_manifest(tug_store *s, tug_image *img, tug_compression want, char **ret_body,
                          size_t *ret_len, char **ret_mt, tug_manifest **ret_m, tug_error **err)
{
    cleanup_free char *body = NULL;
    size_t len = 0;
    const char *mt = img->manifest_media_type;
    if (img->manifest_digest != NULL && tug_store_has_blob(s, img->manifest_digest)) {
        cleanup_free char *path = tug_store_blob_path(s, img->manifest_digest);
        if (tug_read_file(path, &body, &len, err) < 0)
            return -1;
    }
    cleanup_manifest tug_manifest *m = NULL;
    if (body != NULL && tug_manifest_parse(body, len, mt, &m, NULL) == 0 && !m->is_index &&
        strcmp(m->config.digest, img->id) == 0 && layers_are(m, want)) {
        *ret_mt = strdup(m->media_type);
    } else {
        free(body);
        body = NULL;
        tug_manifest_free(m);
        m = NULL;
        if (want == TUG_COMPRESS_NONE)
            want = TUG_COMPRESS_GZIP;
        const char *new_mt =
            want == TUG_COMPRESS_ZSTD ? TUG_MT_OCI_MANIFEST : TUG_MT_DOCKER_MANIFEST;
        if (make_manifest(s, img, want, &body, &len, err) < 0 ||
            tug_manifest_parse(body, len, new_mt, &m, err) < 0)
            return -1;
        *ret_mt = strdup(new_mt);
    }
    if (*ret_mt == NULL)
        return tug_error_set(err, ENOMEM, "manifest");
    *ret_body = steal_pointer(&body);
    *ret_len = len;
    *ret_m = steal_pointer(&m);
    return 0;
}

/* The jobs: layers top first (as docker lists them), then the config. */
static int plan_jobs(push_ctx *c, const tug_image *img, const tug_manifest *m, tug_error **err)
{
    c->n_jobs = m->n_layers + 1;
    c->jobs = calloc(c->n_jobs, sizeof(*c->jobs));
    if (c->jobs == NULL)
        return tug_error_set(err, ENOMEM, "push");
    for (size_t i = 0; i < m->n_layers; i++) {
        const tug_descriptor *d = &m->layers[m->n_layers - 1 - i];
        if (!tug_store_has_blob(c->store, d->digest))
            return tug_error_user(err,
                                  "layer blob %.19s is not in the store (removed?); pull or build "
                                  "the image again",
                                  d->digest);
        c->jobs[i].digest = d->digest;
        c->jobs[i].size = d->size;
        size_t li = m->n_layers - 1 - i;
        c->jobs[i].id = li < img->n_layers ? img->layers[li].diff_id : d->digest;
    }
    c->jobs[m->n_layers].digest = m->config.digest;
    c->jobs[m->n_layers].size = m->config.size;
    if (!tug_store_has_blob(c->store, m->config.digest) &&
        tug_store_put_blob(c->store, img->id, img->config_raw, strlen(img->config_raw), err) < 0)
        return -1;
    return 0;
}

static int record_push(tug_store *s, const tug_image *img, const tug_reference *ref,
                       const char *digest, tug_error **err)
{
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_free char *dref = NULL;
    if (name == NULL || asprintf(&dref, "%s@%s", name, digest) < 0)
        return tug_error_set(err, ENOMEM, "push");
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (tug_store_add_digest_ref(s, dref, img->id, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    return tug_store_commit(s, err);
}

int tug_push(tug_store *s, const tug_reference *ref, const tug_push_opts *opts,
             tug_push_result *ret, tug_error **err)
{
    cleanup_free char *full = tug_reference_string(ref);
    cleanup_free char *name = tug_reference_name(ref);
    if (full == NULL || name == NULL)
        return tug_error_set(err, ENOMEM, "push");
    cleanup_free char *id = tug_store_tag_image(s, full);
    if (id == NULL) {
        cleanup_free char *fam = tug_familiar_name(name);
        return tug_error_user(err, "An image does not exist locally with the tag: %s",
                              fam ? fam : name);
    }
    cleanup_image tug_image *img = NULL;
    if (tug_store_load_image(s, id, &img, err) < 0)
        return -1;
    /* the shared lock: a blob made here is referenced by its layer row before gc may look */
    cleanup_close int lock = tug_store_lock_shared(s, err);
    if (lock < 0)
        return -1;
    cleanup_free char *body = NULL, *mt = NULL;
    size_t len = 0;
    cleanup_manifest tug_manifest *m = NULL;
    if (image_manifest(s, img, opts->compression, &body, &len, &mt, &m, err) < 0)
        return tug_error_wrap(err, "manifest of %s", full);

    push_ctx c = {.store = s, .ref = ref, .opts = opts};
    pthread_mutex_init(&c.lock, NULL);
    int r = -1;
    if (plan_jobs(&c, img, m, err) < 0)
        goto out;
    if (tug_registry_open(ref->domain, ref->path, opts->registry, &c.reg, err) < 0 ||
        tug_registry_allow_push(c.reg, NULL, err) < 0)
        goto out;
    if (opts->on_layers != NULL) {
        const char **ids = calloc(c.n_jobs, sizeof(*ids));
        if (ids == NULL) {
            tug_error_set(err, ENOMEM, "push");
            goto out;
        }
        for (size_t i = 0; i + 1 < c.n_jobs; i++)
            ids[i] = c.jobs[i].id;
        opts->on_layers(opts->userdata, ids, c.n_jobs - 1);
        free(ids);
    }
    /* every blob is in the registry before the manifest that names them */
    if (run_jobs(&c, err) < 0 || tug_registry_put_manifest(c.reg, ref->tag, body, len, mt, err) < 0)
        goto out;
    tug_sha256_buf(body, len, ret->digest);
    ret->size = (long long)len;
    r = record_push(s, img, ref, ret->digest, err);
    if (r == 0)
        tug_event_image(s, "push", full, name);
out:
    free(c.jobs);
    tug_registry_free(c.reg);
    pthread_mutex_destroy(&c.lock);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tug_push_repo_tags(tug_store *s, const char *name, char ***ret_tags, tug_error **err)
{
    tug_image **imgs = NULL;
    size_t n = 0;
    if (tug_store_list_images(s, &imgs, &n, err) < 0)
        return -1;
    cleanup_strv char **tags = calloc(1, sizeof(*tags));
    size_t nt = 0, nl = strlen(name);
    int r = tags ? 0 : tug_error_set(err, ENOMEM, "tags");
    for (size_t i = 0; r == 0 && i < n; i++)
        for (size_t t = 0; r == 0 && t < imgs[i]->n_tags; t++) {
            const char *tag = imgs[i]->tags[t];
            if (strncmp(tag, name, nl) != 0 || tag[nl] != ':' || strchr(tag + nl + 1, '/'))
                continue;
            char **nv = realloc(tags, (nt + 2) * sizeof(*nv));
            if (nv == NULL || (nv[nt] = strdup(tag)) == NULL) {
                if (nv)
                    tags = nv;
                r = tug_error_set(err, ENOMEM, "tags");
                break;
            }
            tags = nv;
            tags[++nt] = NULL;
        }
    tug_images_free(imgs, n);
    if (r < 0)
        return -1;
    if (nt == 0) {
        cleanup_free char *fam = tug_familiar_name(name);
        return tug_error_user(err, "An image does not exist locally with the tag: %s",
                              fam ? fam : name);
    }
    qsort(tags, nt, sizeof(*tags), cmp_str);
    *ret_tags = steal_pointer(&tags);
    return 0;
}
