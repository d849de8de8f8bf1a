/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `gridems backtest` (spec: backtest.md; docs/backtest.md for gridems's decisions): the real
 * service, driven in lockstep (lockstep.h) over a period of real prices against a private
 * mosquitto and the simulated devices, compared with the same site without gridems (baseline)
 * and with the best any scheduler could do (one LP over the period: perfect foresight).
 *
 * The pieces, each in its own file:
 *   cmd_backtest.c       command line, the run (broker, config, driver), exit codes
 *   backtest_inputs.c    the price CSV and the site config the service runs on
 *   backtest_ledger.c    what the site did, from the devices' telemetry (energy registers)
 *   backtest_compare.c   the baseline, the perfect-foresight LP, the report and the summary
 *
 * Threads: the main thread (which runs the service's loop). Ownership: each struct owns what
 * it points to and is freed by its _free function.
 */
#ifndef GRIDEMS_BACKTEST_H
#define GRIDEMS_BACKTEST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "service_config.h"

#define BT_ERR_MAX 512

/* ---- ## Prices (backtest_inputs.c) ---- */

/* A price file: row i holds from start_ms + i * step_ms for step_ms, in currency per kWh (unit
 * conversion and adder applied). */
typedef struct bt_prices_s {
    int64_t start_ms;
    int64_t step_ms;
    int n;
    double *per_kwh;
} bt_prices_t;

/*
 * Read a price CSV (backtest.md "Price file"). column: the price column's name, or NULL for the
 * only column named like a price (or the second of two). per_mwh: values are per MWh. adder:
 * added per kWh after conversion. Errors name the file, line and column.
 */
int bt_prices_read(const char *path, const char *column, bool per_mwh, double adder,
                   bt_prices_t *out, char *err, size_t errlen);
void bt_prices_free(bt_prices_t *p);
/* The time-weighted mean price over [t0, t1) (held at the ends beyond the file). */
double bt_prices_mean(const bt_prices_t *p, int64_t t0, int64_t t1);
/* Whether the file covers [t0, t1) completely. */
bool bt_prices_cover(const bt_prices_t *p, int64_t t0, int64_t t1);

/* ---- ## The run's settings (cmd_backtest.c) ---- */

typedef struct bt_options_s {
    const char *config_path;
    const char *prices_path;
    const char *price_column;
    bool price_per_mwh;
    double price_adder;
    const char *load_path; /* NULL: the meter's own profile */
    const char *jobs_path; /* NULL: the cluster's own jobs */
    bool has_start;
    int64_t start_ms;
    int days; /* 0: the whole file */
    int warmup_days;
    int publish_at_min; /* local minutes after midnight */
    long long seed;
    int tick_seconds; /* the simulated devices' telemetry period */
    const char *report_path;
    const char *series_path; /* NULL: no per-step CSV */
    const char *keep_dir;    /* NULL: a temporary directory, removed at the end */
    bool quiet;              /* no progress line */
    double speed;            /* at most this many times real time; 0 = no pacing */
} bt_options_t;

/*
 * Write the config the service runs on into dir/site.json: the operator's config with the
 * clock, the broker, state_dir and the simulated devices' timing, seed, load and jobs set by the
 * backtest. Also returns the devices the ledger watches. Errors name the config key.
 */
typedef enum { BT_DEV_BATTERY, BT_DEV_METER, BT_DEV_CLUSTER } bt_dev_kind_t;
typedef struct bt_device_s {
    bt_dev_kind_t kind;
    char name[80];
    char topic[300]; /* <topic_prefix>/telemetry */
    double cycle_cost_per_kwh;
    bool load_role; /* meter: role "load" (the inflexible load) */
} bt_device_t;

int bt_write_config(const bt_options_t *o, const char *dir, int port, int64_t clock_start_ms,
                    bt_device_t *devs, int *n_devs, int max_devs, char *out_path, size_t out_len,
                    char *err, size_t errlen);

/* ---- ## The ledger (backtest_ledger.c) ---- */

typedef struct bt_job_s {
    char id[64];
    int dev; /* the cluster device that reports it (index into the devices) */
    int64_t arrival_ms, deadline_ms;
    double energy_kwh, power_max_kw;
    bool finished;
    int64_t finished_ms;
    double delivered_by_deadline_kwh; /* as last reported at or before the deadline */
} bt_job_t;

/* Per step of the period, what each flow of energy was. */
typedef struct bt_ledger_s {
    int64_t start_ms, step_ms;
    int steps;
    double *base_kwh;      /* the inflexible load */
    double *cluster_kwh;   /* delivered to the jobs */
    double *charge_kwh;    /* taken by the batteries */
    double *discharge_kwh; /* given by the batteries */
    double *wear_cost;     /* each battery's discharge x its cycle_cost_per_kwh */
    /* Registers, per device (same order as the devices). */
    int n_devs;
    const bt_device_t *devs;
    int64_t *last_ts;
    double (*last_reg)[2];
    bool *seen;
    double *soc_start, *soc_end; /* batteries: at the period's start and end */
    bool *soc_start_set;
    /* Weeks of the period (7 days from its start, the last may be shorter) and, per battery,
     * its energy at each week's end: soc_week_end[i * weeks + w], the last reading at or before
     * it (so the last week's is soc_end). */
    int week_steps, weeks;
    double *soc_week_end;
    cJSON **first_caps;     /* batteries: the first telemetry (limits, efficiencies) */
    double *cluster_cap_kw; /* [n_devs] clusters: the cap they report (0: none) */
    bt_job_t *jobs;
    int n_jobs, cap_jobs;
    uint64_t plans;
    double *planned_import_kw; /* per step: the import the last plan made in the step expected */
    double *forecast_base_kw;  /* per step: that plan's base-load forecast for the step */
    double *solve_ms;          /* each plan's solve wall time, from P/schedule */
    int n_solve, cap_solve;
    uint64_t last_plan_id;
} bt_ledger_t;

int bt_ledger_init(bt_ledger_t *l, int64_t start_ms, int64_t step_ms, int steps,
                   const bt_device_t *devs, int n_devs);
void bt_ledger_free(bt_ledger_t *l);
/* A telemetry message of device i. */
void bt_ledger_telemetry(bt_ledger_t *l, int i, const char *payload, size_t len);
/* A P/schedule message. */
void bt_ledger_schedule(bt_ledger_t *l, const char *payload, size_t len);

/* ---- ## The comparison (backtest_compare.c) ---- */

typedef struct bt_result_s {
    double energy_cost, demand_charge, battery_wear, stored_energy_value, total;
    double peak_kw, import_kwh, late_kwh;
    int jobs, jobs_on_time;
    double objective;  /* perfect foresight only */
    double *import_kw; /* per step, owned */
} bt_result_t;

typedef struct bt_compare_s {
    bt_result_t gridems, baseline, pf;
    double *price; /* per step */
    double mean_price;
    char pf_error[BT_ERR_MAX];
} bt_compare_t;

/*
 * Work out the three columns from the ledger and the prices. scenario_out (may be NULL) gets
 * the perfect-foresight scenario as JSON (malloc'd), for `--pf-scenario`.
 */
int bt_compare(const bt_ledger_t *l, const bt_prices_t *prices, const gridems_service_config_t *cfg,
               bt_compare_t *out, char **scenario_out, char *err, size_t errlen);
void bt_compare_free(bt_compare_t *c);

/* The report JSON (backtest.md "Report"), malloc'd. */
char *bt_report_json(const bt_compare_t *c, const bt_ledger_t *l, const bt_options_t *o,
                     const gridems_service_config_t *cfg, double wall_s);
/* The per-step CSV (step start, price, base load, cluster, battery, the three imports), for a
 * plot or a spreadsheet. Returns 0 or -1. */
int bt_write_series(const char *path, const bt_compare_t *c, const bt_ledger_t *l,
                    const gridems_service_config_t *cfg);

/* The human summary on f. */
void bt_print_summary(FILE *f, const bt_compare_t *c, const bt_ledger_t *l,
                      const gridems_service_config_t *cfg, double wall_s);

#endif
