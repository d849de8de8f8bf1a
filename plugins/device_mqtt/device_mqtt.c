/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * device_mqtt: a generic battery, meter or flexible load mapped onto any MQTT device, for the
 * long tail of equipment that has an MQTT gateway but no driver of its own.
 *
 * Each measured value has a topic, a JSON path into the message ("" for the raw payload), a
 * scale and an offset (value = raw x scale + offset), so a device publishing {"bat":{"p_w":-1200}}
 * maps with power_topic = its topic, power_path = "bat.p_w", power_scale = -0.001 (W to kW, and
 * its sign to gridems': positive discharges). Values may share a topic. A reading is posted to the
 * service on every message (never repeated), so a device that falls silent goes stale after
 * stale_after_ms and leaves the plan.
 *
 * Commands (battery and flexible load): each set-point is rendered through command_template
 * (placeholders ${power_kw}, ${power_w}, ${safe}, ${safe01}, ${plan_id}, ${ts_ms}, ${ts_s},
 * ${valid_until_ms}; mqtt_map.h) and published on command_topic, then published again every
 * resend_ms (real time) as a watchdog for devices that fall back to their own behaviour without
 * fresh commands. When the set-point's valid_until passes without a newer one, the safe command
 * (the template with safe = true and power 0) replaces it. docs/devices.md has the options.
 *
 * Thread: everything on the loop thread (MQTT callbacks and timers); no blocking I/O.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "mqtt_map.h"

/* ---- ## Options ---- */

typedef struct value_opts_s {
    const char *topic;
    const char *path;
    double scale;
    double offset;
} value_opts_t;

typedef struct dm_opts_s {
    const char *device_class;
    value_opts_t power, soc, energy, remaining, deadline;
    const char *command_topic;
    const char *command_template;
    int64_t command_qos;
    int command_retain;
    int64_t resend_ms;
    int64_t stale_after_ms;
    double capacity_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    double charge_efficiency;
    double discharge_efficiency;
    double cycle_cost_per_kwh;
    const char *role;
    double power_max_kw;
} dm_opts_t;

/* clang-format off */
#define VALUE_OPTIONS(v, what)                                                                     \
    {GRIDEMS_OPT_STRING, #v "_topic", NULL, 0, offsetof(dm_opts_t, v.topic),                      \
     "topic that carries " what},                                                                  \
    {GRIDEMS_OPT_STRING, #v "_path", "", 0, offsetof(dm_opts_t, v.path),                          \
     "JSON path of " what " in the message (a.b[0].c), empty = the raw payload"},                  \
    {GRIDEMS_OPT_DOUBLE, #v "_scale", "1", 0, offsetof(dm_opts_t, v.scale),                       \
     "multiplier applied to the raw " #v " value"},                                                \
    {GRIDEMS_OPT_DOUBLE, #v "_offset", "0", 0, offsetof(dm_opts_t, v.offset),                     \
     "added after the scale"}
/* clang-format on */

static const gridems_option_t dm_options[] = {
    {GRIDEMS_OPT_STRING, "device_class", NULL, 1, offsetof(dm_opts_t, device_class),
     "battery, meter or flex"},
    VALUE_OPTIONS(power, "the power, kW after scaling (battery: + discharging; meter: + import "
                         "or per role; flex: consumption)"),
    VALUE_OPTIONS(soc, "a battery's stored energy, kWh after scaling"),
    VALUE_OPTIONS(energy, "an energy counter in the direction of positive power, kWh"),
    VALUE_OPTIONS(remaining, "a flexible load's energy still to deliver, kWh"),
    VALUE_OPTIONS(deadline, "a flexible load's deadline, Unix ms after scaling"),
    {GRIDEMS_OPT_STRING, "command_topic", NULL, 0, offsetof(dm_opts_t, command_topic),
     "where set-points are published (battery, flex)"},
    {GRIDEMS_OPT_STRING, "command_template", "{\"power_kw\":${power_kw},\"safe\":${safe}}", 0,
     offsetof(dm_opts_t, command_template),
     "payload with ${power_kw} ${power_w} ${safe} ${safe01} ${plan_id} ${ts_ms} ${ts_s} "
     "${valid_until_ms}; $$ = $"},
    {GRIDEMS_OPT_INT, "command_qos", "1", 0, offsetof(dm_opts_t, command_qos), "0, 1 or 2"},
    {GRIDEMS_OPT_BOOL, "command_retain", "false", 0, offsetof(dm_opts_t, command_retain),
     "publish commands retained"},
    {GRIDEMS_OPT_INT, "resend_ms", "30000", 0, offsetof(dm_opts_t, resend_ms),
     "re-publish the current command this often, real ms (100..3600000); the watchdog"},
    {GRIDEMS_OPT_INT, "stale_after_ms", "120000", 0, offsetof(dm_opts_t, stale_after_ms),
     "no message this long (host-clock ms): stale, out of the plan"},
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", "0", 0, offsetof(dm_opts_t, capacity_kwh),
     "battery: usable capacity, kWh (> 0)"},
    {GRIDEMS_OPT_DOUBLE, "soc_min_kwh", "0", 0, offsetof(dm_opts_t, soc_min_kwh),
     "battery: discharging stops here, kWh"},
    {GRIDEMS_OPT_DOUBLE, "soc_max_kwh", "-1", 0, offsetof(dm_opts_t, soc_max_kwh),
     "battery: charging stops here, kWh (-1 = the capacity)"},
    {GRIDEMS_OPT_DOUBLE, "charge_max_kw", "0", 0, offsetof(dm_opts_t, charge_max_kw),
     "battery: largest charging power, kW"},
    {GRIDEMS_OPT_DOUBLE, "discharge_max_kw", "0", 0, offsetof(dm_opts_t, discharge_max_kw),
     "battery: largest discharging power, kW"},
    {GRIDEMS_OPT_DOUBLE, "charge_efficiency", "0.95", 0, offsetof(dm_opts_t, charge_efficiency),
     "battery: (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "discharge_efficiency", "0.95", 0,
     offsetof(dm_opts_t, discharge_efficiency), "battery: (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "cycle_cost_per_kwh", "0", 0, offsetof(dm_opts_t, cycle_cost_per_kwh),
     "battery: degradation cost per kWh discharged"},
    {GRIDEMS_OPT_STRING, "role", "site", 0, offsetof(dm_opts_t, role),
     "meter: site, load, pv or other"},
    {GRIDEMS_OPT_DOUBLE, "power_max_kw", "0", 0, offsetof(dm_opts_t, power_max_kw),
     "flex: the load's largest power, kW (> 0)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "device_mqtt",
    .version = "1.0",
    .description = "a battery, meter or flexible load mapped onto any MQTT device",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY) | GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER) |
               GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
    .options = dm_options,
    .context_size = sizeof(dm_opts_t),
};

