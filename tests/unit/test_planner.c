/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The planner's rules (core/src/planning/planner.h), each on a hand-made input: the grid and
 * horizon, forecasts resampled, the base-load fallbacks, battery targets, the flexible-job window
 * and energy rule, the compute cap, DR events, and the refusal without prices.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "planner.h"
#include "timeutil.h"

static const char *const config_text =
    "{\"site\":{\"id\":\"t\",\"utc_offset\":\"+09:00\",\"import_limit_kw\":5000,"
    "\"demand_charge_per_kw\":10,\"compute_limit_kw\":900},"
    "\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1\"},"
    "\"planner\":{\"step_minutes\":30,\"horizon_steps\":8},"
    "\"state_dir\":\"/tmp/gridems-planner-test\"}";

typedef struct fixture_s {
    gridems_service_config_t cfg;
    gridems_forecast_t import_price, export_price, carbon;
    gridems_dr_events_t events;
    gridems_planner_inputs_t in;
    int64_t t0; /* 2026-05-11T00:00+09:00 */
} fixture_t;

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso(iso, &ms, NULL, NULL, 0), 0);
    return ms;
}

static void setup(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    char err[256] = "";
    int rc =
        gridems_service_config_parse(config_text, strlen(config_text), &f->cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    gridems_forecast_init(&f->import_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&f->export_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&f->carbon, GRIDEMS_FORECAST_CARBON);
    gridems_dr_events_init(&f->events);
    f->t0 = at("2026-05-11T00:00:00+09:00");
    f->in.cfg = &f->cfg;
    f->in.now_ms = f->t0 + 10 * 60000; /* 00:10, inside the first step */
    f->in.import_price = &f->import_price;
    f->in.export_price = &f->export_price;
    f->in.carbon = &f->carbon;
    f->in.events = &f->events;
    f->in.device_compute_cap_kw = -1;
}

static void teardown(fixture_t *f)
{
    gridems_forecast_close(&f->import_price);
    gridems_forecast_close(&f->export_price);
    gridems_forecast_close(&f->carbon);
    gridems_dr_events_close(&f->events);
    gridems_service_config_free(&f->cfg);
}

static void update(gridems_forecast_t *store, const char *json)
{
    char err[256] = "";
    int rc = gridems_forecast_update_json(store, json, strlen(json), err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

/* Six half-hour prices 10, 20, ..., 60 from 00:00. */
static const char *const six_prices =
    "{\"start\":\"2026-05-11T00:00:00+09:00\",\"step_minutes\":30,"
    "\"values\":[10,20,30,40,50,60],\"unit\":\"kWh\"}";

START_TEST(no_price_no_plan)
{
    fixture_t f;
    setup(&f);
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), GRIDEMS_ENOENT);
    ck_assert_msg(strstr(err, "no import price") != NULL, "%s", err);
    teardown(&f);
}
END_TEST

START_TEST(horizon_ends_with_known_prices)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    /* Aligned down to 00:00 local; 6 steps known, below the 8 of the horizon. */
    ck_assert(out.grid_start_ms == f.t0);
    ck_assert_int_eq(out.steps, 6);
    ck_assert_int_eq(sc.steps, 6);
    ck_assert_str_eq(sc.start, "2026-05-11T00:00:00+09:00");
    ck_assert(sc.import_per_kwh[0] == 10 && sc.import_per_kwh[5] == 60);
    /* Unknown export price and carbon count as nothing. */
    ck_assert(sc.export_per_kwh[2] == 0);
    ck_assert(!sc.has_carbon);
    ck_assert(sc.import_limit_kw == 5000 && sc.demand_charge_per_kw == 10);
    ck_assert(sc.has_compute_limit && sc.compute_limit_kw == 900);
    gridems_scenario_free(&sc);
    /* At 02:40 the grid starts at 02:30: only the last price step is left. */
    f.in.now_ms = f.t0 + 160 * 60000;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(out.steps, 1);
    ck_assert(sc.import_per_kwh[0] == 60);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(hourly_prices_resampled_and_partial_steps)
{
    fixture_t f;
    setup(&f);
    /* Two hourly rates; the second step of each hour takes the hour's value. Carbon covers only
     * the first 45 minutes: step 0 takes 0.2, step 1 the covered quarter's 0.5. */
    update(&f.import_price, "[{\"start\":\"2026-05-11T00:00:00+09:00\",\"end\":"
                            "\"2026-05-11T01:00:00+09:00\",\"value\":12},{\"start\":"
                            "\"2026-05-11T01:00:00+09:00\",\"end\":\"2026-05-11T02:00:00+09:00\","
                            "\"value\":8}]");
    update(&f.carbon, "[{\"start\":\"2026-05-11T00:00:00+09:00\",\"end\":"
                      "\"2026-05-11T00:30:00+09:00\",\"value\":0.2},{\"start\":"
                      "\"2026-05-11T00:30:00+09:00\",\"end\":\"2026-05-11T00:45:00+09:00\","
                      "\"value\":0.5}]");
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.steps, 4);
    ck_assert(sc.import_per_kwh[1] == 12 && sc.import_per_kwh[2] == 8);
    ck_assert(sc.has_carbon);
    ck_assert(fabs(sc.carbon_kg_per_kwh[0] - 0.2) < 1e-12);
    ck_assert(fabs(sc.carbon_kg_per_kwh[1] - 0.5) < 1e-12);
    ck_assert(sc.carbon_kg_per_kwh[2] == 0);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(base_load_fallbacks)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(out.load_source, GRIDEMS_LOAD_NONE);
    ck_assert(sc.base_load_kw[3] == 0);
    gridems_scenario_free(&sc);
    f.in.has_latest_load = 1;
    f.in.latest_load_kw = 4321;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(out.load_source, GRIDEMS_LOAD_FROM_LATEST);
    ck_assert(sc.base_load_kw[0] == 4321 && sc.base_load_kw[5] == 4321);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(battery_final_target_is_its_energy_now)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    gridems_planner_battery_t bat = {"bess1",
                                     {4000, 3900, 400, 3600, 1000, 1000, 0.95, 0.95, 1.5, 0}};
    f.in.batteries = &bat;
    f.in.n_batteries = 1;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_batteries, 1);
    ck_assert_str_eq(sc.batteries[0].id, "bess1");
    ck_assert(sc.batteries[0].soc_kwh == 3900);
    /* Above its band: the target is clamped into it, as the spec's default does. */
    ck_assert(sc.batteries[0].final_soc_min_kwh == 3600);
    ck_assert(sc.batteries[0].cycle_cost_per_kwh == 1.5);
    gridems_scenario_free(&sc);
    f.cfg.planner.battery_final_soc = GRIDEMS_FINAL_SOC_NONE;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.batteries[0].final_soc_min_kwh == 400);
    gridems_scenario_free(&sc);
    /* "mid": half way up its band, whatever it holds now. */
    f.cfg.planner.battery_final_soc = GRIDEMS_FINAL_SOC_MID;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.batteries[0].final_soc_min_kwh == 2000);
    gridems_scenario_free(&sc);
    /* "value": full as the target, the shortfall priced at the horizon's mean import price, so
     * each kWh left at the end is worth that price. */
    f.cfg.planner.battery_final_soc = GRIDEMS_FINAL_SOC_VALUE;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.batteries[0].final_soc_min_kwh == 3600);
    double mean = 0;
    for (int t = 0; t < sc.steps; t++) {
        mean += sc.import_per_kwh[t] / sc.steps;
    }
    ck_assert(fabs(sc.final_soc_shortfall_per_kwh - mean) < 1e-12);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(flexible_job_window_and_energy_rule)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices); /* horizon 00:00 .. 03:00 */
    gridems_planner_job_t jobs[] = {
        /* Inside: may start 00:45 (first whole step 01:00 = 2), due 02:15 (last whole step
         * ends 02:00 = step 4). */
        {"inside", 100, 200, at("2026-05-11T00:45:00+09:00"), at("2026-05-11T02:15:00+09:00"), 0,
         NULL},
        /* Due 2 h after the horizon at 300 kW: after it, at half power (150 kW, within half
         * the 700 kW cap), 300 kWh can wait, so 450 of 750 must happen now. */
        {"later", 750, 300, f.t0, at("2026-05-11T05:00:00+09:00"), 0, NULL},
        /* Due long after: nothing is forced into this horizon, so it is left out. */
        {"far", 100, 300, f.t0, at("2026-05-12T05:00:00+09:00"), 0, NULL},
        /* Already running (earliest in the past): may use step 0. */
        {"running", 50, 100, f.t0 - 3600000, at("2026-05-11T01:00:00+09:00"), 0, NULL},
        /* A second device reusing an id: left out rather than failing the plan. */
        {"inside", 10, 100, f.t0, at("2026-05-11T02:00:00+09:00"), 0, NULL},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 5;
    f.in.device_compute_cap_kw = 700;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_flex_loads, 3);
    ck_assert_int_eq(out.jobs_planned, 3);
    ck_assert_int_eq(out.jobs_left_out, 2);
    ck_assert_str_eq(sc.flex_loads[0].id, "inside");
    ck_assert_int_eq(sc.flex_loads[0].earliest_step, 2);
    ck_assert_int_eq(sc.flex_loads[0].deadline_step, 4);
    ck_assert_str_eq(sc.flex_loads[1].id, "later");
    ck_assert(fabs(sc.flex_loads[1].energy_kwh - 450) < 1e-9);
    ck_assert_int_eq(sc.flex_loads[1].deadline_step, 6);
    ck_assert_str_eq(sc.flex_loads[2].id, "running");
    ck_assert_int_eq(sc.flex_loads[2].earliest_step, 0);
    ck_assert_int_eq(sc.flex_loads[2].deadline_step, 2);
    /* The devices' own caps (700) are below the site's (900). */
    ck_assert(sc.compute_limit_kw == 700);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(running_step_is_planned_whole)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices); /* horizon 00:00 .. 03:00 */
    f.in.now_ms = f.t0 + 20 * 60000;     /* 00:20: a re-plan two thirds into step 0 */
    f.in.has_latest_load = 1;
    f.in.latest_load_kw = 1000;
    /* "running" delivered 40 kWh since 00:00 and has 60 left; "new" arrived at 00:10 and has
     * delivered nothing in the step; "done" delivered 5 kWh in the step and has nothing left.
     * Step 0 is planned whole (its values are the step's means): what they drew in it has
     * happened, so it is load in step 0 (45 kWh over half an hour: 90 kW), and each job is
     * planned with what it has left. */
    gridems_planner_job_t jobs[] = {
        {"running", 60, 200, f.t0 - 3600000, at("2026-05-11T02:00:00+09:00"), 40, NULL},
        {"new", 80, 200, f.t0 + 10 * 60000, at("2026-05-11T02:00:00+09:00"), 0, NULL},
        {"done", 0, 200, f.t0 - 3600000, at("2026-05-11T02:00:00+09:00"), 5, NULL},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 3;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(out.load_source, GRIDEMS_LOAD_FROM_LATEST);
    ck_assert(fabs(sc.base_load_kw[0] - 1090) < 1e-9);
    ck_assert(fabs(sc.base_load_kw[1] - 1000) < 1e-9);
    ck_assert_int_eq(sc.n_flex_loads, 2);
    ck_assert_str_eq(sc.flex_loads[0].id, "running");
    ck_assert_int_eq(sc.flex_loads[0].earliest_step, 0);
    ck_assert(fabs(sc.flex_loads[0].energy_kwh - 60) < 1e-9);
    ck_assert_str_eq(sc.flex_loads[1].id, "new");
    ck_assert(fabs(sc.flex_loads[1].energy_kwh - 80) < 1e-9);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(devices_with_own_caps_become_clusters)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    /* Two devices with caps of their own: each is a cluster of the scenario and its jobs name
     * it; a job of a device that is not listed (no cap of its own) names none. */
    gridems_planner_cluster_t clusters[] = {{"gpu", 3000}, {"gpu2", 2000}};
    gridems_planner_job_t jobs[] = {
        {"a", 100, 400, f.t0, at("2026-05-11T02:00:00+09:00"), 0, "gpu"},
        {"b", 100, 400, f.t0, at("2026-05-11T02:00:00+09:00"), 0, "gpu2"},
        {"c", 100, 400, f.t0, at("2026-05-11T02:00:00+09:00"), 0, "gpu3"},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 3;
    f.in.clusters = clusters;
    f.in.n_clusters = 2;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_clusters, 2);
    ck_assert_str_eq(sc.clusters[0].id, "gpu");
    ck_assert(sc.clusters[0].compute_limit_kw == 3000);
    ck_assert_str_eq(sc.clusters[1].id, "gpu2");
    ck_assert(sc.clusters[1].compute_limit_kw == 2000);
    ck_assert_int_eq(sc.n_flex_loads, 3);
    ck_assert_str_eq(sc.flex_loads[0].cluster, "gpu");
    ck_assert_str_eq(sc.flex_loads[1].cluster, "gpu2");
    ck_assert_ptr_null(sc.flex_loads[2].cluster);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(jobs_share_the_cap_after_the_horizon)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices); /* horizon 00:00 .. 03:00 */
    /* Two 600 kWh jobs at 400 kW, both due 2 h after the horizon. Full power each would defer
     * both whole (400 kW x 2 h = 800 kWh each), yet together they would need 800 kW after the
     * horizon, above the 700 kW cap. Earliest deadline first at half the cap (350 kW) and half
     * power (200 kW): "a" (first by id order at equal deadlines) gets 200 kW, "b" the 150 kW
     * left; 400 and 300 kWh wait, 200 and 300 kWh must happen now. */
    gridems_planner_job_t jobs[] = {
        {"a", 600, 400, f.t0, at("2026-05-11T05:00:00+09:00"), 0, NULL},
        {"b", 600, 400, f.t0, at("2026-05-11T05:00:00+09:00"), 0, NULL},
        /* Due inside the horizon: it takes nothing from the cap after it. */
        {"c", 100, 400, f.t0, at("2026-05-11T02:00:00+09:00"), 0, NULL},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 3;
    f.in.device_compute_cap_kw = 700;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_flex_loads, 3);
    ck_assert(fabs(sc.flex_loads[0].energy_kwh - 200) < 1e-9);
    ck_assert(fabs(sc.flex_loads[1].energy_kwh - 300) < 1e-9);
    ck_assert(fabs(sc.flex_loads[2].energy_kwh - 100) < 1e-9);
    gridems_scenario_free(&sc);
    /* "b" due an hour later: "a" runs first at 200 kW for 2 h (400 kWh); "b" gets 150 kW for
     * those 2 h, then the whole 200 kW for its last hour: 500 kWh wait, 100 must happen now. */
    jobs[1].deadline_ms = at("2026-05-11T06:00:00+09:00");
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(fabs(sc.flex_loads[0].energy_kwh - 200) < 1e-9);
    ck_assert(fabs(sc.flex_loads[1].energy_kwh - 100) < 1e-9);
    gridems_scenario_free(&sc);
    /* At full power (fraction 1) the cap (700 kW) still binds: "a" 400 kW, "b" 300 then
     * 400 kW: 800 and 1000 kWh fit, nothing is forced in; both are left out. */
    f.cfg.planner.defer_power_fraction = 1.0;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_flex_loads, 1);
    ck_assert_str_eq(sc.flex_loads[0].id, "c");
    gridems_scenario_free(&sc);
    /* A later start after the horizon counts too: "b" may only begin at 04:00, so "a" has the
     * cap alone until then. */
    f.cfg.planner.defer_power_fraction = 0.5;
    jobs[1].deadline_ms = at("2026-05-11T05:00:00+09:00");
    jobs[1].earliest_ms = at("2026-05-11T04:00:00+09:00");
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_flex_loads, 2); /* "b" has no step inside the horizon */
    ck_assert_str_eq(sc.flex_loads[0].id, "a");
    ck_assert(fabs(sc.flex_loads[0].energy_kwh - 200) < 1e-9);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(peak_margin_follows_the_measured_error)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    f.in.peak_so_far_kw = 4100;
    f.cfg.planner.peak_margin_kw = 50;
    gridems_peak_margin_t pm;
    ck_assert_int_eq(gridems_peak_margin_init(&pm), 0);
    /* Ten steps' errors (realised minus forecast); under-forecasts count as no overshoot. */
    static const double errors[] = {-100, 0, 10, 20, 30, 40, 50, 60, 300, 80};
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(gridems_peak_margin_add(&pm, f.t0 + i * 1800000, errors[i]), 1);
    }
    /* A step already recorded counts once. */
    ck_assert_int_eq(gridems_peak_margin_add(&pm, f.t0 + 9 * 1800000, 5000), 0);
    f.in.margin_errors = &pm;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    /* "fixed": the constant alone, whatever was measured. */
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.peak_so_far_kw == 4050);
    gridems_scenario_free(&sc);
    /* "auto": the 90th percentile of {0,0,10,20,30,40,50,60,80,300} by nearest rank is the 9th
     * value, 80 kW. */
    f.cfg.planner.peak_margin = GRIDEMS_PEAK_MARGIN_AUTO;
    f.cfg.planner.peak_margin_quantile = 0.9;
    f.cfg.planner.peak_margin_window_steps = 10;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(out.peak_margin_kw == 80);
    ck_assert(sc.peak_so_far_kw == 4020);
    gridems_scenario_free(&sc);
    /* Over the last three steps {60, 300, 80}: 300 kW. */
    f.cfg.planner.peak_margin_window_steps = 3;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.peak_so_far_kw == 3800);
    gridems_scenario_free(&sc);
    /* The constant is the floor: a forecast that was always high keeps it. */
    gridems_peak_margin_close(&pm);
    ck_assert_int_eq(gridems_peak_margin_init(&pm), 0);
    ck_assert_int_eq(gridems_peak_margin_add(&pm, f.t0, -40), 1);
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.peak_so_far_kw == 4050);
    gridems_scenario_free(&sc);
    ck_assert(gridems_peak_margin_quantile(NULL, 0.9, 10) == 0);
    gridems_peak_margin_close(&pm);
    teardown(&f);
}
END_TEST

