/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * read_interval_ms is honoured on the service clock (gridems/plugin.h, gridems_device_desc_t):
 * the service's device side (service_devices.c) over the real loader and host, on a stepped
 * clock as in `gridems backtest`, with the tiny plugin tests/abi/abi_events.c counting its
 * read() calls. Nothing else of the service runs: the plugin posts no readings (option "post"),
 * so no re-plan is asked for.
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
#include "gridems/errors.h"
#include "plugin_loader.h"
#include "service_internal.h"

#define T0_MS 1683471600000LL /* 2023-05-08T00:00:00+09:00 */

typedef struct rig_s {
    gridems_service_t *svc;
    void *so;   /* our own handle on the plugin, so that the counter outlives the host's */
    int *reads; /* test_events_reads */
    bool unloaded;
} rig_t;

static void rig_start(rig_t *r)
{
    memset(r, 0, sizeof *r);
    char path[1024];
    snprintf(path, sizeof path, "%s/gridems_test_events.so", GRIDEMS_TEST_PLUGIN_DIR);
    r->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(r->so != NULL, "%s: %s (build gridems_test_events)", path, dlerror());
    r->reads = dlsym(r->so, "test_events_reads");
    ck_assert_ptr_nonnull(r->reads);
    *r->reads = 0;
    gridems_service_t *svc = calloc(1, sizeof *svc);
    ck_assert_ptr_nonnull(svc);
    r->svc = svc;
    ck_assert_int_eq(uv_loop_init(&svc->loop), 0);
    ck_assert_int_eq(gridems_clock_init(&svc->clock, GRIDEMS_CLOCK_STEPPED, T0_MS, 1.0), 0);
    gridems_timers_init(&svc->timers, &svc->loop, &svc->clock);
    gridems__host_services_t services;
    gridems__service_host_services(svc, &services);
    ck_assert_int_eq(gridems__host_create(&svc->loop, &services, &svc->host), 0);
    svc->host_ready = true;
}

static void rig_load(rig_t *r, const char *name, int interval_ms)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"plugin\": \"test_events\", \"name\": \"%s\", \"options\": "
             "{\"read_interval_ms\": %d, \"post\": false}}",
             name, interval_ms);
    cJSON *inst = cJSON_Parse(text);
    ck_assert_ptr_nonnull(inst);
    gridems_plugin_t *p = NULL;
    char err[512] = "";
    int rc = gridems__plugin_load(r->svc->host, inst, GRIDEMS_TEST_PLUGIN_DIR, &p, err, sizeof err);
    cJSON_Delete(inst);
    ck_assert_msg(rc == 0, "load %s: %s", name, err);
}

/* Step the clock from timer to timer up to `until` (host clock), as the lockstep does. */
static void rig_run_until(rig_t *r, int64_t until)
{
    gridems_service_t *svc = r->svc;
    for (;;) {
        int64_t due = gridems_timers_next_due(&svc->timers);
        if (due > until) {
            break;
        }
        if (due > gridems_clock_now_ms(&svc->clock)) {
            ck_assert_int_eq(gridems_clock_step_to(&svc->clock, due), 0);
        }
        gridems_timers_fire_due(&svc->timers, due);
        uv_run(&svc->loop, UV_RUN_NOWAIT);
    }
    if (until > gridems_clock_now_ms(&svc->clock)) {
        ck_assert_int_eq(gridems_clock_step_to(&svc->clock, until), 0);
    }
}

static void on_unloaded(void *arg)
{
    ((rig_t *)arg)->unloaded = true;
}

static void rig_stop(rig_t *r)
{
    gridems_service_t *svc = r->svc;
    ck_assert_int_eq(gridems__host_unload_all(svc->host, on_unloaded, r), 0);
    while (!r->unloaded) {
        uv_run(&svc->loop, UV_RUN_ONCE);
    }
    svc->host_ready = false;
    ck_assert_int_eq(gridems__host_destroy(svc->host), 0);
    uv_run(&svc->loop, UV_RUN_DEFAULT); /* the device timers' close callbacks */
    ck_assert_int_eq(uv_loop_close(&svc->loop), 0);
    free(svc);
    dlclose(r->so);
}

START_TEST(test_polled_at_interval)
{
    rig_t r;
    rig_start(&r);
    rig_load(&r, "fast", 5000);
    /* The first read right after the device is added, not 5 s (or a control tick) later. */
    ck_assert_int_eq(*r.reads, 1);
    rig_run_until(&r, T0_MS + 60000);
    /* Then every 5 s of host-clock time: at 5, 10, ..., 60 s. */
    ck_assert_int_eq(*r.reads, 1 + 12);
    rig_run_until(&r, T0_MS + 62000);
    ck_assert_int_eq(*r.reads, 13);
    rig_stop(&r);
}
END_TEST

START_TEST(test_default_and_long_intervals_use_the_tick)
{
    rig_t r;
    rig_start(&r);
    rig_load(&r, "dflt", 0);
    rig_load(&r, "slow", 120000);  /* longer than the tick: read on the tick (none runs here) */
    ck_assert_int_eq(*r.reads, 2); /* each read once as it is added */
    ck_assert(gridems_timers_next_due(&r.svc->timers) == INT64_MAX); /* no timer of their own */
    rig_run_until(&r, T0_MS + 300000);
    ck_assert_int_eq(*r.reads, 2);
    rig_stop(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("read_interval");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_polled_at_interval);
    tcase_add_test(tc, test_default_and_long_intervals_use_the_tick);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
