/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "peak_target.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "planner.h"
#include "billing_period.h"
#include "timeutil.h"

#define WEEK_MS (7 * 86400000LL)

void gridems_peak_target_init(gridems_peak_target_t *pt)
{
    memset(pt, 0, sizeof *pt);
}

void gridems_peak_target_close(gridems_peak_target_t *pt)
{
    for (int i = 0; i < pt->n_seen; i++) {
        free(pt->seen[i].id);
    }
    free(pt->seen);
    memset(pt, 0, sizeof *pt);
}

/* Forget the jobs whose repeat a week later has begun (the real one is known by then), and
 * record the jobs not seen before. */
static int observe_jobs(gridems_peak_target_t *pt, const gridems_planner_inputs_t *in)
{
    int k = 0;
    for (int i = 0; i < pt->n_seen; i++) {
        if (pt->seen[i].earliest_ms + WEEK_MS > in->now_ms) {
            pt->seen[k++] = pt->seen[i];
        } else {
            free(pt->seen[i].id);
        }
    }
    pt->n_seen = k;
    for (int j = 0; j < in->n_jobs; j++) {
        const gridems_planner_job_t *job = &in->jobs[j];
        if (job->id == NULL || !(job->earliest_ms + WEEK_MS > in->now_ms)) {
            continue;
        }
        bool known = false;
        for (int i = 0; i < pt->n_seen && !known; i++) {
            known = strcmp(pt->seen[i].id, job->id) == 0;
        }
        if (known) {
            continue;
        }
        if (pt->n_seen == pt->cap_seen) {
            int cap = pt->cap_seen > 0 ? 2 * pt->cap_seen : 16;
            gridems_peak_target_job_t *grown = realloc(pt->seen, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                return GRIDEMS_ENOMEM;
            }
            pt->seen = grown;
            pt->cap_seen = cap;
        }
        char *id = strdup(job->id);
        if (id == NULL) {
            return GRIDEMS_ENOMEM;
        }
        double delivered = isfinite(job->delivered_in_step_kwh) && job->delivered_in_step_kwh > 0
                               ? job->delivered_in_step_kwh
                               : 0.0;
        pt->seen[pt->n_seen++] = (gridems_peak_target_job_t){
            id, job->earliest_ms, job->deadline_ms,
            fmax(0.0, job->energy_remaining_kwh) + delivered, job->power_max_kw};
        pt->new_job = true;
    }
    return 0;
}

/* A job of the look-ahead: its window as steps [first, last) of the grid, and its energy cut
 * to the share of its window that lies inside. Returns false when nothing of it is inside. */
static bool job_window(int64_t grid_start_ms, int64_t step_ms, int steps, int64_t now_ms,
                       int64_t earliest_ms, int64_t deadline_ms, double energy_kwh,
                       gridems_flex_load_t *fl)
{
    int64_t from = earliest_ms > now_ms ? earliest_ms : now_ms;
    if (!(energy_kwh > 1e-9) || deadline_ms <= from) {
        return false;
    }
    int64_t first = -gridems_time_floor_div(-(earliest_ms - grid_start_ms), step_ms);
    int64_t last = gridems_time_floor_div(deadline_ms - grid_start_ms, step_ms);
    if (earliest_ms <= now_ms || first < 0) {
        first = 0;
    }
    int64_t end_ms = grid_start_ms + (int64_t)steps * step_ms;
    if (deadline_ms > end_ms) {
        energy_kwh *= (double)(end_ms - from) / (double)(deadline_ms - from);
        last = steps;
    }
    if (first >= last || !(energy_kwh > 1e-9)) {
        return false;
    }
    fl->energy_kwh = energy_kwh;
    fl->earliest_step = (int)first;
    fl->deadline_step = (int)last;
    return true;
}

/* Ids in the look-ahead are its own ("j<n>"): a job and last week's repeat of it are two. */
static int add_job(gridems_scenario_t *sc, double power_kw, gridems_flex_load_t *fl)
{
    char name[32];
    snprintf(name, sizeof name, "j%d", sc->n_flex_loads);
    fl->id = name;
    fl->power_max_kw = power_kw;
    fl->cluster = NULL; /* the look-ahead keeps the site's pooled cap only */
    return gridems_scenario_add_flex_load(sc, fl);
}

