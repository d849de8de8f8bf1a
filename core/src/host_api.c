/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The host API table over a libuv loop, and the service's calls into plugin devices. */
#include "host_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridems/errors.h"

/* The per-call budget of a plugin callback on the loop thread (gridems/plugin.h). */
#define CALLBACK_BUDGET_NS UINT64_C(5000000)
/* Plugin log lines allowed per instance and second before lines are dropped and counted. */
#define LOG_LINES_PER_SECOND 100
/* Largest number of flexible jobs one device may report. */
#define MAX_FLEX_JOBS 100000u

/* ---- ## Records of what a plugin registered ---- */

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
    int stopped;
} plugin_watch_t;

typedef struct plugin_work_s {
    gridems__link_t link; /* in inst->works until done */
    gridems_plugin_t *inst;
    uv_work_t req;
    gridems_work_fn work_fn;
    gridems_done_fn done_fn;
    void *arg;
} plugin_work_t;

typedef struct plugin_sub_s {
    gridems__link_t link; /* in host->subs */
    gridems_plugin_t *inst;
    char *filter;
    gridems_message_fn fn;
    void *arg;
    int dead; /* unsubscribed; unlinked once no delivery is on the stack */
} plugin_sub_t;

static void maybe_finish(gridems_plugin_t *inst);
static void release(gridems_plugin_t *inst);

/* ---- ## Small helpers ---- */

static uint32_t next_id(gridems__host_t *host)
{
    host->next_id++;
    if (host->next_id == 0) {
        host->next_id = 1;
    }
    return host->next_id;
}

static uint64_t monotonic_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Warn (rate-limited) when one plugin callback overran the loop budget. */
static void check_budget(gridems_plugin_t *inst, const char *what, uint64_t start_ns)
{
    uint64_t spent = uv_hrtime() - start_ns;
    if (spent > CALLBACK_BUDGET_NS) {
        inst->overruns++;
        gridems_log_complain(&inst->slow, GRIDEMS_LOG_WARNING,
                             "%s %s took %.1f ms, over the 5 ms budget of a loop callback "
                             "(blocking I/O belongs in queue_work)",
                             inst->prefix, what, (double)spent / 1e6);
    }
}

bool gridems__ident_valid(const char *s)
{
    if (s == NULL) {
        return false;
    }
    size_t n = strlen(s);
    if (n == 0 || n >= GRIDEMS__IDENT_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---- ## The host ---- */

void gridems__host_init(gridems__host_t *host, uv_loop_t *loop,
                        const gridems__host_services_t *services)
{
    memset(host, 0, sizeof *host);
    host->loop = loop;
    if (services != NULL) {
        host->services = *services;
    }
    gridems__list_init(&host->instances);
    gridems__list_init(&host->subs);
    host->timers = host->services.timers;
    if (host->timers == NULL) {
        gridems_clock_init(&host->own_clock, GRIDEMS_CLOCK_REAL, 0, 1.0);
        gridems_timers_init(&host->own_timers, loop, &host->own_clock);
        host->timers = &host->own_timers;
    }
}

static void sweep_subs(gridems__host_t *host)
{
    gridems__link_t *l = host->subs.next;
    while (l != &host->subs) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        l = l->next;
        if (s->dead) {
            gridems__list_remove(&s->link);
            free(s->filter);
            free(s);
        }
    }
    host->subs_dirty = 0;
}

int gridems__host_close(gridems__host_t *host)
{
    if (!gridems__list_empty(&host->instances)) {
        return GRIDEMS_ESTATE;
    }
    /* Every live subscription belonged to an instance, so only swept-later entries remain. */
    sweep_subs(host);
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
    if (pthread_mutex_init(&inst->log_lock, NULL) != 0) {
        return GRIDEMS_ENOMEM;
    }
    int rc = uv_idle_init(host->loop, &inst->anchor);
    if (rc < 0) {
        pthread_mutex_destroy(&inst->log_lock);
        return GRIDEMS_ENOMEM;
    }
    inst->anchor.data = inst;
    inst->pending = 1;
    gridems__list_insert_tail(&host->instances, &inst->link);
    return 0;
}

static void announce(gridems__device_t *dev)
{
    gridems__host_t *host = dev->inst->host;
    dev->announced = 1;
    if (host->services.device_added != NULL) {
        host->services.device_added(host->services.ctx, dev);
    }
}

void gridems__instance_activate(gridems_plugin_t *inst)
{
    inst->state = GRIDEMS__INST_ACTIVE;
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        announce(GRIDEMS__CONTAINER_OF(l, gridems__device_t, link));
    }
}

static void timer_closed(uv_handle_t *h)
{
    plugin_timer_t *t = h->data;
    gridems_plugin_t *inst = t->inst;
    free(t);
    inst->pending--;
    maybe_finish(inst);
}

static void timer_close(plugin_timer_t *t)
{
    gridems__list_remove(&t->link);
    t->stopped = 1;
    gridems_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle.uv, timer_closed);
}

static void watch_closed(uv_handle_t *h)
{
    plugin_watch_t *w = h->data;
    gridems_plugin_t *inst = w->inst;
    free(w);
    inst->pending--;
    if (inst->draining && !inst->teardown && gridems__list_empty(&inst->works)) {
        release(inst);
    }
    maybe_finish(inst);
}

