#include "netsetup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/proc.h"
#include "../store/db.h"
#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "dns.h"
#include "netlink.h"
#include "network.h"

void tug_net_plan_free(tug_net_plan *p)
{
    if (p == NULL)
        return;
    free(p->owner);
    free(p->network);
    free(p->bridge);
    free(p->gateway);
    free(p->host_if);
    free(p->cidr);
    free(p->ip);
    free(p->mac);
    free(p->cidr6);
    free(p->gateway6);
    free(p->rules);
    free(p->rule_ips);
    for (size_t i = 0; i < p->n_reserved; i++)
        close(p->reserved[i]);
    free(p->reserved);
    for (size_t i = 0; i < p->n_proxy; i++)
        close(p->proxy_fds[i]);
    free(p->proxy_fds);
    free(p->proxy_ctr_ports);
    free(p);
}

/* Who holds a port on this host: "process 123 (nginx)" or NULL. */
static char *port_holder(const char *proto, int port)
{
    unsigned long inode = 0;
    /* IPv4 sockets, then IPv6 ones (a dual-stack listener on [::] holds the IPv4 port too) */
    for (int v6 = 0; v6 < 2 && inode == 0; v6++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/net/%s%s", strcmp(proto, "udp") == 0 ? "udp" : "tcp",
                 v6 ? "6" : "");
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            unsigned lport;
            unsigned long ino;
            if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*s %*s %*s %*s %*s %*s %*s %lu", &lport,
                       &ino) == 2 &&
                (int)lport == port && ino) {
                inode = ino;
                break;
            }
        }
        fclose(f);
    }
    if (inode == 0)
        return NULL;
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    struct dirent *de;
    char *out = NULL;
    while (proc && out == NULL && (de = readdir(proc)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char fdd[300];
        snprintf(fdd, sizeof(fdd), "/proc/%s/fd", de->d_name);
        DIR *fds = opendir(fdd);
        struct dirent *fe;
        while (fds && (fe = readdir(fds)) != NULL) {
            char lp[600], target[128];
            snprintf(lp, sizeof(lp), "%s/%s", fdd, fe->d_name);
            ssize_t n = readlink(lp, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                char comm[64] = "?", cp[300];
                snprintf(cp, sizeof(cp), "/proc/%s/comm", de->d_name);
                FILE *c = fopen(cp, "re");
                if (c) {
                    if (fgets(comm, sizeof(comm), c))
                        comm[strcspn(comm, "\n")] = '\0';
                    fclose(c);
                }
                if (asprintf(&out, "process %s (%s)", de->d_name, comm) < 0)
                    out = NULL;
                break;
            }
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return out;
}

static char *port_container(tug_store *s, const char *proto, int port)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT c.name FROM ports p JOIN containers c ON c.id = p.container_id WHERE p.proto = ? "
        "AND p.host_port = ?",
        NULL);
    if (st == NULL)
        return NULL;
    BIND_TEXT(st, 1, proto);
    sqlite3_bind_int(st, 2, port);
    if (sqlite3_step(st) != SQLITE_ROW)
        return NULL;
    return tug_db_col_text(st, 0);
}

/* Hold host_ip:port so no one else can take it while the container publishes it. An IPv6
 * address gets a listening socket (IPv6 only, beside the IPv4 one) for the port proxy, which
 * relays it to the container's IPv4 address: NAT cannot turn IPv6 into IPv4. */
static int reserve(tug_store *s, const char *proto, const char *host_ip, int *port,
                   tug_error **err)
{
    bool udp = strcmp(proto, "udp") == 0, v6 = strchr(host_ip, ':') != NULL;
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t alen = v6 ? sizeof(*a6) : sizeof(*a4);
    int ok = v6 ? inet_pton(AF_INET6, host_ip, &a6->sin6_addr)
                : inet_pton(AF_INET, host_ip, &a4->sin_addr);
    if (ok != 1)
        return tug_error_user(err, "invalid host address %s", host_ip);
    ss.ss_family = v6 ? AF_INET6 : AF_INET;
    if (v6)
        a6->sin6_port = htons((uint16_t)*port);
    else
        a4->sin_port = htons((uint16_t)*port);
    int fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tug_error_set(err, errno, "socket");
    int one = 1;
    /* the proxy's closed connections linger in TIME_WAIT on the port: a restart reuses it */
    if (v6 && (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
               setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)) {
        close(fd);
        return tug_error_set(err, errno, "socket options for [%s]:%d", host_ip, *port);
    }
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    if (bind(fd, (struct sockaddr *)&ss, alen) < 0 || (v6 && !udp && listen(fd, 128) < 0)) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE) {
            cleanup_free char *ctr = port_container(s, proto, *port);
            cleanup_free char *proc = ctr ? NULL : port_holder(proto, *port);
            return tug_error_user(err,
                                  "Bind for %s%s%s:%d failed: port is already allocated%s%s; "
                                  "publish on another host port",
                                  lb, host_ip, rb, *port,
                                  ctr ? " by container " : proc ? " by " : "",
                                  ctr ? ctr : proc ? proc : "");
        }
        if (e == EADDRNOTAVAIL)
            return tug_error_user(err, "cannot publish on %s%s%s:%d: no such address on this host",
                                  lb, host_ip, rb, *port);
        return tug_error_set(err, e, "bind %s%s%s:%d", lb, host_ip, rb, *port);
    }
    if (*port == 0) {
        socklen_t l = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &l);
        *port = ntohs(v6 ? a6->sin6_port : a4->sin_port);
    }
    return fd;
}

