/* Build steps that make layers: the cache around them, RUN, WORKDIR, and the rootfs step COPY
 * and ADD go through. */
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
#include "../store/layer.h"

/* ---- steps that make layers ---- */

char **bld_lower_dirs(builder *b, const tug_stage *st, tug_error **err)
{
    char **v = calloc(st->n_layers + 1, sizeof(char *));
    for (size_t i = 0; v && i < st->n_layers; i++)
        if ((v[i] = tug_store_layer_dir(b->s, st->layers[i].chain_id)) == NULL)
            cleanup_strvp(&v), v = NULL;
    if (v == NULL) {
        tug_error_set(err, ENOMEM, "build");
        return NULL;
    }
    /* an EROFS layer is mounted for the step's overlay */
    if (tug_store_layers_ready(b->s, v, st->n_layers, err) < 0)
        cleanup_strvp(&v), v = NULL;
    return v;
}

/* The cache key's text: what the step starts from and everything it does. */
char *bld_key_text(const tug_stage *st, const char *what, const char *detail)
{
    const char *top = tug_stage_top_chain(st);
    char *t = NULL;
    if (asprintf(&t, "%s\n%s\n%s\n%s", CACHE_KEY_VERSION, top ? top : "scratch", what,
                 detail) < 0)
        return NULL;
    return t;
}

/* A step's tmp dir finished: into the store as a layer (none when it is empty), then the cache
 * row. */
int bld_commit_step(builder *b, tug_stage *st, char *tmp, bld_cache_step *cs, bool *ret_empty,
                    tug_error **err)
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
    bld_cache_put(b, st, cs, *ret_empty ? NULL : &l, st->created);
    if (!*ret_empty && tug_stage_push_layer(st, &l, err) < 0)
        return -1;
    return bld_cache_note(st, cs->hex, !*ret_empty, st->created, err);
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

json_t *bld_strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

char **bld_json_strv(json_t *a)
{
    size_t n = json_array_size(a), i;
    char **v = calloc(n + 1, sizeof(char *));
    json_t *e;
    json_array_foreach(a, i, e) v[i] = strdup(json_string_value(e) ? json_string_value(e) : "");
    return v;
}

/* The stage's shell, or docker's default. */
json_t *bld_stage_shell(const tug_stage *st)
{
    json_t *sh = json_object_get(st->config, "Shell");
    if (json_is_array(sh) && json_array_size(sh) > 0)
        return json_incref(sh);
    return json_pack("[ss]", "/bin/sh", "-c");
}

/* BuildKit's history line of a RUN: "RUN |N K=V ... cmd # buildkit", the build args in use. */
static char *run_history(const char *joined, char **args)
{
    tug_strbuf b = {0};
    tug_strbuf_adds(&b, "RUN ");
    size_t n = 0;
    for (char **a = args; a && *a; a++)
        n++;
    if (n) {
        char count[32];
        snprintf(count, sizeof(count), "|%zu", n);
        tug_strbuf_adds(&b, count);
        for (char **a = args; *a; a++) {
            tug_strbuf_addc(&b, ' ');
            tug_strbuf_adds(&b, *a);
        }
        tug_strbuf_addc(&b, ' ');
    }
    tug_strbuf_adds(&b, joined ? joined : "");
    tug_strbuf_adds(&b, " # buildkit");
    return tug_strbuf_steal(&b);
}

/* The step's environment: the stage's, with secrets given as variables winning. */
static char **run_env(json_t *env, char **secrets)
{
    json_t *all = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        const char *kv = json_string_value(e);
        bool hidden = false;
        for (char **s = secrets; kv && s && *s && !hidden; s++) {
            size_t n = strcspn(*s, "=");
            hidden = strncmp(kv, *s, n) == 0 && (kv[n] == '=' || kv[n] == '\0');
        }
        if (!hidden)
            json_array_append(all, e);
    }
    for (char **s = secrets; s && *s; s++)
        json_array_append_new(all, json_string(*s));
    char **v = bld_json_strv(all);
    json_decref(all);
    return v;
}