static void watch_close(plugin_watch_t *w)
{
    gridems__list_remove(&w->link);
    w->stopped = 1;
    uv_close((uv_handle_t *)&w->handle, watch_closed);
}

static bool filter_in_use(gridems__host_t *host, const char *filter)
{
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && strcmp(s->filter, filter) == 0) {
            return true;
        }
    }
    return false;
}

static void sub_remove(gridems__host_t *host, plugin_sub_t *s)
{
    s->dead = 1;
    if (!filter_in_use(host, s->filter) && host->services.unsubscribe != NULL) {
        host->services.unsubscribe(host->services.ctx, s->filter);
    }
    if (host->delivering > 0) {
        host->subs_dirty = 1; /* a delivery loop may be standing on this entry */
    } else {
        gridems__list_remove(&s->link);
        free(s->filter);
        free(s);
    }
}

/*
 * The teardown proper, in two steps, both from loop callbacks so that neither ever runs inside a
 * plugin callback that happens to be on the stack when the service decides to unload.
 *
 * drain (from the anchor's close callback): stop fd watches and cancel queued work. Work that is
 * already running on a pool thread cannot be stopped, and its work_fn may use the plugin's state,
 * so the devices are destroyed only once every done_fn has run.
 */
static void release(gridems_plugin_t *inst)
{
    gridems__host_t *host = inst->host;
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
        if (!dev->destroyed) {
            dev->destroyed = 1;
            if (dev->desc.destroy != NULL) {
                uint64_t t0 = uv_hrtime();
                dev->desc.destroy(dev->id, dev->userdata);
                check_budget(inst, "destroy", t0);
            }
            dev->userdata = NULL;
        }
    }
    if (inst->init_called && inst->cleanup_fn != NULL) {
        uint64_t t0 = uv_hrtime();
        inst->cleanup_fn(inst, inst->userdata);
        check_budget(inst, "gridems_plugin_cleanup", t0);
    }
    inst->userdata = NULL;
    while (!gridems__list_empty(&inst->timers)) {
        timer_close(GRIDEMS__CONTAINER_OF(inst->timers.next, plugin_timer_t, link));
    }
    while (!gridems__list_empty(&inst->watches)) {
        watch_close(GRIDEMS__CONTAINER_OF(inst->watches.next, plugin_watch_t, link));
    }
    for (gridems__link_t *l = host->subs.next; l != &host->subs;) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        l = l->next; /* sub_remove may unlink s */
        if (s->inst == inst && !s->dead) {
            sub_remove(host, s);
        }
    }
    inst->teardown = 1;
}

static void drain(gridems_plugin_t *inst)
{
    /* Stop polling first: destroy() may close the fds, and an fd must not be closed while the
     * loop still polls it. */
    for (gridems__link_t *l = inst->watches.next; l != &inst->watches; l = l->next) {
        uv_poll_stop(&GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link)->handle);
    }
    /* Queued work is cancelled; running work finishes. Either way its done_fn runs from the
     * loop with GRIDEMS_ECANCELED (work_after), and the last one continues with release(). */
    for (gridems__link_t *l = inst->works.next; l != &inst->works; l = l->next) {
        uv_cancel((uv_req_t *)&GRIDEMS__CONTAINER_OF(l, plugin_work_t, link)->req);
    }
    inst->draining = 1;
    if (gridems__list_empty(&inst->works)) {
        release(inst);
    }
}

static void anchor_closed(uv_handle_t *h)
{
    gridems_plugin_t *inst = h->data;
    drain(inst);
    inst->pending--;
    maybe_finish(inst);
}

void gridems__instance_shutdown(gridems_plugin_t *inst)
{
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return;
    }
    inst->state = GRIDEMS__INST_CLOSING;
    gridems__host_t *host = inst->host;
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
        if (dev->announced) {
            dev->announced = 0;
            if (host->services.device_removed != NULL) {
                host->services.device_removed(host->services.ctx, dev);
            }
        }
    }
    uv_close((uv_handle_t *)&inst->anchor, anchor_closed);
}

static void maybe_finish(gridems_plugin_t *inst)
{
    if (inst->state != GRIDEMS__INST_CLOSING || !inst->teardown || inst->pending > 0) {
        return;
    }
    gridems__host_t *host = inst->host;
    gridems__list_remove(&inst->link);
    while (!gridems__list_empty(&inst->devices)) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(inst->devices.next, gridems__device_t, link);
        gridems__list_remove(&dev->link);
        free((char *)dev->desc.name);
        free((char *)dev->desc.instance);
        free(dev);
    }
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

/* ---- ## API: logging ---- */

