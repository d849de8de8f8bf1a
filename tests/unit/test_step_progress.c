/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/planning/step_progress.c: a job's energy since the running step began,
 * and the power for the rest of a step planned as a whole.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check_run.h"
#include "step_progress.h"

#define STEP INT64_C(1800000)
#define S0 INT64_C(1683471600000) /* a step start */

START_TEST(test_first_sight_is_the_start)
{
    gridems_step_progress_t sp;
    gridems_step_progress_init(&sp);
    /* First seen 5 minutes into the step with 120 kWh: that is its start, nothing delivered. */
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 120) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 150) == 30);
    ck_assert(gridems_step_progress_observe(&sp, S0, "b", 7) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 175.5) == 55.5);
    ck_assert(gridems_step_progress_observe(&sp, S0, "b", 9) == 2);
    /* The next step starts from what it has then. */
    ck_assert(gridems_step_progress_observe(&sp, S0 + STEP, "a", 180) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0 + STEP, "a", 200) == 20);
    ck_assert_int_eq(sp.n, 1); /* "b" was forgotten with its step */
    gridems_step_progress_free(&sp);
    gridems_step_progress_free(&sp); /* safe twice */
}
END_TEST

START_TEST(test_count_restarted_and_bad_input)
{
    gridems_step_progress_t sp;
    gridems_step_progress_init(&sp);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 100) == 0);
    /* A device that restarts its count: taken as starting again, never negative. */
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 10) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 25) == 15);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", NAN) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, NULL, 5) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 30) == 20);
    /* Many jobs: the table grows. */
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        ck_assert(gridems_step_progress_observe(&sp, S0, id, i) == 0);
    }
    ck_assert(gridems_step_progress_observe(&sp, S0, "job-99", 101) == 2);
    gridems_step_progress_free(&sp);
}
END_TEST

START_TEST(test_rest_of_the_step)
{
    /* 600 kW mean over a half-hour step = 300 kWh. 20 minutes in, 150 kWh delivered: 150 kWh
     * in the 10 minutes left = 900 kW. */
    ck_assert(fabs(gridems_step_progress_rest_kw(600, 0.5, 10.0 / 60, 150, 1000) - 900) < 1e-9);
    /* More than the job's power: its power. */
    ck_assert(gridems_step_progress_rest_kw(600, 0.5, 10.0 / 60, 100, 1000) == 1000);
    /* At the step's start it is the plan's power. */
    ck_assert(fabs(gridems_step_progress_rest_kw(600, 0.5, 0.5, 0, 1000) - 600) < 1e-9);
    /* The step's energy already delivered (or more): nothing for the rest. */
    ck_assert(gridems_step_progress_rest_kw(600, 0.5, 0.2, 300, 1000) == 0);
    ck_assert(gridems_step_progress_rest_kw(600, 0.5, 0.2, 350, 1000) == 0);
    ck_assert(gridems_step_progress_rest_kw(0, 0.5, 0.2, 0, 1000) == 0);
    /* The step is over with energy left: full power; nothing left: 0. */
    ck_assert(gridems_step_progress_rest_kw(600, 0.5, 0, 100, 1000) == 1000);
    ck_assert(gridems_step_progress_rest_kw(600, 0.5, 0, 300, 1000) == 0);
}
END_TEST

START_TEST(test_the_plan_in_force_counts_from_its_snapshot)
{
    gridems_step_progress_t sp;
    gridems_step_progress_init(&sp);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 100) == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 130) == 30);
    /* A plan built now counts the 30 kWh as load; it is in force once adopted. */
    gridems_step_progress_snapshot(&sp);
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0, "a") == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0, "a", 140) == 40);
    gridems_step_progress_adopt(&sp);
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0, "a") == 30);
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0, "b") == 0);
    /* A job first seen after the snapshot was not counted by the plan. */
    ck_assert(gridems_step_progress_observe(&sp, S0, "b", 1) == 0);
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0, "b") == 0);
    /* Another step: the plan was built before it. */
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0 + STEP, "a") == 0);
    ck_assert(gridems_step_progress_observe(&sp, S0 + STEP, "a", 150) == 0);
    ck_assert(gridems_step_progress_planned_kwh(&sp, S0 + STEP, "a") == 0);
    gridems_step_progress_free(&sp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("step_progress");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_first_sight_is_the_start);
    tcase_add_test(tc, test_count_restarted_and_bad_input);
    tcase_add_test(tc, test_rest_of_the_step);
    tcase_add_test(tc, test_the_plan_in_force_counts_from_its_snapshot);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
