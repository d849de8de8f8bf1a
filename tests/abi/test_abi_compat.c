/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ABI compatibility through the real loader and host, in both directions:
 *   - test_compat10 (compat_v1_0.c), built against the frozen 1.0 header, loads and runs in this
 *     1.1 host: every struct and array of 1.0 in its 1.0 layout, read and written right;
 *   - test_compat_future (compat_future.c) hands over larger structs and arrays than the host
 *     knows (a later minor) and the host reads only the members it knows; and the host's own
 *     structs tell it, by struct_size, that nothing beyond them exists;
 *   - test_compat11 (compat_v1_1.c): the 1.1 additions (init_error, unregister_device,
 *     submit_work/cancel_work, timer_start_clock, the handle getters), handles that are no live
 *     instance refused with GRIDEMS_EINVAL, devices registered from a callback announced on the
 *     next loop turn, ids that do not collide after the counter wraps.
 * The host runs on a stepped clock, as in a backtest, so host-clock instants are exact.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "check_run.h"
#include "compat_probe.h"
#include "gridems/errors.h"
#include "gridems/plugin.h"
#include "host_internal.h" /* white-box: sizes of 1.0, ids */
#include "plugin_loader.h"
#include "test_util.h"

#define T0_MS INT64_C(1700000000000)

typedef struct rig_s {
    uv_loop_t loop;
    gridems_clock_t clock;
    gridems_timers_t timers;
    gridems__host_t *host;
    int added, removed, measurements;
    gridems_measurement_t last_m;
    char last_m_device[64];
    char added_names[8][64];
    compat_probe_t *watch; /* the plugin's probe, to see whether it is inside register_device */
    int added_while_inside;
} rig_t;

static rig_t rig;

static void on_measurement(void *ctx, gridems__device_t *dev, const gridems_measurement_t *m)
{
    (void)ctx;
    rig.measurements++;
    rig.last_m = *m;
    snprintf(rig.last_m_device, sizeof rig.last_m_device, "%s", gridems__device_name(dev));
}

static void on_added(void *ctx, gridems__device_t *dev)
{
    (void)ctx;
    if (rig.watch != NULL && rig.watch->inside_register) {
        rig.added_while_inside++;
    }
    if (rig.added < 8) {
        snprintf(rig.added_names[rig.added], sizeof rig.added_names[0], "%s",
                 gridems__device_name(dev));
    }
    rig.added++;
    /* What the service does on an announcement: call into the device at once. */
    gridems_caps_t caps;
    gridems__device_get_capabilities(dev, &caps);
}

static void on_removed(void *ctx, gridems__device_t *dev)
{
    (void)ctx;
    (void)dev;
    rig.removed++;
}

static int64_t on_now(void *ctx)
{
    (void)ctx;
    return gridems_clock_now_ms(&rig.clock);
}

static int on_subscribe(void *ctx, const char *filter)
{
    (void)ctx;
    (void)filter;
    return 0;
}

static void setup(void)
{
    memset(&rig, 0, sizeof rig);
    ck_assert_int_eq(uv_loop_init(&rig.loop), 0);
    ck_assert_int_eq(gridems_clock_init(&rig.clock, GRIDEMS_CLOCK_STEPPED, T0_MS, 1.0), 0);
    gridems_timers_init(&rig.timers, &rig.loop, &rig.clock);
    gridems__host_services_t services = {.ctx = &rig,
                                         .subscribe = on_subscribe,
                                         .measurement = on_measurement,
                                         .device_added = on_added,
                                         .device_removed = on_removed,
                                         .now_ms = on_now,
                                         .timers = &rig.timers};
    ck_assert_int_eq(gridems__host_create(&rig.loop, &services, &rig.host), 0);
}

static gridems_plugin_t *load(const char *json, int want, char *err, size_t errlen)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg);
    gridems_plugin_t *inst = NULL;
    int rc = gridems__plugin_load(rig.host, cfg, GRIDEMS_TEST_PLUGIN_DIR, &inst, err, errlen);
    cJSON_Delete(cfg);
    ck_assert_msg(rc == want, "load %s: %d (%s), want %d", json, rc, err, want);
    return inst;
}

