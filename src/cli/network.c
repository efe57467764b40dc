/* network create/ls/rm/inspect/prune/connect/disconnect, and port. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "container/connect.h"
#include "commands.h"
#include "net/netsetup.h"
#include "net/network.h"
#include "prune.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strutil.h"
#include "util/template.h"

/* --subnet and --gateway, each given once per address family, sorted into o as docker's
 * client checks them: 0, or the exit status after the message. */
static int net_create_addrs(const char *const *subnets, size_t ns, const char *const *gateways,
                            size_t ng, tug_network_opts *o)
{
    for (size_t i = 0; i < ns; i++) {
        const char **slot = strchr(subnets[i], ':') ? &o->subnet6 : &o->subnet;
        if (*slot) {
            fprintf(stderr, "Error: bridge driver doesn't support multiple subnets: give one "
                            "IPv4 and one IPv6 --subnet at most\n");
            return EXIT_USER;
        }
        *slot = subnets[i];
    }
    if (ng > ns) {
        fprintf(stderr, "Error: every ip-range or gateway must have a corresponding subnet: "
                        "give the gateway's --subnet too\n");
        return EXIT_USER;
    }
    for (size_t i = 0; i < ng; i++) {
        bool v6 = strchr(gateways[i], ':') != NULL;
        const char **slot = v6 ? &o->gateway6 : &o->gateway;
        if ((v6 ? o->subnet6 : o->subnet) == NULL || *slot) {
            fprintf(stderr, "Error: no matching subnet for gateway %s: give one gateway per "
                            "--subnet, in it\n",
                    gateways[i]);
            return EXIT_USER;
        }
        *slot = gateways[i];
    }
    return 0;
}

static int net_create(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"subnet", required_argument, NULL, 's'},  {"gateway", required_argument, NULL, 'g'},
        {"internal", no_argument, NULL, 'i'},      {"driver", required_argument, NULL, 'd'},
        {"label", required_argument, NULL, 'l'},   {"ipv6", no_argument, NULL, '6'},
        HELP_OPT,                                  {NULL, 0, NULL, 0},
    };
    const char *subnets[8], *gateways[8];
    size_t ns = 0, ng = 0;
    tug_network_opts o = {0};
    json_t *labels = json_object();
    int c;
    while ((c = cli_getopt(argc, argv, "d:", opts)) != -1) {
        switch (c) {
        case 's':
        case 'g':
            if ((c == 's' ? ns : ng) == TUG_ARRAY_SIZE(subnets)) {
                json_decref(labels);
                fprintf(stderr, "Error: bridge driver doesn't support multiple subnets\n");
                return EXIT_USER;
            }
            if (c == 's')
                subnets[ns++] = optarg;
            else
                gateways[ng++] = optarg;
            break;
        case 'i':
            o.internal = cli_opt_on();
            break;
        case '6':
            o.ipv6 = cli_opt_on();
            break;
        case 'd':
            if (strcmp(optarg, "bridge") != 0) {
                json_decref(labels);
                fprintf(stderr, "Error: plugin \"%s\" not found: tug networks use the bridge "
                                "driver\n",
                        optarg);
                return EXIT_USER;
            }
            break;
        case 'l': {
            const char *eq = strchr(optarg, '=');
            cleanup_free char *k = eq ? strndup(optarg, (size_t)(eq - optarg)) : strdup(optarg);
            json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
            break;
        }
        case 'H':
            json_decref(labels);
            cli_print_help("tug network create [OPTIONS] NETWORK", "Create a network",
                           "      --gateway strings   IPv4 or IPv6 Gateway for the master subnet\n"
                           "      --internal          Restrict external access to the network\n"
                           "      --ipv6              Enable IPv6 networking\n"
                           "      --label list        Set metadata on a network\n"
                           "      --subnet strings    Subnet in CIDR format\n");
            return 0;
        default:
            json_decref(labels);
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1) {
        json_decref(labels);
        fprintf(stderr, "\"network create\" requires exactly 1 argument.\n");
        return EXIT_USER;
    }
    const char *name = argv[optind];
    if (strcmp(name, "bridge") == 0 || strcmp(name, "host") == 0 || strcmp(name, "none") == 0 ||
        strcmp(name, "default") == 0) {
        json_decref(labels);
        fprintf(stderr, "Error: %s is a pre-defined network and cannot be created\n", name);
        return EXIT_USER;
    }
    int rc = net_create_addrs(subnets, ns, gateways, ng, &o);
    tug_store *s;
    if (rc || (rc = cli_store(ctx, &s)) != 0) {
        json_decref(labels);
        return rc;
    }
    tug_error *err = NULL;
    cleanup_network tug_network *n = NULL;
    o.labels = labels;
    rc = tug_network_create_opts(s, name, &o, &n, &err);
    json_decref(labels);
    if (rc < 0)
        return cli_fail(err);
    printf("%s\n", n->id);
    return 0;
}

