// P-256 field and scalar arithmetic for p256.c: four 64-bit limbs, little-endian, in
// Montgomery form (R = 2^256) where noted. Included by p256.c only, so the small helpers stay
// static and inline into the point formulas. Inputs are fully reduced; so are outputs.
#ifndef AUTODEV_P256_ARITHMETIC_H
#define AUTODEV_P256_ARITHMETIC_H

#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef uint64_t fe[4];

// MARK: - Constants

static const uint64_t P[4] = {0xffffffffffffffffULL, 0x00000000ffffffffULL, 0x0000000000000000ULL, 0xffffffff00000001ULL};
static const uint64_t N[4] = {0xf3b9cac2fc632551ULL, 0xbce6faada7179e84ULL, 0xffffffffffffffffULL, 0xffffffff00000000ULL};
static const uint64_t P_R2[4] = {0x0000000000000003ULL, 0xfffffffbffffffffULL, 0xfffffffffffffffeULL, 0x00000004fffffffdULL};
static const uint64_t N_R2[4] = {0x83244c95be79eea2ULL, 0x4699799c49bd6fa6ULL, 0x2845b2392b6bec59ULL, 0x66e12d94f3d95620ULL};
static const uint64_t P_ONE[4] = {0x0000000000000001ULL, 0xffffffff00000000ULL, 0xffffffffffffffffULL, 0x00000000fffffffeULL};
static const uint64_t B_MONT[4] = {0xd89cdf6229c4bddfULL, 0xacf005cd78843090ULL, 0xe5a220abf7212ed6ULL, 0xdc30061d04874834ULL};
static const uint64_t N0_N = 0xccd1c8aaee00bc4fULL;

static const uint8_t G_X[32] = {
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96};
static const uint8_t G_Y[32] = {
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

// MARK: - Four-limb integers

static void from_bytes(uint64_t r[4], const uint8_t b[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) w = (w << 8) | b[(3 - i) * 8 + j];
        r[i] = w;
    }
}

static void to_bytes(uint8_t b[32], const uint64_t a[4]) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) b[(3 - i) * 8 + j] = (uint8_t)(a[i] >> (56 - 8 * j));
}

/// -1, 0, 1 as a <, =, > b.
static int compare(const uint64_t a[4], const uint64_t b[4]) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] < b[i]) return -1;
        if (a[i] > b[i]) return 1;
    }
    return 0;
}

static int is_zero(const uint64_t a[4]) { return (a[0] | a[1] | a[2] | a[3]) == 0; }

/// r = a - b, returning the borrow.
static uint64_t sub4(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - b[i] - borrow;
        r[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    return borrow;
}

/// r = a + b, returning the carry.
static uint64_t add4(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
    uint64_t carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 s = (u128)a[i] + b[i] + carry;
        r[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    return carry;
}

// MARK: - Modular arithmetic (m is P or N)

static inline void mod_add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const uint64_t m[4]) {
    uint64_t t[4];
    uint64_t carry = add4(t, a, b);
    uint64_t u[4];
    uint64_t borrow = sub4(u, t, m);
    if (carry || !borrow) memcpy(r, u, 32); else memcpy(r, t, 32);
}

static inline void mod_sub(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const uint64_t m[4]) {
    uint64_t t[4];
    if (sub4(t, a, b)) add4(t, t, m);
    memcpy(r, t, 32);
}

/// Montgomery product a·b·2^-256 mod m, for a, b < m (CIOS).
static inline void mont_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const uint64_t m[4], uint64_t n0) {
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t bi = b[i];
        u128 c;
        c = (u128)a[0] * bi + t0; t0 = (uint64_t)c;
        c = (u128)a[1] * bi + t1 + (c >> 64); t1 = (uint64_t)c;
        c = (u128)a[2] * bi + t2 + (c >> 64); t2 = (uint64_t)c;
        c = (u128)a[3] * bi + t3 + (c >> 64); t3 = (uint64_t)c;
        c = (u128)t4 + (c >> 64); t4 = (uint64_t)c;
        uint64_t t5 = (uint64_t)(c >> 64);
        uint64_t q = t0 * n0;
        c = (u128)q * m[0] + t0;
        c = (u128)q * m[1] + t1 + (c >> 64); t0 = (uint64_t)c;
        c = (u128)q * m[2] + t2 + (c >> 64); t1 = (uint64_t)c;
        c = (u128)q * m[3] + t3 + (c >> 64); t2 = (uint64_t)c;
        c = (u128)t4 + (c >> 64); t3 = (uint64_t)c;
        t4 = t5 + (uint64_t)(c >> 64);
    }
    uint64_t t[4] = {t0, t1, t2, t3}, u[4];
    uint64_t borrow = sub4(u, t, m);
    if (t4 || !borrow) memcpy(r, u, 32); else memcpy(r, t, 32);
}

