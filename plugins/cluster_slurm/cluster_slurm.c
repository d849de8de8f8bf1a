/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm: a Slurm cluster's flexible jobs as one flexible-compute device
 * (GRIDEMS_DEV_FLEX_LOAD), written against the public plugin ABI only.
 *
 * Every poll_ms (real time) one work item runs on a pool thread, never on the loop:
 *   1. the actions decided on the loop thread from the last set-point: `scontrol hold|release|
 *      suspend|resume <id>`, and, with power_cap_command, `scontrol -o -d show job <id>` then
 *      `<power_cap_command> <id> <nodes> <gpu-indexes> <watts>` per node group;
 *   2. `squeue --noheader --array --states=PENDING,RUNNING,SUSPENDED -O <fixed format>`.
 * Each command is spawned without a shell (slurm_exec.h), with command_timeout_ms, then killed.
 * Back on the loop thread the output is parsed (slurm_parse.h), the actions' results recorded,
 * and a measurement posted. A controller that does not answer means no measurement: the service
 * marks the device stale after stale_after_ms and sends it safe mode, which undoes gridems's
 * holds, suspends and caps as soon as scontrol answers again.
 *
 * Which jobs are flexible and the power-to-action mapping: slurm_policy.h. Operator's guide:
 * docs/cluster_slurm.md.
 *
 * Threads: every function here runs on the loop thread except cycle_work(), which touches only
 * its cycle_t (and the instance's read-only options).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "slurm_exec.h"
#include "slurm_parse.h"
#include "slurm_policy.h"

#define SQUEUE_MAX_OUT ((size_t)16 << 20)
#define SHOW_MAX_OUT ((size_t)256 << 10)
#define MAX_GPU_GROUPS 64
/* Host-clock ms a set-point may be past its valid_until before the plugin acts as in safe mode:
 * the service's control tick, which sends the next step's set-point. */
#define WATCHDOG_GRACE_MS 60000

/* ---- ## Options ---- */

typedef struct slurm_opts_s {
    const char *squeue;
    const char *scontrol;
    const char *partition;
    int64_t poll_ms;
    int64_t command_timeout_ms;
    int64_t stale_after_ms;
    double gpu_power_kw;
    int flex_all_gpu_jobs;
    double run_fraction;
    double power_cap_kw;
    const char *power_cap_command;
    double gpu_watts_min;
    double gpu_watts_max;
    int64_t max_jobs;
} slurm_opts_t;

static const gridems_option_t slurm_options[] = {
    {GRIDEMS_OPT_STRING, "squeue", "squeue", 0, offsetof(slurm_opts_t, squeue),
     "squeue command (a path, or a name searched in PATH)"},
    {GRIDEMS_OPT_STRING, "scontrol", "scontrol", 0, offsetof(slurm_opts_t, scontrol),
     "scontrol command (a path, or a name searched in PATH)"},
    {GRIDEMS_OPT_STRING, "partition", NULL, 0, offsetof(slurm_opts_t, partition),
     "only jobs of these partitions (comma-separated; default: all)"},
    {GRIDEMS_OPT_INT, "poll_ms", "5000", 0, offsetof(slurm_opts_t, poll_ms),
     "real milliseconds between squeue polls (200..600000)"},
    {GRIDEMS_OPT_INT, "command_timeout_ms", "5000", 0, offsetof(slurm_opts_t, command_timeout_ms),
     "a squeue, scontrol or cap command still running after this is killed (100..120000)"},
    {GRIDEMS_OPT_INT, "stale_after_ms", "30000", 0, offsetof(slurm_opts_t, stale_after_ms),
     "host-clock ms without a good squeue before the device is stale and in safe mode"},
    {GRIDEMS_OPT_DOUBLE, "gpu_power_kw", "0.7", 0, offsetof(slurm_opts_t, gpu_power_kw),
     "estimated power of one busy GPU with its share of the node, kW (> 0)"},
    {GRIDEMS_OPT_BOOL, "flex_all_gpu_jobs", "false", 0, offsetof(slurm_opts_t, flex_all_gpu_jobs),
     "also treat untagged GPU jobs with a --deadline as flexible"},
    {GRIDEMS_OPT_DOUBLE, "run_fraction", "0.5", 0, offsetof(slurm_opts_t, run_fraction),
     "a job planned below this share of its largest power is held or suspended, in (0, 1]"},
    {GRIDEMS_OPT_DOUBLE, "power_cap_kw", "-1", 0, offsetof(slurm_opts_t, power_cap_kw),
     "total power cap of the cluster's flexible jobs, kW (< 0: none)"},
    {GRIDEMS_OPT_STRING, "power_cap_command", NULL, 0, offsetof(slurm_opts_t, power_cap_command),
     "run as CMD JOBID NODES GPU_INDEXES WATTS to cap a running job's GPUs (default: none)"},
    {GRIDEMS_OPT_DOUBLE, "gpu_watts_min", "100", 0, offsetof(slurm_opts_t, gpu_watts_min),
     "lowest per-GPU cap the command may set, W"},
    {GRIDEMS_OPT_DOUBLE, "gpu_watts_max", "700", 0, offsetof(slurm_opts_t, gpu_watts_max),
     "per-GPU power limit when uncapped, W"},
    {GRIDEMS_OPT_INT, "max_jobs", "5000", 0, offsetof(slurm_opts_t, max_jobs),
     "more jobs than this in squeue's answer is an error (1..100000)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "cluster_slurm",
    .version = "1.0",
    .description = "Slurm jobs as flexible compute: hold/release, suspend/resume, GPU power caps",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD),
    .options = slurm_options,
    .context_size = sizeof(slurm_opts_t),
};

/* ---- ## State ---- */

typedef struct mark_s {
    char id[GRIDEMS__SLURM_ID_MAX];
    gridems__slurm_ours_t m;
} mark_t;

typedef struct target_s {
    char id[GRIDEMS__SLURM_ID_MAX];
    double power_kw;
} target_t;

typedef struct action_s {
    char id[GRIDEMS__SLURM_ID_MAX];
    int act;
    double cap_w;
    int64_t nodes;
    int rc;
    int ran;  /* the work item got to it (a cancelled cycle may not have) */
    int gone; /* scontrol said the job does not exist (any more) */
    char err[384];
} action_t;

/* Log suppression: the 1st, 2nd, 4th, 8th ... of a run of the same complaint. */
typedef struct complaint_s {
    uint64_t count;
} complaint_t;

typedef struct slurm_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const slurm_opts_t *o;
    const char *instance;
    gridems_device_id_t dev;
    gridems_timer_id_t timer;
    gridems__slurm_flex_opts_t flex_opts;
    gridems__slurm_policy_t policy;

    /* The last good squeue answer (owned). */
    int have;
    int64_t measured_ms;
    gridems__slurm_list_t list;
    /* get_capabilities' answer: borrowed by the host until the next call into the device. */
    gridems_flex_job_t *caps;                    /* owned, cap_n entries */
    char (*cap_ids)[GRIDEMS__SLURM_ID_MAX + 64]; /* owned: "<instance>.<job id>" */
    size_t cap_n;

    mark_t *marks; /* gridems's holds, suspends and caps; owned */
    size_t n_marks;

    /* The last set-point. */
    int have_sp;
    int sp_safe;
    uint64_t sp_plan;
    int64_t sp_ts;
    int64_t sp_valid_until;
    target_t *targets; /* owned */
    size_t n_targets;

    int undoing; /* the service is stopping or the instance unloading: act no more */
    int busy;    /* a cycle is queued or running */
    int again;   /* run another cycle as soon as this one is done */
    int last_ok;
    complaint_t c_squeue;
    complaint_t c_action;
    size_t last_bad_lines;
    size_t last_duplicates;
} slurm_t;

