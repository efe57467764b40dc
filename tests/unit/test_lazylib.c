/* A lazily opened library that is missing is an error the caller gets back, never an exit:
 * each test points one of tug's libraries at a soname that does not exist before its first use
 * (every test binary is its own process, so nothing was loaded yet). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <archive.h>
#include <curl/curl.h>

#include "registry/registry.h"
#include "store/unpack.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/lazylib.h"

static const char *const missing[] = {"libtug-test-missing.so.0", NULL};

static void assert_names_missing(tug_error *err)
{
    assert_non_null(err);
    if (strstr(err->msg, "libtug-test-missing.so.0") == NULL ||
        strstr(err->msg, "reinstall") == NULL)
        fail_msg("the error should name the library and the way out: %s", err->msg);
}

static void test_missing_libarchive(void **state)
{
    (void)state;
    tug_libarchive.sonames = missing;
    char dir[] = "/tmp/tug-test-lazylib-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    tug_unpack_result res;
    cleanup_error tug_error *err = NULL;
    assert_true(tug_layer_unpack(fd, dir, &res, &err) < 0);
    assert_names_missing(err);
    /* asked again, the same answer, without another attempt */
    tug_error_freep(&err);
    assert_true(tug_layer_unpack(fd, dir, &res, &err) < 0);
    assert_names_missing(err);
    /* a forwarder reached anyway fails as the library would */
    assert_null(archive_read_new());
    close(fd);
    rmdir(dir);
}

static void test_missing_libcurl(void **state)
{
    (void)state;
    tug_libcurl.sonames = missing;
    tug_registry *reg = NULL;
    cleanup_error tug_error *err = NULL;
    assert_true(tug_registry_open("127.0.0.1:5000", "busybox", NULL, &reg, &err) < 0);
    assert_null(reg);
    assert_names_missing(err);
    assert_null(curl_easy_init());
}

static void test_missing_libcrypto(void **state)
{
    (void)state;
    tug_libcrypto.sonames = missing;
    cleanup_error tug_error *err = NULL;
    assert_null(tug_sha256_new(&err));
    assert_names_missing(err);
    /* short buffers never needed it */
    char d[TUG_DIGEST_LEN + 1];
    tug_sha256_buf("abc", 3, d);
    assert_true(tug_digest_valid(d));
}

static void (*no_such_fn)(void);
static void (*real_fn)(void);

static void test_missing_function(void **state)
{
    (void)state;
    static const char *const libc[] = {"libc.so.6", NULL};
    const tug_lazysym syms[] = {
        {"getpid", (void **)&real_fn},
        {"tug_no_such_function", (void **)&no_such_fn},
        {NULL, NULL},
    };
    tug_lazylib lib = {.sonames = libc, .syms = syms};
    cleanup_error tug_error *err = NULL;
    assert_int_equal(tug_lazylib_load(&lib, &err), -1);
    assert_non_null(strstr(err->msg, "tug_no_such_function"));
    assert_false(tug_lazylib_ready(&lib));
    /* all or nothing: no slot was filled */
    assert_null(real_fn);
    assert_null(no_such_fn);
    free(lib.why); /* the loader keeps it for the life of the table */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_libarchive),
        cmocka_unit_test(test_missing_libcurl),
        cmocka_unit_test(test_missing_libcrypto),
        cmocka_unit_test(test_missing_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
