/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The devices, as the service sees them through the plugins: the host services the plugins
 * call (publish, subscribe, readings), staleness and safe mode, set-points from the current plan
 * step, and the P/state snapshot once per control tick.
 *
 * Device ids in plans (one rule, fixed when the device registers): a device whose descriptor
 * name equals its instance's name (config "name", which the config keeps unique) is known by
 * that name; any other device as "<instance>.<device name>". The in-tree plugins name their one
 * device after the instance, so their ids are the instance names.
 *
 * Polling: a device whose read_interval_ms is shorter than the control tick gets a timer of its
 * own on the service clock (so it also runs on the stepped clock of `gridems backtest`); the
 * others are read on the control tick. Every device is read once right after it is added.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "plugin_watch.h"
#include "service_internal.h"
#include "timeutil.h"

/* A reading older than this leaves a device out of plans, unless its capabilities say. */
enum { DEFAULT_STALE_MS = 5 * 60 * 1000 };

/* The control tick's period and its real-time floor on a fast simulated clock (as service.c's
 * CONTROL_TICK_SIM_MS and CONTROL_TICK_MIN_REAL_MS): device timers never run more often. */
enum { READ_TICK_MS = 60000, READ_MIN_REAL_MS = 100 };

static void read_with_backoff(gridems_service_t *svc, service_device_t *sd, int64_t now);

/* ---- ## Host services ---- */

static int svc_publish(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       int retain)
{
    gridems_service_t *svc = ctx;
    if (svc->mqtt == NULL) {
        return GRIDEMS_ESTATE;
    }
    return gridems_mqtt_publish(svc->mqtt, topic, payload, len, qos, retain);
}

static int svc_subscribe(void *ctx, const char *filter)
{
    gridems_service_t *svc = ctx;
    return svc->mqtt != NULL ? gridems_mqtt_subscribe(svc->mqtt, filter, 1) : GRIDEMS_ESTATE;
}

static int64_t svc_now(void *ctx)
{
    gridems_service_t *svc = ctx;
    return gridems_clock_now_ms(&svc->clock);
}

/* How long a device may go without a reading before it is stale. */
static uint32_t stale_limit_ms(const service_device_t *sd)
{
    return sd->stale_after_ms != 0 ? sd->stale_after_ms : DEFAULT_STALE_MS;
}

/* The base load the forecaster learns from: a LOAD meter (the inflexible load) if any. */
static void learn_load(gridems_service_t *svc, const service_device_t *sd, int64_t t, double kw)
{
    if (sd->klass != GRIDEMS_DEV_METER || sd->meter_role != GRIDEMS_METER_LOAD) {
        return;
    }
    gridems__service_history_load_reading(svc, t, kw);
}

static void check_staleness(gridems_service_t *svc, service_device_t *sd, int64_t now);

static void svc_measurement(void *ctx, gridems__device_t *dev, const gridems_measurement_t *m)
{
    gridems_service_t *svc = ctx;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL) {
        return;
    }
    /* Checked before anything keeps it: the billing peak, the load history, the state. */
    if (!gridems__service_reading_ok(svc, sd, m)) {
        return;
    }
    sd->last_reading_ms = m->timestamp_ms;
    sd->valid = m->valid;
    if (sd->stale && !svc->lifecycle.shutting_down) {
        /* Back (or here for the first time): into the plan now rather than at the next
         * control tick, which is a minute away on a real clock. */
        check_staleness(svc, sd, gridems_clock_now_ms(&svc->clock));
    }
    if (m->valid & GRIDEMS_MEAS_POWER) {
        sd->power_kw = m->power_kw;
        learn_load(svc, sd, m->timestamp_ms, m->power_kw);
    }
    if (m->valid & GRIDEMS_MEAS_SOC) {
        sd->soc_kwh = m->soc_kwh;
    }
}

/* Returns true when a flexible device's set of unfinished jobs changed size (a job arrived or
 * finished): the plan no longer matches it. */
static bool refresh_caps(service_device_t *sd)
{
    gridems_caps_t caps;
    if (gridems__watched_caps(sd->svc, sd, &caps) != 0 ||
        !gridems__service_caps_ok(sd->svc, sd, &caps)) {
        return false;
    }
    sd->stale_after_ms = caps.stale_after_ms;
    if (sd->klass == GRIDEMS_DEV_METER) {
        sd->meter_role = caps.u.meter.role;
    } else if (sd->klass == GRIDEMS_DEV_BATTERY) {
        sd->capacity_kwh = caps.u.battery.capacity_kwh;
        sd->charge_max_kw = caps.u.battery.charge_max_kw;
        sd->discharge_max_kw = caps.u.battery.discharge_max_kw;
    } else if (sd->klass == GRIDEMS_DEV_FLEX_LOAD && caps.u.flex.n_jobs != sd->n_jobs) {
        sd->n_jobs = caps.u.flex.n_jobs;
        return true;
    }
    return false;
}

/* The host-clock period of a device's own read timer, or 0 when the control tick reads it
 * (read_interval_ms 0, or not shorter than the tick once the simulated clock's floor applies). */
