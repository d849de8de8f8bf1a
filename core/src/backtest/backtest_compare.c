/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The three columns of a backtest (backtest.md "What is compared") on the same prices, the
 * same realised load and the same jobs: what gridems did (the ledger), the baseline (batteries
 * idle, each job at full power from its arrival, sharing the cluster's cap in arrival order) and
 * perfect foresight (one LP over the period with the optimizer library), with the report and the
 * summary.
 *
 * Money: energy = sum of import kWh x price; demand charge = the charge x the largest per-step
 * mean import, once for the period; wear = cycle cost x kWh discharged; the change in stored
 * energy is valued at the period's mean import price, and total = energy + demand + wear - that
 * value. A week's figures (weeks[]) count its energy, wear and stored-energy change, and the
 * part of the demand charge it added: the charge on how far it raised the period's running peak;
 * so the weeks add up to the period.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "gridems/optimizer.h"
#include "gridems/scenario.h"
#include "timeutil.h"

static double dt_hours(const bt_ledger_t *l)
{
    return (double)l->step_ms / 3600000.0;
}

/* Costs of an import series (kW per step) with the given wear and stored-energy change. */
static void price_out(bt_result_t *r, const bt_compare_t *c, const bt_ledger_t *l,
                      const gridems_service_config_t *cfg, double wear, double stored_change_kwh)
{
    double dt = dt_hours(l);
    r->energy_cost = 0;
    r->import_kwh = 0;
    r->peak_kw = 0;
    for (int k = 0; k < l->steps; k++) {
        double g = r->import_kw[k];
        r->energy_cost += g * dt * c->price[k];
        r->import_kwh += g * dt;
        r->peak_kw = fmax(r->peak_kw, g);
    }
    r->demand_charge = cfg->site.demand_charge_per_kw * r->peak_kw;
    r->battery_wear = wear;
    r->stored_energy_value = stored_change_kwh * c->mean_price;
    r->total = r->energy_cost + r->demand_charge + r->battery_wear - r->stored_energy_value;
}

static int64_t period_end(const bt_ledger_t *l)
{
    return l->start_ms + (int64_t)l->steps * l->step_ms;
}

/* Jobs due inside the period count in "jobs"; one whose deadline is past its end does not. */
static bool job_counts(const bt_ledger_t *l, const bt_job_t *j)
{
    return j->deadline_ms <= period_end(l) && j->arrival_ms >= l->start_ms;
}

static void gridems_column(bt_compare_t *c, const bt_ledger_t *l,
                           const gridems_service_config_t *cfg)
{
    bt_result_t *r = &c->gridems;
    double wear = 0, stored = 0;
    for (int k = 0; k < l->steps; k++) {
        double kwh = l->base_kwh[k] + l->cluster_kwh[k] + l->charge_kwh[k] - l->discharge_kwh[k];
        r->import_kw[k] = fmax(0.0, kwh) / dt_hours(l);
    }
    for (int i = 0; i < l->n_devs; i++) {
        if (l->devs[i].kind == BT_DEV_BATTERY) {
            stored += l->soc_end[i] - l->soc_start[i];
        }
    }
    for (int k = 0; k < l->steps; k++) {
        wear += l->wear_cost[k];
    }
    price_out(r, c, l, cfg, wear, stored);
    for (int i = 0; i < l->n_jobs; i++) {
        const bt_job_t *j = &l->jobs[i];
        if (!job_counts(l, j)) {
            continue;
        }
        r->jobs++;
        if (j->finished && j->finished_ms <= j->deadline_ms) {
            r->jobs_on_time++;
        }
        r->late_kwh += fmax(0.0, j->energy_kwh - j->delivered_by_deadline_kwh);
    }
}

/* Arrival order, ties by id: the order a cluster without a price signal serves jobs in. */
static int by_arrival(const void *a, const void *b)
{
    const bt_job_t *x = *(const bt_job_t *const *)a, *y = *(const bt_job_t *const *)b;
    if (x->arrival_ms != y->arrival_ms) {
        return x->arrival_ms < y->arrival_ms ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The clusters among the devices, how many report a cap, and those caps summed. */
static int count_clusters(const bt_ledger_t *l, int *capped, double *caps_kw)
{
    int n = 0;
    *capped = 0;
    *caps_kw = 0.0;
    for (int i = 0; i < l->n_devs; i++) {
        if (l->devs[i].kind == BT_DEV_CLUSTER) {
            n++;
            *capped += l->cluster_cap_kw[i] > 0;
            *caps_kw += l->cluster_cap_kw[i];
        }
    }
    return n;
}

/* The baseline clusters: each runs its own jobs in arrival order at full power within its cap
 * (and all of them within the site's compute limit, in device order), minute by minute (every
 * arrival and deadline of the jobs lies on whole minutes). */
static void baseline_column(bt_compare_t *c, const bt_ledger_t *l,
                            const gridems_service_config_t *cfg)
{
    bt_result_t *r = &c->baseline;
    const int64_t tick = 60000;
    double *left = calloc((size_t)(l->n_jobs > 0 ? l->n_jobs : 1), sizeof(double));
    int64_t *done_at = calloc((size_t)(l->n_jobs > 0 ? l->n_jobs : 1), sizeof(int64_t));
    const bt_job_t **sorted = calloc((size_t)(l->n_jobs > 0 ? l->n_jobs : 1), sizeof *sorted);
    if (left == NULL || done_at == NULL || sorted == NULL) {
        free(left);
        free(done_at);
        free(sorted);
        return;
    }
    for (int i = 0; i < l->n_jobs; i++) {
        left[i] = l->jobs[i].energy_kwh;
        done_at[i] = INT64_MAX;
        sorted[i] = &l->jobs[i];
    }
    qsort(sorted, (size_t)l->n_jobs, sizeof *sorted, by_arrival);
    double site_cap = cfg->site.has_compute_limit ? cfg->site.compute_limit_kw : INFINITY;
    double *cluster = calloc((size_t)l->steps, sizeof(double));
    for (int64_t t = l->start_ms; cluster != NULL && t < period_end(l); t += tick) {
        double site_room = site_cap;
        for (int d = 0; d < l->n_devs; d++) {
            if (l->devs[d].kind != BT_DEV_CLUSTER) {
                continue;
            }
            double own = l->cluster_cap_kw[d] > 0 ? l->cluster_cap_kw[d] : INFINITY;
            double room = fmin(own, site_room), used = 0.0;
            for (int n = 0; n < l->n_jobs; n++) {
                int i = (int)(sorted[n] - l->jobs);
                const bt_job_t *j = &l->jobs[i];
                if (j->dev != d || j->arrival_ms > t || left[i] <= 0 || room <= 0) {
                    continue;
                }
                double p = fmin(j->power_max_kw, room);
                double kwh = fmin(left[i], p * (double)tick / 3600000.0);
                left[i] -= kwh;
                room -= p;
                used += p;
                cluster[(t - l->start_ms) / l->step_ms] += kwh;
                if (left[i] <= 1e-9) {
                    left[i] = 0;
                    done_at[i] = t + tick;
                }
            }
            site_room -= used;
        }
    }
    for (int k = 0; k < l->steps; k++) {
        r->import_kw[k] = (l->base_kwh[k] + (cluster != NULL ? cluster[k] : 0)) / dt_hours(l);
    }
    price_out(r, c, l, cfg, 0, 0);
    for (int i = 0; i < l->n_jobs; i++) {
        const bt_job_t *j = &l->jobs[i];
        if (!job_counts(l, j)) {
            continue;
        }
        r->jobs++;
        if (done_at[i] <= j->deadline_ms) {
            r->jobs_on_time++;
        } else {
            r->late_kwh += fmin(j->energy_kwh, left[i]);
        }
    }
    free(cluster);
    free(left);
    free(done_at);
    free(sorted);
}

static double caps_number(const cJSON *caps, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(caps, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* The perfect-foresight scenario: the realised load, every price, every job from the start. */
static int pf_scenario(const bt_compare_t *c, const bt_ledger_t *l,
                       const gridems_service_config_t *cfg, gridems_scenario_t *sc)
{
    int rc = gridems_scenario_init(sc, l->steps, (double)l->step_ms / 60000.0);
    if (rc != 0) {
        return rc;
    }
    char iso[GRIDEMS_TIME_ISO_BUFLEN];
    gridems_time_format_iso(l->start_ms, cfg->site.utc_offset_min, iso, sizeof iso);
    gridems_scenario_set_text(&sc->start, iso);
    gridems_scenario_set_text(&sc->currency, cfg->site.currency);
    double dt = dt_hours(l);
    for (int k = 0; k < l->steps; k++) {
        sc->import_per_kwh[k] = c->price[k];
        sc->export_per_kwh[k] = 0;
        sc->base_load_kw[k] = l->base_kwh[k] / dt;
    }
    sc->import_limit_kw = cfg->site.import_limit_kw;
    sc->export_limit_kw = cfg->site.export_limit_kw;
    sc->demand_charge_per_kw = cfg->site.demand_charge_per_kw;
    sc->peak_so_far_kw = 0;
    sc->unmet_flexible_per_kwh = cfg->planner.unmet_flexible_per_kwh;
    sc->unserved_load_per_kwh = cfg->planner.unserved_load_per_kwh;
    sc->final_soc_shortfall_per_kwh = cfg->planner.final_soc_shortfall_per_kwh;
    /* The compute cap as the service plans it (docs/service.md, "Several flexible devices"):
     * the site's limit and the clusters' caps summed when every cluster has one; with two or
     * more clusters each capped one is a cluster of the program and holds its own jobs. */
    int capped;
    double caps_kw;
    int clusters = count_clusters(l, &capped, &caps_kw);
    double cap = clusters > 0 && capped == clusters ? caps_kw : -1;
    if (cfg->site.has_compute_limit) {
        cap = cap > 0 ? fmin(cap, cfg->site.compute_limit_kw) : cfg->site.compute_limit_kw;
    }
    if (cap > 0) {
        sc->has_compute_limit = true;
        sc->compute_limit_kw = cap;
    }
    for (int i = 0; clusters >= 2 && i < l->n_devs && rc == 0; i++) {
        if (l->devs[i].kind == BT_DEV_CLUSTER && l->cluster_cap_kw[i] > 0) {
            gridems_cluster_t cl = {(char *)l->devs[i].name, l->cluster_cap_kw[i]};
            rc = gridems_scenario_add_cluster(sc, &cl);
        }
    }
    for (int i = 0; i < l->n_devs && rc == 0; i++) {
        if (l->devs[i].kind != BT_DEV_BATTERY || l->first_caps[i] == NULL) {
            continue;
        }
        const cJSON *caps = l->first_caps[i];
        gridems_battery_t b;
        memset(&b, 0, sizeof b);
        b.id = (char *)l->devs[i].name;
        b.capacity_kwh = caps_number(caps, "capacity_kwh", 0);
        b.soc_min_kwh = caps_number(caps, "soc_min_kwh", 0);
        b.soc_max_kwh = caps_number(caps, "soc_max_kwh", b.capacity_kwh);
        b.soc_kwh = l->soc_start[i];
        b.final_soc_min_kwh = l->soc_start[i];
        b.charge_max_kw = caps_number(caps, "charge_max_kw", 0);
        b.discharge_max_kw = caps_number(caps, "discharge_max_kw", 0);
        b.charge_efficiency = caps_number(caps, "charge_efficiency", 1);
        b.discharge_efficiency = caps_number(caps, "discharge_efficiency", 1);
        b.cycle_cost_per_kwh = l->devs[i].cycle_cost_per_kwh;
        rc = gridems_scenario_add_battery(sc, &b);
    }
    int64_t end = period_end(l);
    for (int i = 0; i < l->n_jobs && rc == 0; i++) {
        const bt_job_t *j = &l->jobs[i];
        if (j->arrival_ms >= end) {
            continue;
        }
        gridems_flex_load_t f;
        memset(&f, 0, sizeof f);
        f.id = (char *)j->id;
        f.power_max_kw = j->power_max_kw;
        int64_t from = j->arrival_ms > l->start_ms ? j->arrival_ms : l->start_ms;
        f.earliest_step = (int)((from - l->start_ms + l->step_ms - 1) / l->step_ms);
        int64_t until = j->deadline_ms < end ? j->deadline_ms : end;
        f.deadline_step = (int)((until - l->start_ms) / l->step_ms);
        /* A job due after the period must do inside it only what it could not do after it at
         * full power. */
        double after_h = j->deadline_ms > end ? (double)(j->deadline_ms - end) / 3600000.0 : 0;
        f.energy_kwh = fmax(0.0, j->energy_kwh - j->power_max_kw * after_h);
        if (clusters >= 2 && l->cluster_cap_kw[j->dev] > 0) {
            f.cluster = (char *)l->devs[j->dev].name;
        }
        if (f.deadline_step <= f.earliest_step || f.energy_kwh <= 0) {
            continue;
        }
        rc = gridems_scenario_add_flex_load(sc, &f);
    }
    return rc;
}

static void pf_column(bt_compare_t *c, const bt_ledger_t *l, const gridems_service_config_t *cfg,
                      char **scenario_out)
{
    bt_result_t *r = &c->pf;
    gridems_scenario_t sc;
    memset(&sc, 0, sizeof sc);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    gridems_optimizer_t *opt = NULL;
    int rc = pf_scenario(c, l, cfg, &sc);
    if (rc == 0 && scenario_out != NULL) {
        *scenario_out = gridems_scenario_to_json(&sc);
    }
    gridems_optimizer_opts_t opts = {0, false, false};
    if (rc == 0) {
        rc = gridems_optimizer_create(&opt, &opts);
    }
    if (rc == 0) {
        rc = gridems_optimizer_solve(opt, &sc, &s, c->pf_error, sizeof c->pf_error);
    }
    if (rc == 0) {
        double dt = dt_hours(l), wear = 0, stored = 0;
        for (int k = 0; k < l->steps; k++) {
            r->import_kw[k] = s.grid_import_kw[k];
        }
        for (int b = 0; b < s.n_batteries; b++) {
            for (int k = 0; k < l->steps; k++) {
                wear += s.batteries[b].discharge_kw[k] * dt * sc.batteries[b].cycle_cost_per_kwh;
            }
            stored += s.batteries[b].soc_kwh[l->steps] - s.batteries[b].soc_kwh[0];
        }
        price_out(r, c, l, cfg, wear, stored);
        r->objective = s.objective;
        for (int i = 0; i < l->n_jobs; i++) {
            const bt_job_t *j = &l->jobs[i];
            if (!job_counts(l, j)) {
                continue;
            }
            r->jobs++;
            double unmet = 0;
            for (int f = 0; f < sc.n_flex_loads; f++) {
                if (strcmp(sc.flex_loads[f].id, j->id) == 0) {
                    unmet = s.flex_loads[f].unmet_kwh;
                }
            }
            r->jobs_on_time += unmet <= 1e-6;
            r->late_kwh += unmet;
        }
        c->pf_error[0] = '\0';
    } else if (c->pf_error[0] == '\0') {
        snprintf(c->pf_error, sizeof c->pf_error, "perfect foresight: cannot solve (error %d)", rc);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}

int bt_compare(const bt_ledger_t *l, const bt_prices_t *prices, const gridems_service_config_t *cfg,
               bt_compare_t *out, char **scenario_out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t n = (size_t)l->steps;
    out->price = calloc(n, sizeof(double));
    out->gridems.import_kw = calloc(n, sizeof(double));
    out->baseline.import_kw = calloc(n, sizeof(double));
    out->pf.import_kw = calloc(n, sizeof(double));
    if (!out->price || !out->gridems.import_kw || !out->baseline.import_kw || !out->pf.import_kw) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    double sum = 0;
    for (int k = 0; k < l->steps; k++) {
        int64_t t0 = l->start_ms + k * l->step_ms;
        out->price[k] = bt_prices_mean(prices, t0, t0 + l->step_ms);
        sum += out->price[k];
    }
    out->mean_price = sum / (double)l->steps;
    gridems_column(out, l, cfg);
    baseline_column(out, l, cfg);
    pf_column(out, l, cfg, scenario_out);
    if (out->pf_error[0] != '\0') {
        snprintf(err, errlen, "%s", out->pf_error);
        return 1;
    }
    return 0;
}

void bt_compare_free(bt_compare_t *c)
{
    free(c->price);
    free(c->gridems.import_kw);
    free(c->baseline.import_kw);
    free(c->pf.import_kw);
    memset(c, 0, sizeof *c);
}

/* ---- ## Report ---- */

/* Money and energy in the report: rounded, so the text is short and reads the same on every
 * machine (the sums are computed in one order, so they are equal before rounding too). */
static double r2(double v)
{
    double r = round(v * 100.0) / 100.0;
    return r == 0 ? 0 : r;
}

static double ratio(double num, double den)
{
    return fabs(den) < 1e-9 ? 0 : num / den;
}

static void add_result(cJSON *root, const char *key, const bt_result_t *r, bool pf, uint64_t plans)
{
    cJSON *o = cJSON_AddObjectToObject(root, key);
    cJSON_AddNumberToObject(o, "energy_cost", r2(r->energy_cost));
    cJSON_AddNumberToObject(o, "demand_charge", r2(r->demand_charge));
    cJSON_AddNumberToObject(o, "battery_wear", r2(r->battery_wear));
    cJSON_AddNumberToObject(o, "stored_energy_value", r2(r->stored_energy_value));
    cJSON_AddNumberToObject(o, "total", r2(r->total));
    cJSON_AddNumberToObject(o, "peak_kw", r2(r->peak_kw));
    cJSON_AddNumberToObject(o, "import_kwh", r2(r->import_kwh));
    cJSON_AddNumberToObject(o, "jobs", r->jobs);
    cJSON_AddNumberToObject(o, "jobs_on_time", r->jobs_on_time);
    cJSON_AddNumberToObject(o, "late_kwh", r2(r->late_kwh));
    cJSON_AddNumberToObject(o, "plans", (double)plans);
    if (pf) {
        cJSON_AddNumberToObject(o, "objective", r2(r->objective));
    }
}

typedef struct week_s {
    int64_t start_ms;
    double gridems, baseline;
} week_t;

/* A battery's stored energy at the end of week w (-1: the period's start). */
static double soc_at_week_end(const bt_ledger_t *l, int i, int w)
{
    return w < 0 ? l->soc_start[i] : l->soc_week_end[(size_t)i * (size_t)l->weeks + (size_t)w];
}

/* Per week, with the period's rules: energy, the demand charge on how far the week raised the
 * running peak, and for gridems the week's battery wear less its change of stored energy (at
 * the period's mean price), so that the weeks add up to the period's totals. */
static int weeks_of(const bt_compare_t *c, const bt_ledger_t *l,
                    const gridems_service_config_t *cfg, week_t *out, int max)
{
    int n = 0;
    double peak_g = 0, peak_b = 0, dt = dt_hours(l);
    for (int w = 0; w < l->weeks && n < max; w++, n++) {
        int first = w * l->week_steps;
        week_t *wk = &out[n];
        wk->start_ms = l->start_ms + first * l->step_ms;
        double e_g = 0, e_b = 0, wear = 0, pg = peak_g, pb = peak_b;
        for (int k = first; k < l->steps && k < first + l->week_steps; k++) {
            e_g += c->gridems.import_kw[k] * dt * c->price[k];
            e_b += c->baseline.import_kw[k] * dt * c->price[k];
            wear += l->wear_cost[k];
            pg = fmax(pg, c->gridems.import_kw[k]);
            pb = fmax(pb, c->baseline.import_kw[k]);
        }
        double stored = 0;
        for (int i = 0; i < l->n_devs; i++) {
            if (l->devs[i].kind == BT_DEV_BATTERY) {
                stored += soc_at_week_end(l, i, w) - soc_at_week_end(l, i, w - 1);
            }
        }
        wk->gridems =
            e_g + cfg->site.demand_charge_per_kw * (pg - peak_g) + wear - stored * c->mean_price;
        wk->baseline = e_b + cfg->site.demand_charge_per_kw * (pb - peak_b);
        peak_g = pg;
        peak_b = pb;
    }
    return n;
}

static void sorted_stats(const bt_ledger_t *l, double *median, double *p95)
{
    *median = 0;
    *p95 = 0;
    if (l->n_solve == 0) {
        return;
    }
    double *v = malloc((size_t)l->n_solve * sizeof *v);
    if (v == NULL) {
        return;
    }
    memcpy(v, l->solve_ms, (size_t)l->n_solve * sizeof *v);
    qsort(v, (size_t)l->n_solve, sizeof *v, by_value);
    *median = v[l->n_solve / 2];
    *p95 = v[(int)((l->n_solve - 1) * 0.95)];
    free(v);
}

char *bt_report_json(const bt_compare_t *c, const bt_ledger_t *l, const bt_options_t *o,
                     const gridems_service_config_t *cfg, double wall_s)
{
    cJSON *root = cJSON_CreateObject();
    char iso[GRIDEMS_TIME_ISO_BUFLEN];
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON *period = cJSON_AddObjectToObject(root, "period");
    gridems_time_format_iso(l->start_ms, cfg->site.utc_offset_min, iso, sizeof iso);
    cJSON_AddStringToObject(period, "start", iso);
    gridems_time_format_iso(period_end(l), cfg->site.utc_offset_min, iso, sizeof iso);
    cJSON_AddStringToObject(period, "end", iso);
    cJSON_AddNumberToObject(period, "step_minutes", (double)l->step_ms / 60000.0);
    cJSON_AddNumberToObject(period, "steps", l->steps);
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    cJSON_AddStringToObject(in, "config", o->config_path);
    cJSON_AddStringToObject(in, "prices", o->prices_path);
    if (o->load_path != NULL) {
        cJSON_AddStringToObject(in, "load", o->load_path);
    } else {
        cJSON_AddNullToObject(in, "load");
    }
    if (o->jobs_path != NULL) {
        cJSON_AddStringToObject(in, "jobs", o->jobs_path);
    } else {
        cJSON_AddNullToObject(in, "jobs");
    }
    cJSON_AddNumberToObject(in, "seed", (double)o->seed);
    cJSON_AddNumberToObject(in, "warmup_days", o->warmup_days);
    cJSON_AddStringToObject(in, "currency", cfg->site.currency);
    add_result(root, "gridems", &c->gridems, false, l->plans);
    add_result(root, "baseline", &c->baseline, false, 0);
    add_result(root, "perfect_foresight", &c->pf, true, 1);
    cJSON *cap = cJSON_AddObjectToObject(root, "capture");
    double e_g = c->gridems.total - c->gridems.demand_charge;
    double e_b = c->baseline.total - c->baseline.demand_charge;
    double e_p = c->pf.total - c->pf.demand_charge;
    cJSON_AddNumberToObject(
        cap, "total",
        round(1e4 * ratio(c->baseline.total - c->gridems.total, c->baseline.total - c->pf.total)) /
            1e4);
    cJSON_AddNumberToObject(cap, "energy", round(1e4 * ratio(e_b - e_g, e_b - e_p)) / 1e4);
    cJSON_AddNumberToObject(cap, "demand",
                            round(1e4 * ratio(c->baseline.demand_charge - c->gridems.demand_charge,
                                              c->baseline.demand_charge - c->pf.demand_charge)) /
                                1e4);
    week_t weeks[64];
    int nw = weeks_of(c, l, cfg, weeks, 64);
    cJSON *wa = cJSON_AddArrayToObject(root, "weeks");
    for (int i = 0; i < nw; i++) {
        cJSON *w = cJSON_CreateObject();
        gridems_time_format_iso(weeks[i].start_ms, cfg->site.utc_offset_min, iso, sizeof iso);
        cJSON_AddStringToObject(w, "start", iso);
        cJSON_AddNumberToObject(w, "gridems_total", r2(weeks[i].gridems));
        cJSON_AddNumberToObject(w, "baseline_total", r2(weeks[i].baseline));
        cJSON_AddItemToArray(wa, w);
    }
    double med, p95;
    sorted_stats(l, &med, &p95);
    cJSON *run = cJSON_AddObjectToObject(root, "run");
    cJSON_AddNumberToObject(run, "wall_s", round(wall_s * 100) / 100);
    cJSON_AddNumberToObject(run, "plans", (double)l->plans);
    cJSON_AddNumberToObject(run, "solve_ms_median", round(med * 1000) / 1000);
    cJSON_AddNumberToObject(run, "solve_ms_p95", round(p95 * 1000) / 1000);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* A number with thousands separators, no decimals. */
static const char *money(char *buf, size_t len, double v)
{
    char digits[64];
    snprintf(digits, sizeof digits, "%.0f", fabs(v));
    size_t n = strlen(digits), o = 0;
    if (v < 0 && strcmp(digits, "0") != 0 && o + 1 < len) {
        buf[o++] = '-';
    }
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n) {
            buf[o++] = ',';
        }
    }
    buf[o] = '\0';
    return buf;
}

void bt_print_summary(FILE *f, const bt_compare_t *c, const bt_ledger_t *l,
                      const gridems_service_config_t *cfg, double wall_s)
{
    char a[32], b[32], p[32], iso[GRIDEMS_TIME_ISO_BUFLEN], iso2[GRIDEMS_TIME_ISO_BUFLEN];
    const bt_result_t *g = &c->gridems, *base = &c->baseline, *pf = &c->pf;
    gridems_time_format_iso(l->start_ms, cfg->site.utc_offset_min, iso, sizeof iso);
    gridems_time_format_iso(period_end(l), cfg->site.utc_offset_min, iso2, sizeof iso2);
    fprintf(f, "backtest %.10s .. %.10s, %d steps of %d min, %s\n\n", iso, iso2, l->steps,
            (int)(l->step_ms / 60000), cfg->site.currency);
    fprintf(f, "%-24s %16s %16s %18s\n", "", "gridems", "no gridems", "perfect foresight");
    struct {
        const char *label;
        double g, b, p;
    } rows[] = {
        {"energy", g->energy_cost, base->energy_cost, pf->energy_cost},
        {"demand charge", g->demand_charge, base->demand_charge, pf->demand_charge},
        {"battery wear", g->battery_wear, base->battery_wear, pf->battery_wear},
        {"stored energy gained", g->stored_energy_value, base->stored_energy_value,
         pf->stored_energy_value},
        {"total", g->total, base->total, pf->total},
        {"saving", base->total - g->total, 0, base->total - pf->total},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (i == 4) {
            fprintf(f, "%-24s %16s %16s %18s\n", "", "------------", "------------",
                    "------------");
        }
        fprintf(f, "%-24s %16s %16s %18s\n", rows[i].label, money(a, sizeof a, rows[i].g),
                money(b, sizeof b, rows[i].b), money(p, sizeof p, rows[i].p));
    }
    fprintf(f, "%-24s %16.0f %16.0f %18.0f\n", "peak import, kW", g->peak_kw, base->peak_kw,
            pf->peak_kw);
    fprintf(f, "%-24s %16.0f %16.0f %18.0f\n", "import, MWh", g->import_kwh / 1000,
            base->import_kwh / 1000, pf->import_kwh / 1000);
    char jg[32], jb[32], jp[32];
    snprintf(jg, sizeof jg, "%d/%d", g->jobs_on_time, g->jobs);
    snprintf(jb, sizeof jb, "%d/%d", base->jobs_on_time, base->jobs);
    snprintf(jp, sizeof jp, "%d/%d", pf->jobs_on_time, pf->jobs);
    fprintf(f, "%-24s %16s %16s %18s\n", "jobs on time", jg, jb, jp);
    double e_g = g->total - g->demand_charge, e_b = base->total - base->demand_charge,
           e_p = pf->total - pf->demand_charge;
    fprintf(f,
            "\ncapture of the achievable saving: total %.1f %%, energy %.1f %%, demand %.1f %%\n",
            100 * ratio(base->total - g->total, base->total - pf->total),
            100 * ratio(e_b - e_g, e_b - e_p),
            100 * ratio(base->demand_charge - g->demand_charge,
                        base->demand_charge - pf->demand_charge));
    week_t weeks[64];
    int nw = weeks_of(c, l, cfg, weeks, 64);
    fprintf(f, "\n%-12s %16s %16s %12s\n", "week from", "gridems", "no gridems", "saving");
    for (int i = 0; i < nw; i++) {
        gridems_time_format_iso(weeks[i].start_ms, cfg->site.utc_offset_min, iso, sizeof iso);
        fprintf(f, "%-12.10s %16s %16s %12s\n", iso, money(a, sizeof a, weeks[i].gridems),
                money(b, sizeof b, weeks[i].baseline),
                money(p, sizeof p, weeks[i].baseline - weeks[i].gridems));
    }
    double med, p95;
    sorted_stats(l, &med, &p95);
    fprintf(f, "\n%llu plans, solve median %.1f ms (p95 %.1f ms); %.1f s of wall time\n",
            (unsigned long long)l->plans, med, p95, wall_s);
}

int bt_write_series(const char *path, const bt_compare_t *c, const bt_ledger_t *l,
                    const gridems_service_config_t *cfg)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "timestamp,price_per_kwh,base_load_kw,cluster_kw,battery_charge_kw,"
               "battery_discharge_kw,gridems_import_kw,baseline_import_kw,pf_import_kw,"
               "planned_import_kw,forecast_base_kw\n");
    double dt = dt_hours(l);
    for (int k = 0; k < l->steps; k++) {
        char iso[GRIDEMS_TIME_ISO_BUFLEN];
        gridems_time_format_iso(l->start_ms + k * l->step_ms, cfg->site.utc_offset_min, iso,
                                sizeof iso);
        fprintf(f, "%s,%.6g,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n", iso, c->price[k],
                l->base_kwh[k] / dt, l->cluster_kwh[k] / dt, l->charge_kwh[k] / dt,
                l->discharge_kwh[k] / dt, c->gridems.import_kw[k], c->baseline.import_kw[k],
                c->pf.import_kw[k], l->planned_import_kw[k], l->forecast_base_kw[k]);
    }
    return fclose(f) == 0 ? 0 : -1;
}
