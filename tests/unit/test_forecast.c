/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/inputs/forecast.c: both message forms, every rejection (each must name
 * its field and leave the store unchanged), merge-replace with trimming, prune, resampling and
 * coverage. Times are minutes after 2026-05-11T00:00:00Z unless said otherwise.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check_run.h"
#include "forecast.h"
#include "gridems/errors.h"
#include "timeutil.h"

#define B INT64_C(1778457600000) /* 2026-05-11T00:00:00Z */
#define AT(m) (B + GRIDEMS_TIME_MS_PER_MINUTE * (int64_t)(m))
#define STEP(m) (GRIDEMS_TIME_MS_PER_MINUTE * (int64_t)(m))

/* ISO text of AT(m) in UTC, in one of a few static buffers (enough for one snprintf call). */
static const char *iso(int m)
{
    static char bufs[8][GRIDEMS_TIME_ISO_BUFLEN];
    static int next = 0;
    char *b = bufs[next++ % 8];
    ck_assert_int_eq(gridems_time_format_iso(AT(m), 0, b, GRIDEMS_TIME_ISO_BUFLEN), 0);
    return b;
}

static int update(gridems_forecast_t *f, const char *json, char *err, size_t errlen)
{
    return gridems_forecast_update_json(f, json, strlen(json), err, errlen);
}

static void update_ok(gridems_forecast_t *f, const char *json)
{
    char err[256] = "";
    int rc = update(f, json, err, sizeof err);
    ck_assert_msg(rc == 0, "update failed (%d): %s\n%s", rc, err, json);
}

static void assert_iv(const gridems_forecast_t *f, size_t i, int start_min, int end_min, double v)
{
    ck_assert_msg(i < f->n, "interval %zu missing (store holds %zu)", i, f->n);
    ck_assert_int_eq(f->iv[i].start_ms, AT(start_min));
    ck_assert_int_eq(f->iv[i].end_ms, AT(end_min));
    ck_assert_double_eq_tol(f->iv[i].value, v, 1e-12);
}

/* A store filled with a known state: 00:00-02:00 in four half hours, 10, 11, 12, 13 per kWh, JPY.
 */
static void fill_known(gridems_forecast_t *f)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":30,\"values\":[10,11,12,13],\"unit\":\"kWh\","
             "\"currency\":\"JPY\"}",
             iso(0));
    update_ok(f, json);
}

static void assert_known(const gridems_forecast_t *f)
{
    ck_assert_uint_eq(f->n, 4);
    assert_iv(f, 0, 0, 30, 10);
    assert_iv(f, 1, 30, 60, 11);
    assert_iv(f, 2, 60, 90, 12);
    assert_iv(f, 3, 90, 120, 13);
    ck_assert_str_eq(f->currency, "JPY");
}

