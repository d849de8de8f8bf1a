/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the service must remember across a restart, even after a crash (spec "Planning"): the
 * billing-period peak, each flexible job's delivered energy, the last plan, and the next plan id.
 *
 * It lives in <state_dir>/state.json, always replaced whole and atomically
 * (gridems_write_file_atomic: temporary file, fsync, rename, fsync of the directory), so a reader
 * sees either the previous state or the new one. The format:
 *
 *   { "version": 1,
 *     "next_plan_id": 42,
 *     "peak": { "kw": 812.5, "period": "month:2026-05" },          optional
 *     "jobs": [ { "id": "train-17", "delivered_kwh": 120.5,
 *                 "deadline": "2026-05-11T18:00:00Z" } ],
 *     "last_plan": { "id": 41, "created": "2026-05-11T09:15:00Z",  optional
 *                    "schedule": "<the schedule JSON text exactly as published>" } }
 *
 * The last plan is kept as a string, not as a JSON object, so that the text republished after a
 * restart is byte for byte what was published before it.
 *
 * Reading is strict: a file that is not JSON under the one policy of every input (state_reader.h),
 * has an unknown key, a wrong type or a value out of range is refused with a message naming the
 * file and the field
 * ("/var/lib/gridems/state.json: jobs[3].delivered_kwh: must be a number >= 0, got string"), and a
 * version other than GRIDEMS_STATE_VERSION is refused (a newer program wrote it; guessing could
 * double-count energy). The caller logs the message, keeps the file aside as state.json.rejected
 * (state_dir.h) and starts from an empty state: state is an optimisation of what the service
 * knows, never a reason not to run.
 *
 * The billing period is identified by a key string (gridems_billing_period(), billing_period.h): a
 * peak recorded under "month:2026-04" does not count in May, so a restart in a new period resets
 * it.
 *
 * Sizes are bounded: at most GRIDEMS_STATE_MAX_JOBS jobs (jobs past their deadline are pruned;
 * when still full, the job with the earliest deadline is evicted), job ids up to
 * GRIDEMS_STATE_MAX_ID_BYTES, and the last plan up to GRIDEMS_STATE_MAX_PLAN_BYTES.
 *
 * Threads: a gridems_state_t belongs to one thread (the loop thread); nothing here is shared.
 */
#ifndef GRIDEMS_STATE_STORE_H
#define GRIDEMS_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing_period.h"
#include "service_config.h"

#define GRIDEMS_STATE_VERSION 1
#define GRIDEMS_STATE_FILE "state.json"
#define GRIDEMS_STATE_MAX_JOBS 10000
#define GRIDEMS_STATE_MAX_ID_BYTES 256
#define GRIDEMS_STATE_MAX_PLAN_BYTES ((size_t)64 * 1024 * 1024)
/* Plan ids are stored as JSON numbers, exact up to 2^53 - 1. */
#define GRIDEMS_STATE_MAX_PLAN_ID ((uint64_t)9007199254740991ULL)

typedef struct gridems_state_job_s {
    char *id;             /* owned; 1..GRIDEMS_STATE_MAX_ID_BYTES bytes */
    double delivered_kwh; /* >= 0 */
    int64_t deadline_ms;  /* ms since the epoch; pruned once past */
} gridems_state_job_t;

/* Initialise with gridems_state_init(); read the fields directly, change them through the
 * setters below (they keep the bounds and the invariants). */
typedef struct gridems_state_s {
    bool loaded; /* set by gridems_state_load(): true when state.json existed and was read */

    bool has_peak;
    double peak_kw;                            /* >= 0 */
    char peak_period[GRIDEMS_BILLING_KEY_MAX]; /* the period key the peak belongs to */

    gridems_state_job_t *jobs; /* [n_jobs], owned, in no particular order */
    int n_jobs;
    int cap_jobs;

    bool has_plan;
    char *plan_json; /* owned, NUL-terminated, plan_len bytes */
    size_t plan_len;
    uint64_t plan_id;
    int64_t plan_created_ms;

    uint64_t next_plan_id; /* >= 1, and > plan_id when has_plan */
    /* Written as next_plan_id + plan_id_reserve (not saturating past the maximum), so the file
     * already covers that many plans published before their own save (the service publishes
     * a plan first and saves it right after; a crash in between must not reuse its id).
     * Not read back: a loaded state has 0. */
    int plan_id_reserve;
} gridems_state_t;

/* ---- ## Life cycle and persistence ---- */

/* gridems_state_init: an empty state (no peak, no jobs, no plan, next plan id 1).
 * st: borrowed, overwritten. Thread: any. */
void gridems_state_init(gridems_state_t *st);

/* gridems_state_free: release what st owns and leave it empty (as init). NULL is fine. */
void gridems_state_free(gridems_state_t *st);

/*
 * gridems_state_load: read <dir>/state.json into st.
 * Parameters: dir (borrowed); st (borrowed, overwritten: need not be initialised, but must not
 *   hold anything that needs freeing); err/errlen (borrowed buffer, may be NULL): on failure one
 *   line naming the file and the field.
 * Returns: 0 (st->loaded tells whether the file existed: a missing file, or a missing directory,
 *   gives an empty state and 0); GRIDEMS_EPARSE (not JSON); GRIDEMS_EINVAL (a field breaks a
 *   rule, or an unsupported version); GRIDEMS_EIO or GRIDEMS_ETOOBIG (reading); GRIDEMS_ENOMEM.
 *   On every error st is left empty and initialised, ready to use.
 * Thread: the state's owner.
 */
