/* Firewall rules against the real kernel: a bridge, a "container" network namespace with a
 * listener behind it and an "outside" namespace acting as another host, all created here.
 * Traffic only goes to these namespaces. The first group runs in the host's network namespace
 * beside whatever firewall it has; the later groups run in a private one, where the test plays
 * docker (DOCKER-USER, FORWARD policy DROP) and forces the iptables fallback. Needs root and nft;
 * otherwise every test is skipped with the reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h */

#include "net/firewall.h"
#include "util/cleanup.h"

#define CTR_PORT 8080
#define OUT_PORT 9090

static const char *skip_reason;

struct topo {
    char br[16], veth_c[16], veth_x[16], ns_c[32], ns_x[32];
    char subnet[32], gw[16], ctr_ip[16], out_gw[16], out_ip[16];
    pid_t listeners[2];
    bool table_existed;
};
static struct topo T;
static char owner1[40], owner2[40];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Output of a shell command (trimmed to size). */
static void sh_out(char *buf, size_t size, const char *cmd)
{
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return;
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    pclose(p);
}

static bool have(const char *tool)
{
    return sh("command -v %s >/dev/null 2>&1 || test -x /usr/sbin/%s", tool, tool) == 0;
}

static int enter_netns(const char *ns)
{
    char path[64];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = setns(fd, CLONE_NEWNET);
    close(fd);
    return r;
}

