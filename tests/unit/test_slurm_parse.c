/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm's pure modules: parsing squeue/scontrol output and comment tags (with hostile
 * comments: forged lines, separators, newlines, odd numbers), and the power-to-action rules.
 * Compiled with plugins/cluster_slurm/slurm_parse.c and slurm_policy.c (tests/CMakeLists.txt).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "gridems/errors.h"
#include "slurm_parse.h"
#include "slurm_policy.h"

/* A squeue line as Slurm 22.05 prints GRIDEMS__SLURM_SQUEUE_FORMAT. */
#define LINE(id, state, gres, comment)                                                             \
    id "|" state "|1|1:00:00|10:00|N/A|" gres "|None|" comment "|\n"

static gridems__slurm_list_t parse(const char *text)
{
    gridems__slurm_list_t l;
    char err[256] = "";
    int rc = gridems__slurm_parse_squeue(text, strlen(text), 1000, &l, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    return l;
}

static const gridems__slurm_job_t *find(const gridems__slurm_list_t *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->jobs[i].id, id) == 0) {
            return &l->jobs[i];
        }
    }
    return NULL;
}

/* ---- ## squeue ---- */

START_TEST(squeue_real_output)
{
    /* Captured from squeue 22.05 with the plugin's format. */
    const char *text = "1|RUNNING|1|10:00|2:52|N/A|gres:gpu:2|None|"
                       "gridems:flex,energy_kwh=5,power_max_kw=2|\n"
                       "2|RUNNING|1|10:00|2:52|2026-12-05T23:05:33|gres:gpu:1|None|(null)|\n"
                       "3|PENDING|2|1-00:00:00|0:00|N/A|N/A|JobHeldAdmin|note gridems:noflex|\n"
                       "4_7|SUSPENDED|1|UNLIMITED|1:02:03|N/A|gres/gpu:a100:4|None|x|\n";
    gridems__slurm_list_t l = parse(text);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_uint_eq(l.bad_lines, 0);
    const gridems__slurm_job_t *j = &l.jobs[0];
    ck_assert_str_eq(j->id, "1");
    ck_assert_int_eq(j->state, GRIDEMS__SLURM_RUNNING);
    ck_assert_int_eq(j->time_limit_s, 600);
    ck_assert_int_eq(j->time_used_s, 172);
    ck_assert_int_eq(j->gpus_per_node, 2);
    ck_assert_int_eq(j->deadline_ms, 0);
    ck_assert_int_eq(j->tag_status, 1);
    ck_assert_int_eq(j->tag.flex, 1);
    ck_assert(j->tag.energy_kwh == 5 && j->tag.power_max_kw == 2);
    ck_assert_int_gt(l.jobs[1].deadline_ms, 0);
    ck_assert_int_eq(l.jobs[1].tag_status, 0);
    ck_assert_int_eq(l.jobs[2].state, GRIDEMS__SLURM_PENDING);
    ck_assert_int_eq(l.jobs[2].nodes, 2);
    ck_assert_int_eq(l.jobs[2].time_limit_s, 86400);
    ck_assert_str_eq(l.jobs[2].reason, "JobHeldAdmin");
    ck_assert_int_eq(l.jobs[2].tag.flex, -1);
    ck_assert_str_eq(l.jobs[3].id, "4_7");
    ck_assert_int_eq(l.jobs[3].time_limit_s, -1);
    ck_assert_int_eq(l.jobs[3].time_used_s, 3723);
    ck_assert_int_eq(l.jobs[3].gpus_per_node, 4);
    gridems__slurm_list_free(&l);
}
END_TEST

START_TEST(squeue_comment_with_separators)
{
    /* '|' inside a comment stays in the comment (it is the last field) and spoils the tag. */
    gridems__slurm_list_t l =
        parse(LINE("5", "RUNNING", "gres:gpu:1", "gridems:flex,energy_kwh=1|RUNNING|9"));
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.jobs[0].tag_status, -1);
    gridems__slurm_list_free(&l);
}
END_TEST

