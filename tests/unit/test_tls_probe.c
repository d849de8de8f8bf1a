/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The TLS probe's own failures (core/src/mqtt/tls_probe.h): what it says when there is no TLS to
 * check. The TLS causes themselves (wrong CA, wrong host) are tested against a real mosquitto in
 * tests/integration/test_security.c.
 */
#include "check_run.h"
#include "test_util.h"
#include "tls_probe.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port nobody listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(no_host)
{
    char out[512] = "";
    ck_assert_int_eq(gridems__tls_probe("ssl://:8883", NULL, NULL, NULL, 500, out, sizeof out), -1);
    ck_assert_msg(strstr(out, "cannot find the host and port") != NULL, "%s", out);
    ck_assert_int_eq(gridems__tls_probe("ssl://[::1", NULL, NULL, NULL, 500, out, sizeof out), -1);
}
END_TEST

START_TEST(refused_connection_named)
{
    char uri[64], want[64], out[512] = "";
    int port = closed_port();
    snprintf(uri, sizeof uri, "ssl://127.0.0.1:%d/", port);
    ck_assert_int_eq(gridems__tls_probe(uri, NULL, NULL, NULL, 2000, out, sizeof out), 1);
    snprintf(want, sizeof want, "TCP connect to 127.0.0.1:%d failed: Connection refused", port);
    ck_assert_msg(strcmp(out, want) == 0, "%s", out);
    /* IPv6 in brackets: the host is found without them (refused, or no IPv6 on this host). */
    snprintf(uri, sizeof uri, "mqtts://[::1]:%d", port);
    ck_assert_int_eq(gridems__tls_probe(uri, NULL, NULL, NULL, 2000, out, sizeof out), 1);
    snprintf(want, sizeof want, "TCP connect to ::1:%d failed: ", port);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
}
END_TEST

START_TEST(bad_trust_store_named)
{
    char out[512] = "";
    ck_assert_int_eq(gridems__tls_probe("ssl://127.0.0.1:1", "/nonexistent/ca.pem", NULL, NULL, 500,
                                        out, sizeof out),
                     1);
    ck_assert_msg(strstr(out, "cannot load the trust store /nonexistent/ca.pem") != NULL, "%s",
                  out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls_probe");
    TCase *tc = tcase_create("probe");
    tcase_add_test(tc, no_host);
    tcase_add_test(tc, refused_connection_named);
    tcase_add_test(tc, bad_trust_store_named);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
