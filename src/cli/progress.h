/* Pull and push progress as docker shows it: a line per layer, redrawn in place on a terminal. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct pull_view pull_view;

/* header is printed once the image is resolved, before the first layer line. */
pull_view *pull_view_new(bool quiet, const char *header);
void pull_view_free(pull_view *v);
/* Callbacks for tug_pull (userdata is the view). */
void pull_view_layers(void *ud, const char *const *digests, size_t n);
void pull_view_progress(void *ud, const char *digest, const char *status, long long done,
                        long long total);

/* tug_pull of ref with this view ("TAG: Pulling from PATH", a line per layer) and the command
 * line's registry options; image.c. */
struct cli_ctx;
struct tug_store;
struct tug_reference;
struct tug_pull_result;
struct tug_error;
int cli_pull_with_view(struct cli_ctx *ctx, struct tug_store *s, struct tug_reference *ref,
                       bool quiet, const char *platform, struct tug_pull_result *res,
                       struct tug_error **err);
