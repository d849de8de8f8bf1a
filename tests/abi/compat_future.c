/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_compat_future: a plugin from a later 1.x minor than the host, simulated: every struct and
 * array it hands over is larger than the host's (members appended beyond what the host knows,
 * filled with garbage that must never be read), and it checks the sizes of what the host hands
 * it before reading, as the header asks. The host must load and run it reading only the members
 * it knows:
 *   - gridems_plugin_info (exported larger, abi_minor 9) and the option table (option_size
 *     larger, garbage in every entry's tail);
 *   - device descriptors and measurements with a larger struct_size (a descriptor's tail holds a
 *     callback that must never be called);
 *   - flex job arrays with larger elements: one device relies on gridems_plugin_info's
 *     flex_job_size, the other sets job_size explicitly to yet another size;
 *   - from the host: the API table, config, caps, set-points (jobs stepped by job_size),
 *     events and messages, each checked with struct_size before a member is read.
 */
#include <stdlib.h>
#include <string.h>

#include "compat_probe.h"
#include "gridems/plugin.h"

#define GARBAGE UINT64_C(0xa5a5a5a5a5a5a5a5)

GRIDEMS_PLUGIN_EXPORT compat_probe_t compat_probe;

/* The "future" layouts: today's structs with members appended. */
typedef struct future_option_s {
    gridems_option_t o;
    uint64_t extra[2];
} future_option_t;
typedef struct future_info_s {
    gridems_plugin_info_t i;
    uint64_t extra[3];
} future_info_t;
typedef struct future_desc_s {
    gridems_device_desc_t d;
    gridems_device_read_fn poison; /* a member the host does not know: never called */
    uint64_t extra;
} future_desc_t;
typedef struct future_measurement_s {
    gridems_measurement_t m;
    double extra[2];
} future_measurement_t;
typedef struct future_job_s {
    gridems_flex_job_t j;
    uint64_t extra[3];
} future_job_t;
typedef struct future_job2_s {
    gridems_flex_job_t j;
    double extra[5];
} future_job2_t;
/* What the future plugin would read from the host, had the host grown these. */
typedef struct future_setpoint_s {
    gridems_setpoint_t s;
    double extra;
} future_setpoint_t;
typedef struct future_event_s {
    gridems_device_event_t e;
    double extra;
} future_event_t;
typedef struct future_message_s {
    gridems_message_t m;
    double extra;
} future_message_t;
typedef struct future_config_s {
    struct gridems_config_s c;
    void *extra;
} future_config_t;
typedef struct future_api_s {
    gridems_host_api_t a;
    void (*extra)(void);
} future_api_t;

#define HAS_BEYOND(ptr, future_type) ((size_t)(ptr)->struct_size >= sizeof(future_type))

typedef struct opts_s {
    int64_t port;
    double gain;
    int flag;
    const char *label;
} opts_t;

#define OPT(type, key, def, req, field)                                                            \
    {                                                                                              \
        {type, key, def, req, offsetof(opts_t, field), "future"},                                  \
        {                                                                                          \
            GARBAGE, GARBAGE                                                                       \
        }                                                                                          \
    }
static const future_option_t options[] = {OPT(GRIDEMS_OPT_INT, "port", NULL, 1, port),
                                          OPT(GRIDEMS_OPT_DOUBLE, "gain", "2.5", 0, gain),
                                          OPT(GRIDEMS_OPT_BOOL, "flag", "true", 0, flag),
                                          OPT(GRIDEMS_OPT_STRING, "label", "unit", 0, label),
                                          {GRIDEMS_OPTION_END, {GARBAGE, GARBAGE}}};

GRIDEMS_PLUGIN_DECLARE();

/* Exported under the name the host looks up, with the larger layout. */
GRIDEMS_PLUGIN_EXPORT const future_info_t future_info __asm__("gridems_plugin_info") = {
    .i =
        {
            .struct_size = sizeof(future_info_t),
            .abi_major = GRIDEMS_PLUGIN_ABI_MAJOR,
            .abi_minor = 9,
            .option_size = sizeof(future_option_t),
            .name = "test_compat_future",
            .version = "1.9",
            .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY) |
                       GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
            .options = &options[0].o,
            .context_size = sizeof(opts_t),
            .flex_job_size = sizeof(future_job_t),
        },
    .extra = {GARBAGE, GARBAGE, GARBAGE},
};

typedef struct state_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    future_job_t jobs[3];
    future_job2_t jobs2[2];
} state_t;

static int poison_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    compat_probe.knows_beyond += 1000; /* the host called a member it cannot know */
    return 0;
}

static int battery_read(gridems_device_id_t dev, void *userdata)
{
    state_t *st = userdata;
    compat_probe.reads++;
    future_measurement_t *m = malloc(sizeof *m);
    if (m == NULL) {
        return GRIDEMS_ENOMEM;
    }
    memset(m, 0xa5, sizeof *m);
    m->m.struct_size = sizeof *m;
    m->m.device = dev;
    m->m.timestamp_ms = 0;
    m->m.valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC;
    m->m.power_kw = 7.25;
    m->m.soc_kwh = 55;
    m->m.energy_kwh = 0;
    compat_probe.post_rc = st->api->post_measurement(st->self, &m->m);
    free(m);
    return 0;
}

static int battery_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    compat_probe.caps_size = out->struct_size;
    out->u.battery.capacity_kwh = 200;
    out->u.battery.soc_kwh = 55;
    out->u.battery.charge_max_kw = 80;
    out->u.battery.discharge_max_kw = 90;
    return 0;
}

static int flex_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    state_t *st = userdata;
    out->u.flex.jobs = &st->jobs[0].j;
    out->u.flex.n_jobs = 3;
    out->u.flex.power_cap_kw = 400;
    /* job_size left 0: gridems_plugin_info.flex_job_size says sizeof(future_job_t). */
    return 0;
}

