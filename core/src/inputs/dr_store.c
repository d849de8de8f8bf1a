/* SPDX-License-Identifier: GPL-3.0-or-later */
/* DR events across restarts (dr_store.h). */
#include "dr_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "timeutil.h"

#define DR_STORE_KIND "gridems-dr-events"
#define DR_STORE_VERSION 1

char *gridems_dr_store_to_json(const gridems_dr_events_t *set)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *events = root != NULL ? cJSON_CreateArray() : NULL;
    if (events == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddNumberToObject(root, "version", DR_STORE_VERSION);
    cJSON_AddStringToObject(root, "kind", DR_STORE_KIND);
    cJSON_AddItemToObject(root, "events", events);
    for (size_t i = 0; i < set->n; i++) {
        const gridems_dr_event_t *e = &set->ev[i];
        char start[64], end[64];
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || gridems_time_format_iso(e->start_ms, 0, start, sizeof start) != 0 ||
            gridems_time_format_iso(e->end_ms, 0, end, sizeof end) != 0) {
            cJSON_Delete(item);
            continue; /* cannot happen for an event that passed the parser */
        }
        cJSON_AddStringToObject(item, "id", e->id);
        cJSON_AddStringToObject(item, "start", start);
        cJSON_AddStringToObject(item, "end", end);
        cJSON_AddNumberToObject(item, "import_limit_kw", e->import_limit_kw);
        cJSON_AddItemToArray(events, item);
    }
    char *printed = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *text = printed != NULL ? strdup(printed) : NULL;
    cJSON_free(printed);
    return text;
}

int gridems_dr_store_parse(const char *text, size_t len, const char *name, gridems_dr_events_t *set,
                           char *err, size_t errlen)
{
    char why[256] = "";
    cJSON *root = NULL;
    int rc = gridems_json_parse_strict(text, len, &root, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", name, why);
        return rc;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
    rc = GRIDEMS_EINVAL;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: must be a JSON object", name);
    } else if (!cJSON_IsNumber(version) || version->valuedouble != DR_STORE_VERSION) {
        snprintf(err, errlen, "%s: version: must be %d", name, DR_STORE_VERSION);
    } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, DR_STORE_KIND) != 0) {
        snprintf(err, errlen, "%s: kind: must be \"%s\"", name, DR_STORE_KIND);
    } else if (!cJSON_IsArray(events)) {
        snprintf(err, errlen, "%s: events: must be an array", name);
    } else {
        rc = 0;
        int i = 0;
        for (const cJSON *it = events->child; it != NULL && rc == 0; it = it->next, i++) {
            gridems_dr_msg_t msg;
            rc = gridems_dr_msg_parse_cjson(it, &msg, why, sizeof why);
            if (rc == 0 && msg.cancel) {
                snprintf(why, sizeof why, "cancel: not allowed in a stored event");
                rc = GRIDEMS_EINVAL;
            }
            if (rc == 0) {
                rc = gridems_dr_events_apply(set, &msg, NULL);
                snprintf(why, sizeof why, "%s", gridems_strerror(rc));
            }
            if (rc != 0) {
                snprintf(err, errlen, "%s: events[%d]: %s", name, i, why);
            }
        }
    }
    cJSON_Delete(root);
    if (rc != 0) {
        gridems_dr_events_close(set);
        gridems_dr_events_init(set);
    }
    return rc;
}

static char *path_in(const char *dir)
{
    size_t n = strlen(dir) + sizeof "/" GRIDEMS_DR_STORE_FILE;
    char *path = malloc(n);
    if (path != NULL) {
        snprintf(path, n, "%s/%s", dir, GRIDEMS_DR_STORE_FILE);
    }
    return path;
}

int gridems_dr_store_save(const char *dir, const gridems_dr_events_t *set, char *err, size_t errlen)
{
    char *path = path_in(dir);
    char *text = path != NULL ? gridems_dr_store_to_json(set) : NULL;
    int rc = text == NULL ? GRIDEMS_ENOMEM : gridems_write_file_atomic(path, text, strlen(text));
    int cause = errno;
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path != NULL ? path : dir,
                 rc == GRIDEMS_ENOMEM ? "out of memory" : strerror(cause));
    }
    free(text);
    free(path);
    errno = cause;
    return rc;
}

int gridems_dr_store_load(const char *dir, gridems_dr_events_t *set, char *err, size_t errlen)
{
    char *path = path_in(dir);
    if (path == NULL) {
        return GRIDEMS_ENOMEM;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(path, &text, &len);
    if (rc == GRIDEMS_ENOENT) {
        rc = 0;
    } else if (rc != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, gridems_strerror(rc));
    } else {
        rc = gridems_dr_store_parse(text, len, path, set, err, errlen);
    }
    free(text);
    free(path);
    return rc;
}
