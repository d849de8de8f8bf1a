/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * OpenADR 3.1 objects for the VEN: parsing, unit conversion and composition (openadr_event.h).
 */
#include "openadr_event.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forecast.h"
#include "dr_events.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "timeutil.h"

#define MS_PER_DAY INT64_C(86400000)
/* "P9999Y", the specification's open end, in ms (365-day years). */
#define OPEN_END_MS (INT64_C(9999) * 365 * MS_PER_DAY)

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int code,
                                                      const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *gridems_oadr_signal_name(gridems_oadr_signal_t s)
{
    static const char *const names[] = {"PRICE", "EXPORT_PRICE", "GHG", "IMPORT_CAPACITY_LIMIT"};
    return (unsigned)s < GRIDEMS_OADR_SIGNALS ? names[s] : "?";
}

/* The member under its camelCase or snake_case name; JSON null counts as absent. */
static const cJSON *member(const cJSON *obj, const char *camel, const char *snake)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, camel);
    if ((v == NULL || cJSON_IsNull(v)) && snake != NULL) {
        v = cJSON_GetObjectItemCaseSensitive(obj, snake);
    }
    return cJSON_IsNull(v) ? NULL : v;
}

/* An object id: a string (or, tolerated, an integer) of 1..128 bytes without control chars. */
static int read_id(const cJSON *v, const char *field, char *out, char *err, size_t errlen)
{
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        fabs(v->valuedouble) < 1e15) {
        snprintf(out, GRIDEMS_OADR_ID_SIZE, "%.0f", v->valuedouble);
        return 0;
    }
    if (!cJSON_IsString(v)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s: must be a string", field);
    }
    size_t len = strlen(v->valuestring);
    if (len == 0 || len >= GRIDEMS_OADR_ID_SIZE) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s: must be 1 to %d bytes long", field,
                    GRIDEMS_OADR_ID_SIZE - 1);
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f) {
            return fail(err, errlen, GRIDEMS_EINVAL, "%s: must not hold control characters", field);
        }
    }
    memcpy(out, v->valuestring, len + 1);
    return 0;
}

int gridems_oadr_parse_duration(const char *text, int64_t *out_ms)
{
    if (text == NULL || text[0] != 'P' || text[1] == '\0') {
        return GRIDEMS_EINVAL;
    }
    if (strcmp(text, "P9999Y") == 0) {
        *out_ms = OPEN_END_MS;
        return 0;
    }
    const char *p = text + 1;
    bool in_time = false;
    bool any = false;
    double total = 0.0;
    while (*p != '\0') {
        if (*p == 'T') {
            if (in_time || p[1] == '\0') {
                return GRIDEMS_EINVAL;
            }
            in_time = true;
            p++;
            continue;
        }
        if (!isdigit((unsigned char)*p)) {
            return GRIDEMS_EINVAL;
        }
        char *end = NULL;
        double n = strtod(p, &end);
        if (end == p || !isfinite(n) || n < 0) {
            return GRIDEMS_EINVAL;
        }
        double unit = 0;
        switch (*end) {
        case 'W':
            unit = in_time ? 0 : 7.0 * MS_PER_DAY;
            break;
        case 'D':
            unit = in_time ? 0 : (double)MS_PER_DAY;
            break;
        case 'H':
            unit = in_time ? 3600000.0 : 0;
            break;
        case 'M': /* months (before T) depend on the calendar: refused */
            unit = in_time ? 60000.0 : 0;
            break;
        case 'S':
            unit = in_time ? 1000.0 : 0;
            break;
        default:
            unit = 0;
        }
        if (unit == 0) {
            return GRIDEMS_EINVAL;
        }
        total += n * unit;
        any = true;
        p = end + 1;
    }
    if (!any || !(total >= 1.0) || total > (double)OPEN_END_MS) {
        return GRIDEMS_EINVAL;
    }
    *out_ms = (int64_t)llround(total);
    return 0;
}

/* A metadata time: with a zone, or without one (read as UTC). 0 when absent or unreadable. */
static int64_t metadata_time(const cJSON *v)
{
    if (!cJSON_IsString(v)) {
        return 0;
    }
    int64_t ms = 0;
    if (gridems_time_parse_iso(v->valuestring, &ms, NULL, NULL, 0) == 0) {
        return ms;
    }
    char buf[64];
    if (strlen(v->valuestring) < sizeof buf - 2) {
        snprintf(buf, sizeof buf, "%sZ", v->valuestring);
        if (gridems_time_parse_iso(buf, &ms, NULL, NULL, 0) == 0) {
            return ms;
        }
    }
    return 0;
}