static int flex2_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    state_t *st = userdata;
    out->u.flex.jobs = &st->jobs2[0].j;
    out->u.flex.n_jobs = 2;
    out->u.flex.power_cap_kw = -1;
    out->u.flex.job_size = sizeof(future_job2_t);
    return 0;
}

static int on_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    compat_probe.setpoints++;
    compat_probe.setpoint_size = sp->struct_size;
    compat_probe.knows_beyond += HAS_BEYOND(sp, future_setpoint_t);
    compat_probe.setpoint_job_size =
        GRIDEMS_STRUCT_HAS(sp, gridems_setpoint_t, job_size) ? sp->job_size : 0;
    compat_probe.sp_power_kw = sp->power_kw;
    compat_probe.sp_jobs = (int)sp->n_jobs;
    for (uint32_t i = 0; i < sp->n_jobs && i < COMPAT_MAX_JOBS; i++) {
        const gridems_job_setpoint_t *j = GRIDEMS_SETPOINT_JOB(sp, i);
        strncpy(compat_probe.sp_job_ids[i], j->job_id, sizeof compat_probe.sp_job_ids[i] - 1);
        compat_probe.sp_job_kw[i] = j->power_kw;
    }
    return 0;
}

static int on_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    (void)userdata;
    compat_probe.events++;
    compat_probe.event_size = ev->struct_size;
    compat_probe.knows_beyond += HAS_BEYOND(ev, future_event_t);
    compat_probe.last_event_type = ev->type;
    return 0;
}

static void on_message(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    (void)arg;
    compat_probe.messages++;
    compat_probe.message_size = msg->struct_size;
    compat_probe.knows_beyond += HAS_BEYOND(msg, future_message_t);
    size_t n = msg->len < sizeof compat_probe.last_payload - 1
                   ? msg->len
                   : sizeof compat_probe.last_payload - 1;
    memcpy(compat_probe.last_payload, msg->payload, n);
    compat_probe.last_payload[n] = '\0';
}

static void on_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    compat_probe.destroys++;
}

static int register_future(state_t *st, const gridems_device_desc_t *base)
{
    future_desc_t *d = malloc(sizeof *d);
    if (d == NULL) {
        return GRIDEMS_ENOMEM;
    }
    memset(d, 0xa5, sizeof *d);
    d->d = *base;
    d->d.struct_size = sizeof *d;
    d->poison = poison_read;
    gridems_device_id_t id;
    int rc = st->api->register_device(st->self, &d->d, st, &id);
    free(d);
    return rc;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    compat_probe.init_calls++;
    compat_probe.api_size = api->struct_size;
    compat_probe.config_size = cfg->struct_size;
    compat_probe.knows_beyond += HAS_BEYOND(api, future_api_t) + HAS_BEYOND(cfg, future_config_t);
    const opts_t *o = cfg->context;
    compat_probe.ctx_port = o->port;
    compat_probe.ctx_gain = o->gain;
    compat_probe.ctx_flag = o->flag;
    strncpy(compat_probe.ctx_label, o->label, sizeof compat_probe.ctx_label - 1);
    const char *label = NULL;
    if (GRIDEMS_API_HAS(api, option_int)) {
        compat_probe.getter_rc = api->option_int(self, "port", &compat_probe.port) |
                                 api->option_double(self, "gain", &compat_probe.gain) |
                                 api->option_bool(self, "flag", &compat_probe.flag) |
                                 api->option_string(self, "label", &label);
    }
    if (label != NULL) {
        strncpy(compat_probe.label, label, sizeof compat_probe.label - 1);
    }

    state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return GRIDEMS_ENOMEM;
    }
    *userdata = st;
    st->self = self;
    st->api = api;
    memset(st->jobs, 0xa5, sizeof st->jobs);
    memset(st->jobs2, 0xa5, sizeof st->jobs2);
    static const char *const ids[] = {"f-a", "f-b", "f-c"};
    for (int i = 0; i < 3; i++) {
        st->jobs[i].j = (gridems_flex_job_t){ids[i], 5.0 * (i + 1), 0, 50.0 + i, 1000, 3000 + i};
    }
    static const char *const ids2[] = {"g-a", "g-b"};
    for (int i = 0; i < 2; i++) {
        st->jobs2[i].j = (gridems_flex_job_t){ids2[i], 1.0 + i, 0.5, 20.0 + i, 1000, 4000 + i};
    }
    gridems_device_desc_t bat = {.name = cfg->instance,
                                 .klass = GRIDEMS_DEV_BATTERY,
                                 .read = battery_read,
                                 .get_capabilities = battery_caps,
                                 .apply_setpoint = on_setpoint,
                                 .on_event = on_event,
                                 .destroy = on_destroy};
    gridems_device_desc_t flex = {.name = "jobs",
                                  .klass = GRIDEMS_DEV_FLEX_LOAD,
                                  .get_capabilities = flex_caps,
                                  .apply_setpoint = on_setpoint,
                                  .destroy = on_destroy};
    gridems_device_desc_t flex2 = {.name = "jobs2",
                                   .klass = GRIDEMS_DEV_FLEX_LOAD,
                                   .get_capabilities = flex2_caps,
                                   .destroy = on_destroy};
    int rc = register_future(st, &bat);
    rc = rc == 0 ? register_future(st, &flex) : rc;
    rc = rc == 0 ? register_future(st, &flex2) : rc;
    rc = rc == 0 ? api->subscribe(self, "compat/+/cmd", on_message, NULL) : rc;
    compat_probe.init_rc = rc;
    return rc;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    compat_probe.cleanups++;
    free(userdata);
}
