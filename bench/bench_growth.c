/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Growth benchmark (README "Performance", docs/optimizer.md): how the optimizer's solve time
 * grows with the number of flexible jobs, horizon steps and batteries, side by side with HiGHS
 * (scipy's linprog as the independent reference lpref.py calls it; bench/highs_time.py times
 * that call alone) and `glpsol --lp` on the program gridems writes, all in the same run, with
 * the log-log slope of each series and every objective checked against HiGHS's (1e-6 relative).
 *
 * Series (15-min steps; the scenario generator of bench_optimizer, windows scaled with the
 * horizon): jobs 50, 200, 800, 2000 at 96 steps and 4 batteries; steps 96, 192, 384, 768 with 4
 * batteries and 50 jobs; batteries 4, 16, 64 at 96 steps and 50 jobs.
 *
 * usage: bench_growth [--runs N] [--updates N] [--series jobs|steps|batteries] [--max-jobs N]
 *                     [--max-steps N] [--glpsol-max-columns N] [--classes N] [--lpref PATH]
 *                     [--keep DIR] [--peak-probe] [--prices CSV] [--heap-default]
 *   --runs: repetitions per point (median; default 3), at least SHORT_SOLVE_RUNS (11) where a
 *     cold solve takes under SHORT_SOLVE_MS (100 ms).
 *   --updates: warm price updates per point, one after the other in place, then as many
 *     one-step shifts of the horizon (median and slowest of each; default 10).
 *   --max-jobs / --max-steps: leave out the bigger points (defaults: all).
 *   --glpsol-max-columns: run glpsol only on programs up to this many columns (default 40000:
 *     beyond it glpsol takes minutes per run on this machine class).
 *   --classes N: draw the jobs from N classes (same window and energy/power ratio within a
 *     class), which the optimizer merges exactly; default 0: every job its own.
 *   --lpref: the reference (default ../shared/tools/lpref.py beside the source tree).
 *   --keep DIR: leave each point's scenario (growth-STEPSxBATTERIESxJOBS.json) and program
 *     (.lp) in DIR, for gridems solve, glpsol or lpref.py by hand.
 *   --peak-probe: also solve each point without its demand charge and at its optimal peak as a
 *     bound (LP(p*), see probe_peak), cold and warm, and print a table of those.
 *   --prices CSV: import prices from a real series (last column, per kWh, 30-min slots; plus 4,
 *     as bench_optimizer's; examples/data/jepx_kansai_2023-05-08_week.csv) instead of the
 *     synthetic ones.
 *   --heap-default: leave glibc's heap settings alone; by default the benchmark keeps freed
 *     memory between solves as the gridems binary does (gridems_optimizer_keep_memory; HiGHS
 *     and glpsol run in processes of their own, with their defaults).
 * Times are CPU time of the solve (gridems: in-process; HiGHS: the linprog call; glpsol: the
 * child's user + system time, reading the LP file included); wall times are printed beside. All
 * three run on one CPU (pin_cpu.h), gridems' cold solves alternating with HiGHS's.
 * Exit status 1 when an objective disagrees.
 */
#define _GNU_SOURCE /* sched_getcpu, CPU_SET */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gridems/optimizer.h"
#include "pin_cpu.h"
#include "price_csv.h"

#ifndef GRIDEMS_BENCH_SOURCE_DIR
#define GRIDEMS_BENCH_SOURCE_DIR "."
#endif

typedef struct point_s {
    int steps, batteries, jobs;
} point_t;

typedef struct measured_s {
    double cold_cpu, cold_wall, warm_cpu, warm_wall;
    double warm_max_cpu;             /* the slowest price update */
    int warm_capped;                 /* updates that reached the warm cap and were solved cold */
    double shift_cpu, shift_max_cpu; /* one-step shifts of the horizon: median, slowest */
    int shift_capped;
    double highs_cpu, highs_wall;
    double glpsol_cpu; /* < 0: not run */
    int columns, rows, it_cold, it_warm;
    int runs; /* cold repetitions, gridems' and HiGHS's */
    bool objectives_ok;
    /* --peak-probe: the one-dimensional decomposition in the peak, LP(p) (see probe_peak) */
    bool probed;
    double peak, nodc_cpu, fixed_cpu, fixed_warm_cpu, decomposition_gap;
    int it_nodc, it_fixed, it_fixed_warm;
    gridems_start_kind_t fixed_warm_start;
} measured_t;

static int runs = 3;

/* Short solves are repeated more, gridems' and HiGHS's alike: a median of 3 moved by 10-18 % from
 * one run of the benchmark to the next on the canonical point (35.3-41.6 ms cold for the same
 * binary on this 2-core machine; HiGHS 36.5-48.8 ms), more than the canonical target's margin,
 * and 11 repetitions of a 40 ms solve cost under a second. */
#define SHORT_SOLVE_MS 100.0
#define SHORT_SOLVE_RUNS 11
static int updates = 10;
static int classes = 0;
static long glpsol_max_columns = 40000;
static const char *lpref = GRIDEMS_BENCH_SOURCE_DIR "/../shared/tools/lpref.py";
static const char *keep_dir = NULL; /* --keep DIR: leave each point's scenario and LP there */
static bool peak_probe = false;     /* --peak-probe: measure LP(p) (probe_peak) */
static bool heap_default = false;   /* --heap-default: glibc's heap settings as they are */
static bench_prices_t prices;       /* --prices CSV; count 0: the synthetic prices */
static const char *highs_helper = GRIDEMS_BENCH_SOURCE_DIR "/bench/highs_time.py";

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned long long rng_state;
static double uniform(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* The canonical site of bench_optimizer, for any shape: 15-min steps, synthetic prices (or the
 * --prices series, as bench_optimizer's), a demand
 * charge, PV, batteries of 2-8 MWh, and jobs with random windows in the horizon. The site grows
 * with the jobs (load, PV, limits, billing-period peak and battery sizes times jobs / 50), so
 * that 2,000 jobs are a data center 40 times the canonical one rather than 2,000 jobs
 * squeezed into its grid connection, most of them left unmet. */
static void make_scenario(gridems_scenario_t *sc, const point_t *pt)
{
    int T = pt->steps;
    if (gridems_scenario_init(sc, T, 15) != 0) {
        abort();
    }
    rng_state = 42;
    double dt = 0.25, q = pt->jobs / 50.0;
    for (int t = 0; t < T; t++) {
        double hours = t * dt;
        sc->import_per_kwh[t] = bench_prices_at(&prices, t, 15);
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = q * (20000 + 2000 * sin(2 * M_PI * (hours - 15) / 24));
        sc->pv_kw[t] = q * fmax(0.0, 3000 * sin(M_PI * (fmod(hours, 24) - 6) / 12));
    }
    sc->export_limit_kw = q * 1000;
    sc->import_limit_kw = q * 40000;
    sc->demand_charge_per_kw = 60;
    sc->peak_so_far_kw = q * 21000;
    for (int b = 0; b < pt->batteries; b++) {
        char id[32];
        snprintf(id, sizeof id, "bess-%d", b);
        double cap = q * uniform(2000, 8000);
        gridems_battery_t bat = {id,         cap,       cap * 0.5,    cap * 0.1,
                                 cap * 0.95, cap * 0.5, cap * 0.5,    cap * 0.5,
                                 0.95,       0.95,      uniform(0, 2)};
        gridems_scenario_add_battery(sc, &bat);
    }
    for (int j = 0; j < pt->jobs; j++) {
        char id[32];
        snprintf(id, sizeof id, "job-%d", j);
        int earliest, deadline;
        double power, fill;
        if (classes > 0) {
            /* Class c: its window and fill drawn once (a fixed stream per class), the power
             * varies by powers of two so the energy/power ratio is the same double. */
            unsigned long long saved = rng_state;
            rng_state = 1000 + (unsigned long long)(j % classes);
            earliest = (int)uniform(0, T * 0.6);
            deadline = earliest + 1 + (int)uniform(T * 0.2, T - earliest - 1);
            fill = uniform(0.2, 0.9);
            rng_state = saved;
            power = 200.0 * (1 << (j / classes % 3));
        } else {
            earliest = (int)uniform(0, T * 0.6);
            deadline = earliest + 1 + (int)uniform(T * 0.2, T - earliest - 1);
            power = uniform(100, 1500);
            fill = uniform(0.2, 0.9);
        }
        deadline = deadline > T ? T : deadline;
        gridems_flex_load_t job = {
            id, power * dt * (deadline - earliest) * fill, power, earliest, deadline, NULL};
        gridems_scenario_add_flex_load(sc, &job);
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 400.0 * pt->jobs;
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

/* The horizon one step on: every series rotated by one step (the day repeats), every job's
 * window a step earlier (a window that would close stays one step long). */
static void shift_one_step(gridems_scenario_t *sc)
{
    double *series[] = {sc->import_per_kwh, sc->export_per_kwh, sc->base_load_kw, sc->pv_kw,
                        sc->carbon_kg_per_kwh};
    int T = sc->steps;
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        double first = series[k][0];
        memmove(series[k], series[k] + 1, (size_t)(T - 1) * sizeof(double));
        series[k][T - 1] = first;
    }
    for (int j = 0; j < sc->n_flex_loads; j++) {
        gridems_flex_load_t *l = &sc->flex_loads[j];
        l->earliest_step -= l->earliest_step > 0;
        l->deadline_step -= l->deadline_step > l->earliest_step + 1;
    }
}

static void solve_timed(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                        gridems_schedule_t *s, double *cpu, double *wall)
{
    char err[256];
    double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
    if (gridems_optimizer_solve(opt, sc, s, err, sizeof err) != 0) {
        fprintf(stderr, "solve failed: %s\n", err);
        exit(1);
    }
    *cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    *wall = clock_ms(CLOCK_MONOTONIC) - w0;
}

/* Run argv with stdout into `out` (NULL: /dev/null); returns the child's CPU ms, or -1. */
static double run_child(char *const argv[], char *out, size_t outlen)
{
    int pipefd[2];
    if (out != NULL && pipe(pipefd) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (out != NULL) {
            dup2(pipefd[1], STDOUT_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        } else if (freopen("/dev/null", "w", stdout) == NULL) {
            _exit(127);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (out != NULL) {
        close(pipefd[1]);
        size_t have = 0;
        ssize_t got;
        while (have + 1 < outlen && (got = read(pipefd[0], out + have, outlen - 1 - have)) > 0) {
            have += (size_t)got;
        }
        out[have] = '\0';
        close(pipefd[0]);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        return -1;
    }
    return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
           ru.ru_stime.tv_usec / 1e3;
}

static double json_number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : NAN;
}

static bool close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(1.0, fabs(b));
}

/* ---- HiGHS, one helper process for the whole run ----
 * gridems' cold solves and HiGHS's alternate, one of each in turn, so that a burst of load on
 * the machine falls on both sides of a ratio rather than on one. (Alone this did not make the
 * ratios steady; running both on one CPU did: pin_cpu.h.) */
typedef struct highs_helper_s {
    pid_t pid;
    FILE *requests; /* to the helper's stdin */
    FILE *answers;  /* from its stdout */
} highs_helper_t;

static highs_helper_t helper = {-1, NULL, NULL};

static void highs_start(void)
{
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) {
        perror("pipe");
        exit(1);
    }
    helper.pid = fork();
    if (helper.pid == 0) {
        dup2(to_child[0], STDIN_FILENO);
        dup2(from_child[1], STDOUT_FILENO);
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        char *argv[] = {"/usr/bin/python3", (char *)highs_helper, (char *)lpref, "--serve", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    helper.requests = fdopen(to_child[1], "w");
    helper.answers = fdopen(from_child[0], "r");
    if (helper.pid < 0 || helper.requests == NULL || helper.answers == NULL) {
        fprintf(stderr, "cannot start the HiGHS helper %s\n", highs_helper);
        exit(1);
    }
}

/* One HiGHS solve of the scenario file: CPU and wall ms of its linprog call, and the objective. */
static void highs_solve(const char *scenario_path, double *cpu, double *wall, double *objective)
{
    char answer[4096] = "";
    if (helper.pid < 0) {
        highs_start();
    }
    if (fprintf(helper.requests, "%s 1\n", scenario_path) < 0 || fflush(helper.requests) != 0 ||
        fgets(answer, sizeof answer, helper.answers) == NULL || strstr(answer, "\"error\"")) {
        fprintf(stderr, "HiGHS reference failed on %s: %s\n", scenario_path,
                answer[0] != '\0' ? answer : "(no answer)");
        exit(1);
    }
    *cpu = json_number_after(answer, "\"cpu_ms\": ");
    *wall = json_number_after(answer, "\"wall_ms\": ");
    *objective = json_number_after(answer, "\"objective\": ");
}

static void highs_stop(void)
{
    if (helper.pid > 0) {
        fclose(helper.requests); /* end of input: the helper exits */
        fclose(helper.answers);
        waitpid(helper.pid, NULL, 0);
        helper.pid = -1;
    }
}

/*
 * --peak-probe: is the demand charge's peak what makes the program hard?
 *
 * For a fixed peak level p, LP(p) is the program without the demand charge and with every
 * g[t] <= min(cap[t], p) as a column bound (no P, no peak rows). Its optimum f(p) is convex and
 * piecewise linear in p, and the full program's optimum is min over p >= peak_so_far of
 * f(p) + demand_charge * (p - peak_so_far): a parametric method in p would solve a few LP(p).
 * This measures what one LP(p) costs at the full program's own peak p* (the best case: one
 * solve, no search), cold and warm from the optimum without a demand charge (the upper end of
 * any bracket, where f is flat), against the full program and the one without a demand charge,
 * and checks the identity f(p*) + c (p* - peak_so_far) = the full optimum (1e-9 relative).
 * LP(p*) is a scenario with demand charge 0 and import limit min(limit, p*).
 */
static void probe_peak(measured_t *m, const gridems_scenario_t *sc, double peak, double full_obj)
{
    gridems_scenario_t nodc, fixed;
    if (gridems_scenario_copy(&nodc, sc) != 0 || gridems_scenario_copy(&fixed, sc) != 0) {
        abort();
    }
    nodc.demand_charge_per_kw = 0;
    fixed.demand_charge_per_kw = 0;
    fixed.import_limit_kw = fmin(sc->import_limit_kw, peak);
    gridems_optimizer_opts_t cold_opts = {0, false, false};
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    double *cpu = calloc((size_t)runs, sizeof(double)), wall;
    for (int r = 0; r < runs; r++) {
        gridems_optimizer_t *opt = NULL;
        gridems_optimizer_create(&opt, &cold_opts);
        solve_timed(opt, &nodc, &s, &cpu[r], &wall);
        gridems_optimizer_destroy(opt);
    }
    m->nodc_cpu = median(cpu, runs);
    m->it_nodc = s.iterations;
    for (int r = 0; r < runs; r++) {
        gridems_optimizer_t *opt = NULL;
        gridems_optimizer_create(&opt, &cold_opts);
        solve_timed(opt, &fixed, &s, &cpu[r], &wall);
        gridems_optimizer_destroy(opt);
    }
    m->fixed_cpu = median(cpu, runs);
    m->it_fixed = s.iterations;
    double f = s.objective;
    double total = f + sc->demand_charge_per_kw * (peak - sc->peak_so_far_kw);
    m->decomposition_gap = fabs(total - full_obj) / fmax(1.0, fabs(full_obj));
    /* Warm: the optimum without a demand charge, then the bounds g[t] <= p* in place (the
     * optimizer's warm path: the dual simplex after a bound change, capped at half a cold
     * solve and then solved cold). */
    for (int r = 0; r < runs; r++) {
        gridems_optimizer_t *opt = NULL;
        gridems_optimizer_create(&opt, NULL);
        double unused;
        solve_timed(opt, &nodc, &s, &unused, &wall);
        solve_timed(opt, &fixed, &s, &cpu[r], &wall);
        gridems_optimizer_destroy(opt);
    }
    m->fixed_warm_cpu = median(cpu, runs);
    m->it_fixed_warm = s.iterations;
    m->fixed_warm_start = s.start_kind;
    m->peak = peak;
    m->probed = true;
    gridems_schedule_free(&s);
    gridems_scenario_free(&nodc);
    gridems_scenario_free(&fixed);
    free(cpu);
}

static measured_t measure(const point_t *pt)
{
    measured_t m;
    memset(&m, 0, sizeof m);
    int samples = runs > updates ? runs : updates;
    samples = samples > SHORT_SOLVE_RUNS ? samples : SHORT_SOLVE_RUNS;
    double *cpu = calloc((size_t)samples, sizeof(double));
    double *wall = calloc((size_t)samples, sizeof(double));
    gridems_scenario_t sc;
    make_scenario(&sc, pt);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);

    /* Files for the other solvers: the scenario (HiGHS) and the program (glpsol). */
    char scen_path[] = "/tmp/gridems-growth-XXXXXX";
    char lp_path[] = "/tmp/gridems-growth-lp-XXXXXX";
    char sol_path[] = "/tmp/gridems-growth-sol-XXXXXX";
    close(mkstemp(scen_path));
    close(mkstemp(lp_path));
    close(mkstemp(sol_path));
    char *json = gridems_scenario_to_json(&sc);
    FILE *f = fopen(scen_path, "w");
    if (json == NULL || f == NULL || fputs(json, f) < 0 || fclose(f) != 0) {
        perror(scen_path);
        exit(1);
    }
    free(json);
    /* Cold, gridems and HiGHS in turn (see highs_helper_t). */
    gridems_optimizer_opts_t cold_opts = {0, false, false};
    double *highs_cpu = calloc((size_t)samples, sizeof(double));
    double *highs_wall = calloc((size_t)samples, sizeof(double));
    double highs_objective = NAN;
    m.runs = runs;
    for (int r = 0; r < m.runs; r++) {
        gridems_optimizer_t *opt = NULL;
        gridems_optimizer_create(&opt, &cold_opts);
        solve_timed(opt, &sc, &s, &cpu[r], &wall[r]);
        gridems_optimizer_destroy(opt);
        highs_solve(scen_path, &highs_cpu[r], &highs_wall[r], &highs_objective);
        if (r == 0 && cpu[0] < SHORT_SOLVE_MS && m.runs < SHORT_SOLVE_RUNS) {
            m.runs = SHORT_SOLVE_RUNS;
        }
    }
    m.cold_cpu = median(cpu, m.runs);
    m.cold_wall = median(wall, m.runs);
    m.highs_cpu = median(highs_cpu, m.runs);
    m.highs_wall = median(highs_wall, m.runs);
    free(highs_cpu);
    free(highs_wall);
    m.columns = s.columns;
    m.rows = s.rows;
    m.it_cold = s.iterations;
    double objective = s.objective;
    if (peak_probe && sc.demand_charge_per_kw > 0) {
        probe_peak(&m, &sc, s.peak_import_kw, objective);
    }

    gridems_optimizer_t *opt = NULL;
    gridems_optimizer_create(&opt, &cold_opts);
    char err[256];
    gridems_optimizer_build(opt, &sc, err, sizeof err);
    gridems_optimizer_write_lp(opt, lp_path);
    gridems_optimizer_destroy(opt);

    /* Warm: a new forecast moves every price by a few percent, solved in place. */
    opt = NULL;
    gridems_optimizer_create(&opt, NULL);
    double unused_cpu, unused_wall;
    solve_timed(opt, &sc, &s, &unused_cpu, &unused_wall);
    for (int r = 0; r < updates; r++) {
        for (int t = 0; t < sc.steps; t++) {
            sc.import_per_kwh[t] *= 1.0 + 0.05 * sin(r + t * 0.37);
        }
        solve_timed(opt, &sc, &s, &cpu[r], &wall[r]);
        m.warm_max_cpu = fmax(m.warm_max_cpu, cpu[r]);
        m.warm_capped += s.start_kind == GRIDEMS_START_CAPPED;
        if (s.start_kind != GRIDEMS_START_UPDATE && s.start_kind != GRIDEMS_START_CAPPED) {
            fprintf(stderr, "warning: a price update started %s\n",
                    gridems_start_kind_name(s.start_kind));
        }
    }
    m.warm_cpu = median(cpu, updates);
    m.warm_wall = median(wall, updates);
    m.it_warm = s.iterations;

    /* Shifted: the horizon moves on a step with the basis carried over, as in the service at
     * every step. */
    for (int r = 0; r < updates; r++) {
        shift_one_step(&sc);
        gridems_optimizer_hint_shift(opt, 1);
        solve_timed(opt, &sc, &s, &cpu[r], &wall[r]);
        m.shift_max_cpu = fmax(m.shift_max_cpu, cpu[r]);
        m.shift_capped += s.start_kind == GRIDEMS_START_CAPPED;
        if (s.start_kind != GRIDEMS_START_SHIFTED && s.start_kind != GRIDEMS_START_CAPPED) {
            fprintf(stderr, "warning: a shift started %s\n", gridems_start_kind_name(s.start_kind));
        }
    }
    gridems_optimizer_destroy(opt);
    m.shift_cpu = median(cpu, updates);

    m.objectives_ok = close_enough(objective, highs_objective);
    if (!m.objectives_ok) {
        fprintf(stderr, "objective mismatch: gridems %.12g, HiGHS %.12g\n", objective,
                highs_objective);
    }

    /* glpsol on the program, when it is small enough to finish in reasonable time. */
    m.glpsol_cpu = -1;
    if (m.columns <= glpsol_max_columns) {
        char *glpsol_argv[] = {"glpsol", "--lp", lp_path, "-w", sol_path, NULL};
        int glpsol_runs = runs < 3 ? runs : 3;
        for (int r = 0; r < glpsol_runs; r++) {
            cpu[r] = run_child(glpsol_argv, NULL, 0);
            if (cpu[r] < 0) {
                fprintf(stderr, "glpsol --lp %s failed\n", lp_path);
                exit(1);
            }
        }
        m.glpsol_cpu = median(cpu, glpsol_runs);
        /* The solution file's "s bas ROWS COLS PSTAT DSTAT OBJ" line. */
        FILE *sol = fopen(sol_path, "r");
        char line[256];
        double glpsol_objective = NAN;
        while (sol != NULL && fgets(line, sizeof line, sol) != NULL) {
            int rows_read, cols_read;
            char pstat, dstat;
            if (sscanf(line, "s bas %d %d %c %c %lf", &rows_read, &cols_read, &pstat, &dstat,
                       &glpsol_objective) == 5) {
                break;
            }
        }
        if (sol != NULL) {
            fclose(sol);
        }
        /* GLPK's CPLEX LP writer has no objective constant: the demand charge's
         * -demand_charge * peak_so_far is added back. */
        glpsol_objective -= sc.demand_charge_per_kw * sc.peak_so_far_kw;
        if (!close_enough(glpsol_objective, highs_objective)) {
            fprintf(stderr, "objective mismatch: glpsol %.12g, HiGHS %.12g\n", glpsol_objective,
                    highs_objective);
            m.objectives_ok = false;
        }
    }
    if (keep_dir != NULL) {
        char path[4096];
        snprintf(path, sizeof path, "%s/growth-%dx%dx%d.json", keep_dir, pt->steps, pt->batteries,
                 pt->jobs);
        rename(scen_path, path);
        snprintf(path, sizeof path, "%s/growth-%dx%dx%d.lp", keep_dir, pt->steps, pt->batteries,
                 pt->jobs);
        rename(lp_path, path);
    }
    unlink(scen_path);
    unlink(lp_path);
    unlink(sol_path);
    gridems_schedule_free(&s);
    gridems_scenario_free(&sc);
    free(cpu);
    free(wall);
    return m;
}

/* Least-squares slope of log(y) against log(x) over the points with y > 0. */
static double loglog_slope(const double *x, const double *y, int n)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] > 0) {
            double lx = log(x[i]), ly = log(y[i]);
            sx += lx;
            sy += ly;
            sxx += lx * lx;
            sxy += lx * ly;
            k++;
        }
    }
    double den = k * sxx - sx * sx;
    return k >= 2 && den != 0 ? (k * sxy - sx * sy) / den : NAN;
}

static bool run_series(const char *name, const point_t *points, int n)
{
    printf("\n### %s\n\n", name);
    printf("| steps x batteries x jobs | columns x rows | gridems cold | gridems warm (price "
           "update) | slowest update / cold (capped) | warm: 1-step shift | slowest shift / cold "
           "(capped) | HiGHS cold | glpsol --lp | cold / HiGHS | warm / HiGHS | iterations cold / "
           "warm | objectives |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    fflush(stdout);
    double x[8] = {0}, cold[8] = {0}, warm[8] = {0}, highs[8] = {0}, glpsol[8] = {0};
    measured_t all[8];
    memset(all, 0, sizeof all);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const point_t *pt = &points[i];
        measured_t m = measure(pt);
        all[i] = m;
        char glpsol_text[32];
        if (m.glpsol_cpu >= 0) {
            snprintf(glpsol_text, sizeof glpsol_text, "%.1f ms", m.glpsol_cpu);
        } else {
            snprintf(glpsol_text, sizeof glpsol_text, "not run");
        }
        printf("| %d x %d x %d | %d x %d | %.1f ms (wall %.1f) | %.1f ms (wall %.1f) | %.2f (%d) "
               "| %.1f ms | %.2f (%d) | %.1f ms (wall %.1f) | %s | %.2f | %.3f | %d / %d | %s |\n",
               pt->steps, pt->batteries, pt->jobs, m.columns, m.rows, m.cold_cpu, m.cold_wall,
               m.warm_cpu, m.warm_wall, m.warm_max_cpu / m.cold_cpu, m.warm_capped, m.shift_cpu,
               m.shift_max_cpu / m.cold_cpu, m.shift_capped, m.highs_cpu, m.highs_wall, glpsol_text,
               m.cold_cpu / m.highs_cpu, m.warm_cpu / m.highs_cpu, m.it_cold, m.it_warm,
               m.objectives_ok ? "equal" : "MISMATCH");
        fflush(stdout);
        ok = ok && m.objectives_ok;
        x[i] = strcmp(name, "jobs") == 0    ? pt->jobs
               : strcmp(name, "steps") == 0 ? pt->steps
                                            : pt->batteries;
        cold[i] = m.cold_cpu;
        warm[i] = m.warm_cpu;
        highs[i] = m.highs_cpu;
        glpsol[i] = m.glpsol_cpu;
    }
    printf("\nlog-log slope in %s: gridems cold %.2f, warm %.2f; HiGHS %.2f; glpsol %.2f "
           "(points it ran)\n",
           name, loglog_slope(x, cold, n), loglog_slope(x, warm, n), loglog_slope(x, highs, n),
           loglog_slope(x, glpsol, n));
    if (peak_probe) {
        printf("\npeak probe (CPU ms / iterations): the full program cold; without a demand "
               "charge, cold; LP(p*) (g[t] <= p*, no P), cold and warm from the optimum without "
               "a demand charge; |f(p*) + c (p* - peak_so_far) - full| relative\n\n");
        printf("| steps x batteries x jobs | p* kW | full cold | no demand charge | LP(p*) cold | "
               "LP(p*) warm | identity |\n");
        printf("| --- | --- | --- | --- | --- | --- | --- |\n");
        for (int i = 0; i < n; i++) {
            const measured_t *m = &all[i];
            if (!m->probed) {
                continue;
            }
            printf("| %d x %d x %d | %.6g | %.1f / %d | %.1f / %d | %.1f / %d | %.1f / %d (%s) | "
                   "%.1e |\n",
                   points[i].steps, points[i].batteries, points[i].jobs, m->peak, m->cold_cpu,
                   m->it_cold, m->nodc_cpu, m->it_nodc, m->fixed_cpu, m->it_fixed,
                   m->fixed_warm_cpu, m->it_fixed_warm,
                   gridems_start_kind_name(m->fixed_warm_start), m->decomposition_gap);
            if (!(m->decomposition_gap <= 1e-9)) {
                fprintf(stderr,
                        "peak probe: the identity f(p*) + c (p* - peak_so_far) = "
                        "optimum is off by %.3g\n",
                        m->decomposition_gap);
                ok = false;
            }
        }
    }
    fflush(stdout);
    return ok;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    int max_jobs = 1 << 30, max_steps = 1 << 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--updates") == 0 && i + 1 < argc) {
            updates = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--max-jobs") == 0 && i + 1 < argc) {
            max_jobs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-steps") == 0 && i + 1 < argc) {
            max_steps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--glpsol-max-columns") == 0 && i + 1 < argc) {
            glpsol_max_columns = atol(argv[++i]);
        } else if (strcmp(argv[i], "--classes") == 0 && i + 1 < argc) {
            classes = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
            keep_dir = argv[++i];
        } else if (strcmp(argv[i], "--lpref") == 0 && i + 1 < argc) {
            lpref = argv[++i];
        } else if (strcmp(argv[i], "--peak-probe") == 0) {
            peak_probe = true;
        } else if (strcmp(argv[i], "--heap-default") == 0) {
            heap_default = true;
        } else if (strcmp(argv[i], "--prices") == 0 && i + 1 < argc) {
            if (bench_prices_load(&prices, argv[++i]) != 0) {
                return 2;
            }
        } else {
            fprintf(
                stderr,
                "usage: %s [--runs N] [--updates N] [--series jobs|steps|batteries] [--max-jobs N] "
                "[--max-steps N] [--glpsol-max-columns N] [--classes N] [--lpref PATH] [--keep "
                "DIR] [--peak-probe] [--prices CSV] [--heap-default]\n",
                argv[0]);
            return 2;
        }
    }
    if (runs < 1) {
        runs = 1;
    }
    if (updates < 1) {
        updates = 1;
    }
    if (access(lpref, R_OK) != 0) {
        fprintf(stderr, "the HiGHS reference %s is not there (--lpref PATH)\n", lpref);
        return 2;
    }
    char pinned_text[64] = "not pinned to one CPU";
    int cpu = bench_pin_to_one_cpu();
    if (cpu >= 0) {
        snprintf(pinned_text, sizeof pinned_text, "every solver pinned to CPU %d", cpu);
    }
    bool kept = !heap_default && gridems_optimizer_keep_memory();
    printf(
        "CPU ms, median of %d runs, %d where a cold solve takes under %.0f ms (warm: median of %d "
        "price updates; glpsol: up to 3 runs)%s; %s; %s prices; gridems' freed memory %s\n",
        runs, runs > SHORT_SOLVE_RUNS ? runs : SHORT_SOLVE_RUNS, SHORT_SOLVE_MS, updates,
        classes > 0 ? "; jobs drawn from classes" : "", pinned_text,
        prices.count > 0 ? "real (--prices)" : "synthetic",
        kept ? "kept between solves (as the gridems binary)" : "given back (glibc's default)");
    const point_t jobs[] = {{96, 4, 50}, {96, 4, 200}, {96, 4, 800}, {96, 4, 2000}};
    const point_t steps[] = {{96, 4, 50}, {192, 4, 50}, {384, 4, 50}, {768, 4, 50}};
    const point_t batteries[] = {{96, 4, 50}, {96, 16, 50}, {96, 64, 50}};
    point_t chosen[4];
    bool ok = true;
    int n = 0;
    if (only == NULL || strcmp(only, "jobs") == 0) {
        for (int i = 0; i < 4; i++) {
            if (jobs[i].jobs <= max_jobs) {
                chosen[n++] = jobs[i];
            }
        }
        ok = run_series("jobs", chosen, n) && ok;
    }
    if (only == NULL || strcmp(only, "steps") == 0) {
        n = 0;
        for (int i = 0; i < 4; i++) {
            if (steps[i].steps <= max_steps) {
                chosen[n++] = steps[i];
            }
        }
        ok = run_series("steps", chosen, n) && ok;
    }
    if (only == NULL || strcmp(only, "batteries") == 0) {
        ok = run_series("batteries", batteries, 3) && ok;
    }
    highs_stop();
    return ok ? 0 : 1;
}
