/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the VEN applied to the forecasts (PRICE, EXPORT_PRICE, GHG), as the file the service
 * keeps in state_dir (docs/openadr.md, "Across restarts"): the forecasts survive a restart by
 * themselves, and the first poll after it must know which of their spans were OpenADR's, to
 * withdraw those of events deleted meanwhile.
 *
 *   {"version":1,"kind":"gridems-openadr-applied",
 *    "signals":{"PRICE":[{"start":"...Z","end":"...Z","value":12.5}, ...],
 *               "EXPORT_PRICE":[...],"GHG":[...]}}
 *
 * Reading it back is held to the one JSON policy of every file in state_dir (json_strict.h) and
 * to the rules of the pieces themselves (ISO times, each end after its start, in time order
 * without overlap, finite values, at most GRIDEMS_FORECAST_MAX_STORED a signal); a file that
 * breaks one is refused whole, with the field named.
 *
 * Threads: any (no shared state).
 */
#ifndef GRIDEMS_OPENADR_APPLIED_H
#define GRIDEMS_OPENADR_APPLIED_H

#include <stddef.h>

#include "openadr_event.h"

#define GRIDEMS_OADR_APPLIED_FILE "openadr_applied.json"
#define GRIDEMS_OADR_APPLIED_KIND "gridems-openadr-applied"

/*
 * gridems_oadr_applied_to_json: the file's text for the pieces applied to each forecast signal
 * (pieces[s], n[s] for s < GRIDEMS_OADR_IMPORT_CAP; borrowed). Only start, end and value are
 * kept. Returns a string the caller frees, or NULL on ENOMEM.
 */
char *gridems_oadr_applied_to_json(gridems_oadr_piece_t *const *pieces, const size_t *n);

/*
 * gridems_oadr_applied_parse: the file's text (borrowed, len bytes) back into pieces[s] (each
 * allocated, the caller frees; NULL when n[s] is 0) and n[s], for s < GRIDEMS_OADR_IMPORT_CAP.
 * A signal missing from the file has no pieces.
 * Returns 0; GRIDEMS_EPARSE (not JSON under the policy) or GRIDEMS_EINVAL (a rule above), with
 * one line in err ("signals.PRICE[3].end: must be after start"), nothing allocated;
 * GRIDEMS_ENOMEM.
 */
int gridems_oadr_applied_parse(const char *text, size_t len, gridems_oadr_piece_t **pieces,
                               size_t *n, char *err, size_t errlen);

#endif
