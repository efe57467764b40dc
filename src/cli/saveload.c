/* tug save, tug load: flags and output; src/lib/image/save.c and load.c do the work. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "image/archive.h"
#include "image/reference.h"
#include "util/cleanup.h"

int cmd_save(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    tug_save_opts so = {.out_fd = STDOUT_FILENO};
    int c;
    while ((c = cli_getopt(argc, argv, "o:", opts)) != -1) {
        switch (c) {
        case 'o':
            so.path = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "oci-dir") == 0)
                so.format = TUG_SAVE_OCI_DIR;
            else if (strcmp(optarg, "docker-archive") == 0)
                so.format = TUG_SAVE_DOCKER_ARCHIVE;
            else {
                cli_usage_error(ctx,
                                "invalid --format \"%s\": use docker-archive (the default) "
                                "or oci-dir",
                                optarg);
                return EXIT_ENGINE; /* a flag's bad value, as docker's flag errors */
            }
            break;
        case 'H':
            cli_print_help("tug save [OPTIONS] IMAGE [IMAGE...]",
                           "Save one or more images to a tar archive (streamed to STDOUT by "
                           "default)",
                           "      --format string   docker-archive (a tar with the OCI layout "
                           "beside it) or oci-dir\n                        (an OCI image layout "
                           "directory, with -o)\n  -o, --output string   Write to a file, "
                           "instead of STDOUT\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind < 1)
        return cli_usage_error(ctx, "\"save\" requires at least 1 argument.\n\n"
                                    "Usage:  tug save [OPTIONS] IMAGE [IMAGE...]");
    tug_error *err = NULL;
    if (so.format == TUG_SAVE_OCI_DIR && so.path == NULL) {
        cli_usage_error(ctx, "--format oci-dir writes a directory: name it with -o DIR");
        return EXIT_ENGINE;
    }
    if (so.path == NULL && isatty(STDOUT_FILENO)) {
        tug_error_user(&err, "Cowardly refusing to save to a terminal. Use the -o flag or "
                             "redirect");
        return cli_fail(err);
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    if (tug_save(s, (const char *const *)argv + optind, (size_t)(argc - optind), &so, &err) < 0)
        return cli_fail(err);
    return 0;
}

static void print_loaded(const tug_load_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        const tug_loaded_image *im = &res->images[i];
        if (im->n_tags == 0)
            printf("Loaded image ID: %s\n", im->id);
        for (size_t t = 0; t < im->n_tags; t++) {
            cleanup_free char *fam = tug_familiar_ref(im->tags[t]);
            if (im->replaced[t])
                printf("The image %s already exists, renaming the old one with ID %s to empty "
                       "string\n",
                       fam ? fam : im->tags[t], im->replaced[t]);
            printf("Loaded image: %s\n", fam ? fam : im->tags[t]);
        }
    }
}

int cmd_load(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL;
    bool quiet = false;
    int c;
    while ((c = cli_getopt(argc, argv, "i:q", opts)) != -1) {
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'q':
            quiet = cli_opt_on();
            break;
        case 'H':
            cli_print_help("tug load [OPTIONS]", "Load an image from a tar archive or STDIN",
                           "  -i, --input string   Read from tar archive file, instead of STDIN\n"
                           "  -q, --quiet          Suppress the load output\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    tug_error *err = NULL;
    if (input == NULL && isatty(STDIN_FILENO)) {
        tug_error_user(&err, "requested load from stdin, but stdin is empty");
        return cli_fail(err);
    }
    cleanup_close int fd = input ? open(input, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
    if (fd < 0) {
        tug_error_user(&err, "load %s: %s", input ? input : "from stdin", strerror(errno));
        return cli_fail(err);
    }
    tug_store *s;
    rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_load_result res;
    if (tug_load(s, fd, &res, &err) < 0) {
        tug_error_wrap(&err, "load %s", input ? input : "from stdin");
        return cli_fail(err);
    }
    if (!quiet)
        print_loaded(&res);
    tug_load_result_clear(&res);
    return 0;
}
