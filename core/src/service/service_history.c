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
 * The history's state (the load forecast, the latest base load, the margin's errors) is private
 * to this file: struct service_history_s below; the others call the functions of
 * service_internal.h.
 * Thread: the loop thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "history_store.h"
#include "service_internal.h"
#include "state_dir.h"
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
        char file[96], kept[4400];
        gridems_history_forecast_file(name, file, sizeof file);
        gridems_state_dir_keep_refused(svc->cfg.state_dir, file, rc, kept, sizeof kept);
        gridems_log_warn("%s; ignored, waiting for new %s messages%s", err, name, kept);
    }
}

/* The history's state, private to this file: the others call the functions below. */
struct service_history_s {
    gridems_load_forecast_t load; /* learnt from a LOAD meter's readings */
    bool load_ready;
    bool has_latest_load; /* the latest base-load reading, for plans without a forecast */
    double latest_load_kw;
    gridems_peak_margin_t margin; /* the load forecast's measured error */
    bool margin_ready;
    int64_t saved_step_ms;    /* the step whose start last saved the load history */
    int64_t margin_step_ms;   /* the running step, and the import the plan in force */
    double margin_planned_kw; /* planned for it (NAN: none known) */
};

void gridems__service_history_start(gridems_service_t *svc)
{
    svc->history = calloc(1, sizeof *svc->history);
    if (svc->history == NULL) {
        gridems_log_err("history: out of memory; planning without the load forecast, the "
                        "restored forecasts and the peak margin's errors");
        return;
    }
    gridems_load_forecast_config_t lcfg;
    gridems_load_forecast_config_default(&lcfg, (int64_t)svc->cfg.planner.step_minutes * 60000);
    lcfg.offset_min = svc->cfg.site.utc_offset_min;
    int lrc = gridems_load_forecast_init(&svc->history->load, &lcfg);
    if (lrc != 0) {
        gridems_log_warn("load forecast unavailable (%s); using the latest reading",
                         gridems_strerror(lrc));
    }
    svc->history->load_ready = lrc == 0;
    int64_t now = gridems_clock_now_ms(&svc->clock);
    svc->history->margin_ready = gridems_peak_margin_init(&svc->history->margin) == 0;
    svc->history->saved_step_ms = INT64_MIN;
    svc->history->margin_step_ms = INT64_MIN;
    svc->history->margin_planned_kw = NAN;
    restore_forecast(svc, &svc->inputs.import_price, now);
    restore_forecast(svc, &svc->inputs.export_price, now);
    restore_forecast(svc, &svc->inputs.carbon, now);
    char err[512] = "";
    size_t n = 0;
    if (svc->history->margin_ready) {
        int mrc = gridems_history_restore_margin(svc->cfg.state_dir, &svc->history->margin, &n, err,
                                                 sizeof err);
        if (mrc == 0) {
            gridems_log_notice("peak margin errors restored: %zu steps", n);
        } else if (mrc != GRIDEMS_ENOENT) {
            char kept[4400];
            gridems_state_dir_keep_refused(svc->cfg.state_dir, GRIDEMS_HISTORY_MARGIN_FILE, mrc,
                                           kept, sizeof kept);
            gridems_log_warn("%s; ignored, the peak margin starts from its floor%s", err, kept);
        }
    }
    if (!svc->history->load_ready) {
        return;
    }
    int rc =
        gridems_history_restore_load(svc->cfg.state_dir, &svc->history->load, &n, err, sizeof err);
    if (rc == 0) {
        gridems_log_notice("load history restored: %zu steps", n);
    } else if (rc != GRIDEMS_ENOENT) {
        char kept[4400];
        gridems_state_dir_keep_refused(svc->cfg.state_dir, GRIDEMS_HISTORY_LOAD_FILE, rc, kept,
                                       sizeof kept);
        gridems_log_warn("%s; ignored, the load forecast starts without history%s", err, kept);
    }
}

void gridems__service_history_load_reading(gridems_service_t *svc, int64_t t, double kw)
{
    if (svc->history == NULL) {
        return;
    }
    svc->history->has_latest_load = true;
    svc->history->latest_load_kw = kw;
    if (svc->history->load_ready) {
        gridems_load_forecast_add(&svc->history->load, t, kw);
    }
}

const gridems_load_forecast_t *gridems__service_history_load(const gridems_service_t *svc)
{
    return svc->history != NULL && svc->history->load_ready ? &svc->history->load : NULL;
}

