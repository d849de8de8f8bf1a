/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The simulated-device plugins (battery_sim, meter_sim, cluster_sim) as real shared objects,
 * loaded by the real loader onto a real libuv loop.
 *
 * The services struct stands in for the service: publish() queues each message in an in-process
 * loopback "broker" that pump() delivers through gridems__host_deliver() (never from inside the
 * publishing callback, as host_api.h requires), and now_ms() is a fake host clock the tests move
 * by hours at a time, as an accelerated demo clock would. The plugins run with tick_ms 1, so a
 * clock step is picked up within a few real milliseconds.
 *
 * Each test runs in its own forked child (Check's default; CK_FORK=no runs them in one process,
 * which the fixture supports too) and ends by unloading everything and asserting
 * uv_loop_close() == 0.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "gridems/plugin.h"
#include "host_api.h"
#include "host_internal.h" /* white-box: the instance and device structs */
#include "plugin_loader.h"
#include "test_util.h"

/* 2023-05-08T00:00:00+09:00, the first day of the demo's JEPX week. */
#define T0 INT64_C(1683471600000)
#define MINUTE INT64_C(60000)
#define HOUR INT64_C(3600000)
#define TOL 1e-9

/* ---- ## Loopback broker, fake clock, recorded service calls ---- */

typedef struct qmsg_s {
    struct qmsg_s *next;
    char *topic;
    char *payload;
    size_t len;
} qmsg_t;

/* The last message delivered on a topic, and how many were. */
typedef struct topic_rec_s {
    char topic[128];
    char *payload;
    int count;
} topic_rec_t;

typedef struct meas_rec_s {
    char device[64];
    gridems_measurement_t m;
    int count;
} meas_rec_t;

#define MAX_RECS 16

static uv_loop_t loop;
static gridems__host_t *host;
static int64_t fake_now;
static qmsg_t *q_head;
static qmsg_t **q_tail = &q_head;
static topic_rec_t topics[MAX_RECS];
static meas_rec_t meas[MAX_RECS];
static gridems__device_t *devices[MAX_RECS];
static int publish_rc; /* what the fake broker answers (0, or e.g. GRIDEMS_EMQTT) */

static int svc_publish(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       int retain)
{
    (void)ctx;
    (void)qos;
    (void)retain;
    if (publish_rc < 0) {
        return publish_rc;
    }
    qmsg_t *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->topic = strdup(topic);
    m->payload = malloc(len + 1);
    ck_assert(m->topic != NULL && m->payload != NULL);
    memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->len = len;
    *q_tail = m;
    q_tail = &m->next;
    return 0;
}

static void svc_measurement(void *ctx, gridems__device_t *dev, const gridems_measurement_t *m)
{
    (void)ctx;
    for (int i = 0; i < MAX_RECS; i++) {
        if (meas[i].device[0] == '\0' || strcmp(meas[i].device, dev->desc.name) == 0) {
            snprintf(meas[i].device, sizeof meas[i].device, "%s", dev->desc.name);
            meas[i].m = *m;
            meas[i].count++;
            return;
        }
    }
    ck_abort_msg("too many devices");
}

static void svc_added(void *ctx, gridems__device_t *dev)
{
    (void)ctx;
    for (int i = 0; i < MAX_RECS; i++) {
        if (devices[i] == NULL) {
            devices[i] = dev;
            return;
        }
    }
    ck_abort_msg("too many devices");
}

static void svc_removed(void *ctx, gridems__device_t *dev)
{
    (void)ctx;
    for (int i = 0; i < MAX_RECS; i++) {
        if (devices[i] == dev) {
            devices[i] = NULL;
        }
    }
}

