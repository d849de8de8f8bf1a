/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Demand-response (DR) events: the utility's import caps (service.md, topic P/in/event).
 *
 * Messages:
 *   {"id":"...","start":ISO,"end":ISO,"import_limit_kw":N}   add, or replace the event with that id
 *   {"id":"...","cancel":true}                                end the event with that id
 * The id is 1..GRIDEMS_DR_MAX_ID_LEN bytes without control characters; end must be after start;
 * the limit is a finite number in [0, GRIDEMS_DR_MAX_LIMIT_KW]. "cancel":false is the same as no
 * "cancel" key. Unknown keys are ignored. A message that fails validation is rejected whole with a
 * one-line reason naming the field ("end: must be after start") and changes nothing.
 *
 * The set holds at most GRIDEMS_DR_MAX_EVENTS events, kept sorted by start (then id), so the grid
 * mapping comes out in time order. An event that has already ended is accepted (the service prunes
 * it at its next pass); one arriving in a full set is refused with GRIDEMS_ENOSPC, after the
 * caller has had the chance to prune.
 *
 * Grid mapping. An event that covers any part of a grid step applies to the whole step: the step's
 * energy is planned as one average power, and an import cap that holds only for part of the step
 * can be honoured in every instant only if the whole step respects it. This is the conservative
 * choice; it may cap up to one step more than the utility asked for at each edge.
 *
 * Ownership: a gridems_dr_events_t is embedded by the caller (_init/_close) and owns its event
 * array; events are stored by value (ids copied). No function keeps a pointer to its arguments.
 * Threads: no globals; one set must be used by one thread at a time. Parsing touches no set and may
 * run on any thread.
 */
#ifndef GRIDEMS_DR_EVENTS_H
#define GRIDEMS_DR_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "gridems/scenario.h"

/* Most events held at once. */
#define GRIDEMS_DR_MAX_EVENTS 1000
/* Longest id, in bytes. */
#define GRIDEMS_DR_MAX_ID_LEN 128
/* Sanity bound on a cap (1 TW: anything above is an encoding error, not a limit). */
#define GRIDEMS_DR_MAX_LIMIT_KW 1e9
/* Longest message text accepted, in bytes. */
#define GRIDEMS_DR_MAX_MESSAGE_BYTES 65536u

typedef struct gridems_dr_event_s {
    char id[GRIDEMS_DR_MAX_ID_LEN + 1];
    int64_t start_ms; /* inclusive */
    int64_t end_ms;   /* exclusive, > start_ms */
    double import_limit_kw;
} gridems_dr_event_t;

/* One validated message. When cancel is nonzero only event.id is meaningful. */
typedef struct gridems_dr_msg_s {
    int cancel;
    gridems_dr_event_t event;
} gridems_dr_msg_t;

/* What gridems_dr_events_apply() did. */
typedef enum {
    GRIDEMS_DR_ADDED = 0,
    GRIDEMS_DR_REPLACED = 1,
    GRIDEMS_DR_CANCELLED = 2,
    GRIDEMS_DR_CANCEL_UNKNOWN = 3 /* a cancel for an id not held: not an error, but worth a log */
} gridems_dr_outcome_t;

/* The set. Read the fields freely; change them only through the functions below. */
typedef struct gridems_dr_events_s {
    gridems_dr_event_t *ev; /* [n], owned, sorted by start then id */
    size_t n;
    size_t cap;
} gridems_dr_events_t;

/* gridems_dr_events_init: make an empty set. Allocates nothing. Parameters: set (borrowed,
 * overwritten). Thread: any (set not yet shared). */
void gridems_dr_events_init(gridems_dr_events_t *set);

/* gridems_dr_events_close: release what the set owns and leave it empty and reusable. Safe on a
 * closed set. Thread: the set's owner. */
void gridems_dr_events_close(gridems_dr_events_t *set);

