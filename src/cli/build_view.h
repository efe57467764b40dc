/* A build's progress on the terminal: BuildKit's plain lines (logs, CI), or its live view. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "build/build.h"

typedef struct build_view build_view;

/* tty: the view redrawn in place (out must be a terminal); otherwise plain lines. */
build_view *build_view_new(bool tty, FILE *out);
/* The events to give tug_build; they draw on the view. */
tug_build_events build_view_events(build_view *v);
/* The last drawing (FINISHED or FAILED when ok is false), then free. NULL is fine. */
void build_view_free(build_view *v, bool ok);
