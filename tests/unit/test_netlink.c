/* Bridges and veth pairs against the real kernel (root): a child process in its own network
 * namespace plays the container. Addresses come from 10.213.x.0/24 with an x no host route
 * overlaps; every link the tests create is named tugt<random>* and removed in teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/netlink.h"
#include "util/cleanup.h"

#define IO_TIMEOUT_MS 5000

static struct {
    const char *skip; /* why the tests cannot run here, or NULL */
    pid_t child;
    int to_child, from_child;
    unsigned x; /* the third octet of 10.213.x.0/24 */
    char bridge[IFNAMSIZ], prefix[IFNAMSIZ];
    char br_cidr[32], ctr_addr[32], ctr_cidr[32], gateway[32];
} fx = {.to_child = -1, .from_child = -1};

/* ---- the child: a network namespace of its own, answering one command per line ---- */

static int read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read(fd, buf + n, 1);
        if (got <= 0)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}

static bool iface_flags(int sock, const char *name, short *ret)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s", IFNAMSIZ - 1, name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return false;
    *ret = ifr.ifr_flags;
    return true;
}

static bool iface_in4(int sock, const char *name, unsigned long req, char *out, size_t size)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s", IFNAMSIZ - 1, name);
    ifr.ifr_addr.sa_family = AF_INET;
    if (ioctl(sock, req, &ifr) < 0)
        return false;
    return inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, out,
                     (socklen_t)size) != NULL;
}

/* The gateway of the default route on ifname in the caller's namespace, "" when none. */
static void default_route(const char *ifname, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/net/route", "re");
    if (f == NULL)
        return;
    char line[256], ifn[IFNAMSIZ + 1];
    unsigned dst, gw, flags, mask;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%16s %x %x %x %*s %*s %*s %x", ifn, &dst, &gw, &flags, &mask) == 5 &&
            strcmp(ifn, ifname) == 0 && dst == 0 && mask == 0) {
            struct in_addr a = {.s_addr = gw};
            inet_ntop(AF_INET, &a, out, (socklen_t)size);
        }
    fclose(f);
}

/* "state IF": "up|down ADDR MASK BRD MAC GW lo:up|down", or "absent". */
static void child_state(int out, const char *ifname)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    short flags = 0, loflags = 0;
    char addr[INET_ADDRSTRLEN] = "-", mask[INET_ADDRSTRLEN] = "-", brd[INET_ADDRSTRLEN] = "-";
    char gw[INET_ADDRSTRLEN], mac[18] = "-";
    if (!iface_flags(sock, ifname, &flags)) {
        dprintf(out, "absent\n");
        close(sock);
        return;
    }
    iface_flags(sock, "lo", &loflags);
    iface_in4(sock, ifname, SIOCGIFADDR, addr, sizeof(addr));
    iface_in4(sock, ifname, SIOCGIFNETMASK, mask, sizeof(mask));
    iface_in4(sock, ifname, SIOCGIFBRDADDR, brd, sizeof(brd));
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s", IFNAMSIZ - 1, ifname);
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) == 0) {
        const unsigned char *m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                 m[5]);
    }
    default_route(ifname, gw, sizeof(gw));
    dprintf(out, "%s %s %s %s %s %s lo:%s\n", (flags & IFF_UP) ? "up" : "down", addr, mask, brd,
            mac, gw[0] ? gw : "-", (loflags & IFF_UP) ? "up" : "down");
    close(sock);
}

/* "listen ADDR": answer "port N", accept one connection, greet it. */
static void child_listen(int out, const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || bind(l, (struct sockaddr *)&sa, len) < 0 ||
        listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
        dprintf(out, "error %s\n", strerror(errno));
        close(l);
        return;
    }
    dprintf(out, "port %d\n", ntohs(sa.sin_port));
    struct pollfd p = {.fd = l, .events = POLLIN};
    if (poll(&p, 1, IO_TIMEOUT_MS) == 1) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            dprintf(c, "hello from the namespace\n");
            close(c);
        }
    }
    close(l);
}

