/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the VEN's usage reports (core/src/openadr/openadr_report.c): the energy of each
 * interval from samples held until the next (computed by hand here), gaps that are not counted
 * and the confidence they leave, when a report is due, how the book follows the VEN's events
 * (an update keeps what it measured in unchanged intervals, a deleted running event goes, an
 * event over stays until sent, the cap) and the JSON body for POST /reports.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "openadr_report.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1796083200000) /* 2026-12-01T00:00:00Z */
#define MIN(m) (INT64_C(60000) * (m))
#define GAP MIN(5)

/* An event asking for USAGE over n intervals of `minutes` from T0 + at minutes, ids 0.. */
static gridems_oadr_event_t *usage_event(const char *id, int at, int n, int minutes)
{
    gridems_oadr_event_t *ev = calloc(1, sizeof *ev);
    ck_assert_ptr_nonnull(ev);
    snprintf(ev->id, sizeof ev->id, "%s", id);
    snprintf(ev->program_id, sizeof ev->program_id, "0");
    ev->reports = GRIDEMS_OADR_REPORT_USAGE;
    ev->periods = calloc((size_t)n, sizeof *ev->periods);
    ck_assert_ptr_nonnull(ev->periods);
    for (int i = 0; i < n; i++) {
        int64_t a = T0 + MIN(at + i * minutes);
        ev->periods[i] = (gridems_oadr_period_t){i, a, a + MIN(minutes)};
    }
    ev->n_periods = (size_t)n;
    return ev;
}

static void event_del(gridems_oadr_event_t *ev)
{
    gridems_oadr_event_free(ev);
    free(ev);
}

/* Returns whether the book changed (what the service saves). */
static bool sync1(gridems_oadr_book_t *b, gridems_oadr_event_t *ev, int64_t now)
{
    const gridems_oadr_event_t *list[1] = {ev};
    bool changed = false;
    ck_assert_int_eq(gridems_oadr_book_sync(b, list, ev != NULL ? 1 : 0, now, NULL, &changed), 0);
    return changed;
}

