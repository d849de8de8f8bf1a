/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The simulators' time stamps and data files (part of sim_common, compiled into each
 * simulator): ISO 8601 times, a bounded file reader, a line iterator and a CSV splitter for the
 * profile and job files a simulator reads in init.
 *
 * Only the C library; runs on the caller's thread; no global state.
 */
#ifndef GRIDEMS_SIM_FILES_H
#define GRIDEMS_SIM_FILES_H

#include <stddef.h>
#include <stdint.h>

/* ---- ## Time, text files, CSV ---- */

/*
 * Parse an ISO 8601 / RFC 3339 timestamp "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z" or an
 * offset "+HH:MM" / "-HH:MM" ("+HHMM" too; 'T' may be a space). The offset is required: a local
 * time without one is ambiguous. Returns 0 with *ms (Unix epoch milliseconds), or -1.
 */
int gridems__sim_parse_iso(const char *s, int64_t *ms);

/*
 * Read a whole regular file of at most max_bytes into a NUL-terminated buffer.
 * Returns the buffer (caller frees with free()), or NULL with a reason in err (errlen bytes).
 * This blocks, briefly: the simulators call it only from init, on small local files.
 */
char *gridems__sim_read_file(const char *path, size_t max_bytes, char *err, size_t errlen);

/*
 * Iterate the lines of a text buffer in place: returns the next line (its '\n' and a trailing
 * '\r' replaced by NUL, surrounding blanks trimmed) and advances *cursor, or NULL at the end.
 * *lineno counts lines from 1. Blank lines and lines starting with '#' are skipped.
 */
char *gridems__sim_next_line(char **cursor, int *lineno);

/*
 * Split a line in place at commas into at most max fields (blanks around each field trimmed).
 * Returns the number of fields found (more than max counts as max + 1).
 */
int gridems__sim_split_csv(char *line, char **fields, int max);

/* Parse a whole field as a finite double. Returns 0 or -1. */
int gridems__sim_parse_double(const char *s, double *out);

#endif
