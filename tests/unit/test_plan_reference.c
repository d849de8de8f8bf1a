/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A tie-break reference read back from a published schedule (core/src/planning/plan_reference.c):
 * the same series, ids, start and step as the schedule the optimizer wrote; broken text refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "gridems/optimizer.h"
#include "plan_reference.h"

static const char *const scenario_json =
    "{\"version\":1,\"start\":\"2026-05-11T09:00:00+09:00\",\"step_minutes\":30,"
    "\"prices\":{\"import_per_kwh\":[10,30,20]},\"site\":{\"base_load_kw\":[0,100,50]},"
    "\"batteries\":[{\"id\":\"b\",\"capacity_kwh\":100,\"soc_kwh\":0,\"charge_max_kw\":100,"
    "\"discharge_max_kw\":100}],\"flexible_loads\":[{\"id\":\"job\",\"energy_kwh\":20,"
    "\"power_max_kw\":40}]}";

START_TEST(schedule_json_round_trips_to_a_reference)
{
    gridems_scenario_t sc;
    char err[256] = "";
    ck_assert_int_eq(
        gridems_scenario_parse_json(scenario_json, strlen(scenario_json), &sc, err, sizeof err), 0);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    gridems_schedule_t s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    char *text = gridems_schedule_to_json(&sc, &s);
    ck_assert_ptr_nonnull(text);

    gridems_reference_t ref;
    ck_assert_int_eq(gridems_plan_reference_from_json(text, strlen(text), &ref), 0);
    ck_assert_int_eq(ref.start_ms, 1778457600000LL); /* 2026-05-11T00:00:00Z */
    ck_assert_int_eq(ref.step_ms, 1800000);
    ck_assert_int_eq(ref.steps, 3);
    ck_assert_int_eq(ref.n_items, 2);
    ck_assert_str_eq(ref.items[0].id, "b");
    ck_assert_str_eq(ref.items[1].id, "job");
    ck_assert_ptr_null(ref.items[0].power_kw);
    ck_assert_ptr_null(ref.items[1].charge_kw);
    for (int t = 0; t < 3; t++) {
        /* Exactly the numbers written: they round-trip a double. */
        ck_assert(ref.items[0].charge_kw[t] == s.batteries[0].charge_kw[t]);
        ck_assert(ref.items[0].discharge_kw[t] == s.batteries[0].discharge_kw[t]);
        ck_assert(ref.items[1].power_kw[t] == s.flex_loads[0].power_kw[t]);
    }
    /* As a reference it gives back the same schedule, with nothing to move. */
    gridems_optimizer_hint_reference(opt, &ref, ref.start_ms);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.tie_break, GRIDEMS_TIE_APPLIED);
    ck_assert(s.tie_break_distance_kw <= 1e-9);
    gridems_reference_free(&ref);
    ck_assert_ptr_null(ref.items);

    /* Broken text: not JSON, no start, a series of the wrong length. */
    ck_assert_int_eq(gridems_plan_reference_from_json("{", 1, &ref), GRIDEMS_EPARSE);
    const char *no_start = "{\"step_minutes\":30,\"steps\":1}";
    ck_assert_int_eq(gridems_plan_reference_from_json(no_start, strlen(no_start), &ref),
                     GRIDEMS_EINVAL);
    const char *short_series = "{\"start\":\"2026-05-11T09:00:00+09:00\",\"step_minutes\":30,"
                               "\"steps\":2,\"batteries\":[{\"id\":\"b\",\"charge_kw\":[0],"
                               "\"discharge_kw\":[0,0]}]}";
    ck_assert_int_eq(gridems_plan_reference_from_json(short_series, strlen(short_series), &ref),
                     GRIDEMS_EINVAL);
    ck_assert_ptr_null(ref.items);

    free(text);
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
    gridems_scenario_free(&sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan_reference");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, schedule_json_round_trips_to_a_reference);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
