/* The build executor's own parts (build.c, build_steps.c, build_copy.c, build_meta.c): the
 * builder's state and what they share. Not for other modules: build.h is the interface. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../image/manifest.h"
#include "../store/store.h"
#include "../util/error.h"
#include "build.h"
#include "context.h"
#include "dockerfile.h"
#include "stage.h"
#include "step.h"

/* Bump when a step's meaning changes: old cache rows then miss. */
#define CACHE_KEY_VERSION "tug-build-1"
/* The image config's field holding its steps' cache keys (docs/build-cache.md). */
#define BLD_CACHE_RECORD "tug.build.cache.v1"

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
    char label[96];  /* the last step's "[2/5]" */
    char missed[96]; /* the stage's last step that missed the cache, "" for none */
    /* --cache-from: the images, and their records' entries by key */
    tug_image **from_imgs;
    size_t n_from;
    json_t *from_keys; /* key -> {image, layer, created} */
    /* RUN --mount binds: 1 once the builder has a mount namespace of its own, -errno when it
     * could not have one, 0 before (build_mounts.c) */
    int private_ns;
    /* a stage built in a process of its own (build_stages.c): readable or hung up once the
     * build is cancelled (a RUN's container is then killed); -1 otherwise */
    int cancel_fd;
    /* the instruction at work, for the classic builder's step events: the cache gave it, a
     * failed RUN's exit status, the base image a FROM took ("" for none) */
    bool step_cached;
    int run_status;
    char from_id[TUG_DIGEST_LEN + 8];
} builder;

/* A step as the cache sees it (build_cache.c). */
typedef struct bld_cache_step {
    const char *kind;   /* "RUN", "COPY", "ADD", "WORKDIR", "META" */
    const char *text;   /* the instruction as written */
    const char *key;    /* the key's text (bld_key_text) */
    const char *detail; /* what the key says the step does */
    const tug_copy_sources *srcs; /* COPY/ADD from the context: checksummed sources */
    /* filled by the lookup */
    char hex[65];
    const char *parent;  /* the stage's top chain ID before the step */
    bool hit_from_image; /* the hit came from a --cache-from image */
    json_t *inputs;      /* for the row of a miss */
} bld_cache_step;

/* Events: a vertex begins (its number back), says a line, is done, came from the cache, or
 * failed (-1 back, for returning). */