/* An intervalPeriod {start, duration}; either may be missing (has_* say which were given). */
typedef struct period_s {
    bool has_start;
    int64_t start_ms;
    bool has_duration;
    int64_t duration_ms;
} period_t;

static int read_period(const cJSON *v, const char *field, period_t *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s: must be an object", field);
    }
    const cJSON *start = member(v, "start", NULL);
    const cJSON *dur = member(v, "duration", NULL);
    if (start != NULL) {
        char why[128] = "";
        if (!cJSON_IsString(start) ||
            gridems_time_parse_iso(start->valuestring, &p->start_ms, NULL, why, sizeof why) != 0) {
            return fail(err, errlen, GRIDEMS_EINVAL,
                        "%s.start: must be an ISO 8601 time with a zone (%s)", field,
                        why[0] != '\0' ? why : "not a string");
        }
        p->has_start = true;
    }
    if (dur != NULL) {
        if (!cJSON_IsString(dur) ||
            gridems_oadr_parse_duration(dur->valuestring, &p->duration_ms) != 0) {
            return fail(err, errlen, GRIDEMS_EINVAL,
                        "%s.duration: must be a positive ISO 8601 duration of weeks, days, "
                        "hours, minutes and seconds (or P9999Y)",
                        field);
        }
        p->has_duration = true;
    }
    return 0;
}

/* What a payload descriptor says about one signal: the factor to the service's units. */
typedef struct descriptor_s {
    double factor[GRIDEMS_OADR_SIGNALS];
} descriptor_t;

static int signal_of(const char *type)
{
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        if (strcmp(type, gridems_oadr_signal_name((gridems_oadr_signal_t)s)) == 0) {
            return s;
        }
    }
    return -1;
}

static int read_descriptors(const cJSON *arr, const char *site_currency, descriptor_t *d, char *err,
                            size_t errlen)
{
    d->factor[GRIDEMS_OADR_PRICE] = 1.0;
    d->factor[GRIDEMS_OADR_EXPORT_PRICE] = 1.0;
    d->factor[GRIDEMS_OADR_GHG] = 1e-3; /* g/kWh -> kg/kWh */
    d->factor[GRIDEMS_OADR_IMPORT_CAP] = 1.0;
    if (arr == NULL) {
        return 0;
    }
    if (!cJSON_IsArray(arr)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "payloadDescriptors: must be an array");
    }
    int i = 0;
    for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
        if (!cJSON_IsObject(it)) {
            return fail(err, errlen, GRIDEMS_EINVAL, "payloadDescriptors[%d]: must be an object",
                        i);
        }
        const cJSON *type = member(it, "payloadType", "payload_type");
        const cJSON *units = member(it, "units", NULL);
        const cJSON *currency = member(it, "currency", NULL);
        if (!cJSON_IsString(type)) {
            return fail(err, errlen, GRIDEMS_EINVAL,
                        "payloadDescriptors[%d].payloadType: must be a string", i);
        }
        int s = signal_of(type->valuestring);
        if (s < 0) {
            continue; /* a payload type gridems does not use */
        }
        if (units != NULL && !cJSON_IsString(units)) {
            return fail(err, errlen, GRIDEMS_EINVAL,
                        "payloadDescriptors[%d].units: must be a string", i);
        }
        const char *u = units != NULL ? units->valuestring : NULL;
        double f = 0;
        if (s == GRIDEMS_OADR_IMPORT_CAP) {
            f = u == NULL || strcasecmp(u, "KW") == 0 ? 1.0
                : strcasecmp(u, "MW") == 0            ? 1000.0
                : strcasecmp(u, "W") == 0             ? 1e-3
                                                      : 0;
        } else {
            /* A price or an intensity per energy unit. */
            double per = u == NULL || strcasecmp(u, "KWH") == 0 ? 1.0
                         : strcasecmp(u, "MWH") == 0            ? 1e-3
                         : strcasecmp(u, "WH") == 0             ? 1e3
                                                                : 0;
            f = per * (s == GRIDEMS_OADR_GHG ? 1e-3 : 1.0);
        }
        if (f == 0) {
            return fail(err, errlen, GRIDEMS_EINVAL,
                        "payloadDescriptors[%d].units: \"%.32s\" is not a unit gridems knows for "
                        "%s (%s)",
                        i, u, type->valuestring,
                        s == GRIDEMS_OADR_IMPORT_CAP ? "KW, MW or W" : "KWH, MWH or WH");
        }
        if (currency != NULL && (s == GRIDEMS_OADR_PRICE || s == GRIDEMS_OADR_EXPORT_PRICE)) {
            if (!cJSON_IsString(currency)) {
                return fail(err, errlen, GRIDEMS_EINVAL,
                            "payloadDescriptors[%d].currency: must be a string", i);
            }
            if (site_currency != NULL && strcasecmp(currency->valuestring, site_currency) != 0) {
                return fail(err, errlen, GRIDEMS_EINVAL,
                            "payloadDescriptors[%d].currency: \"%.16s\" is not the site's "
                            "currency %s",
                            i, currency->valuestring, site_currency);
            }
        }
        d->factor[s] = f;
    }
    return 0;
}