int gridems_state_load(const char *dir, gridems_state_t *st, char *err, size_t errlen);

/*
 * gridems_state_save: write st to <dir>/state.json atomically, creating dir (one level, mode 0700)
 * if it does not exist. Never leaves a temporary file behind.
 * Parameters: dir (borrowed); st (borrowed); err/errlen as for load.
 * Returns: 0, GRIDEMS_EIO (the old file, if any, is intact; errno says why), GRIDEMS_ENOMEM.
 * Thread: the state's owner. It blocks for an fsync: call it after a change, not per tick.
 */
int gridems_state_save(const char *dir, const gridems_state_t *st, char *err, size_t errlen);

/*
 * gridems_state_parse: parse state JSON text (what load reads) into st.
 * Parameters: text (borrowed, len bytes, need not be NUL-terminated); name (borrowed: the file
 *   name used to prefix errors, e.g. the path); st (as for load); err/errlen.
 * Returns: 0, GRIDEMS_EPARSE, GRIDEMS_EINVAL, GRIDEMS_ENOMEM; on error st is left empty.
 */
int gridems_state_parse(const char *text, size_t len, const char *name, gridems_state_t *st,
                        char *err, size_t errlen);

/*
 * gridems_state_to_json: the JSON text save writes.
 * Returns: a NUL-terminated string the caller frees with free(), or NULL on ENOMEM.
 */
char *gridems_state_to_json(const gridems_state_t *st);

/* ---- ## Billing-period peak ---- */

/*
 * gridems_state_peak_kw: the peak recorded for `period`, or 0 when none is recorded or the
 * recorded one belongs to another period (a new period starts from zero).
 * Parameters: st (borrowed); period (borrowed key). Thread: the owner.
 */
double gridems_state_peak_kw(const gridems_state_t *st, const char *period);

/*
 * gridems_state_note_import: record an observed import of kw in `period`: the peak becomes
 * max(peak of that period, kw); a different recorded period is replaced.
 * Parameters: st (borrowed); period (copied; 1..GRIDEMS_BILLING_KEY_MAX-1 bytes); kw (finite).
 * Returns: 1 when the stored state changed (worth saving), 0 when not, GRIDEMS_EINVAL for a bad
 *   period or kw (negative kw is clamped to 0: export is not a peak). Thread: the owner.
 */
int gridems_state_note_import(gridems_state_t *st, const char *period, double kw);

/* ---- ## Flexible jobs ---- */

/*
 * gridems_state_set_job: record that job `id` has delivered delivered_kwh so far (replacing the
 * previous value) and has the given deadline. When the table is full and id is new, the job with
 * the earliest deadline is evicted to make room (prune first to avoid that).
 * Parameters: st (borrowed); id (copied; 1..GRIDEMS_STATE_MAX_ID_BYTES bytes); delivered_kwh
 *   (finite, >= 0); deadline_ms (within the ISO range of timeutil.h).
 * Returns: 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM (st unchanged). Thread: the owner.
 */
int gridems_state_set_job(gridems_state_t *st, const char *id, double delivered_kwh,
                          int64_t deadline_ms);

/*
 * gridems_state_find_job: the recorded job with this id.
 * Returns: a pointer into st (borrowed: valid until the next change to the jobs), or NULL.
 */
const gridems_state_job_t *gridems_state_find_job(const gridems_state_t *st, const char *id);

/* gridems_state_remove_job: forget a job. Returns 1 when it was there, 0 when not. */
int gridems_state_remove_job(gridems_state_t *st, const char *id);

/* gridems_state_prune_jobs: forget every job whose deadline is at or before now_ms (it can no
 * longer run, so its delivered energy no longer matters). Returns how many were removed. */
int gridems_state_prune_jobs(gridems_state_t *st, int64_t now_ms);

/* ---- ## Plans ---- */

/*
 * gridems_state_set_plan: remember the last published plan.
 * Parameters: st (borrowed); plan_id (1..GRIDEMS_STATE_MAX_PLAN_ID); created_ms (within the ISO
 *   range); json (copied; len bytes, 1..GRIDEMS_STATE_MAX_PLAN_BYTES, no NUL byte).
 *   next_plan_id is raised to plan_id + 1 if it was not already above.
 * Returns: 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM (st unchanged). Thread: the owner.
 */
int gridems_state_set_plan(gridems_state_t *st, uint64_t plan_id, int64_t created_ms,
                           const char *json, size_t len);

/*
 * gridems_state_take_plan_id: the id for a new plan: returns next_plan_id and increments it.
 * Ids never wrap: at GRIDEMS_STATE_MAX_PLAN_ID (2^53 - 1, which no service lives to see at one
 * plan a second) the id stays there. Thread: the owner.
 */
uint64_t gridems_state_take_plan_id(gridems_state_t *st);

#endif