START_TEST(squeue_comment_forging_an_existing_job)
{
    /* Job 5's comment holds a newline and a whole line for job 6, which exists: both lines
     * for 6 are untrusted, and the plugin will not touch job 6. */
    const char *text = LINE("5", "RUNNING", "gres:gpu:1", "x")
        LINE("6", "PENDING", "gres:gpu:8",
             "(null)") "7|RUNNING|1|1:00:00|10:00|N/A|N/A|None|hi|\n"
                       "6|PENDING|1|1:00:00|0:00|N/A|gres:gpu:8|None|gridems:flex,energy_kwh=9|\n";
    gridems__slurm_list_t l = parse(text);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_uint_eq(l.duplicates, 1);
    ck_assert(l.jobs[1].duplicate && l.jobs[3].duplicate);
    ck_assert(!l.jobs[0].duplicate && !l.jobs[2].duplicate);
    gridems__slurm_flex_opts_t o = {0.7, 1};
    gridems__slurm_flex_t f;
    const char *why = NULL;
    ck_assert_int_eq(gridems__slurm_flex_eval(&l.jobs[3], 0, 0, &o, 0, &f, &why), 0);
    ck_assert_ptr_nonnull(strstr(why, "twice"));
    gridems__slurm_list_free(&l);
}
END_TEST

START_TEST(squeue_comment_with_newline)
{
    /* A comment that spans lines: the continuation is no job, and the tag is refused. */
    const char *text = "8|RUNNING|1|1:00:00|10:00|N/A|gres:gpu:1|None|gridems:flex\n"
                       "9|RUNNING|gres:gpu:4|\n" LINE("10", "PENDING", "N/A", "(null)");
    gridems__slurm_list_t l = parse(text);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_ptr_null(find(&l, "9"));
    const gridems__slurm_job_t *j = find(&l, "8");
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(j->tag_status, -1);
    ck_assert_ptr_nonnull(strstr(j->tag_error, "several lines"));
    ck_assert_ptr_nonnull(find(&l, "10"));
    /* Unterminated at the end of the output too. */
    gridems__slurm_list_free(&l);
    l = parse("11|RUNNING|1|1:00:00|10:00|N/A|gres:gpu:1|None|gridems:flex\nmore");
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.jobs[0].tag_status, -1);
    gridems__slurm_list_free(&l);
}
END_TEST

START_TEST(squeue_bad_lines)
{
    const char *text = "garbage\n"
                       "|RUNNING|1|1:00:00|0:00|N/A|N/A|None|x|\n"            /* no id */
                       "12;rm -rf /|RUNNING|1|1:00:00|0:00|N/A|N/A|None|x|\n" /* bad id */
                       "13|COMPLETING|1|1:00:00|0:00|N/A|N/A|None|x|\n"       /* state */
                       "14|RUNNING|0|1:00:00|0:00|N/A|N/A|None|x|\n"          /* 0 nodes */
                       "15|RUNNING|1|1:99:00|0:00|N/A|N/A|None|x|\n"          /* time */
                       "16|RUNNING|1|1:00:00|0:00|2026-13-01T00:00:00|N/A|None|x|\n"
                       "17|RUNNING|1|1:00:00|0:00|N/A|gres:gpu:999999999|None|x|\n"
                       "\n" LINE("18", "RUNNING", "N/A", "ok");
    gridems__slurm_list_t l = parse(text);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.jobs[0].id, "18");
    ck_assert_uint_eq(l.bad_lines, 8);
    gridems__slurm_list_free(&l);
}
END_TEST

START_TEST(squeue_too_many_jobs)
{
    const char *text = LINE("1", "RUNNING", "N/A", "a") LINE("2", "RUNNING", "N/A", "b")
        LINE("3", "RUNNING", "N/A", "c");
    gridems__slurm_list_t l;
    char err[128];
    ck_assert_int_eq(gridems__slurm_parse_squeue(text, strlen(text), 2, &l, err, sizeof err),
                     GRIDEMS_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err, "more than 2"));
    gridems__slurm_list_free(&l);
    /* Binary zero bytes in a comment make no job of what follows. */
    char bin[] = "1|RUNNING|1|1:00:00|0:00|N/A|N/A|None|a\0b|\n";
    ck_assert_int_eq(gridems__slurm_parse_squeue(bin, sizeof bin - 1, 10, &l, err, sizeof err), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.jobs[0].tag_status, -1);
    gridems__slurm_list_free(&l);
}
END_TEST

/* ---- ## Tags ---- */

static int tag(const char *comment, gridems__slurm_tag_t *t, char *err)
{
    return gridems__slurm_parse_tag(comment, t, err, 256);
}