static int64_t read_period_ms(const gridems_service_t *svc, uint32_t interval_ms)
{
    int64_t period = interval_ms;
    int64_t tick = READ_TICK_MS;
    if (gridems_clock_mode(&svc->clock) == GRIDEMS_CLOCK_SIMULATED) {
        double floor_ms = READ_MIN_REAL_MS * gridems_clock_speed(&svc->clock);
        period = floor_ms > (double)period ? (int64_t)floor_ms : period;
        tick = floor_ms > (double)tick ? (int64_t)floor_ms : tick;
    }
    return interval_ms == 0 || period >= tick ? 0 : period;
}

static void on_read_timer(uv_timer_t *t)
{
    service_device_t *sd = t->data;
    gridems_service_t *svc = sd->svc;
    if (svc->lifecycle.shutting_down) {
        return;
    }
    read_with_backoff(svc, sd, gridems_clock_now_ms(&svc->clock));
}

static void on_read_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* ---- ## Device ids ---- */

/* The rule (plugin.h, gridems_device_desc_t.name): the instance name when the device is named
 * after its instance (or, defensively, has no name), else "<instance>.<name>". It depends only
 * on the descriptor and the config, never on how many devices the instance has registered. */
static void device_id(gridems__device_t *dev, char *out, size_t len)
{
    const char *name = gridems__device_name(dev);
    const char *instance = gridems__instance_name(gridems__device_instance(dev));
    if (name == NULL || name[0] == '\0' || strcmp(name, instance) == 0) {
        snprintf(out, len, "%s", instance);
    } else {
        snprintf(out, len, "%s.%s", instance, name);
    }
}

static void svc_device_added(void *ctx, gridems__device_t *dev)
{
    gridems_service_t *svc = ctx;
    service_device_t *sd = calloc(1, sizeof *sd);
    if (sd == NULL) {
        gridems_log_err("out of memory tracking device %s", gridems__device_name(dev));
        return;
    }
    sd->dev = dev;
    sd->svc = svc;
    sd->klass = gridems__device_class(dev);
    sd->stale = true; /* until its first reading */
    sd->capacity_kwh = -1.0;
    gridems__device_set_service_data(dev, sd);
    gridems__plugin_watch_device_added(svc, sd);
    refresh_caps(sd);
    device_id(dev, sd->id, sizeof sd->id);
    sd->read_period_ms = read_period_ms(svc, gridems__device_read_interval_ms(dev));
    if (sd->read_period_ms > 0) {
        if (gridems_timer_init(&svc->timers, &sd->read_timer) == 0) {
            sd->read_timer.uv.data = sd;
            sd->read_timer_open = true;
            gridems_timer_start(&sd->read_timer, on_read_timer, sd->read_period_ms,
                                sd->read_period_ms);
        } else {
            sd->read_period_ms = 0; /* the control tick reads it */
        }
    }
    gridems_log_info("device %s (%s) added, read every %lld ms", sd->id,
                     sd->klass == GRIDEMS_DEV_BATTERY ? "battery"
                     : sd->klass == GRIDEMS_DEV_METER ? "meter"
                                                      : "flexible compute",
                     (long long)(sd->read_period_ms > 0 ? sd->read_period_ms : READ_TICK_MS));
    /* The first reading now, rather than a period (or a control tick) away. */
    if (!svc->lifecycle.shutting_down) {
        read_with_backoff(svc, sd, gridems_clock_now_ms(&svc->clock));
    }
}

static void svc_device_removed(void *ctx, gridems__device_t *dev)
{
    (void)ctx;
    service_device_t *sd = gridems__device_service_data(dev);
    gridems__device_set_service_data(dev, NULL);
    if (sd != NULL && sd->read_timer_open) {
        gridems_timer_stop(&sd->read_timer);
        uv_close((uv_handle_t *)&sd->read_timer.uv, on_read_timer_closed);
    } else {
        free(sd);
    }
}

void gridems__service_host_services(gridems_service_t *svc, gridems__host_services_t *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = svc;
    out->publish = svc_publish;
    out->subscribe = svc_subscribe;
    out->measurement = svc_measurement;
    out->device_added = svc_device_added;
    out->device_removed = svc_device_removed;
    out->now_ms = svc_now;
    out->timers = &svc->timers;
    gridems__plugin_watch_host_services(out);
}

/* ---- ## Events ---- */

typedef struct notify_arg_s {
    gridems_service_t *svc;
    const gridems_device_event_t *ev;
} notify_arg_t;

static int notify_one(void *arg, gridems__device_t *dev)
{
    notify_arg_t *n = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd != NULL) {
        gridems__watched_event(n->svc, sd, n->ev);
    }
    return 0;
}

void gridems__service_notify_devices(gridems_service_t *svc, gridems_device_event_t *ev)
{
    if (!svc->host_ready) {
        return;
    }
    ev->struct_size = sizeof *ev;
    ev->time_ms = gridems_clock_now_ms(&svc->clock);
    notify_arg_t n = {svc, ev};
    gridems__host_foreach_device(svc->host, notify_one, &n);
}

