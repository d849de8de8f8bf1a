/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support for the HTTP API, the dashboard and the metrics: the simulated site (battery,
 * load meter, GPU cluster) run by the real `gridems run` with an "http" section, on a private
 * mosquitto, with the JEPX prices published so it plans; and a minimal HTTP/1.1 client.
 *
 * The service listens on port 0 (any free port): the port is read from its log line
 * "http: listening on http://127.0.0.1:PORT/", so no port can be taken by another test between
 * choosing and binding it.
 *
 * Test code on one thread. Functions abort the test (ck_abort_msg) where stated; the service and
 * the broker die with the test process (PR_SET_PDEATHSIG).
 */
#ifndef GRIDEMS_TEST_HTTP_SITE_H
#define GRIDEMS_TEST_HTTP_SITE_H

#include <stddef.h>
#include <sys/types.h>

#include "broker.h"
#include "service_harness.h"

typedef struct http_site_s {
    broker_t broker;
    test_service_t svc;
    char *dir; /* private temporary directory (config, log, state) */
    char cfg_path[1100];
    char log_path[1100];
    char site[64];
    char prefix[128]; /* MQTT topic prefix */
    int port;         /* the service's HTTP port */
} http_site_t;

/*
 * Start broker and service for site id `site`, the config's "http" section being http_json (e.g.
 * "{\"listen\": \"127.0.0.1:0\"}"), wait for the HTTP port, publish the JEPX prices (retained)
 * and wait (up to 20 s) until GET /api/v1/schedule answers 200 with credentials auth ("user:pass",
 * or NULL). Aborts the test on failure, with the service's log.
 */
void http_site_start(http_site_t *s, const char *site, const char *http_json, const char *auth);

/* SIGTERM the service, expect exit 0 within 5 s and no sanitizer report in its log; stop the broker
 * and remove the directory. Aborts the test on failure. */
void http_site_stop(http_site_t *s);

/* Kill everything (after a failure). Safe to call twice. */
void http_site_cleanup(http_site_t *s);

/* Abort the test with msg and the service's log. */
void http_site_fail(http_site_t *s, const char *msg) __attribute__((noreturn));

/* One HTTP response. */
typedef struct http_resp_s {
    int status;    /* -1: no response */
    char *headers; /* the header block, NUL-terminated */
    char *body;    /* NUL-terminated (body_len bytes before it) */
    size_t body_len;
} http_resp_t;

/*
 * One request to 127.0.0.1:port (Connection: close). auth ("user:password", or NULL) becomes a
 * Basic Authorization header; body (may be NULL) is sent with a Content-Length. Waits at most
 * timeout_ms. Returns 0 with *out filled (free it with http_resp_free), -1 when no response came.
 * Does not abort.
 */
int http_request(int port, const char *method, const char *path, const char *auth, const char *body,
                 int timeout_ms, http_resp_t *out);

/* The value of header name (case-insensitive) in r, copied into out; 0, or -1 when absent. */
int http_header(const http_resp_t *r, const char *name, char *out, size_t size);

void http_resp_free(http_resp_t *r);

/* 1 when an executable named name is on PATH (or in /usr/sbin, /usr/bin, /sbin); its path is
 * written to out. */
int test_find_program(const char *name, char *out, size_t size);

/* Start argv[0] with output appended to log_path, stdin /dev/null, PR_SET_PDEATHSIG(SIGKILL).
 * Returns the pid; aborts the test if it cannot fork. */
pid_t test_spawn(char *const argv[], const char *log_path);

/* SIGTERM pid, wait up to timeout_ms, then SIGKILL; reaps it. Returns its exit status (0..255,
 * 128+signal) or -1. */
int test_stop_pid(pid_t pid, int timeout_ms);

/* A free loopback TCP port (bound and released: use it at once). */
int test_free_port(void);

#endif
