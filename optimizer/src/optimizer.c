/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The optimizer object: keeps one GLPK problem between solves, decides how each solve starts
 * (cold, updated in place, shifted), runs the simplex and reads the schedule out.
 *
 * Solver settings, and the measurements that chose them (bench/bench_optimizer, canonical
 * scenario of 96 x 15 min, 4 batteries, 50 jobs; this machine class, 2 cores):
 *   - Cold start: scaling GLP_SF_AUTO, our crash basis (flexible loads placed greedily in their
 *     cheapest steps, see lp_model.h), presolve off, primal simplex with projected steepest
 *     edge: 1082 iterations, ~47 ms. Measured against it: presolve + dual simplex 3316
 *     iterations / ~120-165 ms; presolve + primal 2842 / ~90 ms; crash + dual 3290 / ~200 ms;
 *     crash + primal with Dantzig pricing 2267 / ~90 ms; without scaling no faster. The
 *     jobs' power columns dominate (2400 of 3900 columns): without jobs a cold solve is 285
 *     iterations.
 *   - Warm start: presolve off (the presolver throws the basis away), primal simplex when
 *     costs changed (the old basis stays primal feasible, or nearly when bounds moved too),
 *     dual simplex when only bounds or right-hand sides changed (it stays dual feasible),
 *     primal after a shift (see solve_prepared).
 *   - A starting basis GLPK refuses (singular), or a solve that ends without proving optimality
 *     for another reason than the time limit, is retried from GLPK's presolver (dual simplex).
 *   - Warm starts are capped at half the iterations of a cold solve (WARM_CAP_SHARE of
 *     cold_estimate, at least WARM_CAP_MIN) and solved cold from the crash basis when they
 *     reach it. Warm starts on the canonical scenario take 80-140 iterations against 928 cold,
 *     but some took 1463-3300 (95-400 ms, against 55 ms cold; most of them were the two-phase
 *     dual, no longer used for that case): past half a cold solve, starting again is the
 *     better bet, and the worst case is bounded by 1.5 cold solves instead of unbounded.
 *     A sifted warm start (below) may take one and a half cold solves' iterations
 *     (WARM_SIFTED_CAP_SHARE): each of its iterations costs about two thirds of a cold one.
 *   - Many jobs (at least 5,000 flexible power columns and 6 per row): cold starts and primal
 *     warm starts (price updates, shifts) sift the flexible columns (sifting.h), cold starts
 *     from a crash that places the jobs by step prices estimated on a coarse relaxation
 *     (price_estimate.h).
 *     bench_growth, 2,000 jobs at 96 steps: 1.4 s cold against 40 s with the plain simplex.
 *   - Scaling: GLP_SF_AUTO on a new program; a shifted one takes its predecessor's factors
 *     (lp_model.h), which at 5-minute steps cut bench_optimizer's large shifts by about a
 *     third (296-352 -> 205-238 ms, JEPX prices).
 *   - With a reference plan, a second stage picks the optimal schedule closest to it
 *     (tie_break.h), on a copy of the problem so the optimal basis here stays for the next warm
 *     start. It is capped at a cold solve's iterations (cold_estimate); at the cap the first
 *     stage's schedule is returned.
 *
 * GLPK errors (which would call abort()) are caught with glp_error_hook and a longjmp back here;
 * GLPK's environment is then freed, which destroys every GLPK object of this thread, so each
 * object records the environment generation its problem was made in and rebuilds when it is
 * stale.
 */
#include "optimizer_internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridems/errors.h"
#include "basis_file.h"
#include "lp_layout.h"
#include "lp_model.h"
#include "price_estimate.h"
#include "sifting.h"
#include "tie_break.h"

/* A warm start may use this share of a cold solve's iterations (cold_estimate) before it is
 * abandoned for a cold start (see the header comment). */
