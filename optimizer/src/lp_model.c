/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "lp_model.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

/* ---- ## The constraint matrix ---- */

typedef struct triplets_s {
    int *row;
    int *col;
    double *val;
    int n;
} triplets_t;

static void put(triplets_t *m, int row, int col, double val)
{
    if (row == 0 || col == 0) {
        return; /* the row or column is not in the lean program */
    }
    m->n++;
    m->row[m->n] = row;
    m->col[m->n] = col;
    m->val[m->n] = val;
}

int gridems__lp_model_load_matrix(glp_prob *lp, const lp_layout_t *l)
{
    if (l->n_rows > 0) {
        glp_add_rows(lp, l->n_rows);
    }
    if (l->n_cols > 0) {
        glp_add_cols(lp, l->n_cols);
    }
    /* GLPK's arrays are 1-based, hence the +1. */
    size_t cap = (size_t)l->n_nonzeros + 1;
    triplets_t m = {malloc(cap * sizeof(int)), malloc(cap * sizeof(int)),
                    malloc(cap * sizeof(double)), 0};
    if (m.row == NULL || m.col == NULL || m.val == NULL) {
        free(m.row);
        free(m.col);
        free(m.val);
        return GRIDEMS_ENOMEM;
    }
    int T = l->steps;
    double dt = l->dt;
    for (int t = 0; t < T; t++) {
        /* g - x + pv - k + z + sum(d - c) - sum p = load */
        int bal = l->balance[t];
        put(&m, bal, l->g[t], 1.0);
        put(&m, bal, l->x[t], -1.0);
        put(&m, bal, l->k[t], -1.0);
        put(&m, bal, l->z[t], 1.0);
        for (int b = 0; b < l->n_batteries; b++) {
            int bt = b * T + t;
            put(&m, bal, l->d[bt], 1.0);
            put(&m, bal, l->c[bt], -1.0);
            /* s[t+1] - s[t] - dt*ec*c + dt/ed*d = 0, with s[0] the constant initial energy. */
            int row = l->storage[bt];
            put(&m, row, l->s[bt], 1.0);
            if (t > 0) {
                put(&m, row, l->s[bt - 1], -1.0);
            }
            put(&m, row, l->c[bt], -dt * l->charge_efficiency[b]);
            put(&m, row, l->d[bt], dt / l->discharge_efficiency[b]);
        }
        for (int g = 0; g < l->n_groups; g++) {
            put(&m, bal, l->p[g * T + t], -1.0);
            put(&m, l->compute_cap[t], l->p[g * T + t], 1.0);
            if (l->cluster_of[g] >= 0) {
                put(&m, l->cluster_cap[l->cluster_of[g] * T + t], l->p[g * T + t], 1.0);
            }
        }
        put(&m, l->peak_row[t], l->g[t], 1.0);
        put(&m, l->peak_row[t], l->peak, -1.0);
    }
    for (int b = 0; b < l->n_batteries; b++) {
        put(&m, l->final_energy[b], l->s[b * T + T - 1], 1.0);
        put(&m, l->final_energy[b], l->f[b], 1.0);
    }
    for (int g = 0; g < l->n_groups; g++) {
        for (int t = 0; t < T; t++) {
            put(&m, l->flex_energy[g], l->p[g * T + t], dt);
        }
        put(&m, l->flex_energy[g], l->u[g], 1.0);
    }
    glp_load_matrix(lp, m.n, m.row, m.col, m.val);
    free(m.row);
    free(m.col);
    free(m.val);
    return 0;
}

/* ---- ## Bounds, costs and right-hand sides ---- */

/* HUGE_VAL as an upper bound means "none". */
static int bound_type(double lb, double ub)
{
    if (isinf(ub)) {
        return GLP_LO;
    }
    return lb == ub ? GLP_FX : GLP_DB;
}

static bool same_bounds(int type, double lb, double ub, int old_type, double old_lb, double old_ub)
{
    if (type != old_type) {
        return false;
    }
    switch (type) {
    case GLP_LO:
        return lb == old_lb;
    case GLP_UP:
        return ub == old_ub;
    default:
        return lb == old_lb && ub == old_ub;
    }
}

