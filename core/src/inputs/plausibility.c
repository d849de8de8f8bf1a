/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Physical plausibility of readings and capabilities (plausibility.h). */
#include "plausibility.h"

#include <math.h>
#include <stdio.h>

#include "gridems/scenario.h"

void gridems_plausible_limits(double import_limit_kw, double factor, gridems_plausible_t *lim)
{
    /* The optimizer refuses a scenario with any magnitude above GRIDEMS_SCENARIO_MAX_MAGNITUDE;
     * the energy bound (power x a year) must stay below it too, with room for sums. */
    double cap = GRIDEMS_SCENARIO_MAX_MAGNITUDE / (GRIDEMS_PLAUSIBLE_ENERGY_HOURS * 1000.0);
    double kw = import_limit_kw * factor;
    lim->power_kw = isfinite(kw) && kw > 0 && kw < cap ? kw : cap;
    lim->energy_kwh = lim->power_kw * GRIDEMS_PLAUSIBLE_ENERGY_HOURS;
}

static bool over(double v, double bound, const char *field, const char *unit, char *why,
                 size_t whylen)
{
    if (fabs(v) <= bound) {
        return false;
    }
    snprintf(why, whylen, "%s %g is beyond the site's physical bound of %g %s", field, v, bound,
             unit);
    return true;
}

bool gridems_plausible_reading(const gridems_plausible_t *lim, const gridems_measurement_t *m,
                               double capacity_kwh, char *why, size_t whylen)
{
    if ((m->valid & GRIDEMS_MEAS_POWER) &&
        over(m->power_kw, lim->power_kw, "power_kw", "kW", why, whylen)) {
        return false;
    }
    if (m->valid & GRIDEMS_MEAS_SOC) {
        if (over(m->soc_kwh, lim->energy_kwh, "soc_kwh", "kWh", why, whylen)) {
            return false;
        }
        if (m->soc_kwh < 0 ||
            (capacity_kwh >= 0 && m->soc_kwh > capacity_kwh * GRIDEMS_PLAUSIBLE_SOC_SLACK)) {
            snprintf(why, whylen, "soc_kwh %g is outside the device's own capacity [0, %g] kWh",
                     m->soc_kwh, capacity_kwh >= 0 ? capacity_kwh : lim->energy_kwh);
            return false;
        }
    }
    if ((m->valid & GRIDEMS_MEAS_ENERGY) &&
        over(m->energy_kwh, GRIDEMS_SCENARIO_MAX_MAGNITUDE, "energy_kwh", "kWh", why, whylen)) {
        return false;
    }
    return true;
}

bool gridems_plausible_time(int64_t timestamp_ms, int64_t now_ms, char *why, size_t whylen)
{
    /* Compared against now + the bound: a plugin's timestamp may be any int64_t, and
     * timestamp_ms - now_ms could overflow. */
    if (timestamp_ms <= now_ms + GRIDEMS_PLAUSIBLE_AHEAD_MS) {
        return true;
    }
    snprintf(why, whylen, "timestamp_ms %lld is %.0f s ahead of the site clock (at most %d s)",
             (long long)timestamp_ms, ((double)timestamp_ms - (double)now_ms) / 1000.0,
             GRIDEMS_PLAUSIBLE_AHEAD_MS / 1000);
    return false;
}

bool gridems_plausible_caps(const gridems_plausible_t *lim, const gridems_caps_t *caps, char *why,
                            size_t whylen)
{
    if (caps->klass == GRIDEMS_DEV_BATTERY) {
        const gridems_battery_caps_t *b = &caps->u.battery;
        return !(over(b->capacity_kwh, lim->energy_kwh, "capacity_kwh", "kWh", why, whylen) ||
                 over(b->charge_max_kw, lim->power_kw, "charge_max_kw", "kW", why, whylen) ||
                 over(b->discharge_max_kw, lim->power_kw, "discharge_max_kw", "kW", why, whylen) ||
                 over(b->ramp_kw_per_s, lim->power_kw, "ramp_kw_per_s", "kW/s", why, whylen) ||
                 over(b->cycle_cost_per_kwh, GRIDEMS_SCENARIO_MAX_MAGNITUDE, "cycle_cost_per_kwh",
                      "per kWh", why, whylen));
    }
    if (caps->klass != GRIDEMS_DEV_FLEX_LOAD) {
        return true;
    }
    const gridems_flex_caps_t *f = &caps->u.flex;
    if (over(f->power_cap_kw, lim->power_kw, "power_cap_kw", "kW", why, whylen)) {
        return false;
    }
    for (uint32_t i = 0; i < f->n_jobs; i++) {
        const gridems_flex_job_t *j = &f->jobs[i];
        if (over(j->power_max_kw, lim->power_kw, "jobs[].power_max_kw", "kW", why, whylen) ||
            over(j->energy_remaining_kwh, lim->energy_kwh, "jobs[].energy_remaining_kwh", "kWh",
                 why, whylen) ||
            over(j->energy_delivered_kwh, lim->energy_kwh, "jobs[].energy_delivered_kwh", "kWh",
                 why, whylen)) {
            return false;
        }
    }
    return true;
}
