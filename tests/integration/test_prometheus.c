/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The metrics as Prometheus sees them: GET /metrics of the running service with the simulated
 * site must pass `promtool check metrics` (the exposition format and the naming lint), and a real
 * Prometheus (Debian's prometheus, on a free loopback port, a temporary config scraping the
 * service every second) must report the target up and serve gridems samples from its query API.
 * Its first sample takes several seconds, so the query API is polled with a deadline.
 * Skipped (77) when prometheus, promtool or mosquitto is missing.
 */
#include "check_run.h"
#include "http_site.h"
#include "test_util.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

enum { READY_TIMEOUT_MS = 30000, SCRAPE_TIMEOUT_MS = 60000 };

static http_site_t site;
static char prometheus[1024], promtool[1024];
static pid_t prom_pid;

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char require_msg_[3072];                                                               \
            int n_ = snprintf(require_msg_, sizeof require_msg_, "%s:%d: %s: ", __FILE__,          \
                              __LINE__, #cond);                                                    \
            snprintf(require_msg_ + n_, sizeof require_msg_ - (size_t)n_, __VA_ARGS__);            \
            test_stop_pid(prom_pid, 2000);                                                         \
            http_site_fail(&site, require_msg_);                                                   \
        }                                                                                          \
    } while (0)

static char *get_metrics(void)
{
    http_resp_t r;
    REQUIRE(http_request(site.port, "GET", "/metrics", NULL, NULL, 5000, &r) == 0 &&
                r.status == 200,
            "GET /metrics: %d", r.status);
    char *text = strdup(r.body);
    http_resp_free(&r);
    return text;
}

/* Start Prometheus scraping the service; returns its port once /-/ready answers. */
static int start_prometheus(void)
{
    char conf[1200], data[1200], log[1200];
    snprintf(conf, sizeof conf, "%s/prometheus.yml", site.dir);
    snprintf(data, sizeof data, "%s/prometheus-data", site.dir);
    snprintf(log, sizeof log, "%s/prometheus.log", site.dir);
    char yml[512];
    snprintf(yml, sizeof yml,
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: gridems\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             site.port);
    REQUIRE(test_write_file(conf, yml) == 0, "cannot write %s", conf);
    /* A free port is free only until someone takes it: try again with another if Prometheus
     * ends at once. */
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = test_free_port();
        char a1[1300], a2[1300], a3[64];
        snprintf(a1, sizeof a1, "--config.file=%s", conf);
        snprintf(a2, sizeof a2, "--storage.tsdb.path=%s", data);
        snprintf(a3, sizeof a3, "--web.listen-address=127.0.0.1:%d", port);
        char *argv[] = {prometheus, a1, a2, a3, "--log.level=warn", NULL};
        prom_pid = test_spawn(argv, log);
        double deadline = test_now_ms() + READY_TIMEOUT_MS;
        while (test_now_ms() < deadline) {
            http_resp_t r;
            if (http_request(port, "GET", "/-/ready", NULL, NULL, 2000, &r) == 0) {
                int status = r.status;
                http_resp_free(&r);
                if (status == 200) {
                    return port;
                }
            }
            int status = 0;
            if (waitpid(prom_pid, &status, WNOHANG) == prom_pid) {
                prom_pid = 0; /* it ended (reaped here) */
                break;
            }
            test_sleep_ms(100);
        }
        test_stop_pid(prom_pid, 2000);
        prom_pid = 0;
    }
    char *text = test_read_file(log, NULL);
    REQUIRE(false, "Prometheus did not come up:\n%.2000s", text != NULL ? text : "(no log)");
    return -1;
}

/* The first result's value of an instant query, as text in out; 0, or -1 when none yet. */
static int query(int port, const char *q, char *out, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", q);
    http_resp_t r;
    if (http_request(port, "GET", path, NULL, NULL, 5000, &r) != 0) {
        return -1;
    }
    cJSON *root = r.status == 200 ? cJSON_Parse(r.body) : NULL;
    http_resp_free(&r);
    const cJSON *first =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "result"), 0);
    const cJSON *value = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "value"), 1);
    int rc = -1;
    if (cJSON_IsString(value)) {
        snprintf(out, size, "%s", value->valuestring);
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

/* Poll q until its value is there (and equals want, unless NULL); returns the time it took. */
static double wait_value(int port, const char *q, const char *want, char *out, size_t size)
{
    double t0 = test_now_ms();
    for (;;) {
        if (query(port, q, out, size) == 0 && (want == NULL || strcmp(out, want) == 0)) {
            return test_now_ms() - t0;
        }
        REQUIRE(test_now_ms() - t0 < SCRAPE_TIMEOUT_MS, "Prometheus has no %s%s%s after %d s", q,
                want != NULL ? " = " : "", want != NULL ? want : "", SCRAPE_TIMEOUT_MS / 1000);
        REQUIRE(test_service_running(&site.svc), "the service ended");
        test_sleep_ms(250);
    }
}

START_TEST(test_scrape)
{
    http_site_start(&site, "p1-prom", "{\"listen\": \"127.0.0.1:0\"}", NULL);

    /* promtool reads the exposition on stdin. */
    char *text = get_metrics();
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.txt", site.dir);
    REQUIRE(test_write_file(path, text) == 0, "cannot write %s", path);
    free(text);
    char *argv[] = {"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, path, NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run_capture(argv, &out, &err);
    REQUIRE(rc == 0, "promtool check metrics: exit %d:\n%s%s", rc, out != NULL ? out : "",
            err != NULL ? err : "");
    free(out);
    free(err);

    int port = start_prometheus();
    char value[128];
    double up_ms = wait_value(port, "up%7Bjob%3D%22gridems%22%7D", "1", value, sizeof value);
    double plan_ms = wait_value(port, "gridems_plan_id", NULL, value, sizeof value);
    REQUIRE(atof(value) >= 1, "gridems_plan_id %s", value);
    wait_value(port, "gridems_battery_stored_energy_joules%7Bdevice%3D%22bess1%22%7D", NULL, value,
               sizeof value);
    double joules = atof(value);
    REQUIRE(joules >= 400 * 3.6e6 && joules <= 4000 * 3.6e6,
            "bess1 stored %s J, outside its 400..4000 kWh", value);
    wait_value(port, "gridems_plan_solve_duration_seconds_count", NULL, value, sizeof value);
    REQUIRE(atof(value) >= 1, "solve count %s", value);
    fprintf(stderr, "test_prometheus: target up after %.1f s, gridems_plan_id after %.1f s more\n",
            up_ms / 1000.0, plan_ms / 1000.0);
    test_stop_pid(prom_pid, 5000);
    prom_pid = 0;
    http_site_stop(&site);
}
END_TEST

int main(void)
{
    if (!test_find_program("prometheus", prometheus, sizeof prometheus) ||
        !test_find_program("promtool", promtool, sizeof promtool)) {
        fprintf(stderr, "prometheus or promtool not found (Debian package prometheus): skipping "
                        "the Prometheus test\n");
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the Prometheus test\n");
        return 77;
    }
    Suite *s = suite_create("prometheus");
    TCase *tc = tcase_create("scrape");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_scrape);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