#define WARM_CAP_SHARE 0.5
/* ... and a sifted warm start (sifting.h) this share: its iterations are cheaper than a cold
 * solve's (every non-basic flexible column held against the cold rounds' wider working problem,
 * and no relaxation or crash), so half a cold solve's iterations was far less than half its
 * time. Measured on 10 price updates at each of 200, 800 and 2,000 jobs (bench_growth's site,
 * uncapped): the most any took was 1.26 cold solves' iterations and 0.88 of a cold solve's CPU
 * time (2,000 jobs: 0.15 against 0.23 ms an iteration); with a cap of 0.5, two of the ten at
 * 2,000 jobs reached it and cost 1.4-1.9 cold solves with the restart. */
#define WARM_SIFTED_CAP_SHARE 1.5
/* No cap below this many iterations. On small programs the crash basis is so good that a
 * carried-over one needs about half a cold solve's iterations (96 steps, 2 batteries: 82-96
 * after a shift against 169 cold), and a restart there would cost three times the warm solve. */
#define WARM_CAP_MIN 200

struct gridems_optimizer_s {
    gridems_optimizer_opts_t opts;
    glp_prob *lp; /* NULL until the first build */
    unsigned lp_env_generation;
    lp_layout_t layout;   /* the structure of lp */
    lp_layout_t pending;  /* a layout under construction, freed on a GLPK error */
    glp_prob *pending_lp; /* a problem under construction */
    bool has_basis;       /* lp holds an optimal basis of its current structure */
    bool basis_from_file; /* ...taken from a file (basis_file.c): statuses only, no duals */
    int shift_hint;
    const gridems_reference_t *reference; /* borrowed for the next solve only, or NULL */
    int64_t reference_start_ms;
    int last_cold_iterations;     /* of the last cold solve, for the warm cap; 0 before one */
    int last_cold_rows;           /* rows of the program it solved */
    int warm_cap_override;        /* tests: > 0 replaces the computed cap */
    bool no_merge;                /* tests: one group per flexible load (lp_layout.h) */
    bool no_sifting;              /* tests and benchmarks: plain simplex on every start */
    sifting_stats_t last_sifting; /* of the last simplex run (zero when it did not sift) */
    int inject_fault;             /* tests: make the next solve raise a GLPK error */
    char glpk_said[512];          /* GLPK's last terminal output, for error messages */
    jmp_buf on_glpk_error;
};

/* GLPK's environment is per thread; a GLPK error frees it with all of its problems. */
static _Thread_local unsigned env_generation;

static double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int gridems_optimizer_create(gridems_optimizer_t **out, const gridems_optimizer_opts_t *opts)
{
    gridems_optimizer_t *opt = calloc(1, sizeof *opt);
    if (opt == NULL) {
        return GRIDEMS_ENOMEM;
    }
    if (opts != NULL) {
        opt->opts = *opts;
    } else {
        opt->opts.allow_warm = true;
    }
    *out = opt;
    return 0;
}

/* Forget the GLPK problem: delete it if it is still alive in this thread's environment. */
static void drop_problem(gridems_optimizer_t *opt)
{
    if (opt->lp != NULL && opt->lp_env_generation == env_generation) {
        glp_delete_prob(opt->lp);
    }
    opt->lp = NULL;
    opt->has_basis = false;
    opt->basis_from_file = false;
    gridems__lp_layout_free(&opt->layout);
}

void gridems_optimizer_destroy(gridems_optimizer_t *opt)
{
    if (opt == NULL) {
        return;
    }
    drop_problem(opt);
    free(opt);
}

void gridems_optimizer_hint_shift(gridems_optimizer_t *opt, int steps)
{
    opt->shift_hint = steps;
}

void gridems_optimizer_hint_reference(gridems_optimizer_t *opt, const gridems_reference_t *ref,
                                      int64_t start_ms)
{
    opt->reference = ref;
    opt->reference_start_ms = start_ms;
}

void gridems__optimizer_set_warm_cap(gridems_optimizer_t *opt, int iterations)
{
    opt->warm_cap_override = iterations;
}

void gridems__optimizer_set_merge(gridems_optimizer_t *opt, bool merge)
{
    opt->no_merge = !merge;
}

void gridems__optimizer_set_sifting(gridems_optimizer_t *opt, bool sifting)
{
    opt->no_sifting = !sifting;
}

