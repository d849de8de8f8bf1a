/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gridems_battery_hello.so: the smallest real battery plugin, an example for plugin vendors.
 *
 * It simulates one battery in memory: it holds energy, follows the set-points the service sends
 * within its power and energy limits, loses energy to a round-trip efficiency, and falls back to
 * zero power (its safe state) when a set-point expires. No hardware, no MQTT: a vendor's real
 * driver replaces advance() with Modbus/HTTP I/O done through queue_work().
 *
 * Options (validated by the host for type and presence, then by init for range):
 *   capacity_kwh  usable capacity, kWh, > 0 (default 100); the battery starts half full;
 *   max_power_kw  largest charge and discharge power, kW, > 0 (default 50).
 *
 * Build out of tree against the installed SDK (README.md in this directory):
 *   cmake -S . -B build -DCMAKE_PREFIX_PATH=<prefix> && cmake --build build
 *   make            (uses `pkg-config --cflags gridems-plugin`)
 */
#include <gridems/plugin.h>
#include <stdlib.h>

#define EFFICIENCY 0.95 /* one-way: charging stores 95 %, discharging delivers 95 % */

/* The context struct the host fills from the option table before init. */
typedef struct {
    double capacity_kwh;
    double max_power_kw;
} hello_opts_t;

static const gridems_option_t hello_options[] = {
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", "100", 0, offsetof(hello_opts_t, capacity_kwh),
     "usable capacity, kWh (> 0); the battery starts half full"},
    {GRIDEMS_OPT_DOUBLE, "max_power_kw", "50", 0, offsetof(hello_opts_t, max_power_kw),
     "largest charge and discharge power, kW (> 0)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "battery_hello",
    .version = "1.0",
    .description = "hello-world simulated battery (SDK example)",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
    .options = hello_options,
    .context_size = sizeof(hello_opts_t),
};

/* One battery: everything per instance lives here, never in globals. */
typedef struct {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    gridems_device_id_t dev;
    double capacity_kwh;
    double max_power_kw;
    double soc_kwh;         /* stored energy */
    double power_kw;        /* what it does now: + discharge, - charge */
    int64_t t_ms;           /* host-clock time soc_kwh and power_kw refer to */
    int64_t valid_until_ms; /* set-point expiry, 0 = none */
} hello_t;

/* Move the physics forward to the host clock's now: integrate the power, stop at the limits,
 * and go to zero power once the set-point has expired. */
static void advance(hello_t *b)
{
    int64_t now = b->api->now_ms(b->self);
    if (now <= b->t_ms) {
        return;
    }
    int64_t until = now;
    if (b->valid_until_ms > 0 && b->valid_until_ms < now) {
        until = b->valid_until_ms > b->t_ms ? b->valid_until_ms : b->t_ms;
    }
    double hours = (double)(until - b->t_ms) / 3600000.0;
    if (b->power_kw > 0) {
        b->soc_kwh -= b->power_kw * hours / EFFICIENCY;
    } else {
        b->soc_kwh -= b->power_kw * hours * EFFICIENCY;
    }
    if (b->soc_kwh <= 0) {
        b->soc_kwh = 0;
        if (b->power_kw > 0) {
            b->power_kw = 0; /* empty: cannot discharge any more */
        }
    }
    if (b->soc_kwh >= b->capacity_kwh) {
        b->soc_kwh = b->capacity_kwh;
        if (b->power_kw < 0) {
            b->power_kw = 0; /* full */
        }
    }
    if (until < now) {
        b->power_kw = 0; /* watchdog: no newer set-point in time, hold */
        b->valid_until_ms = 0;
    }
    b->t_ms = now;
}

static int hello_read(gridems_device_id_t dev, void *userdata)
{
    hello_t *b = userdata;
    advance(b);
    gridems_measurement_t m = {
        .struct_size = sizeof m,
        .device = dev,
        .timestamp_ms = b->t_ms,
        .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC,
        .power_kw = b->power_kw,
        .soc_kwh = b->soc_kwh,
    };
    return b->api->post_measurement(b->self, &m);
}

static int hello_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    hello_t *b = userdata;
    advance(b);
    out->measured_ms = b->t_ms;
    gridems_battery_caps_t *c = &out->u.battery;
    c->capacity_kwh = b->capacity_kwh;
    c->soc_kwh = b->soc_kwh;
    c->charge_max_kw = b->max_power_kw;
    c->discharge_max_kw = b->max_power_kw;
    c->charge_efficiency = EFFICIENCY;
    c->discharge_efficiency = EFFICIENCY;
    return 0;
}

static int hello_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    hello_t *b = userdata;
    advance(b); /* what happened so far happened under the previous set-point */
    double p = sp->safe_mode ? 0.0 : sp->power_kw;
    if (p > b->max_power_kw) {
        p = b->max_power_kw;
    } else if (p < -b->max_power_kw) {
        p = -b->max_power_kw;
    }
    if ((p > 0 && b->soc_kwh <= 0) || (p < 0 && b->soc_kwh >= b->capacity_kwh)) {
        p = 0;
    }
    b->power_kw = p; /* idempotent: the same set-point again sets the same power */
    b->valid_until_ms = sp->safe_mode ? 0 : sp->valid_until_ms;
    return 0;
}

static int hello_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    hello_t *b = userdata;
    if (ev->type == GRIDEMS_EVT_SHUTDOWN) {
        advance(b);
        b->power_kw = 0; /* safe state: hold */
        b->valid_until_ms = 0;
    }
    return 0;
}

static void hello_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    free(userdata);
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    const hello_opts_t *o = cfg->context;
    if (!(o->capacity_kwh > 0)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"capacity_kwh\" must be > 0 (got %g)",
                 o->capacity_kwh);
        return GRIDEMS_ECONFIG;
    }
    if (!(o->max_power_kw > 0)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"max_power_kw\" must be > 0 (got %g)",
                 o->max_power_kw);
        return GRIDEMS_ECONFIG;
    }
    hello_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return GRIDEMS_ENOMEM;
    }
    b->self = self;
    b->api = api;
    b->capacity_kwh = o->capacity_kwh;
    b->max_power_kw = o->max_power_kw;
    b->soc_kwh = o->capacity_kwh / 2;
    b->t_ms = api->now_ms(self);
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .klass = GRIDEMS_DEV_BATTERY,
        .read_interval_ms = 10000,
        .read = hello_read,
        .get_capabilities = hello_caps,
        .apply_setpoint = hello_setpoint,
        .on_event = hello_event,
        .destroy = hello_destroy,
    };
    int rc = api->register_device(self, &desc, b, &b->dev);
    if (rc < 0) {
        free(b); /* not transferred: register_device failed */
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO, "hello battery: %g kWh, +-%g kW, %g kWh stored",
             b->capacity_kwh, b->max_power_kw, b->soc_kwh);
    return 0;
}
