/* File-system helpers: atomic writes, recursive create and remove. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

#include <stdbool.h>

/* Close every fd from `first` up, or with cloexec mark them close-on-exec (for fds a process
 * still needs until its exec). close_range where the kernel has it, /proc/self/fd otherwise. */
int tug_close_fds_from(int first, bool cloexec);
/* Close every fd above 2 but those in keep[]. */
int tug_close_fds_except(const int *keep, size_t n_keep);

int tug_mkdir_p(const char *path, mode_t mode, tug_error **err);
/* The directory of the running binary, where tug's helper programs live (tug-monitor,
 * tug-dns); /usr/local/bin when /proc cannot tell. */
char *tug_self_dir(void);
/* Write data to path through a temp file in the same directory, fsync, rename. */
int tug_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          tug_error **err);
/* The same through a temp file made from tmpl (a mkostemp template on path's file system), for
 * writers whose leftovers a sweep must tell by name. */
int tug_write_file_atomic_via(const char *tmpl, const char *path, const void *data, size_t len,
                              mode_t mode, tug_error **err);
/* The same without fsync: for files a crash of the machine may lose (kill -9 cannot). */
int tug_write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                 tug_error **err);
/* Write all of buf to fd (a pipe or socket may take it in parts); -1 with errno on failure. */
int tug_write_all(int fd, const void *buf, size_t len);
/* The same at offset off of a file (pwrite); -1 with errno on failure. */
int tug_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read exactly len bytes; -1 on failure (errno) or at end of file before len (errno 0). */
int tug_read_all(int fd, void *buf, size_t len);
/* Read a whole file; *ret_data is NUL-terminated. */
int tug_read_file(const char *path, char **ret_data, size_t *ret_len, tug_error **err);
/* Walk the tree under the directory at rootfd, depth first, holding two descriptors at the
 * most whatever its depth (see fs.c). fn sees every entry that is not a directory (FILE, with
 * the type readdir gave), and every directory twice: ENTER before its contents (return 1 to
 * skip it, 0 to go in) and LEAVE after them, both with the directory open as fd. It returns
 * < 0 with *err set to stop the walk. Nothing is followed through a symlink. */
typedef enum { TUG_WALK_FILE, TUG_WALK_ENTER, TUG_WALK_LEAVE } tug_walk_event;
typedef struct tug_walk_entry {
    tug_walk_event event;
    int dirfd;             /* the directory holding the entry */
    const char *name;      /* its name there */
    int fd;                /* ENTER, LEAVE: the directory itself; FILE: -1 */
    const struct stat *st; /* ENTER, LEAVE: its stat; FILE: NULL */
    unsigned char d_type;  /* DT_* */
    bool other_fs;         /* ENTER: on another file system than its parent (a mount point) */
} tug_walk_entry;
typedef struct tug_walk tug_walk;
typedef int (*tug_walk_fn)(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err);
/* root_name is what messages call the root ("/var/lib/tug/containers/ID"). */
int tug_walk_tree(int rootfd, const char *root_name, tug_walk_fn fn, void *data, tug_error **err);
/* The same walk with each directory's entries in the byte order of their names, a subdirectory
 * visited (ENTER, its contents, LEAVE) where its name falls among the files: the order of Go's
 * filepath.Walk, in which docker writes layers. It keeps every name of the directories it is in. */
int tug_walk_tree_sorted(int rootfd, const char *root_name, tug_walk_fn fn, void *data,
                         tug_error **err);
/* root_name/dir/.../name of an entry of the walk's current directory (name may be NULL), for
 * messages: one path, its middle elided when it is very long. w NULL: name alone. */
char *tug_walk_path(const tug_walk *w, const char *name);
/* Set *err to "VERB PATH: <errnum's text>" for that path; returns -1 (or -errnum). */
int tug_walk_fail(const tug_walk *w, const char *name, int errnum, const char *verb,
                  tug_error **err);

/* Remove a tree without following symlinks or going into a mount point; a missing path is
 * success. An error names the one path that failed. */
int tug_rm_rf(const char *path, tug_error **err);
int tug_rm_rf_at(int dirfd, const char *name, tug_error **err);
/* Sum of st_size of regular files and symlinks under path, on path's file system (what docker
 * reports as a layer's size). *ret_size is what was counted, even on failure. */
int tug_dir_size(const char *path, long long *ret_size, tug_error **err);
