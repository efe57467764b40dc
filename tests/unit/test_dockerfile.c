#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "build/dockerfile.h"
#include "util/cleanup.h"

static tug_dockerfile *parse_ok(const char *text)
{
    tug_dockerfile *df = NULL;
    tug_error *err = NULL;
    if (tug_dockerfile_parse("Dockerfile", text, strlen(text), &df, &err) < 0)
        fail_msg("parse failed: %s\n--- input:\n%s", err->msg, text);
    return df;
}

/* The message must start with the location and contain what is wrong. */
static void parse_fails(const char *text, size_t len, const char *want)
{
    tug_dockerfile *df = NULL;
    tug_error *err = NULL;
    if (tug_dockerfile_parse("Dockerfile", text, len, &df, &err) == 0)
        fail_msg("parsed, but should fail with \"%s\":\n%s", want, text);
    assert_int_equal(err->kind, TUG_ERR_USER);
    if (strstr(err->msg, want) == NULL)
        fail_msg("got \"%s\", want \"%s\"", err->msg, want);
    tug_error_free(err);
}

static void assert_argv(const tug_df_instruction *in, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    if (in->argc != n)
        fail_msg("%s at line %d: %zu args, want %zu", in->original, in->line, in->argc, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (strcmp(in->argv[i], want) != 0)
            fail_msg("%s: arg %zu is \"%s\", want \"%s\"", in->original, i, in->argv[i], want);
    }
    assert_null(in->argv[n]);
    va_end(ap);
}

/* A multi-stage Dockerfile as people write them. */
static void test_typical(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("# syntax=docker/dockerfile:1\n"
                                  "ARG BASE=debian:12\n"
                                  "\n"
                                  "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n"
                                  "WORKDIR /src\n"
                                  "COPY go.mod go.sum ./\n"
                                  "RUN --mount=type=cache,target=/root/.cache/go-build \\\n"
                                  "    go build -o /out/app . # not a comment\n"
                                  "\n"
                                  "from ${BASE}\n"
                                  "  # a comment, indented\n"
                                  "COPY --from=build --chown=app:app /out/app /usr/bin/app\n"
                                  "ENV PORT=8080 MODE=\"prod mode\"\n"
                                  "EXPOSE $PORT\n"
                                  "CMD [\"app\", \"--port\", \"8080\"]\n");
    assert_string_equal(df->syntax, "docker/dockerfile:1");
    assert_null(df->check);
    assert_int_equal(df->escape, '\\');
    assert_int_equal(df->n_inst, 10);
    assert_int_equal(df->n_meta_args, 1);
    assert_int_equal(df->n_stages, 2);
    assert_string_equal(df->stages[0].name, "build");
    assert_int_equal(df->stages[0].from, 1);
    assert_int_equal(df->stages[0].end, 5);
    assert_null(df->stages[1].name);
    assert_int_equal(df->stages[1].from, 5);
    assert_int_equal(df->stages[1].end, 10);
    assert_int_equal(df->n_warnings, 0);

    const tug_df_instruction *in = df->inst;
    assert_int_equal(in[0].kind, TUG_DF_ARG);
    assert_int_equal(in[0].line, 2);
    assert_argv(&in[0], 1, "BASE=debian:12");

    assert_int_equal(in[1].kind, TUG_DF_FROM);
    assert_int_equal(in[1].line, 4);
    assert_int_equal(in[1].n_flags, 1);
    assert_string_equal(in[1].flags[0].name, "platform");
    assert_string_equal(in[1].flags[0].value, "$BUILDPLATFORM");
    assert_argv(&in[1], 3, "golang:1.22", "AS", "Build");

    assert_int_equal(in[4].kind, TUG_DF_RUN);
    assert_int_equal(in[4].line, 7);
    assert_int_equal(in[4].end_line, 8);
    assert_false(in[4].json);
    assert_string_equal(in[4].original, "RUN --mount=type=cache,target=/root/.cache/go-build     "
                                        "go build -o /out/app . # not a comment");
    assert_string_equal(in[4].args, "go build -o /out/app . # not a comment");
    assert_argv(&in[4], 1, "go build -o /out/app . # not a comment");

    assert_int_equal(in[5].kind, TUG_DF_FROM);
    assert_string_equal(in[5].original, "from ${BASE}");
    assert_int_equal(in[6].line, 12);
    assert_int_equal(in[6].n_flags, 2);
    assert_string_equal(in[6].flags[1].name, "chown");
    assert_string_equal(in[6].flags[1].value, "app:app");
    assert_argv(&in[6], 2, "/out/app", "/usr/bin/app");
    assert_argv(&in[7], 4, "PORT", "8080", "MODE", "\"prod mode\"");
    assert_true(in[9].json);
    assert_argv(&in[9], 3, "app", "--port", "8080");
    tug_dockerfile_free(df);
}

/* Line continuations as BuildKit joins them (continuation lines keep their indentation). */
static void test_continuations(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM scratch\n"
                                  "RUN a\\\n"
                                  "  b\\\n"
                                  "c\n"
                                  "RUN a  \\  \t\n"
                                  "b\n"
                                  "RUN one \\\n"
                                  "# a comment in the middle \\\n"
                                  "  # and an indented one\n"
                                  "two\n"
                                  "RUN x \\\n"
                                  "\n"
                                  "   \t\n"
                                  "y\n"
                                  "ENV P=C:\\\\\n"
                                  "ENV Q=ends\\\\\\\n"
                                  "USER next\n"
                                  "RUN \\\n"
                                  "\\\n"
                                  "  last \\\n");
    const tug_df_instruction *in = df->inst;
    assert_int_equal(df->n_inst, 9);
    assert_string_equal(in[1].args, "a  bc");
    assert_int_equal(in[1].line, 2);
    assert_int_equal(in[1].end_line, 4);
    assert_string_equal(in[2].args, "a  b");
    assert_string_equal(in[3].args, "one two");
    assert_int_equal(in[3].end_line, 10);
    assert_string_equal(in[4].args, "x y");
    /* an escaped escape is no continuation; nor are three, as BuildKit's regexp cannot tell */
    assert_argv(&in[5], 2, "P", "C:\\\\");
    assert_argv(&in[6], 2, "Q", "ends\\\\"); /* parseWords drops an escape at the end */
    assert_int_equal(in[7].kind, TUG_DF_USER);
    /* a continuation to the end of the file just ends the instruction */
    assert_int_equal(in[8].line, 18);
    assert_string_equal(in[8].args, "last");
    assert_int_equal(in[8].end_line, 20);
    assert_int_equal(df->n_warnings, 1);
    assert_string_equal(df->warnings[0], "Empty continuation line found in: RUN x y");
    tug_dockerfile_free(df);
}

