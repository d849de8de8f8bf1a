/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "peak_target.h"
#include "timeutil.h"

const char *gridems_load_source_name(gridems_load_source_t source)
{
    switch (source) {
    case GRIDEMS_LOAD_FROM_FORECAST:
        return "forecast";
    case GRIDEMS_LOAD_FROM_LATEST:
        return "latest reading";
    case GRIDEMS_LOAD_NONE:
        return "none";
    }
    return "unknown";
}

static void set_err(char *err, size_t errlen, const char *text)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", text);
    }
}

/* Resample a forecast onto the grid; unknown steps get `missing`. */
static void fill_series(const gridems_forecast_t *f, const gridems_planner_output_t *g, double *out,
                        double missing)
{
    if (gridems_forecast_resample(f, g->grid_start_ms, g->step_ms, g->steps, out) < 0) {
        for (int t = 0; t < g->steps; t++) {
            out[t] = missing;
        }
        return;
    }
    for (int t = 0; t < g->steps; t++) {
        if (isnan(out[t])) {
            out[t] = missing;
        }
    }
}

static void fill_base_load(const gridems_planner_inputs_t *in, gridems_planner_output_t *g,
                           double *out)
{
    if (in->load != NULL &&
        gridems_load_forecast_predict(in->load, in->now_ms, g->grid_start_ms, g->steps, out) == 0) {
        g->load_source = GRIDEMS_LOAD_FROM_FORECAST;
        for (int t = 0; t < g->steps; t++) {
            out[t] = isfinite(out[t]) && out[t] > 0 ? out[t] : 0.0;
        }
        return;
    }
    double flat = 0.0;
    g->load_source = GRIDEMS_LOAD_NONE;
    if (in->has_latest_load && isfinite(in->latest_load_kw)) {
        flat = fmax(0.0, in->latest_load_kw);
        g->load_source = GRIDEMS_LOAD_FROM_LATEST;
    }
    for (int t = 0; t < g->steps; t++) {
        out[t] = flat;
    }
}

/* Step 0 is the running step, planned whole (its values are the step's means): what the jobs
 * already drew in it cannot be moved any more, so it counts as load in step 0, and each job is
 * planned with what it has left (step_progress.h). */
static void add_delivered_in_step(const gridems_planner_inputs_t *in, gridems_scenario_t *sc)
{
    double step_h = sc->step_minutes / 60.0;
    for (int j = 0; j < in->n_jobs && sc->steps > 0; j++) {
        double kwh = in->jobs[j].delivered_in_step_kwh;
        if (isfinite(kwh) && kwh > 0) {
            sc->base_load_kw[0] += kwh / step_h;
        }
    }
}

