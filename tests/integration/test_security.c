/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Security integration tests (docs/security.md): the real service against a real mosquitto the
 * test starts.
 *
 * acl_keeps_the_plan: the broker runs with config/mosquitto/gridems.acl (plus simulators.acl,
 *   since the simulated gateways publish through the service) and a password file made by
 *   config/mosquitto/make-passwords.sh; gridems logs in with mqtt.password_file. A client
 *   without a password is refused; a gateway publishing prices, a DR event with
 *   import_limit_kw 0, a replan command and another device's telemetry, and the utility sending
 *   a command, change nothing: the next plan (asked for by the operator) has the utility's
 *   prices, no DR event and the real load. Without the ACL each of these would reach the plan.
 *
 * tls_failures_named: TLS listeners with certificates made at run time by
 *   tests/support/make-test-certs.sh. The right CA connects; a wrong CA is logged as
 *   "certificate verify failed", a certificate for another host as "host name mismatch", and an
 *   ssl:// URI without a tls section uses the system trust store (so fails verification here)
 *   instead of Paho's "Invalid (NULL) parameter".
 *
 * Waits are bounded and event-driven (a message, a log line of the service or of the broker).
 */
#include "check_run.h"
#include "broker.h"
#include "mqtt_wire.h"
#include "service_ctx.h"
#include "service_harness.h"
#include "test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { START_TIMEOUT_MS = 15000, PLAN_TIMEOUT_MS = 10000, STOP_TIMEOUT_MS = SERVICE_CTX_STOP_MS };

#define SITE "sakai-dc1"
#define PREFIX "gridems/" SITE

/* The test's context is service_ctx.h's `ctx` (its site is SITE). */

static char *read_secret(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/mosq/%s.password", ctx.dir, name);
    char *text = test_read_file(path, NULL);
    REQUIRE(text != NULL, "cannot read %s", path);
    text[strcspn(text, "\n")] = '\0';
    return text;
}

/* The service's config: the two simulated devices of the example site, the given mqtt object. */
static void write_config(const char *mqtt_json)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"site\": {\"id\": \"" SITE "\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\","
             " \"import_limit_kw\": 20000},\n"
             " \"mqtt\": %s,\n"
             " \"planner\": {\"step_minutes\": 30, \"horizon_steps\": 48, \"replan_seconds\": "
             "86400, \"debounce_ms\": 200},\n"
             " \"clock\": {\"mode\": \"simulated\", \"start\": \"2023-05-08T00:00:00+09:00\","
             " \"speed\": 60},\n"
             " \"state_dir\": \"%s/state\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
             " \"plugins\": [\n"
             "  {\"plugin\": \"battery_sim\", \"name\": \"bess1\", \"options\": {\n"
             "    \"topic_prefix\": \"sim/" SITE "/bess1\", \"capacity_kwh\": 4000,"
             " \"soc_kwh\": 2000, \"soc_min_kwh\": 400, \"charge_max_kw\": 2000,"
             " \"discharge_max_kw\": 2000}},\n"
             "  {\"plugin\": \"meter_sim\", \"name\": \"it_load\", \"options\": {\n"
             "    \"topic_prefix\": \"sim/" SITE "/it_load\", \"base_kw\": 9000,"
             " \"swing_kw\": 600, \"utc_offset_hours\": 9}}]}\n",
             mqtt_json, ctx.dir, GRIDEMS_TEST_PLUGIN_DIR);
    REQUIRE(test_write_file(ctx.cfg_path, text) == 0, "cannot write %s", ctx.cfg_path);
    REQUIRE(chmod(ctx.cfg_path, 0600) == 0, "chmod %s", ctx.cfg_path);
}

static void ctx_init(const char *tag)
{
    service_ctx_init(tag);
    ctx.print_broker_log = true; /* what the broker refused is half of each story here */
}

/* Count of needle in the broker's log. */
static int broker_log_count(const char *needle)
{
    char *log = broker_log(&ctx.broker);
    int n = log != NULL ? test_count_substr(log, needle) : 0;
    free(log);
    return n;
}

static void stop_service(void)
{
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service was not running (status %d)",
            ctx.svc.status);
    int status = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
    REQUIRE(status == 0, "SIGTERM: exit status %d", status);
    char *log = test_service_log(&ctx.svc);
    const char *report = test_sanitizer_report(log);
    char excerpt[1200] = "";
    if (report != NULL) {
        snprintf(excerpt, sizeof excerpt, "%s", report);
    }
    free(log);
    REQUIRE(report == NULL, "sanitizer report in the service's log:\n%s", excerpt);
}