/* IPv6 is on when the kernel has it and the sysctl does not turn it off. */
static bool ipv6_enabled(void)
{
    FILE *f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "re");
    if (f == NULL)
        return false;
    int c = fgetc(f);
    fclose(f);
    return c == '0';
}

static int write_in_place(const char *path, const char *data)
{
    /* Bind-mounted into running containers: keep the inode, rewrite the content. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t n = strlen(data);
    ssize_t w = write(fd, data, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* /etc/hosts of every container on a user network names every other one. */
static void write_hosts(tug_store *s, const tug_network *n, bool user_network)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT e.container_id, e.ip, c.name, e.aliases, c.config, e.ip6 FROM endpoints e JOIN "
        "containers c ON c.id = e.container_id WHERE e.network_id = ?",
        NULL);
    if (st == NULL)
        return;
    BIND_TEXT(st, 1, n->id);
    char *peers = NULL;
    size_t plen = 0;
    FILE *pf = open_memstream(&peers, &plen);
    char **ids = NULL;
    size_t nids = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *ip = (const char *)sqlite3_column_text(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        json_t *al = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        json_t *cfg = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        const char *hn =
            json_string_value(json_object_get(json_object_get(cfg, "Config"), "Hostname"));
        /* the IPv4 line, and the same names for the IPv6 address, as docker writes both */
        const char *ip6 = (const char *)sqlite3_column_text(st, 5);
        for (int fam = 0; fam < (ip6 ? 2 : 1); fam++) {
            fprintf(pf, "%s\t%s", fam ? ip6 : ip, hn ? hn : "");
            if (user_network) {
                fprintf(pf, " %s", name);
                if (hn == NULL || strncmp(hn, id, 12) != 0)
                    fprintf(pf, " %.12s", id);
                size_t i;
                json_t *a;
                json_array_foreach(al, i, a) fprintf(pf, " %s", json_string_value(a));
            }
            fprintf(pf, "\n");
        }
        json_decref(al);
        json_decref(cfg);
        char **nv = realloc(ids, (nids + 1) * sizeof(*nv));
        if (nv) {
            ids = nv;
            ids[nids++] = strdup(id);
        }
    }
    fclose(pf);
    static const char base[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                               "ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
                               "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
    for (size_t i = 0; i < nids; i++) {
        cleanup_free char *path = NULL, *content = NULL;
        if (asprintf(&path, "%s/containers/%s/hosts", s->root, ids[i]) >= 0 &&
            asprintf(&content, "%s%s", base, peers ? peers : "") >= 0) {
            if (!user_network) {
                /* on the default bridge a container knows only itself */
                free(content);
                content = NULL;
                cleanup_stmt sqlite3_stmt *me = tug_db_prepare(
                    s,
                    "SELECT e.ip, c.config FROM endpoints e JOIN containers c ON c.id = "
                    "e.container_id WHERE e.container_id = ?",
                    NULL);
                if (me) {
                    BIND_TEXT(me, 1, ids[i]);
                    if (sqlite3_step(me) == SQLITE_ROW) {
                        json_t *cfg = json_loads((const char *)sqlite3_column_text(me, 1), 0, NULL);
                        const char *hn = json_string_value(
                            json_object_get(json_object_get(cfg, "Config"), "Hostname"));
                        if (asprintf(&content, "%s%s\t%s\n", base, sqlite3_column_text(me, 0),
                                     hn ? hn : "") < 0)
                            content = NULL;
                        json_decref(cfg);
                    }
                }
            }
            /* --add-host lines stay */
            cleanup_stmt sqlite3_stmt *xs =
                tug_db_prepare(s, "SELECT config FROM containers WHERE id = ?", NULL);
            if (xs && content) {
                BIND_TEXT(xs, 1, ids[i]);
                if (sqlite3_step(xs) == SQLITE_ROW) {
                    json_t *cfg = json_loads((const char *)sqlite3_column_text(xs, 0), 0, NULL);
                    size_t k;
                    json_t *v;
                    /* --link targets, by their aliases */
                    char *links = tug_dns_link_hosts(s, json_object_get(cfg, "HostConfig"));
                    char *more = NULL;
                    if (links && asprintf(&more, "%s%s", content, links) >= 0) {
                        free(content);
                        content = more;
                    }
                    free(links);
                    json_array_foreach(
                        json_object_get(json_object_get(cfg, "HostConfig"), "ExtraHosts"), k, v)
                    {
                        char hname[256], hip[64], *more = NULL;
                        if (tug_dns_extra_host(json_string_value(v), n->gateway, hname,
                                               sizeof(hname), hip, sizeof(hip)) &&
                            asprintf(&more, "%s%s\t%s\n", content, hip, hname) >= 0) {
                            free(content);
                            content = more;
                        }
                    }
                    json_decref(cfg);
                }
            }
            if (content)
                write_in_place(path, content);
        }
        free(ids[i]);
    }
    free(ids);
    free(peers);
    if (user_network)
        tug_dns_names_write(s);
}

