/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The optimizer on hand-solvable scenarios, one per constraint family of docs/optimizer.md, each
 * asserting the optimal objective (worked out in the comment) and the decisive schedule values;
 * then warm re-solves against cold ones, the warm start's iteration cap, recovery from a GLPK
 * error, and the tie-break toward a reference plan.
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

#define EPS 1e-6

typedef struct solved_s {
    gridems_scenario_t sc;
    gridems_schedule_t s;
} solved_t;

static void parse(const char *json, gridems_scenario_t *sc)
{
    char err[512] = "";
    int rc = gridems_scenario_parse_json(json, strlen(json), sc, err, sizeof err);
    ck_assert_msg(rc == 0, "scenario rejected: %s", err);
}

static void solve_text(const char *json, solved_t *out)
{
    memset(out, 0, sizeof *out);
    parse(json, &out->sc);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    char err[512] = "";
    int rc = gridems_optimizer_solve(opt, &out->sc, &out->s, err, sizeof err);
    ck_assert_msg(rc == 0, "solve failed (%d): %s", rc, err);
    gridems_optimizer_destroy(opt);
}

static void release(solved_t *r)
{
    gridems_schedule_free(&r->s);
    gridems_scenario_free(&r->sc);
}

#define ASSERT_NEAR(a, b)                                                                          \
    ck_assert_msg(fabs((a) - (b)) <= EPS * fmax(1.0, fabs(b)), "%s = %.12g, want %.12g", #a,       \
                  (double)(a), (double)(b))

/* ---- ## One case per constraint family ---- */

START_TEST(two_step_arbitrage_with_losses)
{
    /* Charge 100 kW at 10 (stores 90 kWh), discharge 0.9 * 90 = 81 kW at 30: the grid buys
     * 100 at 10 and 19 at 30: 1000 + 570 = 1570 (3000 without the battery). */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,30]},"
               "\"site\":{\"base_load_kw\":[0,100]},\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":100,\"soc_kwh\":0,\"charge_max_kw\":100,\"discharge_max_kw\":100,"
               "\"charge_efficiency\":0.9,\"discharge_efficiency\":0.9}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 1570.0);
    ASSERT_NEAR(r.s.batteries[0].charge_kw[0], 100.0);
    ASSERT_NEAR(r.s.batteries[0].soc_kwh[1], 90.0);
    ASSERT_NEAR(r.s.batteries[0].discharge_kw[1], 81.0);
    ASSERT_NEAR(r.s.grid_import_kw[1], 19.0);
    ASSERT_NEAR(r.s.cost_energy, 1570.0);
    /* One more kWh at step 1 is bought at 30; at step 0 at 10. */
    ASSERT_NEAR(r.s.marginal_price_per_kwh[0], 10.0);
    ASSERT_NEAR(r.s.marginal_price_per_kwh[1], 30.0);
    release(&r);
}
END_TEST

/* The demand-charge case; %s is where peak_so_far_kw goes. */
#define DEMAND_CASE                                                                                \
    "{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10]},"                  \
    "\"site\":{\"base_load_kw\":[100,100],\"demand_charge_per_kw\":5%s},"                          \
    "\"batteries\":[{\"id\":\"b\",\"capacity_kwh\":50,\"soc_kwh\":50,\"final_soc_min_kwh\":0,"     \
    "\"charge_max_kw\":50,\"discharge_max_kw\":50}]}"

START_TEST(demand_charge_without_history)
{
    /* Energy costs the same whenever the battery's 50 kWh go out, so it halves them to flatten
     * the peak: import 75 and 75, 10 * 150 + 5 * 75 = 1875. */
    char json[1024];
    snprintf(json, sizeof json, DEMAND_CASE, "");
    solved_t r;
    solve_text(json, &r);
    ASSERT_NEAR(r.s.objective, 1875.0);
    ASSERT_NEAR(r.s.grid_import_kw[0], 75.0);
    ASSERT_NEAR(r.s.grid_import_kw[1], 75.0);
    ASSERT_NEAR(r.s.peak_import_kw, 75.0);
    ASSERT_NEAR(r.s.cost_demand, 375.0);
    release(&r);
}
END_TEST

START_TEST(demand_charge_with_peak_so_far)
{
    /* The billing period already peaked at 90 kW: any import up to 90 costs no demand charge,
     * so only the 1500 of energy remains, and the reported peak is the old one. */
    char json[1024];
    snprintf(json, sizeof json, DEMAND_CASE, ",\"peak_so_far_kw\":90");
    solved_t r;
    solve_text(json, &r);
    ASSERT_NEAR(r.s.objective, 1500.0);
    ASSERT_NEAR(r.s.cost_demand, 0.0);
    ASSERT_NEAR(r.s.peak_import_kw, 90.0);
    ck_assert(r.s.grid_import_kw[0] <= 90.0 + EPS && r.s.grid_import_kw[1] <= 90.0 + EPS);
    release(&r);
}
END_TEST

