/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What basis_file.c needs of the optimizer object (implemented in optimizer.c): the problem and
 * basis it holds, and a way to hand it a basis taken from a file. Same thread as the object.
 */
#ifndef GRIDEMS_BASIS_FILE_H
#define GRIDEMS_BASIS_FILE_H

#include <glpk.h>
#include <stdbool.h>

#include "gridems/optimizer.h"

/* The problem opt holds (borrowed until the next solve or build), and the size of its last cold
 * solve (0 before one); NULL when it holds none, or, with optimal_only, when it holds no optimal
 * basis. */
glp_prob *gridems__optimizer_basis_lp(const gridems_optimizer_t *opt, bool optimal_only,
                                      int *cold_iterations, int *cold_rows);

/* The problem just built (gridems_optimizer_build) was given a basis from a file: treat it as the
 * basis of the last solve, carried over by meaning into the next one (never updated in place:
 * it holds no duals), and take the saved cold solve's size for the warm cap. */
void gridems__optimizer_basis_adopted(gridems_optimizer_t *opt, int cold_iterations, int cold_rows);

#endif
