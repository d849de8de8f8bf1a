/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/inputs/dr_events.c: validation, add/replace/cancel by id, prune, the
 * bound on the number of events, and the mapping onto a planning grid. Times are minutes after
 * 2026-05-11T00:00:00Z.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check_run.h"
#include "dr_events.h"
#include "gridems/errors.h"
#include "timeutil.h"

#define B INT64_C(1778457600000) /* 2026-05-11T00:00:00Z */
#define AT(m) (B + GRIDEMS_TIME_MS_PER_MINUTE * (int64_t)(m))
#define STEP(m) (GRIDEMS_TIME_MS_PER_MINUTE * (int64_t)(m))

static const char *iso(int m)
{
    static char bufs[4][GRIDEMS_TIME_ISO_BUFLEN];
    static int next = 0;
    char *b = bufs[next++ % 4];
    ck_assert_int_eq(gridems_time_format_iso(AT(m), 540, b, GRIDEMS_TIME_ISO_BUFLEN), 0);
    return b;
}

static int send_event(gridems_dr_events_t *set, const char *id, int start, int end, double kw,
                      gridems_dr_outcome_t *outcome)
{
    char json[512], err[256] = "";
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"start\":\"%s\",\"end\":\"%s\",\"import_limit_kw\":%.17g}", id,
             iso(start), iso(end), kw);
    int rc = gridems_dr_events_update_json(set, json, strlen(json), outcome, err, sizeof err);
    ck_assert_msg(rc == 0 || rc == GRIDEMS_ENOSPC, "event %s refused: %s", id, err);
    return rc;
}

static gridems_dr_outcome_t send_cancel(gridems_dr_events_t *set, const char *id)
{
    char json[256], err[256] = "";
    snprintf(json, sizeof json, "{\"id\":\"%s\",\"cancel\":true}", id);
    gridems_dr_outcome_t outcome = GRIDEMS_DR_ADDED;
    ck_assert_int_eq(
        gridems_dr_events_update_json(set, json, strlen(json), &outcome, err, sizeof err), 0);
    return outcome;
}

START_TEST(test_add_replace_cancel)
{
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o = GRIDEMS_DR_CANCELLED;
    ck_assert_int_eq(send_event(&set, "ev-2", 120, 180, 500, &o), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_ADDED);
    ck_assert_int_eq(send_event(&set, "ev-1", 60, 90, 800, &o), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_ADDED);
    ck_assert_uint_eq(set.n, 2);
    /* Kept in start order. */
    ck_assert_str_eq(set.ev[0].id, "ev-1");
    ck_assert_str_eq(set.ev[1].id, "ev-2");
    ck_assert_int_eq(set.ev[0].start_ms, AT(60));
    ck_assert_int_eq(set.ev[0].end_ms, AT(90));
    ck_assert_double_eq(set.ev[0].import_limit_kw, 800);

    /* Same id replaces, and moves to its new place in the order. */
    ck_assert_int_eq(send_event(&set, "ev-1", 200, 260, 0, &o), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_REPLACED);
    ck_assert_uint_eq(set.n, 2);
    ck_assert_str_eq(set.ev[0].id, "ev-2");
    ck_assert_str_eq(set.ev[1].id, "ev-1");
    const gridems_dr_event_t *e = gridems_dr_events_find(&set, "ev-1");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->start_ms, AT(200));
    ck_assert_double_eq(e->import_limit_kw, 0);
    ck_assert_ptr_null(gridems_dr_events_find(&set, "nope"));

    /* Cancel by id; an unknown id is reported, not an error, and changes nothing. */
    ck_assert_int_eq(send_cancel(&set, "ev-2"), GRIDEMS_DR_CANCELLED);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(send_cancel(&set, "ev-2"), GRIDEMS_DR_CANCEL_UNKNOWN);
    ck_assert_int_eq(send_cancel(&set, "never-seen"), GRIDEMS_DR_CANCEL_UNKNOWN);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_str_eq(set.ev[0].id, "ev-1");
    /* "cancel": false is an ordinary event. */
    char err[256] = "";
    char json[512];
    snprintf(json, sizeof json,
             "{\"id\":\"ev-3\",\"cancel\":false,\"start\":\"%s\",\"end\":\"%s\","
             "\"import_limit_kw\":100,\"extra\":[1,2]}",
             iso(0), iso(30));
    ck_assert_int_eq(gridems_dr_events_update_json(&set, json, strlen(json), &o, err, sizeof err),
                     0);
    ck_assert_int_eq(o, GRIDEMS_DR_ADDED);
    ck_assert_uint_eq(set.n, 2);
    /* The outcome pointer may be NULL. */
    ck_assert_int_eq(gridems_dr_events_update_json(&set, json, strlen(json), NULL, err, sizeof err),
                     0);
    gridems_dr_events_close(&set);
    ck_assert_uint_eq(set.n, 0);
    gridems_dr_events_close(&set);
}
END_TEST

