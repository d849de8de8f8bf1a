/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Stuck plugins taken out and probed back (plugin_watch.h). This file writes svc->plugin_watch
 * (service_internal.h), arms svc->handles.watch_timer (service.c opens and closes it) and holds
 * or releases instances in the host (gridems__instance_hold). */
#include "plugin_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

/* Overruns older than this no longer count toward taking an instance out. */
#define WATCH_WINDOW_NS (600ull * 1000000000ull)
/* The wait between probes grows up to this many times plugin_retry_seconds. */
enum { RETRY_MAX_FACTOR = 10 };

struct plugin_watch_s {
    char name[GRIDEMS__IDENT_MAX];
    const gridems_plugin_t *inst; /* the instance the record is about (compared, never used) */
    int overruns;                 /* within WATCH_WINDOW_NS of first_ns */
    uint64_t first_ns;
    bool out;
    uint64_t retry_ns;     /* when the next probe may go */
    uint64_t wait_ns;      /* the current wait between probes, kept across a return */
    uint64_t probation_ns; /* back, but until then one overrun takes it out again */
    double last_ms;        /* the last overrun's length */
    const char *what;      /* and its call */
    bool taking_out;       /* its last safe-mode set-points are going out: not counted */
};

/* The record of inst's name; a record of another instance of that name (a reload) is started
 * afresh first. With add, a record is made when there is none (NULL only when out of memory). */
static plugin_watch_t *find(gridems_service_t *svc, const gridems_plugin_t *inst, bool add)
{
    for (int i = 0; i < svc->plugin_watch.n; i++) {
        plugin_watch_t *w = &svc->plugin_watch.list[i];
        if (strcmp(w->name, gridems__instance_name(inst)) == 0) {
            if (w->inst != inst) {
                memset(w, 0, sizeof *w);
                snprintf(w->name, sizeof w->name, "%s", gridems__instance_name(inst));
                w->inst = inst;
                gridems__service_health_changed(svc);
            }
            return w;
        }
    }
    if (!add) {
        return NULL;
    }
    plugin_watch_t *bigger =
        realloc(svc->plugin_watch.list, (size_t)(svc->plugin_watch.n + 1) * sizeof *bigger);
    if (bigger == NULL) {
        return NULL;
    }
    svc->plugin_watch.list = bigger;
    plugin_watch_t *w = &svc->plugin_watch.list[svc->plugin_watch.n++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", gridems__instance_name(inst));
    w->inst = inst;
    return w;
}

static void arm_watch_timer(gridems_service_t *svc);

typedef struct each_arg_s {
    gridems_service_t *svc;
    const gridems_plugin_t *inst;
    bool out;
} each_arg_t;

static int set_stuck(void *arg, gridems__device_t *dev)
{
    each_arg_t *a = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL || gridems__device_instance(dev) != a->inst || sd->stuck == a->out) {
        return 0;
    }
    sd->stuck = a->out;
    if (a->out && sd->klass != GRIDEMS_DEV_METER && !a->svc->lifecycle.shutting_down) {
        /* The last call it gets: a battery holds, a cluster runs uncapped jobs to no plan. */
        gridems__service_device_safe(a->svc, sd);
    }
    return 0;
}

static void take_out(gridems_service_t *svc, plugin_watch_t *w, gridems_plugin_t *inst)
{
    uint64_t now = uv_hrtime();
    uint64_t retry = (uint64_t)svc->cfg.reliability.plugin_retry_seconds * 1000000000ull;
    /* A failed probe, or an overrun on probation: the wait doubles instead of starting over, so
     * an instance that answers its probe but still blocks comes back less and less often. */
    bool relapse = !w->out && now < w->probation_ns;
    w->wait_ns = w->out || relapse ? w->wait_ns * 2 : retry;
    if (w->wait_ns > retry * RETRY_MAX_FACTOR) {
        w->wait_ns = retry * RETRY_MAX_FACTOR;
    }
    w->retry_ns = now + w->wait_ns;
    w->probation_ns = 0;
    /* Its own timer, fd, work done and message callbacks are skipped from now on. */
    gridems__instance_hold(inst, true);
    if (w->out) {
        gridems_log_warn("plugin instance %s: probe %s took %.0f ms; still out, next probe in "
                         "%.0f s",
                         w->name, w->what, w->last_ms, (double)w->wait_ns / 1e9);
        arm_watch_timer(svc);
        return;
    }
    w->out = true;
    if (relapse) {
        gridems_log_err("plugin instance %s: %s took %.0f ms on probation; out again (its "
                        "devices left out of plans, in safe mode), next probe in %.0f s",
                        w->name, w->what, w->last_ms, (double)w->wait_ns / 1e9);
    } else {
        gridems_log_err("plugin instance %s: %d calls over the %d ms budget (the last: %s, %.0f "
                        "ms); its devices are left out of plans in safe mode and it is not called "
                        "until a probe in %.0f s answers in time",
                        w->name, w->overruns, svc->cfg.reliability.plugin_call_budget_ms, w->what,
                        w->last_ms, (double)w->wait_ns / 1e9);
    }
    /* The safe-mode set-points below are the last calls it gets (let through, not counted). */
    each_arg_t a = {svc, inst, true};
    w->out = false;
    w->taking_out = true;
    gridems__host_foreach_device(svc->host, set_stuck, &a);
    w->taking_out = false;
    w->out = true;
    gridems__service_health_changed(svc);
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
    arm_watch_timer(svc);
}

