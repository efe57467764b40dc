/* The build executor: the Dockerfile's stages in order, each instruction applied to the stage's
 * state; RUN, COPY, ADD and WORKDIR make layers (through the step runner and the store's one
 * layer path), the rest change the config; a cache row per layer step makes a rebuild of an
 * unchanged step a lookup. The shared store lock is held for the whole build, as a pull holds
 * it, so that garbage collection never takes a layer between its step and its cache row. */
#include "build.h"

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

/* ---- events ---- */

int bld_ev_start(builder *b, const char *fmt, ...)
{
    int v = ++b->vertex;
    if (b->o->events.start) {
        cleanup_free char *name = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&name, fmt, ap);
        va_end(ap);
        if (n >= 0)
            b->o->events.start(b->o->events.userdata, v, name);
    }
    return v;
}

void bld_ev_status(builder *b, int v, const char *fmt, ...)
{
    if (b->o->events.status == NULL)
        return;
    cleanup_free char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0)
        b->o->events.status(b->o->events.userdata, v, text);
}

void bld_ev_done(builder *b, int v)
{
    if (b->o->events.done)
        b->o->events.done(b->o->events.userdata, v);
}

void bld_ev_cached(builder *b, int v)
{
    if (b->o->events.cached)
        b->o->events.cached(b->o->events.userdata, v);
}

int bld_ev_fail(builder *b, int v, tug_error **err)
{
    if (b->o->events.error && err && *err)
        b->o->events.error(b->o->events.userdata, v, (*err)->msg);
    return -1;
}

static bool makes_step(tug_df_kind k)
{
    return k == TUG_DF_RUN || k == TUG_DF_COPY || k == TUG_DF_ADD || k == TUG_DF_WORKDIR;
}

static bool in_dockerfile(const builder *b, const tug_df_instruction *in)
{
    return b->df && in >= b->df->inst && in < b->df->inst + b->df->n_inst;
}

void bld_ev_step(builder *b, const tug_df_instruction *in)
{
    b->step_cached = false;
    b->run_status = 0;
    b->from_id[0] = '\0';
    if (b->o->events.step && in_dockerfile(b, in))
        b->o->events.step(b->o->events.userdata, (int)(in - b->df->inst) + 1, (int)b->df->n_inst,
                          in->original);
}

void bld_ev_step_end(builder *b, const tug_stage *st, const tug_df_instruction *in, bool ok)
{
    if (b->o->events.step_end == NULL || !in_dockerfile(b, in))
        return;
    if (!ok) {
        if (b->run_status != 0)
            b->o->events.step_end(b->o->events.userdata, NULL, false, b->run_status);
        return;
    }
    /* a filesystem step that changed nothing keeps the layer it started on */
    const char *id = b->from_id[0]                      ? b->from_id
                     : st && makes_step(in->kind) ? tug_stage_top_chain(st)
                                                      : NULL;
    b->o->events.step_end(b->o->events.userdata, id, b->step_cached, 0);
}

static void human_size(long long n, char *out, size_t size)
{
    if (n < 1000)
        snprintf(out, size, "%lldB", n);
    else if (n < 1000 * 1000)
        snprintf(out, size, "%.2fkB", (double)n / 1000);
    else
        snprintf(out, size, "%.2fMB", (double)n / 1e6);
}

/* "[2/4] " or "[builder 2/4] " for the step at hand. */
void bld_step_label(builder *b, char *out, size_t size)
{
    b->step++;
    bool multi = b->df->n_stages > 1;
    if (multi) {
        char def[32];
        snprintf(def, sizeof(def), "stage-%d", b->cur->index);
        snprintf(out, size, "[%s %d/%d]", b->cur->name ? b->cur->name : def, b->step,
                 b->n_steps);
    } else {
        snprintf(out, size, "[%d/%d]", b->step, b->n_steps);
    }
    snprintf(b->label, sizeof(b->label), "%s", out);
}