/* ---- ## State ---- */

enum { V_POWER, V_SOC, V_ENERGY, V_REMAINING, V_DEADLINE, V_COUNT };
static const char *const value_names[V_COUNT] = {"power", "soc", "energy", "remaining", "deadline"};

typedef struct mdev_s mdev_t;

typedef struct value_s {
    mdev_t *d;
    const value_opts_t *o;
    int index;
    int used;
    int have;
    double v;
    int64_t at_ms;
    uint64_t bad; /* malformed messages; logged at 1, 2, 4, 8, ... */
} value_t;

struct mdev_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const dm_opts_t *o;
    int32_t klass;
    int32_t role;
    gridems_device_id_t id;
    gridems_timer_id_t timer;
    value_t val[V_COUNT];
    int64_t last_msg_ms;
    int stale_logged;

    int have_cmd; /* a command was rendered */
    dm_vars_t cmd;
    char payload[1024];
    int safe_by_expiry;
    uint64_t pub_failed;
    gridems_flex_job_t job;
};

/* ---- ## Telemetry ---- */

static int should_log(uint64_t n)
{
    return (n & (n - 1)) == 0; /* the 1st, 2nd, 4th, 8th, ... */
}

static void post(mdev_t *d, int64_t now)
{
    gridems_measurement_t m = {.struct_size = sizeof m, .device = d->id, .timestamp_ms = now};
    if (d->val[V_POWER].have) {
        m.valid |= GRIDEMS_MEAS_POWER;
        m.power_kw = d->val[V_POWER].v;
    }
    if (d->klass == GRIDEMS_DEV_BATTERY && d->val[V_SOC].have) {
        m.valid |= GRIDEMS_MEAS_SOC;
        m.soc_kwh = d->val[V_SOC].v;
    }
    if (d->val[V_ENERGY].have) {
        m.valid |= GRIDEMS_MEAS_ENERGY;
        m.energy_kwh = d->val[V_ENERGY].v;
    }
    if (m.valid == 0) {
        return;
    }
    int rc = d->api->post_measurement(d->self, &m);
    if (rc < 0) {
        d->api->log(d->self, GRIDEMS_PLUGIN_LOG_DEBUG, "post_measurement: error %d", rc);
    }
}

