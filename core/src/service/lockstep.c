/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "lockstep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "service_internal.h"

struct gridems_lockstep_s {
    gridems_service_t *svc;
    const gridems_service_driver_t *driver;
    uv_check_t check; /* after each loop iteration: is the present settled? */
    uv_idle_t idle;   /* active while there is more to do at once: keeps the poll from blocking */
    char sync_topic[300];
    uint64_t barrier_sent;   /* sequence number of the last barrier published */
    uint64_t barrier_back;   /* sequence number of the last barrier received */
    uint64_t published_mark; /* the client's publish count just after that barrier went out */
    bool ended;              /* the driver ended the run, or the service is stopping */
    int open_handles;
};

static void on_idle(uv_idle_t *idle)
{
    (void)idle; /* its only job is to keep uv_run from blocking; the check does the work */
}

static void more_now(gridems_lockstep_t *ls)
{
    if (!uv_is_active((uv_handle_t *)&ls->idle)) {
        uv_idle_start(&ls->idle, on_idle);
    }
}

static void wait_for_events(gridems_lockstep_t *ls)
{
    uv_idle_stop(&ls->idle);
}

static uint64_t published(const gridems_lockstep_t *ls)
{
    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ls->svc->mqtt, &st);
    return st.published;
}

static void send_barrier(gridems_lockstep_t *ls)
{
    char payload[32];
    uint64_t seq = ls->barrier_sent + 1;
    int n = snprintf(payload, sizeof payload, "%" PRIu64, seq);
    int rc = gridems_mqtt_publish(ls->svc->mqtt, ls->sync_topic, payload, (size_t)n, 1, 0);
    if (rc != 0) {
        /* Offline for a moment: the reconnect wakes the loop and the check tries again. */
        gridems_log_debug("lockstep: barrier not sent (%s)", gridems_strerror(rc));
        return;
    }
    ls->barrier_sent = seq;
    ls->published_mark = published(ls);
}

/* Move the clock on to the next instant anything is due, and fire what is due there. */
static void advance(gridems_lockstep_t *ls, int64_t driver_next)
{
    gridems_service_t *svc = ls->svc;
    int64_t next = gridems_timers_next_due(&svc->timers);
    if (driver_next < next) {
        next = driver_next;
    }
    if (next == INT64_MAX) {
        gridems_log_err("lockstep: nothing is due any more; ending the run");
        ls->ended = true;
        gridems__service_stop(svc, "lockstep: nothing left to do");
        return;
    }
    gridems_clock_step_to(&svc->clock, next);
    gridems_timers_fire_due(&svc->timers, gridems_clock_now_ms(&svc->clock));
    more_now(ls);
}

static void on_check(uv_check_t *check)
{
    gridems_lockstep_t *ls = check->data;
    gridems_service_t *svc = ls->svc;
    if (ls->ended || svc->lifecycle.shutting_down) {
        wait_for_events(ls);
        return;
    }
    if (svc->mqtt == NULL || !gridems_mqtt_is_connected(svc->mqtt) ||
        gridems_mqtt_pending_subscriptions(svc->mqtt) > 0) {
        wait_for_events(ls); /* the connection and its acknowledgements come through the mailbox */
        return;
    }
    if (ls->barrier_back != ls->barrier_sent) {
        wait_for_events(ls); /* the barrier's return wakes the loop */
        return;
    }
    if (ls->barrier_sent == 0 || published(ls) != ls->published_mark) {
        send_barrier(ls);
        wait_for_events(ls);
        return;
    }
    int64_t now = gridems_clock_now_ms(&svc->clock);
    if (gridems_timers_next_due(&svc->timers) <= now) {
        gridems_timers_fire_due(&svc->timers, now);
        more_now(ls);
        return;
    }
    int64_t driver_next = INT64_MAX;
    if (ls->driver->on_settled != NULL) {
        driver_next = ls->driver->on_settled(svc, now, ls->driver->userdata);
        if (driver_next < 0) {
            ls->ended = true;
            wait_for_events(ls);
            gridems__service_stop(svc, "the run ended");
            return;
        }
    }
    if (published(ls) != ls->published_mark) {
        more_now(ls); /* what the driver published settles first */
        return;
    }
    advance(ls, driver_next <= now ? INT64_MAX : driver_next);
}

int gridems__lockstep_start(gridems_service_t *svc, const gridems_service_driver_t *driver,
                            gridems_lockstep_t **out)
{
    gridems_lockstep_t *ls = calloc(1, sizeof *ls);
    if (ls == NULL) {
        return GRIDEMS_ENOMEM;
    }
    ls->svc = svc;
    ls->driver = driver;
    snprintf(ls->sync_topic, sizeof ls->sync_topic, "%s/lockstep/sync", svc->cfg.mqtt.topic_prefix);
    uv_check_init(&svc->loop, &ls->check);
    uv_idle_init(&svc->loop, &ls->idle);
    ls->check.data = ls;
    ls->idle.data = ls;
    ls->open_handles = 2;
    uv_check_start(&ls->check, on_check);
    more_now(ls);
    *out = ls;
    return 0;
}

void gridems__lockstep_subscribe(gridems_lockstep_t *ls)
{
    gridems_mqtt_subscribe(ls->svc->mqtt, ls->sync_topic, 1);
    if (ls->driver->observe != NULL) {
        gridems_mqtt_subscribe(ls->svc->mqtt, ls->driver->observe, 1);
    }
}

bool gridems__lockstep_on_barrier(gridems_lockstep_t *ls, const char *topic, const void *payload,
                                  size_t len)
{
    if (strcmp(topic, ls->sync_topic) != 0) {
        return false;
    }
    char text[32];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, payload, n);
    text[n] = '\0';
    uint64_t seq = strtoull(text, NULL, 10);
    if (seq > ls->barrier_back && seq <= ls->barrier_sent) {
        ls->barrier_back = seq;
    }
    more_now(ls);
    return true;
}

void gridems__lockstep_observe(gridems_lockstep_t *ls, const char *topic, const void *payload,
                               size_t len, int retained)
{
    if (ls->ended || ls->driver->observe == NULL || ls->driver->on_message == NULL ||
        !gridems__topic_matches(ls->driver->observe, topic)) {
        return;
    }
    ls->driver->on_message(ls->svc, topic, payload, len, retained, ls->driver->userdata);
}

static void on_closed(uv_handle_t *h)
{
    gridems_lockstep_t *ls = h->data;
    if (--ls->open_handles == 0) {
        free(ls);
    }
}

void gridems__lockstep_close(gridems_lockstep_t *ls)
{
    ls->ended = true;
    uv_close((uv_handle_t *)&ls->check, on_closed);
    uv_close((uv_handle_t *)&ls->idle, on_closed);
}