static compat_probe_t *open_probe(const char *name, void **so)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gridems_test_%s.so", GRIDEMS_TEST_PLUGIN_DIR, name);
    *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(*so != NULL, "dlopen %s: %s", path, dlerror());
    compat_probe_t *p = dlsym(*so, "compat_probe");
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Run the loop until *value >= want, or fail after timeout_ms of real time. */
static void wait_for(const int *value, int want, int timeout_ms, const char *what)
{
    double end = test_now_ms() + timeout_ms;
    while (*(const volatile int *)value < want) {
        ck_assert_msg(test_now_ms() < end, "timed out waiting for %s (%d < %d)", what, *value,
                      want);
        uv_run(&rig.loop, UV_RUN_NOWAIT);
        test_sleep_ms(1);
    }
}

/* Step the clock from timer to timer up to `until`, firing what is due, as the lockstep does. */
static void run_until(int64_t until)
{
    for (;;) {
        int64_t due = gridems_timers_next_due(&rig.timers);
        if (due > until) {
            break;
        }
        if (due > gridems_clock_now_ms(&rig.clock)) {
            ck_assert_int_eq(gridems_clock_step_to(&rig.clock, due), 0);
        }
        gridems_timers_fire_due(&rig.timers, due);
        uv_run(&rig.loop, UV_RUN_NOWAIT);
    }
    if (until > gridems_clock_now_ms(&rig.clock)) {
        ck_assert_int_eq(gridems_clock_step_to(&rig.clock, until), 0);
    }
}

static void count_cb(void *arg)
{
    (*(int *)arg)++;
}

static void finish(void)
{
    int closed = 0;
    ck_assert_int_eq(gridems__host_unload_all(rig.host, count_cb, &closed), 0);
    wait_for(&closed, 1, 5000, "unload");
    ck_assert_int_eq(gridems__host_destroy(rig.host), 0);
    ck_assert_int_eq(uv_run(&rig.loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&rig.loop), 0);
}

static int find_one(void *arg, gridems__device_t *dev)
{
    const char **want = arg;
    if (strcmp(gridems__device_name(dev), want[0]) == 0) {
        want[1] = (const char *)dev;
        return 1;
    }
    return 0;
}

static gridems__device_t *device(const char *name)
{
    const char *want[2] = {name, NULL};
    gridems__host_foreach_device(rig.host, find_one, want);
    return (gridems__device_t *)(void *)want[1];
}

static gridems_setpoint_t setpoint(const gridems_job_setpoint_t *jobs, uint32_t n)
{
    gridems_setpoint_t sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    sp.plan_id = 7;
    sp.timestamp_ms = T0_MS;
    sp.power_kw = 12.0;
    sp.jobs = jobs;
    sp.n_jobs = n;
    sp.power_cap_kw = -1;
    return sp;
}

static void check_flex_jobs(const gridems_caps_t *caps, const char *const *ids, uint32_t n,
                            double energy_step, double delivered)
{
    ck_assert_uint_eq(caps->u.flex.n_jobs, n);
    ck_assert_uint_eq(caps->u.flex.job_size, sizeof(gridems_flex_job_t));
    for (uint32_t i = 0; i < n; i++) {
        const gridems_flex_job_t *j = &caps->u.flex.jobs[i];
        ck_assert_str_eq(j->id, ids[i]);
        ck_assert_double_eq_tol(j->energy_remaining_kwh, energy_step * (i + 1), 1e-12);
        ck_assert_double_eq_tol(j->energy_delivered_kwh, delivered, 1e-12);
        ck_assert_int_eq(j->earliest_ms, 1000);
    }
}

static void noop_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    (*(int *)arg)++;
}

/* ---- ## A 1.0 plugin in the 1.1 host ---- */

