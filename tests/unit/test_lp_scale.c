/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the scale a shifted program takes from the one it comes from
 * (gridems__lp_model_transfer_scale, optimizer/src/lp_model.h): at 5-minute steps GLPK scales the
 * program, and a shift of the horizon carries those factors over by meaning instead of scaling
 * anew; a program with a battery or job group the old one lacks, or other coefficients, is not
 * given them. And through the optimizer: shifted solves on the carried scale reach the cold
 * optimum of the shifted scenario. The transfers find each battery's and job group's
 * counterpart by id (gridems__lp_model_match), in any order.
 */
#include <check.h>
#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/optimizer.h"
#include "lp_layout.h"
#include "lp_model.h"

#define STEPS 36

/* A 5-minute site (the dt terms 0.079-0.088 are below GLPK's well-scaled 0.1, so GLPK scales):
 * 2 batteries, a demand charge, a compute cap and 6 jobs. `offset` moves the horizon on by that
 * many steps: the series move, the windows come earlier. */
static void five_minute_site(gridems_scenario_t *sc, int offset)
{
    ck_assert_int_eq(gridems_scenario_init(sc, STEPS, 5), 0);
    for (int t = 0; t < STEPS; t++) {
        int at = t + offset;
        sc->import_per_kwh[t] = 12 + 8 * sin(at * 0.21) + (at % 5) * 0.4;
        sc->export_per_kwh[t] = 0.5 * sc->import_per_kwh[t];
        sc->base_load_kw[t] = 4000 + 600 * cos(at * 0.11);
    }
    sc->export_limit_kw = 300;
    sc->demand_charge_per_kw = 150;
    sc->peak_so_far_kw = 4300;
    sc->import_limit_kw = 6500;
    for (int b = 0; b < 2; b++) {
        char id[32];
        snprintf(id, sizeof id, "bess-%d", b);
        gridems_battery_t bat = {id, 800, 400, 80, 760, 400, 600, 600, 0.95, 0.92, 0.5 + b};
        ck_assert_int_eq(gridems_scenario_add_battery(sc, &bat), 0);
    }
    for (int j = 0; j < 6; j++) {
        char id[32];
        snprintf(id, sizeof id, "job-%d", j);
        int earliest = j * 3 - offset, deadline = 20 + j * 2 - offset;
        earliest = earliest < 0 ? 0 : earliest;
        gridems_flex_load_t job = {id, 40.0 + 9 * j, 300.0 + 50 * j, earliest, deadline, NULL};
        ck_assert_int_eq(gridems_scenario_add_flex_load(sc, &job), 0);
    }
    sc->has_compute_limit = true;
    sc->compute_limit_kw = 900;
    gridems_scenario_set_text(&sc->start, "2026-05-11T00:00:00+09:00");
}

typedef struct program_s {
    gridems_scenario_t sc;
    lp_layout_t layout;
    glp_prob *lp;
} program_t;

static void build(program_t *p, int offset)
{
    five_minute_site(&p->sc, offset);
    ck_assert_int_eq(gridems__lp_layout_build(&p->layout, &p->sc, LP_MERGE_EXACT), 0);
    p->lp = glp_create_prob();
    lp_change_t change;
    ck_assert_int_eq(gridems__lp_model_load_matrix(p->lp, &p->layout), 0);
    ck_assert_int_eq(gridems__lp_model_set_data(p->lp, &p->layout, &p->sc, true, &change), 0);
}

static void drop(program_t *p)
{
    glp_delete_prob(p->lp);
    gridems__lp_layout_free(&p->layout);
    gridems_scenario_free(&p->sc);
}

/* now takes old's scale factors, shifted by a step (gridems__lp_model_transfer_scale). */
static bool carry_scale(program_t *now, const program_t *old)
{
    lp_match_t match;
    ck_assert_int_eq(gridems__lp_model_match(&match, &now->layout, &old->layout), 0);
    bool carried =
        gridems__lp_model_transfer_scale(now->lp, &now->layout, old->lp, &old->layout, &match, 1);
    gridems__lp_model_match_free(&match);
    return carried;
}

/* The new program's factor of a timed family's member at step t is the old one's at t + 1, the
 * last step's at the old last step. */
