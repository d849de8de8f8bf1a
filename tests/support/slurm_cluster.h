/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: a real one-node Slurm (Debian's slurm-wlm 22.05 and munge) started by the test
 * in a private directory, in about a second:
 *   - munged with its own key, socket in a 0755 directory, in the foreground;
 *   - slurmctld -D -i and slurmd -D -N <node> with a minimal slurm.conf (auth/munge,
 *     proctrack/linuxproc, task/none, no accounting, select/cons_tres, GresTypes=gpu, free
 *     loopback ports) and a gres.conf listing fake GPUs made with mknod c 1 3 (/dev/null's
 *     numbers);
 *   - SLURM_CONF set in the test process's environment, so the client tools the test and its
 *     children (the service, its plugin) run talk to this cluster.
 * Every readiness wait has a deadline and checks that the daemon is still alive. Daemons get
 * PR_SET_PDEATHSIG(SIGKILL): a test that dies takes them with it. Stopping cancels every job,
 * asks `scontrol shutdown`, waits for the daemons' own pids, and kills only those pids if they
 * outstay the deadline.
 *
 * Needs root (mknod, SlurmUser=root). Test code on one thread; only the process that started
 * the cluster may stop it. Functions do not abort the test unless stated.
 */
#ifndef GRIDEMS_TEST_SLURM_CLUSTER_H
#define GRIDEMS_TEST_SLURM_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct slurm_cluster_s {
    char *dir;      /* owned private directory (config, state, logs, fake GPUs) */
    char conf[512]; /* slurm.conf path (also in $SLURM_CONF) */
    char node[32];  /* the node's name in slurm.conf */
    int gpus;       /* fake GPUs on the node */
    pid_t munged;   /* running daemons, or 0 */
    pid_t slurmctld;
    pid_t slurmd;
    char why[1024]; /* why start failed (a reason to skip), with the daemon's log tail */
} slurm_cluster_t;

/* Start munged, slurmctld and slurmd; returns 0 when the node is idle and accepts jobs, or -1
 * with c->why saying why Slurm cannot start here (not root, a missing binary, a daemon that
 * exits or is not ready within its deadline); everything started is stopped again then.
 * tag (borrowed) names the temporary directory. */
int slurm_cluster_start(slurm_cluster_t *c, const char *tag, int gpus);

/* Stop slurmctld alone (SIGTERM to its pid, wait for it to exit, SIGKILL after 10 s): a
 * controller that went away. Returns 0, or -1 if it was not running. */
int slurm_cluster_stop_controller(slurm_cluster_t *c);

/* Start slurmctld again (without -i: it recovers its saved jobs) and wait until it answers.
 * Returns 0, or -1 with c->why. */
int slurm_cluster_start_controller(slurm_cluster_t *c);

/* Run a Slurm client tool (argv[0] "squeue", "sbatch", ...; searched in PATH) against the
 * cluster, capturing stdout (may be NULL). Returns the exit status, -1 if it could not run. */
int slurm_cluster_run(slurm_cluster_t *c, char *const argv[], char **out, char **err);

/* The job's state and reason from squeue ("RUNNING None", "PENDING JobHeldAdmin"), or "" when
 * squeue does not list it. out receives at most size bytes. */
void slurm_cluster_job_state(slurm_cluster_t *c, const char *id, char *out, size_t size);

/* Cancel every job, shut the daemons down, wait for their pids, remove the directory. Safe to
 * call twice and on a cluster that never started. */
void slurm_cluster_stop(slurm_cluster_t *c);

#endif
