/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The VEN's usage reports: the book of reports in the making and their JSON (openadr_report.h).
 */
#include "openadr_report.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "timeutil.h"

#define MS_PER_HOUR 3600000.0

void gridems_oadr_book_init(gridems_oadr_book_t *b, int64_t max_gap_ms)
{
    memset(b, 0, sizeof *b);
    b->max_gap_ms = max_gap_ms;
}

static void usage_free(gridems_oadr_usage_t *u)
{
    free(u->periods);
    free(u->kwh);
    free(u->covered_ms);
    free(u->measured_to_ms);
    memset(u, 0, sizeof *u);
}

/* The arrays for n intervals, zeroed (periods' contents are the caller's to fill). */
static int usage_alloc(gridems_oadr_usage_t *u, size_t n)
{
    u->periods = calloc(n > 0 ? n : 1, sizeof *u->periods);
    u->kwh = calloc(n > 0 ? n : 1, sizeof *u->kwh);
    u->covered_ms = calloc(n > 0 ? n : 1, sizeof *u->covered_ms);
    u->measured_to_ms = calloc(n > 0 ? n : 1, sizeof *u->measured_to_ms);
    u->n = n;
    if (u->periods == NULL || u->kwh == NULL || u->covered_ms == NULL ||
        u->measured_to_ms == NULL) {
        usage_free(u);
        return GRIDEMS_ENOMEM;
    }
    return 0;
}

void gridems_oadr_book_free(gridems_oadr_book_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        usage_free(&b->list[i]);
    }
    free(b->list);
    int64_t gap = b->max_gap_ms;
    gridems_oadr_book_init(b, gap);
}

static long find(const gridems_oadr_book_t *b, const char *event_id)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->list[i].event_id, event_id) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static const gridems_oadr_event_t *held(const gridems_oadr_event_t *const *events, size_t n,
                                        const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(events[i]->id, id) == 0) {
            return events[i];
        }
    }
    return NULL;
}

static int64_t last_end(const gridems_oadr_usage_t *u)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < u->n; i++) {
        end = u->periods[i].end_ms > end ? u->periods[i].end_ms : end;
    }
    return end;
}

/* u takes ev's intervals; what it measured in an interval that ev keeps unchanged (same id,
 * start and end) stays. */
static int take_periods(gridems_oadr_usage_t *u, const gridems_oadr_event_t *ev)
{
    gridems_oadr_usage_t next = {{0}, 0, NULL, NULL, NULL, NULL, 0};
    if (usage_alloc(&next, ev->n_periods) != 0) {
        return GRIDEMS_ENOMEM;
    }
    memcpy(next.periods, ev->periods, ev->n_periods * sizeof *next.periods);
    for (size_t i = 0; i < next.n; i++) {
        next.measured_to_ms[i] = next.periods[i].start_ms;
        for (size_t k = 0; k < u->n; k++) {
            const gridems_oadr_period_t *was = &u->periods[k];
            if (was->interval_id == next.periods[i].interval_id &&
                was->start_ms == next.periods[i].start_ms &&
                was->end_ms == next.periods[i].end_ms) {
                next.kwh[i] = u->kwh[k];
                next.covered_ms[i] = u->covered_ms[k];
                next.measured_to_ms[i] = u->measured_to_ms[k];
                break;
            }
        }
    }
    memcpy(next.event_id, u->event_id, sizeof next.event_id);
    next.kinds = u->kinds;
    usage_free(u);
    *u = next;
    return 0;
}

static bool same_periods(const gridems_oadr_usage_t *u, const gridems_oadr_event_t *ev)
{
    return u->n == ev->n_periods &&
           (u->n == 0 || memcmp(u->periods, ev->periods, u->n * sizeof *u->periods) == 0);
}