START_TEST(tag_forms)
{
    gridems__slurm_tag_t t;
    char err[256] = "";
    ck_assert_int_eq(tag("", &t, err), 0);
    ck_assert_int_eq(tag("just a note", &t, err), 0);
    ck_assert_int_eq(tag("gridems:flex", &t, err), 1);
    ck_assert(t.flex == 1 && t.energy_kwh < 0 && t.power_max_kw < 0 && t.deadline_ms == 0);
    ck_assert_int_eq(
        tag("train run 7; gridems:flex,energy_kwh=1200.5,power_max_kw=4e2 ok", &t, err), 1);
    ck_assert(t.energy_kwh == 1200.5 && t.power_max_kw == 400);
    ck_assert_int_eq(tag("gridems:flex,deadline=2026-12-06T08:00:00+09:00", &t, err), 1);
    ck_assert_int_eq(t.deadline_ms, INT64_C(1796511600000));
    ck_assert_int_eq(tag("gridems:flex,deadline=2026-12-05T23:00:00Z", &t, err), 1);
    ck_assert_int_eq(t.deadline_ms, INT64_C(1796511600000));
    ck_assert_int_eq(tag("gridems:flex,deadline=1796511600", &t, err), 1);
    ck_assert_int_eq(t.deadline_ms, INT64_C(1796511600000));
    ck_assert_int_eq(tag("gridems:noflex", &t, err), 1);
    ck_assert_int_eq(t.flex, -1);
}
END_TEST

START_TEST(tag_hostile)
{
    static const char *const bad[] = {"gridems:flex,energy_kwh=nan",
                                      "gridems:flex,energy_kwh=inf",
                                      "gridems:flex,energy_kwh=0x10",
                                      "gridems:flex,energy_kwh=-5",
                                      "gridems:flex,energy_kwh=0",
                                      "gridems:flex,energy_kwh=1e10",
                                      "gridems:flex,energy_kwh=1e999",
                                      "gridems:flex,energy_kwh=",
                                      "gridems:flex,energy_kwh=1,energy_kwh=2",
                                      "gridems:flex,power_max_kw=5kW",
                                      "gridems:flex,power_max_kw=$(reboot)",
                                      "gridems:flex,user=root",
                                      "gridems:flex,energy_kwh",
                                      "gridems:flex gridems:flex",
                                      "gridems:flexible",
                                      "gridems:noflex,energy_kwh=1",
                                      "gridems:flex,deadline=tomorrow",
                                      "gridems:flex,deadline=2026-12-06T08:00:00",
                                      "gridems:flex,deadline=2026-12-06T08:00:00+99:00",
                                      "gridems:flex,deadline=1,deadline=2",
                                      "gridems:",
                                      NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        gridems__slurm_tag_t t;
        char err[256] = "";
        ck_assert_msg(tag(bad[i], &t, err) == GRIDEMS_EINVAL, "accepted: %s", bad[i]);
        ck_assert_msg(strncmp(err, "comment:", 8) == 0, "%s: error %s", bad[i], err);
    }
    /* A tag longer than 256 characters. */
    char big[600] = "gridems:flex,energy_kwh=1";
    for (size_t n = strlen(big); n < sizeof big - 1; n++) {
        big[n] = '0';
    }
    big[sizeof big - 1] = '\0';
    gridems__slurm_tag_t t;
    char err[256];
    ck_assert_int_eq(tag(big, &t, err), GRIDEMS_EINVAL);
}
END_TEST

/* ---- ## Small parsers ---- */