void gridems__optimizer_last_sifting(const gridems_optimizer_t *opt, int *rounds, bool *estimated)
{
    *rounds = opt->last_sifting.rounds;
    *estimated = opt->last_sifting.estimated;
}

void gridems__optimizer_inject_fault(gridems_optimizer_t *opt)
{
    opt->inject_fault = 1;
}

/* GLPK's terminal output goes here instead of stdout (it prints its error messages even with
 * terminal output off): kept for our error message, printed on stderr only when verbose. */
static int glpk_term_hook(void *info, const char *text)
{
    gridems_optimizer_t *opt = info;
    size_t have = strlen(opt->glpk_said), add = strlen(text);
    if (have + add >= sizeof opt->glpk_said) {
        have = 0; /* keep the newest text, which names the error */
    }
    if (add >= sizeof opt->glpk_said) {
        text += add - (sizeof opt->glpk_said - 1);
        add = sizeof opt->glpk_said - 1;
    }
    memcpy(opt->glpk_said + have, text, add);
    opt->glpk_said[have + add] = '\0';
    if (opt->opts.verbose) {
        fputs(text, stderr);
    }
    return 1;
}

static void glpk_error_hook(void *info)
{
    gridems_optimizer_t *opt = info;
    longjmp(opt->on_glpk_error, 1);
}

/* ---- ## Building ---- */

/* Whether lp has any scale factor but 1: GLPK's automatic scaling left it alone when not. Stops
 * at the first one, so a scaled program costs a row or two. */
static bool is_scaled(glp_prob *lp)
{
    for (int i = 1, m = glp_get_num_rows(lp); i <= m; i++) {
        if (glp_get_rii(lp, i) != 1.0) {
            return true;
        }
    }
    for (int j = 1, n = glp_get_num_cols(lp); j <= n; j++) {
        if (glp_get_sjj(lp, j) != 1.0) {
            return true;
        }
    }
    return false;
}

static glp_prob *new_problem(gridems_optimizer_t *opt, const lp_layout_t *layout,
                             const gridems_scenario_t *sc, int *rc)
{
    glp_prob *lp = glp_create_prob();
    opt->pending_lp = lp;
    glp_set_obj_dir(lp, GLP_MIN);
    lp_change_t change;
    *rc = gridems__lp_model_load_matrix(lp, layout);
    if (*rc == 0) {
        *rc = gridems__lp_model_set_data(lp, layout, sc, true, &change);
    }
    if (*rc != 0) {
        glp_delete_prob(lp);
        opt->pending_lp = NULL;
        return NULL;
    }
    return lp;
}

/*
 * Make opt->lp the program of sc: updated in place when the structure is unchanged and a basis is
 * there to reuse, else rebuilt (carrying the basis over when there is one).
 */
