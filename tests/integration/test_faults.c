/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fault tests of `gridems run` (docs/security.md, "Attacks kept as tests"): the real service,
 * a real mosquitto, the simulated devices.
 *
 * broker_killed_ten_times: the broker is killed with SIGKILL and started again ten times. Each
 *   time the service must notice, reconnect, and subscribe again: a new price published after
 *   the restart must reach a plan. Every wait is on an event (a log line, a message).
 *
 * kill9_during_saves: the service is killed with SIGKILL ten times, half of them the instant a
 *   save creates its temporary file (inotify), half the instant a plan is published (its save
 *   follows at once), and started again. (Whether a kill lands inside the save, before its
 *   rename, depends on how long the disk takes to sync: the count of temporary files left
 *   behind says how often it did, and is printed.) After
 *   every kill state.json must be readable by the service's own loader, and nothing in it may go
 *   backwards: the next plan id, the billing-period peak and each job's delivered energy only
 *   grow.
 *
 * The figures (restarts survived, reconnect times, kills) are printed for the README.
 */
#include "check_run.h"
#include "broker.h"
#include "mqtt_wire.h"
#include "service_ctx.h"
#include "service_harness.h"
#include "state_store.h"
#include "test_util.h"

#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { START_TIMEOUT_MS = 15000, PLAN_TIMEOUT_MS = 15000, STOP_TIMEOUT_MS = SERVICE_CTX_STOP_MS };

enum { BROKER_RESTARTS = 10, SERVICE_KILLS = 10 };

/* The test's context is service_ctx.h's `ctx`. */

static void ctx_init(const char *site, const char *cluster_options, double speed, int replan_s)
{
    service_ctx_init(site);
    ctx.log_tail_bytes = 6000; /* ten crashes and restarts make a long log */
    broker_start(&ctx.broker, site);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"site\": {\"id\": \"%s\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\","
             " \"import_limit_kw\": 20000, \"demand_charge_per_kw\": 60},\n"
             " \"mqtt\": {\"uri\": \"%s\"},\n"
             " \"planner\": {\"step_minutes\": 30, \"horizon_steps\": 48, \"replan_seconds\": %d,"
             " \"debounce_ms\": 200},\n"
             " \"clock\": {\"mode\": \"simulated\", \"start\": \"2023-05-08T00:00:00+09:00\","
             " \"speed\": %g},\n"
             " \"state_dir\": \"%s\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
             " \"plugins\": [\n"
             "  {\"plugin\": \"battery_sim\", \"name\": \"bess1\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/bess1\", \"capacity_kwh\": 4000, \"soc_kwh\": 2000,"
             " \"soc_min_kwh\": 400, \"charge_max_kw\": 2000, \"discharge_max_kw\": 2000}},\n"
             "  {\"plugin\": \"meter_sim\", \"name\": \"it_load\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/meter\", \"base_kw\": 9000, \"swing_kw\": 600,"
             " \"utc_offset_hours\": 9}},\n"
             "  {\"plugin\": \"cluster_sim\", \"name\": \"gpu\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/gpu\", \"power_cap_kw\": 3000, %s}}]}\n",
             site, ctx.broker.uri, replan_s, speed, ctx.state_dir, GRIDEMS_TEST_PLUGIN_DIR,
             ctx.prefix, ctx.prefix, ctx.prefix, cluster_options);
    REQUIRE(test_write_file(ctx.cfg_path, text) == 0, "cannot write %s", ctx.cfg_path);
}

static void bus_open(void)
{
    ctx.bus = wire_connect(ctx.broker.uri, 5000);
    REQUIRE(ctx.bus != NULL && wire_subscribe(ctx.bus, ctx.t_status, 5000) == 0 &&
                wire_subscribe(ctx.bus, ctx.t_schedule, 5000) == 0,
            "cannot watch the service on %s", ctx.broker.uri);
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

/* Wait for a schedule whose import prices are all value (the first plan after that price). */
static void wait_plan_with_price(double value)
{
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && wire_next(ctx.bus, ctx.t_schedule, NULL, left, &msg) == 0,
                "no plan with the price %g within %d ms", value, PLAN_TIMEOUT_MS);
        REQUIRE(test_service_running(&ctx.svc), "the service ended (status %d)", ctx.svc.status);
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "plan"),
                                             "inputs"),
            "scenario");
        const cJSON *prices = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(sc, "prices"), "import_per_kwh");
        bool all = cJSON_GetArraySize(prices) > 0;
        const cJSON *p = NULL;
        cJSON_ArrayForEach(p, prices)
        {
            all = all && p->valuedouble == value;
        }
        cJSON_Delete(root);
        if (all) {
            return;
        }
    }
}

