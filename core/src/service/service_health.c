/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What keeps the service degraded while the rest of the site goes on (docs/service.md,
 * "Reliability"):
 *   - plausibility at the edge: a reading or a capability beyond the site's physical bounds, or
 *     a reading stamped more than a minute ahead of the site clock (plausibility.h), is dropped
 * before anything keeps it (the billing peak, the load history, the state file, a plan), and its
 * device is held out of plans, in safe mode, until it has reported nothing implausible for
 * reliability.implausible_hold_seconds of site time;
 *   - the standing problems every status carries until they clear: implausible devices, stuck
 *     plugin instances (plugin_watch.c) and a state_dir that cannot be written.
 * Thread: the loop thread.
 * State: this file writes svc->health (service_internal.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"
#include "plugin_watch.h"
#include "service_internal.h"

void gridems__service_health_init(gridems_service_t *svc)
{
    gridems_plausible_limits(svc->cfg.site.import_limit_kw, svc->cfg.reliability.max_power_factor,
                             &svc->health.plausible);
}

double gridems__service_peak_ceiling_kw(const gridems_service_t *svc)
{
    return svc->health.plausible.power_kw;
}

/* Mark sd implausible (again) for why; the first time it goes to safe mode and out of plans. */
static void mark(gridems_service_t *svc, service_device_t *sd, const char *what, const char *why)
{
    int64_t now = gridems_clock_now_ms(&svc->clock);
    sd->implausible_until_ms = now + (int64_t)svc->cfg.reliability.implausible_hold_seconds * 1000;
    gridems_log_complain(&sd->implausible_log, GRIDEMS_LOG_ERR,
                         "device %s: implausible %s dropped: %s; the device is left out of plans "
                         "and held in safe mode",
                         sd->id, what, why);
    if (sd->implausible) {
        return;
    }
    sd->implausible = true;
    snprintf(sd->implausible_why, sizeof sd->implausible_why, "%s", why);
    if (sd->klass != GRIDEMS_DEV_METER && !svc->lifecycle.shutting_down) {
        gridems__service_device_safe(svc, sd);
    }
    gridems__service_health_changed(svc);
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
}

/* sd reported something plausible: back once the hold is over. Returns whether it is in. */
static bool unmark(gridems_service_t *svc, service_device_t *sd)
{
    if (!sd->implausible) {
        return true;
    }
    if (gridems_clock_now_ms(&svc->clock) < sd->implausible_until_ms) {
        return false;
    }
    sd->implausible = false;
    sd->implausible_why[0] = '\0';
    gridems_log_release(&sd->implausible_log, "device %s: plausible again; back in the plan",
                        sd->id);
    gridems__service_health_changed(svc);
    gridems__service_request_replan(svc, GRIDEMS__REPLAN_DEVIATION);
    return true;
}

bool gridems__service_reading_ok(gridems_service_t *svc, service_device_t *sd,
                                 const gridems_measurement_t *m)
{
    char why[160];
    if (!gridems_plausible_time(m->timestamp_ms, gridems_clock_now_ms(&svc->clock), why,
                                sizeof why) ||
        !gridems_plausible_reading(&svc->health.plausible, m, sd->capacity_kwh, why, sizeof why)) {
        mark(svc, sd, "reading", why);
        return false;
    }
    return unmark(svc, sd);
}

bool gridems__service_caps_ok(gridems_service_t *svc, service_device_t *sd,
                              const gridems_caps_t *caps)
{
    char why[160];
    if (!gridems_plausible_caps(&svc->health.plausible, caps, why, sizeof why)) {
        mark(svc, sd, "capabilities", why);
        return false;
    }
    return !sd->implausible || unmark(svc, sd);
}

void gridems__service_persist_result(gridems_service_t *svc, int what, int rc, int err_no,
                                     const char *detail)
{
    if (rc == 0) {
        /* Only a success of the same file clears its failure: another file in the directory
         * being writable says nothing about this one. */
        svc->health.persist_failing &= ~what;
        if (svc->health.persist_failing == 0 && svc->health.persist_problem[0] != '\0') {
            gridems_log_release(&svc->health.persist_log, "state_dir %s: saves succeed again",
                                svc->cfg.state_dir);
            svc->health.persist_problem[0] = '\0';
            gridems__service_health_changed(svc);
        }
        return;
    }
    svc->health.persist_failing |= what;
    /* The real errno, not the generic I/O error code: "No space left on device" tells an
     * operator what to do. Logged rate-limited: a full disk fails every save. */
    char problem[sizeof svc->health.persist_problem];
    snprintf(problem, sizeof problem, "state not persisted: %s",
             err_no != 0 ? strerror(err_no) : gridems_strerror(rc));
    gridems_log_complain(&svc->health.persist_log, GRIDEMS_LOG_ERR, "%s", detail);
    if (strcmp(problem, svc->health.persist_problem) != 0) {
        snprintf(svc->health.persist_problem, sizeof svc->health.persist_problem, "%s", problem);
        gridems__service_health_changed(svc);
    }
}

typedef struct list_arg_s {
    char *out;
    size_t len;
    int n;
} list_arg_t;

static int list_implausible(void *arg, gridems__device_t *dev)
{
    list_arg_t *l = arg;
    const service_device_t *sd = gridems__device_service_data(dev);
    if (sd == NULL || !sd->implausible) {
        return 0;
    }
    size_t used = strlen(l->out);
    if (l->n++ < 5) {
        snprintf(l->out + used, l->len - used, "%s%s (%s)",
                 l->n > 1 ? ", " : "implausible: ", sd->id, sd->implausible_why);
    } else if (l->n == 6) {
        snprintf(l->out + used, l->len - used, " and more");
    }
    return 0;
}

void gridems__service_problems(const gridems_service_t *svc, bool with_load, char *out, size_t len)
{
    snprintf(out, len, "%s", with_load ? svc->status.load_problem : "");
    const char *parts[] = {svc->health.problem, svc->health.persist_problem};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t used = strlen(out);
        if (parts[i][0] != '\0' && used < len) {
            snprintf(out + used, len - used, "%s%s", used > 0 ? "; " : "", parts[i]);
        }
    }
}

void gridems__service_health_changed(gridems_service_t *svc)
{
    char text[sizeof svc->health.problem] = "";
    if (svc->host_ready) {
        list_arg_t l = {text, sizeof text, 0};
        gridems__host_foreach_device(svc->host, list_implausible, &l);
    }
    size_t used = strlen(text);
    gridems__plugin_watch_describe(svc, text + used, sizeof text - used, used > 0 ? "; " : "");
    snprintf(svc->health.problem, sizeof svc->health.problem, "%s", text);
    if (svc->status.base_state == NULL) {
        return; /* before the first status */
    }
    char reason[sizeof svc->status.base_reason];
    snprintf(reason, sizeof reason, "%s", svc->status.base_reason);
    gridems__service_set_status(svc, svc->status.base_state, reason);
}
