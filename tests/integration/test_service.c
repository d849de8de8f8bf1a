/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Integration tests of `gridems run`: the real service binary as a child process, a private
 * mosquitto on a free loopback port, and the simulated device plugins through the real loader.
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test's context is service_ctx.h's `ctx`; this file adds the battery's command topic. */
static char t_bess_cmd[SERVICE_CTX_TOPIC_LEN];

/* ---- ## Set-up ---- */

static void ctx_init(const char *site)
{
    site_ctx_init(site);
    snprintf(t_bess_cmd, sizeof t_bess_cmd, "%s/dev/bess1/cmd", ctx.prefix);
}

/* Write the jobs file cluster_sim reads (the CSV header and csv_rows, one job a line) into the
 * test's directory, and the cluster option naming it (`"jobs": "<path>"`) into out. */
static void jobs_cluster_option(const char *csv_rows, char *out, size_t size)
{
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%s/jobs.csv", ctx.dir);
    char text[1024];
    int n = snprintf(text, sizeof text, "id,arrival,energy_kwh,power_max_kw,deadline_hours\n%s",
                     csv_rows);
    REQUIRE(n > 0 && (size_t)n < sizeof text, "the jobs do not fit in %zu bytes", sizeof text);
    REQUIRE(test_write_file(path, text) == 0, "cannot write %s", path);
    n = snprintf(out, size, "\"jobs\": \"%s\"", path);
    REQUIRE(n > 0 && (size_t)n < size, "the cluster option for %s does not fit in %zu bytes", path,
            size);
}

/* Write the plan's scenario to a file, solve it with `gridems solve`, and check that the
 * objective and the step count are those of the published schedule. */
static void check_resolve(const cJSON *schedule, const char *tag)
{
    char scen_path[FILE_LEN], out_path[FILE_LEN];
    snprintf(scen_path, sizeof scen_path, "%s/%s-scenario.json", ctx.dir, tag);
    snprintf(out_path, sizeof out_path, "%s/%s-schedule.json", ctx.dir, tag);
    char *scenario = cJSON_PrintUnformatted(jget(schedule, "plan.inputs.scenario"));
    REQUIRE(scenario != NULL, "cannot print the scenario");
    int wrote = test_write_file(scen_path, scenario);
    cJSON_free(scenario);
    REQUIRE(wrote == 0, "cannot write %s", scen_path);
    char *argv[] = {GRIDEMS_TEST_BINARY, "solve", "-o", out_path, scen_path, NULL};
    char *err = NULL;
    int rc = test_run_capture(argv, NULL, &err);
    char err_copy[1024];
    snprintf(err_copy, sizeof err_copy, "%s", err != NULL ? err : "");
    free(err);
    REQUIRE(rc == 0, "gridems solve %s: exit %d: %s", scen_path, rc, err_copy);
    char *text = test_read_file(out_path, NULL);
    REQUIRE(text != NULL, "gridems solve wrote no %s", out_path);
    cJSON *solved = parse(text);
    free(text);
    double published = jnum(schedule, "objective");
    double again = jnum(solved, "objective");
    double rel = fabs(published - again) / fmax(1.0, fabs(published));
    fprintf(stderr, "test_service: objective %.17g published, %.17g re-solved (rel %.3g)\n",
            published, again, rel);
    REQUIRE(rel <= 1e-9, "objective %.17g published, %.17g by gridems solve (rel %.3g)", published,
            again, rel);
    REQUIRE(jnum(schedule, "steps") == jnum(solved, "steps"), "steps %.0f published, %.0f solved",
            jnum(schedule, "steps"), jnum(solved, "steps"));
    REQUIRE(strcmp(jstr(solved, "status"), "optimal") == 0, "gridems solve: status %s",
            jstr(solved, "status"));
    cJSON_Delete(solved);
}

/* ---- ## 1. A price message gives a retained schedule ---- */

START_TEST(test_price_gives_schedule)
{
    ctx_init("t1-price");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    double latency = 0;
    cJSON *live = publish_prices_and_plan("price", &latency);
    fprintf(stderr, "test_service: price -> schedule latency %.1f ms (debounce 200 ms)\n", latency);
    REQUIRE(latency < 1000.0, "the schedule came %.1f ms after the price", latency);
    REQUIRE(strcmp(jstr(live, "status"), "optimal") == 0, "status %s", jstr(live, "status"));
    REQUIRE(jnum(live, "steps") == 48, "steps %.0f, expected the 48-step horizon",
            jnum(live, "steps"));

    /* The same plan is what the broker keeps for late subscribers. */
    cJSON *retained = read_retained(ctx.t_schedule);
    REQUIRE(jnum(retained, "plan.id") == jnum(live, "plan.id"), "retained plan %.0f, live %.0f",
            jnum(retained, "plan.id"), jnum(live, "plan.id"));
    REQUIRE(strcmp(jstr(retained, "plan.reason"), "price") == 0, "retained reason %s",
            jstr(retained, "plan.reason"));
    cJSON_Delete(retained);

    /* Anyone can re-solve the exact scenario the service solved. */
    check_resolve(live, "t1");
    cJSON_Delete(live);
    service_ctx_finish();
}
END_TEST

/* ---- ## 2. Malformed prices are rejected whole ---- */

START_TEST(test_malformed_price_rejected)
{
    ctx_init("t2-malformed");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    cJSON *before = publish_prices_and_plan("price", NULL);
    double before_id = jnum(before, "plan.id");
    double rejected0 = rejected_count(0);
    size_t from = test_service_log_size(&ctx.svc);

    /* The first one is the one logged (one line per topic, rate-limited), so it names a field. */
    static const char *const bad[] = {
        "{\"start\":\"2023-05-08T00:00:00+09:00\",\"step_minutes\":30,"
        "\"values\":[8.5,9.1,\"12.0\",7.7],\"unit\":\"kWh\",\"currency\":\"JPY\"}",
        "this is not JSON {\"values\":",
        "[{\"start\":\"2023-05-08T02:00:00+09:00\",\"end\":\"2023-05-08T02:00:00+09:00\","
        "\"value\":10}]",
        "{\"start\":\"2023-05-08T00:00:00+09:00\",\"step_minutes\":30,"
        "\"values\":[8.5,9.1,12.0,7.7],\"unit\":\"MW\",\"currency\":\"JPY\"}",
    };
    int n_bad = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n_bad; i++) {
        publish(ctx.t_price, bad[i], 0);
    }
    /* The status command reaches the service after them (one connection, in order). */
    double rejected1 = rejected_count(rejected0 + n_bad);
    REQUIRE(rejected1 == rejected0 + n_bad, "rejected_messages %.0f -> %.0f, expected +%d",
            rejected0, rejected1, n_bad);
    REQUIRE(test_service_running(&ctx.svc), "the service ended (status %d)", ctx.svc.status);

    char *log = log_since(from);
    char needle[256];
    snprintf(needle, sizeof needle, "rejected message on %s", ctx.t_price);
    int lines = test_count_substr(log, needle);
    free(log);
    char line[1024];
    log_line(from, needle, line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    REQUIRE(lines == 1, "%d rejection lines for %d bad messages, expected 1 (rate-limited)", lines,
            n_bad);
    REQUIRE(strstr(line, "values[2]") != NULL && strstr(line, "finite number") != NULL,
            "the rejection line does not name the field: %s", line);

    /* A re-plan now sees exactly the prices held before. */
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    cJSON *after = wait_schedule("command", before_id, PLAN_TIMEOUT_MS, NULL);
    REQUIRE(strcmp(jstr(before, "plan.inputs.scenario.start"),
                   jstr(after, "plan.inputs.scenario.start")) == 0,
            "the grid moved (%s -> %s): the test took longer than a step",
            jstr(before, "plan.inputs.scenario.start"), jstr(after, "plan.inputs.scenario.start"));
    const cJSON *pa = jget(before, "plan.inputs.scenario.prices.import_per_kwh");
    const cJSON *pb = jget(after, "plan.inputs.scenario.prices.import_per_kwh");
    int na = cJSON_GetArraySize(pa), nb = cJSON_GetArraySize(pb);
    REQUIRE(na == nb && na > 0, "%d prices before, %d after", na, nb);
    for (int t = 0; t < na; t++) {
        double a = cJSON_GetArrayItem(pa, t)->valuedouble;
        double b = cJSON_GetArrayItem(pb, t)->valuedouble;
        REQUIRE(a == b, "import_per_kwh[%d]: %.17g before, %.17g after", t, a, b);
    }
    cJSON_Delete(before);
    cJSON_Delete(after);
    service_ctx_finish();
}
END_TEST

