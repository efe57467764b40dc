/* What `logs` reads as docker reads it: --since/--until times, --tail counts, --details. */
#pragma once
#include <jansson.h>
#include <stdint.h>

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