static void set_col(glp_prob *lp, int j, double lb, double ub, double cost, bool first,
                    lp_change_t *change)
{
    if (j == 0) {
        return;
    }
    int type = bound_type(lb, ub);
    if (first || !same_bounds(type, lb, ub, glp_get_col_type(lp, j), glp_get_col_lb(lp, j),
                              glp_get_col_ub(lp, j))) {
        glp_set_col_bnds(lp, j, type, lb, isinf(ub) ? 0.0 : ub);
        change->bounds = true;
    }
    if (first || glp_get_obj_coef(lp, j) != cost) {
        glp_set_obj_coef(lp, j, cost);
        change->costs = true;
    }
}

static void set_row(glp_prob *lp, int i, int type, double lb, double ub, bool first,
                    lp_change_t *change)
{
    if (i == 0) {
        return;
    }
    if (first || !same_bounds(type, lb, ub, glp_get_row_type(lp, i), glp_get_row_lb(lp, i),
                              glp_get_row_ub(lp, i))) {
        glp_set_row_bnds(lp, i, type, lb, ub);
        change->bounds = true;
    }
}

int gridems__lp_model_set_data(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc,
                               bool first, lp_change_t *change)
{
    change->costs = first;
    change->bounds = first;
    int T = l->steps;
    double dt = l->dt;
    double *caps = malloc((size_t)T * sizeof *caps);
    double *power = malloc((size_t)(l->n_groups + 1) * sizeof *power);
    double *energy = malloc((size_t)(l->n_groups + 1) * sizeof *energy);
    if (caps == NULL || power == NULL || energy == NULL) {
        free(caps);
        free(power);
        free(energy);
        return GRIDEMS_ENOMEM;
    }
    gridems__lp_import_caps(sc, caps);
    gridems__lp_group_sums(l, sc, power, energy);
    for (int t = 0; t < T; t++) {
        double carbon = sc->has_carbon ? sc->carbon_price_per_kg * sc->carbon_kg_per_kwh[t] : 0;
        set_col(lp, l->g[t], 0.0, caps[t], dt * (sc->import_per_kwh[t] + carbon), first, change);
        set_col(lp, l->x[t], 0.0, sc->export_limit_kw, -dt * sc->export_per_kwh[t], first, change);
        set_col(lp, l->k[t], 0.0, sc->pv_kw[t], 0.0, first, change);
        set_col(lp, l->z[t], 0.0, HUGE_VAL, dt * sc->unserved_load_per_kwh, first, change);
        double net_load = sc->base_load_kw[t] - sc->pv_kw[t];
        set_row(lp, l->balance[t], GLP_FX, net_load, net_load, first, change);
        if (l->compute_cap[t] != 0) {
            set_row(lp, l->compute_cap[t], GLP_UP, 0.0, sc->compute_limit_kw, first, change);
        }
        if (l->peak_row[t] != 0) {
            set_row(lp, l->peak_row[t], GLP_UP, 0.0, 0.0, first, change);
        }
        for (int c = 0; c < l->n_clusters; c++) {
            set_row(lp, l->cluster_cap[c * T + t], GLP_UP, 0.0, sc->clusters[c].compute_limit_kw,
                    first, change);
        }
    }
    free(caps);
    for (int b = 0; b < l->n_batteries; b++) {
        const gridems_battery_t *bat = &sc->batteries[b];
        /* A battery found outside its band may stay where it is, never move further out. */
        double lo = fmin(bat->soc_min_kwh, bat->soc_kwh);
        double hi = fmax(bat->soc_max_kwh, bat->soc_kwh);
        for (int t = 0; t < T; t++) {
            int bt = b * T + t;
            set_col(lp, l->c[bt], 0.0, bat->charge_max_kw, 0.0, first, change);
            set_col(lp, l->d[bt], 0.0, bat->discharge_max_kw, dt * bat->cycle_cost_per_kwh, first,
                    change);
            set_col(lp, l->s[bt], lo, hi, 0.0, first, change);
            double rhs = t == 0 ? bat->soc_kwh : 0.0;
            set_row(lp, l->storage[bt], GLP_FX, rhs, rhs, first, change);
        }
        set_col(lp, l->f[b], 0.0, HUGE_VAL, sc->final_soc_shortfall_per_kwh, first, change);
        set_row(lp, l->final_energy[b], GLP_LO, bat->final_soc_min_kwh, 0.0, first, change);
    }
    /* A group of loads (lp_layout.h) has their summed power limit and energy. */
    for (int g = 0; g < l->n_groups; g++) {
        for (int t = 0; t < T; t++) {
            set_col(lp, l->p[g * T + t], 0.0, power[g], 0.0, first, change);
        }
        set_col(lp, l->u[g], 0.0, HUGE_VAL, sc->unmet_flexible_per_kwh, first, change);
        set_row(lp, l->flex_energy[g], GLP_FX, energy[g], energy[g], first, change);
    }
    free(power);
    free(energy);
    if (l->peak != 0) {
        set_col(lp, l->peak, sc->peak_so_far_kw, HUGE_VAL, sc->demand_charge_per_kw, first, change);
    }
    /* The demand cost is charged on the peak above what the billing period already has. */
    double constant = l->peak != 0 ? -sc->demand_charge_per_kw * sc->peak_so_far_kw : 0.0;
    if (first || glp_get_obj_coef(lp, 0) != constant) {
        glp_set_obj_coef(lp, 0, constant);
    }
    return 0;
}

