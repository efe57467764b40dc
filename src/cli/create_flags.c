#include "create_flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <arpa/inet.h>

#include "image/image.h"
#include "net/dns.h"
#include "net/ports.h"
#include "runtime/container.h"
#include "runtime/devices.h"
#include "runtime/request.h"
#include "runtime/security.h"
#include "runtime/volume.h"
#include "util/cleanup.h"
#include "util/strutil.h"

enum {
    O_RM = 1000, O_NAME, O_ENTRYPOINT, O_INIT, O_READONLY, O_TMPFS, O_MEMSWAP, O_CPUS,
    O_PIDS, O_CAPADD, O_CAPDROP, O_PRIV, O_SECOPT, O_RESTART, O_STOPSIG, O_STOPTIMEOUT,
    O_ULIMIT, O_SHM, O_LOGOPT, O_LOGDRIVER, O_ENVFILE, O_NETWORK, O_PULL, O_PLATFORM, O_HELP,
    O_CIDFILE, O_SIGPROXY, O_ALIAS, O_IP, O_IP6, O_DNS, O_ADDHOST, O_PUBALL,
    O_MOUNT, O_VOLFROM, O_DEVICE, O_DEVRULE, O_SYSCTL,
    O_GROUPADD, O_IPC, O_PID, O_UTS, O_USERNS, O_CGROUPNS, O_CPUSET_CPUS, O_CPUSET_MEMS,
    O_CPU_PERIOD, O_CPU_QUOTA, O_BLKIO_WEIGHT, O_MEM_RESV, O_SWAPPINESS, O_OOM_KILL_DISABLE,
    O_OOM_SCORE_ADJ, O_LABELFILE, O_DOMAINNAME, O_ANNOTATION, O_DETACHKEYS, O_CGROUP_PARENT,
    O_DEV_READ_BPS, O_DEV_WRITE_BPS, O_DEV_READ_IOPS, O_DEV_WRITE_IOPS, O_RUNTIME,
    O_VOLDRIVER, O_NOTRUST, O_WEIGHT_DEVICE, O_ISOLATION, O_CPU_RT_PERIOD, O_CPU_RT_RUNTIME,
    O_GPUS,
};

/* the health check flags (health_flag) */
enum {
    O_HEALTH_CMD = 1900, O_HEALTH_INTERVAL, O_HEALTH_TIMEOUT, O_HEALTH_RETRIES,
    O_HEALTH_START_PERIOD, O_HEALTH_START_INTERVAL, O_NO_HEALTHCHECK,
};

/* names and name resolution (net/dns.c) */
enum { O_DNSSEARCH = 2000, O_DNSOPT, O_LINK, O_EXPOSE, O_MAC };

static const struct option create_opts[] = {
    {"detach", no_argument, NULL, 'd'},
    {"interactive", no_argument, NULL, 'i'},
    {"tty", no_argument, NULL, 't'},
    {"rm", no_argument, NULL, O_RM},
    {"name", required_argument, NULL, O_NAME},
    {"env", required_argument, NULL, 'e'},
    {"env-file", required_argument, NULL, O_ENVFILE},
    {"workdir", required_argument, NULL, 'w'},
    {"user", required_argument, NULL, 'u'},
    {"entrypoint", required_argument, NULL, O_ENTRYPOINT},
    {"hostname", required_argument, NULL, 'h'},
    {"init", no_argument, NULL, O_INIT},
    {"read-only", no_argument, NULL, O_READONLY},
    {"tmpfs", required_argument, NULL, O_TMPFS},
    {"memory", required_argument, NULL, 'm'},
    {"memory-swap", required_argument, NULL, O_MEMSWAP},
    {"cpus", required_argument, NULL, O_CPUS},
    {"cpu-shares", required_argument, NULL, 'c'},
    {"pids-limit", required_argument, NULL, O_PIDS},
    {"cap-add", required_argument, NULL, O_CAPADD},
    {"cap-drop", required_argument, NULL, O_CAPDROP},
    {"privileged", no_argument, NULL, O_PRIV},
    {"device", required_argument, NULL, O_DEVICE},
    {"device-cgroup-rule", required_argument, NULL, O_DEVRULE},
    {"security-opt", required_argument, NULL, O_SECOPT},
    {"restart", required_argument, NULL, O_RESTART},
    {"stop-signal", required_argument, NULL, O_STOPSIG},
    {"stop-timeout", required_argument, NULL, O_STOPTIMEOUT},
    {"sysctl", required_argument, NULL, O_SYSCTL},
    {"label", required_argument, NULL, 'l'},
    {"ulimit", required_argument, NULL, O_ULIMIT},
    {"shm-size", required_argument, NULL, O_SHM},
    {"log-opt", required_argument, NULL, O_LOGOPT},
    {"log-driver", required_argument, NULL, O_LOGDRIVER},
    {"network", required_argument, NULL, O_NETWORK},
    {"net", required_argument, NULL, O_NETWORK},
    {"pull", required_argument, NULL, O_PULL},
    {"platform", required_argument, NULL, O_PLATFORM},
    {"cidfile", required_argument, NULL, O_CIDFILE},
    {"sig-proxy", no_argument, NULL, O_SIGPROXY},
    {"attach", required_argument, NULL, 'a'},
    {"publish", required_argument, NULL, 'p'},
    {"publish-all", no_argument, NULL, 'P'},
    {"network-alias", required_argument, NULL, O_ALIAS},
    {"ip", required_argument, NULL, O_IP},
    {"ip6", required_argument, NULL, O_IP6},
    {"dns", required_argument, NULL, O_DNS},
    {"add-host", required_argument, NULL, O_ADDHOST},
    {"dns-search", required_argument, NULL, O_DNSSEARCH},
    {"dns-option", required_argument, NULL, O_DNSOPT},
    {"link", required_argument, NULL, O_LINK},
    {"expose", required_argument, NULL, O_EXPOSE},
    {"mac-address", required_argument, NULL, O_MAC},
    {"volume", required_argument, NULL, 'v'},
    {"mount", required_argument, NULL, O_MOUNT},
    {"volumes-from", required_argument, NULL, O_VOLFROM},
    {"health-cmd", required_argument, NULL, O_HEALTH_CMD},
    {"health-interval", required_argument, NULL, O_HEALTH_INTERVAL},
    {"health-timeout", required_argument, NULL, O_HEALTH_TIMEOUT},
    {"health-retries", required_argument, NULL, O_HEALTH_RETRIES},
    {"health-start-period", required_argument, NULL, O_HEALTH_START_PERIOD},
    {"health-start-interval", required_argument, NULL, O_HEALTH_START_INTERVAL},
    {"no-healthcheck", no_argument, NULL, O_NO_HEALTHCHECK},
    {"group-add", required_argument, NULL, O_GROUPADD},
    {"ipc", required_argument, NULL, O_IPC},
    {"pid", required_argument, NULL, O_PID},
    {"uts", required_argument, NULL, O_UTS},
    {"userns", required_argument, NULL, O_USERNS},
    {"cgroupns", required_argument, NULL, O_CGROUPNS},
    {"cpuset-cpus", required_argument, NULL, O_CPUSET_CPUS},
    {"cpuset-mems", required_argument, NULL, O_CPUSET_MEMS},
    {"cpu-period", required_argument, NULL, O_CPU_PERIOD},
    {"cpu-quota", required_argument, NULL, O_CPU_QUOTA},
    {"cpu-rt-period", required_argument, NULL, O_CPU_RT_PERIOD},
    {"cpu-rt-runtime", required_argument, NULL, O_CPU_RT_RUNTIME},
    {"gpus", required_argument, NULL, O_GPUS},
    {"blkio-weight", required_argument, NULL, O_BLKIO_WEIGHT},
    {"memory-reservation", required_argument, NULL, O_MEM_RESV},
    {"memory-swappiness", required_argument, NULL, O_SWAPPINESS},
    {"oom-kill-disable", no_argument, NULL, O_OOM_KILL_DISABLE},
    {"oom-score-adj", required_argument, NULL, O_OOM_SCORE_ADJ},
    {"label-file", required_argument, NULL, O_LABELFILE},
    {"domainname", required_argument, NULL, O_DOMAINNAME},
    {"annotation", required_argument, NULL, O_ANNOTATION},
    {"detach-keys", required_argument, NULL, O_DETACHKEYS},
    {"cgroup-parent", required_argument, NULL, O_CGROUP_PARENT},
    {"quiet", no_argument, NULL, 'q'},
    {"blkio-weight-device", required_argument, NULL, O_WEIGHT_DEVICE},
    {"isolation", required_argument, NULL, O_ISOLATION},
    {"runtime", required_argument, NULL, O_RUNTIME},
    {"volume-driver", required_argument, NULL, O_VOLDRIVER},
    {"disable-content-trust", no_argument, NULL, O_NOTRUST},
    {"device-read-bps", required_argument, NULL, O_DEV_READ_BPS},
    {"device-write-bps", required_argument, NULL, O_DEV_WRITE_BPS},
    {"device-read-iops", required_argument, NULL, O_DEV_READ_IOPS},
    {"device-write-iops", required_argument, NULL, O_DEV_WRITE_IOPS},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* The flags as docker's help words them, for both commands or one (true: run's alone). */