static void api_vlog(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void api_log(gridems_plugin_t *self, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void api_vlog(gridems_plugin_t *self, int level, const char *fmt, va_list ap)
{
    if (level < GRIDEMS_LOG_ERR) {
        level = GRIDEMS_LOG_ERR;
    } else if (level > GRIDEMS_LOG_DEBUG) {
        level = GRIDEMS_LOG_DEBUG;
    }
    if (level > (int)gridems_log_get_level() || fmt == NULL) {
        return;
    }
    const char *prefix = self != NULL ? self->prefix : "[plugin]";
    if (self != NULL) {
        uint64_t now = monotonic_ms();
        uint64_t dropped = 0;
        int drop = 0;
        pthread_mutex_lock(&self->log_lock);
        if (now - self->log_window_ms >= 1000) {
            dropped = self->log_dropped;
            self->log_dropped = 0;
            self->log_window_ms = now;
            self->log_lines = 0;
        }
        if (self->log_lines >= LOG_LINES_PER_SECOND) {
            self->log_dropped++;
            drop = 1;
        } else {
            self->log_lines++;
        }
        pthread_mutex_unlock(&self->log_lock);
        if (dropped > 0) {
            gridems_log_warn("%s %llu log lines dropped by the rate limit", prefix,
                             (unsigned long long)dropped);
        }
        if (drop) {
            return;
        }
    }
    char text[1536];
    vsnprintf(text, sizeof text, fmt, ap);
    gridems_log((gridems_log_level_t)level, "%s %s", prefix, text);
}

static void api_log(gridems_plugin_t *self, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_vlog(self, level, fmt, ap);
    va_end(ap);
}

/* ---- ## API: configuration ---- */

static gridems__optval_t *find_option(const gridems_config_t *cfg, const char *key)
{
    if (cfg == NULL || key == NULL) {
        return NULL;
    }
    gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(cfg, gridems_plugin_t, cfg);
    for (size_t i = 0; i < inst->n_opts; i++) {
        if (strcmp(inst->opts[i].opt.key, key) == 0) {
            return &inst->opts[i];
        }
    }
    return NULL;
}

static int api_config_get_string(const gridems_config_t *cfg, const char *key, const char **out)
{
    gridems__optval_t *o = find_option(cfg, key);
    if (o == NULL || out == NULL || o->opt.type != GRIDEMS_OPT_STRING) {
        return GRIDEMS_EINVAL;
    }
    if (!o->set) {
        return GRIDEMS_ENOENT;
    }
    *out = o->v.s;
    return 0;
}

static int api_config_get_int(const gridems_config_t *cfg, const char *key, int64_t *out)
{
    gridems__optval_t *o = find_option(cfg, key);
    if (o == NULL || out == NULL || o->opt.type != GRIDEMS_OPT_INT) {
        return GRIDEMS_EINVAL;
    }
    if (!o->set) {
        return GRIDEMS_ENOENT;
    }
    *out = o->v.i;
    return 0;
}

static int api_config_get_double(const gridems_config_t *cfg, const char *key, double *out)
{
    gridems__optval_t *o = find_option(cfg, key);
    if (o == NULL || out == NULL ||
        (o->opt.type != GRIDEMS_OPT_DOUBLE && o->opt.type != GRIDEMS_OPT_INT)) {
        return GRIDEMS_EINVAL;
    }
    if (!o->set) {
        return GRIDEMS_ENOENT;
    }
    *out = o->opt.type == GRIDEMS_OPT_INT ? (double)o->v.i : o->v.d;
    return 0;
}

static int api_config_get_bool(const gridems_config_t *cfg, const char *key, int *out)
{
    gridems__optval_t *o = find_option(cfg, key);
    if (o == NULL || out == NULL || o->opt.type != GRIDEMS_OPT_BOOL) {
        return GRIDEMS_EINVAL;
    }
    if (!o->set) {
        return GRIDEMS_ENOENT;
    }
    *out = o->v.b;
    return 0;
}

/* ---- ## API: timers ---- */

static void timer_fired(uv_timer_t *h)
{
    plugin_timer_t *t = h->data;
    gridems_plugin_t *inst = t->inst;
    if (t->stopped || inst->state == GRIDEMS__INST_CLOSING) {
        return;
    }
    uint64_t t0 = uv_hrtime();
    t->fn(inst, t->id, t->arg);
    check_budget(inst, "timer callback", t0);
    /* The record is freed only in its close callback, so it is still valid here even if the
     * callback stopped the timer. */
    if (!t->repeating && !t->stopped) {
        timer_close(t);
    }
}

static int api_timer_start(gridems_plugin_t *self, uint64_t first_ms, uint64_t repeat_ms,
                           gridems_timer_fn fn, void *arg, gridems_timer_id_t *id)
{
    if (self == NULL || fn == NULL || id == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    plugin_timer_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return GRIDEMS_ENOMEM;
    }
    t->inst = self;
    t->fn = fn;
    t->arg = arg;
    t->repeating = repeat_ms > 0;
    t->id = next_id(self->host);
    gridems_timer_init(self->host->timers, &t->handle);
    t->handle.uv.data = t;
    /* The ABI counts these in real ms; on a stepped clock there is no real time, and they
     * count on the host clock (timers.h). */
    gridems_timer_start_real(&t->handle, timer_fired, first_ms, repeat_ms);
    gridems__list_insert_tail(&self->timers, &t->link);
    self->pending++;
    *id = t->id;
    return 0;
}

static int api_timer_stop(gridems_plugin_t *self, gridems_timer_id_t id)
{
    if (self == NULL) {
        return GRIDEMS_EINVAL;
    }
    for (gridems__link_t *l = self->timers.next; l != &self->timers; l = l->next) {
        plugin_timer_t *t = GRIDEMS__CONTAINER_OF(l, plugin_timer_t, link);
        if (t->id == id) {
            timer_close(t);
            return 0;
        }
    }
    return GRIDEMS_ENOENT;
}

/* ---- ## API: fd watches ---- */

static void watch_ready(uv_poll_t *h, int status, int events)
{
    plugin_watch_t *w = h->data;
    gridems_plugin_t *inst = w->inst;
    if (w->stopped || inst->state == GRIDEMS__INST_CLOSING) {
        return;
    }
    int ev = 0;
    if (status >= 0) {
        ev |= (events & UV_READABLE) ? GRIDEMS_FD_READABLE : 0;
        ev |= (events & UV_WRITABLE) ? GRIDEMS_FD_WRITABLE : 0;
    }
    uint64_t t0 = uv_hrtime();
    w->fn(inst, w->fd, status < 0 ? status : 0, ev, w->arg);
    check_budget(inst, "fd callback", t0);
}

static int api_watch_fd(gridems_plugin_t *self, int fd, int events, gridems_fd_fn fn, void *arg,
                        gridems_watch_id_t *id)
{
    if (self == NULL || fd < 0 || fn == NULL || id == NULL || events == 0 ||
        (events & ~(GRIDEMS_FD_READABLE | GRIDEMS_FD_WRITABLE)) != 0) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    for (gridems__link_t *l = self->watches.next; l != &self->watches; l = l->next) {
        if (GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link)->fd == fd) {
            return GRIDEMS_EEXIST;
        }
    }
    plugin_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return GRIDEMS_ENOMEM;
    }
    w->inst = self;
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    int rc = uv_poll_init(self->host->loop, &w->handle, fd);
    if (rc < 0) {
        free(w); /* a handle whose init failed was never registered with the loop */
        return rc;
    }
    w->handle.data = w;
    gridems__list_insert_tail(&self->watches, &w->link);
    self->pending++;
    int uv_events = ((events & GRIDEMS_FD_READABLE) ? UV_READABLE : 0) |
                    ((events & GRIDEMS_FD_WRITABLE) ? UV_WRITABLE : 0);
    rc = uv_poll_start(&w->handle, uv_events, watch_ready);
    if (rc < 0) {
        watch_close(w);
        return rc;
    }
    w->id = next_id(self->host);
    *id = w->id;
    return 0;
}

