/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Plan stability benchmark (README "Performance", docs/optimizer.md "Plan stability"): how far
 * the first-step battery set-point (discharge - charge, kW) moves between consecutive re-plans
 * with nothing new, without and with the previous plan as the tie-break reference.
 *
 * Two sequences of re-plans per scenario file, each run twice (no reference / reference):
 *   - alternate: the same scenario re-planned N times, alternately by one long-lived optimizer
 *     (warm, updated in place; its history is one solve with other prices, as a service that
 *     has seen price messages before) and by a fresh one (cold), as after a restart, a config
 *     reload or a warm start that fell back: the path differs, the inputs do not.
 *   - rolling: the horizon moves on one step per re-plan and nothing new is known (it shrinks
 *     with the known prices, as in the service late in the day): re-plan k is re-plan k-1
 *     without its first step, with the batteries' energy and the jobs' remaining energy where
 *     re-plan k-1 said they would be. Re-plan k-1's own tail is then optimal for it, so its
 *     step 1 is compared with re-plan k's step 0 (the same absolute time). The optimizer
 *     carries the basis over with the shift, as the service's does.
 *   - rolling, cold/warm alternately: the same, with every other re-plan made by a fresh
 *     optimizer (cold), the others by the long-lived one (its basis carried over two steps).
 *   - same step, 60 s apart: one long-lived optimizer, re-planning every 60 s inside the running
 *     step, with the batteries' energy and the jobs' remaining energy moved on by what the last
 *     plan did in that minute: the service's own re-plans when no new message has arrived.
 *     These changes are real, so set-points may legitimately move; the reference must not make
 *     them move more. Then the same with prices nudged as bench_service's price updates do.
 * For each: mean and max over re-plans and batteries of |set-point - previous set-point|, the
 * median solve time, and the largest relative gap between the objective and that of a cold solve
 * of the same scenario without a reference (which must stay within 1e-9).
 *
 * usage: bench_stability [--replans N] [--flex-steps N] SCENARIO.json...
 *   --flex-steps: the reference's flex_match_steps (1, as the service; 0 = whole horizon).
 *   (examples/sakai_day.json; `bench_optimizer --write-scenarios DIR` writes the canonical one)
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/optimizer.h"

typedef struct measure_s {
    double mean_kw, max_kw;
    double median_ms;
    double worst_rel_gap;
    int tie_applied, tie_skipped, replans;
    double tb_iterations; /* median of the second stage's */
} measure_t;

static bool nudge_prices;        /* run(): re-plan i gets bench_service's price variant i */
static int flex_match_steps = 1; /* as the service */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool read_scenario(const char *path, gridems_scenario_t *sc)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return false;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    bool ok = text != NULL && fread(text, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    char err[512] = "";
    ok = ok && gridems_scenario_parse_json(text, (size_t)len, sc, err, sizeof err) == 0;
    if (!ok) {
        fprintf(stderr, "%s: %s\n", path, err);
    }
    free(text);
    return ok;
}

static bool solve(gridems_optimizer_t *opt, const gridems_scenario_t *sc, gridems_schedule_t *s)
{
    char err[512];
    if (gridems_optimizer_solve(opt, sc, s, err, sizeof err) != 0) {
        fprintf(stderr, "solve failed: %s\n", err);
        return false;
    }
    return true;
}

/* The objective of a cold solve without a reference, for the optimality check. */
static double cold_objective(const gridems_scenario_t *sc)
{
    gridems_optimizer_opts_t opts = {0, false, false};
    gridems_optimizer_t *opt = NULL;
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    if (gridems_optimizer_create(&opt, &opts) != 0 || !solve(opt, sc, &s)) {
        exit(1);
    }
    double obj = s.objective;
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    return obj;
}

/* Move sc on by `seconds` of what plan does in its first step. */
static void advance(gridems_scenario_t *sc, const gridems_schedule_t *plan, double seconds)
{
    double h = seconds / 3600.0;
    for (int b = 0; b < sc->n_batteries; b++) {
        gridems_battery_t *bat = &sc->batteries[b];
        double e =
            bat->soc_kwh + h * (bat->charge_efficiency * plan->batteries[b].charge_kw[0] -
                                plan->batteries[b].discharge_kw[0] / bat->discharge_efficiency);
        bat->soc_kwh = fmin(bat->capacity_kwh, fmax(0.0, e));
    }
    for (int j = 0; j < sc->n_flex_loads; j++) {
        gridems_flex_load_t *job = &sc->flex_loads[j];
        job->energy_kwh = fmax(0.0, job->energy_kwh - h * plan->flex_loads[j].power_kw[0]);
    }
}

