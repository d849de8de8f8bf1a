/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support for the SunSpec integration tests: the register images they serve (one per
 * family, with scale factors of several signs and "not implemented" points) and the real
 * gridems service around them (a private mosquitto, `gridems run` with the SunSpec plugins
 * through the real loader, the state topic, the log). Test code, one thread; failures abort the
 * current test through Check.
 */
#ifndef GRIDEMS_TEST_SUNSPEC_SITE_H
#define GRIDEMS_TEST_SUNSPEC_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "mqtt_wire.h"
#include "service_harness.h"
#include "sunspec_image.h"

/* What each image holds, as gridems should see it. */
#define LEGACY_POWER_KW (-3.0) /* 103 W -300 x 10^1 */
#define LEGACY_SOC_KWH 13.1    /* 124 ChaState 655 x 10^-1 % of 120 WHRtg 2000 x 10^1 Wh */
#define DER_POWER_KW 12.34     /* 701 W 1234 x 10^1 */
#define DER_SOC_KWH 42.5       /* 713 SoC 4250 x 10^-2 % of WHRtg 1000 x 10^2 Wh */
#define METER_POWER_KW 1.2345  /* 203 W 12345 x 10^-1 */

/* Legacy family at base: 1, 103, 120, 124. *m124 (may be NULL) gets 124's ID address. */
void site_image_legacy(img_t *im, uint32_t base, uint32_t *m124);
/* DER family at base: 1, 701, 702, 704, 713, 802. *m704 gets 704's ID address. */
void site_image_der(img_t *im, uint32_t base, uint32_t *m704);
/* Meter at base: 1, 203. */
void site_image_meter(img_t *im, uint32_t base);

typedef struct site_s {
    char *dir;
    char cfg_path[600];
    char log_path[600];
    char prefix[128];
    broker_t broker;
    test_service_t svc;
    wire_t *bus; /* subscribed to <prefix>/state */
} site_t;

/* A temporary directory and a private broker. */
void site_init(site_t *s, const char *tag);

/* A SunSpec plugin entry for the config: {"plugin": plugin, "name": name, "options": {...}},
 * with the test's short timings and extra options (each starting with ",", or ""). Returns a
 * static buffer's copy the caller frees. */
char *site_plugin(const char *plugin, const char *name, int port, int unit, const char *extra);

/* Write the config with the plugin entries (a comma-separated list) and start the service;
 * subscribe to its state topic. Simulated clock at 60x: a 60-s control tick is 1 s of real time,
 * the 120-s staleness limit 2 s. */
void site_start(site_t *s, const char *plugins);

/* Start the service on a whole config (JSON text); subscribe to its state topic. */
void site_start_config(site_t *s, const char *config_text);

/* Publish a day of half-hourly import prices (cheap nights, dear evenings) so the service plans
 * and dispatches. */
void site_publish_prices(site_t *s);

/* Wait until the service's log, from byte from, holds needle; aborts with the log otherwise. */
void site_expect_log(site_t *s, size_t from, const char *needle, int timeout_ms);

/* Wait for a state message in which device id has power_kw (and soc_kwh unless NaN) within
 * 1e-6 of the values; aborts otherwise. */
void site_expect_state(site_t *s, const char *id, double power_kw, double soc_kwh, int timeout_ms);

/* SIGTERM the service (it must exit 0 and its log be free of sanitizer reports), stop the
 * broker, remove the directory. */
void site_finish(site_t *s);

#endif
