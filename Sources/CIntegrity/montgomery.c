// Modular exponentiation with Montgomery multiplication over 64-bit limbs, for RSA public-key
// operations (verification only: the exponent is public, so branches on it are allowed).
#include "CIntegrity.h"

#include <string.h>

typedef unsigned __int128 u128;

/// (x2:x1:x0) += a·b
#define ACCUMULATE(x0, x1, x2, a, b)                                         \
    do {                                                                     \
        u128 product_ = (u128)(a) * (b);                                     \
        u128 sum_ = (u128)x0 + (uint64_t)product_;                           \
        x0 = (uint64_t)sum_;                                                 \
        sum_ = (u128)x1 + (uint64_t)(product_ >> 64) + (uint64_t)(sum_ >> 64); \
        x1 = (uint64_t)sum_;                                                 \
        x2 += (uint64_t)(sum_ >> 64);                                        \
    } while (0)
#define MULTIPLY_ADD(a, b) ACCUMULATE(t0, t1, t2, a, b)

/// r = (top:u) mod n for (top:u) < 2n.
static void reduce_once(uint64_t *r, const uint64_t *u, uint64_t top, const uint64_t *n, size_t count) {
    uint64_t v[AD_MONTGOMERY_MAX_LIMBS];
    uint64_t borrow = 0;
    for (size_t j = 0; j < count; j++) {
        u128 d = (u128)u[j] - n[j] - borrow;
        v[j] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    memcpy(r, top || !borrow ? v : u, count * sizeof(uint64_t));
}

/// r = a·b·2^(-64·count) mod n, for a, b < n. r may alias a or b.
///
/// Product scanning with the reduction interleaved column by column (Koç, Acar and Kaliski's
/// "FIPS" method): each column's products go into a three-word accumulator, so the carries
/// do not form one long chain through memory as in operand scanning. A column holds at most
/// 2·count products below 2^128, so three words hold it for count ≤ 2^63.
static void mont_mul(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *n, size_t count, uint64_t n0) {
    uint64_t m[AD_MONTGOMERY_MAX_LIMBS], u[AD_MONTGOMERY_MAX_LIMBS];
    uint64_t t0 = 0, t1 = 0, t2 = 0;
    for (size_t i = 0; i < count; i++) {
        _Pragma("clang loop unroll_count(4)")
        for (size_t j = 0; j < i; j++) {
            MULTIPLY_ADD(a[j], b[i - j]);
            MULTIPLY_ADD(m[j], n[i - j]);
        }
        MULTIPLY_ADD(a[i], b[0]);
        m[i] = t0 * n0;
        MULTIPLY_ADD(m[i], n[0]);  // clears t0
        t0 = t1; t1 = t2; t2 = 0;
    }
    for (size_t i = count; i < 2 * count; i++) {
        _Pragma("clang loop unroll_count(4)")
        for (size_t j = i - count + 1; j < count; j++) {
            MULTIPLY_ADD(a[j], b[i - j]);
            MULTIPLY_ADD(m[j], n[i - j]);
        }
        u[i - count] = t0;
        t0 = t1; t1 = t2; t2 = 0;
    }
    reduce_once(r, u, t0, n, count);
}

/// r = a²·2^(-64·count) mod n, for a < n: as `mont_mul`, with each product a[i]·a[j], i ≠ j,
/// computed once and doubled (a quarter fewer products).
static void mont_sqr(uint64_t *r, const uint64_t *a, const uint64_t *n, size_t count, uint64_t n0) {
    uint64_t m[AD_MONTGOMERY_MAX_LIMBS], u[AD_MONTGOMERY_MAX_LIMBS];
    uint64_t t0 = 0, t1 = 0, t2 = 0;
    for (size_t i = 0; i < 2 * count; i++) {
        size_t low = i < count ? 0 : i - count + 1;
        uint64_t s0 = 0, s1 = 0, s2 = 0;
        _Pragma("clang loop unroll_count(4)")
        for (size_t j = low; j < (i + 1) / 2; j++) ACCUMULATE(s0, s1, s2, a[j], a[i - j]);
        // t += 2·s
        t2 += (s2 << 1) | (s1 >> 63);
        s1 = (s1 << 1) | (s0 >> 63);
        s0 <<= 1;
        u128 sum = (u128)t0 + s0;
        t0 = (uint64_t)sum;
        sum = (u128)t1 + s1 + (uint64_t)(sum >> 64);
        t1 = (uint64_t)sum;
        t2 += (uint64_t)(sum >> 64);
        if ((i & 1) == 0 && i / 2 < count) MULTIPLY_ADD(a[i / 2], a[i / 2]);
        size_t high = i < count ? i : count;
        _Pragma("clang loop unroll_count(4)")
        for (size_t j = low; j < high; j++) MULTIPLY_ADD(m[j], n[i - j]);
        if (i < count) {
            m[i] = t0 * n0;
            MULTIPLY_ADD(m[i], n[0]);  // clears t0
        } else {
            u[i - count] = t0;
        }
        t0 = t1; t1 = t2; t2 = 0;
    }
    reduce_once(r, u, t0, n, count);
}

uint64_t ad_montgomery_setup(const uint64_t *n, size_t count, uint64_t *r2) {
    if (count == 0 || count > AD_MONTGOMERY_MAX_LIMBS || (n[0] & 1) == 0 || n[count - 1] == 0) return 0;
    // n0 = -n^-1 mod 2^64 by Newton's iteration (each step doubles the correct low bits).
    uint64_t inverse = n[0];
    for (int i = 0; i < 6; i++) inverse *= 2 - n[0] * inverse;
    uint64_t n0 = (uint64_t)0 - inverse;
    // r2 = 2^(128·count) mod n: start from 1 and double 128·count times, reducing each time.
    memset(r2, 0, count * sizeof(uint64_t));
    r2[0] = 1;
    for (size_t step = 0; step < 128 * count; step++) {
        uint64_t top = r2[count - 1] >> 63;
        for (size_t j = count - 1; j > 0; j--) r2[j] = (r2[j] << 1) | (r2[j - 1] >> 63);
        r2[0] <<= 1;
        // Subtract n if the doubled value (top:r2) is ≥ n.
        int subtract = top != 0;
        if (!subtract) {
            subtract = 1;
            for (size_t j = count; j-- > 0;) {
                if (r2[j] != n[j]) { subtract = r2[j] > n[j]; break; }
            }
        }
        if (subtract) {
            uint64_t borrow = 0;
            for (size_t j = 0; j < count; j++) {
                u128 d = (u128)r2[j] - n[j] - borrow;
                r2[j] = (uint64_t)d;
                borrow = (uint64_t)(d >> 64) & 1;
            }
        }
    }
    return n0;
}

int ad_montgomery_power(uint64_t *result, const uint64_t *base, const uint8_t *exponent, size_t exponent_count,
                        const uint64_t *n, size_t count, uint64_t n0, const uint64_t *r2) {
    if (count == 0 || count > AD_MONTGOMERY_MAX_LIMBS) return 0;
    // The base must be reduced.
    for (size_t j = count; j-- > 0;) {
        if (base[j] != n[j]) {
            if (base[j] > n[j]) return 0;
            break;
        }
        if (j == 0) return 0;  // base == n
    }
    size_t first = 0;
    while (first < exponent_count && exponent[first] == 0) first++;
    if (first == exponent_count) return 0;  // a zero exponent is not a public key's

    uint64_t a[AD_MONTGOMERY_MAX_LIMBS], x[AD_MONTGOMERY_MAX_LIMBS];
    mont_mul(a, base, r2, n, count, n0);  // base in Montgomery form
    memcpy(x, a, count * sizeof(uint64_t));
    // Left to right; x stays in Montgomery form. The last bit is handled after the loop.
    size_t last = exponent_count - 1;
    int started = 0;
    for (size_t i = first; i < exponent_count; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            if (i == last && bit == 0) break;
            int set = (exponent[i] >> bit) & 1;
            if (!started) {
                if (set) started = 1;  // x = a already holds the leading bit
                continue;
            }
            mont_sqr(x, x, n, count, n0);
            if (set) mont_mul(x, x, a, n, count, n0);
        }
    }
    if (!started) {
        // The exponent is 1: the result is the base itself.
        memcpy(result, base, count * sizeof(uint64_t));
        return 1;
    }
    mont_sqr(x, x, n, count, n0);
    if (exponent[last] & 1) {
        // x·R times the plain base, divided by R: the result, already out of Montgomery form.
        mont_mul(result, x, base, n, count, n0);
    } else {
        uint64_t one[AD_MONTGOMERY_MAX_LIMBS];
        memset(one, 0, count * sizeof(uint64_t));
        one[0] = 1;
        mont_mul(result, x, one, n, count, n0);
    }
    return 1;
}
