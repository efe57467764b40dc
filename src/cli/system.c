/* system df, system check, version. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build/cache.h"
#include "cli.h"
#include "container/connect.h"
#include "commands.h"
#include "container/system.h"
#include "image/reference.h"
#include "net/netsetup.h"
#include "prune.h"
#include "runtime/container.h"
#include "runtime/volume.h"
#include "store/layer.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/template.h"

static json_t *df_row(const char *type, long long total, long long active, long long size,
                      long long reclaimable)
{
    json_t *r = json_object();
    char buf[32];
    json_object_set_new(r, "Type", json_string(type));
    snprintf(buf, sizeof(buf), "%lld", total);
    json_object_set_new(r, "TotalCount", json_string(buf));
    snprintf(buf, sizeof(buf), "%lld", active);
    json_object_set_new(r, "Active", json_string(buf));
    cleanup_free char *sz = tug_human_size((double)size, 4);
    json_object_set_new(r, "Size", json_string(sz));
    cleanup_free char *rs = tug_human_size((double)reclaimable, 4);
    cleanup_free char *rec = NULL;
    if (size > 0) {
        if (asprintf(&rec, "%s (%lld%%)", rs, reclaimable * 100 / size) < 0)
            rec = NULL;
    } else
        rec = strdup(rs);
    json_object_set_new(r, "Reclaimable", json_string(rec ? rec : ""));
    return r;
}

/* system df -v, images: one row per image by its first tag, with the bytes of the layers it
 * shares with other images apart, and how many containers use it. */
static int df_images(tug_store *s, tug_container **ctrs, size_t n_ctrs, tug_error **err)
{
    tug_image_usage *u = NULL;
    size_t n = 0;
    long long layers = 0;
    if (tug_image_usage_list(s, ctrs, n_ctrs, &u, &n, &layers, err) < 0)
        return -1;
    cli_table *t = cli_table_new();
    cli_table_add(t, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\t"
                     "CONTAINERS");
    for (size_t i = 0; i < n; i++) {
        tug_image *img = u[i].img;
        cleanup_free char *repo = NULL, *tag = NULL;
        if (img->n_tags > 0) {
            const char *full = img->tags[0], *colon = strrchr(full, ':');
            cleanup_free char *name = strndup(full, (size_t)(colon - full));
            repo = tug_familiar_name(name);
            tag = strdup(colon + 1);
        }
        cleanup_free char *ago = tug_time_ago(img->created);
        cleanup_free char *size = tug_human_size((double)img->size, 3);
        cleanup_free char *sh = tug_human_size((double)u[i].shared, 4);
        cleanup_free char *uniq = tug_human_size((double)(img->size - u[i].shared), 4);
        cleanup_free char *line = NULL;
        if (asprintf(&line, "%s\t%s\t%.12s\t%s\t%s\t%s\t%s\t%lld", repo ? repo : "<none>",
                     tag ? tag : "<none>", tug_digest_hex(img->id), ago ? ago : "",
                     size ? size : "", sh ? sh : "", uniq ? uniq : "", u[i].containers) >= 0)
            cli_table_add(t, line);
    }
    printf("Images space usage:\n\n");
    cli_table_flush(t, stdout);
    cli_table_free(t);
    tug_image_usage_free(u, n);
    return 0;
}

/* system df -v, containers: ps's columns with the volumes each mounts and what it wrote. */
static void df_containers(tug_store *s, tug_container **ctrs, size_t n)
{
    cli_table *t = cli_table_new();
    cli_table_add(t, "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES");
    for (size_t i = 0; i < n; i++) {
        json_t *row = ps_row(s, ctrs[i], false, false);
        json_t *doc = tug_container_inspect_json(s, ctrs[i]);
        size_t k, vols = 0;
        json_t *m;
        json_array_foreach(json_object_get(doc, "Mounts"), k, m)
        {
            const char *type = json_string_value(json_object_get(m, "Type"));
            vols += type && strcmp(type, "volume") == 0;
        }
        json_decref(doc);
        long long rw = tug_store_container_size_rw(s, ctrs[i]->id);
        cleanup_free char *size = tug_human_size((double)rw, 4);
        cleanup_free char *line = NULL;
#define F(k) (json_string_value(json_object_get(row, k)) ? json_string_value(json_object_get(row, k)) : "")
        if (asprintf(&line, "%s\t%s\t%s\t%zu\t%s\t%s\t%s\t%s", F("ID"), F("Image"),
                     F("Command"), vols, size ? size : "", F("RunningFor"), F("Status"),
                     F("Names")) >= 0)
            cli_table_add(t, line);
#undef F
        json_decref(row);
    }
    printf("\nContainers space usage:\n\n");
    cli_table_flush(t, stdout);
    cli_table_free(t);
}

