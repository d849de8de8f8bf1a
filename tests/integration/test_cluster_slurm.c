/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm against a real Slurm (tests/support/slurm_cluster.h): the real `gridems run`
 * with the plugin loaded by the real loader, its own mosquitto, jobs submitted with sbatch.
 *
 *   plan_drives_jobs    price forecasts make the plan stop and then run two tagged jobs: the
 *                       running one is suspended and resumed, the pending one held and
 *                       released, an untagged job is never touched; a DR import limit makes
 *                       the plan give the running job part of its power, which the stand-in
 *                       power-cap command receives as watts per GPU with the job's GPU indexes,
 *                       and the cap is lifted when the event is cancelled.
 *   controller_outage   slurmctld stops: the device goes stale and into safe mode, the service
 *                       keeps running; slurmctld returns: the device is back in the plan and the
 *                       job is where the plan says; a SIGHUP that changes the instance's
 *                       options unloads it (undoing its suspend) and the new instance follows
 *                       the plan again; at SIGTERM gridems undoes its suspend.
 *
 * The service runs on a simulated clock at 12x that starts at the wall clock's time: its control
 * tick (one minute of site time, where staleness is checked) comes every 5 s, and the 5-minute
 * plan steps last 25 s. Slurm's own times (--deadline, time used) are wall-clock times, which
 * the site clock passes only slowly within a test. Deadlines are 2 to 2.5 hours away: inside
 * the 3-hour horizon, so that the plan must place the jobs in it (a job due after the horizon
 * may be left for after it entirely).
 *
 * Skipped (exit 77, saying why) where Slurm cannot start: not root, Slurm or munge missing, a
 * daemon that does not come up.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "broker.h"
#include "service_harness.h"
#include "slurm_cluster.h"
#include "test_util.h"

enum { SPEED = 12, STEP_MIN = 5, WAIT_MS = 40000, PHASE_STEPS = 4 };

static slurm_cluster_t slurm;
static broker_t broker;
static test_service_t svc;
static char *dir;
static char cfg_path[600];
static char cap_log[600];
static char t_price[128];
static char t_event[128];
static double real_t0_ms; /* test_now_ms() when the service was started */
static time_t sim_t0;     /* the site clock's start (Unix s) */
static int svc_started;   /* the service was started and should be running */
static char site_tag[32]; /* the site id and the tag of the temporary directories */

/* ---- ## Set-up ---- */

/* The service's config; poll_ms varies so that a SIGHUP reload sees changed options. */
static void write_config(int poll_ms)
{
    struct tm tm;
    gmtime_r(&sim_t0, &tm);
    char start[40];
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    char *cfg = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&cfg, &size);
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "{\"site\": {\"id\": \"%s\", \"import_limit_kw\": 1000},\n"
            " \"mqtt\": {\"uri\": \"%s\"},\n"
            " \"planner\": {\"step_minutes\": %d, \"horizon_steps\": 36, \"debounce_ms\": 200},\n"
            " \"clock\": {\"mode\": \"simulated\", \"start\": \"%s\", \"speed\": %d},\n"
            " \"state_dir\": \"%s/state\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
            " \"plugins\": [{\"plugin\": \"cluster_slurm\", \"name\": \"gpu\", \"options\": {\n"
            "   \"poll_ms\": %d, \"command_timeout_ms\": 2000, \"stale_after_ms\": 60000,\n"
            "   \"gpu_power_kw\": 0.4, \"gpu_watts_min\": 100, \"gpu_watts_max\": 400,\n"
            "   \"power_cap_command\": \"%s/cap.sh\"}}]}\n",
            site_tag, broker.uri, STEP_MIN, start, SPEED, dir, GRIDEMS_TEST_PLUGIN_DIR, poll_ms,
            dir);
    fclose(f);
    ck_assert_int_eq(test_write_file(cfg_path, cfg), 0);
    free(cfg);
}

