/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The shortfalls of a plan, in words; see plan_report.h. */
#include "plan_report.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Jobs and batteries named one by one; the rest are counted. */
enum { MAX_NAMED = 5 };

typedef struct text_s {
    char *buf;
    size_t len, used;
    int parts;
} text_t;

__attribute__((format(printf, 2, 3))) static void add(text_t *t, const char *fmt, ...)
{
    if (t->used + 1 >= t->len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
    va_end(ap);
    if (n > 0) {
        t->used += (size_t)n < t->len - t->used ? (size_t)n : t->len - t->used - 1;
    }
}

static void part(text_t *t)
{
    add(t, "%s", t->parts++ == 0 ? ": " : "; ");
}

/* The cap on import at step k: the tightest DR event, else the site's limit. */
static void explain_unserved(text_t *t, const gridems_scenario_t *sc,
                             const gridems_dr_events_t *events, int64_t grid_start_ms,
                             int64_t step_ms, int k)
{
    double cap = sc->import_limit_kw;
    int by = -1;
    for (int e = 0; e < sc->n_events; e++) {
        const gridems_event_t *ev = &sc->events[e];
        if (k >= ev->start_step && k < ev->end_step && ev->import_limit_kw < cap) {
            cap = ev->import_limit_kw;
            by = e;
        }
    }
    const char *id = NULL;
    int64_t a = grid_start_ms + (int64_t)k * step_ms;
    for (size_t i = 0; by >= 0 && events != NULL && i < events->n && id == NULL; i++) {
        const gridems_dr_event_t *ev = &events->ev[i];
        if (ev->start_ms < a + step_ms && ev->end_ms > a && ev->import_limit_kw == cap) {
            id = ev->id;
        }
    }
    double load = sc->base_load_kw[k] - (sc->pv_kw != NULL ? sc->pv_kw[k] : 0.0);
    if (by >= 0) {
        add(t, " (DR event %s caps import at %.0f kW", id != NULL ? id : "(unnamed)", cap);
    } else {
        add(t, " (the site's import limit is %.0f kW", cap);
    }
    if (load > cap) {
        add(t, " below the %.0f kW inflexible load)", load);
    } else {
        add(t, ", and the batteries cannot cover the %.0f kW inflexible load)", load);
    }
}

static void number(text_t *t, double kwh)
{
    add(t, kwh >= 10 ? "%.0f" : "%.2g", kwh);
}

static void amount(text_t *t, double kwh)
{
    number(t, kwh);
    add(t, " kWh");
}

/* Whether job j's unmet energy fits in what its reserve can still deliver. */
static bool in_reserve(const double *reserve_kwh, int j, double unmet_kwh)
{
    return reserve_kwh != NULL && unmet_kwh <= reserve_kwh[j];
}

int gridems_plan_report(uint64_t plan_id, const gridems_scenario_t *sc, const gridems_schedule_t *s,
                        const gridems_dr_events_t *events, int64_t grid_start_ms, int64_t step_ms,
                        const double *reserve_kwh, char *out, size_t outlen)
{
    if (out != NULL && outlen > 0) {
        out[0] = '\0';
    }
    if (sc == NULL || s == NULL || out == NULL || outlen == 0 || s->steps != sc->steps) {
        return 0;
    }
    char buf[1024];
    text_t t = {buf, sizeof buf, 0, 0};
    buf[0] = '\0';
    add(&t, "plan %" PRIu64, plan_id);
    double dt = sc->step_minutes / 60.0, unserved = 0.0, worst = 0.0;
    int worst_k = -1;
    for (int k = 0; s->unserved_kw != NULL && k < s->steps; k++) {
        unserved += s->unserved_kw[k] * dt;
        if (s->unserved_kw[k] > worst) {
            worst = s->unserved_kw[k];
            worst_k = k;
        }
    }
    if (unserved >= GRIDEMS_PLAN_REPORT_MIN_KWH && worst_k >= 0) {
        part(&t);
        amount(&t, unserved);
        add(&t, " unserved load");
        explain_unserved(&t, sc, events, grid_start_ms, step_ms, worst_k);
    }
    int named = 0, more = 0;
    for (int j = 0; j < s->n_flex_loads && j < sc->n_flex_loads; j++) {
        double unmet = s->flex_loads[j].unmet_kwh;
        if (!(unmet >= GRIDEMS_PLAN_REPORT_MIN_KWH) || in_reserve(reserve_kwh, j, unmet)) {
            continue;
        }
        if (named++ >= MAX_NAMED) {
            more++;
            continue;
        }
        part(&t);
        amount(&t, unmet);
        add(&t, " of job %s unmet", sc->flex_loads[j].id);
    }
    if (more > 0) {
        add(&t, " (and %d more jobs)", more);
    }
    named = more = 0;
    for (int b = 0; b < s->n_batteries && b < sc->n_batteries; b++) {
        const double *soc = s->batteries[b].soc_kwh;
        double short_kwh = soc != NULL ? sc->batteries[b].final_soc_min_kwh - soc[s->steps] : 0.0;
        if (!(short_kwh >= GRIDEMS_PLAN_REPORT_MIN_KWH)) {
            continue;
        }
        if (named++ >= MAX_NAMED) {
            more++;
            continue;
        }
        part(&t);
        amount(&t, short_kwh);
        add(&t, " short of battery %s's final energy target", sc->batteries[b].id);
    }
    if (more > 0) {
        add(&t, " (and %d more batteries)", more);
    }
    int shortfalls = t.parts;
    named = more = 0;
    for (int j = 0; j < s->n_flex_loads && j < sc->n_flex_loads; j++) {
        double unmet = s->flex_loads[j].unmet_kwh;
        if (!(unmet >= GRIDEMS_PLAN_REPORT_MIN_KWH) || !in_reserve(reserve_kwh, j, unmet)) {
            continue;
        }
        if (named++ >= MAX_NAMED) {
            more++;
            continue;
        }
        part(&t);
        add(&t, "job %s runs into its reserve (", sc->flex_loads[j].id);
        number(&t, unmet);
        add(&t, " of ");
        amount(&t, reserve_kwh[j]);
        add(&t, ")");
    }
    if (more > 0) {
        add(&t, " (and %d more jobs)", more);
    }
    if (t.parts > 0) {
        snprintf(out, outlen, "%s", buf);
    }
    return shortfalls > 0;
}
