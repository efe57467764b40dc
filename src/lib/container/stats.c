/* `stats`: each container's CPU, memory, network and block I/O, and pids, read from its cgroup
 * and its network namespace without a daemon: one pass of reads over every container per
 * sample. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/cgroup.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "stats.h"

struct entry {
    tug_stats_row row;
    tug_cgroup *cg; /* NULL when not running (or its group is gone) */
    pid_t pid;
    bool host_net;     /* --network host: the host's interfaces are not the container's */
    long long cpu_ns;  /* at the last sample, -1 before the first */
    long long when_ns; /* CLOCK_MONOTONIC of that sample */
};

struct tug_stats {
    tug_store *s;
    char **names;
    size_t n_names;
    bool all;
    struct entry *e;
    size_t n;
    tug_stats_row *rows; /* the rows of e, packed for the caller */
    long long host_mem;
};

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void entry_clear(struct entry *e)
{
    free(e->row.given);
    free(e->row.id);
    free(e->row.name);
    tug_cgroup_free(e->cg);
    memset(e, 0, sizeof(*e));
}

static void entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        entry_clear(&e[i]);
    free(e);
}

void tug_stats_free(tug_stats *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_names; i++)
        free(st->names[i]);
    free(st->names);
    entries_free(st->e, st->n);
    free(st->rows);
    free(st);
}

int tug_stats_open(tug_store *s, char *const *names, size_t n, bool all, tug_stats **ret,
                   tug_error **err)
{
    tug_stats *st = calloc(1, sizeof(*st));
    if (st == NULL || (n && (st->names = calloc(n, sizeof(char *))) == NULL)) {
        free(st);
        return tug_error_set(err, ENOMEM, "stats");
    }
    st->s = s;
    st->all = all;
    for (; st->n_names < n; st->n_names++)
        if ((st->names[st->n_names] = strdup(names[st->n_names])) == NULL) {
            tug_stats_free(st);
            return tug_error_set(err, ENOMEM, "stats");
        }
    struct sysinfo si;
    st->host_mem = sysinfo(&si) == 0 ? (long long)si.totalram * si.mem_unit : 0;
    *ret = st;
    return 0;
}

