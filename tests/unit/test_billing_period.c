/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for core/src/planning/billing_period.h: the period keys and bounds of a time. */
#include <check.h>
#include <stdint.h>

#include "billing_period.h"
#include "check_run.h"
#include "gridems/errors.h"
#include "timeutil.h"

static int64_t iso(const char *text)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso(text, &ms, NULL, NULL, 0), 0);
    return ms;
}

START_TEST(billing_period_keys)
{
    char key[GRIDEMS_BILLING_KEY_MAX];
    int64_t start = 0, end = 0;
    /* 15:30Z on 31 May is 00:30 on 1 June in Japan. */
    int64_t t = iso("2026-05-31T15:30:00Z");
    ck_assert_int_eq(
        gridems_billing_period(t, GRIDEMS_BILLING_MONTH, 540, key, sizeof key, &start, &end), 0);
    ck_assert_str_eq(key, "month:2026-06");
    ck_assert_int_eq(start, iso("2026-06-01T00:00:00+09:00"));
    ck_assert_int_eq(end, iso("2026-07-01T00:00:00+09:00"));
    ck_assert_int_eq(
        gridems_billing_period(t, GRIDEMS_BILLING_DAY, 540, key, sizeof key, &start, &end), 0);
    ck_assert_str_eq(key, "day:2026-06-01");
    ck_assert_int_eq(start, iso("2026-06-01T00:00:00+09:00"));
    ck_assert_int_eq(end, iso("2026-06-02T00:00:00+09:00"));
    /* In UTC it is still May. */
    ck_assert_int_eq(
        gridems_billing_period(t, GRIDEMS_BILLING_MONTH, 0, key, sizeof key, NULL, NULL), 0);
    ck_assert_str_eq(key, "month:2026-05");
    /* A negative offset, across a year end. */
    ck_assert_int_eq(gridems_billing_period(iso("2027-01-01T03:00:00Z"), GRIDEMS_BILLING_MONTH,
                                            -300, key, sizeof key, &start, &end),
                     0);
    ck_assert_str_eq(key, "month:2026-12");
    ck_assert_int_eq(start, iso("2026-12-01T00:00:00-05:00"));
    ck_assert_int_eq(end, iso("2027-01-01T00:00:00-05:00"));
    /* A leap day; the exact start of a day belongs to it. */
    ck_assert_int_eq(gridems_billing_period(iso("2024-02-29T00:00:00+05:30"), GRIDEMS_BILLING_DAY,
                                            330, key, sizeof key, &start, NULL),
                     0);
    ck_assert_str_eq(key, "day:2024-02-29");
    ck_assert_int_eq(start, iso("2024-02-29T00:00:00+05:30"));
    /* Before the epoch. */
    ck_assert_int_eq(gridems_billing_period(iso("1969-12-31T23:59:59Z"), GRIDEMS_BILLING_DAY, 0,
                                            key, sizeof key, NULL, NULL),
                     0);
    ck_assert_str_eq(key, "day:1969-12-31");
    ck_assert_int_eq(
        gridems_billing_period(t, GRIDEMS_BILLING_NONE, 540, key, sizeof key, &start, &end), 0);
    ck_assert_str_eq(key, "all");
    ck_assert_int_eq(start, INT64_MIN);
    ck_assert_int_eq(end, INT64_MAX);
    /* Bad input. */
    ck_assert_int_eq(
        gridems_billing_period(t, GRIDEMS_BILLING_MONTH, 2000, key, sizeof key, NULL, NULL),
        GRIDEMS_EINVAL);
    ck_assert_int_eq(
        gridems_billing_period(t, (gridems_billing_period_t)9, 0, key, sizeof key, NULL, NULL),
        GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_billing_period(t, GRIDEMS_BILLING_MONTH, 0, key, 5, NULL, NULL),
                     GRIDEMS_EINVAL);
}
END_TEST

static Suite *billing_period_suite(void)
{
    Suite *s = suite_create("billing_period");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, billing_period_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(billing_period_suite());
}