/* A TCP server in ns on ip:port answering every connection with "<tag> <peer address>\n". */
static pid_t start_listener(const char *ns, const char *ip, int port, const char *tag)
{
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, ip, &a.sin_addr);
        int one = 1, s;
        if (enter_netns(ns) < 0 || (s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0)
            _exit(1);
        if (write(ready[1], "1", 1) != 1)
            _exit(1);
        close(ready[1]);
        for (;;) {
            struct sockaddr_in peer;
            socklen_t len = sizeof(peer);
            int c = accept(s, (struct sockaddr *)&peer, &len);
            if (c < 0)
                continue;
            char line[64], addr[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
            int n = snprintf(line, sizeof(line), "%s %s\n", tag, addr);
            if (write(c, line, n) < 0) {
            }
            close(c);
        }
    }
    close(ready[1]);
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    char b = 0;
    bool ok = pid > 0 && poll(&p, 1, 3000) == 1 && read(ready[0], &b, 1) == 1;
    close(ready[0]);
    if (!ok && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* Connect to ip:port (from ns, or from here when NULL) within 1 s; the first line answered into
 * reply. 0 when something answered. */
static int probe_here(const char *ip, int port, char *reply, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int r = connect(s, (struct sockaddr *)&a, sizeof(a));
    struct pollfd p = {.fd = s, .events = POLLIN};
    if ((r == 0 || errno == EINPROGRESS) && poll(&p, 1, 1000) == 1) {
        ssize_t n = read(s, reply, size - 1);
        if (n > 0) {
            reply[n] = '\0';
            reply[strcspn(reply, "\n")] = '\0';
            close(s);
            return 0;
        }
    }
    close(s);
    return -1;
}

static int probe(const char *ns, const char *ip, int port, char *reply, size_t size)
{
    reply[0] = '\0';
    if (ns == NULL)
        return probe_here(ip, port, reply, size);
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char buf[128] = "";
        if (enter_netns(ns) < 0 || probe_here(ip, port, buf, sizeof(buf)) < 0)
            _exit(1);
        if (write(fds[1], buf, strlen(buf)) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    int status = 1;
    ssize_t n = pid > 0 ? read(fds[0], reply, size - 1) : -1;
    reply[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* Rules of owner in table inet tug, counted from nft's own listing. */
static int nft_count(const char *owner)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "nft list table inet tug 2>/dev/null | grep -c 'comment \"%s\"'",
             owner);
    char out[32];
    sh_out(out, sizeof(out), cmd);
    return atoi(out);
}

static int ipt_count(const char *owner)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "iptables-save | grep -c -- '-A TUG-.*--comment \"\\?%s\"\\? '",
             owner);
    char out[32];
    sh_out(out, sizeof(out), cmd);
    return atoi(out);
}

static bool forced_iptables(void)
{
    const char *f = getenv("TUG_FIREWALL");
    return f && strcmp(f, "iptables") == 0;
}

static int count_rules(const char *owner)
{
    return forced_iptables() ? ipt_count(owner) : nft_count(owner);
}

static bool has_owner(const char *owner)
{
    cleanup_strv char **v = NULL;
    tug_error *err = NULL;
    if (tug_fw_owners(&v, &err) < 0) {
        fail_msg("owners: %s", err->msg);
    }
    for (char **p = v; p && *p; p++)
        if (strcmp(*p, owner) == 0)
            return true;
    return false;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        tug_error *e_ = NULL;                                                                      \
        if ((call) < 0) {                                                                          \
            fprintf(stderr, "%s: %s\n", #call, e_ ? e_->msg : "?");                                \
            tug_error_free(e_);                                                                    \
            fail();                                                                                \
        }                                                                                          \
    } while (0)
#define E (&e_)

static void topo_down(void)
{
    for (int i = 0; i < 2; i++)
        if (T.listeners[i] > 0) {
            kill(T.listeners[i], SIGKILL);
            waitpid(T.listeners[i], NULL, 0);
            T.listeners[i] = 0;
        }
    if (T.br[0]) {
        sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", T.ns_c, T.ns_x);
        sh("ip link del %s 2>/dev/null; ip link del %s 2>/dev/null; ip link del %s 2>/dev/null",
           T.veth_c, T.veth_x, T.br);
    }
}

static int topo_up(void)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    int id = 10000 + rand_r(&seed) % 90000, x = 0;
    char used[4096];
    sh_out(used, sizeof(used), "ip -4 -o addr show");
    for (int tries = 0; tries < 50; tries++) {
        x = 1 + rand_r(&seed) % 250;
        char a[32], b[32];
        snprintf(a, sizeof(a), "10.214.%d.", x);
        snprintf(b, sizeof(b), "10.215.%d.", x);
        if (!strstr(used, a) && !strstr(used, b))
            break;
    }
    memset(&T, 0, sizeof(T));
    snprintf(T.br, sizeof(T.br), "tugt%d", id);
    snprintf(T.veth_c, sizeof(T.veth_c), "tugt%dc", id);
    snprintf(T.veth_x, sizeof(T.veth_x), "tugt%dx", id);
    snprintf(T.ns_c, sizeof(T.ns_c), "tugt%d-ctr", id);
    snprintf(T.ns_x, sizeof(T.ns_x), "tugt%d-out", id);
    snprintf(T.subnet, sizeof(T.subnet), "10.214.%d.0/24", x);
    snprintf(T.gw, sizeof(T.gw), "10.214.%d.1", x);
    snprintf(T.ctr_ip, sizeof(T.ctr_ip), "10.214.%d.2", x);
    snprintf(T.out_gw, sizeof(T.out_gw), "10.215.%d.1", x);
    snprintf(T.out_ip, sizeof(T.out_ip), "10.215.%d.2", x);
    snprintf(owner1, sizeof(owner1), "tugtest%d0000000000a", id);
    snprintf(owner2, sizeof(owner2), "tugtest%d0000000000b", id);
    T.table_existed = sh("nft list table inet tug >/dev/null 2>&1") == 0;
    int r = sh("set -e; exec >/dev/null 2>&1;"
               "ip link set lo up;"
               "ip link add %s type bridge; ip addr add %s/24 dev %s; ip link set %s up;"
               "ip netns add %s; ip link add %s type veth peer name eth0 netns %s;"
               "ip link set %s master %s up; ip link set %s type bridge_slave hairpin on;"
               "ip -n %s addr add %s/24 dev eth0; ip -n %s link set eth0 up;"
               "ip -n %s link set lo up; ip -n %s route add default via %s;"
               "ip netns add %s; ip link add %s type veth peer name eth0 netns %s;"
               "ip addr add %s/24 dev %s; ip link set %s up;"
               "ip -n %s addr add %s/24 dev eth0; ip -n %s link set eth0 up;"
               "ip -n %s link set lo up; ip -n %s route add default via %s",
               T.br, T.gw, T.br, T.br,                                 /* bridge */
               T.ns_c, T.veth_c, T.ns_c, T.veth_c, T.br, T.veth_c,     /* container */
               T.ns_c, T.ctr_ip, T.ns_c, T.ns_c, T.ns_c, T.gw,         /* its address */
               T.ns_x, T.veth_x, T.ns_x, T.out_gw, T.veth_x, T.veth_x, /* outside */
               T.ns_x, T.out_ip, T.ns_x, T.ns_x, T.ns_x, T.out_gw);
    if (r != 0)
        return -1;
    T.listeners[0] = start_listener(T.ns_c, T.ctr_ip, CTR_PORT, "ctr");
    T.listeners[1] = start_listener(T.ns_x, T.out_ip, OUT_PORT, "out");
    return T.listeners[0] > 0 && T.listeners[1] > 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    if (geteuid() != 0)
        skip_reason = "needs root";
    else if (!have("nft"))
        skip_reason = "nft is not installed";
    else if (!have("ip"))
        skip_reason = "ip(8) is not installed";
    if (skip_reason)
        return 0;
    if (topo_up() < 0) {
        topo_down();
        fprintf(stderr, "cannot build the test network\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (skip_reason)
        return 0;
    tug_error *err = NULL;
    tug_fw_ports_remove(owner1, &err);
    tug_fw_ports_remove(owner2, &err);
    tug_fw_network_remove(T.br, T.subnet, &err);
    tug_error_free(err);
    topo_down();
    /* Leave the host as found: the skeleton goes when this test brought it and nothing else
     * has rules in it. */
    if (!T.table_existed && !forced_iptables() &&
        sh("nft list table inet tug 2>/dev/null | grep -q 'comment \"'") != 0)
        sh("nft delete table inet tug 2>/dev/null");
    return 0;
}

#define SKIP_IF_NEEDED()                                                                           \
    do {                                                                                           \
        if (skip_reason) {                                                                         \
            printf("skipped: %s\n", skip_reason);                                                  \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void test_rejects_bad_input(void **state)
{
    tug_error *err = NULL;
    tug_port_rule ok = {"tcp", "127.0.0.1", 1234, "10.0.0.2", 80};
    tug_port_rule bad_proto = ok, bad_ip = ok, v6 = ok, bad_port = ok;
    bad_proto.proto = "icmp";
    bad_ip.ctr_ip = "10.0.0.2\" accept";
    v6.host_ip = "::1";
    bad_port.host_port = 70000;
    assert_true(tug_fw_network_add("br\"0", "10.0.0.0/24", false, &err) < 0);
    assert_int_equal(err->kind, TUG_ERR_USER);
    assert_true(tug_fw_network_add("br0", "10.0.0.0/33", false, &err) < 0);
    assert_true(tug_fw_network_add("br0", "10.0.0.0", false, &err) < 0);
    assert_true(tug_fw_ports_add("bad owner", "br0", &ok, 1, &err) < 0);
    assert_true(tug_fw_ports_add("net:br0", "br0", &ok, 1, &err) < 0);
    assert_true(tug_fw_ports_add("abc", "br0", &bad_proto, 1, &err) < 0);
    assert_non_null(strstr(err->msg, "icmp"));
    assert_true(tug_fw_ports_add("abc", "br0", &bad_ip, 1, &err) < 0);
    assert_true(tug_fw_ports_add("abc", "br0", &bad_port, 1, &err) < 0);
    assert_true(tug_fw_ports_add("abc", "br0", &v6, 1, &err) < 0);
    assert_non_null(strstr(err->msg, "IPv4"));
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
}

static void test_localhost_port_reaches_container(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128], expect[64];
    int port = free_port();
    tug_port_rule rule = {"tcp", "127.0.0.1", port, T.ctr_ip, CTR_PORT};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_ports_add(owner1, T.br, &rule, 1, E));

    char path[96], val[8] = "";
    snprintf(path, sizeof(path), "cat /proc/sys/net/ipv4/conf/%s/route_localnet", T.br);
    sh_out(val, sizeof(val), path);
    assert_int_equal(val[0], '1');

    assert_int_equal(probe(NULL, "127.0.0.1", port, reply, sizeof(reply)), 0);
    snprintf(expect, sizeof(expect), "ctr %s", T.gw); /* loopback source masqueraded */
    assert_string_equal(reply, expect);
    assert_true(has_owner(owner1));

    OK(tug_fw_ports_remove(owner1, E));
    assert_int_not_equal(probe(NULL, "127.0.0.1", port, reply, sizeof(reply)), 0);
    assert_false(has_owner(owner1));
    assert_int_equal(count_rules(owner1), 0);
    OK(tug_fw_ports_remove(owner1, E)); /* nothing left: still success */
}

static void test_adding_twice_keeps_one_set(void **state)
{
    SKIP_IF_NEEDED();
    char net_owner[32];
    snprintf(net_owner, sizeof(net_owner), "net:%s", T.br);
    tug_port_rule rules[2] = {{"tcp", "127.0.0.1", free_port(), T.ctr_ip, CTR_PORT},
                              {"udp", "0.0.0.0", free_port(), T.ctr_ip, 53}};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    int net_rules = count_rules(net_owner);
    assert_true(net_rules >= 6);
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    assert_int_equal(count_rules(net_owner), net_rules);
    OK(tug_fw_ports_add(owner2, T.br, rules, 2, E));
    OK(tug_fw_ports_add(owner2, T.br, rules, 2, E));
    assert_int_equal(count_rules(owner2), 2);
    OK(tug_fw_ports_add(owner2, T.br, rules, 1, E)); /* a new set replaces the old */
    assert_int_equal(count_rules(owner2), 1);
    OK(tug_fw_ports_remove(owner2, E));
    assert_int_equal(count_rules(owner2), 0);
}

/* Published on every address: reachable from another host (forwarded, source kept) and from
 * this one; containers reach out through masquerade. */
static void test_all_addresses_and_outbound(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128], expect[64];
    int port = free_port();
    tug_port_rule rule = {"tcp", "0.0.0.0", port, T.ctr_ip, CTR_PORT};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_ports_add(owner2, T.br, &rule, 1, E));

    assert_int_equal(probe(T.ns_x, T.out_gw, port, reply, sizeof(reply)), 0);
    snprintf(expect, sizeof(expect), "ctr %s", T.out_ip);
    assert_string_equal(reply, expect);
    assert_int_equal(probe(NULL, "127.0.0.1", port, reply, sizeof(reply)), 0);
    assert_int_equal(probe(NULL, T.out_gw, port, reply, sizeof(reply)), 0);

    assert_int_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
    snprintf(expect, sizeof(expect), "out %s", T.out_gw);
    assert_string_equal(reply, expect);

    /* Hairpin: the container through its own published port (its bridge port in hairpin mode,
     * which br_netfilter needs to send the DNATed frame back where it came from). */
    assert_int_equal(probe(T.ns_c, T.out_gw, port, reply, sizeof(reply)), 0);

    OK(tug_fw_ports_remove(owner2, E));
    assert_int_not_equal(probe(T.ns_x, T.out_gw, port, reply, sizeof(reply)), 0);
}

static void test_network_remove_drops_masquerade(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128], expect[64], net_owner[32];
    snprintf(net_owner, sizeof(net_owner), "net:%s", T.br);
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    assert_int_equal(count_rules(net_owner), 0);
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    /* Still routed (the bridge is there), no longer masqueraded, where nothing else drops it. */
    if (sh("iptables -w -S FORWARD 2>/dev/null | grep -q -- '-P FORWARD DROP'") != 0 &&
        sh("iptables-legacy -w -S FORWARD 2>/dev/null | grep -q -- '-P FORWARD DROP'") != 0) {
        assert_int_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
        snprintf(expect, sizeof(expect), "out %s", T.ctr_ip);
        assert_string_equal(reply, expect);
    }
}

