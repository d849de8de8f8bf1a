/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Scenario JSON (format v1, docs/optimizer.md) to and from gridems_scenario_t.
 *
 * Reading is in three stages:
 *   1. a linear pre-scan of the raw bytes that refuses documents cJSON would need unbounded memory
 *      for (far more values than any scenario has) or that nest too deeply, before a single node
 *      is allocated;
 *   2. cJSON, bounded by `len`, so the text need not be NUL-terminated;
 *   3. a small "field reader" layer that walks the tree, tracks the JSON path of the field it is
 *      reading for error messages, checks types and array lengths and applies the defaults.
 * The semantic rules (signs, ranges, windows, ids) are left to gridems_scenario_validate(), so a
 * file and a scenario built in memory are judged by the same code.
 */
#include "gridems/scenario.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "optimizer_internal.h"

/* cJSON_ParseWithLengthOpts appeared in 1.7.13; earlier releases could read past the length. */
#if CJSON_VERSION_MAJOR < 1 ||                                                                     \
    (CJSON_VERSION_MAJOR == 1 &&                                                                   \
     (CJSON_VERSION_MINOR < 7 || (CJSON_VERSION_MINOR == 7 && CJSON_VERSION_PATCH < 13)))
#error "gridems needs cJSON 1.7.13 or later"
#endif

/*
 * The most JSON values (array elements, object members, containers) a document may hold. A
 * largest legal scenario has five series of 100000 steps, i.e. about 5e5 values; events and
 * devices add little. Twenty times the step limit leaves ample room while capping what cJSON
 * allocates (nodes of 64 bytes plus key copies) near 160 MB, whatever the input size.
 */
#define MAX_JSON_VALUES (20L * GRIDEMS_SCENARIO_MAX_STEPS)

/* Room for the longest path we build, e.g. "flexible_loads[2147483647].deadline_step". */
#define PATH_CAP 128

typedef struct {
    char *err;
    size_t errlen;
    char path[PATH_CAP]; /* JSON path of the value being read, "" at the root */
    size_t path_len;
    int steps; /* T, once site.base_load_kw has been read */
} reader_t;

/* ---- ## Messages and paths ---- */