/* A re-plan that fails for the same reason as the last one leaves the status's words as they
 * are, but its counters must still be current on the retained topic: an operator who sees
 * replans_failed stand still takes it that the re-plans work. */
static double next_failed_status(const char *needle)
{
    wire_msg_t msg;
    REQUIRE(bus_wait(ctx.t_status, needle, PLAN_TIMEOUT_MS, &msg) == 0,
            "no status saying \"%s\" within %d ms", needle, PLAN_TIMEOUT_MS);
    cJSON *root = parse(msg.payload);
    wire_msg_free(&msg);
    REQUIRE(strcmp(jstr(root, "state"), "degraded") == 0, "state %s, expected degraded",
            jstr(root, "state"));
    double failed = jnum(root, "counters.replans_failed");
    double replans = jnum(root, "counters.replans");
    cJSON_Delete(root);
    REQUIRE(replans >= failed,
            "counters.replans %.0f < replans_failed %.0f: a failed re-plan is "
            "a re-plan",
            replans, failed);
    return failed;
}

START_TEST(test_failed_replan_counted)
{
    ctx_init("t2-failed-count");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    /* No price yet: every re-plan fails with the same words. */
    const char *needle = "no plan (command)";
    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    double first = next_failed_status(needle);
    REQUIRE(first >= 1, "replans_failed %.0f after a failed re-plan", first);
    double last = first;
    for (int i = 1; i <= 2; i++) {
        /* A timed re-plan between two commands would count as well, hence "more than". */
        publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
        double now = next_failed_status(needle);
        REQUIRE(now > last, "replans_failed %.0f after another failed re-plan, was %.0f", now,
                last);
        last = now;
    }
    service_ctx_finish();
}
END_TEST

/* ---- ## 3. The broker dies and comes back ---- */

START_TEST(test_broker_restart)
{
    ctx_init("t3-broker");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    cJSON *first = publish_prices_and_plan("price", NULL);
    double first_id = jnum(first, "plan.id");
    cJSON_Delete(first);

    bus_close();
    size_t from = test_service_log_size(&ctx.svc);
    broker_kill(&ctx.broker);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "MQTT connection to", PLAN_TIMEOUT_MS),
            "the service did not notice the broker's death");
    broker_restart(&ctx.broker);
    double t0 = test_now_ms();
    const char *topics[] = {ctx.t_schedule, ctx.t_status, NULL};
    bus_open(topics);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "MQTT reconnected", 15000),
            "the service did not reconnect within 15 s");
    fprintf(stderr, "test_service: reconnected %.0f ms after the broker came back\n",
            test_now_ms() - t0);

    /* The reconnect asks for a re-plan; let it pass, so that the next one is the price's own. */
    cJSON *again = wait_schedule(NULL, first_id, PLAN_TIMEOUT_MS, NULL);
    double again_id = jnum(again, "plan.id");
    cJSON_Delete(again);

    /* A new price proves the subscriptions were made again on the new broker. */
    double flat[96];
    for (int i = 0; i < 96; i++) {
        flat[i] = 31.25;
    }
    char *price = price_series(flat, 96);
    publish(ctx.t_price, price, 0);
    free(price);
    /* Its plan is the first one with those prices. (Devices that went stale during the outage
     * and report again ask for re-plans too, so the reason may be theirs.) */
    double after_id = again_id;
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (bool found = false; !found;) {
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0, "no plan with the price sent after the restart");
        cJSON *after = wait_schedule(NULL, after_id, left, NULL);
        after_id = jnum(after, "plan.id");
        const cJSON *prices = jget(after, "plan.inputs.scenario.prices.import_per_kwh");
        const cJSON *p = NULL;
        found = cJSON_GetArraySize(prices) > 0;
        cJSON_ArrayForEach(p, prices)
        {
            found = found && p->valuedouble == 31.25;
        }
        cJSON_Delete(after);
    }
    REQUIRE(after_id > again_id && again_id > first_id, "plan ids %.0f, %.0f, %.0f", first_id,
            again_id, after_id);

    cJSON *st = status_after_plan(after_id);
    REQUIRE(strcmp(jstr(st, "state"), "online") == 0, "retained status %s (%s)", jstr(st, "state"),
            jstr(st, "reason"));
    cJSON_Delete(st);
    service_ctx_finish();
}
END_TEST

/* ---- ## 4. SIGTERM: safe mode, offline, exit 0 ---- */

START_TEST(test_sigterm)
{
    ctx_init("t4-sigterm");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(t_bess_cmd);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double plan_id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    /* The plan's own set-point first, so that a safe-mode command seen later is the shutdown's. */
    char needle[64];
    snprintf(needle, sizeof needle, "{\"plan_id\":%.0f,", plan_id);
    wire_msg_t cmd;
    REQUIRE(bus_wait(t_bess_cmd, needle, PLAN_TIMEOUT_MS, &cmd) == 0,
            "no battery command from plan %.0f", plan_id);
    bool normal = strstr(cmd.payload, "\"safe_mode\":false") != NULL;
    wire_msg_free(&cmd);
    REQUIRE(normal, "plan %.0f's battery command is not a normal one", plan_id);

    ctx.expect_running = false;
    double t0 = test_now_ms();
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service ended early (status %d)",
            ctx.svc.status);
    int status = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
    fprintf(stderr, "test_service: SIGTERM -> exit %d in %.1f ms\n", status, test_now_ms() - t0);
    REQUIRE(status == 0, "exit status %d after SIGTERM (-1: still running after %d ms)", status,
            STOP_TIMEOUT_MS);

    REQUIRE(bus_wait(t_bess_cmd, "\"safe_mode\":true", 2000, &cmd) == 0,
            "the battery got no safe-mode command at shutdown");
    cJSON *safe = parse(cmd.payload);
    wire_msg_free(&cmd);
    REQUIRE(jnum(safe, "power_kw") == 0.0, "safe-mode command with power %g",
            jnum(safe, "power_kw"));
    cJSON_Delete(safe);

    cJSON *st = read_retained(ctx.t_status);
    REQUIRE(strcmp(jstr(st, "state"), "offline") == 0, "retained status %s after SIGTERM",
            jstr(st, "state"));
    cJSON_Delete(st);

    char *log = log_since(0);
    bool clean = strstr(log, "SIGTERM: shutting down") != NULL &&
                 strstr(log, "published offline and disconnected") != NULL;
    free(log);
    REQUIRE(clean, "the log does not show the clean shutdown");
    service_ctx_check_log_clean();
    service_ctx_release();
}
END_TEST

/* ---- ## 5. A plugin of the wrong ABI is refused, the others run ---- */

START_TEST(test_wrong_abi_plugin)
{
    ctx_init("t5-abi");
    char v2[FILE_LEN], badsig[FILE_LEN];
    snprintf(v2, sizeof v2, "%s/gridems_test_v2_only.so", GRIDEMS_TEST_PLUGIN_DIR);
    snprintf(badsig, sizeof badsig, "%s/gridems_test_bad_signature.so", GRIDEMS_TEST_PLUGIN_DIR);
    REQUIRE(access(v2, R_OK) == 0 && access(badsig, R_OK) == 0,
            "build the targets gridems_test_v2_only and gridems_test_bad_signature");
    char extra[2 * FILE_LEN + 128];
    snprintf(extra, sizeof extra,
             ",\n  {\"path\": \"%s\", \"name\": \"old_abi\"},\n"
             "  {\"path\": \"%s\", \"name\": \"bad_sig\"}",
             v2, badsig);
    cfg_opts_t o = default_opts();
    o.extra_plugins = extra;
    write_config(&o);
    size_t from = start_with_bus(NULL);

    char line[1024];
    log_line(from, "gridems_test_v2_only.so", line, sizeof line);
    REQUIRE(strstr(line, "[err]") != NULL && strstr(line, "ABI version") != NULL,
            "no refusal with the reason for the ABI-2 plugin: %s", line);
    log_line(from, "gridems_test_bad_signature.so", line, sizeof line);
    REQUIRE(strstr(line, "[err]") != NULL && strstr(line, "not binary compatible") != NULL,
            "no refusal with the reason for the bad-signature plugin: %s", line);

    cJSON *plan = publish_prices_and_plan("price", NULL);
    const cJSON *battery = NULL;
    int found = 0;
    cJSON_ArrayForEach(battery, jget(plan, "batteries"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(battery, "id");
        found += cJSON_IsString(id) && strcmp(id->valuestring, "bess1") == 0;
    }
    double plan_id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    REQUIRE(found == 1, "the schedule does not include the battery bess1");

    /* Even with a good plan, two refused instances leave the service degraded, and say why. */
    cJSON *st = status_after_plan(plan_id);
    char reason[512];
    snprintf(reason, sizeof reason, "%s", jstr(st, "reason"));
    bool degraded = strcmp(jstr(st, "state"), "degraded") == 0;
    cJSON_Delete(st);
    fprintf(stderr, "test_service: status reason: %s\n", reason);
    REQUIRE(degraded, "not degraded with 2 refused plugins (%s)", reason);
    REQUIRE(strstr(reason, "2 of 5 plugin instances failed to load") != NULL &&
                strstr(reason, "old_abi") != NULL && strstr(reason, "bad_sig") != NULL,
            "the degraded status does not say which plugins failed: %s", reason);
    service_ctx_finish();
}
END_TEST

/* ---- ## 6. A restart after SIGKILL resumes the persisted state ---- */

static cJSON *read_state_file(void)
{
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%s/state.json", ctx.state_dir);
    char *text = test_read_file(path, NULL);
    cJSON *root = text != NULL ? cJSON_Parse(text) : NULL;
    free(text);
    return root;
}

/* The member of a JSON array of objects whose "id" is id, or NULL. */
static const cJSON *with_id(const cJSON *array, const char *id)
{
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, array)
    {
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (cJSON_IsString(jid) && strcmp(jid->valuestring, id) == 0) {
            return item;
        }
    }
    return NULL;
}

