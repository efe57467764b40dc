/* Health checks' pure parts: the effective check (defaults, CMD-SHELL through the Shell, NONE),
 * the image's check under the flags' one, docker's limits, Go's duration format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "container/health.h"
#include "runtime/request.h"
#include "runtime/spec.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("%s: %s", text, jerr.text);
    return j;
}

static void test_duration_string(void **state)
{
    (void)state;
    struct {
        long long ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1000000000LL, "1s"},
        {1500000000LL, "1.5s"},
        {30000000000LL, "30s"},
        {90000000000LL, "1m30s"},
        {3600000000000LL, "1h0m0s"},
        {500000000LL, "500ms"},
        {1500000LL, "1.5ms"},
        {2000LL, "2µs"},
        {7LL, "7ns"},
        {60001000000LL, "1m0.001s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = tug_health_duration_string(cases[i].ns);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%lld ns: got %s, want %s", cases[i].ns, got, cases[i].want);
        free(got);
    }
}

static void test_check_get(void **state)
{
    (void)state;
    tug_health_check h;
    json_t *cfg = parse("{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f x\"]}}");
    assert_int_equal(tug_health_check_get(cfg, &h), 1);
    assert_string_equal(h.argv[0], "/bin/sh");
    assert_string_equal(h.argv[1], "-c");
    assert_string_equal(h.argv[2], "curl -f x");
    assert_null(h.argv[3]);
    assert_true(h.interval == TUG_HEALTH_INTERVAL_NS && h.timeout == TUG_HEALTH_TIMEOUT_NS);
    assert_true(h.start_period == 0 && h.start_interval == TUG_HEALTH_START_INTERVAL_NS);
    assert_int_equal(h.retries, 3);
    tug_health_check_clear(&h);
    json_decref(cfg);

    cfg = parse("{\"Shell\":[\"/bin/bash\",\"-ec\"],\"Healthcheck\":{\"Test\":[\"CMD-SHELL\","
                "\"true\"],\"Interval\":1000000000,\"Retries\":1}}");
    assert_int_equal(tug_health_check_get(cfg, &h), 1);
    assert_string_equal(h.argv[0], "/bin/bash");
    assert_string_equal(h.argv[1], "-ec");
    assert_string_equal(h.argv[2], "true");
    assert_true(h.interval == 1000000000LL);
    assert_int_equal(h.retries, 1);
    tug_health_check_clear(&h);
    json_decref(cfg);

    cfg = parse("{\"Healthcheck\":{\"Test\":[\"CMD\",\"/check\",\"--fast\"]}}");
    assert_int_equal(tug_health_check_get(cfg, &h), 1);
    assert_string_equal(h.argv[0], "/check");
    assert_string_equal(h.argv[1], "--fast");
    assert_null(h.argv[2]);
    tug_health_check_clear(&h);
    json_decref(cfg);

    const char *none[] = {"{}", "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}",
                          "{\"Healthcheck\":{\"Test\":[]}}", "{\"Healthcheck\":{\"Test\":[\"CMD\"]}}",
                          "{\"Healthcheck\":{\"Interval\":5}}"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        cfg = parse(none[i]);
        assert_int_equal(tug_health_check_get(cfg, &h), 0);
        json_decref(cfg);
    }
}

static void test_merge_image(void **state)
{
    (void)state;
    json_t *img = parse("{\"config\":{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"img\"],"
                        "\"Interval\":1000000000,\"Retries\":4}}}");
    /* no flags: the image's */
    json_t *req = parse("{\"Config\":{}}");
    assert_int_equal(tug_request_merge_image(req, img, NULL), 0);
    char *got = json_dumps(json_object_get(json_object_get(req, "Config"), "Healthcheck"),
                           JSON_COMPACT);
    assert_string_equal(got, "{\"Test\":[\"CMD-SHELL\",\"img\"],\"Interval\":1000000000,"
                             "\"Retries\":4}");
    free(got);
    json_decref(req);
    /* flags over it field by field, in docker's order of the fields */
    req = parse("{\"Config\":{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"mine\"],"
                "\"Retries\":1,\"Timeout\":2000000000}}}");
    assert_int_equal(tug_request_merge_image(req, img, NULL), 0);
    got = json_dumps(json_object_get(json_object_get(req, "Config"), "Healthcheck"),
                     JSON_COMPACT);
    assert_string_equal(got, "{\"Test\":[\"CMD-SHELL\",\"mine\"],\"Interval\":1000000000,"
                             "\"Timeout\":2000000000,\"Retries\":1}");
    free(got);
    json_decref(req);
    json_decref(img);
}

static void test_validate(void **state)
{
    (void)state;
    struct {
        const char *hc, *msg;
    } cases[] = {
        {"{\"Interval\":999999}", "Interval in Healthcheck cannot be less than 1ms"},
        {"{\"Timeout\":1}", "Timeout in Healthcheck cannot be less than 1ms"},
        {"{\"StartPeriod\":-1}", "StartPeriod in Healthcheck cannot be less than 1ms"},
        {"{\"StartInterval\":5}", "StartInterval in Healthcheck cannot be less than 1ms"},
        {"{\"Retries\":-1}", "Retries in Healthcheck cannot be negative"},
        {"{\"Interval\":1000000,\"Timeout\":0}", NULL},
    };
    tug_request_host host = {.cpus = 2, .nofile_hard = 1024, .nproc_hard = 1024};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = NULL;
        assert_true(asprintf(&text, "{\"Config\":{\"Healthcheck\":%s}}", cases[i].hc) > 0);
        json_t *req = parse(text);
        tug_error *err = NULL;
        int r = tug_request_validate(req, false, &host, NULL, &err);
        if (cases[i].msg == NULL) {
            assert_int_equal(r, 0);
        } else {
            assert_int_equal(r, -1);
            assert_string_equal(err->msg, cases[i].msg);
        }
        tug_error_free(err);
        json_decref(req);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_string),
        cmocka_unit_test(test_check_get),
        cmocka_unit_test(test_merge_image),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
