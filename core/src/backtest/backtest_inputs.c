/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The backtest's inputs: the price CSV (backtest.md "Price file") and the config the service
 * runs on (the operator's, with what a backtest must set).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backtest.h"
#include "file_util.h"
#include "gridems/errors.h"
#include "timeutil.h"

/* ---- ## The price file ---- */

#define CSV_MAX_FIELDS 64

/* Split a line in place at commas; returns the number of fields (at most max). */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (c == NULL) {
            break;
        }
        *c = '\0';
        p = c + 1;
    }
    for (int i = 0; i < n; i++) {
        char *f = fields[i];
        while (*f == ' ' || *f == '"') {
            f++;
        }
        size_t l = strlen(f);
        while (l > 0 && (f[l - 1] == ' ' || f[l - 1] == '\r' || f[l - 1] == '"')) {
            f[--l] = '\0';
        }
        fields[i] = f;
    }
    return n;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt,
                const char *a, const char *b) __attribute__((format(printf, 5, 0)));
static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt,
                const char *a, const char *b)
{
    char what[BT_ERR_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(what, sizeof what, fmt, a, b);
#pragma GCC diagnostic pop
    if (line > 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, what);
    } else {
        snprintf(err, errlen, "%s: %s", path, what);
    }
    return 2;
}

/* Pick the timestamp and price columns from the header and the first data row. */
static int pick_columns(char **head, int nh, char **row, int nr, const char *column,
                        const char *path, int *ts_col, int *price_col, char *err, size_t errlen)
{
    *ts_col = -1;
    for (int i = 0; i < nh && i < nr; i++) {
        int64_t ms;
        char why[128];
        if ((starts_with(head[i], "timestamp") || starts_with(head[i], "datetime")) &&
            gridems_time_parse_iso(row[i], &ms, NULL, why, sizeof why) == 0) {
            *ts_col = i;
            break;
        }
    }
    if (*ts_col < 0) {
        return fail(err, errlen, path, 1,
                    "no timestamp column: need a column named timestamp* or datetime* with ISO "
                    "8601 times with an offset or Z%s%s",
                    "", "");
    }
    *price_col = -1;
    if (column != NULL) {
        for (int i = 0; i < nh; i++) {
            if (strcmp(head[i], column) == 0) {
                *price_col = i;
            }
        }
        if (*price_col < 0) {
            return fail(err, errlen, path, 1, "--price-column: no column named \"%s\"%s", column,
                        "");
        }
        return 0;
    }
    int found = 0;
    for (int i = 0; i < nh; i++) {
        if (i != *ts_col && strstr(head[i], "price") != NULL) {
            *price_col = i;
            found++;
        }
    }
    if (found != 1) {
        *price_col = -1;
        int others = 0;
        for (int i = 0; i < nh; i++) {
            if (!starts_with(head[i], "timestamp") && !starts_with(head[i], "datetime")) {
                others++;
                *price_col = i;
            }
        }
        if (others != 1) {
            return fail(err, errlen, path, 1,
                        "cannot tell which column holds the price; name it with --price-column%s%s",
                        "", "");
        }
    }
    return 0;
}

