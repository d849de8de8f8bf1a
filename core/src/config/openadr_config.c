/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The "openadr" config section (openadr_config.h).
 */
#include "openadr_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_reader.h"
#include "gridems/errors.h"

static int read_section(gridems_cfg_t *c, const cJSON *sec, gridems_openadr_config_t *out)
{
    static const char *const keys[] = {"vtn_url", "token_file",      "programs",    "poll_seconds",
                                       "mqtt",    "timeout_seconds", "client_name", NULL};
    int rc = gridems_cfg_check_keys(c, sec, "openadr", keys);
    if (rc != 0) {
        return rc;
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(sec, "vtn_url");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(sec, "token_file");
    const cJSON *programs = cJSON_GetObjectItemCaseSensitive(sec, "programs");
    if (!cJSON_IsString(url)) {
        return gridems_cfg_fail(c, "openadr.vtn_url",
                                "required, a string (e.g. "
                                "\"http://127.0.0.1:8088/openadr3/3.1.0\")");
    }
    const char *u = url->valuestring;
    size_t scheme = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0 || u[scheme] == '\0' || u[scheme] == '/' || !gridems_cfg_printable(u) ||
        strlen(u) > 1024) {
        return gridems_cfg_fail(c, "openadr.vtn_url",
                                "must be an http:// or https:// URL naming a host, without "
                                "spaces, at most 1024 bytes, got \"%.80s\"",
                                u);
    }
    if (!cJSON_IsString(token) || token->valuestring[0] == '\0') {
        return gridems_cfg_fail(c, "openadr.token_file",
                                "required, a non-empty string (the file holding the "
                                "bearer token)");
    }
    if (!cJSON_IsArray(programs)) {
        return gridems_cfg_fail(c, "openadr.programs", "required, an array of program names");
    }
    int n = cJSON_GetArraySize(programs);
    if (n < 1 || n > GRIDEMS_OPENADR_MAX_PROGRAMS) {
        return gridems_cfg_fail(c, "openadr.programs", "must hold 1 to %d names, got %d",
                                GRIDEMS_OPENADR_MAX_PROGRAMS, n);
    }
    rc = gridems_cfg_get_bool(c, sec, "openadr", "mqtt", false, &out->mqtt);
    if (rc == 0) {
        rc = gridems_cfg_get_int(c, sec, "openadr", "poll_seconds", 0,
                                 GRIDEMS_OPENADR_MAX_POLL_SECONDS, 60, &out->poll_seconds);
    }
    if (rc == 0) {
        rc = gridems_cfg_get_int(c, sec, "openadr", "timeout_seconds", 1, 300, 10,
                                 &out->timeout_seconds);
    }
    if (rc != 0) {
        return rc;
    }
    if (out->poll_seconds == 0 && !out->mqtt) {
        return gridems_cfg_fail(c, "openadr.poll_seconds",
                                "must be at least 1 without \"mqtt\": true (0 means "
                                "MQTT notifications only)");
    }
    out->programs = calloc((size_t)n, sizeof *out->programs);
    if (out->programs == NULL) {
        return gridems_cfg_oom(c);
    }
    int i = 0;
    for (const cJSON *it = programs->child; it != NULL; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof path, "openadr.programs[%d]", i);
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) > 128) {
            return gridems_cfg_fail(c, path, "must be a name of 1 to 128 bytes");
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(out->programs[j], it->valuestring) == 0) {
                return gridems_cfg_fail(c, path, "\"%.64s\" is already openadr.programs[%d]",
                                        it->valuestring, j);
            }
        }
        out->programs[i] = strdup(it->valuestring);
        out->n_programs = i + 1;
        if (out->programs[i] == NULL) {
            return gridems_cfg_oom(c);
        }
    }
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(sec, "client_name");
    if (client != NULL) {
        if (!cJSON_IsString(client) || client->valuestring[0] == '\0' ||
            strlen(client->valuestring) > 128 || !gridems_cfg_printable(client->valuestring)) {
            return gridems_cfg_fail(c, "openadr.client_name",
                                    "must be a name of 1 to 128 printable bytes (the VEN's "
                                    "clientName in reports)");
        }
        out->client_name = strdup(client->valuestring);
        if (out->client_name == NULL) {
            return gridems_cfg_oom(c);
        }
    }
    out->vtn_url = strdup(u);
    out->token_file = strdup(token->valuestring);
    if (out->vtn_url == NULL || out->token_file == NULL) {
        return gridems_cfg_oom(c);
    }
    size_t len = strlen(out->vtn_url);
    while (len > scheme + 1 && out->vtn_url[len - 1] == '/') {
        out->vtn_url[--len] = '\0';
    }
    out->enabled = true;
    return 0;
}

int gridems_openadr_config_read(const cJSON *root, gridems_openadr_config_t *out, char *err,
                                size_t errlen)
{
    gridems_cfg_t reader = {.err = err, .errlen = errlen}, *c = &reader;
    memset(out, 0, sizeof *out);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "openadr");
    if (sec == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(sec)) {
        return gridems_cfg_fail(c, "openadr", "must be an object");
    }
    int rc = read_section(c, sec, out);
    if (rc != 0) {
        gridems_openadr_config_free(out);
    }
    return rc;
}

void gridems_openadr_config_free(gridems_openadr_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (int i = 0; i < cfg->n_programs; i++) {
        free(cfg->programs[i]);
    }
    free(cfg->programs);
    free(cfg->vtn_url);
    free(cfg->token_file);
    free(cfg->client_name);
    memset(cfg, 0, sizeof *cfg);
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool gridems_openadr_config_same(const gridems_openadr_config_t *a,
                                 const gridems_openadr_config_t *b)
{
    if (a->enabled != b->enabled || !same_text(a->vtn_url, b->vtn_url) ||
        !same_text(a->token_file, b->token_file) || a->n_programs != b->n_programs ||
        a->poll_seconds != b->poll_seconds || a->mqtt != b->mqtt ||
        a->timeout_seconds != b->timeout_seconds || !same_text(a->client_name, b->client_name)) {
        return false;
    }
    for (int i = 0; i < a->n_programs; i++) {
        if (strcmp(a->programs[i], b->programs[i]) != 0) {
            return false;
        }
    }
    return true;
}