static void child_main(int in, int out)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNET) < 0) {
        dprintf(out, "error unshare: %s\n", strerror(errno));
        _exit(1);
    }
    dprintf(out, "ready\n");
    char cmd[128];
    while (read_line(in, cmd, sizeof(cmd), -1) == 0) {
        if (strncmp(cmd, "state ", 6) == 0)
            child_state(out, cmd + 6);
        else if (strncmp(cmd, "listen ", 7) == 0)
            child_listen(out, cmd + 7);
        else
            break;
    }
    _exit(0);
}

static void ask_child(const char *cmd, char *answer, size_t size)
{
    assert_true(dprintf(fx.to_child, "%s\n", cmd) > 0);
    if (read_line(fx.from_child, answer, size, IO_TIMEOUT_MS) < 0)
        fail_msg("no answer from the namespace child to \"%s\"", cmd);
}

/* ---- fixture ---- */

/* Does a.b.c.d/len overlap a route of the main table (the default route aside)? */
static bool subnet_in_use(uint32_t net, uint32_t mask)
{
    FILE *f = fopen("/proc/net/route", "re");
    if (f == NULL)
        return true;
    char line[256];
    unsigned dst, rmask;
    bool used = false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %x %*x %*x %*s %*s %*s %x", &dst, &rmask) == 2 && rmask != 0 &&
            ((dst ^ net) & rmask & mask) == 0)
            used = true;
    fclose(f);
    return used;
}

