/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The HTTP API (docs/http.md) of the real `gridems run` with the simulated site on a private
 * mosquitto: every endpoint's content checked against the plan the service made, the MQTT side
 * of the operators' view (per-step times in P/schedule, the retained per-value topics), bad
 * requests (404, 405, 413, 400), basic authentication in both scopes (401), and config errors
 * that name the key.
 */
#include "check_run.h"
#include "http_site.h"
#include "mqtt_wire.h"
#include "test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { REQ_MS = 5000 };

static http_site_t site;

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char require_msg_[2048];                                                               \
            int n_ = snprintf(require_msg_, sizeof require_msg_, "%s:%d: %s: ", __FILE__,          \
                              __LINE__, #cond);                                                    \
            snprintf(require_msg_ + n_, sizeof require_msg_ - (size_t)n_, __VA_ARGS__);            \
            http_site_fail(&site, require_msg_);                                                   \
        }                                                                                          \
    } while (0)

/* GET/POST path and expect status; returns the parsed JSON body (caller deletes) when json. */
static cJSON *call(const char *method, const char *path, const char *auth, const char *body,
                   int expect, http_resp_t *keep)
{
    http_resp_t r;
    REQUIRE(http_request(site.port, method, path, auth, body, REQ_MS, &r) == 0,
            "%s %s: no response", method, path);
    REQUIRE(r.status == expect, "%s %s: status %d, expected %d: %.300s", method, path, r.status,
            expect, r.body);
    cJSON *root = NULL;
    char type[128] = "";
    http_header(&r, "Content-Type", type, sizeof type);
    if (strncmp(type, "application/json", 16) == 0) {
        root = cJSON_Parse(r.body);
        REQUIRE(root != NULL, "%s %s: not JSON: %.300s", method, path, r.body);
    }
    if (keep != NULL) {
        *keep = r;
    } else {
        http_resp_free(&r);
    }
    return root;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    REQUIRE(m != NULL, "member \"%s\" missing", key);
    return m;
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *m = member(obj, key);
    REQUIRE(cJSON_IsNumber(m), "member \"%s\" is not a number", key);
    return m->valuedouble;
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *m = member(obj, key);
    REQUIRE(cJSON_IsString(m), "member \"%s\" is not a string", key);
    return m->valuestring;
}

/* The retained message on topic (a fresh client). The caller frees it. */
static char *retained(const char *topic)
{
    wire_msg_t m;
    REQUIRE(wire_read_one(site.broker.uri, topic, 3000, &m) == 0, "nothing on %s", topic);
    REQUIRE(m.retained, "the message on %s is not retained", topic);
    char *copy = strdup(m.payload);
    wire_msg_free(&m);
    return copy;
}

/* ---- ## Every endpoint ---- */

static void check_schedule(const cJSON *s)
{
    int steps = (int)num(s, "steps");
    REQUIRE(steps == 48, "steps %d, expected the 48-step horizon", steps);
    const cJSON *times = member(s, "step_starts");
    REQUIRE(cJSON_GetArraySize(times) == steps, "%d step_starts for %d steps",
            cJSON_GetArraySize(times), steps);
    /* Step 0 is the grid's start; steps are 30 minutes apart, in the site's offset. */
    REQUIRE(strcmp(cJSON_GetArrayItem(times, 0)->valuestring, str(s, "start")) == 0,
            "step_starts[0] %s, start %s", cJSON_GetArrayItem(times, 0)->valuestring,
            str(s, "start"));
    const char *t1 = cJSON_GetArrayItem(times, 1)->valuestring;
    REQUIRE(strlen(t1) >= 19 && strcmp(t1 + strlen(t1) - 6, "+09:00") == 0 &&
                (strncmp(t1 + 14, "00", 2) == 0 || strncmp(t1 + 14, "30", 2) == 0),
            "step_starts[1] %s is not a half hour in +09:00", t1);
    REQUIRE(cJSON_GetArraySize(member(s, "binds")) == steps, "binds: %d entries",
            cJSON_GetArraySize(member(s, "binds")));
    const cJSON *lim = member(s, "limits");
    REQUIRE(num(lim, "import_limit_kw") == 20000, "import_limit_kw %g",
            num(lim, "import_limit_kw"));
    REQUIRE(cJSON_GetArraySize(member(lim, "dr_cap_kw")) == steps, "dr_cap_kw length");
    const cJSON *in = member(s, "inputs_per_step");
    REQUIRE(cJSON_GetArraySize(member(in, "import_price_per_kwh")) == steps, "price length");
    const cJSON *bat = cJSON_GetArrayItem(member(s, "batteries"), 0);
    REQUIRE(bat != NULL && strcmp(str(bat, "id"), "bess1") == 0, "no battery bess1 in the plan");
    REQUIRE(num(bat, "soc_min_kwh") == 400, "soc_min_kwh %g", num(bat, "soc_min_kwh"));
    /* Every tag is one of the documented kinds. */
    static const char *const kinds[] = {
        "peak",           "dr_cap",        "import_limit",        "compute_cap",
        "battery_empty:", "battery_full:", "battery_charge_max:", "battery_discharge_max:",
        "deadline:"};
    const cJSON *step = NULL;
    cJSON_ArrayForEach(step, member(s, "binds"))
    {
        const cJSON *t = NULL;
        cJSON_ArrayForEach(t, step)
        {
            bool known = false;
            for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
                known = known || strncmp(t->valuestring, kinds[i], strlen(kinds[i])) == 0;
            }
            REQUIRE(known, "unknown bind tag %s", t->valuestring);
        }
    }
}

