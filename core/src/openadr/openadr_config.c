/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The "openadr" config section (openadr_config.h).
 */
#include "openadr_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return GRIDEMS_ECONFIG;
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
            return false;
        }
    }
    return true;
}

static int get_int(const cJSON *sec, const char *key, int lo, int hi, int def, int *out, char *err,
                   size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    *out = def;
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        return fail(err, errlen, "openadr.%s: must be an integer in %d..%d", key, lo, hi);
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int read_section(const cJSON *sec, gridems_openadr_config_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"vtn_url", "token_file",      "programs", "poll_seconds",
                                       "mqtt",    "timeout_seconds", NULL};
    for (const cJSON *it = sec->child; it != NULL; it = it->next) {
        bool known = false;
        for (int k = 0; keys[k] != NULL; k++) {
            known = known || strcmp(it->string, keys[k]) == 0;
        }
        if (!known) {
            return fail(err, errlen,
                        "openadr.%.64s: unknown key (known: vtn_url, token_file, programs, "
                        "poll_seconds, mqtt, timeout_seconds)",
                        it->string);
        }
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(sec, "vtn_url");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(sec, "token_file");
    const cJSON *programs = cJSON_GetObjectItemCaseSensitive(sec, "programs");
    const cJSON *mqtt = cJSON_GetObjectItemCaseSensitive(sec, "mqtt");
    if (!cJSON_IsString(url)) {
        return fail(err, errlen,
                    "openadr.vtn_url: required, a string (e.g. "
                    "\"http://127.0.0.1:8088/openadr3/3.1.0\")");
    }
    const char *u = url->valuestring;
    size_t scheme = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0 || u[scheme] == '\0' || u[scheme] == '/' || !printable(u) || strlen(u) > 1024) {
        return fail(err, errlen,
                    "openadr.vtn_url: must be an http:// or https:// URL naming a host, without "
                    "spaces, at most 1024 bytes, got \"%.80s\"",
                    u);
    }
    if (!cJSON_IsString(token) || token->valuestring[0] == '\0') {
        return fail(err, errlen,
                    "openadr.token_file: required, a non-empty string (the file holding the "
                    "bearer token)");
    }
    if (!cJSON_IsArray(programs)) {
        return fail(err, errlen, "openadr.programs: required, an array of program names");
    }
    int n = cJSON_GetArraySize(programs);
    if (n < 1 || n > GRIDEMS_OPENADR_MAX_PROGRAMS) {
        return fail(err, errlen, "openadr.programs: must hold 1 to %d names, got %d",
                    GRIDEMS_OPENADR_MAX_PROGRAMS, n);
    }
    if (mqtt != NULL && !cJSON_IsBool(mqtt)) {
        return fail(err, errlen, "openadr.mqtt: must be true or false");
    }
    out->mqtt = cJSON_IsTrue(mqtt);
    int rc = get_int(sec, "poll_seconds", 0, GRIDEMS_OPENADR_MAX_POLL_SECONDS, 60,
                     &out->poll_seconds, err, errlen);
    if (rc == 0) {
        rc = get_int(sec, "timeout_seconds", 1, 300, 10, &out->timeout_seconds, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    if (out->poll_seconds == 0 && !out->mqtt) {
        return fail(err, errlen,
                    "openadr.poll_seconds: must be at least 1 without \"mqtt\": true (0 means "
                    "MQTT notifications only)");
    }
    out->programs = calloc((size_t)n, sizeof *out->programs);
    if (out->programs == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int i = 0;
    for (const cJSON *it = programs->child; it != NULL; it = it->next, i++) {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) > 128) {
            return fail(err, errlen, "openadr.programs[%d]: must be a name of 1 to 128 bytes", i);
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(out->programs[j], it->valuestring) == 0) {
                return fail(err, errlen,
                            "openadr.programs[%d]: \"%.64s\" is already openadr.programs[%d]", i,
                            it->valuestring, j);
            }
        }
        out->programs[i] = strdup(it->valuestring);
        out->n_programs = i + 1;
        if (out->programs[i] == NULL) {
            return GRIDEMS_ENOMEM;
        }
    }
    out->vtn_url = strdup(u);
    out->token_file = strdup(token->valuestring);
    if (out->vtn_url == NULL || out->token_file == NULL) {
        return GRIDEMS_ENOMEM;
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
    memset(out, 0, sizeof *out);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "openadr");
    if (sec == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(sec)) {
        return fail(err, errlen, "openadr: must be an object");
    }
    int rc = read_section(sec, out, err, errlen);
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
        a->timeout_seconds != b->timeout_seconds) {
        return false;
    }
    for (int i = 0; i < a->n_programs; i++) {
        if (strcmp(a->programs[i], b->programs[i]) != 0) {
            return false;
        }
    }
    return true;
}
