#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/dns.h"

/* the resolver (tug-dns) itself, compiled in whole with its main renamed, as the fuzz target */
#define main tug_dns_main
#include "../../src/dns/resolver.c"
#undef main

static void test_extra_host(void **state)
{
    (void)state;
    char name[256], ip[64];
    assert_true(tug_dns_extra_host("db:192.0.2.1", NULL, name, sizeof(name), ip, sizeof(ip)));
    assert_string_equal(name, "db");
    assert_string_equal(ip, "192.0.2.1");
    assert_true(tug_dns_extra_host("db=192.0.2.2", NULL, name, sizeof(name), ip, sizeof(ip)));
    assert_string_equal(ip, "192.0.2.2");
    /* IPv6: split at the first colon, or at '=' with brackets */
    assert_true(tug_dns_extra_host("six:2001:db8::6", NULL, name, sizeof(name), ip, sizeof(ip)));
    assert_string_equal(name, "six");
    assert_string_equal(ip, "2001:db8::6");
    assert_true(tug_dns_extra_host("six=[2001:db8::7]", NULL, name, sizeof(name), ip, sizeof(ip)));
    assert_string_equal(ip, "2001:db8::7");
    /* host-gateway: the given address, or no entry yet */
    assert_true(tug_dns_extra_host("gw=host-gateway", "10.200.0.1", name, sizeof(name), ip,
                                   sizeof(ip)));
    assert_string_equal(ip, "10.200.0.1");
    assert_false(tug_dns_extra_host("gw:host-gateway", NULL, name, sizeof(name), ip, sizeof(ip)));
    static const char *const bad[] = {"foo", "=1.2.3.4", ":1.2.3.4", "a=bar", "a:b=1.2.3.4",
                                      "a=", "a=[1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tug_dns_extra_host(bad[i], "10.0.0.1", name, sizeof(name), ip, sizeof(ip)))
            fail_msg("%s taken", bad[i]);
}

static char *with_host(const char *host, json_t *hc, const char *ns)
{
    char path[] = "/tmp/test_dns_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, host, strlen(host)), (ssize_t)strlen(host));
    close(fd);
    setenv("TUG_HOST_RESOLV_CONF", path, 1);
    char *out = tug_dns_resolv_conf(hc, ns);
    unlink(path);
    return out;
}

static void test_resolv_conf(void **state)
{
    (void)state;
    json_t *hc = json_object();
    char *s = with_host("# comment\nnameserver 127.0.0.1\nnameserver 192.0.2.53\nsearch a.test\n"
                        "options timeout:2\n", hc, NULL);
    assert_string_equal(s, "nameserver 192.0.2.53\nsearch a.test\noptions timeout:2\n");
    free(s);
    /* only loopback: docker's fallback */
    s = with_host("nameserver 127.0.0.1\n", hc, NULL);
    assert_string_equal(s, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    free(s);
    /* a user network: its resolver, and ndots:0 */
    s = with_host("nameserver 192.0.2.53\nsearch a.test\n", hc, "10.200.0.1");
    assert_string_equal(s, "nameserver 10.200.0.1\nsearch a.test\noptions ndots:0\n");
    free(s);
    json_object_set_new(hc, "DnsSearch", json_pack("[ss]", "x.test", "y.test"));
    json_object_set_new(hc, "DnsOptions", json_pack("[s]", "ndots:3"));
    json_object_set_new(hc, "Dns", json_pack("[s]", "192.0.2.9"));
    s = with_host("nameserver 192.0.2.53\nsearch a.test\noptions rotate\n", hc, NULL);
    assert_string_equal(s, "nameserver 192.0.2.9\nsearch x.test y.test\noptions ndots:3\n");
    free(s);
    json_object_set_new(hc, "DnsSearch", json_pack("[s]", "."));
    s = with_host("nameserver 192.0.2.53\nsearch a.test\n", hc, "10.200.0.1");
    assert_string_equal(s, "nameserver 10.200.0.1\noptions ndots:3\n");
    free(s);
    json_decref(hc);
}

/* ---- the resolver's answers ---- */

static void resolver_names(const char *text)
{
    char dir[] = "/tmp/test_dns_names_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(R.names_path, sizeof(R.names_path), "%s/names", dir);
    FILE *f = fopen(R.names_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    R.net = "n1";
    assert_true(load_names());
    unlink(R.names_path);
    rmdir(dir);
}

/* A query for name (dotted) and type: its length in q. */
static size_t query(unsigned char *q, const char *name, unsigned type)
{
    static const unsigned char head[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(q, head, 12);
    size_t o = 12;
    for (const char *p = name; *p;) {
        size_t l = strcspn(p, ".");
        q[o++] = (unsigned char)l;
        memcpy(q + o, p, l);
        o += l;
        p += l + (p[l] == '.');
    }
    q[o++] = 0;
    o += put16(q + o, type);
    o += put16(q + o, 1);
    return o;
}

/* Ask as the container at client: the reply's length (0: not ours, forwarded), and
 * *ret_an its answer count. */
static size_t ask(const char *name, unsigned type, const char *client, unsigned char *out,
                  unsigned *ret_an)
{
    unsigned char q[512];
    size_t ql = query(q, name, type);
    struct in_addr c;
    assert_int_equal(inet_pton(AF_INET, client, &c), 1);
    size_t n = answer_local(q, ql, c, out, 512);
    *ret_an = n ? (unsigned)(out[6] << 8 | out[7]) : 0;
    return n;
}

/* The rdata of the answer at index i (answers start after the question of length qlen). */
static const unsigned char *rdata(const unsigned char *out, size_t qlen, int i, unsigned *ret_type,
                                  unsigned *ret_len)
{
    const unsigned char *p = out + qlen;
    for (;;) {
        unsigned t = p[2] << 8 | p[3], l = p[10] << 8 | p[11];
        if (i-- == 0) {
            *ret_type = t;
            *ret_len = l;
            return p + 12;
        }
        p += 12 + l;
    }
}

static const char names6[] = "n1 10.0.0.2,fd00:1::2 c1 web www\n"
                             "n1 10.0.0.3 c2 client\n"
                             "n2 10.1.0.2,fd00:2::2 c3 other\n";

static void test_resolver_aaaa(void **state)
{
    (void)state;
    resolver_names(names6);
    unsigned char out[600], q[512];
    unsigned an, t, l;
    size_t qlen = query(q, "web", 28);
    size_t n = ask("web", 28, "10.0.0.3", out, &an);
    assert_true(n > 0);
    assert_int_equal(an, 1);
    assert_int_equal(out[3] & 0x0f, 0); /* NOERROR */
    const unsigned char *d = rdata(out, qlen, 0, &t, &l);
    assert_int_equal(t, 28);
    assert_int_equal(l, 16);
    struct in6_addr want;
    inet_pton(AF_INET6, "fd00:1::2", &want);
    assert_memory_equal(d, &want, 16);
    /* an alias, any case */
    n = ask("WWW", 28, "10.0.0.3", out, &an);
    assert_int_equal(an, 1);
    /* A still answers the IPv4 address */
    n = ask("web", 1, "10.0.0.3", out, &an);
    assert_int_equal(an, 1);
    d = rdata(out, qlen, 0, &t, &l);
    assert_int_equal(t, 1);
    assert_int_equal(l, 4);
    assert_memory_equal(d, "\x0a\x00\x00\x02", 4);
    /* ANY: both */
    n = ask("web", 255, "10.0.0.3", out, &an);
    assert_int_equal(an, 2);
    rdata(out, qlen, 1, &t, &l);
    assert_int_equal(t, 28);
    /* a container without IPv6: its name is known, no AAAA data, no error */
    n = ask("client", 28, "10.0.0.2", out, &an);
    assert_true(n > 0);
    assert_int_equal(an, 0);
    assert_int_equal(out[3] & 0x0f, 0);
    /* another network's name is not seen: forwarded */
    n = ask("other", 28, "10.0.0.3", out, &an);
    assert_int_equal(n, 0);
}

static void test_resolver_ptr6(void **state)
{
    (void)state;
    resolver_names(names6);
    unsigned char out[600], q[512];
    unsigned an, t, l;
    /* fd00:1::2 */
    const char *arpa = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa";
    size_t qlen = query(q, arpa, 12);
    size_t n = ask(arpa, 12, "10.0.0.3", out, &an);
    assert_true(n > 0);
    assert_int_equal(an, 1);
    const unsigned char *d = rdata(out, qlen, 0, &t, &l);
    assert_int_equal(t, 12);
    assert_int_equal(l, 5);
    assert_memory_equal(d, "\x03web\x00", 5);
    /* upper case nibbles and suffix */
    n = ask("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.D.F.IP6.ARPA", 12,
            "10.0.0.3", out, &an);
    assert_int_equal(an, 1);
    /* an address no container has, another network's, or a name that is not 32 nibbles:
     * not ours */
    assert_int_equal(ask("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa",
                         12, "10.0.0.3", out, &an),
                     0);
    assert_int_equal(ask("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.0.d.f.ip6.arpa",
                         12, "10.0.0.3", out, &an),
                     0);
    assert_int_equal(ask("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", 12,
                         "10.0.0.3", out, &an),
                     0);
    assert_int_equal(ask("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.g.ip6.arpa",
                         12, "10.0.0.3", out, &an),
                     0);
    /* the IPv4 reverse name still answers */
    n = ask("2.0.0.10.in-addr.arpa", 12, "10.0.0.3", out, &an);
    assert_int_equal(an, 1);
}

/* A names file from an older tug (no IPv6 field) still loads, and a bad IPv6 field leaves the
 * row its IPv4 address. */
static void test_resolver_names_compat(void **state)
{
    (void)state;
    resolver_names("n1 10.0.0.2 c1 web\nn1 10.0.0.5,not-an-address c5 five\n");
    unsigned char out[600];
    unsigned an;
    assert_true(ask("web", 1, "10.0.0.2", out, &an) > 0);
    assert_int_equal(an, 1);
    assert_true(ask("five", 1, "10.0.0.2", out, &an) > 0);
    assert_int_equal(an, 1);
    assert_true(ask("five", 28, "10.0.0.2", out, &an) > 0);
    assert_int_equal(an, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extra_host),
        cmocka_unit_test(test_resolv_conf),
        cmocka_unit_test(test_resolver_aaaa),
        cmocka_unit_test(test_resolver_ptr6),
        cmocka_unit_test(test_resolver_names_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
