// ECDSA P-256 verification arithmetic: the field and the scalar ring as four 64-bit limbs in
// Montgomery form, points in Jacobian coordinates, and u1·G + u2·Q by interleaved wNAF
// (width 7 over a table of G computed once, width 5 over a table of Q computed per call).
//
// Verification only: nothing here is secret, so branches on the data are allowed. Every
// function takes fully reduced inputs and returns fully reduced outputs; the special cases of
// addition (an operand at infinity, P + P, P + (-P)) are handled explicitly.
#include "CIntegrity.h"

#include <pthread.h>
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

// MARK: - Points

typedef struct { fe x, y, z; } jacobian;  // z = 0: the point at infinity
typedef struct { fe x, y; } affine;

/// 2·p (dbl-2001-b, a = -3).
static void point_double(jacobian *r, const jacobian *p) {
    fe delta, gamma, beta, alpha, t, u;
    fe_sqr(delta, p->z);
    fe_sqr(gamma, p->y);
    fe_mul(beta, p->x, gamma);
    fe_sub(t, p->x, delta);
    fe_add(u, p->x, delta);
    fe_mul(alpha, t, u);
    fe_add(t, alpha, alpha);
    fe_add(alpha, alpha, t);
    // z3 = (y + z)^2 - gamma - delta
    fe_add(t, p->y, p->z);
    fe_sqr(t, t);
    fe_sub(t, t, gamma);
    fe_sub(r->z, t, delta);
    // x3 = alpha^2 - 8 beta
    fe_add(beta, beta, beta);
    fe_add(beta, beta, beta);  // 4 beta
    fe_sqr(t, alpha);
    fe_sub(t, t, beta);
    fe_sub(r->x, t, beta);
    // y3 = alpha (4 beta - x3) - 8 gamma^2
    fe_sub(u, beta, r->x);
    fe_mul(u, alpha, u);
    fe_sqr(gamma, gamma);
    fe_add(gamma, gamma, gamma);
    fe_add(gamma, gamma, gamma);
    fe_add(gamma, gamma, gamma);
    fe_sub(r->y, u, gamma);
}

/// p + q, both Jacobian (add-1998-cmo-2 with the special cases).
static void point_add(jacobian *r, const jacobian *p, const jacobian *q) {
    if (is_zero(p->z)) { *r = *q; return; }
    if (is_zero(q->z)) { *r = *p; return; }
    fe z1z1, z2z2, u1, u2, s1, s2, h, rr, hh, hhh, v, t;
    fe_sqr(z1z1, p->z);
    fe_sqr(z2z2, q->z);
    fe_mul(u1, p->x, z2z2);
    fe_mul(u2, q->x, z1z1);
    fe_mul(s1, p->y, q->z);
    fe_mul(s1, s1, z2z2);
    fe_mul(s2, q->y, p->z);
    fe_mul(s2, s2, z1z1);
    fe_sub(h, u2, u1);
    fe_sub(rr, s2, s1);
    if (is_zero(h)) {
        if (is_zero(rr)) { point_double(r, p); return; }
        memset(r, 0, sizeof *r);
        return;
    }
    fe_sqr(hh, h);
    fe_mul(hhh, h, hh);
    fe_mul(v, u1, hh);
    fe z3;
    fe_mul(z3, p->z, q->z);
    fe_mul(r->z, z3, h);
    fe_sqr(t, rr);
    fe_sub(t, t, hhh);
    fe_sub(t, t, v);
    fe_sub(r->x, t, v);
    fe_sub(t, v, r->x);
    fe_mul(t, rr, t);
    fe_mul(s1, s1, hhh);
    fe_sub(r->y, t, s1);
}

/// p + q with q affine (and never infinity).
static void point_add_affine(jacobian *r, const jacobian *p, const affine *q) {
    if (is_zero(p->z)) {
        memcpy(r->x, q->x, 32);
        memcpy(r->y, q->y, 32);
        memcpy(r->z, P_ONE, 32);
        return;
    }
    fe z1z1, u2, s2, h, rr, hh, hhh, v, t;
    fe_sqr(z1z1, p->z);
    fe_mul(u2, q->x, z1z1);
    fe_mul(s2, q->y, p->z);
    fe_mul(s2, s2, z1z1);
    fe_sub(h, u2, p->x);
    fe_sub(rr, s2, p->y);
    if (is_zero(h)) {
        if (is_zero(rr)) { point_double(r, p); return; }
        memset(r, 0, sizeof *r);
        return;
    }
    fe_sqr(hh, h);
    fe_mul(hhh, h, hh);
    fe_mul(v, p->x, hh);
    fe y1hhh;
    fe_mul(y1hhh, p->y, hhh);
    fe_mul(r->z, p->z, h);
    fe_sqr(t, rr);
    fe_sub(t, t, hhh);
    fe_sub(t, t, v);
    fe_sub(r->x, t, v);
    fe_sub(t, v, r->x);
    fe_mul(t, rr, t);
    fe_sub(r->y, t, y1hhh);
}

