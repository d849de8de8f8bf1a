/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the ABI test plugins record for the loader test to check. A test plugin that includes
 * this header exports one abi_probe_t named "abi_probe"; the test opens the same shared object
 * itself (so it stays mapped after the host's dlclose) and reads the probe through dlsym().
 * Test code only.
 */
#ifndef GRIDEMS_ABI_PROBE_H
#define GRIDEMS_ABI_PROBE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "gridems/plugin.h"

typedef struct abi_probe_s {
    int init_calls;
    int destroy_calls;
    int cleanup_calls;
    int timer_fires;
    int work_runs;      /* written on the pool thread: read it after work_started */
    sem_t work_started; /* posted by the work function (the test sem_init()s it first) */
    int done_calls;
    int done_status;
    pthread_t work_thread;
    pthread_t done_thread;
    int messages;
    int fd_events;
    int poison_calls; /* callbacks beyond a short descriptor that must never run */
    int setpoints;
    double last_setpoint_kw;
    /* What init read through the config getters and the context struct. */
    int getter_rc;
    int missing_rc; /* config_get_string of an option without value or default */
    double capacity_kwh;
    int64_t port;
    int enabled;
    char label[64];
    const char *context_label; /* the context struct's string pointer (host-owned) */
    int register_rc;
} abi_probe_t;

GRIDEMS_PLUGIN_EXPORT extern abi_probe_t abi_probe;

#endif
