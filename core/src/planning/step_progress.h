/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What each flexible job has delivered since the running plan step began.
 *
 * Why: a plan's step is a mean over the whole step (docs/optimizer.md), and the billing peak is
 * a step's mean import. A re-plan made part-way through the running step (a deviation, a new
 * price, a job arriving) still plans the whole of step 0. Its step-0 power used to be sent as
 * the job's power for the rest of the step, so every such re-plan counted on a whole step where
 * only the rest was left: a job tight against its deadline fell a little behind at each one and
 * slid into a last step that set a new peak (seen in the closed-loop backtest: the planned import
 * crept up by ~30 kW a re-plan through a morning, to a new month peak). Now:
 *   - what the jobs delivered in the step before the plan was made has happened: the planner
 *     counts it as load in step 0 and plans each job with what it has left (planner.h);
 *   - dispatch runs a job for the rest of the step at what is left of its planned step energy
 *     over what is left of the step (gridems_step_progress_rest_kw), so the step delivers what
 *     the plan planned, however late in the step the plan was made or re-sent.
 *
 * Rule: the first time a job is seen in a step, its cumulative delivered energy then is its
 * energy at the step's start (a job that arrives within the step starts from what it has then).
 * Seen again in the same step, the difference is what it delivered in the step (never below 0:
 * a device that restarts its count is taken as starting again). A new step forgets the last.
 * When a plan is built, _snapshot records each job's delivered-in-step then; when that plan is
 * adopted, _adopt makes it the plan's (_planned_kwh), the part of the step the plan already
 * counted as load.
 *
 * Ownership: a gridems_step_progress_t is embedded by its owner (_init / _free) and owns its
 * entries and their ids (copied). Threads: no globals; one tracker belongs to one thread (the
 * service's loop thread).
 */
#ifndef GRIDEMS_STEP_PROGRESS_H
#define GRIDEMS_STEP_PROGRESS_H

#include <stdint.h>

typedef struct gridems_step_progress_entry_s {
    char *id;            /* owned */
    double at_start_kwh; /* the job's delivered energy when first seen in the step */
    double last_kwh;     /* ... when last seen */
    double solving_kwh;  /* delivered in the step when the plan being solved was built */
    double plan_kwh;     /* delivered in the step when the plan in force was built */
} gridems_step_progress_entry_t;

typedef struct gridems_step_progress_s {
    int64_t step_start_ms; /* the step the entries belong to; INT64_MIN: none yet */
    gridems_step_progress_entry_t *entries; /* [n], owned */
    int n;
    int cap;
} gridems_step_progress_t;

/* gridems_step_progress_init: an empty tracker. sp: borrowed, overwritten. */
void gridems_step_progress_init(gridems_step_progress_t *sp);

/* gridems_step_progress_free: free the entries and leave sp empty. Safe twice. */
void gridems_step_progress_free(gridems_step_progress_t *sp);

/*
 * gridems_step_progress_observe: job `id` (borrowed, copied when new) has delivered
 * delivered_kwh in all, seen at an instant of the step that starts at step_start_ms.
 * Returns what it has delivered since that step began (>= 0); 0 when it is first seen now, or
 * when it cannot be remembered (out of memory: the job is then planned and run as if it had
 * delivered nothing in the step). A step_start_ms other than the tracker's forgets every
 * entry first.
 */
double gridems_step_progress_observe(gridems_step_progress_t *sp, int64_t step_start_ms,
                                     const char *id, double delivered_kwh);

/* gridems_step_progress_snapshot: a plan is being built now: remember each job's delivered
 * energy in the step as the plan sees it (call after observing every job for the plan). */
void gridems_step_progress_snapshot(gridems_step_progress_t *sp);

/* gridems_step_progress_adopt: the plan built at the last snapshot is now in force. */
void gridems_step_progress_adopt(gridems_step_progress_t *sp);

/* gridems_step_progress_planned_kwh: what job `id` had delivered in the step starting at
 * step_start_ms when the plan in force was built (its plan counted it as load); 0 when the plan
 * was built before that step or the job was not seen then. */
double gridems_step_progress_planned_kwh(const gridems_step_progress_t *sp, int64_t step_start_ms,
                                         const char *id);

/*
 * gridems_step_progress_rest_kw: the power to run a job at for the rest of a step whose plan
 * gives it planned_kw as the step's mean on top of what it had delivered when the plan was made:
 * what is left of that energy (planned_kw * step_h - delivered_since_plan_kwh) over what is left
 * of the step (rest_h), within [0, max_kw]. rest_h <= 0 (the step is over) gives 0 when nothing
 * is left, else max_kw.
 */
double gridems_step_progress_rest_kw(double planned_kw, double step_h, double rest_h,
                                     double delivered_since_plan_kwh, double max_kw);

#endif
