/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Load history and forecast stores as files; see history_store.h for the formats and rules. */
#include "history_store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error_text.h"
#include "file_util.h"
#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "state_reader.h"
#include "timeutil.h"

/* A mean load beyond this (1 TW) is an encoding error, not a site. */
#define MAX_LOAD_KW 1e9

static int join_path(const char *dir, const char *file, char **out)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    *out = malloc(n);
    if (*out == NULL) {
        return GRIDEMS_ENOMEM;
    }
    snprintf(*out, n, "%s/%s", dir, file);
    return 0;
}

void gridems_history_forecast_file(const char *store, char *name, size_t len)
{
    snprintf(name, len, "forecast_%.40s.json", store);
}

/* The root keys of a file: every one is required but those marked optional, no other. */
static int check_root(const state_reader_t *r, const cJSON *root, const char *kind,
                      const char *const *keys)
{
    if (!cJSON_IsObject(root)) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, NULL, "must be a JSON object");
    }
    for (const cJSON *it = root->child; it != NULL; it = it->next) {
        bool known = false;
        for (int i = 0; keys[i] != NULL; i++) {
            known = known || strcmp(it->string, keys[i]) == 0;
        }
        if (!known) {
            return gridems_state_reader_fail(r, GRIDEMS_EINVAL, it->string, "unknown key");
        }
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(v) || v->valuedouble != GRIDEMS_HISTORY_VERSION) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "version",
                                         "must be %d (another program or version wrote it)",
                                         GRIDEMS_HISTORY_VERSION);
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(k) || strcmp(k->valuestring, kind) != 0) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, "kind",
                                         "must be \"%s\" (a foreign file)", kind);
    }
    return 0;
}

static int write_text(const char *path, char *text, char *err, size_t errlen)
{
    if (text == NULL) {
        gridems_set_err(err, errlen, "%s: %s", path, "out of memory");
        return GRIDEMS_ENOMEM;
    }
    int rc = gridems_write_file_atomic(path, text, strlen(text));
    int cause = errno; /* the real cause (file_util.h), for the status */
    free(text);
    if (rc != 0) {
        gridems_set_err(err, errlen, "%s: cannot write: %s", path, strerror(cause));
    }
    errno = cause;
    return rc;
}

static int read_text(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    int rc = gridems_read_file(path, text, len);
    if (rc != 0 && rc != GRIDEMS_ENOENT) {
        gridems_set_err(err, errlen, "%s: cannot read: %s", path, gridems_strerror(rc));
    }
    return rc;
}

/* Write text (taken; NULL = out of memory) atomically as dir/file. */
static int save_in(const char *dir, const char *file, char *text, char *err, size_t errlen)
{
    char *path = NULL;
    if (join_path(dir, file, &path) != 0) {
        free(text);
        return GRIDEMS_ENOMEM;
    }
    int rc = write_text(path, text, err, errlen);
    free(path);
    return rc;
}

/* What restore does after reading a file: text (len bytes) validated and applied to the target;
 * name prefixes the errors. The three kinds of file each have one (parse_*_into below). */
typedef int (*history_parser_t)(const char *text, size_t len, const char *name, void *target,
                                size_t *n_restored, char *err, size_t errlen);

/* Read dir/file and hand it to parse: the skeleton of every restore function. */
static int restore_file(const char *dir, const char *file, history_parser_t parse, void *target,
                        size_t *n_restored, char *err, size_t errlen)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    if (n_restored != NULL) {
        *n_restored = 0;
    }
    int rc = join_path(dir, file, &path);
    if (rc == 0) {
        rc = read_text(path, &text, &len, err, errlen);
    }
    if (rc == 0) {
        rc = parse(text, len, path, target, n_restored, err, errlen);
    }
    free(text);
    free(path);
    return rc;
}

/* ---- ## Load history ---- */

