/* Pull: resolve a reference to a manifest, fetch config and layers in parallel, unpack each as
 * it arrives, then record the image in one transaction. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../store/events.h"
#include "../store/imgconfig.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/parallel.h"
#include "../util/strutil.h"
#include "image.h"
#include "manifest.h"

#define MAX_INDEX_DEPTH 4
#define DEFAULT_PARALLEL 4

typedef struct layer_job {
    const tug_descriptor *desc;
    const char *diff_id;
    const char *parent_chain; /* the chain ID of the job before; NULL for the first */
    char chain_id[72];
    bool present; /* already unpacked in the store */
    long long size;
} layer_job;

typedef struct pull_ctx {
    tug_store *store;
    tug_registry *reg;
    const tug_pull_opts *opts;
    layer_job *jobs;
    size_t n_jobs;
    pthread_mutex_t lock; /* the database connection and the progress callback */
} pull_ctx;

static void report(pull_ctx *c, const char *digest, const char *status, long long done,
                   long long total)
{
    if (c->opts->progress == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->opts->progress(c->opts->userdata, digest, status, done, total);
    pthread_mutex_unlock(&c->lock);
}

typedef struct {
    pull_ctx *c;
    const char *digest;
    long long last;
    struct timespec last_ts;
} dl_progress;

static void on_download(void *ud, long long done, long long total)
{
    dl_progress *p = ud;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - p->last_ts.tv_sec) * 1000 + (now.tv_nsec - p->last_ts.tv_nsec) / 1000000;
    if (done != total && ms < 100)
        return;
    p->last_ts = now;
    p->last = done;
    report(p->c, p->digest, "Downloading", done, total);
}

/* Make sure blob `d` is in the blob store, downloading (or resuming) it when it is not. A lock
 * file keeps two pulls of the same blob from writing one partial file. */
static int fetch_blob_with(pull_ctx *c, const tug_descriptor *d, bool quiet,
                           tug_progress_fn progress, void *progress_data, tug_error **err)
{
    if (tug_store_has_blob(c->store, d->digest))
        return 0;
    cleanup_free char *partial = tug_store_ingest_path(c->store, d->digest);
    cleanup_free char *lockpath = NULL;
    if (partial == NULL || asprintf(&lockpath, "%s.lock", partial) < 0)
        return tug_error_set(err, ENOMEM, "fetch");
    cleanup_close int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
        return tug_error_set(err, errno, "lock %s", lockpath);
    if (!tug_store_has_blob(c->store, d->digest)) {
        if (tug_registry_get_blob(c->reg, d->digest, d->size, partial, quiet ? NULL : progress,
                                  progress_data, err) < 0) {
            unlink(lockpath);
            return -1;
        }
        if (!quiet)
            report(c, d->digest, "Verifying Checksum", 0, 0);
        if (tug_store_commit_blob_file(c->store, partial, d->digest, err) < 0)
            return -1;
    }
    unlink(lockpath);
    return 0;
}

static int fetch_blob(pull_ctx *c, const tug_descriptor *d, bool quiet, tug_error **err)
{
    dl_progress p = {.c = c, .digest = d->digest};
    return fetch_blob_with(c, d, quiet, on_download, &p, err);
}

/* ---- unpacking while the blob downloads ----
 * The download appends to its partial file; a pump thread follows the file as it grows and
 * feeds a pipe, from which the unpack (an EROFS image, or a directory) reads in a thread of its
 * own. A download that starts the file over (a registry that ignored the Range of a resumed
 * pull) breaks the stream: what was unpacked is dropped and the layer unpacked from the
 * complete blob afterwards, as it is when the blob was stored already. */
typedef struct follow {
    pthread_mutex_t lock;
    pthread_cond_t more;
    const char *path; /* the partial file */
    int pipe_w;
    bool finished, failed, broken;
    /* the unpack's side */
    tug_store *store;
    int pipe_r;
    char *tmp;
    tug_unpack_result res;
    tug_error *err;
} follow;

static void follow_wait(follow *f)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 2 * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&f->more, &f->lock, &t);
}

