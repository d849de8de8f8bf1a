/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_rogue: a battery plugin that misbehaves on request, for the service's reliability tests
 * (tests/integration/test_reliability.c), loaded as a real shared object through the real loader:
 *   - block_read_ms > 0: every read() blocks that long (nanosleep), after logging
 *     "read #<n> blocking <ms> ms" so a test can act while it blocks; with block_reads > 0, only
 *     the first block_reads reads do (then it recovers);
 *   - timer_interval_ms > 0: a timer of its own fires that often and logs "timer #<n>" each
 *     time; with block_timer_ms > 0 the callback then blocks that long (the first block_timers
 *     calls only, when block_timers > 0), as a vendor plugin polling synchronously would;
 *   - power_kw: the power every read posts (e.g. -1e12: a reading no site can draw);
 *   - capacity_kwh: the capacity get_capabilities reports;
 *   - device: false registers no device at all (an instance with only a timer of its own);
 *   - ts_ahead_ms: every read's measurement is stamped this far ahead of the host clock.
 * Otherwise it is a plain 100 kW battery holding half its capacity, with set-points accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridems/plugin.h"

typedef struct rogue_opts_s {
    int64_t block_read_ms;
    int64_t block_reads;
    int64_t read_interval_ms;
    int64_t timer_interval_ms;
    int64_t block_timer_ms;
    int64_t block_timers;
    double power_kw;
    double capacity_kwh;
    int device;
    int64_t ts_ahead_ms;
} rogue_opts_t;

static const gridems_option_t rogue_options[] = {
    {GRIDEMS_OPT_INT, "block_read_ms", "0", 0, offsetof(rogue_opts_t, block_read_ms),
     "every read() blocks this long"},
    {GRIDEMS_OPT_INT, "block_reads", "0", 0, offsetof(rogue_opts_t, block_reads),
     "only the first this many reads block (0: all)"},
    {GRIDEMS_OPT_INT, "read_interval_ms", "0", 0, offsetof(rogue_opts_t, read_interval_ms),
     "the device's read_interval_ms"},
    {GRIDEMS_OPT_INT, "timer_interval_ms", "0", 0, offsetof(rogue_opts_t, timer_interval_ms),
     "a timer of its own fires this often (0: none)"},
    {GRIDEMS_OPT_INT, "block_timer_ms", "0", 0, offsetof(rogue_opts_t, block_timer_ms),
     "every timer callback blocks this long"},
    {GRIDEMS_OPT_INT, "block_timers", "0", 0, offsetof(rogue_opts_t, block_timers),
     "only the first this many timer callbacks block (0: all)"},
    {GRIDEMS_OPT_DOUBLE, "power_kw", "0", 0, offsetof(rogue_opts_t, power_kw),
     "the power each read posts"},
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", "200", 0, offsetof(rogue_opts_t, capacity_kwh),
     "the capacity reported"},
    {GRIDEMS_OPT_BOOL, "device", "true", 0, offsetof(rogue_opts_t, device),
     "register the battery device (false: none)"},
    {GRIDEMS_OPT_INT, "ts_ahead_ms", "0", 0, offsetof(rogue_opts_t, ts_ahead_ms),
     "stamp each measurement this far ahead of the host clock"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_rogue",
    .version = "1.0",
    .description = "a battery that blocks or lies on request (test fixture)",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
    .options = rogue_options,
    .context_size = sizeof(rogue_opts_t),
};

typedef struct rogue_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const rogue_opts_t *opts;
    gridems_device_id_t id;
    gridems_timer_id_t timer;
    int reads;
    int ticks;
} rogue_t;

static void block_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void rogue_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)id;
    rogue_t *r = arg;
    r->ticks++;
    bool block = r->opts->block_timer_ms > 0 &&
                 (r->opts->block_timers == 0 || r->ticks <= r->opts->block_timers);
    r->api->log(self, GRIDEMS_PLUGIN_LOG_INFO, "timer #%d%s", r->ticks, block ? " blocking" : "");
    if (block) {
        block_ms(r->opts->block_timer_ms);
    }
}

static int rogue_read(gridems_device_id_t dev, void *userdata)
{
    rogue_t *r = userdata;
    r->reads++;
    if (r->opts->block_read_ms > 0 &&
        (r->opts->block_reads == 0 || r->reads <= r->opts->block_reads)) {
        r->api->log(r->self, GRIDEMS_PLUGIN_LOG_INFO, "read #%d blocking %lld ms", r->reads,
                    (long long)r->opts->block_read_ms);
        block_ms(r->opts->block_read_ms);
    }
    gridems_measurement_t m = {.struct_size = sizeof m,
                               .device = dev,
                               .timestamp_ms = r->api->now_ms(r->self) + r->opts->ts_ahead_ms,
                               .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC,
                               .power_kw = r->opts->power_kw,
                               .soc_kwh = r->opts->capacity_kwh / 2};
    return r->api->post_measurement(r->self, &m);
}

static int rogue_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    rogue_t *r = userdata;
    out->measured_ms = r->api->now_ms(r->self);
    out->u.battery.capacity_kwh = r->opts->capacity_kwh;
    out->u.battery.soc_kwh = r->opts->capacity_kwh / 2;
    out->u.battery.charge_max_kw = 100;
    out->u.battery.discharge_max_kw = 100;
    return 0;
}

static int rogue_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    (void)sp;
    return 0;
}

static void rogue_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    const rogue_opts_t *o = cfg->context;
    if (o->read_interval_ms < 0 || o->read_interval_ms > UINT32_MAX || o->block_read_ms < 0 ||
        o->timer_interval_ms < 0 || o->block_timer_ms < 0) {
        return GRIDEMS_ECONFIG;
    }
    rogue_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return GRIDEMS_ENOMEM;
    }
    r->self = self;
    r->api = api;
    r->opts = o;
    *userdata = r;
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .klass = GRIDEMS_DEV_BATTERY,
        .read_interval_ms = (uint32_t)o->read_interval_ms,
        .read = rogue_read,
        .get_capabilities = rogue_caps,
        .apply_setpoint = rogue_setpoint,
        .destroy = rogue_destroy,
    };
    int rc = o->device ? api->register_device(self, &desc, r, &r->id) : 0;
    if (rc == 0 && o->timer_interval_ms > 0) {
        rc = api->timer_start(self, (uint64_t)o->timer_interval_ms, (uint64_t)o->timer_interval_ms,
                              rogue_tick, r, &r->timer);
    }
    return rc;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    free(userdata);
}
