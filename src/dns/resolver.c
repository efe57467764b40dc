/* tug-dns: the name resolver of one user network. It answers on the network's gateway address,
 * port 53 (UDP and TCP), bound to the network's bridge so that no other interface of the host
 * hears it. Names come from a file tug rewrites atomically whenever a container joins or leaves
 * a user network (src/lib/net/dns.c writes it), one line per endpoint:
 *     <network id> <ip>[,<ipv6>] <container id> <name> <name>...
 * (the IPv6 address on networks with IPv6: AAAA questions and ip6.arpa PTR get it)
 * A client sees the names of every network its container is on. Other names are forwarded to
 * the host's resolvers (the nameserver lines of a resolv.conf, read again when it changes), or
 * to the container's own (--dns), which a line "@dns <container id> <ip>..." gives.
 * It exits when no container is left on its network, or when the names file is gone (its
 * store was thrown away). Static and libc-only, like tug-monitor: one runs per busy network.
 *
 *   tug-dns NETWORK_ID GATEWAY BRIDGE DIR RESOLV_CONF [internal]
 * An internal network's resolver answers its names only: its containers reach no one outside.
 * DIR holds names, names.lock, and <first 12 of NETWORK_ID>.pid, .lock. If fd 3 is open it is
 * told "R" once serving, "B" when another resolver already serves the address, "E<why>" else.
 * It parses what containers send while it runs on the host, so once its sockets are bound it
 * confines itself (confine() below): DIR becomes its root, which is why RESOLV_CONF should be
 * a copy inside DIR (tug keeps one there), every capability goes, and a seccomp filter allows
 * only the calls its loop makes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/confine.h"

#define MAX_PENDING 64
#define MAX_UPSTREAM 4
#define MAX_MSG 4096
#define TTL 600
#define UPSTREAM_TIMEOUT_MS 2000

typedef struct row {
    char *net, *ctr, *names; /* names: space separated, into the file's buffer */
    struct in_addr ip;
    struct in6_addr ip6;
    bool has6;
} row;

typedef struct upstreams {
    struct sockaddr_storage a[MAX_UPSTREAM];
    socklen_t len[MAX_UPSTREAM];
    int n;
} upstreams;

typedef struct pending {
    int fd; /* -1: free */
    upstreams up;
    struct sockaddr_storage client;
    socklen_t client_len;
    int server; /* index of the upstream asked */
    long long deadline_ms;
    size_t len;
    unsigned char q[MAX_MSG];
} pending;

static struct {
    const char *net, *dir, *resolv;
    bool internal;
    int udp, tcp;
    char names_path[4096], pid_path[4096], lock_path[4096];
    struct in_addr gateway;
    char *buf;
    row *rows, *dns; /* dns: "@dns" lines, names holding the servers */
    size_t n_rows, n_dns;
    struct stat names_st, resolv_st;
    upstreams up;
    pending pend[MAX_PENDING];
} R;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static char *read_all(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *data = NULL;
    if (fstat(fd, st) == 0 && st->st_size < (1 << 24) && (data = malloc((size_t)st->st_size + 1))) {
        ssize_t n = read(fd, data, (size_t)st->st_size);
        data[n > 0 ? n : 0] = '\0';
    }
    close(fd);
    return data;
}

static void push_row(row **v, size_t *n, size_t *cap, row r)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        row *nv = realloc(*v, c * sizeof(*nv));
        if (nv == NULL)
            return; /* the row is left out; the next reload tries again */
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = r;
}