void gridems__service_grid_signal(gridems_service_t *svc, int signal, const char *id,
                                  int64_t start_ms, int64_t end_ms, double value)
{
    if (svc->lifecycle.shutting_down) {
        return;
    }
    gridems_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = GRIDEMS_EVT_GRID_SIGNAL;
    ev.signal = signal;
    ev.id = id;
    ev.start_ms = start_ms;
    ev.end_ms = end_ms;
    ev.value = value;
    gridems__service_notify_devices(svc, &ev);
}

/* ---- ## Set-points ---- */

int64_t gridems__service_job_reserve_ms(const gridems_service_t *svc)
{
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    return step_ms < 3600000 ? step_ms : 3600000;
}

static void send_setpoint(gridems_service_t *svc, service_device_t *sd, gridems_setpoint_t *sp)
{
    sp->struct_size = sizeof *sp;
    int rc = gridems__watched_setpoint(svc, sd, sp);
    if (rc == 0) {
        svc->stats.setpoints_sent++;
        sd->setpoint_sent_ms = gridems_clock_now_ms(&svc->clock);
    }
}

static void send_safe(gridems_service_t *svc, service_device_t *sd)
{
    gridems_setpoint_t sp;
    memset(&sp, 0, sizeof sp);
    sp.safe_mode = 1;
    sp.plan_id = svc->plan.valid ? svc->plan.id : 0;
    sp.timestamp_ms = gridems_clock_now_ms(&svc->clock);
    sp.power_cap_kw = -1;
    send_setpoint(svc, sd, &sp);
    sd->safe_sent = true;
    sd->has_setpoint = false;
}

void gridems__service_device_safe(gridems_service_t *svc, service_device_t *sd)
{
    send_safe(svc, sd);
}

static int safe_one(void *arg, gridems__device_t *dev)
{
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd != NULL && sd->klass != GRIDEMS_DEV_METER) {
        send_safe(arg, sd);
    }
    return 0;
}

void gridems__service_all_safe(gridems_service_t *svc)
{
    if (svc->host_ready) {
        gridems__host_foreach_device(svc->host, safe_one, svc);
    }
}

static int find_battery(const gridems_scenario_t *sc, const char *id)
{
    for (int b = 0; b < sc->n_batteries; b++) {
        if (strcmp(sc->batteries[b].id, id) == 0) {
            return b;
        }
    }
    return -1;
}

static double clamp_battery(const service_device_t *sd, double kw)
{
    /* Positive = discharge. Clamped to the device's own limits as it reports them now. */
    return fmax(fmin(kw, sd->discharge_max_kw), -sd->charge_max_kw);
}

bool gridems__service_battery_plan_kw(const gridems_service_t *svc, const service_device_t *sd,
                                      int step, double *kw)
{
    const service_plan_t *plan = &svc->plan;
    int b = plan->valid ? find_battery(&plan->scenario, sd->id) : -1;
    if (b < 0 || step < 0 || step >= plan->schedule.steps) {
        return false;
    }
    const gridems_battery_plan_t *bp = &plan->schedule.batteries[b];
    *kw = clamp_battery(sd, bp->discharge_kw[step] - bp->charge_kw[step]);
    return true;
}

static void dispatch_battery(gridems_service_t *svc, service_device_t *sd, int step,
                             double guard_kw, gridems_setpoint_t *sp)
{
    double plan_kw;
    if (!gridems__service_battery_plan_kw(svc, sd, step, &plan_kw)) {
        send_safe(svc, sd); /* not in this plan (it was stale when the plan was made) */
        return;
    }
    /* The peak guard's share is more discharge (or less charge) on top of the plan. */
    double kw = clamp_battery(sd, plan_kw + guard_kw);
    sp->power_kw = kw;
    send_setpoint(svc, sd, sp);
    sd->setpoint_kw = kw;
    sd->has_setpoint = true;
    sd->guard_sent_kw = guard_kw;
    sd->guard_applied_kw = kw - plan_kw;
}

/* The plan's power for a job in every step, or NULL when the plan does not hold the job. */
static const double *planned_job_row(const service_plan_t *plan, const char *id)
{
    int j = gridems__service_plan_job(plan, id);
    return j >= 0 ? plan->schedule.flex_loads[j].power_kw : NULL;
}

/* The plan's power for a job in a step; 0 when the plan does not hold the job. */
static double planned_job_kw(const service_plan_t *plan, const char *id, int step)
{
    const double *row = planned_job_row(plan, id);
    return row != NULL ? row[step] : 0.0;
}

double gridems__service_job_in_step_kwh(gridems_service_t *svc, const gridems_flex_job_t *job)
{
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    if (gridems_time_align_down(gridems_clock_now_ms(&svc->clock), step_ms,
                                svc->cfg.site.utc_offset_min, &step_start) != 0) {
        return 0.0;
    }
    return gridems_step_progress_observe(&svc->planning.step_progress, step_start, job->id,
                                         job->energy_delivered_kwh);
}

/* How long a job's set-point in `step` lasts, in hours: to the step's end with
 * planner.running_step "whole"; with "rest", a whole step, as the plan counts it. */
