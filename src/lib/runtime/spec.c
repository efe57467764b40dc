/* Docker's create request -> OCI runtime spec, with docker's security defaults. */
#include "spec.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "devices.h"
#include "security.h"

static json_t *strs(const char *const *v)
{
    json_t *a = json_array();
    for (; *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static bool is_null_or_empty(json_t *v)
{
    return v == NULL || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0);
}

/* docker's: the flags' Healthcheck over the image's, field by field (an empty Test, a zero
 * time or retry count take the image's). */
static void merge_healthcheck(json_t *cfg, json_t *img)
{
    json_t *ih = json_object_get(img, "Healthcheck");
    json_t *ch = json_object_get(cfg, "Healthcheck");
    if (!json_is_object(ih))
        return;
    if (!json_is_object(ch)) {
        json_object_set_new(cfg, "Healthcheck", json_deep_copy(ih));
        return;
    }
    /* rebuilt in docker's order of the fields */
    static const char *const keys[] = {"Test",          "Interval", "Timeout", "StartPeriod",
                                       "StartInterval", "Retries"};
    json_t *merged = json_object();
    for (size_t i = 0; i < TUG_ARRAY_SIZE(keys); i++) {
        json_t *cv = json_object_get(ch, keys[i]), *iv = json_object_get(ih, keys[i]);
        bool unset = i == 0 ? json_array_size(cv) == 0 : json_integer_value(cv) == 0;
        json_t *v = unset && iv ? iv : cv;
        if (v)
            json_object_set(merged, keys[i], v);
    }
    json_object_set_new(cfg, "Healthcheck", merged);
}

int tug_request_merge_image(json_t *request, json_t *image_config, tug_error **err)
{
    json_t *cfg = json_object_get(request, "Config");
    json_t *img = json_object_get(image_config, "config");
    if (!json_is_object(cfg))
        return tug_error_user(err, "create request has no Config");
    if (!json_is_object(img))
        return 0;
    /* An entrypoint given on the command line resets the image's Cmd, as in docker. */
    json_t *ep = json_object_get(cfg, "Entrypoint");
    bool ep_set = ep != NULL && !json_is_null(ep);
    if (!ep_set) {
        json_t *iep = json_object_get(img, "Entrypoint");
        json_object_set(cfg, "Entrypoint", iep ? iep : json_null());
        if (is_null_or_empty(json_object_get(cfg, "Cmd"))) {
            json_t *icmd = json_object_get(img, "Cmd");
            json_object_set(cfg, "Cmd", icmd ? icmd : json_null());
        }
    } else if (json_is_array(ep) && json_array_size(ep) == 1 &&
               json_string_length(json_array_get(ep, 0)) == 0) {
        /* --entrypoint "" clears it */
        json_object_set_new(cfg, "Entrypoint", json_null());
    }
    /* Env: the image's first, the flags' override by name. */
    json_t *ienv = json_object_get(img, "Env");
    json_t *env = json_object_get(cfg, "Env");
    json_t *merged = json_array();
    size_t i, j;
    json_t *e;
    json_array_foreach(ienv, i, e)
    {
        const char *s = json_string_value(e);
        if (s == NULL)
            continue;
        size_t kl = strcspn(s, "=");
        bool overridden = false;
        json_t *f;
        json_array_foreach(env, j, f)
        {
            const char *t = json_string_value(f);
            if (t && strncmp(t, s, kl) == 0 && (t[kl] == '=' || t[kl] == '\0'))
                overridden = true;
        }
        if (!overridden)
            json_array_append(merged, e);
    }
    json_array_foreach(env, i, e) json_array_append(merged, e);
    json_object_set_new(cfg, "Env", merged);
    static const char *const inherit[] = {"WorkingDir", "User", "StopSignal"};
    for (i = 0; i < TUG_ARRAY_SIZE(inherit); i++) {
        const char *v = json_string_value(json_object_get(cfg, inherit[i]));
        json_t *iv = json_object_get(img, inherit[i]);
        if ((v == NULL || *v == '\0') && iv)
            json_object_set(cfg, inherit[i], iv);
    }
    merge_healthcheck(cfg, img);
    static const char *const sets[] = {"ExposedPorts", "Volumes", "Labels"};
    for (i = 0; i < TUG_ARRAY_SIZE(sets); i++) {
        json_t *iv = json_object_get(img, sets[i]);
        if (!json_is_object(iv))
            continue;
        json_t *cv = json_object_get(cfg, sets[i]);
        if (!json_is_object(cv)) {
            cv = json_object();
            json_object_set_new(cfg, sets[i], cv);
        }
        const char *k;
        json_t *v;
        json_object_foreach(iv, k, v)
        {
            if (json_object_get(cv, k) == NULL)
                json_object_set(cv, k, v);
        }
    }
    return 0;
}

static json_t *mount_new(const char *dest, const char *type, const char *src,
                         const char *const *opts)
{
    json_t *m = json_object();
    json_object_set_new(m, "destination", json_string(dest));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "source", json_string(src));
    json_object_set_new(m, "options", strs(opts));
    return m;
}

