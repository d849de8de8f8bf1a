/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "mqtt_wire.h"

#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* MQTT 3.1.1 control packet types (the high nibble of the first byte). */
enum {
    PKT_CONNECT = 1,
    PKT_CONNACK = 2,
    PKT_PUBLISH = 3,
    PKT_PUBACK = 4,
    PKT_SUBSCRIBE = 8,
    PKT_SUBACK = 9,
    PKT_PINGRESP = 13,
    PKT_DISCONNECT = 14
};

typedef struct queued_s {
    struct queued_s *next;
    wire_msg_t msg;
} queued_t;

struct wire_s {
    int fd;
    bool broken;
    uint16_t last_id;
    unsigned char *buf; /* bytes read and not yet parsed */
    size_t len;
    size_t cap;
    queued_t *head;
    queued_t *tail;
};

/* ---- ## Bytes ---- */

static int send_all(wire_t *w, const unsigned char *data, size_t n, double deadline)
{
    while (n > 0 && !w->broken) {
        int left = (int)(deadline - test_now_ms());
        if (left <= 0) {
            return -1;
        }
        struct pollfd p = {w->fd, POLLOUT, 0};
        int ready = poll(&p, 1, left);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return -1;
        }
        ssize_t sent = send(w->fd, data, n, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            w->broken = true;
            return -1;
        }
        data += sent;
        n -= (size_t)sent;
    }
    return w->broken ? -1 : 0;
}

/* Read what is there, waiting until deadline for something. 1 = read, 0 = timeout, -1 = closed
 * or failed. */
static int read_some(wire_t *w, double deadline)
{
    if (w->broken) {
        return -1;
    }
    int left = (int)(deadline - test_now_ms());
    struct pollfd p = {w->fd, POLLIN, 0};
    int ready = poll(&p, 1, left > 0 ? left : 0);
    if (ready < 0 && errno == EINTR) {
        return 0;
    }
    if (ready <= 0) {
        return ready == 0 ? 0 : -1;
    }
    if (w->cap - w->len < 65536) {
        size_t cap = w->cap * 2 > w->len + 65536 ? w->cap * 2 : w->len + 65536;
        unsigned char *bigger = realloc(w->buf, cap);
        if (bigger == NULL) {
            w->broken = true;
            return -1;
        }
        w->buf = bigger;
        w->cap = cap;
    }
    ssize_t got = recv(w->fd, w->buf + w->len, w->cap - w->len, 0);
    if (got < 0 && errno == EINTR) {
        return 0;
    }
    if (got <= 0) {
        w->broken = true;
        return -1;
    }
    w->len += (size_t)got;
    return 1;
}

/* A packet: first byte, then the remaining length (1 to 4 bytes), then body. */
static int send_packet(wire_t *w, unsigned char first, const unsigned char *body, size_t n,
                       double deadline)
{
    unsigned char head[5];
    size_t h = 0;
    head[h++] = first;
    size_t rest = n;
    do {
        unsigned char digit = rest % 128;
        rest /= 128;
        head[h++] = (unsigned char)(digit | (rest > 0 ? 0x80 : 0));
    } while (rest > 0 && h < sizeof head);
    if (rest > 0) {
        return -1;
    }
    return send_all(w, head, h, deadline) == 0 && send_all(w, body, n, deadline) == 0 ? 0 : -1;
}

/* Append a 2-byte length and the string. */
static size_t put_string(unsigned char *out, const char *s, size_t n)
{
    out[0] = (unsigned char)(n >> 8);
    out[1] = (unsigned char)(n & 0xff);
    memcpy(out + 2, s, n);
    return n + 2;
}

static uint16_t next_id(wire_t *w)
{
    w->last_id = w->last_id == 65535 ? 1 : (uint16_t)(w->last_id + 1);
    return w->last_id;
}

/* ---- ## Incoming packets ---- */

static void enqueue(wire_t *w, const unsigned char *body, size_t n, unsigned char flags)
{
    if (n < 2) {
        return;
    }
    size_t tlen = ((size_t)body[0] << 8) | body[1];
    int qos = (flags >> 1) & 3;
    size_t at = 2 + tlen + (qos > 0 ? 2 : 0);
    if (at > n) {
        return;
    }
    if (qos == 1) {
        unsigned char ack[2] = {body[2 + tlen], body[3 + tlen]};
        send_packet(w, PKT_PUBACK << 4, ack, sizeof ack, test_now_ms() + 2000);
    }
    queued_t *q = calloc(1, sizeof *q);
    if (q == NULL) {
        return;
    }
    q->msg.topic = strndup((const char *)body + 2, tlen);
    q->msg.len = n - at;
    q->msg.payload = malloc(q->msg.len + 1);
    if (q->msg.topic == NULL || q->msg.payload == NULL) {
        wire_msg_free(&q->msg);
        free(q);
        return;
    }
    memcpy(q->msg.payload, body + at, q->msg.len);
    q->msg.payload[q->msg.len] = '\0';
    q->msg.retained = flags & 1;
    q->msg.arrived_ms = test_now_ms();
    if (w->tail != NULL) {
        w->tail->next = q;
    } else {
        w->head = q;
    }
    w->tail = q;
}