/* Re-plan k of the rolling sequence: base without its first k steps, the batteries and jobs
 * where prev (re-plan k-1, or NULL for k = 0) leaves them after its first step. */
static void rolled(gridems_scenario_t *out, const gridems_scenario_t *base, int k,
                   const gridems_scenario_t *prev_sc, const gridems_schedule_t *prev)
{
    int T = base->steps - k;
    if (gridems_scenario_init(out, T, base->step_minutes) != 0) {
        exit(1);
    }
    size_t bytes = (size_t)T * sizeof(double);
    memcpy(out->import_per_kwh, base->import_per_kwh + k, bytes);
    memcpy(out->export_per_kwh, base->export_per_kwh + k, bytes);
    memcpy(out->carbon_kg_per_kwh, base->carbon_kg_per_kwh + k, bytes);
    memcpy(out->base_load_kw, base->base_load_kw + k, bytes);
    memcpy(out->pv_kw, base->pv_kw + k, bytes);
    out->has_carbon = base->has_carbon;
    out->carbon_price_per_kg = base->carbon_price_per_kg;
    out->import_limit_kw = base->import_limit_kw;
    out->export_limit_kw = base->export_limit_kw;
    out->demand_charge_per_kw = base->demand_charge_per_kw;
    out->peak_so_far_kw = base->peak_so_far_kw;
    out->has_compute_limit = base->has_compute_limit;
    out->compute_limit_kw = base->compute_limit_kw;
    out->unmet_flexible_per_kwh = base->unmet_flexible_per_kwh;
    out->unserved_load_per_kwh = base->unserved_load_per_kwh;
    out->final_soc_shortfall_per_kwh = base->final_soc_shortfall_per_kwh;
    if (prev != NULL) {
        out->peak_so_far_kw = fmax(out->peak_so_far_kw, prev->grid_import_kw[0]);
    }
    for (int b = 0; b < base->n_batteries; b++) {
        gridems_battery_t bat = base->batteries[b];
        if (prev != NULL) {
            bat.soc_kwh = prev->batteries[b].soc_kwh[1];
        }
        if (gridems_scenario_add_battery(out, &bat) != 0) {
            exit(1);
        }
    }
    for (int j = 0; j < base->n_flex_loads; j++) {
        gridems_flex_load_t job = base->flex_loads[j];
        job.earliest_step = job.earliest_step - k > 0 ? job.earliest_step - k : 0;
        job.deadline_step -= k;
        if (job.deadline_step <= job.earliest_step) {
            continue;
        }
        if (prev != NULL) {
            for (int i = 0; i < prev_sc->n_flex_loads; i++) {
                if (strcmp(prev_sc->flex_loads[i].id, job.id) == 0) {
                    job.energy_kwh = fmax(0.0, prev_sc->flex_loads[i].energy_kwh -
                                                   gridems_scenario_dt_hours(prev_sc) *
                                                       prev->flex_loads[i].power_kw[0]);
                }
            }
        }
        if (gridems_scenario_add_flex_load(out, &job) != 0) {
            exit(1);
        }
    }
    for (int e = 0; e < base->n_events; e++) {
        gridems_event_t ev = base->events[e];
        ev.start_step = ev.start_step - k > 0 ? ev.start_step - k : 0;
        ev.end_step -= k;
        if (ev.end_step > ev.start_step && gridems_scenario_add_event(out, &ev) != 0) {
            exit(1);
        }
    }
}

