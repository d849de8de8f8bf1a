/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The MQTT client, bridged into the libuv loop: a wrapper over Paho MQTTAsync.
 *
 * Threads. Paho runs its own send and receive threads and calls back from them. Those callbacks
 * only copy what they are given, free Paho's memory (MQTTAsync_freeMessage, MQTTAsync_free), post
 * an event to this client's mailbox and return. Everything else -- connection state, the
 * subscription list, counters, the owner's callbacks -- lives on the loop thread. Every function
 * below must be called on the loop thread, and every callback to the owner runs on it.
 *
 * Settings (GUIDE F): no persistence (MQTTCLIENT_PERSISTENCE_NONE, never a directory), MQTT
 * 3.1.1, cleansession=1, automatic reconnect with back-off (1 s doubling to 30 s by default; Paho
 * also retries a first connect that fails), sendWhileDisconnected=0 so a publish while offline
 * fails at once, and a last will on "<prefix>/status", retained, QoS 1, payload supplied by the
 * owner (default {"state":"offline"}). Every registered subscription is made again on every
 * connect and reconnect, because a clean session forgets them.
 *
 * Errors: 0 or a negative GRIDEMS_E* code. Paho's negative MQTTASYNC_* codes become
 * GRIDEMS_EMQTT; the original code and Paho's text are logged where they are translated. A
 * function that returns an error never calls its callback.
 *
 * Lifetime:
 *   gridems_mqtt_create()     allocate, create the Paho handle, set the callbacks; no I/O yet.
 *   gridems_mqtt_subscribe()  register the input topics (any time; remembered).
 *   gridems_mqtt_connect()    start connecting; on_connected fires on every (re)connect, and is
 *                             where the owner publishes "online" (gridems_mqtt_publish_status).
 *   gridems_mqtt_publish()    while connected.
 *   gridems_mqtt_shutdown()   publish the final status, disconnect, wait (bounded), destroy Paho
 *                             on the loop thread, close the mailbox; the callback then reports
 *                             the result, and the client is freed when the callback returns.
 */
#ifndef GRIDEMS_MQTT_CLIENT_H
#define GRIDEMS_MQTT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gridems_mqtt_s gridems_mqtt_t;

/* TLS settings, passed through to Paho's MQTTAsync_SSLOptions. They need an ssl://, mqtts:// or
 * wss:// URI (gridems_mqtt_create() refuses a tcp:// URI with TLS settings: GRIDEMS_EINVAL), and
 * the TLS build of Paho (paho-mqtt3as): with the plain build (paho-mqtt3a) Paho rejects such a
 * URI and gridems_mqtt_create() fails with GRIDEMS_EMQTT ("Invalid protocol scheme" logged). */
typedef struct gridems_mqtt_tls_s {
    const char *ca_file;      /* PEM trust store; NULL = the system default. */
    const char *cert_file;    /* PEM client certificate chain (may include the key); or NULL. */
    const char *key_file;     /* PEM client private key, if not in cert_file; or NULL. */
    const char *key_password; /* Password of an encrypted key; or NULL. */
    int verify;               /* 1 = verify the server certificate and host name. */
} gridems_mqtt_tls_t;

/*
 * A message arrived on a subscribed topic.
 *   topic:   borrowed, NUL-terminated, valid during the call only.
 *   payload: borrowed, valid during the call only; len bytes plus a terminating NUL that is not
 *            counted in len (so JSON text can be parsed in place).
 * QoS 1 may redeliver: handlers must tolerate duplicates.
 */
typedef void (*gridems_mqtt_message_cb)(gridems_mqtt_t *m, const char *topic, const void *payload,
                                        size_t len, int qos, int retained, void *userdata);

/* The client is connected and has re-issued its subscriptions. reconnect is 0 for the first
 * connection and 1 afterwards. The owner publishes its "online" status here. */
typedef void (*gridems_mqtt_connected_cb)(gridems_mqtt_t *m, int reconnect, void *userdata);

/* The connection was lost; Paho is reconnecting on its own. Not called during shutdown. */
typedef void (*gridems_mqtt_disconnected_cb)(gridems_mqtt_t *m, void *userdata);