static void test_directives(void **state)
{
    (void)state;
    /* escape=` : Windows paths keep their backslashes, ` continues lines */
    tug_dockerfile *df = parse_ok("\xef\xbb\xbf# Escape = `\n"
                                  "#check=skip=all;error=true\n"
                                  "FROM mcr.microsoft.com/windows/servercore\n"
                                  "COPY testfile.txt c:\\\n"
                                  "RUN dir c:\\ `\n"
                                  "    && echo done\n"
                                  "ENV P=C:\\path`\\x\n");
    assert_int_equal(df->escape, '`');
    assert_string_equal(df->check, "skip=all;error=true");
    assert_null(df->syntax);
    assert_int_equal(df->n_inst, 4);
    assert_argv(&df->inst[1], 2, "testfile.txt", "c:\\");
    assert_string_equal(df->inst[2].args, "dir c:\\     && echo done");
    assert_int_equal(df->inst[3].escape, '`');
    char *v = NULL;
    tug_df_pairs *env = NULL;
    assert_int_equal(tug_df_read_pairs(&df->inst[3], NULL, NULL, &env, NULL), 0);
    assert_string_equal(env->v[0].value, "C:\\path\\x");
    tug_df_free(env);
    free(v);
    tug_dockerfile_free(df);

    /* a directive after a comment or an instruction is a comment */
    df = parse_ok("# hello\n# escape=`\nFROM x\nRUN a \\\n b\n");
    assert_int_equal(df->escape, '\\');
    assert_string_equal(df->inst[1].args, "a  b");
    tug_dockerfile_free(df);
    df = parse_ok("\n# escape=`\nFROM x\n");
    assert_int_equal(df->escape, '\\');
    tug_dockerfile_free(df);
    /* an unknown one ends the directives too */
    df = parse_ok("# foo=bar\n# syntax=x\nFROM x\n");
    assert_null(df->syntax);
    tug_dockerfile_free(df);
    df = parse_ok("  #   syntax   =   docker/dockerfile:1.7   \r\nFROM x\r\n");
    assert_string_equal(df->syntax, "docker/dockerfile:1.7");
    tug_dockerfile_free(df);
}

static void test_json(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM x\n"
                                  "CMD []\n"
                                  "CMD [\"\"]\n"
                                  "CMD\t[\t\"a\",\t\"b\"\t]\t\n"
                                  "CMD [\"\\u2603 \\\" \\\\ \\/ \\t\"]\n"
                                  "CMD [\"a\" \"b\"]\n"
                                  "CMD ['single']\n"
                                  "CMD [\"unterminated\"\n"
                                  "ENTRYPOINT [\"a\"] tail\n"
                                  "CMD\n"
                                  "COPY [\"a b\", \"/c d/\"]\n"
                                  "VOLUME [\"/v1\", \"/v2\"]\n"
                                  "RUN [\"<<EOF\"]\n");
    const tug_df_instruction *in = df->inst;
    assert_true(in[1].json);
    assert_argv(&in[1], 0);
    assert_true(in[2].json);
    assert_argv(&in[2], 1, "");
    assert_argv(&in[3], 2, "a", "b");
    assert_argv(&in[4], 1, "\xe2\x98\x83 \" \\ / \t");
    for (int i = 5; i <= 8; i++) {
        assert_false(in[i].json);
        assert_int_equal(in[i].argc, 1);
    }
    assert_string_equal(in[6].argv[0], "['single']");
    assert_false(in[9].json);
    assert_argv(&in[9], 0);
    assert_true(in[10].json);
    assert_argv(&in[10], 2, "a b", "/c d/");
    assert_argv(&in[11], 2, "/v1", "/v2");
    assert_true(in[12].json);
    assert_int_equal(in[12].n_heredocs, 0);
    tug_dockerfile_free(df);
}

