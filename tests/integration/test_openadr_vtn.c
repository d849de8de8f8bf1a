/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * End to end against the OpenADR 3.1 VTN reference implementation (../shared/peers/openadr3-vtn):
 * the real `gridems run` with the simulated battery and load meter, a private mosquitto and the
 * VTN, each on a free loopback port. The test creates a program and events through the VTN's
 * API with the business-logic token, as a utility would, and checks on the service's published
 * schedule (P/schedule) that
 *   - a PRICE event changes the next schedule's import prices in its intervals,
 *   - an IMPORT_CAPACITY_LIMIT event caps the plan's import in its interval,
 *   - an update of each and a delete are followed,
 *   - an event that asks for USAGE and DEMAND reports gets one on the VTN after its end, its
 *     values the site's import energy (and mean power) as the service's own state messages add
 *     up,
 *   - (REST) a usage report in the making is in state_dir at a stop and restored at the start,
 * once over REST polling and once over the 3.1 MQTT binding (no polling at all: poll_seconds 0).
 *
 * Skipped (exit 77, with the reason) when ../shared is absent (a user's clone), when mosquitto
 * is missing, or when the VTN's Debian Python modules are not installed (tests/run.sh installs
 * them when ../shared is present). Every wait is on an event (a schedule, a log line, an HTTP
 * answer) with a deadline.
 */
#include "check_run.h"
#include "broker.h"
#include "mqtt_wire.h"
#include "service_harness.h"
#include "test_util.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define VTN_DIR GRIDEMS_TEST_SOURCE_DIR "/../shared/peers/openadr3-vtn"
#define BASE_PATH "/openadr3/3.1.0"
#define BL_TOKEN "YmxfY2xpZW50OjEwMDE="  /* the VTN's business-logic client (bl_client:1001) */
#define VEN_TOKEN "dmVuX2NsaWVudDo5OTk=" /* its VEN client (ven_client:999) */
/* The service's simulated clock starts here, at 60 times real time (a test run moves it by
 * minutes; plans start at the running step, so steps are counted from this instant). */
#define CLOCK_START "2026-05-11T00:00:00+09:00"
#define PYTHON_MODULES                                                                             \
    "import flask, werkzeug, jsonschema, yaml, inflection, requests, gevent, paho.mqtt, "          \
    "dateutil, jsonpickle, jwt, cryptography, packaging"

enum {
    VTN_START_MS = 30000, /* the VTN is ready in about 2 s; under sanitizers and load, more */
    START_TIMEOUT_MS = 20000,
    PLAN_TIMEOUT_MS = 15000, /* an event on the VTN until the schedule that follows it */
    STOP_TIMEOUT_MS = 5000,
};

typedef struct ctx_s {
    broker_t broker;
    test_service_t svc;
    pid_t vtn_pid;
    int vtn_port;
    char vtn_url[128];
    char *dir;
    char vtn_log[1100];
    char cfg_path[1100];
    char log_path[1100];
    char token_path[1100];
    char prefix[96];
    char t_schedule[128];
    char t_price[128];
    wire_t *bus;
    int64_t start_ms; /* CLOCK_START */
} ctx_t;

static ctx_t ctx;

/* ---- ## Failing with everything cleaned up ---- */

static void stop_vtn(void)
{
    if (ctx.vtn_pid <= 0) {
        return;
    }
    kill(ctx.vtn_pid, SIGTERM);
    for (int i = 0; i < 60; i++) {
        if (waitpid(ctx.vtn_pid, NULL, WNOHANG) == ctx.vtn_pid) {
            ctx.vtn_pid = 0;
            return;
        }
        test_sleep_ms(50);
    }
    kill(ctx.vtn_pid, SIGKILL);
    waitpid(ctx.vtn_pid, NULL, 0);
    ctx.vtn_pid = 0;
}

static void release_all(void)
{
    test_service_cleanup(&ctx.svc);
    wire_close(ctx.bus);
    ctx.bus = NULL;
    stop_vtn();
    broker_cleanup(&ctx.broker);
    if (ctx.dir != NULL) {
        test_remove_tree(ctx.dir);
        free(ctx.dir);
        ctx.dir = NULL;
    }
}

static void print_tail(const char *name, const char *path)
{
    char *text = test_read_file(path, NULL);
    size_t len = text != NULL ? strlen(text) : 0;
    fprintf(stderr, "---- %s (%s), last 6000 bytes ----\n%s\n---- end ----\n", name, path,
            text != NULL ? text + (len > 6000 ? len - 6000 : 0) : "(none)");
    free(text);
}

static void ctx_abort(const char *file, int line, const char *expr, const char *msg)
{
    print_tail("gridems log", ctx.log_path);
    print_tail("VTN log", ctx.vtn_log);
    release_all();
    ck_abort_msg("%s:%d: %s: %s", file, line, expr, msg);
}

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char require_msg_[4096];                                                               \
            snprintf(require_msg_, sizeof require_msg_, __VA_ARGS__);                              \
            ctx_abort(__FILE__, __LINE__, #cond, require_msg_);                                    \
        }                                                                                          \
    } while (0)

/* ---- ## The VTN ---- */

