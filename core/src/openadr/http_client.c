/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * HTTP GET and POST on the libuv loop through libcurl's multi-socket interface (http_client.h).
 *
 * curl tells us which sockets to watch (socket callback: one uv_poll each) and when to call it
 * back (timer callback: one uv_timer); we hand every readiness and timeout to
 * curl_multi_socket_action() and then collect finished transfers. curl forbids calling it from
 * inside its own callbacks, so they only (re)arm libuv handles.
 */
#include "http_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gridems/errors.h"
#include "log.h"

typedef struct request_s {
    struct request_s *next;
    gridems_http_t *h;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len;
    size_t cap;
    size_t max;
    bool too_big;
    long timeout_ms;
    gridems_http_cb cb;
    void *userdata;
    char errbuf[CURL_ERROR_SIZE];
} request_t;

typedef struct sock_s {
    struct sock_s *next;
    gridems_http_t *h;
    uv_poll_t poll;
    curl_socket_t fd;
} sock_t;

struct gridems_http_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    request_t *requests;
    sock_t *socks;
    size_t pending;
    int open_handles;
    bool closing;
    gridems_http_closed_cb closed_cb;
    void *closed_userdata;
};

static void maybe_finish_close(gridems_http_t *h)
{
    if (h->closing && h->open_handles == 0) {
        gridems_http_closed_cb cb = h->closed_cb;
        void *ud = h->closed_userdata;
        free(h);
        cb(ud);
    }
}

static void on_sock_closed(uv_handle_t *handle)
{
    sock_t *s = handle->data;
    gridems_http_t *h = s->h;
    free(s);
    h->open_handles--;
    maybe_finish_close(h);
}

static void drop_sock(gridems_http_t *h, sock_t *s)
{
    for (sock_t **pp = &h->socks; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void unlink_request(gridems_http_t *h, request_t *r)
{
    for (request_t **pp = &h->requests; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    h->pending--;
}

static void free_request(request_t *r)
{
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

/* Hand every finished transfer to its owner. */
static void collect(gridems_http_t *h)
{
    CURLMsg *msg;
    int left = 0;
    while (!h->closing && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        request_t *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode res = msg->data.result;
        curl_multi_remove_handle(h->multi, r->easy);
        unlink_request(h, r);
        long status = 0;
        char why[CURL_ERROR_SIZE + 64] = "";
        if (res == CURLE_OK) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        } else if (r->too_big) {
            snprintf(why, sizeof why, "answer larger than %zu bytes", r->max);
        } else if (res == CURLE_OPERATION_TIMEDOUT) {
            snprintf(why, sizeof why, "timed out after %ld ms", r->timeout_ms);
        } else {
            snprintf(why, sizeof why, "%s",
                     r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(res));
        }
        const char *body = res == CURLE_OK && r->body != NULL ? r->body : "";
        size_t len = res == CURLE_OK ? r->len : 0;
        r->cb((int)status, body, len, res == CURLE_OK ? "" : why, r->userdata);
        free_request(r);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *s = p->data;
    gridems_http_t *h = s->h;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    int running = 0;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    collect(h);
}

static void on_timer(uv_timer_t *t)
{
    gridems_http_t *h = t->data;
    int running = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(h);
}

/* curl: watch fd for `what`, or stop watching it. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    gridems_http_t *h = userp;
    sock_t *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(h->multi, fd, NULL);
            drop_sock(h, s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL || uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->h = h;
        s->fd = fd;
        s->poll.data = s;
        s->next = h->socks;
        h->socks = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

/* curl: call back after timeout_ms (-1: never). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    gridems_http_t *h = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    request_t *r = userp;
    size_t n = size * nmemb;
    if (r->len + n > r->max) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap > 0 ? r->cap : 4096;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        char *grown = realloc(r->body, cap);
        if (grown == NULL) {
            return 0;
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

int gridems_http_create(uv_loop_t *loop, gridems_http_t **out)
{
    static bool global_done = false;
    *out = NULL;
    if (!global_done) {
        /* Not thread-safe in old libcurls; the loop thread is the only caller. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return GRIDEMS_EIO;
        }
        global_done = true;
        /* Debian's libcurl resolves names on a thread of its own; a build without that would
         * resolve a host name inside curl_multi_socket_action(), on the loop. */
        const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
        if ((info->features & CURL_VERSION_ASYNCHDNS) == 0) {
            gridems_log_warn("http: this libcurl resolves names synchronously; give the VTN "
                             "as a numeric address so the loop never waits on DNS");
        }
    }
    gridems_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return GRIDEMS_ENOMEM;
    }
    h->loop = loop;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        free(h);
        return GRIDEMS_EIO;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->open_handles = 1;
    *out = h;
    return 0;
}

/* Append the header line prefix + value to *list; false (and *list freed and NULL) when out of
 * memory. */
static bool append_header(struct curl_slist **list, const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    char *line = malloc(n);
    struct curl_slist *more = NULL;
    if (line != NULL) {
        snprintf(line, n, "%s%s", prefix, value);
        more = curl_slist_append(*list, line);
        free(line);
    }
    if (more == NULL) {
        curl_slist_free_all(*list);
    }
    *list = more;
    return more != NULL;
}

/* What a POST sends; a GET has none. */
typedef struct upload_s {
    const char *content_type;
    const char *body;
    size_t len;
} upload_t;

/* The request set-up of gridems_http_get and gridems_http_post (up NULL: a GET). */
static int start_request(gridems_http_t *h, const char *url, const char *bearer, const upload_t *up,
                         long timeout_ms, size_t max_bytes, gridems_http_cb cb, void *userdata)
{
    if (h == NULL || url == NULL || cb == NULL || timeout_ms <= 0) {
        return GRIDEMS_EINVAL;
    }
    if (h->closing) {
        return GRIDEMS_ESTATE;
    }
    request_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return GRIDEMS_ENOMEM;
    }
    r->h = h;
    r->max = max_bytes;
    r->cb = cb;
    r->userdata = userdata;
    r->timeout_ms = timeout_ms;
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        free(r);
        return GRIDEMS_EIO;
    }
    r->headers = curl_slist_append(NULL, "Accept: application/json");
    bool ok = r->headers != NULL;
    if (ok && bearer != NULL) {
        ok = append_header(&r->headers, "Authorization: Bearer ", bearer);
    }
    /* Our Content-Type replaces the form encoding curl would otherwise announce for a POST. */
    if (ok && up != NULL) {
        ok = append_header(&r->headers, "Content-Type: ", up->content_type);
    }
    CURL *e = r->easy;
    if (ok && up != NULL) {
        /* The size first: COPYPOSTFIELDS copies that many bytes (strlen() without it), so the
         * body may hold any bytes and the caller's buffer is free once we return. An empty body
         * is "" of size 0, the documented zero-byte POST: NULL post data tells curl the body
         * comes from its read callback, stdin by default (CURLOPT_POSTFIELDS(3)). */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up->len);
        ok = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, up->len > 0 ? up->body : "") == CURLE_OK;
    }
    if (!ok) {
        free_request(r);
        return GRIDEMS_ENOMEM;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A bearer token must not follow a redirect to another host: no redirects at all. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        free_request(r);
        return GRIDEMS_EIO;
    }
    r->next = h->requests;
    h->requests = r;
    h->pending++;
    return 0;
}

