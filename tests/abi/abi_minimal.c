/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A minimal plugin, built several ways by tests/abi/CMakeLists.txt:
 *   test_v2_only       -DABI_VERSION=2: implements only plugin ABI 2, which the host refuses;
 *   test_no_init       -DABI_NO_INIT: exports no gridems_plugin_init;
 *   test_san_mismatch  with the opposite sanitizer setting to the host's build.
 * With neither, it registers one meter and takes a required "port" option (test_required).
 */
#include <stdint.h>

#include "gridems/plugin.h"

#ifndef ABI_VERSION
#define ABI_VERSION 1
#endif

typedef struct minimal_opts_s {
    int64_t port;
    const char *host;
} minimal_opts_t;

static const gridems_option_t minimal_options[] = {
    {GRIDEMS_OPT_INT, "port", NULL, 1, offsetof(minimal_opts_t, port), "gateway port"},
    {GRIDEMS_OPT_STRING, "host", "localhost", 0, offsetof(minimal_opts_t, host), "gateway host"},
    GRIDEMS_OPTION_END};

GRIDEMS__PLUGIN_DECLARE_MAJOR(ABI_VERSION); /* a foreign major for test_v2_only */

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = ABI_PLUGIN_NAME,
    .version = "0.1",
    .description = "minimal test plugin",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = minimal_options,
    .context_size = sizeof(minimal_opts_t),
};

#ifndef ABI_NO_INIT
static int meter_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    (void)userdata;
    out->u.meter.role = GRIDEMS_METER_SITE;
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    gridems_device_desc_t desc = {.struct_size = sizeof desc,
                                  .name = cfg->instance,
                                  .klass = GRIDEMS_DEV_METER,
                                  .get_capabilities = meter_caps};
    gridems_device_id_t id;
    return api->register_device(self, &desc, NULL, &id);
}
#endif
