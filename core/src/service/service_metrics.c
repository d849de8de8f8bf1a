/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The service's metrics in the Prometheus text exposition format 0.0.4 (docs/http.md lists every
 * family). Names follow the Prometheus conventions: a gridems_ prefix, base units in the name
 * (seconds, watts, joules), _total on counters. Power and energy are converted from the
 * service's kW and kWh (x 1000, x 3.6e6); times are the service clock's, so a simulated clock's
 * plan age is in simulated seconds.
 *
 * Thread: the loop thread (reads the service's state).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_loader.h"
#include "service_internal.h"

#ifndef GRIDEMS_VERSION
#define GRIDEMS_VERSION "0"
#endif

extern const double gridems__solve_bucket_s[SERVICE_SOLVE_BUCKETS];

#define W_PER_KW 1000.0
#define J_PER_KWH 3.6e6

static const char *const input_names[5] = {"price", "price_export", "carbon", "event", "cmd"};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped. */
static void label_value(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            fputc('\\', f);
            fputc(*v, f);
        } else if (*v == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*v, f);
        }
    }
}

static void sample(FILE *f, const char *name, double v)
{
    fprintf(f, "%s %.17g\n", name, v);
}

static void sample_label(FILE *f, const char *name, const char *label, const char *value, double v)
{
    fprintf(f, "%s{%s=\"", name, label);
    label_value(f, value);
    fprintf(f, "\"} %.17g\n", v);
}

typedef struct dev_arg_s {
    gridems_service_t *svc;
    FILE *f;
    int pass; /* which family is being written */
    int64_t now;
} dev_arg_t;

enum { PASS_STORED, PASS_SETPOINT, PASS_AGE, PASS_STALE };

static int device_sample(void *arg, gridems__device_t *dev)
{
    dev_arg_t *a = arg;
    service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL) {
        return 0;
    }
    bool battery = sd->klass == GRIDEMS_DEV_BATTERY;
    switch (a->pass) {
    case PASS_STORED:
        if (battery && (sd->valid & GRIDEMS_MEAS_SOC) && sd->last_reading_ms != 0) {
            sample_label(a->f, "gridems_battery_stored_energy_joules", "device", sd->id,
                         sd->soc_kwh * J_PER_KWH);
        }
        break;
    case PASS_SETPOINT:
        if (battery && sd->has_setpoint) {
            sample_label(a->f, "gridems_battery_setpoint_watts", "device", sd->id,
                         sd->setpoint_kw * W_PER_KW);
        }
        break;
    case PASS_AGE:
        if (sd->last_reading_ms != 0) {
            sample_label(a->f, "gridems_device_reading_age_seconds", "device", sd->id,
                         (double)(a->now - sd->last_reading_ms) / 1000.0);
        }
        break;
    default:
        sample_label(a->f, "gridems_device_stale", "device", sd->id, sd->stale ? 1 : 0);
        break;
    }
    return 0;
}

static void devices(gridems_service_t *svc, FILE *f)
{
    static const char *const names[][3] = {
        {"gridems_battery_stored_energy_joules", "gauge",
         "Energy stored in each battery, as last reported."},
        {"gridems_battery_setpoint_watts", "gauge",
         "Each battery's last set-point (positive: discharge, negative: charge)."},
        {"gridems_device_reading_age_seconds", "gauge",
         "Time since each device's last reading (service clock)."},
        {"gridems_device_stale", "gauge",
         "1 when the device is left out of plans and held in safe mode for lack of readings."},
    };
    dev_arg_t a = {svc, f, 0, gridems_clock_now_ms(&svc->clock)};
    for (a.pass = PASS_STORED; a.pass <= PASS_STALE; a.pass++) {
        family(f, names[a.pass][0], names[a.pass][1], names[a.pass][2]);
        if (svc->host_ready) {
            gridems__host_foreach_device(svc->host, device_sample, &a);
        }
    }
}

