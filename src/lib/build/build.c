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
#include <sys/mount.h>
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
#include "cache.h"
#include "context.h"
#include "dockerfile.h"
#include "fsops.h"
#include "shell.h"
#include "stage.h"
#include "step.h"

/* Bump when a step's meaning changes: old cache rows then miss. */
#define CACHE_KEY_VERSION "tug-build-1"

typedef struct builder {
    tug_store *s;
    const tug_build_opts *o;
    tug_build_context *ctx;
    tug_dockerfile *df;
    tug_stage *stages;
    json_t *build_args; /* --build-arg: name -> value */
    json_t *used_args;  /* the --build-args some ARG declared */
    json_t *meta;       /* ARGs before the first FROM: name -> value or null */
    tug_platform plat;
    int vertex;
    /* the stage at work and its step count, for "[name 2/5]" */
    tug_stage *cur;
    int step, n_steps;
} builder;

/* ---- events ---- */

static int ev_start(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ev_start(builder *b, const char *fmt, ...)
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

static void ev_status(builder *b, int v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ev_status(builder *b, int v, const char *fmt, ...)
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

static void ev_done(builder *b, int v)
{
    if (b->o->events.done)
        b->o->events.done(b->o->events.userdata, v);
}

static void ev_cached(builder *b, int v)
{
    if (b->o->events.cached)
        b->o->events.cached(b->o->events.userdata, v);
}

static int ev_fail(builder *b, int v, tug_error **err)
{
    if (b->o->events.error && err && *err)
        b->o->events.error(b->o->events.userdata, v, (*err)->msg);
    return -1;
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
static void step_label(builder *b, char *out, size_t size)
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
}

/* ---- variables ---- */

/* ENV first, then the stage's ARGs with a value (BuildKit: ENV wins over ARG). */
static bool stage_lookup(const char *name, const char **ret, void *ud)
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
static int apply_arg(builder *b, const tug_df_instruction *in, json_t *vars, const tug_stage *st,
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
static char **arg_env(const tug_stage *st)
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
static int base_image(builder *b, const char *name, tug_image **ret, tug_error **err)
{
    cleanup_reference tug_reference *ref = NULL;
    if (tug_reference_parse(name, &ref, err) < 0)
        return tug_error_wrap(err, "base name (%s) should be a valid reference", name);
    cleanup_free char *full = tug_reference_string(ref);
    int v = ev_start(b, "[internal] load metadata for %s", full);
    tug_error *miss = NULL;
    bool have = tug_store_find_image(b->s, full, ret, &miss) == 0;
    tug_error_free(miss);
    if (have && !b->o->pull) {
        ev_done(b, v);
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
        return ev_fail(b, v, err);
    }
    ev_done(b, v);
    return 0;
}

/* ---- steps that make layers ---- */

static char **lower_dirs(builder *b, const tug_stage *st)
{
    char **v = calloc(st->n_layers + 1, sizeof(char *));
    for (size_t i = 0; v && i < st->n_layers; i++)
        v[i] = tug_store_layer_dir(b->s, st->layers[i].chain_id);
    return v;
}

/* The cache key's text: what the step starts from and everything it does. */
static char *key_text(const tug_stage *st, const char *what, const char *detail)
{
    const char *top = tug_stage_top_chain(st);
    char *t = NULL;
    if (asprintf(&t, "%s\n%s\n%s\n%s", CACHE_KEY_VERSION, top ? top : "scratch", what,
                 detail) < 0)
        return NULL;
    return t;
}

/* A cache hit: its layer (if it made one) on the stage. */
static int take_cached(tug_stage *st, tug_image_layer *l, long long created, tug_error **err)
{
    st->created = created;
    st->nsec = 0;
    if (l->chain_id == NULL)
        return 0;
    return tug_stage_push_layer(st, l, err);
}

/* A step's tmp dir finished: into the store as a layer (none when it is empty), then the cache
 * row. */
static int commit_step(builder *b, tug_stage *st, char *tmp, const char *key,
                       const char *description, bool *ret_empty, tug_error **err)
{
    tug_layer_opts lo = {.parent_chain = tug_stage_top_chain(st), .gzip_level = -1};
    tug_new_layer nl;
    if (tug_layer_from_dir(b->s, tmp, &lo, &nl, err) < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    st->created = now.tv_sec;
    st->nsec = 0;
    *ret_empty = nl.empty || !nl.stored;
    tug_image_layer l = {0};
    if (!*ret_empty) {
        l.chain_id = strdup(nl.chain_id);
        l.diff_id = strdup(nl.diff_id);
        l.blob_digest = strdup(nl.blob_digest);
        l.media_type = strdup(nl.media_type);
        l.blob_size = nl.blob_size;
        l.size = nl.size;
        if (!l.chain_id || !l.diff_id || !l.blob_digest || !l.media_type) {
            tug_build_layer_clear(&l);
            return tug_error_set(err, ENOMEM, "build");
        }
    }
    if (!b->o->no_cache || true) {
        cleanup_error tug_error *cache_err = NULL;
        char k[65];
        tug_build_cache_key(key, k);
        /* a cache that cannot be written costs the next build time, never this one */
        tug_build_cache_put(b->s, k, *ret_empty ? NULL : &l, st->created, description,
                            &cache_err);
    }
    if (*ret_empty)
        return 0;
    return tug_stage_push_layer(st, &l, err);
}

typedef struct run_out {
    builder *b;
    int vertex;
} run_out;

static void run_output(void *ud, int stream, const char *buf, size_t len)
{
    run_out *ro = ud;
    if (ro->b->o->events.log)
        ro->b->o->events.log(ro->b->o->events.userdata, ro->vertex, stream, buf, len);
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static char **json_strv(json_t *a)
{
    size_t n = json_array_size(a), i;
    char **v = calloc(n + 1, sizeof(char *));
    json_t *e;
    json_array_foreach(a, i, e) v[i] = strdup(json_string_value(e) ? json_string_value(e) : "");
    return v;
}

/* The stage's shell, or docker's default. */
static json_t *stage_shell(const tug_stage *st)
{
    json_t *sh = json_object_get(st->config, "Shell");
    if (json_is_array(sh) && json_array_size(sh) > 0)
        return json_incref(sh);
    return json_pack("[ss]", "/bin/sh", "-c");
}

static int do_run(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    tug_df_run *run = NULL;
    if (tug_df_read_run(in, stage_lookup, st, &run, err) < 0)
        return -1;
    if (run->n_mounts > 0 || run->script_path || run->n_devices > 0) {
        tug_df_free(run);
        return tug_error_user(err, "%s:%d: %s is not supported yet by tug", in->file, in->line,
                              run->n_mounts ? "RUN --mount" : run->script_path ? "a #! heredoc"
                                                                               : "RUN --device");
    }
    json_t *argv = json_array();
    if (run->cmd.shell) {
        json_decref(argv);
        argv = stage_shell(st);
        json_array_append_new(argv, json_string(run->cmd.argv[0]));
    } else {
        for (size_t i = 0; i < run->cmd.argc; i++)
            json_array_append_new(argv, json_string(run->cmd.argv[i]));
    }
    const char *network = run->network == TUG_DF_NETWORK_NONE   ? "none"
                          : run->network == TUG_DF_NETWORK_HOST ? "host"
                                                                : b->o->network;
    cleanup_strv char **args = arg_env(st);
    /* what the step does, for its key and history */
    json_t *env = json_deep_copy(json_object_get(st->config, "Env"));
    if (!json_is_array(env)) {
        json_decref(env);
        env = json_array();
    }
    for (char **a = args; a && *a; a++)
        json_array_append_new(env, json_string(*a));
    const char *user = json_string_value(json_object_get(st->config, "User"));
    const char *wd = json_string_value(json_object_get(st->config, "WorkingDir"));
    json_t *desc = json_pack("{s:s,s:O,s:O,s:s,s:s,s:s,s:O}", "op", "run", "argv", argv, "env",
                             env, "user", user ? user : "", "cwd", wd && *wd ? wd : "/",
                             "network", network, "hosts",
                             b->o->add_hosts ? strv_json((char **)b->o->add_hosts)
                                             : json_array());
    cleanup_free char *detail = json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(desc);
    /* history: RUN |N K=V ... cmd # buildkit */
    cleanup_free char *joined = NULL;
    {
        size_t len = 1, i;
        json_t *a;
        json_array_foreach(argv, i, a) len += json_string_length(a) + 1;
        joined = calloc(1, len);
        json_array_foreach(argv, i, a)
        {
            if (i)
                strcat(joined, " ");
            strcat(joined, json_string_value(a));
        }
    }
    cleanup_free char *prefix = NULL;
    size_t nargs = 0;
    for (char **a = args; a && *a; a++)
        nargs++;
    if (nargs) {
        size_t len = 32;
        for (char **a = args; *a; a++)
            len += strlen(*a) + 1;
        prefix = calloc(1, len);
        snprintf(prefix, len, "|%zu", nargs);
        for (char **a = args; *a; a++) {
            strcat(prefix, " ");
            strcat(prefix, *a);
        }
    }
    cleanup_free char *created_by = NULL;
    if (asprintf(&created_by, "RUN %s%s%s # buildkit", prefix ? prefix : "", prefix ? " " : "",
                 joined ? joined : "") < 0)
        created_by = NULL;
    char label[96];
    step_label(b, label, sizeof(label));
    int v = ev_start(b, "%s %s", label, run->display ? run->display : in->original);
    cleanup_free char *key = key_text(st, "RUN", detail ? detail : "");
    char k[65];
    tug_build_cache_key(key ? key : "", k);
    tug_image_layer hit = {0};
    long long hit_created = 0;
    int got = b->o->no_cache ? 0 : tug_build_cache_get(b->s, k, &hit, &hit_created, err);
    int r = 0;
    if (got < 0) {
        r = ev_fail(b, v, err);
    } else if (got == 1) {
        bool empty = hit.chain_id == NULL;
        r = take_cached(st, &hit, hit_created, err);
        tug_build_layer_clear(&hit);
        if (r == 0)
            r = tug_stage_add_history(st, created_by, empty, err);
        if (r == 0)
            ev_cached(b, v);
    } else {
        cleanup_free char *tmp = NULL, *diff = NULL;
        cleanup_strv char **lowers = lower_dirs(b, st);
        cleanup_strv char **cargv = json_strv(argv);
        cleanup_strv char **cenv = json_strv(env);
        r = tug_store_layer_tmp(b->s, &tmp, &diff, err);
        int status = 0;
        run_out ro = {.b = b, .vertex = v};
        tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = st->n_layers, .tmp = tmp,
                              .upperdir = diff};
        json_t *hosts = b->o->add_hosts ? strv_json((char **)b->o->add_hosts) : NULL;
        tug_step_cmd cmd = {.argv = cargv, .env = cenv, .user = user, .cwd = wd && *wd ? wd : "/",
                            .network = network, .extra_hosts = hosts, .output = run_output,
                            .userdata = &ro};
        if (r == 0)
            r = tug_step_run(b->s, &fs, &cmd, &status, err);
        json_decref(hosts);
        if (r == 0 && status != 0) {
            cleanup_free char *shown = json_dumps(argv, JSON_COMPACT);
            r = tug_error_user(err, "process \"%s\" did not complete successfully: exit code: %d",
                               joined ? joined : "", status);
            (void)shown;
        }
        if (r == 0)
            r = tug_step_finish(&fs, err);
        bool empty = false;
        if (r == 0) {
            char *t = steal_pointer(&tmp);
            r = commit_step(b, st, t, key ? key : "", in->original, &empty, err);
            free(t);
        } else if (tmp) {
            tug_error *ignored = NULL;
            tug_rm_rf(tmp, &ignored);
            tug_error_free(ignored);
        }
        if (r == 0)
            r = tug_stage_add_history(st, created_by, empty, err);
        if (r == 0)
            ev_done(b, v);
        else
            ev_fail(b, v, err);
    }
    json_decref(argv);
    json_decref(env);
    tug_df_free(run);
    return r;
}

/* WORKDIR's path: relative ones join the current one; cleaned. */
static char *join_workdir(const tug_stage *st, const char *path)
{
    const char *cur = json_string_value(json_object_get(st->config, "WorkingDir"));
    char *joined = NULL;
    if (path[0] == '/')
        joined = strdup(path);
    else if (asprintf(&joined, "%s/%s", cur && *cur ? cur : "/", path) < 0)
        joined = NULL;
    if (joined == NULL)
        return NULL;
    char *clean = tug_path_clean_abs(joined);
    free(joined);
    return clean;
}

typedef struct mkdir_job {
    const char *path;
    const char *user;
} mkdir_job;

static int mkdir_in(int rootfd, void *ud, tug_error **err)
{
    const mkdir_job *j = ud;
    uid_t uid = 0;
    gid_t gid = 0;
    /* BuildKit makes the directory as the stage's user */
    if (j->user && *j->user && tug_fs_resolve_owner(rootfd, j->user, &uid, &gid, err) < 0) {
        tug_error_release(err);
        uid = 0;
        gid = 0;
    }
    return tug_fs_mkdir(rootfd, j->path, uid, gid, NULL, err);
}

/* Run fn in the stage's rootfs as a layer step: cached by key, committed when it changed
 * something. */
static int fs_step(builder *b, tug_stage *st, int v, const char *key, const char *description,
                   const char *created_by, tug_step_fs_fn fn, void *ud, tug_error **err)
{
    char k[65];
    tug_build_cache_key(key, k);
    tug_image_layer hit = {0};
    long long hit_created = 0;
    int got = b->o->no_cache ? 0 : tug_build_cache_get(b->s, k, &hit, &hit_created, err);
    if (got < 0)
        return ev_fail(b, v, err);
    if (got == 1) {
        bool empty = hit.chain_id == NULL;
        int r = take_cached(st, &hit, hit_created, err);
        tug_build_layer_clear(&hit);
        if (r == 0)
            r = tug_stage_add_history(st, created_by, empty, err);
        if (r < 0)
            return ev_fail(b, v, err);
        ev_cached(b, v);
        return 0;
    }
    cleanup_free char *tmp = NULL, *diff = NULL;
    cleanup_strv char **lowers = lower_dirs(b, st);
    if (tug_store_layer_tmp(b->s, &tmp, &diff, err) < 0)
        return ev_fail(b, v, err);
    tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = st->n_layers, .tmp = tmp,
                          .upperdir = diff};
    int r = tug_step_in_rootfs(&fs, fn, ud, err);
    if (r == 0)
        r = tug_step_finish(&fs, err);
    bool empty = false;
    if (r == 0) {
        char *t = steal_pointer(&tmp);
        r = commit_step(b, st, t, key, description, &empty, err);
        free(t);
    } else {
        tug_error *ignored = NULL;
        tug_rm_rf(tmp, &ignored);
        tug_error_free(ignored);
    }
    if (r == 0)
        r = tug_stage_add_history(st, created_by, empty, err);
    if (r < 0)
        return ev_fail(b, v, err);
    ev_done(b, v);
    return 0;
}

static int do_workdir(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    cleanup_free char *arg = NULL;
    if (tug_df_read_string(in, stage_lookup, st, &arg, err) < 0)
        return -1;
    cleanup_free char *path = join_workdir(st, arg);
    if (path == NULL)
        return tug_error_set(err, ENOMEM, "build");
    json_object_set_new(st->config, "WorkingDir", json_string(path));
    const char *user = json_string_value(json_object_get(st->config, "User"));
    cleanup_free char *detail = NULL, *key = NULL;
    if (asprintf(&detail, "%s\n%s", path, user ? user : "") < 0)
        return tug_error_set(err, ENOMEM, "build");
    key = key_text(st, "WORKDIR", detail);
    char label[96];
    step_label(b, label, sizeof(label));
    int v = ev_start(b, "%s %s", label, in->original);
    mkdir_job j = {.path = path, .user = user};
    return fs_step(b, st, v, key ? key : "", in->original, in->original, mkdir_in, &j, err);
}

/* ---- COPY and ADD ---- */

typedef struct copy_job {
    tug_fs_copy fc;
    /* COPY --from: the other rootfs's layers and the paths in it */
    char **from_lowers;
    size_t n_from;
    const char *const *from_paths;
    size_t n_from_paths;
    const char *scratch; /* where the other rootfs is mounted in the child */
} copy_job;

static int copy_in(int rootfd, void *ud, tug_error **err)
{
    copy_job *j = ud;
    if (j->from_paths == NULL)
        return tug_fs_copy_run(rootfd, &j->fc, err);
    int from = tug_step_mount_readonly((const char *const *)j->from_lowers, j->n_from,
                                       j->scratch, err);
    if (from < 0)
        return -1;
    j->fc.from_root = from;
    int r = tug_fs_copy_from(rootfd, &j->fc, j->from_paths, j->n_from_paths, err);
    close(from);
    return r;
}

/* COPY --from=NAME: an earlier stage (by name or index), else an image. */
static int copy_source_stage(builder *b, const char *from, const tug_stage **ret_stage,
                             tug_image **ret_img, tug_error **err)
{
    *ret_stage = NULL;
    *ret_img = NULL;
    char *end;
    long idx = strtol(from, &end, 10);
    for (size_t i = 0; i < b->df->n_stages; i++) {
        tug_stage *s = &b->stages[i];
        if ((s->name && strcasecmp(s->name, from) == 0) ||
            (*end == '\0' && end != from && idx == (long)i)) {
            if (s == b->cur || !s->done)
                return tug_error_user(err, "COPY --from=%s: the stage is not built before this "
                                           "one (a stage can copy only from an earlier one)",
                                      from);
            *ret_stage = s;
            return 0;
        }
    }
    return base_image(b, from, ret_img, err);
}

/* What a COPY or ADD step works with, read from its instruction. */
typedef struct copy_plan {
    tug_df_copy *cp;
    copy_job j;
    char *dest;
    const char **paths; /* local sources (or --from paths) */
    size_t n_paths;
    tug_fs_inline *inl; /* heredocs */
    size_t n_inl;
    bool wild;
    tug_copy_sources *srcs;
    tug_image *from_img;
    tug_stage from_tmp;
    char digest[TUG_DIGEST_LEN + 1];
    const char *sum; /* what the sources are, for the key */
} copy_plan;

static void copy_plan_clear(copy_plan *p)
{
    if (p->j.from_lowers) {
        for (size_t i = 0; p->j.from_lowers[i]; i++)
            free(p->j.from_lowers[i]);
        free(p->j.from_lowers);
    }
    tug_stage_clear(&p->from_tmp);
    tug_image_free(p->from_img);
    tug_copy_sources_free(p->srcs);
    free(p->inl);
    free(p->paths);
    free(p->dest);
    tug_df_free(p->cp);
}

static bool archive_name(const char *n)
{
    static const char *const exts[] = {".tar", ".tar.gz", ".tgz", ".tar.bz2",
                                       ".tar.xz", ".txz", ".tbz2", ".tar.zst"};
    size_t nl = strlen(n);
    for (size_t e = 0; e < TUG_ARRAY_SIZE(exts); e++) {
        size_t el = strlen(exts[e]);
        if (nl > el && strcmp(n + nl - el, exts[e]) == 0)
            return true;
    }
    return false;
}

/* Sources, heredocs and the destination of the instruction. */
static int plan_sources(const tug_stage *st, const tug_df_instruction *in, copy_plan *p,
                        tug_error **err)
{
    tug_df_copy *cp = p->cp;
    p->paths = calloc(cp->n_sources + 1, sizeof(char *));
    p->inl = calloc(cp->n_sources + 1, sizeof(*p->inl));
    if (p->paths == NULL || p->inl == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (size_t i = 0; i < cp->n_sources; i++) {
        const tug_df_source *s = &cp->sources[i];
        if (s->data) {
            p->inl[p->n_inl++] = (tug_fs_inline){.name = s->path, .data = s->data, .fd = -1,
                                                 .mode = 0644};
            continue;
        }
        if (cp->add && (strncmp(s->path, "http://", 7) == 0 ||
                        strncmp(s->path, "https://", 8) == 0 || strncmp(s->path, "git@", 4) == 0))
            return tug_error_user(err, "%s:%d: ADD from a URL (%s) is not supported yet by tug: "
                                       "download it in a RUN step",
                                  in->file, in->line, s->path);
        p->wild |= tug_glob_has_wildcards(s->path);
        p->paths[p->n_paths++] = s->path;
    }
    /* the destination: relative to WORKDIR; a trailing / or several sources make it a dir */
    size_t dl = strlen(cp->dest);
    bool slash = dl > 0 && cp->dest[dl - 1] == '/';
    if (cp->n_sources > 1 && !slash)
        return tug_error_user(err, "%s:%d: When using %s with more than one source file, the "
                                   "destination must be a directory and end with a /",
                              in->file, in->line, cp->add ? "ADD" : "COPY");
    p->dest = cp->dest[0] == '/' ? tug_path_clean_abs(cp->dest) : join_workdir(st, cp->dest);
    if (p->dest == NULL)
        return tug_error_set(err, ENOMEM, "build");
    p->j.fc.dest = p->dest;
    p->j.fc.dest_is_dir = slash || cp->n_sources > 1 || p->wild || strcmp(cp->dest, ".") == 0;
    p->j.fc.chown = cp->chown;
    p->j.fc.chmod = -1;
    p->j.fc.from_root = -1;
    if (cp->chmod) {
        char *end;
        long m = strtol(cp->chmod, &end, 8);
        if (*cp->chmod == '\0' || *end != '\0' || m < 0 || m > 07777)
            return tug_error_user(err, "%s:%d: invalid chmod parameter %s: use octal bits (0755)",
                                  in->file, in->line, cp->chmod);
        p->j.fc.chmod = m;
    }
    p->j.fc.inlines = p->inl;
    p->j.fc.n_inlines = p->n_inl;
    return 0;
}

/* COPY --from: the paths are read in the other stage's (or image's) layers. */
static int plan_from(builder *b, copy_plan *p, tug_error **err)
{
    const tug_stage *from_st = NULL;
    if (copy_source_stage(b, p->cp->from, &from_st, &p->from_img, err) < 0)
        return -1;
    if (p->from_img) {
        if (tug_stage_from_image(&p->from_tmp, p->from_img, err) < 0)
            return -1;
        from_st = &p->from_tmp;
    }
    const char *top = tug_stage_top_chain(from_st);
    p->sum = top ? top : "scratch";
    p->j.from_lowers = lower_dirs(b, from_st);
    p->j.n_from = from_st->n_layers;
    p->j.from_paths = p->paths;
    p->j.n_from_paths = p->n_paths;
    return p->j.from_lowers ? 0 : tug_error_set(err, ENOMEM, "build");
}

/* The context's sources, resolved and checksummed. */
static int plan_context(builder *b, const tug_df_instruction *in, copy_plan *p, tug_error **err)
{
    tug_copy_opts co = {.excludes = p->cp->excludes, .n_excludes = p->cp->n_excludes,
                        .parents = p->cp->parents};
    if (tug_context_resolve(b->ctx, p->paths, p->n_paths, &co, &p->srcs, err) < 0 ||
        tug_context_checksum(b->ctx, p->srcs, false, p->digest, err) < 0)
        return -1;
    p->sum = p->digest;
    p->j.fc.ctx = b->ctx;
    p->j.fc.sources = p->srcs;
    for (size_t i = 0; p->cp->add && i < p->srcs->n_matches; i++) {
        const tug_copy_match *m = &p->srcs->matches[i];
        /* an archive ADD unpacks it: not yet, so say so instead of copying it whole */
        if (!m->is_dir && m->name && archive_name(m->name))
            return tug_error_user(err, "%s:%d: ADD of an archive (%s) is not supported yet by "
                                       "tug: COPY it and unpack it in a RUN step",
                                  in->file, in->line, m->name);
    }
    return 0;
}

static char *copy_detail(const copy_plan *p)
{
    const tug_df_copy *cp = p->cp;
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "op", cp->add ? "add" : "copy", "sum",
                          p->sum ? p->sum : "", "dest", p->dest, "chown",
                          cp->chown ? cp->chown : "", "chmod", cp->chmod ? cp->chmod : "", "dir",
                          p->j.fc.dest_is_dir);
    if (d == NULL)
        return NULL;
    json_t *hd = json_array();
    for (size_t i = 0; i < p->n_inl; i++)
        json_array_append_new(hd, json_pack("[ss]", p->inl[i].name, p->inl[i].data));
    json_object_set_new(d, "inline", hd);
    json_t *fp = json_array();
    for (size_t i = 0; cp->from && i < p->n_paths; i++)
        json_array_append_new(fp, json_string(p->paths[i]));
    json_object_set_new(d, "paths", fp);
    char *t = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    return t;
}

static int do_copy(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    copy_plan p = {.sum = ""};
    int r = tug_df_read_copy(in, stage_lookup, st, &p.cp, err);
    if (r == 0)
        r = plan_sources(st, in, &p, err);
    if (r == 0 && p.cp->from)
        r = plan_from(b, &p, err);
    else if (r == 0 && p.n_paths > 0)
        r = plan_context(b, in, &p, err);
    cleanup_free char *detail = r == 0 ? copy_detail(&p) : NULL;
    cleanup_free char *key = detail ? key_text(st, p.cp->add ? "ADD" : "COPY", detail) : NULL;
    cleanup_free char *created_by = NULL;
    cleanup_free char *scratch = NULL;
    if (r == 0 && (key == NULL || asprintf(&created_by, "%s # buildkit", in->original) < 0 ||
                   asprintf(&scratch, "%s/tmp/from-%d", b->s->root, (int)getpid()) < 0))
        r = tug_error_set(err, ENOMEM, "build");
    if (r == 0) {
        char label[96];
        step_label(b, label, sizeof(label));
        int v = ev_start(b, "%s %s", label, in->original);
        p.j.scratch = scratch;
        r = fs_step(b, st, v, key, in->original, created_by, copy_in, &p.j, err);
    }
    copy_plan_clear(&p);
    return r;
}

/* ---- metadata ---- */

static json_t *object_at(json_t *config, const char *key)
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
        json_t *a = stage_shell(st);
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
    cleanup_free char *key = key_text(st, "META", detail);
    if (key == NULL)
        return tug_error_set(err, ENOMEM, "build");
    char k[65];
    tug_build_cache_key(key, k);
    tug_image_layer none = {0};
    long long created = 0;
    int got = b->o->no_cache ? 0 : tug_build_cache_get(b->s, k, &none, &created, err);
    if (got < 0)
        return -1;
    tug_build_layer_clear(&none);
    if (got == 0) {
        created = (long long)time(NULL);
        cleanup_error tug_error *cache_err = NULL;
        tug_build_cache_put(b->s, k, NULL, created, in->original, &cache_err);
    }
    st->created = created;
    st->nsec = 0;
    return tug_stage_add_history(st, in->original, true, err);
}

static int do_meta(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    json_t *cfg = st->config;
    int r = 0;
    switch (in->kind) {
    case TUG_DF_ENV:
    case TUG_DF_LABEL: {
        tug_df_pairs *p = NULL;
        if (tug_df_read_pairs(in, stage_lookup, st, &p, err) < 0)
            return -1;
        for (size_t i = 0; i < p->n && r == 0; i++) {
            if (in->kind == TUG_DF_ENV)
                r = tug_stage_set_env(st, p->v[i].key, p->v[i].value ? p->v[i].value : "", err);
            else
                json_object_set_new(object_at(cfg, "Labels"), p->v[i].key,
                                    json_string(p->v[i].value ? p->v[i].value : ""));
        }
        tug_df_free(p);
        break;
    }
    case TUG_DF_EXPOSE:
    case TUG_DF_VOLUME: {
        tug_df_words *w = NULL;
        if ((in->kind == TUG_DF_EXPOSE ? tug_df_read_expose(in, stage_lookup, st, &w, err)
                                       : tug_df_read_volume(in, stage_lookup, st, &w, err)) < 0)
            return -1;
        json_t *set = object_at(cfg, in->kind == TUG_DF_EXPOSE ? "ExposedPorts" : "Volumes");
        for (size_t i = 0; i < w->n; i++)
            json_object_set_new(set, w->v[i], json_object());
        tug_df_free(w);
        break;
    }
    case TUG_DF_USER:
    case TUG_DF_STOPSIGNAL: {
        char *v = NULL;
        if (tug_df_read_string(in, stage_lookup, st, &v, err) < 0)
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
        r = apply_arg(b, in, st->args, st, err);
        break;
    default:
        return tug_error_user(err, "%s:%d: %s here is not expected", in->file, in->line,
                              tug_df_kind_name(in->kind));
    }
    if (r < 0)
        return -1;
    return meta_history(b, st, in, err);
}

/* ---- stages ---- */

static bool makes_step(tug_df_kind k)
{
    return k == TUG_DF_RUN || k == TUG_DF_COPY || k == TUG_DF_ADD || k == TUG_DF_WORKDIR;
}

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
        step_label(b, label, sizeof(label));
        int v = ev_start(b, "%s FROM %s", label, prev->name);
        ev_cached(b, v);
    } else if (strcasecmp(from->image, "scratch") == 0) {
        st->config = json_object();
        st->history = json_array();
        st->created = 0;
        step_label(b, label, sizeof(label));
        b->step--; /* FROM scratch is no step of BuildKit's */
        if (!st->config || !st->history)
            r = tug_error_set(err, ENOMEM, "build");
    } else {
        cleanup_image tug_image *img = NULL;
        r = base_image(b, from->image, &img, err);
        if (r == 0 && img->config_error)
            r = tug_error_user(err, "%s (stored before tug checked image configs); remove the "
                                    "image with tug rmi %s",
                               img->config_error, from->image);
        if (r == 0)
            r = tug_stage_from_image(st, img, err);
        if (r == 0) {
            cleanup_reference tug_reference *ref = NULL;
            tug_error *ignored = NULL;
            cleanup_free char *full = NULL;
            if (tug_reference_parse(from->image, &ref, &ignored) == 0)
                full = tug_reference_string(ref);
            tug_error_free(ignored);
            step_label(b, label, sizeof(label));
            int v = ev_start(b, "%s FROM %s", label, full ? full : from->image);
            ev_cached(b, v);
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
        return do_run(b, st, in, err);
    case TUG_DF_COPY:
    case TUG_DF_ADD:
        return do_copy(b, st, in, err);
    case TUG_DF_WORKDIR:
        return do_workdir(b, st, in, err);
    default:
        return do_meta(b, st, in, err);
    }
}

static int build_stage(builder *b, size_t idx, tug_error **err)
{
    const tug_df_stage *ds = &b->df->stages[idx];
    tug_stage *st = &b->stages[idx];
    b->cur = st;
    b->step = 0;
    b->n_steps = 1;
    for (size_t i = ds->from + 1; i < ds->end; i++)
        if (makes_step(b->df->inst[i].kind))
            b->n_steps++;
    st->args = json_object();
    if (st->args == NULL)
        return tug_error_set(err, ENOMEM, "build");
    if (do_from(b, st, &b->df->inst[ds->from], err) < 0)
        return -1;
    for (size_t i = ds->from + 1; i < ds->end; i++)
        if (run_instruction(b, st, &b->df->inst[i], err) < 0)
            return -1;
    st->done = true;
    return 0;
}

/* The stages the target needs: itself, what it is FROM, what it copies from, transitively. */
static int mark_needed(builder *b, size_t idx, bool *needed, int depth, tug_error **err)
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
        }
        if (ref == NULL)
            continue;
        char *end;
        long n = strtol(ref, &end, 10);
        for (size_t s = 0; s < idx; s++) {
            const char *name = b->df->stages[s].name;
            if ((name && strcasecmp(name, ref) == 0) || (*end == '\0' && end != ref && n == (long)s))
                if (mark_needed(b, s, needed, depth + 1, err) < 0)
                    return -1;
        }
    }
    return 0;
}

