/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cluster_slurm: posix_spawn with pipes and a deadline (see slurm_exec.h). */
#define _GNU_SOURCE /* pipe2 */
#include "slurm_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gridems/errors.h"

extern char **environ;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Read what is available on *fd into buf (growing it up to max bytes, dropping the rest).
 * Closes *fd at EOF or on error. */
static void drain(int *fd, char **buf, size_t *len, size_t *cap, size_t max, int *truncated)
{
    char chunk[4096];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    size_t take = (size_t)n;
    if (*len + take > max) {
        take = max - *len;
        *truncated = 1;
    }
    if (take == 0) {
        return;
    }
    if (*len + take + 1 > *cap) {
        size_t ncap = *cap == 0 ? 8192 : *cap;
        while (ncap < *len + take + 1) {
            ncap *= 2;
        }
        char *nb = realloc(*buf, ncap);
        if (nb == NULL) {
            *truncated = 1;
            return;
        }
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, chunk, take);
    *len += take;
    (*buf)[*len] = '\0';
}

int gridems__slurm_run(char *const argv[], int timeout_ms, size_t max_out, gridems__slurm_run_t *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
        snprintf(r->err, sizeof r->err, "pipe: %s", strerror(errno));
        close_fd(&out_pipe[0]);
        close_fd(&out_pipe[1]);
        return GRIDEMS_EIO;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    /* Its own process group, so that a timeout kills whatever it started too; default signal
     * dispositions and an empty mask, whatever the host's threads have blocked. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[1]);
    if (rc != 0) {
        snprintf(r->err, sizeof r->err, "cannot run %s: %s", argv[0], strerror(rc));
        close_fd(&out_pipe[0]);
        close_fd(&err_pipe[0]);
        return GRIDEMS_ENOENT;
    }
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);

    size_t out_cap = 0;
    char *errbuf = NULL;
    size_t err_len = 0, err_cap = 0;
    int err_trunc = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    int exited = 0;
    int wstatus = 0;
    while (!exited || out_pipe[0] >= 0 || err_pipe[0] >= 0) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            r->timed_out = 1;
            break;
        }
        if (!exited) {
            pid_t w = waitpid(pid, &wstatus, WNOHANG);
            if (w == pid) {
                exited = 1;
            }
        }
        if (out_pipe[0] < 0 && err_pipe[0] < 0) {
            if (exited) {
                break;
            }
            /* Both pipes closed but the child runs on: poll its exit every 10 ms. */
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd[2];
        int np = 0;
        int io = -1, ie = -1;
        if (out_pipe[0] >= 0) {
            io = np;
            pfd[np++] = (struct pollfd){.fd = out_pipe[0], .events = POLLIN};
        }
        if (err_pipe[0] >= 0) {
            ie = np;
            pfd[np++] = (struct pollfd){.fd = err_pipe[0], .events = POLLIN};
        }
        /* Wake at least every 50 ms to notice the exit of a child whose grandchildren keep the
         * pipes open. */
        int wait = left < 50 ? (int)left : 50;
        int pr = poll(pfd, (nfds_t)np, wait);
        if (pr < 0 && errno != EINTR) {
            break;
        }
        if (pr > 0) {
            if (io >= 0 && (pfd[io].revents & (POLLIN | POLLHUP | POLLERR))) {
                drain(&out_pipe[0], &r->out, &r->out_len, &out_cap, max_out, &r->out_truncated);
            }
            if (ie >= 0 && (pfd[ie].revents & (POLLIN | POLLHUP | POLLERR))) {
                drain(&err_pipe[0], &errbuf, &err_len, &err_cap, sizeof r->err - 1, &err_trunc);
            }
        }
        if (exited && out_pipe[0] < 0 && err_pipe[0] < 0) {
            break;
        }
        if (exited && pr == 0) {
            /* Exited, and the pipes are quiet: something it started holds them. The command is
             * done; what it left in its process group goes with it. */
            kill(-pid, SIGKILL);
            break;
        }
    }
    if (!exited) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
        }
    } else if (r->timed_out) {
        kill(-pid, SIGKILL); /* the leader exited, something in its group kept the pipes */
    }
    close_fd(&out_pipe[0]);
    close_fd(&err_pipe[0]);
    if (r->out == NULL) {
        r->out = calloc(1, 1);
        if (r->out == NULL) {
            free(errbuf);
            snprintf(r->err, sizeof r->err, "out of memory");
            return GRIDEMS_ENOMEM;
        }
    }
    if (errbuf != NULL) {
        snprintf(r->err, sizeof r->err, "%s", errbuf);
        free(errbuf);
    }
    /* stderr on one line for the log */
    for (char *c = r->err; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r') {
            *c = *(c + 1) == '\0' ? '\0' : ' ';
        }
    }
    if (WIFEXITED(wstatus)) {
        r->status = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        r->status = 128 + WTERMSIG(wstatus);
    }
    if (r->timed_out && !exited) {
        snprintf(r->err, sizeof r->err, "%s: no answer within %d ms (killed)", argv[0], timeout_ms);
        return GRIDEMS_ETIMEDOUT;
    }
    if (r->status != 0) {
        if (r->err[0] == '\0') {
            snprintf(r->err, sizeof r->err, "%s exited with status %d", argv[0], r->status);
        }
        return GRIDEMS_EIO;
    }
    return 0;
}

void gridems__slurm_run_free(gridems__slurm_run_t *r)
{
    free(r->out);
    memset(r, 0, sizeof *r);
}