static void delete_ports(tug_store *s, const char *id)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM ports WHERE container_id = ?", NULL);
    if (st) {
        BIND_TEXT(st, 1, id);
        sqlite3_step(st);
    }
}

/* One published host address: its socket held, its row in the ports table, and an IPv4 NAT
 * rule or, for IPv6, a socket for the port proxy. *port 0 gets a free one. */
static int publish(tug_store *s, tug_net_plan *p, const char *id, const char *proto,
                   const char *host_ip, int *port, int ctr_port, tug_error **err)
{
    bool v6 = strchr(host_ip, ':') != NULL;
    int fd = reserve(s, proto, host_ip, port, err);
    if (fd < 0)
        return -1;
    if (v6) {
        p->proxy_fds[p->n_proxy] = fd;
        p->proxy_ctr_ports[p->n_proxy++] = ctr_port;
    } else {
        p->reserved[p->n_reserved++] = fd;
    }
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "INSERT INTO ports(container_id, proto, host_ip, host_port, ctr_port) VALUES "
        "(?,?,?,?,?)",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    BIND_TEXT(st, 2, proto);
    BIND_TEXT(st, 3, host_ip);
    sqlite3_bind_int(st, 4, *port);
    sqlite3_bind_int(st, 5, ctr_port);
    int rc = tug_db_step_done(s, st, err);
    if (rc == -EEXIST) {
        tug_error_release(err);
        cleanup_free char *holder = port_container(s, proto, *port);
        return tug_error_user(err,
                              "Bind for %s%s%s:%d failed: port is already allocated by "
                              "container %s; publish on another host port",
                              v6 ? "[" : "", host_ip, v6 ? "]" : "", *port,
                              holder ? holder : "?");
    }
    if (rc < 0)
        return tug_error_wrap(err, "record port %s:%d", host_ip, *port);
    if (v6)
        return 0;
    tug_port_rule *rule = &p->rules[p->n_rules];
    snprintf(p->rule_ips[p->n_rules], 64, "%s", host_ip);
    rule->proto = proto;
    rule->host_ip = p->rule_ips[p->n_rules];
    rule->host_port = *port;
    rule->ctr_ip = p->ip;
    rule->ctr_port = ctr_port;
    p->n_rules++;
    return 0;
}