/* One poll: created on the loop thread, handed to queue_work (transferred), freed in
 * cycle_done. The work item reads and writes only this struct. */
typedef struct cycle_s {
    slurm_t *s; /* borrowed: only cycle_done (loop thread) touches it */
    /* Copied from the options on the loop thread: the work item reads only this struct. */
    char *squeue_argv[8];
    char partition_arg[300];
    const char *scontrol;
    const char *cap_cmd;
    int timeout_ms;
    size_t max_jobs;
    action_t *acts;
    size_t n_acts;
    /* Results. */
    int squeue_rc;
    char squeue_err[512];
    gridems__slurm_list_t list;
    int parse_rc;
    char parse_err[256];
} cycle_t;

static int complain_now(complaint_t *c)
{
    c->count++;
    return (c->count & (c->count - 1)) == 0;
}

/* ---- ## Marks ---- */

static mark_t *mark_find(slurm_t *s, const char *id)
{
    for (size_t i = 0; i < s->n_marks; i++) {
        if (strcmp(s->marks[i].id, id) == 0) {
            return &s->marks[i];
        }
    }
    return NULL;
}

static mark_t *mark_get(slurm_t *s, const char *id)
{
    mark_t *m = mark_find(s, id);
    if (m != NULL) {
        return m;
    }
    mark_t *nm = realloc(s->marks, (s->n_marks + 1) * sizeof *nm);
    if (nm == NULL) {
        return NULL;
    }
    s->marks = nm;
    m = &s->marks[s->n_marks++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    return m;
}

/* Drop marks that carry nothing, and those of jobs squeue no longer lists. */
static void marks_prune(slurm_t *s, int use_list)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n_marks; i++) {
        mark_t *m = &s->marks[i];
        int listed = !use_list;
        for (size_t j = 0; use_list && j < s->list.n; j++) {
            if (strcmp(s->list.jobs[j].id, m->id) == 0) {
                listed = 1;
                break;
            }
        }
        if (listed && (m->m.held || m->m.suspended || m->m.cap_w > 0)) {
            s->marks[k++] = *m;
        }
    }
    s->n_marks = k;
}