START_TEST(test_rejections)
{
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o;
    ck_assert_int_eq(send_event(&set, "keep", 0, 60, 300, &o), 0);

    char long_id[GRIDEMS_DR_MAX_ID_LEN + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char t0[40], t60[40];
    snprintf(t0, sizeof t0, "\"%s\"", iso(0));
    snprintf(t60, sizeof t60, "\"%s\"", iso(60));

    struct {
        char json[512];
        int rc;
        const char *reason;
    } c[32];
    int k = 0;
#define CASE(rc_, reason_, ...)                                                                    \
    do {                                                                                           \
        snprintf(c[k].json, sizeof c[k].json, __VA_ARGS__);                                        \
        c[k].rc = (rc_);                                                                           \
        c[k].reason = (reason_);                                                                   \
        k++;                                                                                       \
    } while (0)
    CASE(GRIDEMS_EPARSE, "message: not JSON", "{\"id\":");
    CASE(GRIDEMS_EPARSE, "message: trailing data at byte 24", "{\"id\":\"x\",\"cancel\":true}}");
    CASE(GRIDEMS_EINVAL, "message: must be a JSON object", "[]");
    CASE(GRIDEMS_EINVAL, "id: missing", "{\"cancel\":true}");
    CASE(GRIDEMS_EINVAL, "id: must be a string", "{\"id\":7,\"cancel\":true}");
    CASE(GRIDEMS_EINVAL, "id: must not be empty", "{\"id\":\"\",\"cancel\":true}");
    CASE(GRIDEMS_EINVAL, "id: must be at most 128 bytes", "{\"id\":\"%s\",\"cancel\":true}",
         long_id);
    CASE(GRIDEMS_EINVAL, "id: must not contain control characters",
         "{\"id\":\"a\\nb\",\"cancel\":true}");
    CASE(GRIDEMS_EINVAL, "cancel: must be true or false", "{\"id\":\"keep\",\"cancel\":1}");
    CASE(GRIDEMS_EINVAL, "start: missing", "{\"id\":\"keep\",\"end\":%s,\"import_limit_kw\":1}",
         t60);
    CASE(GRIDEMS_EINVAL, "start: missing UTC offset",
         "{\"id\":\"keep\",\"start\":\"2026-05-11T00:00:00\",\"end\":%s,\"import_limit_kw\":1}",
         t60);
    CASE(GRIDEMS_EINVAL, "end: must be an ISO 8601 timestamp string",
         "{\"id\":\"keep\",\"start\":%s,\"end\":3600,\"import_limit_kw\":1}", t0);
    CASE(GRIDEMS_EINVAL, "end: must be after start",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":1}", t60, t0);
    CASE(GRIDEMS_EINVAL, "end: must be after start",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":1}", t0, t0);
    CASE(GRIDEMS_EINVAL, "import_limit_kw: missing", "{\"id\":\"keep\",\"start\":%s,\"end\":%s}",
         t0, t60);
    CASE(GRIDEMS_EINVAL, "import_limit_kw: must be a finite number",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":\"5\"}", t0, t60);
    CASE(GRIDEMS_EINVAL, "import_limit_kw: must be a finite number",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":-1e999}", t0, t60);
    CASE(GRIDEMS_EINVAL, "import_limit_kw: must be in [0, 1e+09] kW, got -5",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":-5}", t0, t60);
    CASE(GRIDEMS_EINVAL, "import_limit_kw: must be in",
         "{\"id\":\"keep\",\"start\":%s,\"end\":%s,\"import_limit_kw\":2e9}", t0, t60);
#undef CASE
    for (int i = 0; i < k; i++) {
        char err[256] = "";
        o = GRIDEMS_DR_CANCEL_UNKNOWN;
        int rc =
            gridems_dr_events_update_json(&set, c[i].json, strlen(c[i].json), &o, err, sizeof err);
        ck_assert_msg(rc == c[i].rc, "case %d (%s): rc %d (%s)", i, c[i].json, rc, err);
        ck_assert_msg(strstr(err, c[i].reason) != NULL, "case %d (%s): reason \"%s\", want \"%s\"",
                      i, c[i].json, err, c[i].reason);
        ck_assert_int_eq(o, GRIDEMS_DR_CANCEL_UNKNOWN);
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(set.ev[0].start_ms, AT(0));
        ck_assert_int_eq(set.ev[0].end_ms, AT(60));
        ck_assert_double_eq(set.ev[0].import_limit_kw, 300);
    }

    /* The apply function re-checks a hand-built message. */
    gridems_dr_msg_t m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(gridems_dr_events_apply(&set, &m, NULL), GRIDEMS_EINVAL);
    snprintf(m.event.id, sizeof m.event.id, "keep");
    m.event.start_ms = AT(10);
    m.event.end_ms = AT(5);
    ck_assert_int_eq(gridems_dr_events_apply(&set, &m, NULL), GRIDEMS_EINVAL);
    m.event.end_ms = INT64_MAX;
    ck_assert_int_eq(gridems_dr_events_apply(&set, &m, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(set.ev[0].start_ms, AT(0));
    gridems_dr_events_close(&set);
}
END_TEST

START_TEST(test_capacity)
{
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o;
    char id[32];
    for (int i = 0; i < GRIDEMS_DR_MAX_EVENTS; i++) {
        snprintf(id, sizeof id, "e%d", i);
        ck_assert_int_eq(send_event(&set, id, i, i + 30, i, &o), 0);
    }
    ck_assert_uint_eq(set.n, GRIDEMS_DR_MAX_EVENTS);
    /* Full: a new id is refused with a reason, but replacing and cancelling still work. */
    char json[512], err[256] = "";
    snprintf(json, sizeof json,
             "{\"id\":\"one-more\",\"start\":\"%s\",\"end\":\"%s\",\"import_limit_kw\":1}", iso(0),
             iso(10));
    ck_assert_int_eq(gridems_dr_events_update_json(&set, json, strlen(json), &o, err, sizeof err),
                     GRIDEMS_ENOSPC);
    ck_assert_msg(strstr(err, "already holding 1000 events") != NULL, "%s", err);
    ck_assert_uint_eq(set.n, GRIDEMS_DR_MAX_EVENTS);
    ck_assert_int_eq(send_event(&set, "e5", 2000, 2030, 9, &o), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_REPLACED);
    ck_assert_str_eq(set.ev[set.n - 1].id, "e5");
    ck_assert_int_eq(send_cancel(&set, "e7"), GRIDEMS_DR_CANCELLED);
    ck_assert_int_eq(send_event(&set, "one-more", 0, 10, 1, &o), 0);
    ck_assert_uint_eq(set.n, GRIDEMS_DR_MAX_EVENTS);
    /* Events are sorted by start, then id. */
    for (size_t i = 1; i < set.n; i++) {
        ck_assert(set.ev[i - 1].start_ms < set.ev[i].start_ms ||
                  (set.ev[i - 1].start_ms == set.ev[i].start_ms &&
                   strcmp(set.ev[i - 1].id, set.ev[i].id) < 0));
    }
    gridems_dr_events_close(&set);
}
END_TEST

START_TEST(test_prune)
{
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o;
    send_event(&set, "a", 0, 60, 1, &o);
    send_event(&set, "b", 30, 120, 2, &o);
    send_event(&set, "c", 200, 260, 3, &o);
    ck_assert_int_eq(gridems_dr_events_prune(&set, AT(59)), 0);
    /* An event ending exactly now is over. */
    ck_assert_int_eq(gridems_dr_events_prune(&set, AT(60)), 1);
    ck_assert_uint_eq(set.n, 2);
    ck_assert_str_eq(set.ev[0].id, "b");
    ck_assert_int_eq(gridems_dr_events_prune(&set, AT(1000)), 2);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_int_eq(gridems_dr_events_prune(&set, AT(1000)), 0);
    /* An event that already ended on arrival is accepted and pruned later. */
    send_event(&set, "late", 0, 10, 1, &o);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(gridems_dr_events_prune(&set, AT(1000)), 1);
    gridems_dr_events_close(&set);
}
END_TEST

START_TEST(test_to_grid)
{
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o;
    /* Grid: 15-minute steps from 00:00, 8 steps (to 02:00). */
    send_event(&set, "aligned", 15, 45, 100, &o);  /* steps 1, 2 */
    send_event(&set, "ragged", 50, 61, 200, &o);   /* touches steps 3 and 4: both capped */
    send_event(&set, "before", -60, -15, 300, &o); /* wholly before the grid */
    send_event(&set, "straddle", -10, 5, 400, &o); /* starts before the grid: step 0 */
    send_event(&set, "tail", 110, 500, 500, &o);   /* runs past the grid: step 7 only */
    send_event(&set, "after", 120, 150, 600, &o);  /* starts at the grid's end */
    send_event(&set, "tiny", 31, 32, 700, &o);     /* one minute inside step 2 */

    gridems_event_t out[GRIDEMS_DR_MAX_EVENTS];
    int n = gridems_dr_events_to_grid(&set, AT(0), STEP(15), 8, out, GRIDEMS_DR_MAX_EVENTS);
    ck_assert_int_eq(n, 5);
    /* In start order: straddle, aligned, tiny, ragged, tail. */
    ck_assert_int_eq(out[0].start_step, 0);
    ck_assert_int_eq(out[0].end_step, 1);
    ck_assert_double_eq(out[0].import_limit_kw, 400);
    ck_assert_int_eq(out[1].start_step, 1);
    ck_assert_int_eq(out[1].end_step, 3);
    ck_assert_double_eq(out[1].import_limit_kw, 100);
    ck_assert_int_eq(out[2].start_step, 2);
    ck_assert_int_eq(out[2].end_step, 3);
    ck_assert_double_eq(out[2].import_limit_kw, 700);
    ck_assert_int_eq(out[3].start_step, 3);
    ck_assert_int_eq(out[3].end_step, 5);
    ck_assert_double_eq(out[3].import_limit_kw, 200);
    ck_assert_int_eq(out[4].start_step, 7);
    ck_assert_int_eq(out[4].end_step, 8);
    ck_assert_double_eq(out[4].import_limit_kw, 500);

    /* An hourly grid from 00:30 to 02:30: aligned (15-45), tiny and ragged fall in step 0; tail
     * and after in step 1; straddle (-10 to 5) ends before the grid. */
    n = gridems_dr_events_to_grid(&set, AT(30), STEP(60), 2, out, GRIDEMS_DR_MAX_EVENTS);
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(out[i].start_step, 0);
        ck_assert_int_eq(out[i].end_step, 1);
    }
    ck_assert_double_eq(out[2].import_limit_kw, 200);
    for (int i = 3; i < 5; i++) {
        ck_assert_int_eq(out[i].start_step, 1);
        ck_assert_int_eq(out[i].end_step, 2);
    }
    ck_assert_double_eq(out[4].import_limit_kw, 600);

    /* Too small an output buffer, and bad grids. */
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, AT(0), STEP(15), 8, out, 2), GRIDEMS_ENOSPC);
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, AT(0), 0, 8, out, 8), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, AT(0), STEP(15), -1, out, 8), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, INT64_MAX, STEP(15), 1, out, 8),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, AT(0), STEP(15), 8, NULL, 8), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_dr_events_to_grid(&set, AT(0), STEP(15), 0, out, 8), 0);
    gridems_dr_events_close(&set);
}
END_TEST

