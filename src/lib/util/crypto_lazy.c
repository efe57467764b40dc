/* libcrypto, opened on first use (linking it costs every tug process ~1.3 ms): the functions
 * tug calls, forwarded to the real library. */
#include <openssl/evp.h>

#include "lazylib.h"

static const char *const crypto_sonames[] = {"libcrypto.so.3", NULL};

#define REAL(name) ((__typeof__(&name))tug_lazylib_sym(crypto_sonames, #name))

EVP_MD_CTX *EVP_MD_CTX_new(void)
{
    return REAL(EVP_MD_CTX_new)();
}

void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
    REAL(EVP_MD_CTX_free)(ctx);
}

const EVP_MD *EVP_sha256(void)
{
    return REAL(EVP_sha256)();
}

int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
{
    return REAL(EVP_DigestInit_ex)(ctx, type, impl);
}

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
    return REAL(EVP_DigestUpdate)(ctx, d, cnt);
}

int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
    return REAL(EVP_DigestFinal_ex)(ctx, md, s);
}

int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n)
{
    return REAL(EVP_EncodeBlock)(t, f, n);
}