/* ---- ## The set-point's view ---- */

static int targets_safe(const slurm_t *s)
{
    if (!s->have_sp || s->sp_safe) {
        return 1;
    }
    /* Our own watchdog: a set-point well past its validity is no longer the plan. The grace of
     * one control tick keeps the step boundary, where the next set-point is on its way, from
     * releasing jobs for a moment (a released job may start, to be suspended a second later). */
    return s->sp_valid_until > 0 && s->api->now_ms(s->self) > s->sp_valid_until + WATCHDOG_GRACE_MS;
}

/* The job's planned power; *listed 0 when the set-point does not name it. The service lists
 * every job the device reported when it dispatched, so an unlisted job appeared since: it is
 * left as Slurm has it until a set-point covers it (the job's arrival triggers a re-plan), rather
 * than suspended for the seconds that takes. */
static double target_kw(const slurm_t *s, const char *id, int *listed)
{
    for (size_t i = 0; i < s->n_targets; i++) {
        if (strcmp(s->targets[i].id, id) == 0) {
            *listed = 1;
            return s->targets[i].power_kw;
        }
    }
    *listed = 0;
    return 0;
}

/* ---- ## The cycle ---- */

static void cycle_free(cycle_t *c)
{
    if (c == NULL) {
        return;
    }
    free(c->acts);
    gridems__slurm_list_free(&c->list);
    free(c);
}

static void run_action(const cycle_t *c, action_t *a)
{
    gridems__slurm_run_t r;
    a->ran = 1;
    a->gone = 0;
    const char *verb = gridems__slurm_act_name(a->act);
    if (a->act != GRIDEMS__SLURM_ACT_CAP) {
        char *argv[] = {(char *)c->scontrol, (char *)verb, a->id, NULL};
        a->rc = gridems__slurm_run(argv, c->timeout_ms, 64 << 10, &r);
        if (a->rc < 0) {
            snprintf(a->err, sizeof a->err, "%.380s", r.err);
            a->gone = strstr(r.err, "Invalid job id") != NULL;
        }
        gridems__slurm_run_free(&r);
        return;
    }
    char *show[] = {(char *)c->scontrol, "-o", "-d", "show", "job", a->id, NULL};
    a->rc = gridems__slurm_run(show, c->timeout_ms, SHOW_MAX_OUT, &r);
    if (a->rc < 0) {
        snprintf(a->err, sizeof a->err, "scontrol show job: %.350s", r.err);
        a->gone = strstr(r.err, "Invalid job id") != NULL;
        gridems__slurm_run_free(&r);
        return;
    }
    gridems__slurm_gpu_group_t groups[MAX_GPU_GROUPS];
    size_t n = 0;
    a->rc = gridems__slurm_parse_gpu_alloc(r.out, r.out_len, a->id, a->nodes, groups,
                                           MAX_GPU_GROUPS, &n, a->err, sizeof a->err);
    gridems__slurm_run_free(&r);
    if (a->rc < 0) {
        return;
    }
    char watts[32];
    snprintf(watts, sizeof watts, "%.0f", a->cap_w);
    for (size_t i = 0; i < n; i++) {
        char *argv[] = {(char *)c->cap_cmd, a->id, groups[i].nodes, groups[i].idx, watts, NULL};
        a->rc = gridems__slurm_run(argv, c->timeout_ms, 64 << 10, &r);
        if (a->rc < 0) {
            snprintf(a->err, sizeof a->err, "%.80s %s %.50s %.50s %.8s: %.80s", c->cap_cmd, a->id,
                     groups[i].nodes, groups[i].idx, watts, r.err);
            gridems__slurm_run_free(&r);
            return;
        }
        gridems__slurm_run_free(&r);
    }
}