static void test_internal_network_stays_inside(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128], net_owner[32];
    snprintf(net_owner, sizeof(net_owner), "net:%s", T.br);
    OK(tug_fw_network_add(T.br, T.subnet, true, E));
    assert_int_not_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
    /* Published on 127.0.0.1 it still answers: that never leaves the bridge. */
    int port = free_port();
    tug_port_rule rule = {"tcp", "127.0.0.1", port, T.ctr_ip, CTR_PORT};
    OK(tug_fw_ports_add(owner1, T.br, &rule, 1, E));
    assert_int_equal(probe(NULL, "127.0.0.1", port, reply, sizeof(reply)), 0);
    OK(tug_fw_ports_remove(owner1, E));
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    assert_int_equal(count_rules(net_owner), 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_port_changes_are_fast(void **state)
{
    SKIP_IF_NEEDED();
    enum { N = 50 };
    tug_port_rule rules[2] = {{"tcp", "0.0.0.0", free_port(), T.ctr_ip, CTR_PORT},
                              {"tcp", "127.0.0.1", free_port(), T.ctr_ip, CTR_PORT}};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    double t0 = now_ms();
    OK(tug_fw_ports_add(owner1, T.br, rules, 2, E)); /* includes opening libnftables */
    double first = now_ms() - t0;
    OK(tug_fw_ports_remove(owner1, E));
    double add = 0, rm = 0;
    for (int i = 0; i < N; i++) {
        t0 = now_ms();
        OK(tug_fw_ports_add(owner1, T.br, rules, 2, E));
        double t1 = now_ms();
        OK(tug_fw_ports_remove(owner1, E));
        add += t1 - t0;
        rm += now_ms() - t1;
    }
    t0 = now_ms();
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    double net = now_ms() - t0;
    printf("firewall (%s): first ports add %.2f ms, ports add %.2f ms, ports remove %.2f ms "
           "(mean of %d, 2 ports), network add again %.2f ms\n",
           forced_iptables() ? "iptables" : "nftables", first, add / N, rm / N, N, net);
    /* a measurement, not a test: a loaded machine is slower, and benchmarks judge speed */
}

/* ---- private network namespace: docker's FORWARD DROP, then the iptables fallback ---- */

static bool legacy_ok;

static int docker_like_setup(void **state)
{
    if (skip_reason)
        return 0;
    if (unshare(CLONE_NEWNET) < 0) {
        skip_reason = "cannot create a network namespace";
        return 0;
    }
    if (!have("iptables")) {
        skip_reason = "iptables is not installed";
        return 0;
    }
    /* What dockerd sets up, in both iptables flavours when legacy is there. */
    const char *docker = "set -e; exec >/dev/null 2>&1; X=%s; $X -N DOCKER-USER;"
                         "$X -A DOCKER-USER -j RETURN; $X -I FORWARD -j DOCKER-USER;"
                         "$X -P FORWARD DROP";
    if (sh(docker, "iptables-nft") != 0) {
        skip_reason = "cannot set up iptables-nft";
        return 0;
    }
    legacy_ok = have("iptables-legacy") && sh(docker, "iptables-legacy") == 0;
    return group_setup(state);
}

static void test_forwarding_beside_docker(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128];
    int port = free_port();
    tug_port_rule rule = {"tcp", "0.0.0.0", port, T.ctr_ip, CTR_PORT};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_ports_add(owner2, T.br, &rule, 1, E));
    const char *in = "%s -w %s DOCKER-USER -i %s -m comment --comment tug -j ACCEPT 2>/dev/null";
    const char *out = "%s -w %s DOCKER-USER -o %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT "
                      "-m comment --comment tug -j ACCEPT 2>/dev/null";
    const char *flavours[] = {"iptables-nft", legacy_ok ? "iptables-legacy" : NULL};
    for (int i = 0; i < 2 && flavours[i]; i++) {
        char cmd[128], count[16];
        assert_int_equal(sh(in, flavours[i], "-C", T.br), 0);
        assert_int_equal(sh(out, flavours[i], "-C", T.br), 0);
        snprintf(cmd, sizeof(cmd), "%s -S DOCKER-USER | grep -c %s", flavours[i], T.br);
        sh_out(count, sizeof(count), cmd);
        assert_int_equal(atoi(count), 2); /* once each, though added twice */
    }
    assert_int_equal(probe(T.ns_x, T.out_gw, port, reply, sizeof(reply)), 0);
    assert_int_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
    assert_int_equal(probe(NULL, "127.0.0.1", port, reply, sizeof(reply)), 0);

    /* Without them docker's policy drops what is forwarded; adding the network puts them back. */
    for (int i = 0; i < 2 && flavours[i]; i++) {
        sh(in, flavours[i], "-D", T.br);
        sh(out, flavours[i], "-D", T.br);
    }
    assert_int_not_equal(probe(T.ns_x, T.out_gw, port, reply, sizeof(reply)), 0);
    assert_int_not_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    assert_int_equal(probe(T.ns_x, T.out_gw, port, reply, sizeof(reply)), 0);

    OK(tug_fw_ports_remove(owner2, E));
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    for (int i = 0; i < 2 && flavours[i]; i++) {
        assert_int_not_equal(sh(in, flavours[i], "-C", T.br), 0);
        assert_int_not_equal(sh(out, flavours[i], "-C", T.br), 0);
    }
}