static void plan(gridems_service_t *svc, FILE *f)
{
    const service_obs_t *o = &svc->obs;
    family(f, "gridems_plan_solve_duration_seconds", "histogram",
           "Wall time of each re-plan's solve on the solver thread.");
    for (int i = 0; i < SERVICE_SOLVE_BUCKETS; i++) {
        fprintf(f, "gridems_plan_solve_duration_seconds_bucket{le=\"%g\"} %llu\n",
                gridems__solve_bucket_s[i], (unsigned long long)o->solve_buckets[i]);
    }
    fprintf(f, "gridems_plan_solve_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
            (unsigned long long)o->solves);
    sample(f, "gridems_plan_solve_duration_seconds_sum", o->solve_seconds_sum);
    fprintf(f, "gridems_plan_solve_duration_seconds_count %llu\n", (unsigned long long)o->solves);
    family(f, "gridems_plan_solver_iterations", "gauge",
           "Simplex iterations of the last solve (both stages).");
    sample(f, "gridems_plan_solver_iterations", o->last_iterations);
    family(f, "gridems_plan_solver_iterations_total", "counter",
           "Simplex iterations of every solve.");
    sample(f, "gridems_plan_solver_iterations_total", (double)o->iterations_total);
    family(f, "gridems_replans_total", "counter", "Re-plans solved or failed.");
    sample(f, "gridems_replans_total", (double)svc->stats.replans);
    family(f, "gridems_replans_failed_total", "counter",
           "Re-plans that gave no plan (no inputs, solver failure or time-out).");
    sample(f, "gridems_replans_failed_total", (double)svc->stats.replans_failed);
    if (!svc->plan.valid) {
        return;
    }
    const gridems_schedule_t *s = &svc->plan.schedule;
    int64_t now = gridems_clock_now_ms(&svc->clock);
    family(f, "gridems_plan_id", "gauge", "Id of the plan in force.");
    sample(f, "gridems_plan_id", (double)svc->plan.id);
    family(f, "gridems_plan_age_seconds", "gauge", "Time since the plan in force was made.");
    sample(f, "gridems_plan_age_seconds", (double)(now - svc->plan.created_ms) / 1000.0);
    family(f, "gridems_plan_objective", "gauge",
           "Objective of the plan in force over its horizon, in the site's currency.");
    sample(f, "gridems_plan_objective", s->objective);
    family(f, "gridems_plan_cost", "gauge",
           "The objective's parts over the horizon, in the site's currency (export is a credit).");
    const char *parts[] = {"energy", "export", "degradation", "demand", "carbon", "penalty"};
    const double values[] = {s->cost_energy, s->cost_export, s->cost_degradation,
                             s->cost_demand, s->cost_carbon, s->cost_penalty};
    for (int i = 0; i < 6; i++) {
        sample_label(f, "gridems_plan_cost", "part", parts[i], values[i]);
    }
    family(f, "gridems_plan_peak_import_watts", "gauge",
           "Highest step import of the plan in force.");
    sample(f, "gridems_plan_peak_import_watts", s->peak_import_kw * W_PER_KW);
    if (s->steps > 0) {
        family(f, "gridems_plan_import_watts", "gauge", "Planned import of the running step.");
        sample(f, "gridems_plan_import_watts", s->grid_import_kw[0] * W_PER_KW);
    }
}

