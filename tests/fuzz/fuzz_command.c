/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: operator commands on the cmd topic (core/src/inputs/command_msg.c). */
#include "command_msg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gridems_command_t cmd;
    char why[160];
    (void)gridems_command_parse((const char *)data, size, &cmd, why, sizeof why);
    return 0;
}
