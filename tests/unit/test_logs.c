#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "container/logs.h"

#define NOW (1700000000LL * 1000000000LL + 123456789LL) /* 2023-11-14T22:13:20.123456789Z */

static int64_t at(const char *v, long off)
{
    int64_t ns = -1;
    char *why = NULL;
    assert_int_equal(tug_logs_parse_time(v, NOW, off, &ns, &why), 0);
    assert_null(why);
    return ns;
}

static void refused(const char *v)
{
    int64_t ns = 0;
    char *why = NULL;
    assert_int_equal(tug_logs_parse_time(v, NOW, 0, &ns, &why), -1);
    assert_non_null(why);
    free(why);
}

static void test_times(void **state)
{
    (void)state;
    const int64_t S = 1000000000LL;
    /* durations before now, in whole seconds */
    assert_int_equal(at("1m30s", 0), (1700000000LL - 90) * S);
    assert_int_equal(at("-1h", 0), (1700000000LL + 3600) * S);
    /* RFC 3339 with a zone, with and without a fraction */
    assert_int_equal(at("2023-11-14T22:13:20Z", 0), 1700000000LL * S);
    assert_int_equal(at("2023-11-14T23:13:20+01:00", 0), 1700000000LL * S);
    assert_int_equal(at("2023-11-14T22:13:20.5Z", 0), 1700000000LL * S + S / 2);
    assert_int_equal(at("2023-11-14T22:13Z", 0), (1700000000LL - 20) * S);
    assert_int_equal(at("2023-11-14Z", 0), (1700000000LL - 80000) * S);
    /* without a zone: local time (here one hour east of UTC) */
    assert_int_equal(at("2023-11-14T23:13:20", 3600), 1700000000LL * S);
    assert_int_equal(at("2023-11-14T23:13", 3600), (1700000000LL - 20) * S);
    assert_int_equal(at("2023-11-14T23", 3600), (1700000000LL - 800) * S);
    assert_int_equal(at("2023-11-14", 0), (1700000000LL - 80000) * S);
    assert_int_equal(at("2023-11-14T22:13:20.25", 0), 1700000000LL * S + S / 4);
    /* unix seconds, with a fraction; "0" is the epoch, no bound */
    assert_int_equal(at("1700000000", 0), 1700000000LL * S);
    assert_int_equal(at("1700000000.5", 0), 1700000000LL * S + S / 2);
    assert_int_equal(at("0", 0), 0);
    refused("bad");
    refused("2023-13-01");
    refused("2023-02-30");
    refused("2023-11-14T25:00");
    refused("2023-1-14");
    refused("1.x");
}

static void test_tail(void **state)
{
    (void)state;
    assert_int_equal(tug_logs_parse_tail("3"), 3);
    assert_int_equal(tug_logs_parse_tail("0"), 0);
    assert_int_equal(tug_logs_parse_tail("+2"), 2);
    assert_int_equal(tug_logs_parse_tail("all"), -1);
    assert_int_equal(tug_logs_parse_tail("bad"), -1);
    assert_int_equal(tug_logs_parse_tail("-4"), -1);
    assert_int_equal(tug_logs_parse_tail(""), -1);
}

static void test_details(void **state)
{
    (void)state;
    json_t *c = json_loads("{\"Config\":{\"Labels\":{\"b\":\"x y\",\"a\":\"1\",\"n\":\"no\"},"
                           "\"Env\":[\"FOO=bar\",\"PATH=/bin\"]},\"HostConfig\":{\"LogConfig\":"
                           "{\"Config\":{\"labels\":\"a,b\",\"env-regex\":\"^F\"}}}}",
                           0, NULL);
    assert_non_null(c);
    char *d = tug_logs_details(c);
    assert_string_equal(d, "FOO=bar,a=1,b=x+y");
    free(d);
    json_decref(c);
    c = json_loads("{\"Config\":{\"Labels\":{\"a\":\"1\"}}}", 0, NULL);
    d = tug_logs_details(c);
    assert_string_equal(d, "");
    free(d);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
