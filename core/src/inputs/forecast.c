/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Forecast store: parsing of both message forms, merge-replace, prune and resampling. See
 * forecast.h for the rules; this file only explains how.
 */
#include "forecast.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "timeutil.h"

/* ---- ## Helpers ---- */

static void msg_reset(gridems_forecast_msg_t *msg)
{
    msg->iv = NULL;
    msg->n = 0;
    msg->currency[0] = '\0';
}

/* A currency code: 1..15 printable ASCII characters without spaces. */
static bool valid_currency(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= GRIDEMS_FORECAST_CURRENCY_SIZE) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Check a value against the kind's bound. On failure writes "<path>: ..." and returns false. */
static bool check_value(gridems_forecast_kind_t kind, double v, const char *path, char *err,
                        size_t errlen)
{
    if (kind == GRIDEMS_FORECAST_CARBON) {
        if (!(v >= 0.0 && v <= GRIDEMS_FORECAST_MAX_CARBON)) {
            gridems_set_err(err, errlen, "%s: carbon intensity must be in [0, %g] kg/kWh, got %g",
                            path, GRIDEMS_FORECAST_MAX_CARBON, v);
            return false;
        }
    } else if (!(fabs(v) <= GRIDEMS_FORECAST_MAX_PRICE)) {
        gridems_set_err(err, errlen, "%s: price must be within +-%g per kWh, got %g", path,
                        GRIDEMS_FORECAST_MAX_PRICE, v);
        return false;
    }
    return true;
}

/* The finite number an item holds, or false when it is not one. */
static bool finite_number(const cJSON *item, double *out)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) {
        return false;
    }
    *out = item->valuedouble;
    return true;
}

/* ---- ## Rate array form ---- */

typedef struct {
    gridems_forecast_interval_t iv;
    int index; /* position in the message, for error messages and a stable order */
} indexed_interval_t;

static int cmp_indexed(const void *pa, const void *pb)
{
    const indexed_interval_t *a = pa, *b = pb;
    if (a->iv.start_ms != b->iv.start_ms) {
        return a->iv.start_ms < b->iv.start_ms ? -1 : 1;
    }
    return (a->index > b->index) - (a->index < b->index);
}

