/* .dockerignore files and COPY source globs, read and matched as docker does. Pure: no I/O.
 *
 * Paths given to the matchers are context-relative, '/'-separated, without a leading "/" or
 * "./" and without "." or ".." components ("src/main.c"); the context root itself is never
 * asked about.
 *
 * The reference is docker's moby/patternmatcher (which BuildKit's context transfer, fsutil,
 * uses with the parent results of its walk) and Go's filepath.Match for COPY globs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

/* ---- .dockerignore ------------------------------------------------------------------------
 *
 * The file: lines split at "\n" (a "\r" before it dropped), a UTF-8 BOM dropped from the first;
 * a line whose first character is '#' is a comment (" #x" is a pattern); each line trimmed of
 * white space; blank lines skipped; a leading '!' makes an exception (spaces after it are
 * trimmed too); the rest is cleaned as Go's filepath.Clean ("./a//b/" is "a/b", "a/../b" is
 * "b") and one leading "/" dropped. "!" alone, or a pattern that is not a valid Go
 * filepath.Match pattern ("[a", "a\" with nothing after the backslash), is an error.
 *
 * A pattern matches a path by docker's translation of it (later patterns win):
 *   "*"  any run of characters but '/'        "?"    one character but '/'
 *   "**" any run, '/' included: "**" alone everything, "**" then "/x": x at any depth; "a/"
 *        then "**": everything under a/ (not a itself); "a**": every path that starts with "a"
 *   "[...]" a bracket expression with "^" negation, ranges, "\" escapes and POSIX classes
 *        ("[[:digit:]]"): unlike Go globs it may match '/'
 *   "\c" the character c (a punctuation mark); \t \n \r \f \v \a those characters; \d \s \w
 *        and their capitals the ASCII classes, \A \z \b \B the assertions docker's regular
 *        expression gives them ("foo\bar" never matches, as in docker)
 *   '^' outside brackets, in a pattern with a wildcard, bracket or escape: "at the start" (docker
 *        leaves it unescaped in its regular expression); elsewhere a plain character
 * A path is also matched by a pattern that matches one of its parent directories: "build"
 * excludes build/x/y. Where docker's translation gives a pattern a meaning no one writes on
 * purpose, tug refuses the pattern with an error naming it instead of guessing: "*" or "?"
 * inside brackets, and escapes of digits and of letters other than those above (\p, \Q, \x;
 * docker fails on the unknown ones too, at its first match).
 */
typedef struct tug_ignore tug_ignore;

/* Parse a .dockerignore's text (len bytes, NULs allowed: they end nothing). name is what errors
 * call the file (".dockerignore", "app.Dockerfile.dockerignore"): "NAME line N: ...". An empty
 * or all-comment file gives a matcher with no patterns (nothing excluded). */
int tug_ignore_parse(const char *text, size_t len, const char *name, tug_ignore **ret_ignore,
                     tug_error **err);
/* A matcher from patterns given one by one, as docker takes COPY --exclude values and the
 * --parents include pattern (each trimmed and cleaned; "!" makes an exception; no comments).
 * what names them in errors ("--exclude"). */
int tug_ignore_new(const char *const *patterns, size_t n, const char *what, tug_ignore **ret_ignore,
                   tug_error **err);
void tug_ignore_free(tug_ignore *ig);
void tug_ignore_freep(tug_ignore **ig);
#define cleanup_ignore __attribute__((cleanup(tug_ignore_freep)))

/* The cleaned patterns, in order, for messages and tests; "!" starts an exception. */
size_t tug_ignore_count(const tug_ignore *ig);
const char *tug_ignore_pattern(const tug_ignore *ig, size_t i);
bool tug_ignore_has_exceptions(const tug_ignore *ig);

/* What the context holds of one path. */
typedef enum {
    TUG_IGNORE_INCLUDED = 0, /* in the context */
    TUG_IGNORE_EXCLUDED,     /* left out; a directory's children may still be in the context
                              * (an exception could match one): walk it, and if any child is
                              * in, the directory is too (docker sends it as their parent) */
    TUG_IGNORE_PRUNED,       /* left out with everything below it: docker does not walk it */
} tug_ignore_verdict;

/* The matching state a directory passes to its children: one byte per pattern. A walk keeps
 * one per directory on its path; tug_ignore_state_size() bytes each (0 for no patterns). */
size_t tug_ignore_state_size(const tug_ignore *ig);

/* The verdict for path (is_dir: it is a directory) during a walk from the context root, as
 * BuildKit's walk decides it. parent_state: the state its directory's call left, or NULL for an
 * entry of the root. ret_state (may be NULL; state_size bytes): where path's own state goes,
 * for its children when it is a directory; filled whatever the verdict. A directory's verdict
 * is PRUNED only when docker would not walk it (no exception could match below it, by docker's
 * own test of the exceptions' text: an exception with a wildcard before its last component
 * makes every excluded directory walked). ig NULL: everything is included. */
tug_ignore_verdict tug_ignore_check(const tug_ignore *ig, const char *path, bool is_dir,
                                    const unsigned char *parent_state, unsigned char *ret_state);

/* The same for one path without a walk: its ancestors are checked from the top as directories.
 * PRUNED when an ancestor is pruned (the path is not in the context, whatever its own match).
 * An EXCLUDED directory is in the context only if something below it is INCLUDED. */
tug_ignore_verdict tug_ignore_check_path(const tug_ignore *ig, const char *path, bool is_dir);

/* ---- COPY globs (Go's filepath.Match) ------------------------------------------------------ */

/* Match name against pattern as Go's filepath.Match does: '*' any run of non-'/' characters,
 * '?' one non-'/' character, "[...]" a class ("[^...]" negated, ranges, "\" escapes), "\c" the
 * character c; there is no "**" ("**" is two stars, neither crossing '/'). The whole name must
 * match. Returns 1 for a match, 0 for none, -1 for a malformed pattern ("[a", "[]", "a\"), which
 * Go reports as ErrBadPattern. */
int tug_glob_match_path(const char *pattern, const char *name);

/* True when a COPY source has a wildcard ('*', '?' or '[' not escaped by '\'): docker then
 * resolves it as a glob; otherwise it names one path. */
bool tug_glob_has_wildcards(const char *s);

/* Go's filepath.Clean on a '/'-separated path: no empty, "." or inner ".." components, no
 * trailing "/"; "" becomes ".". A new string (NULL when out of memory). */
char *tug_path_clean(const char *path);
