/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Child processes and private files of a run that starts its own servers (the backtest and the
 * demo start a private mosquitto): a temporary directory, a free loopback port, and children
 * in their own process group (a Ctrl-C at the terminal reaches only the parent, which stops
 * them in order), stopped by their pid, never by name.
 * Threads: the main thread.
 */
#ifndef GRIDEMS_CHILD_PROC_H
#define GRIDEMS_CHILD_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Set by the signal handler: SIGINT, SIGTERM or SIGHUP asked the run to stop. */
extern volatile int gridems_child_stop_signal;

/* Install the handlers that set gridems_child_stop_signal (and ignore SIGPIPE). */
void gridems_child_install_signals(void);

/* A fresh private directory under $TMPDIR or /tmp; 0 or -1 (errno set). */
int gridems_child_make_temp_dir(char *out, size_t len);

/* Remove a directory tree that the run created (no symlinks are followed). */
void gridems_child_remove_tree(const char *path);

/* A loopback TCP port that is free now (the kernel picks it), or -1. */
int gridems_child_free_port(void);

/* The mosquitto binary: on PATH, else /usr/sbin/mosquitto. NULL when there is none. */
const char *gridems_child_find_mosquitto(char *buf, size_t len);

/*
 * Start argv[0] with argv in its own process group, stdout and stderr appended to log_path
 * (NULL: inherited). The child gets SIGTERM if the parent dies. Returns the pid or -1.
 */
pid_t gridems_child_spawn(char *const argv[], const char *log_path);

/* Has the child exited? 1 with *status (a waitpid status) when it has, 0 when it runs, -1 on
 * error. Reaps it. */
int gridems_child_exited(pid_t pid, int *status);

/* Send sig to the child and wait up to timeout_ms for it to exit; SIGKILL it after that.
 * Returns the waitpid status (or -1 when it could not be reaped); *killed is set when SIGKILL
 * was needed. */
int gridems_child_stop(pid_t pid, int sig, int timeout_ms, int *killed);

/* Milliseconds of a monotonic clock. */
int64_t gridems_child_mono_ms(void);

/* Print the last max_lines lines of a log file to stderr, indented. */
void gridems_child_print_log_tail(const char *path, int max_lines);

/* A private mosquitto for one run: loopback only, no accounts, nothing on disk, no in-flight
 * limit (the lockstep relies on one connection's messages arriving in order). */
typedef struct gridems_broker_s {
    pid_t pid;
    int port;
    char log_path[4200];
} gridems_broker_t;

/*
 * Start one in dir (its config and log go there) and wait, up to a deadline, until it accepts
 * connections. Returns 0, or -1 with a one-line reason in err.
 */
int gridems_broker_start(gridems_broker_t *b, const char *dir, char *err, size_t errlen);

/* Stop it (SIGTERM, then SIGKILL after 2 s) by its pid. */
void gridems_broker_stop(gridems_broker_t *b);

#endif
