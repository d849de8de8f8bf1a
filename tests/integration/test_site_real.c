/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * examples/site-real.json, as shipped, run by the real `gridems run` against the test's peers:
 * the three SunSpec devices served by libmodbus test servers (tests/sunspec/sunspec_server.c)
 * and the Slurm cluster by a real Slurm 22.05 started here (tests/support/slurm_cluster.h). The
 * test changes only what points the example at its peers and makes it fast: the broker, the
 * state directory, the plugin directory, each SunSpec device's host and port, the poll and
 * staleness times, and a simulated clock at 120x (an hour of site time in 30 s).
 *
 * One job is submitted with sbatch, tagged `gridems:flex` (200 kW, 400 kWh, due at 03:00 of the
 * site's day), and runs on two of the node's fake GPUs. A DR event limits the import to 10 kW
 * until 01:00: the batteries together cannot discharge 90 kW, so the plan gives the job less
 * than half its power (run_fraction 0.5) until 01:00, and all of it from 01:00, since 400 kWh
 * is more than the job can take before its deadline (which the plan keeps a reserve before). Over
 * that hour every state message has the four devices, none stale, and the site meter's reading as
 * the import; the job is suspended by the plan during the event and resumed after it; the schedule
 * has both batteries and the job (below half its power in the event's steps, above after); both
 * batteries' set-points are written and read back; the billing-period peak holds the meter's
 * import.
 *
 * Slurm's times are wall-clock times, the service's are the simulated site clock's: the tag's
 * deadline is therefore given in site time and the job has no --deadline (which Slurm would
 * enforce on the wall clock); what the plugin reads from Slurm besides (time used, GPUs) is a
 * duration or a count.
 *
 * Where Slurm cannot start (not root, slurm-wlm or munge missing, a daemon that does not come
 * up), the example runs without its cluster_slurm entry and the test says that the Slurm part
 * was skipped and why; the SunSpec part is always run. Skipped (exit 77) without mosquitto or
 * without the SunSpec plugins (libmodbus-dev).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "slurm_cluster.h"
#include "sunspec_peer.h"
#include "sunspec_site.h"
#include "test_util.h"

enum { T_MS = 20000, N_PEERS = 3 };

/* The tagged job: its largest power, and the plan's threshold between stopped and running. */
#define JOB_POWER_KW 200.0
#define JOB_RUN_KW (0.5 * JOB_POWER_KW) /* the example's run_fraction */
#define JOB_TAG                                                                                    \
    "--comment=gridems:flex,energy_kwh=400,power_max_kw=200,deadline=2023-05-08T03:00:00+09:00"
#define DR_END_MIN 60 /* the DR event ends at 01:00 of the site's day */

/* What a test started, for the teardown (the run does not fork: a failed assertion returns to
 * the runner, which then stops Slurm, whose job steps would outlive a test process). */
static site_t site;
static peer_t peers[N_PEERS];
static slurm_cluster_t slurm;
static int have_slurm;

static void teardown(void)
{
    if (site.svc.log_path != NULL) {
        test_service_cleanup(&site.svc);
    }
    if (site.bus != NULL) {
        wire_close(site.bus);
        site.bus = NULL;
    }
    if (site.dir != NULL) {
        broker_cleanup(&site.broker);
        test_remove_tree(site.dir);
        free(site.dir);
    }
    memset(&site, 0, sizeof site);
    for (int i = 0; i < N_PEERS; i++) {
        peer_stop(&peers[i]);
    }
    if (have_slurm) {
        slurm_cluster_stop(&slurm);
        have_slurm = 0;
    }
}

static void start_image_server(peer_t *p, site_t *s, const img_t *im, const char *name, int unit)
{
    char img_path[700], log_path[700], unit_s[16];
    snprintf(img_path, sizeof img_path, "%s/%s.img", s->dir, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", s->dir, name);
    snprintf(unit_s, sizeof unit_s, "%d", unit);
    ck_assert_int_eq(img_write(im, img_path), 0);
    char *argv[] = {(char *)GRIDEMS_TEST_SUNSPEC_SERVER, img_path, (char *)"0", unit_s, NULL};
    ck_assert_int_eq(peer_start(p, argv, log_path), 0);
}

/* Submit the tagged job; its id into id. */
static void submit_job(char *id, size_t size)
{
    char *argv[] = {"sbatch", "--parsable", "--time=60", "--gres=gpu:2",
                    JOB_TAG,  "--wrap",     "sleep 300", NULL};
    char *out = NULL, *err = NULL;
    int rc = slurm_cluster_run(&slurm, argv, &out, &err);
    ck_assert_msg(rc == 0 && out != NULL, "sbatch failed (%d): %s", rc, err ? err : "");
    out[strcspn(out, ";\n")] = '\0';
    snprintf(id, size, "%s", out);
    free(out);
    free(err);
}

/* Wait (bounded) until squeue shows the job's state starting with want. */
static void expect_job(const char *id, const char *want)
{
    char got[128] = "";
    double end = test_now_ms() + T_MS;
    while (test_now_ms() < end) {
        slurm_cluster_job_state(&slurm, id, got, sizeof got);
        if (strncmp(got, want, strlen(want)) == 0) {
            return;
        }
        test_sleep_ms(100);
    }
    ck_abort_msg("job %s: expected \"%s\" within %d ms, squeue says \"%s\"", id, want, T_MS, got);
}

/* The example pointed at the peers and broker, on a simulated clock. The SunSpec entries are
 * found by name; the cluster_slurm entry, last, is kept when Slurm runs and removed otherwise. */
static char *example_config(site_t *s, const int *ports)
{
    static const char *const sunspec[N_PEERS] = {"bess1", "bess2", "grid"};
    char path[700];
    snprintf(path, sizeof path, "%s/examples/site-real.json", GRIDEMS_TEST_SOURCE_DIR);
    char *text = test_read_file(path, NULL);
    ck_assert_ptr_nonnull(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    cJSON *mqtt = cJSON_GetObjectItemCaseSensitive(root, "mqtt");
    cJSON_ReplaceItemInObjectCaseSensitive(mqtt, "uri", cJSON_CreateString(s->broker.uri));
    cJSON_AddStringToObject(mqtt, "topic_prefix", s->prefix);
    char state[700];
    snprintf(state, sizeof state, "%s/state", s->dir);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "state_dir", cJSON_CreateString(state));
    cJSON_AddStringToObject(root, "plugin_dir", GRIDEMS_TEST_PLUGIN_DIR);
    cJSON *clock = cJSON_CreateObject();
    cJSON_AddStringToObject(clock, "mode", "simulated");
    cJSON_AddStringToObject(clock, "start", "2023-05-08T00:00:00+09:00");
    cJSON_AddNumberToObject(clock, "speed", 120);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "clock", clock);

    cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    ck_assert_int_eq(cJSON_GetArraySize(plugins), N_PEERS + 1);
    for (int i = 0; i < N_PEERS; i++) {
        cJSON *p = cJSON_GetArrayItem(plugins, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
        ck_assert_msg(cJSON_IsString(name) && strcmp(name->valuestring, sunspec[i]) == 0,
                      "plugins[%d] is not %s", i, sunspec[i]);
        cJSON *o = cJSON_GetObjectItemCaseSensitive(p, "options");
        cJSON_ReplaceItemInObjectCaseSensitive(o, "host", cJSON_CreateString("127.0.0.1"));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "port", cJSON_CreateNumber(ports[i]));
        /* Real-time polling on a clock 120 times faster: 2 s of real silence is stale. */
        cJSON_ReplaceItemInObjectCaseSensitive(o, "poll_ms", cJSON_CreateNumber(100));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "timeout_ms", cJSON_CreateNumber(300));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "stale_after_ms", cJSON_CreateNumber(240000));
    }
    cJSON *cluster = cJSON_GetArrayItem(plugins, N_PEERS);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(cluster, "plugin");
    ck_assert_msg(cJSON_IsString(kind) && strcmp(kind->valuestring, "cluster_slurm") == 0,
                  "the last plugin is not cluster_slurm");
    if (have_slurm) {
        cJSON *o = cJSON_GetObjectItemCaseSensitive(cluster, "options");
        /* squeue every 200 ms of real time; stale after 600 s of site time (5 s real). */
        cJSON_ReplaceItemInObjectCaseSensitive(o, "poll_ms", cJSON_CreateNumber(200));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "command_timeout_ms", cJSON_CreateNumber(2000));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "stale_after_ms", cJSON_CreateNumber(600000));
    } else {
        cJSON_DeleteItemFromArray(plugins, N_PEERS);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* A DR event limiting the import to 10 kW from the clock's start to 01:00. */
static void publish_dr_event(site_t *s)
{
    char topic[200];
    snprintf(topic, sizeof topic, "%s/in/event", s->prefix);
    ck_assert_int_eq(
        wire_publish(s->bus, topic,
                     "{\"id\":\"site-real-dr\",\"start\":\"2023-05-08T00:00:00+09:00\","
                     "\"end\":\"2023-05-08T01:00:00+09:00\",\"import_limit_kw\":10}",
                     1, 1, 5000),
        0);
}

/* The device's entry in a state message, or NULL. */
static const cJSON *state_device(const cJSON *root, const char *id)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(root, "devices"))
    {
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(d, "id");
        if (cJSON_IsString(jid) && strcmp(jid->valuestring, id) == 0) {
            return d;
        }
    }
    return NULL;
}

