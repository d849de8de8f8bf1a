/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_sim's simulated scheduler gateway: the jobs, their power and energy, the commands it
 * executes and the telemetry it publishes (cluster_sim.c documents the messages). */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_gateway.h"

/* Bounds that keep the gateway's memory sane: jobs it holds, and the jobs file it reads. */
#define MAX_JOBS 10000
#define JOBS_FILE_MAX_BYTES ((size_t)4 << 20)

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

void cluster_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
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

void cluster_gw_on_command(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
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

/* ---- ## Gateway: the jobs file ---- */

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

/* ---- ## Gateway: start ---- */

int cluster_gw_start(cluster_t *c)
{
    const cluster_opts_t *o = c->opts;
    gateway_t *g = &c->gw;
    g->t_ms = c->api->now_ms(c->self);
    g->safe = 1;
    g->safe_reason = "startup";
    g->cmd.cap_kw = -1;
    if (o->jobs != NULL) {
        int rc = jobs_load(c, o->jobs, g->t_ms);
        if (rc < 0) {
            return rc;
        }
    } else if (o->jobs_per_day > 0) {
        g->generate = 1;
        gridems__sim_rng_seed(&g->rng, (uint64_t)o->seed);
        g->next_gen_ms = draw_gap(c, g->t_ms);
    }
    return jobs_reserve(g, 16) < 0 ? GRIDEMS_ENOMEM : 0;
}

void cluster_gw_free(gateway_t *g)
{
    free(g->jobs);
    free(g->order);
    free(g->pending);
    free(g->cmd.jobs);
}