static void test_heredocs(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM x\n"
                                  "RUN <<EOF\n"
                                  "echo $HOME\n"
                                  "  # not a comment \\\n"
                                  "EOF\n"
                                  "RUN <<-'TABS' sh -e\n"
                                  "\tindented $X\n"
                                  "\t\tTABS\n"
                                  "COPY --chmod=755 <<one \"<<two\" <<\"three\" /dst/\n"
                                  "1\n"
                                  "one\n"
                                  "3\n"
                                  "three\n"
                                  "RUN 3<<A cat <&3 <<B\n"
                                  "a\r\n"
                                  "A\r\n"
                                  "B\n"
                                  "RUN \"<<NOHEREDOC\"\n"
                                  "RUN cat<<NOPE\n"
                                  "RUN <<  SPACED  > out\n"
                                  "SPACED\n"
                                  "ONBUILD RUN <<EOF\n"
                                  "on build\n"
                                  "EOF\n"
                                  "RUN <<eo'f'\n"
                                  "eof\n"
                                  "RUN <<$EOF\n"
                                  "$EOF\n"
                                  "USER <<X\n");
    const tug_df_instruction *in = df->inst;
    assert_int_equal(in[1].line, 2);
    assert_int_equal(in[1].end_line, 5);
    assert_int_equal(in[1].n_heredocs, 1);
    assert_string_equal(in[1].heredocs[0].name, "EOF");
    assert_string_equal(in[1].heredocs[0].body, "echo $HOME\n  # not a comment \\\n");
    assert_true(in[1].heredocs[0].expand);
    assert_false(in[1].heredocs[0].chomp);

    assert_true(in[2].heredocs[0].chomp);
    assert_false(in[2].heredocs[0].expand);
    assert_string_equal(in[2].heredocs[0].name, "TABS");
    assert_string_equal(in[2].heredocs[0].body, "\tindented $X\n");
    char *t = tug_df_heredoc_text(&in[2].heredocs[0]);
    assert_string_equal(t, "indented $X\n");
    free(t);

    /* "<<two" is quoted: no heredoc; the others, in order */
    assert_int_equal(in[3].n_heredocs, 2);
    assert_string_equal(in[3].heredocs[0].name, "one");
    assert_string_equal(in[3].heredocs[0].body, "1\n");
    assert_string_equal(in[3].heredocs[1].name, "three");
    assert_false(in[3].heredocs[1].expand);
    assert_string_equal(in[3].heredocs[1].body, "3\n");
    assert_int_equal(in[3].end_line, 13);

    assert_int_equal(in[4].n_heredocs, 2);
    assert_int_equal(in[4].heredocs[0].fd, 3);
    assert_string_equal(in[4].heredocs[0].body, "a\r\n");
    assert_string_equal(in[4].heredocs[1].body, "");

    assert_int_equal(in[5].n_heredocs, 0);
    assert_int_equal(in[6].n_heredocs, 0);
    assert_int_equal(in[7].n_heredocs, 1);
    assert_string_equal(in[7].heredocs[0].name, "SPACED");

    assert_int_equal(in[8].kind, TUG_DF_ONBUILD);
    assert_int_equal(in[8].n_heredocs, 1);
    assert_int_equal(in[8].trigger->kind, TUG_DF_RUN);
    assert_int_equal(in[8].trigger->n_heredocs, 1);
    assert_string_equal(in[8].trigger_text, "RUN <<EOF\non build\nEOF");

    assert_string_equal(in[9].heredocs[0].name, "eof");
    assert_false(in[9].heredocs[0].expand);
    assert_string_equal(in[10].heredocs[0].name, "$EOF");
    /* only RUN, COPY and ADD take heredocs */
    assert_int_equal(in[11].kind, TUG_DF_USER);
    assert_int_equal(in[11].n_heredocs, 0);
    assert_int_equal(in[11].line, 29);
    tug_dockerfile_free(df);
}

typedef struct {
    const char *text;
    const char *msg;
} bad;

