/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * device_mqtt's pure mapping (plugins/device_mqtt/mqtt_map.c): numbers out of messages by JSON
 * path or raw payload, with the errors a misconfigured path or an odd device gives; command
 * templates.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mqtt_map.h"

static double get(const char *payload, const char *path)
{
    double v = NAN;
    char err[200];
    int rc = dm_extract(payload, strlen(payload), path, &v, err, sizeof err);
    ck_assert_msg(rc == 0, "%s in %s: %s", path, payload, err);
    return v;
}

static void expect_error(const char *payload, const char *path, const char *why)
{
    double v;
    char err[200] = "";
    ck_assert_int_eq(dm_extract(payload, strlen(payload), path, &v, err, sizeof err), -1);
    ck_assert_msg(strstr(err, why) != NULL, "expected \"%s\", got \"%s\"", why, err);
}

START_TEST(test_paths)
{
    const char *msg = "{\"id\":\"x\",\"bat\":{\"p_w\":-1200.5,\"soc\":\"61.5\",\"ok\":true,"
                      "\"cells\":[3.31,3.29,{\"t\":25}]},\"list\":[[1,2],[3,4]],\"a\\\"b\":7}";
    ck_assert(get(msg, "bat.p_w") == -1200.5);
    ck_assert(get(msg, "bat.soc") == 61.5); /* a number in a string */
    ck_assert(get(msg, "bat.ok") == 1);
    ck_assert(get(msg, "bat.cells[1]") == 3.29);
    ck_assert(get(msg, "bat.cells[2].t") == 25);
    ck_assert(get(msg, "list[1][0]") == 3);
    ck_assert(get("[5, {\"x\": 1e3}]", "[1].x") == 1000);
    ck_assert(get("  42.25 \n", "") == 42.25); /* the raw payload */
    ck_assert(get(" { \"a\" : { \"b\" : -0 } } ", "a.b") == 0);
}
END_TEST

START_TEST(test_errors)
{
    expect_error("{\"a\":1}", "b", "no member \"b\"");
    expect_error("{\"a\":{\"c\":1}}", "a.b", "no member \"a.b\"");
    expect_error("{\"a\":null}", "a", "null at \"a\"");
    expect_error("{\"a\":\"high\"}", "a", "not a number");
    expect_error("{\"a\":[1,2]}", "a", "not a number");
    expect_error("{\"a\":[1,2]}", "a[2]", "no element");
    expect_error("{\"a\":1}", "a[0]", "no array");
    expect_error("{\"a\":", "a", "not JSON at byte 5"); /* cut short */
    expect_error("{\"a\" 1}", "a", "not JSON");
    expect_error("on", "", "not a number");
    expect_error("12abc", "", "not a number");
    /* With a path, the message must be one document, and the member on the path given once. */
    expect_error("{\"a\":1} {\"a\":2}", "a", "trailing data at byte 8 after the document");
    expect_error("{\"a\":1,\"b\":", "a", "not JSON at byte 11");
    expect_error("{\"b\":{\"a\":1,\"a\":2}}", "b.a", "member \"b.a\" given twice");
    ck_assert(get("{\"a\":{\"x\":1},\"b\":{\"x\":2}}", "b.x") == 2); /* same key, other objects */
    expect_error("{\"a\":1}", "a..b", "empty member");
    /* A deeply nested message is refused, not recursed into without bound. */
    char deep[400];
    memset(deep, '[', 300);
    strcpy(deep + 300, "1");
    char msg[500];
    snprintf(msg, sizeof msg, "{\"x\":%s,\"a\":1}", deep);
    expect_error(msg, "a", "not JSON");
}
END_TEST

START_TEST(test_templates)
{
    dm_vars_t v = {.power_kw = -2.5,
                   .safe = 0,
                   .plan_id = 7,
                   .ts_ms = 1683471600123,
                   .valid_until_ms = 1683473400000};
    char out[256], err[200];
    int n = dm_render("{\"p\":${power_kw},\"w\":${power_w},\"s\":${safe},\"s1\":${safe01},"
                      "\"plan\":${plan_id},\"ts\":${ts_ms},\"t\":${ts_s},"
                      "\"until\":${valid_until_ms},\"cost\":\"$$5\"}",
                      &v, out, sizeof out, err, sizeof err);
    ck_assert_msg(n > 0, "%s", err);
    ck_assert_str_eq(out, "{\"p\":-2.5,\"w\":-2500,\"s\":false,\"s1\":0,\"plan\":7,"
                          "\"ts\":1683471600123,\"t\":1683471600,\"until\":1683473400000,"
                          "\"cost\":\"$5\"}");
    v.power_kw = 0.1;
    v.safe = 1;
    ck_assert_int_gt(dm_render("${power_kw} ${safe}", &v, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "0.1 true");
    ck_assert_int_eq(dm_render("${power}", &v, out, sizeof out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "unknown placeholder \"${power}\"") != NULL, "%s", err);
    ck_assert_int_eq(dm_render("${power_kw", &v, out, sizeof out, err, sizeof err), -1);
    ck_assert_int_eq(dm_render("${power_kw}${power_kw}", &v, out, 5, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "longer than 4 bytes") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("device_mqtt_map");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_templates);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
