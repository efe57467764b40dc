#include "network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../store/db.h"
#include "../store/events.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/strutil.h"
#include "firewall.h"
#include "netlink.h"

void tug_network_free(tug_network *n)
{
    if (n == NULL)
        return;
    free(n->id);
    free(n->name);
    free(n->driver);
    free(n->bridge);
    free(n->subnet);
    free(n->gateway);
    free(n->subnet6);
    free(n->gateway6);
    json_decref(n->labels);
    free(n);
}

void tug_network_freep(tug_network **n)
{
    tug_network_free(*n);
}

void tug_networks_free(tug_network **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        tug_network_free(v[i]);
    free(v);
}

void tug_endpoint_clear(tug_endpoint *e)
{
    free(e->network_id);
    free(e->ip);
    free(e->mac);
    free(e->ip6);
    json_decref(e->aliases);
    memset(e, 0, sizeof(*e));
}

/* "addr/len" of family with len in [min, max]: the address (not masked) into ret_addr. */
static int split_cidr(int family, const char *s, int min, int max, void *ret_addr, int *ret_len)
{
    char buf[80];
    if (s == NULL || strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    char *end;
    long len = strtol(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end || len < min || len > max ||
        inet_pton(family, buf, ret_addr) != 1)
        return -1;
    *ret_len = (int)len;
    return 0;
}

static int parse_cidr(const char *s, uint32_t *ret_net, int *ret_len)
{
    struct in_addr a;
    int len;
    if (split_cidr(AF_INET, s, 8, 30, &a, &len) < 0)
        return -1;
    uint32_t mask = len ? 0xffffffffu << (32 - len) : 0;
    *ret_net = ntohl(a.s_addr) & mask;
    *ret_len = len;
    return 0;
}

int tug_subnet_prefix(const char *subnet)
{
    uint32_t net;
    int len;
    return parse_cidr(subnet, &net, &len) < 0 ? -1 : len;
}

/* ---- IPv6 ---- */

static int parse_cidr6(const char *s, struct in6_addr *ret_net, int *ret_len)
{
    struct in6_addr a;
    int len;
    if (split_cidr(AF_INET6, s, 1, 126, &a, &len) < 0)
        return -1;
    for (int i = 0; i < 16; i++) {
        int bits = len - 8 * i;
        a.s6_addr[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
    }
    *ret_net = a;
    *ret_len = len;
    return 0;
}

bool tug_subnet6_normalize(const char *subnet, char *ret, size_t size)
{
    struct in6_addr net;
    int len;
    char ip[INET6_ADDRSTRLEN];
    if (parse_cidr6(subnet, &net, &len) < 0 || inet_ntop(AF_INET6, &net, ip, sizeof(ip)) == NULL)
        return false;
    return snprintf(ret, size, "%s/%d", ip, len) < (int)size;
}

static int subnet6_prefix(const char *subnet)
{
    struct in6_addr net;
    int len;
    return parse_cidr6(subnet, &net, &len) < 0 ? -1 : len;
}

/* Do the first min(l1, l2) bits of a and b agree? */
static bool overlaps6(const struct in6_addr *a, int l1, const struct in6_addr *b, int l2)
{
    int l = l1 < l2 ? l1 : l2;
    for (int i = 0; i < 16 && l > 0; i++, l -= 8) {
        unsigned char mask = l >= 8 ? 0xff : (unsigned char)(0xff << (8 - l));
        if ((a->s6_addr[i] & mask) != (b->s6_addr[i] & mask))
            return false;
    }
    return true;
}

/* net + k (k small: the host part of a /64 or wider never carries into the prefix). */
static struct in6_addr addr6_plus(const struct in6_addr *net, uint32_t k)
{
    struct in6_addr a = *net;
    uint64_t carry = k;
    for (int i = 15; i >= 0 && carry; i--) {
        carry += a.s6_addr[i];
        a.s6_addr[i] = (unsigned char)carry;
        carry >>= 8;
    }
    return a;
}

/* Does the IPv6 subnet overlap a route of this host (its LAN, docker's bridges)? Link-local,
 * multicast and the default route do not count. */
static bool route6_overlaps(const struct in6_addr *net, int len)
{
    cleanup_fclose FILE *f = fopen("/proc/net/ipv6_route", "re");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        char hex[33], ifn[32];
        unsigned plen;
        if (sscanf(line, "%32s %x %*s %*s %*s %*s %*s %*s %*s %31s", hex, &plen, ifn) != 3 ||
            plen == 0 || strcmp(ifn, "lo") == 0)
            continue;
        struct in6_addr r = {0};
        bool ok = strlen(hex) == 32;
        for (int i = 0; ok && i < 16; i++) {
            unsigned b;
            ok = sscanf(hex + 2 * i, "%2x", &b) == 1;
            r.s6_addr[i] = (unsigned char)b;
        }
        if (!ok || r.s6_addr[0] == 0xff || (r.s6_addr[0] == 0xfe && (r.s6_addr[1] & 0xc0) == 0x80))
            continue;
        if (overlaps6(net, len, &r, (int)plen))
            return true;
    }
    return false;
}

static bool subnet6_taken(tug_store *s, const struct in6_addr *net, int len)
{
    if (route6_overlaps(net, len))
        return true;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT subnet6 FROM networks WHERE subnet6 IS NOT NULL", NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct in6_addr n2;
        int l2;
        if (parse_cidr6((const char *)sqlite3_column_text(st, 0), &n2, &l2) == 0 &&
            overlaps6(net, len, &n2, l2))
            return true;
    }
    return false;
}

