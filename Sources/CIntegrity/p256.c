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

#include "p256_arithmetic.h"

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
