/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Numbers in JSON that read back as the same double.
 *
 * cJSON 1.7.15 prints with %1.15g and only falls back to %1.17g when the short form differs by
 * more than DBL_EPSILON relative, so some doubles do not round-trip through it. The spec asks
 * for round-trip precision, so we write the shortest text that strtod reads back exactly
 * (shortest_double.h; before, the shortest of %.15g, %.16g and %.17g, found by printing and
 * reading back up to three times) and hand cJSON the text as a raw item.
 */
#include <stdio.h>
#include <string.h>

#include "optimizer_internal.h"
#include "shortest_double.h"

int gridems__format_double(char *buf, size_t size, double v)
{
    char text[GRIDEMS_SHORTEST_DOUBLE_MAX];
    int n = v == 0.0 ? (int)(strcpy(text, "0"), 1) /* also turns -0 into 0 */
                     : gridems__shortest_double(text, v);
    if (size > 0) {
        size_t copy = (size_t)n < size ? (size_t)n : size - 1;
        memcpy(buf, text, copy);
        buf[copy] = '\0';
    }
    return n;
}

cJSON *gridems__json_number(double v)
{
    char text[GRIDEMS_SHORTEST_DOUBLE_MAX];
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
