/* tug's firewall rules: one nftables table of its own, `inet tug`, written through libnftables
 * (opened with dlopen on first use, so commands that never touch the firewall do not pay for it).
 *
 *   chain ports        regular chain; one DNAT rule per published port, comment "<container id>":
 *                        ip daddr <host ip> tcp dport <p> dnat ip to <ctr ip>:<p>
 *                        (meta nfproto ipv4 instead of ip daddr for 0.0.0.0)
 *   chain prerouting   nat, hook prerouting, priority dstnat: fib daddr type local jump ports
 *   chain output       nat, hook output, priority -100:       fib daddr type local jump ports
 *   chain postrouting  nat, hook postrouting, priority srcnat; per network, "net:<bridge>":
 *                        ip saddr <subnet> oifname != <bridge> masquerade   (not if internal)
 *                        oifname <bridge> ip saddr 127.0.0.0/8 masquerade   (ports on 127.0.0.1)
 *                        oifname <bridge> ct status dnat ip saddr <subnet> masquerade  (hairpin)
 *   chain forward      filter, hook forward; per network: accept from the bridge, and to it when
 *                      established/related or DNATed; internal: drop in and out of it instead
 *   chain input        filter, hook input; per network: drop new connections from the bridge to
 *                      127.0.0.0/8, which route_localnet would otherwise open to containers
 *
 * Publishing on 127.0.0.1 (or 0.0.0.0) sets route_localnet on the bridge, since the DNATed
 * packet leaves through it with source 127.0.0.1 (masqueraded above). A container reaching its
 * own published port needs hairpin mode on its bridge port where br_netfilter is loaded.
 *
 * Every change is one nft batch, which the kernel applies atomically: list the table with
 * handles, delete the owner's old rules by handle and add the new ones (so adding twice leaves
 * one set), plus the skeleton when any of it is missing. A handle that vanished meanwhile
 * (another tug removed it) fails the batch with ENOENT and the whole step is retried. The table
 * and its chains stay when their last rule goes: deleting them could race with a concurrent
 * add, and an empty skeleton costs one fib lookup per new connection. tug_fw_owners lists the
 * container owners only, never "net:" ones.
 *
 * Beside docker: every base chain at a hook runs, so an accept here does not stop docker's
 * iptables FORWARD chain (policy DROP) from dropping the packet. Network add therefore puts
 *   -i <bridge> -j ACCEPT
 *   -o <bridge> -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT   (DNAT: published)
 * (with `-m comment --comment tug`) into DOCKER-USER, docker's chain for this, when it exists,
 * or at the top of FORWARD when that chain's policy is DROP, in each iptables flavour in use
 * (nft-backed, read in-process through libnftables, and legacy), through the iptables command so
 * iptables and docker can still read the chain. Network remove takes them out again.
 *
 * Without libnftables (or with TUG_FIREWALL=iptables in the environment, for tests) the same
 * rules go into iptables chains TUG-PORTS, TUG-POSTROUTING (nat) and TUG-FORWARD, TUG-INPUT
 * (filter), jumped to from the built-in chains (FORWARD and INPUT at the top), with
 * `-m comment --comment <owner>`; each change is one iptables-save and one
 * iptables-restore --noflush (atomic per table) under /run/tug-firewall.lock.
 * IPv4 only: IPv6 host ports go through the port proxy (proxy.c). */
#include <stddef.h> /* firewall.h uses size_t without including it */

#include "firewall.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/lazylib.h"

extern char **environ;

#define NET_PREFIX "net:"
#define MAX_OWNER 100

/* ---- input checks: everything below is pasted into nft or iptables scripts ---- */

static bool name_ok(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
            return false;
    return true;
}

static int check_bridge(const char *bridge, tug_error **err)
{
    if (!name_ok(bridge, 15, "_.-"))
        return tug_error_user(err, "invalid bridge name '%s'", bridge ? bridge : "");
    return 0;
}

static int check_owner(const char *owner, tug_error **err)
{
    if (!name_ok(owner, MAX_OWNER, "_.:-") || strncmp(owner, NET_PREFIX, strlen(NET_PREFIX)) == 0)
        return tug_error_user(err, "invalid firewall rule owner '%s'", owner ? owner : "");
    return 0;
}

/* "10.1.2.3/24" into its canonical network form "10.1.2.0/24". */
static int parse_subnet(const char *subnet, char ret[INET_ADDRSTRLEN + 4], tug_error **err)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash = subnet ? strchr(subnet, '/') : NULL;
    char *end = NULL;
    struct in_addr in;
    if (slash == NULL || (size_t)(slash - subnet) >= sizeof(addr))
        return tug_error_user(err, "invalid subnet '%s': want an IPv4 a.b.c.d/len",
                              subnet ? subnet : "");
    memcpy(addr, subnet, slash - subnet);
    addr[slash - subnet] = '\0';
    errno = 0;
    long len = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, addr, &in) != 1 || end == slash + 1 || *end || len < 0 || len > 32)
        return tug_error_user(err, "invalid subnet '%s': want an IPv4 a.b.c.d/len", subnet);
    uint32_t mask = len == 0 ? 0 : htonl(~0u << (32 - len));
    in.s_addr &= mask;
    inet_ntop(AF_INET, &in, addr, sizeof(addr));
    snprintf(ret, INET_ADDRSTRLEN + 4, "%s/%ld", addr, len);
    return 0;
}

/* A port rule checked; *ret_any when it publishes on every host address, *ret_lo when 127.0.0.1
 * is among them. */
