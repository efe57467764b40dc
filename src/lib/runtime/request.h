/* docker's create request checked before anything is created: the values of every flag, with
 * docker's messages. Create calls it; update and the Engine API will. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "../util/error.h"

/* What this host allows, for the checks that depend on it. */
typedef struct tug_request_host {
    int cpus;           /* CPUs this process may run on */
    rlim_t nofile_hard; /* the hard limits a container cannot go past */
    rlim_t nproc_hard;
    bool cpu_realtime; /* the cpu cgroup has cpu.rt_period_us (v1) */
} tug_request_host;

/* This host's (sched_getaffinity, getrlimit). */
void tug_request_host_detect(tug_request_host *ret);

/* Check the request's Config (types, as an image config's) and HostConfig values: memory and
 * swap, CPUs, CPU shares, period and quota, pids, shm size, ulimits, restart policy, stop
 * signal and timeout, working directory, log options. The first bad value is a user error with
 * docker's words ("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available").
 * Where docker adjusts a value instead (CPU shares out of the kernel's range, a ulimit above
 * the host's hard limit), the request is adjusted the same way and a line is appended to
 * warnings (an array; NULL to drop them). update: for `update`, where a swap limit may come
 * without a memory one. host NULL: this host's. */
int tug_request_validate(json_t *request, bool update, const tug_request_host *host,
                         json_t *warnings, tug_error **err);

/* Whether mode is one docker takes for HostConfig's key (IpcMode, PidMode, UTSMode, UsernsMode,
 * CgroupnsMode); "" is the default. */
bool tug_request_mode_valid(const char *key, const char *mode);
