/* util/sha256.h - SHA-256 (FIPS 180-4) of a byte string: the identity of a
 * replayed log. Knows nothing else. */
#ifndef GV_SHA256_H
#define GV_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define GV_SHA256_LEN 32

void gv_sha256(const void *data, size_t len, uint8_t out[GV_SHA256_LEN]);
/* The digest as 64 lower-case hex digits and a NUL. */
void gv_sha256_hex(const void *data, size_t len, char out[2 * GV_SHA256_LEN + 1]);

/* HMAC-SHA256 (RFC 2104) of data with key, as 64 lower-case hex digits and
 * a NUL: webhook signatures. GV_ENOMEM is the only failure. */
#include "err.h"
GV_MUST_CHECK enum gv_err gv_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                                             size_t len, char out[2 * GV_SHA256_LEN + 1]);

#endif
