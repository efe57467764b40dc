/* Containers joining and leaving networks after they started (network connect/disconnect),
 * and container prune: what `tug network connect` and `tug container prune` do and what
 * tug serve's endpoints for them call. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"
#include "../util/strutil.h"

/* Connect the container what (a name or ID) to network: with aliases (an array or NULL) and
 * the addresses asked for (NULL: the next free ones). A container that does not run takes
 * them when it starts on that network, its primary one (another network is a conflict until
 * it runs); one on host or none is a conflict naming it. */
int tug_container_connect(tug_store *s, const char *what, const char *network, json_t *aliases,
                          const char *ip, const char *ip6, tug_error **err);
/* Take it off network (its primary network too); for one that does not run, drop what a
 * connect recorded for its primary network. */
int tug_container_disconnect(tug_store *s, const char *what, const char *network, tug_error **err);

/* Remove every container that does not run (created, exited, dead) and passes f. *ret_ids gets
 * the removed ones' IDs (NULL-terminated), *ret_reclaimed the bytes their layers held. A
 * container that cannot be removed is skipped; the first such error is returned (-1) after
 * the others went. */
int tug_container_prune(tug_store *s, const tug_prune_filter *f, char ***ret_ids,
                        long long *ret_reclaimed, tug_error **err);

/* Remove every user network no container is on that passes f; *ret_names gets their names
 * (NULL-terminated). The default network stays. */
int tug_network_prune(tug_store *s, const tug_prune_filter *f, char ***ret_names, tug_error **err);