START_TEST(test_rate_array)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    /* The spec's own example, with offsets; elements out of order are sorted. */
    update_ok(&f, "[{\"start\":\"2026-05-11T00:30:00+09:00\",\"end\":\"2026-05-11T01:00:00+09:00\","
                  "\"value\":15},"
                  "{\"start\":\"2026-05-11T00:00:00+09:00\",\"end\":\"2026-05-11T00:30:00+09:00\","
                  "\"value\":12.3}]");
    ck_assert_uint_eq(f.n, 2);
    assert_iv(&f, 0, -540, -510, 12.3);
    assert_iv(&f, 1, -510, -480, 15);
    ck_assert_str_eq(f.currency, "");
    gridems_forecast_close(&f);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_ptr_null(f.iv);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_series_units)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    char json[512];
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":30,\"values\":[12300,-4500.5,0],"
             "\"unit\":\"MWh\",\"currency\":\"JPY\",\"note\":\"ignored\"}",
             iso(0));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 3);
    assert_iv(&f, 0, 0, 30, 12.3);
    assert_iv(&f, 1, 30, 60, -4.5005);
    assert_iv(&f, 2, 60, 90, 0);
    ck_assert_str_eq(f.currency, "JPY");
    /* Unit matched without case; absent unit means kWh; absent currency is the store's. */
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":15,\"values\":[2000],"
             "\"unit\":\"mwh\"}",
             iso(90));
    update_ok(&f, json);
    assert_iv(&f, 3, 90, 105, 2.0);
    snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":7.5,\"values\":[7]}", iso(105));
    update_ok(&f, json);
    ck_assert_int_eq(f.iv[4].start_ms, AT(105));
    ck_assert_int_eq(f.iv[4].end_ms, AT(105) + 450000);
    ck_assert_double_eq(f.iv[4].value, 7.0);
    /* Currency codes compare without case. */
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":60,\"values\":[1],\"currency\":\"jpy\"}",
             iso(600));
    update_ok(&f, json);
    ck_assert_str_eq(f.currency, "JPY");
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_carbon)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_CARBON);
    char json[512], err[256] = "";
    /* g/kWh publishers send kg/MWh, i.e. unit MWh; a currency key means nothing here. */
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":60,\"values\":[450,0,10000],\"unit\":\"MWh\","
             "\"currency\":\"USD\"}",
             iso(0));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 3);
    assert_iv(&f, 0, 0, 60, 0.45);
    assert_iv(&f, 2, 120, 180, 10.0);
    ck_assert_str_eq(f.currency, "");
    ck_assert_int_eq(gridems_forecast_set_currency(&f, "USD"), GRIDEMS_EINVAL);

    snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":60,\"values\":[0.4,-0.1]}",
             iso(0));
    ck_assert_int_eq(update(&f, json, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "values[1]: carbon intensity must be in [0, 10]") != NULL, "%s", err);
    snprintf(json, sizeof json, "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":10.5}]", iso(0),
             iso(60));
    ck_assert_int_eq(update(&f, json, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "[0].value: carbon intensity") != NULL, "%s", err);
    assert_iv(&f, 0, 0, 60, 0.45);
    ck_assert_uint_eq(f.n, 3);
    gridems_forecast_close(&f);
}
END_TEST

typedef struct {
    const char *json;
    int rc;
    const char *reason;
} bad_case_t;

