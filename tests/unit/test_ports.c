#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/ports.h"

static tug_port_spec *parse_ok(const char *s, size_t *n)
{
    tug_port_spec *v = NULL;
    tug_error *err = NULL;
    *n = 0;
    int r = tug_port_parse(s, &v, n, &err);
    if (r < 0)
        fail_msg("%s: %s", s, err->msg);
    return v;
}

static void test_forms(void **state)
{
    (void)state;
    size_t n;
    tug_port_spec *v = parse_ok("8080:80", &n);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].host_port, 8080);
    assert_int_equal(v[0].ctr_port, 80);
    assert_string_equal(v[0].proto, "tcp");
    assert_string_equal(v[0].host_ip, "");
    free(v);
    v = parse_ok("127.0.0.1:8080:80/udp", &n);
    assert_string_equal(v[0].host_ip, "127.0.0.1");
    assert_string_equal(v[0].proto, "udp");
    free(v);
    v = parse_ok("80", &n);
    assert_int_equal(v[0].host_port, 0);
    assert_int_equal(v[0].ctr_port, 80);
    free(v);
    v = parse_ok("127.0.0.1::80", &n);
    assert_int_equal(v[0].host_port, 0);
    assert_string_equal(v[0].host_ip, "127.0.0.1");
    free(v);
    v = parse_ok("0:80", &n); /* 0 asks for a free port, as docker takes it */
    assert_int_equal(v[0].host_port, 0);
    assert_int_equal(v[0].ctr_port, 80);
    free(v);
    v = parse_ok("8080-8082:80-82", &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[2].host_port, 8082);
    assert_int_equal(v[2].ctr_port, 82);
    free(v);
    v = parse_ok("[::1]:8080:80", &n);
    assert_string_equal(v[0].host_ip, "::1");
    free(v);
}

static void test_errors(void **state)
{
    (void)state;
    static const char *bad[] = {"", "abc", "0", "70000", "8080:", "8080:80/sctp",
                                "8080-8081:80-82", "999.1.1.1:80:80", "1:2:3:4", "80-79"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_port_spec *v = NULL;
        size_t n = 0;
        tug_error *err = NULL;
        if (tug_port_parse(bad[i], &v, &n, &err) == 0)
            fail_msg("accepted bad spec \"%s\"", bad[i]);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forms), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