static void assert_family_carried(const program_t *now, const program_t *old, bool rows,
                                  const int *idx, const int *old_idx, int n_entities)
{
    for (int e = 0; e < n_entities; e++) {
        for (int t = 0; t < STEPS; t++) {
            int i = idx[e * STEPS + t];
            int old_t = t + 1 < STEPS ? t + 1 : STEPS - 1;
            int old_i = old_idx[e * STEPS + old_t];
            if (i == 0 || old_i == 0) {
                continue;
            }
            double got = rows ? glp_get_rii(now->lp, i) : glp_get_sjj(now->lp, i);
            double want = rows ? glp_get_rii(old->lp, old_i) : glp_get_sjj(old->lp, old_i);
            ck_assert_msg(got == want, "%s %d of entity %d step %d: %.17g, want %.17g",
                          rows ? "row" : "column", i, e, t, got, want);
        }
    }
}

START_TEST(a_shift_carries_glpk_scale)
{
    glp_term_out(GLP_OFF);
    program_t old, now;
    build(&old, 0);
    glp_scale_prob(old.lp, GLP_SF_AUTO);
    /* GLPK did scale it: the storage rows are not left at 1. */
    ck_assert(glp_get_rii(old.lp, old.layout.storage[3]) != 1.0);
    build(&now, 1);
    ck_assert(carry_scale(&now, &old));
    const lp_layout_t *l = &now.layout, *o = &old.layout;
    assert_family_carried(&now, &old, true, l->balance, o->balance, 1);
    assert_family_carried(&now, &old, true, l->storage, o->storage, l->n_batteries);
    assert_family_carried(&now, &old, true, l->peak_row, o->peak_row, 1);
    assert_family_carried(&now, &old, false, l->g, o->g, 1);
    assert_family_carried(&now, &old, false, l->c, o->c, l->n_batteries);
    assert_family_carried(&now, &old, false, l->d, o->d, l->n_batteries);
    assert_family_carried(&now, &old, false, l->s, o->s, l->n_batteries);
    assert_family_carried(&now, &old, false, l->p, o->p, l->n_groups);
    for (int g = 0; g < l->n_groups; g++) {
        ck_assert(glp_get_rii(now.lp, l->flex_energy[g]) == glp_get_rii(old.lp, o->flex_energy[g]));
        ck_assert(glp_get_sjj(now.lp, l->u[g]) == glp_get_sjj(old.lp, o->u[g]));
    }
    ck_assert(glp_get_sjj(now.lp, l->peak) == glp_get_sjj(old.lp, o->peak));
    drop(&now);
    drop(&old);
}
END_TEST

START_TEST(a_new_entity_or_coefficient_is_scaled_anew)
{
    glp_term_out(GLP_OFF);
    program_t old, now;
    build(&old, 0);
    glp_scale_prob(old.lp, GLP_SF_AUTO);
    /* A job the old program did not have. */
    five_minute_site(&now.sc, 1);
    gridems_flex_load_t late = {"job-new", 30, 200, 2, 30, NULL};
    ck_assert_int_eq(gridems_scenario_add_flex_load(&now.sc, &late), 0);
    ck_assert_int_eq(gridems__lp_layout_build(&now.layout, &now.sc, LP_MERGE_EXACT), 0);
    now.lp = glp_create_prob();
    ck_assert_int_eq(gridems__lp_model_load_matrix(now.lp, &now.layout), 0);
    ck_assert(!carry_scale(&now, &old));
    for (int i = 1; i <= glp_get_num_rows(now.lp); i++) {
        ck_assert(glp_get_rii(now.lp, i) == 1.0); /* nothing set */
    }
    drop(&now);
    /* A battery whose efficiency changed: its storage rows have other coefficients. */
    build(&now, 1);
    now.layout.discharge_efficiency[1] = 0.9;
    ck_assert(!carry_scale(&now, &old));
    drop(&now);
    drop(&old);
}
END_TEST

