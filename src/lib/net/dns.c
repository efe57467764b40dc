#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/container.h"
#include "../runtime/proc.h"
#include "../store/db.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"

#define RESOLVER_START_MS 5000

const char *tug_dns_host_resolv_conf(void)
{
    const char *p = getenv("TUG_HOST_RESOLV_CONF");
    return p && *p ? p : "/etc/resolv.conf";
}

static bool loopback_ns(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* The nameservers of a resolv.conf that are not loopback ones; *ret_stub: one was 127.0.0.53. */
static void add_nameservers(tug_strbuf *ob, const char *path, bool *ret_stub, int *ret_n)
{
    cleanup_free char *data = NULL;
    size_t len;
    tug_error *ignored = NULL;
    if (tug_read_file(path, &data, &len, &ignored) < 0) {
        tug_error_free(ignored);
        return;
    }
    for (char *save = NULL, *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char addr[128];
        if (sscanf(l, " nameserver %127s", addr) != 1)
            continue;
        if (loopback_ns(addr)) {
            if (ret_stub && strcmp(addr, "127.0.0.53") == 0)
                *ret_stub = true;
            continue;
        }
        tug_strbuf_adds(ob, "nameserver ");
        tug_strbuf_adds(ob, addr);
        tug_strbuf_addc(ob, '\n');
        (*ret_n)++;
    }
}

/* "search ..." or "options ..." of the host's file, or the flag's values instead. */
static void add_list(tug_strbuf *ob, const char *host_data, const char *key, json_t *values,
                     const char *extra)
{
    if (json_array_size(values) > 0) {
        /* docker: --dns-search . means no search domains at all */
        if (strcmp(key, "search") == 0 && json_array_size(values) == 1 &&
            strcmp(json_string_value(json_array_get(values, 0)) ?: "", ".") == 0)
            return;
        tug_strbuf_adds(ob, key);
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v)
        {
            tug_strbuf_addc(ob, ' ');
            tug_strbuf_adds(ob, json_string_value(v) ?: "");
        }
        tug_strbuf_addc(ob, '\n');
        return;
    }
    size_t kl = strlen(key);
    bool found = false;
    cleanup_free char *copy = host_data ? strdup(host_data) : NULL;
    for (char *save = NULL, *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, key, kl) != 0 || (l[kl] != ' ' && l[kl] != '\t'))
            continue;
        tug_strbuf_adds(ob, l);
        if (extra && strstr(l, "ndots:") == NULL) {
            tug_strbuf_addc(ob, ' ');
            tug_strbuf_adds(ob, extra);
        }
        tug_strbuf_addc(ob, '\n');
        found = true;
    }
    if (!found && extra) {
        tug_strbuf_adds(ob, key);
        tug_strbuf_addc(ob, ' ');
        tug_strbuf_adds(ob, extra);
        tug_strbuf_addc(ob, '\n');
    }
}