/* Bounds after conversion, the same the MQTT inputs apply. */
static bool value_ok(int s, double v)
{
    switch (s) {
    case GRIDEMS_OADR_PRICE:
    case GRIDEMS_OADR_EXPORT_PRICE:
        return fabs(v) <= GRIDEMS_FORECAST_MAX_PRICE;
    case GRIDEMS_OADR_GHG:
        return v >= 0 && v <= GRIDEMS_FORECAST_MAX_CARBON;
    default:
        return v >= 0 && v <= GRIDEMS_DR_MAX_LIMIT_KW;
    }
}

/* A whole number within +-1e9: ids, priorities, report intervals (what a long holds anywhere). */
static bool is_small_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
           fabs(v->valuedouble) <= 1e9;
}

/* An optional integer member: absent (or null) leaves *out as it is. */
static int opt_int(const cJSON *obj, const char *camel, const char *snake, const char *field,
                   long *out, char *err, size_t errlen)
{
    const cJSON *v = member(obj, camel, snake);
    if (v == NULL) {
        return 0;
    }
    if (!is_small_integer(v)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s.%s: must be an integer", field, camel);
    }
    *out = (long)v->valuedouble;
    return 0;
}

/* An optional boolean member, as opt_int. */
static int opt_bool(const cJSON *obj, const char *camel, const char *field, bool *out, char *err,
                    size_t errlen)
{
    const cJSON *v = member(obj, camel, NULL);
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s.%s: must be true or false", field, camel);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* An optional string member of 1..128 bytes; *out NULL when absent. */
static int opt_string(const cJSON *obj, const char *camel, const char *snake, const char *field,
                      const char **out, char *err, size_t errlen)
{
    const cJSON *v = member(obj, camel, snake);
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > 128) {
        return fail(err, errlen, GRIDEMS_EINVAL, "%s.%s: must be a string of 1 to 128 bytes", field,
                    camel);
    }
    *out = v->valuestring;
    return 0;
}

/* The VTN's report requests (openadr_event.h, "Reports"): sets the bit in ev->reports of each
 * report gridems makes that one asks for, and ev->report_note for the first it does not
 * honour. */