static int check_port_rule(const tug_port_rule *r, bool *ret_any, bool *ret_lo, tug_error **err)
{
    struct in_addr in;
    if (r->proto == NULL ||
        (strcmp(r->proto, "tcp") && strcmp(r->proto, "udp") && strcmp(r->proto, "sctp")))
        return tug_error_user(err, "invalid protocol '%s' for port %d: want tcp, udp or sctp",
                              r->proto ? r->proto : "", r->host_port);
    if (r->host_port < 1 || r->host_port > 65535 || r->ctr_port < 1 || r->ctr_port > 65535)
        return tug_error_user(err, "invalid port mapping %d:%d", r->host_port, r->ctr_port);
    if (r->ctr_ip == NULL || inet_pton(AF_INET, r->ctr_ip, &in) != 1)
        return tug_error_user(err, "invalid container address '%s' for port %d",
                              r->ctr_ip ? r->ctr_ip : "", r->host_port);
    bool any = r->host_ip == NULL || *r->host_ip == '\0' || strcmp(r->host_ip, "0.0.0.0") == 0;
    if (!any && inet_pton(AF_INET, r->host_ip, &in) != 1)
        return tug_error_user(err,
                              "cannot publish port %d on '%s': only IPv4 host addresses "
                              "are supported",
                              r->host_port, r->host_ip);
    *ret_any = any;
    *ret_lo = any || (ntohl(in.s_addr) >> 24) == 127;
    return 0;
}

/* ---- /proc/sys ---- */

static int sysctl_enable(const char *path, tug_error **err)
{
    char cur[8] = "";
    cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", path);
    ssize_t n = read(fd, cur, sizeof(cur) - 1);
    if (n > 0 && cur[0] == '1')
        return 0;
    if (pwrite(fd, "1\n", 2, 0) != 2)
        return tug_error_set(err, errno, "write 1 to %s", path);
    return 0;
}

/* ---- running iptables ---- */

static bool find_exe(const char *name, char *ret, size_t size)
{
    const char *path = getenv("PATH");
    cleanup_free char *dirs = NULL;
    if (asprintf(&dirs, "%s:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin", path ? path : "") < 0)
        return false;
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (*d != '/')
            continue;
        snprintf(ret, size, "%s/%s", d, name);
        if (access(ret, X_OK) == 0)
            return true;
    }
    return false;
}

static char *read_fd_all(int fd, bool from_start)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    if (from_start)
        lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (cap - len < 2048) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += n;
    }
    buf[len] = '\0';
    return buf;
}

/* Run argv (argv[0] an absolute path) with input on its stdin. Returns its exit status, or a
 * negative errno when it could not run; *ret_out gets its stdout, *ret_errout its stderr. */