START_TEST(dr_event_caps_import)
{
    /* The event caps step 1 at 60 kW: the battery must cover 40 there. Energy: 10 * 150. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10]},"
               "\"site\":{\"base_load_kw\":[100,100]},\"events\":[{\"start_step\":1,"
               "\"end_step\":2,\"import_limit_kw\":60}],\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":50,\"soc_kwh\":50,\"final_soc_min_kwh\":0,"
               "\"charge_max_kw\":50,\"discharge_max_kw\":50}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 1500.0);
    ck_assert(r.s.grid_import_kw[1] <= 60.0 + EPS);
    ck_assert(r.s.batteries[0].discharge_kw[1] >= 40.0 - EPS);
    release(&r);
    /* Without storage the 40 kW are not served: 10 * 160 + 10000 * 40. */
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10]},"
               "\"site\":{\"base_load_kw\":[100,100]},\"events\":[{\"start_step\":1,"
               "\"end_step\":2,\"import_limit_kw\":60}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 401600.0);
    ASSERT_NEAR(r.s.unserved_kw[1], 40.0);
    ASSERT_NEAR(r.s.cost_penalty, 400000.0);
    release(&r);
}
END_TEST

START_TEST(pv_curtailed_under_negative_export_price)
{
    /* 200 kW of surplus PV: exporting it costs 3 per kWh, curtailing it costs nothing. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10],"
               "\"export_per_kwh\":[-3]},\"site\":{\"base_load_kw\":[100],\"pv_kw\":[300],"
               "\"export_limit_kw\":150}}",
               &r);
    ASSERT_NEAR(r.s.objective, 0.0);
    ASSERT_NEAR(r.s.pv_curtailed_kw[0], 200.0);
    ASSERT_NEAR(r.s.grid_export_kw[0], 0.0);
    release(&r);
}
END_TEST

START_TEST(export_limit_binds)
{
    /* 200 kW of surplus at an export price of 5, but only 150 may leave: -750, 50 curtailed. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10],"
               "\"export_per_kwh\":[5]},\"site\":{\"base_load_kw\":[100],\"pv_kw\":[300],"
               "\"export_limit_kw\":150}}",
               &r);
    ASSERT_NEAR(r.s.objective, -750.0);
    ASSERT_NEAR(r.s.grid_export_kw[0], 150.0);
    ASSERT_NEAR(r.s.pv_curtailed_kw[0], 50.0);
    ASSERT_NEAR(r.s.cost_export, 750.0);
    release(&r);
}
END_TEST

START_TEST(battery_outside_band_stays_or_returns)
{
    /* Above its band (95 > 80): a negative price pays for charging, but it may not go above
     * 95, and it may stay there. Final target = 95 clamped to 80, met. Objective 0. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[-10,-10]},"
               "\"site\":{\"base_load_kw\":[0,0]},\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":100,\"soc_kwh\":95,\"soc_max_kwh\":80,\"charge_max_kw\":50,"
               "\"discharge_max_kw\":50}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 0.0);
    ASSERT_NEAR(r.s.batteries[0].soc_kwh[1], 95.0);
    ASSERT_NEAR(r.s.batteries[0].soc_kwh[2], 95.0);
    ASSERT_NEAR(r.s.batteries[0].charge_kw[0], 0.0);
    release(&r);
    /* Below its band (5 < 10): it may not discharge below 5, and its final target is 10, so it
     * buys 5 kWh on top of the 10 kW load: 10 * 15 = 150. */
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10]},"
               "\"site\":{\"base_load_kw\":[10]},\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":100,\"soc_kwh\":5,\"soc_min_kwh\":10,\"charge_max_kw\":50,"
               "\"discharge_max_kw\":50}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 150.0);
    ASSERT_NEAR(r.s.batteries[0].soc_kwh[1], 10.0);
    release(&r);
}
END_TEST