/* The IPv6 subnet of a new network, checked and normalized into sub, and its gateway into gw:
 * gateway6, or the subnet's first address when it is NULL. */
static int pick_subnet6(tug_store *s, const char *subnet6, const char *gateway6, char *sub,
                        size_t ssize, char *gw, size_t gsize, tug_error **err)
{
    struct in6_addr net;
    int len;
    if (parse_cidr6(subnet6, &net, &len) < 0)
        return tug_error_user(err, "invalid subnet %s: use an IPv6 prefix such as fd00:1::/64 "
                                   "(/1 to /126)",
                              subnet6);
    if (subnet6_taken(s, &net, len))
        return tug_error_user(err, "subnet %s overlaps a route of this host or another "
                                   "network: choose another --subnet",
                              subnet6);
    tug_subnet6_normalize(subnet6, sub, ssize);
    struct in6_addr g;
    if (gateway6) {
        if (inet_pton(AF_INET6, gateway6, &g) != 1 || !overlaps6(&g, 128, &net, len) ||
            memcmp(&g, &net, sizeof(g)) == 0)
            return tug_error_user(err, "no matching subnet for gateway %s: it must be an "
                                       "address in %s",
                                  gateway6, sub);
    } else {
        g = addr6_plus(&net, 1);
    }
    inet_ntop(AF_INET6, &g, gw, (socklen_t)gsize);
    return 0;
}

static void ip_string(uint32_t ip, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(ip)};
    inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

static bool overlaps(uint32_t n1, int l1, uint32_t n2, int l2)
{
    int l = l1 < l2 ? l1 : l2;
    uint32_t mask = l ? 0xffffffffu << (32 - l) : 0;
    return (n1 & mask) == (n2 & mask);
}

/* Does the subnet overlap a route of this host (docker's bridge, the LAN...) on a device other
 * than skip_if? */
static bool route_overlaps(uint32_t net, int len, const char *skip_if)
{
    cleanup_fclose FILE *f = fopen("/proc/net/route", "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        char ifn[32];
        unsigned dst, gw, flags, mask;
        if (sscanf(line, "%31s %x %x %x %*d %*d %*d %x", ifn, &dst, &gw, &flags, &mask) != 5)
            continue;
        if (mask == 0)
            continue; /* the default route overlaps everything */
        if (skip_if && strcmp(ifn, skip_if) == 0)
            continue;
        uint32_t rnet = ntohl(dst), rmask = ntohl(mask);
        if (overlaps(net, len, rnet, __builtin_popcount(rmask)))
            return true;
    }
    return false;
}

/* Does the subnet overlap a route of this host or a network of the store? */
static bool subnet_taken(tug_store *s, uint32_t net, int len)
{
    if (route_overlaps(net, len, NULL))
        return true;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "SELECT subnet FROM networks", NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        uint32_t n2;
        int l2;
        if (parse_cidr((const char *)sqlite3_column_text(st, 0), &n2, &l2) == 0 &&
            overlaps(net, len, n2, l2))
            return true;
    }
    return false;
}

static int pick_subnet(tug_store *s, char *buf, size_t size, tug_error **err)
{
    /* Stores other than the default one (tests, --root) are many and small: /24s out of
     * 10.200-250/16, so that they never run out of the few /16s. */
    if (strcmp(s->root, "/var/lib/tug") != 0) {
        for (int b = 200; b <= 250; b++)
            for (int c = 0; c < 256; c++) {
                uint32_t net = (10u << 24) | ((uint32_t)b << 16) | ((uint32_t)c << 8);
                if (!subnet_taken(s, net, 24)) {
                    snprintf(buf, size, "10.%d.%d.0/24", b, c);
                    return 0;
                }
            }
    }
    /* 172.30/16 downwards (docker starts at 172.17 upwards), then 10.200-250/16 */
    for (int b = 30; b >= 18; b--) {
        uint32_t net = (172u << 24) | ((uint32_t)b << 16);
        if (!subnet_taken(s, net, 16)) {
            snprintf(buf, size, "172.%d.0.0/16", b);
            return 0;
        }
    }
    for (int b = 200; b <= 250; b++) {
        uint32_t net = (10u << 24) | ((uint32_t)b << 16);
        if (!subnet_taken(s, net, 16)) {
            snprintf(buf, size, "10.%d.0.0/16", b);
            return 0;
        }
    }
    return tug_error_user(err, "no free private subnet left for a network: give one with "
                               "--subnet");
}