int bld_ev_start(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bld_ev_status(builder *b, int v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bld_ev_done(builder *b, int v);
void bld_ev_cached(builder *b, int v);
int bld_ev_fail(builder *b, int v, tug_error **err);
/* The classic builder's events of an instruction of the Dockerfile (an ONBUILD trigger has
 * none): it begins; it ended (ok: well, and the stage's state says what it made). */
void bld_ev_step(builder *b, const tug_df_instruction *in);
void bld_ev_step_end(builder *b, const tug_stage *st, const tug_df_instruction *in, bool ok);
/* "[2/4]" or "[name 2/4]": the next step's label. */
void bld_step_label(builder *b, char *out, size_t size);

/* $VAR lookups in a stage: ENV first, then its ARGs with a value. */
bool bld_stage_lookup(const char *name, const char **ret, void *ud);
/* ARG a[=x] ...: each name's value into vars (the global scope when st is NULL). */
int bld_apply_arg(builder *b, const tug_df_instruction *in, json_t *vars, const tug_stage *st,
                  tug_error **err);
/* The stage's ARGs with a value as "K=V" (RUN's environment gets them). */
char **bld_arg_env(const tug_stage *st);
/* An image FROM or COPY --from names: from the store, pulled when missing (or with --pull). */
int bld_base_image(builder *b, const char *name, tug_image **ret, tug_error **err);
/* COPY --from=NAME: an earlier stage by name or index, else an image. */
int bld_copy_source_stage(builder *b, const char *from, const tug_stage **ret_stage,
                          tug_image **ret_img, tug_error **err);

/* The stage's layer dirs, bottom first (NULL-terminated). */
char **bld_lower_dirs(builder *b, const tug_stage *st, tug_error **err);
/* A step's cache key text: where it starts and what it does. */
char *bld_key_text(const tug_stage *st, const char *what, const char *detail);
/* The cache's answer for a step: 1 on a hit (from this store, else a --cache-from image), 0 on
 * a miss, which the vertex v explains when an earlier version of the step is known (v 0: a
 * step with no vertex). A hit's layer is in *ret (chain_id NULL: none). */
int bld_cache_get(builder *b, const tug_stage *st, int v, bld_cache_step *cs,
                  tug_image_layer *ret, long long *ret_created, tug_error **err);
/* A layer step's lookup: on a hit its layer and history are on the stage and the vertex says
 * CACHED (1); 0 on a miss. */
int bld_cached_step(builder *b, tug_stage *st, int v, bld_cache_step *cs,
                    const char *created_by, tug_error **err);
/* The step's row (layer NULL: none), with its inputs; failures only cost the next build. */
void bld_cache_put(builder *b, const tug_stage *st, bld_cache_step *cs,
                   const tug_image_layer *l, long long created);
/* The step in the stage's record for the image (layer: it made the stage's top layer). */
int bld_cache_note(tug_stage *st, const char *hex, bool layer, long long created, tug_error **err);
void bld_cache_step_clear(bld_cache_step *cs);
/* --cache-from: each image's record, checked against its layers (a warning when it has none). */
int bld_cache_from_open(builder *b, tug_error **err);
/* A step's finished tmp dir into the store (no layer when empty), then its cache row. */
int bld_commit_step(builder *b, tug_stage *st, char *tmp, bld_cache_step *cs, bool *ret_empty,
                    tug_error **err);
/* fn in the stage's rootfs as a layer step, cached. */
int bld_fs_step(builder *b, tug_stage *st, int v, bld_cache_step *cs, const char *created_by,
                tug_step_fs_fn fn, void *ud, tug_error **err);
/* WORKDIR's rule: a relative path joins the current one; cleaned. */
char *bld_join_workdir(const tug_stage *st, const char *path);
json_t *bld_strv_json(char **v);
char **bld_json_strv(json_t *a);
/* The stage's SHELL, or ["/bin/sh", "-c"] (a new reference). */
json_t *bld_stage_shell(const tug_stage *st);
/* config[key] as an object, made when missing. */
json_t *bld_object_at(json_t *config, const char *key);

/* RUN --mount (build_mounts.c): first what the mounts are, for the step's cache key; then, when
 * the step runs, each made ready for its container; cleared after the step. */
typedef struct bld_mount_item bld_mount_item;
typedef struct bld_mounts {
    json_t *key;  /* the mounts as the key sees them: never a secret's or a cache's content */
    json_t *oci;  /* the container's mounts (after setup) */
    char **env;   /* secrets given as variables, K=V: for the container only */
    bld_mount_item *items;
    size_t n_items;
    int *fds;     /* layers and locks, held while the step runs */
    size_t n_fds;
    char *stage_dir;  /* $ROOT/tmp/bmnt-PID-*: staging points, copies */
    char **staged;    /* the staging points that are mounts */
    size_t n_staged;
    char *secret_dir; /* secrets' files, on the run directory's tmpfs */
} bld_mounts;
int bld_mounts_plan(builder *b, tug_stage *st, const tug_df_instruction *in,
                    const tug_df_run *run, bld_mounts *ret, tug_error **err);
int bld_mounts_setup(builder *b, const tug_df_instruction *in, bld_mounts *m, tug_error **err);
/* Once the step ran: its staging mounts, held files and secrets go (clear does it too). */
void bld_mounts_release(bld_mounts *m);
void bld_mounts_clear(bld_mounts *m);
/* What RUN --mount from= options name in a RUN instruction, as written (from= takes no
 * variables): NULL-terminated, NULL when none. For the stages a target needs. */
char **bld_mounts_froms(const tug_df_instruction *in);

/* The build was cancelled (another stage failed): the stage stops before its next step. */
bool bld_cancelled(builder *b);
/* One stage, FROM to its last instruction (build.c). */
int bld_build_stage(builder *b, size_t idx, tug_error **err);
/* The needed stages (deps[i * n + j]: stage i needs stage j), each once what it needs is
 * built: independent ones at the same time, each in a process of its own (build_stages.c). */
int bld_build_stages(builder *b, const bool *needed, const bool *deps, size_t target,
                     tug_error **err);

int bld_do_run(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err);
int bld_do_workdir(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err);
int bld_do_copy(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err);
/* ENV, LABEL, EXPOSE, VOLUME, USER, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD,
 * MAINTAINER, ARG: the config, and a history entry. */
int bld_do_meta(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err);
