/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Integration tests for the MQTT client against a real, private mosquitto on a free loopback
 * port: status and last will, subscriptions, reconnect after a broker crash, fail-fast publish
 * while offline, and a clean shutdown that leaves uv_loop_close() == 0.
 *
 * Each test starts its own broker in a *checked* fixture, so the broker is a child of the test's
 * own process (Check's fork mode) and the test can kill and restart it.
 *
 * The last-will test needs a process that dies without disconnecting. Rather than fork a copy of
 * a process that already runs Paho threads, it runs this executable again with --will-child.
 */
#include "check_run.h"
#include "broker.h"
#include "gridems/errors.h"
#include "mqtt_client.h"
#include "test_util.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static broker_t broker;
static uv_loop_t loop;

typedef struct ctx_s {
    gridems_mqtt_t *m;
    int connected_calls;
    int reconnect_calls;
    int disconnected_calls;
    int online_rc;
    int messages;
    char last_topic[256];
    char last_payload[1024];
    size_t last_len;
    int last_qos;
    int shutdown_done;
    int shutdown_status;
} ctx_t;

/* ---- ## Bounded waiting ---- */

typedef int (*pred_fn)(const ctx_t *ctx);

/* Run the loop without blocking, with short sleeps, until pred holds or timeout_ms passes. */
static int wait_until(pred_fn pred, const ctx_t *ctx, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (pred(ctx)) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(5);
    }
}

static int is_connected(const ctx_t *ctx)
{
    return gridems_mqtt_is_connected(ctx->m);
}

static int is_live(const ctx_t *ctx)
{
    return gridems_mqtt_is_connected(ctx->m) && gridems_mqtt_pending_subscriptions(ctx->m) == 0;
}

static int is_disconnected(const ctx_t *ctx)
{
    return !gridems_mqtt_is_connected(ctx->m) && ctx->disconnected_calls > 0;
}

static int has_message(const ctx_t *ctx)
{
    return ctx->messages > 0;
}

static int has_connect_failure(const ctx_t *ctx)
{
    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ctx->m, &st);
    return st.connect_failures > 0;
}

static int has_delivery(const ctx_t *ctx)
{
    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ctx->m, &st);
    return st.delivered > 0;
}

static int is_shut_down(const ctx_t *ctx)
{
    return ctx->shutdown_done;
}

/* ---- ## Client callbacks ---- */

static void on_message(gridems_mqtt_t *m, const char *topic, const void *payload, size_t len,
                       int qos, int retained, void *userdata)
{
    (void)m;
    (void)retained;
    ctx_t *ctx = userdata;
    ctx->messages++;
    snprintf(ctx->last_topic, sizeof ctx->last_topic, "%s", topic);
    snprintf(ctx->last_payload, sizeof ctx->last_payload, "%s", (const char *)payload);
    ctx->last_len = len;
    ctx->last_qos = qos;
}

static void on_connected(gridems_mqtt_t *m, int reconnect, void *userdata)
{
    ctx_t *ctx = userdata;
    ctx->connected_calls++;
    ctx->reconnect_calls += reconnect;
    ctx->online_rc = gridems_mqtt_publish_status(m, "{\"state\":\"online\"}");
}

static void on_disconnected(gridems_mqtt_t *m, void *userdata)
{
    (void)m;
    ctx_t *ctx = userdata;
    ctx->disconnected_calls++;
}

static void on_shutdown(gridems_mqtt_t *m, int status, void *userdata)
{
    (void)m;
    ctx_t *ctx = userdata;
    ctx->shutdown_done = 1;
    ctx->shutdown_status = status;
}

/* ---- ## Helpers ---- */

static void make_prefix(char *buf, size_t size, const char *test)
{
    snprintf(buf, size, "gridems-test/%ld/%s", (long)getpid(), test);
}

static void topic_of(char *buf, size_t size, const char *prefix, const char *suffix)
{
    snprintf(buf, size, "%s/%s", prefix, suffix);
}

static void client_new(ctx_t *ctx, const char *prefix, const char *will)
{
    memset(ctx, 0, sizeof *ctx);
    gridems_mqtt_options_t o;
    memset(&o, 0, sizeof o);
    o.uri = broker.uri;
    o.topic_prefix = prefix;
    o.will_payload = will;
    o.keepalive_s = 5;
    o.connect_timeout_s = 3;
    o.on_message = on_message;
    o.on_connected = on_connected;
    o.on_disconnected = on_disconnected;
    o.userdata = ctx;
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &ctx->m), 0);
    ck_assert_ptr_nonnull(ctx->m);
}

