/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Must NOT compile (ctest abi_plugin_cannot_see_gridems_strerror): a plugin sees no
 * declaration of the host's gridems_strerror, which the host does not export (a plugin calling
 * it would fail to load with "undefined symbol"). Plugins call api->strerror instead.
 */
#include "gridems/plugin.h"

const char *probe_text(int err);

const char *probe_text(int err)
{
    return gridems_strerror(err);
}
