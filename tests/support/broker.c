/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "broker.h"

#include "test_util.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

enum {
    READY_TIMEOUT_MS = 5000,
    READY_POLL_MS = 50,
    STOP_GRACE_MS = 2000,
    START_ATTEMPTS = 3,
    CLIENT_TIMEOUT_MS = 5000
};

/* ---- ## Finding and running mosquitto ---- */

static int find_mosquitto(char *out, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin", path != NULL ? path : "");
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] == '\0') {
            continue;
        }
        snprintf(out, size, "%s/mosquitto", dir);
        if (access(out, X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

int broker_available(void)
{
    char path[4096];
    return find_mosquitto(path, sizeof path);
}

/* Ask the kernel for a free loopback port. Another process could take it before mosquitto
 * binds it; broker_start() notices (the broker exits) and tries another. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ck_assert_msg(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind: %s",
                  strerror(errno));
    socklen_t len = sizeof addr;
    ck_assert_msg(getsockname(fd, (struct sockaddr *)&addr, &len) == 0, "getsockname: %s",
                  strerror(errno));
    close(fd);
    return ntohs(addr.sin_port);
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    int ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static void write_config(broker_t *b)
{
    const char *extra = b->extra != NULL ? b->extra : "";
    char conf[8192];
    snprintf(conf, sizeof conf,
             "# Written by the gridems test harness.\n"
             "listener %d 127.0.0.1\n"
             "%s%s"
             "persistence false\n"
             "log_dest stderr\n"
             "log_type error\n"
             "log_type warning\n"
             "log_type notice\n"
             "log_type information\n"
             "connection_messages true\n"
             "log_timestamp true\n",
             b->port, extra,
             strstr(extra, "allow_anonymous") != NULL ? "" : "allow_anonymous true\n");
    ck_assert_msg(test_write_file(b->conf_path, conf) == 0, "cannot write %s", b->conf_path);
}

static off_t log_size(const broker_t *b)
{
    struct stat st;
    return stat(b->log_path, &st) == 0 ? st.st_size : 0;
}

static pid_t spawn(const broker_t *b)
{
    char exe[4096];
    ck_assert_msg(find_mosquitto(exe, sizeof exe), "mosquitto not found");
    int log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(log_fd >= 0, "open %s: %s", b->log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
#ifdef __linux__
        /* If the test process dies (a Check timeout kills it), take the broker with it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127);
        }
#else
        (void)parent;
#endif
        /* Exec keeps ignored signals ignored and the signal mask: give mosquitto defaults. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execl(exe, "mosquitto", "-c", b->conf_path, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(log_fd);
    return pid;
}

static void reap(broker_t *b)
{
    int status;
    while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR) {
    }
    b->pid = 0;
}

/* Wait until the broker started at log offset `from` says it is running and accepts a TCP
 * connection. Returns 1 when ready, 0 when it exited or did not come up in time. */
static int wait_ready(broker_t *b, off_t from)
{
    double deadline = test_now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        int status;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return 0;
        }
        /* "running" is logged after the listener is bound, so a connect() that succeeds then
         * reached our broker, not another process that happens to hold the port. */
        char *log = broker_log(b);
        int running =
            log != NULL && (off_t)strlen(log) > from && strstr(log + from, " running") != NULL;
        free(log);
        if (running && port_accepts(b->port)) {
            return 1;
        }
        if (test_now_ms() > deadline) {
            return 0;
        }
        test_sleep_ms(READY_POLL_MS);
    }
}

static void abort_with_log(broker_t *b, const char *what)
{
    char *log = broker_log(b);
    const char *text = log != NULL ? log : "(no log)";
    fprintf(stderr, "---- mosquitto log (%s) ----\n%s---- end of mosquitto log ----\n", b->log_path,
            text);
    size_t n = strlen(text);
    const char *tail = n > 1500 ? text + n - 1500 : text;
    /* Copy before freeing: ck_abort_msg does not return. */
    char msg[1700];
    snprintf(msg, sizeof msg, "%s (port %d); log tail:\n%s", what, b->port, tail);
    free(log);
    if (b->pid > 0) {
        kill(b->pid, SIGKILL);
        reap(b);
    }
    ck_abort_msg("%s", msg);
}

