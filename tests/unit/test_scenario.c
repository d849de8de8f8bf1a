/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The scenario struct, its JSON reader and writer and its validator (docs/optimizer.md, scenario
 * format v1): defaults, one case per rejection rule, round trips, deep copies, and robustness
 * against truncated, deeply nested, huge and malformed input.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "gridems/scenario.h"
#include "test_util.h"

/* A full scenario of T = 4 steps using every field, each with a value that differs from its
 * default, so that a field the reader forgets shows up in the comparisons. No trailing
 * whitespace: every strict prefix of it is incomplete JSON. */
static const char BASE[] =
    "{\"version\": 1, \"start\": \"2026-05-11T00:00:00+09:00\", \"step_minutes\": 30,"
    " \"currency\": \"JPY\","
    " \"prices\": {\"import_per_kwh\": [20.5, 18.25, -3, 31.7],"
    " \"export_per_kwh\": [5, 5, -1, 6]},"
    " \"carbon\": {\"intensity_kg_per_kwh\": [0.45, 0.4, 0.3, 0.5], \"price_per_kg\": 2.5},"
    " \"site\": {\"base_load_kw\": [4000, 4100.5, 3900, 4200], \"pv_kw\": [0, 150, 300, 0],"
    " \"import_limit_kw\": 9000, \"export_limit_kw\": 500, \"demand_charge_per_kw\": 1.5,"
    " \"peak_so_far_kw\": 4500},"
    " \"batteries\": [{\"id\": \"bess-1\", \"capacity_kwh\": 4000, \"soc_kwh\": 2000,"
    " \"soc_min_kwh\": 400, \"soc_max_kwh\": 3800, \"final_soc_min_kwh\": 2100,"
    " \"charge_max_kw\": 1000, \"discharge_max_kw\": 900, \"charge_efficiency\": 0.95,"
    " \"discharge_efficiency\": 0.96, \"cycle_cost_per_kwh\": 0.02}],"
    " \"flexible_loads\": [{\"id\": \"train-1\", \"energy_kwh\": 3000, \"power_max_kw\": 800,"
    " \"earliest_step\": 0, \"deadline_step\": 4, \"cluster\": \"gpu-a\"},"
    " {\"id\": \"train-2\", \"energy_kwh\": 100, \"power_max_kw\": 50, \"earliest_step\": 1,"
    " \"deadline_step\": 3}],"
    " \"compute_limit_kw\": 5000,"
    " \"clusters\": [{\"id\": \"gpu-a\", \"compute_limit_kw\": 900}],"
    " \"events\": [{\"start_step\": 1, \"end_step\": 3, \"import_limit_kw\": 6000}],"
    " \"penalties\": {\"unmet_flexible_per_kwh\": 1001, \"unserved_load_per_kwh\": 10001,"
    " \"final_soc_shortfall_per_kwh\": 1002}}";

/* Only the required fields. */
static const char MINIMAL[] =
    "{\"version\": 1, \"step_minutes\": 15, \"prices\": {\"import_per_kwh\": [1, 2, 3]},"
    " \"site\": {\"base_load_kw\": [10, 20, 30]}}";

#define S16 "aaaaaaaaaaaaaaaa"
#define S256 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16 S16
#define TEXT_256 "\"" S256 "\""
#define TEXT_257 "\"" S256 "a\""

/* ---- ## Helpers ---- */

static int parse_text(const char *text, gridems_scenario_t *sc, char *err, size_t errlen)
{
    return gridems_scenario_parse_json(text, strlen(text), sc, err, errlen);
}

static void parse_ok(const char *text, gridems_scenario_t *sc)
{
    char err[512] = "";
    int rc = parse_text(text, sc, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s (%s)", gridems_err_name(rc), err);
}

/* After a failed parse the output must own nothing. */
static void assert_freed(const gridems_scenario_t *sc)
{
    ck_assert_int_eq(sc->steps, 0);
    ck_assert_ptr_null(sc->import_per_kwh);
    ck_assert_ptr_null(sc->export_per_kwh);
    ck_assert_ptr_null(sc->carbon_kg_per_kwh);
    ck_assert_ptr_null(sc->base_load_kw);
    ck_assert_ptr_null(sc->pv_kw);
    ck_assert_ptr_null(sc->batteries);
    ck_assert_ptr_null(sc->flex_loads);
    ck_assert_ptr_null(sc->events);
    ck_assert_ptr_null(sc->start);
    ck_assert_ptr_null(sc->currency);
}

/* Exactly-sized heap copy without a terminator, so AddressSanitizer sees any read past len. */
static char *exact_copy(const char *text, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    return copy;
}

static void same_double(const char *what, int index, double a, double b)
{
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "%s[%d] differs: %.17g vs %.17g", what, index, a,
                  b);
}

static void same_text(const char *what, const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        ck_assert_msg(a == b, "%s: one is NULL", what);
    } else {
        ck_assert_msg(strcmp(a, b) == 0, "%s differs: '%s' vs '%s'", what, a, b);
    }
}

static void same_series(const char *what, const double *a, const double *b, int n)
{
    for (int t = 0; t < n; t++) {
        same_double(what, t, a[t], b[t]);
    }
}

/* Every field, bit for bit. */
static void assert_same_scenario(const gridems_scenario_t *a, const gridems_scenario_t *b)
{
    ck_assert_int_eq(a->steps, b->steps);
    int T = a->steps;
    same_double("step_minutes", 0, a->step_minutes, b->step_minutes);
    same_text("start", a->start, b->start);
    same_text("currency", a->currency, b->currency);
    same_series("import_per_kwh", a->import_per_kwh, b->import_per_kwh, T);
    same_series("export_per_kwh", a->export_per_kwh, b->export_per_kwh, T);
    same_series("carbon_kg_per_kwh", a->carbon_kg_per_kwh, b->carbon_kg_per_kwh, T);
    ck_assert(a->has_carbon == b->has_carbon);
    same_double("carbon_price_per_kg", 0, a->carbon_price_per_kg, b->carbon_price_per_kg);
    same_series("base_load_kw", a->base_load_kw, b->base_load_kw, T);
    same_series("pv_kw", a->pv_kw, b->pv_kw, T);
    same_double("import_limit_kw", 0, a->import_limit_kw, b->import_limit_kw);
    same_double("export_limit_kw", 0, a->export_limit_kw, b->export_limit_kw);
    same_double("demand_charge_per_kw", 0, a->demand_charge_per_kw, b->demand_charge_per_kw);
    same_double("peak_so_far_kw", 0, a->peak_so_far_kw, b->peak_so_far_kw);
    ck_assert_int_eq(a->n_batteries, b->n_batteries);
    for (int i = 0; i < a->n_batteries; i++) {
        const gridems_battery_t *x = &a->batteries[i], *y = &b->batteries[i];
        same_text("battery id", x->id, y->id);
        same_double("capacity_kwh", i, x->capacity_kwh, y->capacity_kwh);
        same_double("soc_kwh", i, x->soc_kwh, y->soc_kwh);
        same_double("soc_min_kwh", i, x->soc_min_kwh, y->soc_min_kwh);
        same_double("soc_max_kwh", i, x->soc_max_kwh, y->soc_max_kwh);
        same_double("final_soc_min_kwh", i, x->final_soc_min_kwh, y->final_soc_min_kwh);
        same_double("charge_max_kw", i, x->charge_max_kw, y->charge_max_kw);
        same_double("discharge_max_kw", i, x->discharge_max_kw, y->discharge_max_kw);
        same_double("charge_efficiency", i, x->charge_efficiency, y->charge_efficiency);
        same_double("discharge_efficiency", i, x->discharge_efficiency, y->discharge_efficiency);
        same_double("cycle_cost_per_kwh", i, x->cycle_cost_per_kwh, y->cycle_cost_per_kwh);
    }
    ck_assert_int_eq(a->n_flex_loads, b->n_flex_loads);
    for (int i = 0; i < a->n_flex_loads; i++) {
        const gridems_flex_load_t *x = &a->flex_loads[i], *y = &b->flex_loads[i];
        same_text("flex id", x->id, y->id);
        same_double("energy_kwh", i, x->energy_kwh, y->energy_kwh);
        same_double("power_max_kw", i, x->power_max_kw, y->power_max_kw);
        ck_assert_int_eq(x->earliest_step, y->earliest_step);
        ck_assert_int_eq(x->deadline_step, y->deadline_step);
        same_text("flex cluster", x->cluster, y->cluster);
    }
    ck_assert_int_eq(a->n_clusters, b->n_clusters);
    for (int i = 0; i < a->n_clusters; i++) {
        same_text("cluster id", a->clusters[i].id, b->clusters[i].id);
        same_double("cluster compute_limit_kw", i, a->clusters[i].compute_limit_kw,
                    b->clusters[i].compute_limit_kw);
    }
    ck_assert_int_eq(a->n_events, b->n_events);
    for (int i = 0; i < a->n_events; i++) {
        ck_assert_int_eq(a->events[i].start_step, b->events[i].start_step);
        ck_assert_int_eq(a->events[i].end_step, b->events[i].end_step);
        same_double("event import_limit_kw", i, a->events[i].import_limit_kw,
                    b->events[i].import_limit_kw);
    }
    ck_assert(a->has_compute_limit == b->has_compute_limit);
    if (a->has_compute_limit) {
        same_double("compute_limit_kw", 0, a->compute_limit_kw, b->compute_limit_kw);
    }
    same_double("unmet_flexible_per_kwh", 0, a->unmet_flexible_per_kwh, b->unmet_flexible_per_kwh);
    same_double("unserved_load_per_kwh", 0, a->unserved_load_per_kwh, b->unserved_load_per_kwh);
    same_double("final_soc_shortfall_per_kwh", 0, a->final_soc_shortfall_per_kwh,
                b->final_soc_shortfall_per_kwh);
}

