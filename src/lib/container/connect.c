/* network connect/disconnect of a container, and container prune. */
#include "connect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../net/netsetup.h"
#include "../net/network.h"
#include "../runtime/container.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "system.h"

/* The container and the network it starts on ("bridge" for the default); *ret_running tells
 * whether it runs. One on host or none is a conflict. */
static int container_on(tug_store *s, const char *what, tug_container **ret,
                        const char **ret_primary, bool *ret_running, tug_error **err)
{
    cleanup_container tug_container *ct = NULL;
    if (tug_container_find(s, what, &ct, err) < 0 || tug_container_refresh(s, ct, err) < 0)
        return -1;
    const char *mode = json_string_value(
        json_object_get(json_object_get(ct->config, "HostConfig"), "NetworkMode"));
    const char *primary = mode == NULL || strcmp(mode, "default") == 0 ? "bridge" : mode;
    if (strcmp(primary, "host") == 0 || strcmp(primary, "none") == 0)
        return tug_error_conflict(err,
                                  "container %s is on the %s network and cannot be "
                                  "connected to others",
                                  what, primary);
    *ret_running = tug_container_alive(ct);
    *ret_primary = primary;
    *ret = steal_pointer(&ct);
    return 0;
}

/* A container that does not run joins its network when it starts, with the aliases and
 * addresses its create request's EndpointsConfig gives for it: connecting it to that network
 * records them there (docker-compose disconnects and connects each container it created, to
 * give it its aliases), disconnecting drops them. Other networks join running containers
 * only. */
static int endpoint_config(tug_store *s, tug_container *ct, const char *primary,
                           const char *what, const char *network, bool connect, json_t *aliases,
                           const char *ip, const char *ip6, tug_error **err)
{
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, network, &n, err) < 0)
        return -1;
    if (strcmp(n->name, primary) != 0)
        return connect ? tug_error_conflict(err,
                                            "container %s is not running: tug connects it to "
                                            "networks other than %s once it runs",
                                            what, primary)
                       : tug_error_conflict(err, "container %s is not connected to network %s",
                                            what, network);
    json_t *nc = json_object_get(ct->config, "NetworkingConfig");
    if (!json_is_object(nc)) {
        nc = json_object();
        json_object_set_new(ct->config, "NetworkingConfig", nc);
    }
    json_t *epcs = json_object_get(nc, "EndpointsConfig");
    if (!json_is_object(epcs)) {
        epcs = json_object();
        json_object_set_new(nc, "EndpointsConfig", epcs);
    }
    json_object_del(epcs, network);
    json_object_del(epcs, n->name);
    if (connect) {
        json_t *ep = json_object(), *ipam = json_object();
        if (json_is_array(aliases) && json_array_size(aliases) > 0)
            json_object_set(ep, "Aliases", aliases);
        if (ip && *ip)
            json_object_set_new(ipam, "IPv4Address", json_string(ip));
        if (ip6 && *ip6)
            json_object_set_new(ipam, "IPv6Address", json_string(ip6));
        if (json_object_size(ipam) > 0)
            json_object_set(ep, "IPAMConfig", ipam);
        json_decref(ipam);
        json_object_set_new(epcs, n->name, ep);
    }
    return tug_container_save_config(s, ct, err);
}

int tug_container_connect(tug_store *s, const char *what, const char *network, json_t *aliases,
                          const char *ip, const char *ip6, tug_error **err)
{
    cleanup_container tug_container *ct = NULL;
    const char *primary;
    bool running;
    if (container_on(s, what, &ct, &primary, &running, err) < 0)
        return -1;
    if (!running)
        return endpoint_config(s, ct, primary, what, network, true, aliases, ip, ip6, err);
    return tug_net_connect6(s, ct->id, ct->pid, network, aliases, ip, ip6, err);
}

int tug_container_disconnect(tug_store *s, const char *what, const char *network, tug_error **err)
{
    cleanup_container tug_container *ct = NULL;
    const char *primary;
    bool running;
    if (container_on(s, what, &ct, &primary, &running, err) < 0)
        return -1;
    if (!running)
        return endpoint_config(s, ct, primary, what, network, false, NULL, NULL, NULL, err);
    cleanup_network tug_network *n = NULL;
    bool is_primary = false;
    tug_error *e = NULL;
    if (tug_network_find(s, network, &n, &e) == 0)
        is_primary = strcmp(n->name, primary) == 0;
    else
        tug_error_free(e);
    return tug_net_disconnect(s, ct->id, network, is_primary, err);
}

int tug_container_prune(tug_store *s, const tug_prune_filter *f, char ***ret_ids,
                        long long *ret_reclaimed, tug_error **err)
{
    tug_container **v = NULL;
    size_t n = 0;
    if (tug_container_list(s, &v, &n, err) < 0)
        return -1;
    char **ids = calloc(n + 1, sizeof(*ids));
    if (ids == NULL) {
        tug_containers_free(v, n);
        return tug_error_set(err, ENOMEM, "container prune");
    }
    size_t k = 0;
    long long reclaimed = 0;
    tug_error *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->state, TUG_STATE_EXITED) != 0 &&
            strcmp(v[i]->state, TUG_STATE_CREATED) != 0 && strcmp(v[i]->state, TUG_STATE_DEAD) != 0)
            continue;
        json_t *labels = json_object_get(json_object_get(v[i]->config, "Config"), "Labels");
        if (!tug_prune_match(f, labels, v[i]->created_ns / 1000000000LL))
            continue;
        long long rw = 0, rootfs = 0;
        tug_container_disk_size(s, v[i], &rw, &rootfs, NULL);
        tug_error *e = NULL;
        if (tug_container_remove(s, v[i], &e) < 0) {
            if (first == NULL)
                first = e;
            else
                tug_error_free(e);
            continue;
        }
        ids[k++] = strdup(v[i]->id);
        reclaimed += rw;
    }
    tug_containers_free(v, n);
    *ret_ids = ids;
    *ret_reclaimed = reclaimed;
    if (first) {
        *err = first;
        return -1;
    }
    return 0;
}

int tug_network_prune(tug_store *s, const tug_prune_filter *f, char ***ret_names, tug_error **err)
{
    tug_network **v = NULL;
    size_t n = 0;
    if (tug_network_list(s, &v, &n, err) < 0)
        return -1;
    char **names = calloc(n + 1, sizeof(*names));
    if (names == NULL) {
        tug_networks_free(v, n);
        return tug_error_set(err, ENOMEM, "network prune");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->name, TUG_DEFAULT_NETWORK) == 0 ||
            !tug_prune_match(f, v[i]->labels, v[i]->created))
            continue;
        /* a network a container is on refuses to go: that is what keeps it */
        tug_error *e = NULL;
        if (tug_network_remove(s, v[i], &e) < 0) {
            tug_error_free(e);
            continue;
        }
        names[k++] = strdup(v[i]->name);
    }
    tug_networks_free(v, n);
    *ret_names = names;
    return 0;
}
