/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "mqtt_client.h"

#include "gridems/errors.h"
#include "log.h"
#include "mailbox.h"
#include "tls_probe.h"

#include <MQTTAsync.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum {
    /* The largest payload MQTT's remaining-length field can describe; Paho checks the rest. */
    MQTT_MAX_PAYLOAD = 268435455,
    MQTT_MAX_TOPIC = 65535,
    DEFAULT_KEEPALIVE_S = 30,
    DEFAULT_CONNECT_TIMEOUT_S = 10,
    DEFAULT_MIN_RETRY_S = 1,
    DEFAULT_MAX_RETRY_S = 30,
    DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000,
    /* Required by Paho to be positive even with sendWhileDisconnected=0. */
    MAX_BUFFERED_MESSAGES = 100
};

static const char DEFAULT_WILL[] = "{\"state\":\"offline\"}";

/* ---- ## Types ---- */

typedef enum {
    ST_IDLE,     /* Created; gridems_mqtt_connect() not called yet. */
    ST_STARTED,  /* Connecting, connected or reconnecting. */
    ST_STOPPING, /* Shutdown called; waiting for the disconnect to complete. */
    ST_CLOSING   /* Paho destroyed; handles closing; events are discarded. */
} client_state_t;

/* What a Paho callback hands to the loop thread. */
typedef enum {
    EV_CONNECTED,
    EV_CONNECTION_LOST,
    EV_CONNECT_FAILED,
    EV_MESSAGE,
    EV_DELIVERED,
    EV_SUBSCRIBED,
    EV_SUBSCRIBE_FAILED,
    EV_PUBLISH_FAILED,
    EV_DISCONNECT_DONE
} event_type_t;

typedef struct event_s {
    gridems_mailbox_node_t node;
    event_type_t type;
    int code;  /* Paho or MQTT code of a failure; the granted QoS of a subscription. */
    int token; /* Paho token of the request concerned, where there is one. */
    int qos;
    int retained;
    size_t payload_len;
    char *topic;   /* Points into data; NUL-terminated. */
    char *payload; /* Points into data; NUL-terminated (not counted in payload_len). */
    char *text;    /* Points into data; Paho's explanation of a failure, or NULL. */
    char data[];   /* One allocation per event, so a callback allocates once. */
} event_t;

typedef enum {
    SUB_PENDING, /* Not yet answered on the current connection (or disconnected). */
    SUB_ACTIVE,  /* The broker granted it on the current connection. */
    SUB_FAILED   /* Refused on the current connection; retried on the next. */
} sub_state_t;

typedef struct subscription_s {
    char *filter;
    int qos;
    int token; /* Token of the SUBSCRIBE sent on the current connection; 0 = none. */
    sub_state_t state;
} subscription_t;

/* A TLS probe on a libuv worker thread (tls_probe.h). It owns copies of what it needs, so the
 * client may be freed while it runs: the client then clears `m`, and the request frees itself. */
typedef struct tls_probe_req_s {
    uv_work_t work;
    gridems_mqtt_t *m; /* NULL once the client is gone */
    char *uri, *ca_file, *cert_file, *key_file;
    int result;
    char cause[512];
} tls_probe_req_t;

struct gridems_mqtt_s {
    uv_loop_t *loop;
    MQTTAsync paho;
    gridems_mailbox_t mailbox;
    uv_timer_t timer; /* Shutdown timeout, or the deferred finish of a shutdown. */
    int handles_open;
    client_state_t state;
    int connected; /* As last reported through the mailbox. */
    int ever_connected;

    char *uri;
    char *client_id;
    char *prefix;
    char *status_topic;
    char *will_payload;
    char *username;
    char *password;
    int use_tls;
    int tls_verify;
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *key_password;
    int keepalive_s;
    int no_status; /* no will, no final status (gridems_mqtt_options_t.no_status) */
    int connect_timeout_s;
    int min_retry_s;
    int max_retry_s;

    subscription_t *subs;
    size_t n_subs;
    size_t cap_subs;

    gridems_mqtt_message_cb on_message;
    gridems_mqtt_connected_cb on_connected;
    gridems_mqtt_disconnected_cb on_disconnected;
    void *userdata;

    gridems_mqtt_shutdown_cb shutdown_cb;
    int shutdown_status;
    int started;             /* At shutdown: 1 if gridems_mqtt_connect() had been called. */
    int awaiting_final;      /* 1 while the final status waits for its PUBACK. */
    int final_token;         /* Paho token of the final status. */
    int awaiting_disconnect; /* 1 while MQTTAsync_disconnect's answer is outstanding. */

    gridems_mqtt_stats_t stats;   /* Loop thread only, except dropped (see below). */
    atomic_uint_fast64_t dropped; /* Written by Paho's threads. */
    gridems_complaint_t connect_complaint;
    gridems_complaint_t publish_complaint;
    tls_probe_req_t *probe;  /* the TLS probe running, or NULL */
    uint64_t probe_after_ms; /* uv_now() before which no new probe starts */
    char tls_cause[512];     /* what the last probe found, "" if nothing yet */
};

/* ---- ## Error translation ---- */