static int64_t svc_now(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static const gridems__host_services_t services = {
    .publish = svc_publish,
    .measurement = svc_measurement,
    .device_added = svc_added,
    .device_removed = svc_removed,
    .now_ms = svc_now,
};

static void record(const char *topic, const char *payload)
{
    for (int i = 0; i < MAX_RECS; i++) {
        if (topics[i].topic[0] == '\0' || strcmp(topics[i].topic, topic) == 0) {
            snprintf(topics[i].topic, sizeof topics[i].topic, "%s", topic);
            free(topics[i].payload);
            topics[i].payload = strdup(payload);
            topics[i].count++;
            return;
        }
    }
    ck_abort_msg("too many topics");
}

static const topic_rec_t *topic_rec(const char *topic)
{
    for (int i = 0; i < MAX_RECS; i++) {
        if (strcmp(topics[i].topic, topic) == 0) {
            return &topics[i];
        }
    }
    return NULL;
}

static int topic_count(const char *topic)
{
    const topic_rec_t *r = topic_rec(topic);
    return r != NULL ? r->count : 0;
}

/* Run the loop once and deliver everything the plugins published meanwhile. */
static void pump(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    while (q_head != NULL) {
        qmsg_t *m = q_head;
        q_head = m->next;
        if (q_head == NULL) {
            q_tail = &q_head;
        }
        record(m->topic, m->payload);
        int rc = gridems__host_deliver(host, m->topic, m->payload, m->len, 1, 0);
        ck_assert_int_ge(rc, 0);
        free(m->topic);
        free(m->payload);
        free(m);
    }
}

/* Pump for at least ms real milliseconds, and once more after them: the plugins' 1 ms ticks are
 * then due, so each has run at least once (for checks that a tick does NOT publish), however
 * late this process was scheduled. */
static void pump_for(int ms)
{
    double end = test_now_ms() + ms;
    do {
        pump();
        test_sleep_ms(1);
    } while (test_now_ms() < end);
    pump();
}

static void setup(void)
{
    fake_now = T0;
    publish_rc = 0;
    memset(topics, 0, sizeof topics);
    memset(meas, 0, sizeof meas);
    memset(devices, 0, sizeof devices);
    q_head = NULL;
    q_tail = &q_head;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(gridems__host_create(&loop, &services, &host), 0);
}

static void count_cb(void *arg)
{
    (*(int *)arg)++;
}

/* Unload everything; the loop must then close with nothing left. */
static void finish(void)
{
    int closed = 0;
    ck_assert_int_eq(gridems__host_unload_all(host, count_cb, &closed), 0);
    double end = test_now_ms() + 5000;
    while (closed == 0 && test_now_ms() < end) {
        pump();
        test_sleep_ms(1);
    }
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(gridems__host_destroy(host), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    while (q_head != NULL) {
        qmsg_t *m = q_head;
        q_head = m->next;
        free(m->topic);
        free(m->payload);
        free(m);
    }
    q_tail = &q_head;
    for (int i = 0; i < MAX_RECS; i++) {
        free(topics[i].payload);
        topics[i].payload = NULL;
    }
}

/* ---- ## Loading ---- */

static int load(const char *json, char *err, size_t errlen)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_msg(cfg != NULL, "bad test JSON: %s", json);
    gridems_plugin_t *inst = NULL;
    int rc = gridems__plugin_load(host, cfg, GRIDEMS_TEST_PLUGIN_DIR, &inst, err, errlen);
    cJSON_Delete(cfg);
    return rc;
}

static void load_ok(const char *json)
{
    char err[512] = "";
    int rc = load(json, err, sizeof err);
    ck_assert_msg(rc == 0, "load %s: %d (%s)", json, rc, err);
}

/* Load expecting failure with code want; returns the load error and what the plugin logged
 * (stderr), joined (caller frees). */
static char *load_fail(const char *json, int want)
{
    char path[] = "/tmp/gridems-sim-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    char err[512] = "";
    int rc = load(json, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char logged[8192];
    ssize_t n = pread(fd, logged, sizeof logged - 1, 0);
    close(fd);
    logged[n > 0 ? n : 0] = '\0';
    ck_assert_msg(rc == want, "load %s: got %d (%s), want %d; log: %s", json, rc, err, want,
                  logged);
    size_t len = strlen(err) + strlen(logged) + 2;
    char *all = malloc(len);
    ck_assert_ptr_nonnull(all);
    snprintf(all, len, "%s\n%s", err, logged);
    return all;
}

static void assert_contains(const char *text, const char *part)
{
    ck_assert_msg(text != NULL && strstr(text, part) != NULL, "\"%s\" does not contain \"%s\"",
                  text != NULL ? text : "(null)", part);
}

static gridems__device_t *device(const char *name)
{
    for (int i = 0; i < MAX_RECS; i++) {
        if (devices[i] != NULL && strcmp(devices[i]->desc.name, name) == 0) {
            return devices[i];
        }
    }
    ck_abort_msg("no device %s", name);
    return NULL;
}

static const meas_rec_t *measurement(const char *name)
{
    for (int i = 0; i < MAX_RECS; i++) {
        if (strcmp(meas[i].device, name) == 0) {
            return &meas[i];
        }
    }
    return NULL;
}

/* ---- ## Telemetry helpers ---- */

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

static bool jbool(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsBool(v), "no boolean %s", key);
    return cJSON_IsTrue(v);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

/* The last telemetry message on topic, parsed (caller deletes), or NULL. */
static cJSON *last_json(const char *topic)
{
    const topic_rec_t *r = topic_rec(topic);
    return r != NULL && r->payload != NULL ? cJSON_Parse(r->payload) : NULL;
}

/* Pump until the last message on topic has integer member key == want; return it parsed. */
static cJSON *wait_json(const char *topic, const char *key, int64_t want)
{
    double end = test_now_ms() + 3000;
    for (;;) {
        pump();
        cJSON *j = last_json(topic);
        const cJSON *v = j != NULL ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
        if (cJSON_IsNumber(v) && (int64_t)v->valuedouble == want) {
            return j;
        }
        if (test_now_ms() > end) {
            ck_abort_msg("no message on %s with %s = %lld; last: %s", topic, key, (long long)want,
                         topic_rec(topic) != NULL ? topic_rec(topic)->payload : "(none)");
        }
        cJSON_Delete(j);
        test_sleep_ms(1);
    }
}

/* Move the fake clock and wait for the telemetry of the new time. */
static cJSON *advance(const char *topic, int64_t by)
{
    pump(); /* what was sent before the clock moves arrives before it moves */
    fake_now += by;
    return wait_json(topic, "ts", fake_now);
}

static int setpoint(const char *dev, uint64_t plan, int64_t ts, int64_t valid_until, int safe,
                    double kw)
{
    gridems_setpoint_t sp = {.struct_size = sizeof sp,
                             .safe_mode = safe,
                             .plan_id = plan,
                             .timestamp_ms = ts,
                             .valid_until_ms = valid_until,
                             .power_kw = kw,
                             .power_cap_kw = -1};
    return gridems__device_apply_setpoint(device(dev), &sp);
}

/* Send a set-point the gateway must accept: wait for its acknowledging telemetry. */
static cJSON *command(const char *topic, const char *dev, uint64_t plan, int64_t ts,
                      int64_t valid_until, int safe, double kw, int64_t accepted)
{
    ck_assert_int_eq(setpoint(dev, plan, ts, valid_until, safe, kw), 0);
    return wait_json(topic, "cmd_accepted", accepted);
}

/* ---- ## battery_sim ---- */

#define BESS_TEL "t/bess1/telemetry"
#define BESS_CMD "t/bess1/cmd"
#define BESS_JSON(extra)                                                                           \
    "{\"plugin\":\"battery_sim\",\"name\":\"bess1\",\"options\":{\"topic_prefix\":\"t/bess1\","    \
    "\"tick_ms\":1,\"telemetry_interval_ms\":60000,\"stale_after_ms\":300000,"                     \
    "\"capacity_kwh\":100,\"soc_kwh\":50,\"soc_min_kwh\":10,\"soc_max_kwh\":90,"                   \
    "\"charge_max_kw\":20,\"discharge_max_kw\":25,\"charge_efficiency\":0.95,"                     \
    "\"discharge_efficiency\":0.9,\"cycle_cost_per_kwh\":1.5" extra "}}"

static int collect_filter(void *arg, const char *filter)
{
    char *seen = arg;
    strncat(seen, filter, 255 - strlen(seen));
    strncat(seen, " ", 255 - strlen(seen));
    return 0;
}

START_TEST(battery_first_telemetry_and_caps)
{
    load_ok(BESS_JSON(""));
    char seen[256] = "";
    gridems__host_foreach_filter(host, collect_filter, seen);
    ck_assert_str_eq(seen, BESS_TEL " " BESS_CMD " ");
    gridems__device_t *dev = device("bess1");
    ck_assert_int_eq(dev->desc.klass, GRIDEMS_DEV_BATTERY);
    ck_assert_str_eq(dev->desc.instance, "t/bess1");
    /* Nothing is known before the first telemetry message. */
    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), GRIDEMS_EAGAIN);

    cJSON *t = wait_json(BESS_TEL, "ts", T0);
    ck_assert_double_eq(jnum(t, "soc_kwh"), 50.0);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_str_eq(jstr(t, "safe_reason"), "startup");
    ck_assert_double_eq(jnum(t, "capacity_kwh"), 100.0);
    ck_assert_double_eq(jnum(t, "discharge_efficiency"), 0.9);
    cJSON_Delete(t);

    const meas_rec_t *m = measurement("bess1");
    ck_assert_ptr_nonnull(m);
    ck_assert(m->m.timestamp_ms == T0);
    ck_assert_uint_eq(m->m.valid, GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC | GRIDEMS_MEAS_ENERGY);
    ck_assert_double_eq(m->m.soc_kwh, 50.0);
    ck_assert_double_eq(m->m.power_kw, 0.0);

    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), 0);
    ck_assert(caps.measured_ms == T0);
    ck_assert_uint_eq(caps.stale_after_ms, 300000);
    ck_assert_double_eq(caps.u.battery.capacity_kwh, 100.0);
    ck_assert_double_eq(caps.u.battery.soc_kwh, 50.0);
    ck_assert_double_eq(caps.u.battery.soc_min_kwh, 10.0);
    ck_assert_double_eq(caps.u.battery.soc_max_kwh, 90.0);
    ck_assert_double_eq(caps.u.battery.charge_max_kw, 20.0);
    ck_assert_double_eq(caps.u.battery.discharge_max_kw, 25.0);
    ck_assert_double_eq(caps.u.battery.charge_efficiency, 0.95);
    ck_assert_double_eq(caps.u.battery.discharge_efficiency, 0.9);
    ck_assert_double_eq(caps.u.battery.cycle_cost_per_kwh, 1.5);

    /* read() posts the latest reading again. */
    int before = m->count;
    ck_assert_int_eq(gridems__device_read(dev), 0);
    ck_assert_int_eq(m->count, before + 1);

    /* The next message comes one interval of host-clock time later, not before. */
    int n = topic_count(BESS_TEL);
    fake_now += 59999;
    pump_for(20);
    ck_assert_int_eq(topic_count(BESS_TEL), n);
    cJSON_Delete(advance(BESS_TEL, 1));
    finish();
}
END_TEST

