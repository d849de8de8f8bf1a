/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the solver thread on a real libuv loop: results come back on the loop thread
 * with the same optimum as a direct solve; the optimizer lives on across jobs (warm re-solves);
 * a newer job replaces a waiting one (which comes back canceled); an invalid scenario comes back
 * with the validator's message; a reference plan reaches the optimizer and is freed by the
 * solver; a time limit is honoured; shutdown with a job in flight delivers
 * every result before its callback; and every test ends with uv_loop_close() == 0.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "gridems/optimizer.h"
#include "solver_thread.h"
#include "test_util.h"

#include <check.h>
#include <glpk.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum { MAX_RESULTS = 16 };

typedef struct seen_s {
    uint64_t job_id;
    int rc;
    char err[GRIDEMS_SOLVER_ERR_MAX];
    double objective;
    gridems_start_kind_t start_kind;
    gridems_tie_break_t tie_break;
    int on_loop_thread;
    int scenario_back; /* the scenario came back with the result */
    double queue_wait_ms, solve_wall_ms;
    bool basis_from_file;
    bool lookahead_done, lookahead_ok;
    double lookahead_peak_kw;
} seen_t;

typedef struct fixture_s {
    uv_loop_t loop;
    uv_thread_t loop_thread;
    gridems_solver_t *solver;
    seen_t seen[MAX_RESULTS];
    int n_seen;
    int shutdown_done;
    int results_at_shutdown; /* n_seen when the shutdown callback ran */
    int keep_schedule;       /* take the schedule of the next result out of it */
    gridems_schedule_t kept;
} fixture_t;

/* ---- ## Scenarios ---- */

/* A heap scenario of T quarter-hour steps with n batteries and varying prices: small ones solve
 * in about a millisecond; T = 1000 with 3 batteries takes a few hundred. */
static gridems_scenario_t *make_scenario(int steps, int n_batteries, double price_shift)
{
    gridems_scenario_t *sc = malloc(sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(gridems_scenario_init(sc, steps, 15), 0);
    for (int t = 0; t < steps; t++) {
        sc->import_per_kwh[t] = 20 + 10 * sin(t * 0.26 + price_shift) + 3 * sin(t * 1.7);
        sc->base_load_kw[t] = 500 + 100 * cos(t * 0.1);
    }
    for (int b = 0; b < n_batteries; b++) {
        char id[16];
        snprintf(id, sizeof id, "bess%d", b);
        gridems_battery_t bat = {
            .id = id,
            .capacity_kwh = 1000,
            .soc_kwh = 500,
            .soc_min_kwh = 100,
            .soc_max_kwh = 900,
            .final_soc_min_kwh = 500,
            .charge_max_kw = 250,
            .discharge_max_kw = 250,
            .charge_efficiency = 0.95,
            .discharge_efficiency = 0.95,
            .cycle_cost_per_kwh = 1.0,
        };
        ck_assert_int_eq(gridems_scenario_add_battery(sc, &bat), 0);
    }
    return sc;
}

static void destroy_scenario(gridems_scenario_t *sc)
{
    gridems_scenario_free(sc);
    free(sc);
}

/* The optimum of sc solved directly on this thread, for comparison. */
static double direct_objective(const gridems_scenario_t *sc)
{
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    char err[256] = "";
    ck_assert_msg(gridems_optimizer_solve(opt, sc, &s, err, sizeof err) == 0, "%s", err);
    double obj = s.objective;
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    /* This thread's GLPK environment: freed so leak checks (CK_FORK=no) stay clean. */
    glp_free_env();
    return obj;
}

/* ---- ## Fixture ---- */

static void on_result(gridems_solver_t *s, gridems_solver_result_t *res, void *userdata)
{
    fixture_t *f = userdata;
    ck_assert_ptr_eq(s, f->solver);
    ck_assert_int_lt(f->n_seen, MAX_RESULTS);
    seen_t *seen = &f->seen[f->n_seen++];
    uv_thread_t self = uv_thread_self();
    seen->on_loop_thread = uv_thread_equal(&self, &f->loop_thread);
    seen->job_id = res->job_id;
    seen->rc = res->rc;
    snprintf(seen->err, sizeof seen->err, "%s", res->err);
    seen->objective = res->schedule.objective;
    seen->start_kind = res->schedule.start_kind;
    seen->tie_break = res->schedule.tie_break;
    seen->queue_wait_ms = res->queue_wait_ms;
    seen->solve_wall_ms = res->solve_wall_ms;
    seen->basis_from_file = res->basis_from_file;
    seen->lookahead_done = res->lookahead_done;
    seen->lookahead_ok = res->lookahead_ok;
    seen->lookahead_peak_kw = res->lookahead_peak_kw;
    seen->scenario_back = res->scenario != NULL && res->scenario->steps > 0;
    if (res->rc != 0) {
        /* A failed or canceled job carries no schedule. */
        ck_assert_ptr_null(res->schedule.grid_import_kw);
    }
    if (f->keep_schedule && res->rc == 0) {
        /* Take the schedule: the solver must then not free it. */
        f->kept = res->schedule;
        memset(&res->schedule, 0, sizeof res->schedule);
        f->keep_schedule = 0;
    }
}

static void on_shutdown(gridems_solver_t *s, void *userdata)
{
    fixture_t *f = userdata;
    ck_assert_ptr_eq(s, f->solver);
    f->shutdown_done++;
    f->results_at_shutdown = f->n_seen;
}

static void fixture_init(fixture_t *f, const gridems_optimizer_opts_t *opts)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    f->loop_thread = uv_thread_self();
    ck_assert_int_eq(gridems_solver_create(&f->loop, opts, on_result, f, &f->solver), 0);
    ck_assert_ptr_nonnull(f->solver);
}

