/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * device_mqtt's pure mapping: a number out of a message (a JSON path, or the raw payload), and a
 * command payload out of a template. No I/O, no allocation, no global state: any thread may
 * call these, and tests/unit/test_device_mqtt_map.c calls them directly. The plugin does not use
 * the host's JSON library (a plugin must survive an upgrade of the host's libraries).
 */
#ifndef GRIDEMS_MQTT_MAP_H
#define GRIDEMS_MQTT_MAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The number at path in a message (payload borrowed, len bytes, need not be NUL-terminated).
 * path: "" for the raw payload (a number, with surrounding blanks allowed); else members and
 * indexes, "battery.soc", "data[2].p", "[0]". The value found may be a JSON number, a string
 * holding a number ("12.5"), or true/false (1/0). With a path, the whole message must be one
 * JSON document (nothing after it) and each member on the path given once. Returns 0 and *out,
 * or -1 with the reason in err ("no member \"soc\" at \"battery\"", "null at \"p\"", "not JSON
 * at byte 7", "trailing data at byte 12 after the document", "member \"p\" given twice").
 */
int dm_extract(const char *payload, size_t len, const char *path, double *out, char *err,
               size_t errlen);

/* The values a command template may use. */
typedef struct dm_vars_s {
    double power_kw;
    int safe;
    uint64_t plan_id;
    int64_t ts_ms;
    int64_t valid_until_ms;
} dm_vars_t;

/*
 * Render tmpl into out (always NUL-terminated on success). Placeholders: ${power_kw},
 * ${power_w}, ${safe} (true/false), ${safe01} (1/0), ${plan_id}, ${ts_ms}, ${ts_s},
 * ${valid_until_ms}; "$$" is a literal "$". The "${" form leaves JSON's own braces alone, so a
 * JSON payload is written as itself. Numbers are written in the shortest form that reads back
 * exactly.
 * Returns the length, or -1 with the reason in err (an unknown placeholder, or out too small).
 */
int dm_render(const char *tmpl, const dm_vars_t *v, char *out, size_t outlen, char *err,
              size_t errlen);

#endif
