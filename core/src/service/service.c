/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The service's lifecycle: start-up, status, signals, SIGHUP reload and the shutdown order.
 *
 * Shutdown (SIGTERM/SIGINT), GUIDE E's order adapted to plugins that talk MQTT themselves:
 *   1. stop the timers (no new plans, no new set-points);
 *   2. put every device in safe mode (a battery holds at zero power);
 *   3. shut the solver thread down and unload the plugins, in parallel (a plugin may still
 *      publish its last command while it unloads, so MQTT stays up until both are done);
 *   4. publish "offline" (retained, QoS 1), disconnect, destroy the MQTT client;
 *   5. close the signal and timer handles; the loop ends; uv_loop_close().
 * A watchdog timer ends a shutdown that takes longer than SHUTDOWN_LIMIT_MS.
 * State: this file writes svc->handles, svc->status and svc->lifecycle, and sets up the
 * collaborators of gridems_service_t (service_internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "plugin_loader.h"
#include "dr_store.h"
#include "plugin_watch.h"
#include "state_dir.h"
#include "service_internal.h"
#include "timeutil.h"

#ifndef GRIDEMS_VERSION
#define GRIDEMS_VERSION "0"
#endif

enum {
    SHUTDOWN_LIMIT_MS = 8000,
    MQTT_SHUTDOWN_MS = 3000,
    CONTROL_TICK_SIM_MS = 60000,
    CONTROL_TICK_MIN_REAL_MS = 100
};

/* ---- ## Status ---- */

char *gridems__service_status_json(gridems_service_t *svc, const char *state)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    char since[64];
    gridems_time_format_iso(svc->status.since_ms, svc->cfg.site.utc_offset_min, since,
                            sizeof since);
    cJSON_AddStringToObject(root, "state", state);
    cJSON_AddStringToObject(root, "since", since);
    cJSON_AddStringToObject(root, "version", GRIDEMS_VERSION);
    cJSON_AddStringToObject(root, "reason", svc->status.reason);
    if (svc->plan.valid) {
        cJSON_AddNumberToObject(root, "plan_id", (double)svc->plan.id);
    }
    cJSON *stats = cJSON_AddObjectToObject(root, "counters");
    if (stats != NULL) {
        cJSON_AddNumberToObject(stats, "replans", (double)svc->stats.replans);
        cJSON_AddNumberToObject(stats, "replans_failed", (double)svc->stats.replans_failed);
        cJSON_AddNumberToObject(stats, "rejected_messages", (double)svc->stats.rejected_messages);
        cJSON_AddNumberToObject(stats, "setpoints_sent", (double)svc->stats.setpoints_sent);
        cJSON_AddNumberToObject(stats, "peak_guard_engagements", (double)svc->guard.engagements);
        cJSON_AddNumberToObject(stats, "peak_guard_shed_kwh", svc->guard.shed_kwh);
        if (svc->solver != NULL) {
            /* How the solves went: warm starts abandoned at their cap or refused by GLPK (both
             * solved cold), and the tie-break toward the previous plan. */
            gridems_solver_stats_t st;
            gridems_solver_stats(svc->solver, &st);
            cJSON_AddNumberToObject(stats, "solves_warm_capped", (double)st.warm_capped);
            cJSON_AddNumberToObject(stats, "solves_warm_refused", (double)st.warm_refused);
            cJSON_AddNumberToObject(stats, "tie_breaks_applied", (double)st.ties_applied);
            cJSON_AddNumberToObject(stats, "tie_breaks_skipped", (double)st.ties_skipped);
        }
        if (svc->mqtt != NULL) {
            gridems_mqtt_stats_t m;
            gridems_mqtt_get_stats(svc->mqtt, &m);
            cJSON_AddNumberToObject(stats, "mqtt_received", (double)m.received);
            cJSON_AddNumberToObject(stats, "mqtt_published", (double)m.published);
            cJSON_AddNumberToObject(stats, "mqtt_publish_failures", (double)m.publish_failures);
            cJSON_AddNumberToObject(stats, "mqtt_reconnects", (double)m.reconnects);
        }
    }
    gridems__service_openadr_status(svc, root);
    char *text = gridems__json_print(root);
    cJSON_Delete(root);
    return text;
}

void gridems__service_publish_status(gridems_service_t *svc)
{
    if (svc->mqtt == NULL || svc->lifecycle.shutting_down) {
        return;
    }
    char *json = gridems__service_status_json(svc, svc->status.word);
    if (json != NULL) {
        gridems_mqtt_publish_status(svc->mqtt, json);
        free(json);
    }
}

/* The status turned or stays degraded with reason: a warning when the service has just become
 * degraded or the reason changed in kind, and hourly (service clock) while it lasts, so a
 * shortfall that lasts a day is a few lines, not one per plan. */