int bt_prices_read(const char *path, const char *column, bool per_mwh, double adder,
                   bt_prices_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t len = 0;
    int frc = gridems_read_file(path, &text, &len);
    if (frc != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, gridems_strerror(frc));
        return 2;
    }
    char *head[CSV_MAX_FIELDS];
    int nh = 0, ts_col = -1, price_col = -1, lineno = 0, cap = 0, rc = 0;
    int64_t prev_ms = 0;
    char *cursor = text;
    while (cursor != NULL && *cursor != '\0' && rc == 0) {
        char *line = cursor;
        char *nl = strchr(cursor, '\n');
        if (nl != NULL) {
            *nl = '\0';
            cursor = nl + 1;
        } else {
            cursor = NULL;
        }
        lineno++;
        if (line[0] == '\0' || line[0] == '\r' || line[0] == '#') {
            continue;
        }
        if (nh == 0) {
            nh = split(line, head, CSV_MAX_FIELDS);
            continue;
        }
        char *row[CSV_MAX_FIELDS];
        int nr = split(line, row, CSV_MAX_FIELDS);
        if (ts_col < 0 && (rc = pick_columns(head, nh, row, nr, column, path, &ts_col, &price_col,
                                             err, errlen)) != 0) {
            break;
        }
        if (nr <= ts_col || nr <= price_col) {
            rc = fail(err, errlen, path, lineno, "has %s fields, the header %s", "too few", "more");
            break;
        }
        int64_t ms;
        char why[160];
        if (gridems_time_parse_iso(row[ts_col], &ms, NULL, why, sizeof why) != 0) {
            rc = fail(err, errlen, path, lineno, "column %s: %s", head[ts_col], why);
            break;
        }
        char *end = NULL;
        double v = strtod(row[price_col], &end);
        if (row[price_col][0] == '\0' || end == NULL || *end != '\0' || v != v || v > 1e9 ||
            v < -1e9) {
            rc = fail(err, errlen, path, lineno, "column %s: not a number: \"%.40s\"",
                      head[price_col], row[price_col]);
            break;
        }
        if (out->n == 1) {
            out->step_ms = ms - prev_ms;
            if (out->step_ms <= 0) {
                rc = fail(err, errlen, path, lineno, "column %s: %s", head[ts_col],
                          out->step_ms == 0 ? "duplicate timestamp" : "timestamp out of order");
                break;
            }
        } else if (out->n > 1 && ms != prev_ms + out->step_ms) {
            rc = fail(err, errlen, path, lineno, "column %s: %s", head[ts_col],
                      ms == prev_ms  ? "duplicate timestamp"
                      : ms < prev_ms ? "timestamp out of order"
                                     : "a gap: the rows are not evenly spaced");
            break;
        }
        if (out->n == cap) {
            cap = cap > 0 ? cap * 2 : 1024;
            double *grown = realloc(out->per_kwh, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                rc = fail(err, errlen, path, lineno, "out of memory%s%s", "", "");
                break;
            }
            out->per_kwh = grown;
        }
        if (out->n == 0) {
            out->start_ms = ms;
        }
        out->per_kwh[out->n++] = (per_mwh ? v / 1000.0 : v) + adder;
        prev_ms = ms;
    }
    free(text);
    if (rc == 0 && out->n < 2) {
        rc = fail(err, errlen, path, 0, "needs at least two price rows%s%s", "", "");
    }
    if (rc != 0) {
        bt_prices_free(out);
    }
    return rc;
}

void bt_prices_free(bt_prices_t *p)
{
    free(p->per_kwh);
    memset(p, 0, sizeof *p);
}

static double price_at_row(const bt_prices_t *p, int64_t i)
{
    return p->per_kwh[i < 0 ? 0 : i >= p->n ? p->n - 1 : i];
}

double bt_prices_mean(const bt_prices_t *p, int64_t t0, int64_t t1)
{
    if (t1 <= t0) {
        return price_at_row(p, (t0 - p->start_ms) / p->step_ms);
    }
    double sum = 0;
    int64_t t = t0;
    while (t < t1) {
        int64_t off = t - p->start_ms;
        int64_t row = off >= 0 ? off / p->step_ms : -1 - (-off - 1) / p->step_ms;
        int64_t row_end = p->start_ms + (row + 1) * p->step_ms;
        int64_t until = row_end < t1 ? row_end : t1;
        sum += price_at_row(p, row) * (double)(until - t);
        t = until;
    }
    return sum / (double)(t1 - t0);
}

bool bt_prices_cover(const bt_prices_t *p, int64_t t0, int64_t t1)
{
    return t0 >= p->start_ms && t1 <= p->start_ms + (int64_t)p->n * p->step_ms;
}

/* ---- ## The config the service runs on ---- */

static cJSON *options_of(cJSON *inst)
{
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(inst, "options");
    if (opts == NULL) {
        opts = cJSON_AddObjectToObject(inst, "options");
    }
    return cJSON_IsObject(opts) ? opts : NULL;
}

static void set_number(cJSON *obj, const char *key, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddNumberToObject(obj, key, v);
}

static void set_string(cJSON *obj, const char *key, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddStringToObject(obj, key, v);
}

static cJSON *object_member(cJSON *root, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (o == NULL) {
        o = cJSON_AddObjectToObject(root, key);
    }
    return cJSON_IsObject(o) ? o : NULL;
}

/* A relative file option of a simulated device is relative to the config file's directory. */
static void resolve_path(cJSON *opts, const char *key, const char *config_path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);
    if (!cJSON_IsString(v) || v->valuestring[0] == '/' || v->valuestring[0] == '\0') {
        return;
    }
    const char *slash = strrchr(config_path, '/');
    char full[4200];
    if (slash == NULL) {
        snprintf(full, sizeof full, "./%s", v->valuestring);
    } else {
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - config_path), config_path,
                 v->valuestring);
    }
    set_string(opts, key, full);
}