char *gridems_history_load_to_json(const gridems_load_forecast_t *lf)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *steps = cJSON_CreateArray();
    if (root == NULL || steps == NULL || lf->bucket == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(steps);
        return NULL;
    }
    cJSON_AddNumberToObject(root, "version", GRIDEMS_HISTORY_VERSION);
    cJSON_AddStringToObject(root, "kind", "load_history");
    cJSON_AddNumberToObject(root, "step_minutes", (double)(lf->cfg.step_ms / 60000));
    cJSON_AddItemToObject(root, "steps", steps);
    bool ok = true;
    /* Oldest first, so that a reader adding them in order never drops one as too old. */
    for (int64_t k = lf->newest_slot - (int64_t)lf->n_buckets + 1;
         ok && lf->newest_slot != INT64_MIN && k <= lf->newest_slot; k++) {
        int64_t nb = (int64_t)lf->n_buckets, r = k % nb;
        const gridems_load_bucket_t *b = &lf->bucket[r < 0 ? r + nb : r];
        if (b->slot != k || b->count == 0) {
            continue;
        }
        char start[GRIDEMS_TIME_ISO_BUFLEN];
        if (gridems_time_format_iso(gridems_load_forecast_slot_start_ms(lf, k), lf->cfg.offset_min,
                                    start, sizeof start) != 0) {
            continue;
        }
        cJSON *e = cJSON_CreateArray();
        ok = e != NULL && cJSON_AddItemToArray(steps, e);
        ok = ok && cJSON_AddItemToArray(e, cJSON_CreateString(start)) &&
             cJSON_AddItemToArray(e, cJSON_CreateNumber(b->sum / (double)b->count)) &&
             cJSON_AddItemToArray(e, cJSON_CreateNumber((double)b->count));
    }
    char *text = ok ? gridems__json_print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

typedef struct step_entry_s {
    int64_t start_ms;
    double mean_kw;
    uint32_t count;
} step_entry_t;

static int read_step(const state_reader_t *r, const gridems_load_forecast_t *lf, const cJSON *e,
                     int i, step_entry_t *out)
{
    char path[48];
    snprintf(path, sizeof path, "steps[%d]", i);
    if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3) {
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must be [start, mean_kw, count]");
    }
    const cJSON *s = cJSON_GetArrayItem(e, 0), *m = cJSON_GetArrayItem(e, 1),
                *c = cJSON_GetArrayItem(e, 2);
    char ts_err[128] = "";
    if (!cJSON_IsString(s) ||
        gridems_time_parse_iso(s->valuestring, &out->start_ms, NULL, ts_err, sizeof ts_err) != 0) {
        snprintf(path, sizeof path, "steps[%d][0]", i);
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must be an ISO time with offset%s%s",
                                         ts_err[0] ? ": " : "", ts_err);
    }
    double mean = 0.0;
    if (gridems_load_forecast_step_mean(lf, out->start_ms, &mean) == GRIDEMS_EINVAL) {
        snprintf(path, sizeof path, "steps[%d][0]", i);
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path,
                                         "must start a step of the planning grid");
    }
    if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble) || fabs(m->valuedouble) > MAX_LOAD_KW) {
        snprintf(path, sizeof path, "steps[%d][1]", i);
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "must be a number within +-%g",
                                         MAX_LOAD_KW);
    }
    if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) || c->valuedouble < 1 ||
        c->valuedouble > (double)UINT32_MAX) {
        snprintf(path, sizeof path, "steps[%d][2]", i);
        return gridems_state_reader_fail(r, GRIDEMS_EINVAL, path, "must be an integer in 1..%u",
                                         UINT32_MAX);
    }
    out->mean_kw = m->valuedouble;
    out->count = (uint32_t)c->valuedouble;
    return 0;
}