static int run_tool(char *const argv[], const char *input, char **ret_out, char **ret_errout)
{
    cleanup_close int in = -1, out_r = -1, out_w = -1, errfd = -1;
    int pipefd[2];
    if (input) {
        in = memfd_create("tug-fw-in", MFD_CLOEXEC);
        size_t len = strlen(input);
        if (in < 0 || write(in, input, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0)
            return -errno;
    } else if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    if (ret_out) {
        if (pipe2(pipefd, O_CLOEXEC) < 0)
            return -errno;
        out_r = pipefd[0];
        out_w = pipefd[1];
    } else if ((out_w = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        return -errno;
    if ((errfd = memfd_create("tug-fw-err", MFD_CLOEXEC)) < 0)
        return -errno;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -r;
    close(steal_fd(&out_w));
    char *out = ret_out ? read_fd_all(out_r, false) : NULL;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            free(out);
            return -errno;
        }
    if (ret_out)
        *ret_out = out;
    if (ret_errout)
        *ret_errout = read_fd_all(errfd, true);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run a tool; nonzero exit becomes an error quoting the first line of its stderr. */
static int run_tool_checked(char *const argv[], const char *input, char **ret_out, tug_error **err)
{
    cleanup_free char *errout = NULL;
    int r = run_tool(argv, input, ret_out, &errout);
    if (r < 0)
        return tug_error_set(err, -r, "run %s", argv[0]);
    if (r != 0) {
        const char *msg = errout && *errout ? errout : "failed";
        size_t len = strcspn(msg, "\n");
        return tug_error_set(err, 0, "%s %s: %.*s", argv[0], argv[1], (int)len, msg);
    }
    return 0;
}

/* ---- libnftables, opened on first use ---- */

struct nft_ctx;
#define NFT_OUTPUT_HANDLE (1u << 3)

static const char *const nft_sonames[] = {"libnftables.so.1", NULL};

static struct {
    struct nft_ctx *(*ctx_new)(uint32_t flags);
    void (*ctx_free)(struct nft_ctx *ctx);
    int (*buffer_output)(struct nft_ctx *ctx);
    int (*buffer_error)(struct nft_ctx *ctx);
    const char *(*get_output)(struct nft_ctx *ctx);
    const char *(*get_error)(struct nft_ctx *ctx);
    void (*set_output_flags)(struct nft_ctx *ctx, unsigned int flags);
    int (*run)(struct nft_ctx *ctx, const char *buf);
} nft;
static const tug_lazysym nft_syms[] = {
    {"nft_ctx_new", (void **)&nft.ctx_new},
    {"nft_ctx_free", (void **)&nft.ctx_free},
    {"nft_ctx_buffer_output", (void **)&nft.buffer_output},
    {"nft_ctx_buffer_error", (void **)&nft.buffer_error},
    {"nft_ctx_get_output_buffer", (void **)&nft.get_output},
    {"nft_ctx_get_error_buffer", (void **)&nft.get_error},
    {"nft_ctx_output_set_flags", (void **)&nft.set_output_flags},
    {"nft_run_cmd_from_buffer", (void **)&nft.run},
    {NULL, NULL},
};
/* optional: without it (or with an unusable one) rules go through iptables */
static tug_lazylib nft_lib = {.sonames = nft_sonames, .syms = nft_syms};

static bool use_nft(void)
{
    const char *force = getenv("TUG_FIREWALL");
    if (force && strcmp(force, "iptables") == 0)
        return false;
    return tug_lazylib_ready(&nft_lib);
}

/* One context per process and network namespace, kept until exit: closing its netlink socket
 * waits for the kernel to free what the last batch deleted (an RCU grace period, ~10 ms here),
 * which by exit time has usually passed on its own. */
static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nft_ctx *nft_ctx_cached;
static pid_t nft_ctx_pid;
static ino_t nft_ctx_netns;

static struct nft_ctx *nft_ctx_get(void)
{
    struct stat st;
    ino_t netns = stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
    if (nft_ctx_cached && (nft_ctx_pid != getpid() || nft_ctx_netns != netns)) {
        nft.ctx_free(nft_ctx_cached);
        nft_ctx_cached = NULL;
    }
    if (nft_ctx_cached == NULL && (nft_ctx_cached = nft.ctx_new(0)) != NULL) {
        nft.buffer_output(nft_ctx_cached);
        nft.buffer_error(nft_ctx_cached);
        nft_ctx_pid = getpid();
        nft_ctx_netns = netns;
    }
    return nft_ctx_cached;
}

/* Run an nft script; with ret_out, its listing (with rule handles). Errors quote nft's first
 * line; "No such file or directory" (a table, chain or handle that is not there) is ENOENT. */
static int nft_run(const char *script, char **ret_out, tug_error **err)
{
    pthread_mutex_lock(&nft_lock);
    struct nft_ctx *ctx = nft_ctx_get();
    if (ctx == NULL) {
        pthread_mutex_unlock(&nft_lock);
        return tug_error_set(err, ENOMEM, "nftables context");
    }
    nft.set_output_flags(ctx, ret_out ? NFT_OUTPUT_HANDLE : 0);
    int r = nft.run(ctx, script);
    /* Reading the buffers also empties them for the next command. */
    const char *out = nft.get_output(ctx);
    const char *msg = nft.get_error(ctx);
    int ret = 0;
    if (r != 0) {
        if (msg == NULL || *msg == '\0')
            msg = "nft command failed";
        if (strncmp(msg, "Error: ", 7) == 0)
            msg += 7;
        int errnum = strstr(msg, "No such file or directory") ? ENOENT
                     : strstr(msg, "Operation not permitted") ? EPERM
                                                              : 0;
        ret = tug_error_set(err, 0, "nftables: %.*s", (int)strcspn(msg, "\n"), msg);
        if (errnum) {
            if (err && *err)
                (*err)->errnum = errnum;
            ret = -errnum;
        }
    } else if (ret_out) {
        char *copy = strdup(out ? out : "");
        if (copy == NULL)
            ret = tug_error_set(err, ENOMEM, "nftables output");
        *ret_out = copy;
    }
    pthread_mutex_unlock(&nft_lock);
    return ret;
}

static const char nft_skeleton[] =
    "add table inet tug\n"
    "add chain inet tug ports\n"
    "add chain inet tug prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
    "add chain inet tug output { type nat hook output priority -100; policy accept; }\n"
    "add chain inet tug postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
    "add chain inet tug forward { type filter hook forward priority filter; policy accept; }\n"
    "add chain inet tug input { type filter hook input priority filter; policy accept; }\n"
    "flush chain inet tug prerouting\n"
    "add rule inet tug prerouting fib daddr type local jump ports\n"
    "flush chain inet tug output\n"
    "add rule inet tug output fib daddr type local jump ports\n";

static const char *const nft_chains[] = {"ports",       "prerouting", "output",
                                         "postrouting", "forward",    "input"};

struct nft_rule {
    char chain[16];
    unsigned long long handle;
    char comment[MAX_OWNER + 8];
};

struct nft_state {
    bool complete; /* table, all chains and both jumps are there */
    struct nft_rule *rules;
    size_t n;
};

static void nft_state_free(struct nft_state *s)
{
    free(s->rules);
}

/* Parse `nft -a list table inet tug`: rules with a comment, and whether the skeleton is whole. */
static int nft_parse(char *text, struct nft_state *st)
{
    unsigned chains = 0, jumps = 0;
    int cur = -1;
    size_t cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        if (strncmp(line, "chain ", 6) == 0) {
            cur = -1;
            size_t len = strcspn(line + 6, " {");
            for (size_t i = 0; i < TUG_ARRAY_SIZE(nft_chains); i++)
                if (strlen(nft_chains[i]) == len && strncmp(line + 6, nft_chains[i], len) == 0) {
                    cur = (int)i;
                    chains |= 1u << i;
                }
            continue;
        }
        const char *h = strstr(line, " # handle ");
        if (cur < 0 || h == NULL || strncmp(line, "table ", 6) == 0)
            continue;
        if ((cur == 1 || cur == 2) && strstr(line, "jump ports"))
            jumps |= 1u << cur;
        const char *c = strstr(line, " comment \"");
        if (c == NULL)
            continue;
        c += 10;
        size_t clen = strcspn(c, "\"");
        if (clen == 0 || clen > MAX_OWNER + 4)
            continue;
        if (st->n == cap) {
            cap = cap ? cap * 2 : 16;
            struct nft_rule *nr = realloc(st->rules, cap * sizeof(*nr));
            if (nr == NULL)
                return -ENOMEM;
            st->rules = nr;
        }
        struct nft_rule *r = &st->rules[st->n++];
        snprintf(r->chain, sizeof(r->chain), "%s", nft_chains[cur]);
        snprintf(r->comment, sizeof(r->comment), "%.*s", (int)clen, c);
        r->handle = strtoull(h + 10, NULL, 10);
    }
    st->complete = chains == (1u << TUG_ARRAY_SIZE(nft_chains)) - 1 && jumps == 6;
    return 0;
}

static int nft_read_state(struct nft_state *st, tug_error **err)
{
    cleanup_free char *out = NULL;
    memset(st, 0, sizeof(*st));
    int r = nft_run("list table inet tug", &out, err);
    if (r == -ENOENT) {
        tug_error_release(err);
        return 0;
    }
    if (r < 0)
        return tug_error_wrap(err, "list table inet tug");
    if (nft_parse(out, st) < 0)
        return tug_error_set(err, ENOMEM, "parse table inet tug");
    return 0;
}

/* Replace owner's rules by add (nft "add rule" lines; NULL removes them) in one batch. */
static int nft_replace(const char *owner, const char *add, tug_error **err)
{
    for (int attempt = 0;; attempt++) {
        struct nft_state st;
        int r = nft_read_state(&st, err);
        if (r < 0)
            return r;
        char *script = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&script, &len);
        if (f == NULL) {
            nft_state_free(&st);
            return tug_error_set(err, errno, "nft script");
        }
        bool work = add != NULL;
        if (add && !st.complete)
            fputs(nft_skeleton, f);
        for (size_t i = 0; i < st.n; i++) {
            const char *c = st.rules[i].comment;
            /* a network's rules outlive its bridge when a store is thrown away with its
             * bridge: every change sweeps those whose bridge is gone */
            bool orphan = strncmp(c, NET_PREFIX, strlen(NET_PREFIX)) == 0 &&
                          if_nametoindex(c + strlen(NET_PREFIX)) == 0 &&
                          strcmp(c, owner) != 0;
            if (strcmp(c, owner) == 0 || orphan) {
                fprintf(f, "delete rule inet tug %s handle %llu\n", st.rules[i].chain,
                        st.rules[i].handle);
                work = true;
            }
        }
        if (add)
            fputs(add, f);
        nft_state_free(&st);
        if (fclose(f) != 0) {
            free(script);
            return tug_error_set(err, ENOMEM, "nft script");
        }
        r = work ? nft_run(script, NULL, err) : 0;
        free(script);
        if (r == -ENOENT && attempt < 3) {
            tug_error_release(err); /* another tug changed the table meanwhile */
            continue;
        }
        return r;
    }
}

static int nft_owners(char ***ret, tug_error **err)
{
    struct nft_state st;
    int r = nft_read_state(&st, err);
    if (r < 0)
        return r;
    char **v = calloc(st.n + 1, sizeof(char *));
    size_t n = 0;
    if (v == NULL) {
        nft_state_free(&st);
        return tug_error_set(err, ENOMEM, "owners");
    }
    for (size_t i = 0; i < st.n; i++) {
        const char *c = st.rules[i].comment;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(v[j], c) == 0;
        if (!seen && (v[n++] = strdup(c)) == NULL) {
            cleanup_strvp(&v);
            nft_state_free(&st);
            return tug_error_set(err, ENOMEM, "owners");
        }
    }
    nft_state_free(&st);
    *ret = v;
    return 0;
}

/* ---- rule text, nft and iptables flavours ---- */

static void nft_network_rules(FILE *f, const char *br, const char *net, bool internal)
{
    const char *own = NET_PREFIX;
    if (!internal)
        fprintf(f,
                "add rule inet tug postrouting ip saddr %s oifname != \"%s\" masquerade "
                "comment \"%s%s\"\n",
                net, br, own, br);
    fprintf(f,
            "add rule inet tug postrouting oifname \"%s\" ip saddr 127.0.0.0/8 masquerade "
            "comment \"%s%s\"\n",
            br, own, br);
    fprintf(f,
            "add rule inet tug postrouting oifname \"%s\" ct status dnat ip saddr %s "
            "masquerade comment \"%s%s\"\n",
            br, net, own, br);
    if (internal) {
        fprintf(f,
                "add rule inet tug forward iifname \"%s\" oifname != \"%s\" drop "
                "comment \"%s%s\"\n",
                br, br, own, br);
        fprintf(f,
                "add rule inet tug forward oifname \"%s\" iifname != \"%s\" drop "
                "comment \"%s%s\"\n",
                br, br, own, br);
    } else {
        fprintf(f, "add rule inet tug forward iifname \"%s\" accept comment \"%s%s\"\n", br, own,
                br);
        fprintf(f,
                "add rule inet tug forward oifname \"%s\" ct state established,related "
                "accept comment \"%s%s\"\n",
                br, own, br);
        fprintf(f,
                "add rule inet tug forward oifname \"%s\" ct status dnat accept "
                "comment \"%s%s\"\n",
                br, own, br);
    }
    fprintf(f,
            "add rule inet tug input iifname \"%s\" ip daddr 127.0.0.0/8 ct direction original "
            "drop comment \"%s%s\"\n",
            br, own, br);
}

static void nft_port_rule(FILE *f, const char *owner, const tug_port_rule *r, bool any)
{
    if (any)
        fprintf(f, "add rule inet tug ports meta nfproto ipv4 ");
    else
        fprintf(f, "add rule inet tug ports ip daddr %s ", r->host_ip);
    fprintf(f, "%s dport %d dnat ip to %s:%d comment \"%s\"\n", r->proto, r->host_port, r->ctr_ip,
            r->ctr_port, owner);
}

/* iptables-restore lines, one string per table. */
struct ipt_rules {
    char *nat, *filter;
};

static void ipt_network_rules(FILE *nat, FILE *filter, const char *br, const char *net,
                              bool internal)
{
    const char *own = NET_PREFIX;
    if (!internal)
        fprintf(nat, "-A TUG-POSTROUTING -s %s ! -o %s -m comment --comment %s%s -j MASQUERADE\n",
                net, br, own, br);
    fprintf(nat,
            "-A TUG-POSTROUTING -s 127.0.0.0/8 -o %s -m comment --comment %s%s "
            "-j MASQUERADE\n",
            br, own, br);
    fprintf(nat,
            "-A TUG-POSTROUTING -s %s -o %s -m conntrack --ctstate DNAT "
            "-m comment --comment %s%s -j MASQUERADE\n",
            net, br, own, br);
    if (internal) {
        fprintf(filter, "-A TUG-FORWARD -i %s ! -o %s -m comment --comment %s%s -j DROP\n", br, br,
                own, br);
        fprintf(filter, "-A TUG-FORWARD -o %s ! -i %s -m comment --comment %s%s -j DROP\n", br, br,
                own, br);
    } else {
        fprintf(filter, "-A TUG-FORWARD -i %s -m comment --comment %s%s -j ACCEPT\n", br, own, br);
        fprintf(filter,
                "-A TUG-FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT "
                "-m comment --comment %s%s -j ACCEPT\n",
                br, own, br);
    }
    fprintf(filter,
            "-A TUG-INPUT -i %s -d 127.0.0.0/8 -m conntrack --ctdir ORIGINAL "
            "-m comment --comment %s%s -j DROP\n",
            br, own, br);
}

static void ipt_port_rule(FILE *nat, const char *owner, const tug_port_rule *r, bool any)
{
    fprintf(nat, "-A TUG-PORTS");
    if (!any)
        fprintf(nat, " -d %s/32", r->host_ip);
    fprintf(nat, " -p %s -m %s --dport %d -m comment --comment %s -j DNAT --to-destination %s:%d\n",
            r->proto, r->proto, r->host_port, owner, r->ctr_ip, r->ctr_port);
}

/* ---- the iptables fallback ---- */

struct ipt_tools {
    char cmd[PATH_MAX], save[PATH_MAX], restore[PATH_MAX];
};

static int ipt_find(struct ipt_tools *t, tug_error **err)
{
    static const char *const flavours[] = {"iptables", "iptables-nft", "iptables-legacy"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(flavours); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-save", flavours[i]);
        if (!find_exe(flavours[i], t->cmd, sizeof(t->cmd)) ||
            !find_exe(name, t->save, sizeof(t->save)))
            continue;
        snprintf(name, sizeof(name), "%s-restore", flavours[i]);
        if (find_exe(name, t->restore, sizeof(t->restore)))
            return 0;
    }
    return tug_error_set(err, ENOENT, "no nftables or iptables on this host: install nftables");
}

/* The owner in a saved rule's `--comment X` (X maybe quoted) equals owner. */
static bool ipt_line_owned(const char *line, const char *owner)
{
    const char *c = strstr(line, " --comment ");
    if (c == NULL)
        return false;
    c += 11;
    if (*c == '"')
        c++;
    size_t len = strcspn(c, "\" ");
    return len == strlen(owner) && strncmp(c, owner, len) == 0;
}

struct ipt_jump {
    const char *table, *chain, *rule, *add;
};
static const struct ipt_jump ipt_jumps[] = {
    {"nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j TUG-PORTS", "-A"},
    {"nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j TUG-PORTS", "-A"},
    {"nat", "POSTROUTING", "-j TUG-POSTROUTING", "-A"},
    {"filter", "FORWARD", "-j TUG-FORWARD", "-I"},
    {"filter", "INPUT", "-j TUG-INPUT", "-I"},
};

static int ipt_lock(tug_error **err)
{
    int fd = open("/run/tug-firewall.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "open /run/tug-firewall.lock");
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return tug_error_set(err, e, "lock /run/tug-firewall.lock");
        }
    return fd;
}

/* Rewrite tug's chains: keep every saved rule not of owner, append add. With ret_owners, only
 * list the owners of rules. */
static int ipt_replace(const char *owner, const struct ipt_rules *add, char ***ret_owners,
                       tug_error **err)
{
    struct ipt_tools t;
    if (ipt_find(&t, err) < 0)
        return -1;
    cleanup_close int lock = ipt_lock(err);
    if (lock < 0)
        return lock;
    cleanup_free char *saved = NULL;
    char *save_argv[] = {t.save, NULL};
    if (run_tool_checked(save_argv, NULL, &saved, err) < 0)
        return -1;

    char *kept[2] = {NULL, NULL};
    size_t kept_len[2] = {0, 0};
    FILE *kf[2] = {open_memstream(&kept[0], &kept_len[0]), open_memstream(&kept[1], &kept_len[1])};
    bool jump_ok[TUG_ARRAY_SIZE(ipt_jumps)] = {false};
    bool removed = false;
    cleanup_strv char **owners = calloc(1, sizeof(char *));
    size_t n_owners = 0;
    int table = -1; /* 0 nat, 1 filter */
    char *sp = NULL;
    for (char *line = strtok_r(saved, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
        if (line[0] == '*') {
            table = strcmp(line, "*nat") == 0 ? 0 : strcmp(line, "*filter") == 0 ? 1 : -1;
            continue;
        }
        if (table < 0 || strncmp(line, "-A ", 3) != 0)
            continue;
        const char *chain = line + 3;
        for (size_t j = 0; j < TUG_ARRAY_SIZE(ipt_jumps); j++) {
            size_t cl = strlen(ipt_jumps[j].chain);
            if (strcmp(ipt_jumps[j].table, table ? "filter" : "nat") == 0 &&
                strncmp(chain, ipt_jumps[j].chain, cl) == 0 && chain[cl] == ' ' &&
                strcmp(chain + cl + 1, ipt_jumps[j].rule) == 0)
                jump_ok[j] = true;
        }
        if (strncmp(chain, "TUG-", 4) != 0)
            continue;
        if (owner && ipt_line_owned(line, owner)) {
            removed = true;
            continue;
        }
        if (kf[table])
            fprintf(kf[table], "%s\n", line);
        if (ret_owners && owners) {
            const char *c = strstr(line, " --comment ");
            if (c == NULL)
                continue;
            c += 11 + (c[11] == '"');
            char *o = strndup(c, strcspn(c, "\" "));
            bool seen = o == NULL;
            for (size_t k = 0; k < n_owners && !seen; k++)
                seen = strcmp(owners[k], o) == 0;
            char **nv = seen ? NULL : realloc(owners, (n_owners + 2) * sizeof(char *));
            if (nv) {
                owners = nv;
                owners[n_owners++] = steal_pointer(&o);
                owners[n_owners] = NULL;
            }
            free(o);
        }
    }
    int r = 0;
    for (int i = 0; i < 2; i++)
        if (kf[i] == NULL || fclose(kf[i]) != 0)
            r = tug_error_set(err, ENOMEM, "iptables script");
    if (r == 0 && ret_owners) {
        if (owners == NULL)
            r = tug_error_set(err, ENOMEM, "owners");
        else
            *ret_owners = steal_pointer(&owners);
    } else if (r == 0 && (add || removed)) {
        cleanup_free char *script = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&script, &len);
        if (f) {
            fprintf(f, "*nat\n:TUG-PORTS - [0:0]\n:TUG-POSTROUTING - [0:0]\n%s%s",
                    kept[0] ? kept[0] : "", add && add->nat ? add->nat : "");
            for (size_t j = 0; j < TUG_ARRAY_SIZE(ipt_jumps); j++) {
                if (j == 3)
                    fprintf(f, "COMMIT\n*filter\n:TUG-FORWARD - [0:0]\n:TUG-INPUT - [0:0]\n%s%s",
                            kept[1] ? kept[1] : "", add && add->filter ? add->filter : "");
                if (!jump_ok[j])
                    fprintf(f, "%s %s%s %s\n", ipt_jumps[j].add, ipt_jumps[j].chain,
                            ipt_jumps[j].add[1] == 'I' ? " 1" : "", ipt_jumps[j].rule);
            }
            fputs("COMMIT\n", f);
        }
        if (f == NULL || fclose(f) != 0)
            r = tug_error_set(err, ENOMEM, "iptables script");
        char *restore_argv[] = {t.restore, "-w", "--noflush", NULL};
        if (r == 0)
            r = run_tool_checked(restore_argv, script, NULL, err);
    }
    free(kept[0]);
    free(kept[1]);
    return r;
}

/* ---- docker's FORWARD policy DROP: DOCKER-USER (or FORWARD) rules per bridge ---- */

static int coexist_rule(const char *exe, const char *op, const char *chain, const char *br,
                        int which, tug_error **err)
{
    char *in[] = {(char *)exe, "-w",        (char *)op, (char *)chain, "-i",     (char *)br, "-m",
                  "comment",   "--comment", "tug",      "-j",          "ACCEPT", NULL};
    char *out[] = {(char *)exe, "-w",      (char *)op,  (char *)chain, "-o",
                   (char *)br,  "-m",      "conntrack", "--ctstate",   "RELATED,ESTABLISHED,DNAT",
                   "-m",        "comment", "--comment", "tug",         "-j",
                   "ACCEPT",    NULL};
    char **argv = which == 0 ? in : out;
    if (err == NULL)
        return run_tool(argv, NULL, NULL, NULL);
    return run_tool_checked(argv, NULL, NULL, err);
}

/* What one iptables flavour has: DOCKER-USER, FORWARD's policy, and the bridge's rules in
 * DOCKER-USER [0] and FORWARD [1] (in: -i <bridge>, out: -o <bridge>). */
struct ipt_view {
    bool docker_user, forward_drop, in[2], out[2];
};

/* Through the iptables command, for legacy tables: -C answers what a listing would. */
static int coexist_probe_exec(const char *exe, const char *br, struct ipt_view *v)
{
    char *user_argv[] = {(char *)exe, "-w", "-S", "DOCKER-USER", NULL};
    char *fwd_argv[] = {(char *)exe, "-w", "-S", "FORWARD", NULL};
    cleanup_free char *out = NULL;
    v->docker_user = run_tool(user_argv, NULL, NULL, NULL) == 0;
    int r = run_tool(fwd_argv, NULL, &out, NULL);
    if (r != 0)
        return -1;
    v->forward_drop = out && strncmp(out, "-P FORWARD DROP", 15) == 0;
    for (int c = v->docker_user ? 0 : 1; c < 2; c++)
        for (int which = 0; which < 2; which++)
            (which ? v->out : v->in)[c] =
                coexist_rule(exe, "-C", c ? "FORWARD" : "DOCKER-USER", br, which, NULL) == 0;
    return 0;
}

/* nft-backed iptables keeps its rules in table ip filter, which libnftables lists in-process
 * (no exec). It renders iptables' matches only in part, so a rule counts as the bridge's when
 * it names the bridge. Returns -1 when there is no such table: nothing to do. */
static int coexist_probe_nft(const char *br, struct ipt_view *v)
{
    cleanup_free char *out = NULL;
    tug_error *e = NULL;
    if (nft_run("list table ip filter", &out, &e) < 0) {
        tug_error_free(e);
        return -1;
    }
    char in_pat[32], out_pat[32];
    snprintf(in_pat, sizeof(in_pat), "iifname \"%s\"", br);
    snprintf(out_pat, sizeof(out_pat), "oifname \"%s\"", br);
    int chain = -1;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        if (strncmp(line, "chain ", 6) == 0) {
            chain = strncmp(line, "chain DOCKER-USER ", 18) == 0 ? 0
                    : strncmp(line, "chain FORWARD ", 14) == 0   ? 1
                                                                 : -1;
            v->docker_user |= chain == 0;
            continue;
        }
        if (chain == 1 && strstr(line, "hook forward") && strstr(line, "policy drop;"))
            v->forward_drop = true;
        if (chain >= 0 && strstr(line, " accept")) {
            v->in[chain] |= strncmp(line, in_pat, strlen(in_pat)) == 0;
            v->out[chain] |= strncmp(line, out_pat, strlen(out_pat)) == 0;
        }
    }
    return 0;
}

