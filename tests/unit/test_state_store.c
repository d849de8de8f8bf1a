/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the state store: a save/load round trip with exact numbers, atomic saves that
 * leave no temporary file, missing and corrupt files (each refused with the file and the field
 * named, never a crash), the billing-period keys, the peak rule, job pruning and the size bound.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "state_store.h"
#include "test_util.h"
#include "timeutil.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int64_t iso(const char *text)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_time_parse_iso(text, &ms, NULL, NULL, 0), 0);
    return ms;
}

/* Names in dir other than "." and "..", joined by spaces. */
static void list_dir(const char *dir, char *out, size_t outlen)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%s", used > 0 ? " " : "", e->d_name);
        }
    }
    closedir(d);
}

static const char *const plan_text =
    "{\"version\":1,\"start\":\"2026-05-11T00:00:00+09:00\",\"objective\":1570.25,"
    "\"note\":\"quote \\\" and newline \\n and unicode \\u00e9\"}";

static void fill(gridems_state_t *st)
{
    gridems_state_init(st);
    ck_assert_int_eq(gridems_state_note_import(st, "month:2026-05", 812.5), 1);
    ck_assert_int_eq(gridems_state_set_job(st, "train-17", 0.1 + 0.2, iso("2026-05-11T18:00:00Z")),
                     0);
    ck_assert_int_eq(gridems_state_set_job(st, "infer-3", 1e-300, iso("2026-05-12T00:00:00+09:00")),
                     0);
    ck_assert_int_eq(gridems_state_set_job(st, "batch \"x\"", 123456.789, iso("2030-01-01T00:00Z")),
                     0);
    ck_assert_uint_eq(gridems_state_take_plan_id(st), 1);
    ck_assert_int_eq(gridems_state_set_plan(st, 41, iso("2026-05-11T09:15:00.250Z"), plan_text,
                                            strlen(plan_text)),
                     0);
}

