/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Wall-clock time as int64 milliseconds since the Unix epoch (UTC), and its ISO 8601 text form.
 *
 * Every timestamp gridems accepts on the wire carries its own UTC offset or "Z": a bare local time
 * is ambiguous (which zone? which side of a DST change?), so it is rejected rather than guessed.
 * A site's local time is modelled as a fixed offset in minutes east of UTC (JST = +540,
 * IST = +330); the service takes it from the config. Offsets are limited to +-18:00.
 *
 * Everything here is pure: no I/O, no globals, no clock reads, no locale. Thread: any.
 */
#ifndef GRIDEMS_TIMEUTIL_H
#define GRIDEMS_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define GRIDEMS_TIME_MS_PER_MINUTE INT64_C(60000)
#define GRIDEMS_TIME_MS_PER_DAY INT64_C(86400000)
/* Largest accepted UTC offset in minutes, either side (ISO 8601 itself has no bound; +-18:00 is
 * the range every real zone fits in with room to spare). */
#define GRIDEMS_TIME_MAX_OFFSET_MIN (18 * 60)
/* The range of timestamps the ISO functions handle: 0000-01-01T00:00:00Z ..
 * 9999-12-31T23:59:59.999Z. Callers that take times from elsewhere can bound them with these before
 * doing arithmetic. */
#define GRIDEMS_TIME_MIN_MS INT64_C(-62167219200000)
#define GRIDEMS_TIME_MAX_MS INT64_C(253402300799999)
/* Buffer size that always fits gridems_time_format_iso()'s output, NUL included. */
#define GRIDEMS_TIME_ISO_BUFLEN 32

/*
 * gridems_time_parse_iso: parse an ISO 8601 / RFC 3339 timestamp that carries an offset:
 *   YYYY-MM-DDTHH:MM[:SS[.fraction]](Z | +HH:MM | -HH:MM | +HHMM | -HHMM | +HH | -HH)
 * "T" may also be "t" or one space, "Z" may be "z". The fraction has 1..9 digits and is truncated
 * to whole milliseconds. Years 0000..9999; day-of-month is checked against the month and leap
 * years; a leap second (":60") is rejected, as the epoch count has no place for it.
 * Parameters:
 *   text (borrowed, NUL-terminated);
 *   out_ms (borrowed, written on success only): milliseconds since 1970-01-01T00:00:00Z;
 *   out_offset_min (borrowed, may be NULL, written on success only): the offset the text carried,
 *     in minutes east of UTC (0 for Z);
 *   err/errlen (borrowed buffer, may be NULL): on failure, one line saying why, e.g.
 *     "missing UTC offset: append Z or +HH:MM".
 * Returns: 0, or GRIDEMS_EINVAL when the text is not such a timestamp.
 * Thread: any.
 */
int gridems_time_parse_iso(const char *text, int64_t *out_ms, int *out_offset_min, char *err,
                           size_t errlen);

/*
 * gridems_time_format_iso: write ms as "YYYY-MM-DDTHH:MM:SS[.mmm]+HH:MM" in the local time of
 * offset_min (minutes east of UTC); offset 0 is written as "Z". The ".mmm" part is written only
 * when ms is not a whole second, so whole-second times round-trip to the usual short form.
 * Parameters: ms; offset_min (within +-GRIDEMS_TIME_MAX_OFFSET_MIN); buf (borrowed, written);
 *   buflen (GRIDEMS_TIME_ISO_BUFLEN always suffices).
 * Returns: 0; GRIDEMS_EINVAL for an offset out of range or a time outside years 0000..9999;
 *   GRIDEMS_ENOSPC when buf is too small (buf then holds "" if buflen > 0).
 * Thread: any.
 */
int gridems_time_format_iso(int64_t ms, int offset_min, char *buf, size_t buflen);

/*
 * gridems_time_from_civil: milliseconds since the epoch of a civil date and time in the local time
 * of offset_min (minutes east of UTC). Fields must be in range (month 1..12, day valid for the
 * month, hour 0..23, minute 0..59, second 0..59, millisecond 0..999, year 0..9999).
 * Parameters: the fields; out_ms (borrowed, written on success only).
 * Returns: 0 or GRIDEMS_EINVAL. Thread: any.
 */
int gridems_time_from_civil(int year, int month, int day, int hour, int minute, int second,
                            int millisecond, int offset_min, int64_t *out_ms);

/*
 * gridems_time_align_down: the latest time <= t that lies on a grid of step_ms aligned to the
 * local clock of offset_min. For a step that divides a day (5, 15, 30, 60 minutes...) the grid
 * points are local midnight plus whole steps, so with +05:30 an hourly grid falls on hh:30 UTC and
 * a 15-minute grid on :00/:15/:30/:45 of the local clock; for whole-hour offsets this is the same
 * as aligning in UTC. A step that does not divide a day is aligned to the local-time epoch
 * (1970-01-01T00:00 local), which is well defined but drifts against midnight from day to day.
 * Parameters: t (ms since the epoch); step_ms (> 0); offset_min (within the offset bound);
 *   out (borrowed, written on success only).
 * Returns: 0 or GRIDEMS_EINVAL. Thread: any.
 */
int gridems_time_align_down(int64_t t, int64_t step_ms, int offset_min, int64_t *out);

/*
 * gridems_time_floor_div: floor(a / b) for b > 0, also for negative a (C's "/" truncates toward
 * zero). Exposed because every grid computation needs it. Thread: any.
 */
static inline int64_t gridems_time_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b) != 0 && (a < 0)) {
        q -= 1;
    }
    return q;
}

#endif
