/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What binds in each step of a plan; see plan_binds.h. */
#include "plan_binds.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool at_limit(double value, double limit)
{
    return value >= limit - fmax(0.5, 1e-4 * fabs(limit));
}

static bool at_floor(double value, double floor)
{
    return value <= floor + fmax(0.5, 1e-4 * fabs(floor));
}

static bool tag(cJSON *step, const char *what, const char *id)
{
    char text[GRIDEMS_SCENARIO_MAX_TEXT + 32];
    if (id != NULL) {
        snprintf(text, sizeof text, "%s:%s", what, id);
    } else {
        snprintf(text, sizeof text, "%s", what);
    }
    return cJSON_AddItemToArray(step, cJSON_CreateString(text));
}

/* The tightest DR cap on import in step k, or INFINITY. */
static double dr_cap(const gridems_scenario_t *sc, int k)
{
    double cap = INFINITY;
    for (int e = 0; e < sc->n_events; e++) {
        const gridems_event_t *ev = &sc->events[e];
        if (k >= ev->start_step && k < ev->end_step && ev->import_limit_kw < cap) {
            cap = ev->import_limit_kw;
        }
    }
    return cap;
}

/* Job j runs at full power from step k to its deadline, which falls inside the horizon. */
static bool deadline_binds(const gridems_scenario_t *sc, const gridems_schedule_t *s, int j, int k)
{
    const gridems_flex_load_t *job = &sc->flex_loads[j];
    const double *p = s->flex_loads[j].power_kw;
    if (job->deadline_step > s->steps || k < job->earliest_step || k >= job->deadline_step ||
        !(p[k] > 0.5)) {
        return false;
    }
    for (int t = k; t < job->deadline_step; t++) {
        if (!at_limit(p[t], job->power_max_kw)) {
            return false;
        }
    }
    return true;
}

static bool step_tags(const gridems_scenario_t *sc, const gridems_schedule_t *s, int k, cJSON *step)
{
    double imp = s->grid_import_kw[k];
    double peak = fmax(s->peak_import_kw, sc->peak_so_far_kw);
    bool ok = true;
    if (sc->demand_charge_per_kw > 0 && imp > 0.5 && at_limit(imp, peak)) {
        ok = ok && tag(step, "peak", NULL);
    }
    double cap = dr_cap(sc, k);
    if (cap < sc->import_limit_kw && at_limit(imp, cap)) {
        ok = ok && tag(step, "dr_cap", NULL);
    } else if (at_limit(imp, sc->import_limit_kw)) {
        ok = ok && tag(step, "import_limit", NULL);
    }
    if (sc->has_compute_limit && s->n_flex_loads > 0) {
        double sum = 0.0;
        for (int j = 0; j < s->n_flex_loads; j++) {
            sum += s->flex_loads[j].power_kw[k];
        }
        if (at_limit(sum, sc->compute_limit_kw)) {
            ok = ok && tag(step, "compute_cap", NULL);
        }
    }
    for (int c = 0; c < sc->n_clusters; c++) {
        double sum = 0.0;
        bool any = false;
        for (int j = 0; j < s->n_flex_loads && j < sc->n_flex_loads; j++) {
            const char *in = sc->flex_loads[j].cluster;
            if (in != NULL && strcmp(in, sc->clusters[c].id) == 0) {
                sum += s->flex_loads[j].power_kw[k];
                any = true;
            }
        }
        if (any && at_limit(sum, sc->clusters[c].compute_limit_kw)) {
            ok = ok && tag(step, "cluster_cap", sc->clusters[c].id);
        }
    }
    for (int b = 0; b < s->n_batteries && b < sc->n_batteries; b++) {
        const gridems_battery_t *bat = &sc->batteries[b];
        const gridems_battery_plan_t *bp = &s->batteries[b];
        if (at_floor(bp->soc_kwh[k + 1], bat->soc_min_kwh)) {
            ok = ok && tag(step, "battery_empty", bat->id);
        } else if (at_limit(bp->soc_kwh[k + 1], bat->soc_max_kwh)) {
            ok = ok && tag(step, "battery_full", bat->id);
        }
        if (bat->charge_max_kw > 0 && at_limit(bp->charge_kw[k], bat->charge_max_kw)) {
            ok = ok && tag(step, "battery_charge_max", bat->id);
        } else if (bat->discharge_max_kw > 0 &&
                   at_limit(bp->discharge_kw[k], bat->discharge_max_kw)) {
            ok = ok && tag(step, "battery_discharge_max", bat->id);
        }
    }
    for (int j = 0; j < s->n_flex_loads && j < sc->n_flex_loads; j++) {
        if (deadline_binds(sc, s, j, k)) {
            ok = ok && tag(step, "deadline", sc->flex_loads[j].id);
        }
    }
    return ok;
}

cJSON *gridems_plan_binds_json(const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    if (sc == NULL || s == NULL || s->steps != sc->steps) {
        return NULL;
    }
    cJSON *all = cJSON_CreateArray();
    for (int k = 0; all != NULL && k < s->steps; k++) {
        cJSON *step = cJSON_CreateArray();
        if (step == NULL || !cJSON_AddItemToArray(all, step) || !step_tags(sc, s, k, step)) {
            if (step != NULL && cJSON_GetArraySize(all) <= k) {
                cJSON_Delete(step);
            }
            cJSON_Delete(all);
            return NULL;
        }
    }
    return all;
}
