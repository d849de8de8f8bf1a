/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ISO 8601 timestamps <-> int64 epoch milliseconds, and clock-aligned grids. See timeutil.h.
 *
 * The calendar arithmetic counts days from 0000-01-01 in the proleptic Gregorian calendar with a
 * cumulative month table and a closed-form leap-year count.
 * Years are limited to 0..9999 (what a four-digit year can say), so every intermediate value is
 * non-negative and small, and no libc time function (timegm, locale, TZ) is involved.
 */
#include "timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"

/* Days before the first of each month in a common year. */
static const int days_before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/* Leap years in [0, y) for 0 <= y; year 0 is a leap year in the proleptic calendar. */
static int64_t leaps_before(int64_t y)
{
    if (y <= 0) {
        return 0;
    }
    return (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 + 1;
}

/* Days from 0000-01-01 to y-m-d. */
static int64_t days_from_year0(int y, int m, int d)
{
    int64_t days = 365 * (int64_t)y + leaps_before(y) + days_before_month[m - 1] + (d - 1);
    if (m > 2 && is_leap(y)) {
        days += 1;
    }
    return days;
}

/* 1970-01-01 counted from 0000-01-01; computed once per call, it is a handful of operations. */
static int64_t epoch_days(void)
{
    return days_from_year0(1970, 1, 1);
}

/* The civil date of a day count from 0000-01-01 (0 <= days, year <= 9999). */
static void civil_from_year0(int64_t days, int *y, int *m, int *d)
{
    /* Estimate the year from the mean Gregorian year, then correct by at most a step or two. */
    int64_t year = (days * 400) / 146097;
    while (year > 0 && 365 * year + leaps_before(year) > days) {
        year--;
    }
    while (365 * (year + 1) + leaps_before(year + 1) <= days) {
        year++;
    }
    int doy = (int)(days - (365 * year + leaps_before(year)));
    int month = 12;
    while (month > 1) {
        int before = days_before_month[month - 1] + ((month > 2 && is_leap((int)year)) ? 1 : 0);
        if (doy >= before) {
            doy -= before;
            break;
        }
        month--;
    }
    *y = (int)year;
    *m = month;
    *d = doy + 1;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
}

/* Read exactly n decimal digits at *p; advance *p. Returns false when they are not all digits. */
static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool valid_offset(int offset_min)
{
    return offset_min >= -GRIDEMS_TIME_MAX_OFFSET_MIN && offset_min <= GRIDEMS_TIME_MAX_OFFSET_MIN;
}

int gridems_time_from_civil(int year, int month, int day, int hour, int minute, int second,
                            int millisecond, int offset_min, int64_t *out_ms)
{
    if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 59 || millisecond < 0 || millisecond > 999 ||
        !valid_offset(offset_min) || out_ms == NULL) {
        return GRIDEMS_EINVAL;
    }
    int64_t days = days_from_year0(year, month, day) - epoch_days();
    int64_t ms = days * GRIDEMS_TIME_MS_PER_DAY + (int64_t)hour * 3600000 +
                 (int64_t)minute * 60000 + (int64_t)second * 1000 + millisecond;
    *out_ms = ms - (int64_t)offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    return 0;
}

/* Parse the offset designator at p (which is not at the end). */
static int parse_offset(const char *p, int *offset_min, char *err, size_t errlen)
{
    if (*p == 'Z' || *p == 'z') {
        if (p[1] != '\0') {
            set_err(err, errlen, "unexpected text after the timestamp's 'Z'");
            return GRIDEMS_EINVAL;
        }
        *offset_min = 0;
        return 0;
    }
    int sign = (*p == '+') ? 1 : -1;
    p++;
    int oh = 0, om = 0;
    if (!read_digits(&p, 2, &oh)) {
        set_err(err, errlen, "offset: expected +HH:MM, +HHMM or +HH");
        return GRIDEMS_EINVAL;
    }
    if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &om)) {
            set_err(err, errlen, "offset: expected +HH:MM, +HHMM or +HH");
            return GRIDEMS_EINVAL;
        }
    } else if (*p >= '0' && *p <= '9') {
        if (!read_digits(&p, 2, &om)) {
            set_err(err, errlen, "offset: expected +HH:MM, +HHMM or +HH");
            return GRIDEMS_EINVAL;
        }
    }
    if (*p != '\0') {
        set_err(err, errlen, "unexpected text after the timestamp's offset");
        return GRIDEMS_EINVAL;
    }
    if (om > 59) {
        set_err(err, errlen, "offset: minutes must be 00..59");
        return GRIDEMS_EINVAL;
    }
    int off = sign * (oh * 60 + om);
    if (!valid_offset(off)) {
        set_err(err, errlen, "offset: out of range (at most 18:00 either side of UTC)");
        return GRIDEMS_EINVAL;
    }
    *offset_min = off;
    return 0;
}

