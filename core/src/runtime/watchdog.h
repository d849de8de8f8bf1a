/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The process-level bounds on a stuck loop (docs/service.md, "Reliability"):
 *
 *   - systemd: READY=1 once the service runs, STOPPING=1 when the shutdown begins, and, when
 *     systemd asks for it ($WATCHDOG_USEC, $WATCHDOG_PID: WatchdogSec= in the unit), WATCHDOG=1
 *     from a timer on the loop at half that period. Only the loop sends it, so a loop stuck in a
 *     plugin call stops the pings and systemd restarts the process. Without $NOTIFY_SOCKET
 *     nothing is sent.
 *   - the stop deadline: a thread of its own, with its own libuv loop listening for SIGTERM and
 *     SIGINT (libuv delivers a signal to every loop that watches it). When the service's loop has
 *     not begun the shutdown within GRIDEMS_STOP_GRACE_MS of the signal (it is stuck in a call),
 *     or the shutdown has not ended within the limit given to start, the thread logs why and ends
 *     the process with _exit(1). The broker then publishes the last will (offline).
 *
 * Thread: start, began_stopping, ready and close on the loop thread; the deadline thread touches
 * only its own loop and one atomic flag.
 */
#ifndef GRIDEMS_WATCHDOG_H
#define GRIDEMS_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How long a SIGTERM may wait for the loop to begin the shutdown. */
#define GRIDEMS_STOP_GRACE_MS 2000

typedef struct gridems_watchdog_s {
    bool notify;     /* $NOTIFY_SOCKET is set */
    uv_timer_t ping; /* WATCHDOG=1, when systemd asks for it */
    bool ping_open;
    uint64_t ping_ms;
    /* The stop deadline's thread. */
    bool thread_started;
    pthread_t thread;
    uv_loop_t tloop;
    uv_signal_t tsig_term;
    uv_signal_t tsig_int;
    uv_timer_t tgrace;
    uv_timer_t tlimit;
    uv_async_t tquit;
    int64_t limit_ms;
    atomic_int stopping; /* the loop began the shutdown */
} gridems_watchdog_t;

/* Start both (w zeroed by the caller). limit_ms: the whole shutdown's bound from the signal.
 * Returns 0; a failure to start the thread is logged and leaves only the loop's own limit. */
int gridems__watchdog_start(gridems_watchdog_t *w, uv_loop_t *loop, int64_t limit_ms);
/* READY=1 (once start-up is done). */
void gridems__watchdog_ready(gridems_watchdog_t *w);
/* STOPPING=1, and the deadline thread learns the loop is shutting down. */
void gridems__watchdog_stopping(gridems_watchdog_t *w);
/* Close the ping timer (the loop is closing its handles). */
void gridems__watchdog_close_loop_handles(gridems_watchdog_t *w, uv_close_cb cb);
/* Stop and join the deadline thread (after the loop ended). */
void gridems__watchdog_join(gridems_watchdog_t *w);

#endif
