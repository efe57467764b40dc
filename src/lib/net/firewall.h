/* tug's firewall rules: its own nftables table, beside docker's rules on the same host. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

typedef struct tug_port_rule {
    const char *proto;     /* "tcp" or "udp" */
    const char *host_ip;   /* "0.0.0.0" for every address, or one address ("127.0.0.1") */
    int host_port;
    const char *ctr_ip;
    int ctr_port;
} tug_port_rule;

/* Outbound NAT (masquerade) for subnet leaving through anything but bridge, and forwarding
 * accepted to and from bridge (also where docker's FORWARD policy is DROP). internal: no
 * masquerade and no forwarding out of the bridge. Idempotent. */
int tug_fw_network_add(const char *bridge, const char *subnet, bool internal, tug_error **err);
int tug_fw_network_remove(const char *bridge, const char *subnet, tug_error **err);
/* Publish ports of container `owner` (its ID): DNAT from the host's addresses, including
 * 127.0.0.1 (which needs route_localnet on the bridge and masquerade of loopback sources), to
 * the container. All rules carry owner so they can be removed together. */
int tug_fw_ports_add(const char *owner, const char *bridge, const tug_port_rule *rules, size_t n,
                     tug_error **err);
/* Remove every rule of owner; none is success. */
int tug_fw_ports_remove(const char *owner, tug_error **err);
/* Owners that have rules now (for cleanup of crashed containers); NULL-terminated. */
int tug_fw_owners(char ***ret_owners, tug_error **err);
/* Bridges that are gone but still have rules: tug's own network rules, and the ACCEPT rules
 * (comment "tug") it put into docker's DOCKER-USER or FORWARD chain; docker's rules are never
 * touched. With remove, those rules go. NULL-terminated. */
int tug_fw_stale_bridges(bool remove, char ***ret_bridges, tug_error **err);
