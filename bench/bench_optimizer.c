/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Optimizer benchmark (README "Performance"): median solve times for the small, canonical and
 * large scenarios, cold and warm (after a price update, after a one-step shift), against
 * `glpsol --lp` on the same program written by gridems_optimizer_write_lp, and peak memory.
 *
 * usage: bench_optimizer [--runs N] [--prices CSV] [--glpsol PATH] [--only NAME]
 *                        [--write-scenarios DIR] [--heap-default]
 *   --prices: a CSV whose last column is a price per kWh (examples/data/ JEPX excerpt);
 *             without it prices are synthetic.
 *   --only: run one size (small, canonical, large).
 *   --write-scenarios: write each size's scenario as DIR/NAME.json (for gridems solve, glpsol
 *             via --write-lp, or lpref.py) and exit.
 *   --heap-default: leave glibc's heap settings alone; by default the benchmark keeps freed
 *             memory between solves as the gridems binary does (gridems_optimizer_keep_memory).
 * Each size runs in its own child process so that its peak RSS is its own. The benchmark pins
 * itself to the CPU it starts on, and its children and glpsol inherit it (pin_cpu.h).
 */
#define _GNU_SOURCE /* sched_getcpu, CPU_SET */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gridems/optimizer.h"
#include "optimizer_internal.h"
#include "pin_cpu.h"
#include "price_csv.h"

typedef struct size_spec_s {
    const char *name;
    int steps;
    int step_minutes;
    int batteries;
    int jobs;
} size_spec_t;

static const size_spec_t sizes[] = {
    {"small", 48, 30, 1, 3},
    {"canonical", 96, 15, 4, 50},
    {"large", 288, 5, 32, 500},
};