START_TEST(frozen_1_0_plugin_runs)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat10", &so);
    char err[512] = "";
    load("{\"plugin\": \"test_compat10\", \"name\": \"old1\", \"options\": {\"port\": 1883}}", 0,
         err, sizeof err);
    ck_assert_int_eq(p->init_calls, 1);
    ck_assert_int_eq(p->init_rc, 0);

    /* Its layout is ABI 1.0's: the sizes the host accepts as 1.0 are exactly these. */
    ck_assert_uint_eq(p->sizeof_info, GRIDEMS__V1_0_INFO_SIZE);
    ck_assert_uint_eq(p->sizeof_option, GRIDEMS__V1_0_OPTION_SIZE);
    ck_assert_uint_eq(p->sizeof_flex_job, GRIDEMS__V1_0_FLEX_JOB_SIZE);
    ck_assert_uint_eq(p->sizeof_job_setpoint, GRIDEMS__V1_0_JOB_SETPOINT_SIZE);
    ck_assert_uint_eq(p->sizeof_setpoint, GRIDEMS__V1_0_SETPOINT_SIZE);
    ck_assert_uint_lt(p->sizeof_info, sizeof(gridems_plugin_info_t));
    ck_assert_uint_lt(p->sizeof_setpoint, sizeof(gridems_setpoint_t));
    ck_assert_uint_lt(p->sizeof_api, sizeof(gridems_host_api_t));
    /* The host hands it its own, larger structs; a 1.0 plugin reads the 1.0 prefix. */
    ck_assert_uint_eq(p->api_size, sizeof(gridems_host_api_t));
    ck_assert_uint_eq(p->config_size, sizeof(gridems_config_t));

    /* Options: the 1.0 table (1.0 option_size), the getters by config pointer, the context. */
    ck_assert_int_eq(p->getter_rc, 0);
    ck_assert_int_eq(p->port, 1883);
    ck_assert_int_eq(p->ctx_port, 1883);
    ck_assert_double_eq(p->gain, 2.5);
    ck_assert_double_eq(p->ctx_gain, 2.5);
    ck_assert_int_eq(p->flag, 1);
    ck_assert_int_eq(p->ctx_flag, 1);
    ck_assert_str_eq(p->label, "unit");
    ck_assert_str_eq(p->ctx_label, "unit");

    /* Pointers that are no live instance: refused, no crash, even from a 1.0 plugin. */
    ck_assert_int_eq(p->bogus_timer_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->null_timer_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_cfg_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_register_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_post_rc, GRIDEMS_EINVAL);

    /* Devices from exact-size 1.0 descriptors. */
    ck_assert_int_eq(rig.added, 2);
    gridems__device_t *bat = device("old1");
    gridems__device_t *flex = device("jobs");
    ck_assert_ptr_nonnull(bat);
    ck_assert_ptr_nonnull(flex);
    ck_assert_uint_eq(bat->desc.struct_size, sizeof(gridems_device_desc_t));

    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(bat, &caps), 0);
    ck_assert_uint_eq(p->caps_size, sizeof(gridems_caps_t));
    ck_assert_double_eq(caps.u.battery.capacity_kwh, 100);
    ck_assert_double_eq(caps.u.battery.discharge_max_kw, 60);
    ck_assert_double_eq(caps.u.battery.charge_efficiency, 1.0); /* the host's default */

    /* A reading of exactly the 1.0 size. */
    ck_assert_int_eq(gridems__device_read(bat), 0);
    ck_assert_int_eq(p->post_rc, 0);
    ck_assert_int_eq(rig.measurements, 1);
    ck_assert_str_eq(rig.last_m_device, "old1");
    ck_assert_double_eq(rig.last_m.power_kw, -12.5);
    ck_assert_double_eq(rig.last_m.soc_kwh, 40);
    ck_assert_int_eq(rig.last_m.timestamp_ms, T0_MS);

    /* A flex job array of 1.0 elements: job_size is not in its layout (0 = the 1.0 size). */
    static const char *const ids[] = {"j-a", "j-b", "j-c"};
    ck_assert_int_eq(gridems__device_get_capabilities(flex, &caps), 0);
    check_flex_jobs(&caps, ids, 3, 10.0, 0.0);
    ck_assert_double_eq(caps.u.flex.power_cap_kw, 300);

    /* Set-point jobs: the 1.0 plugin steps by its own 1.0 sizeof. */
    gridems_job_setpoint_t jobs[2] = {{"j-a", 11.0}, {"j-c", 33.0}};
    gridems_setpoint_t sp = setpoint(jobs, 2);
    ck_assert_int_eq(gridems__device_apply_setpoint(flex, &sp), 0);
    ck_assert_int_eq(p->sp_jobs, 2);
    ck_assert_str_eq(p->sp_job_ids[0], "j-a");
    ck_assert_str_eq(p->sp_job_ids[1], "j-c");
    ck_assert_double_eq(p->sp_job_kw[1], 33.0);
    ck_assert_uint_eq(p->setpoint_size, sizeof(gridems_setpoint_t));
    ck_assert_int_eq(gridems__device_apply_setpoint(bat, &sp), 0);
    ck_assert_double_eq(p->sp_power_kw, 12.0);

    /* An event and a message. */
    gridems_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = GRIDEMS_EVT_RELOAD;
    ck_assert_int_eq(gridems__device_on_event(bat, &ev), 0);
    ck_assert_int_eq(p->events, 1);
    ck_assert_int_eq(p->last_event_type, GRIDEMS_EVT_RELOAD);
    ck_assert_uint_eq(p->event_size, sizeof(gridems_device_event_t));
    ck_assert_int_eq(gridems__host_deliver(rig.host, "compat/x/cmd", "hello", 5, 1, 0), 1);
    ck_assert_str_eq(p->last_payload, "hello");
    ck_assert_uint_eq(p->message_size, sizeof(gridems_message_t));

    /* Its timer (5000 ms: host-clock ms on a stepped clock) and the work it queues. */
    run_until(T0_MS + 4999);
    ck_assert_int_eq(p->timer_fires, 0);
    run_until(T0_MS + 5000);
    ck_assert_int_eq(p->timer_fires, 1);
    ck_assert_int_eq(p->timer_fire_ms[0], T0_MS + 5000);
    wait_for(&p->work_done, 1, 5000, "work done");
    ck_assert_int_eq(p->work_runs, 1);
    ck_assert_int_eq(p->work_status, 0);

    finish();
    ck_assert_int_eq(p->destroys, 2);
    ck_assert_int_eq(p->cleanups, 1);
    dlclose(so);
}
END_TEST

