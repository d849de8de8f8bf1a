/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support for the SunSpec integration tests: the Modbus peers (sunspec_server, the
 * pymodbus server) as child processes, and the gridems service around them.
 *
 * A peer's stdout and stderr go to a log file; peer_start waits (bounded, checking the child is
 * alive) for its "listening PORT" line. Children get PR_SET_PDEATHSIG(SIGKILL) so a failed test
 * does not leave them running; every function signals only its own child's pid. Test code, one
 * thread; failures abort the current test through Check.
 */
#ifndef GRIDEMS_TEST_SUNSPEC_PEER_H
#define GRIDEMS_TEST_SUNSPEC_PEER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct peer_s {
    pid_t pid;
    int port;
    char log_path[512];
} peer_t;

/* Start argv (argv[0] a path) with output to log_path; wait up to 10 s for "listening PORT".
 * Returns 0, or 77 when the child exits 77 (its dependency is missing: skip). */
int peer_start(peer_t *p, char *const argv[], const char *log_path);

/* Signal the peer (SIGSTOP, SIGCONT, SIGUSR1, SIGUSR2). */
void peer_signal(peer_t *p, int sig);

/* Stop it (SIGCONT, SIGTERM, SIGKILL after 3 s) and reap it. No-op when not running. */
void peer_stop(peer_t *p);

/* The peer's log size now (an offset for peer_wait_log). */
size_t peer_log_size(const peer_t *p);

/* Wait up to timeout_ms until the peer's log, from byte `from`, holds needle. 1 found, 0 not. */
int peer_wait_log(const peer_t *p, size_t from, const char *needle, int timeout_ms);

#endif
