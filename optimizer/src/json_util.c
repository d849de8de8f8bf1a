/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Two cJSON helpers every reader and writer of gridems shares (optimizer_internal.h): the name of
 * a value's type, as the error messages say it ("must be a number, got string"), and a compact
 * print whose text the caller frees with free().
 */
#include "optimizer_internal.h"

#include <stdlib.h>
#include <string.h>

const char *gridems__json_type_name(const cJSON *v)
{
    if (v == NULL) {
        return "nothing";
    }
    switch (v->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
        return "boolean";
    case cJSON_NULL:
        return "null";
    case cJSON_Number:
        return "number";
    case cJSON_String:
        return "string";
    case cJSON_Array:
        return "array";
    case cJSON_Object:
        return "object";
    default: /* cJSON_Raw and cJSON_Invalid never come out of a parse */
        return "invalid value";
    }
}

char *gridems__json_print(const cJSON *v)
{
    char *text = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    if (text == NULL) {
        return NULL;
    }
    /* cJSON's text is released by cJSON_free (its allocator may be another); the copy by free. */
    char *copy = strdup(text);
    cJSON_free(text);
    return copy;
}
