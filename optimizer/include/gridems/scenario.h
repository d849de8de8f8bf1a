/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The scheduling scenario (docs/optimizer.md, scenario format v1) as a C struct, its JSON reader
 * and its validator.
 *
 * Ownership: a gridems_scenario_t owns every array and string it points to. It is embedded by the
 * caller, filled by gridems_scenario_init() or gridems_scenario_parse_json(), and released with
 * gridems_scenario_free(). No function here keeps a pointer to its arguments.
 * Threads: none of these functions touch shared state; any thread may use its own scenario.
 */
#ifndef GRIDEMS_SCENARIO_H
#define GRIDEMS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#define GRIDEMS_SCENARIO_VERSION 1
#define GRIDEMS_SCENARIO_MAX_STEPS 100000
/* Our own sanity bound (the spec is silent): a magnitude above this cannot be a real power, energy
 * or price and would only make the LP numerically meaningless, so it is rejected like NaN. */
#define GRIDEMS_SCENARIO_MAX_MAGNITUDE 1e15
/* Longest accepted id, start timestamp or currency label, in bytes. */
#define GRIDEMS_SCENARIO_MAX_TEXT 256
/* Most clusters a scenario may name (gridems's extension, docs/optimizer.md "Clusters"): a site's
 * flexible devices, not its jobs; the bound keeps checking each load's cluster O(loads). */
#define GRIDEMS_SCENARIO_MAX_CLUSTERS 64

/* Default penalties of the spec. */
#define GRIDEMS_DEFAULT_UNMET_FLEXIBLE_PER_KWH 1000.0
#define GRIDEMS_DEFAULT_UNSERVED_LOAD_PER_KWH 10000.0
#define GRIDEMS_DEFAULT_FINAL_SOC_SHORTFALL_PER_KWH 1000.0
#define GRIDEMS_DEFAULT_IMPORT_LIMIT_KW 1e9

typedef struct gridems_battery_s {
    char *id; /* owned */
    double capacity_kwh;
    double soc_kwh;
    double soc_min_kwh;
    double soc_max_kwh;
    double final_soc_min_kwh;
    double charge_max_kw;
    double discharge_max_kw;
    double charge_efficiency;
    double discharge_efficiency;
    double cycle_cost_per_kwh;
} gridems_battery_t;

typedef struct gridems_flex_load_s {
    char *id; /* owned */
    double energy_kwh;
    double power_max_kw;
    int earliest_step; /* first step it may run, inclusive */
    int deadline_step; /* first step it may no longer run, exclusive */
    char *cluster;     /* owned, may be NULL: the id of the cluster whose cap it shares (an
                        * extension of format v1, docs/optimizer.md "Clusters") */
} gridems_flex_load_t;

/* A set of flexible loads with a compute cap of its own (one AI cluster of the site), besides the
 * site's compute_limit_kw: every step, the summed power of its loads <= compute_limit_kw. */
typedef struct gridems_cluster_s {
    char *id; /* owned */
    double compute_limit_kw;
} gridems_cluster_t;

typedef struct gridems_event_s {
    int start_step; /* inclusive */
    int end_step;   /* exclusive */
    double import_limit_kw;
} gridems_event_t;

typedef struct gridems_scenario_s {
    int steps; /* T */
    double step_minutes;
    char *start;    /* owned, may be NULL when the scenario has no start time */
    char *currency; /* owned, may be NULL */

    double *import_per_kwh;    /* [T] */
    double *export_per_kwh;    /* [T] */
    double *carbon_kg_per_kwh; /* [T], all 0 when has_carbon is false */
    bool has_carbon;
    double carbon_price_per_kg;

    double *base_load_kw; /* [T] */
    double *pv_kw;        /* [T] */
    double import_limit_kw;
    double export_limit_kw;
    double demand_charge_per_kw;
    double peak_so_far_kw;

    gridems_battery_t *batteries; /* [n_batteries], owned */
    int n_batteries;
    gridems_flex_load_t *flex_loads; /* [n_flex_loads], owned */
    int n_flex_loads;
    gridems_event_t *events; /* [n_events], owned */
    int n_events;

    bool has_compute_limit;
    double compute_limit_kw;
    gridems_cluster_t *clusters; /* [n_clusters], owned; flexible loads name them by id */
    int n_clusters;

    double unmet_flexible_per_kwh;
    double unserved_load_per_kwh;
    double final_soc_shortfall_per_kwh;
} gridems_scenario_t;

