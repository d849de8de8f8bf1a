/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The optimizer's exact reductions (optimizer/src/lp_layout.c): flexible loads with the same
 * window and energy/power ratio merged into one group of columns. Each case solves the merged
 * program and the plain one (every load its own columns) and asserts the same optimum, fewer
 * columns, and a per-load schedule that keeps every load's own constraints; then warm starts
 * (update in place, shifted horizon) and the tie-break toward a reference with merged groups;
 * rows implied by bounds; and sifting (optimizer/src/sifting.h) against the plain simplex.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "gridems/optimizer.h"
#include "optimizer_internal.h"

/* A site of T 15-min steps with 2 batteries, a demand charge and a compute cap, and jobs in
 * classes: class c has `per_class` jobs with the window and ratio of the class, powers scaled
 * by powers of two (so the ratio is the same double), plus one job per class with the same
 * window and another ratio (which must stay apart). `offset` moves the prices and windows on. */
static void class_site(gridems_scenario_t *sc, int steps, int classes, int per_class, int offset)
{
    ck_assert_int_eq(gridems_scenario_init(sc, steps, 15), 0);
    for (int t = 0; t < steps; t++) {
        int at = t + offset;
        sc->import_per_kwh[t] = 12 + 8 * sin(at * 0.26) + (at % 7) * 0.3;
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = 4000 + 500 * cos(at * 0.13);
    }
    sc->export_limit_kw = 300;
    sc->demand_charge_per_kw = 200;
    sc->peak_so_far_kw = 4200;
    sc->import_limit_kw = 7000;
    for (int b = 0; b < 2; b++) {
        char id[32];
        snprintf(id, sizeof id, "bess-%d", b);
        gridems_battery_t bat = {id, 2000, 1000, 200, 1900, 1000, 500, 500, 0.95, 0.95, 0.5};
        ck_assert_int_eq(gridems_scenario_add_battery(sc, &bat), 0);
    }
    double dt = 0.25;
    for (int c = 0; c < classes; c++) {
        int earliest = (c * 7) % (steps / 2) - offset;
        earliest = earliest < 0 ? 0 : earliest;
        int deadline = earliest + steps / 3 + c % 5;
        deadline = deadline > steps ? steps : deadline;
        double ratio = dt * (deadline - earliest) * (0.3 + 0.07 * c); /* hours at full power */
        for (int k = 0; k <= per_class; k++) {
            char id[32];
            snprintf(id, sizeof id, "job-%d-%d", c, k);
            double power = 100.0 * (1 << (k % 3));
            /* k == per_class: same window, another ratio (a fifth more energy). */
            double energy = power * ratio * (k == per_class ? 1.2 : 1.0);
            gridems_flex_load_t job = {id, energy, power, earliest, deadline, NULL};
            ck_assert_int_eq(gridems_scenario_add_flex_load(sc, &job), 0);
        }
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 1200;
    gridems_scenario_set_text(&sc->start, "2026-05-11T00:00:00+09:00");
}

static void solve_with(const gridems_scenario_t *sc, bool merge, gridems_schedule_t *s)
{
    gridems_optimizer_opts_t opts = {0, false, false};
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, &opts), 0);
    gridems__optimizer_set_merge(opt, merge);
    char err[256] = "";
    memset(s, 0, sizeof *s);
    int rc = gridems_optimizer_solve(opt, sc, s, err, sizeof err);
    ck_assert_msg(rc == 0, "solve failed (%d): %s", rc, err);
    gridems_optimizer_destroy(opt);
}

