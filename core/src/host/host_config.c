/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin host's option getters: an instance's validated option values by key. */
#include <string.h>

#include "gridems/errors.h"
#include "host_internal.h"

int gridems__option_get(gridems_plugin_t *inst, const char *key, int type, void *out)
{
    if (inst == NULL || key == NULL || out == NULL) {
        return GRIDEMS_EINVAL;
    }
    const gridems__optval_t *o = NULL;
    for (size_t i = 0; i < inst->n_opts && o == NULL; i++) {
        if (strcmp(inst->opts[i].opt.key, key) == 0) {
            o = &inst->opts[i];
        }
    }
    /* A double getter also reads an INT option; every other type must match. */
    bool int_as_double = type == GRIDEMS_OPT_DOUBLE && o != NULL && o->opt.type == GRIDEMS_OPT_INT;
    if (o == NULL || (o->opt.type != type && !int_as_double)) {
        return GRIDEMS_EINVAL;
    }
    if (!o->set) {
        return GRIDEMS_ENOENT;
    }
    switch (type) {
    case GRIDEMS_OPT_STRING:
        *(const char **)out = o->v.s;
        break;
    case GRIDEMS_OPT_INT:
        *(int64_t *)out = o->v.i;
        break;
    case GRIDEMS_OPT_DOUBLE:
        *(double *)out = int_as_double ? (double)o->v.i : o->v.d;
        break;
    default:
        *(int *)out = o->v.b;
        break;
    }
    return 0;
}
