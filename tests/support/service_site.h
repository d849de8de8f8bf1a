/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: the site the service's integration tests run (test_service, test_reliability):
 * its config (a battery, a load meter and a GPU cluster, all simulated, on the test's broker),
 * the JEPX prices of the demo week as a price message, JSON lookups that fail the test with the
 * path, the test's own MQTT connection (ctx.bus), and starting the service and waiting on what
 * it publishes and logs. Every wait is bounded and event-driven; a failure goes through
 * REQUIRE() (service_ctx.h), so everything is cleaned up.
 *
 * Test code on one thread; everything works on service_ctx.h's `ctx`.
 */
#ifndef GRIDEMS_TEST_SERVICE_SITE_H
#define GRIDEMS_TEST_SERVICE_SITE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "mqtt_wire.h"
#include "service_ctx.h"

enum {
    START_TIMEOUT_MS = 15000, /* start-up until it is connected and reads its devices */
    PLAN_TIMEOUT_MS = 10000,  /* a trigger until its schedule */
    STOP_TIMEOUT_MS = SERVICE_CTX_STOP_MS, /* "a few seconds" for SIGTERM */
    SLICE_MS = 100,                        /* waits look at the child this often */
    PATH_LEN = SERVICE_CTX_PATH_LEN,       /* the test's own paths */
    FILE_LEN = PATH_LEN + 64               /* a file inside one of them */
};

/* The config's knobs (default_opts() gives the usual site). */
typedef struct cfg_opts_s {
    int step_minutes;
    double speed;
    int replan_seconds;
    const char *cluster_options; /* cluster_sim options after topic_prefix and power_cap_kw */
    const char *extra_plugins;   /* more plugin entries, each starting with ",", or "" */
    double meter_swing_kw;       /* the load meter's daily swing around its 9000 kW */
    const char *meter_options;   /* more meter_sim options, each starting with ",", or "" */
    const char *planner_options; /* more planner keys, each starting with ",", or "" */
    const char *top_options;     /* more top-level keys, each starting with ",", or "" */
} cfg_opts_t;

/* The usual site: 30-minute steps, 60x simulated clock, no timer re-plans (a day), six 4000 kWh
 * jobs a day at 1200 kW, the meter swinging 600 kW. */
cfg_opts_t default_opts(void);

/* Write ctx.cfg_path: the site on ctx.broker, state in ctx.state_dir, devices under ctx.prefix. */
void write_config(const cfg_opts_t *o);

/* The first n half-hourly prices of the JEPX Kansai week from 2023-05-08 00:00 JST. */
int read_jepx_prices(double *out, int n);

/* A series-form price message from 2023-05-08 00:00 JST; the caller frees it. */
char *price_series(const double *values, int n);

/* The first 96 prices of the week as a price message; the caller frees it. */
char *jepx_price_message(void);

/* text parsed (fails the test if it is not JSON); the caller deletes it. */
cJSON *parse(const char *text);

/* The member at a dotted path ("plan.inputs.scenario"), or NULL. */
const cJSON *jfind(const cJSON *root, const char *path);

/* jfind, failing the test when the member is missing; jnum and jstr also check its type. */
const cJSON *jget(const cJSON *root, const char *path);
double jnum(const cJSON *root, const char *path);
const char *jstr(const cJSON *root, const char *path);

/* Subscribe ctx.bus to topic (fails the test if the broker does not acknowledge). */
void bus_subscribe(const char *topic);

/* Connect the test's own client and subscribe it to topics (NULL-terminated). */
void bus_open(const char *const *topics);

/* Close ctx.bus (a test that restarts the broker reconnects with bus_open). */
void bus_close(void);

/* Publish payload on topic at QoS 1 from ctx.bus (fails the test if it is not acknowledged). */
void publish(const char *topic, const char *payload, int retain);

/* The next message on topic containing needle (NULL = any), within timeout_ms; earlier ones on
 * topic that do not match are dropped. Returns 0 with *msg filled (wire_msg_free() it), or -1 on
 * timeout. Fails the test at once when the service ends while ctx.expect_running is set. */
int bus_wait(const char *topic, const char *needle, int timeout_ms, wire_msg_t *msg);

/* The next schedule with plan.id > min_id and (unless NULL) plan.reason == reason; older or
 * other ones are skipped. *arrival_ms (may be NULL) receives when its last byte was read. The
 * caller deletes the result. */
cJSON *wait_schedule(const char *reason, double min_id, int timeout_ms, double *arrival_ms);

/* The retained message on topic, read by a fresh client; the caller deletes it. */
cJSON *read_retained(const char *topic);

/* Wait for the status published with plan plan_id (after the schedule, on the same
 * connection), then return the retained status; the caller deletes it. */
cJSON *status_after_plan(double plan_id);

/* Take the messages queued on topic until none comes for quiet_ms; return the highest plan.id
 * among them (schedules), or floor when none is higher. */
double drain(const char *topic, double floor, int quiet_ms);

/* The log from byte offset `from` on; the caller frees it. */
char *log_since(size_t from);

/*
 * Start the service on ctx.cfg_path and wait until it is connected and subscribed (its status
 * arrives: the service sends it after its subscriptions, on the same connection) and the battery
 * has reported (so that a plan includes it). ctx.bus must watch ctx.t_status. Status messages of
 * an earlier run still queued, and a retained or last-will "offline", are skipped. With settle
 * (only when no price is known yet), also wait until the re-plan the devices' first readings ask
 * for has failed. Returns the log offset where this run begins.
 */
size_t start_service(bool settle);

/* Open the bus on status and schedule (plus extra, may be NULL) and start the service. */
size_t start_with_bus(const char *extra);

/* Publish the JEPX prices (retained) and return the first schedule, which must have plan.reason
 * reason unless that is NULL. */
cJSON *publish_prices_and_plan(const char *reason, double *latency_ms);

/* The first log line (from `from` on) that contains needle, copied into out ("(none)" when
 * there is none). */
void log_line(size_t from, const char *needle, char *out, size_t size);

/* Ask for the status and return its rejected_messages once it is >= at_least. */
double rejected_count(double at_least);

/* service_ctx_init(site), the simulated plugins checked, and the test's own broker started. */
void site_ctx_init(const char *site);

#endif
