/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/planning/peak_guard.c: the step's import energy from samples, the target,
 * the projection of the step's mean and the shed with its split, and what a job can give up. The
 * numbers are worked out by hand in the comments.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_run.h"
#include "peak_guard.h"

#define MIN_MS INT64_C(60000)
#define T0 INT64_C(1683471600000) /* 2023-05-08T00:00:00+09:00, a step start */
#define STEP (30 * MIN_MS)

static void near_at(double got, double want, const char *what, int line)
{
    ck_assert_msg(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want)),
                  "line %d: %s = %.12g, want %.12g", line, what, got, want);
}
#define assert_near(got, want) near_at((got), (want), #got, __LINE__)

START_TEST(test_meter_holds_each_sample)
{
    gridems_peak_guard_meter_t m = {0};
    gridems_peak_guard_meter_add(&m, T0, T0, 100);
    assert_near(m.energy_kwh, 0);
    /* 100 kW held for 10 min, then 200 kW for 10 min: 16.667 + 33.333 kWh. */
    gridems_peak_guard_meter_add(&m, T0, T0 + 10 * MIN_MS, 200);
    assert_near(m.energy_kwh, 100.0 / 6);
    gridems_peak_guard_meter_add(&m, T0, T0 + 20 * MIN_MS, 200);
    assert_near(m.energy_kwh, 50);
    /* Older than the last sample, or not a number: ignored. */
    gridems_peak_guard_meter_add(&m, T0, T0 + 15 * MIN_MS, 1e6);
    gridems_peak_guard_meter_add(&m, T0, T0 + 25 * MIN_MS, NAN);
    assert_near(m.energy_kwh, 50);
    ck_assert_int_eq(m.last_ms, T0 + 20 * MIN_MS);
    /* The next step starts with the 200 kW held since 20 min: 1 min of it is 3.333 kWh. */
    gridems_peak_guard_meter_add(&m, T0 + STEP, T0 + STEP + MIN_MS, 50);
    ck_assert_int_eq(m.step_start_ms, T0 + STEP);
    assert_near(m.energy_kwh, 200.0 / 60);
    assert_near(m.last_kw, 50);
}
END_TEST

START_TEST(test_meter_first_sample_mid_step)
{
    /* No sample before: the first one covers the step from its start (6 min at 500 kW). */
    gridems_peak_guard_meter_t m = {0};
    gridems_peak_guard_meter_add(&m, T0, T0 + 6 * MIN_MS, 500);
    assert_near(m.energy_kwh, 50);
}
END_TEST

START_TEST(test_target)
{
    /* With a demand charge: the higher of the peak and the plan's import, within the limit. */
    assert_near(gridems_peak_guard_target_kw(9500, 9000, 20000, true), 9500);
    assert_near(gridems_peak_guard_target_kw(9500, 10000, 20000, true), 10000);
    assert_near(gridems_peak_guard_target_kw(9500, 9000, 9200, true), 9200);
    assert_near(gridems_peak_guard_target_kw(0, 9000, 20000, true), 9000);
    /* Without one a higher step mean costs nothing but energy: only the limit counts. */
    assert_near(gridems_peak_guard_target_kw(9500, 9000, 20000, false), 20000);
}
END_TEST

/* 10 minutes into a 30-minute step at 9000 kW, target 9000 kW. */
static gridems_peak_guard_in_t jump_input(void)
{
    gridems_peak_guard_in_t in = {T0,   T0 + STEP, T0 + 10 * MIN_MS, 1500, 9000, 0, 9000, 0,
                                  4000, 1000};
    return in;
}

START_TEST(test_jump_is_shed_by_batteries)
{
    /* The import jumps to 12000 kW: held, the mean is (1500 + 12000 * 1/3) / 0.5 = 11000 kW. To
     * bring it to 9000 the remaining 20 minutes must average 9000 kW: 3000 kW less, all of it
     * from the batteries (4000 kW of headroom). */
    gridems_peak_guard_in_t in = jump_input();
    in.import_kw = 12000;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.projected_kw, 11000);
    assert_near(out.goal_kw, 9000);
    assert_near(out.shed_kw, 3000);
    assert_near(out.battery_kw, 3000);
    assert_near(out.compute_kw, 0);
    assert_near(out.uncovered_kw, 0);
}
END_TEST

START_TEST(test_split_batteries_then_compute)
{
    /* 3000 kW to shed, 2000 kW of battery headroom, 500 kW of compute that can wait. */
    gridems_peak_guard_in_t in = jump_input();
    in.import_kw = 12000;
    in.battery_headroom_kw = 2000;
    in.compute_headroom_kw = 500;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.battery_kw, 2000);
    assert_near(out.compute_kw, 500);
    assert_near(out.uncovered_kw, 500);
    /* No headroom at all: engaged, all of it uncovered. */
    in.battery_headroom_kw = 0;
    in.compute_headroom_kw = 0;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.uncovered_kw, 3000);
}
END_TEST