/* Write "<where>: <message>" into the caller's buffer and return code. */
__attribute__((format(printf, 4, 5))) static int fail_at(reader_t *r, const char *where, int code,
                                                         const char *fmt, ...)
{
    if (r->err != NULL && r->errlen > 0) {
        int n = snprintf(r->err, r->errlen, "%s: ", where);
        if (n >= 0 && (size_t)n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

/* The message names the value being read: the current path, or "scenario" at the root. */
#define FAIL(r, code, ...)                                                                         \
    fail_at((r), (r)->path_len > 0 ? (r)->path : "scenario", (code), __VA_ARGS__)

/* The shortest of %.15g, %.16g and %.17g that reads back as the same double: exact, yet "0.1"
 * rather than "0.10000000000000001". Used for messages and for writing numbers. */
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

/* Append ".key" (or "key" at the root) to the path; returns the length to restore with
 * path_pop(). Too long a path is cut, never overflowed; ours are short by construction. */
static size_t path_push_key(reader_t *r, const char *key)
{
    size_t saved = r->path_len;
    int n = snprintf(r->path + saved, PATH_CAP - saved, "%s%s", saved > 0 ? "." : "", key);
    r->path_len = n < 0 ? saved : saved + (size_t)n;
    if (r->path_len >= PATH_CAP) {
        r->path_len = PATH_CAP - 1;
    }
    return saved;
}

static size_t path_push_index(reader_t *r, int index)
{
    size_t saved = r->path_len;
    int n = snprintf(r->path + saved, PATH_CAP - saved, "[%d]", index);
    r->path_len = n < 0 ? saved : saved + (size_t)n;
    if (r->path_len >= PATH_CAP) {
        r->path_len = PATH_CAP - 1;
    }
    return saved;
}

static void path_pop(reader_t *r, size_t saved)
{
    r->path_len = saved;
    r->path[saved] = '\0';
}

/* ---- ## Field readers ---- */

/*
 * Find member `key` of obj (NULL obj: an absent parent, so an absent member). Keys match case-
 * sensitively, unlike cJSON_GetObjectItem. A key given twice is refused: JSON parsers disagree on
 * which one wins, so accepting it would let two tools read two different scenarios.
 * `type` is the cJSON type the value must have, `what` its description for the message.
 * Returns 0 with *out NULL when absent and not required.
 */
static int member(reader_t *r, const cJSON *obj, const char *key, int type, const char *what,
                  bool required, const cJSON **out)
{
    *out = NULL;
    const cJSON *found = NULL;
    const cJSON *item;
    if (obj != NULL) {
        cJSON_ArrayForEach(item, obj)
        {
            if (item->string == NULL || strcmp(item->string, key) != 0) {
                continue;
            }
            if (found != NULL) {
                size_t saved = path_push_key(r, key);
                int rc = FAIL(r, GRIDEMS_EINVAL, "duplicate key");
                path_pop(r, saved);
                return rc;
            }
            found = item;
        }
    }
    size_t saved = path_push_key(r, key);
    int rc = 0;
    if (found == NULL && required) {
        rc = fail_at(r, "scenario", GRIDEMS_EINVAL, "missing required field %s", r->path);
    } else if (found != NULL && (found->type & 0xFF) != type) {
        rc = FAIL(r, GRIDEMS_EINVAL, "must be %s, got %s", what, gridems__json_type_name(found));
    }
    path_pop(r, saved);
    if (rc == 0) {
        *out = found;
    }
    return rc;
}

/* An optional or required number; *dst keeps its default when absent. Non-finite values (cJSON
 * turns 1e999 into inf) are stored and left for the validator to reject with the path. */
static int read_number(reader_t *r, const cJSON *obj, const char *key, bool required, double *dst,
                       bool *present)
{
    const cJSON *item;
    int rc = member(r, obj, key, cJSON_Number, "a number", required, &item);
    if (rc == 0 && item != NULL) {
        *dst = item->valuedouble;
    }
    if (present != NULL) {
        *present = rc == 0 && item != NULL;
    }
    return rc;
}

/* An integer field (a step index): a JSON number that is whole and fits an int. */
static int read_int(reader_t *r, const cJSON *obj, const char *key, bool required, int *dst)
{
    const cJSON *item;
    int rc = member(r, obj, key, cJSON_Number, "a number", required, &item);
    if (rc != 0 || item == NULL) {
        return rc;
    }
    double v = item->valuedouble;
    char num[32];
    size_t saved = path_push_key(r, key);
    if (!isfinite(v)) {
        rc = FAIL(r, GRIDEMS_EINVAL, "must be a finite number");
    } else if (v != floor(v)) {
        rc = FAIL(r, GRIDEMS_EINVAL, "must be a whole number, got %s", fmt_num(num, v));
    } else if (v < INT_MIN || v > INT_MAX) {
        rc = FAIL(r, GRIDEMS_EINVAL, "must be a whole number in [%d, %d], got %s", INT_MIN, INT_MAX,
                  fmt_num(num, v));
    } else {
        *dst = (int)v;
    }
    path_pop(r, saved);
    return rc;
}

/* An optional or required string, copied into *dst (which must be NULL). Length rules are the
 * validator's. */
static int read_text(reader_t *r, const cJSON *obj, const char *key, bool required, char **dst)
{
    const cJSON *item;
    int rc = member(r, obj, key, cJSON_String, "a string", required, &item);
    if (rc == 0 && item != NULL) {
        *dst = strdup(item->valuestring);
        if (*dst == NULL) {
            rc = FAIL(r, GRIDEMS_ENOMEM, "out of memory");
        }
    }
    return rc;
}

/* Copy the numbers of a JSON array of exactly r->steps elements into dst. The array is walked
 * by its links, never by index, which would be quadratic in cJSON. */
static int read_series_items(reader_t *r, const cJSON *array, double *dst)
{
    int t = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, array)
    {
        if (!cJSON_IsNumber(item)) {
            size_t saved = path_push_index(r, t);
            int rc =
                FAIL(r, GRIDEMS_EINVAL, "must be a number, got %s", gridems__json_type_name(item));
            path_pop(r, saved);
            return rc;
        }
        dst[t++] = item->valuedouble;
    }
    return 0;
}

/* A per-step array: absent leaves dst (the default) alone, otherwise it must have T numbers. */
static int read_series(reader_t *r, const cJSON *obj, const char *key, bool required, double *dst)
{
    const cJSON *array;
    int rc = member(r, obj, key, cJSON_Array, "an array", required, &array);
    if (rc != 0 || array == NULL) {
        return rc;
    }
    size_t saved = path_push_key(r, key);
    int n = cJSON_GetArraySize(array);
    if (n != r->steps) {
        rc = FAIL(r, GRIDEMS_EINVAL,
                  "must have %d values (T = length of site.base_load_kw), got %d", r->steps, n);
    } else {
        rc = read_series_items(r, array, dst);
    }
    path_pop(r, saved);
    return rc;
}

/* ---- ## The scenario ---- */

static int read_battery(reader_t *r, const cJSON *obj, gridems_battery_t *b)
{
    if (!cJSON_IsObject(obj)) {
        return FAIL(r, GRIDEMS_EINVAL, "must be an object, got %s", gridems__json_type_name(obj));
    }
    /* Defaults of the spec; soc_max and final_soc_min depend on other fields, set below. */
    b->charge_efficiency = 1.0;
    b->discharge_efficiency = 1.0;
    bool has_soc_max = false, has_final = false;
    int rc = read_text(r, obj, "id", true, &b->id);
    if (rc == 0) {
        rc = read_number(r, obj, "capacity_kwh", true, &b->capacity_kwh, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "soc_kwh", true, &b->soc_kwh, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "soc_min_kwh", false, &b->soc_min_kwh, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "soc_max_kwh", false, &b->soc_max_kwh, &has_soc_max);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "final_soc_min_kwh", false, &b->final_soc_min_kwh, &has_final);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "charge_max_kw", true, &b->charge_max_kw, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "discharge_max_kw", true, &b->discharge_max_kw, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "charge_efficiency", false, &b->charge_efficiency, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "discharge_efficiency", false, &b->discharge_efficiency, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "cycle_cost_per_kwh", false, &b->cycle_cost_per_kwh, NULL);
    }
    if (rc == 0 && !has_soc_max) {
        b->soc_max_kwh = b->capacity_kwh;
    }
    if (rc == 0 && !has_final) {
        /* soc_kwh clamped into [soc_min, soc_max]; if that band is empty the validator refuses
         * the battery anyway. */
        double v = b->soc_kwh;
        v = v > b->soc_max_kwh ? b->soc_max_kwh : v;
        v = v < b->soc_min_kwh ? b->soc_min_kwh : v;
        b->final_soc_min_kwh = v;
    }
    return rc;
}

