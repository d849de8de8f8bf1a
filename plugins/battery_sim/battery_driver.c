/* SPDX-License-Identifier: GPL-3.0-or-later */
/* battery_sim's driver, the gridems side: the gateway's telemetry into measurements and
 * capabilities, set-points into commands (battery_sim.c documents the messages). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "battery_driver.h"

/* ---- ## Driver ---- */

/* Post the measurement the last telemetry message gave. */
static int drv_post(battery_t *b)
{
    const driver_t *d = &b->drv;
    gridems_measurement_t m = {
        .struct_size = sizeof m,
        .device = b->dev,
        .timestamp_ms = d->ts,
        .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC | GRIDEMS_MEAS_ENERGY,
        .power_kw = d->power_kw,
        .soc_kwh = d->soc_kwh,
        .energy_kwh = d->discharged_kwh,
    };
    return b->api->post_measurement(b->self, &m);
}

/* Parse a telemetry message into t. Returns 0, or -1 with the reason in r->error. */
static int parse_telemetry(gridems__sim_jr_t *r, driver_t *t)
{
    static const struct {
        const char *key;
        size_t offset;
    } numbers[] = {
        {"power_kw", offsetof(driver_t, power_kw)},
        {"soc_kwh", offsetof(driver_t, soc_kwh)},
        {"capacity_kwh", offsetof(driver_t, capacity_kwh)},
        {"soc_min_kwh", offsetof(driver_t, soc_min_kwh)},
        {"soc_max_kwh", offsetof(driver_t, soc_max_kwh)},
        {"charge_max_kw", offsetof(driver_t, charge_max_kw)},
        {"discharge_max_kw", offsetof(driver_t, discharge_max_kw)},
        {"charge_efficiency", offsetof(driver_t, eta_c)},
        {"discharge_efficiency", offsetof(driver_t, eta_d)},
        {"discharged_kwh", offsetof(driver_t, discharged_kwh)},
    };
    enum { N_NUMBERS = sizeof numbers / sizeof numbers[0] };
    unsigned seen = 0;
    int have_ts = 0;
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc = 1;
        for (unsigned i = 0; i < N_NUMBERS; i++) {
            if (strcmp(key, numbers[i].key) == 0) {
                rc = gridems__sim_jr_number(r, (double *)(void *)((char *)t + numbers[i].offset));
                seen |= 1u << i;
                break;
            }
        }
        if (rc == 1) {
            if (strcmp(key, "ts") == 0) {
                rc = gridems__sim_jr_int64(r, &t->ts);
                have_ts = 1;
            } else if (strcmp(key, "safe_mode") == 0) {
                rc = gridems__sim_jr_bool(r, &t->safe_mode);
            } else {
                rc = gridems__sim_jr_skip(r);
            }
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0 || gridems__sim_jr_finish(r) < 0) {
        return -1;
    }
    /* Every number but the energy counter is required. */
    unsigned required = ((1u << N_NUMBERS) - 1) & ~(1u << (N_NUMBERS - 1));
    if (!have_ts || (seen & required) != required) {
        return gridems__sim_jr_fail(r, "a required member is missing");
    }
    if (!(t->capacity_kwh > 0) || t->soc_kwh < 0 || t->soc_kwh > t->capacity_kwh ||
        t->soc_min_kwh < 0 || t->soc_min_kwh > t->soc_max_kwh || t->soc_max_kwh > t->capacity_kwh ||
        t->charge_max_kw < 0 || t->discharge_max_kw < 0 || !(t->eta_c > 0 && t->eta_c <= 1) ||
        !(t->eta_d > 0 && t->eta_d <= 1) || t->discharged_kwh < 0) {
        return gridems__sim_jr_fail(r, "a value is out of range");
    }
    return 0;
}

void battery_drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    battery_t *b = arg;
    driver_t *d = &b->drv;
    driver_t t = *d;
    t.discharged_kwh = 0;
    t.safe_mode = 0;
    gridems__sim_jr_t r;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    if (parse_telemetry(&r, &t) < 0) {
        gridems__sim_complain_malformed(b->api, b->self, &d->bad_telemetry,
                                        "driver: malformed telemetry", msg->topic, &r);
        return;
    }
    if (!gridems__sim_telemetry_takes(b->api, b->self, &d->bad_telemetry, msg->topic, t.ts, d->have,
                                      d->ts)) {
        return;
    }
    t.have = 1;
    *d = t;
    drv_post(b);
}

int battery_drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    battery_t *b = userdata;
    return b->drv.have ? drv_post(b) : 0;
}

int battery_drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    battery_t *b = userdata;
    const driver_t *d = &b->drv;
    if (!d->have) {
        return GRIDEMS_EAGAIN; /* no telemetry yet: nothing is known about the battery */
    }
    out->stale_after_ms = (uint32_t)b->opts->common.stale_after_ms;
    out->measured_ms = d->ts;
    gridems_battery_caps_t *c = &out->u.battery;
    c->capacity_kwh = d->capacity_kwh;
    c->soc_kwh = d->soc_kwh;
    c->soc_min_kwh = d->soc_min_kwh;
    c->soc_max_kwh = d->soc_max_kwh;
    c->charge_max_kw = d->charge_max_kw;
    c->discharge_max_kw = d->discharge_max_kw;
    c->charge_efficiency = d->eta_c;
    c->discharge_efficiency = d->eta_d;
    c->cycle_cost_per_kwh = b->opts->cycle_cost_per_kwh;
    c->ramp_kw_per_s = 0;
    return 0;
}

static int drv_send(battery_t *b, const gridems__sim_cmd_head_t *h, double power_kw)
{
    gridems__sim_buf_t *w = &b->buf;
    gridems__sim_cmd_begin(w, h);
    gridems__sim_json_kv_num(w, "power_kw", h->safe_mode ? 0.0 : power_kw);
    return gridems__sim_cmd_send(b->api, b->self, b->topic_cmd, w, h, &b->drv.sent);
}

int battery_drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    battery_t *b = userdata;
    gridems__sim_cmd_head_t h;
    int rc = gridems__sim_cmd_from_setpoint(sp, &h);
    if (rc < 0) {
        return rc;
    }
    /* Every set-point is sent, repeats included: the gateway drops duplicates, and a repeat
     * heals a command lost while the broker was away. */
    return drv_send(b, &h, sp->power_kw);
}

int battery_drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    battery_t *b = userdata;
    if (ev->type != GRIDEMS_EVT_SHUTDOWN) {
        return 0;
    }
    /* Hold at zero power. */
    gridems__sim_cmd_head_t h;
    gridems__sim_cmd_for_shutdown(&b->drv.sent, ev->time_ms, &h);
    return drv_send(b, &h, 0.0);
}
