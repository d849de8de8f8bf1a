/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The per-major seam of the plugin host: one adapter per plugin ABI major the host runs.
 *
 * The host works in its own terms (the structs of the gridems/plugin.h it is built with). An
 * adapter is everything that depends on the major a plugin was built for: the API table handed
 * to its init, and the reading of what the plugin hands over (gridems_plugin_info and its option
 * table, device descriptors, measurements, flex job arrays) into the host's structs, by the
 * plugin's struct_size and element sizes. Today there is one, host_abi_v1.c. A host whose header
 * moves to major 2 keeps 1.x plugins running by keeping host_abi_v1.c (built against a frozen
 * copy of the last 1.x header, as tests/abi/frozen/ keeps 1.0) and adding host_abi_v2.c; the
 * loader offers every major listed in gridems__abi_adapters, newest first, and stores the chosen
 * adapter in the instance.
 *
 * Thread: loop thread. Ownership: adapters are static and never freed.
 */
#ifndef GRIDEMS_HOST_ABI_H
#define GRIDEMS_HOST_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"

typedef struct gridems__abi_s {
    int major;
    /* The API table handed to this major's gridems_plugin_init (a gridems_host_api_t for 1). */
    const void *api;
    /*
     * read_info: check the plugin's exported gridems_plugin_info (borrowed, at least as large as
     * the adapter's minimum, which it checks) and copy it into *info in the host's layout, with
     * its option table into *options (returned, caller frees with free(); [*n_options] host-size
     * entries). Strings stay the plugin's. err names path and the problem.
     * Returns: 0; GRIDEMS_EABI; GRIDEMS_ENOMEM.
     */
    int (*read_info)(const void *exported, const char *path, gridems_plugin_info_t *info,
                     gridems_option_t **options, size_t *n_options, char *err, size_t errlen);
    /*
     * flex_job_size: the element size of a flex job array the plugin returned in caps (the
     * plugin's job_size, else its declared flex_job_size, else the 1.0 size). 0 when the size
     * is below the 1.0 size (the answer is refused).
     */
    size_t (*flex_job_size)(const gridems_plugin_info_t *info, const gridems_flex_caps_t *caps);
} gridems__abi_t;

/* The adapters, newest major first, and their count (host_abi.c). */
extern const gridems__abi_t *const gridems__abi_adapters[];
extern const int gridems__abi_n_adapters;

/* The adapter of ABI major 1 (host_abi_v1.c). */
extern const gridems__abi_t gridems__abi_v1;

/* The adapter for `major`, or NULL when the host does not run it. */
const gridems__abi_t *gridems__abi_find(int major);

/* The sizes of ABI 1.0's structs and array elements as the 1.0 header laid them out (the
 * smallest the host accepts from a 1.x plugin unless the struct says otherwise). The element
 * types have not grown since 1.0; should one grow, its constant here becomes a number.
 * tests/abi/test_abi_compat pins every one against a plugin built with the frozen 1.0 header. */
#define GRIDEMS__V1_0_OPTION_SIZE sizeof(gridems_option_t)
#define GRIDEMS__V1_0_FLEX_JOB_SIZE sizeof(gridems_flex_job_t)
#define GRIDEMS__V1_0_JOB_SETPOINT_SIZE sizeof(gridems_job_setpoint_t)
#define GRIDEMS__V1_0_INFO_SIZE offsetof(gridems_plugin_info_t, flex_job_size)
#define GRIDEMS__V1_0_SETPOINT_SIZE offsetof(gridems_setpoint_t, job_size)

#endif
