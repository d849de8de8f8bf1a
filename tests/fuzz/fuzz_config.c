/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: the service config (core/src/config/service_config.c). */
#include "fuzz.h"
#include "log.h"
#include "service_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gridems_log_set_level(GRIDEMS_LOG_ERR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gridems_service_config_t cfg = {0};
    char err[1024];
    if (gridems_service_config_parse((const char *)data, size, &cfg, err, sizeof err) == 0) {
        gridems_service_config_free(&cfg);
    }
    return 0;
}