enum { BOTH = 0, RUN_ONLY = 1, CREATE_ONLY = 2 };
static const struct {
    const char *flag, *desc;
    int only;
} create_help[] = {
    {"--add-host list", "Add a custom host-to-IP mapping (host:ip)", false},
    {"--annotation map", "Add an annotation to the container (passed through to the OCI "
                         "runtime) (default map[])", false},
    {"-a, --attach list", "Attach to STDIN, STDOUT or STDERR", false},
    {"--blkio-weight uint16", "Block IO (relative weight), between 10 and 1000, or 0 to "
                              "disable (default 0)", false},
    {"--blkio-weight-device list", "Block IO weight (relative device weight) (default [])",
     false},
    {"--cap-add list", "Add Linux capabilities", false},
    {"--cap-drop list", "Drop Linux capabilities", false},
    {"--cgroup-parent string", "Optional parent cgroup for the container", false},
    {"--cgroupns string", "Cgroup namespace to use (host|private)\n"
                          "'host':    Run the container in the host's cgroup namespace\n"
                          "'private': Run the container in its own private cgroup namespace "
                          "(default)", false},
    {"--cidfile string", "Write the container ID to the file", false},
    {"--cpu-period int", "Limit CPU CFS (Completely Fair Scheduler) period", false},
    {"--cpu-quota int", "Limit CPU CFS (Completely Fair Scheduler) quota", false},
    {"--cpu-rt-period int", "Limit CPU real-time period in microseconds", false},
    {"--cpu-rt-runtime int", "Limit CPU real-time runtime in microseconds", false},
    {"-c, --cpu-shares int", "CPU shares (relative weight)", false},
    {"--cpus decimal", "Number of CPUs", false},
    {"--cpuset-cpus string", "CPUs in which to allow execution (0-3, 0,1)", false},
    {"--cpuset-mems string", "MEMs in which to allow execution (0-3, 0,1)", false},
    {"-d, --detach", "Run container in background and print container ID", true},
    {"--detach-keys string", "Override the key sequence for detaching a container", true},
    {"--device list", "Add a host device to the container", false},
    {"--device-cgroup-rule list", "Add a rule to the cgroup allowed devices list", false},
    {"--device-read-bps list", "Limit read rate (bytes per second) from a device (default [])",
     false},
    {"--device-read-iops list", "Limit read rate (IO per second) from a device (default [])",
     false},
    {"--device-write-bps list", "Limit write rate (bytes per second) to a device (default [])",
     false},
    {"--device-write-iops list", "Limit write rate (IO per second) to a device (default [])",
     false},
    {"--dns list", "Set custom DNS servers", false},
    {"--dns-option list", "Set DNS options", false},
    {"--dns-search list", "Set custom DNS search domains", false},
    {"--disable-content-trust", "Skip image verification (default true)", false},
    {"--domainname string", "Container NIS domain name", false},
    {"--entrypoint string", "Overwrite the default ENTRYPOINT of the image", false},
    {"-e, --env list", "Set environment variables", false},
    {"--env-file list", "Read in a file of environment variables", false},
    {"--expose list", "Expose a port or a range of ports", false},
    {"--health-cmd string", "Command to run to check health", false},
    {"--health-interval duration", "Time between running the check (ms|s|m|h) (default 0s)",
     false},
    {"--health-retries int", "Consecutive failures needed to report unhealthy", false},
    {"--health-start-interval duration", "Time between running the check during the start "
                                         "period (ms|s|m|h) (default 0s)", false},
    {"--health-start-period duration", "Start period for the container to initialize before "
                                       "starting health-retries countdown (ms|s|m|h) "
                                       "(default 0s)", false},
    {"--health-timeout duration", "Maximum time to allow one check to run (ms|s|m|h) "
                                  "(default 0s)", false},
    {"--gpus gpu-request", "GPU devices to add to the container ('all' to pass all GPUs)", false},
    {"--group-add list", "Add additional groups to join", false},
    {"-h, --hostname string", "Container host name", false},
    {"--init", "Run an init inside the container that forwards signals and reaps processes",
     false},
    {"-i, --interactive", "Keep STDIN open even if not attached", false},
    {"--ip string", "IPv4 address (e.g., 172.30.100.104)", false},
    {"--ip6 string", "IPv6 address (e.g., 2001:db8::33)", false},
    {"--ipc string", "IPC mode to use", false},
    {"--isolation string", "Container isolation technology", false},
    {"-l, --label list", "Set meta data on a container", false},
    {"--label-file list", "Read in a line delimited file of labels", false},
    {"--link list", "Add link to another container", false},
    {"--log-driver string", "Logging driver for the container", false},
    {"--log-opt list", "Log driver options", false},
    {"--mac-address string", "Container MAC address (e.g., 92:d0:c6:0a:29:33)", false},
    {"-m, --memory bytes", "Memory limit", false},
    {"--memory-reservation bytes", "Memory soft limit", false},
    {"--memory-swap bytes", "Swap limit equal to memory plus swap: '-1' to enable unlimited "
                            "swap", false},
    {"--memory-swappiness int", "Tune container memory swappiness (0 to 100) (default -1)",
     false},
    {"--mount mount", "Attach a filesystem mount to the container", false},
    {"--name string", "Assign a name to the container", false},
    {"--network network", "Connect a container to a network", false},
    {"--network-alias list", "Add network-scoped alias for the container", false},
    {"--no-healthcheck", "Disable any container-specified HEALTHCHECK", false},
    {"--oom-kill-disable", "Disable OOM Killer", false},
    {"--oom-score-adj int", "Tune host's OOM preferences (-1000 to 1000)", false},
    {"--pid string", "PID namespace to use", false},
    {"--pids-limit int", "Tune container pids limit (set -1 for unlimited)", false},
    {"--platform string", "Set platform if server is multi-platform capable", false},
    {"--privileged", "Give extended privileges to this container", false},
    {"-p, --publish list", "Publish a container's port(s) to the host", false},
    {"-P, --publish-all", "Publish all exposed ports to random ports", false},
    {"--pull string", "Pull image before running (\"always\", \"missing\", \"never\") "
                      "(default \"missing\")", RUN_ONLY},
    {"--pull string", "Pull image before creating (\"always\", \"missing\", \"never\") "
                      "(default \"missing\")", CREATE_ONLY},
    {"-q, --quiet", "Suppress the pull output", false},
    {"--read-only", "Mount the container's root filesystem as read only", false},
    {"--restart string", "Restart policy to apply when a container exits (default \"no\")",
     false},
    {"--rm", "Automatically remove the container and its associated anonymous volumes when it "
             "exits", false},
    {"--runtime string", "Runtime to use for this container", false},
    {"--security-opt list", "Security Options", false},
    {"--shm-size bytes", "Size of /dev/shm", false},
    {"--sig-proxy", "Proxy received signals to the process (default true)", true},
    {"--stop-signal string", "Signal to stop the container", false},
    {"--stop-timeout int", "Timeout (in seconds) to stop a container", false},
    {"--sysctl map", "Sysctl options (default map[])", false},
    {"--tmpfs list", "Mount a tmpfs directory", false},
    {"-t, --tty", "Allocate a pseudo-TTY", false},
    {"--ulimit ulimit", "Ulimit options (default [])", false},
    {"-u, --user string", "Username or UID (format: <name|uid>[:<group|gid>])", false},
    {"--userns string", "User namespace to use", false},
    {"--uts string", "UTS namespace to use", false},
    {"-v, --volume list", "Bind mount a volume", false},
    {"--volume-driver string", "Optional volume driver for the container", false},
    {"--volumes-from list", "Mount volumes from the specified container(s)", false},
    {"-w, --workdir string", "Working directory inside the container", false},
};

/* The options part of the help: docker's columns, a description's further lines under its
 * first. */