void broker_start(broker_t *b, const char *tag)
{
    broker_start_with(b, tag, NULL, "tcp");
}

void broker_start_with(broker_t *b, const char *tag, const char *extra, const char *scheme)
{
    memset(b, 0, sizeof *b);
    if (extra != NULL) {
        b->extra = strdup(extra);
        ck_assert(b->extra != NULL);
    }
    b->dir = test_make_tmpdir(tag != NULL ? tag : "broker");
    size_t n = strlen(b->dir) + 32;
    b->conf_path = malloc(n);
    b->log_path = malloc(n);
    ck_assert(b->conf_path != NULL && b->log_path != NULL);
    snprintf(b->conf_path, n, "%s/mosquitto.conf", b->dir);
    snprintf(b->log_path, n, "%s/mosquitto.log", b->dir);
    for (int attempt = 1;; attempt++) {
        b->port = free_port();
        snprintf(b->uri, sizeof b->uri, "%s://127.0.0.1:%d", scheme, b->port);
        write_config(b);
        off_t from = log_size(b);
        b->pid = spawn(b);
        if (wait_ready(b, from)) {
            return;
        }
        if (b->pid == 0 && attempt < START_ATTEMPTS) {
            continue; /* It exited, most likely because the port was taken: try another. */
        }
        abort_with_log(b, "mosquitto did not become ready");
    }
}

void broker_stop(broker_t *b)
{
    if (b->pid <= 0) {
        return;
    }
    kill(b->pid, SIGTERM);
    kill(b->pid, SIGCONT); /* A paused broker handles SIGTERM only once it runs again. */
    double deadline = test_now_ms() + STOP_GRACE_MS;
    while (test_now_ms() < deadline) {
        int status;
        pid_t r = waitpid(b->pid, &status, WNOHANG);
        if (r == b->pid || (r < 0 && errno != EINTR)) {
            b->pid = 0;
            return;
        }
        test_sleep_ms(10);
    }
    kill(b->pid, SIGKILL);
    reap(b);
}

void broker_kill(broker_t *b)
{
    if (b->pid <= 0) {
        return;
    }
    kill(b->pid, SIGKILL);
    reap(b);
}

void broker_pause(broker_t *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGSTOP);
    }
}

void broker_resume(broker_t *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGCONT);
    }
}

void broker_restart(broker_t *b)
{
    ck_assert_msg(b->conf_path != NULL, "broker_restart without broker_start");
    broker_stop(b);
    off_t from = log_size(b);
    b->pid = spawn(b);
    if (!wait_ready(b, from)) {
        abort_with_log(b, "mosquitto did not come back on the same port");
    }
}

void broker_cleanup(broker_t *b)
{
    broker_stop(b);
    if (b->conf_path != NULL) {
        unlink(b->conf_path);
    }
    if (b->log_path != NULL) {
        unlink(b->log_path);
    }
    if (b->dir != NULL) {
        test_remove_tree(b->dir);
    }
    free(b->conf_path);
    free(b->log_path);
    free(b->extra);
    b->extra = NULL;
    free(b->dir);
    b->conf_path = NULL;
    b->log_path = NULL;
    b->dir = NULL;
}

char *broker_log(const broker_t *b)
{
    return b->log_path != NULL ? test_read_file(b->log_path, NULL) : NULL;
}

/* ---- ## Synchronous test client ---- */

typedef struct msg_s {
    struct msg_s *next;
    char *topic;
    char *payload;
} msg_t;

typedef struct client_s {
    MQTTAsync handle;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Completion flags, guarded by mu. 1 = success, -1 = failure, 0 = pending. */
    int connect_done;
    int subscribe_done;
    int publish_done;
    int disconnect_done;
    msg_t *head; /* Received messages, guarded by mu. */
    msg_t *tail;
    size_t received;
} client_t;

