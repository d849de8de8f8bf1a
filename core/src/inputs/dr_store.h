/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The accepted DR events, kept across restarts (docs/service.md, "Reliability"): an event a
 * utility sent once, unretained, must still cap the plans after a crash.
 *
 * <state_dir>/dr_events.json, replaced whole and atomically (gridems_write_file_atomic) each
 * time the held set changes (an event accepted, replaced or cancelled):
 *
 *   {"version":1,"kind":"gridems-dr-events",
 *    "events":[{"id":"evt-7","start":ISO,"end":ISO,"import_limit_kw":7000}, ...]}
 *
 * Each event is read back through the same parser as a received event message
 * (gridems_dr_msg_parse_cjson), so a stored event obeys every rule a message does. A file that
 * is not JSON or breaks a rule is refused whole with a message naming the file and the field;
 * the caller logs it and starts without events. Events already over are dropped at the next
 * prune, as received ones are.
 *
 * Thread: the owner of the set (the loop thread).
 */
#ifndef GRIDEMS_DR_STORE_H
#define GRIDEMS_DR_STORE_H

#include <stddef.h>

#include "dr_events.h"

#define GRIDEMS_DR_STORE_FILE "dr_events.json"

/* The file's text for set (borrowed). Returns a string to free(), or NULL (out of memory). */
char *gridems_dr_store_to_json(const gridems_dr_events_t *set);

/*
 * gridems_dr_store_parse: text (borrowed, len bytes) into set (borrowed; must be empty and
 * initialised). name (borrowed) prefixes errors. Returns 0, GRIDEMS_EPARSE or GRIDEMS_EINVAL
 * (set left empty), GRIDEMS_ENOMEM.
 */
int gridems_dr_store_parse(const char *text, size_t len, const char *name, gridems_dr_events_t *set,
                           char *err, size_t errlen);

/* Write set to <dir>/dr_events.json atomically. Returns 0 or GRIDEMS_EIO (errno says why) or
 * GRIDEMS_ENOMEM, with one line in err. */
int gridems_dr_store_save(const char *dir, const gridems_dr_events_t *set, char *err,
                          size_t errlen);

/* Read <dir>/dr_events.json into set (empty, initialised). A missing file gives 0 and no
 * events. Returns as parse, or GRIDEMS_EIO. */
int gridems_dr_store_load(const char *dir, gridems_dr_events_t *set, char *err, size_t errlen);

#endif
