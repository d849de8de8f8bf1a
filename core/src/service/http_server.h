/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A small HTTP/1.1 server (GNU libmicrohttpd) driven by a libuv loop: no thread of its own.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no internal polling thread. Its epoll descriptor is
 * watched with a uv_poll_t, and a uv_timer_t follows MHD_get_timeout() (idle connections); both
 * call MHD_run() on the loop thread. So every request handler runs on the loop thread, between
 * the service's other callbacks, and may read the service's state without locks.
 *
 * What this module knows of HTTP is what every route shares: the request line, a body read up to
 * a limit (413 beyond it), basic authentication checked in constant time against the configured
 * pair (401 with a WWW-Authenticate challenge), and a response built from a buffer. The routes
 * themselves are the caller's (one handler callback).
 *
 * Threads: the loop thread only. Ownership: the server owns its daemon and handles; the loop and
 * the options' strings are borrowed for the call to gridems_http_start (strings are copied).
 */
#ifndef GRIDEMS_HTTP_SERVER_H
#define GRIDEMS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct gridems_http_s gridems_http_t;

/* One request, borrowed for the handler's call. */
typedef struct gridems_http_request_s {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *body;   /* NUL-terminated; "" when there is none */
    size_t body_len;
    bool authenticated; /* valid credentials came (always false when no auth is configured) */
    bool auth_configured;
} gridems_http_request_t;

/* What a handler answers. body is transferred: malloc'd, freed by the server (NULL: empty). */
typedef struct gridems_http_response_s {
    int status;
    const char *content_type; /* static string */
    char *body;
    size_t body_len;
    bool ask_auth;     /* 401 with a WWW-Authenticate: Basic challenge */
    const char *allow; /* for 405: the Allow header (static string), or NULL */
} gridems_http_response_t;

typedef void (*gridems_http_handler_cb)(void *userdata, const gridems_http_request_t *req,
                                        gridems_http_response_t *resp);

typedef struct gridems_http_options_s {
    const char *host; /* IPv4 address to bind, e.g. "127.0.0.1" */
    int port;         /* 0: any free port (gridems_http_port tells which) */
    const char *user; /* basic auth; NULL: none */
    const char *password;
    const char *realm;     /* for the challenge */
    size_t max_body_bytes; /* larger bodies get 413 */
    gridems_http_handler_cb handler;
    void *userdata;
} gridems_http_options_t;

/*
 * gridems_http_start: bind, listen and start serving on loop.
 * Returns 0 and *out, or GRIDEMS_EIO (bind failed; err says why) / GRIDEMS_ENOMEM.
 */
int gridems_http_start(uv_loop_t *loop, const gridems_http_options_t *opts, gridems_http_t **out,
                       char *err, size_t errlen);

/* gridems_http_port: the port it listens on (the one chosen when opts.port was 0). */
int gridems_http_port(const gridems_http_t *srv);

/*
 * gridems_http_stop: close every connection, stop the daemon and close the libuv handles; the
 * server is freed once they are closed (within the loop's next iteration). NULL is fine.
 */
void gridems_http_stop(gridems_http_t *srv);

#endif
