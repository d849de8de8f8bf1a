/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The plugin host's own structs and the calls between its files (host_*.c, plugin_loader.c).
 * The service sees none of this: it holds gridems__host_t, gridems_plugin_t and
 * gridems__device_t as opaque pointers and uses the accessors of host_api.h. White-box tests of
 * the host may include it.
 *
 * Who does what:
 *   host_core.c     the host, the instance lifecycle (init, activate, shutdown, teardown), the
 *                   table of live instances every plugin handle is checked against, the hold
 *                   of a stuck instance; it calls down into the files below, never the other
 *                   way (host_loop.c reports closed handles through host->resource_closed);
 *   host_runtime.c  what they all share: ids, the host clock, the identifier rule, the
 *                   callback budget and the report of each callback's time;
 *   host_log.c      the log entries of the API table, with the per-instance rate limit;
 *   host_config.c   the option getters (by config pointer and by handle);
 *   host_loop.c     timers, fd watches, work on the thread pool;
 *   host_mqtt.c     topic validation and matching, publish, subscriptions, delivery;
 *   host_devices.c  device registration and removal, measurements, the service's calls into
 *                   devices and the checks of their answers;
 *   host_abi.c      the per-major adapters the loader chooses from (host_abi.h);
 *   host_abi_v1.c   ABI major 1: the API table and the reading of the plugin's structs.
 *
 * Thread: the loop thread, except gridems__instance_lookup and the log entries (any thread).
 */
#ifndef GRIDEMS_HOST_INTERNAL_H
#define GRIDEMS_HOST_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gridems/plugin.h"
#include "host_abi.h"
#include "host_api.h"
#include "log.h"
#include "timers.h"

/* ---- ## Intrusive doubly linked lists ---- */

typedef struct gridems__link_s {
    struct gridems__link_s *prev;
    struct gridems__link_s *next;
} gridems__link_t;

#define GRIDEMS__CONTAINER_OF(ptr, type, member)                                                   \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void gridems__list_init(gridems__link_t *head)
{
    head->prev = head;
    head->next = head;
}

static inline bool gridems__list_empty(const gridems__link_t *head)
{
    return head->next == head;
}

static inline void gridems__list_insert_tail(gridems__link_t *head, gridems__link_t *link)
{
    link->next = head;
    link->prev = head->prev;
    head->prev->next = link;
    head->prev = link;
}

static inline void gridems__list_remove(gridems__link_t *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link;
    link->next = link;
}

/* ---- ## The host ---- */

struct gridems__host_s {
    uv_loop_t *loop;
    gridems__host_services_t services;
    gridems_timers_t *timers;  /* services.timers, or own_timers */
    gridems_clock_t own_clock; /* real: for own_timers */
    gridems_timers_t own_timers;
    gridems__link_t instances; /* every gridems_plugin_t, loaded or still closing */
    gridems__link_t subs;      /* every plugin subscription, in subscription order */
    uint32_t next_id;          /* last id handed out (devices, timers, watches, work) */
    int delivering;            /* depth of gridems__host_deliver() calls on the stack */
    int subs_dirty;            /* unsubscribed entries wait to be swept after delivery */
    gridems__done_cb all_closed_cb;
    void *all_closed_arg;
    /* Set by gridems__host_create to the lifecycle's count of an instance's handles and work
     * (host_core.c). The loop's resources (host_loop.c) report through it when
     * one has closed, so the files below the lifecycle never call up into it. */
    void (*resource_closed)(gridems_plugin_t *inst);
};

/* ---- ## Instances ---- */

enum { GRIDEMS__INST_LOADING = 0, GRIDEMS__INST_ACTIVE = 1, GRIDEMS__INST_CLOSING = 2 };

/* One validated option value of an instance. */
typedef struct gridems__optval_s {
    gridems_option_t opt; /* host-size copy of the table entry; its strings are the plugin's */
    int set;              /* 1 when v holds a given or default value */
    union {
        char *s; /* owned */
        int64_t i;
        double d;
        int b;
    } v;
} gridems__optval_t;

/* Longest reason init_error keeps, NUL included. */
#define GRIDEMS__INIT_ERROR_MAX 256