static void point_negate(jacobian *r, const jacobian *p) {
    *r = *p;
    if (!is_zero(p->y)) sub4(r->y, P, p->y);
}

static void affine_negate(affine *r, const affine *p) {
    *r = *p;
    if (!is_zero(p->y)) sub4(r->y, P, p->y);
}

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

// MARK: - wNAF

/// Width-w NAF digits of k (k < 2^256), least significant first; returns the digit count.
static int wnaf(int8_t digits[258], const uint64_t k[4], int w) {
    uint64_t x[5] = {k[0], k[1], k[2], k[3], 0};
    int count = 0;
    memset(digits, 0, 258);
    const int64_t window = 1 << w, half = 1 << (w - 1);
    while ((x[0] | x[1] | x[2] | x[3] | x[4]) != 0) {
        int64_t d = 0;
        if (x[0] & 1) {
            d = (int64_t)(x[0] & (uint64_t)(window - 1));
            if (d >= half) d -= window;
            // x -= d
            if (d > 0) {
                u128 t = (u128)x[0] - (uint64_t)d;
                x[0] = (uint64_t)t;
                uint64_t borrow = (uint64_t)(t >> 64) & 1;
                for (int i = 1; i < 5 && borrow; i++) { borrow = x[i] == 0; x[i]--; }
            } else {
                u128 t = (u128)x[0] + (uint64_t)(-d);
                x[0] = (uint64_t)t;
                uint64_t carry = (uint64_t)(t >> 64);
                for (int i = 1; i < 5 && carry; i++) { x[i]++; carry = x[i] == 0; }
            }
        }
        digits[count++] = (int8_t)d;
        for (int i = 0; i < 4; i++) x[i] = (x[i] >> 1) | (x[i + 1] << 63);
        x[4] >>= 1;
    }
    return count;
}

// MARK: - The table of G

#define G_WINDOW 7
#define G_TABLE (1 << (G_WINDOW - 2))
static affine g_table[G_TABLE];  // G, 3G, 5G, …, (2·G_TABLE - 1)G
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void to_affine(affine *r, const jacobian *p) {
    fe zi, zi2, zi3;
    fe_invert(zi, p->z);
    fe_sqr(zi2, zi);
    fe_mul(zi3, zi2, zi);
    fe_mul(r->x, p->x, zi2);
    fe_mul(r->y, p->y, zi3);
}

static void make_g_table(void) {
    jacobian g, g2, acc;
    from_bytes(g.x, G_X);
    from_bytes(g.y, G_Y);
    fe_mul(g.x, g.x, P_R2);
    fe_mul(g.y, g.y, P_R2);
    memcpy(g.z, P_ONE, 32);
    point_double(&g2, &g);
    acc = g;
    for (int i = 0; i < G_TABLE; i++) {
        to_affine(&g_table[i], &acc);
        point_add(&acc, &acc, &g2);
    }
}

// MARK: - API

static int point_from_bytes(fe x, fe y, const uint8_t xb[32], const uint8_t yb[32]) {
    from_bytes(x, xb);
    from_bytes(y, yb);
    if (compare(x, P) >= 0 || compare(y, P) >= 0) return 0;
    fe_mul(x, x, P_R2);
    fe_mul(y, y, P_R2);
    return 1;
}

/// y^2 for x on the curve: x^3 - 3x + b (Montgomery form).
static void curve_rhs(fe r, const fe x) {
    fe t, x3;
    fe_sqr(t, x);
    fe_mul(x3, t, x);
    fe_add(t, x, x);
    fe_add(t, t, x);
    fe_sub(x3, x3, t);
    fe_add(r, x3, B_MONT);
}

int ad_p256_is_on_curve(const uint8_t x_bytes[32], const uint8_t y_bytes[32]) {
    fe x, y, lhs, rhs;
    if (!point_from_bytes(x, y, x_bytes, y_bytes)) return 0;
    fe_sqr(lhs, y);
    curve_rhs(rhs, x);
    return compare(lhs, rhs) == 0;
}