static void site(gridems_service_t *svc, FILE *f)
{
    family(f, "gridems_info", "gauge", "Version and site of this service (always 1).");
    fprintf(f, "gridems_info{version=\"%s\",site=\"", GRIDEMS_VERSION);
    label_value(f, svc->cfg.site.id);
    fprintf(f, "\"} 1\n");
    family(f, "gridems_status", "gauge", "1 for the service's current status, 0 for the other.");
    sample_label(f, "gridems_status", "state", "online", strcmp(svc->status.word, "online") == 0);
    sample_label(f, "gridems_status", "state", "degraded",
                 strcmp(svc->status.word, "degraded") == 0);
    if (svc->obs.has_import) {
        family(f, "gridems_grid_import_watts", "gauge",
               "The site's import at the last control tick (site meter, else the devices' sum).");
        sample(f, "gridems_grid_import_watts", svc->obs.import_kw * W_PER_KW);
    }
    family(f, "gridems_billing_peak_watts", "gauge",
           "The billing period's peak so far (largest step mean import).");
    sample(f, "gridems_billing_peak_watts",
           gridems_state_peak_kw(&svc->planning.state, svc->planning.period) * W_PER_KW);
    family(f, "gridems_input_messages_total", "counter",
           "Messages on the service's input topics, by input and result.");
    for (int i = 0; i < 5; i++) {
        fprintf(f, "gridems_input_messages_total{input=\"%s\",result=\"accepted\"} %llu\n",
                input_names[i], (unsigned long long)svc->stats.accepted_by_input[i]);
        fprintf(f, "gridems_input_messages_total{input=\"%s\",result=\"rejected\"} %llu\n",
                input_names[i], (unsigned long long)svc->stats.rejected_by_input[i]);
    }
    family(f, "gridems_setpoints_sent_total", "counter", "Set-points sent to devices.");
    sample(f, "gridems_setpoints_sent_total", (double)svc->stats.setpoints_sent);
    family(f, "gridems_peak_guard_engaged", "gauge", "1 while the peak guard sheds load.");
    sample(f, "gridems_peak_guard_engaged", svc->guard.engaged ? 1 : 0);
    family(f, "gridems_peak_guard_engagements_total", "counter", "Times the peak guard engaged.");
    sample(f, "gridems_peak_guard_engagements_total", (double)svc->guard.engagements);
    family(f, "gridems_peak_guard_shed_joules_total", "counter",
           "Energy the peak guard asked the devices to shed.");
    sample(f, "gridems_peak_guard_shed_joules_total", svc->guard.shed_kwh * J_PER_KWH);
}

static void mqtt(gridems_service_t *svc, FILE *f)
{
    gridems_mqtt_stats_t m;
    memset(&m, 0, sizeof m);
    if (svc->mqtt != NULL) {
        gridems_mqtt_get_stats(svc->mqtt, &m);
    }
    family(f, "gridems_mqtt_connected", "gauge", "1 while connected to the broker.");
    sample(f, "gridems_mqtt_connected", svc->mqtt != NULL && gridems_mqtt_is_connected(svc->mqtt));
    family(f, "gridems_mqtt_reconnects_total", "counter",
           "Successful connections after the first.");
    sample(f, "gridems_mqtt_reconnects_total", (double)m.reconnects);
    family(f, "gridems_mqtt_connect_failures_total", "counter", "Failed connection attempts.");
    sample(f, "gridems_mqtt_connect_failures_total", (double)m.connect_failures);
    family(f, "gridems_mqtt_messages_received_total", "counter", "Messages received.");
    sample(f, "gridems_mqtt_messages_received_total", (double)m.received);
    family(f, "gridems_mqtt_messages_published_total", "counter",
           "Publishes accepted by the client.");
    sample(f, "gridems_mqtt_messages_published_total", (double)m.published);
    family(f, "gridems_mqtt_publish_failures_total", "counter", "Publishes refused or failed.");
    sample(f, "gridems_mqtt_publish_failures_total", (double)m.publish_failures);
}

static int overruns_one(void *arg, gridems_plugin_t *inst)
{
    sample_label(arg, "gridems_plugin_callback_overruns_total", "instance",
                 gridems__instance_name(inst), (double)gridems__instance_overruns(inst));
    return 0;
}

static void plugins(gridems_service_t *svc, FILE *f)
{
    family(f, "gridems_plugin_callback_overruns_total", "counter",
           "Plugin callbacks on the loop thread that took longer than the 5 ms budget.");
    if (!svc->host_ready) {
        return;
    }
    gridems__host_foreach_instance(svc->host, overruns_one, f);
}

char *gridems__service_metrics_text(gridems_service_t *svc, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL) {
        return NULL;
    }
    site(svc, f);
    plan(svc, f);
    devices(svc, f);
    mqtt(svc, f);
    plugins(svc, f);
    gridems__service_openadr_metrics(svc, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}
