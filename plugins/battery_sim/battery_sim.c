/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * battery_sim: a simulated stationary battery that talks MQTT the way a real battery gateway
 * does (class GRIDEMS_DEV_BATTERY).
 *
 * The plugin has two halves that share nothing but the MQTT topics:
 *   - the gateway simulator (battery_gateway.c) owns the physics. Every tick_ms (real time) it
 *     integrates the stored energy up to the host clock (api->now_ms(), which may run much
 *     faster than real time), and at least telemetry_interval_ms of host-clock time after its
 *     last telemetry message it publishes the next one on <topic_prefix>/telemetry. It executes
 *     the commands it receives on <topic_prefix>/cmd and publishes a telemetry message at once
 *     after each accepted one.
 *   - the driver (battery_driver.c) registers the device with the service, turns each telemetry
 *     message into a measurement (post_measurement) and into the capabilities, and turns each
 *     set-point into a command message.
 * battery_sim.c holds the options and starts both; battery_state.h is the state they share.
 * A vendor's driver for a real gateway would be the driver half alone, with the same messages.
 *
 * ---- ## Telemetry: <topic_prefix>/telemetry, QoS 0, not retained ----
 *
 *   {"ts":1683471600000,              host-clock ms (Unix epoch) the state refers to
 *    "power_kw":-10,                  actual power now: positive = discharging, negative =
 *                                     charging (the gridems sign convention, plugin.h)
 *    "setpoint_kw":-10,               the power last commanded (before clamping)
 *    "soc_kwh":59.5,                  stored energy
 *    "capacity_kwh":100, "soc_min_kwh":10, "soc_max_kwh":90,
 *    "charge_max_kw":20, "discharge_max_kw":25,
 *    "charge_efficiency":0.95, "discharge_efficiency":0.9,
 *    "charged_kwh":10.5,              total energy taken from the bus while charging
 *    "discharged_kwh":3,              total energy given to the bus while discharging
 *    "safe_mode":false,               true while holding at zero power
 *    "safe_reason":"command",         only when safe_mode: "startup" (no command yet), "command"
 *                                     (a safe-mode command), "watchdog" (valid_until passed)
 *    "plan_id":7, "cmd_ts":1683471600000, "valid_until":1683473400000,
 *                                     the last accepted command (absent before the first)
 *    "cmd_accepted":3, "cmd_ignored":1, "cmd_malformed":0}
 *                                     command counters since start
 *
 * Readers must ignore members they do not know. Numbers are written so that they read back as
 * the exact double the gateway holds.
 * The driver takes the newest message by ts, and refuses one stamped more than a minute ahead
 * of the host clock (GRIDEMS_READING_MAX_AHEAD_MS: it would make every later message look older).
 *
 * ---- ## Command: <topic_prefix>/cmd, QoS 1, not retained ----
 *
 *   {"plan_id":7,                     required, integer >= 0: the plan it comes from
 *    "ts":1683471600000,              required, integer: host-clock ms of the plan step
 *    "valid_until":1683473400000,     optional, integer: hold (safe mode) from this host-clock
 *                                     time on unless a newer command came; 0/absent = no limit
 *    "safe_mode":false,               optional, default false: true = hold at zero power
 *    "power_kw":-10}                  required unless safe_mode: positive = discharge
 *
 * Commands are idempotent: the gateway executes a command only if (plan_id, ts) is newer than
 * that of the last one it executed (plan_id first, then ts), so a duplicate (QoS 1 redelivery,
 * a repeated set-point) or an older command is ignored and counted in cmd_ignored. The one
 * exception is a safe-mode command with the same (plan_id, ts) as a normal command already
 * executed: holding is always safe, so it is executed. A malformed command is ignored, counted in
 * cmd_malformed, and logged (1st, 2nd, 4th, ... occurrence).
 *
 * ---- ## Physics ----
 *
 * The commanded power is clamped to [-charge_max_kw, discharge_max_kw]. Charging at c kW for h
 * hours of host-clock time adds c*h*charge_efficiency kWh; discharging at d kW removes
 * d*h/discharge_efficiency kWh. At soc_max_kwh charging stops, at soc_min_kwh discharging stops
 * (the actual power becomes 0 from the exact moment the bound is reached). In safe mode the
 * battery holds at zero power. The state is integrated piecewise between events (a command, the
 * watchdog time, reaching a bound), so the result does not depend on how often ticks come.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "battery_driver.h"
#include "battery_gateway.h"
#include "battery_state.h"

/* ---- ## Options (battery_opts_t is in battery_state.h) ---- */