/// One Montgomery step on t[I..I+4] (q = t[I]): t += q·p·2^(64·I), the overflow out of t[I+4]
/// kept in `overflow` for the next step.
#define REDUCE_STEP(I)                                                       \
    do {                                                                     \
        uint64_t q_ = t[I];                                                  \
        u128 c_ = (u128)q_ * 0x00000000ffffffffULL + t[I + 1] + q_;          \
        t[I + 1] = (uint64_t)c_;                                             \
        c_ = (u128)t[I + 2] + (uint64_t)(c_ >> 64);                          \
        t[I + 2] = (uint64_t)c_;                                             \
        c_ = (u128)q_ * 0xffffffff00000001ULL + t[I + 3] + (uint64_t)(c_ >> 64); \
        t[I + 3] = (uint64_t)c_;                                             \
        c_ = (u128)t[I + 4] + (uint64_t)(c_ >> 64) + overflow;               \
        t[I + 4] = (uint64_t)c_;                                             \
        overflow = (uint64_t)(c_ >> 64);                                     \
    } while (0)

/// a·b·2^-256 mod p, for a, b < p: the eight-limb product, then four Montgomery steps in
/// which -p^-1 mod 2^64 = 1 (the multiple of p to add is the low limb itself) and p's limbs
/// are constants (the third one 0).
static void fe_mul(fe r, const fe a, const fe b) {
    uint64_t t[8];
    u128 c;
    c = (u128)a[0] * b[0]; t[0] = (uint64_t)c;
    c = (u128)a[1] * b[0] + (uint64_t)(c >> 64); t[1] = (uint64_t)c;
    c = (u128)a[2] * b[0] + (uint64_t)(c >> 64); t[2] = (uint64_t)c;
    c = (u128)a[3] * b[0] + (uint64_t)(c >> 64); t[3] = (uint64_t)c; t[4] = (uint64_t)(c >> 64);
    for (int i = 1; i < 4; i++) {
        c = (u128)a[0] * b[i] + t[i]; t[i] = (uint64_t)c;
        c = (u128)a[1] * b[i] + t[i + 1] + (uint64_t)(c >> 64); t[i + 1] = (uint64_t)c;
        c = (u128)a[2] * b[i] + t[i + 2] + (uint64_t)(c >> 64); t[i + 2] = (uint64_t)c;
        c = (u128)a[3] * b[i] + t[i + 3] + (uint64_t)(c >> 64); t[i + 3] = (uint64_t)c; t[i + 4] = (uint64_t)(c >> 64);
    }
    uint64_t overflow = 0;
    REDUCE_STEP(0);
    REDUCE_STEP(1);
    REDUCE_STEP(2);
    REDUCE_STEP(3);
    uint64_t u[4];
    uint64_t borrow = sub4(u, t + 4, P);
    if (overflow || !borrow) memcpy(r, u, 32); else memcpy(r, t + 4, 32);
}

