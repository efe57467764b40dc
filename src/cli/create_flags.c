#include "create_flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <arpa/inet.h>

#include "image/image.h"
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
    O_CIDFILE, O_SIGPROXY, O_ALIAS, O_IP, O_DNS, O_ADDHOST, O_PUBALL,
    O_MOUNT, O_VOLFROM, O_DEVICE, O_DEVRULE, O_SYSCTL,
};

/* the health check flags (health_flag) */
enum {
    O_HEALTH_CMD = 1900, O_HEALTH_INTERVAL, O_HEALTH_TIMEOUT, O_HEALTH_RETRIES,
    O_HEALTH_START_PERIOD, O_HEALTH_START_INTERVAL, O_NO_HEALTHCHECK,
};

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
    {"dns", required_argument, NULL, O_DNS},
    {"add-host", required_argument, NULL, O_ADDHOST},
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
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static const char create_help[] =
    "  -a, --attach list              Attach to STDIN, STDOUT or STDERR\n"
    "      --cap-add list             Add Linux capabilities\n"
    "      --cap-drop list            Drop Linux capabilities\n"
    "      --cidfile string           Write the container ID to the file\n"
    "  -c, --cpu-shares int           CPU shares (relative weight)\n"
    "      --cpus decimal             Number of CPUs\n"
    "  -d, --detach                   Run container in background and print container ID\n"
    "      --device list              Add a host device to the container\n"
    "      --device-cgroup-rule list  Add a rule to the cgroup allowed devices list\n"
    "      --entrypoint string        Overwrite the default ENTRYPOINT of the image\n"
    "  -e, --env list                 Set environment variables\n"
    "      --env-file list            Read in a file of environment variables\n"
    "      --health-cmd string        Command to run to check health\n"
    "      --health-interval duration Time between running the check (ms|s|m|h) (default 0s)\n"
    "      --health-retries int       Consecutive failures needed to report unhealthy\n"
    "      --health-start-interval duration\n"
    "                                 Time between running the check during the start period\n"
    "      --health-start-period duration\n"
    "                                 Start period for the container to initialize before "
    "starting health-retries countdown (ms|s|m|h) (default 0s)\n"
    "      --health-timeout duration  Maximum time to allow one check to run (ms|s|m|h) "
    "(default 0s)\n"
    "  -h, --hostname string          Container host name\n"
    "      --init                     Run an init inside the container that forwards signals "
    "and reaps processes\n"
    "  -i, --interactive              Keep STDIN open even if not attached\n"
    "  -l, --label list               Set meta data on a container\n"
    "      --log-opt list             Log driver options (max-size, max-file)\n"
    "  -m, --memory bytes             Memory limit\n"
    "      --memory-swap bytes        Swap limit equal to memory plus swap: '-1' to enable "
    "unlimited swap\n"
    "      --mount mount              Attach a filesystem mount to the container\n"
    "      --name string              Assign a name to the container\n"
    "      --network network          Connect a container to a network\n"
    "      --no-healthcheck           Disable any container-specified HEALTHCHECK\n"
    "      --pids-limit int           Tune container pids limit (set -1 for unlimited)\n"
    "      --privileged               Give extended privileges to this container\n"
    "      --pull string              Pull image before running (\"always\"|\"missing\"|"
    "\"never\")\n"
    "      --read-only                Mount the container's root filesystem as read only\n"
    "      --restart string           Restart policy to apply when a container exits "
    "(default \"no\")\n"
    "      --rm                       Automatically remove the container when it exits\n"
    "      --security-opt list        Security Options\n"
    "      --shm-size bytes           Size of /dev/shm\n"
    "      --stop-signal string       Signal to stop a container (default \"SIGTERM\")\n"
    "      --stop-timeout int         Timeout (in seconds) to stop a container\n"
    "      --sysctl map               Sysctl options\n"
    "      --tmpfs list               Mount a tmpfs directory\n"
    "  -t, --tty                      Allocate a pseudo-TTY\n"
    "      --ulimit ulimit            Ulimit options\n"
    "  -u, --user string              Username or UID (format: <name|uid>[:<group|gid>])\n"
    "  -v, --volume list              Bind mount a volume\n"
    "      --volumes-from list        Mount volumes from the specified container(s)\n"
    "  -w, --workdir string           Working directory inside the container\n";


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
static int health_error(cli_ctx *ctx, const char *msg)
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
            return health_error(ctx, "--no-healthcheck conflicts with --health-* options");
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
            return health_error(ctx, negative[k]);
    if (h->retries < 0)
        return health_error(ctx, "--health-retries cannot be negative");
    for (int k = 2; k < 4; k++)
        if (h->ns[k] < 0)
            return health_error(ctx, negative[k]);
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