/* Read the names file again: false when it is gone. */
static bool load_names(void)
{
    struct stat st;
    char *data = read_all(R.names_path, &st);
    if (data == NULL)
        return false;
    free(R.buf);
    free(R.rows);
    free(R.dns);
    R.buf = data;
    R.rows = R.dns = NULL;
    R.n_rows = R.n_dns = 0;
    R.names_st = st;
    size_t cap = 0, dcap = 0;
    for (char *save = NULL, *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *s2 = NULL;
        if (strncmp(l, "@dns ", 5) == 0) {
            char *ctr = strtok_r(l + 5, " ", &s2);
            if (ctr == NULL || s2 == NULL)
                continue;
            push_row(&R.dns, &R.n_dns, &dcap, (row){.ctr = ctr, .names = s2});
            continue;
        }
        char *net = strtok_r(l, " ", &s2), *ip = strtok_r(NULL, " ", &s2),
             *ctr = strtok_r(NULL, " ", &s2), *names = s2;
        row r = {.net = net, .ctr = ctr, .names = names ? names : (char *)""};
        char *comma = ip ? strchr(ip, ',') : NULL;
        if (comma) {
            *comma = '\0';
            r.has6 = inet_pton(AF_INET6, comma + 1, &r.ip6) == 1;
        }
        if (net == NULL || ctr == NULL || inet_pton(AF_INET, ip, &r.ip) != 1)
            continue;
        push_row(&R.rows, &R.n_rows, &cap, r);
    }
    return true;
}

static bool network_busy(void)
{
    for (size_t i = 0; i < R.n_rows; i++)
        if (strcmp(R.rows[i].net, R.net) == 0)
            return true;
    return false;
}

static void add_upstream(upstreams *u, const char *addr)
{
    if (u->n >= MAX_UPSTREAM || strchr(addr, '%')) /* fe80::1%eth0: a scope not ours */
        return;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&u->a[u->n];
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u->a[u->n];
    memset(&u->a[u->n], 0, sizeof(u->a[0]));
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(53);
        u->len[u->n++] = sizeof(*a4);
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(53);
        u->len[u->n++] = sizeof(*a6);
    }
}

/* The host's resolvers; loopback ones too, since this process runs in the host's namespace. */
static void load_resolv(void)
{
    struct stat st;
    char *data = read_all(R.resolv, &st);
    R.up.n = 0;
    if (data) {
        R.resolv_st = st;
        for (char *save = NULL, *l = strtok_r(data, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
            char addr[128];
            if (sscanf(l, " nameserver %127s", addr) == 1)
                add_upstream(&R.up, addr);
        }
        free(data);
    }
    if (R.up.n == 0) {
        /* none listed: docker's defaults */
        add_upstream(&R.up, "8.8.8.8");
        add_upstream(&R.up, "8.8.4.4");
    }
}

/* Where a client's other names go: its container's --dns servers, or the host's. */
static void upstreams_for(struct in_addr client, upstreams *ret)
{
    for (size_t i = 0; i < R.n_rows; i++) {
        const row *c = &R.rows[i];
        if (c->ip.s_addr != client.s_addr || strcmp(c->net, R.net) != 0)
            continue;
        for (size_t j = 0; j < R.n_dns; j++) {
            if (strcmp(R.dns[j].ctr, c->ctr) != 0)
                continue;
            ret->n = 0;
            char copy[512];
            snprintf(copy, sizeof(copy), "%s", R.dns[j].names);
            for (char *save = NULL, *a = strtok_r(copy, " ", &save); a;
                 a = strtok_r(NULL, " ", &save))
                add_upstream(ret, a);
            if (ret->n)
                return;
        }
    }
    *ret = R.up;
}

static void refresh(void)
{
    struct stat st;
    if (stat(R.names_path, &st) != 0 || !same_file(&st, &R.names_st))
        load_names();
    if (R.resolv[0] && (stat(R.resolv, &st) != 0 || !same_file(&st, &R.resolv_st)))
        load_resolv();
}

/* Should this resolver go? Decided under the network's lock, which tug holds while it checks
 * for a live resolver and starts one, so that a container joining meanwhile is never left
 * without one. */
static bool time_to_go(void)
{
    struct stat st;
    if (stat(R.names_path, &st) == 0 && same_file(&st, &R.names_st) && network_busy())
        return false;
    int lock = open(R.lock_path, O_RDONLY | O_CLOEXEC);
    if (lock < 0)
        return true; /* the directory is gone with the store */
    flock(lock, LOCK_EX);
    bool go = !load_names() || !network_busy();
    if (go) {
        /* the port is free before the lock is: a resolver started next can bind it */
        unlink(R.pid_path);
        close(R.udp);
        if (R.tcp >= 0)
            close(R.tcp);
    }
    close(lock);
    return go;
}

/* Is the container with address client on this network one that may see row r? It sees the
 * rows of every network its container is on. */
static bool visible(struct in_addr client, const row *r)
{
    bool known = false;
    for (size_t i = 0; i < R.n_rows; i++) {
        const row *c = &R.rows[i];
        if (c->ip.s_addr != client.s_addr || strcmp(c->net, R.net) != 0)
            continue;
        known = true;
        for (size_t j = 0; j < R.n_rows; j++)
            if (strcmp(R.rows[j].ctr, c->ctr) == 0 && strcmp(R.rows[j].net, r->net) == 0)
                return true;
    }
    return !known && strcmp(r->net, R.net) == 0;
}

static bool has_name(const row *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->names; *p;) {
        size_t l = strcspn(p, " ");
        if (l == nl && strncasecmp(p, name, l) == 0)
            return true;
        p += l;
        p += strspn(p, " ");
    }
    return false;
}

