/* The command line: option parsing, output formats and exit codes. Work is done in src/lib. */
#pragma once
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "registry/registry.h"
#include "store/store.h"
#include "util/error.h"

#define EXIT_USER 1
#define EXIT_ENGINE 125
/* docker's inspect, version, info and events: a --format template that cannot parse */
#define EXIT_TEMPLATE_PARSE 64

/* --help in a command's getopt table, answered as 'H' */
#define HELP_OPT {"help", no_argument, NULL, 'H'}

typedef struct cli_ctx {
    const char *root;
    const char *prog;  /* "tug" */
    const char *cmd;   /* e.g. "image ls", for messages */
    tug_store *store;  /* opened on first use */
    const char *cur_arg; /* the argument a per-container command is working on */
    const char *insecure[16]; /* --insecure-registry and daemon.json's insecure-registries */
    size_t n_insecure;
    const char *config_dir; /* --config: where config.json (registry credentials) lives */
    int log_level;          /* -l/--log-level, -D: CLI_LOG_DEBUG prints cli_debug's lines */
} cli_ctx;

enum { CLI_LOG_TRACE, CLI_LOG_DEBUG, CLI_LOG_INFO, CLI_LOG_WARN, CLI_LOG_ERROR, CLI_LOG_FATAL,
       CLI_LOG_PANIC };
/* A line for -D/--debug (or --log-level debug) only, on stderr as docker's debug lines:
 * time="..." level=debug msg="...". */
void cli_debug(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct cli_command {
    const char *name;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
    const char *summary;
} cli_command;

int cli_store(cli_ctx *ctx, tug_store **ret_store);
/* Registry options from the command line and the config file ($TUG_CONFIG or
 * /etc/tug/daemon.json, docker's "insecure-registries" key). */
void cli_registry_opts(cli_ctx *ctx, tug_registry_opts *ret);
/* Dispatch "tug GROUP SUBCOMMAND ..." to one of cmds. */
int cli_run_group(cli_ctx *ctx, const char *group, const cli_command *cmds, int argc,
                  char **argv);
/* Print "Error: <msg>" and return the exit status for err (1 user, 125 engine). */
int cli_fail(tug_error *err);
/* Print an error message with the usage hint docker gives and return 1 (or 125 for flags). */
int cli_usage_error(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* docker's line for a flag value it refuses ("invalid argument V for F flag: why"); returns 125. */
int cli_bad_value(cli_ctx *ctx, const char *value, const char *flag, const char *why);
/* getopt_long's interface with docker's flag rules (spf13/pflag), which every command uses:
 * - a long flag is its exact name: no abbreviations (--pid is not --pids-limit);
 * - a flag without an argument is a boolean: --rm, --rm=true, --rm=false, -d=false, and
 *   shorthands combine (-it, -it=false sets -t); optarg is "true" or "false" (cli_opt_on);
 * - a flag with an argument takes --name v, --name=v, -n v, -nv or -n=v;
 * - -h is --help when the command has no -h of its own; --help=false is no flag;
 * - '+' first in shortopts stops at the first operand (run, exec, top); otherwise flags and
 *   operands mix and the operands end up at argv[optind..], as getopt_long leaves them.
 * optind = 0 starts over. Returns the flag's val, -1 at the end, '?' on an error (an unknown
 * flag, a missing argument, a bad boolean) that cli_flag_error prints. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* The value of the boolean flag cli_getopt just returned. */
bool cli_opt_on(void);
/* After cli_getopt returned '?': docker's message, "See 'tug CMD --help'." and status 125. */
int cli_flag_error(cli_ctx *ctx);
/* The flag cli_getopt just returned is one this command does not take: "unknown flag". */
int cli_flag_unknown(cli_ctx *ctx);
/* The flags of a command that takes none but --help: 0 with the operands at argv[optind..],
 * -1 when the help was printed (exit 0), else the exit status of a flag error. */
int cli_help_only(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary);
/* cli_help_only for a command whose one flag is -f, --force (force_help says what it does). */
int cli_force_only(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary,
                   const char *force_help, bool *ret_force);
/* After the flags: 0 when no operand is left, else docker's "accepts no arguments" (exit 1). */
int cli_no_operands(cli_ctx *ctx, int argc, char **argv);
/* -it with no terminal on stdin: docker's "the input device is not a TTY", status 1. */
int cli_not_a_tty(void);
/* Common "--help" text for a command. */
void cli_print_help(const char *usage, const char *summary, const char *options);

/* Aligned columns like Go's tabwriter (minwidth 10, padding 3), as docker prints tables. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(void);
void cli_table_add(cli_table *t, const char *line); /* cells separated by \t */
void cli_table_flush(cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* Print inspect documents as docker does: a JSON array (4-space indent), or a template per
 * document. Returns an exit status (0 when printing worked). */
int cli_print_documents(json_t *docs, const char *format);
/* --since/--until of logs and events as docker reads them (tug_logs_parse_time, local times in
 * this zone); 1 after docker's message. */
int cli_parse_time(const char *flag, const char *value, long long *ret_ns);
/* docker's label filter against an object's Labels: "key" (present) or "key=value". */
bool cli_label_match(json_t *labels, const char *filter);
/* Look each name up with `find` (its document, or NULL and an error) and print what was found
 * with cli_print_documents, then an "Error: ..." line per name that was not, as docker does.
 * Returns the exit status: 1 when a name was not found (125 for an engine failure). */
typedef json_t *(*cli_find_doc_fn)(tug_store *s, const char *name, void *data, tug_error **err);
int cli_inspect_each(cli_ctx *ctx, int argc, char **argv, const char *format, cli_find_doc_fn find,
                     void *data);
/* docker's prune prompt: the warning, then "Are you sure you want to continue? [y/N]". */
bool cli_confirm(const char *warning);

/* Render rows with docker's --format rules: "" or "table" uses default_table; "table TMPL" adds
 * a header rendered from header; "json" prints one JSON object per line; anything else is a
 * template per row. Returns an exit status. */
int cli_print_rows(const char *format, const char *default_table, json_t *header, json_t *rows);
/* The same for rows docker renders from a Go struct of type_name ("*formatter.ContainerContext"):
 * a field the row lacks is an error naming it. */
int cli_print_rows_typed(const char *format, const char *default_table, const char *type_name,
                         json_t *header, json_t *rows);
/* Run tmpl over an empty row of type_name with header's fields, as docker's ps checks its
 * template before it lists anything: the template's error, or 0. */
struct tug_template;
int cli_check_row_format(const struct tug_template *tmpl, const char *type_name, json_t *header,
                         tug_error **err);