typedef struct answer_s {
    char *body;
    size_t len;
} answer_t;

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    answer_t *a = userp;
    size_t n = size * nmemb;
    char *grown = realloc(a->body, a->len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    a->body = grown;
    memcpy(a->body + a->len, data, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

/* One request to the VTN (test code may block). Returns the HTTP status (0: no answer);
 * *body (may be NULL) receives the answer, which the caller frees. */
static long vtn_request(const char *method, const char *path, const char *token, const char *json,
                        char **body)
{
    char url[512];
    char auth[128];
    snprintf(url, sizeof url, "%s%s", ctx.vtn_url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    CURL *e = curl_easy_init();
    REQUIRE(e != NULL, "curl_easy_init failed");
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    answer_t a = {NULL, 0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (json != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    }
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (body != NULL) {
        *body = a.body != NULL ? a.body : strdup("");
    } else {
        free(a.body);
    }
    return status;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* Start the VTN with its MQTT binding on the test's broker; wait until GET /programs answers. A
 * VTN that exits (another process took the port first) is started again on another port. */
static void start_vtn(void)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        ctx.vtn_port = free_port();
        REQUIRE(ctx.vtn_port > 0, "no free loopback port");
        snprintf(ctx.vtn_url, sizeof ctx.vtn_url, "http://127.0.0.1:%d" BASE_PATH, ctx.vtn_port);
        char vport[16];
        char mport[16];
        snprintf(vport, sizeof vport, "%d", ctx.vtn_port);
        snprintf(mport, sizeof mport, "%d", ctx.broker.port);
        pid_t parent = getpid();
        pid_t pid = fork();
        REQUIRE(pid >= 0, "fork failed");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) {
                _exit(127);
            }
            int fd = open(ctx.vtn_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            int null = open("/dev/null", O_RDONLY);
            if (fd < 0 || null < 0) {
                _exit(127);
            }
            dup2(null, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execl("/bin/bash", "bash", VTN_DIR "/start.sh", vport, mport, (char *)NULL);
            _exit(127);
        }
        ctx.vtn_pid = pid;
        double deadline = test_now_ms() + VTN_START_MS;
        while (test_now_ms() < deadline) {
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                ctx.vtn_pid = 0;
                break;
            }
            if (vtn_request("GET", "/programs", VEN_TOKEN, NULL, NULL) == 200) {
                return;
            }
            test_sleep_ms(100);
        }
        if (ctx.vtn_pid != 0) {
            REQUIRE(false, "the VTN did not answer within %d ms", VTN_START_MS);
        }
    }
    REQUIRE(false, "the VTN exited three times at start-up");
}

/* POST or PUT json at path with the business-logic token; returns the created object's "id". */
static void vtn_write(const char *method, const char *path, const char *json, char *id,
                      size_t idlen)
{
    char *body = NULL;
    long status = vtn_request(method, path, BL_TOKEN, json, &body);
    bool ok = status == 200 || status == 201;
    char excerpt[600];
    snprintf(excerpt, sizeof excerpt, "%.500s", body);
    cJSON *root = ok ? cJSON_Parse(body) : NULL;
    free(body);
    REQUIRE(ok, "%s %s: HTTP %ld: %s", method, path, status, excerpt);
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(root, "id");
    bool have = cJSON_IsString(idj);
    if (have && id != NULL) {
        snprintf(id, idlen, "%s", idj->valuestring);
    }
    cJSON_Delete(root);
    REQUIRE(have, "%s %s: no id in the answer", method, path);
}

/* ---- ## Events as a utility writes them ---- */

static void iso_at_step(int step, char *buf)
{
    int64_t ms = ctx.start_ms + (int64_t)step * 30 * 60000;
    REQUIRE(gridems_time_format_iso(ms, 540, buf, GRIDEMS_TIME_ISO_BUFLEN) == 0, "time");
}

/* A PRICE event: four half-hour intervals from step 4, following one another in id order (only
 * the event's intervalPeriod says where they start), each also with an EXPORT_PRICE of 5 JPY/kWh
 * and a GHG intensity of 450 g/kWh. */
static void price_event_json(const char *program, double value, char *out, size_t size)
{
    char start[GRIDEMS_TIME_ISO_BUFLEN];
    iso_at_step(4, start);
    char intervals[1200] = "";
    for (int i = 0; i < 4; i++) {
        size_t used = strlen(intervals);
        snprintf(intervals + used, sizeof intervals - used,
                 "%s{\"id\":%d,\"payloads\":[{\"type\":\"PRICE\",\"values\":[%g]},"
                 "{\"type\":\"EXPORT_PRICE\",\"values\":[5]},{\"type\":\"GHG\",\"values\":[450]}]}",
                 i > 0 ? "," : "", i, value);
    }
    snprintf(out, size,
             "{\"programID\":\"%s\",\"eventName\":\"evening-peak\",\"priority\":1,"
             "\"payloadDescriptors\":[{\"objectType\":\"EVENT_PAYLOAD_DESCRIPTOR\","
             "\"payloadType\":\"PRICE\",\"units\":\"KWH\",\"currency\":\"JPY\"},"
             "{\"objectType\":\"EVENT_PAYLOAD_DESCRIPTOR\",\"payloadType\":\"EXPORT_PRICE\","
             "\"units\":\"KWH\",\"currency\":\"JPY\"}],"
             "\"intervalPeriod\":{\"start\":\"%s\",\"duration\":\"PT30M\"},\"intervals\":[%s]}",
             program, start, intervals);
}

/* An IMPORT_CAPACITY_LIMIT event over steps 10 and 11, in MW (the VEN converts). */
static void cap_event_json(const char *program, double mw, char *out, size_t size)
{
    char start[GRIDEMS_TIME_ISO_BUFLEN];
    iso_at_step(10, start);
    snprintf(out, size,
             "{\"programID\":\"%s\",\"eventName\":\"grid-constraint\","
             "\"payloadDescriptors\":[{\"objectType\":\"EVENT_PAYLOAD_DESCRIPTOR\","
             "\"payloadType\":\"IMPORT_CAPACITY_LIMIT\",\"units\":\"MW\"}],"
             "\"intervalPeriod\":{\"start\":\"%s\",\"duration\":\"PT1H\"},\"intervals\":["
             "{\"id\":0,\"payloads\":[{\"type\":\"IMPORT_CAPACITY_LIMIT\",\"values\":[%g]}]}]}",
             program, start, mw);
}

/* ---- ## The service and its schedules ---- */

static void write_config(bool mqtt)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"site\": {\"id\": \"oadr-%s\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\",\n"
             "          \"import_limit_kw\": 20000},\n"
             " \"mqtt\": {\"uri\": \"%s\"},\n"
             " \"planner\": {\"step_minutes\": 30, \"horizon_steps\": 24, \"replan_seconds\": "
             "86400, \"debounce_ms\": 200},\n"
             " \"clock\": {\"mode\": \"simulated\", \"start\": \"" CLOCK_START
             "\", \"speed\": 60},\n"
             " \"state_dir\": \"%s/state\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
             " \"http\": {\"listen\": \"127.0.0.1:0\"},\n"
             " \"openadr\": {\"vtn_url\": \"%s\", \"token_file\": \"%s\",\n"
             "             \"programs\": [\"gridems-test\"], \"poll_seconds\": %d, \"mqtt\": %s,\n"
             "             \"client_name\": \"sakai-ven\"},\n"
             " \"plugins\": [\n"
             "  {\"plugin\": \"battery_sim\", \"name\": \"bess1\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/bess1\", \"capacity_kwh\": 4000, \"soc_kwh\": 2000,\n"
             "    \"soc_min_kwh\": 400, \"charge_max_kw\": 2000, \"discharge_max_kw\": 2000}},\n"
             "  {\"plugin\": \"meter_sim\", \"name\": \"it_load\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/meter\", \"base_kw\": 9000, \"swing_kw\": 0}}]}\n",
             mqtt ? "mqtt" : "rest", ctx.broker.uri, ctx.dir, GRIDEMS_TEST_PLUGIN_DIR, ctx.vtn_url,
             ctx.token_path, mqtt ? 0 : 1, mqtt ? "true" : "false", ctx.prefix, ctx.prefix);
    REQUIRE(test_write_file(ctx.cfg_path, text) == 0, "cannot write %s", ctx.cfg_path);
}