/* Run the loop without blocking until *counter reaches target or timeout_ms passes. */
static int wait_count(fixture_t *f, const int *counter, int target, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (*counter >= target) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(1);
    }
}

/* Run the loop without blocking until the thread has picked up the job submitted last and is
 * solving it (a job submitted now waits in the slot), or timeout_ms passes. */
static int wait_solving(fixture_t *f, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (gridems_solver_solving(f->solver)) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(1);
    }
}

static void fixture_close(fixture_t *f)
{
    ck_assert_int_eq(gridems_solver_shutdown(f->solver, on_shutdown), 0);
    ck_assert_msg(wait_count(f, &f->shutdown_done, 1, 60000), "shutdown did not finish");
    ck_assert_int_eq(f->shutdown_done, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    gridems_schedule_free(&f->kept);
}

static const seen_t *find(const fixture_t *f, uint64_t job_id)
{
    for (int i = 0; i < f->n_seen; i++) {
        if (f->seen[i].job_id == job_id) {
            return &f->seen[i];
        }
    }
    return NULL;
}

/* ---- ## Tests ---- */

START_TEST(create_rejects_bad_arguments)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    gridems_solver_t *s = (gridems_solver_t *)&loop; /* must be reset to NULL */
    ck_assert_int_eq(gridems_solver_create(NULL, NULL, on_result, NULL, &s), GRIDEMS_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(gridems_solver_create(&loop, NULL, NULL, NULL, &s), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_solver_create(&loop, NULL, on_result, NULL, NULL), GRIDEMS_EINVAL);
    /* Nothing was left on the loop. */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(result_arrives_on_loop_thread)
{
    fixture_t f;
    fixture_init(&f, NULL);
    gridems_scenario_t *sc = make_scenario(96, 1, 0.0);
    double want = direct_objective(sc);
    f.keep_schedule = 1;
    ck_assert_int_eq(gridems_solver_submit(f.solver, 7, sc, 0), 0);
    /* Nothing is delivered inside submit. */
    ck_assert_int_eq(f.n_seen, 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    const seen_t *r = &f.seen[0];
    ck_assert_uint_eq(r->job_id, 7);
    ck_assert_msg(r->rc == 0, "rc %d: %s", r->rc, r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert(r->on_loop_thread);
    ck_assert(r->scenario_back);
    ck_assert_msg(fabs(r->objective - want) <= 1e-6 * fmax(1.0, fabs(want)), "%.12g vs %.12g",
                  r->objective, want);
    ck_assert(r->queue_wait_ms >= 0);
    ck_assert(r->solve_wall_ms > 0);
    /* The schedule taken out of the result is intact and ours. */
    ck_assert_int_eq(f.kept.steps, 96);
    ck_assert_ptr_nonnull(f.kept.grid_import_kw);
    gridems_solver_stats_t st;
    gridems_solver_stats(f.solver, &st);
    ck_assert_uint_eq(st.submitted, 1);
    ck_assert_uint_eq(st.solved, 1);
    ck_assert_uint_eq(st.replaced, 0);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_int_eq(gridems_solver_busy(f.solver), 0);
    fixture_close(&f);
}
END_TEST

START_TEST(optimizer_lives_across_jobs)
{
    /* One optimizer for the thread's life: the second job re-solves warm, in place, and a shift
     * hint carries the basis over with an offset. */
    fixture_t f;
    fixture_init(&f, NULL);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(96, 2, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    ck_assert_int_eq(gridems_solver_submit(f.solver, 2, make_scenario(96, 2, 0.3), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 2, 30000));
    gridems_scenario_t *third = make_scenario(96, 2, 0.6);
    double want = direct_objective(third);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 3, third, 1), 0);
    ck_assert(wait_count(&f, &f.n_seen, 3, 30000));
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(f.seen[i].rc == 0, "job %d: %s", i + 1, f.seen[i].err);
    }
    ck_assert_int_eq(f.seen[0].start_kind, GRIDEMS_START_COLD);
    ck_assert_int_eq(f.seen[1].start_kind, GRIDEMS_START_UPDATE);
    ck_assert_int_eq(f.seen[2].start_kind, GRIDEMS_START_SHIFTED);
    ck_assert(fabs(f.seen[2].objective - want) <= 1e-6 * fmax(1.0, fabs(want)));
    fixture_close(&f);
}
END_TEST

START_TEST(reference_reaches_the_optimizer)
{
    /* The schedule of job 1 becomes the reference of job 2 (same scenario, same start): the
     * tie-break runs, finds the schedule at distance 0, and the solver frees the reference. */
    fixture_t f;
    fixture_init(&f, NULL);
    f.keep_schedule = 1;
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(96, 2, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    ck_assert_int_eq(f.seen[0].tie_break, GRIDEMS_TIE_NONE);
    gridems_scenario_t *sc = make_scenario(96, 2, 0.0);
    gridems_reference_t *ref = calloc(1, sizeof *ref);
    ck_assert_ptr_nonnull(ref);
    ck_assert_int_eq(gridems_reference_from_schedule(ref, sc, &f.kept, 900000), 0);
    ck_assert_int_eq(gridems_solver_submit_near(f.solver, 2, sc, 0, ref, 900000), 0);
    ck_assert(wait_count(&f, &f.n_seen, 2, 30000));
    ck_assert_msg(f.seen[1].rc == 0, "%s", f.seen[1].err);
    ck_assert_int_eq(f.seen[1].tie_break, GRIDEMS_TIE_APPLIED);
    ck_assert(fabs(f.seen[1].objective - f.seen[0].objective) <=
              1e-9 * fmax(1.0, fabs(f.seen[0].objective)));
    gridems_solver_stats_t st;
    gridems_solver_stats(f.solver, &st);
    ck_assert_uint_eq(st.ties_applied, 1);
    ck_assert_uint_eq(st.ties_skipped, 0);
    gridems_schedule_free(&f.kept);
    fixture_close(&f);
}
END_TEST

START_TEST(newest_job_replaces_waiting_one)
{
    fixture_t f;
    fixture_init(&f, NULL);
    /* Job 1 is long; once the thread is busy with it, jobs 2 and 3 arrive back to back: 3
     * replaces 2, which comes back canceled, unsolved. */
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(1000, 3, 0.0), 0), 0);
    ck_assert_msg(wait_solving(&f, 60000), "job 1 was not picked up");
    ck_assert_int_eq(gridems_solver_submit(f.solver, 2, make_scenario(96, 1, 0.1), 0), 0);
    gridems_scenario_t *newest = make_scenario(96, 1, 0.2);
    double want = direct_objective(newest);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 3, newest, 0), 0);
    ck_assert_int_eq(gridems_solver_busy(f.solver), 1);
    ck_assert(wait_count(&f, &f.n_seen, 3, 60000));
    /* Exactly one result per submit, no more. */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(f.n_seen, 3);

    const seen_t *r2 = find(&f, 2), *r3 = find(&f, 3), *r1 = find(&f, 1);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    ck_assert_ptr_nonnull(r3);
    ck_assert_int_eq(r2->rc, GRIDEMS_ECANCELED);
    ck_assert_msg(strstr(r2->err, "replaced by job 3") != NULL, "%s", r2->err);
    ck_assert(r2->scenario_back);
    ck_assert(r2->solve_wall_ms == 0);
    ck_assert(r2->on_loop_thread);
    /* The canceled job is reported first: at once, not after job 1's long solve. */
    ck_assert_uint_eq(f.seen[0].job_id, 2);
    ck_assert_msg(r1->rc == 0, "%s", r1->err);
    ck_assert_msg(r3->rc == 0, "%s", r3->err);
    ck_assert(fabs(r3->objective - want) <= 1e-6 * fmax(1.0, fabs(want)));
    gridems_solver_stats_t st;
    gridems_solver_stats(f.solver, &st);
    ck_assert_uint_eq(st.submitted, 3);
    ck_assert_uint_eq(st.replaced, 1);
    ck_assert_uint_eq(st.solved, 2);
    fixture_close(&f);
}
END_TEST

