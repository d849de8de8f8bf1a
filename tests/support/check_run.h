/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The part every Check test executable shares: running its suite, and building a suite from a
 * table of named cases with their time limits. Test code only; single-threaded (Check forks a
 * process per case).
 */
#ifndef GRIDEMS_CHECK_RUN_H
#define GRIDEMS_CHECK_RUN_H

#include <check.h>
#include <stddef.h>

/* Run every case of s with Check's normal output and free it. Returns the process's exit status:
 * EXIT_SUCCESS when no case failed, else EXIT_FAILURE. */
int test_run_suite(Suite *s);

/* The same with every case in this process (CK_NOFORK): for suites whose checked teardown must
 * still stop the servers they started after an assertion failed (it returns to the runner), or
 * whose cases leave word for main. */
int test_run_suite_in_process(Suite *s);

/* One case of a table: its name (what CK_RUN_CASE selects), its test and its time limit. */
typedef struct test_case_s {
    const char *name;
    const TTest *test;
    int timeout_s;
} test_case_t;

/* A suite named name with one Check case per entry of cases[0 .. n). */
Suite *test_suite_from_cases(const char *name, const test_case_t *cases, size_t n);

#endif
