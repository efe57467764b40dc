/* `update`: new limits for a container, running or not. The cgroup changes first (the kernel
 * may refuse), then the record and the runtime spec, which the next start reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/cgroup.h"
#include "../runtime/request.h"
#include "../runtime/spec.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "stats.h"

static long long num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* docker's rules for an update against what the container already has. */
static int check_against(json_t *hc, json_t *ch, tug_error **err)
{
    long long mem = num(ch, "Memory"), swap = num(ch, "MemorySwap");
    long long cur_mem = num(hc, "Memory"), cur_swap = num(hc, "MemorySwap");
    if (cur_swap == 0 && cur_mem > 0)
        cur_swap = 2 * cur_mem; /* tug records docker's default as 0 */
    if (mem != 0 && swap == 0 && mem > cur_swap)
        return tug_error_user(err, "Memory limit should be smaller than already set memoryswap "
                                   "limit, update the memoryswap at the same time");
    if (swap > 0 && mem == 0 && cur_mem == 0)
        return tug_error_user(err, "You should always set the Memory limit when using "
                                   "Memoryswap limit, see usage");
    if (swap > 0 && mem == 0 && swap < cur_mem)
        return tug_error_user(err, "Minimum memoryswap limit should be larger than memory "
                                   "limit, see usage");
    static const struct {
        const char *set, *have, *msg;
    } cpu[] = {
        {"NanoCpus", "CpuPeriod",
         "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"},
        {"NanoCpus", "CpuQuota",
         "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"},
        {"CpuPeriod", "NanoCpus",
         "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"},
        {"CpuQuota", "NanoCpus",
         "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cpu); i++)
        if (num(ch, cpu[i].set) > 0 && num(hc, cpu[i].have) > 0)
            return tug_error_user(err, "%s", cpu[i].msg);
    json_t *rp = json_object_get(ch, "RestartPolicy");
    const char *policy = json_string_value(json_object_get(rp, "Name"));
    if (policy && *policy && strcmp(policy, "no") != 0 &&
        json_is_true(json_object_get(hc, "AutoRemove")))
        return tug_error_user(err, "Restart policy cannot be updated because AutoRemove is "
                                   "enabled for the container");
    return 0;
}

/* The limits to write to a running container's cgroup: those changed, over what it has. */
static void limits_of(json_t *merged, json_t *ch, tug_cgroup_limits *lim)
{
    memset(lim, 0, sizeof(*lim));
    if (json_object_get(ch, "Memory") || json_object_get(ch, "MemorySwap")) {
        lim->memory = num(merged, "Memory");
        lim->memory_swap = num(merged, "MemorySwap");
    }
    long long nano = num(ch, "NanoCpus");
    lim->cpu_quota = nano > 0 ? nano / 10000 : num(ch, "CpuQuota");
    lim->cpu_period = nano > 0 ? 100000 : num(ch, "CpuPeriod");
    lim->cpu_shares = num(ch, "CpuShares");
    lim->cpu_rt_period = num(ch, "CpuRealtimePeriod");
    lim->cpu_rt_runtime = num(ch, "CpuRealtimeRuntime");
    json_t *pids = json_object_get(ch, "PidsLimit");
    if (json_is_integer(pids))
        lim->pids_limit = json_integer_value(pids) > 0 ? json_integer_value(pids) : -1;
    lim->memory_reservation = num(ch, "MemoryReservation");
    lim->blkio_weight = num(ch, "BlkioWeight");
    lim->cpuset_cpus = json_string_value(json_object_get(ch, "CpusetCpus"));
    lim->cpuset_mems = json_string_value(json_object_get(ch, "CpusetMems"));
}

/* The next start reads linux.resources from the container's config.json. */
static int rewrite_spec(tug_store *s, const char *id, json_t *hc, tug_error **err)
{
    cleanup_free char *dir = tug_container_dir(s, id);
    cleanup_free char *path = NULL;
    if (dir == NULL || asprintf(&path, "%s/config.json", dir) < 0)
        return tug_error_set(err, ENOMEM, "update");
    json_error_t jerr;
    json_t *spec = json_load_file(path, 0, &jerr);
    if (spec == NULL)
        return tug_error_set(err, 0, "read %s: %s", path, jerr.text);
    json_t *linux_ = json_object_get(spec, "linux");
    if (linux_ == NULL)
        json_object_set_new(spec, "linux", linux_ = json_object());
    json_object_set_new(linux_, "resources", tug_spec_resources(hc));
    cleanup_free char *text = json_dumps(spec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(spec);
    if (text == NULL)
        return tug_error_set(err, ENOMEM, "update");
    return tug_write_file_atomic_nosync(path, text, strlen(text), 0600, err);
}

int tug_container_update(tug_store *s, tug_container *c, json_t *changes, json_t *warnings,
                         tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    json_auto_t *ch = json_deep_copy(changes);
    if (ch == NULL)
        return tug_error_set(err, ENOMEM, "update");
    long long weight = num(ch, "BlkioWeight");
    if (weight > 0 && !tug_cgroup_blkio_weight_supported()) {
        if (warnings)
            json_array_append_new(warnings,
                                  json_string("Your kernel does not support Block I/O weight or "
                                              "the cgroup is not mounted. Weight discarded."));
        json_object_del(ch, "BlkioWeight");
    } else if (weight != 0 && (weight < 10 || weight > 1000)) {
        return tug_error_user(err, "Range of blkio weight is from 10 to 1000");
    }
    json_auto_t *req = json_pack("{sO}", "HostConfig", ch);
    json_t *hc = json_object_get(c->config, "HostConfig");
    if (req == NULL || hc == NULL)
        return tug_error_set(err, ENOMEM, "update");
    if (tug_request_validate(req, true, NULL, warnings, err) < 0 || check_against(hc, ch, err) < 0)
        return -1;
    json_auto_t *merged = json_deep_copy(hc);
    if (merged == NULL)
        return tug_error_set(err, ENOMEM, "update");
    /* memory without swap keeps the swap limit the container has (docker's default: twice
     * the first memory limit), written down now that it no longer follows the memory */
    if (num(ch, "Memory") > 0 && num(ch, "MemorySwap") == 0 && num(hc, "MemorySwap") == 0 &&
        num(hc, "Memory") > 0)
        json_object_set_new(ch, "MemorySwap", json_integer(2 * num(hc, "Memory")));
    json_object_update(merged, ch);
    if (tug_container_alive(c)) {
        tug_cgroup_limits lim;
        limits_of(merged, ch, &lim);
        cleanup_free char *path = NULL;
        tug_cgroup *cg = NULL;
        if (tug_container_cgroup_path(c, &path) < 0)
            return tug_error_set(err, ENOMEM, "update");
        int r = tug_cgroup_open(path, &cg, err);
        if (r == 0)
            r = tug_cgroup_update(cg, &lim, err);
        tug_cgroup_free(cg);
        if (r < 0)
            return tug_error_wrap(err, "Cannot update container %s", c->id);
    }
    json_object_set(c->config, "HostConfig", merged);
    if (rewrite_spec(s, c->id, merged, err) < 0 || tug_container_save_config(s, c, err) < 0)
        return tug_error_wrap(err, "update container %s", c->id);
    return 0;
}
