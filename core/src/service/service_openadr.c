/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The OpenADR VEN's events as the service's inputs (docs/openadr.md).
 *
 * Whenever the VEN's events may have changed, each signal is composed (openadr_event.h: priority
 * decides where events overlap) and compared with what was applied last; only a difference is
 * applied, through the same entry points as the MQTT inputs (gridems__service_input), so
 * validation, logging, persistence, the devices' grid signals and the re-plan are the same:
 *   PRICE, EXPORT_PRICE, GHG -> a rate-array message to the import price, export price or carbon
 *     store (it replaces the span it covers); a span no event covers any more is withdrawn
 *     (gridems__service_input_clear): a deleted price is not known any more, not kept;
 *   IMPORT_CAPACITY_LIMIT -> one DR event per composed piece, id "oadr:<event>:<interval>"
 *     (":<n>" when priority split an interval), cancelled when the piece goes.
 * What was applied to the forecasts is kept in state_dir/openadr_applied.json (atomically, after
 * each change): the forecasts themselves survive a restart, and the first poll after it must know
 * which of their spans were OpenADR's, to withdraw those of events deleted meanwhile. The DR
 * events the service restored with an "oadr:" id are the VEN's caps again, for the same reason.
 *
 * Reports (docs/openadr.md, "Reports"): the import the control tick publishes in the state message
 * is sampled into a book of usage reports (openadr_report.h) for the events that ask for one;
 * a report is posted once its event's last interval has ended, one at a time. One the VTN
 * refuses (HTTP 4xx) is dropped with a warning; one that cannot be delivered (no answer, 5xx,
 * 408, 429) is tried again a minute of service time later. The book is kept in
 * state_dir/openadr_reports.json after every change, so a restart loses only the time it was down.
 * Thread: the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gridems/errors.h"
#include "openadr_applied.h"
#include "openadr_report.h"
#include "openadr_ven.h"
#include "optimizer_internal.h"
#include "service_internal.h"
#include "state_dir.h"
#include "timeutil.h"

typedef struct dr_piece_s {
    char id[GRIDEMS_DR_MAX_ID_LEN + 1];
    int64_t start_ms;
    int64_t end_ms;
    double value;
} dr_piece_t;

typedef struct service_openadr_s {
    gridems_service_t *svc;
    gridems_ven_t *ven;
    gridems_oadr_piece_t *last[GRIDEMS_OADR_SIGNALS]; /* applied, per forecast signal */
    size_t n_last[GRIDEMS_OADR_SIGNALS];
    dr_piece_t *caps; /* applied DR events */
    size_t n_caps;
    bool restored; /* last[] came from the file: apply the first composition whatever it is */
    bool dirty;    /* last[] changed: save it */
    int64_t last_poll_ms;               /* service clock: the last completed poll; 0 = none yet */
    gridems_oadr_book_t book;           /* usage reports in the making */
    char posting[GRIDEMS_OADR_ID_SIZE]; /* the event whose report is in flight; "" when none */
    int64_t retry_at_ms;                /* service clock: no report is posted before */
    uint64_t reports_sent, reports_refused, report_failures;
    bool reports_saved; /* the file in state_dir holds reports (an empty book is saved once) */
    char (*noted)[GRIDEMS_OADR_ID_SIZE]; /* held events whose report_note was logged */
    size_t n_noted;
    gridems_complaint_t report_problem;
    void (*done)(gridems_service_t *svc);
} service_openadr_t;

/* A report is sampled at each control tick (a minute of service time): a gap of five is the
 * service stopped, or no reading, and is not counted (openadr_report.h). */
#define REPORT_MAX_GAP_MS 300000
#define REPORT_RETRY_MS 60000

static const gridems__input_t input_of[] = {GRIDEMS__INPUT_PRICE, GRIDEMS__INPUT_PRICE_EXPORT,
                                            GRIDEMS__INPUT_CARBON, GRIDEMS__INPUT_EVENT};