static void test_errors(void **state)
{
    (void)state;
    static const bad rows[] = {
        {"FROM a\n\nRUNN x\n", "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"},
        {"FROM a\nrunn x\n", "Dockerfile:2: unknown instruction: runn (did you mean run?)"},
        {"FROM a\nCopi a b\n", "Dockerfile:2: unknown instruction: Copi (did you mean copy?)"},
        {"FROM a\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"},
        {"FROM a\n\n\n\nCOPY --mount=type=cache a b\n", "Dockerfile:5: COPY does not take --mount"},
        {"FROM a\nCOPY --chmode=7 a b\n", "COPY does not take --chmode (did you mean --chmod?)"},
        {"FROM a\nENV --x=1 A=b\n", "Dockerfile:2: ENV does not take --x"},
        {"FROM a\nSTOPSIGNAL --x 9\n", "STOPSIGNAL does not take --x"},
        {"FROM a\nCOPY --from a b\n", "missing a value on flag: --from"},
        {"FROM a\nCOPY --from=a --from=b x y\n", "COPY --from is given twice"},
        {"FROM a\nCOPY --link=maybe a b\n", "expecting boolean value for flag --link, not: maybe"},
        {"FROM a\nCOPY --link= a b\n", "missing a value on flag: --link"},
        {"RUN x\n", "Dockerfile:1: no FROM instruction before RUN: ARG is the only instruction "
                    "allowed before FROM"},
        {"ARG A\n# c\nENV B=1\nFROM a\n", "Dockerfile:3: no FROM instruction before ENV"},
        {"ARG A\n", "Dockerfile: no FROM instruction"},
        {"", "Dockerfile: the file has no instructions"},
        {"# just a comment\n\n", "Dockerfile: the file has no instructions"},
        {"FROM a\nRUN <<EOF\nnever ends\n", "Dockerfile:2: unterminated heredoc"},
        {"FROM a\nCOPY <<A <<B /d\nA\n", "Dockerfile:2: unterminated heredoc: no line \"B\""},
        {"FROM a\nRUN <<-EOF\n  EOF\n", "unterminated heredoc"},
        {"FROM a\nCMD [\"a\", 1]\n", "Dockerfile:2: when using JSON array syntax, arrays must be "
                                     "comprised of strings only"},
        {"FROM a\nCMD [[\"a\"]]\n", "arrays must be comprised of strings only"},
        {"FROM a\nCOPY [\"a\", null]\n", "arrays must be comprised of strings only"},
        {"FROM a\nCMD [\"a\\u0000b\"]\n", "NUL"},
        {"FROM a\n\\", "Dockerfile:2: a line continuation at the end of the file"},
        {"FROM a\nRUN \\\n", "Dockerfile:2: RUN requires at least one argument (its line "
                             "continuation reaches the end of the file)"},
        {"FROM a\nRUN\n", "Dockerfile:2: RUN requires at least one argument"},
        {"FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"},
        {"FROM\n", "FROM requires either one or three arguments"},
        {"FROM a AS 1st\n", "invalid name for build stage: \"1st\""},
        {"FROM a AS b/c\n", "invalid name for build stage"},
        {"FROM a\nCOPY onlyone\n", "COPY requires at least two arguments, but only one was "
                                   "provided. Destination could not be determined"},
        {"FROM a\nADD \\\n  \\\n  x\n", "Dockerfile:2: ADD requires at least two arguments"},
        {"FROM a\nCOPY a <<EOF\nEOF\n", "COPY cannot accept a heredoc as a destination"},
        {"FROM a\nCOPY --from=$STAGE a b\n", "variable expansion is not supported for --from"},
        {"FROM a\nENV\n", "ENV requires at least one argument"},
        {"FROM a\nENV A\n", "ENV must have two arguments"},
        {"FROM a\nENV A=1 B\n", "Syntax error - can't find = in \"B\". Must be of the form: "
                                "name=value"},
        {"FROM a\nLABEL =x\n", "LABEL names can not be blank"},
        {"FROM a\nARG =x\n", "ARG names can not be blank"},
        {"FROM a\nARG\n", "ARG requires at least one argument"},
        {"FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"},
        {"FROM a\nVOLUME\n", "VOLUME requires at least one argument"},
        {"FROM a\nVOLUME [\" \"]\n", "VOLUME specified can not be an empty string"},
        {"FROM a\nUSER\n", "USER requires exactly one argument"},
        {"FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"},
        {"FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument"},
        {"FROM a\nSHELL /bin/bash -c\n", "SHELL requires the arguments to be in JSON form"},
        {"FROM a\nSHELL []\n", "SHELL requires at least one argument"},
        {"FROM a\nONBUILD\n", "ONBUILD requires at least one argument"},
        {"FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
        {"FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"},
        {"FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger"},
        {"FROM a\nONBUILD RUNN x\n", "Dockerfile:2: unknown instruction: RUNN"},
        {"FROM a\nONBUILD COPY --bad a b\n", "Dockerfile:2: COPY does not take --bad"},
        {"FROM a\nHEALTHCHECK\n", "HEALTHCHECK requires at least one argument"},
        {"FROM a\nHEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"},
        {"FROM a\nHEALTHCHECK CONNECT TCP 7000\n", "Unknown type \"CONNECT\" in HEALTHCHECK "
                                                   "(try CMD)"},
        {"FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"},
        {"FROM a\nHEALTHCHECK CMD []\n", "Missing command after HEALTHCHECK CMD"},
        {"FROM a\nHEALTHCHECK --interval=50us CMD x\n", "Interval \"interval\" cannot be less "
                                                        "than 1ms"},
        {"FROM a\nHEALTHCHECK --timeout=5 CMD x\n", "invalid duration \"5\""},
        {"FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative (-1)"},
        {"FROM a\nHEALTHCHECK --retries=x CMD x\n", "\"x\" is not a number"},
        {"FROM a\nHEALTHCHECK --cmd=x CMD x\n", "HEALTHCHECK does not take --cmd"},
        {"FROM a\nRUN --network=bridge x\n", "invalid network mode \"bridge\""},
        {"FROM a\nRUN --security=privileged x\n", "security \"privileged\" is not valid"},
        {"FROM a\nRUN --mount=type=cahce,target=/c x\n", "Dockerfile:2: unsupported mount type "
                                                         "\"cahce\" (did you mean cache?)"},
        {"FROM a\nRUN --mount=target=/c,sharing=lock x\n", "unsupported sharing value \"lock\" "
                                                           "(did you mean locked?)"},
        {"FROM a\nRUN --mount=type=bind,target=/c,sharing=locked x\n",
         "invalid cache sharing set for bind mount"},
        {"FROM a\nRUN --mount=type=cache,target=/c,trgt=/x x\n", "unexpected key 'trgt' in "
                                                                 "'trgt=/x'"},
        {"FROM a\nRUN --mount=type=bind,mode=0700,target=/x x\n", "mode not allowed for \"bind\" "
                                                                  "type mounts"},
        {"FROM a\nRUN --mount=type=secret x\n", "invalid secret mount. one of source, target "
                                                "required"},
        {"FROM a\nRUN --mount=type=secret,src=a,id=b x\n", "both source and id can't be set"},
        {"FROM a\nRUN --mount=type=cache,target=/c,required x\n", "unexpected key 'required' for "
                                                                  "mount type 'cache'"},
        {"FROM a\nRUN --mount=target=/c,size=1m x\n", "unexpected key 'size' for mount type "
                                                      "'bind'"},
        {"FROM a\nRUN --mount=type=tmpfs,target=/t,size=lots x\n", "invalid value for size: lots"},
        {"FROM a\nRUN --mount=type=cache,target=/c,uid=-1 x\n", "invalid value -1 for uid"},
        {"FROM a\nRUN --mount=type=cache,target=/c,mode=0800 x\n", "invalid value 0800 for mode"},
        {"FROM a\nRUN --mount=type=bind,ro=maybe,target=/c x\n", "invalid value for ro: maybe"},
        {"FROM a\nRUN --mount=type=bind,target,x x\n", "invalid field 'target' must be a key=value "
                                                       "pair"},
        {"FROM a\nRUN --mount= x\n", "failed to parse csv mounts: EOF"},
        {"FROM a\nRUN --mount=target=\\\"/a x\n", "failed to parse csv mounts: bare \""},
        {"FROM a\nRUN --mount=from=$X,target=/c x\n", "'from' doesn't support variable "
                                                      "expansion, define alias stage instead"},
        {"# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
        {"# escape=`\n#escape=\\\nFROM a\n", "Dockerfile:2: only one escape parser directive can "
                                             "be used"},
        {"# syntax=a\n# SYNTAX=b\nFROM a\n", "Dockerfile:2: only one syntax parser directive"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(rows); i++)
        parse_fails(rows[i].text, strlen(rows[i].text), rows[i].msg);

    /* a NUL byte and an endless line */
    parse_fails("FROM a\nRUN a\0b\n", 15, "Dockerfile:2: a NUL byte");
    size_t n = 70000;
    char *big = malloc(n + 16);
    memcpy(big, "FROM a\nRUN ", 11);
    memset(big + 11, 'x', n);
    big[11 + n] = '\n';
    parse_fails(big, 12 + n, "Dockerfile:2: line longer than 65535 bytes");
    free(big);

    /* no control character reaches a message */
    parse_fails("FROM a\n\x1b[31mRUN x\n", 18, "Dockerfile:2: unknown instruction: ?[31mRUN");
    tug_dockerfile *esc = parse_ok("FROM a\nENV A=\"\x1b]0;x\n");
    tug_df_pairs *pairs = NULL;
    tug_error *e = NULL;
    assert_int_equal(tug_df_read_pairs(&esc->inst[1], NULL, NULL, &pairs, &e), -1);
    assert_null(strchr(e->msg, 0x1b));
    tug_error_free(e);
    tug_dockerfile_free(esc);

    /* the name given is the name in messages */
    tug_dockerfile *df = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_dockerfile_parse("ci/Dockerfile.prod", "FROM a\nRUNN\n", 12, &df, &err),
                     -1);
    assert_string_equal(err->msg, "ci/Dockerfile.prod:2: unknown instruction: RUNN (did you mean "
                                  "RUN?)");
    tug_error_free(err);
}

/* What BuildKit accepts that looks odd, and must not become an error. */
static void test_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "FROM scratch\nCOPY -- foo /tmp/\nCMD -- [ ]\n",
        "FROM x\nUSER docker:root\nEXPOSE 9000 5000 6000\nSTOPSIGNAL SIGKILL\n",
        "FROM x\nHEALTHCHECK --start-period=0s --start-interval=0s --interval=5s --timeout=0s "
        "--retries=0 CMD [\"foo\"]\nHEALTHCHECK NONE\n",
        "FROM x\nCOPY --link --parents --exclude=*.md --exclude=.git . /app\n",
        "FROM x\nADD --checksum=sha256:abc --keep-git-dir=false --unpack https://x/y.tgz /z\n",
        "FROM x\nRUN --mount=type=secret,id=tok,env=TOKEN --mount=type=ssh "
        "--device=vendor.com/gpu=all true\n",
        "FROM x\nRUN --mount=type=bind,target=/x,readwrite=true --mount=type=cache,target=/c,"
        "id=c1,sharing=private,uid=1,gid=2,mode=0755 --network=host true\n",
        "FROM x\nRUN --mount=\"type=bind,\"\"target\"\"=/x\" true\n",
        "\xef\xbb\xbf"
        "FROM x\n",
        "FROM x\r\nRUN a \\\r\n  b\r\n",
        "FROM x\nRUN echo \"unterminated \\\n  quote\n",
        "FROM x\nonbuild add . /\n",
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(ok); i++)
        tug_dockerfile_free(parse_ok(ok[i]));
}

