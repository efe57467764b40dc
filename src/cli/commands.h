/* Every command's entry point. */
#pragma once
#include "cli.h"

int cmd_pull(cli_ctx *ctx, int argc, char **argv);
int cmd_login(cli_ctx *ctx, int argc, char **argv);
int cmd_logout(cli_ctx *ctx, int argc, char **argv);
int cmd_push(cli_ctx *ctx, int argc, char **argv);
int cmd_build(cli_ctx *ctx, int argc, char **argv);
int cmd_builder_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_images(cli_ctx *ctx, int argc, char **argv);
int cmd_rmi(cli_ctx *ctx, int argc, char **argv);
int cmd_tag(cli_ctx *ctx, int argc, char **argv);
int cmd_history(cli_ctx *ctx, int argc, char **argv);
int cmd_image_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_save(cli_ctx *ctx, int argc, char **argv);
int cmd_load(cli_ctx *ctx, int argc, char **argv);
int cmd_image_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_system_df(cli_ctx *ctx, int argc, char **argv);
int cmd_system_check(cli_ctx *ctx, int argc, char **argv);
int cmd_system_migrate(cli_ctx *ctx, int argc, char **argv);
int cmd_version(cli_ctx *ctx, int argc, char **argv);
int cmd_info(cli_ctx *ctx, int argc, char **argv);
int cmd_events(cli_ctx *ctx, int argc, char **argv);
int cmd_system_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_search(cli_ctx *ctx, int argc, char **argv);
int cmd_run(cli_ctx *ctx, int argc, char **argv);
int cmd_create(cli_ctx *ctx, int argc, char **argv);
int cmd_start(cli_ctx *ctx, int argc, char **argv);
int cmd_attach(cli_ctx *ctx, int argc, char **argv);
int cmd_stop(cli_ctx *ctx, int argc, char **argv);
int cmd_restart(cli_ctx *ctx, int argc, char **argv);
int cmd_kill(cli_ctx *ctx, int argc, char **argv);
int cmd_rm(cli_ctx *ctx, int argc, char **argv);
int cmd_wait(cli_ctx *ctx, int argc, char **argv);
int cmd_rename(cli_ctx *ctx, int argc, char **argv);
int cmd_pause(cli_ctx *ctx, int argc, char **argv);
int cmd_unpause(cli_ctx *ctx, int argc, char **argv);
int cmd_container_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_container_finish(cli_ctx *ctx, int argc, char **argv);
int cmd_container_health(cli_ctx *ctx, int argc, char **argv);
int cmd_top(cli_ctx *ctx, int argc, char **argv);
int cmd_ps(cli_ctx *ctx, int argc, char **argv);
int cmd_logs(cli_ctx *ctx, int argc, char **argv);
int cmd_container_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_exec(cli_ctx *ctx, int argc, char **argv);
int cmd_network(cli_ctx *ctx, int argc, char **argv);
int cmd_volume(cli_ctx *ctx, int argc, char **argv);
int cmd_port(cli_ctx *ctx, int argc, char **argv);
int cmd_commit(cli_ctx *ctx, int argc, char **argv);
int cmd_diff(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cmd_update(cli_ctx *ctx, int argc, char **argv);
int cmd_cp(cli_ctx *ctx, int argc, char **argv);
int cmd_serve(cli_ctx *ctx, int argc, char **argv);

/* ps's row of a container (ps.c), which system df -v shows too. */
struct tug_container;
json_t *ps_row(tug_store *s, struct tug_container *c, bool no_trunc, bool size);