static bool same_pieces(const gridems_oadr_piece_t *a, size_t na, const gridems_oadr_piece_t *b,
                        size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (a[i].start_ms != b[i].start_ms || a[i].end_ms != b[i].end_ms ||
            a[i].value != b[i].value) {
            return false;
        }
    }
    return true;
}

static void iso(int64_t ms, char *buf)
{
    if (gridems_time_format_iso(ms, 0, buf, GRIDEMS_TIME_ISO_BUFLEN) != 0) {
        snprintf(buf, GRIDEMS_TIME_ISO_BUFLEN, "?");
    }
}

/* What of [a, b) the pieces (sorted, disjoint) leave uncovered is withdrawn. */
static void withdraw_uncovered(service_openadr_t *oa, int s, int64_t a, int64_t b,
                               const gridems_oadr_piece_t *p, size_t n, const char *source)
{
    int64_t at = a;
    for (size_t i = 0; i < n && at < b; i++) {
        if (p[i].end_ms <= at) {
            continue;
        }
        if (p[i].start_ms >= b) {
            break;
        }
        if (p[i].start_ms > at) {
            gridems__service_input_clear(oa->svc, input_of[s], source, at, p[i].start_ms);
        }
        at = p[i].end_ms;
    }
    if (at < b) {
        gridems__service_input_clear(oa->svc, input_of[s], source, at, b);
    }
}

static void apply_forecast(service_openadr_t *oa, int s, gridems_oadr_piece_t *p, size_t n)
{
    if (!oa->restored && same_pieces(p, n, oa->last[s], oa->n_last[s])) {
        free(p);
        return;
    }
    char source[64];
    snprintf(source, sizeof source, "openadr %s", gridems_oadr_signal_name(s));
    /* Runs of adjacent pieces are withdrawn at once: each withdrawal saves the store. */
    const gridems_oadr_piece_t *last = oa->last[s];
    for (size_t i = 0; i < oa->n_last[s];) {
        size_t j = i + 1;
        while (j < oa->n_last[s] && last[j].start_ms == last[j - 1].end_ms) {
            j++;
        }
        withdraw_uncovered(oa, s, last[i].start_ms, last[j - 1].end_ms, p, n, source);
        i = j;
    }
    if (n > 0) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr != NULL && i < n; i++) {
            char a[GRIDEMS_TIME_ISO_BUFLEN];
            char b[GRIDEMS_TIME_ISO_BUFLEN];
            iso(p[i].start_ms, a);
            iso(p[i].end_ms, b);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "start", a);
            cJSON_AddStringToObject(o, "end", b);
            cJSON_AddNumberToObject(o, "value", p[i].value);
            cJSON_AddItemToArray(arr, o);
        }
        char *text = gridems__json_print(arr);
        cJSON_Delete(arr);
        if (text == NULL) {
            gridems_log_err("%s: out of memory", source);
        } else {
            gridems__service_input(oa->svc, input_of[s], source, text, strlen(text));
            free(text);
        }
    }
    free(oa->last[s]);
    oa->last[s] = p;
    oa->n_last[s] = n;
    oa->dirty = true;
}

/* ---- ## What was applied, across restarts ---- */

/* A file of state_dir its reader refused: kept aside (state_dir.h), and the log says why. */
static void refused_file(service_openadr_t *oa, const char *file, const char *path, int rc,
                         const char *why)
{
    char kept[4400];
    gridems_state_dir_keep_refused(oa->svc->cfg.state_dir, file, rc, kept, sizeof kept);
    gridems_log_warn("%s: ignored: %s%s", path, why, kept);
}

static void applied_path(const service_openadr_t *oa, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", oa->svc->cfg.state_dir, GRIDEMS_OADR_APPLIED_FILE);
}

static void save_applied(service_openadr_t *oa)
{
    char *text = gridems_oadr_applied_to_json(oa->last, oa->n_last);
    char path[4200];
    applied_path(oa, path, sizeof path);
    if (text == NULL || gridems_write_file_atomic(path, text, strlen(text)) != 0) {
        gridems_log_warn("%s: cannot save what OpenADR applied (a restart may keep the prices of "
                         "events deleted meanwhile)",
                         path);
    }
    free(text);
}

