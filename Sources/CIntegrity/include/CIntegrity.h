#ifndef AUTODEV_CINTEGRITY_H
#define AUTODEV_CINTEGRITY_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SHA extensions (and SSSE3/SSE4.1) that `ad_sha256_ni_blocks` needs.
int ad_sha256_ni_available(void);

/// Compresses `block_count` 64-byte blocks into `state` with the SHA-NI instructions.
/// Call only when `ad_sha256_ni_available()` returned 1.
void ad_sha256_ni_blocks(uint32_t state[8], const uint8_t *data, size_t block_count);

/// Compresses `block_count` 128-byte blocks into the SHA-512 `state` (portable C).
void ad_sha512_blocks(uint64_t state[8], const uint8_t *data, size_t block_count);

/// SHA-512 of a stream, hashed on a thread of its own (in the caller when no thread can be made).
typedef struct ad_sha512_worker ad_sha512_worker;

/// A worker for one message; NULL when out of memory.
ad_sha512_worker *ad_sha512_worker_start(void);

/// Adds `count` bytes (copied; waits while the thread is four MiB behind).
void ad_sha512_worker_update(ad_sha512_worker *worker, const uint8_t *data, size_t count);

/// Writes the 64-byte digest and frees the worker.
void ad_sha512_worker_finish(ad_sha512_worker *worker, uint8_t digest[64]);

/// Frees a worker without a digest (stops its thread).
void ad_sha512_worker_free(ad_sha512_worker *worker);

/// 1 when (x, y), 32 bytes each, big-endian, are coordinates below p of a point on P-256.
int ad_p256_is_on_curve(const uint8_t x[32], const uint8_t y[32]);

/// The y of the P-256 point with this x and y's parity; 0 when x ≥ p or x is not on the curve.
int ad_p256_decompress(const uint8_t x[32], int y_is_odd, uint8_t y[32]);

/// 1 when (r, s) is an ECDSA signature of `hash` (a SHA-256 digest) by the public key (qx, qy).
/// Checks 0 < r, s < n and that the key is on the curve; all values are 32 bytes, big-endian.
int ad_p256_verify(const uint8_t qx[32], const uint8_t qy[32], const uint8_t hash[32], const uint8_t r[32], const uint8_t s[32]);

/// The largest modulus `ad_montgomery_power` takes, in 64-bit limbs (8192 bits).
#define AD_MONTGOMERY_MAX_LIMBS 128

/// Prepares an odd modulus of `count` little-endian limbs (top limb non-zero): writes
/// 2^(128·count) mod n to `r2` and returns -n^-1 mod 2^64 (0 when n is unusable).
uint64_t ad_montgomery_setup(const uint64_t *n, size_t count, uint64_t *r2);

/// result = base^exponent mod n (limbs little-endian; the exponent big-endian bytes).
/// Returns 0, writing nothing, when base ≥ n or the exponent is zero.
int ad_montgomery_power(uint64_t *result, const uint64_t *base, const uint8_t *exponent, size_t exponent_count,
                        const uint64_t *n, size_t count, uint64_t n0, const uint64_t *r2);

#include <sys/types.h>
/// getrandom(2): up to `length` random bytes from the kernel; -1 with errno on failure.
ssize_t ad_getrandom(void *buffer, size_t length);
#endif
