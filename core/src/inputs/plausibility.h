/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Physical plausibility of what devices report, checked at the edge before anything is kept,
 * planned or persisted (docs/service.md, "Plausibility").
 *
 * The bounds come from the site, not from the device: a power beyond
 * reliability.max_power_factor times site.import_limit_kw cannot flow through the site's
 * connection (and no battery or cluster behind it can be that big); an energy beyond that power
 * for a year cannot be stored or owed; a battery's state of charge beyond its own capacity is no
 * reading. Every bound also stays within the optimizer's magnitude bound
 * (GRIDEMS_SCENARIO_MAX_MAGNITUDE), so a device that passes can never make a scenario invalid.
 *
 * Pure functions: no state, no clock, no I/O. Thread: any.
 */
#ifndef GRIDEMS_PLAUSIBILITY_H
#define GRIDEMS_PLAUSIBILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"

/* Hours of the largest power that bound any energy (a year). */
#define GRIDEMS_PLAUSIBLE_ENERGY_HOURS 8760.0
/* Slack on a battery's state of charge against its capacity (meter rounding). */
#define GRIDEMS_PLAUSIBLE_SOC_SLACK 1.001
/* How far ahead of the site clock a reading's time may be (a device clock a little fast): the
 * SDK's promise to plugins (plugin.h). A reading from later than that would look fresh until its
 * time came, hiding a device that went silent from the staleness check. */
#define GRIDEMS_PLAUSIBLE_AHEAD_MS GRIDEMS_READING_MAX_AHEAD_MS

typedef struct gridems_plausible_s {
    double power_kw;   /* largest |power| of any reading or capability */
    double energy_kwh; /* largest energy of any capability or reading */
} gridems_plausible_t;

/*
 * gridems_plausible_limits: the bounds for a site whose connection imports at most
 * import_limit_kw (> 0), with factor (>= 1) as reliability.max_power_factor.
 * lim: borrowed, overwritten.
 */
void gridems_plausible_limits(double import_limit_kw, double factor, gridems_plausible_t *lim);

/*
 * gridems_plausible_reading: whether a measurement (the host's validated copy: finite values,
 * only the `valid` ones meaningful) can be real. capacity_kwh is the device's own capacity when
 * known (a battery), else a negative number.
 * Returns true, or false with one line naming the field, the value and the bound in why
 * (borrowed buffer of whylen bytes), e.g. "power_kw 9e+08 is beyond 80000 kW (4 x
 * site.import_limit_kw)".
 */
bool gridems_plausible_reading(const gridems_plausible_t *lim, const gridems_measurement_t *m,
                               double capacity_kwh, char *why, size_t whylen);

/*
 * gridems_plausible_time: whether a reading taken at timestamp_ms can be real at site time
 * now_ms: not more than GRIDEMS_PLAUSIBLE_AHEAD_MS ahead of it. Returns true, or false with the
 * field, how far ahead and the bound in why.
 */
bool gridems_plausible_time(int64_t timestamp_ms, int64_t now_ms, char *why, size_t whylen);

/*
 * gridems_plausible_caps: the same for a device's capabilities (as the host validated them: the
 * class's own rules hold). Returns true, or false with the field and the bound in why.
 */
bool gridems_plausible_caps(const gridems_plausible_t *lim, const gridems_caps_t *caps, char *why,
                            size_t whylen);

#endif
