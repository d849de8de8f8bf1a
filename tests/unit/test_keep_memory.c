/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for gridems_optimizer_keep_memory (optimizer.h): after it, a block of the size of
 * a solve's working arrays stays in the heap when freed, where glibc's default gives it back.
 * Each case runs in a process of its own (Check forks), so the default is still there for the
 * first. Under the sanitizers the allocator is theirs and glibc's settings do not apply: the
 * suite is skipped (exit 77).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/optimizer.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define BLOCK_BYTES ((size_t)20 * 1024 * 1024) /* a 2,000-job program's LU arrays are this big */

#if defined(__GLIBC__) && !defined(GRIDEMS_SANITIZED)
/* Free bytes the heap holds after a block of BLOCK_BYTES was written and freed. */
static size_t free_after_block(void)
{
    char *p = malloc(BLOCK_BYTES);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, BLOCK_BYTES);
    free(p);
    return mallinfo2().fordblks;
}

START_TEST(glibc_gives_a_freed_block_back_by_default)
{
    ck_assert_uint_lt(free_after_block(), BLOCK_BYTES);
}
END_TEST

START_TEST(kept_memory_stays_for_the_next_solve)
{
    ck_assert(gridems_optimizer_keep_memory());
    ck_assert_uint_ge(free_after_block(), BLOCK_BYTES);
    /* And stays through the next round of the same size, as the next solve's arrays. */
    ck_assert_uint_ge(free_after_block(), BLOCK_BYTES);
}
END_TEST
#endif

int main(void)
{
#if defined(__GLIBC__) && !defined(GRIDEMS_SANITIZED)
    Suite *s = suite_create("keep_memory");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, glibc_gives_a_freed_block_back_by_default);
    tcase_add_test(tc, kept_memory_stays_for_the_next_solve);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
#else
    fprintf(stderr, "test_keep_memory: skipped (not glibc's allocator)\n");
    return 77;
#endif
}
