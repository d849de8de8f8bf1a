/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: price and carbon forecast messages (core/src/inputs/forecast.c), and merging an
 * accepted one into a store, as the service does. The first byte picks the kind. */
#include "forecast.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    gridems_forecast_kind_t kind = (data[0] & 1) ? GRIDEMS_FORECAST_CARBON : GRIDEMS_FORECAST_PRICE;
    gridems_forecast_msg_t msg = {0};
    char err[512];
    if (gridems_forecast_msg_parse_json(kind, (const char *)data + 1, size - 1, &msg, err,
                                        sizeof err) == 0) {
        gridems_forecast_t store;
        gridems_forecast_init(&store, kind);
        (void)gridems_forecast_apply(&store, &msg, err, sizeof err);
        gridems_forecast_close(&store);
        gridems_forecast_msg_free(&msg);
    }
    return 0;
}
