/* volume create/ls/inspect/rm/prune. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "prune.h"
#include "runtime/volume.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/template.h"

static int add_label(json_t *labels, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == kv || *kv == '\0')
        return -1;
    cleanup_free char *k = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);
    json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
    return 0;
}

static int vol_create(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"label", required_argument, NULL, 'l'}, {"driver", required_argument, NULL, 'd'},
        {"opt", required_argument, NULL, 'o'},   {"name", required_argument, NULL, 'n'},
        HELP_OPT,                                {NULL, 0, NULL, 0},
    };
    json_t *labels = json_object(), *options = json_object();
    const char *name = NULL;
    /* declared before the first goto out: the cleanup runs at every exit */
    cleanup_volume tug_volume *v = NULL;
    tug_store *s;
    tug_error *err = NULL;
    int c, rc = 0;
    while ((c = cli_getopt(argc, argv, "d:o:", opts)) != -1) {
        switch (c) {
        case 'l':
            if (add_label(labels, optarg) < 0)
                rc = cli_usage_error(ctx, "invalid label '%s'", optarg);
            break;
        case 'o':
            if (strchr(optarg, '=') == NULL || add_label(options, optarg) < 0)
                rc = cli_usage_error(ctx, "invalid option '%s': use key=value", optarg);
            break;
        case 'd':
            if (strcmp(optarg, "local") != 0) {
                fprintf(stderr, "Error: plugin \"%s\" not found: tug has the local volume "
                                "driver\n",
                        optarg);
                rc = EXIT_USER;
            }
            break;
        case 'n':
            name = optarg;
            break;
        case 'H':
            cli_print_help("tug volume create [OPTIONS] [VOLUME]", "Create a volume",
                           "  -d, --driver string   Specify volume driver name (default "
                           "\"local\")\n"
                           "      --label list      Set metadata for a volume\n"
                           "  -o, --opt map         Set driver specific options (type, device, "
                           "o)\n");
            goto out;
        default:
            rc = cli_flag_error(ctx);
        }
        if (rc)
            goto out;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "\"volume create\" requires at most 1 argument.\nSee 'tug volume create "
                        "--help'.\n\nUsage:  tug volume create [OPTIONS] [VOLUME]\n");
        rc = EXIT_USER;
        goto out;
    }
    if (optind < argc) {
        if (name && strcmp(name, argv[optind]) != 0) {
            fprintf(stderr, "Error: conflicting options: either specify --name or provide "
                            "positional arg, not both\n");
            rc = EXIT_USER;
            goto out;
        }
        name = argv[optind];
    }
    if ((rc = cli_store(ctx, &s)) != 0)
        goto out;
    if (tug_volume_create(s, name, labels, json_object_size(options) ? options : NULL, &v, &err) <
        0) {
        rc = cli_fail(err);
        goto out;
    }
    printf("%s\n", v->name);
out:
    json_decref(labels);
    json_decref(options);
    return rc;
}

static int vol_ls(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'}, {"format", required_argument, NULL, 'F'},
        {"filter", required_argument, NULL, 'f'}, HELP_OPT, {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    const char *format = NULL;
    const char *filters[32];
    size_t nf = 0;
    tug_error *ferr = NULL;
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
            if (tug_volume_filter_check(optarg, &ferr) < 0)
                return cli_fail(ferr);
            if (nf < TUG_ARRAY_SIZE(filters))
                filters[nf++] = optarg;
            break;
        case 'H':
            cli_print_help("tug volume ls [OPTIONS]", "List volumes",
                           "  -f, --filter filter   Provide filter values (e.g. "
                           "'dangling=true')\n"
                           "      --format string   Format output using a custom template\n"
                           "  -q, --quiet           Only display volume names\n");
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
    tug_volume **v = NULL;
    size_t n = 0;
    if (tug_volume_list(s, &v, &n, &err) < 0)
        return cli_fail(err);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        cleanup_strv char **users = NULL;
        size_t nu = 0;
        if (tug_volume_users(s, v[i]->name, &users, &nu, &err) < 0) {
            tug_volumes_free(v, n);
            json_decref(rows);
            return cli_fail(err);
        }
        if (!tug_volume_filters_match(v[i], nu, filters, nf))
            continue;
        json_t *r = tug_volume_inspect_json(s, v[i]);
        /* the fields docker's volume ls templates know */
        char links[24];
        snprintf(links, sizeof(links), "%zu", nu);
        json_object_set_new(r, "Links", json_string(links));
        json_object_set_new(r, "Size", json_string("N/A"));
        json_t *l = json_object_get(r, "Labels");
        const char *k;
        json_t *lv;
        cleanup_free char *ltxt = strdup("");
        json_object_foreach(l, k, lv)
        {
            char *more = NULL;
            if (asprintf(&more, "%s%s%s=%s", ltxt, *ltxt ? "," : "", k,
                         json_string_value(lv) ? json_string_value(lv) : "") >= 0) {
                free(ltxt);
                ltxt = more;
            }
        }
        json_object_set_new(r, "Labels", json_string(ltxt ? ltxt : ""));
        json_array_append_new(rows, r);
    }
    tug_volumes_free(v, n);
    json_t *header = json_object();
    json_object_set_new(header, "Driver", json_string("DRIVER"));
    json_object_set_new(header, "Name", json_string("VOLUME NAME"));
    json_object_set_new(header, "Mountpoint", json_string("MOUNTPOINT"));
    json_object_set_new(header, "Labels", json_string("LABELS"));
    json_object_set_new(header, "Scope", json_string("SCOPE"));
    json_object_set_new(header, "Links", json_string("LINKS"));
    json_object_set_new(header, "Size", json_string("SIZE"));
    json_object_set_new(header, "CreatedAt", json_string("CREATED"));
    if (quiet && (format == NULL || !*format))
        format = "{{.Name}}";
    rc = cli_print_rows_typed(format, "{{.Driver}}\t{{.Name}}", "*formatter.volumeContext", header,
                              rows);
    json_decref(header);
    json_decref(rows);
    return rc;
}

