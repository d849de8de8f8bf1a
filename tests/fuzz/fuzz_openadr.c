/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: what an OpenADR VTN sends the VEN (core/src/openadr/openadr_event.c). The first byte
 * picks the answer: an MQTT notification, a GET /events array (each event parsed, then every
 * signal composed by priority, as the VEN does, and the usage reports they ask for measured and
 * written as the service does), a /programs answer, a /notifiers answer, a
 * notifier topics answer, the file of what the VEN applied (openadr_applied.c), or the file of
 * the usage reports in the making (openadr_report.c), both read back from state_dir at start-up.
 */
#include "fuzz.h"
#include "json_strict.h"
#include "log.h"
#include "openadr_applied.h"
#include "openadr_event.h"
#include "openadr_report.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gridems_log_set_level(GRIDEMS_LOG_ERR);
    return 0;
}

enum { MAX_EVENTS = 64 };

/* The usage reports the events ask for: followed, sampled across their whole span, then each
 * one due written and removed. */
static void reports(const gridems_oadr_event_t *const *ok, size_t n)
{
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ok[i]->n_periods; k++) {
            first = ok[i]->periods[k].start_ms < first ? ok[i]->periods[k].start_ms : first;
            last = ok[i]->periods[k].end_ms > last ? ok[i]->periods[k].end_ms : last;
        }
    }
    if (first > last) {
        return;
    }
    gridems_oadr_book_t book;
    gridems_oadr_book_init(&book, 300000);
    (void)gridems_oadr_book_sync(&book, ok, n, first, NULL, NULL);
    int64_t step = (last - first) / 16 + 1;
    for (int64_t t = first; t <= last; t += step) {
        gridems_oadr_book_sample(&book, t, 1000.0);
    }
    gridems_oadr_book_sample(&book, last, -5.0);
    (void)gridems_oadr_book_sync(&book, NULL, 0, last, NULL, NULL);
    long due;
    while ((due = gridems_oadr_book_due(&book, last)) >= 0) {
        free(gridems_oadr_book_report_json(&book, (size_t)due, "fuzz", "site"));
        gridems_oadr_book_remove(&book, (size_t)due);
    }
    gridems_oadr_book_free(&book);
}

static void events(const char *text, size_t len)
{
    cJSON *root = NULL;
    if (gridems_json_parse_strict(text, len, &root, NULL, 0) != 0) {
        return;
    }
    static gridems_oadr_event_t ev[MAX_EVENTS];
    const gridems_oadr_event_t *ok[MAX_EVENTS];
    size_t n = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, root)
    {
        if (n < MAX_EVENTS && gridems_oadr_event_parse(item, "JPY", &ev[n], NULL, 0) == 0) {
            ok[n] = &ev[n];
            n++;
        }
    }
    for (int s = 0; s < GRIDEMS_OADR_SIGNALS; s++) {
        gridems_oadr_piece_t *pieces = NULL;
        size_t np = 0;
        if (gridems_oadr_compose(ok, n, (gridems_oadr_signal_t)s, &pieces, &np) == 0) {
            free(pieces);
        }
    }
    reports(ok, n);
    for (size_t i = 0; i < n; i++) {
        gridems_oadr_event_free(&ev[i]);
    }
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[256], out[512], topics[3][256];
    switch (data[0] % 7) {
    case 0: {
        gridems_oadr_op_t op;
        bool is_event = false;
        gridems_oadr_event_t ev;
        memset(&ev, 0, sizeof ev);
        if (gridems_oadr_notification_parse(text, len, "JPY", &op, &is_event, &ev, err,
                                            sizeof err) == 0) {
            gridems_oadr_event_free(&ev);
        }
        break;
    }
    case 1:
        events(text, len);
        break;
    case 2:
        (void)gridems_oadr_program_id(text, len, "gridems", out, sizeof out, err, sizeof err);
        break;
    case 3:
        (void)gridems_oadr_notifier_uri(text, len, out, sizeof out, err, sizeof err);
        break;
    case 4:
        (void)gridems_oadr_topics(text, len, topics, err, sizeof err);
        break;
    case 6: {
        gridems_oadr_book_t book;
        gridems_oadr_book_init(&book, 300000);
        if (gridems_oadr_book_parse(text, len, &book, err, sizeof err) == 0) {
            free(gridems_oadr_book_to_json(&book));
            gridems_oadr_book_free(&book);
        }
        break;
    }
    default: {
        gridems_oadr_piece_t *pieces[GRIDEMS_OADR_IMPORT_CAP];
        size_t n[GRIDEMS_OADR_IMPORT_CAP];
        if (gridems_oadr_applied_parse(text, len, pieces, n, err, sizeof err) == 0) {
            for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
                free(pieces[s]);
            }
        }
        break;
    }
    }
    return 0;
}