/* No docker but a FORWARD policy of DROP: the rules go to FORWARD itself. */
static void test_forwarding_with_plain_drop_policy(void **state)
{
    SKIP_IF_NEEDED();
    char reply[128];
    sh("iptables-nft -D FORWARD -j DOCKER-USER; iptables-nft -F DOCKER-USER;"
       "iptables-nft -X DOCKER-USER");
    if (legacy_ok)
        sh("iptables-legacy -P FORWARD ACCEPT");
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    assert_int_equal(
        sh("iptables-nft -w -C FORWARD -i %s -m comment --comment tug -j ACCEPT", T.br), 0);
    assert_int_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    assert_int_not_equal(
        sh("iptables-nft -w -C FORWARD -i %s -m comment --comment tug -j ACCEPT 2>/dev/null", T.br),
        0);
    assert_int_not_equal(probe(T.ns_c, T.out_ip, OUT_PORT, reply, sizeof(reply)), 0);
}

static int fallback_setup(void **state)
{
    if (skip_reason)
        return 0;
    sh("nft delete table inet tug 2>/dev/null");
    sh("iptables-nft -P FORWARD DROP"); /* the fallback must cope with it by itself */
    setenv("TUG_FIREWALL", "iptables", 1);
    return group_setup(state);
}

static int fallback_teardown(void **state)
{
    group_teardown(state);
    unsetenv("TUG_FIREWALL");
    if (!skip_reason && sh("iptables-save | grep -q -- '-A TUG-.*--comment'") != 1) {
        fprintf(stderr, "iptables rules left behind\n");
        return -1;
    }
    return 0;
}

