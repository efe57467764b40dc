/* Mount stubs: what the runtime left in an overlay upper dir only to have somewhere to mount
 * (an empty /etc/hosts, a /proc dir, an /etc copied up to hold them) where the image had
 * nothing. They are no change of the container's or the step's: a build step removes them
 * from its layer, commit and diff leave them out. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../util/error.h"

/* The stubs in upper (an overlay upper dir over lowers, bottom first) for the mount points
 * dests (absolute paths in the rootfs): for each, the mount point itself when it is an empty
 * file or directory the image did not have (or a directory the image has, copied up unchanged
 * and empty), then each parent copied up only to hold stubs. *ret_paths (NULL-terminated, may
 * be empty) lists them relative to upper, without a leading '/', each before its parent, so
 * removing them in that order empties every directory before it goes. */
int tug_mount_stubs(const char *upper, char *const *lowers, size_t n_lower,
                    const char *const *dests, size_t n_dests, char ***ret_paths, tug_error **err);

/* Remove them (a build step's upper dir, which nothing uses any more), quietly: a stub that
 * will not go stays. */
void tug_mount_stubs_remove(const char *upper, char *const *paths);

/* Is there something at path (relative) in one of lowers (bottom first)? *ret gets the lstat
 * of the topmost one. Each layer is looked at alone: a whiteout above does not hide it. */
bool tug_in_lowers(char *const *lowers, size_t n_lower, const char *path, struct stat *ret);

/* Is path (relative to the tree, no leading '/') one of paths? */
bool tug_stub_listed(char *const *paths, const char *path);