/* to_json, then parse_json, must give back an equal scenario; writing that again gives the
 * same text. */
static void assert_round_trip(const gridems_scenario_t *sc)
{
    char *text = gridems_scenario_to_json(sc);
    ck_assert_ptr_nonnull(text);
    gridems_scenario_t back;
    parse_ok(text, &back);
    assert_same_scenario(sc, &back);
    char *again = gridems_scenario_to_json(&back);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(text, again);
    free(again);
    free(text);
    gridems_scenario_free(&back);
}

/*
 * BASE with the value at `path` ("a.b[2].c") replaced by the raw JSON text `raw`, added when
 * absent (an index equal to the array size appends), or deleted when raw is NULL. An empty path
 * replaces the whole document. Raw text goes out verbatim, so "1e999" or "NaN" survive.
 * Returns text to free with cJSON_free().
 */
static char *mutate(const char *path, const char *raw)
{
    if (path[0] == '\0') {
        char *copy = cJSON_malloc(strlen(raw) + 1);
        ck_assert_ptr_nonnull(copy);
        strcpy(copy, raw);
        return copy;
    }
    cJSON *root = cJSON_Parse(BASE);
    ck_assert_ptr_nonnull(root);
    cJSON *parent = NULL, *cur = root;
    char key[64] = "";
    int index = -1;
    const char *p = path;
    while (*p != '\0') {
        parent = cur;
        if (*p == '[') {
            index = (int)strtol(p + 1, (char **)&p, 10);
            ck_assert_int_eq(*p, ']');
            p++;
            key[0] = '\0';
            cur = cJSON_GetArrayItem(parent, index);
        } else {
            p += *p == '.';
            size_t n = strcspn(p, ".[");
            ck_assert_uint_lt(n, sizeof key);
            memcpy(key, p, n);
            key[n] = '\0';
            p += n;
            index = -1;
            cur = cJSON_GetObjectItemCaseSensitive(parent, key);
        }
        ck_assert_msg(cur != NULL || *p == '\0', "bad mutation path %s", path);
    }
    if (raw == NULL) {
        if (index >= 0) {
            cJSON_DeleteItemFromArray(parent, index);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        }
    } else {
        cJSON *item = cJSON_CreateRaw(raw);
        ck_assert_ptr_nonnull(item);
        if (cur == NULL && index >= 0) {
            cJSON_AddItemToArray(parent, item);
        } else if (cur == NULL) {
            cJSON_AddItemToObject(parent, key, item);
        } else if (index >= 0) {
            cJSON_ReplaceItemInArray(parent, index, item);
        } else {
            cJSON_ReplaceItemInObjectCaseSensitive(parent, key, item);
        }
    }
    char *text = cJSON_PrintUnformatted(root);
    ck_assert_ptr_nonnull(text);
    cJSON_Delete(root);
    return text;
}

/* A small valid scenario built in memory the way the service does. */
static void build_in_memory(gridems_scenario_t *sc)
{
    ck_assert_int_eq(gridems_scenario_init(sc, 3, 60), 0);
    for (int t = 0; t < 3; t++) {
        sc->import_per_kwh[t] = 10 + t;
        sc->base_load_kw[t] = 100 * (t + 1);
    }
    gridems_battery_t b = {.id = "b1",
                           .capacity_kwh = 100,
                           .soc_kwh = 50,
                           .soc_max_kwh = 100,
                           .final_soc_min_kwh = 50,
                           .charge_max_kw = 10,
                           .discharge_max_kw = 10,
                           .charge_efficiency = 1,
                           .discharge_efficiency = 1};
    gridems_flex_load_t j = {.id = "j1", .energy_kwh = 5, .power_max_kw = 5, .deadline_step = 3};
    gridems_event_t ev = {.start_step = 0, .end_step = 1, .import_limit_kw = 50};
    ck_assert_int_eq(gridems_scenario_add_battery(sc, &b), 0);
    ck_assert_int_eq(gridems_scenario_add_flex_load(sc, &j), 0);
    ck_assert_int_eq(gridems_scenario_add_event(sc, &ev), 0);
}

/* ---- ## Defaults ---- */

START_TEST(test_defaults_top_level)
{
    gridems_scenario_t sc;
    parse_ok(MINIMAL, &sc);
    ck_assert_int_eq(sc.steps, 3);
    ck_assert(sc.step_minutes == 15);
    ck_assert_ptr_null(sc.start);
    ck_assert_ptr_null(sc.currency);
    for (int t = 0; t < 3; t++) {
        ck_assert(sc.import_per_kwh[t] == t + 1);
        ck_assert(sc.base_load_kw[t] == 10 * (t + 1));
        ck_assert(sc.export_per_kwh[t] == 0);
        ck_assert(sc.pv_kw[t] == 0);
        ck_assert(sc.carbon_kg_per_kwh[t] == 0);
    }
    ck_assert(!sc.has_carbon);
    ck_assert(sc.carbon_price_per_kg == 0);
    ck_assert(sc.import_limit_kw == 1e9);
    ck_assert(sc.import_limit_kw == GRIDEMS_DEFAULT_IMPORT_LIMIT_KW);
    ck_assert(sc.export_limit_kw == 0);
    ck_assert(sc.demand_charge_per_kw == 0);
    ck_assert(sc.peak_so_far_kw == 0);
    ck_assert_int_eq(sc.n_batteries, 0);
    ck_assert_int_eq(sc.n_flex_loads, 0);
    ck_assert_int_eq(sc.n_events, 0);
    ck_assert(!sc.has_compute_limit);
    ck_assert(sc.unmet_flexible_per_kwh == 1000);
    ck_assert(sc.unserved_load_per_kwh == 10000);
    ck_assert(sc.final_soc_shortfall_per_kwh == 1000);
    gridems_scenario_free(&sc);
}
END_TEST

/* Battery defaults, including final_soc_min = soc clamped into [soc_min, soc_max] from inside,
 * below and above the band. */
START_TEST(test_defaults_battery)
{
    static const struct {
        const char *battery;
        double soc_min, soc_max, final_soc_min;
    } cases[] = {
        {"{\"id\": \"b\", \"capacity_kwh\": 100, \"soc_kwh\": 40, \"charge_max_kw\": 10,"
         " \"discharge_max_kw\": 20}",
         0, 100, 40},
        {"{\"id\": \"b\", \"capacity_kwh\": 100, \"soc_kwh\": 5, \"soc_min_kwh\": 10,"
         " \"charge_max_kw\": 10, \"discharge_max_kw\": 20}",
         10, 100, 10},
        {"{\"id\": \"b\", \"capacity_kwh\": 100, \"soc_kwh\": 95, \"soc_max_kwh\": 80,"
         " \"charge_max_kw\": 10, \"discharge_max_kw\": 20}",
         0, 80, 80},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *doc = mutate("batteries[0]", cases[i].battery);
        gridems_scenario_t sc;
        parse_ok(doc, &sc);
        cJSON_free(doc);
        ck_assert_int_eq(sc.n_batteries, 1);
        const gridems_battery_t *b = &sc.batteries[0];
        ck_assert_str_eq(b->id, "b");
        ck_assert(b->capacity_kwh == 100);
        ck_assert(b->charge_max_kw == 10);
        ck_assert(b->discharge_max_kw == 20);
        ck_assert(b->soc_min_kwh == cases[i].soc_min);
        ck_assert(b->soc_max_kwh == cases[i].soc_max);
        ck_assert_msg(b->final_soc_min_kwh == cases[i].final_soc_min, "case %zu: final %g", i,
                      b->final_soc_min_kwh);
        ck_assert(b->charge_efficiency == 1.0);
        ck_assert(b->discharge_efficiency == 1.0);
        ck_assert(b->cycle_cost_per_kwh == 0);
        gridems_scenario_free(&sc);
    }
}
END_TEST

START_TEST(test_defaults_flex_load_and_carbon)
{
    /* A flexible load without a window runs over the whole horizon; a carbon object without
     * intensities means carbon data of all zeros. */
    char *doc =
        mutate("flexible_loads[1]", "{\"id\": \"j\", \"energy_kwh\": 1, \"power_max_kw\": 2}");
    gridems_scenario_t sc;
    parse_ok(doc, &sc);
    cJSON_free(doc);
    ck_assert_str_eq(sc.flex_loads[1].id, "j");
    ck_assert_int_eq(sc.flex_loads[1].earliest_step, 0);
    ck_assert_int_eq(sc.flex_loads[1].deadline_step, 4);
    gridems_scenario_free(&sc);

    doc = mutate("carbon", "{\"price_per_kg\": 3}");
    parse_ok(doc, &sc);
    cJSON_free(doc);
    ck_assert(sc.has_carbon);
    ck_assert(sc.carbon_price_per_kg == 3);
    for (int t = 0; t < sc.steps; t++) {
        ck_assert(sc.carbon_kg_per_kwh[t] == 0);
    }
    gridems_scenario_free(&sc);

    doc = mutate("carbon", "{\"intensity_kg_per_kwh\": [1, 2, 3, 4]}");
    parse_ok(doc, &sc);
    cJSON_free(doc);
    ck_assert(sc.has_carbon);
    ck_assert(sc.carbon_price_per_kg == 0);
    ck_assert(sc.carbon_kg_per_kwh[3] == 4);
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(test_unknown_keys_ignored)
{
    static const char *const places[] = {
        "comment",          "site.note",           "prices.tariff",
        "carbon.source",    "batteries[0].vendor", "flexible_loads[1].owner",
        "events[0].reason", "penalties.extra"};
    static const char *const values[] = {"null", "{\"nested\": [1, {\"x\": null}]}", "\"text\"",
                                         "[true, false]", "-1e999"};
    gridems_scenario_t base;
    parse_ok(BASE, &base);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char *doc = mutate(places[i], values[v]);
            gridems_scenario_t sc;
            parse_ok(doc, &sc);
            cJSON_free(doc);
            assert_same_scenario(&base, &sc);
            gridems_scenario_free(&sc);
        }
    }
    gridems_scenario_free(&base);
}
END_TEST