/* ---- ## A plugin of a later minor: larger structs than the host knows ---- */

START_TEST(future_plugin_runs_on_known_members)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat_future", &so);
    char err[512] = "";
    gridems_plugin_t *inst = load("{\"plugin\": \"test_compat_future\", \"name\": \"new1\", "
                                  "\"options\": {\"port\": 8883, \"label\": \"rack\"}}",
                                  0, err, sizeof err);
    ck_assert_int_eq(p->init_rc, 0);
    /* Its larger info and option table were read by its own sizes. */
    ck_assert_uint_eq(inst->info.struct_size, sizeof(gridems_plugin_info_t));
    ck_assert_int_eq((int)inst->info.abi_minor, 9);
    ck_assert_uint_eq(inst->n_opts, 4);
    ck_assert_int_eq(p->getter_rc, 0);
    ck_assert_int_eq(p->port, 8883);
    ck_assert_int_eq(p->ctx_port, 8883);
    ck_assert_double_eq(p->gain, 2.5);
    ck_assert_int_eq(p->flag, 1);
    ck_assert_str_eq(p->label, "rack");
    ck_assert_str_eq(p->ctx_label, "rack");

    ck_assert_int_eq(rig.added, 3);
    gridems__device_t *bat = device("new1");
    gridems__device_t *flex = device("jobs");
    gridems__device_t *flex2 = device("jobs2");
    ck_assert_ptr_nonnull(bat);
    ck_assert_ptr_nonnull(flex);
    ck_assert_ptr_nonnull(flex2);
    ck_assert_uint_eq(bat->desc.struct_size, sizeof(gridems_device_desc_t));

    /* A larger reading: the known members only, its tail of garbage ignored. */
    ck_assert_int_eq(gridems__device_read(bat), 0);
    ck_assert_int_eq(p->post_rc, 0);
    ck_assert_double_eq(rig.last_m.power_kw, 7.25);
    ck_assert_double_eq(rig.last_m.soc_kwh, 55);
    ck_assert_double_eq(rig.last_m.energy_kwh, 0);

    gridems_caps_t caps;
    ck_assert_int_eq(gridems__device_get_capabilities(bat, &caps), 0);
    ck_assert_double_eq(caps.u.battery.capacity_kwh, 200);
    ck_assert_uint_eq(p->caps_size, sizeof(gridems_caps_t));

    /* Larger job elements: by gridems_plugin_info.flex_job_size, and by an explicit job_size. */
    static const char *const ids[] = {"f-a", "f-b", "f-c"};
    ck_assert_int_eq(gridems__device_get_capabilities(flex, &caps), 0);
    check_flex_jobs(&caps, ids, 3, 5.0, 0.0);
    ck_assert_int_eq(caps.u.flex.jobs[2].deadline_ms, 3002);
    static const char *const ids2[] = {"g-a", "g-b"};
    ck_assert_int_eq(gridems__device_get_capabilities(flex2, &caps), 0);
    ck_assert_uint_eq(caps.u.flex.n_jobs, 2);
    ck_assert_str_eq(caps.u.flex.jobs[0].id, ids2[0]);
    ck_assert_str_eq(caps.u.flex.jobs[1].id, ids2[1]);
    ck_assert_double_eq(caps.u.flex.jobs[1].energy_delivered_kwh, 0.5);
    ck_assert_int_eq(caps.u.flex.jobs[1].deadline_ms, 4001);

    /* The host's structs say by their size that nothing lies beyond; jobs by job_size. */
    gridems_job_setpoint_t jobs[3] = {{"f-a", 1.5}, {"f-b", 2.5}, {"f-c", 3.5}};
    gridems_setpoint_t sp = setpoint(jobs, 3);
    ck_assert_int_eq(gridems__device_apply_setpoint(flex, &sp), 0);
    ck_assert_uint_eq(p->setpoint_job_size, sizeof(gridems_job_setpoint_t));
    ck_assert_str_eq(p->sp_job_ids[2], "f-c");
    ck_assert_double_eq(p->sp_job_kw[2], 3.5);
    gridems_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = GRIDEMS_EVT_GRID_SIGNAL;
    ck_assert_int_eq(gridems__device_on_event(bat, &ev), 0);
    ck_assert_int_eq(p->last_event_type, GRIDEMS_EVT_GRID_SIGNAL);
    ck_assert_int_eq(gridems__host_deliver(rig.host, "compat/y/cmd", "x", 1, 1, 0), 1);
    ck_assert_int_eq(p->messages, 1);
    /* No host struct claimed members the host does not have, and the descriptor's unknown
     * member (a callback) was never called. */
    ck_assert_int_eq(p->knows_beyond, 0);

    finish();
    ck_assert_int_eq(p->destroys, 3);
    dlclose(so);
}
END_TEST