/* iptables-nft's table, looked for in-process: listing through iptables-nft would make it. */
static bool nft_ip_filter_exists(void)
{
    cleanup_free char *out = NULL;
    tug_error *e = NULL;
    if (!tug_lazylib_ready(&nft_lib) || nft_run("list tables ip", &out, &e) < 0) {
        tug_error_free(e);
        return false;
    }
    for (char *p = out; (p = strstr(p, "table ip filter")) != NULL; p++)
        if (p[15] == '\n' || p[15] == '\0' || p[15] == ' ')
            return true;
    return false;
}

static bool legacy_filter_loaded(void)
{
    cleanup_fclose FILE *f = fopen("/proc/net/ip_tables_names", "re");
    char line[64];
    while (f && fgets(line, sizeof(line), f))
        if (strcmp(line, "filter\n") == 0)
            return true;
    return false;
}

static int coexist_update(const char *br, bool add, tug_error **err)
{
    static const char *const chains[] = {"DOCKER-USER", "FORWARD"};
    char exe[PATH_MAX];
    for (int flavour = 0; flavour < 2; flavour++) {
        struct ipt_view v = {false};
        if (flavour == 0 &&
            (coexist_probe_nft(br, &v) < 0 || !find_exe("iptables-nft", exe, sizeof(exe))))
            continue;
        if (flavour == 1 &&
            !(legacy_filter_loaded() && find_exe("iptables-legacy", exe, sizeof(exe)) &&
              coexist_probe_exec(exe, br, &v) == 0))
            continue;
        if (!add) {
            for (int c = 0; c < 2; c++)
                for (int which = 0; which < 2; which++)
                    for (int k = 0; k < 4 && (which ? v.out : v.in)[c] &&
                                    coexist_rule(exe, "-D", chains[c], br, which, NULL) == 0;
                         k++)
                        ;
            continue;
        }
        int c = v.docker_user ? 0 : v.forward_drop ? 1 : -1;
        if (c < 0)
            continue;
        for (int which = 1; which >= 0; which--) /* inserted at the top: the -i rule ends first */
            if (!(which ? v.out : v.in)[c] &&
                coexist_rule(exe, "-I", chains[c], br, which, err) < 0)
                return tug_error_wrap(err, "accept %s in %s's %s chain", br,
                                      flavour ? "iptables-legacy" : "iptables", chains[c]);
    }
    return 0;
}

