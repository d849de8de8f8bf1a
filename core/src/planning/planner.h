/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The planner: turns what the service knows at one instant (forecasts, DR events, the base-load
 * forecast, device states, the billing-period peak) into the scenario of docs/optimizer.md for
 * the next horizon. Pure: no I/O, no clock, no globals, so every rule is unit-tested.
 *
 * Rules (the spec's "Planning" section, and our decisions where it is silent):
 *   - The grid starts at `now` aligned down to planner.step_minutes in the site's local time and
 *     has at most planner.horizon_steps steps, never past the end of the known import prices
 *     (the first step no import interval touches ends the horizon).
 *   - Forecast steps partly covered take the time-weighted mean of the covered part. Export
 *     prices and carbon intensity default to 0 where unknown (an export price that is not known
 *     is not counted on; carbon is only priced where known).
 *   - Base load: the load forecast from the meter history; without history, the latest base-load
 *     reading held flat; without any reading, 0 (and the inputs say so).
 *   - A battery's final energy target is its energy now (planner.battery_final_soc "initial"),
 *     clamped into its band as the spec does, or its soc_min ("none").
 *   - A flexible job is planned only in the steps that lie wholly inside [earliest, deadline).
 *     With planner.running_step "whole", what the jobs delivered since the running step began
 *     is load in step 0 (it cannot move any more), and each job is planned with what it has
 *     left (step_progress.h).
 *     Deferral: the jobs whose deadline is past the horizon are scheduled after the horizon's
 *     end earliest deadline first, each at most planner.defer_power_fraction of its own power
 *     and all together at most that fraction of the compute cap (they share it, and running
 *     them all flat out after the horizon would set a new peak). What that schedule cannot fit
 *     before a job's deadline must be delivered inside the horizon; the rolling horizon brings
 *     the rest in later, when its prices are known. Jobs with nothing to do in the horizon are
 *     left out (they still take their share of the cap after it).
 *   - Peak margin: plans treat the billing-period peak as gridems_peak_margin_kw() lower
 *     (planner.peak_margin_kw, or with "auto" at least that and the measured quantile of the
 *     plans' error against what the site drew, peak_margin.h).
 *   - Peak target (planner.peak_target_days > 0, peak_target.h): the peak the plan defends is
 *     at least the estimate of the period's peak from a look-ahead program (the last one solved;
 *     a new one, when due, is handed out in out->peak_lookahead to be solved with the plan).
 *   - The compute cap is the smaller of site.compute_limit_kw and the sum of the devices' own
 *     caps (when every flexible device has one).
 * Threads: any; the inputs are borrowed for the call.
 */
#ifndef GRIDEMS_PLANNER_H
#define GRIDEMS_PLANNER_H

#include <stdint.h>

#include "dr_events.h"
#include "forecast.h"
#include "gridems/plugin.h"
#include "gridems/scenario.h"
#include "load_forecast.h"
#include "peak_margin.h"
#include "service_config.h"

typedef struct gridems_planner_battery_s {
    const char *id; /* borrowed */
    gridems_battery_caps_t caps;
} gridems_planner_battery_t;

typedef struct gridems_planner_job_s {
    const char *id; /* borrowed */
    double energy_remaining_kwh;
    double power_max_kw;
    int64_t earliest_ms;
    int64_t deadline_ms;
    /* What it delivered since the running step began (step_progress.h), with planner.running_step
     * "whole": step 0 is planned as a whole step, so this counts as load in step 0 (it has
     * happened). 0 otherwise. */
    double delivered_in_step_kwh;
    /* The id of the cluster (planner inputs' clusters) whose cap it shares, or NULL. Borrowed. */
    const char *cluster;
} gridems_planner_job_t;

/* A flexible device whose own compute cap the plan must hold besides the site's (the scenario's
 * clusters, docs/optimizer.md "Clusters"). */
typedef struct gridems_planner_cluster_s {
    const char *id; /* borrowed: the device's id */
    double compute_limit_kw;
} gridems_planner_cluster_t;

typedef struct gridems_planner_inputs_s {
    const gridems_service_config_t *cfg;
    int64_t now_ms;
    const gridems_forecast_t *import_price;
    const gridems_forecast_t *export_price;
    const gridems_forecast_t *carbon;
    const gridems_dr_events_t *events;
    const gridems_load_forecast_t *load; /* may be NULL */
    int has_latest_load;
    double latest_load_kw;
    double peak_so_far_kw;
    const gridems_planner_battery_t *batteries;
    int n_batteries;
    const gridems_planner_job_t *jobs;
    int n_jobs;
    double device_compute_cap_kw;              /* < 0: none */
    const gridems_planner_cluster_t *clusters; /* [n_clusters]: may be NULL when 0 */
    int n_clusters;
    const gridems_peak_margin_t *margin_errors; /* may be NULL: planner.peak_margin_kw alone */
    /* The month-aware peak target (peak_target.h), updated by the build (it records the jobs
     * and hands out a look-ahead when one is due); NULL: none. */
    struct gridems_peak_target_s *peak_target;
} gridems_planner_inputs_t;

/* Where the base load of a plan came from. */
typedef enum {
    GRIDEMS_LOAD_FROM_FORECAST = 0,
    GRIDEMS_LOAD_FROM_LATEST = 1,
    GRIDEMS_LOAD_NONE = 2
} gridems_load_source_t;

typedef struct gridems_planner_output_s {
    int64_t grid_start_ms;
    int64_t step_ms;
    int steps;
    gridems_load_source_t load_source;
    int jobs_planned;      /* jobs in the scenario */
    int jobs_left_out;     /* jobs with nothing to do inside the horizon */
    double peak_margin_kw; /* the margin applied below the billing-period peak */
    double peak_target_kw; /* the month-aware floor known now, applied (0: none) */
    /* When a look-ahead solve is due (peak_target.h): the program whose peak import raises the
     * plan's peak floor further, owned by the caller (solve it with the plan, e.g.
     * gridems_solver_submit_plan, and report to gridems_peak_target_solved); else NULL. Set on
     * success only. */
    gridems_scenario_t *peak_lookahead;
} gridems_planner_output_t;

/*
 * gridems_planner_build: build the scenario for inputs.
 * Parameters: in (borrowed); sc (borrowed; filled on success, left freed on failure);
 *   out (borrowed; filled on success); err/errlen (borrowed buffer, may be NULL).
 * Returns: 0; GRIDEMS_ENOENT when no import price covers the current step (no plan is
 *   possible); GRIDEMS_EINVAL when the scenario breaks a rule (err names it); GRIDEMS_ENOMEM.
 */
int gridems_planner_build(const gridems_planner_inputs_t *in, gridems_scenario_t *sc,
                          gridems_planner_output_t *out, char *err, size_t errlen);

/* "forecast", "latest reading" or "none". */
const char *gridems_load_source_name(gridems_load_source_t source);

#endif