/* ---- ## Carrying a basis over ---- */

typedef struct transfer_s {
    glp_prob *lp;
    glp_prob *old;
    int shift;
    bool scale; /* carry the scale factors, not the basis statuses */
} transfer_t;

/* An old entity's id and index, sorted by id for the lookups of match_ids. */
typedef struct id_index_s {
    const char *id;
    int index;
} id_index_t;

static int by_id(const void *a, const void *b)
{
    return strcmp(((const id_index_t *)a)->id, ((const id_index_t *)b)->id);
}

/*
 * Entity map: new index -> old index with the same id, or -1. Most re-plans keep the order,
 * perhaps with a job gone or come: so the entity after the previous one's match is tried first
 * (linear then), and a sorted copy of the old ids answers the rest (2,000 job groups whose first
 * one left took up to 2 million string compares by scanning).
 */
static int *match_ids(char *const *ids, int n, char *const *old_ids, int old_n)
{
    int *map = malloc((size_t)(n > 0 ? n : 1) * sizeof *map);
    id_index_t *sorted = malloc((size_t)(old_n > 0 ? old_n : 1) * sizeof *sorted);
    if (map == NULL || sorted == NULL) {
        free(map);
        free(sorted);
        return NULL;
    }
    for (int k = 0; k < old_n; k++) {
        sorted[k] = (id_index_t){old_ids[k], k};
    }
    bool is_sorted = false;
    int guess = 0;
    for (int i = 0; i < n; i++) {
        map[i] = -1;
        if (guess < old_n && strcmp(ids[i], old_ids[guess]) == 0) {
            map[i] = guess++;
            continue;
        }
        if (!is_sorted) {
            qsort(sorted, (size_t)old_n, sizeof *sorted, by_id);
            is_sorted = true;
        }
        id_index_t key = {ids[i], 0};
        const id_index_t *hit = bsearch(&key, sorted, (size_t)old_n, sizeof *sorted, by_id);
        if (hit != NULL) {
            map[i] = hit->index;
            guess = hit->index + 1;
        }
    }
    free(sorted);
    return map;
}

int gridems__lp_model_match(lp_match_t *m, const lp_layout_t *l, const lp_layout_t *o)
{
    m->battery = match_ids(l->battery_ids, l->n_batteries, o->battery_ids, o->n_batteries);
    m->group = match_ids(l->flex_ids, l->n_groups, o->flex_ids, o->n_groups);
    m->cluster = match_ids(l->cluster_ids, l->n_clusters, o->cluster_ids, o->n_clusters);
    if (m->battery == NULL || m->group == NULL || m->cluster == NULL) {
        gridems__lp_model_match_free(m);
        return GRIDEMS_ENOMEM;
    }
    return 0;
}

void gridems__lp_model_match_free(lp_match_t *m)
{
    free(m->battery);
    free(m->group);
    free(m->cluster);
    m->battery = m->group = m->cluster = NULL;
}

/*
 * One family of rows or columns: idx[e*T + t] in the new program, old_idx[e'*old_T + t'] in the
 * old one. Families without a time index pass T = old_T = 1 and shift 0.
 */