/* Values on the accepting side of every boundary. */
START_TEST(test_boundaries_accepted)
{
    static const struct {
        const char *path, *raw;
    } cases[] = {
        {"prices.import_per_kwh[0]", "-50"},
        {"prices.export_per_kwh[1]", "-1e15"},
        {"prices.import_per_kwh[2]", "1e15"},
        {"step_minutes", "1440"},
        {"step_minutes", "0.5"},
        {"batteries[0].charge_efficiency", "1"},
        {"batteries[0].discharge_efficiency", "1e-9"},
        {"batteries[0].soc_kwh", "0"},
        {"batteries[0].soc_min_kwh", "3800"},
        {"batteries[0].final_soc_min_kwh", "3800"},
        {"batteries[0].soc_max_kwh", "4000"},
        {"site.base_load_kw[0]", "0"},
        {"site.import_limit_kw", "0"},
        {"flexible_loads[1].earliest_step", "2"},
        {"flexible_loads[1].deadline_step", "4"},
        {"events[0].start_step", "0"},
        {"events[0].end_step", "4"},
        {"events[0].start_step", "2.0"},
        {"batteries[0].id", TEXT_256},
        {"start", TEXT_256},
        {"currency", "\"\""},
        {"compute_limit_kw", "0"},
        {"penalties.unmet_flexible_per_kwh", "1e-12"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *doc = mutate(cases[i].path, cases[i].raw);
        char err[512] = "";
        gridems_scenario_t sc;
        int rc = parse_text(doc, &sc, err, sizeof err);
        ck_assert_msg(rc == 0, "%s = %.40s refused: %s", cases[i].path, cases[i].raw, err);
        cJSON_free(doc);
        gridems_scenario_free(&sc);
    }
}
END_TEST

/* ---- ## One case per rejection rule ---- */

typedef struct {
    const char *path; /* "" replaces the whole document */
    const char *raw;  /* NULL deletes */
    int rc;
    const char *expect;      /* substring of the message */
    const char *also_expect; /* second substring, or NULL */
} rule_case_t;

#define EI GRIDEMS_EINVAL
#define EP GRIDEMS_EPARSE

static const rule_case_t RULES[] = {
    /* A missing required field: the top-level ones, and those with no default in an item. */
    {"version", NULL, EI, "scenario: missing required field version", NULL},
    {"step_minutes", NULL, EI, "scenario: missing required field step_minutes", NULL},
    {"prices.import_per_kwh", NULL, EI, "scenario: missing required field prices.import_per_kwh",
     NULL},
    {"prices", NULL, EI, "scenario: missing required field prices.import_per_kwh", NULL},
    {"site.base_load_kw", NULL, EI, "scenario: missing required field site.base_load_kw", NULL},
    {"site", NULL, EI, "scenario: missing required field site.base_load_kw", NULL},
    {"batteries[0].id", NULL, EI, "missing required field batteries[0].id", NULL},
    {"batteries[0].capacity_kwh", NULL, EI, "missing required field batteries[0].capacity_kwh",
     NULL},
    {"batteries[0].soc_kwh", NULL, EI, "missing required field batteries[0].soc_kwh", NULL},
    {"batteries[0].charge_max_kw", NULL, EI, "missing required field batteries[0].charge_max_kw",
     NULL},
    {"batteries[0].discharge_max_kw", NULL, EI,
     "missing required field batteries[0].discharge_max_kw", NULL},
    {"flexible_loads[1].id", NULL, EI, "missing required field flexible_loads[1].id", NULL},
    {"flexible_loads[1].energy_kwh", NULL, EI,
     "missing required field flexible_loads[1].energy_kwh", NULL},
    {"flexible_loads[1].power_max_kw", NULL, EI,
     "missing required field flexible_loads[1].power_max_kw", NULL},
    {"events[0].start_step", NULL, EI, "missing required field events[0].start_step", NULL},
    {"events[0].end_step", NULL, EI, "missing required field events[0].end_step", NULL},
    {"events[0].import_limit_kw", NULL, EI, "missing required field events[0].import_limit_kw",
     NULL},
    {"clusters[0].id", NULL, EI, "missing required field clusters[0].id", NULL},
    {"clusters[0].compute_limit_kw", NULL, EI,
     "missing required field clusters[0].compute_limit_kw", NULL},
    /* Clusters (gridems's extension): types, limits, unique ids, references. */
    {"clusters", "{}", EI, "clusters: must be an array, got object", NULL},
    {"clusters[0]", "7", EI, "clusters[0]: must be an object, got number", NULL},
    {"clusters[0].id", "\"\"", EI, "clusters[0].id: must be a non-empty string", NULL},
    {"clusters[0].compute_limit_kw", "-1", EI, "clusters[0].compute_limit_kw: must be >= 0, got -1",
     NULL},
    {"clusters[0].compute_limit_kw", "\"900\"", EI,
     "clusters[0].compute_limit_kw: must be a number, got string", NULL},
    {"clusters[1]", "{\"id\": \"gpu-a\", \"compute_limit_kw\": 1}", EI,
     "clusters[1].id: duplicate id \"gpu-a\" (already used by clusters[0].id)", NULL},
    {"flexible_loads[1].cluster", "\"gpu-z\"", EI,
     "flexible_loads[1].cluster: no cluster has the id \"gpu-z\"", NULL},
    {"flexible_loads[1].cluster", "\"\"", EI, "flexible_loads[1].cluster: must be a non-empty",
     NULL},
    {"flexible_loads[1].cluster", "5", EI,
     "flexible_loads[1].cluster: must be a string, got number", NULL},
    {"clusters", NULL, EI, "flexible_loads[0].cluster: no cluster has the id \"gpu-a\"", NULL},
    /* version must be 1. */
    {"version", "2", EI, "version: must be 1, got 2", NULL},
    {"version", "1.5", EI, "version: must be 1, got 1.5", NULL},
    {"version", "0", EI, "version: must be 1, got 0", NULL},
    /* A wrong type. */
    {"", "[1, 2]", EI, "scenario: must be a JSON object, got array", NULL},
    {"", "42", EI, "scenario: must be a JSON object, got number", NULL},
    {"version", "\"1\"", EI, "version: must be a number, got string", NULL},
    {"step_minutes", "\"30\"", EI, "step_minutes: must be a number, got string", NULL},
    {"site.base_load_kw", "{}", EI, "site.base_load_kw: must be an array, got object", NULL},
    {"site.base_load_kw[1]", "\"x\"", EI, "site.base_load_kw[1]: must be a number, got string",
     NULL},
    {"prices.export_per_kwh[2]", "null", EI, "prices.export_per_kwh[2]: must be a number, got null",
     NULL},
    {"carbon.intensity_kg_per_kwh[0]", "[0.1]", EI,
     "carbon.intensity_kg_per_kwh[0]: must be a number, got array", NULL},
    {"prices", "[]", EI, "prices: must be an object, got array", NULL},
    {"site", "5", EI, "site: must be an object, got number", NULL},
    {"carbon", "true", EI, "carbon: must be an object, got boolean", NULL},
    {"penalties", "[1]", EI, "penalties: must be an object, got array", NULL},
    {"batteries", "{}", EI, "batteries: must be an array, got object", NULL},
    {"batteries[0]", "3", EI, "batteries[0]: must be an object, got number", NULL},
    {"batteries[0].id", "5", EI, "batteries[0].id: must be a string, got number", NULL},
    {"batteries[0].charge_efficiency", "\"high\"", EI,
     "batteries[0].charge_efficiency: must be a number, got string", NULL},
    {"flexible_loads", "\"none\"", EI, "flexible_loads: must be an array, got string", NULL},
    {"flexible_loads[0].earliest_step", "\"0\"", EI,
     "flexible_loads[0].earliest_step: must be a number, got string", NULL},
    {"events", "{\"start_step\": 1}", EI, "events: must be an array, got object", NULL},
    {"events[0]", "[]", EI, "events[0]: must be an object, got array", NULL},
    {"start", "5", EI, "start: must be a string, got number", NULL},
    {"currency", "true", EI, "currency: must be a string, got boolean", NULL},
    {"compute_limit_kw", "null", EI, "compute_limit_kw: must be a number, got null", NULL},
    {"site.import_limit_kw", "[9000]", EI, "site.import_limit_kw: must be a number, got array",
     NULL},
    {"penalties.unserved_load_per_kwh", "\"1\"", EI,
     "penalties.unserved_load_per_kwh: must be a number, got string", NULL},
    {"carbon.price_per_kg", "{}", EI, "carbon.price_per_kg: must be a number, got object", NULL},
    /* Integer fields given fractions or values no int holds. */
    {"flexible_loads[0].earliest_step", "1.5", EI,
     "flexible_loads[0].earliest_step: must be a whole number, got 1.5", NULL},
    {"flexible_loads[0].deadline_step", "3.25", EI,
     "flexible_loads[0].deadline_step: must be a whole number, got 3.25", NULL},
    {"events[0].start_step", "0.5", EI, "events[0].start_step: must be a whole number, got 0.5",
     NULL},
    {"events[0].end_step", "2.999", EI, "events[0].end_step: must be a whole number, got 2.999",
     NULL},
    {"flexible_loads[0].deadline_step", "1e12", EI,
     "flexible_loads[0].deadline_step: must be a whole number in [", "got 1000000000000"},
    {"events[0].start_step", "1e999", EI, "events[0].start_step: must be a finite number", NULL},
    /* An array whose length is not T. */
    {"prices.import_per_kwh", "[1, 2, 3]", EI,
     "prices.import_per_kwh: must have 4 values (T = length of site.base_load_kw), got 3", NULL},
    {"prices.export_per_kwh", "[1, 2, 3, 4, 5]", EI,
     "prices.export_per_kwh: must have 4 values (T = length of site.base_load_kw), got 5", NULL},
    {"site.pv_kw", "[]", EI, "site.pv_kw: must have 4 values", "got 0"},
    {"carbon.intensity_kg_per_kwh", "[0.1]", EI, "carbon.intensity_kg_per_kwh: must have 4 values",
     "got 1"},
    /* T = 0 (T > 100000 is in the robustness cases). */
    {"site.base_load_kw", "[]", EI, "site.base_load_kw: must have 1 to 100000 values, got 0", NULL},
    /* A non-finite number: cJSON reads an overflowing literal as an infinity. */
    {"site.base_load_kw[3]", "1e999", EI, "site.base_load_kw[3]: must be a finite number", NULL},
    {"prices.import_per_kwh[0]", "-1e999", EI, "prices.import_per_kwh[0]: must be a finite number",
     NULL},
    {"step_minutes", "1e999", EI, "step_minutes: must be a finite number", NULL},
    {"batteries[0].capacity_kwh", "1e400", EI, "batteries[0].capacity_kwh: must be a finite number",
     NULL},
    {"penalties.unmet_flexible_per_kwh", "1e999", EI,
     "penalties.unmet_flexible_per_kwh: must be a finite number", NULL},
    {"events[0].import_limit_kw", "1e999", EI, "events[0].import_limit_kw: must be a finite number",
     NULL},
    {"carbon.price_per_kg", "1e999", EI, "carbon.price_per_kg: must be a finite number", NULL},
    {"version", "1e999", EI, "version: must be 1, got inf", NULL},
    /* NaN and infinity are not JSON at all. */
    {"site.base_load_kw[0]", "NaN", EP, "scenario: JSON syntax error near byte", NULL},
    {"site.base_load_kw[0]", "Infinity", EP, "scenario: JSON syntax error near byte", NULL},
    {"site.base_load_kw[0]", "-inf", EP, "scenario: JSON syntax error near byte", NULL},
    /* Our magnitude bound. */
    {"prices.import_per_kwh[1]", "2e15", EI,
     "prices.import_per_kwh[1]: must be at most 1e+15 in magnitude, got 2e+15", NULL},
    {"prices.export_per_kwh[0]", "-1.5e15", EI,
     "prices.export_per_kwh[0]: must be at most 1e+15 in magnitude, got -1.5e+15", NULL},
    {"site.import_limit_kw", "1e16", EI, "site.import_limit_kw: must be at most 1e+15", NULL},
    {"batteries[0].charge_max_kw", "1e300", EI, "batteries[0].charge_max_kw: must be at most 1e+15",
     NULL},
    {"penalties.unserved_load_per_kwh", "1e20", EI,
     "penalties.unserved_load_per_kwh: must be at most 1e+15", NULL},
    {"flexible_loads[0].energy_kwh", "1.0000001e15", EI,
     "flexible_loads[0].energy_kwh: must be at most 1e+15", NULL},
    /* A negative power, energy, limit, capacity or cost. */
    {"site.base_load_kw[2]", "-1", EI, "site.base_load_kw[2]: must be >= 0, got -1", NULL},
    {"site.pv_kw[1]", "-0.5", EI, "site.pv_kw[1]: must be >= 0, got -0.5", NULL},
    {"site.import_limit_kw", "-1", EI, "site.import_limit_kw: must be >= 0, got -1", NULL},
    {"site.export_limit_kw", "-1", EI, "site.export_limit_kw: must be >= 0, got -1", NULL},
    {"site.demand_charge_per_kw", "-2", EI, "site.demand_charge_per_kw: must be >= 0, got -2",
     NULL},
    {"site.peak_so_far_kw", "-3", EI, "site.peak_so_far_kw: must be >= 0, got -3", NULL},
    {"batteries[0].capacity_kwh", "-4000", EI, "batteries[0].capacity_kwh: must be >= 0", NULL},
    {"batteries[0].soc_min_kwh", "-1", EI, "batteries[0].soc_min_kwh: must be >= 0, got -1", NULL},
    {"batteries[0].soc_max_kwh", "-1", EI, "batteries[0].soc_max_kwh: must be >= 0, got -1", NULL},
    {"batteries[0].final_soc_min_kwh", "-1", EI,
     "batteries[0].final_soc_min_kwh: must be >= 0, got -1", NULL},
    {"batteries[0].charge_max_kw", "-1", EI, "batteries[0].charge_max_kw: must be >= 0, got -1",
     NULL},
    {"batteries[0].discharge_max_kw", "-1", EI,
     "batteries[0].discharge_max_kw: must be >= 0, got -1", NULL},
    {"batteries[0].cycle_cost_per_kwh", "-0.01", EI,
     "batteries[0].cycle_cost_per_kwh: must be >= 0, got -0.01", NULL},
    {"flexible_loads[0].energy_kwh", "-1", EI, "flexible_loads[0].energy_kwh: must be >= 0, got -1",
     NULL},
    {"flexible_loads[0].power_max_kw", "-1", EI,
     "flexible_loads[0].power_max_kw: must be >= 0, got -1", NULL},
    {"compute_limit_kw", "-1", EI, "compute_limit_kw: must be >= 0, got -1", NULL},
    {"events[0].import_limit_kw", "-1", EI, "events[0].import_limit_kw: must be >= 0, got -1",
     NULL},
    {"carbon.intensity_kg_per_kwh[1]", "-0.1", EI,
     "carbon.intensity_kg_per_kwh[1]: must be >= 0, got -0.1", NULL},
    {"carbon.price_per_kg", "-1", EI, "carbon.price_per_kg: must be >= 0, got -1", NULL},
    /* step_minutes not in (0, 1440]. */
    {"step_minutes", "0", EI, "step_minutes: must be in (0, 1440], got 0", NULL},
    {"step_minutes", "-15", EI, "step_minutes: must be in (0, 1440], got -15", NULL},
    {"step_minutes", "1441", EI, "step_minutes: must be in (0, 1440], got 1441", NULL},
    {"step_minutes", "1440.0001", EI, "step_minutes: must be in (0, 1440], got 1440.0001", NULL},
    /* An efficiency outside (0, 1]. */
    {"batteries[0].charge_efficiency", "1.7", EI,
     "batteries[0].charge_efficiency: must be in (0, 1], got 1.7", NULL},
    {"batteries[0].charge_efficiency", "0", EI,
     "batteries[0].charge_efficiency: must be in (0, 1], got 0", NULL},
    {"batteries[0].discharge_efficiency", "-0.5", EI,
     "batteries[0].discharge_efficiency: must be in (0, 1], got -0.5", NULL},
    {"batteries[0].discharge_efficiency", "1.0000001", EI,
     "batteries[0].discharge_efficiency: must be in (0, 1], got 1.0000001", NULL},
    /* soc_kwh outside [0, capacity_kwh]. */
    {"batteries[0].soc_kwh", "5000", EI, "batteries[0].soc_kwh: must be in [0, capacity_kwh]",
     "got 5000"},
    {"batteries[0].soc_kwh", "-1", EI, "batteries[0].soc_kwh: must be in [0, capacity_kwh]",
     "got -1"},
    /* soc_min_kwh > soc_max_kwh, soc_max_kwh > capacity_kwh, final_soc_min_kwh > soc_max_kwh. */
    {"batteries[0].soc_min_kwh", "3900", EI,
     "batteries[0].soc_min_kwh: must be <= soc_max_kwh (3800), got 3900", NULL},
    {"batteries[0].soc_max_kwh", "4500", EI,
     "batteries[0].soc_max_kwh: must be <= capacity_kwh (4000), got 4500", NULL},
    {"batteries[0].final_soc_min_kwh", "3800.5", EI,
     "batteries[0].final_soc_min_kwh: must be <= soc_max_kwh (3800), got 3800.5", NULL},
    /* A penalty that is not > 0. */
    {"penalties.unmet_flexible_per_kwh", "0", EI,
     "penalties.unmet_flexible_per_kwh: must be > 0, got 0", NULL},
    {"penalties.unmet_flexible_per_kwh", "-1", EI,
     "penalties.unmet_flexible_per_kwh: must be > 0, got -1", NULL},
    {"penalties.unserved_load_per_kwh", "0", EI,
     "penalties.unserved_load_per_kwh: must be > 0, got 0", NULL},
    {"penalties.unserved_load_per_kwh", "-5", EI,
     "penalties.unserved_load_per_kwh: must be > 0, got -5", NULL},
    {"penalties.final_soc_shortfall_per_kwh", "0", EI,
     "penalties.final_soc_shortfall_per_kwh: must be > 0, got 0", NULL},
    {"penalties.final_soc_shortfall_per_kwh", "-0.001", EI,
     "penalties.final_soc_shortfall_per_kwh: must be > 0, got -0.001", NULL},
    /* Duplicate ids, in the one id space of batteries and flexible loads. */
    {"batteries[1]",
     "{\"id\": \"bess-1\", \"capacity_kwh\": 1, \"soc_kwh\": 0, \"charge_max_kw\": 1,"
     " \"discharge_max_kw\": 1}",
     EI, "batteries[1].id: duplicate id \"bess-1\"", "already used by batteries[0].id"},
    {"flexible_loads[1].id", "\"bess-1\"", EI, "flexible_loads[1].id: duplicate id \"bess-1\"",
     "already used by batteries[0].id"},
    {"flexible_loads[1].id", "\"train-1\"", EI, "flexible_loads[1].id: duplicate id \"train-1\"",
     "already used by flexible_loads[0].id"},
    /* Ids are non-empty strings of at most GRIDEMS_SCENARIO_MAX_TEXT bytes; so are the labels. */
    {"batteries[0].id", "\"\"", EI,
     "batteries[0].id: must be a non-empty string of at most 256 bytes", NULL},
    {"flexible_loads[0].id", TEXT_257, EI,
     "flexible_loads[0].id: must be a non-empty string of at most 256 bytes", NULL},
    {"start", TEXT_257, EI, "start: must be at most 256 bytes long", NULL},
    {"currency", TEXT_257, EI, "currency: must be at most 256 bytes long", NULL},
    /* earliest_step >= deadline_step, deadline_step > T, earliest_step < 0. */
    {"flexible_loads[1].earliest_step", "3", EI,
     "flexible_loads[1].earliest_step: must be < deadline_step (3), got 3", NULL},
    {"flexible_loads[1].deadline_step", "0", EI,
     "flexible_loads[1].earliest_step: must be < deadline_step (0), got 1", NULL},
    {"flexible_loads[0].deadline_step", "5", EI,
     "flexible_loads[0].deadline_step: must be <= T (4), got 5", NULL},
    {"flexible_loads[0].earliest_step", "-1", EI,
     "flexible_loads[0].earliest_step: must be >= 0, got -1", NULL},
    /* An event with start_step >= end_step, end_step > T, start_step < 0. */
    {"events[0].start_step", "3", EI, "events[0].start_step: must be < end_step (3), got 3", NULL},
    {"events[0].end_step", "1", EI, "events[0].start_step: must be < end_step (1), got 1", NULL},
    {"events[0].end_step", "5", EI, "events[0].end_step: must be <= T (4), got 5", NULL},
    {"events[0].start_step", "-2", EI, "events[0].start_step: must be >= 0, got -2", NULL},
    /* A key given twice. */
    {"site", "{\"base_load_kw\": [1, 2, 3, 4], \"base_load_kw\": [1, 2, 3, 4]}", EI,
     "site.base_load_kw: duplicate key", NULL},
    {"batteries[0]",
     "{\"id\": \"x\", \"capacity_kwh\": 1, \"soc_kwh\": 0, \"charge_max_kw\": 1,"
     " \"discharge_max_kw\": 1, \"soc_kwh\": 1}",
     EI, "batteries[0].soc_kwh: duplicate key", NULL},
    {"", "{\"version\": 1, \"version\": 1}", EI, "version: duplicate key", NULL},
    /* Not JSON. */
    {"", "", EP, "scenario: empty input", NULL},
    {"", "   ", EP, "scenario: JSON syntax error near byte", NULL},
    {"", "{\"version\": 1,,}", EP, "scenario: JSON syntax error near byte 15", NULL},
    {"", "{} x", EP, "scenario: unexpected data after the JSON document at byte 3", NULL},
    {"", "{}{}", EP, "scenario: unexpected data after the JSON document at byte 2", NULL},
    {"", "{\"a\": \"unterminated}", EP, "scenario: JSON syntax error near byte", NULL},
    {"", "{\"a\": \"tab\tinside\"}", EP, "scenario: JSON syntax error at byte 10",
     "control character 0x09"},
    {"batteries[0].id", "\"b\\u0000x\"", EI, "\\u0000", "not supported"},
};

START_TEST(test_reject_rule)
{
    const rule_case_t *c = &RULES[_i];
    char *doc = mutate(c->path, c->raw);
    char err[512] = "";
    gridems_scenario_t sc;
    memset(&sc, 0xA5, sizeof sc); /* garbage in: parse_json must not read it */
    int rc = gridems_scenario_parse_json(doc, strlen(doc), &sc, err, sizeof err);
    ck_assert_msg(rc == c->rc, "case %d (%s = %.40s): rc %s, message '%s'", _i, c->path,
                  c->raw != NULL ? c->raw : "<deleted>", gridems_err_name(rc), err);
    ck_assert_msg(strstr(err, c->expect) != NULL, "case %d (%s): message '%s' lacks '%s'", _i,
                  c->path, err, c->expect);
    ck_assert_msg(c->also_expect == NULL || strstr(err, c->also_expect) != NULL,
                  "case %d (%s): message '%s' lacks '%s'", _i, c->path, err, c->also_expect);
    ck_assert_ptr_null(strchr(err, '\n'));
    assert_freed(&sc);
    cJSON_free(doc);
}
END_TEST

/* ---- ## Validation of scenarios built in memory ---- */

START_TEST(test_validate_in_memory)
{
    gridems_scenario_t sc;
    char err[256];
    build_in_memory(&sc);
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(gridems_scenario_validate(&sc, NULL, 0), 0);

    /* NaN can only come from memory (JSON has none). */
    sc.base_load_kw[1] = NAN;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "site.base_load_kw[1]: must be a finite number");
    sc.base_load_kw[1] = 1;
    sc.batteries[0].charge_efficiency = NAN;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "batteries[0].charge_efficiency: must be a finite number");
    sc.batteries[0].charge_efficiency = 1.7;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "batteries[0].charge_efficiency: must be in (0, 1], got 1.7");
    sc.batteries[0].charge_efficiency = 1;
    sc.step_minutes = NAN;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "step_minutes: must be a finite number");
    sc.step_minutes = 60;

    /* Carbon intensities without has_carbon would silently cost nothing. */
    sc.carbon_kg_per_kwh[2] = 0.5;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "carbon.intensity_kg_per_kwh[2]: must be 0 when has_carbon"));
    sc.has_carbon = true;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), 0);

    /* A missing series. */
    double *pv = sc.pv_kw;
    sc.pv_kw = NULL;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err,
                     "site.pv_kw: must have 3 values (T = length of site.base_load_kw), got none");
    sc.pv_kw = pv;

    /* Counts that disagree with the arrays. */
    sc.n_events = 2;
    gridems_event_t *events = sc.events;
    sc.events = NULL;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "events: 2 entries but no array");
    sc.n_events = -1;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "events: count must be >= 0, got -1");
    sc.events = events;
    sc.n_events = 1;

    /* A NULL id. */
    char *id = sc.flex_loads[0].id;
    sc.flex_loads[0].id = NULL;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "flexible_loads[0].id: must be a non-empty string of at most 256 bytes");
    sc.flex_loads[0].id = id;

    /* More clusters than a site has devices (the bound keeps each load's lookup short). */
    for (int c = 0; c <= GRIDEMS_SCENARIO_MAX_CLUSTERS; c++) {
        char name[16];
        snprintf(name, sizeof name, "gpu-%d", c);
        gridems_cluster_t cl = {name, 100};
        ck_assert_int_eq(gridems_scenario_add_cluster(&sc, &cl), 0);
    }
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "clusters: at most 64 clusters, got 65");
    sc.n_clusters = GRIDEMS_SCENARIO_MAX_CLUSTERS;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), 0);
    sc.n_clusters = GRIDEMS_SCENARIO_MAX_CLUSTERS + 1; /* freed with the scenario */

    /* A step count out of range. */
    sc.steps = 0;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "site.base_load_kw: must have 1 to 100000 values, got 0");
    sc.steps = 3;

    sc.n_clusters = 0;
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), 0);
    sc.n_clusters = GRIDEMS_SCENARIO_MAX_CLUSTERS + 1;
    ck_assert_int_eq(gridems_scenario_validate(NULL, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "scenario:"));
    gridems_scenario_free(&sc);
}
END_TEST