static double setpoint_hours(const gridems_service_t *svc, int step)
{
    if (!svc->cfg.planner.running_step_whole) {
        return (double)svc->plan.step_ms / 3600000.0;
    }
    int64_t step_end = svc->plan.grid_start_ms + (int64_t)(step + 1) * svc->plan.step_ms;
    return (double)(step_end - gridems_clock_now_ms(&svc->clock)) / 3600000.0;
}

/* A job's power for the rest of its step. With planner.running_step "rest" it is the plan's
 * power. With "whole" the plan's power is the step's mean on top of what the job had delivered
 * in the step when the plan was made, so it is what is left of that energy over what is left of
 * the step (step_progress.h). */
static double job_rest_kw(gridems_service_t *svc, const gridems_flex_job_t *job, double plan_kw,
                          int step)
{
    if (!svc->cfg.planner.running_step_whole) {
        return plan_kw;
    }
    int64_t step_start = svc->plan.grid_start_ms + (int64_t)step * svc->plan.step_ms;
    double step_h = (double)svc->plan.step_ms / 3600000.0;
    double since_plan =
        gridems__service_job_in_step_kwh(svc, job) -
        gridems_step_progress_planned_kwh(&svc->planning.step_progress, step_start, job->id);
    return gridems_step_progress_rest_kw(plan_kw, step_h, setpoint_hours(svc, step), since_plan,
                                         job->power_max_kw);
}

/* Full power until done for a job the plan finishes in this step: at the plan's power its last
 * kWh would come only as the step ends, and the seconds the device takes to act on each
 * set-point would leave a remainder for the reserve. And for a job within its reserve or late:
 * the plan has it due in the running step. rest_kw: its power for the rest of the step
 * (job_rest_kw). */
static bool job_due(const gridems_service_t *svc, const gridems_flex_job_t *job, double rest_kw,
                    int step)
{
    int64_t now = gridems_clock_now_ms(&svc->clock);
    return job->deadline_ms <= now + gridems__service_job_reserve_ms(svc) ||
           (rest_kw > 0 && rest_kw * setpoint_hours(svc, step) >= 0.95 * job->energy_remaining_kwh);
}

/* A flexible device as a cluster of the plan (its own cap held, docs/service.md "Several
 * flexible devices"): its jobs' planned power together, [plan steps], and its cap; cluster_kw
 * NULL when the plan has no cluster of that id (one flexible device, no cap of its own) or
 * out of memory, and then only the site's cap counts. */
typedef struct device_room_s {
    double *cluster_kw;
    double cap_kw;
    double *claimed_kw; /* [plan steps] what the device's own held-back jobs claim under its cap */
} device_room_t;

static void device_room_free(device_room_t *room)
{
    free(room->cluster_kw);
    free(room->claimed_kw);
}

static device_room_t device_room(const service_plan_t *plan, const char *device_id)
{
    device_room_t room = {NULL, HUGE_VAL, NULL};
    const gridems_scenario_t *sc = &plan->scenario;
    int c = gridems_scenario_find_cluster(sc, device_id);
    if (c < 0) {
        return room;
    }
    size_t steps = (size_t)(plan->schedule.steps > 0 ? plan->schedule.steps : 1);
    room.cluster_kw = calloc(steps, sizeof *room.cluster_kw);
    room.claimed_kw = calloc(steps, sizeof *room.claimed_kw);
    if (room.cluster_kw == NULL || room.claimed_kw == NULL) {
        device_room_free(&room);
        return (device_room_t){NULL, HUGE_VAL, NULL};
    }
    room.cap_kw = sc->clusters[c].compute_limit_kw;
    for (int j = 0; j < sc->n_flex_loads; j++) {
        const char *in = sc->flex_loads[j].cluster;
        if (in == NULL || strcmp(in, device_id) != 0) {
            continue;
        }
        for (int t = 0; t < plan->schedule.steps; t++) {
            room.cluster_kw[t] += plan->schedule.flex_loads[j].power_kw[t];
        }
    }
    return room;
}

/* How much of rest_kw (a job's power for the rest of step `step`, not due in it) the peak guard
 * may hold back (peak_guard.h: what it can give up and still finish a reserve before its
 * deadline). claimed_kw ([plan steps], or NULL): the free room under the compute cap that the
 * jobs counted before it (of every device, in the order of the devices) take to catch up; this
 * job's is added, so the jobs do not all count the same room. device: the room under its
 * device's own cap, with the device's own claims. */
