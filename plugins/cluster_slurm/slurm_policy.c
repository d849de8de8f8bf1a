/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_slurm: flexibility and power-to-action rules (see slurm_policy.h). */
#include "slurm_policy.h"

#include <math.h>
#include <string.h>

int gridems__slurm_flex_eval(const gridems__slurm_job_t *j, int held_by_us, int suspended_by_us,
                             const gridems__slurm_flex_opts_t *o, int64_t now_ms,
                             gridems__slurm_flex_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (j->duplicate) {
        *why = "its id appears twice in squeue's output (a forged line?)";
        return 0;
    }
    if (j->tag_status < 0) {
        *why = "its gridems tag is malformed";
        return 0;
    }
    int tagged = j->tag_status == 1 && j->tag.flex == 1;
    if (j->tag_status == 1 && j->tag.flex == -1) {
        *why = "tagged gridems:noflex";
        return 0;
    }
    double gpu_kw = (double)j->gpus_per_node * (double)j->nodes * o->gpu_power_kw;
    if (!tagged && !(o->all_gpu_jobs && gpu_kw > 0)) {
        *why = "not tagged gridems:flex";
        return 0;
    }
    if (j->state == GRIDEMS__SLURM_PENDING && strcmp(j->reason, "JobHeldAdmin") == 0 &&
        !held_by_us) {
        *why = "held by someone else";
        return 0;
    }
    if (j->state == GRIDEMS__SLURM_PENDING && strcmp(j->reason, "JobHeldUser") == 0) {
        *why = "held by its user";
        return 0;
    }
    if (j->state == GRIDEMS__SLURM_SUSPENDED && !suspended_by_us) {
        *why = "suspended by someone else";
        return 0;
    }
    double pmax = tagged && j->tag.power_max_kw > 0 ? j->tag.power_max_kw : gpu_kw;
    if (!(pmax > 0)) {
        *why = "no power_max_kw in its tag and no GPUs";
        return 0;
    }
    double used_h = (double)j->time_used_s / 3600.0;
    double remaining;
    double delivered;
    if (tagged && j->tag.energy_kwh > 0) {
        delivered = fmin(j->tag.energy_kwh, pmax * used_h);
        remaining = j->tag.energy_kwh - delivered;
    } else {
        if (j->time_limit_s < 0) {
            *why = "no energy_kwh in its tag and no time limit to estimate it from";
            return 0;
        }
        double left_h = (double)(j->time_limit_s - j->time_used_s) / 3600.0;
        remaining = pmax * (left_h > 0 ? left_h : 0);
        delivered = pmax * used_h;
    }
    int64_t deadline = j->deadline_ms != 0 ? j->deadline_ms : (tagged ? j->tag.deadline_ms : 0);
    if (deadline == 0) {
        *why = "no deadline (neither sbatch --deadline nor deadline= in its tag)";
        return 0;
    }
    if (deadline <= now_ms) {
        *why = "its deadline has passed";
        return 0;
    }
    out->energy_remaining_kwh = remaining;
    out->energy_delivered_kwh = delivered;
    out->power_max_kw = pmax;
    out->deadline_ms = deadline;
    *why = NULL;
    return 1;
}

int gridems__slurm_decide(int state, const gridems__slurm_ours_t *ours, int safe, int flexible,
                          double power_kw, double power_max_kw, const gridems__slurm_policy_t *p,
                          double *cap_w)
{
    *cap_w = 0;
    int run;
    double want_w = p->gpu_watts_max;
    if (safe || !flexible) {
        run = 1; /* undo: Slurm decides alone */
    } else {
        double frac = power_max_kw > 0 ? power_kw / power_max_kw : 0;
        if (!(frac >= 0)) {
            frac = 0;
        }
        run = frac >= p->run_fraction;
        if (frac < 1) {
            want_w = frac * p->gpu_watts_max;
            if (want_w < p->gpu_watts_min) {
                want_w = p->gpu_watts_min;
            }
        }
    }
    switch (state) {
    case GRIDEMS__SLURM_PENDING:
        if (!run && !ours->held) {
            return GRIDEMS__SLURM_ACT_HOLD;
        }
        if (run && ours->held) {
            return GRIDEMS__SLURM_ACT_RELEASE;
        }
        return GRIDEMS__SLURM_ACT_NONE;
    case GRIDEMS__SLURM_RUNNING:
        if (ours->held) {
            /* Held by gridems while pending, then started anyway (a race with the scheduler):
             * the hold only keeps its priority at 0; lift it. */
            return GRIDEMS__SLURM_ACT_RELEASE;
        }
        if (!run) {
            return GRIDEMS__SLURM_ACT_SUSPEND;
        }
        if (p->cap_enabled && (safe || !flexible)) {
            if (ours->cap_w > 0) {
                *cap_w = p->gpu_watts_max; /* lift gridems's cap */
                return GRIDEMS__SLURM_ACT_CAP;
            }
            return GRIDEMS__SLURM_ACT_NONE;
        }
        if (p->cap_enabled) {
            double have = ours->cap_w > 0 ? ours->cap_w : p->gpu_watts_max;
            if (fabs(have - want_w) >= 1.0) {
                *cap_w = want_w;
                return GRIDEMS__SLURM_ACT_CAP;
            }
        }
        return GRIDEMS__SLURM_ACT_NONE;
    case GRIDEMS__SLURM_SUSPENDED:
        if (ours->suspended && run) {
            return GRIDEMS__SLURM_ACT_RESUME;
        }
        return GRIDEMS__SLURM_ACT_NONE;
    default:
        return GRIDEMS__SLURM_ACT_NONE;
    }
}

const char *gridems__slurm_act_name(int act)
{
    switch (act) {
    case GRIDEMS__SLURM_ACT_HOLD:
        return "hold";
    case GRIDEMS__SLURM_ACT_RELEASE:
        return "release";
    case GRIDEMS__SLURM_ACT_SUSPEND:
        return "suspend";
    case GRIDEMS__SLURM_ACT_RESUME:
        return "resume";
    case GRIDEMS__SLURM_ACT_CAP:
        return "power-cap";
    default:
        return "none";
    }
}