/* Many ids (past the pairwise scan) go through the sorting check; the earliest repeat in
 * document order is the one reported. */
START_TEST(test_validate_duplicate_ids_many)
{
    gridems_scenario_t sc;
    ck_assert_int_eq(gridems_scenario_init(&sc, 2, 30), 0);
    char id[32];
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "dev-%d", i);
        gridems_battery_t b = {.id = id,
                               .capacity_kwh = 1,
                               .soc_max_kwh = 1,
                               .charge_efficiency = 1,
                               .discharge_efficiency = 1};
        ck_assert_int_eq(gridems_scenario_add_battery(&sc, &b), 0);
        gridems_flex_load_t j = {.id = id, .deadline_step = 2};
        snprintf(id, sizeof id, "load-%d", i);
        ck_assert_int_eq(gridems_scenario_add_flex_load(&sc, &j), 0);
    }
    char err[256];
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), 0);
    ck_assert_int_eq(gridems_scenario_set_text(&sc.flex_loads[400].id, "dev-7"), 0);
    ck_assert_int_eq(gridems_scenario_set_text(&sc.flex_loads[300].id, "load-9"), 0);
    ck_assert_int_eq(gridems_scenario_set_text(&sc.batteries[450].id, "dev-449"), 0);
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "batteries[450].id: duplicate id \"dev-449\" (already used by "
                          "batteries[449].id)");
    ck_assert_int_eq(gridems_scenario_set_text(&sc.batteries[450].id, "dev-450"), 0);
    ck_assert_int_eq(gridems_scenario_validate(&sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "flexible_loads[300].id: duplicate id \"load-9\" (already used by "
                          "flexible_loads[9].id)");
    gridems_scenario_free(&sc);
}
END_TEST