static void load_applied(service_openadr_t *oa)
{
    char path[4200];
    applied_path(oa, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    if (gridems_read_file(path, &text, &len) != 0) {
        return; /* none yet */
    }
    gridems_oadr_piece_t *p[GRIDEMS_OADR_IMPORT_CAP];
    size_t n[GRIDEMS_OADR_IMPORT_CAP];
    char why[300];
    int rc = gridems_oadr_applied_parse(text, len, p, n, why, sizeof why);
    free(text);
    if (rc != 0) {
        refused_file(oa, GRIDEMS_OADR_APPLIED_FILE, path, rc, why);
        return;
    }
    for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        oa->last[s] = p[s];
        oa->n_last[s] = n[s];
    }
    oa->restored = true;
    gridems_log_info("%s: restored (%zu, %zu and %zu intervals of PRICE, EXPORT_PRICE and GHG)",
                     path, n[0], n[1], n[2]);
}

static void send_event(service_openadr_t *oa, const dr_piece_t *d, bool cancel)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
    if (cancel) {
        cJSON_AddBoolToObject(o, "cancel", 1);
    } else {
        char a[GRIDEMS_TIME_ISO_BUFLEN];
        char b[GRIDEMS_TIME_ISO_BUFLEN];
        iso(d->start_ms, a);
        iso(d->end_ms, b);
        cJSON_AddStringToObject(o, "start", a);
        cJSON_AddStringToObject(o, "end", b);
        cJSON_AddNumberToObject(o, "import_limit_kw", d->value);
    }
    char *text = gridems__json_print(o);
    cJSON_Delete(o);
    if (text != NULL) {
        gridems__service_input(oa->svc, GRIDEMS__INPUT_EVENT, "openadr IMPORT_CAPACITY_LIMIT", text,
                               strlen(text));
        free(text);
    }
}

static const dr_piece_t *find_cap(const dr_piece_t *set, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set[i].id, id) == 0) {
            return &set[i];
        }
    }
    return NULL;
}

static void apply_caps(service_openadr_t *oa, const gridems_oadr_event_t *const *events,
                       gridems_oadr_piece_t *p, size_t n)
{
    dr_piece_t *caps = n > 0 ? calloc(n, sizeof *caps) : NULL;
    if (n > 0 && caps == NULL) {
        gridems_log_err("openadr: out of memory; capacity limits unchanged");
        free(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char part[16] = "";
        if (p[i].part > 0) {
            snprintf(part, sizeof part, ":%d", p[i].part);
        }
        snprintf(caps[i].id, sizeof caps[i].id, "oadr:%.100s:%ld%s", events[p[i].event]->id,
                 p[i].interval_id, part);
        caps[i].start_ms = p[i].start_ms;
        caps[i].end_ms = p[i].end_ms;
        caps[i].value = p[i].value;
    }
    free(p);
    for (size_t i = 0; i < oa->n_caps; i++) {
        if (find_cap(caps, n, oa->caps[i].id) == NULL) {
            send_event(oa, &oa->caps[i], true);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const dr_piece_t *was = find_cap(oa->caps, oa->n_caps, caps[i].id);
        if (was == NULL || was->start_ms != caps[i].start_ms || was->end_ms != caps[i].end_ms ||
            was->value != caps[i].value) {
            send_event(oa, &caps[i], false);
        }
    }
    free(oa->caps);
    oa->caps = caps;
    oa->n_caps = n;
}

/* Keep the pieces that end after now: what is over is pruned by the stores themselves, and
 * dropping it here must not withdraw or cancel anything (nor cause a re-plan). */
static size_t keep_current(gridems_oadr_piece_t *p, size_t n, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].end_ms > now) {
            p[k++] = p[i];
        }
    }
    return k;
}

