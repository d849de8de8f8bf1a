/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The gridems service (`gridems run`, docs in README "The service" and spec/service.md):
 * a libuv loop that loads the device plugins, talks MQTT through Paho, keeps the forecasts and
 * DR events, re-plans on a rolling horizon on the solver thread, publishes the schedule and
 * drives the devices with its first step.
 *
 * The pieces, each in its own file:
 *   service.c        lifecycle: start, signals, SIGHUP reload, shutdown order (GUIDE E)
 *   service_inputs.c MQTT messages in: forecasts, DR events, commands, device traffic
 *   service_devices.c device bookkeeping: readings, staleness, safe mode, set-points, P/state
 *   service_plan.c   re-plans: triggers, debounce, scenario, solver results, P/schedule, state
 *
 * Threads: everything here runs on the loop thread, except the solver thread (solver_thread.c)
 * and Paho's threads, which reach the loop only through mailboxes.
 */
#ifndef GRIDEMS_SERVICE_H
#define GRIDEMS_SERVICE_H

#include "service_config.h"

/*
 * gridems_service_run: run the service with cfg until SIGTERM/SIGINT (or a fatal start-up
 * error). The config is taken over (transferred on success and on failure: it is freed).
 * config_path is kept for SIGHUP reloads (borrowed; must outlive the call).
 * Returns: the process exit code: 0 after a clean shutdown, 1 when the service could not start.
 * Thread: the main thread; blocks.
 */
int gridems_service_run(gridems_service_config_t *cfg, const char *config_path);

#endif