static int read_report_descriptors(const cJSON *arr, gridems_oadr_event_t *ev, char *err,
                                   size_t errlen)
{
    if (arr == NULL) {
        return 0;
    }
    if (!cJSON_IsArray(arr)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "reportDescriptors: must be an array");
    }
    int n = cJSON_GetArraySize(arr);
    if (n > GRIDEMS_OADR_MAX_REPORT_DESCRIPTORS) {
        return fail(err, errlen, GRIDEMS_EINVAL, "reportDescriptors: at most %d, got %d",
                    GRIDEMS_OADR_MAX_REPORT_DESCRIPTORS, n);
    }
    int i = 0;
    for (const cJSON *d = arr->child; d != NULL; d = d->next, i++) {
        char field[48];
        snprintf(field, sizeof field, "reportDescriptors[%d]", i);
        if (!cJSON_IsObject(d)) {
            return fail(err, errlen, GRIDEMS_EINVAL, "%s: must be an object", field);
        }
        const char *type = NULL;
        const char *units = NULL;
        const char *reading = NULL;
        long start = -1, count = -1, every = -1;
        bool historical = true, aggregate = false;
        int rc = opt_string(d, "payloadType", "payload_type", field, &type, err, errlen);
        if (rc == 0 && type == NULL) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "%s.payloadType: required", field);
        }
        if (rc == 0) {
            rc = opt_string(d, "units", NULL, field, &units, err, errlen);
        }
        if (rc == 0) {
            rc = opt_string(d, "readingType", "reading_type", field, &reading, err, errlen);
        }
        if (rc == 0) {
            rc = opt_int(d, "startInterval", "start_interval", field, &start, err, errlen);
        }
        if (rc == 0) {
            rc = opt_int(d, "numIntervals", "num_intervals", field, &count, err, errlen);
        }
        if (rc == 0) {
            rc = opt_int(d, "frequency", NULL, field, &every, err, errlen);
        }
        if (rc == 0) {
            rc = opt_bool(d, "historical", field, &historical, err, errlen);
        }
        if (rc == 0) {
            rc = opt_bool(d, "aggregate", field, &aggregate, err, errlen);
        }
        if (rc != 0) {
            return rc;
        }
        const char *why = NULL;
        bool usage = strcmp(type, "USAGE") == 0;
        bool demand = strcmp(type, "DEMAND") == 0;
        if (!usage && !demand) {
            why = "payloadType: only USAGE and DEMAND are reported";
        } else if (usage && units != NULL && strcmp(units, "KWH") != 0) {
            why = "units: USAGE is reported in KWH only";
        } else if (demand && units != NULL && strcmp(units, "KW") != 0) {
            why = "units: DEMAND is reported in KW only";
        } else if (start != -1 || count != -1 || every != -1 || !historical) {
            why = "only a report of every interval once the last has ended is made "
                  "(startInterval, numIntervals and frequency -1, historical true)";
        }
        if (why == NULL) {
            ev->reports |= usage ? GRIDEMS_OADR_REPORT_USAGE : GRIDEMS_OADR_REPORT_DEMAND;
        } else if (ev->report_note[0] == '\0') {
            snprintf(ev->report_note, sizeof ev->report_note, "%s (%.32s) not reported: %s", field,
                     type, why);
        }
    }
    return 0;
}

typedef struct interval_ref_s {
    long id;
    const cJSON *obj;
    int index; /* in the message, for error paths */
} interval_ref_t;

static int cmp_interval(const void *a, const void *b)
{
    const interval_ref_t *x = a;
    const interval_ref_t *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : x->index - y->index;
}