static int parse_rate_array(gridems_forecast_kind_t kind, const cJSON *root,
                            gridems_forecast_msg_t *msg, char *err, size_t errlen)
{
    int count = cJSON_GetArraySize(root);
    if (count == 0) {
        gridems_set_err(err, errlen, "message: the rate array has no intervals");
        return GRIDEMS_EINVAL;
    }
    if (count > GRIDEMS_FORECAST_MAX_INTERVALS) {
        gridems_set_err(err, errlen, "message: more than %d intervals",
                        GRIDEMS_FORECAST_MAX_INTERVALS);
        return GRIDEMS_ETOOBIG;
    }
    indexed_interval_t *tmp = malloc((size_t)count * sizeof *tmp);
    if (tmp == NULL) {
        gridems_set_err(err, errlen, "message: out of memory");
        return GRIDEMS_ENOMEM;
    }
    int rc = 0;
    int i = 0;
    const cJSON *el = NULL;
    char path[48];
    cJSON_ArrayForEach(el, root)
    {
        if (!cJSON_IsObject(el)) {
            gridems_set_err(err, errlen, "[%d]: must be an object with start, end and value", i);
            rc = GRIDEMS_EINVAL;
            goto out;
        }
        indexed_interval_t *t = &tmp[i];
        t->index = i;
        snprintf(path, sizeof path, "[%d].start", i);
        rc = gridems_json_time(cJSON_GetObjectItemCaseSensitive(el, "start"), path, &t->iv.start_ms,
                               err, errlen);
        if (rc != 0) {
            goto out;
        }
        snprintf(path, sizeof path, "[%d].end", i);
        rc = gridems_json_time(cJSON_GetObjectItemCaseSensitive(el, "end"), path, &t->iv.end_ms,
                               err, errlen);
        if (rc != 0) {
            goto out;
        }
        if (t->iv.end_ms <= t->iv.start_ms) {
            gridems_set_err(err, errlen, "[%d].end: must be after start", i);
            rc = GRIDEMS_EINVAL;
            goto out;
        }
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(el, "value");
        if (val == NULL) {
            gridems_set_err(err, errlen, "[%d].value: missing", i);
            rc = GRIDEMS_EINVAL;
            goto out;
        }
        if (!finite_number(val, &t->iv.value)) {
            gridems_set_err(err, errlen, "[%d].value: must be a finite number", i);
            rc = GRIDEMS_EINVAL;
            goto out;
        }
        snprintf(path, sizeof path, "[%d].value", i);
        if (!check_value(kind, t->iv.value, path, err, errlen)) {
            rc = GRIDEMS_EINVAL;
            goto out;
        }
        i++;
    }
    /* Elements may come in any order; sort by start and check neighbours for overlap. */
    qsort(tmp, (size_t)count, sizeof *tmp, cmp_indexed);
    for (int k = 1; k < count; k++) {
        if (tmp[k].iv.start_ms < tmp[k - 1].iv.end_ms) {
            int a = tmp[k].index, b = tmp[k - 1].index;
            gridems_set_err(err, errlen, "[%d]: overlaps [%d]", a > b ? a : b, a > b ? b : a);
            rc = GRIDEMS_EINVAL;
            goto out;
        }
    }
    msg->iv = malloc((size_t)count * sizeof *msg->iv);
    if (msg->iv == NULL) {
        gridems_set_err(err, errlen, "message: out of memory");
        rc = GRIDEMS_ENOMEM;
        goto out;
    }
    for (int k = 0; k < count; k++) {
        msg->iv[k] = tmp[k].iv;
    }
    msg->n = (size_t)count;
out:
    free(tmp);
    return rc;
}

/* ---- ## Series form ---- */

