/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The name of a JSON value's type, as the error messages of every reader say it ("must be a
 * number, got string"): the scenario, the config, the plugin options and the state files.
 */
#include "optimizer_internal.h"

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