static const char *paho_text(int rc)
{
    /* Positive codes on a connect failure are the broker's CONNACK return codes. */
    switch (rc) {
    case 1:
        return "connection refused: unacceptable protocol version";
    case 2:
        return "connection refused: identifier rejected";
    case 3:
        return "connection refused: server unavailable";
    case 4:
        return "connection refused: bad user name or password";
    case 5:
        return "connection refused: not authorised";
    default:
        break;
    }
    const char *text = MQTTAsync_strerror(rc);
    return text != NULL ? text : "unknown Paho error";
}

/* Log a Paho failure with its original code and text, and return the project's code for it. */
static int paho_error(int rc, const char *what, const char *detail)
{
    gridems_log_err("mqtt: %s%s%s failed: Paho code %d (%s)", what, detail != NULL ? " " : "",
                    detail != NULL ? detail : "", rc, paho_text(rc));
    return GRIDEMS_EMQTT;
}

/* ---- ## Paho callbacks (Paho's threads: copy, free Paho's memory, post, return) ---- */

static event_t *event_new(event_type_t type, size_t extra)
{
    event_t *ev = malloc(sizeof *ev + extra);
    if (ev != NULL) {
        memset(ev, 0, sizeof *ev);
        ev->type = type;
    }
    return ev;
}

static void post_event(gridems_mqtt_t *m, event_t *ev)
{
    if (ev == NULL) {
        atomic_fetch_add(&m->dropped, 1);
        return;
    }
    if (gridems_mailbox_post(&m->mailbox, &ev->node) != 0) {
        /* Only possible once shutdown has closed the mailbox, when nothing is wanted anyway. */
        free(ev);
        atomic_fetch_add(&m->dropped, 1);
    }
}

static void post_simple(gridems_mqtt_t *m, event_type_t type, int code, int token, const char *text)
{
    size_t text_len = text != NULL ? strlen(text) + 1 : 0;
    event_t *ev = event_new(type, text_len);
    if (ev != NULL) {
        ev->code = code;
        ev->token = token;
        if (text != NULL) {
            ev->text = ev->data;
            memcpy(ev->text, text, text_len);
        }
    }
    post_event(m, ev);
}

static int on_paho_message(void *context, char *topic_name, int topic_len, MQTTAsync_message *msg)
{
    gridems_mqtt_t *m = context;
    /* topic_len is 0 when the topic is NUL-terminated (Paho's convention). */
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic_name);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    event_t *ev = event_new(EV_MESSAGE, tlen + 1 + plen + 1);
    if (ev != NULL) {
        ev->topic = ev->data;
        memcpy(ev->topic, topic_name, tlen);
        ev->topic[tlen] = '\0';
        ev->payload = ev->data + tlen + 1;
        if (plen > 0) {
            memcpy(ev->payload, msg->payload, plen);
        }
        ev->payload[plen] = '\0';
        ev->payload_len = plen;
        ev->qos = msg->qos;
        ev->retained = msg->retained;
    }
    /* Paho's memory goes back to Paho's allocator, whatever happened above. */
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic_name);
    post_event(m, ev);
    /* 1 = consumed. Returning 0 would make Paho redeliver, which only helps if we could wait
     * for memory; a message lost to out-of-memory is counted in "dropped" instead. */
    return 1;
}

static void on_paho_connection_lost(void *context, char *cause)
{
    /* cause belongs to Paho (and is NULL in current versions): copied, never freed. */
    post_simple(context, EV_CONNECTION_LOST, 0, 0, cause);
}

static void on_paho_connected(void *context, char *cause)
{
    (void)cause; /* A static string in Paho ("automatic reconnect", ...). */
    post_simple(context, EV_CONNECTED, 0, 0, NULL);
}

static void on_paho_delivered(void *context, MQTTAsync_token token)
{
    post_simple(context, EV_DELIVERED, 0, token, NULL);
}

static void on_paho_connect_failure(void *context, MQTTAsync_failureData *resp)
{
    post_simple(context, EV_CONNECT_FAILED, resp != NULL ? resp->code : MQTTASYNC_FAILURE,
                resp != NULL ? resp->token : 0, resp != NULL ? resp->message : NULL);
}

static void on_paho_subscribe_ok(void *context, MQTTAsync_successData *resp)
{
    post_simple(context, EV_SUBSCRIBED, resp != NULL ? resp->alt.qos : 0,
                resp != NULL ? resp->token : 0, NULL);
}

static void on_paho_subscribe_failure(void *context, MQTTAsync_failureData *resp)
{
    post_simple(context, EV_SUBSCRIBE_FAILED, resp != NULL ? resp->code : MQTTASYNC_FAILURE,
                resp != NULL ? resp->token : 0, resp != NULL ? resp->message : NULL);
}

static void on_paho_publish_failure(void *context, MQTTAsync_failureData *resp)
{
    post_simple(context, EV_PUBLISH_FAILED, resp != NULL ? resp->code : MQTTASYNC_FAILURE,
                resp != NULL ? resp->token : 0, resp != NULL ? resp->message : NULL);
}

static void on_paho_disconnect_ok(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    post_simple(context, EV_DISCONNECT_DONE, 0, 0, NULL);
}

