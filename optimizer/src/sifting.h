/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Sifting for the flexible power columns: solve the scheduling LP with most of them held at a
 * bound, then let go of the ones the prices say are wrong, until none is.
 *
 * Why: GLPK's primal simplex spends almost all of its time in passes over every non-basic column
 * (pricing, the pivot row, the steepest-edge weights), and with thousands of jobs nearly all
 * columns are flexible power p[g,t]. At an optimum almost every one of them sits at a bound: a
 * job runs at full power in the cheap steps of its window and not at all in the dear ones, and
 * only the steps at its margin are basic. GLPK leaves fixed non-basic columns out of its working
 * problem (glp_smcp.excl, on by default), so fixing the columns far from the margin at the bound
 * they will end on shrinks every pass.
 *
 * Rounds: the first holds every non-basic flexible column but each group's margin step; after
 * each, at most twice the rows of the held columns are released, those priced most wrong
 * first, and the free columns that have settled at a bound (reduced cost clear of zero) are
 * held again, so the working problem stays small (docs/optimizer.md, "Sifting").
 *
 * Exact: held columns are only ever fixed at one of their own bounds, so the restricted
 * problem's optimum is a feasible point of the full one; after each round every held column is
 * priced with the row duals (reduced cost d = pi_balance[t] - pi_cap[t] - dt pi_energy[g]) and
 * released when it could improve the objective (d < 0 at 0, d > 0 at full power); when none
 * can, the basis is optimal for the full problem. To make that GLPK's verdict and not ours, all
 * columns get their bounds back at the end and the primal simplex runs once more on the whole
 * problem from that basis (normally 0 iterations).
 *
 * Threads: the thread that owns the glp_prob.
 */
#ifndef GRIDEMS_SIFTING_H
#define GRIDEMS_SIFTING_H

#include <glpk.h>
#include <stdbool.h>

#include "gridems/scenario.h"
#include "lp_layout.h"

typedef struct sifting_stats_s {
    bool estimated; /* margins from estimated step prices (price_estimate.h), not the tariff */
    int rounds;     /* restricted solves */
    int held;       /* columns held at a bound in the first round */
    int released;   /* of which released by pricing */
} sifting_stats_t;

/* Worth it: enough flexible power columns against the rows. */
bool gridems__sifting_pays(const glp_prob *lp, const lp_layout_t *layout);

/*
 * Solve lp (its basis already set: the crash basis, or a previous optimum) with glp_simplex and
 * parm (borrowed; its it_lim and tm_lim bound all the rounds together), holding the flexible
 * power columns that the current basis puts away from their group's margin at their bound. The
 * margin is found in the order of step_weight ([T], price_estimate.h) or, when NULL, of the
 * tariff.
 * warm: lp holds a basis of earlier data (the last optimum, updated in place or carried over a
 * shift or from a basis file): every non-basic flexible column is held where that basis has it
 * (its basic ones are the groups' margins); no duals are needed.
 * Returns glp_simplex's code (0 with glp_get_status telling optimality) of the last run; every
 * column has its own bounds back whatever happens.
 */
int gridems__sifting_solve(glp_prob *lp, const lp_layout_t *layout, const gridems_scenario_t *sc,
                           const double *step_weight, bool warm, const glp_smcp *parm,
                           sifting_stats_t *stats);

#endif
