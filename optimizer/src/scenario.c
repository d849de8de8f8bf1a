/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The scenario struct: construction, deep copy, release and the validator of every rule of the
 * scenario format v1 (docs/optimizer.md). The JSON reader and writer live in scenario_json.c and
 * end by calling gridems_scenario_validate(), so a scenario built in memory by the service and
 * one read from a file are held to exactly the same rules and produce the same messages.
 */
#include "gridems/scenario.h"

#include <math.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

/* Below this many ids the duplicate check compares every pair: no allocation, and cheaper than
 * sorting for the handful of devices a real site has. */
#define DUPLICATE_SCAN_SMALL 64

/* Where validation messages go; err may be NULL when the caller only wants the verdict. */
typedef struct {
    char *err;
    size_t errlen;
} sink_t;

/* Room for the longest field path we build, e.g. "flexible_loads[-2147483648].deadline_step",
 * and for its item part alone, e.g. "flexible_loads[-2147483648]". */
#define PATH_MAX_LEN 96
#define ITEM_MAX_LEN 48

__attribute__((format(printf, 2, 3))) static int reject(const sink_t *s, const char *fmt, ...)
{
    if (s->err != NULL && s->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, s->errlen, fmt, ap);
        va_end(ap);
    }
    return GRIDEMS_EINVAL;
}

/* Format v with the fewest digits that still read back as the same double, so that a message
 * says "got 1.7" rather than "got 1.7000000000000002" yet never shows two different values the
 * same way. */
static const char *fmt_num(char buf[32], double v)
{
    for (int digits = 15; digits < 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, v);
        if (!isfinite(v) || strtod(buf, NULL) == v) {
            return buf;
        }
    }
    snprintf(buf, 32, "%.17g", v);
    return buf;
}

static double *dup_array(const double *src, int n)
{
    if (src == NULL || n <= 0) {
        return NULL;
    }
    double *copy = malloc((size_t)n * sizeof *copy);
    if (copy != NULL) {
        memcpy(copy, src, (size_t)n * sizeof *copy);
    }
    return copy;
}

