/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The OpenADR 3.1 VEN: REST polling and MQTT notifications (openadr_ven.h).
 *
 * A poll is one sequence of GETs, one at a time (programs, then each program's events page by
 * page, then, the first time with MQTT on, the notifier and its topics); a poll asked for while
 * one runs (an MQTT reconnect) runs right after it. A notification that arrives while the events
 * are being read makes the poll start over instead of committing, so the held events never go
 * back to an answer older than a notification (a VTN that notifies faster than it answers a poll
 * leaves the VEN on its notifications, which is what they are for).
 */
#include "openadr_ven.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "http_client.h"
#include "log.h"
#include "mqtt_client.h"

#define PAGE 50
#define RETRY_MS 10000
#define MAX_EVENTS 1000
#define MAX_TOKEN 4096

typedef enum { STEP_PROGRAMS, STEP_EVENTS, STEP_NOTIFIERS, STEP_TOPICS } step_t;

/* One version of an event the VEN rejected: its id and modificationDateTime as sent. */
typedef struct rejected_s {
    char id[GRIDEMS_OADR_ID_SIZE];
    char modified[48];
} rejected_t;

struct gridems_ven_s {
    uv_loop_t *loop;
    const gridems_clock_t *clock;
    gridems_openadr_config_t cfg; /* a copy: only the strings and numbers used here */
    char *currency;
    char *client_id;
    gridems_ven_change_cb on_change;
    void *userdata;

    gridems_http_t *http;
    uv_timer_t timer;     /* the next poll */
    uv_timer_t sub_timer; /* watches the MQTT subscriptions until the broker has them all */
    gridems_mqtt_t *mqtt;
    char broker[512];
    char (*topics)[256]; /* [n_topics] */
    int n_topics;
    bool live_logged;

    char ids[GRIDEMS_OPENADR_MAX_PROGRAMS][GRIDEMS_OADR_ID_SIZE]; /* "" until resolved */
    char token[MAX_TOKEN];

    bool busy; /* a poll runs */
    bool poll_again;
    bool poll_stale; /* a notification came while the poll ran: its answers may be older */
    step_t step;
    int prog; /* the program being fetched (events, topics) */
    int skip;
    gridems_oadr_event_t *fresh; /* the events of the poll running */
    size_t n_fresh;
    gridems_oadr_event_t *held; /* [MAX_EVENTS] each */
    size_t n_held;

    gridems_ven_stats_t stats;        /* events and mqtt_connected are filled in when asked */
    gridems_complaint_t poll_problem; /* the VTN does not answer as it should */
    gridems_complaint_t bad_event;    /* rejected notifications */
    bool missing[GRIDEMS_OPENADR_MAX_PROGRAMS]; /* a program name not found was logged */
    /* Event versions rejected by the last completed poll and by the running one: each version is
     * logged once, not at every poll, and a new one at once. */
    rejected_t *rej_prev;
    size_t n_rej_prev;
    rejected_t *rej_now;
    size_t n_rej_now;
    /* The report in flight (gridems_ven_post_report): one at a time. */
    bool report_busy;
    gridems_ven_report_cb report_cb;
    void *report_userdata;
    bool stopping;
    int open; /* handles and clients still closing */
    gridems_ven_closed_cb closed_cb;
    void *closed_userdata;
};

static void start_poll(gridems_ven_t *v);
static void on_mqtt_gone(gridems_mqtt_t *m, int status, void *userdata);

/* ---- ## Held events ---- */

static gridems_oadr_event_t *find(gridems_oadr_event_t *set, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set[i].id, id) == 0) {
            return &set[i];
        }
    }
    return NULL;
}

static void report(gridems_ven_t *v, const char *how)
{
    const gridems_oadr_event_t *ptrs[MAX_EVENTS];
    for (size_t i = 0; i < v->n_held; i++) {
        ptrs[i] = &v->held[i];
    }
    if (!v->stopping) {
        v->on_change(v, ptrs, v->n_held, how, v->userdata);
    }
}

/* An event worth holding: it gives a signal gridems uses or asks for a report gridems makes, not
 * all of it over by now. */