static void start_all(const char *tag, int gpus)
{
    double t0 = test_now_ms();
    if (slurm_cluster_start(&slurm, tag, gpus) < 0) {
        ck_abort_msg("Slurm did not start (it did in main's probe): %s", slurm.why);
    }
    fprintf(stderr, "%s: Slurm (munged, slurmctld, slurmd) ready in %.0f ms\n", tag,
            test_now_ms() - t0);
    broker_start(&broker, tag);
    dir = test_make_tmpdir(tag);
    snprintf(cfg_path, sizeof cfg_path, "%s/gridems.json", dir);
    snprintf(cap_log, sizeof cap_log, "%s/cap.log", dir);
    snprintf(t_price, sizeof t_price, "gridems/%s/in/price", tag);
    snprintf(t_event, sizeof t_event, "gridems/%s/in/event", tag);
    /* The stand-in for a site's nvidia-smi -pl wrapper: it records its arguments. */
    char script[700], text[1200];
    snprintf(script, sizeof script, "%s/cap.sh", dir);
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "# stand-in power-cap command: JOBID NODES GPU_INDEXES WATTS\n"
             "[ $# -eq 4 ] || exit 2\n"
             "printf '%%s %%s %%s %%s\\n' \"$1\" \"$2\" \"$3\" \"$4\" >> '%s'\n",
             cap_log);
    ck_assert_int_eq(test_write_file(script, text), 0);
    ck_assert_int_eq(chmod(script, 0755), 0);
    ck_assert_int_eq(test_write_file(cap_log, ""), 0);

    sim_t0 = time(NULL);
    snprintf(site_tag, sizeof site_tag, "%s", tag);
    write_config(300);
}

static void start_service(void)
{
    char log[700];
    snprintf(log, sizeof log, "%s/gridems.log", dir);
    real_t0_ms = test_now_ms();
    test_service_start(&svc, cfg_path, log);
    svc_started = 1;
    ck_assert_msg(test_service_wait_log(&svc, 0, "device gpu: first reading", WAIT_MS),
                  "the Slurm device never reported");
}

static void stop_all(void)
{
    test_service_cleanup(&svc);
    memset(&svc, 0, sizeof svc);
    svc_started = 0;
    broker_cleanup(&broker);
    slurm_cluster_stop(&slurm);
    if (dir != NULL) {
        test_remove_tree(dir);
        free(dir);
        dir = NULL;
    }
}

/* ---- ## Jobs and signals ---- */

static void sbatch(char *id, size_t size, const char *gres, const char *extra1, const char *extra2)
{
    char *argv[10];
    int k = 0;
    argv[k++] = "sbatch";
    argv[k++] = "--parsable";
    argv[k++] = "--time=60";
    if (gres != NULL) {
        argv[k++] = (char *)gres;
    }
    if (extra1 != NULL) {
        argv[k++] = (char *)extra1;
    }
    if (extra2 != NULL) {
        argv[k++] = (char *)extra2;
    }
    argv[k++] = "--wrap";
    argv[k++] = "sleep 300"; /* longer than a test, short if a killed test leaves it */
    argv[k] = NULL;
    char *out = NULL, *err = NULL;
    int rc = slurm_cluster_run(&slurm, argv, &out, &err);
    ck_assert_msg(rc == 0 && out != NULL, "sbatch failed (%d): %s", rc, err ? err : "");
    out[strcspn(out, ";\n")] = '\0';
    snprintf(id, size, "%s", out);
    free(out);
    free(err);
}

/* Wait until the job's "STATE REASON" starts with want (or, with negate, no longer does). */
static void wait_job(const char *id, const char *want, int negate, const char *what)
{
    char got[128] = "";
    double end = test_now_ms() + WAIT_MS;
    while (test_now_ms() < end) {
        ck_assert_msg(!svc_started || test_service_running(&svc), "the service ended (status %d)",
                      svc.status);
        slurm_cluster_job_state(&slurm, id, got, sizeof got);
        int match = strncmp(got, want, strlen(want)) == 0;
        if (match != negate && got[0] != '\0') {
            return;
        }
        test_sleep_ms(100);
    }
    /* The directory goes with the teardown: put the service's last lines in the message. */
    char *log = svc_started ? test_service_log(&svc) : NULL;
    size_t len = log != NULL ? strlen(log) : 0;
    fprintf(stderr, "service log (end):\n%s\n",
            log != NULL ? log + (len > 3000 ? len - 3000 : 0) : "");
    free(log);
    ck_abort_msg("job %s (%s): expected %s\"%s\" within %d ms, squeue says \"%s\"", id, what,
                 negate ? "not " : "", want, WAIT_MS, got);
}

/* The plan step the site clock is in now (at most: the service started a little after t0). */
static int sim_step_now(void)
{
    double sim_s = (test_now_ms() - real_t0_ms) / 1000.0 * SPEED;
    return (int)(sim_s / (STEP_MIN * 60));
}

