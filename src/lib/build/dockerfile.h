/* The Dockerfile language as docker's BuildKit frontend reads it (moby/buildkit
 * frontend/dockerfile/parser and instructions). Pure functions: no I/O, no globals.
 *
 * Two steps, as in BuildKit:
 * 1. tug_dockerfile_parse: the text into instructions. Everything that does not depend on a
 *    variable's value is checked here, so a bad Dockerfile fails before anything runs: unknown
 *    instructions (with "did you mean"), flags an instruction does not take, argument counts,
 *    JSON arrays of non-strings, heredocs, FROM first, stage names, RUN --mount syntax...
 * 2. tug_df_read_*: the executor, at each step, reads one instruction into a structure,
 *    expanding $VAR exactly where BuildKit does, with a lookup it provides.
 *
 * Every error is of kind TUG_ERR_USER and starts with "FILE:LINE: " (the instruction's first
 * line), e.g. "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"; control
 * characters from the file are shown as '?'. Out of memory is ENOMEM (TUG_ERR_ENGINE), and so
 * is a reader called on an instruction of another kind (EINVAL).
 *
 * Where BuildKit expands variables (tug_shell_expand: quotes removed, one word in, one out;
 * the readers below do it, the executor only provides the lookup):
 *   FROM           image and --platform, with the ARGs declared before the first FROM only
 *   ENV, LABEL     every key and value, all with the environment before the instruction (so
 *                  "ENV A=1 B=$A" gives B the old A)
 *   ARG            the default values only, one after the other (ARG A=1 B=$A sees A=1), and
 *                  only when no --build-arg overrides: the executor does it (tug_df_read_arg)
 *   COPY, ADD      sources, destination, --chown, --chmod, ADD --checksum; heredoc bodies
 *                  whose name is unquoted ($VAR only: quotes stay, see tug_df_read_copy)
 *   WORKDIR, USER, STOPSIGNAL, VOLUME (each path)
 *   EXPOSE         split into words as well (tug_shell_words)
 *   RUN            the values of --mount options only
 * and never: RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK command lines (the shell in the
 * container expands them), MAINTAINER, ONBUILD (kept as text, expanded when it triggers),
 * COPY --from (BuildKit refuses a $ there), --exclude, --network, --security.
 * The lookup sees ENV and ARG values in the build environment: for the cache key, a caller
 * can note which names each step looked up (see tug_shell_lookup).
 *
 * In use (error handling left out):
 *     tug_dockerfile *df;
 *     tug_dockerfile_parse("Dockerfile", text, len, &df, err);
 *     meta ARGs: df->inst[0 .. df->n_meta_args), each tug_df_read_arg
 *     for each stage st = &df->stages[s]:
 *         tug_df_read_from(&df->inst[st->from], meta_lookup, ...), then
 *         for i in st->from + 1 .. st->end, by df->inst[i].kind:
 *             TUG_DF_RUN: tug_df_run *run; tug_df_read_run(&df->inst[i], env_lookup, state,
 *                         &run, err); ... run->cmd, run->mounts ...; tug_df_free(run);
 *             TUG_DF_COPY, TUG_DF_ADD: tug_df_read_copy ...   TUG_DF_ENV: tug_df_read_pairs ...
 *     tug_dockerfile_free(df);
 * The readers' results own their memory (they outlive df); the instructions point into df.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/error.h"
#include "shell.h"

typedef enum tug_df_kind {
    TUG_DF_ADD,
    TUG_DF_ARG,
    TUG_DF_CMD,
    TUG_DF_COPY,
    TUG_DF_ENTRYPOINT,
    TUG_DF_ENV,
    TUG_DF_EXPOSE,
    TUG_DF_FROM,
    TUG_DF_HEALTHCHECK,
    TUG_DF_LABEL,
    TUG_DF_MAINTAINER,
    TUG_DF_ONBUILD,
    TUG_DF_RUN,
    TUG_DF_SHELL,
    TUG_DF_STOPSIGNAL,
    TUG_DF_USER,
    TUG_DF_VOLUME,
    TUG_DF_WORKDIR,
} tug_df_kind;

/* "RUN", "COPY", ... */
const char *tug_df_kind_name(tug_df_kind kind);