START_TEST(durations_times_gpus)
{
    int64_t s, ms, g;
    ck_assert_int_eq(gridems__slurm_parse_duration("5:00", &s), 0);
    ck_assert_int_eq(s, 300);
    ck_assert_int_eq(gridems__slurm_parse_duration("2:03:04", &s), 0);
    ck_assert_int_eq(s, 7384);
    ck_assert_int_eq(gridems__slurm_parse_duration("1-02:03:04", &s), 0);
    ck_assert_int_eq(s, 93784);
    ck_assert_int_eq(gridems__slurm_parse_duration("3-04", &s), 0);
    ck_assert_int_eq(s, 273600);
    ck_assert_int_eq(gridems__slurm_parse_duration("UNLIMITED", &s), 1);
    ck_assert_int_eq(s, -1);
    static const char *const bad_d[] = {"",        "INVALID", "1:2:3:4",           "1:60", "-5",
                                        "1-25:00", "a:00",    "99999999999999:00", NULL};
    for (int i = 0; bad_d[i] != NULL; i++) {
        ck_assert_msg(gridems__slurm_parse_duration(bad_d[i], &s) < 0, "%s", bad_d[i]);
    }
    ck_assert_int_eq(gridems__slurm_parse_local_time("N/A", &ms), 1);
    ck_assert_int_eq(gridems__slurm_parse_local_time("2026-12-05T23:05:33", &ms), 0);
    ck_assert_int_gt(ms, 0);
    ck_assert_int_lt(gridems__slurm_parse_local_time("2026-12-05 23:05:33", &ms), 0);
    ck_assert_int_eq(gridems__slurm_parse_gpus("gres:gpu:2", &g), 0);
    ck_assert_int_eq(g, 2);
    ck_assert_int_eq(gridems__slurm_parse_gpus("gres/gpu=3", &g), 0);
    ck_assert_int_eq(g, 3);
    ck_assert_int_eq(gridems__slurm_parse_gpus("gres:gpu:a100:4,gres:nic:1", &g), 0);
    ck_assert_int_eq(g, 4);
    ck_assert_int_eq(gridems__slurm_parse_gpus("gres:gpu", &g), 0);
    ck_assert_int_eq(g, 1);
    ck_assert_int_eq(gridems__slurm_parse_gpus("N/A", &g), 0);
    ck_assert_int_eq(g, 0);
    ck_assert_int_eq(gridems__slurm_parse_gpus("gres:nic:1", &g), 0);
    ck_assert_int_eq(g, 0);
    ck_assert_int_lt(gridems__slurm_parse_gpus("gres:gpu:a100:x", &g), 0);
    ck_assert(gridems__slurm_id_valid("123") && gridems__slurm_id_valid("123_4"));
    ck_assert(!gridems__slurm_id_valid("123_") && !gridems__slurm_id_valid("123+0") &&
              !gridems__slurm_id_valid("-1") && !gridems__slurm_id_valid("1 2") &&
              !gridems__slurm_id_valid("12345678901234567890123456789012"));
    ck_assert_int_eq(gridems__slurm_hostlist_count("gn1"), 1);
    ck_assert_int_eq(gridems__slurm_hostlist_count("gn[1-3,5]"), 4);
    ck_assert_int_eq(gridems__slurm_hostlist_count("a1,b[2-3]"), 3);
    ck_assert_int_eq(gridems__slurm_hostlist_count("gn[3-1]"), -1);
    ck_assert_int_eq(gridems__slurm_hostlist_count("gn[1"), -1);
    ck_assert_int_eq(gridems__slurm_hostlist_count(""), -1);
}
END_TEST

/* ---- ## scontrol -o -d show job ---- */

#define SHOW_HEAD "JobId=1 JobName=wrap UserId=root(0) JobState=RUNNING NumNodes=1 "
#define SHOW_DETAIL "JOB_GRES=gpu:2   Nodes=gn1 CPU_IDs=0 Mem=0 GRES=gpu:2(IDX:0-1) MinCPUsNode=1 "

