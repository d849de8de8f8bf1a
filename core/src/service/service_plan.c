/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Re-plans: what triggers them, the debounce, the scenario built from the service's inputs (by
 * planner.c), the solve on the solver thread, and what a result does: P/schedule (retained,
 * QoS 1), the persisted state, set-points.
 *
 * One solve is in flight at a time: a trigger that arrives meanwhile is remembered and served
 * as soon as the result is in, with the newest inputs. A solve that fails or runs past its time
 * limit keeps the last good plan and sets the status to degraded with the reason.
 *
 * Each re-plan hands the last plan to the solver as its reference, so that a re-plan with
 * nothing new returns the same schedule rather than another one of equal cost (the LP often
 * has many: identical batteries, flat prices), and set-points do not jump between them.
 *
 * A result is published first and saved after (with its two fsyncs): the save is not on the
 * way from a price to its schedule, and MQTT sends on Paho's own thread meanwhile. A crash in
 * between loses that plan only, never the file (state_store.c replaces it atomically); and the
 * id the lost plan was published with is not handed out again, because every save already
 * reserves the next id (gridems_state_t.plan_id_reserve).
 * State: this file writes svc->planning and svc->plan (service_internal.h), and svc->replan,
 * whose fields are private to it (struct service_replan_s below).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "plan_reference.h"
#include "plan_report.h"
#include "peak_target.h"
#include "planner.h"
#include "plugin_watch.h"
#include "service_internal.h"
#include "state_dir.h"
#include "timeutil.h"

/* The re-plan machinery, private to this file (service_internal.h has only its name). */
struct service_replan_s {
    /* The previous run's last plan (from the state), the tie-break reference of the first
     * re-plan; NULL once handed over or when there was none. */
    gridems_reference_t *restored_reference;
    gridems__replan_reason_t pending_reason; /* of the debounced re-plan, NONE when none */
    uint64_t job_seq;
    bool solving; /* a solve is in flight: solve holds what it was started with */
    struct {
        gridems__replan_reason_t reason;
        int64_t grid_start_ms;
        int64_t started_ms;
        int load_source;
        int jobs_left_out;
        double peak_margin_kw; /* the margin below the peak */
        cJSON *left_out;       /* ids of the devices left out (owned) */
    } solve;                   /* what the last solve submitted was started with */
    struct {
        int64_t step_ms; /* the step whose import samples are being averaged */
        double sum;
        int samples;
        gridems_news_t peak_news; /* the notices of a new billing-period peak */
    } import;                     /* the running step's import, averaged for the billing peak */
    gridems_peak_target_t peak_target; /* the month-aware floor under the plans' peak */
};

gridems__replan_reason_t gridems__service_replan_reason(const gridems_service_t *svc)
{
    return svc->replan != NULL ? svc->replan->solve.reason : GRIDEMS__REPLAN_NONE;
}

/* ---- ## State across restarts ---- */

static void save_state(gridems_service_t *svc)
{
    char err[512] = "";
    int rc = gridems_state_save(svc->cfg.state_dir, &svc->planning.state, err, sizeof err);
    /* Status degraded "state not persisted: <strerror>" until a save succeeds. */
    gridems__service_persist_result(svc, GRIDEMS__PERSIST_STATE, rc, rc != 0 ? errno : 0, err);
}

static void update_period(gridems_service_t *svc, int64_t now)
{
    char key[GRIDEMS_BILLING_KEY_MAX];
    if (gridems_billing_period(now, svc->cfg.site.billing_period, svc->cfg.site.utc_offset_min, key,
                               sizeof key, NULL, NULL) == 0 &&
        strcmp(key, svc->planning.period) != 0) {
        if (svc->planning.period[0] != '\0') {
            gridems_log_notice("billing period %s begins; the peak starts again from zero", key);
        }
        snprintf(svc->planning.period, sizeof svc->planning.period, "%s", key);
    }
}

/* A new billing-period peak is what the site will be billed for: a notice, with what it adds
 * to the demand charge. Early in a period the peak climbs step by step, so the first rise and
 * then one an hour are noticed (with how many came between); the rest go to info. */
#define PEAK_NEWS_MS 3600000LL

static void log_new_peak(gridems_service_t *svc, const char *period, int64_t step_start,
                         double before_kw, double kw, int64_t now)
{
    char when[GRIDEMS_TIME_ISO_BUFLEN];
    gridems_time_format_iso(step_start, svc->cfg.site.utc_offset_min, when, sizeof when);
    char text[400];
    if (before_kw > 0) {
        snprintf(text, sizeof text,
                 "billing period %s: new peak %.1f kW, the mean import of the step from %s (was "
                 "%.1f kW: %.0f %s more demand charge)",
                 period, kw, when, before_kw, (kw - before_kw) * svc->cfg.site.demand_charge_per_kw,
                 svc->cfg.site.currency);
    } else {
        snprintf(text, sizeof text,
                 "billing period %s: peak %.1f kW, the mean import of the step from %s (the "
                 "period's first step noted)",
                 period, kw, when);
    }
    gridems_news_log_or_info(&svc->replan->import.peak_news, "new billing-period peak", text, now,
                             PEAK_NEWS_MS);
}

