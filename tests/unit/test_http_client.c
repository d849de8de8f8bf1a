/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/openadr/http_client.c: GETs and POSTs driven by the libuv loop. The
 * server is a libuv TCP server on the same loop and thread, so every answer also proves that the
 * client never blocks the loop (a blocking client would wait for a server that cannot run). Cases:
 * a 200 with its body and the bearer header as sent, a 401 passed through, an answer above
 * max_bytes refused, a server that never answers (the timeout), a refused connection, and close()
 * with a request in flight (its callback is not called; every handle is closed). POSTs: the
 * method, Content-Type, bearer and body bytes as the server got them (JSON, UTF-8, 100 kB, empty,
 * a len shorter than the string), the 201 and its answer handed back, the body and content type
 * copied, invalid arguments refused without a callback, and a refused connection.
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

typedef enum { ANSWER_OK, ANSWER_401, ANSWER_BIG, ANSWER_NEVER, ANSWER_201 } mode_t_;

/* Room for a 100 kB POST body and its headers. */
#define REQUEST_MAX (256 * 1024)

typedef struct server_s {
    uv_tcp_t listener;
    uv_tcp_t conn;
    bool have_conn;
    bool listening;
    mode_t_ mode;
    char request[REQUEST_MAX];
    size_t len;
    bool overflow;   /* the request did not fit */
    size_t head_len; /* its headers, the blank line included */
    size_t body_len; /* its Content-Length (0 without one) */
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
    srv.overflow = srv.overflow || take < (size_t)n;
    memcpy(srv.request + srv.len, buf->base, take);
    srv.len += take;
    srv.request[srv.len] = '\0';
    const char *end = strstr(srv.request, "\r\n\r\n");
    if (end == NULL) {
        return;
    }
    /* Answer once the body announced by Content-Length is in too. */
    srv.head_len = (size_t)(end - srv.request) + 4;
    const char *cl = strstr(srv.request, "\r\nContent-Length: ");
    srv.body_len = cl != NULL && cl < end ? strtoul(cl + 18, NULL, 10) : 0;
    if (srv.len < srv.head_len + srv.body_len && !srv.overflow) {
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
    case ANSWER_201:
        answer("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 14\r\n"
               "Connection: close\r\n\r\n{\"id\":\"rep-1\"}");
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

/* What run() POSTs (NULL: it GETs). */
typedef struct post_s {
    const char *content_type;
    const char *body; /* NUL-terminated, possibly longer than len; NULL: none */
    size_t len;
} post_t;

/*
 * One request against a server in the given mode (listen false: a port nobody listens on). A
 * POST's body and content type are handed over in buffers overwritten and freed right after the
 * call, so a client that kept them instead of copies would send other bytes (or, under ASan, read
 * freed memory).
 */
static void run(mode_t_ mode, bool listen, const post_t *post, long timeout_ms, size_t max,
                result_t *r)
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
    if (post == NULL) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/openadr3/3.1.0/programs", port);
        ck_assert_int_eq(gridems_http_get(h, url, "c2VjcmV0", timeout_ms, max, on_result, r), 0);
    } else {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/openadr3/3.1.0/reports", port);
        char *type = strdup(post->content_type);
        char *body = post->body != NULL ? strdup(post->body) : NULL;
        ck_assert(type != NULL && (body != NULL) == (post->body != NULL));
        ck_assert_int_eq(gridems_http_post(h, url, "c2VjcmV0", type, body, post->len, timeout_ms,
                                           max, on_result, r),
                         0);
        memset(type, 'X', strlen(type));
        free(type);
        if (body != NULL) {
            memset(body, 'X', strlen(body));
            free(body);
        }
    }
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

static void run_get(mode_t_ mode, bool listen, long timeout_ms, size_t max, result_t *r)
{
    run(mode, listen, NULL, timeout_ms, max, r);
}

/* The request's headers, the blank line included, as a string. */
static const char *request_head(void)
{
    static char head[8192];
    ck_assert_uint_lt(srv.head_len, sizeof head);
    memcpy(head, srv.request, srv.head_len);
    head[srv.head_len] = '\0';
    return head;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* POST body[0..len) as type to a server answering 201; check what it got and what came back. */
static void check_post(const char *type, const char *body, size_t len)
{
    result_t r;
    post_t post = {.content_type = type, .body = body, .len = len};
    run(ANSWER_201, true, &post, 5000, 1 << 20, &r);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "{\"id\":\"rep-1\"}");
    ck_assert_uint_eq(r.len, 14);
    ck_assert_str_eq(r.err, "");
    ck_assert(!srv.overflow);
    const char *head = request_head();
    ck_assert_msg(strstr(head, "POST /openadr3/3.1.0/reports HTTP/1.1\r\n") == head, "%s", head);
    ck_assert_msg(strstr(head, "\r\nAuthorization: Bearer c2VjcmV0\r\n") != NULL, "%s", head);
    char line[256];
    snprintf(line, sizeof line, "\r\nContent-Type: %s\r\n", type);
    ck_assert_msg(strstr(head, line) != NULL, "%s", head);
    ck_assert_msg(count(head, "Content-Type:") == 1, "%s", head); /* not curl's form type too */
    ck_assert_uint_eq(srv.body_len, len);
    ck_assert_uint_eq(srv.len, srv.head_len + len); /* the body and nothing after it */
    ck_assert(len == 0 || memcmp(srv.request + srv.head_len, body, len) == 0);
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
    ck_assert_msg(strstr(srv.request, "Content-Type") == NULL, "%s", srv.request);
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

START_TEST(post_json)
{
    const char *json = "{\"objectType\":\"REPORT\",\"programID\":\"p1\",\"eventID\":\"e1\","
                       "\"clientName\":\"gridems\",\"resources\":[{\"resourceName\":\"site\","
                       "\"intervals\":[{\"id\":0,\"payloads\":[{\"type\":\"USAGE\","
                       "\"values\":[3.5]}]}]}]}";
    check_post("application/json", json, strlen(json));
}
END_TEST

START_TEST(post_utf8)
{
    /* "Zähler – Ø 5 kW ☀ 東京" in UTF-8: bytes above 0x7f must arrive unchanged. */
    const char *json = "{\"resourceName\":\"Z\xc3\xa4hler \xe2\x80\x93 \xc3\x98 5 kW \xe2\x98\x80 "
                       "\xe6\x9d\xb1\xe4\xba\xac\"}";
    check_post("application/json; charset=utf-8", json, strlen(json));
}
END_TEST

START_TEST(post_100k)
{
    /* Larger than any socket buffer: the client writes it across many loop turns. */
    static char json[100 * 1024 + 1];
    size_t n = sizeof json - 1;
    memcpy(json, "{\"values\":\"", 11);
    for (size_t i = 11; i < n - 2; i++) {
        json[i] = (char)('a' + (i * 7) % 26);
    }
    memcpy(json + n - 2, "\"}", 2);
    json[n] = '\0';
    check_post("application/json", json, n);
}
END_TEST

START_TEST(post_empty)
{
    check_post("application/json", NULL, 0);
}
END_TEST

START_TEST(post_len_not_strlen)
{
    /* len, not the NUL, ends the body: check_post() checks nothing follows the 7 bytes. */
    check_post("application/json", "{\"a\":1}not sent", 7);
}
END_TEST

START_TEST(post_invalid)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(&srv, 0, sizeof srv);
    gridems_http_t *h = NULL;
    result_t r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(gridems_http_create(&loop, &h), 0);
    const char *url = "http://127.0.0.1:9/openadr3/3.1.0/reports";
    const char *ct = "application/json";
    ck_assert_int_eq(gridems_http_post(NULL, url, NULL, ct, "{}", 2, 5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, NULL, NULL, ct, "{}", 2, 5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, NULL, "{}", 2, 5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, ct, NULL, 2, 5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, "", "{}", 2, 5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, "application/json\r\nX-Injected: 1", "{}", 2,
                                       5000, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(
        gridems_http_post(h, url, NULL, "text/plain\n", "{}", 2, 5000, 1024, on_result, &r),
        GRIDEMS_EINVAL);
    ck_assert_int_eq(
        gridems_http_post(h, url, NULL, "text/plain\r", "{}", 2, 5000, 1024, on_result, &r),
        GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, ct, "{}", 2, 5000, 1024, NULL, &r),
                     GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, ct, "{}", 2, 0, 1024, on_result, &r),
                     GRIDEMS_EINVAL);
    ck_assert_uint_eq(gridems_http_pending(h), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.calls, 0);
    gridems_http_close(h, on_closed, &r);
    ck_assert_int_eq(gridems_http_post(h, url, NULL, ct, "{}", 2, 5000, 1024, on_result, &r),
                     GRIDEMS_ESTATE);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(r.closed);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(post_refused)
{
    result_t r;
    post_t post = {.content_type = "application/json", .body = "{}", .len = 2};
    run(ANSWER_201, false, &post, 5000, 1 << 20, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_msg(r.err[0] != '\0', "no reason given");
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
    tcase_add_test(tc, post_json);
    tcase_add_test(tc, post_utf8);
    tcase_add_test(tc, post_100k);
    tcase_add_test(tc, post_empty);
    tcase_add_test(tc, post_len_not_strlen);
    tcase_add_test(tc, post_invalid);
    tcase_add_test(tc, post_refused);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
