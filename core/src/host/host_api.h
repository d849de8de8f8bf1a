/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The host side of the plugin ABI (gridems/plugin.h): the API table plugins call, built on a
 * libuv loop, and the calls the service makes into plugin devices.
 *
 * The service sees three opaque types and the accessors below; their structs are the host's
 * (host_internal.h), split over host_*.c by responsibility:
 *   - gridems__host_t: one per service: the loop, the services the service plugs in (MQTT,
 *     measurements, clock), every loaded instance and every plugin subscription.
 *   - gridems_plugin_t: one loaded instance (the `self` of the ABI). The loader
 *     (plugin_loader.c) creates and finally frees it.
 *   - gridems__device_t: one registered device.
 *
 * What the service plugs in: gridems__host_services_t. It is how publish, subscribe,
 * post_measurement and now_ms reach the service, and how the service learns about devices:
 *
 *   gridems__host_services_t svc = {.ctx = service, .publish = ..., .subscribe = ...,
 *                                   .unsubscribe = ..., .measurement = ..., .now_ms = ...};
 *   gridems__host_create(loop, &svc, &service->host);
 *   ... gridems__plugin_load(service->host, instance_json, plugin_dir, &inst, err, sizeof err);
 *   on every MQTT message (from the MQTT client's loop-thread callback):
 *       gridems__host_deliver(service->host, topic, payload, len, qos, retained);
 *   on every MQTT (re)connect: gridems__host_foreach_filter(service->host, resubscribe, mqtt);
 *   at shutdown: gridems__host_unload_all(service->host, done_cb, arg); run the loop until
 *       done_cb; gridems__host_destroy(service->host).
 *
 * Thread: everything here runs on the loop thread, except what gridems/plugin.h allows elsewhere
 * (the log entries of the API table).
 */
#ifndef GRIDEMS_HOST_API_H
#define GRIDEMS_HOST_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gridems/plugin.h"
#include "log.h"
#include "timers.h"

/* Longest device, instance or option name plus one: names are 1..63 characters. */
#define GRIDEMS__IDENT_MAX 64

/* A name made of 1..63 characters of [A-Za-z0-9_.-] (safe in logs, topics and file names). */
bool gridems__ident_valid(const char *s);

/* ---- ## What the service plugs in ---- */

typedef struct gridems__host_s gridems__host_t;
typedef struct gridems__device_s gridems__device_t;

/*
 * The service's side of the host API. Copied by gridems__host_create(). Every member may be NULL;
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
    /* A device became usable: its instance finished init (called right after init returned),
     * or it was registered later (called on the next loop turn, never from inside the plugin's
     * register_device). The callback may call into the device. */
    void (*device_added)(void *ctx, gridems__device_t *dev);
    /* A device stops being usable: its instance is being unloaded, or the plugin unregistered
     * it. dev stays readable until the callback returns; never use it afterwards. Not called
     * for devices never added. */
    void (*device_removed)(void *ctx, gridems__device_t *dev);
    /* The host clock in ms since the epoch (may be simulated). NULL: CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ctx);
    /* The timers plugin timers are armed on (borrowed; on a stepped clock they wait for it).
     * NULL: the host's own, on the real clock. */
    gridems_timers_t *timers;
    /*
     * One of the plugin's own callbacks, which the host calls directly (timer, fd, work done,
     * message), took ns nanoseconds of the loop (what: "timer callback", "fd callback",
     * "work done callback", "message callback"). Loop thread, right after the callback returned;
     * never for an unloading instance. It may call into inst's devices and
     * gridems__instance_hold. NULL: not reported. The service's plugin watch (plugin_watch.h)
     * sets it.
     */
    void (*callback_timed)(void *ctx, gridems_plugin_t *inst, const char *what, uint64_t ns);
} gridems__host_services_t;

/* ---- ## The host ---- */

typedef void (*gridems__done_cb)(void *arg);