static int read_intervals(const cJSON *arr, const period_t *top, const descriptor_t *d,
                          gridems_oadr_event_t *ev, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "intervals: must be an array");
    }
    int n = cJSON_GetArraySize(arr);
    if (n > GRIDEMS_OADR_MAX_INTERVALS) {
        return fail(err, errlen, GRIDEMS_ETOOBIG, "intervals: at most %d, got %d",
                    GRIDEMS_OADR_MAX_INTERVALS, n);
    }
    if (n == 0) {
        return 0;
    }
    interval_ref_t *refs = calloc((size_t)n, sizeof *refs);
    if (refs == NULL) {
        return GRIDEMS_ENOMEM;
    }
    /* One span per interval and signal at most (a signal twice in one interval is refused
     * below), so n of each is enough. */
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        ev->spans[s] = calloc((size_t)n, sizeof *ev->spans[s]);
        if (ev->spans[s] == NULL) {
            free(refs);
            return GRIDEMS_ENOMEM;
        }
    }
    int i = 0;
    int rc = 0;
    for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
        const cJSON *id = cJSON_IsObject(it) ? member(it, "id", NULL) : NULL;
        if (!cJSON_IsObject(it)) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "intervals[%d]: must be an object", i);
        } else if (!is_small_integer(id)) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "intervals[%d].id: must be an integer", i);
        }
        if (rc != 0) {
            free(refs);
            return rc;
        }
        refs[i] = (interval_ref_t){(long)id->valuedouble, it, i};
    }
    qsort(refs, (size_t)n, sizeof *refs, cmp_interval);
    if (ev->reports != 0 && (ev->periods = calloc((size_t)n, sizeof *ev->periods)) == NULL) {
        free(refs);
        return GRIDEMS_ENOMEM;
    }
    int64_t next_start = top->start_ms;
    bool have_next = top->has_start;
    for (i = 0; i < n && rc == 0; i++) {
        char field[64];
        snprintf(field, sizeof field, "intervals[%d].intervalPeriod", refs[i].index);
        if (i > 0 && refs[i].id == refs[i - 1].id) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "intervals[%d].id: %ld appears twice",
                      refs[i].index, refs[i].id);
            break;
        }
        period_t own;
        rc = read_period(member(refs[i].obj, "intervalPeriod", "interval_period"), field, &own, err,
                         errlen);
        if (rc != 0) {
            break;
        }
        int64_t start = own.has_start ? own.start_ms : next_start;
        bool has_dur = own.has_duration || top->has_duration;
        int64_t dur = own.has_duration ? own.duration_ms : top->duration_ms;
        if (!own.has_start && !have_next) {
            rc = fail(err, errlen, GRIDEMS_EINVAL,
                      "%s.start: needed (the event has no intervalPeriod.start)", field);
        } else if (!has_dur) {
            rc = fail(err, errlen, GRIDEMS_EINVAL,
                      "%s.duration: needed (the event has no intervalPeriod.duration)", field);
        } else if (start > GRIDEMS_TIME_MAX_MS - dur) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "%s: ends after the year 9999", field);
        }
        if (rc != 0) {
            break;
        }
        next_start = start + dur;
        have_next = true;
        if (ev->periods != NULL) {
            ev->periods[ev->n_periods++] = (gridems_oadr_period_t){refs[i].id, start, start + dur};
        }
        const cJSON *payloads = member(refs[i].obj, "payloads", NULL);
        if (!cJSON_IsArray(payloads)) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "intervals[%d].payloads: must be an array",
                      refs[i].index);
            break;
        }
        int j = 0;
        bool seen[GRIDEMS_OADR_SIGNALS] = {false};
        for (const cJSON *p = payloads->child; p != NULL && rc == 0; p = p->next, j++) {
            const cJSON *type = cJSON_IsObject(p) ? member(p, "type", NULL) : NULL;
            const cJSON *values = cJSON_IsObject(p) ? member(p, "values", NULL) : NULL;
            if (!cJSON_IsString(type)) {
                rc = fail(err, errlen, GRIDEMS_EINVAL,
                          "intervals[%d].payloads[%d].type: must be a string", refs[i].index, j);
                break;
            }
            int s = signal_of(type->valuestring);
            if (s < 0) {
                continue;
            }
            if (seen[s]) {
                /* Which of two values would hold for the interval? Neither is guessed. */
                rc = fail(err, errlen, GRIDEMS_EINVAL,
                          "intervals[%d].payloads[%d].type: %s appears twice in the interval",
                          refs[i].index, j, type->valuestring);
                break;
            }
            seen[s] = true;
            const cJSON *v0 = cJSON_IsArray(values) ? values->child : NULL;
            if (!cJSON_IsNumber(v0) || !isfinite(v0->valuedouble)) {
                rc = fail(err, errlen, GRIDEMS_EINVAL,
                          "intervals[%d].payloads[%d].values[0]: must be a finite number",
                          refs[i].index, j);
                break;
            }
            double v = v0->valuedouble * d->factor[s];
            if (!value_ok(s, v)) {
                rc = fail(err, errlen, GRIDEMS_EINVAL,
                          "intervals[%d].payloads[%d].values[0]: %g is outside the bounds for %s",
                          refs[i].index, j, v0->valuedouble, type->valuestring);
                break;
            }
            gridems_oadr_span_t *sp = &ev->spans[s][ev->n[s]++];
            *sp = (gridems_oadr_span_t){start, start + dur, v, refs[i].id};
        }
    }
    free(refs);
    return rc;
}

void gridems_oadr_event_free(gridems_oadr_event_t *ev)
{
    if (ev == NULL) {
        return;
    }
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        free(ev->spans[s]);
    }
    free(ev->periods);
    memset(ev, 0, sizeof *ev);
}

void gridems_oadr_event_move(gridems_oadr_event_t *dst, gridems_oadr_event_t *src)
{
    gridems_oadr_event_free(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

int gridems_oadr_event_copy(gridems_oadr_event_t *dst, const gridems_oadr_event_t *src)
{
    *dst = *src;
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        dst->spans[s] = NULL;
    }
    dst->periods = NULL;
    if (src->n_periods > 0) {
        dst->periods = malloc(src->n_periods * sizeof *dst->periods);
        if (dst->periods == NULL) {
            gridems_oadr_event_free(dst);
            return GRIDEMS_ENOMEM;
        }
        memcpy(dst->periods, src->periods, src->n_periods * sizeof *dst->periods);
    }
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        if (src->n[s] == 0) {
            continue;
        }
        dst->spans[s] = malloc(src->n[s] * sizeof *dst->spans[s]);
        if (dst->spans[s] == NULL) {
            gridems_oadr_event_free(dst);
            return GRIDEMS_ENOMEM;
        }
        memcpy(dst->spans[s], src->spans[s], src->n[s] * sizeof *dst->spans[s]);
    }
    return 0;
}

