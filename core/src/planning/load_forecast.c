/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Base-load forecast: the bucket ring, and the seasonal profile with level correction and blend.
 * See load_forecast.h for the method.
 *
 * Steps are numbered absolutely ("slots": floor((t + offset) / step)), and slot k lives in bucket
 * k mod n_buckets. Each bucket remembers which slot it holds, so a stale bucket (from a day that
 * has scrolled out, or a step with no readings) is recognised without ever clearing the ring.
 */
#include "load_forecast.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "timeutil.h"

void gridems_load_forecast_config_default(gridems_load_forecast_config_t *cfg, int64_t step_ms)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->step_ms = step_ms;
    cfg->days = 7;
    cfg->season_days = 7;
    cfg->combine = true;
    cfg->offset_min = 0;
    cfg->level_steps = 1;
    if (step_ms > 0 && step_ms < INT64_C(3600000)) {
        cfg->level_steps = (int)(INT64_C(3600000) / step_ms);
    }
    cfg->ratio_min = 0.5;
    cfg->ratio_max = 2.0;
    cfg->level_decay_steps = 0.0;
    if (step_ms > 0) {
        cfg->level_decay_steps = (double)(3 * INT64_C(3600000)) / (double)step_ms;
    }
}

static bool config_ok(const gridems_load_forecast_config_t *c)
{
    if (c->step_ms <= 0 || GRIDEMS_TIME_MS_PER_DAY % c->step_ms != 0) {
        return false;
    }
    int64_t spd = GRIDEMS_TIME_MS_PER_DAY / c->step_ms;
    if (c->days < 1 || c->days > GRIDEMS_LOAD_FORECAST_MAX_DAYS ||
        spd * c->days > GRIDEMS_LOAD_FORECAST_MAX_BUCKETS) {
        return false;
    }
    if (c->season_days < 1 || c->season_days > c->days) {
        return false;
    }
    if (c->offset_min < -GRIDEMS_TIME_MAX_OFFSET_MIN ||
        c->offset_min > GRIDEMS_TIME_MAX_OFFSET_MIN) {
        return false;
    }
    if (c->level_steps < 1 || c->level_steps > spd) {
        return false;
    }
    if (!(c->ratio_min > 0.0 && c->ratio_min <= 1.0) || !(c->ratio_max >= 1.0) ||
        !isfinite(c->ratio_max)) {
        return false;
    }
    return c->level_decay_steps >= 0.0 && isfinite(c->level_decay_steps);
}

int gridems_load_forecast_init(gridems_load_forecast_t *lf,
                               const gridems_load_forecast_config_t *cfg)
{
    if (lf == NULL) {
        return GRIDEMS_EINVAL;
    }
    memset(lf, 0, sizeof *lf);
    if (cfg == NULL || !config_ok(cfg)) {
        return GRIDEMS_EINVAL;
    }
    lf->cfg = *cfg;
    lf->steps_per_day = GRIDEMS_TIME_MS_PER_DAY / cfg->step_ms;
    lf->n_buckets = (size_t)(lf->steps_per_day * cfg->days);
    lf->bucket = malloc(lf->n_buckets * sizeof *lf->bucket);
    if (lf->bucket == NULL) {
        memset(lf, 0, sizeof *lf);
        return GRIDEMS_ENOMEM;
    }
    for (size_t i = 0; i < lf->n_buckets; i++) {
        lf->bucket[i].slot = INT64_MIN;
        lf->bucket[i].sum = 0.0;
        lf->bucket[i].count = 0;
    }
    lf->newest_slot = INT64_MIN;
    lf->last_ms = INT64_MIN;
    return 0;
}

void gridems_load_forecast_close(gridems_load_forecast_t *lf)
{
    if (lf == NULL) {
        return;
    }
    free(lf->bucket);
    memset(lf, 0, sizeof *lf);
}

