/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A stuck plugin cannot stall the site (docs/service.md, "Reliability"): every call the service
 * makes into a device (read, get_capabilities, apply_setpoint, on_event) goes through these
 * wrappers, which time it on the real clock (uv_hrtime), and the host reports the time of every
 * one of the plugin's own callbacks it calls directly (timer, fd, work done, message: the
 * callback_timed member of gridems__host_services_t, which gridems__plugin_watch_host_services
 * sets). Either kind longer than reliability.plugin_call_budget_ms is an overrun;
 * reliability.plugin_overruns overruns of one instance within ten minutes, of any kinds, take the
 * instance out: its devices are marked stuck (left out of plans, of the import sum and of
 * set-points), each gets one last safe-mode set-point, the service stops calling it, and the
 * host is told to hold it (gridems__instance_hold: its own callbacks are skipped, its timers
 * stay armed).
 *
 * Recovery: reliability.plugin_retry_seconds (real time) after it was taken out, the next read
 * of one of its devices is let through as a probe. A probe within the budget brings the instance
 * back (its devices rejoin the plan with their next reading, the host calls its callbacks
 * again); an overrun keeps it out and doubles the wait, up to ten times plugin_retry_seconds. An
 * instance without devices has no read to probe: when its wait is over it is simply let back (a
 * real-time timer, svc->handles.watch_timer, which this file arms), and its own callbacks are
 * the probe. Back, an instance is on
 * probation for as long as its last wait: one overrun then takes it out again at once and
 * doubles the wait (a read may answer in time while a timer callback still blocks); after that
 * the record is clean. A reload of the instance (SIGHUP with a changed entry) starts it afresh
 * (a new instance is never held).
 *
 * What this cannot do: interrupt a call already blocking (it runs on the loop thread). The
 * process-level bounds for that are the systemd watchdog and the shutdown deadline
 * (watchdog.h).
 *
 * Thread: the loop thread. State lives in gridems_service_t.watch, freed by
 * gridems__plugin_watch_free().
 */
#ifndef GRIDEMS_PLUGIN_WATCH_H
#define GRIDEMS_PLUGIN_WATCH_H

#include <stddef.h>

#include "service_internal.h"

/* The wrappers: as the gridems__device_* calls, or GRIDEMS_ESTATE without calling when the
 * device's instance is out (GRIDEMS_EAGAIN for read, which the read back-off treats as "nothing
 * yet"). */
int gridems__watched_read(gridems_service_t *svc, service_device_t *sd);
int gridems__watched_caps(gridems_service_t *svc, service_device_t *sd, gridems_caps_t *caps);
int gridems__watched_setpoint(gridems_service_t *svc, service_device_t *sd,
                              const gridems_setpoint_t *sp);
int gridems__watched_event(gridems_service_t *svc, service_device_t *sd,
                           const gridems_device_event_t *ev);

/* A device was added: a reloaded instance starts with a clean record; a device of an instance
 * that is out is out too. */
void gridems__plugin_watch_device_added(gridems_service_t *svc, service_device_t *sd);

/* Append "<sep>plugin stuck: a (read 10012 ms), b (...)" to out when any instance is out. */
void gridems__plugin_watch_describe(const gridems_service_t *svc, char *out, size_t len,
                                    const char *sep);

/* Set the host's callback_timed member to the watch (its ctx must be the service). */
void gridems__plugin_watch_host_services(gridems__host_services_t *out);

void gridems__plugin_watch_free(gridems_service_t *svc);

#endif
