/* sha256 digests as the OCI specs write them: "sha256:<64 hex>". */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define TUG_DIGEST_LEN 71 /* "sha256:" + 64 hex */

typedef struct tug_sha256 tug_sha256;

/* A streaming hash (libcrypto, loaded now: NULL and an error when it cannot be). */
tug_sha256 *tug_sha256_new(tug_error **err);
void tug_sha256_update(tug_sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" into out (TUG_DIGEST_LEN + 1 bytes) and reset the state. */
void tug_sha256_final(tug_sha256 *h, char out[TUG_DIGEST_LEN + 1]);
void tug_sha256_free(tug_sha256 *h);
void tug_sha256_freep(tug_sha256 **h);
#define cleanup_sha256 __attribute__((cleanup(tug_sha256_freep)))

void tug_sha256_buf(const void *data, size_t len, char out[TUG_DIGEST_LEN + 1]);
/* True for a well-formed "sha256:<64 lowercase hex>". */
bool tug_digest_valid(const char *digest);
/* The hex part of a digest (after "sha256:"). */
const char *tug_digest_hex(const char *digest);
