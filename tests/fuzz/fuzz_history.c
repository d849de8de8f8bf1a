/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: the history files restored at start-up (core/src/state/history_store.c). The first
 * byte picks the file: load_history.json, a forecast store, or peak_margin.json. */
#include "forecast.h"
#include "fuzz.h"
#include "history_store.h"
#include "load_forecast.h"
#include "log.h"
#include "peak_margin.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gridems_log_set_level(GRIDEMS_LOG_ERR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[512];
    size_t n = 0;
    switch (data[0] % 3) {
    case 0: {
        gridems_load_forecast_config_t cfg;
        gridems_load_forecast_config_default(&cfg, 30 * 60000);
        gridems_load_forecast_t lf;
        if (gridems_load_forecast_init(&lf, &cfg) == 0) {
            (void)gridems_history_parse_load(text, len, "load_history.json", &lf, &n, err,
                                             sizeof err);
        }
        gridems_load_forecast_close(&lf);
        break;
    }
    case 1: {
        gridems_forecast_t f;
        gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
        (void)gridems_forecast_set_currency(&f, "JPY");
        (void)gridems_history_parse_forecast(text, len, "forecast_import_price.json",
                                             "import_price", &f, &n, err, sizeof err);
        gridems_forecast_close(&f);
        break;
    }
    default: {
        gridems_peak_margin_t pm;
        if (gridems_peak_margin_init(&pm) == 0) {
            (void)gridems_history_parse_margin(text, len, "peak_margin.json", &pm, &n, err,
                                               sizeof err);
        }
        gridems_peak_margin_close(&pm);
        break;
    }
    }
    return 0;
}