int gridems_http_get(gridems_http_t *h, const char *url, const char *bearer, long timeout_ms,
                     size_t max_bytes, gridems_http_cb cb, void *userdata)
{
    return start_request(h, url, bearer, NULL, timeout_ms, max_bytes, cb, userdata);
}

int gridems_http_post(gridems_http_t *h, const char *url, const char *bearer,
                      const char *content_type, const char *body, size_t len, long timeout_ms,
                      size_t max_bytes, gridems_http_cb cb, void *userdata)
{
    /* A CR or LF would end the header line and let the rest inject headers of its own; an empty
     * value would make curl drop the header instead of sending it. */
    if (content_type == NULL || content_type[0] == '\0' || strpbrk(content_type, "\r\n") != NULL ||
        (body == NULL && len > 0)) {
        return GRIDEMS_EINVAL;
    }
    upload_t up = {.content_type = content_type, .body = body, .len = len};
    return start_request(h, url, bearer, &up, timeout_ms, max_bytes, cb, userdata);
}

size_t gridems_http_pending(const gridems_http_t *h)
{
    return h != NULL ? h->pending : 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    gridems_http_t *h = handle->data;
    h->open_handles--;
    maybe_finish_close(h);
}

void gridems_http_close(gridems_http_t *h, gridems_http_closed_cb cb, void *userdata)
{
    if (h == NULL || h->closing) {
        return;
    }
    h->closing = true;
    h->closed_cb = cb;
    h->closed_userdata = userdata;
    while (h->requests != NULL) {
        request_t *r = h->requests;
        h->requests = r->next;
        curl_multi_remove_handle(h->multi, r->easy);
        free_request(r);
    }
    h->pending = 0;
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks != NULL) {
        drop_sock(h, h->socks);
    }
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
