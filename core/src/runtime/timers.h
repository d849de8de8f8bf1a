/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Timers on the service clock. Every timer of the service and of its plugins is armed here, in
 * host-clock milliseconds, so that one mechanism serves all three clocks (clock.h):
 *   - real and simulated clock: a libuv timer with the delay converted to real milliseconds;
 *   - stepped clock: nothing runs by itself. An armed timer waits in a list, ordered by its due
 *     time and then by the order it was armed in; the lockstep (lockstep.h) asks for the next due
 *     time, moves the clock there and fires what is due. Two runs fire the same timers in the
 *     same order at the same instants.
 *
 * A gridems_timer_t embeds its uv_timer_t as the first member, so the owner keeps treating it
 * as a libuv handle: `.uv.data` is the owner's, callbacks receive the uv_timer_t, and it is
 * closed with uv_close((uv_handle_t *)&t->uv, ...) after gridems_timer_stop().
 *
 * Threads: the loop thread only. Ownership: the set and the timers are embedded by their owner;
 * the set borrows the loop and the clock, which must outlive it.
 */
#ifndef GRIDEMS_TIMERS_H
#define GRIDEMS_TIMERS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"

typedef struct gridems_timer_s gridems_timer_t;

/* The timers of one service: the loop and clock they run on, and (stepped) the armed list. */
typedef struct gridems_timers_s {
    uv_loop_t *loop;
    gridems_clock_t *clock;
    gridems_timer_t *armed; /* stepped: the armed timers, earliest first */
    uint64_t seq;           /* arming order, breaks ties between equal due times */
} gridems_timers_t;

struct gridems_timer_s {
    uv_timer_t uv; /* first member: the handle the owner closes; .data is the owner's */
    gridems_timers_t *set;
    uv_timer_cb cb;
    /* Stepped clock only. */
    int64_t due_ms;    /* host clock */
    int64_t repeat_ms; /* host-clock ms; 0 = once */
    uint64_t seq;
    bool armed;
    gridems_timer_t *next;
};

/* gridems_timers_init: a set on `loop` and `clock` (both borrowed). Thread: loop. */
void gridems_timers_init(gridems_timers_t *set, uv_loop_t *loop, gridems_clock_t *clock);

/* gridems_timer_init: set up t (uv_timer_init). Returns 0 or a libuv error. Keep .uv.data as the
 * owner's: set it after this call. */
int gridems_timer_init(gridems_timers_t *set, gridems_timer_t *t);

/*
 * gridems_timer_start: arm t to call cb after first_ms of host-clock time, then every repeat_ms
 * (0 = once). Re-arming an armed timer replaces its schedule. On a real or simulated clock the
 * delays become real milliseconds (gridems_clock_real_delay_ms, never less than 1 ms).
 */
void gridems_timer_start(gridems_timer_t *t, uv_timer_cb cb, int64_t first_ms, int64_t repeat_ms);

/*
 * gridems_timer_start_real: the same, for a delay that is real time on a real or simulated
 * clock (a debounce, a plugin's loop timer). On a stepped clock there is no real time: the
 * delay counts on the host clock.
 */
void gridems_timer_start_real(gridems_timer_t *t, uv_timer_cb cb, uint64_t first_ms,
                              uint64_t repeat_ms);

/* gridems_timer_set_repeat: change the host-clock period of a repeating timer from its next
 * firing on. */
void gridems_timer_set_repeat(gridems_timer_t *t, int64_t repeat_ms);

/* gridems_timer_stop: disarm t (idempotent). Call before closing its handle. */
void gridems_timer_stop(gridems_timer_t *t);

/* gridems_timer_is_armed: whether t will still fire. */
bool gridems_timer_is_armed(const gridems_timer_t *t);

/* Stepped clock: the host-clock time the earliest armed timer is due at, or INT64_MAX. */
int64_t gridems_timers_next_due(const gridems_timers_t *set);

/*
 * Stepped clock: fire, in (due time, arming order), every timer due at or before `now_ms`,
 * including those that become due while firing (a repeating timer whose next due time is still
 * <= now_ms fires again). Returns the number of callbacks run.
 */
int gridems_timers_fire_due(gridems_timers_t *set, int64_t now_ms);

#endif