static measure_t run_rolling(const gridems_scenario_t *base, int replans, bool alternate,
                             bool with_ref)
{
    measure_t m;
    memset(&m, 0, sizeof m);
    if (replans > base->steps - 1) {
        replans = base->steps - 1;
    }
    gridems_optimizer_t *opt = NULL;
    if (gridems_optimizer_create(&opt, NULL) != 0) {
        exit(1);
    }
    int64_t step_ms = llround(base->step_minutes * 60000.0);
    gridems_scenario_t prev_sc, sc;
    memset(&prev_sc, 0, sizeof prev_sc);
    gridems_schedule_t prev, cur;
    memset(&prev, 0, sizeof prev);
    memset(&cur, 0, sizeof cur);
    gridems_reference_t ref;
    memset(&ref, 0, sizeof ref);
    double *ms = calloc((size_t)replans, sizeof *ms);
    double *tb = calloc((size_t)replans, sizeof *tb);
    double sum = 0.0;
    int n = 0;
    for (int k = 0; k < replans; k++) {
        rolled(&sc, base, k, k > 0 ? &prev_sc : NULL, k > 0 ? &prev : NULL);
        gridems_optimizer_t *use = opt, *fresh = NULL;
        if (alternate && k % 2 == 1) {
            if (gridems_optimizer_create(&fresh, NULL) != 0) {
                exit(1);
            }
            use = fresh;
        } else if (k > 0) {
            gridems_optimizer_hint_shift(opt, alternate ? 2 : 1);
        }
        if (k > 0 && with_ref) {
            gridems_optimizer_hint_reference(use, &ref, k * step_ms);
        }
        if (!solve(use, &sc, &cur)) {
            exit(1);
        }
        gridems_optimizer_destroy(fresh);
        ms[k] = cur.solve_ms;
        tb[k] = cur.tie_break_iterations;
        m.tie_applied += cur.tie_break == GRIDEMS_TIE_APPLIED;
        m.tie_skipped += cur.tie_break == GRIDEMS_TIE_SKIPPED;
        double cold = cold_objective(&sc);
        m.worst_rel_gap = fmax(m.worst_rel_gap, fabs(cur.objective - cold) / fmax(1.0, fabs(cold)));
        if (k > 0) {
            for (int b = 0; b < cur.n_batteries; b++) {
                double sp = cur.batteries[b].discharge_kw[0] - cur.batteries[b].charge_kw[0];
                double was = prev.batteries[b].discharge_kw[1] - prev.batteries[b].charge_kw[1];
                double d = fabs(sp - was);
                sum += d;
                m.max_kw = fmax(m.max_kw, d);
                n++;
            }
        }
        gridems_reference_free(&ref);
        if (gridems_reference_from_schedule(&ref, &sc, &cur, k * step_ms) != 0) {
            exit(1);
        }
        ref.flex_match_steps = flex_match_steps;
        gridems_schedule_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof cur);
        gridems_scenario_free(&prev_sc);
        prev_sc = sc;
    }
    m.replans = replans;
    m.mean_kw = n > 0 ? sum / n : 0.0;
    qsort(ms, (size_t)replans, sizeof *ms, compare_doubles);
    m.median_ms = ms[replans / 2];
    qsort(tb, (size_t)replans, sizeof *tb, compare_doubles);
    m.tb_iterations = tb[replans / 2];
    free(ms);
    free(tb);
    gridems_reference_free(&ref);
    gridems_schedule_free(&prev);
    gridems_scenario_free(&prev_sc);
    gridems_optimizer_destroy(opt);
    return m;
}

