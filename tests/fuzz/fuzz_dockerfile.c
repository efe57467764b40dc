/* Dockerfiles: the parser, every reader on every instruction it gives, and the shell lexer on
 * the arguments. A build context's Dockerfile is untrusted input. */
#include "fuzz.h"

#include <errno.h>

#include "build/dockerfile.h"
#include "build/shell.h"

/* Names from A to M are set to a value with blanks, N to Z are set and empty, others unset. */
static bool lookup(const char *name, const char **ret, void *userdata)
{
    (void)userdata;
    if (name[0] >= 'A' && name[0] <= 'M') {
        *ret = "v a*l";
        return true;
    }
    if (name[0] >= 'N' && name[0] <= 'Z') {
        *ret = "";
        return true;
    }
    return false;
}

/* A failure is the user's, with a message that shows no control character from the file. */
static void check_message(const tug_error *err, const char *what)
{
    fuzz_check(err->kind == TUG_ERR_USER || err->errnum == ENOMEM, "%s: %s", what, err->msg);
    for (const char *c = err->msg; *c; c++)
        fuzz_check((unsigned char)*c >= 0x20 && *c != 0x7f, "%s: a control character in \"%s\"",
                   what, err->msg);
}

static void check_fails_cleanly(int r, tug_error *err, const char *what)
{
    fuzz_check_error(r, err);
    if (r < 0)
        check_message(err, what);
    tug_error_free(err);
}

static void check_strv(const char *const *v, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        fuzz_check(v[i] != NULL, "%s: entry %zu of %zu missing", what, i, n);
    fuzz_check(v[n] == NULL, "%s: not NULL-terminated", what);
}

/* Every reader that fits the instruction: a result or an error with a message, never both. */
static void read_all(const tug_df_instruction *in)
{
    tug_error *err = NULL;
    int r = 0;
    void *res = NULL;
    char *s = NULL;
    switch (in->kind) {
    case TUG_DF_FROM:
        r = tug_df_read_from(in, lookup, NULL, (tug_df_from **)&res, &err);
        if (r == 0)
            fuzz_check(((tug_df_from *)res)->image[0] != '\0', "FROM gave an empty image");
        break;
    case TUG_DF_ENV:
    case TUG_DF_LABEL:
        r = tug_df_read_pairs(in, lookup, NULL, (tug_df_pairs **)&res, &err);
        break;
    case TUG_DF_ARG:
        r = tug_df_read_arg(in, (tug_df_pairs **)&res, &err);
        fuzz_check(r == 0, "ARG passed the parser but not its reader");
        break;
    case TUG_DF_EXPOSE:
        r = tug_df_read_expose(in, lookup, NULL, (tug_df_words **)&res, &err);
        if (r == 0)
            check_strv(((tug_df_words *)res)->v, ((tug_df_words *)res)->n, "EXPOSE");
        break;
    case TUG_DF_VOLUME:
        r = tug_df_read_volume(in, lookup, NULL, (tug_df_words **)&res, &err);
        break;
    case TUG_DF_WORKDIR:
    case TUG_DF_USER:
    case TUG_DF_STOPSIGNAL:
        r = tug_df_read_string(in, lookup, NULL, &s, &err);
        free(s);
        break;
    case TUG_DF_CMD:
    case TUG_DF_ENTRYPOINT:
    case TUG_DF_SHELL:
        r = tug_df_read_cmdline(in, (tug_df_cmdline **)&res, &err);
        fuzz_check(r == 0, "%s passed the parser but not its reader", in->original);
        check_strv(((tug_df_cmdline *)res)->argv, ((tug_df_cmdline *)res)->argc, "cmdline");
        break;
    case TUG_DF_HEALTHCHECK:
        r = tug_df_read_healthcheck(in, (tug_df_healthcheck **)&res, &err);
        fuzz_check(r == 0, "HEALTHCHECK passed the parser but not its reader");
        break;
    case TUG_DF_COPY:
    case TUG_DF_ADD:
        r = tug_df_read_copy(in, lookup, NULL, (tug_df_copy **)&res, &err);
        if (r == 0)
            fuzz_check(((tug_df_copy *)res)->n_sources >= 1, "COPY without a source");
        break;
    case TUG_DF_RUN:
        r = tug_df_read_run(in, lookup, NULL, (tug_df_run **)&res, &err);
        if (r == 0) {
            tug_df_run *run = res;
            fuzz_check(run->cmd.argc >= 1 && run->display != NULL, "RUN without a command");
            for (size_t i = 0; i < run->n_mounts; i++)
                fuzz_check(run->mounts[i].type != TUG_DF_MOUNT_SECRET || run->mounts[i].id != NULL,
                           "a secret without an id");
        }
        break;
    case TUG_DF_ONBUILD:
        fuzz_check(in->trigger != NULL && in->trigger_text != NULL, "ONBUILD without a trigger");
        read_all(in->trigger);
        break;
    case TUG_DF_MAINTAINER:
        break;
    }
    check_fails_cleanly(r, err, in->original);
    tug_df_free(res);
}

