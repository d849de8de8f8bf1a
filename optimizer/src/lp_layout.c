/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "lp_layout.h"

#include <stdint.h>
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
    int *const arrays[] = {l->g,
                           l->x,
                           l->k,
                           l->z,
                           l->c,
                           l->d,
                           l->s,
                           l->f,
                           l->p,
                           l->u,
                           l->balance,
                           l->storage,
                           l->final_energy,
                           l->flex_energy,
                           l->compute_cap,
                           l->peak_row,
                           l->group_of,
                           l->group_first,
                           l->group_next,
                           l->cluster_of,
                           l->cluster_cap};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        free(arrays[i]);
    }
    for (int b = 0; l->battery_ids != NULL && b < l->n_batteries; b++) {
        free(l->battery_ids[b]);
    }
    for (int g = 0; l->flex_ids != NULL && g < l->n_groups; g++) {
        free(l->flex_ids[g]);
    }
    for (int j = 0; l->member_ids != NULL && j < l->n_flex; j++) {
        free(l->member_ids[j]);
    }
    for (int c = 0; l->cluster_ids != NULL && c < l->n_clusters; c++) {
        free(l->cluster_ids[c]);
    }
    free(l->cluster_ids);
    free(l->battery_ids);
    free(l->flex_ids);
    free(l->member_ids);
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
    size_t nc = (size_t)l->n_clusters;
    bool failed = false;
    l->g = zeroed_ints(T, &failed);
    l->x = zeroed_ints(T, &failed);
    l->k = zeroed_ints(T, &failed);
    l->z = zeroed_ints(T, &failed);
    l->c = zeroed_ints(nb * T, &failed);
    l->d = zeroed_ints(nb * T, &failed);
    l->s = zeroed_ints(nb * T, &failed);
    l->f = zeroed_ints(nb, &failed);
    /* Sized for one group per load; grouping only ever uses fewer. */
    l->p = zeroed_ints(nf * T, &failed);
    l->u = zeroed_ints(nf, &failed);
    l->group_of = zeroed_ints(nf, &failed);
    l->group_first = zeroed_ints(nf, &failed);
    l->group_next = zeroed_ints(nf, &failed);
    l->balance = zeroed_ints(T, &failed);
    l->storage = zeroed_ints(nb * T, &failed);
    l->final_energy = zeroed_ints(nb, &failed);
    l->flex_energy = zeroed_ints(nf, &failed);
    l->compute_cap = zeroed_ints(T, &failed);
    l->peak_row = zeroed_ints(T, &failed);
    l->cluster_of = zeroed_ints(nf, &failed);
    l->cluster_cap = zeroed_ints(nc * T, &failed);
    l->charge_efficiency = calloc(nb + 1, sizeof(double));
    l->discharge_efficiency = calloc(nb + 1, sizeof(double));
    l->battery_ids = calloc(nb + 1, sizeof(char *));
    l->flex_ids = calloc(nf + 1, sizeof(char *));
    l->member_ids = calloc(nf + 1, sizeof(char *));
    l->cluster_ids = calloc(nc + 1, sizeof(char *));
    return !failed && l->charge_efficiency != NULL && l->discharge_efficiency != NULL &&
           l->battery_ids != NULL && l->flex_ids != NULL && l->member_ids != NULL &&
           l->cluster_ids != NULL;
}

/* ---- ## Grouping flexible loads (exact aggregation) ---- */