void gridems__service_note_import(gridems_service_t *svc, double kw)
{
    if (!isfinite(kw) || svc->replan == NULL) {
        return;
    }
    /* The billing peak can never be raised above what the site's connection can draw: a sum of
     * readings above it is no import that ever was (every reading is checked on arrival; this
     * bounds their sum too). */
    double ceiling = gridems__service_peak_ceiling_kw(svc);
    if (kw > ceiling) {
        gridems_log_warn("import %.1f kW is above the site's physical bound of %.1f kW; the peak "
                         "notes the bound",
                         kw, ceiling);
        kw = ceiling;
    }
    /* The billing-period peak is a step's mean import, as the optimizer's peak is (and a
     * utility's 30-minute demand). One sample can be far above that mean, from meter noise or
     * from a sum of device readings taken on both sides of a set-point change; a peak raised by
     * such a sample becomes headroom that every later plan fills. So the samples are averaged
     * per step, and a step's mean is noted once the step is over. */
    int64_t now = gridems_clock_now_ms(&svc->clock);
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    if (gridems_time_align_down(now, step_ms, svc->cfg.site.utc_offset_min, &step_start) != 0) {
        return;
    }
    if (step_start != svc->replan->import.step_ms) {
        char key[GRIDEMS_BILLING_KEY_MAX];
        if (svc->replan->import.samples > 0) {
            gridems__service_history_step_import(svc, svc->replan->import.step_ms,
                                                 svc->replan->import.sum /
                                                     svc->replan->import.samples);
        }
        if (svc->replan->import.samples > 0 &&
            gridems_billing_period(svc->replan->import.step_ms, svc->cfg.site.billing_period,
                                   svc->cfg.site.utc_offset_min, key, sizeof key, NULL,
                                   NULL) == 0) {
            double before = gridems_state_peak_kw(&svc->planning.state, key);
            double mean = svc->replan->import.sum / svc->replan->import.samples;
            if (gridems_state_note_import(&svc->planning.state, key, mean) == 1) {
                save_state(svc); /* a new billing-period peak must survive a crash */
                log_new_peak(svc, key, svc->replan->import.step_ms, before, mean, now);
            }
        }
        svc->replan->import.step_ms = step_start;
        svc->replan->import.sum = 0.0;
        svc->replan->import.samples = 0;
    }
    update_period(svc, now);
    gridems__service_history_step_planned(svc, step_start);
    svc->replan->import.sum += kw;
    svc->replan->import.samples++;
}

int gridems__service_plan_init(gridems_service_t *svc)
{
    char err[512] = "";
    svc->replan = calloc(1, sizeof *svc->replan);
    if (svc->replan == NULL) {
        gridems_log_err("cannot start planning: %s", gridems_strerror(GRIDEMS_ENOMEM));
        return GRIDEMS_ENOMEM;
    }
    gridems_peak_target_init(&svc->replan->peak_target);
    gridems_state_init(&svc->planning.state);
    gridems_step_progress_init(&svc->planning.step_progress);
    update_period(svc, gridems_clock_now_ms(&svc->clock));
    int state_rc = gridems_state_load(svc->cfg.state_dir, &svc->planning.state, err, sizeof err);
    if (state_rc != 0) {
        char kept[4400];
        gridems_state_dir_keep_refused(svc->cfg.state_dir, GRIDEMS_STATE_FILE, state_rc, kept,
                                       sizeof kept);
        gridems_log_err("state: %s; starting with an empty state%s", err, kept);
        gridems_state_free(&svc->planning.state);
        gridems_state_init(&svc->planning.state);
    } else if (svc->planning.state.loaded) {
        gridems_log_notice(
            "state restored from %s: billing-period peak %.1f kW, %d jobs, last "
            "plan %llu",
            svc->cfg.state_dir, gridems_state_peak_kw(&svc->planning.state, svc->planning.period),
            svc->planning.state.n_jobs, (unsigned long long)svc->planning.state.plan_id);
    }
    double ceiling = gridems__service_peak_ceiling_kw(svc);
    if (svc->planning.state.has_peak && svc->planning.state.peak_kw > ceiling) {
        /* A peak no connection of this site can draw came from a bad reading (before readings
         * were checked): it would hide the demand charge for the rest of the period. */
        gridems_log_err("state: the persisted billing-period peak %.1f kW is above the site's "
                        "physical bound of %.1f kW; it is capped there",
                        svc->planning.state.peak_kw, ceiling);
        svc->planning.state.peak_kw = ceiling;
    }
    /* One plan at a time is published before it is saved (see the top of this file). */
    svc->planning.state.plan_id_reserve = 1;
    if (svc->planning.state.has_plan) {
        /* So the first re-plan, a cold solve, stays with the last plan among equal costs. */
        gridems_reference_t *ref = calloc(1, sizeof *ref);
        if (ref != NULL &&
            gridems_plan_reference_from_json(svc->planning.state.plan_json,
                                             svc->planning.state.plan_len, ref) == 0) {
            svc->replan->restored_reference = ref;
        } else {
            free(ref);
        }
    }
    return 0;
}