START_TEST(test_endpoints)
{
    http_site_start(&site, "h1-api", "{\"listen\": \"127.0.0.1:0\"}", NULL);

    cJSON *st = call("GET", "/api/v1/status", NULL, NULL, 200, NULL);
    REQUIRE(strcmp(str(st, "state"), "online") == 0, "state %s: %s", str(st, "state"),
            str(st, "reason"));
    REQUIRE(strcmp(str(st, "site"), "h1-api") == 0, "site %s", str(st, "site"));
    REQUIRE(cJSON_IsTrue(member(st, "mqtt_connected")), "mqtt_connected is not true");
    const cJSON *plans = member(st, "plans");
    REQUIRE(cJSON_GetArraySize(plans) >= 1, "no plans in the status");
    const cJSON *last = cJSON_GetArrayItem(plans, 0);
    double plan_id = num(st, "plan_id");
    REQUIRE(num(last, "id") == plan_id, "plans[0].id %g, plan_id %g", num(last, "id"), plan_id);
    REQUIRE(num(last, "solve_ms") > 0, "solve_ms %g", num(last, "solve_ms"));
    cJSON_Delete(st);

    cJSON *s = call("GET", "/api/v1/schedule", NULL, NULL, 200, NULL);
    check_schedule(s);
    REQUIRE(num(member(s, "plan"), "id") >= 1, "plan.id");
    /* The price of step 0 is the JEPX price of 06:00 (the clock starts there): what was sent. */
    double p0 = cJSON_GetArrayItem(member(member(s, "inputs_per_step"), "import_price_per_kwh"), 0)
                    ->valuedouble;
    cJSON_Delete(s);

    cJSON *fc = call("GET", "/api/v1/forecasts", NULL, NULL, 200, NULL);
    const cJSON *prices = member(fc, "import_price_per_kwh");
    REQUIRE(cJSON_GetArraySize(prices) >= 36, "%d price intervals held",
            cJSON_GetArraySize(prices));
    bool found = false;
    const cJSON *iv = NULL;
    cJSON_ArrayForEach(iv, prices)
    {
        found = found || fabs(num(iv, "value") - p0) < 1e-9;
    }
    REQUIRE(found, "the plan's step-0 price %g is not among the forecasts", p0);
    REQUIRE(cJSON_GetArraySize(member(fc, "dr_events")) == 0, "DR events held");
    cJSON_Delete(fc);

    /* The first control tick may come before the meter's first reading: wait for one after. */
    double until = test_now_ms() + 10000;
    for (;;) {
        cJSON *state = call("GET", "/api/v1/state", NULL, NULL, 200, NULL);
        REQUIRE(cJSON_GetArraySize(member(state, "devices")) == 3, "%d devices in the state",
                cJSON_GetArraySize(member(state, "devices")));
        double import_kw = num(state, "import_kw");
        cJSON_Delete(state);
        if (import_kw > 1000) {
            break;
        }
        REQUIRE(test_now_ms() < until, "import_kw still %g in /api/v1/state", import_kw);
        test_sleep_ms(100);
    }

    http_resp_t page;
    call("GET", "/", NULL, NULL, 200, &page);
    char type[128] = "";
    http_header(&page, "Content-Type", type, sizeof type);
    REQUIRE(strncmp(type, "text/html", 9) == 0, "GET /: Content-Type %s", type);
    REQUIRE(strstr(page.body, "api/v1/schedule") != NULL, "the page does not poll the API");
    /* Served from the binary, and nothing from elsewhere. */
    REQUIRE(strstr(page.body, "src=\"http") == NULL && strstr(page.body, "href=\"http") == NULL &&
                strstr(page.body, "@import") == NULL,
            "the dashboard loads something from the network");
    http_resp_free(&page);

    http_resp_t metrics;
    call("GET", "/metrics", NULL, NULL, 200, &metrics);
    http_header(&metrics, "Content-Type", type, sizeof type);
    REQUIRE(strstr(type, "version=0.0.4") != NULL, "GET /metrics: Content-Type %s", type);
    REQUIRE(strstr(metrics.body, "\ngridems_plan_solve_duration_seconds_count ") != NULL &&
                strstr(metrics.body, "gridems_battery_stored_energy_joules{device=\"bess1\"}") !=
                    NULL &&
                strstr(metrics.body, "gridems_input_messages_total{input=\"price\","
                                     "result=\"accepted\"} 1\n") != NULL &&
                strstr(metrics.body, "\ngridems_mqtt_connected 1\n") != NULL,
            "metrics lack an expected sample:\n%.1500s", metrics.body);
    http_resp_free(&metrics);

    /* A re-plan asked over HTTP comes as a new plan with the reason "command". */
    cJSON *ok = call("POST", "/api/v1/replan", NULL, NULL, 202, NULL);
    REQUIRE(cJSON_IsTrue(member(ok, "accepted")), "replan not accepted");
    cJSON_Delete(ok);
    double deadline = test_now_ms() + 10000;
    for (;;) {
        cJSON *now = call("GET", "/api/v1/status", NULL, NULL, 200, NULL);
        const cJSON *p0n = cJSON_GetArrayItem(member(now, "plans"), 0);
        bool done = cJSON_IsNumber(cJSON_GetObjectItem(p0n, "id")) && num(p0n, "id") > plan_id &&
                    strcmp(str(p0n, "trigger"), "command") == 0;
        cJSON_Delete(now);
        if (done) {
            break;
        }
        REQUIRE(test_now_ms() < deadline, "no plan with trigger \"command\" after POST replan");
        test_sleep_ms(50);
    }

    /* MQTT for people: per-step times in P/schedule, and the retained per-value topics. */
    char topic[256];
    snprintf(topic, sizeof topic, "%s/schedule", site.prefix);
    char *text = retained(topic);
    cJSON *sched = cJSON_Parse(text);
    free(text);
    REQUIRE(sched != NULL, "P/schedule is not JSON");
    REQUIRE(cJSON_GetArraySize(member(sched, "step_starts")) == (int)num(sched, "steps"),
            "P/schedule: step_starts do not match the steps");
    cJSON_Delete(sched);
    const char *values[] = {"import_kw", "peak_kw", "battery/bess1/stored_kwh",
                            "battery/bess1/setpoint_kw"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        snprintf(topic, sizeof topic, "%s/value/%s", site.prefix, values[i]);
        char *v = retained(topic);
        char *end = NULL;
        double x = strtod(v, &end);
        REQUIRE(end != v && *end == '\0' && isfinite(x), "%s: not a number: %s", topic, v);
        if (i == 2) {
            REQUIRE(x >= 400 && x <= 4000, "%s: %g kWh outside the battery's band", topic, x);
        }
        free(v);
    }
    http_site_stop(&site);
}
END_TEST

