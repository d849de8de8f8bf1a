/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The peak guard's arithmetic (peak_guard.h): pure functions, no clock, no state of their own.
 */
#include "peak_guard.h"

#include <math.h>
#include <string.h>

#define MS_PER_HOUR 3600000.0

void gridems_peak_guard_meter_add(gridems_peak_guard_meter_t *m, int64_t step_start_ms,
                                  int64_t now_ms, double kw)
{
    if (!isfinite(kw) || (m->has_last && now_ms < m->last_ms) || now_ms < step_start_ms) {
        return;
    }
    if (step_start_ms != m->step_start_ms || !m->has_last) {
        /* A new step: what was held at its start covers it up to this sample. */
        double held = m->has_last && m->last_ms <= step_start_ms ? m->last_kw : kw;
        m->step_start_ms = step_start_ms;
        m->energy_kwh = held * (double)(now_ms - step_start_ms) / MS_PER_HOUR;
    } else {
        m->energy_kwh += m->last_kw * (double)(now_ms - m->last_ms) / MS_PER_HOUR;
    }
    m->last_ms = now_ms;
    m->last_kw = kw;
    m->has_last = true;
}

double gridems_peak_guard_target_kw(double peak_kw, double planned_kw, double limit_kw,
                                    bool demand_charged)
{
    if (!demand_charged) {
        return limit_kw;
    }
    return fmin(limit_kw, fmax(peak_kw, planned_kw));
}

void gridems_peak_guard_decide(const gridems_peak_guard_in_t *in, gridems_peak_guard_out_t *out)
{
    memset(out, 0, sizeof *out);
    out->goal_kw = in->target_kw - fmax(0.0, in->margin_kw);
    double step_h = (double)(in->step_end_ms - in->step_start_ms) / MS_PER_HOUR;
    double left_h = (double)(in->step_end_ms - in->now_ms) / MS_PER_HOUR;
    double unguarded_kw = in->import_kw + fmax(0.0, in->in_effect_kw);
    if (!(step_h > 0) || in->now_ms < in->step_start_ms) {
        out->projected_kw = unguarded_kw;
        return;
    }
    left_h = fmin(left_h, step_h);
    out->projected_kw = (in->energy_kwh + unguarded_kw * fmax(left_h, 0.0)) / step_h;
    if (!(left_h > 0)) {
        return; /* the step is over: nothing left to change */
    }
    double excess = out->projected_kw - out->goal_kw;
    if (!(excess > GRIDEMS_PEAK_GUARD_TOLERANCE * fabs(out->goal_kw))) {
        return;
    }
    out->engaged = true;
    out->shed_kw = excess * step_h / left_h;
    out->battery_kw = fmin(out->shed_kw, fmax(0.0, in->battery_headroom_kw));
    out->compute_kw = fmin(out->shed_kw - out->battery_kw, fmax(0.0, in->compute_headroom_kw));
    out->uncovered_kw = out->shed_kw - out->battery_kw - out->compute_kw;
}

double gridems_peak_guard_job_sheddable_kw(double rest_kw, double remaining_kwh, double after_kwh,
                                           int64_t now_ms, int64_t step_end_ms)
{
    double need_kwh = remaining_kwh - after_kwh; /* in what is left of this step */
    if (!(need_kwh > 0)) {
        return rest_kw;
    }
    double left_h = (double)(step_end_ms - now_ms) / MS_PER_HOUR;
    return left_h > 0 ? fmax(0.0, rest_kw - need_kwh / left_h) : 0.0;
}

/* The hours of plan step t within [from_ms, due_ms) (0 when none). */
static double overlap_h(const gridems_peak_guard_room_t *room, int t, int64_t from_ms,
                        int64_t due_ms)
{
    int64_t a = room->grid_start_ms + (int64_t)t * room->step_ms, b = a + room->step_ms;
    a = a > from_ms ? a : from_ms;
    b = b < due_ms ? b : due_ms;
    return b > a ? (double)(b - a) / MS_PER_HOUR : 0.0;
}

/* What a job can add above its own plan in step t: the free room under the cap (and its
 * device's, with a cluster) that no other job claimed, within its power limit. */
static double extra_kw(const gridems_peak_guard_room_t *room, const double *job_kw,
                       double power_max_kw, int t, double *own_kw)
{
    *own_kw = fmin(power_max_kw, job_kw != NULL ? job_kw[t] : 0.0);
    double free_kw = room->cap_kw - room->compute_kw[t];
    if (room->claimed_kw != NULL) {
        free_kw -= room->claimed_kw[t];
    }
    if (room->cluster_kw != NULL) {
        double own_room = room->cluster_cap_kw - room->cluster_kw[t];
        if (room->cluster_claimed_kw != NULL) {
            own_room -= room->cluster_claimed_kw[t];
        }
        free_kw = fmin(free_kw, own_room);
    }
    return fmax(0.0, fmin(power_max_kw - *own_kw, free_kw));
}

double gridems_peak_guard_catch_up_kwh(const gridems_peak_guard_room_t *room, const double *job_kw,
                                       double power_max_kw, int64_t from_ms, int64_t due_ms)
{
    if (due_ms <= from_ms) {
        return 0.0;
    }
    double kwh = 0.0;
    for (int t = 0; t < room->steps; t++) {
        double h = overlap_h(room, t, from_ms, due_ms), own;
        if (h > 0) {
            kwh += (extra_kw(room, job_kw, power_max_kw, t, &own) + own) * h;
        }
    }
    int64_t plan_end = room->grid_start_ms + (int64_t)room->steps * room->step_ms;
    int64_t beyond = from_ms > plan_end ? from_ms : plan_end;
    if (due_ms > beyond) {
        kwh += power_max_kw * (double)(due_ms - beyond) / MS_PER_HOUR;
    }
    return kwh;
}

void gridems_peak_guard_claim_room(const gridems_peak_guard_room_t *room, const double *job_kw,
                                   double power_max_kw, int64_t from_ms, int64_t due_ms,
                                   double need_kwh)
{
    bool noted = room->claimed_kw != NULL || room->cluster_claimed_kw != NULL;
    for (int t = 0; noted && need_kwh > 0 && t < room->steps; t++) {
        double h = overlap_h(room, t, from_ms, due_ms), own;
        if (!(h > 0)) {
            continue;
        }
        double extra = extra_kw(room, job_kw, power_max_kw, t, &own);
        need_kwh -= own * h;
        if (need_kwh > 0 && extra > 0) {
            double take_kw = fmin(extra, need_kwh / h);
            if (room->claimed_kw != NULL) {
                room->claimed_kw[t] += take_kw;
            }
            if (room->cluster_claimed_kw != NULL) {
                room->cluster_claimed_kw[t] += take_kw;
            }
            need_kwh -= take_kw * h;
        }
    }
}