/* ---- ## What is derived from the plan once ---- */

static void plan_derived_free(service_plan_t *plan)
{
    free(plan->compute_kw);
    free(plan->jobs_by_id);
    plan->compute_kw = NULL;
    plan->jobs_by_id = NULL;
}

static int by_job_id(const void *a, const void *b)
{
    return strcmp(((const service_plan_job_t *)a)->id, ((const service_plan_job_t *)b)->id);
}

static void plan_derive(service_plan_t *plan)
{
    plan_derived_free(plan);
    const gridems_schedule_t *s = &plan->schedule;
    plan->compute_kw = calloc((size_t)(s->steps > 0 ? s->steps : 1), sizeof(double));
    for (int j = 0; plan->compute_kw != NULL && j < s->n_flex_loads; j++) {
        for (int t = 0; t < s->steps; t++) {
            plan->compute_kw[t] += s->flex_loads[j].power_kw[t];
        }
    }
    int n = plan->scenario.n_flex_loads;
    plan->jobs_by_id = malloc((size_t)(n > 0 ? n : 1) * sizeof *plan->jobs_by_id);
    if (plan->jobs_by_id != NULL) {
        for (int j = 0; j < n; j++) {
            plan->jobs_by_id[j] = (service_plan_job_t){plan->scenario.flex_loads[j].id, j};
        }
        qsort(plan->jobs_by_id, (size_t)n, sizeof *plan->jobs_by_id, by_job_id);
    }
}

int gridems__service_plan_job(const service_plan_t *plan, const char *id)
{
    const gridems_scenario_t *sc = &plan->scenario;
    if (id == NULL || !plan->valid) {
        return -1;
    }
    if (plan->jobs_by_id == NULL) {
        for (int j = 0; j < sc->n_flex_loads; j++) {
            if (strcmp(sc->flex_loads[j].id, id) == 0) {
                return j;
            }
        }
        return -1;
    }
    service_plan_job_t key = {id, 0};
    const service_plan_job_t *hit =
        bsearch(&key, plan->jobs_by_id, (size_t)sc->n_flex_loads, sizeof key, by_job_id);
    return hit != NULL ? hit->index : -1;
}

void gridems__service_plan_close(gridems_service_t *svc)
{
    gridems_scenario_free(&svc->plan.scenario);
    gridems_schedule_free(&svc->plan.schedule);
    plan_derived_free(&svc->plan);
    svc->plan.valid = false;
    gridems_state_free(&svc->planning.state);
    gridems_step_progress_free(&svc->planning.step_progress);
    if (svc->replan != NULL) {
        cJSON_Delete(svc->replan->solve.left_out);
        gridems_reference_free(svc->replan->restored_reference);
        free(svc->replan->restored_reference);
        gridems_peak_target_close(&svc->replan->peak_target);
        free(svc->replan);
        svc->replan = NULL;
    }
}

/* ---- ## Triggers ---- */

static void on_debounce(uv_timer_t *t)
{
    gridems_service_t *svc = t->data;
    gridems__replan_reason_t reason = svc->replan->pending_reason;
    svc->replan->pending_reason = GRIDEMS__REPLAN_NONE;
    if (reason != GRIDEMS__REPLAN_NONE) {
        gridems__service_replan_now(svc, reason);
    }
}

const char *gridems__replan_reason_name(gridems__replan_reason_t reason)
{
    static const char *const names[] = {"none",   "timer", "startup", "deviation",
                                        "carbon", "price", "event",   "command"};
    return (unsigned)reason < sizeof names / sizeof names[0] ? names[reason] : "?";
}

void gridems__service_request_replan(gridems_service_t *svc, gridems__replan_reason_t reason)
{
    if (svc->lifecycle.shutting_down || svc->handles.debounce_timer.uv.data == NULL ||
        svc->replan == NULL) {
        return;
    }
    /* Several triggers inside one debounce make one re-plan; it carries the most telling
     * reason, so a utility engineer sees "price" rather than the timer tick it coincided with. */
    if (reason > svc->replan->pending_reason) {
        svc->replan->pending_reason = reason;
    }
    if (!svc->replan->solving && !gridems_timer_is_armed(&svc->handles.debounce_timer)) {
        gridems_timer_start_real(&svc->handles.debounce_timer, on_debounce,
                                 (uint64_t)svc->cfg.planner.debounce_ms, 0);
    }
}