static int add_batteries(const gridems_planner_inputs_t *in, gridems_scenario_t *sc)
{
    for (int b = 0; b < in->n_batteries; b++) {
        const gridems_battery_caps_t *c = &in->batteries[b].caps;
        gridems_battery_t bat = {(char *)in->batteries[b].id,
                                 c->capacity_kwh,
                                 fmin(fmax(c->soc_kwh, 0.0), c->capacity_kwh),
                                 c->soc_min_kwh,
                                 c->soc_max_kwh,
                                 0.0,
                                 c->charge_max_kw,
                                 c->discharge_max_kw,
                                 c->charge_efficiency,
                                 c->discharge_efficiency,
                                 c->cycle_cost_per_kwh};
        if (in->cfg->planner.battery_final_soc == GRIDEMS_FINAL_SOC_INITIAL) {
            bat.final_soc_min_kwh = fmin(fmax(bat.soc_kwh, bat.soc_min_kwh), bat.soc_max_kwh);
        } else if (in->cfg->planner.battery_final_soc == GRIDEMS_FINAL_SOC_MID) {
            bat.final_soc_min_kwh = 0.5 * (bat.soc_min_kwh + bat.soc_max_kwh);
        } else if (in->cfg->planner.battery_final_soc == GRIDEMS_FINAL_SOC_VALUE) {
            /* A full battery as the "target", with the shortfall priced at what a stored kWh is
             * worth (set in gridems_planner_build): a linear value of the energy left. */
            bat.final_soc_min_kwh = bat.soc_max_kwh;
        } else {
            bat.final_soc_min_kwh = bat.soc_min_kwh;
        }
        int rc = gridems_scenario_add_battery(sc, &bat);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return -gridems_time_floor_div(-a, b);
}

/* Batteries and jobs share one id space in a scenario; a device that reuses an id (two
 * clusters naming a job alike, a job named like a battery) must not cost the whole site its
 * plan, so the later one is left out and counted. */
static bool id_taken(const gridems_scenario_t *sc, const char *id)
{
    for (int b = 0; b < sc->n_batteries; b++) {
        if (strcmp(sc->batteries[b].id, id) == 0) {
            return true;
        }
    }
    for (int j = 0; j < sc->n_flex_loads; j++) {
        if (strcmp(sc->flex_loads[j].id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* One job the rolling horizon may finish after the horizon ends. */
typedef struct later_job_s {
    int index;        /* into in->jobs */
    double remaining; /* kWh not yet placed after the horizon */
    double placed;    /* kWh placed after the horizon */
    double rate;      /* kW in the current stretch of the simulation */
} later_job_t;

static int by_deadline(const void *a, const void *b, const gridems_planner_job_t *jobs)
{
    const gridems_planner_job_t *x = &jobs[((const later_job_t *)a)->index];
    const gridems_planner_job_t *y = &jobs[((const later_job_t *)b)->index];
    if (x->deadline_ms != y->deadline_ms) {
        return x->deadline_ms < y->deadline_ms ? -1 : 1;
    }
    if (x->earliest_ms != y->earliest_ms) {
        return x->earliest_ms < y->earliest_ms ? -1 : 1;
    }
    int ia = ((const later_job_t *)a)->index, ib = ((const later_job_t *)b)->index;
    return (ia > ib) - (ia < ib);
}

/* Insertion sort: the job lists are short, and qsort has no context argument in C11. */
static void sort_by_deadline(later_job_t *v, int n, const gridems_planner_job_t *jobs)
{
    for (int i = 1; i < n; i++) {
        later_job_t key = v[i];
        int k = i - 1;
        while (k >= 0 && by_deadline(&v[k], &key, jobs) > 0) {
            v[k + 1] = v[k];
            k--;
        }
        v[k + 1] = key;
    }
}

/*
 * How much of each job whose deadline is past the horizon can be left for after it
 * (planner.h, "deferral"): an earliest-deadline-first schedule from the horizon's end, in which
 * each job runs at most defer_power_fraction of its own power and all of them together at most
 * that fraction of the compute cap. It is simulated as a fluid schedule, stretch by stretch:
 * within a stretch every rate is constant, and a stretch ends when a job finishes, reaches its
 * deadline or may start. Each stretch ends at least one of those, so there are at most 3n.
 * after[j] gets the kWh job j may leave for later (0 for jobs due inside the horizon).
 */
static int deferrable_energy(const gridems_planner_inputs_t *in, int64_t horizon_end, double cap,
                             double *after)
{
    double fraction = in->cfg->planner.defer_power_fraction;
    later_job_t *v = calloc((size_t)(in->n_jobs > 0 ? in->n_jobs : 1), sizeof *v);
    if (v == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int n = 0;
    for (int j = 0; j < in->n_jobs; j++) {
        const gridems_planner_job_t *job = &in->jobs[j];
        after[j] = 0.0;
        if (job->deadline_ms > horizon_end && job->energy_remaining_kwh > 0 &&
            job->power_max_kw > 0) {
            v[n++] = (later_job_t){j, job->energy_remaining_kwh, 0.0, 0.0};
        }
    }
    sort_by_deadline(v, n, in->jobs);
    double t = (double)horizon_end;
    double shared = isfinite(cap) ? fraction * cap : HUGE_VAL;
    for (int round = 0; round < 3 * n + 3; round++) {
        double left = shared, next = HUGE_VAL;
        for (int i = 0; i < n; i++) {
            const gridems_planner_job_t *job = &in->jobs[v[i].index];
            v[i].rate = 0.0;
            if (!(v[i].remaining > 0) || (double)job->deadline_ms <= t) {
                continue;
            }
            if ((double)job->earliest_ms > t) {
                next = fmin(next, (double)job->earliest_ms);
                continue;
            }
            v[i].rate = fmin(fraction * job->power_max_kw, left);
            left -= v[i].rate;
            next = fmin(next, (double)job->deadline_ms);
            if (v[i].rate > 0) {
                next = fmin(next, t + v[i].remaining / v[i].rate * 3600000.0);
            }
        }
        if (!isfinite(next) || !(next > t)) {
            break;
        }
        double hours = (next - t) / 3600000.0;
        for (int i = 0; i < n; i++) {
            double done = fmin(v[i].remaining, v[i].rate * hours);
            v[i].remaining -= done;
            v[i].placed += done;
            if (v[i].remaining <= 1e-9 * fmax(1.0, v[i].placed)) {
                v[i].placed += v[i].remaining; /* finished: rounding is not a leftover */
                v[i].remaining = 0.0;
            }
        }
        t = next;
    }
    for (int i = 0; i < n; i++) {
        after[v[i].index] = v[i].placed;
    }
    free(v);
    return 0;
}

/* The job's cluster when the inputs list it (a device without a cap of its own has none). */
static const char *job_cluster(const gridems_planner_inputs_t *in, const gridems_planner_job_t *job)
{
    for (int c = 0; job->cluster != NULL && c < in->n_clusters; c++) {
        if (strcmp(in->clusters[c].id, job->cluster) == 0) {
            return job->cluster;
        }
    }
    return NULL;
}

static int add_jobs(const gridems_planner_inputs_t *in, const gridems_planner_output_t *g,
                    double cap, gridems_scenario_t *sc, int *planned, int *left_out)
{
    int64_t horizon_end = g->grid_start_ms + (int64_t)g->steps * g->step_ms;
    double *after = calloc((size_t)(in->n_jobs > 0 ? in->n_jobs : 1), sizeof *after);
    if (after == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int rc = deferrable_energy(in, horizon_end, cap, after);
    for (int j = 0; j < in->n_jobs && rc == 0; j++) {
        const gridems_planner_job_t *job = &in->jobs[j];
        /* Whole steps inside the job's window; step 0 counts from the grid start (it is the
         * step running now, and the job may run in what is left of it). */
        int64_t first = ceil_div(job->earliest_ms - g->grid_start_ms, g->step_ms);
        int64_t last = gridems_time_floor_div(job->deadline_ms - g->grid_start_ms, g->step_ms);
        if (job->earliest_ms <= in->now_ms) {
            first = 0;
        }
        first = first < 0 ? 0 : first;
        last = last > g->steps ? g->steps : last;
        /* What the schedule after the horizon cannot take must be delivered in it. */
        double energy = job->energy_remaining_kwh - after[j];
        if (first >= last || !(energy > 1e-9) || !(job->power_max_kw > 0) ||
            id_taken(sc, job->id)) {
            (*left_out)++;
            continue;
        }
        gridems_flex_load_t fl = {(char *)job->id, energy,    job->power_max_kw,
                                  (int)first,      (int)last, (char *)job_cluster(in, job)};
        rc = gridems_scenario_add_flex_load(sc, &fl);
        if (rc == 0) {
            (*planned)++;
        }
    }
    free(after);
    return rc;
}

/*
 * battery_final_soc "value": what a kWh left in a battery at the horizon's end is worth, the
 * horizon's mean import price. The plan then charges below it and discharges above it (less the
 * losses) wherever that pays, and keeps energy for a peak it can see, but no plan is forced to
 * refill a battery by a horizon end that has not yet got its next day of prices. Never below
 * one millionth: the scenario wants a positive penalty.
 */
static double stored_energy_value(const gridems_scenario_t *sc)
{
    double sum = 0;
    for (int t = 0; t < sc->steps; t++) {
        sum += sc->import_per_kwh[t];
    }
    double mean = sc->steps > 0 ? sum / sc->steps : 0;
    return mean > 1e-6 ? mean : 1e-6;
}

static int fill_scenario(const gridems_planner_inputs_t *in, gridems_scenario_t *sc,
                         gridems_planner_output_t *g)
{
    const gridems_service_config_t *cfg = in->cfg;
    fill_series(in->import_price, g, sc->import_per_kwh, 0.0);
    fill_series(in->export_price, g, sc->export_per_kwh, 0.0);
    if (in->carbon != NULL && in->carbon->n > 0) {
        sc->has_carbon = true;
        sc->carbon_price_per_kg = cfg->planner.carbon_price_per_kg;
        fill_series(in->carbon, g, sc->carbon_kg_per_kwh, 0.0);
    }
    fill_base_load(in, g, sc->base_load_kw);
    add_delivered_in_step(in, sc);
    sc->import_limit_kw = cfg->site.import_limit_kw;
    sc->export_limit_kw = cfg->site.export_limit_kw;
    sc->demand_charge_per_kw = cfg->site.demand_charge_per_kw;
    /* Plans keep a margin below the billing-period peak: what the site really draws differs
     * from the plan (forecast error, meter noise, devices acting late), and an overshoot raises
     * the peak for the rest of the period, a charge no later plan can undo. */
    g->peak_margin_kw = gridems_peak_margin_kw(in->margin_errors, cfg);
    sc->peak_so_far_kw = fmax(0.0, in->peak_so_far_kw - g->peak_margin_kw);
    sc->unmet_flexible_per_kwh = cfg->planner.unmet_flexible_per_kwh;
    sc->unserved_load_per_kwh = cfg->planner.unserved_load_per_kwh;
    sc->final_soc_shortfall_per_kwh = cfg->planner.final_soc_shortfall_per_kwh;
    if (cfg->planner.battery_final_soc == GRIDEMS_FINAL_SOC_VALUE) {
        sc->final_soc_shortfall_per_kwh = stored_energy_value(sc);
    }
    double cap = cfg->site.has_compute_limit ? cfg->site.compute_limit_kw : HUGE_VAL;
    if (in->device_compute_cap_kw >= 0) {
        cap = fmin(cap, in->device_compute_cap_kw);
    }
    if (isfinite(cap)) {
        sc->has_compute_limit = true;
        sc->compute_limit_kw = cap;
    }
    /* Each listed device's own cap is a cluster of the program; the pooled cap above stays (it
     * is what the deferral and the month's look-ahead count on). */
    int rc = 0;
    for (int c = 0; c < in->n_clusters && rc == 0; c++) {
        gridems_cluster_t cl = {(char *)in->clusters[c].id, in->clusters[c].compute_limit_kw};
        rc = gridems_scenario_add_cluster(sc, &cl);
    }
    if (rc == 0) {
        rc = add_batteries(in, sc);
    }
    if (rc == 0) {
        rc = add_jobs(in, g, cap, sc, &g->jobs_planned, &g->jobs_left_out);
    }
    if (rc != 0) {
        return rc;
    }
    gridems_event_t events[GRIDEMS_DR_MAX_EVENTS];
    int n = gridems_dr_events_to_grid(in->events, g->grid_start_ms, g->step_ms, g->steps, events,
                                      GRIDEMS_DR_MAX_EVENTS);
    for (int e = 0; e < n && rc == 0; e++) {
        rc = gridems_scenario_add_event(sc, &events[e]);
    }
    if (rc != 0) {
        return rc;
    }
    char start[64];
    gridems_time_format_iso(g->grid_start_ms, cfg->site.utc_offset_min, start, sizeof start);
    rc = gridems_scenario_set_text(&sc->start, start);
    if (rc == 0) {
        rc = gridems_scenario_set_text(&sc->currency, cfg->site.currency);
    }
    return rc;
}

int gridems_planner_build(const gridems_planner_inputs_t *in, gridems_scenario_t *sc,
                          gridems_planner_output_t *out, char *err, size_t errlen)
{
    const gridems_service_config_t *cfg = in->cfg;
    memset(out, 0, sizeof *out);
    memset(sc, 0, sizeof *sc);
    out->step_ms = (int64_t)cfg->planner.step_minutes * 60000;
    if (gridems_time_align_down(in->now_ms, out->step_ms, cfg->site.utc_offset_min,
                                &out->grid_start_ms) != 0) {
        set_err(err, errlen, "the clock is outside the supported time range");
        return GRIDEMS_EINVAL;
    }
    int covered = gridems_forecast_coverage(in->import_price, out->grid_start_ms, out->step_ms,
                                            cfg->planner.horizon_steps);
    if (covered <= 0) {
        set_err(err, errlen,
                "no import price covers the current step; waiting for a price "
                "forecast");
        return GRIDEMS_ENOENT;
    }
    out->steps = covered;
    int rc = gridems_scenario_init(sc, out->steps, cfg->planner.step_minutes);
    if (rc == 0) {
        rc = fill_scenario(in, sc, out);
    }
    /* The month-aware floor (peak_target.h): the peak the period will reach anyway is not
     * worth defending below. */
    gridems_scenario_t *lookahead = NULL;
    if (rc == 0 && in->peak_target != NULL) {
        rc = gridems_peak_target_prepare(in->peak_target, in, sc, out->grid_start_ms,
                                         &out->peak_target_kw, &lookahead);
        if (rc == 0 && out->peak_target_kw > sc->peak_so_far_kw) {
            sc->peak_so_far_kw = out->peak_target_kw;
        }
    }
    if (rc == 0 && gridems_scenario_validate(sc, err, errlen) != 0) {
        rc = GRIDEMS_EINVAL;
    } else if (rc != 0) {
        set_err(err, errlen, gridems_strerror(rc));
    }
    if (rc != 0) {
        gridems_scenario_free(sc);
        if (lookahead != NULL) {
            gridems_scenario_free(lookahead);
            free(lookahead);
            gridems_peak_target_lost(in->peak_target);
        }
        return rc;
    }
    out->peak_lookahead = lookahead;
    return 0;
}
