/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: device telemetry and device commands as they arrive from MQTT, through the real
 * host (core/src/host/host_mqtt.c: topic matching, delivery, the checks on each posted reading)
 * into the real simulated-device plugins loaded by the real loader (their drivers parse telemetry,
 * their gateways parse commands). The first byte picks one of the six topics; the rest is the
 * payload. What the plugins publish in answer is delivered too, as a broker would.
 */
#include "fuzz.h"
#include "gridems/errors.h"
#include "host_api.h"
#include "log.h"
#include "plugin_loader.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifndef GRIDEMS_FUZZ_PLUGIN_DIR
#error "GRIDEMS_FUZZ_PLUGIN_DIR must name the directory of the built plugins"
#endif

static uv_loop_t loop;
static gridems__host_t *host;
static int ready;
static unsigned long readings;

/* What the plugins published during one input, delivered after it (a tiny broker). */
enum { QUEUE_MAX = 16 };
static struct {
    char *topic;
    char *payload;
    size_t len;
} queue[QUEUE_MAX];
static int queued;

static int svc_publish(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       int retain)
{
    (void)ctx;
    (void)qos;
    (void)retain;
    if (queued == QUEUE_MAX) {
        return GRIDEMS_EAGAIN;
    }
    queue[queued].topic = strdup(topic);
    queue[queued].payload = malloc(len + 1);
    if (queue[queued].topic == NULL || queue[queued].payload == NULL) {
        free(queue[queued].topic);
        free(queue[queued].payload);
        return GRIDEMS_ENOMEM;
    }
    memcpy(queue[queued].payload, payload, len);
    queue[queued].payload[len] = '\0';
    queue[queued].len = len;
    queued++;
    return 0;
}

static void svc_measurement(void *ctx, gridems__device_t *dev, const gridems_measurement_t *m)
{
    (void)ctx;
    (void)dev;
    (void)m;
    readings++;
}

static int64_t svc_now(void *ctx)
{
    (void)ctx;
    return INT64_C(1683471600000); /* 2023-05-08T00:00:00+09:00 */
}

static const char *const instances[] = {
    "{\"plugin\":\"battery_sim\",\"name\":\"bess1\",\"options\":{\"topic_prefix\":\"t/bess1\","
    "\"telemetry_interval_ms\":60000,\"capacity_kwh\":100,\"soc_kwh\":50,\"soc_min_kwh\":10,"
    "\"soc_max_kwh\":90,\"charge_max_kw\":20,\"discharge_max_kw\":25}}",
    "{\"plugin\":\"meter_sim\",\"name\":\"load\",\"options\":{\"topic_prefix\":\"t/load\","
    "\"telemetry_interval_ms\":60000}}",
    "{\"plugin\":\"cluster_sim\",\"name\":\"cl\",\"options\":{\"topic_prefix\":\"t/cl\","
    "\"telemetry_interval_ms\":60000,\"power_cap_kw\":3000}}",
};

static const char *const topics[] = {"t/bess1/telemetry", "t/load/telemetry", "t/cl/telemetry",
                                     "t/bess1/cmd",       "t/load/cmd",       "t/cl/cmd"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gridems_log_set_level(GRIDEMS_LOG_ERR);
    uv_loop_init(&loop);
    static const gridems__host_services_t services = {
        .publish = svc_publish, .measurement = svc_measurement, .now_ms = svc_now};
    if (gridems__host_create(&loop, &services, &host) != 0) {
        fprintf(stderr, "fuzz_telemetry: cannot create the host\n");
        abort();
    }
    for (size_t i = 0; i < sizeof instances / sizeof instances[0]; i++) {
        cJSON *cfg = cJSON_Parse(instances[i]);
        gridems_plugin_t *inst = NULL;
        char err[512] = "";
        int rc = gridems__plugin_load(host, cfg, GRIDEMS_FUZZ_PLUGIN_DIR, &inst, err, sizeof err);
        cJSON_Delete(cfg);
        if (rc != 0) {
            fprintf(stderr, "fuzz_telemetry: cannot load %s: %s\n", instances[i], err);
            abort();
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    ready = 1;
    return 0;
}

static void deliver_queue(void)
{
    /* Answers may cause answers: a bounded number of rounds. */
    for (int round = 0; round < 4 && queued > 0; round++) {
        int n = queued;
        queued = 0;
        char *t[QUEUE_MAX], *p[QUEUE_MAX];
        size_t l[QUEUE_MAX];
        for (int i = 0; i < n; i++) {
            t[i] = queue[i].topic;
            p[i] = queue[i].payload;
            l[i] = queue[i].len;
        }
        for (int i = 0; i < n; i++) {
            (void)gridems__host_deliver(host, t[i], p[i], l[i], 1, 0);
            free(t[i]);
            free(p[i]);
        }
    }
    for (int i = 0; i < queued; i++) {
        free(queue[i].topic);
        free(queue[i].payload);
    }
    queued = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    if (size < 1) {
        return 0;
    }
    const char *topic = topics[data[0] % (sizeof topics / sizeof topics[0])];
    (void)gridems__host_deliver(host, topic, data + 1, size - 1, 1, 0);
    deliver_queue();
    return 0;
}