static int api_unwatch_fd(gridems_plugin_t *self, gridems_watch_id_t id)
{
    if (self == NULL) {
        return GRIDEMS_EINVAL;
    }
    for (gridems__link_t *l = self->watches.next; l != &self->watches; l = l->next) {
        plugin_watch_t *w = GRIDEMS__CONTAINER_OF(l, plugin_watch_t, link);
        if (w->id == id) {
            uv_poll_stop(&w->handle);
            watch_close(w);
            return 0;
        }
    }
    return GRIDEMS_ENOENT;
}

/* ---- ## API: work on the thread pool ---- */

static void work_run(uv_work_t *req)
{
    plugin_work_t *w = req->data;
    w->work_fn(w->inst, w->arg);
}

static void work_after(uv_work_t *req, int status)
{
    plugin_work_t *w = req->data;
    gridems_plugin_t *inst = w->inst;
    gridems__list_remove(&w->link);
    int st = (status < 0 || inst->state == GRIDEMS__INST_CLOSING) ? GRIDEMS_ECANCELED : 0;
    uint64_t t0 = uv_hrtime();
    w->done_fn(inst, st, w->arg);
    check_budget(inst, "work done callback", t0);
    free(w);
    inst->pending--;
    if (inst->draining && !inst->teardown && gridems__list_empty(&inst->works)) {
        release(inst);
    }
    maybe_finish(inst);
}

static int api_queue_work(gridems_plugin_t *self, gridems_work_fn work_fn, gridems_done_fn done_fn,
                          void *arg)
{
    if (self == NULL || work_fn == NULL || done_fn == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    plugin_work_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return GRIDEMS_ENOMEM;
    }
    w->inst = self;
    w->work_fn = work_fn;
    w->done_fn = done_fn;
    w->arg = arg;
    w->req.data = w;
    int rc = uv_queue_work(self->host->loop, &w->req, work_run, work_after);
    if (rc < 0) {
        free(w);
        return rc;
    }
    gridems__list_insert_tail(&self->works, &w->link);
    self->pending++;
    return 0;
}

/* ---- ## MQTT: topics ---- */

bool gridems__topic_name_valid(const char *topic)
{
    if (topic == NULL || topic[0] == '\0') {
        return false;
    }
    size_t n = strlen(topic);
    return n <= GRIDEMS__TOPIC_MAX && strpbrk(topic, "+#") == NULL;
}

bool gridems__topic_filter_valid(const char *filter)
{
    if (filter == NULL || filter[0] == '\0' || strlen(filter) > GRIDEMS__TOPIC_MAX) {
        return false;
    }
    for (const char *p = filter; *p != '\0'; p++) {
        bool level_start = p == filter || p[-1] == '/';
        bool level_end = p[1] == '\0' || p[1] == '/';
        if (*p == '+' && !(level_start && level_end)) {
            return false;
        }
        if (*p == '#' && !(level_start && p[1] == '\0')) {
            return false;
        }
    }
    return true;
}

bool gridems__topic_matches(const char *filter, const char *topic)
{
    /* MQTT 3.1.1 section 4.7.2: wildcards at the first level never match "$SYS"-like topics. */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) {
        return false;
    }
    const char *f = filter;
    const char *t = topic;
    for (;;) {
        size_t flen = strcspn(f, "/");
        size_t tlen = strcspn(t, "/");
        if (flen == 1 && f[0] == '#') {
            return true; /* this level and everything below it */
        }
        bool plus = flen == 1 && f[0] == '+';
        if (!plus && (flen != tlen || memcmp(f, t, flen) != 0)) {
            return false;
        }
        bool f_more = f[flen] == '/';
        bool t_more = t[tlen] == '/';
        if (!t_more) {
            /* The topic ends here: a match if the filter ends too, or goes on with just "/#",
             * which also matches its parent level. */
            return !f_more || strcmp(f + flen, "/#") == 0;
        }
        if (!f_more) {
            return false;
        }
        f += flen + 1;
        t += tlen + 1;
    }
}