/* Shut the client down, expect `status`, and check that the loop closes cleanly. */
static void client_shutdown(ctx_t *ctx, int status)
{
    double t0 = test_now_ms();
    ck_assert_int_eq(gridems_mqtt_shutdown(ctx->m, "{\"state\":\"offline\",\"reason\":\"stop\"}",
                                           2000, on_shutdown),
                     0);
    ck_assert_msg(wait_until(is_shut_down, ctx, 6000), "shutdown did not finish");
    ck_assert_int_eq(ctx->shutdown_status, status);
    ck_assert_msg(test_now_ms() - t0 < 5000, "shutdown took %.0f ms", test_now_ms() - t0);
    ctx->m = NULL;
    /* Every handle is closed: nothing is left for the loop. */
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void setup(void)
{
    broker_start(&broker, "mqtt");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
    broker_cleanup(&broker);
}

/* ---- ## Tests ---- */

START_TEST(test_create_rejects_bad_options)
{
    gridems_mqtt_options_t o;
    gridems_mqtt_t *m = NULL;
    memset(&o, 0, sizeof o);
    o.uri = broker.uri;
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL); /* no prefix */
    o.topic_prefix = "site/#";
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.topic_prefix = "site/";
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.topic_prefix = "site";
    o.uri = NULL;
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.uri = "bogus://nowhere";
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EMQTT);
    o.uri = broker.uri;
    o.min_retry_s = 10;
    o.max_retry_s = 5;
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.min_retry_s = 0;
    o.max_retry_s = 0;
    o.password = "secret"; /* without a user name */
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.password = NULL;
    /* TLS settings with a plain tcp:// URI would be silently ignored: refused. */
    gridems_mqtt_tls_t tls = {.ca_file = "/nonexistent/ca.pem", .verify = 1};
    o.tls = &tls;
    ck_assert_int_eq(gridems_mqtt_create(&loop, &o, &m), GRIDEMS_EINVAL);
    o.tls = NULL;
    ck_assert_ptr_null(m);

    /* A valid client that never connects: argument checks, offline publish, shutdown. */
    ctx_t ctx;
    char prefix[128];
    make_prefix(prefix, sizeof prefix, "badopts");
    client_new(&ctx, prefix, NULL);
    ck_assert_str_eq(gridems_mqtt_topic_prefix(ctx.m), prefix);
    ck_assert_ptr_nonnull(strstr(gridems_mqtt_status_topic(ctx.m), "/status"));
    ck_assert_ptr_nonnull(strstr(gridems_mqtt_client_id(ctx.m), "gridems-"));
    ck_assert_int_eq(gridems_mqtt_subscribe(ctx.m, "x", 3), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_subscribe(ctx.m, "", 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/+/b", "x", 1, 0, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/b", NULL, 3, 0, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/b", "x", 1, 5, 0), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/b", "x", 1, 1, 0), GRIDEMS_EMQTT);
    ck_assert_int_eq(gridems_mqtt_shutdown(ctx.m, NULL, 1000, NULL), GRIDEMS_EINVAL);
    ck_assert_int_eq(gridems_mqtt_shutdown(ctx.m, NULL, 1000, on_shutdown), 0);
    /* The callback never runs inside the call, and a second shutdown is refused. */
    ck_assert_int_eq(ctx.shutdown_done, 0);
    ck_assert_int_eq(gridems_mqtt_shutdown(ctx.m, NULL, 1000, on_shutdown), GRIDEMS_ESTATE);
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/b", "x", 1, 1, 0), GRIDEMS_ESTATE);
    ck_assert(wait_until(is_shut_down, &ctx, 3000));
    ck_assert_int_eq(ctx.shutdown_status, GRIDEMS_EMQTT); /* never connected */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_online_status_and_clean_shutdown)
{
    ctx_t ctx;
    char prefix[128], status[192];
    make_prefix(prefix, sizeof prefix, "online");
    topic_of(status, sizeof status, prefix, "status");
    client_new(&ctx, prefix, NULL);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), GRIDEMS_ESTATE);
    ck_assert_msg(wait_until(is_connected, &ctx, 5000), "no connection to %s", broker.uri);
    ck_assert_int_eq(ctx.connected_calls, 1);
    ck_assert_int_eq(ctx.reconnect_calls, 0);
    ck_assert_int_eq(ctx.online_rc, 0);

    /* The retained "online" status is what a late watcher sees. */
    char *payload = NULL;
    ck_assert_int_eq(test_mqtt_wait_message_match(broker.uri, status, "online", 3000, &payload), 0);
    ck_assert_str_eq(payload, "{\"state\":\"online\"}");
    free(payload);

    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ctx.m, &st);
    ck_assert_uint_eq(st.published, 1);
    ck_assert_uint_eq(st.publish_failures, 0);
    ck_assert_uint_eq(st.reconnects, 0);

    /* A clean shutdown publishes the final status (retained) and then disconnects. */
    client_shutdown(&ctx, 0);
    payload = NULL;
    ck_assert_int_eq(test_mqtt_wait_message(broker.uri, status, 3000, &payload), 0);
    ck_assert_str_eq(payload, "{\"state\":\"offline\",\"reason\":\"stop\"}");
    free(payload);
}
END_TEST

