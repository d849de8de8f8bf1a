/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * battery_sim: a simulated stationary battery that talks MQTT the way a real battery gateway
 * does (class GRIDEMS_DEV_BATTERY).
 *
 * The plugin has two halves that share nothing but the MQTT topics:
 *   - the gateway simulator owns the physics. Every tick_ms (real time) it integrates the stored
 *     energy up to the host clock (api->now_ms(), which may run much faster than real time),
 *     and at least telemetry_interval_ms of host-clock time after its last telemetry message it
 *     publishes the next one on <topic_prefix>/telemetry. It executes the commands it receives
 *     on <topic_prefix>/cmd and publishes a telemetry message at once after each accepted one.
 *   - the driver registers the device with the service, turns each telemetry message into a
 *     measurement (post_measurement) and into the capabilities, and turns each set-point into a
 *     command message.
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
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "sim_command.h"
#include "sim_common.h"

/* ---- ## Options ---- */

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

/* ---- ## State ---- */

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

/* ---- ## Gateway: physics ---- */

/* The power the battery actually runs at in its current state. */
static double gw_actual_power(const gateway_t *g)
{
    if (g->safe) {
        return 0.0;
    }
    double p = g->setpoint_kw;
    if (p > g->discharge_max_kw) {
        p = g->discharge_max_kw;
    }
    if (p < -g->charge_max_kw) {
        p = -g->charge_max_kw;
    }
    if (p < 0 && g->soc_kwh >= g->soc_max_kwh) {
        return 0.0;
    }
    if (p > 0 && g->soc_kwh <= g->soc_min_kwh) {
        return 0.0;
    }
    return p;
}

/* Enter safe mode once the last command's valid_until has passed. */
static void gw_watchdog(gateway_t *g)
{
    if (!g->safe && g->cmd.valid_until > 0 && g->t_ms >= g->cmd.valid_until) {
        g->safe = 1;
        g->safe_reason = "watchdog";
    }
}

/* Integrate the state from g->t_ms up to now, one constant-power segment at a time. */
static void gw_advance(battery_t *b, int64_t now)
{
    gateway_t *g = &b->gw;
    if (now < g->t_ms) {
        /* The host clock went back (a simulation restarted): resume from the new time. */
        gridems__sim_complain_clock_back(b->api, b->self, &g->clock_back, g->t_ms - now);
        g->t_ms = now;
        g->telemetry.sent = 0;
        return;
    }
    gw_watchdog(g);
    while (g->t_ms < now) {
        int64_t end = now;
        if (!g->safe && g->cmd.valid_until > g->t_ms && g->cmd.valid_until < end) {
            end = g->cmd.valid_until;
        }
        double p = gw_actual_power(g);
        int hit = 0;
        if (p != 0.0) {
            /* When does the stored energy reach the bound it is moving towards? */
            double rate = p < 0 ? -p * g->eta_c : p / g->eta_d; /* kWh per hour */
            double room = p < 0 ? g->soc_max_kwh - g->soc_kwh : g->soc_kwh - g->soc_min_kwh;
            double reach = (double)g->t_ms + room / rate * GRIDEMS__SIM_MS_PER_HOUR;
            if (reach < (double)end) {
                int64_t at = (int64_t)ceil(reach);
                end = at > g->t_ms ? at : g->t_ms + 1; /* always make progress */
                hit = 1;
            }
        }
        double hours = (double)(end - g->t_ms) / GRIDEMS__SIM_MS_PER_HOUR;
        if (p < 0) {
            double c = -p;
            if (hit) {
                /* Book exactly the energy that fitted, not the rounded-up time. */
                g->charged_kwh += (g->soc_max_kwh - g->soc_kwh) / g->eta_c;
                g->soc_kwh = g->soc_max_kwh;
            } else {
                g->charged_kwh += c * hours;
                g->soc_kwh += c * hours * g->eta_c;
                if (g->soc_kwh > g->soc_max_kwh) {
                    g->soc_kwh = g->soc_max_kwh;
                }
            }
        } else if (p > 0) {
            if (hit) {
                g->discharged_kwh += (g->soc_kwh - g->soc_min_kwh) * g->eta_d;
                g->soc_kwh = g->soc_min_kwh;
            } else {
                g->discharged_kwh += p * hours;
                g->soc_kwh -= p * hours / g->eta_d;
                if (g->soc_kwh < g->soc_min_kwh) {
                    g->soc_kwh = g->soc_min_kwh;
                }
            }
        }
        g->t_ms = end;
        gw_watchdog(g);
    }
}

/* ---- ## Gateway: messages ---- */

