/* Links, addresses and routes over rtnetlink. Requests that do not depend on each other's
 * answers go out in one batch and their acknowledgements are read together; the host's
 * requests share one socket per process. */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util/cleanup.h"

#ifndef IFALIASZ
#define IFALIASZ 256 /* linux/if.h, which clashes with net/if.h */
#endif

#define BATCH_MAX 6
#define BATCH_BYTES 2048
#define WHAT_LEN 224
#define RECV_BYTES 32768
#define LOOPBACK_IFINDEX 1 /* lo is the first device of every network namespace */

/* Up to BATCH_MAX requests sent with one sendto(); each is acknowledged on its own. */
typedef struct nl_batch {
    char buf[BATCH_BYTES] __attribute__((aligned(NLMSG_ALIGNTO)));
    size_t len;
    bool overflow;
    int n;
    size_t start[BATCH_MAX];
    int ok_errno[BATCH_MAX]; /* an answer that counts as success (EEXIST, ENODEV), or 0 */
    int res[BATCH_MAX];      /* 0 or the errno the kernel answered */
    bool intr[BATCH_MAX];    /* a dump raced with changes and may be inconsistent */
    char extack[BATCH_MAX][128];
    char what[BATCH_MAX][WHAT_LEN];
} nl_batch;

typedef void (*nl_reply_fn)(int index, const struct nlmsghdr *nlh, void *data);

typedef struct nl_sock {
    int fd;
    uint32_t seq;
} nl_sock;

typedef struct link_info {
    int index;
    unsigned flags;
    char kind[32];
    char alias[IFALIASZ];
} link_info;

/* ---- building requests ---- */

static void *batch_reserve(nl_batch *b, size_t len)
{
    size_t aligned = NLMSG_ALIGN(len);
    if (b->overflow || aligned > sizeof(b->buf) - b->len) {
        b->overflow = true;
        return NULL;
    }
    void *p = b->buf + b->len;
    memset(p, 0, aligned);
    b->len += aligned;
    return p;
}

static void batch_close_msg(nl_batch *b)
{
    if (b->n > 0 && !b->overflow) {
        struct nlmsghdr *nlh = (struct nlmsghdr *)(b->buf + b->start[b->n - 1]);
        nlh->nlmsg_len = (uint32_t)(b->len - b->start[b->n - 1]);
    }
}

/* Start a request; returns its fixed header (ifinfomsg, ifaddrmsg, rtmsg), zeroed. */
static void *batch_msg(nl_batch *b, uint16_t type, uint16_t flags, size_t hdrlen, int ok_errno,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void *batch_msg(nl_batch *b, uint16_t type, uint16_t flags, size_t hdrlen, int ok_errno,
                       const char *fmt, ...)
{
    static __thread char scratch[64] __attribute__((aligned(NLMSG_ALIGNTO)));
    batch_close_msg(b);
    if (b->n == BATCH_MAX)
        b->overflow = true;
    size_t at = b->len;
    struct nlmsghdr *nlh = batch_reserve(b, NLMSG_HDRLEN + hdrlen);
    if (nlh == NULL)
        return scratch; /* the caller writes into it; the send reports the overflow */
    int i = b->n++;
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    b->start[i] = at;
    b->ok_errno[i] = ok_errno;
    b->res[i] = 0;
    b->intr[i] = false;
    b->extack[i][0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->what[i], sizeof(b->what[i]), fmt, ap);
    va_end(ap);
    return NLMSG_DATA(nlh);
}

static void batch_put(nl_batch *b, uint16_t type, const void *data, size_t len)
{
    struct rtattr *rta = batch_reserve(b, RTA_LENGTH(len));
    if (rta == NULL)
        return;
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
}

static void batch_put_str(nl_batch *b, uint16_t type, const char *s)
{
    batch_put(b, type, s, strlen(s) + 1);
}

static void batch_put_u32(nl_batch *b, uint16_t type, uint32_t v)
{
    batch_put(b, type, &v, sizeof(v));
}

/* Open a nested attribute; returns its offset for batch_nest_end. */
static size_t batch_nest(nl_batch *b, uint16_t type)
{
    size_t at = b->len;
    struct rtattr *rta = batch_reserve(b, RTA_LENGTH(0));
    if (rta != NULL)
        rta->rta_type = type | NLA_F_NESTED;
    return at;
}

static void batch_nest_end(nl_batch *b, size_t at)
{
    if (!b->overflow)
        ((struct rtattr *)(b->buf + at))->rta_len = (unsigned short)(b->len - at);
}

/* ---- sockets ---- */

static int sock_open(nl_sock *s, tug_error **err)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return tug_error_set(err, errno, "open a netlink socket");
    int one = 1;
    /* The kernel's own words for an error, and acknowledgements without the request echoed
     * back; both are optional (older kernels). */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    s->fd = fd;
    s->seq = 1;
    return 0;
}

