/* commit: a container's changes become one layer on its image's, through the store's one
 * layer path (tar of the upper dir into a blob, unpacked from it into the store), with the
 * container's config and -c changes applied, as `docker commit` records them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../image/image.h"
#include "../image/reference.h"
#include "../store/diff.h"
#include "../store/imgconfig.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/strutil.h"
#include "commit.h"

/* The new image's container config: the container's, with the changes applied and checked
 * before anything is read or written. */
static json_t *commit_config(const tug_ctr_fs *f, const tug_commit_opts *o, tug_error **err)
{
    json_t *cfg = json_object_get(f->c->config, "Config");
    cfg = json_is_object(cfg) ? json_deep_copy(cfg) : tug_config_new();
    if (cfg == NULL) {
        tug_error_set(err, ENOMEM, "commit");
        return NULL;
    }
    for (const char **c = o->changes; c && *c; c++)
        if (tug_config_apply_change(cfg, *c, err) < 0) {
            json_decref(cfg);
            return NULL;
        }
    if (tug_container_config_check(cfg, "--change", false, err) < 0) {
        json_decref(cfg);
        return NULL;
    }
    return cfg;
}

/* The upper dir less its stubs into a blob, the container frozen meanwhile when it runs (and
 * was not paused already): a process writing as it is read would make a torn layer. */
static int read_changes(tug_store *s, tug_ctr_fs *f, const tug_commit_opts *o, char **ret_blob,
                        tug_new_layer *ret, tug_error **err)
{
    bool frozen = false;
    if (o->pause && strcmp(f->c->state, TUG_STATE_RUNNING) == 0 && tug_container_alive(f->c)) {
        if (tug_container_pause(s, f->c, true, err) < 0)
            return tug_error_wrap(err, "pause %s", f->c->name);
        frozen = true;
    }
    const char *parent = f->n_lower ? f->img->layers[f->n_lower - 1].chain_id : NULL;
    tug_layer_opts lo = {.parent_chain = parent, .gzip_level = -1, .skip = f->stubs};
    int r = tug_layer_blob(s, f->upper, &lo, ret_blob, ret, err);
    if (frozen) {
        tug_error *e = NULL;
        if (tug_container_pause(s, f->c, false, &e) < 0 && r == 0) {
            unlink(*ret_blob);
            free(*ret_blob);
            *ret_blob = NULL;
            tug_error_free(*err);
            *err = e;
            return tug_error_wrap(err, "unpause %s", f->c->name);
        }
        tug_error_free(e);
    }
    return r;
}

/* The blob unpacked into the store as the layer above the image's (blob consumed). */
static int store_layer(tug_store *s, const tug_ctr_fs *f, const char *blob, tug_new_layer *l,
                       tug_error **err)
{
    cleanup_close int bfd = open(blob, O_RDONLY | O_CLOEXEC);
    if (bfd < 0) {
        int e = errno;
        unlink(blob);
        return tug_error_set(err, e, "open %s", blob);
    }
    char *tmp = NULL;
    tug_unpack_result res;
    if (tug_store_unpack_layer(s, bfd, &tmp, &res, err) < 0) {
        unlink(blob);
        return -1;
    }
    if (strcmp(res.diff_id, l->diff_id) != 0) {
        unlink(blob);
        tug_store_drop_tmp(tmp);
        free(tmp);
        return tug_error_set(err, EIO, "the layer unpacked as %s, written as %s", res.diff_id,
                             l->diff_id);
    }
    tug_layer_add add = {.tmp = tmp,
                         .parent_chain =
                             f->n_lower ? f->img->layers[f->n_lower - 1].chain_id : NULL,
                         .diff_id = l->diff_id,
                         .size = res.size,
                         .blob_file = blob,
                         .blob_digest = l->blob_digest};
    int r = tug_store_add_layer(s, &add, l->chain_id, err);
    free(tmp);
    l->size = res.size;
    return r;
}

/* The image config docker writes for a commit: the parent's platform, history and diff IDs
 * with the new ones after them; its keys in the order Go's map marshalling gives. */
