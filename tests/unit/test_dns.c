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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extra_host),
        cmocka_unit_test(test_resolv_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