/* host and none have no row: an ID of their own for each store, the same every time. */
static void fixed_network_id(tug_store *s, const char *name, char id[65])
{
    cleanup_free char *key = NULL;
    char digest[TUG_DIGEST_LEN + 1];
    if (asprintf(&key, "%s/networks/%s", s->root, name) < 0) {
        snprintf(id, 65, "%064d", 0);
        return;
    }
    tug_sha256_buf(key, strlen(key), digest);
    snprintf(id, 65, "%s", digest + 7);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's .Labels: "k=v" pairs by key, comma separated. */
static char *labels_text(json_t *labels)
{
    size_t n = json_object_size(labels), i = 0;
    cleanup_free const char **keys = calloc(n + 1, sizeof(*keys));
    if (keys == NULL)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), key_cmp);
    tug_strbuf b = {0};
    for (i = 0; i < n; i++) {
        if (i)
            tug_strbuf_addc(&b, ',');
        tug_strbuf_adds(&b, keys[i]);
        tug_strbuf_addc(&b, '=');
        tug_strbuf_adds(&b, json_string_value(json_object_get(labels, keys[i])) ?: "");
    }
    char *out = tug_strbuf_steal(&b);
    return out ? out : strdup("");
}

/* docker's .CreatedAt: Go's time.Time text in UTC, "2006-01-02 15:04:05 +0000 UTC". */
static void created_text(long long created, char *buf, size_t size)
{
    time_t t = (time_t)created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
}

