/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reliability tests of `gridems run` (docs/service.md, "Reliability"): what a poisoned reading,
 * an absurd device, a stuck plugin (a blocking call or timer callback), a crash, a second instance,
 * a state_dir that cannot be written, malformed input and refused state files do to the real
 * service. Each case failed before the change it tests. The harness below is test_service.c's
 * (same broker, bus and service helpers).
 *
 * The real service binary runs as a child process, with a private mosquitto on a free loopback
 * port, and the simulated device plugins (and tests/abi/abi_rogue.c) through the real loader.
 *
 * Each test owns everything it uses: a broker started from the test body (so the test's own
 * process can kill and restart it), a temporary directory with the config, the service's log and
 * its state_dir, and a site id of its own (so its topics are its own). Waits are bounded and
 * event-driven (a message on a topic, a line in the log, the child's exit); sleeps appear only
 * inside polling loops. Every test ends by stopping the service with SIGTERM, which must exit 0,
 * and by scanning the service's log for sanitizer reports: in a -DGRIDEMS_SANITIZE build the
 * service itself runs sanitized, and any report fails the test.
 *
 * The test talks MQTT through mqtt_wire.h, one connection per test that publishes and watches
 * the service's topics (broker.h's Paho client needs about 2 s per connection while another one
 * is open in the process; mqtt_wire.h explains).
 *
 * When an assertion fails, REQUIRE() prints the service's log, kills the service, stops the
 * broker and removes the temporary directory before Check ends the test.
 */
#include "check_run.h"
#include "broker.h"
#include "mqtt_wire.h"
#include "service_ctx.h"
#include "service_harness.h"
#include "service_site.h"
#include "test_util.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test's context is service_ctx.h's `ctx`, its site service_site.h's. */

/* ---- ## Helpers of these tests ---- */

/* The site's physical bound: reliability.max_power_factor (4) x site.import_limit_kw (20000). */
#define SITE_BOUND_KW 80000.0

/* The file's text (the caller frees it), or fail. */
static char *read_whole(const char *path)
{
    char *text = test_read_file(path, NULL);
    REQUIRE(text != NULL, "cannot read %s", path);
    return text;
}

static cJSON *read_state_file(void)
{
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%s/state.json", ctx.state_dir);
    char *text = read_whole(path);
    cJSON *root = parse(text);
    free(text);
    return root;
}

/* Whether array (an array of objects with "id") holds id; for strings when objects is false. */
static bool has_id(const cJSON *array, const char *id, bool objects)
{
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, array)
    {
        const cJSON *v = objects ? cJSON_GetObjectItemCaseSensitive(it, "id") : it;
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0) {
            return true;
        }
    }
    return false;
}

/* The next status message containing needle (and, unless NULL, not containing without). */
static cJSON *wait_status(const char *needle, const char *without, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_status, needle, left, &msg) == 0,
                "no status with \"%s\"%s%s within %d ms", needle,
                without != NULL ? " without " : "", without != NULL ? without : "", timeout_ms);
        bool fits = without == NULL || strstr(msg.payload, without) == NULL;
        cJSON *root = fits ? parse(msg.payload) : NULL;
        wire_msg_free(&msg);
        if (root != NULL) {
            return root;
        }
    }
}

/* The rogue plugin's shared object (tests/abi/abi_rogue.c). */
static const char *rogue_so(void)
{
    static char so[FILE_LEN];
    snprintf(so, sizeof so, "%s/gridems_test_rogue.so", GRIDEMS_TEST_PLUGIN_DIR);
    REQUIRE(access(so, R_OK) == 0, "%s is missing: build the target gridems_test_rogue", so);
    return so;
}

/* Append to extra (a NUL-terminated buffer of len bytes) one config entry ",\n  {...}" of the
 * rogue plugin named `name` with `options` (the members of its options object). */
static void add_rogue(char *extra, size_t len, const char *name, const char *options)
{
    size_t used = strlen(extra);
    int n = snprintf(extra + used, len - used,
                     ",\n  {\"path\": \"%s\", \"name\": \"%s\", \"options\": {%s}}", rogue_so(),
                     name, options);
    REQUIRE(n > 0 && (size_t)n < len - used, "config entry for %s does not fit", name);
}

/* Wait on P/state until its site time has passed `until` (ISO text compare works: same offset);
 * returns that snapshot. The bus must watch ctx.t_state. */
static cJSON *state_after(const char *until, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_state, "\"time\":", left, &msg) == 0,
                "no P/state after %s within %d ms", until, timeout_ms);
        cJSON *root = parse(msg.payload);
        wire_msg_free(&msg);
        if (strcmp(jstr(root, "time"), until) > 0) {
            return root;
        }
        cJSON_Delete(root);
    }
}

/* ---- ## 1. Telemetry poisoning cannot raise the billing peak ---- */

/* The newest ts of the meter's own telemetry queued on topic (ours, 9e8 kW, left aside), or
 * newest when none is. */
static long long newest_genuine_ts(const char *topic, long long newest)
{
    wire_msg_t m;
    while (wire_next(ctx.bus, topic, NULL, 0, &m) == 0) {
        cJSON *tel = parse(m.payload);
        wire_msg_free(&m);
        if (jnum(tel, "power_kw") < 1e8 && jnum(tel, "ts") > newest) {
            newest = (long long)jnum(tel, "ts");
        }
        cJSON_Delete(tel);
    }
    return newest;
}

/* The ts of the next telemetry on topic stamped after `after` whose power is not skip_kw (the
 * test's own forgeries), waiting up to 5 s for each message. */
static long long next_meter_ts(const char *topic, double skip_kw, long long after)
{
    for (;;) {
        wire_msg_t m;
        REQUIRE(bus_wait(topic, "\"ts\":", 5000, &m) == 0, "no meter telemetry");
        cJSON *tel = parse(m.payload);
        wire_msg_free(&m);
        long long ts = (long long)jnum(tel, "ts");
        double kw = jnum(tel, "power_kw");
        cJSON_Delete(tel);
        if (kw != skip_kw && ts > after) {
            return ts;
        }
    }
}

