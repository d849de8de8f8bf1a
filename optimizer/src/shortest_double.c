/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Shortest round-trip digits of a double (shortest_double.h).
 *
 * A finite v > 0 is f * 2^e with an integer f < 2^53. The doubles next to it are v - ulp_low and
 * v + ulp_high, and strtod returns v for every decimal strictly between the midpoints
 * low = v - ulp_low / 2 and high = v + ulp_high / 2 (and for the midpoints themselves when f is
 * even: round half to even). With everything scaled to integers, v = r / s,
 * high = (r + m_plus) / s and low = (r - m_minus) / s. Digits are generated one at a time from
 * v / 10^k (k chosen so that high < 10^k, the first digit non-zero): each step multiplies r,
 * m_plus and m_minus by 10 and takes the next digit d = r div s, r = r mod s, and stops as soon
 * as the digits so far (rounded down: d; rounded up: d + 1) fall inside (low, high). That is the
 * first, so the shortest, prefix that reads back as v; when both d and d + 1 would do, the
 * nearer one is taken.
 *
 * The integers reach about 2^1080 (5e-324 scaled by 10^323, DBL_MAX's 2^1024), so they are small
 * fixed-size bignums; for the everyday magnitudes of a schedule they are two or three words.
 */
#include "shortest_double.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define BIG_WORDS 40 /* 1280 bits */

typedef struct big_s {
    uint32_t w[BIG_WORDS]; /* little-endian words */
    int n;                 /* words in use; w[n-1] != 0 unless n == 0 */
} big_t;

static void big_set(big_t *b, uint64_t x)
{
    b->n = 0;
    while (x != 0) {
        b->w[b->n++] = (uint32_t)x;
        x >>= 32;
    }
}

static void big_trim(big_t *b)
{
    while (b->n > 0 && b->w[b->n - 1] == 0) {
        b->n--;
    }
}

static void big_mul_small(big_t *b, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t x = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)x;
        carry = x >> 32;
    }
    if (carry != 0) {
        b->w[b->n++] = (uint32_t)carry;
    }
}

static void big_mul_pow10(big_t *b, int k)
{
    static const uint32_t small[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};
    for (; k >= 9; k -= 9) {
        big_mul_small(b, small[9]);
    }
    if (k > 0) {
        big_mul_small(b, small[k]);
    }
}

static void big_shl(big_t *b, int bits)
{
    if (b->n == 0 || bits == 0) {
        return;
    }
    int words = bits / 32, rest = bits % 32;
    if (rest != 0) {
        uint32_t carry = 0;
        for (int i = 0; i < b->n; i++) {
            uint32_t x = b->w[i];
            b->w[i] = (x << rest) | carry;
            carry = x >> (32 - rest);
        }
        if (carry != 0) {
            b->w[b->n++] = carry;
        }
    }
    if (words > 0) {
        memmove(b->w + words, b->w, (size_t)b->n * sizeof b->w[0]);
        memset(b->w, 0, (size_t)words * sizeof b->w[0]);
        b->n += words;
    }
}

static int big_cmp(const big_t *a, const big_t *b)
{
    if (a->n != b->n) {
        return a->n < b->n ? -1 : 1;
    }
    for (int i = a->n - 1; i >= 0; i--) {
        if (a->w[i] != b->w[i]) {
            return a->w[i] < b->w[i] ? -1 : 1;
        }
    }
    return 0;
}

/* out = a + b (out may be a or b). */
static void big_add(big_t *out, const big_t *a, const big_t *b)
{
    int n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        uint64_t x = carry + (i < a->n ? a->w[i] : 0) + (i < b->n ? b->w[i] : 0);
        out->w[i] = (uint32_t)x;
        carry = x >> 32;
    }
    out->n = n;
    if (carry != 0) {
        out->w[out->n++] = (uint32_t)carry;
    }
}

/* a -= b, with a >= b. */
static void big_sub(big_t *a, const big_t *b)
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t x = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
        borrow = x < 0;
        a->w[i] = (uint32_t)(x + (borrow ? ((int64_t)1 << 32) : 0));
    }
    big_trim(a);
}

/* Compare a + b with c. */
static int big_cmp_sum(const big_t *a, const big_t *b, const big_t *c)
{
    big_t sum;
    big_add(&sum, a, b);
    return big_cmp(&sum, c);
}

/*
 * The digits of v > 0 (finite) into digits[], '0'-based characters, and the decimal point
 * position k: v reads back from 0.d1d2...dn * 10^k. Returns n (1..17).
 */