/*
 * Shutdown finished. status is 0 when the broker acknowledged the final status and the
 * disconnect, GRIDEMS_EMQTT when the client was not connected (the broker then publishes the
 * last will instead) or either step failed, GRIDEMS_ETIMEDOUT when the broker did not answer in
 * time. Either way Paho is destroyed, the handles are closed, and m is freed as soon as this
 * callback returns.
 */
typedef void (*gridems_mqtt_shutdown_cb)(gridems_mqtt_t *m, int status, void *userdata);

/* Options for gridems_mqtt_create(). Zero-initialise, then set what you need. Every string is
 * copied; none needs to outlive the call. */
typedef struct gridems_mqtt_options_s {
    const char *uri;          /* Required: "tcp://127.0.0.1:1883", "ssl://host:8883", ... */
    const char *client_id;    /* NULL = generated, unique per process: gridems-<host>-<pid>-<n>.
                                 A given id is used as is; it must be unique on the broker. */
    const char *topic_prefix; /* Required: "gridems/site1"; no wildcards, no trailing '/'. */
    const char *username;     /* Optional. */
    const char *password;     /* Optional; only with username (else GRIDEMS_EINVAL). */
    const gridems_mqtt_tls_t *tls; /* NULL = no TLS settings: none for tcp://, the system
                                      trust store with verification for ssl:// and mqtts://. */
    const char *will_payload;      /* Last will on <prefix>/status; NULL = {"state":"offline"}. */
    int keepalive_s;               /* 0 = 30 s. */
    int connect_timeout_s;         /* 0 = 10 s. */
    int min_retry_s;               /* Reconnect back-off start; 0 = 1 s. */
    int max_retry_s;               /* Reconnect back-off cap; 0 = 30 s. */
    gridems_mqtt_message_cb on_message;           /* Optional. */
    gridems_mqtt_connected_cb on_connected;       /* Optional. */
    gridems_mqtt_disconnected_cb on_disconnected; /* Optional. */
    void *userdata;                               /* Passed to the callbacks; never touched. */
    int no_status; /* 1 = a plain subscriber on someone else's broker (an OpenADR VTN's): no last
                      will, no final status at shutdown (topic_prefix is still required). */
} gridems_mqtt_options_t;

/* Counters for metrics. Monotonic over the client's life. */
typedef struct gridems_mqtt_stats_s {
    uint64_t received;         /* Messages handed to on_message. */
    uint64_t published;        /* Publishes accepted by Paho. */
    uint64_t publish_failures; /* Publishes refused (offline, bad argument) or failed later. */
    uint64_t delivered;        /* Delivery completions reported by Paho. */
    uint64_t reconnects;       /* Successful connections after the first. */
    uint64_t connect_failures; /* Failed connection attempts. */
    uint64_t dropped;          /* Events lost in a Paho callback (out of memory). */
} gridems_mqtt_stats_t;

/*
 * Create a client. Nothing is sent until gridems_mqtt_connect().
 *   loop: borrowed; must outlive the client (until the shutdown callback has run).
 *   opts: borrowed; every string in it is copied.
 *   out:  receives the client on success; the caller disposes of it with gridems_mqtt_shutdown()
 *         only (never free()).
 * Returns 0, GRIDEMS_EINVAL (missing URI or prefix, bad prefix, negative numbers, min retry above
 * max retry, password without user name, TLS settings with a non-TLS URI), GRIDEMS_ENOMEM, or
 * GRIDEMS_EMQTT (Paho refused the URI or client id; logged). On error nothing is left to clean
 * up and *out is NULL.
 * Thread: the loop thread.
 */
int gridems_mqtt_create(uv_loop_t *loop, const gridems_mqtt_options_t *opts, gridems_mqtt_t **out);

/*
 * Start connecting, in the background. Success is reported through on_connected; failures are
 * logged (rate-limited) and retried by Paho with back-off for as long as the client lives.
 *   m: borrowed.
 * Returns 0, GRIDEMS_ESTATE (already started, or shutting down) or GRIDEMS_EMQTT (Paho refused
 * the options; logged). On error on_connected is not called because of this call.
 * Thread: the loop thread.
 */
int gridems_mqtt_connect(gridems_mqtt_t *m);