static void on_paho_disconnect_failure(void *context, MQTTAsync_failureData *resp)
{
    post_simple(context, EV_DISCONNECT_DONE, resp != NULL ? resp->code : MQTTASYNC_FAILURE, 0,
                resp != NULL ? resp->message : NULL);
}

/* Paho's trace callback may only log ("Do not invoke any other Paho API calls in this callback").
 * gridems_log() is safe from any thread. */
static void on_paho_trace(enum MQTTASYNC_TRACE_LEVELS level, char *message)
{
    (void)level;
    gridems_log_debug("mqtt: paho: %s", message);
}

static void install_trace(void)
{
    MQTTAsync_setTraceCallback(on_paho_trace);
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

/* ---- ## Loop thread: subscriptions and publishing ---- */

static int subscribe_one(gridems_mqtt_t *m, subscription_t *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_paho_subscribe_ok;
    ro.onFailure = on_paho_subscribe_failure;
    ro.context = m;
    s->state = SUB_PENDING;
    s->token = 0;
    int rc = MQTTAsync_subscribe(m->paho, s->filter, s->qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        s->state = SUB_FAILED;
        return paho_error(rc, "subscribe to", s->filter);
    }
    /* Paho fills in the token before returning; its answer is processed on this thread later,
     * so it always finds the token recorded. */
    s->token = ro.token;
    return 0;
}

static subscription_t *find_sub_by_token(gridems_mqtt_t *m, int token)
{
    for (size_t i = 0; i < m->n_subs; i++) {
        if (m->subs[i].token == token && m->subs[i].state == SUB_PENDING) {
            return &m->subs[i];
        }
    }
    return NULL;
}

/* Hand a validated message to Paho. *token (may be NULL) receives Paho's token for it, which
 * for QoS > 0 is the one its delivery completion will carry. */
static int publish_now(gridems_mqtt_t *m, const char *topic, const void *payload, size_t len,
                       int qos, int retain, int *token)
{
    if (len > MQTT_MAX_PAYLOAD) {
        m->stats.publish_failures++;
        gridems_log_complain(&m->publish_complaint, GRIDEMS_LOG_WARNING,
                             "mqtt: publish to %s refused: %zu bytes is above the MQTT limit",
                             topic, len);
        return GRIDEMS_ETOOBIG;
    }
    if (!m->connected) {
        /* sendWhileDisconnected=0: fail fast and let the caller decide what to keep. Paho
         * would answer MQTTASYNC_DISCONNECTED; asking it is not even needed. */
        m->stats.publish_failures++;
        if (!m->ever_connected) {
            /* Start-up: devices speak before the first connection is up; not worth a warning
             * (a broker that never answers is reported by the connect failures). */
            gridems_log_debug("mqtt: not connected yet, publish to %s dropped", topic);
            return GRIDEMS_EMQTT;
        }
        gridems_log_complain(&m->publish_complaint, GRIDEMS_LOG_WARNING,
                             "mqtt: not connected, publish to %s dropped", topic);
        return GRIDEMS_EMQTT;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onFailure = on_paho_publish_failure;
    ro.context = m;
    /* MQTTAsync_send copies topic and payload, and is safe to call on this thread. */
    int rc =
        MQTTAsync_send(m->paho, topic, (int)len, payload != NULL ? payload : "", qos, retain, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        m->stats.publish_failures++;
        gridems_log_complain(&m->publish_complaint, GRIDEMS_LOG_WARNING,
                             "mqtt: publish to %s failed: Paho code %d (%s)", topic, rc,
                             paho_text(rc));
        return GRIDEMS_EMQTT;
    }
    m->stats.published++;
    if (token != NULL) {
        *token = ro.token;
    }
    return 0;
}

/* ---- ## Loop thread: naming the cause of a TLS failure ---- */

enum {
    TLS_PROBE_TIMEOUT_MS = 2000, /* per step (connect, handshake): a shutdown waits for a running
                                    probe, at most 4 s */
    TLS_PROBE_INTERVAL_MS = 60000
};

static char *dup_or_null(const char *s, int *failed);

static void tls_probe_req_free(tls_probe_req_t *r)
{
    free(r->uri);
    free(r->ca_file);
    free(r->cert_file);
    free(r->key_file);
    free(r);
}

static void tls_probe_work(uv_work_t *work)
{
    tls_probe_req_t *r = container_of(work, tls_probe_req_t, work);
    r->result = gridems__tls_probe(r->uri, r->ca_file, r->cert_file, r->key_file,
                                   TLS_PROBE_TIMEOUT_MS, r->cause, sizeof r->cause);
}

static void tls_probe_done(uv_work_t *work, int status)
{
    tls_probe_req_t *r = container_of(work, tls_probe_req_t, work);
    gridems_mqtt_t *m = r->m;
    if (m != NULL && status == 0) {
        m->probe = NULL;
        if (m->state == ST_STARTED && !m->connected) {
            if (r->result == 1) {
                gridems_log_err("mqtt: TLS connection to %s failed: %s", m->uri, r->cause);
            } else {
                gridems_log_warn("mqtt: connecting to %s fails, but not in TLS: %s", m->uri,
                                 r->cause);
            }
            snprintf(m->tls_cause, sizeof m->tls_cause, "%s", r->cause);
        }
    } else if (m != NULL) {
        m->probe = NULL;
    }
    tls_probe_req_free(r);
}

/* After a failed connect on a TLS URI, find out why (at most once a minute). */
static void maybe_probe_tls(gridems_mqtt_t *m)
{
    if (!m->use_tls || m->probe != NULL || uv_now(m->loop) < m->probe_after_ms) {
        return;
    }
    tls_probe_req_t *r = calloc(1, sizeof *r);
    int failed = 0;
    if (r == NULL) {
        return;
    }
    r->m = m;
    r->uri = dup_or_null(m->uri, &failed);
    r->ca_file = dup_or_null(m->ca_file, &failed);
    r->cert_file = dup_or_null(m->cert_file, &failed);
    r->key_file = dup_or_null(m->key_file, &failed);
    if (failed || uv_queue_work(m->loop, &r->work, tls_probe_work, tls_probe_done) != 0) {
        tls_probe_req_free(r);
        return;
    }
    m->probe = r;
    m->probe_after_ms = uv_now(m->loop) + TLS_PROBE_INTERVAL_MS;
}

/* ---- ## Loop thread: events ---- */

static void finish_shutdown(gridems_mqtt_t *m);
static void start_disconnect(gridems_mqtt_t *m);
static void on_shutdown_timer(uv_timer_t *timer);

/* The final status is settled (acknowledged, failed or lost with the connection): go on. */
static void final_status_settled(gridems_mqtt_t *m, int ok)
{
    m->awaiting_final = 0;
    if (!ok) {
        m->shutdown_status = GRIDEMS_EMQTT;
    }
    start_disconnect(m);
}

static int has_tls_scheme(const char *uri);

/* The broker's TCP port from the URI ("tcp://host:1883", "ssl://[::1]:8883/"), or the scheme's
 * default. */
static int uri_port(const char *uri)
{
    const char *host = strstr(uri, "://");
    host = host != NULL ? host + 3 : uri;
    const char *end = host + strcspn(host, "/");
    const char *bracket = memchr(host, ']', (size_t)(end - host));
    const char *from = bracket != NULL ? bracket : host;
    const char *colon = memchr(from, ':', (size_t)(end - from));
    if (colon != NULL && colon + 1 < end) {
        int port = 0;
        for (const char *p = colon + 1; p < end && *p >= '0' && *p <= '9'; p++) {
            port = port * 10 + (*p - '0');
        }
        if (port > 0 && port < 65536) {
            return port;
        }
    }
    return has_tls_scheme(uri) ? 8883 : 1883;
}

/*
 * Turn Nagle's algorithm off on the connection to the broker. Paho 1.3 leaves it on and has no
 * socket option hook (eclipse-paho/paho.mqtt.c#530), and with it on a publish written while an
 * earlier small packet (the PUBACK of the price that triggered the plan) waits for the broker's
 * delayed ACK is held back until that ACK: up to 40 ms on Linux, several times a warm solve. So
 * after each connect, set TCP_NODELAY on this process's connected TCP sockets to the broker's
 * port; Paho's is among them, and TCP_NODELAY harms no other socket that may share the port.
 */
static void disable_nagle(const gridems_mqtt_t *m)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return;
    }
    int port = uri_port(m->uri), done = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        int type = 0, one = 1;
        socklen_t type_len = sizeof type;
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        if (e->d_name[0] == '.' || fd == dirfd(d) ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM ||
            getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0) {
            continue;
        }
        int peer_port = peer.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                        : peer.ss_family == AF_INET6
                            ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                            : -1;
        if (peer_port == port && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) {
            done++;
        }
    }
    closedir(d);
    gridems_log_debug("mqtt: TCP_NODELAY set on %d socket(s) to port %d", done, port);
}