static tug_network *from_row(sqlite3_stmt *st)
{
    tug_network *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->id = tug_db_col_text(st, 0);
    n->name = tug_db_col_text(st, 1);
    n->driver = tug_db_col_text(st, 2);
    n->bridge = tug_db_col_text(st, 3);
    n->subnet = tug_db_col_text(st, 4);
    n->gateway = tug_db_col_text(st, 5);
    n->internal = sqlite3_column_int(st, 6) != 0;
    n->created = sqlite3_column_int64(st, 7);
    const char *l = (const char *)sqlite3_column_text(st, 8);
    n->labels = l ? json_loads(l, 0, NULL) : NULL;
    if (n->labels == NULL)
        n->labels = json_object();
    n->subnet6 = tug_db_col_text(st, 9);
    n->gateway6 = tug_db_col_text(st, 10);
    n->gateway6_given = n->gateway6 != NULL;
    n->ipv6 = sqlite3_column_int(st, 11) != 0 && n->subnet6 != NULL;
    if (n->subnet6 && n->gateway6 == NULL) {
        struct in6_addr net;
        int len;
        char gw[INET6_ADDRSTRLEN];
        if (parse_cidr6(n->subnet6, &net, &len) == 0) {
            struct in6_addr g = addr6_plus(&net, 1);
            if (inet_ntop(AF_INET6, &g, gw, sizeof(gw)))
                n->gateway6 = strdup(gw);
        }
    }
    return n;
}

#define NET_COLS                                                                             \
    "id, name, driver, bridge, subnet, gateway, internal, created, labels, subnet6, gateway6, " \
    "enable_ipv6"

static int insert_network(tug_store *s, const char *name, const char *bridge,
                          const char *subnet, const char *gateway, const char *subnet6,
                          const char *gateway6, const tug_network_opts *o, const char *id,
                          tug_error **err)
{
    bool internal = o->internal;
    json_t *labels = o->labels;
    cleanup_free char *lab = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT INTO networks(" NET_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    BIND_TEXT(st, 2, name);
    BIND_TEXT(st, 3, "bridge");
    BIND_TEXT(st, 4, bridge);
    BIND_TEXT(st, 5, subnet);
    BIND_TEXT(st, 6, gateway);
    sqlite3_bind_int(st, 7, internal);
    sqlite3_bind_int64(st, 8, (long long)time(NULL));
    BIND_TEXT(st, 9, lab ? lab : "{}");
    if (subnet6)
        BIND_TEXT(st, 10, subnet6);
    if (gateway6)
        BIND_TEXT(st, 11, gateway6);
    sqlite3_bind_int(st, 12, o->ipv6);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT)
        return tug_error_conflict(err, "network with name %s already exists", name);
    if (rc != SQLITE_DONE)
        return tug_error_set(err, 0, "record network %s: %s", name, sqlite3_errmsg(s->db));
    return 0;
}

void tug_network_owner_alias(tug_store *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", TUG_BRIDGE_ALIAS_PREFIX, s->root);
}

/* Bring the bridge up with the record's address, and its rules when it was not up so (fresh
 * rules: the old address's masquerade goes); the bridge's alias names the store. */
static int bridge_up(tug_store *s, const char *bridge, const char *subnet, const char *gateway,
                     bool internal, const char *subnet6, const char *gateway6, tug_error **err)
{
    char bcidr[80], alias[256]; /* the kernel's IFALIASZ */
    snprintf(bcidr, sizeof(bcidr), "%s/%d", gateway, tug_subnet_prefix(subnet));
    tug_network_owner_alias(s, alias, sizeof(alias));
    bool changed = false;
    if (tug_nl_bridge_ensure(bridge, bcidr, alias, &changed, err) < 0 ||
        (changed && tug_fw_network_add(bridge, subnet, internal, err) < 0))
        return -1;
    if (subnet6 && gateway6) {
        char cidr6[96];
        snprintf(cidr6, sizeof(cidr6), "%s/%d", gateway6, subnet6_prefix(subnet6));
        if (tug_nl_bridge_ensure6(bridge, cidr6, err) < 0)
            return -1;
    }
    return 0;
}

void tug_network_bridge_down(const char *bridge)
{
    tug_error *e = NULL;
    tug_fw_network_remove(bridge, NULL, &e);
    tug_error_freep(&e);
    tug_nl_link_delete(bridge, &e);
    tug_error_free(e);
}

/* bring_up: false for the implicit default network, which comes up with its first container,
 * so that listing networks on a new store leaves the host as it was. */
