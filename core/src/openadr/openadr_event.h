/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * OpenADR 3.1 objects as a VEN reads them (docs/openadr.md): events, MQTT notifications, the
 * program list and the notifier answers, and the composition of overlapping events into one
 * series per signal. Pure: no I/O, no clock, no globals.
 *
 * Event -> signals. Each interval of an event gives, for each payload type gridems uses, one span
 * [start, end) with the payload's first value converted to the service's units:
 *   PRICE, EXPORT_PRICE      currency per kWh ("units" KWH (default), MWH (/1000) or WH (*1000));
 *                            "currency" must be the site's when given;
 *   GHG                      kg per kWh (OpenADR gives g/kWh: /1000; "units" MWH: g/MWh);
 *   IMPORT_CAPACITY_LIMIT    kW ("units" KW (default), MW (*1000) or W (/1000)).
 * Other payload types are skipped. An interval's period is its own "intervalPeriod" (its duration
 * defaulting to the event's), else it starts where the previous interval, in id order, ended (the
 * first at the event's "intervalPeriod.start") and lasts the event's duration. A duration is an
 * ISO 8601 duration of weeks, days, hours, minutes and seconds; "P9999Y" (the specification's
 * "until further notice") is taken as 9999 years of 365 days.
 *
 * Reports. "reportDescriptors" are read as the VTN's requests for reports. gridems makes two kinds
 * (docs/openadr.md, "Reports"): payloadType USAGE in KWH and DEMAND in KW (units absent or so),
 * every interval, once after the last one has ended (startInterval, numIntervals and frequency
 * absent or -1, historical absent or true); such a descriptor sets its bit in reports and keeps
 * every interval's period. A well-formed descriptor of another kind is not an error (the event's
 * signals still count): report_note says why it is not honoured. A descriptor of the wrong JSON
 * types is.
 *
 * Forms. Keys are accepted in the specification's camelCase ("programID", "intervalPeriod",
 * "payloadDescriptors") and in snake_case ("program_id", "interval_period"), as some VTNs send
 * notification bodies; a JSON null counts as absent. Interval start times must carry a zone;
 * metadata times ("modificationDateTime", "createdDateTime") may lack one (a VTN writes
 * "2026-12-04 03:56:09") and are then read as UTC: they only order events of equal priority.
 *
 * Errors: 0 or a GRIDEMS_E* code; err receives one line naming the field and the rule, e.g.
 * "intervals[2].payloads[0].values[0]: must be a finite number" or
 * "payloadDescriptors[0].currency: \"USD\" is not the site's currency JPY". A rejected event is
 * rejected whole.
 *
 * Ownership: an event owns its span and period arrays (gridems_oadr_event_free() releases them and
 * zeroes the struct); composed pieces are an owned array the caller free()s. No function keeps a
 * pointer to its arguments. Thread: any.
 */
#ifndef GRIDEMS_OPENADR_EVENT_H
#define GRIDEMS_OPENADR_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define GRIDEMS_OADR_ID_SIZE 129        /* object ids: 1..128 bytes, no control characters */
#define GRIDEMS_OADR_MAX_INTERVALS 5000 /* per event */
#define GRIDEMS_OADR_MAX_BYTES (4u * 1024u * 1024u) /* one HTTP answer or notification */
#define GRIDEMS_OADR_MAX_REPORT_DESCRIPTORS 64      /* per event */

typedef enum {
    GRIDEMS_OADR_PRICE = 0,
    GRIDEMS_OADR_EXPORT_PRICE = 1,
    GRIDEMS_OADR_GHG = 2,
    GRIDEMS_OADR_IMPORT_CAP = 3,
    GRIDEMS_OADR_SIGNALS = 4
} gridems_oadr_signal_t;

/* One interval's value for one signal, in the service's units. */
typedef struct gridems_oadr_span_s {
    int64_t start_ms; /* inclusive */
    int64_t end_ms;   /* exclusive, > start_ms */
    double value;
    long interval_id;
} gridems_oadr_span_t;

/* The reports gridems makes, as bits of gridems_oadr_event_t.reports. */
enum { GRIDEMS_OADR_REPORT_USAGE = 1u, GRIDEMS_OADR_REPORT_DEMAND = 2u };

/* One interval of an event as the VTN scheduled it. */
typedef struct gridems_oadr_period_s {
    long interval_id;
    int64_t start_ms; /* inclusive */
    int64_t end_ms;   /* exclusive, > start_ms */
} gridems_oadr_period_t;

typedef struct gridems_oadr_event_s {
    char id[GRIDEMS_OADR_ID_SIZE];
    char program_id[GRIDEMS_OADR_ID_SIZE];
    bool has_priority;
    long priority;       /* lower is more important (0 the highest); none = the least */
    int64_t modified_ms; /* modificationDateTime, else createdDateTime; 0 when neither */
    gridems_oadr_span_t *spans[GRIDEMS_OADR_SIGNALS]; /* [n[s]] each, owned, in interval order */
    size_t n[GRIDEMS_OADR_SIGNALS];
    /* The reports asked for (GRIDEMS_OADR_REPORT_* bits, see "Reports" above); when any,
     * periods holds every interval, in id order (owned; NULL and 0 otherwise). */
    unsigned reports;
    gridems_oadr_period_t *periods;
    size_t n_periods;
    char report_note[256]; /* why a reportDescriptor is not honoured; "" when none is refused */
} gridems_oadr_event_t;