/* A flag before the arguments: --name=value, or --name alone (value NULL). Quotes and escapes
 * are already removed (--mount=target="/a b" has the value target=/a b). Each instruction's
 * flags are checked against the ones it takes:
 *   ADD     --chown --chmod --checksum --link --keep-git-dir --unpack --exclude (repeatable)
 *   COPY    --from --chown --chmod --link --parents --exclude (repeatable)
 *   FROM    --platform          RUN  --mount (repeatable) --network --security --device
 *   HEALTHCHECK --interval --timeout --start-period --start-interval --retries
 * and no other instruction takes any. */
typedef struct tug_df_flag {
    const char *name; /* without the dashes: "mount" */
    const char *value;
} tug_df_flag;

/* A heredoc: RUN <<EOF ... EOF, COPY <<A <<B /dst ... */
typedef struct tug_df_heredoc {
    const char *name; /* the terminator, quotes removed: EOF for <<'EOF' */
    const char *body; /* the lines up to the terminator, each with its line end as written; a
                         <<- body still has its leading tabs (the readers remove them) */
    unsigned fd;      /* 3 for 3<<EOF, 0 when none is given */
    bool chomp;       /* <<-EOF: leading tabs go from every line and the terminator's */
    bool expand;      /* the name had no quotes: COPY/ADD expand $VAR in the body */
} tug_df_heredoc;

typedef struct tug_df_instruction {
    tug_df_kind kind;
    const char *file; /* the Dockerfile's name, for messages */
    int line;         /* first line, 1-based */
    int end_line;     /* last line: continuations and heredoc bodies included */
    char escape;      /* the Dockerfile's escape character, for tug_shell_expand */
    /* The instruction as BuildKit prints it (history "created_by", progress): continuations
     * joined (comment and empty lines inside dropped), surrounding blanks trimmed, heredoc
     * bodies not included. */
    const char *original;
    const tug_df_flag *flags;
    size_t n_flags;
    /* The arguments after the flags as written (blanks around trimmed): the shell form. */
    const char *args;
    /* The command part was a JSON array of strings (exec form): RUN/CMD/ENTRYPOINT/SHELL,
     * HEALTHCHECK after its type, COPY/ADD/VOLUME. */
    bool json;
    /* The arguments as BuildKit's parser splits them, before any expansion (quotes still in
     * the words unless they came from JSON):
     *   RUN CMD ENTRYPOINT SHELL         the JSON strings, or { args } in shell form, or none
     *   COPY ADD VOLUME                  the JSON strings, or args split at blanks
     *   FROM EXPOSE                      args split at blanks
     *   USER WORKDIR STOPSIGNAL MAINTAINER  { args }
     *   ENV LABEL                        key, value, key, value ... (old form: one pair)
     *   ARG                              the words: name or name=default
     *   HEALTHCHECK                      type ("CMD", "NONE"), then as RUN
     *   ONBUILD                          none: see trigger */
    const char *const *argv;
    size_t argc;
    const tug_df_heredoc *heredocs;
    size_t n_heredocs;
    /* ONBUILD: the instruction it wraps (checked like any other), and the text docker keeps
     * in the image's OnBuild list (heredocs appended); read it back with
     * tug_dockerfile_parse_trigger when an image built on this one runs its triggers. */
    const struct tug_df_instruction *trigger;
    const char *trigger_text;
} tug_df_instruction;

/* A build stage: its FROM and the instructions up to the next FROM. Names are compared in
 * lower case (COPY --from=Build finds "build"); a name used twice is allowed, BuildKit only
 * warns, and a later stage of that name hides the earlier one from the stages after it. */
typedef struct tug_df_stage {
    const char *name; /* FROM ... AS name, in lower case; NULL when unnamed */
    size_t from;      /* index of its FROM in inst[] */
    size_t end;       /* one past its last instruction */
} tug_df_stage;

typedef struct tug_dockerfile {
    const char *name;
    char escape;        /* '\\', or '`' with # escape=` */
    const char *syntax; /* # syntax= value, NULL without one (tug does not switch frontends) */
    const char *check;  /* # check= value, NULL without one */
    const tug_df_instruction *inst;
    size_t n_inst;
    size_t n_meta_args; /* inst[0 .. n_meta_args) are the ARGs before the first FROM */
    const tug_df_stage *stages;
    size_t n_stages;
    /* Lines BuildKit warns about ("Empty continuation line found in: RUN a b"), in order. */
    const char *const *warnings;
    size_t n_warnings;
} tug_dockerfile;

/* Parse len bytes of a Dockerfile called name (used in messages: "Dockerfile", or the -f
 * path). A UTF-8 byte order mark is skipped; a NUL byte or a line over 65535 bytes is an
 * error (BuildKit's limit). Line ends may be \n or \r\n. */