START_TEST(test_error_buffer)
{
    char *doc = mutate("batteries[0].charge_efficiency", "1.7");
    gridems_scenario_t sc;
    char small[12];
    memset(small, 'z', sizeof small);
    ck_assert_int_eq(gridems_scenario_parse_json(doc, strlen(doc), &sc, small, 8), GRIDEMS_EINVAL);
    ck_assert_str_eq(small, "batteri");
    ck_assert_int_eq(small[8], 'z');
    ck_assert_int_eq(gridems_scenario_parse_json(doc, strlen(doc), &sc, NULL, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_scenario_parse_json(doc, strlen(doc), &sc, small, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(small[0], 'b');
    ck_assert_int_eq(gridems_scenario_parse_json("x", 1, &sc, small, 1), GRIDEMS_EPARSE);
    ck_assert_int_eq(small[0], '\0');
    cJSON_free(doc);

    char err[128];
    ck_assert_int_eq(gridems_scenario_parse_json(BASE, strlen(BASE), NULL, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_scenario_parse_json(NULL, 0, &sc, err, sizeof err), GRIDEMS_EPARSE);
    assert_freed(&sc);
}
END_TEST

/* ---- ## Round trips, copies and the in-memory API ---- */

START_TEST(test_round_trip_full)
{
    gridems_scenario_t sc;
    parse_ok(BASE, &sc);
    ck_assert_str_eq(sc.start, "2026-05-11T00:00:00+09:00");
    ck_assert_str_eq(sc.currency, "JPY");
    ck_assert(sc.import_per_kwh[3] == 31.7);
    ck_assert(sc.export_per_kwh[2] == -1);
    ck_assert(sc.has_carbon && sc.carbon_price_per_kg == 2.5 && sc.carbon_kg_per_kwh[0] == 0.45);
    ck_assert(sc.base_load_kw[1] == 4100.5 && sc.pv_kw[2] == 300);
    ck_assert(sc.import_limit_kw == 9000 && sc.export_limit_kw == 500);
    ck_assert(sc.demand_charge_per_kw == 1.5 && sc.peak_so_far_kw == 4500);
    ck_assert_int_eq(sc.n_batteries, 1);
    ck_assert(sc.batteries[0].final_soc_min_kwh == 2100);
    ck_assert(sc.batteries[0].discharge_efficiency == 0.96);
    ck_assert(sc.batteries[0].cycle_cost_per_kwh == 0.02);
    ck_assert_int_eq(sc.n_flex_loads, 2);
    ck_assert_int_eq(sc.flex_loads[1].earliest_step, 1);
    ck_assert_int_eq(sc.flex_loads[1].deadline_step, 3);
    ck_assert(sc.has_compute_limit && sc.compute_limit_kw == 5000);
    ck_assert_int_eq(sc.n_events, 1);
    ck_assert_int_eq(sc.events[0].end_step, 3);
    ck_assert(sc.unmet_flexible_per_kwh == 1001 && sc.unserved_load_per_kwh == 10001 &&
              sc.final_soc_shortfall_per_kwh == 1002);
    assert_round_trip(&sc);
    gridems_scenario_free(&sc);

    parse_ok(MINIMAL, &sc);
    assert_round_trip(&sc);
    gridems_scenario_free(&sc);
}
END_TEST

/* Doubles whose shortest decimal form needs all 17 digits, tiny and huge ones, must come back
 * bit for bit. */
START_TEST(test_round_trip_awkward_doubles)
{
    static const double awkward[] = {0.1,
                                     1.0 / 3.0,
                                     2.0 / 3.0,
                                     123456789.12345679,
                                     4.9406564584124654e-324,
                                     2.2250738585072014e-308,
                                     1e-300,
                                     0.30000000000000004,
                                     999999999999999.9,
                                     1e15,
                                     7.0000000000000009,
                                     0.0 /* at an odd index: -0.0 in the prices */};
    const int n = (int)(sizeof awkward / sizeof awkward[0]);
    gridems_scenario_t sc;
    ck_assert_int_eq(gridems_scenario_init(&sc, n, 7.5), 0);
    for (int t = 0; t < n; t++) {
        sc.import_per_kwh[t] = t % 2 ? -awkward[t] : awkward[t];
        sc.export_per_kwh[t] = awkward[n - 1 - t];
        sc.base_load_kw[t] = awkward[t];
        sc.pv_kw[t] = nextafter(awkward[t], 0);
        sc.carbon_kg_per_kwh[t] = awkward[t] / 7;
    }
    sc.has_carbon = true;
    sc.carbon_price_per_kg = 1.0 / 7.0;
    sc.import_limit_kw = nextafter(1e9, 0);
    sc.has_compute_limit = true;
    sc.compute_limit_kw = 0.1 + 0.2;
    sc.unmet_flexible_per_kwh = 1e-7;
    ck_assert_int_eq(gridems_scenario_set_text(&sc.start, "2026-05-11T00:00:00Z"), 0);
    gridems_battery_t b = {.id = "\"quoted\" \\ \xc3\xa9t\xc3\xa9",
                           .capacity_kwh = 1.0 / 3.0,
                           .soc_kwh = 0.1,
                           .soc_min_kwh = 0.1 / 3,
                           .soc_max_kwh = 0.3,
                           .final_soc_min_kwh = 0.2,
                           .charge_max_kw = 1e-300,
                           .discharge_max_kw = 5e-324,
                           .charge_efficiency = 0.9 + 0.05,
                           .discharge_efficiency = nextafter(1.0, 0),
                           .cycle_cost_per_kwh = 1.0 / 11};
    ck_assert_int_eq(gridems_scenario_add_battery(&sc, &b), 0);
    char err[256];
    ck_assert_msg(gridems_scenario_validate(&sc, err, sizeof err) == 0, "%s", err);
    assert_round_trip(&sc);
    gridems_scenario_free(&sc);
}
END_TEST

/* The writer spells out every default, so the file says what was solved. */
START_TEST(test_to_json_writes_every_field)
{
    gridems_scenario_t sc;
    build_in_memory(&sc);
    char *text = gridems_scenario_to_json(&sc);
    ck_assert_ptr_nonnull(text);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    static const char *const paths[][2] = {
        {"version", NULL},
        {"step_minutes", NULL},
        {"prices", "import_per_kwh"},
        {"prices", "export_per_kwh"},
        {"site", "base_load_kw"},
        {"site", "pv_kw"},
        {"site", "import_limit_kw"},
        {"site", "export_limit_kw"},
        {"site", "demand_charge_per_kw"},
        {"site", "peak_so_far_kw"},
        {"penalties", "unmet_flexible_per_kwh"},
        {"penalties", "unserved_load_per_kwh"},
        {"penalties", "final_soc_shortfall_per_kwh"},
        {"batteries", NULL},
        {"flexible_loads", NULL},
        {"events", NULL},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, paths[i][0]);
        if (item != NULL && paths[i][1] != NULL) {
            item = cJSON_GetObjectItemCaseSensitive(item, paths[i][1]);
        }
        ck_assert_msg(item != NULL, "%s.%s not written", paths[i][0],
                      paths[i][1] != NULL ? paths[i][1] : "");
    }
    const cJSON *bat = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "batteries"), 0);
    static const char *const bkeys[] = {"id",
                                        "capacity_kwh",
                                        "soc_kwh",
                                        "soc_min_kwh",
                                        "soc_max_kwh",
                                        "final_soc_min_kwh",
                                        "charge_max_kw",
                                        "discharge_max_kw",
                                        "charge_efficiency",
                                        "discharge_efficiency",
                                        "cycle_cost_per_kwh"};
    for (size_t i = 0; i < sizeof bkeys / sizeof bkeys[0]; i++) {
        ck_assert_msg(cJSON_GetObjectItemCaseSensitive(bat, bkeys[i]) != NULL, "%s", bkeys[i]);
    }
    const cJSON *load =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "flexible_loads"), 0);
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(load, "earliest_step"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(load, "deadline_step"));
    /* Absent optional parts stay absent: that is their default. */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "carbon"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "compute_limit_kw"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "start"));
    cJSON_Delete(root);
    free(text);
    assert_round_trip(&sc);
    gridems_scenario_free(&sc);

    /* Not even a zeroed or NULL scenario crashes the writer. */
    gridems_scenario_t empty;
    memset(&empty, 0, sizeof empty);
    text = gridems_scenario_to_json(&empty);
    ck_assert_ptr_nonnull(text);
    free(text);
    ck_assert_ptr_null(gridems_scenario_to_json(NULL));
}
END_TEST