static int group_setup(void **state)
{
    if (geteuid() != 0) {
        fx.skip = "netlink tests need root";
        return 0;
    }
    uint16_t rnd[2];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -1;
    snprintf(fx.bridge, sizeof(fx.bridge), "tugt%04xb", rnd[0]);
    snprintf(fx.prefix, sizeof(fx.prefix), "tugt%04xv", rnd[0]);
    bool found = false;
    for (unsigned i = 0; i < 256 && !found; i++) {
        fx.x = (rnd[1] + i) % 256;
        char net[32];
        snprintf(net, sizeof(net), "10.213.%u.0", fx.x);
        struct in_addr a;
        inet_pton(AF_INET, net, &a);
        found = !subnet_in_use(a.s_addr, htonl(0xffffff00u));
    }
    if (!found) {
        fx.skip = "every 10.213.x.0/24 is routed on this host";
        return 0;
    }
    snprintf(fx.br_cidr, sizeof(fx.br_cidr), "10.213.%u.1/24", fx.x);
    snprintf(fx.gateway, sizeof(fx.gateway), "10.213.%u.1", fx.x);
    snprintf(fx.ctr_addr, sizeof(fx.ctr_addr), "10.213.%u.2", fx.x);
    snprintf(fx.ctr_cidr, sizeof(fx.ctr_cidr), "10.213.%u.2/24", fx.x);

    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0)
        return -1;
    fx.child = fork();
    if (fx.child < 0)
        return -1;
    if (fx.child == 0) {
        close(down[1]);
        close(up[0]);
        child_main(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    fx.to_child = down[1];
    fx.from_child = up[0];
    char line[128];
    if (read_line(fx.from_child, line, sizeof(line), IO_TIMEOUT_MS) < 0 ||
        strcmp(line, "ready") != 0) {
        fx.skip = "cannot create a network namespace here";
        return 0;
    }
    tug_error *err = NULL;
    if (tug_nl_bridge_ensure(fx.bridge, fx.br_cidr, NULL, NULL, &err) < 0) {
        fprintf(stderr, "bridge_ensure: %s\n", err->msg);
        tug_error_free(err);
        return -1;
    }
    return 0;
}

/* Whatever happened in a test, none of its links outlive it. */
static void delete_test_links(void)
{
    char **names = NULL;
    if (tug_nl_links_with_prefix(fx.prefix, &names, NULL) == 0) {
        for (char **n = names; *n; n++)
            tug_nl_link_delete(*n, NULL);
        cleanup_strvp(&names);
    }
}

static int test_teardown(void **state)
{
    if (fx.skip == NULL)
        delete_test_links();
    return 0;
}

static int group_teardown(void **state)
{
    if (fx.bridge[0]) {
        delete_test_links();
        tug_nl_link_delete(fx.bridge, NULL);
    }
    if (fx.to_child >= 0)
        close(fx.to_child);
    if (fx.from_child >= 0)
        close(fx.from_child);
    if (fx.child > 0) {
        kill(fx.child, SIGKILL);
        waitpid(fx.child, NULL, 0);
    }
    return 0;
}

static void need_env(void)
{
    if (fx.skip != NULL) {
        print_message("skipped: %s\n", fx.skip);
        skip();
    }
}

/* The host side name of test n's veth: the prefix and one digit. */
static void host_if(char *out, int n)
{
    snprintf(out, IFNAMSIZ, "%.9s%c", fx.prefix, '0' + n % 10);
}

static void expect_error(int r, tug_error **err, const char *a, const char *b)
{
    assert_true(r < 0);
    assert_non_null(*err);
    if (strstr((*err)->msg, a) == NULL || (b && strstr((*err)->msg, b) == NULL))
        fail_msg("error \"%s\" should mention \"%s\"%s%s", (*err)->msg, a, b ? " and " : "",
                 b ? b : "");
    tug_error_freep(err);
}

/* ---- tests ---- */

static void test_bridge_ensure_is_idempotent(void **state)
{
    need_env();
    cleanup_error tug_error *err = NULL;
    /* The group created it; twice more changes nothing and fails nothing. */
    assert_int_equal(tug_nl_bridge_ensure(fx.bridge, fx.br_cidr, NULL, NULL, &err), 0);
    assert_int_equal(tug_nl_bridge_ensure(fx.bridge, fx.br_cidr, NULL, NULL, &err), 0);
    assert_true(tug_nl_link_exists(fx.bridge));
    /* an alias names the owner, and a second ensure keeps it */
    char *alias = NULL;
    assert_int_equal(tug_nl_link_alias(fx.bridge, &alias, &err), 0);
    assert_string_equal(alias, "");
    free(alias);
    /* a store whose root is there ("/"): a `tug system check` running meanwhile on this host
     * would take the bridge of a store that is gone for a leftover and remove it */
    assert_int_equal(tug_nl_bridge_ensure(fx.bridge, fx.br_cidr, "tug store /", NULL, &err), 0);
    assert_int_equal(tug_nl_bridge_ensure(fx.bridge, fx.br_cidr, NULL, NULL, &err), 0);
    assert_int_equal(tug_nl_link_alias(fx.bridge, &alias, &err), 0);
    assert_string_equal(alias, "tug store /");
    free(alias);

    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    short flags = 0;
    char addr[INET_ADDRSTRLEN] = "", brd[INET_ADDRSTRLEN] = "", want_brd[32];
    assert_true(iface_flags(sock, fx.bridge, &flags));
    assert_true(flags & IFF_UP);
    assert_true(iface_in4(sock, fx.bridge, SIOCGIFADDR, addr, sizeof(addr)));
    assert_true(iface_in4(sock, fx.bridge, SIOCGIFBRDADDR, brd, sizeof(brd)));
    close(sock);
    assert_string_equal(addr, fx.gateway);
    snprintf(want_brd, sizeof(want_brd), "10.213.%u.255", fx.x);
    assert_string_equal(brd, want_brd);

    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", fx.bridge);
    assert_int_equal(access(path, F_OK), 0);
}

static void test_bridge_ensure_refuses_other_kinds(void **state)
{
    need_env();
    tug_error *err = NULL;
    /* lo exists and is no bridge: an error naming it, and lo keeps its addresses. */
    expect_error(tug_nl_bridge_ensure("lo", "10.213.0.1/24", NULL, NULL, &err), &err, "lo",
                 "not a bridge");
    expect_error(tug_nl_bridge_ensure(fx.bridge, "10.213.0.1", NULL, NULL, &err), &err,
                 "10.213.0.1", "invalid");
    expect_error(tug_nl_bridge_ensure("a/b", fx.br_cidr, NULL, NULL, &err), &err, "a/b", "invalid");
    expect_error(tug_nl_bridge_ensure("much-too-long-name", fx.br_cidr, NULL, NULL, &err), &err,
                 "much-too-long-name", NULL);
}

static void test_bridge_ensure_survives_a_race(void **state)
{
    need_env();
    enum { RACERS = 4 };
    char name[IFNAMSIZ], cidr[48], want[32];
    snprintf(name, sizeof(name), "%.9sr", fx.prefix);
    snprintf(want, sizeof(want), "10.213.%u.200", fx.x);
    snprintf(cidr, sizeof(cidr), "%s/32", want); /* no route of its own beside the test subnet */
    int gate[2];
    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(gate[1]);
            (void)!read(gate[0], &c, 1); /* everyone starts when the gate closes */
            tug_error *err = NULL;
            int r = tug_nl_bridge_ensure(name, cidr, NULL, NULL, &err);
            if (r < 0)
                fprintf(stderr, "racer %d: %s\n", i, err->msg);
            _exit(r < 0);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    char addr[INET_ADDRSTRLEN] = "";
    short flags = 0;
    assert_true(iface_in4(sock, name, SIOCGIFADDR, addr, sizeof(addr)));
    assert_true(iface_flags(sock, name, &flags));
    close(sock);
    assert_string_equal(addr, want);
    assert_true(flags & IFF_UP);
}

/* IPv4 addresses of a link, as getifaddrs sees them: how many, and the last one. */
static int in4_count(const char *name, char *last, size_t size)
{
    struct ifaddrs *all = NULL;
    int n = 0;
    assert_int_equal(getifaddrs(&all), 0);
    for (struct ifaddrs *a = all; a; a = a->ifa_next)
        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && strcmp(a->ifa_name, name) == 0) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, last,
                      (socklen_t)size);
            n++;
        }
    freeifaddrs(all);
    return n;
}