/* The instance: `self` in the ABI. Fields are set by the loader and by the host's files. */
struct gridems_plugin_s {
    gridems__link_t link; /* in host->instances */
    gridems__link_t live; /* in the process-wide table of live instances (host_core.c) */
    gridems__host_t *host;
    const gridems__abi_t *abi; /* the adapter of the negotiated major */
    int state;                 /* GRIDEMS__INST_* */
    int draining;              /* 1 once fd watches are stopped and queued work cancelled */
    int teardown;              /* 1 once devices are destroyed and resources released */
    int in_init;               /* 1 while gridems_plugin_init runs */
    char *name;                /* instance name ("bess1"), owned */
    char *path;                /* the shared object, owned */
    char prefix[160];          /* "[battery_sim:bess1]" */
    char init_error[GRIDEMS__INIT_ERROR_MAX]; /* what init_error() said, "" if nothing */

    /* Set by the loader. */
    void *dl;                   /* dlopen handle, or NULL */
    gridems_plugin_info_t info; /* host-size copy; pointers borrowed from the plugin */
    void (*cleanup_fn)(gridems_plugin_t *self, void *userdata); /* may be NULL */
    int init_called;
    gridems__optval_t *opts; /* [n_opts], owned */
    size_t n_opts;
    gridems_config_t cfg;
    void *context; /* owned, info.context_size bytes */
    void *userdata;
    void (*on_closed)(gridems_plugin_t *inst); /* the loader's final step */
    gridems__done_cb unload_cb;
    void *unload_arg;

    /* Registered by the plugin. */
    gridems__link_t devices;
    gridems__link_t timers;
    gridems__link_t watches;
    gridems__link_t works;
    gridems__link_t held_done; /* finished work whose done_fn waits for the hold to end */
    unsigned pending;          /* handles not yet closed + work not yet done (+1 for the anchor) */
    uv_idle_t anchor;          /* never started; closing it defers the teardown out of the caller */
    uv_idle_t later; /* started for one loop turn: announces devices registered while active,
                        destroys unregistered ones (host_devices.c) */

    pthread_mutex_t log_lock; /* guards the log rate counters (work_fn may log) */
    uint64_t log_window_ms;
    unsigned log_lines;
    uint64_t log_dropped;
    gridems_complaint_t slow; /* callbacks over the 5 ms budget */
    uint64_t overruns;        /* how many callbacks overran it (metrics) */
    int held; /* gridems__instance_hold: its own callbacks are not called (host_loop.c) */
};

/*
 * gridems__instance_init: prepare an instance the loader allocated (zeroed), add it to host and
 * to the table of live instances.
 * Returns: 0 or GRIDEMS_ENOMEM (a libuv or pthread failure; nothing to undo).
 */
int gridems__instance_init(gridems_plugin_t *inst, gridems__host_t *host, const char *name,
                           const char *plugin_name);

/* gridems__instance_activate: init succeeded: announce the devices to the service. */
void gridems__instance_activate(gridems_plugin_t *inst);

/*
 * gridems__instance_shutdown: start tearing an instance down (unload, or init failed). At once:
 * no more plugin callbacks except done_fn(GRIDEMS_ECANCELED), destroy and cleanup; the service
 * gets device_removed. From the loop, later: stop fd watches and cancel queued work; once every
 * work item's done_fn has run (running work cannot be stopped), destroy each device once, call
 * cleanup, close timers and watches, drop subscriptions. When every handle is closed the instance
 * leaves host->instances and the live table, and inst->on_closed(inst) runs (dlclose and free).
 * Calling it twice is harmless.
 */
void gridems__instance_shutdown(gridems_plugin_t *inst);

/*
 * gridems__instance_lookup: p if it is a live instance (in the table from instance_init until
 * just before it is freed), else NULL. Any thread. gridems__config_lookup: the instance whose
 * cfg is p, or NULL.
 */
gridems_plugin_t *gridems__instance_lookup(const gridems_plugin_t *p);
gridems_plugin_t *gridems__config_lookup(const gridems_config_t *p);

/* ---- ## Shared by every host file (host_runtime.c) ---- */

/*
 * gridems__host_alloc_id: the next non-zero id for which in_use(inst, id) is false (in_use may
 * be NULL). The counter wraps; an id still held is skipped, so ids never collide.
 */
uint32_t gridems__host_alloc_id(gridems__host_t *host, gridems_plugin_t *inst,
                                bool (*in_use)(gridems_plugin_t *inst, uint32_t id));

/* The host clock (services.now_ms, else CLOCK_REALTIME). */
int64_t gridems__host_now(gridems__host_t *host);

/* Warn (rate-limited) when one plugin callback took longer than the 5 ms budget. */
void gridems__check_budget(gridems_plugin_t *inst, const char *what, uint64_t start_ns);

/* After one of the plugin's own callbacks (timer, fd, work done, message) ran from start_ns:
 * gridems__check_budget, and the report to services.callback_timed. */