/* ---- the API ---- */

/* Networks are isolated from each other, as docker's are: new connections between two tug
 * bridges are dropped, unless DNAT made them (a published port stays open to all). The rules
 * name each pair of existing bridges, so nothing else (a veth, docker's bridge) is matched. */
static void nft_isolation_rules(FILE *f, const char *br)
{
    struct nft_state st;
    tug_error *e = NULL;
    if (nft_read_state(&st, &e) < 0) {
        tug_error_free(e);
        return;
    }
    size_t pl = strlen(NET_PREFIX);
    for (size_t i = 0; i < st.n; i++) {
        const char *c = st.rules[i].comment;
        if (strncmp(c, NET_PREFIX, pl) != 0 || strcmp(c + pl, br) == 0 ||
            if_nametoindex(c + pl) == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(st.rules[k].comment, c) == 0;
        if (seen)
            continue;
        const char *other = c + pl;
        fprintf(f,
                "insert rule inet tug forward iifname \"%s\" oifname \"%s\" ct state new ct "
                "status ! dnat drop comment \"%s%s\"\n",
                br, other, NET_PREFIX, br);
        fprintf(f,
                "insert rule inet tug forward iifname \"%s\" oifname \"%s\" ct state new ct "
                "status ! dnat drop comment \"%s%s\"\n",
                other, br, NET_PREFIX, br);
    }
    nft_state_free(&st);
}

int tug_fw_network_add(const char *bridge, const char *subnet, bool internal, tug_error **err)
{
    char net[INET_ADDRSTRLEN + 4];
    cleanup_free char *owner = NULL;
    if (check_bridge(bridge, err) < 0 || parse_subnet(subnet, net, err) < 0)
        return tug_error_wrap(err, "network firewall rules");
    if (asprintf(&owner, NET_PREFIX "%s", bridge) < 0)
        return tug_error_set(err, ENOMEM, "network firewall rules");
    if (!internal && sysctl_enable("/proc/sys/net/ipv4/ip_forward", err) < 0)
        return tug_error_wrap(err, "enable IPv4 forwarding for %s", bridge);

    bool nft_mode = use_nft();
    int r;
    struct ipt_rules ir = {NULL, NULL};
    size_t l1, l2;
    FILE *f1 = open_memstream(&ir.nat, &l1);
    FILE *f2 = open_memstream(&ir.filter, &l2);
    if (f1 && f2) {
        if (nft_mode) {
            nft_network_rules(f1, bridge, net, internal);
            nft_isolation_rules(f1, bridge);
        } else
            ipt_network_rules(f1, f2, bridge, net, internal);
    }
    bool oom = (f1 == NULL || fclose(f1) != 0) | (f2 == NULL || fclose(f2) != 0);
    if (oom)
        r = tug_error_set(err, ENOMEM, "firewall rules");
    else if (nft_mode)
        r = nft_replace(owner, ir.nat, err);
    else
        r = ipt_replace(owner, &ir, NULL, err);
    free(ir.nat);
    free(ir.filter);
    if (r < 0)
        return tug_error_wrap(err, "firewall rules for network %s", bridge);
    if (nft_mode && coexist_update(bridge, !internal, err) < 0)
        return tug_error_wrap(err, "firewall rules for network %s", bridge);
    return 0;
}

int tug_fw_network_remove(const char *bridge, const char *subnet, tug_error **err)
{
    cleanup_free char *owner = NULL;
    if (check_bridge(bridge, err) < 0)
        return tug_error_wrap(err, "remove network firewall rules");
    if (asprintf(&owner, NET_PREFIX "%s", bridge) < 0)
        return tug_error_set(err, ENOMEM, "remove network firewall rules");
    bool nft_mode = use_nft();
    int r = nft_mode ? nft_replace(owner, NULL, err) : ipt_replace(owner, NULL, NULL, err);
    if (r < 0)
        return tug_error_wrap(err, "remove firewall rules of network %s", bridge);
    if (nft_mode)
        coexist_update(bridge, false, NULL);
    return 0;
}

int tug_fw_ports_add(const char *owner, const char *bridge, const tug_port_rule *rules, size_t n,
                     tug_error **err)
{
    if (check_owner(owner, err) < 0 || (bridge && check_bridge(bridge, err) < 0))
        return tug_error_wrap(err, "publish ports");
    bool nft_mode = use_nft(), need_localnet = false;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return tug_error_set(err, errno, "publish ports");
    for (size_t i = 0; i < n; i++) {
        bool any, lo;
        if (check_port_rule(&rules[i], &any, &lo, err) < 0) {
            fclose(f);
            free(text);
            return tug_error_wrap(err, "publish ports of %s", owner);
        }
        need_localnet |= lo;
        if (nft_mode)
            nft_port_rule(f, owner, &rules[i], any);
        else
            ipt_port_rule(f, owner, &rules[i], any);
    }
    if (fclose(f) != 0) {
        free(text);
        return tug_error_set(err, ENOMEM, "publish ports");
    }
    cleanup_free char *nat = text;
    if (need_localnet && bridge) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", bridge);
        if (sysctl_enable(path, err) < 0)
            return tug_error_wrap(err, "publish ports of %s on 127.0.0.1", owner);
    }
    struct ipt_rules ir = {nat, NULL};
    int r = nft_mode ? nft_replace(owner, n ? nat : NULL, err)
                     : ipt_replace(owner, n ? &ir : NULL, NULL, err);
    if (r < 0)
        return tug_error_wrap(err, "publish ports of %s", owner);
    return 0;
}