static int prepare(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                   gridems_start_kind_t *kind, lp_change_t *change)
{
    if (opt->lp != NULL && opt->lp_env_generation != env_generation) {
        opt->lp = NULL; /* freed by a GLPK error in another object of this thread */
        opt->has_basis = false;
    }
    int shift = opt->shift_hint;
    opt->shift_hint = 0;
    int rc =
        gridems__lp_layout_build(&opt->pending, sc, opt->no_merge ? LP_MERGE_NONE : LP_MERGE_EXACT);
    if (rc != 0) {
        return rc;
    }
    bool warm = opt->opts.allow_warm && opt->lp != NULL && opt->has_basis;
    /* A basis from a file is always carried over into a new problem: that is where it is repaired
     * (a file's statuses may not form a basis of this data). */
    if (warm && shift == 0 && !opt->basis_from_file &&
        gridems__lp_layout_same(&opt->pending, &opt->layout)) {
        gridems__lp_layout_free(&opt->pending);
        *kind = GRIDEMS_START_UPDATE;
        return gridems__lp_model_set_data(opt->lp, &opt->layout, sc, false, change);
    }
    glp_prob *lp = new_problem(opt, &opt->pending, sc, &rc);
    if (lp == NULL) {
        gridems__lp_layout_free(&opt->pending);
        return rc;
    }
    change->costs = change->bounds = true;
    bool scaled = false;
    lp_match_t match;
    /* Out of memory for the match: a cold start, which is as correct. */
    if (warm && gridems__lp_model_match(&match, &opt->pending, &opt->layout) == 0) {
        gridems__lp_model_transfer_basis(lp, &opt->pending, opt->lp, &opt->layout, &match, shift);
        *kind = GRIDEMS_START_SHIFTED;
        scaled = is_scaled(opt->lp) && gridems__lp_model_transfer_scale(
                                           lp, &opt->pending, opt->lp, &opt->layout, &match, shift);
        gridems__lp_model_match_free(&match);
    } else {
        *kind = GRIDEMS_START_COLD;
    }
    drop_problem(opt);
    opt->lp = lp;
    opt->pending_lp = NULL;
    opt->lp_env_generation = env_generation;
    opt->layout = opt->pending;
    memset(&opt->pending, 0, sizeof opt->pending);
    /* GLPK's automatic scaling (geometric mean and equilibration) where the matrix is not
     * already within [0.1, 10] (steps under about 6 minutes: the storage and energy rows' dt
     * terms). Its passes over every non-zero cost 80-120 ms on bench_optimizer's large program,
     * a third of a shift's time there; a shift of the horizon takes the scale of the program it
     * comes from instead (the same matrix, moved by a step: lp_model.h), unless the old program
     * was left unscaled (then GLPK's check is cheap, and a new battery may need scaling). */
    if (!scaled) {
        glp_scale_prob(opt->lp, GLP_SF_AUTO);
    }
    return 0;
}

/* ---- ## Solving ---- */

/* Where the simplex starts from. */
typedef enum {
    FROM_CRASH,    /* our crash basis (cold solves) */
    FROM_PRESOLVE, /* GLPK's presolver and its own basis (the fallback) */
    FROM_CURRENT   /* the basis the problem holds (warm solves) */
} simplex_start_t;

/* The time left of the solve's limit, as GLPK's tm_lim (0 = none). */
static int time_left(const gridems_optimizer_t *opt, double started_ms)
{
    if (opt->opts.time_limit_ms <= 0) {
        return 0;
    }
    double left = opt->opts.time_limit_ms - (monotonic_ms() - started_ms);
    return left < 1.0 ? 1 : (left > 2e9 ? 2000000000 : (int)left);
}

/* What a cold solve of the current program would take: the last cold solve's iterations per
 * row times the rows now (the program grows and shrinks with the jobs), or one iteration per
 * row before any cold solve of a non-empty program (the canonical scenario: 928 for 723 rows). */
static double cold_estimate(const gridems_optimizer_t *opt)
{
    double rows = glp_get_num_rows(opt->lp);
    if (opt->last_cold_rows > 0 && opt->last_cold_iterations > 0) {
        return (double)opt->last_cold_iterations * rows / opt->last_cold_rows;
    }
    return rows;
}

/* The iteration cap of a warm start (sifted: it will sift, see sifts()). */
static int warm_cap(const gridems_optimizer_t *opt, bool sifted)
{
    if (opt->warm_cap_override > 0) {
        return opt->warm_cap_override;
    }
    double cap = cold_estimate(opt) * (sifted ? WARM_SIFTED_CAP_SHARE : WARM_CAP_SHARE);
    return cap < WARM_CAP_MIN ? WARM_CAP_MIN : (cap > 1e9 ? 1000000000 : (int)cap);
}

/* Whether a run from `start` with method `meth` sifts the flexible columns (sifting.h): cold
 * starts and primal warm starts (price updates, shifts) of programs with many flexible
 * columns. */
static bool sifts(const gridems_optimizer_t *opt, simplex_start_t start, int meth)
{
    bool warm_sift = start == FROM_CURRENT && meth == GLP_PRIMAL;
    return (start == FROM_CRASH || warm_sift) && !opt->no_sifting &&
           gridems__sifting_pays(opt->lp, &opt->layout);
}