START_TEST(invalid_scenario_returns_einval)
{
    fixture_t f;
    fixture_init(&f, NULL);
    gridems_scenario_t *sc = make_scenario(8, 1, 0.0);
    sc->batteries[0].charge_efficiency = 1.7;
    ck_assert_int_eq(gridems_solver_submit(f.solver, 9, sc, 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    ck_assert_int_eq(f.seen[0].rc, GRIDEMS_EINVAL);
    ck_assert_msg(strstr(f.seen[0].err, "batteries[0].charge_efficiency: must be in (0, 1]") !=
                      NULL,
                  "%s", f.seen[0].err);
    ck_assert(f.seen[0].scenario_back);
    /* The thread carries on with the next job. */
    ck_assert_int_eq(gridems_solver_submit(f.solver, 10, make_scenario(8, 1, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 2, 30000));
    ck_assert_int_eq(f.seen[1].rc, 0);
    gridems_solver_stats_t st;
    gridems_solver_stats(f.solver, &st);
    ck_assert_uint_eq(st.failed, 1);
    ck_assert_uint_eq(st.solved, 1);
    fixture_close(&f);
}
END_TEST

START_TEST(submit_errors_keep_ownership)
{
    fixture_t f;
    fixture_init(&f, NULL);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, NULL, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_solver_shutdown(f.solver, on_shutdown), 0);
    /* Refused after shutdown: the caller still owns the scenario. */
    gridems_scenario_t *sc = make_scenario(4, 0, 0.0);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 2, sc, 0), GRIDEMS_ESTATE);
    destroy_scenario(sc);
    ck_assert_int_eq(gridems_solver_set_options(f.solver, NULL), GRIDEMS_ESTATE);
    ck_assert_int_eq(gridems_solver_shutdown(f.solver, on_shutdown), GRIDEMS_ESTATE);
    ck_assert(wait_count(&f, &f.shutdown_done, 1, 30000));
    ck_assert_int_eq(f.n_seen, 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(f.shutdown_done, 1);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

START_TEST(time_limit_and_new_options)
{
    gridems_optimizer_opts_t opts = {.time_limit_ms = 1, .allow_warm = true};
    fixture_t f;
    fixture_init(&f, &opts);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(1000, 3, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 60000));
    ck_assert_msg(f.seen[0].rc == GRIDEMS_ETIMEDOUT, "rc %s: %s", gridems_err_name(f.seen[0].rc),
                  f.seen[0].err);
    /* Lift the limit: the next job is solved (by a new optimizer, cold). */
    opts.time_limit_ms = 0;
    ck_assert_int_eq(gridems_solver_set_options(f.solver, &opts), 0);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 2, make_scenario(96, 1, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 2, 30000));
    ck_assert_msg(f.seen[1].rc == 0, "%s", f.seen[1].err);
    ck_assert_int_eq(f.seen[1].start_kind, GRIDEMS_START_COLD);
    fixture_close(&f);
}
END_TEST

