/* What `logs` reads as docker reads it: --since/--until times, --tail counts, --details. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/error.h"

/* A --since/--until value as docker takes it, in ns since the epoch (0: no bound):
 * - a Go duration ("10m", "1m30s", "-1h") before now_ns;
 * - RFC 3339 with a zone ("2026-01-02T15:04:05Z", "...+01:00", fractions), or without one
 *   ("2026-01-02T15:04:05", "2026-01-02T15:04", "2026-01-02T15", "2026-01-02"), read in the
 *   zone local_offset seconds east of UTC;
 * - unix seconds with an optional fraction ("1700000000.5").
 * Returns -1 with *ret_why (to free) saying why. */
int tug_logs_parse_time(const char *value, int64_t now_ns, long local_offset, int64_t *ret_ns,
                        char **ret_why);
/* --tail: the number of lines, or -1 for all ("all", a negative number, or anything that is no
 * number at all: docker shows everything then). */
long tug_logs_parse_tail(const char *value);
/* --details: the attributes docker's json-file driver records for the container's log-opts
 * labels, labels-regex, env and env-regex, as "k=v,k2=v2" sorted by key ("" when none).
 * ctr_config is the container's create request ({"Config":..., "HostConfig":...}). */
char *tug_logs_details(json_t *ctr_config);

/* ---- reading a container's log (logread.c) ---- */

struct tug_store;
struct tug_container;

/* One line of the log as the json-file driver recorded it. */
typedef struct tug_log_entry {
    bool is_stderr;
    const char *time; /* RFC 3339 with nanoseconds, as recorded; NULL when missing */
    const char *text; /* the line with its newline (a partial line has none) */
    size_t len;
} tug_log_entry;

typedef struct tug_logs_opts {
    long tail;                    /* the last lines only; -1: all */
    long long since_ns, until_ns; /* 0 = no bound */
    bool follow;                  /* then what is appended, until the container stops */
    /* attach: only what is written from now on (no lines already there), waiting for a
     * container that has not started yet to start; implies follow */
    bool from_now;
    /* each entry; a negative return stops the reading (the reader went away) */
    int (*emit)(void *data, const tug_log_entry *e);
    /* with follow, asked while nothing new comes: true stops the reading */
    bool (*stop)(void *data);
    void *data;
} tug_logs_opts;

/* Read ct's log (and its rotated files) oldest first, as `logs` shows it. A container whose
 * log driver is none is a user error saying so. Returns 0, or -1 with err; an emit that
 * stops the reading is no error. */
int tug_logs_read(struct tug_store *s, struct tug_container *ct, const tug_logs_opts *o,
                  tug_error **err);