static size_t keep_current_caps(dr_piece_t *c, size_t n, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].end_ms > now) {
            c[k++] = c[i];
        }
    }
    return k;
}

/* ---- ## Usage reports ---- */

/* The book in state_dir (openadr_report.h), after every change of what it holds (a sample
 * counted, a report taken in or dropped): a restart then loses only the time the service was
 * down. */
static void save_reports(service_openadr_t *oa)
{
    if (oa->book.n == 0 && !oa->reports_saved) {
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", oa->svc->cfg.state_dir, GRIDEMS_OADR_REPORTS_FILE);
    char *text = gridems_oadr_book_to_json(&oa->book);
    if (text == NULL || gridems_write_file_atomic(path, text, strlen(text)) != 0) {
        gridems_log_complain(&oa->report_problem, GRIDEMS_LOG_WARNING,
                             "%s: cannot save the usage reports in the making (a restart would "
                             "lose their measure)",
                             path);
    } else {
        oa->reports_saved = oa->book.n > 0;
    }
    free(text);
}

static void load_reports(service_openadr_t *oa)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", oa->svc->cfg.state_dir, GRIDEMS_OADR_REPORTS_FILE);
    char *text = NULL;
    size_t len = 0;
    if (gridems_read_file(path, &text, &len) != 0) {
        return; /* none yet */
    }
    char why[300];
    int rc = gridems_oadr_book_parse(text, len, &oa->book, why, sizeof why);
    free(text);
    if (rc != 0) {
        refused_file(oa, GRIDEMS_OADR_REPORTS_FILE, path, rc, why);
        return;
    }
    oa->reports_saved = oa->book.n > 0;
    gridems_log_info("%s: restored (%zu usage report(s) in the making)", path, oa->book.n);
}

static bool noted(const service_openadr_t *oa, const char *id)
{
    for (size_t i = 0; i < oa->n_noted; i++) {
        if (strcmp(oa->noted[i], id) == 0) {
            return true;
        }
    }
    return false;
}

/* The book follows the held events; a report request gridems does not honour is logged once per
 * event (while the VEN holds it). */
static void follow_reports(service_openadr_t *oa, const gridems_oadr_event_t *const *events,
                           size_t n, int64_t now)
{
    size_t refused = 0;
    bool changed = false;
    if (gridems_oadr_book_sync(&oa->book, events, n, now, &refused, &changed) != 0) {
        gridems_log_err("openadr: out of memory; some usage reports are not followed");
    }
    if (refused > 0) {
        gridems_log_warn("openadr: %zu event(s) ask for a usage report beyond the %d followed at "
                         "once; not reported",
                         refused, GRIDEMS_OADR_MAX_REPORTS);
    }
    char(*now_noted)[GRIDEMS_OADR_ID_SIZE] = n > 0 ? calloc(n, sizeof *now_noted) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (events[i]->report_note[0] == '\0') {
            continue;
        }
        if (!noted(oa, events[i]->id)) {
            gridems_log_notice("openadr: event %s: %s", events[i]->id, events[i]->report_note);
        }
        if (now_noted != NULL) {
            snprintf(now_noted[k++], GRIDEMS_OADR_ID_SIZE, "%s", events[i]->id);
        }
    }
    free(oa->noted);
    oa->noted = now_noted;
    oa->n_noted = k;
    if (changed) {
        save_reports(oa);
    }
}

static void post_due(service_openadr_t *oa, int64_t now);

