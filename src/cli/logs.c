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
    bool following;               /* -f: each line is flushed */
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

static int emit(void *data, const tug_log_entry *e)
{
    const log_opts *o = data;
    FILE *out = e->is_stderr && !o->tty ? stderr : stdout;
    /* stdout is buffered, stderr is not: what went to the other stream is let out first, so
     * that both on one terminal or pipe keep the order the container wrote in (docker's too) */
    static FILE *last;
    if (last && last != out)
        fflush(last);
    last = out;
    if (o->timestamps && e->time)
        fprintf(out, "%s ", e->time);
    /* --details: the attributes (docker's labels/env log-opts) then a space */
    if (o->details)
        fprintf(out, "%s ", o->details);
    fwrite(e->text, 1, e->len, out);
    /* what follows shows as it comes */
    if (o->following)
        fflush(out);
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
    o.tty = json_is_true(json_object_get(json_object_get(ct->config, "Config"), "Tty"));
    cleanup_free char *attrs = details ? tug_logs_details(ct->config) : NULL;
    o.details = attrs;
    o.following = follow;
    tug_logs_opts lo = {.tail = tail, .since_ns = o.since_ns, .until_ns = o.until_ns,
                        .follow = follow, .emit = emit, .data = &o};
    int r = tug_logs_read(s, ct, &lo, &err);
    fflush(stdout);
    fflush(stderr);
    if (r < 0) {
        /* docker's status for a log it cannot read */
        fprintf(stderr, "Error: %s\n", err->msg);
        tug_error_free(err);
        return EXIT_ENGINE;
    }
    return 0;
}