/* it_lim: GLPK's iteration limit for this run, 0 for none. */
static int run_simplex(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                       simplex_start_t start, int meth, int it_lim, double started_ms)
{
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = opt->opts.verbose ? GLP_MSG_ALL : GLP_MSG_OFF;
    parm.meth = meth;
    parm.presolve = start == FROM_PRESOLVE ? GLP_ON : GLP_OFF;
    int tm_lim = time_left(opt, started_ms);
    if (tm_lim > 0) {
        parm.tm_lim = tm_lim;
    }
    if (it_lim > 0) {
        parm.it_lim = it_lim;
    }
    /* Many flexible columns: estimated step prices for the crash, then sifting. */
    bool sift = sifts(opt, start, meth);
    double *weight = NULL, ceiling = HUGE_VAL;
    if (sift && start == FROM_CRASH) {
        /* GLPK's allocator: freed with the environment on a GLPK error. */
        weight = glp_alloc(sc->steps, sizeof *weight);
        if (gridems__estimate_step_weights(sc, &opt->layout, weight, &ceiling) != 0) {
            glp_free(weight);
            weight = NULL;
            ceiling = HUGE_VAL;
        }
    }
    if (start == FROM_CRASH) {
        gridems__lp_model_crash_basis(opt->lp, &opt->layout, sc, weight, ceiling);
    }
    int it_before = glp_get_it_cnt(opt->lp);
    int ret;
    memset(&opt->last_sifting, 0, sizeof opt->last_sifting); /* of this run only */
    if (sift) {
        sifting_stats_t *stats = &opt->last_sifting;
        ret = gridems__sifting_solve(opt->lp, &opt->layout, sc, weight, start == FROM_CURRENT,
                                     &parm, stats);
        if (opt->opts.verbose) {
            fprintf(stderr, "sifting (%s): %d rounds, %d columns held, %d released\n",
                    start == FROM_CURRENT ? "warm, last reduced costs"
                    : stats->estimated    ? "cold, estimated step prices"
                                          : "cold, tariff",
                    stats->rounds, stats->held, stats->released);
        }
    } else {
        ret = glp_simplex(opt->lp, &parm);
    }
    if (weight != NULL) {
        glp_free(weight);
    }
    if (start == FROM_CRASH && ret == 0 && glp_get_status(opt->lp) == GLP_OPT) {
        opt->last_cold_iterations = glp_get_it_cnt(opt->lp) - it_before;
        opt->last_cold_rows = glp_get_num_rows(opt->lp);
    }
    return ret;
}

static bool basis_refused(int ret)
{
    return ret == GLP_EBADB || ret == GLP_ESING || ret == GLP_ECOND;
}

static int solve_prepared(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                          gridems_start_kind_t *kind, const lp_change_t *change, double started_ms,
                          int *cap, char *err, size_t errlen)
{
    int meth = GLP_PRIMAL;
    simplex_start_t start = FROM_CURRENT;
    if (*kind == GRIDEMS_START_COLD) {
        start = FROM_CRASH;
        meth = GLP_PRIMAL;
    } else if (*kind == GRIDEMS_START_SHIFTED) {
        /* A carried-over basis is close to primal feasible (most steps keep their values) but
         * far from dual feasible: on the large scenario the primal simplex took 297 iterations
         * (0.7 s) where the two-phase dual took 45653 (65 s). */
        meth = GLP_PRIMAL;
    } else if (*kind == GRIDEMS_START_UPDATE && !change->costs) {
        meth = GLP_DUAL;
    }
    /* Updated in place with new costs (and maybe bounds): primal. When the bounds moved too (the
     * batteries' energy, the jobs' remaining energy, with every new price), the basis is a
     * little primal infeasible and far from dual feasible; in the service benchmark the
     * two-phase dual took 1300-3300 iterations (150-400 ms) on half of those re-plans, the
     * primal simplex 10-150. */
    *cap = start == FROM_CURRENT ? warm_cap(opt, sifts(opt, start, meth)) : 0;
    int ret = run_simplex(opt, sc, start, meth, *cap, started_ms);
    if (ret == GLP_EITLIM && *cap > 0) {
        /* Too far from the new optimum: a cold start is the cheaper way there. */
        *kind = GRIDEMS_START_CAPPED;
        ret = run_simplex(opt, sc, FROM_CRASH, GLP_PRIMAL, 0, started_ms);
    }
    bool optimal = ret == 0 && glp_get_status(opt->lp) == GLP_OPT;
    if (!optimal && ret != GLP_ETMLIM && (basis_refused(ret) || ret == 0)) {
        /* The starting basis did not work out; let GLPK start again from its own. */
        *kind = GRIDEMS_START_FALLBACK;
        ret = run_simplex(opt, sc, FROM_PRESOLVE, GLP_DUALP, 0, started_ms);
    }
    opt->has_basis = false;
    if (ret == GLP_ETMLIM) {
        gridems_set_err(err, errlen, "%s",
                        "solver time limit reached before optimality was proven");
        return GRIDEMS_ETIMEDOUT;
    }
    if (ret != 0) {
        gridems_set_err(err, errlen, "GLPK glp_simplex failed with code %d", ret);
        return GRIDEMS_ESOLVER;
    }
    int status = glp_get_status(opt->lp);
    if (status != GLP_OPT) {
        gridems_set_err(err, errlen, "GLPK did not prove optimality (solution status %d)", status);
        return GRIDEMS_ESOLVER;
    }
    opt->has_basis = true;
    opt->basis_from_file = false;
    return 0;
}

