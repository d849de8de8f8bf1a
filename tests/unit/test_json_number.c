/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The shortest round-trip number printer of the schedule JSON (optimizer/src/shortest_double.c):
 * exact texts for edge cases (zeros, subnormals, the extremes, integers, 0.1), then random doubles
 * of every exponent: each text reads back as the same double, has no more significant digits
 * than the shortest %.Ng that does, and no decimal with one digit fewer reads back.
 */
#include <check.h>
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "optimizer_internal.h"
#include "shortest_double.h"

static void expect(double v, const char *want)
{
    char buf[64];
    int n = gridems__format_double(buf, sizeof buf, v);
    ck_assert_msg(strcmp(buf, want) == 0, "%.17g printed as \"%s\", want \"%s\"", v, buf, want);
    ck_assert_int_eq(n, (int)strlen(want));
}

START_TEST(edge_cases_print_exactly)
{
    expect(0.0, "0");
    expect(-0.0, "0");
    expect(0.1, "0.1");
    expect(-0.1, "-0.1");
    expect(0.3, "0.3");
    expect(0.1 + 0.2, "0.30000000000000004");
    expect(1.0 / 3.0, "0.3333333333333333");
    expect(2.0 / 3.0, "0.6666666666666666");
    expect(1.5, "1.5");
    expect(123456.0, "123456");
    expect(-42.0, "-42");
    expect(1e15, "1000000000000000");
    expect(9007199254740992.0, "9007199254740992");   /* 2^53 */
    expect(9007199254740994.0, "9007199254740994");   /* 2^53 + 2 */
    expect(18014398509481984.0, "18014398509481984"); /* 2^54, past the integer fast path */
    expect(1e20, "100000000000000000000");
    expect(1e21, "1e+21");
    expect(1e308, "1e+308");
    expect(-1e308, "-1e+308");
    expect(DBL_MAX, "1.7976931348623157e+308");
    expect(DBL_MIN, "2.2250738585072014e-308");
    expect(5e-324, "5e-324"); /* the smallest subnormal */
    expect(1e-323, "1e-323");
    expect(2.2250738585072009e-308, "2.225073858507201e-308"); /* the largest subnormal */
    expect(1e-7, "1e-7");
    expect(1.5e-6, "0.0000015");
    expect(1e-6, "0.000001");
    expect(123.456, "123.456");
    expect(1497.3684210526317, "1497.3684210526317");
    expect(5e-5, "0.00005");
    expect(9.5367431640625e-07, "9.5367431640625e-7"); /* 2^-20 */
    expect(HUGE_VAL, "null");
    expect(NAN, "null");
    /* Truncated like snprintf when the buffer is short, with the whole length returned. */
    char small[4];
    ck_assert_int_eq(gridems__format_double(small, sizeof small, 123456.0), 6);
    ck_assert_str_eq(small, "123");
}
END_TEST

/* Significant digits of a printed number: no sign, point, exponent, or leading and trailing
 * zeros. */
static int significant_digits(const char *text)
{
    char digits[64];
    int n = 0;
    for (const char *p = text; *p != '\0' && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits[n++] = *p;
        }
    }
    int start = 0;
    while (start < n && digits[start] == '0') {
        start++;
    }
    while (n > start && digits[n - 1] == '0') {
        n--;
    }
    return n - start;
}

/* The fewest %.Ng digits that read back as v. */
static int printf_shortest(double v)
{
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v) {
            return p;
        }
    }
    return 99;
}

/* Whether some decimal of p significant digits reads back as v: the candidates are the one
 * %.*e rounds to and its two neighbours at that last digit. */
static bool fewer_digits_read_back(double v, int p)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*e", p - 1, fabs(v));
    char *e = strchr(buf, 'e');
    int exponent = atoi(e + 1) - (p - 1);
    long long mantissa = 0;
    for (char *c = buf; c < e; c++) {
        if (*c >= '0' && *c <= '9') {
            mantissa = mantissa * 10 + (*c - '0');
        }
    }
    for (long long m = mantissa - 1; m <= mantissa + 1; m++) {
        snprintf(buf, sizeof buf, "%llde%d", m, exponent);
        if (m > 0 && strtod(buf, NULL) == fabs(v)) {
            return true;
        }
    }
    return false;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_round_trip(double v)
{
    char buf[GRIDEMS_SHORTEST_DOUBLE_MAX];
    int n = gridems__shortest_double(buf, v);
    ck_assert_int_lt(n, GRIDEMS_SHORTEST_DOUBLE_MAX);
    ck_assert_int_eq(n, (int)strlen(buf));
    char *end = NULL;
    double back = strtod(buf, &end);
    ck_assert_msg(*end == '\0' && back == v && signbit(back) == signbit(v),
                  "%.17g printed as \"%s\" reads back as %.17g", v, buf, back);
    int digits = significant_digits(buf);
    ck_assert_msg(digits <= printf_shortest(v), "%.17g printed as \"%s\": %%.%dg reads back", v,
                  buf, printf_shortest(v));
    ck_assert_msg(digits == 1 || !fewer_digits_read_back(v, digits - 1),
                  "%.17g printed as \"%s\", but %d digits would do", v, buf, digits - 1);
}

START_TEST(random_doubles_round_trip_with_fewest_digits)
{
    int checked = 0;
    /* Every bit pattern that is a finite double: all exponents, subnormals included. */
    while (checked < 60000) {
        uint64_t bits = next_random();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v) || v == 0.0) {
            continue;
        }
        check_round_trip(v);
        checked++;
    }
    /* Subnormals and the edges of the exponent range, densely. */
    for (int i = 0; i < 5000; i++) {
        uint64_t bits = next_random() & 0x000FFFFFFFFFFFFFULL; /* exponent 0: subnormal */
        double v;
        memcpy(&v, &bits, sizeof v);
        if (v != 0.0) {
            check_round_trip(v);
        }
        check_round_trip(ldexp(1.0, -1074 + i % 2098));
        check_round_trip(nextafter(ldexp(1.0, -1022 + i % 2045), 0.0));
    }
    /* What schedules are made of: short decimals, their sums and quotients, powers of two. */
    for (int i = 1; i < 20000; i++) {
        double a = (double)(next_random() % 10000000) / 1000.0;
        check_round_trip(a);
        check_round_trip(a / 7.0);
        check_round_trip(a * 0.95 * 0.25);
        check_round_trip(-a - 0.1);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_number");
    TCase *tc = tcase_create("shortest");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, edge_cases_print_exactly);
    tcase_add_test(tc, random_doubles_round_trip_with_fewest_digits);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