/*
 * Handle every complete packet in the buffer. Returns 1 as soon as a packet of type want (with
 * packet id want_id, for PUBACK and SUBACK) was handled, with its first body byte after the id in
 * *code (CONNACK: the return code; SUBACK: the granted QoS or 0x80), else 0.
 */
static int handle_buffered(wire_t *w, int want, uint16_t want_id, int *code)
{
    for (;;) {
        size_t rl = 0, mult = 1, i = 1;
        bool complete = false;
        while (i < w->len && i <= 4) {
            rl += (size_t)(w->buf[i] & 0x7f) * mult;
            mult *= 128;
            if ((w->buf[i++] & 0x80) == 0) {
                complete = true;
                break;
            }
        }
        if (!complete || w->len < i + rl) {
            return 0;
        }
        int type = w->buf[0] >> 4;
        unsigned char flags = w->buf[0] & 0x0f;
        const unsigned char *body = w->buf + i;
        int found = 0;
        if (type == PKT_PUBLISH) {
            enqueue(w, body, rl, flags);
        } else if (type == want && type == PKT_CONNACK && rl >= 2) {
            *code = body[1];
            found = 1;
        } else if (type == want && rl >= 2 && (((uint16_t)body[0] << 8) | body[1]) == want_id) {
            *code = rl >= 3 ? body[2] : 0;
            found = 1;
        }
        size_t used = i + rl;
        memmove(w->buf, w->buf + used, w->len - used);
        w->len -= used;
        if (found) {
            return 1;
        }
    }
}

/* Read and handle packets until one of type want arrives (1), or until deadline (0), or the
 * connection breaks (-1). want 0 waits for any PUBLISH. */
static int pump(wire_t *w, double deadline, int want, uint16_t want_id, int *code)
{
    for (;;) {
        queued_t *tail = w->tail;
        if (handle_buffered(w, want, want_id, code)) {
            return 1;
        }
        if (want == 0 && w->tail != tail) {
            return 1;
        }
        int r = read_some(w, deadline);
        if (r < 0) {
            return -1;
        }
        if (r == 0 && test_now_ms() >= deadline) {
            return 0;
        }
    }
}

/* ---- ## The client ---- */

static int parse_uri(const char *uri, struct sockaddr_in *addr)
{
    char host[64];
    int port = 0;
    if (sscanf(uri, "tcp://%63[0-9.]:%d", host, &port) != 2 || port <= 0 || port > 65535) {
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

wire_t *wire_connect(const char *uri, int timeout_ms)
{
    return wire_connect_auth(uri, NULL, NULL, timeout_ms, NULL);
}

wire_t *wire_connect_auth(const char *uri, const char *user, const char *pass, int timeout_ms,
                          int *connack)
{
    if (connack != NULL) {
        *connack = -1;
    }
    static int seq;
    double deadline = test_now_ms() + timeout_ms;
    struct sockaddr_in addr;
    if (parse_uri(uri, &addr) != 0) {
        fprintf(stderr, "mqtt_wire: unsupported URI %s (tcp://IPv4:port only)\n", uri);
        return NULL;
    }
    wire_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return NULL;
    }
    w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (w->fd < 0 || connect(w->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "mqtt_wire: connect %s: %s\n", uri, strerror(errno));
        wire_close(w);
        return NULL;
    }
    int one = 1;
    setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char id[64];
    int idlen = snprintf(id, sizeof id, "gridems-wire-%ld-%d", (long)getpid(), ++seq);
    size_t ulen = user != NULL ? strlen(user) : 0, plen = pass != NULL ? strlen(pass) : 0;
    if (ulen > 200 || plen > 200) {
        wire_close(w);
        return NULL;
    }
    unsigned char body[640];
    size_t n = put_string(body, "MQTT", 4);
    body[n++] = 4; /* protocol level: 3.1.1 */
    /* clean session, and the user name and password flags when they are given */
    body[n++] = (unsigned char)(0x02 | (user != NULL ? 0x80 : 0) | (pass != NULL ? 0x40 : 0));
    body[n++] = 0; /* keep-alive 0: off */
    body[n++] = 0;
    n += put_string(body + n, id, (size_t)idlen);
    if (user != NULL) {
        n += put_string(body + n, user, ulen);
    }
    if (pass != NULL) {
        n += put_string(body + n, pass, plen);
    }
    int code = -1;
    if (send_packet(w, PKT_CONNECT << 4, body, n, deadline) != 0 ||
        pump(w, deadline, PKT_CONNACK, 0, &code) != 1 || code != 0) {
        if (connack != NULL) {
            *connack = code;
        }
        fprintf(stderr, "mqtt_wire: no CONNACK from %s (code %d)\n", uri, code);
        wire_close(w);
        return NULL;
    }
    if (connack != NULL) {
        *connack = 0;
    }
    return w;
}

int wire_subscribe(wire_t *w, const char *filter, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    size_t flen = strlen(filter);
    unsigned char *body = malloc(flen + 5);
    if (body == NULL || flen > 65535) {
        free(body);
        return -1;
    }
    uint16_t id = next_id(w);
    body[0] = (unsigned char)(id >> 8);
    body[1] = (unsigned char)(id & 0xff);
    size_t n = 2 + put_string(body + 2, filter, flen);
    body[n++] = 1; /* QoS 1 */
    int code = -1;
    int rc = send_packet(w, (PKT_SUBSCRIBE << 4) | 0x02, body, n, deadline) == 0 &&
                     pump(w, deadline, PKT_SUBACK, id, &code) == 1 && code != 0x80
                 ? 0
                 : -1;
    free(body);
    if (rc != 0) {
        fprintf(stderr, "mqtt_wire: subscribing to %s failed (code %d)\n", filter, code);
    }
    return rc;
}

int wire_publish(wire_t *w, const char *topic, const char *payload, int qos, int retain,
                 int timeout_ms)
{
    return wire_publish_len(w, topic, payload, strlen(payload), qos, retain, timeout_ms);
}

int wire_publish_len(wire_t *w, const char *topic, const void *payload, size_t plen, int qos,
                     int retain, int timeout_ms)
{
    double deadline = test_now_ms() + timeout_ms;
    size_t tlen = strlen(topic);
    unsigned char *body = malloc(tlen + plen + 4);
    if (body == NULL || tlen > 65535) {
        free(body);
        return -1;
    }
    size_t n = put_string(body, topic, tlen);
    uint16_t id = 0;
    if (qos > 0) {
        id = next_id(w);
        body[n++] = (unsigned char)(id >> 8);
        body[n++] = (unsigned char)(id & 0xff);
    }
    memcpy(body + n, payload, plen);
    n += plen;
    unsigned char first =
        (unsigned char)((PKT_PUBLISH << 4) | (qos > 0 ? 0x02 : 0) | (retain ? 0x01 : 0));
    int code = 0;
    int rc = send_packet(w, first, body, n, deadline);
    free(body);
    if (rc == 0 && qos > 0 && pump(w, deadline, PKT_PUBACK, id, &code) != 1) {
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "mqtt_wire: publishing on %s failed\n", topic);
    }
    return rc;
}

