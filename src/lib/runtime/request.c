/* Checks of a create request's values. The command line only parses (a size, a decimal, a
 * name=soft:hard): whether the value makes sense is decided here, for every caller. */
#include "request.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/imgconfig.h"
#include "../util/cleanup.h"
#include "cgroup.h"
#include "container.h"

#define MIN_MEMORY (6LL * 1024 * 1024) /* docker's linuxMinMemory */
#define MIN_CPU_SHARES 2               /* the kernel's cpu.shares range */
#define MAX_CPU_SHARES 262144
#define MAX_PIDS 4194304         /* PID_MAX_LIMIT: pids.max refuses more */
#define MAX_STOP_TIMEOUT 2147483 /* seconds that fit an int of milliseconds */

void tug_request_host_detect(tug_request_host *ret)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    ret->cpus = n > 0 ? (int)n : 1;
    struct rlimit rl;
    ret->nofile_hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_max : RLIM_INFINITY;
    ret->nproc_hard = getrlimit(RLIMIT_NPROC, &rl) == 0 ? rl.rlim_max : RLIM_INFINITY;
    ret->cpu_realtime = access("/sys/fs/cgroup/cpu/cpu.rt_period_us", F_OK) == 0 ||
                        access("/sys/fs/cgroup/cpu,cpuacct/cpu.rt_period_us", F_OK) == 0;
}

static void warn(json_t *warnings, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(json_t *warnings, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && warnings)
        json_array_append_new(warnings, json_string(msg));
    free(msg);
}

/* An integer member; *ret 0 when absent or null. */
static int int_member(json_t *o, const char *key, long long *ret, tug_error **err)
{
    json_t *v = json_object_get(o, key);
    *ret = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return tug_error_user(err, "HostConfig.%s is not an integer", key);
    *ret = json_integer_value(v);
    return 0;
}

static int check_memory(json_t *hc, bool update, tug_error **err)
{
    long long mem, swap;
    if (int_member(hc, "Memory", &mem, err) < 0 || int_member(hc, "MemorySwap", &swap, err) < 0)
        return -1;
    if (mem != 0 && mem < MIN_MEMORY)
        return tug_error_user(err, "Minimum memory limit allowed is 6MB");
    if (swap < -1)
        return tug_error_user(err, "Invalid memory swap limit %lld: use -1 for unlimited swap",
                              swap);
    if (mem > 0 && swap > 0 && swap < mem)
        return tug_error_user(err, "Minimum memoryswap limit should be larger than memory "
                                   "limit, see usage");
    if (mem == 0 && swap > 0 && !update)
        return tug_error_user(err, "You should always set the Memory limit when using "
                                   "Memoryswap limit, see usage");
    return 0;
}