/* ---- ## Inputs ---- */

typedef struct gather_s {
    gridems_service_t *svc;
    gridems_planner_battery_t *batteries;
    int n_batteries;
    gridems_planner_job_t *jobs;
    int n_jobs;
    int cap_jobs;
    double compute_cap_kw;
    bool all_capped;
    bool any_flex;
    cJSON *left_out; /* ids of stale devices */
    int n_flex;      /* flexible devices in the plan */
    /* Each flexible device with a cap of its own, a cluster of the program when there are two
     * or more (with one, its cap is the pooled cap above). Ids borrowed from the devices, which
     * outlive the gathering. */
    gridems_planner_cluster_t *clusters;
    int n_clusters;
} gather_t;

/* cluster: the id of the job's device, borrowed (gather_t). */
static int add_job(gather_t *g, const gridems_flex_job_t *job, int64_t now, const char *cluster)
{
    if (g->n_jobs == g->cap_jobs) {
        int cap = g->cap_jobs ? g->cap_jobs * 2 : 16;
        gridems_planner_job_t *bigger = realloc(g->jobs, (size_t)cap * sizeof *bigger);
        if (bigger == NULL) {
            return GRIDEMS_ENOMEM;
        }
        g->jobs = bigger;
        g->cap_jobs = cap;
    }
    char *id = strdup(job->id);
    if (id == NULL) {
        return GRIDEMS_ENOMEM;
    }
    /* The device may have lost count across a restart; what we persisted is a floor. */
    double delivered = job->energy_delivered_kwh;
    double remaining = job->energy_remaining_kwh;
    const gridems_state_job_t *known = gridems_state_find_job(&g->svc->planning.state, id);
    if (known != NULL && known->delivered_kwh > delivered) {
        remaining = fmax(0.0, remaining - (known->delivered_kwh - delivered));
        delivered = known->delivered_kwh;
    }
    if (job->deadline_ms > now) {
        gridems_state_set_job(&g->svc->planning.state, id, delivered, job->deadline_ms);
    }
    /* Planned to finish a reserve before its deadline (gridems__service_job_reserve_ms). Within
     * the reserve, or late, it is due in the running step, where dispatch runs it at full power:
     * the plan must count that load. */
    int64_t due_ms = job->deadline_ms - gridems__service_job_reserve_ms(g->svc);
    int64_t step_ms = (int64_t)g->svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    if (job->earliest_ms <= now &&
        gridems_time_align_down(now, step_ms, g->svc->cfg.site.utc_offset_min, &step_start) == 0 &&
        due_ms < step_start + step_ms) {
        due_ms = step_start + step_ms;
    }
    double in_step = g->svc->cfg.planner.running_step_whole
                         ? gridems__service_job_in_step_kwh(g->svc, job)
                         : 0.0;
    g->jobs[g->n_jobs++] = (gridems_planner_job_t){
        id, remaining, job->power_max_kw, job->earliest_ms, due_ms, in_step, cluster};
    return 0;
}