START_TEST(battery_soc_integration_with_efficiencies)
{
    load_ok(BESS_JSON(""));
    cJSON_Delete(wait_json(BESS_TEL, "ts", T0));
    /* Charge at 10 kW for one hour: +10 * 1 * 0.95 = 9.5 kWh stored, 10 kWh taken. */
    cJSON *t = command(BESS_TEL, "bess1", 1, T0, 0, 0, -10.0, 1);
    ck_assert_double_eq(jnum(t, "power_kw"), -10.0);
    ck_assert(!jbool(t, "safe_mode"));
    cJSON_Delete(t);
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 59.5, TOL);
    ck_assert_double_eq_tol(jnum(t, "charged_kwh"), 10.0, TOL);
    ck_assert_double_eq(jnum(t, "power_kw"), -10.0);
    cJSON_Delete(t);
    const meas_rec_t *m = measurement("bess1");
    ck_assert(m->m.timestamp_ms == T0 + HOUR);
    ck_assert_double_eq_tol(m->m.soc_kwh, 59.5, TOL);
    ck_assert_double_eq(m->m.power_kw, -10.0);

    /* Discharge at 18 kW for half an hour: -18 * 0.5 / 0.9 = -10 kWh stored, 9 kWh given. */
    cJSON_Delete(command(BESS_TEL, "bess1", 2, T0 + HOUR, 0, 0, 18.0, 2));
    t = advance(BESS_TEL, HOUR / 2);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 49.5, TOL);
    ck_assert_double_eq_tol(jnum(t, "discharged_kwh"), 9.0, TOL);
    ck_assert_double_eq_tol(jnum(t, "charged_kwh"), 10.0, TOL);
    cJSON_Delete(t);
    ck_assert_double_eq_tol(m->m.soc_kwh, 49.5, TOL);
    ck_assert_double_eq_tol(m->m.energy_kwh, 9.0, TOL); /* the discharge register */
    ck_assert_double_eq(m->m.power_kw, 18.0);

    /* The same hour in many small steps gives the same result as in one (ticks do not count). */
    cJSON_Delete(command(BESS_TEL, "bess1", 3, T0 + 90 * MINUTE, 0, 0, -10.0, 3));
    for (int i = 0; i < 60; i++) {
        cJSON_Delete(advance(BESS_TEL, MINUTE));
    }
    t = last_json(BESS_TEL);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 59.0, TOL);
    cJSON_Delete(t);

    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(device("bess1"), &caps), 0);
    ck_assert_double_eq_tol(caps.u.battery.soc_kwh, 59.0, TOL);
    ck_assert(caps.measured_ms == T0 + 150 * MINUTE);
    finish();
}
END_TEST

START_TEST(battery_limits_and_soc_bounds)
{
    load_ok(BESS_JSON(""));
    cJSON_Delete(wait_json(BESS_TEL, "ts", T0));
    /* -50 kW asked, 20 kW is the charge limit. */
    cJSON *t = command(BESS_TEL, "bess1", 1, T0, 0, 0, -50.0, 1);
    ck_assert_double_eq(jnum(t, "power_kw"), -20.0);
    ck_assert_double_eq(jnum(t, "setpoint_kw"), -50.0);
    cJSON_Delete(t);
    /* 40 kWh of room at 19 kWh/h: full after 2.105 h, then the power drops to 0. */
    t = advance(BESS_TEL, 3 * HOUR);
    ck_assert_double_eq(jnum(t, "soc_kwh"), 90.0);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    ck_assert_double_eq_tol(jnum(t, "charged_kwh"), 40.0 / 0.95, TOL);
    cJSON_Delete(t);
    ck_assert_double_eq(measurement("bess1")->m.power_kw, 0.0);

    /* +100 kW asked, 25 kW is the discharge limit: 27.78 kWh/h leave the store. */
    t = command(BESS_TEL, "bess1", 2, T0 + 3 * HOUR, 0, 0, 100.0, 2);
    ck_assert_double_eq(jnum(t, "power_kw"), 25.0);
    cJSON_Delete(t);
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 90.0 - 25.0 / 0.9, TOL);
    ck_assert_double_eq_tol(jnum(t, "discharged_kwh"), 25.0, TOL);
    cJSON_Delete(t);
    /* Down to soc_min (10 kWh) within the next 4 hours, then 0 kW. */
    t = advance(BESS_TEL, 4 * HOUR);
    ck_assert_double_eq(jnum(t, "soc_kwh"), 10.0);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    ck_assert_double_eq_tol(jnum(t, "discharged_kwh"), 25.0 + (80.0 - 25.0 / 0.9) * 0.9, TOL);
    cJSON_Delete(t);
    /* It stays there, and charging works again. */
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq(jnum(t, "soc_kwh"), 10.0);
    cJSON_Delete(t);
    t = command(BESS_TEL, "bess1", 3, T0 + 9 * HOUR, 0, 0, -10.0, 3);
    ck_assert_double_eq(jnum(t, "power_kw"), -10.0);
    cJSON_Delete(t);
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 19.5, TOL);
    cJSON_Delete(t);
    finish();
}
END_TEST

START_TEST(battery_safe_mode_and_watchdog)
{
    load_ok(BESS_JSON(""));
    cJSON_Delete(wait_json(BESS_TEL, "ts", T0));
    cJSON_Delete(command(BESS_TEL, "bess1", 1, T0, 0, 0, -10.0, 1));
    cJSON_Delete(advance(BESS_TEL, HOUR));
    /* Safe mode: hold at zero power. */
    cJSON *t = command(BESS_TEL, "bess1", 2, T0 + HOUR, 0, 1, -10.0, 2);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_str_eq(jstr(t, "safe_reason"), "command");
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    cJSON_Delete(t);
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 59.5, TOL);
    cJSON_Delete(t);
    /* A command valid for 30 minutes: it charges for exactly that long, then the watchdog holds. */
    cJSON_Delete(
        command(BESS_TEL, "bess1", 3, T0 + 2 * HOUR, T0 + 2 * HOUR + 30 * MINUTE, 0, -10.0, 3));
    t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 59.5 + 4.75, TOL);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_str_eq(jstr(t, "safe_reason"), "watchdog");
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    cJSON_Delete(t);
    /* A safe-mode command with the key of the command just executed is executed too, and the
     * normal command repeated after it is not. */
    cJSON_Delete(command(BESS_TEL, "bess1", 4, T0 + 3 * HOUR, 0, 0, -10.0, 4));
    t = command(BESS_TEL, "bess1", 4, T0 + 3 * HOUR, 0, 1, 0.0, 5);
    ck_assert(jbool(t, "safe_mode"));
    cJSON_Delete(t);
    ck_assert_int_eq(setpoint("bess1", 4, T0 + 3 * HOUR, 0, 0, -10.0), 0);
    t = advance(BESS_TEL, HOUR);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_double_eq(jnum(t, "cmd_ignored"), 1.0);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 64.25, TOL);
    cJSON_Delete(t);
    /* Shutdown: the driver sends a safe-mode command the gateway executes. */
    cJSON_Delete(command(BESS_TEL, "bess1", 5, T0 + 4 * HOUR, 0, 0, 10.0, 6));
    gridems_device_event_t ev = {
        .struct_size = sizeof ev, .type = GRIDEMS_EVT_SHUTDOWN, .time_ms = T0 + 4 * HOUR};
    ck_assert_int_eq(gridems__device_on_event(device("bess1"), &ev), 0);
    t = wait_json(BESS_TEL, "cmd_accepted", 7);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    cJSON_Delete(t);
    finish();
}
END_TEST

