/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sifting for the flexible power columns (sifting.h). */
#include "sifting.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Which columns stay free in the first round: a group's margin step (in the price order of
 * its window) and the basic ones; everything else is held at the bound the crash gave it.
 * Measured at 2,000 jobs (bench_growth): keeping 3 steps either side of the margin and every step
 * priced within 5 % of the window's spread of the margin price left 40,000 of 88,000 flexible
 * columns free (the estimated prices tie over whole plateaus of steps where the import ceiling
 * binds), and each restricted round cost 0.5 ms an iteration; holding all but the margin, then
 * releasing by pricing a bounded number at a time (RELEASE_SHARE) and holding again what
 * settles (SETTLED_BAND), keeps the working problem small: 6.1 s -> 1.3 s. */
/* Released per round: at most this many times the rows, those whose reduced costs are the most
 * wrong first (a sifting round should add what the next basis needs, not everything priced
 * out). Measured at 2,000 jobs (2,627 rows): 2,000 released a round 1.37 s, 5,000 1.30 s,
 * 10,000 1.61 s, no limit 2.03 s (25,000 released after the first round); 800 jobs (1,428 rows):
 * 3,000 1.14 s, 5,000 1.26 s. */
#define RELEASE_SHARE 2
/* After a round, free non-basic columns whose reduced cost keeps them at their bound by more
 * than this share of the mean step price are held again. 0.001 and 0.01 took the same time at
 * 2,000 jobs (1.32 and 1.26 s); without it 1.47 s. */
#define SETTLED_BAND 0.01
/* Warm starts (an update in place, a shift, a basis from the file) hold every non-basic
 * flexible column at its bound: the basis already has each group's margin basic, so this is the
 * cold rule with the margin known, and it needs no duals. Measured on 5 price updates each
 * (bench_growth's site and updates, CPU ms, no cap): 2,000 jobs mean 433 against 681 when only the
 * columns with a reduced cost beyond 0.1 % of the mean step price were held (exact ties on the
 * price plateaus left tens of thousands free), the slowest 1,025 against 1,593 (cold 1,400); 800
 * jobs mean 85 against 118. */
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
    /* Measured (CPU, gridems solve): the canonical 50 jobs (2,400 flexible columns, 685 rows)
     * 50-60 ms with sifting against 40 ms without; 200 jobs (9,500 and 828) 210-240 against 390
     * ms; 768 steps (25,000 and 5,098) 1.43 against 1.54 s, not enough to lower the bar. */
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