static void transfer_family(const transfer_t *tr, bool rows, const int *idx, int T,
                            const int *old_idx, int old_T, int n_entities, const int *entity_map,
                            bool timed)
{
    for (int e = 0; e < n_entities; e++) {
        int old_e = entity_map != NULL ? entity_map[e] : 0;
        for (int t = 0; t < T; t++) {
            int i = idx[e * T + t];
            if (i == 0) {
                continue;
            }
            int old_t = timed ? t + tr->shift : t;
            if (tr->scale) {
                /* A step past the old horizon takes the old last step's factor. */
                old_t = old_t < 0 ? 0 : (old_t >= old_T ? old_T - 1 : old_t);
            }
            int old_i = 0;
            if (old_e >= 0 && old_t >= 0 && old_t < old_T) {
                old_i = old_idx[old_e * old_T + old_t];
            }
            if (tr->scale) {
                if (rows) {
                    glp_set_rii(tr->lp, i, old_i != 0 ? glp_get_rii(tr->old, old_i) : 1.0);
                } else {
                    glp_set_sjj(tr->lp, i, old_i != 0 ? glp_get_sjj(tr->old, old_i) : 1.0);
                }
            } else if (rows) {
                glp_set_row_stat(tr->lp, i, old_i != 0 ? glp_get_row_stat(tr->old, old_i) : GLP_BS);
            } else {
                glp_set_col_stat(tr->lp, i, old_i != 0 ? glp_get_col_stat(tr->old, old_i) : GLP_NL);
            }
        }
    }
}

/*
 * Make the basis structurally non-singular with exactly one basic variable per row.
 *
 * A carried-over basis can be singular even with the right count: say the peak variable P was
 * basic because the peak happened in the step that has just left the horizon; now every peak row
 * has its own slack basic too, and P's column is a sum of those slack columns. So match rows to
 * basic variables (a basic slack covers its own row, a basic column any row it has a coefficient
 * in) with augmenting paths; a column that finds no row of its own takes a row from a basic slack
 * (which becomes non-basic), or else leaves the basis; rows left uncovered get their slack back.
 */
typedef struct matcher_s {
    glp_prob *lp;
    int *row_owner; /* row -> covering column j > 0, -i for its own slack, 0 when free */
    int *seen;      /* row -> search stamp */
    int stamp;
    double *val;     /* [m + 1] scratch for glp_get_mat_col */
    int *scratch;    /* [m + 1] */
    int *path_col;   /* [m + 1] the column at each depth of the search */
    int *path_row;   /* [m + 1] the row each depth went down through */
    int *list_start; /* [m + 1] where each depth's row list starts in flat */
    int *list_pos;   /* [m + 1] */
    int *list_end;   /* [m + 1] */
    int *flat;       /* [nnz + 1] row lists; a column is on the path at most once */
} matcher_t;

static void push_column(matcher_t *mt, int depth, int col, int top)
{
    int len = glp_get_mat_col(mt->lp, col, mt->scratch, mt->val);
    memcpy(mt->flat + top, mt->scratch + 1, (size_t)len * sizeof(int));
    mt->path_col[depth] = col;
    mt->list_start[depth] = top;
    mt->list_pos[depth] = top;
    mt->list_end[depth] = top + len;
}

/* Look for an augmenting path from column j through rows that other columns cover; on success
 * re-assign the rows along it. Iterative, because the storage chains make long paths. */
static bool augment(matcher_t *mt, int j)
{
    int depth = 0;
    mt->stamp++;
    push_column(mt, 0, j, 0);
    while (depth >= 0) {
        if (mt->list_pos[depth] >= mt->list_end[depth]) {
            depth--;
            continue;
        }
        int row = mt->flat[mt->list_pos[depth]++];
        if (mt->seen[row] == mt->stamp) {
            continue;
        }
        mt->seen[row] = mt->stamp;
        int owner = mt->row_owner[row];
        if (owner == 0) {
            mt->row_owner[row] = mt->path_col[depth];
            for (int d = depth - 1; d >= 0; d--) {
                mt->row_owner[mt->path_row[d]] = mt->path_col[d];
            }
            return true;
        }
        if (owner > 0) {
            mt->path_row[depth] = row;
            push_column(mt, depth + 1, owner, mt->list_end[depth]);
            depth++;
        }
    }
    return false;
}

static int first_slack_row(matcher_t *mt, int j)
{
    int len = glp_get_mat_col(mt->lp, j, mt->scratch, mt->val);
    for (int k = 1; k <= len; k++) {
        if (mt->row_owner[mt->scratch[k]] < 0) {
            return mt->scratch[k];
        }
    }
    return 0;
}