static void log_degraded(gridems_service_t *svc, const char *reason)
{
    if (strcmp(svc->status.word, "degraded") != 0) {
        gridems_news_reset(&svc->status.degraded_news);
    }
    gridems_news_log(&svc->status.degraded_news, GRIDEMS_LOG_WARNING, "status degraded: ", reason,
                     gridems_clock_now_ms(&svc->clock), GRIDEMS__STATUS_REMINDER_MS);
}

bool gridems__service_set_status(gridems_service_t *svc, const char *state, const char *reason)
{
    char full[sizeof svc->status.reason];
    bool kept_degraded = false;
    svc->status.base_state = state;
    if (reason != svc->status.base_reason) {
        snprintf(svc->status.base_reason, sizeof svc->status.base_reason, "%s", reason);
    }
    /* Plugin instances that failed to load, implausible devices, stuck plugins and a state_dir
     * that cannot be written leave the service degraded however well the rest goes, and every
     * status says why (service_health.c). */
    char problems[sizeof svc->status.reason / 2];
    gridems__service_problems(svc, strcmp(reason, svc->status.load_problem) != 0, problems,
                              sizeof problems);
    if (problems[0] != '\0') {
        kept_degraded = strcmp(state, "degraded") != 0;
        snprintf(full, sizeof full, "%s; %s", reason, problems);
        state = "degraded";
        reason = full;
    }
    if (strcmp(svc->status.word, state) == 0 && strcmp(svc->status.reason, reason) == 0) {
        return false;
    }
    if (strcmp(state, "degraded") == 0) {
        /* A good plan while degraded by the plugins is no news for the log. */
        if (!kept_degraded || strcmp(svc->status.word, "degraded") != 0) {
            log_degraded(svc, reason);
        }
    } else if (strcmp(svc->status.word, state) != 0) {
        gridems_log_notice("status %s: %s", state, reason);
    }
    if (strcmp(svc->status.word, state) != 0) {
        svc->status.since_ms = gridems_clock_now_ms(&svc->clock);
    }
    svc->status.word = state;
    snprintf(svc->status.reason, sizeof svc->status.reason, "%s", reason);
    gridems__service_publish_status(svc);
    return true;
}

static void on_connected(gridems_mqtt_t *m, int reconnect, void *userdata)
{
    gridems_service_t *svc = userdata;
    (void)m;
    gridems_log_notice("MQTT %s to %s", reconnect ? "reconnected" : "connected", svc->cfg.mqtt.uri);
    gridems__service_publish_status(svc);
    if (reconnect) {
        /* What we missed while away (retained forecasts come again) is worth a fresh look. */
        gridems__service_request_replan(svc, GRIDEMS__REPLAN_COMMAND);
    }
}

static void on_disconnected(gridems_mqtt_t *m, void *userdata)
{
    gridems_service_t *svc = userdata;
    (void)m;
    gridems_log_warn("MQTT connection to %s lost; reconnecting", svc->cfg.mqtt.uri);
}

/* ---- ## Shutdown ---- */

static void on_handle_closed(uv_handle_t *handle)
{
    gridems_service_t *svc = handle->data;
    svc->handles.open--;
}

static void close_handles(gridems_service_t *svc)
{
    uv_handle_t *handles[] = {(uv_handle_t *)&svc->handles.sig_term,
                              (uv_handle_t *)&svc->handles.sig_int,
                              (uv_handle_t *)&svc->handles.sig_hup,
                              (uv_handle_t *)&svc->handles.replan_timer.uv,
                              (uv_handle_t *)&svc->handles.debounce_timer.uv,
                              (uv_handle_t *)&svc->handles.control_timer.uv,
                              (uv_handle_t *)&svc->handles.shutdown_timer,
                              (uv_handle_t *)&svc->handles.watch_timer,
                              (uv_handle_t *)&svc->handles.step_timer.uv,
                              (uv_handle_t *)&svc->handles.guard_timer.uv};
    gridems_timer_t *timers[] = {&svc->handles.replan_timer, &svc->handles.debounce_timer,
                                 &svc->handles.control_timer, &svc->handles.step_timer,
                                 &svc->handles.guard_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        gridems_timer_stop(timers[i]);
    }
    gridems__watchdog_close_loop_handles(&svc->lifecycle.watchdog, NULL);
    if (svc->lockstep != NULL) {
        gridems__lockstep_close(svc->lockstep);
        svc->lockstep = NULL;
    }
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++) {
        /* A handle's data is set when it is initialised (start-up may have failed before). */
        if (handles[i]->data != NULL && !uv_is_closing(handles[i])) {
            uv_close(handles[i], on_handle_closed);
        }
    }
}