/* Take the first queued message on topic that contains needle, dropping the non-matching ones
 * on topic before it. */
static int take_queued(wire_t *w, const char *topic, const char *needle, wire_msg_t *out)
{
    queued_t **link = &w->head;
    queued_t *prev = NULL;
    while (*link != NULL) {
        queued_t *q = *link;
        bool on_topic = topic == NULL || strcmp(q->msg.topic, topic) == 0;
        bool match = on_topic && (needle == NULL || strstr(q->msg.payload, needle) != NULL);
        if (!on_topic) {
            prev = q;
            link = &q->next;
            continue;
        }
        *link = q->next;
        if (w->tail == q) {
            w->tail = prev;
        }
        if (match) {
            *out = q->msg;
            free(q);
            return 0;
        }
        wire_msg_free(&q->msg);
        free(q);
    }
    return -1;
}

int wire_next(wire_t *w, const char *topic, const char *needle, int timeout_ms, wire_msg_t *out)
{
    double deadline = test_now_ms() + timeout_ms;
    memset(out, 0, sizeof *out);
    for (;;) {
        if (take_queued(w, topic, needle, out) == 0) {
            return 0;
        }
        int code;
        if (pump(w, deadline, 0, 0, &code) != 1) {
            return take_queued(w, topic, needle, out);
        }
    }
}

void wire_close(wire_t *w)
{
    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        if (!w->broken) {
            unsigned char disconnect[2] = {PKT_DISCONNECT << 4, 0};
            send(w->fd, disconnect, sizeof disconnect, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(w->fd);
    }
    while (w->head != NULL) {
        queued_t *next = w->head->next;
        wire_msg_free(&w->head->msg);
        free(w->head);
        w->head = next;
    }
    free(w->buf);
    free(w);
}

void wire_msg_free(wire_msg_t *m)
{
    if (m != NULL) {
        free(m->topic);
        free(m->payload);
        m->topic = NULL;
        m->payload = NULL;
    }
}

int wire_read_one(const char *uri, const char *topic, int timeout_ms, wire_msg_t *out)
{
    double deadline = test_now_ms() + timeout_ms;
    wire_t *w = wire_connect(uri, timeout_ms);
    if (w == NULL) {
        return -1;
    }
    int left = (int)(deadline - test_now_ms());
    int rc = wire_subscribe(w, topic, left > 0 ? left : 1);
    if (rc == 0) {
        left = (int)(deadline - test_now_ms());
        rc = wire_next(w, topic, NULL, left > 0 ? left : 0, out);
    }
    wire_close(w);
    return rc;
}
