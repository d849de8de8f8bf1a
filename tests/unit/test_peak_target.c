/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The month-aware peak target (core/src/planning/peak_target.h) through the planner: the floor
 * a look-ahead past the known prices puts under the plan's peak, last week's jobs repeated,
 * the running maximum within a billing period and its reset, and the config key's bounds.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "peak_target.h"
#include "planner.h"
#include "timeutil.h"

/* No batteries, no cap: the look-ahead's least peak is plain arithmetic. */
#define CONFIG_FMT                                                                                 \
    "{\"site\":{\"id\":\"t\",\"utc_offset\":\"+09:00\",\"import_limit_kw\":5000,"                  \
    "\"demand_charge_per_kw\":10},\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1\"},"                       \
    "\"planner\":{\"step_minutes\":30,\"horizon_steps\":8,\"peak_target_days\":%d},"               \
    "\"state_dir\":\"/tmp/gridems-peak-target-test\"}"

typedef struct fixture_s {
    gridems_service_config_t cfg;
    gridems_forecast_t import_price, export_price, carbon;
    gridems_dr_events_t events;
    gridems_peak_target_t pt;
    gridems_planner_inputs_t in;
} fixture_t;

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso(iso, &ms, NULL, NULL, 0), 0);
    return ms;
}

static void update(gridems_forecast_t *store, const char *json)
{
    char err[256] = "";
    int rc = gridems_forecast_update_json(store, json, strlen(json), err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

/* Six flat half-hour prices from `start` (energy costs the same anywhere: the look-ahead only
 * trades peak). */
static void prices_from(fixture_t *f, const char *start)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":30,\"values\":[20,20,20,20,20,20],"
             "\"unit\":\"kWh\"}",
             start);
    update(&f->import_price, json);
}

static void setup(fixture_t *f, int days)
{
    memset(f, 0, sizeof *f);
    char text[512], err[256] = "";
    snprintf(text, sizeof text, CONFIG_FMT, days);
    int rc = gridems_service_config_parse(text, strlen(text), &f->cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    gridems_forecast_init(&f->import_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&f->export_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&f->carbon, GRIDEMS_FORECAST_CARBON);
    gridems_dr_events_init(&f->events);
    gridems_peak_target_init(&f->pt);
    f->in.cfg = &f->cfg;
    f->in.now_ms = at("2026-05-11T00:00:00+09:00");
    f->in.import_price = &f->import_price;
    f->in.export_price = &f->export_price;
    f->in.carbon = &f->carbon;
    f->in.events = &f->events;
    f->in.device_compute_cap_kw = -1;
    f->in.has_latest_load = 1;
    f->in.latest_load_kw = 1000;
    f->in.peak_so_far_kw = 1100;
    f->in.peak_target = &f->pt;
    prices_from(f, "2026-05-11T00:00:00+09:00");
}

static void teardown(fixture_t *f)
{
    gridems_peak_target_close(&f->pt);
    gridems_forecast_close(&f->import_price);
    gridems_forecast_close(&f->export_price);
    gridems_forecast_close(&f->carbon);
    gridems_dr_events_close(&f->events);
    gridems_service_config_free(&f->cfg);
}

/* Build the plan and return the peak it defends. */
/* What the solver thread does with a plan's look-ahead (gridems_solver_submit_plan): solve it
 * cold, report it, raise the plan's peak floor to its peak. out->peak_target_kw is then the
 * target after it. */
static void solve_lookahead(fixture_t *f, gridems_planner_output_t *out, gridems_scenario_t *plan)
{
    if (out->peak_lookahead == NULL) {
        return;
    }
    gridems_optimizer_opts_t opts = {0, false, false};
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, &opts), 0);
    gridems_schedule_t sched;
    memset(&sched, 0, sizeof sched);
    char err[256] = "";
    int rc = gridems_optimizer_solve(opt, out->peak_lookahead, &sched, err, sizeof err);
    ck_assert_msg(rc == 0, "look-ahead: %s", err);
    gridems_peak_target_solved(&f->pt, true, sched.peak_import_kw, 1.0);
    plan->peak_so_far_kw = fmax(plan->peak_so_far_kw, sched.peak_import_kw);
    out->peak_target_kw = f->pt.target_kw;
    gridems_schedule_free(&sched);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(out->peak_lookahead);
    free(out->peak_lookahead);
    out->peak_lookahead = NULL;
}

