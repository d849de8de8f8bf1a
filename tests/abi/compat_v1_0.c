/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_compat10: a plugin built against the frozen ABI 1.0 header (tests/abi/frozen/1.0, the
 * header as 1.0 last shipped, before anything was appended), run by a 1.1 host. It uses every
 * struct and array of 1.0 in its 1.0 layout: the info and option table, the config getters and
 * context, a battery and a flexible device registered with descriptors and readings allocated at
 * exactly their 1.0 size (so that in the sanitizer build any read past them is caught), a flex
 * job array of 1.0 elements, set-points with jobs, events, messages, a timer and work. It also
 * hands the host pointers that are not live instances, which a 1.1 host must refuse with
 * GRIDEMS_EINVAL instead of crashing.
 */
#include <stdlib.h>
#include <string.h>

#include "compat_probe.h"
#include "gridems/plugin.h"

#if GRIDEMS_PLUGIN_ABI_MINOR != 0
#error "compat_v1_0.c must be built against the frozen 1.0 header"
#endif

GRIDEMS_PLUGIN_EXPORT compat_probe_t compat_probe;

typedef struct opts_s {
    int64_t port;
    double gain;
    int flag;
    const char *label;
} opts_t;

static const gridems_option_t options[] = {
    {GRIDEMS_OPT_INT, "port", NULL, 1, offsetof(opts_t, port), "required"},
    {GRIDEMS_OPT_DOUBLE, "gain", "2.5", 0, offsetof(opts_t, gain), "defaulted"},
    {GRIDEMS_OPT_BOOL, "flag", "true", 0, offsetof(opts_t, flag), "defaulted"},
    {GRIDEMS_OPT_STRING, "label", "unit", 0, offsetof(opts_t, label), "defaulted"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_compat10",
    .version = "1.0",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY) | GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
    .options = options,
    .context_size = sizeof(opts_t),
};

typedef struct state_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    gridems_device_id_t battery, flex;
    gridems_flex_job_t *jobs; /* exactly 3 1.0 elements */
} state_t;

static char bogus[256]; /* a pointer that is no instance and no config of the host */

static void on_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.work_runs++;
}

static void on_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.work_done++;
    compat_probe.work_status = status;
}

static void on_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)id;
    state_t *st = arg;
    if (compat_probe.timer_fires < 4) {
        compat_probe.timer_fire_ms[compat_probe.timer_fires] = st->api->now_ms(self);
    }
    compat_probe.timer_fires++;
    st->api->queue_work(self, on_work, on_done, NULL);
}

static void on_message(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.messages++;
    compat_probe.message_size = msg->struct_size;
    size_t n = msg->len < sizeof compat_probe.last_payload - 1
                   ? msg->len
                   : sizeof compat_probe.last_payload - 1;
    memcpy(compat_probe.last_payload, msg->payload, n);
    compat_probe.last_payload[n] = '\0';
}

static int battery_read(gridems_device_id_t dev, void *userdata)
{
    state_t *st = userdata;
    compat_probe.reads++;
    gridems_measurement_t *m = malloc(sizeof *m); /* exactly the 1.0 size */
    if (m == NULL) {
        return GRIDEMS_ENOMEM;
    }
    memset(m, 0, sizeof *m);
    m->struct_size = sizeof *m;
    m->device = dev;
    m->valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC;
    m->power_kw = -12.5;
    m->soc_kwh = 40;
    compat_probe.post_rc = st->api->post_measurement(st->self, m);
    free(m);
    return 0;
}

static int battery_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    compat_probe.caps_size = out->struct_size;
    out->u.battery.capacity_kwh = 100;
    out->u.battery.soc_kwh = 40;
    out->u.battery.charge_max_kw = 50;
    out->u.battery.discharge_max_kw = 60;
    return 0;
}

static int battery_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    compat_probe.setpoints++;
    compat_probe.setpoint_size = sp->struct_size;
    compat_probe.sp_power_kw = sp->power_kw;
    return 0;
}

static int flex_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    state_t *st = userdata;
    out->u.flex.jobs = st->jobs;
    out->u.flex.n_jobs = 3;
    out->u.flex.power_cap_kw = 300;
    return 0;
}

static int flex_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    compat_probe.setpoints++;
    compat_probe.setpoint_size = sp->struct_size;
    compat_probe.sp_jobs = (int)sp->n_jobs;
    for (uint32_t i = 0; i < sp->n_jobs && i < COMPAT_MAX_JOBS; i++) {
        /* A 1.0 plugin steps by its own sizeof: the host must hand 1.0-sized elements. */
        strncpy(compat_probe.sp_job_ids[i], sp->jobs[i].job_id,
                sizeof compat_probe.sp_job_ids[i] - 1);
        compat_probe.sp_job_kw[i] = sp->jobs[i].power_kw;
    }
    return 0;
}

static int on_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    (void)userdata;
    compat_probe.events++;
    compat_probe.event_size = ev->struct_size;
    compat_probe.last_event_type = ev->type;
    return 0;
}

static void on_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    compat_probe.destroys++;
}

