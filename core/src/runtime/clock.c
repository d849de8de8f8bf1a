/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "clock.h"

#include <math.h>
#include <time.h>
#include <uv.h>

#include "gridems/errors.h"
#include "timeutil.h"

/* One year of real time: the longest delay ever handed to a timer. */
#define MAX_REAL_DELAY_MS ((uint64_t)366 * 86400 * 1000)

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        /* CLOCK_REALTIME cannot fail on Linux; 0 is an obviously wrong but harmless answer. */
        return 0;
    }
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gridems_clock_init(gridems_clock_t *c, gridems_clock_mode_t mode, int64_t start_ms,
                       double speed)
{
    /* Start as a valid real clock, so that a failed init still leaves something readable. */
    c->mode = GRIDEMS_CLOCK_REAL;
    c->start_ms = 0;
    c->speed = 1.0;
    c->mono_start_ns = 0;
    atomic_init(&c->fixed_ms, INT64_MIN);
    atomic_init(&c->step_ms, 0);
    if (mode == GRIDEMS_CLOCK_REAL) {
        return 0;
    }
    if (mode == GRIDEMS_CLOCK_STEPPED) {
        if (start_ms < GRIDEMS_TIME_MIN_MS || start_ms > GRIDEMS_TIME_MAX_MS) {
            return GRIDEMS_EINVAL;
        }
        c->mode = GRIDEMS_CLOCK_STEPPED;
        c->start_ms = start_ms;
        atomic_store(&c->step_ms, start_ms);
        return 0;
    }
    if (mode != GRIDEMS_CLOCK_SIMULATED || !isfinite(speed) || speed <= 0.0 ||
        speed > GRIDEMS_CLOCK_MAX_SPEED || start_ms < GRIDEMS_TIME_MIN_MS ||
        start_ms > GRIDEMS_TIME_MAX_MS) {
        return GRIDEMS_EINVAL;
    }
    c->mode = GRIDEMS_CLOCK_SIMULATED;
    c->start_ms = start_ms;
    c->speed = speed;
    c->mono_start_ns = uv_hrtime();
    return 0;
}

int64_t gridems_clock_now_ms(const gridems_clock_t *c)
{
    int64_t fixed = atomic_load(&c->fixed_ms);
    if (fixed != INT64_MIN) {
        return fixed;
    }
    if (c->mode == GRIDEMS_CLOCK_REAL) {
        return wall_now_ms();
    }
    if (c->mode == GRIDEMS_CLOCK_STEPPED) {
        return atomic_load(&c->step_ms);
    }
    /* Elapsed real time in ms as a double keeps sub-millisecond precision, so a speed of 1000
     * still advances the simulated clock smoothly rather than in 1-second jumps. A double holds
     * whole milliseconds exactly far beyond any uptime. */
    double elapsed_ms = (double)(uv_hrtime() - c->mono_start_ns) / 1e6;
    double sim = (double)c->start_ms + floor(elapsed_ms * c->speed);
    if (sim > (double)GRIDEMS_TIME_MAX_MS) {
        /* Only after centuries at full speed; saturate rather than overflow. */
        return GRIDEMS_TIME_MAX_MS;
    }
    return (int64_t)sim;
}

uint64_t gridems_clock_real_delay_ms(const gridems_clock_t *c, int64_t sim_ms)
{
    if (sim_ms <= 0) {
        return 1;
    }
    double real = ceil((double)sim_ms / c->speed);
    if (real < 1.0) {
        return 1;
    }
    if (real > (double)MAX_REAL_DELAY_MS) {
        return MAX_REAL_DELAY_MS;
    }
    return (uint64_t)real;
}

int gridems_clock_step_to(gridems_clock_t *c, int64_t ms)
{
    if (c->mode != GRIDEMS_CLOCK_STEPPED || ms < GRIDEMS_TIME_MIN_MS || ms > GRIDEMS_TIME_MAX_MS) {
        return GRIDEMS_EINVAL;
    }
    if (ms > atomic_load(&c->step_ms)) {
        atomic_store(&c->step_ms, ms);
    }
    return 0;
}

gridems_clock_mode_t gridems_clock_mode(const gridems_clock_t *c)
{
    return c->mode;
}

double gridems_clock_speed(const gridems_clock_t *c)
{
    return c->speed;
}

void gridems_clock_set_fixed_ms(gridems_clock_t *c, int64_t ms)
{
    atomic_store(&c->fixed_ms, ms);
}

void gridems_clock_unset_fixed(gridems_clock_t *c)
{
    atomic_store(&c->fixed_ms, INT64_MIN);
}
