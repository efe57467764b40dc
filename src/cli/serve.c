/* tug serve: the Docker Engine API on a unix socket, loopback TCP or the socket systemd passes
 * (src/serve does the work). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "serve/serve.h"

#define SERVE_DEFAULT_HOST "unix:///run/tug/tug.sock"

int cmd_serve(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"time", required_argument, NULL, 't'},
        {"tlsverify", no_argument, NULL, 'V'},
        {"tlscacert", required_argument, NULL, 'C'},
        {"tlscert", required_argument, NULL, 'c'},
        {"tlskey", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tug_serve_opts so = {.root = ctx->root, .host = SERVE_DEFAULT_HOST};
    const char *ca = NULL, *cert = NULL, *key = NULL;
    bool verify = false;
    int c;
    char *end;
    while ((c = cli_getopt(argc, argv, "H:t:", opts)) != -1) {
        switch (c) {
        case 'H':
            so.host = optarg;
            break;
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 86400 * 365)
                return cli_bad_value(ctx, optarg, "-t, --time",
                                     "give the idle seconds before exit (0: never)");
            so.idle_seconds = (int)v;
            break;
        }
        case 'V':
            verify = cli_opt_on();
            break;
        case 'C':
            ca = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            cli_print_help("tug serve [OPTIONS]",
                           "Serve the Docker Engine API over the store, for docker's CLI, "
                           "docker-compose and the SDKs",
                           "  -H, --host string        Unix socket (unix:///path) or loopback TCP "
                           "address (tcp://127.0.0.1:PORT) to listen on (default \""
                           SERVE_DEFAULT_HOST "\"); with systemd socket activation (tug.socket), "
                           "the socket it passes\n"
                           "  -t, --time int           Exit after this many seconds without a "
                           "connection; 0 for never (default 0)\n"
                           "      --tlscacert string   Trust client certificates signed by this "
                           "CA\n"
                           "      --tlscert string     Path to the server's TLS certificate "
                           "file\n"
                           "      --tlskey string      Path to the server's TLS key file\n"
                           "      --tlsverify          Serve tcp:// with TLS, a client "
                           "certificate required\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    int rc = cli_no_operands(ctx, argc, argv);
    if (rc)
        return rc;
    tug_registry_opts ropts; /* pulls and pushes reach registries as the CLI's do */
    cli_registry_opts(ctx, &ropts);
    so.registry = &ropts;
    tug_error *err = NULL;
    if (verify && (ca == NULL || cert == NULL || key == NULL)) {
        tug_error_user(&err, "--tlsverify needs --tlscacert, --tlscert and --tlskey");
        return cli_fail(err);
    }
    if (!verify && (ca || cert || key)) {
        tug_error_user(&err, "%s without --tlsverify: tug serves TLS only with client "
                             "certificates; add --tlsverify",
                       ca ? "--tlscacert" : cert ? "--tlscert" : "--tlskey");
        return cli_fail(err);
    }
    if (verify) {
        so.tls_ca = ca;
        so.tls_cert = cert;
        so.tls_key = key;
    }
    if (tug_serve(&so, &err) < 0)
        return cli_fail(err);
    return 0;
}