static void gw_publish(battery_t *b)
{
    gateway_t *g = &b->gw;
    gridems__sim_buf_t *w = &b->buf;
    gridems__sim_buf_reset(w);
    gridems__sim_json_begin_object(w);
    gridems__sim_json_kv_int(w, "ts", g->t_ms);
    gridems__sim_json_kv_num(w, "power_kw", gw_actual_power(g));
    gridems__sim_json_kv_num(w, "setpoint_kw", g->setpoint_kw);
    gridems__sim_json_kv_num(w, "soc_kwh", g->soc_kwh);
    gridems__sim_json_kv_num(w, "capacity_kwh", g->capacity_kwh);
    gridems__sim_json_kv_num(w, "soc_min_kwh", g->soc_min_kwh);
    gridems__sim_json_kv_num(w, "soc_max_kwh", g->soc_max_kwh);
    gridems__sim_json_kv_num(w, "charge_max_kw", g->charge_max_kw);
    gridems__sim_json_kv_num(w, "discharge_max_kw", g->discharge_max_kw);
    gridems__sim_json_kv_num(w, "charge_efficiency", g->eta_c);
    gridems__sim_json_kv_num(w, "discharge_efficiency", g->eta_d);
    gridems__sim_json_kv_num(w, "charged_kwh", g->charged_kwh);
    gridems__sim_json_kv_num(w, "discharged_kwh", g->discharged_kwh);
    gridems__sim_json_kv_bool(w, "safe_mode", g->safe);
    if (g->safe) {
        gridems__sim_json_kv_str(w, "safe_reason", g->safe_reason);
    }
    if (g->have_cmd) {
        gridems__sim_json_last_cmd(w, &g->cmd);
    }
    gridems__sim_json_cmd_counts(w, &g->cmds);
    gridems__sim_json_end_object(w);
    gridems__sim_send_telemetry(b->api, b->self, b->topic_telemetry, w, g->t_ms, &g->telemetry);
}

static void gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    battery_t *b = arg;
    gw_advance(b, b->api->now_ms(b->self));
    if (gridems__sim_telemetry_due(&b->gw.telemetry, b->gw.t_ms,
                                   b->opts->common.telemetry_interval_ms)) {
        gw_publish(b);
    }
}

/* A battery command: the common head and the power. */
typedef struct command_s {
    gridems__sim_cmd_head_t head;
    double power_kw;
    int have_power;
} command_t;

/* The battery's own member of a command (gridems__sim_cmd_member_fn). */
static int command_member(gridems__sim_jr_t *r, const char *key, void *arg)
{
    command_t *c = arg;
    if (strcmp(key, "power_kw") != 0) {
        return 1;
    }
    c->have_power = 1;
    return gridems__sim_jr_number(r, &c->power_kw);
}

/* Only a safe-mode command may leave out the power (gridems__sim_cmd_check_fn). */
static const char *command_check(const void *arg, const gridems__sim_cmd_head_t *h)
{
    const command_t *c = arg;
    return !h->safe_mode && !c->have_power ? "power_kw is missing" : NULL;
}

static void gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    battery_t *b = arg;
    gateway_t *g = &b->gw;
    gridems__sim_jr_t r;
    command_t c;
    memset(&c, 0, sizeof c);
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    int parsed = gridems__sim_cmd_parse(&r, &c.head, command_member, command_check, &c);
    if (!gridems__sim_cmd_admit(b->api, b->self, &g->cmds, msg->topic, parsed, &r,
                                g->have_cmd ? &g->cmd : NULL, &c.head)) {
        return;
    }
    /* Everything up to now happened under the previous command. */
    gw_advance(b, b->api->now_ms(b->self));
    g->have_cmd = 1;
    g->cmd = c.head;
    g->cmds.accepted++;
    if (c.head.safe_mode) {
        g->safe = 1;
        g->safe_reason = "command";
        g->setpoint_kw = 0.0;
    } else {
        g->safe = 0;
        g->safe_reason = NULL;
        g->setpoint_kw = c.power_kw;
    }
    gw_watchdog(g);
    gw_publish(b);
}

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

static void drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
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

static int drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    battery_t *b = userdata;
    return b->drv.have ? drv_post(b) : 0;
}

static int drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
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

static int drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
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

static int drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
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

static void drv_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    battery_t *b = userdata;
    gridems__sim_buf_free(&b->buf);
    free(b);
}

/* ---- ## Init ---- */

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

    gateway_t *g = &b->gw;
    g->capacity_kwh = o->capacity_kwh;
    g->soc_min_kwh = o->soc_min_kwh;
    g->soc_max_kwh = o->soc_max_kwh;
    g->charge_max_kw = o->charge_max_kw;
    g->discharge_max_kw = o->discharge_max_kw;
    g->eta_c = o->charge_efficiency;
    g->eta_d = o->discharge_efficiency;
    g->soc_kwh = o->soc_kwh;
    g->t_ms = api->now_ms(self);
    g->safe = 1;
    g->safe_reason = "startup";

    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_BATTERY,
        .options = battery_options,
        .read = drv_read,
        .get_capabilities = drv_caps,
        .apply_setpoint = drv_setpoint,
        .on_event = drv_event,
        .destroy = drv_destroy,
    };
    rc = api->register_device(self, &desc, b, &b->dev);
    if (rc < 0) {
        free(b);
        return rc;
    }
    /* From here on b belongs to the device: the host calls drv_destroy even if init fails. */
    rc = gridems__sim_wire(self, api, b, b->topic_telemetry, drv_on_telemetry, b->topic_cmd,
                           gw_on_command, o->common.tick_ms, gw_tick);
    if (rc < 0) {
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "simulated battery: %g kWh (%g stored), -%g..+%g kW, gateway on %s/{telemetry,cmd}",
             o->capacity_kwh, o->soc_kwh, o->charge_max_kw, o->discharge_max_kw,
             o->common.topic_prefix);
    return 0;
}
