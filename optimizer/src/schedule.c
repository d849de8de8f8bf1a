/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The schedule: allocation and the JSON of docs/optimizer.md. */
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "optimizer_internal.h"

void gridems_schedule_free(gridems_schedule_t *s)
{
    free(s->grid_import_kw);
    free(s->grid_export_kw);
    free(s->pv_curtailed_kw);
    free(s->unserved_kw);
    free(s->marginal_price_per_kwh);
    for (int b = 0; s->batteries != NULL && b < s->n_batteries; b++) {
        free(s->batteries[b].charge_kw);
        free(s->batteries[b].discharge_kw);
        free(s->batteries[b].soc_kwh);
    }
    for (int j = 0; s->flex_loads != NULL && j < s->n_flex_loads; j++) {
        free(s->flex_loads[j].power_kw);
    }
    free(s->batteries);
    free(s->flex_loads);
    memset(s, 0, sizeof *s);
}

static double *steps_array(int n, bool *failed)
{
    double *a = calloc((size_t)(n > 0 ? n : 1), sizeof *a);
    if (a == NULL) {
        *failed = true;
    }
    return a;
}

int gridems__schedule_alloc(gridems_schedule_t *s, int steps, int n_batteries, int n_flex)
{
    memset(s, 0, sizeof *s);
    bool failed = false;
    s->steps = steps;
    s->grid_import_kw = steps_array(steps, &failed);
    s->grid_export_kw = steps_array(steps, &failed);
    s->pv_curtailed_kw = steps_array(steps, &failed);
    s->unserved_kw = steps_array(steps, &failed);
    s->marginal_price_per_kwh = steps_array(steps, &failed);
    s->batteries = calloc((size_t)n_batteries + 1, sizeof *s->batteries);
    s->flex_loads = calloc((size_t)n_flex + 1, sizeof *s->flex_loads);
    if (s->batteries == NULL || s->flex_loads == NULL) {
        failed = true;
    } else {
        s->n_batteries = n_batteries;
        s->n_flex_loads = n_flex;
        for (int b = 0; b < n_batteries; b++) {
            s->batteries[b].charge_kw = steps_array(steps, &failed);
            s->batteries[b].discharge_kw = steps_array(steps, &failed);
            s->batteries[b].soc_kwh = steps_array(steps + 1, &failed);
        }
        for (int j = 0; j < n_flex; j++) {
            s->flex_loads[j].power_kw = steps_array(steps, &failed);
        }
    }
    if (failed) {
        gridems_schedule_free(s);
        return GRIDEMS_ENOMEM;
    }
    return 0;
}

/* Every number goes through gridems__json_number so that it round-trips a double. */
static bool add_array(cJSON *obj, const char *key, const double *values, int n)
{
    cJSON *arr = gridems__json_number_array(values, n);
    if (arr == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, key, arr)) {
        cJSON_Delete(arr);
        return false;
    }
    return true;
}

static bool add_costs(cJSON *root, const gridems_schedule_t *s)
{
    cJSON *costs = cJSON_AddObjectToObject(root, "costs");
    return costs != NULL && gridems__json_add_number(costs, "energy", s->cost_energy) &&
           gridems__json_add_number(costs, "export", s->cost_export) &&
           gridems__json_add_number(costs, "degradation", s->cost_degradation) &&
           gridems__json_add_number(costs, "demand", s->cost_demand) &&
           gridems__json_add_number(costs, "carbon", s->cost_carbon) &&
           gridems__json_add_number(costs, "penalty", s->cost_penalty);
}

static bool add_batteries(cJSON *root, const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "batteries");
    if (arr == NULL) {
        return false;
    }
    for (int b = 0; b < s->n_batteries; b++) {
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            return false;
        }
        const gridems_battery_plan_t *bp = &s->batteries[b];
        if (cJSON_AddStringToObject(item, "id", sc->batteries[b].id) == NULL ||
            !add_array(item, "charge_kw", bp->charge_kw, s->steps) ||
            !add_array(item, "discharge_kw", bp->discharge_kw, s->steps) ||
            !add_array(item, "soc_kwh", bp->soc_kwh, s->steps + 1)) {
            return false;
        }
    }
    return true;
}

