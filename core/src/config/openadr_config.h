/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The config's "openadr" section (config/README.md, docs/openadr.md), validated like every other
 * key: unknown keys, wrong types and values outside their rule are errors naming the key path.
 *
 *   "openadr": {"vtn_url": "http://127.0.0.1:8088/openadr3/3.1.0", "token_file": PATH,
 *               "programs": ["NAME", ...], "poll_seconds": N, "mqtt": true|false,
 *               "timeout_seconds": N, "client_name": "NAME"}
 *
 * Ownership: every string is owned by the struct and freed by gridems_openadr_config_free().
 * Thread: any.
 */
#ifndef GRIDEMS_OPENADR_CONFIG_H
#define GRIDEMS_OPENADR_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define GRIDEMS_OPENADR_MAX_PROGRAMS 32
#define GRIDEMS_OPENADR_MAX_POLL_SECONDS 86400

typedef struct gridems_openadr_config_s {
    bool enabled;        /* the section is present */
    char *vtn_url;       /* http:// or https://, without a trailing '/' */
    char *token_file;    /* the bearer token, read at each poll (so it can be rotated) */
    char **programs;     /* [n_programs] program names, unique */
    int n_programs;      /* 1..GRIDEMS_OPENADR_MAX_PROGRAMS */
    int poll_seconds;    /* 0..86400, default 60; 0 (MQTT only) needs mqtt */
    bool mqtt;           /* subscribe to the VTN's MQTT notifications; default false */
    int timeout_seconds; /* each HTTP request, 1..300, default 10 */
    char *client_name;   /* the VEN's name in reports; NULL: the service's mqtt.client_id */
} gridems_openadr_config_t;

/*
 * gridems_openadr_config_read: validate root's "openadr" member (absent: enabled = false).
 * Parameters: root (borrowed, the config's top object); out (borrowed, overwritten; freed on
 *   failure); err/errlen: one line "openadr.<key>: <rule>".
 * Returns: 0, GRIDEMS_ECONFIG or GRIDEMS_ENOMEM.
 */
int gridems_openadr_config_read(const cJSON *root, gridems_openadr_config_t *out, char *err,
                                size_t errlen);

/* true when a and b say the same (a SIGHUP that changes the section is noted as restart-only). */
bool gridems_openadr_config_same(const gridems_openadr_config_t *a,
                                 const gridems_openadr_config_t *b);

/* Free what cfg owns and zero it. Safe on a zeroed config. */
void gridems_openadr_config_free(gridems_openadr_config_t *cfg);

#endif
