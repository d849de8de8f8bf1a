/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests of the reliability modules: the strict JSON input policy (json_strict.h), the
 * physical plausibility bounds (plausibility.h), the state_dir lock and clean-up (state_dir.h),
 * and the DR event store (dr_store.h).
 */
#include "check_run.h"
#include "dr_store.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "plausibility.h"
#include "state_dir.h"
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int strict(const char *text, size_t len, char *err, size_t errlen)
{
    return gridems_json_check_strict(text, len, err, errlen);
}

#define STRICT_OK(lit) ck_assert_int_eq(strict(lit, sizeof lit - 1, NULL, 0), 0)

static void strict_fails(const char *text, size_t len, const char *reason)
{
    char err[256] = "";
    ck_assert_int_eq(strict(text, len, err, sizeof err), GRIDEMS_EPARSE);
    ck_assert_msg(strstr(err, reason) != NULL, "\"%s\" does not say \"%s\"", err, reason);
}

#define STRICT_FAILS(lit, reason) strict_fails(lit, sizeof lit - 1, reason)

START_TEST(json_policy)
{
    STRICT_OK("{\"a\":1,\"b\":[{\"a\":2},{\"a\":3}]}");
    STRICT_OK("  [1, 2]\n\t ");
    STRICT_OK("{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8b\",\"e\":\"\\\\u0000\"}");
    STRICT_FAILS("{\"cmd\":\"replan\"}x", "trailing data at byte 16");
    STRICT_FAILS("{\"cmd\":\"replan\"} {}", "trailing data");
    STRICT_FAILS("{\"cmd\":\"replan\"}\0", "NUL byte at byte 16");
    STRICT_FAILS("{\"cmd\":\"re\\u0000plan\"}", "escaped NUL");
    STRICT_FAILS("{\"a\":1,\"a\":2}", "duplicate key \"a\" in $");
    STRICT_FAILS("{\"x\":[{\"v\":1},{\"v\":1,\"w\":0,\"v\":2}]}", "duplicate key \"v\" in $.x[1]");
    STRICT_FAILS("{\"id\":\"\xff\"}", "invalid UTF-8 at byte 7");
    STRICT_FAILS("{\"id\":\"\xc0\x80\"}", "invalid UTF-8");         /* overlong NUL */
    STRICT_FAILS("{\"id\":\"\xed\xa0\x80\"}", "invalid UTF-8");     /* a surrogate */
    STRICT_FAILS("{\"id\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8"); /* past U+10FFFF */
    STRICT_FAILS("{\"id\":\"\xe2\x82\"}", "invalid UTF-8");         /* cut short */
    STRICT_FAILS("", "empty");
    STRICT_FAILS("{\"a\":", "not JSON");
    /* Many keys: sorted, not compared pairwise. */
    char *big = malloc(200000);
    size_t n = 0;
    big[n++] = '{';
    for (int i = 0; i < 10000; i++) {
        n += (size_t)sprintf(big + n, "%s\"k%d\":%d", i > 0 ? "," : "", i, i);
    }
    n += (size_t)sprintf(big + n, ",\"k17\":0}");
    strict_fails(big, n, "duplicate key \"k17\"");
    free(big);
}
END_TEST

START_TEST(log_safe_escapes)
{
    char out[64];
    gridems_log_safe("ev\xff\xfe\n1", 64, out, sizeof out);
    ck_assert_str_eq(out, "ev\\xff\\xfe\\x0a1");
    gridems_log_safe("abcdefgh", 4, out, sizeof out);
    ck_assert_str_eq(out, "abcd...");
    gridems_log_safe("\xc3\xa9", 64, out, sizeof out);
    ck_assert_str_eq(out, "\\xc3\\xa9");
}
END_TEST

