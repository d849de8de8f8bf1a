/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_compat11: the ABI 1.1 additions, driven by the test through MQTT messages on
 * "c11/<instance>/do" (delivered from the loop, never from inside a host call):
 *   init         with option "fail": init_error() then GRIDEMS_ECONFIG (the loader prints the
 *                reason); otherwise registers meter "m1", reads its options through the
 *                handle getters, starts a host-clock timer (timer_start_clock) every
 *                "clock_ms", and tries the 1.1 entries with pointers that are no instance;
 *   "register"   registers meter "m2" (inside_register is 1 during the call: the host must not
 *                announce it to the service from inside);
 *   "unregister" unregisters "m2" (destroy() must come later, from the loop), then again;
 *   "block"      submits 4 jobs that block until "release", then a fifth, the victim;
 *   "cancel"     cancels the victim (queued behind the blockers), a running blocker, an
 *                unknown id;
 *   "release"    lets the blockers finish.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "compat_probe.h"
#include "gridems/plugin.h"

GRIDEMS_PLUGIN_EXPORT compat_probe_t compat_probe;

typedef struct opts_s {
    int64_t port;
    int fail;
    int64_t clock_ms;
} opts_t;

static const gridems_option_t options[] = {
    {GRIDEMS_OPT_INT, "port", "1883", 0, offsetof(opts_t, port), "read through option_int"},
    {GRIDEMS_OPT_BOOL, "fail", "false", 0, offsetof(opts_t, fail), "refuse in init"},
    {GRIDEMS_OPT_INT, "clock_ms", "900000", 0, offsetof(opts_t, clock_ms),
     "period of the host-clock timer"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE();

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER, .name = "test_compat11",
    .version = "1.1",           .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = options,         .context_size = sizeof(opts_t),
};

#define N_BLOCKERS 4

typedef struct state_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    gridems_device_id_t m2;
    gridems_work_id_t blockers[N_BLOCKERS];
    gridems_work_id_t victim;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int released;
} state_t;

static atomic_int started;

static int meter_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    out->u.meter.role = GRIDEMS_METER_OTHER;
    return 0;
}

static void on_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    compat_probe.destroys++;
}

static void on_clock(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)id;
    state_t *st = arg;
    if (compat_probe.timer_fires < 4) {
        compat_probe.timer_fire_ms[compat_probe.timer_fires] = st->api->now_ms(self);
    }
    compat_probe.timer_fires++;
}

static void block_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    state_t *st = arg;
    atomic_fetch_add(&started, 1);
    compat_probe.blockers_started = atomic_load(&started);
    pthread_mutex_lock(&st->lock);
    while (!st->released) {
        pthread_cond_wait(&st->cond, &st->lock);
    }
    pthread_mutex_unlock(&st->lock);
}

static void block_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.blockers_done++;
    compat_probe.blockers_status_sum += status;
}

static void victim_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.victim_ran = 1;
}

static void victim_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.victim_status = status;
    compat_probe.work_done++;
}

static void on_do(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    state_t *st = arg;
    const gridems_host_api_t *api = st->api;
    const char *what = msg->payload;
    compat_probe.messages++;
    if (strcmp(what, "register") == 0) {
        gridems_device_desc_t d = {.struct_size = sizeof d,
                                   .name = "m2",
                                   .klass = GRIDEMS_DEV_METER,
                                   .get_capabilities = meter_caps,
                                   .destroy = on_destroy};
        compat_probe.inside_register = 1;
        compat_probe.register_rc = api->register_device(self, &d, NULL, &st->m2);
        compat_probe.inside_register = 0;
    } else if (strcmp(what, "unregister") == 0) {
        compat_probe.unregister_rc = api->unregister_device(self, st->m2);
        compat_probe.destroys_at_unregister = compat_probe.destroys;
        compat_probe.unregister_again_rc = api->unregister_device(self, st->m2);
    } else if (strcmp(what, "block") == 0) {
        for (int i = 0; i < N_BLOCKERS; i++) {
            api->submit_work(self, block_work, block_done, st, &st->blockers[i]);
        }
        api->submit_work(self, victim_work, victim_done, st, &st->victim);
    } else if (strcmp(what, "cancel") == 0) {
        compat_probe.cancel_rc = api->cancel_work(self, st->victim);
        compat_probe.cancel_running_rc = api->cancel_work(self, st->blockers[0]);
        compat_probe.cancel_unknown_rc = api->cancel_work(self, 0);
    } else if (strcmp(what, "release") == 0) {
        pthread_mutex_lock(&st->lock);
        st->released = 1;
        pthread_cond_broadcast(&st->cond);
        pthread_mutex_unlock(&st->lock);
    }
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    compat_probe.init_calls++;
    const opts_t *o = cfg->context;
    if (o->fail) {
        compat_probe.bogus_init_error_rc =
            api->init_error((gridems_plugin_t *)(void *)&compat_probe, "not me");
        api->init_error(self, "option fail is %s: refusing on purpose (%d)", "true", 42);
        return GRIDEMS_ECONFIG;
    }
    char bogus[64];
    gridems_plugin_t *fake = (gridems_plugin_t *)(void *)bogus;
    gridems_timer_id_t tid = 0;
    int64_t v = 0;
    compat_probe.bogus_timer_rc = api->timer_start_clock(fake, 1, 0, on_clock, NULL, &tid);
    compat_probe.bogus_option_rc = api->option_int(fake, "port", &v);
    compat_probe.bogus_unregister_rc = api->unregister_device(fake, 1);
    compat_probe.bogus_cancel_rc = api->cancel_work(fake, 1);
    compat_probe.getter_rc = api->option_int(self, "port", &compat_probe.port);

    state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return GRIDEMS_ENOMEM;
    }
    *userdata = st;
    st->self = self;
    st->api = api;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    gridems_device_desc_t d = {.struct_size = sizeof d,
                               .name = "m1",
                               .klass = GRIDEMS_DEV_METER,
                               .get_capabilities = meter_caps,
                               .destroy = on_destroy};
    gridems_device_id_t id;
    int rc = api->register_device(self, &d, NULL, &id);
    char filter[128];
    strcpy(filter, "c11/");
    strncat(filter, cfg->instance, 64);
    strcat(filter, "/do");
    rc = rc == 0 ? api->subscribe(self, filter, on_do, st) : rc;
    compat_probe.clock_timer_rc = api->timer_start_clock(self, (uint64_t)o->clock_ms,
                                                         (uint64_t)o->clock_ms, on_clock, st, &tid);
    rc = rc == 0 ? compat_probe.clock_timer_rc : rc;
    compat_probe.init_rc = rc;
    return rc;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    state_t *st = userdata;
    compat_probe.cleanups++;
    if (st != NULL) {
        pthread_mutex_destroy(&st->lock);
        pthread_cond_destroy(&st->cond);
        free(st);
    }
}