static int read_flex_load(reader_t *r, const cJSON *obj, gridems_flex_load_t *j)
{
    if (!cJSON_IsObject(obj)) {
        return FAIL(r, GRIDEMS_EINVAL, "must be an object, got %s", gridems__json_type_name(obj));
    }
    j->earliest_step = 0;
    j->deadline_step = r->steps;
    int rc = read_text(r, obj, "id", true, &j->id);
    if (rc == 0) {
        rc = read_number(r, obj, "energy_kwh", true, &j->energy_kwh, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "power_max_kw", true, &j->power_max_kw, NULL);
    }
    if (rc == 0) {
        rc = read_int(r, obj, "earliest_step", false, &j->earliest_step);
    }
    if (rc == 0) {
        rc = read_int(r, obj, "deadline_step", false, &j->deadline_step);
    }
    if (rc == 0) {
        rc = read_text(r, obj, "cluster", false, &j->cluster);
    }
    return rc;
}

static int read_cluster(reader_t *r, const cJSON *obj, gridems_cluster_t *cl)
{
    if (!cJSON_IsObject(obj)) {
        return FAIL(r, GRIDEMS_EINVAL, "must be an object, got %s", gridems__json_type_name(obj));
    }
    int rc = read_text(r, obj, "id", true, &cl->id);
    if (rc == 0) {
        rc = read_number(r, obj, "compute_limit_kw", true, &cl->compute_limit_kw, NULL);
    }
    return rc;
}

