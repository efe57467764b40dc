/* The prune commands' shared parts: their filters, and one step per kind of object, so that
 * `system prune` runs the very steps `container prune`, `image prune` ... run. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "cli.h"
#include "container/connect.h"

typedef struct cli_prune_opts {
    bool all;               /* images: every unused one, not only dangling; volumes: named too */
    const char *labels[16]; /* label=KEY or label=KEY=VALUE: every one must match */
    size_t nlabels;
    long long until;        /* until=: only what was created before (unix seconds); 0: any */
    bool force;             /* -f: no prompt */
    bool volumes;           /* system prune --volumes */
} cli_prune_opts;

/* A prune command's flags: -f and --filter always, -a and --volumes where the command takes
 * them (shortopts "af" or "f"; volumes). Returns 0, -1 after --help (exit 0), or an exit status. */
int cli_prune_parse(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary,
                    const char *options_help, bool with_all, bool with_volumes,
                    cli_prune_opts *o);

/* Add a --filter value (label= or until=, as docker's prune filters); 0, or an exit status
 * after docker's message. */
int cli_prune_filter(cli_ctx *ctx, cli_prune_opts *o, const char *arg);
/* Whether an object with these labels, created at this unix time, passes the filters. */
bool cli_prune_match(const cli_prune_opts *o, json_t *labels, long long created);

/* The library's prune filter of o. */
void cli_prune_filter_of(const cli_prune_opts *o, tug_prune_filter *ret);

/* Each step prints its "Deleted ...:" section (with a blank line after it, when anything went),
 * adds the bytes it freed to *reclaimed and returns an exit status. */
int cli_prune_containers(tug_store *s, const cli_prune_opts *o, long long *reclaimed);
int cli_prune_networks(tug_store *s, const cli_prune_opts *o, long long *reclaimed);
int cli_prune_images(tug_store *s, const cli_prune_opts *o, long long *reclaimed);
int cli_prune_volumes(tug_store *s, const cli_prune_opts *o, long long *reclaimed);
int cli_prune_build_cache(tug_store *s, const cli_prune_opts *o, long long *reclaimed);
/* "Total reclaimed space: 1.2MB", as every prune ends. */
void cli_prune_total(long long reclaimed);
