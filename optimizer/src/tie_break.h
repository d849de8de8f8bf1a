/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tie-break toward a reference plan: a second stage, after the LP is solved to optimality,
 * that picks among the optimal schedules the one closest to the reference (docs/optimizer.md,
 * "Plan stability").
 *
 * The second stage works on a copy of the solved problem, so the first stage's problem and
 * its optimal basis stay untouched for the next warm start. On the copy:
 *   - the optimal face is fixed: every nonbasic column and inequality row whose reduced cost is
 *     not zero is fixed at its value (complementary slackness: any feasible point that keeps
 *     them there has the same objective, whatever the rest does);
 *   - the objective becomes the L1 distance to the reference over the matched columns: a column
 *     whose reference sits on its lower (upper) bound gets cost +1 (-1), any other gets an
 *     auxiliary column e >= |v - r| (rows e - v >= -r, e + v >= r) with cost 1;
 *   - the primal simplex starts from the first stage's basis, extended by one basic auxiliary
 *     column and one basic row slack per auxiliary pair, which is primal feasible at once.
 * When the first stage's schedule already is the reference (nothing new, and the simplex
 * stayed where it was), there is no second stage. The result is otherwise checked: its original
 * objective must be within 1e-9 relative of the first stage's (reduced costs within GLPK's
 * tolerance of zero are left free, so this is where a numerical drift would show); otherwise the
 * first stage's schedule is kept.
 *
 * Temporary arrays come from glp_alloc, so a GLPK error (a longjmp out of here, see optimizer.c)
 * frees them with the environment.
 *
 * Threads: the thread that owns the glp_prob.
 */
#ifndef GRIDEMS_TIE_BREAK_H
#define GRIDEMS_TIE_BREAK_H

#include <glpk.h>
#include <stdbool.h>
#include <stdint.h>

#include "gridems/optimizer.h"
#include "lp_layout.h"

typedef struct tie_break_result_s {
    gridems_tie_break_t outcome;
    glp_prob *lp;       /* APPLIED: the second stage's problem, to read the primal values from;
                         * the caller deletes it with glp_delete_prob. NULL otherwise (also
                         * when the first stage's schedule already is the reference). */
    int iterations;     /* simplex iterations of the second stage */
    double objective;   /* APPLIED: the original objective of the second stage's solution */
    double distance_kw; /* APPLIED: sum of |value - reference| over the matched columns */
} tie_break_result_t;

/*
 * Run the second stage on lp (solved to optimality, with layout for scenario sc, whose step 0
 * begins at start_ms) toward ref. it_lim and tm_lim_ms bound the simplex (0 = no bound).
 * Never changes lp. res->outcome is NONE when nothing in ref matches.
 */
void gridems__tie_break(glp_prob *lp, const lp_layout_t *layout, const gridems_scenario_t *sc,
                        const gridems_reference_t *ref, int64_t start_ms, int it_lim, int tm_lim_ms,
                        bool verbose, tie_break_result_t *res);

#endif
