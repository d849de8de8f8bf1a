/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * test_bad_table: an option whose offset lies outside the declared context struct. The host
 * must refuse the plugin rather than write past the context.
 */
#include <stdint.h>

#include "gridems/plugin.h"

typedef struct small_opts_s {
    int32_t flag;
} small_opts_t;

static const gridems_option_t bad_options[] = {
    {GRIDEMS_OPT_DOUBLE, "gain", "1.0", 0, 64, "an offset far past the context"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "test_bad_table",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = bad_options,
    .context_size = sizeof(small_opts_t),
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
