/* A client's way to a running container's attach channel. */
#pragma once
#include "container.h"

/* Connect to the attach channel of c's monitor: output from now on, input, the exit code (see
 * attach.h). Docker's user errors for a container that is paused, restarting or not running. */
int tug_container_attach(tug_store *s, tug_container *c, tug_error **err);
