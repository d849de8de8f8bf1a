/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "service_site.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "service_harness.h"
#include "test_util.h"

/* ---- ## Config and messages ---- */

cfg_opts_t default_opts(void)
{
    cfg_opts_t o = {
        30, 60.0, 86400, "\"jobs_per_day\": 6, \"job_energy_kwh\": 4000, \"job_power_kw\": 1200",
        "", 600,  "",    "",
        ""};
    return o;
}

void write_config(const cfg_opts_t *o)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    REQUIRE(f != NULL, "open_memstream failed");
    fprintf(f,
            "{\"site\": {\"id\": \"%s\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\",\n"
            "          \"import_limit_kw\": 20000, \"demand_charge_per_kw\": 60,\n"
            "          \"billing_period\": \"month\"},\n"
            " \"mqtt\": {\"uri\": \"%s\"},\n"
            " \"planner\": {\"step_minutes\": %d, \"horizon_steps\": 48, \"replan_seconds\": %d,\n"
            "             \"debounce_ms\": 200%s},\n"
            " \"clock\": {\"mode\": \"simulated\", \"start\": \"2023-05-08T00:00:00+09:00\",\n"
            "           \"speed\": %g},\n"
            " \"state_dir\": \"%s\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
            " \"plugins\": [\n"
            "  {\"plugin\": \"battery_sim\", \"name\": \"bess1\", \"options\": {\n"
            "    \"topic_prefix\": \"%s/dev/bess1\", \"capacity_kwh\": 4000, \"soc_kwh\": 2000,\n"
            "    \"soc_min_kwh\": 400, \"charge_max_kw\": 2000, \"discharge_max_kw\": 2000}},\n"
            "  {\"plugin\": \"meter_sim\", \"name\": \"it_load\", \"options\": {\n"
            "    \"topic_prefix\": \"%s/dev/meter\", \"base_kw\": 9000, \"swing_kw\": %g,\n"
            "    \"utc_offset_hours\": 9%s}},\n"
            "  {\"plugin\": \"cluster_sim\", \"name\": \"gpu\", \"options\": {\n"
            "    \"topic_prefix\": \"%s/dev/gpu\", \"power_cap_kw\": 3000, %s}}%s]%s}\n",
            ctx.site, ctx.broker.uri, o->step_minutes, o->replan_seconds, o->planner_options,
            o->speed, ctx.state_dir, GRIDEMS_TEST_PLUGIN_DIR, ctx.prefix, ctx.prefix,
            o->meter_swing_kw, o->meter_options, ctx.prefix, o->cluster_options, o->extra_plugins,
            o->top_options);
    fclose(f);
    int rc = test_write_file(ctx.cfg_path, text);
    free(text);
    REQUIRE(rc == 0, "cannot write %s", ctx.cfg_path);
}

/* The first n half-hourly prices of the JEPX Kansai week from 2023-05-08 00:00 JST. */
int read_jepx_prices(double *out, int n)
{
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%s/examples/data/jepx_kansai_2023-05-08_week.csv",
             GRIDEMS_TEST_SOURCE_DIR);
    char *text = test_read_file(path, NULL);
    REQUIRE(text != NULL, "cannot read %s", path);
    int got = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL && got < n;
         line = strtok_r(NULL, "\n", &save)) {
        const char *comma = strchr(line, ',');
        char *end = NULL;
        double v = comma != NULL ? strtod(comma + 1, &end) : NAN;
        if (comma != NULL && end != comma + 1 && isfinite(v)) {
            out[got++] = v; /* The header line has no number and is skipped. */
        }
    }
    free(text);
    return got;
}

/* A series-form price message from 2023-05-08 00:00 JST; the caller frees it. */
char *price_series(const double *values, int n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "start", "2023-05-08T00:00:00+09:00");
    cJSON_AddNumberToObject(root, "step_minutes", 30);
    cJSON_AddItemToObject(root, "values", cJSON_CreateDoubleArray(values, n));
    cJSON_AddStringToObject(root, "unit", "kWh");
    cJSON_AddStringToObject(root, "currency", "JPY");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    REQUIRE(text != NULL, "cannot print the price message");
    return text;
}

char *jepx_price_message(void)
{
    double values[96];
    int n = read_jepx_prices(values, 96);
    REQUIRE(n == 96, "the JEPX file has %d prices, expected at least 96", n);
    return price_series(values, n);
}

/* ---- ## JSON ---- */

cJSON *parse(const char *text)
{
    cJSON *root = cJSON_Parse(text);
    REQUIRE(root != NULL, "not JSON: %.300s", text);
    return root;
}

/* The member at a dotted path ("plan.inputs.scenario"), or NULL. */
const cJSON *jfind(const cJSON *root, const char *path)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", path);
    const cJSON *node = root;
    char *save = NULL;
    for (char *key = strtok_r(copy, ".", &save); key != NULL && node != NULL;
         key = strtok_r(NULL, ".", &save)) {
        node = cJSON_GetObjectItemCaseSensitive(node, key);
    }
    return node;
}