static bool has_destination(json_t *mounts, const char *dst)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        const char *d = json_string_value(json_object_get(m, "destination"));
        if (d && strcmp(d, dst) == 0)
            return true;
    }
    return false;
}

static json_t *caps_list(uint64_t set)
{
    json_t *a = json_array();
    for (int c = 0; c < 64; c++)
        if (set & (1ULL << c)) {
            const char *n = tug_caps_name(c);
            if (n)
                json_array_append_new(a, json_string(n));
        }
    return a;
}

static int compute_caps(json_t *hc, uint64_t *ret, tug_error **err)
{
    uint64_t set = tug_caps_default();
    if (json_is_true(json_object_get(hc, "Privileged"))) {
        *ret = tug_caps_all();
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(hc, "CapDrop"), i, v)
    {
        int cap;
        bool all = false;
        if (tug_caps_parse(json_string_value(v), &cap, &all, err) < 0)
            return tug_error_wrap(err, "--cap-drop");
        if (all)
            set = 0;
        else
            set &= ~(1ULL << cap);
    }
    json_array_foreach(json_object_get(hc, "CapAdd"), i, v)
    {
        int cap;
        bool all = false;
        if (tug_caps_parse(json_string_value(v), &cap, &all, err) < 0)
            return tug_error_wrap(err, "--cap-add");
        if (all)
            set = tug_caps_all();
        else
            set |= 1ULL << cap;
    }
    *ret = set;
    return 0;
}