/* The next schedule on the bus with plan.id > min_id; the caller deletes it. */
static cJSON *next_schedule(double min_id)
{
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && wire_next(ctx.bus, PREFIX "/schedule", NULL, left, &msg) == 0,
                "no schedule with id > %.0f within %d ms", min_id, PLAN_TIMEOUT_MS);
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        const cJSON *id =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "plan"), "id");
        if (cJSON_IsNumber(id) && id->valuedouble > min_id) {
            return root;
        }
        cJSON_Delete(root);
    }
}

static const cJSON *at(const cJSON *root, const char *a, const char *b, const char *c)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, a);
    n = b != NULL ? cJSON_GetObjectItemCaseSensitive(n, b) : n;
    n = c != NULL ? cJSON_GetObjectItemCaseSensitive(n, c) : n;
    REQUIRE(n != NULL, "schedule member %s.%s.%s missing", a, b ? b : "", c ? c : "");
    return n;
}

static char *flat_price(double value)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "start", "2023-05-08T00:00:00+09:00");
    cJSON_AddNumberToObject(root, "step_minutes", 30);
    double v[96];
    for (int i = 0; i < 96; i++) {
        v[i] = value;
    }
    cJSON_AddItemToObject(root, "values", cJSON_CreateDoubleArray(v, 96));
    cJSON_AddStringToObject(root, "currency", "JPY");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* Every import price of the plan equals value. */
static bool prices_are(const cJSON *plan, double value)
{
    const cJSON *p = NULL;
    const cJSON *prices =
        cJSON_GetObjectItemCaseSensitive(at(plan, "plan", "inputs", "scenario"), "prices");
    prices = cJSON_GetObjectItemCaseSensitive(prices, "import_per_kwh");
    bool all = cJSON_GetArraySize(prices) > 0;
    cJSON_ArrayForEach(p, prices)
    {
        all = all && p->valuedouble == value;
    }
    return all;
}

static double max_base_load(const cJSON *plan)
{
    const cJSON *site =
        cJSON_GetObjectItemCaseSensitive(at(plan, "plan", "inputs", "scenario"), "site");
    const cJSON *v = NULL;
    double max = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(site, "base_load_kw"))
    {
        max = fmax(max, v->valuedouble);
    }
    return max;
}

/* Publish as user (password from its file) on a connection of its own; the broker has decided
 * about the message once this returns (PUBACK). */
static void publish_as(const char *user, const char *topic, const char *payload)
{
    char *pw = read_secret(user);
    int code = -1;
    wire_t *w = wire_connect_auth(ctx.broker.uri, user, pw, 5000, &code);
    free(pw);
    REQUIRE(w != NULL, "%s cannot connect (CONNACK %d)", user, code);
    int rc = wire_publish(w, topic, payload, 1, 0, 5000);
    wire_close(w);
    REQUIRE(rc == 0, "%s: no PUBACK for %s", user, topic);
}

