/* The flags of run and create, turned into docker's create request. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "cli.h"

typedef struct create_flags {
    json_t *request; /* {"Config":{...},"HostConfig":{...}} */
    const char *name;
    const char *image;
    const char *pull; /* missing | always | never */
    const char *platform;
    const char *detach_keys; /* --detach-keys, checked; NULL when not given */
    const char *cidfile; /* --cidfile: where run/create write the new container's ID */
    bool detach, interactive, tty;
    bool quiet; /* -q: no pull output */
    bool no_sig_proxy; /* --sig-proxy=false: signals end tug run, the container goes on */
    unsigned attach;   /* -a: 1 stdin, 2 stdout, 4 stderr; 0 when not given */
    char **warnings;  /* printed before the container starts */
    size_t n_warnings;
} create_flags;

/* Parse "[OPTIONS] IMAGE [COMMAND] [ARG...]"; on failure prints the error and returns the exit
 * status (non-zero). for_run accepts -d. */
int parse_create_flags(cli_ctx *ctx, int argc, char **argv, bool for_run, create_flags *ret);
void create_flags_clear(create_flags *f);
