/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the timers on the service clock (timers.h) and the stepped clock they wait for:
 * a stepped clock stands still and never goes back; timers fire in (due time, arming order),
 * repeat on the host clock, may be stopped or re-armed from a callback; on a real clock the same
 * calls run a libuv timer.
 */
#include "check_run.h"
#include "clock.h"
#include "gridems/errors.h"
#include "timers.h"

#include <check.h>
#include <stdlib.h>
#include <uv.h>

#define START_MS INT64_C(1683471600000) /* 2023-05-08T00:00:00+09:00 */

typedef struct fixture_s {
    uv_loop_t loop;
    gridems_clock_t clock;
    gridems_timers_t set;
    gridems_timer_t t[4];
    char log[64]; /* the order callbacks ran in, one letter each */
    int n;
} fixture_t;

static fixture_t fx;

static void note(uv_timer_t *h)
{
    gridems_timer_t *t = (gridems_timer_t *)h;
    fx.log[fx.n++] = (char)('a' + (t - fx.t));
    fx.log[fx.n] = '\0';
}

static void stop_b(uv_timer_t *h)
{
    note(h);
    gridems_timer_stop(&fx.t[1]);
}

static void setup_stepped(void)
{
    uv_loop_init(&fx.loop);
    ck_assert_int_eq(gridems_clock_init(&fx.clock, GRIDEMS_CLOCK_STEPPED, START_MS, 1), 0);
    gridems_timers_init(&fx.set, &fx.loop, &fx.clock);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(gridems_timer_init(&fx.set, &fx.t[i]), 0);
    }
    fx.n = 0;
    fx.log[0] = '\0';
}

static void teardown(void)
{
    for (int i = 0; i < 4; i++) {
        gridems_timer_stop(&fx.t[i]);
        uv_close((uv_handle_t *)&fx.t[i].uv, NULL);
    }
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx.loop);
}

START_TEST(stepped_clock_stands_still)
{
    setup_stepped();
    ck_assert_int_eq(gridems_clock_now_ms(&fx.clock), START_MS);
    ck_assert_int_eq(gridems_clock_step_to(&fx.clock, START_MS + 5000), 0);
    ck_assert_int_eq(gridems_clock_now_ms(&fx.clock), START_MS + 5000);
    /* Never back. */
    ck_assert_int_eq(gridems_clock_step_to(&fx.clock, START_MS), 0);
    ck_assert_int_eq(gridems_clock_now_ms(&fx.clock), START_MS + 5000);
    gridems_clock_t real;
    gridems_clock_init(&real, GRIDEMS_CLOCK_REAL, 0, 1);
    ck_assert_int_eq(gridems_clock_step_to(&real, START_MS), GRIDEMS_EINVAL);
    teardown();
}
END_TEST

START_TEST(fire_in_due_then_arming_order)
{
    setup_stepped();
    gridems_timer_start(&fx.t[2], note, 1000, 0);
    gridems_timer_start(&fx.t[0], note, 2000, 0);
    gridems_timer_start(&fx.t[1], note, 1000, 0); /* same due time as c, armed later */
    gridems_timer_start(&fx.t[3], note, 0, 0);    /* due now */
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), START_MS);
    ck_assert_int_eq(gridems_timers_fire_due(&fx.set, START_MS), 1);
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), START_MS + 1000);
    gridems_clock_step_to(&fx.clock, START_MS + 2000);
    ck_assert_int_eq(gridems_timers_fire_due(&fx.set, START_MS + 2000), 3);
    ck_assert_str_eq(fx.log, "dcba");
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), INT64_MAX);
    ck_assert(!gridems_timer_is_armed(&fx.t[0]));
    teardown();
}
END_TEST

START_TEST(repeat_on_host_clock_and_stop_from_callback)
{
    setup_stepped();
    gridems_timer_start(&fx.t[0], note, 60000, 60000);
    gridems_timer_start(&fx.t[1], note, 90000, 30000);
    /* Four minutes at once: every due firing happens, in time order. */
    gridems_clock_step_to(&fx.clock, START_MS + 240000);
    gridems_timers_fire_due(&fx.set, START_MS + 240000);
    /* a at 1, 2, 3, 4 min; b at 1.5, 2, 2.5, 3, 3.5, 4 min; at equal times a first: each was
     * re-armed when it last fired, and a fired last before b did. */
    ck_assert_str_eq(fx.log, "ababbabbab");
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), START_MS + 270000);
    /* A callback may stop another timer; a re-arm replaces the schedule. */
    gridems_timer_start(&fx.t[2], stop_b, 1000, 0);
    gridems_timer_start(&fx.t[0], note, 500000, 0);
    fx.n = 0;
    gridems_clock_step_to(&fx.clock, START_MS + 300000);
    gridems_timers_fire_due(&fx.set, START_MS + 300000);
    ck_assert_str_eq(fx.log, "c");
    ck_assert(!gridems_timer_is_armed(&fx.t[1]));
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), START_MS + 240000 + 500000);
    gridems_timer_set_repeat(&fx.t[0], 1000);
    gridems_clock_step_to(&fx.clock, START_MS + 742000);
    fx.n = 0;
    gridems_timers_fire_due(&fx.set, START_MS + 742000);
    ck_assert_str_eq(fx.log, "aaa");
    teardown();
}
END_TEST

static int real_fired;

static void on_real(uv_timer_t *h)
{
    (void)h;
    real_fired++;
}

START_TEST(real_clock_runs_libuv_timers)
{
    uv_loop_init(&fx.loop);
    gridems_clock_init(&fx.clock, GRIDEMS_CLOCK_REAL, 0, 1);
    gridems_timers_init(&fx.set, &fx.loop, &fx.clock);
    for (int i = 0; i < 4; i++) {
        gridems_timer_init(&fx.set, &fx.t[i]);
    }
    real_fired = 0;
    gridems_timer_start(&fx.t[0], on_real, 1, 0);
    gridems_timer_start_real(&fx.t[1], on_real, 2, 0);
    ck_assert(gridems_timer_is_armed(&fx.t[0]));
    ck_assert_int_eq(gridems_timers_next_due(&fx.set), INT64_MAX); /* nothing waits for a step */
    uv_run(&fx.loop, UV_RUN_DEFAULT);                              /* ends when both fired */
    ck_assert_int_eq(real_fired, 2);
    teardown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timers");
    TCase *tc = tcase_create("timers");
    tcase_add_test(tc, stepped_clock_stands_still);
    tcase_add_test(tc, fire_in_due_then_arming_order);
    tcase_add_test(tc, repeat_on_host_clock_and_stop_from_callback);
    tcase_add_test(tc, real_clock_runs_libuv_timers);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
