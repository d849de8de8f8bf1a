/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the service clock: simulated speed maths against the monotonic clock, the
 * conversion of simulated durations into real timer delays, the real mode, pinning for tests, and
 * lock-free reads from another thread.
 */
#include "check_run.h"
#include "clock.h"
#include "gridems/errors.h"
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#define START_MS INT64_C(1778425200000) /* 2026-05-11T00:00:00+09:00 */

START_TEST(simulated_runs_at_speed)
{
    static const double speeds[] = {1.0, 60.0, 1000.0, 0.5};
    for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++) {
        gridems_clock_t c;
        uint64_t before_init = uv_hrtime();
        ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, speeds[i]), 0);
        uint64_t after_init = uv_hrtime();
        ck_assert_int_eq(gridems_clock_mode(&c), GRIDEMS_CLOCK_SIMULATED);
        ck_assert(gridems_clock_speed(&c) == speeds[i]);
        /* At once it reads (about) the start. */
        int64_t t0 = gridems_clock_now_ms(&c);
        ck_assert(t0 >= START_MS);
        test_sleep_ms(40);
        uint64_t before_read = uv_hrtime();
        int64_t t1 = gridems_clock_now_ms(&c);
        uint64_t after_read = uv_hrtime();
        /* Simulated elapsed time lies between speed * (the shortest and longest real intervals
         * that can separate init from the read), give or take the flooring to whole ms. */
        double lo = (double)(before_read - after_init) / 1e6 * speeds[i] - 1;
        double hi = (double)(after_read - before_init) / 1e6 * speeds[i] + 1;
        double got = (double)(t1 - START_MS);
        ck_assert_msg(got >= lo && got <= hi, "speed %g: elapsed %g, want %g..%g", speeds[i], got,
                      lo, hi);
        ck_assert(got >= 40 * speeds[i] - 1);
    }
}
END_TEST

START_TEST(simulated_is_monotonic)
{
    gridems_clock_t c;
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 1e6), 0);
    int64_t prev = gridems_clock_now_ms(&c);
    for (int i = 0; i < 100000; i++) {
        int64_t now = gridems_clock_now_ms(&c);
        ck_assert(now >= prev);
        prev = now;
    }
    ck_assert(prev > START_MS);
}
END_TEST

START_TEST(real_delay_conversion)
{
    gridems_clock_t c;
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 60), 0);
    /* Five minutes of site time at 60x are five real seconds. */
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 300000), 5000);
    /* Rounded up, never below 1 ms. */
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 61), 2);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 1), 1);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 0), 1);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, -5000), 1);

    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 3), 0);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 10), 4); /* ceil(3.33) */
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 9), 3);

    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 0.5), 0);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 1000), 2000);

    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 1e6), 0);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 1000), 1);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 86400000), 87); /* a day in 86.4 ms */

    /* Capped at a year, whatever is asked. */
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 1e-3), 0);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, INT64_MAX), (uint64_t)366 * 86400 * 1000);

    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_REAL, 0, 0), 0);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 1234), 1234);
    ck_assert_uint_eq(gridems_clock_real_delay_ms(&c, 0), 1);
}
END_TEST

START_TEST(real_mode_follows_wall_clock)
{
    gridems_clock_t c;
    /* start and speed are ignored in real mode. */
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_REAL, 42, -1), 0);
    ck_assert_int_eq(gridems_clock_mode(&c), GRIDEMS_CLOCK_REAL);
    ck_assert(gridems_clock_speed(&c) == 1.0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t now = gridems_clock_now_ms(&c);
    ck_assert(llabs(now - wall) < 2000);
    /* Monotonic-ish: no step backwards over a short run (a wall-clock step during the test would
     * break this, which is why real mode is not used for simulation). */
    int64_t prev = now;
    for (int i = 0; i < 10000; i++) {
        int64_t t = gridems_clock_now_ms(&c);
        ck_assert(t >= prev);
        prev = t;
    }
    test_sleep_ms(20);
    ck_assert(gridems_clock_now_ms(&c) >= now + 19);
}
END_TEST

START_TEST(invalid_init_is_refused)
{
    gridems_clock_t c;
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, -1), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, NAN),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 2e6),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, INT64_MAX, 1), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_clock_init(&c, (gridems_clock_mode_t)7, START_MS, 1), GRIDEMS_EINVAL);
    /* Still safe to read: a real clock. */
    ck_assert_int_eq(gridems_clock_mode(&c), GRIDEMS_CLOCK_REAL);
    ck_assert(gridems_clock_now_ms(&c) > START_MS - INT64_C(86400000) * 3650);
}
END_TEST

START_TEST(fixed_time_pins_and_releases)
{
    gridems_clock_t c;
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 1000), 0);
    gridems_clock_set_fixed_ms(&c, 123456);
    ck_assert_int_eq(gridems_clock_now_ms(&c), 123456);
    test_sleep_ms(10);
    ck_assert_int_eq(gridems_clock_now_ms(&c), 123456);
    gridems_clock_set_fixed_ms(&c, -5);
    ck_assert_int_eq(gridems_clock_now_ms(&c), -5);
    /* Released, the simulated clock continues as if it had never been pinned. */
    gridems_clock_unset_fixed(&c);
    ck_assert(gridems_clock_now_ms(&c) >= START_MS + 10 * 1000);

    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_REAL, 0, 1), 0);
    gridems_clock_set_fixed_ms(&c, START_MS);
    ck_assert_int_eq(gridems_clock_now_ms(&c), START_MS);
    gridems_clock_unset_fixed(&c);
    ck_assert(gridems_clock_now_ms(&c) > START_MS - INT64_C(86400000) * 3650);
}
END_TEST

typedef struct reader_s {
    gridems_clock_t *clock;
    atomic_int stop;
    int bad;
    long reads;
} reader_t;

static void reader_main(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        int64_t t = gridems_clock_now_ms(r->clock);
        /* Either one of the two pinned values or the running simulated time: never a torn
         * mixture. */
        if (t != 1000 && t != 2000 && t < START_MS) {
            r->bad++;
        }
        r->reads++;
    }
}

START_TEST(reads_from_another_thread)
{
    gridems_clock_t c;
    ck_assert_int_eq(gridems_clock_init(&c, GRIDEMS_CLOCK_SIMULATED, START_MS, 10), 0);
    reader_t r = {.clock = &c};
    atomic_init(&r.stop, 0);
    uv_thread_t th;
    ck_assert_int_eq(uv_thread_create(&th, reader_main, &r), 0);
    for (int i = 0; i < 2000; i++) {
        gridems_clock_set_fixed_ms(&c, (i & 1) ? 1000 : 2000);
        if ((i % 3) == 0) {
            gridems_clock_unset_fixed(&c);
        }
    }
    test_sleep_ms(5);
    atomic_store(&r.stop, 1);
    ck_assert_int_eq(uv_thread_join(&th), 0);
    ck_assert_int_eq(r.bad, 0);
    ck_assert(r.reads > 0);
}
END_TEST

static Suite *clock_suite(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, simulated_runs_at_speed);
    tcase_add_test(tc, simulated_is_monotonic);
    tcase_add_test(tc, real_delay_conversion);
    tcase_add_test(tc, real_mode_follows_wall_clock);
    tcase_add_test(tc, invalid_init_is_refused);
    tcase_add_test(tc, fixed_time_pins_and_releases);
    tcase_add_test(tc, reads_from_another_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(clock_suite());
}