static const cJSON *jfind(const cJSON *root, const char *path)
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

/* Element i of the number array at path, or NAN. */
static double jat(const cJSON *root, const char *path, int i)
{
    const cJSON *v = cJSON_GetArrayItem(jfind(root, path), i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The plan step that starts at clock step k (plans start at the running step). */
static int plan_step(const cJSON *plan, int k)
{
    const cJSON *start = jfind(plan, "start");
    int64_t ms = 0;
    REQUIRE(cJSON_IsString(start) &&
                gridems_time_parse_iso(start->valuestring, &ms, NULL, NULL, 0) == 0,
            "the schedule has no start");
    return (int)((ctx.start_ms + (int64_t)k * 1800000 - ms) / 1800000);
}

typedef bool (*plan_check_t)(const cJSON *plan, double arg);

/* The next schedule for which check(plan, arg) holds (older or other ones are skipped), within
 * PLAN_TIMEOUT_MS; what the last one seen looked like goes into the failure message. */
static cJSON *wait_plan(plan_check_t check, double arg, const char *what)
{
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    char last[300] = "(no schedule)";
    for (;;) {
        wire_msg_t msg;
        double left = deadline - test_now_ms();
        int slice = left < 200 ? (int)fmax(left, 0) : 200;
        if (wire_next(ctx.bus, ctx.t_schedule, NULL, slice, &msg) == 0) {
            cJSON *plan = cJSON_Parse(msg.payload);
            wire_msg_free(&msg);
            if (plan != NULL && check(plan, arg)) {
                return plan;
            }
            const cJSON *id = jfind(plan, "plan.id");
            const cJSON *why = jfind(plan, "plan.reason");
            snprintf(last, sizeof last, "plan %.0f (%s)", cJSON_IsNumber(id) ? id->valuedouble : -1,
                     cJSON_IsString(why) ? why->valuestring : "?");
            cJSON_Delete(plan);
        }
        REQUIRE(test_service_running(&ctx.svc), "the service ended (status %d)", ctx.svc.status);
        REQUIRE(test_now_ms() < deadline, "no schedule with %s within %d ms; the last: %s", what,
                PLAN_TIMEOUT_MS, last);
    }
}

/* Import prices at clock steps 4..7 all equal arg, and 20 (the MQTT baseline) at 3 and 8. */
static bool prices_are(const cJSON *plan, double arg)
{
    for (int k = 3; k <= 8; k++) {
        double want = k >= 4 && k <= 7 ? arg : 20.0;
        double got = jat(plan, "plan.inputs.scenario.prices.import_per_kwh", plan_step(plan, k));
        if (!(fabs(got - want) < 1e-9)) {
            return false;
        }
    }
    return true;
}

/* The scenario's events as the cap over clock steps 10..11: arg kW, or none at all (arg < 0). */
static bool cap_is(const cJSON *plan, double arg)
{
    const cJSON *events = jfind(plan, "plan.inputs.scenario.events");
    int n = cJSON_GetArraySize(events);
    if (arg < 0) {
        return jfind(plan, "plan.inputs.scenario") != NULL && n == 0;
    }
    if (n != 1) {
        return false;
    }
    const cJSON *ev = cJSON_GetArrayItem(events, 0);
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(ev, "import_limit_kw");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(ev, "start_step");
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(ev, "end_step");
    return cJSON_IsNumber(limit) && cJSON_IsNumber(first) && cJSON_IsNumber(end) &&
           fabs(limit->valuedouble - arg) < 1e-6 && first->valuedouble == plan_step(plan, 10) &&
           end->valuedouble == plan_step(plan, 12);
}

/* The plan ends at clock step arg (the first without a known import price). */
static bool horizon_ends_at_step(const cJSON *plan, double arg)
{
    const cJSON *steps = jfind(plan, "steps");
    return cJSON_IsNumber(steps) && steps->valuedouble == plan_step(plan, (int)arg);
}

static double import_at(const cJSON *plan, int k)
{
    return jat(plan, "grid_import_kw", plan_step(plan, k));
}

static void require_capped(const cJSON *plan, double cap_kw)
{
    for (int k = 10; k <= 11; k++) {
        double g = import_at(plan, k);
        double unserved = jat(plan, "unserved_kw", plan_step(plan, k));
        REQUIRE(g <= cap_kw + 1e-6, "step %d imports %.3f kW above the %.0f kW cap", k, g, cap_kw);
        REQUIRE(unserved < 1e-6, "step %d leaves %.3f kW unserved (the battery should cover)", k,
                unserved);
    }
}

/* The log from offset `from` on contains needle. */
static bool logged_since(size_t from, const char *needle)
{
    char *log = test_service_log(&ctx.svc);
    bool hit = log != NULL && strlen(log) > from && strstr(log + from, needle) != NULL;
    free(log);
    return hit;
}

/* The VEN's families on the service's /metrics (the HTTP port is the one the log names), and
 * promtool's verdict on the whole exposition when Prometheus is installed. */
static void check_metrics(void)
{
    char *log = test_service_log(&ctx.svc);
    const char *at = log != NULL ? strstr(log, "http: listening on http://127.0.0.1:") : NULL;
    int port = at != NULL ? atoi(at + strlen("http: listening on http://127.0.0.1:")) : 0;
    free(log);
    REQUIRE(port > 0, "the log does not name the HTTP port");
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    CURL *e = curl_easy_init();
    answer_t a = {NULL, 0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(e);
    bool ok = status == 200 && a.body != NULL &&
              strstr(a.body, "\ngridems_openadr_events 2\n") != NULL &&
              strstr(a.body, "\ngridems_openadr_rejected_events_total 1\n") != NULL &&
              strstr(a.body, "# TYPE gridems_openadr_polls_total counter\n") != NULL;
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.txt", ctx.dir);
    if (a.body != NULL) {
        test_write_file(path, a.body);
    }
    free(a.body);
    REQUIRE(ok, "GET %s: HTTP %ld, without the VEN's families as expected (%s)", url, status, path);
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s'", path);
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        char *out = NULL;
        char *err = NULL;
        int rc = test_run_capture(argv, &out, &err);
        char why[600];
        snprintf(why, sizeof why, "%.280s %.280s", out != NULL ? out : "", err != NULL ? err : "");
        free(out);
        free(err);
        REQUIRE(rc == 0, "promtool check metrics: %s", why);
    }
}

/* ---- ## Usage reports ---- */

typedef struct sample_s {
    int64_t ms;
    double kw;
} sample_t;

/* The next state message's time and import (the service samples its usage reports with the
 * same two numbers at the same control tick). False on timeout. */
static bool next_sample(const char *topic, int timeout_ms, sample_t *out)
{
    wire_msg_t msg;
    if (wire_next(ctx.bus, topic, NULL, timeout_ms, &msg) != 0) {
        return false;
    }
    cJSON *st = cJSON_Parse(msg.payload);
    wire_msg_free(&msg);
    const cJSON *time = jfind(st, "time");
    const cJSON *kw = jfind(st, "import_kw");
    bool ok = cJSON_IsString(time) && cJSON_IsNumber(kw) &&
              gridems_time_parse_iso(time->valuestring, &out->ms, NULL, NULL, 0) == 0;
    out->kw = ok ? kw->valuedouble : NAN;
    cJSON_Delete(st);
    REQUIRE(ok, "a state message without time and import_kw");
    return true;
}

/* The import energy of [a, b) from samples each held until the next (a gap above 5 minutes, the
 * service's rule, is not counted). */
static double usage_kwh(const sample_t *s, size_t n, int64_t a, int64_t b)
{
    double kwh = 0.0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i + 1].ms - s[i].ms > 300000) {
            continue;
        }
        int64_t from = s[i].ms > a ? s[i].ms : a;
        int64_t to = s[i + 1].ms < b ? s[i + 1].ms : b;
        if (to > from) {
            kwh += s[i].kw * (double)(to - from) / 3600000.0;
        }
    }
    return kwh;
}