static void on_mqtt_shut(gridems_mqtt_t *m, int status, void *userdata)
{
    gridems_service_t *svc = userdata;
    (void)m;
    svc->mqtt = NULL;
    if (status == 0) {
        gridems_log_info("published offline and disconnected");
    } else {
        gridems_log_warn("MQTT shutdown: %s (the broker publishes the last will)",
                         gridems_strerror(status));
    }
    close_handles(svc);
}

static void shutdown_step_done(gridems_service_t *svc)
{
    if (--svc->lifecycle.steps_left > 0) {
        return;
    }
    if (svc->mqtt != NULL) {
        char *offline = gridems__service_status_json(svc, "offline");
        int rc = gridems_mqtt_shutdown(svc->mqtt, offline, MQTT_SHUTDOWN_MS, on_mqtt_shut);
        free(offline);
        if (rc == 0) {
            return;
        }
        gridems_log_err("MQTT shutdown failed: %s", gridems_strerror(rc));
    }
    close_handles(svc);
}

static void on_plugins_unloaded(void *arg)
{
    gridems_service_t *svc = arg;
    gridems__host_destroy(svc->host);
    svc->host = NULL;
    svc->host_ready = false;
    shutdown_step_done(svc);
}

static void on_solver_shut(gridems_solver_t *s, void *userdata)
{
    gridems_service_t *svc = userdata;
    (void)s;
    svc->solver = NULL;
    shutdown_step_done(svc);
}

static void on_shutdown_watchdog(uv_timer_t *t)
{
    gridems_log_err("shutdown did not finish within %d ms; exiting", SHUTDOWN_LIMIT_MS);
    (void)t;
    _exit(1);
}

static void begin_shutdown(gridems_service_t *svc, const char *why)
{
    if (svc->lifecycle.shutting_down) {
        return;
    }
    gridems_log_notice("%s: shutting down", why);
    gridems__watchdog_stopping(&svc->lifecycle.watchdog);
    if (svc->handles.shutdown_timer.data != NULL) {
        gridems_timer_stop(&svc->handles.replan_timer);
        gridems_timer_stop(&svc->handles.debounce_timer);
        gridems_timer_stop(&svc->handles.control_timer);
        gridems_timer_stop(&svc->handles.step_timer);
        gridems_timer_stop(&svc->handles.guard_timer);
        uv_timer_stop(&svc->handles.watch_timer);
        uv_signal_stop(&svc->handles.sig_hup);
        uv_timer_start(&svc->handles.shutdown_timer, on_shutdown_watchdog, SHUTDOWN_LIMIT_MS, 0);
        uv_unref((uv_handle_t *)&svc->handles.shutdown_timer);
    }
    gridems__service_http_stop(svc);
    gridems__service_all_safe(svc);
    /* Every device hears that the service is going away, before its destroy() (plugin.h,
     * GRIDEMS_EVT_SHUTDOWN). */
    gridems_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = GRIDEMS_EVT_SHUTDOWN;
    gridems__service_notify_devices(svc, &ev);
    svc->lifecycle.shutting_down = true;
    svc->lifecycle.steps_left = 3;
    if (!gridems__service_openadr_stop(svc, shutdown_step_done)) {
        svc->lifecycle.steps_left--;
    }
    if (svc->solver == NULL || gridems_solver_shutdown(svc->solver, on_solver_shut) != 0) {
        svc->solver = NULL;
        svc->lifecycle.steps_left--;
    }
    if (!svc->host_ready || gridems__host_unload_all(svc->host, on_plugins_unloaded, svc) != 0) {
        svc->lifecycle.steps_left--;
    }
    if (svc->lifecycle.steps_left == 0) {
        svc->lifecycle.steps_left = 1;
        shutdown_step_done(svc);
    }
}

