/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The layout of the scheduling LP: which GLPK row and column stands for which symbol of the spec
 * (docs/optimizer.md), kept in our own index arrays rather than GLPK names.
 *
 * The formulation is lean: a column whose bounds would fix it at zero is left out (g[t] when the
 * import cap is 0, x[t] without an export limit, k[t] without PV, c/d when the battery's power
 * limit is 0, p[j,t] outside the load's window), and so are the rows that would only mention such
 * columns. Index 0 means "not in the program" (GLPK numbers rows and columns from 1).
 *
 * Flexible loads are merged into groups before columns are made (exact aggregation, proved in
 * lp_layout.c): loads with the same window and the same energy/power ratio share one set of
 * power columns p[g,t], one unmet column u[g] and one energy row, sized by the group's summed
 * power and energy; the schedule splits the group's values back to its loads in proportion to
 * their power limits. A load alone in its group is the plain formulation of the spec. Loads of
 * different clusters are never merged, so each cluster's cap row sums whole groups.
 *
 * Two layouts with equal structure (gridems__lp_layout_same) give the same constraint matrix, so a
 * new scenario with the same structure can be loaded by changing bounds, costs and right-hand
 * sides only.
 *
 * Ownership: a layout owns its arrays and id copies; free with gridems__lp_layout_free.
 * Threads: plain data, no shared state.
 */
#ifndef GRIDEMS_LP_LAYOUT_H
#define GRIDEMS_LP_LAYOUT_H

#include <stdbool.h>

#include "gridems/scenario.h"

typedef struct lp_layout_s {
    int steps;
    int n_batteries;
    int n_flex;   /* flexible loads of the scenario */
    int n_groups; /* groups of flexible loads, <= n_flex (see above) */
    double dt;

    /* Flexible-load groups. */
    int *group_of;    /* [n_flex] the group of each load */
    int *group_first; /* [n_groups] its first load (lowest index): window and id */
    int *group_next;  /* [n_flex] the next load of the same group, -1 at the end */

    /* Clusters (loads sharing a compute cap of their own): a group's loads are all in one. */
    int n_clusters;
    int *cluster_of;    /* [n_groups] the cluster of each group, -1 for none */
    char **cluster_ids; /* [n_clusters], owned copies */

    /* Columns. */
    int *g, *x, *k, *z; /* [T] */
    int *c, *d, *s;     /* [n_batteries * T]; s[b*T + t] is the energy at the end of step t */
    int *f;             /* [n_batteries] */
    int *p;             /* [n_groups * T] */
    int *u;             /* [n_groups] */
    int peak;           /* P, or 0 without a demand charge */
    int n_cols;

    /* Rows. */
    int *balance;      /* [T] power balance */
    int *storage;      /* [n_batteries * T] storage dynamics */
    int *final_energy; /* [n_batteries] */
    int *flex_energy;  /* [n_groups] */
    int *compute_cap;  /* [T], 0 where no p column exists or without a compute limit */
    int *peak_row;     /* [T], 0 where g[t] is absent or without a demand charge */
    int *cluster_cap;  /* [n_clusters * T], 0 where the cluster's open loads cannot reach it */
    int n_rows;
    int n_nonzeros;

    /* What the matrix coefficients depend on besides the index maps. */
    double *charge_efficiency;    /* [n_batteries] */
    double *discharge_efficiency; /* [n_batteries] */
    char **battery_ids;           /* [n_batteries], owned copies */
    char **flex_ids;              /* [n_groups], owned copies: the id of the group's first load */
    char **member_ids;            /* [n_flex], owned copies: every load's id, in order */
} lp_layout_t;

/* The effective import cap of every step: min(site limit, every active event's limit), written
 * into caps[T] (borrowed). O(T + total event length). */
void gridems__lp_import_caps(const gridems_scenario_t *sc, double *caps);

/* Each group's summed power limit and energy in sc (which has the layout's structure), written
 * into power[n_groups] and energy[n_groups] (borrowed). */
void gridems__lp_group_sums(const lp_layout_t *layout, const gridems_scenario_t *sc, double *power,
                            double *energy);

/* How flexible loads are grouped. */
typedef enum {
    LP_MERGE_NONE,  /* one group per load: the plain formulation (tests) */
    LP_MERGE_EXACT, /* same window and energy/power ratio: exact (the optimizer's program) */
    LP_MERGE_WINDOW /* same window only: a relaxation, never solved for a schedule, only for
                     * step prices (price_estimate.h) */
} lp_merge_t;

/* Build the layout of a validated scenario. Returns 0 or GRIDEMS_ENOMEM (layout left freed). */
int gridems__lp_layout_build(lp_layout_t *layout, const gridems_scenario_t *sc, lp_merge_t merge);

/* True when a and b give the same program structure and matrix. */
bool gridems__lp_layout_same(const lp_layout_t *a, const lp_layout_t *b);

void gridems__lp_layout_free(lp_layout_t *layout);

#endif