int ad_p256_decompress(const uint8_t x_bytes[32], int y_is_odd, uint8_t y_bytes[32]) {
    // p ≡ 3 (mod 4): a square root of a is a^((p+1)/4).
    static const uint64_t p_plus_1_over_4[4] = {0x0000000000000000ULL, 0x0000000040000000ULL, 0x4000000000000000ULL, 0x3fffffffc0000000ULL};
    fe x, rhs, y, check;
    from_bytes(x, x_bytes);
    if (compare(x, P) >= 0) return 0;
    fe_mul(x, x, P_R2);
    curve_rhs(rhs, x);
    memcpy(y, P_ONE, 32);
    for (int i = 255; i >= 0; i--) {
        fe_sqr(y, y);
        if ((p_plus_1_over_4[i / 64] >> (i % 64)) & 1) fe_mul(y, y, rhs);
    }
    fe_sqr(check, y);
    if (compare(check, rhs) != 0) return 0;
    static const uint64_t one[4] = {1, 0, 0, 0};
    fe_mul(y, y, one);  // out of Montgomery form
    if ((int)(y[0] & 1) != (y_is_odd != 0)) {
        if (is_zero(y)) return 0;
        sub4(y, P, y);
    }
    to_bytes(y_bytes, y);
    return 1;
}

int ad_p256_verify(const uint8_t qx[32], const uint8_t qy[32], const uint8_t hash[32], const uint8_t r_bytes[32], const uint8_t s_bytes[32]) {
    uint64_t r[4], s[4], e[4];
    from_bytes(r, r_bytes);
    from_bytes(s, s_bytes);
    from_bytes(e, hash);
    if (is_zero(r) || is_zero(s) || compare(r, N) >= 0 || compare(s, N) >= 0) return 0;
    if (compare(e, N) >= 0) sub4(e, e, N);

    jacobian q;
    if (!point_from_bytes(q.x, q.y, qx, qy)) return 0;
    memcpy(q.z, P_ONE, 32);
    {
        fe lhs, rhs;
        fe_sqr(lhs, q.y);
        curve_rhs(rhs, q.x);
        if (compare(lhs, rhs) != 0) return 0;
    }
    pthread_once(&g_once, make_g_table);

    // w = s^-1 mod n; u1 = e·w and u2 = r·w, each a Montgomery product (which divides by R)
    // followed by one with R^2 mod n (which multiplies by R).
    uint64_t w[4], u1[4], u2[4];
    scalar_invert(w, s);
    mont_mul(u1, e, w, N, N0_N);
    mont_mul(u1, u1, N_R2, N, N0_N);
    mont_mul(u2, r, w, N, N0_N);
    mont_mul(u2, u2, N_R2, N, N0_N);

    // Odd multiples of Q: Q, 3Q, …, 15Q.
    jacobian q_table[8], q2;
    q_table[0] = q;
    point_double(&q2, &q);
    for (int i = 1; i < 8; i++) point_add(&q_table[i], &q_table[i - 1], &q2);

    int8_t d1[258], d2[258];
    int n1 = wnaf(d1, u1, G_WINDOW), n2 = wnaf(d2, u2, 5);
    int top = n1 > n2 ? n1 : n2;
    jacobian acc;
    memset(&acc, 0, sizeof acc);
    for (int i = top - 1; i >= 0; i--) {
        point_double(&acc, &acc);
        if (d2[i] > 0) {
            point_add(&acc, &acc, &q_table[d2[i] / 2]);
        } else if (d2[i] < 0) {
            jacobian neg;
            point_negate(&neg, &q_table[-d2[i] / 2]);
            point_add(&acc, &acc, &neg);
        }
        if (d1[i] > 0) {
            point_add_affine(&acc, &acc, &g_table[d1[i] / 2]);
        } else if (d1[i] < 0) {
            affine neg;
            affine_negate(&neg, &g_table[-d1[i] / 2]);
            point_add_affine(&acc, &acc, &neg);
        }
    }
    if (is_zero(acc.z)) return 0;

    // x(acc) mod n == r, without an inversion: X == r·Z^2, or (r + n)·Z^2 when r + n < p.
    fe z2, candidate, t;
    fe_sqr(z2, acc.z);
    fe_mul(candidate, r, P_R2);
    fe_mul(t, candidate, z2);
    if (compare(t, acc.x) == 0) return 1;
    uint64_t rn[4];
    if (add4(rn, r, N) == 0 && compare(rn, P) < 0) {
        fe_mul(candidate, rn, P_R2);
        fe_mul(t, candidate, z2);
        if (compare(t, acc.x) == 0) return 1;
    }
    return 0;
}
