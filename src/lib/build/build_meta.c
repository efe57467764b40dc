/* The instructions that change only the image config, each with its history entry. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../image/image.h"
#include "../image/manifest.h"
#include "../image/reference.h"
#include "../runtime/volume.h"
#include "../store/diff.h"
#include "../store/imgconfig.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "builder.h"
#include "cache.h"
#include "fsops.h"
#include "shell.h"
#include "step.h"

/* ---- metadata ---- */

json_t *bld_object_at(json_t *config, const char *key)
{
    json_t *o = json_object_get(config, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(config, key, o);
    }
    return o;
}

static json_t *cmdline_json(const tug_stage *st, const tug_df_cmdline *c)
{
    if (c->shell) {
        json_t *a = bld_stage_shell(st);
        json_array_append_new(a, json_string(c->argv[0]));
        return a;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < c->argc; i++)
        json_array_append_new(a, json_string(c->argv[i]));
    return a;
}

/* History for a metadata step, as BuildKit writes it. Its time is when the step first ran
 * (a row of the cache keeps it), so that an unchanged rebuild makes the same image ID. */
static int meta_history(builder *b, tug_stage *st, const tug_df_instruction *in,
                        tug_error **err)
{
    cleanup_free char *cfg = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
    cleanup_free char *detail = NULL;
    if (cfg == NULL || asprintf(&detail, "%s\n%s", in->original, cfg) < 0)
        return tug_error_set(err, ENOMEM, "build");
    cleanup_free char *key = bld_key_text(st, "META", detail);
    if (key == NULL)
        return tug_error_set(err, ENOMEM, "build");
    bld_cache_step cs = {.kind = "META", .text = in->original, .key = key};
    tug_image_layer none = {0};
    long long created = 0;
    int got = bld_cache_get(b, st, 0, &cs, &none, &created, err);
    if (got < 0)
        return -1;
    tug_build_layer_clear(&none);
    if (got == 0)
        created = (long long)time(NULL);
    if (got == 0 || cs.hit_from_image)
        bld_cache_put(b, st, &cs, NULL, created);
    if (bld_cache_note(st, cs.hex, false, created, err) < 0)
        return -1;
    st->created = created;
    st->nsec = 0;
    return tug_stage_add_history(st, in->original, true, err);
}

int bld_do_meta(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    json_t *cfg = st->config;
    int r = 0;
    switch (in->kind) {
    case TUG_DF_ENV:
    case TUG_DF_LABEL: {
        tug_df_pairs *p = NULL;
        if (tug_df_read_pairs(in, bld_stage_lookup, st, &p, err) < 0)
            return -1;
        for (size_t i = 0; i < p->n && r == 0; i++) {
            if (in->kind == TUG_DF_ENV)
                r = tug_stage_set_env(st, p->v[i].key, p->v[i].value ? p->v[i].value : "", err);
            else
                json_object_set_new(bld_object_at(cfg, "Labels"), p->v[i].key,
                                    json_string(p->v[i].value ? p->v[i].value : ""));
        }
        tug_df_free(p);
        break;
    }
    case TUG_DF_EXPOSE:
    case TUG_DF_VOLUME: {
        tug_df_words *w = NULL;
        if ((in->kind == TUG_DF_EXPOSE ? tug_df_read_expose(in, bld_stage_lookup, st, &w, err)
                                       : tug_df_read_volume(in, bld_stage_lookup, st, &w, err)) < 0)
            return -1;
        json_t *set = bld_object_at(cfg, in->kind == TUG_DF_EXPOSE ? "ExposedPorts" : "Volumes");
        for (size_t i = 0; i < w->n; i++)
            json_object_set_new(set, w->v[i], json_object());
        tug_df_free(w);
        break;
    }
    case TUG_DF_USER:
    case TUG_DF_STOPSIGNAL: {
        char *v = NULL;
        if (tug_df_read_string(in, bld_stage_lookup, st, &v, err) < 0)
            return -1;
        json_object_set_new(cfg, in->kind == TUG_DF_USER ? "User" : "StopSignal", json_string(v));
        free(v);
        break;
    }
    case TUG_DF_CMD:
    case TUG_DF_ENTRYPOINT:
    case TUG_DF_SHELL: {
        tug_df_cmdline *c = NULL;
        if (tug_df_read_cmdline(in, &c, err) < 0)
            return -1;
        if (in->kind == TUG_DF_SHELL) {
            json_t *a = json_array();
            for (size_t i = 0; i < c->argc; i++)
                json_array_append_new(a, json_string(c->argv[i]));
            json_object_set_new(cfg, "Shell", a);
        } else if (in->kind == TUG_DF_CMD) {
            json_object_set_new(cfg, "Cmd", cmdline_json(st, c));
            st->cmd_set = true;
        } else {
            json_object_set_new(cfg, "Entrypoint", c->null ? json_null() : cmdline_json(st, c));
            /* an ENTRYPOINT drops a CMD the base image gave, as docker does */
            if (!st->cmd_set)
                json_object_set_new(cfg, "Cmd", json_null());
        }
        tug_df_free(c);
        break;
    }
    case TUG_DF_HEALTHCHECK: {
        tug_df_healthcheck *h = NULL;
        if (tug_df_read_healthcheck(in, &h, err) < 0)
            return -1;
        json_t *hc = json_object();
        json_t *test = json_array();
        for (size_t i = 0; i < h->n_test; i++)
            json_array_append_new(test, json_string(h->test[i]));
        json_object_set_new(hc, "Test", test);
        if (h->interval)
            json_object_set_new(hc, "Interval", json_integer(h->interval));
        if (h->timeout)
            json_object_set_new(hc, "Timeout", json_integer(h->timeout));
        if (h->start_period)
            json_object_set_new(hc, "StartPeriod", json_integer(h->start_period));
        if (h->start_interval)
            json_object_set_new(hc, "StartInterval", json_integer(h->start_interval));
        if (h->retries)
            json_object_set_new(hc, "Retries", json_integer(h->retries));
        json_object_set_new(cfg, "Healthcheck", hc);
        tug_df_free(h);
        break;
    }
    case TUG_DF_ONBUILD: {
        json_t *ob = json_object_get(cfg, "OnBuild");
        if (!json_is_array(ob)) {
            ob = json_array();
            json_object_set_new(cfg, "OnBuild", ob);
        }
        json_array_append_new(ob, json_string(in->trigger_text));
        break;
    }
    case TUG_DF_MAINTAINER:
        json_object_set_new(cfg, "tug.author", json_string(in->args));
        break;
    case TUG_DF_ARG:
        r = bld_apply_arg(b, in, st->args, st, err);
        break;
    default:
        return tug_error_user(err, "%s:%d: %s here is not expected", in->file, in->line,
                              tug_df_kind_name(in->kind));
    }
    if (r < 0)
        return -1;
    return meta_history(b, st, in, err);
}