int tug_fw_ports_remove(const char *owner, tug_error **err)
{
    if (check_owner(owner, err) < 0)
        return tug_error_wrap(err, "unpublish ports");
    int r = use_nft() ? nft_replace(owner, NULL, err) : ipt_replace(owner, NULL, NULL, err);
    if (r < 0)
        return tug_error_wrap(err, "unpublish ports of %s", owner);
    return 0;
}

/* Owners of tug's rules, networks' ("net:<bridge>") too. */
static int all_owners(char ***ret, tug_error **err)
{
    int r = use_nft() ? nft_owners(ret, err) : ipt_replace(NULL, NULL, ret, err);
    return r < 0 ? tug_error_wrap(err, "list firewall rule owners") : 0;
}

int tug_fw_owners(char ***ret_owners, tug_error **err)
{
    char **v = NULL;
    if (all_owners(&v, err) < 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; v[i]; i++) {
        if (strncmp(v[i], NET_PREFIX, strlen(NET_PREFIX)) == 0)
            free(v[i]);
        else
            v[kept++] = v[i];
    }
    v[kept] = NULL;
    *ret_owners = v;
    return 0;
}

/* ---- rules of bridges that went without tug (deleted by hand, a store thrown away) ---- */

static void strv_add_unique(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return;
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (nv == NULL)
        return;
    *v = nv;
    if ((nv[*n] = strdup(s)) != NULL)
        (*n)++;
    nv[*n] = NULL;
}