static void handle_connected(gridems_mqtt_t *m)
{
    int reconnect = m->ever_connected;
    disable_nagle(m);
    m->connected = 1;
    m->ever_connected = 1;
    if (reconnect) {
        m->stats.reconnects++;
        gridems_log_notice("mqtt: reconnected to %s", m->uri);
    } else {
        gridems_log_info("mqtt: connected to %s as %s", m->uri, m->client_id);
    }
    gridems_log_release(&m->connect_complaint, "mqtt: connecting to %s works again", m->uri);
    m->tls_cause[0] = '\0';
    m->probe_after_ms = 0;
    gridems_log_release(&m->publish_complaint, "mqtt: publishing works again");
    /* cleansession=1: the broker forgot every subscription, so make all of them again. */
    for (size_t i = 0; i < m->n_subs; i++) {
        (void)subscribe_one(m, &m->subs[i]);
    }
    if (m->on_connected != NULL) {
        m->on_connected(m, reconnect, m->userdata);
    }
}

static void handle_connection_lost(gridems_mqtt_t *m, const char *cause)
{
    if (!m->connected) {
        return;
    }
    m->connected = 0;
    for (size_t i = 0; i < m->n_subs; i++) {
        m->subs[i].state = SUB_PENDING;
        m->subs[i].token = 0;
    }
    gridems_log_warn("mqtt: connection to %s lost%s%s; reconnecting", m->uri,
                     cause != NULL ? ": " : "", cause != NULL ? cause : "");
    if (m->on_disconnected != NULL) {
        m->on_disconnected(m, m->userdata);
    }
}