/* An instruction re-read alone, from its one-line text, is the same instruction. */
static void check_reparse(const tug_dockerfile *df, const tug_df_instruction *in)
{
    /* text ending in the escape character continues on a line of its own, yet a Dockerfile
     * can make one: a last line "RUN a\ \" is the instruction "RUN a\" */
    size_t len = strlen(in->original);
    if (df->escape != '\\' || strstr(in->original, "<<") || len > 60000 ||
        in->original[len - 1] == '\\')
        return;
    size_t n = strlen(in->original) + 16;
    char *text = malloc(n);
    fuzz_check(text != NULL, "out of memory");
    snprintf(text, n, "FROM x\n%s\n", in->original);
    tug_dockerfile *again = NULL;
    tug_error *err = NULL;
    int r = tug_dockerfile_parse("again", text, strlen(text), &again, &err);
    fuzz_check(r == 0, "\"%s\" does not parse alone: %s", in->original, err ? err->msg : "");
    fuzz_check(again->n_inst == 2, "\"%s\" alone is %zu instructions", in->original, again->n_inst);
    const tug_df_instruction *b = &again->inst[1];
    fuzz_check(b->kind == in->kind && b->n_flags == in->n_flags && b->argc == in->argc &&
                   b->json == in->json && strcmp(b->args, in->args) == 0,
               "\"%s\" reads differently alone", in->original);
    for (size_t i = 0; i < in->argc; i++)
        fuzz_check(strcmp(b->argv[i], in->argv[i]) == 0, "\"%s\": argument %zu differs alone",
                   in->original, i);
    tug_dockerfile_free(again);
    free(text);
}

static void check_dockerfile(const tug_dockerfile *df, int lines)
{
    fuzz_check(df->n_inst > 0 && df->n_stages > 0, "a Dockerfile without a stage");
    fuzz_check(df->escape == '\\' || df->escape == '`', "escape %c", df->escape);
    check_strv(df->warnings, df->n_warnings, "warnings");
    int last = 0;
    for (size_t i = 0; i < df->n_inst; i++) {
        const tug_df_instruction *in = &df->inst[i];
        fuzz_check(in->line > last && in->line <= in->end_line && in->end_line <= lines,
                   "instruction %zu: lines %d-%d after %d, of %d", i, in->line, in->end_line, last,
                   lines);
        last = in->end_line;
        fuzz_check(in->original && in->args && in->file, "instruction %zu: missing text", i);
        check_strv(in->argv, in->argc, in->original);
        for (size_t h = 0; h < in->n_heredocs; h++)
            fuzz_check(in->heredocs[h].name[0] && in->heredocs[h].body, "a heredoc unnamed");
        fuzz_check(i < df->n_meta_args ? in->kind == TUG_DF_ARG : true, "a meta ARG is not ARG");
        read_all(in);
        check_reparse(df, in);
        if (in->kind == TUG_DF_ONBUILD) {
            tug_dockerfile *t = NULL;
            tug_error *err = NULL;
            int r = tug_dockerfile_parse_trigger("ONBUILD", in->trigger_text, &t, &err);
            check_fails_cleanly(r, err, in->trigger_text);
            tug_dockerfile_free(t);
        }
    }
    for (size_t i = 0; i < df->n_stages; i++) {
        const tug_df_stage *st = &df->stages[i];
        fuzz_check(df->inst[st->from].kind == TUG_DF_FROM && st->end > st->from &&
                       st->end <= df->n_inst,
                   "stage %zu", i);
        fuzz_check(i > 0 || st->from == df->n_meta_args, "the first stage does not follow the "
                                                         "meta ARGs");
    }
}

/* The lexer alone: errors say why, and a word with nothing special in it stays as it is. */
static void check_shell(const char *s)
{
    for (int k = 0; k < 2; k++) {
        char escape = k ? '`' : '\\';
        char *out = NULL;
        char **words = NULL;
        tug_error *err = NULL;
        int r = tug_shell_expand(s, escape, lookup, NULL, &out, &err);
        fuzz_check_error(r, err);
        if (r == 0 && strpbrk(s, "$'\"\\`") == NULL)
            fuzz_check(strcmp(out, s) == 0, "\"%s\" became \"%s\"", s, out);
        free(out);
        tug_error_free(err);
        err = NULL;
        r = tug_shell_words(s, escape, lookup, NULL, &words, NULL, &err);
        fuzz_check_error(r, err);
        for (char **w = words; w && *w; w++) {
            fuzz_check(**w != '\0', "an empty word from \"%s\"", s);
            free(*w);
        }
        free(words);
        tug_error_free(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tug_dockerfile *df = NULL;
    tug_error *err = NULL;
    int r = tug_dockerfile_parse("Dockerfile", (const char *)data, size, &df, &err);
    fuzz_check_error(r, err);
    if (r == 0) {
        int lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        lines += size > 0 && data[size - 1] != '\n';
        check_dockerfile(df, lines);
    } else {
        check_message(err, "parse");
        fuzz_check(strncmp(err->msg, "Dockerfile", 10) == 0, "\"%s\" does not name the file",
                   err->msg);
    }
    tug_dockerfile_free(df);
    tug_error_free(err);
    if (size <= 4096 && memchr(data, '\0', size) == NULL) {
        char *s = fuzz_str(data, size);
        check_shell(s);
        free(s);
    }
    return 0;
}