/* ---- ## Reading the schedule out ---- */

static double col_value(glp_prob *lp, int j)
{
    if (j == 0) {
        return 0.0;
    }
    /* Clamp round-off (a -1e-15 charge, say) back into the column's bounds. */
    double v = glp_get_col_prim(lp, j);
    int type = glp_get_col_type(lp, j);
    if (type != GLP_FR && type != GLP_UP && v < glp_get_col_lb(lp, j)) {
        v = glp_get_col_lb(lp, j);
    }
    if ((type == GLP_DB || type == GLP_FX || type == GLP_UP) && v > glp_get_col_ub(lp, j)) {
        v = glp_get_col_ub(lp, j);
    }
    return v;
}

/* The schedule: primal values from `lp` (opt->lp, or the tie-break's copy of it), duals and the
 * objective from opt->lp. */
static int extract(const gridems_optimizer_t *opt, glp_prob *lp, const gridems_scenario_t *sc,
                   gridems_schedule_t *out)
{
    const lp_layout_t *l = &opt->layout;
    int rc = gridems__schedule_alloc(out, sc->steps, sc->n_batteries, sc->n_flex_loads);
    if (rc != 0) {
        return rc;
    }
    int T = sc->steps;
    double dt = l->dt;
    double peak = sc->peak_so_far_kw;
    for (int t = 0; t < T; t++) {
        out->grid_import_kw[t] = col_value(lp, l->g[t]);
        out->grid_export_kw[t] = col_value(lp, l->x[t]);
        out->pv_curtailed_kw[t] = col_value(lp, l->k[t]);
        out->unserved_kw[t] = col_value(lp, l->z[t]);
        out->marginal_price_per_kwh[t] = glp_get_row_dual(opt->lp, l->balance[t]) / dt;
        double g = out->grid_import_kw[t];
        peak = fmax(peak, g);
        out->cost_energy += dt * sc->import_per_kwh[t] * g;
        out->cost_export += dt * sc->export_per_kwh[t] * out->grid_export_kw[t];
        if (sc->has_carbon) {
            out->cost_carbon += dt * sc->carbon_price_per_kg * sc->carbon_kg_per_kwh[t] * g;
            out->emissions_kg += dt * sc->carbon_kg_per_kwh[t] * g;
        }
        out->cost_penalty += dt * sc->unserved_load_per_kwh * out->unserved_kw[t];
    }
    out->peak_import_kw = peak;
    if (l->peak != 0) {
        out->cost_demand = sc->demand_charge_per_kw * (col_value(lp, l->peak) - sc->peak_so_far_kw);
    }
    for (int b = 0; b < sc->n_batteries; b++) {
        gridems_battery_plan_t *bp = &out->batteries[b];
        const gridems_battery_t *bat = &sc->batteries[b];
        bp->soc_kwh[0] = bat->soc_kwh;
        for (int t = 0; t < T; t++) {
            bp->charge_kw[t] = col_value(lp, l->c[b * T + t]);
            bp->discharge_kw[t] = col_value(lp, l->d[b * T + t]);
            bp->soc_kwh[t + 1] = col_value(lp, l->s[b * T + t]);
            out->cost_degradation += dt * bat->cycle_cost_per_kwh * bp->discharge_kw[t];
        }
        out->cost_penalty += sc->final_soc_shortfall_per_kwh * col_value(lp, l->f[b]);
    }
    /* A group of loads (lp_layout.c) is split back in proportion to the loads' power limits,
     * the split its proof of exactness uses; a load alone in its group takes all of it. */
    double *group_power = malloc((size_t)(l->n_groups + 1) * sizeof *group_power);
    double *group_energy = malloc((size_t)(l->n_groups + 1) * sizeof *group_energy);
    if (group_power == NULL || group_energy == NULL) {
        free(group_power);
        free(group_energy);
        gridems_schedule_free(out);
        return GRIDEMS_ENOMEM;
    }
    gridems__lp_group_sums(l, sc, group_power, group_energy);
    for (int j = 0; j < sc->n_flex_loads; j++) {
        gridems_flex_plan_t *fp = &out->flex_loads[j];
        int g = l->group_of[j];
        double power = sc->flex_loads[j].power_max_kw;
        bool alone = l->group_first[g] == j && l->group_next[j] < 0;
        double share = alone || group_power[g] <= 0 ? 1.0 : power / group_power[g];
        for (int t = 0; t < T; t++) {
            fp->power_kw[t] = fmin(share * col_value(lp, l->p[g * T + t]), power);
        }
        fp->unmet_kwh = share * col_value(lp, l->u[g]);
        out->cost_penalty += sc->unmet_flexible_per_kwh * fp->unmet_kwh;
    }
    free(group_power);
    free(group_energy);
    out->objective = glp_get_obj_val(opt->lp);
    out->columns = l->n_cols;
    out->rows = l->n_rows;
    return 0;
}