/* Every load's own constraints hold on the split schedule, and the steps add up. */
static void assert_loads_feasible(const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    double dt = gridems_scenario_dt_hours(sc);
    for (int t = 0; t < sc->steps; t++) {
        double total = 0.0, batteries = 0.0;
        for (int j = 0; j < sc->n_flex_loads; j++) {
            const gridems_flex_load_t *fl = &sc->flex_loads[j];
            double p = s->flex_loads[j].power_kw[t];
            double ub = t >= fl->earliest_step && t < fl->deadline_step ? fl->power_max_kw : 0;
            ck_assert_msg(p >= 0 && p <= ub + 1e-9, "%s p[%d] = %.17g outside [0, %g]", fl->id, t,
                          p, ub);
            total += p;
        }
        ck_assert_msg(total <= sc->compute_limit_kw * (1 + 1e-9), "step %d: %g kW of compute", t,
                      total);
        for (int b = 0; b < sc->n_batteries; b++) {
            batteries += s->batteries[b].discharge_kw[t] - s->batteries[b].charge_kw[t];
        }
        double balance = s->grid_import_kw[t] - s->grid_export_kw[t] + sc->pv_kw[t] -
                         s->pv_curtailed_kw[t] + s->unserved_kw[t] + batteries -
                         sc->base_load_kw[t] - total;
        ck_assert_msg(fabs(balance) <= 1e-6, "step %d: power balance off by %g", t, balance);
    }
    for (int j = 0; j < sc->n_flex_loads; j++) {
        const gridems_flex_load_t *fl = &sc->flex_loads[j];
        double delivered = 0.0;
        for (int t = 0; t < sc->steps; t++) {
            delivered += dt * s->flex_loads[j].power_kw[t];
        }
        double unmet = s->flex_loads[j].unmet_kwh;
        ck_assert_msg(unmet >= 0 && fabs(delivered + unmet - fl->energy_kwh) <=
                                        1e-9 * fmax(1.0, fl->energy_kwh),
                      "%s: %.17g delivered + %.17g unmet != %.17g", fl->id, delivered, unmet,
                      fl->energy_kwh);
    }
}