static void stop_service(void)
{
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service was not running");
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

START_TEST(broker_killed_ten_times)
{
    ctx_init("fault-broker",
             "\"jobs_per_day\": 6, \"job_energy_kwh\": 4000, "
             "\"job_power_kw\": 1200",
             60, 86400);
    bus_open();
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    wire_msg_t msg;
    REQUIRE(wire_next(ctx.bus, ctx.t_status, "\"state\":", START_TIMEOUT_MS, &msg) == 0,
            "no status from the service");
    wire_msg_free(&msg);
    char *price = flat_price(10.0);
    REQUIRE(wire_publish(ctx.bus, ctx.t_price, price, 1, 0, 5000) == 0, "cannot publish");
    free(price);
    wait_plan_with_price(10.0);

    double worst = 0, sum = 0;
    for (int i = 1; i <= BROKER_RESTARTS; i++) {
        wire_close(ctx.bus);
        ctx.bus = NULL;
        size_t from = test_service_log_size(&ctx.svc);
        broker_kill(&ctx.broker);
        REQUIRE(test_service_wait_log(&ctx.svc, from, "MQTT connection to", PLAN_TIMEOUT_MS),
                "restart %d: the service did not notice the broker's death", i);
        broker_restart(&ctx.broker);
        double t0 = test_now_ms();
        bus_open();
        REQUIRE(test_service_wait_log(&ctx.svc, from, "MQTT reconnected", 35000),
                "restart %d: the service did not reconnect within 35 s", i);
        double took = test_now_ms() - t0;
        worst = fmax(worst, took);
        sum += took;
        /* Subscribed again: a new price reaches a plan. (The broker kept nothing: no
         * persistence, so this price is the only one it holds.) */
        price = flat_price(10.0 + i);
        REQUIRE(wire_publish(ctx.bus, ctx.t_price, price, 1, 1, 5000) == 0, "cannot publish");
        free(price);
        wait_plan_with_price(10.0 + i);
    }
    char *log = test_service_log(&ctx.svc);
    int reconnects = test_count_substr(log, "MQTT reconnected");
    free(log);
    REQUIRE(reconnects == BROKER_RESTARTS, "%d reconnects logged for %d restarts", reconnects,
            BROKER_RESTARTS);
    fprintf(stderr,
            "test_faults: %d/%d broker restarts survived (reconnected and re-subscribed); "
            "reconnect after the broker came back: mean %.0f ms, worst %.0f ms\n",
            reconnects, BROKER_RESTARTS, sum / BROKER_RESTARTS, worst);
    stop_service();
    service_ctx_release();
}
END_TEST

/* The job's delivered energy in st, or 0. */
static double delivered(const gridems_state_t *st, const char *id)
{
    for (int i = 0; i < st->n_jobs; i++) {
        if (strcmp(st->jobs[i].id, id) == 0) {
            return st->jobs[i].delivered_kwh;
        }
    }
    return 0;
}

/* Temporary files of atomic writes in state_dir ("<file>.tmp.XXXXXX"): one left behind by a
 * kill means the kill landed inside a save, between the temporary file and its rename. */
static int count_tmp_files(void)
{
    DIR *d = opendir(ctx.state_dir);
    int n = 0;
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        n += strstr(e->d_name, ".tmp.") != NULL;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

START_TEST(kill9_during_saves)
{
    /* The job runs at once at full power and the clock runs 720 times real time with a re-plan
     * every 10 simulated minutes: a save (peak, job energy, plan) every second or so. */
    ctx_init("fault-kill9", "\"jobs\": \"@JOBS@\"", 720, 600);
    char jobs[1200];
    snprintf(jobs, sizeof jobs, "%s/jobs.csv", ctx.dir);
    REQUIRE(test_write_file(jobs, "id,arrival,energy_kwh,power_max_kw,deadline_hours\n"
                                  "train-a,0,20000,1200,24\n") == 0,
            "cannot write %s", jobs);
    char *cfg = test_read_file(ctx.cfg_path, NULL);
    REQUIRE(cfg != NULL, "cannot read the config");
    char *at = strstr(cfg, "@JOBS@");
    char fixed[6000];
    snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - cfg), cfg, jobs, at + strlen("@JOBS@"));
    free(cfg);
    REQUIRE(test_write_file(ctx.cfg_path, fixed) == 0, "cannot write the config");
    bus_open();
    char *price = flat_price(12.0);
    REQUIRE(wire_publish(ctx.bus, ctx.t_price, price, 1, 1, 5000) == 0, "cannot publish");
    free(price);

    uint64_t last_next_id = 0;
    double last_peak = 0, last_delivered = 0;
    int kills = 0, loaded = 0, inside_save = 0;
    for (int i = 1; i <= SERVICE_KILLS; i++) {
        int tmp_before = count_tmp_files();
        test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
        /* Let this run get somewhere first: a step must end in it (the first run must have
         * saved a peak and delivered energy), polled with a deadline. */
        double deadline = test_now_ms() + 20000;
        for (;;) {
            gridems_state_t st;
            bool moved = false;
            if (gridems_state_load(ctx.state_dir, &st, NULL, 0) == 0 && st.loaded) {
                double peak = st.has_peak ? st.peak_kw : 0, dk = delivered(&st, "train-a");
                moved = peak > 0 && dk > last_delivered;
            }
            gridems_state_free(&st);
            if (moved) {
                break;
            }
            REQUIRE(test_now_ms() < deadline, "run %d: no new delivered energy saved in 20 s", i);
            REQUIRE(test_service_running(&ctx.svc), "run %d: the service ended (status %d)", i,
                    ctx.svc.status);
            test_sleep_ms(20);
        }
        if (i % 2 == 1) {
            /* Odd runs: kill it the moment a save creates its temporary file (inotify), so the
             * kill lands inside the save: while it writes, syncs or renames. */
            int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
            REQUIRE(ifd >= 0 && inotify_add_watch(ifd, ctx.state_dir, IN_CREATE) >= 0,
                    "inotify on %s failed", ctx.state_dir);
            for (bool hit = false; !hit;) {
                struct pollfd pfd = {.fd = ifd, .events = POLLIN};
                REQUIRE(poll(&pfd, 1, PLAN_TIMEOUT_MS) == 1, "run %d: no save within %d ms", i,
                        PLAN_TIMEOUT_MS);
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                ssize_t n = read(ifd, buf, sizeof buf);
                for (ssize_t off = 0; off < n && !hit;) {
                    const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
                    hit = ev->len > 0 && strstr(ev->name, ".tmp.") != NULL;
                    off += (ssize_t)(sizeof *ev + ev->len);
                }
            }
            close(ifd);
        } else {
            /* Even runs: kill it the moment it publishes a plan (the save of that plan follows). */
            for (bool live = false; !live;) {
                wire_msg_t msg;
                REQUIRE(wire_next(ctx.bus, ctx.t_schedule, NULL, PLAN_TIMEOUT_MS, &msg) == 0,
                        "run %d: no plan within %d ms", i, PLAN_TIMEOUT_MS);
                live = !msg.retained;
                wire_msg_free(&msg);
            }
        }
        test_service_kill(&ctx.svc);
        kills++;
        inside_save += count_tmp_files() > tmp_before;
        gridems_state_t st;
        char err[512] = "";
        int rc = gridems_state_load(ctx.state_dir, &st, err, sizeof err);
        REQUIRE(rc == 0 && st.loaded, "after kill %d state.json is not readable: %s", i, err);
        loaded++;
        double peak = st.has_peak ? st.peak_kw : 0, dk = delivered(&st, "train-a");
        uint64_t next_id = st.next_plan_id;
        gridems_state_free(&st);
        REQUIRE(next_id >= last_next_id, "kill %d: next_plan_id went back from %llu to %llu", i,
                (unsigned long long)last_next_id, (unsigned long long)next_id);
        REQUIRE(peak >= last_peak, "kill %d: the peak went back from %.17g to %.17g kW", i,
                last_peak, peak);
        REQUIRE(dk >= last_delivered, "kill %d: train-a's energy went back from %.17g to %.17g", i,
                last_delivered, dk);
        last_next_id = next_id;
        last_peak = peak;
        last_delivered = dk;
    }
    REQUIRE(last_peak > 0 && last_delivered > 0,
            "the state never held a peak (%g) or delivered energy (%g): nothing was tested",
            last_peak, last_delivered);
    fprintf(stderr,
            "test_faults: %d kill -9 (half when a save began, half at plan publication; %d "
            "inside a save: its temporary file was left), state.json readable %d times, nothing "
            "went backwards (next plan id "
            "%llu, peak %.1f kW, train-a %.1f kWh)\n",
            kills, inside_save, loaded, (unsigned long long)last_next_id, last_peak,
            last_delivered);
    /* The last start after the kills plans with a new id and stops cleanly. */
    test_service_start(&ctx.svc, ctx.cfg_path, ctx.log_path);
    for (double id = 0; id < (double)last_next_id;) {
        wire_msg_t msg;
        REQUIRE(wire_next(ctx.bus, ctx.t_schedule, NULL, PLAN_TIMEOUT_MS, &msg) == 0,
                "no plan after the last restart");
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        const cJSON *pid =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "plan"), "id");
        id = cJSON_IsNumber(pid) ? pid->valuedouble : 0;
        cJSON_Delete(root);
    }
    stop_service();
    service_ctx_release();
}
END_TEST

int main(void)
{
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the fault tests\n");
        return 77;
    }
    Suite *s = suite_create("faults");
    TCase *b = tcase_create("broker");
    tcase_set_timeout(b, 240);
    tcase_add_test(b, broker_killed_ten_times);
    suite_add_tcase(s, b);
    TCase *k = tcase_create("kill9");
    tcase_set_timeout(k, 180);
    tcase_add_test(k, kill9_during_saves);
    suite_add_tcase(s, k);
    return test_run_suite(s);
}
