/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_sim: a simulated AI training cluster with deferrable jobs, behind a simulated
 * scheduler gateway that talks MQTT the way a real cluster-scheduler bridge would (class
 * GRIDEMS_DEV_FLEX_LOAD).
 *
 * Jobs arrive on the host clock (api->now_ms(), which may run much faster than real time), each
 * with an energy to deliver, a largest power and a deadline. Each job runs at the power of the
 * last command the gateway executed (clamped to the job's power_max_kw; all jobs together
 * scaled down to the cluster's cap), accumulates delivered energy and finishes when it has
 * delivered its energy. Two halves share nothing but the MQTT topics:
 *   - the gateway simulator owns the jobs. Every tick_ms (real time) it integrates up to the host
 *     clock and publishes telemetry on <topic_prefix>/telemetry at least telemetry_interval_ms of
 *     host-clock time after the previous message, and at once after each accepted command. It
 *     executes the commands it receives on <topic_prefix>/cmd.
 *   - the driver registers the device, turns telemetry into a measurement (total power) and into
 *     the capabilities (the list of unfinished jobs), and turns each set-point into a command.
 *
 * ---- ## Telemetry: <topic_prefix>/telemetry, QoS 0, not retained ----
 *
 *   {"ts":1683475200000,            host-clock ms (Unix epoch) the state refers to
 *    "power_kw":75,                 total power of the jobs now (consumption, >= 0)
 *    "power_cap_kw":5000,           the cluster's own total power cap
 *    "energy_kwh":150,              energy delivered to jobs since the gateway started
 *    "safe_mode":false,
 *    "safe_reason":"watchdog",      only when safe_mode: "startup", "command" or "watchdog"
 *    "safe_policy":"hold",          what safe mode does: "hold" (jobs paused) or "run"
 *    "plan_id":3, "cmd_ts":1683475200000, "valid_until":1683477000000, "cmd_cap_kw":-1,
 *                                   the last accepted command (absent before the first)
 *    "cmd_accepted":3, "cmd_ignored":0, "cmd_malformed":0,
 *    "stats":{"arrived":3,"finished":1,"on_time":1,"late":0,
 *             "running":2,"waiting":0,"overdue":0},
 *                                   counts since start (arrived, finished, finished on time or
 *                                   late) and now (unfinished jobs running, waiting at 0 kW,
 *                                   past their deadline)
 *    "jobs":[{"id":"train1-0001",   unique, [A-Za-z0-9_.:-], at most 63 characters
 *             "arrival":1683471600000,     host-clock ms; the job may not run earlier
 *             "deadline":1683486000000,    host-clock ms; it should be done by then
 *             "energy_kwh":100, "power_max_kw":50,
 *             "delivered_kwh":50, "remaining_kwh":50,
 *             "power_kw":25,               running at, now
 *             "finished":false,
 *             "finished_at":1683482400000, only when finished
 *             "finished_on_time":false,    finished and finished_at <= deadline
 *             "missed_deadline":false}]}   finished late, or unfinished and past the deadline
 *
 * "jobs" lists every unfinished job that has arrived and the jobs that finished within the last
 * keep_finished_hours; the counts in "stats" cover every job since start. Readers ignore members
 * they do not know.
 * The driver takes the newest message by ts, and refuses one stamped more than a minute ahead
 * of the host clock (GRIDEMS_READING_MAX_AHEAD_MS: it would make every later message look older).
 *
 * ---- ## Command: <topic_prefix>/cmd, QoS 1, not retained ----
 *
 *   {"plan_id":3,                   required, integer >= 0
 *    "ts":1683475200000,            required, integer: host-clock ms of the plan step
 *    "valid_until":1683477000000,   optional: enter safe mode at this host-clock time unless a
 *                                   newer command came; 0/absent = no limit
 *    "safe_mode":false,             optional, default false
 *    "power_cap_kw":-1,             optional: total cap for the step, < 0/absent = none
 *    "jobs":[{"id":"train1-0001","power_kw":25}, ...]}
 *                                   power per job (>= 0); jobs not listed, and listed ids the
 *                                   gateway does not know (yet), get 0
 *
 * Idempotency is that of battery_sim: a command runs only if (plan_id, ts) is newer than the
 * last executed one (plan_id first), except that a safe-mode command with the same key as an
 * executed normal command is executed too. Duplicates and older commands are counted in
 * cmd_ignored; a malformed command is counted in cmd_malformed and logged (1st, 2nd, 4th ...).
 *
 * ---- ## Safe mode ----
 *
 * The gateway is in safe mode before its first command, after a safe-mode command, and once a
 * command's valid_until has passed. Then, with safe_policy "hold" (default) every job waits at
 * 0 kW; with "run" the cluster's own scheduler takes over: jobs run at their power_max_kw,
 * earliest deadline first, within power_cap_kw.
 *
 * ---- ## Jobs ----
 *
 * With option `jobs`, the jobs come from a CSV file, one job per line (blank lines, '#' lines
 * and a header line are skipped):
 *   id,arrival,energy_kwh,power_max_kw,deadline_hours
 *   train-a,0,3000,800,12                    arrival in hours after the plugin started
 *   train-b,2023-05-08T09:00:00+09:00,1500,400,6
 *                                            or an ISO 8601 time with offset
 * deadline_hours counts from the arrival. Without `jobs`, jobs are generated from `seed`:
 * arrivals are a Poisson process of jobs_per_day; each job's energy and power_max are uniform in
 * [0.5, 1.5] times job_energy_kwh and job_power_kw (rounded to 0.1), and its deadline is its
 * shortest run time plus a slack uniform in [0.5, 1.5] times deadline_slack_hours (rounded up to
 * a whole minute). The same seed and start time give the same jobs.
 *
 * Integration is piecewise between events (arrivals, finishes, the watchdog time), so the
 * delivered energies and finish times do not depend on how often ticks come.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "sim_command.h"
#include "sim_common.h"

/* Bounds that keep one instance's memory and message sizes sane. */
#define MAX_JOBS 10000
#define MAX_CMD_JOBS 100000
#define JOBS_FILE_MAX_BYTES ((size_t)4 << 20)

/* ---- ## Options ---- */

typedef struct cluster_opts_s {
    gridems__sim_common_opts_t common; /* first: gridems__sim_init_check reads it */
    double power_cap_kw;
    const char *jobs;
    int64_t seed;
    double jobs_per_day;
    double job_energy_kwh;
    double job_power_kw;
    double deadline_slack_hours;
    double keep_finished_hours;
    const char *safe_policy;
} cluster_opts_t;
_Static_assert(offsetof(cluster_opts_t, common) == 0,
               "gridems__sim_init_check reads the common options");

static const gridems_option_t cluster_options[] = {
    GRIDEMS__SIM_COMMON_OPTIONS(cluster_opts_t),
    {GRIDEMS_OPT_DOUBLE, "power_cap_kw", NULL, 1, offsetof(cluster_opts_t, power_cap_kw),
     "total power cap of the cluster, kW (> 0)"},
    {GRIDEMS_OPT_STRING, "jobs", NULL, 0, offsetof(cluster_opts_t, jobs),
     "CSV of id,arrival,energy_kwh,power_max_kw,deadline_hours (default: generated jobs)"},
    {GRIDEMS_OPT_INT, "seed", "1", 0, offsetof(cluster_opts_t, seed), "seed of the generated jobs"},
    {GRIDEMS_OPT_DOUBLE, "jobs_per_day", "6", 0, offsetof(cluster_opts_t, jobs_per_day),
     "generated jobs: mean arrivals per day (0 = none)"},
    {GRIDEMS_OPT_DOUBLE, "job_energy_kwh", "2000", 0, offsetof(cluster_opts_t, job_energy_kwh),
     "generated jobs: mean energy, kWh"},
    {GRIDEMS_OPT_DOUBLE, "job_power_kw", "500", 0, offsetof(cluster_opts_t, job_power_kw),
     "generated jobs: mean largest power, kW"},
    {GRIDEMS_OPT_DOUBLE, "deadline_slack_hours", "8", 0,
     offsetof(cluster_opts_t, deadline_slack_hours),
     "generated jobs: mean hours between the shortest finish and the deadline"},
    {GRIDEMS_OPT_DOUBLE, "keep_finished_hours", "24", 0,
     offsetof(cluster_opts_t, keep_finished_hours),
     "host-clock hours a finished job stays in the telemetry"},
    {GRIDEMS_OPT_STRING, "safe_policy", "hold", 0, offsetof(cluster_opts_t, safe_policy),
     "safe mode: hold (jobs paused) or run (own scheduler: full power, earliest deadline first)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "cluster_sim",
    .version = "1.0",
    .description = "simulated AI training cluster with deadline jobs behind a simulated MQTT "
                   "scheduler gateway",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
    .options = cluster_options,
    .context_size = sizeof(cluster_opts_t),
};

/* ---- ## State ---- */

typedef struct job_s {
    char id[64];
    uint32_t seq; /* order of appearance, for stable sorting */
    int64_t arrival_ms;
    int64_t deadline_ms;
    double energy_kwh;
    double power_max_kw;
    double delivered_kwh;
    double power_kw; /* allocated now */
    int finished;
    int64_t finished_ms;
} job_t;

typedef struct cmd_job_s {
    char id[64];
    double power_kw;
} cmd_job_t;

typedef struct command_s {
    gridems__sim_cmd_head_t head;
    double cap_kw;
    cmd_job_t *jobs; /* owned */
    size_t n_jobs;
} command_t;

/* The gateway's side: the jobs, the physics and the command it executes. */
typedef struct gateway_s {
    int64_t t_ms;
    job_t *jobs; /* arrived jobs: unfinished, and finished ones kept for the telemetry */
    size_t n_jobs;
    size_t cap_jobs;
    job_t **order; /* scratch for the earliest-deadline-first order, cap_jobs entries */

    job_t *pending; /* jobs from the file, sorted by arrival */
    size_t n_pending;
    size_t next_pending;

    int generate;
    gridems__sim_rng_t rng;
    int64_t next_gen_ms;
    uint32_t seq;

    int safe;
    const char *safe_reason;
    int have_cmd;
    command_t cmd; /* the last executed command, valid with have_cmd */
    gridems__sim_cmd_counts_t cmds;

    double energy_kwh;
    uint64_t arrived;
    uint64_t finished;
    uint64_t on_time;
    uint64_t late;
    uint64_t dropped;

    gridems__sim_telemetry_t telemetry;
    gridems__sim_complaint_t clock_back;
    gridems__sim_complaint_t too_many;
} gateway_t;

/* One job as the driver knows it from telemetry. */
typedef struct drv_job_s {
    char id[64];
    int64_t arrival_ms;
    int64_t deadline_ms;
    double power_max_kw;
    double delivered_kwh;
    double remaining_kwh;
    int finished;
    int64_t finished_ms;
} drv_job_t;

typedef struct driver_s {
    int have;
    int64_t ts;
    double power_kw;
    double energy_kwh;
    double power_cap_kw;
    drv_job_t *jobs; /* owned */
    size_t n_jobs;
    gridems_flex_job_t *caps; /* owned: the array handed to get_capabilities */
    size_t cap_caps;

    gridems__sim_cmd_sent_t sent;
    gridems__sim_complaint_t bad_telemetry;
} driver_t;

typedef struct cluster_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const cluster_opts_t *opts;
    const char *name; /* the instance name (the host's), the prefix of generated job ids */
    int safe_run;     /* safe_policy "run" */
    gridems_device_id_t dev;
    char topic_telemetry[GRIDEMS__SIM_TOPIC_MAX + 16];
    char topic_cmd[GRIDEMS__SIM_TOPIC_MAX + 16];
    gateway_t gw;
    driver_t drv;
    gridems__sim_buf_t buf;
} cluster_t;

/* ---- ## Gateway: jobs arriving ---- */

static double round_tenth(double v)
{
    double r = round(v * 10.0) / 10.0;
    return r < 0.1 ? 0.1 : r;
}

/* The next generated job's arrival, drawn after `after`. */
static int64_t draw_gap(cluster_t *c, int64_t after)
{
    double mean_ms = 86400000.0 / c->opts->jobs_per_day;
    double u = gridems__sim_rng_uniform(&c->gw.rng);
    double gap = -log1p(-u) * mean_ms;
    int64_t gap_s = (int64_t)llround(gap / 1000.0);
    return after + (gap_s < 1 ? 1 : gap_s) * 1000;
}

static int64_t next_arrival(const gateway_t *g)
{
    int64_t t = INT64_MAX;
    if (g->next_pending < g->n_pending) {
        t = g->pending[g->next_pending].arrival_ms;
    }
    if (g->generate && g->next_gen_ms < t) {
        t = g->next_gen_ms;
    }
    return t;
}

static int jobs_reserve(gateway_t *g, size_t n)
{
    if (n <= g->cap_jobs) {
        return 0;
    }
    size_t cap = g->cap_jobs == 0 ? 16 : g->cap_jobs * 2;
    while (cap < n) {
        cap *= 2;
    }
    job_t *jobs = realloc(g->jobs, cap * sizeof *jobs);
    if (jobs == NULL) {
        return GRIDEMS_ENOMEM;
    }
    g->jobs = jobs;
    job_t **order = realloc(g->order, cap * sizeof *order);
    if (order == NULL) {
        return GRIDEMS_ENOMEM;
    }
    g->order = order;
    g->cap_jobs = cap;
    return 0;
}

static void add_job(cluster_t *c, const job_t *j)
{
    gateway_t *g = &c->gw;
    if (g->n_jobs >= MAX_JOBS || jobs_reserve(g, g->n_jobs + 1) < 0) {
        g->dropped++;
        gridems__sim_complain(c->api, c->self, &g->too_many, GRIDEMS_PLUGIN_LOG_ERR,
                              "gateway: job %s dropped: %zu jobs are open (limit %d) or memory "
                              "ran out",
                              j->id, g->n_jobs, MAX_JOBS);
        return;
    }
    g->jobs[g->n_jobs++] = *j;
    g->arrived++;
    c->api->log(c->self, GRIDEMS_PLUGIN_LOG_DEBUG, "gateway: job %s arrived: %g kWh, <= %g kW",
                j->id, j->energy_kwh, j->power_max_kw);
}

/* Make every job whose arrival is at or before t arrive. */
static void arrive(cluster_t *c, int64_t t)
{
    gateway_t *g = &c->gw;
    const cluster_opts_t *o = c->opts;
    while (g->next_pending < g->n_pending && g->pending[g->next_pending].arrival_ms <= t) {
        add_job(c, &g->pending[g->next_pending++]);
    }
    while (g->generate && g->next_gen_ms <= t) {
        job_t j;
        memset(&j, 0, sizeof j);
        g->seq++;
        snprintf(j.id, sizeof j.id, "%.50s-%04" PRIu32, c->name, g->seq);
        j.seq = g->seq;
        j.arrival_ms = g->next_gen_ms;
        j.energy_kwh = round_tenth(o->job_energy_kwh * (0.5 + gridems__sim_rng_uniform(&g->rng)));
        j.power_max_kw = round_tenth(o->job_power_kw * (0.5 + gridems__sim_rng_uniform(&g->rng)));
        double slack_h = o->deadline_slack_hours * (0.5 + gridems__sim_rng_uniform(&g->rng));
        double span_min = (j.energy_kwh / j.power_max_kw + slack_h) * 60.0;
        int64_t minutes = (int64_t)ceil(span_min);
        j.deadline_ms = j.arrival_ms + (minutes < 1 ? 1 : minutes) * 60000;
        add_job(c, &j);
        g->next_gen_ms = draw_gap(c, g->next_gen_ms);
    }
}

/* ---- ## Gateway: power allocation and integration ---- */

static const cmd_job_t *cmd_find(const command_t *cmd, const char *id)
{
    for (size_t i = 0; i < cmd->n_jobs; i++) {
        if (strcmp(cmd->jobs[i].id, id) == 0) {
            return &cmd->jobs[i];
        }
    }
    return NULL;
}

static int by_deadline(const void *a, const void *b)
{
    const job_t *x = *(job_t *const *)a;
    const job_t *y = *(job_t *const *)b;
    if (x->deadline_ms != y->deadline_ms) {
        return x->deadline_ms < y->deadline_ms ? -1 : 1;
    }
    if (x->arrival_ms != y->arrival_ms) {
        return x->arrival_ms < y->arrival_ms ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Set every unfinished job's power for the current state. */
static void allocate(cluster_t *c)
{
    gateway_t *g = &c->gw;
    double cap = c->opts->power_cap_kw;
    if (g->safe) {
        size_t n = 0;
        for (size_t i = 0; i < g->n_jobs; i++) {
            g->jobs[i].power_kw = 0.0;
            if (!g->jobs[i].finished) {
                g->order[n++] = &g->jobs[i];
            }
        }
        if (!c->safe_run) {
            return;
        }
        /* The cluster's own policy: full power, earliest deadline first, within the cap. */
        qsort(g->order, n, sizeof *g->order, by_deadline);
        double left = cap;
        for (size_t i = 0; i < n && left > 0; i++) {
            double p = g->order[i]->power_max_kw < left ? g->order[i]->power_max_kw : left;
            g->order[i]->power_kw = p;
            left -= p;
        }
        return;
    }
    if (g->cmd.cap_kw >= 0 && g->cmd.cap_kw < cap) {
        cap = g->cmd.cap_kw;
    }
    double sum = 0;
    for (size_t i = 0; i < g->n_jobs; i++) {
        job_t *j = &g->jobs[i];
        j->power_kw = 0.0;
        if (j->finished) {
            continue;
        }
        const cmd_job_t *cj = cmd_find(&g->cmd, j->id);
        if (cj != NULL) {
            j->power_kw = cj->power_kw < j->power_max_kw ? cj->power_kw : j->power_max_kw;
        }
        sum += j->power_kw;
    }
    if (sum > cap) {
        /* Over the cap: every job gives up the same share. */
        double f = cap / sum;
        for (size_t i = 0; i < g->n_jobs; i++) {
            g->jobs[i].power_kw *= f;
        }
    }
}

static void watchdog(gateway_t *g)
{
    if (!g->safe && g->have_cmd && g->cmd.head.valid_until > 0 &&
        g->t_ms >= g->cmd.head.valid_until) {
        g->safe = 1;
        g->safe_reason = "watchdog";
    }
}

static void finish_job(gateway_t *g, job_t *j, int64_t at)
{
    g->energy_kwh += j->energy_kwh - j->delivered_kwh;
    j->delivered_kwh = j->energy_kwh;
    j->finished = 1;
    j->finished_ms = at;
    j->power_kw = 0.0;
    g->finished++;
    if (at <= j->deadline_ms) {
        g->on_time++;
    } else {
        g->late++;
    }
}

/* Host-clock time at which job j, running at its power from `from`, has delivered its energy. */
static double finish_time(const job_t *j, int64_t from)
{
    double left = j->energy_kwh - j->delivered_kwh;
    return (double)from + left / j->power_kw * GRIDEMS__SIM_MS_PER_HOUR;
}

/* Drop finished jobs older than keep_finished_hours. */
static void prune(cluster_t *c)
{
    gateway_t *g = &c->gw;
    int64_t keep_ms = (int64_t)llround(c->opts->keep_finished_hours * GRIDEMS__SIM_MS_PER_HOUR);
    size_t n = 0;
    for (size_t i = 0; i < g->n_jobs; i++) {
        job_t *j = &g->jobs[i];
        if (j->finished && g->t_ms - j->finished_ms > keep_ms) {
            continue;
        }
        g->jobs[n++] = *j;
    }
    g->n_jobs = n;
}

/* Integrate from g->t_ms up to now, one constant-power segment at a time. */
static void gw_advance(cluster_t *c, int64_t now)
{
    gateway_t *g = &c->gw;
    if (now < g->t_ms) {
        gridems__sim_complain_clock_back(c->api, c->self, &g->clock_back, g->t_ms - now);
        g->t_ms = now;
        g->telemetry.sent = 0;
        allocate(c);
        return;
    }
    arrive(c, g->t_ms);
    watchdog(g);
    while (g->t_ms < now) {
        int64_t end = now;
        if (!g->safe && g->have_cmd && g->cmd.head.valid_until > g->t_ms &&
            g->cmd.head.valid_until < end) {
            end = g->cmd.head.valid_until;
        }
        int64_t arr = next_arrival(g);
        if (arr > g->t_ms && arr < end) {
            end = arr;
        }
        allocate(c);
        for (size_t i = 0; i < g->n_jobs; i++) {
            const job_t *j = &g->jobs[i];
            if (!j->finished && j->power_kw > 0) {
                double tf = finish_time(j, g->t_ms);
                if (tf < (double)end) {
                    int64_t at = (int64_t)ceil(tf);
                    end = at > g->t_ms ? at : g->t_ms + 1; /* always make progress */
                }
            }
        }
        double hours = (double)(end - g->t_ms) / GRIDEMS__SIM_MS_PER_HOUR;
        for (size_t i = 0; i < g->n_jobs; i++) {
            job_t *j = &g->jobs[i];
            if (j->finished || j->power_kw <= 0) {
                continue;
            }
            double tf = finish_time(j, g->t_ms);
            if (tf <= (double)end) {
                int64_t at = (int64_t)ceil(tf);
                finish_job(g, j, at > g->t_ms ? at : g->t_ms + 1);
            } else {
                double add = j->power_kw * hours;
                j->delivered_kwh += add;
                g->energy_kwh += add;
                if (j->delivered_kwh >= j->energy_kwh) {
                    finish_job(g, j, end); /* reached by rounding */
                }
            }
        }
        g->t_ms = end;
        arrive(c, g->t_ms);
        watchdog(g);
    }
    allocate(c);
    prune(c);
}

/* ---- ## Gateway: messages ---- */

static void gw_publish(cluster_t *c)
{
    gateway_t *g = &c->gw;
    gridems__sim_buf_t *w = &c->buf;
    double total = 0;
    uint64_t running = 0, waiting = 0, overdue = 0;
    for (size_t i = 0; i < g->n_jobs; i++) {
        const job_t *j = &g->jobs[i];
        if (j->finished) {
            continue;
        }
        total += j->power_kw;
        running += j->power_kw > 0;
        waiting += j->power_kw <= 0;
        overdue += g->t_ms > j->deadline_ms;
    }
    gridems__sim_buf_reset(w);
    gridems__sim_json_begin_object(w);
    gridems__sim_json_kv_int(w, "ts", g->t_ms);
    gridems__sim_json_kv_num(w, "power_kw", total);
    gridems__sim_json_kv_num(w, "power_cap_kw", c->opts->power_cap_kw);
    gridems__sim_json_kv_num(w, "energy_kwh", g->energy_kwh);
    gridems__sim_json_kv_bool(w, "safe_mode", g->safe);
    if (g->safe) {
        gridems__sim_json_kv_str(w, "safe_reason", g->safe_reason);
    }
    gridems__sim_json_kv_str(w, "safe_policy", c->safe_run ? "run" : "hold");
    if (g->have_cmd) {
        gridems__sim_json_last_cmd(w, &g->cmd.head);
        gridems__sim_json_kv_num(w, "cmd_cap_kw", g->cmd.cap_kw);
    }
    gridems__sim_json_cmd_counts(w, &g->cmds);
    gridems__sim_json_key(w, "stats");
    gridems__sim_json_begin_object(w);
    gridems__sim_json_kv_int(w, "arrived", (int64_t)g->arrived);
    gridems__sim_json_kv_int(w, "finished", (int64_t)g->finished);
    gridems__sim_json_kv_int(w, "on_time", (int64_t)g->on_time);
    gridems__sim_json_kv_int(w, "late", (int64_t)g->late);
    gridems__sim_json_kv_int(w, "dropped", (int64_t)g->dropped);
    gridems__sim_json_kv_int(w, "running", (int64_t)running);
    gridems__sim_json_kv_int(w, "waiting", (int64_t)waiting);
    gridems__sim_json_kv_int(w, "overdue", (int64_t)overdue);
    gridems__sim_json_end_object(w);
    gridems__sim_json_key(w, "jobs");
    gridems__sim_json_begin_array(w);
    for (size_t i = 0; i < g->n_jobs; i++) {
        const job_t *j = &g->jobs[i];
        gridems__sim_json_begin_object(w);
        gridems__sim_json_kv_str(w, "id", j->id);
        gridems__sim_json_kv_int(w, "arrival", j->arrival_ms);
        gridems__sim_json_kv_int(w, "deadline", j->deadline_ms);
        gridems__sim_json_kv_num(w, "energy_kwh", j->energy_kwh);
        gridems__sim_json_kv_num(w, "power_max_kw", j->power_max_kw);
        gridems__sim_json_kv_num(w, "delivered_kwh", j->delivered_kwh);
        double left = j->energy_kwh - j->delivered_kwh;
        gridems__sim_json_kv_num(w, "remaining_kwh", left > 0 ? left : 0.0);
        gridems__sim_json_kv_num(w, "power_kw", j->power_kw);
        gridems__sim_json_kv_bool(w, "finished", j->finished);
        if (j->finished) {
            gridems__sim_json_kv_int(w, "finished_at", j->finished_ms);
        }
        gridems__sim_json_kv_bool(w, "finished_on_time",
                                  j->finished && j->finished_ms <= j->deadline_ms);
        gridems__sim_json_kv_bool(w, "missed_deadline",
                                  j->finished ? j->finished_ms > j->deadline_ms
                                              : g->t_ms > j->deadline_ms);
        gridems__sim_json_end_object(w);
    }
    gridems__sim_json_end_array(w);
    gridems__sim_json_end_object(w);
    gridems__sim_send_telemetry(c->api, c->self, c->topic_telemetry, w, g->t_ms, &g->telemetry);
}

static void gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    cluster_t *c = arg;
    gw_advance(c, c->api->now_ms(c->self));
    if (gridems__sim_telemetry_due(&c->gw.telemetry, c->gw.t_ms,
                                   c->opts->common.telemetry_interval_ms)) {
        gw_publish(c);
    }
}

/* Parse the "jobs" member of a command. */
static int parse_cmd_jobs(gridems__sim_jr_t *r, command_t *cmd)
{
    size_t cap = 0;
    if (gridems__sim_jr_begin_array(r) < 0) {
        return -1;
    }
    int more;
    while ((more = gridems__sim_jr_next_item(r)) == 1) {
        cmd_job_t j;
        int have_id = 0, have_power = 0;
        memset(&j, 0, sizeof j);
        if (gridems__sim_jr_begin_object(r) < 0) {
            return -1;
        }
        char key[64];
        int in;
        while ((in = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
            int rc;
            if (strcmp(key, "id") == 0) {
                rc = gridems__sim_jr_string(r, j.id, sizeof j.id);
                have_id = 1;
            } else if (strcmp(key, "power_kw") == 0) {
                rc = gridems__sim_jr_number(r, &j.power_kw);
                have_power = 1;
            } else {
                rc = gridems__sim_jr_skip(r);
            }
            if (rc < 0) {
                return -1;
            }
        }
        if (in < 0) {
            return -1;
        }
        if (!have_id || !have_power || j.power_kw < 0) {
            return gridems__sim_jr_fail(r, "a job needs an id and a power_kw >= 0");
        }
        if (cmd->n_jobs >= MAX_CMD_JOBS) {
            return gridems__sim_jr_fail(r, "too many jobs");
        }
        if (cmd->n_jobs == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            cmd_job_t *jobs = realloc(cmd->jobs, ncap * sizeof *jobs);
            if (jobs == NULL) {
                return gridems__sim_jr_fail(r, "out of memory");
            }
            cmd->jobs = jobs;
            cap = ncap;
        }
        cmd->jobs[cmd->n_jobs++] = j;
    }
    return more < 0 ? -1 : 0;
}

/* The cluster's own members of a command (gridems__sim_cmd_member_fn). */
static int command_member(gridems__sim_jr_t *r, const char *key, void *arg)
{
    command_t *cmd = arg;
    if (strcmp(key, "power_cap_kw") == 0) {
        return gridems__sim_jr_number(r, &cmd->cap_kw);
    }
    if (strcmp(key, "jobs") == 0) {
        return cmd->n_jobs > 0 ? gridems__sim_jr_fail(r, "jobs given twice")
                               : parse_cmd_jobs(r, cmd);
    }
    return 1;
}

/* Parse a command message into cmd (whose jobs the caller frees, also on failure). */
static int parse_command(gridems__sim_jr_t *r, command_t *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->cap_kw = -1;
    return gridems__sim_cmd_parse(r, &cmd->head, command_member, NULL, cmd);
}

static void gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    cluster_t *c = arg;
    gateway_t *g = &c->gw;
    gridems__sim_jr_t r;
    command_t cmd;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    int parsed = parse_command(&r, &cmd);
    if (!gridems__sim_cmd_admit(c->api, c->self, &g->cmds, msg->topic, parsed, &r,
                                g->have_cmd ? &g->cmd.head : NULL, &cmd.head)) {
        free(cmd.jobs);
        return;
    }
    /* Everything up to now ran under the previous command. */
    gw_advance(c, c->api->now_ms(c->self));
    free(g->cmd.jobs);
    g->cmd = cmd;
    g->have_cmd = 1;
    g->cmds.accepted++;
    if (cmd.head.safe_mode) {
        g->safe = 1;
        g->safe_reason = "command";
    } else {
        g->safe = 0;
        g->safe_reason = NULL;
    }
    watchdog(g);
    allocate(c);
    gw_publish(c);
}

/* ---- ## Driver ---- */

static int drv_post(cluster_t *c)
{
    const driver_t *d = &c->drv;
    gridems_measurement_t m = {
        .struct_size = sizeof m,
        .device = c->dev,
        .timestamp_ms = d->ts,
        .valid = GRIDEMS_MEAS_POWER | GRIDEMS_MEAS_ENERGY,
        .power_kw = d->power_kw,
        .energy_kwh = d->energy_kwh,
    };
    return c->api->post_measurement(c->self, &m);
}

/* Parse one element of the telemetry's "jobs" array. */
static int parse_drv_job(gridems__sim_jr_t *r, drv_job_t *j)
{
    int have_id = 0, have_arrival = 0, have_deadline = 0, have_pmax = 0, have_left = 0;
    memset(j, 0, sizeof *j);
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc;
        if (strcmp(key, "id") == 0) {
            rc = gridems__sim_jr_string(r, j->id, sizeof j->id);
            have_id = 1;
        } else if (strcmp(key, "arrival") == 0) {
            rc = gridems__sim_jr_int64(r, &j->arrival_ms);
            have_arrival = 1;
        } else if (strcmp(key, "deadline") == 0) {
            rc = gridems__sim_jr_int64(r, &j->deadline_ms);
            have_deadline = 1;
        } else if (strcmp(key, "power_max_kw") == 0) {
            rc = gridems__sim_jr_number(r, &j->power_max_kw);
            have_pmax = 1;
        } else if (strcmp(key, "delivered_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &j->delivered_kwh);
        } else if (strcmp(key, "remaining_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &j->remaining_kwh);
            have_left = 1;
        } else if (strcmp(key, "finished") == 0) {
            rc = gridems__sim_jr_bool(r, &j->finished);
        } else if (strcmp(key, "finished_at") == 0) {
            rc = gridems__sim_jr_int64(r, &j->finished_ms);
        } else {
            rc = gridems__sim_jr_skip(r);
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0) {
        return -1;
    }
    if (!have_id || !have_arrival || !have_deadline || !have_pmax || !have_left) {
        return gridems__sim_jr_fail(r, "a job lacks id, arrival, deadline, power_max_kw or "
                                       "remaining_kwh");
    }
    if (j->id[0] == '\0' || !(j->power_max_kw > 0) || j->deadline_ms <= j->arrival_ms ||
        j->remaining_kwh < 0 || j->delivered_kwh < 0) {
        return gridems__sim_jr_fail(r, "a job's values are out of range");
    }
    return 0;
}

/* Parse a telemetry message into t; t->jobs is allocated (the caller frees it, also on error). */
static int parse_telemetry(gridems__sim_jr_t *r, driver_t *t)
{
    int have_ts = 0, have_power = 0, have_cap = 0;
    size_t cap = 0;
    if (gridems__sim_jr_begin_object(r) < 0) {
        return -1;
    }
    char key[64];
    int more;
    while ((more = gridems__sim_jr_next_key(r, key, sizeof key)) == 1) {
        int rc = 0;
        if (strcmp(key, "ts") == 0) {
            rc = gridems__sim_jr_int64(r, &t->ts);
            have_ts = 1;
        } else if (strcmp(key, "power_kw") == 0) {
            rc = gridems__sim_jr_number(r, &t->power_kw);
            have_power = 1;
        } else if (strcmp(key, "energy_kwh") == 0) {
            rc = gridems__sim_jr_number(r, &t->energy_kwh);
        } else if (strcmp(key, "power_cap_kw") == 0) {
            rc = gridems__sim_jr_number(r, &t->power_cap_kw);
            have_cap = 1;
        } else if (strcmp(key, "jobs") == 0 && t->n_jobs == 0) {
            if (gridems__sim_jr_begin_array(r) < 0) {
                return -1;
            }
            while ((rc = gridems__sim_jr_next_item(r)) == 1) {
                if (t->n_jobs >= MAX_CMD_JOBS) {
                    return gridems__sim_jr_fail(r, "too many jobs");
                }
                if (t->n_jobs == cap) {
                    size_t ncap = cap == 0 ? 16 : cap * 2;
                    drv_job_t *jobs = realloc(t->jobs, ncap * sizeof *jobs);
                    if (jobs == NULL) {
                        return gridems__sim_jr_fail(r, "out of memory");
                    }
                    t->jobs = jobs;
                    cap = ncap;
                }
                if (parse_drv_job(r, &t->jobs[t->n_jobs]) < 0) {
                    return -1;
                }
                t->n_jobs++;
            }
        } else {
            rc = gridems__sim_jr_skip(r);
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (more < 0 || gridems__sim_jr_finish(r) < 0) {
        return -1;
    }
    if (!have_ts || !have_power || !have_cap) {
        return gridems__sim_jr_fail(r, "ts, power_kw or power_cap_kw is missing");
    }
    if (!(t->power_kw >= 0) || !(t->power_cap_kw > 0)) {
        return gridems__sim_jr_fail(r, "power_kw or power_cap_kw is out of range");
    }
    return 0;
}

static const drv_job_t *drv_find(const drv_job_t *jobs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].id, id) == 0) {
            return &jobs[i];
        }
    }
    return NULL;
}

static void drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    cluster_t *c = arg;
    driver_t *d = &c->drv;
    driver_t t;
    memset(&t, 0, sizeof t);
    gridems__sim_jr_t r;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    if (parse_telemetry(&r, &t) < 0) {
        free(t.jobs);
        gridems__sim_complain_malformed(c->api, c->self, &d->bad_telemetry,
                                        "driver: malformed telemetry", msg->topic, &r);
        return;
    }
    if (!gridems__sim_telemetry_takes(c->api, c->self, &d->bad_telemetry, msg->topic, t.ts, d->have,
                                      d->ts)) {
        free(t.jobs);
        return;
    }
    /* Report each job that finished since the last message, for the operator's log. */
    for (size_t i = 0; i < t.n_jobs; i++) {
        const drv_job_t *j = &t.jobs[i];
        const drv_job_t *before = drv_find(d->jobs, d->n_jobs, j->id);
        if (j->finished && (before == NULL || !before->finished)) {
            if (j->finished_ms <= j->deadline_ms) {
                c->api->log(c->self, GRIDEMS_PLUGIN_LOG_INFO, "job %s finished on time", j->id);
            } else {
                c->api->log(c->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                            "job %s finished %.1f h after its deadline", j->id,
                            (double)(j->finished_ms - j->deadline_ms) / GRIDEMS__SIM_MS_PER_HOUR);
            }
        }
    }
    free(d->jobs);
    d->jobs = t.jobs;
    d->n_jobs = t.n_jobs;
    d->have = 1;
    d->ts = t.ts;
    d->power_kw = t.power_kw;
    d->energy_kwh = t.energy_kwh;
    d->power_cap_kw = t.power_cap_kw;
    drv_post(c);
}

static int drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    cluster_t *c = userdata;
    return c->drv.have ? drv_post(c) : 0;
}

