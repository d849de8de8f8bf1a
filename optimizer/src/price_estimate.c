/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Estimated step prices from a relaxation with coarse job windows (price_estimate.h). */
#include "price_estimate.h"

#include <glpk.h>
#include <math.h>
#include <string.h>

#include "gridems/errors.h"
#include "lp_model.h"
#include "sifting.h"

/* About this many window blocks over the horizon. */
#define BLOCKS 24
/* The relaxation must have at most this share of the program's groups to be worth solving. */
#define MAX_GROUP_SHARE 0.25

int gridems__estimate_step_weights(const gridems_scenario_t *sc, const lp_layout_t *layout,
                                   double *weight, double *peak_kw)
{
    int T = sc->steps, block = T / BLOCKS > 1 ? T / BLOCKS : 1;
    gridems_scenario_t coarse;
    if (gridems_scenario_copy(&coarse, sc) != 0) {
        return GRIDEMS_ENOMEM;
    }
    /* Widen every window to whole blocks: a relaxation, so its prices are not too dear. */
    for (int j = 0; j < coarse.n_flex_loads; j++) {
        gridems_flex_load_t *fl = &coarse.flex_loads[j];
        fl->earliest_step = fl->earliest_step / block * block;
        int end = (fl->deadline_step + block - 1) / block * block;
        fl->deadline_step = end < T ? end : T;
    }
    lp_layout_t l;
    int rc = gridems__lp_layout_build(&l, &coarse, LP_MERGE_WINDOW);
    if (rc != 0) {
        gridems_scenario_free(&coarse);
        return rc;
    }
    if (l.n_groups > MAX_GROUP_SHARE * layout->n_groups) {
        gridems__lp_layout_free(&l);
        gridems_scenario_free(&coarse);
        return GRIDEMS_EINVAL;
    }
    glp_prob *lp = glp_create_prob();
    glp_set_obj_dir(lp, GLP_MIN);
    lp_change_t change;
    rc = gridems__lp_model_load_matrix(lp, &l);
    if (rc == 0) {
        rc = gridems__lp_model_set_data(lp, &l, &coarse, true, &change);
    }
    if (rc == 0) {
        glp_scale_prob(lp, GLP_SF_AUTO);
        rc = gridems__lp_model_crash_basis(lp, &l, &coarse, NULL, HUGE_VAL);
    }
    if (rc == 0) {
        glp_smcp parm;
        glp_init_smcp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        parm.meth = GLP_PRIMAL;
        /* The relaxation has the plateaus of the program it stands for, and at 800 and 2,000 jobs
         * thousands of columns: sifted (by the tariff) 244 and 251 ms against 414 and 479. */
        int ret;
        if (gridems__sifting_pays(lp, &l)) {
            sifting_stats_t unused;
            ret = gridems__sifting_solve(lp, &l, &coarse, NULL, false, &parm, &unused);
        } else {
            ret = glp_simplex(lp, &parm);
        }
        rc = ret == 0 && glp_get_status(lp) == GLP_OPT ? 0 : GRIDEMS_ESOLVER;
    }
    if (rc == 0) {
        *peak_kw = l.peak != 0 ? glp_get_col_prim(lp, l.peak) : HUGE_VAL;
        for (int t = 0; t < T; t++) {
            int cap = l.compute_cap[t];
            weight[t] =
                glp_get_row_dual(lp, l.balance[t]) - (cap != 0 ? glp_get_row_dual(lp, cap) : 0.0);
        }
    }
    glp_delete_prob(lp);
    gridems__lp_layout_free(&l);
    gridems_scenario_free(&coarse);
    return rc;
}