static int parse_series(gridems_forecast_kind_t kind, const cJSON *root,
                        gridems_forecast_msg_t *msg, char *err, size_t errlen)
{
    int64_t start = 0;
    int rc = gridems_json_time(cJSON_GetObjectItemCaseSensitive(root, "start"), "start", &start,
                               err, errlen);
    if (rc != 0) {
        return rc;
    }

    const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "step_minutes");
    double step_min = 0.0;
    if (step == NULL) {
        gridems_set_err(err, errlen, "step_minutes: missing");
        return GRIDEMS_EINVAL;
    }
    if (!finite_number(step, &step_min)) {
        gridems_set_err(err, errlen, "step_minutes: must be a finite number");
        return GRIDEMS_EINVAL;
    }
    if (!(step_min > 0.0 && step_min <= GRIDEMS_FORECAST_MAX_STEP_MINUTES)) {
        gridems_set_err(err, errlen, "step_minutes: must be in (0, %g], got %g",
                        GRIDEMS_FORECAST_MAX_STEP_MINUTES, step_min);
        return GRIDEMS_EINVAL;
    }
    int64_t step_ms = llround(step_min * (double)GRIDEMS_TIME_MS_PER_MINUTE);
    if (step_ms < 1) {
        gridems_set_err(err, errlen, "step_minutes: must be at least one millisecond, got %g",
                        step_min);
        return GRIDEMS_EINVAL;
    }

    double divisor = 1.0;
    const cJSON *unit = cJSON_GetObjectItemCaseSensitive(root, "unit");
    if (unit != NULL) {
        if (!cJSON_IsString(unit) || unit->valuestring == NULL) {
            gridems_set_err(err, errlen, "unit: must be \"kWh\" or \"MWh\"");
            return GRIDEMS_EINVAL;
        }
        if (strcasecmp(unit->valuestring, "MWh") == 0) {
            divisor = 1000.0;
        } else if (strcasecmp(unit->valuestring, "kWh") != 0) {
            gridems_set_err(err, errlen, "unit: must be \"kWh\" or \"MWh\", got \"%.32s\"",
                            unit->valuestring);
            return GRIDEMS_EINVAL;
        }
    }

    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "currency");
    if (cur != NULL) {
        if (!cJSON_IsString(cur) || cur->valuestring == NULL || !valid_currency(cur->valuestring)) {
            gridems_set_err(err, errlen,
                            "currency: must be a string of 1 to %d printable characters",
                            GRIDEMS_FORECAST_CURRENCY_SIZE - 1);
            return GRIDEMS_EINVAL;
        }
    }

    const cJSON *values = cJSON_GetObjectItemCaseSensitive(root, "values");
    if (!cJSON_IsArray(values)) {
        gridems_set_err(err, errlen, "values: must be an array of numbers");
        return GRIDEMS_EINVAL;
    }
    int count = cJSON_GetArraySize(values);
    if (count == 0) {
        gridems_set_err(err, errlen, "values: must not be empty");
        return GRIDEMS_EINVAL;
    }
    if (count > GRIDEMS_FORECAST_MAX_INTERVALS) {
        gridems_set_err(err, errlen, "values: more than %d entries",
                        GRIDEMS_FORECAST_MAX_INTERVALS);
        return GRIDEMS_ETOOBIG;
    }
    /* start is within years 0..9999 and count * step_ms <= 1e5 * 8.64e7, so no overflow. */
    gridems_forecast_interval_t *iv = malloc((size_t)count * sizeof *iv);
    if (iv == NULL) {
        gridems_set_err(err, errlen, "message: out of memory");
        return GRIDEMS_ENOMEM;
    }
    int i = 0;
    const cJSON *el = NULL;
    char path[32];
    cJSON_ArrayForEach(el, values)
    {
        double v = 0.0;
        if (!finite_number(el, &v)) {
            gridems_set_err(err, errlen, "values[%d]: must be a finite number", i);
            free(iv);
            return GRIDEMS_EINVAL;
        }
        v /= divisor;
        snprintf(path, sizeof path, "values[%d]", i);
        if (!check_value(kind, v, path, err, errlen)) {
            free(iv);
            return GRIDEMS_EINVAL;
        }
        iv[i].start_ms = start + (int64_t)i * step_ms;
        iv[i].end_ms = iv[i].start_ms + step_ms;
        iv[i].value = v;
        i++;
    }
    msg->iv = iv;
    msg->n = (size_t)count;
    if (cur != NULL) {
        snprintf(msg->currency, sizeof msg->currency, "%s", cur->valuestring);
    }
    return 0;
}

/* ---- ## Message entry points ---- */

int gridems_forecast_msg_parse_cjson(gridems_forecast_kind_t kind, const cJSON *root,
                                     gridems_forecast_msg_t *msg, char *err, size_t errlen)
{
    if (msg == NULL) {
        gridems_set_err(err, errlen, "message: no output");
        return GRIDEMS_EINVAL;
    }
    msg_reset(msg);
    if (kind != GRIDEMS_FORECAST_PRICE && kind != GRIDEMS_FORECAST_CARBON) {
        gridems_set_err(err, errlen, "message: unknown forecast kind");
        return GRIDEMS_EINVAL;
    }
    if (cJSON_IsArray(root)) {
        return parse_rate_array(kind, root, msg, err, errlen);
    }
    if (cJSON_IsObject(root)) {
        return parse_series(kind, root, msg, err, errlen);
    }
    gridems_set_err(err, errlen,
                    "message: must be a rate array [{start, end, value}, ...] or a series object "
                    "{start, step_minutes, values}");
    return GRIDEMS_EINVAL;
}