START_TEST(plausible_bounds)
{
    gridems_plausible_t lim;
    gridems_plausible_limits(20000, 4, &lim);
    ck_assert(lim.power_kw == 80000 && lim.energy_kwh == 80000 * 8760.0);
    char why[160];
    gridems_measurement_t m = {
        .struct_size = sizeof m, .valid = GRIDEMS_MEAS_POWER, .power_kw = 9e8};
    ck_assert(!gridems_plausible_reading(&lim, &m, -1, why, sizeof why));
    ck_assert_msg(strstr(why, "power_kw 9e+08") != NULL && strstr(why, "80000 kW") != NULL, "%s",
                  why);
    m.power_kw = -1e12;
    ck_assert(!gridems_plausible_reading(&lim, &m, -1, why, sizeof why));
    m.power_kw = -79999;
    ck_assert(gridems_plausible_reading(&lim, &m, -1, why, sizeof why));
    m.valid = GRIDEMS_MEAS_SOC;
    m.soc_kwh = 4100;
    ck_assert(!gridems_plausible_reading(&lim, &m, 4000, why, sizeof why));
    ck_assert_msg(strstr(why, "own capacity") != NULL, "%s", why);
    m.soc_kwh = 4002; /* within the 0.1 % slack */
    ck_assert(gridems_plausible_reading(&lim, &m, 4000, why, sizeof why));
    gridems_caps_t caps = {.struct_size = sizeof caps, .klass = GRIDEMS_DEV_BATTERY};
    caps.u.battery.capacity_kwh = 1e300;
    caps.u.battery.charge_max_kw = 100;
    caps.u.battery.discharge_max_kw = 100;
    ck_assert(!gridems_plausible_caps(&lim, &caps, why, sizeof why));
    ck_assert_msg(strstr(why, "capacity_kwh 1e+300") != NULL, "%s", why);
    caps.u.battery.capacity_kwh = 4000;
    ck_assert(gridems_plausible_caps(&lim, &caps, why, sizeof why));
    caps.u.battery.discharge_max_kw = 1e6;
    ck_assert(!gridems_plausible_caps(&lim, &caps, why, sizeof why));
    /* Without a real import limit, the optimizer's magnitude bound still holds. */
    gridems_plausible_limits(1e9, 4, &lim);
    ck_assert(lim.energy_kwh <= 1e15 / 1000.0 + 1);
}
END_TEST

START_TEST(plausible_reading_time)
{
    /* A minute ahead of the site clock is a device clock a little fast; more would look fresh
     * until its time came. The past is the staleness check's business. */
    const int64_t now = 1683471600000;
    char why[160];
    ck_assert(gridems_plausible_time(now + 60000, now, why, sizeof why));
    ck_assert(gridems_plausible_time(now - 86400000, now, why, sizeof why));
    ck_assert(!gridems_plausible_time(now + 60001, now, why, sizeof why));
    ck_assert(!gridems_plausible_time(now + 86400000, now, why, sizeof why));
    ck_assert_msg(strstr(why, "timestamp_ms 1683558000000 is 86400 s ahead of the site clock (at "
                              "most 60 s)") != NULL,
                  "%s", why);
    /* Any int64_t a plugin may post, without overflow (UBSan watches this test). */
    ck_assert(gridems_plausible_time(INT64_MIN, now, why, sizeof why));
    ck_assert(!gridems_plausible_time(INT64_MAX, now, why, sizeof why));
}
END_TEST

