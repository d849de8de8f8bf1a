/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "lp_layout.h"

#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

void gridems__lp_import_caps(const gridems_scenario_t *sc, double *caps)
{
    for (int t = 0; t < sc->steps; t++) {
        caps[t] = sc->import_limit_kw;
    }
    for (int e = 0; e < sc->n_events; e++) {
        const gridems_event_t *ev = &sc->events[e];
        for (int t = ev->start_step; t < ev->end_step; t++) {
            if (ev->import_limit_kw < caps[t]) {
                caps[t] = ev->import_limit_kw;
            }
        }
    }
}

void gridems__lp_layout_free(lp_layout_t *l)
{
    int *const arrays[] = {l->g,       l->x,           l->k,          l->z,           l->c,
                           l->d,       l->s,           l->f,          l->p,           l->u,
                           l->balance, l->storage,     l->final_energy, l->flex_energy,
                           l->compute_cap, l->peak_row};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        free(arrays[i]);
    }
    for (int b = 0; l->battery_ids != NULL && b < l->n_batteries; b++) {
        free(l->battery_ids[b]);
    }
    for (int j = 0; l->flex_ids != NULL && j < l->n_flex; j++) {
        free(l->flex_ids[j]);
    }
    free(l->battery_ids);
    free(l->flex_ids);
    free(l->charge_efficiency);
    free(l->discharge_efficiency);
    memset(l, 0, sizeof *l);
}

static int *zeroed_ints(size_t n, bool *failed)
{
    int *a = calloc(n > 0 ? n : 1, sizeof *a);
    if (a == NULL) {
        *failed = true;
    }
    return a;
}

static bool allocate(lp_layout_t *l)
{
    size_t T = (size_t)l->steps, nb = (size_t)l->n_batteries, nf = (size_t)l->n_flex;
    bool failed = false;
    l->g = zeroed_ints(T, &failed);
    l->x = zeroed_ints(T, &failed);
    l->k = zeroed_ints(T, &failed);
    l->z = zeroed_ints(T, &failed);
    l->c = zeroed_ints(nb * T, &failed);
    l->d = zeroed_ints(nb * T, &failed);
    l->s = zeroed_ints(nb * T, &failed);
    l->f = zeroed_ints(nb, &failed);
    l->p = zeroed_ints(nf * T, &failed);
    l->u = zeroed_ints(nf, &failed);
    l->balance = zeroed_ints(T, &failed);
    l->storage = zeroed_ints(nb * T, &failed);
    l->final_energy = zeroed_ints(nb, &failed);
    l->flex_energy = zeroed_ints(nf, &failed);
    l->compute_cap = zeroed_ints(T, &failed);
    l->peak_row = zeroed_ints(T, &failed);
    l->charge_efficiency = calloc(nb + 1, sizeof(double));
    l->discharge_efficiency = calloc(nb + 1, sizeof(double));
    l->battery_ids = calloc(nb + 1, sizeof(char *));
    l->flex_ids = calloc(nf + 1, sizeof(char *));
    return !failed && l->charge_efficiency != NULL && l->discharge_efficiency != NULL &&
           l->battery_ids != NULL && l->flex_ids != NULL;
}

static void number_columns(lp_layout_t *l, const gridems_scenario_t *sc, const double *caps)
{
    int T = l->steps, n = 0;
    /* Step-major order keeps each step's variables together, which keeps the basis factor sparse
     * and makes a one-step shift move whole blocks. */
    for (int t = 0; t < T; t++) {
        l->g[t] = caps[t] > 0 ? ++n : 0;
        l->x[t] = sc->export_limit_kw > 0 ? ++n : 0;
        l->k[t] = sc->pv_kw[t] > 0 ? ++n : 0;
        l->z[t] = ++n;
        for (int b = 0; b < l->n_batteries; b++) {
            const gridems_battery_t *bat = &sc->batteries[b];
            l->c[b * T + t] = bat->charge_max_kw > 0 ? ++n : 0;
            l->d[b * T + t] = bat->discharge_max_kw > 0 ? ++n : 0;
            l->s[b * T + t] = ++n;
        }
        for (int j = 0; j < l->n_flex; j++) {
            const gridems_flex_load_t *fl = &sc->flex_loads[j];
            bool open = t >= fl->earliest_step && t < fl->deadline_step && fl->power_max_kw > 0;
            l->p[j * T + t] = open ? ++n : 0;
        }
    }
    for (int b = 0; b < l->n_batteries; b++) {
        l->f[b] = ++n;
    }
    for (int j = 0; j < l->n_flex; j++) {
        l->u[j] = ++n;
    }
    l->peak = sc->demand_charge_per_kw > 0 ? ++n : 0;
    l->n_cols = n;
}

