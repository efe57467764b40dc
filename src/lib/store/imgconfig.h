/* Image configs (and docker's container Config inside them) checked field by field, once, where
 * they enter the store (pull, import; later load and build), and again where the store reads back
 * one written before tug checked them: readers only ever see values of the right type. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../util/error.h"

/* The largest image config blob tug fetches and reads. */
#define TUG_CONFIG_MAX_BYTES (8 * 1024 * 1024)
/* The most entries one list or object of a config may hold (Cmd, Env, Labels, history...). */
#define TUG_CONFIG_MAX_ENTRIES 10000

/* Check an image config document: every field docker defines (those tug reads and the others)
 * has its type, lists and objects hold at most TUG_CONFIG_MAX_ENTRIES entries, strings hold no
 * NUL, digests, times, ports and volume paths are well formed. The first problem is a user error
 * naming the field: "image config sha256:0123456789ab: Cmd[1] is not a string". */
int tug_image_config_check(json_t *doc, const char *id, tug_error **err);
/* The same for a config read back from the store: every field that fails is removed, and -1
 * comes back with the first problem (0 when there was none). doc must be an object. */
int tug_image_config_repair(json_t *doc, const char *id, tug_error **err);
/* docker's container Config (an image config's "config", a create request's "Config"); what
 * starts the messages ("image config sha256:...", "container abc"). With repair, fields that
 * fail are removed as above. */
int tug_container_config_check(json_t *cfg, const char *what, bool repair, tug_error **err);