/* The containers to show now: those named, or the running ones (all: every one). */
static int pick(tug_stats *st, tug_container ***ret_v, size_t *ret_n, tug_error **err)
{
    if (st->n_names == 0) {
        tug_container **v = NULL;
        size_t n = 0, kept = 0;
        if (tug_container_list(st->s, &v, &n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (st->all || tug_container_alive(v[i]))
                v[kept++] = v[i];
            else
                tug_container_free(v[i]);
        }
        *ret_v = v;
        *ret_n = kept;
        return 0;
    }
    tug_container **v = calloc(st->n_names, sizeof(*v));
    if (v == NULL)
        return tug_error_set(err, ENOMEM, "stats");
    for (size_t i = 0; i < st->n_names; i++) {
        if (tug_container_find(st->s, st->names[i], &v[i], err) < 0 ||
            tug_container_refresh(st->s, v[i], err) < 0) {
            tug_containers_free(v, i + (v[i] != NULL));
            return -1;
        }
    }
    *ret_v = v;
    *ret_n = st->n_names;
    return 0;
}

/* Carry over the open group and last CPU sample of a container seen before. */
static int entry_make(tug_stats *st, tug_container *c, const char *given, struct entry *e)
{
    for (size_t i = 0; i < st->n; i++) {
        struct entry *old = &st->e[i];
        if (old->row.id && strcmp(old->row.id, c->id) == 0 && old->pid == c->pid) {
            e->cg = old->cg;
            old->cg = NULL;
            e->cpu_ns = old->cpu_ns;
            e->when_ns = old->when_ns;
            break;
        }
    }
    if (e->cg == NULL)
        e->cpu_ns = -1;
    e->row.id = strdup(c->id);
    e->row.name = strdup(c->name);
    e->row.given = given ? strdup(given) : strndup(c->id, 12);
    if (e->row.id == NULL || e->row.name == NULL || e->row.given == NULL)
        return -ENOMEM;
    e->row.running = tug_container_alive(c) && c->pid > 0;
    if (!e->row.running)
        return 0;
    e->pid = c->pid;
    const char *mode =
        json_string_value(json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
    e->host_net = mode && strcmp(mode, "host") == 0;
    if (e->cg == NULL) {
        cleanup_free char *path = NULL;
        tug_error *ignored = NULL;
        if (tug_container_cgroup_path(c, &path) >= 0)
            tug_cgroup_open(path, &e->cg, &ignored);
        tug_error_free(ignored);
    }
    return 0;
}

static json_t *networks_doc(pid_t pid);

/* Bytes received and sent through every interface of the container's network namespace but
 * loopback, from /proc/PID/net/dev of its init (the namespace's view, no netlink needed). */
static void read_net(pid_t pid, long long *rx, long long *tx)
{
    json_auto_t *nets = networks_doc(pid);
    const char *name;
    json_t *n;
    *rx = *tx = 0;
    json_object_foreach(nets, name, n)
    {
        *rx += json_integer_value(json_object_get(n, "rx_bytes"));
        *tx += json_integer_value(json_object_get(n, "tx_bytes"));
    }
}

static long long nonneg(long long v)
{
    return v < 0 ? 0 : v;
}

/* One sample of a running container; the CPU % against its previous one. */
static void entry_read(tug_stats *st, struct entry *e)
{
    tug_stats_row *r = &e->row;
    if (!r->running || e->cg == NULL)
        return;
    tug_cgroup_stats cs;
    long long now = mono_ns(); /* the CPU counter is the first file read */
    tug_cgroup_stats_read(e->cg, &cs);
    /* docker: CPU delta / system delta * online CPUs * 100, where the system delta is the
     * host's CPU time (every CPU, idle too) over the interval, that is the elapsed time times
     * the online CPUs: so the container's CPU time over the elapsed time, with no tick
     * granularity. */
    if (e->cpu_ns >= 0 && cs.cpu_ns >= e->cpu_ns && now > e->when_ns)
        r->cpu_percent = (double)(cs.cpu_ns - e->cpu_ns) * 100.0 / (double)(now - e->when_ns);
    e->cpu_ns = cs.cpu_ns;
    e->when_ns = now;
    r->mem_usage = nonneg(cs.mem_usage);
    /* docker shows the host's memory for a container with no limit (or one above it) */
    r->mem_limit = cs.mem_limit < 0 || (st->host_mem > 0 && cs.mem_limit > st->host_mem)
                       ? st->host_mem
                       : cs.mem_limit;
    r->mem_percent = r->mem_limit > 0 ? (double)r->mem_usage * 100.0 / (double)r->mem_limit : 0;
    r->blk_read = nonneg(cs.blk_read);
    r->blk_write = nonneg(cs.blk_write);
    r->pids = nonneg(cs.pids);
    if (!e->host_net)
        read_net(e->pid, &r->net_rx, &r->net_tx);
}

int tug_stats_sample(tug_stats *st, long long window_ns, const tug_stats_row **ret_rows,
                     size_t *ret_n, tug_error **err)
{
    tug_container **v = NULL;
    size_t n = 0;
    if (pick(st, &v, &n, err) < 0)
        return -1;
    struct entry *e = calloc(n ? n : 1, sizeof(*e));
    if (e == NULL) {
        tug_containers_free(v, n);
        return tug_error_set(err, ENOMEM, "stats");
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = entry_make(st, v[i], st->n_names ? st->names[i] : NULL, &e[i]);
    tug_containers_free(v, n);
    if (r < 0) {
        entries_free(e, n);
        return tug_error_set(err, -r, "stats");
    }
    /* A container seen for the first time gets a first sample and, once, a short wait. */
    long long first = -1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].row.running && e[i].cpu_ns < 0) {
            entry_read(st, &e[i]);
            if (first < 0)
                first = e[i].when_ns;
        }
    }
    if (first >= 0) {
        long long left = first + window_ns - mono_ns();
        if (left > 0) {
            struct timespec ts = {left / 1000000000, left % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < n; i++)
        entry_read(st, &e[i]);
    entries_free(st->e, st->n);
    st->e = e;
    st->n = n;
    free(st->rows);
    st->rows = calloc(n ? n : 1, sizeof(*st->rows));
    if (st->rows == NULL)
        return tug_error_set(err, ENOMEM, "stats");
    for (size_t i = 0; i < n; i++)
        st->rows[i] = e[i].row;
    *ret_rows = st->rows;
    *ret_n = n;
    return 0;
}

/* ---- the Engine API's document ---- */

static long long boot_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static json_t *now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cleanup_free char *t = tug_format_rfc3339(ts.tv_sec, ts.tv_nsec);
    return json_string(t ? t : "0001-01-01T00:00:00Z");
}

/* "key N" lines (memory.stat, cpu.stat, cpuacct.stat) as {key: N} */
static json_t *keyed_object(const char *text)
{
    json_t *o = json_object();
    for (const char *p = text; p && *p;) {
        size_t n = strcspn(p, "\n");
        char key[64];
        long long v;
        if (sscanf(p, "%63s %lld", key, &v) == 2)
            json_object_set_new(o, key, json_integer(v));
        p += n + (p[n] == '\n');
    }
    return o;
}

static long long key_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static long long file_number(tug_cgroup *cg, const char *ctrl, const char *file)
{
    cleanup_free char *buf = NULL;
    return tug_cgroup_read(cg, ctrl, file, &buf) < 0 ? -1 : strtoll(buf, NULL, 10);
}

static json_t *file_keys(tug_cgroup *cg, const char *ctrl, const char *file)
{
    cleanup_free char *buf = NULL;
    return tug_cgroup_read(cg, ctrl, file, &buf) < 0 ? json_object() : keyed_object(buf);
}

static json_t *cpu_doc(tug_cgroup *cg, bool v2)
{
    long long total, user, sys, periods, throttled, throttled_ns;
    json_t *percpu = NULL;
    json_auto_t *cs = file_keys(cg, "cpu", "cpu.stat");
    if (v2) {
        total = key_of(cs, "usage_usec") * 1000;
        user = key_of(cs, "user_usec") * 1000;
        sys = key_of(cs, "system_usec") * 1000;
        throttled_ns = key_of(cs, "throttled_usec") * 1000;
    } else {
        /* cpuacct.stat counts USER_HZ ticks */
        long long tick = 1000000000LL / sysconf(_SC_CLK_TCK);
        json_auto_t *acct = file_keys(cg, "cpuacct", "cpuacct.stat");
        total = nonneg(file_number(cg, "cpuacct", "cpuacct.usage"));
        user = key_of(acct, "user") * tick;
        sys = key_of(acct, "system") * tick;
        throttled_ns = key_of(cs, "throttled_time");
        cleanup_free char *buf = NULL;
        if (tug_cgroup_read(cg, "cpuacct", "cpuacct.usage_percpu", &buf) == 0) {
            percpu = json_array();
            char *p = buf, *end;
            for (long long v = strtoll(p, &end, 10); end != p; v = strtoll(p, &end, 10)) {
                json_array_append_new(percpu, json_integer(v));
                p = end;
            }
        }
    }
    periods = key_of(cs, "nr_periods");
    throttled = key_of(cs, "nr_throttled");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *usage = json_pack("{s:I}", "total_usage", (json_int_t)total);
    if (percpu)
        json_object_set_new(usage, "percpu_usage", percpu);
    json_object_set_new(usage, "usage_in_kernelmode", json_integer(sys));
    json_object_set_new(usage, "usage_in_usermode", json_integer(user));
    return json_pack("{s:o, s:I, s:i, s:{s:I, s:I, s:I}}", "cpu_usage", usage, "system_cpu_usage",
                     (json_int_t)(boot_ns() * (cpus > 0 ? cpus : 1)), "online_cpus",
                     (int)(cpus > 0 ? cpus : 1), "throttling_data", "periods",
                     (json_int_t)periods, "throttled_periods", (json_int_t)throttled,
                     "throttled_time", (json_int_t)throttled_ns);
}

static json_t *memory_doc(tug_cgroup *cg, bool v2, long long host_mem)
{
    json_t *stats = file_keys(cg, "memory", "memory.stat");
    long long usage = file_number(cg, "memory", v2 ? "memory.current" : "memory.usage_in_bytes");
    cleanup_free char *lim = NULL;
    long long limit = -1;
    if (tug_cgroup_read(cg, "memory", v2 ? "memory.max" : "memory.limit_in_bytes", &lim) == 0 &&
        lim[0] >= '0' && lim[0] <= '9')
        limit = strtoll(lim, NULL, 10);
    /* as stats shows it: the host's memory when there is no limit, or one above it */
    if (limit < 0 || (host_mem > 0 && limit > host_mem))
        limit = host_mem;
    json_t *m = json_pack("{s:I}", "usage", (json_int_t)nonneg(usage));
    if (!v2) {
        long long max = file_number(cg, "memory", "memory.max_usage_in_bytes");
        json_object_set_new(m, "max_usage", json_integer(nonneg(max)));
    }
    json_object_set_new(m, "stats", stats);
    json_object_set_new(m, "limit", json_integer(limit));
    return m;
}

/* io_service_bytes_recursive: v1's "MAJ:MIN Op N" lines, v2's io.stat rbytes and wbytes */
static json_t *blkio_doc(tug_cgroup *cg, bool v2)
{
    json_t *bytes = json_array();
    cleanup_free char *buf = NULL;
    if (v2 && tug_cgroup_read(cg, "io", "io.stat", &buf) == 0) {
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            unsigned maj, min;
            long long rb = 0, wb = 0;
            if (sscanf(l, "%u:%u", &maj, &min) != 2)
                continue;
            char *r = strstr(l, "rbytes="), *w = strstr(l, "wbytes=");
            rb = r ? strtoll(r + 7, NULL, 10) : 0;
            wb = w ? strtoll(w + 7, NULL, 10) : 0;
            json_array_append_new(bytes, json_pack("{s:i, s:i, s:s, s:I}", "major", maj, "minor",
                                                   min, "op", "read", "value", (json_int_t)rb));
            json_array_append_new(bytes, json_pack("{s:i, s:i, s:s, s:I}", "major", maj, "minor",
                                                   min, "op", "write", "value", (json_int_t)wb));
        }
    } else if (!v2) {
        /* the scheduler's counters when it keeps them, else the throttle layer's, as stats */
        if (tug_cgroup_read(cg, "blkio", "blkio.io_service_bytes_recursive", &buf) < 0 ||
            strchr(buf, ':') == NULL) {
            free(buf);
            buf = NULL;
            tug_cgroup_read(cg, "blkio", "blkio.throttle.io_service_bytes_recursive", &buf);
        }
        for (char *save = NULL, *l = buf ? strtok_r(buf, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            unsigned maj, min;
            char op[16];
            long long v;
            if (sscanf(l, "%u:%u %15s %lld", &maj, &min, op, &v) == 4)
                json_array_append_new(bytes, json_pack("{s:i, s:i, s:s, s:I}", "major", maj,
                                                       "minor", min, "op", op, "value",
                                                       (json_int_t)v));
        }
    }
    return json_pack("{s:o, s:[], s:[], s:[], s:[], s:[], s:[], s:[]}",
                     "io_service_bytes_recursive", bytes, "io_serviced_recursive",
                     "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                     "io_merged_recursive", "io_time_recursive", "sectors_recursive");
}

/* Every interface of the container's network namespace but loopback, as docker names its
 * counters. */
static json_t *networks_doc(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
    cleanup_fclose FILE *f = fopen(path, "re");
    char line[512];
    json_t *nets = json_object();
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        const char *ifname = line + strspn(line, " ");
        unsigned long long v[16];
        if (strcmp(ifname, "lo") == 0 ||
            sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                   &v[11]) != 12)
            continue;
        json_object_set_new(
            nets, ifname,
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes", (json_int_t)v[0],
                      "rx_packets", (json_int_t)v[1], "rx_errors", (json_int_t)v[2], "rx_dropped",
                      (json_int_t)v[3], "tx_bytes", (json_int_t)v[8], "tx_packets",
                      (json_int_t)v[9], "tx_errors", (json_int_t)v[10], "tx_dropped",
                      (json_int_t)v[11]));
    }
    return nets;
}