char *tug_dns_resolv_conf(json_t *hc, const char *nameserver)
{
    tug_strbuf ob = {0};
    json_t *dns = json_object_get(hc, "Dns");
    int n = 0;
    if (nameserver) {
        tug_strbuf_adds(&ob, "nameserver ");
        tug_strbuf_adds(&ob, nameserver);
        tug_strbuf_addc(&ob, '\n');
    } else if (json_array_size(dns) > 0) {
        /* --dns replaces the host's resolvers */
        size_t i;
        json_t *v;
        json_array_foreach(dns, i, v)
        {
            tug_strbuf_adds(&ob, "nameserver ");
            tug_strbuf_adds(&ob, json_string_value(v) ?: "");
            tug_strbuf_addc(&ob, '\n');
        }
    } else {
        /* loopback resolvers mean nothing inside the container: systemd-resolved's stub is
         * replaced by the servers it uses, and none at all by Google's (docker's rules) */
        bool stub = false;
        add_nameservers(&ob, tug_dns_host_resolv_conf(), &stub, &n);
        if (n == 0 && stub)
            add_nameservers(&ob, "/run/systemd/resolve/resolv.conf", NULL, &n);
        if (n == 0)
            tug_strbuf_adds(&ob, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    cleanup_free char *host = NULL;
    size_t len;
    tug_error *ignored = NULL;
    if (tug_read_file(tug_dns_host_resolv_conf(), &host, &len, &ignored) < 0)
        tug_error_free(ignored);
    add_list(&ob, host, "search", json_object_get(hc, "DnsSearch"), NULL);
    /* a name without dots goes to the resolver as it is first (docker's ndots:0) */
    add_list(&ob, host, "options", json_object_get(hc, "DnsOptions"),
             nameserver ? "ndots:0" : NULL);
    char *out = tug_strbuf_steal(&ob);
    return out ? out : strdup("");
}

bool tug_dns_extra_host(const char *entry, const char *host_gateway, char *name, size_t nsize,
                        char *ip, size_t isize)
{
    if (entry == NULL)
        return false;
    const char *sep = strchr(entry, '=');
    if (sep == NULL)
        sep = strchr(entry, ':'); /* the first colon: the address may be IPv6 */
    if (sep == NULL || sep == entry || memchr(entry, ':', (size_t)(sep - entry)) ||
        (size_t)(sep - entry) >= nsize)
        return false;
    const char *v = sep + 1;
    size_t vl = strlen(v);
    if (vl > 2 && v[0] == '[' && v[vl - 1] == ']') {
        v++;
        vl -= 2;
    }
    if (vl >= isize)
        return false;
    snprintf(name, nsize, "%.*s", (int)(sep - entry), entry);
    snprintf(ip, isize, "%.*s", (int)vl, v);
    if (strcmp(ip, "host-gateway") == 0) {
        if (host_gateway == NULL)
            return false;
        snprintf(ip, isize, "%s", host_gateway);
        return true;
    }
    unsigned char b[16];
    return inet_pton(AF_INET, ip, b) == 1 || inet_pton(AF_INET6, ip, b) == 1;
}

static char *dns_dir(tug_store *s)
{
    return tug_store_run_path(s, "dns");
}

static int lock_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        flock(fd, LOCK_EX);
    return fd;
}

/* The resolver lives chrooted in dir (src/dns/resolver.c): it reads the host's resolvers from
 * a copy there, made with every rewrite of the names (the first before any resolver starts)
 * so that it follows the host's. */
static void host_resolv_copy(const char *dir)
{
    cleanup_free char *data = NULL, *path = NULL;
    size_t len = 0;
    tug_error *ignored = NULL;
    if (tug_read_file(tug_dns_host_resolv_conf(), &data, &len, &ignored) < 0) {
        tug_error_free(ignored);
        ignored = NULL;
    }
    if (asprintf(&path, "%s/resolv.conf", dir) < 0)
        return;
    if (tug_write_file_atomic_nosync(path, data ? data : "", data ? len : 0, 0644, &ignored) < 0)
        tug_error_free(ignored);
}

void tug_dns_names_write(tug_store *s)
{
    cleanup_free char *dir = dns_dir(s);
    if (dir == NULL || tug_mkdir_p(dir, 0700, NULL) < 0)
        return;
    /* one writer at a time, reading the store under the lock: the last rename is the newest */
    cleanup_close int lock = lock_file(dir, "names.lock");
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT e.network_id, e.ip, e.container_id, c.name, e.aliases, c.config, e.ip6 FROM "
        "endpoints e JOIN containers c ON c.id = e.container_id JOIN networks n ON n.id = "
        "e.network_id WHERE n.name != '" TUG_DEFAULT_NETWORK "' ORDER BY e.network_id, e.ip",
        NULL);
    if (st == NULL)
        return;
    tug_strbuf ob = {0};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 2);
        char line[1024];
        const unsigned char *ip6 = sqlite3_column_text(st, 6);
        /* "ip,ipv6" where the container has an IPv6 address (src/dns/resolver.c) */
        snprintf(line, sizeof(line), "%s %s%s%s %s %s %.12s", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1), ip6 ? "," : "", ip6 ? (const char *)ip6 : "", id,
                 sqlite3_column_text(st, 3), id);
        tug_strbuf_adds(&ob, line);
        json_t *al = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        size_t i;
        json_t *a;
        json_array_foreach(al, i, a)
        {
            const char *v = json_string_value(a);
            if (v && *v && strpbrk(v, " \t\n") == NULL) {
                tug_strbuf_addc(&ob, ' ');
                tug_strbuf_adds(&ob, v);
            }
        }
        json_decref(al);
        tug_strbuf_addc(&ob, '\n');
        /* its --dns servers take its other questions */
        json_t *cfg = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        json_t *dns = json_object_get(json_object_get(cfg, "HostConfig"), "Dns");
        if (json_array_size(dns) > 0) {
            tug_strbuf_adds(&ob, "@dns ");
            tug_strbuf_adds(&ob, id);
            json_array_foreach(dns, i, a)
            {
                tug_strbuf_addc(&ob, ' ');
                tug_strbuf_adds(&ob, json_string_value(a) ?: "");
            }
            tug_strbuf_addc(&ob, '\n');
        }
        json_decref(cfg);
    }
    cleanup_free char *data = tug_strbuf_steal(&ob);
    cleanup_free char *path = NULL;
    host_resolv_copy(dir);
    if (asprintf(&path, "%s/names", dir) >= 0)
        tug_write_file_atomic_nosync(path, data ? data : "", data ? strlen(data) : 0, 0644, NULL);
}

