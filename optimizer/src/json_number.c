/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Numbers in JSON that read back as the same double.
 *
 * cJSON 1.7.15 prints with %1.15g and only falls back to %1.17g when the short form differs by
 * more than DBL_EPSILON relative, so some doubles do not round-trip through it. The spec asks
 * for round-trip precision, so we print the shortest of %.15g, %.16g and %.17g that strtod reads
 * back exactly, and hand cJSON the text as a raw item.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "optimizer_internal.h"

int gridems__format_double(char *buf, size_t size, double v)
{
    if (!isfinite(v)) {
        return snprintf(buf, size, "null");
    }
    if (v == 0.0) {
        return snprintf(buf, size, "0"); /* also turns -0 into 0 */
    }
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return n;
}

cJSON *gridems__json_number(double v)
{
    char text[40];
    gridems__format_double(text, sizeof text, v);
    return cJSON_CreateRaw(text);
}

bool gridems__json_add_number(cJSON *obj, const char *key, double v)
{
    cJSON *item = gridems__json_number(v);
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *gridems__json_number_array(const double *values, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr != NULL && i < n; i++) {
        cJSON *item = gridems__json_number(values[i]);
        if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr;
}