static int add_jobs(const gridems_peak_target_t *pt, const gridems_planner_inputs_t *in,
                    int64_t grid_start_ms, int64_t step_ms, gridems_scenario_t *sc)
{
    int rc = 0;
    for (int j = 0; j < in->n_jobs && rc == 0; j++) {
        const gridems_planner_job_t *job = &in->jobs[j];
        gridems_flex_load_t fl;
        if (job->id != NULL && job->power_max_kw > 0 &&
            job_window(grid_start_ms, step_ms, sc->steps, in->now_ms, job->earliest_ms,
                       job->deadline_ms, job->energy_remaining_kwh, &fl)) {
            rc = add_job(sc, job->power_max_kw, &fl);
        }
    }
    /* Last week's jobs, a week later: only those that have not begun again yet. */
    for (int i = 0; i < pt->n_seen && rc == 0; i++) {
        const gridems_peak_target_job_t *h = &pt->seen[i];
        gridems_flex_load_t fl;
        if (h->earliest_ms + WEEK_MS > in->now_ms && h->power_max_kw > 0 &&
            job_window(grid_start_ms, step_ms, sc->steps, in->now_ms, h->earliest_ms + WEEK_MS,
                       h->deadline_ms + WEEK_MS, h->energy_kwh, &fl)) {
            rc = add_job(sc, h->power_max_kw, &fl);
        }
    }
    return rc;
}

int gridems_peak_target_build(const gridems_peak_target_t *pt, const gridems_planner_inputs_t *in,
                              const gridems_scenario_t *plan, int64_t grid_start_ms,
                              gridems_scenario_t *out)
{
    const gridems_service_config_t *cfg = in->cfg;
    int days = cfg->planner.peak_target_days;
    if (days <= 0 || plan->steps <= 0 || cfg->planner.step_minutes <= 0) {
        return GRIDEMS_EINVAL;
    }
    int per_day = 1440 / cfg->planner.step_minutes;
    int64_t step_ms = (int64_t)cfg->planner.step_minutes * 60000;
    int steps = days * per_day;
    int64_t period_end = INT64_MAX;
    if (gridems_billing_period(in->now_ms, cfg->site.billing_period, cfg->site.utc_offset_min, NULL,
                               0, NULL, &period_end) == 0 &&
        period_end != INT64_MAX) {
        int64_t left = (period_end - grid_start_ms) / step_ms;
        if (left < steps) {
            steps = (int)left;
        }
    }
    if (steps < plan->steps) {
        steps = plan->steps;
    }
    int rc = gridems_scenario_init(out, steps, plan->step_minutes);
    if (rc != 0) {
        return rc;
    }
    double *load = malloc((size_t)steps * sizeof *load);
    if (load == NULL) {
        gridems_scenario_free(out);
        return GRIDEMS_ENOMEM;
    }
    bool have_forecast =
        in->load != NULL &&
        gridems_load_forecast_predict(in->load, in->now_ms, grid_start_ms, steps, load) == 0;
    /* Past the known prices the program sees their mean, flat: a repeated day of prices would
     * make it buy peak for arbitrage it only imagines (ERCOT's price spikes, repeated daily,
     * raised the target by hundreds of kW), while the peak it should find is the one the work
     * needs. */
    double mean_import = 0, mean_export = 0, mean_carbon = 0;
    for (int t = 0; t < plan->steps; t++) {
        mean_import += plan->import_per_kwh[t] / plan->steps;
        mean_export += plan->export_per_kwh[t] / plan->steps;
        mean_carbon += plan->carbon_kg_per_kwh[t] / plan->steps;
    }
    for (int t = 0; t < steps; t++) {
        if (t < plan->steps) {
            out->import_per_kwh[t] = plan->import_per_kwh[t];
            out->export_per_kwh[t] = plan->export_per_kwh[t];
            out->carbon_kg_per_kwh[t] = plan->carbon_kg_per_kwh[t];
            out->base_load_kw[t] = plan->base_load_kw[t];
            out->pv_kw[t] = plan->pv_kw[t];
        } else {
            out->import_per_kwh[t] = mean_import;
            out->export_per_kwh[t] = mean_export;
            out->carbon_kg_per_kwh[t] = mean_carbon;
            double v =
                have_forecast && isfinite(load[t]) ? load[t] : plan->base_load_kw[plan->steps - 1];
            out->base_load_kw[t] = v > 0 ? v : 0.0;
            out->pv_kw[t] = 0.0;
        }
    }
    free(load);
    out->has_carbon = plan->has_carbon;
    out->carbon_price_per_kg = plan->carbon_price_per_kg;
    out->import_limit_kw = plan->import_limit_kw;
    out->export_limit_kw = plan->export_limit_kw;
    /* The whole demand charge: the period's charge rests on this peak (pro-rating it to the
     * look-ahead's share of the month measured worse: the program then bought peak for
     * arbitrage over repeated prices, and the target swung by 900 kW between solves). */
    out->demand_charge_per_kw = plan->demand_charge_per_kw;
    out->peak_so_far_kw = 0.0;
    out->has_compute_limit = plan->has_compute_limit;
    out->compute_limit_kw = plan->compute_limit_kw;
    out->unmet_flexible_per_kwh = plan->unmet_flexible_per_kwh;
    out->unserved_load_per_kwh = plan->unserved_load_per_kwh;
    out->final_soc_shortfall_per_kwh = plan->final_soc_shortfall_per_kwh;
    for (int b = 0; b < plan->n_batteries && rc == 0; b++) {
        rc = gridems_scenario_add_battery(out, &plan->batteries[b]);
    }
    for (int e = 0; e < plan->n_events && rc == 0; e++) {
        rc = gridems_scenario_add_event(out, &plan->events[e]);
    }
    if (rc == 0) {
        rc = add_jobs(pt, in, grid_start_ms, step_ms, out);
    }
    if (rc == 0 && plan->start != NULL) {
        rc = gridems_scenario_set_text(&out->start, plan->start);
    }
    if (rc == 0 && plan->currency != NULL) {
        rc = gridems_scenario_set_text(&out->currency, plan->currency);
    }
    if (rc == 0 && gridems_scenario_validate(out, NULL, 0) != 0) {
        rc = GRIDEMS_EINVAL;
    }
    if (rc != 0) {
        gridems_scenario_free(out);
    }
    return rc;
}

