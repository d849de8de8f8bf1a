/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_bad_signature: a plugin that claims to be built for another platform (4-byte pointers,
 * 32-bit time_t). Everything else is fine; the loader must refuse it before running any of it.
 */
#include "gridems/plugin.h"

GRIDEMS__PLUGIN_DECLARE_SIGNATURE("gsig1 ptr=4 long=4 time=32 dbl=8 ldbl=12 fp=native le "
                                  "san=none");

int gridems_plugin_version(int n, const int *supported)
{
    return n > 0 ? supported[0] : -1;
}

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_bad_signature",
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