static bench_prices_t prices; /* --prices; count 0: synthetic */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A small deterministic generator, so every run benchmarks the same scenarios. */
static unsigned long long rng_state;
static double uniform(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* The scenario of a size, starting `offset` steps into the price series. */
static void make_scenario(gridems_scenario_t *sc, const size_spec_t *spec, int offset)
{
    if (gridems_scenario_init(sc, spec->steps, spec->step_minutes) != 0) {
        abort();
    }
    rng_state = 42;
    double dt = spec->step_minutes / 60.0;
    for (int t = 0; t < spec->steps; t++) {
        int at = t + offset;
        double hours = at * dt;
        sc->import_per_kwh[t] = bench_prices_at(&prices, at, spec->step_minutes);
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = 20000 + 2000 * sin(2 * M_PI * (hours - 15) / 24);
        sc->pv_kw[t] = fmax(0.0, 3000 * sin(M_PI * (fmod(hours, 24) - 6) / 12));
    }
    sc->export_limit_kw = 1000;
    sc->import_limit_kw = 40000;
    sc->demand_charge_per_kw = 60;
    sc->peak_so_far_kw = 21000;
    for (int b = 0; b < spec->batteries; b++) {
        char id[32];
        snprintf(id, sizeof id, "bess-%d", b);
        double cap = uniform(2000, 8000);
        gridems_battery_t bat = {id,         cap,       cap * 0.5,    cap * 0.1,
                                 cap * 0.95, cap * 0.5, cap * 0.5,    cap * 0.5,
                                 0.95,       0.95,      uniform(0, 2)};
        gridems_scenario_add_battery(sc, &bat);
    }
    int T = spec->steps;
    for (int j = 0; j < spec->jobs; j++) {
        char id[32];
        snprintf(id, sizeof id, "job-%d", j);
        int earliest = (int)uniform(0, T * 0.6);
        int deadline = earliest + 1 + (int)uniform(T * 0.2, T - earliest - 1);
        if (deadline > T) {
            deadline = T;
        }
        double power = uniform(100, 1500);
        gridems_flex_load_t job = {id,       power * dt * (deadline - earliest) * uniform(0.2, 0.9),
                                   power,    earliest,
                                   deadline, NULL};
        /* Jobs keep their absolute window: moving the horizon on moves it back by offset. */
        job.earliest_step = earliest - offset > 0 ? earliest - offset : 0;
        job.deadline_step =
            deadline - offset > job.earliest_step ? deadline - offset : job.earliest_step + 1;
        gridems_scenario_add_flex_load(sc, &job);
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 400.0 * spec->jobs;
    gridems_scenario_set_text(&sc->start, "2023-05-09T00:00:00+09:00");
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double solve_once(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                         gridems_schedule_t *s, int *iterations)
{
    char err[256];
    double t0 = now_ms();
    if (gridems_optimizer_solve(opt, sc, s, err, sizeof err) != 0) {
        fprintf(stderr, "solve failed: %s\n", err);
        exit(1);
    }
    *iterations = s->iterations;
    return now_ms() - t0;
}

/* Wall time of `glpsol --lp path` and its peak RSS in KiB. */
static double run_glpsol(const char *glpsol, const char *lp_path, long *maxrss_kb)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL) {
            _exit(127);
        }
        execlp(glpsol, glpsol, "--lp", lp_path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double elapsed = now_ms() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s --lp %s failed\n", glpsol, lp_path);
        exit(1);
    }
    *maxrss_kb = ru.ru_maxrss;
    return elapsed;
}

/* The printer the schedule JSON used before the shortest round-trip one: the shortest of %.15g,
 * %.16g and %.17g that strtod reads back (kept here as the reference it is measured against). */
static int printf_loop_format(char *buf, size_t size, double v)
{
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return n;
}

/* Every number of a schedule, in the order the JSON has them. */
static double *schedule_numbers(const gridems_schedule_t *s, int *count)
{
    int T = s->steps, n = 0;
    int cap = 5 * T + s->n_batteries * (3 * T + 1) + s->n_flex_loads * (T + 1) + 16;
    double *v = malloc((size_t)cap * sizeof *v);
    const double *series[] = {s->grid_import_kw, s->grid_export_kw, s->pv_curtailed_kw,
                              s->unserved_kw, s->marginal_price_per_kwh};
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        memcpy(v + n, series[k], (size_t)T * sizeof *v);
        n += T;
    }
    for (int b = 0; b < s->n_batteries; b++) {
        memcpy(v + n, s->batteries[b].charge_kw, (size_t)T * sizeof *v);
        memcpy(v + n + T, s->batteries[b].discharge_kw, (size_t)T * sizeof *v);
        memcpy(v + n + 2 * T, s->batteries[b].soc_kwh, (size_t)(T + 1) * sizeof *v);
        n += 3 * T + 1;
    }
    for (int j = 0; j < s->n_flex_loads; j++) {
        memcpy(v + n, s->flex_loads[j].power_kw, (size_t)T * sizeof *v);
        n += T;
        v[n++] = s->flex_loads[j].unmet_kwh;
    }
    *count = n;
    return v;
}

/* The cost of the schedule JSON: the whole document, and its numbers alone with the shortest
 * round-trip printer against the printf loop it replaced (medians of `runs`, ms). */
static void bench_json(const size_spec_t *spec, const gridems_scenario_t *sc,
                       const gridems_schedule_t *s, int runs)
{
    double *whole = calloc((size_t)runs, sizeof(double));
    double *shortest = calloc((size_t)runs, sizeof(double));
    double *loop = calloc((size_t)runs, sizeof(double));
    int count = 0;
    double *numbers = schedule_numbers(s, &count);
    size_t bytes = 0, sink = 0;
    char buf[64];
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        char *json = gridems_schedule_to_json(sc, s);
        whole[r] = now_ms() - t0;
        bytes = json != NULL ? strlen(json) : 0;
        free(json);
        t0 = now_ms();
        for (int i = 0; i < count; i++) {
            sink += (size_t)gridems__format_double(buf, sizeof buf, numbers[i]);
        }
        shortest[r] = now_ms() - t0;
        t0 = now_ms();
        for (int i = 0; i < count; i++) {
            sink += (size_t)printf_loop_format(buf, sizeof buf, numbers[i]);
        }
        loop[r] = now_ms() - t0;
    }
    printf("  (%s: schedule JSON %.2f ms, %zu bytes; its %d numbers: shortest round-trip %.2f ms, "
           "%%.15g/16g/17g loop %.2f ms; %zu)\n",
           spec->name, median(whole, runs), bytes, count, median(shortest, runs),
           median(loop, runs), sink % 10);
    free(numbers);
    free(whole);
    free(shortest);
    free(loop);
}