static void on_message(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    value_t *v = arg;
    mdev_t *d = v->d;
    double raw;
    char err[200];
    if (dm_extract(msg->payload, msg->len, v->o->path, &raw, err, sizeof err) < 0) {
        if (should_log(++v->bad)) {
            d->api->log(d->self, GRIDEMS_PLUGIN_LOG_WARNING,
                        "%s: message on %s ignored (%" PRIu64 " so far): %s", value_names[v->index],
                        msg->topic, v->bad, err);
        }
        return;
    }
    double x = raw * v->o->scale + v->o->offset;
    if (!isfinite(x)) {
        return;
    }
    int64_t now = d->api->now_ms(d->self);
    v->v = x;
    v->have = 1;
    v->at_ms = now;
    if (d->stale_logged) {
        d->api->log(d->self, GRIDEMS_PLUGIN_LOG_NOTICE, "telemetry again on %s", msg->topic);
        d->stale_logged = 0;
    }
    d->last_msg_ms = now;
    post(d, now);
}

/* ---- ## Commands ---- */

static void publish_cmd(mdev_t *d)
{
    if (d->o->command_topic == NULL || !d->have_cmd) {
        return;
    }
    int rc = d->api->publish(d->self, d->o->command_topic, d->payload, strlen(d->payload),
                             (int)d->o->command_qos, d->o->command_retain);
    if (rc < 0 && should_log(++d->pub_failed)) {
        d->api->log(d->self, GRIDEMS_PLUGIN_LOG_WARNING,
                    "cannot publish the command on %s (error %d, %" PRIu64 " so far)",
                    d->o->command_topic, rc, d->pub_failed);
    }
}

static int render_cmd(mdev_t *d, const dm_vars_t *v)
{
    char err[200];
    if (dm_render(d->o->command_template, v, d->payload, sizeof d->payload, err, sizeof err) < 0) {
        d->api->log(d->self, GRIDEMS_PLUGIN_LOG_ERR, "command_template: %s", err);
        return GRIDEMS_EINVAL;
    }
    d->cmd = *v;
    d->have_cmd = 1;
    return 0;
}

static double safe_power(const mdev_t *d)
{
    /* Battery: hold. Flex: no gridems cap, i.e. the load's own full power. */
    return d->klass == GRIDEMS_DEV_FLEX_LOAD ? d->o->power_max_kw : 0.0;
}

static void on_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    mdev_t *d = arg;
    int64_t now = d->api->now_ms(d->self);
    if (d->last_msg_ms > 0 && !d->stale_logged && now - d->last_msg_ms > d->o->stale_after_ms) {
        d->stale_logged = 1;
        d->api->log(d->self, GRIDEMS_PLUGIN_LOG_WARNING, "no telemetry for %" PRId64 " s: stale",
                    (now - d->last_msg_ms) / 1000);
    }
    if (d->have_cmd && !d->cmd.safe && d->cmd.valid_until_ms > 0 && now >= d->cmd.valid_until_ms) {
        dm_vars_t v = d->cmd;
        v.safe = 1;
        v.power_kw = safe_power(d);
        if (render_cmd(d, &v) == 0) {
            d->api->log(d->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                        "the set-point's valid_until passed without a newer one: safe command");
        }
    }
    publish_cmd(d);
}