START_TEST(energy_of_held_samples)
{
    /* Two 15-minute intervals from T0 + 10 min; samples every 4 minutes from T0 with import
     * stepping up: each sample is held until the next, so an interval gets the parts of the
     * samples that overlap it. */
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("e1", 10, 2, 15);
    sync1(&b, ev, T0);
    ck_assert_uint_eq(b.n, 1);
    for (int k = 0; k <= 11; k++) {
        gridems_oadr_book_sample(&b, T0 + MIN(4 * k), 1000.0 + 100.0 * k);
    }
    /* Samples at 0,4,8,...,44 min with kw(k) = 1000 + 100 k. Interval 0 is [10, 25): 8-12 at
     * kw(2) for 2 min, 12-16 kw(3), 16-20 kw(4), 20-24 kw(5) (4 min each), 24-25 kw(6) 1 min. */
    double want0 = (1200.0 * 2 + 1300.0 * 4 + 1400.0 * 4 + 1500.0 * 4 + 1600.0 * 1) / 60.0;
    /* Interval 1 is [25, 40): 25-28 kw(6) 3 min, then kw(7), kw(8), kw(9) 4 min each. */
    double want1 = (1600.0 * 3 + 1700.0 * 4 + 1800.0 * 4 + 1900.0 * 4) / 60.0;
    ck_assert_double_eq_tol(b.list[0].kwh[0], want0, 1e-9);
    ck_assert_double_eq_tol(b.list[0].kwh[1], want1, 1e-9);
    ck_assert_int_eq(b.list[0].covered_ms[0], MIN(15));
    ck_assert_int_eq(gridems_oadr_book_confidence(&b, 0), 100);
    /* A sample out of order is ignored; a non-finite one too. */
    gridems_oadr_book_sample(&b, T0 + MIN(30), 1e6);
    gridems_oadr_book_sample(&b, T0 + MIN(46), NAN);
    ck_assert_double_eq_tol(b.list[0].kwh[1], want1, 1e-9);
    event_del(ev);
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(gaps_are_not_counted)
{
    /* One hour from T0: samples to 20 min, then nothing for 10 min (above the 5-minute gap: the
     * service was down), then to 60 min; and a reading missing at 45 min (no_sample) until 48. */
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("e2", 0, 1, 60);
    sync1(&b, ev, T0);
    for (int m = 0; m <= 20; m += 2) {
        gridems_oadr_book_sample(&b, T0 + MIN(m), 600.0);
    }
    for (int m = 30; m <= 44; m += 2) {
        gridems_oadr_book_sample(&b, T0 + MIN(m), 600.0);
    }
    gridems_oadr_book_no_sample(&b, T0 + MIN(45)); /* 44-45 counted, then nothing held */
    for (int m = 48; m <= 60; m += 2) {
        gridems_oadr_book_sample(&b, T0 + MIN(m), 600.0);
    }
    /* Counted: 0-20, 30-45, 48-60: 47 minutes at 600 kW. */
    ck_assert_int_eq(b.list[0].covered_ms[0], MIN(47));
    ck_assert_double_eq_tol(b.list[0].kwh[0], 600.0 * 47 / 60, 1e-9);
    ck_assert_int_eq(gridems_oadr_book_confidence(&b, 0), 78); /* 47/60, rounded down */
    event_del(ev);
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(due_once_counted_to_the_end)
{
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("e3", 0, 2, 10); /* ends at T0 + 20 min */
    sync1(&b, ev, T0);
    gridems_oadr_book_sample(&b, T0 + MIN(19), 100.0);
    ck_assert_int_eq(gridems_oadr_book_due(&b, T0 + MIN(19)), -1);
    /* Over, but the held sample not yet counted to the end: not due. */
    ck_assert_int_eq(gridems_oadr_book_due(&b, T0 + MIN(20) + 500), -1);
    gridems_oadr_book_sample(&b, T0 + MIN(20) + 500, 100.0);
    ck_assert_int_eq(gridems_oadr_book_due(&b, T0 + MIN(20) + 500), 0);
    event_del(ev);

    /* No sample reaches the end (readings stopped): due the gap after the end, with what it
     * has. */
    gridems_oadr_book_free(&b);
    ev = usage_event("e4", 0, 1, 10);
    sync1(&b, ev, T0);
    gridems_oadr_book_sample(&b, T0 + MIN(1), 100.0);
    ck_assert_int_eq(gridems_oadr_book_due(&b, T0 + MIN(14)), -1);
    ck_assert_int_eq(gridems_oadr_book_due(&b, T0 + MIN(15)), 0);
    event_del(ev);
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(follows_the_events)
{
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("e5", 0, 3, 10);
    ck_assert(sync1(&b, ev, T0));
    ck_assert(!sync1(&b, ev, T0)); /* the same event again: nothing to save */
    for (int m = 0; m <= 12; m++) {
        gridems_oadr_book_sample(&b, T0 + MIN(m), 60.0);
    }
    ck_assert_double_eq_tol(b.list[0].kwh[0], 10.0, 1e-9);
    ck_assert_double_eq_tol(b.list[0].kwh[1], 2.0, 1e-9);
    /* An update moves interval 1 (now 5 minutes long) and keeps 0 and 2: what was measured in
     * 0 stays, 1 starts again. */
    ev->periods[1].end_ms -= MIN(5);
    ev->periods[2].start_ms -= MIN(5);
    ev->periods[2].end_ms -= MIN(5);
    ck_assert(sync1(&b, ev, T0 + MIN(12)));
    ck_assert_uint_eq(b.n, 1);
    ck_assert_double_eq_tol(b.list[0].kwh[0], 10.0, 1e-9);
    ck_assert_double_eq_tol(b.list[0].kwh[1], 0.0, 1e-9);
    ck_assert_int_eq(b.list[0].periods[1].end_ms, T0 + MIN(15));
    /* A DEMAND report asked as well: the same intervals, another kind. */
    ev->reports |= GRIDEMS_OADR_REPORT_DEMAND;
    ck_assert(sync1(&b, ev, T0 + MIN(12)));
    ck_assert_uint_eq(b.list[0].kinds, GRIDEMS_OADR_REPORT_USAGE | GRIDEMS_OADR_REPORT_DEMAND);
    ck_assert_double_eq_tol(b.list[0].kwh[0], 10.0, 1e-9);
    ev->reports = GRIDEMS_OADR_REPORT_USAGE;
    /* Deleted on the VTN (no longer held) while it runs: dropped. */
    ck_assert(sync1(&b, NULL, T0 + MIN(12)));
    ck_assert_uint_eq(b.n, 0);
    /* No longer held because it is over: kept until sent. */
    sync1(&b, ev, T0 + MIN(12));
    ck_assert(!sync1(&b, NULL, T0 + MIN(26)));
    ck_assert_uint_eq(b.n, 1);
    gridems_oadr_book_remove(&b, 0);
    ck_assert_uint_eq(b.n, 0);
    /* Held but no longer asking, while it runs: dropped. */
    sync1(&b, ev, T0 + MIN(12));
    ev->reports = 0;
    sync1(&b, ev, T0 + MIN(12));
    ck_assert_uint_eq(b.n, 0);
    event_del(ev);

    /* At most GRIDEMS_OADR_MAX_REPORTS at once; the rest are counted as refused. */
    enum { N = GRIDEMS_OADR_MAX_REPORTS + 3 };
    gridems_oadr_event_t *many[N];
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        many[i] = usage_event(id, 0, 1, 30);
    }
    size_t refused = 0;
    ck_assert_int_eq(gridems_oadr_book_sync(&b, (const gridems_oadr_event_t *const *)many, N, T0,
                                            &refused, NULL),
                     0);
    ck_assert_uint_eq(b.n, GRIDEMS_OADR_MAX_REPORTS);
    ck_assert_uint_eq(refused, 3);
    for (int i = 0; i < N; i++) {
        event_del(many[i]);
    }
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(report_json)
{
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("evt-9", 0, 2, 30);
    ev->periods[1].interval_id = 7;
    ev->reports |= GRIDEMS_OADR_REPORT_DEMAND;
    sync1(&b, ev, T0);
    for (int m = 0; m <= 60; m++) {
        gridems_oadr_book_sample(&b, T0 + MIN(m), m < 30 ? 1234.5678 : -60.0);
    }
    char *text = gridems_oadr_book_report_json(&b, 0, "sakai-ven", "site");
    ck_assert_ptr_nonnull(text);
    cJSON *r = cJSON_Parse(text);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(cJSON_GetObjectItem(r, "eventID")->valuestring, "evt-9");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "clientName")->valuestring, "sakai-ven");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "reportName")->valuestring, "gridems usage evt-9");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "payloadDescriptors")), 2);
    const cJSON *dd = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "payloadDescriptors"), 1);
    ck_assert_str_eq(cJSON_GetObjectItem(dd, "payloadType")->valuestring, "DEMAND");
    ck_assert_str_eq(cJSON_GetObjectItem(dd, "units")->valuestring, "KW");
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "payloadDescriptors"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "objectType")->valuestring,
                     "REPORT_PAYLOAD_DESCRIPTOR");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "payloadType")->valuestring, "USAGE");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "readingType")->valuestring, "DIRECT_READ");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "units")->valuestring, "KWH");
    ck_assert_int_eq(cJSON_GetObjectItem(d, "confidence")->valueint, 100);
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "resources"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "resourceName")->valuestring, "site");
    const cJSON *its = cJSON_GetObjectItem(res, "intervals");
    ck_assert_int_eq(cJSON_GetArraySize(its), 2);
    const cJSON *i0 = cJSON_GetArrayItem(its, 0);
    const cJSON *i1 = cJSON_GetArrayItem(its, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(i0, "id")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(i1, "id")->valueint, 7);
    const cJSON *p0 = cJSON_GetObjectItem(i0, "intervalPeriod");
    const cJSON *p1 = cJSON_GetObjectItem(i1, "intervalPeriod");
    ck_assert_str_eq(cJSON_GetObjectItem(p0, "start")->valuestring, "2026-12-01T00:00:00Z");
    ck_assert_str_eq(cJSON_GetObjectItem(p1, "start")->valuestring, "2026-12-01T00:30:00Z");
    ck_assert_str_eq(cJSON_GetObjectItem(p0, "duration")->valuestring, "PT1800S");
    /* 1234.5678 kW for half an hour, to the Wh; the export of the second half is negative. */
    const cJSON *v0 = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "payloads"), 0), "values"),
        0);
    const cJSON *t1 =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(i1, "payloads"), 0), "type");
    const cJSON *v1 = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(i1, "payloads"), 0), "values"),
        0);
    ck_assert_double_eq(v0->valuedouble, 617.284);
    ck_assert_str_eq(t1->valuestring, "USAGE");
    ck_assert_double_eq(v1->valuedouble, -30.0);
    /* DEMAND: the mean import over the time measured, to the W. */
    const cJSON *dem0 = cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "payloads"), 1);
    const cJSON *dem1 = cJSON_GetArrayItem(cJSON_GetObjectItem(i1, "payloads"), 1);
    ck_assert_str_eq(cJSON_GetObjectItem(dem0, "type")->valuestring, "DEMAND");
    ck_assert_double_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(dem0, "values"), 0)->valuedouble,
                        1234.568);
    ck_assert_double_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(dem1, "values"), 0)->valuedouble,
                        -60.0);
    cJSON_Delete(r);
    free(text);
    event_del(ev);
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(each_instant_once)
{
    /* The clock set back (a restart of a simulated clock, an NTP step): the samples replayed
     * over what was counted add nothing there, and count again only past it. */
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("e6", 0, 1, 30);
    sync1(&b, ev, T0);
    for (int m = 0; m <= 20; m++) {
        ck_assert(gridems_oadr_book_sample(&b, T0 + MIN(m), 120.0) == (m > 0));
    }
    gridems_oadr_book_no_sample(&b, T0 + MIN(21)); /* stopped */
    ck_assert_double_eq_tol(b.list[0].kwh[0], 42.0, 1e-9);
    for (int m = 10; m <= 30; m++) { /* back at T0 + 10 min */
        gridems_oadr_book_sample(&b, T0 + MIN(m), 999.0);
    }
    /* 0-21 at 120 kW, then 21-30 at 999 kW: 42 + 149.85 kWh, every minute once. */
    ck_assert_int_eq(b.list[0].covered_ms[0], MIN(30));
    ck_assert_double_eq_tol(b.list[0].kwh[0], 42.0 + 999.0 * 9 / 60, 1e-9);
    /* Nothing to count: a sample before the event changes no measure. */
    gridems_oadr_book_free(&b);
    event_del(ev);
    ev = usage_event("e7", 60, 1, 30);
    sync1(&b, ev, T0);
    ck_assert(!gridems_oadr_book_sample(&b, T0, 5.0));
    ck_assert(!gridems_oadr_book_sample(&b, T0 + MIN(1), 5.0));
    event_del(ev);
    gridems_oadr_book_free(&b);
}
END_TEST