int gridems_history_parse_load(const char *text, size_t len, const char *name,
                               gridems_load_forecast_t *lf, size_t *n_restored, char *err,
                               size_t errlen)
{
    static const char *const keys[] = {"version", "kind", "step_minutes", "steps", NULL};
    state_reader_t r = {name, err, errlen};
    cJSON *root = NULL;
    step_entry_t *v = NULL;
    if (n_restored != NULL) {
        *n_restored = 0;
    }
    int rc = gridems_state_reader_parse(&r, text, len, &root);
    if (rc == 0) {
        rc = check_root(&r, root, "load_history", keys);
    }
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "step_minutes");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    double mine = (double)(lf->cfg.step_ms / 60000);
    if (rc == 0 && (!cJSON_IsNumber(step) || step->valuedouble != mine)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "step_minutes",
                                       "must be the service's step, %g minutes", mine);
    }
    int n = cJSON_IsArray(steps) ? cJSON_GetArraySize(steps) : -1;
    if (rc == 0 && (n < 0 || (size_t)n > lf->n_buckets)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "steps",
                                       "must be an array of at most %zu steps", lf->n_buckets);
    }
    if (rc == 0 && n > 0 && (v = malloc((size_t)n * sizeof *v)) == NULL) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    int i = 0;
    for (const cJSON *e = rc == 0 ? steps->child : NULL; e != NULL && rc == 0; e = e->next, i++) {
        rc = read_step(&r, lf, e, i, &v[i]);
        if (rc == 0 && i > 0 && v[i].start_ms <= v[i - 1].start_ms) {
            char path[48];
            snprintf(path, sizeof path, "steps[%d][0]", i);
            rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, path,
                                           "must be after the step before it");
        }
    }
    /* Added only once the whole file has passed. */
    for (int k = 0; rc == 0 && k < n; k++) {
        rc = gridems_load_forecast_add_step(lf, v[k].start_ms, v[k].mean_kw, v[k].count);
    }
    if (rc == 0 && n_restored != NULL) {
        *n_restored = (size_t)n;
    }
    free(v);
    cJSON_Delete(root);
    return rc;
}

int gridems_history_save_load(const char *dir, const gridems_load_forecast_t *lf, char *err,
                              size_t errlen)
{
    return save_in(dir, GRIDEMS_HISTORY_LOAD_FILE, gridems_history_load_to_json(lf), err, errlen);
}

static int parse_load_into(const char *text, size_t len, const char *name, void *lf,
                           size_t *n_restored, char *err, size_t errlen)
{
    return gridems_history_parse_load(text, len, name, lf, n_restored, err, errlen);
}

int gridems_history_restore_load(const char *dir, gridems_load_forecast_t *lf, size_t *n_restored,
                                 char *err, size_t errlen)
{
    return restore_file(dir, GRIDEMS_HISTORY_LOAD_FILE, parse_load_into, lf, n_restored, err,
                        errlen);
}

/* ---- ## Forecast stores ---- */

char *gridems_history_forecast_to_json(const char *store, const gridems_forecast_t *f)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *iv = cJSON_CreateArray();
    if (root == NULL || iv == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(iv);
        return NULL;
    }
    cJSON_AddNumberToObject(root, "version", GRIDEMS_HISTORY_VERSION);
    cJSON_AddStringToObject(root, "kind", "forecast");
    cJSON_AddStringToObject(root, "store", store);
    if (f->currency[0] != '\0') {
        cJSON_AddStringToObject(root, "currency", f->currency);
    }
    cJSON_AddItemToObject(root, "intervals", iv);
    bool ok = true;
    for (size_t i = 0; ok && i < f->n; i++) {
        char a[GRIDEMS_TIME_ISO_BUFLEN], b[GRIDEMS_TIME_ISO_BUFLEN];
        cJSON *e = cJSON_CreateObject();
        ok = e != NULL && cJSON_AddItemToArray(iv, e) &&
             gridems_time_format_iso(f->iv[i].start_ms, 0, a, sizeof a) == 0 &&
             gridems_time_format_iso(f->iv[i].end_ms, 0, b, sizeof b) == 0 &&
             cJSON_AddStringToObject(e, "start", a) != NULL &&
             cJSON_AddStringToObject(e, "end", b) != NULL &&
             cJSON_AddNumberToObject(e, "value", f->iv[i].value) != NULL;
    }
    char *text = ok ? gridems__json_print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