static int gather_device(void *arg, gridems__device_t *dev)
{
    gather_t *g = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL || sd->klass == GRIDEMS_DEV_METER) {
        return 0;
    }
    if (gridems__service_device_out(sd)) {
        cJSON_AddItemToArray(g->left_out, cJSON_CreateString(sd->id));
        return 0;
    }
    gridems_caps_t caps;
    /* An implausible device is left out; the rest of the site is planned. */
    if (gridems__watched_caps(g->svc, sd, &caps) != 0 ||
        !gridems__service_caps_ok(g->svc, sd, &caps)) {
        cJSON_AddItemToArray(g->left_out, cJSON_CreateString(sd->id));
        return 0;
    }
    if (sd->klass == GRIDEMS_DEV_BATTERY) {
        gridems_planner_battery_t *bigger =
            realloc(g->batteries, (size_t)(g->n_batteries + 1) * sizeof *bigger);
        char *id = strdup(sd->id);
        if (bigger == NULL || id == NULL) {
            free(id);
            if (bigger != NULL) {
                g->batteries = bigger;
            }
            return GRIDEMS_ENOMEM;
        }
        g->batteries = bigger;
        g->batteries[g->n_batteries].id = id;
        g->batteries[g->n_batteries].caps = caps.u.battery;
        g->n_batteries++;
        return 0;
    }
    g->any_flex = true;
    if (caps.u.flex.power_cap_kw >= 0) {
        g->compute_cap_kw += caps.u.flex.power_cap_kw;
        gridems_planner_cluster_t *bigger =
            realloc(g->clusters, (size_t)(g->n_clusters + 1) * sizeof *bigger);
        if (bigger == NULL) {
            return GRIDEMS_ENOMEM;
        }
        g->clusters = bigger;
        g->clusters[g->n_clusters++] =
            (gridems_planner_cluster_t){sd->id, caps.u.flex.power_cap_kw};
    } else {
        g->all_capped = false;
    }
    g->n_flex++;
    int64_t now = gridems_clock_now_ms(&g->svc->clock);
    for (uint32_t i = 0; i < caps.u.flex.n_jobs; i++) {
        int rc = add_job(g, &caps.u.flex.jobs[i], now, sd->id);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void gather_free(gather_t *g)
{
    for (int b = 0; b < g->n_batteries; b++) {
        free((char *)g->batteries[b].id);
    }
    for (int j = 0; j < g->n_jobs; j++) {
        free((char *)g->jobs[j].id);
    }
    free(g->batteries);
    free(g->jobs);
    free(g->clusters);
}

/* ---- ## Starting a solve ---- */

static int build_scenario(gridems_service_t *svc, gridems_scenario_t *sc,
                          gridems_planner_output_t *out, cJSON *left_out, char *err, size_t errlen)
{
    int64_t now = gridems_clock_now_ms(&svc->clock);
    gridems_forecast_prune(&svc->inputs.import_price, now);
    gridems_forecast_prune(&svc->inputs.export_price, now);
    gridems_forecast_prune(&svc->inputs.carbon, now);
    gridems_dr_events_prune(&svc->inputs.events, now);
    gridems_state_prune_jobs(&svc->planning.state, now);
    update_period(svc, now);
    gridems__service_history_tick(svc, now);
    gather_t g = {svc, NULL, 0, NULL, 0, 0, 0.0, true, false, left_out, 0, NULL, 0};
    int rc = svc->host_ready ? gridems__host_foreach_device(svc->host, gather_device, &g) : 0;
    if (rc != 0) {
        gather_free(&g);
        snprintf(err, errlen, "%s", gridems_strerror(rc));
        return rc;
    }
    double latest_load_kw = 0.0;
    bool has_latest_load = gridems__service_history_latest_load(svc, &latest_load_kw);
    gridems_planner_inputs_t in = {
        &svc->cfg,
        now,
        &svc->inputs.import_price,
        &svc->inputs.export_price,
        &svc->inputs.carbon,
        &svc->inputs.events,
        gridems__service_history_load(svc),
        has_latest_load,
        latest_load_kw,
        gridems_state_peak_kw(&svc->planning.state, svc->planning.period),
        g.batteries,
        g.n_batteries,
        g.jobs,
        g.n_jobs,
        g.any_flex && g.all_capped ? g.compute_cap_kw : -1.0,
        g.clusters,
        g.n_flex >= 2 ? g.n_clusters : 0,
        gridems__service_history_margin(svc),
        &svc->replan->peak_target};
    rc = gridems_planner_build(&in, sc, out, err, errlen);
    gridems_step_progress_snapshot(&svc->planning.step_progress);
    gather_free(&g);
    return rc;
}

/* A re-plan that gave no plan: counted, and the status (degraded with why, or unchanged when
 * why is NULL) published even when its words stay the same, so that the retained status's
 * counters say how many re-plans failed, not how many had when the words last changed. */
static void replan_failed(gridems_service_t *svc, const char *why)
{
    svc->stats.replans_failed++;
    if (why == NULL || !gridems__service_set_status(svc, "degraded", why)) {
        gridems__service_publish_status(svc);
    }
}

void gridems__service_replan_now(gridems_service_t *svc, gridems__replan_reason_t reason)
{
    if (svc->lifecycle.shutting_down || svc->solver == NULL || svc->replan == NULL) {
        return;
    }
    if (svc->handles.debounce_timer.uv.data != NULL) {
        gridems_timer_stop(&svc->handles.debounce_timer);
    }
    if (svc->replan->solving) {
        /* Served when the running solve is done. */
        if (reason > svc->replan->pending_reason) {
            svc->replan->pending_reason = reason;
        }
        return;
    }
    gridems_scenario_t *sc = calloc(1, sizeof *sc);
    cJSON *left_out = cJSON_CreateArray();
    char err[512] = "";
    gridems_planner_output_t out;
    int rc = sc == NULL || left_out == NULL
                 ? GRIDEMS_ENOMEM
                 : build_scenario(svc, sc, &out, left_out, err, sizeof err);
    if (rc != 0) {
        free(sc);
        cJSON_Delete(left_out);
        svc->stats.replans++; /* a re-plan too, one that failed before the solver */
        char reason_text[600];
        snprintf(reason_text, sizeof reason_text, "no plan (%s): %s",
                 gridems__replan_reason_name(reason), err);
        if (!svc->plan.valid || rc != GRIDEMS_ENOENT) {
            replan_failed(svc, reason_text);
        } else {
            gridems_log_warn("%s; keeping plan %llu", reason_text,
                             (unsigned long long)svc->plan.id);
            replan_failed(svc, NULL);
        }
        return;
    }
    int shift = 0;
    if (svc->plan.valid && svc->plan.step_ms == out.step_ms) {
        int64_t k = (out.grid_start_ms - svc->plan.grid_start_ms) / out.step_ms;
        shift = k > 0 && k < out.steps ? (int)k : 0;
    }
    /* The last plan, matched by id and time: ties are broken toward it (the previous run's,
     * until this run has one). Without one (or out of memory) the solve has no tie-break. */
    gridems_reference_t *ref = svc->plan.valid ? calloc(1, sizeof *ref) : NULL;
    if (ref != NULL &&
        gridems_reference_from_schedule(ref, &svc->plan.scenario, &svc->plan.schedule,
                                        svc->plan.grid_start_ms) != 0) {
        free(ref);
        ref = NULL;
    }
    if (ref == NULL && !svc->plan.valid) {
        ref = svc->replan->restored_reference;
        svc->replan->restored_reference = NULL;
    }
    if (ref != NULL) {
        /* Jobs in the running step only: across the whole horizon their shares of the compute
         * cap are one huge optimal face, and following it took ~1500 second-stage iterations
         * (~230 ms) per price update on the canonical site, against ~60 this way. */
        ref->flex_match_steps = 1;
    }
    /* A look-ahead due for the month-aware peak target is solved on the solver thread, before
     * the plan (peak_target.h): never on this loop. */
    rc = gridems_solver_submit_plan(svc->solver, ++svc->replan->job_seq, sc, shift, ref,
                                    out.grid_start_ms, out.peak_lookahead);
    if (rc != 0) {
        if (out.peak_lookahead != NULL) {
            gridems_scenario_free(out.peak_lookahead);
            free(out.peak_lookahead);
            gridems_peak_target_lost(&svc->replan->peak_target);
        }
        gridems_reference_free(ref);
        free(ref);
        gridems_scenario_free(sc);
        free(sc);
        cJSON_Delete(left_out);
        gridems_log_err("cannot submit the re-plan: %s", gridems_strerror(rc));
        return;
    }
    cJSON_Delete(svc->replan->solve.left_out);
    svc->replan->solve.left_out = left_out;
    svc->replan->solving = true;
    svc->replan->solve.reason = reason;
    svc->replan->solve.grid_start_ms = out.grid_start_ms;
    svc->replan->solve.started_ms = gridems_clock_now_ms(&svc->clock);
    svc->replan->solve.load_source = (int)out.load_source;
    svc->replan->solve.jobs_left_out = out.jobs_left_out;
    svc->replan->solve.peak_margin_kw = out.peak_margin_kw;
    gridems_log_debug("re-plan (%s) submitted: %d steps from grid start, %d jobs, shift %d",
                      gridems__replan_reason_name(reason), out.steps, out.jobs_planned, shift);
    if (gridems_clock_mode(&svc->clock) == GRIDEMS_CLOCK_STEPPED) {
        /* Lockstep: the result is handled here, before any other event of the present, so the
         * order of events never depends on how long the solve took (lockstep.h). */
        gridems_solver_wait(svc->solver);
    }
}

/* ---- ## Results ---- */

static cJSON *plan_record(gridems_service_t *svc, uint64_t id, const gridems_scenario_t *sc,
                          const gridems_solver_result_t *res)
{
    cJSON *plan = cJSON_CreateObject();
    if (plan == NULL) {
        return NULL;
    }
    char created[64];
    gridems_time_format_iso(gridems_clock_now_ms(&svc->clock), svc->cfg.site.utc_offset_min,
                            created, sizeof created);
    cJSON_AddNumberToObject(plan, "id", (double)id);
    cJSON_AddStringToObject(plan, "created", created);
    cJSON_AddStringToObject(plan, "reason", gridems__replan_reason_name(svc->replan->solve.reason));
    cJSON *inputs = cJSON_AddObjectToObject(plan, "inputs");
    if (inputs != NULL) {
        cJSON_AddStringToObject(inputs, "base_load",
                                gridems_load_source_name(svc->replan->solve.load_source));
        cJSON_AddNumberToObject(inputs, "import_price_intervals",
                                (double)svc->inputs.import_price.n);
        cJSON_AddNumberToObject(inputs, "export_price_intervals",
                                (double)svc->inputs.export_price.n);
        cJSON_AddNumberToObject(inputs, "carbon_intervals", (double)svc->inputs.carbon.n);
        cJSON_AddNumberToObject(inputs, "dr_events", (double)svc->inputs.events.n);
        cJSON_AddNumberToObject(inputs, "jobs_outside_horizon", svc->replan->solve.jobs_left_out);
        cJSON_AddNumberToObject(inputs, "peak_margin_kw", svc->replan->solve.peak_margin_kw);
        cJSON_AddNumberToObject(inputs, "peak_target_kw",
                                svc->cfg.planner.peak_target_days > 0 &&
                                        svc->replan->peak_target.has_target
                                    ? svc->replan->peak_target.target_kw
                                    : 0.0);
        cJSON_AddItemToObject(inputs, "stale_devices",
                              svc->replan->solve.left_out != NULL ? svc->replan->solve.left_out
                                                                  : cJSON_CreateArray());
        svc->replan->solve.left_out = NULL;
        cJSON_AddNumberToObject(inputs, "queue_ms", res->queue_wait_ms);
        /* The whole scenario, so anyone can re-solve it with `gridems solve`. It goes in as raw
         * text: parsed and printed again, cJSON would write 15 digits wherever they read back
         * within DBL_EPSILON, and the numbers would no longer be exactly those solved. */
        char *scenario = gridems_scenario_to_json(sc);
        if (scenario != NULL) {
            cJSON_Minify(scenario);
            cJSON_AddRawToObject(inputs, "scenario", scenario);
        }
        free(scenario);
    }
    return plan;
}

/* Publish the plan and remember it in the state (saved by the caller, after). */
static void publish_plan(gridems_service_t *svc, uint64_t id, gridems_solver_result_t *res)
{
    cJSON *root = gridems__schedule_to_cjson(res->scenario, &res->schedule);
    if (root != NULL) {
        gridems__service_add_step_times(svc, root, svc->replan->solve.grid_start_ms,
                                        (int64_t)svc->cfg.planner.step_minutes * 60000,
                                        res->schedule.steps);
    }
    cJSON *plan = root != NULL ? plan_record(svc, id, res->scenario, res) : NULL;
    if (plan == NULL || !cJSON_AddItemToObject(root, "plan", plan)) {
        cJSON_Delete(plan);
        cJSON_Delete(root);
        gridems_log_err("out of memory writing plan %llu", (unsigned long long)id);
        return;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return;
    }
    size_t len = strlen(text);
    gridems_state_set_plan(&svc->planning.state, id, gridems_clock_now_ms(&svc->clock), text, len);
    char topic[512];
    snprintf(topic, sizeof topic, "%s/schedule", svc->cfg.mqtt.topic_prefix);
    int rc = svc->mqtt != NULL ? gridems_mqtt_publish(svc->mqtt, topic, text, len, 1, 1)
                               : GRIDEMS_ESTATE;
    if (rc != 0) {
        gridems_log_warn("plan %llu not published (%s); it is kept and applied",
                         (unsigned long long)id, gridems_strerror(rc));
    }
    cJSON_free(text);
}

/* What the reserve of each job of the plan can still deliver after the step the plan must finish
 * it by: the job's power from there to its own deadline (plan_report.h). Nothing for a job whose
 * deadline is past the horizon (the plan's finish there is the horizon's end, not a reserve) or
 * unknown, or already past. NULL when out of memory: the report then counts no reserves. */
static double *plan_reserves(const gridems_service_t *svc)
{
    const gridems_scenario_t *sc = &svc->plan.scenario;
    double *reserve =
        calloc((size_t)(sc->n_flex_loads > 0 ? sc->n_flex_loads : 1), sizeof *reserve);
    if (reserve == NULL) {
        return NULL;
    }
    int64_t horizon_end = svc->plan.grid_start_ms + (int64_t)sc->steps * svc->plan.step_ms;
    for (int j = 0; j < sc->n_flex_loads; j++) {
        const gridems_flex_load_t *fl = &sc->flex_loads[j];
        const gridems_state_job_t *known = gridems_state_find_job(&svc->planning.state, fl->id);
        int64_t finish = svc->plan.grid_start_ms + (int64_t)fl->deadline_step * svc->plan.step_ms;
        if (known != NULL && known->deadline_ms <= horizon_end && known->deadline_ms > finish) {
            reserve[j] = fl->power_max_kw * (double)(known->deadline_ms - finish) / 3600000.0;
        }
    }
    return reserve;
}

static void adopt_plan(gridems_service_t *svc, uint64_t id, gridems_solver_result_t *res)
{
    gridems_scenario_free(&svc->plan.scenario);
    gridems_schedule_free(&svc->plan.schedule);
    svc->plan.scenario = *res->scenario;
    free(res->scenario);
    res->scenario = NULL;
    svc->plan.schedule = res->schedule;
    memset(&res->schedule, 0, sizeof res->schedule);
    svc->plan.valid = true;
    svc->plan.id = id;
    svc->plan.created_ms = gridems_clock_now_ms(&svc->clock);
    svc->plan.grid_start_ms = svc->replan->solve.grid_start_ms;
    svc->plan.step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    plan_derive(&svc->plan);
    gridems_step_progress_adopt(&svc->planning.step_progress);
}

void gridems__service_on_solver_result(gridems_solver_t *s, gridems_solver_result_t *res,
                                       void *userdata)
{
    gridems_service_t *svc = userdata;
    (void)s;
    if (res->rc == GRIDEMS_ECANCELED) {
        return;
    }
    if (res->lookahead_done) {
        gridems_peak_target_t *pt = &svc->replan->peak_target;
        gridems_peak_target_solved(pt, res->lookahead_ok, res->lookahead_peak_kw,
                                   res->lookahead_ms);
        if (res->lookahead_ok) {
            gridems_log_debug("peak target: look-ahead peak %.1f kW in %.1f ms; target %.1f kW",
                              res->lookahead_peak_kw, res->lookahead_ms, pt->target_kw);
        } else {
            gridems_log_warn("peak target: the look-ahead program was not solved (%d failures); "
                             "%s",
                             pt->failures, pt->has_target ? "the last target holds" : "none yet");
        }
    }
    svc->replan->solving = false;
    svc->stats.replans++;
    if (res->rc != 0) {
        cJSON_Delete(svc->replan->solve.left_out);
        svc->replan->solve.left_out = NULL;
        char reason[600];
        snprintf(reason, sizeof reason, "re-plan (%s) failed: %s; keeping plan %llu",
                 gridems__replan_reason_name(svc->replan->solve.reason), res->err,
                 (unsigned long long)svc->plan.id);
        replan_failed(svc, reason);
        gridems__service_observe_result(svc, 0, res->solve_wall_ms, 0, 0.0);
    } else if (!svc->lifecycle.shutting_down) {
        uint64_t id = gridems_state_take_plan_id(&svc->planning.state);
        publish_plan(svc, id, res);
        gridems_log_info(
            "plan %llu (%s): objective %.2f, %d steps, %d iterations, %.1f ms "
            "(%s start; tie-break %s, %d of the iterations)",
            (unsigned long long)id, gridems__replan_reason_name(svc->replan->solve.reason),
            res->schedule.objective, res->schedule.steps, res->schedule.iterations,
            res->solve_wall_ms, gridems_start_kind_name(res->schedule.start_kind),
            gridems_tie_break_name(res->schedule.tie_break), res->schedule.tie_break_iterations);
        adopt_plan(svc, id, res);
        char reason[512];
        /* A plan that carries penalties (unserved load, unmet job energy, a battery short of
         * its target) is degraded, said once per plan with what and why (plan_report.h); energy
         * a job's reserve can still deliver is no shortfall, and is said too. */
        double *reserves = plan_reserves(svc);
        int shortfall = gridems_plan_report(id, &svc->plan.scenario, &svc->plan.schedule,
                                            &svc->inputs.events, svc->plan.grid_start_ms,
                                            svc->plan.step_ms, reserves, reason, sizeof reason);
        free(reserves);
        if (strstr(reason, "runs into its reserve") != NULL) {
            /* Not forgotten between such plans: a job that falls behind after each step's start
             * and catches up within the step (planner.running_step "rest") is a line an hour,
             * not one a step. */
            gridems_news_log(&svc->status.reserve_news, GRIDEMS_LOG_NOTICE, "", reason,
                             gridems_clock_now_ms(&svc->clock), GRIDEMS__STATUS_REMINDER_MS);
        }
        if (shortfall) {
            gridems__service_set_status(svc, "degraded", reason);
        } else if (reason[0] != '\0') {
            gridems__service_set_status(svc, "online", reason);
        } else {
            snprintf(reason, sizeof reason, "plan %llu (%s)", (unsigned long long)id,
                     svc->plan.scenario.n_batteries + svc->plan.scenario.n_flex_loads > 0
                         ? "devices scheduled"
                         : "no controllable devices");
            gridems__service_set_status(svc, "online", reason);
        }
        gridems__service_observe_result(svc, id, res->solve_wall_ms, svc->plan.schedule.iterations,
                                        svc->plan.schedule.objective);
        gridems__service_dispatch(svc);
        /* Last: the schedule and the set-points are on their way (see the top of this file). */
        save_state(svc);
    }
    if (svc->replan->pending_reason != GRIDEMS__REPLAN_NONE && !svc->lifecycle.shutting_down) {
        gridems__replan_reason_t reason = svc->replan->pending_reason;
        svc->replan->pending_reason = GRIDEMS__REPLAN_NONE;
        gridems__service_request_replan(svc, reason);
    }
}