static void test_fallback_leaves_no_rules(void **state)
{
    SKIP_IF_NEEDED();
    tug_port_rule rule = {"tcp", "0.0.0.0", free_port(), T.ctr_ip, CTR_PORT};
    OK(tug_fw_network_add(T.br, T.subnet, false, E));
    OK(tug_fw_ports_add(owner1, T.br, &rule, 1, E));
    OK(tug_fw_ports_add(owner2, T.br, &rule, 1, E));
    assert_true(has_owner(owner1) && has_owner(owner2));
    OK(tug_fw_ports_remove(owner1, E));
    OK(tug_fw_ports_remove(owner2, E));
    OK(tug_fw_network_remove(T.br, T.subnet, E));
    cleanup_strv char **v = NULL;
    OK(tug_fw_owners(&v, E));
    assert_null(v[0]);
    assert_int_equal(sh("iptables-save | grep -q -- '-A TUG-.*--comment'"), 1);
}

int main(void)
{
    const struct CMUnitTest host[] = {
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_localhost_port_reaches_container),
        cmocka_unit_test(test_adding_twice_keeps_one_set),
        cmocka_unit_test(test_all_addresses_and_outbound),
        cmocka_unit_test(test_network_remove_drops_masquerade),
        cmocka_unit_test(test_internal_network_stays_inside),
        cmocka_unit_test(test_port_changes_are_fast),
    };
    const struct CMUnitTest docker_like[] = {
        cmocka_unit_test(test_forwarding_beside_docker),
        cmocka_unit_test(test_forwarding_with_plain_drop_policy),
    };
    const struct CMUnitTest fallback[] = {
        cmocka_unit_test(test_localhost_port_reaches_container),
        cmocka_unit_test(test_adding_twice_keeps_one_set),
        cmocka_unit_test(test_all_addresses_and_outbound),
        cmocka_unit_test(test_network_remove_drops_masquerade),
        cmocka_unit_test(test_internal_network_stays_inside),
        cmocka_unit_test(test_fallback_leaves_no_rules),
        cmocka_unit_test(test_port_changes_are_fast),
    };
    int failed =
        cmocka_run_group_tests_name("firewall on the host", host, group_setup, group_teardown);
    /* The rest runs in a network namespace of its own (this process stays in it). */
    failed += cmocka_run_group_tests_name("firewall beside docker's FORWARD DROP", docker_like,
                                          docker_like_setup, group_teardown);
    failed += cmocka_run_group_tests_name("firewall through iptables", fallback, fallback_setup,
                                          fallback_teardown);
    return failed;
}