START_TEST(merged_classes_match_the_plain_program)
{
    gridems_scenario_t sc;
    class_site(&sc, 96, 6, 4, 0); /* 6 classes of 4 mergeable jobs + 1 apart: 30 jobs */
    gridems_schedule_t merged, plain;
    solve_with(&sc, true, &merged);
    solve_with(&sc, false, &plain);
    ck_assert_msg(fabs(merged.objective - plain.objective) <= 1e-9 * fabs(plain.objective),
                  "merged %.15g, plain %.15g", merged.objective, plain.objective);
    /* 30 jobs become 12 groups: jobs 1-3 of each class lose their power columns (one per step
     * of the window), their unmet column and their energy row. */
    int saved = 0;
    for (int j = 0; j < sc.n_flex_loads; j++) {
        int k = j % 5;
        if (k >= 1 && k <= 3) {
            saved += sc.flex_loads[j].deadline_step - sc.flex_loads[j].earliest_step + 1;
        }
    }
    ck_assert_int_eq(plain.columns - merged.columns, saved);
    ck_assert_int_eq(plain.rows - merged.rows, 18);
    assert_loads_feasible(&sc, &merged);
    assert_loads_feasible(&sc, &plain);
    /* The split is proportional: jobs 0 (100 kW) and 1 (200 kW) of class 0 run in the same
     * steps, the second at twice the power. */
    for (int t = 0; t < sc.steps; t++) {
        ck_assert_msg(
            fabs(merged.flex_loads[1].power_kw[t] - 2 * merged.flex_loads[0].power_kw[t]) <= 1e-9,
            "step %d: %g vs %g", t, merged.flex_loads[1].power_kw[t],
            merged.flex_loads[0].power_kw[t]);
    }
    /* The schedule JSON carries every job by its own id. */
    char *json = gridems_schedule_to_json(&sc, &merged);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(strstr(json, "\"job-5-4\""));
    free(json);
    gridems_schedule_free(&merged);
    gridems_schedule_free(&plain);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(nothing_merges_without_equal_ratio_and_window)
{
    /* Two jobs, same window, ratios 2 h and 1 h: merging them would be wrong (the full one
     * needs both steps at full power, the other cannot share). Both programs are the plain one. */
    const char *json =
        "{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,20]},"
        "\"site\":{\"base_load_kw\":[0,0]},\"flexible_loads\":["
        "{\"id\":\"full\",\"energy_kwh\":20,\"power_max_kw\":10},"
        "{\"id\":\"half\",\"energy_kwh\":10,\"power_max_kw\":10},"
        "{\"id\":\"late\",\"energy_kwh\":10,\"power_max_kw\":10,\"earliest_step\":1}]}";
    gridems_scenario_t sc;
    char err[256];
    ck_assert_int_eq(gridems_scenario_parse_json(json, strlen(json), &sc, err, sizeof err), 0);
    gridems_schedule_t merged, plain;
    solve_with(&sc, true, &merged);
    solve_with(&sc, false, &plain);
    ck_assert_int_eq(merged.columns, plain.columns);
    /* 20 kWh at 10 + 20, 10 kWh at 10, 10 kWh at 20: 300 + 100 + 200. */
    ck_assert_msg(fabs(merged.objective - 600.0) <= 1e-9, "%.15g", merged.objective);
    ck_assert_msg(fabs(merged.flex_loads[1].power_kw[0] - 10.0) <= 1e-9, "%g",
                  merged.flex_loads[1].power_kw[0]);
    gridems_schedule_free(&merged);
    gridems_schedule_free(&plain);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(warm_starts_with_merged_groups_equal_cold)
{
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems__optimizer_set_warm_cap(opt, 1000000); /* this is about the carried-over basis */
    gridems_schedule_t s, cold;
    memset(&s, 0, sizeof s);
    char err[256];
    for (int offset = 0; offset < 3; offset++) {
        gridems_scenario_t sc;
        class_site(&sc, 96, 5, 3, offset);
        if (offset > 0) {
            gridems_optimizer_hint_shift(opt, 1);
        }
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        ck_assert_int_eq(s.start_kind, offset == 0 ? GRIDEMS_START_COLD : GRIDEMS_START_SHIFTED);
        solve_with(&sc, true, &cold);
        ck_assert_msg(fabs(s.objective - cold.objective) <= 1e-9 * fabs(cold.objective),
                      "offset %d: %.15g vs %.15g", offset, s.objective, cold.objective);
        assert_loads_feasible(&sc, &s);
        /* A price update in place. */
        for (int t = 0; t < sc.steps; t++) {
            sc.import_per_kwh[t] *= 1.0 + 0.05 * sin(t * 0.37 + offset);
        }
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        ck_assert_int_eq(s.start_kind, GRIDEMS_START_UPDATE);
        gridems_schedule_free(&cold);
        solve_with(&sc, false, &cold);
        ck_assert_msg(fabs(s.objective - cold.objective) <= 1e-9 * fabs(cold.objective),
                      "offset %d, update: %.15g vs plain %.15g", offset, s.objective,
                      cold.objective);
        assert_loads_feasible(&sc, &s);
        gridems_schedule_free(&cold);
        gridems_scenario_free(&sc);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
}
END_TEST

START_TEST(tie_break_follows_the_reference_of_merged_jobs)
{
    gridems_scenario_t sc;
    class_site(&sc, 48, 4, 3, 0);
    gridems_schedule_t plan1, plan2;
    solve_with(&sc, true, &plan1);
    gridems_reference_t ref;
    ck_assert_int_eq(gridems_reference_from_schedule(&ref, &sc, &plan1, 0), 0);
    /* A solver that last solved other prices, updated in place, with plan 1 as the reference:
     * the same optimum, and the jobs' powers of plan 1 (the split is the same proportions). */
    gridems_scenario_t other;
    class_site(&other, 48, 4, 3, 0);
    for (int t = 0; t < other.steps; t++) {
        other.import_per_kwh[t] = 30 - other.import_per_kwh[t];
    }
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    char err[256];
    memset(&plan2, 0, sizeof plan2);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &other, &plan2, err, sizeof err), 0);
    gridems_optimizer_hint_reference(opt, &ref, 0);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(plan2.tie_break, GRIDEMS_TIE_APPLIED);
    ck_assert_msg(fabs(plan2.objective - plan1.objective) <= 1e-9 * fabs(plan1.objective),
                  "%.15g vs %.15g", plan2.objective, plan1.objective);
    double gap = 0.0;
    for (int j = 0; j < sc.n_flex_loads; j++) {
        for (int t = 0; t < sc.steps; t++) {
            gap += fabs(plan2.flex_loads[j].power_kw[t] - plan1.flex_loads[j].power_kw[t]);
        }
    }
    for (int b = 0; b < sc.n_batteries; b++) {
        for (int t = 0; t < sc.steps; t++) {
            gap += fabs(plan2.batteries[b].charge_kw[t] - plan1.batteries[b].charge_kw[t]);
            gap += fabs(plan2.batteries[b].discharge_kw[t] - plan1.batteries[b].discharge_kw[t]);
        }
    }
    ck_assert_msg(gap <= 1e-6, "plan 2 is %g kW away from plan 1", gap);
    assert_loads_feasible(&sc, &plan2);
    gridems_reference_free(&ref);
    gridems_schedule_free(&plan1);
    gridems_schedule_free(&plan2);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
    gridems_scenario_free(&other);
}
END_TEST

#define CAP_FMT                                                                                    \
    "{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,20,30]},"               \
    "\"site\":{\"base_load_kw\":[5,5,5]},\"compute_limit_kw\":%s,\"flexible_loads\":["             \
    "{\"id\":\"a\",\"energy_kwh\":20,\"power_max_kw\":10,\"deadline_step\":2},"                    \
    "{\"id\":\"b\",\"energy_kwh\":15,\"power_max_kw\":10}]}"

#define PEAK_FMT                                                                                   \
    "{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[1,"                        \
    "1]},\"site\":{\"base_load_kw\":[80,%s],\"import_limit_kw\":%s,"                               \
    "\"demand_charge_per_kw\":60,\"peak_so_far_kw\":150}}"

START_TEST(rows_implied_by_bounds_are_left_out)
{
    /* Two 10 kW jobs under a 25 kW compute cap can never reach it: no cap rows. Under 15 kW the
     * cap binds in every step both jobs are open (steps 0 and 1). */

    char json[1024];
    gridems_scenario_t sc;
    gridems_schedule_t s;
    char err[256];
    snprintf(json, sizeof json, CAP_FMT, "25");
    ck_assert_int_eq(gridems_scenario_parse_json(json, strlen(json), &sc, err, sizeof err), 0);
    solve_with(&sc, true, &s);
    ck_assert_int_eq(s.rows, 3 + 2); /* balance per step, one energy row per job */
    /* a: steps 0, 1 (100 + 200); b: 10 at step 0, 5 at step 1 (100 + 100); base load 300. */
    ck_assert_msg(fabs(s.objective - 800.0) <= 1e-9, "%.15g", s.objective);
    gridems_schedule_free(&s);
    gridems_scenario_free(&sc);
    snprintf(json, sizeof json, CAP_FMT, "15");
    ck_assert_int_eq(gridems_scenario_parse_json(json, strlen(json), &sc, err, sizeof err), 0);
    solve_with(&sc, true, &s);
    ck_assert_int_eq(s.rows, 3 + 2 + 2); /* step 2 has only b open: no row there */
    /* a: 10 + 10 (300); b: 5 + 5 + 5 (50 + 100 + 150); base load 300. */
    ck_assert_msg(fabs(s.objective - 900.0) <= 1e-9, "%.15g", s.objective);
    assert_loads_feasible(&sc, &s);
    gridems_schedule_free(&s);
    gridems_scenario_free(&sc);

    /* An import limit of 100 kW under a billing-period peak of 150 kW: P >= g[t] always holds,
     * so no peak rows; the demand charge adds nothing. With a 200 kW limit the rows are there
     * and the 160 kW step sets the peak (60 * 10 kW). */

    snprintf(json, sizeof json, PEAK_FMT, "90", "100");
    ck_assert_int_eq(gridems_scenario_parse_json(json, strlen(json), &sc, err, sizeof err), 0);
    solve_with(&sc, true, &s);
    ck_assert_int_eq(s.rows, 2);
    ck_assert_msg(fabs(s.objective - 170.0) <= 1e-9, "%.15g", s.objective);
    gridems_schedule_free(&s);
    gridems_scenario_free(&sc);
    snprintf(json, sizeof json, PEAK_FMT, "160", "200");
    ck_assert_int_eq(gridems_scenario_parse_json(json, strlen(json), &sc, err, sizeof err), 0);
    solve_with(&sc, true, &s);
    ck_assert_int_eq(s.rows, 4);
    ck_assert_msg(fabs(s.objective - 840.0) <= 1e-9, "%.15g", s.objective);
    ck_assert_msg(fabs(s.peak_import_kw - 160.0) <= 1e-9, "%.15g", s.peak_import_kw);
    gridems_schedule_free(&s);
    gridems_scenario_free(&sc);
}
END_TEST

/* A data center of `jobs` random jobs on 96 quarter hours (the growth benchmark's site, scaled
 * with the jobs): enough flexible columns for sifting and the estimated step prices. */
static void many_jobs_site(gridems_scenario_t *sc, int jobs, int latest_start, unsigned seed)
{
    ck_assert_int_eq(gridems_scenario_init(sc, 96, 15), 0);
    srand(seed);
    double q = jobs / 50.0;
    for (int t = 0; t < 96; t++) {
        double hours = t * 0.25;
        sc->import_per_kwh[t] = 12 + 7 * sin(2 * M_PI * (hours - 9) / 24) + (t % 5) * 0.2;
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = q * (20000 + 2000 * sin(2 * M_PI * (hours - 15) / 24));
        sc->pv_kw[t] = q * fmax(0.0, 3000 * sin(M_PI * (hours - 6) / 12));
    }
    sc->export_limit_kw = q * 1000;
    sc->import_limit_kw = q * 40000;
    sc->demand_charge_per_kw = 60;
    sc->peak_so_far_kw = q * 21000;
    for (int b = 0; b < 4; b++) {
        char id[32];
        snprintf(id, sizeof id, "bess-%d", b);
        double cap = q * (2000 + 1500 * b);
        gridems_battery_t bat = {id,        cap,       cap * 0.5, cap * 0.1, cap * 0.95, cap * 0.5,
                                 cap * 0.5, cap * 0.5, 0.95,      0.95,      0.5 * b};
        ck_assert_int_eq(gridems_scenario_add_battery(sc, &bat), 0);
    }
    for (int j = 0; j < jobs; j++) {
        char id[32];
        snprintf(id, sizeof id, "job-%d", j);
        int earliest = rand() % latest_start;
        int deadline = earliest + 20 + rand() % (96 - earliest - 19);
        double power = 100 + rand() % 1400;
        double fill = 0.2 + 0.7 * (rand() % 1000) / 1000.0;
        gridems_flex_load_t job = {
            id, power * 0.25 * (deadline - earliest) * fill, power, earliest, deadline, NULL};
        ck_assert_int_eq(gridems_scenario_add_flex_load(sc, &job), 0);
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 400.0 * jobs;
}

static int last_rounds;
static bool last_estimated;

static void solve_sifting(const gridems_scenario_t *sc, bool sifting, gridems_schedule_t *s)
{
    gridems_optimizer_opts_t opts = {0, false, false};
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, &opts), 0);
    gridems__optimizer_set_sifting(opt, sifting);
    char err[256] = "";
    memset(s, 0, sizeof *s);
    int rc = gridems_optimizer_solve(opt, sc, s, err, sizeof err);
    ck_assert_msg(rc == 0, "solve failed (%d): %s", rc, err);
    gridems__optimizer_last_sifting(opt, &last_rounds, &last_estimated);
    gridems_optimizer_destroy(opt);
}