static void test_accepted_parse(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM scratch\n"
                                  "COPY -- --weird /tmp/\n"
                                  "RUN --network=none --security=sandbox -- true\n"
                                  "ENV A=\"a\\\"b\" B=it\\'s C=\"''\" D='x\\'y'\n"
                                  "LABEL maintainer docker <docker@docker.io>\n"
                                  "ARG a b=\"c d\" e\n"
                                  "MAINTAINER Someone <some@one.org>\n");
    const tug_df_instruction *in = df->inst;
    assert_argv(&in[1], 2, "--weird", "/tmp/");
    assert_int_equal(in[1].n_flags, 0);
    assert_int_equal(in[2].n_flags, 2);
    assert_string_equal(in[2].args, "true");
    /* in single quotes the escape is no escape: 'x\'y' is one quoted word still open */
    assert_argv(&in[3], 8, "A", "\"a\\\"b\"", "B", "it\\'s", "C", "\"''\"", "D", "'x\\'y'");
    assert_argv(&in[4], 2, "maintainer", "docker <docker@docker.io>");
    assert_argv(&in[5], 3, "a", "b=\"c d\"", "e");
    assert_string_equal(in[6].args, "Someone <some@one.org>");
    tug_dockerfile_free(df);
}

static bool lookup(const char *name, const char **ret, void *userdata)
{
    for (const char *const *e = userdata; *e; e++) {
        size_t n = strlen(name);
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            *ret = *e + n + 1;
            return true;
        }
    }
    return false;
}

static const char *vars[] = {
    "BASE=alpine:3.20", "PLAT=linux/amd64",    "HTTP=80", "DIR=/srv", "WHO=app", "NAME=site",
    "EMPTY=",           "PORTS=8080 9090/udp", NULL};

static void test_read_from_env(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("ARG BASE\n"
                                  "FROM --platform=$PLAT ${BASE} AS Web\n"
                                  "ENV A=1 B=\"$DIR/x y\" C=${NOPE:-dflt} D=it\\'s\n"
                                  "ENV OLD value with  spaces and $WHO\n"
                                  "LABEL \"com.x.name\"=\"$NAME\" version=1.0\n"
                                  "ARG V=\"$DIR 1\" W\n"
                                  "FROM $EMPTY\n"
                                  "FROM x\n"
                                  "ENV Q=\"open\n");
    const tug_df_instruction *in = df->inst;
    tug_df_from *from = NULL;
    assert_int_equal(tug_df_read_from(&in[1], lookup, vars, &from, NULL), 0);
    assert_string_equal(from->image, "alpine:3.20");
    assert_string_equal(from->platform, "linux/amd64");
    assert_string_equal(from->stage, "web");
    tug_df_free(from);
    tug_dockerfile *plat = parse_ok("FROM --platform= a\n");
    assert_int_equal(tug_df_read_from(&plat->inst[0], lookup, vars, &from, NULL), 0);
    assert_null(from->platform);
    tug_df_free(from);
    tug_dockerfile_free(plat);

    tug_error *err = NULL;
    assert_int_equal(tug_df_read_from(&in[6], lookup, vars, &from, &err), -1);
    assert_string_equal(err->msg, "Dockerfile:7: base name ($EMPTY) should not be blank");
    tug_error_free(err);
    err = NULL;

    tug_df_pairs *p = NULL;
    assert_int_equal(tug_df_read_pairs(&in[2], lookup, vars, &p, NULL), 0);
    assert_int_equal(p->n, 4);
    assert_string_equal(p->v[0].key, "A");
    assert_string_equal(p->v[0].value, "1");
    assert_string_equal(p->v[1].value, "/srv/x y");
    assert_string_equal(p->v[2].value, "dflt");
    assert_string_equal(p->v[3].value, "it's");
    tug_df_free(p);
    assert_int_equal(tug_df_read_pairs(&in[3], lookup, vars, &p, NULL), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->v[0].key, "OLD");
    assert_string_equal(p->v[0].value, "value with  spaces and app");
    tug_df_free(p);
    assert_int_equal(tug_df_read_pairs(&in[4], lookup, vars, &p, NULL), 0);
    assert_string_equal(p->v[0].key, "com.x.name");
    assert_string_equal(p->v[0].value, "site");
    assert_string_equal(p->v[1].value, "1.0");
    tug_df_free(p);

    assert_int_equal(tug_df_read_arg(&in[5], &p, NULL), 0);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->v[0].key, "V");
    assert_string_equal(p->v[0].value, "\"$DIR 1\"");
    assert_string_equal(p->v[1].key, "W");
    assert_null(p->v[1].value);
    tug_df_free(p);

    /* an expansion error names the line */
    assert_int_equal(tug_df_read_pairs(&in[8], lookup, vars, &p, &err), -1);
    assert_non_null(strstr(err->msg, "Dockerfile:9: failed to process \"\"open\""));
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
    err = NULL;

    /* a reader on the wrong instruction is the caller's mistake */
    assert_int_equal(tug_df_read_pairs(&in[1], lookup, vars, &p, &err), -1);
    assert_int_equal(err->kind, TUG_ERR_ENGINE);
    tug_error_free(err);
    tug_dockerfile_free(df);
}