START_TEST(test_subscribe_and_receive)
{
    ctx_t ctx;
    char prefix[128], filter[192], price[192], cmd[192];
    make_prefix(prefix, sizeof prefix, "subscribe");
    topic_of(filter, sizeof filter, prefix, "in/#");
    topic_of(price, sizeof price, prefix, "in/price");
    topic_of(cmd, sizeof cmd, prefix, "cmd");
    client_new(&ctx, prefix, NULL);
    /* Registered before the connect: made by the connected handler. */
    ck_assert_int_eq(gridems_mqtt_subscribe(ctx.m, filter, 1), 0);
    ck_assert_uint_eq(gridems_mqtt_pending_subscriptions(ctx.m), 1);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_msg(wait_until(is_live, &ctx, 5000), "not connected and subscribed");

    ck_assert_int_eq(test_mqtt_publish(broker.uri, price, "[{\"value\":12.5}]", 0), 0);
    ck_assert_msg(wait_until(has_message, &ctx, 5000), "message not received");
    ck_assert_int_eq(ctx.messages, 1);
    ck_assert_str_eq(ctx.last_topic, price);
    ck_assert_str_eq(ctx.last_payload, "[{\"value\":12.5}]");
    ck_assert_uint_eq(ctx.last_len, strlen("[{\"value\":12.5}]"));
    ck_assert_int_eq(ctx.last_qos, 1);

    /* Registered while connected: subscribed at once. */
    ck_assert_int_eq(gridems_mqtt_subscribe(ctx.m, cmd, 1), 0);
    ck_assert_msg(wait_until(is_live, &ctx, 5000), "second subscription not acknowledged");
    ctx.messages = 0;
    ck_assert_int_eq(test_mqtt_publish(broker.uri, cmd, "{\"cmd\":\"replan\"}", 0), 0);
    ck_assert_msg(wait_until(has_message, &ctx, 5000), "command not received");
    ck_assert_str_eq(ctx.last_topic, cmd);
    ck_assert_str_eq(ctx.last_payload, "{\"cmd\":\"replan\"}");

    /* Our own publish to a subscribed topic comes back too, payload intact (binary-safe). */
    ctx.messages = 0;
    char other[192];
    topic_of(other, sizeof other, prefix, "in/carbon");
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, other, "0.42", 4, 0, 0), 0);
    ck_assert_msg(wait_until(has_message, &ctx, 5000), "own message not received");
    ck_assert_str_eq(ctx.last_payload, "0.42");

    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ctx.m, &st);
    ck_assert_uint_eq(st.received, 3);
    ck_assert_uint_eq(st.dropped, 0);
    client_shutdown(&ctx, 0);
}
END_TEST

