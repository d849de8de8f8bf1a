/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the service remembers for people watching it (docs/http.md): the last re-plans with
 * their reasons and solve times, the solve-time histogram, the last P/state document, and the
 * retained per-value topics (P/value/...) for the few numbers people graph, published from the
 * control tick when they change. Also the per-step start times added to every schedule.
 *
 * Threads: the loop thread only (the service's state). Ownership: svc->obs owns what it points to;
 * gridems__service_observe_free() releases it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_internal.h"
#include "optimizer_internal.h"
#include "timeutil.h"

/* Upper bounds (seconds) of the solve-time histogram's buckets; docs/http.md lists them. */
const double gridems__solve_bucket_s[SERVICE_SOLVE_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};

/* One per-value topic and what was last published on it. */
typedef struct value_topic_s {
    char *topic;
    char last[32];
    struct value_topic_s *next;
} value_topic_t;

struct service_values_s {
    value_topic_t *topics;
};

void gridems__service_observe_result(gridems_service_t *svc, uint64_t id, double solve_ms,
                                     int iterations, double objective)
{
    service_obs_t *o = &svc->obs;
    double s = solve_ms / 1000.0;
    o->solves++;
    o->solve_seconds_sum += s;
    for (int i = 0; i < SERVICE_SOLVE_BUCKETS; i++) {
        if (s <= gridems__solve_bucket_s[i]) {
            o->solve_buckets[i]++;
        }
    }
    o->last_iterations = iterations;
    o->iterations_total += (uint64_t)(iterations > 0 ? iterations : 0);
    service_plan_note_t *n = &o->notes[o->head];
    memset(n, 0, sizeof *n);
    n->id = id;
    n->created_ms = gridems_clock_now_ms(&svc->clock);
    snprintf(n->trigger, sizeof n->trigger, "%s",
             gridems__replan_reason_name(gridems__service_replan_reason(svc)));
    snprintf(n->state, sizeof n->state, "%s", svc->status.word);
    snprintf(n->text, sizeof n->text, "%.255s", svc->status.reason);
    n->objective = objective;
    n->solve_ms = solve_ms;
    n->iterations = iterations;
    o->head = (o->head + 1) % SERVICE_PLAN_HISTORY;
    if (o->count < SERVICE_PLAN_HISTORY) {
        o->count++;
    }
}

/* Publish payload on P/value/<suffix> (retained) unless it is what was last sent there. */
static void publish_value(gridems_service_t *svc, const char *suffix, double value)
{
    if (svc->mqtt == NULL || !isfinite(value)) {
        return;
    }
    struct service_values_s *vs = svc->obs.values;
    if (vs == NULL) {
        vs = svc->obs.values = calloc(1, sizeof *vs);
        if (vs == NULL) {
            return;
        }
    }
    char topic[512];
    snprintf(topic, sizeof topic, "%s/value/%s", svc->cfg.mqtt.topic_prefix, suffix);
    value_topic_t *t = vs->topics;
    while (t != NULL && strcmp(t->topic, topic) != 0) {
        t = t->next;
    }
    if (t == NULL) {
        t = calloc(1, sizeof *t);
        if (t == NULL || (t->topic = strdup(topic)) == NULL) {
            free(t);
            return;
        }
        t->next = vs->topics;
        vs->topics = t;
    }
    char text[32];
    /* One decimal: what a graph shows, and a reading's noise does not resend it every tick. */
    snprintf(text, sizeof text, "%.1f", value);
    if (strcmp(text, t->last) == 0) {
        return;
    }
    if (gridems_mqtt_publish(svc->mqtt, topic, text, strlen(text), 0, 1) == 0) {
        snprintf(t->last, sizeof t->last, "%s", text);
    }
}

static int publish_battery_values(void *arg, gridems__device_t *dev)
{
    gridems_service_t *svc = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL || sd->klass != GRIDEMS_DEV_BATTERY || sd->last_reading_ms == 0) {
        return 0;
    }
    char suffix[256];
    if (sd->valid & GRIDEMS_MEAS_SOC) {
        snprintf(suffix, sizeof suffix, "battery/%s/stored_kwh", sd->id);
        publish_value(svc, suffix, sd->soc_kwh);
    }
    if (sd->has_setpoint) {
        snprintf(suffix, sizeof suffix, "battery/%s/setpoint_kw", sd->id);
        publish_value(svc, suffix, sd->setpoint_kw);
    }
    return 0;
}

void gridems__service_observe_state(gridems_service_t *svc, const cJSON *state, double import_kw)
{
    char *text = gridems__json_print(state);
    if (text != NULL) {
        free(svc->obs.state_json);
        svc->obs.state_json = text;
    }
    svc->obs.has_import = isfinite(import_kw);
    svc->obs.import_kw = import_kw;
    publish_value(svc, "import_kw", import_kw);
    publish_value(svc, "peak_kw",
                  gridems_state_peak_kw(&svc->planning.state, svc->planning.period));
    if (svc->host_ready) {
        gridems__host_foreach_device(svc->host, publish_battery_values, svc);
    }
}

void gridems__service_add_step_times(const gridems_service_t *svc, cJSON *schedule,
                                     int64_t grid_start_ms, int64_t step_ms, int steps)
{
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; arr != NULL && k < steps; k++) {
        char when[GRIDEMS_TIME_ISO_BUFLEN];
        gridems_time_format_iso(grid_start_ms + (int64_t)k * step_ms, svc->cfg.site.utc_offset_min,
                                when, sizeof when);
        cJSON_AddItemToArray(arr, cJSON_CreateString(when));
    }
    if (arr != NULL && !cJSON_AddItemToObject(schedule, "step_starts", arr)) {
        cJSON_Delete(arr);
    }
}

void gridems__service_observe_free(gridems_service_t *svc)
{
    free(svc->obs.state_json);
    svc->obs.state_json = NULL;
    if (svc->obs.values != NULL) {
        value_topic_t *t = svc->obs.values->topics;
        while (t != NULL) {
            value_topic_t *next = t->next;
            free(t->topic);
            free(t);
            t = next;
        }
        free(svc->obs.values);
        svc->obs.values = NULL;
    }
}
