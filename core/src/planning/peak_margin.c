/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The peak margin from the measured load-forecast error; see peak_margin.h for the rule. */
#include "peak_margin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

enum { RING = GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW };

int gridems_peak_margin_init(gridems_peak_margin_t *pm)
{
    memset(pm, 0, sizeof *pm);
    pm->last_step_ms = INT64_MIN;
    pm->err = calloc(RING, sizeof *pm->err);
    return pm->err != NULL ? 0 : GRIDEMS_ENOMEM;
}

void gridems_peak_margin_close(gridems_peak_margin_t *pm)
{
    if (pm == NULL) {
        return;
    }
    free(pm->err);
    memset(pm, 0, sizeof *pm);
    pm->last_step_ms = INT64_MIN;
}

int gridems_peak_margin_add(gridems_peak_margin_t *pm, int64_t step_start_ms, double error_kw)
{
    if (pm == NULL || pm->err == NULL || !isfinite(error_kw)) {
        return GRIDEMS_EINVAL;
    }
    if (pm->last_step_ms != INT64_MIN && step_start_ms <= pm->last_step_ms) {
        return 0;
    }
    pm->err[pm->head] = error_kw;
    pm->head = (pm->head + 1) % RING;
    pm->n = pm->n < RING ? pm->n + 1 : RING;
    pm->last_step_ms = step_start_ms;
    return 1;
}

int gridems_peak_margin_restore(gridems_peak_margin_t *pm, const double *errors, int n,
                                int64_t last_step_ms)
{
    if (pm == NULL || pm->err == NULL || n < 0 || (n > 0 && errors == NULL)) {
        return GRIDEMS_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(errors[i])) {
            return GRIDEMS_EINVAL;
        }
    }
    int first = n > RING ? n - RING : 0;
    pm->n = 0;
    pm->head = 0;
    for (int i = first; i < n; i++) {
        pm->err[pm->head] = errors[i];
        pm->head = (pm->head + 1) % RING;
        pm->n++;
    }
    pm->last_step_ms = n > 0 ? last_step_ms : INT64_MIN;
    return 0;
}

double gridems_peak_margin_error_at(const gridems_peak_margin_t *pm, int i)
{
    return pm->err[(pm->head - pm->n + i + 2 * RING) % RING];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double gridems_peak_margin_quantile(const gridems_peak_margin_t *pm, double q, int window)
{
    if (pm == NULL || pm->err == NULL || pm->n == 0 || window < 1 || !(q > 0 && q < 1)) {
        return 0.0;
    }
    int n = window < pm->n ? window : pm->n;
    double *v = malloc((size_t)n * sizeof *v);
    if (v == NULL) {
        /* No memory for the sort: the largest recent overshoot is a safe upper bound. */
        double worst = 0.0;
        for (int i = 1; i <= n; i++) {
            worst = fmax(worst, pm->err[(pm->head - i + RING) % RING]);
        }
        return worst;
    }
    for (int i = 1; i <= n; i++) {
        v[i - 1] = fmax(0.0, pm->err[(pm->head - i + RING) % RING]);
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int rank = (int)ceil(q * n);
    rank = rank < 1 ? 1 : (rank > n ? n : rank);
    double out = v[rank - 1];
    free(v);
    return out;
}

double gridems_peak_margin_kw(const gridems_peak_margin_t *pm, const gridems_service_config_t *cfg)
{
    double floor_kw = cfg->planner.peak_margin_kw;
    if (cfg->planner.peak_margin != GRIDEMS_PEAK_MARGIN_AUTO || pm == NULL) {
        return floor_kw;
    }
    return fmax(floor_kw, gridems_peak_margin_quantile(pm, cfg->planner.peak_margin_quantile,
                                                       cfg->planner.peak_margin_window_steps));
}