START_TEST(test_last_will_on_crash)
{
    char prefix[128], status[192];
    make_prefix(prefix, sizeof prefix, "will");
    topic_of(status, sizeof status, prefix, "status");

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
    self[n] = '\0';
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "--will-child", broker.uri, prefix, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);

    /* Bounded wait for the child to report that it is connected and "online" is delivered. */
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int ready = poll(&pfd, 1, 10000);
    char buf[16] = {0};
    ssize_t got = ready > 0 ? read(fds[0], buf, sizeof buf - 1) : -1;
    close(fds[0]);
    if (got <= 0 || strncmp(buf, "ready", 5) != 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        char *log = broker_log(&broker);
        ck_abort_msg("will child did not get ready; broker log:\n%s", log != NULL ? log : "");
    }
    char *payload = NULL;
    ck_assert_int_eq(test_mqtt_wait_message(broker.uri, status, 3000, &payload), 0);
    ck_assert_str_eq(payload, "{\"state\":\"online\"}");
    free(payload);

    /* Die without DISCONNECT: the broker must publish the will, retained. */
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    int wstatus = 0;
    ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
    ck_assert(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    payload = NULL;
    ck_assert_int_eq(test_mqtt_wait_message_match(broker.uri, status, "offline", 5000, &payload),
                     0);
    ck_assert_str_eq(payload, "{\"state\":\"offline\",\"reason\":\"connection lost\"}");
    free(payload);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_reconnect_after_broker_restart)
{
    ctx_t ctx;
    char prefix[128], filter[192], topic[192], status[192];
    make_prefix(prefix, sizeof prefix, "reconnect");
    topic_of(filter, sizeof filter, prefix, "in/#");
    topic_of(topic, sizeof topic, prefix, "in/event");
    topic_of(status, sizeof status, prefix, "status");
    client_new(&ctx, prefix, NULL);
    ck_assert_int_eq(gridems_mqtt_subscribe(ctx.m, filter, 1), 0);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_msg(wait_until(is_live, &ctx, 5000), "not connected and subscribed");

    /* The broker crashes. */
    broker_kill(&broker);
    ck_assert_msg(wait_until(is_disconnected, &ctx, 5000), "connection loss not noticed");
    ck_assert_int_eq(ctx.disconnected_calls, 1);
    ck_assert_uint_eq(gridems_mqtt_pending_subscriptions(ctx.m), 1);

    /* While offline a publish fails at once instead of queueing. */
    double t0 = test_now_ms();
    int rc = gridems_mqtt_publish(ctx.m, topic, "x", 1, 1, 0);
    double took = test_now_ms() - t0;
    ck_assert_int_eq(rc, GRIDEMS_EMQTT);
    ck_assert_msg(took < 50.0, "offline publish took %.1f ms", took);
    gridems_mqtt_stats_t st;
    gridems_mqtt_get_stats(ctx.m, &st);
    ck_assert_uint_eq(st.publish_failures, 1);

    /* The broker comes back on the same port (with no memory: persistence is off). */
    broker_restart(&broker);
    ck_assert_msg(wait_until(is_live, &ctx, 20000), "no automatic reconnect and resubscribe");
    ck_assert_int_eq(ctx.reconnect_calls, 1);
    ck_assert_int_eq(ctx.online_rc, 0);
    gridems_mqtt_get_stats(ctx.m, &st);
    ck_assert_uint_eq(st.reconnects, 1);

    /* "online" was published again on reconnect: the new broker knows it. */
    char *payload = NULL;
    ck_assert_int_eq(test_mqtt_wait_message_match(broker.uri, status, "online", 3000, &payload), 0);
    free(payload);

    /* The subscription was made again: messages arrive once more. */
    ck_assert_int_eq(test_mqtt_publish(broker.uri, topic, "{\"id\":\"dr1\"}", 0), 0);
    ck_assert_msg(wait_until(has_message, &ctx, 5000), "no message after reconnect");
    ck_assert_str_eq(ctx.last_topic, topic);
    ck_assert_str_eq(ctx.last_payload, "{\"id\":\"dr1\"}");
    client_shutdown(&ctx, 0);
}
END_TEST

START_TEST(test_first_connect_retried_until_broker_up)
{
    ctx_t ctx;
    char prefix[128];
    make_prefix(prefix, sizeof prefix, "latebroker");
    broker_stop(&broker);
    client_new(&ctx, prefix, NULL);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_msg(wait_until(has_connect_failure, &ctx, 5000), "connect failure not reported");
    ck_assert(!gridems_mqtt_is_connected(ctx.m));
    ck_assert_int_eq(gridems_mqtt_publish(ctx.m, "a/b", "x", 1, 0, 0), GRIDEMS_EMQTT);

    /* The service may start before the broker: Paho keeps retrying the first connect. */
    broker_restart(&broker);
    ck_assert_msg(wait_until(is_connected, &ctx, 15000), "first connect not retried");
    ck_assert_int_eq(ctx.connected_calls, 1);
    ck_assert_int_eq(ctx.reconnect_calls, 0);
    ck_assert_msg(wait_until(has_delivery, &ctx, 5000), "online status not acknowledged");
    client_shutdown(&ctx, 0);
}
END_TEST