/* system df -v, volumes: name, how many containers use it, its bytes. */
static int df_volumes(tug_store *s, tug_error **err)
{
    tug_volume **vols = NULL;
    size_t n = 0;
    if (tug_volume_list(s, &vols, &n, err) < 0)
        return -1;
    cli_table *t = cli_table_new();
    cli_table_add(t, "VOLUME NAME\tLINKS\tSIZE");
    for (size_t i = 0; i < n; i++) {
        cleanup_strv char **users = NULL;
        size_t links = 0;
        tug_error *e = NULL;
        if (tug_volume_users(s, vols[i]->name, &users, &links, &e) < 0)
            tug_error_free(e);
        cleanup_free char *size = tug_human_size((double)tug_volume_size(s, vols[i]->name), 4);
        cleanup_free char *line = NULL;
        if (asprintf(&line, "%s\t%zu\t%s", vols[i]->name, links, size ? size : "") >= 0)
            cli_table_add(t, line);
    }
    printf("\nLocal Volumes space usage:\n\n");
    cli_table_flush(t, stdout);
    cli_table_free(t);
    tug_volumes_free(vols, n);
    return 0;
}

/* system df -v, build cache: one line per cache row and cache mount, as docker's. */
static int df_build_cache(tug_store *s)
{
    tug_error *err = NULL;
    tug_build_cache_entry *list = NULL;
    size_t n = 0;
    if (tug_build_cache_list(s, &list, &n, &err) < 0)
        return cli_fail(err);
    cli_table *t = cli_table_new();
    cli_table_add(t, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED");
    for (size_t i = 0; i < n; i++) {
        const tug_build_cache_entry *e = &list[i];
        cleanup_free char *size = tug_human_size((double)e->size, 3);
        cleanup_free char *made = tug_time_ago(e->created);
        cleanup_free char *used = tug_time_ago(e->last_used);
        cleanup_free char *line = NULL;
        if (asprintf(&line, "%.12s%s\t%s\t%s\t%s\t%s\t%d\t%s", e->id, e->in_use ? "*" : "",
                     e->type, size ? size : "", made ? made : "", used ? used : "", e->usage,
                     e->shared ? "true" : "false") >= 0)
            cli_table_add(t, line);
    }
    cli_table_flush(t, stdout);
    cli_table_free(t);
    free(list);
    return 0;
}

static int df_verbose(tug_store *s)
{
    tug_error *err = NULL;
    tug_container **ctrs = NULL;
    size_t n = 0;
    if (tug_container_list(s, &ctrs, &n, &err) < 0)
        return cli_fail(err);
    int r = df_images(s, ctrs, n, &err);
    if (r == 0)
        df_containers(s, ctrs, n);
    tug_containers_free(ctrs, n);
    if (r < 0 || df_volumes(s, &err) < 0)
        return cli_fail(err);
    long long bc_rows = 0, bc_size = 0, bc_reclaim = 0;
    if (tug_build_cache_usage(s, &bc_rows, &bc_size, &bc_reclaim, &err) < 0)
        return cli_fail(err);
    cleanup_free char *bc = tug_human_size((double)bc_size, 4);
    printf("\nBuild cache usage: %s\n\n", bc ? bc : "");
    return df_build_cache(s);
}

int cmd_system_df(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        {"verbose", no_argument, NULL, 'v'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    bool verbose = false;
    int c;
    while ((c = cli_getopt(argc, argv, "v", opts)) != -1) {
        switch (c) {
        case 'F':
            format = optarg;
            break;
        case 'v':
            verbose = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug system df [OPTIONS]", "Show tug disk usage",
                           "      --format string   Pretty-print images using a Go template\n"
                           "  -v, --verbose         Show detailed information on space usage\n");
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
    if (verbose && (format == NULL || *format == '\0'))
        return df_verbose(s);
    tug_error *err = NULL;
    tug_df df;
    if (tug_store_df(s, &df, &err) < 0)
        return cli_fail(err);
    json_t *rows = json_array();
    json_array_append_new(rows, df_row("Images", df.images, df.images_active, df.images_size,
                                       df.images_reclaimable));
    json_array_append_new(rows, df_row("Containers", df.containers, df.containers_active,
                                       df.containers_size, df.containers_reclaimable));
    tug_volume_df vdf;
    if (tug_volume_disk_usage(s, &vdf, &err) < 0)
        return cli_fail(err);
    json_array_append_new(rows, df_row("Local Volumes", vdf.total, vdf.active, vdf.size,
                                       vdf.reclaimable));
    long long bc_rows = 0, bc_size = 0, bc_reclaim = 0;
    if (tug_build_cache_usage(s, &bc_rows, &bc_size, &bc_reclaim, &err) < 0)
        return cli_fail(err);
    json_array_append_new(rows, df_row("Build Cache", bc_rows, 0, bc_size, bc_reclaim));
    json_t *header = json_object();
    json_object_set_new(header, "Type", json_string("TYPE"));
    json_object_set_new(header, "TotalCount", json_string("TOTAL"));
    json_object_set_new(header, "Active", json_string("ACTIVE"));
    json_object_set_new(header, "Size", json_string("SIZE"));
    json_object_set_new(header, "Reclaimable", json_string("RECLAIMABLE"));
    rc = cli_print_rows(format, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                        header, rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}

int cmd_system_check(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    bool dry = false;
    int c;
    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'n':
            dry = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug system check [OPTIONS]",
                           "Check the store and repair what an interrupted command left behind",
                           "      --dry-run   Report problems without repairing them\n");
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
    tug_check_report rep;
    if (tug_store_check(s, !dry, &rep, &err) < 0)
        return cli_fail(err);
    int problems = rep.temp_removed + rep.orphan_layers + rep.missing_layers +
                   rep.broken_images;
    /* containers first: their cgroups are judged by build steps the network check forgets */
    char *ctr_details = NULL;
    int ctr = tug_container_check(s, !dry, &ctr_details, &err);
    if (ctr < 0) {
        tug_check_report_clear(&rep);
        return cli_fail(err);
    }
    problems += ctr;
    char *net_details = NULL;
    int net = tug_net_check(s, !dry, &net_details, &err);
    if (net < 0) {
        free(ctr_details);
        tug_check_report_clear(&rep);
        return cli_fail(err);
    }
    problems += net;
    char *vol_details = NULL;
    int vol = tug_volume_check(s, !dry, &vol_details, &err);
    if (vol < 0) {
        free(ctr_details);
        free(net_details);
        tug_check_report_clear(&rep);
        return cli_fail(err);
    }
    problems += vol;
    if (ctr_details) {
        fputs(ctr_details, stdout);
        free(ctr_details);
    }
    if (vol_details) {
        fputs(vol_details, stdout);
        free(vol_details);
    }
    if (net_details) {
        fputs(net_details, stdout);
        free(net_details);
    }
    if (rep.details)
        fputs(rep.details, stdout);
    if (problems == 0)
        printf("No problems found in %s\n", s->root);
    else if (dry)
        printf("%d problems found in %s (run without --dry-run to repair)\n", problems, s->root);
    else
        printf("%d problems found in %s, all repaired\n", problems, s->root);
    if (rep.unused_blobs || rep.unused_layers) {
        cleanup_free char *sz = tug_human_size((double)rep.unused_bytes, 4);
        printf("%d blobs and %d layers no image uses (%s): kept for the next pull; 'tug image "
               "prune' removes them\n",
               rep.unused_blobs, rep.unused_layers, sz);
    }
    if (rep.partial_downloads) {
        cleanup_free char *sz = tug_human_size((double)rep.partial_bytes, 4);
        printf("%d partial downloads (%s) kept: the next pull resumes them\n",
               rep.partial_downloads, sz);
    }
    tug_check_report_clear(&rep);
    return dry && problems ? EXIT_USER : 0;
}

/* A one-document --format: the template applied to doc (docker's "json" prints it whole). */
static int print_formatted(json_t *doc, const char *format)
{
    if (strcmp(format, "json") == 0)
        format = "{{json .}}";
    json_t *docs = json_array();
    json_array_append(docs, doc);
    int rc = cli_print_documents(docs, format);
    json_decref(docs);
    return rc;
}

/* version's and info's --format: docker names the template ("version" or none) and the Go
 * types of its data in its messages; a template that fails prints a bare line and exits 1. */
static int print_typed(json_t *doc, const char *format, const char *name,
                       const char *const *types)
{
    if (strcmp(format, "json") == 0)
        return print_formatted(doc, format);
    tug_error *err = NULL;
    cleanup_template tug_template *t = NULL;
    if (tug_template_parse_named(name, format, &t, &err) < 0) {
        fprintf(stderr, "template parsing error: %s\n", err && err->msg ? err->msg : "");
        tug_error_free(err);
        return EXIT_TEMPLATE_PARSE;
    }
    cleanup_free char *out = NULL, *partial = NULL;
    const tug_template_opts opts = {.field_types = types, .ret_partial = &partial};
    if (tug_template_render_opts(t, doc, &opts, &out, &err) < 0) {
        printf("%s\n", partial ? partial : "");
        fflush(stdout);
        fprintf(stderr, "%s\n", err && err->msg ? err->msg : "");
        tug_error_free(err);
        return EXIT_USER;
    }
    printf("%s\n", out);
    return 0;
}

/* The flags of info and version: --format alone. Returns -1 after --help. */
static int format_only(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary,
                       const char **ret_format)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(argc, argv, "f:", opts)) != -1) {
        switch (c) {
        case 'f':
            *ret_format = optarg;
            break;
        case 'H':
            cli_print_help(usage, summary,
                           "  -f, --format string   Format output using a custom template:\n"
                           "                        'json':             Print in JSON format\n"
                           "                        'TEMPLATE':         Print output using the "
                           "given Go template\n");
            return -1;
        default:
            return cli_flag_error(ctx);
        }
    }
    return cli_no_operands(ctx, argc, argv);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static long long jint(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void print_info(json_t *info)
{
    printf("Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\nServer:\n",
           TUG_VERSION);
    printf(" Containers: %lld\n  Running: %lld\n  Paused: %lld\n  Stopped: %lld\n",
           jint(info, "Containers"), jint(info, "ContainersRunning"),
           jint(info, "ContainersPaused"), jint(info, "ContainersStopped"));
    printf(" Images: %lld\n Server Version: %s\n Storage Driver: %s\n", jint(info, "Images"),
           jstr(info, "ServerVersion"), jstr(info, "Driver"));
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(info, "DriverStatus"), i, kv)
        printf("  %s: %s\n", json_string_value(json_array_get(kv, 0)),
               json_string_value(json_array_get(kv, 1)));
    printf(" Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n",
           jstr(info, "LoggingDriver"), jstr(info, "CgroupDriver"), jstr(info, "CgroupVersion"));
    printf(" Plugins:\n  Volume: local\n  Network: bridge host none\n  Log: json-file\n");
    printf(" Default Runtime: %s\n Security Options:\n  seccomp\n   Profile: default\n",
           jstr(info, "DefaultRuntime"));
    printf(" Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n",
           jstr(info, "KernelVersion"), jstr(info, "OperatingSystem"), jstr(info, "OSType"),
           jstr(info, "Architecture"));
    cleanup_free char *mem = tug_human_size_binary((double)jint(info, "MemTotal"));
    printf(" CPUs: %lld\n Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n",
           jint(info, "NCPU"), mem ? mem : "", jstr(info, "Name"), jstr(info, "ID"),
           jstr(info, "DockerRootDir"));
    printf(" Debug Mode: false\n Experimental: false\n");
    json_t *reg = json_object_get(info, "RegistryConfig");
    printf(" Insecure Registries:\n");
    json_t *v;
    json_array_foreach(json_object_get(reg, "InsecureRegistryCIDRs"), i, v)
        printf("  %s\n", json_string_value(v));
    const char *name;
    json_object_foreach(json_object_get(reg, "IndexConfigs"), name,
                        v) if (!json_is_true(json_object_get(v, "Secure"))) printf("  %s\n", name);
    printf(" Live Restore Enabled: %s\n",
           json_is_true(json_object_get(info, "LiveRestoreEnabled")) ? "true" : "false");
}

int cmd_info(cli_ctx *ctx, int argc, char **argv)
{
    const char *format = NULL;
    int rc = format_only(ctx, argc, argv, "tug info [OPTIONS]", "Display system-wide information",
                         &format);
    if (rc)
        return rc < 0 ? 0 : rc;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_registry_opts ro;
    cli_registry_opts(ctx, &ro);
    tug_error *err = NULL;
    json_t *info = NULL;
    if (tug_engine_info(s, ro.insecure_registries, &info, &err) < 0)
        return cli_fail(err);
    static const char *const info_types[] = {
        "",           "system.dockerInfo",   "Plugins",        "system.PluginsInfo",
        "Swarm",      "swarm.Info",          "RegistryConfig", "*registry.ServiceConfig",
        "ClientInfo", "*system.clientInfo",  NULL,
    };
    if (format && *format)
        rc = print_typed(info, format, "", info_types);
    else
        print_info(info);
    json_decref(info);
    return rc;
}

int cmd_version(cli_ctx *ctx, int argc, char **argv)
{
    if (argv == NULL) {
        printf("tug version %s\n", TUG_VERSION);
        return 0;
    }
    const char *format = NULL;
    int rc = format_only(ctx, argc, argv, "tug version [OPTIONS]",
                         "Show the tug version information", &format);
    if (rc)
        return rc < 0 ? 0 : rc;
    /* one program is client and engine: both halves carry the same version */
    json_t *doc = json_object(), *client = json_object();
    json_object_set_new(client, "Version", json_string(TUG_VERSION));
    json_object_set_new(client, "Os", json_string("linux"));
    json_object_set_new(client, "Arch", json_string(tug_go_arch()));
    json_object_set_new(client, "Context", json_string("default"));
    json_object_set_new(doc, "Client", client);
    json_t *server = tug_engine_version();
    json_object_set_new(doc, "Server", server);
    static const char *const version_types[] = {
        "",       "system.versionInfo", "Client", "system.clientVersion",
        "Server", "*types.Version",     NULL,
    };
    if (format && *format) {
        rc = print_typed(doc, format, "version", version_types);
        json_decref(doc);
        return rc;
    }
    printf("Client:\n Version:           %s\n OS/Arch:           linux/%s\n Context:           "
           "default\n Store:             %s\n\nServer:\n Engine:\n  Version:          %s\n"
           "  OS/Arch:          linux/%s\n  Kernel Version:   %s\n",
           TUG_VERSION, tug_go_arch(), ctx->root, TUG_VERSION, tug_go_arch(),
           jstr(server, "KernelVersion"));
    json_decref(doc);
    return 0;
}

int cmd_search(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filter", required_argument, NULL, 'F'},
        {"format", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"no-trunc", no_argument, NULL, 'n'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(argc, argv, "f:", opts)) != -1) {
        if (c == 'H') {
            cli_print_help("tug search [OPTIONS] TERM", "Search a registry for images", "");
            return 0;
        }
        if (c == '?')
            return cli_flag_error(ctx);
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"search\" requires exactly 1 argument.\n\nUsage:  tug "
                                    "search [OPTIONS] TERM");
    fprintf(stderr,
            "Error: search %s: tug does not speak Docker Hub's search API (/v1/search), "
            "the registry API has none; browse the registry's site or list a "
            "repository's tags with 'tug pull -a'\n",
            argv[optind]);
    return EXIT_USER;
}