/* Pool thread: the actions, then squeue. */
static void cycle_work(gridems_plugin_t *self, void *arg)
{
    (void)self;
    cycle_t *c = arg;
    for (size_t i = 0; i < c->n_acts; i++) {
        run_action(c, &c->acts[i]);
    }
    gridems__slurm_run_t r;
    c->squeue_rc = gridems__slurm_run(c->squeue_argv, c->timeout_ms, SQUEUE_MAX_OUT, &r);
    if (c->squeue_rc == 0 && r.out_truncated) {
        c->squeue_rc = GRIDEMS_ETOOBIG;
        snprintf(c->squeue_err, sizeof c->squeue_err, "squeue printed more than %zu bytes",
                 SQUEUE_MAX_OUT);
    } else if (c->squeue_rc < 0) {
        snprintf(c->squeue_err, sizeof c->squeue_err, "%s", r.err);
    } else {
        c->parse_rc = gridems__slurm_parse_squeue(r.out, r.out_len, c->max_jobs, &c->list,
                                                  c->parse_err, sizeof c->parse_err);
    }
    gridems__slurm_run_free(&r);
}

static int post(slurm_t *s)
{
    double kw = 0;
    for (size_t i = 0; i < s->list.n; i++) {
        const gridems__slurm_job_t *j = &s->list.jobs[i];
        if (j->state != GRIDEMS__SLURM_RUNNING) {
            continue;
        }
        const mark_t *m = mark_find(s, j->id);
        gridems__slurm_flex_t f;
        const char *why;
        if (!gridems__slurm_flex_eval(j, m != NULL && m->m.held, m != NULL && m->m.suspended,
                                      &s->flex_opts, s->measured_ms, &f, &why)) {
            continue;
        }
        double share = 1;
        if (m != NULL && m->m.cap_w > 0 && s->o->gpu_watts_max > 0) {
            share = fmin(1, m->m.cap_w / s->o->gpu_watts_max);
        }
        kw += f.power_max_kw * share;
    }
    gridems_measurement_t meas = {
        .struct_size = sizeof meas,
        .device = s->dev,
        .timestamp_ms = s->measured_ms,
        .valid = GRIDEMS_MEAS_POWER,
        .power_kw = kw,
    };
    return s->api->post_measurement(s->self, &meas);
}

static void cycle_start(slurm_t *s);

static void record_action(slurm_t *s, const action_t *a)
{
    const char *verb = gridems__slurm_act_name(a->act);
    if (a->rc < 0) {
        if (a->gone) {
            mark_t *m = mark_find(s, a->id);
            if (m != NULL) {
                memset(&m->m, 0, sizeof m->m); /* the job is gone: nothing left to undo */
            }
            return;
        }
        if (complain_now(&s->c_action)) {
            s->api->log(s->self, GRIDEMS_PLUGIN_LOG_WARNING, "job %s: %s failed: %s (#%" PRIu64 ")",
                        a->id, verb, a->err, s->c_action.count);
        }
        return;
    }
    s->c_action.count = 0;
    mark_t *m = mark_get(s, a->id);
    if (m == NULL) {
        return;
    }
    switch (a->act) {
    case GRIDEMS__SLURM_ACT_HOLD:
        m->m.held = 1;
        break;
    case GRIDEMS__SLURM_ACT_RELEASE:
        m->m.held = 0;
        break;
    case GRIDEMS__SLURM_ACT_SUSPEND:
        m->m.suspended = 1;
        break;
    case GRIDEMS__SLURM_ACT_RESUME:
        m->m.suspended = 0;
        break;
    case GRIDEMS__SLURM_ACT_CAP:
        m->m.cap_w = a->cap_w >= s->o->gpu_watts_max ? 0 : a->cap_w;
        break;
    default:
        break;
    }
    if (a->act == GRIDEMS__SLURM_ACT_CAP) {
        s->api->log(s->self, GRIDEMS_PLUGIN_LOG_INFO, "job %s: GPUs capped at %.0f W", a->id,
                    a->cap_w);
    } else {
        s->api->log(s->self, GRIDEMS_PLUGIN_LOG_INFO, "job %s: %s (plan %" PRIu64 ")", a->id, verb,
                    s->sp_plan);
    }
}