START_TEST(test_copy_is_deep)
{
    gridems_scenario_t src, dst;
    parse_ok(BASE, &src);
    memset(&dst, 0x5A, sizeof dst); /* need not be initialised */
    ck_assert_int_eq(gridems_scenario_copy(&dst, &src), 0);
    assert_same_scenario(&src, &dst);
    ck_assert_ptr_ne(dst.import_per_kwh, src.import_per_kwh);
    ck_assert_ptr_ne(dst.export_per_kwh, src.export_per_kwh);
    ck_assert_ptr_ne(dst.carbon_kg_per_kwh, src.carbon_kg_per_kwh);
    ck_assert_ptr_ne(dst.base_load_kw, src.base_load_kw);
    ck_assert_ptr_ne(dst.pv_kw, src.pv_kw);
    ck_assert_ptr_ne(dst.batteries, src.batteries);
    ck_assert_ptr_ne(dst.batteries[0].id, src.batteries[0].id);
    ck_assert_ptr_ne(dst.flex_loads, src.flex_loads);
    ck_assert_ptr_ne(dst.flex_loads[1].id, src.flex_loads[1].id);
    ck_assert_ptr_ne(dst.flex_loads[0].cluster, src.flex_loads[0].cluster);
    ck_assert_ptr_ne(dst.clusters, src.clusters);
    ck_assert_ptr_ne(dst.clusters[0].id, src.clusters[0].id);
    ck_assert_ptr_ne(dst.events, src.events);
    ck_assert_ptr_ne(dst.start, src.start);
    ck_assert_ptr_ne(dst.currency, src.currency);

    /* Changing or freeing the source leaves the copy alone. */
    src.import_per_kwh[0] = -99;
    src.batteries[0].id[0] = 'X';
    src.events[0].end_step = 2;
    src.clusters[0].id[0] = 'X';
    gridems_scenario_free(&src);
    ck_assert_str_eq(dst.clusters[0].id, "gpu-a");
    ck_assert_str_eq(dst.flex_loads[0].cluster, "gpu-a");
    ck_assert(dst.import_per_kwh[0] == 20.5);
    ck_assert_str_eq(dst.batteries[0].id, "bess-1");
    ck_assert_int_eq(dst.events[0].end_step, 3);
    ck_assert_int_eq(gridems_scenario_validate(&dst, NULL, 0), 0);

    /* The copy can grow on its own. */
    gridems_event_t ev = {.start_step = 0, .end_step = 4, .import_limit_kw = 1};
    ck_assert_int_eq(gridems_scenario_add_event(&dst, &ev), 0);
    ck_assert_int_eq(dst.n_events, 2);
    gridems_scenario_free(&dst);

    /* Copying an empty scenario gives an empty one. */
    memset(&src, 0, sizeof src);
    ck_assert_int_eq(gridems_scenario_copy(&dst, &src), 0);
    assert_freed(&dst);
    gridems_scenario_free(&dst);
}
END_TEST

