/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin ABI majors this host runs, one adapter each (host_abi.h). */
#include "host_abi.h"

#include <stddef.h>

/* Newest first: the order the loader offers them to gridems_plugin_version. */
const gridems__abi_t *const gridems__abi_adapters[] = {&gridems__abi_v1};
const int gridems__abi_n_adapters =
    (int)(sizeof gridems__abi_adapters / sizeof gridems__abi_adapters[0]);

const gridems__abi_t *gridems__abi_find(int major)
{
    for (int i = 0; i < gridems__abi_n_adapters; i++) {
        if (gridems__abi_adapters[i]->major == major) {
            return gridems__abi_adapters[i];
        }
    }
    return NULL;
}
