/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_old_desc: registers a device with a descriptor from an older, shorter ABI (struct_size
 * ends before apply_setpoint). The fields past struct_size hold "poison" callbacks that must
 * never be called: the host copies only struct_size bytes and treats the rest as NULL.
 */
#include "abi_probe.h"
#include "gridems/plugin.h"

abi_probe_t abi_probe;

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_old_desc",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
};

static int old_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    abi_probe.timer_fires++; /* counts reads */
    return 0;
}

static int old_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    out->u.meter.role = GRIDEMS_METER_PV;
    return 0;
}

static int poison_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    (void)userdata;
    (void)sp;
    abi_probe.poison_calls++;
    return 0;
}

static int poison_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    (void)userdata;
    (void)ev;
    abi_probe.poison_calls++;
    return 0;
}

static void poison_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    (void)userdata;
    abi_probe.poison_calls++;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    gridems_device_desc_t desc = {
        .struct_size = (uint32_t)offsetof(gridems_device_desc_t, apply_setpoint),
        .name = cfg->instance,
        .klass = GRIDEMS_DEV_METER,
        .read = old_read,
        .get_capabilities = old_caps,
        .apply_setpoint = poison_setpoint,
        .on_event = poison_event,
        .destroy = poison_destroy,
    };
    gridems_device_id_t id;
    abi_probe.register_rc = api->register_device(self, &desc, NULL, &id);
    return abi_probe.register_rc;
}