/* ---- ## A basis kept across restarts (basis_file.h) ---- */

glp_prob *gridems__optimizer_basis_lp(const gridems_optimizer_t *opt, bool optimal_only,
                                      int *cold_iterations, int *cold_rows)
{
    *cold_iterations = opt->last_cold_iterations;
    *cold_rows = opt->last_cold_rows;
    bool alive = opt->lp != NULL && opt->lp_env_generation == env_generation;
    return alive && (opt->has_basis || !optimal_only) ? opt->lp : NULL;
}

void gridems__optimizer_basis_adopted(gridems_optimizer_t *opt, int cold_iterations, int cold_rows)
{
    opt->has_basis = true;
    opt->basis_from_file = true;
    if (cold_iterations > 0 && cold_rows > 0) {
        opt->last_cold_iterations = cold_iterations;
        opt->last_cold_rows = cold_rows;
    }
}

/* ---- ## Public entry points ---- */

/* Everything that calls GLPK, behind the error hook. Returns through longjmp on a GLPK error. */
static int guarded_solve(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                         gridems_schedule_t *out, bool solve, char *err, size_t errlen)
{
    double started = monotonic_ms();
    gridems_start_kind_t kind = GRIDEMS_START_COLD;
    lp_change_t change = {true, true};
    int it_before = 0;
    int rc = prepare(opt, sc, &kind, &change);
    if (rc != 0) {
        gridems_set_err(err, errlen, "%s", gridems_strerror(rc));
        return rc;
    }
    if (opt->inject_fault) {
        opt->inject_fault = 0;
        glp_set_col_bnds(opt->lp, glp_get_num_cols(opt->lp) + 1, GLP_LO, 0.0, 0.0);
    }
    if (!solve) {
        return 0;
    }
    it_before = glp_get_it_cnt(opt->lp);
    int cap = 0;
    rc = solve_prepared(opt, sc, &kind, &change, started, &cap, err, errlen);
    if (rc != 0) {
        return rc;
    }
    int iterations = glp_get_it_cnt(opt->lp) - it_before;
    tie_break_result_t tb;
    memset(&tb, 0, sizeof tb);
    if (opt->reference != NULL) {
        double cold = cold_estimate(opt);
        gridems__tie_break(opt->lp, &opt->layout, sc, opt->reference, opt->reference_start_ms,
                           cold < WARM_CAP_MIN ? WARM_CAP_MIN : (int)fmin(cold, 1e9),
                           time_left(opt, started), opt->opts.verbose, &tb);
    }
    rc = extract(opt, tb.lp != NULL ? tb.lp : opt->lp, sc, out);
    if (tb.lp != NULL) {
        glp_delete_prob(tb.lp);
    }
    if (rc != 0) {
        gridems_set_err(err, errlen, "%s", gridems_strerror(rc));
        return rc;
    }
    if (tb.outcome == GRIDEMS_TIE_APPLIED) {
        out->objective = tb.objective;
        out->tie_break_distance_kw = tb.distance_kw;
    }
    out->tie_break = tb.outcome;
    out->tie_break_iterations = tb.iterations;
    out->iterations = iterations + tb.iterations;
    out->iteration_cap = cap;
    out->start_kind = kind;
    out->solve_ms = monotonic_ms() - started;
    return 0;
}