static void cycle_done(gridems_plugin_t *self, int status, void *arg)
{
    (void)self;
    cycle_t *c = arg;
    slurm_t *s = c->s;
    if (status == GRIDEMS_ECANCELED) {
        /* Unloading: keep what the actions that ran did, so that destroy() undoes it. */
        for (size_t i = 0; i < c->n_acts; i++) {
            if (c->acts[i].ran) {
                record_action(s, &c->acts[i]);
            }
        }
        cycle_free(c);
        return;
    }
    s->busy = 0;
    for (size_t i = 0; i < c->n_acts; i++) {
        record_action(s, &c->acts[i]);
    }
    if (c->squeue_rc < 0 || c->parse_rc < 0) {
        if (complain_now(&s->c_squeue)) {
            s->api->log(s->self, GRIDEMS_PLUGIN_LOG_WARNING,
                        "Slurm controller unreachable or answer unusable: %s (#%" PRIu64
                        "); the device goes stale after %" PRId64 " ms without an answer",
                        c->squeue_rc < 0 ? c->squeue_err : c->parse_err, s->c_squeue.count,
                        s->o->stale_after_ms);
        }
        s->last_ok = 0;
    } else {
        if (!s->last_ok && s->have) {
            s->api->log(s->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                        "Slurm controller answers again (%zu jobs)", c->list.n);
        }
        s->c_squeue.count = 0;
        s->last_ok = 1;
        gridems__slurm_list_free(&s->list);
        s->list = c->list;
        memset(&c->list, 0, sizeof c->list);
        s->have = 1;
        s->measured_ms = s->api->now_ms(s->self);
        marks_prune(s, 1);
        if (s->list.bad_lines != s->last_bad_lines || s->list.duplicates != s->last_duplicates) {
            if (s->list.bad_lines > 0 || s->list.duplicates > 0) {
                s->api->log(s->self, GRIDEMS_PLUGIN_LOG_WARNING,
                            "squeue: %zu unreadable lines and %zu duplicated job ids ignored "
                            "(a comment with newlines?)",
                            s->list.bad_lines, s->list.duplicates);
            }
            s->last_bad_lines = s->list.bad_lines;
            s->last_duplicates = s->list.duplicates;
        }
        post(s);
    }
    int again = s->again;
    s->again = 0;
    cycle_free(c);
    if (again) {
        cycle_start(s);
    }
}

