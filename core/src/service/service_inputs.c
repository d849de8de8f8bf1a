/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * MQTT messages into the service: price, export price and carbon forecasts, DR events and
 * operator commands; anything else goes to the plugins that subscribed to it.
 *
 * A message that fails validation is rejected whole: one log line with the topic and the reason
 * (at most one per REJECT_WINDOW_MS per topic, with the count of the others; accepted messages
 * in between do not reset it, so a publisher mixing valid and invalid messages cannot flood the
 * log either), a counter in the status message, and nothing held changes. An accepted one
 * triggers a debounced re-plan.
 *
 * Every input message is held to the one JSON policy (json_strict.h: UTF-8 only, no NUL, no
 * trailing data, no duplicate keys) by its own parser, which parses it once; ids are logged
 * through gridems_log_safe(), never raw.
 * State: this file writes svc->inputs (service_internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "command_msg.h"
#include "dr_store.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "service_internal.h"
#include "timeutil.h"

/* One rejection line per topic per minute at most, with the count of the others. */
#define REJECT_WINDOW_MS 60000u

enum { INPUT_PRICE, INPUT_PRICE_EXPORT, INPUT_CARBON, INPUT_EVENT, INPUT_CMD, INPUT_COUNT };

_Static_assert(INPUT_COUNT ==
                   sizeof(((service_inputs_t *)0)->rejected) / sizeof(gridems_complaint_t),
               "one complaint per input topic");
_Static_assert(INPUT_COUNT == sizeof(((service_stats_t *)0)->accepted_by_input) / sizeof(uint64_t),
               "one counter per input topic");
_Static_assert(INPUT_CMD == GRIDEMS__INPUT_CMD, "the commands' counter");

static void reject(gridems_service_t *svc, int input, const char *topic, const char *why)
{
    svc->stats.rejected_messages++;
    svc->stats.rejected_by_input[input]++;
    gridems_log_windowed(&svc->inputs.rejected[input], REJECT_WINDOW_MS, GRIDEMS_LOG_WARNING,
                         "rejected message on %s: %s (nothing changed)", topic, why);
}

static void accept_forecast(gridems_service_t *svc, int input, gridems_forecast_t *store,
                            const char *topic, const char *text, size_t len,
                            gridems__replan_reason_t reason)
{
    char err[512] = "";
    gridems_forecast_msg_t msg;
    int rc = gridems_forecast_msg_parse_json(store->kind, text, len, &msg, err, sizeof err);
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    double first = 0.0;
    if (rc == 0) {
        if (msg.n > 0) {
            start_ms = msg.iv[0].start_ms;
            end_ms = msg.iv[msg.n - 1].end_ms;
            first = msg.iv[0].value;
        }
        rc = gridems_forecast_apply(store, &msg, err, sizeof err);
        gridems_forecast_msg_free(&msg);
    }
    if (rc != 0) {
        reject(svc, input, topic, err[0] != '\0' ? err : gridems_strerror(rc));
        return;
    }
    gridems_forecast_prune(store, gridems_clock_now_ms(&svc->clock));
    gridems__service_history_forecast_changed(svc, store);
    svc->stats.accepted_forecasts++;
    svc->stats.accepted_by_input[input]++;
    gridems_log_info("%s: %zu intervals held after update", topic, store->n);
    gridems__service_grid_signal(
        svc, store->kind == GRIDEMS_FORECAST_CARBON ? GRIDEMS_SIGNAL_CARBON : GRIDEMS_SIGNAL_PRICE,
        NULL, start_ms, end_ms, first);
    gridems__service_request_replan(svc, reason);
}

static void accept_event(gridems_service_t *svc, const char *topic, const char *text, size_t len)
{
    char err[512] = "";
    gridems_dr_msg_t msg;
    int rc = gridems_dr_msg_parse_json(text, len, &msg, err, sizeof err);
    gridems_dr_outcome_t outcome;
    gridems_dr_event_t cancelled; /* the period a cancel ends, for the devices */
    memset(&cancelled, 0, sizeof cancelled);
    if (rc == 0) {
        const gridems_dr_event_t *held = gridems_dr_events_find(&svc->inputs.events, msg.event.id);
        if (msg.cancel && held != NULL) {
            cancelled = *held;
        }
        rc = gridems_dr_events_apply(&svc->inputs.events, &msg, &outcome);
        if (rc == GRIDEMS_ENOSPC) {
            snprintf(err, sizeof err, "too many DR events held (at most %d)",
                     GRIDEMS_DR_MAX_EVENTS);
        }
    }
    if (rc != 0) {
        reject(svc, INPUT_EVENT, topic, err[0] != '\0' ? err : gridems_strerror(rc));
        return;
    }
    svc->stats.accepted_by_input[INPUT_EVENT]++;
    char id[96];
    gridems_log_safe(msg.event.id, 64, id, sizeof id);
    gridems_log_notice("DR event %s %s (limit %.1f kW)", id, msg.cancel ? "cancelled" : "received",
                       msg.event.import_limit_kw);
    /* Accepted means kept: the held set goes to state_dir before the re-plan (dr_store.h). */
    char save_err[512] = "";
    gridems_dr_events_prune(&svc->inputs.events, gridems_clock_now_ms(&svc->clock));
    int src =
        gridems_dr_store_save(svc->cfg.state_dir, &svc->inputs.events, save_err, sizeof save_err);
    gridems__service_persist_result(svc, GRIDEMS__PERSIST_DR, src, src != 0 ? errno : 0, save_err);
    if (!msg.cancel) {
        gridems__service_grid_signal(svc, GRIDEMS_SIGNAL_DR_EVENT, msg.event.id, msg.event.start_ms,
                                     msg.event.end_ms, msg.event.import_limit_kw);
    } else if (outcome == GRIDEMS_DR_CANCELLED) {
        gridems__service_grid_signal(svc, GRIDEMS_SIGNAL_DR_CANCEL, msg.event.id,
                                     cancelled.start_ms, cancelled.end_ms, 0.0);
    }
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_EVENT);
}