static void *pump_main(void *data)
{
    follow *f = data;
    /* a write to a pipe the unpack closed (it failed) is EPIPE here, not a signal */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    static __thread char buf[1 << 17];
    int fd = -1;
    off_t off = 0;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool finished = f->finished, failed = f->failed;
        pthread_mutex_unlock(&f->lock);
        if (failed)
            break;
        if (fd < 0 && (fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0) {
            if (errno != ENOENT || finished) {
                f->broken = true; /* stored meanwhile by another pull: unpacked after */
                break;
            }
        }
        ssize_t n = fd < 0 ? 0 : pread(fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            f->broken = true;
            break;
        }
        if (n > 0) {
            if (tug_write_all(f->pipe_w, buf, (size_t)n) < 0) {
                f->broken = true; /* the unpack stopped reading: it has failed */
                break;
            }
            off += n;
            continue;
        }
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size < off) {
            f->broken = true; /* started over */
            break;
        }
        if (finished)
            break; /* all of it read after the download ended */
        pthread_mutex_lock(&f->lock);
        if (!f->finished)
            follow_wait(f);
        pthread_mutex_unlock(&f->lock);
    }
    if (fd >= 0)
        close(fd);
    close(f->pipe_w);
    f->pipe_w = -1;
    return NULL;
}

static void *unpack_main(void *data)
{
    follow *f = data;
    if (tug_store_unpack_layer(f->store, f->pipe_r, &f->tmp, &f->res, &f->err) < 0)
        f->tmp = NULL;
    close(f->pipe_r);
    f->pipe_r = -1;
    return NULL;
}

typedef struct {
    dl_progress dl;
    follow *f;
} stream_progress;

static void on_stream_download(void *ud, long long done, long long total)
{
    stream_progress *sp = ud;
    pthread_mutex_lock(&sp->f->lock);
    pthread_cond_signal(&sp->f->more);
    pthread_mutex_unlock(&sp->f->lock);
    on_download(&sp->dl, done, total);
}

/* Download the layer's blob and unpack it at once; *ret_tmp NULL (and no error) when the
 * stream broke and the blob is to be unpacked from the store. */
static int fetch_unpacking(pull_ctx *c, const tug_descriptor *d, char **ret_tmp,
                           tug_unpack_result *ret, tug_error **err)
{
    *ret_tmp = NULL;
    cleanup_free char *partial = tug_store_ingest_path(c->store, d->digest);
    int p[2];
    if (partial == NULL || pipe2(p, O_CLOEXEC) < 0)
        return tug_error_set(err, errno ? errno : ENOMEM, "fetch");
    follow f = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,
                .path = partial, .pipe_w = p[1], .store = c->store, .pipe_r = p[0]};
    pthread_t pump, unpack;
    if (pthread_create(&unpack, NULL, unpack_main, &f) != 0) {
        close(p[0]);
        close(p[1]);
        return tug_error_set(err, EAGAIN, "start the unpack of layer %.19s", d->digest);
    }
    bool pumping = pthread_create(&pump, NULL, pump_main, &f) == 0;
    if (!pumping) {
        f.broken = true;
        close(p[1]);
    }
    stream_progress sp = {.dl = {.c = c, .digest = d->digest}, .f = &f};
    int r = fetch_blob_with(c, d, false, on_stream_download, &sp, err);
    pthread_mutex_lock(&f.lock);
    f.finished = true;
    f.failed = r < 0;
    pthread_cond_signal(&f.more);
    pthread_mutex_unlock(&f.lock);
    if (pumping)
        pthread_join(pump, NULL);
    pthread_join(unpack, NULL);
    if (r < 0 || f.broken || f.tmp == NULL) {
        if (f.tmp)
            tug_store_drop_tmp(f.tmp);
        free(f.tmp);
        if (r < 0 || f.broken) {
            tug_error_free(f.err);
            return r;
        }
        if (err)
            *err = f.err;
        else
            tug_error_free(f.err);
        return -2; /* the unpack failed on the whole blob */
    }
    *ret_tmp = f.tmp;
    *ret = f.res;
    return 0;
}

