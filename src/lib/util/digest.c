/* sha256 digests. Streams (layers, blobs) go through OpenSSL, whose SHA-NI code hashes a
 * gigabyte a second and which is opened on first use (crypto_lazy.c); the short buffers hashed
 * on every command (store paths, manifests, configs) use the plain FIPS 180-4 rounds below, so
 * that `tug run` and `tug ps` never load libcrypto: linking it costs ~1.3 ms per process and its
 * first digest as much again. */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lazylib.h"

static const char hex_digits[] = "0123456789abcdef";

static void format_digest(const unsigned char md[32], char out[TUG_DIGEST_LEN + 1])
{
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex_digits[md[i] >> 4];
        out[8 + 2 * i] = hex_digits[md[i] & 15];
    }
    out[TUG_DIGEST_LEN] = '\0';
}

struct tug_sha256 {
    EVP_MD_CTX *ctx;
};

tug_sha256 *tug_sha256_new(tug_error **err)
{
    if (tug_lazylib_load(&tug_libcrypto, err) < 0)
        return NULL;
    tug_sha256 *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        tug_error_set(err, ENOMEM, "sha256");
        return NULL;
    }
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        tug_sha256_free(h);
        tug_error_set(err, ENOMEM, "sha256");
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
    EVP_DigestFinal_ex(h->ctx, md, &n);
    format_digest(md, out);
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

/* ---- the one-shot digest of a buffer in memory ---------------------------------------- */

static const uint32_t round_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static inline uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress_block(uint32_t st[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6],
             h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
                      round_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

void tug_sha256_buf(const void *data, size_t len, char out[TUG_DIGEST_LEN + 1])
{
    uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    size_t full = len / 64 * 64;
    for (size_t off = 0; off < full; off += 64)
        compress_block(st, p + off);
    /* the tail, the 0x80 marker and the length in bits fill one or two last blocks */
    unsigned char last[128] = {0};
    size_t rest = len - full;
    if (rest)
        memcpy(last, p + full, rest);
    last[rest] = 0x80;
    size_t nlast = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        last[nlast - 1 - i] = (unsigned char)(bits >> (8 * i));
    compress_block(st, last);
    if (nlast == 128)
        compress_block(st, last + 64);
    unsigned char md[32];
    for (int i = 0; i < 8; i++) {
        md[4 * i] = (unsigned char)(st[i] >> 24);
        md[4 * i + 1] = (unsigned char)(st[i] >> 16);
        md[4 * i + 2] = (unsigned char)(st[i] >> 8);
        md[4 * i + 3] = (unsigned char)st[i];
    }
    format_digest(md, out);
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
