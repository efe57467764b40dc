/* The build context of `tug build`: where COPY and ADD read from, read in place.
 *
 * A context is a directory of the user's, read where it is (never copied into a tarball), or
 * "-": standard input holds a tar (plain, gzip or zstd), unpacked into a private directory that
 * tug_context_free removes, or a lone Dockerfile (a context with no files). Its .dockerignore
 * (ignore.h) decides what COPY can see, as docker's context transfer does: an ignored path is
 * "not found", the Dockerfile and the .dockerignore included (docker sends them for its own use,
 * but a COPY of an ignored one fails as any ignored file's does).
 *
 * Reads never leave the context: every path is resolved by tug inside the context directory,
 * component by component without following anything (openat2 RESOLVE_BENEATH and
 * RESOLVE_NO_SYMLINKS, or O_NOFOLLOW one component at a time); symlinks are expanded by tug with
 * ".." and absolute targets clamped at the context root, as BuildKit resolves them.
 *
 * Symlinks and COPY (BuildKit's rules, which docker's builder follows):
 *   - a symlink on the way to a source ("COPY link/file") is followed, inside the context;
 *   - a source that IS a symlink, named or matched by a wildcard ("COPY link /x", "COPY l* /x"),
 *     is followed: what is copied is its target (a file or a whole directory), under the
 *     link's own name;
 *   - symlinks inside a copied directory are copied as symlinks, never followed.
 *
 * Not thread-safe: one thread uses a context (and its store handle) at a time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../store/store.h"
#include "../util/digest.h"
#include "../util/error.h"
#include "ignore.h"

typedef struct tug_build_context tug_build_context;

typedef struct tug_context_opts {
    /* A directory (relative to the cwd or absolute), or "-" for standard input. */
    const char *context;
    /* -f: NULL for CONTEXT/Dockerfile (or CONTEXT/dockerfile when only that exists, as docker
     * looks); a path relative to the cwd or absolute (anywhere, not only in the context); "-" to
     * read it from standard input. With a tar on standard input, a relative -f names a file in
     * the tar. */
    const char *dockerfile;
    /* Where a tar from standard input is unpacked: a private directory ctx-PID-XXXXXX is made
     * in it (give the store's $ROOT/tmp; tug_store_sweep_dir(s, "tmp", "ctx-") removes what a
     * killed build left). Unused for a directory context. */
    const char *tmp_dir;
    /* The file hash cache lives in this store's database (table build_file_hashes); NULL: no
     * cache, every checksum reads every file. The context does not close it. */
    tug_store *store;
    /* Standard input: 0, or another fd for tests. */
    int stdin_fd;
} tug_context_opts;

/* Open a context: find and read the Dockerfile, read the .dockerignore that applies (the
 * Dockerfile's own "<Dockerfile>.dockerignore" next to it first, else CONTEXT/.dockerignore),
 * unpack a tar from standard input. User errors (exit 1) for a missing context or Dockerfile,
 * both context and Dockerfile on standard input, a bad .dockerignore pattern (its file and
 * line). */
int tug_context_open(const tug_context_opts *o, tug_build_context **ret_ctx, tug_error **err);
/* Close it; a private unpack directory is removed. NULL is fine. */
void tug_context_free(tug_build_context *c);
void tug_context_freep(tug_build_context **c);
#define cleanup_context __attribute__((cleanup(tug_context_freep)))

/* The Dockerfile's bytes (NUL-terminated; len without the NUL) and the name errors give it
 * ("Dockerfile", "build/app.Dockerfile", "-" when read from standard input). */
const char *tug_context_dockerfile(const tug_build_context *c, size_t *ret_len);
const char *tug_context_dockerfile_name(const tug_build_context *c);
/* The directory the context is read from (the unpack directory for a tar); NULL for a lone
 * Dockerfile from standard input. */
const char *tug_context_dir(const tug_build_context *c);
/* The .dockerignore in force (NULL when none) and its file name relative to the context or the
 * Dockerfile's directory (".dockerignore", "app.Dockerfile.dockerignore"). */
const tug_ignore *tug_context_ignore(const tug_build_context *c);
const char *tug_context_ignore_name(const tug_build_context *c);

/* ---- COPY and ADD sources ------------------------------------------------------------------ */

/* One thing to copy: the match itself or an entry below it, in the order to create them
 * (parents first; names sorted bytewise within a directory). */