static int do_layer(pull_ctx *c, layer_job *j, tug_error **err)
{
    const tug_descriptor *d = j->desc;
    if (tug_layer_compression(d->media_type) < 0)
        return tug_error_user(err, "layer %s has media type %s, which tug cannot unpack",
                              d->digest, d->media_type);
    cleanup_free char *blob = tug_store_blob_path(c->store, d->digest);
    cleanup_free char *tmp = NULL;
    tug_unpack_result res;
    int r = 0;
    if (!tug_store_has_blob(c->store, d->digest)) {
        r = fetch_unpacking(c, d, &tmp, &res, err);
        if (r == -1)
            return tug_error_wrap(err, "layer %.19s", d->digest);
    }
    report(c, d->digest, "Download complete", d->size, d->size);
    report(c, d->digest, "Extracting", 0, d->size);
    if (r == 0 && tmp == NULL) {
        cleanup_close int fd = open(blob, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return tug_error_set(err, errno, "open %s", blob);
        r = tug_store_unpack_layer(c->store, fd, &tmp, &res, err) < 0 ? -2 : 0;
    }
    if (r < 0) {
        /* A blob that does not unpack is no use to keep: the next pull fetches it anew. */
        unlink(blob);
        return tug_error_wrap(err, "unpack layer %.19s", d->digest);
    }
    if (strcmp(res.diff_id, j->diff_id) != 0) {
        tug_store_drop_tmp(tmp);
        unlink(blob);
        return tug_error_user(err,
                              "layer %.19s: its content (%s) does not match the image "
                              "configuration (%s)",
                              d->digest, res.diff_id, j->diff_id);
    }
    tug_layer_add add = {
        .tmp = tmp, .parent_chain = j->parent_chain, .diff_id = res.diff_id, .size = res.size};
    pthread_mutex_lock(&c->lock);
    r = tug_store_add_layer(c->store, &add, NULL, err);
    pthread_mutex_unlock(&c->lock);
    if (r < 0)
        return -1;
    j->size = res.size;
    report(c, d->digest, "Pull complete", 0, 0);
    return 0;
}

static int pull_job(void *data, size_t i, tug_error **err)
{
    pull_ctx *c = data;
    return c->jobs[i].present ? 0 : do_layer(c, &c->jobs[i], err);
}

/* Follow indexes down to one image manifest for the wanted platform. */
static int resolve_manifest(tug_registry *reg, const tug_reference *ref, const tug_platform *plat,
                            char ret_top_digest[72], char **ret_body, size_t *ret_len,
                            char **ret_mt, tug_manifest **ret_m, tug_error **err)
{
    const char *what = ref->digest ? ref->digest : ref->tag;
    cleanup_free char *body = NULL, *mt = NULL;
    size_t len = 0;
    if (tug_registry_get_manifest(reg, what, &body, &len, &mt, err) < 0)
        return -1;
    tug_sha256_buf(body, len, ret_top_digest);
    for (int depth = 0;; depth++) {
        cleanup_manifest tug_manifest *m = NULL;
        if (tug_manifest_parse(body, len, mt, &m, err) < 0)
            return -1;
        if (!m->is_index) {
            *ret_body = steal_pointer(&body);
            *ret_len = len;
            *ret_mt = steal_pointer(&mt);
            *ret_m = steal_pointer(&m);
            return 0;
        }
        if (depth == MAX_INDEX_DEPTH)
            return tug_error_user(err, "image index nests deeper than %d levels", MAX_INDEX_DEPTH);
        const tug_descriptor *d = NULL;
        if (tug_index_select(m, plat, &d, err) < 0)
            return -1;
        cleanup_free char *digest = strdup(d->digest);
        free(body);
        free(mt);
        body = mt = NULL;
        if (tug_registry_get_manifest(reg, digest, &body, &len, &mt, err) < 0)
            return -1;
    }
}

/* The image config, fetched and checked field by field before anything else is: a config that
 * fails is not kept, and no layer of its image is fetched. */
static int load_config(pull_ctx *c, const tug_descriptor *cd, char **ret_raw, json_t **ret_cfg,
                       tug_error **err)
{
    if (cd->size > TUG_CONFIG_MAX_BYTES)
        return tug_error_user(err, "image config %.19s is %lld bytes, more than the %d tug reads",
                              cd->digest, cd->size, TUG_CONFIG_MAX_BYTES);
    if (fetch_blob(c, cd, true, err) < 0)
        return tug_error_wrap(err, "image config %.19s", cd->digest);
    cleanup_free char *path = tug_store_blob_path(c->store, cd->digest);
    cleanup_free char *raw = NULL;
    size_t len = 0;
    if (tug_read_file(path, &raw, &len, err) < 0)
        return -1;
    json_error_t jerr;
    /* NUL is let through the parser so that the check can name the field holding it */
    json_t *cfg = json_loadb(raw, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (cfg == NULL) {
        unlink(path);
        return tug_error_user(err, "image config %.19s is not valid JSON: %s", cd->digest,
                              jerr.text);
    }
    if (tug_image_config_check(cfg, cd->digest, err) < 0) {
        json_decref(cfg);
        unlink(path);
        return -1;
    }
    *ret_raw = steal_pointer(&raw);
    *ret_cfg = cfg;
    return 0;
}

void tug_pull_result_clear(tug_pull_result *r)
{
    free(r->image_id);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

static int record_image(tug_store *s, tug_image *img, const tug_reference *ref,
                        const char *top_digest, bool *ret_tag_same, tug_error **err)
{
    cleanup_free char *name = tug_reference_name(ref);
    cleanup_free char *tag = NULL;
    cleanup_free char *dref = NULL;
    if (ref->tag && asprintf(&tag, "%s:%s", name, ref->tag) < 0)
        return tug_error_set(err, ENOMEM, "pull");
    if (asprintf(&dref, "%s@%s", name, top_digest) < 0)
        return tug_error_set(err, ENOMEM, "pull");
    if (tug_store_begin(s, err) < 0)
        return -1;
    int moved = 0;
    cleanup_free char *before = tag ? tug_store_tag_image(s, tag) : NULL;
    if (tug_store_add_image(s, img, err) < 0 ||
        (tag && (moved = tug_store_set_tag(s, tag, img->id, err)) < 0) ||
        tug_store_add_digest_ref(s, dref, img->id, err) < 0 ||
        tug_store_note_blob_source(s, img->id, ref->domain, ref->path, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    /* where each layer came from: a push to another repository there mounts it */
    for (size_t i = 0; i < img->n_layers; i++)
        if (tug_store_note_blob_source(s, img->layers[i].blob_digest, ref->domain, ref->path,
                                       err) < 0) {
            tug_store_rollback(s);
            return -1;
        }
    *ret_tag_same = before && strcmp(before, img->id) == 0;
    if (tug_store_commit(s, err) < 0)
        return -1;
    tug_event_image(s, "pull", tag ? tag : dref, name);
    return 0;
}

int tug_pull(tug_store *s, const tug_reference *ref, const tug_pull_opts *opts,
             tug_pull_layers_fn on_layers, tug_pull_result *ret, tug_error **err)
{
    memset(ret, 0, sizeof(*ret));
    tug_platform plat = {0};
    if (opts->platform) {
        if (tug_platform_parse(opts->platform, &plat, err) < 0)
            return -1;
    } else
        tug_platform_host(&plat);
    cleanup_close int lock = tug_store_lock_shared(s, err);
    if (lock < 0) {
        tug_platform_clear(&plat);
        return -1;
    }
    tug_store_sweep_dead(s);
    pull_ctx c = {.store = s, .opts = opts};
    pthread_mutex_init(&c.lock, NULL);
    int r = -1;
    tug_manifest *m = NULL;
    char *body = NULL, *mt = NULL, *cfg_raw = NULL;
    json_t *cfg = NULL;
    tug_image *img = NULL;
    size_t len = 0;
    char top[72];
    /* set before they are used; declared here since a goto out may pass over them */
    json_t *diff_ids;
    const char **digests, *parent = NULL;
    size_t nthreads;
    long long created = 0;
    bool same = false, fetched_any = false;

    if (tug_registry_open(ref->domain, ref->path, opts->registry, &c.reg, err) < 0)
        goto out;
    if (resolve_manifest(c.reg, ref, &plat, top, &body, &len, &mt, &m, err) < 0)
        goto out;
    if (load_config(&c, &m->config, &cfg_raw, &cfg, err) < 0)
        goto out;
    diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(diff_ids) || json_array_size(diff_ids) != m->n_layers) {
        tug_error_user(err, "image config %.19s lists %zu layers but the manifest has %zu",
                       m->config.digest, json_array_size(diff_ids), m->n_layers);
        goto out;
    }
    c.n_jobs = m->n_layers;
    c.jobs = calloc(c.n_jobs ? c.n_jobs : 1, sizeof(*c.jobs));
    digests = calloc(c.n_jobs + 1, sizeof(*digests));
    if (c.jobs == NULL || digests == NULL) {
        free(digests);
        tug_error_set(err, ENOMEM, "pull");
        goto out;
    }
    for (size_t i = 0; i < c.n_jobs; i++) {
        layer_job *j = &c.jobs[i];
        j->desc = &m->layers[i];
        j->diff_id = json_string_value(json_array_get(diff_ids, i));
        if (!tug_digest_valid(j->diff_id)) {
            free(digests);
            tug_error_user(err, "image config %.19s has an invalid diff_id", m->config.digest);
            goto out;
        }
        j->parent_chain = parent;
        tug_chain_id(parent, j->diff_id, j->chain_id);
        parent = j->chain_id;
        j->present = tug_store_has_layer(s, j->chain_id);
        digests[i] = j->desc->digest;
    }
    if (on_layers)
        on_layers(opts->userdata, digests, c.n_jobs);
    free(digests);
    for (size_t i = 0; i < c.n_jobs; i++)
        report(&c, c.jobs[i].desc->digest, c.jobs[i].present ? "Already exists" : "Pulling fs layer",
               0, 0);

    nthreads = (size_t)(opts->parallel > 0 ? opts->parallel : DEFAULT_PARALLEL);
    if (tug_parallel_for(c.n_jobs, nthreads, pull_job, &c, err) < 0)
        goto out;

    /* The manifest is a blob too (the config already is): push and save reuse it byte for
     * byte. */
    char mdigest[72];
    tug_sha256_buf(body, len, mdigest);
    if (tug_store_put_blob(s, mdigest, body, len, err) < 0)
        goto out;

    img = calloc(1, sizeof(*img));
    if (img == NULL) {
        tug_error_set(err, ENOMEM, "pull");
        goto out;
    }
    img->id = strdup(m->config.digest);
    img->config = json_incref(cfg);
    img->config_raw = strdup(cfg_raw);
    img->manifest_digest = strdup(mdigest);
    img->manifest_media_type = strdup(m->media_type);
    tug_parse_rfc3339(json_string_value(json_object_get(cfg, "created")), &created, NULL);
    img->created = created;
    img->layers = calloc(c.n_jobs ? c.n_jobs : 1, sizeof(*img->layers));
    img->n_layers = c.n_jobs;
    for (size_t i = 0; i < c.n_jobs; i++) {
        tug_image_layer *l = &img->layers[i];
        l->chain_id = strdup(c.jobs[i].chain_id);
        l->diff_id = strdup(c.jobs[i].diff_id);
        l->blob_digest = strdup(c.jobs[i].desc->digest);
        l->media_type = c.jobs[i].desc->media_type ? strdup(c.jobs[i].desc->media_type) : NULL;
        l->blob_size = c.jobs[i].desc->size;
    }
    img->size = 0;
    for (size_t i = 0; i < c.n_jobs; i++)
        img->size += c.jobs[i].present ? tug_store_layer_size(s, c.jobs[i].chain_id)
                                       : c.jobs[i].size;
    if (record_image(s, img, ref, top, &same, err) < 0)
        goto out;
    for (size_t i = 0; i < c.n_jobs; i++)
        fetched_any |= !c.jobs[i].present;
    ret->image_id = strdup(img->id);
    ret->digest = strdup(top);
    ret->up_to_date = same && !fetched_any;
    r = 0;
out:
    tug_image_free(img);
    json_decref(cfg);
    free(cfg_raw);
    free(body);
    free(mt);
    tug_manifest_free(m);
    free(c.jobs);
    tug_registry_free(c.reg);
    pthread_mutex_destroy(&c.lock);
    tug_platform_clear(&plat);
    return r;
}
