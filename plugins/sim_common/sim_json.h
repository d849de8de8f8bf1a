/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The simulators' JSON (part of sim_common, compiled into each simulator): a growable text buffer
 * with a small writer for the telemetry and command messages, and a pull reader for the same flat
 * messages. The plugins do not link cJSON, so that a cJSON upgrade of the host cannot break
 * them. The reader skips unknown keys (a newer gateway may add fields without breaking an older
 * driver) but follows the host's rules for what it reads: one document, nothing after it, no
 * member name given twice.
 *
 * Only the C library; runs on the caller's thread; no global state.
 */
#ifndef GRIDEMS_SIM_JSON_H
#define GRIDEMS_SIM_JSON_H

#include <stddef.h>
#include <stdint.h>

/* ---- ## Text buffer and JSON writer ---- */

/*
 * A growable NUL-terminated text buffer. Embedded by the caller and zero-initialised; release it
 * with gridems__sim_buf_free(). An allocation failure sets oom and makes every later append a
 * no-op, so a writer checks oom once at the end.
 */
typedef struct gridems__sim_buf_s {
    char *data;
    size_t len;
    size_t cap;
    int oom;
    /* JSON writer state: one bit per nesting level, set when the level already holds an item
     * (so the next item needs a comma). */
    uint32_t need_comma;
    int depth;
    int after_key; /* a key was just written: its value needs no comma */
} gridems__sim_buf_t;

void gridems__sim_buf_free(gridems__sim_buf_t *b);
void gridems__sim_buf_reset(gridems__sim_buf_t *b);
void gridems__sim_buf_printf(gridems__sim_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The JSON writer. Objects and arrays nest up to 31 levels; commas are inserted automatically.
 * Numbers are written in the shortest form that reads back to the same double, so a reader gets
 * exactly the value the writer had (the tests compare integrated energies exactly). Non-finite
 * numbers are written as null. Strings are escaped.
 */
void gridems__sim_json_begin_object(gridems__sim_buf_t *b);
void gridems__sim_json_end_object(gridems__sim_buf_t *b);
void gridems__sim_json_begin_array(gridems__sim_buf_t *b);
void gridems__sim_json_end_array(gridems__sim_buf_t *b);
void gridems__sim_json_key(gridems__sim_buf_t *b, const char *key);
void gridems__sim_json_num(gridems__sim_buf_t *b, double v);
void gridems__sim_json_int(gridems__sim_buf_t *b, int64_t v);
void gridems__sim_json_bool(gridems__sim_buf_t *b, int v);
void gridems__sim_json_str(gridems__sim_buf_t *b, const char *s);
/* Shorthands for a key and its value inside an object. */
void gridems__sim_json_kv_num(gridems__sim_buf_t *b, const char *key, double v);
void gridems__sim_json_kv_int(gridems__sim_buf_t *b, const char *key, int64_t v);
void gridems__sim_json_kv_bool(gridems__sim_buf_t *b, const char *key, int v);
void gridems__sim_json_kv_str(gridems__sim_buf_t *b, const char *key, const char *s);

/* ---- ## JSON pull reader ---- */

/*
 * A reader over one JSON text (borrowed; it must stay valid while the reader is used). The caller
 * walks the structure it expects and skips the rest:
 *
 *   gridems__sim_jr_t r;
 *   gridems__sim_jr_init(&r, text, len);
 *   if (gridems__sim_jr_begin_object(&r) == 0) {
 *       char key[64];
 *       while (gridems__sim_jr_next_key(&r, key, sizeof key) == 1) {
 *           if (strcmp(key, "power_kw") == 0) gridems__sim_jr_number(&r, &power);
 *           else gridems__sim_jr_skip(&r);
 *       }
 *   }
 *   if (gridems__sim_jr_finish(&r) < 0) ... r.error says why ...
 *
 * Every function returns a negative value on a syntax or type error and records the first error
 * (error, at); after an error every call fails, so a loop always ends. Nesting is limited to 31
 * levels. A member name given twice in one object is an error (the host's JSON rule: which of
 * the two meant it is a guess), and so are more than GRIDEMS__SIM_JR_MAX_MEMBERS members in
 * the open objects together (the messages and files read this way are small and flat).
 */
#define GRIDEMS__SIM_JR_MAX_MEMBERS 64
typedef struct gridems__sim_jr_s {
    const char *start;
    const char *p;
    const char *end;
    const char *error; /* static text, NULL while the text is fine */
    size_t at;         /* byte offset of the error */
    uint32_t need_comma;
    int depth;
    /* Where each member name of the open objects starts in the text (innermost object last;
     * seen_from[d] is the first of level d), so that a name given twice is an error. */
    const char *seen[GRIDEMS__SIM_JR_MAX_MEMBERS];
    int n_seen;
    int seen_from[32];
} gridems__sim_jr_t;

void gridems__sim_jr_init(gridems__sim_jr_t *r, const char *text, size_t len);
/* Consume '{' / '['. Returns 0 or -1. */
int gridems__sim_jr_begin_object(gridems__sim_jr_t *r);
int gridems__sim_jr_begin_array(gridems__sim_jr_t *r);
/* The next member of the current object: 1 with its key in key (truncation is an error; keylen
 * at most 256) and the reader before the value; 0 at the closing '}' (consumed); -1 on error,
 * also for a key the object already had. */
int gridems__sim_jr_next_key(gridems__sim_jr_t *r, char *key, size_t keylen);
/* The next element of the current array: 1 with the reader before it; 0 at ']' (consumed); -1. */
int gridems__sim_jr_next_item(gridems__sim_jr_t *r);
/* Read one value of the given type. number: any finite JSON number. int64: a JSON number without
 * fraction or exponent, within int64_t. bool: true/false. string: unescaped into out (outlen
 * bytes with the NUL; longer is an error). Return 0 or -1 (wrong type is an error). */
int gridems__sim_jr_number(gridems__sim_jr_t *r, double *out);
int gridems__sim_jr_int64(gridems__sim_jr_t *r, int64_t *out);
int gridems__sim_jr_bool(gridems__sim_jr_t *r, int *out);
int gridems__sim_jr_string(gridems__sim_jr_t *r, char *out, size_t outlen);
/* Skip one value of any type. Returns 0 or -1. */
int gridems__sim_jr_skip(gridems__sim_jr_t *r);
/* After the top-level value: only whitespace may follow. Returns 0 or -1 (also for an earlier
 * error). */
int gridems__sim_jr_finish(gridems__sim_jr_t *r);
/* Record an error of the caller's own (a missing member, a value out of range). Returns -1. */
int gridems__sim_jr_fail(gridems__sim_jr_t *r, const char *why);

#endif