bool gridems__service_history_latest_load(const gridems_service_t *svc, double *kw)
{
    if (svc->history == NULL || !svc->history->has_latest_load) {
        return false;
    }
    *kw = svc->history->latest_load_kw;
    return true;
}

const gridems_peak_margin_t *gridems__service_history_margin(const gridems_service_t *svc)
{
    return svc->history != NULL && svc->history->margin_ready ? &svc->history->margin : NULL;
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
    if (svc->history->margin_ready) {
        rc =
            gridems_history_save_margin(svc->cfg.state_dir, &svc->history->margin, err, sizeof err);
    }
    if (rc == 0 && svc->history->load_ready && svc->history->load.newest_slot != INT64_MIN) {
        rc = gridems_history_save_load(svc->cfg.state_dir, &svc->history->load, err, sizeof err);
    }
    /* At shutdown the status is no longer published; the log still says it. */
    if (svc->lifecycle.shutting_down && rc != 0) {
        gridems_log_err("history: %s", err);
    } else if (svc->history->margin_ready || svc->history->load_ready) {
        gridems__service_persist_result(svc, GRIDEMS__PERSIST_HISTORY, rc, rc != 0 ? errno : 0,
                                        err);
    }
}

/* The plan in force forecast each of its steps' base load; the meter has since told what it
 * was. Scored once per step, for the steps complete by now. */
static void score_plan(gridems_service_t *svc, int64_t step_start)
{
    const service_plan_t *p = &svc->plan;
    if (!svc->history->margin_ready || !svc->history->load_ready || !p->valid || p->step_ms <= 0 ||
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
        if (a > svc->history->margin.last_step_ms &&
            gridems_load_forecast_step_mean(&svc->history->load, a, &realised) == 0) {
            gridems_peak_margin_add(&svc->history->margin, a,
                                    realised - p->scenario.base_load_kw[t]);
        }
    }
}

/* The plans are replaced while a step runs (and often right at its start, before its mean is
 * noted), so the import planned for the running step is remembered from the plan in force at
 * each sample: the last plan that covered the step is the one its error is charged to. */
void gridems__service_history_step_planned(gridems_service_t *svc, int64_t step_start_ms)
{
    if (svc->history == NULL) {
        return;
    }
    const service_plan_t *p = &svc->plan;
    if (step_start_ms != svc->history->margin_step_ms) {
        svc->history->margin_step_ms = step_start_ms;
        svc->history->margin_planned_kw = NAN;
    }
    if (!p->valid || p->step_ms <= 0 || step_start_ms < p->grid_start_ms ||
        p->schedule.grid_import_kw == NULL) {
        return;
    }
    int64_t t = (step_start_ms - p->grid_start_ms) / p->step_ms;
    if (t < p->schedule.steps && p->grid_start_ms + t * p->step_ms == step_start_ms) {
        svc->history->margin_planned_kw = p->schedule.grid_import_kw[t];
    }
}

void gridems__service_history_step_import(gridems_service_t *svc, int64_t step_start_ms,
                                          double mean_kw)
{
    if (svc->history == NULL) {
        return;
    }
    if (svc->history->margin_ready && step_start_ms == svc->history->margin_step_ms &&
        svc->cfg.planner.peak_margin_error == GRIDEMS_MARGIN_ERROR_IMPORT &&
        isfinite(svc->history->margin_planned_kw)) {
        gridems_peak_margin_add(&svc->history->margin, step_start_ms,
                                mean_kw - svc->history->margin_planned_kw);
    }
}

void gridems__service_history_tick(gridems_service_t *svc, int64_t now_ms)
{
    if (svc->history == NULL) {
        return;
    }
    int64_t step_ms = (int64_t)svc->cfg.planner.step_minutes * 60000;
    int64_t step_start;
    if (gridems_time_align_down(now_ms, step_ms, svc->cfg.site.utc_offset_min, &step_start) != 0) {
        return;
    }
    score_plan(svc, step_start);
    if (step_start != svc->history->saved_step_ms) {
        if (svc->history->saved_step_ms != INT64_MIN) {
            save_load(svc); /* a step completed since the last save */
        }
        svc->history->saved_step_ms = step_start;
    }
}

void gridems__service_history_stop(gridems_service_t *svc)
{
    if (svc->history == NULL) {
        return;
    }
    save_load(svc);
    if (svc->history->margin_ready) {
        gridems_peak_margin_close(&svc->history->margin);
    }
    if (svc->history->load_ready) {
        gridems_load_forecast_close(&svc->history->load);
    }
    free(svc->history);
    svc->history = NULL;
}