/* ---- ## Bad requests ---- */

START_TEST(test_bad_requests)
{
    http_site_start(&site, "h2-bad", "{\"listen\": \"127.0.0.1:0\"}", NULL);
    cJSON_Delete(call("GET", "/api/v1/nothing", NULL, NULL, 404, NULL));
    cJSON_Delete(call("GET", "/api/v1/status/", NULL, NULL, 404, NULL));
    http_resp_t r;
    cJSON_Delete(call("POST", "/metrics", NULL, "{}", 405, &r));
    char allow[64] = "";
    http_header(&r, "Allow", allow, sizeof allow);
    REQUIRE(strcmp(allow, "GET, HEAD") == 0, "405 Allow: %s", allow);
    http_resp_free(&r);
    cJSON_Delete(call("GET", "/api/v1/replan", NULL, NULL, 405, &r));
    http_header(&r, "Allow", allow, sizeof allow);
    REQUIRE(strcmp(allow, "POST") == 0, "405 Allow: %s", allow);
    http_resp_free(&r);
    cJSON_Delete(call("DELETE", "/api/v1/schedule", NULL, NULL, 405, NULL));
    cJSON_Delete(call("POST", "/api/v1/replan", NULL, "not json", 400, NULL));
    /* The one JSON policy of every input holds for a request's body too. */
    cJSON *refused = call("POST", "/api/v1/replan", NULL, "{\"why\":\"peak\"} x", 400, NULL);
    REQUIRE(strstr(str(refused, "error"), "body: trailing data at byte 15") != NULL, "%s",
            str(refused, "error"));
    cJSON_Delete(refused);
    refused = call("POST", "/api/v1/replan", NULL, "{\"why\":1,\"why\":2}", 400, NULL);
    REQUIRE(strstr(str(refused, "error"), "body: duplicate key \"why\" in $") != NULL, "%s",
            str(refused, "error"));
    cJSON_Delete(refused);
    refused = call("POST", "/api/v1/replan", NULL, "[1]", 400, NULL);
    REQUIRE(strcmp(str(refused, "error"), "body: must be empty or a JSON object") == 0, "%s",
            str(refused, "error"));
    cJSON_Delete(refused);
    /* A body over the 4 KiB limit is refused before it is read. */
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    call("POST", "/api/v1/replan", NULL, big, 413, NULL);
    free(big);
    /* The service is still there and still serves. */
    cJSON_Delete(call("GET", "/api/v1/status", NULL, NULL, 200, NULL));

    /* More idle connections than its limit of 64: once half of them go, the rest and a real
     * request are served again (libmicrohttpd leaves the listening socket out of its epoll set
     * at the limit; http_server.c). */
    int socks[100];
    for (int i = 0; i < 100; i++) {
        socks[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)site.port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(socks[i] >= 0 && connect(socks[i], (struct sockaddr *)&a, sizeof a) == 0,
                "idle connection %d: %s", i, strerror(errno));
    }
    http_resp_t busy;
    REQUIRE(http_request(site.port, "GET", "/api/v1/status", NULL, NULL, 500, &busy) != 0,
            "a request was answered with 100 connections open (limit 64)");
    for (int i = 0; i < 50; i++) {
        close(socks[i]);
    }
    cJSON_Delete(call("GET", "/api/v1/status", NULL, NULL, 200, NULL));
    for (int i = 50; i < 100; i++) {
        close(socks[i]);
    }
    http_site_stop(&site);
}
END_TEST

