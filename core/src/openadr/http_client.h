/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * HTTP GET and POST on the libuv loop: libcurl's multi-socket interface driven by uv_poll (one per
 * socket curl asks about) and one uv_timer (curl's timeout), so no call ever blocks the loop and no
 * thread of ours is added (name resolution runs in libcurl's own resolver thread, never on the
 * loop, and touches no state of ours). Each request has a total timeout.
 *
 * Why libcurl (Debian libcurl4-openssl-dev): it is the HTTP client every Debian system has, does
 * TLS, redirects, chunked bodies and keep-alive correctly, and its multi-socket interface is made
 * for an external event loop; writing HTTP/1.1 by hand would be more code to get wrong.
 *
 * Ownership: the client owns its requests; answers are handed to the callback as borrowed
 * buffers, valid during the call only. Thread: every function and callback on the loop thread.
 */
#ifndef GRIDEMS_HTTP_CLIENT_H
#define GRIDEMS_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct gridems_http_s gridems_http_t;

/*
 * A request ended. status: the HTTP status (200, 404, ...), or 0 when no answer came (err then
 * says why: "timed out after 10000 ms", "connection refused", ...). body: the answer's bytes plus
 * a NUL not counted in len (empty on failure). Borrowed, valid during the call.
 */
typedef void (*gridems_http_cb)(int status, const char *body, size_t len, const char *err,
                                void *userdata);

/* The client has closed every handle (gridems_http_close()); it is freed after this returns. */
typedef void (*gridems_http_closed_cb)(void *userdata);

/* Create a client on loop (borrowed; must outlive the client). Returns 0, GRIDEMS_ENOMEM or
 * GRIDEMS_EIO (libcurl refused to start). */
int gridems_http_create(uv_loop_t *loop, gridems_http_t **out);

/*
 * Start a GET. url and bearer (the token, without "Bearer "; NULL for none) are copied.
 * max_bytes bounds the answer (a longer one fails with "answer larger than N bytes").
 * cb runs exactly once, from the loop, never inside this call.
 * Returns 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM, GRIDEMS_ESTATE (closing) or GRIDEMS_EIO.
 */
int gridems_http_get(gridems_http_t *h, const char *url, const char *bearer, long timeout_ms,
                     size_t max_bytes, gridems_http_cb cb, void *userdata);

/*
 * Start a POST of body (len bytes, copied; NULL when len is 0) to url, sent with
 * "Content-Type: <content_type>" (e.g. "application/json"; copied; not empty, no CR or LF).
 * url, bearer, timeout_ms, max_bytes (the answer's bound) and cb are as for gridems_http_get:
 * cb runs exactly once, from the loop, never inside this call, with the server's status and
 * answer. Redirects are not followed (a 3xx comes back as the status).
 * Returns 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM, GRIDEMS_ESTATE (closing) or GRIDEMS_EIO.
 */
int gridems_http_post(gridems_http_t *h, const char *url, const char *bearer,
                      const char *content_type, const char *body, size_t len, long timeout_ms,
                      size_t max_bytes, gridems_http_cb cb, void *userdata);

/* Number of requests in flight. */
size_t gridems_http_pending(const gridems_http_t *h);

/*
 * Abort every request (their callbacks are not called), close the handles and free the client
 * once they are closed; cb (required) runs then, from the loop.
 */
void gridems_http_close(gridems_http_t *h, gridems_http_closed_cb cb, void *userdata);

#endif