static bool current(const gridems_ven_t *v, const gridems_oadr_event_t *ev)
{
    int64_t now = gridems_clock_now_ms(v->clock);
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        for (size_t i = 0; i < ev->n[s]; i++) {
            if (ev->spans[s][i].end_ms > now) {
                return true;
            }
        }
    }
    for (size_t i = 0; ev->reports != 0 && i < ev->n_periods; i++) {
        if (ev->periods[i].end_ms > now) {
            return true;
        }
    }
    return false;
}

static bool ours(const gridems_ven_t *v, const char *program_id)
{
    for (int i = 0; i < v->cfg.n_programs; i++) {
        if (v->ids[i][0] != '\0' && strcmp(v->ids[i], program_id) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- ## The poll ---- */

static void drop_fresh(gridems_ven_t *v)
{
    v->n_rej_now = 0;
    for (size_t i = 0; i < v->n_fresh; i++) {
        gridems_oadr_event_free(&v->fresh[i]);
    }
    v->n_fresh = 0;
}

static void on_timer(uv_timer_t *t)
{
    start_poll(t->data);
}

static void arm(gridems_ven_t *v, uint64_t ms)
{
    if (!v->stopping) {
        uv_timer_start(&v->timer, on_timer, ms, 0);
    }
}

static void poll_done(gridems_ven_t *v, bool ok)
{
    v->busy = false;
    if (v->poll_again) {
        v->poll_again = false;
        arm(v, 0);
    } else if (!ok || (v->cfg.mqtt && v->mqtt == NULL)) {
        arm(v, RETRY_MS);
    } else if (v->cfg.poll_seconds > 0) {
        arm(v, (uint64_t)v->cfg.poll_seconds * 1000);
    }
}

__attribute__((format(printf, 2, 3))) static void poll_failed(gridems_ven_t *v, const char *fmt,
                                                              ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gridems_log_complain(&v->poll_problem, GRIDEMS_LOG_WARNING,
                         "openadr: %s (keeping the events held; retrying)", msg);
    v->stats.poll_failures++;
    snprintf(v->stats.problem, sizeof v->stats.problem, "%s", msg);
    drop_fresh(v);
    poll_done(v, false);
}

static void on_answer(int status, const char *body, size_t len, const char *err, void *ud);

static void get(gridems_ven_t *v, const char *path)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", v->cfg.vtn_url, path);
    int rc = gridems_http_get(v->http, url, v->token, (long)v->cfg.timeout_seconds * 1000,
                              GRIDEMS_OADR_MAX_BYTES, on_answer, v);
    if (rc != 0) {
        poll_failed(v, "GET %s: %s", path, gridems_strerror(rc));
    }
}

/* Ids go into URLs: only the unreserved characters pass unescaped, and nothing else is sent. */
static bool url_safe(const char *id)
{
    for (; *id != '\0'; id++) {
        if (!isalnum((unsigned char)*id) && strchr("-._~", *id) == NULL) {
            return false;
        }
    }
    return true;
}

static void next_program(gridems_ven_t *v, int from)
{
    for (v->prog = from; v->prog < v->cfg.n_programs; v->prog++) {
        if (v->ids[v->prog][0] != '\0') {
            char path[256];
            v->skip = 0;
            if (v->step == STEP_TOPICS) {
                snprintf(path, sizeof path, "/notifiers/mqtt/topics/programs/%s/events",
                         v->ids[v->prog]);
            } else {
                snprintf(path, sizeof path, "/events?programID=%s&skip=0&limit=%d", v->ids[v->prog],
                         PAGE);
            }
            get(v, path);
            return;
        }
    }
    v->prog = v->cfg.n_programs;
}

static void start_mqtt(gridems_ven_t *v);

static void commit(gridems_ven_t *v)
{
    for (size_t i = 0; i < v->n_held; i++) {
        gridems_oadr_event_free(&v->held[i]);
    }
    gridems_oadr_event_t *old = v->held;
    v->held = v->fresh;
    v->n_held = v->n_fresh;
    v->fresh = old;
    v->n_fresh = 0;
    rejected_t *r = v->rej_prev;
    v->rej_prev = v->rej_now;
    v->n_rej_prev = v->n_rej_now;
    v->rej_now = r;
    v->n_rej_now = 0;
    gridems_log_release(&v->poll_problem, "openadr: %s answers again", v->cfg.vtn_url);
    gridems_log_info("openadr: poll: %zu events held", v->n_held);
    v->stats.polls++;
    v->stats.problem[0] = '\0';
    report(v, "poll");
    if (v->cfg.mqtt && v->mqtt == NULL) {
        v->step = STEP_NOTIFIERS;
        get(v, "/notifiers");
        return;
    }
    poll_done(v, true);
}

static bool seen_rejected(const rejected_t *set, size_t n, const rejected_t *r)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set[i].id, r->id) == 0 && strcmp(set[i].modified, r->modified) == 0) {
            return true;
        }
    }
    return false;
}