START_TEST(final_energy_shortfall)
{
    /* 10 kW for 2 h reaches 20 of the 50 kWh asked: 200 of energy + 1000 * 30 shortfall. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10]},"
               "\"site\":{\"base_load_kw\":[0,0]},\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":100,\"soc_kwh\":0,\"final_soc_min_kwh\":50,\"charge_max_kw\":10,"
               "\"discharge_max_kw\":10}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 30200.0);
    ASSERT_NEAR(r.s.batteries[0].soc_kwh[2], 20.0);
    ASSERT_NEAR(r.s.cost_penalty, 30000.0);
    release(&r);
}
END_TEST

START_TEST(flexible_load_window_and_unmet)
{
    /* 30 kWh at up to 10 kW, only in steps 1 and 2 (prices 10 and 20): 20 kWh fit, 10 unmet.
     * The cheapest step (3, price 5) is past the deadline. 100 + 200 + 1000 * 10 = 10300. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[50,10,20,5]},"
               "\"site\":{\"base_load_kw\":[0,0,0,0]},\"flexible_loads\":[{\"id\":\"job\","
               "\"energy_kwh\":30,\"power_max_kw\":10,\"earliest_step\":1,\"deadline_step\":3}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 10300.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[0], 0.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[1], 10.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[2], 10.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[3], 0.0);
    ASSERT_NEAR(r.s.flex_loads[0].unmet_kwh, 10.0);
    /* Lean: no power column outside the window (z per step, p in 2 steps, u). */
    ck_assert_int_eq(r.s.columns, 4 + 4 + 2 + 1);
    release(&r);
    /* With room, it all runs in the cheap half of its window at 30 min steps. */
    solve_text("{\"version\":1,\"step_minutes\":30,\"prices\":{\"import_per_kwh\":[50,10,20,5]},"
               "\"site\":{\"base_load_kw\":[0,0,0,0]},\"flexible_loads\":[{\"id\":\"job\","
               "\"energy_kwh\":5,\"power_max_kw\":10}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 25.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[3], 10.0);
    ASSERT_NEAR(r.s.flex_loads[0].unmet_kwh, 0.0);
    release(&r);
}
END_TEST

START_TEST(compute_cap_spreads_jobs)
{
    /* Two jobs of 20 kWh want the cheap step 0, but only 25 kW of compute fit there. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,20]},"
               "\"site\":{\"base_load_kw\":[0,0]},\"compute_limit_kw\":25,\"flexible_loads\":["
               "{\"id\":\"a\",\"energy_kwh\":20,\"power_max_kw\":20},"
               "{\"id\":\"b\",\"energy_kwh\":20,\"power_max_kw\":20}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 550.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[0] + r.s.flex_loads[1].power_kw[0], 25.0);
    ASSERT_NEAR(r.s.grid_import_kw[1], 15.0);
    release(&r);
}
END_TEST

START_TEST(carbon_price_shifts_load)
{
    /* Equal energy prices; the carbon price (10 per kg) makes step 0 cost 11 and step 1 15. */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10]},"
               "\"carbon\":{\"intensity_kg_per_kwh\":[0.1,0.5],\"price_per_kg\":10},"
               "\"site\":{\"base_load_kw\":[0,0]},\"flexible_loads\":[{\"id\":\"job\","
               "\"energy_kwh\":10,\"power_max_kw\":10}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 110.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[0], 10.0);
    ASSERT_NEAR(r.s.emissions_kg, 1.0);
    ASSERT_NEAR(r.s.cost_carbon, 10.0);
    ASSERT_NEAR(r.s.marginal_price_per_kwh[1], 15.0);
    release(&r);
}
END_TEST

START_TEST(schedule_json_round_trips)
{
    solved_t r;
    solve_text("{\"version\":1,\"start\":\"2026-05-11T00:00:00+09:00\",\"step_minutes\":60,"
               "\"prices\":{\"import_per_kwh\":[10.1,30.3]},"
               "\"site\":{\"base_load_kw\":[0,100]},\"batteries\":[{\"id\":\"b\","
               "\"capacity_kwh\":100,\"soc_kwh\":0,\"charge_max_kw\":100,\"discharge_max_kw\":100,"
               "\"charge_efficiency\":0.93,\"discharge_efficiency\":0.97}]}",
               &r);
    char *text = gridems_schedule_to_json(&r.sc, &r.s);
    ck_assert_ptr_nonnull(text);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "status")->valuestring, "optimal");
    ck_assert_str_eq(cJSON_GetObjectItem(root, "start")->valuestring, "2026-05-11T00:00:00+09:00");
    /* Bit-exact doubles after printing and parsing again. */
    ck_assert(cJSON_GetObjectItem(root, "objective")->valuedouble == r.s.objective);
    cJSON *bats = cJSON_GetObjectItem(root, "batteries");
    cJSON *soc = cJSON_GetObjectItem(cJSON_GetArrayItem(bats, 0), "soc_kwh");
    ck_assert_int_eq(cJSON_GetArraySize(soc), 3);
    ck_assert(cJSON_GetArrayItem(soc, 1)->valuedouble == r.s.batteries[0].soc_kwh[1]);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "marginal_price_per_kwh")), 2);
    cJSON_Delete(root);
    free(text);
    release(&r);
}
END_TEST

/* ---- ## Warm starts ---- */

/* A mid-sized scenario with everything in it, from a seed, so cold and warm can be compared. */
START_TEST(cluster_caps_hold_each_clusters_jobs)
{
    /* Both jobs want the cheap step 0; cluster A's cap of 15 kW sends 5 kWh of job a to the
     * dear step (15 * 10 + 20 * 10 + 5 * 20 = 450; 400 without clusters). */
    solved_t r;
    solve_text("{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,20]},"
               "\"site\":{\"base_load_kw\":[0,0]},\"clusters\":["
               "{\"id\":\"A\",\"compute_limit_kw\":15},{\"id\":\"B\",\"compute_limit_kw\":30}],"
               "\"flexible_loads\":["
               "{\"id\":\"a\",\"energy_kwh\":20,\"power_max_kw\":20,\"cluster\":\"A\"},"
               "{\"id\":\"b\",\"energy_kwh\":20,\"power_max_kw\":20,\"cluster\":\"B\"}]}",
               &r);
    ASSERT_NEAR(r.s.objective, 450.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[0], 15.0);
    ASSERT_NEAR(r.s.flex_loads[0].power_kw[1], 5.0);
    ASSERT_NEAR(r.s.flex_loads[1].power_kw[0], 20.0);
    release(&r);
}
END_TEST