int tug_dockerfile_parse(const char *name, const char *text, size_t len, tug_dockerfile **ret,
                         tug_error **err);
/* One ONBUILD trigger taken from a base image's config (BuildKit parses it with the default
 * escape, alone): *ret has exactly one instruction and no stage; FROM, ONBUILD and MAINTAINER
 * are refused as BuildKit refuses them. */
int tug_dockerfile_parse_trigger(const char *name, const char *text, tug_dockerfile **ret,
                                 tug_error **err);
void tug_dockerfile_free(tug_dockerfile *df);

/* Every tug_df_read_* result is one block of memory: tug_df_free frees it whole. */
void tug_df_free(void *result);

/* FROM [--platform=P] image [AS name] */
typedef struct tug_df_from {
    const char *image;    /* expanded: "scratch", a stage name or an image reference */
    const char *platform; /* expanded; NULL without --platform (or with --platform=) */
    const char *stage;    /* AS name in lower case (not expanded); NULL */
} tug_df_from;
/* lookup: the meta ARGs (declared before the first FROM, with --build-arg and the predefined
 * ones applied). An image or a platform that expands to "" is an error. */
int tug_df_read_from(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                     tug_df_from **ret, tug_error **err);

typedef struct tug_df_pair {
    const char *key;
    const char *value; /* ARG without a default: NULL */
} tug_df_pair;
typedef struct tug_df_pairs {
    size_t n;
    const tug_df_pair *v;
} tug_df_pairs;
/* ENV and LABEL: k=v k2="v 2" ..., or the old one-pair form "ENV k v w" (value "v w"); keys
 * and values expanded. */
int tug_df_read_pairs(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                      tug_df_pairs **ret, tug_error **err);
/* ARG name[=default] ...: names as written, defaults NOT expanded (quotes still in). For each
 * in order: a --build-arg value wins as is; else a default is expanded with
 * tug_shell_expand(default, df->escape, ...) in the environment that already has the earlier
 * names of this ARG; else, in a stage, a meta ARG of the same name gives its value. */
int tug_df_read_arg(const tug_df_instruction *in, tug_df_pairs **ret, tug_error **err);

typedef struct tug_df_words {
    size_t n;
    const char *const *v; /* NULL-terminated too */
} tug_df_words;
/* EXPOSE: "80/tcp", "53/udp", one per port of a range, protocol in lower case (tcp when
 * none); BuildKit's port syntax ([ip:][hostport:]port[-end][/tcp|udp|sctp]; the host parts
 * are checked and dropped) and order (the words sorted before expansion). */
int tug_df_read_expose(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       tug_df_words **ret, tug_error **err);
/* VOLUME: the paths, expanded; one that is empty is an error. */
int tug_df_read_volume(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       tug_df_words **ret, tug_error **err);
/* WORKDIR, USER, STOPSIGNAL: the argument expanded, as a new string (free()). MAINTAINER is
 * in->args, never expanded. tug does not check the signal name here. */
int tug_df_read_string(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                       char **ret, tug_error **err);

/* A command line, BuildKit's ShellDependantCmdLine. */
typedef struct tug_df_cmdline {
    bool shell;  /* shell form: run argv[0] through the stage's SHELL (default
                    ["/bin/sh", "-c"]); exec (JSON) form otherwise */
    bool null;   /* ENTRYPOINT [] or a bare ENTRYPOINT: the config's Entrypoint becomes null */
    size_t argc; /* 1 in shell form; CMD [] has 0 (the config's Cmd becomes []) */
    const char *const *argv;
} tug_df_cmdline;
/* CMD, ENTRYPOINT and SHELL (which must be a JSON array: its argv replaces the stage's
 * shell). Not expanded. */
int tug_df_read_cmdline(const tug_df_instruction *in, tug_df_cmdline **ret, tug_error **err);

typedef struct tug_df_healthcheck {
    /* the config's Healthcheck.Test: {"NONE"}, {"CMD", argv...} or {"CMD-SHELL", "line"} */
    size_t n_test;
    const char *const *test;
    int64_t interval, timeout, start_period, start_interval; /* ns; 0: not set (inherit) */
    int retries;                                             /* 0: not set */
} tug_df_healthcheck;
/* HEALTHCHECK NONE | [--interval --timeout --start-period --start-interval --retries] CMD ...
 * Durations in Go's syntax ("30s", "1m30s", "1.5h"); 0 < d < 1ms is an error. */