START_TEST(gpu_alloc)
{
    gridems__slurm_gpu_group_t g[4];
    size_t n;
    char err[256];
    const char *ok = SHOW_HEAD SHOW_DETAIL "Comment=gridems:flex StdOut=/tmp/x\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(ok, strlen(ok), "1", 1, g, 4, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(g[0].nodes, "gn1");
    ck_assert_str_eq(g[0].idx, "0-1");
    /* Two node groups of a 3-node job. */
    const char *multi = SHOW_HEAD "Nodes=gn[1-2] CPU_IDs=0 Mem=0 GRES=gpu:4(IDX:0-3) "
                                  "Nodes=gn3 CPU_IDs=0 Mem=0 GRES=gpu:2(IDX:1,3) Comment=x\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(multi, strlen(multi), "1", 3, g, 4, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(g[1].idx, "1,3");
    /* A comment imitating a group: the groups cover 2 nodes, squeue said 1: refused. */
    const char *forged = SHOW_HEAD SHOW_DETAIL
        "Comment=a Nodes=gn1 CPU_IDs=0 Mem=0 GRES=gpu:8(IDX:0-7) StdOut=/tmp/x\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(forged, strlen(forged), "1", 1, g, 4, &n, err, sizeof err),
        GRIDEMS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "imitate"));
    /* Shell characters in an index list. */
    const char *shell = SHOW_HEAD "Nodes=gn1 CPU_IDs=0 Mem=0 GRES=gpu:1(IDX:0;reboot) x\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(shell, strlen(shell), "1", 1, g, 4, &n, err, sizeof err),
        GRIDEMS_EINVAL);
    /* A second line for the same job (a comment with a newline). */
    const char *two = SHOW_HEAD SHOW_DETAIL "Comment=a\n" SHOW_HEAD SHOW_DETAIL "\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(two, strlen(two), "1", 1, g, 4, &n, err, sizeof err),
        GRIDEMS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "two lines"));
    /* Another job's line only; and a job without GPUs. */
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(ok, strlen(ok), "10", 1, g, 4, &n, err, sizeof err),
        GRIDEMS_EINVAL);
    const char *nogpu = SHOW_HEAD "Nodes=gn1 CPU_IDs=0 Mem=0 GRES= x\n";
    ck_assert_int_eq(
        gridems__slurm_parse_gpu_alloc(nogpu, strlen(nogpu), "1", 1, g, 4, &n, err, sizeof err),
        GRIDEMS_EINVAL);
}
END_TEST

/* ---- ## Policy ---- */

static gridems__slurm_job_t job(int state, const char *reason, int gpus)
{
    gridems__slurm_job_t j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "42");
    j.state = state;
    j.nodes = 2;
    j.gpus_per_node = gpus;
    j.time_limit_s = 7200;
    j.time_used_s = 1800;
    snprintf(j.reason, sizeof j.reason, "%s", reason);
    return j;
}

START_TEST(flex_eval_rules)
{
    gridems__slurm_flex_opts_t o = {0.5, 0};
    gridems__slurm_flex_t f;
    const char *why;
    int64_t now = 1000000;
    gridems__slurm_job_t j = job(GRIDEMS__SLURM_RUNNING, "None", 4);
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 0); /* untagged */
    o.all_gpu_jobs = 1;
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 0); /* no deadline */
    ck_assert_ptr_nonnull(strstr(why, "deadline"));
    j.deadline_ms = now + 3600000;
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 1);
    /* 2 nodes x 4 GPUs x 0.5 kW = 4 kW, 1.5 h of time limit left: 6 kWh. */
    ck_assert(fabs(f.power_max_kw - 4) < 1e-9 && fabs(f.energy_remaining_kwh - 6) < 1e-9);
    ck_assert(fabs(f.energy_delivered_kwh - 2) < 1e-9);
    /* Tagged: the tag's values; Slurm's deadline wins over the tag's. */
    j.tag_status = 1;
    j.tag = (gridems__slurm_tag_t){1, 10, 3, now + 7200000};
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 1);
    ck_assert(fabs(f.power_max_kw - 3) < 1e-9 && fabs(f.energy_remaining_kwh - 8.5) < 1e-9);
    ck_assert_int_eq(f.deadline_ms, now + 3600000);
    j.deadline_ms = 0;
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 1);
    ck_assert_int_eq(f.deadline_ms, now + 7200000);
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now + 7200000, &f, &why), 0);
    /* Holds and suspends by others make it not ours. */
    gridems__slurm_job_t p = job(GRIDEMS__SLURM_PENDING, "JobHeldAdmin", 4);
    p.tag_status = 1;
    p.tag = j.tag;
    ck_assert_int_eq(gridems__slurm_flex_eval(&p, 0, 0, &o, now, &f, &why), 0);
    ck_assert_int_eq(gridems__slurm_flex_eval(&p, 1, 0, &o, now, &f, &why), 1);
    snprintf(p.reason, sizeof p.reason, "JobHeldUser");
    ck_assert_int_eq(gridems__slurm_flex_eval(&p, 1, 0, &o, now, &f, &why), 0);
    gridems__slurm_job_t s = job(GRIDEMS__SLURM_SUSPENDED, "None", 4);
    s.tag_status = 1;
    s.tag = j.tag;
    ck_assert_int_eq(gridems__slurm_flex_eval(&s, 0, 0, &o, now, &f, &why), 0);
    ck_assert_int_eq(gridems__slurm_flex_eval(&s, 0, 1, &o, now, &f, &why), 1);
    /* Opt-out and a refused tag. */
    j.tag.flex = -1;
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 0);
    j.tag_status = -1;
    ck_assert_int_eq(gridems__slurm_flex_eval(&j, 0, 0, &o, now, &f, &why), 0);
}
END_TEST

