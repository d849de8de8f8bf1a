/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: a private Mosquitto per test, and a small synchronous MQTT client for tests.
 *
 * The broker listens on a free loopback port only, allows anonymous clients and keeps no
 * persistence. Its output goes to a per-test log file that is attached to every failure.
 *
 * Check's fork mode: start the broker from a *checked* fixture or from the test body, so that the
 * process that started it (the test's own child process) is the one that stops, kills or
 * restarts it and reaps it with waitpid(). An unchecked fixture runs in the runner process and
 * works too, as long as the test itself then never stops or restarts that broker. The broker is
 * started with PR_SET_PDEATHSIG, so a test killed by its timeout does not leave it running.
 *
 * Everything here is for test code on one thread; failures abort the current test through
 * Check's ck_abort_msg() unless stated otherwise.
 */
#ifndef GRIDEMS_TEST_BROKER_H
#define GRIDEMS_TEST_BROKER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct broker_s {
    pid_t pid;       /* The running mosquitto, or 0. */
    int port;        /* Loopback port, kept across restarts. */
    char uri[64];    /* "tcp://127.0.0.1:<port>" */
    char *dir;       /* Private directory with mosquitto.conf and mosquitto.log. */
    char *conf_path; /* Owned; freed by broker_cleanup(). */
    char *log_path;  /* Owned; freed by broker_cleanup(). */
    char *extra;     /* Owned: lines added after the listener (broker_start_with), or NULL. */
} broker_t;

/* 1 if a mosquitto executable was found (on PATH, or in /usr/sbin or /usr/local/sbin, where
 * Debian installs it outside an ordinary user's PATH), else 0. An integration test's main()
 * returns 77 (CTest "skipped") when this is 0. Does not abort. */
int broker_available(void);

/* Start a broker on a free loopback port and wait (at most 5 s, polling connect() every 50 ms)
 * until it accepts connections. tag (borrowed) names the temporary directory. Retries with a
 * new port if another process took the chosen one first. Aborts the test, with the broker's log
 * in the message and on stderr, if it does not come up. */
void broker_start(broker_t *b, const char *tag);

/* As broker_start(), with extra lines (copied) written after the listener line: settings of
 * that listener (certfile, keyfile, cafile for TLS) and broker-wide ones (allow_anonymous false,
 * password_file, acl_file). Without "allow_anonymous" in them, anonymous clients are allowed as
 * usual. scheme ("tcp" or "ssl") names the URI's scheme in b->uri. Kept across restarts. */
void broker_start_with(broker_t *b, const char *tag, const char *extra, const char *scheme);

/* Stop the broker: SIGTERM (and SIGCONT, in case it is paused), then SIGKILL if it is still
 * running after 2 s; reaps only its own PID. No-op if it is not running. */
void broker_stop(broker_t *b);

/* Kill the broker with SIGKILL (a crash: no clean close of client connections) and reap it. */
void broker_kill(broker_t *b);

/* Freeze (SIGSTOP) or thaw (SIGCONT) the broker: its connections stay open but nothing is
 * answered, like a hung broker. broker_stop() thaws it first. */
void broker_pause(broker_t *b);
void broker_resume(broker_t *b);

/* Start the broker again on the same port (after broker_stop or broker_kill), for reconnect
 * tests, and wait until it accepts connections. Aborts the test on failure. */
void broker_restart(broker_t *b);

/* Stop the broker if it runs and remove its directory and log. Safe to call twice. (When a
 * failed assertion ends the test process before its teardown runs, as in Check's fork mode, the
 * directory with the broker's log stays in $TMPDIR for inspection, and the broker dies with the
 * test process.) */
void broker_cleanup(broker_t *b);

/* The broker's log so far. Returns a string the caller frees with free(), or NULL. */
char *broker_log(const broker_t *b);

/* ---- ## Synchronous test client (Paho MQTTAsync, waited on with bounded timeouts) ---- */

/*
 * Connect to uri, publish payload (a NUL-terminated string) to topic at QoS 1, wait for the
 * broker's acknowledgement, disconnect. Returns 0, or -1 on any failure or after 5 s (with a
 * line on stderr). Does not abort.
 */
int test_mqtt_publish(const char *uri, const char *topic, const char *payload, int retain);

/*
 * Connect to uri, subscribe to topic (a filter; QoS 1) and wait up to timeout_ms for a message
 * (a retained one counts). On success *payload receives a NUL-terminated copy the caller frees
 * with free(), and 0 is returned; -1 on timeout or failure. Does not abort.
 */
int test_mqtt_wait_message(const char *uri, const char *topic, int timeout_ms, char **payload);

/* As test_mqtt_wait_message(), but skips messages whose payload does not contain needle. */
int test_mqtt_wait_message_match(const char *uri, const char *topic, const char *needle,
                                 int timeout_ms, char **payload);

/*
 * A subscriber that stays connected, for messages that would be missed by subscribing late
 * (non-retained ones). Messages are queued in arrival order.
 */
typedef struct test_mqtt_sub_s test_mqtt_sub_t;

/* Connect, subscribe to topic (QoS 1) and wait for the broker's acknowledgement (5 s max).
 * Returns the subscriber (free it with test_mqtt_sub_stop()) or NULL on failure. */
test_mqtt_sub_t *test_mqtt_sub_start(const char *uri, const char *topic);

/* Wait up to timeout_ms for the next queued message whose payload contains needle (NULL = any);
 * earlier non-matching messages are discarded. On success *payload (may be NULL to discard)
 * receives a copy the caller frees with free(), *topic likewise (may be NULL), and 0 is
 * returned; -1 on timeout. */
int test_mqtt_sub_wait(test_mqtt_sub_t *sub, const char *needle, int timeout_ms, char **topic,
                       char **payload);

/* Number of messages received so far (consumed or not). */
size_t test_mqtt_sub_count(test_mqtt_sub_t *sub);

/* Disconnect and free. NULL is ignored. */
void test_mqtt_sub_stop(test_mqtt_sub_t *sub);

#endif