/* ---- ## Basic authentication ---- */

static void write_password(const char *tag, char *path, size_t size)
{
    char *dir = test_make_tmpdir(tag);
    snprintf(path, size, "%s/http.pass", dir);
    free(dir);
    ck_assert_int_eq(test_write_file(path, "s3cret pass\n"), 0);
}

START_TEST(test_auth_all)
{
    char pass[1200], http[1400];
    write_password("h3-pass", pass, sizeof pass);
    snprintf(http, sizeof http,
             "{\"listen\": \"127.0.0.1:0\", \"basic_auth\": {\"user\": \"ops\", "
             "\"password_file\": \"%s\"}}",
             pass);
    http_site_start(&site, "h3-auth", http, "ops:s3cret pass");
    http_resp_t r;
    cJSON_Delete(call("GET", "/api/v1/status", NULL, NULL, 401, &r));
    char www[128] = "";
    http_header(&r, "WWW-Authenticate", www, sizeof www);
    REQUIRE(strncmp(www, "Basic realm=\"gridems h3-auth\"", 29) == 0, "WWW-Authenticate: %s", www);
    http_resp_free(&r);
    cJSON_Delete(call("GET", "/metrics", "ops:wrong", NULL, 401, NULL));
    cJSON_Delete(call("GET", "/", "other:s3cret pass", NULL, 401, NULL));
    cJSON_Delete(call("POST", "/api/v1/replan", NULL, NULL, 401, NULL));
    cJSON_Delete(call("GET", "/api/v1/status", "ops:s3cret pass", NULL, 200, NULL));
    call("GET", "/metrics", "ops:s3cret pass", NULL, 200, NULL);
    cJSON_Delete(call("POST", "/api/v1/replan", "ops:s3cret pass", NULL, 202, NULL));
    http_site_stop(&site);
    unlink(pass);
}
END_TEST