void gridems__service_stop(gridems_service_t *svc, const char *why)
{
    begin_shutdown(svc, why);
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
    begin_shutdown(sig->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- ## The peak guard's timer ---- */

static void on_guard_timer(uv_timer_t *t)
{
    gridems__service_guard_tick(t->data);
}

/* The peak guard's timer, armed as the control tick's is; stopped (and the set-points given back
 * to the plan) when the guard is disabled. Start-up and SIGHUP. */
/* A repeating timer every period_ms of site time, but never more often than
 * CONTROL_TICK_MIN_REAL_MS of real time on a fast simulated clock. */
static void start_site_ticker(gridems_service_t *svc, gridems_timer_t *t, uv_timer_cb cb,
                              int64_t period_ms)
{
    if (gridems_clock_mode(&svc->clock) == GRIDEMS_CLOCK_SIMULATED) {
        double floor_ms = CONTROL_TICK_MIN_REAL_MS * gridems_clock_speed(&svc->clock);
        period_ms = floor_ms > (double)period_ms ? (int64_t)floor_ms : period_ms;
    }
    gridems_timer_start(t, cb, period_ms, period_ms);
}

static void arm_guard(gridems_service_t *svc)
{
    const gridems_service_config_t *cfg = &svc->cfg;
    if (!cfg->planner.peak_guard.enabled) {
        gridems_timer_stop(&svc->handles.guard_timer);
        gridems__service_guard_release(svc);
        return;
    }
    start_site_ticker(svc, &svc->handles.guard_timer, on_guard_timer,
                      (int64_t)cfg->planner.peak_guard.interval_seconds * 1000);
}

/* ---- ## SIGHUP: reload ---- */

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Settings that only a restart applies: say so rather than half-apply them. */
static void note_restart_only(const gridems_service_config_t *old,
                              const gridems_service_config_t *cur)
{
    const char *what = NULL;
    if (!same_text(old->mqtt.uri, cur->mqtt.uri) ||
        !same_text(old->mqtt.topic_prefix, cur->mqtt.topic_prefix) ||
        !same_text(old->mqtt.topics.price, cur->mqtt.topics.price) ||
        !same_text(old->mqtt.topics.price_export, cur->mqtt.topics.price_export) ||
        !same_text(old->mqtt.topics.carbon, cur->mqtt.topics.carbon) ||
        !same_text(old->mqtt.topics.event, cur->mqtt.topics.event) ||
        !same_text(old->mqtt.topics.cmd, cur->mqtt.topics.cmd)) {
        what = "mqtt";
    } else if (old->http.enabled != cur->http.enabled || old->http.port != cur->http.port ||
               strcmp(old->http.host, cur->http.host) != 0 ||
               !same_text(old->http.user, cur->http.user) ||
               !same_text(old->http.password, cur->http.password) ||
               old->http.auth_reads != cur->http.auth_reads) {
        what = "http";
    } else if (!gridems_openadr_config_same(&old->openadr, &cur->openadr)) {
        what = "openadr";
    } else if (!same_text(old->state_dir, cur->state_dir)) {
        what = "state_dir";
    } else if (!same_text(old->plugin_dir, cur->plugin_dir)) {
        what = "plugin_dir";
    } else if (old->clock.mode != cur->clock.mode || old->clock.speed != cur->clock.speed) {
        what = "clock";
    } else if (old->planner.step_minutes != cur->planner.step_minutes ||
               old->site.utc_offset_min != cur->site.utc_offset_min) {
        what = "planner.step_minutes/site.utc_offset";
    }
    if (what != NULL) {
        gridems_log_warn("reload: changes under \"%s\" take effect at the next restart", what);
    }
}

/* ---- ### Plugin instances on SIGHUP ---- */

/* An instance being unloaded on SIGHUP, and (when it changed) the entry to load once it is gone.
 */
typedef struct reload_job_s {
    gridems_service_t *svc;
    cJSON *instance; /* a copy of the new entry, or NULL when the instance was removed */
    char *name;
} reload_job_t;

static gridems_plugin_t *running_instance(gridems_service_t *svc, const char *name)
{
    return gridems__host_find_instance(svc->host, name);
}

static void reload_load(gridems_service_t *svc, const cJSON *instance, const char *name)
{
    gridems_plugin_t *inst = NULL;
    char err[512] = "";
    /* A refusal is logged by the loader; the other instances go on. */
    if (gridems__plugin_load(svc->host, instance, svc->cfg.plugin_dir, &inst, err, sizeof err) ==
        0) {
        gridems_log_notice("reload: plugin instance \"%s\" loaded with its new entry", name);
    } else {
        gridems_log_err("reload: plugin instance \"%s\" failed to load; it stays unloaded until "
                        "a reload or restart that loads it",
                        name);
    }
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_COMMAND);
}

static void on_reload_unloaded(void *arg)
{
    reload_job_t *job = arg;
    gridems_service_t *svc = job->svc;
    if (job->instance == NULL) {
        gridems_log_notice("reload: plugin instance \"%s\" unloaded", job->name);
        if (!svc->lifecycle.shutting_down) {
            gridems__service_request_replan(svc, GRIDEMS__REPLAN_COMMAND);
        }
    } else if (!svc->lifecycle.shutting_down) {
        reload_load(svc, job->instance, job->name);
    }
    cJSON_Delete(job->instance);
    free(job->name);
    free(job);
}

static const gridems_service_plugin_t *find_instance(const gridems_service_config_t *cfg,
                                                     const char *name)
{
    for (int i = 0; i < cfg->n_plugins; i++) {
        if (strcmp(cfg->plugins[i].name, name) == 0) {
            return &cfg->plugins[i];
        }
    }
    return NULL;
}

/* Unload the instance `name` (running), then load `now` (NULL: removed) once it is gone. */
static void reload_replace(gridems_service_t *svc, gridems_plugin_t *inst, const char *name,
                           const gridems_service_plugin_t *now)
{
    reload_job_t *job = calloc(1, sizeof *job);
    if (job != NULL) {
        job->svc = svc;
        job->name = strdup(name);
        job->instance = now != NULL ? cJSON_Duplicate(now->instance, 1) : NULL;
    }
    if (job == NULL || job->name == NULL || (now != NULL && job->instance == NULL)) {
        gridems_log_err("reload: out of memory; plugin instance \"%s\" keeps running unchanged",
                        name);
    } else if (gridems__plugin_unload(inst, on_reload_unloaded, job) == 0) {
        return;
    }
    if (job != NULL) {
        cJSON_Delete(job->instance);
        free(job->name);
        free(job);
    }
}

/*
 * Apply the plugin instances of `fresh`: an instance whose entry (plugin, path, options) changed
 * is unloaded and loaded again with the new entry, a removed one is unloaded, a new one is
 * loaded; the others are left alone. Each is named in the log. The devices of the instances kept
 * get GRIDEMS_EVT_RELOAD (the others are closing, or come with a fresh init). Then the running
 * config takes fresh's plugins (fresh gets the old ones, to be freed with it).
 */
static void apply_plugin_changes(gridems_service_t *svc, gridems_service_config_t *fresh)
{
    const gridems_service_config_t *old = &svc->cfg;
    bool *load = calloc((size_t)fresh->n_plugins + 1, sizeof *load); /* fresh entries to load */
    for (int i = 0; i < old->n_plugins; i++) {
        const gridems_service_plugin_t *was = &old->plugins[i];
        const gridems_service_plugin_t *now = find_instance(fresh, was->name);
        if (now != NULL && cJSON_Compare(was->instance, now->instance, 1)) {
            continue;
        }
        gridems_plugin_t *inst = svc->host_ready ? running_instance(svc, was->name) : NULL;
        if (now == NULL) {
            gridems_log_warn("reload: plugin instance \"%s\" was removed from the config; "
                             "unloading it",
                             was->name);
        } else {
            gridems_log_warn("reload: plugin instance \"%s\" changed (plugin, path or options); "
                             "reloading it",
                             was->name);
        }
        if (inst != NULL) {
            reload_replace(svc, inst, was->name, now);
        } else if (now != NULL && load != NULL) {
            load[now - fresh->plugins] = true; /* it had failed to load */
        }
    }
    for (int i = 0; i < fresh->n_plugins; i++) {
        const gridems_service_plugin_t *now = &fresh->plugins[i];
        if (find_instance(old, now->name) == NULL) {
            gridems_log_warn("reload: plugin instance \"%s\" is new; loading it", now->name);
            if (load != NULL) {
                load[i] = true;
            }
        }
    }
    gridems_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = GRIDEMS_EVT_RELOAD;
    gridems__service_notify_devices(svc, &ev);
    for (int i = 0; svc->host_ready && load != NULL && i < fresh->n_plugins; i++) {
        if (load[i]) {
            reload_load(svc, fresh->plugins[i].instance, fresh->plugins[i].name);
        }
    }
    free(load);
    gridems_service_plugin_t *plugins = svc->cfg.plugins;
    int n_plugins = svc->cfg.n_plugins;
    cJSON *root = svc->cfg.root;
    svc->cfg.plugins = fresh->plugins;
    svc->cfg.n_plugins = fresh->n_plugins;
    svc->cfg.root = fresh->root;
    fresh->plugins = plugins;
    fresh->n_plugins = n_plugins;
    fresh->root = root;
}

static void on_hup(uv_signal_t *sig, int signum)
{
    gridems_service_t *svc = sig->data;
    (void)signum;
    gridems_service_config_t fresh;
    memset(&fresh, 0, sizeof fresh);
    char err[512];
    int rc = gridems_service_config_load(svc->config_path, &fresh, err, sizeof err);
    if (rc != 0) {
        gridems_log_err("reload refused, keeping the running config: %s", err);
        return;
    }
    note_restart_only(&svc->cfg, &fresh);
    /* What applies live: the site's limits and charges, every planner setting but the grid, the
     * log level and the plugin instances (apply_plugin_changes). Other strings stay with the
     * running config. */
    int step = svc->cfg.planner.step_minutes;
    int offset = svc->cfg.site.utc_offset_min;
    svc->cfg.site.import_limit_kw = fresh.site.import_limit_kw;
    svc->cfg.site.export_limit_kw = fresh.site.export_limit_kw;
    svc->cfg.site.demand_charge_per_kw = fresh.site.demand_charge_per_kw;
    svc->cfg.site.billing_period = fresh.site.billing_period;
    svc->cfg.site.has_compute_limit = fresh.site.has_compute_limit;
    svc->cfg.site.compute_limit_kw = fresh.site.compute_limit_kw;
    svc->cfg.planner = fresh.planner;
    svc->cfg.planner.step_minutes = step;
    svc->cfg.site.utc_offset_min = offset;
    svc->cfg.log_level = fresh.log_level;
    svc->cfg.reliability = fresh.reliability;
    gridems__service_health_init(svc);
    gridems_log_set_level(fresh.log_level);
    if (svc->solver != NULL) {
        gridems_optimizer_opts_t opts = {svc->cfg.planner.solve_time_limit_ms, false, true};
        gridems_solver_set_options(svc->solver, &opts);
    }
    gridems_timer_set_repeat(&svc->handles.replan_timer,
                             (int64_t)svc->cfg.planner.replan_seconds * 1000);
    arm_guard(svc);
    apply_plugin_changes(svc, &fresh);
    gridems_service_config_free(&fresh);
    gridems_log_notice("reloaded %s", svc->config_path);
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_COMMAND);
}