START_TEST(test_rejections_leave_store_unchanged)
{
    char t0[40], t30[40], t60[40], t90[40], t15[40], t45[40];
    snprintf(t0, sizeof t0, "\"%s\"", iso(0));
    snprintf(t15, sizeof t15, "\"%s\"", iso(15));
    snprintf(t30, sizeof t30, "\"%s\"", iso(30));
    snprintf(t45, sizeof t45, "\"%s\"", iso(45));
    snprintf(t60, sizeof t60, "\"%s\"", iso(60));
    snprintf(t90, sizeof t90, "\"%s\"", iso(90));
    char c[64][512];
    int k = 0;
    bad_case_t cases[64];
#define CASE(rc_, reason_, ...)                                                                    \
    do {                                                                                           \
        snprintf(c[k], sizeof c[k], __VA_ARGS__);                                                  \
        cases[k] = (bad_case_t){c[k], (rc_), (reason_)};                                           \
        k++;                                                                                       \
    } while (0)

    /* Not JSON, or the wrong shape. */
    CASE(GRIDEMS_EPARSE, "message: not JSON", "not json");
    CASE(GRIDEMS_EPARSE, "message: not JSON", "[{\"start\":%s", t0);
    CASE(GRIDEMS_EPARSE, "message: trailing data at byte 74 after the document",
         "[{\"start\":%s,\"end\":%s,\"value\":1}] x", t0, t30);
    CASE(GRIDEMS_EPARSE, "message: empty message", "%s", "");
    CASE(GRIDEMS_EINVAL, "message: must be a rate array", "42");
    CASE(GRIDEMS_EINVAL, "message: must be a rate array", "\"text\"");
    CASE(GRIDEMS_EINVAL, "message: the rate array has no intervals", "[]");
    /* Rate array elements. */
    CASE(GRIDEMS_EINVAL, "[0]: must be an object", "[1]");
    CASE(GRIDEMS_EINVAL, "[1]: must be an object", "[{\"start\":%s,\"end\":%s,\"value\":1},[]]", t0,
         t30);
    CASE(GRIDEMS_EINVAL, "[0].start: missing", "[{\"end\":%s,\"value\":1}]", t30);
    CASE(GRIDEMS_EINVAL, "[0].start: must be an ISO 8601 timestamp string",
         "[{\"start\":0,\"end\":%s,\"value\":1}]", t30);
    CASE(GRIDEMS_EINVAL, "[0].start: missing UTC offset",
         "[{\"start\":\"2026-05-11T00:00:00\",\"end\":%s,\"value\":1}]", t30);
    CASE(GRIDEMS_EINVAL, "[0].end: missing", "[{\"start\":%s,\"value\":1}]", t0);
    CASE(GRIDEMS_EINVAL, "[0].end: day out of range",
         "[{\"start\":%s,\"end\":\"2026-02-30T00:00:00Z\",\"value\":1}]", t0);
    CASE(GRIDEMS_EINVAL, "[1].end: must be after start",
         "[{\"start\":%s,\"end\":%s,\"value\":1},{\"start\":%s,\"end\":%s,\"value\":1}]", t0, t30,
         t60, t60);
    CASE(GRIDEMS_EINVAL, "[0].end: must be after start", "[{\"start\":%s,\"end\":%s,\"value\":1}]",
         t30, t0);
    CASE(GRIDEMS_EINVAL, "[0].value: missing", "[{\"start\":%s,\"end\":%s}]", t0, t30);
    CASE(GRIDEMS_EINVAL, "[0].value: must be a finite number",
         "[{\"start\":%s,\"end\":%s,\"value\":\"12\"}]", t0, t30);
    CASE(GRIDEMS_EINVAL, "[0].value: must be a finite number",
         "[{\"start\":%s,\"end\":%s,\"value\":null}]", t0, t30);
    CASE(GRIDEMS_EINVAL, "[0].value: must be a finite number",
         "[{\"start\":%s,\"end\":%s,\"value\":1e999}]", t0, t30);
    CASE(GRIDEMS_EINVAL, "[0].value: price must be within +-1e+06 per kWh, got 2e+06",
         "[{\"start\":%s,\"end\":%s,\"value\":2e6}]", t0, t30);
    CASE(GRIDEMS_EINVAL, "[2]: overlaps [0]",
         "[{\"start\":%s,\"end\":%s,\"value\":1},{\"start\":%s,\"end\":%s,\"value\":2},"
         "{\"start\":%s,\"end\":%s,\"value\":3}]",
         t0, t30, t60, t90, t15, t45);
    CASE(GRIDEMS_EINVAL, "[1]: overlaps [0]",
         "[{\"start\":%s,\"end\":%s,\"value\":1},{\"start\":%s,\"end\":%s,\"value\":2}]", t0, t30,
         t0, t30);
    /* Series object. */
    CASE(GRIDEMS_EINVAL, "start: missing", "{\"step_minutes\":30,\"values\":[1]}");
    CASE(GRIDEMS_EINVAL, "start: missing UTC offset",
         "{\"start\":\"2026-05-11T00:00:00\",\"step_minutes\":30,\"values\":[1]}");
    CASE(GRIDEMS_EINVAL, "step_minutes: missing", "{\"start\":%s,\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "step_minutes: must be a finite number",
         "{\"start\":%s,\"step_minutes\":\"30\",\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "step_minutes: must be in (0, 1440]",
         "{\"start\":%s,\"step_minutes\":0,\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "step_minutes: must be in (0, 1440]",
         "{\"start\":%s,\"step_minutes\":-30,\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "step_minutes: must be in (0, 1440]",
         "{\"start\":%s,\"step_minutes\":1441,\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "step_minutes: must be at least one millisecond",
         "{\"start\":%s,\"step_minutes\":1e-9,\"values\":[1]}", t0);
    CASE(GRIDEMS_EINVAL, "unit: must be \"kWh\" or \"MWh\", got \"GWh\"",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"unit\":\"GWh\"}", t0);
    CASE(GRIDEMS_EINVAL, "unit: must be",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"unit\":1000}", t0);
    CASE(GRIDEMS_EINVAL, "currency: must be a string",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"currency\":392}", t0);
    CASE(GRIDEMS_EINVAL, "currency: must be a string",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"currency\":\"\"}", t0);
    CASE(GRIDEMS_EINVAL, "currency: must be a string",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"currency\":\"JAPANESE YEN\"}", t0);
    CASE(GRIDEMS_EINVAL, "currency: must be a string",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"currency\":\"ABCDEFGHIJKLMNOP\"}", t0);
    CASE(GRIDEMS_EINVAL, "currency: \"USD\" does not match the forecast's \"JPY\"",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1],\"currency\":\"USD\"}", t0);
    CASE(GRIDEMS_EINVAL, "values: must be an array", "{\"start\":%s,\"step_minutes\":30}", t0);
    CASE(GRIDEMS_EINVAL, "values: must be an array",
         "{\"start\":%s,\"step_minutes\":30,\"values\":{}}", t0);
    CASE(GRIDEMS_EINVAL, "values: must not be empty",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[]}", t0);
    CASE(GRIDEMS_EINVAL, "values[7]: must be a finite number",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1,2,3,4,5,6,7,\"8\"]}", t0);
    CASE(GRIDEMS_EINVAL, "values[2]: must be a finite number",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[1,2,null]}", t0);
    CASE(GRIDEMS_EINVAL, "values[1]: price must be within",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[5e8,2e9],\"unit\":\"MWh\"}", t0);
    CASE(GRIDEMS_EINVAL, "values[0]: price must be within",
         "{\"start\":%s,\"step_minutes\":30,\"values\":[-1000001]}", t0);
