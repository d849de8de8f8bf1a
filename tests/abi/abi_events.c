/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_events: a plugin that logs what the host promises in gridems/plugin.h, for the service
 * integration test (tests/integration/test_service.c) to check in the service's log:
 *   - init:      "strerror(EINVAL) = <text>" through the host API table's strerror entry;
 *   - read():    "read #<n> of <device> at <host-clock ms>" (each read also posts a reading, so
 *                the device is fresh);
 *   - on_event:  "event <type> signal <signal> id <id> start <ms> end <ms> value <v> on <device>";
 *   - destroy(): "destroy <device>".
 * It registers one meter (role OTHER: counted nowhere) named after the instance from init, and,
 * when the "second" option is set, another one of that name from a timer after init: the ids the
 * service gives both must follow the header's one rule.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"

typedef struct events_opts_s {
    int64_t read_interval_ms;
    const char *second;
    const char *tag; /* unused: a value to change on SIGHUP */
    int post;
} events_opts_t;

static const gridems_option_t events_options[] = {
    {GRIDEMS_OPT_INT, "read_interval_ms", "0", 0, offsetof(events_opts_t, read_interval_ms),
     "the devices' read_interval_ms"},
    {GRIDEMS_OPT_STRING, "second", NULL, 0, offsetof(events_opts_t, second),
     "the name of a second device, registered after init (none when absent)"},
    {GRIDEMS_OPT_STRING, "tag", "", 0, offsetof(events_opts_t, tag), "ignored"},
    {GRIDEMS_OPT_BOOL, "post", "true", 0, offsetof(events_opts_t, post),
     "post a reading from each read()"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

/* Every read() of every device of every instance, for tests that open this object themselves
 * (tests/plugins/test_read_interval.c). */
GRIDEMS_PLUGIN_EXPORT int test_events_reads;

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_events",
    .version = "1.0",
    .description = "logs reads and events (test fixture)",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = events_options,
    .context_size = sizeof(events_opts_t),
};

typedef struct events_dev_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    gridems_device_id_t id;
    char name[64];
    int reads;
    int post;
} events_dev_t;

typedef struct events_inst_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const events_opts_t *opts;
    gridems_timer_id_t timer;
} events_inst_t;

static int ev_read(gridems_device_id_t dev, void *userdata)
{
    events_dev_t *d = userdata;
    d->reads++;
    test_events_reads++;
    d->api->log(d->self, GRIDEMS_PLUGIN_LOG_INFO, "read #%d of %s at %lld", d->reads, d->name,
                (long long)d->api->now_ms(d->self));
    if (!d->post) {
        return 0;
    }
    gridems_measurement_t m = {.struct_size = sizeof m,
                               .device = dev,
                               .timestamp_ms = d->api->now_ms(d->self),
                               .valid = GRIDEMS_MEAS_POWER,
                               .power_kw = 0.0};
    return d->api->post_measurement(d->self, &m);
}

static int ev_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    events_dev_t *d = userdata;
    out->measured_ms = d->api->now_ms(d->self);
    out->u.meter.role = GRIDEMS_METER_OTHER;
    return 0;
}

static int ev_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    events_dev_t *d = userdata;
    d->api->log(d->self, GRIDEMS_PLUGIN_LOG_INFO,
                "event %d signal %d id %s start %lld end %lld value %g on %s", (int)ev->type,
                (int)ev->signal, ev->id != NULL ? ev->id : "-", (long long)ev->start_ms,
                (long long)ev->end_ms, ev->value, d->name);
    return 0;
}

static void ev_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    events_dev_t *d = userdata;
    d->api->log(d->self, GRIDEMS_PLUGIN_LOG_INFO, "destroy %s", d->name);
    free(d);
}

static int add_device(events_inst_t *st, const char *name)
{
    events_dev_t *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return GRIDEMS_ENOMEM;
    }
    d->self = st->self;
    d->api = st->api;
    d->post = st->opts->post;
    snprintf(d->name, sizeof d->name, "%s", name);
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = name,
        .klass = GRIDEMS_DEV_METER,
        .read_interval_ms = (uint32_t)st->opts->read_interval_ms,
        .read = ev_read,
        .get_capabilities = ev_caps,
        .on_event = ev_event,
        .destroy = ev_destroy,
    };
    int rc = st->api->register_device(st->self, &desc, d, &d->id);
    if (rc != 0) {
        free(d);
    }
    return rc;
}

static void on_later(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)id;
    events_inst_t *st = arg;
    int rc = add_device(st, st->opts->second);
    if (rc != 0) {
        st->api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "cannot register %s: %d", st->opts->second, rc);
    }
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    const events_opts_t *o = cfg->context;
    if (o->read_interval_ms < 0 || o->read_interval_ms > UINT32_MAX) {
        return GRIDEMS_ECONFIG;
    }
    if (GRIDEMS_API_HAS(api, strerror)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO, "strerror(EINVAL) = %s",
                 api->strerror(GRIDEMS_EINVAL));
    }
    events_inst_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return GRIDEMS_ENOMEM;
    }
    st->self = self;
    st->api = api;
    st->opts = o;
    *userdata = st;
    int rc = add_device(st, cfg->instance);
    if (rc == 0 && o->second != NULL) {
        rc = api->timer_start(self, 10, 0, on_later, st, &st->timer);
    }
    return rc;
}

void gridems_plugin_cleanup(gridems_plugin_t *self, void *userdata)
{
    (void)self;
    free(userdata);
}