static const char *const masked_paths[] = {
    "/proc/asound", "/proc/acpi",        "/proc/kcore",         "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",   "/sys/firmware",     "/sys/devices/virtual/powercap", NULL,
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

void tug_spec_host_config_defaults(json_t *hc)
{
    /* docker 20.10's HostConfig of a container created with no flags, key by key */
    json_auto_t *d = json_pack(
        "{s:n, s:s, s:n, s:n, s:n, s:[], s:[], s:[], s:n, s:n, s:s, s:s, s:n, s:i, s:s, s:b,"
        " s:b, s:b, s:n, s:s, s:s, s:I, s:[ii], s:s, s:i, s:I, s:I, s:s, s:i, s:[], s:n,"
        " s:n, s:n, s:n, s:I, s:I, s:I, s:I, s:s, s:s, s:[], s:n, s:n, s:I, s:I, s:I, s:I,"
        " s:n, s:b, s:n, s:n, s:I, s:I, s:I, s:I}",
        "Binds", "ContainerIDFile", "", "PortBindings", "VolumeDriver" /* placeholder */,
        "VolumesFrom", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode",
        "private", "Cgroup", "", "Links", "OomScoreAdj", 0, "PidMode", "", "Privileged", 0,
        "PublishAllPorts", 0, "ReadonlyRootfs", 0, "SecurityOpt", "UTSMode", "", "UsernsMode", "",
        "ShmSize", (json_int_t)67108864, "ConsoleSize", 0, 0, "Isolation", "", "CpuShares", 0,
        "Memory", (json_int_t)0, "NanoCpus", (json_int_t)0, "CgroupParent", "", "BlkioWeight", 0,
        "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps", "CpuPeriod", (json_int_t)0, "CpuQuota", (json_int_t)0,
        "CpuRealtimePeriod", (json_int_t)0, "CpuRealtimeRuntime", (json_int_t)0, "CpusetCpus", "",
        "CpusetMems", "", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory",
        (json_int_t)0, "KernelMemoryTCP", (json_int_t)0, "MemoryReservation", (json_int_t)0,
        "MemorySwap", (json_int_t)0, "MemorySwappiness", "OomKillDisable", 0, "PidsLimit",
        "Ulimits", "CpuCount", (json_int_t)0, "CpuPercent", (json_int_t)0, "IOMaximumIOps",
        (json_int_t)0, "IOMaximumBandwidth", (json_int_t)0);
    if (d == NULL)
        return;
    json_object_del(d, "PortBindings"); /* set at create, as docker's client does */
    json_object_set_new(d, "VolumeDriver", json_string(""));
    json_object_update_missing(hc, d);
    json_t *init = json_object_get(hc, "Init");
    if (init && json_is_null(init))
        json_object_del(hc, "Init"); /* docker leaves out an Init not asked for */
    bool privileged = json_is_true(json_object_get(hc, "Privileged"));
    if (json_object_get(hc, "MaskedPaths") == NULL)
        json_object_set_new(hc, "MaskedPaths", privileged ? json_null() : strs(masked_paths));
    if (json_object_get(hc, "ReadonlyPaths") == NULL)
        json_object_set_new(hc, "ReadonlyPaths", privileged ? json_null() : strs(readonly_paths));
}

static json_t *process_args(json_t *cfg, tug_error **err)
{
    json_t *args = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cfg, "Entrypoint"), i, v) json_array_append(args, v);
    json_array_foreach(json_object_get(cfg, "Cmd"), i, v) json_array_append(args, v);
    if (json_array_size(args) == 0) {
        json_decref(args);
        tug_error_user(err, "no command specified: the image has no CMD or ENTRYPOINT; give one "
                            "after the image name");
        return NULL;
    }
    return args;
}

static const char *const throttle_keys[][2] = {
    {"BlkioDeviceReadBps", "throttleReadBpsDevice"},
    {"BlkioDeviceWriteBps", "throttleWriteBpsDevice"},
    {"BlkioDeviceReadIOps", "throttleReadIOPSDevice"},
    {"BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"},
    {"BlkioWeightDevice", "weightDevice"},
};

/* HostConfig's BlkioDevice{Read,Write}{Bps,IOps} as OCI's throttle lists, each device by its
 * numbers (looked up now). NULL with err for a path that is not a block device. */
static json_t *throttle_lists(json_t *hc, tug_error **err)
{
    json_t *bio = json_object();
    for (size_t k = 0; k < TUG_ARRAY_SIZE(throttle_keys); k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(hc, throttle_keys[k][0]), i, v)
        {
            const char *path = json_string_value(json_object_get(v, "Path"));
            struct stat st;
            if (path == NULL || stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
                int e = path && errno != 0 ? errno : EINVAL;
                json_decref(bio);
                if (path && stat(path, &st) == 0)
                    tug_error_user(err, "%s is not a block device: the --device-*-bps and "
                                        "--device-*-iops limits take one", path);
                else
                    tug_error_set(err, e, "stat %s", path ? path : "(no path)");
                return NULL;
            }
            json_t *list = json_object_get(bio, throttle_keys[k][1]);
            if (list == NULL)
                json_object_set_new(bio, throttle_keys[k][1], list = json_array());
            bool weight = strcmp(throttle_keys[k][0], "BlkioWeightDevice") == 0;
            json_t *num = json_object_get(v, weight ? "Weight" : "Rate");
            json_array_append_new(list, json_pack("{sIsIsI}", "major",
                                                  (json_int_t)major(st.st_rdev), "minor",
                                                  (json_int_t)minor(st.st_rdev),
                                                  weight ? "weight" : "rate",
                                                  (json_int_t)json_integer_value(num)));
        }
    }
    return bio;
}

