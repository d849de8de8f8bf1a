/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin host: the host itself, the instance lifecycle, the live-instance table, the hold of
 * a stuck instance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "host_internal.h"

/* The teardown's steps (## Instances, below). */
static void instance_release(gridems_plugin_t *inst); /* destroy, cleanup, close handles */
static void instance_maybe_finish(gridems_plugin_t *inst);
/* A handle or work item of inst finished closing: count it, continue the teardown. */
static void instance_handle_closed(gridems_plugin_t *inst);

/* ---- ## The live-instance table ---- */

/* Every instance between gridems__instance_init and its last step, across hosts. Every plugin
 * handle the API table is given is checked against it; the log entries may do so from pool
 * threads, hence the lock. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static gridems__link_t live_instances = {&live_instances, &live_instances};

gridems_plugin_t *gridems__instance_lookup(const gridems_plugin_t *p)
{
    if (p == NULL) {
        return NULL;
    }
    gridems_plugin_t *found = NULL;
    pthread_mutex_lock(&live_lock);
    for (gridems__link_t *l = live_instances.next; l != &live_instances; l = l->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, live);
        if (inst == p) {
            found = inst;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
    return found;
}

gridems_plugin_t *gridems__config_lookup(const gridems_config_t *p)
{
    if (p == NULL) {
        return NULL;
    }
    gridems_plugin_t *found = NULL;
    pthread_mutex_lock(&live_lock);
    for (gridems__link_t *l = live_instances.next; l != &live_instances; l = l->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, live);
        if (&inst->cfg == p) {
            found = inst;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
    return found;
}

/* ---- ## The hold of a stuck instance ---- */

void gridems__instance_hold(gridems_plugin_t *inst, bool held)
{
    if (inst->held == (int)held) {
        return;
    }
    inst->held = held;
    /* A readable fd whose callback is skipped would wake the loop on every turn. A closing
     * instance's watches are stopped by its drain and stay so. */
    if (inst->state != GRIDEMS__INST_CLOSING) {
        gridems__loop_poll_all(inst, !held);
    }
    if (!held) {
        gridems__loop_deliver_held(inst); /* the work that finished meanwhile */
    }
}

const gridems_host_api_t *gridems__host_api(void)
{
    return gridems__abi_v1.api;
}

/* ---- ## The host ---- */

int gridems__host_create(uv_loop_t *loop, const gridems__host_services_t *services,
                         gridems__host_t **out)
{
    gridems__host_t *host = calloc(1, sizeof *host);
    if (host == NULL) {
        return GRIDEMS_ENOMEM;
    }
    host->loop = loop;
    if (services != NULL) {
        host->services = *services;
    }
    host->resource_closed = instance_handle_closed;
    gridems__list_init(&host->instances);
    gridems__list_init(&host->subs);
    host->timers = host->services.timers;
    if (host->timers == NULL) {
        gridems_clock_init(&host->own_clock, GRIDEMS_CLOCK_REAL, 0, 1.0);
        gridems_timers_init(&host->own_timers, loop, &host->own_clock);
        host->timers = &host->own_timers;
    }
    *out = host;
    return 0;
}

int gridems__host_destroy(gridems__host_t *host)
{
    if (host == NULL) {
        return 0;
    }
    if (!gridems__list_empty(&host->instances)) {
        return GRIDEMS_ESTATE;
    }
    /* Every live subscription belonged to an instance, so only swept-later entries remain. */
    gridems__mqtt_sweep(host);
    free(host);
    return 0;
}

size_t gridems__host_instance_count(const gridems__host_t *host)
{
    size_t n = 0;
    for (const gridems__link_t *l = host->instances.next; l != &host->instances; l = l->next) {
        n++;
    }
    return n;
}

gridems_plugin_t *gridems__host_find_instance(gridems__host_t *host, const char *name)
{
    for (gridems__link_t *l = host->instances.next; l != &host->instances; l = l->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_CLOSING && strcmp(inst->name, name) == 0) {
            return inst;
        }
    }
    return NULL;
}

const char *gridems__instance_name(const gridems_plugin_t *inst)
{
    return inst->name;
}

bool gridems__instance_closing(const gridems_plugin_t *inst)
{
    return inst->state == GRIDEMS__INST_CLOSING;
}

uint64_t gridems__instance_overruns(const gridems_plugin_t *inst)
{
    return inst->overruns;
}

