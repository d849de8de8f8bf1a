/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/runtime/timeutil.c: ISO 8601 parsing and formatting, civil dates, grid
 * alignment. Expected epoch values were computed independently with Python's datetime.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "timeutil.h"

#define MAY11_UTC INT64_C(1778457600000) /* 2026-05-11T00:00:00Z */
#define MIN15 (15 * GRIDEMS_TIME_MS_PER_MINUTE)
#define HOUR (60 * GRIDEMS_TIME_MS_PER_MINUTE)

static int64_t parse_ok(const char *text, int *offset)
{
    int64_t ms = 0;
    char err[128] = "";
    int rc = gridems_time_parse_iso(text, &ms, offset, err, sizeof err);
    ck_assert_msg(rc == 0, "parse of \"%s\" failed: %s", text, err);
    return ms;
}

/* Parse must fail with EINVAL, leave the outputs alone, and give a reason containing `needle`. */
static void parse_bad(const char *text, const char *needle)
{
    int64_t ms = 12345;
    int off = 777;
    char err[128] = "";
    int rc = gridems_time_parse_iso(text, &ms, &off, err, sizeof err);
    ck_assert_msg(rc == GRIDEMS_EINVAL, "\"%s\" was accepted", text ? text : "(null)");
    ck_assert_int_eq(ms, 12345);
    ck_assert_int_eq(off, 777);
    ck_assert_msg(strstr(err, needle) != NULL, "reason for \"%s\" is \"%s\", expected \"%s\"",
                  text ? text : "(null)", err, needle);
}

START_TEST(test_parse_zulu_and_offsets)
{
    int off = -1;
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00Z", &off), MAY11_UTC);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00+09:00", &off), MAY11_UTC - 9 * HOUR);
    ck_assert_int_eq(off, 540);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00+0900", &off), MAY11_UTC - 9 * HOUR);
    ck_assert_int_eq(off, 540);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00+09", &off), MAY11_UTC - 9 * HOUR);
    ck_assert_int_eq(parse_ok("2026-05-11T05:30:00+05:30", &off), MAY11_UTC);
    ck_assert_int_eq(off, 330);
    ck_assert_int_eq(parse_ok("2026-05-10T20:30:00-03:30", &off), MAY11_UTC);
    ck_assert_int_eq(off, -210);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00-00:00", &off), MAY11_UTC);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00+00:00", NULL), MAY11_UTC);
    /* Lower-case designators, a space separator and a time without seconds. */
    ck_assert_int_eq(parse_ok("2026-05-11t00:00:00z", NULL), MAY11_UTC);
    ck_assert_int_eq(parse_ok("2026-05-11 09:00:00+09:00", NULL), MAY11_UTC);
    ck_assert_int_eq(parse_ok("2026-05-11T09:00+09:00", NULL), MAY11_UTC);
}
END_TEST

START_TEST(test_parse_fractions)
{
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00.5Z", NULL), MAY11_UTC + 500);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00.05Z", NULL), MAY11_UTC + 50);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00.123Z", NULL), MAY11_UTC + 123);
    /* Beyond milliseconds the digits are truncated, not rounded. */
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00.123999999Z", NULL), MAY11_UTC + 123);
    ck_assert_int_eq(parse_ok("2026-05-11T00:00:00,25+09:00", NULL), MAY11_UTC - 9 * HOUR + 250);
    ck_assert_int_eq(parse_ok("2024-02-29T12:34:56.789Z", NULL), INT64_C(1709210096789));
}
END_TEST