/*
 * gridems__host_create: make an empty host over loop.
 * Parameters: loop (borrowed, must outlive the host); services (copied; may be NULL for no
 *   services); out (borrowed, receives the host, owned by the caller: gridems__host_destroy).
 * Returns: 0 or GRIDEMS_ENOMEM. Thread: loop.
 */
int gridems__host_create(uv_loop_t *loop, const gridems__host_services_t *services,
                         gridems__host_t **out);

/*
 * gridems__host_destroy: release the host. Every instance must be gone (see
 * gridems__host_unload_all), since their handles hold the host. NULL is ignored.
 * Returns: 0, or GRIDEMS_ESTATE (nothing released) while instances remain.
 */
int gridems__host_destroy(gridems__host_t *host);

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

/* gridems__host_find_instance: the loaded instance named `name` that is not unloading, or NULL. */
gridems_plugin_t *gridems__host_find_instance(gridems__host_t *host, const char *name);

/* The instance's name ("bess1", owned by the instance) and whether it is unloading. */
const char *gridems__instance_name(const gridems_plugin_t *inst);
bool gridems__instance_closing(const gridems_plugin_t *inst);
/*
 * gridems__instance_hold: held true: the host calls none of inst's own timer, fd and message
 * callbacks (each is dropped, not queued: timers stay armed, fd watches stop polling, messages
 * are not delivered to it), and a finished work item's done_fn waits. held false: they are
 * called again (fd watches poll again) and the waiting done_fns are called now, each with its
 * work's status (GRIDEMS_ECANCELED instead if inst is unloaded while held: done_fn stays
 * exactly once per accepted job). Device calls are not affected (the service's own watch gates
 * those). A new instance starts released. Loop thread.
 */
void gridems__instance_hold(gridems_plugin_t *inst, bool held);
/* How many of the instance's callbacks overran the 5 ms budget of a loop callback. */
uint64_t gridems__instance_overruns(const gridems_plugin_t *inst);
/* gridems__host_foreach_instance: fn(arg, inst) for every loaded instance (unloading ones
 * included), in load order; stops at and returns the first non-zero return of fn. */
int gridems__host_foreach_instance(gridems__host_t *host,
                                   int (*fn)(void *arg, gridems_plugin_t *inst), void *arg);

/* ---- ## Devices: what the service calls ---- */

/*
 * Accessors. The strings are the host's, valid while the device is (until device_removed
 * returns). service_data is the service's own pointer, NULL until it sets one.
 */
gridems_device_id_t gridems__device_id(const gridems__device_t *dev);
const char *gridems__device_name(const gridems__device_t *dev);
const char *gridems__device_label(const gridems__device_t *dev); /* desc.instance, or NULL */
int gridems__device_class(const gridems__device_t *dev);         /* GRIDEMS_DEV_* */
uint32_t gridems__device_read_interval_ms(const gridems__device_t *dev);
gridems_plugin_t *gridems__device_instance(const gridems__device_t *dev);
void *gridems__device_service_data(const gridems__device_t *dev);
void gridems__device_set_service_data(gridems__device_t *dev, void *data);

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
 *   (rate-limited) and GRIDEMS_EPLUGIN returned. out->u.flex.jobs is in the host's layout
 *   (job_size is sizeof(gridems_flex_job_t); the host copies an array of another element size);
 *   the array and its strings are valid until the next call into the device: copy them first.
 * gridems__device_apply_setpoint: sp borrowed; sp->struct_size must be sizeof(gridems_setpoint_t);
 *   the plugin gets a copy with job_size set.
 * gridems__device_on_event: ev borrowed; ev->struct_size must be sizeof(gridems_device_event_t).
 */
int gridems__device_read(gridems__device_t *dev);
int gridems__device_get_capabilities(gridems__device_t *dev, gridems_caps_t *out);
int gridems__device_apply_setpoint(gridems__device_t *dev, const gridems_setpoint_t *sp);
int gridems__device_on_event(gridems__device_t *dev, const gridems_device_event_t *ev);

#endif
