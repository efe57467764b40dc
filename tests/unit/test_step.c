/* Build steps: a RUN in tug's runtime over a layer, whose changes (and only they) land in the
 * step's upper dir; a function run in a private view of the same rootfs. Needs root and
 * /bin/busybox (busybox-static). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "build/step.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"

static char root[] = "/tmp/tug-test-step.XXXXXX";
static char *lower;
static tug_store *store;

static int copy_file(const char *from, const char *to, mode_t mode)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    if (tug_read_file(from, &data, &len, NULL) < 0)
        return -1;
    return tug_write_file_atomic_nosync(to, data, len, mode, NULL);
}

/* A one-layer "image": busybox and sh, /etc with a passwd. */
static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0)
        return 0;
    if (mkdtemp(root) == NULL)
        return -1;
    tug_error *err = NULL;
    if (tug_store_open(root, &store, &err) < 0) {
        fprintf(stderr, "store: %s\n", err->msg);
        return -1;
    }
    if (asprintf(&lower, "%s/lower", root) < 0)
        return -1;
    char p[512];
    snprintf(p, sizeof(p), "%s/bin", lower);
    tug_mkdir_p(p, 0755, NULL);
    snprintf(p, sizeof(p), "%s/etc", lower);
    tug_mkdir_p(p, 0755, NULL);
    snprintf(p, sizeof(p), "%s/bin/busybox", lower);
    if (copy_file("/bin/busybox", p, 0755) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/bin/sh", lower);
    if (symlink("busybox", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/etc/passwd", lower);
    const char *pw = "root:x:0:0:root:/root:/bin/sh\n";
    return tug_write_file_atomic_nosync(p, pw, strlen(pw), 0644, NULL);
}

static int teardown(void **state)
{
    (void)state;
    if (store)
        tug_store_close(store);
    tug_rm_rf(root, NULL);
    free(lower);
    return 0;
}

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (store == NULL)                                                                         \
            skip();                                                                                \
    } while (0)

typedef struct {
    char out[4096];
    size_t len;
} capture;

static void on_output(void *ud, int stream, const char *buf, size_t len)
{
    capture *c = ud;
    (void)stream;
    if (c->len + len < sizeof(c->out)) {
        memcpy(c->out + c->len, buf, len);
        c->len += len;
    }
}

/* Names in dir, sorted, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t size)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cd '%s' && find . -mindepth 1 | sort | tr '\\n' ' '", dir);
    FILE *f = popen(cmd, "r");
    out[0] = '\0';
    if (f) {
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        pclose(f);
    }
}

static void test_run_changes_land_in_the_upper_dir_alone(void **state)
{
    (void)state;
    NEED_ROOT();
    tug_error *err = NULL;
    char *tmp = NULL, *diff = NULL;
    assert_int_equal(tug_store_layer_tmp(store, &tmp, &diff, &err), 0);
    char *lowers[] = {lower};
    tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = 1, .tmp = tmp, .upperdir = diff};
    char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; mkdir -p /x && echo data >/x/f; "
                                     "hostname; id -u; exit 3",
                    NULL};
    char *env[] = {"A=1", NULL};
    capture cap = {0};
    tug_step_cmd cmd = {.argv = argv, .env = env, .cwd = "/", .network = "none",
                        .output = on_output, .userdata = &cap};
    int status = -1;
    if (tug_step_run(store, &fs, &cmd, &status, &err) < 0)
        fail_msg("step: %s", err->msg);
    assert_int_equal(status, 3);
    cap.out[cap.len] = '\0';
    assert_non_null(strstr(cap.out, "out\n"));
    assert_non_null(strstr(cap.out, "err\n"));
    assert_non_null(strstr(cap.out, "0\n"));
    assert_int_equal(tug_step_finish(&fs, &err), 0);
    /* the command's file, and none of the mount points the runtime made */
    char names[4096];
    list_dir(diff, names, sizeof(names));
    assert_string_equal(names, "./x ./x/f ");
    /* the tmp dir holds the diff only: ready to commit */
    list_dir(tmp, names, sizeof(names));
    assert_string_equal(names, "./diff ./diff/x ./diff/x/f ");
    tug_rm_rf(tmp, NULL);
    free(tmp);
    free(diff);
}

static void test_run_from_scratch_of_a_missing_program_fails(void **state)
{
    (void)state;
    NEED_ROOT();
    tug_error *err = NULL;
    char *tmp = NULL, *diff = NULL;
    assert_int_equal(tug_store_layer_tmp(store, &tmp, &diff, &err), 0);
    tug_step_rootfs fs = {.tmp = tmp, .upperdir = diff};
    char *argv[] = {"/bin/sh", "-c", "true", NULL};
    tug_step_cmd cmd = {.argv = argv, .cwd = "/", .network = "none"};
    int status = -1;
    assert_int_equal(tug_step_run(store, &fs, &cmd, &status, &err), -1);
    assert_int_equal(err->status, 127);
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_step_finish(&fs, &err), 0);
    char names[4096];
    list_dir(diff, names, sizeof(names));
    assert_string_equal(names, "");
    tug_rm_rf(tmp, NULL);
    free(tmp);
    free(diff);
}

struct open_how_ {
    uint64_t flags, mode, resolve;
};

static int write_hello(int rootfd, void *ud, tug_error **err)
{
    (void)ud;
    struct open_how_ how = {.flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, .mode = 0640,
                            .resolve = 0x10 /* RESOLVE_IN_ROOT */};
    int fd = (int)syscall(437, rootfd, "etc/hello", &how, sizeof(how));
    if (fd < 0)
        return tug_error_set(err, errno, "create /etc/hello");
    if (write(fd, "hi\n", 3) != 3)
        return tug_error_set(err, errno, "write");
    close(fd);
    return 0;
}

static int refuse(int rootfd, void *ud, tug_error **err)
{
    (void)rootfd;
    (void)ud;
    return tug_error_user(err, "COPY failed: not today");
}

static void test_in_rootfs_writes_through_the_overlay(void **state)
{
    (void)state;
    NEED_ROOT();
    tug_error *err = NULL;
    char *tmp = NULL, *diff = NULL;
    assert_int_equal(tug_store_layer_tmp(store, &tmp, &diff, &err), 0);
    char *lowers[] = {lower};
    tug_step_rootfs fs = {.lowerdirs = lowers, .n_lower = 1, .tmp = tmp, .upperdir = diff};
    if (tug_step_in_rootfs(&fs, write_hello, NULL, &err) < 0)
        fail_msg("in rootfs: %s", err->msg);
    assert_int_equal(tug_step_in_rootfs(&fs, refuse, NULL, &err), -1);
    assert_int_equal(err->kind, TUG_ERR_USER);
    assert_string_equal(err->msg, "COPY failed: not today");
    tug_error_free(err);
    err = NULL;
    assert_int_equal(tug_step_finish(&fs, &err), 0);
    char names[4096];
    list_dir(diff, names, sizeof(names));
    assert_string_equal(names, "./etc ./etc/hello ");
    tug_rm_rf(tmp, NULL);
    free(tmp);
    free(diff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_changes_land_in_the_upper_dir_alone),
        cmocka_unit_test(test_run_from_scratch_of_a_missing_program_fails),
        cmocka_unit_test(test_in_rootfs_writes_through_the_overlay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