static int check_cpu(json_t *hc, const tug_request_host *host, json_t *warnings, tug_error **err)
{
    long long nano, period, quota, shares;
    if (int_member(hc, "NanoCpus", &nano, err) < 0 ||
        int_member(hc, "CpuPeriod", &period, err) < 0 ||
        int_member(hc, "CpuQuota", &quota, err) < 0 ||
        int_member(hc, "CpuShares", &shares, err) < 0)
        return -1;
    if (nano > 0 && period > 0)
        return tug_error_user(err, "Conflicting options: Nano CPUs and CPU Period cannot both "
                                   "be set");
    if (nano > 0 && quota > 0)
        return tug_error_user(err, "Conflicting options: Nano CPUs and CPU Quota cannot both "
                                   "be set");
    /* docker leaves the lower end to the kernel, which refuses a quota under 1 ms of each
     * 100 ms period when the container starts: refused here, with the same words */
    if (nano < 0 || (nano > 0 && nano < 10000000) || nano > (long long)host->cpus * 1000000000LL)
        return tug_error_user(err,
                              "Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs "
                              "available",
                              host->cpus, host->cpus);
    if (period != 0 && (period < 1000 || period > 1000000))
        return tug_error_user(err, "CPU cfs period can not be less than 1ms (i.e. 1000) or "
                                   "larger than 1s (i.e. 1000000)");
    if (quota > 0 && quota < 1000)
        return tug_error_user(err, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    long long rt_period, rt_runtime;
    if (int_member(hc, "CpuRealtimePeriod", &rt_period, err) < 0 ||
        int_member(hc, "CpuRealtimeRuntime", &rt_runtime, err) < 0)
        return -1;
    if (rt_period > 0 && !host->cpu_realtime)
        return tug_error_user(err, "Your kernel does not support cgroup cpu real-time period");
    if (rt_runtime > 0 && !host->cpu_realtime)
        return tug_error_user(err, "Your kernel does not support cgroup cpu real-time runtime");
    if (rt_period != 0 && rt_runtime != 0 && rt_runtime > rt_period)
        return tug_error_user(err, "cpu real-time runtime cannot be higher than cpu real-time "
                                   "period");
    if (shares < 0)
        return tug_error_user(err, "Invalid CPU shares %lld: use %d to %d (0 for the default)",
                              shares, MIN_CPU_SHARES, MAX_CPU_SHARES);
    /* docker moves shares into the kernel's range and says so */
    long long fixed = shares == 0               ? 0
                      : shares < MIN_CPU_SHARES ? MIN_CPU_SHARES
                      : shares > MAX_CPU_SHARES ? MAX_CPU_SHARES
                                                : shares;
    if (fixed != shares) {
        warn(warnings, "Changing requested CPUShares of %lld to %s allowed of %lld", shares,
             fixed == MIN_CPU_SHARES ? "minimum" : "maximum", fixed);
        json_object_set_new(hc, "CpuShares", json_integer(fixed));
    }
    return 0;
}

static int check_pids_shm(json_t *hc, tug_error **err)
{
    long long pids, shm, oom;
    if (int_member(hc, "PidsLimit", &pids, err) < 0 || int_member(hc, "ShmSize", &shm, err) < 0 ||
        int_member(hc, "OomScoreAdj", &oom, err) < 0)
        return -1;
    /* 0 and below are "unlimited", as in docker */
    if (pids > MAX_PIDS)
        return tug_error_user(err,
                              "Invalid pids limit %lld: the kernel allows at most %d (use -1 "
                              "for unlimited)",
                              pids, MAX_PIDS);
    if (shm < 0)
        return tug_error_user(err, "SHM size can not be less than 0");
    if (oom < -1000 || oom > 1000)
        return tug_error_user(err, "Invalid value %lld, range for oom score adj is [-1000, 1000]",
                              oom);
    return 0;
}

static const char *const ulimit_names[] = {
    "as",   "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue",
    "nice", "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",
};

static int check_ulimits(json_t *hc, const tug_request_host *host, json_t *warnings,
                         tug_error **err)
{
    json_t *list = json_object_get(hc, "Ulimits");
    if (list == NULL || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return tug_error_user(err, "HostConfig.Ulimits is not a list");
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u)
    {
        const char *name = json_string_value(json_object_get(u, "Name"));
        json_t *sv = json_object_get(u, "Soft"), *hv = json_object_get(u, "Hard");
        if (name == NULL || !json_is_integer(sv) || !json_is_integer(hv))
            return tug_error_user(err,
                                  "HostConfig.Ulimits[%zu] needs a Name, a Soft and a Hard "
                                  "limit",
                                  i);
        bool known = false;
        for (size_t k = 0; k < TUG_ARRAY_SIZE(ulimit_names); k++)
            known |= strcmp(name, ulimit_names[k]) == 0;
        if (!known)
            return tug_error_user(err, "invalid ulimit type: %s", name);
        long long soft = json_integer_value(sv), hard = json_integer_value(hv);
        if (soft < -1 || hard < -1)
            return tug_error_user(err,
                                  "invalid ulimit %s=%lld:%lld: a limit is a number of 0 or "
                                  "more, or -1 for unlimited",
                                  name, soft, hard);
        /* -1 is unlimited, above any number */
        if ((unsigned long long)soft > (unsigned long long)hard)
            return tug_error_user(err,
                                  "ulimit soft limit must be less than or equal to hard limit: "
                                  "%lld > %lld",
                                  soft, hard);
        /* the host's hard limit cannot be raised: the container gets it, and is told so */
        rlim_t max = strcmp(name, "nofile") == 0  ? host->nofile_hard
                     : strcmp(name, "nproc") == 0 ? host->nproc_hard
                                                  : RLIM_INFINITY;
        if (max != RLIM_INFINITY && (unsigned long long)hard > (unsigned long long)max)
            warn(warnings,
                 "--ulimit %s=%lld:%lld is above this host's hard limit %llu; the container gets "
                 "%llu",
                 name, soft, hard, (unsigned long long)max, (unsigned long long)max);
    }
    return 0;
}

/* A cpuset list ("0-2,4") as a bit mask of the first 1024; false when malformed. */
static bool parse_cpuset(const char *s, unsigned long long mask[16])
{
    memset(mask, 0, 16 * sizeof(mask[0]));
    if (*s == '\0')
        return false;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p || *p == '-' || *p == '+' || errno)
            return false;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || *p == '-' || *p == '+' || hi < lo)
                return false;
        }
        if (hi >= 1024)
            hi = 1023; /* beyond any host: refused below as not available */
        for (long i = lo; i <= hi; i++)
            mask[i / 64] |= 1ULL << (i % 64);
        if (lo >= 1024)
            mask[15] |= 1ULL << 63;
        if (*end == '\0')
            return true;
        if (*end != ',')
            return false;
        p = end + 1;
    }
}

