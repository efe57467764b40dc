/* Removing images as docker's rmi does (tags, digests, the image, then its unused layers),
 * refusing while containers use them: tug rmi, tug image prune and DELETE /images/{name}. */
#pragma once
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"

/* What went: untagged (a familiar "name:tag" or "name@digest") or deleted (an image ID or a
 * layer). */
typedef void (*tug_image_removed_fn)(void *userdata, bool deleted, const char *what);

/* Remove every reference of img, then the image itself unless containers use it
 * (*ret_deleted says whether it went). No garbage collection: tug_store_gc after. */
int tug_image_delete(tug_store *s, const tug_image *img, bool *ret_deleted,
                     tug_image_removed_fn fn, void *userdata, tug_error **err);

/* docker rmi of one name: a tag among several goes alone; otherwise the image and its layers
 * no other image has, unless containers use it (a conflict, 409: force takes the tags of an
 * image stopped containers use, never one a running container uses). Returns 0, -1 on a
 * failure, -2 when there is no such image (a not-found error). */
int tug_image_remove(tug_store *s, const char *name, bool force, tug_image_removed_fn fn,
                     void *userdata, tug_error **err);

/* Which images a prune takes (besides being unused, and untagged unless all): NULL takes all. */
typedef bool (*tug_image_prune_match_fn)(void *userdata, const tug_image *img);

/* docker image prune: every image no container uses, untagged ones only unless all, that
 * match passes; then the layers no image has. fn hears each removal (also when a later one
 * fails); *ret_reclaimed gets the bytes given back. */
int tug_image_prune(tug_store *s, bool all, tug_image_prune_match_fn match, void *match_data,
                    tug_image_removed_fn fn, void *userdata, long long *ret_reclaimed,
                    tug_error **err);