static double job_sheddable_kw(const gridems_service_t *svc, const gridems_flex_job_t *job,
                               double rest_kw, int step, double *claimed_kw,
                               const device_room_t *device)
{
    const service_plan_t *plan = &svc->plan;
    if (plan->compute_kw == NULL) {
        return 0.0; /* nothing known of the room after the step: the job gives nothing */
    }
    int64_t now = gridems_clock_now_ms(&svc->clock);
    int64_t step_end = plan->grid_start_ms + (int64_t)(step + 1) * plan->step_ms;
    int64_t due = job->deadline_ms - gridems__service_job_reserve_ms(svc);
    gridems_peak_guard_room_t room = {
        plan->grid_start_ms,
        plan->step_ms,
        plan->schedule.steps,
        plan->compute_kw,
        plan->scenario.has_compute_limit ? plan->scenario.compute_limit_kw : HUGE_VAL,
        claimed_kw,
        device->cluster_kw,
        device->cap_kw,
        device->claimed_kw};
    const double *row = planned_job_row(plan, job->id);
    double after_kwh =
        gridems_peak_guard_catch_up_kwh(&room, row, job->power_max_kw, step_end, due);
    double kw = gridems_peak_guard_job_sheddable_kw(rest_kw, job->energy_remaining_kwh, after_kwh,
                                                    now, step_end);
    /* Held back by kw, it runs the rest after the step. */
    double left_h = (double)(step_end - now) / 3600000.0;
    gridems_peak_guard_claim_room(&room, row, job->power_max_kw, step_end, due,
                                  job->energy_remaining_kwh - (rest_kw - kw) * fmax(0.0, left_h));
    return kw;
}

/* A zeroed [plan steps] array for job_sheddable_kw's claims (NULL: out of memory, then the
 * claims are not counted). */
static double *new_claims(const gridems_service_t *svc)
{
    int n = svc->plan.schedule.steps;
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

double gridems__service_flex_headroom_kw(gridems_service_t *svc, service_device_t *sd, int step,
                                         double *claimed_kw)
{
    gridems_caps_t caps;
    if (!svc->plan.valid || step < 0 || step >= svc->plan.schedule.steps ||
        gridems__watched_caps(svc, sd, &caps) != 0) {
        return 0.0;
    }
    double kw = 0.0;
    /* Without the pass's count, the device's own jobs still do not count the same room. */
    double *own = claimed_kw == NULL ? new_claims(svc) : NULL;
    device_room_t device = device_room(&svc->plan, sd->id);
    for (uint32_t i = 0; i < caps.u.flex.n_jobs; i++) {
        const gridems_flex_job_t *job = &caps.u.flex.jobs[i];
        double rest_kw = job_rest_kw(svc, job, planned_job_kw(&svc->plan, job->id, step), step);
        if (rest_kw > 0 && !job_due(svc, job, rest_kw, step)) {
            kw += job_sheddable_kw(svc, job, rest_kw, step, claimed_kw != NULL ? claimed_kw : own,
                                   &device);
        }
    }
    device_room_free(&device);
    free(own);
    return kw;
}

double *gridems__service_new_claims(const gridems_service_t *svc)
{
    return new_claims(svc);
}

/* claimed: the pass's claims (job_sheddable_kw), or NULL. */
static void dispatch_flex(gridems_service_t *svc, service_device_t *sd, int step, double guard_kw,
                          gridems_setpoint_t *sp, double *claimed)
{
    const service_plan_t *plan = &svc->plan;
    gridems_caps_t caps;
    if (gridems__watched_caps(svc, sd, &caps) != 0) {
        return;
    }
    uint32_t n = caps.u.flex.n_jobs;
    gridems_job_setpoint_t *jobs = calloc(n > 0 ? n : 1, sizeof *jobs);
    if (jobs == NULL) {
        return;
    }
    /* Copy the plugin's job ids before calling into it again (they are borrowed). */
    char **ids = calloc(n > 0 ? n : 1, sizeof *ids);
    double *sheddable = calloc(n > 0 ? n : 1, sizeof *sheddable);
    if (sheddable == NULL) {
        free(ids);
        ids = NULL;
    }
    double can_wait_kw = 0.0;
    double *own = claimed == NULL ? new_claims(svc) : NULL; /* as in the headroom */
    claimed = claimed != NULL ? claimed : own;
    device_room_t device = device_room(plan, sd->id);
    for (uint32_t i = 0; ids != NULL && sheddable != NULL && i < n; i++) {
        ids[i] = strdup(caps.u.flex.jobs[i].id);
        jobs[i].job_id = ids[i];
        const gridems_flex_job_t *job = &caps.u.flex.jobs[i];
        jobs[i].power_kw = job_rest_kw(svc, job, planned_job_kw(plan, ids[i], step), step);
        if (job_due(svc, job, jobs[i].power_kw, step)) {
            jobs[i].power_kw = job->power_max_kw;
        } else if (jobs[i].power_kw > 0) {
            sheddable[i] = job_sheddable_kw(svc, job, jobs[i].power_kw, step, claimed, &device);
            can_wait_kw += sheddable[i];
        }
    }
    device_room_free(&device);
    free(own);
    /* The peak guard's share comes from what the jobs can give up and still finish on time
     * (job_sheddable_kw), in proportion to it; a job due in this step keeps its full power. */
    double held = fmin(fmax(guard_kw, 0.0), can_wait_kw);
    for (uint32_t i = 0; held > 0 && sheddable != NULL && i < n; i++) {
        jobs[i].power_kw -= held * sheddable[i] / can_wait_kw;
    }
    free(sheddable);
    sd->guard_sent_kw = guard_kw;
    sd->guard_applied_kw = held;
    if (ids != NULL) {
        sp->jobs = jobs;
        sp->n_jobs = n;
        /* The scenario's compute cap is the site's, the devices' caps pooled; with two or more
         * devices each one's own cap is a cluster of the plan (docs/service.md, "Several
         * flexible devices"). Either way a device is told the lower of the two. */
        double cap = plan->scenario.has_compute_limit ? plan->scenario.compute_limit_kw : -1;
        if (caps.u.flex.power_cap_kw >= 0 && (cap < 0 || caps.u.flex.power_cap_kw < cap)) {
            cap = caps.u.flex.power_cap_kw;
        }
        sp->power_cap_kw = cap;
        send_setpoint(svc, sd, sp);
        sd->has_setpoint = true;
    }
    for (uint32_t i = 0; ids != NULL && i < n; i++) {
        free(ids[i]);
    }
    free(ids);
    free(jobs);
}

typedef struct dispatch_arg_s {
    gridems_service_t *svc;
    int step;
    int64_t step_start_ms;
    /* The catch-up room the flexible devices' jobs claim, counted over all of them in the order
     * the peak guard counts (gridems__service_flex_headroom_kw), or NULL. */
    double *claimed;
} dispatch_arg_t;

static int dispatch_one(void *arg, gridems__device_t *dev)
{
    dispatch_arg_t *d = arg;
    gridems_service_t *svc = d->svc;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL || sd->klass == GRIDEMS_DEV_METER) {
        return 0;
    }
    if (gridems__service_device_out(sd)) {
        if (!sd->safe_sent) {
            send_safe(svc, sd);
        }
        return 0;
    }
    if (d->step < 0) {
        if (!sd->safe_sent) {
            send_safe(svc, sd); /* no plan covers now: hold */
        }
        return 0;
    }
    /* Each (plan, step) once, and again when the peak guard's share changes; the plugin's
     * apply_setpoint is idempotent anyway. */
    double guard_kw = sd->guard_step_ms == d->step_start_ms ? sd->guard_kw : 0.0;
    bool sent = sd->setpoint_plan == svc->plan.id && sd->setpoint_step_ms == d->step_start_ms &&
                !sd->safe_sent;
    /* The devices the guard counts (service_guard.c, headroom) claim room in the pass's count,
     * in the same order; the rest count their own jobs' claims only. */
    bool counted = sd->has_setpoint && !sd->safe_sent;
    if (sent && guard_kw == sd->guard_sent_kw) {
        if (sd->klass == GRIDEMS_DEV_FLEX_LOAD && counted && d->claimed != NULL) {
            /* Nothing to send, but its jobs claim their room as in the guard's count. */
            gridems__service_flex_headroom_kw(svc, sd, d->step, d->claimed);
        }
        return 0;
    }
    gridems_setpoint_t sp;
    memset(&sp, 0, sizeof sp);
    sp.plan_id = svc->plan.id;
    /* A correction within the step is a newer command of the same plan: it carries the instant
     * it was decided (plugin.h), later than the step's start and before its end. */
    sp.timestamp_ms = sent ? gridems_clock_now_ms(&svc->clock) : d->step_start_ms;
    sp.valid_until_ms = d->step_start_ms + svc->plan.step_ms;
    sp.power_cap_kw = -1;
    sd->safe_sent = false;
    sd->setpoint_plan = svc->plan.id;
    sd->setpoint_step_ms = d->step_start_ms;
    if (sd->klass == GRIDEMS_DEV_BATTERY) {
        dispatch_battery(svc, sd, d->step, guard_kw, &sp);
    } else {
        dispatch_flex(svc, sd, d->step, guard_kw, &sp, counted ? d->claimed : NULL);
    }
    return 0;
}