static void synthetic(gridems_scenario_t *sc, int steps, int offset, unsigned seed)
{
    ck_assert_int_eq(gridems_scenario_init(sc, steps, 15), 0);
    srand(seed);
    for (int t = 0; t < steps; t++) {
        int at = t + offset;
        sc->import_per_kwh[t] = 12 + 8 * sin(at * 0.26) + (at % 7) * 0.3;
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = 4000 + 500 * cos(at * 0.13);
        sc->pv_kw[t] = (at % 96 > 30 && at % 96 < 70) ? 800 * sin((at % 96 - 30) * 0.0785) : 0;
    }
    sc->export_limit_kw = 500;
    sc->demand_charge_per_kw = 300;
    sc->peak_so_far_kw = 3500;
    sc->import_limit_kw = 6000;
    for (int b = 0; b < 3; b++) {
        char id[16];
        snprintf(id, sizeof id, "bess-%d", b);
        gridems_battery_t bat = {id, 2000, 1000, 200, 1900, 1000, 500, 500, 0.95, 0.95, 0.5};
        ck_assert_int_eq(gridems_scenario_add_battery(sc, &bat), 0);
    }
    for (int j = 0; j < 12; j++) {
        char id[16];
        snprintf(id, sizeof id, "job-%d", j);
        int earliest = (j * 5) % (steps / 2);
        gridems_flex_load_t job = {id, 150 + 20 * j, 300, earliest, steps - (j % 3), NULL};
        ck_assert_int_eq(gridems_scenario_add_flex_load(sc, &job), 0);
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 2000;
}

static double solve_cold(const gridems_scenario_t *sc, int *iterations)
{
    gridems_optimizer_opts_t opts = {0, false, false};
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, &opts), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    ck_assert_int_eq(gridems_optimizer_solve(opt, sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_COLD);
    double obj = s.objective;
    *iterations = s.iterations;
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    return obj;
}

START_TEST(warm_after_price_update_equals_cold)
{
    gridems_scenario_t sc;
    synthetic(&sc, 96, 0, 1);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_COLD);
    /* New prices for the second half of the day, in place. */
    for (int t = 48; t < 96; t++) {
        sc.import_per_kwh[t] *= 1.3;
    }
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_UPDATE);
    int warm_iterations = s.iterations;
    double warm = s.objective;
    int cold_iterations = 0;
    double cold = solve_cold(&sc, &cold_iterations);
    ck_assert_msg(fabs(warm - cold) <= 1e-9 * fabs(cold), "warm %.12g cold %.12g", warm, cold);
    ck_assert_msg(warm_iterations < cold_iterations, "warm %d iterations, cold %d", warm_iterations,
                  cold_iterations);
    /* A right-hand side change only (new initial energy) goes through the same path. */
    sc.batteries[0].soc_kwh = 1500;
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_UPDATE);
    cold = solve_cold(&sc, &cold_iterations);
    ck_assert_msg(fabs(s.objective - cold) <= 1e-9 * fabs(cold), "warm %.12g cold %.12g",
                  s.objective, cold);
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(warm_after_shift_equals_cold)
{
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    for (int offset = 0; offset < 4; offset++) {
        gridems_scenario_t sc;
        synthetic(&sc, 96, offset, 1);
        if (offset > 0) {
            gridems_optimizer_hint_shift(opt, 1);
        }
        /* Uncapped: this is about the carried-over basis. (Here the shifted warm starts take
         * 113-219 iterations against 303 cold, past the cap of half a cold solve.) */
        gridems__optimizer_set_warm_cap(opt, 1000000);
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        if (offset > 0) {
            ck_assert(s.start_kind == GRIDEMS_START_SHIFTED ||
                      s.start_kind == GRIDEMS_START_UPDATE);
        }
        int cold_iterations = 0;
        double cold = solve_cold(&sc, &cold_iterations);
        ck_assert_msg(fabs(s.objective - cold) <= 1e-9 * fabs(cold), "offset %d: %.12g vs %.12g",
                      offset, s.objective, cold);
        gridems_scenario_free(&sc);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
}
END_TEST

/* The synthetic site with its jobs split over two clusters whose caps bind. */
static void clustered(gridems_scenario_t *sc, int offset, double cap_b)
{
    synthetic(sc, 96, offset, 1);
    gridems_cluster_t a = {"gpu-a", 350}, b = {"gpu-b", cap_b};
    ck_assert_int_eq(gridems_scenario_add_cluster(sc, &a), 0);
    ck_assert_int_eq(gridems_scenario_add_cluster(sc, &b), 0);
    for (int j = 0; j < sc->n_flex_loads; j++) {
        if (j % 3 != 2) { /* every third job in no cluster */
            ck_assert_int_eq(gridems_scenario_set_text(&sc->flex_loads[j].cluster,
                                                       j % 3 == 0 ? "gpu-a" : "gpu-b"),
                             0);
        }
    }
}

START_TEST(warm_with_clusters_equals_cold)
{
    /* Price updates, a cluster's new cap (in place) and shifts of the horizon (the cap rows
     * carried over by the clusters' ids), each to the cold objective of the same scenario. */
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems__optimizer_set_warm_cap(opt, 1000000);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    const double caps_b[] = {400, 400, 320, 320, 320};
    const int offsets[] = {0, 0, 0, 1, 2};
    for (int k = 0; k < 5; k++) {
        gridems_scenario_t sc;
        clustered(&sc, offsets[k], caps_b[k]);
        if (k == 1) {
            for (int t = 48; t < 96; t++) {
                sc.import_per_kwh[t] *= 1.3;
            }
        }
        if (offsets[k] > 0) {
            gridems_optimizer_hint_shift(opt, 1);
        }
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        /* Warm after the first (a lower cap may add cap rows: then rebuilt, basis carried). */
        ck_assert_msg(k == 0 ? s.start_kind == GRIDEMS_START_COLD
                             : s.start_kind == GRIDEMS_START_UPDATE ||
                                   s.start_kind == GRIDEMS_START_SHIFTED,
                      "solve %d started %d", k, (int)s.start_kind);
        int cold_iterations = 0;
        double cold = solve_cold(&sc, &cold_iterations);
        ck_assert_msg(fabs(s.objective - cold) <= 1e-9 * fabs(cold), "solve %d: %.12g vs %.12g", k,
                      s.objective, cold);
        /* Each cluster's cap holds in the schedule. */
        for (int t = 0; t < sc.steps; t++) {
            double used[2] = {0, 0};
            for (int j = 0; j < sc.n_flex_loads; j++) {
                if (j % 3 != 2) {
                    used[j % 3] += s.flex_loads[j].power_kw[t];
                }
            }
            ck_assert_msg(used[0] <= 350 * (1 + 1e-9) && used[1] <= caps_b[k] * (1 + 1e-9),
                          "solve %d step %d: clusters run %.6f and %.6f kW", k, t, used[0],
                          used[1]);
        }
        gridems_scenario_free(&sc);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
}
END_TEST

START_TEST(glpk_error_is_caught_and_recovered)
{
    gridems_scenario_t sc;
    synthetic(&sc, 48, 0, 2);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    double before = s.objective;
    gridems__optimizer_inject_fault(opt);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), GRIDEMS_ESOLVER);
    ck_assert_ptr_null(s.grid_import_kw); /* nothing partial is handed out */
    ck_assert_msg(strstr(err, "GLPK") != NULL, "%s", err);
    /* The process is alive and the next solve rebuilds from scratch. */
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_COLD);
    ck_assert(fabs(s.objective - before) <= 1e-9 * fabs(before));
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(invalid_scenario_never_reaches_glpk)
{
    gridems_scenario_t sc;
    synthetic(&sc, 8, 0, 3);
    sc.batteries[1].charge_efficiency = 1.7;
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256] = "";
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "batteries[1].charge_efficiency") != NULL, "%s", err);
    sc.batteries[1].charge_efficiency = 0.9;
    sc.base_load_kw[3] = NAN;
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "site.base_load_kw[3]") != NULL, "%s", err);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(warm_start_past_its_cap_solves_cold)
{
    /* A warm start far from the new optimum (the day's prices and loads rotated by ten hours,
     * a load that swings 1500 kW every other step, no peak so far) would take many iterations;
     * capped at 5, it is abandoned and solved cold from the crash basis, to the same objective
     * as a cold solve. */
    gridems_scenario_t sc;
    synthetic(&sc, 96, 0, 1);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_COLD);
    ck_assert_int_eq(s.iteration_cap, 0);
    int cold_first = s.iterations;
    double prices[96], loads[96];
    for (int t = 0; t < 96; t++) {
        prices[t] = sc.import_per_kwh[(t + 40) % 96];
        loads[t] = sc.base_load_kw[(t + 40) % 96] + 1500.0 * (t % 2);
    }
    memcpy(sc.import_per_kwh, prices, sizeof prices);
    memcpy(sc.base_load_kw, loads, sizeof loads);
    sc.peak_so_far_kw = 0;
    gridems__optimizer_set_warm_cap(opt, 5);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_CAPPED);
    ck_assert_int_eq(s.iteration_cap, 5);
    int cold_iterations = 0;
    double cold = solve_cold(&sc, &cold_iterations);
    ck_assert_msg(fabs(s.objective - cold) <= 1e-9 * fabs(cold), "capped %.12g cold %.12g",
                  s.objective, cold);
    /* The 5 warm iterations plus the cold solve's, no more. */
    ck_assert_int_eq(s.iterations, 5 + cold_iterations);
    /* Without the override the cap is half the last cold solve's iterations. */
    gridems__optimizer_set_warm_cap(opt, 0);
    sc.import_per_kwh[10] += 0.5;
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.start_kind, GRIDEMS_START_UPDATE);
    ck_assert_int_eq(s.iteration_cap, cold_iterations / 2 < 200 ? 200 : cold_iterations / 2);
    ck_assert(cold_first > 0);
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

