/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The one JSON policy for every input message (forecasts, DR events, operator commands, the
 * state files gridems reads back): what the config has always required, now for all of them.
 *
 *   - UTF-8 only: any byte sequence that is not well-formed UTF-8 (overlong forms, surrogates,
 *     code points above U+10FFFF, stray continuation bytes) refuses the message;
 *   - no NUL: neither a raw 0 byte nor an escaped \u0000 (C strings would silently cut there);
 *   - nothing after the document but whitespace;
 *   - no duplicate keys in any object, at any depth (which one would win is parser folklore).
 *
 * Refusals are one line naming the rule and the byte offset or the key path, e.g.
 * "invalid UTF-8 at byte 17", "duplicate key \"values\" in $", "trailing data at byte 42".
 *
 * Threads: any (no shared state).
 */
#ifndef GRIDEMS_JSON_STRICT_H
#define GRIDEMS_JSON_STRICT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * gridems_json_parse_strict: parse text (borrowed, len bytes, need not be NUL-terminated) under
 * the policy. On success *out is the tree (the caller cJSON_Delete()s it). On failure *out is
 * NULL and err (borrowed buffer, may be NULL) says why.
 * Returns 0, GRIDEMS_EPARSE (not JSON, or breaks the policy), GRIDEMS_ENOMEM.
 */
int gridems_json_parse_strict(const char *text, size_t len, cJSON **out, char *err, size_t errlen);

/*
 * gridems_json_parse_message: an input message (text borrowed, len bytes, at most max_bytes)
 * parsed under the policy, refusals as one line starting "message: " ("message: larger than
 * 65536 bytes", "message: trailing data at byte 42 after the document"). On success *out is the
 * tree (the caller cJSON_Delete()s it), else NULL.
 * Returns 0, GRIDEMS_ETOOBIG, GRIDEMS_EPARSE or GRIDEMS_ENOMEM.
 */
int gridems_json_parse_message(const char *text, size_t len, size_t max_bytes, cJSON **out,
                               char *err, size_t errlen);

/* gridems_json_check_strict: the same check without keeping the tree. */
int gridems_json_check_strict(const char *text, size_t len, char *err, size_t errlen);

/* A message's timestamp member: item (NULL when the member is missing) must be an ISO 8601 string
 * with an offset (timeutil.h, gridems_time_parse_iso). Returns 0 with *ms, or GRIDEMS_EINVAL with
 * "path: missing", "path: must be an ISO 8601 timestamp string" or "path: <why>" in err. */
int gridems_json_time(const cJSON *item, const char *path, int64_t *ms, char *err, size_t errlen);

/* Whether len bytes at s are well-formed UTF-8 (RFC 3629). On false, *bad (may be NULL) is the
 * offset of the first bad byte. */
bool gridems_utf8_valid(const char *s, size_t len, size_t *bad);

/*
 * gridems_log_safe: a copy of the string s (borrowed, NUL-terminated) that is safe in one log
 * line: printable ASCII is kept, every other byte (controls, UTF-8, invalid bytes) becomes \xNN,
 * and at most max_in input bytes are taken ("..." marks a cut). out: borrowed, outlen bytes.
 */
void gridems_log_safe(const char *s, size_t max_in, char *out, size_t outlen);

#endif