int tug_net_plan_make(tug_store *s, const char *id, const char *hostname, json_t *config,
                      const char *ctr_dir, tug_net_plan **ret, tug_error **err)
{
    *ret = NULL;
    json_t *hc = json_object_get(config, "HostConfig");
    json_t *cfg = json_object_get(config, "Config");
    const char *mode = json_string_value(json_object_get(hc, "NetworkMode"));
    if (mode == NULL || strcmp(mode, "none") == 0 || strcmp(mode, "host") == 0)
        return 0;
    const char *netname = strcmp(mode, "default") == 0 ? TUG_DEFAULT_NETWORK : mode;
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, netname, &n, err) < 0 || tug_network_up(s, n, err) < 0)
        return -1;
    bool user_network = strcmp(n->name, TUG_DEFAULT_NETWORK) != 0;
    json_t *epc = json_object_get(
        json_object_get(json_object_get(config, "NetworkingConfig"), "EndpointsConfig"),
        n->name);
    if (epc == NULL)
        epc = json_object_get(
            json_object_get(json_object_get(config, "NetworkingConfig"), "EndpointsConfig"),
            netname);
    const char *want_ip = json_string_value(
        json_object_get(json_object_get(epc, "IPAMConfig"), "IPv4Address"));
    const char *want_ip6 = json_string_value(
        json_object_get(json_object_get(epc, "IPAMConfig"), "IPv6Address"));
    if (want_ip6 && !*want_ip6)
        want_ip6 = NULL;
    if ((want_ip || want_ip6) && !user_network)
        return tug_error_user(err, "user specified IP address is supported on user defined "
                                   "networks only");
    json_t *aliases = json_object_get(epc, "Aliases");
    tug_net_plan *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "network");
    tug_endpoint ep = {0};
    tug_ipam_release(s, id, NULL);
    delete_ports(s, id);
    if (tug_ipam_allocate(s, n, id, want_ip, want_ip6, aliases, &ep, err) < 0) {
        free(p);
        return -1;
    }
    /* --mac-address instead of the one derived from the address */
    const char *want_mac = json_string_value(json_object_get(epc, "MacAddress"));
    if (want_mac == NULL)
        want_mac = json_string_value(json_object_get(cfg, "MacAddress"));
    if (want_mac && *want_mac) {
        cleanup_stmt sqlite3_stmt *um = tug_db_prepare(
            s, "UPDATE endpoints SET mac = ? WHERE container_id = ? AND network_id = ?", NULL);
        if (um) {
            BIND_TEXT(um, 1, want_mac);
            BIND_TEXT(um, 2, id);
            BIND_TEXT(um, 3, n->id);
            sqlite3_step(um);
        }
        free(ep.mac);
        ep.mac = strdup(want_mac);
    }
    int plen = tug_subnet_prefix(n->subnet);
    p->owner = strdup(id);
    p->network = strdup(n->name);
    p->bridge = strdup(n->bridge);
    p->gateway = strdup(n->gateway);
    p->internal = n->internal;
    p->ip = strdup(ep.ip);
    p->mac = strdup(ep.mac);
    if (ep.ip6 && n->subnet6) {
        const char *slash = strrchr(n->subnet6, '/');
        if (asprintf(&p->cidr6, "%s%s", ep.ip6, slash ? slash : "/64") < 0) {
            tug_endpoint_clear(&ep);
            tug_net_plan_free(p);
            return tug_error_set(err, ENOMEM, "network");
        }
        p->gateway6 = n->internal ? NULL : strdup(n->gateway6);
    }
    if (asprintf(&p->cidr, "%s/%d", ep.ip, plen) < 0 ||
        asprintf(&p->host_if, "tugv%.10s", id) < 0) {
        tug_endpoint_clear(&ep);
        tug_net_plan_free(p);
        return tug_error_set(err, ENOMEM, "network");
    }
    tug_endpoint_clear(&ep);

    /* ports: PortBindings, and every exposed port with -P */
    json_t *bindings = json_deep_copy(json_object_get(hc, "PortBindings"));
    if (!json_is_object(bindings)) {
        json_decref(bindings);
        bindings = json_object();
    }
    if (json_is_true(json_object_get(hc, "PublishAllPorts"))) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(cfg, "ExposedPorts"), k, v)
        {
            if (json_object_get(bindings, k) == NULL) {
                json_t *arr = json_array(), *b = json_object();
                json_object_set_new(b, "HostIp", json_string(""));
                json_object_set_new(b, "HostPort", json_string(""));
                json_array_append_new(arr, b);
                json_object_set_new(bindings, k, arr);
            }
        }
    }
    size_t total = 0;
    const char *key;
    json_t *val;
    json_object_foreach(bindings, key, val) total += json_array_size(val);
    p->rules = calloc(total + 1, sizeof(*p->rules));
    p->rule_ips = calloc(total + 1, sizeof(*p->rule_ips));
    p->reserved = calloc(total + 1, sizeof(int));
    /* every address publishes on IPv6 as well */
    p->proxy_fds = calloc(total + 1, sizeof(int));
    p->proxy_ctr_ports = calloc(total + 1, sizeof(int));
    int r = 0;
    json_object_foreach(bindings, key, val)
    {
        int ctr_port = atoi(key);
        const char *slash = strchr(key, '/');
        const char *proto = slash && strcmp(slash + 1, "udp") == 0 ? "udp" : "tcp";
        size_t i;
        json_t *b;
        json_array_foreach(val, i, b)
        {
            const char *hip = json_string_value(json_object_get(b, "HostIp"));
            const char *hport = json_string_value(json_object_get(b, "HostPort"));
            int port = hport && *hport ? atoi(hport) : 0;
            bool every = hip == NULL || *hip == '\0';
            const char *host_ip = every ? "0.0.0.0" : hip;
            if (publish(s, p, id, proto, host_ip, &port, ctr_port, err) < 0) {
                r = -1;
                break;
            }
            /* every address: IPv6 too, where the host has it, as docker does */
            int port6 = port;
            size_t n_proxy = p->n_proxy;
            if (every && ipv6_enabled() &&
                publish(s, p, id, proto, "::", &port6, ctr_port, err) < 0) {
                /* a port of its own choosing taken on IPv6 only: IPv4 alone will do */
                if (hport && *hport && atoi(hport) != 0) {
                    r = -1;
                    break;
                }
                tug_error_release(err);
                while (p->n_proxy > n_proxy)
                    close(p->proxy_fds[--p->n_proxy]);
            }
        }
        if (r < 0)
            break;
    }
    json_decref(bindings);
    if (r < 0) {
        tug_ipam_release(s, id, NULL);
        delete_ports(s, id);
        tug_net_plan_free(p);
        return -1;
    }
    (void)hostname;
    write_hosts(s, n, user_network);
    if (user_network && tug_dns_container_setup(s, n, hc, ctr_dir, err) < 0) {
        tug_ipam_release(s, id, NULL);
        delete_ports(s, id);
        write_hosts(s, n, user_network);
        tug_net_plan_free(p);
        return -1;
    }
    *ret = p;
    return 0;
}