/* docker's checks of --cpuset-cpus and --cpuset-mems against what the host has online. */
static int check_cpusets(json_t *hc, tug_error **err)
{
    static const struct {
        const char *key, *what, *online, *deflt, *msg;
    } sets[] = {
        {"CpusetCpus", "cpus", "/sys/devices/system/cpu/online", "0", "CPUs"},
        {"CpusetMems", "mems", "/sys/devices/system/node/online", "0", "memory nodes"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(sets); i++) {
        const char *v = json_string_value(json_object_get(hc, sets[i].key));
        if (v == NULL || *v == '\0')
            continue;
        unsigned long long want[16], have[16];
        if (!parse_cpuset(v, want))
            return tug_error_user(err, "Invalid value %s for cpuset %s", v, sets[i].what);
        char online[256] = "";
        cleanup_fclose FILE *f = fopen(sets[i].online, "re");
        if (f == NULL || fgets(online, sizeof(online), f) == NULL)
            snprintf(online, sizeof(online), "%s", sets[i].deflt);
        online[strcspn(online, "\n")] = '\0';
        if (!parse_cpuset(online, have))
            continue;
        for (size_t k = 0; k < 16; k++)
            if (want[k] & ~have[k])
                return tug_error_user(err,
                                      "Requested %s are not available - requested %s, "
                                      "available: %s",
                                      sets[i].msg, v, online);
    }
    return 0;
}

static int check_restart(json_t *hc, tug_error **err)
{
    json_t *rp = json_object_get(hc, "RestartPolicy");
    const char *name = json_string_value(json_object_get(rp, "Name"));
    long long max;
    if (int_member(rp, "MaximumRetryCount", &max, err) < 0)
        return -1;
    if (name == NULL || *name == '\0')
        name = "no";
    if (strcmp(name, "on-failure") == 0) {
        if (max < 0)
            return tug_error_user(err, "maximum retry count cannot be negative");
    } else if (strcmp(name, "no") == 0 || strcmp(name, "always") == 0 ||
               strcmp(name, "unless-stopped") == 0) {
        if (max != 0)
            return tug_error_user(
                err, "maximum retry count cannot be used with restart policy '%s'", name);
    } else
        return tug_error_user(err,
                              "invalid restart policy '%s': use no, always, unless-stopped or "
                              "on-failure[:max-retries]",
                              name);
    if (json_is_true(json_object_get(hc, "AutoRemove")) && strcmp(name, "no") != 0)
        return tug_error_user(err, "Conflicting options: --restart and --rm (a container "
                                   "removed when it exits cannot be restarted)");
    return 0;
}

/* max-size in bytes and max-file as the command line wrote them (strings, as docker keeps
 * log options) */
static int check_log(json_t *hc, tug_error **err)
{
    json_t *opts = json_object_get(json_object_get(hc, "LogConfig"), "Config");
    static const struct {
        const char *key;
        long long max;
    } nums[] = {{"max-size", INT64_MAX}, {"max-file", INT32_MAX}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(nums); i++) {
        json_t *v = json_object_get(opts, nums[i].key);
        if (v == NULL)
            continue;
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long n = s ? strtoll(s, &end, 10) : 0;
        if (s == NULL || end == s || *end || errno == ERANGE || n < 1 || n > nums[i].max)
            return tug_error_user(err,
                                  "invalid log option %s \"%s\": it must be a positive "
                                  "number",
                                  nums[i].key, s ? s : "");
    }
    return 0;
}

/* docker's daemon checks on a Healthcheck: times of at least 1ms (or 0, the default). */
static int check_healthcheck(json_t *hc, tug_error **err)
{
    static const char *const keys[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(keys); i++) {
        long long v = json_integer_value(json_object_get(hc, keys[i]));
        if (v != 0 && v < 1000000)
            return tug_error_user(err, "%s in Healthcheck cannot be less than 1ms", keys[i]);
        if (i == 1 && json_integer_value(json_object_get(hc, "Retries")) < 0)
            return tug_error_user(err, "Retries in Healthcheck cannot be negative");
    }
    return 0;
}

static int check_config(json_t *cfg, tug_error **err)
{
    if (cfg == NULL)
        return 0;
    if (tug_container_config_check(cfg, "Config", false, err) < 0)
        return -1;
    if (check_healthcheck(json_object_get(cfg, "Healthcheck"), err) < 0)
        return -1;
    const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
    if (wd && *wd && wd[0] != '/')
        return tug_error_user(err,
                              "the working directory '%s' is invalid, it needs to be an absolute "
                              "path",
                              wd);
    const char *sig = json_string_value(json_object_get(cfg, "StopSignal"));
    if (sig && *sig && tug_signal_parse(sig) < 0)
        return tug_error_user(err, "Invalid signal: %s", sig);
    json_t *st = json_object_get(cfg, "StopTimeout");
    if (json_is_integer(st) &&
        (json_integer_value(st) < 0 || json_integer_value(st) > MAX_STOP_TIMEOUT))
        return tug_error_user(err, "Invalid stop timeout %lld: use 0 to %d seconds",
                              (long long)json_integer_value(st), MAX_STOP_TIMEOUT);
    return 0;
}

/* docker's checks of the limits this change adds: memory reservation, swappiness, the OOM
 * killer and the blkio weight; what this host's cgroups cannot do is discarded with docker's
 * warning, as dockerd does. */
static int check_memory_extra(json_t *hc, json_t *warnings, tug_error **err)
{
    long long mem, resv, weight;
    if (int_member(hc, "Memory", &mem, err) < 0 ||
        int_member(hc, "MemoryReservation", &resv, err) < 0 ||
        int_member(hc, "BlkioWeight", &weight, err) < 0)
        return -1;
    if (resv > 0 && resv < MIN_MEMORY)
        return tug_error_user(err, "Minimum memory reservation allowed is 6MB");
    if (mem > 0 && resv > 0 && mem < resv)
        return tug_error_user(err, "Minimum memory limit can not be less than memory "
                                   "reservation limit, see usage");
    json_t *swp = json_object_get(hc, "MemorySwappiness");
    if (swp && !json_is_null(swp)) {
        if (!json_is_integer(swp))
            return tug_error_user(err, "HostConfig.MemorySwappiness is not an integer");
        long long v = json_integer_value(swp);
        if (v != -1 && (v < 0 || v > 100))
            return tug_error_user(err, "Invalid value: %lld, valid memory swappiness range is "
                                       "0-100",
                                  v);
        if (v == -1) {
            json_object_set_new(hc, "MemorySwappiness", json_null());
        } else if (!tug_cgroup_memory_v1_knob("memory.swappiness")) {
            warn(warnings, "Your kernel does not support memory swappiness capabilities or the "
                           "cgroup is not mounted. Memory swappiness discarded.");
            json_object_set_new(hc, "MemorySwappiness", json_null());
        }
    }
    if (json_is_true(json_object_get(hc, "OomKillDisable")) &&
        !tug_cgroup_memory_v1_knob("memory.oom_control")) {
        warn(warnings, "Your kernel does not support OomKillDisable. OomKillDisable discarded.");
        json_object_set_new(hc, "OomKillDisable", json_false());
    }
    if (weight != 0 && (weight < 10 || weight > 1000))
        return tug_error_user(err, "Range of blkio weight is from 10 to 1000");
    if (weight > 0 && !tug_cgroup_blkio_weight_supported()) {
        warn(warnings, "Your kernel does not support Block I/O weight or the cgroup is not "
                       "mounted. Weight discarded.");
        json_object_set_new(hc, "BlkioWeight", json_integer(0));
    }
    size_t i;
    json_t *wd;
    json_array_foreach(json_object_get(hc, "BlkioWeightDevice"), i, wd)
    {
        json_t *w = json_object_get(wd, "Weight");
        if (!json_is_string(json_object_get(wd, "Path")) || !json_is_integer(w) ||
            json_integer_value(w) < 0 || json_integer_value(w) > 1000 ||
            (json_integer_value(w) > 0 && json_integer_value(w) < 10))
            return tug_error_user(err, "HostConfig.BlkioWeightDevice[%zu] needs a Path and a "
                                       "Weight from 10 to 1000",
                                  i);
    }
    if (json_array_size(json_object_get(hc, "BlkioWeightDevice")) > 0 &&
        !tug_cgroup_blkio_weight_supported()) {
        warn(warnings, "Your kernel does not support BPS Block I/O weight_device or the cgroup "
                       "is not mounted. Weight-device discarded.");
        json_object_set_new(hc, "BlkioWeightDevice", json_array());
    }
    return 0;
}

bool tug_request_mode_valid(const char *key, const char *mode)
{
    if (mode == NULL || *mode == '\0')
        return true;
    bool container = strncmp(mode, "container:", 10) == 0 && mode[10] != '\0';
    if (strcmp(key, "IpcMode") == 0)
        return strcmp(mode, "private") == 0 || strcmp(mode, "shareable") == 0 ||
               strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0 || container;
    if (strcmp(key, "PidMode") == 0)
        return strcmp(mode, "host") == 0 || container;
    if (strcmp(key, "CgroupnsMode") == 0)
        return strcmp(mode, "host") == 0 || strcmp(mode, "private") == 0;
    /* UTSMode, UsernsMode */
    return strcmp(mode, "host") == 0;
}

/* The namespace modes, and the log driver: tug writes json-file logs (local keeps them the
 * same way) or none. */
static int check_modes(json_t *hc, tug_error **err)
{
    static const struct {
        const char *key, *what;
    } modes[] = {{"IpcMode", "IPC"},
                 {"PidMode", "PID"},
                 {"UTSMode", "UTS"},
                 {"UsernsMode", "USER"},
                 {"CgroupnsMode", "CGROUP"}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(modes); i++) {
        json_t *v = json_object_get(hc, modes[i].key);
        if (v && !json_is_null(v) && !json_is_string(v))
            return tug_error_user(err, "HostConfig.%s is not a string", modes[i].key);
        if (!tug_request_mode_valid(modes[i].key, json_string_value(v)))
            return tug_error_user(err, "invalid %s mode: %s", modes[i].what,
                                  json_string_value(v));
    }
    const char *ak;
    json_t *av;
    json_object_foreach(json_object_get(hc, "Annotations"), ak, av)
    {
        if (!json_is_string(av))
            return tug_error_user(err, "HostConfig.Annotations[%s] is not a string", ak);
        /* the spec's own keys say what tug does (privileged, seccomp...): not the user's */
        if (strncmp(ak, "io.tug.", 7) == 0)
            return tug_error_user(err, "annotation %s: keys under io.tug. are tug's own; use "
                                       "another prefix",
                                  ak);
    }
    json_t *cp = json_object_get(hc, "CgroupParent");
    if (cp && !json_is_null(cp) && !json_is_string(cp))
        return tug_error_user(err, "HostConfig.CgroupParent is not a string");
    const char *parent = json_string_value(cp);
    if (parent && (strcmp(parent, "..") == 0 || strncmp(parent, "../", 3) == 0 ||
                   strstr(parent, "/../") || (strlen(parent) >= 3 &&
                                              strcmp(parent + strlen(parent) - 3, "/..") == 0)))
        return tug_error_user(err, "invalid cgroup parent \"%s\": it may not contain \"..\"",
                              parent);
    const char *driver =
        json_string_value(json_object_get(json_object_get(hc, "LogConfig"), "Type"));
    if (driver && *driver && strcmp(driver, "json-file") != 0 && strcmp(driver, "local") != 0 &&
        strcmp(driver, "none") != 0)
        return tug_error_user(err,
                              "logger: no log driver named '%s' is registered (tug has "
                              "json-file, local and none)",
                              driver);
    return 0;
}

int tug_request_validate(json_t *request, bool update, const tug_request_host *host,
                         json_t *warnings, tug_error **err)
{
    tug_request_host here;
    if (host == NULL) {
        tug_request_host_detect(&here);
        host = &here;
    }
    if (!json_is_object(request))
        return tug_error_user(err, "the create request is not a JSON object");
    json_t *hc = json_object_get(request, "HostConfig");
    if (hc != NULL && !json_is_object(hc))
        return tug_error_user(err, "HostConfig is not an object");
    if (check_config(json_object_get(request, "Config"), err) < 0)
        return -1;
    if (hc == NULL)
        return 0;
    if (check_memory(hc, update, err) < 0 || check_cpu(hc, host, warnings, err) < 0 ||
        check_pids_shm(hc, err) < 0 || check_ulimits(hc, host, warnings, err) < 0 ||
        check_restart(hc, err) < 0 || check_log(hc, err) < 0 || check_cpusets(hc, err) < 0 ||
        check_memory_extra(hc, warnings, err) < 0 || check_modes(hc, err) < 0)
        return -1;
    return 0;
}
