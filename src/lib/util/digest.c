#include "digest.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct tug_sha256 {
    EVP_MD_CTX *ctx;
};

tug_sha256 *tug_sha256_new(void)
{
    tug_sha256 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        tug_sha256_free(h);
        return NULL;
    }
    return h;
}

void tug_sha256_update(tug_sha256 *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void tug_sha256_final(tug_sha256 *h, char out[TUG_DIGEST_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_DigestFinal_ex(h->ctx, md, &n);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[TUG_DIGEST_LEN] = '\0';
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void tug_sha256_free(tug_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void tug_sha256_freep(tug_sha256 **h)
{
    tug_sha256_free(*h);
}

void tug_sha256_buf(const void *data, size_t len, char out[TUG_DIGEST_LEN + 1])
{
    cleanup_sha256 tug_sha256 *h = tug_sha256_new();
    tug_sha256_update(h, data, len);
    tug_sha256_final(h, out);
}

bool tug_digest_valid(const char *d)
{
    if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != TUG_DIGEST_LEN)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

const char *tug_digest_hex(const char *digest)
{
    const char *c = strchr(digest, ':');
    return c ? c + 1 : digest;
}