int bld_do_run(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    tug_df_run *run = NULL;
    if (tug_df_read_run(in, bld_stage_lookup, st, &run, err) < 0)
        return -1;
    if (run->script_path || run->n_devices > 0) {
        const char *what = run->script_path ? "a #! heredoc" : "RUN --device";
        tug_df_free(run);
        return tug_error_user(err, "%s:%d: %s is not supported yet by tug", in->file, in->line,
                              what);
    }
    bld_mounts ms = {0};
    if (run->n_mounts > 0 && bld_mounts_plan(b, st, in, run, &ms, err) < 0) {
        tug_df_free(run);
        return -1;
    }
    json_t *argv = json_array();
    if (run->cmd.shell) {
        json_decref(argv);
        argv = bld_stage_shell(st);
        json_array_append_new(argv, json_string(run->cmd.argv[0]));
    } else {
        for (size_t i = 0; i < run->cmd.argc; i++)
            json_array_append_new(argv, json_string(run->cmd.argv[i]));
    }
    const char *network = run->network == TUG_DF_NETWORK_NONE   ? "none"
                          : run->network == TUG_DF_NETWORK_HOST ? "host"
                                                                : b->o->network;
    cleanup_strv char **args = bld_arg_env(st);
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
    json_t *desc = json_pack("{s:s,s:O,s:O,s:s,s:s,s:s,s:o}", "op", "run", "argv", argv, "env",
                             env, "user", user ? user : "", "cwd", wd && *wd ? wd : "/",
                             "network", network, "hosts",
                             b->o->add_hosts ? bld_strv_json((char **)b->o->add_hosts)
                                             : json_array());
    /* the mounts as specs only: no secret, no cache mount's content */
    if (json_array_size(ms.key) > 0)
        json_object_set(desc, "mounts", ms.key);
    cleanup_free char *detail = json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(desc);
    cleanup_free char *joined = tug_json_join_words(argv);
    cleanup_free char *created_by = run_history(joined, args);
    char label[96];
    bld_step_label(b, label, sizeof(label));
    int v = bld_ev_start(b, "%s %s", label, run->display ? run->display : in->original);
    cleanup_free char *key = bld_key_text(st, "RUN", detail ? detail : "");
    bld_cache_step cs = {.kind = "RUN", .text = in->original, .key = key ? key : "",
                         .detail = detail ? detail : ""};
    int got = bld_cached_step(b, st, v, &cs, created_by, err);
    int r = 0;
    if (got < 0) {
        r = bld_ev_fail(b, v, err);
    } else if (got == 0) {
        cleanup_free char *tmp = NULL, *diff = NULL;
        cleanup_strv char **lowers = bld_lower_dirs(b, st, err);
        cleanup_strv char **cargv = bld_json_strv(argv);
        r = lowers ? tug_store_layer_tmp(b->s, &tmp, &diff, err) : -1;
        if (r == 0 && run->n_mounts > 0)
            r = bld_mounts_setup(b, in, &ms, err);
        cleanup_strv char **cenv = run_env(env, ms.env);
        int status = 0;
        run_out ro = {.b = b, .vertex = v};
        tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = st->n_layers, .tmp = tmp,
                              .upperdir = diff};
        json_t *hosts = b->o->add_hosts ? bld_strv_json((char **)b->o->add_hosts) : NULL;
        tug_step_cmd cmd = {.argv = cargv, .env = cenv, .user = user, .cwd = wd && *wd ? wd : "/",
                            .network = network, .extra_hosts = hosts, .mounts = ms.oci,
                            .output = run_output, .userdata = &ro,
                            .cancel_fd = b->cancel_fd > 0 ? b->cancel_fd : 0};
        if (r == 0)
            r = tug_step_run(b->s, &fs, &cmd, &status, err);
        bld_mounts_release(&ms);
        json_decref(hosts);
        if (r == 0 && status != 0)
            b->run_status = status;
        if (r == 0 && status != 0)
            r = tug_error_user(err, "process \"%s\" did not complete successfully: exit code: %d",
                               joined ? joined : "", status);
        if (r == 0)
            r = tug_step_finish(&fs, err);
        bool empty = false;
        if (r == 0) {
            char *t = steal_pointer(&tmp);
            r = bld_commit_step(b, st, t, &cs, &empty, err);
            free(t);
        } else if (tmp) {
            tug_error *ignored = NULL;
            tug_rm_rf(tmp, &ignored);
            tug_error_free(ignored);
        }
        if (r == 0)
            r = tug_stage_add_history(st, created_by, empty, err);
        if (r == 0)
            bld_ev_done(b, v);
        else
            bld_ev_fail(b, v, err);
    }
    bld_cache_step_clear(&cs);
    json_decref(argv);
    json_decref(env);
    bld_mounts_clear(&ms);
    tug_df_free(run);
    return r;
}

