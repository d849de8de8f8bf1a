/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The real-time peak guard, wired into the service: every planner.peak_guard.interval_seconds of
 * clock time (svc->handles.guard_timer, armed in service.c the way the control tick is) it samples
 * the import, lets peak_guard.c project the running step's mean and decide the shed, splits that
 * over the devices and sends the set-points that changed through dispatch (service_devices.c),
 * which adds each device's share to the plan's set-point for the rest of the step.
 *
 * The split: batteries first, then compute, each kind in proportion to every device's headroom.
 * A battery's headroom is its discharge limit (and what its stored energy above soc_min can give
 * for the rest of the step) above its planned set-point; a flexible device's is what its jobs
 * not due in the step can give up and still finish a reserve before their deadlines with what
 * they can run afterwards under the compute cap (gridems_peak_guard_job_sheddable_kw,
 * gridems_peak_guard_catch_up_kwh), so no job the plan finishes in this step, and no job behind
 * its plan, is held back. At the step's end every share lapses: the next
 * step starts from the plan.
 *
 * The decision uses only the readings, the plan and the clock, so a replay of the same inputs
 * gives the same set-points.
 *
 * Thread: the loop thread.
 * State: this file writes svc->guard (service_internal.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_watch.h"
#include "service_internal.h"
#include "timeutil.h"

#define MS_PER_HOUR 3600000.0

/* A share that moves by less than this (kW, or this fraction of itself) is not resent: a command
 * every few seconds for a few kW would only load the devices' links. */
#define RESEND_MIN_KW 1.0
#define RESEND_FRACTION 0.02

typedef struct guard_arg_s {
    gridems_service_t *svc;
    int step;              /* of the plan */
    int64_t step_start_ms; /* of the running step */
    double left_h;         /* until its end */
    /* First pass: the totals. */
    double battery_headroom_kw;
    double compute_headroom_kw;
    double in_effect_kw;
    /* Second pass: what to share out. */
    double battery_kw;
    double compute_kw;
    /* Each pass: the catch-up room the flexible devices' jobs claim, over all of them (zeroed
     * at the start of a pass), or NULL. */
    double *claimed;
} guard_arg_t;

/* Whether the guard may move the device, and how far. */
static bool headroom(const guard_arg_t *a, service_device_t *sd, double *kw)
{
    *kw = 0.0;
    if (gridems__service_device_out(sd) || sd->safe_sent || !sd->has_setpoint ||
        sd->klass == GRIDEMS_DEV_METER) {
        return false;
    }
    if (sd->klass == GRIDEMS_DEV_FLEX_LOAD) {
        *kw = gridems__service_flex_headroom_kw(a->svc, sd, a->step, a->claimed);
        return true;
    }
    double plan_kw;
    gridems_caps_t caps;
    if (!gridems__service_battery_plan_kw(a->svc, sd, a->step, &plan_kw) ||
        gridems__watched_caps(a->svc, sd, &caps) != 0) {
        return false;
    }
    /* Discharging d kW for the rest of the step takes d * left_h / efficiency kWh. */
    double soc = (sd->valid & GRIDEMS_MEAS_SOC) ? sd->soc_kwh : caps.u.battery.soc_kwh;
    double eta = caps.u.battery.discharge_efficiency > 0 ? caps.u.battery.discharge_efficiency : 1;
    double stored_kw = fmax(0.0, soc - caps.u.battery.soc_min_kwh) * eta / a->left_h;
    *kw = fmax(0.0, fmin(sd->discharge_max_kw, stored_kw) - plan_kw);
    return true;
}

static int measure_one(void *arg, gridems__device_t *dev)
{
    guard_arg_t *a = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    double kw;
    if (sd == NULL || !headroom(a, sd, &kw)) {
        return 0;
    }
    if (sd->klass == GRIDEMS_DEV_BATTERY) {
        a->battery_headroom_kw += kw;
    } else if (a->svc->cfg.planner.peak_guard.shed_compute) {
        a->compute_headroom_kw += kw;
    }
    /* The share already sent shows in the import once the device has reported since. */
    if (sd->guard_step_ms == a->step_start_ms && sd->last_reading_ms >= sd->setpoint_sent_ms) {
        a->in_effect_kw += sd->guard_applied_kw;
    }
    return 0;
}

static int share_one(void *arg, gridems__device_t *dev)
{
    guard_arg_t *a = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    double kw;
    if (sd == NULL || !headroom(a, sd, &kw)) {
        return 0;
    }
    bool battery = sd->klass == GRIDEMS_DEV_BATTERY;
    double total = battery ? a->battery_headroom_kw : a->compute_headroom_kw;
    double part = battery ? a->battery_kw : a->compute_kw;
    double share = total > 0 ? part * kw / total : 0.0;
    double old = sd->guard_step_ms == a->step_start_ms ? sd->guard_kw : 0.0;
    if (share > 0 && old > 0 && fabs(share - old) < fmax(RESEND_MIN_KW, RESEND_FRACTION * old)) {
        return 0;
    }
    sd->guard_kw = share;
    sd->guard_step_ms = a->step_start_ms;
    return 0;
}

static int clear_one(void *arg, gridems__device_t *dev)
{
    (void)arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd != NULL) {
        sd->guard_kw = 0.0;
    }
    return 0;
}

