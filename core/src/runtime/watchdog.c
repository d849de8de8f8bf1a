/* SPDX-License-Identifier: GPL-3.0-or-later */
/* systemd notifications and the stop deadline (watchdog.h). */
#include "watchdog.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"

/* ---- ## The stop deadline's thread ---- */

/* Only write(2) here: the loop thread may be stuck holding anything, even the log's lock. */
static void die(const char *why)
{
    char line[256];
    int n = snprintf(line, sizeof line, "gridems: %s; exiting (status 1)\n", why);
    if (n > 0) {
        ssize_t wrote =
            write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)wrote;
    }
    _exit(1);
}

static void on_grace(uv_timer_t *t)
{
    gridems_watchdog_t *w = t->data;
    if (!atomic_load(&w->stopping)) {
        char why[160];
        snprintf(why, sizeof why,
                 "the event loop did not begin the shutdown within %d ms of the signal (it is "
                 "stuck in a call)",
                 GRIDEMS_STOP_GRACE_MS);
        die(why);
    }
}

static void on_limit(uv_timer_t *t)
{
    gridems_watchdog_t *w = t->data;
    char why[160];
    snprintf(why, sizeof why, "the shutdown did not finish within %lld ms of the signal",
             (long long)w->limit_ms);
    die(why);
}

static void on_tsignal(uv_signal_t *s, int signum)
{
    gridems_watchdog_t *w = s->data;
    (void)signum;
    if (!uv_is_active((uv_handle_t *)&w->tlimit)) {
        uv_timer_start(&w->tgrace, on_grace, GRIDEMS_STOP_GRACE_MS, 0);
        uv_timer_start(&w->tlimit, on_limit, (uint64_t)w->limit_ms, 0);
    }
}

static void on_tquit(uv_async_t *a)
{
    gridems_watchdog_t *w = a->data;
    uv_close((uv_handle_t *)&w->tsig_term, NULL);
    uv_close((uv_handle_t *)&w->tsig_int, NULL);
    uv_close((uv_handle_t *)&w->tgrace, NULL);
    uv_close((uv_handle_t *)&w->tlimit, NULL);
    uv_close((uv_handle_t *)&w->tquit, NULL);
}

static void *deadline_main(void *arg)
{
    gridems_watchdog_t *w = arg;
    uv_run(&w->tloop, UV_RUN_DEFAULT);
    return NULL;
}

static int start_thread(gridems_watchdog_t *w)
{
    if (uv_loop_init(&w->tloop) != 0) {
        return -1;
    }
    uv_signal_init(&w->tloop, &w->tsig_term);
    uv_signal_init(&w->tloop, &w->tsig_int);
    uv_timer_init(&w->tloop, &w->tgrace);
    uv_timer_init(&w->tloop, &w->tlimit);
    uv_async_init(&w->tloop, &w->tquit, on_tquit);
    w->tsig_term.data = w->tsig_int.data = w->tgrace.data = w->tlimit.data = w->tquit.data = w;
    uv_signal_start(&w->tsig_term, on_tsignal, SIGTERM);
    uv_signal_start(&w->tsig_int, on_tsignal, SIGINT);
    if (pthread_create(&w->thread, NULL, deadline_main, w) != 0) {
        on_tquit(&w->tquit);
        uv_run(&w->tloop, UV_RUN_DEFAULT);
        uv_loop_close(&w->tloop);
        return -1;
    }
    w->thread_started = true;
    return 0;
}

/* ---- ## systemd ---- */

static void on_ping(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

int gridems__watchdog_start(gridems_watchdog_t *w, uv_loop_t *loop, int64_t limit_ms)
{
    w->limit_ms = limit_ms;
    atomic_store(&w->stopping, 0);
    if (start_thread(w) != 0) {
        gridems_log_warn("cannot start the stop-deadline thread; a stuck plugin call can delay "
                         "SIGTERM");
    }
    const char *sock = getenv("NOTIFY_SOCKET");
    w->notify = sock != NULL && sock[0] != '\0';
    uint64_t usec = 0;
    if (w->notify && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        /* Half the period, as sd_watchdog_enabled(3) advises; at least every 10 ms. */
        w->ping_ms = usec / 2000 > 10 ? usec / 2000 : 10;
        uv_timer_init(loop, &w->ping);
        w->ping.data = w;
        w->ping_open = true;
        uv_timer_start(&w->ping, on_ping, 0, w->ping_ms);
        gridems_log_info("systemd watchdog: WATCHDOG=1 every %llu ms",
                         (unsigned long long)w->ping_ms);
    }
    return 0;
}

void gridems__watchdog_ready(gridems_watchdog_t *w)
{
    if (w->notify) {
        sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long)getpid());
    }
}

void gridems__watchdog_stopping(gridems_watchdog_t *w)
{
    atomic_store(&w->stopping, 1);
    if (w->notify) {
        sd_notify(0, "STOPPING=1");
    }
}

void gridems__watchdog_close_loop_handles(gridems_watchdog_t *w, uv_close_cb cb)
{
    if (w->ping_open) {
        w->ping_open = false;
        uv_timer_stop(&w->ping);
        uv_close((uv_handle_t *)&w->ping, cb);
    }
}

void gridems__watchdog_join(gridems_watchdog_t *w)
{
    if (!w->thread_started) {
        return;
    }
    uv_async_send(&w->tquit);
    pthread_join(w->thread, NULL);
    uv_loop_close(&w->tloop);
    w->thread_started = false;
}
