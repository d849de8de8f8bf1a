/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * meter_sunspec: a meter that speaks SunSpec over Modbus TCP, models 201..204 (single-phase,
 * split-phase, wye and delta three-phase; integer + scale factor). It reads W, TotWhImp and
 * TotWhExp in one request (with their scale factors) every poll_ms, through api->queue_work,
 * and posts power and the energy register in the direction of positive power.
 *
 * Sign convention: SunSpec meter W is positive for power imported through the meter. For a
 * `site` meter that is gridems' convention (positive = import); for `load`, positive is
 * consumption, which is what a load's meter imports. A meter mounted the other way round (or a
 * PV meter, whose production the meter sees as export) sets invert: true, which flips W and
 * swaps the two energy registers. docs/devices.md has the details.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "sunspec_decode.h"
#include "sunspec_link.h"
#include "sunspec_poll.h"
#include "sunspec_regs.h"

typedef struct meter_opts_s {
    ss_common_opts_t common; /* first: ss_init_check reads it from the context */
    const char *role;
    int invert;
} meter_opts_t;
_Static_assert(offsetof(meter_opts_t, common) == 0, "ss_init_check reads the common options");

static const gridems_option_t meter_options[] = {
    SS_COMMON_OPTIONS(meter_opts_t),
    {GRIDEMS_OPT_STRING, "role", "site", 0, offsetof(meter_opts_t, role),
     "site (grid connection), load, pv or other"},
    {GRIDEMS_OPT_BOOL, "invert", "false", 0, offsetof(meter_opts_t, invert),
     "flip the sign of W and swap TotWhImp/TotWhExp (a meter mounted the other way, a PV meter)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "meter_sunspec",
    .version = "1.0",
    .description = "SunSpec meter (201..204) over Modbus TCP",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = meter_options,
    .context_size = sizeof(meter_opts_t),
};

typedef struct meter_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const meter_opts_t *opts;
    int32_t role;
    gridems_device_id_t dev;
    gridems_timer_id_t timer;
    ss_link_t link; /* the job's while busy */
    int busy;
    uint16_t model; /* chosen at discovery */
    ss_health_t health;
    int have;
    ss_meter_t m;
} meter_t;

typedef struct job_s {
    meter_t *mt;
    int rc;
    int discovered_now;
    char err[320];
    ss_meter_t m;
    uint16_t img[SS_MODEL_READ_MAX];
    size_t n;
} job_t;

static void job_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    job_t *j = arg;
    meter_t *mt = j->mt;
    j->rc = -1;
    if (ss_link_ensure(&mt->link, &j->discovered_now, j->err, sizeof j->err) < 0) {
        return;
    }
    if (j->discovered_now) {
        mt->model = 0;
        for (uint16_t id = 201; id <= 204 && mt->model == 0; id++) {
            if (ss_chain_find(&mt->link.chain, id) != NULL) {
                mt->model = id;
            }
        }
        if (mt->model == 0) {
            char models[SS_CHAIN_MAX * 6];
            ss_chain_describe(&mt->link.chain, models, sizeof models);
            snprintf(j->err, sizeof j->err,
                     "no supported meter model (201..204) among the models found: %.200s", models);
            ss_link_close(&mt->link);
            return;
        }
    }
    if (ss_link_read_model(&mt->link, mt->model, SS20X_READ_LEN, j->img, &j->n, j->err,
                           sizeof j->err) < 0) {
        ss_link_close(&mt->link);
        return;
    }
    ss_block_t b = {j->img, j->n};
    if (ss_decode_meter(&b, &j->m, j->err, sizeof j->err) < 0) {
        ss_link_close(&mt->link);
        return;
    }
    j->rc = 0;
}