/* ---- ## The 1.1 additions ---- */

START_TEST(init_error_is_printed)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    char err[512] = "";
    load("{\"plugin\": \"test_compat11\", \"name\": \"c1\", \"options\": {\"fail\": true}}",
         GRIDEMS_EPLUGIN, err, sizeof err);
    ck_assert_msg(strstr(err, "plugin c1 (test_compat11): init failed: option fail is true: "
                              "refusing on purpose (42) (ECONFIG)") != NULL,
                  "%s", err);
    ck_assert_int_eq(p->bogus_init_error_rc, GRIDEMS_EINVAL);
    finish();
    dlclose(so);
}
END_TEST

START_TEST(handles_that_are_no_instance_are_refused)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    char err[512] = "";
    gridems_plugin_t *inst =
        load("{\"plugin\": \"test_compat11\", \"name\": \"c1\"}", 0, err, sizeof err);
    ck_assert_int_eq(p->init_rc, 0);
    ck_assert_int_eq(p->bogus_timer_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_option_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_unregister_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->bogus_cancel_rc, GRIDEMS_EINVAL);
    ck_assert_int_eq(p->getter_rc, 0);
    ck_assert_int_eq(p->port, 1883); /* option_int by handle: the default */

    /* From the host's side too: a made-up handle, and the handle of an unloaded instance. */
    const gridems_host_api_t *api = gridems__host_api();
    char fake[128];
    memset(fake, 0x5a, sizeof fake);
    gridems_timer_id_t tid;
    int fired = 0;
    ck_assert_int_eq(
        api->timer_start((gridems_plugin_t *)(void *)fake, 1, 0, noop_timer, &fired, &tid),
        GRIDEMS_EINVAL);
    ck_assert_int_eq(api->timer_stop((gridems_plugin_t *)(void *)fake, 1), GRIDEMS_EINVAL);
    ck_assert_int_eq(api->publish((gridems_plugin_t *)(void *)fake, "a/b", "x", 1, 0, 0),
                     GRIDEMS_EINVAL);
    int64_t v;
    ck_assert_int_eq(api->option_int(inst, "port", &v), 0);
    int unloaded = 0;
    ck_assert_int_eq(gridems__plugin_unload(inst, count_cb, &unloaded), 0);
    wait_for(&unloaded, 1, 5000, "unload");
    ck_assert_int_eq(api->option_int(inst, "port", &v), GRIDEMS_EINVAL); /* stale handle */
    ck_assert_int_eq(api->timer_start_clock(inst, 1, 0, noop_timer, &fired, &tid), GRIDEMS_EINVAL);
    ck_assert_int_eq(fired, 0);
    finish();
    dlclose(so);
}
END_TEST