static void repair_basis(glp_prob *lp)
{
    int m = glp_get_num_rows(lp), n = glp_get_num_cols(lp), nnz = glp_get_num_nz(lp);
    if (m == 0) {
        return;
    }
    size_t rows = (size_t)m + 1;
    matcher_t mt = {lp,
                    calloc(rows, sizeof(int)),
                    calloc(rows, sizeof(int)),
                    0,
                    malloc(rows * sizeof(double)),
                    malloc(rows * sizeof(int)),
                    malloc(rows * sizeof(int)),
                    malloc(rows * sizeof(int)),
                    malloc(rows * sizeof(int)),
                    malloc(rows * sizeof(int)),
                    malloc(rows * sizeof(int)),
                    malloc(((size_t)nnz + 1) * sizeof(int))};
    bool ok = mt.row_owner && mt.seen && mt.val && mt.scratch && mt.path_col && mt.path_row &&
              mt.list_start && mt.list_pos && mt.list_end && mt.flat;
    for (int i = 1; ok && i <= m; i++) {
        if (glp_get_row_stat(lp, i) == GLP_BS) {
            mt.row_owner[i] = -i;
        }
    }
    for (int j = 1; ok && j <= n; j++) {
        if (glp_get_col_stat(lp, j) != GLP_BS || augment(&mt, j)) {
            continue;
        }
        /* No row of its own: take one from a basic slack, else leave the basis. */
        int taken = first_slack_row(&mt, j);
        if (taken != 0) {
            glp_set_row_stat(lp, taken, GLP_NF);
            mt.row_owner[taken] = j;
        } else {
            glp_set_col_stat(lp, j, GLP_NL);
        }
    }
    for (int i = 1; ok && i <= m; i++) {
        if (mt.row_owner[i] == 0) {
            glp_set_row_stat(lp, i, GLP_BS);
        }
    }
    if (!ok) {
        glp_std_basis(lp); /* out of memory: a valid if cold basis */
    }
    free(mt.row_owner);
    free(mt.seen);
    free(mt.val);
    free(mt.scratch);
    free(mt.path_col);
    free(mt.path_row);
    free(mt.list_start);
    free(mt.list_pos);
    free(mt.list_end);
    free(mt.flat);
}

/* Every family of rows and columns, carried over from (tr->old, o) by meaning. */
static void transfer_all(const transfer_t *tr, const lp_layout_t *l, const lp_layout_t *o,
                         const lp_match_t *m)
{
    const int *bmap = m->battery, *fmap = m->group;
    int T = l->steps, oT = o->steps;
    const int zero = 0;
    /* Columns. */
    transfer_family(tr, false, l->g, T, o->g, oT, 1, NULL, true);
    transfer_family(tr, false, l->x, T, o->x, oT, 1, NULL, true);
    transfer_family(tr, false, l->k, T, o->k, oT, 1, NULL, true);
    transfer_family(tr, false, l->z, T, o->z, oT, 1, NULL, true);
    transfer_family(tr, false, l->c, T, o->c, oT, l->n_batteries, bmap, true);
    transfer_family(tr, false, l->d, T, o->d, oT, l->n_batteries, bmap, true);
    transfer_family(tr, false, l->s, T, o->s, oT, l->n_batteries, bmap, true);
    transfer_family(tr, false, l->f, 1, o->f, 1, l->n_batteries, bmap, false);
    transfer_family(tr, false, l->p, T, o->p, oT, l->n_groups, fmap, true);
    transfer_family(tr, false, l->u, 1, o->u, 1, l->n_groups, fmap, false);
    transfer_family(tr, false, &l->peak, 1, o->peak != 0 ? &o->peak : &zero, 1, 1, NULL, false);
    /* Rows. */
    transfer_family(tr, true, l->balance, T, o->balance, oT, 1, NULL, true);
    transfer_family(tr, true, l->compute_cap, T, o->compute_cap, oT, 1, NULL, true);
    transfer_family(tr, true, l->peak_row, T, o->peak_row, oT, 1, NULL, true);
    transfer_family(tr, true, l->cluster_cap, T, o->cluster_cap, oT, l->n_clusters, m->cluster,
                    true);
    transfer_family(tr, true, l->storage, T, o->storage, oT, l->n_batteries, bmap, true);
    transfer_family(tr, true, l->final_energy, 1, o->final_energy, 1, l->n_batteries, bmap, false);
    transfer_family(tr, true, l->flex_energy, 1, o->flex_energy, 1, l->n_groups, fmap, false);
}

