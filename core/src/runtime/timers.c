/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "timers.h"

#include <stddef.h>

static bool stepped(const gridems_timers_t *set)
{
    return gridems_clock_mode(set->clock) == GRIDEMS_CLOCK_STEPPED;
}

void gridems_timers_init(gridems_timers_t *set, uv_loop_t *loop, gridems_clock_t *clock)
{
    set->loop = loop;
    set->clock = clock;
    set->armed = NULL;
    set->seq = 0;
}

int gridems_timer_init(gridems_timers_t *set, gridems_timer_t *t)
{
    t->set = set;
    t->cb = NULL;
    t->due_ms = 0;
    t->repeat_ms = 0;
    t->seq = 0;
    t->armed = false;
    t->next = NULL;
    return uv_timer_init(set->loop, &t->uv);
}

static void unlink_armed(gridems_timer_t *t)
{
    for (gridems_timer_t **p = &t->set->armed; *p != NULL; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
    t->armed = false;
}

/* Insert in (due, seq) order: a new arming always gets the largest seq, so it goes after every
 * timer due at the same instant. */
static void link_armed(gridems_timer_t *t, int64_t due_ms)
{
    gridems_timers_t *set = t->set;
    t->due_ms = due_ms;
    t->seq = ++set->seq;
    gridems_timer_t **p = &set->armed;
    while (*p != NULL && (*p)->due_ms <= due_ms) {
        p = &(*p)->next;
    }
    t->next = *p;
    *p = t;
    t->armed = true;
}

static void arm_stepped(gridems_timer_t *t, uv_timer_cb cb, int64_t first_ms, int64_t repeat_ms)
{
    if (t->armed) {
        unlink_armed(t);
    }
    t->cb = cb;
    t->repeat_ms = repeat_ms > 0 ? repeat_ms : 0;
    link_armed(t, gridems_clock_now_ms(t->set->clock) + (first_ms > 0 ? first_ms : 0));
}

void gridems_timer_start(gridems_timer_t *t, uv_timer_cb cb, int64_t first_ms, int64_t repeat_ms)
{
    if (stepped(t->set)) {
        arm_stepped(t, cb, first_ms, repeat_ms);
        return;
    }
    const gridems_clock_t *c = t->set->clock;
    t->cb = cb;
    uint64_t first = first_ms <= 0 ? 0 : gridems_clock_real_delay_ms(c, first_ms);
    uint64_t repeat = repeat_ms <= 0 ? 0 : gridems_clock_real_delay_ms(c, repeat_ms);
    uv_timer_start(&t->uv, cb, first, repeat);
}

void gridems_timer_start_real(gridems_timer_t *t, uv_timer_cb cb, uint64_t first_ms,
                              uint64_t repeat_ms)
{
    if (stepped(t->set)) {
        arm_stepped(t, cb, (int64_t)first_ms, (int64_t)repeat_ms);
        return;
    }
    t->cb = cb;
    uv_timer_start(&t->uv, cb, first_ms, repeat_ms);
}

void gridems_timer_set_repeat(gridems_timer_t *t, int64_t repeat_ms)
{
    if (stepped(t->set)) {
        t->repeat_ms = repeat_ms > 0 ? repeat_ms : 0;
        return;
    }
    uv_timer_set_repeat(&t->uv,
                        repeat_ms <= 0 ? 0 : gridems_clock_real_delay_ms(t->set->clock, repeat_ms));
}

void gridems_timer_stop(gridems_timer_t *t)
{
    if (t->set == NULL) {
        return; /* never initialised */
    }
    if (t->armed) {
        unlink_armed(t);
    }
    uv_timer_stop(&t->uv);
}

bool gridems_timer_is_armed(const gridems_timer_t *t)
{
    if (stepped(t->set)) {
        return t->armed;
    }
    return uv_is_active((const uv_handle_t *)&t->uv) != 0;
}

int64_t gridems_timers_next_due(const gridems_timers_t *set)
{
    return set->armed != NULL ? set->armed->due_ms : INT64_MAX;
}

int gridems_timers_fire_due(gridems_timers_t *set, int64_t now_ms)
{
    int fired = 0;
    while (set->armed != NULL && set->armed->due_ms <= now_ms) {
        gridems_timer_t *t = set->armed;
        unlink_armed(t);
        if (t->repeat_ms > 0) {
            /* Re-armed before the callback, as libuv does, so that the callback may stop it. */
            int64_t next = t->due_ms + t->repeat_ms;
            link_armed(t, next);
        }
        fired++;
        t->cb(&t->uv);
    }
    return fired;
}
