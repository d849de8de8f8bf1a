/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the service knows of the past and of the announced future, kept across restarts beside
 * state.json: the base-load history (the load forecast's step buckets) and the three forecast
 * stores (import price, export price, carbon intensity). Without them a restart plans with a
 * flat load forecast and waits for the utility to publish prices again.
 *
 * Files, in <state_dir>, each replaced whole and atomically (gridems_write_file_atomic):
 *   load_history.json
 *     { "version": 1, "kind": "load_history", "step_minutes": 30,
 *       "steps": [ ["2026-05-11T00:00:00+09:00", 812.5, 30], ... ] }
 *     one entry per step held: its start, the mean of its readings (kW) and how many there were;
 *     at most one ring's worth (days x steps per day, load_forecast.h).
 *   forecast_import_price.json, forecast_export_price.json, forecast_carbon.json
 *     { "version": 1, "kind": "forecast", "store": "import_price", "currency": "JPY",
 *       "intervals": [ {"start": ISO, "end": ISO, "value": N}, ... ] }
 *     the store's intervals as a rate array (service.md's first forecast form), values in the
 *     store's units (per kWh; kg/kWh); "currency" only when the store has one. At most
 *     GRIDEMS_FORECAST_MAX_STORED intervals, as the store itself.

 *   peak_margin.json
 *     { "version": 1, "kind": "peak_margin", "last_step": ISO, "errors": [12.5, -3, ...] }
 *     the automatic peak margin's measured errors (peak_margin.h), oldest first, the last one
 *     for the step starting at last_step; at most GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW.
 *
 * Reading is strict and all or nothing: a file that is not JSON under the one policy of every
 * input (state_reader.h), has an unknown key, a wrong type, a value out of range, another
 * version, another kind or store (a foreign file), a step other than the service's, a step off
 * the grid, or a currency other than the site's is refused with one line naming the file and
 * the field and the rule
 * ("/var/lib/gridems/load_history.json: steps[12][2]: must be an integer in 1..4294967295"),
 * and the target is left empty. The caller logs it, keeps the file aside as <file>.rejected
 * (state_dir.h) and starts without that history: history is an optimisation, never a reason not
 * to run. Forecast intervals are validated by the forecast parser itself (forecast.h), so a
 * restored store obeys every rule a received message does.
 *
 * A backtest driver can warm the load forecast up either by writing load_history.json into the
 * state_dir before start-up (this format), or in-process with gridems_load_forecast_add_step().
 *
 * Threads: no globals; the targets belong to the caller's thread.
 */
#ifndef GRIDEMS_HISTORY_STORE_H
#define GRIDEMS_HISTORY_STORE_H

#include <stddef.h>

#include "forecast.h"
#include "load_forecast.h"
#include "peak_margin.h"

#define GRIDEMS_HISTORY_VERSION 1
#define GRIDEMS_HISTORY_LOAD_FILE "load_history.json"
#define GRIDEMS_HISTORY_MARGIN_FILE "peak_margin.json"

/* The file name of the forecast store `store` ("forecast_<store>.json") into name[len]. */
void gridems_history_forecast_file(const char *store, char *name, size_t len);

/*
 * gridems_history_save_load / gridems_history_save_forecast: write lf's buckets, or store f under
 * `store` ("import_price", "export_price" or "carbon"), to their file in dir, atomically.
 * Parameters: dir (borrowed, must exist); lf or f (borrowed); store (borrowed); err/errlen
 *   (borrowed buffer, may be NULL): on failure one line naming the file.
 * Returns: 0, GRIDEMS_EIO (the old file, if any, is intact), GRIDEMS_ENOMEM, GRIDEMS_EINVAL.
 * Thread: the owner of lf or f. Blocks for an fsync.
 */
int gridems_history_save_load(const char *dir, const gridems_load_forecast_t *lf, char *err,
                              size_t errlen);
int gridems_history_save_forecast(const char *dir, const char *store, const gridems_forecast_t *f,
                                  char *err, size_t errlen);

/*
 * gridems_history_restore_load / gridems_history_restore_forecast: read the file into lf (just
 * initialised, empty) or f (empty; its kind and currency, if pinned, are what the file must
 * match).
 * Parameters: dir, store (borrowed); lf or f (borrowed); n_restored (borrowed, may be NULL):
 *   the steps or intervals restored; err/errlen as above.
 * Returns: 0; GRIDEMS_ENOENT (no file: nothing to restore, not worth a warning);
 *   GRIDEMS_EPARSE, GRIDEMS_EINVAL (refused, err says why), GRIDEMS_EIO, GRIDEMS_ETOOBIG,
 *   GRIDEMS_ENOMEM. On every error the target holds nothing from the file.
 */
int gridems_history_restore_load(const char *dir, gridems_load_forecast_t *lf, size_t *n_restored,
                                 char *err, size_t errlen);
int gridems_history_restore_forecast(const char *dir, const char *store, gridems_forecast_t *f,
                                     size_t *n_restored, char *err, size_t errlen);

/*
 * gridems_history_save_margin / gridems_history_restore_margin / gridems_history_parse_margin:
 * the same for the peak margin's errors (pm initialised; restored whole or not at all).
 */
int gridems_history_save_margin(const char *dir, const gridems_peak_margin_t *pm, char *err,
                                size_t errlen);
int gridems_history_restore_margin(const char *dir, gridems_peak_margin_t *pm, size_t *n_restored,
                                   char *err, size_t errlen);
int gridems_history_parse_margin(const char *text, size_t len, const char *name,
                                 gridems_peak_margin_t *pm, size_t *n_restored, char *err,
                                 size_t errlen);
char *gridems_history_margin_to_json(const gridems_peak_margin_t *pm);

/* gridems_history_load_to_json / gridems_history_forecast_to_json: the text the save functions
 * write; the caller frees it with free(). NULL on ENOMEM. */
char *gridems_history_load_to_json(const gridems_load_forecast_t *lf);
char *gridems_history_forecast_to_json(const char *store, const gridems_forecast_t *f);

/* gridems_history_parse_load / gridems_history_parse_forecast: what restore does after reading
 * the file: text (len bytes) validated and applied to lf or f; name prefixes the errors. */
int gridems_history_parse_load(const char *text, size_t len, const char *name,
                               gridems_load_forecast_t *lf, size_t *n_restored, char *err,
                               size_t errlen);
int gridems_history_parse_forecast(const char *text, size_t len, const char *name,
                                   const char *store, gridems_forecast_t *f, size_t *n_restored,
                                   char *err, size_t errlen);

#endif
