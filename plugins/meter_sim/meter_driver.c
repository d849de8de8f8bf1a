/* SPDX-License-Identifier: GPL-3.0-or-later */
/* meter_sim's driver, the gridems side: the gateway's telemetry into measurements (meter_sim.c
 * documents the message). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "meter_driver.h"

/* ---- ## Driver ---- */

static int drv_post(meter_t *m)
{
    gridems_measurement_t meas = {
        .struct_size = sizeof meas,
        .device = m->dev,
        .timestamp_ms = m->tel_ts,
        .valid = GRIDEMS_MEAS_POWER | (m->tel_has_energy ? GRIDEMS_MEAS_ENERGY : 0u),
        .power_kw = m->tel_power_kw,
        .energy_kwh = m->tel_energy_kwh,
    };
    return m->api->post_measurement(m->self, &meas);
}

void meter_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    meter_t *m = arg;
    int64_t ts = 0;
    double power = 0, energy = 0;
    int have_ts = 0, have_power = 0, have_energy = 0;
    gridems__sim_jr_t r;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    if (gridems__sim_jr_begin_object(&r) == 0) {
        char key[64];
        while (gridems__sim_jr_next_key(&r, key, sizeof key) == 1) {
            if (strcmp(key, "ts") == 0) {
                have_ts = gridems__sim_jr_int64(&r, &ts) == 0;
            } else if (strcmp(key, "power_kw") == 0) {
                have_power = gridems__sim_jr_number(&r, &power) == 0;
            } else if (strcmp(key, "energy_kwh") == 0) {
                have_energy = gridems__sim_jr_number(&r, &energy) == 0;
            } else {
                gridems__sim_jr_skip(&r);
            }
        }
    }
    if (gridems__sim_jr_finish(&r) == 0 && (!have_ts || !have_power)) {
        gridems__sim_jr_fail(&r, "ts or power_kw is missing");
    }
    if (r.error != NULL) {
        gridems__sim_complain_malformed(m->api, m->self, &m->bad_telemetry,
                                        "driver: malformed telemetry", msg->topic, &r);
        return;
    }
    if (!gridems__sim_telemetry_takes(m->api, m->self, &m->bad_telemetry, msg->topic, ts, m->have,
                                      m->tel_ts)) {
        return;
    }
    m->have = 1;
    m->tel_ts = ts;
    m->tel_power_kw = power;
    m->tel_energy_kwh = energy;
    m->tel_has_energy = have_energy;
    drv_post(m);
}

int meter_drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    meter_t *m = userdata;
    return m->have ? drv_post(m) : 0;
}

int meter_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    meter_t *m = userdata;
    out->stale_after_ms = (uint32_t)m->opts->common.stale_after_ms;
    out->measured_ms = m->have ? m->tel_ts : 0;
    out->u.meter.role = m->role;
    return 0;
}
