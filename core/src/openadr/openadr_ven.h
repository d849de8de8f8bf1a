/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The OpenADR 3.1 VEN (the customer side; docs/openadr.md): it keeps the events of the configured
 * programs as the VTN holds them, by REST polling and/or the VTN's MQTT notifications, and tells
 * its owner whenever they may have changed.
 *
 * REST: GET {vtn}/programs resolves the names to ids (again until every name is found), then
 * GET {vtn}/events?programID=ID&skip=N&limit=50 page by page; a poll that completes replaces the
 * held events of its programs (an event gone from the VTN is deleted). A bearer token is read
 * from the token file before each poll. Polls run every poll_seconds of real time (a network
 * duty, like the MQTT keep-alive; 0: only at start and after each MQTT (re)connect), and after a
 * failure again in 10 s.
 * MQTT (3.1 binding): GET {vtn}/notifiers gives the broker URI, GET
 * {vtn}/notifiers/mqtt/topics/programs/ID/events the CREATE/UPDATE/DELETE topics of each
 * program; a second MQTT client (core/src/mqtt/mqtt_client.h: Paho's callbacks only post to a
 * mailbox) subscribes to them; a notification upserts or deletes one event at once.
 *
 * Reports: gridems_ven_post_report() sends one (docs/openadr.md, "Reports").
 *
 * An event that fails validation (openadr_event.h) is logged with its id and the field, and the
 * version held before (if any) stays: one bad event never drops the others.
 *
 * Ownership: the VEN copies the config it is given. The events handed to on_change are borrowed,
 * valid during the call. Thread: everything on the loop thread.
 */
#ifndef GRIDEMS_OPENADR_VEN_H
#define GRIDEMS_OPENADR_VEN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"
#include "openadr_config.h"
#include "openadr_event.h"

typedef struct gridems_ven_s gridems_ven_t;

/* The held events may have changed. how: "poll" or "mqtt". */
typedef void (*gridems_ven_change_cb)(gridems_ven_t *v, const gridems_oadr_event_t *const *events,
                                      size_t n, const char *how, void *userdata);
typedef void (*gridems_ven_closed_cb)(void *userdata);

/*
 * Create and start the VEN: the first poll begins on the next loop iteration.
 * Parameters: loop (borrowed, outlives the VEN); clock (borrowed, outlives the VEN: events that
 *   have ended by its now, and events with no payload gridems uses, are not held, so a VTN's
 *   history does not fill the VEN); cfg (borrowed, copied); site_currency (borrowed, copied);
 *   client_id (borrowed, copied: the MQTT client id); on_change, userdata.
 * Returns 0, GRIDEMS_ENOMEM or GRIDEMS_EIO (libcurl).
 */
int gridems_ven_start(uv_loop_t *loop, const gridems_clock_t *clock,
                      const gridems_openadr_config_t *cfg, const char *site_currency,
                      const char *client_id, gridems_ven_change_cb on_change, void *userdata,
                      gridems_ven_t **out);

/* What the status message reports (docs/openadr.md). Counters are monotonic. */
typedef struct gridems_ven_stats_s {
    size_t events;          /* held now */
    uint64_t polls;         /* completed */
    uint64_t poll_failures; /* failed (no answer, an HTTP error, a bad answer) */
    uint64_t notifications; /* MQTT notifications applied */
    uint64_t rejected;      /* event versions rejected (each counted once) */
    int mqtt_connected;     /* 1 while the MQTT client is connected */
    char problem[600];      /* why the last poll failed; "" after one succeeds */
} gridems_ven_stats_t;

/* Copy the VEN's figures into *out. Thread: the loop thread. */
void gridems_ven_get_stats(const gridems_ven_t *v, gridems_ven_stats_t *out);

/*
 * A report's POST ended: status 2xx (sent), another status (why says it, with the start of the
 * VTN's answer) or 0 (no answer: why says what failed).
 */
typedef void (*gridems_ven_report_cb)(int status, const char *why, void *userdata);

/*
 * POST body (a report's JSON, openadr_report.h; copied) to {vtn}/reports with the token of the
 * last poll. One report at a time; cb runs once, from the loop (not after gridems_ven_stop).
 * Returns 0, GRIDEMS_ESTATE (a report in flight, no token read yet, or stopping: try later),
 * or an error of gridems_http_post.
 */
int gridems_ven_post_report(gridems_ven_t *v, const char *body, gridems_ven_report_cb cb,
                            void *userdata);

/* Stop: abort requests, disconnect MQTT, close every handle; cb runs once all are closed and the
 * VEN is freed after it returns. on_change is not called any more. */
void gridems_ven_stop(gridems_ven_t *v, gridems_ven_closed_cb cb, void *userdata);

#endif