static int read_event(reader_t *r, const cJSON *obj, gridems_event_t *ev)
{
    if (!cJSON_IsObject(obj)) {
        return FAIL(r, GRIDEMS_EINVAL, "must be an object, got %s", gridems__json_type_name(obj));
    }
    int rc = read_int(r, obj, "start_step", true, &ev->start_step);
    if (rc == 0) {
        rc = read_int(r, obj, "end_step", true, &ev->end_step);
    }
    if (rc == 0) {
        rc = read_number(r, obj, "import_limit_kw", true, &ev->import_limit_kw, NULL);
    }
    return rc;
}

/*
 * Read the optional array `key` of objects into a fresh array of `size`-byte items, each filled
 * by read_one. The array is sized once from the element count (no growth per item). *items and
 * *count are set even on failure: the items start zeroed, so freeing a half-read list is safe.
 */
typedef int (*read_item_fn)(reader_t *r, const cJSON *obj, void *item);

static int read_list(reader_t *r, const cJSON *root, const char *key, size_t size,
                     read_item_fn read_one, void **items, int *count)
{
    const cJSON *array;
    int rc = member(r, root, key, cJSON_Array, "an array", false, &array);
    if (rc != 0 || array == NULL) {
        return rc;
    }
    int n = cJSON_GetArraySize(array);
    if (n <= 0) {
        return 0;
    }
    size_t saved = path_push_key(r, key);
    *items = calloc((size_t)n, size);
    if (*items == NULL) {
        rc = FAIL(r, GRIDEMS_ENOMEM, "out of memory");
        path_pop(r, saved);
        return rc;
    }
    *count = n;
    int i = 0;
    const cJSON *obj;
    cJSON_ArrayForEach(obj, array)
    {
        size_t at = path_push_index(r, i);
        rc = read_one(r, obj, (char *)*items + (size_t)i * size);
        path_pop(r, at);
        if (rc != 0) {
            break;
        }
        i++;
    }
    path_pop(r, saved);
    return rc;
}

/* Adapters from the typed item readers to read_item_fn. */
static int read_battery_item(reader_t *r, const cJSON *obj, void *item)
{
    return read_battery(r, obj, item);
}

static int read_flex_item(reader_t *r, const cJSON *obj, void *item)
{
    return read_flex_load(r, obj, item);
}

static int read_event_item(reader_t *r, const cJSON *obj, void *item)
{
    return read_event(r, obj, item);
}

static int read_cluster_item(reader_t *r, const cJSON *obj, void *item)
{
    return read_cluster(r, obj, item);
}

/* version, step_minutes and site.base_load_kw, which fix T; then allocate sc with defaults. */
static int read_header(reader_t *r, const cJSON *root, gridems_scenario_t *sc, const cJSON **site)
{
    double version = 0, step_minutes = 0;
    char num[32];
    int rc = read_number(r, root, "version", true, &version, NULL);
    if (rc == 0 && version != GRIDEMS_SCENARIO_VERSION) {
        return fail_at(r, "version", GRIDEMS_EINVAL, "must be %d, got %s", GRIDEMS_SCENARIO_VERSION,
                       fmt_num(num, version));
    }
    if (rc == 0) {
        rc = read_number(r, root, "step_minutes", true, &step_minutes, NULL);
    }
    if (rc == 0) {
        rc = member(r, root, "site", cJSON_Object, "an object", false, site);
    }
    const cJSON *base = NULL;
    if (rc == 0) {
        size_t saved = path_push_key(r, "site");
        rc = member(r, *site, "base_load_kw", cJSON_Array, "an array", true, &base);
        path_pop(r, saved);
    }
    if (rc != 0) {
        return rc;
    }
    int steps = cJSON_GetArraySize(base);
    if (steps < 1 || steps > GRIDEMS_SCENARIO_MAX_STEPS) {
        return fail_at(r, "site.base_load_kw", GRIDEMS_EINVAL, "must have 1 to %d values, got %d",
                       GRIDEMS_SCENARIO_MAX_STEPS, steps);
    }
    r->steps = steps;
    rc = gridems_scenario_init(sc, steps, step_minutes);
    if (rc != 0) {
        return FAIL(r, rc, "out of memory");
    }
    return 0;
}