START_TEST(test_own_shed_is_not_counted_twice)
{
    /* 5 minutes later the batteries give their 3000 kW and the meter shows 9000 kW again. With
     * that share in effect the import without the guard is still 12000 kW: the shed stays 3000
     * kW (it does not grow on itself). Energy: 1500 + 9000 * 5/60 = 2250 kWh. */
    gridems_peak_guard_in_t in = jump_input();
    in.now_ms = T0 + 15 * MIN_MS;
    in.energy_kwh = 2250;
    in.import_kw = 9000;
    in.in_effect_kw = 3000;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.projected_kw, (2250 + 12000 * 0.25) / 0.5);
    assert_near(out.shed_kw, 3000);
}
END_TEST

START_TEST(test_release_when_the_jump_ends)
{
    /* At 20 min the load falls back by 3000 kW; the meter shows 6000 (the batteries still give
     * 3000 more): without the guard it would be 9000, and the step's mean (3000 + 9000 * 1/6) /
     * 0.5 = 9000 kW is the target: released. */
    gridems_peak_guard_in_t in = jump_input();
    in.now_ms = T0 + 20 * MIN_MS;
    in.energy_kwh = 3000;
    in.import_kw = 6000;
    in.in_effect_kw = 3000;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(!out.engaged);
    assert_near(out.projected_kw, 9000);
    assert_near(out.shed_kw, 0);
    assert_near(out.battery_kw, 0);
}
END_TEST

START_TEST(test_margin_and_tolerance)
{
    /* A steady 8800 kW against 9000 - 300 = 8700: 100 kW over, shed 100 * 30/20 = 150 kW. */
    gridems_peak_guard_in_t in = jump_input();
    in.energy_kwh = 8800.0 / 6;
    in.import_kw = 8800;
    in.margin_kw = 300;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.goal_kw, 8700);
    assert_near(out.shed_kw, 150);
    /* 0.05 % over the goal is within the tolerance (0.1 %): no excess. */
    in.margin_kw = 0;
    in.energy_kwh = 9004.5 / 6;
    in.import_kw = 9004.5;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(!out.engaged);
    /* 0.2 % over is one. */
    in.energy_kwh = 9018.0 / 6;
    in.import_kw = 9018;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.shed_kw, 27);
}
END_TEST

START_TEST(test_late_in_the_step)
{
    /* 29 minutes in, 1 minute left, at 9300 kW all along: the last minute must take the whole
     * excess, 300 * 30 = 9000 kW; the batteries give their 4000, compute 1000, 4000 uncovered. */
    gridems_peak_guard_in_t in = jump_input();
    in.now_ms = T0 + 29 * MIN_MS;
    in.energy_kwh = 9300.0 * 29 / 60;
    in.import_kw = 9300;
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(out.engaged);
    assert_near(out.projected_kw, 9300);
    assert_near(out.shed_kw, 9000);
    assert_near(out.battery_kw, 4000);
    assert_near(out.compute_kw, 1000);
    assert_near(out.uncovered_kw, 4000);
    /* At the step's end nothing is left to change. */
    in.now_ms = T0 + STEP;
    in.energy_kwh = 9300.0 / 2;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(!out.engaged);
    assert_near(out.projected_kw, 9300);
    /* An empty step decides nothing. */
    in.step_end_ms = in.step_start_ms;
    gridems_peak_guard_decide(&in, &out);
    ck_assert(!out.engaged);
}
END_TEST

/* What a job not due in the step can give up: the step 00:00-00:30, now 00:10 (20 minutes
 * left), a job of 400 kW due (deadline less the reserve) at 01:30, so 1 h at full power after
 * the step = 400 kWh. */
START_TEST(test_job_sheddable)
{
    const int64_t now = T0 + 10 * MIN_MS, end = T0 + STEP;
    /* A job of 400 kW due (deadline less reserve) an hour after the step: 400 kWh after it. */
    const double after = 400;
    /* 300 kWh left: the hour after the step holds it all; all of its 250 kW may wait. */
    assert_near(gridems_peak_guard_job_sheddable_kw(250, 300, after, now, end), 250);
    /* 500 kWh left: 100 must come in the 20 minutes left, 300 kW; of 400, 100 may wait. */
    assert_near(gridems_peak_guard_job_sheddable_kw(400, 500, after, now, end), 100);
    /* ... and a plan that gives it less than it needs now (behind its plan) offers nothing. */
    assert_near(gridems_peak_guard_job_sheddable_kw(250, 500, after, now, end), 0);
    /* Due at the step's end with more left than the step can hold (the plan leaves energy for
     * the reserve): 150 kWh in 20 minutes is 450 kW, over its 400; nothing may wait. With 55
     * kWh left it needs 165 kW, and 235 may wait. */
    assert_near(gridems_peak_guard_job_sheddable_kw(400, 150, 0, now, end), 0);
    assert_near(gridems_peak_guard_job_sheddable_kw(400, 55, 0, now, end), 235);
    /* Exactly enough after the step: nothing is needed now, all may wait. */
    assert_near(gridems_peak_guard_job_sheddable_kw(120, 400, after, now, end), 120);
    /* No time left in the step. */
    assert_near(gridems_peak_guard_job_sheddable_kw(400, 500, after, end, end), 0);
}
END_TEST