static void sock_closep(nl_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static nl_sock host_sock = {.fd = -1};
static pid_t host_sock_pid;
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;

static void host_unlockp(nl_sock **s)
{
    if (*s != NULL)
        pthread_mutex_unlock(&host_lock);
}

/* The process's socket in the network namespace it started in, opened on first use. */
static int host_acquire(nl_sock **ret, tug_error **err)
{
    pthread_mutex_lock(&host_lock);
    pid_t pid = getpid();
    if (host_sock.fd < 0 || host_sock_pid != pid) {
        /* A forked child never uses its parent's socket (the answers would be shared); the
         * inherited descriptor is not closed since the child may have reused its number. */
        host_sock.fd = -1;
        int r = sock_open(&host_sock, err);
        if (r < 0) {
            pthread_mutex_unlock(&host_lock);
            return r;
        }
        host_sock_pid = pid;
    }
    *ret = &host_sock;
    return 0;
}

#define host_locked __attribute__((cleanup(host_unlockp)))

static int batch_fail(nl_batch *b, int i, tug_error **err)
{
    int e = b->res[i];
    if (b->extack[i][0] == '\0')
        return tug_error_set(err, e, "%s", b->what[i]);
    int r = tug_error_set(err, 0, "%s: %s (%s)", b->what[i], strerror(e), b->extack[i]);
    if (err != NULL && *err != NULL)
        (*err)->errnum = e;
    return e > 0 ? -e : r;
}

static void read_ack(nl_batch *b, int i, const struct nlmsghdr *nlh)
{
    const struct nlmsgerr *e = NLMSG_DATA(nlh);
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
        b->res[i] = EPROTO;
        return;
    }
    b->res[i] = e->error < 0 ? -e->error : 0;
    if (e->error == 0 || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        return;
    size_t off = sizeof(*e);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
        off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    if (nlh->nlmsg_len < NLMSG_LENGTH(off))
        return;
    const struct rtattr *rta = (const struct rtattr *)((const char *)NLMSG_DATA(nlh) + off);
    int len = (int)(nlh->nlmsg_len - NLMSG_LENGTH(off));
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == NLMSGERR_ATTR_MSG && RTA_PAYLOAD(rta) > 0) {
            snprintf(b->extack[i], sizeof(b->extack[i]), "%.*s", (int)RTA_PAYLOAD(rta),
                     (const char *)RTA_DATA(rta));
            size_t n = strlen(b->extack[i]);
            while (n > 0 && b->extack[i][n - 1] == '\n')
                b->extack[i][--n] = '\0';
        }
    }
}

/* Send every request of b and read until each is answered: an acknowledgement, or the end of
 * a dump. Answers with data go to fn. Fails on the first request whose answer is an error the
 * request does not accept; b->res tells each one's answer. */
static int sock_transact(nl_sock *s, nl_batch *b, nl_reply_fn fn, void *data, tug_error **err)
{
    batch_close_msg(b);
    if (b->n == 0)
        return 0;
    if (b->overflow)
        return tug_error_set(err, EMSGSIZE, "%s: netlink request too large", b->what[0]);
    uint32_t base = s->seq;
    s->seq += (uint32_t)b->n;
    for (int i = 0; i < b->n; i++)
        ((struct nlmsghdr *)(b->buf + b->start[i]))->nlmsg_seq = base + (uint32_t)i;

    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do
        sent = sendto(s->fd, b->buf, b->len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return tug_error_set(err, errno, "%s: send netlink request", b->what[0]);

    char buf[RECV_BYTES] __attribute__((aligned(NLMSG_ALIGNTO)));
    bool done[BATCH_MAX] = {false};
    int pending = b->n;
    while (pending > 0) {
        struct sockaddr_nl from = {0};
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {
            .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(s->fd, &mh, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "%s: read netlink answer", b->what[0]);
        if (mh.msg_flags & MSG_TRUNC)
            return tug_error_set(err, EMSGSIZE, "%s: read netlink answer", b->what[0]);
        if (from.nl_pid != 0)
            continue; /* only the kernel answers */
        size_t off = 0;
        while (off + NLMSG_HDRLEN <= (size_t)n) {
            const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
            if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > (size_t)n - off)
                break;
            off += NLMSG_ALIGN(nlh->nlmsg_len);
            uint32_t i = nlh->nlmsg_seq - base;
            if (i >= (uint32_t)b->n || done[i])
                continue; /* a straggler from an earlier request that failed half-way */
            if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                b->intr[i] = true;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                read_ack(b, (int)i, nlh);
            } else if (nlh->nlmsg_type == NLMSG_DONE) {
                const int *e = NLMSG_DATA(nlh);
                if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && *e < 0)
                    b->res[i] = -*e;
            } else {
                if (fn != NULL)
                    fn((int)i, nlh, data);
                if (!(nlh->nlmsg_flags & NLM_F_MULTI) &&
                    !(((struct nlmsghdr *)(b->buf + b->start[i]))->nlmsg_flags & NLM_F_ACK)) {
                    done[i] = true;
                    pending--;
                }
                continue;
            }
            done[i] = true;
            pending--;
        }
    }
    for (int i = 0; i < b->n; i++)
        if (b->res[i] != 0 && b->res[i] != b->ok_errno[i])
            return batch_fail(b, i, err);
    return 0;
}