const cJSON *jget(const cJSON *root, const char *path)
{
    const cJSON *node = jfind(root, path);
    REQUIRE(node != NULL, "JSON member %s missing", path);
    return node;
}

double jnum(const cJSON *root, const char *path)
{
    const cJSON *node = jget(root, path);
    REQUIRE(cJSON_IsNumber(node), "JSON member %s is not a number", path);
    return node->valuedouble;
}

const char *jstr(const cJSON *root, const char *path)
{
    const cJSON *node = jget(root, path);
    REQUIRE(cJSON_IsString(node), "JSON member %s is not a string", path);
    return node->valuestring;
}

/* ---- ## MQTT ---- */

void bus_subscribe(const char *topic)
{
    REQUIRE(wire_subscribe(ctx.bus, topic, 5000) == 0, "cannot subscribe to %s", topic);
}

/* Connect the test's own client and subscribe it to topics (NULL-terminated). */
void bus_open(const char *const *topics)
{
    ctx.bus = wire_connect(ctx.broker.uri, 5000);
    REQUIRE(ctx.bus != NULL, "cannot connect to %s", ctx.broker.uri);
    for (int i = 0; topics[i] != NULL; i++) {
        bus_subscribe(topics[i]);
    }
}

void bus_close(void)
{
    wire_close(ctx.bus);
    ctx.bus = NULL;
}

void publish(const char *topic, const char *payload, int retain)
{
    REQUIRE(wire_publish(ctx.bus, topic, payload, 1, retain, 5000) == 0, "cannot publish on %s",
            topic);
}

/* The next message on topic containing needle (NULL = any), within timeout_ms; earlier ones on
 * topic that do not match are dropped. Returns 0 with *msg filled (wire_msg_free() it), or -1 on
 * timeout. Fails the test at once when the service ends while ctx.expect_running is set. */
int bus_wait(const char *topic, const char *needle, int timeout_ms, wire_msg_t *msg)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        double left = deadline - test_now_ms();
        int slice = left < SLICE_MS ? (int)fmax(left, 0) : SLICE_MS;
        if (wire_next(ctx.bus, topic, needle, slice, msg) == 0) {
            return 0;
        }
        if (ctx.expect_running) {
            REQUIRE(test_service_running(&ctx.svc), "the service ended (status %d)",
                    ctx.svc.status);
        }
        if (test_now_ms() >= deadline) {
            return -1;
        }
    }
}

/* The next schedule with plan.id > min_id and (unless NULL) plan.reason == reason; older or
 * other ones are skipped. *arrival_ms (may be NULL) receives when its last byte was read. The
 * caller deletes the result. */
cJSON *wait_schedule(const char *reason, double min_id, int timeout_ms, double *arrival_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_schedule, NULL, left, &msg) == 0,
                "no schedule (reason %s, id > %.0f) on %s within %d ms",
                reason != NULL ? reason : "any", min_id, ctx.t_schedule, timeout_ms);
        cJSON *root = parse(msg.payload);
        double arrived = msg.arrived_ms;
        wire_msg_free(&msg);
        const cJSON *id = jfind(root, "plan.id");
        const cJSON *why = jfind(root, "plan.reason");
        if (cJSON_IsNumber(id) && id->valuedouble > min_id &&
            (reason == NULL || (cJSON_IsString(why) && strcmp(why->valuestring, reason) == 0))) {
            if (arrival_ms != NULL) {
                *arrival_ms = arrived;
            }
            return root;
        }
        cJSON_Delete(root);
    }
}

/* The retained message on topic, read by a fresh client; the caller deletes it. */
cJSON *read_retained(const char *topic)
{
    wire_msg_t msg;
    REQUIRE(wire_read_one(ctx.broker.uri, topic, 2000, &msg) == 0, "no message on %s", topic);
    int retained = msg.retained;
    cJSON *root = parse(msg.payload);
    wire_msg_free(&msg);
    REQUIRE(retained, "the message on %s is not a retained one", topic);
    return root;
}

/* Wait for the status published with plan plan_id (after the schedule, on the same
 * connection), then return the retained status; the caller deletes it. */
cJSON *status_after_plan(double plan_id)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"plan_id\":%.0f,", plan_id);
    wire_msg_t msg;
    REQUIRE(bus_wait(ctx.t_status, needle, PLAN_TIMEOUT_MS, &msg) == 0, "no status for plan %.0f",
            plan_id);
    wire_msg_free(&msg);
    return read_retained(ctx.t_status);
}

/* Take the messages queued on topic until none comes for quiet_ms; return the highest plan.id
 * among them (schedules), or floor when none is higher. */