static int64_t slot_of(const gridems_load_forecast_t *lf, int64_t t)
{
    return gridems_time_floor_div(t + (int64_t)lf->cfg.offset_min * GRIDEMS_TIME_MS_PER_MINUTE,
                                  lf->cfg.step_ms);
}

static size_t index_of(const gridems_load_forecast_t *lf, int64_t slot)
{
    int64_t nb = (int64_t)lf->n_buckets;
    int64_t r = slot % nb;
    return (size_t)(r < 0 ? r + nb : r);
}

/* The mean of slot k when the ring still holds it. */
static bool slot_mean(const gridems_load_forecast_t *lf, int64_t k, double *out)
{
    const gridems_load_bucket_t *b = &lf->bucket[index_of(lf, k)];
    if (b->slot != k || b->count == 0) {
        return false;
    }
    *out = b->sum / (double)b->count;
    return true;
}

int gridems_load_forecast_add(gridems_load_forecast_t *lf, int64_t t_ms, double kw)
{
    if (lf == NULL || lf->bucket == NULL || !isfinite(kw) || t_ms < GRIDEMS_TIME_MIN_MS ||
        t_ms > GRIDEMS_TIME_MAX_MS) {
        return GRIDEMS_EINVAL;
    }
    int64_t k = slot_of(lf, t_ms);
    gridems_load_bucket_t *b = &lf->bucket[index_of(lf, k)];
    bool too_old = lf->newest_slot != INT64_MIN && k <= lf->newest_slot - (int64_t)lf->n_buckets;
    if (too_old || (b->slot != INT64_MIN && b->slot > k)) {
        lf->n_dropped++;
        return 0;
    }
    if (b->slot != k || b->count == UINT32_MAX) {
        /* A new step takes the bucket over (a full counter restarts; it would take decades). */
        b->slot = k;
        b->sum = 0.0;
        b->count = 0;
    }
    b->sum += kw;
    b->count++;
    if (lf->newest_slot == INT64_MIN || k > lf->newest_slot) {
        lf->newest_slot = k;
    }
    if (lf->last_ms == INT64_MIN || t_ms >= lf->last_ms) {
        lf->last_ms = t_ms;
        lf->last_kw = kw;
    }
    lf->n_readings++;
    return 0;
}

static bool on_grid(const gridems_load_forecast_t *lf, int64_t t)
{
    int64_t local = t + (int64_t)lf->cfg.offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    return local - gridems_time_floor_div(local, lf->cfg.step_ms) * lf->cfg.step_ms == 0;
}

int gridems_load_forecast_add_step(gridems_load_forecast_t *lf, int64_t step_start_ms,
                                   double mean_kw, uint32_t count)
{
    if (lf == NULL || lf->bucket == NULL || !isfinite(mean_kw) || count == 0 ||
        step_start_ms < GRIDEMS_TIME_MIN_MS || step_start_ms > GRIDEMS_TIME_MAX_MS ||
        !on_grid(lf, step_start_ms)) {
        return GRIDEMS_EINVAL;
    }
    /* One reading first (it takes the bucket over and keeps the bookkeeping of _add), then the
     * rest of the sum and count; the bucket's mean is then exactly that of count readings. */
    int rc = gridems_load_forecast_add(lf, step_start_ms, mean_kw);
    int64_t k = slot_of(lf, step_start_ms);
    gridems_load_bucket_t *b = &lf->bucket[index_of(lf, k)];
    if (rc != 0 || b->slot != k || count == 1) {
        return rc;
    }
    uint32_t more = count - 1;
    if (more > UINT32_MAX - b->count) {
        more = UINT32_MAX - b->count;
    }
    b->sum += mean_kw * more;
    b->count += more;
    lf->n_readings += more;
    return 0;
}

