/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_sim's simulated scheduler gateway (cluster_gateway.c); cluster_state.h has its state.
 * Threads: the host's loop thread, as every plugin callback. */
#ifndef GRIDEMS_CLUSTER_GATEWAY_H
#define GRIDEMS_CLUSTER_GATEWAY_H

#include "cluster_state.h"

/* The gateway's state at init: the clock, safe mode, the jobs file read or the generator
 * seeded. Returns 0, GRIDEMS_ECONFIG (logged) on a bad jobs file, or GRIDEMS_ENOMEM; what it
 * allocated is freed by cluster_gw_free either way. */
int cluster_gw_start(cluster_t *c);

/* Free what the gateway holds (not g itself). */
void cluster_gw_free(gateway_t *g);

/* The gateway's timer and its command subscription (arg: the cluster_t). */
void cluster_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg);
void cluster_gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg);

#endif
