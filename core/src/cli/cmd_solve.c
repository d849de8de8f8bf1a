/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `gridems solve`: one scenario file in, one schedule out (docs/optimizer.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "file_util.h"
#include "gridems/errors.h"
#include "gridems/optimizer.h"

static void usage(FILE *out)
{
    fputs("usage: gridems solve [options] SCENARIO.json\n"
          "\n"
          "Solve the scheduling LP of a scenario file (format v1, docs/optimizer.md) to\n"
          "optimality with GLPK and write the schedule JSON. SCENARIO may be - for stdin.\n"
          "\n"
          "options:\n"
          "  -o, --output FILE      write the schedule to FILE instead of stdout\n"
          "      --summary          print a readable summary instead of the JSON\n"
          "                         (with --output, the JSON goes to FILE and the summary to "
          "stdout)\n"
          "      --write-lp FILE    also write the program in CPLEX LP format (glpsol --lp FILE)\n"
          "      --time-limit MS    give up after MS milliseconds (exit 1)\n"
          "  -v, --verbose          let GLPK print its progress on stderr\n"
          "  -h, --help             this text\n"
          "\n"
          "exit codes: 0 optimal schedule written, 1 solver or I/O failure, 2 bad input\n",
          out);
}

static void print_summary(const gridems_scenario_t *sc, const gridems_schedule_t *s)
{
    const char *cur = sc->currency != NULL ? sc->currency : "";
    double dt = gridems_scenario_dt_hours(sc);
    double imported = 0, exported = 0, unserved = 0;
    for (int t = 0; t < s->steps; t++) {
        imported += dt * s->grid_import_kw[t];
        exported += dt * s->grid_export_kw[t];
        unserved += dt * s->unserved_kw[t];
    }
    printf("scenario: %d steps of %g min from %s\n", sc->steps, sc->step_minutes,
           sc->start != NULL ? sc->start : "(no start time)");
    printf("objective: %.2f %s (optimal, %d iterations, %.1f ms, %d columns x %d rows)\n",
           s->objective, cur, s->iterations, s->solve_ms, s->columns, s->rows);
    printf("  energy %.2f  export -%.2f  degradation %.2f  demand %.2f  carbon %.2f  "
           "penalty %.2f\n",
           s->cost_energy, s->cost_export, s->cost_degradation, s->cost_demand, s->cost_carbon,
           s->cost_penalty);
    printf("grid: %.1f kWh imported, %.1f kWh exported, peak %.1f kW, %.1f kWh unserved\n",
           imported, exported, s->peak_import_kw, unserved);
    for (int b = 0; b < s->n_batteries; b++) {
        double charged = 0, discharged = 0;
        for (int t = 0; t < s->steps; t++) {
            charged += dt * s->batteries[b].charge_kw[t];
            discharged += dt * s->batteries[b].discharge_kw[t];
        }
        printf("battery %s: charges %.1f kWh, discharges %.1f kWh, energy %.1f -> %.1f kWh\n",
               sc->batteries[b].id, charged, discharged, s->batteries[b].soc_kwh[0],
               s->batteries[b].soc_kwh[s->steps]);
    }
    for (int j = 0; j < s->n_flex_loads; j++) {
        printf("flexible load %s: %.1f of %.1f kWh scheduled%s\n", sc->flex_loads[j].id,
               sc->flex_loads[j].energy_kwh - s->flex_loads[j].unmet_kwh,
               sc->flex_loads[j].energy_kwh,
               s->flex_loads[j].unmet_kwh > 1e-6 ? " (NOT all by its deadline)" : "");
    }
    puts("step  price/kWh  marginal  load kW  import kW  storage kWh");
    for (int t = 0; t < s->steps; t++) {
        double stored = 0;
        for (int b = 0; b < s->n_batteries; b++) {
            stored += s->batteries[b].soc_kwh[t + 1];
        }
        printf("%4d  %9.3f  %8.3f  %7.1f  %9.1f  %11.1f\n", t, sc->import_per_kwh[t],
               s->marginal_price_per_kwh[t], sc->base_load_kw[t], s->grid_import_kw[t], stored);
    }
}

static int write_output(const char *path, const char *text)
{
    if (path == NULL) {
        fputs(text, stdout);
        fputc('\n', stdout);
        return fflush(stdout) == 0 ? 0 : GRIDEMS_EIO;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return GRIDEMS_EIO;
    }
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : GRIDEMS_EIO;
}

typedef struct solve_args_s {
    const char *scenario;
    const char *output;
    const char *lp_file;
    bool summary;
    bool verbose;
    double time_limit_ms;
} solve_args_t;

static int parse_args(int argc, char **argv, solve_args_t *a)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"write-lp", required_argument, NULL, 'L'},
                                             {"summary", no_argument, NULL, 's'},
                                             {"time-limit", required_argument, NULL, 't'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case 'L':
            a->lp_file = optarg;
            break;
        case 's':
            a->summary = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 't': {
            char *end = NULL;
            a->time_limit_ms = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(a->time_limit_ms > 0)) {
                fprintf(stderr,
                        "gridems solve: --time-limit: must be a positive number of "
                        "milliseconds, got \"%s\"\n",
                        optarg);
                return GRIDEMS_EXIT_USAGE;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return GRIDEMS_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "gridems solve: expected one scenario file\n");
        usage(stderr);
        return GRIDEMS_EXIT_USAGE;
    }
    a->scenario = argv[optind];
    return 0;
}