static void bench_size(const size_spec_t *spec, int runs, const char *glpsol)
{
    double *cold = calloc((size_t)runs, sizeof(double));
    double *update = calloc((size_t)runs, sizeof(double));
    double *shifted = calloc((size_t)runs, sizeof(double));
    double *external = calloc((size_t)runs, sizeof(double));
    int it_cold = 0, it_update = 0, it_shift = 0;
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);

    gridems_scenario_t sc;
    make_scenario(&sc, spec, 0);
    gridems_optimizer_opts_t cold_opts = {0, false, false};
    for (int r = 0; r < runs; r++) {
        gridems_optimizer_t *opt = NULL;
        gridems_optimizer_create(&opt, &cold_opts);
        cold[r] = solve_once(opt, &sc, &s, &it_cold);
        gridems_optimizer_destroy(opt);
    }
    double objective = s.objective;
    int columns = s.columns, rows = s.rows;
    gridems_scenario_t cold_sc;
    gridems_scenario_copy(&cold_sc, &sc);
    gridems_schedule_t cold_s = s; /* measured for its JSON below */
    memset(&s, 0, sizeof s);

    /* Warm after a price update: a new forecast moves every price by a few percent. */
    gridems_optimizer_t *opt = NULL;
    gridems_optimizer_create(&opt, NULL);
    solve_once(opt, &sc, &s, &it_update);
    for (int r = 0; r < runs; r++) {
        for (int t = 0; t < sc.steps; t++) {
            sc.import_per_kwh[t] *= 1.0 + 0.05 * sin(r + t * 0.37);
        }
        update[r] = solve_once(opt, &sc, &s, &it_update);
        if (s.start_kind != GRIDEMS_START_UPDATE) {
            fprintf(stderr, "%s: price update did not re-solve in place\n", spec->name);
        }
    }
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);

    /* Warm after a one-step shift of the horizon. */
    int shift_fallbacks = 0, shift_capped = 0;
    opt = NULL;
    gridems_optimizer_create(&opt, NULL);
    make_scenario(&sc, spec, 0);
    solve_once(opt, &sc, &s, &it_shift);
    gridems_scenario_free(&sc);
    for (int r = 0; r < runs; r++) {
        make_scenario(&sc, spec, r + 1);
        gridems_optimizer_hint_shift(opt, 1);
        shifted[r] = solve_once(opt, &sc, &s, &it_shift);
        shift_fallbacks += s.start_kind == GRIDEMS_START_FALLBACK;
        shift_capped += s.start_kind == GRIDEMS_START_CAPPED;
        gridems_scenario_free(&sc);
    }
    gridems_optimizer_destroy(opt);

    /* A restart one step later: a new optimizer takes the basis kept in the file (the service's
     * state_dir/basis.json) and solves the next horizon; the time includes rebuilding the saved
     * program and reading the text. */
    double *restart = calloc((size_t)runs, sizeof(double));
    int it_restart = 0, restart_kind_ok = 0;
    char *kept = NULL;
    opt = NULL;
    gridems_optimizer_create(&opt, NULL);
    make_scenario(&sc, spec, 0);
    solve_once(opt, &sc, &s, &it_restart);
    gridems_optimizer_basis_save(opt, &sc, 0, &kept, NULL);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
    make_scenario(&sc, spec, 1);
    for (int r = 0; r < runs && kept != NULL; r++) {
        opt = NULL;
        gridems_optimizer_create(&opt, NULL);
        double t0 = now_ms();
        int64_t saved_ms = 0;
        char why[256];
        if (gridems_optimizer_basis_restore(opt, kept, strlen(kept), &saved_ms, why, sizeof why) ==
            0) {
            gridems_optimizer_hint_shift(opt, 1);
        }
        solve_once(opt, &sc, &s, &it_restart);
        restart[r] = now_ms() - t0;
        restart_kind_ok += s.start_kind == GRIDEMS_START_SHIFTED;
        gridems_optimizer_destroy(opt);
    }
    gridems_scenario_free(&sc);
    free(kept);

    /* glpsol on the same program. */
    make_scenario(&sc, spec, 0);
    char lp_path[] = "/tmp/gridems-bench-XXXXXX";
    int fd = mkstemp(lp_path);
    close(fd);
    opt = NULL;
    gridems_optimizer_create(&opt, &cold_opts);
    char err[256];
    gridems_optimizer_build(opt, &sc, err, sizeof err);
    gridems_optimizer_write_lp(opt, lp_path);
    gridems_optimizer_destroy(opt);
    long glpsol_rss = 0;
    for (int r = 0; r < runs; r++) {
        external[r] = run_glpsol(glpsol, lp_path, &glpsol_rss);
    }
    unlink(lp_path);
    gridems_scenario_free(&sc);
    gridems_schedule_free(&s);

    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("| %s | %dx%d min, %d bat, %d jobs | %d x %d | %.2f | %.2f | %.2f | %.2f | %d / %d / %d "
           "| %.1f | %.1f | %.12g |\n",
           spec->name, spec->steps, spec->step_minutes, spec->batteries, spec->jobs, columns, rows,
           median(cold, runs), median(update, runs), median(shifted, runs), median(external, runs),
           it_cold, it_update, it_shift, self.ru_maxrss / 1024.0, glpsol_rss / 1024.0, objective);
    printf("  (%s: restart one step later from the kept basis: %.2f ms, %d iterations, %d of %d "
           "runs shifted; cold %.2f ms, %d iterations)\n",
           spec->name, median(restart, runs), it_restart, restart_kind_ok, runs, median(cold, runs),
           it_cold);
    free(restart);
    bench_json(spec, &cold_sc, &cold_s, runs);
    gridems_schedule_free(&cold_s);
    gridems_scenario_free(&cold_sc);
    if (shift_fallbacks > 0) {
        printf("  (%s: %d of %d shifted starts fell back to cold)\n", spec->name, shift_fallbacks,
               runs);
    }
    if (shift_capped > 0) {
        printf("  (%s: %d of %d shifted starts hit their iteration cap and solved cold)\n",
               spec->name, shift_capped, runs);
    }
    fflush(stdout);
    free(cold);
    free(update);
    free(shifted);
    free(external);
}