/* The delivered energy state.json holds for job id, or -1. */
static double persisted_delivered(const cJSON *state, const char *id)
{
    const cJSON *kwh = cJSON_GetObjectItemCaseSensitive(
        with_id(cJSON_GetObjectItemCaseSensitive(state, "jobs"), id), "delivered_kwh");
    return cJSON_IsNumber(kwh) ? kwh->valuedouble : -1;
}

/* The energy a schedule's scenario plans for job id, or -1 when the job is not in it. */
static double planned_energy(const cJSON *schedule, const char *id)
{
    const cJSON *job = with_id(jget(schedule, "plan.inputs.scenario.flexible_loads"), id);
    return job != NULL ? jnum(job, "energy_kwh") : -1;
}

START_TEST(test_restart_after_sigkill)
{
    ctx_init("t6-restart");
    /* One job that must run at once at full power (2400 kWh at 1200 kW, due in 2 h), a clock
     * 720 times real time and a re-plan every 10 simulated minutes: within seconds the state
     * holds a billing-period peak and the job's delivered energy. */
    char cluster[FILE_LEN + 64];
    jobs_cluster_option("train-a,0,2400,1200,2\n", cluster, sizeof cluster);
    cfg_opts_t o = default_opts();
    o.speed = 720;
    o.replan_seconds = 600;
    o.cluster_options = cluster;
    write_config(&o);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    cJSON_Delete(plan);

    double deadline = test_now_ms() + 20000;
    for (;;) {
        cJSON *state = read_state_file();
        const cJSON *kw = jfind(state, "peak.kw");
        bool ready =
            cJSON_IsNumber(kw) && kw->valuedouble > 0 && persisted_delivered(state, "train-a") > 0;
        cJSON_Delete(state);
        if (ready) {
            break;
        }
        REQUIRE(test_now_ms() < deadline, "after 20 s, state.json holds no peak or no delivered "
                                          "energy");
        REQUIRE(test_service_running(&ctx.svc), "the service ended (status %d)", ctx.svc.status);
        test_sleep_ms(50);
    }
    /* The billing period's first noted step is a notice with its peak (docs/service.md,
     * "Peak"); later rises say what they add to the demand charge. */
    const char *noted = "(the period's first step noted)";
    REQUIRE(test_service_wait_log(&ctx.svc, 0, noted, PLAN_TIMEOUT_MS), "no \"%s\" in the log",
            noted);
    char first_peak[1024];
    log_line(0, noted, first_peak, sizeof first_peak);
    fprintf(stderr, "test_service: %s\n", first_peak);
    REQUIRE(strstr(first_peak, "[notice] billing period month:2023-05: peak ") != NULL,
            "the first peak line: %s", first_peak);

    ctx.expect_running = false;
    test_service_kill(&ctx.svc);
    REQUIRE(ctx.svc.status == 128 + SIGKILL, "status %d after SIGKILL", ctx.svc.status);
    double published_max = drain(ctx.t_schedule, 0, 200);
    cJSON *state = read_state_file();
    REQUIRE(state != NULL, "no readable state.json after SIGKILL");
    double peak = jnum(state, "peak.kw");
    double next_id = jnum(state, "next_plan_id");
    double last_id = jnum(state, "last_plan.id");
    double delivered = persisted_delivered(state, "train-a");
    cJSON_Delete(state);
    fprintf(stderr,
            "test_service: persisted peak %.3f kW, train-a delivered %.3f kWh, last plan %.0f, "
            "highest published %.0f\n",
            peak, delivered, last_id, published_max);
    REQUIRE(published_max < next_id,
            "plan %.0f was published, but state.json says the next "
            "plan is %.0f",
            published_max, next_id);

    bus_subscribe(ctx.t_state);
    size_t from = start_service(false);
    char line[1024];
    log_line(from, "state restored from", line, sizeof line);
    char want[128];
    snprintf(want, sizeof want, "billing-period peak %.1f kW", peak);
    REQUIRE(strstr(line, want) != NULL, "the restored line lacks \"%s\": %s", want, line);
    snprintf(want, sizeof want, "last plan %.0f", last_id);
    REQUIRE(strstr(line, want) != NULL, "the restored line lacks \"%s\": %s", want, line);

    wire_msg_t snap;
    REQUIRE(bus_wait(ctx.t_state, "\"peak_kw\":", PLAN_TIMEOUT_MS, &snap) == 0,
            "no state snapshot after the restart");
    cJSON *first_snap = parse(snap.payload);
    wire_msg_free(&snap);
    double snap_peak = jnum(first_snap, "peak_kw");
    cJSON_Delete(first_snap);
    /* P/state is printed by cJSON, which writes 15 digits when they read back within
     * DBL_EPSILON: equal up to that. */
    REQUIRE(fabs(snap_peak - peak) <= 4 * DBL_EPSILON * peak,
            "first snapshot after the restart: peak_kw %.17g, persisted %.17g", snap_peak, peak);

    /* The retained price gives the first plan of the new run. */
    cJSON *next = wait_schedule(NULL, 0, PLAN_TIMEOUT_MS, NULL);
    double id = jnum(next, "plan.id");
    REQUIRE(id > published_max && id >= next_id,
            "first plan after the restart is %.0f; before: highest published %.0f, next %.0f", id,
            published_max, next_id);
    double peak_so_far = jnum(next, "plan.inputs.scenario.site.peak_so_far_kw");
    REQUIRE(peak_so_far >= peak, "the plan's peak_so_far_kw %.17g < persisted peak %.17g",
            peak_so_far, peak);
    /* The simulated cluster forgot the job's progress; the plans remember it. The start-up plan
     * may come before the cluster reported the job: take the first plan that has it. */
    double planned = planned_energy(next, "train-a");
    while (planned < 0) {
        cJSON_Delete(next);
        next = wait_schedule(NULL, id, PLAN_TIMEOUT_MS, NULL);
        id = jnum(next, "plan.id");
        planned = planned_energy(next, "train-a");
    }
    cJSON_Delete(next);
    fprintf(stderr, "test_service: train-a after the restart: %.3f kWh planned (plan %.0f)\n",
            planned, id);
    REQUIRE(planned <= 2400 - delivered + 1e-6,
            "train-a: %.3f kWh planned after the restart, but %.3f of 2400 were delivered", planned,
            delivered);
    service_ctx_finish();
}
END_TEST

/* ---- ## 7. SIGHUP with an invalid config ---- */

START_TEST(test_sighup_invalid_config)
{
    ctx_init("t7-sighup");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double first_id = jnum(plan, "plan.id");
    cJSON_Delete(plan);

    o.step_minutes = 7; /* must divide 60 */
    write_config(&o);
    size_t from = test_service_log_size(&ctx.svc);
    REQUIRE(test_service_signal(&ctx.svc, SIGHUP) == 0, "the service ended (status %d)",
            ctx.svc.status);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "reload refused", PLAN_TIMEOUT_MS),
            "no \"reload refused\" in the log after SIGHUP");
    char line[1024];
    log_line(from, "reload refused", line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    REQUIRE(strstr(line, "planner.step_minutes") != NULL,
            "the refusal does not name the key path: %s", line);

    publish(ctx.t_cmd, "{\"cmd\":\"replan\"}", 0);
    plan = wait_schedule("command", first_id, PLAN_TIMEOUT_MS, NULL);
    REQUIRE(jnum(plan, "step_minutes") == 30, "step_minutes %.0f after a refused reload",
            jnum(plan, "step_minutes"));
    cJSON_Delete(plan);
    service_ctx_finish();
}
END_TEST

