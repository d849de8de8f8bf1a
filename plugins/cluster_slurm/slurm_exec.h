/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cluster_slurm: run one command without a shell, with a timeout, capturing its output.
 *
 * The plugin sees only the host API (no libuv), so commands run inside a queue_work() item: this
 * function blocks its pool thread, never the loop. It uses posix_spawn() with the argument vector
 * as given (no shell, so no quoting or word-splitting of job ids, paths or comments), stdin from
 * /dev/null, stdout and stderr into pipes, the child in its own process group. At the deadline
 * the whole group gets SIGKILL and the child is reaped; so does whatever the command left
 * behind in its group holding the pipes after it exited. Nothing here touches process-wide state
 * besides the child it creates, so several calls may run on different threads at once.
 *
 * Thread: any (meant for work_fn). Owns nothing after it returns except the result it fills.
 */
#ifndef GRIDEMS_SLURM_EXEC_H
#define GRIDEMS_SLURM_EXEC_H

#include <stddef.h>

typedef struct gridems__slurm_run_s {
    int status;        /* exit code 0..255, 128+signal if killed, -1 if it never ran */
    int timed_out;     /* 1: killed at the deadline */
    char *out;         /* stdout, NUL-terminated, owned: free() it; NULL on failure to start */
    size_t out_len;    /* bytes in out (without the NUL) */
    int out_truncated; /* stdout was longer than max_out; the rest was read and dropped */
    char err[512];     /* the start of stderr, or why the command could not run */
} gridems__slurm_run_t;

/*
 * Run argv[0] (a path, or a name searched in PATH) with argv (NULL-terminated, borrowed) and
 * the process's environment, for at most timeout_ms. Keeps at most max_out bytes of stdout.
 * Fills *r (the caller frees r->out). Returns 0 when the command ran and exited 0; otherwise a
 * negative GRIDEMS_E* code (GRIDEMS_ETIMEDOUT, GRIDEMS_EIO for a non-zero exit, GRIDEMS_ENOENT
 * when it could not be started, GRIDEMS_ENOMEM), with r->err saying why.
 */
int gridems__slurm_run(char *const argv[], int timeout_ms, size_t max_out, gridems__slurm_run_t *r);

/* Release what *r owns and zero it. */
void gridems__slurm_run_free(gridems__slurm_run_t *r);

#endif
