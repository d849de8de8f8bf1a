/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The measured error of the plans against what the site really drew, and the peak margin sized
 * from it (planner.peak_margin "auto").
 *
 * Why: plans keep a margin below the billing-period peak because the site's real draw differs
 * from the plan, and an overshoot raises the demand charge for the rest of the period. A
 * constant margin is either too small (noise ratchets the peak up) or too large (plans defend a
 * phantom peak: batteries shave load that is not there and jobs finish late). The difference is
 * measurable, so the margin follows it.
 *
 * Rule: for each completed step, error = what the site really did minus what the plan in force
 * said (positive: the site drew more than planned). What is compared is the service's choice
 * (planner.peak_margin_error): the step's mean import against the plan's import for it (the
 * default: it is what the peak is made of, so it counts the load forecast's error, meter noise
 * and devices acting late alike), or the step's mean base load against its forecast. The margin
 * is the q-quantile (planner.peak_margin_quantile) of max(0, error) over the last `window`
 * recorded steps (planner.peak_margin_window_steps): the overshoot that a fraction q of the
 * steps stayed within. Under-runs need no margin, so negative errors count as 0 rather than
 * being left out (leaving them out would size the margin for the bad steps only).
 * planner.peak_margin_kw is the floor. The quantile is by nearest rank (the ceil(q * n)-th
 * smallest), so it is always one of the measured values. With no step recorded yet the floor
 * alone applies.
 *
 * Sizes are bounded: the ring holds the last GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW errors,
 * so the window can change on reload without losing what was measured.
 *
 * Ownership: a gridems_peak_margin_t is embedded by the caller (_init/_close) and owns its ring.
 * Threads: no globals; one tracker belongs to one thread (the service's loop thread).
 */
#ifndef GRIDEMS_PEAK_MARGIN_H
#define GRIDEMS_PEAK_MARGIN_H

#include <stdint.h>

#include "service_config.h"

typedef struct gridems_peak_margin_s {
    double *err;          /* [GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW] ring, owned */
    int n;                /* errors held */
    int head;             /* where the next error goes */
    int64_t last_step_ms; /* start of the newest step recorded; INT64_MIN when none */
} gridems_peak_margin_t;

/* gridems_peak_margin_init: an empty tracker. Returns 0 or GRIDEMS_ENOMEM (pm left closed).
 * pm: borrowed, overwritten. Thread: any. */
int gridems_peak_margin_init(gridems_peak_margin_t *pm);

/* gridems_peak_margin_close: free the ring and zero pm. Safe on a closed tracker. */
void gridems_peak_margin_close(gridems_peak_margin_t *pm);

/*
 * gridems_peak_margin_add: record the forecast error of the step starting at step_start_ms.
 * Each step counts once: a step at or before the newest one recorded is ignored.
 * Parameters: pm (borrowed); step_start_ms; error_kw (realised minus forecast, finite).
 * Returns: 1 recorded, 0 ignored, GRIDEMS_EINVAL (non-finite error or a closed tracker).
 */
int gridems_peak_margin_add(gridems_peak_margin_t *pm, int64_t step_start_ms, double error_kw);

/*
 * gridems_peak_margin_restore: put back errors saved earlier (history_store.h): n errors, oldest
 * first, the newest for the step starting at last_step_ms. Replaces what pm held; only the last
 * GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW are kept.
 * Returns: 0 or GRIDEMS_EINVAL (a non-finite error, n < 0; pm unchanged).
 */
int gridems_peak_margin_restore(gridems_peak_margin_t *pm, const double *errors, int n,
                                int64_t last_step_ms);

/* gridems_peak_margin_error_at: the i-th error held, oldest first (i in [0, n)). */
double gridems_peak_margin_error_at(const gridems_peak_margin_t *pm, int i);

/*
 * gridems_peak_margin_quantile: the q-quantile of max(0, error) over the last `window` errors
 * (fewer when fewer are held), by nearest rank; 0 when none is held.
 * Parameters: pm (borrowed, may be NULL: 0); q in (0, 1); window >= 1.
 */
double gridems_peak_margin_quantile(const gridems_peak_margin_t *pm, double q, int window);

/*
 * gridems_peak_margin_kw: the margin the planner applies under cfg's rule: planner.peak_margin_kw
 * with "fixed" (or a NULL pm), else the larger of it and the quantile above.
 */
double gridems_peak_margin_kw(const gridems_peak_margin_t *pm, const gridems_service_config_t *cfg);

#endif