static void test_bridge_ensure_replaces_a_stale_address(void **state)
{
    need_env();
    char name[IFNAMSIZ], first[48], second[48], want[32], got[INET_ADDRSTRLEN] = "";
    snprintf(name, sizeof(name), "%.9ss", fx.prefix);
    snprintf(first, sizeof(first), "10.213.%u.201/32", fx.x);
    snprintf(second, sizeof(second), "10.213.%u.202/32", fx.x);
    snprintf(want, sizeof(want), "10.213.%u.202", fx.x);
    cleanup_error tug_error *err = NULL;
    bool changed = false;
    assert_int_equal(tug_nl_bridge_ensure(name, first, NULL, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(tug_nl_bridge_ensure(name, first, NULL, &changed, &err), 0);
    assert_false(changed);
    /* a bridge found by its name with another store's address takes the record's, only it */
    assert_int_equal(tug_nl_bridge_ensure(name, second, NULL, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(in4_count(name, got, sizeof(got)), 1);
    assert_string_equal(got, want);
    assert_int_equal(tug_nl_bridge_ensure(name, second, NULL, &changed, &err), 0);
    assert_false(changed);
}

static void test_veth_setup_configures_the_namespace(void **state)
{
    need_env();
    cleanup_error tug_error *err = NULL;
    char hif[IFNAMSIZ], mac[18], answer[256], want[256];
    host_if(hif, 0);
    snprintf(mac, sizeof(mac), "02:42:0a:d5:%02x:02", fx.x);
    if (tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, mac, fx.gateway, &err) < 0)
        fail_msg("%s", err->msg);

    ask_child("state eth0", answer, sizeof(answer));
    snprintf(want, sizeof(want), "up %s 255.255.255.0 10.213.%u.255 %s %s lo:up", fx.ctr_addr, fx.x,
             mac, fx.gateway);
    assert_string_equal(answer, want);

    /* The host side: up, a port of the bridge. */
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    short flags = 0;
    assert_true(iface_flags(sock, hif, &flags));
    close(sock);
    assert_true(flags & IFF_UP);
    char path[128], target[PATH_MAX];
    snprintf(path, sizeof(path), "/sys/class/net/%s/master", hif);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    assert_string_equal(base ? base + 1 : target, fx.bridge);
}

static void test_tcp_from_host_reaches_the_namespace(void **state)
{
    need_env();
    cleanup_error tug_error *err = NULL;
    char hif[IFNAMSIZ], cmd[64], answer[128];
    host_if(hif, 1);
    if (tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, NULL, fx.gateway, &err) <
        0)
        fail_msg("%s", err->msg);
    snprintf(cmd, sizeof(cmd), "listen %s", fx.ctr_addr);
    ask_child(cmd, answer, sizeof(answer));
    int port = 0;
    if (sscanf(answer, "port %d", &port) != 1)
        fail_msg("child: %s", answer);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, fx.ctr_addr, &sa.sin_addr);
    cleanup_close int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(c >= 0);
    int r = connect(c, (struct sockaddr *)&sa, sizeof(sa));
    assert_true(r == 0 || errno == EINPROGRESS);
    char line[64];
    if (read_line(c, line, sizeof(line), IO_TIMEOUT_MS) < 0)
        fail_msg("no greeting from %s:%d", fx.ctr_addr, port);
    assert_string_equal(line, "hello from the namespace");
}

static void test_links_with_prefix_and_delete(void **state)
{
    need_env();
    cleanup_error tug_error *err = NULL;
    char hif[IFNAMSIZ];
    host_if(hif, 2);
    if (tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, NULL, NULL, &err) < 0)
        fail_msg("%s", err->msg);
    assert_true(tug_nl_link_exists(hif));

    cleanup_strv char **names = NULL;
    assert_int_equal(tug_nl_links_with_prefix(fx.prefix, &names, &err), 0);
    assert_non_null(names[0]);
    assert_string_equal(names[0], hif);
    assert_null(names[1]);

    assert_int_equal(tug_nl_link_delete(hif, &err), 0);
    assert_false(tug_nl_link_exists(hif));
    assert_int_equal(tug_nl_link_delete(hif, &err), 0); /* gone already: still success */
    char answer[128];
    ask_child("state eth0", answer, sizeof(answer)); /* the peer went with it */
    assert_string_equal(answer, "absent");

    cleanup_strv char **none = NULL;
    assert_int_equal(tug_nl_links_with_prefix(fx.prefix, &none, &err), 0);
    assert_null(none[0]);
}