int gridems_oadr_book_sync(gridems_oadr_book_t *b, const gridems_oadr_event_t *const *events,
                           size_t n, int64_t now_ms, size_t *refused, bool *changed)
{
    size_t none = 0;
    bool ignored = false;
    refused = refused != NULL ? refused : &none;
    changed = changed != NULL ? changed : &ignored;
    *refused = 0;
    *changed = false;
    /* Drop what is no longer asked for while it still runs; keep what is over (due). */
    for (size_t i = 0; i < b->n;) {
        const gridems_oadr_event_t *ev = held(events, n, b->list[i].event_id);
        bool asked = ev != NULL && ev->reports != 0;
        if (!asked && last_end(&b->list[i]) > now_ms) {
            gridems_oadr_book_remove(b, i);
            *changed = true;
        } else {
            i++;
        }
    }
    int rc = 0;
    for (size_t e = 0; e < n; e++) {
        const gridems_oadr_event_t *ev = events[e];
        if (ev->reports == 0) {
            continue;
        }
        long at = find(b, ev->id);
        if (at >= 0) {
            gridems_oadr_usage_t *u = &b->list[at];
            *changed = *changed || u->kinds != ev->reports || !same_periods(u, ev);
            u->kinds = ev->reports;
            if (!same_periods(u, ev) && take_periods(u, ev) != 0) {
                rc = GRIDEMS_ENOMEM;
            }
            continue;
        }
        if (b->n >= GRIDEMS_OADR_MAX_REPORTS) {
            (*refused)++;
            continue;
        }
        gridems_oadr_usage_t *bigger = realloc(b->list, (b->n + 1) * sizeof *bigger);
        if (bigger == NULL) {
            rc = GRIDEMS_ENOMEM;
            continue;
        }
        b->list = bigger;
        gridems_oadr_usage_t *u = &b->list[b->n];
        memset(u, 0, sizeof *u);
        snprintf(u->event_id, sizeof u->event_id, "%s", ev->id);
        u->kinds = ev->reports;
        if (take_periods(u, ev) != 0) {
            rc = GRIDEMS_ENOMEM;
            continue;
        }
        b->n++;
        *changed = true;
    }
    return rc;
}

/* Count the held sample over [from, to) into every interval it overlaps, each instant once. */
static bool count(gridems_oadr_book_t *b, int64_t from, int64_t to, double kw)
{
    bool counted = false;
    for (size_t r = 0; r < b->n; r++) {
        gridems_oadr_usage_t *u = &b->list[r];
        for (size_t i = 0; i < u->n; i++) {
            int64_t a = u->periods[i].start_ms > from ? u->periods[i].start_ms : from;
            int64_t z = u->periods[i].end_ms < to ? u->periods[i].end_ms : to;
            a = u->measured_to_ms[i] > a ? u->measured_to_ms[i] : a;
            if (z > a) {
                u->kwh[i] += kw * (double)(z - a) / MS_PER_HOUR;
                u->covered_ms[i] += z - a;
                u->measured_to_ms[i] = z;
                counted = true;
            }
        }
    }
    return counted;
}

/* Count the held sample up to now_ms (*counted: whether a report's measure changed); false when
 * now_ms is before it. */
static bool count_to(gridems_oadr_book_t *b, int64_t now_ms, bool *counted)
{
    *counted = false;
    if (!b->has_sample) {
        return true;
    }
    if (now_ms < b->sample_ms) {
        return false;
    }
    if (now_ms - b->sample_ms <= b->max_gap_ms) {
        *counted = count(b, b->sample_ms, now_ms, b->sample_kw);
    }
    return true;
}

bool gridems_oadr_book_sample(gridems_oadr_book_t *b, int64_t now_ms, double kw)
{
    bool counted = false;
    if (isfinite(kw) && count_to(b, now_ms, &counted)) {
        b->has_sample = true;
        b->sample_ms = now_ms;
        b->sample_kw = kw;
    }
    return counted;
}

bool gridems_oadr_book_no_sample(gridems_oadr_book_t *b, int64_t now_ms)
{
    bool counted = false;
    if (count_to(b, now_ms, &counted)) {
        b->has_sample = false;
    }
    return counted;
}

long gridems_oadr_book_due(const gridems_oadr_book_t *b, int64_t now_ms)
{
    for (size_t i = 0; i < b->n; i++) {
        int64_t end = last_end(&b->list[i]);
        bool counted = b->has_sample && b->sample_ms >= end;
        if (now_ms >= end && (counted || now_ms - end >= b->max_gap_ms)) {
            return (long)i;
        }
    }
    return -1;
}

int gridems_oadr_book_confidence(const gridems_oadr_book_t *b, size_t i)
{
    const gridems_oadr_usage_t *u = &b->list[i];
    double total = 0.0, covered = 0.0;
    for (size_t k = 0; k < u->n; k++) {
        total += (double)(u->periods[k].end_ms - u->periods[k].start_ms);
        covered += (double)u->covered_ms[k];
    }
    return total > 0 ? (int)floor(100.0 * covered / total + 1e-9) : 0;
}