START_TEST(test_parse_calendar)
{
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:00Z", NULL), 0);
    ck_assert_int_eq(parse_ok("1969-12-31T23:59:59Z", NULL), -1000);
    ck_assert_int_eq(parse_ok("2000-03-01T00:00:00Z", NULL), INT64_C(951868800000));
    ck_assert_int_eq(parse_ok("0001-01-01T00:00:00Z", NULL), INT64_C(-62135596800000));
    ck_assert_int_eq(parse_ok("0000-01-01T00:00:00Z", NULL), GRIDEMS_TIME_MIN_MS);
    ck_assert_int_eq(parse_ok("9999-12-31T23:59:59.999Z", NULL), GRIDEMS_TIME_MAX_MS);
    /* 2000 is a leap year (divisible by 400), 1900 is not. */
    parse_ok("2000-02-29T00:00:00Z", NULL);
    parse_bad("1900-02-29T00:00:00Z", "day");
    parse_bad("2023-02-29T00:00:00Z", "day");
    parse_bad("2026-04-31T00:00:00Z", "day");
    parse_bad("2026-01-00T00:00:00Z", "day");
}
END_TEST

START_TEST(test_parse_rejects)
{
    parse_bad("2026-05-11T00:00:00", "missing UTC offset");
    parse_bad("2026-05-11T00:00", "missing UTC offset");
    parse_bad("2026-05-11T00:00:00.5", "missing UTC offset");
    parse_bad("", "empty");
    parse_bad(NULL, "no timestamp");
    parse_bad("2026-05-11", "expected 'T'");
    parse_bad("2026-5-11T00:00:00Z", "YYYY-MM-DD");
    parse_bad("26-05-11T00:00:00Z", "YYYY-MM-DD");
    parse_bad("2026-13-01T00:00:00Z", "month");
    parse_bad("2026-00-01T00:00:00Z", "month");
    parse_bad("2026-05-11T24:00:00Z", "hour");
    parse_bad("2026-05-11T23:60:00Z", "minute");
    parse_bad("2026-05-11T23:59:60Z", "leap second");
    parse_bad("2026-05-11T23:59:61Z", "second");
    parse_bad("2026-05-11T00:00:00.Z", "fraction");
    parse_bad("2026-05-11T00:00:00.1234567891Z", "fraction");
    parse_bad("2026-05-11T00:00:00+19:00", "offset");
    parse_bad("2026-05-11T00:00:00+09:60", "offset");
    parse_bad("2026-05-11T00:00:00+9:00", "offset");
    parse_bad("2026-05-11T00:00:00+09:0", "offset");
    parse_bad("2026-05-11T00:00:00Zjunk", "after");
    parse_bad("2026-05-11T00:00:00+09:00 ", "after");
    parse_bad("2026-05-11T00:00:00 JST", "expected Z");
    parse_bad("2026-05-11T0:00:00Z", "HH:MM");
    parse_bad("2026-05-11T00:00:0Z", "seconds");
    /* A NULL err buffer is allowed. */
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso("bad", &ms, NULL, NULL, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_parse_iso("2026-05-11T00:00:00Z", NULL, NULL, NULL, 0),
                     GRIDEMS_EINVAL);
}
END_TEST