static int read_env_file(json_t *env, const char *path, char **ret_err)
{
    FILE *f = fopen(path, "re");
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
        add_env(env, p);
    }
    fclose(f);
    return 0;
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
    const char *short_opts = for_run ? "+dite:w:u:h:m:c:l:a:p:Pv:" : "+ite:w:u:h:m:c:l:a:p:Pv:";
    const char *network = NULL, *ip = NULL;
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
            if (read_env_file(env, optarg, &why) < 0) {
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
        case O_DEVRULE: {
            tug_error *err = NULL;
            tug_device_rule rule;
            if (tug_device_rule_parse(optarg, &rule, &err) < 0)
                return bad_value_error(ctx, optarg, "--device-cgroup-rule", err);
            append_to(hc, "DeviceCgroupRules", optarg);
            break;
        }
        case O_SECOPT:
            if (strcmp(optarg, "no-new-privileges") != 0 &&
                strncmp(optarg, "no-new-privileges", 17) != 0 &&
                strncmp(optarg, "seccomp=", 8) != 0 && strncmp(optarg, "seccomp:", 8) != 0 &&
                strncmp(optarg, "label", 5) != 0 && strncmp(optarg, "apparmor", 8) != 0)
                return cli_bad_value(ctx, optarg, "--security-opt",
                                 "use no-new-privileges, seccomp=unconfined or seccomp=FILE");
            if ((strncmp(optarg, "seccomp=", 8) == 0 || strncmp(optarg, "seccomp:", 8) == 0) &&
                strcmp(optarg + 8, "unconfined") != 0) {
                /* docker reads the profile on the client: check it exists now */
                FILE *pf = fopen(optarg + 8, "re");
                if (pf == NULL) {
                    fprintf(stderr, "Error: opening seccomp profile (%s) failed: %s\n",
                            optarg + 8, strerror(errno));
                    return EXIT_ENGINE;
                }
                fclose(pf);
            }
            append_to(hc, "SecurityOpt", optarg);
            break;
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
        case 'l': {
            json_t *labels = json_object_get(cfg, "Labels");
            const char *eq = strchr(optarg, '=');
            cleanup_free char *k = eq ? strndup(optarg, (size_t)(eq - optarg)) : strdup(optarg);
            json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
            break;
        }
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
            if (strcmp(optarg, "json-file") != 0) {
                fprintf(stderr, "Error: log driver \"%s\" is not supported: tug writes "
                                "json-file logs\n",
                        optarg);
                return EXIT_ENGINE;
            }
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
        case O_DNS: {
            unsigned char b[16];
            if (inet_pton(AF_INET, optarg, b) != 1 && inet_pton(AF_INET6, optarg, b) != 1)
                return cli_bad_value(ctx, optarg, "--dns", "not an IP address");
            append_to(hc, "Dns", optarg);
            break;
        }
        case O_ADDHOST: {
            const char *colon = strchr(optarg, ':');
            unsigned char b[16];
            if (colon == NULL || colon == optarg ||
                (inet_pton(AF_INET, colon + 1, b) != 1 && inet_pton(AF_INET6, colon + 1, b) != 1))
                return cli_bad_value(ctx, optarg, "--add-host", "use host:ip");
            append_to(hc, "ExtraHosts", optarg);
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
        case O_HELP:
            cli_print_help(for_run ? "tug run [OPTIONS] IMAGE [COMMAND] [ARG...]"
                                   : "tug create [OPTIONS] IMAGE [COMMAND] [ARG...]",
                           for_run ? "Run a command in a new container"
                                   : "Create a new container",
                           create_help);
            return -1;
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
    if ((ip || json_array_size(aliases)) &&
        (strcmp(mode, "default") == 0 || strcmp(mode, "none") == 0 ||
         strcmp(mode, "host") == 0)) {
        fprintf(stderr, "Error: %s is only supported on user-defined networks\n",
                ip ? "user specified IP address" : "network-scoped alias");
        return EXIT_ENGINE;
    }
    json_t *ncfg = json_object(), *eps = json_object(), *ep = json_object();
    json_object_set(ep, "Aliases", aliases);
    if (ip) {
        json_t *ipam = json_object();
        json_object_set_new(ipam, "IPv4Address", json_string(ip));
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