int tug_spec_check_throttle(json_t *hc, tug_error **err)
{
    json_t *bio = throttle_lists(hc, err);
    json_decref(bio);
    return bio ? 0 : -1;
}

json_t *tug_spec_resources(json_t *hc)
{
    json_t *res = json_object();
    long long mem = json_integer_value(json_object_get(hc, "Memory"));
    long long swap = json_integer_value(json_object_get(hc, "MemorySwap"));
    long long resv = json_integer_value(json_object_get(hc, "MemoryReservation"));
    if (mem > 0 || resv > 0) {
        json_t *m = json_object();
        if (mem > 0)
            json_object_set_new(m, "limit", json_integer(mem));
        if (mem > 0 && swap != 0)
            json_object_set_new(m, "swap", json_integer(swap));
        if (resv > 0)
            json_object_set_new(m, "reservation", json_integer(resv));
        json_object_set_new(res, "memory", m);
    }
    long long nano = json_integer_value(json_object_get(hc, "NanoCpus"));
    long long shares = json_integer_value(json_object_get(hc, "CpuShares"));
    long long quota = json_integer_value(json_object_get(hc, "CpuQuota"));
    long long period = json_integer_value(json_object_get(hc, "CpuPeriod"));
    const char *cpus = json_string_value(json_object_get(hc, "CpusetCpus"));
    const char *mems = json_string_value(json_object_get(hc, "CpusetMems"));
    json_t *c = json_object();
    if (shares > 0)
        json_object_set_new(c, "shares", json_integer(shares));
    if (nano > 0) {
        json_object_set_new(c, "quota", json_integer(nano / 10000)); /* per 100 ms */
        json_object_set_new(c, "period", json_integer(100000));
    } else {
        if (quota > 0)
            json_object_set_new(c, "quota", json_integer(quota));
        if (period > 0)
            json_object_set_new(c, "period", json_integer(period));
    }
    long long rt_period = json_integer_value(json_object_get(hc, "CpuRealtimePeriod"));
    long long rt_runtime = json_integer_value(json_object_get(hc, "CpuRealtimeRuntime"));
    if (rt_period != 0)
        json_object_set_new(c, "realtimePeriod", json_integer(rt_period));
    if (rt_runtime != 0)
        json_object_set_new(c, "realtimeRuntime", json_integer(rt_runtime));
    if (cpus && *cpus)
        json_object_set_new(c, "cpus", json_string(cpus));
    if (mems && *mems)
        json_object_set_new(c, "mems", json_string(mems));
    if (json_object_size(c) > 0)
        json_object_set(res, "cpu", c);
    json_decref(c);
    json_t *pl = json_object_get(hc, "PidsLimit");
    if (json_is_integer(pl) && json_integer_value(pl) > 0) {
        json_t *p = json_object();
        json_object_set_new(p, "limit", json_integer(json_integer_value(pl)));
        json_object_set_new(res, "pids", p);
    }
    json_t *swp = json_object_get(hc, "MemorySwappiness");
    if (json_is_integer(swp) && json_integer_value(swp) >= 0) {
        json_t *m = json_object_get(res, "memory");
        if (m == NULL)
            json_object_set_new(res, "memory", m = json_object());
        json_object_set(m, "swappiness", swp);
    }
    if (json_is_true(json_object_get(hc, "OomKillDisable"))) {
        json_t *m = json_object_get(res, "memory");
        if (m == NULL)
            json_object_set_new(res, "memory", m = json_object());
        json_object_set_new(m, "disableOOMKiller", json_true());
    }
    long long weight = json_integer_value(json_object_get(hc, "BlkioWeight"));
    tug_error *ignored = NULL;
    json_t *bio = throttle_lists(hc, &ignored); /* checked at create: a device gone is skipped */
    tug_error_free(ignored);
    if (bio == NULL)
        bio = json_object();
    if (weight > 0)
        json_object_set_new(bio, "weight", json_integer(weight));
    if (json_object_size(bio) > 0)
        json_object_set_new(res, "blockIO", bio);
    else
        json_decref(bio);
    return res;
}