#undef CASE

    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    fill_known(&f);
    for (int i = 0; i < k; i++) {
        char err[256] = "";
        int rc = update(&f, cases[i].json, err, sizeof err);
        ck_assert_msg(rc == cases[i].rc, "case %d (%s): rc %d, want %d (%s)", i, cases[i].json, rc,
                      cases[i].rc, err);
        ck_assert_msg(strstr(err, cases[i].reason) != NULL,
                      "case %d (%s): reason \"%s\", want \"%s\"", i, cases[i].json, err,
                      cases[i].reason);
        ck_assert_msg(strchr(err, '\n') == NULL, "case %d: reason spans lines", i);
        assert_known(&f);
    }
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_limits)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    fill_known(&f);
    char err[256] = "";

    /* A series one value too long. */
    size_t n = GRIDEMS_FORECAST_MAX_INTERVALS + 1;
    char *json = malloc(n * 2 + 200);
    ck_assert_ptr_nonnull(json);
    int off = snprintf(json, 200, "{\"start\":\"%s\",\"step_minutes\":1,\"values\":[", iso(0));
    for (size_t i = 0; i < n; i++) {
        json[off++] = '0';
        json[off++] = (i + 1 < n) ? ',' : ']';
    }
    json[off++] = '}';
    json[off] = '\0';
    ck_assert_int_eq(update(&f, json, err, sizeof err), GRIDEMS_ETOOBIG);
    ck_assert_msg(strstr(err, "values: more than 100000 entries") != NULL, "%s", err);
    assert_known(&f);
    /* One value fewer is fine and joins into a single interval (all values equal). */
    json[off - 4] = ']';
    json[off - 3] = '}';
    json[off - 2] = '\0';
    gridems_forecast_t g;
    gridems_forecast_init(&g, GRIDEMS_FORECAST_PRICE);
    update_ok(&g, json);
    ck_assert_uint_eq(g.n, 1);
    assert_iv(&g, 0, 0, GRIDEMS_FORECAST_MAX_INTERVALS, 0.0);
    gridems_forecast_close(&g);
    free(json);

    /* A rate array one element too long, through the cJSON entry point. */
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateObject());
    }
    ck_assert_int_eq(gridems_forecast_update_cjson(&f, arr, err, sizeof err), GRIDEMS_ETOOBIG);
    ck_assert_msg(strstr(err, "message: more than 100000 intervals") != NULL, "%s", err);
    cJSON_Delete(arr);
    assert_known(&f);

    /* A message text over the byte limit (all spaces: it is refused before parsing). */
    size_t big = GRIDEMS_FORECAST_MAX_MESSAGE_BYTES + 1;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    memset(text, ' ', big);
    ck_assert_int_eq(gridems_forecast_update_json(&f, text, big, err, sizeof err), GRIDEMS_ETOOBIG);
    ck_assert_msg(strstr(err, "message: larger than") != NULL, "%s", err);
    free(text);
    assert_known(&f);

    /* The store's own cap: alternating values cannot be joined. */
    gridems_forecast_init(&g, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_msg_t m = {0};
    m.n = GRIDEMS_FORECAST_MAX_INTERVALS;
    m.iv = malloc(m.n * sizeof *m.iv);
    ck_assert_ptr_nonnull(m.iv);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < m.n; i++) {
            m.iv[i].start_ms = STEP((size_t)round * m.n + i);
            m.iv[i].end_ms = m.iv[i].start_ms + STEP(1);
            m.iv[i].value = (double)(i % 2);
        }
        int rc = gridems_forecast_apply(&g, &m, err, sizeof err);
        if (round < 2) {
            ck_assert_int_eq(rc, 0);
        } else {
            ck_assert_int_eq(rc, GRIDEMS_ETOOBIG);
            ck_assert_msg(strstr(err, "more than 200000 intervals") != NULL, "%s", err);
        }
    }
    ck_assert_uint_eq(g.n, GRIDEMS_FORECAST_MAX_STORED);
    /* A hand-built message that is not sorted is refused too. */
    m.n = 2;
    m.iv[0] = (gridems_forecast_interval_t){STEP(10), STEP(20), 1};
    m.iv[1] = (gridems_forecast_interval_t){STEP(0), STEP(10), 1};
    ck_assert_int_eq(gridems_forecast_apply(&g, &m, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_uint_eq(g.n, GRIDEMS_FORECAST_MAX_STORED);
    gridems_forecast_msg_free(&m);
    ck_assert_ptr_null(m.iv);
    gridems_forecast_close(&g);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_merge_trims_partly_covered)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    fill_known(&f);
    char json[1024];
    /* 00:45-01:15 at 20 cuts the second and third half hours, which are trimmed, not dropped. */
    snprintf(json, sizeof json, "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":20}]", iso(45),
             iso(75));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 5);
    assert_iv(&f, 0, 0, 30, 10);
    assert_iv(&f, 1, 30, 45, 11);
    assert_iv(&f, 2, 45, 75, 20);
    assert_iv(&f, 3, 75, 90, 12);
    assert_iv(&f, 4, 90, 120, 13);

    /* A message inside one interval splits it in two. */
    snprintf(json, sizeof json, "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":-1}]", iso(5),
             iso(10));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 7);
    assert_iv(&f, 0, 0, 5, 10);
    assert_iv(&f, 1, 5, 10, -1);
    assert_iv(&f, 2, 10, 30, 10);

    /* Only the message's own intervals replace: the gap between them keeps the old value. A whole
     * covered interval is dropped, and the message may run past the old end. */
    snprintf(json, sizeof json,
             "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":1},"
             "{\"start\":\"%s\",\"end\":\"%s\",\"value\":2}]",
             iso(0), iso(30), iso(80), iso(150));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 5);
    assert_iv(&f, 0, 0, 30, 1);
    assert_iv(&f, 1, 30, 45, 11);
    assert_iv(&f, 2, 45, 75, 20);
    assert_iv(&f, 3, 75, 80, 12);
    assert_iv(&f, 4, 80, 150, 2);

    /* Touching intervals with equal values are joined; the store stays small. */
    snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":15,\"values\":[2,2,2,2]}",
             iso(150));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 5);
    assert_iv(&f, 4, 80, 210, 2);
    snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":30,\"values\":[5,5,5,5,5,5,5]}",
             iso(0));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 1);
    assert_iv(&f, 0, 0, 210, 5);

    /* A message entirely before what is held is simply inserted. */
    snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":60,\"values\":[9]}", iso(-120));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 2);
    assert_iv(&f, 0, -120, -60, 9);
    assert_iv(&f, 1, 0, 210, 5);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_merge_spanning_many)
{
    /* One message interval covering many old ones, and many message intervals inside one old. */
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    char json[4096];
    int off =
        snprintf(json, sizeof json, "{\"start\":\"%s\",\"step_minutes\":5,\"values\":[", iso(0));
    for (int i = 0; i < 24; i++) {
        off += snprintf(json + off, sizeof json - (size_t)off, "%d%s", i, i < 23 ? "," : "]}");
    }
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 24);
    snprintf(json, sizeof json, "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":100}]", iso(7),
             iso(113));
    update_ok(&f, json);
    ck_assert_uint_eq(f.n, 5);
    assert_iv(&f, 0, 0, 5, 0);
    assert_iv(&f, 1, 5, 7, 1);
    assert_iv(&f, 2, 7, 113, 100);
    assert_iv(&f, 3, 113, 115, 22);
    assert_iv(&f, 4, 115, 120, 23);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_prune)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    fill_known(&f);
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(-10)), 0);
    ck_assert_uint_eq(f.n, 4);
    /* At 00:30 the first half hour has ended; at 00:45 the second is still running (kept whole). */
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(30)), 1);
    assert_iv(&f, 0, 30, 60, 11);
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(45)), 0);
    assert_iv(&f, 0, 30, 60, 11);
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(119)), 2);
    ck_assert_uint_eq(f.n, 1);
    assert_iv(&f, 0, 90, 120, 13);
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(500)), 1);
    ck_assert_uint_eq(f.n, 0);
    /* An empty store keeps its currency. */
    ck_assert_str_eq(f.currency, "JPY");
    ck_assert_int_eq(gridems_forecast_prune(&f, AT(600)), 0);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_resample_time_weighted)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    char json[1024];
    /* 00:00-00:30 10, 00:30-01:00 20, gap 01:00-01:20, 01:20-02:00 40. */
    snprintf(json, sizeof json,
             "[{\"start\":\"%s\",\"end\":\"%s\",\"value\":10},"
             "{\"start\":\"%s\",\"end\":\"%s\",\"value\":20},"
             "{\"start\":\"%s\",\"end\":\"%s\",\"value\":40}]",
             iso(0), iso(30), iso(30), iso(60), iso(80), iso(120));
    update_ok(&f, json);

    double out[6];
    /* 45-minute steps: [0,45) = (10*30 + 20*15) / 45; [45,90) covers 20 for 15 min and 40 for
     * 10 min (the 20-minute gap is not counted) = (300 + 400) / 25; [90,135) is covered 30 of 45
     * minutes, all at 40; [135,180) is not covered. */
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(45), 4, out), 3);
    ck_assert_double_eq_tol(out[0], 600.0 / 45.0, 1e-12);
    ck_assert_double_eq_tol(out[1], 28.0, 1e-12);
    ck_assert_double_eq(out[2], 40.0);
    ck_assert(isnan(out[3]));
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(0), STEP(45), 4), 3);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(0), STEP(45), 2), 2);

    /* 15-minute steps repeat each value; the gap holds one whole step (60-75), which ends the
     * coverage; 75-90 is covered only from 80 and takes 40. */
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(15), 6, out), 5);
    ck_assert_double_eq(out[0], 10.0);
    ck_assert_double_eq(out[1], 10.0);
    ck_assert_double_eq(out[2], 20.0);
    ck_assert_double_eq(out[3], 20.0);
    ck_assert(isnan(out[4]));
    ck_assert_double_eq(out[5], 40.0);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(0), STEP(15), 6), 4);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(75), STEP(15), 100), 3);

    /* A grid that starts before the data: the first step is half covered and takes 10. */
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(-15), STEP(30), 2, out), 2);
    ck_assert_double_eq(out[0], 10.0);
    ck_assert_double_eq_tol(out[1], (10.0 * 15 + 20.0 * 15) / 30.0, 1e-12);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(-15), STEP(30), 10), 5);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(-30), STEP(30), 10), 0);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(120), STEP(30), 10), 0);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(119), STEP(30), 10), 1);

    /* A step covering everything: (10*30 + 20*30 + 40*40) / 100 over 180 minutes. */
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(180), 1, out), 1);
    ck_assert_double_eq_tol(out[0], 25.0, 1e-12);

    /* Bad grids. */
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), 0, 1, out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(15), -1, out), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(15), 1, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_forecast_resample(&f, INT64_MAX - 10, STEP(15), 1, out),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_forecast_coverage(&f, AT(0), -1, 1), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(0), STEP(15), 0, NULL), 0);

    /* An empty store covers nothing. */
    gridems_forecast_t e;
    gridems_forecast_init(&e, GRIDEMS_FORECAST_PRICE);
    ck_assert_int_eq(gridems_forecast_resample(&e, AT(0), STEP(15), 2, out), 0);
    ck_assert(isnan(out[0]) && isnan(out[1]));
    ck_assert_int_eq(gridems_forecast_coverage(&e, AT(0), STEP(15), 2), 0);
    gridems_forecast_close(&e);
    gridems_forecast_close(&f);
}
END_TEST

