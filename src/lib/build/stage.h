/* A build stage as it goes: its layers, docker's container config and the history the image
 * will carry, the variables in scope. Shared by the build executor's files. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"

typedef struct tug_stage {
    int index;            /* 0-based, in the Dockerfile's order */
    char *name;           /* AS name, lowercased; NULL when unnamed */
    char *base;           /* what FROM named, expanded ("busybox", "scratch", a stage) */
    json_t *config;       /* docker's container Config: Env, Cmd, Entrypoint, WorkingDir ... */
    json_t *history;      /* the image config's history entries */
    tug_image_layer *layers; /* the chain, bottom first (blob fields from the base or a step) */
    size_t n_layers;
    long long created;    /* unix seconds of the newest step: history and the image take it */
    long nsec;
    json_t *args;         /* ARGs declared in this stage: name -> value or null (no default) */
    bool cmd_set;         /* CMD given in this stage (ENTRYPOINT then keeps it) */
    bool done;
    char *image_id;       /* once exported or loaded for COPY --from */
    json_t *cache_record; /* the steps' cache keys, for the image (build_cache.c); or NULL */
} tug_stage;

void tug_stage_clear(tug_stage *st);
/* Deep copy of another stage's filesystem and config (FROM an earlier stage). */
int tug_stage_copy_from(tug_stage *dst, const tug_stage *src, tug_error **err);
/* Take a base image's layers, config and history. */
int tug_stage_from_image(tug_stage *st, const tug_image *img, tug_error **err);
/* Append a layer (owning its strings) to the chain. */
int tug_stage_push_layer(tug_stage *st, tug_image_layer *layer, tug_error **err);
/* The chain ID of the top layer, or NULL for an empty stage. */
const char *tug_stage_top_chain(const tug_stage *st);
/* A history entry: created_by as BuildKit writes it; empty_layer for metadata steps. */
int tug_stage_add_history(tug_stage *st, const char *created_by, bool empty_layer,
                          tug_error **err);
/* Env lookups: the value of NAME in the config's Env, NULL when unset. */
const char *tug_stage_env(const tug_stage *st, const char *name);
/* Set NAME=VALUE in the config's Env (replacing an earlier one, keeping the order). */
int tug_stage_set_env(tug_stage *st, const char *name, const char *value, tug_error **err);