/* ---- variables ---- */

/* ENV first, then the stage's ARGs with a value (BuildKit: ENV wins over ARG). */
bool bld_stage_lookup(const char *name, const char **ret, void *ud)
{
    const tug_stage *st = ud;
    const char *v = tug_stage_env(st, name);
    if (v) {
        *ret = v;
        return true;
    }
    json_t *a = json_object_get(st->args, name);
    if (json_is_string(a)) {
        *ret = json_string_value(a);
        return true;
    }
    return false;
}

static bool meta_lookup(const char *name, const char **ret, void *ud)
{
    const builder *b = ud;
    json_t *a = json_object_get(b->meta, name);
    if (json_is_string(a)) {
        *ret = json_string_value(a);
        return true;
    }
    return false;
}

typedef struct arg_scope {
    json_t *vars; /* what the ARG sees: the scope so far */
    const tug_stage *st;
} arg_scope;

static bool scope_lookup(const char *name, const char **ret, void *ud)
{
    arg_scope *sc = ud;
    if (sc->st && (*ret = tug_stage_env(sc->st, name)) != NULL)
        return true;
    json_t *a = json_object_get(sc->vars, name);
    if (json_is_string(a)) {
        *ret = json_string_value(a);
        return true;
    }
    return false;
}

/* ARG a[=x] b ...: each name's value by BuildKit's rule, into vars. In a stage, a name declared
 * before the first FROM gives its value when nothing else does. */
int bld_apply_arg(builder *b, const tug_df_instruction *in, json_t *vars, const tug_stage *st,
                     tug_error **err)
{
    tug_df_pairs *pairs = NULL;
    if (tug_df_read_arg(in, &pairs, err) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < pairs->n && r == 0; i++) {
        const char *key = pairs->v[i].key;
        json_t *given = json_object_get(b->build_args, key);
        if (given) {
            json_object_set(vars, key, given);
            json_object_set_new(b->used_args, key, json_true());
            continue;
        }
        if (pairs->v[i].value) {
            arg_scope sc = {.vars = vars, .st = st};
            char *v = NULL;
            if (tug_shell_expand(pairs->v[i].value, in->escape, scope_lookup, &sc, &v, err) < 0) {
                r = -1;
                break;
            }
            json_object_set_new(vars, key, json_string(v));
            free(v);
            continue;
        }
        json_t *meta = st ? json_object_get(b->meta, key) : NULL;
        json_object_set(vars, key, meta ? meta : json_null());
    }
    tug_df_free(pairs);
    return r;
}

/* BuildKit's predefined platform args, in the global scope. */
static void predefined_args(builder *b)
{
    const char *os = b->plat.os, *arch = b->plat.arch, *variant = b->plat.variant;
    char p[128];
    snprintf(p, sizeof(p), "%s/%s%s%s", os, arch, variant ? "/" : "", variant ? variant : "");
    static const char *const prefixes[] = {"TARGET", "BUILD"};
    for (size_t i = 0; i < 2; i++) {
        char k[64];
        snprintf(k, sizeof(k), "%sPLATFORM", prefixes[i]);
        json_object_set_new(b->meta, k, json_string(p));
        snprintf(k, sizeof(k), "%sOS", prefixes[i]);
        json_object_set_new(b->meta, k, json_string(os));
        snprintf(k, sizeof(k), "%sARCH", prefixes[i]);
        json_object_set_new(b->meta, k, json_string(arch));
        snprintf(k, sizeof(k), "%sVARIANT", prefixes[i]);
        json_object_set_new(b->meta, k, json_string(variant ? variant : ""));
    }
}