int gridems_history_parse_forecast(const char *text, size_t len, const char *name,
                                   const char *store, gridems_forecast_t *f, size_t *n_restored,
                                   char *err, size_t errlen)
{
    static const char *const keys[] = {"version", "kind", "store", "currency", "intervals", NULL};
    state_reader_t r = {name, err, errlen};
    cJSON *root = NULL;
    if (n_restored != NULL) {
        *n_restored = 0;
    }
    int rc = gridems_state_reader_parse(&r, text, len, &root);
    if (rc == 0) {
        rc = check_root(&r, root, "forecast", keys);
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "store");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "currency");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(root, "intervals");
    if (rc == 0 && (!cJSON_IsString(st) || strcmp(st->valuestring, store) != 0)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "store",
                                       "must be \"%s\" (a foreign file)", store);
    }
    if (rc == 0 && cur != NULL &&
        (!cJSON_IsString(cur) ||
         (f->currency[0] != '\0' && strcasecmp(cur->valuestring, f->currency) != 0))) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "currency",
                                       "must be the site's currency \"%s\"", f->currency);
    }
    if (rc == 0 && (!cJSON_IsArray(iv) || cJSON_GetArraySize(iv) > GRIDEMS_FORECAST_MAX_STORED)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "intervals",
                                       "must be an array of at most %d intervals",
                                       GRIDEMS_FORECAST_MAX_STORED);
    }
    if (rc == 0 && cJSON_GetArraySize(iv) > 0) {
        /* The forecast parser's own rules, as for a received message. */
        gridems_forecast_msg_t msg;
        char why[384] = "";
        rc = gridems_forecast_msg_parse_cjson(f->kind, iv, &msg, why, sizeof why);
        if (rc == 0) {
            if (cJSON_IsString(cur) && f->kind == GRIDEMS_FORECAST_PRICE) {
                snprintf(msg.currency, sizeof msg.currency, "%.15s", cur->valuestring);
            }
            rc = gridems_forecast_apply(f, &msg, why, sizeof why);
            if (rc == 0 && n_restored != NULL) {
                *n_restored = msg.n;
            }
            gridems_forecast_msg_free(&msg);
        }
        if (rc != 0) {
            rc = gridems_state_reader_fail(&r, rc, "intervals", "%s",
                                           why[0] != '\0' ? why : gridems_strerror(rc));
        }
    }
    cJSON_Delete(root);
    return rc;
}

int gridems_history_save_forecast(const char *dir, const char *store, const gridems_forecast_t *f,
                                  char *err, size_t errlen)
{
    char name[64];
    gridems_history_forecast_file(store, name, sizeof name);
    return save_in(dir, name, gridems_history_forecast_to_json(store, f), err, errlen);
}

typedef struct forecast_target_s {
    const char *store;
    gridems_forecast_t *f;
} forecast_target_t;

static int parse_forecast_into(const char *text, size_t len, const char *name, void *target,
                               size_t *n_restored, char *err, size_t errlen)
{
    forecast_target_t *t = target;
    return gridems_history_parse_forecast(text, len, name, t->store, t->f, n_restored, err, errlen);
}

int gridems_history_restore_forecast(const char *dir, const char *store, gridems_forecast_t *f,
                                     size_t *n_restored, char *err, size_t errlen)
{
    char name[64];
    gridems_history_forecast_file(store, name, sizeof name);
    forecast_target_t target = {store, f};
    return restore_file(dir, name, parse_forecast_into, &target, n_restored, err, errlen);
}

/* ---- ## Peak margin errors ---- */