static int write_scenarios(const char *dir)
{
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gridems_scenario_t sc;
        make_scenario(&sc, &sizes[i], 0);
        char *json = gridems_scenario_to_json(&sc);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.json", dir, sizes[i].name);
        FILE *f = fopen(path, "w");
        if (f == NULL || json == NULL || fputs(json, f) < 0 || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        free(json);
        gridems_scenario_free(&sc);
        printf("wrote %s\n", path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 11;
    const char *glpsol = "glpsol";
    const char *only = NULL;
    const char *scenario_dir = NULL;
    bool heap_default = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--heap-default") == 0) {
            heap_default = true;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--prices") == 0 && i + 1 < argc) {
            if (bench_prices_load(&prices, argv[++i]) != 0) {
                return 2;
            }
        } else if (strcmp(argv[i], "--glpsol") == 0 && i + 1 < argc) {
            glpsol = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--write-scenarios") == 0 && i + 1 < argc) {
            scenario_dir = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--runs N] [--prices CSV] [--glpsol PATH] [--only NAME] "
                    "[--write-scenarios DIR] [--heap-default]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1) {
        runs = 1;
    }
    if (scenario_dir != NULL) {
        return write_scenarios(scenario_dir);
    }
    int cpu = bench_pin_to_one_cpu();
    char pinned_text[64] = "not pinned to one CPU";
    if (cpu >= 0) {
        snprintf(pinned_text, sizeof pinned_text, "gridems and glpsol pinned to CPU %d", cpu);
    }
    bool kept = !heap_default && gridems_optimizer_keep_memory();
    printf("median of %d runs, ms; iterations of the last cold / update / shifted solve; %s; "
           "freed memory %s\n\n",
           runs, pinned_text,
           kept ? "kept between solves (as the gridems binary)" : "given back (glibc's default)");
    printf("| scenario | shape | columns x rows | cold | warm: price update | warm: 1-step shift "
           "| glpsol --lp | iterations | peak RSS MiB | glpsol RSS MiB | objective |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    fflush(stdout);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (only != NULL && strcmp(only, sizes[i].name) != 0) {
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            bench_size(&sizes[i], runs, glpsol);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "benchmark of %s failed\n", sizes[i].name);
            return 1;
        }
    }
    bench_prices_free(&prices);
    return 0;
}