static int net_ls(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'}, {"format", required_argument, NULL, 'F'},
        {"filter", required_argument, NULL, 'f'}, {"no-trunc", no_argument, NULL, 'n'},
        HELP_OPT, {NULL, 0, NULL, 0},
    };
    bool quiet = false, no_trunc = false;
    const char *format = NULL, *filters[32];
    size_t nf = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "qf:", opts)) != -1) {
        switch (c) {
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'F':
            format = optarg;
            break;
        case 'f':
            if (!tug_network_filter_valid(optarg)) {
                fprintf(stderr, "Error: invalid filter '%s': use name=, id=, driver=, label=, "
                                "type=builtin|custom or scope=\n",
                        optarg);
                return EXIT_USER;
            }
            if (nf < TUG_ARRAY_SIZE(filters))
                filters[nf++] = optarg;
            break;
        case 'n':
            no_trunc = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug network ls [OPTIONS]", "List networks",
                           "  -f, --filter filter   Provide filter values (e.g. 'name=net')\n"
                           "      --format string   Pretty-print networks using a Go template\n"
                           "      --no-trunc        Do not truncate the output\n"
                           "  -q, --quiet           Only display network IDs\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    tug_network **v = NULL;
    size_t n = 0;
    if (tug_network_list(s, &v, &n, &err) < 0)
        return cli_fail(err);
    json_t *rows = json_array();
    static const char *const fixed[][2] = {{"host", "host"}, {"none", "null"}};
    /* host and none have no record: they count as made with the default network */
    long long def_created = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->name, TUG_DEFAULT_NETWORK) == 0)
            def_created = v[i]->created;
    for (size_t i = 0; i < n + 2; i++) {
        const char *name = i < n ? v[i]->name : fixed[i - n][0];
        const char *driver = i < n ? v[i]->driver : fixed[i - n][1];
        char id[65];
        if (i < n)
            snprintf(id, sizeof(id), "%s", v[i]->id);
        else
            fixed_network_id(s, name, id);
        if (!tug_network_filter_match(filters, nf, id, name, driver, i < n ? v[i]->labels : NULL,
                              i >= n || strcmp(name, TUG_DEFAULT_NETWORK) == 0))
            continue;
        json_t *r = json_object();
        char shortid[13];
        snprintf(shortid, sizeof(shortid), "%.12s", id);
        json_object_set_new(r, "ID", json_string(no_trunc ? id : shortid));
        json_object_set_new(r, "Name", json_string(name));
        json_object_set_new(r, "Driver", json_string(driver));
        json_object_set_new(r, "Scope", json_string("local"));
        json_object_set_new(r, "Internal", json_string(i < n && v[i]->internal ? "true" : "false"));
        /* docker 28's daemons say whether a network has IPv4 (20.10's leave it false) */
        json_object_set_new(r, "IPv4", json_string(i < n && v[i]->subnet && *v[i]->subnet
                                                       ? "true"
                                                       : "false"));
        json_object_set_new(r, "IPv6", json_string(i < n && v[i]->ipv6 ? "true" : "false"));
        char created[64];
        created_text(i < n ? v[i]->created : def_created, created, sizeof(created));
        json_object_set_new(r, "CreatedAt", json_string(created));
        json_t *labels = i < n && json_is_object(v[i]->labels) ? v[i]->labels : NULL;
        cleanup_free char *lab = labels_text(labels);
        json_object_set_new(r, "Labels", json_string(lab ? lab : ""));
        json_object_set_new(r, "@Label", labels ? json_copy(labels) : json_object());
        json_array_append_new(rows, r);
    }
    tug_networks_free(v, n);
    json_t *header = json_object();
    json_object_set_new(header, "ID", json_string("NETWORK ID"));
    json_object_set_new(header, "Name", json_string("NAME"));
    json_object_set_new(header, "Driver", json_string("DRIVER"));
    json_object_set_new(header, "Scope", json_string("SCOPE"));
    json_object_set_new(header, "Internal", json_string("INTERNAL"));
    json_object_set_new(header, "IPv4", json_string("IPV4"));
    json_object_set_new(header, "IPv6", json_string("IPV6"));
    json_object_set_new(header, "CreatedAt", json_string("CREATED"));
    json_object_set_new(header, "Labels", json_string("LABELS"));
    if (quiet && (format == NULL || !*format))
        format = "{{.ID}}";
    rc = cli_print_rows_typed(format, "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                              "*network.networkContext", header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}

static int net_rm(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug network rm NETWORK [NETWORK...]",
                           "Remove one or more networks");
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind >= argc) {
        fprintf(stderr, "\"network rm\" requires at least 1 argument.\n");
        return EXIT_USER;
    }
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        tug_error *err = NULL;
        cleanup_network tug_network *n = NULL;
        if (strcmp(argv[i], "host") == 0 || strcmp(argv[i], "none") == 0) {
            fprintf(stderr, "Error: %s is a pre-defined network and cannot be removed\n",
                    argv[i]);
            rc = rc > EXIT_USER ? rc : EXIT_USER;
            continue;
        }
        if (tug_network_find(s, argv[i], &n, &err) < 0 || tug_network_remove(s, n, &err) < 0) {
            int r = cli_fail(err);
            rc = r > rc ? r : rc;
            continue;
        }
        printf("%s\n", argv[i]);
    }
    return rc;
}