/* WORKDIR's path: relative ones join the current one; cleaned. */
char *bld_join_workdir(const tug_stage *st, const char *path)
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
int bld_fs_step(builder *b, tug_stage *st, int v, bld_cache_step *cs, const char *created_by,
                tug_step_fs_fn fn, void *ud, tug_error **err)
{
    int got = bld_cached_step(b, st, v, cs, created_by, err);
    if (got != 0)
        return got < 0 ? bld_ev_fail(b, v, err) : 0;
    cleanup_free char *tmp = NULL, *diff = NULL;
    cleanup_strv char **lowers = bld_lower_dirs(b, st, err);
    if (lowers == NULL || tug_store_layer_tmp(b->s, &tmp, &diff, err) < 0)
        return bld_ev_fail(b, v, err);
    tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = st->n_layers, .tmp = tmp,
                          .upperdir = diff};
    int r = tug_step_in_rootfs(&fs, fn, ud, err);
    if (r == 0)
        r = tug_step_finish(&fs, err);
    bool empty = false;
    if (r == 0) {
        char *t = steal_pointer(&tmp);
        r = bld_commit_step(b, st, t, cs, &empty, err);
        free(t);
    } else {
        tug_error *ignored = NULL;
        tug_rm_rf(tmp, &ignored);
        tug_error_free(ignored);
    }
    if (r == 0)
        r = tug_stage_add_history(st, created_by, empty, err);
    if (r < 0)
        return bld_ev_fail(b, v, err);
    bld_ev_done(b, v);
    return 0;
}

int bld_do_workdir(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    cleanup_free char *arg = NULL;
    if (tug_df_read_string(in, bld_stage_lookup, st, &arg, err) < 0)
        return -1;
    cleanup_free char *path = bld_join_workdir(st, arg);
    if (path == NULL)
        return tug_error_set(err, ENOMEM, "build");
    json_object_set_new(st->config, "WorkingDir", json_string(path));
    const char *user = json_string_value(json_object_get(st->config, "User"));
    cleanup_free char *detail = NULL, *key = NULL;
    if (asprintf(&detail, "%s\n%s", path, user ? user : "") < 0)
        return tug_error_set(err, ENOMEM, "build");
    key = bld_key_text(st, "WORKDIR", detail);
    char label[96];
    bld_step_label(b, label, sizeof(label));
    int v = bld_ev_start(b, "%s %s", label, in->original);
    mkdir_job j = {.path = path, .user = user};
    bld_cache_step cs = {.kind = "WORKDIR", .text = in->original, .key = key ? key : "",
                         .detail = detail};
    int r = bld_fs_step(b, st, v, &cs, in->original, mkdir_in, &j, err);
    bld_cache_step_clear(&cs);
    return r;
}