static int read_site(reader_t *r, const cJSON *site, gridems_scenario_t *sc)
{
    size_t saved = path_push_key(r, "site");
    int rc = read_series(r, site, "base_load_kw", true, sc->base_load_kw);
    if (rc == 0) {
        rc = read_series(r, site, "pv_kw", false, sc->pv_kw);
    }
    if (rc == 0) {
        rc = read_number(r, site, "import_limit_kw", false, &sc->import_limit_kw, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, site, "export_limit_kw", false, &sc->export_limit_kw, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, site, "demand_charge_per_kw", false, &sc->demand_charge_per_kw, NULL);
    }
    if (rc == 0) {
        rc = read_number(r, site, "peak_so_far_kw", false, &sc->peak_so_far_kw, NULL);
    }
    path_pop(r, saved);
    return rc;
}

/* prices, carbon and penalties: optional objects of a few fields each. */
static int read_costs(reader_t *r, const cJSON *root, gridems_scenario_t *sc)
{
    const cJSON *prices, *carbon, *penalties;
    int rc = member(r, root, "prices", cJSON_Object, "an object", false, &prices);
    if (rc == 0) {
        size_t saved = path_push_key(r, "prices");
        rc = read_series(r, prices, "import_per_kwh", true, sc->import_per_kwh);
        if (rc == 0) {
            rc = read_series(r, prices, "export_per_kwh", false, sc->export_per_kwh);
        }
        path_pop(r, saved);
    }
    if (rc == 0) {
        rc = member(r, root, "carbon", cJSON_Object, "an object", false, &carbon);
    }
    if (rc == 0 && carbon != NULL) {
        sc->has_carbon = true;
        size_t saved = path_push_key(r, "carbon");
        rc = read_series(r, carbon, "intensity_kg_per_kwh", false, sc->carbon_kg_per_kwh);
        if (rc == 0) {
            rc = read_number(r, carbon, "price_per_kg", false, &sc->carbon_price_per_kg, NULL);
        }
        path_pop(r, saved);
    }
    if (rc == 0) {
        rc = member(r, root, "penalties", cJSON_Object, "an object", false, &penalties);
    }
    if (rc == 0) {
        size_t saved = path_push_key(r, "penalties");
        rc = read_number(r, penalties, "unmet_flexible_per_kwh", false, &sc->unmet_flexible_per_kwh,
                         NULL);
        if (rc == 0) {
            rc = read_number(r, penalties, "unserved_load_per_kwh", false,
                             &sc->unserved_load_per_kwh, NULL);
        }
        if (rc == 0) {
            rc = read_number(r, penalties, "final_soc_shortfall_per_kwh", false,
                             &sc->final_soc_shortfall_per_kwh, NULL);
        }
        path_pop(r, saved);
    }
    return rc;
}

static int read_scenario(reader_t *r, const cJSON *root, gridems_scenario_t *sc)
{
    if (!cJSON_IsObject(root)) {
        return FAIL(r, GRIDEMS_EINVAL, "must be a JSON object, got %s",
                    gridems__json_type_name(root));
    }
    const cJSON *site = NULL;
    int rc = read_header(r, root, sc, &site);
    if (rc == 0) {
        rc = read_site(r, site, sc);
    }
    if (rc == 0) {
        rc = read_text(r, root, "start", false, &sc->start);
    }
    if (rc == 0) {
        rc = read_text(r, root, "currency", false, &sc->currency);
    }
    if (rc == 0) {
        rc = read_costs(r, root, sc);
    }
    if (rc == 0) {
        rc = read_number(r, root, "compute_limit_kw", false, &sc->compute_limit_kw,
                         &sc->has_compute_limit);
    }
    void *items = NULL;
    if (rc == 0) {
        rc = read_list(r, root, "batteries", sizeof(gridems_battery_t), read_battery_item, &items,
                       &sc->n_batteries);
        sc->batteries = items;
    }
    if (rc == 0) {
        items = NULL;
        rc = read_list(r, root, "flexible_loads", sizeof(gridems_flex_load_t), read_flex_item,
                       &items, &sc->n_flex_loads);
        sc->flex_loads = items;
    }
    if (rc == 0) {
        items = NULL;
        rc = read_list(r, root, "events", sizeof(gridems_event_t), read_event_item, &items,
                       &sc->n_events);
        sc->events = items;
    }
    if (rc == 0) {
        items = NULL;
        rc = read_list(r, root, "clusters", sizeof(gridems_cluster_t), read_cluster_item, &items,
                       &sc->n_clusters);
        sc->clusters = items;
    }
    return rc;
}