static json_t *find_network_doc(tug_store *s, const char *name, void *data, tug_error **err)
{
    cleanup_network tug_network *n = NULL;
    return tug_network_find(s, name, &n, err) < 0 ? NULL : tug_network_inspect_json(s, n);
}

static int net_inspect(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, HELP_OPT, {NULL, 0, NULL, 0}};
    const char *format = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "f:", opts)) != -1) {
        if (c == 'f')
            format = optarg;
        else if (c == 'H') {
            cli_print_help("tug network inspect [OPTIONS] NETWORK [NETWORK...]",
                           "Display detailed information on one or more networks",
                           "  -f, --format string   Format output using a custom template\n");
            return 0;
        } else
            return cli_flag_error(ctx);
    }
    if (optind >= argc) {
        fprintf(stderr, "\"network inspect\" requires at least 1 argument.\n");
        return EXIT_USER;
    }
    return cli_inspect_each(ctx, argc - optind, argv + optind, format, find_network_doc, NULL);
}

int cli_prune_networks(tug_store *s, const cli_prune_opts *o, long long *reclaimed)
{
    (void)reclaimed; /* a network holds no disk */
    tug_prune_filter f;
    cli_prune_filter_of(o, &f);
    tug_error *err = NULL;
    cleanup_strv char **names = NULL;
    if (tug_network_prune(s, &f, &names, &err) < 0)
        return cli_fail(err);
    for (size_t i = 0; names[i]; i++)
        printf("%s%s\n", i == 0 ? "Deleted Networks:\n" : "", names[i]);
    if (names[0])
        printf("\n");
    return 0;
}

static int net_prune(cli_ctx *ctx, int argc, char **argv)
{
    cli_prune_opts po = {0};
    int rc = cli_prune_parse(
        ctx, argc, argv, "tug network prune [OPTIONS]", "Remove all unused networks",
        "      --filter filter   Provide filter values (e.g. 'until=<timestamp>')\n"
        "  -f, --force           Do not prompt for confirmation\n",
        false, false, &po);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!po.force &&
        !cli_confirm(
            "WARNING! This will remove all custom networks not used by at least one container."))
        return 0;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    long long reclaimed = 0;
    return cli_prune_networks(s, &po, &reclaimed);
}

static int net_connect(cli_ctx *ctx, int argc, char **argv, bool connect)
{
    static const struct option opts[] = {
        {"alias", required_argument, NULL, 'a'},
        {"ip", required_argument, NULL, 'i'},
        {"ip6", required_argument, NULL, '6'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    json_t *aliases = json_array();
    const char *ip = NULL, *ip6 = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'a':
        case 'i':
        case '6':
            if (!connect) {
                json_decref(aliases);
                return cli_flag_unknown(ctx);
            }
            if (c == 'a')
                json_array_append_new(aliases, json_string(optarg));
            else if (c == 'i')
                ip = optarg;
            else
                ip6 = optarg;
            break;
        case 'H':
            json_decref(aliases);
            cli_print_help(connect ? "tug network connect [OPTIONS] NETWORK CONTAINER"
                                   : "tug network disconnect [OPTIONS] NETWORK CONTAINER",
                           connect ? "Connect a container to a network"
                                   : "Disconnect a container from a network",
                           connect ? "      --alias strings   Add network-scoped alias for the "
                                     "container\n      --ip string       IPv4 address\n"
                                     "      --ip6 string      IPv6 address\n"
                                   : "");
            return 0;
        default:
            json_decref(aliases);
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 2) {
        json_decref(aliases);
        fprintf(stderr, "\"network %s\" requires exactly 2 arguments.\n",
                connect ? "connect" : "disconnect");
        return EXIT_USER;
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc) {
        json_decref(aliases);
        return rc;
    }
    tug_error *err = NULL;
    int r = connect ? tug_container_connect(s, argv[optind + 1], argv[optind], aliases, ip, ip6,
                                            &err)
                    : tug_container_disconnect(s, argv[optind + 1], argv[optind], &err);
    json_decref(aliases);
    return r < 0 ? cli_fail(err) : 0;
}

static int net_connect_cmd(cli_ctx *ctx, int argc, char **argv)
{
    return net_connect(ctx, argc, argv, true);
}

static int net_disconnect_cmd(cli_ctx *ctx, int argc, char **argv)
{
    return net_connect(ctx, argc, argv, false);
}

static const cli_command network_cmds[] = {
    {"connect", net_connect_cmd, "Connect a container to a network"},
    {"disconnect", net_disconnect_cmd, "Disconnect a container from a network"},
    {"create", net_create, "Create a network"},
    {"ls", net_ls, "List networks"},
    {"list", net_ls, NULL},
    {"rm", net_rm, "Remove one or more networks"},
    {"remove", net_rm, NULL},
    {"inspect", net_inspect, "Display detailed information on one or more networks"},
    {"prune", net_prune, "Remove all unused networks"},
    {NULL, NULL, NULL},
};

int cmd_network(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "network", network_cmds, argc, argv);
}

