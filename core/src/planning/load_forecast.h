/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Base-load forecast from the site meter's history.
 *
 * Input: power readings (kW, timestamped), fed as they arrive. They are averaged into buckets of
 * one planning step, aligned to the site's local clock, kept in a ring of `days` days (O(1) per
 * reading, fixed memory). A bucket's value is the plain mean of the readings that fell into it.
 *
 * Method: seasonal profile with a level correction, blended with persistence by their recent
 * errors. Chosen because it is robust, needs no training, costs O(steps per day) per forecast
 * step at most, and is exact for a load that repeats daily.
 *   - Seasonal value: for a future step, the running mean of the buckets at the same local time of
 *     day on the `season_days` most recent earlier days that have data there, starting with the
 *     nearest day whose step is already complete (yesterday for the next 24 hours, the day before
 *     for the 24 hours after that, ...) and looking no further back than the ring. Only
 *     completed steps (before the step that holds `now`) count.
 *   - Level correction: the ratio of the mean of the last `level_steps` completed steps to the
 *     seasonal value of those same steps (over the steps that have both), clamped to
 *     [ratio_min, ratio_max] so one odd hour cannot blow the forecast up, and 1 when the
 *     reference is not positive. With level_decay_steps > 0 the correction fades toward 1 with the
 *     distance h (in steps) from now: r_h = 1 + (r - 1) * exp(-h / level_decay_steps), since the
 *     present level says more about the next hour than about tomorrow.
 *   - Blend (`combine`): over the last day of completed steps, e_s is the mean absolute error of
 *     the seasonal value and e_p(h) that of persistence at a lead of h steps (capped at a day).
 *     The forecast is w * seasonal-with-level + (1 - w) * recent level with
 *     w = e_p(h)^2 / (e_p(h)^2 + e_s^2). A load with a steady daily shape (e_s small) follows the
 *     profile; one driven by long jobs rather than the clock (e_p small at short leads) follows
 *     the present level. When e_s is 0 (the profile fits exactly) or cannot be scored yet (under
 *     two days of history) the seasonal value is used alone.
 *   - Fallback: a step with no seasonal value (less than a day of history, or a gap) takes the
 *     recent level: the mean of the last `level_steps` completed steps, or of the current step
 *     when they are empty, or else the last reading, however old.
 *   - Every value is clamped to >= 0: a base load is a consumption.
 * Measured (bench/bench_load_forecast.c, 24-hour horizon, defaults): on 28 days of a Google Borg
 * cell's 5-minute CPU utilisation at 15-minute steps, MAPE 5.9 % against 8.3 % for repeating the
 * last value and 6.6 % for yesterday's value; on a single 2 x H100 server's hourly power, whose
 * load follows jobs rather than the clock, 44.9 % against 43.0 % (last value) and 57.0 %.
 * Feed this the site's *base* load (meter minus battery, PV and the flexible loads the planner
 * moves) where the site can tell them apart; a forecast of the net meter would echo yesterday's
 * plan back into today's.
 *
 * Local time is a fixed UTC offset (no DST rules): across a DST change the time-of-day match is
 * off by an hour for one day, which the level correction partly absorbs.
 *
 * Ownership: a gridems_load_forecast_t is embedded by the caller, set up by _init and released by
 * _close; it owns its bucket ring. No function keeps a pointer to its arguments.
 * Threads: no globals; one forecaster must be used by one thread at a time.
 */
#ifndef GRIDEMS_LOAD_FORECAST_H
#define GRIDEMS_LOAD_FORECAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on the configuration. */
#define GRIDEMS_LOAD_FORECAST_MAX_DAYS 28
#define GRIDEMS_LOAD_FORECAST_MAX_BUCKETS (1 << 20)

typedef struct gridems_load_forecast_config_s {
    int64_t step_ms;          /* bucket and forecast step; must divide a day evenly */
    int days;                 /* days of history kept, 1..GRIDEMS_LOAD_FORECAST_MAX_DAYS */
    int season_days;          /* earlier days averaged into the seasonal value, 1..days */
    int offset_min;           /* the site's UTC offset in minutes (time-of-day alignment) */
    int level_steps;          /* steps in the recent-level window, 1..steps per day */
    double ratio_min;         /* clamp of the level ratio, in (0, 1] */
    double ratio_max;         /* clamp of the level ratio, >= 1 */
    double level_decay_steps; /* >= 0; 0 applies the ratio unchanged to the whole horizon */
    bool combine;             /* blend with persistence by recent errors (see above) */
} gridems_load_forecast_config_t;

typedef struct gridems_load_bucket_s {
    int64_t slot; /* absolute step number this bucket holds; INT64_MIN when empty */
    double sum;   /* sum of the readings, kW */
    uint32_t count;
} gridems_load_bucket_t;

