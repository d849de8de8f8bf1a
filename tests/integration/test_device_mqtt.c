/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * device_mqtt through the real loader and the real service (`gridems run`, a private mosquitto),
 * against devices that a test fixture plays with the mosquitto command-line clients: a battery
 * and a flexible load publishing JSON telemetry and taking commands, a meter publishing a raw
 * number. Checks the mapping (paths, scale, offset) in the service's state, the templated
 * commands as mosquitto_sub receives them, the watchdog's re-sends, a malformed message, and a
 * battery whose telemetry stops: stale, a safe command, and back in the plan when it resumes.
 * Skipped (exit 77) without mosquitto or its clients.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "sunspec_peer.h"
#include "sunspec_site.h"
#include "test_util.h"

enum { T_MS = 20000 };

/* The devices' telemetry, published every 200 ms by a shell loop (the devices' own cadence).
 * bess: + charging in W (gridems: + discharging in kW, so scale -0.001), state of charge in %
 * of 200 kWh (scale 2); train: kW, kWh to go, deadline in Unix seconds (06:00 +09:00); grid:
 * a raw number of W (scale 0.001, offset 0.25 kW for a constant auxiliary load). */
static const char *const device_script =
    "while :; do\n"
    "  mosquitto_pub -h 127.0.0.1 -p \"$PORT\" -t dev/bess/tele "
    "-m '{\"id\":\"b1\",\"bat\":{\"p_w\":1200.5,\"soc_pct\":\"61.5\"}}'\n"
    "  mosquitto_pub -h 127.0.0.1 -p \"$PORT\" -t dev/train/tele "
    "-m '{\"p\":300,\"rem_kwh\":900,\"deadline_s\":1683493200}'\n"
    "  mosquitto_pub -h 127.0.0.1 -p \"$PORT\" -t dev/grid/w -m ' 1500 '\n"
    "  sleep 0.2\n"
    "done\n";

static void start_devices(peer_t *p, site_t *s, const char *name, const char *script)
{
    char log[700], port[16];
    snprintf(log, sizeof log, "%s/%s.log", s->dir, name);
    snprintf(port, sizeof port, "%d", s->broker.port);
    setenv("PORT", port, 1);
    /* "listening 0" tells peer_start the fixture runs. */
    char wrapped[2048];
    snprintf(wrapped, sizeof wrapped, "echo listening 0\n%s", script);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", wrapped, NULL};
    ck_assert_int_eq(peer_start(p, argv, log), 0);
}

static void expect_peer(const peer_t *p, size_t from, const char *needle, int timeout_ms)
{
    if (peer_wait_log(p, from, needle, timeout_ms)) {
        return;
    }
    char *log = test_read_file(p->log_path, NULL);
    ck_abort_msg("not in %s within %d ms: %s\n%.3000s", p->log_path, timeout_ms, needle,
                 log != NULL ? log : "");
}

static int count(const peer_t *p, const char *needle)
{
    char *log = test_read_file(p->log_path, NULL);
    int n = log != NULL ? test_count_substr(log, needle) : 0;
    free(log);
    return n;
}