START_TEST(host_clock_timer)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    char err[512] = "";
    load("{\"plugin\": \"test_compat11\", \"name\": \"c1\"}", 0, err, sizeof err);
    ck_assert_int_eq(p->clock_timer_rc, 0);
    /* Every 15 minutes of site time, at exactly those host-clock instants. */
    run_until(T0_MS + 899999);
    ck_assert_int_eq(p->timer_fires, 0);
    run_until(T0_MS + 2 * 900000);
    ck_assert_int_eq(p->timer_fires, 2);
    ck_assert_int_eq(p->timer_fire_ms[0], T0_MS + 900000);
    ck_assert_int_eq(p->timer_fire_ms[1], T0_MS + 1800000);
    finish();
    dlclose(so);
}
END_TEST

START_TEST(register_and_unregister_from_a_callback)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    rig.watch = p;
    char err[512] = "";
    load("{\"plugin\": \"test_compat11\", \"name\": \"c1\"}", 0, err, sizeof err);
    ck_assert_int_eq(rig.added, 1);
    ck_assert_str_eq(rig.added_names[0], "m1");

    /* Registered from a message callback: announced on the next loop turn, not inside. */
    ck_assert_int_eq(gridems__host_deliver(rig.host, "c11/c1/do", "register", 8, 1, 0), 1);
    ck_assert_int_eq(p->register_rc, 0);
    ck_assert_int_eq(rig.added, 1);
    ck_assert_ptr_null(device("m2"));
    uv_run(&rig.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(rig.added, 2);
    ck_assert_int_eq(rig.added_while_inside, 0);
    ck_assert_ptr_nonnull(device("m2"));

    /* Unregistered: gone for the service at once, destroy() from the loop afterwards. */
    ck_assert_int_eq(gridems__host_deliver(rig.host, "c11/c1/do", "unregister", 10, 1, 0), 1);
    ck_assert_int_eq(p->unregister_rc, 0);
    ck_assert_int_eq(p->unregister_again_rc, GRIDEMS_ENOENT);
    ck_assert_int_eq(p->destroys_at_unregister, 0);
    ck_assert_int_eq(rig.removed, 1);
    ck_assert_ptr_null(device("m2"));
    uv_run(&rig.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(p->destroys, 1);
    ck_assert_ptr_nonnull(device("m1"));

    finish();
    ck_assert_int_eq(p->destroys, 2);
    dlclose(so);
}
END_TEST

START_TEST(cancel_queued_work)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    char err[512] = "";
    load("{\"plugin\": \"test_compat11\", \"name\": \"c1\"}", 0, err, sizeof err);
    /* Four jobs occupy the pool's four threads (UV_THREADPOOL_SIZE, set in main); the fifth
     * waits behind them. */
    ck_assert_int_eq(gridems__host_deliver(rig.host, "c11/c1/do", "block", 5, 1, 0), 1);
    wait_for(&p->blockers_started, 4, 10000, "the blockers to start");
    ck_assert_int_eq(gridems__host_deliver(rig.host, "c11/c1/do", "cancel", 6, 1, 0), 1);
    ck_assert_int_eq(p->cancel_rc, 0);
    ck_assert_int_eq(p->cancel_running_rc, GRIDEMS_EAGAIN);
    ck_assert_int_eq(p->cancel_unknown_rc, GRIDEMS_ENOENT);
    ck_assert_int_eq(p->work_done, 0); /* never inside cancel_work */
    wait_for(&p->work_done, 1, 5000, "the cancelled job's done_fn");
    ck_assert_int_eq(p->victim_status, GRIDEMS_ECANCELED);
    ck_assert_int_eq(gridems__host_deliver(rig.host, "c11/c1/do", "release", 7, 1, 0), 1);
    wait_for(&p->blockers_done, 4, 10000, "the blockers");
    ck_assert_int_eq(p->blockers_status_sum, 0);
    ck_assert_int_eq(p->victim_ran, 0);
    finish();
    dlclose(so);
}
END_TEST