/*
 * Loads with the same window [earliest, deadline) and the same ratio r = energy / power_max
 * (compared as doubles, exactly) are merged into one group G with power limit P_G = sum P_j and
 * energy E_G = sum E_j, whose columns p[G,t] in [0, P_G] and u[G] >= 0 and energy row
 * dt * sum_t p[G,t] + u[G] = E_G replace those of its loads.
 *
 * Why this is exact (the two programs have the same optimal value, and the split below turns an
 * optimal solution of the merged program into an optimal solution of the original one):
 *   - The loads' columns enter the rest of the program only through sum_j p[j,t] (the power
 *     balance, the compute cap and their cluster's cap at step t, each with coefficient 1 for
 *     every load: a group never spans two clusters, so its loads share those rows) and their
 *     unmet energy only through the objective, sum_j pen * u[j] with one penalty for all loads.
 *     So any feasible original solution gives a feasible merged one, p[G,t] = sum_j p[j,t] and
 *     u[G] = sum_j u[j], with the same objective: merged optimum <= original optimum.
 *   - Conversely, given a feasible merged solution, let w_j = P_j / P_G (so sum_j w_j = 1) and
 *     p[j,t] = w_j * p[G,t], u[j] = w_j * u[G]. Then 0 <= p[j,t] <= w_j * P_G = P_j, u[j] >= 0,
 *     sum_j p[j,t] = p[G,t], sum_j u[j] = u[G] (same balance, caps and objective), and
 *     dt * sum_t p[j,t] + u[j] = w_j * E_G = P_j * (E_G / P_G) = P_j * r = E_j, because
 *     E_G / P_G = sum_j r P_j / sum_j P_j = r when every load of the group has the ratio r.
 *     So original optimum <= merged optimum, and the split of a merged optimum is optimal.
 * The window must be the same so that p[G,t] exists exactly where every p[j,t] does; without
 * the equal ratio the split can fail (a full load and an empty one in a two-step window: the
 * merged program may run both steps at P_G, which the empty load cannot share).
 * Loads with a zero power limit have no power columns and stay alone.
 */
typedef struct group_key_s {
    int cluster, earliest, deadline;
    double ratio;
    int index;
} group_key_t;

static int compare_keys(const void *pa, const void *pb)
{
    const group_key_t *a = pa, *b = pb;
    if (a->cluster != b->cluster) {
        return a->cluster < b->cluster ? -1 : 1;
    }
    if (a->earliest != b->earliest) {
        return a->earliest < b->earliest ? -1 : 1;
    }
    if (a->deadline != b->deadline) {
        return a->deadline < b->deadline ? -1 : 1;
    }
    if (a->ratio != b->ratio) {
        return a->ratio < b->ratio ? -1 : 1;
    }
    return (a->index > b->index) - (a->index < b->index);
}

static bool same_group(const group_key_t *a, const group_key_t *b)
{
    return a->cluster == b->cluster && a->earliest == b->earliest && a->deadline == b->deadline &&
           a->ratio == b->ratio;
}

/* The index of load j's cluster in sc->clusters, or -1 (validated: a named cluster exists). */
static int cluster_index(const gridems_scenario_t *sc, int j)
{
    return gridems_scenario_find_cluster(sc, sc->flex_loads[j].cluster);
}

/* Fill group_of, group_first, group_next and n_groups. Groups are numbered in the order of
 * their first load, so a scenario without mergeable loads keeps the plain layout. */
static int group_loads(lp_layout_t *l, const gridems_scenario_t *sc, lp_merge_t merge)
{
    int n = l->n_flex;
    group_key_t *keys = malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    int *rep = malloc((size_t)(n > 0 ? n : 1) * sizeof *rep);
    if (keys == NULL || rep == NULL) {
        free(keys);
        free(rep);
        return GRIDEMS_ENOMEM;
    }
    int m = 0;
    for (int j = 0; j < n; j++) {
        const gridems_flex_load_t *fl = &sc->flex_loads[j];
        rep[j] = j;
        if (merge != LP_MERGE_NONE && fl->power_max_kw > 0) {
            double ratio = merge == LP_MERGE_EXACT ? fl->energy_kwh / fl->power_max_kw : 0.0;
            keys[m++] =
                (group_key_t){cluster_index(sc, j), fl->earliest_step, fl->deadline_step, ratio, j};
        }
    }
    qsort(keys, (size_t)m, sizeof *keys, compare_keys);
    for (int k = 1; k < m; k++) {
        if (same_group(&keys[k], &keys[k - 1])) {
            rep[keys[k].index] = rep[keys[k - 1].index]; /* the run's lowest index */
        }
    }
    free(keys);
    l->n_groups = 0;
    for (int j = 0; j < n; j++) {
        l->group_of[j] = rep[j] == j ? l->n_groups++ : l->group_of[rep[j]];
    }
    free(rep);
    for (int g = 0; g < l->n_groups; g++) {
        l->group_first[g] = -1;
    }
    for (int j = n - 1; j >= 0; j--) {
        int g = l->group_of[j];
        l->group_next[j] = l->group_first[g];
        l->group_first[g] = j;
    }
    for (int g = 0; g < l->n_groups; g++) {
        l->cluster_of[g] = cluster_index(sc, l->group_first[g]);
    }
    return 0;
}