static void on_step_timer(uv_timer_t *t)
{
    gridems__service_dispatch(t->data);
}

void gridems__service_dispatch(gridems_service_t *svc)
{
    if (!svc->host_ready || svc->lifecycle.shutting_down) {
        return;
    }
    dispatch_arg_t d = {svc, -1, 0, NULL};
    if (svc->plan.valid) {
        int64_t now = gridems_clock_now_ms(&svc->clock);
        int64_t k = gridems_time_floor_div(now - svc->plan.grid_start_ms, svc->plan.step_ms);
        if (k >= 0 && k < svc->plan.schedule.steps) {
            d.step = (int)k;
            d.step_start_ms = svc->plan.grid_start_ms + k * svc->plan.step_ms;
        }
    }
    d.claimed = d.step >= 0 ? new_claims(svc) : NULL;
    gridems__host_foreach_device(svc->host, dispatch_one, &d);
    free(d.claimed);
    /* Set-points expire at their step's end (valid_until): send the next step's as it begins,
     * rather than at the next control tick, until which every device would hold in safe mode. */
    if (d.step >= 0 && svc->handles.step_timer.uv.data != NULL) {
        int64_t next = d.step_start_ms + svc->plan.step_ms;
        gridems_timer_start(&svc->handles.step_timer, on_step_timer,
                            next - gridems_clock_now_ms(&svc->clock), 0);
    }
}

/* ---- ## The control tick ---- */