START_TEST(dr_events_and_peak)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    char err[256] = "";
    const char *ev = "{\"id\":\"dr-1\",\"start\":\"2026-05-11T01:10:00+09:00\",\"end\":"
                     "\"2026-05-11T02:00:00+09:00\",\"import_limit_kw\":3000}";
    ck_assert_int_eq(
        gridems_dr_events_update_json(&f.events, ev, strlen(ev), NULL, err, sizeof err), 0);
    f.in.peak_so_far_kw = 4100;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert_int_eq(sc.n_events, 1);
    /* 01:10 falls in step 2 (01:00-01:30), which the cap covers whole. */
    ck_assert_int_eq(sc.events[0].start_step, 2);
    ck_assert_int_eq(sc.events[0].end_step, 4);
    ck_assert(sc.events[0].import_limit_kw == 3000);
    ck_assert(sc.peak_so_far_kw == 4100);
    gridems_scenario_free(&sc);
    /* With a margin, plans treat the peak as that much lower. */
    f.cfg.planner.peak_margin_kw = 300;
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), 0);
    ck_assert(sc.peak_so_far_kw == 3800);
    gridems_scenario_free(&sc);
    teardown(&f);
}
END_TEST

START_TEST(invalid_device_data_is_refused_with_its_field)
{
    fixture_t f;
    setup(&f);
    update(&f.import_price, six_prices);
    gridems_planner_battery_t bat = {"bess1", {4000, 2000, 400, 3600, 1000, 1000, 1.7, 0.95, 0, 0}};
    f.in.batteries = &bat;
    f.in.n_batteries = 1;
    gridems_scenario_t sc;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &sc, &out, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "batteries[0].charge_efficiency") != NULL, "%s", err);
    ck_assert_ptr_null(sc.import_per_kwh);
    teardown(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, no_price_no_plan);
    tcase_add_test(tc, horizon_ends_with_known_prices);
    tcase_add_test(tc, hourly_prices_resampled_and_partial_steps);
    tcase_add_test(tc, base_load_fallbacks);
    tcase_add_test(tc, battery_final_target_is_its_energy_now);
    tcase_add_test(tc, flexible_job_window_and_energy_rule);
    tcase_add_test(tc, running_step_is_planned_whole);
    tcase_add_test(tc, jobs_share_the_cap_after_the_horizon);
    tcase_add_test(tc, peak_margin_follows_the_measured_error);
    tcase_add_test(tc, dr_events_and_peak);
    tcase_add_test(tc, invalid_device_data_is_refused_with_its_field);
    tcase_add_test(tc, devices_with_own_caps_become_clusters);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