START_TEST(test_telemetry_poisoning)
{
    site_ctx_init("r1-poison");
    cfg_opts_t o = default_opts();
    o.speed = 300.0; /* a 30-minute step every 6 s */
    write_config(&o);
    char t_meter[192];
    snprintf(t_meter, sizeof t_meter, "%s/dev/meter/telemetry", ctx.prefix);
    start_with_bus(t_meter);
    bus_subscribe(ctx.t_state);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);

    /* The meter's own clock, so the fake readings are the newest its driver has seen (and not
     * ahead of the site clock, which its driver refuses: test_future_readings). */
    long long ts = next_meter_ts(t_meter, 9e8, 0);
    cJSON *st = state_after("", 5000);
    char start[64], until[128];
    snprintf(start, sizeof start, "%.40s", jstr(st, "time"));
    cJSON_Delete(st);
    /* Two whole steps (one hour of site time) of readings of 9e8 kW, ten a second: the step
     * means that make the peak are taken while the poison flows. */
    int hour = atoi(start + 11);
    snprintf(until, sizeof until, "%.11s%02d%.40s", start, hour + 1, start + 13);
    char poison[128];
    int sent = 0;
    for (;;) {
        ts = newest_genuine_ts(t_meter, ts);
        snprintf(poison, sizeof poison, "{\"ts\":%lld,\"power_kw\":9e8}", ts + 1);
        publish(t_meter, poison, 0);
        sent++;
        wire_msg_t s;
        if (wire_next(ctx.bus, ctx.t_state, NULL, 100, &s) == 0) {
            cJSON *snap = parse(s.payload);
            wire_msg_free(&s);
            bool done = strcmp(jstr(snap, "time"), until) > 0;
            cJSON_Delete(snap);
            if (done) {
                break;
            }
        }
        REQUIRE(sent < 1000, "the site clock did not pass %s", until);
    }
    st = state_after(until, 5000);
    double peak = jnum(st, "peak_kw");
    const cJSON *dev = NULL;
    const char *out = NULL;
    cJSON_ArrayForEach(dev, jget(st, "devices"))
    {
        if (strcmp(jstr(dev, "id"), "it_load") == 0) {
            const cJSON *o2 = cJSON_GetObjectItemCaseSensitive(dev, "out");
            out = cJSON_IsString(o2) ? o2->valuestring : NULL;
        }
    }
    fprintf(stderr,
            "test_reliability: %d readings of 9e8 kW from %s to %s: peak %.1f kW, meter %s\n", sent,
            start, until, peak, out != NULL ? out : "in");
    REQUIRE(peak > 0 && peak <= SITE_BOUND_KW, "the billing peak became %.1f kW", peak);
    REQUIRE(out != NULL && strcmp(out, "implausible") == 0, "it_load is not marked implausible");
    cJSON_Delete(st);
    cJSON *state = read_state_file();
    double saved = jnum(state, "peak.kw");
    cJSON_Delete(state);
    REQUIRE(saved <= SITE_BOUND_KW, "the persisted peak is %.1f kW", saved);

    /* The rest of the site is planned, and the status says which device is out and why. */
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    plan = wait_schedule("command", id, PLAN_TIMEOUT_MS, NULL);
    REQUIRE(has_id(jget(plan, "batteries"), "bess1", true), "bess1 is not planned");
    cJSON_Delete(plan);
    cJSON *status = read_retained(ctx.t_status);
    const char *reason = jstr(status, "reason");
    fprintf(stderr, "test_reliability: status %s: %s\n", jstr(status, "state"), reason);
    REQUIRE(strcmp(jstr(status, "state"), "degraded") == 0 &&
                strstr(reason, "implausible: it_load (power_kw 9e+08") != NULL,
            "the status does not name the implausible meter: %s", reason);
    cJSON_Delete(status);
    service_ctx_finish();
}
END_TEST

/* ---- ## 2. Absurd capabilities and readings leave one device out, not the site ---- */

START_TEST(test_absurd_devices)
{
    site_ctx_init("r2-absurd");
    char extra[2 * FILE_LEN];
    snprintf(extra, sizeof extra,
             ",\n  {\"plugin\": \"battery_sim\", \"name\": \"bess_big\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/big\", \"capacity_kwh\": 1e300,\n"
             "    \"charge_max_kw\": 1000, \"discharge_max_kw\": 1000}}",
             ctx.prefix);
    add_rogue(extra, sizeof extra, "liar", "\"power_kw\": -1e12");
    cfg_opts_t o = default_opts();
    o.speed = 300.0;
    o.extra_plugins = extra;
    write_config(&o);
    /* Not settled (start_with_bus): the absurd devices' own re-plan may fail before the others
     * report, and a second failure with the same status is not logged again. */
    const char *topics[] = {ctx.t_status, ctx.t_schedule, ctx.t_state, NULL};
    bus_open(topics);
    start_service(false);
    /* Before: every scenario was refused for bess_big's 1e300 kWh ("no plan"). */
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    const cJSON *left_out = jget(plan, "plan.inputs.stale_devices");
    REQUIRE(has_id(jget(plan, "batteries"), "bess1", true), "bess1 is not planned");
    REQUIRE(!has_id(jget(plan, "batteries"), "bess_big", true) &&
                !has_id(jget(plan, "batteries"), "liar", true),
            "an absurd battery is in the plan");
    REQUIRE(has_id(left_out, "bess_big", false) && has_id(left_out, "liar", false),
            "the absurd batteries are not listed as left out");
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    /* Its first implausible answer names it: the capacity, or the 5e299 kWh it reads as held. */
    cJSON *status = wait_status("implausible: bess_big (", NULL, PLAN_TIMEOUT_MS);
    const char *reason = jstr(status, "reason");
    fprintf(stderr, "test_reliability: status %s: %s\n", jstr(status, "state"), reason);
    REQUIRE(strcmp(jstr(status, "state"), "degraded") == 0 &&
                (strstr(reason, "e+300") != NULL || strstr(reason, "e+299") != NULL) &&
                strstr(reason, "liar (power_kw -1e+12") != NULL,
            "the status does not name both devices: %s", reason);
    cJSON_Delete(status);
    (void)id;

    /* A step later, the peak is still what the site can draw (the liar posts -1e12 kW, i.e. a
     * charge of 1e12 kW, every tick). */
    cJSON *st = state_after("", 5000);
    char until[64];
    snprintf(until, sizeof until, "%.40s", jstr(st, "time"));
    cJSON_Delete(st);
    int hour = atoi(until + 11);
    char later[128];
    snprintf(later, sizeof later, "%.11s%02d%.40s", until, hour + 1, until + 13);
    st = state_after(later, 20000);
    double peak = jnum(st, "peak_kw");
    cJSON_Delete(st);
    fprintf(stderr, "test_reliability: peak %.1f kW at %s\n", peak, later);
    REQUIRE(peak <= SITE_BOUND_KW, "the billing peak became %.1f kW", peak);
    service_ctx_finish();
}
END_TEST