/* id and programID only (what a DELETE needs). */
static int read_ids(const cJSON *obj, gridems_oadr_event_t *out, char *err, size_t errlen)
{
    const cJSON *id = member(obj, "id", NULL);
    const cJSON *prog = member(obj, "programID", "program_id");
    int rc = read_id(id, "id", out->id, err, errlen);
    if (rc == 0) {
        rc = read_id(prog, "programID", out->program_id, err, errlen);
    }
    return rc;
}

int gridems_oadr_event_parse(const cJSON *obj, const char *site_currency, gridems_oadr_event_t *out,
                             char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj)) {
        return fail(err, errlen, GRIDEMS_EINVAL, "event: must be an object");
    }
    int rc = read_ids(obj, out, err, errlen);
    const cJSON *prio = member(obj, "priority", NULL);
    if (rc == 0 && prio != NULL) {
        if (!is_small_integer(prio) || prio->valuedouble < 0) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "priority: must be an integer >= 0");
        } else {
            out->has_priority = true;
            out->priority = (long)prio->valuedouble;
        }
    }
    if (rc == 0) {
        out->modified_ms =
            metadata_time(member(obj, "modificationDateTime", "modification_date_time"));
        if (out->modified_ms == 0) {
            out->modified_ms = metadata_time(member(obj, "createdDateTime", "created_date_time"));
        }
    }
    descriptor_t d;
    period_t top;
    if (rc == 0) {
        rc = read_descriptors(member(obj, "payloadDescriptors", "payload_descriptors"),
                              site_currency, &d, err, errlen);
    }
    if (rc == 0) {
        rc = read_period(member(obj, "intervalPeriod", "interval_period"), "intervalPeriod", &top,
                         err, errlen);
    }
    if (rc == 0) {
        rc = read_report_descriptors(member(obj, "reportDescriptors", "report_descriptors"), out,
                                     err, errlen);
    }
    if (rc == 0) {
        rc = read_intervals(member(obj, "intervals", NULL), &top, &d, out, err, errlen);
    }
    if (rc == 0 && out->n_periods == 0) {
        out->reports = 0; /* no interval: nothing to report */
    }
    if (rc != 0) {
        gridems_oadr_event_free(out);
    }
    return rc;
}

/* A VTN's answer or notification under the one JSON policy of every input (json_strict.h), with
 * its size limit: "message: larger than 4194304 bytes", "message: trailing data at byte 42 after
 * the document". */
static cJSON *parse_text(const char *text, size_t len, char *err, size_t errlen, int *rc)
{
    cJSON *root = NULL;
    *rc = gridems_json_parse_message(text, len, GRIDEMS_OADR_MAX_BYTES, &root, err, errlen);
    return root;
}