int cli_prune_filter(cli_ctx *ctx, cli_prune_opts *o, const char *arg)
{
    if (strncmp(arg, "label=", 6) == 0) {
        if (o->nlabels == TUG_ARRAY_SIZE(o->labels))
            return cli_usage_error(ctx, "too many filters: at most %zu", TUG_ARRAY_SIZE(o->labels));
        o->labels[o->nlabels++] = arg + 6;
        return 0;
    }
    if (strncmp(arg, "until=", 6) == 0) {
        if (tug_parse_until(arg + 6, &o->until) == 0)
            return 0;
        return cli_usage_error(ctx,
                               "invalid filter '%s': until takes a duration (24h), unix "
                               "seconds or an RFC 3339 time",
                               arg);
    }
    return cli_usage_error(ctx, "invalid filter '%s' (tug supports label= and until=)", arg);
}

void cli_prune_filter_of(const cli_prune_opts *o, tug_prune_filter *ret)
{
    *ret = (tug_prune_filter){.until = o->until, .nlabels = o->nlabels};
    for (size_t k = 0; k < o->nlabels; k++)
        ret->labels[k] = o->labels[k];
}

bool cli_prune_match(const cli_prune_opts *o, json_t *labels, long long created)
{
    tug_prune_filter f;
    cli_prune_filter_of(o, &f);
    return tug_prune_match(&f, labels, created);
}

