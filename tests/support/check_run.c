/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The shared runner of the Check test executables (check_run.h). */
#include "check_run.h"

#include <stdlib.h>

static int run(Suite *s, enum fork_status mode)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, mode);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int test_run_suite(Suite *s)
{
    return run(s, CK_FORK_GETENV);
}

int test_run_suite_in_process(Suite *s)
{
    return run(s, CK_NOFORK);
}

Suite *test_suite_from_cases(const char *name, const test_case_t *cases, size_t n)
{
    Suite *s = suite_create(name);
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, cases[i].timeout_s);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
