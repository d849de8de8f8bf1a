/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_good: a well-behaved plugin that exercises every host API entry the loader test checks.
 * It registers one battery named after the instance (or the "device" option), and depending on
 * its options starts a timer that posts readings, queues work, and watches an fd. It subscribes
 * to test/<instance>/cmd/# and answers each message on test/<instance>/ack with its label.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi_probe.h"
#include "gridems/plugin.h"

abi_probe_t abi_probe;

typedef struct good_opts_s {
    double capacity_kwh;
    int64_t port;
    int enabled;
    const char *label;
    int64_t tick_ms;
    int work;
    int64_t work_sleep_ms;
    int64_t watch_fd;
    const char *device;
} good_opts_t;

static const gridems_option_t good_options[] = {
    {GRIDEMS_OPT_DOUBLE, "capacity_kwh", "100", 0, offsetof(good_opts_t, capacity_kwh),
     "usable capacity, kWh"},
    {GRIDEMS_OPT_INT, "port", "502", 0, offsetof(good_opts_t, port), "Modbus/TCP port"},
    {GRIDEMS_OPT_BOOL, "enabled", "true", 0, offsetof(good_opts_t, enabled), "take set-points"},
    {GRIDEMS_OPT_STRING, "label", "pack", 0, offsetof(good_opts_t, label), "a label"},
    {GRIDEMS_OPT_INT, "tick_ms", "0", 0, offsetof(good_opts_t, tick_ms),
     "post a reading every tick_ms (0 = never)"},
    {GRIDEMS_OPT_BOOL, "work", "false", 0, offsetof(good_opts_t, work), "queue one work item"},
    {GRIDEMS_OPT_INT, "work_sleep_ms", "0", 0, offsetof(good_opts_t, work_sleep_ms),
     "how long the work item sleeps"},
    {GRIDEMS_OPT_INT, "watch_fd", "-1", 0, offsetof(good_opts_t, watch_fd),
     "an fd to watch for reading (-1 = none)"},
    {GRIDEMS_OPT_STRING, "device", NULL, 0, offsetof(good_opts_t, device),
     "device name (default: the instance name)"},
    {GRIDEMS_OPT_STRING, "topic", NULL, 0, GRIDEMS_OPT_NO_OFFSET, "read with the getter only"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_good",
    .version = "1.2.3",
    .description = "well-behaved test plugin",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY) | GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = good_options,
    .context_size = sizeof(good_opts_t),
};

typedef struct good_state_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const good_opts_t *opts;
    const char *instance; /* cfg->instance: the host's, valid until unload */
    gridems_device_id_t dev;
    char topic[128];
} good_state_t;

static int dev_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    good_state_t *st = userdata;
    out->u.battery.capacity_kwh = st->opts->capacity_kwh;
    out->u.battery.soc_kwh = st->opts->capacity_kwh / 2;
    out->u.battery.charge_max_kw = 25;
    out->u.battery.discharge_max_kw = 25;
    return 0;
}

static int dev_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    abi_probe.setpoints++;
    abi_probe.last_setpoint_kw = sp->safe_mode ? 0 : sp->power_kw;
    return 0;
}

static void dev_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata; /* the state is the instance's: cleanup frees it */
    abi_probe.destroy_calls++;
}

static void on_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)id;
    good_state_t *st = arg;
    abi_probe.timer_fires++;
    gridems_measurement_t m = {.struct_size = sizeof m,
                               .device = st->dev,
                               .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC,
                               .power_kw = 1.5,
                               .soc_kwh = 50};
    st->api->post_measurement(self, &m);
}

static void on_message(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    good_state_t *st = arg;
    (void)msg;
    abi_probe.messages++;
    /* Answer with the label the host stored: proves the host's string outlives the config. */
    char topic[160];
    snprintf(topic, sizeof topic, "test/%s/ack", st->instance);
    st->api->publish(self, topic, st->opts->label, strlen(st->opts->label), 1, 0);
}

static void on_fd(gridems_plugin_t *self, int fd, int status, int events, void *arg)
{
    (void)self;
    (void)arg;
    if (status == 0 && (events & GRIDEMS_FD_READABLE)) {
        char c;
        if (read(fd, &c, 1) == 1) {
            abi_probe.fd_events++;
        }
    }
}

static void work_fn(gridems_plugin_t *self, void *arg)
{
    good_state_t *st = arg;
    abi_probe.work_thread = pthread_self();
    abi_probe.work_runs++;
    sem_post(&abi_probe.work_started);
    if (st->opts->work_sleep_ms > 0) {
        struct timespec ts = {0, (long)st->opts->work_sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    st->api->log(self, GRIDEMS_PLUGIN_LOG_DEBUG, "work done on a pool thread");
}

static void done_fn(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    (void)arg;
    abi_probe.done_thread = pthread_self();
    abi_probe.done_status = status;
    abi_probe.done_calls++;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    abi_probe.init_calls++;
    if (!GRIDEMS_API_HAS(api, now_ms) || cfg->struct_size < sizeof *cfg) {
        return GRIDEMS_EABI;
    }
    const good_opts_t *o = cfg->context;
    abi_probe.getter_rc = api->config_get_double(cfg, "capacity_kwh", &abi_probe.capacity_kwh);
    abi_probe.getter_rc |= api->config_get_int(cfg, "port", &abi_probe.port);
    abi_probe.getter_rc |= api->config_get_bool(cfg, "enabled", &abi_probe.enabled);
    const char *label = NULL;
    abi_probe.getter_rc |= api->config_get_string(cfg, "label", &label);
    snprintf(abi_probe.label, sizeof abi_probe.label, "%s", label != NULL ? label : "");
    const char *topic = NULL;
    abi_probe.missing_rc = api->config_get_string(cfg, "topic", &topic);
    abi_probe.context_label = o->label;

    good_state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return GRIDEMS_ENOMEM;
    }
    st->self = self;
    st->api = api;
    st->opts = o;
    st->instance = cfg->instance;
    *userdata = st; /* released by gridems_plugin_cleanup */

    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = o->device != NULL ? o->device : cfg->instance,
        .instance = "unit-1",
        .klass = GRIDEMS_DEV_BATTERY,
        .options = good_options,
        .get_capabilities = dev_caps,
        .apply_setpoint = dev_setpoint,
        .destroy = dev_destroy,
    };
    abi_probe.register_rc = api->register_device(self, &desc, st, &st->dev);
    if (abi_probe.register_rc < 0) {
        return abi_probe.register_rc;
    }
    snprintf(st->topic, sizeof st->topic, "test/%s/cmd/#", cfg->instance);
    int rc = api->subscribe(self, st->topic, on_message, st);
    if (rc < 0) {
        return rc;
    }
    if (o->tick_ms > 0) {
        gridems_timer_id_t t;
        rc = api->timer_start(self, (uint64_t)o->tick_ms, (uint64_t)o->tick_ms, on_tick, st, &t);
        if (rc < 0) {
            return rc;
        }
    }
    if (o->work) {
        rc = api->queue_work(self, work_fn, done_fn, st);
        if (rc < 0) {
            return rc;
        }
    }
    if (o->watch_fd >= 0) {
        gridems_watch_id_t w;
        rc = api->watch_fd(self, (int)o->watch_fd, GRIDEMS_FD_READABLE, on_fd, st, &w);
        if (rc < 0) {
            return rc;
        }
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_NOTICE, "started with capacity %g kWh", o->capacity_kwh);
    return 0;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    abi_probe.cleanup_calls++;
    free(userdata);
}