static int dev_setpoint(gridems_device_id_t id, void *userdata, const gridems_setpoint_t *sp)
{
    (void)id;
    mdev_t *d = userdata;
    if (d->klass == GRIDEMS_DEV_METER || d->o->command_topic == NULL) {
        return 0;
    }
    dm_vars_t v = {.safe = sp->safe_mode != 0,
                   .plan_id = sp->plan_id,
                   .ts_ms = sp->timestamp_ms,
                   .valid_until_ms = sp->valid_until_ms};
    if (v.safe) {
        v.power_kw = safe_power(d);
    } else if (d->klass == GRIDEMS_DEV_BATTERY) {
        v.power_kw = sp->power_kw;
    } else {
        /* Flex: the plan's power for our one job (0 when not listed), within the step's cap. */
        v.power_kw = 0;
        for (uint32_t i = 0; i < sp->n_jobs; i++) {
            if (sp->jobs[i].job_id != NULL && d->job.id != NULL &&
                strcmp(sp->jobs[i].job_id, d->job.id) == 0) {
                v.power_kw = sp->jobs[i].power_kw;
            }
        }
        if (sp->power_cap_kw >= 0 && v.power_kw > sp->power_cap_kw) {
            v.power_kw = sp->power_cap_kw;
        }
    }
    if (!isfinite(v.power_kw)) {
        return GRIDEMS_EINVAL;
    }
    int same = d->have_cmd && d->cmd.safe == v.safe && d->cmd.plan_id == v.plan_id &&
               d->cmd.ts_ms == v.ts_ms && d->cmd.power_kw == v.power_kw;
    if (same) {
        return 0; /* a repeat: the timer re-sends it anyway */
    }
    int rc = render_cmd(d, &v);
    if (rc < 0) {
        return rc;
    }
    d->api->log(d->self, GRIDEMS_PLUGIN_LOG_DEBUG, "command on %s: %s", d->o->command_topic,
                d->payload);
    publish_cmd(d);
    return 0;
}

static int dev_event(gridems_device_id_t id, void *userdata, const gridems_device_event_t *ev)
{
    (void)id;
    mdev_t *d = userdata;
    if (ev->type == GRIDEMS_EVT_SHUTDOWN && d->have_cmd) {
        dm_vars_t v = d->cmd;
        v.safe = 1;
        v.power_kw = safe_power(d);
        if (render_cmd(d, &v) == 0) {
            publish_cmd(d);
        }
    }
    return 0;
}

/* ---- ## Capabilities ---- */

static int dev_caps(gridems_device_id_t id, void *userdata, gridems_caps_t *out)
{
    (void)id;
    mdev_t *d = userdata;
    const dm_opts_t *o = d->o;
    out->stale_after_ms = (uint32_t)o->stale_after_ms;
    out->measured_ms = d->last_msg_ms;
    if (d->last_msg_ms == 0) {
        return GRIDEMS_EAGAIN;
    }
    if (d->klass == GRIDEMS_DEV_METER) {
        out->u.meter.role = d->role;
        return 0;
    }
    if (d->klass == GRIDEMS_DEV_BATTERY) {
        if (!d->val[V_SOC].have) {
            return GRIDEMS_EAGAIN;
        }
        gridems_battery_caps_t *c = &out->u.battery;
        c->capacity_kwh = o->capacity_kwh;
        double soc = d->val[V_SOC].v;
        c->soc_kwh = soc < 0 ? 0 : soc > o->capacity_kwh ? o->capacity_kwh : soc;
        c->soc_min_kwh = o->soc_min_kwh;
        c->soc_max_kwh = o->soc_max_kwh < 0 ? o->capacity_kwh : o->soc_max_kwh;
        c->charge_max_kw = o->charge_max_kw;
        c->discharge_max_kw = o->discharge_max_kw;
        c->charge_efficiency = o->charge_efficiency;
        c->discharge_efficiency = o->discharge_efficiency;
        c->cycle_cost_per_kwh = o->cycle_cost_per_kwh;
        return 0;
    }
    /* Flex: one job, named after the instance, while it has energy to deliver. */
    if (!d->val[V_REMAINING].have || !d->val[V_DEADLINE].have) {
        return GRIDEMS_EAGAIN;
    }
    int64_t now = d->api->now_ms(d->self);
    double rem = d->val[V_REMAINING].v;
    int64_t deadline = (int64_t)d->val[V_DEADLINE].v;
    out->u.flex.power_cap_kw = -1;
    if (!(rem > 0) || deadline <= now) {
        out->u.flex.jobs = NULL;
        out->u.flex.n_jobs = 0;
        return 0;
    }
    d->job.energy_remaining_kwh = rem;
    d->job.energy_delivered_kwh = 0;
    d->job.power_max_kw = o->power_max_kw;
    d->job.earliest_ms = now;
    d->job.deadline_ms = deadline;
    out->u.flex.jobs = &d->job;
    out->u.flex.n_jobs = 1;
    return 0;
}

