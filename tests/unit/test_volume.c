#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/volume.h"

static tug_mount_req v_ok(const char *spec)
{
    tug_mount_req m;
    tug_error *err = NULL;
    if (tug_mount_parse_volume_flag(spec, &m, &err) < 0)
        fail_msg("-v %s: %s", spec, err->msg);
    return m;
}

static tug_mount_req mount_ok(const char *spec)
{
    tug_mount_req m;
    tug_error *err = NULL;
    if (tug_mount_parse_mount_flag(spec, &m, &err) < 0)
        fail_msg("--mount %s: %s", spec, err->msg);
    return m;
}

static void test_volume_flag(void **state)
{
    (void)state;
    tug_mount_req m = v_ok("/data");
    assert_int_equal(m.type, TUG_MNT_VOLUME);
    assert_null(m.source);
    assert_string_equal(m.target, "/data");
    tug_mount_req_clear(&m);

    m = v_ok("db:/var/lib/db");
    assert_int_equal(m.type, TUG_MNT_VOLUME);
    assert_string_equal(m.source, "db");
    assert_string_equal(m.target, "/var/lib/db");
    assert_false(m.readonly);
    tug_mount_req_clear(&m);

    m = v_ok("db:/x/:ro");
    assert_true(m.readonly);
    assert_string_equal(m.target, "/x");
    tug_mount_req_clear(&m);

    m = v_ok("/srv//a/../b:/mnt/./c:rw,rshared");
    assert_int_equal(m.type, TUG_MNT_BIND);
    assert_true(m.create_source);
    assert_string_equal(m.source, "/srv/b");
    assert_string_equal(m.target, "/mnt/c");
    assert_string_equal(m.propagation, "rshared");
    tug_mount_req_clear(&m);

    m = v_ok("/data:ro");
    assert_int_equal(m.type, TUG_MNT_VOLUME);
    assert_null(m.source);
    assert_true(m.readonly);
    tug_mount_req_clear(&m);

    m = v_ok("vol:/d:nocopy");
    assert_true(m.nocopy);
    tug_mount_req_clear(&m);
}

static void test_volume_flag_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",            "data",        "rel/path:/x", "./data:/x", "vol:relative", "vol:",
        "vol:/x:bogus", "vol:/x:ro,rw", "a:/x",      "/h:/",      "vol:/x:ro:extra",
        "/host:/x:nocopy", "v!l:/x",  ":/x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_mount_req m = {0};
        tug_error *err = NULL;
        if (tug_mount_parse_volume_flag(bad[i], &m, &err) == 0)
            fail_msg("-v '%s' was accepted", bad[i]);
        assert_non_null(err);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
    }
}

static void test_mount_flag(void **state)
{
    (void)state;
    tug_mount_req m = mount_ok("type=volume,source=db,target=/data,readonly");
    assert_int_equal(m.type, TUG_MNT_VOLUME);
    assert_string_equal(m.source, "db");
    assert_string_equal(m.target, "/data");
    assert_true(m.readonly);
    json_t *j = tug_mount_req_to_json(&m);
    tug_mount_req back;
    assert_int_equal(tug_mount_req_from_json(j, &back, NULL), 0);
    assert_string_equal(back.source, "db");
    assert_true(back.readonly);
    json_decref(j);
    tug_mount_req_clear(&back);
    tug_mount_req_clear(&m);

    m = mount_ok("target=/anon");
    assert_int_equal(m.type, TUG_MNT_VOLUME);
    assert_null(m.source);
    tug_mount_req_clear(&m);

    m = mount_ok("type=bind,src=/etc,dst=/host-etc,ro=true,bind-propagation=rslave");
    assert_int_equal(m.type, TUG_MNT_BIND);
    assert_false(m.create_source);
    assert_string_equal(m.propagation, "rslave");
    assert_true(m.readonly);
    tug_mount_req_clear(&m);

    m = mount_ok("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770");
    assert_int_equal(m.type, TUG_MNT_TMPFS);
    assert_int_equal(m.tmpfs_size, 1024 * 1024);
    assert_int_equal(m.tmpfs_mode, 01770);
    tug_mount_req_clear(&m);

    m = mount_ok("source=v1,target=/x,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-nocopy");
    assert_string_equal(json_string_value(json_object_get(m.options, "type")), "tmpfs");
    assert_string_equal(json_string_value(json_object_get(m.options, "device")), "tmpfs");
    assert_true(m.nocopy);
    tug_mount_req_clear(&m);
}

static void test_mount_flag_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "type=bind,target=/x",               /* no source */
        "type=bind,source=rel,target=/x",    /* relative source */
        "type=volume,source=v",              /* no target */
        "type=volume,source=v,target=rel",   /* relative target */
        "type=volume,source=v,target=/",     /* root */
        "type=tmpfs,source=x,target=/t",     /* tmpfs has no source */
        "type=nfs,target=/x",                /* unknown type */
        "type=volume,target=/x,colour=red",  /* unknown key */
        "type=bind,source=/a,target=/x,volume-nocopy", /* volume option on a bind */
        "type=volume,target=/x,readonly=maybe",
        "type=tmpfs,target=/t,tmpfs-size=huge",
        "type=volume,source=v!,target=/x",
        "target",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tug_mount_req m = {0};
        tug_error *err = NULL;
        if (tug_mount_parse_mount_flag(bad[i], &m, &err) == 0)
            fail_msg("--mount '%s' was accepted", bad[i]);
        assert_int_equal(err->kind, TUG_ERR_USER);
        tug_error_free(err);
    }
}

static void test_volumes_from(void **state)
{
    (void)state;
    char *c = NULL;
    bool ro = true;
    assert_int_equal(tug_mount_parse_volumes_from("web", &c, &ro, NULL), 0);
    assert_string_equal(c, "web");
    assert_false(ro);
    free(c);
    assert_int_equal(tug_mount_parse_volumes_from("web:ro", &c, &ro, NULL), 0);
    assert_true(ro);
    free(c);
    tug_error *err = NULL;
    assert_true(tug_mount_parse_volumes_from("web:rx", &c, &ro, &err) < 0);
    tug_error_free(err);
    err = NULL;
    assert_true(tug_mount_parse_volumes_from(":ro", &c, &ro, &err) < 0);
    tug_error_free(err);
}

static void test_names_and_paths(void **state)
{
    (void)state;
    assert_true(tug_volume_name_valid("db"));
    assert_true(tug_volume_name_valid("my_vol.1-x"));
    assert_false(tug_volume_name_valid("d"));
    assert_false(tug_volume_name_valid("_db"));
    assert_false(tug_volume_name_valid("a/b"));
    assert_false(tug_volume_name_valid(""));
    char *p = tug_path_clean_abs("/a/../../b//c/.");
    assert_string_equal(p, "/b/c");
    free(p);
    p = tug_path_clean_abs("/..");
    assert_string_equal(p, "/");
    free(p);
    assert_null(tug_path_clean_abs("a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_volume_flag),       cmocka_unit_test(test_volume_flag_errors),
        cmocka_unit_test(test_mount_flag),        cmocka_unit_test(test_mount_flag_errors),
        cmocka_unit_test(test_volumes_from),      cmocka_unit_test(test_names_and_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
