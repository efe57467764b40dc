/* Networks in the store: the default bridge, user networks, addresses (IPAM) and ports. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"

#define TUG_DEFAULT_NETWORK "bridge"
#define TUG_DEFAULT_BRIDGE "tug0"

typedef struct tug_network {
    char *id, *name, *driver, *bridge, *subnet, *gateway;
    /* IPv6: the subnet (NULL: none) and its gateway (the subnet's first address unless one was
     * given: gateway6_given); containers get an address in it only when ipv6 is on. */
    char *subnet6, *gateway6;
    bool ipv6, gateway6_given;
    bool internal;
    long long created;
    json_t *labels;
} tug_network;

void tug_network_free(tug_network *n);
void tug_network_freep(tug_network **n);
#define cleanup_network __attribute__((cleanup(tug_network_freep)))

/* The default "bridge" network, recorded on first use with a subnet no route on this host
 * uses yet. */
int tug_network_default(tug_store *s, tug_network **ret, tug_error **err);
/* subnet/gateway NULL: chosen. User errors for a taken name, a malformed or overlapping subnet. */
/* Every bridge tug makes carries "tug store <root>" as its alias, so that `system check` can
 * tell a bridge whose network or store is gone from another store's. */
#define TUG_BRIDGE_ALIAS_PREFIX "tug store "
void tug_network_owner_alias(tug_store *s, char *buf, size_t size);
/* Take a bridge and its firewall rules away (best effort: either may be gone already). */
void tug_network_bridge_down(const char *bridge);
/* Bring the network's bridge and rules up when they are not (the default network's first
 * container; every network after a reboot). */
int tug_network_up(tug_store *s, tug_network *n, tug_error **err);
int tug_network_create(tug_store *s, const char *name, const char *subnet, const char *gateway,
                       bool internal, json_t *labels, tug_network **ret, tug_error **err);
/* What `network create` can ask for; NULL strings: chosen (IPv4) or none (IPv6). */
typedef struct tug_network_opts {
    const char *subnet, *gateway;   /* IPv4 */
    const char *subnet6, *gateway6; /* IPv6 */
    bool ipv6, internal;
    json_t *labels;
} tug_network_opts;
/* As tug_network_create, with IPv6: ipv6 without subnet6 is a user error (there is no pool of
 * IPv6 subnets to choose from, as in docker 20.10). */
int tug_network_create_opts(tug_store *s, const char *name, const tug_network_opts *o,
                            tug_network **ret, tug_error **err);
/* An IPv6 "addr/len" (len 1 to 126) as its network address: ret "fd00:1::/64". false when
 * malformed. */
bool tug_subnet6_normalize(const char *subnet, char *ret, size_t size);
int tug_network_find(tug_store *s, const char *name_or_id, tug_network **ret, tug_error **err);
int tug_network_list(tug_store *s, tug_network ***ret, size_t *ret_n, tug_error **err);
void tug_networks_free(tug_network **v, size_t n);
/* Containers (names) with an endpoint on the network. */
int tug_network_users(tug_store *s, const tug_network *n, char ***ret_names, tug_error **err);
/* Remove the record (the caller removes the bridge and rules). Refuses while containers use it. */
int tug_network_remove(tug_store *s, const tug_network *n, tug_error **err);

typedef struct tug_endpoint {
    char *network_id, *ip, *mac;
    char *ip6; /* NULL: the network has no IPv6 */
    json_t *aliases;
} tug_endpoint;

/* Give container an address on the network: want_ip (NULL: the next free one), and on a network
 * with IPv6 an IPv6 address too: want_ip6 (NULL: the next free one; given on a network without
 * IPv6, a user error). */
int tug_ipam_allocate(tug_store *s, tug_network *n, const char *container_id,
                      const char *want_ip, const char *want_ip6, json_t *aliases,
                      tug_endpoint *ret, tug_error **err);
/* Release every address of a container. */
/* Record "disconnect" events for the container's endpoints (on network_id, NULL: all) about
 * to be removed. */
void tug_net_disconnected(tug_store *s, const char *container_id, const char *network_id);
int tug_ipam_release(tug_store *s, const char *container_id, tug_error **err);
void tug_endpoint_clear(tug_endpoint *e);
/* The prefix length of a subnet "a.b.c.d/len". */
int tug_subnet_prefix(const char *subnet);
/* docker's network ls filters "key=value": name= (a part of the name), id= (a prefix),
 * driver=, label= (key or key=value), type=builtin|custom, scope=local. Values of one key are
 * or-ed, keys are and-ed; every label filter must hold. */
bool tug_network_filter_valid(const char *filter);
bool tug_network_filter_match(const char *const *filters, size_t nf, const char *id,
                              const char *name, const char *driver, json_t *labels, bool builtin);
/* The network as docker's `network inspect` shows it, with its containers' endpoints. */
json_t *tug_network_inspect_json(tug_store *s, const tug_network *n);
