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

/* Bytes received and sent through every interface of the container's network namespace but
 * loopback, from /proc/PID/net/dev of its init (the namespace's view, no netlink needed). */
static void read_net(pid_t pid, long long *rx, long long *tx)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
    cleanup_fclose FILE *f = fopen(path, "re");
    char line[512];
    *rx = *tx = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue; /* the two header lines */
        *colon = '\0';
        const char *ifname = line + strspn(line, " ");
        if (strcmp(ifname, "lo") == 0)
            continue;
        unsigned long long v[9];
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
            *rx += (long long)v[0];
            *tx += (long long)v[8];
        }
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