/* Prices from the clock's start: `first` from step 0 to the current step + PHASE_STEPS, `rest`
 * after (JPY/kWh). */
static void publish_prices(double first, double rest)
{
    int until = sim_step_now() + PHASE_STEPS;
    char buf[4096];
    struct tm tm;
    gmtime_r(&sim_t0, &tm);
    char start[40];
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    int n = snprintf(buf, sizeof buf, "{\"start\":\"%s\",\"step_minutes\":%d,\"values\":[", start,
                     STEP_MIN);
    for (int i = 0; i < until + 48; i++) {
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%g", i ? "," : "",
                      i <= until ? first : rest);
    }
    snprintf(buf + n, sizeof buf - (size_t)n, "],\"unit\":\"kWh\",\"currency\":\"JPY\"}");
    ck_assert_int_eq(test_mqtt_publish(broker.uri, t_price, buf, 1), 0);
}

static void iso(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* Wait until the stand-in's log has a line for job id with watts satisfying the range. */
static int wait_cap(const char *id, int lo, int hi, int *watts)
{
    double end = test_now_ms() + WAIT_MS;
    char head[64];
    snprintf(head, sizeof head, "%s ", id);
    while (test_now_ms() < end) {
        char *text = test_read_file(cap_log, NULL);
        for (char *line = text; line != NULL && *line != '\0';) {
            char *nl = strchr(line, '\n');
            char nodes[64], idx[64];
            int w;
            if (strncmp(line, head, strlen(head)) == 0 &&
                sscanf(line + strlen(head), "%63s %63s %d", nodes, idx, &w) == 3 && w >= lo &&
                w <= hi) {
                ck_assert_str_eq(nodes, slurm.node);
                ck_assert_str_eq(idx, "0-3");
                *watts = w;
                free(text);
                return 1;
            }
            line = nl != NULL ? nl + 1 : NULL;
        }
        free(text);
        test_sleep_ms(100);
    }
    return 0;
}

/* ---- ## Tests ---- */

START_TEST(plan_drives_jobs)
{
    start_all("slurmplan", 4);
    char a[32], b[32], c[32], deadline[120], tag[200];
    char when[40];
    iso(sim_t0 + 150 * 60, when, sizeof when); /* inside the 3 h horizon */
    /* 2 kWh at 1.6 kW: more than the cheap steps can take, so the plan runs A at all the power
     * it may have in them. */
    snprintf(tag, sizeof tag, "--comment=gridems:flex,energy_kwh=2,power_max_kw=1.6,deadline=%s",
             when);
    /* A: tagged, all four GPUs, running. C: untagged, no GPU: never gridems's. B: tagged by
     * comment only, Slurm's own --deadline, energy estimated from its 2 GPUs; pending (no GPU
     * left). */
    sbatch(a, sizeof a, "--gres=gpu:4", tag, NULL);
    wait_job(a, "RUNNING", 0, "A starts");
    sbatch(c, sizeof c, NULL, NULL, NULL);
    wait_job(c, "RUNNING", 0, "C starts");
    snprintf(deadline, sizeof deadline, "--deadline=now+2hours");
    sbatch(b, sizeof b, "--gres=gpu:2", "--comment=gridems:flex", deadline);
    wait_job(b, "PENDING", 0, "B waits for GPUs");

    start_service();
    size_t from = test_service_log_size(&svc);
    /* Expensive now, cheap later: the plan gives both jobs 0 now. */
    publish_prices(100, 1);
    wait_job(a, "SUSPENDED", 0, "plan: A stops");
    wait_job(b, "PENDING JobHeldAdmin", 0, "plan: B stays pending");
    char line[128];
    snprintf(line, sizeof line, "job %s: suspend (plan", a);
    ck_assert(test_service_wait_log(&svc, from, line, WAIT_MS));
    snprintf(line, sizeof line, "job %s: hold (plan", b);
    ck_assert(test_service_wait_log(&svc, from, line, WAIT_MS));
    char got[128];
    slurm_cluster_job_state(&slurm, c, got, sizeof got);
    ck_assert_msg(strncmp(got, "RUNNING", 7) == 0, "untagged job C: %s", got);

    /* Cheap now, expensive later: both run now. */
    from = test_service_log_size(&svc);
    publish_prices(1, 100);
    wait_job(a, "RUNNING", 0, "plan: A runs");
    wait_job(b, "PENDING JobHeldAdmin", 1, "plan: B released");
    snprintf(line, sizeof line, "job %s: resume (plan", a);
    ck_assert(test_service_wait_log(&svc, from, line, WAIT_MS));
    snprintf(line, sizeof line, "job %s: release (plan", b);
    ck_assert(test_service_wait_log(&svc, from, line, WAIT_MS));
    slurm_cluster_job_state(&slurm, b, got, sizeof got);
    ck_assert_msg(strncmp(got, "PENDING", 7) == 0, "B released, still waiting for GPUs: %s", got);

    /* A DR import limit of 1.2 kW: only A is left; it runs at 1.2 of its 1.6 kW, which the cap
     * command gets as watts per GPU (between run_fraction's 200 W and the full 400 W). */
    char *cancel[] = {"scancel", b, NULL};
    ck_assert_int_eq(slurm_cluster_run(&slurm, cancel, NULL, NULL), 0);
    char ev[512], s1[40], s2[40];
    time_t sim_now = sim_t0 + (time_t)((test_now_ms() - real_t0_ms) / 1000.0 * SPEED);
    iso(sim_now - 3600, s1, sizeof s1);
    iso(sim_now + 3 * 3600, s2, sizeof s2);
    snprintf(ev, sizeof ev,
             "{\"id\":\"dr1\",\"start\":\"%s\",\"end\":\"%s\",\"import_limit_kw\":1.2}", s1, s2);
    ck_assert_int_eq(test_mqtt_publish(broker.uri, t_event, ev, 0), 0);
    int watts = 0;
    ck_assert_msg(wait_cap(a, 200, 399, &watts), "no capped power-cap call for job %s", a);
    ck_assert_int_eq(watts, 300); /* 1.2 / 1.6 of 400 W */
    wait_job(a, "RUNNING", 0, "capped A runs");
    ck_assert_int_eq(test_mqtt_publish(broker.uri, t_event, "{\"id\":\"dr1\",\"cancel\":true}", 0),
                     0);
    ck_assert_msg(wait_cap(a, 400, 400, &watts), "the cap of job %s was not lifted", a);
    ck_assert_int_eq(test_write_file(cap_log, ""), 0);

    slurm_cluster_job_state(&slurm, c, got, sizeof got);
    ck_assert_msg(strncmp(got, "RUNNING", 7) == 0, "untagged job C: %s", got);
    char *log = test_service_log(&svc);
    snprintf(line, sizeof line, "job %s:", c);
    ck_assert_msg(strstr(log, line) == NULL, "gridems acted on the untagged job %s", c);
    ck_assert_msg(test_sanitizer_report(log) == NULL, "sanitizer report: %s",
                  test_sanitizer_report(log));
    free(log);
    /* A clean stop leaves the running job uncapped (if the plan had it capped) and running. */
    ck_assert_int_eq(test_service_signal(&svc, SIGTERM), 0);
    ck_assert_int_eq(test_service_wait_exit(&svc, 15000), 0);
    svc_started = 0;
    char *caps = test_read_file(cap_log, NULL);
    ck_assert_ptr_nonnull(caps);
    ck_assert_msg(caps[0] == '\0' || strstr(caps, " 400\n") != NULL, "cap left at stop: %s", caps);
    free(caps);
    wait_job(a, "RUNNING", 0, "A after gridems stopped");
    stop_all();
}
END_TEST

START_TEST(controller_outage)
{
    start_all("slurmdown", 2);
    char a[32], tag[200], when[40];
    iso(sim_t0 + 150 * 60, when, sizeof when); /* inside the 3 h horizon */
    snprintf(tag, sizeof tag, "--comment=gridems:flex,energy_kwh=0.5,power_max_kw=0.8,deadline=%s",
             when);
    sbatch(a, sizeof a, "--gres=gpu:2", tag, NULL);
    wait_job(a, "RUNNING", 0, "A starts");
    start_service();
    publish_prices(100, 1);
    wait_job(a, "SUSPENDED", 0, "plan: A stops");

    size_t from = test_service_log_size(&svc);
    double t_stop = test_now_ms();
    ck_assert_int_eq(slurm_cluster_stop_controller(&slurm), 0);
    ck_assert_msg(test_service_wait_log(&svc, from, "device gpu: no reading for", WAIT_MS),
                  "the device did not go stale");
    double stale_after = test_now_ms() - t_stop;
    fprintf(stderr, "slurmctld stopped: device stale after %.0f ms\n", stale_after);
    ck_assert(test_service_wait_log(&svc, from, "[cluster_slurm:gpu] safe mode: undoing", 5000));
    ck_assert(test_service_wait_log(&svc, from, "Slurm controller unreachable", 1000));
    /* stale_after_ms (5 s of real time) plus at most one control tick (5 s) and the command
     * timeout in flight (2 s), with room for a busy machine. */
    ck_assert_msg(stale_after < 20000, "stale after %.0f ms", stale_after);
    ck_assert(test_service_running(&svc));

    from = test_service_log_size(&svc);
    double t_back = test_now_ms();
    ck_assert_msg(slurm_cluster_start_controller(&slurm) == 0, "%s", slurm.why);
    ck_assert_msg(
        test_service_wait_log(&svc, from, "device gpu: readings again; back in the plan", WAIT_MS),
        "the device did not come back");
    fprintf(stderr, "slurmctld started again: device back in the plan after %.0f ms\n",
            test_now_ms() - t_back);
    /* Still expensive now: once planned again, the job is (or is again) suspended. */
    ck_assert(test_service_wait_log(&svc, from, "plan ", WAIT_MS));
    wait_job(a, "SUSPENDED", 0, "plan after the outage: A stops");

    /* A reload that changes the instance's options unloads it (undoing its suspend) and loads
     * a new one, which follows the plan again. */
    from = test_service_log_size(&svc);
    write_config(400);
    ck_assert_int_eq(test_service_signal(&svc, SIGHUP), 0);
    ck_assert_msg(test_service_wait_log(&svc, from, "unload: 1 gridems actions undone", WAIT_MS),
                  "the unloaded instance did not undo its suspend");
    char line[128];
    snprintf(line, sizeof line, "job %s: suspend (plan", a);
    ck_assert_msg(test_service_wait_log(&svc, from, line, WAIT_MS),
                  "the reloaded instance did not suspend job %s", a);
    wait_job(a, "SUSPENDED", 0, "plan after the reload: A stops");

    /* A clean stop undoes gridems's suspend. */
    from = test_service_log_size(&svc);
    ck_assert_int_eq(test_service_signal(&svc, SIGTERM), 0);
    ck_assert_int_eq(test_service_wait_exit(&svc, 15000), 0);
    svc_started = 0;
    char *log = test_service_log(&svc);
    ck_assert_msg(strstr(log + from, "shutdown: 1 gridems actions undone") != NULL,
                  "no undo at shutdown: %s", log + from);
    ck_assert_msg(test_sanitizer_report(log) == NULL, "sanitizer report: %s",
                  test_sanitizer_report(log));
    free(log);
    char got[128];
    slurm_cluster_job_state(&slurm, a, got, sizeof got);
    ck_assert_msg(strncmp(got, "RUNNING", 7) == 0, "after shutdown A is %s", got);
    stop_all();
}
END_TEST

int main(void)
{
    if (!broker_available()) {
        printf("SKIP: mosquitto is not installed\n");
        return 77;
    }
    /* Can Slurm start here at all? (Outside Check's fork, so that a skip can be returned.) */
    slurm_cluster_t probe;
    if (slurm_cluster_start(&probe, "slurmprobe", 1) < 0) {
        printf("SKIP: Slurm cannot start on this machine: %s\n", probe.why);
        return 77;
    }
    slurm_cluster_stop(&probe);
    unsetenv("SLURM_CONF");
    char so[600];
    snprintf(so, sizeof so, "%s/gridems_cluster_slurm.so", GRIDEMS_TEST_PLUGIN_DIR);
    if (access(so, R_OK) != 0) {
        printf("FAIL: %s is missing: build the target gridems_cluster_slurm\n", so);
        return 1;
    }
    Suite *s = suite_create("cluster_slurm");
    TCase *tc = tcase_create("real_slurm");
    tcase_add_checked_fixture(tc, NULL, stop_all);
    tcase_add_test(tc, plan_drives_jobs);
    tcase_add_test(tc, controller_outage);
    suite_add_tcase(s, tc);
    /* Without fork, a failed assertion returns to the runner, which then runs the checked
     * teardown: the jobs are cancelled and the daemons stopped even then (slurmd's job steps
     * would outlive a test process that just exited). */
    return test_run_suite_in_process(s);
}