static char *create_help_text(bool for_run)
{
    /* "-x, --long" starts four columns left of a lone "--long" */
    size_t width = 0;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(create_help); i++) {
        const char *fl = create_help[i].flag;
        size_t w = strlen(fl) + (fl[1] == '-' ? 4 : 0);
        if (w > width)
            width = w;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(create_help); i++) {
        if (create_help[i].only == (for_run ? CREATE_ONLY : RUN_ONLY))
            continue;
        const char *flag = create_help[i].flag;
        bool lone = flag[1] == '-';
        fprintf(f, "  %s%-*s  ", lone ? "    " : "", (int)width - (lone ? 4 : 0), flag);
        for (const char *d = create_help[i].desc; *d;) {
            size_t n = strcspn(d, "\n");
            fprintf(f, "%.*s\n", (int)n, d);
            d += n;
            if (*d == '\n') {
                d++;
                fprintf(f, "%*s", (int)width + 4, "");
            }
        }
    }
    fclose(f);
    return out;
}

/* bad_value with the library's reason, which it frees. */
static int bad_value_error(cli_ctx *ctx, const char *value, const char *flag, tug_error *err)
{
    int rc = cli_bad_value(ctx, value, flag, err->msg);
    tug_error_free(err);
    return rc;
}

/* Options of --tmpfs PATH:OPTIONS, checked before anything is created: NULL when all are
 * tmpfs's own, else the first one that is not (the caller frees it). */
static char *bad_tmpfs_option(const char *opts)
{
    static const char *const flags[] = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev",
                                        "nodev", "atime", "noatime", "relatime", "strictatime"};
    cleanup_free char *copy = strdup(opts);
    char *save = NULL;
    for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; i < TUG_ARRAY_SIZE(flags); i++)
            ok |= strcmp(o, flags[i]) == 0;
        const char *v = strchr(o, '=');
        size_t kl = v ? (size_t)(v - o) : 0;
        if (v && ++v && *v) {
            size_t digits = strspn(v, "0123456789");
            if (kl == 4 && strncmp(o, "size", 4) == 0)
                ok = digits > 0 && (v[digits] == '\0' ||
                                    (strchr("kKmMgG%", v[digits]) && v[digits + 1] == '\0'));
            else if (kl == 4 && strncmp(o, "mode", 4) == 0)
                ok = strspn(v, "01234567") == strlen(v) && strlen(v) <= 4;
            else if ((kl == 3 && (strncmp(o, "uid", 3) == 0 || strncmp(o, "gid", 3) == 0)) ||
                     (kl == 9 && strncmp(o, "nr_inodes", 9) == 0) ||
                     (kl == 9 && strncmp(o, "nr_blocks", 9) == 0))
                ok = digits == strlen(v);
        }
        if (!ok)
            return strdup(o);
    }
    return NULL;
}

/* ---- health check flags: docker's checks, then Config.Healthcheck ---- */

typedef struct health_flags {
    const char *cmd;
    long long ns[4]; /* interval, timeout, start period, start interval */
    long long retries;
    bool none, any;
} health_flags;

/* docker's "docker: MESSAGE" for a flag it rejects after parsing */
static int docker_flag_error(cli_ctx *ctx, const char *msg)
{
    fprintf(stderr, "%s: %s\n\nRun '%s %s --help' for more information\n", ctx->prog, msg,
            ctx->prog, ctx->cmd);
    return EXIT_ENGINE;
}

/* One health flag; 0 or the exit status of its error. */
static int health_flag(cli_ctx *ctx, int c, const char *arg, health_flags *h)
{
    static const char *const names[] = {"--health-interval", "--health-timeout",
                                        "--health-start-period", "--health-start-interval"};
    int k = c == O_HEALTH_INTERVAL ? 0 : c == O_HEALTH_TIMEOUT ? 1
            : c == O_HEALTH_START_PERIOD ? 2 : 3;
    char *end;
    switch (c) {
    case O_NO_HEALTHCHECK:
        h->none = cli_opt_on();
        return 0;
    case O_HEALTH_CMD:
        h->cmd = arg;
        h->any |= *arg != '\0';
        return 0;
    case O_HEALTH_RETRIES:
        errno = 0;
        h->retries = strtoll(arg, &end, 10);
        if (end == arg || *end || errno == ERANGE) {
            cleanup_free char *why = NULL;
            if (asprintf(&why, "strconv.ParseInt: parsing \"%s\": %s", arg,
                         errno == ERANGE ? "value out of range" : "invalid syntax") < 0)
                why = NULL;
            return cli_bad_value(ctx, arg, "--health-retries", why ? why : "invalid syntax");
        }
        h->any |= h->retries != 0;
        return 0;
    default: {
        int64_t ns;
        if (tug_parse_go_duration(arg, &ns) < 0) {
            cleanup_free char *why = NULL;
            if (asprintf(&why, "time: invalid duration \"%s\"", arg) < 0)
                why = NULL;
            return cli_bad_value(ctx, arg, names[k], why ? why : "invalid duration");
        }
        h->ns[k] = ns;
        h->any |= ns != 0;
        return 0;
    }
    }
}

/* After the flags: Config.Healthcheck, docker's order of checks. */
static int health_finish(cli_ctx *ctx, const health_flags *h, json_t *cfg)
{
    static const char *const keys[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    static const char *const negative[] = {
        "--health-interval cannot be negative", "--health-timeout cannot be negative",
        "--health-start-period cannot be negative", "--health-start-interval cannot be negative"};
    if (h->none) {
        if (h->any)
            return docker_flag_error(ctx, "--no-healthcheck conflicts with --health-* options");
        json_t *hc = json_object();
        json_t *test = json_array();
        json_array_append_new(test, json_string("NONE"));
        json_object_set_new(hc, "Test", test);
        json_object_set_new(cfg, "Healthcheck", hc);
        return 0;
    }
    if (!h->any)
        return 0;
    for (int k = 0; k < 2; k++)
        if (h->ns[k] < 0)
            return docker_flag_error(ctx, negative[k]);
    if (h->retries < 0)
        return docker_flag_error(ctx, "--health-retries cannot be negative");
    for (int k = 2; k < 4; k++)
        if (h->ns[k] < 0)
            return docker_flag_error(ctx, negative[k]);
    json_t *hc = json_object();
    if (h->cmd && *h->cmd) {
        json_t *test = json_array();
        json_array_append_new(test, json_string("CMD-SHELL"));
        json_array_append_new(test, json_string(h->cmd));
        json_object_set_new(hc, "Test", test);
    }
    for (int k = 0; k < 4; k++)
        if (h->ns[k])
            json_object_set_new(hc, keys[k], json_integer(h->ns[k]));
    if (h->retries)
        json_object_set_new(hc, "Retries", json_integer(h->retries));
    json_object_set_new(cfg, "Healthcheck", hc);
    return 0;
}

static void warn(create_flags *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(create_flags *f, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char **w = realloc(f->warnings, (f->n_warnings + 1) * sizeof(*w));
    if (w == NULL) {
        free(msg);
        return;
    }
    f->warnings = w;
    f->warnings[f->n_warnings++] = msg;
}

static void add_env(json_t *env, const char *kv)
{
    if (strchr(kv, '=') == NULL) {
        /* "-e NAME" takes the value from tug's own environment, or drops it */
        const char *v = getenv(kv);
        if (v == NULL)
            return;
        char *s = NULL;
        if (asprintf(&s, "%s=%s", kv, v) >= 0)
            json_array_append_new(env, json_string(s));
        free(s);
        return;
    }
    json_array_append_new(env, json_string(kv));
}

/* --env-file and --label-file: each line not blank nor a '#' comment, given to add. */
static int read_lines_file(json_t *into, const char *path, void (*add)(json_t *, const char *),
                           char **ret_err)
{
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (asprintf(ret_err, "open %s: %s", path, strerror(errno)) < 0)
            *ret_err = NULL;
        return -1;
    }
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        add(into, p);
    }
    return 0;
}

/* -l and --label-file: key=value, or key alone for an empty value. */
static void add_label(json_t *labels, const char *kv)
{
    const char *eq = strchr(kv, '=');
    cleanup_free char *k = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);
    if (k)
        json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
}

static int parse_ulimit(const char *s, json_t *out)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s)
        return -1;
    cleanup_free char *name = strndup(s, (size_t)(eq - s));
    char *end;
    long long soft = strtoll(eq + 1, &end, 10), hard = soft;
    if (end == eq + 1)
        return -1;
    if (*end == ':') {
        char *e2;
        hard = strtoll(end + 1, &e2, 10);
        if (e2 == end + 1 || *e2)
            return -1;
    } else if (*end) {
        return -1;
    }
    json_t *u = json_object();
    json_object_set_new(u, "Name", json_string(name));
    json_object_set_new(u, "Hard", json_integer(hard));
    json_object_set_new(u, "Soft", json_integer(soft));
    json_array_append_new(out, u);
    return 0;
}