static void test_read_expose_volume(void **state)
{
    (void)state;
    tug_dockerfile *df =
        parse_ok("FROM x\n"
                 "EXPOSE 443 ${HTTP} 53/UDP 7000-7002/tcp 127.0.0.1:8080:80 $PORTS\n"
                 "EXPOSE 80/sctp\n"
                 "EXPOSE 80/http\n"
                 "EXPOSE 70000\n"
                 "EXPOSE 90-80\n"
                 "VOLUME /a $DIR/data \"/q\"\n"
                 "VOLUME [\"/j\", \"$DIR\"]\n"
                 "VOLUME $EMPTY\n"
                 "WORKDIR $DIR/app\n"
                 "USER ${WHO}:${WHO}\n");
    const tug_df_instruction *in = df->inst;
    tug_df_words *w = NULL;
    assert_int_equal(tug_df_read_expose(&in[1], lookup, vars, &w, NULL), 0);
    /* BuildKit sorts the words as written, then expands: "$PORTS" < "${HTTP}" < "127..." ... */
    static const char *const want[] = {"8080/tcp", "9090/udp", "80/tcp",   "80/tcp",  "443/tcp",
                                       "53/udp",   "7000/tcp", "7001/tcp", "7002/tcp"};
    assert_int_equal(w->n, TUG_ARRAY_SIZE(want));
    for (size_t i = 0; i < w->n; i++)
        assert_string_equal(w->v[i], want[i]);
    assert_null(w->v[w->n]);
    tug_df_free(w);
    assert_int_equal(tug_df_read_expose(&in[2], lookup, vars, &w, NULL), 0);
    assert_string_equal(w->v[0], "80/sctp");
    tug_df_free(w);
    tug_error *err = NULL;
    assert_int_equal(tug_df_read_expose(&in[3], lookup, vars, &w, &err), -1);
    assert_string_equal(err->msg, "Dockerfile:4: invalid port: \"80/http\": invalid proto: http");
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_df_read_expose(&in[4], lookup, vars, &w, &err), -1);
    assert_non_null(strstr(err->msg, "invalid containerPort: 70000"));
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_df_read_expose(&in[5], lookup, vars, &w, &err), -1);
    tug_error_free(err);
    err = NULL;

    assert_int_equal(tug_df_read_volume(&in[6], lookup, vars, &w, NULL), 0);
    assert_int_equal(w->n, 3);
    assert_string_equal(w->v[1], "/srv/data");
    assert_string_equal(w->v[2], "/q");
    tug_df_free(w);
    assert_int_equal(tug_df_read_volume(&in[7], lookup, vars, &w, NULL), 0);
    assert_string_equal(w->v[1], "/srv");
    tug_df_free(w);
    assert_int_equal(tug_df_read_volume(&in[8], lookup, vars, &w, &err), -1);
    assert_string_equal(err->msg, "Dockerfile:9: VOLUME specified can not be an empty string");
    tug_error_free(err);

    char *s = NULL;
    assert_int_equal(tug_df_read_string(&in[9], lookup, vars, &s, NULL), 0);
    assert_string_equal(s, "/srv/app");
    free(s);
    assert_int_equal(tug_df_read_string(&in[10], lookup, vars, &s, NULL), 0);
    assert_string_equal(s, "app:app");
    free(s);
    tug_dockerfile_free(df);
}

static void test_read_commands(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM x\n"
                                  "CMD echo $HOME \"quoted\"\n"
                                  "CMD [\"nginx\", \"-g\", \"daemon off;\"]\n"
                                  "CMD []\n"
                                  "ENTRYPOINT []\n"
                                  "ENTRYPOINT\n"
                                  "ENTRYPOINT /bin/run\n"
                                  "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
                                  "HEALTHCHECK --interval=1m30s --timeout=1.5s --retries=3 \\\n"
                                  "  CMD curl -f http://localhost/ || exit 1\n"
                                  "HEALTHCHECK --start-period=2h --start-interval=500ms CMD "
                                  "[\"/check\", \"-q\"]\n"
                                  "HEALTHCHECK none\n");
    const tug_df_instruction *in = df->inst;
    tug_df_cmdline *c = NULL;
    assert_int_equal(tug_df_read_cmdline(&in[1], &c, NULL), 0);
    assert_true(c->shell);
    assert_false(c->null);
    assert_int_equal(c->argc, 1);
    assert_string_equal(c->argv[0], "echo $HOME \"quoted\"");
    tug_df_free(c);
    assert_int_equal(tug_df_read_cmdline(&in[2], &c, NULL), 0);
    assert_false(c->shell);
    assert_int_equal(c->argc, 3);
    assert_string_equal(c->argv[2], "daemon off;");
    tug_df_free(c);
    assert_int_equal(tug_df_read_cmdline(&in[3], &c, NULL), 0);
    assert_int_equal(c->argc, 0);
    assert_false(c->null);
    tug_df_free(c);
    for (int i = 4; i <= 5; i++) {
        assert_int_equal(tug_df_read_cmdline(&in[i], &c, NULL), 0);
        assert_true(c->null);
        tug_df_free(c);
    }
    assert_int_equal(tug_df_read_cmdline(&in[6], &c, NULL), 0);
    assert_true(c->shell);
    assert_string_equal(c->argv[0], "/bin/run");
    tug_df_free(c);
    assert_int_equal(tug_df_read_cmdline(&in[7], &c, NULL), 0);
    assert_int_equal(c->argc, 4);
    assert_string_equal(c->argv[3], "-c");
    tug_df_free(c);

    tug_df_healthcheck *h = NULL;
    assert_int_equal(tug_df_read_healthcheck(&in[8], &h, NULL), 0);
    assert_int_equal(h->n_test, 2);
    assert_string_equal(h->test[0], "CMD-SHELL");
    assert_string_equal(h->test[1], "curl -f http://localhost/ || exit 1");
    assert_true(h->interval == 90000000000LL);
    assert_true(h->timeout == 1500000000LL);
    assert_int_equal(h->retries, 3);
    assert_true(h->start_period == 0);
    tug_df_free(h);
    assert_int_equal(tug_df_read_healthcheck(&in[9], &h, NULL), 0);
    assert_int_equal(h->n_test, 3);
    assert_string_equal(h->test[0], "CMD");
    assert_string_equal(h->test[2], "-q");
    assert_true(h->start_period == 7200000000000LL);
    assert_true(h->start_interval == 500000000LL);
    tug_df_free(h);
    assert_int_equal(tug_df_read_healthcheck(&in[10], &h, NULL), 0);
    assert_int_equal(h->n_test, 1);
    assert_string_equal(h->test[0], "NONE");
    tug_df_free(h);
    tug_dockerfile_free(df);
}