/* ---- ## Start-up ---- */

static void on_replan_timer(uv_timer_t *t)
{
    gridems__service_request_replan(t->data, GRIDEMS__REPLAN_TIMER);
}

static void on_control_timer(uv_timer_t *t)
{
    gridems__service_control_tick(t->data);
}

static int make_dirs(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        return GRIDEMS_ENOMEM;
    }
    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(copy, 0750);
            *p = '/';
        }
    }
    int rc = mkdir(copy, 0750) == 0 || errno == EEXIST ? 0 : GRIDEMS_EIO;
    free(copy);
    return rc;
}

static void init_handle(gridems_service_t *svc, uv_handle_t *h)
{
    h->data = svc;
    svc->handles.open++;
}

/* The solver keeps its optimal basis in state_dir, so the first plan after a restart starts
 * warm (docs/service.md, "History across restarts"). Without it a restart only solves cold. */
static void keep_basis(gridems_service_t *svc)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", svc->cfg.state_dir, GRIDEMS_BASIS_FILE);
    int rc = n > 0 && (size_t)n < sizeof path ? gridems_solver_keep_basis(svc->solver, path)
                                              : GRIDEMS_EINVAL;
    if (rc != 0) {
        gridems_log_warn("the solver's basis is not kept in state_dir: %s", gridems_strerror(rc));
    }
}