static int run_guarded(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                       gridems_schedule_t *out, bool solve, char *err, size_t errlen)
{
    if (gridems_scenario_validate(sc, err, errlen) != 0) {
        opt->reference = NULL;
        return GRIDEMS_EINVAL;
    }
    glp_term_out(GLP_ON); /* everything goes to glpk_term_hook */
    if (setjmp(opt->on_glpk_error) != 0) {
        /* GLPK hit an internal error. Its environment is unusable: free it (this deletes every
         * problem of this thread), forget what we built, and report; the next solve is cold. */
        glp_error_hook(NULL, NULL);
        glp_term_hook(NULL, NULL);
        glp_free_env();
        env_generation++;
        opt->reference = NULL;
        opt->lp = NULL;
        opt->pending_lp = NULL;
        opt->has_basis = false;
        gridems__lp_layout_free(&opt->layout);
        gridems__lp_layout_free(&opt->pending);
        gridems_schedule_free(out);
        for (char *nl = strchr(opt->glpk_said, '\n'); nl != NULL; nl = strchr(nl, '\n')) {
            *nl = ' '; /* one line for the log */
        }
        gridems_set_err(err, errlen, "GLPK internal error (%s); the model will be rebuilt",
                        opt->glpk_said);
        return GRIDEMS_ESOLVER;
    }
    opt->glpk_said[0] = '\0';
    glp_term_hook(glpk_term_hook, opt);
    glp_error_hook(glpk_error_hook, opt);
    int rc = guarded_solve(opt, sc, out, solve, err, errlen);
    opt->reference = NULL;
    glp_error_hook(NULL, NULL);
    glp_term_hook(NULL, NULL);
    if (rc != 0) {
        gridems_schedule_free(out);
    }
    return rc;
}

int gridems_optimizer_solve(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                            gridems_schedule_t *out, char *err, size_t errlen)
{
    gridems_schedule_free(out);
    return run_guarded(opt, sc, out, true, err, errlen);
}

int gridems_optimizer_build(gridems_optimizer_t *opt, const gridems_scenario_t *sc, char *err,
                            size_t errlen)
{
    gridems_schedule_t unused;
    memset(&unused, 0, sizeof unused);
    return run_guarded(opt, sc, &unused, false, err, errlen);
}

int gridems_optimizer_write_lp(gridems_optimizer_t *opt, const char *path)
{
    if (opt->lp == NULL || opt->lp_env_generation != env_generation) {
        return GRIDEMS_ESTATE;
    }
    glp_term_out(GLP_OFF);
    return glp_write_lp(opt->lp, NULL, path) == 0 ? 0 : GRIDEMS_EIO;
}