int gridems__host_deliver(gridems__host_t *host, const char *topic, const void *payload, size_t len,
                          int qos, int retained)
{
    if (!gridems__topic_name_valid(topic) || (payload == NULL && len > 0) || len == SIZE_MAX) {
        return GRIDEMS_EINVAL;
    }
    if (gridems__list_empty(&host->subs)) {
        return 0;
    }
    char *copy = NULL;
    int delivered = 0;
    int rc = 0;
    host->delivering++;
    /* Entries appended by a callback during this delivery do not see this message. */
    gridems__link_t *last = host->subs.prev;
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && s->inst->state == GRIDEMS__INST_ACTIVE &&
            gridems__topic_matches(s->filter, topic)) {
            if (copy == NULL) {
                copy = malloc(len + 1);
                if (copy == NULL) {
                    rc = GRIDEMS_ENOMEM;
                    break;
                }
                if (len > 0) {
                    memcpy(copy, payload, len);
                }
                copy[len] = '\0';
            }
            gridems_message_t msg = {sizeof msg, topic, copy, len, qos, retained, {NULL, NULL}};
            uint64_t t0 = uv_hrtime();
            s->fn(s->inst, &msg, s->arg);
            check_budget(s->inst, "message callback", t0);
            delivered++;
        }
        if (l == last) {
            break;
        }
    }
    host->delivering--;
    if (host->delivering == 0 && host->subs_dirty) {
        sweep_subs(host);
    }
    free(copy);
    return rc < 0 ? rc : delivered;
}

int gridems__host_foreach_filter(gridems__host_t *host, int (*fn)(void *arg, const char *filter),
                                 void *arg)
{
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (s->dead) {
            continue;
        }
        bool seen = false;
        for (gridems__link_t *e = host->subs.next; e != l; e = e->next) {
            plugin_sub_t *earlier = GRIDEMS__CONTAINER_OF(e, plugin_sub_t, link);
            if (!earlier->dead && strcmp(earlier->filter, s->filter) == 0) {
                seen = true;
                break;
            }
        }
        if (!seen) {
            int rc = fn(arg, s->filter);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- ## API: MQTT ---- */

static int api_publish(gridems_plugin_t *self, const char *topic, const void *payload, size_t len,
                       int qos, int retain)
{
    if (self == NULL || !gridems__topic_name_valid(topic) || (payload == NULL && len > 0) ||
        qos < 0 || qos > 2 || (retain != 0 && retain != 1)) {
        return GRIDEMS_EINVAL;
    }
    gridems__host_t *host = self->host;
    if (host->services.publish == NULL) {
        return GRIDEMS_ESTATE;
    }
    return host->services.publish(host->services.ctx, topic, payload, len, qos, retain);
}

static plugin_sub_t *find_sub(gridems_plugin_t *self, const char *filter, gridems_message_fn fn,
                              void *arg)
{
    gridems__host_t *host = self->host;
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && s->inst == self && s->fn == fn && s->arg == arg &&
            strcmp(s->filter, filter) == 0) {
            return s;
        }
    }
    return NULL;
}

static int api_subscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                         void *arg)
{
    if (self == NULL || fn == NULL || !gridems__topic_filter_valid(topic_filter)) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    if (find_sub(self, topic_filter, fn, arg) != NULL) {
        return GRIDEMS_EEXIST;
    }
    gridems__host_t *host = self->host;
    plugin_sub_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->filter = strdup(topic_filter)) == NULL) {
        free(s);
        return GRIDEMS_ENOMEM;
    }
    if (!filter_in_use(host, topic_filter) && host->services.subscribe != NULL) {
        int rc = host->services.subscribe(host->services.ctx, topic_filter);
        if (rc < 0) {
            free(s->filter);
            free(s);
            return rc;
        }
    }
    s->inst = self;
    s->fn = fn;
    s->arg = arg;
    gridems__list_insert_tail(&host->subs, &s->link);
    return 0;
}

static int api_unsubscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                           void *arg)
{
    if (self == NULL || topic_filter == NULL) {
        return GRIDEMS_EINVAL;
    }
    plugin_sub_t *s = find_sub(self, topic_filter, fn, arg);
    if (s == NULL) {
        return GRIDEMS_ENOENT;
    }
    sub_remove(self->host, s);
    return 0;
}

/* ---- ## API: devices and measurements ---- */

static gridems__device_t *find_own_device(gridems_plugin_t *inst, gridems_device_id_t id)
{
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        gridems__device_t *dev = GRIDEMS__CONTAINER_OF(l, gridems__device_t, link);
        if (dev->id == id && !dev->destroyed) {
            return dev;
        }
    }
    return NULL;
}

static int64_t host_now(gridems__host_t *host)
{
    if (host->services.now_ms != NULL) {
        return host->services.now_ms(host->services.ctx);
    }
    return realtime_ms();
}

