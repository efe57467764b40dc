/* File-system helpers: atomic writes, recursive create and remove. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#include <stdbool.h>

/* Close every fd from `first` up, or with cloexec mark them close-on-exec (for fds a process
 * still needs until its exec). close_range where the kernel has it, /proc/self/fd otherwise. */
int tug_close_fds_from(int first, bool cloexec);
/* Close every fd above 2 but those in keep[]. */
int tug_close_fds_except(const int *keep, size_t n_keep);

int tug_mkdir_p(const char *path, mode_t mode, tug_error **err);
/* Write data to path through a temp file in the same directory, fsync, rename. */
int tug_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          tug_error **err);
/* The same without fsync: for files a crash of the machine may lose (kill -9 cannot). */
int tug_write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                 tug_error **err);
/* Read a whole file; *ret_data is NUL-terminated. */
int tug_read_file(const char *path, char **ret_data, size_t *ret_len, tug_error **err);
/* Remove a tree without following symlinks; a missing path is success. */
int tug_rm_rf(const char *path, tug_error **err);
int tug_rm_rf_at(int dirfd, const char *name, tug_error **err);
/* Sum of st_size of regular files under path (what docker reports as a layer's size). */
int tug_dir_size(const char *path, long long *ret_size, tug_error **err);