/* The forecaster. Read the fields freely; change them only through the functions below. */
typedef struct gridems_load_forecast_s {
    gridems_load_forecast_config_t cfg;
    int64_t steps_per_day;
    size_t n_buckets;              /* days * steps_per_day */
    gridems_load_bucket_t *bucket; /* [n_buckets], owned */
    int64_t newest_slot;           /* highest slot that holds data; INT64_MIN when none */
    int64_t last_ms;               /* time of the newest reading; INT64_MIN when none */
    double last_kw;                /* value of the newest reading */
    uint64_t n_readings;           /* readings stored */
    uint64_t n_dropped;            /* readings ignored as older than the ring */
} gridems_load_forecast_t;

/*
 * gridems_load_forecast_config_default: the defaults for a given step: 7 days of history, all 7
 * averaged into the seasonal value, UTC offset 0, a level window of one hour (at least one step),
 * ratio clamp [0.5, 2], a level decay of three hours' worth of steps, and the blend on. (Chosen
 * on the benchmark above; the differences between nearby settings were a few tenths of a point.)
 * Parameters: cfg (borrowed, overwritten); step_ms (stored as given; checked by _init).
 * Thread: any.
 */
void gridems_load_forecast_config_default(gridems_load_forecast_config_t *cfg, int64_t step_ms);

/*
 * gridems_load_forecast_init: check cfg and allocate the empty ring.
 * Parameters: lf (borrowed, overwritten; need not be initialised); cfg (borrowed, copied).
 * Returns: 0; GRIDEMS_EINVAL (a field out of range, or a step that does not divide a day);
 *   GRIDEMS_ENOMEM. On error lf is left closed (safe to _close).
 * Thread: any (lf not yet shared).
 */
int gridems_load_forecast_init(gridems_load_forecast_t *lf,
                               const gridems_load_forecast_config_t *cfg);

/* gridems_load_forecast_close: free the ring and zero lf. Safe on a closed forecaster.
 * Thread: the owner. */
void gridems_load_forecast_close(gridems_load_forecast_t *lf);

/*
 * gridems_load_forecast_add: add one reading. O(1). Readings may arrive a little out of order; one
 * older than the ring (its bucket already reused for a newer step) is ignored and counted in
 * n_dropped.
 * Parameters: lf (borrowed); t_ms (ms since the epoch, within GRIDEMS_TIME_MIN_MS..MAX_MS);
 *   kw (finite; negative values are stored as given, the forecast is clamped instead).
 * Returns: 0 (also when ignored as too old), or GRIDEMS_EINVAL (non-finite value or bad time).
 * Thread: the owner.
 */
int gridems_load_forecast_add(gridems_load_forecast_t *lf, int64_t t_ms, double kw);

/*
 * gridems_load_forecast_add_step: add a whole step's worth of readings at once: `count` readings
 * whose mean is mean_kw, in the step starting at step_start_ms. This is how history is restored
 * from a file and how a caller with step means (a backtest driver warming the forecaster up
 * with past meter data) pre-fills it: the result is the same as `count` readings of mean_kw in
 * that step. A step older than the ring is ignored (as for _add).
 * Parameters: lf (borrowed); step_start_ms (on the bucket grid, within the ISO range);
 *   mean_kw (finite); count (>= 1).
 * Returns: 0 or GRIDEMS_EINVAL. Thread: the owner.
 */
int gridems_load_forecast_add_step(gridems_load_forecast_t *lf, int64_t step_start_ms,
                                   double mean_kw, uint32_t count);

/*
 * gridems_load_forecast_step_mean: the mean of the readings held for the step starting at
 * step_start_ms (on the bucket grid).
 * Returns: 0 and *mean_kw; GRIDEMS_ENOENT (no reading held for that step); GRIDEMS_EINVAL.
 * Thread: the owner.
 */
int gridems_load_forecast_step_mean(const gridems_load_forecast_t *lf, int64_t step_start_ms,
                                    double *mean_kw);

/*
 * gridems_load_forecast_slot_start_ms: the start time (ms since the epoch) of absolute step
 * `slot` (gridems_load_bucket_t.slot). Thread: any.
 */
int64_t gridems_load_forecast_slot_start_ms(const gridems_load_forecast_t *lf, int64_t slot);

/*
 * gridems_load_forecast_predict: forecast the mean load of the steps start_ms + i * step_ms,
 * i in [0, n), by the method above, as seen at now_ms (only steps before the one holding now_ms
 * count as complete).
 * Parameters: lf (borrowed); now_ms; start_ms (must lie on the bucket grid, e.g. from
 *   gridems_time_align_down() with the same step and offset; normally the step holding now_ms);
 *   n (>= 0); out (borrowed, [n], written; all zeros on GRIDEMS_ENOENT).
 * Returns: 0; GRIDEMS_EINVAL (start_ms off the grid, bad n or out); GRIDEMS_ENOENT (no reading
 *   yet, nothing to forecast from); GRIDEMS_ENOMEM (the blend's small scratch table, one double
 *   per step of a day, could not be allocated).
 * Thread: the owner.
 */
int gridems_load_forecast_predict(const gridems_load_forecast_t *lf, int64_t now_ms,
                                  int64_t start_ms, int n, double *out);

#endif