static void test_read_copy(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM x\n"
                                  "COPY --chown=$WHO:$WHO --chmod=0644 a $DIR/b* ${DIR}/\n"
                                  "COPY --from=build --link --exclude=*.md --exclude=tmp "
                                  "/out /app/\n"
                                  "ADD --checksum=sha256:${NAME} --keep-git-dir=true "
                                  "https://example.com/x.tgz /x/\n"
                                  "COPY <<index.html <<-'raw.txt' src.txt /usr/share/$NAME/\n"
                                  "<h1>$NAME \"quoted\" \\$NAME</h1>\n"
                                  "index.html\n"
                                  "\tkeep $NAME\n"
                                  "\traw.txt\n"
                                  "COPY [\"with space\", \"$DIR/\"]\n"
                                  "ADD --unpack=false a.tar /\n"
                                  "COPY --from= --chown=$EMPTY --chmod= a /\n");
    const tug_df_instruction *in = df->inst;
    tug_df_copy *c = NULL;
    assert_int_equal(tug_df_read_copy(&in[1], lookup, vars, &c, NULL), 0);
    assert_false(c->add);
    assert_int_equal(c->n_sources, 2);
    assert_string_equal(c->sources[0].path, "a");
    assert_null(c->sources[0].data);
    assert_string_equal(c->sources[1].path, "/srv/b*");
    assert_string_equal(c->dest, "/srv/");
    assert_string_equal(c->chown, "app:app");
    assert_string_equal(c->chmod, "0644");
    assert_null(c->from);
    assert_null(c->checksum);
    assert_false(c->link);
    assert_int_equal(c->keep_git_dir, -1);
    assert_int_equal(c->n_excludes, 0);
    tug_df_free(c);

    assert_int_equal(tug_df_read_copy(&in[2], lookup, vars, &c, NULL), 0);
    assert_string_equal(c->from, "build");
    assert_true(c->link);
    assert_false(c->parents);
    assert_int_equal(c->n_excludes, 2);
    assert_string_equal(c->excludes[0], "*.md");
    assert_string_equal(c->excludes[1], "tmp");
    assert_null(c->chown);
    tug_df_free(c);

    assert_int_equal(tug_df_read_copy(&in[3], lookup, vars, &c, NULL), 0);
    assert_true(c->add);
    assert_string_equal(c->checksum, "sha256:site");
    assert_int_equal(c->keep_git_dir, 1);
    assert_int_equal(c->unpack, -1);
    tug_df_free(c);

    assert_int_equal(tug_df_read_copy(&in[4], lookup, vars, &c, NULL), 0);
    assert_int_equal(c->n_sources, 3);
    assert_string_equal(c->sources[0].path, "index.html");
    assert_string_equal(c->sources[0].data, "<h1>site \"quoted\" $NAME</h1>\n");
    assert_string_equal(c->sources[1].path, "raw.txt");
    assert_string_equal(c->sources[1].data, "keep $NAME\n");
    assert_string_equal(c->sources[2].path, "src.txt");
    assert_null(c->sources[2].data);
    assert_string_equal(c->dest, "/usr/share/site/");
    tug_df_free(c);

    assert_int_equal(tug_df_read_copy(&in[5], lookup, vars, &c, NULL), 0);
    assert_string_equal(c->sources[0].path, "with space");
    assert_string_equal(c->dest, "/srv/");
    tug_df_free(c);
    assert_int_equal(tug_df_read_copy(&in[6], lookup, vars, &c, NULL), 0);
    assert_int_equal(c->unpack, 0);
    tug_df_free(c);
    /* an empty value is no value */
    assert_int_equal(tug_df_read_copy(&in[7], lookup, vars, &c, NULL), 0);
    assert_null(c->from);
    assert_null(c->chown);
    assert_null(c->chmod);
    tug_df_free(c);
    tug_dockerfile_free(df);
}