START_TEST(test_mapped_devices)
{
    site_t s;
    site_init(&s, "device-mqtt");
    peer_t sub, dev;
    char sub_script[512];
    snprintf(sub_script, sizeof sub_script,
             "exec mosquitto_sub -h 127.0.0.1 -p \"$PORT\" -t 'dev/+/set' -v\n");
    start_devices(&sub, &s, "commands", sub_script);
    start_devices(&dev, &s, "devices", device_script);
    const char *plugins =
        "{\"plugin\": \"device_mqtt\", \"name\": \"bess\", \"options\": {"
        "\"device_class\": \"battery\", \"power_topic\": \"dev/bess/tele\", "
        "\"power_path\": \"bat.p_w\", \"power_scale\": -0.001, \"soc_topic\": \"dev/bess/tele\", "
        "\"soc_path\": \"bat.soc_pct\", \"soc_scale\": 2, \"capacity_kwh\": 200, "
        "\"charge_max_kw\": 50, \"discharge_max_kw\": 50, \"command_topic\": \"dev/bess/set\", "
        "\"command_template\": \"{\\\"mode\\\":${safe01},\\\"target_w\\\":${power_w},"
        "\\\"plan\\\":${plan_id}}\", \"resend_ms\": 500, \"stale_after_ms\": 120000}},\n"
        "{\"plugin\": \"device_mqtt\", \"name\": \"train\", \"options\": {"
        "\"device_class\": \"flex\", \"power_topic\": \"dev/train/tele\", \"power_path\": \"p\", "
        "\"remaining_topic\": \"dev/train/tele\", \"remaining_path\": \"rem_kwh\", "
        "\"deadline_topic\": \"dev/train/tele\", \"deadline_path\": \"deadline_s\", "
        "\"deadline_scale\": 1000, \"power_max_kw\": 400, \"command_topic\": \"dev/train/set\", "
        "\"command_template\": \"cap ${power_kw} kW{safe=${safe}}\", \"resend_ms\": 500, "
        "\"stale_after_ms\": 120000}},\n"
        "{\"plugin\": \"device_mqtt\", \"name\": \"grid\", \"options\": {"
        "\"device_class\": \"meter\", \"power_topic\": \"dev/grid/w\", \"power_scale\": 0.001, "
        "\"power_offset\": 0.25, \"role\": \"site\", \"stale_after_ms\": 120000}}";
    site_start(&s, plugins);

    site_expect_state(&s, "bess", -1.2005, 123.0, T_MS);
    site_expect_state(&s, "train", 300.0, NAN, T_MS);
    site_expect_state(&s, "grid", 1.75, NAN, T_MS);

    /* Plans and templated commands. */
    site_publish_prices(&s);
    expect_peer(&sub, 0, "dev/bess/set {\"mode\":0,\"target_w\":", T_MS);
    expect_peer(&sub, 0, "dev/train/set cap ", T_MS);
    expect_peer(&sub, 0, " kW{safe=false}\n", T_MS);
    /* The watchdog: the battery's command keeps coming every 500 ms. */
    char *log = test_read_file(sub.log_path, NULL);
    ck_assert_ptr_nonnull(log);
    const char *first = strstr(log, "dev/bess/set {\"mode\":0");
    ck_assert_ptr_nonnull(first);
    char line[256];
    size_t n = strcspn(first, "\n");
    ck_assert_uint_lt(n, sizeof line - 2);
    memcpy(line, first, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free(log);
    double deadline = test_now_ms() + T_MS;
    while (count(&sub, line) < 3) {
        ck_assert_msg(test_now_ms() < deadline, "the command was not re-sent: %s", line);
        test_sleep_ms(50);
    }

    /* A malformed message is ignored and named. */
    size_t at = test_service_log_size(&s.svc);
    char port[16];
    snprintf(port, sizeof port, "%d", s.broker.port);
    char *pub[] = {(char *)"/usr/bin/mosquitto_pub",
                   (char *)"-h",
                   (char *)"127.0.0.1",
                   (char *)"-p",
                   port,
                   (char *)"-t",
                   (char *)"dev/bess/tele",
                   (char *)"-m",
                   (char *)"{\"bat\":{\"p_w\":null,\"soc_pct\":61.5}}",
                   NULL};
    ck_assert_int_eq(test_run_capture(pub, NULL, NULL), 0);
    site_expect_log(&s, at,
                    "[device_mqtt:bess] power: message on dev/bess/tele ignored (1 so "
                    "far): null at \"bat.p_w\"",
                    T_MS);

    /* The devices fall silent: stale, the battery gets its safe command; then back. */
    peer_stop(&dev);
    at = test_service_log_size(&s.svc);
    size_t cmd_at = peer_log_size(&sub);
    site_expect_log(&s, at, "[device_mqtt:bess] no telemetry for", T_MS);
    site_expect_log(&s, at, "device bess: no reading for", T_MS);
    expect_peer(&sub, cmd_at, "dev/bess/set {\"mode\":1,\"target_w\":0,", T_MS);
    at = test_service_log_size(&s.svc);
    start_devices(&dev, &s, "devices2", device_script);
    site_expect_log(&s, at, "[device_mqtt:bess] telemetry again on dev/bess/tele", T_MS);
    site_expect_log(&s, at, "device bess: readings again; back in the plan", T_MS);
    site_expect_state(&s, "bess", -1.2005, 123.0, T_MS);

    site_finish(&s);
    peer_stop(&dev);
    peer_stop(&sub);
}
END_TEST

int main(void)
{
    if (!broker_available() || access("/usr/bin/mosquitto_pub", X_OK) != 0 ||
        access("/usr/bin/mosquitto_sub", X_OK) != 0) {
        fprintf(stderr, "test_device_mqtt: skipped: mosquitto or its clients (mosquitto-clients) "
                        "are not installed\n");
        return 77;
    }
    Suite *s = suite_create("device_mqtt");
    TCase *tc = tcase_create("service");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mapped_devices);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