/* --device-{read,write}-{bps,iops} PATH:RATE as {"Path","Rate"}; NULL with docker's reason. */
static json_t *parse_throttle_flag(const char *arg, bool iops, char **ret_why)
{
    const char *colon = strchr(arg, ':');
    int n = 0;
    long long rate = -1;
    char *end = NULL;
    if (colon == NULL || colon == arg)
        n = asprintf(ret_why, "bad format: %s", arg);
    else if (strncmp(arg, "/dev/", 5) != 0)
        n = asprintf(ret_why, "bad format for device path: %s", arg);
    else if (iops ? (errno = 0, rate = strtoll(colon + 1, &end, 10),
                     end == colon + 1 || *end || errno || rate < 0 || colon[1] == '-')
                  : tug_parse_size(colon + 1, &rate) < 0 || rate < 0)
        n = asprintf(ret_why,
                     "invalid rate for device: %s. The correct format is "
                     "<device-path>:<number>%s. Number must be a positive integer%s",
                     arg, iops ? "" : "[<unit>]",
                     iops ? "" : ". Unit is optional and can be kb, mb, or gb");
    else {
        cleanup_free char *path = strndup(arg, (size_t)(colon - arg));
        return json_pack("{sssI}", "Path", path ? path : "", "Rate", (json_int_t)rate);
    }
    if (n < 0)
        *ret_why = NULL;
    return NULL;
}

/* docker's detach keys: comma-separated single characters or ctrl-<a-z@[\]^_>. */
static bool detach_keys_valid(const char *keys)
{
    cleanup_free char *copy = strdup(keys);
    if (copy == NULL || *copy == '\0')
        return false;
    char *save = NULL;
    int n = 0;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save), n++) {
        if (strlen(k) == 1)
            continue;
        if (strncmp(k, "ctrl-", 5) != 0 || strlen(k) != 6 ||
            (strchr("abcdefghijklmnopqrstuvwxyz@[\\]^_", k[5]) == NULL))
            return false;
    }
    return n > 0 && strstr(keys, ",,") == NULL && keys[strlen(keys) - 1] != ',';
}

/* --security-opt as docker takes it: no-new-privileges[:true|false], seccomp=unconfined or a
 * profile file (read now, as docker's client does), label=... and apparmor=... (accepted: this
 * host has neither SELinux nor AppArmor to apply them). 0, or -1 with *ret_why. */
static int check_security_opt(const char *opt, char **ret_why)
{
    const char *sep = strpbrk(opt, "=:");
    size_t kl = sep ? (size_t)(sep - opt) : strlen(opt);
    const char *val = sep ? sep + 1 : NULL;
    int n = -1;
    if (kl == 17 && strncmp(opt, "no-new-privileges", kl) == 0) {
        if (val == NULL || strcmp(val, "true") == 0 || strcmp(val, "false") == 0)
            return 0;
        n = asprintf(ret_why, "invalid --security-opt 2: \"%s\": no-new-privileges takes true "
                              "or false", opt);
    } else if (val == NULL) {
        n = asprintf(ret_why, "Invalid --security-opt: \"%s\": use no-new-privileges, "
                              "seccomp=unconfined, seccomp=FILE, label=... or apparmor=...", opt);
    } else if (kl == 7 && strncmp(opt, "seccomp", kl) == 0) {
        if (strcmp(val, "unconfined") == 0)
            return 0;
        FILE *pf = fopen(val, "re");
        if (pf) {
            fclose(pf);
            return 0;
        }
        n = asprintf(ret_why, "opening seccomp profile (%s) failed: %s", val, strerror(errno));
    } else if ((kl == 5 && strncmp(opt, "label", kl) == 0) ||
               (kl == 8 && strncmp(opt, "apparmor", kl) == 0)) {
        if (*val)
            return 0;
        n = asprintf(ret_why, "invalid --security-opt 2: \"%s\": give a value", opt);
    } else {
        n = asprintf(ret_why, "invalid --security-opt 1: \"%s\": use no-new-privileges, "
                              "seccomp=, label= or apparmor=", opt);
    }
    if (n < 0)
        *ret_why = NULL;
    return -1;
}

/* A create request's Config: the defaults, attached to stdout and stderr unless -d. */
static json_t *new_config(void)
{
    json_t *c = tug_config_new();
    json_object_set_new(c, "AttachStdout", json_true());
    json_object_set_new(c, "AttachStderr", json_true());
    json_object_set_new(c, "Env", json_array());
    json_object_set_new(c, "Labels", json_object());
    return c;
}

static json_t *new_host_config(void)
{
    json_t *h = json_object();
    json_object_set_new(h, "Binds", json_null());
    json_t *log = json_object();
    json_object_set_new(log, "Type", json_string("json-file"));
    json_object_set_new(log, "Config", json_object());
    json_object_set_new(h, "LogConfig", log);
    json_object_set_new(h, "NetworkMode", json_string("default"));
    json_object_set_new(h, "PortBindings", json_object());
    json_t *rp = json_object();
    json_object_set_new(rp, "Name", json_string("no"));
    json_object_set_new(rp, "MaximumRetryCount", json_integer(0));
    json_object_set_new(h, "RestartPolicy", rp);
    json_object_set_new(h, "AutoRemove", json_false());
    json_object_set_new(h, "CapAdd", json_null());
    json_object_set_new(h, "CapDrop", json_null());
    json_object_set_new(h, "CgroupnsMode", json_string("private"));
    json_object_set_new(h, "IpcMode", json_string("private"));
    json_object_set_new(h, "Privileged", json_false());
    json_object_set_new(h, "Devices", json_array());
    json_object_set_new(h, "DeviceCgroupRules", json_null());
    json_object_set_new(h, "ReadonlyRootfs", json_false());
    json_object_set_new(h, "SecurityOpt", json_null());
    json_object_set_new(h, "ShmSize", json_integer(67108864));
    json_object_set_new(h, "Runtime", json_string("tug"));
    json_object_set_new(h, "CpuShares", json_integer(0));
    json_object_set_new(h, "Memory", json_integer(0));
    json_object_set_new(h, "NanoCpus", json_integer(0));
    json_object_set_new(h, "MemorySwap", json_integer(0));
    json_object_set_new(h, "PidsLimit", json_null());
    json_object_set_new(h, "Ulimits", json_null());
    json_object_set_new(h, "Init", json_null());
    return h;
}

static void append_to(json_t *obj, const char *key, const char *value)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(obj, key, a);
    }
    json_array_append_new(a, json_string(value));
}

/* --add-host, --dns-search, --dns-option, --link, --expose, --mac-address: recorded as docker
 * records them. 0, or the exit status of a bad value. */
static int name_flag(cli_ctx *ctx, int c, const char *arg, json_t *hc, json_t *cfg)
{
    char name[256], ip[64], why[600];
    switch (c) {
    case O_ADDHOST:
        /* docker's "name=ip" and "name:ip" (ip perhaps in brackets) are kept as name:ip */
        if (!tug_dns_extra_host(arg, "host-gateway", name, sizeof(name), ip, sizeof(ip))) {
            const char *eq = strchr(arg, '=');
            const char *sep = eq ? eq : strchr(arg, ':');
            if (sep == NULL || sep == arg || memchr(arg, ':', (size_t)(sep - arg)))
                snprintf(why, sizeof(why), "bad format for add-host: \"%s\"", arg);
            else
                snprintf(why, sizeof(why), "invalid IP address in add-host: \"%s\"", sep + 1);
            return cli_bad_value(ctx, arg, "--add-host", why);
        }
        snprintf(why, sizeof(why), "%s:%s", name, ip);
        append_to(hc, "ExtraHosts", why);
        return 0;
    case O_DNSSEARCH:
    case O_DNSOPT:
        if (*arg == '\0' || strpbrk(arg, " \t\n") || strlen(arg) > 255) {
            snprintf(why, sizeof(why), "%s is not a valid %s", arg,
                     c == O_DNSSEARCH ? "domain" : "resolv.conf option");
            return cli_bad_value(ctx, arg, c == O_DNSSEARCH ? "--dns-search" : "--dns-option",
                                 why);
        }
        append_to(hc, c == O_DNSSEARCH ? "DnsSearch" : "DnsOptions", arg);
        return 0;
    case O_LINK: {
        const char *colon = strchr(arg, ':');
        if (*arg == '\0')
            return cli_bad_value(ctx, arg, "--link", "empty string specified for links");
        if (colon == arg || (colon && strchr(colon + 1, ':'))) {
            snprintf(why, sizeof(why), "bad format for links: %s (use NAME[:ALIAS])", arg);
            return cli_bad_value(ctx, arg, "--link", why);
        }
        append_to(hc, "Links", arg);
        return 0;
    }
    case O_EXPOSE: {
        /* PORT[/PROTO] or START-END[/PROTO] */
        const char *slash = strchr(arg, '/');
        const char *proto = slash ? slash + 1 : "tcp";
        char *end;
        errno = 0;
        unsigned long lo = strtoul(arg, &end, 10), hi = lo;
        bool ok = end != arg && *arg != '-' && *arg != '+';
        if (ok && *end == '-') {
            const char *h = end + 1;
            hi = strtoul(h, &end, 10);
            ok = end != h && *h != '-' && *h != '+';
        }
        ok = ok && errno == 0 && (*end == '\0' || end == slash) && lo <= hi && hi <= 65535 &&
             (strcmp(proto, "tcp") == 0 || strcmp(proto, "udp") == 0 ||
              strcmp(proto, "sctp") == 0);
        if (!ok) {
            snprintf(why, sizeof(why),
                     "invalid range format for --expose: %s: use PORT[/PROTO] or "
                     "START-END[/PROTO] with a port up to 65535 and tcp, udp or sctp",
                     arg);
            return docker_flag_error(ctx, why);
        }
        json_t *exposed = json_object_get(cfg, "ExposedPorts");
        if (!json_is_object(exposed)) {
            exposed = json_object();
            json_object_set_new(cfg, "ExposedPorts", exposed);
        }
        for (unsigned long p = lo; p <= hi; p++) {
            char key[32];
            snprintf(key, sizeof(key), "%lu/%s", p, proto);
            json_object_set_new(exposed, key, json_object());
        }
        return 0;
    }
    case O_MAC: {
        unsigned b[6];
        char tail;
        if (sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                   &tail) != 6 || strlen(arg) != 17) {
            snprintf(why, sizeof(why), "%s is not a valid mac address", arg);
            return docker_flag_error(ctx, why);
        }
        if (b[0] & 1) {
            snprintf(why, sizeof(why), "%s is a multicast mac address: give a unicast one (the "
                                       "lowest bit of its first byte clear)", arg);
            return docker_flag_error(ctx, why);
        }
        json_object_set_new(cfg, "MacAddress", json_string(arg));
        return 0;
    }
    }
    return 0;
}