struct test_mqtt_sub_s {
    client_t c;
};

static void set_flag(client_t *c, int *flag, int value)
{
    pthread_mutex_lock(&c->mu);
    *flag = value;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->connect_done, 1);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->connect_done, -1);
}

static void on_subscribe_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->subscribe_done, 1);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->subscribe_done, -1);
}

static void on_publish_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->publish_done, 1);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->publish_done, -1);
}

static void on_disconnect_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->disconnect_done, 1);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    client_t *c = ctx;
    set_flag(c, &c->disconnect_done, -1);
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    (void)cause;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    client_t *c = ctx;
    msg_t *msg = calloc(1, sizeof *msg);
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    if (msg != NULL) {
        msg->topic = malloc(tlen + 1);
        msg->payload = malloc(plen + 1);
    }
    if (msg != NULL && msg->topic != NULL && msg->payload != NULL) {
        memcpy(msg->topic, topic, tlen);
        msg->topic[tlen] = '\0';
        if (plen > 0) {
            memcpy(msg->payload, m->payload, plen);
        }
        msg->payload[plen] = '\0';
        pthread_mutex_lock(&c->mu);
        if (c->tail != NULL) {
            c->tail->next = msg;
        } else {
            c->head = msg;
        }
        c->tail = msg;
        c->received++;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    } else if (msg != NULL) {
        free(msg->topic);
        free(msg->payload);
        free(msg);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static struct timespec deadline_in(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Wait until *flag is non-zero; returns it (1 or -1), or 0 on timeout. */
static int wait_flag(client_t *c, int *flag, int timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (*flag == 0 && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
    }
    int value = *flag;
    pthread_mutex_unlock(&c->mu);
    return value;
}

static int client_open(client_t *c, const char *uri)
{
    static int seq;
    memset(c, 0, sizeof *c);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&c->mu, NULL);

    char id[64];
    snprintf(id, sizeof id, "gridems-test-%ld-%d", (long)getpid(), ++seq);
    int rc = MQTTAsync_create(&c->handle, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "test client: create %s: %s\n", uri, MQTTAsync_strerror(rc));
        c->handle = NULL;
        return -1;
    }
    rc = MQTTAsync_setCallbacks(c->handle, c, on_lost, on_message, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 10;
    co.cleansession = 1;
    co.connectTimeout = 5;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = c;
    if (rc == MQTTASYNC_SUCCESS) {
        rc = MQTTAsync_connect(c->handle, &co);
    }
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "test client: connect %s: %s\n", uri, MQTTAsync_strerror(rc));
        return -1;
    }
    if (wait_flag(c, &c->connect_done, CLIENT_TIMEOUT_MS) != 1) {
        fprintf(stderr, "test client: connecting to %s failed or timed out\n", uri);
        return -1;
    }
    return 0;
}

static void client_close(client_t *c)
{
    if (c->handle != NULL) {
        pthread_mutex_lock(&c->mu);
        int connected = c->connect_done == 1;
        pthread_mutex_unlock(&c->mu);
        if (connected) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 1000;
            d.onSuccess = on_disconnect_ok;
            d.onFailure = on_disconnect_fail;
            d.context = c;
            if (MQTTAsync_disconnect(c->handle, &d) == MQTTASYNC_SUCCESS) {
                wait_flag(c, &c->disconnect_done, 3000);
            }
        }
        /* After destroy no callback can touch c any more (Paho holds its global lock around
         * callbacks and destroy takes it), so c may be freed. */
        MQTTAsync_destroy(&c->handle);
    }
    while (c->head != NULL) {
        msg_t *next = c->head->next;
        free(c->head->topic);
        free(c->head->payload);
        free(c->head);
        c->head = next;
    }
    c->tail = NULL;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static int client_subscribe(client_t *c, const char *topic)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribe_ok;
    ro.onFailure = on_subscribe_fail;
    ro.context = c;
    c->subscribe_done = 0;
    int rc = MQTTAsync_subscribe(c->handle, topic, 1, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "test client: subscribe %s: %s\n", topic, MQTTAsync_strerror(rc));
        return -1;
    }
    if (wait_flag(c, &c->subscribe_done, CLIENT_TIMEOUT_MS) != 1) {
        fprintf(stderr, "test client: subscribing to %s failed or timed out\n", topic);
        return -1;
    }
    return 0;
}