static void accept_command(gridems_service_t *svc, const char *topic, const char *text, size_t len)
{
    gridems_command_t cmd;
    char why[256];
    if (gridems_command_parse(text, len, &cmd, why, sizeof why) != 0) {
        reject(svc, INPUT_CMD, topic, why);
    } else if (cmd == GRIDEMS_COMMAND_REPLAN) {
        svc->stats.accepted_by_input[INPUT_CMD]++;
        gridems_log_notice("operator command: replan");
        gridems__service_replan_now(svc, GRIDEMS__REPLAN_COMMAND);
    } else {
        svc->stats.accepted_by_input[INPUT_CMD]++;
        gridems__service_publish_status(svc);
    }
}

void gridems__service_on_message(gridems_mqtt_t *m, const char *topic, const void *payload,
                                 size_t len, int qos, int retained, void *userdata)
{
    gridems_service_t *svc = userdata;
    const char *text = payload;
    const gridems_service_config_t *cfg = &svc->cfg;
    (void)m;
    if (svc->lifecycle.shutting_down) {
        return;
    }
    if (svc->lockstep != NULL && gridems__lockstep_on_barrier(svc->lockstep, topic, payload, len)) {
        return;
    }
    int input = strcmp(topic, cfg->mqtt.topics.price) == 0          ? INPUT_PRICE
                : strcmp(topic, cfg->mqtt.topics.price_export) == 0 ? INPUT_PRICE_EXPORT
                : strcmp(topic, cfg->mqtt.topics.carbon) == 0       ? INPUT_CARBON
                : strcmp(topic, cfg->mqtt.topics.event) == 0        ? INPUT_EVENT
                : strcmp(topic, cfg->mqtt.topics.cmd) == 0          ? INPUT_CMD
                                                                    : INPUT_COUNT;
    /* Every input's own parser applies the one JSON policy (json_strict.h) as it parses: the
     * forecasts, the DR events and the command (once it is known not to be retained). */
    if (input == INPUT_COUNT) {
        /* not one of ours */
    } else if (strcmp(topic, cfg->mqtt.topics.price) == 0) {
        accept_forecast(svc, INPUT_PRICE, &svc->inputs.import_price, topic, text, len,
                        GRIDEMS__REPLAN_PRICE);
    } else if (strcmp(topic, cfg->mqtt.topics.price_export) == 0) {
        accept_forecast(svc, INPUT_PRICE_EXPORT, &svc->inputs.export_price, topic, text, len,
                        GRIDEMS__REPLAN_PRICE);
    } else if (strcmp(topic, cfg->mqtt.topics.carbon) == 0) {
        accept_forecast(svc, INPUT_CARBON, &svc->inputs.carbon, topic, text, len,
                        GRIDEMS__REPLAN_CARBON);
    } else if (strcmp(topic, cfg->mqtt.topics.event) == 0) {
        accept_event(svc, topic, text, len);
    } else if (strcmp(topic, cfg->mqtt.topics.cmd) == 0) {
        if (!retained) { /* a retained command is history, not an order */
            accept_command(svc, topic, text, len);
        }
    }
    /* Device gateways' traffic (and anything else a plugin subscribed to). */
    if (svc->host_ready) {
        gridems__host_deliver(svc->host, topic, payload, len, qos, retained);
    }
    if (svc->lockstep != NULL) {
        gridems__lockstep_observe(svc->lockstep, topic, payload, len, retained);
    }
}