void gridems__callback_ran(gridems_plugin_t *inst, const char *what, uint64_t start_ns);

/* ---- ## Records the other files keep per instance ---- */

/* host_loop.c */
void gridems__loop_drain(gridems_plugin_t *inst);             /* stop polling, cancel queued work */
void gridems__loop_close_all(gridems_plugin_t *inst);         /* close every timer and watch */
void gridems__loop_poll_all(gridems_plugin_t *inst, bool on); /* stop or restart fd polling */
void gridems__loop_deliver_held(gridems_plugin_t *inst);      /* done_fns held back, now */

/* host_mqtt.c */
void gridems__mqtt_drop_instance(gridems_plugin_t *inst); /* every subscription of inst */
void gridems__mqtt_sweep(gridems__host_t *host);          /* free unsubscribed entries */

/* host_devices.c */

/* The kinds of calls into a device, each with its own rate-limited complaint. */
enum {
    GRIDEMS__DEV_OP_READ,
    GRIDEMS__DEV_OP_CAPS,
    GRIDEMS__DEV_OP_SETPOINT,
    GRIDEMS__DEV_OP_EVENT,
    GRIDEMS__DEV_OP_MEASUREMENT,
    GRIDEMS__DEV_OP_COUNT
};

struct gridems__device_s {
    gridems__link_t link; /* in inst->devices */
    gridems_plugin_t *inst;
    gridems_device_id_t id;
    gridems_device_desc_t desc; /* host-size copy; desc.name and desc.instance are ours */
    void *userdata;             /* the plugin's */
    int announced;              /* device_added was called */
    int announce_pending;       /* registered while active: announced on the next loop turn */
    int unregistered;           /* unregister_device: destroy() follows from the loop */
    int destroyed;
    void *service_data;       /* the service's own (gridems__device_set_service_data) */
    gridems_flex_job_t *jobs; /* host-layout copy of the last flex job array, or NULL */
    uint32_t jobs_cap;
    gridems_complaint_t complaint[GRIDEMS__DEV_OP_COUNT]; /* per call kind, rate-limits errors */
};

void gridems__devices_announce_all(gridems_plugin_t *inst);
void gridems__devices_withdraw_all(gridems_plugin_t *inst); /* device_removed for each */
void gridems__devices_destroy_all(gridems_plugin_t *inst);  /* destroy() for each, once */
void gridems__devices_free_all(gridems_plugin_t *inst);
/* The instance's `later` handle ran: announce what was registered, destroy what was
 * unregistered since. */
void gridems__devices_later(uv_idle_t *later);

/* ---- ## What the API table's entries do, in the host's own terms ---- */
/* Each takes a checked live instance; the adapter (host_abi_v1.c) checks handles and converts
 * the plugin's structs before calling these. */

void gridems__log_v(gridems_plugin_t *inst, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void gridems__log(gridems_plugin_t *inst, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int gridems__option_get(gridems_plugin_t *inst, const char *key, int type, void *out);

int gridems__timer_start(gridems_plugin_t *inst, bool host_clock, uint64_t first_ms,
                         uint64_t repeat_ms, gridems_timer_fn fn, void *arg,
                         gridems_timer_id_t *id);
int gridems__timer_stop(gridems_plugin_t *inst, gridems_timer_id_t id);
int gridems__watch_fd(gridems_plugin_t *inst, int fd, int events, gridems_fd_fn fn, void *arg,
                      gridems_watch_id_t *id);
int gridems__unwatch_fd(gridems_plugin_t *inst, gridems_watch_id_t id);
int gridems__work_submit(gridems_plugin_t *inst, gridems_work_fn work_fn, gridems_done_fn done_fn,
                         void *arg, gridems_work_id_t *id);
int gridems__work_cancel(gridems_plugin_t *inst, gridems_work_id_t id);

int gridems__publish(gridems_plugin_t *inst, const char *topic, const void *payload, size_t len,
                     int qos, int retain);
int gridems__subscribe(gridems_plugin_t *inst, const char *filter, gridems_message_fn fn,
                       void *arg);
int gridems__unsubscribe(gridems_plugin_t *inst, const char *filter, gridems_message_fn fn,
                         void *arg);

/* m and desc are host-size copies (the adapter read min(struct_size, sizeof) of the plugin's). */
int gridems__device_post(gridems_plugin_t *inst, gridems_measurement_t *m);
int gridems__device_register(gridems_plugin_t *inst, gridems_device_desc_t *desc,
                             void *dev_userdata, gridems_device_id_t *id);
int gridems__device_unregister(gridems_plugin_t *inst, gridems_device_id_t id);

#endif