char *gridems_history_margin_to_json(const gridems_peak_margin_t *pm)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *errors = cJSON_CreateArray();
    char last[GRIDEMS_TIME_ISO_BUFLEN] = "";
    if (root == NULL || errors == NULL || pm->err == NULL || pm->n == 0 ||
        gridems_time_format_iso(pm->last_step_ms, 0, last, sizeof last) != 0) {
        cJSON_Delete(root);
        cJSON_Delete(errors);
        return NULL;
    }
    cJSON_AddNumberToObject(root, "version", GRIDEMS_HISTORY_VERSION);
    cJSON_AddStringToObject(root, "kind", "peak_margin");
    cJSON_AddStringToObject(root, "last_step", last);
    cJSON_AddItemToObject(root, "errors", errors);
    bool ok = true;
    for (int i = 0; ok && i < pm->n; i++) {
        ok = cJSON_AddItemToArray(errors, cJSON_CreateNumber(gridems_peak_margin_error_at(pm, i)));
    }
    char *text = ok ? gridems__json_print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

int gridems_history_parse_margin(const char *text, size_t len, const char *name,
                                 gridems_peak_margin_t *pm, size_t *n_restored, char *err,
                                 size_t errlen)
{
    static const char *const keys[] = {"version", "kind", "last_step", "errors", NULL};
    state_reader_t r = {name, err, errlen};
    cJSON *root = NULL;
    double *v = NULL;
    int64_t last_ms = 0;
    if (n_restored != NULL) {
        *n_restored = 0;
    }
    int rc = gridems_state_reader_parse(&r, text, len, &root);
    if (rc == 0) {
        rc = check_root(&r, root, "peak_margin", keys);
    }
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(root, "last_step");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
    if (rc == 0 && (!cJSON_IsString(last) ||
                    gridems_time_parse_iso(last->valuestring, &last_ms, NULL, NULL, 0) != 0)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "last_step",
                                       "must be an ISO time with offset");
    }
    int n = cJSON_IsArray(errors) ? cJSON_GetArraySize(errors) : -1;
    if (rc == 0 && (n < 1 || n > GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW)) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, "errors",
                                       "must be an array of 1 to %d numbers",
                                       GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW);
    }
    if (rc == 0 && (v = malloc((size_t)n * sizeof *v)) == NULL) {
        rc = gridems_state_reader_fail(&r, GRIDEMS_ENOMEM, NULL, "out of memory");
    }
    int i = 0;
    for (const cJSON *e = rc == 0 ? errors->child : NULL; e != NULL && rc == 0; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > MAX_LOAD_KW) {
            char path[48];
            snprintf(path, sizeof path, "errors[%d]", i);
            rc = gridems_state_reader_fail(&r, GRIDEMS_EINVAL, path, "must be a number within +-%g",
                                           MAX_LOAD_KW);
        } else {
            v[i] = e->valuedouble;
        }
    }
    if (rc == 0) {
        rc = gridems_peak_margin_restore(pm, v, n, last_ms);
    }
    if (rc == 0 && n_restored != NULL) {
        *n_restored = (size_t)n;
    }
    free(v);
    cJSON_Delete(root);
    return rc;
}

int gridems_history_save_margin(const char *dir, const gridems_peak_margin_t *pm, char *err,
                                size_t errlen)
{
    if (pm->n == 0) {
        return 0; /* nothing measured yet: an older file stays as it is */
    }
    return save_in(dir, GRIDEMS_HISTORY_MARGIN_FILE, gridems_history_margin_to_json(pm), err,
                   errlen);
}

static int parse_margin_into(const char *text, size_t len, const char *name, void *pm,
                             size_t *n_restored, char *err, size_t errlen)
{
    return gridems_history_parse_margin(text, len, name, pm, n_restored, err, errlen);
}

int gridems_history_restore_margin(const char *dir, gridems_peak_margin_t *pm, size_t *n_restored,
                                   char *err, size_t errlen)
{
    return restore_file(dir, GRIDEMS_HISTORY_MARGIN_FILE, parse_margin_into, pm, n_restored, err,
                        errlen);
}