START_TEST(battery_commands_idempotent_and_malformed_ignored)
{
    load_ok(BESS_JSON(""));
    cJSON_Delete(wait_json(BESS_TEL, "ts", T0));
    cJSON_Delete(command(BESS_TEL, "bess1", 5, T0, 0, 0, -10.0, 1));
    ck_assert_int_eq(setpoint("bess1", 5, T0, 0, 0, -10.0), 0);        /* duplicate */
    ck_assert_int_eq(setpoint("bess1", 5, T0, 0, 0, 20.0), 0);         /* same key */
    ck_assert_int_eq(setpoint("bess1", 4, T0 + HOUR, 0, 0, 10.0), 0);  /* older plan */
    ck_assert_int_eq(setpoint("bess1", 5, T0 - MINUTE, 0, 0, 5.0), 0); /* older step */
    pump();
    ck_assert_int_eq(topic_count(BESS_CMD), 5);

    /* Malformed commands straight on the gateway's topic: ignored and counted; the first two of
     * them are logged, then only every power of two. */
    static const char *const bad[] = {
        "not json",
        "{\"plan_id\":9}",
        "{\"plan_id\":9,\"ts\":1,\"power_kw\":\"high\"}",
        "{\"plan_id\":9,\"ts\":1.5,\"power_kw\":1}",
        "{\"plan_id\":9,\"ts\":1,\"power_kw\":1} trailing",
        "[1,2]",
        "{\"plan_id\":9,\"ts\":1,\"power_kw\":1e999}",
        /* A member given twice, written either way: which of the two was meant is a guess. */
        "{\"plan_id\":9,\"ts\":1,\"power_kw\":1,\"power_kw\":2}",
        "{\"plan_id\":9,\"ts\":1,\"power_kw\":1,\"\\u0070ower_kw\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gridems__host_deliver(host, BESS_CMD, bad[i], strlen(bad[i]), 1, 0), 1);
    }
    /* Malformed telemetry reaches the driver: ignored, no measurement. */
    int posted = measurement("bess1")->count;
    ck_assert_int_eq(gridems__host_deliver(host, BESS_TEL, "{\"ts\":5}", 8, 0, 0), 1);
    ck_assert_int_eq(measurement("bess1")->count, posted);
    char twice[512];
    const char *tel = topic_rec(BESS_TEL)->payload;
    ck_assert_ptr_nonnull(tel);
    ck_assert_int_lt(snprintf(twice, sizeof twice, "{\"soc_kwh\":1,%s", tel + 1), sizeof twice);
    ck_assert_int_eq(gridems__host_deliver(host, BESS_TEL, twice, strlen(twice), 0, 0), 1);
    ck_assert_int_eq(measurement("bess1")->count, posted);
    /* The same telemetry without the second soc_kwh is taken (same ts: a repeat is fine). */
    ck_assert_int_eq(gridems__host_deliver(host, BESS_TEL, tel, strlen(tel), 0, 0), 1);
    ck_assert_int_eq(measurement("bess1")->count, posted + 1);

    cJSON *t = advance(BESS_TEL, HOUR);
    ck_assert_double_eq(jnum(t, "cmd_accepted"), 1.0);
    ck_assert_double_eq(jnum(t, "cmd_ignored"), 4.0);
    ck_assert_double_eq(jnum(t, "cmd_malformed"), 9.0);
    ck_assert_double_eq(jnum(t, "plan_id"), 5.0);
    ck_assert_double_eq(jnum(t, "power_kw"), -10.0);
    ck_assert_double_eq_tol(jnum(t, "soc_kwh"), 59.5, TOL);
    cJSON_Delete(t);

    /* A newer step of the same plan is executed. */
    t = command(BESS_TEL, "bess1", 5, T0 + HOUR, 0, 0, 0.0, 2);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    cJSON_Delete(t);

    /* A set-point the broker cannot take is an error the host sees. */
    publish_rc = GRIDEMS_EMQTT;
    ck_assert_int_eq(setpoint("bess1", 6, T0 + HOUR, 0, 0, 1.0), GRIDEMS_EMQTT);
    publish_rc = 0;
    finish();
}
END_TEST

START_TEST(battery_malformed_command_log_is_rate_limited)
{
    load_ok(BESS_JSON(""));
    cJSON_Delete(wait_json(BESS_TEL, "ts", T0));
    char path[] = "/tmp/gridems-sim-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    for (int i = 0; i < 9; i++) {
        gridems__host_deliver(host, BESS_CMD, "{oops", 5, 1, 0);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* Occurrences 1, 2, 4 and 8 are logged. */
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "malformed command")) != NULL; p++) {
        lines++;
    }
    ck_assert_msg(lines == 4, "%d lines: %s", lines, buf);
    assert_contains(buf, "[battery_sim:bess1] gateway: malformed command on t/bess1/cmd ignored");
    assert_contains(buf, "(8 times so far");
    finish();
}
END_TEST

/* ---- ## meter_sim ---- */

#define METER_TEL "t/load/telemetry"

static char *tmpdir;

static char *write_tmp(const char *name, const char *text)
{
    if (tmpdir == NULL) {
        tmpdir = test_make_tmpdir("sim");
    }
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    ck_assert_int_eq(test_write_file(path, text), 0);
    return path;
}

static void remove_tmp(void)
{
    if (tmpdir != NULL) {
        test_remove_tree(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
    }
}

static void load_meter(const char *name, const char *topic, const char *options)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"plugin\":\"meter_sim\",\"name\":\"%s\",\"options\":{\"topic_prefix\":\"%s\","
             "\"tick_ms\":1,\"telemetry_interval_ms\":60000%s}}",
             name, topic, options);
    load_ok(json);
}

START_TEST(meter_replays_hour_of_day_profile)
{
    const char *path = write_tmp("daily.csv", "# a test profile\n"
                                              "hour_of_day,kw\r\n"
                                              "0,100\n"
                                              "6,160\n"
                                              "\n"
                                              "12,220\n"
                                              "18,160\n");
    char opts[1200];
    snprintf(opts, sizeof opts, ",\"profile\":\"%s\",\"utc_offset_hours\":9,\"scale\":2", path);
    load_meter("load1", "t/load", opts);
    /* T0 is local midnight (JST). */
    cJSON *t = wait_json(METER_TEL, "ts", T0);
    ck_assert_double_eq(jnum(t, "power_kw"), 200.0);
    ck_assert_double_eq(jnum(t, "energy_kwh"), 0.0);
    cJSON_Delete(t);
    t = advance(METER_TEL, 3 * HOUR); /* 03:00: halfway from 100 to 160 */
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 260.0, TOL);
    ck_assert_double_eq_tol(jnum(t, "energy_kwh"), (200.0 + 260.0) / 2 * 3, TOL);
    cJSON_Delete(t);
    t = advance(METER_TEL, 9 * HOUR); /* 12:00 */
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 440.0, TOL);
    ck_assert_double_eq_tol(jnum(t, "energy_kwh"), 690.0 + (260.0 + 440.0) / 2 * 9, TOL);
    cJSON_Delete(t);
    t = advance(METER_TEL, 9 * HOUR); /* 21:00: between 18:00 (160) and the next 00:00 (100) */
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 260.0, TOL);
    cJSON_Delete(t);
    t = advance(METER_TEL, 4 * HOUR + 30 * MINUTE); /* 01:30 the next day */
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 230.0, TOL);
    cJSON_Delete(t);

    const meas_rec_t *m = measurement("load1");
    ck_assert(m->m.timestamp_ms == fake_now);
    ck_assert_uint_eq(m->m.valid, GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_ENERGY);
    ck_assert_double_eq_tol(m->m.power_kw, 230.0, TOL);
    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(device("load1"), &caps), 0);
    ck_assert_int_eq(caps.u.meter.role, GRIDEMS_METER_LOAD);
    ck_assert(caps.measured_ms == fake_now);
    /* A meter takes no set-points. */
    ck_assert_int_eq(setpoint("load1", 1, T0, 0, 0, 1.0), GRIDEMS_ENOENT);
    finish();
    remove_tmp();
}
END_TEST

START_TEST(meter_step_profile_and_iso_profile)
{
    const char *daily = write_tmp("step.csv", "0,100\n6,160\n12,220\n18,160\n");
    char opts[1200];
    snprintf(opts, sizeof opts,
             ",\"profile\":\"%s\",\"utc_offset_hours\":9,\"interpolate\":false,\"role\":\"site\"",
             daily);
    load_meter("site1", "t/site", opts);
    const char *iso = write_tmp("week.csv", "timestamp_jst,kw\n"
                                            "2023-05-08T00:00:00+09:00,100\n"
                                            "2023-05-08T01:00:00+09:00,200\n");
    snprintf(opts, sizeof opts, ",\"profile\":\"%s\"", iso);
    load_meter("load2", "t/load", opts);
    cJSON_Delete(wait_json("t/site/telemetry", "ts", T0));
    cJSON *t = wait_json(METER_TEL, "ts", T0);
    ck_assert_double_eq(jnum(t, "power_kw"), 100.0);
    cJSON_Delete(t);
    fake_now = T0 + 30 * MINUTE;
    t = wait_json(METER_TEL, "ts", fake_now);
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 150.0, TOL);
    cJSON_Delete(t);
    fake_now = T0 + 3 * HOUR;
    t = wait_json("t/site/telemetry", "ts", fake_now);
    ck_assert_double_eq(jnum(t, "power_kw"), 100.0); /* held from 00:00 */
    cJSON_Delete(t);
    /* The two-row file repeats every two hours (its span plus one step). */
    t = wait_json(METER_TEL, "ts", fake_now);
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 200.0, TOL);
    cJSON_Delete(t);
    fake_now = T0 + 3 * HOUR + 30 * MINUTE;
    t = wait_json(METER_TEL, "ts", fake_now);
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 150.0, TOL);
    cJSON_Delete(t);
    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(device("site1"), &caps), 0);
    ck_assert_int_eq(caps.u.meter.role, GRIDEMS_METER_SITE);
    finish();
    remove_tmp();
}
END_TEST

