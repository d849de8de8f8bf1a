/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: demand-response event messages (core/src/inputs/dr_events.c), applied to a set that
 * already holds one event, as the service does. */
#include "dr_events.h"
#include "fuzz.h"

#include <string.h>

static const char HELD[] = "{\"id\":\"held\",\"start\":\"2023-05-08T10:00:00+09:00\","
                           "\"end\":\"2023-05-08T12:00:00+09:00\",\"import_limit_kw\":5000}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gridems_dr_msg_t msg, held;
    char err[512];
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t outcome;
    if (gridems_dr_msg_parse_json(HELD, strlen(HELD), &held, err, sizeof err) == 0) {
        (void)gridems_dr_events_apply(&set, &held, &outcome);
    }
    if (gridems_dr_msg_parse_json((const char *)data, size, &msg, err, sizeof err) == 0) {
        (void)gridems_dr_events_apply(&set, &msg, &outcome);
    }
    gridems_dr_events_close(&set);
    return 0;
}