static int drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    cluster_t *c = userdata;
    driver_t *d = &c->drv;
    if (!d->have) {
        return GRIDEMS_EAGAIN; /* no telemetry yet: the job list is unknown */
    }
    if (d->n_jobs > d->cap_caps) {
        gridems_flex_job_t *caps = realloc(d->caps, d->n_jobs * sizeof *caps);
        if (caps == NULL) {
            return GRIDEMS_ENOMEM;
        }
        d->caps = caps;
        d->cap_caps = d->n_jobs;
    }
    uint32_t n = 0;
    for (size_t i = 0; i < d->n_jobs; i++) {
        const drv_job_t *j = &d->jobs[i];
        if (j->finished) {
            continue;
        }
        /* The strings stay valid until the next telemetry message, which cannot arrive before
         * the host has copied them (both run on the loop thread). */
        d->caps[n++] = (gridems_flex_job_t){
            .id = j->id,
            .energy_remaining_kwh = j->remaining_kwh,
            .energy_delivered_kwh = j->delivered_kwh,
            .power_max_kw = j->power_max_kw,
            .earliest_ms = j->arrival_ms,
            .deadline_ms = j->deadline_ms,
        };
    }
    out->stale_after_ms = (uint32_t)c->opts->common.stale_after_ms;
    out->measured_ms = d->ts;
    out->u.flex.jobs = n > 0 ? d->caps : NULL;
    out->u.flex.n_jobs = n;
    out->u.flex.power_cap_kw = d->power_cap_kw;
    return 0;
}