/* ---- parsing answers ---- */

static void parse_link(int index, const struct nlmsghdr *nlh, void *data)
{
    link_info *li = data;
    if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return;
    const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
    li->index = ifi->ifi_index;
    li->flags = ifi->ifi_flags;
    li->kind[0] = '\0';
    li->alias[0] = '\0';
    int len = (int)IFLA_PAYLOAD(nlh);
    for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if ((rta->rta_type & NLA_TYPE_MASK) == IFLA_IFALIAS)
            snprintf(li->alias, sizeof(li->alias), "%.*s", (int)strnlen(RTA_DATA(rta), RTA_PAYLOAD(rta)),
                     (const char *)RTA_DATA(rta));
        if ((rta->rta_type & NLA_TYPE_MASK) != IFLA_LINKINFO)
            continue;
        int ilen = (int)RTA_PAYLOAD(rta);
        for (const struct rtattr *in = RTA_DATA(rta); RTA_OK(in, ilen); in = RTA_NEXT(in, ilen))
            if ((in->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
                snprintf(li->kind, sizeof(li->kind), "%.*s", (int)RTA_PAYLOAD(in),
                         (const char *)RTA_DATA(in));
    }
}

/* Index, flags and kind of the link called name; -ENODEV (with err) when there is none. what
 * describes the lookup for an error ("find bridge tug0"). */
static int get_link(nl_sock *s, const char *name, const char *what, link_info *ret, tug_error **err)
{
    nl_batch b = {0};
    link_info li = {0};
    batch_msg(&b, RTM_GETLINK, NLM_F_ACK, sizeof(struct ifinfomsg), 0, "%s", what);
    batch_put_str(&b, IFLA_IFNAME, name);
    batch_put_u32(&b, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    int r = sock_transact(s, &b, parse_link, &li, err);
    if (r < 0)
        return r;
    if (li.index <= 0)
        return tug_error_set(err, EPROTO, "%s: no answer", what);
    *ret = li;
    return 0;
}

/* ---- input ---- */

static int check_ifname(const char *name, const char *role, tug_error **err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strpbrk(name, "/: \t\n") != NULL)
        return tug_error_user(err,
                              "invalid %s name \"%s\": 1 to %d characters, no '/', ':' or "
                              "spaces",
                              role, name ? name : "", IFNAMSIZ - 1);
    return 0;
}

/* "addr/prefix" of family (AF_INET or AF_INET6) into ret_addr (a struct in_addr or in6_addr). */
static int parse_cidr_family(int family, const char *cidr, void *ret_addr, unsigned *ret_prefix,
                             tug_error **err)
{
    bool v6 = family == AF_INET6;
    const char *what = v6 ? "IPv6" : "IPv4", *form = v6 ? "addr/prefix" : "a.b.c.d/prefix";
    char host[INET6_ADDRSTRLEN];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char *end = NULL;
    if (slash == NULL || (size_t)(slash - cidr) >= sizeof(host))
        return tug_error_user(err, "invalid %s address \"%s\": expected %s", what,
                              cidr ? cidr : "", form);
    memcpy(host, cidr, (size_t)(slash - cidr));
    host[slash - cidr] = '\0';
    errno = 0;
    long prefix = strtol(slash + 1, &end, 10);
    struct in6_addr a; /* room for either */
    if (inet_pton(family, host, &a) != 1 || end == slash + 1 || *end != '\0' || errno != 0 ||
        prefix < (v6 ? 1 : 0) || prefix > (v6 ? 128 : 32))
        return tug_error_user(err, "invalid %s address \"%s\": expected %s", what, cidr, form);
    memcpy(ret_addr, &a, v6 ? sizeof(struct in6_addr) : sizeof(struct in_addr));
    *ret_prefix = (unsigned)prefix;
    return 0;
}

static int parse_cidr(const char *cidr, struct in_addr *ret_addr, unsigned *ret_prefix,
                      tug_error **err)
{
    return parse_cidr_family(AF_INET, cidr, ret_addr, ret_prefix, err);
}

static int parse_mac(const char *mac, unsigned char ret[6], tug_error **err)
{
    unsigned char m[6];
    int used = -1;
    if (sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &m[0], &m[1], &m[2], &m[3], &m[4],
               &m[5], &used) != 6 ||
        used != 17 || mac[used] != '\0')
        return tug_error_user(err, "invalid MAC address \"%s\": expected xx:xx:xx:xx:xx:xx", mac);
    if (m[0] & 1)
        return tug_error_user(err, "invalid MAC address \"%s\": a multicast address", mac);
    memcpy(ret, m, 6);
    return 0;
}