/* The actions that bring every listed job (and every job gridems marked) to its target. */
static int plan_actions(slurm_t *s, cycle_t *c)
{
    int safe = targets_safe(s);
    size_t cap = s->list.n + s->n_marks;
    if (cap == 0) {
        return 0;
    }
    c->acts = calloc(cap, sizeof *c->acts);
    if (c->acts == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int64_t now = s->api->now_ms(s->self);
    for (size_t i = 0; i < s->list.n; i++) {
        const gridems__slurm_job_t *j = &s->list.jobs[i];
        if (j->duplicate) {
            continue; /* never act on an id whose line may be forged */
        }
        mark_t *m = mark_find(s, j->id);
        gridems__slurm_ours_t none = {0, 0, 0};
        const gridems__slurm_ours_t *ours = m != NULL ? &m->m : &none;
        gridems__slurm_flex_t f;
        const char *why;
        int flexible =
            gridems__slurm_flex_eval(j, ours->held, ours->suspended, &s->flex_opts, now, &f, &why);
        if (!flexible && m == NULL) {
            continue; /* not ours to touch */
        }
        int listed = 0;
        double kw = flexible ? target_kw(s, j->id, &listed) : 0;
        if (flexible && !safe && !listed) {
            continue; /* new since the set-point: wait for the plan that includes it */
        }
        double cap_w = 0;
        int act = gridems__slurm_decide(j->state, ours, safe, flexible, kw, f.power_max_kw,
                                        &s->policy, &cap_w);
        if (act == GRIDEMS__SLURM_ACT_NONE) {
            continue;
        }
        action_t *a = &c->acts[c->n_acts++];
        snprintf(a->id, sizeof a->id, "%s", j->id);
        a->act = act;
        a->cap_w = cap_w;
        a->nodes = j->nodes;
    }
    return 0;
}

static void cycle_start(slurm_t *s)
{
    if (s->undoing) {
        return; /* shutting down: nothing new */
    }
    if (s->busy) {
        s->again = 1;
        return;
    }
    cycle_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->s = s;
    c->scontrol = s->o->scontrol;
    c->cap_cmd = s->o->power_cap_command;
    c->timeout_ms = (int)s->o->command_timeout_ms;
    c->max_jobs = (size_t)s->o->max_jobs;
    int k = 0;
    c->squeue_argv[k++] = (char *)s->o->squeue;
    c->squeue_argv[k++] = "--noheader";
    c->squeue_argv[k++] = "--array";
    c->squeue_argv[k++] = "--states=PENDING,RUNNING,SUSPENDED";
    c->squeue_argv[k++] = "-O";
    c->squeue_argv[k++] = GRIDEMS__SLURM_SQUEUE_FORMAT;
    if (s->o->partition != NULL) {
        snprintf(c->partition_arg, sizeof c->partition_arg, "--partition=%s", s->o->partition);
        c->squeue_argv[k++] = c->partition_arg;
    }
    c->squeue_argv[k] = NULL;
    if (plan_actions(s, c) < 0) {
        cycle_free(c);
        return;
    }
    if (s->api->queue_work(s->self, cycle_work, cycle_done, c) < 0) {
        cycle_free(c);
        return;
    }
    s->busy = 1;
}

static void on_timer(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    cycle_start(arg);
}

/* ---- ## Device callbacks ---- */

static int dev_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    slurm_t *s = userdata;
    if (!s->have) {
        return GRIDEMS_EAGAIN;
    }
    if (s->list.n > s->cap_n) {
        gridems_flex_job_t *caps = realloc(s->caps, s->list.n * sizeof *caps);
        if (caps == NULL) {
            return GRIDEMS_ENOMEM;
        }
        s->caps = caps;
        void *ids = realloc(s->cap_ids, s->list.n * sizeof *s->cap_ids);
        if (ids == NULL) {
            return GRIDEMS_ENOMEM;
        }
        s->cap_ids = ids;
        s->cap_n = s->list.n;
    }
    uint32_t n = 0;
    for (size_t i = 0; i < s->list.n; i++) {
        const gridems__slurm_job_t *j = &s->list.jobs[i];
        const mark_t *m = mark_find(s, j->id);
        gridems__slurm_flex_t f;
        const char *why;
        if (!gridems__slurm_flex_eval(j, m != NULL && m->m.held, m != NULL && m->m.suspended,
                                      &s->flex_opts, s->measured_ms, &f, &why)) {
            continue;
        }
        snprintf(s->cap_ids[n], sizeof s->cap_ids[n], "%s.%s", s->instance, j->id);
        s->caps[n] = (gridems_flex_job_t){
            .id = s->cap_ids[n],
            .energy_remaining_kwh = f.energy_remaining_kwh,
            .energy_delivered_kwh = f.energy_delivered_kwh,
            .power_max_kw = f.power_max_kw,
            .earliest_ms = s->measured_ms,
            .deadline_ms = f.deadline_ms,
        };
        n++;
    }
    out->stale_after_ms = (uint32_t)s->o->stale_after_ms;
    out->measured_ms = s->measured_ms;
    out->u.flex.jobs = n > 0 ? s->caps : NULL;
    out->u.flex.n_jobs = n;
    out->u.flex.power_cap_kw = s->o->power_cap_kw;
    return 0;
}