START_TEST(test_init_add_set_free)
{
    gridems_scenario_t sc;
    memset(&sc, 0x77, sizeof sc);
    ck_assert_int_eq(gridems_scenario_init(&sc, 0, 30), GRIDEMS_EINVAL);
    assert_freed(&sc);
    ck_assert_int_eq(gridems_scenario_init(&sc, GRIDEMS_SCENARIO_MAX_STEPS + 1, 30),
                     GRIDEMS_EINVAL);
    assert_freed(&sc);
    ck_assert_int_eq(gridems_scenario_init(&sc, -5, 30), GRIDEMS_EINVAL);

    ck_assert_int_eq(gridems_scenario_init(&sc, 48, 30), 0);
    ck_assert_int_eq(sc.steps, 48);
    ck_assert(sc.step_minutes == 30);
    ck_assert(gridems_scenario_dt_hours(&sc) == 0.5);
    for (int t = 0; t < 48; t++) {
        ck_assert(sc.import_per_kwh[t] == 0 && sc.export_per_kwh[t] == 0 &&
                  sc.carbon_kg_per_kwh[t] == 0 && sc.base_load_kw[t] == 0 && sc.pv_kw[t] == 0);
    }
    ck_assert(sc.import_limit_kw == 1e9 && sc.export_limit_kw == 0);
    ck_assert(sc.demand_charge_per_kw == 0 && sc.peak_so_far_kw == 0);
    ck_assert(!sc.has_carbon && !sc.has_compute_limit);
    ck_assert(sc.unmet_flexible_per_kwh == 1000 && sc.unserved_load_per_kwh == 10000 &&
              sc.final_soc_shortfall_per_kwh == 1000);
    ck_assert_int_eq(sc.n_batteries + sc.n_flex_loads + sc.n_events, 0);
    ck_assert_int_eq(gridems_scenario_validate(&sc, NULL, 0), 0);

    /* add_* copy the item and its id. */
    char id[] = "pack-a";
    gridems_battery_t b = {.id = id,
                           .capacity_kwh = 10,
                           .soc_kwh = 5,
                           .soc_max_kwh = 10,
                           .final_soc_min_kwh = 5,
                           .charge_efficiency = 1,
                           .discharge_efficiency = 1};
    for (int i = 0; i < 20; i++) {
        id[5] = (char)('a' + i);
        ck_assert_int_eq(gridems_scenario_add_battery(&sc, &b), 0);
    }
    id[5] = 'z';
    ck_assert_int_eq(sc.n_batteries, 20);
    ck_assert_str_eq(sc.batteries[0].id, "pack-a");
    ck_assert_str_eq(sc.batteries[19].id, "pack-t");
    ck_assert_ptr_ne(sc.batteries[0].id, id);
    gridems_flex_load_t j = {.id = id, .energy_kwh = 1, .power_max_kw = 1, .deadline_step = 48};
    ck_assert_int_eq(gridems_scenario_add_flex_load(&sc, &j), 0);
    id[0] = 'q';
    ck_assert_str_eq(sc.flex_loads[0].id, "pack-z");
    ck_assert_int_eq(gridems_scenario_validate(&sc, NULL, 0), 0);

    /* set_text copies, replaces and clears. */
    ck_assert_int_eq(gridems_scenario_set_text(&sc.currency, "EUR"), 0);
    ck_assert_str_eq(sc.currency, "EUR");
    ck_assert_int_eq(gridems_scenario_set_text(&sc.currency, sc.currency + 1), 0);
    ck_assert_str_eq(sc.currency, "UR");
    ck_assert_int_eq(gridems_scenario_set_text(&sc.currency, NULL), 0);
    ck_assert_ptr_null(sc.currency);
    ck_assert_int_eq(gridems_scenario_set_text(&sc.start, "2026-01-01T00:00:00Z"), 0);

    /* Free zeroes and may be repeated. */
    gridems_scenario_free(&sc);
    assert_freed(&sc);
    ck_assert_int_eq(sc.n_batteries, 0);
    gridems_scenario_free(&sc);
    gridems_scenario_free(NULL);
}
END_TEST

/* ---- ## Robustness ---- */

/* Every strict prefix of a valid document is incomplete: refused as not JSON, whether the bytes
 * after it are unreadable (exact heap copy) or the rest of the document. */
START_TEST(test_truncated_prefixes)
{
    size_t n = strlen(BASE);
    gridems_scenario_t sc;
    char err[256];
    for (size_t len = 0; len < n; len++) {
        char *copy = exact_copy(BASE, len);
        int rc = gridems_scenario_parse_json(copy, len, &sc, err, sizeof err);
        ck_assert_msg(rc == GRIDEMS_EPARSE, "prefix %zu: %s %s", len, gridems_err_name(rc), err);
        ck_assert_msg(strstr(err, "scenario: ") == err, "prefix %zu: '%s'", len, err);
        assert_freed(&sc);
        free(copy);
        rc = gridems_scenario_parse_json(BASE, len, &sc, err, sizeof err);
        ck_assert_msg(rc == GRIDEMS_EPARSE, "prefix %zu in place: %s", len, err);
    }
    char *copy = exact_copy(BASE, n);
    ck_assert_int_eq(gridems_scenario_parse_json(copy, n, &sc, err, sizeof err), 0);
    free(copy);
    gridems_scenario_free(&sc);
}
END_TEST

static char *nested(const char *prefix, const char *open, const char *close, int depth,
                    const char *suffix)
{
    size_t lo = strlen(open), lc = strlen(close);
    size_t len = strlen(prefix) + (size_t)depth * (lo + lc) + strlen(suffix);
    char *s = malloc(len + 1);
    ck_assert_ptr_nonnull(s);
    char *p = s;
    p += sprintf(p, "%s", prefix);
    for (int i = 0; i < depth; i++) {
        memcpy(p, open, lo);
        p += lo;
    }
    for (int i = 0; i < depth; i++) {
        memcpy(p, close, lc);
        p += lc;
    }
    strcpy(p, suffix);
    return s;
}

START_TEST(test_deep_nesting)
{
    /* The same tail makes each document valid but for its depth. */
    const char *prefix = "{\"junk\": ";
    char suffix[sizeof BASE + 2];
    snprintf(suffix, sizeof suffix, ", %s", BASE + 1);
    gridems_scenario_t sc;
    char err[256];

    char *doc = nested("", "[", "]", 5000, "");
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EPARSE);
    ck_assert_str_eq(err, "scenario: JSON nested deeper than 1000 levels at byte 1000");
    free(doc);

    doc = nested("", "{\"a\":", "}", 5000, "");
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EPARSE);
    ck_assert_ptr_nonnull(strstr(err, "nested deeper than 1000 levels"));
    free(doc);

    doc = nested(prefix, "[", "]", 5000, suffix);
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EPARSE);
    assert_freed(&sc);
    free(doc);

    /* cJSON's own limit, our second line of defence, also fails cleanly. */
    doc = nested("", "[", "]", 5000, "");
    const char *end = NULL;
    ck_assert_ptr_null(cJSON_ParseWithLengthOpts(doc, strlen(doc), &end, 0));
    free(doc);

    /* Exactly at the limit (the outer object is level 1) an unknown key is still ignored. */
    doc = nested(prefix, "[", "]", CJSON_NESTING_LIMIT - 1, suffix);
    parse_ok(doc, &sc);
    free(doc);
    gridems_scenario_free(&sc);
    doc = nested(prefix, "[", "]", CJSON_NESTING_LIMIT, suffix);
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EPARSE);
    free(doc);
}
END_TEST

/* Append a number array of n values of v to a buffer. */
static char *number_array(size_t n, const char *v)
{
    size_t lv = strlen(v);
    char *s = malloc(n * (lv + 1) + 3);
    ck_assert_ptr_nonnull(s);
    char *p = s;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            *p++ = ',';
        }
        memcpy(p, v, lv);
        p += lv;
    }
    *p++ = ']';
    *p = '\0';
    return s;
}