/* Send the command with head h; sp gives the jobs' powers unless the head is a safe-mode one. */
static int drv_send(cluster_t *c, const gridems__sim_cmd_head_t *h, const gridems_setpoint_t *sp)
{
    gridems__sim_buf_t *w = &c->buf;
    gridems__sim_cmd_begin(w, h);
    if (!h->safe_mode) {
        gridems__sim_json_kv_num(w, "power_cap_kw", sp->power_cap_kw);
        gridems__sim_json_key(w, "jobs");
        gridems__sim_json_begin_array(w);
        for (uint32_t i = 0; i < sp->n_jobs; i++) {
            const gridems_job_setpoint_t *j = &sp->jobs[i];
            if (j->job_id == NULL) {
                continue;
            }
            gridems__sim_json_begin_object(w);
            gridems__sim_json_kv_str(w, "id", j->job_id);
            gridems__sim_json_kv_num(w, "power_kw", j->power_kw > 0 ? j->power_kw : 0.0);
            gridems__sim_json_end_object(w);
        }
        gridems__sim_json_end_array(w);
    }
    return gridems__sim_cmd_send(c->api, c->self, c->topic_cmd, w, h, &c->drv.sent);
}

static int drv_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    cluster_t *c = userdata;
    gridems__sim_cmd_head_t h;
    int rc = gridems__sim_cmd_from_setpoint(sp, &h);
    if (rc < 0) {
        return rc;
    }
    /* Repeats are sent too: the gateway drops duplicates, and a repeat heals a lost command. */
    return drv_send(c, &h, sp);
}