/* --build-arg K=V, or K alone for the caller's environment's K (skipped when unset). */
static int read_build_args(builder *b, tug_error **err)
{
    for (const char *const *a = b->o->build_args; a && *a; a++) {
        const char *eq = strchr(*a, '=');
        cleanup_free char *k = eq ? strndup(*a, (size_t)(eq - *a)) : strdup(*a);
        if (k == NULL || *k == '\0')
            return tug_error_user(err, "invalid --build-arg %s: use KEY=VALUE", *a);
        const char *v = eq ? eq + 1 : getenv(k);
        if (v)
            json_object_set_new(b->build_args, k, json_string(v));
    }
    return 0;
}

/* The stage's ARGs with a value, as "K=V": RUN sees them in its environment. */
char **bld_arg_env(const tug_stage *st)
{
    size_t n = json_object_size(st->args), k = 0;
    char **v = calloc(n + 1, sizeof(char *));
    const char *key;
    json_t *val;
    json_object_foreach(st->args, key, val)
    {
        if (!json_is_string(val) || tug_stage_env(st, key))
            continue;
        if (asprintf(&v[k], "%s=%s", key, json_string_value(val)) >= 0)
            k++;
    }
    return v;
}

/* ---- images ---- */

/* The image FROM or COPY --from names: from the store, pulled when missing (or always with
 * --pull). */
int bld_base_image(builder *b, const char *name, tug_image **ret, tug_error **err)
{
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(name, &ref, err) < 0)
        return tug_error_wrap(err, "base name (%s) should be a valid reference", name);
    cleanup_free char *full = tug_reference_string(ref);
    int v = bld_ev_start(b, "[internal] load metadata for %s", full);
    tug_error *miss = NULL;
    bool have = tug_store_find_image(b->s, full, ret, &miss) == 0;
    tug_error_free(miss);
    if (have && !b->o->pull) {
        bld_ev_done(b, v);
        return 0;
    }
    if (have) {
        tug_image_free(*ret);
        *ret = NULL;
    }
    tug_pull_opts po = {.platform = b->o->platform, .registry = b->o->registry};
    tug_pull_result res = {0};
    int r = tug_pull(b->s, ref, &po, NULL, &res, err);
    if (r == 0)
        r = tug_store_load_image(b->s, res.image_id, ret, err);
    tug_pull_result_clear(&res);
    if (r < 0) {
        tug_error_wrap(err, "%s", full);
        return bld_ev_fail(b, v, err);
    }
    bld_ev_done(b, v);
    return 0;
}

/* ---- stages ---- */

static int run_instruction(builder *b, tug_stage *st, const tug_df_instruction *in,
                           tug_error **err);

/* The base image's ONBUILD triggers run first, then the image forgets them. */
static int run_triggers(builder *b, tug_stage *st, tug_error **err)
{
    json_t *ob = json_object_get(st->config, "OnBuild");
    if (!json_is_array(ob) || json_array_size(ob) == 0)
        return 0;
    json_t *triggers = json_incref(ob);
    json_object_set_new(st->config, "OnBuild", json_null());
    size_t i;
    json_t *t;
    int r = 0;
    json_array_foreach(triggers, i, t)
    {
        tug_dockerfile *df = NULL;
        if (tug_dockerfile_parse_trigger("ONBUILD", json_string_value(t), &df, err) < 0) {
            r = -1;
            break;
        }
        if (makes_step(df->inst[0].kind))
            b->n_steps++;
        r = run_instruction(b, st, &df->inst[0], err);
        tug_dockerfile_free(df);
        if (r < 0)
            break;
    }
    json_decref(triggers);
    return r;
}

