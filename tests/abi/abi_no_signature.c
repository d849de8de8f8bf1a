/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_no_signature: hand-written entry points without GRIDEMS_PLUGIN_DECLARE_VERSION, so the
 * file has no signature section. The loader must refuse it without loading it.
 */
#include "gridems/plugin.h"

int gridems_plugin_version(int n, const int *supported)
{
    return n > 0 ? supported[0] : -1;
}

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_no_signature",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
};

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)self;
    (void)api;
    (void)cfg;
    (void)userdata;
    return 0;
}
