/* Links, addresses and routes over rtnetlink (no exec of `ip`). */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "../util/error.h"

/* Create the bridge if missing, make cidr ("172.30.0.1/16", IPv4) its one IPv4 address (others
 * are removed), and bring it up; alias (when not NULL) names its owner in the link's alias.
 * *ret_changed (may be NULL): it was created or readdressed. Idempotent; safe when two
 * processes race to create it. */
int tug_nl_bridge_ensure(const char *name, const char *cidr, const char *alias, bool *ret_changed,
                         tug_error **err);
/* IPv6 on the bridge: IPv6 turned on for it and cidr6 ("fd00:1::1/64") added (without
 * duplicate address detection), beside the addresses it has. Idempotent. */
int tug_nl_bridge_ensure6(const char *name, const char *cidr6, tug_error **err);
/* IPv6 on ctr_if in the network namespace of netns_pid (after tug_nl_veth_setup): IPv6 and
 * no DAD for the interface, cidr6 as its address, a default route via gateway6 (NULL: none). */
int tug_nl_addr6_setup(pid_t netns_pid, const char *ctr_if, const char *cidr6,
                       const char *gateway6, tug_error **err);
/* The link's alias ("" when it has none). */
int tug_nl_link_alias(const char *ifname, char **ret_alias, tug_error **err);
/* Create a veth pair: host_if stays in the caller's namespace, enslaved to bridge and up; peer
 * goes into the network namespace of netns_pid, renamed to ctr_if (e.g. "eth0"), given cidr and
 * mac (NULL: kernel's), brought up together with lo, with a default route via gateway (NULL:
 * none, e.g. an --internal network without one). */
int tug_nl_veth_setup(const char *host_if, const char *bridge, pid_t netns_pid,
                      const char *ctr_if, const char *cidr, const char *mac, const char *gateway,
                      tug_error **err);
/* Delete a link; a missing one is success. */
int tug_nl_link_delete(const char *ifname, tug_error **err);
bool tug_nl_link_exists(const char *ifname);
/* Names of links whose name starts with prefix (e.g. "tugv"), for cleanup; NULL-terminated. */
int tug_nl_links_with_prefix(const char *prefix, char ***ret_names, tug_error **err);
