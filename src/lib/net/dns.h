/* Name resolution for containers: their resolv.conf, and on user networks one resolver per
 * network (tug-dns, src/dns/resolver.c) on the network's gateway address, which lives while a
 * container is on the network. See docs/networking.md. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"
#include "network.h"

/* The host's resolv.conf: $TUG_HOST_RESOLV_CONF (for tests), else /etc/resolv.conf. */
const char *tug_dns_host_resolv_conf(void);
/* A container's resolv.conf from its HostConfig (Dns, DnsSearch, DnsOptions) and the host's.
 * nameserver: the network's resolver (user networks), or NULL for the host's resolvers without
 * the loopback ones (docker's rules: none left means Google's public ones). */
char *tug_dns_resolv_conf(json_t *hc, const char *nameserver);
/* Rewrite the names every resolver reads (the endpoints of all user networks). */
void tug_dns_names_write(tug_store *s);
/* A container on user network n: its resolv.conf points at the network's resolver, which is
 * started if it is not running (first container, or after it was killed). */
int tug_dns_container_setup(tug_store *s, const tug_network *n, json_t *hc, const char *ctr_dir,
                            tug_error **err);
/* An --add-host entry "name:ip" (or docker's "name=ip", ip perhaps in brackets): its parts,
 * host-gateway resolved to host_gateway (NULL: entry skipped). false when malformed. */
bool tug_dns_extra_host(const char *entry, const char *host_gateway, char *name, size_t nsize,
                        char *ip, size_t isize);
/* --link TARGET[:ALIAS], checked at create: the target exists; kept as "name:alias" with the
 * target's own name. */
int tug_dns_links_check(tug_store *s, json_t *hc, tug_error **err);
/* The links as docker shows them: "/target:/self/alias". A new reference. */
json_t *tug_dns_links_json(json_t *links, const char *self);
/* /etc/hosts lines of a container's links to running containers: "ip\talias shortid name\n"
 * each. NULL when there are none. */
char *tug_dns_link_hosts(tug_store *s, json_t *hc);
