/* Control groups behind one table of operations: v2 (unified), v1 and hybrid hosts. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../util/error.h"

/* One rule of a container's device policy, as OCI's linux.resources.devices has it. The rules
 * are read in order and the last one that matches an access decides; an access no rule matches
 * is denied. */
typedef struct tug_device_rule {
    bool allow;
    char type;              /* 'a' (any), 'c' or 'b' */
    long long major, minor; /* -1 = any */
    unsigned access;        /* TUG_DEV_* bits, never 0 */
} tug_device_rule;

/* The bits of an access, the kernel's own (BPF_DEVCG_ACC_*). */
enum { TUG_DEV_MKNOD = 1, TUG_DEV_READ = 2, TUG_DEV_WRITE = 4, TUG_DEV_RWM = 7 };

/* One --device-{read,write}-{bps,iops} limit (or --blkio-weight-device weight): the device's
 * numbers and its rate. */
typedef enum {
    TUG_THROTTLE_READ_BPS,
    TUG_THROTTLE_WRITE_BPS,
    TUG_THROTTLE_READ_IOPS,
    TUG_THROTTLE_WRITE_IOPS,
    TUG_BLKIO_WEIGHT_DEVICE, /* --blkio-weight-device: rate is the weight */
} tug_throttle_kind;

typedef struct tug_blkio_throttle {
    tug_throttle_kind kind;
    unsigned major, minor;
    unsigned long long rate;
} tug_blkio_throttle;

typedef struct tug_cgroup_limits {
    long long memory;      /* bytes; 0 = no limit */
    long long memory_swap; /* memory + swap in bytes; 0 = docker's default (twice memory when a
                              memory limit is set), -1 = unlimited swap */
    long long cpu_quota;   /* microseconds per period; 0 = no quota (--cpus 1.5 -> 150000) */
    long long cpu_period;  /* microseconds; 0 = 100000 */
    long long cpu_shares;  /* docker's --cpu-shares (v1 weight 2..262144); 0 = default */
    long long cpu_rt_period;  /* real-time scheduling, microseconds (v1 cpu.rt_*); 0 = leave */
    long long cpu_rt_runtime;
    long long pids_limit;  /* 0 = leave as it is, negative = no limit */
    long long memory_reservation; /* soft limit in bytes; 0 = leave as it is */
    long long blkio_weight;       /* 10..1000; 0 = leave as it is */
    long long memory_swappiness;  /* 0..100 when swappiness_set */
    bool swappiness_set;
    bool oom_kill_disable;        /* --oom-kill-disable (v1 only: v2 has no such switch) */
    const char *cpuset_cpus;      /* "0-1,3"; NULL or "" = leave as it is */
    const char *cpuset_mems;
    const tug_blkio_throttle *throttle; /* block I/O rate limits, n_throttle of them */
    size_t n_throttle;
    const tug_device_rule *devices; /* the device policy; NULL leaves the group's as it is */
    size_t n_devices;
} tug_cgroup_limits;

/* What `stats` shows of a group; -1 where the controller is absent. */
typedef struct tug_cgroup_stats {
    long long cpu_ns;              /* CPU time used, cumulative */
    long long mem_usage;           /* bytes in use less the inactive page cache (docker's figure) */
    long long mem_limit;           /* bytes; -1 also when unlimited */
    long long blk_read, blk_write; /* bytes, all devices */
    long long pids;
} tug_cgroup_stats;

typedef enum { TUG_CGROUP_V1, TUG_CGROUP_V2, TUG_CGROUP_HYBRID } tug_cgroup_mode;

typedef struct tug_cgroup tug_cgroup;

tug_cgroup_mode tug_cgroup_host_mode(void);
/* Create the cgroup(s) for `name` (a relative path such as "tug/<id>") in every controller
 * tug uses, and apply the limits. An existing group is reused. */
int tug_cgroup_create(const char *name, const tug_cgroup_limits *lim, tug_cgroup **ret_cg,
                      tug_error **err);
/* Open an existing group (from another process: stop, pause, top). */
int tug_cgroup_open(const char *name, tug_cgroup **ret_cg, tug_error **err);
void tug_cgroup_free(tug_cgroup *cg);
/* Move pid into the group (every hierarchy). */
int tug_cgroup_enter(tug_cgroup *cg, pid_t pid, tug_error **err);
/* Move the calling process into the group, cheaply; it must have a single thread (a child
 * between fork and exec). */
int tug_cgroup_enter_self(tug_cgroup *cg, tug_error **err);
/* An O_PATH|O_DIRECTORY fd of the unified (v2) group for clone3's CLONE_INTO_CGROUP, or -1 when
 * the memory/pids controllers live in v1 hierarchies (then use tug_cgroup_enter). */
int tug_cgroup_clone_fd(tug_cgroup *cg);
int tug_cgroup_freeze(tug_cgroup *cg, bool frozen, tug_error **err);
/* The pids in the group (all hierarchies agree; read from one). */
int tug_cgroup_pids(tug_cgroup *cg, pid_t **ret_pids, size_t *ret_n, tug_error **err);
/* True when the kernel OOM-killed a process of this group. */
bool tug_cgroup_oom_killed(tug_cgroup *cg);
/* Send sig to every process in the group. */
int tug_cgroup_kill(tug_cgroup *cg, int sig, tug_error **err);
/* Kill what is left (SIGKILL, waiting for the group to empty) and remove the group(s).
 * A missing group is success. */
int tug_cgroup_destroy(tug_cgroup *cg, tug_error **err);
/* Memory in use (bytes) and cumulative CPU (ns), for stats and top; -1 when unknown. */
int tug_cgroup_usage(tug_cgroup *cg, long long *ret_mem, long long *ret_cpu_ns);
/* CPU, memory, block I/O and pids of the group in one pass of reads. */
void tug_cgroup_stats_read(tug_cgroup *cg, tug_cgroup_stats *ret);
/* The text of one of the group's files (*ret_buf, malloc'd): ctrl names the v1 controller
 * whose hierarchy holds it ("memory", "cpuacct", "cpu", "blkio"); on v2, and for a
 * controller v1 does not mount, the unified group's. 0 or -errno (-ENOENT when absent). */
int tug_cgroup_read(tug_cgroup *cg, const char *ctrl, const char *file, char **ret_buf);
/* Apply changed limits to an existing group (`update`): the fields not left at 0 (NULL for
 * the cpusets) are written, checked as at create. */
int tug_cgroup_update(tug_cgroup *cg, const tug_cgroup_limits *lim, tug_error **err);
/* Whether this host's v1 memory controller has file (memory.swappiness, memory.oom_control):
 * v2 has neither. */
bool tug_cgroup_memory_v1_knob(const char *file);
/* Whether this host's block I/O controller takes a weight (it needs the BFQ scheduler). */
bool tug_cgroup_blkio_weight_supported(void);
/* Leftover groups under parent ("tug"): empty, and at least min_age(name) seconds old (-1:
 * keep it; NULL: any age). With repair they are removed. *ret_names gets their names
 * (NULL-terminated, or NULL); returns how many. */
int tug_cgroup_sweep(const char *parent, long long (*min_age)(const char *, void *), void *ud,
                     bool repair, char ***ret_names, tug_error **err);
