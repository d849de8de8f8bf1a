/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/planning/plan_binds.h: on a hand-made four-step plan, each step lists
 * exactly the constraints at their limit (the peak, a DR cap, the compute cap and a cluster's, a
 * battery's energy and power limits, a job held to its deadline), and nothing else; within
 * tolerance counts, a hair beyond it does not; a deadline past the horizon never binds.
 */
#include "check_run.h"
#include "optimizer_internal.h"
#include "plan_binds.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fix_s {
    gridems_scenario_t sc;
    gridems_schedule_t s;
} fix_t;

static void setup(fix_t *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(gridems_scenario_init(&f->sc, 4, 30), 0);
    f->sc.import_limit_kw = 1000;
    f->sc.demand_charge_per_kw = 10;
    f->sc.peak_so_far_kw = 100;
    f->sc.has_compute_limit = true;
    f->sc.compute_limit_kw = 40;
    gridems_battery_t b = {"b1", 100, 50, 10, 100, 50, 20, 30, 0.95, 0.95, 0};
    ck_assert_int_eq(gridems_scenario_add_battery(&f->sc, &b), 0);
    gridems_flex_load_t j1 = {"j1", 80, 40, 0, 3, NULL};
    gridems_flex_load_t j2 = {"j2", 10, 40, 0, 5, NULL}; /* deadline past the horizon */
    ck_assert_int_eq(gridems_scenario_add_flex_load(&f->sc, &j1), 0);
    ck_assert_int_eq(gridems_scenario_add_flex_load(&f->sc, &j2), 0);
    gridems_event_t ev = {1, 2, 50};
    ck_assert_int_eq(gridems_scenario_add_event(&f->sc, &ev), 0);
    ck_assert_int_eq(gridems__schedule_alloc(&f->s, 4, 1, 2), 0);
    const double imp[4] = {100, 50, 120, 119.99};
    const double soc[5] = {50, 10, 10, 30, 100};
    const double dis[4] = {30, 0, 0, 0};
    const double chg[4] = {0, 0, 20, 10};
    const double j1p[4] = {0, 40, 40, 0};
    const double j2p[4] = {0, 0, 0, 40};
    memcpy(f->s.grid_import_kw, imp, sizeof imp);
    memcpy(f->s.batteries[0].soc_kwh, soc, sizeof soc);
    memcpy(f->s.batteries[0].discharge_kw, dis, sizeof dis);
    memcpy(f->s.batteries[0].charge_kw, chg, sizeof chg);
    memcpy(f->s.flex_loads[0].power_kw, j1p, sizeof j1p);
    memcpy(f->s.flex_loads[1].power_kw, j2p, sizeof j2p);
    f->s.peak_import_kw = 120;
}

static void teardown(fix_t *f)
{
    gridems_scenario_free(&f->sc);
    gridems_schedule_free(&f->s);
}

/* The tags of step k joined by ',' (the caller frees). */
static char *step_tags(const cJSON *all, int k)
{
    char buf[512] = "";
    const cJSON *t = NULL;
    cJSON_ArrayForEach(t, cJSON_GetArrayItem(all, k))
    {
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof buf - used, "%s%s", used > 0 ? "," : "", t->valuestring);
    }
    return strdup(buf);
}

static void expect(const cJSON *all, int k, const char *want)
{
    char *got = step_tags(all, k);
    ck_assert_msg(strcmp(got, want) == 0, "step %d: \"%s\", expected \"%s\"", k, got, want);
    free(got);
}

START_TEST(test_each_kind)
{
    fix_t f;
    setup(&f);
    cJSON *all = gridems_plan_binds_json(&f.sc, &f.s);
    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(cJSON_GetArraySize(all), 4);
    expect(all, 0, "battery_empty:b1,battery_discharge_max:b1");
    expect(all, 1, "dr_cap,compute_cap,battery_empty:b1,deadline:j1");
    expect(all, 2, "peak,compute_cap,battery_charge_max:b1,deadline:j1");
    /* 119.99 is within 0.5 kW of the 120 kW peak; j2 at full power is no deadline (past the
     * horizon) but fills the compute cap. */
    expect(all, 3, "peak,compute_cap,battery_full:b1");
    cJSON_Delete(all);
    teardown(&f);
}
END_TEST

START_TEST(test_cluster_cap)
{
    /* j1 in cluster gpu (cap 40 kW): at its cap in steps 1 and 2; gpu2 (no running job) and a
     * cluster with no job at all never bind. */
    fix_t f;
    setup(&f);
    gridems_cluster_t gpu = {"gpu", 40}, gpu2 = {"gpu2", 40}, idle = {"idle", 0};
    ck_assert_int_eq(gridems_scenario_add_cluster(&f.sc, &gpu), 0);
    ck_assert_int_eq(gridems_scenario_add_cluster(&f.sc, &gpu2), 0);
    ck_assert_int_eq(gridems_scenario_add_cluster(&f.sc, &idle), 0);
    ck_assert_int_eq(gridems_scenario_set_text(&f.sc.flex_loads[0].cluster, "gpu"), 0);
    cJSON *all = gridems_plan_binds_json(&f.sc, &f.s);
    expect(all, 0, "battery_empty:b1,battery_discharge_max:b1");
    expect(all, 1, "dr_cap,compute_cap,cluster_cap:gpu,battery_empty:b1,deadline:j1");
    expect(all, 2, "peak,compute_cap,cluster_cap:gpu,battery_charge_max:b1,deadline:j1");
    expect(all, 3, "peak,compute_cap,battery_full:b1");
    cJSON_Delete(all);
    teardown(&f);
}
END_TEST

START_TEST(test_tolerance_and_no_charge)
{
    fix_t f;
    setup(&f);
    f.s.grid_import_kw[3] = 119.4; /* 0.6 kW below the peak: not at it */
    f.s.batteries[0].soc_kwh[4] = 99.4;
    f.s.flex_loads[1].power_kw[3] = 39;
    cJSON *all = gridems_plan_binds_json(&f.sc, &f.s);
    expect(all, 3, "");
    cJSON_Delete(all);
    /* Without a demand charge no step is held at the peak. */
    f.sc.demand_charge_per_kw = 0;
    all = gridems_plan_binds_json(&f.sc, &f.s);
    expect(all, 2, "compute_cap,battery_charge_max:b1,deadline:j1");
    cJSON_Delete(all);
    /* The import limit binds where no DR cap is tighter. */
    f.sc.import_limit_kw = 120;
    all = gridems_plan_binds_json(&f.sc, &f.s);
    expect(all, 2, "import_limit,compute_cap,battery_charge_max:b1,deadline:j1");
    expect(all, 1, "dr_cap,compute_cap,battery_empty:b1,deadline:j1");
    cJSON_Delete(all);
    /* Mismatched step counts give nothing. */
    f.s.steps = 3;
    ck_assert_ptr_null(gridems_plan_binds_json(&f.sc, &f.s));
    f.s.steps = 4;
    teardown(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan_binds");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_each_kind);
    tcase_add_test(tc, test_tolerance_and_no_charge);
    tcase_add_test(tc, test_cluster_cap);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