START_TEST(state_dir_lock_and_clean)
{
    char *dir = test_make_tmpdir("statedir");
    char tmp[1024], keep[1024];
    snprintf(tmp, sizeof tmp, "%s/state.json.tmp.aB3dE9", dir);
    snprintf(keep, sizeof keep, "%s/notes.tmp.txt", dir);
    ck_assert_int_eq(test_write_file(tmp, "{"), 0);
    ck_assert_int_eq(test_write_file(keep, "mine"), 0);
    int fd = -1, fd2 = -1, removed = 0;
    char err[512] = "";
    ck_assert_int_eq(gridems_state_dir_open(dir, &fd, &removed, err, sizeof err), 0);
    ck_assert_int_eq(removed, 1);
    ck_assert(access(tmp, F_OK) != 0 && access(keep, F_OK) == 0);
    /* flock is per open file: a second open, even in this process, is refused. */
    ck_assert_int_eq(gridems_state_dir_open(dir, &fd2, NULL, err, sizeof err), GRIDEMS_EEXIST);
    char want[64];
    snprintf(want, sizeof want, "pid %ld holds", (long)getpid());
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    gridems_state_dir_close(fd);
    ck_assert_int_eq(gridems_state_dir_open(dir, &fd2, NULL, err, sizeof err), 0);
    gridems_state_dir_close(fd2);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(refused_state_file_kept_aside)
{
    /* A file its reader refused is moved to <file>.rejected (the service's next save would
     * overwrite it), replacing an older one; a missing or unreadable one is left alone. */
    char *dir = test_make_tmpdir("statedir-kept");
    char path[1024], kept[1100], note[4400];
    snprintf(path, sizeof path, "%s/state.json", dir);
    snprintf(kept, sizeof kept, "%s.rejected", path);
    ck_assert_int_eq(test_write_file(path, "{\"version\":1} x"), 0);
    gridems_state_dir_keep_refused(dir, "state.json", GRIDEMS_EPARSE, note, sizeof note);
    char want[1200];
    snprintf(want, sizeof want, "; the file is kept as %s", kept);
    ck_assert_str_eq(note, want);
    ck_assert(access(path, F_OK) != 0);
    char *text = test_read_file(kept, NULL);
    ck_assert_str_eq(text, "{\"version\":1} x");
    free(text);
    ck_assert_int_eq(test_write_file(path, "{\"version\":7}"), 0);
    gridems_state_dir_keep_refused(dir, "state.json", GRIDEMS_EINVAL, note, sizeof note);
    text = test_read_file(kept, NULL);
    ck_assert_str_eq(text, "{\"version\":7}");
    free(text);
    ck_assert_int_eq(test_write_file(path, "{}"), 0);
    gridems_state_dir_keep_refused(dir, "state.json", GRIDEMS_EIO, note, sizeof note);
    ck_assert_str_eq(note, "");
    ck_assert(access(path, F_OK) == 0);
    gridems_state_dir_keep_refused(dir, "none.json", GRIDEMS_EPARSE, note, sizeof note);
    ck_assert_msg(strstr(note, "could not be kept aside (No such file or directory)") != NULL, "%s",
                  note);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(dr_store_round_trip)
{
    gridems_dr_events_t set, back;
    gridems_dr_events_init(&set);
    gridems_dr_events_init(&back);
    char err[512] = "";
    ck_assert_int_eq(
        gridems_dr_events_update_json(
            &set,
            "{\"id\":\"evt-7\",\"start\":\"2023-05-08T06:00:00.250+09:00\","
            "\"end\":\"2023-05-08T08:00:00+09:00\",\"import_limit_kw\":7000.5}",
            strlen("{\"id\":\"evt-7\",\"start\":\"2023-05-08T06:00:00.250+09:00\","
                   "\"end\":\"2023-05-08T08:00:00+09:00\",\"import_limit_kw\":7000.5}"),
            NULL, err, sizeof err),
        0);
    char *text = gridems_dr_store_to_json(&set);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(
        gridems_dr_store_parse(text, strlen(text), "dr_events.json", &back, err, sizeof err), 0);
    ck_assert_uint_eq(back.n, 1);
    ck_assert_str_eq(back.ev[0].id, "evt-7");
    ck_assert(back.ev[0].start_ms == set.ev[0].start_ms && back.ev[0].end_ms == set.ev[0].end_ms &&
              back.ev[0].import_limit_kw == 7000.5);
    free(text);
    gridems_dr_events_close(&back);
    gridems_dr_events_init(&back);
    static const char bad[] = "{\"version\":1,\"kind\":\"gridems-dr-events\",\"events\":[{\"id\":"
                              "\"e\",\"start\":\"2023-05-08T06:00:00Z\",\"end\":\"2023-05-08T05:"
                              "00:00Z\",\"import_limit_kw\":1}]}";
    ck_assert_int_eq(gridems_dr_store_parse(bad, sizeof bad - 1, "f", &back, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "f: events[0]: end") != NULL, "%s", err);
    ck_assert_uint_eq(back.n, 0);
    gridems_dr_events_close(&set);
    gridems_dr_events_close(&back);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reliability_units");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, json_policy);
    tcase_add_test(tc, log_safe_escapes);
    tcase_add_test(tc, plausible_bounds);
    tcase_add_test(tc, plausible_reading_time);
    tcase_add_test(tc, state_dir_lock_and_clean);
    tcase_add_test(tc, refused_state_file_kept_aside);
    tcase_add_test(tc, dr_store_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
