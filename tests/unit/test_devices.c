/* A container's devices: docker's --device and --device-cgroup-rule syntax and errors, the OCI
 * linux.devices / linux.resources.devices made from a HostConfig, and read back by the runtime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/devices.h"
#include "util/cleanup.h"

static void assert_rule(const char *text, char type, long long maj, long long min, unsigned access)
{
    tug_device_rule r;
    tug_error *err = NULL;
    if (tug_device_rule_parse(text, &r, &err) < 0)
        fail_msg("%s: %s", text, err->msg);
    assert_true(r.allow);
    assert_int_equal(r.type, type);
    assert_int_equal(r.major, maj);
    assert_int_equal(r.minor, min);
    assert_int_equal(r.access, access);
}

static void test_cgroup_rule_syntax(void **state)
{
    (void)state;
    assert_rule("c 42:* rmw", 'c', 42, -1, TUG_DEV_RWM);
    assert_rule("b 7:0 r", 'b', 7, 0, TUG_DEV_READ);
    assert_rule("a *:* m", 'a', -1, -1, TUG_DEV_MKNOD);
    assert_rule("c 1:3 wr", 'c', 1, 3, TUG_DEV_READ | TUG_DEV_WRITE);
    /* docker's pattern is ^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$ */
    static const char *const bad[] = {
        "",      "x 1:2 r", "c 1:2",    "c 1:2 rwmr", "c 1:2 q", "c  1:2 r",         "c 1:2 r ",
        "c 1 r", "c a:2 r", "c 1:-2 r", "c 1:2\tr",   "c1:2 r",  "c 1:99999999999 r"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(bad); i++) {
        tug_device_rule r;
        tug_error *err = NULL;
        if (tug_device_rule_parse(bad[i], &r, &err) == 0)
            fail_msg("\"%s\" was taken", bad[i]);
        char want[128];
        snprintf(want, sizeof(want), "invalid device cgroup format '%s'", bad[i]);
        if (strncmp(err->msg, want, strlen(want)) != 0)
            fail_msg("\"%s\": %s", bad[i], err->msg);
        tug_error_free(err);
    }
}

static void assert_mapping(const char *spec, const char *host, const char *ctr, const char *perms)
{
    tug_error *err = NULL;
    json_t *m = tug_device_mapping_parse(spec, &err);
    if (m == NULL)
        fail_msg("%s: %s", spec, err->msg);
    assert_string_equal(json_string_value(json_object_get(m, "PathOnHost")), host);
    assert_string_equal(json_string_value(json_object_get(m, "PathInContainer")), ctr);
    assert_string_equal(json_string_value(json_object_get(m, "CgroupPermissions")), perms);
    json_decref(m);
}

static void assert_mapping_error(const char *spec, const char *want)
{
    tug_error *err = NULL;
    json_t *m = tug_device_mapping_parse(spec, &err);
    if (m != NULL)
        fail_msg("\"%s\" was taken", spec);
    assert_string_equal(err->msg, want);
    tug_error_free(err);
}

static void test_device_flag_syntax(void **state)
{
    (void)state;
    /* docker's HOST[:CONTAINER][:PERMISSIONS], permissions rwm unless given */
    assert_mapping("/dev/kvm", "/dev/kvm", "/dev/kvm", "rwm");
    assert_mapping("/dev/kvm:/dev/k", "/dev/kvm", "/dev/k", "rwm");
    assert_mapping("/dev/kvm:r", "/dev/kvm", "/dev/kvm", "r");
    assert_mapping("/dev/kvm:/dev/k:mw", "/dev/kvm", "/dev/k", "mw");
    assert_mapping("/dev//kvm:/dev/./k/", "/dev/kvm", "/dev/k", "rwm");
    /* docker's words for what it refuses */
    assert_mapping_error("/dev/kvm:/dev/k:q", "bad mode specified: q");
    assert_mapping_error("/dev/kvm:/dev/k:rr", "bad mode specified: rr");
    assert_mapping_error("/dev/kvm:rel", "rel is not an absolute path");
    assert_mapping_error("dev/kvm", "dev/kvm is not an absolute path");
    assert_mapping_error("a:b:c:d", "bad format for path: a:b:c:d");
    assert_mapping_error(":/x", "bad format for path: :/x");
    assert_mapping_error("", "bad format for path: ");
}

static json_t *json_of(const char *json)
{
    json_error_t je;
    json_t *hc = json_loads(json, 0, &je);
    if (hc == NULL)
        fail_msg("%s", je.text);
    return hc;
}

/* The spec of a HostConfig: nodes and rules, or the error. */
static int spec_of(const char *json, json_t **ret_nodes, json_t **ret_rules, tug_error **err)
{
    json_t *hc = json_of(json);
    int r = tug_devices_spec(hc, ret_nodes, ret_rules, err);
    json_decref(hc);
    return r;
}

