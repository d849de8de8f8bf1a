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
    int n_flex;
    double dt;

    /* Columns. */
    int *g, *x, *k, *z; /* [T] */
    int *c, *d, *s;     /* [n_batteries * T]; s[b*T + t] is the energy at the end of step t */
    int *f;             /* [n_batteries] */
    int *p;             /* [n_flex * T] */
    int *u;             /* [n_flex] */
    int peak;           /* P, or 0 without a demand charge */
    int n_cols;

    /* Rows. */
    int *balance;      /* [T] power balance */
    int *storage;      /* [n_batteries * T] storage dynamics */
    int *final_energy; /* [n_batteries] */
    int *flex_energy;  /* [n_flex] */
    int *compute_cap;  /* [T], 0 where no p column exists or without a compute limit */
    int *peak_row;     /* [T], 0 where g[t] is absent or without a demand charge */
    int n_rows;
    int n_nonzeros;

    /* What the matrix coefficients depend on besides the index maps. */
    double *charge_efficiency;    /* [n_batteries] */
    double *discharge_efficiency; /* [n_batteries] */
    char **battery_ids;           /* [n_batteries], owned copies */
    char **flex_ids;              /* [n_flex], owned copies */
} lp_layout_t;

/* The effective import cap of every step: min(site limit, every active event's limit), written
 * into caps[T] (borrowed). O(T + total event length). */
void gridems__lp_import_caps(const gridems_scenario_t *sc, double *caps);

/* Build the layout of a validated scenario. Returns 0 or GRIDEMS_ENOMEM (layout left freed). */
int gridems__lp_layout_build(lp_layout_t *layout, const gridems_scenario_t *sc);

/* True when a and b give the same program structure and matrix. */
bool gridems__lp_layout_same(const lp_layout_t *a, const lp_layout_t *b);

void gridems__lp_layout_free(lp_layout_t *layout);

#endif