static double plan_peak(fixture_t *f, gridems_planner_output_t *out)
{
    gridems_scenario_t sc;
    char err[256] = "";
    int rc = gridems_planner_build(&f->in, &sc, out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    solve_lookahead(f, out, &sc);
    double peak = sc.peak_so_far_kw;
    gridems_scenario_free(&sc);
    return peak;
}

/* A job of 10,000 kWh due 20 h from now, on a 1,000 kW base load: the plan sees 3 h of prices
 * and would defend the 1,100 kW peak so far, though the job cannot finish below 1,500 kW (it
 * needs 500 kW over the 20 h). The look-ahead sees the whole window, and its peak is the floor. */
START_TEST(look_ahead_floors_the_peak)
{
    fixture_t f;
    setup(&f, 2);
    gridems_planner_job_t jobs[] = {
        {"big", 10000, 1000, f.in.now_ms, at("2026-05-11T20:00:00+09:00"), 0, NULL},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 1;
    gridems_planner_output_t out;
    double peak = plan_peak(&f, &out);
    ck_assert_msg(fabs(out.peak_target_kw - 1500) < 1e-6, "target %g", out.peak_target_kw);
    ck_assert_msg(fabs(peak - 1500) < 1e-6, "plan's peak %g", peak);
    ck_assert_int_eq(f.pt.solves, 1);
    /* Nothing new a little later: no new solve, the target holds. */
    f.in.now_ms += 10 * 60000;
    plan_peak(&f, &out);
    ck_assert_int_eq(f.pt.solves, 1);
    ck_assert(fabs(out.peak_target_kw - 1500) < 1e-6);
    teardown(&f);

    /* Off (the default, 0 days): the plan defends the peak so far. */
    setup(&f, 0);
    f.in.jobs = jobs;
    f.in.n_jobs = 1;
    peak = plan_peak(&f, &out);
    ck_assert(out.peak_target_kw == 0);
    ck_assert(fabs(peak - 1100) < 1e-9);
    ck_assert_int_eq(f.pt.solves, 0);
    teardown(&f);
}
END_TEST

/* A job seen on Monday is expected again next Monday: six days later, with no job known, the
 * look-ahead holds its repeat, a week after the original, with its energy as first seen. */
START_TEST(last_weeks_jobs_repeat)
{
    fixture_t f;
    setup(&f, 2);
    gridems_planner_job_t jobs[] = {
        {"weekly", 3000, 1000, at("2026-05-11T02:00:00+09:00"), at("2026-05-11T08:00:00+09:00"), 0,
         NULL},
    };
    f.in.jobs = jobs;
    f.in.n_jobs = 1;
    gridems_planner_output_t out;
    plan_peak(&f, &out);
    ck_assert_int_eq(f.pt.n_seen, 1);
    /* Sunday 12:00: the next Monday's 02:00..08:00 is 14 to 20 h ahead. */
    f.in.jobs = NULL;
    f.in.n_jobs = 0;
    f.in.now_ms = at("2026-05-17T12:00:00+09:00");
    prices_from(&f, "2026-05-17T12:00:00+09:00");
    gridems_scenario_t plan, look;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &plan, &out, err, sizeof err), 0);
    solve_lookahead(&f, &out, &plan);
    ck_assert_int_eq(gridems_peak_target_build(&f.pt, &f.in, &plan, out.grid_start_ms, &look), 0);
    ck_assert_int_eq(look.steps, 96);
    ck_assert_int_eq(look.n_flex_loads, 1);
    ck_assert_int_eq(look.flex_loads[0].earliest_step, 28);
    ck_assert_int_eq(look.flex_loads[0].deadline_step, 40);
    ck_assert(fabs(look.flex_loads[0].energy_kwh - 3000) < 1e-9);
    /* The plan's steps are copied; after them the known prices' mean and the latest load. */
    ck_assert(fabs(look.import_per_kwh[95] - 20) < 1e-9);
    ck_assert(fabs(look.base_load_kw[95] - 1000) < 1e-9);
    /* The repeat needs 500 kW over its 6 h: the floor. */
    ck_assert_msg(fabs(out.peak_target_kw - 1500) < 1e-6, "target %g", out.peak_target_kw);
    gridems_scenario_free(&look);
    gridems_scenario_free(&plan);
    /* Once its repeat has begun it is forgotten (the real one is known by then). */
    f.in.now_ms = at("2026-05-18T02:30:00+09:00");
    prices_from(&f, "2026-05-18T02:30:00+09:00");
    plan_peak(&f, &out);
    ck_assert_int_eq(f.pt.n_seen, 0);
    teardown(&f);
}
END_TEST

/* Within a billing period the target is the highest solved (the period's peak is at least each
 * one); a new period starts again. The look-ahead ends with the period. */