static int api_post_measurement(gridems_plugin_t *self, const gridems_measurement_t *m)
{
    if (self == NULL || m == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (self->state != GRIDEMS__INST_ACTIVE) {
        return GRIDEMS_ESTATE;
    }
    /* The 1.0 fields must all be there; a larger (newer) struct is read up to our size. */
    if (m->struct_size < offsetof(gridems_measurement_t, reserved)) {
        api_log(self, GRIDEMS_LOG_ERR, "post_measurement: struct_size %u is too small",
                (unsigned)m->struct_size);
        return GRIDEMS_EINVAL;
    }
    gridems_measurement_t copy;
    memset(&copy, 0, sizeof copy);
    memcpy(&copy, m, m->struct_size < sizeof copy ? m->struct_size : sizeof copy);
    memset(copy.reserved, 0, sizeof copy.reserved);
    copy.struct_size = sizeof copy;
    gridems__device_t *dev = find_own_device(self, copy.device);
    if (dev == NULL) {
        api_log(self, GRIDEMS_LOG_ERR, "post_measurement: device id %u is not one of ours",
                (unsigned)copy.device);
        return GRIDEMS_EINVAL;
    }
    copy.valid &= GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_SOC | GRIDEMS_MEAS_ENERGY;
    static const struct {
        uint32_t bit;
        size_t offset;
        const char *name;
    } fields[] = {
        {GRIDEMS_MEAS_POWER, offsetof(gridems_measurement_t, power_kw), "power_kw"},
        {GRIDEMS_MEAS_SOC, offsetof(gridems_measurement_t, soc_kwh), "soc_kwh"},
        {GRIDEMS_MEAS_ENERGY, offsetof(gridems_measurement_t, energy_kwh), "energy_kwh"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double *v = (double *)(void *)((char *)&copy + fields[i].offset);
        if (!(copy.valid & fields[i].bit)) {
            *v = 0;
        } else if (!isfinite(*v)) {
            gridems_log_complain(&dev->complaint[GRIDEMS__DEV_OP_MEASUREMENT], GRIDEMS_LOG_ERR,
                                 "%s device %s: measurement %s is not a finite number",
                                 self->prefix, dev->desc.name, fields[i].name);
            return GRIDEMS_EINVAL;
        }
    }
    if (copy.timestamp_ms == 0) {
        copy.timestamp_ms = host_now(self->host);
    }
    gridems__host_t *host = self->host;
    if (host->services.measurement != NULL) {
        host->services.measurement(host->services.ctx, dev, &copy);
    }
    return 0;
}

static bool device_name_taken(gridems__host_t *host, const char *name)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state == GRIDEMS__INST_CLOSING) {
            continue; /* being replaced, e.g. by a reload of the same instance */
        }
        for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
            if (strcmp(GRIDEMS__CONTAINER_OF(l, gridems__device_t, link)->desc.name, name) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int api_register_device(gridems_plugin_t *self, const gridems_device_desc_t *desc,
                               void *dev_userdata, gridems_device_id_t *id)
{
    if (self == NULL || desc == NULL || id == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    /* Descriptors only grow by appending, and get_capabilities is the last required member. */
    size_t min_size =
        offsetof(gridems_device_desc_t, get_capabilities) + sizeof(gridems_device_caps_fn);
    if (desc->struct_size < min_size) {
        api_log(self, GRIDEMS_LOG_ERR,
                "register_device: descriptor struct_size %u is smaller than the ABI 1.0 minimum "
                "%zu",
                (unsigned)desc->struct_size, min_size);
        return GRIDEMS_EINVAL;
    }
    gridems_device_desc_t d;
    memset(&d, 0, sizeof d);
    memcpy(&d, desc, desc->struct_size < sizeof d ? desc->struct_size : sizeof d);
    memset(d.reserved, 0, sizeof d.reserved);
    d.struct_size = sizeof d;
    if (!gridems__ident_valid(d.name)) {
        api_log(self, GRIDEMS_LOG_ERR,
                "register_device: device name \"%s\" is not 1 to %d characters of "
                "[A-Za-z0-9_.-]",
                d.name != NULL ? d.name : "(null)", GRIDEMS__IDENT_MAX - 1);
        return GRIDEMS_EINVAL;
    }
    if (d.klass < GRIDEMS_DEV_BATTERY || d.klass > GRIDEMS_DEV_FLEX_LOAD ||
        !(self->info.classes & GRIDEMS_CLASS_BIT(d.klass))) {
        api_log(self, GRIDEMS_LOG_ERR,
                "register_device %s: class %d is not one the plugin declared in "
                "gridems_plugin_info.classes",
                d.name, (int)d.klass);
        return GRIDEMS_EINVAL;
    }
    if (d.get_capabilities == NULL) {
        api_log(self, GRIDEMS_LOG_ERR, "register_device %s: get_capabilities is required", d.name);
        return GRIDEMS_EINVAL;
    }
    if (d.instance != NULL && strlen(d.instance) > 255) {
        api_log(self, GRIDEMS_LOG_ERR, "register_device %s: instance is longer than 255 bytes",
                d.name);
        return GRIDEMS_EINVAL;
    }
    if (device_name_taken(self->host, d.name)) {
        api_log(self, GRIDEMS_LOG_ERR, "register_device: a device named \"%s\" already exists",
                d.name);
        return GRIDEMS_EEXIST;
    }
    gridems__device_t *dev = calloc(1, sizeof *dev);
    char *name = strdup(d.name);
    char *label = d.instance != NULL ? strdup(d.instance) : NULL;
    if (dev == NULL || name == NULL || (d.instance != NULL && label == NULL)) {
        free(dev);
        free(name);
        free(label);
        return GRIDEMS_ENOMEM;
    }
    d.name = name;
    d.instance = label;
    dev->desc = d;
    dev->inst = self;
    dev->userdata = dev_userdata;
    dev->id = next_id(self->host);
    gridems__list_insert_tail(&self->devices, &dev->link);
    *id = dev->id;
    if (self->state == GRIDEMS__INST_ACTIVE) {
        announce(dev);
    }
    return 0;
}

static int64_t api_now_ms(gridems_plugin_t *self)
{
    return self != NULL ? host_now(self->host) : realtime_ms();
}

static const gridems_host_api_t host_api_table = {
    .struct_size = sizeof(gridems_host_api_t),
    .abi_major = GRIDEMS_PLUGIN_ABI_MAJOR,
    .abi_minor = GRIDEMS_PLUGIN_ABI_MINOR,
    .log = api_log,
    .vlog = api_vlog,
    .config_get_string = api_config_get_string,
    .config_get_int = api_config_get_int,
    .config_get_double = api_config_get_double,
    .config_get_bool = api_config_get_bool,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .watch_fd = api_watch_fd,
    .unwatch_fd = api_unwatch_fd,
    .queue_work = api_queue_work,
    .publish = api_publish,
    .subscribe = api_subscribe,
    .unsubscribe = api_unsubscribe,
    .post_measurement = api_post_measurement,
    .register_device = api_register_device,
    .now_ms = api_now_ms,
    .strerror = gridems_strerror,
};

const gridems_host_api_t *gridems__host_api(void)
{
    return &host_api_table;
}

/* ---- ## Devices: the service's calls ---- */

gridems__device_t *gridems__host_find_device(gridems__host_t *host, gridems_device_id_t id)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_ACTIVE) {
            continue;
        }
        gridems__device_t *dev = find_own_device(inst, id);
        if (dev != NULL) {
            return dev;
        }
    }
    return NULL;
}