static int start_mqtt(gridems_service_t *svc)
{
    const gridems_service_config_t *cfg = &svc->cfg;
    gridems_mqtt_tls_t tls = {cfg->mqtt.tls.ca_file, cfg->mqtt.tls.cert_file,
                              cfg->mqtt.tls.key_file, NULL, cfg->mqtt.tls.verify ? 1 : 0};
    char *will = gridems__service_status_json(svc, "offline");
    gridems_mqtt_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.uri = cfg->mqtt.uri;
    opts.client_id = cfg->mqtt.client_id;
    opts.topic_prefix = cfg->mqtt.topic_prefix;
    opts.username = cfg->mqtt.username;
    opts.password = cfg->mqtt.password;
    opts.tls = cfg->mqtt.has_tls ? &tls : NULL;
    opts.will_payload = will;
    opts.keepalive_s = cfg->mqtt.keepalive_s;
    opts.on_message = gridems__service_on_message;
    opts.on_connected = on_connected;
    opts.on_disconnected = on_disconnected;
    opts.userdata = svc;
    int rc = gridems_mqtt_create(&svc->loop, &opts, &svc->mqtt);
    free(will);
    if (rc != 0) {
        gridems_log_err("mqtt: cannot create the client for %s: %s", cfg->mqtt.uri,
                        gridems_strerror(rc));
        return rc;
    }
    gridems__service_subscribe_inputs(svc);
    return 0;
}

/* On a stepped clock: the lockstep, and the subscriptions it and its driver need. */
static int start_lockstep(gridems_service_t *svc, const gridems_service_driver_t *driver)
{
    if (driver == NULL) {
        return 0;
    }
    int rc = gridems__lockstep_start(svc, driver, &svc->lockstep);
    if (rc != 0) {
        gridems_log_err("lockstep: cannot start: %s", gridems_strerror(rc));
        return rc;
    }
    gridems__lockstep_subscribe(svc->lockstep);
    return 0;
}

static void load_plugins(gridems_service_t *svc)
{
    gridems__host_services_t services;
    gridems__service_host_services(svc, &services);
    if (gridems__host_create(&svc->loop, &services, &svc->host) != 0) {
        gridems_log_err("out of memory creating the plugin host; no plugin is loaded");
        return;
    }
    svc->host_ready = true;
    int loaded = 0;
    char failed[160] = ""; /* the names of the instances that failed */
    for (int i = 0; i < svc->cfg.n_plugins; i++) {
        gridems_plugin_t *inst = NULL;
        char err[512] = "";
        /* A plugin that is refused is logged by the loader; the others and the service go on. */
        if (gridems__plugin_load(svc->host, svc->cfg.plugins[i].instance, svc->cfg.plugin_dir,
                                 &inst, err, sizeof err) == 0) {
            loaded++;
        } else {
            size_t used = strlen(failed);
            snprintf(failed + used, sizeof failed - used, "%s%s", used > 0 ? ", " : "",
                     svc->cfg.plugins[i].name);
        }
    }
    gridems_log_info("%d of %d plugin instances loaded", loaded, svc->cfg.n_plugins);
    if (loaded < svc->cfg.n_plugins) {
        /* Kept in every status from now on (gridems__service_set_status). */
        snprintf(svc->status.load_problem, sizeof svc->status.load_problem,
                 "%d of %d plugin instances failed to load (%s)", svc->cfg.n_plugins - loaded,
                 svc->cfg.n_plugins, failed);
        gridems__service_set_status(svc, "degraded", svc->status.load_problem);
    }
}