START_TEST(acl_keeps_the_plan)
{
    ctx_init("sec-acl");
    /* Passwords and the ACL, exactly as an operator would make them. */
    char script[1024], mosq[1200];
    snprintf(script, sizeof script, "%s/config/mosquitto/make-passwords.sh",
             GRIDEMS_TEST_SOURCE_DIR);
    snprintf(mosq, sizeof mosq, "%s/mosq", ctx.dir);
    char *argv[] = {script, mosq, "gridems", "utility", "operator", "bess1", "it_load", NULL};
    char *err = NULL;
    int rc = test_run_capture(argv, NULL, &err);
    char err_copy[512];
    snprintf(err_copy, sizeof err_copy, "%s", err != NULL ? err : "");
    free(err);
    REQUIRE(rc == 0, "make-passwords.sh failed (%d): %s", rc, err_copy);
    char acl_path[1300], text_path[1300];
    snprintf(acl_path, sizeof acl_path, "%s/gridems.acl", mosq);
    char *acl = NULL;
    {
        snprintf(text_path, sizeof text_path, "%s/config/mosquitto/gridems.acl",
                 GRIDEMS_TEST_SOURCE_DIR);
        char *a = test_read_file(text_path, NULL);
        snprintf(text_path, sizeof text_path, "%s/config/mosquitto/simulators.acl",
                 GRIDEMS_TEST_SOURCE_DIR);
        char *b = test_read_file(text_path, NULL);
        REQUIRE(a != NULL && b != NULL, "cannot read the example ACL files");
        acl = malloc(strlen(a) + strlen(b) + 2);
        sprintf(acl, "%s\n%s", a, b);
        free(a);
        free(b);
    }
    rc = test_write_file(acl_path, acl);
    free(acl);
    REQUIRE(rc == 0, "cannot write %s", acl_path);
    char extra[4096];
    /* As root, mosquitto would switch to its own user, which cannot read the test's 0600 files. */
    snprintf(extra, sizeof extra,
             "allow_anonymous false\npassword_file %s/gridems.passwd\nacl_file %s\n"
             "log_type debug\n%s",
             mosq, acl_path, geteuid() == 0 ? "user root\n" : "");
    broker_start_with(&ctx.broker, "sec-acl", extra, "tcp");

    char mqtt[2048];
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\": \"%s\", \"username\": \"gridems\", \"password_file\": "
             "\"%s/gridems.password\"}",
             ctx.broker.uri, mosq);
    write_config(mqtt);

    /* Anonymous clients and a wrong password are turned away. */
    int code = -1;
    wire_t *anon = wire_connect_auth(ctx.broker.uri, NULL, NULL, 5000, &code);
    REQUIRE(anon == NULL && code == 5, "an anonymous client was not refused (CONNACK %d)", code);
    wire_t *wrong = wire_connect_auth(ctx.broker.uri, "utility", "guess", 5000, &code);
    REQUIRE(wrong == NULL && (code == 4 || code == 5), "a wrong password: CONNACK %d", code);

    /* The operator watches everything of the site. */
    char *op_pw = read_secret("operator");
    ctx.bus = wire_connect_auth(ctx.broker.uri, "operator", op_pw, 5000, &code);
    free(op_pw);
    REQUIRE(ctx.bus != NULL, "the operator cannot connect (CONNACK %d)", code);
    REQUIRE(wire_subscribe(ctx.bus, PREFIX "/status", 5000) == 0 &&
                wire_subscribe(ctx.bus, PREFIX "/schedule", 5000) == 0,
            "the operator cannot subscribe");

    size_t from = test_service_log_size(&ctx.svc);
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    wire_msg_t msg;
    REQUIRE(wire_next(ctx.bus, PREFIX "/status", "\"state\":", START_TIMEOUT_MS, &msg) == 0,
            "no status: the service did not log in with its password file");
    wire_msg_free(&msg);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "device bess1: first reading", START_TIMEOUT_MS),
            "the battery's telemetry did not reach the service through the ACL");

    /* The utility's prices make a plan. */
    char *price = flat_price(20.0);
    publish_as("utility", PREFIX "/in/price", price);
    free(price);
    cJSON *plan = next_schedule(0);
    while (!prices_are(plan, 20.0)) {
        double id = at(plan, "plan", "id", NULL)->valuedouble;
        cJSON_Delete(plan);
        plan = next_schedule(id);
    }
    double price_plan = at(plan, "plan", "id", NULL)->valuedouble;
    double load_before = max_base_load(plan);
    cJSON_Delete(plan);

    /* The attacks. A gateway (bess1) writes the utility's and the operator's topics and another
     * device's telemetry; the utility sends a command. */
    int denied0 = broker_log_count("Denied PUBLISH");
    char *evil = flat_price(99999.0);
    publish_as("bess1", PREFIX "/in/price", evil);
    free(evil);
    publish_as("bess1", PREFIX "/in/event",
               "{\"id\":\"evil\",\"start\":\"2023-05-08T00:00:00+09:00\","
               "\"end\":\"2023-05-09T00:00:00+09:00\",\"import_limit_kw\":0}");
    publish_as("bess1", PREFIX "/cmd", "{\"cmd\":\"replan\"}");
    publish_as("bess1", "sim/" SITE "/it_load/telemetry",
               "{\"ts\":1683471600000,\"power_kw\":9e8}");
    publish_as("utility", PREFIX "/cmd", "{\"cmd\":\"replan\"}");
    int denied = broker_log_count("Denied PUBLISH") - denied0;
    REQUIRE(denied == 5, "the broker denied %d of the 5 forbidden publishes", denied);

    /* The operator may ask for a plan: it is the first one since the price's, and it has the
     * utility's prices, no DR event and the real load. */
    publish_as("operator", PREFIX "/cmd", "{\"cmd\":\"replan\"}");
    double id = price_plan;
    for (;;) {
        cJSON *p = next_schedule(id);
        id = at(p, "plan", "id", NULL)->valuedouble;
        char reason[32];
        snprintf(reason, sizeof reason, "%s", at(p, "plan", "reason", NULL)->valuestring);
        bool ok = prices_are(p, 20.0) && at(p, "plan", "inputs", "dr_events")->valuedouble == 0 &&
                  max_base_load(p) < 2 * load_before;
        double load = max_base_load(p), events = at(p, "plan", "inputs", "dr_events")->valuedouble;
        bool is_command = strcmp(reason, "command") == 0;
        cJSON_Delete(p);
        REQUIRE(ok,
                "plan %.0f (%s) changed: prices not all 20, %.0f DR events, base load %.0f "
                "kW (before %.0f)",
                id, reason, events, load, load_before);
        REQUIRE(strcmp(reason, "event") != 0 && strcmp(reason, "price") != 0,
                "plan %.0f has reason %s: a forbidden message reached the service", id, reason);
        if (is_command) {
            break;
        }
    }
    fprintf(stderr, "test_security: 5 forbidden publishes denied, the plan kept its inputs\n");
    stop_service();
    service_ctx_release();
}
END_TEST

