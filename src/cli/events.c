/* tug events / tug system events: the store's event log, past and followed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "store/events.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/template.h"

typedef struct print_ctx {
    tug_template *tmpl; /* NULL: docker's line */
    bool raw;           /* --format json / {{json .}}: the record as stored */
    int rc;
} print_ctx;

/* Go's RFC3339NanoFixed in local time: 2026-12-07T12:00:00.123456789Z (or +01:00). */
static void print_time(long long ns)
{
    time_t sec = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char date[32], zone[40] = "Z";
    localtime_r(&sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    if (tm.tm_gmtoff != 0) {
        long off = tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff;
        snprintf(zone, sizeof(zone), "%c%02ld:%02ld", tm.tm_gmtoff < 0 ? '-' : '+', off / 3600,
                 off / 60 % 60);
    }
    printf("%s.%09lld%s ", date, ns % 1000000000LL, zone);
}

static void print_line(json_t *ev)
{
    json_t *actor = json_object_get(ev, "Actor");
    long long ns = json_integer_value(json_object_get(ev, "timeNano"));
    if (ns)
        print_time(ns);
    printf("%s %s %s", json_string_value(json_object_get(ev, "Type")),
           json_string_value(json_object_get(ev, "Action")),
           json_string_value(json_object_get(actor, "ID")));
    json_t *attrs = json_object_get(actor, "Attributes");
    const char *k;
    json_t *v;
    const char *sep = " (";
    /* stored with their keys in order */
    json_object_foreach(attrs, k, v)
    {
        printf("%s%s=%s", sep, k, json_string_value(v) ? json_string_value(v) : "");
        sep = ", ";
    }
    printf("%s\n", json_object_size(attrs) ? ")" : "");
}

/* The fields docker's templates see besides the JSON ones: .Status .ID .From .Scope .Time
 * .TimeNano. */
static json_t *template_view(json_t *ev)
{
    static const char *const alias[][2] = {{"status", "Status"}, {"id", "ID"},
                                           {"from", "From"},     {"scope", "Scope"},
                                           {"time", "Time"},     {"timeNano", "TimeNano"}};
    json_t *view = json_copy(ev);
    for (size_t i = 0; view && i < sizeof(alias) / sizeof(alias[0]); i++) {
        json_t *v = json_object_get(ev, alias[i][0]);
        json_object_set_new(view, alias[i][1], v ? json_incref(v) : json_string(""));
    }
    return view;
}

static int print_event(json_t *ev, void *data)
{
    print_ctx *p = data;
    if (ev == NULL)
        return 0;
    if (p->raw) {
        cleanup_free char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            printf("%s\n", text);
    } else if (p->tmpl) {
        json_t *view = template_view(ev);
        cleanup_free char *out = NULL;
        tug_error *err = NULL;
        int r = tug_template_render(p->tmpl, view, &out, &err);
        json_decref(view);
        if (r < 0) {
            p->rc = cli_fail(err);
            return 1;
        }
        printf("%s\n", out);
    } else {
        print_line(ev);
    }
    /* a reader at the other end of a pipe sees each event as it happens */
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_events(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 'S'},  {"until", required_argument, NULL, 'U'},
        {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'H'},         {NULL, 0, NULL, 0},
    };
    cleanup_event_filter tug_event_filter *f = NULL;
    cleanup_template tug_template *tmpl = NULL;
    const char *format = NULL;
    long long now = tug_now_ns(), since = 0, until = 0;
    tug_error *err = NULL;
    int c, rc;
    optind = 0;
    while ((c = cli_getopt(argc, argv, "f:", opts)) != -1) {
        switch (c) {
        case 'S':
        case 'U':
            if ((rc = cli_parse_time(c == 'S' ? "since" : "until", optarg,
                                     c == 'S' ? &since : &until)) != 0)
                return rc;
            break;
        case 'f':
            if (tug_event_filter_add(&f, optarg, &err) < 0)
                return cli_fail(err);
            break;
        case 'F':
            format = optarg;
            break;
        case 'H':
            cli_print_help("tug events [OPTIONS]", "Get real time events from the server",
                           "  -f, --filter filter   Filter output based on conditions provided\n"
                           "      --format string   Format output using a custom template:\n"
                           "                        'json':             Print in JSON format\n"
                           "                        'TEMPLATE':         Print output using the "
                           "given Go template.\n"
                           "      --since string    Show all events created since timestamp\n"
                           "      --until string    Stream events until this timestamp\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    print_ctx p = {0};
    if (format && (strcmp(format, "json") == 0 || strcmp(format, "{{json .}}") == 0))
        p.raw = true;
    else if (format && *format && tug_template_parse(format, &tmpl, &err) < 0) {
        /* docker's events words it so */
        fprintf(stderr, "Error parsing format: %s\n", err && err->msg ? err->msg : "bad template");
        tug_error_free(err);
        return EXIT_TEMPLATE_PARSE;
    }
    p.tmpl = tmpl;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    /* docker streams unless --until is already past */
    bool follow = until == 0 || until > now;
    if (tug_events_read(s, since, until, follow, f, print_event, &p, &err) < 0)
        return cli_fail(err);
    return p.rc;
}