START_TEST(test_auth_write)
{
    char pass[1200], http[1400];
    write_password("h4-pass", pass, sizeof pass);
    snprintf(http, sizeof http,
             "{\"listen\": \"127.0.0.1:0\", \"basic_auth\": {\"user\": \"ops\", "
             "\"password_file\": \"%s\", \"scope\": \"write\"}}",
             pass);
    http_site_start(&site, "h4-authw", http, NULL);
    cJSON_Delete(call("GET", "/api/v1/status", NULL, NULL, 200, NULL));
    cJSON_Delete(call("POST", "/api/v1/replan", NULL, NULL, 401, NULL));
    cJSON_Delete(call("POST", "/api/v1/replan", "ops:s3cret", NULL, 401, NULL));
    cJSON_Delete(call("POST", "/api/v1/replan", "ops:s3cret pass", NULL, 202, NULL));
    http_site_stop(&site);
    unlink(pass);
}
END_TEST

/* ---- ## Config errors name the key ---- */

/* `gridems run --check` on a config whose "http" section is http_json: the exit code and stderr. */
static int check_config(const char *http_json, char **err)
{
    char *dir = test_make_tmpdir("h5-cfg");
    char path[1200], text[3000];
    snprintf(path, sizeof path, "%s/c.json", dir);
    snprintf(text, sizeof text,
             "{\"site\": {\"id\": \"c\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\", "
             "\"import_limit_kw\": 100}, \"mqtt\": {\"uri\": \"tcp://127.0.0.1:1\"}, "
             "\"state_dir\": \"%s/state\", \"http\": %s}",
             dir, http_json);
    ck_assert_int_eq(test_write_file(path, text), 0);
    char *argv[] = {GRIDEMS_TEST_BINARY, "run", "--check", "-c", path, NULL};
    int rc = test_run_capture(argv, NULL, err);
    test_remove_tree(dir);
    free(dir);
    return rc;
}

START_TEST(test_config_errors)
{
    static const struct {
        const char *http;
        const char *needle;
    } cases[] = {
        {"{\"listen\": \"127.0.0.1\"}", "http.listen: must be \"IPV4:PORT\""},
        {"{\"listen\": \"localhost:80\"}", "http.listen"},
        {"{\"listen\": \"127.0.0.1:70000\"}", "http.listen"},
        {"{\"listen\": 8080}", "http.listen: must be a string"},
        {"{\"port\": 8080}", "http.port: unknown key; expected one of: listen, basic_auth"},
        {"true", "http: must be an object"},
        {"{\"basic_auth\": {\"user\": \"ops\"}}", "http.basic_auth.password_file: required"},
        {"{\"basic_auth\": {\"user\": \"ops\", \"password_file\": \"/nonexistent/p\"}}",
         "http.basic_auth.password_file: cannot read"},
        {"{\"basic_auth\": {\"user\": \"a:b\", \"password_file\": \"/etc/hostname\"}}",
         "http.basic_auth.user"},
        {"{\"basic_auth\": {\"user\": \"ops\", \"password_file\": \"/etc/hostname\", "
         "\"scope\": \"read\"}}",
         "http.basic_auth.scope: must be \"all\" or \"write\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int rc = check_config(cases[i].http, &err);
        ck_assert_msg(rc != 0 && err != NULL && strstr(err, cases[i].needle) != NULL,
                      "http %s: exit %d, stderr %s (expected \"%s\")", cases[i].http, rc,
                      err != NULL ? err : "(none)", cases[i].needle);
        free(err);
    }
    char *err = NULL;
    ck_assert_msg(check_config("{\"listen\": \"127.0.0.1:0\"}", &err) == 0, "valid http: %s",
                  err != NULL ? err : "");
    free(err);
}
END_TEST

static Suite *http_suite(void)
{
    const test_case_t cases[] = {
        {"endpoints", test_endpoints, 60},         {"bad_requests", test_bad_requests, 45},
        {"auth_all", test_auth_all, 45},           {"auth_write", test_auth_write, 45},
        {"config_errors", test_config_errors, 30},
    };
    return test_suite_from_cases("http", cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the HTTP integration tests\n");
        return 77;
    }
    return test_run_suite(http_suite());
}
