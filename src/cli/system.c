/* system df, system check, version. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/cache.h"
#include "cli.h"
#include "commands.h"
#include "net/netsetup.h"
#include "runtime/container.h"
#include "runtime/volume.h"
#include "util/cleanup.h"
#include "util/strutil.h"

#define HELP_OPT {"help", no_argument, NULL, 'H'}

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

int cmd_system_df(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'F':
            format = optarg;
            break;
        case 'H':
            cli_print_help("tug system df [OPTIONS]", "Show tug disk usage",
                           "      --format string   Pretty-print images using a Go template\n");
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

int cmd_version(cli_ctx *ctx, int argc, char **argv)
{
    if (argv == NULL) {
        printf("tug version %s\n", TUG_VERSION);
        return 0;
    }
    int rc = cli_help_only(ctx, argc, argv, "tug version", "Show the tug version information");
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = cli_no_operands(ctx, argc, argv)) != 0)
        return rc;
    printf("Client:\n Version:    %s\n Store:      %s\n", TUG_VERSION, ctx->root);
    return 0;
}