int parse_create_flags(cli_ctx *ctx, int argc, char **argv, bool for_run, create_flags *f)
{
    memset(f, 0, sizeof(*f));
    /* flags and the command end up in the container's JSON config, which holds UTF-8 only: a
     * word that is not would be dropped there without a word */
    for (int i = 1; i < argc; i++) {
        json_t *probe = json_string(argv[i]);
        if (probe == NULL) {
            fprintf(stderr, "Error: argument %d is not valid UTF-8: a container's command, "
                            "environment and paths must be UTF-8\n",
                    i);
            return EXIT_ENGINE;
        }
        json_decref(probe);
    }
    f->pull = "missing";
    json_t *cfg = new_config(), *hc = new_host_config();
    f->request = json_object();
    json_object_set_new(f->request, "Config", cfg);
    json_object_set_new(f->request, "HostConfig", hc);
    json_t *env = json_object_get(cfg, "Env");
    const char *short_opts = for_run ? "+dite:w:u:h:m:c:l:a:p:Pv:q" : "+ite:w:u:h:m:c:l:a:p:Pv:q";
    const char *network = NULL, *ip = NULL, *ip6 = NULL;
    /* a flag error returns from anywhere in the loop */
    json_auto_t *aliases = json_array();
    long long memory = 0, swap = 0;
    bool swap_set = false;
    health_flags health = {0};
    int c;
    while ((c = cli_getopt(argc, argv, short_opts, create_opts)) != -1) {
        long long v;
        char *end;
        switch (c) {
        case 'd':
            if (!for_run)
                return cli_flag_unknown(ctx);
            f->detach = cli_opt_on();
            break;
        case 'i':
            f->interactive = cli_opt_on();
            json_object_set_new(cfg, "OpenStdin", json_boolean(f->interactive));
            json_object_set_new(cfg, "AttachStdin", json_boolean(f->interactive));
            json_object_set_new(cfg, "StdinOnce", json_boolean(f->interactive));
            break;
        case 't':
            f->tty = cli_opt_on();
            json_object_set_new(cfg, "Tty", json_boolean(f->tty));
            break;
        case 'a': {
            static const char *const streams[] = {"stdin", "stdout", "stderr"};
            size_t k = 0;
            while (k < TUG_ARRAY_SIZE(streams) && strcasecmp(optarg, streams[k]) != 0)
                k++;
            if (k == TUG_ARRAY_SIZE(streams))
                return cli_bad_value(ctx, optarg, "-a, --attach",
                                 "valid streams are STDIN, STDOUT and STDERR");
            f->attach |= 1u << k;
            break;
        }
        case O_RM:
            json_object_set_new(hc, "AutoRemove", json_boolean(cli_opt_on()));
            break;
        case O_NAME:
            f->name = optarg;
            break;
        case 'e':
            add_env(env, optarg);
            break;
        case O_ENVFILE: {
            char *why = NULL;
            if (read_lines_file(env, optarg, add_env, &why) < 0) {
                fprintf(stderr, "Error: %s\n", why ? why : optarg);
                free(why);
                return EXIT_ENGINE;
            }
            break;
        }
        case 'w':
            json_object_set_new(cfg, "WorkingDir", json_string(optarg));
            break;
        case 'u':
            json_object_set_new(cfg, "User", json_string(optarg));
            break;
        case O_ENTRYPOINT: {
            json_t *ep = json_array();
            json_array_append_new(ep, json_string(optarg));
            json_object_set_new(cfg, "Entrypoint", ep);
            break;
        }
        case 'h':
            json_object_set_new(cfg, "Hostname", json_string(optarg));
            break;
        case O_INIT:
            json_object_set_new(hc, "Init", json_boolean(cli_opt_on()));
            break;
        case O_READONLY:
            json_object_set_new(hc, "ReadonlyRootfs", json_boolean(cli_opt_on()));
            break;
        case O_TMPFS: {
            json_t *t = json_object_get(hc, "Tmpfs");
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(hc, "Tmpfs", t);
            }
            const char *colon = strchr(optarg, ':');
            cleanup_free char *path = colon ? strndup(optarg, (size_t)(colon - optarg))
                                            : strdup(optarg);
            if (path[0] != '/')
                return cli_bad_value(ctx, optarg, "--tmpfs", "the mount point must be absolute");
            cleanup_free char *bad = colon ? bad_tmpfs_option(colon + 1) : NULL;
            if (bad) {
                cleanup_free char *why = NULL;
                if (asprintf(&why,
                             "invalid tmpfs option '%s': use size=64m (k, m, g or %%), mode=1777, "
                             "uid=, gid=, nr_inodes=, ro, noexec, nosuid or nodev",
                             bad) < 0)
                    why = NULL;
                return cli_bad_value(ctx, optarg, "--tmpfs", why ? why : "invalid tmpfs option");
            }
            json_object_set_new(t, path, json_string(colon ? colon + 1 : ""));
            break;
        }
        case 'm':
            if (tug_parse_size(optarg, &memory) < 0) {
                cleanup_free char *why = NULL;
                if (asprintf(&why, "invalid size: '%s'", optarg) < 0)
                    why = NULL;
                return cli_bad_value(ctx, optarg, "-m, --memory", why ? why : "invalid size");
            }
            break;
        case O_MEMSWAP:
            if (strcmp(optarg, "-1") == 0)
                swap = -1;
            else if (tug_parse_size(optarg, &swap) < 0)
                return cli_bad_value(ctx, optarg, "--memory-swap", "invalid size");
            swap_set = true;
            break;
        case O_CPUS:
            if (tug_parse_nano(optarg, &v) < 0) {
                cleanup_free char *why = NULL;
                if (asprintf(&why, "failed to parse %s as a rational number", optarg) < 0)
                    why = NULL;
                return cli_bad_value(ctx, optarg, "--cpus", why ? why : "not a number");
            }
            json_object_set_new(hc, "NanoCpus", json_integer(v));
            break;
        case 'c':
            v = strtoll(optarg, &end, 10);
            if (end == optarg || *end)
                return cli_bad_value(ctx, optarg, "-c, --cpu-shares", "invalid syntax");
            json_object_set_new(hc, "CpuShares", json_integer(v));
            break;
        case O_PIDS:
            v = strtoll(optarg, &end, 10);
            if (end == optarg || *end)
                return cli_bad_value(ctx, optarg, "--pids-limit", "invalid syntax");
            json_object_set_new(hc, "PidsLimit", json_integer(v));
            break;
        case O_CAPADD:
        case O_CAPDROP: {
            tug_error *err = NULL;
            int cap;
            bool all = false;
            if (tug_caps_parse(optarg, &cap, &all, &err) < 0) {
                fprintf(stderr, "Error: %s\n", err->msg);
                tug_error_free(err);
                return EXIT_ENGINE;
            }
            append_to(hc, c == O_CAPADD ? "CapAdd" : "CapDrop", optarg);
            break;
        }
        case O_PRIV:
            json_object_set_new(hc, "Privileged", json_boolean(cli_opt_on()));
            break;
        case O_DEVICE: {
            /* checked here; the host's node is looked up at create (runtime/devices.c) */
            tug_error *err = NULL;
            json_t *m = tug_device_mapping_parse(optarg, &err);
            if (m == NULL)
                return bad_value_error(ctx, optarg, "--device", err);
            json_array_append_new(json_object_get(hc, "Devices"), m);
            break;
        }
        case O_GPUS: {
            tug_error *err = NULL;
            json_t *req = tug_gpu_request_parse(optarg, &err);
            if (req == NULL)
                return bad_value_error(ctx, optarg, "--gpus", err);
            if (!json_is_array(json_object_get(hc, "DeviceRequests")))
                json_object_set_new(hc, "DeviceRequests", json_array());
            json_array_append_new(json_object_get(hc, "DeviceRequests"), req);
            break;
        }
        case O_DEVRULE: {
            tug_error *err = NULL;
            tug_device_rule rule;
            if (tug_device_rule_parse(optarg, &rule, &err) < 0)
                return bad_value_error(ctx, optarg, "--device-cgroup-rule", err);
            append_to(hc, "DeviceCgroupRules", optarg);
            break;
        }
        case O_SECOPT: {
            cleanup_free char *why = NULL;
            int r = check_security_opt(optarg, &why);
            if (r != 0) {
                fprintf(stderr, "Error: %s\n", why ? why : optarg);
                return EXIT_ENGINE;
            }
            /* a profile is read when the container starts, from wherever that is: its path is
             * kept whole */
            cleanup_free char *abs = NULL;
            if ((strncmp(optarg, "seccomp=", 8) == 0 || strncmp(optarg, "seccomp:", 8) == 0) &&
                optarg[8] != '/' && strcmp(optarg + 8, "unconfined") != 0) {
                cleanup_free char *real = realpath(optarg + 8, NULL);
                if (real == NULL || asprintf(&abs, "%.8s%s", optarg, real) < 0)
                    abs = NULL;
            }
            append_to(hc, "SecurityOpt", abs ? abs : optarg);
            break;
        }
        case O_RESTART: {
            json_t *rp = json_object_get(hc, "RestartPolicy");
            cleanup_free char *name = strdup(optarg);
            char *colon = strchr(name, ':');
            int max = 0;
            if (colon) {
                *colon = '\0';
                max = (int)strtol(colon + 1, &end, 10);
                if (end == colon + 1 || *end)
                    return cli_bad_value(ctx, optarg, "--restart",
                                     "maximum retry count must be an integer");
            }
            json_object_set_new(rp, "Name", json_string(name));
            json_object_set_new(rp, "MaximumRetryCount", json_integer(max));
            break;
        }
        case O_STOPSIG:
            json_object_set_new(cfg, "StopSignal", json_string(optarg));
            break;
        case O_STOPTIMEOUT:
            v = strtoll(optarg, &end, 10);
            if (end == optarg || *end)
                return cli_bad_value(ctx, optarg, "--stop-timeout", "invalid syntax");
            json_object_set_new(cfg, "StopTimeout", json_integer(v));
            break;
        case 'l':
            add_label(json_object_get(cfg, "Labels"), optarg);
            break;
        case O_SYSCTL: {
            /* which keys a container may set is the library's to judge, at create */
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg)
                return cli_bad_value(ctx, optarg, "--sysctl", "use key=value");
            json_t *sc = json_object_get(hc, "Sysctls");
            if (!json_is_object(sc)) {
                sc = json_object();
                json_object_set_new(hc, "Sysctls", sc);
            }
            cleanup_free char *k = strndup(optarg, (size_t)(eq - optarg));
            json_object_set_new(sc, k, json_string(eq + 1));
            break;
        }
        case O_ULIMIT: {
            json_t *ul = json_object_get(hc, "Ulimits");
            if (!json_is_array(ul)) {
                ul = json_array();
                json_object_set_new(hc, "Ulimits", ul);
            }
            if (parse_ulimit(optarg, ul) < 0)
                return cli_bad_value(ctx, optarg, "--ulimit", "use name=soft[:hard], e.g. nofile=1024:2048");
            break;
        }
        case O_SHM:
            if (tug_parse_size(optarg, &v) < 0)
                return cli_bad_value(ctx, optarg, "--shm-size", "invalid size");
            json_object_set_new(hc, "ShmSize", json_integer(v));
            break;
        case O_LOGOPT: {
            json_t *lc = json_object_get(json_object_get(hc, "LogConfig"), "Config");
            const char *eq = strchr(optarg, '=');
            if (eq == NULL)
                return cli_bad_value(ctx, optarg, "--log-opt", "use key=value");
            cleanup_free char *k = strndup(optarg, (size_t)(eq - optarg));
            if (strcmp(k, "max-size") == 0) {
                if (tug_parse_size(eq + 1, &v) < 0)
                    return cli_bad_value(ctx, optarg, "--log-opt", "max-size must be a size like 10m");
                char num[32];
                snprintf(num, sizeof(num), "%lld", v);
                json_object_set_new(lc, k, json_string(num));
            } else if (strcmp(k, "max-file") == 0) {
                v = strtoll(eq + 1, &end, 10);
                if (end == eq + 1 || *end)
                    return cli_bad_value(ctx, optarg, "--log-opt", "max-file must be a number");
                json_object_set_new(lc, k, json_string(eq + 1));
            } else if (strcmp(k, "labels") == 0 || strcmp(k, "labels-regex") == 0 ||
                       strcmp(k, "env") == 0 || strcmp(k, "env-regex") == 0) {
                json_object_set_new(lc, k, json_string(eq + 1)); /* logs --details */
            } else {
                fprintf(stderr, "Error: unknown log opt '%s' for json-file log driver\n", k);
                return EXIT_ENGINE;
            }
            break;
        }
        case O_LOGDRIVER:
            /* the library says which drivers there are */
            json_object_set_new(json_object_get(hc, "LogConfig"), "Type", json_string(optarg));
            break;
        case O_NETWORK:
            network = optarg;
            break;
        case O_ALIAS:
            json_array_append_new(aliases, json_string(optarg));
            break;
        case O_IP: {
            unsigned char b[4];
            if (inet_pton(AF_INET, optarg, b) != 1)
                return cli_bad_value(ctx, optarg, "--ip", "not an IPv4 address");
            ip = optarg;
            break;
        }
        case O_IP6: {
            unsigned char b[16];
            if (inet_pton(AF_INET6, optarg, b) != 1)
                return cli_bad_value(ctx, optarg, "--ip6", "not an IPv6 address");
            ip6 = optarg;
            break;
        }
        case O_DNS: {
            unsigned char b[16];
            if (inet_pton(AF_INET, optarg, b) != 1 && inet_pton(AF_INET6, optarg, b) != 1)
                return cli_bad_value(ctx, optarg, "--dns", "not an IP address");
            append_to(hc, "Dns", optarg);
            break;
        }
        case O_ADDHOST:
        case O_DNSSEARCH:
        case O_DNSOPT:
        case O_LINK:
        case O_EXPOSE:
        case O_MAC: {
            int r = name_flag(ctx, c, optarg, hc, cfg);
            if (r != 0)
                return r;
            break;
        }
        case 'P':
            json_object_set_new(hc, "PublishAllPorts", json_boolean(cli_opt_on()));
            break;
        case 'p': {
            tug_port_spec *ps = NULL;
            size_t np = 0;
            tug_error *err = NULL;
            if (tug_port_parse(optarg, &ps, &np, &err) < 0) {
                fprintf(stderr, "Error: %s\n", err->msg);
                tug_error_free(err);
                return EXIT_ENGINE;
            }
            json_t *pb = json_object_get(hc, "PortBindings");
            json_t *exposed = json_object_get(cfg, "ExposedPorts");
            if (!json_is_object(exposed)) {
                exposed = json_object();
                json_object_set_new(cfg, "ExposedPorts", exposed);
            }
            for (size_t k = 0; k < np; k++) {
                char key[32], hp[16] = "";
                tug_port_key(&ps[k], key, sizeof(key));
                if (ps[k].host_port)
                    snprintf(hp, sizeof(hp), "%d", ps[k].host_port);
                json_t *arr = json_object_get(pb, key);
                if (arr == NULL) {
                    arr = json_array();
                    json_object_set_new(pb, key, arr);
                }
                json_t *b = json_object();
                json_object_set_new(b, "HostIp", json_string(ps[k].host_ip));
                json_object_set_new(b, "HostPort", json_string(hp));
                json_array_append_new(arr, b);
                json_object_set_new(exposed, key, json_object());
            }
            free(ps);
            break;
        }
        case 'v':
        case O_MOUNT:
        case O_VOLFROM: {
            /* checked here, resolved at create (runtime/volume.c) */
            tug_error *err = NULL;
            tug_mount_req m = {0};
            cleanup_free char *from = NULL;
            bool ro;
            int r = c == 'v'       ? tug_mount_parse_volume_flag(optarg, &m, &err)
                    : c == O_MOUNT ? tug_mount_parse_mount_flag(optarg, &m, &err)
                                   : tug_mount_parse_volumes_from(optarg, &from, &ro, &err);
            if (r < 0) {
                fprintf(stderr, "Error: %s\n", err->msg);
                tug_error_free(err);
                return EXIT_ENGINE;
            }
            if (c == 'v' && m.source == NULL) {
                /* -v /path: an anonymous volume, as docker records it */
                json_t *vols = json_object_get(cfg, "Volumes");
                if (!json_is_object(vols)) {
                    vols = json_object();
                    json_object_set_new(cfg, "Volumes", vols);
                }
                json_object_set_new(vols, m.target, json_object());
            } else if (c == 'v') {
                append_to(hc, "Binds", optarg);
            } else if (c == O_MOUNT) {
                json_t *ms = json_object_get(hc, "Mounts");
                if (!json_is_array(ms)) {
                    ms = json_array();
                    json_object_set_new(hc, "Mounts", ms);
                }
                json_array_append_new(ms, tug_mount_req_to_json(&m));
            } else {
                append_to(hc, "VolumesFrom", optarg);
            }
            tug_mount_req_clear(&m);
            break;
        }
        case O_PULL:
            if (strcmp(optarg, "missing") != 0 && strcmp(optarg, "always") != 0 &&
                strcmp(optarg, "never") != 0)
                return cli_bad_value(ctx, optarg, "--pull", "use always, missing or never");
            f->pull = optarg;
            break;
        case O_PLATFORM:
            f->platform = optarg;
            break;
        case O_CIDFILE:
            f->cidfile = optarg;
            break;
        case O_SIGPROXY:
            if (!for_run)
                return cli_flag_unknown(ctx);
            f->no_sig_proxy = !cli_opt_on();
            break;
        case O_HEALTH_CMD:
        case O_HEALTH_INTERVAL:
        case O_HEALTH_TIMEOUT:
        case O_HEALTH_RETRIES:
        case O_HEALTH_START_PERIOD:
        case O_HEALTH_START_INTERVAL:
        case O_NO_HEALTHCHECK: {
            int hr = health_flag(ctx, c, optarg, &health);
            if (hr)
                return hr;
            break;
        }
        case O_GROUPADD:
            append_to(hc, "GroupAdd", optarg);
            break;
        case O_IPC:
        case O_PID:
        case O_UTS:
        case O_USERNS:
        case O_CGROUPNS: {
            static const struct {
                int opt;
                const char *key, *flag, *what, *use;
            } modes[] = {
                {O_IPC, "IpcMode", "--ipc", "IPC",
                 "private, shareable, host, none or container:NAME"},
                {O_PID, "PidMode", "--pid", "PID", "host or container:NAME"},
                {O_UTS, "UTSMode", "--uts", "UTS", "host"},
                {O_USERNS, "UsernsMode", "--userns", "USER", "host"},
                {O_CGROUPNS, "CgroupnsMode", "--cgroupns", "CGROUP", "host or private"},
            };
            size_t k = 0;
            while (modes[k].opt != c)
                k++;
            if (!tug_request_mode_valid(modes[k].key, optarg)) {
                fprintf(stderr, "Error: %s: invalid %s mode: \"%s\": use %s\n", modes[k].flag,
                        modes[k].what, optarg, modes[k].use);
                return EXIT_ENGINE;
            }
            json_object_set_new(hc, modes[k].key, json_string(optarg));
            break;
        }
        case 'q':
            f->quiet = cli_opt_on();
            break;
        case O_WEIGHT_DEVICE: {
            /* PATH:WEIGHT, docker's checks and words */
            const char *colon = strchr(optarg, ':');
            cleanup_free char *why = NULL;
            int n = 0;
            errno = 0;
            v = colon ? strtoll(colon + 1, &end, 10) : -1;
            if (colon == NULL || colon == optarg)
                n = asprintf(&why, "bad format: %s", optarg);
            else if (strncmp(optarg, "/dev/", 5) != 0)
                n = asprintf(&why, "bad format for device path: %s", optarg);
            else if (end == colon + 1 || *end || errno || colon[1] == '-' || v > 65535 ||
                     (v > 0 && (v < 10 || v > 1000)))
                n = asprintf(&why, "invalid weight for device: %s", optarg);
            if (why || n < 0)
                return cli_bad_value(ctx, optarg, "--blkio-weight-device",
                                     why ? why : "bad format");
            cleanup_free char *path = strndup(optarg, (size_t)(colon - optarg));
            json_t *list = json_object_get(hc, "BlkioWeightDevice");
            if (!json_is_array(list))
                json_object_set_new(hc, "BlkioWeightDevice", list = json_array());
            json_array_append_new(list, json_pack("{sssI}", "Path", path ? path : "", "Weight",
                                                  (json_int_t)v));
            break;
        }
        case O_ISOLATION:
            /* namespaces and cgroups are Linux's one isolation */
            if (*optarg && strcmp(optarg, "default") != 0) {
                fprintf(stderr, "Error: Invalid isolation: \"%s\" - linux only supports "
                                "'default'\n",
                        optarg);
                return EXIT_ENGINE;
            }
            json_object_set_new(hc, "Isolation", json_string(optarg));
            break;
        case O_RUNTIME:
            /* tug is its own runtime; "runc" is the name docker users write for the default */
            if (strcmp(optarg, "tug") != 0 && strcmp(optarg, "runc") != 0) {
                fprintf(stderr, "Error: unknown or invalid runtime name: %s: tug runs "
                                "containers itself (--runtime tug, or runc)\n",
                        optarg);
                return EXIT_ENGINE;
            }
            json_object_set_new(hc, "Runtime", json_string(optarg));
            break;
        case O_VOLDRIVER:
            if (strcmp(optarg, "local") != 0) {
                fprintf(stderr, "Error: plugin \"%s\" not found: tug has the local volume "
                                "driver alone\n",
                        optarg);
                return EXIT_ENGINE;
            }
            json_object_set_new(hc, "VolumeDriver", json_string(optarg));
            break;
        case O_NOTRUST:
            /* tug verifies no signatures: there is no trust to turn on */
            if (!cli_opt_on()) {
                fprintf(stderr, "Error: --disable-content-trust=false: tug has no content "
                                "trust (image signing) to enforce; leave the flag out\n");
                return EXIT_ENGINE;
            }
            break;
        case O_DEV_READ_BPS:
        case O_DEV_WRITE_BPS:
        case O_DEV_READ_IOPS:
        case O_DEV_WRITE_IOPS: {
            static const struct {
                int opt;
                const char *flag, *key;
                bool iops;
            } th[] = {
                {O_DEV_READ_BPS, "--device-read-bps", "BlkioDeviceReadBps", false},
                {O_DEV_WRITE_BPS, "--device-write-bps", "BlkioDeviceWriteBps", false},
                {O_DEV_READ_IOPS, "--device-read-iops", "BlkioDeviceReadIOps", true},
                {O_DEV_WRITE_IOPS, "--device-write-iops", "BlkioDeviceWriteIOps", true},
            };
            size_t k = 0;
            while (th[k].opt != c)
                k++;
            cleanup_free char *why = NULL;
            json_t *dev = parse_throttle_flag(optarg, th[k].iops, &why);
            if (dev == NULL)
                return cli_bad_value(ctx, optarg, th[k].flag, why ? why : "bad format");
            json_t *list = json_object_get(hc, th[k].key);
            if (!json_is_array(list))
                json_object_set_new(hc, th[k].key, list = json_array());
            json_array_append_new(list, dev);
            break;
        }
        case O_CGROUP_PARENT:
            json_object_set_new(hc, "CgroupParent", json_string(optarg));
            break;
        case O_CPUSET_CPUS:
            json_object_set_new(hc, "CpusetCpus", json_string(optarg));
            break;
        case O_CPUSET_MEMS:
            json_object_set_new(hc, "CpusetMems", json_string(optarg));
            break;
        case O_CPU_PERIOD:
        case O_CPU_QUOTA:
        case O_CPU_RT_PERIOD:
        case O_CPU_RT_RUNTIME:
        case O_SWAPPINESS:
        case O_OOM_SCORE_ADJ:
        case O_BLKIO_WEIGHT: {
            const char *flag = c == O_CPU_PERIOD    ? "--cpu-period"
                               : c == O_CPU_QUOTA   ? "--cpu-quota"
                               : c == O_CPU_RT_PERIOD ? "--cpu-rt-period"
                               : c == O_CPU_RT_RUNTIME ? "--cpu-rt-runtime"
                               : c == O_SWAPPINESS  ? "--memory-swappiness"
                               : c == O_OOM_SCORE_ADJ ? "--oom-score-adj"
                                                      : "--blkio-weight";
            errno = 0;
            v = strtoll(optarg, &end, 10);
            if (end == optarg || *end)
                return cli_bad_value(ctx, optarg, flag, "invalid syntax");
            if (errno == ERANGE || (c == O_BLKIO_WEIGHT && (v < 0 || v > 65535)))
                return cli_bad_value(ctx, optarg, flag, "value out of range");
            json_object_set_new(hc,
                                c == O_CPU_PERIOD    ? "CpuPeriod"
                                : c == O_CPU_QUOTA   ? "CpuQuota"
                                : c == O_CPU_RT_PERIOD ? "CpuRealtimePeriod"
                                : c == O_CPU_RT_RUNTIME ? "CpuRealtimeRuntime"
                                : c == O_SWAPPINESS  ? "MemorySwappiness"
                                : c == O_OOM_SCORE_ADJ ? "OomScoreAdj"
                                                       : "BlkioWeight",
                                json_integer(v));
            break;
        }
        case O_MEM_RESV:
            if (tug_parse_size(optarg, &v) < 0)
                return cli_bad_value(ctx, optarg, "--memory-reservation", "invalid size");
            json_object_set_new(hc, "MemoryReservation", json_integer(v));
            break;
        case O_OOM_KILL_DISABLE:
            json_object_set_new(hc, "OomKillDisable", json_boolean(cli_opt_on()));
            break;
        case O_LABELFILE: {
            char *why = NULL;
            if (read_lines_file(json_object_get(cfg, "Labels"), optarg, add_label, &why) < 0) {
                fprintf(stderr, "Error: %s\n", why ? why : optarg);
                free(why);
                return EXIT_ENGINE;
            }
            break;
        }
        case O_DOMAINNAME:
            json_object_set_new(cfg, "Domainname", json_string(optarg));
            break;
        case O_ANNOTATION: {
            const char *eq = strchr(optarg, '=');
            if (eq == optarg)
                return cli_bad_value(ctx, optarg, "--annotation", "use key=value");
            json_t *an = json_object_get(hc, "Annotations");
            if (!json_is_object(an))
                json_object_set_new(hc, "Annotations", an = json_object());
            cleanup_free char *k = eq ? strndup(optarg, (size_t)(eq - optarg)) : strdup(optarg);
            json_object_set_new(an, k, json_string(eq ? eq + 1 : ""));
            break;
        }
        case O_DETACHKEYS:
            if (!for_run)
                return cli_flag_unknown(ctx);
            if (!detach_keys_valid(optarg)) {
                fprintf(stderr, "Error: Invalid detach keys (%s) provided: use a character or "
                                "ctrl-<value> (a-z, @, [, \\, ], ^, _), comma-separated\n",
                        optarg);
                return EXIT_ENGINE;
            }
            f->detach_keys = optarg;
            break;
        case O_HELP:
        {
            cleanup_free char *help = create_help_text(for_run);
            cli_print_help(for_run ? "tug run [OPTIONS] IMAGE [COMMAND] [ARG...]"
                                   : "tug create [OPTIONS] IMAGE [COMMAND] [ARG...]",
                           for_run ? "Run a command in a new container"
                                   : "Create a new container",
                           help ? help : "");
            return -1;
        }
        default:
            return cli_flag_error(ctx);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "\"%s\" requires at least 1 argument.\nSee '%s %s --help'.\n\nUsage:  "
                        "%s %s [OPTIONS] IMAGE [COMMAND] [ARG...]\n",
                ctx->cmd, ctx->prog, ctx->cmd, ctx->prog, ctx->cmd);
        return EXIT_USER;
    }
    int hr = health_finish(ctx, &health, cfg);
    if (hr)
        return hr;
    const char *uts = json_string_value(json_object_get(hc, "UTSMode"));
    const char *hn = json_string_value(json_object_get(cfg, "Hostname"));
    if (uts && strcmp(uts, "host") == 0 && hn && *hn) {
        fprintf(stderr, "Error: Conflicting options: hostname and the UTS mode\n");
        return EXIT_ENGINE;
    }
    if (json_is_true(json_object_get(hc, "OomKillDisable")) && memory == 0)
        warn(f, "WARNING: Disabling the OOM killer on containers without setting a "
                "'-m/--memory' limit may be dangerous.");
    if (f->cidfile)
        json_object_set_new(hc, "ContainerIDFile", json_string(f->cidfile));
    json_object_set_new(hc, "Memory", json_integer(memory));
    json_object_set_new(hc, "MemorySwap", json_integer(swap_set ? swap : 0));
    const char *mode = network ? network : "default";
    if (strcmp(mode, "bridge") == 0)
        mode = "default";
    json_object_set_new(hc, "NetworkMode", json_string(mode));
    if (strcmp(mode, "none") == 0 || strcmp(mode, "host") == 0) {
        if (json_object_size(json_object_get(hc, "PortBindings")) > 0 ||
            json_is_true(json_object_get(hc, "PublishAllPorts")))
            fprintf(stderr, "WARNING: Published ports are discarded when using %s network mode\n",
                    mode);
        json_object_set_new(hc, "PortBindings", json_object());
    }
    if ((ip || ip6 || json_array_size(aliases)) &&
        (strcmp(mode, "default") == 0 || strcmp(mode, "none") == 0 ||
         strcmp(mode, "host") == 0)) {
        fprintf(stderr, "Error: %s is only supported on user-defined networks\n",
                ip || ip6 ? "user specified IP address" : "network-scoped alias");
        return EXIT_ENGINE;
    }
    json_t *ncfg = json_object(), *eps = json_object(), *ep = json_object();
    json_object_set(ep, "Aliases", aliases);
    if (json_object_get(cfg, "MacAddress"))
        json_object_set(ep, "MacAddress", json_object_get(cfg, "MacAddress"));
    if (ip || ip6) {
        json_t *ipam = json_object();
        if (ip)
            json_object_set_new(ipam, "IPv4Address", json_string(ip));
        if (ip6)
            json_object_set_new(ipam, "IPv6Address", json_string(ip6));
        json_object_set_new(ep, "IPAMConfig", ipam);
    }
    json_object_set_new(eps, strcmp(mode, "default") == 0 ? "bridge" : mode, ep);
    json_object_set_new(ncfg, "EndpointsConfig", eps);
    json_object_set_new(f->request, "NetworkingConfig", ncfg);
    f->image = argv[optind++];
    if (optind < argc) {
        json_t *cmd = json_array();
        for (; optind < argc; optind++)
            json_array_append_new(cmd, json_string(argv[optind]));
        json_object_set_new(cfg, "Cmd", cmd);
    }
    if (f->detach && f->attach) {
        fprintf(stderr, "Error: Conflicting options: -a and -d\n");
        return EXIT_ENGINE;
    }
    if (f->attach) {
        /* -a names the streams run relays; -i attaches stdin whatever -a says (docker) */
        if (f->attach & 1u)
            json_object_set_new(cfg, "AttachStdin", json_true());
        json_object_set_new(cfg, "AttachStdout", json_boolean(f->attach & 2u));
        json_object_set_new(cfg, "AttachStderr", json_boolean(f->attach & 4u));
    }
    if (f->detach) {
        json_object_set_new(cfg, "AttachStdout", json_false());
        json_object_set_new(cfg, "AttachStderr", json_false());
    }
    /* whether the values make sense is the library's to say (create says it again), before
     * any image is pulled */
    json_t *warnings = json_array();
    tug_error *err = NULL;
    int r = tug_request_validate(f->request, false, NULL, warnings, &err);
    size_t wi;
    json_t *w;
    json_array_foreach(warnings, wi, w) warn(f, "WARNING: %s", json_string_value(w));
    json_decref(warnings);
    if (r < 0) {
        fprintf(stderr, "Error: %s\n", err->msg);
        tug_error_free(err);
        return EXIT_ENGINE;
    }
    return 0;
}

void create_flags_clear(create_flags *f)
{
    json_decref(f->request);
    for (size_t i = 0; i < f->n_warnings; i++)
        free(f->warnings[i]);
    free(f->warnings);
    memset(f, 0, sizeof(*f));
}