static void handle_subscribe_result(gridems_mqtt_t *m, const event_t *ev)
{
    subscription_t *s = find_sub_by_token(m, ev->token);
    if (s == NULL) {
        return; /* An answer from an earlier connection; the subscription was remade since. */
    }
    if (ev->type == EV_SUBSCRIBED) {
        s->state = SUB_ACTIVE;
        gridems_log_debug("mqtt: subscribed to %s (granted QoS %d)", s->filter, ev->code);
        return;
    }
    if (ev->code == MQTTASYNC_OPERATION_INCOMPLETE || ev->code == MQTTASYNC_DISCONNECTED) {
        return; /* The connection went away first; the reconnect subscribes again. */
    }
    s->state = SUB_FAILED;
    gridems_log_err("mqtt: subscription to %s refused: code %d (%s)%s%s", s->filter, ev->code,
                    ev->code == 0x80 ? "refused by the broker" : paho_text(ev->code),
                    ev->text != NULL ? ": " : "", ev->text != NULL ? ev->text : "");
}

static void handle_event(gridems_mqtt_t *m, const event_t *ev)
{
    switch (ev->type) {
    case EV_CONNECTED:
        if (m->state == ST_STARTED) {
            handle_connected(m);
        }
        break;
    case EV_CONNECTION_LOST:
        if (m->state == ST_STARTED) {
            handle_connection_lost(m, ev->text);
        } else {
            m->connected = 0;
            if (m->state == ST_STOPPING && m->awaiting_final) {
                final_status_settled(m, 0);
            }
        }
        break;
    case EV_CONNECT_FAILED:
        if (m->state == ST_STARTED) {
            m->stats.connect_failures++;
            gridems_log_complain(&m->connect_complaint, GRIDEMS_LOG_WARNING,
                                 "mqtt: cannot connect to %s: code %d (%s)%s%s%s%s; retrying",
                                 m->uri, ev->code, paho_text(ev->code),
                                 ev->text != NULL ? ": " : "", ev->text != NULL ? ev->text : "",
                                 m->tls_cause[0] != '\0' ? "; last TLS check: " : "", m->tls_cause);
            maybe_probe_tls(m);
        }
        break;
    case EV_MESSAGE:
        if (m->state == ST_STARTED) {
            m->stats.received++;
            if (m->on_message != NULL) {
                m->on_message(m, ev->topic, ev->payload, ev->payload_len, ev->qos, ev->retained,
                              m->userdata);
            }
        }
        break;
    case EV_DELIVERED:
        m->stats.delivered++;
        if (m->state == ST_STOPPING && m->awaiting_final && ev->token == m->final_token) {
            final_status_settled(m, 1);
        }
        break;
    case EV_SUBSCRIBED:
    case EV_SUBSCRIBE_FAILED:
        handle_subscribe_result(m, ev);
        break;
    case EV_PUBLISH_FAILED:
        m->stats.publish_failures++;
        gridems_log_complain(&m->publish_complaint, GRIDEMS_LOG_WARNING,
                             "mqtt: publish failed after acceptance: code %d (%s)", ev->code,
                             paho_text(ev->code));
        if (m->state == ST_STOPPING && m->awaiting_final && ev->token == m->final_token) {
            final_status_settled(m, 0);
        }
        break;
    case EV_DISCONNECT_DONE:
        if (m->state == ST_STOPPING && m->awaiting_disconnect) {
            m->awaiting_disconnect = 0;
            if (ev->code != 0) {
                (void)paho_error(ev->code, "disconnect", NULL);
                m->shutdown_status = GRIDEMS_EMQTT;
            }
            m->connected = 0;
            finish_shutdown(m);
        }
        break;
    }
}

static void on_mailbox_event(gridems_mailbox_t *mb, gridems_mailbox_node_t *node)
{
    gridems_mqtt_t *m = mb->data;
    event_t *ev = container_of(node, event_t, node);
    /* Once Paho is destroyed, what is left (drained by the mailbox close) is only freed. */
    if (m->state != ST_CLOSING) {
        handle_event(m, ev);
    }
    free(ev);
}

/* ---- ## Lifetime ---- */

static void free_client(gridems_mqtt_t *m)
{
    if (m->probe != NULL) {
        m->probe->m = NULL; /* it frees itself when the worker is done */
    }
    for (size_t i = 0; i < m->n_subs; i++) {
        free(m->subs[i].filter);
    }
    free(m->subs);
    free(m->uri);
    free(m->client_id);
    free(m->prefix);
    free(m->status_topic);
    free(m->will_payload);
    free(m->username);
    free(m->password);
    free(m->ca_file);
    free(m->cert_file);
    free(m->key_file);
    free(m->key_password);
    free(m);
}

static void handle_closed(gridems_mqtt_t *m)
{
    if (--m->handles_open > 0) {
        return;
    }
    gridems_mqtt_shutdown_cb cb = m->shutdown_cb;
    int status = m->shutdown_status;
    void *userdata = m->userdata;
    cb(m, status, userdata);
    free_client(m);
}

static void on_mailbox_closed(gridems_mailbox_t *mb)
{
    handle_closed(mb->data);
}

