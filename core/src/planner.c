/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
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
static void fill_series(const gridems_forecast_t *f, const gridems_planner_output_t *g,
                        double *out, double missing)
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

static int add_jobs(const gridems_planner_inputs_t *in, const gridems_planner_output_t *g,
                    gridems_scenario_t *sc, int *planned, int *left_out)
{
    int64_t horizon_end = g->grid_start_ms + (int64_t)g->steps * g->step_ms;
    for (int j = 0; j < in->n_jobs; j++) {
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
        /* What cannot be delivered after the horizon at full power must be delivered in it. */
        double after_h = job->deadline_ms > horizon_end
                             ? (double)(job->deadline_ms - horizon_end) / 3600000.0
                             : 0.0;
        double energy = job->energy_remaining_kwh - job->power_max_kw * after_h;
        if (first >= last || !(energy > 1e-9) || !(job->power_max_kw > 0) ||
            id_taken(sc, job->id)) {
            (*left_out)++;
            continue;
        }
        gridems_flex_load_t fl = {(char *)job->id, energy, job->power_max_kw, (int)first,
                                  (int)last};
        int rc = gridems_scenario_add_flex_load(sc, &fl);
        if (rc != 0) {
            return rc;
        }
        (*planned)++;
    }
    return 0;
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
    sc->import_limit_kw = cfg->site.import_limit_kw;
    sc->export_limit_kw = cfg->site.export_limit_kw;
    sc->demand_charge_per_kw = cfg->site.demand_charge_per_kw;
    /* Plans keep planner.peak_margin_kw below the billing-period peak: what the site really
     * draws differs from the plan (forecast error, meter noise, devices acting late), and an
     * overshoot raises the peak for the rest of the period, a charge no later plan can undo. */
    sc->peak_so_far_kw = fmax(0.0, in->peak_so_far_kw - cfg->planner.peak_margin_kw);
    sc->unmet_flexible_per_kwh = cfg->planner.unmet_flexible_per_kwh;
    sc->unserved_load_per_kwh = cfg->planner.unserved_load_per_kwh;
    sc->final_soc_shortfall_per_kwh = cfg->planner.final_soc_shortfall_per_kwh;
    double cap = cfg->site.has_compute_limit ? cfg->site.compute_limit_kw : HUGE_VAL;
    if (in->device_compute_cap_kw >= 0) {
        cap = fmin(cap, in->device_compute_cap_kw);
    }
    if (isfinite(cap)) {
        sc->has_compute_limit = true;
        sc->compute_limit_kw = cap;
    }
    int rc = add_batteries(in, sc);
    if (rc == 0) {
        rc = add_jobs(in, g, sc, &g->jobs_planned, &g->jobs_left_out);
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
        set_err(err, errlen, "no import price covers the current step; waiting for a price "
                             "forecast");
        return GRIDEMS_ENOENT;
    }
    out->steps = covered;
    int rc = gridems_scenario_init(sc, out->steps, cfg->planner.step_minutes);
    if (rc == 0) {
        rc = fill_scenario(in, sc, out);
    }
    if (rc == 0 && gridems_scenario_validate(sc, err, errlen) != 0) {
        rc = GRIDEMS_EINVAL;
    } else if (rc != 0) {
        set_err(err, errlen, gridems_strerror(rc));
    }
    if (rc != 0) {
        gridems_scenario_free(sc);
    }
    return rc;
}