void cli_prune_total(long long reclaimed)
{
    cleanup_free char *sz = tug_human_size((double)reclaimed, 4);
    printf("Total reclaimed space: %s\n", sz ? sz : "0B");
}

int cli_prune_parse(cli_ctx *ctx, int argc, char **argv, const char *usage, const char *summary,
                    const char *options_help, bool with_all, bool with_volumes, cli_prune_opts *o)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {"volumes", no_argument, NULL, 'V'},
        {"filter", required_argument, NULL, 'F'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    while ((c = cli_getopt(argc, argv, with_all ? "af" : "f", opts)) != -1) {
        switch (c) {
        case 'a':
            if (!with_all)
                return cli_flag_unknown(ctx);
            o->all = cli_opt_on();
            break;
        case 'f':
            o->force = cli_opt_on();
            break;
        case 'V':
            if (!with_volumes)
                return cli_flag_unknown(ctx);
            o->volumes = cli_opt_on();
            break;
        case 'F':
            if ((rc = cli_prune_filter(ctx, o, optarg)) != 0)
                return rc;
            break;
        case 'H':
            cli_print_help(usage, summary, options_help);
            return -1;
        default:
            return cli_flag_error(ctx);
        }
    }
    return cli_no_operands(ctx, argc, argv);
}

int cmd_system_prune(cli_ctx *ctx, int argc, char **argv)
{
    cli_prune_opts po = {0};
    int rc = cli_prune_parse(ctx, argc, argv, "tug system prune [OPTIONS]", "Remove unused data",
                             "  -a, --all             Remove all unused images not just dangling "
                             "ones\n"
                             "      --filter filter   Provide filter values (e.g. "
                             "\"label=<key>=<value>\")\n"
                             "  -f, --force           Do not prompt for confirmation\n"
                             "      --volumes         Prune anonymous volumes\n",
                             true, true, &po);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!po.force) {
        char warning[512];
        snprintf(warning, sizeof(warning),
                 "WARNING! This will remove:\n  - all stopped containers\n  - all networks not "
                 "used by at least one container\n%s  - %s\n  - %s\n",
                 po.volumes ? "  - all anonymous volumes not used by at least one container\n" : "",
                 po.all ? "all images without at least one container associated to them"
                        : "all dangling images",
                 po.all ? "all build cache" : "unused build cache");
        if (!cli_confirm(warning))
            return 0;
    }
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    /* docker's order: what holds an image or a network goes before it */
    long long reclaimed = 0;
    int step = cli_prune_containers(s, &po, &reclaimed);
    rc = step > rc ? step : rc;
    step = cli_prune_networks(s, &po, &reclaimed);
    rc = step > rc ? step : rc;
    if (po.volumes) {
        cli_prune_opts vo = {0}; /* anonymous volumes only, as docker's --volumes */
        step = cli_prune_volumes(s, &vo, &reclaimed);
        rc = step > rc ? step : rc;
    }
    step = cli_prune_images(s, &po, &reclaimed);
    rc = step > rc ? step : rc;
    step = cli_prune_build_cache(s, &po, &reclaimed);
    rc = step > rc ? step : rc;
    cli_prune_total(reclaimed);
    return rc;
}

static void converted(const char *chain, long long size, void *ud)
{
    (void)ud;
    cleanup_free char *h = tug_human_size((double)size, 3);
    printf("Converted %.19s (%s)\n", chain, h ? h : "");
    fflush(stdout);
}

int cmd_system_migrate(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'H':
            cli_print_help("tug system migrate",
                           "Convert a directory store's layers to EROFS images (docs/store.md)",
                           "");
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
    int n = tug_store_convert_layers(s, converted, NULL, &err);
    if (n < 0)
        return cli_fail(err);
    printf("%d layer%s converted; the store writes EROFS layers from now on\n", n,
           n == 1 ? "" : "s");
    return 0;
}