static void on_timer_closed(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void finish_shutdown(gridems_mqtt_t *m)
{
    if (m->state == ST_CLOSING) {
        return;
    }
    m->state = ST_CLOSING;
    m->connected = 0;
    uv_timer_stop(&m->timer);
    /*
     * Destroy on the loop thread, never in a callback. Paho 1.3 calls every callback with its
     * global mutex held and MQTTAsync_destroy takes that mutex and unlinks the client, so once
     * it returns no callback for this client is running or can start. The ones it makes itself
     * while cancelling queued requests run here, on this thread, and land in the mailbox, which
     * is still open: the close below drains them (and frees them, since we are CLOSING).
     */
    MQTTAsync_destroy(&m->paho);
    gridems_mailbox_close(&m->mailbox, on_mailbox_closed);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}

static void on_shutdown_timer(uv_timer_t *timer)
{
    gridems_mqtt_t *m = timer->data;
    if (m->awaiting_final || m->awaiting_disconnect) {
        /* The broker did not acknowledge the final status or the disconnect in time. */
        gridems_log_warn("mqtt: %s %s timed out at shutdown",
                         m->awaiting_final ? "final status to" : "disconnect from", m->uri);
        m->awaiting_final = 0;
        m->awaiting_disconnect = 0;
        m->shutdown_status = GRIDEMS_ETIMEDOUT;
    }
    finish_shutdown(m);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (s == NULL) {
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL) {
        *failed = 1;
    }
    return d;
}

static char *make_client_id(void)
{
    static atomic_uint seq;
    char host[64];
    if (gethostname(host, sizeof host) != 0) {
        strcpy(host, "host");
    }
    host[sizeof host - 1] = '\0';
    /* The short host name keeps the id readable in broker logs. */
    host[strcspn(host, ".")] = '\0';
    char id[128];
    snprintf(id, sizeof id, "gridems-%s-%ld-%u", host, (long)getpid(),
             atomic_fetch_add(&seq, 1) + 1);
    return strdup(id);
}

static int has_tls_scheme(const char *uri)
{
    return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 ||
           strncmp(uri, "wss://", 6) == 0;
}

static int prefix_valid(const char *prefix)
{
    size_t n = strlen(prefix);
    return n > 0 && n < MQTT_MAX_TOPIC - 16 && strpbrk(prefix, "+#") == NULL &&
           prefix[n - 1] != '/';
}

int gridems_mqtt_create(uv_loop_t *loop, const gridems_mqtt_options_t *opts, gridems_mqtt_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || opts == NULL || out == NULL || opts->uri == NULL || opts->uri[0] == '\0' ||
        opts->topic_prefix == NULL || !prefix_valid(opts->topic_prefix) ||
        (opts->client_id != NULL && opts->client_id[0] == '\0') || opts->keepalive_s < 0 ||
        opts->connect_timeout_s < 0 || opts->min_retry_s < 0 || opts->max_retry_s < 0 ||
        (opts->password != NULL && opts->username == NULL)) {
        return GRIDEMS_EINVAL;
    }
    if (opts->tls != NULL && !has_tls_scheme(opts->uri)) {
        /* TLS settings with a tcp:// URI would be ignored, and credentials sent in clear. */
        gridems_log_err("mqtt: TLS options need an ssl://, mqtts:// or wss:// URI, not %s",
                        opts->uri);
        return GRIDEMS_EINVAL;
    }
    gridems_mqtt_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return GRIDEMS_ENOMEM;
    }
    m->loop = loop;
    m->keepalive_s = opts->keepalive_s > 0 ? opts->keepalive_s : DEFAULT_KEEPALIVE_S;
    m->no_status = opts->no_status != 0;
    m->connect_timeout_s =
        opts->connect_timeout_s > 0 ? opts->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
    m->min_retry_s = opts->min_retry_s > 0 ? opts->min_retry_s : DEFAULT_MIN_RETRY_S;
    m->max_retry_s = opts->max_retry_s > 0 ? opts->max_retry_s : DEFAULT_MAX_RETRY_S;
    if (m->max_retry_s < m->min_retry_s) {
        free(m);
        return GRIDEMS_EINVAL;
    }
    m->on_message = opts->on_message;
    m->on_connected = opts->on_connected;
    m->on_disconnected = opts->on_disconnected;
    m->userdata = opts->userdata;
    atomic_init(&m->dropped, 0);

    int failed = 0;
    m->uri = dup_or_null(opts->uri, &failed);
    m->client_id =
        opts->client_id != NULL ? dup_or_null(opts->client_id, &failed) : make_client_id();
    m->prefix = dup_or_null(opts->topic_prefix, &failed);
    m->will_payload =
        dup_or_null(opts->will_payload != NULL ? opts->will_payload : DEFAULT_WILL, &failed);
    m->username = dup_or_null(opts->username, &failed);
    m->password = dup_or_null(opts->password, &failed);
    if (opts->tls == NULL && has_tls_scheme(opts->uri)) {
        /* A TLS URI without settings: the system trust store, with verification. Paho needs
         * SSL options for such a URI, or every connect fails with "Invalid (NULL) parameter". */
        m->use_tls = 1;
        m->tls_verify = 1;
    } else if (opts->tls != NULL) {
        m->use_tls = 1;
        m->tls_verify = opts->tls->verify != 0;
        m->ca_file = dup_or_null(opts->tls->ca_file, &failed);
        m->cert_file = dup_or_null(opts->tls->cert_file, &failed);
        m->key_file = dup_or_null(opts->tls->key_file, &failed);
        m->key_password = dup_or_null(opts->tls->key_password, &failed);
    }
    size_t status_len = strlen(opts->topic_prefix) + sizeof "/status";
    m->status_topic = malloc(status_len);
    if (m->status_topic != NULL) {
        snprintf(m->status_topic, status_len, "%s/status", opts->topic_prefix);
    }
    if (failed || m->client_id == NULL || m->status_topic == NULL) {
        free_client(m);
        return GRIDEMS_ENOMEM;
    }

    static pthread_once_t trace_once = PTHREAD_ONCE_INIT;
    pthread_once(&trace_once, install_trace);

    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.sendWhileDisconnected = 0;
    co.maxBufferedMessages = MAX_BUFFERED_MESSAGES;
    co.deleteOldestMessages = 1;
    co.restoreMessages = 0;
    /* No persistence: nothing is written to the working directory, and telemetry is
     * regenerated anyway (GUIDE F). */
    int rc = MQTTAsync_createWithOptions(&m->paho, m->uri, m->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        m->paho = NULL;
        free_client(m);
        return paho_error(rc, "create client for", opts->uri);
    }
    rc = MQTTAsync_setCallbacks(m->paho, m, on_paho_connection_lost, on_paho_message,
                                on_paho_delivered);
    if (rc == MQTTASYNC_SUCCESS) {
        rc = MQTTAsync_setConnected(m->paho, m, on_paho_connected);
    }
    if (rc != MQTTASYNC_SUCCESS) {
        MQTTAsync_destroy(&m->paho);
        free_client(m);
        return paho_error(rc, "set callbacks for", opts->uri);
    }
    /* The uv handles come last: before this point an error needs no uv_close. */
    rc = gridems_mailbox_init(loop, &m->mailbox, on_mailbox_event);
    if (rc != 0) {
        gridems_log_err("mqtt: cannot create mailbox: %s", uv_strerror(rc));
        MQTTAsync_destroy(&m->paho);
        free_client(m);
        return GRIDEMS_ENOMEM;
    }
    m->mailbox.data = m;
    uv_timer_init(loop, &m->timer); /* Cannot fail. */
    m->timer.data = m;
    m->handles_open = 2;
    m->state = ST_IDLE;
    *out = m;
    return 0;
}

