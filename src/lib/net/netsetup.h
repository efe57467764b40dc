/* A container's network at start: the plan (address, ports) made in the store, the plumbing
 * (bridge, veth, NAT rules) done between clone and exec, and the release after exit. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../store/store.h"
#include "../util/error.h"
#include "firewall.h"

typedef struct tug_net_plan {
    char *owner;          /* container ID */
    char *network;        /* name */
    char *bridge, *gateway;
    bool internal;
    char *host_if, *cidr, *ip, *mac;
    char *cidr6, *gateway6; /* IPv6 on eth0 (NULL: none) and its default route */
    tug_port_rule *rules; /* strings inside point to the plan's own storage */
    size_t n_rules;
    char (*rule_ips)[64];
    int *reserved; /* sockets holding the published host ports */
    size_t n_reserved;
    /* IPv6 host ports: listening sockets the port proxy relays to ip:proxy_ctr_ports[i] */
    int *proxy_fds, *proxy_ctr_ports;
    size_t n_proxy;
} tug_net_plan;

/* Make the plan for container `id` from its HostConfig (NetworkMode, PortBindings,
 * PublishAllPorts) and Config (ExposedPorts): NULL plan for "none" and "host". Writes the
 * container's /etc/hosts and the ports table; a host port in use is a user error naming it and
 * who holds it. */
int tug_net_plan_make(tug_store *s, const char *id, const char *hostname, json_t *config,
                      const char *ctr_dir, tug_net_plan **ret, tug_error **err);
void tug_net_plan_free(tug_net_plan *p);
/* Between clone and exec: bridge (once), veth into pid's namespace, NAT rules. */
int tug_net_plumb(const tug_net_plan *p, pid_t pid, tug_error **err);
/* After the container ended (or failed to start): rules, ports and addresses go. */
void tug_net_release(tug_store *s, const char *id);
/* Published ports of a container as docker's NetworkSettings.Ports object. */
json_t *tug_net_ports_json(tug_store *s, const char *id);
/* The container's address on each network: {"name": {"IPAddress":...}, ...}. */
json_t *tug_net_endpoints_json(tug_store *s, const char *id);
/* Find (and with repair, remove) what dead containers left in the network: veth links, NAT
 * rules, addresses and ports. Appends one line per finding to *details; returns the count. */
int tug_net_check(tug_store *s, bool repair, char **details, tug_error **err);
/* Attach a running container (init pid) to another network: an address, ethN, its name in
 * the network's hosts files. */
int tug_net_connect(tug_store *s, const char *id, pid_t pid, const char *network,
                    json_t *aliases, const char *ip, tug_error **err);
/* The same with an IPv6 address asked for (ip6, NULL: the next free one on an IPv6 network). */
int tug_net_connect6(tug_store *s, const char *id, pid_t pid, const char *network,
                     json_t *aliases, const char *ip, const char *ip6, tug_error **err);
/* Detach it: the interface and the address go. primary: the network it started on. */
int tug_net_disconnect(tug_store *s, const char *id, const char *network, bool primary,
                       tug_error **err);
