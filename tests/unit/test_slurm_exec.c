/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm's command runner (plugins/cluster_slurm/slurm_exec.c): no shell, output
 * captured, stderr kept for the log, the deadline enforced by killing the process group.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "slurm_exec.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

START_TEST(runs_without_a_shell)
{
    gridems__slurm_run_t r;
    /* Shell syntax in an argument reaches the program as it is. */
    char *argv[] = {"printf", "%s", "$(touch /nonexistent);rm -rf / `id` | x", NULL};
    ck_assert_int_eq(gridems__slurm_run(argv, 5000, 1 << 20, &r), 0);
    ck_assert_str_eq(r.out, "$(touch /nonexistent);rm -rf / `id` | x");
    ck_assert_int_eq(r.status, 0);
    gridems__slurm_run_free(&r);
}
END_TEST

START_TEST(exit_codes_and_stderr)
{
    gridems__slurm_run_t r;
    char *fail[] = {"sh", "-c", "echo 'slurm_load_jobs error: Unable to contact' >&2; exit 1",
                    NULL};
    ck_assert_int_eq(gridems__slurm_run(fail, 5000, 1 << 20, &r), GRIDEMS_EIO);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.err, "slurm_load_jobs error: Unable to contact");
    gridems__slurm_run_free(&r);
    char *missing[] = {"/nonexistent/squeue", NULL};
    ck_assert_int_eq(gridems__slurm_run(missing, 5000, 1 << 20, &r), GRIDEMS_ENOENT);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot run /nonexistent/squeue"));
    gridems__slurm_run_free(&r);
}
END_TEST

START_TEST(timeout_kills)
{
    gridems__slurm_run_t r;
    char *argv[] = {"sh", "-c", "sleep 30; echo late", NULL};
    double t0 = now_ms();
    ck_assert_int_eq(gridems__slurm_run(argv, 300, 1 << 20, &r), GRIDEMS_ETIMEDOUT);
    ck_assert(r.timed_out);
    ck_assert_int_eq(r.status, 128 + 9);
    ck_assert_msg(now_ms() - t0 < 5000, "took %.0f ms", now_ms() - t0);
    ck_assert_ptr_nonnull(strstr(r.err, "no answer within 300 ms"));
    gridems__slurm_run_free(&r);
}
END_TEST

START_TEST(grandchild_keeps_pipe)
{
    /* The command exits at once but leaves a process holding its stdout: no waiting for it. */
    gridems__slurm_run_t r;
    char *argv[] = {"sh", "-c", "sleep 30 & echo hi", NULL};
    double t0 = now_ms();
    ck_assert_int_eq(gridems__slurm_run(argv, 10000, 1 << 20, &r), 0);
    ck_assert_str_eq(r.out, "hi\n");
    ck_assert_msg(now_ms() - t0 < 5000, "took %.0f ms", now_ms() - t0);
    gridems__slurm_run_free(&r);
    /* The leftover was killed with the command's process group: the pid it printed is gone. */
    char *pid_argv[] = {"sh", "-c", "sleep 30 & echo $!", NULL};
    ck_assert_int_eq(gridems__slurm_run(pid_argv, 10000, 1 << 20, &r), 0);
    int pid = atoi(r.out);
    ck_assert_int_gt(pid, 1);
    gridems__slurm_run_free(&r);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        char st = 'Z';
        if (f != NULL) {
            /* "pid (comm) S ...": a zombie (Z) waits for its reaper (init) and is dead. */
            if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1) {
                st = 'Z';
            }
            fclose(f);
        }
        gone = f == NULL || st == 'Z';
        if (!gone) {
            usleep(10000);
        }
    }
    ck_assert_msg(gone, "the command's leftover %d still runs", pid);
}
END_TEST

START_TEST(output_is_bounded)
{
    gridems__slurm_run_t r;
    char *argv[] = {"head", "-c", "3000000", "/dev/zero", NULL};
    ck_assert_int_eq(gridems__slurm_run(argv, 10000, 1000, &r), 0);
    ck_assert(r.out_truncated);
    ck_assert_uint_eq(r.out_len, 1000);
    gridems__slurm_run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("slurm_exec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, runs_without_a_shell);
    tcase_add_test(tc, exit_codes_and_stderr);
    tcase_add_test(tc, timeout_kills);
    tcase_add_test(tc, grandchild_keeps_pipe);
    tcase_add_test(tc, output_is_bounded);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