/* Remember that this version of an event was rejected; true when it is news (to be logged). */
static bool note_rejected(gridems_ven_t *v, const cJSON *obj, const char *id)
{
    rejected_t r;
    memset(&r, 0, sizeof r);
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(obj, "modificationDateTime");
    if (!cJSON_IsString(mod)) {
        mod = cJSON_GetObjectItemCaseSensitive(obj, "modification_date_time");
    }
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.modified, sizeof r.modified, "%s", cJSON_IsString(mod) ? mod->valuestring : "");
    bool news = !seen_rejected(v->rej_prev, v->n_rej_prev, &r) &&
                !seen_rejected(v->rej_now, v->n_rej_now, &r);
    if (v->n_rej_now < MAX_EVENTS) {
        v->rej_now[v->n_rej_now++] = r;
    }
    v->stats.rejected += news ? 1 : 0;
    return news;
}

static void take_events(gridems_ven_t *v, const char *body, size_t len)
{
    /* The one JSON policy of every input (json_strict.h), then the shape. */
    cJSON *root = NULL;
    char why[256] = "must be a JSON array";
    if (gridems_json_parse_strict(body, len, &root, why, sizeof why) != 0 || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        poll_failed(v, "GET /events?programID=%s: the answer: %s", v->ids[v->prog], why);
        return;
    }
    int count = 0;
    for (const cJSON *it = root->child; it != NULL; it = it->next, count++) {
        if (v->n_fresh >= MAX_EVENTS) {
            cJSON_Delete(root);
            poll_failed(v, "more than %d events in the programs", MAX_EVENTS);
            return;
        }
        char err[512] = "";
        gridems_oadr_event_t ev;
        int rc = gridems_oadr_event_parse(it, v->currency, &ev, err, sizeof err);
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(it, "id");
        const char *id = cJSON_IsString(idj) ? idj->valuestring : "?";
        if (rc == 0 && find(v->fresh, v->n_fresh, ev.id) != NULL) {
            gridems_oadr_event_free(&ev);
            continue; /* a page boundary moved under us; the poll after this one settles it */
        }
        if (rc == 0) {
            if (current(v, &ev)) {
                gridems_oadr_event_move(&v->fresh[v->n_fresh++], &ev);
            }
            gridems_oadr_event_free(&ev);
            continue;
        }
        gridems_oadr_event_t *was = find(v->held, v->n_held, id);
        if (note_rejected(v, it, id)) {
            gridems_log_warn("openadr: event %.64s of program %s rejected: %s (%s)", id,
                             v->ids[v->prog], err,
                             was != NULL ? "the version held before stays" : "ignored");
        }
        /* A copy: the held version must survive this poll failing later. */
        if (was != NULL && gridems_oadr_event_copy(&v->fresh[v->n_fresh], was) == 0) {
            v->n_fresh++;
        }
    }
    cJSON_Delete(root);
    if (count >= PAGE) {
        char path[256];
        v->skip += PAGE;
        snprintf(path, sizeof path, "/events?programID=%s&skip=%d&limit=%d", v->ids[v->prog],
                 v->skip, PAGE);
        get(v, path);
        return;
    }
    next_program(v, v->prog + 1);
    if (v->prog >= v->cfg.n_programs && v->poll_stale) {
        /* Committing answers read before a notification would undo it for a moment (and
         * re-plan twice): poll again instead. */
        drop_fresh(v);
        v->busy = false;
        v->poll_again = false;
        arm(v, 0);
    } else if (v->prog >= v->cfg.n_programs) {
        commit(v);
    }
}

