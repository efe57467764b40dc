/* Every command's entry point. */
#pragma once
#include "cli.h"

int cmd_pull(cli_ctx *ctx, int argc, char **argv);
int cmd_images(cli_ctx *ctx, int argc, char **argv);
int cmd_rmi(cli_ctx *ctx, int argc, char **argv);
int cmd_tag(cli_ctx *ctx, int argc, char **argv);
int cmd_history(cli_ctx *ctx, int argc, char **argv);
int cmd_image_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_image_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_system_df(cli_ctx *ctx, int argc, char **argv);
int cmd_system_check(cli_ctx *ctx, int argc, char **argv);
int cmd_version(cli_ctx *ctx, int argc, char **argv);
