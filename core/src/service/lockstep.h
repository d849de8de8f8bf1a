/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The lockstep: runs a service on a stepped clock (clock.h) so that what it does depends only on
 * its inputs, never on how fast or loaded the machine is. Time moves on only when the present is
 * settled:
 *   - the MQTT connection is up and every subscription acknowledged;
 *   - no solve is in flight (on a stepped clock a solve's result is handled at once, inside the
 *     re-plan that asked for it: solver_thread.h gridems_solver_wait);
 *   - every message published so far has come back from the broker to whoever subscribed to it,
 *     and has been handled: a barrier message on <prefix>/lockstep/sync, published by the
 *     service's own connection after the last publish and received on it, proves it. Everything
 *     in gridems (the service, the plugins' gateways and drivers, the driver's publishes) uses
 *     that one connection, and a broker forwards one connection's messages to one subscriber in
 *     order (the backtest's private mosquitto runs with no in-flight limit, so no queue reorders
 *     them), so every message published before the barrier is delivered before it;
 *   - no timer is due now (timers.h), and the driver has nothing more to publish now.
 * Then the clock jumps to the earliest of the next timer and the driver's next instant, and the
 * timers due there fire in (due time, arming order).
 *
 * Threads: the loop thread. Ownership: created and freed by the service (service.c).
 */
#ifndef GRIDEMS_LOCKSTEP_H
#define GRIDEMS_LOCKSTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"

typedef struct gridems_lockstep_s gridems_lockstep_t;

/* Start driving svc (its clock must be stepped). Returns 0 or GRIDEMS_ENOMEM / a libuv error. */
int gridems__lockstep_start(gridems_service_t *svc, const gridems_service_driver_t *driver,
                            gridems_lockstep_t **out);

/* The MQTT filters to subscribe for the lockstep (the barrier topic, the driver's filter). */
void gridems__lockstep_subscribe(gridems_lockstep_t *ls);

/* A message reached the service: a barrier is consumed here (returns true: not for anyone
 * else); the driver's observed messages are handed on after the service has handled them
 * (gridems__lockstep_observe). */
bool gridems__lockstep_on_barrier(gridems_lockstep_t *ls, const char *topic, const void *payload,
                                  size_t len);
void gridems__lockstep_observe(gridems_lockstep_t *ls, const char *topic, const void *payload,
                               size_t len, int retained);

/* The service is shutting down: stop driving, close the handles (the loop ends once they are
 * closed) and free ls afterwards. */
void gridems__lockstep_close(gridems_lockstep_t *ls);

#endif