#define RULE_WORDS 32

/* An `iptables -S` line of ours: "-A <chain> ... -i|-o <bridge> ... --comment tug ...",
 * split into words (in place). Returns the bridge, or NULL for any other rule (docker's). */
static const char *coexist_parse(char *line, char *words[RULE_WORDS], int *ret_n)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (n == RULE_WORDS || strchr(w, '"') != NULL)
            return NULL; /* not one tug writes */
        words[n++] = w;
    }
    const char *bridge = NULL;
    bool marked = false;
    for (int i = 2; i + 1 < n; i++) {
        if (strcmp(words[i], "-i") == 0 || strcmp(words[i], "-o") == 0)
            bridge = words[i + 1];
        if (strcmp(words[i], "--comment") == 0 && strcmp(words[i + 1], "tug") == 0)
            marked = true;
    }
    *ret_n = n;
    return n > 2 && strcmp(words[0], "-A") == 0 && marked ? bridge : NULL;
}

/* One iptables flavour: tug's ACCEPT rules in DOCKER-USER and FORWARD whose bridge is gone. */
static void coexist_stale(const char *exe, bool remove, char ***bridges, size_t *n)
{
    static const char *const chains[] = {"DOCKER-USER", "FORWARD"};
    for (size_t c = 0; c < TUG_ARRAY_SIZE(chains); c++) {
        char *list_argv[] = {(char *)exe, "-w", "-S", (char *)chains[c], NULL};
        cleanup_free char *out = NULL;
        if (run_tool(list_argv, NULL, &out, NULL) != 0 || out == NULL)
            continue;
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *words[RULE_WORDS];
            int nw = 0;
            const char *br = coexist_parse(line, words, &nw);
            if (br == NULL || if_nametoindex(br) != 0)
                continue;
            strv_add_unique(bridges, n, br);
            if (!remove)
                continue;
            /* the same rule, -D instead of -A */
            char *del_argv[RULE_WORDS + 3] = {(char *)exe, "-w", "-D"};
            for (int i = 1; i < nw; i++)
                del_argv[i + 2] = words[i];
            del_argv[nw + 2] = NULL;
            run_tool(del_argv, NULL, NULL, NULL);
        }
    }
}

int tug_fw_stale_bridges(bool remove, char ***ret_bridges, tug_error **err)
{
    cleanup_strv char **owners = NULL;
    if (all_owners(&owners, err) < 0)
        return -1;
    char **bridges = calloc(1, sizeof(char *));
    size_t n = 0;
    if (bridges == NULL)
        return tug_error_set(err, ENOMEM, "stale firewall rules");
    size_t pl = strlen(NET_PREFIX);
    for (char **o = owners; *o; o++) {
        if (strncmp(*o, NET_PREFIX, pl) != 0 || if_nametoindex(*o + pl) != 0)
            continue;
        strv_add_unique(&bridges, &n, *o + pl);
        if (remove)
            tug_fw_network_remove(*o + pl, NULL, NULL);
    }
    /* What went into docker's chains, in each iptables flavour that has them */
    char exe[PATH_MAX];
    if (nft_ip_filter_exists() && find_exe("iptables-nft", exe, sizeof(exe)))
        coexist_stale(exe, remove, &bridges, &n);
    if (legacy_filter_loaded() && find_exe("iptables-legacy", exe, sizeof(exe)))
        coexist_stale(exe, remove, &bridges, &n);
    *ret_bridges = bridges;
    return 0;
}