/* how: what let it back, for the log ("probe answered in 3.1 ms"). */
static void bring_back(gridems_service_t *svc, plugin_watch_t *w, gridems_plugin_t *inst,
                       const char *how)
{
    gridems_log_notice("plugin instance %s: %s; called again, on probation for %.0f s", w->name,
                       how, (double)w->wait_ns / 1e9);
    w->out = false;
    w->overruns = 0;
    w->probation_ns = uv_hrtime() + w->wait_ns;
    gridems__instance_hold(inst, false);
    each_arg_t a = {svc, inst, false};
    gridems__host_foreach_device(svc->host, set_stuck, &a);
    gridems__service_health_changed(svc);
}

/* Whether a call of kind `what` into sd may go now (probe: a read of an instance that is out
 * and due for a probe). */
static bool may_call(gridems_service_t *svc, service_device_t *sd, bool is_read, bool *probe)
{
    plugin_watch_t *w = find(svc, gridems__device_instance(sd->dev), false);
    *probe = false;
    if (w == NULL || !w->out) {
        return true;
    }
    if (is_read && uv_hrtime() >= w->retry_ns) {
        *probe = true;
        return true;
    }
    return false;
}

/* One call into inst (`what`; of device dev_id, or NULL for the plugin's own callbacks) took
 * spent_ns: count an overrun, take the instance out, or answer a probe. */
static void judge(gridems_service_t *svc, gridems_plugin_t *inst, const char *what,
                  const char *dev_id, uint64_t spent_ns, bool probe)
{
    uint64_t now = uv_hrtime();
    double ms = (double)spent_ns / 1e6;
    /* On the stepped clock of a backtest nothing real waits on the loop, and a verdict drawn from
     * real time would make the run depend on the machine's load (docs/backtest.md): a slow call
     * there is only slow. */
    bool over = ms > svc->cfg.reliability.plugin_call_budget_ms &&
                gridems_clock_mode(&svc->clock) != GRIDEMS_CLOCK_STEPPED;
    if (!over && !probe) {
        return;
    }
    plugin_watch_t *w = find(svc, inst, true);
    if (w == NULL || w->taking_out) {
        return;
    }
    if (!over) {
        char how[64];
        snprintf(how, sizeof how, "probe answered in %.1f ms", ms);
        bring_back(svc, w, inst, how);
        return;
    }
    w->last_ms = ms;
    w->what = what;
    if (probe) {
        take_out(svc, w, inst);
        return;
    }
    if (w->out) {
        /* A callback already running when its instance was taken out: nothing more to count. */
        return;
    }
    if (now < w->probation_ns) {
        take_out(svc, w, inst); /* logs the overrun itself */
        return;
    }
    if (w->overruns == 0 || now - w->first_ns > WATCH_WINDOW_NS) {
        w->overruns = 0;
        w->first_ns = now;
    }
    w->overruns++;
    gridems_log_warn("plugin instance %s: %s%s%s took %.0f ms, over the %d ms budget (%d of %d)",
                     w->name, what, dev_id != NULL ? " of " : "", dev_id != NULL ? dev_id : "", ms,
                     svc->cfg.reliability.plugin_call_budget_ms, w->overruns,
                     svc->cfg.reliability.plugin_overruns);
    if (w->overruns >= svc->cfg.reliability.plugin_overruns) {
        take_out(svc, w, inst);
    }
}

static void after_call(gridems_service_t *svc, service_device_t *sd, const char *what, uint64_t t0,
                       bool probe)
{
    judge(svc, gridems__device_instance(sd->dev), what, sd->id, uv_hrtime() - t0, probe);
}

/* The host's report of one of the plugin's own callbacks (gridems__host_services_t). */
static void callback_timed(void *ctx, gridems_plugin_t *inst, const char *what, uint64_t ns)
{
    judge(ctx, inst, what, NULL, ns, false);
}

void gridems__plugin_watch_host_services(gridems__host_services_t *out)
{
    out->callback_timed = callback_timed;
}

int gridems__watched_read(gridems_service_t *svc, service_device_t *sd)
{
    bool probe;
    if (!may_call(svc, sd, true, &probe)) {
        return GRIDEMS_EAGAIN;
    }
    uint64_t t0 = uv_hrtime();
    int rc = gridems__device_read(sd->dev);
    after_call(svc, sd, "read", t0, probe);
    return rc;
}