static json_t *rlimits(json_t *hc)
{
    json_t *a = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(hc, "Ulimits"), i, u)
    {
        const char *name = json_string_value(json_object_get(u, "Name"));
        if (name == NULL)
            continue;
        char type[64];
        snprintf(type, sizeof(type), "RLIMIT_%s", name);
        for (char *p = type; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 32);
        json_t *r = json_object();
        json_object_set_new(r, "type", json_string(type));
        json_object_set(r, "soft", json_object_get(u, "Soft"));
        json_object_set(r, "hard", json_object_get(u, "Hard"));
        json_array_append_new(a, r);
    }
    return a;
}

/* Namespaced sysctls a container may set: its IPC namespace's, and its network namespace's
 * when it has one. */
static bool sysctl_allowed(const char *key, bool host_net, bool host_ipc)
{
    if (host_ipc && (strncmp(key, "kernel.", 7) == 0 || strncmp(key, "fs.mqueue.", 10) == 0))
        return false; /* they would be the host's */
    static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                      "kernel.sem",    "kernel.shmall", "kernel.shmmax",
                                      "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(ipc); i++)
        if (strcmp(key, ipc[i]) == 0)
            return true;
    if (strncmp(key, "fs.mqueue.", 10) == 0)
        return true;
    return strncmp(key, "net.", 4) == 0 && !host_net;
}

/* linux.sysctl: docker's two defaults for a network namespace of the container's own (ICMP
 * sockets for every group, as ping without NET_RAW needs; every port bindable without
 * NET_BIND_SERVICE), then HostConfig.Sysctls. */
static json_t *sysctls(json_t *hc, bool host_net, tug_error **err)
{
    json_t *o = json_object();
    if (!host_net) {
        json_object_set_new(o, "net.ipv4.ping_group_range", json_string("0 2147483647"));
        json_object_set_new(o, "net.ipv4.ip_unprivileged_port_start", json_string("0"));
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(hc, "Sysctls"), k, v)
    {
        if (!json_is_string(v) || strchr(k, '/') != NULL || strstr(k, "..") != NULL ||
            !sysctl_allowed(k, host_net, !tug_spec_own_ns(hc, "ipc"))) {
            json_decref(o);
            tug_error_user(err, "sysctl '%s' cannot be set in a container%s", k,
                           strncmp(k, "net.", 4) == 0 && host_net ? " on the host's network"
                           : sysctl_allowed(k, false, false) ? " sharing another IPC namespace"
                                                               " (--ipc)"
                               : ": only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and "
                                 "net.* are its own");
            return NULL;
        }
        json_object_set(o, k, v);
    }
    return o;
}

int tug_spec_cgroup_path(json_t *hc, const char *id, char **ret)
{
    const char *parent = json_string_value(json_object_get(hc, "CgroupParent"));
    if (parent == NULL || *parent == '\0')
        return asprintf(ret, "tug/%s", id);
    while (*parent == '/')
        parent++;
    size_t n = strlen(parent);
    while (n > 0 && parent[n - 1] == '/')
        n--;
    return n == 0 ? asprintf(ret, "%s", id) : asprintf(ret, "%.*s/%s", (int)n, parent, id);
}

bool tug_spec_own_ns(json_t *hc, const char *type)
{
    static const struct {
        const char *type, *key;
    } modes[] = {{"pid", "PidMode"}, {"ipc", "IpcMode"}, {"uts", "UTSMode"},
                 {"cgroup", "CgroupnsMode"}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(modes); i++) {
        if (strcmp(type, modes[i].type) != 0)
            continue;
        const char *m = json_string_value(json_object_get(hc, modes[i].key));
        return m == NULL || (strcmp(m, "host") != 0 && strncmp(m, "container:", 10) != 0);
    }
    return true;
}