START_TEST(sifting_reaches_the_plain_optimum)
{
    /* 250 jobs (about 11,000 flexible columns, past the sifting threshold) and 600 starting in
     * the first six hours (few enough distinct coarse windows for the estimated step prices):
     * the same optimum as the plain simplex, every job feasible. */
    const int sizes[] = {250, 600};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        gridems_scenario_t sc;
        many_jobs_site(&sc, sizes[k], k == 0 ? 58 : 24, 7 + (unsigned)k);
        gridems_schedule_t sifted, plain;
        solve_sifting(&sc, true, &sifted);
        ck_assert_int_gt(last_rounds, 0);
        ck_assert_msg(last_estimated == (sizes[k] == 600), "%d jobs: estimated %d", sizes[k],
                      last_estimated);
        solve_sifting(&sc, false, &plain);
        ck_assert_int_eq(last_rounds, 0);
        ck_assert_msg(fabs(sifted.objective - plain.objective) <= 1e-9 * fabs(plain.objective),
                      "%d jobs: sifting %.15g, plain %.15g", sizes[k], sifted.objective,
                      plain.objective);
        ck_assert_int_eq(sifted.columns, plain.columns);
        assert_loads_feasible(&sc, &sifted);
        gridems_schedule_free(&sifted);
        gridems_schedule_free(&plain);
        gridems_scenario_free(&sc);
    }
}
END_TEST