static json_t *find_volume_doc(tug_store *s, const char *name, void *data, tug_error **err)
{
    cleanup_volume tug_volume *v = NULL;
    return tug_volume_find(s, name, &v, err) < 0 ? NULL : tug_volume_inspect_json(s, v);
}

static int vol_inspect(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, HELP_OPT, {NULL, 0, NULL, 0}};
    const char *format = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "f:", opts)) != -1) {
        if (c == 'f')
            format = optarg;
        else if (c == 'H') {
            cli_print_help("tug volume inspect [OPTIONS] VOLUME [VOLUME...]",
                           "Display detailed information on one or more volumes",
                           "  -f, --format string   Format output using a custom template\n");
            return 0;
        } else
            return cli_flag_error(ctx);
    }
    if (optind >= argc)
        return cli_usage_error(ctx, "\"volume inspect\" requires at least 1 argument.");
    return cli_inspect_each(ctx, argc - optind, argv + optind, format, find_volume_doc, NULL);
}

static int vol_rm(cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    int rc = cli_force_only(ctx, argc, argv, "tug volume rm [OPTIONS] VOLUME [VOLUME...]",
                            "Remove one or more volumes. You cannot remove a volume that is in "
                            "use by a container.",
                            "  -f, --force   Do not fail when a volume does not exist\n", &force);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind >= argc)
        return cli_usage_error(ctx, "\"volume rm\" requires at least 1 argument.");
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        tug_error *err = NULL;
        cleanup_volume tug_volume *v = NULL;
        if (tug_volume_find(s, argv[i], &v, &err) < 0) {
            if (force) {
                tug_error_free(err);
                continue;
            }
        } else if (tug_volume_remove(s, argv[i], &err) == 0) {
            printf("%s\n", argv[i]);
            continue;
        }
        int r = cli_fail(err);
        rc = r > rc ? r : rc;
    }
    return rc;
}

int cli_prune_volumes(tug_store *s, const cli_prune_opts *o, long long *reclaimed)
{
    tug_error *err = NULL;
    cleanup_strv char **names = NULL;
    long long bytes = 0;
    tug_prune_filter f;
    cli_prune_filter_of(o, &f);
    if (tug_volume_prune(s, o->all, &f, &names, &bytes, &err) < 0)
        return cli_fail(err);
    if (names[0])
        printf("Deleted Volumes:\n");
    for (char **n = names; *n; n++)
        printf("%s\n", *n);
    if (names[0])
        printf("\n");
    *reclaimed += bytes;
    return 0;
}

static int vol_prune(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'}, {"all", no_argument, NULL, 'a'},
        {"filter", required_argument, NULL, 'F'}, HELP_OPT, {NULL, 0, NULL, 0}};
    bool force = false, all = false;
    int c;
    while ((c = cli_getopt(argc, argv, "fa", opts)) != -1) {
        switch (c) {
        case 'f':
            force = cli_opt_on();
            break;
        case 'a':
            all = cli_opt_on();
            break;
        case 'F': {
            /* the one filter tug's prune knows: docker's all=true|false (or 1|0) */
            const char *v = strncmp(optarg, "all=", 4) == 0 ? optarg + 4 : "";
            bool yes = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
            if (!yes && strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
                return cli_usage_error(ctx, "invalid filter '%s' (tug supports all=true|false)",
                                       optarg);
            all = yes;
            break;
        }
        case 'H':
            cli_print_help("tug volume prune [OPTIONS]", "Remove unused local volumes",
                           "  -a, --all             Remove all unused volumes, not just "
                           "anonymous ones\n"
                           "      --filter filter   Provide filter values (e.g. 'all=true')\n"
                           "  -f, --force           Do not prompt for confirmation\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    if (!force && !cli_confirm(all ? "WARNING! This will remove all local volumes not used by "
                                     "at least one container."
                                   : "WARNING! This will remove anonymous local volumes not "
                                     "used by at least one container."))
        return 0;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    long long reclaimed = 0;
    cli_prune_opts po = {.all = all};
    rc = cli_prune_volumes(s, &po, &reclaimed);
    cli_prune_total(reclaimed);
    return rc;
}

static const cli_command volume_cmds[] = {
    {"create", vol_create, "Create a volume"},
    {"ls", vol_ls, "List volumes"},
    {"list", vol_ls, NULL},
    {"inspect", vol_inspect, "Display detailed information on one or more volumes"},
    {"rm", vol_rm, "Remove one or more volumes"},
    {"remove", vol_rm, NULL},
    {"prune", vol_prune, "Remove unused local volumes"},
    {NULL, NULL, NULL},
};

int cmd_volume(cli_ctx *ctx, int argc, char **argv)
{
    return cli_run_group(ctx, "volume", volume_cmds, argc, argv);
}
