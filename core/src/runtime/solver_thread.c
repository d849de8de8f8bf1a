/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "solver_thread.h"

#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "log.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct gridems_solver_s {
    /* Set at create, then read-only. */
    uv_loop_t *loop;
    gridems_solver_result_cb on_result;
    void *userdata;
    uv_thread_t thread;

    /* Shared with the thread: guarded by lock. */
    uv_mutex_t lock;
    uv_cond_t cond;
    gridems_solver_result_t *pending; /* the waiting job, or NULL */
    int in_flight;                    /* 1 while the thread solves a job */
    uv_cond_t done_cond;              /* signalled after each result is posted */
    uint64_t taken;                   /* jobs the thread took */
    uint64_t posted;                  /* of those, results posted to the mailbox */
    int stopping;                     /* 1 once the thread must exit */
    int notify_exit;                  /* 1: post exit_node when leaving (0 in create's cleanup) */
    int started;                      /* 1 once the thread has created its optimizer (or failed) */
    int start_rc;                     /* the thread's gridems_optimizer_create() result */
    gridems_optimizer_opts_t opts;    /* the options for new optimizers */
    unsigned opts_gen;                /* bumped by set_options */
    char *basis_path;                 /* gridems_solver_keep_basis: set once, then read-only */

    /* Loop thread only. */
    gridems_mailbox_t mb;
    gridems_mailbox_node_t exit_node; /* the thread's last message: "join me" */
    int closing;                      /* shutdown was called */
    gridems_solver_shutdown_cb shutdown_cb;
    gridems_solver_stats_t stats;
};

static double ms_since(uint64_t start_ns)
{
    return (double)(uv_hrtime() - start_ns) / 1e6;
}

/* ---- ## The solver thread ---- */

static void free_lookahead(gridems_solver_result_t *res)
{
    if (res->peak_lookahead != NULL) {
        gridems_scenario_free(res->peak_lookahead);
        free(res->peak_lookahead);
        res->peak_lookahead = NULL;
    }
}

/* What the thread knows of the basis file (thread only). */
typedef struct basis_keeper_s {
    const char *path;       /* NULL: not kept */
    int64_t saved_start_ms; /* step 0 of the last basis written, INT64_MIN before one */
    bool failing;           /* the last write failed (logged once until one succeeds) */
} basis_keeper_t;

/* The job's look-ahead (gridems_solver_submit_plan): solved cold on an optimizer of its own (it
 * is another program than the plans, and solved about once a day), its peak import then a floor
 * under the plan's peak. Reported in the result; the program is freed. */
static void solve_lookahead(gridems_solver_result_t *job, const gridems_optimizer_opts_t *opts)
{
    uint64_t start = uv_hrtime();
    gridems_optimizer_opts_t cold = *opts;
    cold.allow_warm = false;
    gridems_optimizer_t *opt = NULL;
    gridems_schedule_t sched;
    memset(&sched, 0, sizeof sched);
    job->lookahead_done = true;
    job->lookahead_ok = gridems_optimizer_create(&opt, &cold) == 0 &&
                        gridems_optimizer_solve(opt, job->peak_lookahead, &sched, NULL, 0) == 0;
    job->lookahead_peak_kw = job->lookahead_ok ? sched.peak_import_kw : NAN;
    if (job->lookahead_ok && sched.peak_import_kw > job->scenario->peak_so_far_kw) {
        job->scenario->peak_so_far_kw = sched.peak_import_kw;
    }
    gridems_schedule_free(&sched);
    gridems_optimizer_destroy(opt);
    free_lookahead(job);
    job->lookahead_ms = ms_since(start);
}

/* A new optimizer's first job: start it from the basis file when there is a usable one, with
 * the shift between the file's horizon and the job's. Returns true when it did. */
