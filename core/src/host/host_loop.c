/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin host's loop services: timers, fd watches and work on the thread pool. Loop thread
 * (work_fn runs on a pool thread). While an instance is held (gridems__instance_hold) its timers
 * stay armed but their callback is skipped, its fd watches stop polling, and a finished work
 * item's done_fn waits for the hold to end (GRIDEMS_ECANCELED if the instance is unloaded
 * first); every callback that runs is reported (gridems__callback_ran).
 */
#include <stdlib.h>

#include "gridems/errors.h"
#include "host_internal.h"

typedef struct plugin_timer_s {
    gridems__link_t link; /* in inst->timers while running */
    gridems_plugin_t *inst;
    gridems_timer_id_t id;
    gridems_timer_t handle; /* on the host's timers: a stepped clock makes them wait for it */
    gridems_timer_fn fn;
    void *arg;
    int repeating;
    int stopped;
} plugin_timer_t;

typedef struct plugin_watch_s {
    gridems__link_t link; /* in inst->watches while active */
    gridems_plugin_t *inst;
    gridems_watch_id_t id;
    int fd;
    uv_poll_t handle;
    gridems_fd_fn fn;
    void *arg;
    int uv_events; /* what uv_poll_start was given, to poll again after a hold */
    int stopped;
} plugin_watch_t;

typedef struct plugin_work_s {
    gridems__link_t link; /* in inst->works until done; then in inst->held_done while held */
    int status;           /* what done_fn is given, once the work has finished */
    gridems_plugin_t *inst;
    gridems_work_id_t id;
    uv_work_t req;
    gridems_work_fn work_fn;
    gridems_done_fn done_fn;
    void *arg;
} plugin_work_t;

/* ---- ## Timers ---- */

static bool timer_id_in_use(gridems_plugin_t *inst, uint32_t id)
{
    for (gridems__link_t *l = inst->timers.next; l != &inst->timers; l = l->next) {
        if (GRIDEMS__CONTAINER_OF(l, plugin_timer_t, link)->id == id) {
            return true;
        }
    }
    return false;
}

static void timer_closed(uv_handle_t *h)
{
    plugin_timer_t *t = h->data;
    gridems_plugin_t *inst = t->inst;
    free(t);
    inst->host->resource_closed(inst);
}

static void timer_close(plugin_timer_t *t)
{
    gridems__list_remove(&t->link);
    t->stopped = 1;
    gridems_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle.uv, timer_closed);
}

static void timer_fired(uv_timer_t *h)
{
    plugin_timer_t *t = h->data;
    gridems_plugin_t *inst = t->inst;
    if (t->stopped || inst->state == GRIDEMS__INST_CLOSING) {
        return;
    }
    /* Held: this tick is dropped (a one-shot is then done); a repeating timer fires again. */
    if (!inst->held) {
        uint64_t t0 = uv_hrtime();
        t->fn(inst, t->id, t->arg);
        gridems__callback_ran(inst, "timer callback", t0);
    }
    /* The record is freed only in its close callback, so it is still valid here even if the
     * callback stopped the timer. */
    if (!t->repeating && !t->stopped) {
        timer_close(t);
    }
}

int gridems__timer_start(gridems_plugin_t *inst, bool host_clock, uint64_t first_ms,
                         uint64_t repeat_ms, gridems_timer_fn fn, void *arg, gridems_timer_id_t *id)
{
    if (fn == NULL || id == NULL ||
        (host_clock && (first_ms > INT64_MAX || repeat_ms > INT64_MAX))) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    plugin_timer_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return GRIDEMS_ENOMEM;
    }
    t->inst = inst;
    t->fn = fn;
    t->arg = arg;
    t->repeating = repeat_ms > 0;
    t->id = gridems__host_alloc_id(inst->host, inst, timer_id_in_use);
    gridems_timer_init(inst->host->timers, &t->handle);
    t->handle.uv.data = t;
    if (host_clock) {
        gridems_timer_start(&t->handle, timer_fired, (int64_t)first_ms, (int64_t)repeat_ms);
    } else {
        /* Real ms on a real or simulated clock; on a stepped clock there is no real time, and
         * they count on the host clock (timers.h). */
        gridems_timer_start_real(&t->handle, timer_fired, first_ms, repeat_ms);
    }
    gridems__list_insert_tail(&inst->timers, &t->link);
    inst->pending++;
    *id = t->id;
    return 0;
}