/* An ISO 8601 duration of whole (or fractional) seconds: "PT900S", "PT0.250S". */
static void duration_text(int64_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0) {
        snprintf(buf, len, "PT%" PRId64 "S", ms / 1000);
    } else {
        snprintf(buf, len, "PT%" PRId64 ".%03" PRId64 "S", ms / 1000, ms % 1000);
    }
}

/* The kinds of report, in the order they are written. */
static const struct {
    unsigned bit;
    const char *type;
    const char *units;
} kinds[] = {{GRIDEMS_OADR_REPORT_USAGE, "USAGE", "KWH"},
             {GRIDEMS_OADR_REPORT_DEMAND, "DEMAND", "KW"}};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* Interval k's value of a kind: its energy in kWh, or its mean import in kW over the time the
 * samples covered, rounded to the Wh or W. */
static double value_of(const gridems_oadr_usage_t *u, size_t k, unsigned bit)
{
    double v = u->kwh[k];
    if (bit == GRIDEMS_OADR_REPORT_DEMAND) {
        v = u->covered_ms[k] > 0 ? v * MS_PER_HOUR / (double)u->covered_ms[k] : 0.0;
    }
    return round(v * 1000.0) / 1000.0;
}

static cJSON *interval_json(const gridems_oadr_usage_t *u, size_t k)
{
    cJSON *it = cJSON_CreateObject();
    cJSON *period = cJSON_AddObjectToObject(it, "intervalPeriod");
    char start[GRIDEMS_TIME_ISO_BUFLEN], dur[48];
    if (gridems_time_format_iso(u->periods[k].start_ms, 0, start, sizeof start) != 0) {
        snprintf(start, sizeof start, "?");
    }
    duration_text(u->periods[k].end_ms - u->periods[k].start_ms, dur, sizeof dur);
    cJSON_AddNumberToObject(it, "id", (double)u->periods[k].interval_id);
    cJSON_AddStringToObject(period, "start", start);
    cJSON_AddStringToObject(period, "duration", dur);
    cJSON *payloads = cJSON_AddArrayToObject(it, "payloads");
    for (size_t j = 0; j < N_KINDS; j++) {
        if (!(u->kinds & kinds[j].bit)) {
            continue;
        }
        cJSON *payload = cJSON_CreateObject();
        cJSON_AddItemToArray(payloads, payload);
        cJSON_AddStringToObject(payload, "type", kinds[j].type);
        cJSON *values = cJSON_AddArrayToObject(payload, "values");
        cJSON_AddItemToArray(values, cJSON_CreateNumber(value_of(u, k, kinds[j].bit)));
    }
    return it;
}

char *gridems_oadr_book_report_json(const gridems_oadr_book_t *b, size_t i, const char *client_name,
                                    const char *resource_name)
{
    const gridems_oadr_usage_t *u = &b->list[i];
    cJSON *root = cJSON_CreateObject();
    char name[GRIDEMS_OADR_ID_SIZE + 32];
    snprintf(name, sizeof name, "gridems usage %s", u->event_id);
    cJSON_AddStringToObject(root, "eventID", u->event_id);
    cJSON_AddStringToObject(root, "clientName", client_name);
    cJSON_AddStringToObject(root, "reportName", name);
    cJSON *descs = cJSON_AddArrayToObject(root, "payloadDescriptors");
    for (size_t j = 0; j < N_KINDS; j++) {
        if (!(u->kinds & kinds[j].bit)) {
            continue;
        }
        cJSON *desc = cJSON_CreateObject();
        cJSON_AddItemToArray(descs, desc);
        cJSON_AddStringToObject(desc, "objectType", "REPORT_PAYLOAD_DESCRIPTOR");
        cJSON_AddStringToObject(desc, "payloadType", kinds[j].type);
        cJSON_AddStringToObject(desc, "readingType", "DIRECT_READ");
        cJSON_AddStringToObject(desc, "units", kinds[j].units);
        cJSON_AddNumberToObject(desc, "confidence", gridems_oadr_book_confidence(b, i));
    }
    cJSON *resource = cJSON_CreateObject();
    cJSON_AddStringToObject(resource, "resourceName", resource_name);
    cJSON *intervals = cJSON_AddArrayToObject(resource, "intervals");
    for (size_t k = 0; k < u->n; k++) {
        cJSON_AddItemToArray(intervals, interval_json(u, k));
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "resources"), resource);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

void gridems_oadr_book_remove(gridems_oadr_book_t *b, size_t i)
{
    if (i >= b->n) {
        return;
    }
    usage_free(&b->list[i]);
    memmove(&b->list[i], &b->list[i + 1], (b->n - i - 1) * sizeof *b->list);
    b->n--;
}