static bool basis_restore(basis_keeper_t *bk, gridems_optimizer_t *opt,
                          const gridems_solver_result_t *job)
{
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(bk->path, &text, &len);
    if (rc == GRIDEMS_ENOENT) {
        return false; /* none kept yet: a first start */
    }
    if (rc != 0) {
        gridems_log_warn("solver: cannot read the basis file %s (%s); the first solve is cold",
                         bk->path, gridems_strerror(rc));
        return false;
    }
    int64_t saved_ms = 0;
    char err[256];
    /* The one JSON policy of every file read back from state_dir (json_strict.h). */
    rc = gridems_json_check_strict(text, len, err, sizeof err);
    if (rc == 0) {
        rc = gridems_optimizer_basis_restore(opt, text, len, &saved_ms, err, sizeof err);
    }
    free(text);
    if (rc != 0) {
        gridems_log_warn("solver: the basis file %s is not used (%s); the first solve is cold",
                         bk->path, err);
        return false;
    }
    /* The file's step t is the job's step t - shift. A horizon that is not a whole number of
     * steps later (another step length, a clock set back) is carried over unshifted: a worse
     * start, never a wrong answer. */
    int64_t step_ms = llround(job->scenario->step_minutes * 60000.0);
    int64_t gap_ms = job->start_ms - saved_ms;
    int shift = 0;
    if (job->start_ms > 0 && step_ms > 0 && gap_ms >= 0 && gap_ms % step_ms == 0 &&
        gap_ms / step_ms <= job->scenario->steps) {
        shift = (int)(gap_ms / step_ms);
    }
    gridems_optimizer_hint_shift(opt, shift);
    gridems_log_info("solver: the first solve starts from the basis kept in %s (%d step(s) "
                     "later)",
                     bk->path, shift);
    return true;
}

/* After a solved job's result is posted: write the basis when this horizon starts at another step
 * than the last one written (at most once a plan step: the file is a speed-up, and a basis one
 * step old carries over as well as a fresh one). sc is the job's scenario (a copy: the result
 * has gone to the loop). */
static void basis_save(basis_keeper_t *bk, gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                       int64_t start_ms)
{
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_optimizer_basis_save(opt, sc, start_ms, &text, &len);
    if (rc == 0) {
        rc = gridems_write_file_atomic(bk->path, text, len);
    }
    free(text);
    if (rc != 0 && !bk->failing) {
        gridems_log_warn("solver: cannot keep the basis in %s (%s); a restart solves cold",
                         bk->path, rc == GRIDEMS_EIO ? strerror(errno) : gridems_strerror(rc));
    } else if (rc == 0 && bk->failing) {
        gridems_log_info("solver: the basis is kept in %s again", bk->path);
    }
    bk->failing = rc != 0;
    if (rc == 0) {
        bk->saved_start_ms = start_ms;
    }
}