static void add_addr_msg(nl_batch *b, int ifindex, struct in_addr addr, unsigned prefix,
                         int ok_errno, const char *cidr, const char *ifname, const char *where)
{
    struct ifaddrmsg *ifa =
        batch_msg(b, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa), ok_errno,
                  "add address %s to %s%s", cidr, ifname, where);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    batch_put(b, IFA_LOCAL, &addr, sizeof(addr));
    batch_put(b, IFA_ADDRESS, &addr, sizeof(addr));
    if (prefix < 31) {
        uint32_t mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
        struct in_addr brd = {.s_addr = addr.s_addr | ~mask};
        batch_put(b, IFA_BROADCAST, &brd, sizeof(brd));
    }
}

static void default_route_msg(nl_batch *b, unsigned char family, const void *gw, size_t gwlen,
                              int ifindex, const char *gateway, const char *ifname,
                              const char *where)
{
    struct rtmsg *rtm =
        batch_msg(b, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*rtm), 0,
                  "add default route via %s on %s%s", gateway, ifname, where);
    rtm->rtm_family = family;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    batch_put(b, RTA_GATEWAY, gw, gwlen);
    batch_put_u32(b, RTA_OIF, (uint32_t)ifindex);
}

static void link_up_msg(nl_batch *b, int ifindex, const char *ifname, const char *where)
{
    struct ifinfomsg *ifi =
        batch_msg(b, RTM_SETLINK, NLM_F_ACK, sizeof(*ifi), 0, "set %s up%s", ifname, where);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
}

/* ---- bridges ---- */

/* IPv4 addresses of one link, from an RTM_GETADDR dump. */
typedef struct addr_list {
    int ifindex;
    int n;
    struct in_addr addr[BATCH_MAX];
    unsigned char prefix[BATCH_MAX];
    bool more; /* there were more than fit */
} addr_list;

static void collect_addr(int index, const struct nlmsghdr *nlh, void *data)
{
    addr_list *l = data;
    if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
        return;
    const struct ifaddrmsg *ifa = NLMSG_DATA(nlh);
    if (ifa->ifa_family != AF_INET || (int)ifa->ifa_index != l->ifindex)
        return;
    int len = (int)IFA_PAYLOAD(nlh);
    for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFA_LOCAL || RTA_PAYLOAD(rta) != sizeof(struct in_addr))
            continue;
        if (l->n == BATCH_MAX) {
            l->more = true;
            return;
        }
        memcpy(&l->addr[l->n], RTA_DATA(rta), sizeof(struct in_addr));
        l->prefix[l->n++] = ifa->ifa_prefixlen;
        return;
    }
}

static int link_addrs(nl_sock *s, int ifindex, const char *name, addr_list *ret, tug_error **err)
{
    for (int attempt = 0;; attempt++) {
        *ret = (addr_list){.ifindex = ifindex};
        nl_batch b = {0};
        struct ifaddrmsg *ifa = batch_msg(&b, RTM_GETADDR, NLM_F_DUMP, sizeof(*ifa), 0,
                                          "list the addresses of %s", name);
        ifa->ifa_family = AF_INET;
        int r = sock_transact(s, &b, collect_addr, ret, err);
        if (r < 0 || !b.intr[0] || attempt == 3)
            return r;
    }
}

/* Take every IPv4 address but want (addr/prefix) off the link. *ret_has: want is there. */
static int drop_other_addrs(nl_sock *s, int ifindex, const char *name, struct in_addr want,
                            unsigned prefix, bool *ret_has, bool *ret_changed, tug_error **err)
{
    for (;;) {
        addr_list l;
        int r = link_addrs(s, ifindex, name, &l, err);
        if (r < 0)
            return r;
        nl_batch b = {0};
        *ret_has = false;
        for (int i = 0; i < l.n; i++) {
            if (l.addr[i].s_addr == want.s_addr && l.prefix[i] == prefix) {
                *ret_has = true;
                continue;
            }
            char text[INET_ADDRSTRLEN] = "";
            inet_ntop(AF_INET, &l.addr[i], text, sizeof(text));
            /* gone meanwhile (another tug fixing the same bridge) is as good */
            struct ifaddrmsg *ifa =
                batch_msg(&b, RTM_DELADDR, NLM_F_ACK, sizeof(*ifa), EADDRNOTAVAIL,
                          "remove the stale address %s/%u of %s", text, l.prefix[i], name);
            ifa->ifa_family = AF_INET;
            ifa->ifa_prefixlen = l.prefix[i];
            ifa->ifa_index = (unsigned)ifindex;
            batch_put(&b, IFA_LOCAL, &l.addr[i], sizeof(l.addr[i]));
        }
        if (b.n == 0)
            return 0;
        *ret_changed = true;
        r = sock_transact(s, &b, NULL, NULL, err);
        if (r < 0 || !l.more)
            return r;
    }
}

