/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for what the backtest's ledger (core/src/backtest/backtest_ledger.c) makes of the
 * batteries' telemetry: each battery's wear at its own cycle cost, step by step, and its stored
 * energy at the end of every week of the period, which the weekly figures of the report are
 * built from (docs/backtest.md, "Weeks").
 */
#include <check.h>
#include <stdio.h>

#include "backtest.h"
#include "check_run.h"

#define STEP_MS (30 * 60 * 1000LL)
#define DAY_STEPS 48
#define START_MS 1683471600000LL /* 2023-05-08T00:00:00+09:00 */

static void reading(bt_ledger_t *l, int dev, int64_t ts, double charged, double discharged,
                    double soc)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "{\"ts\":%lld,\"charged_kwh\":%.6f,\"discharged_kwh\":%.6f,\"soc_kwh\":%.6f}",
                     (long long)ts, charged, discharged, soc);
    bt_ledger_telemetry(l, dev, msg, (size_t)n);
}

/* 16 days of 30-minute steps: weeks of 336, 336 and 96 steps. Two batteries at different cycle
 * costs report every step from an hour before the period's start to its end: battery a
 * discharges 10 kWh a step and its energy falls by as much, battery b 20 kWh a step. */
START_TEST(wear_per_battery_and_energy_at_each_weeks_end)
{
    bt_device_t devs[2] = {{.kind = BT_DEV_BATTERY, .name = "a", .cycle_cost_per_kwh = 1.5},
                           {.kind = BT_DEV_BATTERY, .name = "b", .cycle_cost_per_kwh = 4.0}};
    const int steps = 16 * DAY_STEPS;
    bt_ledger_t l;
    ck_assert_int_eq(bt_ledger_init(&l, START_MS, STEP_MS, steps, devs, 2), 0);
    ck_assert_int_eq(l.weeks, 3);
    ck_assert_int_eq(l.week_steps, 7 * DAY_STEPS);
    for (int k = -2; k <= steps; k++) {
        int64_t ts = START_MS + k * STEP_MS;
        /* Registers count from the first reading; energy falls from 100,000 kWh. */
        double n = k + 2;
        reading(&l, 0, ts, 0, 10 * n, 100000 - 10 * n);
        reading(&l, 1, ts, 0, 20 * n, 100000 - 20 * n);
    }
    double wear = 0;
    for (int k = 0; k < steps; k++) {
        ck_assert_double_eq_tol(l.wear_cost[k], 10 * 1.5 + 20 * 4.0, 1e-9);
        wear += l.wear_cost[k];
    }
    /* Only the period's discharge counts: not the hour before its start. */
    ck_assert_double_eq_tol(wear, steps * 95.0, 1e-6);
    /* At the start (the last reading at or before it) and at each week's end. */
    ck_assert_double_eq_tol(l.soc_start[0], 100000 - 20, 1e-9);
    ck_assert_double_eq_tol(l.soc_start[1], 100000 - 40, 1e-9);
    const int ends[3] = {336, 672, steps};
    for (int w = 0; w < 3; w++) {
        double n = ends[w] + 2;
        ck_assert_double_eq_tol(l.soc_week_end[0 * 3 + w], 100000 - 10 * n, 1e-9);
        ck_assert_double_eq_tol(l.soc_week_end[1 * 3 + w], 100000 - 20 * n, 1e-9);
    }
    ck_assert_double_eq(l.soc_end[1], l.soc_week_end[1 * 3 + 2]);
    bt_ledger_free(&l);
}
END_TEST

/* A reading after the period's end changes no week, and a battery whose readings stop early
 * keeps its last one for the weeks after. */
START_TEST(readings_past_a_weeks_end_do_not_move_it)
{
    bt_device_t dev = {.kind = BT_DEV_BATTERY, .name = "a", .cycle_cost_per_kwh = 2.0};
    const int steps = 10 * DAY_STEPS; /* weeks of 336 and 144 steps */
    bt_ledger_t l;
    ck_assert_int_eq(bt_ledger_init(&l, START_MS, STEP_MS, steps, &dev, 1), 0);
    ck_assert_int_eq(l.weeks, 2);
    reading(&l, 0, START_MS, 0, 0, 5000);
    reading(&l, 0, START_MS + 100 * STEP_MS, 0, 50, 4950);
    ck_assert_double_eq(l.soc_week_end[0], 4950);
    ck_assert_double_eq(l.soc_week_end[1], 4950);
    reading(&l, 0, START_MS + 336 * STEP_MS, 0, 100, 4900); /* exactly the first week's end */
    reading(&l, 0, START_MS + 337 * STEP_MS, 0, 110, 4890);
    ck_assert_double_eq(l.soc_week_end[0], 4900);
    ck_assert_double_eq(l.soc_week_end[1], 4890);
    reading(&l, 0, START_MS + (steps + 5) * STEP_MS, 0, 400, 4600);
    ck_assert_double_eq(l.soc_week_end[1], 4890);
    ck_assert_double_eq(l.soc_end[0], 4890);
    /* 400 kWh discharged in all, spread evenly between readings: the part inside the period. */
    double wear = 0;
    for (int k = 0; k < steps; k++) {
        wear += l.wear_cost[k];
    }
    double inside = 110 + 290.0 * (double)(steps - 337) / (double)(steps + 5 - 337);
    ck_assert_double_eq_tol(wear, 2.0 * inside, 1e-6);
    bt_ledger_free(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backtest_ledger");
    TCase *tc = tcase_create("ledger");
    tcase_add_test(tc, wear_per_battery_and_energy_at_each_weeks_end);
    tcase_add_test(tc, readings_past_a_weeks_end_do_not_move_it);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