/* ---- ## Parsing ---- */

/*
 * Walk the raw bytes once, outside strings counting the values cJSON would allocate (a comma or
 * an opening bracket each adds at most one) and the nesting depth. Refusing here keeps a 100 MB
 * array of zeros from costing gigabytes of cJSON nodes, and gives deep nesting a clear message
 * (cJSON would refuse it too, past CJSON_NESTING_LIMIT, but only as a syntax error).
 * Control characters are refused as RFC 8259 says, anywhere but as whitespace (tab, LF, CR):
 * cJSON would take a NUL or other control byte for whitespace between tokens, and one inside a
 * string would silently cut an id short. For the same reason the valid escape \u0000 is refused:
 * a C string cannot hold it.
 */
static int prescan(reader_t *r, const char *text, size_t len)
{
    long values = 1;
    long depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r'))) {
            return fail_at(r, "scenario", GRIDEMS_EPARSE,
                           "JSON syntax error at byte %zu: control character 0x%02x", i, c);
        }
        if (in_string) {
            if (escaped) {
                escaped = false;
                if (c == 'u' && len - i > 4 && memcmp(text + i + 1, "0000", 4) == 0) {
                    return fail_at(r, "scenario", GRIDEMS_EINVAL,
                                   "a string holds \\u0000 at byte %zu, which is not supported",
                                   i - 1);
                }
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            values++;
            if (++depth > CJSON_NESTING_LIMIT) {
                return fail_at(r, "scenario", GRIDEMS_EPARSE,
                               "JSON nested deeper than %d levels at byte %zu", CJSON_NESTING_LIMIT,
                               i);
            }
        } else if (c == ']' || c == '}') {
            depth -= depth > 0;
        } else if (c == ',') {
            values++;
        }
        if (values > MAX_JSON_VALUES) {
            return fail_at(r, "scenario", GRIDEMS_EINVAL,
                           "too many JSON values (more than %ld) at byte %zu", MAX_JSON_VALUES, i);
        }
    }
    return 0;
}

/* Parse text[0, len) with cJSON, refusing anything but whitespace after the document. */
static int parse_tree(reader_t *r, const char *text, size_t len, cJSON **root)
{
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (*root == NULL) {
        /* cJSON reports allocation failure the same way; at this size it is a syntax error. */
        size_t at = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        /* cJSON stops at or just past the offending byte. */
        return fail_at(r, "scenario", GRIDEMS_EPARSE, "JSON syntax error near byte %zu", at);
    }
    for (size_t at = (size_t)(end - text); at < len; at++) {
        char c = text[at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            cJSON_Delete(*root);
            *root = NULL;
            return fail_at(r, "scenario", GRIDEMS_EPARSE,
                           "unexpected data after the JSON document at byte %zu", at);
        }
    }
    return 0;
}

int gridems_scenario_parse_json(const char *text, size_t len, gridems_scenario_t *out, char *err,
                                size_t errlen)
{
    reader_t r = {.err = err, .errlen = errlen};
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (out == NULL) {
        return fail_at(&r, "scenario", GRIDEMS_EINVAL, "no output scenario given");
    }
    memset(out, 0, sizeof *out);
    if (text == NULL || len == 0) {
        return fail_at(&r, "scenario", GRIDEMS_EPARSE, "empty input");
    }
    int rc = prescan(&r, text, len);
    if (rc != 0) {
        return rc;
    }
    cJSON *root = NULL;
    rc = parse_tree(&r, text, len, &root);
    if (rc != 0) {
        return rc;
    }
    rc = read_scenario(&r, root, out);
    cJSON_Delete(root);
    if (rc == 0) {
        rc = gridems_scenario_validate(out, err, errlen);
    }
    if (rc != 0) {
        gridems_scenario_free(out);
    }
    return rc;
}