static void test_default_policy_in_the_spec(void **state)
{
    (void)state;
    json_t *nodes = NULL, *rules = NULL;
    tug_error *err = NULL;
    assert_int_equal(
        spec_of("{\"Devices\": [], \"DeviceCgroupRules\": null}", &nodes, &rules, &err), 0);
    assert_int_equal(json_array_size(nodes), 0);
    char *text = json_dumps(rules, JSON_COMPACT);
    /* deny all, then docker's list, as runc applies it for docker */
    assert_string_equal(
        text, "[{\"allow\":false,\"type\":\"a\",\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"access\":\"m\"},"
              "{\"allow\":true,\"type\":\"b\",\"access\":\"m\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":7,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":8,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":9,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":0,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":1,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":2,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":136,\"access\":\"rwm\"},"
              "{\"allow\":true,\"type\":\"c\",\"major\":10,\"minor\":200,\"access\":\"rwm\"}]");
    free(text);
    json_decref(nodes);
    json_decref(rules);
}

static void test_devices_and_rules_in_the_spec(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    json_t *nodes = NULL, *rules = NULL;
    tug_error *err = NULL;
    int r = spec_of("{\"Devices\": [{\"PathOnHost\": \"/dev/null\", \"PathInContainer\": "
                    "\"/dev/mynull\", \"CgroupPermissions\": \"rw\"}], "
                    "\"DeviceCgroupRules\": [\"c 42:* rmw\"]}",
                    &nodes, &rules, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(json_array_size(nodes), 1);
    json_t *n = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(n, "path")), "/dev/mynull");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "c");
    assert_int_equal(json_integer_value(json_object_get(n, "major")), 1);
    assert_int_equal(json_integer_value(json_object_get(n, "minor")), 3);
    assert_int_equal(json_integer_value(json_object_get(n, "fileMode")), st.st_mode & 07777);
    /* the defaults, then the device's rule, then the extra rule */
    size_t nr = json_array_size(rules);
    assert_int_equal(nr, 13 + 2);
    char *dev = json_dumps(json_array_get(rules, nr - 2), JSON_COMPACT);
    char *extra = json_dumps(json_array_get(rules, nr - 1), JSON_COMPACT);
    assert_string_equal(dev, "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,"
                             "\"access\":\"rw\"}");
    assert_string_equal(extra, "{\"allow\":true,\"type\":\"c\",\"major\":42,\"access\":\"rwm\"}");
    free(dev);
    free(extra);
    json_decref(nodes);
    json_decref(rules);

    /* privileged: allow everything; a node at its own path comes with the host's /dev anyway,
     * even a missing one (docker skips it too), one moved elsewhere is made */
    r = spec_of("{\"Privileged\": true, \"Devices\": [{\"PathOnHost\": \"/dev/nope\", "
                "\"PathInContainer\": \"/dev/nope\", \"CgroupPermissions\": \"r\"}, "
                "{\"PathOnHost\": \"/dev/null\", \"PathInContainer\": \"/x/null\", "
                "\"CgroupPermissions\": \"r\"}], \"DeviceCgroupRules\": [\"c 42:* rmw\"]}",
                &nodes, &rules, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(json_array_size(nodes), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "path")),
                        "/x/null");
    char *all = json_dumps(rules, JSON_COMPACT);
    assert_string_equal(all, "[{\"allow\":true,\"type\":\"a\",\"access\":\"rwm\"}]");
    free(all);
    json_decref(nodes);
    json_decref(rules);
}

static void test_device_directory(void **state)
{
    (void)state;
    /* a directory gives every node below it, at the same place under the container's path */
    char dir[] = "/tmp/tug-test-devdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64], node[96], link[96], json[512];
    snprintf(sub, sizeof(sub), "%s/snd", dir);
    snprintf(node, sizeof(node), "%s/snd/null", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    if (mknod(node, S_IFCHR | 0640, makedev(1, 3)) < 0) {
        rmdir(sub);
        rmdir(dir);
        print_message("skipped: mknod needs root\n");
        skip();
    }
    assert_int_equal(symlink("/dev/zero", link), 0); /* not followed inside the directory */
    snprintf(json, sizeof(json),
             "{\"Devices\": [{\"PathOnHost\": \"%s\", \"PathInContainer\": \"/dev/d\", "
             "\"CgroupPermissions\": \"r\"}]}",
             dir);
    json_t *nodes = NULL, *rules = NULL;
    tug_error *err = NULL;
    int r = spec_of(json, &nodes, &rules, &err);
    unlink(link);
    unlink(node);
    rmdir(sub);
    if (r < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(json_array_size(nodes), 1);
    json_t *n = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(n, "path")), "/dev/d/snd/null");
    assert_int_equal(json_integer_value(json_object_get(n, "fileMode")), 0640);
    json_decref(nodes);
    json_decref(rules);
    /* an empty directory holds no device */
    snprintf(json, sizeof(json), "{\"Devices\": [{\"PathOnHost\": \"%s\"}]}", dir);
    assert_true(spec_of(json, NULL, NULL, &err) < 0);
    char want[160];
    snprintf(want, sizeof(want),
             "error gathering device information while adding custom device \"%s\": not a "
             "device node",
             dir);
    assert_string_equal(err->msg, want);
    tug_error_free(err);
    rmdir(dir);
}