START_TEST(target_holds_within_the_period)
{
    fixture_t f;
    setup(&f, 7);
    gridems_planner_job_t big[] = {
        {"big", 10000, 1000, f.in.now_ms, at("2026-05-11T20:00:00+09:00"), 0, NULL},
    };
    f.in.jobs = big;
    f.in.n_jobs = 1;
    gridems_planner_output_t out;
    plan_peak(&f, &out);
    ck_assert(fabs(out.peak_target_kw - 1500) < 1e-6);
    /* A day later, a small job: solved again (a new job), lower, but 1500 holds. */
    gridems_planner_job_t small[] = {
        {"small", 100, 1000, at("2026-05-12T00:00:00+09:00"), at("2026-05-12T10:00:00+09:00"), 0,
         NULL},
    };
    f.in.jobs = small;
    f.in.now_ms = at("2026-05-12T00:00:00+09:00");
    prices_from(&f, "2026-05-12T00:00:00+09:00");
    plan_peak(&f, &out);
    ck_assert_int_eq(f.pt.solves, 2);
    ck_assert(fabs(out.peak_target_kw - 1500) < 1e-6);
    /* June: a new period; its look-ahead has the small job's repeat only if it fell in June. */
    f.in.jobs = NULL;
    f.in.n_jobs = 0;
    f.in.now_ms = at("2026-06-01T00:00:00+09:00");
    prices_from(&f, "2026-06-01T00:00:00+09:00");
    plan_peak(&f, &out);
    ck_assert_msg(fabs(out.peak_target_kw - 1000) < 1e-6, "target %g", out.peak_target_kw);
    /* The look-ahead of May 31 ends at June's start: 12 steps from 18:00. */
    f.in.now_ms = at("2026-05-31T18:00:00+09:00");
    prices_from(&f, "2026-05-31T18:00:00+09:00");
    gridems_scenario_t plan, look;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &plan, &out, err, sizeof err), 0);
    solve_lookahead(&f, &out, &plan);
    ck_assert_int_eq(gridems_peak_target_build(&f.pt, &f.in, &plan, out.grid_start_ms, &look), 0);
    ck_assert_int_eq(look.steps, 12);
    gridems_scenario_free(&look);
    gridems_scenario_free(&plan);
    teardown(&f);
}
END_TEST

/* Past the known prices, their mean, flat: prices 10 .. 60 over the plan's six steps, 35 after;
 * the look-ahead is a day (48 steps), the plan's steps copied as they are. */
START_TEST(prices_past_the_known_are_their_mean)
{
    fixture_t f;
    setup(&f, 1);
    update(&f.import_price, "{\"start\":\"2026-05-11T00:00:00+09:00\",\"step_minutes\":30,"
                            "\"values\":[10,20,30,40,50,60],\"unit\":\"kWh\"}");
    gridems_scenario_t plan, look;
    gridems_planner_output_t out;
    char err[256] = "";
    ck_assert_int_eq(gridems_planner_build(&f.in, &plan, &out, err, sizeof err), 0);
    solve_lookahead(&f, &out, &plan);
    ck_assert_int_eq(plan.steps, 6);
    ck_assert_int_eq(gridems_peak_target_build(&f.pt, &f.in, &plan, out.grid_start_ms, &look), 0);
    ck_assert_int_eq(look.steps, 48);
    for (int t = 0; t < 6; t++) {
        ck_assert(fabs(look.import_per_kwh[t] - 10.0 * (t + 1)) < 1e-9);
    }
    for (int t = 6; t < 48; t++) {
        ck_assert_msg(fabs(look.import_per_kwh[t] - 35) < 1e-9, "step %d: %g", t,
                      look.import_per_kwh[t]);
    }
    ck_assert(fabs(look.demand_charge_per_kw - 10) < 1e-9);
    ck_assert(look.peak_so_far_kw == 0);
    gridems_scenario_free(&look);
    gridems_scenario_free(&plan);
    teardown(&f);
}
END_TEST

START_TEST(config_bounds)
{
    gridems_service_config_t cfg;
    char text[512], err[256] = "";
    snprintf(text, sizeof text, CONFIG_FMT, 8);
    ck_assert_int_ne(gridems_service_config_parse(text, strlen(text), &cfg, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "planner.peak_target_days") != NULL, "%s", err);
    const char *no_key = "{\"site\":{\"id\":\"t\",\"utc_offset\":\"+09:00\"},"
                         "\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1\"},\"state_dir\":\"/tmp/x\"}";
    ck_assert_int_eq(gridems_service_config_parse(no_key, strlen(no_key), &cfg, err, sizeof err),
                     0);
    ck_assert_int_eq(cfg.planner.peak_target_days, 0);
    gridems_service_config_free(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peak_target");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, look_ahead_floors_the_peak);
    tcase_add_test(tc, last_weeks_jobs_repeat);
    tcase_add_test(tc, target_holds_within_the_period);
    tcase_add_test(tc, prices_past_the_known_are_their_mean);
    tcase_add_test(tc, config_bounds);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
