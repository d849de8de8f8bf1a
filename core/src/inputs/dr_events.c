/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Demand-response events: validation, add/replace/cancel by id, prune and grid mapping. See
 * dr_events.h. The set is small (at most GRIDEMS_DR_MAX_EVENTS), so a sorted array with linear
 * search and memmove is both the simplest and fast enough.
 */
#include "dr_events.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "json_strict.h"
#include "timeutil.h"

#define GRIDEMS_DR_STR2_(x) #x
#define GRIDEMS_DR_STR_(x) GRIDEMS_DR_STR2_(x)

/* The id rule; returns the reason it breaks, or NULL when it is fine. */
static const char *id_problem(const char *id, size_t maxlen)
{
    size_t len = strnlen(id, maxlen + 1);
    if (len == 0) {
        return "must not be empty";
    }
    if (len > maxlen) {
        return "must be at most " GRIDEMS_DR_STR_(GRIDEMS_DR_MAX_ID_LEN) " bytes";
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f) {
            return "must not contain control characters";
        }
    }
    return NULL;
}

static bool valid_time(int64_t t)
{
    return t >= GRIDEMS_TIME_MIN_MS && t <= GRIDEMS_TIME_MAX_MS;
}

int gridems_dr_msg_parse_cjson(const cJSON *root, gridems_dr_msg_t *msg, char *err, size_t errlen)
{
    if (msg == NULL) {
        gridems_set_err(err, errlen, "message: no output");
        return GRIDEMS_EINVAL;
    }
    memset(msg, 0, sizeof *msg);
    if (!cJSON_IsObject(root)) {
        gridems_set_err(err, errlen, "message: must be a JSON object");
        return GRIDEMS_EINVAL;
    }
    gridems_dr_msg_t m;
    memset(&m, 0, sizeof m);

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id == NULL) {
        gridems_set_err(err, errlen, "id: missing");
        return GRIDEMS_EINVAL;
    }
    if (!cJSON_IsString(id) || id->valuestring == NULL) {
        gridems_set_err(err, errlen, "id: must be a string");
        return GRIDEMS_EINVAL;
    }
    const char *why = id_problem(id->valuestring, GRIDEMS_DR_MAX_ID_LEN);
    if (why != NULL) {
        gridems_set_err(err, errlen, "id: %s", why);
        return GRIDEMS_EINVAL;
    }
    snprintf(m.event.id, sizeof m.event.id, "%s", id->valuestring);

    const cJSON *cancel = cJSON_GetObjectItemCaseSensitive(root, "cancel");
    if (cancel != NULL && !cJSON_IsBool(cancel)) {
        gridems_set_err(err, errlen, "cancel: must be true or false");
        return GRIDEMS_EINVAL;
    }
    if (cJSON_IsTrue(cancel)) {
        m.cancel = 1;
        *msg = m;
        return 0;
    }

    int rc = gridems_json_time(cJSON_GetObjectItemCaseSensitive(root, "start"), "start",
                               &m.event.start_ms, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = gridems_json_time(cJSON_GetObjectItemCaseSensitive(root, "end"), "end", &m.event.end_ms,
                           err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (m.event.end_ms <= m.event.start_ms) {
        gridems_set_err(err, errlen, "end: must be after start");
        return GRIDEMS_EINVAL;
    }
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(root, "import_limit_kw");
    if (lim == NULL) {
        gridems_set_err(err, errlen, "import_limit_kw: missing");
        return GRIDEMS_EINVAL;
    }
    if (!cJSON_IsNumber(lim) || !isfinite(lim->valuedouble)) {
        gridems_set_err(err, errlen, "import_limit_kw: must be a finite number");
        return GRIDEMS_EINVAL;
    }
    double v = lim->valuedouble;
    if (!(v >= 0.0 && v <= GRIDEMS_DR_MAX_LIMIT_KW)) {
        gridems_set_err(err, errlen, "import_limit_kw: must be in [0, %g] kW, got %g",
                        GRIDEMS_DR_MAX_LIMIT_KW, v);
        return GRIDEMS_EINVAL;
    }
    m.event.import_limit_kw = v;
    *msg = m;
    return 0;
}

int gridems_dr_msg_parse_json(const char *text, size_t len, gridems_dr_msg_t *msg, char *err,
                              size_t errlen)
{
    if (msg == NULL) {
        gridems_set_err(err, errlen, "message: no output");
        return GRIDEMS_EINVAL;
    }
    memset(msg, 0, sizeof *msg);
    /* The one JSON policy for input messages (json_strict.h). */
    cJSON *root = NULL;
    int parsed =
        gridems_json_parse_message(text, len, GRIDEMS_DR_MAX_MESSAGE_BYTES, &root, err, errlen);
    if (parsed != 0) {
        return parsed;
    }
    int rc = gridems_dr_msg_parse_cjson(root, msg, err, errlen);
    cJSON_Delete(root);
    return rc;
}

void gridems_dr_events_init(gridems_dr_events_t *set)
{
    set->ev = NULL;
    set->n = 0;
    set->cap = 0;
}

void gridems_dr_events_close(gridems_dr_events_t *set)
{
    if (set == NULL) {
        return;
    }
    free(set->ev);
    gridems_dr_events_init(set);
}

static long find_index(const gridems_dr_events_t *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->ev[i].id, id) == 0) {
            return (long)i;
        }
    }
    return -1;
}