static int start_inputs(gridems_service_t *svc)
{
    gridems_forecast_init(&svc->inputs.import_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&svc->inputs.export_price, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&svc->inputs.carbon, GRIDEMS_FORECAST_CARBON);
    gridems_forecast_set_currency(&svc->inputs.import_price, svc->cfg.site.currency);
    gridems_forecast_set_currency(&svc->inputs.export_price, svc->cfg.site.currency);
    gridems_dr_events_init(&svc->inputs.events);
    char dr_err[512] = "";
    int dr_rc =
        gridems_dr_store_load(svc->cfg.state_dir, &svc->inputs.events, dr_err, sizeof dr_err);
    if (dr_rc != 0) {
        char kept[4400];
        gridems_state_dir_keep_refused(svc->cfg.state_dir, GRIDEMS_DR_STORE_FILE, dr_rc, kept,
                                       sizeof kept);
        gridems_log_warn("%s; ignored, starting without DR events%s", dr_err, kept);
    } else {
        int64_t now = gridems_clock_now_ms(&svc->clock);
        gridems_dr_events_prune(&svc->inputs.events, now);
        if (svc->inputs.events.n > 0) {
            gridems_log_notice("DR events restored from %s: %zu still ahead or running",
                               svc->cfg.state_dir, svc->inputs.events.n);
        }
    }
    gridems__service_history_start(svc);
    return 0;
}

static int start(gridems_service_t *svc, const gridems_service_driver_t *driver)
{
    const gridems_service_config_t *cfg = &svc->cfg;
    gridems_log_set_level(cfg->log_level);
    if (gridems_clock_init(&svc->clock, cfg->clock.mode, cfg->clock.start_ms, cfg->clock.speed) !=
        0) {
        gridems_log_err("clock: cannot start");
        return GRIDEMS_EINVAL;
    }
    svc->status.word = "online";
    snprintf(svc->status.reason, sizeof svc->status.reason, "starting");
    svc->status.since_ms = gridems_clock_now_ms(&svc->clock);
    if (make_dirs(cfg->state_dir) != 0) {
        gridems_log_err("state_dir %s: cannot create: %s", cfg->state_dir, strerror(errno));
        return GRIDEMS_EIO;
    }
    /* One service per state_dir; temporary files a crash left are removed (state_dir.h). */
    char lock_err[512] = "";
    int removed = 0;
    int lrc = gridems_state_dir_open(cfg->state_dir, &svc->lifecycle.state_lock_fd, &removed,
                                     lock_err, sizeof lock_err);
    if (lrc != 0) {
        gridems_log_err("%s; not starting", lock_err);
        return lrc;
    }
    if (removed > 0) {
        gridems_log_notice("state_dir %s: removed %d temporary file%s left by an interrupted save",
                           cfg->state_dir, removed, removed == 1 ? "" : "s");
    }
    gridems__service_health_init(svc);
    start_inputs(svc);
    int rc = gridems__service_plan_init(svc);
    if (rc != 0) {
        return rc;
    }
    gridems_optimizer_opts_t opts = {cfg->planner.solve_time_limit_ms, false, true};
    rc = gridems_solver_create(&svc->loop, &opts, gridems__service_on_solver_result, svc,
                               &svc->solver);
    if (rc != 0) {
        gridems_log_err("cannot start the solver thread: %s", gridems_strerror(rc));
        return rc;
    }
    keep_basis(svc);
    rc = start_mqtt(svc);
    if (rc == 0) {
        rc = start_lockstep(svc, driver);
    }
    if (rc != 0) {
        return rc;
    }
    uv_signal_t *signals[] = {&svc->handles.sig_term, &svc->handles.sig_int, &svc->handles.sig_hup};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&svc->loop, signals[i]);
        init_handle(svc, (uv_handle_t *)signals[i]);
    }
    uv_signal_start(&svc->handles.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&svc->handles.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&svc->handles.sig_hup, on_hup, SIGHUP);
    /* A SIGTERM is bounded even when a plugin call blocks the loop (watchdog.h). */
    gridems__watchdog_start(&svc->lifecycle.watchdog, &svc->loop, SHUTDOWN_LIMIT_MS);
    gridems_timers_init(&svc->timers, &svc->loop, &svc->clock);
    gridems_timer_t *timers[] = {&svc->handles.replan_timer, &svc->handles.debounce_timer,
                                 &svc->handles.control_timer, &svc->handles.step_timer,
                                 &svc->handles.guard_timer};
    for (int i = 0; i < 5; i++) {
        gridems_timer_init(&svc->timers, timers[i]);
        init_handle(svc, (uv_handle_t *)&timers[i]->uv);
    }
    uv_timer_init(&svc->loop, &svc->handles.shutdown_timer);
    init_handle(svc, (uv_handle_t *)&svc->handles.shutdown_timer);
    uv_timer_init(&svc->loop, &svc->handles.watch_timer);
    init_handle(svc, (uv_handle_t *)&svc->handles.watch_timer);
    load_plugins(svc);
    if ((rc = gridems__service_http_start(svc)) != 0) {
        return rc;
    }
    gridems__service_openadr_start(svc);
    int64_t replan_ms = (int64_t)cfg->planner.replan_seconds * 1000;
    gridems_timer_start(&svc->handles.replan_timer, on_replan_timer, replan_ms, replan_ms);
    start_site_ticker(svc, &svc->handles.control_timer, on_control_timer, CONTROL_TICK_SIM_MS);
    arm_guard(svc);
    rc = gridems_mqtt_connect(svc->mqtt);
    if (rc != 0) {
        gridems_log_warn("mqtt: first connect failed (%s); retrying in the background",
                         gridems_strerror(rc));
    }
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_STARTUP);
    gridems_log_notice("gridems %s running: site %s, MQTT %s, prefix %s, %s clock", GRIDEMS_VERSION,
                       cfg->site.id, cfg->mqtt.uri, cfg->mqtt.topic_prefix,
                       cfg->clock.mode == GRIDEMS_CLOCK_SIMULATED ? "simulated"
                       : cfg->clock.mode == GRIDEMS_CLOCK_STEPPED ? "stepped"
                                                                  : "real");
    gridems__watchdog_ready(&svc->lifecycle.watchdog);
    return 0;
}