static char *dup_text(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

int gridems_scenario_init(gridems_scenario_t *sc, int steps, double step_minutes)
{
    if (sc == NULL) {
        return GRIDEMS_EINVAL;
    }
    memset(sc, 0, sizeof *sc);
    if (steps < 1 || steps > GRIDEMS_SCENARIO_MAX_STEPS) {
        return GRIDEMS_EINVAL;
    }
    size_t n = (size_t)steps;
    sc->steps = steps;
    sc->step_minutes = step_minutes;
    sc->import_per_kwh = calloc(n, sizeof(double));
    sc->export_per_kwh = calloc(n, sizeof(double));
    sc->carbon_kg_per_kwh = calloc(n, sizeof(double));
    sc->base_load_kw = calloc(n, sizeof(double));
    sc->pv_kw = calloc(n, sizeof(double));
    if (sc->import_per_kwh == NULL || sc->export_per_kwh == NULL || sc->carbon_kg_per_kwh == NULL ||
        sc->base_load_kw == NULL || sc->pv_kw == NULL) {
        gridems_scenario_free(sc);
        return GRIDEMS_ENOMEM;
    }
    sc->import_limit_kw = GRIDEMS_DEFAULT_IMPORT_LIMIT_KW;
    sc->unmet_flexible_per_kwh = GRIDEMS_DEFAULT_UNMET_FLEXIBLE_PER_KWH;
    sc->unserved_load_per_kwh = GRIDEMS_DEFAULT_UNSERVED_LOAD_PER_KWH;
    sc->final_soc_shortfall_per_kwh = GRIDEMS_DEFAULT_FINAL_SOC_SHORTFALL_PER_KWH;
    return 0;
}

/* Grow *items by one element of `size` bytes. The header's counts are ints, so refuse to pass
 * INT_MAX rather than overflow them. */
static void *grow_by_one(void *items, int count, size_t size)
{
    if (count < 0 || count == INT_MAX) {
        return NULL;
    }
    return realloc(items, ((size_t)count + 1) * size);
}

int gridems_scenario_add_battery(gridems_scenario_t *sc, const gridems_battery_t *b)
{
    if (sc == NULL || b == NULL) {
        return GRIDEMS_EINVAL;
    }
    char *id = dup_text(b->id);
    if (b->id != NULL && id == NULL) {
        return GRIDEMS_ENOMEM;
    }
    gridems_battery_t *items = grow_by_one(sc->batteries, sc->n_batteries, sizeof *items);
    if (items == NULL) {
        free(id);
        return GRIDEMS_ENOMEM;
    }
    sc->batteries = items;
    items[sc->n_batteries] = *b;
    items[sc->n_batteries].id = id;
    sc->n_batteries++;
    return 0;
}

int gridems_scenario_add_flex_load(gridems_scenario_t *sc, const gridems_flex_load_t *j)
{
    if (sc == NULL || j == NULL) {
        return GRIDEMS_EINVAL;
    }
    char *id = dup_text(j->id), *cluster = dup_text(j->cluster);
    bool copied = (j->id == NULL || id != NULL) && (j->cluster == NULL || cluster != NULL);
    gridems_flex_load_t *items =
        copied ? grow_by_one(sc->flex_loads, sc->n_flex_loads, sizeof *items) : NULL;
    if (items == NULL) {
        free(id);
        free(cluster);
        return GRIDEMS_ENOMEM;
    }
    sc->flex_loads = items;
    items[sc->n_flex_loads] = *j;
    items[sc->n_flex_loads].id = id;
    items[sc->n_flex_loads].cluster = cluster;
    sc->n_flex_loads++;
    return 0;
}

int gridems_scenario_add_cluster(gridems_scenario_t *sc, const gridems_cluster_t *cl)
{
    if (sc == NULL || cl == NULL) {
        return GRIDEMS_EINVAL;
    }
    char *id = dup_text(cl->id);
    if (cl->id != NULL && id == NULL) {
        return GRIDEMS_ENOMEM;
    }
    gridems_cluster_t *items = grow_by_one(sc->clusters, sc->n_clusters, sizeof *items);
    if (items == NULL) {
        free(id);
        return GRIDEMS_ENOMEM;
    }
    sc->clusters = items;
    items[sc->n_clusters] = *cl;
    items[sc->n_clusters].id = id;
    sc->n_clusters++;
    return 0;
}

int gridems_scenario_find_cluster(const gridems_scenario_t *sc, const char *id)
{
    for (int c = 0; id != NULL && c < sc->n_clusters; c++) {
        if (strcmp(sc->clusters[c].id, id) == 0) {
            return c;
        }
    }
    return -1;
}

int gridems_scenario_add_event(gridems_scenario_t *sc, const gridems_event_t *ev)
{
    if (sc == NULL || ev == NULL) {
        return GRIDEMS_EINVAL;
    }
    gridems_event_t *items = grow_by_one(sc->events, sc->n_events, sizeof *items);
    if (items == NULL) {
        return GRIDEMS_ENOMEM;
    }
    sc->events = items;
    items[sc->n_events] = *ev;
    sc->n_events++;
    return 0;
}

int gridems_scenario_set_text(char **field, const char *text)
{
    if (field == NULL) {
        return GRIDEMS_EINVAL;
    }
    /* Copy before freeing, so that text may point into *field itself. */
    char *copy = dup_text(text);
    if (text != NULL && copy == NULL) {
        return GRIDEMS_ENOMEM;
    }
    free(*field);
    *field = copy;
    return 0;
}

void gridems_scenario_free(gridems_scenario_t *sc)
{
    if (sc == NULL) {
        return;
    }
    free(sc->start);
    free(sc->currency);
    free(sc->import_per_kwh);
    free(sc->export_per_kwh);
    free(sc->carbon_kg_per_kwh);
    free(sc->base_load_kw);
    free(sc->pv_kw);
    if (sc->batteries != NULL) {
        for (int b = 0; b < sc->n_batteries; b++) {
            free(sc->batteries[b].id);
        }
        free(sc->batteries);
    }
    if (sc->flex_loads != NULL) {
        for (int j = 0; j < sc->n_flex_loads; j++) {
            free(sc->flex_loads[j].id);
            free(sc->flex_loads[j].cluster);
        }
        free(sc->flex_loads);
    }
    if (sc->clusters != NULL) {
        for (int c = 0; c < sc->n_clusters; c++) {
            free(sc->clusters[c].id);
        }
        free(sc->clusters);
    }
    free(sc->events);
    memset(sc, 0, sizeof *sc);
}

/* Copy the item arrays of src into dst, whose item pointers are NULL and counts 0. */
static int copy_items(gridems_scenario_t *dst, const gridems_scenario_t *src)
{
    if (src->n_batteries > 0 && src->batteries != NULL) {
        dst->batteries = calloc((size_t)src->n_batteries, sizeof *dst->batteries);
        if (dst->batteries == NULL) {
            return GRIDEMS_ENOMEM;
        }
        dst->n_batteries = src->n_batteries;
        for (int b = 0; b < src->n_batteries; b++) {
            dst->batteries[b] = src->batteries[b];
            dst->batteries[b].id = dup_text(src->batteries[b].id);
            if (src->batteries[b].id != NULL && dst->batteries[b].id == NULL) {
                return GRIDEMS_ENOMEM;
            }
        }
    }
    if (src->n_flex_loads > 0 && src->flex_loads != NULL) {
        dst->flex_loads = calloc((size_t)src->n_flex_loads, sizeof *dst->flex_loads);
        if (dst->flex_loads == NULL) {
            return GRIDEMS_ENOMEM;
        }
        dst->n_flex_loads = src->n_flex_loads;
        for (int j = 0; j < src->n_flex_loads; j++) {
            dst->flex_loads[j] = src->flex_loads[j];
            dst->flex_loads[j].id = dup_text(src->flex_loads[j].id);
            dst->flex_loads[j].cluster = dup_text(src->flex_loads[j].cluster);
            if ((src->flex_loads[j].id != NULL && dst->flex_loads[j].id == NULL) ||
                (src->flex_loads[j].cluster != NULL && dst->flex_loads[j].cluster == NULL)) {
                return GRIDEMS_ENOMEM;
            }
        }
    }
    if (src->n_clusters > 0 && src->clusters != NULL) {
        dst->clusters = calloc((size_t)src->n_clusters, sizeof *dst->clusters);
        if (dst->clusters == NULL) {
            return GRIDEMS_ENOMEM;
        }
        dst->n_clusters = src->n_clusters;
        for (int c = 0; c < src->n_clusters; c++) {
            dst->clusters[c] = src->clusters[c];
            dst->clusters[c].id = dup_text(src->clusters[c].id);
            if (src->clusters[c].id != NULL && dst->clusters[c].id == NULL) {
                return GRIDEMS_ENOMEM;
            }
        }
    }
    if (src->n_events > 0 && src->events != NULL) {
        dst->events = malloc((size_t)src->n_events * sizeof *dst->events);
        if (dst->events == NULL) {
            return GRIDEMS_ENOMEM;
        }
        memcpy(dst->events, src->events, (size_t)src->n_events * sizeof *dst->events);
        dst->n_events = src->n_events;
    }
    return 0;
}

int gridems_scenario_copy(gridems_scenario_t *dst, const gridems_scenario_t *src)
{
    if (dst == NULL || src == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (dst == src) {
        return 0;
    }
    /* Start from the scalars, then replace every owned pointer; until the copies are made dst
     * must own nothing, so that freeing it on the way out is safe. */
    *dst = *src;
    dst->start = NULL;
    dst->currency = NULL;
    dst->import_per_kwh = NULL;
    dst->export_per_kwh = NULL;
    dst->carbon_kg_per_kwh = NULL;
    dst->base_load_kw = NULL;
    dst->pv_kw = NULL;
    dst->batteries = NULL;
    dst->n_batteries = 0;
    dst->flex_loads = NULL;
    dst->n_flex_loads = 0;
    dst->events = NULL;
    dst->n_events = 0;
    dst->clusters = NULL;
    dst->n_clusters = 0;

    int n = src->steps;
    dst->start = dup_text(src->start);
    dst->currency = dup_text(src->currency);
    dst->import_per_kwh = dup_array(src->import_per_kwh, n);
    dst->export_per_kwh = dup_array(src->export_per_kwh, n);
    dst->carbon_kg_per_kwh = dup_array(src->carbon_kg_per_kwh, n);
    dst->base_load_kw = dup_array(src->base_load_kw, n);
    dst->pv_kw = dup_array(src->pv_kw, n);
    bool ok = (src->start == NULL || dst->start != NULL) &&
              (src->currency == NULL || dst->currency != NULL) &&
              (n <= 0 || ((src->import_per_kwh == NULL || dst->import_per_kwh != NULL) &&
                          (src->export_per_kwh == NULL || dst->export_per_kwh != NULL) &&
                          (src->carbon_kg_per_kwh == NULL || dst->carbon_kg_per_kwh != NULL) &&
                          (src->base_load_kw == NULL || dst->base_load_kw != NULL) &&
                          (src->pv_kw == NULL || dst->pv_kw != NULL)));
    if (!ok || copy_items(dst, src) != 0) {
        gridems_scenario_free(dst);
        return GRIDEMS_ENOMEM;
    }
    return 0;
}

/* ---- ## Validation ---- */

/* What a number field may hold beyond being finite and within the magnitude bound. */
typedef enum {
    ANY_SIGN,    /* prices */
    NON_NEGATIVE /* powers, energies, limits, capacities, costs */
} sign_rule_t;

static int check_number(const sink_t *s, const char *path, double v, sign_rule_t rule)
{
    char num[32];
    if (!isfinite(v)) {
        return reject(s, "%s: must be a finite number", path);
    }
    if (fabs(v) > GRIDEMS_SCENARIO_MAX_MAGNITUDE) {
        return reject(s, "%s: must be at most %g in magnitude, got %s", path,
                      GRIDEMS_SCENARIO_MAX_MAGNITUDE, fmt_num(num, v));
    }
    if (rule == NON_NEGATIVE && v < 0) {
        return reject(s, "%s: must be >= 0, got %s", path, fmt_num(num, v));
    }
    return 0;
}

static int check_series(const sink_t *s, const char *path, const double *values, int steps,
                        sign_rule_t rule)
{
    if (values == NULL) {
        return reject(s, "%s: must have %d values (T = length of site.base_load_kw), got none",
                      path, steps);
    }
    char item[PATH_MAX_LEN];
    for (int t = 0; t < steps; t++) {
        /* Format the indexed path only on failure: this loop runs for every step. */
        if (!isfinite(values[t]) || fabs(values[t]) > GRIDEMS_SCENARIO_MAX_MAGNITUDE ||
            (rule == NON_NEGATIVE && values[t] < 0)) {
            snprintf(item, sizeof item, "%s[%d]", path, t);
            return check_number(s, item, values[t], rule);
        }
    }
    return 0;
}

/* A positive number, for penalties: a zero or negative penalty would make the LP unbounded or
 * the "do nothing" fallback free. */
static int check_positive(const sink_t *s, const char *path, double v)
{
    char num[32];
    int rc = check_number(s, path, v, ANY_SIGN);
    if (rc == 0 && !(v > 0)) {
        rc = reject(s, "%s: must be > 0, got %s", path, fmt_num(num, v));
    }
    return rc;
}

static int check_text(const sink_t *s, const char *path, const char *text)
{
    size_t n = strnlen(text, GRIDEMS_SCENARIO_MAX_TEXT + 1);
    if (n > GRIDEMS_SCENARIO_MAX_TEXT) {
        return reject(s, "%s: must be at most %d bytes long", path, GRIDEMS_SCENARIO_MAX_TEXT);
    }
    return 0;
}

static int check_id(const sink_t *s, const char *path, const char *id)
{
    if (id == NULL || id[0] == '\0' ||
        strnlen(id, GRIDEMS_SCENARIO_MAX_TEXT + 1) > GRIDEMS_SCENARIO_MAX_TEXT) {
        return reject(s, "%s: must be a non-empty string of at most %d bytes", path,
                      GRIDEMS_SCENARIO_MAX_TEXT);
    }
    return 0;
}

static int check_header(const sink_t *s, const gridems_scenario_t *sc)
{
    char num[32];
    if (sc->steps < 1 || sc->steps > GRIDEMS_SCENARIO_MAX_STEPS) {
        return reject(s, "site.base_load_kw: must have 1 to %d values, got %d",
                      GRIDEMS_SCENARIO_MAX_STEPS, sc->steps);
    }
    if (!isfinite(sc->step_minutes)) {
        return reject(s, "step_minutes: must be a finite number");
    }
    if (!(sc->step_minutes > 0 && sc->step_minutes <= 1440)) {
        return reject(s, "step_minutes: must be in (0, 1440], got %s",
                      fmt_num(num, sc->step_minutes));
    }
    int rc = 0;
    if (sc->start != NULL) {
        rc = check_text(s, "start", sc->start);
    }
    if (rc == 0 && sc->currency != NULL) {
        rc = check_text(s, "currency", sc->currency);
    }
    return rc;
}

static int check_carbon(const sink_t *s, const gridems_scenario_t *sc)
{
    if (sc->has_carbon) {
        int rc = check_series(s, "carbon.intensity_kg_per_kwh", sc->carbon_kg_per_kwh, sc->steps,
                              NON_NEGATIVE);
        return rc != 0
                   ? rc
                   : check_number(s, "carbon.price_per_kg", sc->carbon_price_per_kg, NON_NEGATIVE);
    }
    /* Without carbon data the header promises all-zero intensities; a non-zero one means the
     * caller filled the series but forgot has_carbon, and would silently get no carbon cost. */
    if (sc->carbon_kg_per_kwh != NULL) {
        for (int t = 0; t < sc->steps; t++) {
            if (sc->carbon_kg_per_kwh[t] != 0) {
                char num[32];
                return reject(s,
                              "carbon.intensity_kg_per_kwh[%d]: must be 0 when has_carbon is "
                              "false, got %s",
                              t, fmt_num(num, sc->carbon_kg_per_kwh[t]));
            }
        }
    }
    return 0;
}

static int check_series_all(const sink_t *s, const gridems_scenario_t *sc)
{
    int T = sc->steps;
    int rc = check_series(s, "prices.import_per_kwh", sc->import_per_kwh, T, ANY_SIGN);
    if (rc == 0) {
        rc = check_series(s, "prices.export_per_kwh", sc->export_per_kwh, T, ANY_SIGN);
    }
    if (rc == 0) {
        rc = check_carbon(s, sc);
    }
    if (rc == 0) {
        rc = check_series(s, "site.base_load_kw", sc->base_load_kw, T, NON_NEGATIVE);
    }
    if (rc == 0) {
        rc = check_series(s, "site.pv_kw", sc->pv_kw, T, NON_NEGATIVE);
    }
    return rc;
}

static int check_site_and_penalties(const sink_t *s, const gridems_scenario_t *sc)
{
    const struct {
        const char *path;
        double value;
    } limits[] = {
        {"site.import_limit_kw", sc->import_limit_kw},
        {"site.export_limit_kw", sc->export_limit_kw},
        {"site.demand_charge_per_kw", sc->demand_charge_per_kw},
        {"site.peak_so_far_kw", sc->peak_so_far_kw},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        int rc = check_number(s, limits[i].path, limits[i].value, NON_NEGATIVE);
        if (rc != 0) {
            return rc;
        }
    }
    if (sc->has_compute_limit) {
        int rc = check_number(s, "compute_limit_kw", sc->compute_limit_kw, NON_NEGATIVE);
        if (rc != 0) {
            return rc;
        }
    }
    int rc = check_positive(s, "penalties.unmet_flexible_per_kwh", sc->unmet_flexible_per_kwh);
    if (rc == 0) {
        rc = check_positive(s, "penalties.unserved_load_per_kwh", sc->unserved_load_per_kwh);
    }
    if (rc == 0) {
        rc = check_positive(s, "penalties.final_soc_shortfall_per_kwh",
                            sc->final_soc_shortfall_per_kwh);
    }
    return rc;
}

/* The count and array of one item list must agree before anything reads the items. */
static int check_list(const sink_t *s, const char *path, int count, const void *items)
{
    if (count < 0) {
        return reject(s, "%s: count must be >= 0, got %d", path, count);
    }
    if (count > 0 && items == NULL) {
        return reject(s, "%s: %d entries but no array", path, count);
    }
    return 0;
}

static int check_battery(const sink_t *s, const gridems_battery_t *b, int index)
{
    char path[PATH_MAX_LEN];
    char num[32], lim[32];
    const struct {
        const char *name;
        double value;
    } fields[] = {
        {"capacity_kwh", b->capacity_kwh},
        {"soc_kwh", b->soc_kwh},
        {"soc_min_kwh", b->soc_min_kwh},
        {"soc_max_kwh", b->soc_max_kwh},
        {"final_soc_min_kwh", b->final_soc_min_kwh},
        {"charge_max_kw", b->charge_max_kw},
        {"discharge_max_kw", b->discharge_max_kw},
        {"cycle_cost_per_kwh", b->cycle_cost_per_kwh},
    };
    snprintf(path, sizeof path, "batteries[%d].id", index);
    int rc = check_id(s, path, b->id);
    for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++) {
        snprintf(path, sizeof path, "batteries[%d].%s", index, fields[i].name);
        /* soc_kwh gets the more telling range message below. */
        rc = check_number(s, path, fields[i].value,
                          strcmp(fields[i].name, "soc_kwh") == 0 ? ANY_SIGN : NON_NEGATIVE);
    }
    const char *eff_names[2] = {"charge_efficiency", "discharge_efficiency"};
    const double eff_values[2] = {b->charge_efficiency, b->discharge_efficiency};
    for (int i = 0; rc == 0 && i < 2; i++) {
        snprintf(path, sizeof path, "batteries[%d].%s", index, eff_names[i]);
        rc = check_number(s, path, eff_values[i], ANY_SIGN);
        if (rc == 0 && !(eff_values[i] > 0 && eff_values[i] <= 1)) {
            rc = reject(s, "%s: must be in (0, 1], got %s", path, fmt_num(num, eff_values[i]));
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (b->soc_kwh < 0 || b->soc_kwh > b->capacity_kwh) {
        return reject(s, "batteries[%d].soc_kwh: must be in [0, capacity_kwh] = [0, %s], got %s",
                      index, fmt_num(lim, b->capacity_kwh), fmt_num(num, b->soc_kwh));
    }
    if (b->soc_max_kwh > b->capacity_kwh) {
        return reject(s, "batteries[%d].soc_max_kwh: must be <= capacity_kwh (%s), got %s", index,
                      fmt_num(lim, b->capacity_kwh), fmt_num(num, b->soc_max_kwh));
    }
    if (b->soc_min_kwh > b->soc_max_kwh) {
        return reject(s, "batteries[%d].soc_min_kwh: must be <= soc_max_kwh (%s), got %s", index,
                      fmt_num(lim, b->soc_max_kwh), fmt_num(num, b->soc_min_kwh));
    }
    if (b->final_soc_min_kwh > b->soc_max_kwh) {
        return reject(s, "batteries[%d].final_soc_min_kwh: must be <= soc_max_kwh (%s), got %s",
                      index, fmt_num(lim, b->soc_max_kwh), fmt_num(num, b->final_soc_min_kwh));
    }
    return 0;
}

/* A half-open step window [first, last) named by its two field names, as flexible loads and
 * events both have one. */
static int check_window(const sink_t *s, const char *item, int first, const char *first_name,
                        int last, const char *last_name, int steps)
{
    if (first < 0) {
        return reject(s, "%s.%s: must be >= 0, got %d", item, first_name, first);
    }
    if (last > steps) {
        return reject(s, "%s.%s: must be <= T (%d), got %d", item, last_name, steps, last);
    }
    if (first >= last) {
        return reject(s, "%s.%s: must be < %s (%d), got %d", item, first_name, last_name, last,
                      first);
    }
    return 0;
}

static int check_flex_load(const sink_t *s, const gridems_flex_load_t *j, int index, int steps)
{
    char item[ITEM_MAX_LEN], path[PATH_MAX_LEN];
    snprintf(item, sizeof item, "flexible_loads[%d]", index);
    snprintf(path, sizeof path, "%s.id", item);
    int rc = check_id(s, path, j->id);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.energy_kwh", item);
        rc = check_number(s, path, j->energy_kwh, NON_NEGATIVE);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.power_max_kw", item);
        rc = check_number(s, path, j->power_max_kw, NON_NEGATIVE);
    }
    if (rc == 0) {
        rc = check_window(s, item, j->earliest_step, "earliest_step", j->deadline_step,
                          "deadline_step", steps);
    }
    return rc;
}

/* Clusters: valid unique ids (their own id space: a cluster is a device, not a load), limits. */
static int check_clusters(const sink_t *s, const gridems_scenario_t *sc)
{
    char path[PATH_MAX_LEN];
    if (sc->n_clusters > GRIDEMS_SCENARIO_MAX_CLUSTERS) {
        return reject(s, "clusters: at most %d clusters, got %d", GRIDEMS_SCENARIO_MAX_CLUSTERS,
                      sc->n_clusters);
    }
    for (int c = 0; c < sc->n_clusters; c++) {
        const gridems_cluster_t *cl = &sc->clusters[c];
        snprintf(path, sizeof path, "clusters[%d].id", c);
        int rc = check_id(s, path, cl->id);
        for (int a = 0; rc == 0 && a < c; a++) {
            if (strcmp(sc->clusters[a].id, cl->id) == 0) {
                rc = reject(s, "%s: duplicate id \"%s\" (already used by clusters[%d].id)", path,
                            cl->id, a);
            }
        }
        if (rc == 0) {
            snprintf(path, sizeof path, "clusters[%d].compute_limit_kw", c);
            rc = check_number(s, path, cl->compute_limit_kw, NON_NEGATIVE);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* A load's cluster, when it names one, must be listed (ids are valid by now). */
static int check_load_cluster(const sink_t *s, const gridems_scenario_t *sc, int index)
{
    const char *name = sc->flex_loads[index].cluster;
    if (name == NULL || gridems_scenario_find_cluster(sc, name) >= 0) {
        return 0;
    }
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "flexible_loads[%d].cluster", index);
    int rc = check_id(s, path, name);
    return rc != 0 ? rc : reject(s, "%s: no cluster has the id \"%s\"", path, name);
}

static int check_event(const sink_t *s, const gridems_event_t *ev, int index, int steps)
{
    char item[ITEM_MAX_LEN], path[PATH_MAX_LEN];
    snprintf(item, sizeof item, "events[%d]", index);
    int rc = check_window(s, item, ev->start_step, "start_step", ev->end_step, "end_step", steps);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.import_limit_kw", item);
        rc = check_number(s, path, ev->import_limit_kw, NON_NEGATIVE);
    }
    return rc;
}

/* One id of the shared battery / flexible-load id space, with its place in the document. */
typedef struct {
    const char *id;
    int ordinal; /* batteries first, then flexible loads */
} id_ref_t;

static int compare_id_refs(const void *a, const void *b)
{
    const id_ref_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c != 0) {
        return c;
    }
    return (x->ordinal > y->ordinal) - (x->ordinal < y->ordinal);
}

static void id_path(char *buf, size_t len, const gridems_scenario_t *sc, int ordinal)
{
    if (ordinal < sc->n_batteries) {
        snprintf(buf, len, "batteries[%d].id", ordinal);
    } else {
        snprintf(buf, len, "flexible_loads[%d].id", ordinal - sc->n_batteries);
    }
}

static const char *id_at(const gridems_scenario_t *sc, int ordinal)
{
    return ordinal < sc->n_batteries ? sc->batteries[ordinal].id
                                     : sc->flex_loads[ordinal - sc->n_batteries].id;
}

static int report_duplicate(const sink_t *s, const gridems_scenario_t *sc, int first, int again)
{
    char first_path[PATH_MAX_LEN], again_path[PATH_MAX_LEN];
    id_path(first_path, sizeof first_path, sc, first);
    id_path(again_path, sizeof again_path, sc, again);
    return reject(s, "%s: duplicate id \"%s\" (already used by %s)", again_path, id_at(sc, again),
                  first_path);
}

/* Find the earliest id (in document order) that repeats an earlier one. Ids are already known
 * to be valid strings. Sorting keeps this O(n log n) for the huge lists an attacker may send. */
static int check_unique_ids(const sink_t *s, const gridems_scenario_t *sc)
{
    int n = sc->n_batteries + sc->n_flex_loads;
    id_ref_t *refs = n > DUPLICATE_SCAN_SMALL ? malloc((size_t)n * sizeof *refs) : NULL;
    if (refs == NULL) {
        /* Small lists, or no memory for the sort: compare every pair. */
        for (int b = 1; b < n; b++) {
            for (int a = 0; a < b; a++) {
                if (strcmp(id_at(sc, a), id_at(sc, b)) == 0) {
                    return report_duplicate(s, sc, a, b);
                }
            }
        }
        return 0;
    }
    for (int i = 0; i < n; i++) {
        refs[i].id = id_at(sc, i);
        refs[i].ordinal = i;
    }
    qsort(refs, (size_t)n, sizeof *refs, compare_id_refs);
    int first = -1, again = -1;
    for (int i = 1; i < n; i++) {
        /* Within a run of equal ids the ordinals ascend, so refs[i-1] precedes refs[i]. */
        if (strcmp(refs[i - 1].id, refs[i].id) == 0 && (again < 0 || refs[i].ordinal < again)) {
            first = refs[i - 1].ordinal;
            again = refs[i].ordinal;
        }
    }
    free(refs);
    return again >= 0 ? report_duplicate(s, sc, first, again) : 0;
}

static int check_items(const sink_t *s, const gridems_scenario_t *sc)
{
    int rc = check_list(s, "batteries", sc->n_batteries, sc->batteries);
    if (rc == 0) {
        rc = check_list(s, "flexible_loads", sc->n_flex_loads, sc->flex_loads);
    }
    if (rc == 0) {
        rc = check_list(s, "events", sc->n_events, sc->events);
    }
    if (rc == 0) {
        rc = check_list(s, "clusters", sc->n_clusters, sc->clusters);
    }
    if (rc == 0) {
        rc = check_clusters(s, sc);
    }
    if (rc == 0 && (long long)sc->n_batteries + sc->n_flex_loads > INT_MAX) {
        rc = reject(s, "batteries: too many batteries and flexible loads");
    }
    for (int b = 0; rc == 0 && b < sc->n_batteries; b++) {
        rc = check_battery(s, &sc->batteries[b], b);
    }
    for (int j = 0; rc == 0 && j < sc->n_flex_loads; j++) {
        rc = check_flex_load(s, &sc->flex_loads[j], j, sc->steps);
        if (rc == 0) {
            rc = check_load_cluster(s, sc, j);
        }
    }
    for (int e = 0; rc == 0 && e < sc->n_events; e++) {
        rc = check_event(s, &sc->events[e], e, sc->steps);
    }
    if (rc == 0) {
        rc = check_unique_ids(s, sc);
    }
    return rc;
}

int gridems_scenario_validate(const gridems_scenario_t *sc, char *err, size_t errlen)
{
    const sink_t s = {err, errlen};
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (sc == NULL) {
        return reject(&s, "scenario: no scenario given");
    }
    int rc = check_header(&s, sc);
    if (rc == 0) {
        rc = check_series_all(&s, sc);
    }
    if (rc == 0) {
        rc = check_site_and_penalties(&s, sc);
    }
    if (rc == 0) {
        rc = check_items(&s, sc);
    }
    return rc;
}