/* ---- the image ---- */

static int export_image(builder *b, tug_stage *st, char **ret_id, tug_error **err)
{
    int v = ev_start(b, "exporting to image");
    ev_status(b, v, "exporting layers done");
    json_t *cfg = json_deep_copy(st->config);
    json_t *author = json_object_get(cfg, "tug.author");
    char *author_s = json_is_string(author) ? strdup(json_string_value(author)) : NULL;
    json_object_del(cfg, "tug.author");
    for (const char *const *l = b->o->labels; l && *l; l++) {
        const char *eq = strchr(*l, '=');
        cleanup_free char *k = eq ? strndup(*l, (size_t)(eq - *l)) : strdup(*l);
        json_object_set_new(object_at(cfg, "Labels"), k, json_string(eq ? eq + 1 : ""));
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
        return ev_fail(b, v, err);
    ev_status(b, v, "writing image %s done", id);
    for (const char *const *t = b->o->tags; t && *t; t++)
        ev_status(b, v, "naming to %s done", *t);
    ev_done(b, v);
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
    int v = ev_start(b, "[internal] load build definition from %s",
                     b->o->dockerfile && strcmp(b->o->dockerfile, "-") != 0 ? b->o->dockerfile
                                                                             : "Dockerfile");
    tug_context_opts co = {.context = b->o->context, .dockerfile = b->o->dockerfile,
                           .tmp_dir = tmp, .store = b->s, .stdin_fd = 0};
    if (tug_context_open(&co, &b->ctx, err) < 0)
        return ev_fail(b, v, err);
    size_t len = 0;
    tug_context_dockerfile(b->ctx, &len);
    char sz[32];
    human_size((long long)len, sz, sizeof(sz));
    ev_status(b, v, "transferring dockerfile: %s done", sz);
    ev_done(b, v);
    v = ev_start(b, "[internal] load .dockerignore");
    ev_status(b, v, "transferring context: %s done",
              tug_context_ignore(b->ctx) ? tug_context_ignore_name(b->ctx) : "2B");
    ev_done(b, v);
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
    for (size_t i = 0; i < b->df->n_meta_args; i++)
        if (apply_arg(b, &b->df->inst[i], b->meta, NULL, err) < 0)
            return -1;
    size_t target = 0;
    if (find_target(b, &target, err) < 0)
        return -1;
    b->stages = calloc(b->df->n_stages, sizeof(*b->stages));
    cleanup_free bool *needed = calloc(b->df->n_stages, sizeof(bool));
    if (b->stages == NULL || needed == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (size_t i = 0; i < b->df->n_stages; i++) {
        b->stages[i].index = (int)i;
        b->stages[i].name = b->df->stages[i].name ? strdup(b->df->stages[i].name) : NULL;
    }
    if (mark_needed(b, target, needed, 0, err) < 0)
        return -1;
    for (size_t i = 0; i <= target; i++)
        if (needed[i] && build_stage(b, i, err) < 0)
            return -1;
    return export_image(b, &b->stages[target], ret_image_id, err);
}

int tug_build(tug_store *s, const tug_build_opts *o, char **ret_image_id, tug_error **err)
{
    builder b = {.s = s, .o = o};
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