START_TEST(test_cjson_entry)
{
    cJSON *root = cJSON_Parse("{\"id\":\"x\",\"start\":\"2026-05-11T09:00:00+09:00\","
                              "\"end\":\"2026-05-11T01:00:00Z\",\"import_limit_kw\":250.5}");
    ck_assert_ptr_nonnull(root);
    gridems_dr_msg_t m;
    char err[256] = "";
    ck_assert_int_eq(gridems_dr_msg_parse_cjson(root, &m, err, sizeof err), 0);
    ck_assert_int_eq(m.cancel, 0);
    ck_assert_str_eq(m.event.id, "x");
    ck_assert_int_eq(m.event.start_ms, AT(0));
    ck_assert_int_eq(m.event.end_ms, AT(60));
    ck_assert_double_eq(m.event.import_limit_kw, 250.5);
    gridems_dr_events_t set;
    gridems_dr_events_init(&set);
    gridems_dr_outcome_t o;
    ck_assert_int_eq(gridems_dr_events_update_cjson(&set, root, &o, err, sizeof err), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_ADDED);
    cJSON_Delete(root);
    ck_assert_int_eq(gridems_dr_events_update_cjson(&set, NULL, &o, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_uint_eq(set.n, 1);
    /* A cancel needs nothing but the id; other keys are ignored. */
    const char cancel[] = "{\"id\":\"x\",\"cancel\":true,\"start\":\"garbage\"}";
    ck_assert_int_eq(gridems_dr_msg_parse_json(cancel, sizeof cancel - 1, &m, err, sizeof err), 0);
    ck_assert_int_eq(m.cancel, 1);
    ck_assert_int_eq(gridems_dr_events_apply(&set, &m, &o), 0);
    ck_assert_int_eq(o, GRIDEMS_DR_CANCELLED);
    ck_assert_uint_eq(set.n, 0);
    gridems_dr_events_close(&set);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dr_events");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_add_replace_cancel);
    tcase_add_test(tc, test_rejections);
    tcase_add_test(tc, test_capacity);
    tcase_add_test(tc, test_prune);
    tcase_add_test(tc, test_to_grid);
    tcase_add_test(tc, test_cjson_entry);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
