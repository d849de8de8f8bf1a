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
 *   lockstep.c       a driver's run on a stepped clock (the backtest): when the present is settled
 * and the timers on the service clock are in timers.c.
 *
 * Threads: everything here runs on the loop thread, except the solver thread (solver_thread.c)
 * and Paho's threads, which reach the loop only through mailboxes.
 */
#ifndef GRIDEMS_SERVICE_H
#define GRIDEMS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "service_config.h"

typedef struct gridems_service_s gridems_service_t;

/*
 * gridems_service_run: run the service with cfg until SIGTERM/SIGINT (or a fatal start-up
 * error). The config is taken over (transferred on success and on failure: it is freed).
 * config_path is kept for SIGHUP reloads (borrowed; must outlive the call).
 * Returns: the process exit code: 0 after a clean shutdown, 1 when the service could not start.
 * Thread: the main thread; blocks.
 */
int gridems_service_run(gridems_service_config_t *cfg, const char *config_path);

/*
 * A driver: the one thing that runs a service on a stepped clock (the backtest, the demo). The
 * service runs exactly as `gridems run` does, but its clock stands still until the present is
 * settled (lockstep.h says what that means); then it asks the driver, which may publish (as the
 * utility would) and says when it next wants to be asked. Every callback runs on the loop thread.
 */
typedef struct gridems_service_driver_s {
    void *userdata;
    /* An MQTT filter the service also subscribes to for the driver (e.g. "gridems/#"), whose
     * messages go to on_message after the service has handled them. NULL: none. */
    const char *observe;
    void (*on_message)(gridems_service_t *svc, const char *topic, const void *payload, size_t len,
                       int retained, void *userdata);
    /*
     * The present (now_ms, host clock) is settled. The driver may publish; returns the next
     * instant it wants to be asked at (> now_ms; the clock moves to the earlier of that and the
     * next timer), INT64_MAX when only the service's timers matter, or a negative value to end:
     * the service then shuts down as on SIGTERM. It may be asked again at the same instant
     * after what it published has settled.
     */
    int64_t (*on_settled)(gridems_service_t *svc, int64_t now_ms, void *userdata);
} gridems_service_driver_t;

/*
 * gridems_service_run_driven: gridems_service_run on a stepped clock starting at
 * cfg->clock.start_ms (cfg->clock.mode is overridden), under the driver (borrowed; must outlive
 * the call). Returns as gridems_service_run does.
 */
int gridems_service_run_driven(gridems_service_config_t *cfg, const char *config_path,
                               const gridems_service_driver_t *driver);

/* For a driver: publish through the service's own MQTT connection, so that the lockstep sees
 * the message settle. Returns 0 or the MQTT client's error. Thread: the loop thread. */
int gridems_service_publish(gridems_service_t *svc, const char *topic, const void *payload,
                            size_t len, int qos, int retain);

/* For a driver: the config the service runs on (borrowed, for the service's life). */
const gridems_service_config_t *gridems_service_config(const gridems_service_t *svc);

#endif
