/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_init_fails: registers a device, starts a timer and subscribes, then fails init. The host
 * must refuse the instance, call destroy exactly once, fire no timer, drop the subscription, and
 * release everything so that the loop closes cleanly.
 */
#include <stdlib.h>

#include "abi_probe.h"
#include "gridems/plugin.h"

abi_probe_t abi_probe;

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_init_fails",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY),
};

static int caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    (void)out;
    return GRIDEMS_EIO;
}

static void destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    abi_probe.destroy_calls++;
    free(userdata);
}

static void tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    (void)arg;
    abi_probe.timer_fires++;
}

static void message(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    (void)msg;
    (void)arg;
    abi_probe.messages++;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    abi_probe.init_calls++;
    void *state = malloc(32); /* handed to the host: destroy() frees it */
    if (state == NULL) {
        return GRIDEMS_ENOMEM;
    }
    gridems_device_desc_t desc = {.struct_size = sizeof desc,
                                  .name = cfg->instance,
                                  .klass = GRIDEMS_DEV_BATTERY,
                                  .get_capabilities = caps,
                                  .destroy = destroy};
    gridems_device_id_t id;
    int rc = api->register_device(self, &desc, state, &id);
    if (rc < 0) {
        free(state);
        return rc;
    }
    gridems_timer_id_t t;
    api->timer_start(self, 0, 1, tick, NULL, &t);
    api->subscribe(self, "test/init_fails/#", message, NULL);
    api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "cannot reach the gateway");
    return GRIDEMS_EIO;
}