/* The VEN's report of event id on the VTN (owned), or NULL when there is none yet. */
static cJSON *find_report(const char *event_id)
{
    char *body = NULL;
    long status = vtn_request("GET", "/reports", BL_TOKEN, NULL, &body);
    cJSON *all = status == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    cJSON *found = NULL;
    const cJSON *r = NULL;
    cJSON_ArrayForEach(r, all)
    {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(r, "eventID");
        if (cJSON_IsString(ev) && strcmp(ev->valuestring, event_id) == 0) {
            found = cJSON_Duplicate(r, 1);
            break;
        }
    }
    cJSON_Delete(all);
    return found;
}

/* 6. An event that asks for USAGE and DEMAND reports (and a BASELINE one, which gridems does not
 * make) over two 5-minute intervals a few minutes ahead, with only a SIMPLE payload (no signal
 * gridems uses: held for the report alone). After its end the VTN has the VEN's report: the
 * site's import energy in each interval, as the service's own state messages (time and
 * import_kw at every control tick, each held until the next) add up, and its mean power. */
static void check_usage_report(const char *program, bool mqtt)
{
    char t_state[160];
    snprintf(t_state, sizeof t_state, "%s/state", ctx.prefix);
    REQUIRE(wire_subscribe(ctx.bus, t_state, 5000) == 0, "cannot subscribe to %s", t_state);
    enum { MAX_SAMPLES = 4096 };
    sample_t *samples = calloc(MAX_SAMPLES, sizeof *samples);
    REQUIRE(samples != NULL, "out of memory");
    size_t n = 0;
    REQUIRE(next_sample(t_state, START_TIMEOUT_MS, &samples[n]), "no state message");
    n++;
    int64_t start = (samples[0].ms / 60000 + 3) * 60000; /* 3 minutes ahead: 3 s real */
    int64_t end = start + 2 * 300000;
    char start_text[GRIDEMS_TIME_ISO_BUFLEN];
    REQUIRE(gridems_time_format_iso(start, 540, start_text, sizeof start_text) == 0, "time");
    char json[2048];
    snprintf(json, sizeof json,
             "{\"programID\":\"%s\",\"eventName\":\"usage-report\",\"reportDescriptors\":["
             "{\"payloadType\":\"USAGE\",\"readingType\":\"DIRECT_READ\",\"units\":\"KWH\"},"
             "{\"payloadType\":\"DEMAND\",\"units\":\"KW\"},{\"payloadType\":\"BASELINE\"}],"
             "\"intervalPeriod\":{\"start\":\"%s\",\"duration\":\"PT5M\"},\"intervals\":["
             "{\"id\":0,\"payloads\":[{\"type\":\"SIMPLE\",\"values\":[1]}]},"
             "{\"id\":1,\"payloads\":[{\"type\":\"SIMPLE\",\"values\":[1]}]}]}",
             program, start_text);
    size_t from = test_service_log_size(&ctx.svc);
    char event_id[64];
    vtn_write("POST", "/events", json, event_id, sizeof event_id);
    /* The samples until the report is on the VTN (it is due at the first tick at or after the
     * end: 13 minutes of service time, 13 s). */
    double deadline = test_now_ms() + 60000;
    cJSON *report = NULL;
    while (report == NULL) {
        REQUIRE(test_now_ms() < deadline, "no usage report for event %s within 60 s", event_id);
        while (n < MAX_SAMPLES && next_sample(t_state, 100, &samples[n])) {
            n++;
        }
        report = find_report(event_id);
    }
    /* Every sample up to the one the report was due at. */
    while (samples[n - 1].ms < end) {
        REQUIRE(n < MAX_SAMPLES && next_sample(t_state, 5000, &samples[n]),
                "no state message at or after the event's end");
        n++;
    }
    char *text = cJSON_PrintUnformatted(report);
    char excerpt[1000];
    snprintf(excerpt, sizeof excerpt, "%.990s", text != NULL ? text : "?");
    free(text);
    const cJSON *client = jfind(report, "clientName");
    const cJSON *desc = cJSON_GetArrayItem(jfind(report, "payloadDescriptors"), 0);
    const cJSON *res = cJSON_GetArrayItem(jfind(report, "resources"), 0);
    const cJSON *intervals = cJSON_GetObjectItemCaseSensitive(res, "intervals");
    REQUIRE(cJSON_IsString(client) && strcmp(client->valuestring, "sakai-ven") == 0,
            "the report's clientName is not openadr.client_name: %s", excerpt);
    const cJSON *type = jfind(desc, "payloadType");
    const cJSON *confidence = jfind(desc, "confidence");
    REQUIRE(cJSON_IsString(type) && strcmp(type->valuestring, "USAGE") == 0 &&
                cJSON_IsNumber(confidence) && confidence->valuedouble == 100,
            "the report's payload descriptor is not USAGE with confidence 100: %s", excerpt);
    REQUIRE(cJSON_GetArraySize(intervals) == 2, "the report has not two intervals: %s", excerpt);
    REQUIRE(cJSON_GetArraySize(jfind(report, "payloadDescriptors")) == 2,
            "the report does not describe USAGE and DEMAND: %s", excerpt);
    for (int i = 0; i < 2; i++) {
        const cJSON *it = cJSON_GetArrayItem(intervals, i);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *dur = jfind(it, "intervalPeriod.duration");
        const cJSON *value =
            cJSON_GetArrayItem(jfind(cJSON_GetArrayItem(jfind(it, "payloads"), 0), "values"), 0);
        const cJSON *demand = cJSON_GetArrayItem(jfind(it, "payloads"), 1);
        const cJSON *kw = cJSON_GetArrayItem(jfind(demand, "values"), 0);
        const cJSON *dtype = jfind(demand, "type");
        int64_t a = start + (int64_t)i * 300000;
        double want = usage_kwh(samples, n, a, a + 300000);
        REQUIRE(cJSON_IsNumber(id) && id->valuedouble == i && cJSON_IsString(dur) &&
                    strcmp(dur->valuestring, "PT300S") == 0 && cJSON_IsNumber(value),
                "interval %d of the report: %s", i, excerpt);
        /* Exact but for a state message lost on the way to the test (QoS 0): 1 %. */
        REQUIRE(want > 100.0 && fabs(value->valuedouble - want) <= 0.01 * want,
                "interval %d: the report says %.3f kWh, the state messages add up to %.3f: %s", i,
                value->valuedouble, want, excerpt);
        /* DEMAND: the mean import over the interval, every minute of it measured. */
        REQUIRE(cJSON_IsString(dtype) && strcmp(dtype->valuestring, "DEMAND") == 0 &&
                    cJSON_IsNumber(kw) && fabs(kw->valuedouble - want * 12.0) <= 0.12 * want,
                "interval %d: DEMAND is not the mean import %.3f kW: %s", i, want * 12.0, excerpt);
        fprintf(stderr,
                "test_openadr_vtn (%s): usage report interval %d: %.3f kWh (state "
                "messages: %.3f)\n",
                mqtt ? "mqtt" : "rest", i, value->valuedouble, want);
    }
    cJSON_Delete(report);
    free(samples);
    char needle[200];
    snprintf(needle, sizeof needle, "openadr: usage report for event %s sent", event_id);
    REQUIRE(logged_since(from, needle), "no \"%s\" in the log", needle);
    snprintf(needle, sizeof needle,
             "openadr: event %s: reportDescriptors[2] (BASELINE) not reported: payloadType: "
             "only USAGE and DEMAND are reported",
             event_id);
    REQUIRE(logged_since(from, needle), "the BASELINE request was not noted (\"%s\")", needle);
}