static int do_from(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    tug_df_from *from = NULL;
    if (tug_df_read_from(in, meta_lookup, b, &from, err) < 0)
        return -1;
    int r = 0;
    if (from->platform) {
        tug_platform want = {0};
        r = tug_platform_parse(from->platform, &want, err);
        if (r == 0 && (strcmp(want.os, b->plat.os) != 0 || strcmp(want.arch, b->plat.arch) != 0))
            r = tug_error_user(err, "%s:%d: FROM --platform=%s: tug builds for this machine "
                                    "(%s/%s) only",
                               in->file, in->line, from->platform, b->plat.os, b->plat.arch);
        tug_platform_clear(&want);
        if (r < 0) {
            tug_df_free(from);
            return -1;
        }
    }
    st->base = strdup(from->image);
    const tug_stage *prev = NULL;
    for (int i = 0; i < st->index; i++)
        if (b->stages[i].name && strcasecmp(b->stages[i].name, from->image) == 0)
            prev = &b->stages[i];
    char label[96];
    if (prev) {
        r = tug_stage_copy_from(st, prev, err);
        bld_step_label(b, label, sizeof(label));
        int v = bld_ev_start(b, "%s FROM %s", label, prev->name);
        bld_ev_cached(b, v);
    } else if (strcasecmp(from->image, "scratch") == 0) {
        st->config = json_object();
        st->history = json_array();
        st->created = 0;
        bld_step_label(b, label, sizeof(label));
        b->step--; /* FROM scratch is no step of BuildKit's */
        if (!st->config || !st->history)
            r = tug_error_set(err, ENOMEM, "build");
    } else {
        cleanup_image tug_image *img = NULL;
        r = bld_base_image(b, from->image, &img, err);
        if (r == 0 && img->config_error)
            r = tug_error_user(err, "%s (stored before tug checked image configs); remove the "
                                    "image with tug rmi %s",
                               img->config_error, from->image);
        if (r == 0)
            r = tug_stage_from_image(st, img, err);
        if (r == 0) {
            snprintf(b->from_id, sizeof(b->from_id), "%s", img->id);
            cleanup_reference tug_reference *ref = NULL;
            tug_error *ignored = NULL;
            cleanup_free char *full = NULL;
            if (tug_reference_parse(from->image, &ref, &ignored) == 0)
                full = tug_reference_string(ref);
            tug_error_free(ignored);
            bld_step_label(b, label, sizeof(label));
            int v = bld_ev_start(b, "%s FROM %s", label, full ? full : from->image);
            bld_ev_cached(b, v);
        }
    }
    tug_df_free(from);
    if (r < 0)
        return -1;
    return run_triggers(b, st, err);
}

static int run_instruction(builder *b, tug_stage *st, const tug_df_instruction *in,
                           tug_error **err)
{
    switch (in->kind) {
    case TUG_DF_RUN:
        return bld_do_run(b, st, in, err);
    case TUG_DF_COPY:
    case TUG_DF_ADD:
        return bld_do_copy(b, st, in, err);
    case TUG_DF_WORKDIR:
        return bld_do_workdir(b, st, in, err);
    default:
        return bld_do_meta(b, st, in, err);
    }
}

int bld_build_stage(builder *b, size_t idx, tug_error **err)
{
    const tug_df_stage *ds = &b->df->stages[idx];
    tug_stage *st = &b->stages[idx];
    b->cur = st;
    b->step = 0;
    b->n_steps = 1;
    b->missed[0] = '\0';
    for (size_t i = ds->from + 1; i < ds->end; i++)
        if (makes_step(b->df->inst[i].kind))
            b->n_steps++;
    st->args = json_object();
    if (st->args == NULL)
        return tug_error_set(err, ENOMEM, "build");
    const tug_df_instruction *from = &b->df->inst[ds->from];
    bld_ev_step(b, from);
    int r = do_from(b, st, from, err);
    bld_ev_step_end(b, st, from, r == 0);
    if (r < 0)
        return -1;
    for (size_t i = ds->from + 1; i < ds->end; i++) {
        if (bld_cancelled(b))
            return tug_error_set(err, ECANCELED, "build stage %d", st->index);
        const tug_df_instruction *in = &b->df->inst[i];
        bld_ev_step(b, in);
        r = run_instruction(b, st, in, err);
        bld_ev_step_end(b, st, in, r == 0);
        if (r < 0)
            return -1;
    }
    st->done = true;
    return 0;
}