/* The bridge is up: tug_net_plan_make brought it up (tug_network_up). */
int tug_net_plumb(const tug_net_plan *p, pid_t pid, tug_error **err)
{
    int r = tug_nl_veth_setup(p->host_if, p->bridge, pid, "eth0", p->cidr, p->mac,
                              p->internal ? NULL : p->gateway, err);
    /* The name is the container's: one still on the host is its last run's, whose namespace
     * the kernel is still taking down (a work queue, slow under load, after a stop or a
     * restart): it goes by itself. Anything else (not ours to delete) stays an error. */
    if (r == -EEXIST && tug_nl_link_exists(p->host_if)) {
        for (int i = 0; i < 300 && tug_nl_link_exists(p->host_if); i++) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (!tug_nl_link_exists(p->host_if)) {
            tug_error_release(err);
            r = tug_nl_veth_setup(p->host_if, p->bridge, pid, "eth0", p->cidr, p->mac,
                                  p->internal ? NULL : p->gateway, err);
        }
    }
    if (r < 0)
        return tug_error_wrap(err, "network %s", p->network);
    if (p->cidr6 && tug_nl_addr6_setup(pid, "eth0", p->cidr6, p->gateway6, err) < 0)
        return tug_error_wrap(err, "network %s", p->network);
    if (p->n_rules && tug_fw_ports_add(p->owner, p->bridge, p->rules, p->n_rules, err) < 0)
        return tug_error_wrap(err, "publish ports");
    return 0;
}

void tug_net_release(tug_store *s, const char *id)
{
    tug_error *e = NULL;
    bool had_ports = false;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT 1 FROM ports WHERE container_id = ?", NULL);
    if (st) {
        BIND_TEXT(st, 1, id);
        had_ports = sqlite3_step(st) == SQLITE_ROW;
        /* done reading: a statement left active keeps a read transaction open, and the
         * writes below would then fail at once with SQLITE_BUSY whenever another process
         * (a monitor recording an exit) has written since, leaving the ports held */
        sqlite3_reset(st);
    }
    if (had_ports)
        tug_fw_ports_remove(id, &e);
    tug_error_free(e);
    e = NULL;
    /* The veth pair goes with the container's network namespace: deleting it here would only
     * wait (~20 ms) for the kernel, which removes it anyway. `system check` catches strays. */
    delete_ports(s, id);
    /* the others on its user networks forget its name */
    char *nets[8];
    size_t nn = 0;
    cleanup_stmt sqlite3_stmt *q =
        tug_db_prepare(s, "SELECT network_id FROM endpoints WHERE container_id = ?", NULL);
    if (q) {
        BIND_TEXT(q, 1, id);
        while (nn < 8 && sqlite3_step(q) == SQLITE_ROW)
            nets[nn++] = tug_db_col_text(q, 0);
        sqlite3_reset(q);
    }
    tug_ipam_release(s, id, NULL);
    for (size_t i = 0; i < nn; i++) {
        tug_network *n = NULL;
        tug_error *fe = NULL;
        if (nets[i] && tug_network_find(s, nets[i], &n, &fe) == 0) {
            if (strcmp(n->name, TUG_DEFAULT_NETWORK) != 0)
                write_hosts(s, n, true);
            tug_network_free(n);
        }
        tug_error_free(fe);
        free(nets[i]);
    }
}