START_TEST(ids_do_not_collide_after_a_wrap)
{
    void *so = NULL;
    compat_probe_t *p = open_probe("compat11", &so);
    char err[512] = "";
    gridems_plugin_t *inst =
        load("{\"plugin\": \"test_compat11\", \"name\": \"c1\"}", 0, err, sizeof err);
    /* Its host-clock timer holds some id; make the counter hand that one out next. */
    gridems_timer_id_t held = 0;
    int fired = 0;
    ck_assert_int_eq(gridems__timer_start(inst, true, 1000, 0, noop_timer, &fired, &held), 0);
    rig.host->next_id = held - 1;
    gridems_timer_id_t next = 0;
    ck_assert_int_eq(gridems__timer_start(inst, true, 2000, 0, noop_timer, &fired, &next), 0);
    ck_assert_uint_ne(next, held);
    /* Stopping the new one leaves the held one running. */
    ck_assert_int_eq(gridems__timer_stop(inst, next), 0);
    /* The wrap itself never yields 0. */
    rig.host->next_id = UINT32_MAX;
    gridems_timer_id_t wrapped = 0;
    ck_assert_int_eq(gridems__timer_start(inst, true, 3000, 0, noop_timer, &fired, &wrapped), 0);
    ck_assert_uint_ne(wrapped, 0);
    ck_assert_uint_ne(wrapped, held);
    run_until(T0_MS + 3000);
    ck_assert_int_eq(fired, 2); /* held and wrapped, not the stopped one */
    ck_assert_int_eq(p->init_rc, 0);
    finish();
    dlclose(so);
}
END_TEST

static Suite *compat_suite(void)
{
    Suite *s = suite_create("abi_compat");
    TCase *tc = tcase_create("compat");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frozen_1_0_plugin_runs);
    tcase_add_test(tc, future_plugin_runs_on_known_members);
    tcase_add_test(tc, init_error_is_printed);
    tcase_add_test(tc, handles_that_are_no_instance_are_refused);
    tcase_add_test(tc, host_clock_timer);
    tcase_add_test(tc, register_and_unregister_from_a_callback);
    tcase_add_test(tc, cancel_queued_work);
    tcase_add_test(tc, ids_do_not_collide_after_a_wrap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* cancel_queued_work fills the pool: its size must be known (libuv's default is 4). */
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    return test_run_suite(compat_suite());
}
