/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The host side of the plugin ABI (gridems/plugin.h): the API table plugins call, built on a
 * libuv loop, and the calls the service makes into plugin devices.
 *
 * Layers:
 *   - gridems__host_t is one per service: the loop, the services the service plugs in (MQTT,
 *     measurements, clock), every loaded instance and every plugin subscription.
 *   - struct gridems_plugin_s is one loaded instance (the `self` of the ABI). The loader
 *     (plugin_loader.c) creates and finally frees it; this file tracks what the plugin registers
 *     (devices, timers, fd watches, work, subscriptions) and tears it down.
 *   - gridems__device_t is one registered device.
 *
 * What the service plugs in: gridems__host_services_t. It is how publish, subscribe,
 * post_measurement and now_ms reach the service, and how the service learns about devices:
 *
 *   gridems__host_services_t svc = {.ctx = service, .publish = ..., .subscribe = ...,
 *                                   .unsubscribe = ..., .measurement = ..., .now_ms = ...};
 *   gridems__host_init(&service->host, loop, &svc);
 *   ... gridems__plugin_load(&service->host, instance_json, plugin_dir, &inst, err, sizeof err);
 *   on every MQTT message (from the MQTT client's loop-thread callback):
 *       gridems__host_deliver(&service->host, topic, payload, len, qos, retained);
 *   on every MQTT (re)connect: gridems__host_foreach_filter(&service->host, resubscribe, mqtt);
 *   at shutdown: gridems__host_unload_all(&service->host, done_cb, arg); run the loop until
 *       done_cb; gridems__host_close(&service->host).
 *
 * Thread: everything here runs on the loop thread, except what gridems/plugin.h allows elsewhere
 * (the log entries of the API table).
 */
#ifndef GRIDEMS_HOST_API_H
#define GRIDEMS_HOST_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gridems/plugin.h"
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

/* Longest device, instance or option name plus one: names are 1..63 characters. */
#define GRIDEMS__IDENT_MAX 64

/* A name made of 1..63 characters of [A-Za-z0-9_.-] (safe in logs, topics and file names). */
bool gridems__ident_valid(const char *s);

/* ---- ## What the service plugs in ---- */

typedef struct gridems__host_s gridems__host_t;
typedef struct gridems__device_s gridems__device_t;

/*
 * The service's side of the host API. Copied by gridems__host_init(). Every member may be NULL;
 * the defaults are given per member. Every callback runs on the loop thread and must not call
 * back into the plugin that caused it (publish from a message callback must be queued, not
 * delivered synchronously).
 */
typedef struct gridems__host_services_s {
    void *ctx; /* handed back to every callback */
    /*
     * A plugin publishes. topic and payload are borrowed: copy them (MQTTAsync_send does).
     * Return 0, GRIDEMS_EMQTT when the message cannot be sent (disconnected), or another
     * GRIDEMS_E*. NULL: publish returns GRIDEMS_ESTATE.
     */
    int (*publish)(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                   int retain);
    /*
     * The first plugin subscription with this filter appeared: subscribe on the broker (QoS 1)
     * and again on every reconnect. Return 0 when the filter is recorded even if the broker is
     * offline right now; an error refuses the plugin's subscription. filter is borrowed.
     * NULL: subscriptions are only recorded (messages still arrive through gridems__host_deliver).
     */
    int (*subscribe)(void *ctx, const char *topic_filter);
    /* The last plugin subscription with this filter went away. filter is borrowed. */
    void (*unsubscribe)(void *ctx, const char *topic_filter);
    /*
     * A plugin posted a reading of dev. m is the host's validated copy, borrowed for the call
     * (timestamp filled in, values not flagged valid zeroed). NULL: readings are dropped.
     */
    void (*measurement)(void *ctx, gridems__device_t *dev, const gridems_measurement_t *m);
    /* A device became usable (its instance finished init, or it was registered later). */
    void (*device_added)(void *ctx, gridems__device_t *dev);
    /* A device stops being usable: its instance is being unloaded. dev stays readable until the
     * callback returns; never use it afterwards. Not called for devices never added. */
    void (*device_removed)(void *ctx, gridems__device_t *dev);
    /* The host clock in ms since the epoch (may be simulated). NULL: CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ctx);
    /* The timers plugin timers are armed on (borrowed; on a stepped clock they wait for it).
     * NULL: the host's own, on the real clock. */
    gridems_timers_t *timers;
} gridems__host_services_t;

/* ---- ## The host ---- */

typedef void (*gridems__done_cb)(void *arg);

/* Embedded by the service; gridems__host_init() fills it. Read-only for the service. */
struct gridems__host_s {
    uv_loop_t *loop;
    gridems__host_services_t services;
    gridems_timers_t *timers;   /* services.timers, or own_timers */
    gridems_clock_t own_clock;  /* real: for own_timers */
    gridems_timers_t own_timers;
    gridems__link_t instances; /* every gridems_plugin_t, loaded or still closing */
    gridems__link_t subs;      /* every plugin subscription, in subscription order */
    uint32_t next_id;          /* for device, timer and watch ids */
    int delivering;            /* depth of gridems__host_deliver() calls on the stack */
    int subs_dirty;            /* unsubscribed entries wait to be swept after delivery */
    gridems__done_cb all_closed_cb;
    void *all_closed_arg;
};

/*
 * gridems__host_init: make an empty host over loop.
 * Parameters: host (borrowed, embedded by the caller); loop (borrowed, must outlive the host);
 *   services (copied; may be NULL for no services).
 * Thread: loop.
 */
void gridems__host_init(gridems__host_t *host, uv_loop_t *loop,
                        const gridems__host_services_t *services);

/*
 * gridems__host_close: release the host. Every instance must be gone (see
 * gridems__host_unload_all), since their handles hold the host.
 * Returns: 0, or GRIDEMS_ESTATE (nothing released) while instances remain.
 */
int gridems__host_close(gridems__host_t *host);

/*
 * gridems__host_unload_all: start unloading every instance; cb(arg) runs on the loop once the
 * last one is gone (from a later loop iteration, never from inside this call, even when there is
 * nothing to unload). Keep running the loop until then.
 * Returns: 0; GRIDEMS_EINVAL (cb NULL); GRIDEMS_ESTATE when an unload_all is already pending;
 *   GRIDEMS_ENOMEM. On error cb is never called.
 */
int gridems__host_unload_all(gridems__host_t *host, gridems__done_cb cb, void *arg);

/* The number of instances, loaded or still closing. */
size_t gridems__host_instance_count(const gridems__host_t *host);

/* The API table handed to every plugin (static, never freed). */
const gridems_host_api_t *gridems__host_api(void);

/* ---- ## MQTT: topic matching and delivery ---- */

/* Longest topic or filter accepted, in bytes (MQTT's own limit). */
#define GRIDEMS__TOPIC_MAX 65535

/* A valid topic name to publish to: 1..65535 bytes, no '+' or '#'. */
bool gridems__topic_name_valid(const char *topic);

/* A valid topic filter: 1..65535 bytes; '+' only as a whole level; '#' only as the whole last
 * level. */
bool gridems__topic_filter_valid(const char *filter);

/*
 * gridems__topic_matches: whether topic (a valid name) matches filter (a valid filter) by the MQTT
 * rules: levels split on '/', empty levels count; '+' is exactly one level; '#' is the rest of
 * the topic including none ("a/#" matches "a"); a topic that starts with '$' is matched by
 * neither '+' nor '#' at the first level.
 */
bool gridems__topic_matches(const char *filter, const char *topic);

/*
 * gridems__host_deliver: hand one incoming MQTT message to every plugin subscription whose
 * filter matches, in subscription order. topic and payload are borrowed (the plugins get a
 * NUL-terminated copy of the payload). Call from the loop thread, e.g. from the MQTT client's
 * message callback.
 * Returns: the number of subscriptions it was delivered to (0 is fine), GRIDEMS_EINVAL for an
 *   invalid topic, GRIDEMS_ENOMEM.
 */
int gridems__host_deliver(gridems__host_t *host, const char *topic, const void *payload, size_t len,
                          int qos, int retained);

/*
 * gridems__host_foreach_filter: call fn(arg, filter) once for every distinct topic filter plugins
 * are subscribed to (filter borrowed), e.g. to subscribe again after a reconnect. Stops at and
 * returns the first non-zero return of fn; 0 otherwise.
 */
int gridems__host_foreach_filter(gridems__host_t *host, int (*fn)(void *arg, const char *filter),
                                 void *arg);

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

/* The instance: `self` in the ABI. Fields are set by the loader and by this file. */
struct gridems_plugin_s {
    gridems__link_t link; /* in host->instances */
    gridems__host_t *host;
    int state;        /* GRIDEMS__INST_* */
    int draining;     /* 1 once fd watches are stopped and queued work cancelled */
    int teardown;     /* 1 once devices are destroyed and resources released */
    char *name;       /* instance name ("bess1"), owned */
    char *path;       /* the shared object, owned */
    char prefix[160]; /* "[battery_sim:bess1]" */

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
    unsigned pending; /* handles not yet closed + work not yet done (+1 for the anchor) */
    uv_idle_t anchor; /* never started; closing it defers the teardown out of the caller */

    pthread_mutex_t log_lock; /* guards the log rate counters (work_fn may log) */
    uint64_t log_window_ms;
    unsigned log_lines;
    uint64_t log_dropped;
    gridems_complaint_t slow; /* callbacks over the 5 ms budget */
    uint64_t overruns;        /* how many callbacks overran it (metrics) */
};

/*
 * gridems__instance_init: prepare an instance the loader allocated (zeroed) and add it to host.
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
 * leaves host->instances and inst->on_closed(inst) runs (dlclose and free). Calling it twice is
 * harmless.
 */
void gridems__instance_shutdown(gridems_plugin_t *inst);

/* ---- ## Devices: what the service calls ---- */

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
    int destroyed;
    void *service_data;                                   /* free for the service's own use */
    gridems_complaint_t complaint[GRIDEMS__DEV_OP_COUNT]; /* per call kind, rate-limits errors */
};

