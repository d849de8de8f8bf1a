/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: the real `gridems run -c CONFIG` as a child process of the test.
 *
 * The service's stdout and stderr are appended to one log file per test (so a restarted service
 * continues the same file; remember test_service_log_size() before a start to look at one run
 * only). The child gets PR_SET_PDEATHSIG(SIGKILL), so a test that dies (a failed assertion in
 * Check's fork mode, or a timeout) takes its service with it. Only the test process that started
 * a service may signal, wait for or reap it; every function touches its own PID only.
 *
 * Test code on one thread. Functions abort the current test through ck_abort_msg() only where
 * stated.
 */
#ifndef GRIDEMS_TEST_SERVICE_HARNESS_H
#define GRIDEMS_TEST_SERVICE_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct test_service_s {
    pid_t pid;      /* The running service, or 0. */
    int status;     /* How the last run ended: 0..255 exit code, 128+signal; -1 while unknown. */
    char *log_path; /* Owned copy; stdout and stderr of every run, appended. */
} test_service_t;

/* Start GRIDEMS_TEST_BINARY run -c config_path with its output appended to log_path (created
 * if needed). s must be zeroed or cleaned up before the first start; a service that still runs
 * is an error. Aborts the test if the process cannot be started. */
void test_service_start(test_service_t *s, const char *config_path, const char *log_path);

/* 1 while the service runs, 0 once it has ended (it is reaped and s->status set). */
int test_service_running(test_service_t *s);

/* Send sig to the running service. Returns 0, or -1 if it does not run. */
int test_service_signal(test_service_t *s, int sig);

/* Wait up to timeout_ms for the service to end and reap it. Returns its status (0..255, or
 * 128+signal), or -1 if it still runs after timeout_ms (it is left running). */
int test_service_wait_exit(test_service_t *s, int timeout_ms);

/* SIGKILL the service (a crash) and reap it. No-op if it does not run. */
void test_service_kill(test_service_t *s);

/* Kill the service if it still runs, and free what s owns (the log file stays). Safe to call
 * twice. */
void test_service_cleanup(test_service_t *s);

/* The whole log so far (free() it), or NULL. */
char *test_service_log(const test_service_t *s);

/* The log's current size in bytes: an offset for test_service_wait_log(). */
size_t test_service_log_size(const test_service_t *s);

/* Wait up to timeout_ms (polling every 20 ms) until the log, from byte offset `from` on,
 * contains needle. Returns 1 when found, 0 on timeout or when the service ended without
 * writing it. */
int test_service_wait_log(test_service_t *s, size_t from, const char *needle, int timeout_ms);

/* Number of (non-overlapping) occurrences of needle in text. */
int test_count_substr(const char *text, const char *needle);

/* The first sanitizer report in text ("ERROR: AddressSanitizer", "runtime error:",
 * "LeakSanitizer"), or NULL when there is none. */
const char *test_sanitizer_report(const char *text);

#endif