/* A piece of the composed series: the winning event's value over [start, end). */
typedef struct gridems_oadr_piece_s {
    int64_t start_ms;
    int64_t end_ms;
    double value;
    size_t event;     /* index into the events given to gridems_oadr_compose() */
    long interval_id; /* of that event */
    int part;         /* 0 for the first piece of an interval, 1.. when priority split it */
} gridems_oadr_piece_t;

typedef enum {
    GRIDEMS_OADR_OP_UPSERT = 0, /* CREATE / UPDATE (3.1), POST / PUT (3.0) */
    GRIDEMS_OADR_OP_DELETE = 1
} gridems_oadr_op_t;

/* The payload type's OpenADR name ("PRICE", ...). Static string. */
const char *gridems_oadr_signal_name(gridems_oadr_signal_t s);

/*
 * gridems_oadr_event_parse: validate an event object and convert its intervals.
 * Parameters: obj (borrowed); site_currency (borrowed, may be NULL: any currency); out
 *   (borrowed, overwritten; filled on success, zeroed on failure); err/errlen (may be NULL).
 * Returns: 0, GRIDEMS_EINVAL (breaks a rule), GRIDEMS_ETOOBIG (too many intervals),
 *   GRIDEMS_ENOMEM.
 */
int gridems_oadr_event_parse(const cJSON *obj, const char *site_currency, gridems_oadr_event_t *out,
                             char *err, size_t errlen);

/* Release what ev owns and zero it. Safe on a zeroed event. */
void gridems_oadr_event_free(gridems_oadr_event_t *ev);

/* Copy src into dst (dst is overwritten, not freed). Returns 0 or GRIDEMS_ENOMEM (dst zeroed). */
int gridems_oadr_event_copy(gridems_oadr_event_t *dst, const gridems_oadr_event_t *src);

/* Move src into dst (dst's old content is freed first); src is left zeroed. */
void gridems_oadr_event_move(gridems_oadr_event_t *dst, gridems_oadr_event_t *src);

/*
 * gridems_oadr_notification_parse: an MQTT notification {"objectType"|"object_type",
 * "operation", "object"}. For an EVENT, *is_event is set, *op says what to do and ev is filled
 * (for DELETE only ev->id and ev->program_id are needed and the rest of the object is not
 * checked); for another object type *is_event is false and 0 is returned.
 * Parameters: text (borrowed, len bytes); site_currency as above; op, is_event, ev (borrowed,
 *   written); err/errlen. Returns: 0, GRIDEMS_EPARSE (not JSON), GRIDEMS_EINVAL, GRIDEMS_ETOOBIG,
 *   GRIDEMS_ENOMEM.
 */
int gridems_oadr_notification_parse(const char *text, size_t len, const char *site_currency,
                                    gridems_oadr_op_t *op, bool *is_event, gridems_oadr_event_t *ev,
                                    char *err, size_t errlen);

/*
 * gridems_oadr_program_id: in a GET /programs answer (an array of programs), the id of the
 * program named name ("programName" or "program_name").
 * Returns: 0 with id written, GRIDEMS_ENOENT (no such program), GRIDEMS_EPARSE, GRIDEMS_EINVAL.
 */
int gridems_oadr_program_id(const char *text, size_t len, const char *name, char *id, size_t idlen,
                            char *err, size_t errlen);

/*
 * gridems_oadr_notifier_uri: in a GET /notifiers answer, the first MQTT broker URI
 * ("MQTT": {"URIS"|"uris": [...]}). Returns: 0, GRIDEMS_ENOENT (no MQTT binding),
 * GRIDEMS_EPARSE, GRIDEMS_EINVAL.
 */
int gridems_oadr_notifier_uri(const char *text, size_t len, char *uri, size_t urilen, char *err,
                              size_t errlen);

/*
 * gridems_oadr_topics: in a GET /notifiers/mqtt/topics/... answer ({"topics": {"CREATE": ...}}),
 * the CREATE, UPDATE and DELETE topics (not "ALL": some VTNs never publish to it).
 * Parameters: out (borrowed, [3][size], written in that order). Returns: 0, GRIDEMS_EPARSE,
 * GRIDEMS_EINVAL (a topic missing or not a string).
 */
int gridems_oadr_topics(const char *text, size_t len, char out[3][256], char *err, size_t errlen);

/*
 * gridems_oadr_compose: resolve overlapping events for one signal. At each instant the event with
 * the lowest priority number wins (an event without one loses to any with one); among equals the
 * one modified last, then the greater id (string order). The result is sorted, non-overlapping.
 * Parameters: events (borrowed, [n]); signal; out (borrowed, written: an owned array or NULL when
 *   empty); nout (written). Returns: 0 or GRIDEMS_ENOMEM.
 */
int gridems_oadr_compose(const gridems_oadr_event_t *const *events, size_t n,
                         gridems_oadr_signal_t signal, gridems_oadr_piece_t **out, size_t *nout);

/* Parse an ISO 8601 duration as above into ms (> 0). Returns 0 or GRIDEMS_EINVAL. */
int gridems_oadr_parse_duration(const char *text, int64_t *out_ms);

#endif