/* The planned power of job `job_id` (e.g. "gpu.12") in a schedule: in every step before 01:00
 * (the DR event's) below JOB_RUN_KW, in the step from 01:00 (the job's whole power: it asks for
 * more energy than it can take before its deadline) at or above it. */
static void check_job_plan(const char *schedule, const char *job_id)
{
    cJSON *root = cJSON_Parse(schedule);
    ck_assert_ptr_nonnull(root);
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(root, "start");
    int hh = -1, mm = -1;
    ck_assert_msg(cJSON_IsString(start) &&
                      sscanf(start->valuestring, "%*d-%*d-%*dT%d:%d", &hh, &mm) == 2,
                  "schedule without a start");
    const cJSON *job = NULL, *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(root, "flexible_loads"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "id");
        if (cJSON_IsString(id) && strcmp(id->valuestring, job_id) == 0) {
            job = f;
        }
    }
    ck_assert_msg(job != NULL, "job %s is not in the schedule: %.600s", job_id, schedule);
    const cJSON *power = cJSON_GetObjectItemCaseSensitive(job, "power_kw");
    int t = 0, after = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, power)
    {
        int step_min = hh * 60 + mm + 30 * t++; /* the example's 30-minute steps */
        ck_assert(cJSON_IsNumber(p));
        if (step_min < DR_END_MIN) {
            ck_assert_msg(p->valuedouble < JOB_RUN_KW, "job planned at %g kW at minute %d",
                          p->valuedouble, step_min);
        } else if (step_min == DR_END_MIN) {
            ck_assert_msg(p->valuedouble >= JOB_RUN_KW, "job planned at %g kW at minute %d",
                          p->valuedouble, step_min);
            after = 1;
        }
    }
    ck_assert_msg(after, "the schedule from %s has no step at 01:00", start->valuestring);
    cJSON_Delete(root);
}