/* ---- ## The scenario, over REST polling or the MQTT binding ---- */

static void run_scenario(bool mqtt)
{
    memset(&ctx, 0, sizeof ctx);
    ctx.dir = test_make_tmpdir(mqtt ? "oadr-mqtt" : "oadr-rest");
    snprintf(ctx.vtn_log, sizeof ctx.vtn_log, "%s/vtn.log", ctx.dir);
    snprintf(ctx.cfg_path, sizeof ctx.cfg_path, "%s/gridems.json", ctx.dir);
    snprintf(ctx.log_path, sizeof ctx.log_path, "%s/gridems.log", ctx.dir);
    snprintf(ctx.token_path, sizeof ctx.token_path, "%s/vtn.token", ctx.dir);
    snprintf(ctx.prefix, sizeof ctx.prefix, "gridems/oadr-%s", mqtt ? "mqtt" : "rest");
    snprintf(ctx.t_schedule, sizeof ctx.t_schedule, "%s/schedule", ctx.prefix);
    snprintf(ctx.t_price, sizeof ctx.t_price, "%s/in/price", ctx.prefix);
    REQUIRE(gridems_time_parse_iso(CLOCK_START, &ctx.start_ms, NULL, NULL, 0) == 0, "clock");
    static const char *const plugins[] = {"battery_sim", "meter_sim"};
    for (int i = 0; i < 2; i++) {
        char so[1200];
        snprintf(so, sizeof so, "%s/gridems_%s.so", GRIDEMS_TEST_PLUGIN_DIR, plugins[i]);
        REQUIRE(access(so, R_OK) == 0, "%s is missing: build the target gridems_%s", so,
                plugins[i]);
    }
    REQUIRE(test_write_file(ctx.token_path, VEN_TOKEN "\n") == 0, "token file");
    broker_start(&ctx.broker, mqtt ? "oadr-mqtt" : "oadr-rest");
    start_vtn();

    /* The utility's program, before the VEN looks for it. */
    char program[64];
    vtn_write("POST", "/programs",
              "{\"programName\":\"gridems-test\",\"intervalPeriod\":{\"start\":"
              "\"2026-05-11T00:00:00+09:00\",\"duration\":\"PT30M\"}}",
              program, sizeof program);

    write_config(mqtt);
    ctx.bus = wire_connect(ctx.broker.uri, 5000);
    REQUIRE(ctx.bus != NULL, "cannot connect to %s", ctx.broker.uri);
    REQUIRE(wire_subscribe(ctx.bus, ctx.t_schedule, 5000) == 0, "cannot subscribe");
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    /* Ready for the VTN's events: REST has polled once; MQTT has its subscriptions acknowledged
     * and has polled after connecting (so nothing older than the subscription is missed). */
    REQUIRE(test_service_wait_log(&ctx.svc, 0, "openadr: program \"gridems-test\" is id",
                                  START_TIMEOUT_MS),
            "the VEN did not find the program");
    if (mqtt) {
        REQUIRE(test_service_wait_log(&ctx.svc, 0, "openadr: notifications subscribed on mqtt://",
                                      START_TIMEOUT_MS),
                "the VEN did not subscribe to the VTN's notifications");
        char *log = test_service_log(&ctx.svc);
        const char *conn = log != NULL ? strstr(log, "openadr: MQTT connected") : NULL;
        size_t at = conn != NULL ? (size_t)(conn - log) : 0;
        free(log);
        REQUIRE(
            test_service_wait_log(&ctx.svc, at, "openadr: poll: 0 events held", START_TIMEOUT_MS),
            "no poll after the MQTT connection");
    } else {
        REQUIRE(
            test_service_wait_log(&ctx.svc, 0, "openadr: poll: 0 events held", START_TIMEOUT_MS),
            "the VEN did not poll");
    }
    /* The simulated devices report over MQTT: wait until both are in the plans. */
    REQUIRE(test_service_wait_log(&ctx.svc, 0, "device bess1: first reading", START_TIMEOUT_MS),
            "the battery did not report");
    REQUIRE(test_service_wait_log(&ctx.svc, 0, "device it_load: first reading", START_TIMEOUT_MS),
            "the load meter did not report");

    /* The baseline: a flat 20 JPY/kWh on MQTT, as before OpenADR. */
    char price[1024];
    snprintf(price, sizeof price,
             "{\"start\":\"" CLOCK_START "\",\"step_minutes\":30,\"unit\":\"kWh\","
             "\"currency\":\"JPY\",\"values\":[%s]}",
             "20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20,20");
    REQUIRE(wire_publish(ctx.bus, ctx.t_price, price, 1, 0, 5000) == 0, "cannot publish");
    cJSON *plan = wait_plan(prices_are, 20.0, "the flat baseline price");
    double before_cap = fmin(import_at(plan, 10), import_at(plan, 11));
    cJSON_Delete(plan);
    REQUIRE(before_cap > 8000.0 + 1.0,
            "without a cap the plan imports %.1f kW at steps 10-11; "
            "the 8 MW cap below would test nothing",
            before_cap);

    /* 1. A PRICE event: the next schedule has its price in its four intervals. */
    size_t from = test_service_log_size(&ctx.svc);
    char json[4096];
    char price_id[64];
    char cap_id[64];
    char path[128];
    price_event_json(program, 50.0, json, sizeof json);
    double posted = test_now_ms();
    vtn_write("POST", "/events", json, price_id, sizeof price_id);
    plan = wait_plan(prices_are, 50.0, "the PRICE event's 50 JPY/kWh at steps 4-7");
    fprintf(stderr,
            "test_openadr_vtn (%s): PRICE event posted -> its schedule in %.0f ms "
            "(debounce 200 ms%s)\n",
            mqtt ? "mqtt" : "rest", test_now_ms() - posted, mqtt ? "" : ", polls every 1 s");
    /* The same intervals' EXPORT_PRICE and GHG (450 g/kWh is 0.45 kg/kWh in the service). */
    for (int k = 4; k <= 7; k++) {
        double exp = jat(plan, "plan.inputs.scenario.prices.export_per_kwh", plan_step(plan, k));
        double ghg =
            jat(plan, "plan.inputs.scenario.carbon.intensity_kg_per_kwh", plan_step(plan, k));
        REQUIRE(fabs(exp - 5.0) < 1e-9, "export price %g at step %d, want 5", exp, k);
        REQUIRE(fabs(ghg - 0.45) < 1e-12, "carbon %g kg/kWh at step %d, want 0.45", ghg, k);
    }
    cJSON_Delete(plan);
    if (mqtt) {
        char needle[96];
        snprintf(needle, sizeof needle, "openadr: event %s created (mqtt)", price_id);
        REQUIRE(logged_since(from, needle), "the price did not come by MQTT (\"%s\")", needle);
    }

    /* An event that is over (yesterday's price) is not held: the status below counts two. */
    snprintf(json, sizeof json,
             "{\"programID\":\"%s\",\"eventName\":\"yesterday\",\"payloadDescriptors\":"
             "[{\"objectType\":\"EVENT_PAYLOAD_DESCRIPTOR\",\"payloadType\":\"PRICE\","
             "\"units\":\"KWH\",\"currency\":\"JPY\"}],\"intervalPeriod\":{\"start\":"
             "\"2026-05-10T00:00:00+09:00\",\"duration\":\"PT1H\"},\"intervals\":[{\"id\":0,"
             "\"payloads\":[{\"type\":\"PRICE\",\"values\":[7]}]}]}",
             program);
    vtn_write("POST", "/events", json, NULL, 0);

    /* A price in another currency is rejected, naming the field; the rest goes on. */
    char bad_id[64];
    price_event_json(program, 99.0, json, sizeof json);
    char *usd = strstr(json, "\"JPY\"");
    REQUIRE(usd != NULL, "no currency in the test's event");
    memcpy(usd + 1, "USD", 3);
    vtn_write("POST", "/events", json, bad_id, sizeof bad_id);
    REQUIRE(test_service_wait_log(&ctx.svc, from,
                                  "payloadDescriptors[0].currency: \"USD\" is not the site's "
                                  "currency JPY",
                                  PLAN_TIMEOUT_MS),
            "the event in USD was not rejected by its field");

    /* 2. An IMPORT_CAPACITY_LIMIT event of 8 MW: the plan's import is capped in its interval. */
    cap_event_json(program, 8.0, json, sizeof json);
    vtn_write("POST", "/events", json, cap_id, sizeof cap_id);
    plan = wait_plan(cap_is, 8000.0, "the 8000 kW cap over steps 10-11");
    require_capped(plan, 8000.0);
    fprintf(stderr,
            "test_openadr_vtn (%s): import at steps 10-11 %.1f kW before the cap, "
            "%.1f and %.1f kW with it\n",
            mqtt ? "mqtt" : "rest", before_cap, import_at(plan, 10), import_at(plan, 11));
    cJSON_Delete(plan);

    /* 3. Updates are followed: the cap to 8.5 MW, the price to 35. */
    snprintf(path, sizeof path, "/events/%s", cap_id);
    cap_event_json(program, 8.5, json, sizeof json);
    vtn_write("PUT", path, json, NULL, 0);
    plan = wait_plan(cap_is, 8500.0, "the cap updated to 8500 kW");
    require_capped(plan, 8500.0);
    const cJSON *plan_id = jfind(plan, "plan.id");
    double cap_plan = cJSON_IsNumber(plan_id) ? plan_id->valuedouble : 0;
    cJSON_Delete(plan);
    /* The status tells the operator what the VEN holds and did (the one published with that
     * plan or later: it follows the schedule). */
    char t_status[160];
    snprintf(t_status, sizeof t_status, "%s/status", ctx.prefix);
    wire_msg_t st;
    cJSON *status_json = NULL;
    double status_deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        REQUIRE(wire_read_one(ctx.broker.uri, t_status, 5000, &st) == 0, "no status");
        status_json = cJSON_Parse(st.payload);
        wire_msg_free(&st);
        const cJSON *sid = jfind(status_json, "plan_id");
        if (cJSON_IsNumber(sid) && sid->valuedouble >= cap_plan) {
            break;
        }
        cJSON_Delete(status_json);
        REQUIRE(test_now_ms() < status_deadline, "no status for plan %.0f", cap_plan);
        test_sleep_ms(50); /* polling the retained status, bounded by the deadline */
    }
    const cJSON *held = jfind(status_json, "openadr.events");
    const cJSON *rejected = jfind(status_json, "openadr.rejected_events");
    const cJSON *notes = jfind(status_json, "openadr.notifications");
    const cJSON *polls = jfind(status_json, "openadr.polls");
    bool status_ok = cJSON_IsNumber(held) && held->valuedouble == 2 && cJSON_IsNumber(rejected) &&
                     rejected->valuedouble >= 1 && cJSON_IsNumber(polls) &&
                     polls->valuedouble >= 1 && cJSON_IsNumber(notes) &&
                     (mqtt ? notes->valuedouble >= 3 : notes->valuedouble == 0);
    char *status_text = cJSON_PrintUnformatted(jfind(status_json, "openadr"));
    char oadr_excerpt[400];
    snprintf(oadr_excerpt, sizeof oadr_excerpt, "%.380s",
             status_text != NULL ? status_text : "(none)");
    free(status_text);
    cJSON_Delete(status_json);
    REQUIRE(status_ok, "the status's openadr object: %s", oadr_excerpt);
    check_metrics();

    snprintf(path, sizeof path, "/events/%s", price_id);
    price_event_json(program, 35.0, json, sizeof json);
    vtn_write("PUT", path, json, NULL, 0);
    plan = wait_plan(prices_are, 35.0, "the price updated to 35 JPY/kWh");
    cJSON_Delete(plan);

    /* 4. A delete is followed: the cap goes, and the import at steps 10-11 with it. */
    snprintf(path, sizeof path, "/events/%s", cap_id);
    long status = vtn_request("DELETE", path, BL_TOKEN, NULL, NULL);
    REQUIRE(status == 200 || status == 204, "DELETE %s: HTTP %ld", path, status);
    plan = wait_plan(cap_is, -1.0, "no cap after the delete");
    REQUIRE(import_at(plan, 10) > 8500.0 + 1.0,
            "after the delete the plan still imports only "
            "%.1f kW at step 10",
            import_at(plan, 10));
    cJSON_Delete(plan);
    if (mqtt) {
        char needle[96];
        snprintf(needle, sizeof needle, "openadr: event %s deleted (mqtt)", cap_id);
        REQUIRE(logged_since(from, needle), "the delete did not come by MQTT (\"%s\")", needle);
        REQUIRE(!logged_since(from, "openadr: poll:"), "the MQTT-only VEN polled");
    }

    /* The event in USD was logged once, not at every poll. */
    char *whole = test_service_log(&ctx.svc);
    int rejections = test_count_substr(whole, "currency: \"USD\" is not the site's currency");
    free(whole);
    REQUIRE(rejections == 1, "the event in USD was logged %d times", rejections);

    /* 5. (REST) A price event deleted while the service is down: after the restart the service
     * still has the price it had kept, but the first poll withdraws it, and the horizon ends
     * where the known prices end (step 4). */
    if (!mqtt) {
        /* A cap that is there at the stop, deleted on the VTN while the service is down. */
        char cap2_id[64];
        cap_event_json(program, 8.0, json, sizeof json);
        vtn_write("POST", "/events", json, cap2_id, sizeof cap2_id);
        plan = wait_plan(cap_is, 8000.0, "the second 8000 kW cap");
        cJSON_Delete(plan);
        /* An event asking for a usage report six hours ahead: the report in the making is in
         * state_dir at the stop and restored at the start. */
        char ahead[GRIDEMS_TIME_ISO_BUFLEN];
        iso_at_step(12, ahead);
        snprintf(json, sizeof json,
                 "{\"programID\":\"%s\",\"eventName\":\"later-report\",\"reportDescriptors\":"
                 "[{\"payloadType\":\"USAGE\"}],\"intervalPeriod\":{\"start\":\"%s\","
                 "\"duration\":\"PT30M\"},\"intervals\":[{\"id\":0,\"payloads\":[{\"type\":"
                 "\"SIMPLE\",\"values\":[1]}]}]}",
                 program, ahead);
        char later_id[64];
        vtn_write("POST", "/events", json, later_id, sizeof later_id);
        char reports_path[1200];
        snprintf(reports_path, sizeof reports_path, "%s/state/openadr_reports.json", ctx.dir);
        char needle_id[96];
        snprintf(needle_id, sizeof needle_id, "\"event\":\"%s\"", later_id);
        double saved_deadline = test_now_ms() + PLAN_TIMEOUT_MS;
        for (;;) {
            char *saved = test_read_file(reports_path, NULL);
            bool there = saved != NULL && strstr(saved, needle_id) != NULL;
            free(saved);
            if (there) {
                break;
            }
            REQUIRE(test_now_ms() < saved_deadline, "%s does not hold event %s", reports_path,
                    later_id);
            test_sleep_ms(50); /* polling the file the service writes, bounded by the deadline */
        }
        REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service had ended");
        int stopped = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
        REQUIRE(stopped == 0, "SIGTERM: exit status %d", stopped);
        snprintf(path, sizeof path, "/events/%s", price_id);
        status = vtn_request("DELETE", path, BL_TOKEN, NULL, NULL);
        REQUIRE(status == 200 || status == 204, "DELETE %s: HTTP %ld", path, status);
        snprintf(path, sizeof path, "/events/%s", bad_id);
        status = vtn_request("DELETE", path, BL_TOKEN, NULL, NULL);
        REQUIRE(status == 200 || status == 204, "DELETE %s: HTTP %ld", path, status);
        snprintf(path, sizeof path, "/events/%s", cap2_id);
        status = vtn_request("DELETE", path, BL_TOKEN, NULL, NULL);
        REQUIRE(status == 200 || status == 204, "DELETE %s: HTTP %ld", path, status);
        size_t restart_from = test_service_log_size(&ctx.svc);
        test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
        REQUIRE(test_service_wait_log(&ctx.svc, restart_from, "openadr_applied.json: restored",
                                      START_TIMEOUT_MS),
                "what OpenADR applied was not restored");
        REQUIRE(test_service_wait_log(&ctx.svc, restart_from,
                                      "openadr_reports.json: restored (1 usage report(s) in the "
                                      "making)",
                                      START_TIMEOUT_MS),
                "the usage report in the making was not restored");
        plan = wait_plan(horizon_ends_at_step, 4.0, "a horizon ending where the price was deleted");
        cJSON_Delete(plan);
        /* The restored cap is the VEN's again, and the first poll cancels it. */
        char needle[128];
        snprintf(needle, sizeof needle, "DR event oadr:%s:0 cancelled", cap2_id);
        REQUIRE(test_service_wait_log(&ctx.svc, restart_from, needle, PLAN_TIMEOUT_MS),
                "the cap deleted while the service was down was not cancelled (\"%s\")", needle);
    }

    check_usage_report(program, mqtt);

    /* A clean stop, with the VEN's handles and its MQTT client closed. */
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service had ended");
    int exit_status = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
    REQUIRE(exit_status == 0, "SIGTERM: exit status %d", exit_status);
    char *log = test_service_log(&ctx.svc);
    const char *report = test_sanitizer_report(log);
    char excerpt[1200] = "";
    if (report != NULL) {
        snprintf(excerpt, sizeof excerpt, "%s", report);
    }
    free(log);
    REQUIRE(report == NULL, "sanitizer report in the service's log:\n%s", excerpt);
    release_all();
}

