/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gridems-demo: the live demo. The pieces, shared between the demo's source files:
 *   - demo_proc.c: the temporary directory, a free loopback port, starting and stopping the
 *     child processes (mosquitto and the real `gridems run`);
 *   - demo_ledger.c: the accounting of energy and cost per half hour, with gridems (from the
 *     devices' telemetry) and without it (the same site with no batteries and no flexibility);
 *   - demo_main.c: the command line, the site config, acting as the utility (prices on MQTT),
 *     observing over MQTT and printing the table.
 */
#ifndef GRIDEMS_DEMO_H
#define GRIDEMS_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define DEMO_MS_PER_HOUR 3600000.0
#define DEMO_SLOT_MS INT64_C(1800000) /* the JEPX half hour */
#define DEMO_SLOTS_PER_DAY 48

/* ---- ## Processes and files (demo_proc.c) ---- */

/* Set by the signal handler: SIGINT, SIGTERM or SIGHUP asked the demo to stop. */
extern volatile int demo_stop_signal;

/* Install the handlers that set demo_stop_signal (and ignore SIGPIPE). */
void demo_install_signals(void);

/* A fresh private directory under $TMPDIR or /tmp; 0 or -1 (errno set). */
int demo_make_temp_dir(char *out, size_t len);

/* Remove a directory tree that the demo created (no symlinks are followed). */
void demo_remove_tree(const char *path);

/* A loopback TCP port that is free now (the kernel picks it), or -1. */
int demo_free_port(void);

/* The mosquitto binary: on PATH, else /usr/sbin/mosquitto. NULL when there is none. */
const char *demo_find_mosquitto(char *buf, size_t len);

/*
 * Start argv[0] with argv in its own process group, stdout and stderr appended to log_path
 * (NULL: inherited). The child gets SIGTERM if the demo dies. Returns the pid or -1.
 */
pid_t demo_spawn(char *const argv[], const char *log_path);

/*
 * Has the child exited? 1 with *status (a waitpid status) when it has, 0 when it runs, -1 on
 * error. Reaps it.
 */
int demo_child_exited(pid_t pid, int *status);

/*
 * Send sig to the child and wait up to timeout_ms for it to exit; SIGKILL it after that. Returns
 * the waitpid status (or -1 when it could not be reaped); *killed is set when SIGKILL was needed.
 */
int demo_stop_child(pid_t pid, int sig, int timeout_ms, int *killed);

/* Milliseconds of a monotonic clock. */
int64_t demo_mono_ms(void);

/* Print the last max_lines lines of a log file to stderr, indented. */
void demo_print_log_tail(const char *path, int max_lines);

/* ---- ## Time (demo_ledger.c) ---- */

/* Parse "YYYY-MM-DDTHH:MM[:SS]" followed by "Z" or "+HH:MM"/"-HH:MM" into Unix ms; 0 or -1. */
int demo_parse_iso(const char *s, int64_t *out_ms);

/* A Unix ms time as the broken-down local time at a fixed UTC offset (for strftime). */
void demo_local_tm(int64_t ms, int offset_min, struct tm *out);

/* ---- ## The ledger (demo_ledger.c) ---- */

/* One cumulative energy register of one device, as last seen in its telemetry. */
typedef struct demo_register_s {
    int64_t t_ms;
    double kwh;
} demo_register_t;

/* One training job, as the cluster's telemetry describes it. */
typedef struct demo_job_s {
    char id[64];
    int64_t arrival_ms;
    int64_t deadline_ms;
    double energy_kwh;
    double power_max_kw;
    /* With gridems: what the cluster reports. */
    int finished;
    int64_t finished_ms;
    /* The baseline's own run of the job (full power from its arrival). */
    double base_left_kwh;
    int base_finished;
    int64_t base_finished_ms;
} demo_job_t;

/* What kind of energy a register counts, and so which half-hour array it feeds. */
typedef enum demo_flow_e {
    DEMO_FLOW_BASE_LOAD,  /* the inflexible load's meter */
    DEMO_FLOW_CLUSTER,    /* energy delivered to the training jobs */
    DEMO_FLOW_CHARGE,     /* energy the batteries took from the site bus */
    DEMO_FLOW_DISCHARGE,  /* energy the batteries gave to the site bus */
    DEMO_FLOW_COUNT
} demo_flow_t;

typedef struct demo_ledger_s {
    int64_t start_ms; /* the first half hour's start: the week's first price */
    int n_slots;
    double *price;                      /* import price the site pays, JPY/kWh, per slot */
    double *spot;                       /* the JEPX part of it */
    double *flow_kwh[DEMO_FLOW_COUNT];  /* per slot, with gridems */
    double *baseline_cluster_kwh;       /* per slot, the jobs at full power from arrival */
    double cluster_cap_kw;              /* the cluster's own cap, which the baseline obeys too */
    demo_job_t *jobs;
    size_t n_jobs;
    size_t cap_jobs;
    int64_t baseline_t_ms; /* the baseline cluster is simulated up to here */
} demo_ledger_t;

/* One day's (or the week's) figures. */
typedef struct demo_summary_s {
    double spot_avg;        /* mean JEPX price, JPY/kWh */
    double import_kwh;      /* with gridems */
    double base_import_kwh; /* without */
    double cost;            /* energy cost with gridems, JPY */
    double base_cost;       /* without */
    double peak_kw;         /* largest half-hour mean import, with gridems */
    double base_peak_kw;    /* without */
    int jobs_due;           /* jobs whose deadline falls in the period */
    int jobs_on_time;       /* of those, finished by their deadline with gridems */
    int base_jobs_on_time;  /* of those, finished by their deadline in the baseline */
    double battery_kwh_out; /* energy the batteries gave to the site */
} demo_summary_t;

/*
 * Read the JEPX CSV (timestamp_jst,price rows, 30 minutes apart) and set up the ledger; the
 * import price is the spot price plus network_charge. Returns 0, or -1 with err set.
 */
int demo_ledger_init(demo_ledger_t *l, const char *csv_path, double network_charge,
                     char *err, size_t errlen);
void demo_ledger_free(demo_ledger_t *l);

/*
 * A device's register moved from *reg to (t_ms, kwh): add the difference to the flow's half
 * hours, spread evenly over the time between the two readings. Updates *reg.
 */
void demo_ledger_add(demo_ledger_t *l, demo_flow_t flow, demo_register_t *reg, int64_t t_ms,
                     double kwh);

/* Learn or update a job from the cluster's telemetry; -1 when out of memory. */
int demo_ledger_job(demo_ledger_t *l, const demo_job_t *seen);

/* Run the baseline cluster (every job at full power from its arrival) up to t_ms. */
void demo_ledger_run_baseline(demo_ledger_t *l, int64_t t_ms);

/* The figures for the slots [first, first + n). */
void demo_ledger_summary(const demo_ledger_t *l, int first, int n, demo_summary_t *out);

#endif