typedef struct tug_copy_entry {
    char *path;     /* where it is, relative to the context ("" for the context root) */
    char *rel;      /* where it goes, relative to the match ("" for the match itself) */
    struct stat st; /* lstat; for a followed match (a symlink source), its target's stat */
    char *link;     /* a symlink's target, NULL for anything else */
    /* A regular file's "sha256:<hex>" once tug_context_checksum has hashed it; "" before, and
     * after a checksum that found its whole match unchanged in the cache (nothing was read) */
    char digest[TUG_DIGEST_LEN + 1];
} tug_copy_entry;

/* One path a source named or a wildcard matched. */
typedef struct tug_copy_match {
    size_t source; /* index in the sources given */
    char *path;    /* relative to the context, symlinks resolved ("" for the root) */
    char *name;    /* the base name it is copied under when it is not a directory: the name as
                    * written or matched (a followed symlink keeps the link's name) */
    bool is_dir;   /* a directory: its contents go into the destination (not the directory) */
    tug_copy_entry *entries; /* entries[0] is the match itself */
    size_t n_entries;
    /* "sha256:<hex>" of this match's entries, once tug_context_checksum has run */
    char digest[TUG_DIGEST_LEN + 1];
} tug_copy_match;

typedef struct tug_copy_sources {
    tug_copy_match *matches; /* in the order of the sources, a wildcard's matches sorted */
    size_t n_matches;
    size_t n_sources;
    bool *wildcard; /* per source: it had a wildcard (then no match is not an error) */
} tug_copy_sources;

typedef struct tug_copy_opts {
    /* --exclude patterns (ignore.h's syntax), matched against paths relative to each match
     * (the match itself is never excluded, as in BuildKit) */
    const char *const *excludes;
    size_t n_excludes;
    /* --parents: each source is a pattern kept as a path under the destination; "a/./b/c"
     * keeps only "b/c" (the part after "/./"). The matches are then one directory per source
     * (its "pivot": the context root or the part before "/./") with only the entries the
     * pattern selects, and their parents. */
    bool parents;
} tug_copy_opts;

/* Resolve the local sources of a COPY or ADD (URLs and heredocs are the executor's): each is
 * relative to the context root (a leading "/" and any ".." above the root are clamped to it, as
 * docker does), may hold wildcards (Go filepath.Match per component, '*' never crossing '/'; a
 * matched directory is taken whole; no match is no error, as BuildKit allows), and is looked up
 * in the context as the .dockerignore leaves it. A source that is not there (missing, ignored,
 * under an ignored directory, a directory whose every entry is ignored) fails with docker's
 * message: failed to compute cache key: failed to calculate checksum of ref context:
 * "/missing.txt": not found -- the path cleaned as docker prints it, then "(source "...")" with
 * the user's spelling when that differs. A context from a lone Dockerfile has no files: every
 * local source is not found. opts may be NULL. */
int tug_context_resolve(tug_build_context *c, const char *const *sources, size_t n_sources,
                        const tug_copy_opts *opts, tug_copy_sources **ret_sources, tug_error **err);
void tug_copy_sources_free(tug_copy_sources *s);
void tug_copy_sources_freep(tug_copy_sources **s);
#define cleanup_copy_sources __attribute__((cleanup(tug_copy_sources_freep)))

/* The content checksum of resolved sources, for the cache key: every match's entries (their
 * paths relative to the match, type, permission bits with setuid/setgid/sticky, uid, gid,
 * symlink target, device numbers, a regular file's sha256, and with xattrs its extended
 * attributes), plus a non-directory match's name. Never mtimes or ctimes: `touch` changes
 * nothing. Fills every entry's and match's digest, and ret_digest ("sha256:<hex>") for the
 * whole. With a store, a match whose every entry has the metadata it had at an earlier checksum
 * (device, inode, size, mtime, ctime, mode, owner, link target: table build_match_sums) takes
 * that checksum without reading or looking up anything more; otherwise each file's hash comes
 * from the cache (build_file_hashes) when its (device, inode, size, mtime, ctime) are
 * unchanged. Files changed within the last second are never remembered (a write in the same
 * clock tick would not change their times). */
int tug_context_checksum(tug_build_context *c, tug_copy_sources *s, bool xattrs,
                         char ret_digest[TUG_DIGEST_LEN + 1], tug_error **err);

/* Open an entry for reading its contents (regular files): inside the context, following
 * nothing; an error when it is no longer the file resolved (another inode or type). */
int tug_context_open_entry(tug_build_context *c, const tug_copy_entry *e, tug_error **err);
/* Open a context-relative directory or file the same way (O_RDONLY, or O_PATH with
 * o_path), following nothing: for the executor's bind mounts from the context. */
int tug_context_open_path(tug_build_context *c, const char *path, bool o_path, tug_error **err);
