/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The billing period that holds a time (site.billing_period: a day, a month, or the whole run),
 * in the site's local time: the demand charge is on each period's peak, so the planner, the peak
 * target and the state store's peak record all name the period by the key this gives. Pure
 * arithmetic on the proleptic Gregorian calendar with a fixed UTC offset (no DST).
 */
#ifndef GRIDEMS_BILLING_PERIOD_H
#define GRIDEMS_BILLING_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include "service_config.h" /* gridems_billing_period_t */

/* Buffer size that fits every billing-period key, NUL included ("month:2026-05"). */
#define GRIDEMS_BILLING_KEY_MAX 32

/*
 * gridems_billing_period: the billing period that contains now_ms, in the site's local time
 * (offset_min minutes east of UTC): its key ("month:2026-05", "day:2026-05-11", or "all" for
 * GRIDEMS_BILLING_NONE) and its bounds [start, end) in ms (INT64_MIN / INT64_MAX for "all").
 * Parameters: now_ms (within the ISO range of timeutil.h); kind; offset_min (within +-18:00);
 *   key (borrowed buffer, may be NULL), keylen (GRIDEMS_BILLING_KEY_MAX suffices);
 *   start_ms, end_ms (borrowed, may be NULL).
 * Returns: 0 or GRIDEMS_EINVAL (out-of-range input or a too small key buffer). Thread: any.
 */
int gridems_billing_period(int64_t now_ms, gridems_billing_period_t kind, int offset_min, char *key,
                           size_t keylen, int64_t *start_ms, int64_t *end_ms);

#endif