int gridems_mqtt_connect(gridems_mqtt_t *m)
{
    if (m == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (m->state != ST_IDLE) {
        return GRIDEMS_ESTATE;
    }
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = m->status_topic;
    will.message = m->will_payload;
    will.retained = 1;
    will.qos = 1;

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = m->ca_file;
    ssl.keyStore = m->cert_file;
    ssl.privateKey = m->key_file;
    ssl.privateKeyPassword = m->key_password;
    ssl.enableServerCertAuth = m->tls_verify;
    ssl.verify = m->tls_verify;

    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = m->keepalive_s;
    co.cleansession = 1;
    co.will = m->no_status ? NULL : &will;
    co.username = m->username;
    co.password = m->password;
    co.connectTimeout = m->connect_timeout_s;
    co.retryInterval = 0;
    co.ssl = m->use_tls ? &ssl : NULL;
    /* Success is reported through MQTTAsync_setConnected, which also covers reconnects. */
    co.onSuccess = NULL;
    co.onFailure = on_paho_connect_failure;
    co.context = m;
    /* 3.1.1 only: the default would retry every failure again with 3.1. */
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.automaticReconnect = 1;
    co.minRetryInterval = m->min_retry_s;
    co.maxRetryInterval = m->max_retry_s;

    /* MQTTAsync_connect copies the options, will and TLS strings included. */
    int rc = MQTTAsync_connect(m->paho, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        return paho_error(rc, "connect to", m->uri);
    }
    m->state = ST_STARTED;
    return 0;
}

int gridems_mqtt_subscribe(gridems_mqtt_t *m, const char *filter, int qos)
{
    if (m == NULL || filter == NULL || filter[0] == '\0' || strlen(filter) > MQTT_MAX_TOPIC ||
        qos < 0 || qos > 2) {
        return GRIDEMS_EINVAL;
    }
    if (m->state >= ST_STOPPING) {
        return GRIDEMS_ESTATE;
    }
    subscription_t *s = NULL;
    for (size_t i = 0; i < m->n_subs; i++) {
        if (strcmp(m->subs[i].filter, filter) == 0) {
            s = &m->subs[i];
            s->qos = qos;
            break;
        }
    }
    if (s == NULL) {
        if (m->n_subs == m->cap_subs) {
            size_t cap = m->cap_subs == 0 ? 8 : m->cap_subs * 2;
            subscription_t *bigger = realloc(m->subs, cap * sizeof *bigger);
            if (bigger == NULL) {
                return GRIDEMS_ENOMEM;
            }
            m->subs = bigger;
            m->cap_subs = cap;
        }
        char *copy = strdup(filter);
        if (copy == NULL) {
            return GRIDEMS_ENOMEM;
        }
        s = &m->subs[m->n_subs++];
        *s = (subscription_t){.filter = copy, .qos = qos, .token = 0, .state = SUB_PENDING};
    }
    if (!m->connected) {
        s->state = SUB_PENDING;
        return 0; /* Made on the next connect. */
    }
    return subscribe_one(m, s);
}

int gridems_mqtt_publish(gridems_mqtt_t *m, const char *topic, const void *payload, size_t len,
                         int qos, int retain)
{
    if (m == NULL || topic == NULL || topic[0] == '\0' || strlen(topic) > MQTT_MAX_TOPIC ||
        strpbrk(topic, "+#") != NULL || qos < 0 || qos > 2 || (retain != 0 && retain != 1) ||
        (payload == NULL && len > 0)) {
        if (m != NULL) {
            m->stats.publish_failures++;
        }
        return GRIDEMS_EINVAL;
    }
    if (m->state >= ST_STOPPING) {
        return GRIDEMS_ESTATE;
    }
    return publish_now(m, topic, payload, len, qos, retain, NULL);
}

int gridems_mqtt_publish_status(gridems_mqtt_t *m, const char *payload)
{
    if (m == NULL || payload == NULL) {
        return GRIDEMS_EINVAL;
    }
    return gridems_mqtt_publish(m, m->status_topic, payload, strlen(payload), 1, 1);
}

int gridems_mqtt_is_connected(const gridems_mqtt_t *m)
{
    return m != NULL && m->connected;
}

size_t gridems_mqtt_pending_subscriptions(const gridems_mqtt_t *m)
{
    size_t n = 0;
    for (size_t i = 0; m != NULL && i < m->n_subs; i++) {
        if (m->subs[i].state == SUB_PENDING) {
            n++;
        }
    }
    return n;
}

const char *gridems_mqtt_client_id(const gridems_mqtt_t *m)
{
    return m->client_id;
}

const char *gridems_mqtt_topic_prefix(const gridems_mqtt_t *m)
{
    return m->prefix;
}

const char *gridems_mqtt_status_topic(const gridems_mqtt_t *m)
{
    return m->status_topic;
}

void gridems_mqtt_get_stats(const gridems_mqtt_t *m, gridems_mqtt_stats_t *out)
{
    *out = m->stats;
    out->dropped = atomic_load(&m->dropped);
}

/* Step 3 of the shutdown: disconnect, then wait for the answer through the mailbox. */
static void start_disconnect(gridems_mqtt_t *m)
{
    if (m->started) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        /* No in-flight grace: the final status was sent last and its PUBACK has come back (or
         * will not), and the broker acknowledges in order. Paho checks a pending grace only
         * about once a second, which would only slow the shutdown down. */
        d.timeout = 0;
        d.onSuccess = on_paho_disconnect_ok;
        d.onFailure = on_paho_disconnect_failure;
        d.context = m;
        int rc = MQTTAsync_disconnect(m->paho, &d);
        if (rc == MQTTASYNC_SUCCESS) {
            m->awaiting_disconnect = 1;
            return; /* The shutdown timer is still running as the overall bound. */
        }
        if (rc == MQTTASYNC_DISCONNECTED) {
            gridems_log_info("mqtt: not connected at shutdown; the broker holds the last will");
        } else {
            (void)paho_error(rc, "disconnect from", m->uri);
        }
        m->shutdown_status = GRIDEMS_EMQTT;
    }
    /* Nothing to wait for. Finish from the loop, so that the owner's callback never runs inside
     * gridems_mqtt_shutdown() itself. */
    m->connected = 0;
    uv_timer_start(&m->timer, on_shutdown_timer, 0, 0);
}