void gridems__lp_model_transfer_basis(glp_prob *lp, const lp_layout_t *l, glp_prob *old_lp,
                                      const lp_layout_t *o, const lp_match_t *m, int shift)
{
    transfer_t tr = {lp, old_lp, shift, false};
    transfer_all(&tr, l, o, m);
    repair_basis(lp);
}

/* True when every entity of the new program has a counterpart with the same coefficients. */
static bool same_coefficients(const lp_layout_t *l, const lp_layout_t *o, const lp_match_t *m)
{
    const int *bmap = m->battery, *fmap = m->group;
    for (int c = 0; c < l->n_clusters; c++) {
        if (m->cluster[c] < 0) {
            return false; /* a new cluster's cap rows: scaled anew with the rest */
        }
    }
    if (l->dt != o->dt || (l->peak != 0) != (o->peak != 0)) {
        return false;
    }
    for (int b = 0; b < l->n_batteries; b++) {
        if (bmap[b] < 0 || l->charge_efficiency[b] != o->charge_efficiency[bmap[b]] ||
            l->discharge_efficiency[b] != o->discharge_efficiency[bmap[b]]) {
            return false;
        }
    }
    for (int g = 0; g < l->n_groups; g++) {
        if (fmap[g] < 0) {
            return false;
        }
    }
    return true;
}

bool gridems__lp_model_transfer_scale(glp_prob *lp, const lp_layout_t *l, glp_prob *old_lp,
                                      const lp_layout_t *o, const lp_match_t *m, int shift)
{
    if (!same_coefficients(l, o, m)) {
        return false;
    }
    transfer_t tr = {lp, old_lp, shift, true};
    transfer_all(&tr, l, o, m);
    return true;
}

/* ---- ## A starting basis for cold solves ---- */

/* What the crash placement knows about every step. */
typedef struct crash_s {
    double *price;        /* energy plus carbon, per kWh */
    double *room;         /* flexible power that still fits: compute cap and import cap */
    double *net;          /* base load - PV + flexible power placed so far, kW */
    unsigned char *taken; /* steps the current load already runs in */
    double peak;          /* the largest net import so far (and the billing-period peak) */
    double *power;        /* [n_groups] each group's power limit (lp_group_sums) */
    double *energy;       /* [n_groups] and energy */
    const double *weight; /* [T] estimated cost of a kW per step, or NULL: the tariff */
    double *cluster_room; /* [n_clusters * T] what still fits under each cluster's cap */
} crash_t;

/* What running one more `kw` at step t adds to the objective: its energy, and the demand charge
 * on whatever it lifts the peak by. */
static double placement_cost(const gridems_scenario_t *sc, const crash_t *cr, int t, double kw,
                             double dt)
{
    if (cr->weight != NULL) {
        return cr->weight[t] * kw; /* estimated step prices: the peak is in them */
    }
    double lift = cr->net[t] + kw - cr->peak;
    double demand = sc->demand_charge_per_kw > 0 && lift > 0 ? sc->demand_charge_per_kw * lift : 0;
    return cr->price[t] * kw * dt + demand;
}

/* The cheapest step of group g's window that still has room for kw, or -1. */
static int cheapest_step(const lp_layout_t *l, const gridems_scenario_t *sc, const crash_t *cr,
                         int g, double kw)
{
    const gridems_flex_load_t *fl = &sc->flex_loads[l->group_first[g]];
    int best = -1;
    double best_cost = HUGE_VAL;
    for (int t = fl->earliest_step; t < fl->deadline_step; t++) {
        int c = l->cluster_of[g];
        if (l->p[g * l->steps + t] == 0 || cr->taken[t] || cr->room[t] < kw ||
            (c >= 0 && cr->cluster_room[c * l->steps + t] < kw)) {
            continue;
        }
        double cost = placement_cost(sc, cr, t, kw, l->dt);
        if (cost < best_cost) {
            best_cost = cost;
            best = t;
        }
    }
    return best;
}

