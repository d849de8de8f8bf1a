/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the history files (core/src/state/history_store.h): the load history and the three
 * forecast stores survive a save and restore exactly (and the restored forecaster predicts as
 * the original does), a missing file is no error, and a corrupt or foreign file is refused whole
 * with the file and the field named, leaving the target empty. Also the warm-up entry point,
 * gridems_load_forecast_add_step().
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "history_store.h"
#include "test_util.h"
#include "timeutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t STEP_MS = 30 * 60000;

static int64_t iso(const char *text)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso(text, &ms, NULL, NULL, 0), 0);
    return ms;
}

static void make_load(gridems_load_forecast_t *lf)
{
    gridems_load_forecast_config_t cfg;
    gridems_load_forecast_config_default(&cfg, STEP_MS);
    cfg.offset_min = 540;
    ck_assert_int_eq(gridems_load_forecast_init(lf, &cfg), 0);
}

/* Three days of a load with a daily shape, a few readings per step. */
static void fill_load(gridems_load_forecast_t *lf, int64_t t0)
{
    for (int k = 0; k < 3 * 48; k++) {
        for (int r = 0; r < 3; r++) {
            double kw = 9000 + 600 * sin(2 * M_PI * (k % 48) / 48.0) + r * 0.1;
            ck_assert_int_eq(gridems_load_forecast_add(lf, t0 + k * STEP_MS + r * 60000, kw), 0);
        }
    }
}

static char *write_in(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    ck_assert_int_eq(test_write_file(path, text), 0);
    return path;
}