START_TEST(shifted_solves_on_the_carried_scale_are_optimal)
{
    gridems_scenario_t sc;
    gridems_schedule_t s, cold;
    memset(&s, 0, sizeof s);
    gridems_optimizer_t *opt = NULL;
    ck_assert_int_eq(gridems_optimizer_create(&opt, NULL), 0);
    char err[256] = "";
    five_minute_site(&sc, 0);
    ck_assert_int_eq(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err), 0);
    gridems_scenario_free(&sc);
    for (int k = 1; k <= 3; k++) {
        five_minute_site(&sc, k);
        gridems_optimizer_hint_shift(opt, 1);
        ck_assert_msg(gridems_optimizer_solve(opt, &sc, &s, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(s.start_kind, GRIDEMS_START_SHIFTED);
        gridems_optimizer_t *fresh = NULL;
        ck_assert_int_eq(gridems_optimizer_create(&fresh, NULL), 0);
        memset(&cold, 0, sizeof cold);
        ck_assert_int_eq(gridems_optimizer_solve(fresh, &sc, &cold, err, sizeof err), 0);
        ck_assert_msg(fabs(s.objective - cold.objective) <= 1e-9 * fabs(cold.objective),
                      "shift %d: warm %.15g, cold %.15g", k, s.objective, cold.objective);
        gridems_schedule_free(&cold);
        gridems_optimizer_destroy(fresh);
        gridems_scenario_free(&sc);
    }
    gridems_schedule_free(&s);
    gridems_optimizer_destroy(opt);
}
END_TEST

/* A layout with only the ids set: all gridems__lp_model_match reads. */
static lp_layout_t ids_only(char **battery_ids, int n_batteries, char **flex_ids, int n_groups)
{
    lp_layout_t l;
    memset(&l, 0, sizeof l);
    l.battery_ids = battery_ids;
    l.n_batteries = n_batteries;
    l.flex_ids = flex_ids;
    l.n_groups = n_groups;
    return l;
}

START_TEST(ids_are_matched_in_any_order)
{
    char *old_jobs[] = {"a", "b", "c", "d", "e"};
    char *new_jobs[] = {"b", "c", "x", "e", "a"}; /* d gone, x new, a moved to the end */
    char *old_bess[] = {"bess-1", "bess-2"};
    char *new_bess[] = {"bess-2", "bess-3", "bess-1"};
    lp_layout_t old = ids_only(old_bess, 2, old_jobs, 5), now = ids_only(new_bess, 3, new_jobs, 5);
    lp_match_t m;
    ck_assert_int_eq(gridems__lp_model_match(&m, &now, &old), 0);
    const int want_group[] = {1, 2, -1, 4, 0}, want_battery[] = {1, -1, 0};
    for (int g = 0; g < 5; g++) {
        ck_assert_msg(m.group[g] == want_group[g], "group %s: %d, want %d", new_jobs[g], m.group[g],
                      want_group[g]);
    }
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(m.battery[b], want_battery[b]);
    }
    gridems__lp_model_match_free(&m);

    /* Nothing old (a first program) and nothing new. */
    lp_layout_t none = ids_only(NULL, 0, NULL, 0);
    ck_assert_int_eq(gridems__lp_model_match(&m, &now, &none), 0);
    for (int g = 0; g < 5; g++) {
        ck_assert_int_eq(m.group[g], -1);
    }
    gridems__lp_model_match_free(&m);
    ck_assert_int_eq(gridems__lp_model_match(&m, &none, &old), 0);
    gridems__lp_model_match_free(&m);
}
END_TEST

/* The case the fast path is for: 2,000 job groups, the first gone, one new at the end. */
START_TEST(a_job_gone_from_the_front_keeps_every_other_match)
{
    enum { N = 2000 };
    char **old_ids = calloc(N, sizeof *old_ids), **new_ids = calloc(N, sizeof *new_ids);
    ck_assert(old_ids != NULL && new_ids != NULL);
    for (int i = 0; i < N; i++) {
        old_ids[i] = malloc(16);
        ck_assert(old_ids[i] != NULL);
        snprintf(old_ids[i], 16, "job-%04d", i);
    }
    for (int i = 0; i < N - 1; i++) {
        new_ids[i] = old_ids[i + 1];
    }
    new_ids[N - 1] = "job-new";
    lp_layout_t old = ids_only(NULL, 0, old_ids, N), now = ids_only(NULL, 0, new_ids, N);
    lp_match_t m;
    ck_assert_int_eq(gridems__lp_model_match(&m, &now, &old), 0);
    for (int i = 0; i < N - 1; i++) {
        ck_assert_int_eq(m.group[i], i + 1);
    }
    ck_assert_int_eq(m.group[N - 1], -1);
    gridems__lp_model_match_free(&m);
    for (int i = 0; i < N; i++) {
        free(old_ids[i]);
    }
    free(old_ids);
    free(new_ids);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lp_scale");
    TCase *tc = tcase_create("scale");
    tcase_add_test(tc, a_shift_carries_glpk_scale);
    tcase_add_test(tc, a_new_entity_or_coefficient_is_scaled_anew);
    tcase_add_test(tc, shifted_solves_on_the_carried_scale_are_optimal);
    tcase_add_test(tc, ids_are_matched_in_any_order);
    tcase_add_test(tc, a_job_gone_from_the_front_keeps_every_other_match);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