static void solver_main(void *arg)
{
    gridems_solver_t *s = arg;
    gridems_optimizer_t *opt = NULL;

    uv_mutex_lock(&s->lock);
    gridems_optimizer_opts_t opts = s->opts;
    unsigned gen = s->opts_gen;
    uv_mutex_unlock(&s->lock);
    basis_keeper_t bk = {NULL, INT64_MIN, false};
    bool fresh_optimizer = true; /* no job solved by this optimizer yet */

    /* The optimizer, and the GLPK environment under it, are created on this thread: they belong
     * to it for good. */
    int rc = gridems_optimizer_create(&opt, &opts);
    uv_mutex_lock(&s->lock);
    s->start_rc = rc;
    s->started = 1;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);

    while (rc == 0) {
        uv_mutex_lock(&s->lock);
        while (s->pending == NULL && !s->stopping) {
            uv_cond_wait(&s->cond, &s->lock);
        }
        if (s->stopping) {
            /* Shutdown took the waiting job (if any) itself, so nothing is left behind. */
            uv_mutex_unlock(&s->lock);
            break;
        }
        gridems_solver_result_t *job = s->pending;
        s->pending = NULL;
        s->in_flight = 1;
        s->taken++;
        bool renew = gen != s->opts_gen;
        if (renew) {
            opts = s->opts;
            gen = s->opts_gen;
        }
        bk.path = s->basis_path;
        uv_mutex_unlock(&s->lock);

        uint64_t start = uv_hrtime();
        job->queue_wait_ms = (double)(start - job->submitted_ns) / 1e6;
        if (renew || opt == NULL) {
            gridems_optimizer_destroy(opt);
            opt = NULL;
            int crc = gridems_optimizer_create(&opt, &opts);
            fresh_optimizer = true;
            if (crc != 0) {
                /* opt stays NULL: the next job tries again. */
                job->rc = crc;
                snprintf(job->err, sizeof job->err, "cannot create the optimizer: %s",
                         gridems_strerror(crc));
            }
        }
        if (job->peak_lookahead != NULL) {
            solve_lookahead(job, &opts); /* timed on its own: lookahead_ms */
        }
        uint64_t plan_start = uv_hrtime();
        if (opt != NULL) {
            gridems_optimizer_hint_shift(opt, job->shift_steps);
            if (fresh_optimizer && bk.path != NULL && opts.allow_warm) {
                job->basis_from_file = basis_restore(&bk, opt, job);
            }
            fresh_optimizer = false;
            gridems_optimizer_hint_reference(opt, job->reference, job->start_ms);
            job->rc = gridems_optimizer_solve(opt, job->scenario, &job->schedule, job->err,
                                              sizeof job->err);
            if (job->rc == 0) {
                job->err[0] = '\0';
            }
        }
        job->solve_wall_ms = ms_since(plan_start);
        /* The basis is written after the result is posted (off the path from solve to
         * publication), from a copy of the scenario, which goes back to the loop with it. */
        gridems_scenario_t keep;
        int64_t keep_start_ms = job->start_ms;
        bool save = bk.path != NULL && opt != NULL && job->rc == 0 && job->start_ms > 0 &&
                    job->start_ms != bk.saved_start_ms &&
                    gridems_scenario_copy(&keep, job->scenario) == 0;

        uv_mutex_lock(&s->lock);
        s->in_flight = 0;
        uv_mutex_unlock(&s->lock);
        /* The mailbox is closed only after this thread is joined, so the post cannot be refused;
         * if it ever were, freeing here keeps the promise that nothing leaks. */
        if (gridems_mailbox_post(&s->mb, &job->node) != 0) {
            gridems_log_err("solver: result of job %" PRIu64 " could not be delivered",
                            job->job_id);
            gridems_schedule_free(&job->schedule);
            gridems_scenario_free(job->scenario);
            free(job->scenario);
            gridems_reference_free(job->reference);
            free(job->reference);
            free(job);
        }
        uv_mutex_lock(&s->lock);
        s->posted++;
        uv_cond_broadcast(&s->done_cond);
        uv_mutex_unlock(&s->lock);
        if (save) {
            basis_save(&bk, opt, &keep, keep_start_ms);
            gridems_scenario_free(&keep);
        }
    }

    gridems_optimizer_destroy(opt);
    /* GLPK keeps its environment in thread-local storage; it must be freed on this thread or it
     * leaks when the thread ends. */
    glp_free_env();

    uv_mutex_lock(&s->lock);
    int notify = s->notify_exit;
    uv_mutex_unlock(&s->lock);
    if (notify) {
        /* The last touch of s by this thread: the loop joins the thread when it sees this node,
         * and only then closes the mailbox and frees s. */
        gridems_mailbox_post(&s->mb, &s->exit_node);
    }
}

/* ---- ## Loop side ---- */

static void release_result(gridems_solver_result_t *res)
{
    free_lookahead(res);
    gridems_schedule_free(&res->schedule);
    gridems_reference_free(res->reference);
    free(res->reference);
    if (res->scenario != NULL) {
        gridems_scenario_free(res->scenario);
        free(res->scenario);
    }
    free(res);
}

static void on_mailbox_closed(gridems_mailbox_t *mb)
{
    gridems_solver_t *s = mb->data;
    if (s->shutdown_cb != NULL) {
        s->shutdown_cb(s, s->userdata);
    }
    uv_cond_destroy(&s->cond);
    uv_cond_destroy(&s->done_cond);
    uv_mutex_destroy(&s->lock);
    free(s->basis_path);
    free(s);
}