START_TEST(decide_mapping)
{
    gridems__slurm_policy_t p = {0.5, 0, 100, 400};
    gridems__slurm_ours_t none = {0, 0, 0}, held = {1, 0, 0}, susp = {0, 1, 0},
                          capped = {0, 0, 250};
    double w;
    /* Pending. */
    ck_assert_int_eq(gridems__slurm_decide(1, &none, 0, 1, 0, 4, &p, &w), GRIDEMS__SLURM_ACT_HOLD);
    ck_assert_int_eq(gridems__slurm_decide(1, &none, 0, 1, 1.9, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_HOLD);
    ck_assert_int_eq(gridems__slurm_decide(1, &none, 0, 1, 2, 4, &p, &w), GRIDEMS__SLURM_ACT_NONE);
    ck_assert_int_eq(gridems__slurm_decide(1, &held, 0, 1, 0, 4, &p, &w), GRIDEMS__SLURM_ACT_NONE);
    ck_assert_int_eq(gridems__slurm_decide(1, &held, 0, 1, 4, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RELEASE);
    ck_assert_int_eq(gridems__slurm_decide(1, &held, 1, 1, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RELEASE); /* safe mode */
    ck_assert_int_eq(gridems__slurm_decide(1, &held, 0, 0, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RELEASE); /* no longer flexible */
    /* Running and suspended. */
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_SUSPEND);
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, 3, 4, &p, &w), GRIDEMS__SLURM_ACT_NONE);
    ck_assert_int_eq(gridems__slurm_decide(2, &held, 0, 1, 3, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RELEASE);
    ck_assert_int_eq(gridems__slurm_decide(3, &susp, 0, 1, 0, 4, &p, &w), GRIDEMS__SLURM_ACT_NONE);
    ck_assert_int_eq(gridems__slurm_decide(3, &susp, 0, 1, 4, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RESUME);
    ck_assert_int_eq(gridems__slurm_decide(3, &susp, 1, 1, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_RESUME);
    ck_assert_int_eq(gridems__slurm_decide(3, &none, 1, 1, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_NONE); /* not ours to resume */
    /* Caps. */
    p.cap_enabled = 1;
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, 3, 4, &p, &w), GRIDEMS__SLURM_ACT_CAP);
    ck_assert(fabs(w - 300) < 1e-9);
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, 4, 4, &p, &w), GRIDEMS__SLURM_ACT_NONE);
    ck_assert_int_eq(gridems__slurm_decide(2, &capped, 0, 1, 4, 4, &p, &w), GRIDEMS__SLURM_ACT_CAP);
    ck_assert(fabs(w - 400) < 1e-9);
    ck_assert_int_eq(gridems__slurm_decide(2, &capped, 1, 1, 0, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_CAP); /* safe: lift */
    ck_assert(fabs(w - 400) < 1e-9);
    p.run_fraction = 0.1;
    p.gpu_watts_min = 150;
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, 0.5, 4, &p, &w), GRIDEMS__SLURM_ACT_CAP);
    ck_assert(fabs(w - 150) < 1e-9); /* clamped to the lowest cap */
    ck_assert_int_eq(gridems__slurm_decide(2, &none, 0, 1, NAN, 4, &p, &w),
                     GRIDEMS__SLURM_ACT_SUSPEND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("slurm_parse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, squeue_real_output);
    tcase_add_test(tc, squeue_comment_with_separators);
    tcase_add_test(tc, squeue_comment_forging_an_existing_job);
    tcase_add_test(tc, squeue_comment_with_newline);
    tcase_add_test(tc, squeue_bad_lines);
    tcase_add_test(tc, squeue_too_many_jobs);
    tcase_add_test(tc, tag_forms);
    tcase_add_test(tc, tag_hostile);
    tcase_add_test(tc, durations_times_gpus);
    tcase_add_test(tc, gpu_alloc);
    tcase_add_test(tc, flex_eval_rules);
    tcase_add_test(tc, decide_mapping);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
