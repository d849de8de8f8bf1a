/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The state of a cluster_sim instance, which its two halves share (plugin-internal;
 * cluster_sim.c documents the messages and the options):
 *   - cluster_gateway.c, the simulated scheduler gateway: the jobs (from the file or generated),
 *     their power and energy, the commands it executes and the telemetry it publishes;
 *   - cluster_driver.c, the gridems side: telemetry into measurements and capabilities,
 *     set-points into commands;
 *   - cluster_sim.c: the options, and gridems_plugin_init, which starts both and owns the
 *     instance.
 * The halves share nothing but the MQTT topics; cluster_t holds both only because one plugin
 * instance runs both.
 *
 * Threads: everything runs on the host's loop thread (the plugin API's callbacks and timers).
 */
#ifndef GRIDEMS_CLUSTER_STATE_H
#define GRIDEMS_CLUSTER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"
#include "sim_command.h"
#include "sim_common.h"

/* The most jobs one message (a command, or telemetry) may list: bounds an instance's memory. */
#define MAX_CMD_JOBS 100000

typedef struct cluster_opts_s {
    gridems__sim_common_opts_t common; /* first: gridems__sim_init_check reads it */
    double power_cap_kw;
    const char *jobs;
    int64_t seed;
    double jobs_per_day;
    double job_energy_kwh;
    double job_power_kw;
    double deadline_slack_hours;
    double keep_finished_hours;
    const char *safe_policy;
} cluster_opts_t;
_Static_assert(offsetof(cluster_opts_t, common) == 0,
               "gridems__sim_init_check reads the common options");

/* ---- ## State ---- */

typedef struct job_s {
    char id[64];
    uint32_t seq; /* order of appearance, for stable sorting */
    int64_t arrival_ms;
    int64_t deadline_ms;
    double energy_kwh;
    double power_max_kw;
    double delivered_kwh;
    double power_kw; /* allocated now */
    int finished;
    int64_t finished_ms;
} job_t;

typedef struct cmd_job_s {
    char id[64];
    double power_kw;
} cmd_job_t;

typedef struct command_s {
    gridems__sim_cmd_head_t head;
    double cap_kw;
    cmd_job_t *jobs; /* owned */
    size_t n_jobs;
} command_t;

/* The gateway's side: the jobs, the physics and the command it executes. */
typedef struct gateway_s {
    int64_t t_ms;
    job_t *jobs; /* arrived jobs: unfinished, and finished ones kept for the telemetry */
    size_t n_jobs;
    size_t cap_jobs;
    job_t **order; /* scratch for the earliest-deadline-first order, cap_jobs entries */

    job_t *pending; /* jobs from the file, sorted by arrival */
    size_t n_pending;
    size_t next_pending;

    int generate;
    gridems__sim_rng_t rng;
    int64_t next_gen_ms;
    uint32_t seq;

    int safe;
    const char *safe_reason;
    int have_cmd;
    command_t cmd; /* the last executed command, valid with have_cmd */
    gridems__sim_cmd_counts_t cmds;

    double energy_kwh;
    uint64_t arrived;
    uint64_t finished;
    uint64_t on_time;
    uint64_t late;
    uint64_t dropped;

    gridems__sim_telemetry_t telemetry;
    gridems__sim_complaint_t clock_back;
    gridems__sim_complaint_t too_many;
} gateway_t;

/* One job as the driver knows it from telemetry. */
typedef struct drv_job_s {
    char id[64];
    int64_t arrival_ms;
    int64_t deadline_ms;
    double power_max_kw;
    double delivered_kwh;
    double remaining_kwh;
    int finished;
    int64_t finished_ms;
} drv_job_t;

typedef struct driver_s {
    int have;
    int64_t ts;
    double power_kw;
    double energy_kwh;
    double power_cap_kw;
    drv_job_t *jobs; /* owned */
    size_t n_jobs;
    gridems_flex_job_t *caps; /* owned: the array handed to get_capabilities */
    size_t cap_caps;

    gridems__sim_cmd_sent_t sent;
    gridems__sim_complaint_t bad_telemetry;
} driver_t;

typedef struct cluster_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const cluster_opts_t *opts;
    const char *name; /* the instance name (the host's), the prefix of generated job ids */
    int safe_run;     /* safe_policy "run" */
    gridems_device_id_t dev;
    char topic_telemetry[GRIDEMS__SIM_TOPIC_MAX + 16];
    char topic_cmd[GRIDEMS__SIM_TOPIC_MAX + 16];
    gateway_t gw;
    driver_t drv;
    gridems__sim_buf_t buf;
} cluster_t;

#endif