static void job_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    job_t *j = arg;
    meter_t *mt = j->mt;
    mt->busy = 0;
    if (status == GRIDEMS_ECANCELED) {
        free(j);
        return;
    }
    int64_t now = mt->api->now_ms(mt->self);
    if (j->rc < 0) {
        ss_health_fail(&mt->health, mt->api, mt->self, &mt->opts->common, now, j->err);
        (void)ss_health_stale(&mt->health, mt->api, mt->self, &mt->opts->common, now);
        free(j);
        return;
    }
    if (j->discovered_now) {
        char used[32];
        snprintf(used, sizeof used, "%u (meter)", (unsigned)mt->model);
        ss_log_discovery(mt->api, mt->self, &mt->link, used);
    }
    ss_health_ok(&mt->health, mt->api, mt->self, now);
    ss_meter_t m = j->m;
    if (mt->opts->invert) {
        m.power_kw = -m.power_kw;
        double t = m.import_kwh;
        m.import_kwh = m.export_kwh;
        m.export_kwh = t;
        unsigned h = 0;
        h |= (m.has & SS_HAS_IMPORT) ? SS_HAS_EXPORT : 0;
        h |= (m.has & SS_HAS_EXPORT) ? SS_HAS_IMPORT : 0;
        m.has = h;
    }
    mt->m = m;
    mt->have = 1;
    gridems_measurement_t meas = {
        .struct_size = sizeof meas,
        .device = mt->dev,
        .timestamp_ms = now,
        .valid = GRIDEMS_MEAS_POWER | ((m.has & SS_HAS_IMPORT) ? GRIDEMS_MEAS_ENERGY : 0),
        .power_kw = m.power_kw,
        .energy_kwh = m.import_kwh,
    };
    int rc = mt->api->post_measurement(mt->self, &meas);
    if (rc < 0) {
        mt->api->log(mt->self, GRIDEMS_PLUGIN_LOG_DEBUG, "post_measurement: error %d", rc);
    }
    free(j);
}

static void on_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    meter_t *mt = arg;
    if (mt->busy || !ss_health_may_try(&mt->health)) {
        return;
    }
    job_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        return;
    }
    j->mt = mt;
    if (mt->api->queue_work(mt->self, job_work, job_done, j) < 0) {
        free(j);
        return;
    }
    mt->busy = 1;
}

static int dev_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    meter_t *mt = userdata;
    if (!mt->have) {
        return GRIDEMS_EAGAIN;
    }
    out->stale_after_ms = (uint32_t)mt->opts->common.stale_after_ms;
    out->measured_ms = mt->health.ok_host_ms;
    out->u.meter.role = mt->role;
    return 0;
}

static void dev_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    meter_t *mt = userdata;
    ss_link_close(&mt->link);
    free(mt);
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    int rc = ss_init_check(api, self, cfg);
    if (rc < 0) {
        return rc;
    }
    const meter_opts_t *o = cfg->context;
    static const struct {
        const char *name;
        int32_t role;
    } roles[] = {{"site", GRIDEMS_METER_SITE},
                 {"load", GRIDEMS_METER_LOAD},
                 {"pv", GRIDEMS_METER_PV},
                 {"other", GRIDEMS_METER_OTHER}};
    int32_t role = 0;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(o->role, roles[i].name) == 0) {
            role = roles[i].role;
        }
    }
    if (role == 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"role\" must be site, load, pv or other (got \"%s\")", o->role);
        return GRIDEMS_ECONFIG;
    }
    meter_t *mt = calloc(1, sizeof *mt);
    if (mt == NULL) {
        return GRIDEMS_ENOMEM;
    }
    mt->self = self;
    mt->api = api;
    mt->opts = o;
    mt->role = role;
    ss_link_setup(&mt->link, &o->common);
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .klass = GRIDEMS_DEV_METER,
        .options = meter_options,
        .get_capabilities = dev_caps,
        .destroy = dev_destroy,
    };
    rc = ss_register_polled(api, self, &o->common, &desc, mt, &mt->dev, on_timer, &mt->timer);
    if (rc < 0) {
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "SunSpec meter (%s) at %s:%" PRId64 " unit %" PRId64 ", polled every %" PRId64 " ms",
             o->role, o->common.host, o->common.port, o->common.unit_id, o->common.poll_ms);
    return 0;
}