/* Count the energy shed since the last tick (the shed asked for, as long as it was asked). */
static void count_shed(service_guard_t *g, int64_t now, int64_t step_ms)
{
    if (g->engaged && g->last_tick_ms > 0) {
        int64_t until = now < g->step_ms + step_ms ? now : g->step_ms + step_ms;
        if (until > g->last_tick_ms) {
            g->shed_kwh += g->shed_kw * (double)(until - g->last_tick_ms) / MS_PER_HOUR;
        }
    }
    g->last_tick_ms = now;
}

/* Engagements are routine control where plans hold the import at the peak (on the demo week
 * about four a step), so each is logged at info, and the first and then one an hour at notice,
 * with how many came since (the status counts them all). */
#define ENGAGE_NEWS_MS 3600000LL

static void release(gridems_service_t *svc, const char *why)
{
    service_guard_t *g = &svc->guard;
    if (!g->engaged) {
        return;
    }
    g->engaged = false;
    g->shed_kw = 0.0;
    gridems_log_info("peak guard released: %s; set-points back to plan %llu", why,
                     (unsigned long long)svc->plan.id);
    if (svc->host_ready) {
        gridems__host_foreach_device(svc->host, clear_one, NULL);
        gridems__service_dispatch(svc);
    }
    /* The plan no longer matches: the batteries hold less energy than it expects, and the jobs
     * held back have more left to run. */
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
}

void gridems__service_guard_release(gridems_service_t *svc)
{
    release(svc, "guard disabled");
}

/* The step's hard import limit: the site's, or a DR event's over the step when lower. */
static double step_limit_kw(const service_plan_t *plan, int step)
{
    double limit = plan->scenario.import_limit_kw;
    for (int e = 0; e < plan->scenario.n_events; e++) {
        const gridems_event_t *ev = &plan->scenario.events[e];
        if (ev->start_step <= step && step < ev->end_step) {
            limit = fmin(limit, ev->import_limit_kw);
        }
    }
    return limit;
}