/* ---- ## 2b. Readings from the future: refused, and nothing is wedged ---- */

/* it_load's entry in a P/state snapshot. */
static const cJSON *state_device(const cJSON *st, const char *id)
{
    const cJSON *dev = NULL;
    cJSON_ArrayForEach(dev, jget(st, "devices"))
    {
        if (strcmp(jstr(dev, "id"), id) == 0) {
            return dev;
        }
    }
    return NULL;
}

START_TEST(test_future_readings)
{
    site_ctx_init("r2b-future");
    /* A plugin that stamps every reading a day ahead of the clock. */
    char extra[FILE_LEN + 256] = "";
    add_rogue(extra, sizeof extra, "ahead",
              "\"ts_ahead_ms\": 86400000, \"read_interval_ms\": 1000");
    cfg_opts_t o = default_opts();
    o.speed = 300.0;
    o.extra_plugins = extra;
    write_config(&o);
    char t_meter[192];
    snprintf(t_meter, sizeof t_meter, "%s/dev/meter/telemetry", ctx.prefix);
    /* Not settled (start_with_bus): the implausible device's own re-plan may fail before the
     * others report, and a second failure with the same status is not logged again. */
    const char *topics[] = {ctx.t_status, ctx.t_schedule, ctx.t_state, t_meter, NULL};
    bus_open(topics);
    size_t from = start_service(false);
    /* The service refuses its readings: they would look fresh for a day. */
    cJSON *status = wait_status("implausible: ahead (timestamp_ms", NULL, PLAN_TIMEOUT_MS);
    fprintf(stderr, "test_reliability: status %s: %s\n", jstr(status, "state"),
            jstr(status, "reason"));
    REQUIRE(strstr(jstr(status, "reason"), "s ahead of the site clock (at most 60 s)") != NULL,
            "the status does not say why: %s", jstr(status, "reason"));
    cJSON_Delete(status);

    /* A forged meter message a day ahead: its driver refuses it, so the meter's next genuine
     * telemetry is not held back as "older" and the meter stays fresh. */
    long long genuine = next_meter_ts(t_meter, 1234.5, 0);
    char forged[128];
    snprintf(forged, sizeof forged, "{\"ts\":%lld,\"power_kw\":1234.5}", genuine + 86400000);
    publish(t_meter, forged, 0);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "it_load] driver: telemetry on", 5000),
            "the meter's driver did not refuse the forged telemetry");
    char line[1024];
    log_line(from, "it_load] driver: telemetry on", line, sizeof line);
    fprintf(stderr, "test_reliability: %s\n", line);
    REQUIRE(strstr(line, "s ahead of the host clock (at most 60 s)") != NULL, "%s", line);
    /* Two genuine messages later (so the service has read one after the forgery), P/state. */
    long long seen = next_meter_ts(t_meter, 1234.5, genuine);
    next_meter_ts(t_meter, 1234.5, seen);
    cJSON_Delete(state_after("", 5000)); /* the snapshot in flight may predate the last one */
    cJSON *st = state_after("", 5000);
    const cJSON *meter = state_device(st, "it_load");
    REQUIRE(meter != NULL, "no it_load in P/state");
    double kw = jnum(meter, "power_kw"), age = jnum(meter, "age_s");
    fprintf(stderr, "test_reliability: it_load after the forgery: %.1f kW, %.1f s old\n", kw, age);
    REQUIRE(kw != 1234.5 && age >= 0 && age < 600,
            "the meter holds the forged reading (%.1f kW, age %.1f s)", kw, age);
    const cJSON *ahead = state_device(st, "ahead");
    REQUIRE(ahead != NULL && strcmp(jstr(ahead, "out"), "implausible") == 0,
            "the plugin from the future is not out");
    cJSON_Delete(st);
    service_ctx_finish();
}
END_TEST

/* ---- ## 3. A plugin whose read blocks is taken out; the site keeps its pace ---- */

/* With instance `name` taken out, a price gives its schedule within the usual latency, without
 * name's device and with bess1. Returns the schedule (the caller deletes it). */
static cJSON *plan_without(const char *name)
{
    double latency = 0;
    cJSON *plan = publish_prices_and_plan(NULL, &latency);
    fprintf(stderr, "test_reliability: price -> schedule %.1f ms with %s out\n", latency, name);
    REQUIRE(latency < 1000.0, "the schedule came %.1f ms after the price", latency);
    REQUIRE(has_id(jget(plan, "plan.inputs.stale_devices"), name, false),
            "the stuck plugin's device %s is not left out of the plan", name);
    REQUIRE(has_id(jget(plan, "batteries"), "bess1", true), "bess1 is not planned");
    return plan;
}

START_TEST(test_stuck_plugin)
{
    site_ctx_init("r3-stuck");
    char extra[FILE_LEN + 256] = "";
    add_rogue(extra, sizeof extra, "slow", "\"block_read_ms\": 1500, \"read_interval_ms\": 100");
    cfg_opts_t o = default_opts();
    o.extra_plugins = extra;
    /* The defaults: a 1000 ms budget, 3 overruns, the first probe a minute later. */
    write_config(&o);
    const char *topics[] = {ctx.t_status, ctx.t_schedule, NULL};
    bus_open(topics);
    size_t from = start_service(false);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "plugin instance slow: 3 calls over the 1000 ms",
                                  20000),
            "the blocking plugin was not taken out");
    char *log = log_since(from);
    size_t out_at = from + (size_t)(strstr(log, "plugin instance slow: 3 calls") - log);
    free(log);
    char line[1024];
    log_line(from, "plugin instance slow: 3 calls", line, sizeof line);
    fprintf(stderr, "test_reliability: %s\n", line);

    /* The loop answers at once again: a price gives its schedule within the usual latency. */
    cJSON_Delete(plan_without("slow"));
    cJSON *status = wait_status("plugin stuck: slow", NULL, PLAN_TIMEOUT_MS);
    fprintf(stderr, "test_reliability: status: %s\n", jstr(status, "reason"));
    cJSON_Delete(status);
    /* Not called since (its read timer ran every 100 ms all along). */
    log = log_since(out_at);
    int reads = test_count_substr(log, "[test_rogue:slow] read #");
    free(log);
    REQUIRE(reads == 0, "%d reads of the stuck plugin after it was taken out", reads);
    double t0 = test_now_ms();
    service_ctx_finish();
    fprintf(stderr, "test_reliability: SIGTERM -> exit 0 in %.1f ms with the plugin out\n",
            test_now_ms() - t0);
}
END_TEST