START_TEST(test_shutdown_while_broker_down)
{
    ctx_t ctx;
    char prefix[128];
    make_prefix(prefix, sizeof prefix, "downstop");
    client_new(&ctx, prefix, NULL);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_msg(wait_until(is_connected, &ctx, 5000), "no connection");
    broker_kill(&broker);
    ck_assert_msg(wait_until(is_disconnected, &ctx, 5000), "connection loss not noticed");
    /* Nothing to disconnect from: the shutdown still completes promptly and reports it. */
    client_shutdown(&ctx, GRIDEMS_EMQTT);
}
END_TEST

START_TEST(test_shutdown_times_out_when_broker_hangs)
{
    ctx_t ctx;
    char prefix[128];
    make_prefix(prefix, sizeof prefix, "hang");
    client_new(&ctx, prefix, NULL);
    ck_assert_int_eq(gridems_mqtt_connect(ctx.m), 0);
    ck_assert_msg(wait_until(is_connected, &ctx, 5000), "no connection");
    ck_assert_msg(wait_until(has_delivery, &ctx, 5000), "online status not acknowledged");
    /* The broker hangs: the TCP connection stays up, but nothing is acknowledged any more. */
    broker_pause(&broker);
    double t0 = test_now_ms();
    ck_assert_int_eq(gridems_mqtt_shutdown(ctx.m, NULL, 500, on_shutdown), 0);
    ck_assert_msg(wait_until(is_shut_down, &ctx, 5000), "shutdown did not finish");
    double took = test_now_ms() - t0;
    ck_assert_int_eq(ctx.shutdown_status, GRIDEMS_ETIMEDOUT);
    ck_assert_msg(took >= 400.0 && took < 2000.0, "shutdown took %.0f ms", took);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    broker_resume(&broker);
}
END_TEST

/* ---- ## The last-will child process ---- */

static int child_ready(const ctx_t *ctx)
{
    return gridems_mqtt_is_connected(ctx->m) && has_delivery(ctx);
}

/* Connect with a will, publish "online", say "ready" on stdout, then wait to be killed. */
static int will_child(const char *uri, const char *prefix)
{
    ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    if (uv_loop_init(&loop) != 0) {
        return 2;
    }
    gridems_mqtt_options_t o;
    memset(&o, 0, sizeof o);
    o.uri = uri;
    o.topic_prefix = prefix;
    o.will_payload = "{\"state\":\"offline\",\"reason\":\"connection lost\"}";
    o.on_connected = on_connected;
    o.userdata = &ctx;
    if (gridems_mqtt_create(&loop, &o, &ctx.m) != 0 || gridems_mqtt_connect(ctx.m) != 0) {
        return 3;
    }
    if (!wait_until(child_ready, &ctx, 8000)) {
        return 4;
    }
    if (write(1, "ready\n", 6) != 6) {
        return 5;
    }
    /* Bounded: the parent kills us long before this ends. */
    double deadline = test_now_ms() + 20000;
    while (test_now_ms() < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        test_sleep_ms(20);
    }
    return 6;
}

static Suite *mqtt_suite(void)
{
    Suite *s = suite_create("mqtt_client");
    TCase *basic = tcase_create("basic");
    tcase_add_checked_fixture(basic, setup, teardown);
    tcase_set_timeout(basic, 30);
    tcase_add_test(basic, test_create_rejects_bad_options);
    tcase_add_test(basic, test_online_status_and_clean_shutdown);
    tcase_add_test(basic, test_subscribe_and_receive);
    tcase_add_test(basic, test_last_will_on_crash);
    suite_add_tcase(s, basic);

    TCase *outage = tcase_create("outage");
    tcase_add_checked_fixture(outage, setup, teardown);
    tcase_set_timeout(outage, 60);
    tcase_add_test(outage, test_reconnect_after_broker_restart);
    tcase_add_test(outage, test_first_connect_retried_until_broker_up);
    tcase_add_test(outage, test_shutdown_while_broker_down);
    tcase_add_test(outage, test_shutdown_times_out_when_broker_hangs);
    suite_add_tcase(s, outage);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--will-child") == 0) {
        return will_child(argv[2], argv[3]);
    }
    if (!broker_available()) {
        fprintf(stderr, "mosquitto not found: skipping the MQTT integration tests\n");
        return 77;
    }
    return test_run_suite(mqtt_suite());
}
