/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm: pure parsing of what squeue and scontrol print, and of the gridems tag in a
 * job's comment. No I/O, no clock, no globals: every function is safe on any thread (the plugin
 * calls them from its work items and from the loop thread), and is unit-tested with hostile
 * input (tests/unit/test_slurm_parse.c).
 *
 * The job list comes from one fixed-format squeue call (GRIDEMS__SLURM_SQUEUE_FORMAT): nine
 * fields, each followed by '|', the comment last. Everything before the comment is printed by
 * Slurm and cannot contain '|' or a newline; the comment is the user's text and can contain
 * anything, newlines included (Slurm prints them raw). The parser therefore:
 *   - takes the comment as everything after the 8th '|' up to the '|' that ends the line;
 *   - joins the following lines into the comment while a line does not end with '|' (a comment
 *     with a newline), and marks that job's comment untrusted (its tag is refused);
 *   - marks every job id that appears twice (a comment that forged a whole line for a job that
 *     exists) as a duplicate; the plugin then leaves both out and never touches that job;
 *   - skips lines that do not start a well-formed record, counting them.
 * A forged line for a job id that does not exist can still pass; acting on it fails harmlessly
 * in scontrol ("Invalid job id"). docs/cluster_slurm.md says so.
 */
#ifndef GRIDEMS_SLURM_PARSE_H
#define GRIDEMS_SLURM_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* squeue -O format: the fields, in order, that gridems__slurm_parse_squeue expects. */
#define GRIDEMS__SLURM_SQUEUE_FORMAT                                                               \
    "JobID:|,State:|,NumNodes:|,TimeLimit:|,TimeUsed:|,Deadline:|,tres-per-node:|,Reason:|,"       \
    "Comment:|"

/* Longest job id kept: "<digits>" or "<digits>_<digits>" (an array task). */
#define GRIDEMS__SLURM_ID_MAX 32

enum { GRIDEMS__SLURM_PENDING = 1, GRIDEMS__SLURM_RUNNING = 2, GRIDEMS__SLURM_SUSPENDED = 3 };

/* What the gridems tag in a comment says. Absent values are < 0 (numbers) or 0 (deadline). */
typedef struct gridems__slurm_tag_s {
    int flex;            /* 1: gridems:flex; -1: gridems:noflex (opt out); 0: no tag */
    double energy_kwh;   /* the job's whole energy, kWh, > 0; < 0 absent */
    double power_max_kw; /* its largest power, kW, > 0; < 0 absent */
    int64_t deadline_ms; /* Unix ms; 0 absent */
} gridems__slurm_tag_t;

typedef struct gridems__slurm_job_s {
    char id[GRIDEMS__SLURM_ID_MAX];
    int state;            /* GRIDEMS__SLURM_* */
    int64_t nodes;        /* >= 1 */
    int64_t time_limit_s; /* -1: UNLIMITED or not set */
    int64_t time_used_s;  /* >= 0, excludes time suspended (Slurm's own accounting) */
    int64_t deadline_ms;  /* Slurm's --deadline in Unix ms, 0: none */
    int64_t gpus_per_node;
    char reason[32]; /* Slurm's reason, truncated; "JobHeldAdmin" after scontrol hold */
    int duplicate;   /* the id appeared more than once: untrusted, never touched */
    /* The tag: tag_status 0 no tag, 1 tag parsed into tag, -1 refused (tag_error says why). */
    int tag_status;
    gridems__slurm_tag_t tag;
    char tag_error[128];
} gridems__slurm_job_t;

typedef struct gridems__slurm_list_s {
    gridems__slurm_job_t *jobs; /* owned; free with gridems__slurm_list_free */
    size_t n;
    size_t bad_lines;  /* lines that start no record and continue none */
    size_t duplicates; /* job ids seen more than once */
} gridems__slurm_list_t;

/*
 * Parse squeue's output (text, len bytes; borrowed, need not be NUL-terminated) into *out
 * (zeroed first; the caller frees it with gridems__slurm_list_free also on error). Local times
 * (Slurm's Deadline) are read in the process's time zone, as squeue printed them.
 * Returns 0; GRIDEMS_ENOMEM; GRIDEMS_ETOOBIG beyond max_jobs records (err says so).
 */