static void dev_destroy(gridems_device_id_t id, void *userdata)
{
    (void)id;
    free(userdata);
}

/* ---- ## Init ---- */

static int bad(const gridems_host_api_t *api, gridems_plugin_t *self, const char *key,
               const char *rule)
{
    api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"%s\" %s", key, rule);
    return GRIDEMS_ECONFIG;
}

static int check(const gridems_host_api_t *api, gridems_plugin_t *self, const dm_opts_t *o,
                 int32_t klass)
{
    const value_opts_t *vals[V_COUNT] = {&o->power, &o->soc, &o->energy, &o->remaining,
                                         &o->deadline};
    for (int i = 0; i < V_COUNT; i++) {
        if (!isfinite(vals[i]->scale) || vals[i]->scale == 0) {
            api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"%s_scale\" must be non-zero",
                     value_names[i]);
            return GRIDEMS_ECONFIG;
        }
    }
    if (o->power.topic == NULL) {
        return bad(api, self, "power_topic", "is required");
    }
    if (o->stale_after_ms < 1000 || o->stale_after_ms > UINT32_MAX) {
        return bad(api, self, "stale_after_ms", "must be in 1000..4294967295");
    }
    if (o->resend_ms < 100 || o->resend_ms > 3600000) {
        return bad(api, self, "resend_ms", "must be in 100..3600000");
    }
    if (o->command_qos < 0 || o->command_qos > 2) {
        return bad(api, self, "command_qos", "must be 0, 1 or 2");
    }
    if (klass == GRIDEMS_DEV_BATTERY) {
        if (o->soc.topic == NULL) {
            return bad(api, self, "soc_topic", "is required for a battery");
        }
        if (!(o->capacity_kwh > 0)) {
            return bad(api, self, "capacity_kwh", "must be > 0 for a battery");
        }
        double smax = o->soc_max_kwh < 0 ? o->capacity_kwh : o->soc_max_kwh;
        if (o->soc_min_kwh < 0 || o->soc_min_kwh > smax || smax > o->capacity_kwh) {
            return bad(api, self, "soc_min_kwh",
                       "and soc_max_kwh must satisfy 0 <= soc_min_kwh <= soc_max_kwh <= "
                       "capacity_kwh");
        }
        if (o->charge_max_kw < 0 || o->discharge_max_kw < 0) {
            return bad(api, self, "charge_max_kw", "and discharge_max_kw must be >= 0");
        }
        if (!(o->charge_efficiency > 0 && o->charge_efficiency <= 1) ||
            !(o->discharge_efficiency > 0 && o->discharge_efficiency <= 1)) {
            return bad(api, self, "charge_efficiency",
                       "and discharge_efficiency must be in (0, 1]");
        }
        if (o->cycle_cost_per_kwh < 0) {
            return bad(api, self, "cycle_cost_per_kwh", "must be >= 0");
        }
    }
    if (klass == GRIDEMS_DEV_FLEX_LOAD) {
        if (o->remaining.topic == NULL || o->deadline.topic == NULL) {
            return bad(api, self, "remaining_topic",
                       "and deadline_topic are required for a flexible load");
        }
        if (!(o->power_max_kw > 0)) {
            return bad(api, self, "power_max_kw", "must be > 0 for a flexible load");
        }
    }
    if (klass != GRIDEMS_DEV_METER && o->command_topic == NULL) {
        return bad(api, self, "command_topic", "is required for a battery or a flexible load");
    }
    if (klass != GRIDEMS_DEV_METER) {
        dm_vars_t probe = {.power_kw = 1.5, .plan_id = 1, .ts_ms = 1, .valid_until_ms = 2};
        char out[1024], err[200];
        if (dm_render(o->command_template, &probe, out, sizeof out, err, sizeof err) < 0) {
            api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"command_template\": %s", err);
            return GRIDEMS_ECONFIG;
        }
    }
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    if (!GRIDEMS_API_HAS(api, now_ms) || cfg->context == NULL) {
        return GRIDEMS_EABI;
    }
    const dm_opts_t *o = cfg->context;
    int32_t klass = strcmp(o->device_class, "battery") == 0 ? GRIDEMS_DEV_BATTERY
                    : strcmp(o->device_class, "meter") == 0 ? GRIDEMS_DEV_METER
                    : strcmp(o->device_class, "flex") == 0  ? GRIDEMS_DEV_FLEX_LOAD
                                                            : 0;
    if (klass == 0) {
        return bad(api, self, "device_class", "must be battery, meter or flex");
    }
    int rc = check(api, self, o, klass);
    if (rc < 0) {
        return rc;
    }
    int32_t role = GRIDEMS_METER_SITE;
    if (klass == GRIDEMS_DEV_METER) {
        role = strcmp(o->role, "site") == 0    ? GRIDEMS_METER_SITE
               : strcmp(o->role, "load") == 0  ? GRIDEMS_METER_LOAD
               : strcmp(o->role, "pv") == 0    ? GRIDEMS_METER_PV
               : strcmp(o->role, "other") == 0 ? GRIDEMS_METER_OTHER
                                               : 0;
        if (role == 0) {
            return bad(api, self, "role", "must be site, load, pv or other");
        }
    }
    mdev_t *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return GRIDEMS_ENOMEM;
    }
    d->self = self;
    d->api = api;
    d->o = o;
    d->klass = klass;
    d->role = role;
    d->job.id = cfg->instance;
    const value_opts_t *vals[V_COUNT] = {&o->power, &o->soc, &o->energy, &o->remaining,
                                         &o->deadline};
    for (int i = 0; i < V_COUNT; i++) {
        d->val[i].d = d;
        d->val[i].o = vals[i];
        d->val[i].index = i;
    }
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->power.topic,
        .klass = klass,
        .options = dm_options,
        .get_capabilities = dev_caps,
        .apply_setpoint = dev_setpoint,
        .on_event = dev_event,
        .destroy = dev_destroy,
    };
    rc = api->register_device(self, &desc, d, &d->id);
    if (rc < 0) {
        free(d);
        return rc;
    }
    for (int i = 0; i < V_COUNT; i++) {
        if (vals[i]->topic == NULL) {
            continue;
        }
        rc = api->subscribe(self, vals[i]->topic, on_message, &d->val[i]);
        if (rc < 0) {
            api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                     "option \"%s_topic\": cannot subscribe to %s "
                     "(error %d)",
                     value_names[i], vals[i]->topic, rc);
            return rc;
        }
        d->val[i].used = 1;
    }
    rc = api->timer_start(self, (uint64_t)o->resend_ms, (uint64_t)o->resend_ms, on_timer, d,
                          &d->timer);
    if (rc < 0) {
        return rc;
    }
    int cmds = o->command_topic != NULL && klass != GRIDEMS_DEV_METER;
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "MQTT-mapped %s: power on %s%s%s, stale after %" PRId64 " ms", o->device_class,
             o->power.topic, cmds ? ", commands on " : "", cmds ? o->command_topic : "",
             o->stale_after_ms);
    return 0;
}