/* The 250-job site of the sifting tests (into *sc) solved cold by a new optimizer into *s;
 * returns the optimizer (the caller destroys it). */
static gridems_optimizer_t *solved_cold(gridems_scenario_t *sc, gridems_schedule_t *s)
{
    many_jobs_site(sc, 250, 58, 11);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    memset(s, 0, sizeof *s);
    char err[256];
    ck_assert_int_eq(gridems_optimizer_solve(opt, sc, s, err, sizeof err), 0);
    ck_assert_int_eq(s->start_kind, GRIDEMS_START_COLD);
    return opt;
}

/* The sifting tests' price update: every price moved by a few percent. */
static void update_prices(gridems_scenario_t *sc)
{
    for (int t = 0; t < sc->steps; t++) {
        sc->import_per_kwh[t] *= 1.0 + 0.05 * sin(t * 0.37);
    }
}

START_TEST(warm_start_after_a_sifted_cold_start)
{
    /* The basis a sifted cold start leaves is the whole program's: a price update re-solves in
     * place from it to the cold optimum, and a reference is followed. */
    gridems_scenario_t sc;
    gridems_schedule_t s, cold;
    gridems_optimizer_t *opt = solved_cold(&sc, &s);
    char err[256];
    gridems_reference_t ref;
    ck_assert_int_eq(gridems_reference_from_schedule(&ref, &sc, &s, 0), 0);
    update_prices(&sc);
    gridems_optimizer_hint_reference(opt, &ref, 0);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert(s.start_kind == GRIDEMS_START_UPDATE || s.start_kind == GRIDEMS_START_CAPPED);
    gridems__optimizer_last_sifting(opt, &last_rounds, &last_estimated);
    ck_assert_int_gt(last_rounds, 0); /* the warm start sifted too, from the optimal basis */
    ck_assert(s.tie_break != GRIDEMS_TIE_NONE);
    solve_sifting(&sc, false, &cold);
    ck_assert_msg(fabs(s.objective - cold.objective) <= 1e-9 * fabs(cold.objective),
                  "warm %.15g, cold %.15g", s.objective, cold.objective);
    assert_loads_feasible(&sc, &s);
    gridems_reference_free(&ref);
    gridems_schedule_free(&s);
    gridems_schedule_free(&cold);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

/* A sifted cold start, then the price update of warm_start_after_a_sifted_cold_start with the
 * given warm cap (0: the optimizer's own); *cold_iterations (may be NULL): the cold start's. */
static void sifted_price_update(int warm_cap, gridems_schedule_t *s, int *cold_iterations)
{
    gridems_scenario_t sc;
    gridems_optimizer_t *opt = solved_cold(&sc, s);
    if (cold_iterations != NULL) {
        *cold_iterations = s->iterations;
    }
    gridems_schedule_free(s);
    update_prices(&sc);
    char err[256];
    gridems__optimizer_set_warm_cap(opt, warm_cap);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, s, err, sizeof err), 0);
    gridems__optimizer_last_sifting(opt, &last_rounds, &last_estimated);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}