/* Start a new billing period's target when the period changed, and record the jobs. */
static int observe(gridems_peak_target_t *pt, const gridems_planner_inputs_t *in, int64_t *start)
{
    *start = INT64_MIN;
    gridems_billing_period(in->now_ms, in->cfg->site.billing_period, in->cfg->site.utc_offset_min,
                           NULL, 0, start, NULL);
    if (pt->has_target && *start != pt->period_start_ms) {
        pt->has_target = false; /* a new billing period: its peak starts again */
        pt->solves = 0;
    }
    return observe_jobs(pt, in);
}

int gridems_peak_target_prepare(gridems_peak_target_t *pt, const gridems_planner_inputs_t *in,
                                const gridems_scenario_t *plan, int64_t grid_start_ms,
                                double *floor_kw, gridems_scenario_t **lookahead)
{
    *floor_kw = 0.0;
    *lookahead = NULL;
    if (in->cfg->planner.peak_target_days <= 0) {
        return 0;
    }
    int64_t start;
    int rc = observe(pt, in, &start);
    if (rc != 0) {
        return rc;
    }
    *floor_kw = pt->has_target ? pt->target_kw : 0.0;
    const int64_t day_ms = 86400000LL;
    if (!(pt->solves == 0 || pt->new_job || in->now_ms - pt->solved_ms >= day_ms ||
          in->now_ms < pt->solved_ms)) {
        return 0;
    }
    pt->solves++;
    pt->new_job = false;
    pt->solved_ms = in->now_ms;
    pt->pending_period_start_ms = start;
    gridems_scenario_t *sc = calloc(1, sizeof *sc);
    if (sc == NULL || gridems_peak_target_build(pt, in, plan, grid_start_ms, sc) != 0) {
        free(sc);
        pt->failures++;
        return 0;
    }
    *lookahead = sc;
    return 0;
}

void gridems_peak_target_solved(gridems_peak_target_t *pt, bool ok, double peak_kw, double solve_ms)
{
    pt->last_solve_ms = solve_ms;
    if (!ok || !isfinite(peak_kw)) {
        pt->failures++;
        return;
    }
    if (!pt->has_target || pt->pending_period_start_ms != pt->period_start_ms) {
        pt->target_kw = peak_kw;
    } else {
        pt->target_kw = fmax(pt->target_kw, peak_kw);
    }
    pt->period_start_ms = pt->pending_period_start_ms;
    pt->has_target = true;
}

void gridems_peak_target_lost(gridems_peak_target_t *pt)
{
    pt->new_job = true; /* asked for again with the next plan */
}