/* Is the pid in the network's pid file a resolver of this network? */
static bool resolver_alive(const char *dir, const tug_network *n)
{
    char path[PATH_MAX], buf[32];
    snprintf(path, sizeof(path), "%s/%.12s.pid", dir, n->id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    int pid = atoi(buf);
    if (pid <= 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    char cmd[256];
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    r = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    if (r <= 0)
        return false;
    cmd[r] = '\0';
    /* argv: tug-dns NETWORK_ID ...; a zombie has an empty cmdline */
    return strcmp(cmd, "tug-dns") == 0 && (size_t)r > 8 && strcmp(cmd + 8, n->id) == 0;
}

static char *resolver_binary(void)
{
    cleanup_free char *dir = tug_self_dir();
    char *p = NULL;
    return dir == NULL || asprintf(&p, "%s/tug-dns", dir) < 0 ? NULL : p;
}

/* Start the resolver, detached (its own session, no parent among tug's commands), and wait
 * until it serves or says why not. */
static int start_resolver(const char *dir, const tug_network *n, tug_error **err)
{
    cleanup_free char *bin = resolver_binary();
    cleanup_free char *resolv = NULL;
    /* its copy of the host's resolv.conf is there: the names were just written (write_hosts
     * runs before tug_dns_container_setup), and host_resolv_copy with them */
    if (bin == NULL || asprintf(&resolv, "%s/resolv.conf", dir) < 0)
        return tug_error_set(err, ENOMEM, "resolver");
    char *const argv[] = {"tug-dns", n->id, n->gateway, n->bridge, (char *)dir,
                          resolv, n->internal ? "internal" : NULL,
                          NULL};
    int ready;
    int r = tug_fork_detached(&ready);
    if (r < 0)
        return tug_error_set(err, errno, "fork");
    if (r == 0) {
        /* fd 3 across the exec (dup2 onto itself would keep its close-on-exec) */
        if (ready == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(ready, 3) < 0)
            _exit(127);
        tug_close_fds_from(4, false);
        if (chdir("/") < 0)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(bin, argv);
        dprintf(3, "Eexec %s: %s", bin, strerror(errno));
        _exit(127);
    }
    char msg[256] = "";
    struct pollfd pf = {.fd = ready, .events = POLLIN};
    ssize_t got = 0;
    if (poll(&pf, 1, RESOLVER_START_MS) > 0)
        got = read(ready, msg, sizeof(msg) - 1);
    close(ready);
    msg[got > 0 ? got : 0] = '\0';
    if (msg[0] == 'R' || msg[0] == 'B')
        return 0;
    return tug_error_set(err, 0, "start the name resolver of network %s: %s", n->name,
                         msg[0] ? msg + 1 : "it did not answer");
}

int tug_dns_container_setup(tug_store *s, const tug_network *n, json_t *hc, const char *ctr_dir,
                            tug_error **err)
{
    cleanup_free char *conf = tug_dns_resolv_conf(hc, n->gateway);
    cleanup_free char *path = NULL;
    if (conf == NULL || asprintf(&path, "%s/resolv.conf", ctr_dir) < 0)
        return tug_error_set(err, ENOMEM, "resolv.conf");
    /* bind-mounted into a container that restarts: the same inode, new content */
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || tug_write_all(fd, conf, strlen(conf)) < 0)
        return tug_error_set(err, errno, "write %s", path);
    cleanup_free char *dir = dns_dir(s);
    if (dir == NULL)
        return tug_error_set(err, ENOMEM, "resolver");
    cleanup_close int lock = -1;
    char name[32];
    snprintf(name, sizeof(name), "%.12s.lock", n->id);
    if (tug_mkdir_p(dir, 0700, err) < 0 || (lock = lock_file(dir, name)) < 0)
        return tug_error_wrap(err, "name resolver of network %s", n->name);
    if (resolver_alive(dir, n))
        return 0;
    return start_resolver(dir, n, err);
}

/* "target:alias" split; alias defaults to the target. */
static bool split_link(const char *link, char *target, size_t tsize, const char **ret_alias)
{
    if (link == NULL)
        return false;
    const char *colon = strchr(link, ':');
    size_t tl = colon ? (size_t)(colon - link) : strlen(link);
    if (tl == 0 || tl >= tsize)
        return false;
    snprintf(target, tsize, "%.*s", (int)tl, link);
    *ret_alias = colon && colon[1] ? colon + 1 : NULL;
    return true;
}

int tug_dns_links_check(tug_store *s, json_t *hc, tug_error **err)
{
    json_t *links = json_object_get(hc, "Links");
    size_t i;
    json_t *v;
    json_array_foreach(links, i, v)
    {
        char target[256];
        const char *alias;
        const char *link = json_string_value(v);
        if (!split_link(link, target, sizeof(target), &alias))
            return tug_error_user(err, "invalid link %s: use NAME[:ALIAS]", link ? link : "");
        cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
            s, "SELECT name FROM containers WHERE name = ? OR id = ? OR id LIKE ? || '%'", err);
        if (st == NULL)
            return -1;
        BIND_TEXT(st, 1, target);
        BIND_TEXT(st, 2, target);
        BIND_TEXT(st, 3, strlen(target) >= 3 ? target : "-");
        if (sqlite3_step(st) != SQLITE_ROW)
            return tug_error_user(err,
                                  "could not get container for %s: No such container: %s; "
                                  "link to an existing container",
                                  target, target);
        cleanup_free char *norm = NULL;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (asprintf(&norm, "%s:%s", name, alias ? alias : target) < 0)
            return tug_error_set(err, ENOMEM, "link");
        json_array_set_new(links, i, json_string(norm));
    }
    return 0;
}