static int port_line_cmp(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

int cmd_port(cli_ctx *ctx, int argc, char **argv)
{
    int rc = cli_help_only(ctx, argc, argv, "tug port CONTAINER [PRIVATE_PORT[/PROTO]]",
                           "List port mappings or a specific mapping for the container");
    if (rc)
        return rc < 0 ? 0 : rc;
    argc -= optind - 1; /* the operands from argv[1] on */
    argv += optind - 1;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "\"port\" requires at least 1 and at most 2 arguments.\n"
                        "See 'tug port --help'.\n\n"
                        "Usage:  tug port CONTAINER [PRIVATE_PORT[/PROTO]]\n\n"
                        "List port mappings or a specific mapping for the container\n");
        return EXIT_USER;
    }
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    cleanup_container tug_container *ct = NULL;
    if (tug_container_find(s, argv[1], &ct, &err) < 0)
        return cli_fail(err);
    json_t *ports = tug_net_ports_json(s, ct->id);
    cleanup_free char *want = NULL;
    if (argc > 2 && (strchr(argv[2], '/') ? (want = strdup(argv[2])) == NULL
                                           : asprintf(&want, "%s/tcp", argv[2]) < 0)) {
        json_decref(ports);
        return EXIT_ENGINE;
    }
    const char *k;
    json_t *v;
    size_t n = 0, cap = 0;
    char **out = NULL;
    json_object_foreach(ports, k, v)
    {
        if (want && strcmp(k, want) != 0)
            continue;
        size_t i;
        json_t *b;
        json_array_foreach(v, i, b)
        {
            const char *ip = json_string_value(json_object_get(b, "HostIp"));
            const char *hp = json_string_value(json_object_get(b, "HostPort"));
            bool v6 = ip && strchr(ip, ':');
            char *line = NULL;
            if (n == cap) {
                char **more = realloc(out, (cap = cap ? 2 * cap : 8) * sizeof(*out));
                if (more == NULL)
                    break;
                out = more;
            }
            /* "HOST:PORT", an IPv6 host in brackets, after "80/tcp -> " for the full list */
            if (asprintf(&line, "%s%s%s%s%s:%s", want ? "" : k, want ? "" : " -> ",
                         v6 ? "[" : "", ip ? ip : "", v6 ? "]" : "", hp ? hp : "") >= 0)
                out[n++] = line;
        }
    }
    json_decref(ports);
    if (n > 1)
        qsort(out, n, sizeof(*out), port_line_cmp);
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", out[i]);
        free(out[i]);
    }
    free(out);
    if (want && n == 0) {
        fprintf(stderr, "Error: No public port '%s' published for %s\n", want, argv[1]);
        return EXIT_USER;
    }
    return 0;
}