int tug_df_read_healthcheck(const tug_df_instruction *in, tug_df_healthcheck **ret,
                            tug_error **err);

/* One source of COPY/ADD: a path, or a heredoc (COPY <<EOF /dst). */
typedef struct tug_df_source {
    const char *path; /* expanded; a heredoc's name (the file name it gets) */
    const char *data; /* a heredoc's content: <<- tabs removed, $VAR expanded unless the name
                         was quoted (only $: quotes and other escapes stay as written); NULL
                         for a path */
} tug_df_source;
typedef struct tug_df_copy {
    bool add;
    size_t n_sources;
    const tug_df_source *sources; /* in the order written */
    const char *dest;             /* expanded */
    /* COPY --from: a stage name (compare in lower case), a stage index or an image; NULL */
    const char *from;
    const char *chown;    /* expanded; NULL when not given or empty, as in BuildKit */
    const char *chmod;    /* expanded; NULL when not given or empty */
    const char *checksum; /* ADD --checksum, expanded; NULL when not given or empty */
    bool link, parents;
    int keep_git_dir, unpack; /* ADD: -1 not given, else 0 or 1 */
    size_t n_excludes;
    const char *const *excludes; /* --exclude patterns, not expanded */
} tug_df_copy;
int tug_df_read_copy(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                     tug_df_copy **ret, tug_error **err);

typedef enum {
    TUG_DF_MOUNT_BIND,
    TUG_DF_MOUNT_CACHE,
    TUG_DF_MOUNT_TMPFS,
    TUG_DF_MOUNT_SECRET,
    TUG_DF_MOUNT_SSH,
} tug_df_mount_type;
typedef enum {
    TUG_DF_SHARING_SHARED, /* the default */
    TUG_DF_SHARING_PRIVATE,
    TUG_DF_SHARING_LOCKED,
} tug_df_sharing;
/* RUN --mount=type=...,target=...: BuildKit's Mount, with its defaults applied. */
typedef struct tug_df_mount {
    tug_df_mount_type type;   /* bind when not given */
    const char *target;       /* as written, relative to the WORKDIR; NULL: the WORKDIR
                                 itself (BuildKit refuses a target that comes to "/");
                                 secret: the file, default /run/secrets/<id>, NULL with
                                 only env= */
    const char *source;       /* NULL when not given */
    const char *from;         /* a stage or image to mount from; NULL: the context (bind),
                                 an empty dir (cache) */
    const char *id;           /* cache: default the cleaned target; secret: src, else id,
                                 else the target's base name */
    const char *env;          /* secret: also as this environment variable; NULL */
    tug_df_sharing sharing;   /* cache */
    bool readonly;            /* default: true for bind, secret, ssh */
    bool required;            /* secret, ssh */
    long long size;           /* tmpfs size= in bytes; 0 when not given */
    long long mode, uid, gid; /* -1 when not given (secret files default to 0400) */
} tug_df_mount;
typedef enum {
    TUG_DF_NETWORK_DEFAULT,
    TUG_DF_NETWORK_NONE,
    TUG_DF_NETWORK_HOST,
} tug_df_network;
typedef struct tug_df_run {
    /* What to run, heredocs resolved as BuildKit does: a lone "RUN <<EOF" runs the body as
     * the shell's command; one starting with #! is written to script_path (0755, read-only,
     * in a directory mounted for the step) and argv[0] is that path; any other heredoc use is
     * handed to the shell as "args\n<body>NAME..." for the shell to read. */
    tug_df_cmdline cmd;
    const char *script_path; /* "/dev/pipes/EOF" for a #! heredoc, else NULL */
    const char *script;      /* its content */
    const char *display;     /* the step's name on the progress output: original, plus
                                " (first line of the heredoc...)" with heredocs */
    size_t n_mounts;
    const tug_df_mount *mounts;
    tug_df_network network;
    bool insecure; /* --security=insecure (sandbox is the default) */
    size_t n_devices;
    const char *const *devices; /* --device values as written (CDI devices) */
} tug_df_run;
/* The lookup expands --mount option values; an unknown mount type, option or sharing mode,
 * a bad number and options that do not fit the type are errors, as in BuildKit. */
int tug_df_read_run(const tug_df_instruction *in, tug_shell_lookup lookup, void *userdata,
                    tug_df_run **ret, tug_error **err);

/* A heredoc's body with <<- tabs removed (a new string, free()). */
char *tug_df_heredoc_text(const tug_df_heredoc *h);
