/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for gridems_news_log_or_info (core/src/runtime/log.h): a routine event is a notice
 * the first time and then once an interval, with how many came between, and info otherwise; its
 * kind is the caller's, so texts that differ (times, figures) still count as one kind.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "log.h"

#define HOUR_MS INT64_C(3600000)

/* What gridems_log wrote to stderr during the calls made by fn. */
static char *captured(void (*fn)(gridems_news_t *), gridems_news_t *n)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
    fn(n);
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    long size = ftell(tmp);
    ck_assert_int_ge(size, 0);
    rewind(tmp);
    char *text = calloc((size_t)size + 1, 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq((long)fread(text, 1, (size_t)size, tmp), size);
    fclose(tmp);
    return text;
}

static void four_events(gridems_news_t *n)
{
    gridems_news_log_or_info(n, "engaged", "engaged until 00:30", 0, HOUR_MS);
    gridems_news_log_or_info(n, "engaged", "engaged until 01:00", HOUR_MS / 2, HOUR_MS);
    gridems_news_log_or_info(n, "engaged", "engaged until 01:30", HOUR_MS - 1, HOUR_MS);
    gridems_news_log_or_info(n, "engaged", "engaged until 02:00", HOUR_MS, HOUR_MS);
}

START_TEST(notice_first_then_hourly_with_the_count)
{
    gridems_log_set_level(GRIDEMS_LOG_INFO);
    gridems_news_t n;
    gridems_news_reset(&n);
    char *log = captured(four_events, &n);
    const char *first = strstr(log, "gridems[notice] engaged until 00:30\n");
    const char *second = strstr(log, "gridems[info] engaged until 01:00\n");
    const char *third = strstr(log, "gridems[info] engaged until 01:30\n");
    const char *fourth =
        strstr(log, "gridems[notice] engaged until 02:00 (2 more since the last notice)\n");
    ck_assert_msg(first != NULL && second > first && third > second && fourth > third, "log: %s",
                  log);
    free(log);
}
END_TEST

START_TEST(at_notice_level_only_the_news_is_printed)
{
    gridems_log_set_level(GRIDEMS_LOG_NOTICE);
    gridems_news_t n;
    gridems_news_reset(&n);
    char *log = captured(four_events, &n);
    ck_assert_msg(strstr(log, "[info]") == NULL, "log: %s", log);
    ck_assert_msg(strstr(log, "engaged until 00:30") != NULL &&
                      strstr(log, "engaged until 02:00 (2 more since the last notice)") != NULL,
                  "log: %s", log);
    free(log);
    gridems_log_set_level(GRIDEMS_LOG_INFO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("news_log");
    TCase *tc = tcase_create("news");
    tcase_add_test(tc, notice_first_then_hourly_with_the_count);
    tcase_add_test(tc, at_notice_level_only_the_news_is_printed);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
