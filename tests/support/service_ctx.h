/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: everything one test of the running service owns, and failing with all of it
 * cleaned up. Used by the integration tests that run `gridems run` as a child process
 * (test_service, test_reliability, test_faults, test_security).
 *
 * One context per test process: Check's fork mode runs each test in a process of its own, so the
 * one global `ctx` serves every test. service_ctx_init() zeroes it and makes a private temporary
 * directory with the paths of the config, the service's log and its state_dir, and the site's
 * topics under "gridems/<site>"; the test starts the broker (broker.h) and the service
 * (service_harness.h) itself, in the order it needs. REQUIRE() is ck_assert_msg() that first
 * prints the service's log (and, when asked, mosquitto's), kills the service, stops the broker
 * and removes the directory: Check's fork mode skips the rest of a failed test, so nothing else
 * would.
 *
 * Test code on one thread.
 */
#ifndef GRIDEMS_TEST_SERVICE_CTX_H
#define GRIDEMS_TEST_SERVICE_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "broker.h"
#include "mqtt_wire.h"
#include "service_harness.h"

enum {
    SERVICE_CTX_PATH_LEN = 1024, /* the test's own paths */
    SERVICE_CTX_TOPIC_LEN = 192,
    SERVICE_CTX_STOP_MS = 5000 /* "a few seconds" for SIGTERM (docs/service.md) */
};

typedef struct service_ctx_s {
    broker_t broker;
    test_service_t svc;
    bool expect_running; /* waits fail at once if the service ends while this is set */
    char *dir;           /* the test's temporary directory (owned) */
    char cfg_path[SERVICE_CTX_PATH_LEN];
    char log_path[SERVICE_CTX_PATH_LEN];
    char state_dir[SERVICE_CTX_PATH_LEN];
    char site[64];
    char prefix[128]; /* "gridems/<site>" */
    char t_status[SERVICE_CTX_TOPIC_LEN];
    char t_schedule[SERVICE_CTX_TOPIC_LEN];
    char t_state[SERVICE_CTX_TOPIC_LEN];
    char t_price[SERVICE_CTX_TOPIC_LEN];
    char t_cmd[SERVICE_CTX_TOPIC_LEN];
    wire_t *bus; /* the test's own MQTT connection: publishes, and receives what it watches */
    /* What a failure prints: the last log_tail_bytes of the service's log (0: all of it), and
     * mosquitto's log too when print_broker_log is set. */
    size_t log_tail_bytes;
    bool print_broker_log;
} service_ctx_t;

extern service_ctx_t ctx;

/* Zero ctx and make its directory, paths and topics for site (also the directory's tag). */
void service_ctx_init(const char *site);

/* Fail the test unless each plugin's shared object (gridems_<name>.so) is in
 * GRIDEMS_TEST_PLUGIN_DIR: a missing target is named, not left to a confusing start-up log. */
void service_ctx_require_plugins(const char *const *names, size_t n);

/* Kill the service if it runs, close the bus, stop the broker, remove the directory. Safe to
 * call twice. */
void service_ctx_release(void);

/* Print the logs, release everything and end the test as failed (REQUIRE's back end). */
void service_ctx_abort(const char *file, int line, const char *expr, const char *msg)
    __attribute__((noreturn));

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char require_msg_[4096];                                                               \
            snprintf(require_msg_, sizeof require_msg_, __VA_ARGS__);                              \
            service_ctx_abort(__FILE__, __LINE__, #cond, require_msg_);                            \
        }                                                                                          \
    } while (0)

/* Fail the test when the service's log holds a sanitizer report (in a -DGRIDEMS_SANITIZE build
 * the service runs sanitized too). */
void service_ctx_check_log_clean(void);

/* SIGTERM the service (it must exit 0 within SERVICE_CTX_STOP_MS), check its log, release
 * everything: how every test that leaves the service running ends. */
void service_ctx_finish(void);

#endif