START_TEST(warm_cap_bounds_all_sifting_rounds_together)
{
    /* The cap is on the whole warm solve, not on each restricted round: one iteration under what
     * the uncapped update took (over several rounds) is a capped start, solved cold to the same
     * optimum. */
    gridems_schedule_t free_run, capped;
    sifted_price_update(1000000, &free_run, NULL);
    ck_assert_int_eq(free_run.start_kind, GRIDEMS_START_UPDATE);
    ck_assert_msg(last_rounds >= 2, "the update took %d round(s): nothing to bound together",
                  last_rounds);
    ck_assert_int_gt(free_run.iterations, 1);
    sifted_price_update(free_run.iterations - 1, &capped, NULL);
    ck_assert_int_eq(capped.start_kind, GRIDEMS_START_CAPPED);
    ck_assert_msg(fabs(capped.objective - free_run.objective) <= 1e-9 * fabs(free_run.objective),
                  "capped %.15g, uncapped %.15g", capped.objective, free_run.objective);
    gridems_schedule_free(&free_run);
    gridems_schedule_free(&capped);
}
END_TEST

START_TEST(sifted_warm_cap_is_one_and_a_half_cold_solves)
{
    /* A sifted warm start's iterations cost about two thirds of a cold solve's, so its cap is
     * one and a half cold solves' iterations (the plain simplex's is half, test_optimizer
     * warm_start_past_its_cap_solves_cold): the price update of the tests above (which reaches
     * the cold optimum, warm_start_after_a_sifted_cold_start) stays an update under it. */
    gridems_schedule_t s;
    int cold_iterations = 0;
    sifted_price_update(0, &s, &cold_iterations);
    ck_assert_int_gt(last_rounds, 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_UPDATE);
    ck_assert_int_eq(s.iteration_cap, (int)(cold_iterations * 1.5));
    ck_assert_int_le(s.iterations, s.iteration_cap);
    gridems_schedule_free(&s);
}
END_TEST