static void take_programs(gridems_ven_t *v, const char *body, size_t len)
{
    int found = 0;
    for (int i = 0; i < v->cfg.n_programs; i++) {
        char err[256] = "";
        char id[GRIDEMS_OADR_ID_SIZE] = "";
        int rc =
            gridems_oadr_program_id(body, len, v->cfg.programs[i], id, sizeof id, err, sizeof err);
        if (rc == 0 && !url_safe(id)) {
            snprintf(err, sizeof err,
                     "programs: the id of \"%.64s\" holds characters outside "
                     "[A-Za-z0-9._~-]",
                     v->cfg.programs[i]);
            rc = GRIDEMS_EINVAL;
        }
        if (rc == 0) {
            v->missing[i] = false;
            if (strcmp(v->ids[i], id) != 0) {
                gridems_log_notice("openadr: program \"%s\" is id %s", v->cfg.programs[i], id);
            }
            snprintf(v->ids[i], sizeof v->ids[i], "%s", id);
            found++;
        } else if (rc == GRIDEMS_ENOENT || rc == GRIDEMS_EINVAL) {
            if (!v->missing[i]) {
                gridems_log_warn("openadr: %s (looked up again at each poll)", err);
                v->missing[i] = true;
            }
            v->ids[i][0] = '\0';
        } else {
            poll_failed(v, "GET /programs: %s", err);
            return;
        }
    }
    if (found == 0) {
        poll_failed(v, "GET /programs: none of the configured programs is there");
        return;
    }
    v->step = STEP_EVENTS;
    next_program(v, 0);
}

static void take_notifiers(gridems_ven_t *v, const char *body, size_t len)
{
    char err[256] = "";
    if (gridems_oadr_notifier_uri(body, len, v->broker, sizeof v->broker, err, sizeof err) != 0) {
        poll_failed(v, "GET /notifiers: %s", err);
        return;
    }
    free(v->topics);
    v->n_topics = 0;
    v->topics = calloc((size_t)v->cfg.n_programs * 3, sizeof *v->topics);
    if (v->topics == NULL) {
        poll_failed(v, "out of memory");
        return;
    }
    v->step = STEP_TOPICS;
    next_program(v, 0);
    if (v->prog >= v->cfg.n_programs) {
        poll_failed(v, "no program to subscribe to");
    }
}

static void take_topics(gridems_ven_t *v, const char *body, size_t len)
{
    char err[256] = "";
    if (gridems_oadr_topics(body, len, &v->topics[v->n_topics], err, sizeof err) != 0) {
        poll_failed(v, "GET /notifiers/mqtt/topics/programs/%s/events: %s", v->ids[v->prog], err);
        return;
    }
    v->n_topics += 3;
    next_program(v, v->prog + 1);
    if (v->prog >= v->cfg.n_programs) {
        start_mqtt(v);
        poll_done(v, v->mqtt != NULL);
    }
}

static void on_answer(int status, const char *body, size_t len, const char *err, void *ud)
{
    gridems_ven_t *v = ud;
    static const char *const what[] = {"/programs", "/events", "/notifiers",
                                       "/notifiers/mqtt/topics"};
    if (status != 200) {
        if (status == 0) {
            poll_failed(v, "GET %s%s: %s", v->cfg.vtn_url, what[v->step], err);
        } else {
            poll_failed(v, "GET %s%s: HTTP %d%s", v->cfg.vtn_url, what[v->step], status,
                        status == 401 || status == 403 ? " (is the token in "
                                                         "openadr.token_file right?)"
                                                       : "");
        }
        return;
    }
    switch (v->step) {
    case STEP_PROGRAMS:
        take_programs(v, body, len);
        break;
    case STEP_EVENTS:
        take_events(v, body, len);
        break;
    case STEP_NOTIFIERS:
        take_notifiers(v, body, len);
        break;
    case STEP_TOPICS:
        take_topics(v, body, len);
        break;
    }
}

static bool read_token(gridems_ven_t *v)
{
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(v->cfg.token_file, &text, &len);
    if (rc != 0 || len == 0 || len >= MAX_TOKEN) {
        poll_failed(v, "openadr.token_file %s: %s", v->cfg.token_file,
                    rc != 0 ? gridems_strerror(rc) : "must hold a token (1 to 4095 bytes)");
        free(text);
        return false;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f) {
            free(text);
            poll_failed(v,
                        "openadr.token_file %s: the token must be printable ASCII without "
                        "spaces",
                        v->cfg.token_file);
            return false;
        }
    }
    memcpy(v->token, text, len);
    v->token[len] = '\0';
    free(text);
    if (len == 0) {
        poll_failed(v, "openadr.token_file %s: holds only white space", v->cfg.token_file);
        return false;
    }
    return true;
}

