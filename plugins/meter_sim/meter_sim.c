/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * meter_sim: a simulated meter that replays a load profile on the host clock and talks MQTT the
 * way a real meter gateway does (class GRIDEMS_DEV_METER). Its usual job is the site's
 * inflexible load (role "load").
 *
 * Two halves share nothing but the telemetry topic:
 *   - the gateway simulator (meter_gateway.c) evaluates the profile at the host clock
 *     (api->now_ms(), which may run much faster than real time) every tick_ms of real time,
 *     integrates the energy register, and publishes a telemetry message on
 *     <topic_prefix>/telemetry at least telemetry_interval_ms of host-clock time after the
 *     previous one;
 *   - the driver (meter_driver.c) registers the device and turns each telemetry message into a
 *     measurement.
 * meter_sim.c holds the options and starts both; meter_state.h is the state they share.
 * A meter takes no commands: nothing listens on <topic_prefix>/cmd.
 *
 * ---- ## Telemetry: <topic_prefix>/telemetry, QoS 0, not retained ----
 *
 *   {"ts":1683471600000,    host-clock ms (Unix epoch) of the reading
 *    "power_kw":9000.5,     power now; positive = in the direction of the role (consumption for
 *                           "load", import for "site", production for "pv")
 *    "energy_kwh":1234.5}   cumulative energy in the positive direction since the gateway
 *                           started (trapezoidal integral of the sampled power)
 * Both are rounded to the meter's resolution, 1 W and 1 Wh.
 *
 * Required: ts and power_kw; readers ignore members they do not know.
 * The driver takes the newest message by ts, and refuses one stamped more than a minute ahead
 * of the host clock (GRIDEMS_READING_MAX_AHEAD_MS: it would make every later message look older).
 *
 * ---- ## The profile ----
 *
 * Option `profile` names a CSV file with one reading per line, `time,kw`. Blank lines, lines
 * starting with '#' and a header line are skipped; columns after the second are ignored. The
 * first column decides the kind of file, for the whole file:
 *   - a number: the hour of the local day, 0 <= h < 24, fractional (13.5 = 13:30), increasing.
 *     Local time is UTC + utc_offset_hours. The profile repeats every day.
 *   - an ISO 8601 timestamp with an offset or Z (2023-05-08T00:00:00+09:00), increasing. The
 *     file repeats with a period of its span plus one step (the gap between its last two rows),
 *     so a week of data loops weekly.
 * Between rows the value is interpolated linearly (interpolate = true, also across the wrap
 * from the last row to the first) or held from the previous row (interpolate = false, for
 * interval data). Without `profile`, a built-in daily shape is used:
 *   kw = base_kw + swing_kw * cos(2 * pi * (local_hour - peak_hour) / 24).
 * The value is then multiplied by `scale` and by (1 + noise_pct/100 * u), where u in [-1, 1) is
 * a hash of (seed, the reading's host-clock ms): the same seed gives the same noise at the same
 * time however often the meter is sampled.
 *
 * ---- ## A scheduled jump ----
 *
 * For tests of what happens inside a step (the service's peak guard): `jump_at`, an ISO 8601
 * timestamp with an offset or Z, and `jump_kw`, a finite number of kW (negative = a drop), add
 * jump_kw to the scaled profile value from jump_at on, for `jump_minutes` (a number > 0) or, when
 * that is absent or 0, for good. The noise applies on top. jump_kw without jump_at, or jump_at
 * that is not such a timestamp, or a negative jump_minutes, refuses the instance.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter_driver.h"
#include "meter_gateway.h"
#include "meter_state.h"

/* ---- ## Options (meter_opts_t is in meter_state.h) ---- */

static const gridems_option_t meter_options[] = {
    GRIDEMS__SIM_COMMON_OPTIONS(meter_opts_t),
    {GRIDEMS_OPT_STRING, "profile", NULL, 0, offsetof(meter_opts_t, profile),
     "CSV of hour_of_day,kw or iso_timestamp,kw rows (default: the built-in daily shape)"},
    {GRIDEMS_OPT_STRING, "role", "load", 0, offsetof(meter_opts_t, role),
     "what the meter measures: site, load, pv or other"},
    {GRIDEMS_OPT_DOUBLE, "scale", "1", 0, offsetof(meter_opts_t, scale),
     "factor applied to every profile value"},
    {GRIDEMS_OPT_DOUBLE, "noise_pct", "0", 0, offsetof(meter_opts_t, noise_pct),
     "deterministic noise, +- percent of the value (0..100)"},
    {GRIDEMS_OPT_INT, "seed", "1", 0, offsetof(meter_opts_t, seed), "seed of the noise"},
    {GRIDEMS_OPT_DOUBLE, "utc_offset_hours", "0", 0, offsetof(meter_opts_t, utc_offset_hours),
     "local time = UTC + this, for hour-of-day profiles and the built-in shape (JST: 9)"},
    {GRIDEMS_OPT_DOUBLE, "base_kw", "1000", 0, offsetof(meter_opts_t, base_kw),
     "built-in shape: mean power, kW"},
    {GRIDEMS_OPT_DOUBLE, "swing_kw", "200", 0, offsetof(meter_opts_t, swing_kw),
     "built-in shape: amplitude of the daily swing, kW"},
    {GRIDEMS_OPT_DOUBLE, "peak_hour", "15", 0, offsetof(meter_opts_t, peak_hour),
     "built-in shape: local hour of the daily maximum"},
    {GRIDEMS_OPT_BOOL, "interpolate", "true", 0, offsetof(meter_opts_t, interpolate),
     "interpolate linearly between profile rows (false: hold each row's value)"},
    {GRIDEMS_OPT_STRING, "jump_at", NULL, 0, offsetof(meter_opts_t, jump_at),
     "ISO 8601 time with offset from which jump_kw is added (default: no jump)"},
    {GRIDEMS_OPT_DOUBLE, "jump_kw", "0", 0, offsetof(meter_opts_t, jump_kw),
     "kW added to the value from jump_at on (negative: a drop)"},
    {GRIDEMS_OPT_DOUBLE, "jump_minutes", "0", 0, offsetof(meter_opts_t, jump_minutes),
     "how long the jump lasts, host-clock minutes (0: for good)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "meter_sim",
    .version = "1.0",
    .description = "simulated meter replaying a load profile behind a simulated MQTT gateway",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = meter_options,
    .context_size = sizeof(meter_opts_t),
};

/* ---- ## Init ---- */

/* The device's destroy callback: the host calls it once the device is gone, also when init fails
 * after registering it. */
static void meter_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    meter_t *m = userdata;
    meter_gw_free(m);
    gridems__sim_buf_free(&m->buf);
    free(m);
}

static int parse_role(const char *s, int32_t *out)
{
    static const struct {
        const char *name;
        int32_t role;
    } roles[] = {{"site", GRIDEMS_METER_SITE},
                 {"load", GRIDEMS_METER_LOAD},
                 {"pv", GRIDEMS_METER_PV},
                 {"other", GRIDEMS_METER_OTHER}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (s != NULL && strcmp(s, roles[i].name) == 0) {
            *out = roles[i].role;
            return 0;
        }
    }
    return -1;
}

static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const meter_opts_t *o, int32_t *role)
{
    if (parse_role(o->role, role) < 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"role\" must be site, load, pv or other (got \"%s\")", o->role);
        return GRIDEMS_ECONFIG;
    }
    if (!(o->noise_pct >= 0 && o->noise_pct <= 100)) {
        return gridems__sim_bad_option(api, self, "noise_pct", "must be within [0, 100]",
                                       o->noise_pct);
    }
    if (!(fabs(o->utc_offset_hours) <= 24)) {
        return gridems__sim_bad_option(api, self, "utc_offset_hours", "must be within [-24, 24]",
                                       o->utc_offset_hours);
    }
    if (!(o->peak_hour >= 0 && o->peak_hour < 24)) {
        return gridems__sim_bad_option(api, self, "peak_hour", "must be within [0, 24)",
                                       o->peak_hour);
    }
    if (!(o->jump_minutes >= 0 && o->jump_minutes <= 1e9)) {
        return gridems__sim_bad_option(api, self, "jump_minutes", "must be within [0, 1e9]",
                                       o->jump_minutes);
    }
    if (o->jump_kw != 0 && o->jump_at == NULL) {
        return gridems__sim_bad_option(api, self, "jump_kw", "needs \"jump_at\"", o->jump_kw);
    }
    int64_t at;
    if (o->jump_at != NULL && gridems__sim_parse_iso(o->jump_at, &at) < 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"jump_at\" must be an ISO 8601 time with an offset or Z (got \"%s\")",
                 o->jump_at);
        return GRIDEMS_ECONFIG;
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
    const meter_opts_t *o = cfg->context;
    int32_t role = GRIDEMS_METER_LOAD;
    rc = check_options(api, self, o, &role);
    if (rc < 0) {
        return rc;
    }
    meter_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return GRIDEMS_ENOMEM;
    }
    m->self = self;
    m->api = api;
    m->opts = o;
    m->role = role;
    snprintf(m->topic_telemetry, sizeof m->topic_telemetry, "%s/telemetry", o->common.topic_prefix);
    rc = meter_gw_start(m);
    if (rc < 0) {
        meter_gw_free(m);
        free(m);
        return rc;
    }
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_METER,
        .options = meter_options,
        .read = meter_drv_read,
        .get_capabilities = meter_drv_caps,
        .destroy = meter_destroy,
    };
    rc = api->register_device(self, &desc, m, &m->dev);
    if (rc < 0) {
        meter_gw_free(m);
        free(m);
        return rc;
    }
    /* From here on m belongs to the device: the host calls meter_destroy even if init fails. */
    rc = gridems__sim_wire(self, api, m, m->topic_telemetry, meter_drv_on_telemetry, NULL, NULL,
                           o->common.tick_ms, meter_gw_tick);
    if (rc < 0) {
        return rc;
    }
    if (m->profile.n > 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated meter: %zu profile rows from %s (period %.1f h), telemetry on %s",
                 m->profile.n, o->profile, (double)m->profile.period_ms / GRIDEMS__SIM_MS_PER_HOUR,
                 m->topic_telemetry);
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated meter: built-in daily shape %g +- %g kW, telemetry on %s", o->base_kw,
                 o->swing_kw, m->topic_telemetry);
    }
    return 0;
}