static void release(gridems_service_t *svc)
{
    gridems__service_observe_free(svc);
    gridems__service_history_stop(svc);
    gridems__service_plan_close(svc);
    gridems__plugin_watch_free(svc);
    gridems_forecast_close(&svc->inputs.import_price);
    gridems_forecast_close(&svc->inputs.export_price);
    gridems_forecast_close(&svc->inputs.carbon);
    gridems_dr_events_close(&svc->inputs.events);
    gridems_service_config_free(&svc->cfg);
    gridems_state_dir_close(svc->lifecycle.state_lock_fd);
    svc->lifecycle.state_lock_fd = -1;
}

static int run(gridems_service_config_t *cfg, const char *config_path,
               const gridems_service_driver_t *driver)
{
    gridems_service_t *svc = calloc(1, sizeof *svc);
    if (svc == NULL) {
        gridems_service_config_free(cfg);
        return 1;
    }
    svc->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    svc->config_path = config_path;
    svc->lifecycle.exit_code = 0;
    svc->lifecycle.state_lock_fd = -1;
    uv_loop_init(&svc->loop);
    int rc = start(svc, driver);
    if (rc != 0) {
        svc->lifecycle.exit_code = 1;
        begin_shutdown(svc, "start-up failed");
    }
    uv_run(&svc->loop, UV_RUN_DEFAULT);
    gridems__watchdog_join(&svc->lifecycle.watchdog);
    int closed = uv_loop_close(&svc->loop);
    if (closed != 0) {
        gridems_log_warn("event loop closed with handles still open (%s)", uv_strerror(closed));
    }
    int exit_code = svc->lifecycle.exit_code;
    release(svc);
    free(svc);
    gridems_log_info("stopped");
    return exit_code;
}

int gridems_service_run(gridems_service_config_t *cfg, const char *config_path)
{
    return run(cfg, config_path, NULL);
}

int gridems_service_run_driven(gridems_service_config_t *cfg, const char *config_path,
                               const gridems_service_driver_t *driver)
{
    cfg->clock.mode = GRIDEMS_CLOCK_STEPPED;
    return run(cfg, config_path, driver);
}

int gridems_service_publish(gridems_service_t *svc, const char *topic, const void *payload,
                            size_t len, int qos, int retain)
{
    if (svc->mqtt == NULL) {
        return GRIDEMS_ESTATE;
    }
    return gridems_mqtt_publish(svc->mqtt, topic, payload, len, qos, retain);
}

const gridems_service_config_t *gridems_service_config(const gridems_service_t *svc)
{
    return &svc->cfg;
}
