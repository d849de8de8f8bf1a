/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The second stage of a solve with a reference plan (tie_break.h).
 *
 * Why a restricted second stage rather than the textbook objective row (c'x <= z*(1 + 1e-9))
 * or a tiny penalty weight: the objective row is dense (every priced column) and leaves the whole
 * polytope to the simplex, and a penalty weight small enough not to change the optimum by more
 * than 1e-9 is below GLPK's own tolerances, so it decides nothing. Fixing the columns with a
 * non-zero reduced cost leaves only the optimal face, usually a small part of the program, and
 * the columns fixed there need no auxiliary columns at all.
 */
#include "tie_break.h"

#include <math.h>
#include <string.h>

/* A reduced cost or dual value above this (in objective units per unit) is not zero: the
 * column or row stays where it is in the second stage. Below it, moving it changes the
 * objective by at most this much per kW, which the final check bounds. */
#define REDUCED_COST_ZERO 1e-9
/* A reference this close to a bound counts as on it (kW). */
#define ON_BOUND 1e-9

typedef struct matched_s {
    int col;
    double ref;
} matched_t;

/* Step t of the scenario is step t + *offset of the reference; false when the grids differ. */
static bool align(const gridems_scenario_t *sc, const gridems_reference_t *ref, int64_t start_ms,
                  int64_t *offset)
{
    int64_t step_ms = llround(sc->step_minutes * 60000.0);
    if (ref == NULL || ref->steps <= 0 || ref->step_ms != step_ms || step_ms <= 0) {
        return false;
    }
    int64_t delta = start_ms - ref->start_ms;
    if (delta % step_ms != 0) {
        return false;
    }
    *offset = delta / step_ms;
    return true;
}

static const gridems_reference_item_t *find_item(const gridems_reference_t *ref, const char *id,
                                                 bool battery)
{
    for (int i = 0; i < ref->n_items; i++) {
        const gridems_reference_item_t *it = &ref->items[i];
        if (it->id != NULL && strcmp(it->id, id) == 0 &&
            (battery ? it->charge_kw != NULL && it->discharge_kw != NULL : it->power_kw != NULL)) {
            return it;
        }
    }
    return NULL;
}

static int add_series(matched_t *m, int n, const int *cols, const double *values, int steps,
                      int64_t offset, int ref_steps)
{
    for (int t = 0; t < steps; t++) {
        int64_t rt = t + offset;
        if (cols[t] != 0 && rt >= 0 && rt < ref_steps && isfinite(values[rt])) {
            m[n].col = cols[t];
            m[n].ref = values[rt];
            n++;
        }
    }
    return n;
}

/* The columns of lp that have a reference value. Returns their count; *out from glp_alloc. */
static int match_columns(const lp_layout_t *l, const gridems_scenario_t *sc,
                         const gridems_reference_t *ref, int64_t offset, matched_t **out)
{
    int T = l->steps;
    int cap = (2 * l->n_batteries + l->n_groups) * T;
    *out = NULL;
    if (cap == 0) {
        return 0;
    }
    matched_t *m = glp_alloc(cap, sizeof *m);
    int n = 0;
    int steps =
        ref->battery_match_steps > 0 && ref->battery_match_steps < T ? ref->battery_match_steps : T;
    for (int b = 0; b < l->n_batteries; b++) {
        const gridems_reference_item_t *it = find_item(ref, sc->batteries[b].id, true);
        if (it != NULL) {
            n = add_series(m, n, &l->c[b * T], it->charge_kw, steps, offset, ref->steps);
            n = add_series(m, n, &l->d[b * T], it->discharge_kw, steps, offset, ref->steps);
        }
    }
    steps = ref->flex_match_steps > 0 && ref->flex_match_steps < T ? ref->flex_match_steps : T;
    /* A group of loads (lp_layout.h) is one column per step, split in proportion to its loads'
     * power limits: it follows the sum of its loads' references, a step only where every load
     * of the group has one (NAN elsewhere, which add_series skips). */
    double *sum = glp_alloc(ref->steps, sizeof *sum);
    for (int g = 0; g < l->n_groups; g++) {
        for (int rt = 0; rt < ref->steps; rt++) {
            sum[rt] = 0.0;
        }
        bool any = false;
        for (int j = l->group_first[g]; j >= 0; j = l->group_next[j]) {
            const gridems_reference_item_t *it = find_item(ref, sc->flex_loads[j].id, false);
            for (int rt = 0; rt < ref->steps; rt++) {
                sum[rt] += it != NULL ? it->power_kw[rt] : NAN;
            }
            any = any || it != NULL;
        }
        if (any) {
            n = add_series(m, n, &l->p[g * T], sum, steps, offset, ref->steps);
        }
    }
    glp_free(sum);
    if (n == 0) {
        glp_free(m);
        return 0;
    }
    *out = m;
    return n;
}

/* Fix every nonbasic column and inequality row of copy whose reduced cost in lp is not zero at
 * its value in lp, and clear the objective. */
static void fix_optimal_face(glp_prob *lp, glp_prob *copy)
{
    int n = glp_get_num_cols(lp), m = glp_get_num_rows(lp);
    glp_set_obj_coef(copy, 0, 0.0);
    for (int j = 1; j <= n; j++) {
        glp_set_obj_coef(copy, j, 0.0);
        if (glp_get_col_stat(lp, j) != GLP_BS && glp_get_col_type(lp, j) != GLP_FX &&
            fabs(glp_get_col_dual(lp, j)) > REDUCED_COST_ZERO) {
            double v = glp_get_col_prim(lp, j);
            glp_set_col_bnds(copy, j, GLP_FX, v, v);
        }
    }
    for (int i = 1; i <= m; i++) {
        if (glp_get_row_stat(lp, i) != GLP_BS && glp_get_row_type(lp, i) != GLP_FX &&
            fabs(glp_get_row_dual(lp, i)) > REDUCED_COST_ZERO) {
            double v = glp_get_row_prim(lp, i);
            glp_set_row_bnds(copy, i, GLP_FX, v, v);
        }
    }
}

/* Give copy the distance objective over the matched columns, adding the auxiliary columns and
 * rows it needs with a primal feasible basis (see tie_break.h). */
static void set_distance_objective(glp_prob *lp, glp_prob *copy, const matched_t *m, int n)
{
    int n_aux = 0;
    for (int k = 0; k < n; k++) {
        int j = m[k].col;
        int type = glp_get_col_type(copy, j);
        double lb = glp_get_col_lb(copy, j), ub = glp_get_col_ub(copy, j);
        bool has_ub = type == GLP_DB || type == GLP_UP || type == GLP_FX;
        if (type == GLP_FX) {
            continue; /* its distance is what it is */
        }
        if (type != GLP_FR && type != GLP_UP && m[k].ref <= lb + ON_BOUND) {
            glp_set_obj_coef(copy, j, glp_get_obj_coef(copy, j) + 1.0);
        } else if (has_ub && m[k].ref >= ub - ON_BOUND) {
            glp_set_obj_coef(copy, j, glp_get_obj_coef(copy, j) - 1.0);
        } else {
            n_aux++;
        }
    }
    if (n_aux == 0) {
        return;
    }
    int first_col = glp_add_cols(copy, n_aux);
    int first_row = glp_add_rows(copy, 2 * n_aux);
    int a = 0;
    for (int k = 0; k < n; k++) {
        int j = m[k].col;
        int type = glp_get_col_type(copy, j);
        double lb = glp_get_col_lb(copy, j), ub = glp_get_col_ub(copy, j);
        bool has_ub = type == GLP_DB || type == GLP_UP || type == GLP_FX;
        if (type == GLP_FX || (type != GLP_FR && type != GLP_UP && m[k].ref <= lb + ON_BOUND) ||
            (has_ub && m[k].ref >= ub - ON_BOUND)) {
            continue;
        }
        int e = first_col + a, below = first_row + 2 * a, above = below + 1;
        double r = m[k].ref, v = glp_get_col_prim(lp, j);
        glp_set_col_bnds(copy, e, GLP_LO, 0.0, 0.0);
        glp_set_obj_coef(copy, e, 1.0);
        int ind[3] = {0, e, j};
        double minus[3] = {0, 1.0, -1.0}, plus[3] = {0, 1.0, 1.0};
        glp_set_mat_row(copy, below, 2, ind, minus); /* e - v >= -r */
        glp_set_row_bnds(copy, below, GLP_LO, -r, 0.0);
        glp_set_mat_row(copy, above, 2, ind, plus); /* e + v >= r */
        glp_set_row_bnds(copy, above, GLP_LO, r, 0.0);
        /* e = |v - r| is basic; the row that holds with equality at v is the nonbasic one. */
        glp_set_col_stat(copy, e, GLP_BS);
        glp_set_row_stat(copy, below, v >= r ? GLP_NL : GLP_BS);
        glp_set_row_stat(copy, above, v >= r ? GLP_BS : GLP_NL);
        a++;
    }
}

void gridems__tie_break(glp_prob *lp, const lp_layout_t *layout, const gridems_scenario_t *sc,
                        const gridems_reference_t *ref, int64_t start_ms, int it_lim, int tm_lim_ms,
                        bool verbose, tie_break_result_t *res)
{
    memset(res, 0, sizeof *res);
    res->outcome = GRIDEMS_TIE_NONE;
    int64_t offset = 0;
    matched_t *m = NULL;
    int n = align(sc, ref, start_ms, &offset) ? match_columns(layout, sc, ref, offset, &m) : 0;
    if (n == 0) {
        return;
    }
    /* Nothing new, and the simplex stayed where it was: the first stage's schedule is the
     * reference already, which is the service's common case. */
    double start_distance = 0.0;
    for (int k = 0; k < n; k++) {
        start_distance += fabs(glp_get_col_prim(lp, m[k].col) - m[k].ref);
    }
    if (start_distance <= ON_BOUND * n) {
        glp_free(m);
        res->outcome = GRIDEMS_TIE_APPLIED;
        res->objective = glp_get_obj_val(lp);
        res->distance_kw = start_distance;
        return;
    }
    res->outcome = GRIDEMS_TIE_SKIPPED;
    glp_prob *copy = glp_create_prob();
    glp_copy_prob(copy, lp, GLP_OFF); /* bounds, matrix, scaling and the basis statuses */
    fix_optimal_face(lp, copy);
    set_distance_objective(lp, copy, m, n);

    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = verbose ? GLP_MSG_ALL : GLP_MSG_OFF;
    parm.meth = GLP_PRIMAL;
    parm.presolve = GLP_OFF;
    if (it_lim > 0) {
        parm.it_lim = it_lim;
    }
    if (tm_lim_ms > 0) {
        parm.tm_lim = tm_lim_ms;
    }
    int it_before = glp_get_it_cnt(copy);
    int ret = glp_simplex(copy, &parm);
    res->iterations = glp_get_it_cnt(copy) - it_before;
    if (ret != 0 || glp_get_status(copy) != GLP_OPT) {
        glp_delete_prob(copy);
        glp_free(m);
        return;
    }
    /* The first stage's objective at the second stage's point, and the distance. */
    double z1 = glp_get_obj_val(lp), z2 = glp_get_obj_coef(lp, 0);
    for (int j = 1, cols = glp_get_num_cols(lp); j <= cols; j++) {
        z2 += glp_get_obj_coef(lp, j) * glp_get_col_prim(copy, j);
    }
    double distance = 0.0;
    for (int k = 0; k < n; k++) {
        distance += fabs(glp_get_col_prim(copy, m[k].col) - m[k].ref);
    }
    glp_free(m);
    if (!(z2 <= z1 + 1e-9 * fmax(1.0, fabs(z1)))) {
        glp_delete_prob(copy);
        return;
    }
    res->outcome = GRIDEMS_TIE_APPLIED;
    res->lp = copy;
    res->objective = z2;
    res->distance_kw = distance;
}