static void consume(gridems_mailbox_t *mb, gridems_mailbox_node_t *node)
{
    gridems_solver_t *s = mb->data;
    if (node == &s->exit_node) {
        /* The thread has posted its last message and is returning: the join is immediate. */
        uv_thread_join(&s->thread);
        gridems_mailbox_close(&s->mb, on_mailbox_closed);
        return;
    }
    gridems_solver_result_t *res = container_of(node, gridems_solver_result_t, node);
    if (res->rc == 0) {
        s->stats.solved++;
        s->stats.warm_capped += res->schedule.start_kind == GRIDEMS_START_CAPPED;
        s->stats.warm_refused += res->schedule.start_kind == GRIDEMS_START_FALLBACK;
        s->stats.ties_applied += res->schedule.tie_break == GRIDEMS_TIE_APPLIED;
        s->stats.ties_skipped += res->schedule.tie_break == GRIDEMS_TIE_SKIPPED;
    } else if (res->rc != GRIDEMS_ECANCELED) {
        s->stats.failed++;
    }
    s->on_result(s, res, s->userdata);
    release_result(res);
}

/* Stop the thread and wait for it, in create's error path (no mailbox to notify). */
static void stop_and_join(gridems_solver_t *s)
{
    uv_mutex_lock(&s->lock);
    s->stopping = 1;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);
    uv_thread_join(&s->thread);
}