START_TEST(test_site_example_runs_an_hour)
{
    char job[32] = "", job_id[64] = "";
    if (have_slurm) {
        submit_job(job, sizeof job);
        expect_job(job, "RUNNING");
        snprintf(job_id, sizeof job_id, "gpu.%s", job);
    }
    site_init(&site, "site-real");
    img_t legacy, der, meter;
    site_image_legacy(&legacy, 40000, NULL);
    site_image_der(&der, 50000, NULL);
    site_image_meter(&meter, 40000);
    start_image_server(&peers[0], &site, &legacy, "bess1", 1);
    start_image_server(&peers[1], &site, &der, "bess2", 1);
    start_image_server(&peers[2], &site, &meter, "grid", 240); /* the example's gateway unit */
    int ports[N_PEERS] = {peers[0].port, peers[1].port, peers[2].port};
    char *cfg = example_config(&site, ports);
    site_start_config(&site, cfg);
    cJSON_free(cfg);
    site_expect_state(&site, "bess1", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);
    site_expect_state(&site, "bess2", DER_POWER_KW, DER_SOC_KWH, T_MS);
    site_expect_state(&site, "grid", METER_POWER_KW, NAN, T_MS);
    if (have_slurm) {
        site_expect_state(&site, "gpu", JOB_POWER_KW, NAN, T_MS); /* the job runs */
    }
    publish_dr_event(&site);
    site_publish_prices(&site);

    /* An hour of simulated time (30 s of real time): every state from here on has every
     * device, none stale, and the site meter's reading as the import. */
    const int n_devices = have_slurm ? N_PEERS + 1 : N_PEERS;
    char topic[200];
    snprintf(topic, sizeof topic, "%s/state", site.prefix);
    double deadline = test_now_ms() + 120000;
    int states = 0, job_stopped = 0;
    double peak_kw = NAN;
    for (;;) {
        ck_assert_msg(test_now_ms() < deadline, "no state past 01:00 within 120 s");
        wire_msg_t msg;
        if (wire_next(site.bus, topic, NULL, 1000, &msg) != 0) {
            ck_assert(test_service_running(&site.svc));
            continue;
        }
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        ck_assert_ptr_nonnull(root);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "time");
        ck_assert(cJSON_IsString(t));
        const cJSON *d;
        int seen = 0;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(root, "devices"))
        {
            ck_assert_msg(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "stale")),
                          "a device is stale at %s", t->valuestring);
            seen++;
        }
        ck_assert_int_eq(seen, n_devices);
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "import_source");
        const cJSON *imp = cJSON_GetObjectItemCaseSensitive(root, "import_kw");
        ck_assert(cJSON_IsString(src) && strcmp(src->valuestring, "site meter") == 0);
        ck_assert(cJSON_IsNumber(imp) && fabs(imp->valuedouble - METER_POWER_KW) < 1e-6);
        const cJSON *peak = cJSON_GetObjectItemCaseSensitive(root, "peak_kw");
        ck_assert(cJSON_IsNumber(peak));
        peak_kw = peak->valuedouble;
        if (have_slurm) {
            const cJSON *pw =
                cJSON_GetObjectItemCaseSensitive(state_device(root, "gpu"), "power_kw");
            ck_assert(cJSON_IsNumber(pw));
            /* Suspended by the plan: the cluster reports no running flexible job. */
            if (strcmp(t->valuestring, "2023-05-08T01:00") < 0 && fabs(pw->valuedouble) < 1e-9) {
                job_stopped = 1;
            }
        }
        states++;
        int done = strcmp(t->valuestring, "2023-05-08T01:00") > 0;
        cJSON_Delete(root);
        if (done) {
            break;
        }
    }
    ck_assert_int_ge(states, 30);
    /* The site meter's import went into the billing-period peak: the mean of the 00:30 step,
     * all of it from the meter, was noted at the tick that published the last state. (The first
     * step's mean may also hold sums of device readings from before the meter's first answer.) */
    ck_assert_msg(peak_kw >= METER_POWER_KW - 1e-6, "peak %g kW", peak_kw);
    fprintf(stderr, "test_site_real: %d states, billing-period peak %g kW\n", states, peak_kw);

    /* Both batteries (and the job) are in the plan and were dispatched. */
    char sched[200];
    snprintf(sched, sizeof sched, "%s/schedule", site.prefix);
    wire_msg_t msg;
    ck_assert_int_eq(wire_read_one(site.broker.uri, sched, 5000, &msg), 0);
    ck_assert_msg(strstr(msg.payload, "\"bess1\"") && strstr(msg.payload, "\"bess2\""),
                  "schedule without both batteries: %.400s", msg.payload);
    if (have_slurm) {
        check_job_plan(msg.payload, job_id);
    }
    wire_msg_free(&msg);
    site_expect_log(&site, 0, "[battery_sunspec:bess1] set-point written and read back", T_MS);
    site_expect_log(&site, 0, "[battery_sunspec:bess2] set-point written and read back", T_MS);
    if (have_slurm) {
        char line[128];
        snprintf(line, sizeof line, "[cluster_slurm:gpu] job %s: suspend (plan", job);
        site_expect_log(&site, 0, line, T_MS);
        ck_assert_msg(job_stopped, "the cluster never reported the job stopped before 01:00");
        snprintf(line, sizeof line, "[cluster_slurm:gpu] job %s: resume (plan", job);
        site_expect_log(&site, 0, line, T_MS);
        expect_job(job, "RUNNING");
    } else {
        fprintf(stderr, "test_site_real: the Slurm part was skipped: %s\n", slurm.why);
    }
    site_finish(&site);
    memset(&site, 0, sizeof site);
}
END_TEST

