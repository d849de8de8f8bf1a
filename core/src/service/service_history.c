/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the service learns from the past and keeps across restarts (history_store.h,
 * peak_margin.h):
 *   - at start-up, the load history and the three forecast stores are restored from state_dir,
 *     so the first plan after a restart has the known prices and a non-flat load forecast;
 *   - an accepted forecast message saves its store;
 *   - for the automatic peak margin, each completed step is scored against the plan in force:
 *     by default (planner.peak_margin_error "import") when the step's mean import is noted, as
 *     that mean minus the import the plan planned for the step; with "base_load", at each
 *     re-plan, as the step's mean base load minus the plan's forecast of it;
 *   - the load history and the margin's errors are saved once per completed step (at the first
 *     re-plan after it) and at shutdown.
 * A file that cannot be read or written is logged and planning goes on without it.
 * Thread: the loop thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"
#include "history_store.h"
#include "service_internal.h"
#include "timeutil.h"

static const char *store_name(const gridems_service_t *svc, const gridems_forecast_t *store)
{
    if (store == &svc->inputs.import_price) {
        return "import_price";
    }
    return store == &svc->inputs.export_price ? "export_price" : "carbon";
}

static void restore_forecast(gridems_service_t *svc, gridems_forecast_t *store, int64_t now)
{
    char err[512] = "";
    size_t n = 0;
    const char *name = store_name(svc, store);
    int rc = gridems_history_restore_forecast(svc->cfg.state_dir, name, store, &n, err, sizeof err);
    if (rc == 0) {
        gridems_forecast_prune(store, now);
        gridems_log_notice("%s forecast restored: %zu intervals held", name, store->n);
    } else if (rc != GRIDEMS_ENOENT) {
        gridems_log_warn("%s; ignored, waiting for new %s messages", err, name);
    }
}

void gridems__service_history_start(gridems_service_t *svc)
{
    int64_t now = gridems_clock_now_ms(&svc->clock);
    svc->margin_ready = gridems_peak_margin_init(&svc->margin) == 0;
    svc->history_saved_step_ms = INT64_MIN;
    svc->margin_step_ms = INT64_MIN;
    svc->margin_planned_kw = NAN;
    restore_forecast(svc, &svc->inputs.import_price, now);
    restore_forecast(svc, &svc->inputs.export_price, now);
    restore_forecast(svc, &svc->inputs.carbon, now);
    char err[512] = "";
    size_t n = 0;
    if (svc->margin_ready) {
        int mrc =
            gridems_history_restore_margin(svc->cfg.state_dir, &svc->margin, &n, err, sizeof err);
        if (mrc == 0) {
            gridems_log_notice("peak margin errors restored: %zu steps", n);
        } else if (mrc != GRIDEMS_ENOENT) {
            gridems_log_warn("%s; ignored, the peak margin starts from its floor", err);
        }
    }
    if (!svc->load_ready) {
        return;
    }
    int rc = gridems_history_restore_load(svc->cfg.state_dir, &svc->load, &n, err, sizeof err);
    if (rc == 0) {
        gridems_log_notice("load history restored: %zu steps", n);
    } else if (rc != GRIDEMS_ENOENT) {
        gridems_log_warn("%s; ignored, the load forecast starts without history", err);
    }
}

void gridems__service_history_forecast_changed(gridems_service_t *svc,
                                               const gridems_forecast_t *store)
{
    char err[512] = "";
    int rc = gridems_history_save_forecast(svc->cfg.state_dir, store_name(svc, store), store, err,
                                           sizeof err);
    gridems__service_persist_result(svc, GRIDEMS__PERSIST_HISTORY, rc, rc != 0 ? errno : 0, err);
}

