/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target: state.json as read at start-up (core/src/state/state_store.c), and the last plan it
 * holds read back as the tie-break reference of the first re-plan
 * (core/src/planning/plan_reference.c). */
#include "fuzz.h"
#include "log.h"
#include "plan_reference.h"
#include "state_store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gridems_log_set_level(GRIDEMS_LOG_ERR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gridems_state_t st;
    char err[512];
    gridems_state_init(&st);
    if (gridems_state_parse((const char *)data, size, "state.json", &st, err, sizeof err) == 0 &&
        st.has_plan) {
        gridems_reference_t ref;
        if (gridems_plan_reference_from_json(st.plan_json, st.plan_len, &ref) == 0) {
            gridems_reference_free(&ref);
        }
    }
    gridems_state_free(&st);
    return 0;
}