void gridems__service_guard_tick(gridems_service_t *svc)
{
    if (!svc->host_ready || svc->lifecycle.shutting_down) {
        return;
    }
    service_guard_t *g = &svc->guard;
    int64_t now = gridems_clock_now_ms(&svc->clock);
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    double import_kw;
    if (gridems_time_align_down(now, step_ms, svc->cfg.site.utc_offset_min, &step_start) != 0) {
        return;
    }
    count_shed(g, now, step_ms);
    if (g->engaged && g->step_ms != step_start) {
        char when[64];
        gridems_time_format_iso(g->step_ms + step_ms, svc->cfg.site.utc_offset_min, when,
                                sizeof when);
        char why[128];
        snprintf(why, sizeof why, "the step ended at %s", when);
        release(svc, why);
    }
    if (!gridems__service_import_now(svc, &import_kw)) {
        release(svc, "no import reading");
        return;
    }
    gridems_peak_guard_meter_add(&g->meter, step_start, now, import_kw);
    const service_plan_t *plan = &svc->plan;
    int64_t k =
        plan->valid ? gridems_time_floor_div(step_start - plan->grid_start_ms, plan->step_ms) : -1;
    if (k < 0 || k >= plan->schedule.steps || plan->step_ms != step_ms) {
        release(svc, "no plan covers the step");
        return;
    }
    guard_arg_t a;
    memset(&a, 0, sizeof a);
    a.svc = svc;
    a.step = (int)k;
    a.step_start_ms = step_start;
    a.left_h = (double)(step_start + step_ms - now) / MS_PER_HOUR;
    if (!(a.left_h > 0)) {
        return;
    }
    a.claimed = gridems__service_new_claims(svc);
    gridems__host_foreach_device(svc->host, measure_one, &a);
    double peak = gridems_state_peak_kw(&svc->planning.state, svc->planning.period);
    double target = gridems_peak_guard_target_kw(peak, plan->schedule.grid_import_kw[k],
                                                 step_limit_kw(plan, a.step),
                                                 svc->cfg.site.demand_charge_per_kw > 0);
    gridems_peak_guard_in_t in = {step_start,
                                  step_start + step_ms,
                                  now,
                                  g->meter.energy_kwh,
                                  import_kw,
                                  a.in_effect_kw,
                                  target,
                                  svc->cfg.planner.peak_guard.margin_kw,
                                  a.battery_headroom_kw,
                                  a.compute_headroom_kw};
    gridems_peak_guard_out_t out;
    gridems_peak_guard_decide(&in, &out);
    if (!out.engaged) {
        char why[160];
        snprintf(why, sizeof why, "step mean projected at %.1f kW, target %.1f kW",
                 out.projected_kw, target);
        free(a.claimed);
        release(svc, why);
        return;
    }
    if (!g->engaged) {
        char until[64];
        gridems_time_format_iso(step_start + step_ms, svc->cfg.site.utc_offset_min, until,
                                sizeof until);
        g->engagements++;
        char text[400];
        snprintf(text, sizeof text,
                 "peak guard engaged: step mean projected at %.1f kW, target %.1f kW (peak %.1f, "
                 "planned %.1f, margin %.1f); shedding %.1f kW until %s: batteries %.1f, compute "
                 "%.1f, uncovered %.1f",
                 out.projected_kw, target, peak, plan->schedule.grid_import_kw[k],
                 svc->cfg.planner.peak_guard.margin_kw, out.shed_kw, until, out.battery_kw,
                 out.compute_kw, out.uncovered_kw);
        gridems_news_log_or_info(&g->engage_news, "peak guard engaged", text, now, ENGAGE_NEWS_MS);
    } else {
        gridems_log_debug("peak guard: projected %.1f kW, target %.1f kW, shedding %.1f kW",
                          out.projected_kw, target, out.shed_kw);
    }
    g->engaged = true;
    g->step_ms = step_start;
    g->shed_kw = out.battery_kw + out.compute_kw;
    a.battery_kw = out.battery_kw;
    a.compute_kw = out.compute_kw;
    /* The second pass counts the claims again from nothing, in the same order. */
    if (a.claimed != NULL) {
        memset(a.claimed, 0, (size_t)plan->schedule.steps * sizeof *a.claimed);
    }
    gridems__host_foreach_device(svc->host, share_one, &a);
    free(a.claimed);
    gridems__service_dispatch(svc);
}