static void test_veth_setup_without_mac_or_gateway(void **state)
{
    need_env();
    cleanup_error tug_error *err = NULL;
    char hif[IFNAMSIZ], answer[256], want[256];
    host_if(hif, 3);
    if (tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth1", fx.ctr_cidr, NULL, NULL, &err) < 0)
        fail_msg("%s", err->msg);
    ask_child("state eth1", answer, sizeof(answer));
    /* Some kernel-chosen MAC, no default route. */
    snprintf(want, sizeof(want), "up %s 255.255.255.0 10.213.%u.255 ", fx.ctr_addr, fx.x);
    assert_memory_equal(answer, want, strlen(want));
    assert_non_null(strstr(answer, " - lo:up"));
}

static void test_veth_setup_into_a_missing_pid(void **state)
{
    need_env();
    tug_error *err = NULL;
    char hif[IFNAMSIZ], want[32];
    host_if(hif, 4);
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    int r = tug_nl_veth_setup(hif, fx.bridge, gone, "eth0", fx.ctr_cidr, NULL, fx.gateway, &err);
    snprintf(want, sizeof(want), "pid %d", (int)gone);
    expect_error(r, &err, want, "No such file or directory");
    assert_false(tug_nl_link_exists(hif));
}

static void test_veth_setup_failure_leaves_nothing(void **state)
{
    need_env();
    tug_error *err = NULL;
    char hif[IFNAMSIZ], want[64], answer[128];
    host_if(hif, 5);
    snprintf(want, sizeof(want), "namespace of pid %d", (int)fx.child);

    /* The gateway is not on the container's subnet: the last step fails, the pair goes. */
    int r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, NULL, "198.51.100.1",
                              &err);
    expect_error(r, &err, "add default route via 198.51.100.1 on eth0", want);
    assert_false(tug_nl_link_exists(hif));
    ask_child("state eth0", answer, sizeof(answer));
    assert_string_equal(answer, "absent");

    /* A missing bridge: nothing is created at all. */
    r = tug_nl_veth_setup(hif, "tugtnobridge", fx.child, "eth0", fx.ctr_cidr, NULL, NULL, &err);
    expect_error(r, &err, "find bridge tugtnobridge", "No such device");
    assert_false(tug_nl_link_exists(hif));

    /* Something that is not a bridge. */
    r = tug_nl_veth_setup(hif, "lo", fx.child, "eth0", fx.ctr_cidr, NULL, NULL, &err);
    expect_error(r, &err, "lo is not a bridge", NULL);
    assert_false(tug_nl_link_exists(hif));

    /* The container already has the name (lo): an error, and no host side left. */
    r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "lo", fx.ctr_cidr, NULL, NULL, &err);
    expect_error(r, &err, hif, "lo already exists there");
    assert_false(tug_nl_link_exists(hif));

    /* The host already has the name: an error, and that link is not ours to delete. */
    r = tug_nl_veth_setup(fx.bridge, fx.bridge, fx.child, "eth0", fx.ctr_cidr, NULL, NULL, &err);
    expect_error(r, &err, "already exists on the host", fx.bridge);
    assert_true(tug_nl_link_exists(fx.bridge));

    /* Input is checked before anything happens. */
    r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, "01:00:5e:00:00:01", NULL,
                          &err);
    expect_error(r, &err, "01:00:5e:00:00:01", "multicast");
    r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, "02:42:zz:00:00:01", NULL,
                          &err);
    expect_error(r, &err, "02:42:zz:00:00:01", "invalid");
    r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", "10.213.0.2/33", NULL, NULL, &err);
    expect_error(r, &err, "10.213.0.2/33", "invalid");
    r = tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, NULL, "10.213.1", &err);
    expect_error(r, &err, "10.213.1", "invalid");
    assert_false(tug_nl_link_exists(hif));
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Container start budget for the network: tug_nl_veth_setup's median, printed. */
static void test_veth_setup_time(void **state)
{
    need_env();
    enum { RUNS = 50 };
    long long setup[RUNS], del[RUNS];
    char hif[IFNAMSIZ], mac[18];
    host_if(hif, 6);
    for (int i = 0; i < RUNS; i++) {
        cleanup_error tug_error *err = NULL;
        snprintf(mac, sizeof(mac), "02:42:0a:d5:%02x:%02x", fx.x, i + 10);
        long long t0 = now_ns();
        if (tug_nl_veth_setup(hif, fx.bridge, fx.child, "eth0", fx.ctr_cidr, mac, fx.gateway,
                              &err) < 0)
            fail_msg("run %d: %s", i, err->msg);
        long long t1 = now_ns();
        if (tug_nl_link_delete(hif, &err) < 0)
            fail_msg("run %d: %s", i, err->msg);
        setup[i] = t1 - t0;
        del[i] = now_ns() - t1;
    }
    qsort(setup, RUNS, sizeof(setup[0]), cmp_ll);
    qsort(del, RUNS, sizeof(del[0]), cmp_ll);
    print_message("veth_setup over %d runs: min %.3f ms, median %.3f ms, p90 %.3f ms; "
                  "link_delete median %.3f ms\n",
                  RUNS, setup[0] / 1e6, setup[RUNS / 2] / 1e6, setup[RUNS * 9 / 10] / 1e6,
                  del[RUNS / 2] / 1e6);
    assert_true(setup[RUNS / 2] < 100 * 1000000LL); /* a sanity bound, not the budget */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bridge_ensure_is_idempotent, test_teardown),
        cmocka_unit_test_teardown(test_bridge_ensure_refuses_other_kinds, test_teardown),
        cmocka_unit_test_teardown(test_bridge_ensure_survives_a_race, test_teardown),
        cmocka_unit_test_teardown(test_bridge_ensure_replaces_a_stale_address, test_teardown),
        cmocka_unit_test_teardown(test_veth_setup_configures_the_namespace, test_teardown),
        cmocka_unit_test_teardown(test_tcp_from_host_reaches_the_namespace, test_teardown),
        cmocka_unit_test_teardown(test_links_with_prefix_and_delete, test_teardown),
        cmocka_unit_test_teardown(test_veth_setup_without_mac_or_gateway, test_teardown),
        cmocka_unit_test_teardown(test_veth_setup_into_a_missing_pid, test_teardown),
        cmocka_unit_test_teardown(test_veth_setup_failure_leaves_nothing, test_teardown),
        cmocka_unit_test_teardown(test_veth_setup_time, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
