/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The state of a meter_sim instance, which its two halves share (plugin-internal; meter_sim.c
 * documents the message and the options):
 *   - meter_gateway.c, the simulated meter gateway: the profile it replays, the energy register
 *     and the telemetry it publishes;
 *   - meter_driver.c, the gridems side: telemetry into measurements;
 *   - meter_sim.c: the options, and gridems_plugin_init, which starts both and owns the
 *     instance.
 * The halves share nothing but the telemetry topic; meter_t holds both only because one plugin
 * instance runs both.
 *
 * Threads: everything runs on the host's loop thread (the plugin API's callbacks and timers).
 */
#ifndef GRIDEMS_METER_STATE_H
#define GRIDEMS_METER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"
#include "sim_common.h"

typedef struct meter_opts_s {
    gridems__sim_common_opts_t common; /* first: gridems__sim_init_check reads it */
    const char *profile;
    const char *role;
    double scale;
    double noise_pct;
    int64_t seed;
    double utc_offset_hours;
    double base_kw;
    double swing_kw;
    double peak_hour;
    int interpolate;
    const char *jump_at;
    double jump_kw;
    double jump_minutes;
} meter_opts_t;
_Static_assert(offsetof(meter_opts_t, common) == 0,
               "gridems__sim_init_check reads the common options");

/* A periodic profile: value(t) is found at (t - origin_ms) mod period_ms among the points. */
typedef struct profile_s {
    int64_t *x_ms; /* ascending offsets within [0, period_ms) */
    double *kw;
    size_t n; /* 0: the built-in shape */
    int64_t origin_ms;
    int64_t period_ms;
} profile_t;

typedef struct meter_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const meter_opts_t *opts;
    gridems_device_id_t dev;
    int32_t role;
    char topic_telemetry[GRIDEMS__SIM_TOPIC_MAX + 16];
    profile_t profile;
    int64_t jump_from_ms; /* the jump: [jump_from_ms, jump_until_ms), INT64_MAX = for good */
    int64_t jump_until_ms;

    /* Gateway. */
    int64_t t_ms;
    double power_kw;
    double energy_kwh;
    int sampled;
    gridems__sim_telemetry_t telemetry;
    gridems__sim_complaint_t clock_back;

    /* Driver: the last telemetry message. */
    int have;
    int64_t tel_ts;
    double tel_power_kw;
    double tel_energy_kwh;
    int tel_has_energy;
    gridems__sim_complaint_t bad_telemetry;

    gridems__sim_buf_t buf;
} meter_t;

#endif