START_TEST(meter_builtin_shape_and_deterministic_noise)
{
    load_meter("shape", "t/shape",
               ",\"base_kw\":1000,\"swing_kw\":200,\"peak_hour\":15,\"utc_offset_hours\":9");
    load_meter("n1", "t/n1", ",\"base_kw\":1000,\"swing_kw\":0,\"noise_pct\":10,\"seed\":7");
    load_meter("n2", "t/n2", ",\"base_kw\":1000,\"swing_kw\":0,\"noise_pct\":10,\"seed\":7");
    load_meter("n3", "t/n3", ",\"base_kw\":1000,\"swing_kw\":0,\"noise_pct\":10,\"seed\":8");
    int64_t times[] = {T0, T0 + 3 * HOUR, T0 + 15 * HOUR};
    double shape[] = {1000 + 200 * cos(2 * M_PI * -15 / 24.0), 800.0, 1200.0};
    int differ = 0;
    for (int i = 0; i < 3; i++) {
        fake_now = times[i];
        cJSON *s = wait_json("t/shape/telemetry", "ts", fake_now);
        cJSON *a = wait_json("t/n1/telemetry", "ts", fake_now);
        cJSON *b = wait_json("t/n2/telemetry", "ts", fake_now);
        cJSON *c = wait_json("t/n3/telemetry", "ts", fake_now);
        ck_assert_double_eq_tol(jnum(s, "power_kw"), shape[i], 0.0005); /* 1 W resolution */
        double pa = jnum(a, "power_kw");
        ck_assert_double_eq(pa, jnum(b, "power_kw")); /* same seed, same time: same value */
        ck_assert(pa >= 900.0 && pa <= 1100.0 && pa != 1000.0);
        differ += pa != jnum(c, "power_kw");
        cJSON_Delete(s);
        cJSON_Delete(a);
        cJSON_Delete(b);
        cJSON_Delete(c);
    }
    ck_assert_int_eq(differ, 3);
    finish();
}
END_TEST

START_TEST(meter_scheduled_jump)
{
    /* 1000 kW flat; +500 kW from 00:10 JST (T0 + 10 min) for 5 minutes. */
    load_meter("jump", "t/jump",
               ",\"base_kw\":1000,\"swing_kw\":0,\"jump_at\":\"2023-05-08T00:10:00+09:00\","
               "\"jump_kw\":500,\"jump_minutes\":5");
    load_meter("drop", "t/drop",
               ",\"base_kw\":1000,\"swing_kw\":0,\"jump_at\":\"2023-05-08T00:10:00+09:00\","
               "\"jump_kw\":-300");
    /* A minute apart at least: the telemetry interval. */
    int64_t times[] = {
        T0, T0 + 9 * MINUTE, T0 + 10 * MINUTE, T0 + 14 * MINUTE, T0 + 15 * MINUTE, T0 + 5 * HOUR};
    double jump[] = {1000, 1000, 1500, 1500, 1000, 1000};
    double drop[] = {1000, 1000, 700, 700, 700, 700}; /* no jump_minutes: for good */
    for (int i = 0; i < 6; i++) {
        fake_now = times[i];
        cJSON *a = wait_json("t/jump/telemetry", "ts", fake_now);
        cJSON *b = wait_json("t/drop/telemetry", "ts", fake_now);
        ck_assert_double_eq(jnum(a, "power_kw"), jump[i]);
        ck_assert_double_eq(jnum(b, "power_kw"), drop[i]);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    finish();
}
END_TEST

/* ---- ## cluster_sim ---- */

#define CL_TEL "t/cl/telemetry"

static void load_cluster(const char *name, const char *topic, const char *options)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"plugin\":\"cluster_sim\",\"name\":\"%s\",\"options\":{\"topic_prefix\":\"%s\","
             "\"tick_ms\":1,\"telemetry_interval_ms\":60000%s}}",
             name, topic, options);
    load_ok(json);
}

/* A flex set-point with per-job powers (ids and powers as parallel arrays). */
static int flex_setpoint(const char *dev, uint64_t plan, int64_t ts, double cap, int safe, int n,
                         const char *const *ids, const double *kw)
{
    gridems_job_setpoint_t jobs[8];
    ck_assert_int_le(n, 8);
    for (int i = 0; i < n; i++) {
        jobs[i].job_id = ids[i];
        jobs[i].power_kw = kw[i];
    }
    gridems_setpoint_t sp = {.struct_size = sizeof sp,
                             .safe_mode = safe,
                             .plan_id = plan,
                             .timestamp_ms = ts,
                             .jobs = n > 0 ? jobs : NULL,
                             .n_jobs = (uint32_t)n,
                             .power_cap_kw = cap};
    return gridems__device_apply_setpoint(device(dev), &sp);
}

static const cJSON *job_json(const cJSON *t, const char *id)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(t, "jobs"))
    {
        if (strcmp(jstr(j, "id"), id) == 0) {
            return j;
        }
    }
    return NULL;
}

static const gridems_flex_job_t *caps_job(const gridems_caps_t *caps, const char *id)
{
    for (uint32_t i = 0; i < caps->u.flex.n_jobs; i++) {
        if (strcmp(caps->u.flex.jobs[i].id, id) == 0) {
            return &caps->u.flex.jobs[i];
        }
    }
    return NULL;
}

static const char *jobs_file(void)
{
    return write_tmp("jobs.csv", "id,arrival,energy_kwh,power_max_kw,deadline_hours\n"
                                 "job-a,0,100,50,4\n"
                                 "job-b,1,60,30,2\n"
                                 "job-c,2023-05-08T02:00:00+09:00,40,40,1\n");
}