json_t *tug_net_ports_json(tug_store *s, const char *id)
{
    json_t *o = json_object();
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT proto, host_ip, host_port, ctr_port FROM ports WHERE container_id = ? ORDER BY "
        "ctr_port, host_port, instr(host_ip, ':') > 0",
        NULL);
    if (st == NULL)
        return o;
    BIND_TEXT(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char key[32], hp[16];
        snprintf(key, sizeof(key), "%d/%s", sqlite3_column_int(st, 3), sqlite3_column_text(st, 0));
        snprintf(hp, sizeof(hp), "%d", sqlite3_column_int(st, 2));
        json_t *arr = json_object_get(o, key);
        if (arr == NULL) {
            arr = json_array();
            json_object_set_new(o, key, arr);
        }
        json_t *b = json_object();
        json_object_set_new(b, "HostIp", json_string((const char *)sqlite3_column_text(st, 1)));
        json_object_set_new(b, "HostPort", json_string(hp));
        json_array_append_new(arr, b);
    }
    return o;
}

json_t *tug_net_endpoints_json(tug_store *s, const char *id)
{
    json_t *o = json_object();
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT n.name, n.id, n.gateway, n.subnet, e.ip, e.mac, e.aliases, e.ip6 FROM endpoints e "
        "JOIN networks n ON n.id = e.network_id WHERE e.container_id = ?",
        NULL);
    if (st == NULL)
        return o;
    BIND_TEXT(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cleanup_network tug_network *net = NULL;
        const char *ip6 = (const char *)sqlite3_column_text(st, 7);
        if (ip6 && tug_network_find(s, (const char *)sqlite3_column_text(st, 1), &net, NULL) < 0)
            ip6 = NULL;
        json_t *e = json_object();
        json_t *al = json_loads((const char *)sqlite3_column_text(st, 6), 0, NULL);
        json_object_set_new(e, "IPAMConfig", json_null());
        json_object_set_new(e, "Links", json_null());
        json_object_set_new(e, "Aliases", al ? al : json_null());
        json_object_set_new(e, "NetworkID", json_string((const char *)sqlite3_column_text(st, 1)));
        json_object_set_new(e, "EndpointID", json_string(""));
        json_object_set_new(e, "Gateway", json_string((const char *)sqlite3_column_text(st, 2)));
        json_object_set_new(e, "IPAddress", json_string((const char *)sqlite3_column_text(st, 4)));
        json_object_set_new(e, "IPPrefixLen",
                            json_integer(tug_subnet_prefix((const char *)sqlite3_column_text(st, 3))));
        json_object_set_new(e, "IPv6Gateway", json_string(ip6 ? net->gateway6 : ""));
        json_object_set_new(e, "GlobalIPv6Address", json_string(ip6 ? ip6 : ""));
        const char *slash = ip6 && net->subnet6 ? strrchr(net->subnet6, '/') : NULL;
        json_object_set_new(e, "GlobalIPv6PrefixLen", json_integer(slash ? atoi(slash + 1) : 0));
        json_object_set_new(e, "MacAddress", json_string((const char *)sqlite3_column_text(st, 5)));
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0), e);
    }
    return o;
}

/* Links and rules are the host's, shared by every store: only those of this store's
 * containers that are not running are leftovers; anything else may be another store's. */
static bool stale_prefix(tug_store *s, const char *prefix)
{
    cleanup_free char *pat = NULL;
    if (asprintf(&pat, "%s*", prefix) < 0)
        return false;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT 1 FROM containers WHERE id GLOB ? AND state NOT IN ('running', 'paused', "
        "'restarting')",
        NULL);
    if (st == NULL)
        return false;
    BIND_TEXT(st, 1, pat);
    return sqlite3_step(st) == SQLITE_ROW;
}

/* Does a network of this store name the bridge? In doubt (the database fails), yes. */
static bool store_bridge(tug_store *s, const char *bridge)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT 1 FROM networks WHERE bridge = ?", NULL);
    if (st == NULL)
        return true;
    BIND_TEXT(st, 1, bridge);
    int rc = sqlite3_step(st);
    return rc != SQLITE_DONE;
}

/* Is the bridge, marked by its alias as one of tug's, left over? Ours (self is this store's
 * alias): no network names it. Another store's: its root is gone altogether; a store whose
 * database is missing (being created, or moved away) may still need it. *ret_ours says which. */