/* The site's import from the devices' readings. */
typedef struct import_sum_s {
    double site_kw; /* a SITE meter's import, when there is one */
    bool has_site;
    double load_kw; /* the estimate from its parts otherwise */
    bool any;       /* some device reports power */
} import_sum_t;

/* Count one device's reading into the import; true when it has one. */
static bool count_import(const service_device_t *sd, import_sum_t *sum)
{
    if (gridems__service_device_out(sd) || !(sd->valid & GRIDEMS_MEAS_POWER)) {
        return false;
    }
    sum->any = true;
    if (sd->klass == GRIDEMS_DEV_METER && sd->meter_role == GRIDEMS_METER_SITE) {
        sum->site_kw = sd->power_kw;
        sum->has_site = true;
    } else if (sd->klass == GRIDEMS_DEV_METER && sd->meter_role == GRIDEMS_METER_PV) {
        sum->load_kw -= sd->power_kw;
    } else if (sd->klass == GRIDEMS_DEV_METER && sd->meter_role == GRIDEMS_METER_LOAD) {
        sum->load_kw += sd->power_kw;
    } else if (sd->klass == GRIDEMS_DEV_BATTERY) {
        sum->load_kw -= sd->power_kw; /* discharge (positive) lowers the import */
    } else if (sd->klass == GRIDEMS_DEV_FLEX_LOAD) {
        sum->load_kw += sd->power_kw;
    }
    return true;
}

static int import_one(void *arg, gridems__device_t *dev)
{
    if (gridems__device_service_data(dev) != NULL) {
        count_import(gridems__device_service_data(dev), arg);
    }
    return 0;
}

bool gridems__service_import_now(gridems_service_t *svc, double *kw)
{
    import_sum_t sum = {0, false, 0, false};
    if (!svc->host_ready) {
        return false;
    }
    gridems__host_foreach_device(svc->host, import_one, &sum);
    *kw = sum.has_site ? sum.site_kw : sum.load_kw;
    return sum.any;
}

typedef struct tick_arg_s {
    gridems_service_t *svc;
    int64_t now;
    import_sum_t import;
    bool deviation;
    bool unsettled; /* a device has not reported since its last set-point */
    cJSON *devices;
} tick_arg_t;

static const char *class_name(int klass)
{
    switch (klass) {
    case GRIDEMS_DEV_BATTERY:
        return "battery";
    case GRIDEMS_DEV_METER:
        return "meter";
    default:
        return "flexible";
    }
}

static void check_staleness(gridems_service_t *svc, service_device_t *sd, int64_t now)
{
    bool stale =
        sd->last_reading_ms == 0 || now - sd->last_reading_ms > (int64_t)stale_limit_ms(sd);
    if (stale && !sd->stale) {
        gridems_log_warn("device %s: no reading for %lld s; left out of plans, safe mode", sd->id,
                         (long long)((now - sd->last_reading_ms) / 1000));
        sd->stale = true;
        if (sd->klass != GRIDEMS_DEV_METER) {
            send_safe(svc, sd);
        }
    } else if (!stale && sd->stale) {
        if (sd->heard) {
            gridems_log_notice("device %s: readings again; back in the plan", sd->id);
        } else {
            gridems_log_notice("device %s: first reading; in the plan", sd->id);
        }
        sd->heard = true;
        sd->stale = false;
        gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
    }
}

/* A device whose read() keeps failing is polled less often, doubling up to MAX_READ_BACKOFF_MS
 * of site time, as collectd does; one success resets it. (GRIDEMS_ENOENT: no read callback.) */
enum { MAX_READ_BACKOFF_MS = 10 * 60 * 1000, FIRST_READ_BACKOFF_MS = 30 * 1000 };

static void read_with_backoff(gridems_service_t *svc, service_device_t *sd, int64_t now)
{
    if (now < sd->next_read_ms) {
        return;
    }
    int rc = gridems__watched_read(svc, sd);
    if (rc == 0 || rc == GRIDEMS_ENOENT || rc == GRIDEMS_EAGAIN) {
        sd->read_failures = 0;
        sd->next_read_ms = 0;
        return;
    }
    int64_t wait = FIRST_READ_BACKOFF_MS;
    for (int i = 1; i < sd->read_failures && wait < MAX_READ_BACKOFF_MS; i++) {
        wait *= 2;
    }
    sd->read_failures++;
    sd->next_read_ms = now + (wait < MAX_READ_BACKOFF_MS ? wait : MAX_READ_BACKOFF_MS);
}

/* Each tick sees every job, so a job's energy at a step's start is taken at the step's first
 * tick even when nothing re-plans or dispatches then (step_progress.h). */
static void observe_jobs(gridems_service_t *svc, service_device_t *sd)
{
    gridems_caps_t caps;
    if (gridems__watched_caps(svc, sd, &caps) != 0) {
        return;
    }
    for (uint32_t i = 0; i < caps.u.flex.n_jobs; i++) {
        gridems__service_job_in_step_kwh(svc, &caps.u.flex.jobs[i]);
    }
}