/* ---- ## 3b. The recovery rule: a probe that answers in time brings the plugin back ---- */

/* Write the site's config with more plugin entries (extra: ",\n  {...}") and a reliability
 * section of budget_ms, 3 overruns and retry_s; open the bus on status and schedule; start the
 * service (unsettled). Returns the run's log offset. */
static size_t start_rogue_site(const char *extra, int budget_ms, int retry_s)
{
    static char top[256];
    snprintf(top, sizeof top,
             ",\n \"reliability\": {\"plugin_call_budget_ms\": %d, \"plugin_overruns\": 3,"
             " \"plugin_retry_seconds\": %d}",
             budget_ms, retry_s);
    cfg_opts_t o = default_opts();
    o.extra_plugins = extra;
    o.top_options = top;
    write_config(&o);
    const char *topics[] = {ctx.t_status, ctx.t_schedule, NULL};
    bus_open(topics);
    return start_service(false);
}

/* Waits (from the log offset `from` on) for instance `name` to be taken out after 3 overruns and
 * for a probe to bring it back, not before its retry (2 s in these tests). Returns the log
 * offset of the probe's line; *after_ms: how long after the take-out it came. */
static size_t wait_taken_out_and_back(size_t from, const char *name, double *after_ms)
{
    char out[128], back[128];
    snprintf(out, sizeof out, "plugin instance %s: 3 calls over", name);
    snprintf(back, sizeof back, "plugin instance %s: probe answered", name);
    REQUIRE(test_service_wait_log(&ctx.svc, from, out, 20000), "%s was not taken out", name);
    double t_out = test_now_ms();
    REQUIRE(test_service_wait_log(&ctx.svc, from, back, 10000), "no probe brought %s back", name);
    *after_ms = test_now_ms() - t_out;
    REQUIRE(*after_ms >= 1500, "the probe came %.0f ms after the take-out, before its 2 s",
            *after_ms);
    char *log = log_since(from);
    size_t at = from + (size_t)(strstr(log, back) - log);
    free(log);
    return at;
}

/* The recovered instance's device `name` rejoins: planned again, and the status no longer says
 * a plugin is stuck. (Its readings never went stale while it was out, so the log has no
 * "readings again" line for it: only its first reading, from the start.) */
static void assert_rejoined(size_t from, const char *name)
{
    char first[128];
    snprintf(first, sizeof first, "device %s: first reading; in the plan", name);
    REQUIRE(test_service_wait_log(&ctx.svc, from, first, 10000), "the device %s never reported",
            name);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    REQUIRE(has_id(jget(plan, "batteries"), name, true), "the recovered device %s is not planned",
            name);
    cJSON_Delete(plan);
    cJSON *status = read_retained(ctx.t_status);
    REQUIRE(strstr(jstr(status, "reason"), "plugin stuck") == NULL,
            "the status still says the plugin is stuck: %s", jstr(status, "reason"));
    cJSON_Delete(status);
}

START_TEST(test_stuck_plugin_recovers)
{
    site_ctx_init("r3b-recover");
    char extra[FILE_LEN + 256] = "";
    /* Its first three reads block 1.5 s, then it answers at once. */
    add_rogue(extra, sizeof extra, "slow",
              "\"block_read_ms\": 1500, \"block_reads\": 3, \"read_interval_ms\": 100");
    size_t from = start_rogue_site(extra, 500, 2);
    double after;
    wait_taken_out_and_back(from, "slow", &after);
    char line[1024];
    log_line(from, "plugin instance slow: probe answered", line, sizeof line);
    fprintf(stderr, "test_reliability: %s (%.0f ms after it was taken out; retry 2 s)\n", line,
            after);
    assert_rejoined(from, "slow");
    service_ctx_finish();
}
END_TEST

/* ---- ## 3c. A plugin whose own timer callback blocks is taken out too ---- */

/* The log offset just past the n-th line containing needle from `from` on, waiting up to
 * timeout_ms for each (fails the test when one does not come). */
static size_t wait_log_lines(size_t from, const char *needle, int n, int timeout_ms)
{
    for (int i = 0; i < n; i++) {
        REQUIRE(test_service_wait_log(&ctx.svc, from, needle, timeout_ms),
                "no \"%s\" (%d of %d) within %d ms", needle, i + 1, n, timeout_ms);
        char *log = log_since(from);
        char *at = strstr(log, needle);
        REQUIRE(at != NULL, "\"%s\" left the log", needle);
        from += (size_t)(at - log) + strlen(needle);
        free(log);
    }
    return from;
}

/* Two rogue instances with timers of their own every 100 ms (plugin entries for
 * start_rogue_site): "slowt", whose timer callback blocks 300 ms (first `blocking` calls only, 0:
 * all), and "ticker", whose does not and serves as the test's clock. */
static const char *timer_plugins(int blocking)
{
    static char extra[2 * FILE_LEN + 512];
    char options[160];
    snprintf(options, sizeof options,
             "\"timer_interval_ms\": 100, \"read_interval_ms\": 100, \"block_timer_ms\": 300,"
             " \"block_timers\": %d",
             blocking);
    extra[0] = '\0';
    add_rogue(extra, sizeof extra, "slowt", options);
    add_rogue(extra, sizeof extra, "ticker", "\"timer_interval_ms\": 100");
    return extra;
}

/* The time of day of a log line ("2026-...T06:23:11.541Z gridems[...] ...") in ms. */
static double log_stamp_ms(const char *line)
{
    int h = 0;
    int m = 0;
    double sec = 0;
    REQUIRE(strlen(line) > 23 && sscanf(line + 11, "%d:%d:%lfZ", &h, &m, &sec) == 3,
            "no time stamp in \"%s\"", line);
    return ((h * 60.0 + m) * 60.0 + sec) * 1000.0;
}

