/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A tie-break reference from a published schedule (plan_reference.h). */
#include "plan_reference.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "timeutil.h"

/* A copy of the array `key` of obj when it holds exactly n finite numbers; else NULL and *rc
 * says why. */
static double *series(const cJSON *obj, const char *key, int n, int *rc)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) {
        *rc = GRIDEMS_EINVAL;
        return NULL;
    }
    double *out = malloc((size_t)n * sizeof *out);
    if (out == NULL) {
        *rc = GRIDEMS_ENOMEM;
        return NULL;
    }
    int t = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            free(out);
            *rc = GRIDEMS_EINVAL;
            return NULL;
        }
        out[t++] = v->valuedouble;
    }
    return out;
}

static char *id_of(const cJSON *item, int *rc)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
        *rc = GRIDEMS_EINVAL;
        return NULL;
    }
    char *copy = strdup(id->valuestring);
    if (copy == NULL) {
        *rc = GRIDEMS_ENOMEM;
    }
    return copy;
}

static int fill(const cJSON *root, gridems_reference_t *ref)
{
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(root, "start");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "step_minutes");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    if (!cJSON_IsString(start) ||
        gridems_time_parse_iso(start->valuestring, &ref->start_ms, NULL, NULL, 0) != 0 ||
        !cJSON_IsNumber(step) || !(step->valuedouble > 0 && step->valuedouble <= 1440) ||
        !cJSON_IsNumber(steps) || steps->valuedouble < 1 || steps->valuedouble > 100000) {
        return GRIDEMS_EINVAL;
    }
    ref->step_ms = llround(step->valuedouble * 60000.0);
    ref->steps = (int)steps->valuedouble;
    const cJSON *bats = cJSON_GetObjectItemCaseSensitive(root, "batteries");
    const cJSON *flex = cJSON_GetObjectItemCaseSensitive(root, "flexible_loads");
    int nb = cJSON_IsArray(bats) ? cJSON_GetArraySize(bats) : 0;
    int nf = cJSON_IsArray(flex) ? cJSON_GetArraySize(flex) : 0;
    if (nb + nf == 0) {
        return 0;
    }
    ref->items = calloc((size_t)(nb + nf), sizeof *ref->items);
    if (ref->items == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, bats)
    {
        gridems_reference_item_t *it = &ref->items[ref->n_items++];
        if ((it->id = id_of(item, &rc)) == NULL ||
            (it->charge_kw = series(item, "charge_kw", ref->steps, &rc)) == NULL ||
            (it->discharge_kw = series(item, "discharge_kw", ref->steps, &rc)) == NULL) {
            return rc;
        }
    }
    cJSON_ArrayForEach(item, flex)
    {
        gridems_reference_item_t *it = &ref->items[ref->n_items++];
        if ((it->id = id_of(item, &rc)) == NULL ||
            (it->power_kw = series(item, "power_kw", ref->steps, &rc)) == NULL) {
            return rc;
        }
    }
    return 0;
}

int gridems_plan_reference_from_json(const char *text, size_t len, gridems_reference_t *ref)
{
    memset(ref, 0, sizeof *ref);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (root == NULL) {
        return GRIDEMS_EPARSE;
    }
    int rc = fill(root, ref);
    cJSON_Delete(root);
    if (rc != 0) {
        gridems_reference_free(ref);
    }
    return rc;
}
