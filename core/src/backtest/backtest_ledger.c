/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the site did, from the devices' telemetry alone, never from the service's own view:
 * each gateway's cumulative energy registers (the meter's energy_kwh, the cluster's energy_kwh,
 * each battery's charged_kwh and discharged_kwh), integrated by the gateways on the host clock.
 * A register's increase between two readings is spread evenly over the time between them into
 * the steps; the backtest's devices report on a grid that every step boundary lies on, so no
 * energy lands in the wrong step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "timeutil.h"

int bt_ledger_init(bt_ledger_t *l, int64_t start_ms, int64_t step_ms, int steps,
                   const bt_device_t *devs, int n_devs)
{
    memset(l, 0, sizeof *l);
    l->start_ms = start_ms;
    l->step_ms = step_ms;
    l->steps = steps;
    l->devs = devs;
    l->n_devs = n_devs;
    size_t n = (size_t)steps, d = (size_t)(n_devs > 0 ? n_devs : 1);
    l->base_kwh = calloc(n, sizeof(double));
    l->cluster_kwh = calloc(n, sizeof(double));
    l->charge_kwh = calloc(n, sizeof(double));
    l->discharge_kwh = calloc(n, sizeof(double));
    l->wear_cost = calloc(n, sizeof(double));
    l->week_steps = (int)(7 * 86400000LL / step_ms);
    l->week_steps = l->week_steps > 0 ? l->week_steps : 1;
    l->weeks = (steps + l->week_steps - 1) / l->week_steps;
    l->soc_week_end = calloc(d * (size_t)(l->weeks > 0 ? l->weeks : 1), sizeof(double));
    l->last_ts = calloc(d, sizeof *l->last_ts);
    l->last_reg = calloc(d, sizeof *l->last_reg);
    l->seen = calloc(d, sizeof *l->seen);
    l->soc_start = calloc(d, sizeof(double));
    l->soc_end = calloc(d, sizeof(double));
    l->soc_start_set = calloc(d, sizeof(bool));
    l->first_caps = calloc(d, sizeof(cJSON *));
    l->cluster_cap_kw = calloc(d, sizeof(double));
    l->planned_import_kw = calloc(n, sizeof(double));
    l->forecast_base_kw = calloc(n, sizeof(double));
    if (!l->base_kwh || !l->cluster_kwh || !l->charge_kwh || !l->discharge_kwh || !l->wear_cost ||
        !l->soc_week_end || !l->last_ts || !l->last_reg || !l->seen || !l->soc_start ||
        !l->soc_end || !l->soc_start_set || !l->first_caps || !l->cluster_cap_kw ||
        !l->planned_import_kw || !l->forecast_base_kw) {
        bt_ledger_free(l);
        return -1;
    }
    return 0;
}

void bt_ledger_free(bt_ledger_t *l)
{
    for (int i = 0; l->first_caps != NULL && i < l->n_devs; i++) {
        cJSON_Delete(l->first_caps[i]);
    }
    free(l->base_kwh);
    free(l->cluster_kwh);
    free(l->charge_kwh);
    free(l->discharge_kwh);
    free(l->wear_cost);
    free(l->soc_week_end);
    free(l->last_ts);
    free(l->last_reg);
    free(l->seen);
    free(l->soc_start);
    free(l->soc_end);
    free(l->soc_start_set);
    free(l->first_caps);
    free(l->cluster_cap_kw);
    free(l->planned_import_kw);
    free(l->forecast_base_kw);
    free(l->jobs);
    free(l->solve_ms);
    memset(l, 0, sizeof *l);
}

/* Spread kwh evenly over [t0, t1) into the steps of the period. */
static void spread(const bt_ledger_t *l, double *arr, int64_t t0, int64_t t1, double kwh)
{
    if (t1 <= t0 || kwh == 0) {
        return;
    }
    int64_t end = l->start_ms + (int64_t)l->steps * l->step_ms;
    int64_t a = t0 > l->start_ms ? t0 : l->start_ms;
    int64_t b = t1 < end ? t1 : end;
    while (a < b) {
        int64_t k = (a - l->start_ms) / l->step_ms;
        int64_t step_end = l->start_ms + (k + 1) * l->step_ms;
        int64_t until = step_end < b ? step_end : b;
        arr[k] += kwh * (double)(until - a) / (double)(t1 - t0);
        a = until;
    }
}

static bool number(const cJSON *obj, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bt_job_t *job_slot(bt_ledger_t *l, const char *id)
{
    for (int i = 0; i < l->n_jobs; i++) {
        if (strcmp(l->jobs[i].id, id) == 0) {
            return &l->jobs[i];
        }
    }
    if (l->n_jobs == l->cap_jobs) {
        int cap = l->cap_jobs > 0 ? l->cap_jobs * 2 : 64;
        bt_job_t *grown = realloc(l->jobs, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            return NULL;
        }
        l->jobs = grown;
        l->cap_jobs = cap;
    }
    bt_job_t *j = &l->jobs[l->n_jobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", id);
    return j;
}

/* The jobs that cluster device `dev` reports. */
static void note_jobs(bt_ledger_t *l, int dev, const cJSON *jobs, int64_t ts)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, jobs)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        double arrival, deadline, energy, pmax, delivered = 0, finished_at;
        if (!cJSON_IsString(id) || !number(it, "arrival", &arrival) ||
            !number(it, "deadline", &deadline) || !number(it, "energy_kwh", &energy) ||
            !number(it, "power_max_kw", &pmax)) {
            continue;
        }
        bt_job_t *j = job_slot(l, id->valuestring);
        if (j == NULL) {
            continue;
        }
        j->dev = dev;
        j->arrival_ms = (int64_t)arrival;
        j->deadline_ms = (int64_t)deadline;
        j->energy_kwh = energy;
        j->power_max_kw = pmax;
        number(it, "delivered_kwh", &delivered);
        if (ts <= j->deadline_ms) {
            j->delivered_by_deadline_kwh = delivered;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "finished")) &&
            number(it, "finished_at", &finished_at)) {
            if (!j->finished) {
                j->finished = true;
                j->finished_ms = (int64_t)finished_at;
                if (j->finished_ms <= j->deadline_ms) {
                    j->delivered_by_deadline_kwh = j->energy_kwh;
                }
            }
        }
    }
}