static const char *leftover_bridge(tug_store *s, const char *self, const char *bridge,
                                   const char *alias, bool *ret_ours)
{
    size_t pl = strlen(TUG_BRIDGE_ALIAS_PREFIX);
    if (strncmp(alias, TUG_BRIDGE_ALIAS_PREFIX, pl) != 0)
        return NULL;
    *ret_ours = strcmp(alias, self) == 0;
    if (*ret_ours)
        return store_bridge(s, bridge) ? NULL : "bridge of a network that is gone";
    const char *root = alias + pl;
    struct stat sb;
    if (root[0] != '/' || lstat(root, &sb) == 0 || errno != ENOENT)
        return NULL;
    return "bridge of a store that is gone";
}

static const char dry_note[] = " (system check without --dry-run removes it)";

static int check_bridges(tug_store *s, bool repair, char **details)
{
    int found = 0;
    tug_error *e = NULL;
    char **links = NULL;
    char self[300];
    tug_network_owner_alias(s, self, sizeof(self));
    if (tug_nl_links_with_prefix("tug", &links, &e) == 0) {
        for (char **l = links; l && *l; l++) {
            char *alias = NULL;
            if (strncmp(*l, "tugv", 4) == 0 || tug_nl_link_alias(*l, &alias, &e) < 0) {
                tug_error_freep(&e);
                continue;
            }
            bool ours = false;
            const char *why = leftover_bridge(s, self, *l, alias, &ours);
            if (why == NULL) {
                free(alias);
                continue;
            }
            /* another store's leftover is said and removed, but is not this store's problem */
            found += ours;
            if (ours)
                tug_append_line(details, "%s: %s", why, *l);
            else
                tug_append_line(details, "%s: %s (store %s)%s", why, *l,
                                alias + strlen(TUG_BRIDGE_ALIAS_PREFIX), repair ? "" : dry_note);
            free(alias);
            if (repair)
                tug_network_bridge_down(*l);
        }
    }
    tug_error_free(e);
    for (char **l = links; l && *l; l++)
        free(*l);
    free(links);
    /* Rules whose bridge went without tug: deleted by hand, or gone with a store thrown away
     * (its bridge removed above takes its rules along). Whose they were, only the bridge's
     * name can tell: this store's count as its problem. */
    char **stale = NULL;
    if (tug_fw_stale_bridges(repair, &stale, &e) == 0) {
        for (char **b = stale; *b; b++) {
            bool ours = store_bridge(s, *b);
            found += ours;
            tug_append_line(details, "firewall rules of a bridge that is gone: %s%s", *b,
                            ours || repair ? "" : dry_note);
            free(*b);
        }
        free(stale);
    }
    tug_error_free(e);
    return found;
}

/* Forget build steps whose builder is gone (killed mid-RUN): their addresses are leftovers. */
static void forget_dead_build_steps(tug_store *s)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT id, pid, pid_start FROM build_steps", NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        tug_proc p;
        if (tug_proc_read((pid_t)sqlite3_column_int(st, 1), &p) == 0 &&
            p.start == sqlite3_column_int64(st, 2) && !tug_proc_ended(&p))
            continue;
        cleanup_stmt sqlite3_stmt *del =
            tug_db_prepare(s, "DELETE FROM build_steps WHERE id = ?", NULL);
        if (del) {
            BIND_TEXT(del, 1, (const char *)sqlite3_column_text(st, 0));
            sqlite3_step(del);
        }
    }
}

int tug_net_check(tug_store *s, bool repair, char **details, tug_error **err)
{
    forget_dead_build_steps(s);
    int found = check_bridges(s, repair, details);
    tug_error *e = NULL;
    char **links = NULL;
    if (tug_nl_links_with_prefix("tugv", &links, &e) == 0) {
        for (char **l = links; l && *l; l++) {
            if (!stale_prefix(s, *l + 4))
                continue;
            found++;
            tug_append_line(details, "network link of a container that is gone: %s", *l);
            if (repair)
                tug_nl_link_delete(*l, NULL);
        }
    }
    tug_error_freep(&e);
    for (char **l = links; l && *l; l++)
        free(*l);
    free(links);
    char **owners = NULL;
    if (tug_fw_owners(&owners, &e) == 0) {
        for (char **o = owners; o && *o; o++) {
            if (strncmp(*o, "net:", 4) == 0 || !stale_prefix(s, *o))
                continue;
            found++;
            tug_append_line(details, "port rules of a container that is gone: %.12s", *o);
            if (repair)
                tug_fw_ports_remove(*o, NULL);
        }
    }
    tug_error_freep(&e);
    for (char **o = owners; o && *o; o++)
        free(*o);
    free(owners);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT container_id FROM endpoints WHERE container_id NOT IN (SELECT id FROM containers "
        "WHERE state IN ('running', 'paused', 'restarting')) AND container_id NOT IN (SELECT id "
        "FROM build_steps) UNION SELECT container_id FROM ports "
        "WHERE container_id NOT IN (SELECT id FROM containers WHERE state IN ('running', "
        "'paused', 'restarting'))",
        err);
    if (st == NULL)
        return -1;
    char **ids = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **nv = realloc(ids, (n + 1) * sizeof(*nv));
        if (nv == NULL)
            break;
        ids = nv;
        ids[n++] = tug_db_col_text(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < n; i++) {
        found++;
        tug_append_line(details, "address or port held for a container that is not running: %.12s",
                        ids[i]);
        if (repair) {
            delete_ports(s, ids[i]);
            tug_ipam_release(s, ids[i], NULL);
        }
        free(ids[i]);
    }
    free(ids);
    if (repair && n)
        tug_dns_names_write(s);
    return found;
}

