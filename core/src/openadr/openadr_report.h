/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The VEN's usage reports (docs/openadr.md, "Reports"): for every event that asks for one
 * (gridems_oadr_event_t.reports), the site's import energy in each of the event's intervals,
 * integrated from the import samples the service takes, and the report's JSON body for
 * POST {vtn}/reports once the last interval has ended: USAGE, that energy in kWh, and DEMAND,
 * the mean import in kW over the time the samples covered, as the event asked.
 *
 * Integration: each sample is held until the next one (as a meter's reading is), so the energy
 * of [a, b) is kw(a) x (b - a). Each instant of an interval is counted once at most: a sample
 * from before what was already counted (a clock set back) adds nothing there. A gap between two
 * samples longer than the book's max_gap_ms (the service was stopped, or no import could be read)
 * is not counted: the intervals it overlaps are covered less, and the report's confidence (0-100,
 * the payload descriptor's field of that name) is the share of the event's time that samples
 * covered.
 *
 * Events and the book: gridems_oadr_book_sync() follows the VEN's held events. An event that
 * asks for a report is taken in (with its intervals); an update that moves an interval keeps
 * the energy of the intervals it leaves unchanged; an event the VEN no longer holds is dropped
 * only while it is not over (deleted on the VTN, or no longer asking), because the VEN stops
 * holding an event once it is over, which is when its report is due. At most
 * GRIDEMS_OADR_MAX_REPORTS events are followed; sync refuses more (the caller logs them).
 *
 * Across restarts the book is kept in state_dir as GRIDEMS_OADR_REPORTS_FILE:
 *   {"version":1,"kind":"gridems-openadr-reports","reports":[{"event":"ID",
 *     "kinds":["USAGE","DEMAND"],"intervals":[
 *     {"id":0,"start":"...Z","end":"...Z","kwh":750.0,"covered_ms":300000,
 *      "measured_to":"...Z"}, ...]}, ...]}
 * (the held sample is not kept: the time the service was down is a gap). Reading it back is held
 * to the JSON policy of every file in state_dir (json_strict.h) and to the book's own rules; a
 * file that breaks one is refused whole, with the field named.
 *
 * Pure: no I/O and no clock of its own (the caller gives now). Ownership: the book owns copies
 * of what it keeps; report bodies are returned owned (free()). Thread: any, one at a time.
 */
#ifndef GRIDEMS_OPENADR_REPORT_H
#define GRIDEMS_OPENADR_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openadr_event.h"

#define GRIDEMS_OADR_MAX_REPORTS 64
#define GRIDEMS_OADR_REPORTS_FILE "openadr_reports.json"
#define GRIDEMS_OADR_REPORTS_KIND "gridems-openadr-reports"

/* One event's report in the making. */
typedef struct gridems_oadr_usage_s {
    char event_id[GRIDEMS_OADR_ID_SIZE];
    unsigned kinds;                 /* GRIDEMS_OADR_REPORT_* bits: what the event asks for */
    gridems_oadr_period_t *periods; /* [n], owned, in interval id order */
    double *kwh;                    /* [n] import energy measured in each interval */
    int64_t *covered_ms;            /* [n] how much of each the samples covered */
    int64_t *measured_to_ms;        /* [n] counted up to here (from the interval's start) */
    size_t n;
} gridems_oadr_usage_t;

typedef struct gridems_oadr_book_s {
    gridems_oadr_usage_t *list; /* [n], owned */
    size_t n;
    int64_t max_gap_ms;
    bool has_sample; /* the last sample, held until the next */
    int64_t sample_ms;
    double sample_kw;
} gridems_oadr_book_t;

/* An empty book; max_gap_ms > 0. */
void gridems_oadr_book_init(gridems_oadr_book_t *b, int64_t max_gap_ms);

/* Release what the book owns and empty it. */
void gridems_oadr_book_free(gridems_oadr_book_t *b);

/*
 * gridems_oadr_book_sync: follow the VEN's held events (borrowed, [n]) at now (see above).
 * *refused (may be NULL) counts events that ask for a report but found the book full;
 * *changed (may be NULL) says whether a report was taken in, dropped or its kinds or intervals
 * changed (what to save).
 * Returns: 0 or GRIDEMS_ENOMEM (the book is then as complete as memory allowed).
 */
int gridems_oadr_book_sync(gridems_oadr_book_t *b, const gridems_oadr_event_t *const *events,
                           size_t n, int64_t now_ms, size_t *refused, bool *changed);

/*
 * gridems_oadr_book_sample: the site imports kw (a finite number; negative: it exports) at
 * now_ms. The previous sample is counted up to now_ms (unless the gap is too long, above); a
 * sample older than the last one is ignored. gridems_oadr_book_no_sample: no import could be
 * read at now_ms: the previous sample is counted up to now_ms and held no further.
 * Both return whether a report's measure changed (what to save).
 */
bool gridems_oadr_book_sample(gridems_oadr_book_t *b, int64_t now_ms, double kw);
bool gridems_oadr_book_no_sample(gridems_oadr_book_t *b, int64_t now_ms);

/*
 * gridems_oadr_book_due: the index of a report whose last interval has ended and been counted
 * (the last sample or gap is at or after its end), or -1 when none is due at now_ms. A report
 * the samples have not reached for max_gap_ms after its end is due as well, with what it has.
 */
long gridems_oadr_book_due(const gridems_oadr_book_t *b, int64_t now_ms);

/*
 * gridems_oadr_book_report_json: the body of POST /reports for report i: eventID, clientName,
 * reportName "gridems usage <event id>", a payload descriptor for each kind asked (USAGE in KWH,
 * DEMAND in KW; DIRECT_READ, the confidence) and one resource named resource_name with every
 * interval (id, intervalPeriod with its start in UTC and its duration, a payload of each kind:
 * kWh to the Wh, kW to the W; DEMAND 0 where nothing was measured). Returns an owned string
 * or NULL (out of memory).
 */
char *gridems_oadr_book_report_json(const gridems_oadr_book_t *b, size_t i, const char *client_name,
                                    const char *resource_name);

/* The confidence of report i: the share of its intervals' time that samples covered, 0-100. */
int gridems_oadr_book_confidence(const gridems_oadr_book_t *b, size_t i);

/* Forget report i (sent, or refused by the VTN). */
void gridems_oadr_book_remove(gridems_oadr_book_t *b, size_t i);

/* The file's text for the book (above). Returns an owned string or NULL (out of memory). */
char *gridems_oadr_book_to_json(const gridems_oadr_book_t *b);

/*
 * gridems_oadr_book_parse: the file's text (borrowed, len bytes) into b (initialised and empty;
 * its max_gap_ms is kept). Returns 0; GRIDEMS_EPARSE (not JSON under the policy) or
 * GRIDEMS_EINVAL (a rule broken: "reports[0].intervals[2].end: must be after start"), b then
 * empty; GRIDEMS_ENOMEM.
 */
int gridems_oadr_book_parse(const char *text, size_t len, gridems_oadr_book_t *b, char *err,
                            size_t errlen);

#endif