START_TEST(file_round_trip)
{
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    gridems_oadr_event_t *ev = usage_event("evt-1", 0, 2, 15);
    gridems_oadr_event_t *ev2 = usage_event("evt-2", 10, 1, 60);
    ev2->reports = GRIDEMS_OADR_REPORT_DEMAND;
    const gridems_oadr_event_t *list[2] = {ev, ev2};
    ck_assert_int_eq(gridems_oadr_book_sync(&b, list, 2, T0, NULL, NULL), 0);
    for (int s = 0; s <= 40; s += 3) {
        gridems_oadr_book_sample(&b, T0 + MIN(s) + 250, 333.3 + s);
    }
    char *text = gridems_oadr_book_to_json(&b);
    ck_assert_ptr_nonnull(text);
    gridems_oadr_book_t back;
    gridems_oadr_book_init(&back, GAP);
    char err[256] = "";
    ck_assert_msg(gridems_oadr_book_parse(text, strlen(text), &back, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(back.n, 2);
    ck_assert(!back.has_sample); /* the time the service is down is a gap */
    for (size_t r = 0; r < 2; r++) {
        ck_assert_str_eq(back.list[r].event_id, b.list[r].event_id);
        ck_assert_uint_eq(back.list[r].kinds, b.list[r].kinds);
        ck_assert_uint_eq(back.list[r].n, b.list[r].n);
        for (size_t i = 0; i < b.list[r].n; i++) {
            ck_assert(memcmp(&back.list[r].periods[i], &b.list[r].periods[i],
                             sizeof b.list[r].periods[i]) == 0);
            ck_assert(back.list[r].kwh[i] == b.list[r].kwh[i]); /* exact */
            ck_assert_int_eq(back.list[r].covered_ms[i], b.list[r].covered_ms[i]);
            ck_assert_int_eq(back.list[r].measured_to_ms[i], b.list[r].measured_to_ms[i]);
        }
    }
    free(text);
    gridems_oadr_book_free(&back);
    /* An empty book is a file too (saved once the last report went). */
    gridems_oadr_book_free(&b);
    text = gridems_oadr_book_to_json(&b);
    ck_assert_int_eq(gridems_oadr_book_parse(text, strlen(text), &back, err, sizeof err), 0);
    ck_assert_uint_eq(back.n, 0);
    free(text);
    event_del(ev);
    event_del(ev2);
}
END_TEST

typedef struct bad_file_s {
    const char *text;
    const char *want;
} bad_file_t;

#define HEAD "{\"version\":1,\"kind\":\"gridems-openadr-reports\",\"reports\":"
#define IT(rest)                                                                                   \
    HEAD "[{\"event\":\"e\",\"kinds\":[\"USAGE\"],\"intervals\":[{\"id\":0,\"start\":\"2026-12-"   \
         "01T00:00:00Z\"," rest "}]}]}"
#define OK_END "\"end\":\"2026-12-01T00:15:00Z\""

static const bad_file_t bad_files[] = {
    {"[", "JSON"},
    {"{\"version\":2,\"kind\":\"gridems-openadr-reports\",\"reports\":[]}", "version: must be 1"},
    {"{\"version\":1,\"kind\":\"x\",\"reports\":[]}", "kind: must be \"gridems-openadr-reports\""},
    {HEAD "{}}", "reports: must be an array"},
    {HEAD "[3]}", "reports[0]: must be an object"},
    {HEAD "[{\"event\":\"\",\"intervals\":[]}]}", "reports[0].event: must be an id"},
    {HEAD "[{\"event\":\"e\",\"intervals\":[]}]}", "reports[0].intervals: must be an array of 1"},
    {HEAD "[{\"event\":\"e\",\"kinds\":[\"USAGE\",\"BASELINE\"],\"intervals\":[{}]}]}",
     "reports[0].kinds: must be an array of \"USAGE\" and \"DEMAND\""},
    {HEAD "[{\"event\":\"e\",\"intervals\":[{}]}]}", "reports[0].kinds: must be an array"},
    {IT("\"end\":\"2026-11-30T00:00:00Z\",\"kwh\":1,\"covered_ms\":0,\"measured_to\":"
        "\"2026-12-01T00:00:00Z\""),
     "reports[0].intervals[0].end: must be an ISO 8601 time after start"},
    {IT(OK_END ",\"kwh\":\"1\",\"covered_ms\":0,\"measured_to\":\"2026-12-01T00:00:00Z\""),
     "reports[0].intervals[0].kwh: must be a finite number"},
    {IT(OK_END ",\"kwh\":1,\"covered_ms\":900001,\"measured_to\":\"2026-12-01T00:00:00Z\""),
     "reports[0].intervals[0].covered_ms: must be an integer from 0 to the interval's length"},
    {IT(OK_END ",\"kwh\":1,\"covered_ms\":0,\"measured_to\":\"2026-12-01T01:00:00Z\""),
     "reports[0].intervals[0].measured_to: must be an ISO 8601 time from start to end"},
    {HEAD "[{\"event\":\"e\",\"kinds\":[\"USAGE\"],\"intervals\":[{\"id\":0.5}]}]}",
     "reports[0].intervals[0].id: must be an integer"},
    {HEAD
     "[{\"event\":\"e\",\"kinds\":[\"DEMAND\"],\"intervals\":[{\"id\":0,\"start\":\"2026-12-01T00:"
     "00:00Z\"," OK_END ",\"kwh\":1,\"covered_ms\":0,\"measured_to\":\"2026-12-01T00:00:00Z\"}]},"
     "{\"event\":\"e\",\"kinds\":[\"DEMAND\"],\"intervals\":[{\"id\":0,\"start\":\"2026-12-01T00:"
     "00:00Z\"," OK_END ",\"kwh\":1,\"covered_ms\":0,\"measured_to\":\"2026-12-01T00:00:00Z\"}]}]}",
     "reports[1].event: \"e\" is reports[0] already"},
};

START_TEST(file_refused_naming_the_field)
{
    const bad_file_t *c = &bad_files[_i];
    gridems_oadr_book_t b;
    gridems_oadr_book_init(&b, GAP);
    char err[256] = "";
    int rc = gridems_oadr_book_parse(c->text, strlen(c->text), &b, err, sizeof err);
    ck_assert_msg(rc == GRIDEMS_EINVAL || rc == GRIDEMS_EPARSE, "case %d: rc %d", _i, rc);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    ck_assert_uint_eq(b.n, 0);
    ck_assert_ptr_null(b.list);
    ck_assert_int_eq(b.max_gap_ms, GAP);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openadr_report");
    TCase *tc = tcase_create("book");
    tcase_add_test(tc, energy_of_held_samples);
    tcase_add_test(tc, gaps_are_not_counted);
    tcase_add_test(tc, due_once_counted_to_the_end);
    tcase_add_test(tc, follows_the_events);
    tcase_add_test(tc, report_json);
    tcase_add_test(tc, each_instant_once);
    tcase_add_test(tc, file_round_trip);
    tcase_add_loop_test(tc, file_refused_naming_the_field, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