static int solve_loaded(const solve_args_t *a, const gridems_scenario_t *sc)
{
    gridems_optimizer_opts_t opts = {a->time_limit_ms, a->verbose, false};
    gridems_optimizer_t *opt = NULL;
    if (gridems_optimizer_create(&opt, &opts) != 0) {
        fprintf(stderr, "gridems solve: out of memory\n");
        return GRIDEMS_EXIT_FAILURE;
    }
    int exit_code = GRIDEMS_EXIT_OK;
    char err[512] = "";
    gridems_schedule_t sched;
    memset(&sched, 0, sizeof sched);
    int rc = gridems_optimizer_solve(opt, sc, &sched, err, sizeof err);
    if (a->lp_file != NULL && rc != GRIDEMS_EINVAL &&
        gridems_optimizer_write_lp(opt, a->lp_file) != 0) {
        fprintf(stderr, "gridems solve: cannot write the LP to %s\n", a->lp_file);
        exit_code = GRIDEMS_EXIT_FAILURE;
    }
    if (rc != 0) {
        fprintf(stderr, "gridems solve: %s: %s\n", a->scenario, err);
        exit_code = rc == GRIDEMS_EINVAL ? GRIDEMS_EXIT_USAGE : GRIDEMS_EXIT_FAILURE;
    } else {
        char *json = gridems_schedule_to_json(sc, &sched);
        if (json == NULL) {
            fprintf(stderr, "gridems solve: out of memory writing the schedule\n");
            exit_code = GRIDEMS_EXIT_FAILURE;
        } else {
            if ((!a->summary || a->output != NULL) && write_output(a->output, json) != 0) {
                fprintf(stderr, "gridems solve: cannot write %s\n",
                        a->output != NULL ? a->output : "stdout");
                exit_code = GRIDEMS_EXIT_FAILURE;
            }
            if (a->summary) {
                print_summary(sc, &sched);
            }
            free(json);
        }
    }
    gridems_schedule_free(&sched);
    gridems_optimizer_destroy(opt);
    return exit_code;
}

int gridems__cmd_solve(int argc, char **argv)
{
    solve_args_t args;
    int rc = parse_args(argc, argv, &args);
    if (rc != 0) {
        return rc < 0 ? GRIDEMS_EXIT_OK : rc;
    }
    char *text = NULL;
    size_t len = 0;
    rc = gridems_read_file(args.scenario, &text, &len);
    if (rc != 0) {
        fprintf(stderr, "gridems solve: %s: cannot read: %s\n", args.scenario,
                gridems_strerror(rc));
        return rc == GRIDEMS_ENOMEM || rc == GRIDEMS_EIO ? GRIDEMS_EXIT_FAILURE
                                                         : GRIDEMS_EXIT_USAGE;
    }
    gridems_scenario_t sc;
    char err[512] = "";
    rc = gridems_scenario_parse_json(text, len, &sc, err, sizeof err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "gridems solve: %s: %s\n", args.scenario, err);
        return rc == GRIDEMS_ENOMEM ? GRIDEMS_EXIT_FAILURE : GRIDEMS_EXIT_USAGE;
    }
    int exit_code = solve_loaded(&args, &sc);
    gridems_scenario_free(&sc);
    return exit_code;
}
