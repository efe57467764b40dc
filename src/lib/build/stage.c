/* A build stage's state: layers, config, history. */
#include "stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../image/image.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void layer_clear(tug_image_layer *l)
{
    free(l->chain_id);
    free(l->diff_id);
    free(l->blob_digest);
    free(l->media_type);
}

void tug_stage_clear(tug_stage *st)
{
    free(st->name);
    free(st->base);
    json_decref(st->config);
    json_decref(st->history);
    for (size_t i = 0; i < st->n_layers; i++)
        layer_clear(&st->layers[i]);
    free(st->layers);
    json_decref(st->args);
    free(st->image_id);
    json_decref(st->cache_record);
    memset(st, 0, sizeof(*st));
}

static int copy_layers(tug_stage *st, const tug_image_layer *src, size_t n, tug_error **err)
{
    st->layers = calloc(n ? n : 1, sizeof(*st->layers));
    if (st->layers == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (size_t i = 0; i < n; i++) {
        tug_image_layer *d = &st->layers[i];
        d->chain_id = dup_or_null(src[i].chain_id);
        d->diff_id = dup_or_null(src[i].diff_id);
        d->blob_digest = dup_or_null(src[i].blob_digest);
        d->media_type = dup_or_null(src[i].media_type);
        d->blob_size = src[i].blob_size;
        d->size = src[i].size;
        st->n_layers++;
    }
    return 0;
}

int tug_stage_copy_from(tug_stage *dst, const tug_stage *src, tug_error **err)
{
    dst->config = json_deep_copy(src->config);
    dst->history = json_deep_copy(src->history);
    dst->created = src->created;
    dst->nsec = src->nsec;
    dst->cache_record = src->cache_record ? json_deep_copy(src->cache_record) : NULL;
    if (dst->config == NULL || dst->history == NULL ||
        (src->cache_record && dst->cache_record == NULL))
        return tug_error_set(err, ENOMEM, "build");
    return copy_layers(dst, src->layers, src->n_layers, err);
}

int tug_stage_from_image(tug_stage *st, const tug_image *img, tug_error **err)
{
    json_t *cfg = json_object_get(img->config, "config");
    st->config = json_is_object(cfg) ? json_deep_copy(cfg) : tug_config_new();
    json_t *h = json_object_get(img->config, "history");
    st->history = json_is_array(h) ? json_deep_copy(h) : json_array();
    if (st->config == NULL || st->history == NULL)
        return tug_error_set(err, ENOMEM, "build");
    const char *created = json_string_value(json_object_get(img->config, "created"));
    if (created == NULL || tug_parse_rfc3339(created, &st->created, &st->nsec) < 0) {
        st->created = img->created;
        st->nsec = 0;
    }
    return copy_layers(st, img->layers, img->n_layers, err);
}

int tug_stage_push_layer(tug_stage *st, tug_image_layer *layer, tug_error **err)
{
    tug_image_layer *nl = realloc(st->layers, (st->n_layers + 1) * sizeof(*nl));
    if (nl == NULL)
        return tug_error_set(err, ENOMEM, "build");
    st->layers = nl;
    st->layers[st->n_layers++] = *layer;
    memset(layer, 0, sizeof(*layer));
    return 0;
}

const char *tug_stage_top_chain(const tug_stage *st)
{
    return st->n_layers ? st->layers[st->n_layers - 1].chain_id : NULL;
}

int tug_stage_add_history(tug_stage *st, const char *created_by, bool empty_layer,
                          tug_error **err)
{
    cleanup_free char *created = tug_format_rfc3339(st->created, st->nsec);
    json_t *h = json_object();
    json_object_set_new(h, "created", json_string(created ? created : "1970-01-01T00:00:00Z"));
    json_object_set_new(h, "created_by", json_string(created_by));
    json_object_set_new(h, "comment", json_string("buildkit.dockerfile.v0"));
    if (empty_layer)
        json_object_set_new(h, "empty_layer", json_true());
    if (json_array_append_new(st->history, h) < 0)
        return tug_error_set(err, ENOMEM, "build");
    return 0;
}

const char *tug_stage_env(const tug_stage *st, const char *name)
{
    size_t nl = strlen(name), i;
    json_t *v;
    json_array_foreach(json_object_get(st->config, "Env"), i, v)
    {
        const char *e = json_string_value(v);
        if (e && strncmp(e, name, nl) == 0 && e[nl] == '=')
            return e + nl + 1;
    }
    return NULL;
}

int tug_stage_set_env(tug_stage *st, const char *name, const char *value, tug_error **err)
{
    cleanup_free char *kv = NULL;
    if (asprintf(&kv, "%s=%s", name, value) < 0)
        return tug_error_set(err, ENOMEM, "build");
    json_t *env = json_object_get(st->config, "Env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(st->config, "Env", env);
    }
    size_t nl = strlen(name), i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *e = json_string_value(v);
        if (e && strncmp(e, name, nl) == 0 && e[nl] == '=')
            return json_array_set_new(env, i, json_string(kv)) < 0
                       ? tug_error_set(err, ENOMEM, "build")
                       : 0;
    }
    return json_array_append_new(env, json_string(kv)) < 0 ? tug_error_set(err, ENOMEM, "build")
                                                           : 0;
}