void gridems__lp_group_sums(const lp_layout_t *l, const gridems_scenario_t *sc, double *power,
                            double *energy)
{
    for (int g = 0; g < l->n_groups; g++) {
        power[g] = 0.0;
        energy[g] = 0.0;
    }
    for (int j = 0; j < l->n_flex; j++) {
        power[l->group_of[j]] += sc->flex_loads[j].power_max_kw;
        energy[l->group_of[j]] += sc->flex_loads[j].energy_kwh;
    }
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
        for (int g = 0; g < l->n_groups; g++) {
            const gridems_flex_load_t *fl = &sc->flex_loads[l->group_first[g]];
            bool open = t >= fl->earliest_step && t < fl->deadline_step && fl->power_max_kw > 0;
            l->p[g * T + t] = open ? ++n : 0;
        }
    }
    for (int b = 0; b < l->n_batteries; b++) {
        l->f[b] = ++n;
    }
    for (int g = 0; g < l->n_groups; g++) {
        l->u[g] = ++n;
    }
    l->peak = sc->demand_charge_per_kw > 0 ? ++n : 0;
    l->n_cols = n;
}

/* cluster_power and open_groups: scratch of n_clusters entries. */
static void number_rows(lp_layout_t *l, const gridems_scenario_t *sc, const double *caps,
                        double *cluster_power, int *open_groups)
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
        for (int g = 0; g < l->n_groups; g++) {
            open += l->p[g * T + t] != 0;
        }
        nz += open;
        /* A compute cap that the loads open at t cannot reach even all at full power is implied
         * by their bounds (sum_g p[g,t] <= sum_g P_g <= cap): the row would change nothing. */
        double open_power = 0.0;
        for (int j = 0; sc->has_compute_limit && j < l->n_flex; j++) {
            if (l->p[l->group_of[j] * T + t] != 0) {
                open_power += sc->flex_loads[j].power_max_kw;
            }
        }
        if (sc->has_compute_limit && open > 0 && open_power > sc->compute_limit_kw) {
            l->compute_cap[t] = ++n;
            nz += open;
        }
        /* A cluster's cap, likewise, only where its open loads could pass it. */
        for (int c = 0; c < l->n_clusters; c++) {
            open_groups[c] = 0;
            cluster_power[c] = 0.0;
        }
        for (int j = 0; l->n_clusters > 0 && j < l->n_flex; j++) {
            int g = l->group_of[j], c = l->cluster_of[g];
            if (c >= 0 && l->p[g * T + t] != 0) {
                cluster_power[c] += sc->flex_loads[j].power_max_kw;
                open_groups[c] += l->group_first[g] == j;
            }
        }
        for (int c = 0; c < l->n_clusters; c++) {
            if (open_groups[c] > 0 && cluster_power[c] > sc->clusters[c].compute_limit_kw) {
                l->cluster_cap[c * T + t] = ++n;
                nz += open_groups[c];
            }
        }
        /* P >= g[t] is implied when g[t]'s bound is at most P's (the billing-period peak). */
        if (l->peak != 0 && l->g[t] != 0 && caps[t] > sc->peak_so_far_kw) {
            l->peak_row[t] = ++n;
            nz += 2;
        }
    }
    for (int b = 0; b < l->n_batteries; b++) {
        l->final_energy[b] = ++n;
        nz += 2;
    }
    for (int g = 0; g < l->n_groups; g++) {
        l->flex_energy[g] = ++n;
        nz += 1;
        for (int t = 0; t < T; t++) {
            nz += l->p[g * T + t] != 0;
        }
    }
    l->n_rows = n;
    l->n_nonzeros = nz;
}

