/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Loading the scheduling LP into a GLPK problem object, following a layout (lp_layout.h).
 *
 * gridems__lp_model_load_matrix() is done once per structure; gridems__lp_model_set_data() is
 * done at every solve and only changes bounds, costs and right-hand sides, so GLPK keeps its
 * basis and the re-solve starts warm. gridems__lp_model_transfer_basis() carries a basis over
 * from an older program of a different structure by meaning (family, battery or load id, step).
 *
 * Every number handed to GLPK here comes from a validated scenario (finite, bounded), and every
 * bound pair has lb <= ub: GLPK aborts on anything else.
 *
 * Threads: the thread that owns the glp_prob.
 */
#ifndef GRIDEMS_LP_MODEL_H
#define GRIDEMS_LP_MODEL_H

#include <glpk.h>
#include <stdbool.h>

#include "gridems/scenario.h"
#include "lp_layout.h"

/* Add the rows and columns of the layout to an empty problem and load the constraint matrix.
 * Returns 0 or GRIDEMS_ENOMEM. */
int gridems__lp_model_load_matrix(glp_prob *lp, const lp_layout_t *layout);

/* What changed in the last gridems__lp_model_set_data(), to pick the simplex method. */
typedef struct lp_change_s {
    bool costs;  /* some objective coefficient changed */
    bool bounds; /* some column bound or row right-hand side changed */
} lp_change_t;

/*
 * Set every bound, right-hand side and objective coefficient from the scenario (which must have
 * the layout's structure). `first` says the problem is new, so everything counts as changed.
 * Returns 0 or GRIDEMS_ENOMEM; *change reports what differs from the previous data.
 */
int gridems__lp_model_set_data(glp_prob *lp, const lp_layout_t *layout,
                               const gridems_scenario_t *sc, bool first, lp_change_t *change);

/*
 * Which battery, load group and cluster of an older program each one of a newer program is: the
 * index with the same id (a group goes by the id of its first load), or -1. Built once per new
 * program and used by both transfers below.
 */
typedef struct lp_match_s {
    int *battery; /* [layout->n_batteries] */
    int *group;   /* [layout->n_groups] */
    int *cluster; /* [layout->n_clusters] */
} lp_match_t;

/* Match (layout) to (old_layout) by id; O(n log n) whatever the order. Returns 0 or
 * GRIDEMS_ENOMEM (nothing to free then). */
int gridems__lp_model_match(lp_match_t *match, const lp_layout_t *layout,
                            const lp_layout_t *old_layout);
void gridems__lp_model_match_free(lp_match_t *match);

/*
 * Give the rows and columns of (lp, layout) the basis statuses of their counterparts in
 * (old_lp, old_layout), where step t of the new program is step t + shift of the old one and
 * batteries and loads are matched by id (match). What has no counterpart gets a natural status
 * (a row basic, a column at its lower bound). The basis is then repaired to one basic variable
 * per row by a row matching, so it is structurally non-singular. GLPK may still find it
 * numerically singular; the caller falls back to a cold start then.
 */
void gridems__lp_model_transfer_basis(glp_prob *lp, const lp_layout_t *layout, glp_prob *old_lp,
                                      const lp_layout_t *old_layout, const lp_match_t *match,
                                      int shift);

/*
 * Give (lp, layout) the scale factors of their counterparts in (old_lp, old_layout), matched as
 * by gridems__lp_model_transfer_basis; a step past the old horizon takes the old last step's,
 * a row or column with none keeps 1. GLPK's scaling (glp_scale_prob) depends on the matrix
 * alone, and a counterpart's coefficients are the same, so this is the scale GLPK's passes over
 * every non-zero would find again, in one pass over the rows and columns. Returns false, and
 * sets nothing, unless every battery and load group has a counterpart with the same step
 * length and efficiencies: the caller scales the program anew then.
 */
bool gridems__lp_model_transfer_scale(glp_prob *lp, const lp_layout_t *layout, glp_prob *old_lp,
                                      const lp_layout_t *old_layout, const lp_match_t *match,
                                      int shift);

/*
 * Give a freshly built program a starting basis close to the optimum, so a cold solve needs far
 * fewer simplex iterations than from the all-slack basis: each flexible load is placed greedily
 * in the cheapest steps of its window (within the compute cap), batteries start idle, the grid
 * (or curtailment, or unserved load) balances each step, and the peak variable sits on the
 * largest import. Every row gets exactly one basic variable with a coefficient in it.
 * step_weight (borrowed, [T] or NULL): what a kW of flexible power costs at each step, from
 * price_estimate.h, used instead of the tariff and demand charge to place the loads;
 * import_ceiling_kw (HUGE_VAL: none): the expected peak import, which the loads are placed under
 * as if it were the import cap.
 * Returns 0 or GRIDEMS_ENOMEM (the basis is then the standard one).
 */
int gridems__lp_model_crash_basis(glp_prob *lp, const lp_layout_t *layout,
                                  const gridems_scenario_t *sc, const double *step_weight,
                                  double import_ceiling_kw);

#endif