static bool add_flex_loads(cJSON *root, const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "flexible_loads");
    if (arr == NULL) {
        return false;
    }
    for (int j = 0; j < s->n_flex_loads; j++) {
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            return false;
        }
        if (cJSON_AddStringToObject(item, "id", sc->flex_loads[j].id) == NULL ||
            !add_array(item, "power_kw", s->flex_loads[j].power_kw, s->steps) ||
            !gridems__json_add_number(item, "unmet_kwh", s->flex_loads[j].unmet_kwh)) {
            return false;
        }
    }
    return true;
}

static bool add_solver(cJSON *root, const gridems_schedule_t *s)
{
    cJSON *solver = cJSON_AddObjectToObject(root, "solver");
    return solver != NULL && cJSON_AddStringToObject(solver, "name", "glpk") != NULL &&
           gridems__json_add_number(solver, "iterations", s->iterations) &&
           gridems__json_add_number(solver, "solve_ms", s->solve_ms) &&
           cJSON_AddStringToObject(solver, "start", gridems_start_kind_name(s->start_kind)) !=
               NULL &&
           gridems__json_add_number(solver, "iteration_cap", s->iteration_cap) &&
           cJSON_AddStringToObject(solver, "tie_break", gridems_tie_break_name(s->tie_break)) !=
               NULL &&
           gridems__json_add_number(solver, "tie_break_iterations", s->tie_break_iterations) &&
           gridems__json_add_number(solver, "columns", s->columns) &&
           gridems__json_add_number(solver, "rows", s->rows);
}

cJSON *gridems__schedule_to_cjson(const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    int T = s->steps;
    bool ok = gridems__json_add_number(root, "version", 1) &&
              cJSON_AddStringToObject(root, "status", "optimal") != NULL &&
              gridems__json_add_number(root, "objective", s->objective) && add_costs(root, s) &&
              gridems__json_add_number(root, "emissions_kg", s->emissions_kg) &&
              (sc->start != NULL ? cJSON_AddStringToObject(root, "start", sc->start)
                                 : cJSON_AddNullToObject(root, "start")) != NULL &&
              gridems__json_add_number(root, "step_minutes", sc->step_minutes) &&
              gridems__json_add_number(root, "steps", T) &&
              add_array(root, "grid_import_kw", s->grid_import_kw, T) &&
              add_array(root, "grid_export_kw", s->grid_export_kw, T) &&
              add_array(root, "pv_curtailed_kw", s->pv_curtailed_kw, T) &&
              add_array(root, "unserved_kw", s->unserved_kw, T) &&
              gridems__json_add_number(root, "peak_import_kw", s->peak_import_kw) &&
              add_array(root, "marginal_price_per_kwh", s->marginal_price_per_kwh, T) &&
              add_batteries(root, sc, s) && add_flex_loads(root, sc, s) && add_solver(root, s);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char *gridems_schedule_to_json(const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    cJSON *root = gridems__schedule_to_cjson(sc, s);
    if (root == NULL) {
        return NULL;
    }
    char *text = gridems__json_print(root);
    cJSON_Delete(root);
    return text;
}

/* The names the schedule JSON and the logs give a solve's start and tie-break. */
const char *gridems_start_kind_name(gridems_start_kind_t kind)
{
    switch (kind) {
    case GRIDEMS_START_COLD:
        return "cold";
    case GRIDEMS_START_UPDATE:
        return "update";
    case GRIDEMS_START_SHIFTED:
        return "shifted";
    case GRIDEMS_START_FALLBACK:
        return "fallback";
    case GRIDEMS_START_CAPPED:
        return "capped";
    }
    return "unknown";
}

const char *gridems_tie_break_name(gridems_tie_break_t tb)
{
    switch (tb) {
    case GRIDEMS_TIE_NONE:
        return "none";
    case GRIDEMS_TIE_APPLIED:
        return "applied";
    case GRIDEMS_TIE_SKIPPED:
        return "skipped";
    }
    return "unknown";
}