/* The question's name as text ("web"), its type and the offset just past it. */
static int parse_question(const unsigned char *m, size_t len, char *name, size_t size,
                          uint16_t *ret_type, size_t *ret_end)
{
    if (len < 12 || ((m[4] << 8) | m[5]) != 1)
        return -1;
    size_t o = 12, n = 0;
    while (o < len && m[o] != 0) {
        unsigned l = m[o];
        if (l > 63 || o + 1 + l >= len || n + l + 1 >= size)
            return -1;
        if (n)
            name[n++] = '.';
        memcpy(name + n, m + o + 1, l);
        n += l;
        o += 1 + l;
    }
    if (o + 5 > len)
        return -1;
    name[n] = '\0';
    *ret_type = (uint16_t)((m[o + 1] << 8) | m[o + 2]);
    *ret_end = o + 5;
    return 0;
}

/* x.x....x.ip6.arpa (32 nibbles, the last first): the address; false for other names. */
static bool parse_ip6_arpa(const char *name, struct in6_addr *ret)
{
    if (strlen(name) != 64 + 8 || strcasecmp(name + 64, "ip6.arpa") != 0)
        return false;
    for (int i = 0; i < 32; i++) {
        char c = name[2 * i];
        if (name[2 * i + 1] != '.')
            return false;
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return false;
        int byte = 15 - i / 2;
        if (i % 2 == 0)
            ret->s6_addr[byte] = (unsigned char)v;
        else
            ret->s6_addr[byte] |= (unsigned char)(v << 4);
    }
    return true;
}

static size_t put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return 2;
}