static int dev_setpoint(gridems_device_id_t dev, void *userdata, const gridems_setpoint_t *sp)
{
    (void)dev;
    slurm_t *s = userdata;
    if (s->have_sp && sp->plan_id == s->sp_plan && sp->timestamp_ms == s->sp_ts &&
        !sp->safe_mode == !s->sp_safe) {
        return 0; /* a repeat: the poll timer keeps enforcing it */
    }
    size_t plen = strlen(s->instance);
    target_t *t = NULL;
    size_t nt = 0;
    if (!sp->safe_mode && sp->n_jobs > 0) {
        t = calloc(sp->n_jobs, sizeof *t);
        if (t == NULL) {
            return GRIDEMS_ENOMEM;
        }
        for (uint32_t i = 0; i < sp->n_jobs; i++) {
            const char *id = sp->jobs[i].job_id;
            if (id == NULL || strncmp(id, s->instance, plen) != 0 || id[plen] != '.' ||
                !gridems__slurm_id_valid(id + plen + 1)) {
                continue; /* not one of ours */
            }
            snprintf(t[nt].id, sizeof t[nt].id, "%s", id + plen + 1);
            t[nt].power_kw = isfinite(sp->jobs[i].power_kw) && sp->jobs[i].power_kw > 0
                                 ? sp->jobs[i].power_kw
                                 : 0;
            nt++;
        }
    }
    free(s->targets);
    s->targets = t;
    s->n_targets = nt;
    s->have_sp = 1;
    s->sp_safe = sp->safe_mode != 0;
    s->sp_plan = sp->plan_id;
    s->sp_ts = sp->timestamp_ms;
    s->sp_valid_until = sp->valid_until_ms;
    if (s->sp_safe) {
        s->api->log(s->self, GRIDEMS_PLUGIN_LOG_NOTICE,
                    "safe mode: undoing gridems's holds, suspends and caps (%zu jobs marked)",
                    s->n_marks);
    }
    cycle_start(s); /* act now, not at the next poll */
    return 0;
}

/* At shutdown and at unload (also a reload of changed options, which sends no shutdown event),
 * undo synchronously: queued work would be cancelled, and a new instance would not know these
 * holds and suspends. This blocks the loop, bounded by one command timeout per action: the
 * instance is going away, and leaving jobs held would be worse. */
static void undo_now(slurm_t *s, const char *when)
{
    s->undoing = 1;
    cycle_t c;
    memset(&c, 0, sizeof c);
    c.scontrol = s->o->scontrol;
    c.cap_cmd = s->o->power_cap_command;
    c.timeout_ms = (int)s->o->command_timeout_ms;
    size_t undone = 0;
    for (size_t i = 0; i < s->n_marks; i++) {
        mark_t *m = &s->marks[i];
        action_t a;
        memset(&a, 0, sizeof a);
        snprintf(a.id, sizeof a.id, "%s", m->id);
        a.nodes = 1;
        for (size_t j = 0; j < s->list.n; j++) {
            if (strcmp(s->list.jobs[j].id, m->id) == 0) {
                a.nodes = s->list.jobs[j].nodes;
            }
        }
        int acts[3] = {m->m.held ? GRIDEMS__SLURM_ACT_RELEASE : 0,
                       m->m.suspended ? GRIDEMS__SLURM_ACT_RESUME : 0,
                       m->m.cap_w > 0 && c.cap_cmd != NULL ? GRIDEMS__SLURM_ACT_CAP : 0};
        for (int k = 0; k < 3; k++) {
            if (acts[k] == 0) {
                continue;
            }
            a.act = acts[k];
            a.cap_w = s->o->gpu_watts_max;
            run_action(&c, &a);
            record_action(s, &a);
            undone++;
        }
    }
    if (undone > 0) {
        s->api->log(s->self, GRIDEMS_PLUGIN_LOG_NOTICE, "%s: %zu gridems actions undone", when,
                    undone);
    }
}

static int dev_event(gridems_device_id_t dev, void *userdata, const gridems_device_event_t *ev)
{
    (void)dev;
    slurm_t *s = userdata;
    if (ev->type == GRIDEMS_EVT_SHUTDOWN) {
        s->have_sp = 1;
        s->sp_safe = 1;
        undo_now(s, "shutdown");
    }
    return 0;
}

static void dev_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    slurm_t *s = userdata;
    undo_now(s, "unload"); /* what was still in flight at shutdown, or a reload */
    gridems__slurm_list_free(&s->list);
    free(s->caps);
    free(s->cap_ids);
    free(s->marks);
    free(s->targets);
    free(s);
}

/* ---- ## Init ---- */

static int bad(const gridems_host_api_t *api, gridems_plugin_t *self, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const gridems_host_api_t *api, gridems_plugin_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api->vlog(self, GRIDEMS_PLUGIN_LOG_ERR, fmt, ap);
    va_end(ap);
    return GRIDEMS_ECONFIG;
}

