/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/planning/plan_report.h: a clean plan says nothing; unserved load names
 * the DR event that caps import below the inflexible load (or the site's limit); unmet job energy
 * and a battery short of its final target are named with their amounts; solver tolerance is not a
 * shortfall, nor is energy a job's reserve can still deliver (it is said). And how the service's
 * log treats a shortfall that lasts (log.h, gridems_news_t): the same kind of report is printed
 * once and again hourly, a new kind at once.
 */
#include "check_run.h"
#include "log.h"
#include "plan_report.h"
#include "timeutil.h"

#include <check.h>
#include <string.h>

typedef struct fix_s {
    gridems_scenario_t sc;
    gridems_schedule_t s;
    double unserved[4];
    double soc[5];
    gridems_battery_plan_t bat;
    gridems_flex_plan_t flex[2];
    gridems_dr_events_t events;
    int64_t t0;
} fix_t;

static void setup(fix_t *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(gridems_time_parse_iso("2026-05-11T00:00:00+09:00", &f->t0, NULL, NULL, 0), 0);
    ck_assert_int_eq(gridems_scenario_init(&f->sc, 4, 30), 0);
    f->sc.import_limit_kw = 20000;
    for (int t = 0; t < 4; t++) {
        f->sc.base_load_kw[t] = 9000;
    }
    gridems_battery_t b = {"bess1", 4000, 2000, 400, 3600, 2000, 2000, 2000, 0.95, 0.95, 0};
    ck_assert_int_eq(gridems_scenario_add_battery(&f->sc, &b), 0);
    gridems_flex_load_t j3 = {"j3", 500, 300, 0, 4, NULL};
    gridems_flex_load_t j4 = {"j4", 100, 300, 0, 4, NULL};
    ck_assert_int_eq(gridems_scenario_add_flex_load(&f->sc, &j3), 0);
    ck_assert_int_eq(gridems_scenario_add_flex_load(&f->sc, &j4), 0);
    for (int t = 0; t <= 4; t++) {
        f->soc[t] = 2000;
    }
    f->bat.soc_kwh = f->soc;
    f->s.steps = 4;
    f->s.unserved_kw = f->unserved;
    f->s.batteries = &f->bat;
    f->s.n_batteries = 1;
    f->s.flex_loads = f->flex;
    f->s.n_flex_loads = 2;
    gridems_dr_events_init(&f->events);
}

static void teardown(fix_t *f)
{
    gridems_scenario_free(&f->sc);
    gridems_dr_events_close(&f->events);
}

START_TEST(clean_plan_says_nothing)
{
    fix_t f;
    setup(&f);
    char out[512] = "untouched";
    f.flex[0].unmet_kwh = 0.004; /* tolerance */
    f.unserved[1] = 0.001;
    ck_assert_int_eq(
        gridems_plan_report(12, &f.sc, &f.s, &f.events, f.t0, 1800000, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    teardown(&f);
}
END_TEST

START_TEST(dr_event_below_the_load_is_named)
{
    fix_t f;
    setup(&f);
    const char *ev = "{\"id\":\"evt-7\",\"start\":\"2026-05-11T00:30:00+09:00\",\"end\":"
                     "\"2026-05-11T01:30:00+09:00\",\"import_limit_kw\":5000}";
    char err[256] = "";
    ck_assert_int_eq(
        gridems_dr_events_update_json(&f.events, ev, strlen(ev), NULL, err, sizeof err), 0);
    gridems_event_t cap = {1, 3, 5000};
    ck_assert_int_eq(gridems_scenario_add_event(&f.sc, &cap), 0);
    f.unserved[1] = 340; /* 170 kWh each half hour */
    f.unserved[2] = 340;
    f.flex[0].unmet_kwh = 120;
    f.soc[4] = 1950; /* 50 kWh below the 2000 target */
    char out[512] = "";
    ck_assert_int_eq(
        gridems_plan_report(12, &f.sc, &f.s, &f.events, f.t0, 1800000, NULL, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 12: 340 kWh unserved load (DR event evt-7 caps import at 5000 kW "
                          "below the 9000 kW inflexible load); 120 kWh of job j3 unmet; 50 kWh "
                          "short of battery bess1's final energy target");
    /* A short buffer is truncated, never overrun. */
    char small[16];
    ck_assert_int_eq(
        gridems_plan_report(12, &f.sc, &f.s, &f.events, f.t0, 1800000, NULL, small, sizeof small),
        1);
    ck_assert_str_eq(small, "plan 12: 340 kW");
    teardown(&f);
}
END_TEST

START_TEST(site_limit_and_job_only)
{
    fix_t f;
    setup(&f);
    f.sc.import_limit_kw = 8000;
    f.unserved[0] = 2.5;
    char out[512] = "";
    ck_assert_int_eq(
        gridems_plan_report(3, &f.sc, &f.s, NULL, f.t0, 1800000, NULL, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 3: 1.2 kWh unserved load (the site's import limit is 8000 kW "
                          "below the 9000 kW inflexible load)");
    f.unserved[0] = 0;
    f.flex[1].unmet_kwh = 7.25;
    ck_assert_int_eq(
        gridems_plan_report(4, &f.sc, &f.s, NULL, f.t0, 1800000, NULL, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 4: 7.2 kWh of job j4 unmet");
    teardown(&f);
}
END_TEST

/* Energy a job's reserve can still deliver is no shortfall, and is said; more than that is a
 * shortfall of the whole amount; and a reserve says nothing beside a clean plan's other jobs. */
START_TEST(energy_for_the_reserve_is_no_shortfall)
{
    fix_t f;
    setup(&f);
    char out[512] = "";
    const double reserves[2] = {150, 0};
    f.flex[0].unmet_kwh = 94;
    ck_assert_int_eq(
        gridems_plan_report(14, &f.sc, &f.s, NULL, f.t0, 1800000, reserves, out, sizeof out), 0);
    ck_assert_str_eq(out, "plan 14: job j3 runs into its reserve (94 of 150 kWh)");
    /* All of it fits, to the kWh. */
    f.flex[0].unmet_kwh = 150;
    ck_assert_int_eq(
        gridems_plan_report(15, &f.sc, &f.s, NULL, f.t0, 1800000, reserves, out, sizeof out), 0);
    /* Beyond it: the job is late, by the whole amount as the plan stands. */
    f.flex[0].unmet_kwh = 150.5;
    ck_assert_int_eq(
        gridems_plan_report(16, &f.sc, &f.s, NULL, f.t0, 1800000, reserves, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 16: 150 kWh of job j3 unmet");
    /* A job without a reserve (j4) is a shortfall; the reserve of another is said after it. */
    f.flex[0].unmet_kwh = 2.5;
    f.flex[1].unmet_kwh = 7.25;
    ck_assert_int_eq(
        gridems_plan_report(17, &f.sc, &f.s, NULL, f.t0, 1800000, reserves, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 17: 7.2 kWh of job j4 unmet; job j3 runs into its reserve (2.5 of "
                          "150 kWh)");
    /* Without reserves (NULL) every unmet kWh is a shortfall, as before. */
    f.flex[1].unmet_kwh = 0;
    ck_assert_int_eq(
        gridems_plan_report(18, &f.sc, &f.s, NULL, f.t0, 1800000, NULL, out, sizeof out), 1);
    ck_assert_str_eq(out, "plan 18: 2.5 kWh of job j3 unmet");
    teardown(&f);
}
END_TEST

/* The reports of a shortfall that lasts, plan after plan, through the log's news filter. */
START_TEST(lasting_shortfall_is_news_once_an_hour)
{
    fix_t f;
    setup(&f);
    const int64_t hour = 3600000, t = f.t0;
    gridems_news_t news;
    gridems_news_reset(&news);
    uint64_t held = 99;
    char out[512] = "";
    f.sc.import_limit_kw = 8000;
    f.unserved[0] = 2.5;
    ck_assert_int_eq(gridems_plan_report(3, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_int_eq(gridems_news_check(&news, out, t, hour, &held), 1);
    ck_assert_uint_eq(held, 0);
    /* Later plans, other amounts: the same kind, held back within the hour. */
    f.unserved[0] = 40;
    ck_assert_int_eq(gridems_plan_report(4, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_str_eq(out, "plan 4: 20 kWh unserved load (the site's import limit is 8000 kW "
                          "below the 9000 kW inflexible load)");
    ck_assert_int_eq(gridems_news_check(&news, out, t + 300000, hour, &held), 0);
    f.sc.import_limit_kw = 7500;
    ck_assert_int_eq(gridems_plan_report(5, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_int_eq(gridems_news_check(&news, out, t + hour - 1, hour, &held), 0);
    /* An hour after the last line: printed again, with how many were held back. */
    ck_assert_int_eq(gridems_news_check(&news, out, t + hour, hour, &held), 1);
    ck_assert_uint_eq(held, 2);
    /* Another job short: another kind, at once. Names keep their digits (j3 is not j4). */
    f.flex[1].unmet_kwh = 7.25;
    ck_assert_int_eq(gridems_plan_report(6, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_int_eq(gridems_news_check(&news, out, t + hour + 1, hour, &held), 1);
    ck_assert_uint_eq(held, 0);
    f.unserved[0] = 0;
    f.flex[1].unmet_kwh = 0;
    f.flex[0].unmet_kwh = 3;
    ck_assert_int_eq(gridems_plan_report(7, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_str_eq(out, "plan 7: 3 kWh of job j3 unmet");
    ck_assert_int_eq(gridems_news_check(&news, out, t + hour + 2, hour, &held), 1);
    f.flex[0].unmet_kwh = 0;
    f.flex[1].unmet_kwh = 3;
    ck_assert_int_eq(gridems_plan_report(8, &f.sc, &f.s, NULL, t, 1800000, NULL, out, sizeof out),
                     1);
    ck_assert_int_eq(gridems_news_check(&news, out, t + hour + 3, hour, &held), 1);
    ck_assert_int_eq(
        gridems_news_check(&news, "plan 9: 3.5 kWh of job j4 unmet", t + hour + 4, hour, &held), 0);
    /* Forgotten when the cause went away: the next one is news. */
    gridems_news_reset(&news);
    ck_assert_int_eq(
        gridems_news_check(&news, "plan 10: 3.5 kWh of job j4 unmet", t + hour + 5, hour, &held),
        1);
    teardown(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan_report");
    TCase *tc = tcase_create("report");
    tcase_add_test(tc, clean_plan_says_nothing);
    tcase_add_test(tc, dr_event_below_the_load_is_named);
    tcase_add_test(tc, site_limit_and_job_only);
    tcase_add_test(tc, energy_for_the_reserve_is_no_shortfall);
    tcase_add_test(tc, lasting_shortfall_is_news_once_an_hour);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
