/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_sim: a simulated AI training cluster with deferrable jobs, behind a simulated
 * scheduler gateway that talks MQTT the way a real cluster-scheduler bridge would (class
 * GRIDEMS_DEV_FLEX_LOAD).
 *
 * Jobs arrive on the host clock (api->now_ms(), which may run much faster than real time), each
 * with an energy to deliver, a largest power and a deadline. Each job runs at the power of the
 * last command the gateway executed (clamped to the job's power_max_kw; all jobs together
 * scaled down to the cluster's cap), accumulates delivered energy and finishes when it has
 * delivered its energy. Two halves share nothing but the MQTT topics:
 *   - the gateway simulator (cluster_gateway.c) owns the jobs. Every tick_ms (real time) it
 *     integrates up to the host clock and publishes telemetry on <topic_prefix>/telemetry at
 *     least telemetry_interval_ms of host-clock time after the previous message, and at once
 *     after each accepted command. It executes the commands it receives on <topic_prefix>/cmd.
 *   - the driver (cluster_driver.c) registers the device, turns telemetry into a measurement
 *     (total power) and into the capabilities (the list of unfinished jobs), and turns each
 *     set-point into a command.
 * cluster_sim.c holds the options and starts both.
 *
 * ---- ## Telemetry: <topic_prefix>/telemetry, QoS 0, not retained ----
 *
 *   {"ts":1683475200000,            host-clock ms (Unix epoch) the state refers to
 *    "power_kw":75,                 total power of the jobs now (consumption, >= 0)
 *    "power_cap_kw":5000,           the cluster's own total power cap
 *    "energy_kwh":150,              energy delivered to jobs since the gateway started
 *    "safe_mode":false,
 *    "safe_reason":"watchdog",      only when safe_mode: "startup", "command" or "watchdog"
 *    "safe_policy":"hold",          what safe mode does: "hold" (jobs paused) or "run"
 *    "plan_id":3, "cmd_ts":1683475200000, "valid_until":1683477000000, "cmd_cap_kw":-1,
 *                                   the last accepted command (absent before the first)
 *    "cmd_accepted":3, "cmd_ignored":0, "cmd_malformed":0,
 *    "stats":{"arrived":3,"finished":1,"on_time":1,"late":0,
 *             "running":2,"waiting":0,"overdue":0},
 *                                   counts since start (arrived, finished, finished on time or
 *                                   late) and now (unfinished jobs running, waiting at 0 kW,
 *                                   past their deadline)
 *    "jobs":[{"id":"train1-0001",   unique, [A-Za-z0-9_.:-], at most 63 characters
 *             "arrival":1683471600000,     host-clock ms; the job may not run earlier
 *             "deadline":1683486000000,    host-clock ms; it should be done by then
 *             "energy_kwh":100, "power_max_kw":50,
 *             "delivered_kwh":50, "remaining_kwh":50,
 *             "power_kw":25,               running at, now
 *             "finished":false,
 *             "finished_at":1683482400000, only when finished
 *             "finished_on_time":false,    finished and finished_at <= deadline
 *             "missed_deadline":false}]}   finished late, or unfinished and past the deadline
 *
 * "jobs" lists every unfinished job that has arrived and the jobs that finished within the last
 * keep_finished_hours; the counts in "stats" cover every job since start. Readers ignore members
 * they do not know.
 * The driver takes the newest message by ts, and refuses one stamped more than a minute ahead
 * of the host clock (GRIDEMS_READING_MAX_AHEAD_MS: it would make every later message look older).
 *
 * ---- ## Command: <topic_prefix>/cmd, QoS 1, not retained ----
 *
 *   {"plan_id":3,                   required, integer >= 0
 *    "ts":1683475200000,            required, integer: host-clock ms of the plan step
 *    "valid_until":1683477000000,   optional: enter safe mode at this host-clock time unless a
 *                                   newer command came; 0/absent = no limit
 *    "safe_mode":false,             optional, default false
 *    "power_cap_kw":-1,             optional: total cap for the step, < 0/absent = none
 *    "jobs":[{"id":"train1-0001","power_kw":25}, ...]}
 *                                   power per job (>= 0); jobs not listed, and listed ids the
 *                                   gateway does not know (yet), get 0
 *
 * Idempotency is that of battery_sim: a command runs only if (plan_id, ts) is newer than the
 * last executed one (plan_id first), except that a safe-mode command with the same key as an
 * executed normal command is executed too. Duplicates and older commands are counted in
 * cmd_ignored; a malformed command is counted in cmd_malformed and logged (1st, 2nd, 4th ...).
 *
 * ---- ## Safe mode ----
 *
 * The gateway is in safe mode before its first command, after a safe-mode command, and once a
 * command's valid_until has passed. Then, with safe_policy "hold" (default) every job waits at
 * 0 kW; with "run" the cluster's own scheduler takes over: jobs run at their power_max_kw,
 * earliest deadline first, within power_cap_kw.
 *
 * ---- ## Jobs ----
 *
 * With option `jobs`, the jobs come from a CSV file, one job per line (blank lines, '#' lines
 * and a header line are skipped):
 *   id,arrival,energy_kwh,power_max_kw,deadline_hours
 *   train-a,0,3000,800,12                    arrival in hours after the plugin started
 *   train-b,2023-05-08T09:00:00+09:00,1500,400,6
 *                                            or an ISO 8601 time with offset
 * deadline_hours counts from the arrival. Without `jobs`, jobs are generated from `seed`:
 * arrivals are a Poisson process of jobs_per_day; each job's energy and power_max are uniform in
 * [0.5, 1.5] times job_energy_kwh and job_power_kw (rounded to 0.1), and its deadline is its
 * shortest run time plus a slack uniform in [0.5, 1.5] times deadline_slack_hours (rounded up to
 * a whole minute). The same seed and start time give the same jobs.
 *
 * Integration is piecewise between events (arrivals, finishes, the watchdog time), so the
 * delivered energies and finish times do not depend on how often ticks come.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_driver.h"
#include "cluster_gateway.h"
#include "cluster_state.h"

/* ---- ## Options (cluster_opts_t is in cluster_state.h) ---- */

static const gridems_option_t cluster_options[] = {
    GRIDEMS__SIM_COMMON_OPTIONS(cluster_opts_t),
    {GRIDEMS_OPT_DOUBLE, "power_cap_kw", NULL, 1, offsetof(cluster_opts_t, power_cap_kw),
     "total power cap of the cluster, kW (> 0)"},
    {GRIDEMS_OPT_STRING, "jobs", NULL, 0, offsetof(cluster_opts_t, jobs),
     "CSV of id,arrival,energy_kwh,power_max_kw,deadline_hours (default: generated jobs)"},
    {GRIDEMS_OPT_INT, "seed", "1", 0, offsetof(cluster_opts_t, seed), "seed of the generated jobs"},
    {GRIDEMS_OPT_DOUBLE, "jobs_per_day", "6", 0, offsetof(cluster_opts_t, jobs_per_day),
     "generated jobs: mean arrivals per day (0 = none)"},
    {GRIDEMS_OPT_DOUBLE, "job_energy_kwh", "2000", 0, offsetof(cluster_opts_t, job_energy_kwh),
     "generated jobs: mean energy, kWh"},
    {GRIDEMS_OPT_DOUBLE, "job_power_kw", "500", 0, offsetof(cluster_opts_t, job_power_kw),
     "generated jobs: mean largest power, kW"},
    {GRIDEMS_OPT_DOUBLE, "deadline_slack_hours", "8", 0,
     offsetof(cluster_opts_t, deadline_slack_hours),
     "generated jobs: mean hours between the shortest finish and the deadline"},
    {GRIDEMS_OPT_DOUBLE, "keep_finished_hours", "24", 0,
     offsetof(cluster_opts_t, keep_finished_hours),
     "host-clock hours a finished job stays in the telemetry"},
    {GRIDEMS_OPT_STRING, "safe_policy", "hold", 0, offsetof(cluster_opts_t, safe_policy),
     "safe mode: hold (jobs paused) or run (own scheduler: full power, earliest deadline first)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "cluster_sim",
    .version = "1.0",
    .description = "simulated AI training cluster with deadline jobs behind a simulated MQTT "
                   "scheduler gateway",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
    .options = cluster_options,
    .context_size = sizeof(cluster_opts_t),
};

/* The instance and all both halves hold. */
static void cluster_free(cluster_t *c)
{
    cluster_gw_free(&c->gw);
    cluster_drv_free(&c->drv);
    gridems__sim_buf_free(&c->buf);
    free(c);
}

/* The device's destroy callback: the host calls it once the device is gone, also when init fails
 * after registering it. */
static void cluster_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    cluster_free(userdata);
}

/* ---- ## Init ---- */

static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const cluster_opts_t *o, int *safe_run)
{
    if (o->safe_policy == NULL ||
        (strcmp(o->safe_policy, "hold") != 0 && strcmp(o->safe_policy, "run") != 0)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"safe_policy\" must be hold or run (got \"%s\")",
                 o->safe_policy != NULL ? o->safe_policy : "");
        return GRIDEMS_ECONFIG;
    }
    *safe_run = strcmp(o->safe_policy, "run") == 0;
    if (!(o->power_cap_kw > 0)) {
        return gridems__sim_bad_option(api, self, "power_cap_kw", "must be > 0", o->power_cap_kw);
    }
    if (!(o->jobs_per_day >= 0 && o->jobs_per_day <= 100000)) {
        return gridems__sim_bad_option(api, self, "jobs_per_day", "must be within [0, 100000]",
                                       o->jobs_per_day);
    }
    if (!(o->job_energy_kwh > 0)) {
        return gridems__sim_bad_option(api, self, "job_energy_kwh", "must be > 0",
                                       o->job_energy_kwh);
    }
    if (!(o->job_power_kw > 0)) {
        return gridems__sim_bad_option(api, self, "job_power_kw", "must be > 0", o->job_power_kw);
    }
    if (!(o->deadline_slack_hours >= 0)) {
        return gridems__sim_bad_option(api, self, "deadline_slack_hours", "must be >= 0",
                                       o->deadline_slack_hours);
    }
    if (!(o->keep_finished_hours >= 0 && o->keep_finished_hours <= 24.0 * 366)) {
        return gridems__sim_bad_option(api, self, "keep_finished_hours", "must be within [0, 8784]",
                                       o->keep_finished_hours);
    }
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    int rc = gridems__sim_init_check(api, self, cfg);
    if (rc < 0) {
        return rc;
    }
    const cluster_opts_t *o = cfg->context;
    int safe_run = 0;
    rc = check_options(api, self, o, &safe_run);
    if (rc < 0) {
        return rc;
    }
    cluster_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return GRIDEMS_ENOMEM;
    }
    c->self = self;
    c->api = api;
    c->opts = o;
    c->name = cfg->instance;
    c->safe_run = safe_run;
    snprintf(c->topic_telemetry, sizeof c->topic_telemetry, "%s/telemetry", o->common.topic_prefix);
    snprintf(c->topic_cmd, sizeof c->topic_cmd, "%s/cmd", o->common.topic_prefix);
    rc = cluster_gw_start(c);
    if (rc < 0) {
        cluster_free(c);
        return rc;
    }

    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_FLEX_LOAD,
        .options = cluster_options,
        .read = cluster_drv_read,
        .get_capabilities = cluster_drv_caps,
        .apply_setpoint = cluster_drv_setpoint,
        .on_event = cluster_drv_event,
        .destroy = cluster_destroy,
    };
    rc = api->register_device(self, &desc, c, &c->dev);
    if (rc < 0) {
        cluster_free(c);
        return rc;
    }
    /* From here on c belongs to the device: the host calls cluster_destroy even if init fails.
     */
    rc = gridems__sim_wire(self, api, c, c->topic_telemetry, cluster_drv_on_telemetry, c->topic_cmd,
                           cluster_gw_on_command, o->common.tick_ms, cluster_gw_tick);
    if (rc < 0) {
        return rc;
    }
    if (o->jobs != NULL) {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated cluster: cap %g kW, %zu jobs from %s, gateway on %s/{telemetry,cmd}",
                 o->power_cap_kw, c->gw.n_pending, o->jobs, o->common.topic_prefix);
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated cluster: cap %g kW, %g generated jobs a day (seed %" PRId64
                 "), gateway on %s/{telemetry,cmd}",
                 o->power_cap_kw, o->jobs_per_day, o->seed, o->common.topic_prefix);
    }
    return 0;
}