static void start_poll(gridems_ven_t *v)
{
    if (v->stopping) {
        return;
    }
    if (v->busy) {
        v->poll_again = true;
        return;
    }
    v->busy = true;
    v->poll_stale = false;
    drop_fresh(v);
    if (!read_token(v)) {
        return;
    }
    v->step = STEP_PROGRAMS;
    get(v, "/programs");
}

/* ---- ## MQTT notifications ---- */

static void on_mqtt_message(gridems_mqtt_t *m, const char *topic, const void *payload, size_t len,
                            int qos, int retained, void *userdata)
{
    gridems_ven_t *v = userdata;
    (void)m;
    (void)qos;
    /* A retained notification is history (some VTNs retain them): the poll after each connect
     * reads the current state instead. */
    if (v->stopping || retained) {
        return;
    }
    char err[512] = "";
    gridems_oadr_op_t op = GRIDEMS_OADR_OP_UPSERT;
    bool is_event = false;
    gridems_oadr_event_t ev;
    int rc = gridems_oadr_notification_parse(payload, len, v->currency, &op, &is_event, &ev, err,
                                             sizeof err);
    if (rc == 0 && !is_event) {
        return;
    }
    if (rc != 0) {
        v->stats.rejected++;
        gridems_log_complain(
            &v->bad_event, GRIDEMS_LOG_WARNING,
            "openadr: notification on %s rejected: %s (event %s: %s)", topic, err,
            ev.id[0] != '\0' ? ev.id : "?",
            find(v->held, v->n_held, ev.id) != NULL ? "the version held before stays" : "ignored");
        gridems_oadr_event_free(&ev);
        return;
    }
    if (!ours(v, ev.program_id)) {
        gridems_oadr_event_free(&ev);
        return;
    }
    gridems_oadr_event_t *was = find(v->held, v->n_held, ev.id);
    bool over = op == GRIDEMS_OADR_OP_UPSERT && !current(v, &ev);
    if (op == GRIDEMS_OADR_OP_DELETE || over) {
        if (was != NULL) {
            gridems_oadr_event_free(was);
            *was = v->held[--v->n_held];
            memset(&v->held[v->n_held], 0, sizeof v->held[v->n_held]);
        }
        gridems_log_notice("openadr: event %s %s (mqtt)", ev.id,
                           over ? "is over or gives nothing gridems uses: not held" : "deleted");
    } else if (was != NULL) {
        gridems_log_notice("openadr: event %s updated (mqtt)", ev.id);
        gridems_oadr_event_move(was, &ev);
    } else if (v->n_held < MAX_EVENTS) {
        gridems_log_notice("openadr: event %s created (mqtt)", ev.id);
        gridems_oadr_event_move(&v->held[v->n_held++], &ev);
    } else {
        gridems_log_warn("openadr: event %s ignored: more than %d events", ev.id, MAX_EVENTS);
    }
    gridems_oadr_event_free(&ev);
    v->stats.notifications++;
    if (v->busy && v->step == STEP_EVENTS) {
        v->poll_stale = true; /* the poll running may have read the VTN before this change */
    }
    report(v, "mqtt");
}

static void on_sub_timer(uv_timer_t *t)
{
    gridems_ven_t *v = t->data;
    if (v->mqtt == NULL || !gridems_mqtt_is_connected(v->mqtt)) {
        uv_timer_stop(t);
        return;
    }
    if (gridems_mqtt_pending_subscriptions(v->mqtt) == 0) {
        uv_timer_stop(t);
        gridems_log_notice("openadr: notifications subscribed on %s (%d topics)", v->broker,
                           v->n_topics);
    }
}

