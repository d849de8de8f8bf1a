/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What binds in each step of a solved plan, so that "why did it do that?" has an answer: the
 * constraint at its limit that shapes the step. For each step, a list of short tags:
 *   "peak"                      import at the plan's peak (the demand charge holds it there)
 *   "dr_cap"                    import at a DR event's cap
 *   "import_limit"              import at the site's contracted limit
 *   "compute_cap"               flexible compute at the site's compute cap
 *   "cluster_cap:ID"            the jobs of cluster ID at its own cap (scenario.h, clusters)
 *   "battery_empty:ID"          the battery ends the step at its minimum energy
 *   "battery_full:ID"           ... at its maximum energy
 *   "battery_charge_max:ID"     charging at its rated power
 *   "battery_discharge_max:ID"  discharging at its rated power
 *   "deadline:ID"               a job running at full power from here to its deadline (inside
 *                               the horizon): the deadline, not the price, decides when it runs
 * A quantity "at" a limit is within 0.5 kW (kWh) or 0.01 % of it, whichever is larger.
 *
 * Pure: no I/O, no clock. Threads: any; the inputs are borrowed for the call.
 */
#ifndef GRIDEMS_PLAN_BINDS_H
#define GRIDEMS_PLAN_BINDS_H

#include <cjson/cJSON.h>

#include "gridems/optimizer.h"
#include "gridems/scenario.h"

/*
 * gridems_plan_binds_json: an array of s->steps arrays of tag strings (above).
 * Returns a new cJSON array the caller deletes, or NULL on ENOMEM or when sc and s disagree on the
 * step count.
 */
cJSON *gridems_plan_binds_json(const gridems_scenario_t *sc, const gridems_schedule_t *s);

#endif
