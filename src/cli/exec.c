/* exec: run a command in a running container. */
#include <stdio.h>

#include "cli.h"
#include "commands.h"

int cmd_exec(cli_ctx *ctx, int argc, char **argv)
{
    fprintf(stderr, "Error: exec is not implemented yet\n");
    return EXIT_ENGINE;
}