static void on_mqtt_connected(gridems_mqtt_t *m, int reconnect, void *userdata)
{
    gridems_ven_t *v = userdata;
    (void)m;
    gridems_log_notice("openadr: MQTT %s to %s", reconnect ? "reconnected" : "connected",
                       v->broker);
    uv_timer_start(&v->sub_timer, on_sub_timer, 20, 20);
    /* What changed while we were not subscribed is only on the VTN: poll once more. */
    start_poll(v);
}

static void on_mqtt_disconnected(gridems_mqtt_t *m, void *userdata)
{
    gridems_ven_t *v = userdata;
    (void)m;
    gridems_log_warn("openadr: MQTT connection to %s lost; reconnecting", v->broker);
}

static void start_mqtt(gridems_ven_t *v)
{
    gridems_mqtt_options_t o;
    memset(&o, 0, sizeof o);
    o.uri = v->broker;
    o.client_id = v->client_id;
    o.topic_prefix = "gridems-ven";
    o.no_status = 1;
    o.on_message = on_mqtt_message;
    o.on_connected = on_mqtt_connected;
    o.on_disconnected = on_mqtt_disconnected;
    o.userdata = v;
    int rc = gridems_mqtt_create(v->loop, &o, &v->mqtt);
    for (int i = 0; rc == 0 && i < v->n_topics; i++) {
        rc = gridems_mqtt_subscribe(v->mqtt, v->topics[i], 1);
    }
    if (rc == 0) {
        rc = gridems_mqtt_connect(v->mqtt);
    }
    if (rc != 0) {
        gridems_log_warn("openadr: cannot use the VTN's broker %s: %s (retrying)", v->broker,
                         gridems_strerror(rc));
        /* A client that never connected still needs its shutdown to be freed. */
        if (v->mqtt != NULL) {
            v->open++;
            gridems_mqtt_t *m = v->mqtt;
            v->mqtt = NULL;
            if (gridems_mqtt_shutdown(m, NULL, 0, on_mqtt_gone) != 0) {
                v->open--;
            }
        }
        return;
    }
    gridems_log_info("openadr: subscribing on %s to %d topics (%s, ...)", v->broker, v->n_topics,
                     v->topics[0]);
}

/* ---- ## Reports ---- */

/* A VTN's answer to a refused report is a problem document; its first bytes say why. */
#define REPORT_ANSWER_MAX 65536

static void on_report_answer(int status, const char *body, size_t len, const char *err, void *ud)
{
    gridems_ven_t *v = ud;
    char why[400] = "";
    if (status == 0) {
        snprintf(why, sizeof why, "%s", err != NULL ? err : "no answer");
    } else if (status < 200 || status > 299) {
        snprintf(why, sizeof why, "HTTP %d%s%.*s", status, len > 0 ? ": " : "",
                 (int)(len < 300 ? len : 300), body);
    }
    v->report_busy = false;
    if (!v->stopping) {
        v->report_cb(status, why, v->report_userdata);
    }
}

int gridems_ven_post_report(gridems_ven_t *v, const char *body, gridems_ven_report_cb cb,
                            void *userdata)
{
    if (v->stopping || v->report_busy || v->token[0] == '\0') {
        return GRIDEMS_ESTATE; /* a report in flight, or no token read yet: later */
    }
    char url[2048];
    snprintf(url, sizeof url, "%s/reports", v->cfg.vtn_url);
    v->report_cb = cb;
    v->report_userdata = userdata;
    int rc = gridems_http_post(v->http, url, v->token, "application/json", body, strlen(body),
                               (long)v->cfg.timeout_seconds * 1000, REPORT_ANSWER_MAX,
                               on_report_answer, v);
    v->report_busy = rc == 0;
    return rc;
}

void gridems_ven_get_stats(const gridems_ven_t *v, gridems_ven_stats_t *out)
{
    *out = v->stats;
    out->events = v->n_held;
    out->mqtt_connected = v->mqtt != NULL && gridems_mqtt_is_connected(v->mqtt);
}

/* ---- ## Lifecycle ---- */

