/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libmicrohttpd on the libuv loop; see http_server.h. */
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "log.h"

/* Idle connections are closed after this long (real time). MHD_run() runs at least every
 * MAX_WAIT_MS: at its connection limit libmicrohttpd takes the listening socket out of its epoll
 * set and puts it back only at the start of a later MHD_run(), so after connections close
 * nothing on the descriptor would wake the loop for the clients waiting to be accepted. */
enum { CONNECTION_TIMEOUT_S = 30, CONNECTION_LIMIT = 64, MAX_WAIT_MS = 250 };

struct gridems_http_s {
    struct MHD_Daemon *daemon;
    uv_poll_t poll;   /* MHD's epoll descriptor */
    uv_timer_t timer; /* MHD_get_timeout() */
    int open_handles;
    int port;
    char *user;
    char *password;
    char *realm;
    size_t max_body;
    gridems_http_handler_cb handler;
    void *userdata;
};

/* One request's body as it arrives (MHD calls the handler once per chunk). */
typedef struct request_s {
    char *body;
    size_t len;
    bool too_big;
} request_t;

static void log_mhd(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    gridems_log_warn("http: %s", line);
}

/* Equal strings, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) {
        diff |= (unsigned char)(a[i] ^ b[i % (lb > 0 ? lb : 1)]);
    }
    return diff == 0 && lb > 0;
}

static bool check_auth(gridems_http_t *srv, struct MHD_Connection *conn)
{
    if (srv->user == NULL) {
        return false;
    }
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &pass);
    /* Both compared, whatever the first gives (& on ints, not &&): the time says nothing. */
    bool ok = user != NULL && pass != NULL &&
              ((int)same_secret(user, srv->user) & (int)same_secret(pass, srv->password)) != 0;
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

static enum MHD_Result send_response(gridems_http_t *srv, struct MHD_Connection *conn,
                                     gridems_http_response_t *r)
{
    if (r->body == NULL) {
        r->body = strdup("");
        r->body_len = 0;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(r->body_len, r->body, free);
    if (resp == NULL) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type != NULL ? r->content_type
                                                    : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->allow != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    }
    enum MHD_Result rc = r->ask_auth ? MHD_queue_basic_auth_fail_response(conn, srv->realm, resp)
                                     : MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result simple(gridems_http_t *srv, struct MHD_Connection *conn, int status,
                              const char *text)
{
    gridems_http_response_t r = {
        status, "text/plain; charset=utf-8", strdup(text), strlen(text), false, NULL};
    return send_response(srv, conn, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    gridems_http_t *srv = cls;
    (void)version;
    request_t *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL) {
            return MHD_NO;
        }
        *con_cls = rq;
        /* Refuse a declared oversize body before reading any of it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > srv->max_body) {
            rq->too_big = true;
            return simple(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > srv->max_body) {
            rq->too_big = true; /* chunked uploads: count, drop, answer 413 at the end */
            return MHD_YES;
        }
        char *bigger = realloc(rq->body, rq->len + n + 1);
        if (bigger == NULL) {
            return MHD_NO;
        }
        rq->body = bigger;
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    if (rq->too_big) {
        return simple(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    }
    gridems_http_request_t req = {
        method,           url, rq->body != NULL ? rq->body : "", rq->len, check_auth(srv, conn),
        srv->user != NULL};
    gridems_http_response_t resp;
    memset(&resp, 0, sizeof resp);
    resp.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    srv->handler(srv->userdata, &req, &resp);
    return send_response(srv, conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    request_t *rq = *con_cls;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void drive(gridems_http_t *srv);

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    drive(p->data);
}

/* Let MHD do what is ready, then arm the timer for what it waits on next. */
static void drive(gridems_http_t *srv)
{
    if (srv->daemon == NULL) {
        return;
    }
    MHD_run(srv->daemon);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(srv->daemon, &ms) != MHD_YES || ms > MAX_WAIT_MS) {
        ms = MAX_WAIT_MS;
    }
    uv_timer_start(&srv->timer, on_timer, ms, 0);
}

static void free_server(gridems_http_t *srv)
{
    free(srv->user);
    free(srv->password);
    free(srv->realm);
    free(srv);
}

static void on_closed(uv_handle_t *h)
{
    gridems_http_t *srv = h->data;
    if (--srv->open_handles > 0) {
        return;
    }
    /* The uv_poll no longer watches the epoll descriptor: MHD may close it now. */
    if (srv->daemon != NULL) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
    }
    free_server(srv);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (s == NULL) {
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL) {
        *failed = true;
    }
    return d;
}

int gridems_http_start(uv_loop_t *loop, const gridems_http_options_t *opts, gridems_http_t **out,
                       char *err, size_t errlen)
{
    gridems_http_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return GRIDEMS_ENOMEM;
    }
    bool failed = false;
    srv->user = dup_or_null(opts->user, &failed);
    srv->password = dup_or_null(opts->user != NULL ? opts->password : NULL, &failed);
    srv->realm = dup_or_null(opts->realm != NULL ? opts->realm : "gridems", &failed);
    srv->max_body = opts->max_body_bytes;
    srv->handler = opts->handler;
    srv->userdata = opts->userdata;
    if (failed || (srv->user != NULL && srv->password == NULL)) {
        free_server(srv);
        return GRIDEMS_ENOMEM;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "http.listen: not an IPv4 address: \"%s\"", opts->host);
        free_server(srv);
        return GRIDEMS_EINVAL;
    }
    /* No MHD_USE_INTERNAL_POLLING_THREAD: MHD_run() is called from the loop only. */
    srv->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)CONNECTION_LIMIT, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "http: cannot listen on %s:%d (address in use, or not local?)",
                 opts->host, opts->port);
        free_server(srv);
        return GRIDEMS_EIO;
    }
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = port != NULL ? port->port : opts->port;
    if (fd == NULL || uv_poll_init(loop, &srv->poll, fd->epoll_fd) != 0) {
        snprintf(err, errlen, "http: cannot watch libmicrohttpd's epoll descriptor");
        MHD_stop_daemon(srv->daemon);
        free_server(srv);
        return GRIDEMS_EIO;
    }
    uv_timer_init(loop, &srv->timer);
    srv->poll.data = srv;
    srv->timer.data = srv;
    srv->open_handles = 2;
    uv_poll_start(&srv->poll, UV_READABLE, on_poll);
    drive(srv);
    *out = srv;
    return 0;
}

int gridems_http_port(const gridems_http_t *srv)
{
    return srv->port;
}

void gridems_http_stop(gridems_http_t *srv)
{
    if (srv == NULL || uv_is_closing((uv_handle_t *)&srv->poll)) {
        return;
    }
    uv_poll_stop(&srv->poll);
    uv_timer_stop(&srv->timer);
    uv_close((uv_handle_t *)&srv->poll, on_closed);
    uv_close((uv_handle_t *)&srv->timer, on_closed);
}