static const gridems_option_t battery_options[] = {
    GRIDEMS__SIM_COMMON_OPTIONS(battery_opts_t),
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", NULL, 1, offsetof(battery_opts_t, capacity_kwh),
     "usable capacity, kWh (> 0)"},
    {GRIDEMS_OPT_DOUBLE, "soc_kwh", NULL, 0, offsetof(battery_opts_t, soc_kwh),
     "initial stored energy, kWh (default: half the capacity)"},
    {GRIDEMS_OPT_DOUBLE, "soc_min_kwh", "0", 0, offsetof(battery_opts_t, soc_min_kwh),
     "discharging stops here, kWh"},
    {GRIDEMS_OPT_DOUBLE, "soc_max_kwh", NULL, 0, offsetof(battery_opts_t, soc_max_kwh),
     "charging stops here, kWh (default: the capacity)"},
    {GRIDEMS_OPT_DOUBLE, "charge_max_kw", NULL, 1, offsetof(battery_opts_t, charge_max_kw),
     "largest charging power, kW (>= 0)"},
    {GRIDEMS_OPT_DOUBLE, "discharge_max_kw", NULL, 1, offsetof(battery_opts_t, discharge_max_kw),
     "largest discharging power, kW (>= 0)"},
    {GRIDEMS_OPT_DOUBLE, "charge_efficiency", "0.95", 0,
     offsetof(battery_opts_t, charge_efficiency), "stored / taken energy while charging, (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "discharge_efficiency", "0.95", 0,
     offsetof(battery_opts_t, discharge_efficiency),
     "given / removed energy while discharging, (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "cycle_cost_per_kwh", "0", 0, offsetof(battery_opts_t, cycle_cost_per_kwh),
     "degradation cost per kWh discharged, reported to the optimizer (>= 0)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "battery_sim",
    .version = "1.0",
    .description = "simulated battery behind a simulated MQTT gateway",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
    .options = battery_options,
    .context_size = sizeof(battery_opts_t),
};

/* ---- ## Init ---- */

/* The device's destroy callback: the host calls it once the device is gone, also when init fails
 * after registering it. */
static void battery_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    battery_t *b = userdata;
    gridems__sim_buf_free(&b->buf);
    free(b);
}

/* Fill in the defaults that depend on other options and check every value. */
static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const gridems_config_t *cfg, battery_opts_t *o)
{
    double v;
    if (!(o->capacity_kwh > 0)) {
        return gridems__sim_bad_option(api, self, "capacity_kwh", "must be > 0", o->capacity_kwh);
    }
    if (api->config_get_double(cfg, "soc_max_kwh", &v) != 0) {
        o->soc_max_kwh = o->capacity_kwh;
    }
    if (api->config_get_double(cfg, "soc_kwh", &v) != 0) {
        o->soc_kwh = o->capacity_kwh / 2;
    }
    if (o->soc_min_kwh < 0) {
        return gridems__sim_bad_option(api, self, "soc_min_kwh", "must be >= 0", o->soc_min_kwh);
    }
    if (o->soc_max_kwh > o->capacity_kwh) {
        return gridems__sim_bad_option(api, self, "soc_max_kwh", "must be <= capacity_kwh",
                                       o->soc_max_kwh);
    }
    if (o->soc_min_kwh > o->soc_max_kwh) {
        return gridems__sim_bad_option(api, self, "soc_min_kwh", "must be <= soc_max_kwh",
                                       o->soc_min_kwh);
    }
    if (o->soc_kwh < 0 || o->soc_kwh > o->capacity_kwh) {
        return gridems__sim_bad_option(api, self, "soc_kwh", "must be within [0, capacity_kwh]",
                                       o->soc_kwh);
    }
    if (o->charge_max_kw < 0) {
        return gridems__sim_bad_option(api, self, "charge_max_kw", "must be >= 0",
                                       o->charge_max_kw);
    }
    if (o->discharge_max_kw < 0) {
        return gridems__sim_bad_option(api, self, "discharge_max_kw", "must be >= 0",
                                       o->discharge_max_kw);
    }
    if (!(o->charge_efficiency > 0 && o->charge_efficiency <= 1)) {
        return gridems__sim_bad_option(api, self, "charge_efficiency", "must be within (0, 1]",
                                       o->charge_efficiency);
    }
    if (!(o->discharge_efficiency > 0 && o->discharge_efficiency <= 1)) {
        return gridems__sim_bad_option(api, self, "discharge_efficiency", "must be within (0, 1]",
                                       o->discharge_efficiency);
    }
    if (o->cycle_cost_per_kwh < 0) {
        return gridems__sim_bad_option(api, self, "cycle_cost_per_kwh", "must be >= 0",
                                       o->cycle_cost_per_kwh);
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
    battery_opts_t *o = cfg->context; /* the plugin may write its non-string fields */
    rc = check_options(api, self, cfg, o);
    if (rc < 0) {
        return rc;
    }
    battery_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return GRIDEMS_ENOMEM;
    }
    b->self = self;
    b->api = api;
    b->opts = o;
    snprintf(b->topic_telemetry, sizeof b->topic_telemetry, "%s/telemetry", o->common.topic_prefix);
    snprintf(b->topic_cmd, sizeof b->topic_cmd, "%s/cmd", o->common.topic_prefix);

    battery_gw_start(b);

    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_BATTERY,
        .options = battery_options,
        .read = battery_drv_read,
        .get_capabilities = battery_drv_caps,
        .apply_setpoint = battery_drv_setpoint,
        .on_event = battery_drv_event,
        .destroy = battery_destroy,
    };
    rc = api->register_device(self, &desc, b, &b->dev);
    if (rc < 0) {
        free(b);
        return rc;
    }
    /* From here on b belongs to the device: the host calls battery_destroy even if init fails. */
    rc = gridems__sim_wire(self, api, b, b->topic_telemetry, battery_drv_on_telemetry, b->topic_cmd,
                           battery_gw_on_command, o->common.tick_ms, battery_gw_tick);
    if (rc < 0) {
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "simulated battery: %g kWh (%g stored), -%g..+%g kW, gateway on %s/{telemetry,cmd}",
             o->capacity_kwh, o->soc_kwh, o->charge_max_kw, o->discharge_max_kw,
             o->common.topic_prefix);
    return 0;
}
