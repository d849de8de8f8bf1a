/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The month-aware peak target (planner.peak_target_days): an estimate of the billing-period
 * peak the site will reach anyway, used as a floor for the peak a plan sees.
 *
 * Why: a month's demand charge is set by its one highest step, but a plan sees at most the
 * horizon of known prices (about 36 h). Early in the period the peak so far is low, so each
 * plan pays energy and battery to defend it; the batteries are then low when a heavy job's
 * deadline comes, the job (behind its plan) runs flat out in its last step, and the month's
 * peak is set there anyway. Flooring the plan's peak at the month peak of perfect foresight
 * (not knowable) measured well above both defending and slipping; this module estimates that
 * peak from what the service knows at the time. Measured: docs/service.md, "Month-aware peak
 * target".
 *
 * Rule: a look-ahead program from the running step over planner.peak_target_days days, cut at
 * the end of the billing period (but never shorter than the plan), solved with the optimizer:
 *   - import, export prices and carbon: the plan's; past their end, their mean over the plan,
 *     flat (the program should find the peak the work needs, not buy peak for arbitrage on
 *     prices nobody knows yet);
 *   - base load: the plan's for the plan's steps, then the load forecast (its 7-day
 *     time-of-day profile), else the plan's last value held;
 *   - batteries, compute cap, limits, DR events and penalties: the plan's;
 *   - jobs: the jobs known now with what they have left (a job due past the look-ahead with
 *     the share of its energy that its window inside the look-ahead is of the whole), and the
 *     jobs seen in the last 7 days repeated 7 days later (their window and energy as first
 *     seen), so the week's pattern of arrivals counts before it comes again; a job is
 *     forgotten once its repeat has begun (the real one is known by then);
 *   - the site's whole demand charge and no peak so far, so the program's peak is the least
 *     the known and expected work needs, traded against energy as a plan trades it.
 * The target is the highest peak import of the programs solved in the billing period (the
 * period's peak will be at least each one); a new period starts again. It is never used as
 * a plan step (the contract forbids planning past the known prices), only as a floor under
 * the peak the plan defends (after the peak margin: the plan fills up to the target, and the
 * margin keeps it below the real peak only). It is solved at the first plan of a period, when
 * a job not seen before appears and when the last solve is a day old; between solves the last
 * target holds. A solve that fails leaves the last target (or none) and is counted.
 *
 * The solve (tens of ms on the example site, at most planner.solve_time_limit_ms) never runs on
 * the service's loop: _prepare hands the look-ahead program out with the plan, the solver thread
 * solves it before the plan and raises the plan's peak floor to its peak
 * (gridems_solver_submit_plan), and _solved takes the outcome back.
 *
 * Ownership: a gridems_peak_target_t is embedded by the caller (_init/_close) and owns its job
 * history.
 * Threads: one tracker belongs to one thread (the service's loop thread, inside the planner
 * call and the solver's result callback).
 */
#ifndef GRIDEMS_PEAK_TARGET_H
#define GRIDEMS_PEAK_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gridems/optimizer.h"
#include "gridems/scenario.h"

struct gridems_planner_inputs_s;

/* One job as first seen (its whole energy, window and power). */
typedef struct gridems_peak_target_job_s {
    char *id; /* owned */
    int64_t earliest_ms;
    int64_t deadline_ms;
    double energy_kwh;
    double power_max_kw;
} gridems_peak_target_job_t;

typedef struct gridems_peak_target_s {
    gridems_peak_target_job_t *seen; /* [n_seen], owned: jobs seen in the last 7 days */
    int n_seen, cap_seen;
    bool new_job;                    /* a job not seen before since the last solve */
    bool has_target;                 /* a solve succeeded */
    double target_kw;                /* the last solve's peak import */
    int64_t solved_ms;               /* when it was solved (the planner's now) */
    int64_t period_start_ms;         /* the billing period the target belongs to */
    int64_t pending_period_start_ms; /* the period of the look-ahead handed out last */
    int solves;                      /* solves attempted */
    int failures;                    /* solves that failed */
    double last_solve_ms;            /* wall time of the last solve */
} gridems_peak_target_t;

/* An empty tracker. Thread: any. */
void gridems_peak_target_init(gridems_peak_target_t *pt);

/* Free the history and the optimizer and zero pt. Safe on a closed tracker. Thread: the owner. */
void gridems_peak_target_close(gridems_peak_target_t *pt);

/*
 * gridems_peak_target_prepare: record the jobs of `in`, give the target known now in *floor_kw
 * (0 when there is none yet or planner.peak_target_days is 0) and, when a solve is due (the rule
 * above), the look-ahead program in *lookahead (heap; the caller owns it: gridems_scenario_free
 * and free), else NULL. Whoever solves it reports with gridems_peak_target_solved, or
 * gridems_peak_target_lost when it was never solved.
 * Parameters: pt (borrowed); in (borrowed: now, jobs, load forecast, config); plan (borrowed:
 *   the plan's scenario, built for the same inputs, read only); grid_start_ms (the plan's
 *   first step); floor_kw, lookahead (out).
 * Returns: 0 (a look-ahead that cannot be built is counted in pt->failures); GRIDEMS_ENOMEM
 *   when the job history cannot grow.
 * Thread: the owner.
 */
int gridems_peak_target_prepare(gridems_peak_target_t *pt,
                                const struct gridems_planner_inputs_s *in,
                                const gridems_scenario_t *plan, int64_t grid_start_ms,
                                double *floor_kw, gridems_scenario_t **lookahead);

/* The last look-ahead handed out was solved (ok, with its schedule's peak_import_kw) or failed,
 * in solve_ms of wall time. Thread: the owner. */
void gridems_peak_target_solved(gridems_peak_target_t *pt, bool ok, double peak_kw,
                                double solve_ms);

/* The last look-ahead handed out was dropped unsolved: ask again with the next plan. */
void gridems_peak_target_lost(gridems_peak_target_t *pt);

/*
 * gridems_peak_target_build: the look-ahead scenario of the rule above (exposed for the tests).
 * Parameters as gridems_peak_target_prepare; out (borrowed, overwritten; on success the caller
 * frees it with gridems_scenario_free).
 * Returns: 0, GRIDEMS_EINVAL (days 0 or the scenario breaks a rule), GRIDEMS_ENOMEM.
 */
int gridems_peak_target_build(const gridems_peak_target_t *pt,
                              const struct gridems_planner_inputs_s *in,
                              const gridems_scenario_t *plan, int64_t grid_start_ms,
                              gridems_scenario_t *out);

#endif