START_TEST(cluster_jobs_run_finish_and_account)
{
    char opts[1200];
    snprintf(opts, sizeof opts, ",\"power_cap_kw\":100,\"jobs\":\"%s\",\"stale_after_ms\":600000",
             jobs_file());
    load_cluster("cl", "t/cl", opts);
    gridems__device_t *dev = device("cl");
    ck_assert_int_eq(dev->desc.klass, GRIDEMS_DEV_FLEX_LOAD);
    cJSON *t = wait_json(CL_TEL, "ts", T0);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0); /* no set-point yet: safe, jobs wait */
    ck_assert_double_eq(jnum(cJSON_GetObjectItem(t, "stats"), "arrived"), 1.0);
    cJSON_Delete(t);
    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, 1);
    ck_assert_double_eq(caps.u.flex.power_cap_kw, 100.0);
    ck_assert_uint_eq(caps.stale_after_ms, 600000);
    const gridems_flex_job_t *a = caps_job(&caps, "job-a");
    ck_assert_ptr_nonnull(a);
    ck_assert_double_eq(a->energy_remaining_kwh, 100.0);
    ck_assert_double_eq(a->energy_delivered_kwh, 0.0);
    ck_assert_double_eq(a->power_max_kw, 50.0);
    ck_assert(a->earliest_ms == T0);
    ck_assert(a->deadline_ms == T0 + 4 * HOUR);

    /* Step 1: job-a at 50 kW for an hour; job-b arrives at T0+1h. */
    const char *ids_a[] = {"job-a"};
    ck_assert_int_eq(flex_setpoint("cl", 1, T0, -1, 0, 1, ids_a, (double[]){50}), 0);
    cJSON_Delete(wait_json(CL_TEL, "cmd_accepted", 1));
    t = advance(CL_TEL, HOUR);
    ck_assert_double_eq(jnum(t, "power_kw"), 50.0);
    ck_assert_double_eq_tol(jnum(job_json(t, "job-a"), "delivered_kwh"), 50.0, TOL);
    ck_assert_ptr_nonnull(job_json(t, "job-b"));
    ck_assert_double_eq(jnum(job_json(t, "job-b"), "power_kw"), 0.0); /* not in the command */
    cJSON_Delete(t);
    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, 2);
    ck_assert_double_eq_tol(caps_job(&caps, "job-a")->energy_remaining_kwh, 50.0, TOL);
    ck_assert_double_eq_tol(caps_job(&caps, "job-a")->energy_delivered_kwh, 50.0, TOL);
    ck_assert(caps_job(&caps, "job-b")->earliest_ms == T0 + HOUR);
    ck_assert(caps_job(&caps, "job-b")->deadline_ms == T0 + 3 * HOUR);
    ck_assert(caps.measured_ms == T0 + HOUR);
    ck_assert_double_eq(measurement("cl")->m.power_kw, 50.0);

    /* Step 2: a 25, b 30 (job-b asks 45 but may take 30); job-c arrives at T0+2h. */
    const char *ids_ab[] = {"job-a", "job-b"};
    ck_assert_int_eq(flex_setpoint("cl", 2, T0 + HOUR, -1, 0, 2, ids_ab, (double[]){25, 45}), 0);
    t = wait_json(CL_TEL, "cmd_accepted", 2);
    ck_assert_double_eq(jnum(job_json(t, "job-b"), "power_kw"), 30.0);
    cJSON_Delete(t);
    t = advance(CL_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(job_json(t, "job-a"), "delivered_kwh"), 75.0, TOL);
    ck_assert_double_eq_tol(jnum(job_json(t, "job-b"), "delivered_kwh"), 30.0, TOL);
    ck_assert_ptr_nonnull(job_json(t, "job-c"));
    cJSON_Delete(t);

    /* Step 3: a 25, b 0, c 40: both a and c finish exactly at T0+3h, on time (c exactly at its
     * deadline); b reaches its deadline unfinished. */
    const char *ids_abc[] = {"job-a", "job-b", "job-c"};
    ck_assert_int_eq(
        flex_setpoint("cl", 3, T0 + 2 * HOUR, -1, 0, 3, ids_abc, (double[]){25, 0, 40}), 0);
    cJSON_Delete(wait_json(CL_TEL, "cmd_accepted", 3));
    t = advance(CL_TEL, 90 * MINUTE);
    const cJSON *ja = job_json(t, "job-a");
    ck_assert(jbool(ja, "finished"));
    ck_assert(jnum(ja, "finished_at") == (double)(T0 + 3 * HOUR));
    ck_assert(jbool(ja, "finished_on_time"));
    ck_assert_double_eq(jnum(ja, "delivered_kwh"), 100.0);
    ck_assert_double_eq(jnum(ja, "remaining_kwh"), 0.0);
    const cJSON *jc = job_json(t, "job-c");
    ck_assert(jbool(jc, "finished_on_time"));
    ck_assert(!jbool(jc, "missed_deadline"));
    const cJSON *jb = job_json(t, "job-b");
    ck_assert(!jbool(jb, "finished"));
    ck_assert(jbool(jb, "missed_deadline"));
    const cJSON *st = cJSON_GetObjectItem(t, "stats");
    ck_assert_double_eq(jnum(st, "arrived"), 3.0);
    ck_assert_double_eq(jnum(st, "finished"), 2.0);
    ck_assert_double_eq(jnum(st, "on_time"), 2.0);
    ck_assert_double_eq(jnum(st, "late"), 0.0);
    ck_assert_double_eq(jnum(st, "overdue"), 1.0);
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    ck_assert_double_eq_tol(jnum(t, "energy_kwh"), 100 + 30 + 40, TOL);
    cJSON_Delete(t);
    /* Only the unfinished job-b is offered to the planner, with its past deadline. */
    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, 1);
    ck_assert_double_eq_tol(caps_job(&caps, "job-b")->energy_remaining_kwh, 30.0, TOL);

    /* Step 4: b at 20 kW finishes 1.5 h later, 2 h after its deadline: late. */
    const char *ids_b[] = {"job-b"};
    ck_assert_int_eq(flex_setpoint("cl", 4, T0 + 210 * MINUTE, -1, 0, 1, ids_b, (double[]){20}), 0);
    cJSON_Delete(wait_json(CL_TEL, "cmd_accepted", 4));
    t = advance(CL_TEL, 2 * HOUR);
    jb = job_json(t, "job-b");
    ck_assert(jbool(jb, "finished"));
    ck_assert(jnum(jb, "finished_at") == (double)(T0 + 5 * HOUR));
    ck_assert(!jbool(jb, "finished_on_time"));
    ck_assert(jbool(jb, "missed_deadline"));
    st = cJSON_GetObjectItem(t, "stats");
    ck_assert_double_eq(jnum(st, "finished"), 3.0);
    ck_assert_double_eq(jnum(st, "on_time"), 2.0);
    ck_assert_double_eq(jnum(st, "late"), 1.0);
    ck_assert_double_eq(jnum(st, "overdue"), 0.0);
    cJSON_Delete(t);
    ck_assert_int_eq(gridems__device_get_capabilities(dev, &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, 0);
    ck_assert_ptr_null(caps.u.flex.jobs);

    /* Finished jobs stay in the telemetry for keep_finished_hours (24), then only the counts. */
    t = advance(CL_TEL, 25 * HOUR);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "jobs")), 0);
    ck_assert_double_eq(jnum(cJSON_GetObjectItem(t, "stats"), "late"), 1.0);
    cJSON_Delete(t);
    finish();
    remove_tmp();
}
END_TEST

START_TEST(cluster_caps_scale_and_safe_mode)
{
    const char *path = write_tmp("jobs2.csv", "x1,0,1000,60,10\n"
                                              "x2,0,1000,60,5\n"
                                              "x3,0,1000,60,8\n");
    char opts[1200];
    snprintf(opts, sizeof opts, ",\"power_cap_kw\":100,\"jobs\":\"%s\"", path);
    load_cluster("cl", "t/cl", opts);
    snprintf(opts, sizeof opts, ",\"power_cap_kw\":100,\"jobs\":\"%s\",\"safe_policy\":\"run\"",
             path);
    load_cluster("own", "t/own", opts);
    cJSON_Delete(wait_json(CL_TEL, "ts", T0));

    /* 60 + 60 asked, the cluster's cap is 100: both get 50. */
    const char *ids[] = {"x1", "x2", "nope"};
    ck_assert_int_eq(flex_setpoint("cl", 1, T0, -1, 0, 3, ids, (double[]){60, 60, 30}), 0);
    cJSON *t = wait_json(CL_TEL, "cmd_accepted", 1);
    ck_assert_double_eq_tol(jnum(job_json(t, "x1"), "power_kw"), 50.0, TOL);
    ck_assert_double_eq_tol(jnum(job_json(t, "x2"), "power_kw"), 50.0, TOL);
    ck_assert_double_eq(jnum(job_json(t, "x3"), "power_kw"), 0.0);
    ck_assert_double_eq_tol(jnum(t, "power_kw"), 100.0, TOL);
    cJSON_Delete(t);
    /* The step's own cap (60) is lower: 30 each. */
    ck_assert_int_eq(flex_setpoint("cl", 2, T0, 60, 0, 2, ids, (double[]){60, 60}), 0);
    t = wait_json(CL_TEL, "cmd_accepted", 2);
    ck_assert_double_eq_tol(jnum(job_json(t, "x1"), "power_kw"), 30.0, TOL);
    ck_assert_double_eq(jnum(t, "cmd_cap_kw"), 60.0);
    cJSON_Delete(t);
    t = advance(CL_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(job_json(t, "x1"), "delivered_kwh"), 30.0, TOL);
    ck_assert_double_eq_tol(jnum(job_json(t, "x2"), "delivered_kwh"), 30.0, TOL);
    cJSON_Delete(t);
    /* Safe mode with the default policy: everything waits. */
    ck_assert_int_eq(flex_setpoint("cl", 3, T0 + HOUR, -1, 1, 0, NULL, NULL), 0);
    t = wait_json(CL_TEL, "cmd_accepted", 3);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_double_eq(jnum(t, "power_kw"), 0.0);
    cJSON_Delete(t);
    t = advance(CL_TEL, HOUR);
    ck_assert_double_eq_tol(jnum(job_json(t, "x1"), "delivered_kwh"), 30.0, TOL);
    ck_assert_double_eq(jnum(job_json(t, "x1"), "power_kw"), 0.0);
    cJSON_Delete(t);

    /* safe_policy "run", before any command: the cluster's own scheduler, earliest deadline
     * first within the cap: x2 (5 h) 60 kW, x3 (8 h) the remaining 40, x1 nothing. */
    t = wait_json("t/own/telemetry", "ts", fake_now);
    ck_assert(jbool(t, "safe_mode"));
    ck_assert_str_eq(jstr(t, "safe_policy"), "run");
    ck_assert_double_eq(jnum(job_json(t, "x2"), "power_kw"), 60.0);
    ck_assert_double_eq(jnum(job_json(t, "x3"), "power_kw"), 40.0);
    ck_assert_double_eq(jnum(job_json(t, "x1"), "power_kw"), 0.0);
    ck_assert_double_eq_tol(jnum(job_json(t, "x2"), "delivered_kwh"), 120.0, TOL);
    cJSON_Delete(t);
    finish();
    remove_tmp();
}
END_TEST