int gridems_load_forecast_step_mean(const gridems_load_forecast_t *lf, int64_t step_start_ms,
                                    double *mean_kw)
{
    if (lf == NULL || lf->bucket == NULL || mean_kw == NULL ||
        step_start_ms < GRIDEMS_TIME_MIN_MS || step_start_ms > GRIDEMS_TIME_MAX_MS ||
        !on_grid(lf, step_start_ms)) {
        return GRIDEMS_EINVAL;
    }
    return slot_mean(lf, slot_of(lf, step_start_ms), mean_kw) ? 0 : GRIDEMS_ENOENT;
}

int64_t gridems_load_forecast_slot_start_ms(const gridems_load_forecast_t *lf, int64_t slot)
{
    return slot * lf->cfg.step_ms - (int64_t)lf->cfg.offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
}

/*
 * The seasonal profile at slot x: the running mean of the first season_days buckets found at the
 * same time of day on earlier days, starting `first_lag` days back and looking no further than the
 * ring, using only completed slots (before kn). A running mean keeps equal values exactly equal.
 */
static bool profile(const gridems_load_forecast_t *lf, int64_t x, int first_lag, int64_t kn,
                    double *out)
{
    double mean = 0.0, v = 0.0;
    int used = 0;
    for (int m = first_lag; m <= lf->cfg.days && used < lf->cfg.season_days; m++) {
        int64_t s = x - (int64_t)m * lf->steps_per_day;
        if (s < kn && slot_mean(lf, s, &v)) {
            used++;
            mean += (v - mean) / used;
        }
    }
    *out = mean;
    return used > 0;
}

/* The level ratio for profiles starting `first_lag` days back, over the window [kn - L, kn). */
static double level_ratio(const gridems_load_forecast_t *lf, int64_t kn, int first_lag)
{
    double num = 0.0, den = 0.0;
    int pairs = 0;
    for (int64_t w = kn - lf->cfg.level_steps; w < kn; w++) {
        double now_v = 0.0, then_v = 0.0;
        if (slot_mean(lf, w, &now_v) && profile(lf, w, first_lag, kn, &then_v)) {
            num += now_v;
            den += then_v;
            pairs++;
        }
    }
    if (pairs == 0 || !(den > 0.0)) {
        return 1.0;
    }
    double r = num / den;
    if (r < lf->cfg.ratio_min) {
        r = lf->cfg.ratio_min;
    }
    if (r > lf->cfg.ratio_max) {
        r = lf->cfg.ratio_max;
    }
    return r;
}

/*
 * How well each candidate has done over the last day of completed steps, as a mean absolute error:
 * the seasonal profile (against each step's own profile), and persistence at a lead of `lead`
 * steps (each step against the step `lead` before it). False when no step can be scored.
 */
static bool seasonal_error(const gridems_load_forecast_t *lf, int64_t kn, double *out)
{
    double sum = 0.0, v = 0.0, p = 0.0;
    long count = 0;
    for (int64_t x = kn - lf->steps_per_day; x < kn; x++) {
        if (slot_mean(lf, x, &v) && profile(lf, x, 1, kn, &p)) {
            sum += fabs(v - p);
            count++;
        }
    }
    *out = count > 0 ? sum / (double)count : 0.0;
    return count > 0;
}

static bool persistence_error(const gridems_load_forecast_t *lf, int64_t kn, int64_t lead,
                              double *out)
{
    double sum = 0.0, v = 0.0, w = 0.0;
    long count = 0;
    for (int64_t x = kn - lf->steps_per_day; x < kn; x++) {
        if (slot_mean(lf, x, &v) && slot_mean(lf, x - lead, &w)) {
            sum += fabs(v - w);
            count++;
        }
    }
    *out = count > 0 ? sum / (double)count : 0.0;
    return count > 0;
}

/* The recent level at kn: mean of the last L completed steps, else of the current step, else the
 * last reading. */
static double recent_level(const gridems_load_forecast_t *lf, int64_t kn)
{
    double sum = 0.0, v = 0.0;
    int count = 0;
    for (int64_t w = kn - lf->cfg.level_steps; w < kn; w++) {
        if (slot_mean(lf, w, &v)) {
            sum += v;
            count++;
        }
    }
    if (count > 0) {
        return sum / count;
    }
    if (slot_mean(lf, kn, &v)) {
        return v;
    }
    return lf->last_kw;
}