/* ---- ## A basis kept across restarts ---- */

/* Solve sc cold on a new optimizer and keep its basis as text (start_ms 1e12). */
static char *solved_basis(const gridems_scenario_t *sc, int *cold_iterations)
{
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    char *text = NULL;
    ck_assert_int_eq(gridems_optimizer_basis_save(opt, sc, 0, &text, NULL), GRIDEMS_ESTATE);
    ck_assert_int_eq(gridems_optimizer_solve(opt, sc, &s, err, sizeof err), 0);
    *cold_iterations = s.iterations;
    size_t len = 0;
    ck_assert_int_eq(gridems_optimizer_basis_save(opt, sc, 1000000000000, &text, &len), 0);
    ck_assert_uint_eq(len, strlen(text));
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    return text;
}

START_TEST(restored_basis_starts_warm)
{
    /* A restart: a new optimizer takes the saved basis, and its first solve of the same horizon
     * starts from it (a handful of iterations, not a cold solve's), to the same objective; one
     * step later, it is carried over by the shift, to the cold objective of that horizon. */
    gridems_scenario_t sc;
    synthetic(&sc, 96, 0, 1);
    int cold_iterations = 0;
    char *text = solved_basis(&sc, &cold_iterations);
    for (int offset = 0; offset < 2; offset++) {
        gridems_optimizer_t *opt = NULL;
        ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
        int64_t start_ms = 0;
        char err[256] = "";
        ck_assert_int_eq(
            gridems_optimizer_basis_restore(opt, text, strlen(text), &start_ms, err, sizeof err),
            0);
        ck_assert(start_ms == 1000000000000);
        gridems_scenario_t now;
        synthetic(&now, 96, offset, 1);
        gridems_optimizer_hint_shift(opt, offset);
        gridems__optimizer_set_warm_cap(opt, 1000000);
        gridems_schedule_t s;
        memset(&s, 0, sizeof s);
        ck_assert_int_eq(gridems_optimizer_solve(opt, &now, &s, err, sizeof err), 0);
        ck_assert_int_eq(s.start_kind, GRIDEMS_START_SHIFTED);
        int cold_now = 0;
        double cold = solve_cold(&now, &cold_now);
        ck_assert_msg(fabs(s.objective - cold) <= 1e-9 * fabs(cold), "offset %d: %.12g vs %.12g",
                      offset, s.objective, cold);
        if (offset == 0) {
            ck_assert_msg(s.iterations * 10 < cold_iterations, "restored %d, cold %d iterations",
                          s.iterations, cold_iterations);
        }
        gridems_schedule_free(&s);
        gridems_scenario_free(&now);
        gridems_optimizer_destroy(opt);
    }
    free(text);
    gridems_scenario_free(&sc);
}
END_TEST