static int drv_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    cluster_t *c = userdata;
    if (ev->type != GRIDEMS_EVT_SHUTDOWN) {
        return 0;
    }
    gridems__sim_cmd_head_t h;
    gridems__sim_cmd_for_shutdown(&c->drv.sent, ev->time_ms, &h);
    return drv_send(c, &h, NULL);
}

static void cluster_free(cluster_t *c)
{
    free(c->gw.jobs);
    free(c->gw.order);
    free(c->gw.pending);
    free(c->gw.cmd.jobs);
    free(c->drv.jobs);
    free(c->drv.caps);
    gridems__sim_buf_free(&c->buf);
    free(c);
}

static void drv_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    cluster_free(userdata);
}

/* ---- ## Init ---- */

static int by_arrival(const void *a, const void *b)
{
    const job_t *x = a;
    const job_t *y = b;
    if (x->arrival_ms != y->arrival_ms) {
        return x->arrival_ms < y->arrival_ms ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Read the jobs file. Logs the reason and returns GRIDEMS_ECONFIG on a bad file. */
static int jobs_load(cluster_t *c, const char *path, int64_t start_ms)
{
    const gridems_host_api_t *api = c->api;
    gateway_t *g = &c->gw;
    char err[512];
    char *text = gridems__sim_read_file(path, JOBS_FILE_MAX_BYTES, err, sizeof err);
    if (text == NULL) {
        api->log(c->self, GRIDEMS_PLUGIN_LOG_ERR, "option \"jobs\": %s", err);
        return GRIDEMS_ECONFIG;
    }
    size_t cap = 0;
    int lineno = 0;
    int header_seen = 0;
    const char *why = NULL;
    char *cursor = text;
    char *line;
    while ((line = gridems__sim_next_line(&cursor, &lineno)) != NULL) {
        char *f[5];
        int n = gridems__sim_split_csv(line, f, 5);
        job_t j;
        double arrival_h = 0, deadline_h;
        memset(&j, 0, sizeof j);
        if (n >= 3 && g->n_pending == 0 && !header_seen &&
            gridems__sim_parse_double(f[2], &j.energy_kwh) < 0) {
            header_seen = 1; /* a header names its columns: the energy is not a number */
            continue;
        }
        if (n != 5) {
            why = "expected id,arrival,energy_kwh,power_max_kw,deadline_hours";
        } else if (!gridems__sim_ident_valid(f[0])) {
            why = "the id must be 1 to 63 characters of [A-Za-z0-9_.:-]";
        } else if (gridems__sim_parse_double(f[1], &arrival_h) == 0) {
            j.arrival_ms = start_ms + (int64_t)llround(arrival_h * GRIDEMS__SIM_MS_PER_HOUR);
        } else if (gridems__sim_parse_iso(f[1], &j.arrival_ms) < 0) {
            why = "the arrival is neither hours after the start nor an ISO timestamp with offset";
        }
        if (why == NULL &&
            (gridems__sim_parse_double(f[2], &j.energy_kwh) < 0 || !(j.energy_kwh > 0))) {
            why = "energy_kwh must be a number > 0";
        }
        if (why == NULL &&
            (gridems__sim_parse_double(f[3], &j.power_max_kw) < 0 || !(j.power_max_kw > 0))) {
            why = "power_max_kw must be a number > 0";
        }
        if (why == NULL && (gridems__sim_parse_double(f[4], &deadline_h) < 0 || !(deadline_h > 0) ||
                            deadline_h > 24.0 * 366 * 10)) {
            why = "deadline_hours must be a number > 0 (and at most ten years)";
        }
        if (why == NULL) {
            snprintf(j.id, sizeof j.id, "%s", f[0]);
            for (size_t i = 0; i < g->n_pending; i++) {
                if (strcmp(g->pending[i].id, j.id) == 0) {
                    why = "the id is not unique";
                    break;
                }
            }
        }
        if (why == NULL && g->n_pending >= MAX_JOBS) {
            why = "too many jobs";
        }
        if (why != NULL) {
            break;
        }
        int64_t deadline_ms = (int64_t)llround(deadline_h * GRIDEMS__SIM_MS_PER_HOUR);
        j.deadline_ms = j.arrival_ms + (deadline_ms < 1 ? 1 : deadline_ms);
        j.seq = (uint32_t)g->n_pending + 1;
        if (g->n_pending == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            job_t *jobs = realloc(g->pending, ncap * sizeof *jobs);
            if (jobs == NULL) {
                free(text);
                return GRIDEMS_ENOMEM;
            }
            g->pending = jobs;
            cap = ncap;
        }
        g->pending[g->n_pending++] = j;
    }
    free(text);
    if (why != NULL) {
        api->log(c->self, GRIDEMS_PLUGIN_LOG_ERR, "option \"jobs\": %s line %d: %s", path, lineno,
                 why);
        return GRIDEMS_ECONFIG;
    }
    qsort(g->pending, g->n_pending, sizeof *g->pending, by_arrival);
    return 0;
}

static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const cluster_opts_t *o, int *safe_run)
{
    if (o->safe_policy == NULL ||
        (strcmp(o->safe_policy, "hold") != 0 && strcmp(o->safe_policy, "run") != 0)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"safe_policy\" must be hold or run (got \"%s\")",
                 o->safe_policy != NULL ? o->safe_policy : "");
        return GRIDEMS_ECONFIG;
    }
    *safe_run = strcmp(o->safe_policy, "run") == 0;
    if (!(o->power_cap_kw > 0)) {
        return gridems__sim_bad_option(api, self, "power_cap_kw", "must be > 0", o->power_cap_kw);
    }
    if (!(o->jobs_per_day >= 0 && o->jobs_per_day <= 100000)) {
        return gridems__sim_bad_option(api, self, "jobs_per_day", "must be within [0, 100000]",
                                       o->jobs_per_day);
    }
    if (!(o->job_energy_kwh > 0)) {
        return gridems__sim_bad_option(api, self, "job_energy_kwh", "must be > 0",
                                       o->job_energy_kwh);
    }
    if (!(o->job_power_kw > 0)) {
        return gridems__sim_bad_option(api, self, "job_power_kw", "must be > 0", o->job_power_kw);
    }
    if (!(o->deadline_slack_hours >= 0)) {
        return gridems__sim_bad_option(api, self, "deadline_slack_hours", "must be >= 0",
                                       o->deadline_slack_hours);
    }
    if (!(o->keep_finished_hours >= 0 && o->keep_finished_hours <= 24.0 * 366)) {
        return gridems__sim_bad_option(api, self, "keep_finished_hours", "must be within [0, 8784]",
                                       o->keep_finished_hours);
    }
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    int rc = gridems__sim_init_check(api, self, cfg);
    if (rc < 0) {
        return rc;
    }
    const cluster_opts_t *o = cfg->context;
    int safe_run = 0;
    rc = check_options(api, self, o, &safe_run);
    if (rc < 0) {
        return rc;
    }
    cluster_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return GRIDEMS_ENOMEM;
    }
    c->self = self;
    c->api = api;
    c->opts = o;
    c->name = cfg->instance;
    c->safe_run = safe_run;
    snprintf(c->topic_telemetry, sizeof c->topic_telemetry, "%s/telemetry", o->common.topic_prefix);
    snprintf(c->topic_cmd, sizeof c->topic_cmd, "%s/cmd", o->common.topic_prefix);
    gateway_t *g = &c->gw;
    g->t_ms = api->now_ms(self);
    g->safe = 1;
    g->safe_reason = "startup";
    g->cmd.cap_kw = -1;
    if (o->jobs != NULL) {
        rc = jobs_load(c, o->jobs, g->t_ms);
        if (rc < 0) {
            cluster_free(c);
            return rc;
        }
    } else if (o->jobs_per_day > 0) {
        g->generate = 1;
        gridems__sim_rng_seed(&g->rng, (uint64_t)o->seed);
        g->next_gen_ms = draw_gap(c, g->t_ms);
    }
    if (jobs_reserve(g, 16) < 0) {
        cluster_free(c);
        return GRIDEMS_ENOMEM;
    }

    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_FLEX_LOAD,
        .options = cluster_options,
        .read = drv_read,
        .get_capabilities = drv_caps,
        .apply_setpoint = drv_setpoint,
        .on_event = drv_event,
        .destroy = drv_destroy,
    };
    rc = api->register_device(self, &desc, c, &c->dev);
    if (rc < 0) {
        cluster_free(c);
        return rc;
    }
    /* From here on c belongs to the device: the host calls drv_destroy even if init fails. */
    rc = gridems__sim_wire(self, api, c, c->topic_telemetry, drv_on_telemetry, c->topic_cmd,
                           gw_on_command, o->common.tick_ms, gw_tick);
    if (rc < 0) {
        return rc;
    }
    if (o->jobs != NULL) {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated cluster: cap %g kW, %zu jobs from %s, gateway on %s/{telemetry,cmd}",
                 o->power_cap_kw, g->n_pending, o->jobs, o->common.topic_prefix);
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated cluster: cap %g kW, %g generated jobs a day (seed %" PRId64
                 "), gateway on %s/{telemetry,cmd}",
                 o->power_cap_kw, o->jobs_per_day, o->seed, o->common.topic_prefix);
    }
    return 0;
}
