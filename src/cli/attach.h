/* The client side of an attach channel: the terminal or stdio of tug run / start -a / attach. */
#pragma once
#include <stdbool.h>

#include "cli.h"
#include "runtime/container.h"
#include "util/strutil.h"

#define ATTACH_STDOUT 2u
#define ATTACH_STDERR 4u
/* attach_relay's answer when the user typed the detach keys */
#define ATTACH_DETACHED (-2)

typedef struct attach_opts {
    bool forward_stdin; /* relay our stdin to the container */
    bool eof_closes;    /* our stdin's end ends the container's (run -i, start -ai) */
    unsigned streams;   /* ATTACH_STDOUT, ATTACH_STDERR (run -a) */
    bool tty;           /* the local terminal goes raw and its size follows */
    int proxy_pidfd;    /* >= 0: signals that would end tug go to the container's init */
    bool finish_self;   /* the caller records the exit (tug_container_finish), not the monitor */
    const tug_detach_matcher *keys; /* with tty: the keys that leave the container running */
} attach_opts;

/* Relay stdin to the monitor and its stdout/stderr frames to ours until the exit frame.
 * Returns the container's exit code, ATTACH_DETACHED after the detach keys (the caller says
 * so or not, as docker's command it stands for), or -1 when the channel broke without one. */
int attach_relay(int sock, const attach_opts *o);

/* The detach keys: flag (NULL: none given), else detachKeys of the client config (--config
 * DIR, $DOCKER_CONFIG or ~/.docker: config.json), else ctrl-p,ctrl-q. A bad sequence is
 * docker's error, status 125. */
int attach_detach_keys(cli_ctx *ctx, const char *flag, tug_detach_matcher *ret);

/* Attach to the running container ct as `tug attach` does (stdin when want_stdin and it was
 * made with -i); returns the status tug ends with, or ATTACH_DETACHED after the keys. */
int attach_running(tug_store *s, tug_container *ct, bool want_stdin, bool sig_proxy,
                   const tug_detach_matcher *keys);
