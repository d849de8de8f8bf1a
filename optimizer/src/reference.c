/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reference plans (gridems_reference_t, optimizer.h): made from a solved schedule, as the
 * service does with its last plan before each re-plan.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "gridems/optimizer.h"

static double *copy_series(const double *values, int n)
{
    double *out = malloc((size_t)n * sizeof *out);
    if (out != NULL) {
        memcpy(out, values, (size_t)n * sizeof *out);
    }
    return out;
}

int gridems_reference_from_schedule(gridems_reference_t *ref, const gridems_scenario_t *sc,
                                    const gridems_schedule_t *sched, int64_t start_ms)
{
    memset(ref, 0, sizeof *ref);
    int n = sched->n_batteries + sched->n_flex_loads;
    int T = sched->steps;
    ref->start_ms = start_ms;
    ref->step_ms = llround(sc->step_minutes * 60000.0);
    ref->steps = T;
    if (n == 0 || T <= 0) {
        return 0;
    }
    ref->items = calloc((size_t)n, sizeof *ref->items);
    if (ref->items == NULL) {
        return GRIDEMS_ENOMEM;
    }
    ref->n_items = n;
    bool ok = true;
    for (int b = 0; b < sched->n_batteries && ok; b++) {
        gridems_reference_item_t *it = &ref->items[b];
        it->id = strdup(sc->batteries[b].id);
        it->charge_kw = copy_series(sched->batteries[b].charge_kw, T);
        it->discharge_kw = copy_series(sched->batteries[b].discharge_kw, T);
        ok = it->id != NULL && it->charge_kw != NULL && it->discharge_kw != NULL;
    }
    for (int j = 0; j < sched->n_flex_loads && ok; j++) {
        gridems_reference_item_t *it = &ref->items[sched->n_batteries + j];
        it->id = strdup(sc->flex_loads[j].id);
        it->power_kw = copy_series(sched->flex_loads[j].power_kw, T);
        ok = it->id != NULL && it->power_kw != NULL;
    }
    if (!ok) {
        gridems_reference_free(ref);
        return GRIDEMS_ENOMEM;
    }
    return 0;
}

void gridems_reference_free(gridems_reference_t *ref)
{
    if (ref == NULL) {
        return;
    }
    for (int i = 0; i < ref->n_items; i++) {
        free(ref->items[i].id);
        free(ref->items[i].charge_kw);
        free(ref->items[i].discharge_kw);
        free(ref->items[i].power_kw);
    }
    free(ref->items);
    memset(ref, 0, sizeof *ref);
}
