/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "step_progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gridems_step_progress_init(gridems_step_progress_t *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->step_start_ms = INT64_MIN;
}

static void forget(gridems_step_progress_t *sp)
{
    for (int i = 0; i < sp->n; i++) {
        free(sp->entries[i].id);
    }
    sp->n = 0;
}

void gridems_step_progress_free(gridems_step_progress_t *sp)
{
    forget(sp);
    free(sp->entries);
    gridems_step_progress_init(sp);
}

static gridems_step_progress_entry_t *find(const gridems_step_progress_t *sp, const char *id)
{
    for (int i = 0; i < sp->n; i++) {
        if (strcmp(sp->entries[i].id, id) == 0) {
            return &sp->entries[i];
        }
    }
    return NULL;
}

double gridems_step_progress_observe(gridems_step_progress_t *sp, int64_t step_start_ms,
                                     const char *id, double delivered_kwh)
{
    if (id == NULL || !isfinite(delivered_kwh)) {
        return 0.0;
    }
    if (step_start_ms != sp->step_start_ms) {
        forget(sp);
        sp->step_start_ms = step_start_ms;
    }
    gridems_step_progress_entry_t *e = find(sp, id);
    if (e != NULL) {
        if (delivered_kwh < e->at_start_kwh) {
            e->at_start_kwh = delivered_kwh; /* the device counts from a new start */
        }
        e->last_kwh = delivered_kwh;
        return delivered_kwh - e->at_start_kwh;
    }
    if (sp->n == sp->cap) {
        int cap = sp->cap > 0 ? 2 * sp->cap : 16;
        gridems_step_progress_entry_t *bigger = realloc(sp->entries, (size_t)cap * sizeof *bigger);
        if (bigger == NULL) {
            return 0.0;
        }
        sp->entries = bigger;
        sp->cap = cap;
    }
    char *copy = strdup(id);
    if (copy == NULL) {
        return 0.0;
    }
    sp->entries[sp->n++] =
        (gridems_step_progress_entry_t){copy, delivered_kwh, delivered_kwh, 0.0, 0.0};
    return 0.0;
}

void gridems_step_progress_snapshot(gridems_step_progress_t *sp)
{
    for (int i = 0; i < sp->n; i++) {
        sp->entries[i].solving_kwh = sp->entries[i].last_kwh - sp->entries[i].at_start_kwh;
    }
}

void gridems_step_progress_adopt(gridems_step_progress_t *sp)
{
    for (int i = 0; i < sp->n; i++) {
        sp->entries[i].plan_kwh = sp->entries[i].solving_kwh;
    }
}

double gridems_step_progress_planned_kwh(const gridems_step_progress_t *sp, int64_t step_start_ms,
                                         const char *id)
{
    if (id == NULL || step_start_ms != sp->step_start_ms) {
        return 0.0;
    }
    const gridems_step_progress_entry_t *e = find(sp, id);
    return e != NULL ? e->plan_kwh : 0.0;
}

double gridems_step_progress_rest_kw(double planned_kw, double step_h, double rest_h,
                                     double delivered_since_plan_kwh, double max_kw)
{
    double left_kwh = planned_kw * step_h - delivered_since_plan_kwh;
    if (!(left_kwh > 1e-9)) {
        return 0.0;
    }
    if (!(rest_h > 0)) {
        return max_kw;
    }
    double kw = left_kwh / rest_h;
    return kw < max_kw ? kw : max_kw;
}