int gridems_time_parse_iso(const char *text, int64_t *out_ms, int *out_offset_min, char *err,
                           size_t errlen)
{
    if (text == NULL || out_ms == NULL) {
        set_err(err, errlen, "no timestamp");
        return GRIDEMS_EINVAL;
    }
    if (*text == '\0') {
        set_err(err, errlen, "empty timestamp");
        return GRIDEMS_EINVAL;
    }
    const char *p = text;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d)) {
        set_err(err, errlen, "expected a date YYYY-MM-DD at the start");
        return GRIDEMS_EINVAL;
    }
    if (mo < 1 || mo > 12) {
        set_err(err, errlen, "month must be 01..12");
        return GRIDEMS_EINVAL;
    }
    if (d < 1 || d > days_in_month(y, mo)) {
        set_err(err, errlen, "day out of range for the month");
        return GRIDEMS_EINVAL;
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        set_err(err, errlen, "expected 'T' and a time after the date");
        return GRIDEMS_EINVAL;
    }
    p++;
    if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi)) {
        set_err(err, errlen, "expected a time HH:MM[:SS] after the date");
        return GRIDEMS_EINVAL;
    }
    if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &s)) {
            set_err(err, errlen, "expected two digits of seconds after HH:MM:");
            return GRIDEMS_EINVAL;
        }
        if (*p == '.' || *p == ',') {
            /* ISO 8601 allows a comma as the decimal sign. */
            p++;
            int digits = 0;
            while (p[digits] >= '0' && p[digits] <= '9') {
                if (digits < 3) {
                    ms = ms * 10 + (p[digits] - '0');
                }
                digits++;
            }
            if (digits == 0 || digits > 9) {
                set_err(err, errlen, "fraction of a second must have 1 to 9 digits");
                return GRIDEMS_EINVAL;
            }
            for (int i = digits; i < 3; i++) {
                ms *= 10;
            }
            p += digits;
        }
    }
    if (h > 23) {
        set_err(err, errlen, "hour must be 00..23");
        return GRIDEMS_EINVAL;
    }
    if (mi > 59) {
        set_err(err, errlen, "minute must be 00..59");
        return GRIDEMS_EINVAL;
    }
    if (s == 60) {
        set_err(err, errlen, "leap second (:60) is not supported");
        return GRIDEMS_EINVAL;
    }
    if (s > 59) {
        set_err(err, errlen, "second must be 00..59");
        return GRIDEMS_EINVAL;
    }
    if (*p == '\0') {
        set_err(err, errlen, "missing UTC offset: append Z or +HH:MM");
        return GRIDEMS_EINVAL;
    }
    if (*p != 'Z' && *p != 'z' && *p != '+' && *p != '-') {
        set_err(err, errlen, "unexpected text after the time (expected Z or +HH:MM)");
        return GRIDEMS_EINVAL;
    }
    int off = 0;
    int rc = parse_offset(p, &off, err, errlen);
    if (rc != 0) {
        return rc;
    }
    int64_t result = 0;
    rc = gridems_time_from_civil(y, mo, d, h, mi, s, ms, off, &result);
    if (rc != 0) {
        set_err(err, errlen, "timestamp out of range");
        return rc;
    }
    *out_ms = result;
    if (out_offset_min != NULL) {
        *out_offset_min = off;
    }
    return 0;
}

int gridems_time_format_iso(int64_t ms, int offset_min, char *buf, size_t buflen)
{
    if (buf != NULL && buflen > 0) {
        buf[0] = '\0';
    }
    if (!valid_offset(offset_min)) {
        return GRIDEMS_EINVAL;
    }
    /* Bound the input before any arithmetic so no intermediate can overflow. */
    const int64_t lo = GRIDEMS_TIME_MIN_MS, hi = GRIDEMS_TIME_MAX_MS;
    if (ms < lo - GRIDEMS_TIME_MS_PER_DAY || ms > hi + GRIDEMS_TIME_MS_PER_DAY) {
        return GRIDEMS_EINVAL;
    }
    int64_t local = ms + (int64_t)offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    if (local < lo || local > hi) {
        return GRIDEMS_EINVAL;
    }
    if (buf == NULL || buflen == 0) {
        return GRIDEMS_ENOSPC;
    }
    int64_t days = gridems_time_floor_div(local, GRIDEMS_TIME_MS_PER_DAY);
    int64_t in_day = local - days * GRIDEMS_TIME_MS_PER_DAY;
    int y = 0, mo = 0, d = 0;
    civil_from_year0(days + epoch_days(), &y, &mo, &d);
    int h = (int)(in_day / 3600000);
    int mi = (int)((in_day / 60000) % 60);
    int s = (int)((in_day / 1000) % 60);
    int frac = (int)(in_day % 1000);

    char fracbuf[16] = ""; /* sized for any int, so the compiler can prove no truncation */
    if (frac != 0) {
        snprintf(fracbuf, sizeof fracbuf, ".%03d", frac);
    }
    char offbuf[32] = "Z";
    if (offset_min != 0) {
        int a = offset_min < 0 ? -offset_min : offset_min;
        snprintf(offbuf, sizeof offbuf, "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60, a % 60);
    }
    int n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", y, mo, d, h, mi, s, fracbuf,
                     offbuf);
    if (n < 0 || (size_t)n >= buflen) {
        buf[0] = '\0';
        return GRIDEMS_ENOSPC;
    }
    return 0;
}

int gridems_time_align_down(int64_t t, int64_t step_ms, int offset_min, int64_t *out)
{
    if (step_ms <= 0 || !valid_offset(offset_min) || out == NULL) {
        return GRIDEMS_EINVAL;
    }
    int64_t off = (int64_t)offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    /* Refuse times so close to the int64 limits that shifting into local time would overflow. */
    if (t > INT64_MAX - GRIDEMS_TIME_MS_PER_DAY || t < INT64_MIN + GRIDEMS_TIME_MS_PER_DAY) {
        return GRIDEMS_EINVAL;
    }
    int64_t local = t + off;
    *out = gridems_time_floor_div(local, step_ms) * step_ms - off;
    return 0;
}