START_TEST(load_history_round_trip)
{
    char *dir = test_make_tmpdir("hist-load");
    int64_t t0 = iso("2026-05-11T00:00:00+09:00");
    gridems_load_forecast_t a, b;
    make_load(&a);
    make_load(&b);
    fill_load(&a, t0);
    char err[512] = "";
    ck_assert_int_eq(gridems_history_save_load(dir, &a, err, sizeof err), 0);
    size_t n = 0;
    ck_assert_msg(gridems_history_restore_load(dir, &b, &n, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(n, 3 * 48);
    /* Every bucket is back with the same mean, so the forecasts agree. */
    for (int k = 0; k < 3 * 48; k++) {
        double ma = 0, mb = 0;
        ck_assert_int_eq(gridems_load_forecast_step_mean(&a, t0 + k * STEP_MS, &ma), 0);
        ck_assert_int_eq(gridems_load_forecast_step_mean(&b, t0 + k * STEP_MS, &mb), 0);
        ck_assert_msg(fabs(ma - mb) <= 1e-9 * fabs(ma), "step %d: %.17g vs %.17g", k, ma, mb);
    }
    int64_t now = t0 + 3 * 48 * STEP_MS + 60000;
    double pa[48], pb[48];
    ck_assert_int_eq(gridems_load_forecast_predict(&a, now, now - 60000, 48, pa), 0);
    ck_assert_int_eq(gridems_load_forecast_predict(&b, now, now - 60000, 48, pb), 0);
    for (int i = 0; i < 48; i++) {
        ck_assert_msg(fabs(pa[i] - pb[i]) <= 1e-6, "step %d: %.9g vs %.9g", i, pa[i], pb[i]);
    }
    gridems_load_forecast_close(&a);
    gridems_load_forecast_close(&b);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(warm_up_with_step_means)
{
    /* A backtest driver pre-fills history with step means: the same as that many readings. */
    int64_t t0 = iso("2026-05-11T00:00:00+09:00");
    gridems_load_forecast_t lf;
    make_load(&lf);
    ck_assert_int_eq(gridems_load_forecast_add_step(&lf, t0, 800, 30), 0);
    ck_assert_int_eq(gridems_load_forecast_add_step(&lf, t0 + STEP_MS, 900, 1), 0);
    ck_assert_int_eq(gridems_load_forecast_add(&lf, t0 + STEP_MS + 1000, 1000), 0);
    double m = 0;
    ck_assert_int_eq(gridems_load_forecast_step_mean(&lf, t0, &m), 0);
    ck_assert(m == 800);
    ck_assert_int_eq(gridems_load_forecast_step_mean(&lf, t0 + STEP_MS, &m), 0);
    ck_assert(m == 950);
    ck_assert_uint_eq(lf.n_readings, 32);
    ck_assert_int_eq(gridems_load_forecast_step_mean(&lf, t0 + 2 * STEP_MS, &m), GRIDEMS_ENOENT);
    /* Off the grid, or no readings: refused. */
    ck_assert_int_eq(gridems_load_forecast_add_step(&lf, t0 + 60000, 800, 1), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_load_forecast_add_step(&lf, t0, 800, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_load_forecast_add_step(&lf, t0, NAN, 1), GRIDEMS_EINVAL);
    gridems_load_forecast_close(&lf);
}
END_TEST

START_TEST(forecast_round_trip)
{
    char *dir = test_make_tmpdir("hist-fc");
    gridems_forecast_t a, b, c, d;
    gridems_forecast_init(&a, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&b, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_init(&c, GRIDEMS_FORECAST_CARBON);
    gridems_forecast_init(&d, GRIDEMS_FORECAST_CARBON);
    gridems_forecast_set_currency(&a, "JPY");
    gridems_forecast_set_currency(&b, "JPY");
    const char *prices = "[{\"start\":\"2026-05-11T00:00:00+09:00\",\"end\":"
                         "\"2026-05-11T00:30:00.250+09:00\",\"value\":12.345678901234567},"
                         "{\"start\":\"2026-05-11T01:00:00+09:00\",\"end\":"
                         "\"2026-05-11T02:00:00+09:00\",\"value\":-0.1}]";
    char err[512] = "";
    ck_assert_int_eq(gridems_forecast_update_json(&a, prices, strlen(prices), err, sizeof err), 0);
    const char *carbon = "{\"start\":\"2026-05-11T00:00:00Z\",\"step_minutes\":60,"
                         "\"values\":[0.45,0.5,0.41]}";
    ck_assert_int_eq(gridems_forecast_update_json(&c, carbon, strlen(carbon), err, sizeof err), 0);
    ck_assert_int_eq(gridems_history_save_forecast(dir, "import_price", &a, err, sizeof err), 0);
    ck_assert_int_eq(gridems_history_save_forecast(dir, "carbon", &c, err, sizeof err), 0);
    size_t n = 0;
    ck_assert_msg(gridems_history_restore_forecast(dir, "import_price", &b, &n, err, sizeof err) ==
                      0,
                  "%s", err);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert(a.iv[i].start_ms == b.iv[i].start_ms && a.iv[i].end_ms == b.iv[i].end_ms);
        ck_assert(a.iv[i].value == b.iv[i].value); /* exactly */
    }
    ck_assert_str_eq(b.currency, "JPY");
    ck_assert_int_eq(gridems_history_restore_forecast(dir, "carbon", &d, &n, err, sizeof err), 0);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_uint_eq(c.n, d.n);
    for (size_t i = 0; i < c.n; i++) {
        ck_assert(c.iv[i].start_ms == d.iv[i].start_ms && c.iv[i].value == d.iv[i].value);
    }
    /* An empty store saves and restores as empty; a missing file is ENOENT, quietly. */
    gridems_forecast_t e;
    gridems_forecast_init(&e, GRIDEMS_FORECAST_PRICE);
    ck_assert_int_eq(gridems_history_save_forecast(dir, "export_price", &e, err, sizeof err), 0);
    ck_assert_int_eq(gridems_history_restore_forecast(dir, "export_price", &e, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(e.n, 0);
    gridems_load_forecast_t lf;
    make_load(&lf);
    ck_assert_int_eq(gridems_history_restore_load(dir, &lf, &n, err, sizeof err), GRIDEMS_ENOENT);
    gridems_load_forecast_close(&lf);
    gridems_forecast_close(&a);
    gridems_forecast_close(&b);
    gridems_forecast_close(&c);
    gridems_forecast_close(&d);
    gridems_forecast_close(&e);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(margin_errors_round_trip)
{
    char *dir = test_make_tmpdir("hist-margin");
    int64_t t0 = iso("2026-05-11T00:00:00+09:00");
    gridems_peak_margin_t a, b;
    ck_assert_int_eq(gridems_peak_margin_init(&a), 0);
    ck_assert_int_eq(gridems_peak_margin_init(&b), 0);
    char err[512] = "";
    /* Nothing measured: nothing written. */
    ck_assert_int_eq(gridems_history_save_margin(dir, &a, err, sizeof err), 0);
    size_t n = 0;
    ck_assert_int_eq(gridems_history_restore_margin(dir, &b, &n, err, sizeof err), GRIDEMS_ENOENT);
    /* More than the ring holds: the newest ones come back, in order. */
    int total = GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW + 5;
    for (int i = 0; i < total; i++) {
        ck_assert_int_eq(gridems_peak_margin_add(&a, t0 + i * STEP_MS, (i % 97) * 1.5 - 40), 1);
    }
    ck_assert_int_eq(gridems_history_save_margin(dir, &a, err, sizeof err), 0);
    ck_assert_msg(gridems_history_restore_margin(dir, &b, &n, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(n, GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW);
    ck_assert(b.last_step_ms == a.last_step_ms);
    for (int i = 0; i < b.n; i++) {
        ck_assert(gridems_peak_margin_error_at(&a, i) == gridems_peak_margin_error_at(&b, i));
    }
    ck_assert(gridems_peak_margin_quantile(&a, 0.99, 500) ==
              gridems_peak_margin_quantile(&b, 0.99, 500));
    /* The step after the restored newest one is recorded, the newest itself again is not. */
    ck_assert_int_eq(gridems_peak_margin_add(&b, a.last_step_ms, 1), 0);
    ck_assert_int_eq(gridems_peak_margin_add(&b, a.last_step_ms + STEP_MS, 1), 1);
    /* A corrupt file is refused whole and leaves the tracker as it was. */
    char *path = write_in(dir, GRIDEMS_HISTORY_MARGIN_FILE,
                          "{\"version\":1,\"kind\":\"peak_margin\",\"last_step\":"
                          "\"2026-05-11T00:00:00Z\",\"errors\":[1,\"2\"]}");
    int before = b.n;
    ck_assert_int_eq(gridems_history_restore_margin(dir, &b, &n, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, path) == err && strstr(err, "errors[1]: must be a number") != NULL,
                  "%s", err);
    ck_assert_int_eq(b.n, before);
    free(path);
    gridems_peak_margin_close(&a);
    gridems_peak_margin_close(&b);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

typedef struct bad_s {
    const char *text;
    const char *want;
} bad_t;

static const bad_t bad_load[] = {
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":[", "not JSON"},
    /* The one JSON policy of every input (json_strict.h), as for state.json. */
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":[]} x",
     "trailing data at byte 65 after the document"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"step_minutes\":15,"
     "\"steps\":[]}",
     "duplicate key \"step_minutes\" in $"},
    {"[]", "must be a JSON object"},
    {"{\"version\":2,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":[]}",
     "version: must be 1"},
    {"{\"version\":1,\"kind\":\"forecast\",\"step_minutes\":30,\"steps\":[]}",
     "kind: must be \"load_history\" (a foreign file)"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":15,\"steps\":[]}",
     "step_minutes: must be the service's step, 30 minutes"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":[],\"x\":1}",
     "x: unknown key"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":"
     "[[\"2026-05-11T00:00:00+09:00\",800,1],[\"2026-05-11T00:10:00+09:00\",800,1]]}",
     "steps[1][0]: must start a step of the planning grid"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":"
     "[[\"2026-05-11T00:00:00+09:00\",800,0]]}",
     "steps[0][2]: must be an integer in 1..4294967295"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":"
     "[[\"2026-05-11T00:00:00+09:00\",\"800\",1]]}",
     "steps[0][1]: must be a number within"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":"
     "[[\"2026-05-11T00:30:00+09:00\",800,1],[\"2026-05-11T00:00:00+09:00\",800,1]]}",
     "steps[1][0]: must be after the step before it"},
    {"{\"version\":1,\"kind\":\"load_history\",\"step_minutes\":30,\"steps\":[[1,2]]}",
     "steps[0]: must be [start, mean_kw, count]"},
};

START_TEST(corrupt_load_history_is_refused_whole)
{
    const bad_t *c = &bad_load[_i];
    char *dir = test_make_tmpdir("hist-bad");
    char *path = write_in(dir, GRIDEMS_HISTORY_LOAD_FILE, c->text);
    gridems_load_forecast_t lf;
    make_load(&lf);
    char err[512] = "";
    int rc = gridems_history_restore_load(dir, &lf, NULL, err, sizeof err);
    ck_assert_msg(rc == GRIDEMS_EINVAL || rc == GRIDEMS_EPARSE, "case %d: rc %d", _i, rc);
    ck_assert_msg(strstr(err, path) == err, "case %d: \"%s\" does not start with the file", _i,
                  err);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    /* Nothing from the file was kept, not even its valid first step. */
    ck_assert(lf.n_readings == 0 && lf.last_ms == INT64_MIN);
    gridems_load_forecast_close(&lf);
    free(path);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

static const bad_t bad_forecast[] = {
    {"{\"version\":1,\"kind\":\"forecast\",\"store\":\"carbon\",\"intervals\":[]}",
     "store: must be \"import_price\" (a foreign file)"},
    {"{\"version\":1,\"kind\":\"forecast\",\"store\":\"import_price\",\"currency\":\"USD\","
     "\"intervals\":[]}",
     "currency: must be the site's currency \"JPY\""},
    {"{\"version\":1,\"kind\":\"forecast\",\"store\":\"import_price\",\"intervals\":"
     "[{\"start\":\"2026-05-11T00:00:00Z\",\"end\":\"2026-05-11T01:00:00Z\",\"value\":1},"
     "{\"start\":\"2026-05-11T02:00:00Z\",\"end\":\"2026-05-11T01:00:00Z\",\"value\":1}]}",
     "intervals: [1].end: must be after start"},
    {"{\"version\":1,\"kind\":\"forecast\",\"store\":\"import_price\",\"intervals\":"
     "[{\"start\":\"2026-05-11T00:00:00Z\",\"end\":\"2026-05-11T01:00:00Z\",\"value\":1e9}]}",
     "intervals: [0].value"},
    {"{\"version\":1,\"kind\":\"forecast\",\"store\":\"import_price\",\"intervals\":{}}",
     "intervals: must be an array"},
    {"\xff\xfe garbage", "invalid UTF-8 at byte 0"},
};

START_TEST(corrupt_forecast_is_refused_whole)
{
    const bad_t *c = &bad_forecast[_i];
    char *dir = test_make_tmpdir("hist-badfc");
    char *path = write_in(dir, "forecast_import_price.json", c->text);
    gridems_forecast_t f;
    gridems_forecast_init(&f, GRIDEMS_FORECAST_PRICE);
    gridems_forecast_set_currency(&f, "JPY");
    char err[512] = "";
    int rc = gridems_history_restore_forecast(dir, "import_price", &f, NULL, err, sizeof err);
    ck_assert_msg(rc == GRIDEMS_EINVAL || rc == GRIDEMS_EPARSE, "case %d: rc %d", _i, rc);
    ck_assert_msg(strstr(err, path) == err, "case %d: \"%s\" does not start with the file", _i,
                  err);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    ck_assert_uint_eq(f.n, 0);
    gridems_forecast_close(&f);
    free(path);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("history_store");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, load_history_round_trip);
    tcase_add_test(tc, warm_up_with_step_means);
    tcase_add_test(tc, forecast_round_trip);
    tcase_add_test(tc, margin_errors_round_trip);
    tcase_add_loop_test(tc, corrupt_load_history_is_refused_whole, 0,
                        (int)(sizeof bad_load / sizeof bad_load[0]));
    tcase_add_loop_test(tc, corrupt_forecast_is_refused_whole, 0,
                        (int)(sizeof bad_forecast / sizeof bad_forecast[0]));
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