static void extra_if_name(const char *id, const char *network_id, char out[16])
{
    snprintf(out, 16, "tugv%.8s%.2s", id, network_id);
}

int tug_net_connect(tug_store *s, const char *id, pid_t pid, const char *network,
                    json_t *aliases, const char *ip, tug_error **err)
{
    return tug_net_connect6(s, id, pid, network, aliases, ip, NULL, err);
}

int tug_net_connect6(tug_store *s, const char *id, pid_t pid, const char *network,
                     json_t *aliases, const char *ip, const char *ip6, tug_error **err)
{
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, network, &n, err) < 0 || tug_network_up(s, n, err) < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT COUNT(*), SUM(network_id = ?) FROM endpoints WHERE container_id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, n->id);
    BIND_TEXT(st, 2, id);
    int count = 0, already = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        count = sqlite3_column_int(st, 0);
        already = sqlite3_column_int(st, 1);
    }
    if (already)
        return tug_error_user(err, "endpoint with name %.12s already exists in network %s", id,
                              n->name);
    bool user_network = strcmp(n->name, TUG_DEFAULT_NETWORK) != 0;
    if ((ip || ip6) && !user_network)
        return tug_error_user(err, "user specified IP address is supported on user defined "
                                   "networks only");
    tug_endpoint ep = {0};
    if (tug_ipam_allocate(s, n, id, ip, ip6, aliases, &ep, err) < 0)
        return -1;
    char host_if[16], ctr_if[16], cidr[64];
    extra_if_name(id, n->id, host_if);
    snprintf(ctr_if, sizeof(ctr_if), "eth%d", count);
    snprintf(cidr, sizeof(cidr), "%s/%d", ep.ip, tug_subnet_prefix(n->subnet));
    int r = 0;
    /* the first network keeps the default route */
    if (tug_nl_veth_setup(host_if, n->bridge, pid, ctr_if, cidr, ep.mac, NULL, err) < 0)
        r = -1;
    /* IPv6 too, without a route: the first network keeps the default ones */
    if (r == 0 && ep.ip6 && n->subnet6) {
        char cidr6[96];
        const char *slash = strrchr(n->subnet6, '/');
        snprintf(cidr6, sizeof(cidr6), "%s%s", ep.ip6, slash ? slash : "/64");
        if (tug_nl_addr6_setup(pid, ctr_if, cidr6, NULL, err) < 0) {
            tug_nl_link_delete(host_if, NULL);
            r = -1;
        }
    }
    if (r < 0) {
        cleanup_stmt sqlite3_stmt *del = tug_db_prepare(
            s, "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?", NULL);
        if (del) {
            BIND_TEXT(del, 1, id);
            BIND_TEXT(del, 2, n->id);
            sqlite3_step(del);
        }
        tug_endpoint_clear(&ep);
        return tug_error_wrap(err, "connect to network %s", n->name);
    }
    tug_endpoint_clear(&ep);
    if (user_network)
        write_hosts(s, n, true);
    return 0;
}

int tug_net_disconnect(tug_store *s, const char *id, const char *network, bool primary,
                       tug_error **err)
{
    cleanup_network tug_network *n = NULL;
    if (tug_network_find(s, network, &n, err) < 0)
        return -1;
    tug_net_disconnected(s, id, n->id);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    BIND_TEXT(st, 2, n->id);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return tug_error_user(err, "container %.12s is not connected to network %s", id,
                              n->name);
    char host_if[16];
    if (primary)
        snprintf(host_if, sizeof(host_if), "tugv%.10s", id);
    else
        extra_if_name(id, n->id, host_if);
    tug_nl_link_delete(host_if, NULL);
    if (strcmp(n->name, TUG_DEFAULT_NETWORK) != 0)
        write_hosts(s, n, true);
    return 0;
}
