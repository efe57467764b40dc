/* logs: read the json-file log the monitor writes; -f follows it while the container runs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "container/logs.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/strutil.h"

typedef struct log_opts {
    bool timestamps;
    char *details; /* --details: the attributes ("" when none), else NULL */
    long long since_ns, until_ns; /* 0 = none */
    bool tty;                     /* everything went to stdout */
} log_opts;

int cli_parse_time(const char *flag, const char *value, long long *ret_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    int64_t ns = 0;
    cleanup_free char *why = NULL;
    if (tug_logs_parse_time(value, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec,
                            tm.tm_gmtoff, &ns, &why) < 0) {
        fprintf(stderr, "invalid value for \"%s\": %s\n", flag, why ? why : value);
        return EXIT_USER;
    }
    *ret_ns = ns;
    return 0;
}

static void emit(const char *line, const log_opts *o)
{
    json_t *rec = json_loads(line, 0, NULL);
    if (rec == NULL)
        return;
    const char *time_s = json_string_value(json_object_get(rec, "time"));
    long long sec = 0;
    long nsec = 0;
    if (time_s)
        tug_parse_rfc3339(time_s, &sec, &nsec);
    long long t = sec * 1000000000LL + nsec;
    if ((o->since_ns && t < o->since_ns) || (o->until_ns && t > o->until_ns)) {
        json_decref(rec);
        return;
    }
    const char *stream = json_string_value(json_object_get(rec, "stream"));
    FILE *out = stream && strcmp(stream, "stderr") == 0 && !o->tty ? stderr : stdout;
    /* stdout is buffered, stderr is not: what went to the other stream is let out first, so
     * that both on one terminal or pipe keep the order the container wrote in (docker's too) */
    static FILE *last;
    if (last && last != out)
        fflush(last);
    last = out;
    if (o->timestamps && time_s)
        fprintf(out, "%s ", time_s);
    /* --details: the attributes (docker's labels/env log-opts) then a space */
    if (o->details)
        fprintf(out, "%s ", o->details);
    json_t *log = json_object_get(rec, "log");
    fwrite(json_string_value(log), 1, json_string_length(log), out);
    json_decref(rec);
}

/* Lines of the log files, oldest first (rotated files are log.N ... log.1, then log). */
static int read_all(const char *path, char ***ret_lines, size_t *ret_n)
{
    char **lines = NULL;
    size_t n = 0;
    for (int i = 10; i >= 0; i--) {
        char p[4096];
        if (i)
            snprintf(p, sizeof(p), "%s.%d", path, i);
        else
            snprintf(p, sizeof(p), "%s", path);
        FILE *f = fopen(p, "re");
        if (f == NULL)
            continue;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
            char **nl = realloc(lines, (n + 1) * sizeof(*nl));
            if (nl == NULL)
                break;
            lines = nl;
            lines[n++] = strdup(line);
        }
        free(line);
        fclose(f);
    }
    *ret_lines = lines;
    *ret_n = n;
    return 0;
}

int cmd_logs(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},       {"timestamps", no_argument, NULL, 't'},
        {"tail", required_argument, NULL, 'n'},   {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},  {"details", no_argument, NULL, 'D'},
        HELP_OPT,                                 {NULL, 0, NULL, 0},
    };
    log_opts o = {0};
    bool follow = false, details = false;
    long tail = -1;
    int c;
    while ((c = cli_getopt(argc, argv, "ftn:", opts)) != -1) {
        switch (c) {
        case 'f':
            follow = cli_opt_on();
            break;
        case 't':
            o.timestamps = cli_opt_on();
            break;
        case 'n':
            tail = tug_logs_parse_tail(optarg); /* as docker: what is no number shows all */
            break;
        case 'S':
        case 'U':
            if (cli_parse_time(c == 'S' ? "since" : "until", optarg,
                           c == 'S' ? &o.since_ns : &o.until_ns) != 0)
                return EXIT_USER;
            break;
        case 'D':
            details = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug logs [OPTIONS] CONTAINER", "Fetch the logs of a container",
                           "      --details        Show extra details provided to logs\n"
                           "  -f, --follow         Follow log output\n"
                           "      --since string   Show logs since timestamp or relative (e.g. "
                           "42m)\n"
                           "  -n, --tail string    Number of lines to show from the end of the "
                           "logs (default \"all\")\n"
                           "  -t, --timestamps     Show timestamps\n"
                           "      --until string   Show logs before a timestamp or relative\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "\"logs\" requires exactly 1 argument.\nSee 'tug logs --help'.\n");
        return EXIT_USER;
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_error *err = NULL;
    cleanup_container tug_container *ct = NULL;
    if (tug_container_find(s, argv[optind], &ct, &err) < 0)
        return cli_fail(err);
    const char *driver = json_string_value(json_object_get(
        json_object_get(json_object_get(ct->config, "HostConfig"), "LogConfig"), "Type"));
    if (driver && strcmp(driver, "none") == 0) {
        fprintf(stderr, "Error: configured logging driver does not support reading: container "
                        "%s logs with --log-driver none\n",
                ct->name);
        return EXIT_ENGINE;
    }
    o.tty = json_is_true(json_object_get(json_object_get(ct->config, "Config"), "Tty"));
    cleanup_free char *attrs = details ? tug_logs_details(ct->config) : NULL;
    o.details = attrs;
    cleanup_free char *dir = tug_container_dir(s, ct->id);
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/%s-json.log", dir, ct->id) < 0)
        return EXIT_ENGINE;
    char **lines = NULL;
    size_t n = 0;
    read_all(path, &lines, &n);
    size_t first = tail >= 0 && (size_t)tail < n ? n - (size_t)tail : 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= first)
            emit(lines[i], &o);
        free(lines[i]);
    }
    free(lines);
    fflush(stdout);
    fflush(stderr);
    if (!follow)
        return 0;
    /* Follow: read what is appended until the container has stopped and the file is drained. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    lseek(fd, 0, SEEK_END);
    char buf[65536];
    size_t have = 0;
    static char pending[1 << 20];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++) {
                if (have < sizeof(pending) - 1)
                    pending[have++] = buf[i];
                if (buf[i] == '\n') {
                    pending[have] = '\0';
                    emit(pending, &o);
                    have = 0;
                }
            }
            fflush(stdout);
            fflush(stderr);
            continue;
        }
        if (tug_container_refresh(s, ct, &err) < 0)
            break;
        bool running = strcmp(ct->state, TUG_STATE_RUNNING) == 0 ||
                       strcmp(ct->state, TUG_STATE_PAUSED) == 0 ||
                       strcmp(ct->state, TUG_STATE_RESTARTING) == 0;
        if (!running) {
            /* one last read after the monitor finished writing */
            r = read(fd, buf, sizeof(buf));
            if (r <= 0)
                break;
            lseek(fd, -r, SEEK_CUR);
            continue;
        }
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size < lseek(fd, 0, SEEK_CUR)) {
            /* rotated: start over on the new file */
            close(fd);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                break;
        }
        poll(NULL, 0, 50);
        tug_container *fresh = NULL;
        tug_error *e2 = NULL;
        if (tug_container_find(s, ct->id, &fresh, &e2) == 0) {
            tug_container_free(ct);
            ct = fresh;
        } else {
            tug_error_free(e2);
            break;
        }
    }
    tug_error_free(err);
    close(fd);
    return 0;
}
