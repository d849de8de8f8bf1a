/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sifting for the flexible power columns (sifting.h). */
#include "sifting.h"

#include <math.h>
#include <stdlib.h>

/* Steps on either side of a group's margin (in the price order of its window) that stay free in
 * the first round: the margin moves when batteries, the peak and the other jobs shift the
 * step prices away from the estimate. 1, 3, 6 and 12 took about the same iterations at 800
 * jobs; 3 was the fastest. */
#define MARGIN_STEPS 3
/* ... and so do the steps whose price is within this share of the window's price spread from
 * the price at the margin (flat stretches, where the margin is anyone's guess). Measured at
 * 800 jobs (bench_growth): 0 -> 7,200 iterations and 11,000 released columns, 0.05 -> 5,200
 * and 600, 0.2 -> 4,900 and 130 but a larger restricted problem; 0.05 was the fastest. */
#define BAND_SHARE 0.05
/* Warm starts hold the columns whose last reduced cost is beyond this share of the mean step
 * price. Measured on price updates at 800 jobs (bench_growth's site, CPU ms of three updates):
 * 0.2 held 5,400 of 35,000 columns and gained nothing (620/102/138 against 660/109/149
 * without); 0.05: 438/79/104; 0.001: 241/51/69, with 1,000-4,000 released by pricing. */
#define WARM_BAND 0.001
/* Restricted rounds before everything is let go (then the last run is the plain simplex). */
#define MAX_ROUNDS 40
/* A reduced cost beyond this (relative to the step's price) releases a held column. Anything
 * smaller that matters is still caught by the final run on the whole problem. */
#define RELEASE_TOL 1e-9

typedef struct held_s {
    int col;
    int group, step;
    double ub;     /* the column's own upper bound (the group's power limit) */
    bool at_upper; /* held at ub, else at 0 */
    bool held;
} held_t;

bool gridems__sifting_pays(const glp_prob *lp, const lp_layout_t *l)
{
    int flex = 0;
    for (int k = 0; k < l->n_groups * l->steps; k++) {
        flex += l->p[k] != 0;
    }
    /* Measured (CPU, same run): the canonical 50 jobs (2,400 flexible columns, 685 rows) 50 ms
     * with sifting against 40 ms without; 200 jobs (9,500 and 828) 341 against 387 ms; 800 and
     * 2,000 jobs 3-6 times faster with it. */
    return flex >= 5000 && flex >= 6 * glp_get_num_rows((glp_prob *)lp);
}

/* Steps in price order (no global sort key: optimizers run in several threads). */
typedef struct keyed_step_s {
    double key;
    int step;
} keyed_step_t;

static int by_key_then_step(const void *pa, const void *pb)
{
    const keyed_step_t *a = pa, *b = pb;
    if (a->key != b->key) {
        return a->key < b->key ? -1 : 1;
    }
    return (a->step > b->step) - (a->step < b->step);
}

/* Which flexible columns to hold, and where: every non-basic p[g,t] more than MARGIN_STEPS
 * away, in the price order of g's window, from the number of steps g runs at full power. */
static int choose_held(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc,
                       const double *step_weight, held_t *held)
{
    int T = l->steps, n = 0;
    double *price = malloc((size_t)T * sizeof *price);
    int *order = malloc((size_t)T * sizeof *order);
    int *window = malloc((size_t)T * sizeof *window);
    if (price == NULL || order == NULL || window == NULL) {
        free(price);
        free(order);
        free(window);
        return 0;
    }
    keyed_step_t *keyed = malloc((size_t)T * sizeof *keyed);
    if (keyed == NULL) {
        free(price);
        free(order);
        free(window);
        return 0;
    }
    for (int t = 0; t < T; t++) {
        double carbon = sc->has_carbon ? sc->carbon_price_per_kg * sc->carbon_kg_per_kwh[t] : 0;
        price[t] = step_weight != NULL ? step_weight[t] : sc->import_per_kwh[t] + carbon;
        keyed[t] = (keyed_step_t){price[t], t};
    }
    qsort(keyed, (size_t)T, sizeof *keyed, by_key_then_step);
    for (int t = 0; t < T; t++) {
        order[t] = keyed[t].step;
    }
    free(keyed);
    for (int g = 0; g < l->n_groups; g++) {
        const int *p = &l->p[g * T];
        int w = 0, full = 0;
        for (int k = 0; k < T; k++) {
            int t = order[k];
            if (p[t] != 0) {
                window[w++] = t;
                full += glp_get_col_stat(lp, p[t]) == GLP_NU;
            }
        }
        if (w == 0) {
            continue;
        }
        /* The step price at the margin, and how far from it a step must be to be held. */
        double margin = price[window[full < w ? full : w - 1]];
        double band = BAND_SHARE * (price[window[w - 1]] - price[window[0]]);
        for (int k = 0; k < w; k++) {
            int t = window[k], stat = glp_get_col_stat(lp, p[t]);
            if (stat == GLP_BS || abs(k - full) <= MARGIN_STEPS ||
                fabs(price[t] - margin) <= band) {
                continue;
            }
            held[n++] = (held_t){p[t], g, t, glp_get_col_ub(lp, p[t]), stat == GLP_NU, true};
        }
    }
    free(price);
    free(order);
    free(window);
    return n;
}