/* gridems__host_find_device: the live device with this id, or NULL. */
gridems__device_t *gridems__host_find_device(gridems__host_t *host, gridems_device_id_t id);

/* gridems__host_foreach_device: fn(arg, dev) for every usable device (of active instances);
 * stops at and returns the first non-zero return of fn. */
int gridems__host_foreach_device(gridems__host_t *host,
                                 int (*fn)(void *arg, gridems__device_t *dev), void *arg);

/*
 * The device calls. Each runs the plugin's callback on the loop thread, times it against the
 * budget, and returns its result (a positive result becomes 0).
 * Returns, besides the plugin's own error: GRIDEMS_ENOENT when the device has no such callback
 * (descriptor too old, or optional and absent); GRIDEMS_ESTATE when the instance is not active
 * or the device destroyed; GRIDEMS_EINVAL for a bad argument.
 *
 * gridems__device_get_capabilities: out (borrowed) is reset with the defaults of gridems_caps_t
 *   and then filled by the plugin, then validated: on a bad value the reason is logged
 *   (rate-limited) and GRIDEMS_EPLUGIN returned. Pointers in out->u.flex are the plugin's:
 *   copy them before calling into the device again.
 * gridems__device_apply_setpoint: sp borrowed; sp->struct_size must be sizeof(gridems_setpoint_t).
 * gridems__device_on_event: ev borrowed; ev->struct_size must be sizeof(gridems_device_event_t).
 */
int gridems__device_read(gridems__device_t *dev);
int gridems__device_get_capabilities(gridems__device_t *dev, gridems_caps_t *out);
int gridems__device_apply_setpoint(gridems__device_t *dev, const gridems_setpoint_t *sp);
int gridems__device_on_event(gridems__device_t *dev, const gridems_device_event_t *ev);

#endif