/*
 * gridems_dr_msg_parse_json: parse and validate an event message.
 * Parameters: text (borrowed): len bytes, need not be NUL-terminated, held to the one JSON
 *   policy (json_strict.h: UTF-8, no NUL, only whitespace after the document, no duplicate keys);
 *   msg (borrowed, overwritten; zeroed on failure); err/errlen (borrowed buffer, may be NULL): on
 *   failure one line naming the field, e.g. "import_limit_kw: must be a finite number >= 0".
 * Returns: 0, GRIDEMS_EPARSE (not JSON, or against the policy), GRIDEMS_EINVAL (breaks a rule),
 * GRIDEMS_ETOOBIG (longer than GRIDEMS_DR_MAX_MESSAGE_BYTES). Thread: any.
 */
int gridems_dr_msg_parse_json(const char *text, size_t len, gridems_dr_msg_t *msg, char *err,
                              size_t errlen);

/*
 * gridems_dr_msg_parse_cjson: as gridems_dr_msg_parse_json() for a caller that already parsed.
 * Parameters: root (borrowed, not modified); the rest as above.
 * Returns: 0 or GRIDEMS_EINVAL. Thread: any.
 */
int gridems_dr_msg_parse_cjson(const cJSON *root, gridems_dr_msg_t *msg, char *err, size_t errlen);

/*
 * gridems_dr_events_apply: add, replace (same id) or cancel an event.
 * Parameters: set (borrowed); msg (borrowed, copied); outcome (borrowed, may be NULL): what
 *   happened, written on success only.
 * Returns: 0; GRIDEMS_EINVAL (msg breaks a rule: it is checked again, as the struct is public);
 *   GRIDEMS_ENOSPC (adding a new id to a full set); GRIDEMS_ENOMEM. On error the set is unchanged.
 * Thread: the set's owner.
 */
int gridems_dr_events_apply(gridems_dr_events_t *set, const gridems_dr_msg_t *msg,
                            gridems_dr_outcome_t *outcome);

/*
 * gridems_dr_events_update_json / _update_cjson: parse, then apply; the usual entry points.
 * Parameters and returns: as for parse and apply (ENOSPC also writes a reason into err).
 * On error the set is unchanged. Thread: the set's owner.
 */
int gridems_dr_events_update_json(gridems_dr_events_t *set, const char *text, size_t len,
                                  gridems_dr_outcome_t *outcome, char *err, size_t errlen);
int gridems_dr_events_update_cjson(gridems_dr_events_t *set, const cJSON *root,
                                   gridems_dr_outcome_t *outcome, char *err, size_t errlen);

/*
 * gridems_dr_events_find: the event with this id, or NULL.
 * Parameters: set (borrowed); id (borrowed). Returns: a pointer into the set, valid until the set
 * next changes. Thread: the set's owner.
 */
const gridems_dr_event_t *gridems_dr_events_find(const gridems_dr_events_t *set, const char *id);

/*
 * gridems_dr_events_prune: drop every event that ends at or before now_ms.
 * Returns: the number dropped (>= 0). Thread: the set's owner.
 */
int gridems_dr_events_prune(gridems_dr_events_t *set, int64_t now_ms);

/*
 * gridems_dr_events_to_grid: the events as scenario events on the grid start_ms + i * step_ms,
 * i in [0, steps): start_step = the step holding start, end_step = the first step wholly after
 * end (see "Grid mapping"), both clamped to [0, steps]; events wholly outside the grid are left
 * out. Output is in order of start time; overlapping events are all listed (the optimizer applies
 * the tightest cap in each step).
 * Parameters: set (borrowed); start_ms; step_ms (> 0); steps (>= 0); out (borrowed, [cap],
 *   written); cap (GRIDEMS_DR_MAX_EVENTS always suffices).
 * Returns: the number of events written (0..cap), GRIDEMS_EINVAL for a bad grid, or
 *   GRIDEMS_ENOSPC when more than cap events fall on the grid (out then holds the first cap).
 * Thread: the set's owner.
 */
int gridems_dr_events_to_grid(const gridems_dr_events_t *set, int64_t start_ms, int64_t step_ms,
                              int steps, gridems_event_t *out, size_t cap);

#endif