void bt_ledger_telemetry(bt_ledger_t *l, int i, const char *payload, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(payload, len);
    double ts_d, a = 0, b = 0;
    if (msg == NULL || !number(msg, "ts", &ts_d)) {
        cJSON_Delete(msg);
        return;
    }
    int64_t ts = (int64_t)ts_d;
    const bt_device_t *d = &l->devs[i];
    bool ok;
    switch (d->kind) {
    case BT_DEV_BATTERY:
        ok = number(msg, "charged_kwh", &a) && number(msg, "discharged_kwh", &b);
        break;
    default:
        ok = number(msg, "energy_kwh", &a);
        break;
    }
    if (!ok || (l->seen[i] && ts < l->last_ts[i])) {
        cJSON_Delete(msg);
        return;
    }
    if (l->seen[i]) {
        double da = a - l->last_reg[i][0], db = b - l->last_reg[i][1];
        switch (d->kind) {
        case BT_DEV_BATTERY:
            spread(l, l->charge_kwh, l->last_ts[i], ts, da);
            spread(l, l->discharge_kwh, l->last_ts[i], ts, db);
            spread(l, l->wear_cost, l->last_ts[i], ts, db * d->cycle_cost_per_kwh);
            break;
        case BT_DEV_METER:
            if (d->load_role) {
                spread(l, l->base_kwh, l->last_ts[i], ts, da);
            }
            break;
        case BT_DEV_CLUSTER:
            spread(l, l->cluster_kwh, l->last_ts[i], ts, da);
            break;
        }
    }
    l->seen[i] = true;
    l->last_ts[i] = ts;
    l->last_reg[i][0] = a;
    l->last_reg[i][1] = b;
    if (d->kind == BT_DEV_BATTERY) {
        double soc;
        int64_t end = l->start_ms + (int64_t)l->steps * l->step_ms;
        if (number(msg, "soc_kwh", &soc)) {
            if (ts <= l->start_ms || !l->soc_start_set[i]) {
                l->soc_start[i] = soc;
                l->soc_start_set[i] = true;
            }
            if (ts <= end) {
                l->soc_end[i] = soc;
            }
            /* Every week that ends at or after this reading (readings come in time order, so
             * the last one before a week's end stays). */
            for (int w = l->weeks - 1; w >= 0; w--) {
                int last = (w + 1) * l->week_steps < l->steps ? (w + 1) * l->week_steps : l->steps;
                if (ts > l->start_ms + (int64_t)last * l->step_ms) {
                    break;
                }
                l->soc_week_end[(size_t)i * (size_t)l->weeks + (size_t)w] = soc;
            }
        }
        if (l->first_caps[i] == NULL) {
            l->first_caps[i] = msg;
            msg = NULL;
        }
    } else if (d->kind == BT_DEV_CLUSTER) {
        double cap;
        if (number(msg, "power_cap_kw", &cap) && cap > 0) {
            l->cluster_cap_kw[i] = cap;
        }
        note_jobs(l, i, cJSON_GetObjectItemCaseSensitive(msg, "jobs"), ts);
    }
    cJSON_Delete(msg);
}

/* What the plan expected of its first step: its import and its base-load forecast. */
static void note_plan_step(bt_ledger_t *l, const cJSON *msg, const cJSON *plan)
{
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(msg, "start");
    int64_t t;
    char why[64];
    if (!cJSON_IsString(start) ||
        gridems_time_parse_iso(start->valuestring, &t, NULL, why, sizeof why) != 0 ||
        t < l->start_ms) {
        return;
    }
    int64_t k = (t - l->start_ms) / l->step_ms;
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg, "grid_import_kw"), 0);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(plan, "inputs"), "scenario");
    const cJSON *base =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(sc, "site"), "base_load_kw"),
                           0);
    if (k >= l->steps || !cJSON_IsNumber(g)) {
        return;
    }
    l->planned_import_kw[k] = g->valuedouble;
    l->forecast_base_kw[k] = cJSON_IsNumber(base) ? base->valuedouble : 0;
}

void bt_ledger_schedule(bt_ledger_t *l, const char *payload, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(payload, len);
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(msg, "plan");
    double id, ms;
    if (number(plan, "id", &id) && (uint64_t)id != l->last_plan_id) {
        l->last_plan_id = (uint64_t)id;
        l->plans++;
        note_plan_step(l, msg, plan);
        const cJSON *solver = cJSON_GetObjectItemCaseSensitive(msg, "solver");
        if (number(solver, "solve_ms", &ms) || number(solver, "wall_ms", &ms)) {
            if (l->n_solve == l->cap_solve) {
                int cap = l->cap_solve > 0 ? l->cap_solve * 2 : 256;
                double *grown = realloc(l->solve_ms, (size_t)cap * sizeof *grown);
                if (grown != NULL) {
                    l->solve_ms = grown;
                    l->cap_solve = cap;
                }
            }
            if (l->n_solve < l->cap_solve) {
                l->solve_ms[l->n_solve++] = ms;
            }
        }
    }
    cJSON_Delete(msg);
}
