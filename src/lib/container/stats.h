/* A container's resource use as `stats` shows it (stats.c), and changing its limits while it
 * runs or not (`update`, update.c). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../runtime/container.h"
#include "../store/store.h"
#include "../util/error.h"

/* One container's figures at a sample; zeros for one that is not running. */
typedef struct tug_stats_row {
    char *given; /* the name or ID the user gave, or the short ID */
    char *id;
    char *name;
    bool running;
    double cpu_percent; /* of one CPU, over the time since the last sample: docker's CPU % */
    double mem_percent;
    long long mem_usage, mem_limit; /* the limit is the host's memory when none is set */
    long long net_rx, net_tx;       /* bytes through the container's interfaces, loopback aside */
    long long blk_read, blk_write;
    long long pids;
} tug_stats_row;

typedef struct tug_stats tug_stats;

/* Watch the containers named (n > 0: each must exist, else the first missing one is the
 * error) or, with n == 0, the running ones (every one with all), looked up again at each
 * sample as docker's stats does. */
int tug_stats_open(tug_store *s, char *const *names, size_t n, bool all, tug_stats **ret,
                   tug_error **err);
/* Sample every container. CPU % is the container's CPU time over the time since its last
 * sample; the first call takes a sample, waits window_ns and takes a second one. *ret_rows
 * stays valid until the next call. */
int tug_stats_sample(tug_stats *st, long long window_ns, const tug_stats_row **ret_rows,
                     size_t *ret_n, tug_error **err);
void tug_stats_free(tug_stats *st);

/* One sample of c as the Engine API's stats document (dockerd's shape: read, preread,
 * pids_stats, blkio_stats, cpu_stats, precpu_stats, memory_stats, networks, name, id), from
 * the same cgroup files and /proc/PID/net/dev `stats` reads. prev, the document of the sample
 * before (or NULL), gives preread and precpu_stats. system_cpu_usage is the time since boot
 * times the online CPUs, so docker's CPU % (CPU delta over system delta times the CPUs) is
 * the container's CPU time over the elapsed time, the figure tug stats shows. A container
 * that does not run gets dockerd's empty document. NULL only when out of memory. */
json_t *tug_stats_doc(tug_container *c, const json_t *prev);

/* ---- update (update.c) ---- */

/* Change c's limits: changes holds the HostConfig keys `update` sets (Memory, MemorySwap,
 * MemoryReservation, NanoCpus, CpuShares, CpuPeriod, CpuQuota, CpusetCpus, CpusetMems,
 * PidsLimit, BlkioWeight, RestartPolicy). They are checked with docker's words, written to
 * the running container's cgroup, then to its record and its runtime spec, so inspect shows
 * them and a restart keeps them. What docker only warns about (a block I/O weight this host
 * cannot apply) is dropped and a line added to warnings. */
int tug_container_update(tug_store *s, tug_container *c, json_t *changes, json_t *warnings,
                         tug_error **err);