static measure_t run(const gridems_scenario_t *base, int replans, bool alternate, bool with_ref)
{
    measure_t m;
    memset(&m, 0, sizeof m);
    gridems_optimizer_t *warm = NULL;
    if (gridems_optimizer_create(&warm, NULL) != 0) {
        exit(1);
    }
    gridems_scenario_t sc;
    if (gridems_scenario_copy(&sc, base) != 0) {
        exit(1);
    }
    gridems_schedule_t prev, cur;
    memset(&prev, 0, sizeof prev);
    memset(&cur, 0, sizeof cur);
    if (alternate) {
        /* The warm optimizer's history: the same day with prices up to 10 % off. */
        gridems_scenario_t earlier;
        if (gridems_scenario_copy(&earlier, base) != 0) {
            exit(1);
        }
        for (int t = 0; t < earlier.steps; t++) {
            earlier.import_per_kwh[t] *= 1.0 + 0.1 * sin(0.7 * t);
        }
        if (!solve(warm, &earlier, &cur)) {
            exit(1);
        }
        gridems_schedule_free(&cur);
        gridems_scenario_free(&earlier);
    }
    gridems_reference_t ref;
    memset(&ref, 0, sizeof ref);
    double *ms = calloc((size_t)replans, sizeof *ms);
    double *tb = calloc((size_t)replans, sizeof *tb);
    double sum = 0.0;
    int n = 0;
    for (int i = 0; i < replans; i++) {
        if (!alternate && i > 0) {
            advance(&sc, &prev, 60.0);
        }
        if (nudge_prices) {
            for (int t = 0; t < sc.steps; t++) {
                sc.import_per_kwh[t] =
                    base->import_per_kwh[t] + 0.02 * (double)((i * 31 + t * 7) % 11);
            }
        }
        gridems_optimizer_t *opt = warm, *fresh = NULL;
        if (alternate && i % 2 == 1) {
            if (gridems_optimizer_create(&fresh, NULL) != 0) {
                exit(1);
            }
            opt = fresh;
        }
        if (with_ref && i > 0) {
            gridems_optimizer_hint_reference(opt, &ref, 0);
        }
        if (!solve(opt, &sc, &cur)) {
            exit(1);
        }
        gridems_optimizer_destroy(fresh);
        ms[i] = cur.solve_ms;
        tb[i] = cur.tie_break_iterations;
        m.tie_applied += cur.tie_break == GRIDEMS_TIE_APPLIED;
        m.tie_skipped += cur.tie_break == GRIDEMS_TIE_SKIPPED;
        double cold = cold_objective(&sc);
        double gap = fabs(cur.objective - cold) / fmax(1.0, fabs(cold));
        m.worst_rel_gap = fmax(m.worst_rel_gap, gap);
        if (i > 0) {
            for (int b = 0; b < cur.n_batteries; b++) {
                double sp = cur.batteries[b].discharge_kw[0] - cur.batteries[b].charge_kw[0];
                double was = prev.batteries[b].discharge_kw[0] - prev.batteries[b].charge_kw[0];
                double d = fabs(sp - was);
                sum += d;
                m.max_kw = fmax(m.max_kw, d);
                n++;
            }
        }
        gridems_reference_free(&ref);
        if (gridems_reference_from_schedule(&ref, &sc, &cur, 0) != 0) {
            exit(1);
        }
        ref.flex_match_steps = flex_match_steps;
        gridems_schedule_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof cur);
    }
    m.replans = replans;
    m.mean_kw = n > 0 ? sum / n : 0.0;
    qsort(ms, (size_t)replans, sizeof *ms, compare_doubles);
    m.median_ms = ms[replans / 2];
    qsort(tb, (size_t)replans, sizeof *tb, compare_doubles);
    m.tb_iterations = tb[replans / 2];
    free(ms);
    free(tb);
    gridems_reference_free(&ref);
    gridems_schedule_free(&prev);
    gridems_scenario_free(&sc);
    gridems_optimizer_destroy(warm);
    return m;
}

int main(int argc, char **argv)
{
    int replans = 30;
    int first = 1;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--replans") == 0) {
            replans = atoi(argv[first + 1]);
        } else if (strcmp(argv[first], "--flex-steps") == 0) {
            flex_match_steps = atoi(argv[first + 1]);
        } else {
            break;
        }
        first += 2;
    }
    if (first >= argc || replans < 2 || flex_match_steps < 0) {
        fprintf(stderr, "usage: bench_stability [--replans N>=2] [--flex-steps N] "
                        "SCENARIO.json...\n");
        return 2;
    }
    printf("| scenario | sequence | reference | mean / max |set-point change| kW | median solve "
           "| tie-break applied / skipped, median iterations | worst objective gap vs cold |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int a = first; a < argc; a++) {
        gridems_scenario_t sc;
        if (!read_scenario(argv[a], &sc)) {
            return 1;
        }
        const char *name = strrchr(argv[a], '/') != NULL ? strrchr(argv[a], '/') + 1 : argv[a];
        static const char *const modes[] = {
            "same scenario, cold/warm alternately", "rolling, nothing new",
            "rolling, cold/warm alternately", "same step, 60 s apart",
            "same step, 60 s apart, prices nudged"};
        for (int mode = 0; mode < 5; mode++) {
            nudge_prices = mode == 4;
            for (int with_ref = 0; with_ref < 2; with_ref++) {
                measure_t m = mode == 1 || mode == 2
                                  ? run_rolling(&sc, replans, mode == 2, with_ref != 0)
                                  : run(&sc, replans, mode == 0, with_ref != 0);
                printf("| %s (%d x %g min, %d batteries, %d jobs) | %s, %d re-plans | %s | "
                       "%.1f / %.1f | %.2f ms | %d / %d, %.0f | %.1e |\n",
                       name, sc.steps, sc.step_minutes, sc.n_batteries, sc.n_flex_loads,
                       modes[mode], m.replans, with_ref ? "previous plan" : "none", m.mean_kw,
                       m.max_kw, m.median_ms, m.tie_applied, m.tie_skipped, m.tb_iterations,
                       m.worst_rel_gap);
                fflush(stdout);
            }
        }
        gridems_scenario_free(&sc);
    }
    return 0;
}