static void test_read_run(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok(
        "FROM x\n"
        "RUN --mount=type=cache,target=/var/cache/apt/../apt,sharing=locked "
        "--mount=type=bind,from=build,source=/out,target=/in,rw "
        "--mount=type=tmpfs,target=/tmp,size=64m "
        "--mount=type=secret,id=npmrc,target=$DIR/.npmrc,uid=${UID:-1000},mode=0440,required "
        "--mount=type=secret,id=aws "
        "--mount=type=secret,src=token,env=TOKEN "
        "--mount=type=ssh "
        "--network=none --security=insecure apt-get update\n"
        "RUN <<EOF\n"
        "set -e\n"
        "echo hi\n"
        "EOF\n"
        "RUN <<-EOF\n"
        "\t#!/usr/bin/env python3\n"
        "\tprint('hi')\n"
        "EOF\n"
        "RUN <<A cat - <<B\n"
        "one\n"
        "A\n"
        "two\n"
        "B\n"
        "RUN [\"/bin/true\"]\n");
    const tug_df_instruction *in = df->inst;
    tug_df_run *r = NULL;
    tug_error *err = NULL;
    if (tug_df_read_run(&in[1], lookup, vars, &r, &err) < 0)
        fail_msg("%s", err->msg);
    assert_true(r->cmd.shell);
    assert_string_equal(r->cmd.argv[0], "apt-get update");
    assert_int_equal(r->network, TUG_DF_NETWORK_NONE);
    assert_true(r->insecure);
    assert_int_equal(r->n_mounts, 7);
    const tug_df_mount *m = r->mounts;
    assert_int_equal(m[0].type, TUG_DF_MOUNT_CACHE);
    assert_string_equal(m[0].id, "/var/cache/apt");
    assert_int_equal(m[0].sharing, TUG_DF_SHARING_LOCKED);
    assert_false(m[0].readonly);
    assert_true(m[0].mode == -1);
    assert_int_equal(m[1].type, TUG_DF_MOUNT_BIND);
    assert_string_equal(m[1].from, "build");
    assert_string_equal(m[1].source, "/out");
    assert_false(m[1].readonly);
    assert_int_equal(m[2].type, TUG_DF_MOUNT_TMPFS);
    assert_true(m[2].size == 64LL << 20);
    assert_false(m[2].readonly);
    assert_int_equal(m[3].type, TUG_DF_MOUNT_SECRET);
    assert_string_equal(m[3].id, "npmrc");
    assert_string_equal(m[3].target, "/srv/.npmrc");
    assert_true(m[3].uid == 1000);
    assert_true(m[3].mode == 0440);
    assert_true(m[3].required);
    assert_true(m[3].readonly);
    assert_string_equal(m[4].target, "/run/secrets/aws");
    assert_string_equal(m[5].id, "token");
    assert_string_equal(m[5].env, "TOKEN");
    assert_null(m[5].target);
    assert_false(m[5].required);
    assert_int_equal(m[6].type, TUG_DF_MOUNT_SSH);
    assert_string_equal(r->display, in[1].original);
    tug_df_free(r);

    assert_int_equal(tug_df_read_run(&in[2], lookup, vars, &r, NULL), 0);
    assert_true(r->cmd.shell);
    assert_string_equal(r->cmd.argv[0], "set -e\necho hi\n");
    assert_null(r->script_path);
    assert_string_equal(r->display, "RUN <<EOF (set -e...)");
    tug_df_free(r);

    assert_int_equal(tug_df_read_run(&in[3], lookup, vars, &r, NULL), 0);
    assert_string_equal(r->script_path, "/dev/pipes/EOF");
    assert_string_equal(r->script, "#!/usr/bin/env python3\nprint('hi')\n");
    assert_string_equal(r->cmd.argv[0], "/dev/pipes/EOF");
    assert_true(r->cmd.shell);
    tug_df_free(r);

    assert_int_equal(tug_df_read_run(&in[4], lookup, vars, &r, NULL), 0);
    assert_string_equal(r->cmd.argv[0], "<<A cat - <<B\none\nA\ntwo\nB");
    assert_string_equal(r->display, "RUN <<A cat - <<B");
    tug_df_free(r);

    assert_int_equal(tug_df_read_run(&in[5], lookup, vars, &r, NULL), 0);
    assert_false(r->cmd.shell);
    assert_int_equal(r->n_mounts, 0);
    assert_int_equal(r->network, TUG_DF_NETWORK_DEFAULT);
    tug_df_free(r);
    tug_dockerfile_free(df);

    /* mount values are checked once expanded */
    df = parse_ok("FROM x\nRUN --mount=type=$T,target=/x true\n");
    const char *t[] = {"T=bnd", NULL};
    assert_int_equal(tug_df_read_run(&df->inst[1], lookup, t, &r, &err), -1);
    assert_string_equal(err->msg, "Dockerfile:2: unsupported mount type \"bnd\" (did you mean "
                                  "bind?)");
    tug_error_free(err);
    tug_dockerfile_free(df);
}

static void test_onbuild(void **state)
{
    (void)state;
    tug_dockerfile *df = parse_ok("FROM x\n"
                                  "ONBUILD COPY --chown=1:1 . /app\n"
                                  "onbuild   run echo hi\n");
    const tug_df_instruction *in = df->inst;
    assert_int_equal(in[1].trigger->kind, TUG_DF_COPY);
    assert_int_equal(in[1].trigger->line, 2);
    assert_string_equal(in[1].trigger->flags[0].name, "chown");
    assert_string_equal(in[1].trigger_text, "COPY --chown=1:1 . /app");
    assert_string_equal(in[2].trigger_text, "run echo hi");
    assert_argv(in[2].trigger, 1, "echo hi");

    /* the trigger comes back from the image config as text */
    tug_dockerfile *t = NULL;
    tug_error *err = NULL;
    assert_int_equal(tug_dockerfile_parse_trigger("ONBUILD", in[1].trigger_text, &t, NULL), 0);
    assert_int_equal(t->n_inst, 1);
    assert_int_equal(t->n_stages, 0);
    assert_int_equal(t->inst[0].kind, TUG_DF_COPY);
    tug_dockerfile_free(t);
    assert_int_equal(tug_dockerfile_parse_trigger("ONBUILD", "RUN <<EOF\nx\nEOF", &t, NULL), 0);
    assert_string_equal(t->inst[0].heredocs[0].body, "x\n");
    tug_dockerfile_free(t);
    assert_int_equal(tug_dockerfile_parse_trigger("ONBUILD", "FROM x", &t, &err), -1);
    assert_non_null(strstr(err->msg, "FROM isn't allowed as an ONBUILD trigger"));
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_dockerfile_parse_trigger("ONBUILD", "RUN a\nRUN b", &t, &err), -1);
    assert_non_null(strstr(err->msg, "single expression"));
    tug_error_free(err);
    tug_dockerfile_free(df);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical),       cmocka_unit_test(test_continuations),
        cmocka_unit_test(test_directives),    cmocka_unit_test(test_json),
        cmocka_unit_test(test_heredocs),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_accepted),      cmocka_unit_test(test_accepted_parse),
        cmocka_unit_test(test_read_from_env), cmocka_unit_test(test_read_expose_volume),
        cmocka_unit_test(test_read_commands), cmocka_unit_test(test_read_copy),
        cmocka_unit_test(test_read_run),      cmocka_unit_test(test_onbuild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