static int shortest_digits(double v, char *digits, int *point)
{
    int bin_exp;
    double m = frexp(v, &bin_exp); /* v = m * 2^bin_exp, 0.5 <= m < 1 */
    uint64_t f;
    int e;
    if (bin_exp < -1021) {
        /* Subnormal: the exponent is stuck at the minimum and f has fewer bits. */
        e = -1074;
        f = (uint64_t)ldexp(v, 1074);
    } else {
        e = bin_exp - 53;
        f = (uint64_t)ldexp(m, 53);
    }
    bool even = (f & 1) == 0;
    /* The gap below is half the gap above at a power of two (except at the bottom). */
    bool narrow_low = f == ((uint64_t)1 << 52) && e > -1074;
    big_t r, s, mp, mm;
    if (e >= 0) {
        big_set(&r, f);
        big_shl(&r, e + 1 + narrow_low);
        big_set(&s, narrow_low ? 4 : 2);
        big_set(&mp, 1);
        big_shl(&mp, e + narrow_low);
        big_set(&mm, 1);
        big_shl(&mm, e);
    } else {
        big_set(&r, f);
        big_shl(&r, 1 + narrow_low);
        big_set(&s, 1);
        big_shl(&s, 1 - e + narrow_low);
        big_set(&mp, narrow_low ? 2 : 1);
        big_set(&mm, 1);
    }
    /* k: an estimate from log10, then made exact. */
    int k = (int)ceil(log10(v) - 1e-10);
    if (k >= 0) {
        big_mul_pow10(&s, k);
    } else {
        big_mul_pow10(&r, -k);
        big_mul_pow10(&mp, -k);
        big_mul_pow10(&mm, -k);
    }
    for (;;) {
        int c = big_cmp_sum(&r, &mp, &s);
        if (even ? c >= 0 : c > 0) {
            big_mul_small(&s, 10); /* high >= 10^k: one more digit before the point */
            k++;
            continue;
        }
        big_t r10 = r, mp10 = mp;
        big_mul_small(&r10, 10);
        big_mul_small(&mp10, 10);
        c = big_cmp_sum(&r10, &mp10, &s);
        if (even ? c < 0 : c <= 0) {
            r = r10; /* high < 10^(k-1): the first digit would be 0 */
            mp = mp10;
            big_mul_small(&mm, 10);
            k--;
            continue;
        }
        break;
    }
    *point = k;
    int n = 0;
    for (;;) {
        big_mul_small(&r, 10);
        big_mul_small(&mp, 10);
        big_mul_small(&mm, 10);
        int d = 0;
        while (big_cmp(&r, &s) >= 0) {
            big_sub(&r, &s);
            d++;
        }
        int c_low = big_cmp(&r, &mm);
        int c_high = big_cmp_sum(&r, &mp, &s);
        bool low_ok = even ? c_low <= 0 : c_low < 0;    /* digits so far, rounded down */
        bool high_ok = even ? c_high >= 0 : c_high > 0; /* rounded up */
        if (!low_ok && !high_ok && n < 20) {            /* 17 at most: a bound for safety */
            digits[n++] = (char)('0' + d);
            continue;
        }
        if (low_ok && high_ok) {
            big_t twice = r;
            big_mul_small(&twice, 2);
            int c = big_cmp(&twice, &s); /* 2r vs s: is v nearer the upper digit? */
            d += c > 0 || (c == 0 && (d & 1));
        } else if (high_ok) {
            d++;
        }
        digits[n++] = (char)('0' + d);
        return n;
    }
}

static int integer_digits(uint64_t x, char *digits)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    for (int i = 0; i < n; i++) {
        digits[i] = tmp[n - 1 - i];
    }
    return n;
}

int gridems__shortest_double(char *buf, double v)
{
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    char *p = buf;
    if (signbit(v)) {
        *p++ = '-';
        v = -v;
    }
    if (v == 0.0) {
        *p++ = '0';
        *p = '\0';
        return (int)(p - buf);
    }
    char digits[24];
    int n, k;
    if (v < 9007199254740992.0 && v == floor(v)) {
        /* An integer below 2^53: its own digits are the shortest (any shorter string is a
         * multiple of a larger power of ten, at least 1 away, beyond the half-ulp <= 0.5). */
        n = k = integer_digits((uint64_t)v, digits);
        while (n > 1 && digits[n - 1] == '0') {
            n--;
        }
    } else {
        n = shortest_digits(v, digits, &k);
    }
    if (n <= k && k <= 21) {
        memcpy(p, digits, (size_t)n); /* an integer: digits, then zeros */
        memset(p + n, '0', (size_t)(k - n));
        p += k;
    } else if (0 < k && k <= 21) {
        memcpy(p, digits, (size_t)k);
        p += k;
        *p++ = '.';
        memcpy(p, digits + k, (size_t)(n - k));
        p += n - k;
    } else if (-6 < k && k <= 0) {
        *p++ = '0';
        *p++ = '.';
        memset(p, '0', (size_t)-k);
        p += -k;
        memcpy(p, digits, (size_t)n);
        p += n;
    } else {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)(n - 1));
            p += n - 1;
        }
        int x = k - 1;
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        x = x < 0 ? -x : x;
        char exp_digits[8];
        int m = integer_digits((uint64_t)x, exp_digits);
        memcpy(p, exp_digits, (size_t)m);
        p += m;
    }
    *p = '\0';
    return (int)(p - buf);
}
