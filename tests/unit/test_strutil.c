#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/strutil.h"

static void check_str(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_human_size(void **state)
{
    (void)state;
    check_str(tug_human_size(0, 3), "0B");
    check_str(tug_human_size(999, 3), "999B");
    check_str(tug_human_size(1000, 3), "1kB");
    check_str(tug_human_size(4261832, 3), "4.26MB");
    check_str(tug_human_size(141479488, 3), "141MB");
    check_str(tug_human_size(141479488, 4), "141.5MB");
    check_str(tug_human_size(1240000000, 3), "1.24GB");
}

static void test_human_duration(void **state)
{
    (void)state;
    check_str(tug_human_duration(0), "Less than a second");
    check_str(tug_human_duration(1), "1 second");
    check_str(tug_human_duration(45), "45 seconds");
    check_str(tug_human_duration(61), "About a minute");
    check_str(tug_human_duration(10 * 60), "10 minutes");
    check_str(tug_human_duration(3600), "About an hour");
    check_str(tug_human_duration(5 * 3600), "5 hours");
    check_str(tug_human_duration(3 * 86400), "3 days");
    check_str(tug_human_duration(15 * 86400), "2 weeks");
    check_str(tug_human_duration(90 * 86400), "3 months");
    check_str(tug_human_duration(3 * 365 * 86400LL), "3 years");
}

static void test_ellipsis(void **state)
{
    (void)state;
    check_str(tug_ellipsis("short", 45), "short");
    check_str(tug_ellipsis("abcdefghij", 5), "abcd\xe2\x80\xa6");
    check_str(tug_ellipsis("abcde", 5), "abcde");
    /* Multi-byte characters count once. */
    check_str(tug_ellipsis("\xc3\xa9\xc3\xa9\xc3\xa9", 3), "\xc3\xa9\xc3\xa9\xc3\xa9");
}

static void test_rfc3339(void **state)
{
    (void)state;
    long long sec;
    long nsec;
    assert_int_equal(tug_parse_rfc3339("2021-12-29T19:28:29.892199479Z", &sec, &nsec), 0);
    assert_int_equal(sec, 1640806109LL);
    assert_int_equal(nsec, 892199479);
    check_str(tug_format_rfc3339(sec, nsec), "2021-12-29T19:28:29.892199479Z");
    assert_int_equal(tug_parse_rfc3339("2021-12-29T20:28:29+01:00", &sec, &nsec), 0);
    assert_int_equal(sec, 1640806109LL);
    check_str(tug_format_rfc3339(sec, 0), "2021-12-29T19:28:29Z");
    check_str(tug_format_rfc3339(sec, 500000000), "2021-12-29T19:28:29.5Z");
    assert_int_equal(tug_parse_rfc3339("yesterday", &sec, &nsec), -1);
    assert_int_equal(tug_parse_rfc3339("2021-12-29T19:28:29", &sec, &nsec), -1);
}

static void test_parse_size(void **state)
{
    (void)state;
    long long v;
    assert_int_equal(tug_parse_size("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(tug_parse_size("10m", &v), 0);
    assert_int_equal(v, 10LL << 20);
    assert_int_equal(tug_parse_size("1.5g", &v), 0);
    assert_int_equal(v, 3LL << 29);
    assert_int_equal(tug_parse_size("64MiB", &v), 0);
    assert_int_equal(v, 64LL << 20);
    assert_int_equal(tug_parse_size("abc", &v), -1);
    assert_int_equal(tug_parse_size("10x", &v), -1);
    assert_int_equal(tug_parse_size("-1", &v), -1);
    assert_int_equal(tug_parse_size("", &v), -1);
}

static void test_parse_nano(void **state)
{
    (void)state;
    struct {
        const char *in;
        int r;
        long long want;
    } cases[] = {
        {"1.5", 0, 1500000000LL},
        {"2", 0, 2000000000LL},
        {"0.01", 0, 10000000LL},
        {"0.001", 0, 1000000LL},
        {".5", 0, 500000000LL},
        {"3.", 0, 3000000000LL},
        {"-1", 0, -1000000000LL},
        {"999", 0, 999000000000LL},
        {"0.000000001", 0, 1},
        {"99999999999999999999", 0, LLONG_MAX},
        {"-99999999999999999999", 0, LLONG_MIN},
        {"0.0000000001", -1, 0}, /* more precise than a billionth */
        {"inf", -1, 0},
        {"nan", -1, 0},
        {"-inf", -1, 0},
        {"1e3", -1, 0},
        {"0x10", -1, 0},
        {"", -1, 0},
        {".", -1, 0},
        {"-", -1, 0},
        {"1.2.3", -1, 0},
        {" 1", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long v = 0;
        int r = tug_parse_nano(cases[i].in, &v);
        if (r != cases[i].r || (r == 0 && v != cases[i].want))
            fail_msg("\"%s\": %d %lld, want %d %lld", cases[i].in, r, v, cases[i].r,
                     cases[i].want);
    }
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(tug_glob_match("busy*", "busybox"));
    assert_true(tug_glob_match("*/app", "user/app"));
    assert_false(tug_glob_match("*", "user/app"));
    assert_true(tug_glob_match("busybox:1.?", "busybox:1.2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_size), cmocka_unit_test(test_human_duration),
        cmocka_unit_test(test_parse_nano),
        cmocka_unit_test(test_ellipsis),   cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_parse_size), cmocka_unit_test(test_glob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
