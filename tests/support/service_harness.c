/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "service_harness.h"

#include "test_util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

enum { LOG_POLL_MS = 20, EXIT_POLL_MS = 10 };

static int decode_status(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

void test_service_start(test_service_t *s, const char *config_path, const char *log_path)
{
    ck_assert_msg(s->pid == 0, "test_service_start: the service (pid %d) still runs", (int)s->pid);
    if (s->log_path == NULL || strcmp(s->log_path, log_path) != 0) {
        free(s->log_path);
        s->log_path = strdup(log_path);
        ck_assert_ptr_nonnull(s->log_path);
    }
    s->status = -1;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(log_fd >= 0, "open %s: %s", log_path, strerror(errno));
    /* A pipe closed by the exec: the parent waits for that, so that a signal sent as soon as
     * this returns reaches gridems, not the forked test process (which would run the test's
     * own signal handlers). */
    int exec_pipe[2];
    ck_assert_msg(pipe(exec_pipe) == 0, "pipe: %s", strerror(errno));
    fcntl(exec_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(exec_pipe[1], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls until exec: the test process may run Paho threads. */
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
#else
        (void)parent;
#endif
        /* Exec keeps ignored signals ignored and the signal mask: give the service defaults. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execl(GRIDEMS_TEST_BINARY, "gridems", "run", "-c", config_path, (char *)NULL);
        static const char msg[] = "test harness: exec " GRIDEMS_TEST_BINARY " failed\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
    close(log_fd);
    close(exec_pipe[1]);
    char byte;
    while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(exec_pipe[0]);
    s->pid = pid;
}

int test_service_running(test_service_t *s)
{
    if (s->pid <= 0) {
        return 0;
    }
    int status;
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == s->pid) {
        s->status = decode_status(status);
        s->pid = 0;
        return 0;
    }
    if (r < 0 && errno != EINTR) {
        s->pid = 0; /* Not our child any more: nothing to reap. */
        return 0;
    }
    return 1;
}

int test_service_signal(test_service_t *s, int sig)
{
    if (!test_service_running(s)) {
        return -1;
    }
    return kill(s->pid, sig) == 0 ? 0 : -1;
}

int test_service_wait_exit(test_service_t *s, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    while (test_service_running(s)) {
        if (test_now_ms() > deadline) {
            return -1;
        }
        test_sleep_ms(EXIT_POLL_MS);
    }
    return s->status;
}

void test_service_kill(test_service_t *s)
{
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, SIGKILL);
    int status;
    pid_t r;
    while ((r = waitpid(s->pid, &status, 0)) < 0 && errno == EINTR) {
    }
    s->status = r == s->pid ? decode_status(status) : -1;
    s->pid = 0;
}

void test_service_cleanup(test_service_t *s)
{
    test_service_kill(s);
    free(s->log_path);
    s->log_path = NULL;
}

char *test_service_log(const test_service_t *s)
{
    return s->log_path != NULL ? test_read_file(s->log_path, NULL) : NULL;
}

size_t test_service_log_size(const test_service_t *s)
{
    struct stat st;
    if (s->log_path == NULL || stat(s->log_path, &st) != 0) {
        return 0;
    }
    return (size_t)st.st_size;
}

static int log_has(const test_service_t *s, size_t from, const char *needle)
{
    size_t len = 0;
    char *log = s->log_path != NULL ? test_read_file(s->log_path, &len) : NULL;
    int found = log != NULL && len > from && strstr(log + from, needle) != NULL;
    free(log);
    return found;
}

int test_service_wait_log(test_service_t *s, size_t from, const char *needle, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        if (log_has(s, from, needle)) {
            return 1;
        }
        /* A service that ended writes nothing more: one last look, then give up. */
        if (!test_service_running(s)) {
            return log_has(s, from, needle);
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(LOG_POLL_MS);
    }
}

int test_count_substr(const char *text, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    if (text == NULL || len == 0) {
        return 0;
    }
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + len, needle)) {
        n++;
    }
    return n;
}

const char *test_sanitizer_report(const char *text)
{
    /* ThreadSanitizer reports races as "WARNING: ThreadSanitizer: data race". */
    static const char *const markers[] = {"ERROR: AddressSanitizer",
                                          "runtime error:", "LeakSanitizer", "ThreadSanitizer:"};
    const char *first = NULL;
    if (text == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        const char *p = strstr(text, markers[i]);
        if (p != NULL && (first == NULL || p < first)) {
            first = p;
        }
    }
    return first;
}
