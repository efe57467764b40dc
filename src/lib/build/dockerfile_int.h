/* Shared by dockerfile.c (the parser) and dockerfile_read.c (the readers); not an API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "dockerfile.h"

/* Every result (the parsed Dockerfile, each reader's structure) lives in one arena: it is
 * allocated with the arena's header right in front of it, so tug_df_free finds the arena
 * from the result's own address. Allocations are zeroed; NULL when memory runs out. */
typedef struct df_arena df_arena;
void *df_new(size_t size, df_arena **ret_arena);
void *df_alloc(df_arena *a, size_t size);
char *df_strndup(df_arena *a, const char *s, size_t n);
char *df_strdup(df_arena *a, const char *s);
/* Take a malloc'd string into the arena (freed either way); NULL stays NULL. */
char *df_adopt(df_arena *a, char *s);

/* A NULL-terminated list of strings growing in an arena. */
typedef struct df_list {
    const char **v;
    size_t n, cap;
} df_list;
int df_list_push(df_arena *a, df_list *l, const char *s);

int df_oom(tug_error **err);
/* "FILE:LINE: message", a user error. */
int df_fail(const tug_df_instruction *in, tug_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same around an error some helper already set: "FILE:LINE: its message". */
int df_wrap(const tug_df_instruction *in, tug_error **err);

/* The value of the last --name flag, *ret_set telling whether it was given at all. */
const char *df_flag(const tug_df_instruction *in, const char *name, bool *ret_set);

/* A word that is a heredoc start (BuildKit's ParseHeredoc): [fd]<<[-]NAME. 0 and *ret filled
 * when it is one, 1 when it is not, <0 on an error. Strings go into the arena. */
int df_heredoc_word(df_arena *a, const char *word, tug_df_heredoc *ret, tug_error **err);
/* A heredoc body with <<- tabs removed, into the arena. */
char *df_heredoc_text(df_arena *a, const tug_df_heredoc *h);

/* Go's time.ParseDuration into nanoseconds; -1 on a syntax error or overflow. */

/* The instruction checks that need no variable's value, done at parse time by dockerfile.c
 * and again by the readers (which assume they passed). */
int df_check_healthcheck(const tug_df_instruction *in, df_arena *a, tug_df_healthcheck *ret,
                         tug_error **err);
/* RUN --mount: one spec, its values expanded with lookup; without expand_now, BuildKit's
 * parse-time pass, which only checks the CSV and that from= has no variable. */
int df_parse_mount(const tug_df_instruction *in, const char *spec, bool expand_now,
                   tug_shell_lookup lookup, void *userdata, df_arena *a, tug_df_mount *ret,
                   tug_error **err);

/* BuildKit's suggest.Search: the closest option under edit distance 3, "" when there is none
 * (or when val is an option itself). */
const char *df_suggest(const char *val, const char *const *options, size_t n);

/* Go's strings.TrimSpace on s/n. */
void df_trim_space(const char **s, size_t *n);