int tug_nl_bridge_ensure(const char *name, const char *cidr, const char *alias, bool *ret_changed,
                         tug_error **err)
{
    struct in_addr addr;
    unsigned prefix;
    bool changed = false;
    int r = check_ifname(name, "bridge", err);
    if (r < 0)
        return r;
    r = parse_cidr(cidr, &addr, &prefix, err);
    if (r < 0)
        return r;

    char what[64];
    snprintf(what, sizeof(what), "find bridge %s", name);
    host_locked nl_sock *s = NULL;
    r = host_acquire(&s, err);
    if (r < 0)
        return r;
    link_info li;
    r = get_link(s, name, what, &li, err);
    if (r == -ENODEV) {
        tug_error_release(err);
        nl_batch b = {0};
        struct ifinfomsg *ifi = batch_msg(&b, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                                          sizeof(*ifi), EEXIST, "create bridge %s", name);
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        batch_put_str(&b, IFLA_IFNAME, name);
        /* A bridge without an address of its own takes the lowest of its ports', which changes
         * as containers come and go and leaves stale ARP entries behind: pin a random one. */
        unsigned char mac[6];
        if (getrandom(mac, sizeof(mac), 0) == (ssize_t)sizeof(mac)) {
            mac[0] = (unsigned char)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
            batch_put(&b, IFLA_ADDRESS, mac, sizeof(mac));
        }
        size_t info = batch_nest(&b, IFLA_LINKINFO);
        batch_put_str(&b, IFLA_INFO_KIND, "bridge");
        batch_nest_end(&b, info);
        r = sock_transact(s, &b, NULL, NULL, err);
        if (r < 0)
            return r;
        changed = b.res[0] == 0;
        /* Created here, or by someone racing with us (EEXIST): look again either way. */
        r = get_link(s, name, what, &li, err);
    }
    if (r < 0)
        return r;
    if (strcmp(li.kind, "bridge") != 0)
        return tug_error_set(err, 0, "link %s exists and is not a bridge (%s%s)", name,
                             li.kind[0] ? "its kind is " : "a device without a kind", li.kind);

    /* The bridge found by its name may carry another address: that of the store thrown away
     * that made it, whose network the new record does not know. The record's address wins. */
    bool has = false;
    r = drop_other_addrs(s, li.index, name, addr, prefix, &has, &changed, err);
    if (r < 0)
        return r;
    nl_batch b = {0};
    if (!has) {
        add_addr_msg(&b, li.index, addr, prefix, EEXIST, cidr, name, "");
        changed = true;
    }
    if (!(li.flags & IFF_UP))
        link_up_msg(&b, li.index, name, "");
    if (alias && strlen(alias) < IFALIASZ && strcmp(alias, li.alias) != 0) {
        struct ifinfomsg *ifi = batch_msg(&b, RTM_SETLINK, NLM_F_ACK, sizeof(*ifi), 0,
                                          "name the owner of bridge %s", name);
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = li.index;
        batch_put_str(&b, IFLA_IFALIAS, alias);
    }
    r = sock_transact(s, &b, NULL, NULL, err);
    if (r == 0 && ret_changed)
        *ret_changed = changed;
    return r;
}

/* get_link on the host's socket, for a name from outside. */
static int host_link(const char *ifname, link_info *li, tug_error **err)
{
    int r = check_ifname(ifname, "interface", err);
    if (r < 0)
        return r;
    host_locked nl_sock *s = NULL;
    r = host_acquire(&s, err);
    if (r < 0)
        return r;
    return get_link(s, ifname, "find link", li, err);
}

int tug_nl_link_alias(const char *ifname, char **ret_alias, tug_error **err)
{
    link_info li;
    int r = host_link(ifname, &li, err);
    if (r < 0)
        return r;
    *ret_alias = strdup(li.alias);
    return *ret_alias ? 0 : tug_error_set(err, ENOMEM, "link %s", ifname);
}

/* ---- veth pairs ---- */

static int delete_link(nl_sock *s, const char *ifname, tug_error **err)
{
    nl_batch b = {0};
    batch_msg(&b, RTM_DELLINK, NLM_F_ACK, sizeof(struct ifinfomsg), ENODEV, "delete link %s",
              ifname);
    batch_put_str(&b, IFLA_IFNAME, ifname);
    return sock_transact(s, &b, NULL, NULL, err);
}

/* The calling thread's network namespace and that of pid, for setns() there and back; where
 * gets " in the namespace of pid N" for messages. */
static int open_netns(pid_t pid, char *where, size_t wsize, int *ret_self, int *ret_ns,
                      tug_error **err)
{
    if (pid <= 0)
        return tug_error_set(err, EINVAL, "network namespace of pid %d", (int)pid);
    snprintf(where, wsize, " in the namespace of pid %d", (int)pid);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    *ret_self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*ret_self < 0)
        return tug_error_set(err, errno, "open /proc/thread-self/ns/net");
    *ret_ns = open(path, O_RDONLY | O_CLOEXEC);
    if (*ret_ns < 0)
        return tug_error_set(err, errno, "open the network namespace of pid %d (%s)", (int)pid,
                             path);
    return 0;
}