static int network_create(tug_store *s, const char *name, const tug_network_opts *o,
                          bool bring_up, tug_network **ret, tug_error **err)
{
    const char *subnet = o->subnet, *gateway = o->gateway;
    bool internal = o->internal;
    if (strcmp(name, "host") == 0 || strcmp(name, "none") == 0)
        return tug_error_user(err, "%s is a pre-defined network and cannot be created", name);
    if (o->ipv6 && o->subnet6 == NULL)
        return tug_error_user(err, "could not find an available, non-overlapping IPv6 address "
                                   "pool among the defaults to assign to the network: give one "
                                   "with --subnet (e.g. fd00:1::/64)");
    if (o->gateway6 && o->subnet6 == NULL)
        return tug_error_user(err, "no matching subnet for gateway %s: give its IPv6 subnet "
                                   "with --subnet",
                              o->gateway6);
    char sub[64], gw[64], sub6[INET6_ADDRSTRLEN + 8] = "", gw6[INET6_ADDRSTRLEN] = "";
    uint32_t net;
    int len;
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (subnet) {
        if (parse_cidr(subnet, &net, &len) < 0) {
            tug_store_rollback(s);
            return tug_error_user(err, "invalid subnet %s: use a.b.c.d/len (IPv4, /8 to /30)",
                                  subnet);
        }
        if (subnet_taken(s, net, len)) {
            tug_store_rollback(s);
            return tug_error_user(err, "subnet %s overlaps a route of this host or another "
                                       "network: choose another --subnet",
                                  subnet);
        }
        char ip[32];
        ip_string(net, ip, sizeof(ip));
        snprintf(sub, sizeof(sub), "%s/%d", ip, len);
    } else if (pick_subnet(s, sub, sizeof(sub), err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    if (o->subnet6 && pick_subnet6(s, o->subnet6, o->gateway6, sub6, sizeof(sub6), gw6,
                                   sizeof(gw6), err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    parse_cidr(sub, &net, &len);
    if (gateway) {
        struct in_addr a;
        if (inet_pton(AF_INET, gateway, &a) != 1 || !overlaps(ntohl(a.s_addr), 32, net, len)) {
            tug_store_rollback(s);
            return tug_error_user(err, "invalid gateway %s: it must be an address in %s",
                                  gateway, sub);
        }
        snprintf(gw, sizeof(gw), "%s", gateway);
    } else {
        ip_string(net + 1, gw, sizeof(gw));
    }
    char id[65];
    tug_random_hex(id, 32);
    char bridge[16];
    if (strcmp(name, TUG_DEFAULT_NETWORK) == 0) {
        /* tug0 for the default store; other stores (tests, --root) get their own bridge */
        const char *def = "/var/lib/tug";
        if (strcmp(s->root, def) == 0) {
            snprintf(bridge, sizeof(bridge), "%s", TUG_DEFAULT_BRIDGE);
        } else {
            char digest[72];
            tug_sha256_buf(s->root, strlen(s->root), digest);
            snprintf(bridge, sizeof(bridge), "tugb%.10s", digest + 7);
        }
    } else
        snprintf(bridge, sizeof(bridge), "tug-%.11s", id);
    if (insert_network(s, name, bridge, sub, gw, *sub6 ? sub6 : NULL,
                       o->gateway6 ? gw6 : NULL, o, id, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    /* The bridge comes up now, so its route keeps the next network from taking the subnet. */
    if (bring_up && bridge_up(s, bridge, sub, gw, internal, o->ipv6 ? sub6 : NULL,
                              o->ipv6 ? gw6 : NULL, err) < 0) {
        cleanup_stmt sqlite3_stmt *del = tug_db_prepare(s, "DELETE FROM networks WHERE id = ?", NULL);
        if (del) {
            BIND_TEXT(del, 1, id);
            sqlite3_step(del);
        }
        tug_nl_link_delete(bridge, NULL);
        return tug_error_wrap(err, "create network %s", name);
    }
    if (ret)
        return tug_network_find(s, id, ret, err);
    return 0;
}

/* docker's network events: the network's name and driver, and the container for connect and
 * disconnect. */
static void net_event(tug_store *s, const char *action, const char *id, const char *name,
                      const char *container)
{
    tug_event_emit(s, "network", action, id, "name", name, "type", "bridge", "container", container,
                   NULL);
}

int tug_network_create_opts(tug_store *s, const char *name, const tug_network_opts *o,
                            tug_network **ret, tug_error **err)
{
    int r = network_create(s, name, o, true, ret, err);
    if (r == 0)
        net_event(s, "create", (*ret)->id, (*ret)->name, NULL);
    return r;
}

int tug_network_create(tug_store *s, const char *name, const char *subnet, const char *gateway,
                       bool internal, json_t *labels, tug_network **ret, tug_error **err)
{
    tug_network_opts o = {
        .subnet = subnet, .gateway = gateway, .internal = internal, .labels = labels};
    return tug_network_create_opts(s, name, &o, ret, err);
}

/* n's subnet and gateway as the record has them now, read under the write lock: the default
 * network may have moved since n was read (default_network_move). */
static int refresh_subnet(tug_store *s, tug_network *n, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT subnet, gateway FROM networks WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, n->id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return tug_error_user(err, "network %s not found: it was removed meanwhile", n->name);
    if (strcmp((const char *)sqlite3_column_text(st, 0), n->subnet) == 0)
        return 0;
    free(n->subnet);
    free(n->gateway);
    n->subnet = tug_db_col_text(st, 0);
    n->gateway = tug_db_col_text(st, 1);
    return n->subnet && n->gateway ? 0 : tug_error_set(err, ENOMEM, "network");
}

/* The default network moves to a free subnet when a route of this host (another store's
 * bridge, docker's) took its own before it first came up, and no container holds an address
 * in it yet. */
static int default_network_move(tug_store *s, tug_network *n, tug_error **err)
{
    uint32_t net;
    int len;
    if (parse_cidr(n->subnet, &net, &len) < 0 || !route_overlaps(net, len, n->bridge))
        return 0;
    if (tug_store_begin(s, err) < 0)
        return -1;
    /* Another command may have moved it meanwhile: the record's subnet is the one to use. */
    cleanup_free char *was = strdup(n->subnet);
    if (was == NULL || refresh_subnet(s, n, err) < 0) {
        tug_store_rollback(s);
        return was ? -1 : tug_error_set(err, ENOMEM, "network");
    }
    if (strcmp(was, n->subnet) != 0) {
        tug_store_rollback(s);
        return 0;
    }
    cleanup_stmt sqlite3_stmt *q =
        tug_db_prepare(s, "SELECT 1 FROM endpoints WHERE network_id = ? LIMIT 1", err);
    if (q == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    BIND_TEXT(q, 1, n->id);
    char sub[64], gw[64];
    if (sqlite3_step(q) == SQLITE_ROW || pick_subnet(s, sub, sizeof(sub), NULL) < 0) {
        tug_store_rollback(s);
        return 0; /* the bridge comes up where it is, as after a reboot */
    }
    parse_cidr(sub, &net, &len);
    ip_string(net + 1, gw, sizeof(gw));
    cleanup_stmt sqlite3_stmt *u =
        tug_db_prepare(s, "UPDATE networks SET subnet = ?, gateway = ? WHERE id = ?", err);
    if (u == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    BIND_TEXT(u, 1, sub);
    BIND_TEXT(u, 2, gw);
    BIND_TEXT(u, 3, n->id);
    if (sqlite3_step(u) != SQLITE_DONE) {
        tug_store_rollback(s);
        return tug_error_set(err, 0, "move network %s: %s", n->name, sqlite3_errmsg(s->db));
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    free(n->subnet);
    free(n->gateway);
    n->subnet = strdup(sub);
    n->gateway = strdup(gw);
    return n->subnet && n->gateway ? 0 : tug_error_set(err, ENOMEM, "network");
}

int tug_network_up(tug_store *s, tug_network *n, tug_error **err)
{
    /* A bridge that is there is checked too: it must carry the record's address (a store
     * thrown away by hand leaves its bridge, which the next store at that path finds by name). */
    if (strcmp(n->name, TUG_DEFAULT_NETWORK) == 0 && !tug_nl_link_exists(n->bridge) &&
        default_network_move(s, n, err) < 0)
        return tug_error_wrap(err, "network %s", n->name);
    if (bridge_up(s, n->bridge, n->subnet, n->gateway, n->internal, n->ipv6 ? n->subnet6 : NULL,
                  n->ipv6 ? n->gateway6 : NULL, err) < 0)
        return tug_error_wrap(err, "network %s", n->name);
    return 0;
}

int tug_network_find(tug_store *s, const char *what, tug_network **ret, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT " NET_COLS " FROM networks WHERE id = ?1 OR name = ?1", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, what);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *ret = from_row(st);
        return 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    size_t n = strlen(what);
    if (n > 0 && n < 64 && strspn(what, "0123456789abcdef") == n) {
        cleanup_free char *pat = NULL;
        if (asprintf(&pat, "%s*", what) >= 0) {
            st = tug_db_prepare(s, "SELECT " NET_COLS " FROM networks WHERE id GLOB ? LIMIT 2",
                                err);
            if (st == NULL)
                return -1;
            BIND_TEXT(st, 1, pat);
            if (sqlite3_step(st) == SQLITE_ROW) {
                tug_network *found = from_row(st);
                if (sqlite3_step(st) != SQLITE_ROW) {
                    *ret = found;
                    return 0;
                }
                tug_network_free(found);
            }
        }
    }
    if (strcmp(what, TUG_DEFAULT_NETWORK) == 0)
        return tug_network_default(s, ret, err);
    return tug_error_not_found(err, "network %s not found", what);
}

int tug_network_default(tug_store *s, tug_network **ret, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT " NET_COLS " FROM networks WHERE name = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, TUG_DEFAULT_NETWORK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *ret = from_row(st);
        return 0;
    }
    tug_network *created = NULL;
    tug_error *e = NULL;
    tug_network_opts def = {0};
    if (network_create(s, TUG_DEFAULT_NETWORK, &def, false, &created, &e) == 0) {
        *ret = created;
        return 0;
    }
    /* Another command created it meanwhile: take theirs. */
    tug_error_free(e);
    sqlite3_reset(st);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *ret = from_row(st);
        return 0;
    }
    return tug_error_set(err, 0, "create the default network");
}

int tug_network_list(tug_store *s, tug_network ***ret, size_t *ret_n, tug_error **err)
{
    tug_network *def = NULL;
    if (tug_network_default(s, &def, err) < 0)
        return -1;
    tug_network_free(def);
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT " NET_COLS " FROM networks ORDER BY created, name", err);
    if (st == NULL)
        return -1;
    tug_network **v = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tug_network **nv = realloc(v, (n + 1) * sizeof(*nv));
        if (nv == NULL)
            break;
        v = nv;
        v[n++] = from_row(st);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int tug_network_users(tug_store *s, const tug_network *n, char ***ret_names, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT c.name FROM endpoints e JOIN containers c ON c.id = e.container_id "
        "WHERE e.network_id = ? ORDER BY c.name",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, n->id);
    char **v = calloc(1, sizeof(char *));
    size_t k = 0;
    while (v && sqlite3_step(st) == SQLITE_ROW) {
        char **nv = realloc(v, (k + 2) * sizeof(*nv));
        if (nv == NULL)
            break;
        v = nv;
        v[k++] = tug_db_col_text(st, 0);
        v[k] = NULL;
    }
    *ret_names = v;
    return 0;
}

int tug_network_remove(tug_store *s, const tug_network *n, tug_error **err)
{
    if (strcmp(n->name, TUG_DEFAULT_NETWORK) == 0)
        return tug_error_user(err, "%s is a pre-defined network and cannot be removed", n->name);
    cleanup_strv char **users = NULL;
    if (tug_network_users(s, n, &users, err) < 0)
        return -1;
    if (users && users[0])
        return tug_error_user(err,
                              "error while removing network: network %s id %s has active "
                              "endpoints (container %s); remove or disconnect it first",
                              n->name, n->id, users[0]);
    /* The bridge and its rules go first and the row last: a crash in between leaves a network
     * that is still listed and that the next `network rm` (or container) handles, never a
     * bridge no record names. */
    tug_network_bridge_down(n->bridge);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM networks WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, n->id);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    net_event(s, "destroy", n->id, n->name, NULL);
    return 0;
}

/* The lowest free IPv6 address of n (its subnet's first address is the subnet-router anycast
 * one, then the gateway by default); the caller holds the write lock. */
#define IPAM6_SCAN_MAX 65536
static int ipam_pick6(tug_store *s, const tug_network *n, const char *want, char *ret, size_t size,
                      tug_error **err)
{
    struct in6_addr net, gw;
    int len;
    if (parse_cidr6(n->subnet6, &net, &len) < 0 || inet_pton(AF_INET6, n->gateway6, &gw) != 1)
        return tug_error_set(err, 0, "network %s has a bad IPv6 subnet %s", n->name,
                             n->subnet6 ? n->subnet6 : "");
    if (want) {
        /* docker's messages; one taken by another container fails at the insert */
        struct in6_addr a;
        if (inet_pton(AF_INET6, want, &a) != 1 || !overlaps6(&a, 128, &net, len) ||
            memcmp(&a, &net, sizeof(a)) == 0)
            return tug_error_user(err, "Invalid address %s: It does not belong to any of this "
                                       "network's subnets (%s)",
                                  want, n->subnet6);
        if (memcmp(&a, &gw, sizeof(a)) == 0)
            return tug_error_user(err, "Address already in use: %s is the gateway of network %s",
                                  want, n->name);
        inet_ntop(AF_INET6, &a, ret, (socklen_t)size);
        return 0;
    }
    cleanup_stmt sqlite3_stmt *used =
        tug_db_prepare(s, "SELECT 1 FROM endpoints WHERE network_id = ? AND ip6 = ?", err);
    if (used == NULL)
        return -1;
    /* addresses in the subnet after its first: 2^(128-len) - 1, capped by the scan */
    uint32_t last = 128 - len >= 17 ? IPAM6_SCAN_MAX : (1u << (128 - len)) - 1;
    for (uint32_t k = 1; k <= last; k++) {
        struct in6_addr a = addr6_plus(&net, k);
        if (memcmp(&a, &gw, sizeof(a)) == 0)
            continue;
        char cand[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a, cand, sizeof(cand));
        sqlite3_reset(used);
        BIND_TEXT(used, 1, n->id);
        BIND_TEXT(used, 2, cand);
        if (sqlite3_step(used) != SQLITE_ROW) {
            snprintf(ret, size, "%s", cand);
            return 0;
        }
    }
    return tug_error_user(err, "no free IPv6 address left in network %s (%s)", n->name,
                          n->subnet6);
}

int tug_ipam_allocate(tug_store *s, tug_network *n, const char *container_id,
                      const char *want_ip, const char *want_ip6, json_t *aliases,
                      tug_endpoint *ret, tug_error **err)
{
    if (want_ip6 && !n->ipv6)
        return tug_error_user(err, "user specified IP address is supported only when connecting "
                                   "to networks with user configured subnets: network %s has no "
                                   "IPv6 (network create --ipv6 --subnet ...)",
                              n->name);
    cleanup_free char *al = aliases ? json_dumps(aliases, JSON_COMPACT) : NULL;
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (refresh_subnet(s, n, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    uint32_t net;
    int len;
    if (parse_cidr(n->subnet, &net, &len) < 0) {
        tug_store_rollback(s);
        return tug_error_set(err, 0, "network %s has a bad subnet %s", n->name, n->subnet);
    }
    struct in_addr gwa;
    inet_pton(AF_INET, n->gateway, &gwa);
    uint32_t gw = ntohl(gwa.s_addr);
    uint32_t first = net + 1, last = net + ((1u << (32 - len)) - 2);
    char ip[32] = "";
    if (want_ip) {
        struct in_addr a;
        if (inet_pton(AF_INET, want_ip, &a) != 1 || ntohl(a.s_addr) < first ||
            ntohl(a.s_addr) > last || ntohl(a.s_addr) == gw) {
            tug_store_rollback(s);
            return tug_error_user(err, "invalid address %s: it must be a free address of %s",
                                  want_ip, n->subnet);
        }
        snprintf(ip, sizeof(ip), "%s", want_ip);
    }
    /* the lowest free address, as docker hands them out */
    cleanup_stmt sqlite3_stmt *used =
        tug_db_prepare(s, "SELECT 1 FROM endpoints WHERE network_id = ? AND ip = ?", err);
    if (used == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    for (uint32_t a = first; !*ip && a <= last; a++) {
        if (a == gw)
            continue;
        char cand[32];
        ip_string(a, cand, sizeof(cand));
        sqlite3_reset(used);
        BIND_TEXT(used, 1, n->id);
        BIND_TEXT(used, 2, cand);
        if (sqlite3_step(used) != SQLITE_ROW)
            snprintf(ip, sizeof(ip), "%s", cand);
    }
    if (!*ip) {
        tug_store_rollback(s);
        return tug_error_user(err, "no free address left in network %s (%s)", n->name,
                              n->subnet);
    }
    char ip6[INET6_ADDRSTRLEN] = "";
    if (n->ipv6 && ipam_pick6(s, n, want_ip6, ip6, sizeof(ip6), err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    /* docker's MAC: 02:42 followed by the IPv4 address */
    struct in_addr a;
    inet_pton(AF_INET, ip, &a);
    unsigned char *b = (unsigned char *)&a.s_addr;
    char mac[32];
    snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
    /* the container's own old address goes; another's address is never taken over */
    cleanup_stmt sqlite3_stmt *old =
        tug_db_prepare(s, "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?", err);
    if (old == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    BIND_TEXT(old, 1, container_id);
    BIND_TEXT(old, 2, n->id);
    sqlite3_step(old);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "INSERT INTO endpoints(container_id, network_id, ip, mac, aliases, ip6) VALUES "
        "(?,?,?,?,?,?)",
        err);
    if (st == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    BIND_TEXT(st, 1, container_id);
    BIND_TEXT(st, 2, n->id);
    BIND_TEXT(st, 3, ip);
    BIND_TEXT(st, 4, mac);
    BIND_TEXT(st, 5, al ? al : "[]");
    if (*ip6)
        BIND_TEXT(st, 6, ip6);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        tug_store_rollback(s);
        if (rc == SQLITE_CONSTRAINT)
            return tug_error_user(err, "Address already in use: %s in network %s",
                                  want_ip6 && !want_ip ? ip6 : ip, n->name);
        return tug_error_set(err, 0, "record address: %s", sqlite3_errmsg(s->db));
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    ret->network_id = strdup(n->id);
    ret->ip = strdup(ip);
    ret->mac = strdup(mac);
    ret->ip6 = *ip6 ? strdup(ip6) : NULL;
    ret->aliases = aliases ? json_incref(aliases) : json_array();
    net_event(s, "connect", n->id, n->name, container_id);
    return 0;
}

int tug_ipam_release(tug_store *s, const char *container_id, tug_error **err)
{
    tug_net_disconnected(s, container_id, NULL);
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "DELETE FROM endpoints WHERE container_id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, container_id);
    return tug_db_step_done(s, st, err);
}

void tug_net_disconnected(tug_store *s, const char *container_id, const char *network_id)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT n.id, n.name FROM endpoints e JOIN networks n ON n.id = e.network_id "
        "WHERE e.container_id = ?1 AND (?2 IS NULL OR n.id = ?2)",
        NULL);
    if (st == NULL)
        return;
    BIND_TEXT(st, 1, container_id);
    if (network_id)
        BIND_TEXT(st, 2, network_id);
    while (sqlite3_step(st) == SQLITE_ROW)
        net_event(s, "disconnect", (const char *)sqlite3_column_text(st, 0),
                  (const char *)sqlite3_column_text(st, 1), container_id);
}

json_t *tug_network_inspect_json(tug_store *s, const tug_network *n)
{
    json_t *o = json_object();
    json_object_set_new(o, "Name", json_string(n->name));
    json_object_set_new(o, "Id", json_string(n->id));
    time_t tt = (time_t)n->created;
    struct tm tm;
    char buf[64];
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(o, "Created", json_string(buf));
    json_object_set_new(o, "Scope", json_string("local"));
    json_object_set_new(o, "Driver", json_string(n->driver));
    json_object_set_new(o, "EnableIPv6", json_boolean(n->ipv6));
    json_t *ipam = json_object(), *cfgs = json_array(), *c = json_object();
    json_object_set_new(ipam, "Driver", json_string("default"));
    json_object_set_new(ipam, "Options", json_null());
    json_object_set_new(c, "Subnet", json_string(n->subnet));
    json_object_set_new(c, "Gateway", json_string(n->gateway));
    json_array_append_new(cfgs, c);
    if (n->subnet6) {
        /* docker lists the IPv6 gateway only when it was given */
        json_t *c6 = json_object();
        json_object_set_new(c6, "Subnet", json_string(n->subnet6));
        if (n->gateway6_given)
            json_object_set_new(c6, "Gateway", json_string(n->gateway6));
        json_array_append_new(cfgs, c6);
    }
    json_object_set_new(ipam, "Config", cfgs);
    json_object_set_new(o, "IPAM", ipam);
    json_object_set_new(o, "Internal", json_boolean(n->internal));
    json_object_set_new(o, "Attachable", json_false());
    json_t *ctrs = json_object();

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.id, c.name, e.ip, e.mac, e.ip6 FROM endpoints e JOIN "
                           "containers c "
                           "ON c.id = e.container_id WHERE e.network_id = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *e = json_object();
            char ip[80];
            snprintf(ip, sizeof(ip), "%s/%d", sqlite3_column_text(st, 2),
                     tug_subnet_prefix(n->subnet));
            json_object_set_new(e, "Name", json_string((const char *)sqlite3_column_text(st, 1)));
            json_object_set_new(e, "MacAddress",
                                json_string((const char *)sqlite3_column_text(st, 3)));
            json_object_set_new(e, "IPv4Address", json_string(ip));
            char ip6[80] = "";
            if (sqlite3_column_type(st, 4) != SQLITE_NULL && n->subnet6)
                snprintf(ip6, sizeof(ip6), "%s/%d", sqlite3_column_text(st, 4),
                         subnet6_prefix(n->subnet6));
            json_object_set_new(e, "IPv6Address", json_string(ip6));
            json_object_set_new(ctrs, (const char *)sqlite3_column_text(st, 0), e);
        }
    }
    sqlite3_finalize(st);
    json_object_set_new(o, "Containers", ctrs);
    json_t *opts = json_object();
    json_object_set_new(opts, "com.docker.network.bridge.name", json_string(n->bridge));
    json_object_set_new(o, "Options", opts);
    json_object_set(o, "Labels", n->labels ? n->labels : json_object());
    return o;
}

/* ---- network ls filters ---- */

enum { NF_NAME, NF_ID, NF_DRIVER, NF_TYPE, NF_SCOPE, NF_N };
static const char *const net_filter_keys[NF_N] = {"name=", "id=", "driver=", "type=", "scope="};

bool tug_network_filter_valid(const char *f)
{
    if (strncmp(f, "label=", 6) == 0)
        return true;
    for (int k = 0; k < NF_N; k++)
        if (strncmp(f, net_filter_keys[k], strlen(net_filter_keys[k])) == 0)
            return k != NF_TYPE || strcmp(f + 5, "builtin") == 0 || strcmp(f + 5, "custom") == 0;
    return false;
}

bool tug_network_filter_match(const char *const *filters, size_t nf, const char *id,
                              const char *name, const char *driver, json_t *labels, bool builtin)
{
    bool seen[NF_N] = {0}, ok[NF_N] = {0};
    for (size_t i = 0; i < nf; i++) {
        const char *f = filters[i];
        if (strncmp(f, "label=", 6) == 0) {
            if (!tug_label_match(labels, f + 6))
                return false;
            continue;
        }
        for (int k = 0; k < NF_N; k++) {
            size_t kl = strlen(net_filter_keys[k]);
            if (strncmp(f, net_filter_keys[k], kl) != 0)
                continue;
            const char *v = f + kl;
            seen[k] = true;
            ok[k] |= k == NF_NAME     ? strstr(name, v) != NULL
                     : k == NF_ID     ? strncmp(id, v, strlen(v)) == 0
                     : k == NF_DRIVER ? strcmp(driver, v) == 0
                     : k == NF_TYPE   ? strcmp(v, builtin ? "builtin" : "custom") == 0
                                      : strcmp(v, "local") == 0;
        }
    }
    for (int k = 0; k < NF_N; k++)
        if (seen[k] && !ok[k])
            return false;
    return true;
}