static void test_missing_device_is_docker_error(void **state)
{
    (void)state;
    tug_error *err = NULL;
    assert_true(spec_of("{\"Devices\": [{\"PathOnHost\": \"/dev/nope\", \"PathInContainer\": "
                        "\"/dev/nope\", \"CgroupPermissions\": \"rwm\"}]}",
                        NULL, NULL, &err) < 0);
    assert_string_equal(err->msg, "error gathering device information while adding custom "
                                  "device \"/dev/nope\": no such file or directory");
    tug_error_free(err);
    err = NULL;
    assert_true(spec_of("{\"Devices\": [{\"PathOnHost\": \"/etc/hostname\"}]}", NULL, NULL, &err) <
                0);
    assert_string_equal(err->msg, "error gathering device information while adding custom "
                                  "device \"/etc/hostname\": not a device node");
    tug_error_free(err);
    err = NULL;
    /* a rule that came around the CLI (the API later) is checked as well */
    assert_true(spec_of("{\"DeviceCgroupRules\": [\"c 1:2 x\"]}", NULL, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "invalid device cgroup format 'c 1:2 x'"));
    tug_error_free(err);
}

static void test_runtime_reads_the_spec(void **state)
{
    (void)state;
    tug_device_rule *rules = NULL;
    tug_device_node *nodes = NULL;
    size_t nr = 0, nn = 0;
    tug_error *err = NULL;
    size_t n_def = 0;
    const tug_device_rule *def = tug_device_rules_default(&n_def);

    /* a spec from before the policy: docker's defaults, or everything when privileged */
    json_t *l = json_of("{\"resources\": {}}");
    assert_int_equal(tug_devices_from_spec(l, false, &rules, &nr, &nodes, &nn, &err), 0);
    assert_int_equal(nr, n_def);
    assert_memory_equal(rules, def, n_def * sizeof(*def));
    assert_int_equal(nn, 0);
    free(rules);
    tug_device_nodes_free(nodes, nn);
    assert_int_equal(tug_devices_from_spec(l, true, &rules, &nr, &nodes, &nn, &err), 0);
    assert_int_equal(nr, 1);
    assert_true(rules[0].allow && rules[0].type == 'a' && rules[0].access == TUG_DEV_RWM);
    free(rules);
    tug_device_nodes_free(nodes, nn);
    json_decref(l);

    /* what tug writes comes back; absent numbers are any */
    l = json_of("{\"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}, "
                "{\"allow\": true, \"type\": \"c\", \"major\": 136, \"access\": \"rw\"}]}, "
                "\"devices\": [{\"path\": \"/dev/k\", \"type\": \"c\", \"major\": 10, "
                "\"minor\": 232, \"fileMode\": 384, \"uid\": 5, \"gid\": 6}]}");
    assert_int_equal(tug_devices_from_spec(l, true, &rules, &nr, &nodes, &nn, &err), 0);
    assert_int_equal(nr, 2);
    assert_true(!rules[0].allow && rules[0].type == 'a' && rules[0].major == -1);
    assert_true(rules[1].allow && rules[1].type == 'c' && rules[1].major == 136 &&
                rules[1].minor == -1 && rules[1].access == (TUG_DEV_READ | TUG_DEV_WRITE));
    assert_int_equal(nn, 1);
    assert_string_equal(nodes[0].path, "/dev/k");
    assert_int_equal(nodes[0].mode, S_IFCHR | 0600);
    assert_true(nodes[0].rdev == makedev(10, 232));
    assert_true(nodes[0].uid == 5 && nodes[0].gid == 6);
    free(rules);
    tug_device_nodes_free(nodes, nn);
    json_decref(l);

    /* a hand-written spec's mistakes are errors naming the entry */
    static const char *const bad[] = {
        "{\"resources\": {\"devices\": [{\"allow\": true, \"type\": \"x\"}]}}",
        "{\"resources\": {\"devices\": [{\"allow\": true, \"access\": \"\"}]}}",
        "{\"resources\": {\"devices\": [{\"allow\": true, \"major\": 4294967296}]}}",
        "{\"devices\": [{\"path\": \"dev/k\", \"type\": \"c\", \"major\": 1, \"minor\": 3}]}",
        "{\"devices\": [{\"path\": \"/dev/k\", \"type\": \"q\", \"major\": 1, \"minor\": 3}]}",
    };
    for (size_t i = 0; i < TUG_ARRAY_SIZE(bad); i++) {
        l = json_of(bad[i]);
        err = NULL;
        if (tug_devices_from_spec(l, false, &rules, &nr, &nodes, &nn, &err) == 0)
            fail_msg("%s was taken", bad[i]);
        if (strncmp(err->msg, "linux.", 6) != 0)
            fail_msg("%s: %s", bad[i], err->msg);
        tug_error_free(err);
        json_decref(l);
    }
}

