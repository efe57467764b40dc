/* A client's way to a running container's attach channel (tug attach). Apart from attach.c,
 * which the static monitor links alone. */
#include "attach_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "../util/cleanup.h"

int tug_container_attach(tug_store *s, tug_container *c, tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (strcmp(c->state, TUG_STATE_PAUSED) == 0)
        return tug_error_user(err, "You cannot attach to a paused container, unpause it first");
    if (strcmp(c->state, TUG_STATE_RESTARTING) == 0)
        return tug_error_user(err,
                              "You cannot attach to a restarting container, wait until it is "
                              "running");
    if (strcmp(c->state, TUG_STATE_RUNNING) != 0)
        return tug_error_user(err, "You cannot attach to a stopped container, start it first");
    cleanup_free char *dir = tug_store_run_path(s, "%s", c->id);
    if (dir == NULL)
        return tug_error_set(err, ENOMEM, "attach");
    int fd = tug_attach_connect(dir, err);
    if (fd < 0) {
        /* no monitor answers: it ended a moment ago, or a monitor from before attach existed */
        tug_error_free(*err);
        *err = NULL;
        if (tug_container_refresh(s, c, err) < 0)
            return -1;
        if (strcmp(c->state, TUG_STATE_RUNNING) != 0)
            return tug_error_user(err,
                                  "You cannot attach to a stopped container, start it first");
        return tug_error_set(err, 0, "attach to %.12s: its monitor does not answer (restart the "
                                     "container to attach to it)",
                             c->id);
    }
    return fd;
}
