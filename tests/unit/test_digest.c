#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/sha.h>

#include "util/digest.h"

/* OpenSSL's own one-shot digest, formatted as tug writes digests. */
static void reference_digest(const unsigned char *data, size_t len, char out[TUG_DIGEST_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    strcpy(out, "sha256:");
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* The examples of FIPS 180-4's appendix (one block, two blocks, the empty message). */
static void test_known_vectors(void **state)
{
    (void)state;
    char d[TUG_DIGEST_LEN + 1];
    tug_sha256_buf("abc", 3, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tug_sha256_buf("", 0, d);
    assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tug_sha256_buf(two, strlen(two), d);
    assert_string_equal(d, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Every length around the block and padding boundaries, and a large buffer, agree with OpenSSL
 * and with tug's streaming digest (which runs on OpenSSL). */
static void test_agrees_with_openssl(void **state)
{
    (void)state;
    size_t big = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(big);
    assert_non_null(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    char got[TUG_DIGEST_LEN + 1], want[TUG_DIGEST_LEN + 1], streamed[TUG_DIGEST_LEN + 1];
    tug_sha256 *h = tug_sha256_new(NULL);
    assert_non_null(h);
    for (size_t len = 0; len <= 300; len++) {
        tug_sha256_buf(data, len, got);
        reference_digest(data, len, want);
        if (strcmp(got, want) != 0)
            fail_msg("length %zu: %s, OpenSSL says %s", len, got, want);
        tug_sha256_update(h, data, len / 2);
        tug_sha256_update(h, data + len / 2, len - len / 2);
        tug_sha256_final(h, streamed);
        assert_string_equal(streamed, want);
    }
    tug_sha256_buf(data, big, got);
    reference_digest(data, big, want);
    assert_string_equal(got, want);
    tug_sha256_free(h);
    free(data);
}

static void test_digest_syntax(void **state)
{
    (void)state;
    char d[TUG_DIGEST_LEN + 1];
    tug_sha256_buf("x", 1, d);
    assert_true(tug_digest_valid(d));
    assert_string_equal(tug_digest_hex(d), d + 7);
    assert_false(tug_digest_valid("sha256:abc"));
    assert_false(tug_digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(tug_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    assert_false(tug_digest_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_agrees_with_openssl),
        cmocka_unit_test(test_digest_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
