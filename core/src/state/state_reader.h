/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * How gridems reads back the files it keeps in state_dir (state.json, the load history, the
 * peak margin and the forecast files): under the one JSON policy of every input (json_strict.h:
 * UTF-8 only, no NUL, nothing after the document, no duplicate key at any depth), with one form
 * of error, "<file>: <field path>: <rule>", so an operator finds the line to look at.
 *
 * Threads: any (no shared state).
 */
#ifndef GRIDEMS_STATE_READER_H
#define GRIDEMS_STATE_READER_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct state_reader_s {
    const char *name; /* the file, for messages (borrowed) */
    char *err;        /* where the one-line reason goes (borrowed, may be NULL) */
    size_t errlen;
} state_reader_t;

/* Write "<name>: <path>: <message>" (without the path when it is NULL or empty) into r->err and
 * return code. */
__attribute__((format(printf, 4, 5))) int gridems_state_reader_fail(const state_reader_t *r,
                                                                    int code, const char *path,
                                                                    const char *fmt, ...);

/*
 * gridems_state_reader_parse: the file's text (borrowed, len bytes) as a tree (*root, the caller
 * cJSON_Delete()s it; NULL on failure).
 * Returns 0 or GRIDEMS_EPARSE ("empty file (not JSON)", "not JSON (syntax error near byte 52)",
 * "trailing data at byte 31 after the document", "duplicate key \"kw\" in $.peak", ...), or
 * GRIDEMS_ENOMEM.
 */
int gridems_state_reader_parse(const state_reader_t *r, const char *text, size_t len, cJSON **root);

#endif