/* --gpus as docker's CLI reads it, into HostConfig.DeviceRequests; tug has no driver for it. */
static void test_gpu_requests(void **state)
{
    (void)state;
    struct {
        const char *value, *want;
    } ok[] = {
        {"all", "{\"Driver\":\"\",\"Count\":-1,\"DeviceIDs\":null,\"Capabilities\":[[\"gpu\"]],"
                "\"Options\":{}}"},
        {"2", "{\"Driver\":\"\",\"Count\":2,\"DeviceIDs\":null,\"Capabilities\":[[\"gpu\"]],"
              "\"Options\":{}}"},
        /* unquoted, the comma ends the field: "1" is a count */
        {"device=0,1", "{\"Driver\":\"\",\"Count\":1,\"DeviceIDs\":[\"0\"],\"Capabilities\":"
                       "[[\"gpu\"]],\"Options\":{}}"},
        {"\"device=0,1\"", "{\"Driver\":\"\",\"Count\":0,\"DeviceIDs\":[\"0\",\"1\"],"
                           "\"Capabilities\":[[\"gpu\"]],\"Options\":{}}"},
        {"count=2,capabilities=utility,driver=nvidia",
         "{\"Driver\":\"nvidia\",\"Count\":2,\"DeviceIDs\":null,\"Capabilities\":[[\"utility\","
         "\"gpu\"]],\"Options\":{}}"},
        {"\"options=a=b,c\"", "{\"Driver\":\"\",\"Count\":1,\"DeviceIDs\":null,\"Capabilities\":"
                             "[[\"gpu\"]],\"Options\":{\"a\":\"b\",\"c\":\"\"}}"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        tug_error *err = NULL;
        json_t *req = tug_gpu_request_parse(ok[i].value, &err);
        if (req == NULL)
            fail_msg("%s: %s", ok[i].value, err->msg);
        char *got = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(got, ok[i].want);
        free(got);
        json_t *hc = json_pack("{s:[o]}", "DeviceRequests", req);
        assert_int_equal(tug_device_requests_check(hc, &err), -1);
        assert_non_null(strstr(err->msg, "could not select device driver"));
        tug_error_free(err);
        json_decref(hc);
    }
    struct {
        const char *value, *msg;
    } bad[] = {
        {"", "EOF"},
        {"bogus", "invalid count (bogus): value must be either \"all\" or an integer: invalid syntax"},
        {"foo=1", "unexpected key 'foo' in 'foo=1'"},
        {"count=1,count=2", "gpu request key 'count' can be specified only once"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_error *err = NULL;
        assert_null(tug_gpu_request_parse(bad[i].value, &err));
        assert_string_equal(err->msg, bad[i].msg);
        tug_error_free(err);
    }
    tug_error *err = NULL;
    json_t *hc = json_pack("{s:[{s:s, s:[[s, s]]}]}", "DeviceRequests", "Driver", "", "Capabilities",
                           "utility", "gpu");
    assert_int_equal(tug_device_requests_check(hc, &err), -1);
    assert_string_equal(err->msg, "could not select device driver \"\" with capabilities: "
                                  "[[utility gpu]]");
    tug_error_free(err);
    json_decref(hc);
    hc = json_pack("{s:[]}", "DeviceRequests");
    assert_int_equal(tug_device_requests_check(hc, &err), 0);
    json_decref(hc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cgroup_rule_syntax),
        cmocka_unit_test(test_device_flag_syntax),
        cmocka_unit_test(test_default_policy_in_the_spec),
        cmocka_unit_test(test_devices_and_rules_in_the_spec),
        cmocka_unit_test(test_device_directory),
        cmocka_unit_test(test_missing_device_is_docker_error),
        cmocka_unit_test(test_runtime_reads_the_spec),
        cmocka_unit_test(test_gpu_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
