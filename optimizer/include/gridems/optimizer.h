/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The scheduling optimizer: scenario in, schedule out, on GLPK (docs/optimizer.md).
 *
 * An optimizer object keeps its GLPK problem and basis between solves, so the rolling horizon
 * re-solves warm:
 *   - same structure (same T, step, batteries, loads with the same windows, same set of columns):
 *     prices, loads, limits, initial energy and penalties are updated in place and the previous
 *     optimal basis is the starting point;
 *   - a shifted horizon (the new scenario's `start` is k whole steps after the previous one): the
 *     problem is rebuilt and the previous basis is carried over by meaning (step t of the new
 *     problem takes the status of step t+k of the old one);
 *   - anything else: rebuilt and solved cold.
 * A warm start that GLPK cannot use (invalid or singular basis) falls back to a cold solve, and
 * so does one that runs past its iteration cap (half the iterations of the last cold solve, at
 * least 200): a
 * warm start that far from the new optimum costs more than starting again.
 *
 * Plan stability: an LP often has many optimal schedules (two identical batteries, flat price
 * segments), and which vertex the simplex lands on depends on where it started. Given a
 * reference (the previous plan, gridems_optimizer_hint_reference), the optimizer returns, among
 * the optimal schedules, one closest to it (least absolute difference of battery charge and
 * discharge and flexible power, step by step, matched by id and absolute time). The objective is
 * still optimal to 1e-9 relative.
 *
 * The library does no I/O and never aborts: GLPK's error hook is caught and reported as
 * GRIDEMS_ESOLVER, after which the object rebuilds from scratch on the next solve.
 *
 * Threads: an optimizer object and everything GLPK allocates for it belong to the thread that
 * created it (GLPK keeps a per-thread environment). Use one object per thread; do not share.
 */
#ifndef GRIDEMS_OPTIMIZER_H
#define GRIDEMS_OPTIMIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "gridems/scenario.h"

typedef struct gridems_optimizer_s gridems_optimizer_t;

typedef struct gridems_optimizer_opts_s {
    double time_limit_ms; /* per solve; <= 0 means none */
    bool verbose;         /* let GLPK print to stderr */
    bool allow_warm;      /* false: every solve is cold (benchmarks, tests) */
} gridems_optimizer_opts_t;

/* How a solve started, for logs and benchmarks. */
typedef enum {
    GRIDEMS_START_COLD = 0,     /* built from scratch, no basis */
    GRIDEMS_START_UPDATE = 1,   /* updated in place, previous basis */
    GRIDEMS_START_SHIFTED = 2,  /* rebuilt, previous basis carried over with a time offset */
    GRIDEMS_START_FALLBACK = 3, /* warm start refused by GLPK, solved cold */
    GRIDEMS_START_CAPPED = 4    /* warm start hit its iteration cap, solved cold from the crash */
} gridems_start_kind_t;

/* How the tie-break toward a reference went (gridems_optimizer_hint_reference). */
typedef enum {
    GRIDEMS_TIE_NONE = 0,    /* no reference given, or nothing in it matched */
    GRIDEMS_TIE_APPLIED = 1, /* the schedule is the optimal one closest to the reference */
    GRIDEMS_TIE_SKIPPED = 2  /* the second stage failed or hit its cap: first-stage schedule */
} gridems_tie_break_t;

/*
 * A reference plan: what the optimizer should stay close to among equal-cost optima. Step t of
 * the reference starts at start_ms + t * step_ms (ms since the epoch); each item is one battery
 * (charge_kw and discharge_kw, power_kw NULL) or one flexible load (power_kw, the others NULL),
 * each series of `steps` values. Made by gridems_reference_from_schedule (owned arrays, freed
 * with gridems_reference_free) or filled by the caller (then the caller owns what it points to).
 */
typedef struct gridems_reference_item_s {
    char *id;
    double *charge_kw;    /* [steps] or NULL */
    double *discharge_kw; /* [steps] or NULL */
    double *power_kw;     /* [steps] or NULL */
} gridems_reference_item_t;

typedef struct gridems_reference_s {
    int64_t start_ms;
    int64_t step_ms;
    int steps;
    gridems_reference_item_t *items; /* [n_items] */
    int n_items;
    /* Batteries (flexible loads) are matched in the scenario's first battery_match_steps
     * (flex_match_steps) steps only; 0: every step. Identical batteries, or jobs sharing a
     * compute cap, make a very large optimal face (who takes which share of a step), and
     * following the reference across all of it can cost many iterations; the first step is
     * what the devices are told, and each later step is matched when it becomes the first. */
    int battery_match_steps;
    int flex_match_steps;
} gridems_reference_t;

typedef struct gridems_battery_plan_s {
    double *charge_kw;    /* [T] */
    double *discharge_kw; /* [T] */
    double *soc_kwh;      /* [T+1]: initial, then end of each step */
} gridems_battery_plan_t;

typedef struct gridems_flex_plan_s {
    double *power_kw; /* [T] */
    double unmet_kwh;
} gridems_flex_plan_t;

typedef struct gridems_schedule_s {
    int steps;
    double objective;
    double cost_energy, cost_export, cost_degradation, cost_demand, cost_carbon, cost_penalty;
    double emissions_kg;
    double peak_import_kw;
    double *grid_import_kw;            /* [T] */
    double *grid_export_kw;            /* [T] */
    double *pv_curtailed_kw;           /* [T] */
    double *unserved_kw;               /* [T] */
    double *marginal_price_per_kwh;    /* [T] */
    gridems_battery_plan_t *batteries; /* [n_batteries], same order as the scenario */
    int n_batteries;
    gridems_flex_plan_t *flex_loads; /* [n_flex_loads], same order as the scenario */
    int n_flex_loads;
    /* Solver report. */
    int iterations;
    double solve_ms; /* wall time of the whole solve call, build included */
    gridems_start_kind_t start_kind;
    int iteration_cap; /* the warm start's cap (0: cold start, no cap) */
    int columns, rows; /* size of the program solved */
    gridems_tie_break_t tie_break;
    int tie_break_iterations;     /* simplex iterations of the second stage (in `iterations` too) */
    double tie_break_distance_kw; /* applied: sum of |schedule - reference| over the matches */
} gridems_schedule_t;

/*
 * gridems_optimizer_create: a new optimizer with the given options (copied; NULL = defaults:
 * no time limit, quiet, warm starts allowed).
 * Returns: 0 and *out (caller frees with gridems_optimizer_destroy), or GRIDEMS_ENOMEM.
 * Thread: the object belongs to the calling thread from now on.
 */
int gridems_optimizer_create(gridems_optimizer_t **out, const gridems_optimizer_opts_t *opts);

/* gridems_optimizer_destroy: free the object and its GLPK problem. NULL is fine. Same thread. */
void gridems_optimizer_destroy(gridems_optimizer_t *opt);

/*
 * gridems_optimizer_keep_memory: for a program that solves again and again (the service, a
 * backtest, a benchmark), keep the memory one solve frees for the next. GLPK allocates its
 * working arrays for every new program (a cold solve, a shift of the horizon) and frees them
 * after; glibc's default then gives the top of the heap back to the kernel, and the next solve
 * faults every page in again: 8 % of a cold solve of the canonical site (docs/optimizer.md,
 * "Memory kept between solves"). This sets glibc's trim threshold to 64 MiB and its mmap
 * threshold to 32 MiB (the most glibc takes), so up to 64 MiB of freed memory stays with the
 * process. The setting is the whole process's, so the library never makes it by itself: the
 * gridems binary calls this once at start.
 * Returns: true when the C library took the setting; false where it is not glibc's (nothing
 *   changed) or refused it.
 * Thread: call from main before other threads start.
 */
bool gridems_optimizer_keep_memory(void);

/*
 * gridems_optimizer_solve: solve the scenario to optimality.
 * Parameters: opt (borrowed), sc (borrowed; validated inside, never kept), out (borrowed; any
 *   previous content is freed first; on success it owns new arrays; on failure it is left freed),
 *   err/errlen: a one-line reason on failure (may be NULL).
 * Returns: 0 (out holds the optimal schedule), GRIDEMS_EINVAL (scenario breaks a rule),
 *   GRIDEMS_ETIMEDOUT (time limit hit), GRIDEMS_ESOLVER (GLPK failed or did not prove
 *   optimality), GRIDEMS_ENOMEM.
 * Thread: the thread that created opt.
 */
int gridems_optimizer_solve(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                            gridems_schedule_t *out, char *err, size_t errlen);

/*
 * gridems_optimizer_hint_shift: tell the optimizer that the next scenario's horizon starts `steps`
 * steps after the one last solved (a rolling horizon moving on), so the previous basis is carried
 * over with that offset. Without a hint the offset is 0. The hint applies to the next solve only.
 */
void gridems_optimizer_hint_shift(gridems_optimizer_t *opt, int steps);

/*
 * gridems_optimizer_hint_reference: make the next solve break ties toward ref: among the optimal
 * schedules it returns one that minimises the sum over every matched series and step of
 * |value - reference|, where battery b's charge and discharge and flexible load j's power at
 * step t are matched with the reference item of the same id at the same absolute time
 * (start_ms + t * step of the scenario; start_ms is when the next scenario's step 0 begins, ms
 * since the epoch). A reference with another step length, or nothing matching, is ignored.
 * The objective stays optimal to 1e-9 relative (a second stage restricted to the optimal face,
 * checked against the first stage's objective). ref is borrowed until that solve returns; NULL
 * clears the hint. The hint applies to the next solve only.
 */
void gridems_optimizer_hint_reference(gridems_optimizer_t *opt, const gridems_reference_t *ref,
                                      int64_t start_ms);

/*
 * gridems_reference_from_schedule: a reference made of a solved schedule: its batteries'
 * charge/discharge and its flexible loads' power, ids from sc (the scenario it solved), step 0
 * starting at start_ms.
 * Returns: 0 (ref owns copies; free with gridems_reference_free) or GRIDEMS_ENOMEM (ref left
 *   empty).
 */
int gridems_reference_from_schedule(gridems_reference_t *ref, const gridems_scenario_t *sc,
                                    const gridems_schedule_t *sched, int64_t start_ms);

/* gridems_reference_free: release what a reference made by _from_schedule owns, and zero it. */
void gridems_reference_free(gridems_reference_t *ref);

/* gridems_tie_break_name: "none", "applied" or "skipped". */
const char *gridems_tie_break_name(gridems_tie_break_t tb);

/*
 * gridems_optimizer_write_lp: write the program of the last successful build (the scenario last
 * passed to solve, or to gridems_optimizer_build) in CPLEX LP format, for `glpsol --lp`.
 * Returns: 0, GRIDEMS_ESTATE (nothing built), GRIDEMS_EIO.
 */
int gridems_optimizer_write_lp(gridems_optimizer_t *opt, const char *path);

/*
 * gridems_optimizer_build: build (or update) the program for sc without solving it.
 * Returns: 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM, GRIDEMS_ESOLVER.
 */
int gridems_optimizer_build(gridems_optimizer_t *opt, const gridems_scenario_t *sc, char *err,
                            size_t errlen);

/*
 * A basis kept across restarts (optimizer/src/basis_file.c). After a solve, the optimizer holds
 * the optimal basis of the program it solved; a service that keeps it in a file starts its
 * first solve after a restart from it, as after a shift of the rolling horizon, instead of cold.
 * The text is JSON: the scenario solved (so the program can be built again), when its step 0
 * began, the status of every row and column, and the size of the last cold solve (for the warm
 * start's cap). A basis that no longer fits costs speed, never correctness: the carry-over
 * repairs it, and a warm start GLPK refuses or that reaches its cap is solved cold.
 *
 * gridems_optimizer_basis_save: the basis of the last solve as text.
 * Parameters: opt (borrowed); sc: the scenario of the last successful solve (borrowed);
 *   start_ms: when its step 0 began (ms since the epoch); out: receives the text (malloc'd, the
 *   caller frees it); len: receives its length (may be NULL).
 * Returns: 0; GRIDEMS_ESTATE (no optimal basis held); GRIDEMS_EINVAL (sc has another size than
 *   the program held); GRIDEMS_ENOMEM.
 * Thread: the thread that created opt.
 */
int gridems_optimizer_basis_save(gridems_optimizer_t *opt, const gridems_scenario_t *sc,
                                 int64_t start_ms, char **out, size_t *len);

/*
 * gridems_optimizer_basis_restore: make a saved basis the starting point of the next solve,
 * carried over by meaning (batteries and flexible loads by id, steps by the shift hint: give
 * gridems_optimizer_hint_shift the number of whole steps between *start_ms and the next
 * scenario's step 0).
 * Parameters: opt (borrowed); text/len (borrowed); start_ms: receives the saved start;
 *   err/errlen: a one-line reason on failure (may be NULL).
 * Returns: 0; GRIDEMS_EPARSE (not JSON); GRIDEMS_EINVAL (not a basis of this format version, or
 *   its statuses do not fit its scenario; the field is named in err); GRIDEMS_ENOMEM;
 *   GRIDEMS_ESOLVER. On failure opt holds no basis: the next solve is cold.
 * Thread: the thread that created opt.
 */
int gridems_optimizer_basis_restore(gridems_optimizer_t *opt, const char *text, size_t len,
                                    int64_t *start_ms, char *err, size_t errlen);

/* gridems_schedule_free: release the arrays of a schedule and zero it. Safe on a zeroed one. */
void gridems_schedule_free(gridems_schedule_t *sched);

/*
 * gridems_schedule_to_json: the schedule JSON of the spec for scenario sc (ids, start and step
 * come from sc), numbers written to round-trip a double.
 * Returns: a NUL-terminated string the caller frees with free(), or NULL on ENOMEM.
 */
char *gridems_schedule_to_json(const gridems_scenario_t *sc, const gridems_schedule_t *sched);

/* gridems_start_kind_name: "cold", "update", "shifted", "fallback" or "capped". */
const char *gridems_start_kind_name(gridems_start_kind_t kind);

#endif