static int tick_one(void *arg, gridems__device_t *dev)
{
    tick_arg_t *t = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL) {
        return 0;
    }
    if (sd->read_period_ms == 0) {
        read_with_backoff(t->svc, sd, t->now);
    }
    bool jobs_changed = refresh_caps(sd);
    if (t->svc->cfg.planner.running_step_whole &&
        gridems__device_class(dev) == GRIDEMS_DEV_FLEX_LOAD && !gridems__service_device_out(sd)) {
        observe_jobs(t->svc, sd);
    }
    check_staleness(t->svc, sd, t->now);
    if (jobs_changed && !gridems__service_device_out(sd)) {
        t->deviation = true; /* a job arrived or finished: plan it (or stop planning it) now */
    }
    const gridems_service_config_t *cfg = &t->svc->cfg;
    if (!gridems__service_device_out(sd) && sd->klass != GRIDEMS_DEV_METER &&
        sd->last_reading_ms < sd->setpoint_sent_ms) {
        t->unsettled = true;
    }
    /* Only a reading taken after the last set-point went out can deviate from it: a peak-guard
     * correction changes the set-point within the step. */
    if (count_import(sd, &t->import) && sd->klass == GRIDEMS_DEV_BATTERY &&
        cfg->planner.has_deviation && sd->has_setpoint &&
        fabs(sd->power_kw - sd->setpoint_kw) > cfg->planner.deviation_kw &&
        sd->last_reading_ms > sd->setpoint_sent_ms) {
        t->deviation = true;
    }
    cJSON *item = cJSON_CreateObject();
    if (item != NULL && cJSON_AddItemToArray(t->devices, item)) {
        cJSON_AddStringToObject(item, "id", sd->id);
        cJSON_AddStringToObject(item, "class", class_name(sd->klass));
        if (sd->valid & GRIDEMS_MEAS_POWER) {
            cJSON_AddNumberToObject(item, "power_kw", sd->power_kw);
        }
        if (sd->valid & GRIDEMS_MEAS_SOC) {
            cJSON_AddNumberToObject(item, "soc_kwh", sd->soc_kwh);
        }
        if (sd->last_reading_ms != 0) {
            cJSON_AddNumberToObject(item, "age_s", (double)(t->now - sd->last_reading_ms) / 1e3);
        }
        cJSON_AddBoolToObject(item, "stale", sd->stale);
        if (sd->implausible || sd->stuck) {
            cJSON_AddStringToObject(item, "out", sd->implausible ? "implausible" : "plugin stuck");
        }
        if (sd->has_setpoint && sd->klass == GRIDEMS_DEV_BATTERY) {
            cJSON_AddNumberToObject(item, "setpoint_kw", sd->setpoint_kw);
        }
    } else {
        cJSON_Delete(item);
    }
    return 0;
}

static void publish_state(gridems_service_t *svc, cJSON *root)
{
    char *text = cJSON_PrintUnformatted(root);
    if (text == NULL || svc->mqtt == NULL) {
        cJSON_free(text);
        return;
    }
    char topic[512];
    snprintf(topic, sizeof topic, "%s/state", svc->cfg.mqtt.topic_prefix);
    /* Telemetry is regenerated every tick: a publish lost while offline is not kept. */
    gridems_mqtt_publish(svc->mqtt, topic, text, strlen(text), 0, 0);
    cJSON_free(text);
}

void gridems__service_control_tick(gridems_service_t *svc)
{
    if (!svc->host_ready || svc->lifecycle.shutting_down) {
        return;
    }
    int64_t now = gridems_clock_now_ms(&svc->clock);
    cJSON *root = cJSON_CreateObject();
    cJSON *devices = cJSON_AddArrayToObject(root, "devices");
    tick_arg_t t = {svc, now, {0, false, 0, false}, false, false, devices};
    if (root == NULL || devices == NULL) {
        cJSON_Delete(root);
        return;
    }
    gridems__host_foreach_device(svc->host, tick_one, &t);
    double import_kw = t.import.has_site ? t.import.site_kw : t.import.load_kw;
    /* A sum of readings from before and after a set-point change is no import that ever was:
     * the billing-period peak waits until every device has reported since its set-point. */
    if (t.import.has_site || !t.unsettled) {
        gridems__service_note_import(svc, import_kw);
    }
    char when[64];
    gridems_time_format_iso(now, svc->cfg.site.utc_offset_min, when, sizeof when);
    cJSON_AddStringToObject(root, "time", when);
    cJSON_AddNumberToObject(root, "import_kw", import_kw);
    cJSON_AddStringToObject(root, "import_source",
                            t.import.has_site ? "site meter" : "sum of devices");
    cJSON_AddNumberToObject(root, "peak_kw",
                            gridems_state_peak_kw(&svc->planning.state, svc->planning.period));
    if (svc->plan.valid) {
        cJSON_AddNumberToObject(root, "plan_id", (double)svc->plan.id);
    }
    publish_state(svc, root);
    gridems__service_observe_state(svc, root, import_kw);
    gridems__service_openadr_sample(svc, t.import.has_site || t.import.any, import_kw);
    cJSON_Delete(root);
    gridems__service_dispatch(svc);
    if (t.deviation) {
        gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
    }
}
