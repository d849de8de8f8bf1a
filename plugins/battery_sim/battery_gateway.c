/* SPDX-License-Identifier: GPL-3.0-or-later */
/* battery_sim's simulated battery gateway: the physics, the commands it executes and the
 * telemetry it publishes (battery_sim.c documents the messages). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "battery_gateway.h"

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

void battery_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
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

void battery_gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
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

/* ---- ## Gateway: start ---- */

void battery_gw_start(battery_t *b)
{
    const battery_opts_t *o = b->opts;
    gateway_t *g = &b->gw;
    g->capacity_kwh = o->capacity_kwh;
    g->soc_min_kwh = o->soc_min_kwh;
    g->soc_max_kwh = o->soc_max_kwh;
    g->charge_max_kw = o->charge_max_kw;
    g->discharge_max_kw = o->discharge_max_kw;
    g->eta_c = o->charge_efficiency;
    g->eta_d = o->discharge_efficiency;
    g->soc_kwh = o->soc_kwh;
    g->t_ms = b->api->now_ms(b->self);
    g->safe = 1;
    g->safe_reason = "startup";
}
