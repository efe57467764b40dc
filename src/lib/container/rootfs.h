/* Layers mounted read-only as one tree, in a mount namespace of the caller's own: the stage a
 * build step copies from, the filesystem a container exports. */
#pragma once
#include <stddef.h>

#include "../util/error.h"

/* Mount lowers (layer dirs, bottom first) read-only under scratch (made; its own links and
 * mount point) and return an O_PATH fd of that root. */
int tug_mount_layers_readonly(const char *const *lowers, size_t n, const char *scratch,
                              tug_error **err);
