/* libcrypto, opened on first use (linking it costs every tug process ~1.3 ms): the functions
 * tug calls, forwarded to the real library. tug_sha256_new loads it and reports a failure; a
 * forwarder reached without it fails as libcrypto itself would fail. */
#include <openssl/evp.h>

#include "lazylib.h"

#define CRYPTO_FNS(X)                                                                              \
    X(EVP_MD_CTX_new)                                                                              \
    X(EVP_MD_CTX_free)                                                                             \
    X(EVP_sha256)                                                                                  \
    X(EVP_DigestInit_ex)                                                                           \
    X(EVP_DigestUpdate)                                                                            \
    X(EVP_DigestFinal_ex)

CRYPTO_FNS(TUG_LAZY_POINTER)
static const tug_lazysym crypto_syms[] = {CRYPTO_FNS(TUG_LAZY_ENTRY){NULL, NULL}};
static const char *const crypto_sonames[] = {"libcrypto.so.3", NULL};
tug_lazylib tug_libcrypto = {.sonames = crypto_sonames, .syms = crypto_syms};

#define LOADED tug_lazylib_ready(&tug_libcrypto)
#define CALL_OR(fail, name, ...) TUG_LAZY_CALL_OR(&tug_libcrypto, fail, name, __VA_ARGS__)

EVP_MD_CTX *EVP_MD_CTX_new(void)
{
    return CALL_OR(NULL, EVP_MD_CTX_new);
}

void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
    if (LOADED)
        p_EVP_MD_CTX_free(ctx);
}

const EVP_MD *EVP_sha256(void)
{
    return CALL_OR(NULL, EVP_sha256);
}

int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
{
    return CALL_OR(0, EVP_DigestInit_ex, ctx, type, impl);
}

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
    return CALL_OR(0, EVP_DigestUpdate, ctx, d, cnt);
}

int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
    return CALL_OR(0, EVP_DigestFinal_ex, ctx, md, s);
}
