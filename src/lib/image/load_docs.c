/* Load, the archive's documents: docker-archive's manifest.json and the OCI layout's
 * index.json, the manifests and configs they name, every name checked to stay inside the
 * archive and every config checked as pull checks it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/imgconfig.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "load_int.h"
#include "manifest.h"
#include "reference.h"

/* A name inside the archive, relative to base (a directory name, "" for the top): "." and
 * empty parts dropped, ".." taken back; NULL when it is absolute or leaves the archive. */
char *ld_clean_name(const char *base, const char *raw)
{
    if (raw == NULL || raw[0] == '/')
        return NULL;
    size_t cap = strlen(base) + strlen(raw) + 2;
    char *out = malloc(cap), *in = NULL;
    if (out == NULL || asprintf(&in, "%s/%s", base, raw) < 0) {
        free(out);
        return NULL;
    }
    size_t len = 0;
    for (char *save = NULL, *p = strtok_r(in, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0)
            continue;
        if (strcmp(p, "..") == 0) {
            if (len == 0) {
                free(in);
                free(out);
                return NULL;
            }
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "/" : "", p);
    }
    out[len] = '\0';
    free(in);
    return out;
}

entry *ld_find_entry(loader *l, const char *name)
{
    for (int hop = 0; hop <= MAX_LINK_HOPS; hop++) {
        entry *found = NULL;
        for (size_t i = 0; i < l->n && found == NULL; i++)
            if (strcmp(l->v[i].name, name) == 0)
                found = &l->v[i];
        if (found == NULL || found->link == NULL)
            return found;
        name = found->link;
    }
    return NULL;
}

/* The entry a document names, or a user error saying which document named what. */
int ld_named_entry(loader *l, const char *doc, const char *name, entry **ret, tug_error **err)
{
    cleanup_free char *clean = ld_clean_name("", name);
    if (clean == NULL || *clean == '\0')
        return tug_error_user(err, "%s names \"%s\", outside the archive", doc,
                              name ? name : "(null)");
    entry *e = ld_find_entry(l, clean);
    if (e == NULL)
        return tug_error_user(err, "%s names %s, which the archive does not hold", doc, clean);
    *ret = e;
    return 0;
}

int ld_read_entry(const entry *e, size_t max, char **ret_data, size_t *ret_len, tug_error **err)
{
    if (e->size > (long long)max)
        return tug_error_user(err, "%s is %lld bytes, more than the %zu tug reads", e->name,
                              e->size, max);
    return tug_read_file(e->file, ret_data, ret_len, err);
}

static json_t *ld_read_json(const entry *e, tug_error **err)
{
    cleanup_free char *data = NULL;
    size_t len;
    if (ld_read_entry(e, MAX_JSON_BYTES, &data, &len, err) < 0)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        tug_error_user(err, "%s is not valid JSON: %s", e->name, jerr.text);
    return doc;
}

static load_image *add_image(loader *l, const char *id, tug_error **err)
{
    for (size_t i = 0; i < l->n_images; i++)
        if (strcmp(l->images[i].id, id) == 0)
            return &l->images[i];
    load_image *ni = realloc(l->images, (l->n_images + 1) * sizeof(*ni));
    if (ni == NULL) {
        tug_error_set(err, ENOMEM, "load");
        return NULL;
    }
    l->images = ni;
    load_image *im = &ni[l->n_images++];
    *im = (load_image){0};
    snprintf(im->id, sizeof(im->id), "%s", id);
    return im;
}

static int add_tag(load_image *im, const char *what, const char *name, tug_error **err)
{
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(name, &ref, err) < 0)
        return tug_error_wrap(err, "%s: tag \"%s\"", what, name);
    if (ref->digest || ref->tag == NULL)
        return tug_error_user(err, "%s: \"%s\" is not a name:tag", what, name);
    cleanup_free char *full = tug_reference_string(ref);
    for (size_t i = 0; i < im->n_tags; i++)
        if (strcmp(im->tags[i], full) == 0)
            return 0;
    char **nt = full ? realloc(im->tags, (im->n_tags + 1) * sizeof(*nt)) : NULL;
    if (nt == NULL)
        return tug_error_set(err, ENOMEM, "load");
    im->tags = nt;
    nt[im->n_tags++] = steal_pointer(&full);
    return 0;
}

