/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Modbus peers as child processes; see sunspec_peer.h. */
#include "sunspec_peer.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

enum { POLL_MS = 20 };

int peer_start(peer_t *p, char *const argv[], const char *log_path)
{
    memset(p, 0, sizeof *p);
    snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    double deadline = test_now_ms() + 10000;
    while (test_now_ms() < deadline) {
        char *log = test_read_file(log_path, NULL);
        const char *at = log != NULL ? strstr(log, "listening ") : NULL;
        if (at != NULL && strchr(at, '\n') != NULL) {
            p->port = atoi(at + 10);
            free(log);
            return 0;
        }
        free(log);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
                return 77;
            }
            char *text = test_read_file(log_path, NULL);
            ck_abort_msg("%s exited (status %d) before listening:\n%s", argv[0], status,
                         text != NULL ? text : "");
        }
        test_sleep_ms(POLL_MS);
    }
    ck_abort_msg("%s did not listen within 10 s", argv[0]);
    return -1;
}

void peer_signal(peer_t *p, int sig)
{
    ck_assert_msg(p->pid > 0, "the peer does not run");
    ck_assert_int_eq(kill(p->pid, sig), 0);
}

void peer_stop(peer_t *p)
{
    if (p->pid <= 0) {
        return;
    }
    kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    double deadline = test_now_ms() + 3000;
    int status;
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (test_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        test_sleep_ms(POLL_MS);
    }
    p->pid = 0;
}

size_t peer_log_size(const peer_t *p)
{
    struct stat st;
    return stat(p->log_path, &st) == 0 ? (size_t)st.st_size : 0;
}

int peer_wait_log(const peer_t *p, size_t from, const char *needle, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        size_t len = 0;
        char *log = test_read_file(p->log_path, &len);
        int found = log != NULL && len >= from && strstr(log + from, needle) != NULL;
        free(log);
        if (found) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(POLL_MS);
    }
}