/* Which flexible columns to hold, and where: every non-basic p[g,t] at the bound the crash gave
 * it, except the group's margin: the first step, in the price order of g's window, after the
 * steps it runs at full power. */
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
        for (int k = 0; k < w; k++) {
            int t = window[k], stat = glp_get_col_stat(lp, p[t]);
            if (stat == GLP_BS || k == full) {
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

/* Where each held column is in the held array (index + 1, 0 for none) and how many entries it
 * has: columns released and held again keep their entry. */
typedef struct held_set_s {
    held_t *held;
    int n;
    int *where; /* [n_cols + 1] */
} held_set_t;

/* Hold p[g,t] (column col, non-basic with status stat) at its bound; it keeps its entry in the
 * held array if it had one. */
static void hold_column(glp_prob *lp, held_set_t *set, int g, int t, int col, int stat)
{
    held_t h = {col, g, t, glp_get_col_ub(lp, col), stat == GLP_NU, true};
    if (set->where[col] == 0) {
        set->where[col] = ++set->n;
    }
    set->held[set->where[col] - 1] = h;
    hold(lp, &h);
}

static bool is_held(const held_set_t *set, int col)
{
    return set->where[col] != 0 && set->held[set->where[col] - 1].held;
}

/* After each round: hold again every free non-basic p[g,t] whose reduced cost keeps it firmly
 * at its bound, more than SETTLED_BAND of the mean step price away from zero. Returns how many
 * were newly held. */
static int hold_settled(glp_prob *lp, const lp_layout_t *l, held_set_t *set)
{
    int T = l->steps, count = 0;
    double mean = 0.0;
    for (int t = 0; t < T; t++) {
        mean += fabs(glp_get_row_dual(lp, l->balance[t])) / T;
    }
    double band = SETTLED_BAND * mean;
    for (int g = 0; g < l->n_groups; g++) {
        for (int t = 0; t < T; t++) {
            int col = l->p[g * T + t];
            if (col == 0 || is_held(set, col)) {
                continue;
            }
            int stat = glp_get_col_stat(lp, col);
            double d = glp_get_col_dual(lp, col);
            if ((stat == GLP_NU && d < -band) || (stat == GLP_NL && d > band)) {
                hold_column(lp, set, g, t, col, stat);
                count++;
            }
        }
    }
    return count;
}

/* A warm start: hold every non-basic p[g,t] (see the measurements at the top). */
static void hold_nonbasic(glp_prob *lp, const lp_layout_t *l, held_set_t *set)
{
    int T = l->steps;
    for (int g = 0; g < l->n_groups; g++) {
        for (int t = 0; t < T; t++) {
            int col = l->p[g * T + t];
            int stat = col != 0 ? glp_get_col_stat(lp, col) : GLP_BS;
            if (stat == GLP_NL || stat == GLP_NU) {
                hold_column(lp, set, g, t, col, stat);
            }
        }
    }
}

/* A held column priced out: how wrong its bound is (relative to the step's price). */
typedef struct priced_out_s {
    double wrong;
    int index; /* into the held array */
} priced_out_t;

static int most_wrong_first(const void *pa, const void *pb)
{
    const priced_out_t *a = pa, *b = pb;
    if (a->wrong != b->wrong) {
        return a->wrong > b->wrong ? -1 : 1;
    }
    return (a->index > b->index) - (a->index < b->index);
}

/* Release the held columns whose reduced cost says they would move, at most `limit` of them,
 * the most wrong first (ties in the order they were held, so every run releases the same).
 * out: scratch of the held array's size. Returns how many were released. */
static int price_held(glp_prob *lp, const lp_layout_t *l, held_set_t *set, priced_out_t *out,
                      int limit)
{
    int found = 0;
    for (int k = 0; k < set->n; k++) {
        const held_t *h = &set->held[k];
        if (!h->held) {
            continue;
        }
        /* d = c - sum_i a_i pi_i with c = 0 and a = -1 (balance), +1 (the compute cap and the
         * cluster's cap), dt (energy). */
        double pi_balance = glp_get_row_dual(lp, l->balance[h->step]);
        int cap = l->compute_cap[h->step], cluster = l->cluster_of[h->group];
        int cluster_cap = cluster >= 0 ? l->cluster_cap[cluster * l->steps + h->step] : 0;
        double d = pi_balance - (cap != 0 ? glp_get_row_dual(lp, cap) : 0.0) -
                   (cluster_cap != 0 ? glp_get_row_dual(lp, cluster_cap) : 0.0) -
                   l->dt * glp_get_row_dual(lp, l->flex_energy[h->group]);
        double scale = 1.0 + fabs(pi_balance);
        if (h->at_upper ? d > RELEASE_TOL * scale : d < -RELEASE_TOL * scale) {
            out[found++] = (priced_out_t){fabs(d) / scale, k};
        }
    }
    if (found > limit) {
        qsort(out, (size_t)found, sizeof *out, most_wrong_first);
        found = limit;
    }
    for (int i = 0; i < found; i++) {
        release(lp, &set->held[out[i].index]);
    }
    return found;
}

/* What is left of parm's limits for the next glp_simplex run: 0, or GLP_EITLIM / GLP_ETMLIM when
 * nothing is (the codes glp_simplex itself would have returned). */
static int limit_round(glp_smcp *round, const glp_smcp *parm, glp_prob *lp, int it_start,
                       double started)
{
    round->it_lim = parm->it_lim - (glp_get_it_cnt(lp) - it_start);
    if (round->it_lim <= 0) {
        return GLP_EITLIM;
    }
    if (parm->tm_lim < INT_MAX) {
        double left = parm->tm_lim - (glp_time() - started);
        if (left < 1.0) {
            return GLP_ETMLIM;
        }
        round->tm_lim = (int)left;
    }
    return 0;
}

int gridems__sifting_solve(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc,
                           const double *step_weight, bool warm, const glp_smcp *parm,
                           sifting_stats_t *stats)
{
    stats->estimated = step_weight != NULL;
    stats->rounds = stats->held = stats->released = 0;
    size_t cap = (size_t)l->n_groups * (size_t)l->steps;
    int cols = glp_get_num_cols(lp);
    /* From GLPK's allocator: a GLPK error (a longjmp out of glp_simplex, see optimizer.c)
     * frees them with the environment. */
    held_set_t set = {glp_alloc((int)(cap > 0 ? cap : 1), sizeof(held_t)), 0,
                      glp_alloc(cols + 1, sizeof(int))};
    priced_out_t *out = glp_alloc((int)(cap > 0 ? cap : 1), sizeof *out);
    memset(set.where, 0, (size_t)(cols + 1) * sizeof(int));
    if (warm) {
        hold_nonbasic(lp, l, &set);
    } else {
        set.n = choose_held(lp, l, sc, step_weight, set.held);
        for (int k = 0; k < set.n; k++) {
            set.where[set.held[k].col] = k + 1;
            hold(lp, &set.held[k]);
        }
    }
    stats->held = set.n;
    int release_limit = RELEASE_SHARE * glp_get_num_rows(lp);
    /* parm's iteration and time limits bound all the rounds together, not each. */
    glp_smcp round = *parm;
    int it_start = glp_get_it_cnt(lp);
    double started = glp_time();
    int ret = 0;
    while (set.n > 0 && stats->rounds < MAX_ROUNDS) {
        stats->rounds++;
        ret = limit_round(&round, parm, lp, it_start, started);
        if (ret != 0) {
            break;
        }
        ret = glp_simplex(lp, &round);
        if (ret != 0 || glp_get_status(lp) != GLP_OPT) {
            break;
        }
        int released = price_held(lp, l, &set, out, release_limit);
        stats->released += released;
        if (released == 0) {
            break;
        }
        hold_settled(lp, l, &set);
    }
    for (int k = 0; k < set.n; k++) {
        if (set.held[k].held) {
            release(lp, &set.held[k]);
        }
    }
    glp_free(set.held);
    glp_free(set.where);
    glp_free(out);
    /* The whole problem from the basis found: GLPK's own proof of optimality (or the rest of
     * the way, when a round failed or the rounds ran out). */
    if (ret == 0) {
        ret = limit_round(&round, parm, lp, it_start, started);
    }
    if (ret == 0) {
        ret = glp_simplex(lp, &round);
    }
    return ret;
}