/* After an update in place (warm): hold every non-basic p[g,t] whose reduced cost at the last
 * optimum (still stored in lp) puts it firmly on its bound, more than WARM_BAND of the mean
 * step price away from zero. A price update moves few of them. */
static int choose_held_warm(glp_prob *lp, const lp_layout_t *l, held_t *held)
{
    int T = l->steps, n = 0;
    double mean = 0.0;
    for (int t = 0; t < T; t++) {
        mean += fabs(glp_get_row_dual(lp, l->balance[t])) / T;
    }
    double band = WARM_BAND * mean;
    for (int g = 0; g < l->n_groups; g++) {
        for (int t = 0; t < T; t++) {
            int col = l->p[g * T + t];
            if (col == 0) {
                continue;
            }
            int stat = glp_get_col_stat(lp, col);
            double d = glp_get_col_dual(lp, col);
            if ((stat == GLP_NU && d < -band) || (stat == GLP_NL && d > band)) {
                held[n++] = (held_t){col, g, t, glp_get_col_ub(lp, col), stat == GLP_NU, true};
            }
        }
    }
    return n;
}

static void hold(glp_prob *lp, const held_t *h)
{
    double v = h->at_upper ? h->ub : 0.0;
    glp_set_col_bnds(lp, h->col, GLP_FX, v, v);
    glp_set_col_stat(lp, h->col, GLP_NS);
}

static void release(glp_prob *lp, held_t *h)
{
    glp_set_col_bnds(lp, h->col, GLP_DB, 0.0, h->ub);
    glp_set_col_stat(lp, h->col, h->at_upper ? GLP_NU : GLP_NL);
    h->held = false;
}

/* Release every held column whose reduced cost says it would move. Returns how many. */
static int price_held(glp_prob *lp, const lp_layout_t *l, held_t *held, int n)
{
    int released = 0;
    for (int k = 0; k < n; k++) {
        held_t *h = &held[k];
        if (!h->held) {
            continue;
        }
        /* d = c - sum_i a_i pi_i with c = 0 and a = -1 (balance), +1 (cap), dt (energy). */
        double pi_balance = glp_get_row_dual(lp, l->balance[h->step]);
        int cap = l->compute_cap[h->step];
        double d = pi_balance - (cap != 0 ? glp_get_row_dual(lp, cap) : 0.0) -
                   l->dt * glp_get_row_dual(lp, l->flex_energy[h->group]);
        double tol = RELEASE_TOL * (1.0 + fabs(pi_balance));
        if (h->at_upper ? d > tol : d < -tol) {
            release(lp, h);
            released++;
        }
    }
    return released;
}

int gridems__sifting_solve(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc,
                           const double *step_weight, bool warm, const glp_smcp *parm,
                           sifting_stats_t *stats)
{
    stats->estimated = step_weight != NULL;
    stats->rounds = stats->held = stats->released = 0;
    size_t cap = (size_t)l->n_groups * (size_t)l->steps;
    /* From GLPK's allocator: a GLPK error (a longjmp out of glp_simplex, see optimizer.c)
     * frees it with the environment. */
    held_t *held = glp_alloc((int)(cap > 0 ? cap : 1), sizeof *held);
    int n = 0;
    if (held != NULL) {
        n = warm ? choose_held_warm(lp, l, held) : choose_held(lp, l, sc, step_weight, held);
    }
    for (int k = 0; k < n; k++) {
        hold(lp, &held[k]);
    }
    stats->held = n;
    int ret = 0;
    while (n > 0 && stats->rounds < MAX_ROUNDS) {
        stats->rounds++;
        ret = glp_simplex(lp, parm);
        if (ret != 0 || glp_get_status(lp) != GLP_OPT) {
            break;
        }
        int released = price_held(lp, l, held, n);
        stats->released += released;
        if (released == 0) {
            break;
        }
    }
    for (int k = 0; k < n; k++) {
        if (held[k].held) {
            release(lp, &held[k]);
        }
    }
    glp_free(held);
    /* The whole problem from the basis found: GLPK's own proof of optimality (or the rest of
     * the way, when a round failed or the rounds ran out). */
    if (ret == 0) {
        ret = glp_simplex(lp, parm);
    }
    return ret;
}
