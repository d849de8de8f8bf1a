/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The file of what the VEN applied; see openadr_applied.h. */
#include "openadr_applied.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "optimizer_internal.h"
#include "timeutil.h"

char *gridems_oadr_applied_to_json(gridems_oadr_piece_t *const *pieces, const size_t *n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *sigs = NULL;
    bool ok = root != NULL && cJSON_AddNumberToObject(root, "version", 1) != NULL &&
              cJSON_AddStringToObject(root, "kind", GRIDEMS_OADR_APPLIED_KIND) != NULL &&
              (sigs = cJSON_AddObjectToObject(root, "signals")) != NULL;
    for (int s = 0; ok && s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        cJSON *arr = cJSON_AddArrayToObject(sigs, gridems_oadr_signal_name(s));
        ok = arr != NULL;
        for (size_t i = 0; ok && i < n[s]; i++) {
            char a[GRIDEMS_TIME_ISO_BUFLEN];
            char b[GRIDEMS_TIME_ISO_BUFLEN];
            cJSON *o = cJSON_CreateObject();
            ok = o != NULL && cJSON_AddItemToArray(arr, o) &&
                 gridems_time_format_iso(pieces[s][i].start_ms, 0, a, sizeof a) == 0 &&
                 gridems_time_format_iso(pieces[s][i].end_ms, 0, b, sizeof b) == 0 &&
                 cJSON_AddStringToObject(o, "start", a) != NULL &&
                 cJSON_AddStringToObject(o, "end", b) != NULL &&
                 gridems__json_add_number(o, "value", pieces[s][i].value);
        }
    }
    char *text = ok ? gridems__json_print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* The pieces of one signal (arr may be NULL: none), or GRIDEMS_EINVAL with err set. */
static int read_signal(const cJSON *arr, const char *name, gridems_oadr_piece_t **out, size_t *n,
                       char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL) {
        return 0;
    }
    int count = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || count > GRIDEMS_FORECAST_MAX_STORED) {
        snprintf(err, errlen, "signals.%s: must be an array of at most %d intervals", name,
                 GRIDEMS_FORECAST_MAX_STORED);
        return GRIDEMS_EINVAL;
    }
    if (count == 0) {
        return 0;
    }
    gridems_oadr_piece_t *p = calloc((size_t)count, sizeof *p);
    if (p == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int k = 0;
    const char *rule = NULL;
    for (const cJSON *it = arr->child; it != NULL && rule == NULL; it = it->next, k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "start");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "end");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!cJSON_IsObject(it)) {
            rule = ": must be an object with start, end and value";
        } else if (!cJSON_IsString(a) ||
                   gridems_time_parse_iso(a->valuestring, &p[k].start_ms, NULL, NULL, 0) != 0) {
            rule = ".start: must be an ISO 8601 time";
        } else if (!cJSON_IsString(b) ||
                   gridems_time_parse_iso(b->valuestring, &p[k].end_ms, NULL, NULL, 0) != 0) {
            rule = ".end: must be an ISO 8601 time";
        } else if (p[k].end_ms <= p[k].start_ms) {
            rule = ".end: must be after start";
        } else if (k > 0 && p[k].start_ms < p[k - 1].end_ms) {
            rule = ".start: must not be before the previous interval's end";
        } else if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            rule = ".value: must be a finite number";
        } else {
            p[k].value = v->valuedouble;
        }
    }
    if (rule != NULL) {
        snprintf(err, errlen, "signals.%s[%d]%s", name, k - 1, rule);
        free(p);
        return GRIDEMS_EINVAL;
    }
    *out = p;
    *n = (size_t)k;
    return 0;
}

int gridems_oadr_applied_parse(const char *text, size_t len, gridems_oadr_piece_t **pieces,
                               size_t *n, char *err, size_t errlen)
{
    char why[256] = "";
    for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        pieces[s] = NULL;
        n[s] = 0;
    }
    cJSON *root = NULL;
    int rc = gridems_json_parse_strict(text, len, &root, why, sizeof why);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(root, "signals");
    if (rc != 0) {
        /* why says it */
    } else if (!cJSON_IsObject(root)) {
        rc = GRIDEMS_EINVAL;
        snprintf(why, sizeof why, "must be a JSON object");
    } else if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        rc = GRIDEMS_EINVAL;
        snprintf(why, sizeof why, "version: must be 1");
    } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, GRIDEMS_OADR_APPLIED_KIND) != 0) {
        rc = GRIDEMS_EINVAL;
        snprintf(why, sizeof why, "kind: must be \"%s\"", GRIDEMS_OADR_APPLIED_KIND);
    } else if (!cJSON_IsObject(sigs)) {
        rc = GRIDEMS_EINVAL;
        snprintf(why, sizeof why, "signals: must be an object");
    }
    for (int s = 0; rc == 0 && s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        const char *name = gridems_oadr_signal_name(s);
        rc = read_signal(cJSON_GetObjectItemCaseSensitive(sigs, name), name, &pieces[s], &n[s], why,
                         sizeof why);
    }
    cJSON_Delete(root);
    if (rc != 0) {
        for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
            free(pieces[s]);
            pieces[s] = NULL;
            n[s] = 0;
        }
        snprintf(err, err != NULL ? errlen : 0, "%s", rc == GRIDEMS_ENOMEM ? "out of memory" : why);
    }
    return rc;
}