START_TEST(test_stuck_timer_callback)
{
    site_ctx_init("r3c-timer");
    double t_start = test_now_ms();
    size_t from = start_rogue_site(timer_plugins(0), 200, 600);
    REQUIRE(
        test_service_wait_log(&ctx.svc, from, "plugin instance slowt: timer callback took", 20000),
        "no overrun of the blocking timer callback was counted");
    REQUIRE(test_service_wait_log(&ctx.svc, from,
                                  "plugin instance slowt: 3 calls over the 200 ms budget (the "
                                  "last: timer callback",
                                  20000),
            "the plugin whose timer callback blocks was not taken out");
    double t_out = test_now_ms();
    char *log = log_since(from);
    size_t out_at = from + (size_t)(strstr(log, "plugin instance slowt: 3 calls") - log);
    int blocked = test_count_substr(log, "[test_rogue:slowt] timer #");
    free(log);
    char line[1024];
    log_line(from, "plugin instance slowt: 3 calls", line, sizeof line);
    char first[1024];
    log_line(from, "plugin instance slowt: timer callback took", first, sizeof first);
    /* Its three blocking ticks (300 ms each, 100 ms apart) take about 1.1 s from its init; the
     * log's own time stamps give the span from the first overrun to the take-out. */
    fprintf(stderr,
            "test_reliability: %s\ntest_reliability: %s (seen %.0f ms after the service was "
            "started; %.0f ms after the first overrun)\n",
            first, line, t_out - t_start, log_stamp_ms(line) - log_stamp_ms(first));
    REQUIRE(blocked == 3, "%d timer callbacks ran before the take-out, expected 3", blocked);

    /* The loop answers at once again, and the site still plans (without slowt's battery). */
    cJSON *plan = plan_without("slowt");
    REQUIRE(has_id(jget(plan, "batteries"), "ticker", true), "ticker is not planned");
    cJSON_Delete(plan);
    cJSON *status = wait_status("plugin stuck: slowt (timer callback", NULL, PLAN_TIMEOUT_MS);
    fprintf(stderr, "test_reliability: status %s: %s\n", jstr(status, "state"),
            jstr(status, "reason"));
    REQUIRE(strcmp(jstr(status, "state"), "degraded") == 0, "the status is %s",
            jstr(status, "state"));
    cJSON_Delete(status);

    /* Ten ticks of the other instance's timer (same 100 ms) later, slowt's was not called once. */
    size_t until = wait_log_lines(out_at, "[test_rogue:ticker] timer #", 10, 5000);
    log = log_since(out_at);
    log[until - out_at] = '\0';
    int after = test_count_substr(log, "[test_rogue:slowt] timer #");
    free(log);
    fprintf(stderr, "test_reliability: %d calls of slowt's timer during 10 ticks of ticker's\n",
            after);
    REQUIRE(after == 0, "slowt's timer callback ran %d times after the take-out", after);
    service_ctx_finish();
}
END_TEST

/* ---- ## 3d. Recovered, its timer callback is called again ---- */

START_TEST(test_stuck_timer_callback_recovers)
{
    site_ctx_init("r3d-timer-recover");
    /* Its first three timer callbacks block 300 ms, then it answers at once. */
    size_t from = start_rogue_site(timer_plugins(3), 200, 2);
    double after;
    size_t back_at = wait_taken_out_and_back(from, "slowt", &after);
    /* Its timer resumes: the next call is its fourth (the held ticks were dropped, not queued). */
    REQUIRE(test_service_wait_log(&ctx.svc, back_at, "[test_rogue:slowt] timer #4", 5000),
            "slowt's timer callback was not called again after the recovery");
    fprintf(stderr, "test_reliability: slowt back %.0f ms after the take-out (retry 2 s)\n", after);
    assert_rejoined(from, "slowt");
    service_ctx_finish();
}
END_TEST

/* ---- ## 3e. Back, on probation: one overrun takes it out again, the wait doubles ---- */

/* Instance `name`, whose 100 ms timer callback blocks 300 ms for its first 4 calls (budget
 * 200 ms, 3 overruns, retry 2 s), comes back after 2 s by `back` (a read probe, or, without
 * devices, its wait being over); its 4th callback blocks again and takes it out at once (not
 * after 3 more), for twice the wait; back again about 4 s later, its 5th callback does not
 * block and it stays. */
static void assert_probation(size_t from, const char *name, const char *back)
{
    char out[128], back_line[256], relapse[128], tick4[64], tick6[64], line[1024];
    snprintf(out, sizeof out, "plugin instance %s: 3 calls over", name);
    snprintf(back_line, sizeof back_line, "plugin instance %s: %s", name, back);
    snprintf(relapse, sizeof relapse, "plugin instance %s: timer callback took", name);
    snprintf(tick4, sizeof tick4, "[test_rogue:%s] timer #4", name);
    snprintf(tick6, sizeof tick6, "[test_rogue:%s] timer #6", name);
    REQUIRE(test_service_wait_log(&ctx.svc, from, out, 20000), "%s was not taken out", name);
    size_t first_back = wait_log_lines(from, back_line, 1, 10000);
    char out_line[1024];
    log_line(from, out, out_line, sizeof out_line);
    log_line(from, back_line, line, sizeof line);
    REQUIRE(strstr(line, "on probation for 2 s") != NULL, "not on probation: %s", line);
    fprintf(stderr, "test_reliability: %s back %.0f ms after it was taken out (retry 2 s)\n", name,
            log_stamp_ms(line) - log_stamp_ms(out_line));
    REQUIRE(test_service_wait_log(&ctx.svc, first_back, tick4, 5000),
            "%s's timer callback was not called again", name);
    size_t again = wait_log_lines(first_back, " on probation; out again", 1, 5000);
    log_line(first_back, " on probation; out again", line, sizeof line);
    fprintf(stderr, "test_reliability: %s\n", line);
    REQUIRE(strstr(line, relapse) != NULL && strstr(line, "next probe in 4 s") != NULL,
            "not taken out again at its first overrun on probation, for twice the wait: %s", line);
    /* One overrun, not three: the relapse line follows the 4th callback directly. */
    char *log = log_since(first_back);
    log[again - first_back] = '\0';
    int overruns = test_count_substr(log, relapse);
    free(log);
    REQUIRE(overruns == 1, "%d overruns counted on probation before the take-out", overruns);
    double t_again = log_stamp_ms(line);
    size_t second_back = wait_log_lines(again, back_line, 1, 10000);
    log_line(again, back_line, line, sizeof line);
    double waited = log_stamp_ms(line) - t_again; /* the service's own time stamps */
    fprintf(stderr, "test_reliability: %s back again %.0f ms after the relapse (wait 4 s)\n", name,
            waited);
    REQUIRE(waited >= 3500, "back %.0f ms after the relapse, before its doubled 4 s", waited);
    REQUIRE(test_service_wait_log(&ctx.svc, second_back, tick6, 5000),
            "%s's timer did not run on after its second return", name);
    log = log_since(second_back);
    REQUIRE(strstr(log, " on probation; out again") == NULL,
            "%s was taken out again though its callbacks no longer block", name);
    free(log);
}