/* A plan of four 30-minute steps from T0 with a compute cap of 1000 kW: what a 400 kW job can
 * still run after a step is its own planned power plus the free room under the cap, each step. */
START_TEST(test_catch_up_under_the_cap)
{
    const double total[4] = {1000, 1000, 800, 200}; /* every job's planned power */
    const double job[4] = {400, 100, 0, 0};         /* this job's */
    gridems_peak_guard_room_t room = {T0, STEP, 4, total, 1000, NULL, NULL, HUGE_VAL, NULL};
    /* From the end of step 0 to the plan's end: step 1 its own 100 (the cap is full), step 2
     * 200 free, step 3 400 (its limit, of 800 free): 0.5 h x (100 + 200 + 400). */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + 4 * STEP), 350);
    /* Without the cap it is its full power throughout: 1.5 h x 400. */
    room.cap_kw = HUGE_VAL;
    assert_near(gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + 4 * STEP), 600);
    room.cap_kw = 1000;
    /* Due half-way into step 2: 0.5 h x 100 + 0.25 h x 200. */
    assert_near(
        gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + 2 * STEP + STEP / 2), 100);
    /* A job the plan does not hold has only the free room: 0.5 h x (0 + 200 + 400). */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, NULL, 400, T0 + STEP, T0 + 4 * STEP), 300);
    /* Past the plan's end, its full power: an hour more, 400 kWh. */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + 6 * STEP), 750);
    /* Nothing when due before the step's end. */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + STEP), 0);
    /* Its device a cluster of the plan, cap 500 kW, its jobs planned at 100 / 300 / 200 after
     * the step: step 2 has 200 kW free under the cluster's cap (of the site's 200), step 3
     * 300 (of the site's 800): 0.5 h x (100 + 200 + 300). */
    const double device[4] = {400, 100, 300, 200};
    room.cluster_kw = device;
    room.cluster_cap_kw = 500;
    assert_near(gridems_peak_guard_catch_up_kwh(&room, job, 400, T0 + STEP, T0 + 4 * STEP), 300);
    room.cluster_kw = NULL;
    /* Where the cap is full after the step, a job behind its plan cannot catch up: it gives
     * nothing now. 500 kWh left, 300 planned after the step (step 1 at 400, step 2 at 200),
     * the cap full in both: it needs 200 kWh in the 20 minutes left, its whole 600 kW. */
    const double full[3] = {1000, 1000, 1000}, planned[3] = {600, 400, 200};
    gridems_peak_guard_room_t tight = {T0, STEP, 3, full, 1000, NULL, NULL, HUGE_VAL, NULL};
    double after = gridems_peak_guard_catch_up_kwh(&tight, planned, 600, T0 + STEP, T0 + 3 * STEP);
    assert_near(after, 300);
    assert_near(gridems_peak_guard_job_sheddable_kw(600, 500, after, T0 + 10 * MIN_MS, T0 + STEP),
                0);
    /* Judged at its full power after the step (the rule before the cap was counted: 600 kWh
     * after it), it needed nothing now and gave all its 600 kW. */
    assert_near(gridems_peak_guard_job_sheddable_kw(600, 500, 600, T0 + 10 * MIN_MS, T0 + STEP),
                600);
}
END_TEST

/* Two jobs held back now share the free room after the step: the first claims what it needs to
 * catch up, the second sees only the rest. */
