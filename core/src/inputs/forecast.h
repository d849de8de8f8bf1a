/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Forecast store: one time series of import prices, export prices or carbon intensity, as the
 * utility publishes it (service.md, "Forecast forms"), and its resampling onto the planning grid.
 *
 * The store holds sorted, non-overlapping intervals [start, end) with one value each, in the
 * service's internal units: prices per kWh, carbon intensity in kg/kWh. Gaps are allowed and mean
 * "not known".
 *
 * Messages. Either form of the spec is accepted:
 *   1. rate array  [{"start":ISO,"end":ISO,"value":N}, ...]  (values per kWh; elements may come in
 *      any order but must not overlap each other);
 *   2. series      {"start":ISO,"step_minutes":N,"values":[...],"unit":"kWh"|"MWh",
 *                   "currency":"..."}  ("unit" defaults to kWh and is matched without regard to
 *      case; MWh values are divided by 1000; "currency" is optional).
 * Unknown keys are ignored. A message is validated whole before anything changes: a rejected
 * message leaves the store exactly as it was, and the reason is one line naming the field, e.g.
 * "[3].end: must be after start", "values[7]: must be a finite number",
 * "step_minutes: must be in (0, 1440]".
 *
 * Sanity bounds (after unit conversion): a price must lie within +-GRIDEMS_FORECAST_MAX_PRICE per
 * kWh (no tariff comes near it; anything beyond is a unit or encoding error), a carbon intensity in
 * [0, GRIDEMS_FORECAST_MAX_CARBON] kg/kWh (pure lignite is about 1.2).
 *
 * Currency (price stores only; carbon stores ignore the key). The store's currency is pinned by
 * gridems_forecast_set_currency() (the service passes the site's currency from its config) or else
 * learnt from the first accepted message that names one; from then on a message naming another
 * currency is rejected ("currency: ..."), because mixing currencies in one series would silently
 * corrupt every cost the planner computes. Codes are compared without regard to case. A message
 * that names no currency is taken to be in the store's. The currency survives pruning, so a store
 * that briefly runs empty does not forget it.
 *
 * Merging. The time span covered by a new message (the union of its intervals, so a gap between
 * two of its intervals is not part of it) replaces that span in the store: stored intervals that
 * overlap it partly are trimmed to the part outside it, not dropped. Adjacent intervals with equal
 * values are joined, and the store never holds more than GRIDEMS_FORECAST_MAX_STORED intervals
 * (a message that would exceed it is rejected). gridems_forecast_prune() drops what has ended.
 *
 * Resampling rule. A grid step [a, a + step) takes the time-weighted mean of the values of the
 * intervals that overlap it, weighted by the length of each overlap. A step that is only partly
 * covered takes the mean over its covered part alone (the uncovered part is not counted as zero);
 * a step not covered at all has no value (NAN). The planner's horizon is
 * gridems_forecast_coverage() steps of the import-price store: consecutive steps from the grid
 * start that are covered at least in part.
 *
 * Complexity: parsing is O(m log m) for m intervals in a message; merging is O(n + m); pruning,
 * resampling and coverage are O(log n + steps + intervals in range).
 *
 * Ownership: a gridems_forecast_t is embedded by the caller (_init/_close) and owns its interval
 * array; a gridems_forecast_msg_t likewise (filled by the parse functions, released with
 * gridems_forecast_msg_free()). No function keeps a pointer to its arguments.
 * Threads: no globals; one store must be used by one thread at a time (no locking inside). Parsing
 * a message touches no store and may run on any thread.
 */
#ifndef GRIDEMS_FORECAST_H
#define GRIDEMS_FORECAST_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Most intervals (rate array elements or series values) in one message. */
#define GRIDEMS_FORECAST_MAX_INTERVALS 100000
/* Most intervals one store holds after merging. */
#define GRIDEMS_FORECAST_MAX_STORED 200000
/* Longest message text accepted, in bytes (a full 100000-element rate array fits comfortably). */
#define GRIDEMS_FORECAST_MAX_MESSAGE_BYTES (16u * 1024u * 1024u)
/* Sanity bounds, per kWh after unit conversion. */
#define GRIDEMS_FORECAST_MAX_PRICE 1e6
#define GRIDEMS_FORECAST_MAX_CARBON 10.0
/* Longest series step, in minutes (one day). */
#define GRIDEMS_FORECAST_MAX_STEP_MINUTES 1440.0
/* Room for a currency code: at most 15 printable characters plus the NUL. */
#define GRIDEMS_FORECAST_CURRENCY_SIZE 16

typedef enum {
    GRIDEMS_FORECAST_PRICE = 0, /* import or export price, currency per kWh */
    GRIDEMS_FORECAST_CARBON = 1 /* carbon intensity, kg per kWh */
} gridems_forecast_kind_t;

typedef struct gridems_forecast_interval_s {
    int64_t start_ms; /* inclusive, ms since the epoch */
    int64_t end_ms;   /* exclusive, > start_ms */
    double value;     /* per kWh */
} gridems_forecast_interval_t;

/* One validated message, ready to apply. */
typedef struct gridems_forecast_msg_s {
    gridems_forecast_interval_t *iv; /* [n], owned, sorted by start, non-overlapping */
    size_t n;
    char currency[GRIDEMS_FORECAST_CURRENCY_SIZE]; /* "" when the message named none */
} gridems_forecast_msg_t;

/* The store. Read the fields freely; change them only through the functions below. */
typedef struct gridems_forecast_s {
    gridems_forecast_kind_t kind;
    gridems_forecast_interval_t *iv; /* [n], owned, sorted by start, non-overlapping */
    size_t n;
    char currency[GRIDEMS_FORECAST_CURRENCY_SIZE]; /* "" until pinned or learnt */
} gridems_forecast_t;

/*
 * gridems_forecast_init: make an empty store of the given kind. Allocates nothing.
 * Parameters: f (borrowed, overwritten; need not be initialised); kind.
 * Returns: nothing. Thread: any (f not yet shared).
 */
void gridems_forecast_init(gridems_forecast_t *f, gridems_forecast_kind_t kind);

/*
 * gridems_forecast_close: release what the store owns and leave it empty (it may be reused as if
 * just initialised, with its kind kept and its currency forgotten). Safe on a closed store.
 * Parameters: f (borrowed). Thread: the store's owner.
 */
void gridems_forecast_close(gridems_forecast_t *f);

/*
 * gridems_forecast_set_currency: pin the store's currency (a price store only), or forget it when
 * currency is NULL or "". Does not check the intervals already held.
 * Parameters: f (borrowed); currency (borrowed, copied): 1..15 printable characters, no spaces.
 * Returns: 0 or GRIDEMS_EINVAL (bad code, or a carbon store). Thread: the store's owner.
 */
int gridems_forecast_set_currency(gridems_forecast_t *f, const char *currency);

/*
 * gridems_forecast_msg_parse_json: parse and validate a message in either form.
 * Parameters:
 *   kind: which bounds apply (price or carbon);
 *   text (borrowed): len bytes, need not be NUL-terminated, held to the one JSON policy
 *     (json_strict.h: UTF-8, no NUL, only whitespace after the document, no duplicate keys);
 *   msg (borrowed, overwritten): filled on success, left empty ({NULL, 0, ""}) on failure;
 *   err/errlen (borrowed buffer, may be NULL): on failure, one line naming the field and the rule.
 * Returns: 0; GRIDEMS_EPARSE (not JSON or against the policy: "message: not JSON (syntax error
 *   near byte 17)", "message: trailing data at byte 42 after the document");
 *   GRIDEMS_EINVAL (breaks a rule); GRIDEMS_ETOOBIG (more than GRIDEMS_FORECAST_MAX_INTERVALS
 *   intervals or GRIDEMS_FORECAST_MAX_MESSAGE_BYTES bytes); GRIDEMS_ENOMEM.
 * Thread: any.
 */
int gridems_forecast_msg_parse_json(gridems_forecast_kind_t kind, const char *text, size_t len,
                                    gridems_forecast_msg_t *msg, char *err, size_t errlen);

/*
 * gridems_forecast_msg_parse_cjson: as gridems_forecast_msg_parse_json(), for a caller that has
 * already parsed the JSON.
 * Parameters: root (borrowed; not modified, no pointer into it is kept); the rest as above.
 * Returns: 0, GRIDEMS_EINVAL, GRIDEMS_ETOOBIG or GRIDEMS_ENOMEM. Thread: any.
 */
int gridems_forecast_msg_parse_cjson(gridems_forecast_kind_t kind, const cJSON *root,
                                     gridems_forecast_msg_t *msg, char *err, size_t errlen);

/* gridems_forecast_msg_free: release what msg owns and leave it empty. Safe on an empty message.
 * Thread: the message's owner. */
void gridems_forecast_msg_free(gridems_forecast_msg_t *msg);

/*
 * gridems_forecast_apply: merge a validated message into the store (see "Merging" above), after
 * checking its currency against the store's. All or nothing.
 * Parameters: f (borrowed); msg (borrowed, not modified; keep or free it afterwards);
 *   err/errlen as above.
 * Returns: 0; GRIDEMS_EINVAL (currency mismatch, or msg not sorted and disjoint);
 *   GRIDEMS_ETOOBIG (the store would exceed GRIDEMS_FORECAST_MAX_STORED intervals);
 *   GRIDEMS_ENOMEM. On any error the store is unchanged.
 * Thread: the store's owner.
 */
int gridems_forecast_apply(gridems_forecast_t *f, const gridems_forecast_msg_t *msg, char *err,
                           size_t errlen);

/*
 * gridems_forecast_update_json / gridems_forecast_update_cjson: parse with the store's kind, then
 * apply; the usual entry points for a received message.
 * Parameters and returns: as for the parse and apply functions above. On any error the store is
 * unchanged. Thread: the store's owner.
 */
int gridems_forecast_update_json(gridems_forecast_t *f, const char *text, size_t len, char *err,
                                 size_t errlen);
int gridems_forecast_update_cjson(gridems_forecast_t *f, const cJSON *root, char *err,
                                  size_t errlen);

/*
 * gridems_forecast_prune: drop every interval that ends at or before now_ms. An interval that
 * contains now_ms is kept whole, so the current planning step keeps its value.
 * Parameters: f (borrowed); now_ms.
 * Returns: the number of intervals dropped (>= 0). Thread: the store's owner.
 */
int gridems_forecast_prune(gridems_forecast_t *f, int64_t now_ms);

/*
 * gridems_forecast_clear: forget the values over [start_ms, end_ms): intervals inside it are
 * dropped, intervals that overlap it partly are trimmed to the part outside it (one that spans
 * it is split in two). The span becomes "not known". Used when the source that published it
 * withdraws it (an OpenADR event deleted).
 * Parameters: f (borrowed); start_ms < end_ms.
 * Returns: 0; GRIDEMS_EINVAL (empty span); GRIDEMS_ETOOBIG / GRIDEMS_ENOMEM (a split would not
 *   fit). On error the store is unchanged. Thread: the store's owner.
 */
int gridems_forecast_clear(gridems_forecast_t *f, int64_t start_ms, int64_t end_ms);

/*
 * gridems_forecast_resample: values on the grid start_ms + i * step_ms, i in [0, n), by the
 * resampling rule above (time-weighted mean of the covered part; NAN where nothing is known).
 * Parameters: f (borrowed); start_ms; step_ms (> 0); n (>= 0); out (borrowed, [n], written).
 * Returns: the number of steps that got a value (0..n), or GRIDEMS_EINVAL for a bad grid (the
 *   grid's end must fit in int64). Thread: the store's owner, or any thread while nobody
 *   modifies the store.
 */
int gridems_forecast_resample(const gridems_forecast_t *f, int64_t start_ms, int64_t step_ms, int n,
                              double *out);

/*
 * gridems_forecast_coverage: how many consecutive steps of the grid, from its first, are covered
 * at least in part by the store (the first step that no interval touches ends the count).
 * Parameters: f (borrowed); start_ms; step_ms (> 0); n (>= 0), the most steps to count.
 * Returns: 0..n, or GRIDEMS_EINVAL for a bad grid. Thread: as for resample.
 */
int gridems_forecast_coverage(const gridems_forecast_t *f, int64_t start_ms, int64_t step_ms,
                              int n);

#endif