START_TEST(test_currency_pin_and_cjson_entry)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    ck_assert_int_eq(gridems_forecast_set_currency(&f, "USD"), 0);
    ck_assert_int_eq(gridems_forecast_set_currency(&f, "U SD"), GRIDEMS_EINVAL);
    ck_assert_str_eq(f.currency, "USD");

    char json[512], err[256] = "";
    snprintf(json, sizeof json,
             "{\"start\":\"%s\",\"step_minutes\":60,\"values\":[40],\"unit\":\"MWh\","
             "\"currency\":\"EUR\"}",
             iso(0));
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(gridems_forecast_update_cjson(&f, root, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "currency: \"EUR\" does not match the forecast's \"USD\"") != NULL,
                  "%s", err);
    ck_assert_uint_eq(f.n, 0);
    /* Parse once, apply separately: the two-phase path the service can use across threads. */
    gridems_forecast_msg_t msg;
    ck_assert_int_eq(
        gridems_forecast_msg_parse_cjson(GRIDEMS_FORECAST_PRICE, root, &msg, err, sizeof err), 0);
    ck_assert_str_eq(msg.currency, "EUR");
    ck_assert_uint_eq(msg.n, 1);
    ck_assert_double_eq_tol(msg.iv[0].value, 0.04, 1e-15);
    ck_assert_int_eq(gridems_forecast_set_currency(&f, NULL), 0);
    ck_assert_int_eq(gridems_forecast_apply(&f, &msg, err, sizeof err), 0);
    ck_assert_str_eq(f.currency, "EUR");
    ck_assert_uint_eq(f.n, 1);
    gridems_forecast_msg_free(&msg);
    gridems_forecast_msg_free(&msg);
    cJSON_Delete(root);

    /* Trailing whitespace is fine, a trailing NUL is not (the one JSON policy, json_strict.h);
     * a failed parse empties the message. */
    const char text[] =
        "{\"start\":\"2026-05-11T00:00:00Z\",\"step_minutes\":60,\"values\":[1]} \n";
    ck_assert_int_eq(gridems_forecast_msg_parse_json(GRIDEMS_FORECAST_PRICE, text, sizeof text - 1,
                                                     &msg, err, sizeof err),
                     0);
    gridems_forecast_msg_free(&msg);
    ck_assert_int_eq(gridems_forecast_msg_parse_json(GRIDEMS_FORECAST_PRICE, text, sizeof text,
                                                     &msg, err, sizeof err),
                     GRIDEMS_EPARSE);
    ck_assert_msg(strstr(err, "message: NUL byte at byte 65") != NULL, "%s", err);
    ck_assert_int_eq(
        gridems_forecast_msg_parse_json(GRIDEMS_FORECAST_PRICE, "[1]", 3, &msg, NULL, 0),
        GRIDEMS_EINVAL);
    ck_assert_ptr_null(msg.iv);
    ck_assert_uint_eq(msg.n, 0);
    /* Only the first len bytes are read: a buffer that is not NUL-terminated works. */
    char unterminated[3] = {'[', ']', 'x'};
    ck_assert_int_eq(gridems_forecast_msg_parse_json(GRIDEMS_FORECAST_PRICE, unterminated, 2, &msg,
                                                     err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "no intervals") != NULL, "%s", err);
    ck_assert_int_eq(gridems_forecast_update_json(&f, NULL, 0, err, sizeof err), GRIDEMS_EPARSE);
    gridems_forecast_close(&f);
}
END_TEST