static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const slurm_opts_t *o)
{
    if (o->squeue == NULL || o->squeue[0] == '\0' || o->scontrol == NULL ||
        o->scontrol[0] == '\0') {
        return bad(api, self, "options \"squeue\" and \"scontrol\" must not be empty");
    }
    if (o->partition != NULL &&
        (o->partition[0] == '\0' || strlen(o->partition) > 256 ||
         strspn(o->partition,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,-") !=
             strlen(o->partition))) {
        return bad(api, self,
                   "option \"partition\" must be 1 to 256 characters of [A-Za-z0-9_.,-]");
    }
    if (o->poll_ms < 200 || o->poll_ms > 600000) {
        return bad(api, self, "option \"poll_ms\" must be within [200, 600000] (got %" PRId64 ")",
                   o->poll_ms);
    }
    if (o->command_timeout_ms < 100 || o->command_timeout_ms > 120000) {
        return bad(api, self,
                   "option \"command_timeout_ms\" must be within [100, 120000] (got %" PRId64 ")",
                   o->command_timeout_ms);
    }
    if (o->stale_after_ms < 1000 || o->stale_after_ms > 86400000) {
        return bad(api, self,
                   "option \"stale_after_ms\" must be within [1000, 86400000] (got %" PRId64 ")",
                   o->stale_after_ms);
    }
    if (!(o->gpu_power_kw > 0 && o->gpu_power_kw <= 100)) {
        return bad(api, self, "option \"gpu_power_kw\" must be within (0, 100] (got %g)",
                   o->gpu_power_kw);
    }
    if (!(o->run_fraction > 0 && o->run_fraction <= 1)) {
        return bad(api, self, "option \"run_fraction\" must be within (0, 1] (got %g)",
                   o->run_fraction);
    }
    if (o->power_cap_command != NULL && o->power_cap_command[0] == '\0') {
        return bad(api, self, "option \"power_cap_command\" must not be empty");
    }
    if (!(o->gpu_watts_min > 0 && o->gpu_watts_max >= o->gpu_watts_min &&
          o->gpu_watts_max <= 10000)) {
        return bad(api, self,
                   "options \"gpu_watts_min\" and \"gpu_watts_max\" must satisfy 0 < min <= max "
                   "<= 10000 (got %g, %g)",
                   o->gpu_watts_min, o->gpu_watts_max);
    }
    if (o->max_jobs < 1 || o->max_jobs > 100000) {
        return bad(api, self, "option \"max_jobs\" must be within [1, 100000] (got %" PRId64 ")",
                   o->max_jobs);
    }
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    if (!GRIDEMS_API_HAS(api, now_ms) || cfg->context == NULL) {
        return GRIDEMS_EABI;
    }
    const slurm_opts_t *o = cfg->context;
    int rc = check_options(api, self, o);
    if (rc < 0) {
        return rc;
    }
    slurm_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return GRIDEMS_ENOMEM;
    }
    s->self = self;
    s->api = api;
    s->o = o;
    s->instance = cfg->instance;
    s->flex_opts.gpu_power_kw = o->gpu_power_kw;
    s->flex_opts.all_gpu_jobs = o->flex_all_gpu_jobs;
    s->policy.run_fraction = o->run_fraction;
    s->policy.cap_enabled = o->power_cap_command != NULL;
    s->policy.gpu_watts_min = o->gpu_watts_min;
    s->policy.gpu_watts_max = o->gpu_watts_max;
    s->last_ok = 1;
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->partition,
        .klass = GRIDEMS_DEV_FLEX_LOAD,
        .options = slurm_options,
        .get_capabilities = dev_caps,
        .apply_setpoint = dev_setpoint,
        .on_event = dev_event,
        .destroy = dev_destroy,
    };
    rc = api->register_device(self, &desc, s, &s->dev);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* From here on s belongs to the device: the host calls dev_destroy even if init fails. */
    rc = api->timer_start(self, 0, (uint64_t)o->poll_ms, on_timer, s, &s->timer);
    if (rc < 0) {
        return rc;
    }
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "Slurm cluster via %s/%s, poll every %" PRId64 " ms, %s%s%s, power cap %s", o->squeue,
             o->scontrol, o->poll_ms, o->flex_all_gpu_jobs ? "tagged and GPU jobs" : "tagged jobs",
             o->partition != NULL ? " of partition " : "", o->partition != NULL ? o->partition : "",
             o->power_cap_command != NULL ? o->power_cap_command : "none");
    return 0;
}
