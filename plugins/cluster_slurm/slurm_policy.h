/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm: the pure rules. Which Slurm jobs are flexible and what they need (energy,
 * largest power, deadline), and which scontrol action brings a job to the power level the plan
 * gives it. No I/O, no clock (now is a parameter), no globals: safe on any thread.
 *
 * The mapping from a job's planned power p (kW) to actions, with P its largest power:
 *   p >= run_fraction * P          the job may run: a pending job that gridems held is released,
 *                                  a job that gridems suspended is resumed; with a power-cap
 *                                  command, a running job's GPUs are capped at
 *                                  clamp(p / P * gpu_watts_max, gpu_watts_min, gpu_watts_max)
 *                                  watts each (gpu_watts_max when p >= P: no cap);
 *   p <  run_fraction * P          the job must not run now: a pending job is held
 *                                  (scontrol hold), a running job is suspended (scontrol
 *                                  suspend).
 *   safe mode (or no set-point)    everything gridems did is undone: its holds released, its
 *                                  suspends resumed, its caps lifted; Slurm schedules alone.
 * A job gridems did not hold or suspend is never released or resumed by it.
 */
#ifndef GRIDEMS_SLURM_POLICY_H
#define GRIDEMS_SLURM_POLICY_H

#include <stdint.h>

#include "slurm_parse.h"

typedef struct gridems__slurm_flex_opts_s {
    double gpu_power_kw; /* estimated power of one busy GPU, kW (> 0) */
    int all_gpu_jobs;    /* 1: GPU jobs without a tag are flexible too */
} gridems__slurm_flex_opts_t;

/* What the plan needs to know of one flexible job. */
typedef struct gridems__slurm_flex_s {
    double energy_remaining_kwh;
    double energy_delivered_kwh;
    double power_max_kw;
    int64_t deadline_ms;
} gridems__slurm_flex_t;

/*
 * Whether job j (borrowed) is flexible at now_ms, and what it needs (*out). held_by_us and
 * suspended_by_us: gridems's own hold/suspend of it (a hold or suspend by anyone else makes the
 * job not flexible: it is not ours to release).
 *   energy: the tag's energy_kwh minus power_max * time used; else GPUs x nodes x gpu_power_kw
 *           x the time limit left;
 *   power_max: the tag's power_max_kw, else GPUs x nodes x gpu_power_kw;
 *   deadline: Slurm's --deadline, else the tag's deadline.
 * Returns 1 (flexible), 0 (not; *why says why, a static string).
 */
int gridems__slurm_flex_eval(const gridems__slurm_job_t *j, int held_by_us, int suspended_by_us,
                             const gridems__slurm_flex_opts_t *o, int64_t now_ms,
                             gridems__slurm_flex_t *out, const char **why);

enum {
    GRIDEMS__SLURM_ACT_NONE = 0,
    GRIDEMS__SLURM_ACT_HOLD,
    GRIDEMS__SLURM_ACT_RELEASE,
    GRIDEMS__SLURM_ACT_SUSPEND,
    GRIDEMS__SLURM_ACT_RESUME,
    GRIDEMS__SLURM_ACT_CAP /* run the power-cap command at *cap_w watts per GPU */
};

typedef struct gridems__slurm_policy_s {
    double run_fraction;  /* in (0, 1]: below run_fraction * power_max the job is stopped */
    int cap_enabled;      /* a power-cap command is configured */
    double gpu_watts_min; /* the cap command's range per GPU */
    double gpu_watts_max;
} gridems__slurm_policy_t;

/* gridems's own marks on a job. cap_w 0: never capped by gridems (or the cap was lifted). */
typedef struct gridems__slurm_ours_s {
    int held;
    int suspended;
    double cap_w;
} gridems__slurm_ours_t;

/*
 * The next action for a job in Slurm state `state` (GRIDEMS__SLURM_*) with gridems's marks
 * *ours, given the target: safe (undo everything), else flexible (0: not a flexible job, undo
 * what gridems did) and power_kw / power_max_kw from the plan. One action per call: the plugin
 * calls again on the next poll (a hold and a cap are never needed together).
 * Returns GRIDEMS__SLURM_ACT_*; *cap_w is set for ACT_CAP.
 */
int gridems__slurm_decide(int state, const gridems__slurm_ours_t *ours, int safe, int flexible,
                          double power_kw, double power_max_kw, const gridems__slurm_policy_t *p,
                          double *cap_w);

/* "hold", "release", ... for logs. */
const char *gridems__slurm_act_name(int act);

#endif