/* ---- ## Writing ---- */

/*
 * A number node that prints so as to read back bit for bit. cJSON's own printer cannot promise
 * that: it keeps its 15-digit form whenever the value read back is merely within a relative
 * DBL_EPSILON of the original (1.7.15's compare_double), so -0.30000000000000004 came back as
 * -0.29999999999999999. A raw node holds our exact text instead. A non-finite value (only in a
 * scenario that would not validate) has no JSON form and is written as null.
 */
static cJSON *number_node(double v)
{
    char buf[32];
    return isfinite(v) ? cJSON_CreateRaw(fmt_num(buf, v)) : cJSON_CreateNull();
}

/* A per-step array; a missing one (only in a scenario that would not validate) is written empty
 * so that reading it back names the problem. */
static bool add_series(cJSON *obj, const char *key, const double *values, int steps)
{
    cJSON *array = cJSON_AddArrayToObject(obj, key);
    if (array == NULL) {
        return false;
    }
    for (int t = 0; values != NULL && t < steps; t++) {
        cJSON *num = number_node(values[t]);
        if (num == NULL || !cJSON_AddItemToArray(array, num)) {
            cJSON_Delete(num);
            return false;
        }
    }
    return true;
}

static bool add_number(cJSON *obj, const char *key, double value)
{
    cJSON *num = number_node(value);
    if (num == NULL || !cJSON_AddItemToObject(obj, key, num)) {
        cJSON_Delete(num);
        return false;
    }
    return true;
}

/* A string, or null for a missing one (which only an invalid scenario has). */
static bool add_text(cJSON *obj, const char *key, const char *text)
{
    return text != NULL ? cJSON_AddStringToObject(obj, key, text) != NULL
                        : cJSON_AddNullToObject(obj, key) != NULL;
}

static bool write_battery(cJSON *list, const gridems_battery_t *b)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || !cJSON_AddItemToArray(list, obj)) {
        cJSON_Delete(obj);
        return false;
    }
    return add_text(obj, "id", b->id) && add_number(obj, "capacity_kwh", b->capacity_kwh) &&
           add_number(obj, "soc_kwh", b->soc_kwh) &&
           add_number(obj, "soc_min_kwh", b->soc_min_kwh) &&
           add_number(obj, "soc_max_kwh", b->soc_max_kwh) &&
           add_number(obj, "final_soc_min_kwh", b->final_soc_min_kwh) &&
           add_number(obj, "charge_max_kw", b->charge_max_kw) &&
           add_number(obj, "discharge_max_kw", b->discharge_max_kw) &&
           add_number(obj, "charge_efficiency", b->charge_efficiency) &&
           add_number(obj, "discharge_efficiency", b->discharge_efficiency) &&
           add_number(obj, "cycle_cost_per_kwh", b->cycle_cost_per_kwh);
}

static bool write_flex_load(cJSON *list, const gridems_flex_load_t *j)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || !cJSON_AddItemToArray(list, obj)) {
        cJSON_Delete(obj);
        return false;
    }
    return add_text(obj, "id", j->id) && add_number(obj, "energy_kwh", j->energy_kwh) &&
           add_number(obj, "power_max_kw", j->power_max_kw) &&
           add_number(obj, "earliest_step", j->earliest_step) &&
           add_number(obj, "deadline_step", j->deadline_step) &&
           (j->cluster == NULL || add_text(obj, "cluster", j->cluster));
}

static bool write_cluster(cJSON *list, const gridems_cluster_t *cl)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || !cJSON_AddItemToArray(list, obj)) {
        cJSON_Delete(obj);
        return false;
    }
    return add_text(obj, "id", cl->id) && add_number(obj, "compute_limit_kw", cl->compute_limit_kw);
}

static bool write_event(cJSON *list, const gridems_event_t *ev)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || !cJSON_AddItemToArray(list, obj)) {
        cJSON_Delete(obj);
        return false;
    }
    return add_number(obj, "start_step", ev->start_step) &&
           add_number(obj, "end_step", ev->end_step) &&
           add_number(obj, "import_limit_kw", ev->import_limit_kw);
}