static void on_report_sent(int status, const char *why, void *userdata)
{
    service_openadr_t *oa = userdata;
    long at = -1;
    for (size_t i = 0; i < oa->book.n; i++) {
        if (strcmp(oa->book.list[i].event_id, oa->posting) == 0) {
            at = (long)i;
        }
    }
    int64_t now = gridems_clock_now_ms(&oa->svc->clock);
    bool retry = status == 0 || status >= 500 || status == 408 || status == 429;
    if (status >= 200 && status <= 299) {
        oa->reports_sent++;
        double kwh = 0.0;
        for (size_t i = 0; at >= 0 && i < oa->book.list[at].n; i++) {
            kwh += oa->book.list[at].kwh[i];
        }
        gridems_log_notice("openadr: usage report for event %s sent (%zu intervals, %.1f kWh, "
                           "confidence %d)",
                           oa->posting, at >= 0 ? oa->book.list[at].n : 0, kwh,
                           at >= 0 ? gridems_oadr_book_confidence(&oa->book, (size_t)at) : 0);
    } else if (retry) {
        oa->report_failures++;
        oa->retry_at_ms = now + REPORT_RETRY_MS;
        gridems_log_complain(&oa->report_problem, GRIDEMS_LOG_WARNING,
                             "openadr: usage report for event %s not delivered (%s); trying again "
                             "in a minute",
                             oa->posting, why);
    } else {
        oa->reports_refused++;
        gridems_log_warn("openadr: the VTN refused the usage report for event %s (%s); dropped",
                         oa->posting, why);
    }
    if (at >= 0 && !retry) {
        gridems_oadr_book_remove(&oa->book, (size_t)at);
    }
    oa->posting[0] = '\0';
    if (!retry) {
        save_reports(oa);
        post_due(oa, now); /* the next one, if several came due together */
    }
}

static void post_due(service_openadr_t *oa, int64_t now)
{
    if (oa->posting[0] != '\0' || now < oa->retry_at_ms) {
        return;
    }
    long at = gridems_oadr_book_due(&oa->book, now);
    if (at < 0) {
        return;
    }
    const gridems_oadr_usage_t *u = &oa->book.list[at];
    const gridems_service_config_t *cfg = &oa->svc->cfg;
    const char *client =
        cfg->openadr.client_name != NULL ? cfg->openadr.client_name : cfg->mqtt.client_id;
    char *body = gridems_oadr_book_report_json(&oa->book, (size_t)at, client, "site");
    if (body == NULL) {
        gridems_log_err("openadr: out of memory composing the usage report for event %s",
                        u->event_id);
        return;
    }
    snprintf(oa->posting, sizeof oa->posting, "%s", u->event_id);
    int rc = gridems_ven_post_report(oa->ven, body, on_report_sent, oa);
    free(body);
    if (rc != 0) {
        oa->posting[0] = '\0';
        if (rc != GRIDEMS_ESTATE) {
            oa->report_failures++;
            oa->retry_at_ms = now + REPORT_RETRY_MS;
            gridems_log_complain(&oa->report_problem, GRIDEMS_LOG_WARNING,
                                 "openadr: usage report for event %s not sent (%s); trying again "
                                 "in a minute",
                                 u->event_id, gridems_strerror(rc));
        }
    }
}

void gridems__service_openadr_sample(gridems_service_t *svc, bool known, double import_kw)
{
    service_openadr_t *oa = svc->openadr;
    if (oa == NULL) {
        return;
    }
    int64_t now = gridems_clock_now_ms(&svc->clock);
    bool counted = known ? gridems_oadr_book_sample(&oa->book, now, import_kw)
                         : gridems_oadr_book_no_sample(&oa->book, now);
    if (counted) {
        save_reports(oa);
    }
    post_due(oa, now);
}

