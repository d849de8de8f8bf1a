/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The solver thread (GUIDE E.2): one dedicated thread that owns one gridems_optimizer_t for its
 * whole life, so that GLPK's per-thread environment and the warm basis survive from one re-plan to
 * the next. (uv_queue_work would run each solve on whichever pool thread is free, and the model
 * would have to be rebuilt cold every time.)
 *
 * Jobs. The loop thread submits a job: a heap scenario, a job id, a shift hint and optionally a
 * reference plan to break ties toward (gridems_solver_submit_near). The job waits
 * in a single slot; a new job REPLACES one still waiting there, because only the newest inputs
 * matter. A replaced job is not dropped silently: it comes back through the result callback with
 * rc GRIDEMS_ECANCELED and its scenario, so the rule for the owner is simple -- every successful
 * submit produces exactly one result callback, on the loop thread, before the shutdown callback.
 *
 * Results cross back to the loop through a mailbox (mailbox.h). The solver thread never touches
 * loop state: it reads only its job and writes only the job's result fields.
 *
 * Shutdown (gridems_solver_shutdown) never blocks the loop: it stops accepting jobs, cancels a
 * waiting job, and wakes the thread; a solve in flight runs to its end (bounded by the time limit
 * in the optimizer options) and its result is delivered normally; then the thread exits, the loop
 * joins it (at once: it has posted its last message), closes the mailbox and, once the async
 * handle is closed, calls the shutdown callback and frees the solver. Joining before closing the
 * mailbox is what makes the close safe (libuv #2226: no producer may be inside uv_async_send()).
 *
 * Threads: every function here is called on the loop thread, and every callback runs there.
 */
#ifndef GRIDEMS_SOLVER_THREAD_H
#define GRIDEMS_SOLVER_THREAD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "gridems/optimizer.h"
#include "gridems/scenario.h"
#include "mailbox.h"

#define GRIDEMS_SOLVER_ERR_MAX 512
/* The basis file's name in state_dir (gridems_solver_keep_basis). */
#define GRIDEMS_BASIS_FILE "basis.json"

typedef struct gridems_solver_s gridems_solver_t;

/*
 * A job's result, handed to the result callback. Public fields first; the rest is private.
 * The struct itself is borrowed by the callback (the solver frees it when the callback returns),
 * but the callback may take its two payloads:
 *   - scenario: set res->scenario = NULL to keep it (then free it with gridems_scenario_free()
 *     and free());
 *   - schedule: copy the struct and then zero res->schedule (memset) to keep it (then free it
 *     with gridems_schedule_free()).
 * Whatever is left in them is freed after the callback.
 */
typedef struct gridems_solver_result_s {
    uint64_t job_id; /* as submitted */
    /* 0 (schedule holds the optimal schedule); GRIDEMS_ECANCELED (replaced by a newer job, or
     * still waiting at shutdown: never solved); or the optimizer's error: GRIDEMS_EINVAL (the
     * scenario breaks a rule), GRIDEMS_ETIMEDOUT, GRIDEMS_ESOLVER, GRIDEMS_ENOMEM. */
    int rc;
    char err[GRIDEMS_SOLVER_ERR_MAX]; /* one line when rc != 0, else "" */
    gridems_scenario_t *scenario;     /* the submitted scenario, returned to the loop */
    gridems_schedule_t schedule;      /* zeroed unless rc == 0 */
    double solve_wall_ms; /* wall time of the plan's solve on the thread, its look-ahead not
                             included (0 when not solved) */
    double queue_wait_ms; /* from submit to the start of the solve (or to the cancellation) */
    bool basis_from_file; /* the solve started from the basis file (gridems_solver_keep_basis) */
    /* The job's peak look-ahead (gridems_solver_submit_plan), solved before the plan: done is
     * false when it had none or it was never solved (a canceled job); ok with the look-ahead's
     * peak import, which the plan's peak_so_far_kw was raised to if it was lower. */
    bool lookahead_done;
    bool lookahead_ok;
    double lookahead_peak_kw;
    double lookahead_ms; /* wall time of the look-ahead's solve */

    /* Private. */
    gridems_mailbox_node_t node;
    int shift_steps;
    gridems_reference_t *reference;     /* owned, or NULL */
    int64_t start_ms;                   /* when the scenario's step 0 begins, for the reference */
    gridems_scenario_t *peak_lookahead; /* owned until solved, or NULL */
    uint64_t submitted_ns;
} gridems_solver_result_t;

/*
 * Result callback, on the loop thread, once per successfully submitted job.
 *   s: the solver (borrowed); it may be used in the callback (submit, shutdown).
 *   res: borrowed until the callback returns (see above for taking its payloads).
 *   userdata: as given to create.
 */
typedef void (*gridems_solver_result_cb)(gridems_solver_t *s, gridems_solver_result_t *res,
                                         void *userdata);

/* Shutdown callback, on the loop thread, after the last result callback; s is freed as soon as
 * it returns. */
typedef void (*gridems_solver_shutdown_cb)(gridems_solver_t *s, void *userdata);

/* Counters, for logs and metrics (loop thread). */
typedef struct gridems_solver_stats_s {
    uint64_t submitted; /* accepted by submit */
    uint64_t replaced;  /* canceled because a newer job replaced them */
    uint64_t solved;    /* results with rc == 0 */
    uint64_t failed;    /* results with an error other than GRIDEMS_ECANCELED */
    /* Of the solved ones: */
    uint64_t warm_capped;  /* warm start hit its iteration cap and was solved cold */
    uint64_t warm_refused; /* warm start refused by GLPK and solved from its presolver */
    uint64_t ties_applied; /* tie-break toward the reference applied */
    uint64_t ties_skipped; /* tie-break failed or hit its cap: first-stage schedule */
} gridems_solver_stats_t;

/*
 * gridems_solver_create: start the solver thread and create its optimizer on it.
 * Parameters:
 *   loop: borrowed; must outlive the solver (until the shutdown callback has run);
 *   opts: copied; the optimizer options (the per-solve time limit among them); NULL = defaults;
 *   on_result: required; called on the loop thread for each job;
 *   userdata: passed to the callbacks, never touched;
 *   out: receives the solver; dispose of it with gridems_solver_shutdown() only.
 * Returns: 0; GRIDEMS_EINVAL (NULL loop, callback or out); GRIDEMS_ENOMEM (also when the
 *   optimizer could not be created on the thread); or a libuv error (negative errno) from
 *   thread, mutex, condition or async creation. On error nothing is left to clean up (no handle
 *   was left on the loop) and *out is NULL.
 * Thread: the loop thread.
 */
int gridems_solver_create(uv_loop_t *loop, const gridems_optimizer_opts_t *opts,
                          gridems_solver_result_cb on_result, void *userdata,
                          gridems_solver_t **out);

/*
 * gridems_solver_submit: queue a solve. If a job is still waiting, it is replaced: it comes back
 * through the result callback with GRIDEMS_ECANCELED (from a later loop iteration, never inside
 * this call), and its shift hint is added to this job's (see shift_steps).
 * Parameters:
 *   s: borrowed;
 *   job_id: the caller's id, returned in the result (e.g. the plan id);
 *   sc: a scenario allocated with malloc() and filled (gridems_scenario_init() etc.); ownership is
 *     transferred on success only: it comes back in the result. On error the caller keeps it.
 *     The scenario is validated on the thread (an invalid one returns GRIDEMS_EINVAL in the
 *     result, with the validator's message).
 *   shift_steps: how many steps this job's horizon starts after the previous job SUBMITTED to
 *     this solver (0 = same start, or unknown). The solver keeps the hint relative to the last
 *     job it actually picked up by adding the shifts of replaced jobs, and hands it to
 *     gridems_optimizer_hint_shift(). A wrong hint costs speed only (the optimizer falls back to
 *     a cold start), never correctness.
 * Returns: 0; GRIDEMS_EINVAL (NULL sc); GRIDEMS_ESTATE (shutdown has begun); GRIDEMS_ENOMEM.
 *   On error the result callback is not called for this job.
 * Thread: the loop thread.
 */
int gridems_solver_submit(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                          int shift_steps);

/*
 * gridems_solver_submit_near: as gridems_solver_submit, and break ties toward a reference plan
 * (gridems_optimizer_hint_reference): among the optimal schedules, the one closest to ref.
 * Parameters as for submit, plus:
 *   ref: a reference allocated with malloc() and filled (gridems_reference_from_schedule), or
 *     NULL for none; ownership is transferred on success only (the solver frees it); on error
 *     the caller keeps it. The thread reads it only while solving this job.
 *   start_ms: when sc's step 0 begins (ms since the epoch), to match ref by time.
 * Returns: as submit.
 */
int gridems_solver_submit_near(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                               int shift_steps, gridems_reference_t *ref, int64_t start_ms);

/*
 * gridems_solver_submit_plan: as gridems_solver_submit_near, with a peak look-ahead: a second
 * program (a heap scenario like sc; may be NULL) the thread solves first, cold, on an optimizer
 * of its own; its schedule's peak_import_kw becomes a floor under sc's peak_so_far_kw (the
 * month-aware peak target, core/src/planning/peak_target.h). The result reports it
 * (lookahead_done, lookahead_ok, lookahead_peak_kw). Its ownership goes with sc's: transferred on
 * success only. A job replaced while waiting hands its look-ahead to the job that replaces it
 * when that one has none, so a look-ahead is solved once it is asked for.
 * Returns: as submit. Thread: the loop thread.
 */
int gridems_solver_submit_plan(gridems_solver_t *s, uint64_t job_id, gridems_scenario_t *sc,
                               int shift_steps, gridems_reference_t *ref, int64_t start_ms,
                               gridems_scenario_t *peak_lookahead);

/*
 * gridems_solver_set_options: use new optimizer options from the next job on (a config reload
 * changed the time limit). The thread then creates a new optimizer, so the next solve is cold.
 * Parameters: s (borrowed); opts (copied; NULL = defaults).
 * Returns: 0 or GRIDEMS_ESTATE (shutdown has begun). Thread: the loop thread.
 */
int gridems_solver_set_options(gridems_solver_t *s, const gridems_optimizer_opts_t *opts);

/*
 * gridems_solver_keep_basis: keep the optimal basis in a file across restarts
 * (gridems_optimizer_basis_save). After a solve whose horizon starts at another step than the
 * basis last written, the thread writes it (atomically, after the result is posted: never
 * between a solve and its publication; so at most once a plan step). The first solve of each new
 * optimizer of the thread (the first job, or the first after set_options) starts from the file
 * when it is usable, carried over by the whole steps between the file's horizon and the job's
 * (its start_ms; a job submitted without one is carried over unshifted); a missing file is a
 * first start, an unusable one is logged and the solve is cold. Jobs submitted without a
 * start_ms are not written.
 * Parameters: s (borrowed); path (copied).
 * Returns: 0; GRIDEMS_ESTATE (already set, a job was already submitted, or shutdown has begun);
 *   GRIDEMS_ENOMEM. Thread: the loop thread, before the first submit.
 */
int gridems_solver_keep_basis(gridems_solver_t *s, const char *path);

/*
 * gridems_solver_busy: 1 when a job is waiting or being solved, 0 when the thread is idle.
 * Parameters: s (borrowed). Thread: the loop thread.
 */
int gridems_solver_busy(gridems_solver_t *s);

/*
 * gridems_solver_solving: 1 when the thread has picked up a job and is solving it (a job only
 * waiting in the slot does not count), 0 otherwise. A newly submitted job waits until that solve
 * ends. Parameters: s (borrowed). Thread: the loop thread.
 */
int gridems_solver_solving(gridems_solver_t *s);

/* gridems_solver_stats: copy the counters into *out (borrowed). Thread: the loop thread. */
void gridems_solver_stats(const gridems_solver_t *s, gridems_solver_stats_t *out);

/*
 * gridems_solver_shutdown: stop the solver without blocking the loop: refuse new jobs, cancel the
 * waiting job (its result arrives with GRIDEMS_ECANCELED), let a solve in flight finish (its
 * result arrives normally), join the thread, close the mailbox, then call cb (may be NULL) and
 * free s. The loop must keep running until cb has run (uv_loop_close() fails before).
 * Parameters: s (borrowed; freed after cb); cb (may be NULL; it receives create's userdata).
 * Returns: 0, or GRIDEMS_ESTATE when shutdown was already called (cb is then not called again).
 * Thread: the loop thread; it may be called from inside the result callback.
 */
int gridems_solver_shutdown(gridems_solver_t *s, gridems_solver_shutdown_cb cb);

/*
 * gridems_solver_wait: block until every submitted job is solved, then run their result
 * callbacks now, inside this call, in order. For the lockstep (lockstep.h), where nothing else
 * may happen while a solve is in flight, so the order of events never depends on how long a
 * solve takes. Must not be called once shutdown has begun, nor from a result callback.
 * Thread: the loop thread; blocks for the solve.
 */
void gridems_solver_wait(gridems_solver_t *s);

#endif