int gridems_load_forecast_predict(const gridems_load_forecast_t *lf, int64_t now_ms,
                                  int64_t start_ms, int n, double *out)
{
    if (lf == NULL || lf->bucket == NULL || n < 0 || (n > 0 && out == NULL) ||
        now_ms < GRIDEMS_TIME_MIN_MS || now_ms > GRIDEMS_TIME_MAX_MS ||
        start_ms < GRIDEMS_TIME_MIN_MS || start_ms > GRIDEMS_TIME_MAX_MS) {
        return GRIDEMS_EINVAL;
    }
    int64_t local = start_ms + (int64_t)lf->cfg.offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    if (local - gridems_time_floor_div(local, lf->cfg.step_ms) * lf->cfg.step_ms != 0) {
        return GRIDEMS_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        out[i] = 0.0;
    }
    if (lf->last_ms == INT64_MIN) {
        return GRIDEMS_ENOENT;
    }
    int64_t kn = slot_of(lf, now_ms);
    int64_t k0 = slot_of(lf, start_ms);
    int64_t spd = lf->steps_per_day;
    double level = recent_level(lf, kn);
    /* Level ratios per first lag in days, computed on first use: at most `days` per call. */
    double ratio[GRIDEMS_LOAD_FORECAST_MAX_DAYS + 1];
    bool have_ratio[GRIDEMS_LOAD_FORECAST_MAX_DAYS + 1] = {false};
    double e_seasonal = 0.0;
    bool judge = lf->cfg.combine && seasonal_error(lf, kn, &e_seasonal);
    /* Persistence errors per lead (1..steps per day; longer leads reuse a day's), on first use. */
    double *e_persist = NULL;
    if (judge && e_seasonal > 0.0) {
        e_persist = malloc((size_t)(spd + 1) * sizeof *e_persist);
        if (e_persist == NULL) {
            return GRIDEMS_ENOMEM;
        }
        for (int64_t j = 0; j <= spd; j++) {
            e_persist[j] = -1.0;
        }
    }

    for (int i = 0; i < n; i++) {
        int64_t k = k0 + i;
        /* The nearest earlier day whose slot at this time of day is already complete. */
        int64_t ahead = k - kn; /* >= 0 for the usual grid; earlier slots use yesterday */
        int first_lag = ahead < 0 ? 1 : (int)(ahead / spd) + 1;
        double v = level, seasonal = 0.0;
        if (first_lag <= lf->cfg.days && profile(lf, k, first_lag, kn, &seasonal)) {
            if (!have_ratio[first_lag]) {
                ratio[first_lag] = level_ratio(lf, kn, first_lag);
                have_ratio[first_lag] = true;
            }
            double r = ratio[first_lag];
            if (lf->cfg.level_decay_steps > 0.0) {
                double h = (double)(ahead > 0 ? ahead : 0);
                r = 1.0 + (r - 1.0) * exp(-h / lf->cfg.level_decay_steps);
            }
            v = seasonal * r;
            if (e_persist != NULL) {
                /* Weigh the candidates by the inverse square of their recent errors (the
                 * least-variance mix for independent errors). */
                int64_t lead = (ahead > 0 ? ahead : 0) + 1;
                if (lead > spd) {
                    lead = spd;
                }
                if (e_persist[lead] < 0.0 && !persistence_error(lf, kn, lead, &e_persist[lead])) {
                    e_persist[lead] = INFINITY;
                }
                if (isfinite(e_persist[lead])) {
                    double ep2 = e_persist[lead] * e_persist[lead];
                    double w = ep2 / (ep2 + e_seasonal * e_seasonal);
                    v = w * v + (1.0 - w) * level;
                }
            }
        }
        out[i] = v > 0.0 ? v : 0.0;
    }
    free(e_persist);
    return 0;
}