int gridems__timer_stop(gridems_plugin_t *inst, gridems_timer_id_t id)
{
    for (gridems__link_t *l = inst->timers.next; l != &inst->timers; l = l->next) {
        plugin_timer_t *t = GRIDEMS__CONTAINER_OF(l, plugin_timer_t, link);
        if (t->id == id) {
            timer_close(t);
            return 0;
        }
    }
    return GRIDEMS_ENOENT;
}

/* ---- ## fd watches ---- */

static bool watch_id_in_use(gridems_plugin_t *inst, uint32_t id)
{
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        if (GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link)->id == id) {
            return true;
        }
    }
    return false;
}

static void watch_closed(uv_handle_t *h)
{
    plugin_watch_t *w = h->data;
    gridems_plugin_t *inst = w->inst;
    free(w);
    inst->host->resource_closed(inst);
}

static void watch_close(plugin_watch_t *w)
{
    gridems__list_remove(&w->link);
    w->stopped = 1;
    uv_close((uv_handle_t *)&w->handle, watch_closed);
}

static void watch_ready(uv_poll_t *h, int status, int events)
{
    plugin_watch_t *w = h->data;
    gridems_plugin_t *inst = w->inst;
    if (w->stopped || inst->state == GRIDEMS__INST_CLOSING || inst->held) {
        return;
    }
    int ev = 0;
    if (status >= 0) {
        ev |= (events & UV_READABLE) ? GRIDEMS_FD_READABLE : 0;
        ev |= (events & UV_WRITABLE) ? GRIDEMS_FD_WRITABLE : 0;
    }
    uint64_t t0 = uv_hrtime();
    w->fn(inst, w->fd, status < 0 ? status : 0, ev, w->arg);
    gridems__callback_ran(inst, "fd callback", t0);
}

int gridems__watch_fd(gridems_plugin_t *inst, int fd, int events, gridems_fd_fn fn, void *arg,
                      gridems_watch_id_t *id)
{
    if (fd < 0 || fn == NULL || id == NULL || events == 0 ||
        (events & ~(GRIDEMS_FD_READABLE | GRIDEMS_FD_WRITABLE)) != 0) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        if (GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link)->fd == fd) {
            return GRIDEMS_EEXIST;
        }
    }
    plugin_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return GRIDEMS_ENOMEM;
    }
    w->inst = inst;
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    int rc = uv_poll_init(inst->host->loop, &w->handle, fd);
    if (rc < 0) {
        free(w); /* a handle whose init failed was never registered with the loop */
        return rc;
    }
    w->handle.data = w;
    w->id = gridems__host_alloc_id(inst->host, inst, watch_id_in_use);
    gridems__list_insert_tail(&inst->watches, &w->link);
    inst->pending++;
    w->uv_events = ((events & GRIDEMS_FD_READABLE) ? UV_READABLE : 0) |
                   ((events & GRIDEMS_FD_WRITABLE) ? UV_WRITABLE : 0);
    rc = inst->held ? 0 : uv_poll_start(&w->handle, w->uv_events, watch_ready);
    if (rc < 0) {
        watch_close(w);
        return rc;
    }
    *id = w->id;
    return 0;
}

int gridems__unwatch_fd(gridems_plugin_t *inst, gridems_watch_id_t id)
{
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        plugin_watch_t *w = GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link);
        if (w->id == id) {
            uv_poll_stop(&w->handle);
            watch_close(w);
            return 0;
        }
    }
    return GRIDEMS_ENOENT;
}

/* ---- ## Work on the thread pool ---- */

static bool work_id_in_use(gridems_plugin_t *inst, uint32_t id)
{
    for (gridems__link_t *l = inst->works.next; l != &inst->works; l = l->next) {
        if (GRIDEMS__CONTAINER_OF(l, plugin_work_t, link)->id == id) {
            return true;
        }
    }
    return false;
}

static void work_run(uv_work_t *req)
{
    plugin_work_t *w = req->data;
    w->work_fn(w->inst, w->arg);
}

/* Call w's done_fn with its status and let go of it (its share of inst->pending too). */
static void deliver_done(gridems_plugin_t *inst, plugin_work_t *w)
{
    uint64_t t0 = uv_hrtime();
    w->done_fn(inst, w->status, w->arg);
    gridems__callback_ran(inst, "work done callback", t0);
    free(w);
    inst->host->resource_closed(inst);
}