int gridems__host_foreach_instance(gridems__host_t *host,
                                   int (*fn)(void *arg, gridems_plugin_t *inst), void *arg)
{
    for (gridems__link_t *l = host->instances.next; l != &host->instances; l = l->next) {
        int rc = fn(arg, GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, link));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

typedef struct deferred_s {
    uv_idle_t idle;
    gridems__done_cb cb;
    void *arg;
} deferred_t;

static void deferred_closed(uv_handle_t *h)
{
    deferred_t *d = h->data;
    gridems__done_cb cb = d->cb;
    void *arg = d->arg;
    free(d);
    cb(arg);
}

static void deferred_run(uv_idle_t *idle)
{
    uv_idle_stop(idle);
    uv_close((uv_handle_t *)idle, deferred_closed);
}

int gridems__host_unload_all(gridems__host_t *host, gridems__done_cb cb, void *arg)
{
    if (cb == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (host->all_closed_cb != NULL) {
        return GRIDEMS_ESTATE;
    }
    if (gridems__list_empty(&host->instances)) {
        /* Nothing to wait for, but the callback must still come from the loop, not from here. */
        deferred_t *d = calloc(1, sizeof *d);
        if (d == NULL) {
            return GRIDEMS_ENOMEM;
        }
        d->cb = cb;
        d->arg = arg;
        uv_idle_init(host->loop, &d->idle);
        d->idle.data = d;
        uv_idle_start(&d->idle, deferred_run);
        return 0;
    }
    host->all_closed_cb = cb;
    host->all_closed_arg = arg;
    for (gridems__link_t *l = host->instances.next; l != &host->instances; l = l->next) {
        gridems__instance_shutdown(GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, link));
    }
    return 0;
}

/* ---- ## Instances ---- */

int gridems__instance_init(gridems_plugin_t *inst, gridems__host_t *host, const char *name,
                           const char *plugin_name)
{
    inst->host = host;
    inst->state = GRIDEMS__INST_LOADING;
    snprintf(inst->prefix, sizeof inst->prefix, "[%s:%s]", plugin_name, name);
    gridems__list_init(&inst->link);
    gridems__list_init(&inst->devices);
    gridems__list_init(&inst->timers);
    gridems__list_init(&inst->watches);
    gridems__list_init(&inst->works);
    gridems__list_init(&inst->held_done);
    if (pthread_mutex_init(&inst->log_lock, NULL) != 0) {
        return GRIDEMS_ENOMEM;
    }
    if (uv_idle_init(host->loop, &inst->anchor) < 0) {
        pthread_mutex_destroy(&inst->log_lock);
        return GRIDEMS_ENOMEM;
    }
    if (uv_idle_init(host->loop, &inst->later) < 0) {
        /* The anchor was registered with the loop: it can only go through uv_close, which the
         * loader's caller cannot wait for here. Both inits only fail on a broken loop. */
        pthread_mutex_destroy(&inst->log_lock);
        return GRIDEMS_ENOMEM;
    }
    inst->anchor.data = inst;
    inst->later.data = inst;
    inst->pending = 2; /* the anchor and `later` */
    gridems__list_insert_tail(&host->instances, &inst->link);
    pthread_mutex_lock(&live_lock);
    gridems__list_insert_tail(&live_instances, &inst->live);
    pthread_mutex_unlock(&live_lock);
    return 0;
}

void gridems__instance_activate(gridems_plugin_t *inst)
{
    inst->state = GRIDEMS__INST_ACTIVE;
    gridems__devices_announce_all(inst);
}

static void instance_handle_closed(gridems_plugin_t *inst)
{
    inst->pending--;
    if (inst->draining && !inst->teardown && gridems__list_empty(&inst->works)) {
        instance_release(inst);
    }
    instance_maybe_finish(inst);
}

static void later_closed(uv_handle_t *h)
{
    instance_handle_closed(h->data);
}

/*
 * The teardown proper, in two steps, both from loop callbacks so that neither ever runs inside a
 * plugin callback that happens to be on the stack when the service decides to unload.
 *
 * drain (from the anchor's close callback): stop fd watches and cancel queued work. Work that is
 * already running on a pool thread cannot be stopped, and its work_fn may use the plugin's state,
 * so the devices are destroyed (release) only once every done_fn has run.
 */
static void instance_release(gridems_plugin_t *inst)
{
    inst->teardown = 1; /* first: the handle closes below must not release again */
    gridems__devices_destroy_all(inst);
    if (inst->init_called && inst->cleanup_fn != NULL) {
        uint64_t t0 = uv_hrtime();
        inst->cleanup_fn(inst, inst->userdata);
        gridems__check_budget(inst, "gridems_plugin_cleanup", t0);
    }
    inst->userdata = NULL;
    gridems__loop_close_all(inst);
    uv_idle_stop(&inst->later);
    uv_close((uv_handle_t *)&inst->later, later_closed);
    gridems__mqtt_drop_instance(inst);
}

static void anchor_closed(uv_handle_t *h)
{
    gridems_plugin_t *inst = h->data;
    gridems__loop_drain(inst);
    inst->draining = 1;
    if (gridems__list_empty(&inst->works)) {
        instance_release(inst);
    }
    inst->pending--;
    instance_maybe_finish(inst);
}

void gridems__instance_shutdown(gridems_plugin_t *inst)
{
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return;
    }
    inst->state = GRIDEMS__INST_CLOSING;
    gridems__devices_withdraw_all(inst);
    uv_close((uv_handle_t *)&inst->anchor, anchor_closed);
}

static void instance_maybe_finish(gridems_plugin_t *inst)
{
    if (inst->state != GRIDEMS__INST_CLOSING || !inst->teardown || inst->pending > 0) {
        return;
    }
    gridems__host_t *host = inst->host;
    gridems__list_remove(&inst->link);
    pthread_mutex_lock(&live_lock);
    gridems__list_remove(&inst->live);
    pthread_mutex_unlock(&live_lock);
    gridems__devices_free_all(inst);
    if (inst->log_dropped > 0) {
        gridems_log_notice("%s %llu log lines were dropped by the rate limit", inst->prefix,
                           (unsigned long long)inst->log_dropped);
    }
    pthread_mutex_destroy(&inst->log_lock);
    if (inst->on_closed != NULL) {
        inst->on_closed(inst); /* dlclose: no handle or work of the plugin is left */
    }
    if (host->all_closed_cb != NULL && gridems__list_empty(&host->instances)) {
        gridems__done_cb cb = host->all_closed_cb;
        void *arg = host->all_closed_arg;
        host->all_closed_cb = NULL;
        host->all_closed_arg = NULL;
        cb(arg);
    }
}
