/* container-health: one health probe of a container, started by its monitor. Hidden: its exit
 * status (container/health.h's TUG_HEALTH_*) is for the monitor, not for people. */
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "container/health.h"
#include "util/cleanup.h"

int cmd_container_health(cli_ctx *ctx, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "Error: container-health is started by a container's monitor\n");
        return EXIT_USER;
    }
    tug_store *s;
    int rc = cli_store(ctx, &s);
    if (rc)
        return rc;
    tug_error *err = NULL;
    cleanup_container tug_container *c = NULL;
    int status = TUG_HEALTH_NONE;
    if (tug_container_find(s, argv[1], &c, &err) < 0 || tug_health_probe(s, c, &status, &err) < 0)
        return cli_fail(err);
    return status;
}