static void maybe_closed(gridems_ven_t *v)
{
    if (v->stopping && v->open == 0) {
        drop_fresh(v);
        for (size_t i = 0; i < v->n_held; i++) {
            gridems_oadr_event_free(&v->held[i]);
        }
        free(v->held);
        free(v->fresh);
        free(v->rej_prev);
        free(v->rej_now);
        free(v->topics);
        free(v->currency);
        free(v->client_id);
        gridems_openadr_config_free(&v->cfg);
        gridems_ven_closed_cb cb = v->closed_cb;
        void *ud = v->closed_userdata;
        free(v);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

static void on_mqtt_gone(gridems_mqtt_t *m, int status, void *userdata)
{
    gridems_ven_t *v = userdata;
    (void)m;
    (void)status;
    v->open--;
    maybe_closed(v);
}

static void on_handle_closed(uv_handle_t *h)
{
    gridems_ven_t *v = h->data;
    v->open--;
    maybe_closed(v);
}

static void on_http_closed(void *ud)
{
    gridems_ven_t *v = ud;
    v->open--;
    maybe_closed(v);
}

static int copy_cfg(gridems_openadr_config_t *dst, const gridems_openadr_config_t *src)
{
    *dst = *src;
    dst->client_name = NULL; /* the service's (reports), not used here */
    dst->vtn_url = strdup(src->vtn_url);
    dst->token_file = strdup(src->token_file);
    dst->programs = calloc((size_t)src->n_programs, sizeof *dst->programs);
    dst->n_programs = 0;
    if (dst->vtn_url == NULL || dst->token_file == NULL || dst->programs == NULL) {
        return GRIDEMS_ENOMEM;
    }
    for (int i = 0; i < src->n_programs; i++) {
        dst->programs[i] = strdup(src->programs[i]);
        if (dst->programs[i] == NULL) {
            return GRIDEMS_ENOMEM;
        }
        dst->n_programs = i + 1;
    }
    return 0;
}

int gridems_ven_start(uv_loop_t *loop, const gridems_clock_t *clock,
                      const gridems_openadr_config_t *cfg, const char *site_currency,
                      const char *client_id, gridems_ven_change_cb on_change, void *userdata,
                      gridems_ven_t **out)
{
    *out = NULL;
    gridems_ven_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        return GRIDEMS_ENOMEM;
    }
    int rc = copy_cfg(&v->cfg, cfg);
    v->currency = strdup(site_currency);
    v->client_id = strdup(client_id);
    v->held = calloc(MAX_EVENTS, sizeof *v->held);
    v->fresh = calloc(MAX_EVENTS, sizeof *v->fresh);
    v->rej_prev = calloc(MAX_EVENTS, sizeof *v->rej_prev);
    v->rej_now = calloc(MAX_EVENTS, sizeof *v->rej_now);
    if (rc == 0 && (v->currency == NULL || v->client_id == NULL || v->held == NULL ||
                    v->fresh == NULL || v->rej_prev == NULL || v->rej_now == NULL)) {
        rc = GRIDEMS_ENOMEM;
    }
    if (rc == 0) {
        rc = gridems_http_create(loop, &v->http);
    }
    if (rc != 0) {
        free(v->held);
        free(v->fresh);
        free(v->rej_prev);
        free(v->rej_now);
        free(v->currency);
        free(v->client_id);
        gridems_openadr_config_free(&v->cfg);
        free(v);
        return rc;
    }
    v->loop = loop;
    v->clock = clock;
    v->on_change = on_change;
    v->userdata = userdata;
    uv_timer_init(loop, &v->timer);
    uv_timer_init(loop, &v->sub_timer);
    v->timer.data = v;
    v->sub_timer.data = v;
    v->open = 3; /* the two timers and the HTTP client */
    arm(v, 0);
    *out = v;
    return 0;
}

void gridems_ven_stop(gridems_ven_t *v, gridems_ven_closed_cb cb, void *userdata)
{
    if (v == NULL || v->stopping) {
        return;
    }
    v->stopping = true;
    v->closed_cb = cb;
    v->closed_userdata = userdata;
    uv_timer_stop(&v->timer);
    uv_timer_stop(&v->sub_timer);
    uv_close((uv_handle_t *)&v->timer, on_handle_closed);
    uv_close((uv_handle_t *)&v->sub_timer, on_handle_closed);
    gridems_http_close(v->http, on_http_closed, v);
    if (v->mqtt != NULL) {
        v->open++;
        if (gridems_mqtt_shutdown(v->mqtt, NULL, 1000, on_mqtt_gone) != 0) {
            v->open--;
        }
        v->mqtt = NULL;
    }
}
