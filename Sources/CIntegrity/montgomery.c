// Modular exponentiation with Montgomery multiplication over 64-bit limbs, for RSA public-key
// operations (verification only: the exponent is public, so branches on it are allowed).
#include "CIntegrity.h"

#include <string.h>

typedef unsigned __int128 u128;

/// r = a·b·2^(-64·count) mod n, for a, b < n (CIOS). r may alias a or b.
static void mont_mul(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *n, size_t count, uint64_t n0) {
    uint64_t t[AD_MONTGOMERY_MAX_LIMBS + 2];
    memset(t, 0, (count + 2) * sizeof(uint64_t));
    for (size_t i = 0; i < count; i++) {
        uint64_t bi = b[i];
        uint64_t carry = 0;
        for (size_t j = 0; j < count; j++) {
            u128 c = (u128)a[j] * bi + t[j] + carry;
            t[j] = (uint64_t)c;
            carry = (uint64_t)(c >> 64);
        }
        u128 c = (u128)t[count] + carry;
        t[count] = (uint64_t)c;
        t[count + 1] = (uint64_t)(c >> 64);
        uint64_t q = t[0] * n0;
        c = (u128)q * n[0] + t[0];
        carry = (uint64_t)(c >> 64);
        for (size_t j = 1; j < count; j++) {
            c = (u128)q * n[j] + t[j] + carry;
            t[j - 1] = (uint64_t)c;
            carry = (uint64_t)(c >> 64);
        }
        c = (u128)t[count] + carry;
        t[count - 1] = (uint64_t)c;
        t[count] = t[count + 1] + (uint64_t)(c >> 64);
    }
    // t < 2n: subtract n once if t ≥ n.
    uint64_t u[AD_MONTGOMERY_MAX_LIMBS];
    uint64_t borrow = 0;
    for (size_t j = 0; j < count; j++) {
        u128 d = (u128)t[j] - n[j] - borrow;
        u[j] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    if (t[count] || !borrow) memcpy(r, u, count * sizeof(uint64_t));
    else memcpy(r, t, count * sizeof(uint64_t));
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
    int started = 0;
    for (size_t i = first; i < exponent_count; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            int set = (exponent[i] >> bit) & 1;
            if (!started) {
                if (set) started = 1;  // x = a already holds the leading bit
                continue;
            }
            mont_mul(x, x, x, n, count, n0);
            if (set) mont_mul(x, x, a, n, count, n0);
        }
    }
    uint64_t one[AD_MONTGOMERY_MAX_LIMBS];
    memset(one, 0, count * sizeof(uint64_t));
    one[0] = 1;
    mont_mul(result, x, one, n, count, n0);
    return 1;
}