static void on_change(gridems_ven_t *v, const gridems_oadr_event_t *const *events, size_t n,
                      const char *how, void *userdata)
{
    service_openadr_t *oa = userdata;
    (void)v;
    int64_t now = gridems_clock_now_ms(&oa->svc->clock);
    for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        oa->n_last[s] = keep_current(oa->last[s], oa->n_last[s], now);
    }
    oa->n_caps = keep_current_caps(oa->caps, oa->n_caps, now);
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        gridems_oadr_piece_t *p = NULL;
        size_t np = 0;
        if (gridems_oadr_compose(events, n, (gridems_oadr_signal_t)s, &p, &np) != 0) {
            gridems_log_err("openadr: out of memory composing %s; unchanged",
                            gridems_oadr_signal_name(s));
            continue;
        }
        np = keep_current(p, np, now);
        if (s == GRIDEMS_OADR_IMPORT_CAP) {
            apply_caps(oa, events, p, np);
        } else {
            apply_forecast(oa, s, p, np);
        }
    }
    follow_reports(oa, events, n, now);
    if (strcmp(how, "poll") == 0) {
        oa->last_poll_ms = gridems_clock_now_ms(&oa->svc->clock);
    }
    oa->restored = false;
    if (oa->dirty) {
        oa->dirty = false;
        save_applied(oa);
    }
    gridems_log_debug("openadr: %zu events considered (%s)", n, how);
}

static void seed_caps(service_openadr_t *oa);

void gridems__service_openadr_start(gridems_service_t *svc)
{
    const gridems_service_config_t *cfg = &svc->cfg;
    if (!cfg->openadr.enabled) {
        return;
    }
    if (svc->lockstep != NULL) {
        gridems_log_warn("openadr: not used on a stepped clock (a backtest replays its inputs)");
        return;
    }
    service_openadr_t *oa = calloc(1, sizeof *oa);
    if (oa == NULL) {
        gridems_log_err("openadr: out of memory; the VEN is off");
        return;
    }
    oa->svc = svc;
    gridems_oadr_book_init(&oa->book, REPORT_MAX_GAP_MS);
    load_applied(oa);
    load_reports(oa);
    seed_caps(oa);
    char client_id[300];
    snprintf(client_id, sizeof client_id, "%.256s-ven", cfg->mqtt.client_id);
    int rc = gridems_ven_start(&svc->loop, &svc->clock, &cfg->openadr, cfg->site.currency,
                               client_id, on_change, oa, &oa->ven);
    if (rc != 0) {
        gridems_log_err("openadr: cannot start the VEN: %s", gridems_strerror(rc));
        for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
            free(oa->last[s]);
        }
        free(oa->caps);
        gridems_oadr_book_free(&oa->book);
        free(oa);
        return;
    }
    svc->openadr = oa;
    gridems_log_notice("openadr: VEN for %d program(s) of %s (%s%s)", cfg->openadr.n_programs,
                       cfg->openadr.vtn_url, cfg->openadr.poll_seconds > 0 ? "polling" : "",
                       cfg->openadr.mqtt ? (cfg->openadr.poll_seconds > 0 ? ", MQTT" : "MQTT")
                                         : "");
}

void gridems__service_openadr_status(gridems_service_t *svc, cJSON *root)
{
    service_openadr_t *oa = svc->openadr;
    if (oa == NULL) {
        return;
    }
    gridems_ven_stats_t st;
    gridems_ven_get_stats(oa->ven, &st);
    cJSON *o = cJSON_AddObjectToObject(root, "openadr");
    cJSON_AddNumberToObject(o, "events", (double)st.events);
    cJSON_AddNumberToObject(o, "polls", (double)st.polls);
    cJSON_AddNumberToObject(o, "poll_failures", (double)st.poll_failures);
    cJSON_AddNumberToObject(o, "notifications", (double)st.notifications);
    cJSON_AddNumberToObject(o, "rejected_events", (double)st.rejected);
    if (svc->cfg.openadr.mqtt) {
        cJSON_AddBoolToObject(o, "mqtt_connected", st.mqtt_connected);
    }
    if (oa->last_poll_ms != 0) {
        char at[GRIDEMS_TIME_ISO_BUFLEN];
        if (gridems_time_format_iso(oa->last_poll_ms, svc->cfg.site.utc_offset_min, at,
                                    sizeof at) == 0) {
            cJSON_AddStringToObject(o, "last_poll", at);
        }
    }
    if (st.problem[0] != '\0') {
        cJSON_AddStringToObject(o, "problem", st.problem);
    }
    cJSON_AddNumberToObject(o, "reports_pending", (double)oa->book.n);
    cJSON_AddNumberToObject(o, "reports_sent", (double)oa->reports_sent);
    cJSON_AddNumberToObject(o, "reports_refused", (double)oa->reports_refused);
    cJSON_AddNumberToObject(o, "report_failures", (double)oa->report_failures);
}