int gridems__host_foreach_device(gridems__host_t *host,
                                 int (*fn)(void *arg, gridems__device_t *dev), void *arg)
{
    for (gridems__link_t *i = host->instances.next; i != &host->instances; i = i->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(i, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_ACTIVE) {
            continue;
        }
        for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
            int rc = fn(arg, GRIDEMS__CONTAINER_OF(l, gridems__device_t, link));
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int device_usable(const gridems__device_t *dev)
{
    if (dev == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (dev->destroyed || dev->inst->state != GRIDEMS__INST_ACTIVE) {
        return GRIDEMS_ESTATE;
    }
    return 0;
}

static const char *const op_names[GRIDEMS__DEV_OP_COUNT] = {
    "read", "get_capabilities", "apply_setpoint", "on_event", "post_measurement"};

/* A plugin's answer: negative is an error (complained about, rate-limited), anything else 0.
 * GRIDEMS_EAGAIN means "no data yet" (a device before its first reading): not a failure. */
static int plugin_result(gridems__device_t *dev, int op, int rc)
{
    if (rc == GRIDEMS_EAGAIN) {
        gridems_log_debug("%s device %s: %s: no data yet", dev->inst->prefix, dev->desc.name,
                          op_names[op]);
        return rc;
    }
    if (rc < 0) {
        gridems_log_complain(&dev->complaint[op], GRIDEMS_LOG_WARNING,
                             "%s device %s: %s failed: %s", dev->inst->prefix, dev->desc.name,
                             op_names[op], gridems_strerror(rc));
        return rc;
    }
    gridems_log_release(&dev->complaint[op], "%s device %s: %s works again", dev->inst->prefix,
                        dev->desc.name, op_names[op]);
    return 0;
}

int gridems__device_read(gridems__device_t *dev)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (dev->desc.read == NULL) {
        return GRIDEMS_ENOENT;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.read(dev->id, dev->userdata);
    check_budget(dev->inst, "read", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_READ, rc);
}

static bool finite_nonneg(double v)
{
    return isfinite(v) && v >= 0;
}

/* The reason a battery answer is unusable, or NULL. Fills the defaults that depend on others. */
static const char *check_battery(gridems_battery_caps_t *b)
{
    if (!(isfinite(b->capacity_kwh) && b->capacity_kwh > 0)) {
        return "capacity_kwh must be a number > 0";
    }
    if (isnan(b->soc_max_kwh)) {
        b->soc_max_kwh = b->capacity_kwh;
    }
    if (!finite_nonneg(b->soc_kwh) || b->soc_kwh > b->capacity_kwh) {
        return "soc_kwh must be within [0, capacity_kwh]";
    }
    if (!finite_nonneg(b->soc_min_kwh) || !finite_nonneg(b->soc_max_kwh) ||
        b->soc_min_kwh > b->soc_max_kwh || b->soc_max_kwh > b->capacity_kwh) {
        return "soc_min_kwh <= soc_max_kwh <= capacity_kwh must hold";
    }
    if (!finite_nonneg(b->charge_max_kw) || !finite_nonneg(b->discharge_max_kw)) {
        return "charge_max_kw and discharge_max_kw must be numbers >= 0";
    }
    if (!(b->charge_efficiency > 0 && b->charge_efficiency <= 1) ||
        !(b->discharge_efficiency > 0 && b->discharge_efficiency <= 1)) {
        return "efficiencies must be within (0, 1]";
    }
    if (!finite_nonneg(b->cycle_cost_per_kwh) || !finite_nonneg(b->ramp_kw_per_s)) {
        return "cycle_cost_per_kwh and ramp_kw_per_s must be numbers >= 0";
    }
    return NULL;
}

static const char *check_flex(const gridems_flex_caps_t *f)
{
    if (f->n_jobs > MAX_FLEX_JOBS) {
        return "more than 100000 jobs";
    }
    if (f->n_jobs > 0 && f->jobs == NULL) {
        return "n_jobs > 0 but jobs is NULL";
    }
    if (!isfinite(f->power_cap_kw)) {
        return "power_cap_kw must be a number";
    }
    for (uint32_t i = 0; i < f->n_jobs; i++) {
        const gridems_flex_job_t *j = &f->jobs[i];
        if (j->id == NULL || j->id[0] == '\0' || strlen(j->id) > 255) {
            return "a job id is empty or longer than 255 bytes";
        }
        if (!finite_nonneg(j->energy_remaining_kwh) || !finite_nonneg(j->energy_delivered_kwh)) {
            return "a job's energies must be numbers >= 0";
        }
        if (!(isfinite(j->power_max_kw) && j->power_max_kw > 0)) {
            return "a job's power_max_kw must be a number > 0";
        }
        if (j->deadline_ms <= j->earliest_ms) {
            return "a job's deadline_ms must be after its earliest_ms";
        }
    }
    return NULL;
}

int gridems__device_get_capabilities(gridems__device_t *dev, gridems_caps_t *out)
{
    int rc = device_usable(dev);
    if (rc < 0 || out == NULL) {
        return rc < 0 ? rc : GRIDEMS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->klass = dev->desc.klass;
    switch (dev->desc.klass) {
    case GRIDEMS_DEV_BATTERY:
        out->u.battery.capacity_kwh = NAN;
        out->u.battery.soc_kwh = NAN;
        out->u.battery.soc_max_kwh = NAN;
        out->u.battery.charge_max_kw = NAN;
        out->u.battery.discharge_max_kw = NAN;
        out->u.battery.charge_efficiency = 1.0;
        out->u.battery.discharge_efficiency = 1.0;
        break;
    case GRIDEMS_DEV_METER:
        out->u.meter.role = GRIDEMS_METER_SITE;
        break;
    default:
        out->u.flex.power_cap_kw = -1.0;
        break;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.get_capabilities(dev->id, dev->userdata, out);
    check_budget(dev->inst, "get_capabilities", t0);
    /* The host's own fields are not the plugin's to change. */
    out->struct_size = sizeof *out;
    out->klass = dev->desc.klass;
    if (rc < 0) {
        return plugin_result(dev, GRIDEMS__DEV_OP_CAPS, rc);
    }
    const char *bad = NULL;
    switch (dev->desc.klass) {
    case GRIDEMS_DEV_BATTERY:
        bad = check_battery(&out->u.battery);
        break;
    case GRIDEMS_DEV_METER:
        if (out->u.meter.role < GRIDEMS_METER_SITE || out->u.meter.role > GRIDEMS_METER_OTHER) {
            bad = "role is not a GRIDEMS_METER_* value";
        }
        break;
    default:
        bad = check_flex(&out->u.flex);
        break;
    }
    if (bad != NULL) {
        gridems_log_complain(&dev->complaint[GRIDEMS__DEV_OP_CAPS], GRIDEMS_LOG_ERR,
                             "%s device %s: get_capabilities answered nonsense: %s",
                             dev->inst->prefix, dev->desc.name, bad);
        return GRIDEMS_EPLUGIN;
    }
    if (out->measured_ms == 0) {
        out->measured_ms = host_now(dev->inst->host);
    }
    return plugin_result(dev, GRIDEMS__DEV_OP_CAPS, 0);
}

int gridems__device_apply_setpoint(gridems__device_t *dev, const gridems_setpoint_t *sp)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (sp == NULL || sp->struct_size != sizeof *sp || !isfinite(sp->power_kw) ||
        !isfinite(sp->power_cap_kw) || (sp->n_jobs > 0 && sp->jobs == NULL)) {
        return GRIDEMS_EINVAL;
    }
    if (dev->desc.apply_setpoint == NULL) {
        return GRIDEMS_ENOENT;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.apply_setpoint(dev->id, dev->userdata, sp);
    check_budget(dev->inst, "apply_setpoint", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_SETPOINT, rc);
}

int gridems__device_on_event(gridems__device_t *dev, const gridems_device_event_t *ev)
{
    int rc = device_usable(dev);
    if (rc < 0) {
        return rc;
    }
    if (ev == NULL || ev->struct_size != sizeof *ev) {
        return GRIDEMS_EINVAL;
    }
    if (dev->desc.on_event == NULL) {
        return GRIDEMS_ENOENT;
    }
    uint64_t t0 = uv_hrtime();
    rc = dev->desc.on_event(dev->id, dev->userdata, ev);
    check_budget(dev->inst, "on_event", t0);
    return plugin_result(dev, GRIDEMS__DEV_OP_EVENT, rc);
}