/* A netlink socket in the network namespace ns_fd (that of pid). A socket belongs to the
 * namespace it was created in for its whole life, so the thread visits ns_fd only for the
 * socket() call. */
static int sock_open_in(int ns_fd, int self_fd, pid_t pid, nl_sock *ret, tug_error **err)
{
    if (setns(ns_fd, CLONE_NEWNET) < 0)
        return tug_error_set(err, errno, "enter the network namespace of pid %d", (int)pid);
    int r = sock_open(ret, err);
    if (setns(self_fd, CLONE_NEWNET) < 0) {
        int e = errno;
        sock_closep(ret);
        tug_error_release(err);
        return tug_error_set(err, e,
                             "return from the network namespace of pid %d to the original one "
                             "(this thread stays in the wrong one)",
                             (int)pid);
    }
    if (r < 0)
        tug_error_wrap(err, "configure the network in the namespace of pid %d", (int)pid);
    return r;
}

/* Everything inside the namespace: one round trip for the peer's index, one for the rest. */
static int configure_peer(nl_sock *ns, const char *ctr_if, struct in_addr addr, unsigned prefix,
                          const char *cidr, const char *gateway, struct in_addr gw,
                          const char *where, tug_error **err)
{
    char what[WHAT_LEN];
    snprintf(what, sizeof(what), "find %s%s", ctr_if, where);
    link_info li;
    int r = get_link(ns, ctr_if, what, &li, err);
    if (r < 0)
        return r;

    nl_batch b = {0};
    add_addr_msg(&b, li.index, addr, prefix, 0, cidr, ctr_if, where);
    link_up_msg(&b, li.index, ctr_if, where);
    link_up_msg(&b, LOOPBACK_IFINDEX, "lo", where);
    if (gateway != NULL)
        default_route_msg(&b, AF_INET, &gw, sizeof(gw), li.index, gateway, ctr_if, where);
    return sock_transact(ns, &b, NULL, NULL, err);
}

/* A container reaching its own published port: where br_netfilter is loaded, the DNATed frame
 * is bridged back out of the port it came in by, which a bridge port refuses unless it is in
 * hairpin mode. Best effort: without it only that one path fails. */
static void set_hairpin(const char *host_if)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/class/net/%s/brport/hairpin_mode", host_if);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, "1", 1) < 0) {
        /* nothing to do: the container works, bar the hairpin path */
    }
    close(fd);
}

int tug_nl_veth_setup(const char *host_if, const char *bridge, pid_t netns_pid, const char *ctr_if,
                      const char *cidr, const char *mac, const char *gateway, tug_error **err)
{
    struct in_addr addr, gw = {0};
    unsigned prefix;
    unsigned char macb[6];
    int r;
    if ((r = check_ifname(host_if, "interface", err)) < 0 ||
        (r = check_ifname(bridge, "bridge", err)) < 0 ||
        (r = check_ifname(ctr_if, "interface", err)) < 0 ||
        (r = parse_cidr(cidr, &addr, &prefix, err)) < 0)
        return r;
    if (mac != NULL && (r = parse_mac(mac, macb, err)) < 0)
        return r;
    if (gateway != NULL && inet_pton(AF_INET, gateway, &gw) != 1)
        return tug_error_user(err, "invalid IPv4 gateway \"%s\"", gateway);
    char where[64];
    cleanup_close int self_fd = -1, ns_fd = -1;
    if ((r = open_netns(netns_pid, where, sizeof(where), &self_fd, &ns_fd, err)) < 0)
        return r;
    __attribute__((cleanup(sock_closep))) nl_sock ns = {.fd = -1};
    r = sock_open_in(ns_fd, self_fd, netns_pid, &ns, err);
    if (r < 0)
        return r;

    host_locked nl_sock *s = NULL;
    r = host_acquire(&s, err);
    if (r < 0)
        return r;
    char what[64];
    snprintf(what, sizeof(what), "find bridge %s", bridge);
    link_info br;
    r = get_link(s, bridge, what, &br, err);
    if (r < 0)
        return r;
    if (strcmp(br.kind, "bridge") != 0)
        return tug_error_set(err, 0, "link %s is not a bridge", bridge);

    /* The peer is born in the namespace with its final name and address: no move, no rename. */
    nl_batch b = {0};
    struct ifinfomsg *ifi =
        batch_msg(&b, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi), 0,
                  "create veth %s on bridge %s with peer %s%s", host_if, bridge, ctr_if, where);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    batch_put_str(&b, IFLA_IFNAME, host_if);
    batch_put_u32(&b, IFLA_MASTER, (uint32_t)br.index);
    size_t info = batch_nest(&b, IFLA_LINKINFO);
    batch_put_str(&b, IFLA_INFO_KIND, "veth");
    size_t idata = batch_nest(&b, IFLA_INFO_DATA);
    size_t peer = batch_nest(&b, VETH_INFO_PEER);
    struct ifinfomsg *pifi = batch_reserve(&b, sizeof(*pifi));
    if (pifi != NULL)
        pifi->ifi_family = AF_UNSPEC;
    batch_put_str(&b, IFLA_IFNAME, ctr_if);
    if (mac != NULL)
        batch_put(&b, IFLA_ADDRESS, macb, sizeof(macb));
    batch_put_u32(&b, IFLA_NET_NS_FD, (uint32_t)ns_fd); /* the namespace we hold, not a pid */
    batch_nest_end(&b, peer);
    batch_nest_end(&b, idata);
    batch_nest_end(&b, info);
    r = sock_transact(s, &b, NULL, NULL, err);
    if (r == -EEXIST) {
        /* The kernel does not say which of the two names is taken. */
        link_info li;
        bool on_host = get_link(s, host_if, "find link", &li, NULL) == 0;
        tug_error_release(err);
        tug_error_set(err, 0, "create veth %s on bridge %s with peer %s%s: %s already exists %s",
                      host_if, bridge, ctr_if, where, on_host ? host_if : ctr_if,
                      on_host ? "on the host" : "there");
        if (err != NULL && *err != NULL)
            (*err)->errnum = EEXIST;
        return -EEXIST;
    }
    if (r < 0)
        return r; /* nothing was created: an existing host_if is not ours to delete */

    r = configure_peer(&ns, ctr_if, addr, prefix, cidr, gateway, gw, where, err);
    if (r < 0) {
        cleanup_error tug_error *derr = NULL;
        if (delete_link(s, host_if, &derr) < 0)
            tug_error_wrap(err, "(and %s was left behind: %s)", host_if, derr->msg);
        return r;
    }
    set_hairpin(host_if);
    return 0;
}