int gridems_oadr_notification_parse(const char *text, size_t len, const char *site_currency,
                                    gridems_oadr_op_t *op, bool *is_event, gridems_oadr_event_t *ev,
                                    char *err, size_t errlen)
{
    int rc = 0;
    memset(ev, 0, sizeof *ev);
    *is_event = false;
    cJSON *root = parse_text(text, len, err, errlen, &rc);
    if (root == NULL) {
        return rc;
    }
    const cJSON *type = member(root, "objectType", "object_type");
    const cJSON *oper = member(root, "operation", NULL);
    const cJSON *obj = member(root, "object", NULL);
    if (!cJSON_IsObject(root)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "notification: must be an object");
    } else if (!cJSON_IsString(type)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "objectType: must be a string");
    } else if (strcmp(type->valuestring, "EVENT") != 0) {
        rc = 0; /* programs, reports, ...: not ours */
    } else if (!cJSON_IsString(oper)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "operation: must be a string");
    } else if (!cJSON_IsObject(obj)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "object: must be an object");
    } else {
        const char *o = oper->valuestring;
        *is_event = true;
        if (strcmp(o, "DELETE") == 0) {
            *op = GRIDEMS_OADR_OP_DELETE;
            rc = read_ids(obj, ev, err, errlen);
        } else if (strcmp(o, "CREATE") == 0 || strcmp(o, "UPDATE") == 0 || strcmp(o, "POST") == 0 ||
                   strcmp(o, "PUT") == 0) {
            *op = GRIDEMS_OADR_OP_UPSERT;
            rc = gridems_oadr_event_parse(obj, site_currency, ev, err, errlen);
            if (rc != 0) {
                /* Keep the id, so that the caller can name the event it rejects. */
                char why[512];
                snprintf(why, sizeof why, "%s", err != NULL ? err : "");
                (void)read_ids(obj, ev, NULL, 0);
                if (err != NULL) {
                    snprintf(err, errlen, "object.%s", why);
                }
            }
        } else {
            rc = fail(err, errlen, GRIDEMS_EINVAL,
                      "operation: must be CREATE, UPDATE or DELETE, got \"%.32s\"", o);
        }
    }
    if (rc != 0 && rc != GRIDEMS_EINVAL) {
        *is_event = false;
    }
    cJSON_Delete(root);
    return rc;
}

int gridems_oadr_program_id(const char *text, size_t len, const char *name, char *id, size_t idlen,
                            char *err, size_t errlen)
{
    int rc = 0;
    cJSON *root = parse_text(text, len, err, errlen, &rc);
    if (root == NULL) {
        return rc;
    }
    rc = GRIDEMS_ENOENT;
    if (!cJSON_IsArray(root)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "programs: must be an array");
    }
    int i = 0;
    for (const cJSON *it = cJSON_IsArray(root) ? root->child : NULL;
         it != NULL && rc == GRIDEMS_ENOENT; it = it->next, i++) {
        const cJSON *pn = member(it, "programName", "program_name");
        if (cJSON_IsString(pn) && strcmp(pn->valuestring, name) == 0) {
            char buf[GRIDEMS_OADR_ID_SIZE];
            char field[32];
            snprintf(field, sizeof field, "programs[%d].id", i);
            rc = read_id(member(it, "id", NULL), field, buf, err, errlen);
            if (rc == 0) {
                snprintf(id, idlen, "%s", buf);
            }
        }
    }
    if (rc == GRIDEMS_ENOENT) {
        fail(err, errlen, rc, "programs: no program named \"%.64s\"", name);
    }
    cJSON_Delete(root);
    return rc;
}

