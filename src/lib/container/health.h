/* Container health checks (docker's HEALTHCHECK): the effective check of a container, one probe
 * run inside it, and the state the probes leave in a small file in the container's directory.
 * The monitor schedules the probes (src/monitor/monitor.c); each is `tug container-health ID`. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../runtime/container.h"
#include "../store/store.h"
#include "../util/error.h"

/* docker's defaults */
#define TUG_HEALTH_INTERVAL_NS (30LL * 1000000000LL)
#define TUG_HEALTH_TIMEOUT_NS (30LL * 1000000000LL)
#define TUG_HEALTH_START_INTERVAL_NS (5LL * 1000000000LL)
#define TUG_HEALTH_RETRIES 3
#define TUG_HEALTH_LOG_ENTRIES 5
#define TUG_HEALTH_OUTPUT_MAX 4096

/* What a probe leaves the container in; also `tug container-health`'s exit status, which the
 * monitor reads to choose the next interval. */
enum {
    TUG_HEALTH_NONE = 0, /* no check (or the container is not running): nothing recorded */
    TUG_HEALTH_STARTING = 10,
    TUG_HEALTH_HEALTHY = 11,
    TUG_HEALTH_UNHEALTHY = 12,
};

/* A container's check with docker's defaults filled in. */
typedef struct tug_health_check {
    char **argv; /* the command to run: CMD as given, CMD-SHELL through the Shell */
    long long interval, timeout, start_period, start_interval; /* ns */
    int retries;
} tug_health_check;

/* The check of a container Config ({"Healthcheck":{...}}): 1 and *ret filled when there is one
 * to run, 0 when there is none (no Healthcheck, an empty Test or ["NONE"]), -1 on ENOMEM. */
int tug_health_check_get(json_t *cfg, tug_health_check *ret);
void tug_health_check_clear(tug_health_check *h);

/* Go's time.Duration.String ("1s", "1.5s", "500ms", "1m30s"); NULL without memory. */
char *tug_health_duration_string(long long ns);

/* State.Health as docker's inspect shows it, or NULL when the container has none (no check,
 * never started). A stopped container keeps its log, and is unhealthy as in docker. */
json_t *tug_health_state_json(tug_store *s, tug_container *c);
/* "starting", "healthy" or "unhealthy"; "none" when State.Health would be absent. Static. */
const char *tug_health_status(tug_store *s, tug_container *c);

/* Run one probe of a running container's check inside it as `exec` runs a process (killed at
 * the check's timeout), record the result and set *ret_status to a TUG_HEALTH_* value. */
int tug_health_probe(tug_store *s, tug_container *c, int *ret_status, tug_error **err);