START_TEST(round_trip)
{
    char *dir = test_make_tmpdir("state");
    gridems_state_t st, back;
    fill(&st);
    ck_assert_uint_eq(st.next_plan_id, 42);
    char err[512] = "";
    ck_assert_int_eq(gridems_state_save(dir, &st, err, sizeof err), 0);
    int rc = gridems_state_load(dir, &back, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert(back.loaded);
    ck_assert(back.has_peak);
    ck_assert(back.peak_kw == 812.5);
    ck_assert_str_eq(back.peak_period, "month:2026-05");
    ck_assert_int_eq(back.n_jobs, 3);
    for (int i = 0; i < st.n_jobs; i++) {
        const gridems_state_job_t *j = gridems_state_find_job(&back, st.jobs[i].id);
        ck_assert_ptr_nonnull(j);
        /* Exactly the same double, not merely close. */
        ck_assert(j->delivered_kwh == st.jobs[i].delivered_kwh);
        ck_assert_int_eq(j->deadline_ms, st.jobs[i].deadline_ms);
    }
    ck_assert(back.has_plan);
    ck_assert_uint_eq(back.plan_id, 41);
    ck_assert_int_eq(back.plan_created_ms, iso("2026-05-11T09:15:00.250Z"));
    /* Byte for byte the text as published. */
    ck_assert_str_eq(back.plan_json, plan_text);
    ck_assert_uint_eq(back.plan_len, strlen(plan_text));
    ck_assert_uint_eq(back.next_plan_id, 42);
    ck_assert_uint_eq(gridems_state_take_plan_id(&back), 42);
    ck_assert_uint_eq(gridems_state_take_plan_id(&back), 43);

    /* Saving what was loaded gives the same file. */
    char *a = gridems_state_to_json(&st);
    back.next_plan_id = 42;
    char *b = gridems_state_to_json(&back);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    gridems_state_free(&back);
    gridems_state_free(&st);
    gridems_state_free(&st); /* harmless */
    ck_assert_int_eq(st.n_jobs, 0);
    ck_assert_uint_eq(st.next_plan_id, 1);
    gridems_state_free(NULL);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(saved_next_plan_id_covers_the_reserve)
{
    /* The service publishes a plan before saving it: the file must already say that id is
     * taken. With a reserve of 1, next_plan_id is written one ahead. */
    char *dir = test_make_tmpdir("state");
    gridems_state_t st, back;
    gridems_state_init(&st);
    ck_assert_uint_eq(gridems_state_take_plan_id(&st), 1);
    st.plan_id_reserve = 1;
    ck_assert_int_eq(gridems_state_save(dir, &st, NULL, 0), 0);
    ck_assert_int_eq(gridems_state_load(dir, &back, NULL, 0), 0);
    ck_assert_uint_eq(back.next_plan_id, 3); /* 2 may be published before the next save */
    ck_assert_int_eq(back.plan_id_reserve, 0);
    /* At the maximum id there is nothing to reserve: it stays there. */
    back.next_plan_id = GRIDEMS_STATE_MAX_PLAN_ID;
    back.plan_id_reserve = 1;
    ck_assert_int_eq(gridems_state_save(dir, &back, NULL, 0), 0);
    gridems_state_free(&back);
    ck_assert_int_eq(gridems_state_load(dir, &back, NULL, 0), 0);
    ck_assert_uint_eq(back.next_plan_id, GRIDEMS_STATE_MAX_PLAN_ID);
    gridems_state_free(&back);
    gridems_state_free(&st);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(empty_state_round_trip)
{
    char *dir = test_make_tmpdir("state");
    gridems_state_t st, back;
    gridems_state_init(&st);
    ck_assert_int_eq(gridems_state_save(dir, &st, NULL, 0), 0);
    ck_assert_int_eq(gridems_state_load(dir, &back, NULL, 0), 0);
    ck_assert(back.loaded);
    ck_assert(!back.has_peak);
    ck_assert(!back.has_plan);
    ck_assert_int_eq(back.n_jobs, 0);
    ck_assert_uint_eq(back.next_plan_id, 1);
    gridems_state_free(&back);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(save_is_atomic_and_leaves_no_temp_file)
{
    char *dir = test_make_tmpdir("state");
    char names[1024];
    gridems_state_t st;
    fill(&st);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(gridems_state_set_job(&st, "train-17", i, iso("2026-05-11T18:00:00Z")), 0);
        ck_assert_int_eq(gridems_state_save(dir, &st, NULL, 0), 0);
        list_dir(dir, names, sizeof names);
        ck_assert_str_eq(names, "state.json");
    }
    /* The file holds the last save. */
    gridems_state_t back;
    ck_assert_int_eq(gridems_state_load(dir, &back, NULL, 0), 0);
    ck_assert(gridems_state_find_job(&back, "train-17")->delivered_kwh == 4);
    gridems_state_free(&back);

    /* The directory itself is created when missing (one level). */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/fresh", dir);
    ck_assert_int_eq(gridems_state_save(sub, &st, NULL, 0), 0);
    list_dir(sub, names, sizeof names);
    ck_assert_str_eq(names, "state.json");

    /* A save that cannot happen reports the file and keeps nothing half-written. */
    char deep[512], err[512] = "";
    snprintf(deep, sizeof deep, "%s/no/such/parent", dir);
    ck_assert_int_eq(gridems_state_save(deep, &st, err, sizeof err), GRIDEMS_EIO);
    ck_assert_msg(strstr(err, deep) != NULL, "%s", err);
    gridems_state_free(&st);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(missing_file_is_an_empty_state)
{
    char *dir = test_make_tmpdir("state");
    gridems_state_t st;
    char err[256] = "";
    ck_assert_int_eq(gridems_state_load(dir, &st, err, sizeof err), 0);
    ck_assert(!st.loaded);
    ck_assert_int_eq(st.n_jobs, 0);
    ck_assert_uint_eq(st.next_plan_id, 1);
    gridems_state_free(&st);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/not/there", dir);
    ck_assert_int_eq(gridems_state_load(missing, &st, err, sizeof err), 0);
    ck_assert(!st.loaded);
    gridems_state_free(&st);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- ## Corrupt files: one row each ---- */

typedef struct corrupt_s {
    const char *text;
    int rc;
    const char *want; /* after "<path>: " */
} corrupt_t;

#define JOB(body) "{\"version\":1,\"next_plan_id\":1,\"jobs\":[" body "]}"
#define GOOD_JOB "{\"id\":\"a\",\"delivered_kwh\":1,\"deadline\":\"2026-05-11T00:00:00Z\"}"

static const corrupt_t corrupt_cases[] = {
    {"", GRIDEMS_EPARSE, "empty file"},
    {"{\"version\":1,\"next_plan_id\":1,\"jobs\":[{\"id\":\"a\",\"deliv", GRIDEMS_EPARSE,
     "not JSON (syntax error near byte 49)"},
    {"\x7f"
     "ELF garbage",
     GRIDEMS_EPARSE, "not JSON (syntax error near byte 0)"},
    {"{\"version\":1,\"next_plan_id\":1} trailing", GRIDEMS_EPARSE,
     "trailing data at byte 31 after the document"},
    /* The one JSON policy of every input (json_strict.h) holds for the files read back too. */
    {"{\"version\":1,\"next_plan_id\":1,\"jobs\":[{\"id\":\"\xc3\x28\"}]}", GRIDEMS_EPARSE,
     "invalid UTF-8 at byte 45"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":{\"kw\":1,\"kw\":2,\"period\":\"all\"}}",
     GRIDEMS_EPARSE, "duplicate key \"kw\" in $.peak"},
    {"[1]", GRIDEMS_EINVAL, "the top level must be an object, got array"},
    {"{\"next_plan_id\":1}", GRIDEMS_EINVAL, "version: must be a number, got nothing"},
    {"{\"version\":\"1\",\"next_plan_id\":1}", GRIDEMS_EINVAL, "version: must be a number"},
    {"{\"version\":2,\"next_plan_id\":1,\"future\":true}", GRIDEMS_EINVAL,
     "version: unsupported version 2 (this program reads version 1)"},
    {"{\"version\":1}", GRIDEMS_EINVAL, "next_plan_id: must be an integer, got nothing"},
    {"{\"version\":1,\"next_plan_id\":0}", GRIDEMS_EINVAL, "next_plan_id: must be an integer in 1"},
    {"{\"version\":1,\"next_plan_id\":1.5}", GRIDEMS_EINVAL, "next_plan_id: must be an integer"},
    {"{\"version\":1,\"next_plan_id\":1,\"extra\":1}", GRIDEMS_EINVAL, "extra: unknown key"},
    {"{\"version\":1,\"next_plan_id\":1,\"next_plan_id\":2}", GRIDEMS_EPARSE,
     "duplicate key \"next_plan_id\" in $"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":5}", GRIDEMS_EINVAL,
     "peak: must be an object, got number"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":{\"kw\":-1,\"period\":\"all\"}}", GRIDEMS_EINVAL,
     "peak.kw: must be a number in 0..1e+15, got -1"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":{\"kw\":\"5\",\"period\":\"all\"}}",
     GRIDEMS_EINVAL, "peak.kw: must be a number >= 0, got string"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":{\"kw\":5}}", GRIDEMS_EINVAL,
     "peak.period: must be a string, got nothing"},
    {"{\"version\":1,\"next_plan_id\":1,\"peak\":{\"kw\":5,\"period\":\"\"}}", GRIDEMS_EINVAL,
     "peak.period: must be 1 to 31 printable characters"},
    {"{\"version\":1,\"next_plan_id\":1,\"jobs\":{}}", GRIDEMS_EINVAL,
     "jobs: must be an array, got object"},
    {JOB(GOOD_JOB ",7"), GRIDEMS_EINVAL, "jobs[1]: must be an object, got number"},
    {JOB(GOOD_JOB ",{\"id\":\"b\",\"delivered_kwh\":\"x\",\"deadline\":\"2026-05-11T00:00:00Z\"}"),
     GRIDEMS_EINVAL, "jobs[1].delivered_kwh: must be a number >= 0, got string"},
    {JOB("{\"id\":\"b\",\"delivered_kwh\":1,\"deadline\":\"tomorrow\"}"), GRIDEMS_EINVAL,
     "jobs[0].deadline:"},
    {JOB("{\"id\":\"b\",\"delivered_kwh\":1,\"deadline\":5}"), GRIDEMS_EINVAL,
     "jobs[0].deadline: must be an ISO time string, got number"},
    {JOB("{\"id\":\"\",\"delivered_kwh\":1,\"deadline\":\"2026-05-11T00:00:00Z\"}"), GRIDEMS_EINVAL,
     "jobs[0].id: must be 1 to 256 bytes long"},
    {JOB("{\"id\":3,\"delivered_kwh\":1,\"deadline\":\"2026-05-11T00:00:00Z\"}"), GRIDEMS_EINVAL,
     "jobs[0].id: must be a string, got number"},
    {JOB("{\"id\":\"b\",\"delivered_kwh\":1,\"deadline\":\"2026-05-11T00:00:00Z\",\"x\":1}"),
     GRIDEMS_EINVAL, "jobs[0].x: unknown key"},
    {JOB(GOOD_JOB "," GOOD_JOB), GRIDEMS_EINVAL, "jobs[1].id: duplicate id \"a\" (also jobs[0])"},
    {"{\"version\":1,\"next_plan_id\":5,\"last_plan\":{\"id\":4,\"created\":"
     "\"2026-05-11T00:00:00Z\",\"schedule\":{}}}",
     GRIDEMS_EINVAL, "last_plan.schedule: must be a string, got object"},
    {"{\"version\":1,\"next_plan_id\":5,\"last_plan\":{\"id\":4,\"created\":"
     "\"2026-05-11T00:00:00Z\",\"schedule\":\"{not json\"}}",
     GRIDEMS_EINVAL, "last_plan.schedule: must hold a JSON object"},
    {"{\"version\":1,\"next_plan_id\":5,\"last_plan\":{\"id\":4,\"schedule\":\"{}\"}}",
     GRIDEMS_EINVAL, "last_plan.created: must be an ISO time string, got nothing"},
    {"{\"version\":1,\"next_plan_id\":5,\"last_plan\":{\"id\":-4,\"created\":"
     "\"2026-05-11T00:00:00Z\",\"schedule\":\"{}\"}}",
     GRIDEMS_EINVAL, "last_plan.id: must be an integer in 1.."},
    {"{\"version\":1,\"next_plan_id\":4,\"last_plan\":{\"id\":4,\"created\":"
     "\"2026-05-11T00:00:00Z\",\"schedule\":\"{}\"}}",
     GRIDEMS_EINVAL, "next_plan_id: must be greater than last_plan.id (4), got 4"},
};

START_TEST(corrupt_file_is_refused_with_file_and_field)
{
    const corrupt_t *c = &corrupt_cases[_i];
    char *dir = test_make_tmpdir("state");
    char path[512];
    snprintf(path, sizeof path, "%s/state.json", dir);
    ck_assert_int_eq(test_write_file(path, c->text), 0);
    gridems_state_t st;
    char err[1024] = "";
    int rc = gridems_state_load(dir, &st, err, sizeof err);
    ck_assert_msg(rc == c->rc, "case %d: rc %s, want %s (%s)", _i, gridems_err_name(rc),
                  gridems_err_name(c->rc), err);
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", path, c->want);
    ck_assert_msg(strstr(err, want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, want);
    /* The state is empty and usable: the service starts from it. */
    ck_assert(!st.loaded);
    ck_assert(!st.has_peak);
    ck_assert(!st.has_plan);
    ck_assert_int_eq(st.n_jobs, 0);
    ck_assert_uint_eq(st.next_plan_id, 1);
    ck_assert_int_eq(gridems_state_set_job(&st, "x", 1, 0), 0);
    gridems_state_free(&st);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(truncated_saved_file_is_refused)
{
    /* Every prefix of a real file: refused (or, for the whole file, accepted), never a crash. */
    gridems_state_t st;
    fill(&st);
    char *text = gridems_state_to_json(&st);
    ck_assert_ptr_nonnull(text);
    size_t n = strlen(text);
    for (size_t cut = 0; cut < n; cut++) {
        gridems_state_t back;
        char err[512] = "";
        int rc = gridems_state_parse(text, cut, "state.json", &back, err, sizeof err);
        /* Trailing whitespace only may be cut without harm. */
        if (rc == 0) {
            for (size_t k = cut; k < n; k++) {
                ck_assert(text[k] == ' ' || text[k] == '\n' || text[k] == '\t');
            }
        } else {
            ck_assert_msg(strncmp(err, "state.json: ", 12) == 0, "%s", err);
            ck_assert_int_eq(back.n_jobs, 0);
        }
        gridems_state_free(&back);
    }
    free(text);
    gridems_state_free(&st);
}
END_TEST

START_TEST(too_many_jobs_in_file)
{
    size_t cap = 80 * (GRIDEMS_STATE_MAX_JOBS + 2) + 100;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = (size_t)snprintf(text, cap, "{\"version\":1,\"next_plan_id\":1,\"jobs\":[");
    for (int i = 0; i <= GRIDEMS_STATE_MAX_JOBS; i++) {
        used += (size_t)snprintf(text + used, cap - used,
                                 "%s{\"id\":\"j%d\",\"delivered_kwh\":1,"
                                 "\"deadline\":\"2026-05-11T00:00:00Z\"}",
                                 i > 0 ? "," : "", i);
    }
    snprintf(text + used, cap - used, "]}");
    gridems_state_t st;
    char err[512] = "";
    ck_assert_int_eq(gridems_state_parse(text, strlen(text), "f", &st, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "f: jobs: at most 10000 entries, got 10001") != NULL, "%s", err);
    free(text);
}
END_TEST

/* ---- ## Jobs ---- */

START_TEST(jobs_set_find_remove_prune)
{
    gridems_state_t st;
    gridems_state_init(&st);
    ck_assert_int_eq(gridems_state_set_job(&st, "a", 1, 100), 0);
    ck_assert_int_eq(gridems_state_set_job(&st, "b", 2, 200), 0);
    ck_assert_int_eq(gridems_state_set_job(&st, "c", 3, 300), 0);
    ck_assert_int_eq(gridems_state_set_job(&st, "b", 2.5, 250), 0); /* update, not a new one */
    ck_assert_int_eq(st.n_jobs, 3);
    ck_assert(gridems_state_find_job(&st, "b")->delivered_kwh == 2.5);
    ck_assert_int_eq(gridems_state_find_job(&st, "b")->deadline_ms, 250);
    ck_assert_ptr_null(gridems_state_find_job(&st, "zz"));
    ck_assert_ptr_null(gridems_state_find_job(&st, NULL));

    /* Invalid input changes nothing. */
    ck_assert_int_eq(gridems_state_set_job(&st, "", 1, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_job(&st, NULL, 1, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_job(&st, "d", -1, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_job(&st, "d", INFINITY, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_job(&st, "d", 1, INT64_MAX), GRIDEMS_EINVAL);
    char long_id[GRIDEMS_STATE_MAX_ID_BYTES + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    ck_assert_int_eq(gridems_state_set_job(&st, long_id, 1, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(st.n_jobs, 3);

    /* Deadlines at or before now go. */
    ck_assert_int_eq(gridems_state_prune_jobs(&st, 250), 2);
    ck_assert_int_eq(st.n_jobs, 1);
    ck_assert_ptr_nonnull(gridems_state_find_job(&st, "c"));
    ck_assert_int_eq(gridems_state_prune_jobs(&st, 250), 0);
    ck_assert_int_eq(gridems_state_remove_job(&st, "c"), 1);
    ck_assert_int_eq(gridems_state_remove_job(&st, "c"), 0);
    ck_assert_int_eq(st.n_jobs, 0);
    gridems_state_free(&st);
}
END_TEST

START_TEST(job_table_is_bounded)
{
    gridems_state_t st;
    gridems_state_init(&st);
    char id[32];
    for (int i = 0; i < GRIDEMS_STATE_MAX_JOBS; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        /* job-0 has the latest deadline, job-9999 the earliest... except job-500, earliest. */
        int64_t deadline = i == 500 ? 1 : 1000000 - i;
        ck_assert_int_eq(gridems_state_set_job(&st, id, i, deadline), 0);
    }
    ck_assert_int_eq(st.n_jobs, GRIDEMS_STATE_MAX_JOBS);
    /* Full: a new job evicts the one due first. */
    ck_assert_int_eq(gridems_state_set_job(&st, "newcomer", 1, 5000000), 0);
    ck_assert_int_eq(st.n_jobs, GRIDEMS_STATE_MAX_JOBS);
    ck_assert_ptr_null(gridems_state_find_job(&st, "job-500"));
    ck_assert_ptr_nonnull(gridems_state_find_job(&st, "newcomer"));
    /* An update of a known job evicts nothing. */
    ck_assert_int_eq(gridems_state_set_job(&st, "job-1", 7, 10), 0);
    ck_assert_int_eq(st.n_jobs, GRIDEMS_STATE_MAX_JOBS);
    ck_assert_ptr_nonnull(gridems_state_find_job(&st, "job-9999"));
    /* A full table saves and loads. */
    char *text = gridems_state_to_json(&st);
    ck_assert_ptr_nonnull(text);
    gridems_state_t back;
    char err[256] = "";
    ck_assert_int_eq(gridems_state_parse(text, strlen(text), "f", &back, err, sizeof err), 0);
    ck_assert_int_eq(back.n_jobs, GRIDEMS_STATE_MAX_JOBS);
    free(text);
    gridems_state_free(&back);
    /* Pruning makes room. */
    ck_assert_int_eq(gridems_state_prune_jobs(&st, 1000000 - 5000), 5001);
    ck_assert_int_eq(st.n_jobs, GRIDEMS_STATE_MAX_JOBS - 5001);
    gridems_state_free(&st);
}
END_TEST

/* ---- ## Peak per billing period ---- */

START_TEST(peak_resets_with_the_period)
{
    gridems_state_t st;
    gridems_state_init(&st);
    ck_assert(gridems_state_peak_kw(&st, "month:2026-05") == 0);
    ck_assert_int_eq(gridems_state_note_import(&st, "month:2026-05", 100), 1);
    ck_assert_int_eq(gridems_state_note_import(&st, "month:2026-05", 80), 0);
    ck_assert_int_eq(gridems_state_note_import(&st, "month:2026-05", 100), 0);
    ck_assert_int_eq(gridems_state_note_import(&st, "month:2026-05", 120), 1);
    ck_assert(gridems_state_peak_kw(&st, "month:2026-05") == 120);
    /* A restart in June: the May peak no longer counts. */
    ck_assert(gridems_state_peak_kw(&st, "month:2026-06") == 0);
    ck_assert_int_eq(gridems_state_note_import(&st, "month:2026-06", 30), 1);
    ck_assert(gridems_state_peak_kw(&st, "month:2026-06") == 30);
    ck_assert(gridems_state_peak_kw(&st, "month:2026-05") == 0);
    /* Export is no peak. */
    ck_assert_int_eq(gridems_state_note_import(&st, "day:2026-06-02", -50), 1);
    ck_assert(gridems_state_peak_kw(&st, "day:2026-06-02") == 0);
    ck_assert_int_eq(gridems_state_note_import(&st, "", 1), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_note_import(&st, "x", NAN), GRIDEMS_EINVAL);
    gridems_state_free(&st);
}
END_TEST

START_TEST(plan_ids_and_plan_text)
{
    gridems_state_t st;
    gridems_state_init(&st);
    ck_assert_uint_eq(gridems_state_take_plan_id(&st), 1);
    ck_assert_uint_eq(gridems_state_take_plan_id(&st), 2);
    ck_assert_int_eq(gridems_state_set_plan(&st, 2, 0, "{}", 2), 0);
    ck_assert_uint_eq(st.next_plan_id, 3);
    /* A later id given from elsewhere raises the next one; an earlier does not lower it. */
    ck_assert_int_eq(gridems_state_set_plan(&st, 10, 0, "{\"a\":1}", 7), 0);
    ck_assert_uint_eq(st.next_plan_id, 11);
    ck_assert_int_eq(gridems_state_set_plan(&st, 5, 0, "{}", 2), 0);
    ck_assert_uint_eq(st.next_plan_id, 11);
    ck_assert_uint_eq(st.plan_id, 5);
    /* Refused: no text, a NUL inside, id 0, id beyond 2^53. */
    ck_assert_int_eq(gridems_state_set_plan(&st, 6, 0, "", 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_plan(&st, 6, 0, "{\0}", 3), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_plan(&st, 0, 0, "{}", 2), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_state_set_plan(&st, GRIDEMS_STATE_MAX_PLAN_ID + 1, 0, "{}", 2),
                     GRIDEMS_EINVAL);
    ck_assert_uint_eq(st.plan_id, 5);
    /* The text need not be NUL-terminated: exactly len bytes are kept. */
    ck_assert_int_eq(gridems_state_set_plan(&st, 7, 0, "{}XYZ", 2), 0);
    ck_assert_str_eq(st.plan_json, "{}");
    gridems_state_free(&st);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state_store");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, empty_state_round_trip);
    tcase_add_test(tc, saved_next_plan_id_covers_the_reserve);
    tcase_add_test(tc, save_is_atomic_and_leaves_no_temp_file);
    tcase_add_test(tc, missing_file_is_an_empty_state);
    tcase_add_loop_test(tc, corrupt_file_is_refused_with_file_and_field, 0,
                        (int)(sizeof corrupt_cases / sizeof corrupt_cases[0]));
    tcase_add_test(tc, truncated_saved_file_is_refused);
    tcase_add_test(tc, too_many_jobs_in_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("contents");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jobs_set_find_remove_prune);
    tcase_add_test(tc, job_table_is_bounded);
    tcase_add_test(tc, peak_resets_with_the_period);
    tcase_add_test(tc, plan_ids_and_plan_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(state_suite());
}