START_TEST(test_relapse_on_probation)
{
    site_ctx_init("r3e-relapse");
    size_t from = start_rogue_site(timer_plugins(4), 200, 2);
    /* Its read answers in time (the probe) while its timer callback still blocks. */
    assert_probation(from, "slowt", "probe answered");
    service_ctx_finish();
}
END_TEST

START_TEST(test_deviceless_instance_recovers)
{
    site_ctx_init("r3f-deviceless");
    /* An instance with no device (no read to probe it with): its timer alone. */
    char extra[FILE_LEN + 512] = "";
    add_rogue(extra, sizeof extra, "quiet",
              "\"device\": false, \"timer_interval_ms\": 100, \"block_timer_ms\": 300,"
              " \"block_timers\": 4");
    size_t from = start_rogue_site(extra, 200, 2);
    assert_probation(from, "quiet", "its wait is over and it has no device to probe; called again");
    service_ctx_finish();
}
END_TEST

/* ---- ## 4. SIGTERM while a plugin call blocks: bounded; systemd's watchdog stops ---- */

/* A datagram socket at path, as systemd's NOTIFY_SOCKET. */
static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0, "cannot bind %s: %s",
            path, strerror(errno));
    return fd;
}

/* The next datagram within timeout_ms into buf, or -1. */
static int notify_next(int fd, char *buf, size_t len, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, len - 1, 0);
    if (n < 0) {
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

START_TEST(test_sigterm_blocked_plugin)
{
    site_ctx_init("r4-sigterm");
    char extra[FILE_LEN + 256] = "";
    add_rogue(extra, sizeof extra, "slow", "\"block_read_ms\": 4000, \"read_interval_ms\": 100");
    cfg_opts_t o = default_opts();
    o.extra_plugins = extra;
    /* Never taken out: the worst case, every read blocks the loop for 4 s. */
    o.top_options =
        ",\n \"reliability\": {\"plugin_call_budget_ms\": 500, \"plugin_overruns\": 1000}";
    write_config(&o);
    char sock[100];
    REQUIRE(snprintf(sock, sizeof sock, "%s/notify", ctx.dir) < (int)sizeof sock,
            "the temporary directory's path is too long for a socket");
    int fd = notify_socket(sock);
    setenv("NOTIFY_SOCKET", sock, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    unsetenv("WATCHDOG_PID");
    size_t from = test_service_log_size(&ctx.svc);
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    ctx.expect_running = true;
    char dgram[256];
    bool ready = false;
    double last_ping = 0, worst_gap = 0;
    double deadline = test_now_ms() + 20000;
    /* READY=1 comes after start-up; WATCHDOG=1 comes from the loop, so it stops while a read
     * blocks. Watch until a gap of 3 s or more is seen. */
    while (test_now_ms() < deadline && worst_gap < 3000) {
        if (notify_next(fd, dgram, sizeof dgram, 500) != 0) {
            continue;
        }
        double now = test_now_ms();
        ready = ready || strstr(dgram, "READY=1") != NULL;
        if (strstr(dgram, "WATCHDOG=1") != NULL) {
            if (last_ping > 0 && now - last_ping > worst_gap) {
                worst_gap = now - last_ping;
            }
            last_ping = now;
        }
    }
    fprintf(stderr, "test_reliability: READY=1 %s; longest gap between WATCHDOG=1: %.0f ms\n",
            ready ? "seen" : "missing", worst_gap);
    REQUIRE(ready, "no READY=1 on NOTIFY_SOCKET");
    REQUIRE(worst_gap >= 3000, "WATCHDOG=1 kept coming while the loop was blocked (gap %.0f ms)",
            worst_gap);

    /* SIGTERM right as a read begins to block: the worst case. */
    size_t at = test_service_log_size(&ctx.svc);
    REQUIRE(test_service_wait_log(&ctx.svc, at, "blocking 4000 ms", 10000),
            "no blocking read to interrupt");
    ctx.expect_running = false;
    double t0 = test_now_ms();
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service ended early");
    int status = test_service_wait_exit(&ctx.svc, 10000);
    double delay = test_now_ms() - t0;
    fprintf(stderr,
            "test_reliability: SIGTERM during a 4000 ms read -> exit %d in %.1f ms "
            "(bound %d ms)\n",
            status, delay, 2000);
    close(fd);
    REQUIRE(status == 1, "exit status %d (-1: still running after 10 s)", status);
    REQUIRE(delay < 2000 + 1500, "SIGTERM took %.1f ms", delay);
    char *log = log_since(from);
    bool said = strstr(log, "did not begin the shutdown within 2000 ms") != NULL;
    free(log);
    REQUIRE(said, "the log does not say why the process ended");
    service_ctx_check_log_clean();
    service_ctx_release();
}
END_TEST

/* ---- ## 5. DR events survive kill -9; leftover temporary files are removed ---- */

START_TEST(test_dr_event_restart)
{
    site_ctx_init("r5-dr");
    cfg_opts_t o = default_opts();
    write_config(&o);
    char t_event[192];
    snprintf(t_event, sizeof t_event, "%s/in/event", ctx.prefix);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    /* Not retained: the broker will not hand it out again. */
    publish(t_event,
            "{\"id\":\"evt-cap\",\"start\":\"2023-05-08T06:00:00+09:00\",\"end\":"
            "\"2023-05-08T08:00:00+09:00\",\"import_limit_kw\":7000}",
            0);
    plan = wait_schedule("event", id, PLAN_TIMEOUT_MS, NULL);
    id = jnum(plan, "plan.id");
    REQUIRE(jnum(plan, "plan.inputs.dr_events") == 1, "the event is not in the plan");
    cJSON_Delete(plan);

    test_service_kill(&ctx.svc);
    ctx.expect_running = false;
    char tmp[FILE_LEN];
    snprintf(tmp, sizeof tmp, "%s/state.json.tmp.Ab12Cd", ctx.state_dir);
    REQUIRE(test_write_file(tmp, "{\"half\":") == 0, "cannot write %s", tmp);

    size_t from = start_service(false);
    plan = wait_schedule(NULL, id, PLAN_TIMEOUT_MS, NULL);
    double events = jnum(plan, "plan.inputs.dr_events");
    const cJSON *ev = cJSON_GetArrayItem(jget(plan, "plan.inputs.scenario.events"), 0);
    double cap = ev != NULL ? jnum(ev, "import_limit_kw") : -1;
    cJSON_Delete(plan);
    fprintf(stderr, "test_reliability: after kill -9: %.0f DR event(s), cap %.0f kW\n", events,
            cap);
    REQUIRE(events == 1 && cap == 7000, "the DR event was lost (%.0f events, cap %.0f)", events,
            cap);
    REQUIRE(access(tmp, F_OK) != 0, "%s is still there", tmp);
    char line[1024];
    log_line(from, "temporary file", line, sizeof line);
    fprintf(stderr, "test_reliability: %s\n", line);
    /* Ours, and any a save interrupted by the kill left. */
    REQUIRE(strstr(line, "removed ") != NULL, "no clean-up logged: %s", line);
    service_ctx_finish();
}
END_TEST

/* ---- ## 6. One service per state_dir ---- */

START_TEST(test_state_dir_lock)
{
    site_ctx_init("r6-lock");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    test_service_t second;
    memset(&second, 0, sizeof second);
    char log2[FILE_LEN];
    snprintf(log2, sizeof log2, "%s/second.log", ctx.dir);
    test_service_start(&second, ctx.cfg_path, log2);
    int status = test_service_wait_exit(&second, 10000);
    char *text = test_service_log(&second);
    char want[128];
    snprintf(want, sizeof want, "is in use by another gridems (pid %ld", (long)ctx.svc.pid);
    bool named = text != NULL && strstr(text, want) != NULL;
    const char *line = text != NULL ? strstr(text, "state_dir") : NULL;
    fprintf(stderr, "test_reliability: second instance: exit %d: %.*s\n", status,
            line != NULL ? (int)strcspn(line, "\n") : 0, line != NULL ? line : "");
    free(text);
    test_service_cleanup(&second);
    REQUIRE(status == 1, "the second instance's exit status is %d", status);
    REQUIRE(named, "the second instance does not name pid %ld", (long)ctx.svc.pid);
    REQUIRE(test_service_running(&ctx.svc), "the first instance ended");
    service_ctx_finish();
}
END_TEST

/* ---- ## 7. A state_dir that cannot be written: degraded with the real errno ---- */

START_TEST(test_state_not_persisted)
{
    site_ctx_init("r7-persist");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    /* As root, permissions stop nothing; a directory where state.json must go stops the rename
     * with EISDIR, whoever runs it. */
    char path[FILE_LEN], keep[FILE_LEN + 8];
    snprintf(path, sizeof path, "%s/state.json", ctx.state_dir);
    snprintf(keep, sizeof keep, "%s/keep", path);
    /* The plan's own save may still be on its way: retry until the directory is in place. */
    double deadline = test_now_ms() + 5000;
    while (mkdir(path, 0700) != 0 && test_now_ms() < deadline) {
        REQUIRE(unlink(path) == 0 || errno == ENOENT, "cannot remove %s", path);
    }
    REQUIRE(mkdir(keep, 0700) == 0, "cannot put a directory at %s", path);
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    plan = wait_schedule("command", id, PLAN_TIMEOUT_MS, NULL);
    id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    cJSON *status = wait_status("state not persisted", NULL, PLAN_TIMEOUT_MS);
    fprintf(stderr, "test_reliability: status %s: %s\n", jstr(status, "state"),
            jstr(status, "reason"));
    REQUIRE(strcmp(jstr(status, "state"), "degraded") == 0 &&
                strstr(jstr(status, "reason"), "state not persisted: Is a directory") != NULL,
            "status %s: %s", jstr(status, "state"), jstr(status, "reason"));
    cJSON_Delete(status);

    /* Until a save succeeds. */
    REQUIRE(rmdir(keep) == 0 && rmdir(path) == 0, "cannot remove %s", path);
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    plan = wait_schedule("command", id, PLAN_TIMEOUT_MS, NULL);
    cJSON_Delete(plan);
    status = wait_status("\"state\":\"online\"", "not persisted", PLAN_TIMEOUT_MS);
    cJSON_Delete(status);
    REQUIRE(access(path, R_OK) == 0, "state.json was not written again");
    service_ctx_finish();
}
END_TEST

/* ---- ## 8. One strict JSON policy for every input; rejections logged per time window ---- */

START_TEST(test_strict_inputs)
{
    site_ctx_init("r8-strict");
    cfg_opts_t o = default_opts();
    write_config(&o);
    char t_event[192];
    snprintf(t_event, sizeof t_event, "%s/in/event", ctx.prefix);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    double r0 = rejected_count(0);
    size_t from = test_service_log_size(&ctx.svc);

    /* A command with trailing bytes, and one with a NUL: the cmd topic took both as "replan". */
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"} trailing", 0);
    static const char with_nul[] = "{\"cmd\":\"replan\"}\0junk";
    REQUIRE(wire_publish_len(ctx.bus, ctx.t_cmd, with_nul, sizeof with_nul - 1, 1, 0, 5000) == 0,
            "cannot publish");
    /* Each first rejection on a topic is logged with its reason; the rest are counted. */
    char t_carbon[192];
    snprintf(t_carbon, sizeof t_carbon, "%s/in/carbon", ctx.prefix);
    static const char carbon_nul[] = "{\"start\":\"2023-05-08T00:00:00+09:00\",\"step_minutes\":30,"
                                     "\"values\":[0.4]}\0";
    REQUIRE(wire_publish_len(ctx.bus, t_carbon, carbon_nul, sizeof carbon_nul - 1, 1, 0, 5000) == 0,
            "cannot publish");
    /* A forecast with a duplicate key (it used to take the last "values"). */
    publish(ctx.t_price,
            "{\"start\":\"2023-05-08T00:00:00+09:00\",\"step_minutes\":30,\"values\":[9],"
            "\"values\":[1,2],\"unit\":\"kWh\",\"currency\":\"JPY\"}",
            0);
    /* An event whose id is not UTF-8. */
    publish(t_event,
            "{\"id\":\"ev\xff\xfe\",\"start\":\"2023-05-08T06:00:00+09:00\","
            "\"end\":\"2023-05-08T07:00:00+09:00\",\"import_limit_kw\":100}",
            0);
    double r1 = rejected_count(r0 + 5);
    REQUIRE(r1 == r0 + 5, "rejected %.0f -> %.0f, expected +5", r0, r1);
    char *log = log_since(from);
    bool trailing = strstr(log, "trailing data") != NULL, nul = strstr(log, "NUL byte") != NULL;
    bool dup = strstr(log, "duplicate key \\\"values\\\"") != NULL ||
               strstr(log, "duplicate key \"values\"") != NULL;
    bool utf8 = strstr(log, "invalid UTF-8") != NULL, raw = strchr(log, '\xff') != NULL;
    bool replanned = strstr(log, "operator command: replan") != NULL;
    free(log);
    REQUIRE(trailing && nul && dup && utf8, "reasons missing: trailing %d nul %d dup %d utf8 %d",
            trailing, nul, dup, utf8);
    REQUIRE(!raw, "an invalid UTF-8 byte reached the log");
    REQUIRE(!replanned, "a malformed command was obeyed");

    /* 40 event messages, one in five valid: one line per window, however they mix. */
    from = test_service_log_size(&ctx.svc);
    for (int i = 0; i < 40; i++) {
        publish(t_event, i % 5 == 4 ? "{\"id\":\"e1\",\"cancel\":true}" : "{\"id\":\"e1\"}", 0);
    }
    double r2 = rejected_count(r1 + 32);
    char needle[256];
    snprintf(needle, sizeof needle, "rejected message on %s", t_event);
    log = log_since(from);
    int lines = test_count_substr(log, needle);
    free(log);
    fprintf(stderr,
            "test_reliability: 32 invalid and 8 valid events: %d log line(s), %.0f "
            "counted\n",
            lines, r2 - r1);
    REQUIRE(r2 == r1 + 32, "rejected %.0f -> %.0f, expected +32", r1, r2);
    REQUIRE(lines == 0, "%d rejection lines within the window (the first was earlier)", lines);
    (void)id;
    service_ctx_finish();
}
END_TEST

/* ---- ## 9. Files refused at start-up are kept aside, not overwritten ---- */

START_TEST(test_refused_files_kept)
{
    site_ctx_init("r9-kept");
    cfg_opts_t o = default_opts();
    write_config(&o);
    REQUIRE(mkdir(ctx.state_dir, 0700) == 0 || errno == EEXIST, "cannot create %s", ctx.state_dir);
    /* A state whose billing-period peak an operator would want back, refused for the text after
     * it, and DR events refused for a duplicate key: before, the service started empty and its
     * next save overwrote both. */
    static const char state[] = "{\"version\":1,\"next_plan_id\":5,\"peak\":{\"kw\":9000}} x";
    static const char events[] =
        "{\"version\":1,\"kind\":\"gridems-dr-events\",\"events\":[],\"events\":[]}";
    char state_path[FILE_LEN], events_path[FILE_LEN], kept[FILE_LEN + 16];
    snprintf(state_path, sizeof state_path, "%s/state.json", ctx.state_dir);
    snprintf(events_path, sizeof events_path, "%s/dr_events.json", ctx.state_dir);
    REQUIRE(test_write_file(state_path, state) == 0, "cannot write %s", state_path);
    REQUIRE(test_write_file(events_path, events) == 0, "cannot write %s", events_path);
    size_t from = start_with_bus(NULL);
    char needle[FILE_LEN + 64];
    snprintf(needle, sizeof needle, "the file is kept as %s.rejected", state_path);
    REQUIRE(test_service_wait_log(&ctx.svc, from, needle, START_TIMEOUT_MS), "no \"%s\"", needle);
    snprintf(needle, sizeof needle, "the file is kept as %s.rejected", events_path);
    REQUIRE(test_service_wait_log(&ctx.svc, from, needle, START_TIMEOUT_MS), "no \"%s\"", needle);
    /* It plans on an empty state, and saves a new state.json beside the one kept. */
    cJSON_Delete(publish_prices_and_plan("price", NULL));
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    while (access(state_path, F_OK) != 0) {
        REQUIRE(test_now_ms() < deadline, "no new %s after a plan", state_path);
        test_sleep_ms(20);
    }
    snprintf(kept, sizeof kept, "%s.rejected", state_path);
    char *text = read_whole(kept);
    REQUIRE(strcmp(text, state) == 0, "%s holds \"%s\"", kept, text);
    free(text);
    snprintf(kept, sizeof kept, "%s.rejected", events_path);
    text = read_whole(kept);
    REQUIRE(strcmp(text, events) == 0, "%s holds \"%s\"", kept, text);
    free(text);
    service_ctx_finish();
}
END_TEST

static Suite *reliability_suite(void)
{
    const test_case_t cases[] = {
        {"telemetry_poisoning", test_telemetry_poisoning, 60},
        {"absurd_devices", test_absurd_devices, 60},
        {"future_readings", test_future_readings, 60},
        {"stuck_plugin", test_stuck_plugin, 60},
        {"stuck_plugin_recovers", test_stuck_plugin_recovers, 60},
        {"stuck_timer_callback", test_stuck_timer_callback, 60},
        {"stuck_timer_callback_recovers", test_stuck_timer_callback_recovers, 60},
        {"relapse_on_probation", test_relapse_on_probation, 60},
        {"deviceless_instance_recovers", test_deviceless_instance_recovers, 60},
        {"sigterm_blocked_plugin", test_sigterm_blocked_plugin, 60},
        {"dr_event_restart", test_dr_event_restart, 60},
        {"state_dir_lock", test_state_dir_lock, 45},
        {"state_not_persisted", test_state_not_persisted, 45},
        {"strict_inputs", test_strict_inputs, 45},
        {"refused_files_kept", test_refused_files_kept, 45},
    };
    return test_suite_from_cases("reliability", cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the reliability integration tests\n");
        return 77;
    }
    return test_run_suite(reliability_suite());
}