/* Pop the next message containing needle within timeout_ms, discarding others. */
static int client_next(client_t *c, const char *needle, int timeout_ms, char **topic,
                       char **payload)
{
    struct timespec until = deadline_in(timeout_ms);
    int found = -1;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->head != NULL) {
            msg_t *msg = c->head;
            c->head = msg->next;
            if (c->head == NULL) {
                c->tail = NULL;
            }
            if (needle == NULL || strstr(msg->payload, needle) != NULL) {
                if (topic != NULL) {
                    *topic = msg->topic;
                } else {
                    free(msg->topic);
                }
                if (payload != NULL) {
                    *payload = msg->payload;
                } else {
                    free(msg->payload);
                }
                free(msg);
                found = 0;
                break;
            }
            free(msg->topic);
            free(msg->payload);
            free(msg);
        }
        if (found == 0 || pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

int test_mqtt_publish(const char *uri, const char *topic, const char *payload, int retain)
{
    client_t c;
    int rc = client_open(&c, uri);
    if (rc == 0) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess = on_publish_ok;
        ro.onFailure = on_publish_fail;
        ro.context = &c;
        int prc = MQTTAsync_send(c.handle, topic, (int)strlen(payload), payload, 1, retain, &ro);
        if (prc != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "test client: publish %s: %s\n", topic, MQTTAsync_strerror(prc));
            rc = -1;
        } else if (wait_flag(&c, &c.publish_done, CLIENT_TIMEOUT_MS) != 1) {
            fprintf(stderr, "test client: publish to %s failed or timed out\n", topic);
            rc = -1;
        }
    }
    client_close(&c);
    return rc;
}

int test_mqtt_wait_message_match(const char *uri, const char *topic, const char *needle,
                                 int timeout_ms, char **payload)
{
    client_t c;
    int rc = client_open(&c, uri);
    if (rc == 0) {
        rc = client_subscribe(&c, topic);
    }
    if (rc == 0) {
        rc = client_next(&c, needle, timeout_ms, NULL, payload);
    }
    client_close(&c);
    return rc;
}

int test_mqtt_wait_message(const char *uri, const char *topic, int timeout_ms, char **payload)
{
    return test_mqtt_wait_message_match(uri, topic, NULL, timeout_ms, payload);
}

test_mqtt_sub_t *test_mqtt_sub_start(const char *uri, const char *topic)
{
    test_mqtt_sub_t *sub = malloc(sizeof *sub);
    if (sub == NULL) {
        return NULL;
    }
    if (client_open(&sub->c, uri) != 0 || client_subscribe(&sub->c, topic) != 0) {
        client_close(&sub->c);
        free(sub);
        return NULL;
    }
    return sub;
}

int test_mqtt_sub_wait(test_mqtt_sub_t *sub, const char *needle, int timeout_ms, char **topic,
                       char **payload)
{
    return client_next(&sub->c, needle, timeout_ms, topic, payload);
}

size_t test_mqtt_sub_count(test_mqtt_sub_t *sub)
{
    pthread_mutex_lock(&sub->c.mu);
    size_t n = sub->c.received;
    pthread_mutex_unlock(&sub->c.mu);
    return n;
}

void test_mqtt_sub_stop(test_mqtt_sub_t *sub)
{
    if (sub == NULL) {
        return;
    }
    client_close(&sub->c);
    free(sub);
}
