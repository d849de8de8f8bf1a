/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The peak guard's arithmetic: the running step's projected mean import, the target it must not
 * exceed, and how much to shed for the rest of the step, split between batteries and compute.
 *
 * The demand charge bills the largest per-step mean import of the billing period. Between plan
 * steps, meter noise and devices acting late land inside the step; the guard looks every few
 * seconds at the energy imported so far in the step plus the latest import held for the rest
 * of it, and when that mean would exceed the target it asks the devices for the difference.
 *
 * Everything here is a pure function of its arguments (readings, plan, clock): no clock reads, no
 * randomness, no state but what the caller passes in, so a backtest replays it exactly.
 * core/src/service/service_guard.c gathers the inputs and sends the set-points.
 *
 * Thread: any; nothing is shared.
 */
#ifndef GRIDEMS_PEAK_GUARD_H
#define GRIDEMS_PEAK_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The import energy of one step, integrated from samples of the import (kW) as they are taken:
 * each sample is held until the next one (the way a meter register counts between two reads).
 * The first sample of a step covers the step from its start: the previous step's last sample
 * when there was one, else the first sample itself.
 * Zero-initialise before the first add.
 */
typedef struct gridems_peak_guard_meter_s {
    int64_t step_start_ms; /* the step being integrated */
    double energy_kwh;     /* from step_start_ms to last_ms */
    int64_t last_ms;       /* the last sample */
    double last_kw;
    bool has_last;
} gridems_peak_guard_meter_t;

/*
 * gridems_peak_guard_meter_add: count the time since the last sample and take a new one.
 * Parameters: m (borrowed); step_start_ms: the start of the step that holds now_ms (a new value
 *   starts a new step's energy); now_ms: the sample's time (a sample older than the last one is
 *   ignored); kw: the import then (a non-finite value is ignored).
 */
void gridems_peak_guard_meter_add(gridems_peak_guard_meter_t *m, int64_t step_start_ms,
                                  int64_t now_ms, double kw);

/*
 * gridems_peak_guard_target_kw: the step mean import the guard defends.
 * Parameters:
 *   peak_kw: the billing-period peak so far (the largest step mean noted, not the plan's
 *     margin-reduced one);
 *   planned_kw: the plan's grid import for this step;
 *   limit_kw: the step's hard import limit (the site's, or a DR event's when lower);
 *   demand_charged: whether the site pays a demand charge.
 * Returns: min(limit_kw, max(peak_kw, planned_kw)) with a demand charge; limit_kw without one.
 *   Above the plan's import but below the peak costs only the energy the plan did not expect,
 *   which the next re-plan prices; spending battery energy the plan kept for later on it would
 *   not be cheaper. Above both, the step becomes the new peak and every later step of the period
 *   may fill up to it: that is what the guard prevents. A plan that raises the peak in this very
 *   step has accepted its planned import as the new peak.
 */
double gridems_peak_guard_target_kw(double peak_kw, double planned_kw, double limit_kw,
                                    bool demand_charged);

/* One decision's inputs. Powers in kW, energy in kWh, times in ms on the service clock. */
typedef struct gridems_peak_guard_in_s {
    int64_t step_start_ms;
    int64_t step_end_ms;
    int64_t now_ms;             /* within [step_start_ms, step_end_ms) */
    double energy_kwh;          /* imported from step_start_ms to now_ms */
    double import_kw;           /* the latest import */
    double in_effect_kw;        /* the part of the guard's own shed that import_kw already shows */
    double target_kw;           /* gridems_peak_guard_target_kw() */
    double margin_kw;           /* >= 0: aim this much below the target */
    double battery_headroom_kw; /* >= 0: more discharge (or less charge) than planned, possible
                                 * for the rest of the step */
    double compute_headroom_kw; /* >= 0: compute that can wait without making a job late */
} gridems_peak_guard_in_t;

/* One decision. */
typedef struct gridems_peak_guard_out_s {
    double projected_kw; /* the step's mean import if the import without the guard held */
    double goal_kw;      /* target_kw - margin_kw */
    bool engaged;        /* projected_kw above goal_kw (beyond GRIDEMS_PEAK_GUARD_TOLERANCE) */
    double shed_kw;      /* the import reduction, from now to the step's end, that brings the
                          * step's mean down to goal_kw; 0 when not engaged */
    double battery_kw;   /* the batteries' part: min(shed, battery headroom) */
    double compute_kw;   /* the compute's part: the rest, within the compute headroom */
    double uncovered_kw; /* what the headroom cannot give */
} gridems_peak_guard_out_t;

