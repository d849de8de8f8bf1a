/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The state of a battery_sim instance, which its two halves share (plugin-internal;
 * battery_sim.c documents the messages and the options):
 *   - battery_gateway.c, the simulated battery gateway: the physics, the commands it executes
 *     and the telemetry it publishes;
 *   - battery_driver.c, the gridems side: telemetry into measurements and capabilities,
 *     set-points into commands;
 *   - battery_sim.c: the options, and gridems_plugin_init, which starts both and owns the
 *     instance.
 * The halves share nothing but the MQTT topics; battery_t holds both only because one plugin
 * instance runs both.
 *
 * Threads: everything runs on the host's loop thread (the plugin API's callbacks and timers).
 */
#ifndef GRIDEMS_BATTERY_STATE_H
#define GRIDEMS_BATTERY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"
#include "sim_command.h"
#include "sim_common.h"

typedef struct battery_opts_s {
    gridems__sim_common_opts_t common; /* first: gridems__sim_init_check reads it */
    double capacity_kwh;
    double soc_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    double charge_efficiency;
    double discharge_efficiency;
    double cycle_cost_per_kwh;
} battery_opts_t;
_Static_assert(offsetof(battery_opts_t, common) == 0,
               "gridems__sim_init_check reads the common options");

/* The gateway's side: the physics and the command it executes. */
typedef struct gateway_s {
    double capacity_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    double eta_c;
    double eta_d;

    int64_t t_ms; /* host-clock time the state below refers to */
    double soc_kwh;
    double charged_kwh;
    double discharged_kwh;

    double setpoint_kw;      /* commanded, before clamping */
    int safe;                /* 1: hold at zero power */
    const char *safe_reason; /* static text */
    int have_cmd;
    gridems__sim_cmd_head_t cmd; /* the last executed command, valid with have_cmd */
    gridems__sim_cmd_counts_t cmds;

    gridems__sim_telemetry_t telemetry;
    gridems__sim_complaint_t clock_back;
} gateway_t;

/* The driver's side: what the last telemetry message said. */
typedef struct driver_s {
    int have;
    int64_t ts;
    double power_kw;
    double soc_kwh;
    double capacity_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    double eta_c;
    double eta_d;
    double discharged_kwh;
    int safe_mode;

    gridems__sim_cmd_sent_t sent;
    gridems__sim_complaint_t bad_telemetry;
} driver_t;

typedef struct battery_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const battery_opts_t *opts;
    gridems_device_id_t dev;
    char topic_telemetry[GRIDEMS__SIM_TOPIC_MAX + 16];
    char topic_cmd[GRIDEMS__SIM_TOPIC_MAX + 16];
    gateway_t gw;
    driver_t drv;
    gridems__sim_buf_t buf; /* scratch for outgoing messages */
} battery_t;

#endif