START_TEST(shutdown_with_job_in_flight)
{
    fixture_t f;
    fixture_init(&f, NULL);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(1000, 3, 0.0), 0), 0);
    ck_assert_msg(wait_solving(&f, 60000), "job 1 was not picked up");
    ck_assert_int_eq(gridems_solver_submit(f.solver, 2, make_scenario(96, 1, 0.0), 0), 0);
    /* Shut down while job 1 is being solved and job 2 waits. The loop is not blocked: shutdown
     * returns while job 1 is still being solved (a 1,000-step program), and both results arrive
     * before the shutdown callback. */
    ck_assert_int_eq(gridems_solver_shutdown(f.solver, on_shutdown), 0);
    ck_assert_int_eq(gridems_solver_solving(f.solver), 1);
    ck_assert_int_eq(f.shutdown_done, 0);
    ck_assert(wait_count(&f, &f.shutdown_done, 1, 60000));
    ck_assert_int_eq(f.results_at_shutdown, 2);
    ck_assert_int_eq(f.n_seen, 2);
    const seen_t *r1 = find(&f, 1), *r2 = find(&f, 2);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    ck_assert_msg(r1->rc == 0, "%s", r1->err);
    ck_assert_int_eq(r2->rc, GRIDEMS_ECANCELED);
    ck_assert_msg(strstr(r2->err, "shutting down") != NULL, "%s", r2->err);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(f.shutdown_done, 1);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

