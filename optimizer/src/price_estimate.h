/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Estimated step prices for a cold start with many flexible loads: what one more kW of flexible
 * power costs at each step, read from the duals of a small relaxation of the program.
 *
 * The crash basis (lp_model.h) places every load in the cheapest steps of its window, and
 * sifting (sifting.h) holds the columns far from each load's margin; both need to know which
 * steps are cheap. The tariff alone misleads them where the batteries, the import cap, the
 * compute cap and the peak move the real step prices, and the primal simplex then needs about
 * one iteration per misplaced step. The relaxation has the same site, batteries and steps but
 * coarser job windows (widened to blocks of about T/24 steps) and one group per window (any
 * ratio, lp_layout.h LP_MERGE_WINDOW): a few hundred groups instead of thousands of jobs. Its
 * duals give weight[t] = pi_balance[t] - pi_cap[t], the reduced cost of a flexible kW at t
 * before the load's own energy dual. Only a starting point: nothing of the relaxation reaches
 * the schedule, so it need not be exact.
 *
 * A GLPK error inside (a longjmp to the optimizer's hook) would leak the relaxation's layout
 * and scenario copy; it solves the same validated data as the program itself, which is solved
 * right after, so such an error would end that solve too.
 *
 * Threads: the thread that owns GLPK's environment (the optimizer's).
 */
#ifndef GRIDEMS_PRICE_ESTIMATE_H
#define GRIDEMS_PRICE_ESTIMATE_H

#include "gridems/scenario.h"
#include "lp_layout.h"

/*
 * Fill weight[T] (borrowed) for sc, whose program has `layout`, and *peak_kw with the
 * relaxation's peak import (HUGE_VAL without a demand charge). Returns 0, or a GRIDEMS_E* code
 * when the relaxation would not be much smaller than the program (at least 4 loads per group)
 * or could not be solved; weight is then left undefined and the caller uses the tariff.
 */
int gridems__estimate_step_weights(const gridems_scenario_t *sc, const lp_layout_t *layout,
                                   double *weight, double *peak_kw);

#endif
