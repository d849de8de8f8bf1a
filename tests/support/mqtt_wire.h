/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test support: a minimal MQTT 3.1.1 client on a plain TCP socket, for tests that keep several
 * connections open in one process.
 *
 * Why not broker.h's Paho client: Paho MQTTAsync 1.3.12 (Debian 12) needs about 2 s to connect a
 * client while another client exists in the same process (its background thread notices the new
 * socket only when its 1 s select() times out, twice; eclipse-paho/paho.mqtt.c#1430). With a
 * persistent subscriber open, every publish would then take 2 s, which defeats latency
 * assertions and a short test. This client has no threads: all I/O happens inside its calls,
 * each bounded by its timeout.
 *
 * What it speaks: CONNECT (clean session, keep-alive off, so an idle connection is never
 * dropped), SUBSCRIBE at QoS 1, PUBLISH at QoS 0 or 1 (waiting for the PUBACK), incoming
 * PUBLISH at QoS 0 and 1 (acknowledged), DISCONNECT. tcp://host:port URIs with a numeric IPv4
 * host only (the test brokers listen on 127.0.0.1).
 *
 * Messages that arrive while a call waits for something else are queued in arrival order;
 * wire_next() takes them by topic, so one connection can serve several subscriptions.
 * Everything here is for one thread. Nothing aborts the test: failures return -1 or NULL with a
 * line on stderr.
 */
#ifndef GRIDEMS_TEST_MQTT_WIRE_H
#define GRIDEMS_TEST_MQTT_WIRE_H

#include <stddef.h>

typedef struct wire_s wire_t;

/* One received message. Free it with wire_msg_free(). */
typedef struct wire_msg_s {
    char *topic;   /* NUL-terminated */
    char *payload; /* len bytes plus a NUL that is not counted */
    size_t len;
    int retained;      /* the broker sent it from its retained store (a subscription's start) */
    double arrived_ms; /* test_now_ms() when its last byte was read */
} wire_msg_t;

/* Connect to uri and wait for the CONNACK. Returns the client or NULL. */
wire_t *wire_connect(const char *uri, int timeout_ms);

/* As wire_connect(), with a user name and password (either may be NULL: not sent). *connack
 * (may be NULL) receives the broker's CONNACK return code (0 accepted, 4 bad user name or
 * password, 5 not authorised), or -1 when none came. */
wire_t *wire_connect_auth(const char *uri, const char *user, const char *pass, int timeout_ms,
                          int *connack);

/* Subscribe to filter at QoS 1 and wait for the SUBACK. Retained messages that match come next.
 * Returns 0 or -1. */
int wire_subscribe(wire_t *w, const char *filter, int timeout_ms);

/* Publish payload (a NUL-terminated string) on topic. At QoS 1, wait for the PUBACK: the broker
 * has then taken the message, and delivers it to each subscriber in order after every message it
 * took earlier from this connection. Returns 0 or -1. */
int wire_publish(wire_t *w, const char *topic, const char *payload, int qos, int retain,
                 int timeout_ms);

/* The same for plen bytes of any content (NUL bytes included). */
int wire_publish_len(wire_t *w, const char *topic, const void *payload, size_t plen, int qos,
                     int retain, int timeout_ms);

/*
 * The first queued or arriving message whose topic equals topic (NULL: any topic) and whose
 * payload contains needle (NULL: any), waiting up to timeout_ms. Earlier messages on the same
 * topic that do not match are dropped; messages on other topics stay queued. Returns 0 with *out
 * filled, or -1 on timeout or a broken connection.
 */
int wire_next(wire_t *w, const char *topic, const char *needle, int timeout_ms, wire_msg_t *out);

/* Send DISCONNECT (best effort), close the socket, free everything. NULL is ignored. */
void wire_close(wire_t *w);

void wire_msg_free(wire_msg_t *m);

/* Connect, subscribe to topic, take its first message (the retained one if there is one, else
 * the next one published within timeout_ms), disconnect. Returns 0 or -1. */
int wire_read_one(const char *uri, const char *topic, int timeout_ms, wire_msg_t *out);

#endif