/* register_device with a descriptor allocated at exactly its 1.0 size. */
static int register_exact(state_t *st, const gridems_device_desc_t *desc, gridems_device_id_t *id)
{
    gridems_device_desc_t *d = malloc(sizeof *d);
    if (d == NULL) {
        return GRIDEMS_ENOMEM;
    }
    memcpy(d, desc, sizeof *d);
    int rc = st->api->register_device(st->self, d, st, id);
    free(d);
    return rc;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    compat_probe.init_calls++;
    compat_probe.sizeof_info = sizeof(gridems_plugin_info_t);
    compat_probe.sizeof_option = sizeof(gridems_option_t);
    compat_probe.sizeof_desc = sizeof(gridems_device_desc_t);
    compat_probe.sizeof_measurement = sizeof(gridems_measurement_t);
    compat_probe.sizeof_flex_job = sizeof(gridems_flex_job_t);
    compat_probe.sizeof_setpoint = sizeof(gridems_setpoint_t);
    compat_probe.sizeof_job_setpoint = sizeof(gridems_job_setpoint_t);
    compat_probe.sizeof_event = sizeof(gridems_device_event_t);
    compat_probe.sizeof_message = sizeof(gridems_message_t);
    compat_probe.sizeof_caps = sizeof(gridems_caps_t);
    compat_probe.sizeof_config = sizeof(struct gridems_config_s);
    compat_probe.sizeof_api = sizeof(gridems_host_api_t);
    compat_probe.api_size = api->struct_size;
    compat_probe.config_size = cfg->struct_size;

    const opts_t *o = cfg->context;
    compat_probe.ctx_port = o->port;
    compat_probe.ctx_gain = o->gain;
    compat_probe.ctx_flag = o->flag;
    strncpy(compat_probe.ctx_label, o->label, sizeof compat_probe.ctx_label - 1);
    const char *label = NULL;
    compat_probe.getter_rc = api->config_get_int(cfg, "port", &compat_probe.port) |
                             api->config_get_double(cfg, "gain", &compat_probe.gain) |
                             api->config_get_bool(cfg, "flag", &compat_probe.flag) |
                             api->config_get_string(cfg, "label", &label);
    if (label != NULL) {
        strncpy(compat_probe.label, label, sizeof compat_probe.label - 1);
    }

    /* Pointers that are no live instance or config: a 1.1 host refuses them. */
    gridems_timer_id_t tid = 0;
    int64_t v = 0;
    gridems_device_id_t did = 0;
    compat_probe.bogus_timer_rc =
        api->timer_start((gridems_plugin_t *)(void *)bogus, 1, 0, on_timer, NULL, &tid);
    compat_probe.null_timer_rc = api->timer_start(NULL, 1, 0, on_timer, NULL, &tid);
    compat_probe.bogus_cfg_rc =
        api->config_get_int((const gridems_config_t *)(const void *)bogus, "port", &v);
    gridems_device_desc_t bd = {.struct_size = sizeof bd,
                                .name = "bogus",
                                .klass = GRIDEMS_DEV_BATTERY,
                                .get_capabilities = battery_caps};
    compat_probe.bogus_register_rc =
        api->register_device((gridems_plugin_t *)(void *)bogus, &bd, NULL, &did);
    gridems_measurement_t bm = {.struct_size = sizeof bm};
    compat_probe.bogus_post_rc = api->post_measurement((gridems_plugin_t *)(void *)bogus, &bm);
    api->log((gridems_plugin_t *)(void *)bogus, GRIDEMS_PLUGIN_LOG_DEBUG,
             "log with a bogus handle");

    state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return GRIDEMS_ENOMEM;
    }
    *userdata = st;
    st->self = self;
    st->api = api;
    st->jobs = calloc(3, sizeof *st->jobs);
    if (st->jobs == NULL) {
        return GRIDEMS_ENOMEM;
    }
    static const char *const ids[] = {"j-a", "j-b", "j-c"};
    for (int i = 0; i < 3; i++) {
        st->jobs[i].id = ids[i];
        st->jobs[i].energy_remaining_kwh = 10.0 * (i + 1);
        st->jobs[i].power_max_kw = 100.0 + i;
        st->jobs[i].earliest_ms = 1000;
        st->jobs[i].deadline_ms = 2000 + i;
    }
    gridems_device_desc_t bat = {.struct_size = sizeof bat,
                                 .name = cfg->instance,
                                 .klass = GRIDEMS_DEV_BATTERY,
                                 .read = battery_read,
                                 .get_capabilities = battery_caps,
                                 .apply_setpoint = battery_setpoint,
                                 .on_event = on_event,
                                 .destroy = on_destroy};
    gridems_device_desc_t flex = {.struct_size = sizeof flex,
                                  .name = "jobs",
                                  .klass = GRIDEMS_DEV_FLEX_LOAD,
                                  .get_capabilities = flex_caps,
                                  .apply_setpoint = flex_setpoint,
                                  .on_event = on_event,
                                  .destroy = on_destroy};
    int rc = register_exact(st, &bat, &st->battery);
    if (rc == 0) {
        rc = register_exact(st, &flex, &st->flex);
    }
    if (rc == 0) {
        rc = api->subscribe(self, "compat/+/cmd", on_message, NULL);
    }
    if (rc == 0) {
        rc = api->timer_start(self, 5000, 0, on_timer, st, &tid);
    }
    compat_probe.init_rc = rc;
    return rc;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    state_t *st = userdata;
    compat_probe.cleanups++;
    if (st != NULL) {
        free(st->jobs);
        free(st);
    }
}
