/* Tree walks hold a bounded number of descriptors: removal and size of trees far deeper than
 * the descriptor limit, and an error that names the one path that failed. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/cleanup.h"
#include "util/fs.h"

static char base[64];

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/tug-fs-test-XXXXXX");
    assert_non_null(mkdtemp(base));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tug_error *err = NULL;
    tug_rm_rf(base, &err);
    tug_error_free(err);
    return 0;
}

/* base/name/d/d/.../d, depth levels, each holding a file of `bytes` bytes. */
static void make_deep(const char *name, int depth, int bytes)
{
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    const char *next = name;
    char *data = calloc(1, (size_t)bytes + 1);
    for (int i = 0; i < depth; i++) {
        assert_int_equal(mkdirat(fd, next, 0755), 0);
        int d = openat(fd, next, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(d >= 0);
        close(fd);
        fd = d;
        int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(f >= 0);
        assert_int_equal(write(f, data, (size_t)bytes), bytes);
        close(f);
        next = "d";
    }
    free(data);
    close(fd);
}

/* Run with at most `n` descriptors open (the ones open now included). */
static struct rlimit limit_fds(rlim_t n)
{
    struct rlimit old, rl;
    getrlimit(RLIMIT_NOFILE, &old);
    rl = old;
    rl.rlim_cur = n;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    return old;
}

static void test_deep_tree_removed_under_a_low_fd_limit(void **state)
{
    (void)state;
    make_deep("deep", 5000, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/deep", base);
    struct rlimit old = limit_fds(16);
    long long size = -1;
    cleanup_error tug_error *err = NULL;
    int r = tug_dir_size(path, &size, &err);
    if (r < 0)
        fail_msg("size: %s", err->msg);
    assert_int_equal(size, 5000);
    r = tug_rm_rf(path, &err);
    setrlimit(RLIMIT_NOFILE, &old);
    if (r < 0)
        fail_msg("rm: %s", err->msg);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
}

static void test_wide_and_deep_size(void **state)
{
    (void)state;
    /* two deep branches under one root, files of 10 bytes at every level */
    make_deep("a", 300, 10);
    make_deep("a/b", 1, 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/a", base);
    long long size = 0;
    cleanup_error tug_error *err = NULL;
    assert_int_equal(tug_dir_size(path, &size, &err), 0);
    assert_int_equal(size, 300 * 10);
    /* a symlink counts its own length and is not followed */
    char link[160];
    snprintf(link, sizeof(link), "%s/a/up", base);
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(tug_dir_size(path, &size, &err), 0);
    assert_int_equal(size, 300 * 10 + 4);
    assert_int_equal(tug_rm_rf(path, &err), 0);
    struct stat st;
    assert_int_equal(stat("/etc/passwd", &st), 0);
}

struct events {
    char text[4096];
    size_t len;
};

static int note_event(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    (void)w;
    (void)err;
    struct events *ev = data;
    static const char mark[] = {
        [TUG_WALK_FILE] = 'f', [TUG_WALK_ENTER] = '>', [TUG_WALK_LEAVE] = '<'};
    ev->len += (size_t)snprintf(ev->text + ev->len, sizeof(ev->text) - ev->len, "%c%s ",
                                mark[e->event], e->name);
    return 0;
}

static void test_sorted_walk_is_gos_order(void **state)
{
    (void)state;
    /* created out of order; read back in byte order, a directory where its name falls */
    static const char *const dirs[] = {"t", "t/a", "t/B", "t/a/z"};
    static const char *const files[] = {"t/a.b", "t/_", "t/a-b", "t/Z", "t/a/y", "t/a/z/x"};
    char p[256];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", base, dirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    for (size_t i = 0; i < 6; i++) {
        snprintf(p, sizeof(p), "%s/%s", base, files[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    snprintf(p, sizeof(p), "%s/t", base);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct events ev = {.len = 0};
    cleanup_error tug_error *err = NULL;
    struct rlimit old = limit_fds(8); /* still two descriptors at any depth, and the root */
    int r = tug_walk_tree_sorted(fd, p, note_event, &ev, &err);
    setrlimit(RLIMIT_NOFILE, &old);
    close(fd);
    assert_int_equal(r, 0);
    assert_string_equal(ev.text, ">B <B fZ f_ >a fy >z fx <z <a fa-b fa.b ");
}

static void test_error_names_one_path(void **state)
{
    (void)state;
    make_deep("m", 40, 1);
    char mnt[512], root[128];
    snprintf(root, sizeof(root), "%s/m", base);
    int o = snprintf(mnt, sizeof(mnt), "%s", root);
    for (int i = 1; i < 30; i++)
        o += snprintf(mnt + o, sizeof(mnt) - (size_t)o, "/d");
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
        skip(); /* needs root */
    cleanup_error tug_error *err = NULL;
    int r = tug_rm_rf(root, &err);
    umount2(mnt, MNT_DETACH);
    assert_true(r < 0);
    /* "remove BASE/m/d/.../d: Device or resource busy", the path once */
    char want[600];
    snprintf(want, sizeof(want), "remove %s: ", mnt);
    if (strncmp(err->msg, want, strlen(want)) != 0 || strstr(err->msg + 1, "remove") != NULL)
        fail_msg("got: %s", err->msg);
    /* what was under the mount point is untouched, what was not mounted is gone from below */
    tug_error_freep(&err);
    assert_int_equal(tug_rm_rf(root, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deep_tree_removed_under_a_low_fd_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wide_and_deep_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_names_one_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_walk_is_gos_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