static void shutdown_from_callback(gridems_solver_t *s, gridems_solver_result_t *res,
                                   void *userdata)
{
    fixture_t *f = userdata;
    on_result(s, res, userdata);
    /* Keep the scenario (ownership is ours once taken) and stop the solver from here. */
    gridems_scenario_t *sc = res->scenario;
    res->scenario = NULL;
    destroy_scenario(sc);
    ck_assert_int_eq(gridems_solver_shutdown(s, on_shutdown), 0);
    gridems_scenario_t *late = make_scenario(4, 0, 0.0);
    ck_assert_int_eq(gridems_solver_submit(s, 99, late, 0), GRIDEMS_ESTATE);
    destroy_scenario(late);
    ck_assert_int_eq(f->n_seen, 1);
}

START_TEST(shutdown_inside_result_callback)
{
    fixture_t f;
    memset(&f, 0, sizeof f);
    ck_assert_int_eq(uv_loop_init(&f.loop), 0);
    f.loop_thread = uv_thread_self();
    ck_assert_int_eq(gridems_solver_create(&f.loop, NULL, shutdown_from_callback, &f, &f.solver),
                     0);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 1, make_scenario(8, 1, 0.0), 0), 0);
    ck_assert(wait_count(&f, &f.shutdown_done, 1, 30000));
    ck_assert_int_eq(f.n_seen, 1);
    ck_assert_int_eq(f.seen[0].rc, 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

START_TEST(idle_shutdown)
{
    fixture_t f;
    fixture_init(&f, NULL);
    fixture_close(&f);
    ck_assert_int_eq(f.n_seen, 0);
}
END_TEST

/* One job of make_scenario(96, 2, 0.0) whose step 0 begins at start_ms, solved by a new solver
 * keeping its basis in path; the solver is shut down (joined) before this returns, so whatever it
 * writes is written. */
static seen_t solve_keeping_basis(const char *path, int64_t start_ms)
{
    fixture_t f;
    fixture_init(&f, NULL);
    ck_assert_int_eq(gridems_solver_keep_basis(f.solver, path), 0);
    ck_assert_int_eq(gridems_solver_keep_basis(f.solver, path), GRIDEMS_ESTATE); /* once */
    gridems_scenario_t *sc = make_scenario(96, 2, 0.0);
    ck_assert_int_eq(gridems_solver_submit_near(f.solver, 1, sc, 0, NULL, start_ms), 0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    seen_t r = f.seen[0];
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    fixture_close(&f);
    return r;
}

START_TEST(basis_kept_across_solvers)
{
    /* A restart: the first solver writes its basis, the next one starts from it (the same
     * program one step later: carried over by the shift), to the direct solve's optimum; a file
     * that is not a basis is refused and that solve is cold. */
    char *dir = test_make_tmpdir("solver-basis");
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, GRIDEMS_BASIS_FILE);
    const int64_t t0 = 1683471600000; /* 2023-05-08T00:00+09:00 */
    seen_t first = solve_keeping_basis(path, t0);
    ck_assert_int_eq(first.start_kind, GRIDEMS_START_COLD);
    ck_assert(!first.basis_from_file);
    ck_assert_msg(access(path, R_OK) == 0, "no %s after a solve", path);

    gridems_scenario_t *same = make_scenario(96, 2, 0.0);
    double want = direct_objective(same);
    gridems_scenario_free(same);
    free(same);
    seen_t next = solve_keeping_basis(path, t0 + 15 * 60000);
    ck_assert(next.basis_from_file);
    ck_assert_int_eq(next.start_kind, GRIDEMS_START_SHIFTED);
    ck_assert_msg(fabs(next.objective - want) <= 1e-6 * fmax(1.0, fabs(want)), "%.12g vs %.12g",
                  next.objective, want);

    /* A good basis with something after the document is refused: every file read back from
     * state_dir obeys the one JSON policy (json_strict.h); cJSON alone would stop at the end of
     * the document and take it. */
    char *good = test_read_file(path, NULL);
    ck_assert_ptr_nonnull(good);
    size_t good_len = strlen(good);
    char *trailing = malloc(good_len + 3);
    ck_assert_ptr_nonnull(trailing);
    snprintf(trailing, good_len + 3, "%s x", good);
    ck_assert_int_eq(test_write_file(path, trailing), 0);
    free(trailing);
    free(good);
    seen_t after_trailing = solve_keeping_basis(path, t0 + 30 * 60000);
    ck_assert(!after_trailing.basis_from_file);
    ck_assert_int_eq(after_trailing.start_kind, GRIDEMS_START_COLD);

    ck_assert_int_eq(test_write_file(path, "{\"format\":\"something else\"}"), 0);
    seen_t refused = solve_keeping_basis(path, t0);
    ck_assert(!refused.basis_from_file);
    ck_assert_int_eq(refused.start_kind, GRIDEMS_START_COLD);
    /* ...and it was replaced by a good one. */
    char *text = test_read_file(path, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "\"format\":\"gridems-basis\"") != NULL, "%.80s", text);
    free(text);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

/* A look-ahead with a flat base load of kw and nothing else: its peak import is kw. */
static gridems_scenario_t *flat_lookahead(double kw)
{
    gridems_scenario_t *sc = make_scenario(96, 0, 0.0);
    for (int t = 0; t < sc->steps; t++) {
        sc->base_load_kw[t] = kw;
    }
    sc->demand_charge_per_kw = 100;
    return sc;
}

START_TEST(peak_lookahead_floors_the_plan)
{
    /* The look-ahead is solved on the thread first, and its peak becomes the floor under the
     * plan's peak: the plan's optimum is that of the same scenario with peak_so_far raised. */
    fixture_t f;
    fixture_init(&f, NULL);
    gridems_scenario_t *plan = make_scenario(96, 1, 0.0);
    plan->demand_charge_per_kw = 100;
    gridems_scenario_t *floored = make_scenario(96, 1, 0.0);
    floored->demand_charge_per_kw = 100;
    floored->peak_so_far_kw = 900;
    double want = direct_objective(floored);
    gridems_scenario_free(floored);
    free(floored);
    double unfloored = direct_objective(plan);
    ck_assert_int_eq(gridems_solver_submit_plan(f.solver, 1, plan, 0, NULL, 0, flat_lookahead(900)),
                     0);
    ck_assert(wait_count(&f, &f.n_seen, 1, 30000));
    const seen_t *r = &f.seen[0];
    ck_assert_msg(r->rc == 0, "%s", r->err);
    ck_assert(r->lookahead_done && r->lookahead_ok);
    ck_assert_msg(fabs(r->lookahead_peak_kw - 900) < 1e-6, "look-ahead peak %.9g",
                  r->lookahead_peak_kw);
    ck_assert_msg(fabs(r->objective - want) <= 1e-6 * fmax(1.0, fabs(want)),
                  "%.12g, floored %.12g, without the floor %.12g", r->objective, want, unfloored);
    ck_assert(fabs(want - unfloored) > 1.0); /* the floor changes the plan here */

    /* A job replaced while waiting hands its look-ahead on: it is solved once, by job 3 (or
     * by job 2 if the thread took it before job 3 came). */
    ck_assert_int_eq(gridems_solver_submit(f.solver, 10, make_scenario(1000, 3, 0.0), 0), 0);
    ck_assert_int_eq(gridems_solver_submit_plan(f.solver, 2, make_scenario(96, 1, 0.1), 0, NULL, 0,
                                                flat_lookahead(800)),
                     0);
    ck_assert_int_eq(gridems_solver_submit(f.solver, 3, make_scenario(96, 1, 0.2), 0), 0);
    ck_assert(wait_count(&f, &f.n_seen, 4, 60000));
    const seen_t *r2 = find(&f, 2), *r3 = find(&f, 3);
    ck_assert(r2 != NULL && r3 != NULL);
    ck_assert_int_eq(
        (r2->lookahead_done && r2->lookahead_ok) + (r3->lookahead_done && r3->lookahead_ok), 1);
    ck_assert(r2->rc == GRIDEMS_ECANCELED ? r3->lookahead_done : r2->lookahead_done);
    fixture_close(&f);
}
END_TEST

static Suite *solver_suite(void)
{
    Suite *s = suite_create("solver_thread");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_rejects_bad_arguments);
    tcase_add_test(tc, result_arrives_on_loop_thread);
    tcase_add_test(tc, optimizer_lives_across_jobs);
    tcase_add_test(tc, reference_reaches_the_optimizer);
    tcase_add_test(tc, newest_job_replaces_waiting_one);
    tcase_add_test(tc, invalid_scenario_returns_einval);
    tcase_add_test(tc, submit_errors_keep_ownership);
    tcase_add_test(tc, time_limit_and_new_options);
    tcase_add_test(tc, shutdown_with_job_in_flight);
    tcase_add_test(tc, shutdown_inside_result_callback);
    tcase_add_test(tc, idle_shutdown);
    tcase_add_test(tc, basis_kept_across_solvers);
    tcase_add_test(tc, peak_lookahead_floors_the_plan);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(solver_suite());
}