/* ---- IPv6 ---- */

static int parse_cidr6(const char *cidr, struct in6_addr *ret_addr, unsigned *ret_prefix,
                       tug_error **err)
{
    return parse_cidr_family(AF_INET6, cidr, ret_addr, ret_prefix, err);
}

/* Without duplicate address detection (IFA_F_NODAD): IPAM hands out each address once, and
 * DAD would hold it "tentative", unusable, for a second or more after the container starts. */
static void add_addr6_msg(nl_batch *b, int ifindex, const struct in6_addr *addr, unsigned prefix,
                          int ok_errno, const char *cidr, const char *ifname, const char *where)
{
    struct ifaddrmsg *ifa =
        batch_msg(b, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa), ok_errno,
                  "add address %s to %s%s", cidr, ifname, where);
    ifa->ifa_family = AF_INET6;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_flags = IFA_F_NODAD;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    batch_put(b, IFA_ADDRESS, addr, sizeof(*addr));
}

/* Open /proc/sys/net/ipv6/conf/IFNAME/KEY for writing, in the network namespace the calling
 * thread is in now (a sysctl file belongs to the namespace of its opener). */
static int sysctl6_open(const char *ifname, const char *key)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, key);
    return open(path, O_WRONLY | O_CLOEXEC);
}

static int sysctl_write(int fd, const char *value, const char *what, tug_error **err)
{
    if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
        return tug_error_set(err, errno, "set %s to %s", what, value);
    return 0;
}

int tug_nl_bridge_ensure6(const char *name, const char *cidr6, tug_error **err)
{
    struct in6_addr addr;
    unsigned prefix;
    int r = check_ifname(name, "bridge", err);
    if (r < 0 || (r = parse_cidr6(cidr6, &addr, &prefix, err)) < 0)
        return r;
    /* a host that turns IPv6 off for new interfaces (default.disable_ipv6) would refuse it */
    cleanup_close int fd = sysctl6_open(name, "disable_ipv6");
    char what[96];
    snprintf(what, sizeof(what), "net.ipv6.conf.%s.disable_ipv6", name);
    if ((r = sysctl_write(fd, "0", what, err)) < 0)
        return tug_error_wrap(err, "IPv6 on bridge %s (is IPv6 on in this kernel?)", name);
    host_locked nl_sock *s = NULL;
    r = host_acquire(&s, err);
    if (r < 0)
        return r;
    link_info li;
    snprintf(what, sizeof(what), "find bridge %s", name);
    r = get_link(s, name, what, &li, err);
    if (r < 0)
        return r;
    nl_batch b = {0};
    add_addr6_msg(&b, li.index, &addr, prefix, EEXIST, cidr6, name, "");
    return sock_transact(s, &b, NULL, NULL, err);
}

