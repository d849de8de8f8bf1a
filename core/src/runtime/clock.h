/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The service clock: the one source of "now" for planning, billing periods and published
 * timestamps, so a whole day can be replayed in minutes against simulated devices.
 *
 * Three modes:
 *   - real: the wall clock (CLOCK_REALTIME), in milliseconds since the Unix epoch;
 *   - simulated: start_ms + speed * (monotonic now - monotonic at init), i.e. a clock that starts
 *     at a configured instant and runs `speed` times faster than real time. It is derived from the
 *     monotonic clock, so a wall-clock step (NTP, an operator's `date -s`) does not move it;
 *   - stepped: a clock that stands still at start_ms until its owner moves it on
 *     (gridems_clock_step_to). The backtest's lockstep (lockstep.h) moves it only when the service
 *     is done with the present, so what the service does cannot depend on how fast the machine is.
 * Timers (timers.h) are armed in host-clock milliseconds: on a real or simulated clock
 * gridems_clock_real_delay_ms() converts a simulated duration ("re-plan in 300 s of site time")
 * into the real delay to hand to uv_timer_start(); on a stepped clock they wait for the clock.
 *
 * Tests can pin the clock to a fixed instant (gridems_clock_set_fixed_ms), in either mode.
 *
 * Threads: the mode, start and speed are fixed by init and never change afterwards; the fixed
 * instant is an atomic. Every read may therefore run on any thread concurrently (the solver
 * thread reads it) without a lock. Init must happen before the clock is shared.
 */
#ifndef GRIDEMS_CLOCK_H
#define GRIDEMS_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    GRIDEMS_CLOCK_REAL = 0,      /* the wall clock */
    GRIDEMS_CLOCK_SIMULATED = 1, /* start + speed * elapsed monotonic time */
    GRIDEMS_CLOCK_STEPPED = 2    /* stands still until gridems_clock_step_to() */
} gridems_clock_mode_t;

/* The largest accepted simulation speed (simulated seconds per real second). */
#define GRIDEMS_CLOCK_MAX_SPEED 1e6

/* Embedded by the caller. The fields are private: use the functions below. */
typedef struct gridems_clock_s {
    gridems_clock_mode_t mode;
    int64_t start_ms;         /* simulated: the instant at init */
    double speed;             /* simulated: simulated ms per real ms; real: 1 */
    uint64_t mono_start_ns;   /* simulated: uv_hrtime() at init */
    _Atomic int64_t fixed_ms; /* the pinned instant, or INT64_MIN when not pinned */
    _Atomic int64_t step_ms;  /* stepped: the present */
} gridems_clock_t;

/*
 * gridems_clock_init: set up a clock.
 * Parameters:
 *   c: borrowed, caller-allocated, overwritten (need not be initialised);
 *   mode: GRIDEMS_CLOCK_REAL (start_ms and speed are ignored), GRIDEMS_CLOCK_SIMULATED or
 *     GRIDEMS_CLOCK_STEPPED (speed is ignored);
 *   start_ms: the simulated instant at the moment of this call, in ms since the epoch (within
 *     GRIDEMS_TIME_MIN_MS..GRIDEMS_TIME_MAX_MS);
 *   speed: simulated seconds per real second, > 0 and <= GRIDEMS_CLOCK_MAX_SPEED.
 * Returns: 0, or GRIDEMS_EINVAL for an unknown mode or an out-of-range start or speed (c is then
 *   left as a real clock, so it is still safe to read).
 * Thread: any, before the clock is shared with other threads. Nothing needs freeing.
 */
int gridems_clock_init(gridems_clock_t *c, gridems_clock_mode_t mode, int64_t start_ms,
                       double speed);

/*
 * gridems_clock_now_ms: the clock's current time, in ms since the Unix epoch (UTC): the pinned
 * instant if one is set, else the wall clock (real) or the simulated time.
 * Parameters: c (borrowed).
 * Returns: the time. Thread: any; lock-free.
 */
int64_t gridems_clock_now_ms(const gridems_clock_t *c);

/*
 * gridems_clock_real_delay_ms: the real delay, in ms, after which `sim_ms` milliseconds of the
 * clock's time will have passed: sim_ms / speed rounded up, and never less than 1 ms (a zero
 * timeout would make uv_timer_start() fire in the same loop iteration, which busy-loops a
 * re-arming timer). A non-positive sim_ms also gives 1. The result is capped at one year of real
 * time so that it always fits a timer.
 * Parameters: c (borrowed); sim_ms.
 * Returns: the delay for uv_timer_start(). Thread: any.
 */
uint64_t gridems_clock_real_delay_ms(const gridems_clock_t *c, int64_t sim_ms);

/*
 * gridems_clock_step_to: move a stepped clock on to `ms`. A stepped clock never goes back: a
 * time before the present is ignored.
 * Parameters: c (borrowed); ms.
 * Returns: 0, or GRIDEMS_EINVAL when the clock is not stepped or ms is out of range.
 * Thread: the owner's (the loop thread); readers on other threads see the change atomically.
 */
int gridems_clock_step_to(gridems_clock_t *c, int64_t ms);

/* gridems_clock_mode / gridems_clock_speed: what init set (speed is 1 for a real clock).
 * Parameters: c (borrowed). Thread: any. */
gridems_clock_mode_t gridems_clock_mode(const gridems_clock_t *c);
double gridems_clock_speed(const gridems_clock_t *c);

/*
 * gridems_clock_set_fixed_ms / gridems_clock_unset_fixed: TESTS ONLY. Pin the clock to `ms` until
 * unset (now_ms then returns exactly ms, whatever the mode), or release the pin so the clock runs
 * again as init defined it (a simulated clock continues as if it had never been pinned).
 * Parameters: c (borrowed); ms (any value but INT64_MIN).
 * Thread: any; readers on other threads see the change atomically.
 */
void gridems_clock_set_fixed_ms(gridems_clock_t *c, int64_t ms);
void gridems_clock_unset_fixed(gridems_clock_t *c);

#endif
