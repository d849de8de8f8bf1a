/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The command protocol of the simulated devices that take commands (battery_sim, cluster_sim),
 * both halves: the driver writes and publishes commands, the gateway parses them and decides
 * which to execute. The plugins' own members (a battery's power, a cluster's jobs) stay in the
 * plugins; what is here is what every command has and how every gateway treats it:
 *
 *   {"plan_id":7,              required, integer >= 0: the plan it comes from
 *    "ts":1683471600000,       required, integer: host-clock ms of the plan step
 *    "valid_until":1683473400000,
 *                              optional: hold (safe mode) from this host-clock time on unless a
 *                              newer command came; 0/absent = no limit
 *    "safe_mode":false,        optional, default false
 *    ...the plugin's members}
 *
 * Idempotency: a gateway executes a command only if its key (plan_id, ts) is newer than that of
 * the last one it executed (plan_id first, then ts), so a QoS 1 redelivery or a repeated
 * set-point is ignored. The one exception is a safe-mode command with the same key as an executed
 * normal command: holding is always safe, so it is executed.
 *
 * Like sim_common.h: not a plugin, compiled into each simulator that takes commands (hidden
 * visibility keeps the symbols private); C library only, no global state. Thread: the caller's
 * (the plugins call it from their loop-thread callbacks).
 */
#ifndef GRIDEMS_SIM_COMMAND_H
#define GRIDEMS_SIM_COMMAND_H

#include <stdint.h>

#include "gridems/plugin.h"
#include "sim_common.h"

/* The members every command has. */
typedef struct gridems__sim_cmd_head_s {
    int64_t plan_id;     /* >= 0 */
    int64_t ts;          /* host-clock ms of the plan step */
    int64_t valid_until; /* host-clock ms; 0 = no limit */
    int safe_mode;       /* 0 or 1 */
} gridems__sim_cmd_head_t;

/* ---- ## Driver side ---- */

/* What the driver has published, for the key of its shutdown command. Zero-initialise. */
typedef struct gridems__sim_cmd_sent_s {
    int any;         /* a command was published */
    int64_t plan_id; /* the key (plan_id, ts) of the last command published */
    int64_t ts;
    gridems__sim_complaint_t pub_failed;
} gridems__sim_cmd_sent_t;

/*
 * The head of the command for the host's set-point sp (borrowed). Returns 0, or GRIDEMS_EINVAL
 * when its plan_id or valid_until cannot be sent (beyond int64_t, negative).
 */
int gridems__sim_cmd_from_setpoint(const gridems_setpoint_t *sp, gridems__sim_cmd_head_t *h);

/*
 * The head of the safe-mode command sent at shutdown (host-clock time_ms). Its key must not be
 * older than the last command sent, or the gateway would ignore it; the same key is fine, since
 * a safe-mode command with the key of an executed normal command is executed.
 */
void gridems__sim_cmd_for_shutdown(const gridems__sim_cmd_sent_t *sent, int64_t time_ms,
                                   gridems__sim_cmd_head_t *h);

/*
 * Start a command in w (reset first): the opening brace and the head's members (valid_until
 * only when > 0). The caller adds its own members, then calls gridems__sim_cmd_send.
 */
void gridems__sim_cmd_begin(gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *h);

/*
 * Close the command in w and publish it on topic (QoS 1, not retained); on success note its key
 * in *sent. Returns 0, GRIDEMS_ENOMEM when w ran out of memory, or the host's error (also
 * complained about through sent->pub_failed).
 */
int gridems__sim_cmd_send(const gridems_host_api_t *api, gridems_plugin_t *self, const char *topic,
                          gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *h,
                          gridems__sim_cmd_sent_t *sent);

/* ---- ## Gateway side ---- */

/*
 * A plugin's own members of a command. member: read the value of member `key` into cmd (the
 * plugin's struct) and return 0, or -1 on an error recorded in r; return 1 when the key is not
 * the plugin's (the value is then skipped). check (may be NULL): after the whole message, NULL
 * when the plugin's members are complete, else the reason (static text).
 */
typedef int (*gridems__sim_cmd_member_fn)(gridems__sim_jr_t *r, const char *key, void *cmd);
typedef const char *(*gridems__sim_cmd_check_fn)(const void *cmd, const gridems__sim_cmd_head_t *h);

/*
 * Parse a command message from r into h (zeroed first) and, through member, the plugin's cmd.
 * Unknown members are skipped. The checks run in this order, the first failure being the
 * reason: plan_id, ts, the plugin's check, valid_until. Returns 0, or -1 with the reason in
 * r->error.
 */
int gridems__sim_cmd_parse(gridems__sim_jr_t *r, gridems__sim_cmd_head_t *h,
                           gridems__sim_cmd_member_fn member, gridems__sim_cmd_check_fn check,
                           void *cmd);

/* A gateway's command counts, reported in its telemetry. Zero-initialise. */
typedef struct gridems__sim_cmd_counts_s {
    uint64_t accepted;  /* executed */
    uint64_t ignored;   /* not newer than the last executed one */
    uint64_t malformed; /* refused by the parser */
    gridems__sim_complaint_t bad_cmd;
} gridems__sim_cmd_counts_t;

/*
 * Whether the gateway executes the command just parsed: parsed is the parser's result (-1: the
 * reason is in r), c the command's head, last the head of the last executed command (NULL
 * before the first). A malformed command is counted and complained about (warning), one that
 * the idempotency rule refuses is counted and logged (debug). Returns 1 to execute (the caller
 * records the command and counts it accepted), 0 when it was dropped.
 */
int gridems__sim_cmd_admit(const gridems_host_api_t *api, gridems_plugin_t *self,
                           gridems__sim_cmd_counts_t *counts, const char *topic, int parsed,
                           const gridems__sim_jr_t *r, const gridems__sim_cmd_head_t *last,
                           const gridems__sim_cmd_head_t *c);

/* Telemetry members: the last executed command (plan_id, cmd_ts, valid_until) and the counts
 * (cmd_accepted, cmd_ignored, cmd_malformed). */
void gridems__sim_json_last_cmd(gridems__sim_buf_t *w, const gridems__sim_cmd_head_t *last);
void gridems__sim_json_cmd_counts(gridems__sim_buf_t *w, const gridems__sim_cmd_counts_t *n);

#endif