START_TEST(cluster_generated_jobs_are_deterministic)
{
    const char *opts = ",\"power_cap_kw\":5000,\"seed\":42,\"jobs_per_day\":12,"
                       "\"job_energy_kwh\":2000,\"job_power_kw\":500,\"deadline_slack_hours\":6";
    load_cluster("g1", "t/g1", opts);
    load_cluster("g2", "t/g2", opts);
    cJSON_Delete(wait_json("t/g1/telemetry", "ts", T0));
    fake_now = T0 + 48 * HOUR;
    cJSON *a = wait_json("t/g1/telemetry", "ts", fake_now);
    cJSON *b = wait_json("t/g2/telemetry", "ts", fake_now);
    int arrived = (int)jnum(cJSON_GetObjectItem(a, "stats"), "arrived");
    ck_assert_int_ge(arrived, 8); /* about 24 expected over two days */
    ck_assert_int_le(arrived, 48);
    ck_assert_double_eq(jnum(cJSON_GetObjectItem(b, "stats"), "arrived"), arrived);
    const cJSON *ja = cJSON_GetObjectItem(a, "jobs");
    const cJSON *jb = cJSON_GetObjectItem(b, "jobs");
    ck_assert_int_eq(cJSON_GetArraySize(ja), arrived);
    for (int i = 0; i < arrived; i++) {
        const cJSON *x = cJSON_GetArrayItem(ja, i);
        const cJSON *y = cJSON_GetArrayItem(jb, i);
        char want[32];
        snprintf(want, sizeof want, "g1-%04d", i + 1);
        ck_assert_str_eq(jstr(x, "id"), want);
        ck_assert(jnum(x, "arrival") == jnum(y, "arrival"));
        ck_assert(jnum(x, "deadline") == jnum(y, "deadline"));
        ck_assert_double_eq(jnum(x, "energy_kwh"), jnum(y, "energy_kwh"));
        ck_assert_double_eq(jnum(x, "power_max_kw"), jnum(y, "power_max_kw"));
        ck_assert(jnum(x, "energy_kwh") >= 1000 && jnum(x, "energy_kwh") <= 3000);
        ck_assert(jnum(x, "power_max_kw") >= 250 && jnum(x, "power_max_kw") <= 750);
        double min_h = jnum(x, "energy_kwh") / jnum(x, "power_max_kw");
        double span_h = (jnum(x, "deadline") - jnum(x, "arrival")) / (double)HOUR;
        ck_assert(span_h >= min_h + 3 && span_h <= min_h + 9 + 1.0 / 60);
        ck_assert(jnum(x, "arrival") > (double)T0 && jnum(x, "arrival") <= (double)fake_now);
    }
    /* The capabilities list them all (none ran: no set-point). */
    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(device("g1"), &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, (uint32_t)arrived);
    ck_assert_str_eq(caps.u.flex.jobs[0].id, "g1-0001");
    cJSON_Delete(a);
    cJSON_Delete(b);
    finish();
}
END_TEST

START_TEST(cluster_malformed_and_duplicate_commands)
{
    char opts[1200];
    snprintf(opts, sizeof opts, ",\"power_cap_kw\":100,\"jobs\":\"%s\"", jobs_file());
    load_cluster("cl", "t/cl", opts);
    cJSON_Delete(wait_json(CL_TEL, "ts", T0));
    const char *ids_a[] = {"job-a"};
    ck_assert_int_eq(flex_setpoint("cl", 1, T0, -1, 0, 1, ids_a, (double[]){50}), 0);
    cJSON_Delete(wait_json(CL_TEL, "cmd_accepted", 1));
    ck_assert_int_eq(flex_setpoint("cl", 1, T0, -1, 0, 1, ids_a, (double[]){10}), 0);
    ck_assert_int_eq(flex_setpoint("cl", 0, T0 + HOUR, -1, 0, 1, ids_a, (double[]){10}), 0);
    pump(); /* deliver them before the clock moves */
    static const char *const bad[] = {
        "{\"plan_id\":2,\"ts\":1,\"jobs\":[{\"id\":\"job-a\"}]}",
        "{\"plan_id\":2,\"ts\":1,\"jobs\":[{\"id\":\"job-a\",\"power_kw\":-1}]}",
        "{\"plan_id\":2,\"ts\":1,\"jobs\":{}}",
        "{\"plan_id\":2,\"ts\":1,\"jobs\":[{\"id\":\"job-a\",\"power_kw\":5},]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gridems__host_deliver(host, "t/cl/cmd", bad[i], strlen(bad[i]), 1, 0), 1);
    }
    /* Every truncation of a valid command is malformed (and read within its bounds: ASan). */
    const char *good = "{\"plan_id\":7,\"ts\":1683471600000,\"safe_mode\":false,"
                       "\"power_cap_kw\":-1,\"jobs\":[{\"id\":\"job-a\",\"power_kw\":5}]}";
    size_t n = strlen(good);
    for (size_t len = 0; len < n; len++) {
        ck_assert_int_eq(gridems__host_deliver(host, "t/cl/cmd", good, len, 1, 0), 1);
    }
    /* So is every truncation of a valid telemetry message, for the driver. */
    char *tel = strdup(topic_rec(CL_TEL)->payload);
    int posted = measurement("cl")->count;
    for (size_t len = 0; len < strlen(tel); len++) {
        ck_assert_int_eq(gridems__host_deliver(host, CL_TEL, tel, len, 0, 0), 1);
    }
    ck_assert_int_eq(measurement("cl")->count, posted);
    free(tel);
    cJSON *t = advance(CL_TEL, HOUR);
    ck_assert_double_eq(jnum(t, "cmd_ignored"), 2.0);
    ck_assert_double_eq(jnum(t, "cmd_malformed"), 4.0 + (double)n);
    ck_assert_double_eq_tol(jnum(job_json(t, "job-a"), "delivered_kwh"), 50.0, TOL);
    cJSON_Delete(t);
    finish();
    remove_tmp();
}
END_TEST

/* ---- ## The example data files ---- */

START_TEST(example_data_files_load)
{
    load_meter("site-load", "t/load",
               ",\"profile\":\"" GRIDEMS_TEST_SOURCE_DIR "/examples/data/sakai_load_daily.csv\","
               "\"utc_offset_hours\":9");
    load_cluster("cl", "t/cl",
                 ",\"power_cap_kw\":3000,\"jobs\":\"" GRIDEMS_TEST_SOURCE_DIR
                 "/examples/data/sakai_jobs_week.csv\"");
    cJSON *t = wait_json(METER_TEL, "ts", T0);
    ck_assert_double_eq(jnum(t, "power_kw"), 9424.3); /* local midnight, as in sakai_day.json */
    cJSON_Delete(t);
    t = wait_json(CL_TEL, "ts", T0);
    ck_assert_ptr_nonnull(job_json(t, "llm-pretrain-01"));
    cJSON_Delete(t);
    t = advance(CL_TEL, 7 * 24 * HOUR);
    ck_assert_double_eq(jnum(cJSON_GetObjectItem(t, "stats"), "arrived"), 10.0);
    cJSON_Delete(t);
    t = wait_json(METER_TEL, "ts", fake_now);
    ck_assert_double_eq(jnum(t, "power_kw"), 9424.3);
    cJSON_Delete(t);
    finish();
}
END_TEST