json_t *tug_spec_build(const char *id, json_t *request, const char *const *lowerdirs,
                       size_t n_lower, const char *ctr_dir, tug_error **err)
{
    json_t *cfg = json_object_get(request, "Config");
    json_t *hc = json_object_get(request, "HostConfig");
    uint64_t caps = 0;
    if (compute_caps(hc, &caps, err) < 0 || tug_spec_check_throttle(hc, err) < 0)
        return NULL;
    /* the host's nodes for --device are looked up now, while an error can still stop create */
    json_t *dev_nodes = NULL, *dev_rules = NULL;
    if (tug_devices_spec(hc, &dev_nodes, &dev_rules, err) < 0)
        return NULL;
    json_t *args = process_args(cfg, err);
    if (args == NULL) {
        json_decref(dev_nodes);
        json_decref(dev_rules);
        return NULL;
    }
    json_t *spec = json_object();
    json_object_set_new(spec, "ociVersion", json_string("1.0.2"));

    json_t *proc = json_object();
    json_object_set_new(proc, "terminal", json_boolean(json_is_true(json_object_get(cfg, "Tty"))));
    json_t *user = json_object();
    json_object_set_new(user, "uid", json_integer(0));
    json_object_set_new(user, "gid", json_integer(0));
    json_object_set_new(proc, "user", user);
    json_object_set_new(proc, "args", args);
    json_t *env = json_array();
    bool has_path = false, has_home = false, has_host = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cfg, "Env"), i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            continue;
        has_path |= strncmp(s, "PATH=", 5) == 0;
        has_home |= strncmp(s, "HOME=", 5) == 0;
        has_host |= strncmp(s, "HOSTNAME=", 9) == 0;
    }
    if (!has_path)
        json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                               "/usr/bin:/sbin:/bin"));
    const char *hostname = json_string_value(json_object_get(cfg, "Hostname"));
    if (!has_host && hostname) {
        cleanup_free char *h = NULL;
        if (asprintf(&h, "HOSTNAME=%s", hostname) >= 0)
            json_array_append_new(env, json_string(h));
    }
    json_array_foreach(json_object_get(cfg, "Env"), i, v) json_array_append(env, v);
    if (json_is_true(json_object_get(cfg, "Tty")))
        json_array_append_new(env, json_string("TERM=xterm"));
    (void)has_home;
    json_object_set_new(proc, "env", env);
    const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
    json_object_set_new(proc, "cwd", json_string(wd && *wd ? wd : "/"));
    json_t *capo = json_object();
    json_object_set_new(capo, "bounding", caps_list(caps));
    json_object_set_new(capo, "effective", caps_list(caps));
    json_object_set_new(capo, "permitted", caps_list(caps));
    json_object_set_new(proc, "capabilities", capo);
    json_object_set_new(proc, "rlimits", rlimits(hc));
    bool nnp = false;
    const char *seccomp = "default";
    json_array_foreach(json_object_get(hc, "SecurityOpt"), i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            continue;
        if (strcmp(s, "no-new-privileges") == 0 || strcmp(s, "no-new-privileges:true") == 0 ||
            strcmp(s, "no-new-privileges=true") == 0)
            nnp = true;
        else if (strncmp(s, "seccomp=", 8) == 0 || strncmp(s, "seccomp:", 8) == 0)
            seccomp = s + 8;
    }
    bool privileged = json_is_true(json_object_get(hc, "Privileged"));
    if (privileged)
        seccomp = "unconfined";
    json_object_set_new(proc, "noNewPrivileges", json_boolean(nnp));
    long long oom = json_integer_value(json_object_get(hc, "OomScoreAdj"));
    if (oom != 0)
        json_object_set_new(proc, "oomScoreAdj", json_integer(oom));
    json_object_set_new(spec, "process", proc);

    json_t *root = json_object();
    json_object_set_new(root, "path", json_string("rootfs"));
    json_object_set_new(root, "readonly",
                        json_boolean(json_is_true(json_object_get(hc, "ReadonlyRootfs"))));
    json_object_set_new(spec, "root", root);
    json_object_set_new(spec, "hostname", json_string(hostname ? hostname : id));
    const char *domain = json_string_value(json_object_get(cfg, "Domainname"));
    if (domain && *domain)
        json_object_set_new(spec, "domainname", json_string(domain));

    json_t *mounts = json_array();
    json_array_append_new(mounts, mount_new("/proc", "proc", "proc",
                                            (const char *[]){"nosuid", "noexec", "nodev", NULL}));
    json_array_append_new(mounts, mount_new("/dev", "tmpfs", "tmpfs",
                                            (const char *[]){"nosuid", "strictatime", "mode=755",
                                                             "size=65536k", NULL}));
    json_array_append_new(mounts, mount_new("/dev/pts", "devpts", "devpts",
                                            (const char *[]){"nosuid", "noexec", "newinstance",
                                                             "ptmxmode=0666", "mode=0620",
                                                             "gid=5", NULL}));
    long long shm = json_integer_value(json_object_get(hc, "ShmSize"));
    char shmopt[64];
    snprintf(shmopt, sizeof(shmopt), "size=%lld", shm > 0 ? shm : 64LL * 1024 * 1024);
    const char *ipcmode = json_string_value(json_object_get(hc, "IpcMode"));
    if (ipcmode && strcmp(ipcmode, "host") == 0)
        json_array_append_new(mounts, mount_new("/dev/shm", "bind", "/dev/shm",
                                                (const char *[]){"rbind", "nosuid", "noexec",
                                                                 "nodev", NULL}));
    else if (ipcmode == NULL || strcmp(ipcmode, "none") != 0)
        json_array_append_new(mounts, mount_new("/dev/shm", "tmpfs", "shm",
                                                (const char *[]){"nosuid", "noexec", "nodev",
                                                                 "mode=1777", shmopt, NULL}));
    json_array_append_new(mounts, mount_new("/dev/mqueue", "mqueue", "mqueue",
                                            (const char *[]){"nosuid", "noexec", "nodev", NULL}));
    json_array_append_new(mounts,
                          mount_new("/sys", "sysfs", "sysfs",
                                    privileged ? (const char *[]){"nosuid", "noexec", "nodev", NULL}
                                               : (const char *[]){"nosuid", "noexec", "nodev",
                                                                  "ro", NULL}));
    json_array_append_new(mounts, mount_new("/sys/fs/cgroup", "cgroup", "cgroup",
                                            (const char *[]){"nosuid", "noexec", "nodev",
                                                             "relatime", "ro", NULL}));
    /* -v, --mount, --volumes-from and the image's VOLUMEs, resolved at create (volume.c);
     * before the /etc files so that a volume on /etc does not hide them */
    json_t *user_mounts = json_object_get(request, "TugMounts");
    json_array_foreach(user_mounts, i, v) json_array_append(mounts, v);
    static const char *const etc_files[] = {"hostname", "hosts", "resolv.conf"};
    for (i = 0; i < TUG_ARRAY_SIZE(etc_files); i++) {
        cleanup_free char *src = NULL, *dst = NULL;
        if (asprintf(&src, "%s/%s", ctr_dir, etc_files[i]) < 0 ||
            asprintf(&dst, "/etc/%s", etc_files[i]) < 0)
            break;
        if (has_destination(user_mounts, dst))
            continue; /* the user's own file wins, as in docker */
        json_array_append_new(mounts, mount_new(dst, "bind", src,
                                                (const char *[]){"rbind", "rprivate", NULL}));
    }
    const char *k;
    json_object_foreach(json_object_get(hc, "Tmpfs"), k, v)
    {
        const char *o = json_string_value(v);
        cleanup_free char *opts = strdup(o && *o ? o : "");
        json_t *m = mount_new(k, "tmpfs", "tmpfs",
                              (const char *[]){"nosuid", "nodev", "noexec", NULL});
        json_t *ol = json_object_get(m, "options");
        for (char *save = NULL, *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(ol, json_string(t));
        json_array_append_new(mounts, m);
    }
    json_object_set_new(spec, "mounts", mounts);

    json_t *linux_ = json_object();
    json_t *nss = json_array();
    static const char *const ns_types[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
    const char *netmode = json_string_value(json_object_get(hc, "NetworkMode"));
    bool host_net = netmode && strcmp(netmode, "host") == 0;
    for (i = 0; i < TUG_ARRAY_SIZE(ns_types); i++) {
        if ((host_net && strcmp(ns_types[i], "network") == 0) || !tug_spec_own_ns(hc, ns_types[i]))
            continue;
        json_t *n = json_object();
        json_object_set_new(n, "type", json_string(ns_types[i]));
        json_array_append_new(nss, n);
    }
    json_object_set_new(linux_, "namespaces", nss);
    cleanup_free char *cgpath = NULL;
    if (tug_spec_cgroup_path(hc, id, &cgpath) >= 0)
        json_object_set_new(linux_, "cgroupsPath", json_string(cgpath));
    json_object_set_new(linux_, "resources", tug_spec_resources(hc));
    json_object_set_new(json_object_get(linux_, "resources"), "devices", dev_rules);
    json_object_set_new(linux_, "devices", dev_nodes);
    json_t *sysctl = sysctls(hc, host_net, err);
    if (sysctl == NULL) {
        json_decref(linux_);
        json_decref(spec);
        return NULL;
    }
    json_object_set_new(linux_, "sysctl", sysctl);
    if (!privileged) {
        json_object_set_new(linux_, "maskedPaths", strs(masked_paths));
        json_object_set_new(linux_, "readonlyPaths", strs(readonly_paths));
    }
    json_object_set_new(spec, "linux", linux_);

    json_t *ann = json_object();
    tug_strbuf lb = {0};
    for (i = n_lower; i-- > 0;) {
        if (lb.len)
            tug_strbuf_addc(&lb, ':');
        tug_strbuf_adds(&lb, lowerdirs[i]);
    }
    cleanup_free char *lower = tug_strbuf_steal(&lb);
    json_object_set_new(ann, TUG_ANN_LOWERDIRS, json_string(lower ? lower : ""));
    cleanup_free char *upper = NULL, *work = NULL;
    if (asprintf(&upper, "%s/upper", ctr_dir) >= 0)
        json_object_set_new(ann, TUG_ANN_UPPERDIR, json_string(upper));
    if (asprintf(&work, "%s/work", ctr_dir) >= 0)
        json_object_set_new(ann, TUG_ANN_WORKDIR, json_string(work));
    const char *u = json_string_value(json_object_get(cfg, "User"));
    if (u && *u)
        json_object_set_new(ann, TUG_ANN_USER, json_string(u));
    json_object_set_new(ann, TUG_ANN_SECCOMP, json_string(seccomp));
    if (privileged)
        json_object_set_new(ann, TUG_ANN_PRIVILEGED, json_string("1"));
    if (json_is_true(json_object_get(hc, "Init")))
        json_object_set_new(ann, TUG_ANN_INIT, json_string("1"));
    tug_strbuf gb = {0};
    json_array_foreach(json_object_get(hc, "GroupAdd"), i, v)
    {
        if (gb.len)
            tug_strbuf_addc(&gb, ',');
        tug_strbuf_adds(&gb, json_string_value(v) ? json_string_value(v) : "");
    }
    cleanup_free char *groups = tug_strbuf_steal(&gb);
    if (groups && *groups)
        json_object_set_new(ann, TUG_ANN_GROUPS, json_string(groups));
    json_t *join = json_object_get(request, "TugJoin");
    json_object_foreach(join, k, v)
    {
        cleanup_free char *key = NULL;
        if (json_is_string(v) && asprintf(&key, "io.tug.join.%s", k) >= 0)
            json_object_set(ann, key, v);
    }
    const char *ak;
    json_object_foreach(json_object_get(hc, "Annotations"), ak, v)
    {
        if (json_is_string(v) && strncmp(ak, "io.tug.", 7) != 0)
            json_object_set(ann, ak, v);
    }
    json_object_set_new(spec, "annotations", ann);
    return spec;
}
