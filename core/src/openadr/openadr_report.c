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

#include "gridems/errors.h"
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
    memset(u, 0, sizeof *u);
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
    size_t n = ev->n_periods;
    gridems_oadr_period_t *p = malloc(n * sizeof *p);
    double *kwh = calloc(n, sizeof *kwh);
    int64_t *cov = calloc(n, sizeof *cov);
    if (p == NULL || kwh == NULL || cov == NULL) {
        free(p);
        free(kwh);
        free(cov);
        return GRIDEMS_ENOMEM;
    }
    memcpy(p, ev->periods, n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < u->n; k++) {
            const gridems_oadr_period_t *was = &u->periods[k];
            if (was->interval_id == p[i].interval_id && was->start_ms == p[i].start_ms &&
                was->end_ms == p[i].end_ms) {
                kwh[i] = u->kwh[k];
                cov[i] = u->covered_ms[k];
                break;
            }
        }
    }
    free(u->periods);
    free(u->kwh);
    free(u->covered_ms);
    u->periods = p;
    u->kwh = kwh;
    u->covered_ms = cov;
    u->n = n;
    return 0;
}

static bool same_periods(const gridems_oadr_usage_t *u, const gridems_oadr_event_t *ev)
{
    return u->n == ev->n_periods &&
           (u->n == 0 || memcmp(u->periods, ev->periods, u->n * sizeof *u->periods) == 0);
}

int gridems_oadr_book_sync(gridems_oadr_book_t *b, const gridems_oadr_event_t *const *events,
                           size_t n, int64_t now_ms, size_t *refused)
{
    size_t none = 0;
    refused = refused != NULL ? refused : &none;
    *refused = 0;
    /* Drop what is no longer asked for while it still runs; keep what is over (due). */
    for (size_t i = 0; i < b->n;) {
        const gridems_oadr_event_t *ev = held(events, n, b->list[i].event_id);
        bool asked = ev != NULL && ev->wants_usage;
        if (!asked && last_end(&b->list[i]) > now_ms) {
            gridems_oadr_book_remove(b, i);
        } else {
            i++;
        }
    }
    int rc = 0;
    for (size_t e = 0; e < n; e++) {
        const gridems_oadr_event_t *ev = events[e];
        if (!ev->wants_usage) {
            continue;
        }
        long at = find(b, ev->id);
        if (at >= 0) {
            if (!same_periods(&b->list[at], ev) && take_periods(&b->list[at], ev) != 0) {
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
        if (take_periods(u, ev) != 0) {
            rc = GRIDEMS_ENOMEM;
            continue;
        }
        b->n++;
    }
    return rc;
}

/* Count the held sample over [from, to) into every interval it overlaps. */
static void count(gridems_oadr_book_t *b, int64_t from, int64_t to, double kw)
{
    for (size_t r = 0; r < b->n; r++) {
        gridems_oadr_usage_t *u = &b->list[r];
        for (size_t i = 0; i < u->n; i++) {
            int64_t a = u->periods[i].start_ms > from ? u->periods[i].start_ms : from;
            int64_t z = u->periods[i].end_ms < to ? u->periods[i].end_ms : to;
            if (z > a) {
                u->kwh[i] += kw * (double)(z - a) / MS_PER_HOUR;
                u->covered_ms[i] += z - a;
            }
        }
    }
}

/* Count the held sample up to now_ms; true when now_ms is not before it. */
static bool count_to(gridems_oadr_book_t *b, int64_t now_ms)
{
    if (!b->has_sample) {
        return true;
    }
    if (now_ms < b->sample_ms) {
        return false;
    }
    if (now_ms - b->sample_ms <= b->max_gap_ms) {
        count(b, b->sample_ms, now_ms, b->sample_kw);
    }
    return true;
}

void gridems_oadr_book_sample(gridems_oadr_book_t *b, int64_t now_ms, double kw)
{
    if (!isfinite(kw) || !count_to(b, now_ms)) {
        return;
    }
    b->has_sample = true;
    b->sample_ms = now_ms;
    b->sample_kw = kw;
}

void gridems_oadr_book_no_sample(gridems_oadr_book_t *b, int64_t now_ms)
{
    if (count_to(b, now_ms)) {
        b->has_sample = false;
    }
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
    cJSON *payload = cJSON_CreateObject();
    cJSON_AddStringToObject(payload, "type", "USAGE");
    cJSON *values = cJSON_AddArrayToObject(payload, "values");
    cJSON_AddItemToArray(values, cJSON_CreateNumber(round(u->kwh[k] * 1000.0) / 1000.0));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(it, "payloads"), payload);
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
    cJSON *desc = cJSON_CreateObject();
    cJSON_AddStringToObject(desc, "objectType", "REPORT_PAYLOAD_DESCRIPTOR");
    cJSON_AddStringToObject(desc, "payloadType", "USAGE");
    cJSON_AddStringToObject(desc, "readingType", "DIRECT_READ");
    cJSON_AddStringToObject(desc, "units", "KWH");
    cJSON_AddNumberToObject(desc, "confidence", gridems_oadr_book_confidence(b, i));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "payloadDescriptors"), desc);
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
