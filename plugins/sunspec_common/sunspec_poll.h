/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The part of a SunSpec driver that both plugins share and that runs on the loop thread: the
 * connection's health (failures, reconnect back-off, how long the device has been silent) and
 * the option checks and the steps of init both plugins take. The Modbus I/O itself is in
 * sunspec_link (pool thread).
 *
 * Thread: loop only (from plugin callbacks). Real time for the back-off comes from
 * CLOCK_MONOTONIC: a device's TCP timeouts and reversion timers run in real time, whatever the
 * host clock does; staleness is measured on the host clock (api->now_ms), like the service's.
 */
#ifndef GRIDEMS_SUNSPEC_POLL_H
#define GRIDEMS_SUNSPEC_POLL_H

#include <stdint.h>

#include "gridems/plugin.h"
#include "sunspec_link.h"

/* The options both plugins have, at the start of each plugin's context struct. */
typedef struct ss_common_opts_s {
    const char *host;
    int64_t port;
    int64_t unit_id;
    int64_t base;
    int64_t poll_ms;
    int64_t timeout_ms;
    int64_t stale_after_ms;
    int64_t reconnect_max_ms;
} ss_common_opts_t;

/* clang-format off */
#define SS_COMMON_OPTIONS(type)                                                                    \
    {GRIDEMS_OPT_STRING, "host", NULL, 1, offsetof(type, common.host),                            \
     "Modbus TCP server: host name or IP address"},                                                \
    {GRIDEMS_OPT_INT, "port", "502", 0, offsetof(type, common.port), "TCP port (1..65535)"},      \
    {GRIDEMS_OPT_INT, "unit_id", "1", 0, offsetof(type, common.unit_id),                          \
     "Modbus unit id (0..247)"},                                                                   \
    {GRIDEMS_OPT_INT, "base", "-1", 0, offsetof(type, common.base),                               \
     "address of the SunS marker; -1 = try 40000, 50000, then 0"},                                 \
    {GRIDEMS_OPT_INT, "poll_ms", "1000", 0, offsetof(type, common.poll_ms),                       \
     "poll interval, real ms (50..3600000)"},                                                      \
    {GRIDEMS_OPT_INT, "timeout_ms", "1000", 0, offsetof(type, common.timeout_ms),                 \
     "Modbus response timeout, real ms (10..60000)"},                                              \
    {GRIDEMS_OPT_INT, "stale_after_ms", "30000", 0, offsetof(type, common.stale_after_ms),        \
     "silent this long (host-clock ms): stale, left out of plans, safe mode"},                     \
    {GRIDEMS_OPT_INT, "reconnect_max_ms", "30000", 0, offsetof(type, common.reconnect_max_ms),    \
     "longest reconnect back-off, real ms (>= poll_ms)"}
/* clang-format on */

typedef struct ss_health_s {
    unsigned failures;     /* consecutive failed jobs */
    int64_t next_try_mono; /* real ms: no job before this */
    int64_t ok_host_ms;    /* host clock of the last good read, 0 = never */
    int64_t down_host_ms;  /* host clock of the first failure of this outage, 0 = up */
    int stale;             /* silent for stale_after_ms: said in the log once */
} ss_health_t;

/* Real monotonic milliseconds. */
int64_t ss_mono_ms(void);

/* Check the common options; logs the offending key and returns GRIDEMS_ECONFIG. */
int ss_check_common(const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o);

/*
 * The start of both plugins' init: the host must offer now_ms and the options (cfg->context,
 * a struct that begins with ss_common_opts_t), and the common options must be valid.
 * Returns 0, GRIDEMS_EABI, or GRIDEMS_ECONFIG (logged by ss_check_common).
 */
int ss_init_check(const gridems_host_api_t *api, gridems_plugin_t *self,
                  const gridems_config_t *cfg);

/*
 * The end of both plugins' init: register the device that desc describes (filled by the caller
 * but for its instance name, which becomes "unit N" from o) with userdata, then poll it every
 * poll_ms with on_timer(userdata). userdata belongs to the device from this call on, whatever the
 * result: if the registration fails, desc->destroy (with device id 0) releases it here, as the
 * host does later for a registered device. Returns 0 or the host's error.
 */
int ss_register_polled(const gridems_host_api_t *api, gridems_plugin_t *self,
                       const ss_common_opts_t *o, const gridems_device_desc_t *desc, void *userdata,
                       gridems_device_id_t *dev, gridems_timer_fn on_timer,
                       gridems_timer_id_t *timer);

/* Fill a link's settings from the options (the strings stay borrowed from the host). */
void ss_link_setup(ss_link_t *l, const ss_common_opts_t *o);

/* 1 when a job may start now (no back-off pending). */
int ss_health_may_try(const ss_health_t *h);

/* A job succeeded at host time now. Logs the recovery after an outage. */
void ss_health_ok(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                  int64_t now);

/* A job failed: log (first failure of an outage at warning, later ones at debug), back off
 * (poll_ms doubling up to reconnect_max_ms). */
void ss_health_fail(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o, int64_t now, const char *err);

/* 1 once the device has been silent (no good read) for stale_after_ms; logs it once per
 * outage. */
int ss_health_stale(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o, int64_t now);

/* Log the discovery result: where SunS is, every model found, the device's identity. */
void ss_log_discovery(const gridems_host_api_t *api, gridems_plugin_t *self, const ss_link_t *l,
                      const char *used);

#endif
