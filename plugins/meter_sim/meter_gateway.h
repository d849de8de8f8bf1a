/* SPDX-License-Identifier: GPL-3.0-or-later */
/* meter_sim's simulated meter gateway (meter_gateway.c); meter_state.h has its state.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_METER_GATEWAY_H
#define GRIDEMS_METER_GATEWAY_H

#include "meter_state.h"

/* The gateway's state at init: the jump window and the profile file, when the options name one.
 * Returns 0, GRIDEMS_ECONFIG (logged) on a bad profile, or GRIDEMS_ENOMEM; what it allocated is
 * freed by meter_gw_free either way. */
int meter_gw_start(meter_t *m);

/* Free what the gateway holds (not m itself). */
void meter_gw_free(meter_t *m);

/* The gateway's timer (arg: the meter_t). */
void meter_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg);

#endif