/* A projected excess of at most this fraction of the goal (a meter's accuracy class, 0.1 %) is
 * no excess: without it, a guard that has held the mean exactly at the goal would chatter
 * between engaged and released on rounding. */
#define GRIDEMS_PEAK_GUARD_TOLERANCE 1e-3

/*
 * gridems_peak_guard_decide: project the step's mean and decide the shed.
 * The import without the guard is import_kw + in_effect_kw; held for the rest of the step, the
 * mean is projected = (energy + that * remaining) / step. Above the goal, the shed is what the
 * rest of the step must lose: (projected - goal) * step / remaining. Batteries give first
 * (stored energy the plan keeps costs least to borrow for minutes), then compute.
 * Parameters: in, out (borrowed). A step with no time left, or an invalid step, decides nothing
 *   (not engaged, everything 0 but projected_kw and goal_kw).
 */
void gridems_peak_guard_decide(const gridems_peak_guard_in_t *in, gridems_peak_guard_out_t *out);

/*
 * gridems_peak_guard_job_sheddable_kw: how much of a job's power for the rest of the step the
 * guard may hold back: what the job can give up and still finish by its deadline less the
 * reserve, given what it can still run after the step (after_kwh, from
 * gridems_peak_guard_catch_up_kwh). A job behind its plan needs the rest of the step, all of it
 * or part, and holding that back would make it late, so it is not offered. The reserve stays
 * the reserve: for the seconds devices take to act, not for the guard.
 * Parameters: rest_kw (>= 0, the job's power for the rest of the step), remaining_kwh: the
 *   job's; after_kwh: the most it can run from the step's end to its deadline less the reserve;
 *   now_ms, step_end_ms: the clock and the running step's end.
 * Returns: 0..rest_kw; 0 when no time is left in the step.
 */
double gridems_peak_guard_job_sheddable_kw(double rest_kw, double remaining_kwh, double after_kwh,
                                           int64_t now_ms, int64_t step_end_ms);

/* The plan's flexible power, for gridems_peak_guard_catch_up_kwh (all borrowed). */
typedef struct gridems_peak_guard_room_s {
    int64_t grid_start_ms; /* the plan's step 0 */
    int64_t step_ms;
    int steps;
    const double *compute_kw; /* [steps] every job's planned power together */
    double cap_kw;            /* the compute cap the plan keeps to; HUGE_VAL: none */
    double *claimed_kw;       /* [steps] free room under cap_kw that other jobs held back now
                               * (of every device) will take to catch up
                               * (gridems_peak_guard_claim_room), or NULL: none counted */
    /* The job's device as a cluster of the plan (its own cap, scenario.h): the planned power of
     * the device's jobs together, the cap, and the room under it that the device's other
     * held-back jobs claim. NULL / HUGE_VAL / NULL: the device is no cluster. */
    const double *cluster_kw; /* [steps] */
    double cluster_cap_kw;
    double *cluster_claimed_kw; /* [steps] */
} gridems_peak_guard_room_t;

/*
 * gridems_peak_guard_catch_up_kwh: the most a job can run from from_ms to due_ms: in each plan
 * step its own planned power plus what the plan leaves free under the compute cap (and under its
 * device's own cap, with a cluster) and other
 * held-back jobs have not claimed, at most its power_max_kw (so jobs that fill the cap after the
 * step leave a held-back job no room to catch up); past the plan's last step, its full power.
 * Parameters: room (borrowed); job_kw (borrowed, [room->steps], or NULL: the plan does not hold
 *   the job); power_max_kw; from_ms, due_ms.
 * Returns: kWh >= 0 (0 when due_ms <= from_ms).
 */
double gridems_peak_guard_catch_up_kwh(const gridems_peak_guard_room_t *room, const double *job_kw,
                                       double power_max_kw, int64_t from_ms, int64_t due_ms);

/*
 * gridems_peak_guard_claim_room: note in room->claimed_kw the free room a job held back now
 * takes to run need_kwh from from_ms on: step by step from the earliest, its own planned power
 * first, then the free room not yet claimed, at most its power_max_kw, until need_kwh is run
 * (what is left past the plan's end claims nothing). So the next job's catch-up does not count
 * the same room. Noted in room->claimed_kw and, with a cluster, room->cluster_claimed_kw (each
 * when not NULL).
 */
void gridems_peak_guard_claim_room(const gridems_peak_guard_room_t *room, const double *job_kw,
                                   double power_max_kw, int64_t from_ms, int64_t due_ms,
                                   double need_kwh);

#endif
