/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the ABI compatibility plugins (compat_v1_0.c, compat_future.c, compat_v1_1.c) record for
 * tests/abi/test_abi_compat.c. Plain C only, no gridems type: the same header serves a plugin
 * built against the frozen 1.0 header and one built against today's. Each plugin exports one
 * compat_probe_t named "compat_probe"; the test opens the same object itself and reads it.
 * Test code only.
 */
#ifndef GRIDEMS_COMPAT_PROBE_H
#define GRIDEMS_COMPAT_PROBE_H

#include <stdint.h>

#define COMPAT_MAX_JOBS 4

typedef struct compat_probe_s {
    /* The plugin's own compile-time sizes (the layout it hands over and expects). */
    unsigned sizeof_info, sizeof_option, sizeof_desc, sizeof_measurement, sizeof_flex_job;
    unsigned sizeof_setpoint, sizeof_job_setpoint, sizeof_event, sizeof_message, sizeof_caps;
    unsigned sizeof_config, sizeof_api;
    /* What the host handed it: the struct_size of each host struct. */
    unsigned api_size, config_size, caps_size, setpoint_size, event_size, message_size;
    unsigned setpoint_job_size; /* 1.1 plugins: sp->job_size */
    int knows_beyond; /* a host struct claimed members the host cannot know (must stay 0) */

    /* init: options through the getters and the context struct. */
    int init_calls, init_rc;
    int getter_rc;
    int64_t port, ctx_port;
    double gain, ctx_gain;
    int flag, ctx_flag;
    char label[32], ctx_label[32];

    /* Handles that are not live instances: each call's result (must be EINVAL, no crash). */
    int bogus_timer_rc, bogus_cfg_rc, bogus_register_rc, bogus_post_rc, bogus_option_rc;
    int bogus_unregister_rc, bogus_cancel_rc, bogus_init_error_rc;
    int null_timer_rc;

    /* Running. */
    int timer_fires;
    int64_t timer_fire_ms[4]; /* host clock at each fire */
    int work_runs, work_done, work_status;
    int messages;
    char last_payload[64];
    int reads, post_rc;
    int setpoints, sp_jobs;
    char sp_job_ids[COMPAT_MAX_JOBS][16];
    double sp_job_kw[COMPAT_MAX_JOBS];
    double sp_power_kw;
    int events, last_event_type;
    int destroys, cleanups;

    /* 1.1 additions (compat_v1_1.c). */
    int register_rc, unregister_rc, unregister_again_rc;
    int inside_register;        /* 1 while the plugin is inside register_device */
    int destroys_at_unregister; /* destroy() calls when unregister_device returned */
    int blockers_started;       /* work_fn of the blocking jobs that began */
    int victim_ran;             /* the cancelled job's work_fn (must stay 0) */
    int cancel_rc, cancel_running_rc, cancel_unknown_rc;
    int victim_status, blockers_done, blockers_status_sum;
    int clock_timer_rc;
} compat_probe_t;

#endif
