/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The billing period of a time; see billing_period.h. */
#include "billing_period.h"

#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"
#include "timeutil.h"

/*
 * Civil date (proleptic Gregorian) of a day count since 1970-01-01. The method: shift the year to
 * start on March 1st so the leap day is the last day of a year, split into 400-year eras of
 * 146097 days, then find the year of the era and the day of that year; month lengths from March
 * follow the 153-days-per-5-months pattern.
 */
static void civil_from_days(int64_t days, int *year, int *month, int *day)
{
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = gridems_time_floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* 0 = March */
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*month <= 2 ? 1 : 0));
}

int gridems_billing_period(int64_t now_ms, gridems_billing_period_t kind, int offset_min, char *key,
                           size_t keylen, int64_t *start_ms, int64_t *end_ms)
{
    if (!(now_ms >= GRIDEMS_TIME_MIN_MS && now_ms <= GRIDEMS_TIME_MAX_MS) ||
        offset_min < -GRIDEMS_TIME_MAX_OFFSET_MIN || offset_min > GRIDEMS_TIME_MAX_OFFSET_MIN) {
        return GRIDEMS_EINVAL;
    }
    int64_t start = INT64_MIN, end = INT64_MAX;
    char buf[GRIDEMS_BILLING_KEY_MAX];
    if (kind == GRIDEMS_BILLING_NONE) {
        snprintf(buf, sizeof buf, "all");
    } else if (kind == GRIDEMS_BILLING_DAY || kind == GRIDEMS_BILLING_MONTH) {
        int64_t local = now_ms + (int64_t)offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
        int y = 0, m = 0, d = 0;
        civil_from_days(gridems_time_floor_div(local, GRIDEMS_TIME_MS_PER_DAY), &y, &m, &d);
        if (kind == GRIDEMS_BILLING_DAY) {
            if (gridems_time_from_civil(y, m, d, 0, 0, 0, 0, offset_min, &start) != 0) {
                return GRIDEMS_EINVAL;
            }
            /* A fixed offset has no DST: every local day is 24 hours. */
            end = start + GRIDEMS_TIME_MS_PER_DAY;
            snprintf(buf, sizeof buf, "day:%04d-%02d-%02d", y, m, d);
        } else {
            int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
            if (gridems_time_from_civil(y, m, 1, 0, 0, 0, 0, offset_min, &start) != 0) {
                return GRIDEMS_EINVAL;
            }
            if (gridems_time_from_civil(ny, nm, 1, 0, 0, 0, 0, offset_min, &end) != 0) {
                end = INT64_MAX; /* December of year 9999: the last period runs forever. */
            }
            snprintf(buf, sizeof buf, "month:%04d-%02d", y, m);
        }
    } else {
        return GRIDEMS_EINVAL;
    }
    if (key != NULL) {
        if (keylen <= strlen(buf)) {
            return GRIDEMS_EINVAL;
        }
        memcpy(key, buf, strlen(buf) + 1);
    }
    if (start_ms != NULL) {
        *start_ms = start;
    }
    if (end_ms != NULL) {
        *end_ms = end;
    }
    return 0;
}