START_TEST(test_held_back_jobs_share_the_room)
{
    /* Two 30-minute steps after the running one, 300 kW free under the cap in each; neither job
     * is planned there. */
    const double total[3] = {1000, 700, 700};
    double claimed[3] = {0, 0, 0};
    gridems_peak_guard_room_t room = {T0, STEP, 3, total, 1000, claimed, NULL, HUGE_VAL, NULL};
    const int64_t end = T0 + STEP, due = T0 + 3 * STEP;
    /* Each alone could catch up 0.5 h x 300 x 2 = 300 kWh. */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, NULL, 400, end, due), 300);
    /* The first must run 200 kWh after the step: 300 kW in step 1 (150 kWh), 100 in step 2. */
    gridems_peak_guard_claim_room(&room, NULL, 400, end, due, 200);
    assert_near(claimed[1], 300);
    assert_near(claimed[2], 100);
    /* The second sees 200 kW free in step 2 only: 100 kWh. */
    assert_near(gridems_peak_guard_catch_up_kwh(&room, NULL, 400, end, due), 100);
    /* A job's own plan comes first: one planned at 250 kW in step 1 that needs 150 kWh claims
     * nothing (0.5 h x 250 = 125, then 25 kWh of step 2's free 200 kW: 50 kW). */
    const double own[3] = {0, 250, 0};
    gridems_peak_guard_claim_room(&room, own, 400, end, due, 150);
    assert_near(claimed[1], 300);
    assert_near(claimed[2], 150);
    /* Without a claims array nothing is noted. */
    room.claimed_kw = NULL;
    gridems_peak_guard_claim_room(&room, NULL, 400, end, due, 200);
    assert_near(claimed[2], 150);
}
END_TEST

/* Two devices, each a cluster of the plan, under one site cap: the site's claims are shared by
 * both devices' jobs, each device's own claims only by its jobs. */
START_TEST(test_claims_of_two_clusters)
{
    /* The site's cap 1000 kW with 600 planned after the step (400 free); device a (cap 300)
     * planned 100 kW there, device b (cap 500) 200 kW. */
    const double total[3] = {1000, 600, 600};
    const double dev_a[3] = {0, 100, 100}, dev_b[3] = {0, 200, 200};
    double site[3] = {0, 0, 0}, own_a[3] = {0, 0, 0}, own_b[3] = {0, 0, 0};
    const int64_t end = T0 + STEP, due = T0 + 3 * STEP;
    gridems_peak_guard_room_t a = {T0, STEP, 3, total, 1000, site, dev_a, 300, own_a};
    gridems_peak_guard_room_t b = {T0, STEP, 3, total, 1000, site, dev_b, 500, own_b};
    /* Alone, a job of a can use 200 kW (its device's cap), one of b 300: 0.5 h x 2 steps. */
    assert_near(gridems_peak_guard_catch_up_kwh(&a, NULL, 400, end, due), 200);
    assert_near(gridems_peak_guard_catch_up_kwh(&b, NULL, 400, end, due), 300);
    /* a's job needs all its 200 kWh: it claims 200 kW of both steps, of the site's room and of
     * its device's. */
    gridems_peak_guard_claim_room(&a, NULL, 400, end, due, 200);
    assert_near(site[1], 200);
    assert_near(own_a[1], 200);
    assert_near(own_b[1], 0);
    /* Another job of a finds its device full; one of b finds 200 kW of the site's room left,
     * under its own 300. */
    assert_near(gridems_peak_guard_catch_up_kwh(&a, NULL, 400, end, due), 0);
    assert_near(gridems_peak_guard_catch_up_kwh(&b, NULL, 400, end, due), 200);
    /* Counted apart (each device its own site claims, as before), b would count 300. */
    double apart[3] = {0, 0, 0};
    b.claimed_kw = apart;
    assert_near(gridems_peak_guard_catch_up_kwh(&b, NULL, 400, end, due), 300);
}
END_TEST

START_TEST(test_deterministic)
{
    /* Same inputs, same decision, bit for bit (a backtest replays it). */
    gridems_peak_guard_in_t in = jump_input();
    in.import_kw = 12345.678;
    gridems_peak_guard_out_t a, b;
    gridems_peak_guard_decide(&in, &a);
    gridems_peak_guard_decide(&in, &b);
    ck_assert(a.shed_kw == b.shed_kw && a.battery_kw == b.battery_kw &&
              a.projected_kw == b.projected_kw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peak_guard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_meter_holds_each_sample);
    tcase_add_test(tc, test_meter_first_sample_mid_step);
    tcase_add_test(tc, test_target);
    tcase_add_test(tc, test_jump_is_shed_by_batteries);
    tcase_add_test(tc, test_split_batteries_then_compute);
    tcase_add_test(tc, test_own_shed_is_not_counted_twice);
    tcase_add_test(tc, test_release_when_the_jump_ends);
    tcase_add_test(tc, test_margin_and_tolerance);
    tcase_add_test(tc, test_late_in_the_step);
    tcase_add_test(tc, test_job_sheddable);
    tcase_add_test(tc, test_catch_up_under_the_cap);
    tcase_add_test(tc, test_held_back_jobs_share_the_room);
    tcase_add_test(tc, test_claims_of_two_clusters);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