static bool write_items(cJSON *root, const gridems_scenario_t *sc)
{
    cJSON *batteries = cJSON_AddArrayToObject(root, "batteries");
    bool ok = batteries != NULL;
    for (int b = 0; ok && sc->batteries != NULL && b < sc->n_batteries; b++) {
        ok = write_battery(batteries, &sc->batteries[b]);
    }
    cJSON *loads = ok ? cJSON_AddArrayToObject(root, "flexible_loads") : NULL;
    ok = ok && loads != NULL;
    for (int j = 0; ok && sc->flex_loads != NULL && j < sc->n_flex_loads; j++) {
        ok = write_flex_load(loads, &sc->flex_loads[j]);
    }
    cJSON *events = ok ? cJSON_AddArrayToObject(root, "events") : NULL;
    ok = ok && events != NULL;
    for (int e = 0; ok && sc->events != NULL && e < sc->n_events; e++) {
        ok = write_event(events, &sc->events[e]);
    }
    if (ok && sc->n_clusters > 0 && sc->clusters != NULL) {
        cJSON *clusters = cJSON_AddArrayToObject(root, "clusters");
        ok = clusters != NULL;
        for (int c = 0; ok && c < sc->n_clusters; c++) {
            ok = write_cluster(clusters, &sc->clusters[c]);
        }
    }
    return ok;
}

/* Optional parts are written only when present: absence is their default (no start, no
 * currency, no carbon data, no compute cap, no clusters) and JSON has no other way to say it. */
static bool write_scenario(cJSON *root, const gridems_scenario_t *sc)
{
    int T = sc->steps;
    bool ok = add_number(root, "version", GRIDEMS_SCENARIO_VERSION) &&
              (sc->start == NULL || add_text(root, "start", sc->start)) &&
              add_number(root, "step_minutes", sc->step_minutes) &&
              (sc->currency == NULL || add_text(root, "currency", sc->currency));
    cJSON *prices = ok ? cJSON_AddObjectToObject(root, "prices") : NULL;
    ok = prices != NULL && add_series(prices, "import_per_kwh", sc->import_per_kwh, T) &&
         add_series(prices, "export_per_kwh", sc->export_per_kwh, T);
    if (ok && sc->has_carbon) {
        cJSON *carbon = cJSON_AddObjectToObject(root, "carbon");
        ok = carbon != NULL &&
             add_series(carbon, "intensity_kg_per_kwh", sc->carbon_kg_per_kwh, T) &&
             add_number(carbon, "price_per_kg", sc->carbon_price_per_kg);
    }
    cJSON *site = ok ? cJSON_AddObjectToObject(root, "site") : NULL;
    ok = site != NULL && add_series(site, "base_load_kw", sc->base_load_kw, T) &&
         add_series(site, "pv_kw", sc->pv_kw, T) &&
         add_number(site, "import_limit_kw", sc->import_limit_kw) &&
         add_number(site, "export_limit_kw", sc->export_limit_kw) &&
         add_number(site, "demand_charge_per_kw", sc->demand_charge_per_kw) &&
         add_number(site, "peak_so_far_kw", sc->peak_so_far_kw) && write_items(root, sc);
    if (ok && sc->has_compute_limit) {
        ok = add_number(root, "compute_limit_kw", sc->compute_limit_kw);
    }
    cJSON *penalties = ok ? cJSON_AddObjectToObject(root, "penalties") : NULL;
    return penalties != NULL &&
           add_number(penalties, "unmet_flexible_per_kwh", sc->unmet_flexible_per_kwh) &&
           add_number(penalties, "unserved_load_per_kwh", sc->unserved_load_per_kwh) &&
           add_number(penalties, "final_soc_shortfall_per_kwh", sc->final_soc_shortfall_per_kwh);
}

char *gridems_scenario_to_json(const gridems_scenario_t *sc)
{
    if (sc == NULL) {
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    char *text = write_scenario(root, sc) ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL) {
        return NULL;
    }
    /* The caller frees with free(); cJSON's allocator is whatever its hooks say, so hand back a
     * copy from ours rather than rely on the hooks being the default ones. */
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy != NULL) {
        memcpy(copy, text, n);
    }
    cJSON_free(text);
    return copy;
}