static json_t *empty_cpu(void)
{
    return json_pack("{s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}}", "cpu_usage", "total_usage", 0,
                     "usage_in_kernelmode", 0, "usage_in_usermode", 0, "throttling_data",
                     "periods", 0, "throttled_periods", 0, "throttled_time", 0);
}

json_t *tug_stats_doc(tug_container *c, const json_t *prev)
{
    cleanup_free char *name = NULL, *cgpath = NULL;
    if (asprintf(&name, "/%s", c->name) < 0)
        return NULL;
    tug_cgroup *cg = NULL;
    if (tug_container_alive(c) && c->pid > 0 && tug_container_cgroup_path(c, &cgpath) >= 0) {
        tug_error *ignored = NULL;
        tug_cgroup_open(cgpath, &cg, &ignored);
        tug_error_free(ignored);
    }
    json_t *pre_read = json_object_get(prev, "read"), *pre_cpu = json_object_get(prev, "cpu_stats");
    json_t *doc = json_object();
    if (cg == NULL) {
        json_object_set_new(doc, "read", json_string("0001-01-01T00:00:00Z"));
        json_object_set_new(doc, "preread", json_string("0001-01-01T00:00:00Z"));
        json_object_set_new(doc, "pids_stats", json_object());
        json_object_set_new(doc, "blkio_stats",
                            json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}",
                                      "io_service_bytes_recursive", "io_serviced_recursive",
                                      "io_queue_recursive", "io_service_time_recursive",
                                      "io_wait_time_recursive", "io_merged_recursive",
                                      "io_time_recursive", "sectors_recursive"));
        json_object_set_new(doc, "num_procs", json_integer(0));
        json_object_set_new(doc, "storage_stats", json_object());
        json_object_set_new(doc, "cpu_stats", empty_cpu());
        json_object_set_new(doc, "precpu_stats", empty_cpu());
        json_object_set_new(doc, "memory_stats", json_object());
    } else {
        bool v2 = tug_cgroup_host_mode() == TUG_CGROUP_V2;
        struct sysinfo si;
        long long host_mem = sysinfo(&si) == 0 ? (long long)si.totalram * si.mem_unit : 0;
        json_object_set_new(doc, "read", now_rfc3339());
        json_object_set_new(doc, "preread", pre_read ? json_copy(pre_read)
                                                     : json_string("0001-01-01T00:00:00Z"));
        json_object_set_new(doc, "pids_stats",
                            json_pack("{s:I}", "current",
                                      (json_int_t)nonneg(file_number(cg, "pids", "pids.current"))));
        json_object_set_new(doc, "blkio_stats", blkio_doc(cg, v2));
        json_object_set_new(doc, "num_procs", json_integer(0));
        json_object_set_new(doc, "storage_stats", json_object());
        json_object_set_new(doc, "cpu_stats", cpu_doc(cg, v2));
        json_object_set_new(doc, "precpu_stats", pre_cpu ? json_deep_copy(pre_cpu) : empty_cpu());
        json_object_set_new(doc, "memory_stats", memory_doc(cg, v2, host_mem));
        const char *mode = json_string_value(
            json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
        if (mode == NULL || strcmp(mode, "host") != 0)
            json_object_set_new(doc, "networks", networks_doc(c->pid));
        tug_cgroup_free(cg);
    }
    json_object_set_new(doc, "name", json_string(name));
    json_object_set_new(doc, "id", json_string(c->id));
    return doc;
}