static void number_rows(lp_layout_t *l, const gridems_scenario_t *sc)
{
    int T = l->steps, n = 0, nz = 0;
    for (int t = 0; t < T; t++) {
        l->balance[t] = ++n;
        nz += (l->g[t] != 0) + (l->x[t] != 0) + (l->k[t] != 0) + 1;
        for (int b = 0; b < l->n_batteries; b++) {
            nz += (l->c[b * T + t] != 0) + (l->d[b * T + t] != 0);
            l->storage[b * T + t] = ++n;
            nz += 1 + (t > 0) + (l->c[b * T + t] != 0) + (l->d[b * T + t] != 0);
        }
        int open = 0;
        for (int j = 0; j < l->n_flex; j++) {
            open += l->p[j * T + t] != 0;
        }
        nz += open;
        if (sc->has_compute_limit && open > 0) {
            l->compute_cap[t] = ++n;
            nz += open;
        }
        if (l->peak != 0 && l->g[t] != 0) {
            l->peak_row[t] = ++n;
            nz += 2;
        }
    }
    for (int b = 0; b < l->n_batteries; b++) {
        l->final_energy[b] = ++n;
        nz += 2;
    }
    for (int j = 0; j < l->n_flex; j++) {
        l->flex_energy[j] = ++n;
        nz += 1;
        for (int t = 0; t < T; t++) {
            nz += l->p[j * T + t] != 0;
        }
    }
    l->n_rows = n;
    l->n_nonzeros = nz;
}

int gridems__lp_layout_build(lp_layout_t *l, const gridems_scenario_t *sc)
{
    memset(l, 0, sizeof *l);
    l->steps = sc->steps;
    l->n_batteries = sc->n_batteries;
    l->n_flex = sc->n_flex_loads;
    l->dt = gridems_scenario_dt_hours(sc);
    double *caps = malloc((size_t)sc->steps * sizeof *caps);
    if (caps == NULL || !allocate(l)) {
        free(caps);
        gridems__lp_layout_free(l);
        return GRIDEMS_ENOMEM;
    }
    gridems__lp_import_caps(sc, caps);
    number_columns(l, sc, caps);
    free(caps);
    number_rows(l, sc);
    for (int b = 0; b < l->n_batteries; b++) {
        l->charge_efficiency[b] = sc->batteries[b].charge_efficiency;
        l->discharge_efficiency[b] = sc->batteries[b].discharge_efficiency;
        l->battery_ids[b] = strdup(sc->batteries[b].id);
        if (l->battery_ids[b] == NULL) {
            gridems__lp_layout_free(l);
            return GRIDEMS_ENOMEM;
        }
    }
    for (int j = 0; j < l->n_flex; j++) {
        l->flex_ids[j] = strdup(sc->flex_loads[j].id);
        if (l->flex_ids[j] == NULL) {
            gridems__lp_layout_free(l);
            return GRIDEMS_ENOMEM;
        }
    }
    return 0;
}

static bool same_ints(const int *a, const int *b, int n)
{
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static bool same_doubles(const double *a, const double *b, int n)
{
    for (int i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

static bool same_ids(char *const *a, char *const *b, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

bool gridems__lp_layout_same(const lp_layout_t *a, const lp_layout_t *b)
{
    if (a->steps != b->steps || a->n_batteries != b->n_batteries || a->n_flex != b->n_flex ||
        a->dt != b->dt || a->n_cols != b->n_cols || a->n_rows != b->n_rows ||
        a->peak != b->peak) {
        return false;
    }
    int T = a->steps, nbT = a->n_batteries * T, nfT = a->n_flex * T;
    return same_ints(a->g, b->g, T) && same_ints(a->x, b->x, T) && same_ints(a->k, b->k, T) &&
           same_ints(a->c, b->c, nbT) && same_ints(a->d, b->d, nbT) &&
           same_ints(a->p, b->p, nfT) && same_ints(a->compute_cap, b->compute_cap, T) &&
           same_ints(a->peak_row, b->peak_row, T) &&
           same_doubles(a->charge_efficiency, b->charge_efficiency, a->n_batteries) &&
           same_doubles(a->discharge_efficiency, b->discharge_efficiency, a->n_batteries) &&
           same_ids(a->battery_ids, b->battery_ids, a->n_batteries) &&
           same_ids(a->flex_ids, b->flex_ids, a->n_flex);
}