/// a²·2^-256 mod p, for a < p: the six cross products once, doubled, plus the four squares,
/// then the four Montgomery steps of `fe_mul`.
static void fe_sqr(fe r, const fe a) {
    uint64_t t[8];
    u128 c;
    c = (u128)a[0] * a[1]; t[1] = (uint64_t)c;
    c = (u128)a[0] * a[2] + (uint64_t)(c >> 64); t[2] = (uint64_t)c;
    c = (u128)a[0] * a[3] + (uint64_t)(c >> 64); t[3] = (uint64_t)c; t[4] = (uint64_t)(c >> 64);
    c = (u128)a[1] * a[2] + t[3]; t[3] = (uint64_t)c;
    c = (u128)a[1] * a[3] + t[4] + (uint64_t)(c >> 64); t[4] = (uint64_t)c; t[5] = (uint64_t)(c >> 64);
    c = (u128)a[2] * a[3] + t[5]; t[5] = (uint64_t)c; t[6] = (uint64_t)(c >> 64);
    t[7] = t[6] >> 63;
    t[6] = (t[6] << 1) | (t[5] >> 63);
    t[5] = (t[5] << 1) | (t[4] >> 63);
    t[4] = (t[4] << 1) | (t[3] >> 63);
    t[3] = (t[3] << 1) | (t[2] >> 63);
    t[2] = (t[2] << 1) | (t[1] >> 63);
    t[1] <<= 1;
    u128 square;
    uint64_t carry;
    square = (u128)a[0] * a[0];
    t[0] = (uint64_t)square;
    c = (u128)t[1] + (uint64_t)(square >> 64); t[1] = (uint64_t)c; carry = (uint64_t)(c >> 64);
    for (int i = 1; i < 4; i++) {
        square = (u128)a[i] * a[i];
        c = (u128)t[2 * i] + (uint64_t)square + carry; t[2 * i] = (uint64_t)c;
        c = (u128)t[2 * i + 1] + (uint64_t)(square >> 64) + (uint64_t)(c >> 64); t[2 * i + 1] = (uint64_t)c;
        carry = (uint64_t)(c >> 64);
    }
    uint64_t overflow = 0;
    REDUCE_STEP(0);
    REDUCE_STEP(1);
    REDUCE_STEP(2);
    REDUCE_STEP(3);
    uint64_t u[4];
    uint64_t borrow = sub4(u, t + 4, P);
    if (overflow || !borrow) memcpy(r, u, 32); else memcpy(r, t + 4, 32);
}
static inline void fe_add(fe r, const fe a, const fe b) { mod_add(r, a, b, P); }
static inline void fe_sub(fe r, const fe a, const fe b) { mod_sub(r, a, b, P); }

// MARK: - Inverses

static void fe_invert(fe r, const fe a) {
    static const uint64_t p_minus_2[4] = {0xfffffffffffffffdULL, 0x00000000ffffffffULL, 0x0000000000000000ULL, 0xffffffff00000001ULL};
    // Square and multiply with fe_mul, on the exponent's bits.
    fe x;
    memcpy(x, P_ONE, 32);
    for (int i = 255; i >= 0; i--) {
        fe_sqr(x, x);
        if ((p_minus_2[i / 64] >> (i % 64)) & 1) fe_mul(x, x, a);
    }
    memcpy(r, x, 32);
}

/// x/2 mod n for x < n.
static void halve_mod_n(uint64_t x[4]) {
    uint64_t carry = 0;
    if (x[0] & 1) carry = add4(x, x, N);
    for (int i = 0; i < 3; i++) x[i] = (x[i] >> 1) | (x[i + 1] << 63);
    x[3] = (x[3] >> 1) | (carry << 63);
}

/// a^-1 mod n for 0 < a < n, by the binary extended Euclidean algorithm (variable time: the
/// inputs of verification are public).
static void scalar_invert(uint64_t r[4], const uint64_t a[4]) {
    uint64_t u[4], v[4], x1[4] = {1, 0, 0, 0}, x2[4] = {0, 0, 0, 0};
    static const uint64_t one[4] = {1, 0, 0, 0};
    memcpy(u, a, 32);
    memcpy(v, N, 32);
    while (compare(u, one) != 0 && compare(v, one) != 0) {
        while ((u[0] & 1) == 0) {
            for (int i = 0; i < 3; i++) u[i] = (u[i] >> 1) | (u[i + 1] << 63);
            u[3] >>= 1;
            halve_mod_n(x1);
        }
        while ((v[0] & 1) == 0) {
            for (int i = 0; i < 3; i++) v[i] = (v[i] >> 1) | (v[i + 1] << 63);
            v[3] >>= 1;
            halve_mod_n(x2);
        }
        if (compare(u, v) >= 0) {
            sub4(u, u, v);
            mod_sub(x1, x1, x2, N);
        } else {
            sub4(v, v, u);
            mod_sub(x2, x2, x1, N);
        }
    }
    memcpy(r, compare(u, one) == 0 ? x1 : x2, 32);
}

#endif
