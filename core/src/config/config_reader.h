/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reading the JSON config (gridems.json) and its sections: the checks of the whole document
 * (size, NUL bytes, syntax and trailing data with line and column, a key given twice at any
 * depth), the check of an object's keys against those allowed (suggesting the nearest one), and
 * typed getters that keep the default when a key is absent and fail when it is present and
 * wrong. Every section's reader uses them (service_config.c, http_config.c, openadr_config.c),
 * so every config error reads the same way: "path.to.key: the rule", e.g.
 * "planner.horizon_step: unknown key (did you mean \"horizon_steps\"?)".
 *
 * Errors go to the caller's buffer in gridems_cfg_t and are returned as gridems error codes
 * (GRIDEMS_ECONFIG unless said otherwise). Pure functions on the caller's thread; nothing here
 * owns what it is given.
 */
#ifndef GRIDEMS_CONFIG_READER_H
#define GRIDEMS_CONFIG_READER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Room for the longest key path a message prints; longer paths are cut short. */
#define GRIDEMS_CFG_PATH_CAP 256
/* The largest magnitude accepted for a power or a price, as the scenario validator's bound. */
#define GRIDEMS_CFG_MAX_MAGNITUDE 1e15

/* Where errors go: err (errlen bytes, may be NULL) receives "path: message". */
typedef struct gridems_cfg_s {
    char *err;
    size_t errlen;
} gridems_cfg_t;

/* Write "path: message" ("config: message" for the empty path); return GRIDEMS_ECONFIG, or code
 * (GRIDEMS_EPARSE, GRIDEMS_ETOOBIG, ...). */
__attribute__((format(printf, 3, 4))) int gridems_cfg_fail(gridems_cfg_t *c, const char *path,
                                                           const char *fmt, ...);
__attribute__((format(printf, 4, 5))) int
gridems_cfg_fail_code(gridems_cfg_t *c, int code, const char *path, const char *fmt, ...);
/* "config: out of memory"; returns GRIDEMS_ENOMEM. */
int gridems_cfg_oom(gridems_cfg_t *c);

/* parent.key into buf (GRIDEMS_CFG_PATH_CAP bytes), or key at the top level (parent ""). */
void gridems_cfg_join(char *buf, const char *parent, const char *key);

/* Parse text (len bytes, at most max_bytes) as one config document: valid JSON, no NUL byte,
 * nothing after it but whitespace, an object at the top, no key given twice in any object. On
 * success *out is the tree, for the caller to cJSON_Delete; else NULL, and the error says where
 * (line and column for syntax) with GRIDEMS_EPARSE, GRIDEMS_ETOOBIG or GRIDEMS_ECONFIG. */
int gridems_cfg_parse_document(gridems_cfg_t *c, const char *text, size_t len, size_t max_bytes,
                               cJSON **out);

/* Every member of obj (at path) must be one of allowed (NULL-terminated). The message names the
 * nearest allowed key within two edits, or lists them all. */
int gridems_cfg_check_keys(gridems_cfg_t *c, const cJSON *obj, const char *path,
                           const char *const *allowed);

/*
 * Typed getters of obj's member key (the message names parent.key). An absent key leaves the
 * default (NULL, def or present = false); a present one of the wrong type or out of range fails.
 *   object: an object.              string: a non-empty string.
 *   number: a finite number.        bounded: a number >= lo (> lo when lo_open), at most
 *   int: an integer in lo..hi.        GRIDEMS_CFG_MAX_MAGNITUDE; present may be NULL.
 *   bool: true or false.            enum: one of names (NULL-terminated); *out its index.
 */
int gridems_cfg_get_object(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           const cJSON **out);
int gridems_cfg_get_string(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           const char **out);
int gridems_cfg_get_number(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                           bool *present, double *out);
int gridems_cfg_get_bounded(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                            double lo, bool lo_open, double def, bool *present, double *out);
int gridems_cfg_get_int(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                        int lo, int hi, int def, int *out);
int gridems_cfg_get_bool(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                         bool def, bool *out);
int gridems_cfg_get_enum(gridems_cfg_t *c, const cJSON *obj, const char *parent, const char *key,
                         const char *const *names, int def, int *out);

/* Whether s is printable ASCII without spaces (0x21..0x7E): what a URI, a client id or a URL in
 * the config may hold. */
bool gridems_cfg_printable(const char *s);

/* A heap copy of s (NULL stays NULL) / a printf into a new heap string, for the caller to free;
 * GRIDEMS_ENOMEM with the message when memory runs out. */
int gridems_cfg_strdup(gridems_cfg_t *c, const char *s, char **out);
__attribute__((format(printf, 3, 4))) int gridems_cfg_aprintf(gridems_cfg_t *c, char **out,
                                                              const char *fmt, ...);

#endif