int gridems_forecast_msg_parse_json(gridems_forecast_kind_t kind, const char *text, size_t len,
                                    gridems_forecast_msg_t *msg, char *err, size_t errlen)
{
    if (msg == NULL) {
        gridems_set_err(err, errlen, "message: no output");
        return GRIDEMS_EINVAL;
    }
    msg_reset(msg);
    /* The one JSON policy for input messages (json_strict.h). */
    cJSON *root = NULL;
    int parsed = gridems_json_parse_message(text, len, GRIDEMS_FORECAST_MAX_MESSAGE_BYTES, &root,
                                            err, errlen);
    if (parsed != 0) {
        return parsed;
    }
    int rc = gridems_forecast_msg_parse_cjson(kind, root, msg, err, errlen);
    cJSON_Delete(root);
    return rc;
}

void gridems_forecast_msg_free(gridems_forecast_msg_t *msg)
{
    if (msg == NULL) {
        return;
    }
    free(msg->iv);
    msg_reset(msg);
}

/* ---- ## Store ---- */

void gridems_forecast_init(gridems_forecast_t *f, gridems_forecast_kind_t kind)
{
    f->kind = kind;
    f->iv = NULL;
    f->n = 0;
    f->currency[0] = '\0';
}

void gridems_forecast_close(gridems_forecast_t *f)
{
    if (f == NULL) {
        return;
    }
    free(f->iv);
    f->iv = NULL;
    f->n = 0;
    f->currency[0] = '\0';
}

int gridems_forecast_set_currency(gridems_forecast_t *f, const char *currency)
{
    if (f == NULL || f->kind != GRIDEMS_FORECAST_PRICE) {
        return GRIDEMS_EINVAL;
    }
    if (currency == NULL || currency[0] == '\0') {
        f->currency[0] = '\0';
        return 0;
    }
    if (!valid_currency(currency)) {
        return GRIDEMS_EINVAL;
    }
    snprintf(f->currency, sizeof f->currency, "%s", currency);
    return 0;
}

/* Append iv to out[*n], joining it to the last interval when they touch and have equal values. */
static void push_joined(gridems_forecast_interval_t *out, size_t *n, gridems_forecast_interval_t iv)
{
    if (*n > 0) {
        gridems_forecast_interval_t *last = &out[*n - 1];
        if (last->end_ms == iv.start_ms && last->value == iv.value) {
            last->end_ms = iv.end_ms;
            return;
        }
    }
    out[(*n)++] = iv;
}