const gridems_dr_event_t *gridems_dr_events_find(const gridems_dr_events_t *set, const char *id)
{
    if (set == NULL || id == NULL) {
        return NULL;
    }
    long i = find_index(set, id);
    return i < 0 ? NULL : &set->ev[i];
}

/* The sort order: start, then id (ids are unique, so the order is total). */
static bool before(const gridems_dr_event_t *a, const gridems_dr_event_t *b)
{
    if (a->start_ms != b->start_ms) {
        return a->start_ms < b->start_ms;
    }
    return strcmp(a->id, b->id) < 0;
}

static void remove_at(gridems_dr_events_t *set, size_t i)
{
    memmove(&set->ev[i], &set->ev[i + 1], (set->n - i - 1) * sizeof *set->ev);
    set->n--;
}

/* Insert ev at its sorted place; the caller made room (n < cap). */
static void insert_sorted(gridems_dr_events_t *set, const gridems_dr_event_t *ev)
{
    size_t i = set->n;
    while (i > 0 && before(ev, &set->ev[i - 1])) {
        i--;
    }
    memmove(&set->ev[i + 1], &set->ev[i], (set->n - i) * sizeof *set->ev);
    set->ev[i] = *ev;
    set->n++;
}

int gridems_dr_events_apply(gridems_dr_events_t *set, const gridems_dr_msg_t *msg,
                            gridems_dr_outcome_t *outcome)
{
    if (set == NULL || msg == NULL || id_problem(msg->event.id, GRIDEMS_DR_MAX_ID_LEN) != NULL) {
        return GRIDEMS_EINVAL;
    }
    long at = find_index(set, msg->event.id);
    if (msg->cancel) {
        if (at >= 0) {
            remove_at(set, (size_t)at);
        }
        if (outcome != NULL) {
            *outcome = at >= 0 ? GRIDEMS_DR_CANCELLED : GRIDEMS_DR_CANCEL_UNKNOWN;
        }
        return 0;
    }
    const gridems_dr_event_t *ev = &msg->event;
    if (!valid_time(ev->start_ms) || !valid_time(ev->end_ms) || ev->end_ms <= ev->start_ms ||
        !(ev->import_limit_kw >= 0.0 && ev->import_limit_kw <= GRIDEMS_DR_MAX_LIMIT_KW)) {
        return GRIDEMS_EINVAL;
    }
    if (at < 0 && set->n == set->cap) {
        if (set->cap >= GRIDEMS_DR_MAX_EVENTS) {
            return GRIDEMS_ENOSPC;
        }
        size_t cap = set->cap == 0 ? 8 : set->cap * 2;
        if (cap > GRIDEMS_DR_MAX_EVENTS) {
            cap = GRIDEMS_DR_MAX_EVENTS;
        }
        gridems_dr_event_t *grown = realloc(set->ev, cap * sizeof *grown);
        if (grown == NULL) {
            return GRIDEMS_ENOMEM;
        }
        set->ev = grown;
        set->cap = cap;
    }
    if (at >= 0) {
        remove_at(set, (size_t)at);
    }
    insert_sorted(set, ev);
    if (outcome != NULL) {
        *outcome = at >= 0 ? GRIDEMS_DR_REPLACED : GRIDEMS_DR_ADDED;
    }
    return 0;
}