void gridems__loop_deliver_held(gridems_plugin_t *inst)
{
    while (!gridems__list_empty(&inst->held_done)) {
        plugin_work_t *w = GRIDEMS__CONTAINER_OF(inst->held_done.next, plugin_work_t, link);
        gridems__list_remove(&w->link);
        if (inst->state == GRIDEMS__INST_CLOSING) {
            w->status = GRIDEMS_ECANCELED;
        }
        deliver_done(inst, w);
    }
}

static void work_after(uv_work_t *req, int status)
{
    plugin_work_t *w = req->data;
    gridems_plugin_t *inst = w->inst;
    gridems__list_remove(&w->link);
    bool closing = inst->state == GRIDEMS__INST_CLOSING;
    w->status = (status < 0 || closing) ? GRIDEMS_ECANCELED : 0;
    /* Held: the result waits, and the plugin hears it when the hold ends (or GRIDEMS_ECANCELED
     * when it is unloaded first), so it never loses track of its work nor leaks arg. An
     * unloading instance gets its GRIDEMS_ECANCELED now, held or not: cleanup() follows. */
    if (inst->held && !closing) {
        gridems__list_insert_tail(&inst->held_done, &w->link);
        return;
    }
    deliver_done(inst, w);
}

int gridems__work_submit(gridems_plugin_t *inst, gridems_work_fn work_fn, gridems_done_fn done_fn,
                         void *arg, gridems_work_id_t *id)
{
    if (work_fn == NULL || done_fn == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    plugin_work_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return GRIDEMS_ENOMEM;
    }
    w->inst = inst;
    w->work_fn = work_fn;
    w->done_fn = done_fn;
    w->arg = arg;
    w->req.data = w;
    w->id = gridems__host_alloc_id(inst->host, inst, work_id_in_use);
    int rc = uv_queue_work(inst->host->loop, &w->req, work_run, work_after);
    if (rc < 0) {
        free(w);
        return rc;
    }
    gridems__list_insert_tail(&inst->works, &w->link);
    inst->pending++;
    if (id != NULL) {
        *id = w->id;
    }
    return 0;
}

int gridems__work_cancel(gridems_plugin_t *inst, gridems_work_id_t id)
{
    for (gridems__link_t *l = inst->works.next; l != &inst->works; l = l->next) {
        plugin_work_t *w = GRIDEMS__CONTAINER_OF(l, plugin_work_t, link);
        if (w->id == id) {
            /* 0: it had not started, and work_after comes from the loop with UV_ECANCELED.
             * Otherwise it is running (or finished, its done_fn not yet run). */
            return uv_cancel((uv_req_t *)&w->req) == 0 ? 0 : GRIDEMS_EAGAIN;
        }
    }
    return GRIDEMS_ENOENT;
}

/* ---- ## Teardown ---- */

void gridems__loop_drain(gridems_plugin_t *inst)
{
    /* Stop polling first: destroy() may close the fds, and an fd must not be closed while the
     * loop still polls it. */
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        uv_poll_stop(&GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link)->handle);
    }
    /* Queued work is cancelled; running work finishes. Either way its done_fn runs from the
     * loop with GRIDEMS_ECANCELED (work_after), and the last one continues the teardown. */
    for (gridems__link_t *l = inst->works.next; l != &inst->works; l = l->next) {
        uv_cancel((uv_req_t *)&GRIDEMS__CONTAINER_OF(l, plugin_work_t, link)->req);
    }
    /* Work that finished while the instance was held is told now, cancelled. */
    gridems__loop_deliver_held(inst);
}

void gridems__loop_poll_all(gridems_plugin_t *inst, bool on)
{
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        plugin_watch_t *w = GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link);
        if (!on) {
            uv_poll_stop(&w->handle);
        } else if (uv_poll_start(&w->handle, w->uv_events, watch_ready) < 0) {
            /* Not expected for a handle that polled before (the ABI keeps a watched fd open);
             * were it to happen, the plugin would hear nothing more from that fd. */
            gridems__log(inst, GRIDEMS_LOG_WARNING, "fd %d cannot be polled again after a hold",
                         w->fd);
        }
    }
}

void gridems__loop_close_all(gridems_plugin_t *inst)
{
    while (!gridems__list_empty(&inst->timers)) {
        timer_close(GRIDEMS__CONTAINER_OF(inst->timers.next, plugin_timer_t, link));
    }
    while (!gridems__list_empty(&inst->watches)) {
        watch_close(GRIDEMS__CONTAINER_OF(inst->watches.next, plugin_watch_t, link));
    }
}