int gridems_forecast_apply(gridems_forecast_t *f, const gridems_forecast_msg_t *msg, char *err,
                           size_t errlen)
{
    if (f == NULL || msg == NULL || (msg->n > 0 && msg->iv == NULL)) {
        gridems_set_err(err, errlen, "message: no store or message");
        return GRIDEMS_EINVAL;
    }
    const gridems_forecast_interval_t *m = msg->iv;
    size_t nm = msg->n;
    /* The message struct is public, so re-check the invariant the merge relies on. */
    for (size_t k = 0; k < nm; k++) {
        if (m[k].end_ms <= m[k].start_ms || (k > 0 && m[k].start_ms < m[k - 1].end_ms)) {
            gridems_set_err(err, errlen, "message: intervals not sorted and disjoint at [%zu]", k);
            return GRIDEMS_EINVAL;
        }
    }
    bool adopt_currency = false;
    if (f->kind == GRIDEMS_FORECAST_PRICE && msg->currency[0] != '\0') {
        if (f->currency[0] == '\0') {
            adopt_currency = true;
        } else if (strcasecmp(f->currency, msg->currency) != 0) {
            gridems_set_err(err, errlen, "currency: \"%s\" does not match the forecast's \"%s\"",
                            msg->currency, f->currency);
            return GRIDEMS_EINVAL;
        }
    }
    if (nm == 0) {
        if (adopt_currency) {
            snprintf(f->currency, sizeof f->currency, "%s", msg->currency);
        }
        return 0;
    }

    /*
     * One pass over the old intervals subtracts the message's span from each (keeping the parts
     * outside it), then a merge by start interleaves those pieces with the message's intervals.
     * Each message interval can split at most one old interval in two, so the pieces number at
     * most n + m, and the result at most n + 2m before joining.
     */
    size_t ns = f->n;
    const gridems_forecast_interval_t *s = f->iv;
    gridems_forecast_interval_t *pieces = malloc((ns + nm) * sizeof *pieces);
    gridems_forecast_interval_t *out = malloc((ns + 2 * nm) * sizeof *out);
    if (pieces == NULL || out == NULL) {
        free(pieces);
        free(out);
        gridems_set_err(err, errlen, "message: out of memory");
        return GRIDEMS_ENOMEM;
    }
    size_t np = 0;
    size_t first = 0; /* first message interval that ends after the current old one starts */
    for (size_t i = 0; i < ns; i++) {
        while (first < nm && m[first].end_ms <= s[i].start_ms) {
            first++;
        }
        int64_t cur = s[i].start_ms;
        for (size_t k = first; k < nm && m[k].start_ms < s[i].end_ms; k++) {
            if (m[k].start_ms > cur) {
                pieces[np++] = (gridems_forecast_interval_t){cur, m[k].start_ms, s[i].value};
            }
            if (m[k].end_ms > cur) {
                cur = m[k].end_ms;
            }
        }
        if (cur < s[i].end_ms) {
            pieces[np++] = (gridems_forecast_interval_t){cur, s[i].end_ms, s[i].value};
        }
    }
    size_t no = 0, a = 0, b = 0;
    while (a < np || b < nm) {
        if (b >= nm || (a < np && pieces[a].start_ms < m[b].start_ms)) {
            push_joined(out, &no, pieces[a++]);
        } else {
            push_joined(out, &no, m[b++]);
        }
    }
    free(pieces);
    if (no > GRIDEMS_FORECAST_MAX_STORED) {
        free(out);
        gridems_set_err(err, errlen, "message: the forecast would hold more than %d intervals",
                        GRIDEMS_FORECAST_MAX_STORED);
        return GRIDEMS_ETOOBIG;
    }
    /* Give back the slack; a failed shrink keeps the larger block, which is just as valid. */
    gridems_forecast_interval_t *shrunk = realloc(out, no * sizeof *out);
    if (shrunk != NULL) {
        out = shrunk;
    }
    free(f->iv);
    f->iv = out;
    f->n = no;
    if (adopt_currency) {
        snprintf(f->currency, sizeof f->currency, "%s", msg->currency);
    }
    return 0;
}

int gridems_forecast_update_cjson(gridems_forecast_t *f, const cJSON *root, char *err,
                                  size_t errlen)
{
    if (f == NULL) {
        gridems_set_err(err, errlen, "message: no store");
        return GRIDEMS_EINVAL;
    }
    gridems_forecast_msg_t msg;
    int rc = gridems_forecast_msg_parse_cjson(f->kind, root, &msg, err, errlen);
    if (rc == 0) {
        rc = gridems_forecast_apply(f, &msg, err, errlen);
    }
    gridems_forecast_msg_free(&msg);
    return rc;
}

int gridems_forecast_update_json(gridems_forecast_t *f, const char *text, size_t len, char *err,
                                 size_t errlen)
{
    if (f == NULL) {
        gridems_set_err(err, errlen, "message: no store");
        return GRIDEMS_EINVAL;
    }
    gridems_forecast_msg_t msg;
    int rc = gridems_forecast_msg_parse_json(f->kind, text, len, &msg, err, errlen);
    if (rc == 0) {
        rc = gridems_forecast_apply(f, &msg, err, errlen);
    }
    gridems_forecast_msg_free(&msg);
    return rc;
}

/* Index of the first interval that ends after t (f->n when none does); ends are sorted because
 * the intervals are sorted and disjoint. */