/* gridems_forecast_clear: a span becomes unknown; partly covered intervals are trimmed or split. */
START_TEST(test_clear_span)
{
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    fill_known(&f);
    ck_assert_int_eq(gridems_forecast_clear(&f, AT(40), AT(50)), 0); /* inside 30-60: split */
    ck_assert_uint_eq(f.n, 5);
    assert_iv(&f, 1, 30, 40, 11);
    assert_iv(&f, 2, 50, 60, 11);
    ck_assert_int_eq(gridems_forecast_clear(&f, AT(55), AT(100)), 0); /* trims, drops 60-90 */
    ck_assert_uint_eq(f.n, 4);
    assert_iv(&f, 2, 50, 55, 11);
    assert_iv(&f, 3, 100, 120, 13);
    ck_assert_int_eq(gridems_forecast_clear(&f, AT(500), AT(600)), 0); /* nothing there */
    ck_assert_uint_eq(f.n, 4);
    ck_assert_int_eq(gridems_forecast_clear(&f, AT(10), AT(10)), GRIDEMS_EINVAL);
    ck_assert_uint_eq(f.n, 4);
    double v[2];
    ck_assert_int_eq(gridems_forecast_resample(&f, AT(60), STEP(30), 2, v), 1);
    ck_assert(isnan(v[0])); /* 60-90 is not known any more */
    ck_assert_int_eq(gridems_forecast_clear(&f, AT(-100), AT(1000)), 0);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_str_eq(f.currency, "JPY"); /* the pin stays */
    gridems_forecast_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecast");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rate_array);
    tcase_add_test(tc, test_series_units);
    tcase_add_test(tc, test_carbon);
    tcase_add_test(tc, test_rejections_leave_store_unchanged);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_merge_trims_partly_covered);
    tcase_add_test(tc, test_merge_spanning_many);
    tcase_add_test(tc, test_prune);
    tcase_add_test(tc, test_resample_time_weighted);
    tcase_add_test(tc, test_currency_pin_and_cjson_entry);
    tcase_add_test(tc, test_clear_span);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