/* ---- ## 8. The peak guard holds a step's mean when the load jumps inside it ---- */

/* 2023-05-08T00:00:00+09:00 in ms, the clock's start. */
#define GUARD_T0 1683471600000.0
#define GUARD_MIN 60000.0

/* The status with peak_guard_engagements >= 1, asked for; the caller deletes it. */
static cJSON *guard_status(void)
{
    double deadline = test_now_ms() + PLAN_TIMEOUT_MS;
    for (;;) {
        publish(ctx.t_cmd, "{\"cmd\":\"status\"}", 0);
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(ctx.t_status, "\"peak_guard_engagements\":", left, &msg) == 0,
                "no status with the peak guard's counters");
        cJSON *root = parse(msg.payload);
        wire_msg_free(&msg);
        if (jnum(root, "counters.peak_guard_engagements") >= 1) {
            return root;
        }
        cJSON_Delete(root);
    }
}

/* The battery's next command (its time stamp, power and safe-mode flag), within timeout_ms. */
static void next_bess_command(int timeout_ms, double *ts, double *kw, bool *safe)
{
    wire_msg_t msg;
    REQUIRE(timeout_ms > 0 && bus_wait(t_bess_cmd, NULL, timeout_ms, &msg) == 0,
            "no battery command from the step after the jump's");
    cJSON *cmd = parse(msg.payload);
    wire_msg_free(&msg);
    *ts = jnum(cmd, "ts");
    *kw = jnum(cmd, "power_kw");
    *safe = cJSON_IsTrue(jfind(cmd, "safe_mode"));
    cJSON_Delete(cmd);
}

