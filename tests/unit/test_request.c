/* tug_request_validate: docker's create request judged with docker's words, on a host with a
 * known number of CPUs; fields the command line has no flag for yet (the Engine API's) too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/request.h"

static const tug_request_host two_cpus = {
    .cpus = 2, .nofile_hard = 1024, .nproc_hard = RLIM_INFINITY};

/* {"HostConfig": hc, "Config": cfg} from JSON texts */
static json_t *request(const char *hc, const char *cfg)
{
    char *text = NULL;
    assert_true(asprintf(&text, "{\"HostConfig\":%s,\"Config\":%s}", hc, cfg) > 0);
    json_error_t jerr;
    json_t *r = json_loads(text, 0, &jerr);
    if (r == NULL)
        fail_msg("%s: %s", text, jerr.text);
    free(text);
    return r;
}

static void test_refused(void **state)
{
    (void)state;
    struct {
        const char *hc, *cfg, *msg;
    } cases[] = {
        {"{\"NanoCpus\":3000000000}", "{}",
         "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"},
        {"{\"NanoCpus\":-9223372036854775808}", "{}", "Range of CPUs is from 0.01 to 2.00"},
        {"{\"NanoCpus\":1000000}", "{}", "Range of CPUs is from 0.01 to 2.00"},
        {"{\"NanoCpus\":1000000000,\"CpuPeriod\":100000}", "{}",
         "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
        {"{\"NanoCpus\":1000000000,\"CpuQuota\":50000}", "{}",
         "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
        {"{\"CpuPeriod\":999}", "{}",
         "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
        {"{\"CpuPeriod\":1000001}", "{}", "CPU cfs period can not be less than 1ms"},
        {"{\"CpuQuota\":999}", "{}", "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
        /* a host whose cpu cgroup has no real-time files (cgroup v2) */
        {"{\"CpuRealtimePeriod\":1000000}", "{}",
         "Your kernel does not support cgroup cpu real-time period"},
        {"{\"CpuRealtimeRuntime\":1000}", "{}",
         "Your kernel does not support cgroup cpu real-time runtime"},
        {"{\"Memory\":1024}", "{}", "Minimum memory limit allowed is 6MB"},
        {"{\"Memory\":-1}", "{}", "Minimum memory limit allowed is 6MB"},
        {"{\"Memory\":67108864,\"MemorySwap\":1048576}", "{}",
         "Minimum memoryswap limit should be larger than memory limit, see usage"},
        {"{\"MemorySwap\":67108864}", "{}",
         "You should always set the Memory limit when using Memoryswap limit, see usage"},
        {"{\"MemorySwap\":-2}", "{}", "Invalid memory swap limit -2"},
        {"{\"Memory\":\"1g\"}", "{}", "HostConfig.Memory is not an integer"},
        {"{\"CpuShares\":-1}", "{}", "Invalid CPU shares -1"},
        {"{\"PidsLimit\":4194305}", "{}", "Invalid pids limit 4194305"},
        {"{\"ShmSize\":-1}", "{}", "SHM size can not be less than 0"},
        {"{\"OomScoreAdj\":1001}", "{}",
         "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
        {"{\"MemorySwappiness\":101}", "{}",
         "Invalid value: 101, valid memory swappiness range is 0-100"},
        {"{\"MemoryReservation\":1024}", "{}", "Minimum memory reservation allowed is 6MB"},
        {"{\"Memory\":16777216,\"MemoryReservation\":33554432}", "{}",
         "Minimum memory limit can not be less than memory reservation limit, see usage"},
        {"{\"BlkioWeight\":5}", "{}", "Range of blkio weight is from 10 to 1000"},
        {"{\"IpcMode\":\"bogus\"}", "{}", "invalid IPC mode: bogus"},
        {"{\"PidMode\":\"private\"}", "{}", "invalid PID mode: private"},
        {"{\"PidMode\":\"container:\"}", "{}", "invalid PID mode: container:"},
        {"{\"UTSMode\":\"private\"}", "{}", "invalid UTS mode: private"},
        {"{\"UsernsMode\":\"private\"}", "{}", "invalid USER mode: private"},
        {"{\"CgroupnsMode\":\"other\"}", "{}", "invalid CGROUP mode: other"},
        {"{\"CgroupParent\":\"a/../../b\"}", "{}", "invalid cgroup parent \"a/../../b\""},
        {"{\"CgroupParent\":\"..\"}", "{}", "invalid cgroup parent \"..\""},
        {"{\"LogConfig\":{\"Type\":\"syslog\"}}", "{}",
         "logger: no log driver named 'syslog' is registered"},
        {"{\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":10,\"Hard\":5}]}", "{}",
         "ulimit soft limit must be less than or equal to hard limit: 10 > 5"},
        {"{\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":-1,\"Hard\":5}]}", "{}",
         "ulimit soft limit must be less than or equal to hard limit: -1 > 5"},
        {"{\"Ulimits\":[{\"Name\":\"bogus\",\"Soft\":1,\"Hard\":1}]}", "{}",
         "invalid ulimit type: bogus"},
        {"{\"Ulimits\":[{\"Name\":\"nofile\"}]}", "{}", "HostConfig.Ulimits[0] needs a Name"},
        {"{\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":2}}", "{}",
         "maximum retry count cannot be used with restart policy 'always'"},
        {"{\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":-1}}", "{}",
         "maximum retry count cannot be negative"},
        {"{\"RestartPolicy\":{\"Name\":\"often\"}}", "{}", "invalid restart policy 'often'"},
        {"{\"AutoRemove\":true,\"RestartPolicy\":{\"Name\":\"always\"}}", "{}",
         "Conflicting options: --restart and --rm"},
        {"{\"LogConfig\":{\"Config\":{\"max-file\":\"99999999999\"}}}", "{}",
         "invalid log option max-file \"99999999999\""},
        {"{}", "{\"WorkingDir\":\"a/b\"}",
         "the working directory 'a/b' is invalid, it needs to be an absolute path"},
        {"{}", "{\"StopSignal\":\"SIGNOPE\"}", "Invalid signal: SIGNOPE"},
        {"{}", "{\"StopTimeout\":3000000}", "Invalid stop timeout 3000000"},
        {"{}", "{\"Cmd\":[\"sh\",1]}", "Config: Cmd[1] is not a string"},
        {"[]", "{}", "HostConfig is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = request(cases[i].hc, cases[i].cfg);
        tug_error *err = NULL;
        if (tug_request_validate(r, false, &two_cpus, NULL, &err) == 0)
            fail_msg("%s %s: accepted", cases[i].hc, cases[i].cfg);
        if (strncmp(err->msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("%s %s:\n got  %s\n want %s", cases[i].hc, cases[i].cfg, err->msg,
                     cases[i].msg);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
        json_decref(r);
    }
}

static void test_accepted_and_adjusted(void **state)
{
    (void)state;
    json_t *r = request("{\"NanoCpus\":2000000000,\"Memory\":6291456,\"MemorySwap\":-1,"
                        "\"CpuShares\":1,\"PidsLimit\":-1,\"ShmSize\":0,"
                        "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":2048,\"Hard\":4096},"
                        "{\"Name\":\"core\",\"Soft\":-1,\"Hard\":-1}],"
                        "\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":3}}",
                        "{\"WorkingDir\":\"/w\",\"StopSignal\":\"SIGINT\",\"StopTimeout\":0}");
    json_t *warnings = json_array();
    tug_error *err = NULL;
    if (tug_request_validate(r, false, &two_cpus, warnings, &err) < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(json_array_size(warnings), 2);
    assert_string_equal(json_string_value(json_array_get(warnings, 0)),
                        "Changing requested CPUShares of 1 to minimum allowed of 2");
    assert_string_equal(json_string_value(json_array_get(warnings, 1)),
                        "--ulimit nofile=2048:4096 is above this host's hard limit 1024; the "
                        "container gets 1024");
    json_t *hc = json_object_get(r, "HostConfig");
    assert_int_equal(json_integer_value(json_object_get(hc, "CpuShares")), 2);
    /* update may set a swap limit alone */
    json_t *u = request("{\"MemorySwap\":67108864}", "{}");
    assert_int_equal(tug_request_validate(u, true, &two_cpus, NULL, &err), 0);
    json_decref(u);
    json_decref(warnings);
    json_decref(r);
}

/* On a host with cpu.rt_* (cgroup v1): the runtime may not pass the period. */
static void test_realtime(void **state)
{
    (void)state;
    tug_request_host rt = two_cpus;
    rt.cpu_realtime = true;
    tug_error *err = NULL;
    json_t *r = request("{\"CpuRealtimePeriod\":1000000,\"CpuRealtimeRuntime\":2000000}", "{}");
    assert_int_equal(tug_request_validate(r, false, &rt, NULL, &err), -1);
    assert_string_equal(err->msg, "cpu real-time runtime cannot be higher than cpu real-time period");
    tug_error_free(err);
    err = NULL;
    json_decref(r);
    r = request("{\"CpuRealtimePeriod\":1000000,\"CpuRealtimeRuntime\":950000}", "{}");
    assert_int_equal(tug_request_validate(r, false, &rt, NULL, &err), 0);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted_and_adjusted),
        cmocka_unit_test(test_realtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