START_TEST(test_format)
{
    char buf[GRIDEMS_TIME_ISO_BUFLEN];
    ck_assert_int_eq(gridems_time_format_iso(0, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
    ck_assert_int_eq(gridems_time_format_iso(MAY11_UTC, 540, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-05-11T09:00:00+09:00");
    ck_assert_int_eq(gridems_time_format_iso(MAY11_UTC, 330, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-05-11T05:30:00+05:30");
    ck_assert_int_eq(gridems_time_format_iso(MAY11_UTC, -210, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-05-10T20:30:00-03:30");
    ck_assert_int_eq(gridems_time_format_iso(MAY11_UTC + 7, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-05-11T00:00:00.007Z");
    ck_assert_int_eq(gridems_time_format_iso(-1, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
    ck_assert_int_eq(gridems_time_format_iso(INT64_C(1709210096789), 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2024-02-29T12:34:56.789Z");
    ck_assert_int_eq(gridems_time_format_iso(GRIDEMS_TIME_MAX_MS, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
    ck_assert_int_eq(gridems_time_format_iso(GRIDEMS_TIME_MIN_MS, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "0000-01-01T00:00:00Z");

    /* Out of range, bad offset, small buffer. */
    ck_assert_int_eq(gridems_time_format_iso(GRIDEMS_TIME_MAX_MS + 1, 0, buf, sizeof buf),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_format_iso(GRIDEMS_TIME_MAX_MS, 60, buf, sizeof buf),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_format_iso(INT64_MAX, 0, buf, sizeof buf), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_format_iso(INT64_MIN, 0, buf, sizeof buf), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_format_iso(0, 19 * 60, buf, sizeof buf), GRIDEMS_EINVAL);
    char small[10] = "xxxxxxxxx";
    ck_assert_int_eq(gridems_time_format_iso(0, 0, small, sizeof small), GRIDEMS_ENOSPC);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(gridems_time_format_iso(0, 0, NULL, 0), GRIDEMS_ENOSPC);
}
END_TEST

START_TEST(test_format_parse_roundtrip)
{
    /* A deterministic walk over 0000..9999 with odd strides hits every month, leap days and
     * millisecond values; each must survive format -> parse unchanged, in several offsets. */
    static const int offsets[] = {0, 540, 330, -210, 345, -720, 840};
    char buf[GRIDEMS_TIME_ISO_BUFLEN];
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t span = GRIDEMS_TIME_MAX_MS - GRIDEMS_TIME_MIN_MS - 2 * GRIDEMS_TIME_MS_PER_DAY;
        int64_t t = GRIDEMS_TIME_MIN_MS + GRIDEMS_TIME_MS_PER_DAY + (int64_t)(x % (uint64_t)span);
        int off = offsets[i % 7];
        ck_assert_int_eq(gridems_time_format_iso(t, off, buf, sizeof buf), 0);
        int back_off = 0;
        ck_assert_int_eq(parse_ok(buf, &back_off), t);
        ck_assert_int_eq(back_off, off);
    }
}
END_TEST

START_TEST(test_from_civil)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_from_civil(2026, 5, 11, 9, 0, 0, 0, 540, &ms), 0);
    ck_assert_int_eq(ms, MAY11_UTC);
    ck_assert_int_eq(gridems_time_from_civil(2024, 2, 29, 12, 34, 56, 789, 0, &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1709210096789));
    ms = 42;
    ck_assert_int_eq(gridems_time_from_civil(2023, 2, 29, 0, 0, 0, 0, 0, &ms), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_from_civil(2023, 1, 1, 0, 0, 0, 1000, 0, &ms), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_from_civil(10000, 1, 1, 0, 0, 0, 0, 0, &ms), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_from_civil(2023, 1, 1, 0, 0, 0, 0, 2000, &ms), GRIDEMS_EINVAL);
    ck_assert_int_eq(ms, 42);
}
END_TEST

static int64_t align(int64_t t, int64_t step, int off)
{
    int64_t out = 0;
    ck_assert_int_eq(gridems_time_align_down(t, step, off, &out), 0);
    return out;
}

START_TEST(test_align_whole_hour_offset)
{
    /* +09:00: 15-minute and hourly grids coincide with UTC alignment. */
    int64_t t = MAY11_UTC + 10 * HOUR + 7 * GRIDEMS_TIME_MS_PER_MINUTE + 123;
    ck_assert_int_eq(align(t, MIN15, 540), MAY11_UTC + 10 * HOUR);
    ck_assert_int_eq(align(t, MIN15, 0), MAY11_UTC + 10 * HOUR);
    ck_assert_int_eq(align(t, HOUR, 540), MAY11_UTC + 10 * HOUR);
    /* A time on the grid stays put. */
    ck_assert_int_eq(align(MAY11_UTC + 45 * GRIDEMS_TIME_MS_PER_MINUTE, MIN15, 540),
                     MAY11_UTC + 45 * GRIDEMS_TIME_MS_PER_MINUTE);
    /* A daily grid is aligned to local midnight: 00:00 JST is 15:00Z the day before. 10:00Z and
     * 14:59Z are still 11 May in Japan; 16:00Z is already the 12th. */
    ck_assert_int_eq(align(MAY11_UTC + 10 * HOUR, GRIDEMS_TIME_MS_PER_DAY, 540),
                     MAY11_UTC - 9 * HOUR);
    ck_assert_int_eq(align(MAY11_UTC + 15 * HOUR - 1, GRIDEMS_TIME_MS_PER_DAY, 540),
                     MAY11_UTC - 9 * HOUR);
    ck_assert_int_eq(align(MAY11_UTC + 16 * HOUR, GRIDEMS_TIME_MS_PER_DAY, 540),
                     MAY11_UTC + 15 * HOUR);
    /* And before the epoch, where C's division would round the wrong way. */
    ck_assert_int_eq(align(-1, MIN15, 540), -MIN15);
    ck_assert_int_eq(align(-MIN15, MIN15, 540), -MIN15);
}
END_TEST

START_TEST(test_align_half_hour_offset)
{
    /* +05:30: local hours begin at hh:30 UTC; 15-minute steps still fall on :00/:15/:30/:45. */
    int64_t t = MAY11_UTC + 10 * HOUR + 7 * GRIDEMS_TIME_MS_PER_MINUTE; /* 10:07Z = 15:37 IST */
    ck_assert_int_eq(align(t, HOUR, 330), MAY11_UTC + 9 * HOUR + 30 * GRIDEMS_TIME_MS_PER_MINUTE);
    ck_assert_int_eq(align(t, HOUR, 0), MAY11_UTC + 10 * HOUR);
    ck_assert_int_eq(align(t, MIN15, 330), MAY11_UTC + 10 * HOUR);
    ck_assert_int_eq(align(t, 30 * GRIDEMS_TIME_MS_PER_MINUTE, 330), MAY11_UTC + 10 * HOUR);
    /* 10:29:59.999Z = 15:59:59.999 IST: hourly grid point 15:00 IST = 09:30Z. */
    int64_t u = MAY11_UTC + 10 * HOUR + 30 * GRIDEMS_TIME_MS_PER_MINUTE - 1;
    ck_assert_int_eq(align(u, HOUR, 330), MAY11_UTC + 9 * HOUR + 30 * GRIDEMS_TIME_MS_PER_MINUTE);
    ck_assert_int_eq(align(u + 1, HOUR, 330), u + 1);
    /* Local midnight in India is 18:30Z the day before. */
    ck_assert_int_eq(align(t, GRIDEMS_TIME_MS_PER_DAY, 330),
                     MAY11_UTC - 5 * HOUR - 30 * GRIDEMS_TIME_MS_PER_MINUTE);
    /* +05:45 (Nepal): hourly local grid points are at hh:15 UTC. */
    ck_assert_int_eq(align(t, HOUR, 345), MAY11_UTC + 9 * HOUR + 15 * GRIDEMS_TIME_MS_PER_MINUTE);
}
END_TEST

START_TEST(test_align_rejects)
{
    int64_t out = 99;
    ck_assert_int_eq(gridems_time_align_down(0, 0, 0, &out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_align_down(0, -MIN15, 0, &out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_align_down(0, MIN15, 24 * 60, &out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_align_down(INT64_MAX, MIN15, 0, &out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_time_align_down(0, MIN15, 0, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(out, 99);
}
END_TEST

START_TEST(test_floor_div)
{
    ck_assert_int_eq(gridems_time_floor_div(7, 2), 3);
    ck_assert_int_eq(gridems_time_floor_div(-7, 2), -4);
    ck_assert_int_eq(gridems_time_floor_div(-8, 2), -4);
    ck_assert_int_eq(gridems_time_floor_div(0, 5), 0);
    ck_assert_int_eq(gridems_time_floor_div(-1, 5), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeutil");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_zulu_and_offsets);
    tcase_add_test(tc, test_parse_fractions);
    tcase_add_test(tc, test_parse_calendar);
    tcase_add_test(tc, test_parse_rejects);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_format_parse_roundtrip);
    tcase_add_test(tc, test_from_civil);
    tcase_add_test(tc, test_align_whole_hour_offset);
    tcase_add_test(tc, test_align_half_hour_offset);
    tcase_add_test(tc, test_align_rejects);
    tcase_add_test(tc, test_floor_div);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