int tug_nl_addr6_setup(pid_t netns_pid, const char *ctr_if, const char *cidr6,
                       const char *gateway6, tug_error **err)
{
    struct in6_addr addr, gw = {0};
    unsigned prefix;
    int r;
    if ((r = check_ifname(ctr_if, "interface", err)) < 0 ||
        (r = parse_cidr6(cidr6, &addr, &prefix, err)) < 0)
        return r;
    if (gateway6 != NULL && inet_pton(AF_INET6, gateway6, &gw) != 1)
        return tug_error_user(err, "invalid IPv6 gateway \"%s\"", gateway6);
    char where[64];
    cleanup_close int self_fd = -1, ns_fd = -1;
    if ((r = open_netns(netns_pid, where, sizeof(where), &self_fd, &ns_fd, err)) < 0)
        return r;
    /* the sysctl files are opened inside, like the socket, and written from here */
    if (setns(ns_fd, CLONE_NEWNET) < 0)
        return tug_error_set(err, errno, "enter the network namespace of pid %d", (int)netns_pid);
    cleanup_close int dis = sysctl6_open(ctr_if, "disable_ipv6");
    cleanup_close int dad = sysctl6_open(ctr_if, "accept_dad");
    if (setns(self_fd, CLONE_NEWNET) < 0)
        return tug_error_set(err, errno,
                             "return from the network namespace of pid %d to the original one "
                             "(this thread stays in the wrong one)",
                             (int)netns_pid);
    char what[96];
    snprintf(what, sizeof(what), "net.ipv6.conf.%s.disable_ipv6%s", ctr_if, where);
    if ((r = sysctl_write(dis, "0", what, err)) < 0)
        return r;
    snprintf(what, sizeof(what), "net.ipv6.conf.%s.accept_dad%s", ctr_if, where);
    if ((r = sysctl_write(dad, "0", what, err)) < 0)
        return r;
    __attribute__((cleanup(sock_closep))) nl_sock ns = {.fd = -1};
    r = sock_open_in(ns_fd, self_fd, netns_pid, &ns, err);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "find %s%s", ctr_if, where);
    link_info li;
    r = get_link(&ns, ctr_if, what, &li, err);
    if (r < 0)
        return r;
    nl_batch b = {0};
    add_addr6_msg(&b, li.index, &addr, prefix, 0, cidr6, ctr_if, where);
    if (gateway6 != NULL)
        default_route_msg(&b, AF_INET6, &gw, sizeof(gw), li.index, gateway6, ctr_if, where);
    return sock_transact(&ns, &b, NULL, NULL, err);
}

/* ---- links ---- */

int tug_nl_link_delete(const char *ifname, tug_error **err)
{
    int r = check_ifname(ifname, "interface", err);
    if (r < 0)
        return r;
    host_locked nl_sock *s = NULL;
    r = host_acquire(&s, err);
    if (r < 0)
        return r;
    return delete_link(s, ifname, err);
}

bool tug_nl_link_exists(const char *ifname)
{
    link_info li;
    return host_link(ifname, &li, NULL) == 0;
}

typedef struct name_list {
    const char *prefix;
    size_t prefix_len;
    char **names;
    size_t n, cap;
    bool oom;
} name_list;

static void collect_name(int index, const struct nlmsghdr *nlh, void *data)
{
    name_list *l = data;
    if (l->oom || nlh->nlmsg_type != RTM_NEWLINK ||
        nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return;
    const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
    int len = (int)IFLA_PAYLOAD(nlh);
    for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFLA_IFNAME)
            continue;
        const char *name = RTA_DATA(rta);
        size_t n = strnlen(name, RTA_PAYLOAD(rta));
        if (n < l->prefix_len || memcmp(name, l->prefix, l->prefix_len) != 0)
            return;
        if (l->n + 2 > l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            char **v = realloc(l->names, cap * sizeof(*v));
            if (v == NULL) {
                l->oom = true;
                return;
            }
            l->names = v;
            l->cap = cap;
        }
        if ((l->names[l->n] = strndup(name, n)) == NULL) {
            l->oom = true;
            return;
        }
        l->names[++l->n] = NULL;
        return;
    }
}

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    *l = (name_list){.prefix = l->prefix, .prefix_len = l->prefix_len};
}

int tug_nl_links_with_prefix(const char *prefix, char ***ret_names, tug_error **err)
{
    host_locked nl_sock *s = NULL;
    int r = host_acquire(&s, err);
    if (r < 0)
        return r;
    /* A dump that raced with a link's creation or removal may have skipped one: ask again. */
    for (int attempt = 0;; attempt++) {
        name_list l = {.prefix = prefix ? prefix : "", .prefix_len = prefix ? strlen(prefix) : 0};
        nl_batch b = {0};
        struct ifinfomsg *ifi = batch_msg(&b, RTM_GETLINK, NLM_F_DUMP, sizeof(*ifi), 0,
                                          "list links named %s*", l.prefix);
        ifi->ifi_family = AF_UNSPEC;
        batch_put_u32(&b, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        r = sock_transact(s, &b, collect_name, &l, err);
        if (r == 0 && l.oom)
            r = tug_error_set(err, ENOMEM, "list links named %s*", l.prefix);
        if (r == 0 && b.intr[0] && attempt < 3) {
            name_list_free(&l);
            continue;
        }
        if (r < 0) {
            name_list_free(&l);
            return r;
        }
        if (l.names == NULL && (l.names = calloc(1, sizeof(char *))) == NULL)
            return tug_error_set(err, ENOMEM, "list links named %s*", l.prefix);
        *ret_names = l.names;
        return 0;
    }
}