static void run_at(crash_t *cr, const lp_layout_t *l, int g, int t, double kw)
{
    if (l->cluster_of[g] >= 0) {
        cr->cluster_room[l->cluster_of[g] * l->steps + t] -= kw;
    }
    cr->taken[t] = 1;
    cr->room[t] -= kw;
    cr->net[t] += kw;
    if (cr->net[t] > cr->peak) {
        cr->peak = cr->net[t];
    }
}

/* Greedy placement of one group of flexible loads, one step at a time: full power in the step
 * where it adds least (energy and demand charge), then one partial step (its column basic),
 * else the unmet slack basic. */
static void place_load(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc, int g,
                       crash_t *cr)
{
    int T = l->steps, partial = 0;
    double power = cr->power[g];
    double left = cr->energy[g], full = power * l->dt;
    memset(cr->taken, 0, (size_t)T);
    while (left >= full && full > 0) {
        int t = cheapest_step(l, sc, cr, g, power);
        if (t < 0) {
            break;
        }
        glp_set_col_stat(lp, l->p[g * T + t], GLP_NU);
        run_at(cr, l, g, t, power);
        left -= full;
    }
    if (left > 0 && left < full) {
        int t = cheapest_step(l, sc, cr, g, left / l->dt);
        if (t >= 0) {
            partial = l->p[g * T + t];
            run_at(cr, l, g, t, left / l->dt);
        }
    }
    glp_set_row_stat(lp, l->flex_energy[g], GLP_NS);
    if (partial != 0) {
        glp_set_col_stat(lp, partial, GLP_BS);
        glp_set_col_stat(lp, l->u[g], GLP_NL);
    } else {
        glp_set_col_stat(lp, l->u[g], GLP_BS); /* unmet energy, or 0 when placed exactly */
    }
}

/* Pick the variable that balances step t given the net demand there. */
static int balancing_column(const lp_layout_t *l, int t, double net_demand, double cap)
{
    if (net_demand < 0 && l->k[t] != 0) {
        return l->k[t];
    }
    if (net_demand >= 0 && l->g[t] != 0 && net_demand <= cap) {
        return l->g[t];
    }
    return l->z[t];
}

/* A group and how much room it has to move: the steps of its window less those it must run at
 * full power. */
typedef struct slack_s {
    double slack;
    int group;
} slack_t;

static int least_slack_first(const void *pa, const void *pb)
{
    const slack_t *a = pa, *b = pb;
    if (a->slack != b->slack) {
        return a->slack < b->slack ? -1 : 1;
    }
    return (a->group > b->group) - (a->group < b->group);
}

/* The order the groups are placed in, or NULL for their own order. Under estimated step prices
 * the steps where the import ceiling binds are priced alike, and who gets their room decides
 * how many job-steps the simplex must move afterwards: the least flexible groups go first, as
 * in scheduling by least slack. Measured at 2,000 jobs (bench_growth): 10,944 -> 6,398
 * iterations (4,842 -> 5,118 in the first restricted round but far nearer the optimum);
 * by earliest deadline 10,190, by window length 17,554. With the tariff (no estimate) the
 * order was measured too and not kept: the canonical site went from 740 to 828 iterations. */
static int *placement_order(const lp_layout_t *l, const crash_t *cr)
{
    if (cr->weight == NULL || l->n_groups == 0) {
        return NULL;
    }
    slack_t *keyed = malloc((size_t)l->n_groups * sizeof *keyed);
    int *order = malloc((size_t)l->n_groups * sizeof *order);
    if (keyed == NULL || order == NULL) {
        free(keyed);
        free(order);
        return NULL;
    }
    for (int g = 0; g < l->n_groups; g++) {
        int window = 0;
        for (int t = 0; t < l->steps; t++) {
            window += l->p[g * l->steps + t] != 0;
        }
        double full = cr->power[g] > 0 ? cr->energy[g] / (cr->power[g] * l->dt) : 0.0;
        keyed[g] = (slack_t){window - full, g};
    }
    qsort(keyed, (size_t)l->n_groups, sizeof *keyed, least_slack_first);
    for (int g = 0; g < l->n_groups; g++) {
        order[g] = keyed[g].group;
    }
    free(keyed);
    return order;
}