/* ---- ## The file in state_dir ---- */

static cJSON *iso_item(int64_t ms)
{
    char text[GRIDEMS_TIME_ISO_BUFLEN];
    if (gridems_time_format_iso(ms, 0, text, sizeof text) != 0) {
        return NULL;
    }
    return cJSON_CreateString(text);
}

char *gridems_oadr_book_to_json(const gridems_oadr_book_t *b)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "kind", GRIDEMS_OADR_REPORTS_KIND);
    cJSON *reports = cJSON_AddArrayToObject(root, "reports");
    for (size_t r = 0; reports != NULL && r < b->n; r++) {
        const gridems_oadr_usage_t *u = &b->list[r];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(reports, o);
        cJSON_AddStringToObject(o, "event", u->event_id);
        cJSON *names = cJSON_AddArrayToObject(o, "kinds");
        for (size_t j = 0; names != NULL && j < N_KINDS; j++) {
            if (u->kinds & kinds[j].bit) {
                cJSON_AddItemToArray(names, cJSON_CreateString(kinds[j].type));
            }
        }
        cJSON *its = cJSON_AddArrayToObject(o, "intervals");
        for (size_t i = 0; its != NULL && i < u->n; i++) {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddItemToArray(its, it);
            cJSON_AddNumberToObject(it, "id", (double)u->periods[i].interval_id);
            cJSON_AddItemToObject(it, "start", iso_item(u->periods[i].start_ms));
            cJSON_AddItemToObject(it, "end", iso_item(u->periods[i].end_ms));
            cJSON_AddNumberToObject(it, "kwh", u->kwh[i]);
            cJSON_AddNumberToObject(it, "covered_ms", (double)u->covered_ms[i]);
            cJSON_AddItemToObject(it, "measured_to", iso_item(u->measured_to_ms[i]));
        }
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* The error convention of error_text.h: the reason into err, the code returned. */
#define REFUSE(code, ...) (gridems_set_err(err, errlen, __VA_ARGS__), (code))

static bool read_time(const cJSON *obj, const char *key, int64_t *ms)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && gridems_time_parse_iso(v->valuestring, ms, NULL, NULL, 0) == 0;
}

/* One interval of the file into u's slot i; field is its path, for the error. */
static int read_interval(const cJSON *it, gridems_oadr_usage_t *u, size_t i, const char *field,
                         char *err, size_t errlen)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    const cJSON *kwh = cJSON_GetObjectItemCaseSensitive(it, "kwh");
    const cJSON *cov = cJSON_GetObjectItemCaseSensitive(it, "covered_ms");
    gridems_oadr_period_t *p = &u->periods[i];
    if (!cJSON_IsObject(it)) {
        return REFUSE(GRIDEMS_EINVAL, "%s: must be an object", field);
    }
    if (!cJSON_IsNumber(id) || id->valuedouble != floor(id->valuedouble) ||
        fabs(id->valuedouble) > 1e9) {
        return REFUSE(GRIDEMS_EINVAL, "%s.id: must be an integer", field);
    }
    p->interval_id = (long)id->valuedouble;
    if (!read_time(it, "start", &p->start_ms)) {
        return REFUSE(GRIDEMS_EINVAL, "%s.start: must be an ISO 8601 time", field);
    }
    if (!read_time(it, "end", &p->end_ms) || p->end_ms <= p->start_ms) {
        return REFUSE(GRIDEMS_EINVAL, "%s.end: must be an ISO 8601 time after start", field);
    }
    if (!cJSON_IsNumber(kwh) || !isfinite(kwh->valuedouble)) {
        return REFUSE(GRIDEMS_EINVAL, "%s.kwh: must be a finite number", field);
    }
    u->kwh[i] = kwh->valuedouble;
    double span = (double)(p->end_ms - p->start_ms);
    if (!cJSON_IsNumber(cov) || cov->valuedouble != floor(cov->valuedouble) ||
        cov->valuedouble < 0 || cov->valuedouble > span) {
        return REFUSE(GRIDEMS_EINVAL,
                      "%s.covered_ms: must be an integer from 0 to the interval's length", field);
    }
    u->covered_ms[i] = (int64_t)cov->valuedouble;
    int64_t to = 0;
    if (!read_time(it, "measured_to", &to) || to < p->start_ms || to > p->end_ms) {
        return REFUSE(GRIDEMS_EINVAL, "%s.measured_to: must be an ISO 8601 time from start to end",
                      field);
    }
    u->measured_to_ms[i] = to;
    return 0;
}