/*
 * Register a subscription, remembered for every later reconnect. If connected, it is also
 * subscribed now; otherwise it is subscribed on the next connect. Registering the same filter
 * again updates its QoS.
 *   m:      borrowed.
 *   filter: copied; may contain wildcards.
 *   qos:    0, 1 or 2.
 * Returns 0, GRIDEMS_EINVAL, GRIDEMS_ENOMEM, GRIDEMS_ESTATE (shutting down) or GRIDEMS_EMQTT
 * (connected, but Paho refused the request; logged; the subscription stays registered and is
 * retried on the next reconnect).
 * Thread: the loop thread.
 */
int gridems_mqtt_subscribe(gridems_mqtt_t *m, const char *filter, int qos);

/*
 * Publish a message. Never queued while offline: the caller decides what to keep.
 *   m:       borrowed.
 *   topic:   copied; no wildcards.
 *   payload: copied; may be NULL when len is 0 (an empty retained message clears the topic).
 *   qos:     0, 1 or 2.  retain: 0 or 1.
 * Returns 0 once Paho has accepted the message (delivery completes in the background),
 * GRIDEMS_EMQTT when not connected or when Paho refuses it (logged, rate-limited),
 * GRIDEMS_EINVAL, GRIDEMS_ETOOBIG (len above the MQTT limit) or GRIDEMS_ESTATE (shutting down).
 * Thread: the loop thread.
 */
int gridems_mqtt_publish(gridems_mqtt_t *m, const char *topic, const void *payload, size_t len,
                         int qos, int retain);

/*
 * Publish payload (a NUL-terminated string, copied) to <prefix>/status, retained, QoS 1: the
 * "online" announcement from on_connected, or "degraded".
 * Returns what gridems_mqtt_publish() returns. Thread: the loop thread.
 */
int gridems_mqtt_publish_status(gridems_mqtt_t *m, const char *payload);

/* 1 if connected, as last reported to the loop thread (not MQTTAsync_isConnected()), else 0.
 * m: borrowed. Thread: the loop thread. */
int gridems_mqtt_is_connected(const gridems_mqtt_t *m);

/* Number of registered subscriptions the broker has not yet answered on the current connection
 * (all of them while disconnected). 0 means every input topic is live. m: borrowed.
 * Thread: the loop thread. */
size_t gridems_mqtt_pending_subscriptions(const gridems_mqtt_t *m);

/* The client id, the topic prefix and "<prefix>/status". Returned strings are owned by the
 * client and valid until it is freed. Thread: any, since they never change. */
const char *gridems_mqtt_client_id(const gridems_mqtt_t *m);
const char *gridems_mqtt_topic_prefix(const gridems_mqtt_t *m);
const char *gridems_mqtt_status_topic(const gridems_mqtt_t *m);

/* Copy the counters into *out (caller-allocated). Thread: the loop thread. */
void gridems_mqtt_get_stats(const gridems_mqtt_t *m, gridems_mqtt_stats_t *out);

/*
 * Clean shutdown (GUIDE E): if connected, publish final_status retained at QoS 1 to
 * <prefix>/status and wait for the broker's PUBACK; then MQTTAsync_disconnect and wait for its
 * onSuccess/onFailure; both waits go through the mailbox and together take at most timeout_ms.
 * Then MQTTAsync_destroy on the loop thread, and the mailbox and timer are closed; cb runs once
 * they are, and the client is freed when cb returns. No other callback to the owner runs once
 * this has been called, and messages still arriving are discarded. The loop must keep running
 * until cb has been called.
 *   m:            transferred on success only (freed after cb returns).
 *   final_status: copied; NULL = the will payload.
 *   timeout_ms:   bound for the whole sequence; 0 = 2000.
 *   cb:           required.
 * Returns 0, GRIDEMS_EINVAL (NULL m or cb) or GRIDEMS_ESTATE (already shutting down); on error cb
 * is never called.
 * Thread: the loop thread; may be called from inside the client's own callbacks.
 */
int gridems_mqtt_shutdown(gridems_mqtt_t *m, const char *final_status, unsigned timeout_ms,
                          gridems_mqtt_shutdown_cb cb);

#endif
