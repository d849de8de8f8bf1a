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
    ev->wants_usage = true;
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

static void sync1(gridems_oadr_book_t *b, gridems_oadr_event_t *ev, int64_t now)
{
    const gridems_oadr_event_t *list[1] = {ev};
    ck_assert_int_eq(gridems_oadr_book_sync(b, list, ev != NULL ? 1 : 0, now, NULL), 0);
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
    sync1(&b, ev, T0);
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
    sync1(&b, ev, T0 + MIN(12));
    ck_assert_uint_eq(b.n, 1);
    ck_assert_double_eq_tol(b.list[0].kwh[0], 10.0, 1e-9);
    ck_assert_double_eq_tol(b.list[0].kwh[1], 0.0, 1e-9);
    ck_assert_int_eq(b.list[0].periods[1].end_ms, T0 + MIN(15));
    /* Deleted on the VTN (no longer held) while it runs: dropped. */
    sync1(&b, NULL, T0 + MIN(12));
    ck_assert_uint_eq(b.n, 0);
    /* No longer held because it is over: kept until sent. */
    sync1(&b, ev, T0 + MIN(12));
    sync1(&b, NULL, T0 + MIN(26));
    ck_assert_uint_eq(b.n, 1);
    gridems_oadr_book_remove(&b, 0);
    ck_assert_uint_eq(b.n, 0);
    /* Held but no longer asking, while it runs: dropped. */
    sync1(&b, ev, T0 + MIN(12));
    ev->wants_usage = false;
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
    ck_assert_int_eq(
        gridems_oadr_book_sync(&b, (const gridems_oadr_event_t *const *)many, N, T0, &refused), 0);
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
    cJSON_Delete(r);
    free(text);
    event_del(ev);
    gridems_oadr_book_free(&b);
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
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