static int apply_with_reason(gridems_dr_events_t *set, const gridems_dr_msg_t *msg,
                             gridems_dr_outcome_t *outcome, char *err, size_t errlen)
{
    int rc = gridems_dr_events_apply(set, msg, outcome);
    if (rc == GRIDEMS_ENOSPC) {
        gridems_set_err(err, errlen, "id: cannot add \"%s\": already holding %d events",
                        msg->event.id, GRIDEMS_DR_MAX_EVENTS);
    } else if (rc == GRIDEMS_ENOMEM) {
        gridems_set_err(err, errlen, "message: out of memory");
    } else if (rc != 0) {
        gridems_set_err(err, errlen, "message: %s", gridems_strerror(rc));
    }
    return rc;
}

int gridems_dr_events_update_cjson(gridems_dr_events_t *set, const cJSON *root,
                                   gridems_dr_outcome_t *outcome, char *err, size_t errlen)
{
    gridems_dr_msg_t msg;
    int rc = gridems_dr_msg_parse_cjson(root, &msg, err, errlen);
    if (rc != 0) {
        return rc;
    }
    return apply_with_reason(set, &msg, outcome, err, errlen);
}

int gridems_dr_events_update_json(gridems_dr_events_t *set, const char *text, size_t len,
                                  gridems_dr_outcome_t *outcome, char *err, size_t errlen)
{
    gridems_dr_msg_t msg;
    int rc = gridems_dr_msg_parse_json(text, len, &msg, err, errlen);
    if (rc != 0) {
        return rc;
    }
    return apply_with_reason(set, &msg, outcome, err, errlen);
}

int gridems_dr_events_prune(gridems_dr_events_t *set, int64_t now_ms)
{
    if (set == NULL) {
        return 0;
    }
    size_t kept = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (set->ev[i].end_ms > now_ms) {
            set->ev[kept++] = set->ev[i];
        }
    }
    int dropped = (int)(set->n - kept);
    set->n = kept;
    return dropped;
}

int gridems_dr_events_to_grid(const gridems_dr_events_t *set, int64_t start_ms, int64_t step_ms,
                              int steps, gridems_event_t *out, size_t cap)
{
    int64_t span = 0;
    if (set == NULL || step_ms <= 0 || steps < 0 || !valid_time(start_ms) ||
        __builtin_mul_overflow(step_ms, (int64_t)steps, &span) || span > GRIDEMS_TIME_MAX_MS ||
        (cap > 0 && out == NULL)) {
        return GRIDEMS_EINVAL;
    }
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++) {
        const gridems_dr_event_t *ev = &set->ev[i];
        /* Event times were bounded on the way in, so these differences cannot overflow. */
        int64_t first = gridems_time_floor_div(ev->start_ms - start_ms, step_ms);
        int64_t past = -gridems_time_floor_div(start_ms - ev->end_ms, step_ms); /* ceil */
        if (first < 0) {
            first = 0;
        }
        if (past > steps) {
            past = steps;
        }
        if (past <= first) {
            continue;
        }
        if (n == cap) {
            return GRIDEMS_ENOSPC;
        }
        out[n].start_step = (int)first;
        out[n].end_step = (int)past;
        out[n].import_limit_kw = ev->import_limit_kw;
        n++;
    }
    return (int)n;
}
