/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Internal interfaces of the optimizer library, shared with the service core and the tests but
 * not part of its public API (they may expose cJSON, which plugins never see).
 */
#ifndef GRIDEMS_OPTIMIZER_INTERNAL_H
#define GRIDEMS_OPTIMIZER_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "error_text.h" /* gridems_set_err: the one-line reason into err[errlen] */
#include "gridems/optimizer.h"

/* Allocate zeroed arrays for a schedule of T steps. Returns 0 or GRIDEMS_ENOMEM (sched freed). */
int gridems__schedule_alloc(gridems_schedule_t *sched, int steps, int n_batteries, int n_flex);

/* The schedule JSON of the spec as a cJSON tree. Returns a tree the caller frees with cJSON_Delete,
 * or NULL on ENOMEM. */
cJSON *gridems__schedule_to_cjson(const gridems_scenario_t *sc, const gridems_schedule_t *sched);

/*
 * JSON numbers that round-trip a double (cJSON's own printer does not always): the shortest text
 * that reads back exactly (shortest_double.h), -0 as 0; non-finite values print as null.
 * gridems__format_double writes into buf (truncated to size like snprintf) and returns the
 * length of the whole text (at most 31).
 * gridems__json_number returns a raw cJSON item (caller owns it; NULL on ENOMEM).
 * gridems__json_add_number adds one to obj under key (false on ENOMEM, nothing added).
 * gridems__json_number_array returns an array of n of them (caller owns it; NULL on ENOMEM).
 */
int gridems__format_double(char *buf, size_t size, double v);
cJSON *gridems__json_number(double v);
bool gridems__json_add_number(cJSON *obj, const char *key, double v);
cJSON *gridems__json_number_array(const double *values, int n);

/* The type of a JSON value for error messages: "boolean", "null", "number", "string", "array",
 * "object", or "nothing" for NULL (a missing member). Static strings. */
const char *gridems__json_type_name(const cJSON *v);

/* v printed compactly, in memory the caller frees with free() (whatever allocator cJSON uses);
 * NULL when v is NULL or memory runs out. v stays the caller's. */
char *gridems__json_print(const cJSON *v);

/* Tests only: cap every warm start of opt at `iterations` simplex iterations instead of the
 * share of the last cold solve (0 restores that). */
void gridems__optimizer_set_warm_cap(gridems_optimizer_t *opt, int iterations);

/* Tests only: merge flexible loads with the same window and energy/power ratio into one group
 * of columns (true, the default) or give every load its own (false, the plain formulation).
 * Applies from the next build. */
void gridems__optimizer_set_merge(gridems_optimizer_t *opt, bool merge);

/* Tests and benchmarks: solve cold and primal warm starts of many flexible columns by sifting
 * (sifting.h; true, the default) or with the plain simplex (false). */
void gridems__optimizer_set_sifting(gridems_optimizer_t *opt, bool sifting);

/* Tests: how the last simplex run went (the cold one, after a capped warm start): restricted
 * sifting rounds (0: it did not sift) and whether its margins came from estimated step prices. */
void gridems__optimizer_last_sifting(const gridems_optimizer_t *opt, int *rounds, bool *estimated);

/* Tests only: make the next solve or build of opt raise a GLPK error inside the protected region,
 * to exercise the error-hook recovery. */
void gridems__optimizer_inject_fault(gridems_optimizer_t *opt);

#endif