static json_t *image_doc(const tug_ctr_fs *f, const tug_commit_opts *o, json_t *cfg,
                         const tug_new_layer *l, const char *created)
{
    json_t *pc = f->img->config;
    json_t *doc = json_object();
    json_t *arch = json_object_get(pc, "architecture");
    json_object_set_new(doc, "architecture", arch ? json_incref(arch) : json_string(""));
    if (o->author && *o->author)
        json_object_set_new(doc, "author", json_string(o->author));
    json_object_set(doc, "config", cfg);
    json_object_set_new(doc, "container", json_string(f->c->id));
    json_t *cc = json_object_get(f->c->config, "Config");
    json_object_set_new(doc, "container_config",
                        json_is_object(cc) ? json_deep_copy(cc) : tug_config_new());
    json_object_set_new(doc, "created", json_string(created));
    json_t *hist = json_deep_copy(json_object_get(pc, "history"));
    if (!json_is_array(hist)) {
        json_decref(hist);
        hist = json_array();
    }
    json_t *h = json_object();
    json_object_set_new(h, "created", json_string(created));
    if (o->author && *o->author)
        json_object_set_new(h, "author", json_string(o->author));
    cleanup_free char *by = tug_json_join_words(json_object_get(cc, "Cmd"));
    if (by && *by)
        json_object_set_new(h, "created_by", json_string(by));
    if (o->message && *o->message)
        json_object_set_new(h, "comment", json_string(o->message));
    if (l->empty)
        json_object_set_new(h, "empty_layer", json_true());
    json_array_append_new(hist, h);
    json_object_set_new(doc, "history", hist);
    json_t *os = json_object_get(pc, "os");
    json_object_set_new(doc, "os", os ? json_incref(os) : json_string("linux"));
    json_t *ids = json_array();
    for (size_t i = 0; i < f->n_lower; i++)
        json_array_append_new(ids, json_string(f->img->layers[i].diff_id));
    if (!l->empty)
        json_array_append_new(ids, json_string(l->diff_id));
    json_object_set_new(doc, "rootfs", json_pack("{s:s,s:o}", "type", "layers", "diff_ids", ids));
    json_t *variant = json_object_get(pc, "variant");
    if (json_is_string(variant))
        json_object_set(doc, "variant", variant);
    return doc;
}

/* The config blob, then the image's row with its layers (the parent's and the new one) and
 * its tag, in one transaction. */
static int store_image(tug_store *s, const tug_ctr_fs *f, json_t *doc, const tug_new_layer *l,
                       const char *tag, long long created, char ret_id[TUG_DIGEST_LEN + 1],
                       tug_error **err)
{
    cleanup_free char *raw = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (raw == NULL)
        return tug_error_set(err, ENOMEM, "commit");
    tug_sha256_buf(raw, strlen(raw), ret_id);
    if (tug_image_config_check(doc, ret_id, err) < 0 ||
        tug_store_put_blob(s, ret_id, raw, strlen(raw), err) < 0)
        return -1;
    size_t n = f->n_lower;
    cleanup_free tug_image_layer *layers = calloc(n + 1, sizeof(*layers));
    if (layers == NULL)
        return tug_error_set(err, ENOMEM, "commit");
    long long size = 0;
    for (size_t i = 0; i < n; i++) {
        layers[i] = f->img->layers[i];
        size += layers[i].size;
    }
    if (!l->empty) {
        layers[n++] = (tug_image_layer){.chain_id = (char *)l->chain_id,
                                        .diff_id = (char *)l->diff_id,
                                        .blob_digest = (char *)l->blob_digest,
                                        .media_type = (char *)l->media_type,
                                        .blob_size = l->blob_size,
                                        .size = l->size};
        size += l->size;
    }
    tug_image img = {.id = ret_id,
                     .config = doc,
                     .config_raw = raw,
                     .created = created,
                     .size = size,
                     .layers = layers,
                     .n_layers = n};
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (tug_store_add_image(s, &img, err) < 0 ||
        (tag && tug_store_set_tag(s, tag, ret_id, err) < 0)) {
        tug_store_rollback(s);
        return -1;
    }
    return tug_store_commit(s, err);
}

int tug_container_commit(tug_store *s, const char *what, const tug_commit_opts *o,
                         char **ret_image_id, tug_error **err)
{
    __attribute__((cleanup(tug_ctr_fs_clear))) tug_ctr_fs f = {0};
    if (tug_ctr_fs_open(s, what, &f, err) < 0)
        return -1;
    json_t *cfg = commit_config(&f, o, err);
    if (cfg == NULL)
        return -1;
    /* garbage collection takes neither the layer nor the blob before the image holds them */
    cleanup_close int lock = tug_store_lock_shared(s, err);
    cleanup_free char *blob = NULL;
    tug_new_layer l;
    int r = lock < 0 ? -1 : read_changes(s, &f, o, &blob, &l, err);
    if (r == 0 && l.empty)
        unlink(blob);
    else if (r == 0)
        r = store_layer(s, &f, blob, &l, err);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cleanup_free char *created = tug_format_rfc3339(now.tv_sec, now.tv_nsec);
    char id[TUG_DIGEST_LEN + 1];
    if (r == 0) {
        json_t *doc = image_doc(&f, o, cfg, &l, created ? created : "1970-01-01T00:00:00Z");
        r = store_image(s, &f, doc, &l, o->tag, now.tv_sec, id, err);
        json_decref(doc);
    }
    json_decref(cfg);
    if (r < 0)
        return tug_error_wrap(err, "commit %s", what);
    cleanup_free char *ref = o->tag ? tug_familiar_name(o->tag) : NULL;
    tug_container_event(s, f.c, "commit", "imageID", id, "imageRef", ref, NULL);
    *ret_image_id = strdup(id);
    return *ret_image_id ? 0 : tug_error_set(err, ENOMEM, "commit");
}