double drain(const char *topic, double floor, int quiet_ms)
{
    wire_msg_t msg;
    while (wire_next(ctx.bus, topic, NULL, quiet_ms, &msg) == 0) {
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        const cJSON *id = jfind(root, "plan.id");
        if (cJSON_IsNumber(id) && id->valuedouble > floor) {
            floor = id->valuedouble;
        }
        cJSON_Delete(root);
    }
    return floor;
}

/* ---- ## The service ---- */

/* The log from byte offset `from` on; the caller frees it. */
char *log_since(size_t from)
{
    char *log = test_service_log(&ctx.svc);
    REQUIRE(log != NULL, "cannot read %s", ctx.log_path);
    size_t len = strlen(log);
    if (from > 0) {
        from = from > len ? len : from;
        memmove(log, log + from, len - from + 1);
    }
    return log;
}

/*
 * Start the service on ctx.cfg_path and wait until it is connected and subscribed (its status
 * arrives: the service sends it after its subscriptions, on the same connection) and the battery
 * has reported (so that a plan includes it). ctx.bus must watch ctx.t_status. Status messages of
 * an earlier run still queued, and a retained or last-will "offline", are skipped. With settle
 * (only when no price is known yet), also wait until the re-plan the devices' first readings ask
 * for has failed. Returns the log offset where this run begins.
 */
size_t start_service(bool settle)
{
    drain(ctx.t_status, 0, 200);
    size_t from = test_service_log_size(&ctx.svc);
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    ctx.expect_running = true;
    double deadline = test_now_ms() + START_TIMEOUT_MS;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_status, "\"state\":", left, &msg) == 0,
                "no status from the service within %d ms", START_TIMEOUT_MS);
        bool offline = strstr(msg.payload, "\"state\":\"offline\"") != NULL;
        wire_msg_free(&msg);
        if (!offline) {
            break;
        }
    }
    REQUIRE(test_service_wait_log(&ctx.svc, from, "device bess1: first reading", START_TIMEOUT_MS),
            "the battery did not report within %d ms", START_TIMEOUT_MS);
    if (settle) {
        /* The devices' first readings request a re-plan; without prices it fails. Wait for that
         * failure, so that the next re-plan is the one the test triggers, with its own reason. */
        char *log = log_since(from);
        size_t readings = (size_t)(strstr(log, "device bess1: first reading") - log);
        free(log);
        REQUIRE(test_service_wait_log(&ctx.svc, from + readings, "no plan (", PLAN_TIMEOUT_MS),
                "no re-plan attempt after the devices reported");
    }
    return from;
}

/* Open the bus on status and schedule (plus extra, may be NULL) and start the service. */
size_t start_with_bus(const char *extra)
{
    const char *topics[] = {ctx.t_status, ctx.t_schedule, extra, NULL};
    bus_open(topics);
    return start_service(true);
}

/* Publish the JEPX prices (retained) and return the first schedule, which must have plan.reason
 * reason unless that is NULL. */
cJSON *publish_prices_and_plan(const char *reason, double *latency_ms)
{
    char *price = jepx_price_message();
    double t0 = test_now_ms();
    publish(ctx.t_price, price, 1);
    free(price);
    double arrived = 0;
    cJSON *plan = wait_schedule(NULL, 0, PLAN_TIMEOUT_MS, &arrived);
    const char *got = jstr(plan, "plan.reason");
    REQUIRE(reason == NULL || strcmp(got, reason) == 0, "the first plan has the reason %s, not %s",
            got, reason);
    if (latency_ms != NULL) {
        *latency_ms = arrived - t0;
    }
    return plan;
}

/* The first log line (from `from` on) that contains needle, copied into out ("(none)" when
 * there is none). */
void log_line(size_t from, const char *needle, char *out, size_t size)
{
    char *log = log_since(from);
    char *hit = strstr(log, needle);
    snprintf(out, size, "(none)");
    if (hit != NULL) {
        char *start = hit;
        while (start > log && start[-1] != '\n') {
            start--;
        }
        snprintf(out, size, "%.*s", (int)strcspn(start, "\n"), start);
    }
    free(log);
}

void site_ctx_init(const char *site)
{
    service_ctx_init(site);
    static const char *const plugins[] = {"battery_sim", "meter_sim", "cluster_sim"};
    service_ctx_require_plugins(plugins, sizeof plugins / sizeof plugins[0]);
    broker_start(&ctx.broker, site);
}

/* Ask for the status and return its rejected_messages once it is >= at_least. */
double rejected_count(double at_least)
{
    publish(ctx.t_cmd, "{\"cmd\":\"status\"}", 0);
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_status, "\"rejected_messages\":", left, &msg) == 0,
                "no status with rejected_messages >= %.0f", at_least);
        cJSON *root = parse(msg.payload);
        wire_msg_free(&msg);
        double n = jnum(root, "counters.rejected_messages");
        cJSON_Delete(root);
        if (n >= at_least) {
            return n;
        }
    }
}