int gridems_mqtt_shutdown(gridems_mqtt_t *m, const char *final_status, unsigned timeout_ms,
                          gridems_mqtt_shutdown_cb cb)
{
    if (m == NULL || cb == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (m->state >= ST_STOPPING) {
        return GRIDEMS_ESTATE;
    }
    if (timeout_ms == 0) {
        timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
    }
    m->started = m->state == ST_STARTED;
    m->state = ST_STOPPING;
    m->shutdown_cb = cb;
    m->shutdown_status = 0;
    /* One bound for the whole sequence; on expiry Paho is destroyed regardless. The loop's
     * cached time may be old if the caller blocked since the last iteration: refresh it, or the
     * timer could expire at once. */
    uv_update_time(m->loop);
    uv_timer_start(&m->timer, on_shutdown_timer, timeout_ms, 0);

    /* Step 2: the final status, retained at QoS 1. Wait for its PUBACK before disconnecting,
     * so that the broker holds it before the connection goes. */
    if (m->connected && m->no_status) {
        start_disconnect(m);
        return 0;
    }
    if (m->connected) {
        const char *status = final_status != NULL ? final_status : m->will_payload;
        int rc = publish_now(m, m->status_topic, status, strlen(status), 1, 1, &m->final_token);
        if (rc == 0) {
            m->awaiting_final = 1;
            return 0;
        }
    }
    m->shutdown_status = GRIDEMS_EMQTT;
    start_disconnect(m);
    return 0;
}