START_TEST(test_too_many_steps)
{
    gridems_scenario_t sc;
    char err[256];
    char *arr = number_array(GRIDEMS_SCENARIO_MAX_STEPS + 1, "1.5");
    size_t len = strlen(arr) * 2 + 200;
    char *doc = malloc(len);
    ck_assert_ptr_nonnull(doc);
    snprintf(doc, len,
             "{\"version\": 1, \"step_minutes\": 5, \"prices\": {\"import_per_kwh\": %s},"
             " \"site\": {\"base_load_kw\": %s}}",
             arr, arr);
    double t0 = test_now_ms();
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "site.base_load_kw: must have 1 to 100000 values, got 100001");
    assert_freed(&sc);
    ck_assert_msg(test_now_ms() - t0 < 5000, "took %.0f ms", test_now_ms() - t0);

    /* A series longer than T is refused by its length, not by reading it. */
    char *ok = number_array(4, "1");
    snprintf(doc, len,
             "{\"version\": 1, \"step_minutes\": 5, \"prices\": {\"import_per_kwh\": %s},"
             " \"site\": {\"base_load_kw\": %s}}",
             arr, ok);
    ck_assert_int_eq(parse_text(doc, &sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_str_eq(err, "prices.import_per_kwh: must have 4 values (T = length of "
                          "site.base_load_kw), got 100001");
    free(ok);
    free(arr);
    free(doc);
}
END_TEST

/* The largest legal scenario, every series full, through parse, write and parse again. */
START_TEST(test_max_steps_round_trip)
{
    const int T = GRIDEMS_SCENARIO_MAX_STEPS;
    gridems_scenario_t sc;
    ck_assert_int_eq(gridems_scenario_init(&sc, T, 1), 0);
    for (int t = 0; t < T; t++) {
        sc.import_per_kwh[t] = 0.1 * t - 100;
        sc.export_per_kwh[t] = 0.05 * t;
        sc.carbon_kg_per_kwh[t] = (t % 97) / 97.0;
        sc.base_load_kw[t] = 1000 + (t % 13) / 3.0;
        sc.pv_kw[t] = (t % 7) * 1.25;
    }
    sc.has_carbon = true;
    for (int e = 0; e < 1000; e++) {
        gridems_event_t ev = {
            .start_step = e * 100, .end_step = e * 100 + 50, .import_limit_kw = e};
        ck_assert_int_eq(gridems_scenario_add_event(&sc, &ev), 0);
    }
    double t0 = test_now_ms();
    assert_round_trip(&sc);
    ck_assert_msg(test_now_ms() - t0 < 20000, "took %.0f ms", test_now_ms() - t0);
    gridems_scenario_free(&sc);
}
END_TEST

enum { HUGE_BYTES = 100 * 1024 * 1024 };

/* ~100 MB: a valid scenario behind a giant string under an unknown key is read (and the string
 * ignored); the same amount of whitespace is fine too. */
START_TEST(test_huge_document_accepted)
{
    const char *head = "{\"notes\": \"";
    const char *mid = "\", ";
    size_t tail_len = strlen(BASE + 1);
    char *doc = malloc(HUGE_BYTES + tail_len + 64);
    ck_assert_ptr_nonnull(doc);
    size_t n = strlen(head);
    memcpy(doc, head, n);
    memset(doc + n, 'x', HUGE_BYTES);
    n += HUGE_BYTES;
    memcpy(doc + n, mid, strlen(mid));
    n += strlen(mid);
    memcpy(doc + n, BASE + 1, tail_len);
    n += tail_len;

    gridems_scenario_t sc;
    char err[256] = "";
    double t0 = test_now_ms();
    int rc = gridems_scenario_parse_json(doc, n, &sc, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_msg(test_now_ms() - t0 < 10000, "took %.0f ms", test_now_ms() - t0);
    ck_assert_int_eq(sc.steps, 4);
    ck_assert_str_eq(sc.batteries[0].id, "bess-1");
    gridems_scenario_free(&sc);

    /* Leading whitespace instead. */
    memset(doc, ' ', HUGE_BYTES);
    memcpy(doc + HUGE_BYTES, BASE, strlen(BASE));
    rc = gridems_scenario_parse_json(doc, HUGE_BYTES + strlen(BASE), &sc, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    gridems_scenario_free(&sc);
    free(doc);
}
END_TEST

/* ~100 MB of tiny values would cost cJSON gigabytes of nodes: refused before parsing. */
START_TEST(test_huge_document_refused)
{
    char *doc = malloc(HUGE_BYTES + 64);
    ck_assert_ptr_nonnull(doc);
    size_t n = (size_t)sprintf(doc, "{\"version\": 1, \"junk\": [0");
    while (n + 2 < HUGE_BYTES) {
        doc[n++] = ',';
        doc[n++] = '0';
    }
    doc[n++] = ']';
    doc[n++] = '}';
    gridems_scenario_t sc;
    char err[256];
    double t0 = test_now_ms();
    ck_assert_int_eq(gridems_scenario_parse_json(doc, n, &sc, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "scenario: too many JSON values (more than 2000000)"));
    ck_assert_msg(test_now_ms() - t0 < 5000, "took %.0f ms", test_now_ms() - t0);
    assert_freed(&sc);

    /* The same bytes as one unterminated string: a syntax error, found in linear time. */
    memset(doc + 1, 'y', n - 1);
    doc[0] = '"';
    ck_assert_int_eq(gridems_scenario_parse_json(doc, n, &sc, err, sizeof err), GRIDEMS_EPARSE);
    free(doc);
}
END_TEST

START_TEST(test_not_nul_terminated)
{
    size_t n = strlen(BASE);
    gridems_scenario_t sc;
    char err[256] = "";

    /* Exactly n bytes on the heap: reading past them would trip AddressSanitizer. */
    char *exact = exact_copy(BASE, n);
    ck_assert_int_eq(gridems_scenario_parse_json(exact, n, &sc, err, sizeof err), 0);
    gridems_scenario_free(&sc);
    free(exact);

    /* Followed by bytes that would change the meaning if read. */
    static const char *const garbage[] = {"x", "}", "5", ", \"version\": 2}", "\0\0"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        char *buf = malloc(n + 32);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, BASE, n);
        memcpy(buf + n, garbage[i], strlen(garbage[i]) + 1);
        ck_assert_msg(gridems_scenario_parse_json(buf, n, &sc, err, sizeof err) == 0, "%s", err);
        gridems_scenario_free(&sc);
        free(buf);
    }

    /* A number cut at the end of the length must not borrow the digits after it. */
    const char *text = "{\"version\": 12";
    ck_assert_int_eq(gridems_scenario_parse_json(text, strlen(text) - 1, &sc, err, sizeof err),
                     GRIDEMS_EPARSE);
}
END_TEST

/* NUL and other control bytes: cJSON alone would take them for whitespace. */
START_TEST(test_embedded_nul)
{
    size_t n = strlen(BASE);
    char *buf = malloc(n + 1);
    ck_assert_ptr_nonnull(buf);
    gridems_scenario_t sc;
    char err[256], expect[64];
    const char *id = strstr(BASE, "bess-1");
    size_t places[] = {1, (size_t)(strchr(BASE, ':') - BASE) + 1, (size_t)(id - BASE) + 4};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        memcpy(buf, BASE, n);
        buf[places[i]] = '\0';
        ck_assert_int_eq(gridems_scenario_parse_json(buf, n, &sc, err, sizeof err), GRIDEMS_EPARSE);
        snprintf(expect, sizeof expect, "at byte %zu: control character 0x00", places[i]);
        ck_assert_msg(strstr(err, expect) != NULL, "'%s' lacks '%s'", err, expect);
        assert_freed(&sc);
    }
    /* A NUL right after the document, inside the length. */
    memcpy(buf, BASE, n);
    buf[n] = '\0';
    ck_assert_int_eq(gridems_scenario_parse_json(buf, n + 1, &sc, err, sizeof err), GRIDEMS_EPARSE);
    snprintf(expect, sizeof expect, "at byte %zu", n);
    ck_assert_ptr_nonnull(strstr(err, expect));
    free(buf);
}
END_TEST

/* Random damage to a valid document: never a crash, a leak or an unexplained failure; whatever
 * is accepted is valid and survives a round trip. */
START_TEST(test_random_damage)
{
    uint64_t state = 0x9E3779B97F4A7C15u;
    size_t n = strlen(BASE);
    char *buf = malloc(n + 64);
    ck_assert_ptr_nonnull(buf);
    int accepted = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, BASE, n);
        size_t len = n;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            size_t at = (size_t)(state % len);
            switch ((state >> 32) % 3) {
            case 0: /* overwrite one byte with anything */
                buf[at] = (char)(state >> 40);
                break;
            case 1: /* overwrite with a JSON-significant byte */
                buf[at] = "{}[],:\"\\0123456789.eE-+ tnf"[(state >> 40) % 27];
                break;
            default: /* cut the document short */
                len = at > 0 ? at : 1;
                break;
            }
        }
        char *copy = exact_copy(buf, len);
        gridems_scenario_t sc;
        char err[512] = "";
        int rc = gridems_scenario_parse_json(copy, len, &sc, err, sizeof err);
        free(copy);
        ck_assert_msg(rc == 0 || rc == GRIDEMS_EINVAL || rc == GRIDEMS_EPARSE, "rc %d", rc);
        if (rc != 0) {
            ck_assert_msg(strchr(err, ':') != NULL, "iteration %d: bare message '%s'", iter, err);
            assert_freed(&sc);
            continue;
        }
        accepted++;
        ck_assert_int_eq(gridems_scenario_validate(&sc, NULL, 0), 0);
        assert_round_trip(&sc);
        gridems_scenario_free(&sc);
    }
    /* Some damage (a digit for a digit) is harmless; make sure that path ran too. */
    ck_assert_int_gt(accepted, 0);
    free(buf);
}
END_TEST

static Suite *scenario_suite(void)
{
    Suite *s = suite_create("scenario");

    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, test_defaults_top_level);
    tcase_add_test(tc, test_defaults_battery);
    tcase_add_test(tc, test_defaults_flex_load_and_carbon);
    tcase_add_test(tc, test_unknown_keys_ignored);
    tcase_add_test(tc, test_boundaries_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_reject_rule, 0, (int)(sizeof RULES / sizeof RULES[0]));
    tcase_add_test(tc, test_validate_in_memory);
    tcase_add_test(tc, test_validate_duplicate_ids_many);
    tcase_add_test(tc, test_error_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_round_trip_full);
    tcase_add_test(tc, test_round_trip_awkward_doubles);
    tcase_add_test(tc, test_to_json_writes_every_field);
    tcase_add_test(tc, test_copy_is_deep);
    tcase_add_test(tc, test_init_add_set_free);
    suite_add_tcase(s, tc);

    /* The big inputs take a few seconds, more under sanitizers. */
    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_truncated_prefixes);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_too_many_steps);
    tcase_add_test(tc, test_max_steps_round_trip);
    tcase_add_test(tc, test_huge_document_accepted);
    tcase_add_test(tc, test_huge_document_refused);
    tcase_add_test(tc, test_not_nul_terminated);
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_random_damage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(scenario_suite());
}