/*
 * gridems_scenario_init: make an empty scenario of `steps` steps with every default of the spec
 * (prices, loads and PV zero; no batteries, loads or events; default limits and penalties).
 * Parameters: sc (borrowed, overwritten; need not be initialised), steps (1..MAX_STEPS),
 *   step_minutes (stored as given; validate later).
 * Returns: 0, GRIDEMS_EINVAL for a bad step count, GRIDEMS_ENOMEM. On error sc is left freed.
 */
int gridems_scenario_init(gridems_scenario_t *sc, int steps, double step_minutes);

/*
 * gridems_scenario_add_battery / _add_flex_load / _add_event / _add_cluster: append one item
 * (copied, its strings too) and return 0 or GRIDEMS_ENOMEM. Validation is separate.
 */
int gridems_scenario_add_battery(gridems_scenario_t *sc, const gridems_battery_t *b);
int gridems_scenario_add_flex_load(gridems_scenario_t *sc, const gridems_flex_load_t *j);
int gridems_scenario_add_event(gridems_scenario_t *sc, const gridems_event_t *ev);
int gridems_scenario_add_cluster(gridems_scenario_t *sc, const gridems_cluster_t *cl);

/* gridems_scenario_find_cluster: the index in sc->clusters of the cluster with this id, or -1
 * (also for a NULL id). O(n_clusters), at most GRIDEMS_SCENARIO_MAX_CLUSTERS once validated. */
int gridems_scenario_find_cluster(const gridems_scenario_t *sc, const char *id);

/* gridems_scenario_set_text: replace *field (sc->start or sc->currency) by a copy of text (may be
 * NULL). Returns 0 or GRIDEMS_ENOMEM. */
int gridems_scenario_set_text(char **field, const char *text);

/* gridems_scenario_free: release everything the scenario owns and zero it. Safe on a zeroed or
 * already freed scenario. */
void gridems_scenario_free(gridems_scenario_t *sc);

/*
 * gridems_scenario_copy: deep copy src into dst (dst need not be initialised).
 * Returns 0 or GRIDEMS_ENOMEM (dst left freed).
 */
int gridems_scenario_copy(gridems_scenario_t *dst, const gridems_scenario_t *src);

/*
 * gridems_scenario_validate: check every rule of the spec (and the magnitude bound above) on a
 * scenario however it was built. On failure writes one line naming the field path and the rule
 * into err, e.g. "batteries[2].charge_efficiency: must be in (0, 1], got 1.7".
 * Parameters: sc (borrowed), err (borrowed buffer, may be NULL), errlen.
 * Returns: 0 when the scenario may be handed to the optimizer, GRIDEMS_EINVAL otherwise.
 */
int gridems_scenario_validate(const gridems_scenario_t *sc, char *err, size_t errlen);

/*
 * gridems_scenario_parse_json: parse and validate scenario JSON text of `len` bytes (need not be
 * NUL-terminated). Applies the spec's defaults; unknown keys are ignored.
 * Parameters: text (borrowed), out (borrowed; filled on success, left freed on failure),
 *   err/errlen as for validate (a JSON syntax error names the byte offset).
 * Returns: 0, GRIDEMS_EPARSE (not JSON), GRIDEMS_EINVAL (breaks a rule), GRIDEMS_ENOMEM.
 */
int gridems_scenario_parse_json(const char *text, size_t len, gridems_scenario_t *out, char *err,
                                size_t errlen);

/*
 * gridems_scenario_to_json: the scenario as JSON text in the v1 format (every field written out,
 * defaults included), so the service's in-memory scenario can be re-solved by `gridems solve`.
 * Returns: a NUL-terminated string that the caller frees with free(), or NULL on ENOMEM.
 */
char *gridems_scenario_to_json(const gridems_scenario_t *sc);

/* gridems_scenario_dt_hours: step length in hours. */
static inline double gridems_scenario_dt_hours(const gridems_scenario_t *sc)
{
    return sc->step_minutes / 60.0;
}

#endif