/* Answer from the names file into out: its length, or 0 when the name is not ours. */
static size_t answer_local(const unsigned char *q, size_t qlen, struct in_addr client,
                           unsigned char *out, size_t size)
{
    char name[256];
    uint16_t type;
    size_t qend;
    if (parse_question(q, qlen, name, sizeof(name), &type, &qend) < 0)
        return 0;
    size_t nl = strlen(name);
    if (nl && name[nl - 1] == '.')
        name[--nl] = '\0';
    /* d.c.b.a.in-addr.arpa: a container's address back to its name */
    const row *ptr = NULL;
    unsigned a, b, c, d;
    char tail[32];
    if (sscanf(name, "%u.%u.%u.%u.%31s", &d, &c, &b, &a, tail) == 5 &&
        strcasecmp(tail, "in-addr.arpa") == 0 && a < 256 && b < 256 && c < 256 && d < 256) {
        uint32_t ip = htonl(a << 24 | b << 16 | c << 8 | d);
        for (size_t i = 0; i < R.n_rows && ptr == NULL; i++)
            if (R.rows[i].ip.s_addr == ip && visible(client, &R.rows[i]))
                ptr = &R.rows[i];
        if (ptr == NULL)
            return 0;
    }
    struct in6_addr ip6;
    if (ptr == NULL && parse_ip6_arpa(name, &ip6)) {
        for (size_t i = 0; i < R.n_rows && ptr == NULL; i++)
            if (R.rows[i].has6 && memcmp(&R.rows[i].ip6, &ip6, sizeof(ip6)) == 0 &&
                visible(client, &R.rows[i]))
                ptr = &R.rows[i];
        if (ptr == NULL)
            return 0;
    }
    size_t hits = 0;
    for (size_t i = 0; i < R.n_rows && ptr == NULL; i++)
        hits += has_name(&R.rows[i], name) && visible(client, &R.rows[i]);
    if (ptr == NULL && hits == 0)
        return 0;
    if (qend > size)
        return 0;
    memcpy(out, q, qend);
    out[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD as asked */
    out[3] = 0x80;                 /* RA, NOERROR */
    size_t o = qend, an = 0;
    if (ptr) {
        /* the first name: the container's */
        size_t l = strcspn(ptr->names, " ");
        if (type == 12 && l > 0 && l < 64 && o + 12 + l + 2 <= size) {
            o += put16(out + o, 0xc00c);
            o += put16(out + o, 12);
            o += put16(out + o, 1);
            o += put16(out + o, TTL >> 16);
            o += put16(out + o, TTL & 0xffff);
            o += put16(out + o, (unsigned)l + 2);
            out[o++] = (unsigned char)l;
            memcpy(out + o, ptr->names, l);
            o += l;
            out[o++] = 0;
            an = 1;
        }
    } else if (type == 1 || type == 28 || type == 255) {
        /* A, AAAA (the rows with an IPv6 address), or both for ANY */
        for (int pass = 0; pass < 2 && !(out[2] & 0x02); pass++) {
            bool six = pass == 1;
            if ((six && type == 1) || (!six && type == 28))
                continue;
            size_t alen = six ? 16 : 4;
            for (size_t i = 0; i < R.n_rows; i++) {
                if (!has_name(&R.rows[i], name) || !visible(client, &R.rows[i]) ||
                    (six && !R.rows[i].has6))
                    continue;
                if (o + 12 + alen > size) {
                    out[2] |= 0x02; /* truncated: the client asks again over TCP */
                    break;
                }
                o += put16(out + o, 0xc00c);
                o += put16(out + o, six ? 28 : 1);
                o += put16(out + o, 1);
                o += put16(out + o, TTL >> 16);
                o += put16(out + o, TTL & 0xffff);
                o += put16(out + o, (unsigned)alen);
                memcpy(out + o, six ? (const void *)&R.rows[i].ip6 : (const void *)&R.rows[i].ip,
                       alen);
                o += alen;
                an++;
            }
        }
    }
    /* other types of a known name (AAAA on a network without IPv6): no data, no error */
    put16(out + 6, (unsigned)an);
    put16(out + 8, 0);
    put16(out + 10, 0);
    return o;
}

static size_t servfail(const unsigned char *q, size_t qlen, unsigned char *out)
{
    char name[256];
    uint16_t type;
    size_t qend;
    if (parse_question(q, qlen, name, sizeof(name), &type, &qend) < 0)
        qend = 12;
    if (qlen < 12)
        return 0;
    memcpy(out, q, qend);
    out[2] = 0x80 | (q[2] & 0x01);
    out[3] = 0x82;
    memset(out + 6, 0, 6);
    put16(out + 4, qend > 12);
    return qend;
}

static int ask_upstream(pending *p)
{
    if (p->fd >= 0)
        close(p->fd);
    const struct sockaddr *up = (const struct sockaddr *)&p->up.a[p->server];
    p->fd = socket(up->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return -1;
    if (connect(p->fd, up, p->up.len[p->server]) < 0 || send(p->fd, p->q, p->len, 0) < 0) {
        close(p->fd);
        p->fd = -1;
        return -1;
    }
    p->deadline_ms = now_ms() + UPSTREAM_TIMEOUT_MS;
    return 0;
}

/* Ask the next upstream, or tell the client it failed. */
static void next_upstream(int udp, pending *p)
{
    while (++p->server < p->up.n)
        if (ask_upstream(p) == 0)
            return;
    unsigned char out[MAX_MSG];
    size_t n = servfail(p->q, p->len, out);
    if (n)
        sendto(udp, out, n, 0, (struct sockaddr *)&p->client, p->client_len);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void forward(int udp, const unsigned char *q, size_t len, struct sockaddr_storage *from,
                    socklen_t from_len)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        pending *p = &R.pend[i];
        if (p->fd >= 0)
            continue;
        memcpy(p->q, q, len);
        p->len = len;
        p->client = *from;
        p->client_len = from_len;
        p->server = -1;
        upstreams_for(((struct sockaddr_in *)from)->sin_addr, &p->up);
        next_upstream(udp, p);
        return;
    }
    /* too many in flight: the client asks again */
}

static void serve_udp(int udp)
{
    unsigned char q[MAX_MSG], out[MAX_MSG];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(udp, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 12 || from.ss_family != AF_INET || (q[2] & 0x80))
        return;
    refresh();
    /* 512 bytes over UDP, as for a client without EDNS */
    size_t an = answer_local(q, (size_t)n, ((struct sockaddr_in *)&from)->sin_addr, out, 512);
    if (an)
        sendto(udp, out, an, 0, (struct sockaddr *)&from, fl);
    else if (!R.internal)
        forward(udp, q, (size_t)n, &from, fl);
    else if ((an = servfail(q, (size_t)n, out)) > 0)
        sendto(udp, out, an, 0, (struct sockaddr *)&from, fl);
}

static void relay_reply(int udp, pending *p)
{
    unsigned char m[MAX_MSG];
    ssize_t n = recv(p->fd, m, sizeof(m), MSG_DONTWAIT);
    if (n < 12 || m[0] != p->q[0] || m[1] != p->q[1])
        return;
    sendto(udp, m, (size_t)n, 0, (struct sockaddr *)&p->client, p->client_len);
    close(p->fd);
    p->fd = -1;
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, UPSTREAM_TIMEOUT_MS) <= 0)
            return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* One question over TCP, answered while the others wait (TCP is the rare fallback). */