int bt_write_config(const bt_options_t *o, const char *dir, int port, int64_t clock_start_ms,
                    bt_device_t *devs, int *n_devs, int max_devs, char *out_path, size_t out_len,
                    char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    *n_devs = 0;
    int frc = gridems_read_file(o->config_path, &text, &len);
    if (frc != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", o->config_path, gridems_strerror(frc));
        return 2;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: not a JSON object", o->config_path);
        return 2;
    }
    int rc = 0;
    char iso[GRIDEMS_TIME_ISO_BUFLEN], uri[64], state_dir[4200];
    cJSON *site = cJSON_GetObjectItemCaseSensitive(root, "site");
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(site, "utc_offset");
    int offset_min = 0;
    if (cJSON_IsString(offset)) {
        int64_t probe;
        char probe_text[64], why[64];
        snprintf(probe_text, sizeof probe_text, "2000-01-01T00:00:00%s", offset->valuestring);
        if (gridems_time_parse_iso(probe_text, &probe, &offset_min, why, sizeof why) != 0) {
            offset_min = 0;
        }
    }
    gridems_time_format_iso(clock_start_ms, offset_min, iso, sizeof iso);
    cJSON *clock = object_member(root, "clock");
    cJSON *mqtt = object_member(root, "mqtt");
    if (clock == NULL || mqtt == NULL) {
        snprintf(err, errlen, "%s: \"clock\" and \"mqtt\" must be objects", o->config_path);
        cJSON_Delete(root);
        return 2;
    }
    /* The lockstep replaces the clock; the config check still wants a valid simulated one. */
    set_string(clock, "mode", "simulated");
    set_string(clock, "start", iso);
    set_number(clock, "speed", 1);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", port);
    set_string(mqtt, "uri", uri);
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    set_string(root, "state_dir", state_dir);
    /* A replay serves no HTTP: the site's port is the live service's, which may well be running. */
    cJSON_DeleteItemFromObjectCaseSensitive(root, "http");
    cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    const cJSON *inst;
    int index = 0;
    cJSON_ArrayForEach(inst, plugins)
    {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(inst, "plugin");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(inst, "name");
        cJSON *opts = options_of((cJSON *)inst);
        if (!cJSON_IsString(kind) || opts == NULL) {
            index++;
            continue; /* the service's own check names what is wrong */
        }
        bt_dev_kind_t k;
        if (strcmp(kind->valuestring, "battery_sim") == 0) {
            k = BT_DEV_BATTERY;
        } else if (strcmp(kind->valuestring, "meter_sim") == 0) {
            k = BT_DEV_METER;
        } else if (strcmp(kind->valuestring, "cluster_sim") == 0) {
            k = BT_DEV_CLUSTER;
        } else {
            snprintf(err, errlen,
                     "%s: plugins[%d].plugin: a backtest runs simulated devices only "
                     "(battery_sim, meter_sim, cluster_sim), got \"%.40s\"",
                     o->config_path, index, kind->valuestring);
            rc = 2;
            break;
        }
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(opts, "topic_prefix");
        if (!cJSON_IsString(prefix) || *n_devs == max_devs) {
            snprintf(err, errlen, "%s: plugins[%d].options.topic_prefix: required (a string)",
                     o->config_path, index);
            rc = 2;
            break;
        }
        bt_device_t *d = &devs[(*n_devs)++];
        memset(d, 0, sizeof *d);
        d->kind = k;
        snprintf(d->name, sizeof d->name, "%s", cJSON_IsString(name) ? name->valuestring : "?");
        snprintf(d->topic, sizeof d->topic, "%s/telemetry", prefix->valuestring);
        /* Telemetry at every tick, on a grid that the steps' boundaries lie on. */
        set_number(opts, "tick_ms", (double)o->tick_seconds * 1000);
        set_number(opts, "telemetry_interval_ms", (double)o->tick_seconds * 1000);
        resolve_path(opts, "profile", o->config_path);
        resolve_path(opts, "jobs", o->config_path);
        if (k == BT_DEV_BATTERY) {
            const cJSON *cc = cJSON_GetObjectItemCaseSensitive(opts, "cycle_cost_per_kwh");
            d->cycle_cost_per_kwh = cJSON_IsNumber(cc) ? cc->valuedouble : 0;
        } else if (k == BT_DEV_METER) {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(opts, "role");
            d->load_role = !cJSON_IsString(role) || strcmp(role->valuestring, "load") == 0;
            set_number(opts, "seed", (double)o->seed);
            if (o->load_path != NULL) {
                set_string(opts, "profile", o->load_path);
                cJSON_DeleteItemFromObjectCaseSensitive(opts, "interpolate");
                cJSON_AddBoolToObject(opts, "interpolate", 0);
            }
        } else if (o->jobs_path != NULL) {
            set_string(opts, "jobs", o->jobs_path);
        }
        index++;
    }
    if (rc == 0) {
        snprintf(out_path, out_len, "%s/site.json", dir);
        char *json = cJSON_Print(root);
        FILE *f = json != NULL ? fopen(out_path, "w") : NULL;
        if (f == NULL || fputs(json, f) < 0 || fclose(f) != 0) {
            snprintf(err, errlen, "%s: cannot write", out_path);
            rc = 1;
        }
        free(json);
    }
    cJSON_Delete(root);
    return rc;
}