/* ---- ## Options refused at load ---- */

START_TEST(bad_options_refused_naming_the_option)
{
    static const struct {
        const char *json;
        int rc;
        const char *says;
    } cases[] = {
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"capacity_kwh\":100,"
         "\"charge_max_kw\":1,\"discharge_max_kw\":1}}",
         GRIDEMS_ECONFIG, "missing required option \"topic_prefix\""},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":-5,\"charge_max_kw\":1,\"discharge_max_kw\":1}}",
         GRIDEMS_EPLUGIN, "option \"capacity_kwh\" must be > 0 (got -5)"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":100,\"soc_min_kwh\":60,\"soc_max_kwh\":50,\"charge_max_kw\":1,"
         "\"discharge_max_kw\":1}}",
         GRIDEMS_EPLUGIN, "option \"soc_min_kwh\" must be <= soc_max_kwh"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":100,\"soc_kwh\":101,\"charge_max_kw\":1,\"discharge_max_kw\":1}}",
         GRIDEMS_EPLUGIN, "option \"soc_kwh\" must be within [0, capacity_kwh]"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":100,\"charge_max_kw\":1,\"discharge_max_kw\":1,"
         "\"charge_efficiency\":1.5}}",
         GRIDEMS_EPLUGIN, "option \"charge_efficiency\" must be within (0, 1]"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x/#\","
         "\"capacity_kwh\":100,\"charge_max_kw\":1,\"discharge_max_kw\":1}}",
         GRIDEMS_EPLUGIN, "option \"topic_prefix\" must be"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":100,\"charge_max_kw\":1,\"discharge_max_kw\":1,\"tick_ms\":0}}",
         GRIDEMS_EPLUGIN, "option \"tick_ms\" must be within 1 .. 3600000"},
        {"{\"plugin\":\"battery_sim\",\"name\":\"b\",\"options\":{\"topic_prefix\":\"x\","
         "\"capacity_kwh\":\"big\",\"charge_max_kw\":1,\"discharge_max_kw\":1}}",
         GRIDEMS_ECONFIG, "option \"capacity_kwh\": expected a number"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"profile\":\"/nonexistent/profile.csv\"}}",
         GRIDEMS_EPLUGIN, "option \"profile\": cannot open /nonexistent/profile.csv"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"role\":\"grid\"}}",
         GRIDEMS_EPLUGIN, "option \"role\" must be site, load, pv or other (got \"grid\")"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"noise_pct\":-1}}",
         GRIDEMS_EPLUGIN, "option \"noise_pct\" must be within [0, 100]"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"jump_kw\":100}}",
         GRIDEMS_EPLUGIN, "option \"jump_kw\" needs \"jump_at\" (got 100)"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"jump_at\":\"2023-05-08T00:10:00\",\"jump_kw\":100}}",
         GRIDEMS_EPLUGIN, "option \"jump_at\" must be an ISO 8601 time with an offset or Z"},
        {"{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
         "\"jump_at\":\"2023-05-08T00:10:00Z\",\"jump_minutes\":-1}}",
         GRIDEMS_EPLUGIN, "option \"jump_minutes\" must be within [0, 1e9] (got -1)"},
        {"{\"plugin\":\"cluster_sim\",\"name\":\"c\",\"options\":{\"topic_prefix\":\"x\","
         "\"power_cap_kw\":0}}",
         GRIDEMS_EPLUGIN, "option \"power_cap_kw\" must be > 0 (got 0)"},
        {"{\"plugin\":\"cluster_sim\",\"name\":\"c\",\"options\":{\"topic_prefix\":\"x\","
         "\"power_cap_kw\":10,\"safe_policy\":\"pause\"}}",
         GRIDEMS_EPLUGIN, "option \"safe_policy\" must be hold or run"},
        {"{\"plugin\":\"cluster_sim\",\"name\":\"c\",\"options\":{\"topic_prefix\":\"x\","
         "\"power_cap_kw\":10,\"jobs\":\"/nonexistent/jobs.csv\"}}",
         GRIDEMS_EPLUGIN, "option \"jobs\": cannot open /nonexistent/jobs.csv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *said = load_fail(cases[i].json, cases[i].rc);
        assert_contains(said, cases[i].says);
        free(said);
    }
    /* Bad rows in files name the file and the line. */
    char json[1400];
    const char *prof = write_tmp("bad.csv", "hour,kw\n0,10\n25,20\n");
    snprintf(json, sizeof json,
             "{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
             "\"profile\":\"%s\"}}",
             prof);
    char *said = load_fail(json, GRIDEMS_EPLUGIN);
    assert_contains(said, "bad.csv line 3: the hour of day must be within [0, 24)");
    free(said);
    prof = write_tmp("bad2.csv", "0,10\n6,20\n3,30\n");
    snprintf(json, sizeof json,
             "{\"plugin\":\"meter_sim\",\"name\":\"m\",\"options\":{\"topic_prefix\":\"x\","
             "\"profile\":\"%s\"}}",
             prof);
    said = load_fail(json, GRIDEMS_EPLUGIN);
    assert_contains(said, "bad2.csv line 3: times must increase");
    free(said);
    const char *jobs = write_tmp("badjobs.csv", "a,0,10,5,2\nb,0,10,0,2\n");
    snprintf(json, sizeof json,
             "{\"plugin\":\"cluster_sim\",\"name\":\"c\",\"options\":{\"topic_prefix\":\"x\","
             "\"power_cap_kw\":10,\"jobs\":\"%s\"}}",
             jobs);
    said = load_fail(json, GRIDEMS_EPLUGIN);
    assert_contains(said, "badjobs.csv line 2: power_max_kw must be a number > 0");
    free(said);
    jobs = write_tmp("dupjobs.csv", "a,0,10,5,2\na,1,10,5,2\n");
    snprintf(json, sizeof json,
             "{\"plugin\":\"cluster_sim\",\"name\":\"c\",\"options\":{\"topic_prefix\":\"x\","
             "\"power_cap_kw\":10,\"jobs\":\"%s\"}}",
             jobs);
    said = load_fail(json, GRIDEMS_EPLUGIN);
    assert_contains(said, "dupjobs.csv line 2: the id is not unique");
    free(said);
    finish();
    remove_tmp();
}
END_TEST

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim_plugins");
    TCase *tc = tcase_create("battery");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, battery_first_telemetry_and_caps);
    tcase_add_test(tc, battery_soc_integration_with_efficiencies);
    tcase_add_test(tc, battery_limits_and_soc_bounds);
    tcase_add_test(tc, battery_safe_mode_and_watchdog);
    tcase_add_test(tc, battery_commands_idempotent_and_malformed_ignored);
    tcase_add_test(tc, battery_malformed_command_log_is_rate_limited);
    suite_add_tcase(s, tc);

    tc = tcase_create("meter");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, meter_replays_hour_of_day_profile);
    tcase_add_test(tc, meter_step_profile_and_iso_profile);
    tcase_add_test(tc, meter_builtin_shape_and_deterministic_noise);
    tcase_add_test(tc, meter_scheduled_jump);
    suite_add_tcase(s, tc);

    tc = tcase_create("cluster");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cluster_jobs_run_finish_and_account);
    tcase_add_test(tc, cluster_caps_scale_and_safe_mode);
    tcase_add_test(tc, cluster_generated_jobs_are_deterministic);
    tcase_add_test(tc, cluster_malformed_and_duplicate_commands);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, example_data_files_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_options_refused_naming_the_option);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(sim_suite());
}