/* The horizon one step on: every series rotated by one step, every window one step earlier. */
static void shift_one_step(gridems_scenario_t *sc)
{
    double *series[] = {sc->import_per_kwh, sc->export_per_kwh, sc->base_load_kw, sc->pv_kw};
    int T = sc->steps;
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        double first = series[k][0];
        memmove(series[k], series[k] + 1, (size_t)(T - 1) * sizeof(double));
        series[k][T - 1] = first;
    }
    for (int j = 0; j < sc->n_flex_loads; j++) {
        gridems_flex_load_t *l = &sc->flex_loads[j];
        l->earliest_step -= l->earliest_step > 0;
        l->deadline_step -= l->deadline_step > l->earliest_step + 1;
    }
}

START_TEST(shifted_start_sifts)
{
    /* A basis carried over a step holds no duals, but sifting needs none to start: every
     * non-basic flexible column is held where the carried basis has it. The shifted start sifts
     * and reaches the plain cold optimum of the shifted scenario. */
    gridems_scenario_t sc;
    gridems_schedule_t s, cold;
    gridems_optimizer_t *opt = solved_cold(&sc, &s);
    char err[256];
    for (int k = 0; k < 2; k++) {
        shift_one_step(&sc);
        gridems_optimizer_hint_shift(opt, 1);
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        ck_assert_int_eq(s.start_kind, GRIDEMS_START_SHIFTED);
        gridems__optimizer_last_sifting(opt, &last_rounds, &last_estimated);
        ck_assert_int_gt(last_rounds, 0);
        solve_sifting(&sc, false, &cold);
        ck_assert_msg(fabs(s.objective - cold.objective) <= 1e-9 * fabs(cold.objective),
                      "shift %d: warm %.15g, cold %.15g", k + 1, s.objective, cold.objective);
        assert_loads_feasible(&sc, &s);
        gridems_schedule_free(&cold);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

static Suite *reductions_suite(void)
{
    Suite *s = suite_create("optimizer_reductions");
    TCase *tc = tcase_create("merge");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, merged_classes_match_the_plain_program);
    tcase_add_test(tc, nothing_merges_without_equal_ratio_and_window);
    tcase_add_test(tc, warm_starts_with_merged_groups_equal_cold);
    tcase_add_test(tc, tie_break_follows_the_reference_of_merged_jobs);
    tcase_add_test(tc, rows_implied_by_bounds_are_left_out);
    suite_add_tcase(s, tc);
    TCase *sift = tcase_create("sifting");
    tcase_set_timeout(sift, 300);
    tcase_add_test(sift, sifting_reaches_the_plain_optimum);
    tcase_add_test(sift, warm_start_after_a_sifted_cold_start);
    tcase_add_test(sift, warm_cap_bounds_all_sifting_rounds_together);
    tcase_add_test(sift, sifted_warm_cap_is_one_and_a_half_cold_solves);
    tcase_add_test(sift, shifted_start_sifts);
    suite_add_tcase(s, sift);
    return s;
}

int main(void)
{
    return test_run_suite(reductions_suite());
}
