/* SPDX-License-Identifier: GPL-3.0-or-later */
/* battery_sim's simulated battery gateway (battery_gateway.c); battery_state.h has its state.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_BATTERY_GATEWAY_H
#define GRIDEMS_BATTERY_GATEWAY_H

#include "battery_state.h"

/* The gateway's state at init, from the options: stored energy and limits, the clock, safe mode
 * until the first command. */
void battery_gw_start(battery_t *b);

/* The gateway's timer and its command subscription (arg: the battery_t). */
void battery_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg);
void battery_gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

#endif