/* A free loopback port (another process may take it before mosquitto binds it; then the broker
 * fails to start and the test says so). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                getsockname(fd, (struct sockaddr *)&a, &len) == 0,
            "no free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* Run the service with mqtt_json until its log (this run) has want; then stop it. */
static void run_until_logged(const char *mqtt_json, const char *want, const char *must_not)
{
    write_config(mqtt_json);
    size_t from = test_service_log_size(&ctx.svc);
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    bool found = test_service_wait_log(&ctx.svc, from, want, START_TIMEOUT_MS);
    char *log = test_service_log(&ctx.svc);
    const char *run = log != NULL && strlen(log) >= from ? log + from : "";
    const char *line = strstr(run, "mqtt: TLS connection to");
    char shown[512] = "(none)";
    if (line != NULL) {
        snprintf(shown, sizeof shown, "%.*s", (int)strcspn(line, "\n"), line);
    }
    bool bad = must_not != NULL && strstr(run, must_not) != NULL;
    free(log);
    REQUIRE(found, "the service did not log \"%s\" within %d ms", want, START_TIMEOUT_MS);
    REQUIRE(!bad, "the service logged \"%s\"", must_not);
    fprintf(stderr, "test_security: %s\n", shown);
    stop_service();
}

START_TEST(tls_failures_named)
{
    ctx_init("sec-tls");
    char certs[1200], script[1024];
    snprintf(certs, sizeof certs, "%s/certs", ctx.dir);
    snprintf(script, sizeof script, "%s/tests/support/make-test-certs.sh", GRIDEMS_TEST_SOURCE_DIR);
    char *argv[] = {"/bin/bash", script, certs, NULL};
    REQUIRE(test_run_capture(argv, NULL, NULL) == 0, "make-test-certs.sh failed (openssl?)");
    int good = free_port(), other = free_port();
    char extra[8192];
    snprintf(extra, sizeof extra,
             "listener %d 127.0.0.1\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
             "listener %d 127.0.0.1\ncertfile %s/other.crt\nkeyfile %s/other.key\n%s",
             good, certs, certs, other, certs, certs, geteuid() == 0 ? "user root\n" : "");
    broker_start_with(&ctx.broker, "sec-tls", extra, "tcp");
    ctx.bus = wire_connect(ctx.broker.uri, 5000);
    REQUIRE(ctx.bus != NULL && wire_subscribe(ctx.bus, PREFIX "/status", 5000) == 0,
            "cannot watch the status");

    char mqtt[2048];
    /* The right CA: connected, status online. */
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\": \"ssl://127.0.0.1:%d\", \"tls\": {\"ca_file\": "
             "\"%s/ca.crt\"}}",
             good, certs);
    run_until_logged(mqtt, "mqtt: connected to ssl://", NULL);
    wire_msg_t msg;
    REQUIRE(wire_next(ctx.bus, PREFIX "/status", "\"state\":", 5000, &msg) == 0,
            "no status over TLS");
    wire_msg_free(&msg);

    /* A CA that did not sign the broker's certificate. */
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\": \"ssl://127.0.0.1:%d\", \"tls\": {\"ca_file\": "
             "\"%s/rogue.crt\"}}",
             good, certs);
    run_until_logged(mqtt, "failed: certificate verify failed", NULL);

    /* The right CA, but a certificate for another host. */
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\": \"ssl://127.0.0.1:%d\", \"tls\": {\"ca_file\": "
             "\"%s/ca.crt\"}}",
             other, certs);
    run_until_logged(mqtt, "failed: host name mismatch", NULL);

    /* ssl:// alone: the system trust store, which does not hold the test CA. */
    snprintf(mqtt, sizeof mqtt, "{\"uri\": \"ssl://127.0.0.1:%d\"}", good);
    run_until_logged(mqtt, "failed: certificate verify failed", "Invalid (NULL) parameter");
    service_ctx_release();
}
END_TEST

int main(void)
{
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the security integration tests\n");
        return 77;
    }
    if (system("command -v mosquitto_passwd >/dev/null 2>&1 && command -v openssl >/dev/null "
               "2>&1") != 0) {
        fprintf(stderr, "mosquitto_passwd or openssl not found: skipping the security tests\n");
        return 77;
    }
    Suite *s = suite_create("security");
    TCase *acl = tcase_create("acl");
    tcase_set_timeout(acl, 60);
    tcase_add_test(acl, acl_keeps_the_plan);
    suite_add_tcase(s, acl);
    TCase *tls = tcase_create("tls");
    tcase_set_timeout(tls, 90);
    tcase_add_test(tls, tls_failures_named);
    suite_add_tcase(s, tls);
    return test_run_suite(s);
}