static void serve_tcp(int tcp)
{
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    int c = accept4(tcp, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC);
    if (c < 0)
        return;
    unsigned char lb[2], q[MAX_MSG], out[MAX_MSG + 2];
    size_t len = 0, an = 0;
    if (read_full(c, lb, 2) == 0 && (len = (size_t)(lb[0] << 8 | lb[1])) >= 12 &&
        len <= sizeof(q) && read_full(c, q, len) == 0) {
        refresh();
        an = answer_local(q, len, from.sin_addr, out + 2, sizeof(out) - 2);
        upstreams ups;
        upstreams_for(from.sin_addr, &ups);
        for (int s = 0; an == 0 && !R.internal && s < ups.n; s++) {
            const struct sockaddr *up = (const struct sockaddr *)&ups.a[s];
            int u = socket(up->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct timeval tv = {.tv_sec = UPSTREAM_TIMEOUT_MS / 1000};
            setsockopt(u, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            unsigned char rl[2];
            size_t rlen;
            if (u >= 0 && connect(u, up, ups.len[s]) == 0 && write(u, lb, 2) == 2 &&
                write(u, q, len) == (ssize_t)len && read_full(u, rl, 2) == 0 &&
                (rlen = (size_t)(rl[0] << 8 | rl[1])) <= MAX_MSG && read_full(u, out + 2, rlen) == 0)
                an = rlen;
            if (u >= 0)
                close(u);
        }
        if (an == 0)
            an = servfail(q, len, out + 2);
        put16(out, (unsigned)an);
        if (an && write(c, out, an + 2) < 0) {
            /* the client went */
        }
    }
    close(c);
}

static int listen_on(int type, const char *bridge)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bridge, (socklen_t)strlen(bridge)) < 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr = R.gateway};
    if (type == SOCK_STREAM) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 16) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The calls the serving loop makes, and no others: a flaw in the parsing of a container's
 * query must not reach the host. open only reads, sockets are IP ones (no abstract unix
 * socket of a host service), and execve, ptrace, kill, mount and the rest fail with EPERM. */