/* 1 when the SunSpec plugins and the libmodbus test server were built. */
static int sunspec_built(void)
{
    static const char *const so[] = {"battery_sunspec", "meter_sunspec"};
    for (int i = 0; i < 2; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/gridems_%s.so", GRIDEMS_TEST_PLUGIN_DIR, so[i]);
        if (access(path, R_OK) != 0) {
            return 0;
        }
    }
    return GRIDEMS_TEST_SUNSPEC_SERVER[0] != '\0' && access(GRIDEMS_TEST_SUNSPEC_SERVER, X_OK) == 0;
}

int main(void)
{
    if (!sunspec_built()) {
        fprintf(stderr, "test_site_real: skipped: the SunSpec plugins were not built "
                        "(libmodbus-dev is not installed)\n");
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "test_site_real: skipped: mosquitto is not installed\n");
        return 77;
    }
    /* Slurm is started here, outside the test, so that one that cannot start only leaves the
     * Slurm part out. Four fake GPUs; the job takes two. */
    have_slurm = slurm_cluster_start(&slurm, "site-real-slurm", 4) == 0;
    if (have_slurm) {
        char so[600];
        snprintf(so, sizeof so, "%s/gridems_cluster_slurm.so", GRIDEMS_TEST_PLUGIN_DIR);
        if (access(so, R_OK) != 0) {
            fprintf(stderr, "test_site_real: %s is missing: build gridems_cluster_slurm\n", so);
            slurm_cluster_stop(&slurm);
            return 1;
        }
    } else {
        fprintf(stderr, "test_site_real: Slurm cannot start, its part will be skipped: %s\n",
                slurm.why);
    }
    Suite *s = suite_create("site_real");
    TCase *tc = tcase_create("example");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_site_example_runs_an_hour);
    suite_add_tcase(s, tc);
    int rc = test_run_suite_in_process(s);
    teardown();
    return rc;
}
