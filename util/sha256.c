/* util/sha256.c - see sha256.h. A plain, table-driven FIPS 180-4 SHA-256. */
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
        return (x >> n) | (x << (32 - n));
}

static void block(uint32_t h[8], const uint8_t p[64])
{
        uint32_t w[64], a, b, c, d, e, f, g, hh;
        unsigned i;

        for (i = 0; i < 16; i++)
                w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
        for (i = 16; i < 64; i++) {
                uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (i = 0; i < 64; i++) {
                uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
                              k[i] + w[i];
                uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

                hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void gv_sha256(const void *data, size_t len, uint8_t out[GV_SHA256_LEN])
{
        uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        const uint8_t *p = data;
        uint8_t tail[128];
        size_t rest = len % 64, full = len - rest, tn;
        uint64_t bits = (uint64_t)len * 8;

        for (size_t off = 0; off < full; off += 64)
                block(h, p + off);
        memset(tail, 0, sizeof(tail));
        if (rest)
                memcpy(tail, p + full, rest);
        tail[rest] = 0x80;
        tn = rest + 1 + 8 <= 64 ? 64 : 128;
        for (unsigned i = 0; i < 8; i++)
                tail[tn - 1 - i] = (uint8_t)(bits >> (8 * i));
        block(h, tail);
        if (tn == 128)
                block(h, tail + 64);
        for (unsigned i = 0; i < 8; i++) {
                out[4 * i] = (uint8_t)(h[i] >> 24);
                out[4 * i + 1] = (uint8_t)(h[i] >> 16);
                out[4 * i + 2] = (uint8_t)(h[i] >> 8);
                out[4 * i + 3] = (uint8_t)h[i];
        }
}

void gv_sha256_hex(const void *data, size_t len, char out[2 * GV_SHA256_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t d[GV_SHA256_LEN];

        gv_sha256(data, len, d);
        for (unsigned i = 0; i < GV_SHA256_LEN; i++) {
                out[2 * i] = hex[d[i] >> 4];
                out[2 * i + 1] = hex[d[i] & 15];
        }
        out[2 * GV_SHA256_LEN] = '\0';
}

enum gv_err gv_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                               char out[2 * GV_SHA256_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t key_pad[64] = { 0 }, inner[GV_SHA256_LEN], mac[GV_SHA256_LEN];
        uint8_t outer[64 + GV_SHA256_LEN];
        uint8_t *msg;
        size_t i;

        if (len > SIZE_MAX - 64)
                return GV_ENOMEM;
        msg = malloc(64 + len);
        if (!msg)
                return GV_ENOMEM;
        if (key_len > 64)
                gv_sha256(key, key_len, key_pad);
        else if (key_len)
                memcpy(key_pad, key, key_len);
        for (i = 0; i < 64; i++) {
                msg[i] = key_pad[i] ^ 0x36;
                outer[i] = key_pad[i] ^ 0x5c;
        }
        if (len)
                memcpy(msg + 64, data, len);
        gv_sha256(msg, 64 + len, inner);
        memcpy(outer + 64, inner, GV_SHA256_LEN);
        gv_sha256(outer, sizeof(outer), mac);
        for (i = 0; i < GV_SHA256_LEN; i++) {
                out[2 * i] = hex[mac[i] >> 4];
                out[2 * i + 1] = hex[mac[i] & 15];
        }
        out[2 * GV_SHA256_LEN] = '\0';
        explicit_bzero(key_pad, sizeof(key_pad));
        explicit_bzero(msg, 64);
        explicit_bzero(outer, 64);
        free(msg);
        return GV_OK;
}