int gridems__watched_caps(gridems_service_t *svc, service_device_t *sd, gridems_caps_t *caps)
{
    bool probe;
    if (!may_call(svc, sd, false, &probe)) {
        return GRIDEMS_ESTATE;
    }
    uint64_t t0 = uv_hrtime();
    int rc = gridems__device_get_capabilities(sd->dev, caps);
    after_call(svc, sd, "get_capabilities", t0, false);
    return rc;
}

int gridems__watched_setpoint(gridems_service_t *svc, service_device_t *sd,
                              const gridems_setpoint_t *sp)
{
    bool probe;
    if (!may_call(svc, sd, false, &probe)) {
        return GRIDEMS_ESTATE;
    }
    uint64_t t0 = uv_hrtime();
    int rc = gridems__device_apply_setpoint(sd->dev, sp);
    after_call(svc, sd, "apply_setpoint", t0, false);
    return rc;
}

int gridems__watched_event(gridems_service_t *svc, service_device_t *sd,
                           const gridems_device_event_t *ev)
{
    bool probe;
    if (!may_call(svc, sd, false, &probe)) {
        return GRIDEMS_ESTATE;
    }
    uint64_t t0 = uv_hrtime();
    int rc = gridems__device_on_event(sd->dev, ev);
    after_call(svc, sd, "on_event", t0, false);
    return rc;
}

typedef struct device_of_s {
    const gridems_plugin_t *inst;
    bool found;
} device_of_t;

static int find_device_of(void *arg, gridems__device_t *dev)
{
    device_of_t *a = arg;
    a->found = a->found || gridems__device_instance(dev) == a->inst;
    return 0;
}

static bool has_devices(gridems_service_t *svc, const gridems_plugin_t *inst)
{
    device_of_t a = {inst, false};
    gridems__host_foreach_device(svc->host, find_device_of, &a);
    return a.found;
}

/* The live instance a record is about, or NULL when it is gone or was reloaded (a reloaded
 * instance's record starts afresh on its first call, find()). */
static gridems_plugin_t *live_instance(gridems_service_t *svc, const plugin_watch_t *w)
{
    gridems_plugin_t *inst = gridems__host_find_instance(svc->host, w->name);
    return inst == w->inst ? inst : NULL;
}

static void on_watch_timer(uv_timer_t *t);

/* Arm svc->handles.watch_timer for the earliest instance out without devices (those have no
 * read to probe them with; the timer lets them back when their wait is over). */
static void arm_watch_timer(gridems_service_t *svc)
{
    uv_timer_t *timer = &svc->handles.watch_timer;
    if (timer->data == NULL || svc->lifecycle.shutting_down || svc->host == NULL) {
        return; /* not started yet, or shutting down (begin_shutdown stopped it) */
    }
    uint64_t due = UINT64_MAX;
    for (int i = 0; i < svc->plugin_watch.n; i++) {
        const plugin_watch_t *w = &svc->plugin_watch.list[i];
        gridems_plugin_t *inst = w->out ? live_instance(svc, w) : NULL;
        if (inst != NULL && !has_devices(svc, inst) && w->retry_ns < due) {
            due = w->retry_ns;
        }
    }
    if (due == UINT64_MAX) {
        uv_timer_stop(timer);
        return;
    }
    uint64_t now = uv_hrtime();
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    uv_timer_start(timer, on_watch_timer, ms, 0);
}

static void on_watch_timer(uv_timer_t *t)
{
    gridems_service_t *svc = t->data;
    uint64_t now = uv_hrtime();
    for (int i = 0; i < svc->plugin_watch.n; i++) {
        plugin_watch_t *w = &svc->plugin_watch.list[i];
        gridems_plugin_t *inst = w->out ? live_instance(svc, w) : NULL;
        if (inst != NULL && now >= w->retry_ns && !has_devices(svc, inst)) {
            /* Its own callbacks are the probe: on probation, one overrun takes it out again. */
            bring_back(svc, w, inst, "its wait is over and it has no device to probe");
        }
    }
    arm_watch_timer(svc);
}

void gridems__plugin_watch_device_added(gridems_service_t *svc, service_device_t *sd)
{
    /* A reloaded instance's record starts afresh in find(). */
    plugin_watch_t *w = find(svc, gridems__device_instance(sd->dev), false);
    if (w != NULL) {
        sd->stuck = w->out;
    }
}

void gridems__plugin_watch_describe(const gridems_service_t *svc, char *out, size_t len,
                                    const char *sep)
{
    int n = 0;
    for (int i = 0; i < svc->plugin_watch.n; i++) {
        const plugin_watch_t *w = &svc->plugin_watch.list[i];
        size_t used = strlen(out);
        if (!w->out || used + 1 >= len) {
            continue;
        }
        snprintf(out + used, len - used, "%s%s%s (%s %.0f ms)", n == 0 ? sep : ", ",
                 n == 0 ? "plugin stuck: " : "", w->name, w->what != NULL ? w->what : "call",
                 w->last_ms);
        n++;
    }
}

void gridems__plugin_watch_free(gridems_service_t *svc)
{
    free(svc->plugin_watch.list);
    svc->plugin_watch.list = NULL;
    svc->plugin_watch.n = 0;
}