static void save_load(gridems_service_t *svc)
{
    char err[512] = "";
    int rc = 0;
    if (svc->margin_ready) {
        rc = gridems_history_save_margin(svc->cfg.state_dir, &svc->margin, err, sizeof err);
    }
    if (rc == 0 && svc->load_ready && svc->load.newest_slot != INT64_MIN) {
        rc = gridems_history_save_load(svc->cfg.state_dir, &svc->load, err, sizeof err);
    }
    /* At shutdown the status is no longer published; the log still says it. */
    if (svc->lifecycle.shutting_down && rc != 0) {
        gridems_log_err("history: %s", err);
    } else if (svc->margin_ready || svc->load_ready) {
        gridems__service_persist_result(svc, GRIDEMS__PERSIST_HISTORY, rc, rc != 0 ? errno : 0,
                                        err);
    }
}

/* The plan in force forecast each of its steps' base load; the meter has since told what it
 * was. Scored once per step, for the steps complete by now. */
static void score_plan(gridems_service_t *svc, int64_t step_start)
{
    const service_plan_t *p = &svc->plan;
    if (!svc->margin_ready || !svc->load_ready || !p->valid || p->step_ms <= 0 ||
        svc->cfg.planner.peak_margin_error != GRIDEMS_MARGIN_ERROR_BASE_LOAD) {
        return;
    }
    for (int t = 0; t < p->scenario.steps; t++) {
        int64_t a = p->grid_start_ms + (int64_t)t * p->step_ms;
        double realised = 0.0;
        if (a + p->step_ms > step_start) {
            break;
        }
        /* Steps already scored are skipped by the tracker itself. */
        if (a > svc->margin.last_step_ms &&
            gridems_load_forecast_step_mean(&svc->load, a, &realised) == 0) {
            gridems_peak_margin_add(&svc->margin, a, realised - p->scenario.base_load_kw[t]);
        }
    }
}

/* The plans are replaced while a step runs (and often right at its start, before its mean is
 * noted), so the import planned for the running step is remembered from the plan in force at
 * each sample: the last plan that covered the step is the one its error is charged to. */
void gridems__service_history_step_planned(gridems_service_t *svc, int64_t step_start_ms)
{
    const service_plan_t *p = &svc->plan;
    if (step_start_ms != svc->margin_step_ms) {
        svc->margin_step_ms = step_start_ms;
        svc->margin_planned_kw = NAN;
    }
    if (!p->valid || p->step_ms <= 0 || step_start_ms < p->grid_start_ms ||
        p->schedule.grid_import_kw == NULL) {
        return;
    }
    int64_t t = (step_start_ms - p->grid_start_ms) / p->step_ms;
    if (t < p->schedule.steps && p->grid_start_ms + t * p->step_ms == step_start_ms) {
        svc->margin_planned_kw = p->schedule.grid_import_kw[t];
    }
}

void gridems__service_history_step_import(gridems_service_t *svc, int64_t step_start_ms,
                                          double mean_kw)
{
    if (svc->margin_ready && step_start_ms == svc->margin_step_ms &&
        svc->cfg.planner.peak_margin_error == GRIDEMS_MARGIN_ERROR_IMPORT &&
        isfinite(svc->margin_planned_kw)) {
        gridems_peak_margin_add(&svc->margin, step_start_ms, mean_kw - svc->margin_planned_kw);
    }
}

void gridems__service_history_tick(gridems_service_t *svc, int64_t now_ms)
{
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    if (gridems_time_align_down(now_ms, step_ms, svc->cfg.site.utc_offset_min, &step_start) != 0) {
        return;
    }
    score_plan(svc, step_start);
    if (step_start != svc->history_saved_step_ms) {
        if (svc->history_saved_step_ms != INT64_MIN) {
            save_load(svc); /* a step completed since the last save */
        }
        svc->history_saved_step_ms = step_start;
    }
}

void gridems__service_history_stop(gridems_service_t *svc)
{
    save_load(svc);
    if (svc->margin_ready) {
        gridems_peak_margin_close(&svc->margin);
        svc->margin_ready = false;
    }
}
