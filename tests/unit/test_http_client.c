/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/openadr/http_client.c: GETs driven by the libuv loop. The server is a
 * libuv TCP server on the same loop and thread, so every answer also proves that the client never
 * blocks the loop (a blocking client would wait for a server that cannot run). Cases: a 200 with
 * its body and the bearer header as sent, a 401 passed through, an answer above max_bytes refused,
 * a server that never answers (the timeout), a refused connection, and close() with a request in
 * flight (its callback is not called; every handle is closed).
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "http_client.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef enum { ANSWER_OK, ANSWER_401, ANSWER_BIG, ANSWER_NEVER } mode_t_;

typedef struct server_s {
    uv_tcp_t listener;
    uv_tcp_t conn;
    bool have_conn;
    bool listening;
    mode_t_ mode;
    char request[4096];
    size_t len;
    int port;
} server_t;

typedef struct result_s {
    int calls;
    int status;
    char body[256];
    size_t len;
    char err[256];
    bool closed;
} result_t;

static server_t srv;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[4096];
    *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void answer(const char *text)
{
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
    uv_write(w, (uv_stream_t *)&srv.conn, &b, 1, on_written);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)s;
    if (n <= 0) {
        return;
    }
    size_t room = sizeof srv.request - 1 - srv.len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(srv.request + srv.len, buf->base, take);
    srv.len += take;
    srv.request[srv.len] = '\0';
    if (strstr(srv.request, "\r\n\r\n") == NULL) {
        return;
    }
    static char big[9000];
    switch (srv.mode) {
    case ANSWER_OK:
        answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
               "Connection: close\r\n\r\n[{\"id\":\"0\"}]");
        break;
    case ANSWER_401:
        answer("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        break;
    case ANSWER_BIG:
        snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: 8000\r\n\r\n");
        memset(big + strlen(big), 'x', 8000);
        big[sizeof big - 1] = '\0';
        answer(big);
        break;
    case ANSWER_NEVER:
        break;
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    ck_assert_int_eq(status, 0);
    uv_tcp_init(l->loop, &srv.conn);
    ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&srv.conn), 0);
    srv.have_conn = true;
    uv_read_start((uv_stream_t *)&srv.conn, on_alloc, on_read);
}

static void server_start(uv_loop_t *loop, mode_t_ mode)
{
    memset(&srv, 0, sizeof srv);
    srv.mode = mode;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &srv.listener);
    ck_assert_int_eq(uv_tcp_bind(&srv.listener, (const struct sockaddr *)&a, 0), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&srv.listener, 4, on_connection), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&a, &len);
    srv.port = ntohs(a.sin_port);
    srv.listening = true;
}

static void server_stop(void)
{
    if (!srv.listening) {
        return;
    }
    srv.listening = false;
    uv_close((uv_handle_t *)&srv.listener, NULL);
    if (srv.have_conn && !uv_is_closing((uv_handle_t *)&srv.conn)) {
        uv_close((uv_handle_t *)&srv.conn, NULL);
    }
}

static void on_result(int status, const char *body, size_t len, const char *err, void *ud)
{
    result_t *r = ud;
    r->calls++;
    r->status = status;
    r->len = len;
    snprintf(r->body, sizeof r->body, "%s", body);
    snprintf(r->err, sizeof r->err, "%s", err);
    server_stop();
}

static void on_closed(void *ud)
{
    result_t *r = ud;
    r->closed = true;
}

/* One GET against a server in the given mode (port -1: a port nobody listens on). */
static void run_get(mode_t_ mode, bool listen, long timeout_ms, size_t max, result_t *r)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(r, 0, sizeof *r);
    memset(&srv, 0, sizeof srv);
    int port = 9; /* discard: nothing listens there on a test machine */
    if (listen) {
        server_start(&loop, mode);
        port = srv.port;
    }
    gridems_http_t *h = NULL;
    ck_assert_int_eq(gridems_http_create(&loop, &h), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/openadr3/3.1.0/programs", port);
    ck_assert_int_eq(gridems_http_get(h, url, "c2VjcmV0", timeout_ms, max, on_result, r), 0);
    ck_assert_uint_eq(gridems_http_pending(h), 1);
    ck_assert_int_eq(r->calls, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r->calls, 1);
    ck_assert_uint_eq(gridems_http_pending(h), 0);
    gridems_http_close(h, on_closed, r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(r->closed);
    ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle closed */
}

START_TEST(ok_with_body_and_token)
{
    result_t r;
    run_get(ANSWER_OK, true, 5000, 1 << 20, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "[{\"id\":\"0\"}]");
    ck_assert_uint_eq(r.len, 12);
    ck_assert_str_eq(r.err, "");
    ck_assert_msg(strstr(srv.request, "GET /openadr3/3.1.0/programs HTTP/1.1\r\n") == srv.request,
                  "%s", srv.request);
    ck_assert_msg(strstr(srv.request, "\r\nAuthorization: Bearer c2VjcmV0\r\n") != NULL, "%s",
                  srv.request);
}
END_TEST

START_TEST(status_passed_through)
{
    result_t r;
    run_get(ANSWER_401, true, 5000, 1 << 20, &r);
    ck_assert_int_eq(r.status, 401);
    ck_assert_uint_eq(r.len, 0);
}
END_TEST

START_TEST(too_big_refused)
{
    result_t r;
    run_get(ANSWER_BIG, true, 5000, 4096, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "answer larger than 4096 bytes");
}
END_TEST

START_TEST(timeout)
{
    result_t r;
    uint64_t t0 = uv_hrtime();
    run_get(ANSWER_NEVER, true, 300, 1 << 20, &r);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "timed out after 300 ms");
    ck_assert_msg(ms >= 290.0, "gave up after %.0f ms", ms);
}
END_TEST

START_TEST(refused)
{
    result_t r;
    run_get(ANSWER_OK, false, 5000, 1 << 20, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(r.err[0] != '\0', "no reason given");
}
END_TEST

START_TEST(close_in_flight)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    server_start(&loop, ANSWER_NEVER);
    gridems_http_t *h = NULL;
    result_t r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(gridems_http_create(&loop, &h), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", srv.port);
    ck_assert_int_eq(gridems_http_get(h, url, NULL, 5000, 1024, on_result, &r), 0);
    /* Run until the server has the request, then close the client under it. */
    while (strstr(srv.request, "\r\n\r\n") == NULL) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    gridems_http_close(h, on_closed, &r);
    ck_assert_int_eq(gridems_http_get(h, url, NULL, 5000, 1024, on_result, &r), GRIDEMS_ESTATE);
    server_stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(r.closed);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ok_with_body_and_token);
    tcase_add_test(tc, status_passed_through);
    tcase_add_test(tc, too_big_refused);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, close_in_flight);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