/* Replace the first occurrence of what in text by with (same length or shorter). */
static char *edited(const char *text, const char *what, const char *with)
{
    const char *at = strstr(text, what);
    ck_assert_ptr_nonnull(at);
    size_t n = strlen(text) + strlen(with) + 1;
    char *out = malloc(n);
    ck_assert_ptr_nonnull(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, with, at + strlen(what));
    return out;
}

START_TEST(unusable_basis_is_refused_with_reason)
{
    gridems_scenario_t sc;
    synthetic(&sc, 48, 0, 2);
    int cold_iterations = 0;
    char *text = solved_basis(&sc, &cold_iterations);
    struct {
        char *text;
        int rc;
        const char *says;
    } cases[] = {
        {strdup("{\"format\":"), GRIDEMS_EPARSE, "not JSON"},
        {strdup("[1]"), GRIDEMS_EINVAL, "not a JSON object"},
        {edited(text, "\"version\":1", "\"version\":2"), GRIDEMS_EINVAL, "\"version\" 2"},
        {edited(text, "gridems-basis", "other-basis"), GRIDEMS_EINVAL, "\"format\""},
        {edited(text, "\"rows\":\"", "\"rows\":\"X"), GRIDEMS_EINVAL, "\"rows\"[0] is 'X'"},
        {edited(text, "\"columns\":\"", "\"columns\":\"B"), GRIDEMS_EINVAL, "do not fit"},
        {edited(text, "\"start_ms\":", "\"start_ms\":0.5,\"x\":"), GRIDEMS_EINVAL, "\"start_ms\""},
        {edited(text, "\"step_minutes\":", "\"step_minutes\":-1,\"x\":"), GRIDEMS_EINVAL,
         "\"scenario\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gridems_optimizer_t *opt = NULL;
        ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
        int64_t start_ms = 0;
        char err[256] = "";
        int rc = gridems_optimizer_basis_restore(opt, cases[i].text, strlen(cases[i].text),
                                                 &start_ms, err, sizeof err);
        ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d, %s", i, rc, err);
        ck_assert_msg(strstr(err, cases[i].says) != NULL, "case %zu: \"%s\"", i, err);
        /* The next solve is cold and right. */
        gridems_schedule_t s;
        memset(&s, 0, sizeof s);
        ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
        ck_assert_int_eq(s.start_kind, GRIDEMS_START_COLD);
        ck_assert_int_eq(s.iterations, cold_iterations);
        gridems_schedule_free(&s);
        gridems_optimizer_destroy(opt);
        free(cases[i].text);
    }
    /* A basis whose letters do not form a basis (one basic status swapped for a bound) is
     * refused for its count, before GLPK sees it. */
    char *b = strchr(strstr(text, "\"rows\":\""), 'B');
    if (b != NULL) {
        *b = 'L';
        gridems_optimizer_t *opt = NULL;
        ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
        int64_t start_ms = 0;
        char err[256] = "";
        ck_assert_int_eq(
            gridems_optimizer_basis_restore(opt, text, strlen(text), &start_ms, err, sizeof err),
            GRIDEMS_EINVAL);
        ck_assert_msg(strstr(err, "not one per row") != NULL, "%s", err);
        gridems_optimizer_destroy(opt);
    }
    free(text);
    gridems_scenario_free(&sc);
}
END_TEST

/* ---- ## Tie-break toward a reference plan ---- */

/*
 * Many optima: two identical lossless batteries, two cheap hours then two dear ones. Any way of
 * buying the 400 kWh the batteries carry in the cheap hours and discharging them in the dear
 * ones costs the same: 10 * 400 + 30 * (400 - 400) = 4000 (no cycle cost, no losses).
 */
#define TIES_CASE                                                                                  \
    "{\"version\":1,\"step_minutes\":60,\"prices\":{\"import_per_kwh\":[10,10,%s,30]},"            \
    "\"site\":{\"base_load_kw\":[0,0,200,200]},\"batteries\":["                                    \
    "{\"id\":\"a\",\"capacity_kwh\":200,\"soc_kwh\":0,\"final_soc_min_kwh\":0,"                    \
    "\"charge_max_kw\":150,\"discharge_max_kw\":150},"                                             \
    "{\"id\":\"b\",\"capacity_kwh\":200,\"soc_kwh\":0,\"final_soc_min_kwh\":0,"                    \
    "\"charge_max_kw\":150,\"discharge_max_kw\":150}]}"

static void ties_scenario(gridems_scenario_t *sc, const char *price2)
{
    char json[1024];
    snprintf(json, sizeof json, TIES_CASE, price2);
    parse(json, sc);
}

/* The largest difference between two schedules' battery power, step by step. */
static double battery_gap(const gridems_schedule_t *a, const gridems_schedule_t *b)
{
    double gap = 0.0;
    for (int k = 0; k < a->n_batteries; k++) {
        for (int t = 0; t < a->steps; t++) {
            gap = fmax(gap, fabs(a->batteries[k].charge_kw[t] - b->batteries[k].charge_kw[t]));
            gap =
                fmax(gap, fabs(a->batteries[k].discharge_kw[t] - b->batteries[k].discharge_kw[t]));
        }
    }
    return gap;
}

START_TEST(reference_breaks_ties_toward_previous_plan)
{
    gridems_scenario_t sc, other;
    ties_scenario(&sc, "30");
    ties_scenario(&other, "29");
    char err[256];
    /* The first plan: cold. */
    gridems_optimizer_t *first = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&first, NULL), 0);
    gridems_schedule_t plan1;
    memset(&plan1, 0, sizeof plan1);
    ck_assert_int_eq(gridems_optimizer_solve(first, &sc, &plan1, err, sizeof err), 0);
    ASSERT_NEAR(plan1.objective, 4000.0);
    ck_assert_int_eq(plan1.tie_break, GRIDEMS_TIE_NONE);

    /* The same scenario again from another basis: a solver that last solved a scenario where
     * step 2 is cheaper than step 3, updated in place. Without a reference it lands on another
     * optimal vertex (this is the jump the service saw). */
    gridems_optimizer_t *second = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&second, NULL), 0);
    gridems_schedule_t plan2;
    memset(&plan2, 0, sizeof plan2);
    ck_assert_int_eq(gridems_optimizer_solve(second, &other, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(gridems_optimizer_solve(second, &sc, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(plan2.start_kind, GRIDEMS_START_UPDATE);
    ck_assert_msg(battery_gap(&plan1, &plan2) > 1.0,
                  "the case needs two different optimal vertices (gap %g)",
                  battery_gap(&plan1, &plan2));

    /* With plan 1 as the reference, the same path returns plan 1. */
    gridems_reference_t ref;
    ck_assert_int_eq(gridems_reference_from_schedule(&ref, &sc, &plan1, 3600000), 0);
    ck_assert_int_eq(gridems_optimizer_solve(second, &other, &plan2, err, sizeof err), 0);
    gridems_optimizer_hint_reference(second, &ref, 3600000);
    ck_assert_int_eq(gridems_optimizer_solve(second, &sc, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(plan2.tie_break, GRIDEMS_TIE_APPLIED);
    ck_assert_msg(battery_gap(&plan1, &plan2) <= EPS, "gap %g", battery_gap(&plan1, &plan2));
    ck_assert_msg(fabs(plan2.objective - plan1.objective) <= 1e-9 * fabs(plan1.objective),
                  "%.15g vs %.15g", plan2.objective, plan1.objective);
    ck_assert(plan2.tie_break_distance_kw <= EPS);
    /* The cost breakdown is that of the schedule returned. */
    ck_assert(fabs(plan2.cost_energy - plan1.cost_energy) <= 1e-9 * fabs(plan1.cost_energy));

    /* The hint was for one solve: the next one has no tie-break. */
    ck_assert_int_eq(gridems_optimizer_solve(second, &sc, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(plan2.tie_break, GRIDEMS_TIE_NONE);

    /* A reference on another grid (half-hour steps) or with unknown ids matches nothing. */
    gridems_reference_t other_grid = ref;
    other_grid.step_ms = 1800000;
    gridems_optimizer_hint_reference(second, &other_grid, 3600000);
    ck_assert_int_eq(gridems_optimizer_solve(second, &sc, &plan2, err, sizeof err), 0);
    ck_assert_int_eq(plan2.tie_break, GRIDEMS_TIE_NONE);

    gridems_reference_free(&ref);
    gridems_schedule_free(&plan1);
    gridems_schedule_free(&plan2);
    gridems_optimizer_destroy(first);
    gridems_optimizer_destroy(second);
    gridems_scenario_free(&sc);
    gridems_scenario_free(&other);
}
END_TEST

START_TEST(reference_is_matched_by_absolute_time)
{
    /* The reference began one step earlier: its step t+1 is the scenario's step t. Charging at
     * its steps 1 and 2 (the scenario's 0 and 1) only, 100 kW each per battery, is optimal
     * here, and the second stage must find exactly that among the optima. */
    gridems_scenario_t sc;
    ties_scenario(&sc, "30");
    gridems_reference_t ref;
    memset(&ref, 0, sizeof ref);
    double charge[5] = {0, 100, 100, 0, 0}, discharge[5] = {0, 0, 0, 100, 100};
    gridems_reference_item_t items[2] = {{"a", charge, discharge, NULL},
                                         {"b", charge, discharge, NULL}};
    ref.start_ms = 0;
    ref.step_ms = 3600000;
    ref.steps = 5;
    ref.items = items;
    ref.n_items = 2;
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256];
    gridems_optimizer_hint_reference(opt, &ref, 3600000);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.tie_break, GRIDEMS_TIE_APPLIED);
    ASSERT_NEAR(s.objective, 4000.0);
    for (int b = 0; b < 2; b++) {
        for (int t = 0; t < 4; t++) {
            ASSERT_NEAR(s.batteries[b].charge_kw[t], charge[t + 1]);
            ASSERT_NEAR(s.batteries[b].discharge_kw[t], discharge[t + 1]);
        }
    }
    ASSERT_NEAR(s.tie_break_distance_kw, 0.0);
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

static Suite *optimizer_suite(void)
{
    Suite *s = suite_create("optimizer");
    TCase *tc = tcase_create("families");
    tcase_add_test(tc, two_step_arbitrage_with_losses);
    tcase_add_test(tc, demand_charge_without_history);
    tcase_add_test(tc, demand_charge_with_peak_so_far);
    tcase_add_test(tc, dr_event_caps_import);
    tcase_add_test(tc, pv_curtailed_under_negative_export_price);
    tcase_add_test(tc, export_limit_binds);
    tcase_add_test(tc, battery_outside_band_stays_or_returns);
    tcase_add_test(tc, final_energy_shortfall);
    tcase_add_test(tc, flexible_load_window_and_unmet);
    tcase_add_test(tc, compute_cap_spreads_jobs);
    tcase_add_test(tc, cluster_caps_hold_each_clusters_jobs);
    tcase_add_test(tc, carbon_price_shifts_load);
    tcase_add_test(tc, schedule_json_round_trips);
    suite_add_tcase(s, tc);
    TCase *warm = tcase_create("warm");
    tcase_set_timeout(warm, 60);
    tcase_add_test(warm, warm_after_price_update_equals_cold);
    tcase_add_test(warm, warm_after_shift_equals_cold);
    tcase_add_test(warm, warm_with_clusters_equals_cold);
    tcase_add_test(warm, glpk_error_is_caught_and_recovered);
    tcase_add_test(warm, invalid_scenario_never_reaches_glpk);
    tcase_add_test(warm, warm_start_past_its_cap_solves_cold);
    tcase_add_test(warm, restored_basis_starts_warm);
    tcase_add_test(warm, unusable_basis_is_refused_with_reason);
    suite_add_tcase(s, warm);
    TCase *ties = tcase_create("tie_break");
    tcase_add_test(ties, reference_breaks_ties_toward_previous_plan);
    tcase_add_test(ties, reference_is_matched_by_absolute_time);
    suite_add_tcase(s, ties);
    return s;
}

int main(void)
{
    return test_run_suite(optimizer_suite());
}