/* The service keeps its DR events across restarts (dr_store.h): those the VEN sent are its own
 * again, so that the first poll cancels the ones deleted on the VTN while the service was down. */
static void seed_caps(service_openadr_t *oa)
{
    const gridems_dr_events_t *set = &oa->svc->inputs.events;
    size_t mine = 0;
    for (size_t i = 0; i < set->n; i++) {
        mine += strncmp(set->ev[i].id, "oadr:", 5) == 0;
    }
    if (mine == 0 || (oa->caps = calloc(mine, sizeof *oa->caps)) == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        const gridems_dr_event_t *e = &set->ev[i];
        if (strncmp(e->id, "oadr:", 5) == 0) {
            dr_piece_t *d = &oa->caps[oa->n_caps++];
            snprintf(d->id, sizeof d->id, "%s", e->id);
            d->start_ms = e->start_ms;
            d->end_ms = e->end_ms;
            d->value = e->import_limit_kw;
        }
    }
}

void gridems__service_openadr_metrics(gridems_service_t *svc, FILE *f)
{
    service_openadr_t *oa = svc->openadr;
    if (oa == NULL) {
        return;
    }
    gridems_ven_stats_t st;
    gridems_ven_get_stats(oa->ven, &st);
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } fam[] = {
        {"gridems_openadr_events", "gauge", "OpenADR events the VEN holds (current ones)."},
        {"gridems_openadr_polls_total", "counter", "Completed polls of the VTN."},
        {"gridems_openadr_poll_failures_total", "counter", "Failed polls of the VTN."},
        {"gridems_openadr_notifications_total", "counter", "MQTT notifications applied."},
        {"gridems_openadr_rejected_events_total", "counter", "Event versions rejected."},
        {"gridems_openadr_reports_pending", "gauge",
         "Usage reports being measured or waiting to be sent."},
        {"gridems_openadr_reports_sent_total", "counter", "Usage reports the VTN accepted."},
        {"gridems_openadr_reports_refused_total", "counter",
         "Usage reports the VTN refused (dropped)."},
        {"gridems_openadr_report_failures_total", "counter",
         "Usage report posts that failed and are tried again."},
    };
    double v[] = {(double)st.events,          (double)st.polls,
                  (double)st.poll_failures,   (double)st.notifications,
                  (double)st.rejected,        (double)oa->book.n,
                  (double)oa->reports_sent,   (double)oa->reports_refused,
                  (double)oa->report_failures};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", fam[i].name, fam[i].help, fam[i].name,
                fam[i].type, fam[i].name, v[i]);
    }
    if (svc->cfg.openadr.mqtt) {
        fprintf(f,
                "# HELP gridems_openadr_mqtt_connected 1 while connected to the VTN's broker.\n"
                "# TYPE gridems_openadr_mqtt_connected gauge\ngridems_openadr_mqtt_connected %d\n",
                st.mqtt_connected ? 1 : 0);
    }
}

static void on_ven_closed(void *userdata)
{
    service_openadr_t *oa = userdata;
    gridems_service_t *svc = oa->svc;
    void (*done)(gridems_service_t *) = oa->done;
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        free(oa->last[s]);
    }
    free(oa->caps);
    gridems_oadr_book_free(&oa->book);
    free(oa->noted);
    free(oa);
    svc->openadr = NULL;
    done(svc);
}

bool gridems__service_openadr_stop(gridems_service_t *svc, void (*done)(gridems_service_t *svc))
{
    service_openadr_t *oa = svc->openadr;
    if (oa == NULL) {
        return false;
    }
    oa->done = done;
    gridems_ven_stop(oa->ven, on_ven_closed, oa);
    return true;
}