/* The config: its digest is the image ID, its fields checked as pull checks them. */
static int read_config(loader *l, const char *doc, const char *name, load_image **ret,
                       tug_error **err)
{
    entry *ce;
    if (ld_named_entry(l, doc, name, &ce, err) < 0)
        return -1;
    load_image *im = add_image(l, ce->digest, err);
    if (im == NULL)
        return -1;
    *ret = im;
    if (im->config)
        return 0; /* named before: one more tag for it */
    size_t len;
    if (ld_read_entry(ce, TUG_CONFIG_MAX_BYTES, &im->config_raw, &len, err) < 0)
        return -1;
    json_error_t jerr;
    im->config = json_loadb(im->config_raw, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (im->config == NULL || strlen(im->config_raw) != len)
        return tug_error_user(err, "image config %s is not valid JSON: %s", ce->name,
                              im->config ? "it holds a NUL byte" : jerr.text);
    if (tug_image_config_check(im->config, im->id, err) < 0)
        return -1;
    json_t *ids = json_object_get(json_object_get(im->config, "rootfs"), "diff_ids");
    if (!json_is_array(ids))
        return tug_error_user(err, "image config %.19s has no rootfs.diff_ids", im->id);
    im->n_layers = json_array_size(ids);
    im->layers = calloc(im->n_layers + 1, sizeof(*im->layers));
    if (im->layers == NULL)
        return tug_error_set(err, ENOMEM, "load");
    for (size_t i = 0; i < im->n_layers; i++) {
        const char *d = json_string_value(json_array_get(ids, i));
        if (!tug_digest_valid(d))
            return tug_error_user(err, "image config %.19s has an invalid diff_id", im->id);
        snprintf(im->layers[i].diff_id, sizeof(im->layers[i].diff_id), "%s", d);
        tug_chain_id(i ? im->layers[i - 1].chain : NULL, d, im->layers[i].chain);
    }
    return 0;
}

/* docker-archive: [{"Config": ..., "RepoTags": [...], "Layers": [...]}] */
int ld_read_docker(loader *l, const entry *me, tug_error **err)
{
    json_t *doc = ld_read_json(me, err);
    if (doc == NULL)
        return -1;
    int r = -1;
    size_t i;
    json_t *m;
    if (!json_is_array(doc) || json_array_size(doc) == 0) {
        tug_error_user(err, "manifest.json lists no image");
        goto out;
    }
    json_array_foreach(doc, i, m)
    {
        load_image *im;
        json_t *layers = json_object_get(m, "Layers"), *tags = json_object_get(m, "RepoTags");
        if (read_config(l, "manifest.json", json_string_value(json_object_get(m, "Config")), &im,
                        err) < 0)
            goto out;
        if (!json_is_array(layers) || json_array_size(layers) != im->n_layers) {
            tug_error_user(err, "manifest.json: image %.19s lists %zu layers, its config %zu",
                           im->id, json_array_size(layers), im->n_layers);
            goto out;
        }
        for (size_t k = 0; k < im->n_layers && im->layers[k].name == NULL; k++) {
            const char *raw = json_string_value(json_array_get(layers, k));
            im->layers[k].name = ld_clean_name("", raw);
            if (im->layers[k].name == NULL || *im->layers[k].name == '\0') {
                tug_error_user(err, "manifest.json names \"%s\", outside the archive",
                               raw ? raw : "(null)");
                goto out;
            }
        }
        size_t t;
        json_t *tag;
        if (!json_is_array(tags) && !json_is_null(tags) && tags != NULL) {
            tug_error_user(err, "manifest.json: RepoTags is not a list");
            goto out;
        }
        json_array_foreach(tags, t, tag)
        {
            const char *name = json_string_value(tag);
            if (add_tag(im, "manifest.json", name ? name : "", err) < 0)
                goto out;
        }
    }
    r = 0;
out:
    json_decref(doc);
    return r;
}

/* The entries manifest.json's layer paths name, once the whole archive is read. */
int ld_resolve_layers(loader *l, tug_error **err)
{
    for (size_t i = 0; i < l->n_images; i++)
        for (size_t k = 0; k < l->images[i].n_layers; k++) {
            load_layer *ll = &l->images[i].layers[k];
            if (ll->e == NULL && ld_named_entry(l, "manifest.json", ll->name, &ll->e, err) < 0)
                return -1;
        }
    return 0;
}

/* Read manifest.json as soon as it and the configs it names are in (tug's own archives put
 * them first): the layers that come after are unpacked as they are read. Tried a few times,
 * while configs are still coming; 0 when it is not (yet) possible. */
#define MAX_PLAN_TRIES 16
int ld_plan(loader *l, tug_error **err)
{
    if (l->planned || l->manifest_json == 0 || l->plan_tries >= MAX_PLAN_TRIES)
        return 0;
    const entry *me = &l->v[l->manifest_json - 1];
    l->plan_tries++;
    cleanup_free char *data = NULL;
    size_t len;
    tug_error *ignored = NULL;
    if (ld_read_entry(me, MAX_JSON_BYTES, &data, &len, &ignored) < 0) {
        tug_error_free(ignored);
        return 0;
    }
    json_t *doc = json_loadb(data, len, 0, NULL), *m;
    size_t i;
    bool ready = json_is_array(doc);
    json_array_foreach(doc, i, m)
    {
        cleanup_free char *c = ld_clean_name("", json_string_value(json_object_get(m, "Config")));
        const entry *ce = c ? ld_find_entry(l, c) : NULL;
        ready = ready && ce && ce->file && tug_digest_valid(ce->digest); /* spooled whole */
    }
    json_decref(doc);
    if (!ready)
        return 0;
    l->planned = true; /* a bad manifest.json fails the load now rather than at the end */
    return ld_read_docker(l, me, err);
}

/* The name an index entry gives its image: docker's and containerd's full name, or OCI's
 * ref.name when it is a whole reference (skopeo writes a bare tag there: no name). */
static const char *oci_name(json_t *desc)
{
    json_t *ann = json_object_get(desc, "annotations");
    const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
    if (full)
        return full;
    const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
    return ref && (strchr(ref, '/') || strchr(ref, ':')) ? ref : NULL;
}

static int oci_blob(loader *l, const tug_descriptor *d, entry **ret, tug_error **err)
{
    if (!tug_digest_valid(d->digest))
        return tug_error_user(err, "index.json names an invalid digest");
    cleanup_free char *name = NULL;
    if (asprintf(&name, "blobs/sha256/%s", tug_digest_hex(d->digest)) < 0)
        return tug_error_set(err, ENOMEM, "load");
    if (ld_named_entry(l, "the OCI layout", name, ret, err) < 0)
        return -1;
    if (d->size != (*ret)->size)
        return tug_error_user(err, "%s is %lld bytes, its descriptor says %lld", name, (*ret)->size,
                              d->size);
    return 0;
}

/* One image of an OCI layout: indexes followed down to this machine's platform. */
static int read_oci_image(loader *l, const tug_descriptor *top, const char *name, tug_error **err)
{
    tug_descriptor d = *top;
    cleanup_manifest tug_manifest *m = NULL;
    entry *me = NULL;
    for (int depth = 0;; depth++) {
        cleanup_free char *body = NULL;
        size_t len;
        if (oci_blob(l, &d, &me, err) < 0 ||
            ld_read_entry(me, MAX_JSON_BYTES, &body, &len, err) < 0)
            return -1;
        tug_manifest_free(steal_pointer(&m));
        if (tug_manifest_parse(body, len, d.media_type, &m, err) < 0)
            return tug_error_wrap(err, "%s", me->name);
        if (!m->is_index)
            break;
        if (depth == MAX_INDEX_DEPTH)
            return tug_error_user(err, "image index nests deeper than %d levels", MAX_INDEX_DEPTH);
        tug_platform plat = {0};
        const tug_descriptor *pick;
        tug_platform_host(&plat);
        int r = tug_index_select(m, &plat, &pick, err);
        tug_platform_clear(&plat);
        if (r < 0)
            return -1;
        d = *pick;
    }
    entry *ce;
    load_image *im;
    if (oci_blob(l, &m->config, &ce, err) < 0)
        return -1;
    cleanup_free char *cname = strdup(ce->name);
    if (cname == NULL || read_config(l, "the OCI layout", cname, &im, err) < 0)
        return -1;
    if (m->n_layers != im->n_layers)
        return tug_error_user(err, "%s lists %zu layers, its config %zu", me->name, m->n_layers,
                              im->n_layers);
    if (im->manifest) /* the same image again (another compression of its layers): a tag */
        return name ? add_tag(im, "index.json", name, err) : 0;
    for (size_t k = 0; k < m->n_layers; k++) {
        const tug_descriptor *ld = &m->layers[k];
        if (tug_layer_compression(ld->media_type) < 0)
            return tug_error_user(err, "layer %s has media type %s, which tug cannot unpack",
                                  ld->digest, ld->media_type ? ld->media_type : "(none)");
        if (oci_blob(l, ld, &im->layers[k].e, err) < 0)
            return -1;
        free(im->layers[k].media_type);
        im->layers[k].media_type = strdup(ld->media_type);
    }
    im->manifest = me;
    free(im->manifest_mt);
    im->manifest_mt =
        strdup(m->media_type ? m->media_type : "application/vnd.oci.image.manifest.v1+json");
    return name ? add_tag(im, "index.json", name, err) : 0;
}

int ld_read_oci(loader *l, const entry *ie, tug_error **err)
{
    json_t *doc = ld_read_json(ie, err);
    if (doc == NULL)
        return -1;
    json_t *list = json_object_get(doc, "manifests"), *d;
    size_t i;
    int r = -1;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        tug_error_user(err, "index.json lists no image");
        goto out;
    }
    json_array_foreach(list, i, d)
    {
        tug_descriptor desc = {
            .media_type = (char *)json_string_value(json_object_get(d, "mediaType")),
            .digest = (char *)json_string_value(json_object_get(d, "digest")),
            .size = json_integer_value(json_object_get(d, "size")),
        };
        if (desc.digest == NULL) {
            tug_error_user(err, "index.json: entry %zu has no digest", i);
            goto out;
        }
        if (read_oci_image(l, &desc, oci_name(d), err) < 0)
            goto out;
    }
    r = 0;
out:
    json_decref(doc);
    return r;
}