START_TEST(test_peak_guard)
{
    ctx_init("t8-guard");
    /* A flat 9000 kW load, flat prices and no jobs: every plan holds the battery at 0 kW and
     * imports 9000 kW, which is also the billing-period peak once the first step is noted. In the
     * step 00:25-00:30 the load jumps by 1500 kW from 00:26 to 00:28: held to the step's end that
     * would make the step's mean 9000 + 1500 * 4/5 = 10200 kW, a new peak. The guard must raise
     * the battery's discharge within the step and give it back to the plan after 00:28. With 5
     * minute steps at 120 times real time a step lasts 2.5 s; the guard looks every 10 s of site
     * time (the 100 ms real floor makes it 12 s). */
    cfg_opts_t o = default_opts();
    o.step_minutes = 5;
    o.speed = 120;
    o.cluster_options = "\"jobs_per_day\": 0";
    o.meter_swing_kw = 0;
    o.meter_options = ", \"telemetry_interval_ms\": 10000, "
                      "\"jump_at\": \"2023-05-08T00:26:00+09:00\", \"jump_kw\": 1500, "
                      "\"jump_minutes\": 2";
    o.planner_options = ", \"peak_guard\": {\"enabled\": true, \"interval_seconds\": 10}";
    write_config(&o);
    /* No settling: the meter's first readings come before the battery's here (every 10 s of
     * site time); the test takes whichever plan comes first. */
    const char *topics[] = {ctx.t_status, ctx.t_schedule, t_bess_cmd, NULL};
    bus_open(topics);
    size_t from = start_service(false);
    double flat[96];
    for (int i = 0; i < 96; i++) {
        flat[i] = 20.0;
    }
    char *price = price_series(flat, 96);
    publish(ctx.t_price, price, 1);
    free(price);
    cJSON_Delete(wait_schedule(NULL, 0, PLAN_TIMEOUT_MS, NULL));

    /* The battery's commands until the step after the jump's begins. */
    const double step = GUARD_T0 + 25 * GUARD_MIN, step_end = step + 5 * GUARD_MIN;
    const double jump_end = GUARD_T0 + 28 * GUARD_MIN;
    bool have_plan = false, have_guard = false, have_release = false;
    double plan_kw = 0, guard_kw = 0, guard_ts = 0, release_ts = 0;
    double deadline = test_now_ms() + 30000;
    for (;;) {
        double ts, kw;
        bool safe;
        next_bess_command((int)(deadline - test_now_ms()), &ts, &kw, &safe);
        if (ts >= step_end) {
            break;
        }
        if (safe || ts < step) {
            continue;
        }
        if (ts == step) {
            have_plan = true; /* the plan's set-point for the step, as it begins */
            plan_kw = kw;
        } else if (ts < jump_end && (!have_guard || kw > guard_kw)) {
            have_guard = true; /* a correction within the step: the highest one */
            guard_kw = kw;
            guard_ts = ts;
        } else if (ts >= jump_end && have_plan && fabs(kw - plan_kw) < 1e-6) {
            have_release = true;
            release_ts = ts;
        }
    }
    fprintf(stderr,
            "test_service: peak guard: plan %.1f kW, guard %.1f kW at 00:%05.2f, back to plan at "
            "00:%05.2f\n",
            plan_kw, guard_kw, (guard_ts - GUARD_T0) / GUARD_MIN,
            (release_ts - GUARD_T0) / GUARD_MIN);
    REQUIRE(have_plan, "no set-point for the step 00:25-00:30 at its start");
    REQUIRE(fabs(plan_kw) < 1.0, "the plan's battery set-point is %.3f kW, expected 0", plan_kw);
    REQUIRE(have_guard, "no battery set-point within the step during the jump (00:26-00:28)");
    /* The whole jump, and the few seconds before the guard saw it, comes from the battery. */
    REQUIRE(guard_kw >= plan_kw + 1400 && guard_kw <= plan_kw + 2000,
            "during the jump the battery was asked for %.1f kW, plan %.1f kW", guard_kw, plan_kw);
    REQUIRE(guard_ts > GUARD_T0 + 26 * GUARD_MIN && guard_ts < jump_end,
            "the guard's set-point came at 00:%05.2f", (guard_ts - GUARD_T0) / GUARD_MIN);
    REQUIRE(have_release, "the battery did not get the plan's set-point back within the step");

    char line[1024];
    log_line(from, "peak guard engaged", line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    REQUIRE(strstr(line, "target 9000.0 kW") != NULL, "the engage line: %s", line);
    log_line(from, "peak guard released", line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    REQUIRE(strstr(line, "step mean projected") != NULL, "the release line: %s", line);
    cJSON *status = guard_status();
    double engagements = jnum(status, "counters.peak_guard_engagements");
    double shed = jnum(status, "counters.peak_guard_shed_kwh");
    cJSON_Delete(status);
    fprintf(stderr, "test_service: peak guard: %.0f engagements, %.1f kWh shed\n", engagements,
            shed);
    /* About 1500 kW for 2 minutes: 50 kWh. */
    REQUIRE(engagements == 1, "%.0f engagements, expected 1", engagements);
    REQUIRE(shed > 35 && shed < 75, "%.1f kWh shed, expected about 50", shed);
    service_ctx_finish();
}
END_TEST

/* ---- ## 8b. The peak guard takes nothing from a job behind its plan ---- */

/* A job's power in a cluster command, or -1 when the command does not list the job (the
 * cluster then runs it at 0 kW). */
static double commanded_kw(const cJSON *cmd, const char *id)
{
    const cJSON *job = with_id(cJSON_GetObjectItemCaseSensitive(cmd, "jobs"), id);
    return job != NULL ? jnum(job, "power_kw") : -1;
}

/* The number right after key in line ("batteries " in the engage line), or NAN. */
static double figure_after(const char *line, const char *key)
{
    const char *at = strstr(line, key);
    return at != NULL ? strtod(at + strlen(key), NULL) : NAN;
}

START_TEST(test_peak_guard_spares_late_job)
{
    ctx_init("t8b-guard-jobs");
    /* Two jobs from the cluster's start. train-full must run at its full 1200 kW until its
     * deadline (1800 kWh in 1.5 h): it can only finish by running into its reserve, so it needs
     * all of every step, and gridems_peak_guard_job_sheddable_kw lets the guard take nothing from
     * it (a job behind its plan gives nothing). train-slack (1500 kWh at up to 600 kW in 3.5 h)
     * has an hour to spare. Energy costs 10 JPY/kWh until 01:00 and 500 after, so every plan runs
     * both jobs at full power and charges the battery at its full 2000 kW in every step until
     * 01:00: the price gap is worth far more than the 60 JPY per kW of peak. The load is a flat
     * 9000 kW, so a step imports 12800 kW, which is also the peak. From 00:46 to 00:48 the load
     * jumps by 5500 kW in the step 00:45-00:50: the guard must shed 5500 kW. The battery can give
     * at most 4000 (stop charging and discharge 2000), train-slack its 600; the 900 left are
     * uncovered: the step's mean runs above the target while the jump lasts (the battery may make
     * up for it after) rather than train-full give up power. Had the guard counted train-full's
     * 1200 kW as sheddable it would have taken 1500 kW of compute, 1000 of them from train-full.
     * Steps of 5 minutes at 120 times real time: the step lasts 2.5 s, the guard looks every 12 s
     * of site time (its 100 ms real floor). The jobs' hours count from the cluster's start, a few
     * simulated seconds after the clock's (more under the sanitizers, where a second of real
     * start-up is two simulated minutes): that delay moves both deadlines later, which changes
     * nothing here, since train-full's energy is its full power over its own window whenever that
     * starts, and train-slack keeps its hour. */
    const double full_kw = 1200, slack_kw = 600, jump_kw = 5500;
    char cluster[FILE_LEN + 64];
    jobs_cluster_option("train-full,0,1800,1200,1.5\n"
                        "train-slack,0,1500,600,3.5\n",
                        cluster, sizeof cluster);
    cfg_opts_t o = default_opts();
    o.step_minutes = 5;
    o.speed = 120;
    o.cluster_options = cluster;
    o.meter_swing_kw = 0;
    char meter[256];
    snprintf(meter, sizeof meter,
             ", \"telemetry_interval_ms\": 10000, \"jump_at\": \"2023-05-08T00:46:00+09:00\", "
             "\"jump_kw\": %.0f, \"jump_minutes\": 2",
             jump_kw);
    o.meter_options = meter;
    /* shed_compute is true by default; spelled out because the test is about it. */
    o.planner_options = ", \"peak_guard\": {\"enabled\": true, \"interval_seconds\": 10, "
                        "\"shed_compute\": true}";
    write_config(&o);
    char t_gpu_cmd[SERVICE_CTX_TOPIC_LEN];
    snprintf(t_gpu_cmd, sizeof t_gpu_cmd, "%s/dev/gpu/cmd", ctx.prefix);
    /* No settling, as in test_peak_guard: the meter reports before the battery here. */
    const char *topics[] = {ctx.t_status, ctx.t_schedule, t_gpu_cmd, t_bess_cmd, NULL};
    bus_open(topics);
    size_t from = start_service(false);
    double prices[96];
    for (int i = 0; i < 96; i++) {
        prices[i] = i < 2 ? 10.0 : 500.0;
    }
    char *price = price_series(prices, 96);
    publish(ctx.t_price, price, 1);
    free(price);
    cJSON_Delete(wait_schedule(NULL, 0, PLAN_TIMEOUT_MS, NULL));

    /* The cluster's commands until the step after the jump's begins: the plan's as the step
     * begins, then the guard's corrections within it (any time in the step: a loaded machine may
     * delay them; the engage line below shows that the guard acted on the jump). */
    const double step = GUARD_T0 + 45 * GUARD_MIN, step_end = step + 5 * GUARD_MIN;
    double plan_full = -1, plan_slack = -1, lowest_full = INFINITY, held_slack = INFINITY;
    int corrections = 0;
    double deadline = test_now_ms() + 45000;
    for (;;) {
        wire_msg_t msg;
        int left = (int)(deadline - test_now_ms());
        REQUIRE(left > 0 && bus_wait(t_gpu_cmd, NULL, left, &msg) == 0,
                "no cluster command from the step after the jump's within 45 s");
        cJSON *cmd = parse(msg.payload);
        wire_msg_free(&msg);
        double ts = jnum(cmd, "ts");
        /* A safe-mode command lists no job: the cluster holds them at 0 kW. */
        bool safe = cJSON_IsTrue(jfind(cmd, "safe_mode"));
        double full = safe ? 0 : commanded_kw(cmd, "train-full");
        double slack = safe ? 0 : commanded_kw(cmd, "train-slack");
        cJSON_Delete(cmd);
        if (ts >= step_end) {
            break;
        }
        if (ts < step) {
            continue;
        }
        lowest_full = fmin(lowest_full, full);
        if (ts == step) {
            plan_full = full;
            plan_slack = slack;
        } else {
            corrections++;
            held_slack = fmin(held_slack, slack);
        }
    }
    /* The battery's commands of the same step, queued meanwhile. */
    double plan_bess = NAN, guard_bess = -INFINITY;
    for (;;) {
        double ts, kw;
        bool safe;
        next_bess_command(PLAN_TIMEOUT_MS, &ts, &kw, &safe);
        if (ts >= step_end) {
            break;
        }
        if (safe || ts < step) {
            continue;
        }
        if (ts == step) {
            plan_bess = kw;
        } else {
            guard_bess = fmax(guard_bess, kw);
        }
    }
    fprintf(stderr,
            "test_service: jobs under the guard: plan train-full %.1f kW, train-slack %.1f kW, "
            "battery %.1f kW; %d corrections in the step: train-full at least %.1f kW, "
            "train-slack down to %.1f kW, battery up to %.1f kW\n",
            plan_full, plan_slack, plan_bess, corrections, lowest_full, held_slack, guard_bess);
    char line[1024];
    REQUIRE(test_service_wait_log(&ctx.svc, from, "until 2023-05-08T00:50:00+09:00: batteries",
                                  PLAN_TIMEOUT_MS),
            "the guard did not engage in the step 00:45-00:50");
    log_line(from, "until 2023-05-08T00:50:00+09:00: batteries", line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    double shed = figure_after(line, "shedding "), batteries = figure_after(line, "batteries ");
    double compute = figure_after(line, "compute "), uncovered = figure_after(line, "uncovered ");
    cJSON *status = guard_status();
    double engagements = jnum(status, "counters.peak_guard_engagements");
    double shed_kwh = jnum(status, "counters.peak_guard_shed_kwh");
    cJSON_Delete(status);
    fprintf(stderr, "test_service: peak guard: %.0f engagements, %.1f kWh shed\n", engagements,
            shed_kwh);

    /* The scenario: both jobs at full power in the plan, the battery charging. */
    REQUIRE(fabs(plan_full - full_kw) < 0.5 && fabs(plan_slack - slack_kw) < 0.5,
            "the plan's set-points for the step 00:45-00:50: train-full %.1f kW, train-slack "
            "%.1f kW; expected both at full power (%.0f, %.0f)",
            plan_full, plan_slack, full_kw, slack_kw);
    REQUIRE(plan_bess < 0, "the plan's battery set-point is %.1f kW, expected charging", plan_bess);
    REQUIRE(shed > jump_kw - 100 && shed < jump_kw + 100,
            "the guard shed %.1f kW for the %.0f kW jump: %s", shed, jump_kw, line);
    /* The guard took no power from the job behind its plan, through the whole step. */
    REQUIRE(lowest_full >= full_kw - 0.5,
            "train-full was commanded %.1f kW in the step of the jump, expected its full %.0f",
            lowest_full, full_kw);
    REQUIRE(compute > 0 && compute <= plan_slack + 0.5,
            "the guard took %.1f kW of compute, only train-slack's %.1f kW could wait: %s", compute,
            plan_slack, line);
    /* It held back the job with time to spare instead (the correction carries it). */
    REQUIRE(corrections > 0 && held_slack <= plan_slack - compute + 0.5,
            "train-slack was commanded down to %.1f kW in %d corrections in the step, "
            "expected %.1f less than the plan's %.1f",
            held_slack, corrections, compute, plan_slack);
    /* And for the rest, the battery, as far as it could go; what neither could give was left
     * uncovered: the step's mean rose for those minutes. */
    REQUIRE(batteries > 0 && guard_bess >= plan_bess + batteries - 0.5,
            "the battery was asked for %.1f kW in the step, plan %.1f kW, its share %.1f kW",
            guard_bess, plan_bess, batteries);
    REQUIRE(uncovered > 0 && fabs(batteries + compute + uncovered - shed) < 0.5,
            "the engage line does not leave the rest uncovered: %s", line);
    REQUIRE(shed_kwh > 0, "%.1f kWh shed after an engagement", shed_kwh);
    service_ctx_finish();
}
END_TEST

/* ---- ## 9. A restart plans at once with the forecasts and load history it had ---- */

START_TEST(test_restart_restores_forecasts)
{
    ctx_init("t8-history");
    cfg_opts_t o = default_opts();
    write_config(&o);
    start_with_bus(NULL);
    /* Not retained: after the restart only the service's own files know these prices. */
    char *price = jepx_price_message();
    publish(ctx.t_price, price, 0);
    free(price);
    cJSON *plan = wait_schedule("price", 0, PLAN_TIMEOUT_MS, NULL);
    double first = jnum(plan, "plan.id");
    fprintf(stderr, "test_service: plan %.0f before the restart: %s start, %.0f iterations\n",
            first, jstr(plan, "solver.start"), jnum(plan, "solver.iterations"));
    cJSON_Delete(plan);

    ctx.expect_running = false;
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service was no longer running");
    int status = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
    REQUIRE(status == 0, "SIGTERM: exit status %d", status);
    static const char *const files[] = {"forecast_import_price.json", "load_history.json",
                                        "basis.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[FILE_LEN];
        snprintf(path, sizeof path, "%s/%s", ctx.state_dir, files[i]);
        REQUIRE(access(path, R_OK) == 0, "no %s after the first run", path);
    }
    double before = drain(ctx.t_schedule, first, 200);

    /* No price message this time: the start-up plan comes from the restored store. */
    size_t from = start_service(false);
    cJSON *next = wait_schedule(NULL, before, PLAN_TIMEOUT_MS, NULL);
    double intervals = jnum(next, "plan.inputs.import_price_intervals");
    const char *load = jstr(next, "plan.inputs.base_load");
    fprintf(stderr,
            "test_service: after the restart plan %.0f: %.0f price intervals, base load "
            "from %s\n",
            jnum(next, "plan.id"), intervals, load);
    REQUIRE(intervals > 0, "the first plan after the restart has no import prices");
    REQUIRE(strcmp(load, "forecast") == 0, "the first plan's base load comes from %s", load);
    REQUIRE(jnum(next, "steps") == 48, "steps %.0f after the restart", jnum(next, "steps"));
    REQUIRE(jnum(next, "plan.inputs.peak_margin_kw") == 0, "peak margin %g without one configured",
            jnum(next, "plan.inputs.peak_margin_kw"));
    /* The solver kept its basis: the first solve is carried over from it, not cold. */
    fprintf(stderr, "test_service: first solve after the restart: %s start, %.0f iterations\n",
            jstr(next, "solver.start"), jnum(next, "solver.iterations"));
    REQUIRE(strcmp(jstr(next, "solver.start"), "shifted") == 0,
            "the first solve after the restart started %s", jstr(next, "solver.start"));
    cJSON_Delete(next);
    char line[1024];
    log_line(from, "the first solve starts from the basis kept in", line, sizeof line);
    log_line(from, "import_price forecast restored", line, sizeof line);
    REQUIRE(strstr(line, "intervals held") != NULL, "no restore line in the log: %s", line);
    log_line(from, "load history restored", line, sizeof line);
    REQUIRE(strstr(line, "steps") != NULL, "no load history line in the log: %s", line);
    service_ctx_finish();
}
END_TEST

/* ---- ## 10. A DR event below the inflexible load degrades the status, and says why ---- */

START_TEST(test_dr_event_below_load)
{
    ctx_init("t9-dr-cap");
    cfg_opts_t o = default_opts();
    write_config(&o);
    char t_event[192];
    snprintf(t_event, sizeof t_event, "%s/in/event", ctx.prefix);
    start_with_bus(NULL);
    cJSON *plan = publish_prices_and_plan("price", NULL);
    double id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    cJSON *status = status_after_plan(id);
    REQUIRE(strcmp(jstr(status, "state"), "online") == 0, "before the event: %s (%s)",
            jstr(status, "state"), jstr(status, "reason"));
    cJSON_Delete(status);

    /* The meter's load is about 9000 kW; a 5000 kW cap for two hours cannot be met. */
    size_t from = test_service_log_size(&ctx.svc);
    publish(t_event,
            "{\"id\":\"evt-7\",\"start\":\"2023-05-08T03:00:00+09:00\",\"end\":"
            "\"2023-05-08T05:00:00+09:00\",\"import_limit_kw\":5000}",
            0);
    plan = wait_schedule("event", id, PLAN_TIMEOUT_MS, NULL);
    id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    status = status_after_plan(id);
    const char *reason = jstr(status, "reason");
    fprintf(stderr, "test_service: status %s: %s\n", jstr(status, "state"), reason);
    REQUIRE(strcmp(jstr(status, "state"), "degraded") == 0, "with the event: %s (%s)",
            jstr(status, "state"), reason);
    char want[128];
    snprintf(want, sizeof want, "plan %.0f: ", id);
    REQUIRE(strstr(reason, want) == reason, "the reason does not start with \"%s\": %s", want,
            reason);
    REQUIRE(strstr(reason, "kWh unserved load (DR event evt-7 caps import at 5000 kW below the ") !=
                NULL,
            "the reason does not say what and why: %s", reason);
    cJSON_Delete(status);
    char line[1024];
    snprintf(want, sizeof want, "status degraded: plan %.0f: ", id);
    log_line(from, want, line, sizeof line);
    REQUIRE(strstr(line, "evt-7") != NULL, "the log does not say why: %s", line);

    /* Cancelled: the next plan is clean and the status online again. */
    publish(t_event, "{\"id\":\"evt-7\",\"cancel\":true}", 0);
    plan = wait_schedule("event", id, PLAN_TIMEOUT_MS, NULL);
    id = jnum(plan, "plan.id");
    cJSON_Delete(plan);
    status = status_after_plan(id);
    REQUIRE(strcmp(jstr(status, "state"), "online") == 0, "after the cancel: %s (%s)",
            jstr(status, "state"), jstr(status, "reason"));
    cJSON_Delete(status);
    service_ctx_finish();
}
END_TEST

/* ---- ## 10b. A job planned into its reserve is no shortfall ---- */

START_TEST(test_job_in_reserve)
{
    ctx_init("t10-reserve");
    /* 2000 kWh at 1200 kW, arriving at 00:15 and due at 02:15 (the cluster's start, about the
     * clock's, plus 15 minutes and 2 h 15 minutes): a plan must finish it a reserve
     * earlier, by the 01:30 step boundary (the reserve is at least a step, 30 minutes), and the
     * three steps from 00:00 (the running one counted whole, planner.running_step "rest") hold
     * 1800 kWh. The rest, 200 kWh less what the cluster ran before the plan that follows the
     * arrival, is for the reserve, which holds 900 (45 minutes at 1200 kW): the job is on time,
     * the status is online, and it and a notice say so. */
    char cluster[FILE_LEN + 64];
    jobs_cluster_option("train-r,0.25,2000,1200,2\n", cluster, sizeof cluster);
    cfg_opts_t o = default_opts();
    o.cluster_options = cluster;
    write_config(&o);
    start_with_bus(NULL);
    size_t from = test_service_log_size(&ctx.svc);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    double id = jnum(plan, "plan.id");
    while (planned_energy(plan, "train-r") < 0) {
        cJSON_Delete(plan);
        /* The job arrives 15 s (simulated 15 minutes) after the service started. */
        plan = wait_schedule(NULL, id, 30000, NULL);
        id = jnum(plan, "plan.id");
    }
    double asked = planned_energy(plan, "train-r");
    cJSON_Delete(plan);
    cJSON *status = status_after_plan(id);
    const char *reason = jstr(status, "reason");
    fprintf(stderr, "test_service: train-r %.1f kWh to plan; status %s: %s\n", asked,
            jstr(status, "state"), reason);
    REQUIRE(strcmp(jstr(status, "state"), "online") == 0, "a job in its reserve: %s (%s)",
            jstr(status, "state"), reason);
    char want[128];
    snprintf(want, sizeof want, "plan %.0f: job train-r runs into its reserve (", id);
    double unmet = -1, reserve = -1;
    REQUIRE(strncmp(reason, want, strlen(want)) == 0 &&
                sscanf(reason + strlen(want), "%lf of %lf kWh)", &unmet, &reserve) == 2,
            "the reason is not \"%s<unmet> of <reserve> kWh)\": %s", want, reason);
    /* The job's hours count from the cluster's start, a few simulated seconds after the clock's
     * (more under the sanitizers): its deadline and so its reserve come that much later (up to
     * 3 simulated minutes, 60 kWh, allowed). */
    REQUIRE(reserve >= 900 && reserve <= 960 && unmet > 0 && unmet <= 200 &&
                fabs(asked - 1800 - unmet) < 1,
            "%.1f kWh to plan, %g for the reserve of %g kWh: expected 200 less what ran before "
            "the plan, and 900 (a little more when the cluster started late)",
            asked, unmet, reserve);
    cJSON_Delete(status);
    char line[1024];
    log_line(from, "runs into its reserve", line, sizeof line);
    REQUIRE(strstr(line, "[notice] ") != NULL && strstr(line, "job train-r") != NULL,
            "no notice of the reserve in the log: %s", line);
    service_ctx_finish();
}
END_TEST

/* ---- ## 10c. Two clusters: the plan holds each one's own cap ---- */

/* The most that the jobs of `cluster` (by the plan's scenario) run at in any one step. */
static double cluster_peak_kw(const cJSON *schedule, const char *cluster)
{
    const cJSON *jobs = jget(schedule, "plan.inputs.scenario.flexible_loads");
    const cJSON *loads = jget(schedule, "flexible_loads");
    int steps = (int)jnum(schedule, "steps");
    double peak = 0;
    for (int t = 0; t < steps; t++) {
        double sum = 0;
        const cJSON *job = NULL;
        cJSON_ArrayForEach(job, jobs)
        {
            const cJSON *in = cJSON_GetObjectItemCaseSensitive(job, "cluster");
            if (cJSON_IsString(in) && strcmp(in->valuestring, cluster) == 0) {
                const cJSON *planned = with_id(loads, jstr(job, "id"));
                REQUIRE(planned != NULL, "job %s is not in the schedule", jstr(job, "id"));
                sum += cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(planned, "power_kw"), t)
                           ->valuedouble;
            }
        }
        peak = fmax(peak, sum);
    }
    return peak;
}

START_TEST(test_two_clusters_hold_own_caps)
{
    ctx_init("t10c-two-clusters");
    /* A second GPU cluster (cap 2000 kW) beside the usual one (3000 kW), with two jobs of
     * 1500 kW that want the same cheap hours: together 3000 kW, which the site's pooled cap of
     * 5000 kW would allow. Each device is a cluster of the program (docs/optimizer.md
     * "Clusters"), so the plan runs gpu2's jobs at 2000 kW at most, and its scenario, re-solved
     * with `gridems solve`, gives the same objective. */
    char jobs_path[FILE_LEN];
    snprintf(jobs_path, sizeof jobs_path, "%s/gpu2-jobs.csv", ctx.dir);
    REQUIRE(test_write_file(jobs_path, "id,arrival,energy_kwh,power_max_kw,deadline_hours\n"
                                       "big-1,0,3000,1500,4\nbig-2,0,3000,1500,4\n") == 0,
            "cannot write %s", jobs_path);
    char extra[2 * FILE_LEN];
    snprintf(extra, sizeof extra,
             ",\n  {\"plugin\": \"cluster_sim\", \"name\": \"gpu2\", \"options\": {\n"
             "    \"topic_prefix\": \"%s/dev/gpu2\", \"power_cap_kw\": 2000, "
             "\"jobs\": \"%s\"}}",
             ctx.prefix, jobs_path);
    cfg_opts_t o = default_opts();
    o.extra_plugins = extra;
    write_config(&o);
    char t_gpu_cmd[SERVICE_CTX_TOPIC_LEN], t_gpu2_cmd[SERVICE_CTX_TOPIC_LEN];
    snprintf(t_gpu_cmd, sizeof t_gpu_cmd, "%s/dev/gpu/cmd", ctx.prefix);
    snprintf(t_gpu2_cmd, sizeof t_gpu2_cmd, "%s/dev/gpu2/cmd", ctx.prefix);
    const char *topics[] = {ctx.t_status, ctx.t_schedule, t_gpu_cmd, t_gpu2_cmd, NULL};
    bus_open(topics);
    start_service(false);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    double id = jnum(plan, "plan.id");
    /* gpu2's first reading may come after the first plan: its jobs are in the plan it asks for. */
    while (planned_energy(plan, "big-1") < 0 || planned_energy(plan, "big-2") < 0) {
        cJSON_Delete(plan);
        plan = wait_schedule(NULL, id, PLAN_TIMEOUT_MS, NULL);
        id = jnum(plan, "plan.id");
    }
    const cJSON *clusters = jget(plan, "plan.inputs.scenario.clusters");
    REQUIRE(cJSON_GetArraySize(clusters) == 2 &&
                jnum(with_id(clusters, "gpu"), "compute_limit_kw") == 3000 &&
                jnum(with_id(clusters, "gpu2"), "compute_limit_kw") == 2000,
            "the plan's scenario does not have the clusters gpu (3000 kW) and gpu2 (2000 kW)");
    double gpu2_peak = cluster_peak_kw(plan, "gpu2");
    fprintf(stderr, "test_service: gpu2's jobs run at %.1f kW at most in plan %.0f\n", gpu2_peak,
            id);
    REQUIRE(gpu2_peak <= 2000 + 1e-6, "gpu2's jobs run at %.3f kW, over its cap of 2000",
            gpu2_peak);
    REQUIRE(gpu2_peak >= 2000 - 1e-6, "gpu2's cap never binds (%.3f kW): the test shows nothing",
            gpu2_peak);
    check_resolve(plan, "t10c");
    cJSON_Delete(plan);
    /* Each cluster's command carries its own cap, not the site's 5000 kW (a safe-mode command,
     * before the cluster is in a plan, carries none). */
    const char *cmd_topics[] = {t_gpu_cmd, t_gpu2_cmd};
    const double own_caps[] = {3000, 2000};
    for (int i = 0; i < 2; i++) {
        double deadline = test_now_ms() + PLAN_TIMEOUT_MS, cap = -1;
        while (cap < 0) {
            wire_msg_t msg;
            int left = (int)(deadline - test_now_ms());
            REQUIRE(left > 0 && bus_wait(cmd_topics[i], "\"power_cap_kw\"", left, &msg) == 0,
                    "no command with a cap on %s", cmd_topics[i]);
            cJSON *cmd = parse(msg.payload);
            wire_msg_free(&msg);
            cap = jnum(cmd, "power_cap_kw");
            cJSON_Delete(cmd);
        }
        REQUIRE(cap == own_caps[i], "%s: cap %.0f kW, expected the device's own %.0f",
                cmd_topics[i], cap, own_caps[i]);
    }
    service_ctx_finish();
}
END_TEST

/* ---- ## 11. What gridems/plugin.h promises a device, through the real loader and binary ---- */

/* The log line right after the first one (from `from` on) that contains needle ("(none)"). */
static void next_log_line(size_t from, const char *needle, char *out, size_t size)
{
    char *log = log_since(from);
    const char *at = strstr(log, needle);
    const char *next = at != NULL ? strchr(at, '\n') : NULL;
    if (next == NULL) {
        snprintf(out, size, "(none)");
    } else {
        next++;
        size_t n = strcspn(next, "\n");
        snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), next);
    }
    free(log);
}