static int read_report(const cJSON *o, gridems_oadr_usage_t *u, int r, char *err, size_t errlen)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    const cJSON *its = cJSON_GetObjectItemCaseSensitive(o, "intervals");
    if (!cJSON_IsObject(o)) {
        return REFUSE(GRIDEMS_EINVAL, "reports[%d]: must be an object", r);
    }
    if (!cJSON_IsString(ev) || ev->valuestring[0] == '\0' ||
        strlen(ev->valuestring) >= GRIDEMS_OADR_ID_SIZE) {
        return REFUSE(GRIDEMS_EINVAL,
                      "reports[%d].event: must be an id of 1 to %d "
                      "bytes",
                      r, GRIDEMS_OADR_ID_SIZE - 1);
    }
    int n = cJSON_GetArraySize(its);
    if (!cJSON_IsArray(its) || n < 1 || n > GRIDEMS_OADR_MAX_INTERVALS) {
        return REFUSE(GRIDEMS_EINVAL,
                      "reports[%d].intervals: must be an array of 1 "
                      "to %d",
                      r, GRIDEMS_OADR_MAX_INTERVALS);
    }
    unsigned asked = 0;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "kinds");
    for (const cJSON *name = cJSON_IsArray(names) ? names->child : NULL; name != NULL;
         name = name->next) {
        size_t j = 0;
        while (j < N_KINDS &&
               !(cJSON_IsString(name) && strcmp(name->valuestring, kinds[j].type) == 0)) {
            j++;
        }
        if (j == N_KINDS) {
            asked = 0;
            break;
        }
        asked |= kinds[j].bit;
    }
    if (asked == 0) {
        return REFUSE(GRIDEMS_EINVAL,
                      "reports[%d].kinds: must be an array of \"USAGE\" and \"DEMAND\"", r);
    }
    if (usage_alloc(u, (size_t)n) != 0) {
        return GRIDEMS_ENOMEM;
    }
    u->kinds = asked;
    snprintf(u->event_id, sizeof u->event_id, "%s", ev->valuestring);
    int i = 0;
    for (const cJSON *it = its->child; it != NULL; it = it->next, i++) {
        char field[64];
        snprintf(field, sizeof field, "reports[%d].intervals[%d]", r, i);
        int rc = read_interval(it, u, (size_t)i, field, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int gridems_oadr_book_parse(const char *text, size_t len, gridems_oadr_book_t *b, char *err,
                            size_t errlen)
{
    cJSON *root = NULL;
    int rc = gridems_json_parse_strict(text, len, &root, err, errlen);
    if (rc != 0) {
        return rc;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *reports = cJSON_GetObjectItemCaseSensitive(root, "reports");
    int n = cJSON_GetArraySize(reports);
    if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        rc = REFUSE(GRIDEMS_EINVAL, "version: must be 1");
    } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, GRIDEMS_OADR_REPORTS_KIND)) {
        rc = REFUSE(GRIDEMS_EINVAL, "kind: must be \"%s\"", GRIDEMS_OADR_REPORTS_KIND);
    } else if (!cJSON_IsArray(reports) || n > GRIDEMS_OADR_MAX_REPORTS) {
        rc = REFUSE(GRIDEMS_EINVAL, "reports: must be an array of at most %d",
                    GRIDEMS_OADR_MAX_REPORTS);
    } else if (n > 0 && (b->list = calloc((size_t)n, sizeof *b->list)) == NULL) {
        rc = GRIDEMS_ENOMEM;
    }
    int r = 0;
    for (const cJSON *o = rc == 0 ? reports->child : NULL; o != NULL && rc == 0; o = o->next) {
        rc = read_report(o, &b->list[r], r, err, errlen);
        b->n = (size_t)++r; /* so that a failure frees what was read */
        for (int k = 0; rc == 0 && k < r - 1; k++) {
            if (strcmp(b->list[k].event_id, b->list[r - 1].event_id) == 0) {
                rc = REFUSE(GRIDEMS_EINVAL, "reports[%d].event: \"%.64s\" is reports[%d] already",
                            r - 1, b->list[k].event_id, k);
            }
        }
    }
    cJSON_Delete(root);
    if (rc != 0) {
        gridems_oadr_book_free(b);
    }
    return rc;
}