int gridems_solver_create(uv_loop_t *loop, const gridems_optimizer_opts_t *opts,
                          gridems_solver_result_cb on_result, void *userdata,
                          gridems_solver_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || on_result == NULL || out == NULL) {
        return GRIDEMS_EINVAL;
    }
    gridems_solver_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return GRIDEMS_ENOMEM;
    }
    s->loop = loop;
    s->on_result = on_result;
    s->userdata = userdata;
    if (opts != NULL) {
        s->opts = *opts;
    } else {
        s->opts.allow_warm = true;
    }
    int rc = uv_mutex_init(&s->lock);
    if (rc != 0) {
        free(s);
        return rc;
    }
    if ((rc = uv_cond_init(&s->cond)) != 0) {
        uv_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    if ((rc = uv_cond_init(&s->done_cond)) != 0) {
        uv_cond_destroy(&s->cond);
        uv_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    /* The thread starts before the mailbox exists, so that a failure to create the optimizer
     * leaves no async handle behind (closing one needs the loop to run). It cannot post before
     * a job is submitted, which needs create to have returned. */
    if ((rc = uv_thread_create(&s->thread, solver_main, s)) != 0) {
        uv_cond_destroy(&s->cond);
        uv_cond_destroy(&s->done_cond);
        uv_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    uv_mutex_lock(&s->lock);
    while (!s->started) {
        uv_cond_wait(&s->cond, &s->lock);
    }
    rc = s->start_rc;
    uv_mutex_unlock(&s->lock);
    if (rc == 0) {
        rc = gridems_mailbox_init(loop, &s->mb, consume);
        if (rc != 0) {
            stop_and_join(s);
        }
    } else {
        uv_thread_join(&s->thread); /* it has already returned */
    }
    if (rc != 0) {
        uv_cond_destroy(&s->cond);
        uv_cond_destroy(&s->done_cond);
        uv_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    s->mb.data = s;
    uv_mutex_lock(&s->lock);
    s->notify_exit = 1;
    uv_mutex_unlock(&s->lock);
    *out = s;
    return 0;
}

void gridems_solver_wait(gridems_solver_t *s)
{
    uv_mutex_lock(&s->lock);
    while (s->pending != NULL || s->in_flight || s->posted != s->taken) {
        uv_cond_wait(&s->done_cond, &s->lock);
    }
    uv_mutex_unlock(&s->lock);
    gridems_mailbox_drain(&s->mb);
}

/* Hand a job that will not be solved back to the owner, from the next loop iteration. */
static void cancel_job(gridems_solver_t *s, gridems_solver_result_t *job, const char *why)
{
    job->rc = GRIDEMS_ECANCELED;
    job->queue_wait_ms = ms_since(job->submitted_ns);
    snprintf(job->err, sizeof job->err, "%s", why);
    /* Posting from the loop thread: the mailbox is open until the thread is joined, which comes
     * after this in every path, so this does not fail. */
    if (gridems_mailbox_post(&s->mb, &job->node) != 0) {
        release_result(job);
    }
}

int gridems_solver_submit(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                          int shift_steps)
{
    return gridems_solver_submit_near(s, job_id, sc, shift_steps, NULL, 0);
}

int gridems_solver_submit_near(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                               int shift_steps, gridems_reference_t *ref, int64_t start_ms)
{
    return gridems_solver_submit_plan(s, job_id, sc, shift_steps, ref, start_ms, NULL);
}

int gridems_solver_submit_plan(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                               int shift_steps, gridems_reference_t *ref, int64_t start_ms,
                               gridems_scenario_t *peak_lookahead)
{
    if (s == NULL || sc == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (s->closing) {
        return GRIDEMS_ESTATE;
    }
    gridems_solver_result_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        return GRIDEMS_ENOMEM;
    }
    job->job_id = job_id;
    job->scenario = sc;
    job->shift_steps = shift_steps;
    job->reference = ref;
    job->start_ms = start_ms;
    job->peak_lookahead = peak_lookahead;
    job->submitted_ns = uv_hrtime();

    uv_mutex_lock(&s->lock);
    gridems_solver_result_t *old = s->pending;
    if (old != NULL) {
        /* The hint is relative to the previous submission; the thread never saw `old`, so this
         * job's start is old's shift plus ours after what the thread last solved. */
        job->shift_steps += old->shift_steps;
        if (job->peak_lookahead == NULL && old->peak_lookahead != NULL) {
            /* Its look-ahead was asked for once; this job solves it instead. */
            job->peak_lookahead = old->peak_lookahead;
            old->peak_lookahead = NULL;
        }
    }
    s->pending = job;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);

    s->stats.submitted++;
    if (old != NULL) {
        char why[96];
        snprintf(why, sizeof why, "replaced by job %" PRIu64 " before it was solved", job_id);
        s->stats.replaced++;
        cancel_job(s, old, why);
    }
    return 0;
}

int gridems_solver_set_options(gridems_solver_t *s, const gridems_optimizer_opts_t *opts)
{
    if (s->closing) {
        return GRIDEMS_ESTATE;
    }
    uv_mutex_lock(&s->lock);
    if (opts != NULL) {
        s->opts = *opts;
    } else {
        memset(&s->opts, 0, sizeof s->opts);
        s->opts.allow_warm = true;
    }
    s->opts_gen++;
    uv_mutex_unlock(&s->lock);
    return 0;
}

int gridems_solver_keep_basis(gridems_solver_t *s, const char *path)
{
    if (s->closing) {
        return GRIDEMS_ESTATE;
    }
    uv_mutex_lock(&s->lock);
    int rc = 0;
    if (s->basis_path != NULL || s->taken > 0 || s->pending != NULL) {
        rc = GRIDEMS_ESTATE;
    } else if ((s->basis_path = strdup(path)) == NULL) {
        rc = GRIDEMS_ENOMEM;
    }
    uv_mutex_unlock(&s->lock);
    return rc;
}

int gridems_solver_busy(gridems_solver_t *s)
{
    uv_mutex_lock(&s->lock);
    int busy = s->pending != NULL || s->in_flight;
    uv_mutex_unlock(&s->lock);
    return busy;
}

int gridems_solver_solving(gridems_solver_t *s)
{
    uv_mutex_lock(&s->lock);
    int solving = s->in_flight;
    uv_mutex_unlock(&s->lock);
    return solving;
}

void gridems_solver_stats(const gridems_solver_t *s, gridems_solver_stats_t *out)
{
    *out = s->stats;
}

int gridems_solver_shutdown(gridems_solver_t *s, gridems_solver_shutdown_cb cb)
{
    if (s == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (s->closing) {
        return GRIDEMS_ESTATE;
    }
    s->closing = 1;
    s->shutdown_cb = cb;
    uv_mutex_lock(&s->lock);
    gridems_solver_result_t *waiting = s->pending;
    s->pending = NULL;
    uv_mutex_unlock(&s->lock);
    /* Cancel the waiting job before telling the thread to stop: its exit message can then only
     * be queued after this result, so every result reaches the owner before the shutdown
     * callback. (The thread cannot take a job meanwhile: the slot is empty.) */
    if (waiting != NULL) {
        cancel_job(s, waiting, "canceled: the solver is shutting down");
    }
    uv_mutex_lock(&s->lock);
    s->stopping = 1;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->lock);
    return 0;
}