START_TEST(over_rest_polling)
{
    run_scenario(false);
}
END_TEST

START_TEST(over_mqtt_binding)
{
    run_scenario(true);
}
END_TEST

int main(void)
{
    if (access(VTN_DIR "/start.sh", R_OK) != 0) {
        fprintf(stderr,
                "test_openadr_vtn: skipped: the OpenADR 3.1 reference VTN is not at %s "
                "(it comes with ../shared beside the project)\n",
                VTN_DIR);
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "test_openadr_vtn: skipped: mosquitto not found\n");
        return 77;
    }
    char *argv[] = {"/usr/bin/python3", "-c", PYTHON_MODULES, NULL};
    char *err = NULL;
    int rc = test_run_capture(argv, NULL, &err);
    if (rc != 0) {
        fprintf(stderr,
                "test_openadr_vtn: skipped: the VTN's Python modules are missing (tests/run.sh "
                "installs them when ../shared is present): %s\n",
                err != NULL ? err : "");
        free(err);
        return 77;
    }
    free(err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("openadr_vtn");
    TCase *tc = tcase_create("vtn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, over_rest_polling);
    tcase_add_test(tc, over_mqtt_binding);
    suite_add_tcase(s, tc);
    rc = test_run_suite(s);
    curl_global_cleanup();
    return rc;
}