static int mark_needed(builder *b, size_t idx, bool *needed, bool *deps, int depth,
                       tug_error **err);

/* ref (a FROM, COPY --from or RUN --mount from=) names an earlier stage: it is needed, and
 * stage idx waits for it. */
static int need_ref(builder *b, size_t idx, const char *ref, bool *needed, bool *deps, int depth,
                    tug_error **err)
{
    char *end;
    long n = strtol(ref, &end, 10);
    for (size_t s = 0; s < idx; s++) {
        const char *name = b->df->stages[s].name;
        if ((name && strcasecmp(name, ref) == 0) || (*end == '\0' && end != ref && n == (long)s)) {
            deps[idx * b->df->n_stages + s] = true;
            if (mark_needed(b, s, needed, deps, depth + 1, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* The stages the target needs: itself, what it is FROM, what it copies or mounts from,
 * transitively; deps[i * n + j]: stage i names stage j. */
static int mark_needed(builder *b, size_t idx, bool *needed, bool *deps, int depth, tug_error **err)
{
    if (needed[idx] || depth > 64)
        return 0;
    needed[idx] = true;
    const tug_df_stage *ds = &b->df->stages[idx];
    for (size_t i = ds->from; i < ds->end; i++) {
        const tug_df_instruction *in = &b->df->inst[i];
        const char *ref = NULL;
        cleanup_free char *expanded = NULL;
        if (in->kind == TUG_DF_FROM) {
            tug_df_from *f = NULL;
            if (tug_df_read_from(in, meta_lookup, b, &f, err) < 0)
                return -1;
            expanded = strdup(f->image);
            tug_df_free(f);
            ref = expanded;
        } else if (in->kind == TUG_DF_COPY) {
            for (size_t k = 0; k < in->n_flags; k++)
                if (strcmp(in->flags[k].name, "from") == 0)
                    ref = in->flags[k].value;
        } else if (in->kind == TUG_DF_RUN) {
            cleanup_strv char **froms = bld_mounts_froms(in);
            for (char **f = froms; f && *f; f++)
                if (need_ref(b, idx, *f, needed, deps, depth, err) < 0)
                    return -1;
        }
        if (ref && need_ref(b, idx, ref, needed, deps, depth, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- the image ---- */

static int export_image(builder *b, tug_stage *st, char **ret_id, tug_error **err)
{
    int v = bld_ev_start(b, "exporting to image");
    bld_ev_status(b, v, "exporting layers done");
    json_t *cfg = json_deep_copy(st->config);
    json_t *author = json_object_get(cfg, "tug.author");
    char *author_s = json_is_string(author) ? strdup(json_string_value(author)) : NULL;
    json_object_del(cfg, "tug.author");
    for (const char *const *l = b->o->labels; l && *l; l++) {
        const char *eq = strchr(*l, '=');
        cleanup_free char *k = eq ? strndup(*l, (size_t)(eq - *l)) : strdup(*l);
        json_object_set_new(bld_object_at(cfg, "Labels"), k, json_string(eq ? eq + 1 : ""));
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "architecture", json_string(b->plat.arch));
    if (author_s)
        json_object_set_new(doc, "author", json_string(author_s));
    free(author_s);
    json_object_set_new(doc, "config", cfg);
    cleanup_free char *created = tug_format_rfc3339(st->created, st->nsec);
    json_object_set_new(doc, "created", json_string(created ? created : "1970-01-01T00:00:00Z"));
    json_object_set(doc, "history", st->history);
    json_object_set_new(doc, "os", json_string(b->plat.os));
    json_t *ids = json_array();
    long long size = 0;
    for (size_t i = 0; i < st->n_layers; i++) {
        json_array_append_new(ids, json_string(st->layers[i].diff_id));
        size += st->layers[i].size;
    }
    json_object_set_new(doc, "rootfs", json_pack("{s:s,s:o}", "type", "layers", "diff_ids", ids));
    if (b->plat.variant && strcmp(b->plat.arch, "amd64") != 0)
        json_object_set_new(doc, "variant", json_string(b->plat.variant));
    if (st->cache_record)
        json_object_set(doc, BLD_CACHE_RECORD, st->cache_record);
    cleanup_free char *raw = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (raw == NULL) {
        json_decref(doc);
        return tug_error_set(err, ENOMEM, "build");
    }
    char id[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(raw, strlen(raw), id);
    int r = tug_image_config_check(doc, id, err);
    if (r == 0)
        r = tug_store_put_blob(b->s, id, raw, strlen(raw), err);
    tug_image img = {.id = id, .config = doc, .config_raw = raw, .created = st->created,
                     .size = size, .layers = st->layers, .n_layers = st->n_layers};
    if (r == 0 && tug_store_begin(b->s, err) == 0) {
        r = tug_store_add_image(b->s, &img, err);
        for (const char *const *t = b->o->tags; r == 0 && t && *t; t++)
            r = tug_store_set_tag(b->s, *t, id, err) < 0 ? -1 : 0;
        if (r == 0)
            r = tug_store_commit(b->s, err);
        else
            tug_store_rollback(b->s);
    } else if (r == 0) {
        r = -1;
    }
    json_decref(doc);
    if (r < 0)
        return bld_ev_fail(b, v, err);
    bld_ev_status(b, v, "writing image %s done", id);
    for (const char *const *t = b->o->tags; t && *t; t++)
        bld_ev_status(b, v, "naming to %s done", *t);
    bld_ev_done(b, v);
    *ret_id = strdup(id);
    return *ret_id ? 0 : tug_error_set(err, ENOMEM, "build");
}

/* ---- the build ---- */

static int open_context(builder *b, tug_error **err)
{
    cleanup_free char *tmp = NULL;
    if (asprintf(&tmp, "%s/tmp", b->s->root) < 0)
        return tug_error_set(err, ENOMEM, "build");
    tug_store_sweep_dir(b->s, "tmp", "ctx-");
    int v = bld_ev_start(b, "[internal] load build definition from %s",
                     b->o->dockerfile && strcmp(b->o->dockerfile, "-") != 0 ? b->o->dockerfile
                                                                             : "Dockerfile");
    tug_context_opts co = {.context = b->o->context, .dockerfile = b->o->dockerfile,
                           .tmp_dir = tmp, .store = b->s, .stdin_fd = b->o->context_fd};
    if (tug_context_open(&co, &b->ctx, err) < 0)
        return bld_ev_fail(b, v, err);
    size_t len = 0;
    tug_context_dockerfile(b->ctx, &len);
    char sz[32];
    human_size((long long)len, sz, sizeof(sz));
    bld_ev_status(b, v, "transferring dockerfile: %s done", sz);
    bld_ev_done(b, v);
    v = bld_ev_start(b, "[internal] load .dockerignore");
    bld_ev_status(b, v, "transferring context: %s done",
              tug_context_ignore(b->ctx) ? tug_context_ignore_name(b->ctx) : "2B");
    bld_ev_done(b, v);
    return 0;
}

static void builder_clear(builder *b)
{
    if (b->stages) {
        for (size_t i = 0; b->df && i < b->df->n_stages; i++)
            tug_stage_clear(&b->stages[i]);
        free(b->stages);
    }
    tug_dockerfile_free(b->df);
    tug_context_free(b->ctx);
    json_decref(b->build_args);
    json_decref(b->used_args);
    json_decref(b->meta);
    for (size_t i = 0; i < b->n_from; i++)
        tug_image_free(b->from_imgs[i]);
    free(b->from_imgs);
    json_decref(b->from_keys);
    tug_platform_clear(&b->plat);
}

static int check_platform(builder *b, tug_error **err)
{
    tug_platform_host(&b->plat);
    if (b->o->platform == NULL || *b->o->platform == '\0')
        return 0;
    tug_platform want = {0};
    if (tug_platform_parse(b->o->platform, &want, err) < 0)
        return -1;
    bool same = strcmp(want.os, b->plat.os) == 0 && strcmp(want.arch, b->plat.arch) == 0;
    tug_platform_clear(&want);
    if (!same)
        return tug_error_user(err, "--platform %s: tug builds for this machine (%s/%s) only",
                              b->o->platform, b->plat.os, b->plat.arch);
    return 0;
}

static int find_target(builder *b, size_t *ret, tug_error **err)
{
    if (b->df->n_stages == 0)
        return tug_error_user(err, "%s: no FROM instruction: the file has no build stage",
                              b->df->name);
    *ret = b->df->n_stages - 1;
    if (b->o->target == NULL || *b->o->target == '\0')
        return 0;
    for (size_t i = 0; i < b->df->n_stages; i++)
        if (b->df->stages[i].name && strcasecmp(b->df->stages[i].name, b->o->target) == 0) {
            *ret = i;
            return 0;
        }
    return tug_error_user(err, "failed to reach build target %s in Dockerfile", b->o->target);
}

/* Parse, pick the stages the target needs, build them in order, export the target. */
static int run_build(builder *b, char **ret_image_id, tug_error **err)
{
    if (check_platform(b, err) < 0 || read_build_args(b, err) < 0 || open_context(b, err) < 0)
        return -1;
    size_t len = 0;
    const char *text = tug_context_dockerfile(b->ctx, &len);
    if (tug_dockerfile_parse(tug_context_dockerfile_name(b->ctx), text, len, &b->df, err) < 0)
        return -1;
    predefined_args(b);
    for (size_t i = 0; i < b->df->n_meta_args; i++) {
        bld_ev_step(b, &b->df->inst[i]);
        if (bld_apply_arg(b, &b->df->inst[i], b->meta, NULL, err) < 0)
            return -1;
        bld_ev_step_end(b, NULL, &b->df->inst[i], true);
    }
    size_t target = 0;
    if (find_target(b, &target, err) < 0)
        return -1;
    b->stages = calloc(b->df->n_stages, sizeof(*b->stages));
    cleanup_free bool *needed = calloc(b->df->n_stages, sizeof(bool));
    cleanup_free bool *deps = calloc(b->df->n_stages * b->df->n_stages, sizeof(bool));
    if (b->stages == NULL || needed == NULL || deps == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (size_t i = 0; i < b->df->n_stages; i++) {
        b->stages[i].index = (int)i;
        b->stages[i].name = b->df->stages[i].name ? strdup(b->df->stages[i].name) : NULL;
    }
    if (mark_needed(b, target, needed, deps, 0, err) < 0 || bld_cache_from_open(b, err) < 0 ||
        bld_build_stages(b, needed, deps, target, err) < 0)
        return -1;
    return export_image(b, &b->stages[target], ret_image_id, err);
}

int tug_build(tug_store *s, const tug_build_opts *o, char **ret_image_id, tug_error **err)
{
    builder b = {.s = s, .o = o, .cancel_fd = -1};
    if (o->sequential && o->cancel_fd > 0)
        b.cancel_fd = o->cancel_fd;
    b.build_args = json_object();
    b.used_args = json_object();
    b.meta = json_object();
    int r = -1;
    if (b.build_args == NULL || b.used_args == NULL || b.meta == NULL) {
        tug_error_set(err, ENOMEM, "build");
    } else {
        /* layers made here are nobody's until the image or a cache row names them */
        cleanup_close int lock = tug_store_lock_shared(s, err);
        if (lock >= 0) {
            tug_store_sweep_dead(s);
            r = run_build(&b, ret_image_id, err);
        }
    }
    builder_clear(&b);
    return r;
}