static size_t first_ending_after(const gridems_forecast_t *f, int64_t t)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->iv[mid].end_ms <= t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int gridems_forecast_prune(gridems_forecast_t *f, int64_t now_ms)
{
    if (f == NULL || f->n == 0) {
        return 0;
    }
    size_t drop = first_ending_after(f, now_ms);
    if (drop > 0) {
        memmove(f->iv, f->iv + drop, (f->n - drop) * sizeof *f->iv);
        f->n -= drop;
    }
    return (int)drop;
}

int gridems_forecast_clear(gridems_forecast_t *f, int64_t start_ms, int64_t end_ms)
{
    if (f == NULL || !(start_ms < end_ms)) {
        return GRIDEMS_EINVAL;
    }
    if (f->n + 1 > GRIDEMS_FORECAST_MAX_STORED) {
        return GRIDEMS_ETOOBIG;
    }
    gridems_forecast_interval_t *out = malloc((f->n + 1) * sizeof *out);
    if (out == NULL) {
        return GRIDEMS_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        gridems_forecast_interval_t iv = f->iv[i];
        if (iv.end_ms <= start_ms || iv.start_ms >= end_ms) {
            out[n++] = iv;
            continue;
        }
        if (iv.start_ms < start_ms) {
            out[n++] = (gridems_forecast_interval_t){iv.start_ms, start_ms, iv.value};
        }
        if (iv.end_ms > end_ms) {
            out[n++] = (gridems_forecast_interval_t){end_ms, iv.end_ms, iv.value};
        }
    }
    free(f->iv);
    f->iv = out;
    f->n = n;
    return 0;
}

/* A grid is usable when step > 0, n >= 0 and start + n * step fits in int64. */
static bool valid_grid(int64_t start_ms, int64_t step_ms, int n)
{
    int64_t span = 0, end = 0;
    return step_ms > 0 && n >= 0 && !__builtin_mul_overflow(step_ms, (int64_t)n, &span) &&
           !__builtin_add_overflow(start_ms, span, &end);
}

int gridems_forecast_resample(const gridems_forecast_t *f, int64_t start_ms, int64_t step_ms, int n,
                              double *out)
{
    if (f == NULL || !valid_grid(start_ms, step_ms, n) || (n > 0 && out == NULL)) {
        return GRIDEMS_EINVAL;
    }
    int covered = 0;
    size_t j = first_ending_after(f, start_ms);
    for (int i = 0; i < n; i++) {
        int64_t a = start_ms + (int64_t)i * step_ms;
        int64_t b = a + step_ms;
        while (j < f->n && f->iv[j].end_ms <= a) {
            j++;
        }
        /* A running mean keeps a step covered by one value (or equal values) exactly that value. */
        double mean = 0.0, total = 0.0;
        for (size_t k = j; k < f->n && f->iv[k].start_ms < b; k++) {
            int64_t lo = f->iv[k].start_ms > a ? f->iv[k].start_ms : a;
            int64_t hi = f->iv[k].end_ms < b ? f->iv[k].end_ms : b;
            if (hi > lo) {
                double w = (double)(hi - lo);
                total += w;
                mean += (f->iv[k].value - mean) * (w / total);
            }
        }
        if (total > 0.0) {
            out[i] = mean;
            covered++;
        } else {
            out[i] = NAN;
        }
    }
    return covered;
}

int gridems_forecast_coverage(const gridems_forecast_t *f, int64_t start_ms, int64_t step_ms, int n)
{
    if (f == NULL || !valid_grid(start_ms, step_ms, n)) {
        return GRIDEMS_EINVAL;
    }
    size_t j = first_ending_after(f, start_ms);
    int i = 0;
    for (; i < n; i++) {
        int64_t a = start_ms + (int64_t)i * step_ms;
        while (j < f->n && f->iv[j].end_ms <= a) {
            j++;
        }
        /* Interval j ends after a; the step is touched when it also starts before the step ends. */
        if (j >= f->n || f->iv[j].start_ms >= a + step_ms) {
            break;
        }
    }
    return i;
}