#define OPEN_WRITES (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)
/* clang-format off */
static const struct sock_filter resolver_calls[] = {
    TUG_ALLOW_WITHOUT(__NR_openat, 2, OPEN_WRITES),
#ifdef __NR_open
    TUG_ALLOW_WITHOUT(__NR_open, 1, OPEN_WRITES),
#endif
    TUG_ALLOW_IF2(__NR_socket, 0, AF_INET, AF_INET6),
    TUG_ALLOW(__NR_read), TUG_ALLOW(__NR_write), TUG_ALLOW(__NR_writev), TUG_ALLOW(__NR_close),
    TUG_ALLOW(__NR_ppoll),
#ifdef __NR_poll
    TUG_ALLOW(__NR_poll),
#endif
    TUG_ALLOW(__NR_recvfrom), TUG_ALLOW(__NR_recvmsg), TUG_ALLOW(__NR_sendto),
    TUG_ALLOW(__NR_sendmsg), TUG_ALLOW(__NR_connect), TUG_ALLOW(__NR_accept4),
#ifdef __NR_accept
    TUG_ALLOW(__NR_accept),
#endif
    TUG_ALLOW(__NR_setsockopt), TUG_ALLOW(__NR_getsockopt), TUG_ALLOW(__NR_getsockname),
    TUG_ALLOW(__NR_shutdown), TUG_ALLOW(__NR_fcntl), TUG_ALLOW(__NR_fstat),
    TUG_ALLOW(__NR_newfstatat),
#ifdef __NR_stat
    TUG_ALLOW(__NR_stat),
#endif
    TUG_ALLOW(__NR_statx), TUG_ALLOW(__NR_lseek), TUG_ALLOW(__NR_flock), TUG_ALLOW(__NR_unlinkat),
#ifdef __NR_unlink
    TUG_ALLOW(__NR_unlink),
#endif
    TUG_ALLOW(__NR_clock_gettime), TUG_ALLOW(__NR_gettimeofday), TUG_ALLOW(__NR_nanosleep),
    TUG_ALLOW(__NR_clock_nanosleep), TUG_ALLOW(__NR_getrandom), TUG_ALLOW(__NR_brk),
    TUG_ALLOW(__NR_mmap), TUG_ALLOW(__NR_munmap), TUG_ALLOW(__NR_mremap), TUG_ALLOW(__NR_madvise),
    TUG_ALLOW(__NR_mprotect), TUG_ALLOW(__NR_futex), TUG_ALLOW(__NR_getpid), TUG_ALLOW(__NR_gettid),
    TUG_ALLOW(__NR_rt_sigreturn), TUG_ALLOW(__NR_rt_sigprocmask), TUG_ALLOW(__NR_restart_syscall),
    TUG_ALLOW(__NR_exit), TUG_ALLOW(__NR_exit_group),
};
/* clang-format on */

/* Give up all the resolver does not need once its sockets are bound and its files read:
 * DIR becomes its root (its paths become relative to it), then every capability goes and the
 * filter above is loaded. A failure is an error: the resolver does not serve unconfined. */
static int confine(void)
{
    size_t dl = strlen(R.dir);
    static char resolv[4096];
    bool resolv_inside = strncmp(R.resolv, R.dir, dl) == 0 && R.resolv[dl] == '/' &&
                         strchr(R.resolv + dl + 1, '/') == NULL;
    if (tug_confine_root(R.dir) < 0)
        return -1;
    snprintf(R.names_path, sizeof(R.names_path), "/names");
    snprintf(R.pid_path, sizeof(R.pid_path), "/%.12s.pid", R.net);
    snprintf(R.lock_path, sizeof(R.lock_path), "/%.12s.lock", R.net);
    /* a resolv.conf outside DIR was read once, before this, and is not read again */
    snprintf(resolv, sizeof(resolv), "%s", resolv_inside ? R.resolv + dl : "");
    R.resolv = resolv;
    if (tug_confine_drop_privileges(false) < 0)
        return -1;
    return tug_seccomp_allow_only(resolver_calls,
                                  sizeof(resolver_calls) / sizeof(resolver_calls[0]));
}