int gridems_oadr_notifier_uri(const char *text, size_t len, char *uri, size_t urilen, char *err,
                              size_t errlen)
{
    int rc = 0;
    cJSON *root = parse_text(text, len, err, errlen, &rc);
    if (root == NULL) {
        return rc;
    }
    const cJSON *mqtt = member(root, "MQTT", "mqtt");
    const cJSON *uris = mqtt != NULL ? member(mqtt, "URIS", "uris") : NULL;
    if (uris == NULL && mqtt != NULL) {
        uris = member(mqtt, "URIs", NULL);
    }
    if (mqtt == NULL || cJSON_IsFalse(mqtt)) {
        rc = fail(err, errlen, GRIDEMS_ENOENT, "MQTT: the VTN offers no MQTT binding");
    } else if (!cJSON_IsArray(uris) || !cJSON_IsString(uris->child)) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "MQTT.URIS: must be an array of strings");
    } else if (strlen(uris->child->valuestring) >= urilen) {
        rc = fail(err, errlen, GRIDEMS_EINVAL, "MQTT.URIS[0]: too long");
    } else {
        snprintf(uri, urilen, "%s", uris->child->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

int gridems_oadr_topics(const char *text, size_t len, char out[3][256], char *err, size_t errlen)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE"};
    int rc = 0;
    cJSON *root = parse_text(text, len, err, errlen, &rc);
    if (root == NULL) {
        return rc;
    }
    const cJSON *topics = member(root, "topics", NULL);
    for (int i = 0; i < 3 && rc == 0; i++) {
        const cJSON *t = cJSON_IsObject(topics) ? member(topics, ops[i], NULL) : NULL;
        if (!cJSON_IsString(t) || t->valuestring[0] == '\0' || strlen(t->valuestring) >= 256) {
            rc = fail(err, errlen, GRIDEMS_EINVAL, "topics.%s: must be a topic name", ops[i]);
        } else {
            snprintf(out[i], 256, "%s", t->valuestring);
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- ## Composition ---- */

/* Does a outrank b? */
static bool outranks(const gridems_oadr_event_t *a, const gridems_oadr_event_t *b)
{
    if (a->has_priority != b->has_priority) {
        return a->has_priority;
    }
    if (a->has_priority && a->priority != b->priority) {
        return a->priority < b->priority;
    }
    if (a->modified_ms != b->modified_ms) {
        return a->modified_ms > b->modified_ms;
    }
    return strcmp(a->id, b->id) > 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One span in the sweep. */
typedef struct span_ref_s {
    const gridems_oadr_span_t *sp;
    size_t event;
    size_t order; /* position in the input, so that sorting is stable */
    int parts;    /* pieces of this span emitted so far */
} span_ref_t;

static int cmp_ref(const void *a, const void *b)
{
    const span_ref_t *x = a;
    const span_ref_t *y = b;
    if (x->sp->start_ms != y->sp->start_ms) {
        return x->sp->start_ms < y->sp->start_ms ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

int gridems_oadr_compose(const gridems_oadr_event_t *const *events, size_t n,
                         gridems_oadr_signal_t signal, gridems_oadr_piece_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    size_t spans = 0;
    for (size_t e = 0; e < n; e++) {
        spans += events[e]->n[signal];
    }
    if (spans == 0) {
        return 0;
    }
    int64_t *edges = malloc(2 * spans * sizeof *edges);
    span_ref_t *refs = malloc(spans * sizeof *refs);
    size_t *open = malloc(spans * sizeof *open);
    gridems_oadr_piece_t *pieces = calloc(2 * spans, sizeof *pieces);
    if (edges == NULL || refs == NULL || open == NULL || pieces == NULL) {
        free(edges);
        free(refs);
        free(open);
        free(pieces);
        return GRIDEMS_ENOMEM;
    }
    size_t ne = 0;
    size_t nr = 0;
    for (size_t e = 0; e < n; e++) {
        for (size_t k = 0; k < events[e]->n[signal]; k++) {
            const gridems_oadr_span_t *sp = &events[e]->spans[signal][k];
            edges[ne++] = sp->start_ms;
            edges[ne++] = sp->end_ms;
            refs[nr] = (span_ref_t){sp, e, nr, 0};
            nr++;
        }
    }
    qsort(edges, ne, sizeof *edges, cmp_i64);
    qsort(refs, nr, sizeof *refs, cmp_ref);
    /* A sweep over the elementary segments between consecutive edges: the spans open over a
     * segment are those started at or before its start and not yet ended (every edge is a
     * segment boundary, so an open span covers the whole segment). Overlaps are few, so the
     * open set stays small: O(S log S + segments x overlap). */
    size_t np = 0;
    size_t n_open = 0;
    size_t next = 0;
    size_t last_ref = SIZE_MAX;
    for (size_t i = 0; i + 1 < ne; i++) {
        int64_t a = edges[i];
        int64_t b = edges[i + 1];
        if (a == b) {
            continue;
        }
        size_t kept = 0;
        for (size_t q = 0; q < n_open; q++) {
            if (refs[open[q]].sp->end_ms > a) {
                open[kept++] = open[q];
            }
        }
        n_open = kept;
        while (next < nr && refs[next].sp->start_ms <= a) {
            if (refs[next].sp->end_ms > a) {
                open[n_open++] = next;
            }
            next++;
        }
        size_t best = SIZE_MAX;
        for (size_t q = 0; q < n_open; q++) {
            size_t r = open[q];
            if (best == SIZE_MAX || outranks(events[refs[r].event], events[refs[best].event])) {
                best = r;
            }
        }
        if (best == SIZE_MAX) {
            last_ref = SIZE_MAX;
            continue;
        }
        if (np > 0 && last_ref == best && pieces[np - 1].end_ms == a) {
            pieces[np - 1].end_ms = b; /* the same interval goes on */
            continue;
        }
        const gridems_oadr_span_t *sp = refs[best].sp;
        pieces[np++] = (gridems_oadr_piece_t){
            a, b, sp->value, refs[best].event, sp->interval_id, refs[best].parts++};
        last_ref = best;
    }
    free(edges);
    free(refs);
    free(open);
    if (np == 0) {
        free(pieces);
        return 0;
    }
    *out = pieces;
    *nout = np;
    return 0;
}
