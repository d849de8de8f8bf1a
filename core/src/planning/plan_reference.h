/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A tie-break reference (gridems_reference_t, optimizer.h) read back from a published schedule's
 * JSON (P/schedule, as kept in the state's last plan), so the first re-plan after a restart stays
 * with the plan of the previous run among equal-cost schedules instead of whichever one a cold
 * solve lands on.
 *
 * Threads: plain data; any thread.
 */
#ifndef GRIDEMS_PLAN_REFERENCE_H
#define GRIDEMS_PLAN_REFERENCE_H

#include <stddef.h>

#include "gridems/optimizer.h"

/*
 * gridems_plan_reference_from_json: the batteries' charge/discharge and the flexible loads'
 * power of the schedule in text (len bytes), with its start and step.
 * Parameters: text (borrowed, need not be NUL-terminated); ref (borrowed, overwritten; on
 *   success owns copies, free with gridems_reference_free; on failure left empty).
 * Returns: 0; GRIDEMS_EPARSE (not JSON); GRIDEMS_EINVAL (no start with an offset, no valid
 *   step, or a series that is not `steps` finite numbers); GRIDEMS_ENOMEM.
 */
int gridems_plan_reference_from_json(const char *text, size_t len, gridems_reference_t *ref);

#endif
