/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What a solved plan could not do, in words for the status and the log: base load it leaves
 * unserved, flexible energy it leaves undelivered by the deadline, batteries it leaves short of
 * their final target. The optimizer prices these as penalties rather than failing, so a plan
 * that carries them is still the best there is, but the site is not getting what it asked for,
 * and saying nothing would hide it (an unmeetable DR event, a job that cannot finish).
 *
 * The text names what and how much, and for unserved load why: the import cap in force at the
 * worst step (a DR event, by its id, or the site's import limit) against the inflexible load,
 * e.g. "plan 12: 340 kWh unserved load (DR event evt-7 caps import at 5000 kW below the
 * 9000 kW inflexible load); 120 kWh of job j3 unmet". Amounts under GRIDEMS_PLAN_REPORT_MIN_KWH
 * are solver tolerance, not shortfalls.
 *
 * A job's reserve is not a shortfall. The service plans each job to finish a reserve before its
 * deadline (docs/service.md, "Deadlines with a reserve") and runs a job in its reserve at full
 * power, so energy a plan leaves for the reserve, up to what the reserve can deliver at the
 * job's power, still arrives by the deadline. It is said, after the shortfalls: "plan 14: job
 * j3 runs into its reserve (94 of 600 kWh)". More than the reserve can deliver is a shortfall,
 * and the whole amount is named as unmet.
 *
 * Pure: no I/O, no clock. Threads: any; the inputs are borrowed for the call.
 */
#ifndef GRIDEMS_PLAN_REPORT_H
#define GRIDEMS_PLAN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "dr_events.h"
#include "gridems/optimizer.h"
#include "gridems/scenario.h"

#define GRIDEMS_PLAN_REPORT_MIN_KWH 0.01

/*
 * gridems_plan_report: describe the shortfalls of plan `plan_id` (schedule s solved for sc, whose
 * grid starts at grid_start_ms with steps of step_ms).
 * Parameters: sc, s (borrowed); events (borrowed, may be NULL: a cap is then named by its
 *   limit only); reserve_kwh (borrowed, may be NULL: no job has a reserve): for each flexible
 *   load of sc, the energy its reserve can still deliver after the step the plan must finish it
 *   by, kWh >= 0; out/outlen (borrowed buffer): the shortfalls, then the jobs that run into
 *   their reserve, truncated to fit; "" when there is nothing to say.
 * Returns: 1 when the plan carries a shortfall, 0 when it is clean (out may still name jobs
 *   that run into their reserve).
 */
int gridems_plan_report(uint64_t plan_id, const gridems_scenario_t *sc, const gridems_schedule_t *s,
                        const gridems_dr_events_t *events, int64_t grid_start_ms, int64_t step_ms,
                        const double *reserve_kwh, char *out, size_t outlen);

#endif