int gridems__slurm_parse_squeue(const char *text, size_t len, size_t max_jobs,
                                gridems__slurm_list_t *out, char *err, size_t errlen);
void gridems__slurm_list_free(gridems__slurm_list_t *list);

/*
 * The gridems tag in a comment (borrowed, NUL-terminated). The comment is split into words at
 * spaces, tabs and ';'; the word starting with "gridems:" is the tag (two such words are an
 * error). Forms:
 *   gridems:flex[,energy_kwh=N][,power_max_kw=N][,deadline=T]
 *   gridems:noflex
 * N a plain decimal number > 0 and <= 1e9 (no hex, inf or nan); T an ISO 8601 time with offset
 * (2026-12-06T08:00:00+09:00, or Z) or Unix seconds. A key may appear once.
 * Returns 0 (no tag; *out is cleared), 1 (a tag in *out), or GRIDEMS_EINVAL with err naming the
 * part and the rule.
 */
int gridems__slurm_parse_tag(const char *comment, gridems__slurm_tag_t *out, char *err,
                             size_t errlen);

/* Slurm durations: "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", "MM". Returns 0 and
 * *secs; 1 for "UNLIMITED", "INFINITE", "NOT_SET", "N/A" (*secs = -1); GRIDEMS_EINVAL. */
int gridems__slurm_parse_duration(const char *s, int64_t *secs);

/* "YYYY-MM-DDTHH:MM:SS" in local time (squeue's Deadline). Returns 0 and *ms, 1 for "N/A",
 * "NONE" or "Unknown" (*ms = 0), GRIDEMS_EINVAL. */
int gridems__slurm_parse_local_time(const char *s, int64_t *ms);

/* ISO 8601 with an offset ("...+09:00", "...Z"), or Unix seconds (digits). Returns 0 or
 * GRIDEMS_EINVAL. */
int gridems__slurm_parse_iso_time(const char *s, int64_t *ms);

/* GPUs per node in squeue's tres-per-node ("gres:gpu:2", "gres/gpu=2", "gres:gpu:a100:4",
 * "gres:gpu:2,gres:nic:1", "N/A"). Returns 0 and *gpus (0 when none), or GRIDEMS_EINVAL. */
int gridems__slurm_parse_gpus(const char *s, int64_t *gpus);

/* A job id as the plugin accepts it: 1 to 31 characters, digits, optionally "_" digits. */
int gridems__slurm_id_valid(const char *id);

/* One node group of a job's GPU allocation from `scontrol -o -d show job ID`. */
typedef struct gridems__slurm_gpu_group_s {
    char nodes[128]; /* "gn1" or "gn[1-2]" */
    char idx[128];   /* "0-1,3" */
} gridems__slurm_gpu_group_t;

/*
 * The GPU indexes of job `id` (borrowed) from scontrol's one-line output (text, len; borrowed):
 * the tokens "Nodes=<list> CPU_IDs=<...> Mem=<n> GRES=<...>(IDX:<list>)" of its detail part.
 * The output must hold exactly one line starting with "JobId=<id> "; the node list and index
 * list may only hold [A-Za-z0-9_.,[]-]. Because the job's name, comment and paths are printed
 * on the same line and could imitate such a group, the groups must cover exactly
 * expected_nodes nodes (the count squeue printed): an imitation adds nodes and is refused.
 * Up to max groups into out, *n the count.
 * Returns 0; GRIDEMS_EINVAL (err says why: no such line, two lines, a bad token, a node count
 * that differs); GRIDEMS_ETOOBIG (more than max groups).
 */
int gridems__slurm_parse_gpu_alloc(const char *text, size_t len, const char *id,
                                   int64_t expected_nodes, gridems__slurm_gpu_group_t *out,
                                   size_t max, size_t *n, char *err, size_t errlen);

/* Number of hosts in a Slurm host list ("gn1", "gn[1-3,5]", "a1,b[2-3]"), or -1 if malformed. */
int64_t gridems__slurm_hostlist_count(const char *s);

#endif