_Static_assert((int)GRIDEMS__INPUT_PRICE == INPUT_PRICE &&
                   (int)GRIDEMS__INPUT_PRICE_EXPORT == INPUT_PRICE_EXPORT &&
                   (int)GRIDEMS__INPUT_CARBON == INPUT_CARBON &&
                   (int)GRIDEMS__INPUT_EVENT == INPUT_EVENT,
               "the inputs other sources feed are the topics' inputs");

static gridems_forecast_t *input_store(gridems_service_t *svc, gridems__input_t input)
{
    return input == GRIDEMS__INPUT_PRICE          ? &svc->inputs.import_price
           : input == GRIDEMS__INPUT_PRICE_EXPORT ? &svc->inputs.export_price
           : input == GRIDEMS__INPUT_CARBON       ? &svc->inputs.carbon
                                                  : NULL;
}

void gridems__service_input(gridems_service_t *svc, gridems__input_t input, const char *source,
                            const char *text, size_t len)
{
    if (svc->lifecycle.shutting_down) {
        return;
    }
    gridems_forecast_t *store = input_store(svc, input);
    if (store != NULL) {
        accept_forecast(svc, (int)input, store, source, text, len,
                        input == GRIDEMS__INPUT_CARBON ? GRIDEMS__REPLAN_CARBON
                                                       : GRIDEMS__REPLAN_PRICE);
    } else {
        accept_event(svc, source, text, len);
    }
}

void gridems__service_input_clear(gridems_service_t *svc, gridems__input_t input,
                                  const char *source, int64_t start_ms, int64_t end_ms)
{
    gridems_forecast_t *store = input_store(svc, input);
    if (svc->lifecycle.shutting_down || store == NULL) {
        return;
    }
    int rc = gridems_forecast_clear(store, start_ms, end_ms);
    if (rc != 0) {
        gridems_log_warn("%s: cannot withdraw values: %s", source, gridems_strerror(rc));
        return;
    }
    gridems__service_history_forecast_changed(svc, store);
    char a[GRIDEMS_TIME_ISO_BUFLEN] = "";
    char b[GRIDEMS_TIME_ISO_BUFLEN] = "";
    gridems_time_format_iso(start_ms, 0, a, sizeof a);
    gridems_time_format_iso(end_ms, 0, b, sizeof b);
    gridems_log_info("%s: withdrawn from %s to %s; %zu intervals held", source, a, b, store->n);
    gridems__service_request_replan(svc, input == GRIDEMS__INPUT_CARBON ? GRIDEMS__REPLAN_CARBON
                                                                        : GRIDEMS__REPLAN_PRICE);
}

void gridems__service_subscribe_inputs(gridems_service_t *svc)
{
    const char *topics[] = {svc->cfg.mqtt.topics.price, svc->cfg.mqtt.topics.price_export,
                            svc->cfg.mqtt.topics.carbon, svc->cfg.mqtt.topics.event,
                            svc->cfg.mqtt.topics.cmd};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        int rc = gridems_mqtt_subscribe(svc->mqtt, topics[i], 1);
        if (rc != 0) {
            gridems_log_err("mqtt: cannot subscribe to %s: %s", topics[i], gridems_strerror(rc));
        }
    }
}