static void free_crash(crash_t *cr)
{
    free(cr->price);
    free(cr->room);
    free(cr->net);
    free(cr->taken);
    free(cr->power);
    free(cr->energy);
    free(cr->cluster_room);
}

int gridems__lp_model_crash_basis(glp_prob *lp, const lp_layout_t *l, const gridems_scenario_t *sc,
                                  const double *step_weight, double import_ceiling_kw)
{
    int T = l->steps;
    size_t n = (size_t)T;
    double *caps = malloc(n * sizeof *caps);
    size_t groups = (size_t)l->n_groups + 1;
    crash_t cr = {malloc(n * sizeof(double)),
                  malloc(n * sizeof(double)),
                  malloc(n * sizeof(double)),
                  malloc(n),
                  sc->peak_so_far_kw,
                  malloc(groups * sizeof(double)),
                  malloc(groups * sizeof(double)),
                  step_weight,
                  malloc(((size_t)l->n_clusters * n + 1) * sizeof(double))};
    if (caps == NULL || cr.price == NULL || cr.room == NULL || cr.net == NULL || cr.taken == NULL ||
        cr.power == NULL || cr.energy == NULL || cr.cluster_room == NULL) {
        free(caps);
        free_crash(&cr);
        glp_std_basis(lp);
        return GRIDEMS_ENOMEM;
    }
    for (int c = 0; c < l->n_clusters; c++) {
        for (int t = 0; t < T; t++) {
            cr.cluster_room[c * T + t] = sc->clusters[c].compute_limit_kw;
        }
    }
    gridems__lp_group_sums(l, sc, cr.power, cr.energy);
    /* Everything non-basic at its lower bound first; rows are then given one basic each. */
    for (int j = 1; j <= l->n_cols; j++) {
        glp_set_col_stat(lp, j, GLP_NL);
    }
    for (int i = 1; i <= l->n_rows; i++) {
        glp_set_row_stat(lp, i, GLP_BS);
    }
    gridems__lp_import_caps(sc, caps);
    for (int t = 0; t < T; t++) {
        double carbon = sc->has_carbon ? sc->carbon_price_per_kg * sc->carbon_kg_per_kwh[t] : 0;
        cr.price[t] = sc->import_per_kwh[t] + carbon;
        cr.net[t] = sc->base_load_kw[t] - sc->pv_kw[t];
        /* Room for flexible power: the compute cap, and the import cap left after the base
         * load (PV surplus adds room), so the greedy placement never forces unserved load. */
        double grid_room = fmin(caps[t], import_ceiling_kw) - cr.net[t];
        cr.room[t] = sc->has_compute_limit ? fmin(sc->compute_limit_kw, grid_room) : grid_room;
        if (l->g[t] != 0 && cr.net[t] > cr.peak) {
            cr.peak = cr.net[t];
        }
    }
    int *order = placement_order(l, &cr);
    for (int i = 0; i < l->n_groups; i++) {
        place_load(lp, l, sc, order != NULL ? order[i] : i, &cr);
    }
    free(order);
    int peak_t = -1;
    double peak = sc->peak_so_far_kw;
    for (int t = 0; t < T; t++) {
        double net = cr.net[t];
        int col = balancing_column(l, t, net, caps[t]);
        glp_set_col_stat(lp, col, GLP_BS);
        glp_set_row_stat(lp, l->balance[t], GLP_NS);
        if (col == l->g[t] && net > peak && l->peak_row[t] != 0) {
            peak = net;
            peak_t = t;
        }
        for (int b = 0; b < l->n_batteries; b++) {
            glp_set_col_stat(lp, l->s[b * T + t], GLP_BS);
            glp_set_row_stat(lp, l->storage[b * T + t], GLP_NS);
        }
    }
    for (int b = 0; b < l->n_batteries; b++) {
        if (sc->batteries[b].soc_kwh < sc->batteries[b].final_soc_min_kwh) {
            glp_set_col_stat(lp, l->f[b], GLP_BS);
            glp_set_row_stat(lp, l->final_energy[b], GLP_NL);
        }
    }
    if (l->peak != 0 && peak_t >= 0) {
        glp_set_col_stat(lp, l->peak, GLP_BS);
        glp_set_row_stat(lp, l->peak_row[peak_t], GLP_NU);
    }
    free(caps);
    free_crash(&cr);
    repair_basis(lp); /* a safety net: the basis above is already one basic per row */
    return 0;
}