int gridems__lp_layout_build(lp_layout_t *l, const gridems_scenario_t *sc, lp_merge_t merge)
{
    memset(l, 0, sizeof *l);
    l->steps = sc->steps;
    l->n_batteries = sc->n_batteries;
    l->n_flex = sc->n_flex_loads;
    l->n_clusters = sc->n_clusters;
    l->dt = gridems_scenario_dt_hours(sc);
    double *caps = malloc((size_t)sc->steps * sizeof *caps);
    double *cluster_power = malloc((size_t)(sc->n_clusters + 1) * sizeof *cluster_power);
    int *open_groups = malloc((size_t)(sc->n_clusters + 1) * sizeof *open_groups);
    if (caps == NULL || cluster_power == NULL || open_groups == NULL || !allocate(l) ||
        group_loads(l, sc, merge) != 0) {
        free(caps);
        free(cluster_power);
        free(open_groups);
        gridems__lp_layout_free(l);
        return GRIDEMS_ENOMEM;
    }
    gridems__lp_import_caps(sc, caps);
    number_columns(l, sc, caps);
    number_rows(l, sc, caps, cluster_power, open_groups);
    free(caps);
    free(cluster_power);
    free(open_groups);
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
        l->member_ids[j] = strdup(sc->flex_loads[j].id);
        if (l->member_ids[j] == NULL) {
            gridems__lp_layout_free(l);
            return GRIDEMS_ENOMEM;
        }
    }
    for (int g = 0; g < l->n_groups; g++) {
        l->flex_ids[g] = strdup(sc->flex_loads[l->group_first[g]].id);
        if (l->flex_ids[g] == NULL) {
            gridems__lp_layout_free(l);
            return GRIDEMS_ENOMEM;
        }
    }
    for (int c = 0; c < l->n_clusters; c++) {
        l->cluster_ids[c] = strdup(sc->clusters[c].id);
        if (l->cluster_ids[c] == NULL) {
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
        a->n_groups != b->n_groups || a->dt != b->dt || a->n_cols != b->n_cols ||
        a->n_rows != b->n_rows || a->peak != b->peak || a->n_clusters != b->n_clusters) {
        return false;
    }
    int T = a->steps, nbT = a->n_batteries * T, nfT = a->n_groups * T;
    return same_ints(a->g, b->g, T) && same_ints(a->x, b->x, T) && same_ints(a->k, b->k, T) &&
           same_ints(a->c, b->c, nbT) && same_ints(a->d, b->d, nbT) && same_ints(a->p, b->p, nfT) &&
           same_ints(a->group_of, b->group_of, a->n_flex) &&
           same_ints(a->compute_cap, b->compute_cap, T) && same_ints(a->peak_row, b->peak_row, T) &&
           same_doubles(a->charge_efficiency, b->charge_efficiency, a->n_batteries) &&
           same_doubles(a->discharge_efficiency, b->discharge_efficiency, a->n_batteries) &&
           same_ids(a->battery_ids, b->battery_ids, a->n_batteries) &&
           same_ids(a->member_ids, b->member_ids, a->n_flex) &&
           same_ints(a->cluster_of, b->cluster_of, a->n_groups) &&
           same_ints(a->cluster_cap, b->cluster_cap, a->n_clusters * T) &&
           same_ids(a->cluster_ids, b->cluster_ids, a->n_clusters);
}