/* The host-clock time the probe logged for its n-th read of device, or -1. */
static int64_t read_at(size_t from, const char *device, int n)
{
    char needle[96];
    snprintf(needle, sizeof needle, "read #%d of %s at ", n, device);
    char *log = log_since(from);
    const char *at = strstr(log, needle);
    int64_t ms = at != NULL ? strtoll(at + strlen(needle), NULL, 10) : -1;
    free(log);
    return ms;
}

static int count_since(size_t from, const char *needle)
{
    char *log = log_since(from);
    int n = test_count_substr(log, needle);
    free(log);
    return n;
}

/* SIGHUP the service and wait until it has reloaded; returns the log offset before the signal. */
static size_t hup_and_wait(void)
{
    size_t from = test_service_log_size(&ctx.svc);
    REQUIRE(test_service_signal(&ctx.svc, SIGHUP) == 0, "the service ended (status %d)",
            ctx.svc.status);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "reloaded ", PLAN_TIMEOUT_MS),
            "no reload after SIGHUP");
    return from;
}

START_TEST(test_plugin_promises)
{
    ctx_init("t11-promises");
    cfg_opts_t o = default_opts();
    /* Clock speed 60: the probe's 10-s read interval is 167 ms of real time, the control tick
     * one second. */
    o.extra_plugins = ",\n  {\"plugin\": \"test_events\", \"name\": \"probe\", \"options\": {"
                      "\"read_interval_ms\": 10000, \"second\": \"aux\", \"tag\": \"a\"}}";
    write_config(&o);
    char t_event[192];
    snprintf(t_event, sizeof t_event, "%s/in/event", ctx.prefix);
    /* Not start_with_bus(): the probe reports at once, so the re-plan failure that settling
     * waits for comes before the battery reports, and is not logged again. */
    const char *topics[] = {ctx.t_status, ctx.t_schedule, NULL};
    bus_open(topics);
    size_t from = start_service(false);

    /* The host API table's strerror, which a plugin can call (gridems_strerror it cannot). */
    REQUIRE(test_service_wait_log(&ctx.svc, from,
                                  "[test_events:probe] strerror(EINVAL) = "
                                  "invalid argument",
                                  2000),
            "no strerror line from the probe");
    /* One id rule: the device named after its instance is the instance; the one registered
     * after init, under another name, is <instance>.<name>. */
    REQUIRE(test_service_wait_log(&ctx.svc, from, "device probe (meter) added, read every 10000 ms",
                                  2000),
            "the probe's first device was not added as \"probe\" with its read interval");
    REQUIRE(test_service_wait_log(&ctx.svc, from,
                                  "device probe.aux (meter) added, read every 10000 ms", 2000),
            "the probe's second device was not added as \"probe.aux\"");
    /* The first read right after the device is added. */
    char line[1024];
    next_log_line(from, "device probe.aux (meter) added", line, sizeof line);
    REQUIRE(strstr(line, "read #1 of aux") != NULL, "not read right after it was added: %s", line);
    /* Polled at its interval, not only on the control tick: 12 more reads must come within
     * about 120 s of site time (a minute's tick alone would take 720 s). Measured on the host
     * clock the probe logs, so a busy machine that delays the reads cannot change the count. */
    int64_t t0 = read_at(from, "probe", 1);
    REQUIRE(test_service_wait_log(&ctx.svc, from, "read #13 of probe at ", 20000),
            "the probe was not read 13 times");
    int64_t t1 = read_at(from, "probe", 13);
    REQUIRE(t0 > 0 && t1 > t0, "read times of probe: %lld, %lld", (long long)t0, (long long)t1);
    double reads = 12.0 * 120000.0 / (double)(t1 - t0);
    fprintf(stderr, "test_service: 12 reads of probe in %.1f s of site time\n",
            (double)(t1 - t0) / 1000.0);
    REQUIRE(reads >= 8 && reads <= 16, "%.1f reads of probe in 120 s of site time at 10 s", reads);

    /* GRID_SIGNAL for an accepted price forecast, a DR event and its cancel. */
    size_t sig_from = test_service_log_size(&ctx.svc);
    cJSON *plan = publish_prices_and_plan(NULL, NULL);
    cJSON_Delete(plan);
    REQUIRE(test_service_wait_log(&ctx.svc, sig_from, "event 2 signal 1 id - start 1683471600000",
                                  2000),
            "no price GRID_SIGNAL from the start of the forecast");
    REQUIRE(count_since(sig_from, "event 2 signal 1 id -") == 2,
            "the price signal did not reach both devices once each");
    publish(t_event,
            "{\"id\":\"evt-9\",\"start\":\"2023-05-08T03:00:00+09:00\",\"end\":"
            "\"2023-05-08T05:00:00+09:00\",\"import_limit_kw\":15000}",
            0);
    REQUIRE(test_service_wait_log(&ctx.svc, sig_from,
                                  "event 2 signal 3 id evt-9 start 1683482400000 end "
                                  "1683489600000 value 15000 on probe",
                                  PLAN_TIMEOUT_MS),
            "no DR GRID_SIGNAL with the event's period and limit");
    publish(t_event, "{\"id\":\"evt-9\",\"cancel\":true}", 0);
    REQUIRE(test_service_wait_log(&ctx.svc, sig_from,
                                  "event 2 signal 4 id evt-9 start 1683482400000 end "
                                  "1683489600000 value 0 on aux",
                                  PLAN_TIMEOUT_MS),
            "no DR cancel GRID_SIGNAL with the cancelled event's period");

    /* SIGHUP with the plugins unchanged: RELOAD to every device, no instance touched. */
    size_t hup_from = hup_and_wait();
    REQUIRE(test_service_wait_log(&ctx.svc, hup_from,
                                  "event 1 signal 0 id - start 0 end 0 "
                                  "value 0 on probe",
                                  2000),
            "no RELOAD event");
    REQUIRE(count_since(hup_from, "reload: plugin instance") == 0,
            "unchanged instances were reported as changed");

    /* One option of one instance edited: exactly that instance is unloaded and loaded again. */
    o.extra_plugins = ",\n  {\"plugin\": \"test_events\", \"name\": \"probe\", \"options\": {"
                      "\"read_interval_ms\": 10000, \"second\": \"aux\", \"tag\": \"b\"}}";
    write_config(&o);
    hup_from = hup_and_wait();
    log_line(hup_from, "reload: plugin instance", line, sizeof line);
    fprintf(stderr, "test_service: %s\n", line);
    REQUIRE(strstr(line, "reload: plugin instance \"probe\" changed (plugin, path or options); "
                         "reloading it") != NULL,
            "the changed instance is not named: %s", line);
    REQUIRE(test_service_wait_log(&ctx.svc, hup_from, "device probe.aux (meter) added", 2000),
            "the changed instance did not come back");
    char *log = log_since(hup_from);
    const char *gone = strstr(log, "destroy probe");
    const char *back = strstr(log, "reload: plugin instance \"probe\" loaded with its new entry");
    const char *added = strstr(log, "device probe (meter) added");
    bool reloaded = gone != NULL && back != NULL && added != NULL && gone < added;
    int others = test_count_substr(log, "[battery_sim:bess1] loaded") +
                 test_count_substr(log, "event 1 signal 0");
    free(log);
    REQUIRE(reloaded, "probe was not unloaded and loaded again");
    REQUIRE(others == 0, "an unchanged instance was reloaded, or the reloaded one got RELOAD");
    REQUIRE(count_since(hup_from, "reload: plugin instance") == 2, "more than probe changed");

    /* Removed, then added again. */
    o.extra_plugins = "";
    write_config(&o);
    hup_from = hup_and_wait();
    REQUIRE(test_service_wait_log(&ctx.svc, hup_from, "reload: plugin instance \"probe\" unloaded",
                                  2000),
            "the removed instance was not unloaded");
    REQUIRE(count_since(hup_from, "destroy aux") == 1, "the removed instance's devices remain");
    o.extra_plugins = ",\n  {\"plugin\": \"test_events\", \"name\": \"probe\", \"options\": {"
                      "\"read_interval_ms\": 10000, \"second\": \"aux\", \"tag\": \"c\"}}";
    write_config(&o);
    hup_from = hup_and_wait();
    REQUIRE(count_since(hup_from, "reload: plugin instance \"probe\" is new; loading it") == 1,
            "the added instance is not named");
    REQUIRE(test_service_wait_log(&ctx.svc, hup_from, "device probe.aux (meter) added", 2000),
            "the added instance's devices did not come");

    /* SHUTDOWN to every device on a clean stop, before destroy(). */
    size_t stop_from = test_service_log_size(&ctx.svc);
    ctx.expect_running = false;
    REQUIRE(test_service_signal(&ctx.svc, SIGTERM) == 0, "the service was no longer running");
    int status = test_service_wait_exit(&ctx.svc, STOP_TIMEOUT_MS);
    REQUIRE(status == 0, "SIGTERM: exit status %d", status);
    log = log_since(stop_from);
    const char *shut = strstr(log, "event 3 signal 0 id - start 0 end 0 value 0 on probe");
    const char *shut2 = strstr(log, "event 3 signal 0 id - start 0 end 0 value 0 on aux");
    gone = strstr(log, "destroy probe");
    bool ordered = shut != NULL && shut2 != NULL && gone != NULL && shut < gone;
    free(log);
    REQUIRE(ordered, "SHUTDOWN did not reach both devices before destroy()");
    service_ctx_check_log_clean();
    service_ctx_release();
}
END_TEST

static Suite *service_suite(void)
{
    const test_case_t cases[] = {
        {"price_to_schedule", test_price_gives_schedule, 30},
        {"malformed_price", test_malformed_price_rejected, 30},
        {"failed_replan_counted", test_failed_replan_counted, 30},
        {"broker_restart", test_broker_restart, 45},
        {"sigterm", test_sigterm, 30},
        {"wrong_abi_plugin", test_wrong_abi_plugin, 30},
        {"restart_after_sigkill", test_restart_after_sigkill, 60},
        {"sighup_invalid_config", test_sighup_invalid_config, 30},
        {"peak_guard", test_peak_guard, 60},
        {"peak_guard_spares_late_job", test_peak_guard_spares_late_job, 90},
        {"restart_restores_forecasts", test_restart_restores_forecasts, 60},
        {"dr_event_below_load", test_dr_event_below_load, 45},
        {"job_in_reserve", test_job_in_reserve, 60},
        {"two_clusters_hold_own_caps", test_two_clusters_hold_own_caps, 45},
        {"plugin_promises", test_plugin_promises, 45},
    };
    return test_suite_from_cases("service", cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the service integration tests\n");
        return 77;
    }
    return test_run_suite(service_suite());
}
