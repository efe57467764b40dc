/* tug stats and tug update: parse, ask src/lib/container, print as docker does. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "container/stats.h"
#include "create_flags.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* The first frame's CPU % is measured over this window: the cgroup's CPU counter is in
 * nanoseconds, so 50 ms gives a steady figure while `stats --no-stream` stays quick. */
#define FIRST_WINDOW_NS (50LL * 1000 * 1000)
#define REFRESH_NS (1000LL * 1000 * 1000)

/* ---- stats ---- */

/* "A / B", each part with the given formatter's units. */
static json_t *pair(long long a, long long b, bool binary)
{
    cleanup_free char *x = binary ? tug_human_size_binary((double)a) : tug_human_size((double)a, 3);
    cleanup_free char *y = binary ? tug_human_size_binary((double)b) : tug_human_size((double)b, 3);
    char buf[96];
    snprintf(buf, sizeof(buf), "%s / %s", x ? x : "?", y ? y : "?");
    return json_string(buf);
}

static json_t *percent(double v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.2f%%", v);
    return json_string(buf);
}

/* One row with docker's field names, in the order docker's json format sorts them. */
static json_t *stats_row(const tug_stats_row *r, bool trunc)
{
    char pids[24], id[16];
    snprintf(pids, sizeof(pids), "%lld", r->pids);
    snprintf(id, sizeof(id), "%.12s", r->id);
    json_t *o = json_object();
    json_object_set_new(o, "BlockIO", pair(r->blk_read, r->blk_write, false));
    json_object_set_new(o, "CPUPerc", percent(r->cpu_percent));
    json_object_set_new(o, "Container", json_string(r->given));
    json_object_set_new(o, "ID", json_string(trunc ? id : r->id));
    json_object_set_new(o, "MemPerc", percent(r->mem_percent));
    json_object_set_new(o, "MemUsage", pair(r->mem_usage, r->mem_limit, true));
    json_object_set_new(o, "Name", json_string(r->name));
    json_object_set_new(o, "NetIO", pair(r->net_rx, r->net_tx, false));
    json_object_set_new(o, "PIDs", json_string(pids));
    return o;
}

static int print_frame(const tug_stats_row *rows, size_t n, const char *format, bool trunc)
{
    json_t *header =
        json_pack("{ss ss ss ss ss ss ss ss ss}", "Container", "CONTAINER", "ID", "CONTAINER ID",
                  "Name", "NAME", "CPUPerc", "CPU %", "MemUsage", "MEM USAGE / LIMIT", "MemPerc",
                  "MEM %", "NetIO", "NET I/O", "BlockIO", "BLOCK I/O", "PIDs", "PIDS");
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, stats_row(&rows[i], trunc));
    int rc = cli_print_rows(format,
                            "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
                            "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
                            header, out);
    json_decref(header);
    json_decref(out);
    fflush(stdout);
    return rc;
}

static const char stats_help[] =
    "  -a, --all             Show all containers (default shows just running)\n"
    "      --format string   Format output using a custom template:\n"
    "                        'table':            Print output in table format with column "
    "headers (default)\n"
    "                        'table TEMPLATE':   Print output in table format using the given "
    "Go template\n"
    "                        'json':             Print in JSON format\n"
    "                        'TEMPLATE':         Print output using the given Go template\n"
    "      --no-stream       Disable streaming stats and only pull the first result\n"
    "      --no-trunc        Do not truncate output\n";

int cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
    enum { O_FORMAT = 256, O_NOSTREAM, O_NOTRUNC, O_HELP };
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"format", required_argument, NULL, O_FORMAT},
        {"no-stream", no_argument, NULL, O_NOSTREAM},
        {"no-trunc", no_argument, NULL, O_NOTRUNC},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bool all = false, no_stream = false, no_trunc = false;
    const char *format = NULL;
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "a", opts)) != -1) {
        switch (c) {
        case 'a':
            all = cli_opt_on();
            break;
        case O_FORMAT:
            format = optarg;
            break;
        case O_NOSTREAM:
            no_stream = cli_opt_on();
            break;
        case O_NOTRUNC:
            no_trunc = cli_opt_on();
            break;
        case O_HELP:
            cli_print_help("tug stats [OPTIONS] [CONTAINER...]",
                           "Display a live stream of container(s) resource usage statistics",
                           stats_help);
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    tug_store *s = NULL;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_error *err = NULL;
    tug_stats *st = NULL;
    if (tug_stats_open(s, argv + optind, (size_t)(argc - optind), all, &st, &err) < 0)
        return cli_fail(err);
    for (;;) {
        const tug_stats_row *rows;
        size_t n;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (tug_stats_sample(st, FIRST_WINDOW_NS, &rows, &n, &err) < 0) {
            rc = cli_fail(err);
            break;
        }
        if (!no_stream)
            fputs("\033[2J\033[H", stdout); /* docker clears the screen for each frame */
        rc = print_frame(rows, n, format, !no_trunc);
        if (rc || no_stream)
            break;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long left =
            REFRESH_NS - ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
        if (left > 0) {
            struct timespec ts = {left / 1000000000, left % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    tug_stats_free(st);
    return rc;
}

/* ---- update ---- */

static const char update_help[] =
    "      --blkio-weight uint16        Block IO (relative weight), between 10 and 1000, or 0 "
    "to disable (default 0)\n"
    "      --cpu-period int             Limit CPU CFS (Completely Fair Scheduler) period\n"
    "      --cpu-quota int              Limit CPU CFS (Completely Fair Scheduler) quota\n"
    "      --cpu-rt-period int          Limit the CPU real-time period in microseconds\n"
    "      --cpu-rt-runtime int         Limit the CPU real-time runtime in microseconds\n"
    "  -c, --cpu-shares int             CPU shares (relative weight)\n"
    "      --cpus decimal               Number of CPUs\n"
    "      --cpuset-cpus string         CPUs in which to allow execution (0-3, 0,1)\n"
    "      --cpuset-mems string         MEMs in which to allow execution (0-3, 0,1)\n"
    "  -m, --memory bytes               Memory limit\n"
    "      --memory-reservation bytes   Memory soft limit\n"
    "      --memory-swap bytes          Swap limit equal to memory plus swap: -1 to enable "
    "unlimited swap\n"
    "      --pids-limit int             Tune container pids limit (set -1 for unlimited)\n"
    "      --restart string             Restart policy to apply when a container exits\n";

/* One flag's value into the HostConfig keys of the update; an exit status on a bad one. */
static int update_flag(cli_ctx *ctx, int c, const char *arg, json_t *ch)
{
    static const struct {
        int c;
        const char *key, *flag;
        char kind; /* s size, i integer, n decimal (--cpus), t text */
    } map[] = {
        {'m', "Memory", "-m, --memory", 's'},
        {'S', "MemorySwap", "--memory-swap", 's'},
        {'R', "MemoryReservation", "--memory-reservation", 's'},
        {'C', "NanoCpus", "--cpus", 'n'},
        {'c', "CpuShares", "-c, --cpu-shares", 'i'},
        {'P', "CpuPeriod", "--cpu-period", 'i'},
        {'Q', "CpuQuota", "--cpu-quota", 'i'},
        {'T', "CpuRealtimePeriod", "--cpu-rt-period", 'i'},
        {'W', "CpuRealtimeRuntime", "--cpu-rt-runtime", 'i'},
        {'U', "CpusetCpus", "--cpuset-cpus", 't'},
        {'M', "CpusetMems", "--cpuset-mems", 't'},
        {'p', "PidsLimit", "--pids-limit", 'i'},
        {'B', "BlkioWeight", "--blkio-weight", 'i'},
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(map); i++) {
        if (map[i].c != c)
            continue;
        long long v = 0;
        char *end = NULL;
        if (map[i].kind == 't') {
            json_object_set_new(ch, map[i].key, json_string(arg));
            return 0;
        }
        if (map[i].kind == 's' && c == 'S' && strcmp(arg, "-1") == 0)
            v = -1;
        else if (map[i].kind == 's' && tug_parse_size(arg, &v) < 0)
            return cli_bad_value(ctx, arg, map[i].flag, "invalid size");
        else if (map[i].kind == 'n' && tug_parse_nano(arg, &v) < 0)
            return cli_bad_value(ctx, arg, map[i].flag, "failed to parse as a rational number");
        else if (map[i].kind == 'i' && ((v = strtoll(arg, &end, 10)), end == arg || *end))
            return cli_bad_value(ctx, arg, map[i].flag, "invalid syntax");
        json_object_set_new(ch, map[i].key, json_integer(v));
        return 0;
    }
    /* --restart name[:max] */
    cleanup_free char *name = strdup(arg);
    char *colon = name ? strchr(name, ':') : NULL;
    long long max = 0;
    if (colon) {
        *colon = '\0';
        char *end;
        max = strtoll(colon + 1, &end, 10);
        if (end == colon + 1 || *end)
            return cli_bad_value(ctx, arg, "--restart", "maximum retry count must be an integer");
    }
    json_object_set_new(
        ch, "RestartPolicy",
        json_pack("{sssI}", "Name", name ? name : "", "MaximumRetryCount", (json_int_t)max));
    return 0;
}

int cmd_update(cli_ctx *ctx, int argc, char **argv)
{
    enum { O_HELP = 256, O_RESTART };
    static const struct option opts[] = {
        {"memory", required_argument, NULL, 'm'},
        {"memory-swap", required_argument, NULL, 'S'},
        {"memory-reservation", required_argument, NULL, 'R'},
        {"cpus", required_argument, NULL, 'C'},
        {"cpu-shares", required_argument, NULL, 'c'},
        {"cpu-period", required_argument, NULL, 'P'},
        {"cpu-quota", required_argument, NULL, 'Q'},
        {"cpu-rt-period", required_argument, NULL, 'T'},
        {"cpu-rt-runtime", required_argument, NULL, 'W'},
        {"cpuset-cpus", required_argument, NULL, 'U'},
        {"cpuset-mems", required_argument, NULL, 'M'},
        {"pids-limit", required_argument, NULL, 'p'},
        {"blkio-weight", required_argument, NULL, 'B'},
        {"restart", required_argument, NULL, O_RESTART},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    json_auto_t *ch = json_object();
    int c;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "m:c:", opts)) != -1) {
        if (c == O_HELP) {
            cli_print_help("tug update [OPTIONS] CONTAINER [CONTAINER...]",
                           "Update configuration of one or more containers", update_help);
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_flag_error(ctx);
        int rc = update_flag(ctx, c, optarg, ch);
        if (rc)
            return rc;
    }
    if (optind >= argc) {
        fprintf(stderr,
                "\"%s\" requires at least 1 argument.\nSee '%s %s --help'.\n\nUsage:  %s %s "
                "[OPTIONS] CONTAINER [CONTAINER...]\n\nUpdate configuration of one or more "
                "containers\n",
                ctx->cmd, ctx->prog, ctx->cmd, ctx->prog, ctx->cmd);
        return EXIT_USER;
    }
    if (json_object_size(ch) == 0) {
        fprintf(stderr, "you must provide one or more flags when using this command\n");
        return EXIT_USER;
    }
    tug_store *s = NULL;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    for (int i = optind; i < argc; i++) {
        tug_error *err = NULL;
        tug_container *ctr = NULL;
        json_auto_t *warnings = json_array();
        if (tug_container_find(s, argv[i], &ctr, &err) < 0 ||
            tug_container_update(s, ctr, ch, warnings, &err) < 0) {
            int r = cli_fail(err);
            rc = rc ? rc : r;
        } else {
            printf("%s\n", argv[i]);
        }
        fflush(stdout);
        size_t k;
        json_t *w;
        json_array_foreach(warnings, k, w) fprintf(stderr, "%s\n", json_string_value(w));
        tug_container_free(ctr);
    }
    return rc;
}