json_t *tug_dns_links_json(json_t *links, const char *self)
{
    if (!json_is_array(links) || json_array_size(links) == 0)
        return json_null();
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(links, i, v)
    {
        char target[256];
        const char *alias;
        char *s = NULL;
        if (split_link(json_string_value(v), target, sizeof(target), &alias) &&
            asprintf(&s, "/%s:/%s/%s", target, self, alias ? alias : target) >= 0)
            json_array_append_new(out, json_string(s));
        free(s);
    }
    return out;
}

char *tug_dns_link_hosts(tug_store *s, json_t *hc)
{
    json_t *links = json_object_get(hc, "Links");
    if (json_array_size(links) == 0)
        return NULL;
    tug_strbuf ob = {0};
    size_t i;
    json_t *v;
    json_array_foreach(links, i, v)
    {
        char target[256];
        const char *alias;
        if (!split_link(json_string_value(v), target, sizeof(target), &alias))
            continue;
        cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
            s,
            "SELECT e.ip, c.id FROM endpoints e JOIN containers c ON c.id = e.container_id "
            "WHERE c.name = ? LIMIT 1",
            NULL);
        if (st == NULL)
            continue;
        BIND_TEXT(st, 1, target);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue; /* not running: no address to give */
        char line[700];
        snprintf(line, sizeof(line), "%s\t%s %.12s %s\n", sqlite3_column_text(st, 0),
                 alias ? alias : target, sqlite3_column_text(st, 1), target);
        tug_strbuf_adds(&ob, line);
    }
    return tug_strbuf_steal(&ob);
}
