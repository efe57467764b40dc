/* cp: files between a container and the host, as `docker cp` copies them: a path in the container
 * is always resolved inside its root (symlinks, "..", absolute links stay in it), through what is
 * mounted in it (volumes, binds, a running container's tmpfs), and the data goes as a tar stream,
 * so that files bigger than memory stream. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../store/store.h"
#include "../util/error.h"

typedef struct tug_cp_opts {
    bool archive; /* -a: owners kept as they are at the source; without it what is written is
                     owned by the destination's user (root in the container, the caller on the
                     host), as docker documents it */
    bool follow;  /* -L: a symlink at the source is copied as what it points to */
    bool no_dir_swap; /* into a container: docker's noOverwriteDirNonDir (tug_untar_opts) */
} tug_cp_opts;

/* The container's src (what: ID, prefix or name) to the host path dst, or, dst NULL, as a tar
 * written to out (docker cp CONTAINER:SRC -). */
int tug_cp_from_container(tug_store *s, const char *what, const char *src, const char *dst, int out,
                          const tug_cp_opts *o, tug_error **err);

/* The host path src, or, src NULL, the tar read from in (unpacked into dst, which must be a
 * directory), to the container's dst. */
int tug_cp_to_container(tug_store *s, const char *what, const char *dst, const char *src, int in,
                        const tug_cp_opts *o, tug_error **err);

/* The same, the tar read with fn(arg, buf, n) (bytes, 0 at its end, -1 with errno), as a
 * request's body streams it (tug serve's PUT /containers/{id}/archive). fn is called in a
 * child process. */
typedef ssize_t (*tug_cp_read_fn)(void *arg, void *buf, size_t n);
int tug_cp_tar_to_container(tug_store *s, const char *what, const char *dst, tug_cp_read_fn fn,
                            void *arg, const tug_cp_opts *o, tug_error **err);

/* What is at path in the container, not following a last symlink (docker's stat of a path
 * for cp): its name (the path's last element), lstat's figures and a symlink's target. A
 * missing path is not-found, in docker's words. */
typedef struct tug_cp_stat_info {
    char *name;
    unsigned mode; /* st_mode */
    long long size, mtime_s;
    long mtime_ns;
    char *link_target; /* NULL unless a symlink */
} tug_cp_stat_info;
int tug_cp_stat(tug_store *s, const char *what, const char *path, tug_cp_stat_info *ret,
                tug_error **err);
void tug_cp_stat_info_clear(tug_cp_stat_info *i);

/* ---- docker's path rules (pure) ---- */

typedef struct tug_cp_src {
    bool is_dir;
    bool contents;    /* the path ended in "/.": what the directory holds, not itself */
    const char *base; /* its last element */
} tug_cp_src;

typedef struct tug_cp_dest {
    bool exists, is_dir;
    bool asserts_dir;   /* the path ended in '/' (or "/.") */
    bool parent_exists; /* when it does not exist */
    const char *base;   /* its last element */
} tug_cp_dest;

typedef enum {
    TUG_CP_OK,
    TUG_CP_COPY_DIR,  /* a directory onto a file: "cannot copy directory" */
    TUG_CP_NO_DIR,    /* "no such directory" */
    TUG_CP_NO_PARENT, /* the directory that would hold it is not there */
} tug_cp_verdict;

typedef struct tug_cp_plan {
    bool into_parent; /* unpack in the destination's parent, else in the destination itself */
    bool make_dir;    /* make the destination (a directory's contents into a new one) first */
    const char *as;   /* the name of the source's top entry in the tar ("." for contents) */
} tug_cp_plan;

/* Where and as what a source lands at a destination, as docker's CopyInfoDestinationPath and
 * PrepareArchiveCopy decide it. */
tug_cp_verdict tug_cp_decide(const tug_cp_src *src, const tug_cp_dest *dest, tug_cp_plan *ret);

/* Split a path as docker reads it: *ret_contents when it ends in "/." (or is "/"),
 * *ret_asserts_dir when it ends in '/' or "/."; the rest cleaned lexically (Go's filepath.Clean)
 * into a new string, "/" at the least for an absolute path, "." for a relative one. */
char *tug_cp_clean(const char *path, bool *ret_contents, bool *ret_asserts_dir);