static void tell(const char *what)
{
    if (write(3, what, strlen(what)) < 0) {
        /* nobody waits */
    }
}

int main(int argc, char **argv)
{
    if (argc != 6 && !(argc == 7 && strcmp(argv[6], "internal") == 0)) {
        fprintf(stderr, "usage: tug-dns NETWORK_ID GATEWAY BRIDGE DIR RESOLV_CONF [internal]\n");
        return 2;
    }
    R.internal = argc == 7;
    R.net = argv[1];
    R.dir = argv[4];
    R.resolv = argv[5];
    signal(SIGPIPE, SIG_IGN);
    if (inet_pton(AF_INET, argv[2], &R.gateway) != 1 || strlen(argv[3]) >= IFNAMSIZ) {
        tell("Ebad gateway or bridge");
        return 2;
    }
    snprintf(R.names_path, sizeof(R.names_path), "%s/names", R.dir);
    snprintf(R.pid_path, sizeof(R.pid_path), "%s/%.12s.pid", R.dir, R.net);
    snprintf(R.lock_path, sizeof(R.lock_path), "%s/%.12s.lock", R.dir, R.net);
    for (int i = 0; i < MAX_PENDING; i++)
        R.pend[i].fd = -1;
    int udp = R.udp = listen_on(SOCK_DGRAM, argv[3]);
    if (udp < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%c%s:53 on %s: %s", errno == EADDRINUSE ? 'B' : 'E', argv[2],
                 argv[3], strerror(errno));
        tell(msg);
        return errno == EADDRINUSE ? 0 : 1;
    }
    int tcp = R.tcp = listen_on(SOCK_STREAM, argv[3]); /* best effort: UDP is what clients use */
    load_names();
    load_resolv();
    char tmp[4200], pid[32];
    snprintf(tmp, sizeof(tmp), "%s.%d", R.pid_path, (int)getpid());
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    int pf = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (pf < 0 || write(pf, pid, strlen(pid)) != (ssize_t)strlen(pid) || close(pf) < 0 ||
        rename(tmp, R.pid_path) < 0) {
        unlink(tmp);
        tell("Ewrite the pid file");
        return 1;
    }
    if (confine() < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "Econfine the resolver: %s", strerror(errno));
        unlink(R.pid_path);
        tell(msg);
        return 1;
    }
    tell("R");
    close(3);
    for (;;) {
        struct pollfd pfd[2 + MAX_PENDING];
        pending *who[2 + MAX_PENDING];
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = udp, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = tcp, .events = POLLIN};
        long long now = now_ms(), wait = 500;
        for (int i = 0; i < MAX_PENDING; i++) {
            if (R.pend[i].fd < 0)
                continue;
            who[n] = &R.pend[i];
            pfd[n++] = (struct pollfd){.fd = R.pend[i].fd, .events = POLLIN};
            long long left = R.pend[i].deadline_ms - now;
            if (left < wait)
                wait = left < 0 ? 0 : left;
        }
        int r = poll(pfd, n, (int)wait);
        if (r < 0 && errno != EINTR)
            return 1;
        if (r > 0 && (pfd[0].revents & POLLIN))
            serve_udp(udp);
        if (r > 0 && (pfd[1].revents & POLLIN))
            serve_tcp(tcp);
        now = now_ms();
        for (nfds_t i = 2; i < n; i++) {
            if (r > 0 && (pfd[i].revents & (POLLIN | POLLERR)))
                relay_reply(udp, who[i]);
            if (who[i]->fd >= 0 && (who[i]->deadline_ms <= now || (pfd[i].revents & POLLERR)))
                next_upstream(udp, who[i]);
        }
        if (r == 0 && time_to_go())
            return 0;
    }
}
