/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the OpenADR VEN's pure parts: core/src/openadr/openadr_event.c (events in
 * camelCase and snake_case, interval periods and their defaults, units and currency, every
 * rejection naming its field, notifications, programs, notifiers and topics, durations, and the
 * composition of overlapping events by priority), the file of what the VEN applied
 * (core/src/openadr/openadr_applied.c) and the "openadr" config section
 * (core/src/config/openadr_config.c, through the service's config parser).
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "openadr_applied.h"
#include "openadr_event.h"
#include "service_config.h"
#include "timeutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1796083200000) /* 2026-12-01T00:00:00Z */
#define MIN(m) (INT64_C(60000) * (m))

static int parse_event(const char *json, gridems_oadr_event_t *ev, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    ck_assert_msg(root != NULL, "test JSON broken: %s", json);
    int rc = gridems_oadr_event_parse(root, "JPY", ev, err, errlen);
    cJSON_Delete(root);
    return rc;
}

static void event_ok(const char *json, gridems_oadr_event_t *ev)
{
    char err[512] = "";
    int rc = parse_event(json, ev, err, sizeof err);
    ck_assert_msg(rc == 0, "event refused: %s", err);
}

#define PRICE_DESC                                                                                 \
    "\"payloadDescriptors\":[{\"objectType\":\"EVENT_PAYLOAD_DESCRIPTOR\",\"payloadType\":"        \
    "\"PRICE\",\"units\":\"KWH\",\"currency\":\"JPY\"}]"

START_TEST(intervals_follow_in_id_order)
{
    /* Intervals listed out of order; the second in id order has its own period, the third
     * follows it; a payload type gridems does not use is skipped. */
    gridems_oadr_event_t ev;
    event_ok("{\"id\":\"7\",\"programID\":\"0\",\"priority\":2," PRICE_DESC ","
             "\"modificationDateTime\":\"2026-12-04 03:56:09\","
             "\"intervalPeriod\":{\"start\":\"2026-12-01T09:00:00+09:00\",\"duration\":\"PT30M\"},"
             "\"intervals\":["
             "{\"id\":2,\"payloads\":[{\"type\":\"PRICE\",\"values\":[30]}]},"
             "{\"id\":0,\"payloads\":[{\"type\":\"PRICE\",\"values\":[10]},"
             "{\"type\":\"SIMPLE\",\"values\":[1]}]},"
             "{\"id\":1,\"intervalPeriod\":{\"start\":\"2026-12-01T02:00:00Z\"},"
             "\"payloads\":[{\"type\":\"PRICE\",\"values\":[20.5]}]}]}",
             &ev);
    ck_assert_str_eq(ev.id, "7");
    ck_assert_str_eq(ev.program_id, "0");
    ck_assert(ev.has_priority);
    ck_assert_int_eq(ev.priority, 2);
    /* A metadata time without a zone is read as UTC. */
    int64_t mod = 0;
    ck_assert_int_eq(gridems_time_parse_iso("2026-12-04T03:56:09Z", &mod, NULL, NULL, 0), 0);
    ck_assert_int_eq(ev.modified_ms, mod);
    ck_assert_uint_eq(ev.n[GRIDEMS_OADR_PRICE], 3);
    const gridems_oadr_span_t *s = ev.spans[GRIDEMS_OADR_PRICE];
    ck_assert_int_eq(s[0].start_ms, T0);
    ck_assert_int_eq(s[0].end_ms, T0 + MIN(30));
    ck_assert_double_eq(s[0].value, 10);
    ck_assert_int_eq(s[1].start_ms, T0 + MIN(120));
    ck_assert_int_eq(s[1].end_ms, T0 + MIN(150));
    ck_assert_double_eq(s[1].value, 20.5);
    ck_assert_int_eq(s[2].start_ms, T0 + MIN(150));
    ck_assert_int_eq(s[2].interval_id, 2);
    ck_assert_uint_eq(ev.n[GRIDEMS_OADR_IMPORT_CAP], 0);
    /* A copy owns its own spans. */
    gridems_oadr_event_t copy;
    ck_assert_int_eq(gridems_oadr_event_copy(&copy, &ev), 0);
    ck_assert_ptr_ne(copy.spans[GRIDEMS_OADR_PRICE], ev.spans[GRIDEMS_OADR_PRICE]);
    gridems_oadr_event_free(&ev);
    ck_assert_ptr_null(ev.spans[0]);
    ck_assert_double_eq(copy.spans[GRIDEMS_OADR_PRICE][2].value, 30);
    ck_assert_str_eq(copy.id, "7");
    gridems_oadr_event_free(&copy);
}
END_TEST

START_TEST(snake_case_and_units)
{
    /* The reference VTN's notification form: snake_case keys, nulls for absent members. */
    gridems_oadr_event_t ev;
    event_ok("{\"id\":\"3\",\"program_id\":\"0\",\"priority\":null,"
             "\"payload_descriptors\":["
             "{\"object_type\":\"EVENT_PAYLOAD_DESCRIPTOR\",\"payload_type\":\"PRICE\","
             "\"units\":\"MWH\",\"currency\":\"jpy\"},"
             "{\"payload_type\":\"IMPORT_CAPACITY_LIMIT\",\"units\":\"MW\"},"
             "{\"payload_type\":\"GHG\"}],"
             "\"interval_period\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"PT1H\","
             "\"randomize_start\":null},"
             "\"intervals\":[{\"id\":0,\"interval_period\":null,\"payloads\":["
             "{\"type\":\"PRICE\",\"values\":[12000]},"
             "{\"type\":\"IMPORT_CAPACITY_LIMIT\",\"values\":[7.5]},"
             "{\"type\":\"GHG\",\"values\":[450]},"
             "{\"type\":\"EXPORT_PRICE\",\"values\":[-3]}]}]}",
             &ev);
    ck_assert(!ev.has_priority);
    ck_assert_double_eq_tol(ev.spans[GRIDEMS_OADR_PRICE][0].value, 12.0, 1e-12);
    ck_assert_double_eq_tol(ev.spans[GRIDEMS_OADR_IMPORT_CAP][0].value, 7500.0, 1e-9);
    ck_assert_double_eq_tol(ev.spans[GRIDEMS_OADR_GHG][0].value, 0.45, 1e-12); /* kg/kWh */
    ck_assert_double_eq(ev.spans[GRIDEMS_OADR_EXPORT_PRICE][0].value, -3);
    ck_assert_int_eq(ev.spans[GRIDEMS_OADR_IMPORT_CAP][0].end_ms, T0 + MIN(60));
    gridems_oadr_event_free(&ev);
}
END_TEST

typedef struct bad_s {
    const char *json;
    const char *want;
} bad_t;

#define EV(rest) "{\"id\":\"1\",\"programID\":\"0\"," rest "}"
#define PERIOD "\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"PT1H\"}"
#define IV(payload) "\"intervals\":[{\"id\":0,\"payloads\":[" payload "]}]"
#define PRICE(v) "{\"type\":\"PRICE\",\"values\":[" v "]}"

static const bad_t bad[] = {
    {"{\"programID\":\"0\"}", "id: must be a string"},
    {"{\"id\":\"\",\"programID\":\"0\"}", "id: must be 1 to 128 bytes"},
    {"{\"id\":\"1\"}", "programID: must be a string"},
    {EV("\"priority\":-1," PERIOD "," IV(PRICE("1"))), "priority: must be an integer >= 0"},
    {EV("\"payloadDescriptors\":[{\"payloadType\":\"PRICE\",\"currency\":\"USD\"}]," PERIOD
        "," IV(PRICE("1"))),
     "payloadDescriptors[0].currency: \"USD\" is not the site's currency JPY"},
    {EV("\"payloadDescriptors\":[{\"payloadType\":\"GHG\"},{\"payloadType\":"
        "\"IMPORT_CAPACITY_LIMIT\",\"units\":\"KWH\"}]," PERIOD "," IV(PRICE("1"))),
     "payloadDescriptors[1].units: \"KWH\" is not a unit gridems knows for "
     "IMPORT_CAPACITY_LIMIT"},
    {EV("\"payloadDescriptors\":{}," PERIOD "," IV(PRICE("1"))),
     "payloadDescriptors: must be an array"},
    {EV("\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00\",\"duration\":\"PT1H\"}," IV(
         PRICE("1"))),
     "intervalPeriod.start: must be an ISO 8601 time with a zone"},
    {EV("\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"P1M\"}," IV(
         PRICE("1"))),
     "intervalPeriod.duration: must be a positive ISO 8601 duration"},
    {EV("\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"PT0S\"}," IV(
         PRICE("1"))),
     "intervalPeriod.duration: must be a positive"},
    {EV(IV(PRICE("1"))), "intervals[0].intervalPeriod.start: needed (the event has no "
                         "intervalPeriod.start)"},
    {EV("\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\"}," IV(PRICE("1"))),
     "intervals[0].intervalPeriod.duration: needed"},
    {EV(PERIOD), "intervals: must be an array"},
    {EV(PERIOD ",\"intervals\":[{\"payloads\":[]}]"), "intervals[0].id: must be an integer"},
    {EV(PERIOD ",\"intervals\":[{\"id\":1,\"payloads\":[]},{\"id\":1,\"payloads\":[]}]"),
     "intervals[1].id: 1 appears twice"},
    {EV(PERIOD ",\"intervals\":[{\"id\":0}]"), "intervals[0].payloads: must be an array"},
    {EV(PERIOD "," IV(PRICE("\"9\""))), "intervals[0].payloads[0].values[0]: must be a finite "
                                        "number"},
    {EV(PERIOD "," IV("{\"type\":\"PRICE\",\"values\":[]}")),
     "intervals[0].payloads[0].values[0]: must be a finite number"},
    {EV(PERIOD "," IV("{\"values\":[1]}")), "intervals[0].payloads[0].type: must be a string"},
    {EV(PERIOD "," IV(PRICE("1e7"))), "intervals[0].payloads[0].values[0]: 1e+07 is outside the "
                                      "bounds for PRICE"},
    {EV(PERIOD "," IV("{\"type\":\"GHG\",\"values\":[-5]}")),
     "intervals[0].payloads[0].values[0]: -5 is outside the bounds for GHG"},
    {EV(PERIOD "," IV("{\"type\":\"IMPORT_CAPACITY_LIMIT\",\"values\":[-1]}")),
     "is outside the bounds for IMPORT_CAPACITY_LIMIT"},
    /* Two values of one signal for one interval (found by fuzzing: it overran the spans). */
    {EV(PERIOD "," IV(PRICE("1") "," PRICE("2"))),
     "intervals[0].payloads[1].type: PRICE appears twice in the interval"},
    {"[]", "event: must be an object"},
    {EV("\"reportDescriptors\":{}," PERIOD "," IV(PRICE("1"))),
     "reportDescriptors: must be an array"},
    {EV("\"reportDescriptors\":[3]," PERIOD "," IV(PRICE("1"))),
     "reportDescriptors[0]: must be an object"},
    {EV("\"reportDescriptors\":[{\"units\":\"KWH\"}]," PERIOD "," IV(PRICE("1"))),
     "reportDescriptors[0].payloadType: required"},
    {EV("\"reportDescriptors\":[{\"payloadType\":\"\"}]," PERIOD "," IV(PRICE("1"))),
     "reportDescriptors[0].payloadType: must be a string of 1 to 128 bytes"},
    {EV("\"reportDescriptors\":[{\"payloadType\":\"USAGE\",\"startInterval\":0.5}]," PERIOD
        "," IV(PRICE("1"))),
     "reportDescriptors[0].startInterval: must be an integer"},
    {EV("\"reportDescriptors\":[{\"payloadType\":\"USAGE\",\"historical\":1}]," PERIOD
        "," IV(PRICE("1"))),
     "reportDescriptors[0].historical: must be true or false"},
};

START_TEST(each_rejection_names_its_field)
{
    const bad_t *c = &bad[_i];
    gridems_oadr_event_t ev;
    char err[512] = "";
    int rc = parse_event(c->json, &ev, err, sizeof err);
    ck_assert_msg(rc != 0, "case %d accepted: %s", _i, c->json);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    ck_assert_ptr_null(ev.spans[0]); /* nothing left to free */
}
END_TEST

/* What a VTN asks in reportDescriptors: the USAGE and DEMAND reports gridems makes are taken
 * with every interval's period; one it does not make is noted, not refused (the event's prices
 * still count). */
START_TEST(report_descriptors)
{
    gridems_oadr_event_t ev;
    event_ok("{\"id\":\"r1\",\"programID\":\"0\",\"reportDescriptors\":["
             "{\"payloadType\":\"BASELINE\"},{\"payloadType\":\"DEMAND\",\"units\":\"KW\"},"
             "{\"payloadType\":\"USAGE\",\"readingType\":\"DIRECT_READ\",\"units\":\"KWH\","
             "\"startInterval\":-1,\"numIntervals\":-1,\"historical\":true,\"frequency\":-1,"
             "\"aggregate\":false}],"
             "\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"PT15M\"},"
             "\"intervals\":[{\"id\":1,\"payloads\":[{\"type\":\"SIMPLE\",\"values\":[1]}]},"
             "{\"id\":0,\"payloads\":[{\"type\":\"SIMPLE\",\"values\":[1]}]},"
             "{\"id\":5,\"intervalPeriod\":{\"start\":\"2026-12-01T02:00:00Z\","
             "\"duration\":\"PT1H\"},\"payloads\":[]}]}",
             &ev);
    ck_assert_uint_eq(ev.reports, GRIDEMS_OADR_REPORT_USAGE | GRIDEMS_OADR_REPORT_DEMAND);
    ck_assert_uint_eq(ev.n_periods, 3);
    ck_assert_int_eq(ev.periods[0].interval_id, 0);
    ck_assert_int_eq(ev.periods[0].start_ms, T0);
    ck_assert_int_eq(ev.periods[0].end_ms, T0 + MIN(15));
    ck_assert_int_eq(ev.periods[1].interval_id, 1);
    ck_assert_int_eq(ev.periods[1].start_ms, T0 + MIN(15));
    ck_assert_int_eq(ev.periods[2].start_ms, T0 + MIN(120));
    ck_assert_int_eq(ev.periods[2].end_ms, T0 + MIN(180));
    ck_assert_str_eq(ev.report_note,
                     "reportDescriptors[0] (BASELINE) not reported: payloadType: only USAGE and "
                     "DEMAND are reported");
    ck_assert_uint_eq(ev.n[GRIDEMS_OADR_PRICE], 0);
    /* A copy owns its own periods. */
    gridems_oadr_event_t copy;
    ck_assert_int_eq(gridems_oadr_event_copy(&copy, &ev), 0);
    ck_assert_ptr_ne(copy.periods, ev.periods);
    ck_assert_int_eq(copy.periods[2].end_ms, T0 + MIN(180));
    gridems_oadr_event_free(&ev);
    gridems_oadr_event_free(&copy);

    /* USAGE or DEMAND asked otherwise than gridems reports them: noted, no report, the prices
     * count. */
    static const struct {
        const char *desc;
        const char *note;
    } other[] = {
        {"{\"payloadType\":\"USAGE\",\"units\":\"WH\"}", "units: USAGE is reported in KWH only"},
        {"{\"payloadType\":\"DEMAND\",\"units\":\"MW\"}", "units: DEMAND is reported in KW only"},
        {"{\"payloadType\":\"DEMAND\",\"historical\":false}", "only a report of every interval"},
        {"{\"payloadType\":\"USAGE\",\"startInterval\":0}", "only a report of every interval"},
        {"{\"payloadType\":\"USAGE\",\"numIntervals\":1}", "only a report of every interval"},
        {"{\"payloadType\":\"USAGE\",\"frequency\":1}", "only a report of every interval"},
        {"{\"payloadType\":\"USAGE\",\"historical\":false}", "only a report of every interval"},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"id\":\"r2\",\"programID\":\"0\"," PRICE_DESC ",\"reportDescriptors\":[%s],"
                 "\"intervalPeriod\":{\"start\":\"2026-12-01T00:00:00Z\",\"duration\":\"PT1H\"},"
                 "\"intervals\":[{\"id\":0,\"payloads\":[{\"type\":\"PRICE\",\"values\":[9]}]}]}",
                 other[i].desc);
        event_ok(json, &ev);
        ck_assert_msg(ev.reports == 0, "case %zu reports", i);
        ck_assert_ptr_null(ev.periods);
        ck_assert_msg(strstr(ev.report_note, other[i].note) != NULL, "case %zu: \"%s\"", i,
                      ev.report_note);
        ck_assert_uint_eq(ev.n[GRIDEMS_OADR_PRICE], 1);
        gridems_oadr_event_free(&ev);
    }
}
END_TEST

START_TEST(durations)
{
    int64_t ms = 0;
    ck_assert_int_eq(gridems_oadr_parse_duration("PT15M", &ms), 0);
    ck_assert_int_eq(ms, MIN(15));
    ck_assert_int_eq(gridems_oadr_parse_duration("P1DT1H30M", &ms), 0);
    ck_assert_int_eq(ms, MIN(1440 + 90));
    ck_assert_int_eq(gridems_oadr_parse_duration("P2W", &ms), 0);
    ck_assert_int_eq(ms, MIN(2 * 7 * 1440));
    ck_assert_int_eq(gridems_oadr_parse_duration("PT0.5S", &ms), 0);
    ck_assert_int_eq(ms, 500);
    ck_assert_int_eq(gridems_oadr_parse_duration("P9999Y", &ms), 0);
    ck_assert_int_gt(ms, INT64_C(9000) * 365 * 86400000);
    const char *bad_ones[] = {"",    "P",   "PT",    "1H",    "PT1D", "P1H",
                              "P1Y", "P1M", "PT-1H", "PT1H2", "PT0S", "P1DT"};
    for (size_t i = 0; i < sizeof bad_ones / sizeof bad_ones[0]; i++) {
        ck_assert_msg(gridems_oadr_parse_duration(bad_ones[i], &ms) == GRIDEMS_EINVAL,
                      "\"%s\" accepted", bad_ones[i]);
    }
}
END_TEST

START_TEST(notifications)
{
    gridems_oadr_event_t ev;
    gridems_oadr_op_t op;
    bool is_event = false;
    char err[512] = "";
    /* The specification's camelCase body, 3.1 operation names. */
    const char camel[] = "{\"objectType\":\"EVENT\",\"operation\":\"UPDATE\",\"object\":"
                         "{\"id\":\"4\",\"programID\":\"0\"," PERIOD "," IV(PRICE("5")) "}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(camel, strlen(camel), "JPY", &op, &is_event,
                                                     &ev, err, sizeof err),
                     0);
    ck_assert(is_event);
    ck_assert_int_eq(op, GRIDEMS_OADR_OP_UPSERT);
    ck_assert_str_eq(ev.id, "4");
    ck_assert_uint_eq(ev.n[GRIDEMS_OADR_PRICE], 1);
    gridems_oadr_event_free(&ev);
    /* A snake_case DELETE needs only the ids. */
    const char del[] = "{\"object_type\":\"EVENT\",\"operation\":\"DELETE\",\"object\":"
                       "{\"id\":\"4\",\"program_id\":\"0\",\"intervals\":\"whatever\"}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(del, strlen(del), "JPY", &op, &is_event, &ev,
                                                     err, sizeof err),
                     0);
    ck_assert_int_eq(op, GRIDEMS_OADR_OP_DELETE);
    ck_assert_str_eq(ev.program_id, "0");
    gridems_oadr_event_free(&ev);
    /* Programs are not events. */
    const char prog[] = "{\"object_type\":\"PROGRAM\",\"operation\":\"CREATE\",\"object\":{}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(prog, strlen(prog), "JPY", &op, &is_event, &ev,
                                                     err, sizeof err),
                     0);
    ck_assert(!is_event);
    /* A bad event: the error names the field under "object", and the id is kept. */
    const char badev[] = "{\"objectType\":\"EVENT\",\"operation\":\"CREATE\",\"object\":"
                         "{\"id\":\"9\",\"programID\":\"0\"," PERIOD "," IV(PRICE("null")) "}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(badev, strlen(badev), "JPY", &op, &is_event,
                                                     &ev, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "object.intervals[0].payloads[0].values[0]: must be a finite") !=
                      NULL,
                  "%s", err);
    ck_assert_str_eq(ev.id, "9");
    gridems_oadr_event_free(&ev);
    const char badop[] = "{\"objectType\":\"EVENT\",\"operation\":\"MERGE\",\"object\":{}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(badop, strlen(badop), "JPY", &op, &is_event,
                                                     &ev, err, sizeof err),
                     GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "operation: must be CREATE, UPDATE or DELETE") != NULL, "%s", err);
    ck_assert_int_eq(
        gridems_oadr_notification_parse("{", 1, "JPY", &op, &is_event, &ev, err, sizeof err),
        GRIDEMS_EPARSE);
    /* The one JSON policy of every input (json_strict.h): a good notification with something
     * after it, or with a key twice (which "operation" would win?), is refused whole. */
    char trailing[sizeof camel + 2];
    snprintf(trailing, sizeof trailing, "%s x", camel);
    ck_assert_int_eq(gridems_oadr_notification_parse(trailing, strlen(trailing), "JPY", &op,
                                                     &is_event, &ev, err, sizeof err),
                     GRIDEMS_EPARSE);
    ck_assert_msg(strstr(err, "message: trailing data at byte") != NULL, "%s", err);
    const char twice[] = "{\"objectType\":\"EVENT\",\"operation\":\"DELETE\",\"operation\":"
                         "\"CREATE\",\"object\":{\"id\":\"4\",\"programID\":\"0\"}}";
    ck_assert_int_eq(gridems_oadr_notification_parse(twice, strlen(twice), "JPY", &op, &is_event,
                                                     &ev, err, sizeof err),
                     GRIDEMS_EPARSE);
    ck_assert_msg(strstr(err, "message: duplicate key \"operation\" in $") != NULL, "%s", err);
}
END_TEST

START_TEST(programs_notifiers_topics)
{
    char id[GRIDEMS_OADR_ID_SIZE] = "";
    char err[256] = "";
    const char progs[] = "[{\"programName\":\"a\",\"id\":\"0\"},{\"program_name\":\"tariff\","
                         "\"id\":\"12\"}]";
    ck_assert_int_eq(
        gridems_oadr_program_id(progs, strlen(progs), "tariff", id, sizeof id, err, sizeof err), 0);
    ck_assert_str_eq(id, "12");
    ck_assert_int_eq(
        gridems_oadr_program_id(progs, strlen(progs), "dr", id, sizeof id, err, sizeof err),
        GRIDEMS_ENOENT);
    ck_assert_msg(strstr(err, "no program named \"dr\"") != NULL, "%s", err);
    char uri[256] = "";
    const char notif[] = "{\"MQTT\":{\"URIS\":[\"mqtt://127.0.0.1:1883\"],\"serialization\":"
                         "\"JSON\"},\"WEBHOOK\":true}";
    ck_assert_int_eq(
        gridems_oadr_notifier_uri(notif, strlen(notif), uri, sizeof uri, err, sizeof err), 0);
    ck_assert_str_eq(uri, "mqtt://127.0.0.1:1883");
    ck_assert_int_eq(
        gridems_oadr_notifier_uri("{\"WEBHOOK\":true}", 16, uri, sizeof uri, err, sizeof err),
        GRIDEMS_ENOENT);
    char topics[3][256];
    const char t[] = "{\"topics\":{\"ALL\":\"events/all\",\"CREATE\":\"events/create\","
                     "\"DELETE\":\"events/delete\",\"UPDATE\":\"events/update\"}}";
    ck_assert_int_eq(gridems_oadr_topics(t, strlen(t), topics, err, sizeof err), 0);
    ck_assert_str_eq(topics[0], "events/create");
    ck_assert_str_eq(topics[1], "events/update");
    ck_assert_str_eq(topics[2], "events/delete");
    const char t2[] = "{\"topics\":{\"ALL\":\"events/all\"}}";
    ck_assert_int_eq(gridems_oadr_topics(t2, strlen(t2), topics, err, sizeof err), GRIDEMS_EINVAL);
    ck_assert_msg(strstr(err, "topics.CREATE") != NULL, "%s", err);
}
END_TEST

/* An event with one PRICE interval [from, to) minutes after T0. */
static void price_event(gridems_oadr_event_t *ev, const char *id, int prio, int from, int to,
                        double value, const char *modified)
{
    char start[GRIDEMS_TIME_ISO_BUFLEN];
    char json[1024];
    gridems_time_format_iso(T0 + MIN(from), 0, start, sizeof start);
    char prio_text[32] = "";
    if (prio >= 0) {
        snprintf(prio_text, sizeof prio_text, "\"priority\":%d,", prio);
    }
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"programID\":\"0\",%s\"modificationDateTime\":\"%s\","
             "\"intervalPeriod\":{\"start\":\"%s\",\"duration\":\"PT%dM\"},"
             "\"intervals\":[{\"id\":0,\"payloads\":[{\"type\":\"PRICE\",\"values\":[%g]}]}]}",
             id, prio_text, modified, start, to - from, value);
    event_ok(json, ev);
}

START_TEST(compose_by_priority)
{
    gridems_oadr_event_t ev[4];
    price_event(&ev[0], "base", -1, 0, 240, 10, "2026-12-01 00:00:00");   /* no priority */
    price_event(&ev[1], "peak", 1, 60, 120, 50, "2026-12-01 00:00:00");   /* wins over base */
    price_event(&ev[2], "p0", 0, 90, 150, 80, "2026-12-01 00:00:00");     /* wins over peak */
    price_event(&ev[3], "late", -1, 200, 300, 20, "2026-12-02 00:00:00"); /* newer than base */
    const gridems_oadr_event_t *const ptrs[] = {&ev[0], &ev[1], &ev[2], &ev[3]};
    gridems_oadr_piece_t *p = NULL;
    size_t n = 0;
    ck_assert_int_eq(gridems_oadr_compose(ptrs, 4, GRIDEMS_OADR_PRICE, &p, &n), 0);
    struct {
        int from, to;
        double v;
        size_t event;
        int part;
    } want[] = {{0, 60, 10, 0, 0},
                {60, 90, 50, 1, 0},
                {90, 150, 80, 2, 0},
                {150, 200, 10, 0, 1},
                {200, 300, 20, 3, 0}};
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(p[i].start_ms, T0 + MIN(want[i].from));
        ck_assert_int_eq(p[i].end_ms, T0 + MIN(want[i].to));
        ck_assert_double_eq(p[i].value, want[i].v);
        ck_assert_uint_eq(p[i].event, want[i].event);
        ck_assert_int_eq(p[i].part, want[i].part);
    }
    free(p);
    /* No spans of that signal: nothing. */
    ck_assert_int_eq(gridems_oadr_compose(ptrs, 4, GRIDEMS_OADR_GHG, &p, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(p);
    for (int i = 0; i < 4; i++) {
        gridems_oadr_event_free(&ev[i]);
    }
}
END_TEST

/* Random overlapping events against a brute-force reading of the rule, minute by minute. */
static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

static bool ranks_above(const gridems_oadr_event_t *a, const gridems_oadr_event_t *b)
{
    if (a->has_priority != b->has_priority) {
        return a->has_priority;
    }
    if (a->has_priority && a->priority != b->priority) {
        return a->priority < b->priority;
    }
    if (a->modified_ms != b->modified_ms) {
        return a->modified_ms > b->modified_ms;
    }
    return strcmp(a->id, b->id) > 0;
}

START_TEST(compose_matches_brute_force)
{
    uint64_t seed = 12345 + (uint64_t)_i;
    enum { EVENTS = 7, MINUTES = 800 };
    gridems_oadr_event_t ev[EVENTS];
    const gridems_oadr_event_t *ptrs[EVENTS];
    memset(ev, 0, sizeof ev);
    for (int e = 0; e < EVENTS; e++) {
        snprintf(ev[e].id, sizeof ev[e].id, "e%d", e);
        ev[e].has_priority = lcg(&seed) % 3 != 0;
        ev[e].priority = (long)(lcg(&seed) % 3);
        ev[e].modified_ms = (int64_t)(lcg(&seed) % 4) * 1000; /* ties: the id decides */
        size_t n = 1 + lcg(&seed) % 8;
        ev[e].spans[GRIDEMS_OADR_PRICE] = calloc(n, sizeof(gridems_oadr_span_t));
        int64_t at = (int64_t)(lcg(&seed) % 400);
        for (size_t k = 0; k < n; k++) {
            at += (int64_t)(lcg(&seed) % 3) * 10; /* sometimes a gap */
            int64_t len = 5 + (int64_t)(lcg(&seed) % 60);
            ev[e].spans[GRIDEMS_OADR_PRICE][k] = (gridems_oadr_span_t){
                T0 + MIN(at), T0 + MIN(at + len), (double)(e * 100 + k), (long)k};
            at += len;
        }
        ev[e].n[GRIDEMS_OADR_PRICE] = n;
        ptrs[e] = &ev[e];
    }
    gridems_oadr_piece_t *p = NULL;
    size_t np = 0;
    ck_assert_int_eq(gridems_oadr_compose(ptrs, EVENTS, GRIDEMS_OADR_PRICE, &p, &np), 0);
    for (size_t i = 0; i + 1 < np; i++) {
        ck_assert_int_lt(p[i].start_ms, p[i].end_ms);
        ck_assert_int_le(p[i].end_ms, p[i + 1].start_ms);
    }
    for (int m = 0; m < MINUTES; m++) {
        int64_t t = T0 + MIN(m);
        int want = -1;
        double want_v = 0;
        for (int e = 0; e < EVENTS; e++) {
            for (size_t k = 0; k < ev[e].n[GRIDEMS_OADR_PRICE]; k++) {
                const gridems_oadr_span_t *sp = &ev[e].spans[GRIDEMS_OADR_PRICE][k];
                if (sp->start_ms <= t && t < sp->end_ms &&
                    (want < 0 || ranks_above(&ev[e], &ev[want]))) {
                    want = e;
                    want_v = sp->value;
                }
            }
        }
        const gridems_oadr_piece_t *got = NULL;
        for (size_t i = 0; i < np; i++) {
            if (p[i].start_ms <= t && t < p[i].end_ms) {
                got = &p[i];
            }
        }
        if (want < 0) {
            ck_assert_msg(got == NULL, "minute %d: a piece where no event is", m);
        } else {
            ck_assert_msg(got != NULL, "minute %d: no piece, want event %d", m, want);
            ck_assert_msg(got->event == (size_t)want && got->value == want_v,
                          "minute %d: event %zu value %g, want event %d value %g", m, got->event,
                          got->value, want, want_v);
        }
    }
    free(p);
    for (int e = 0; e < EVENTS; e++) {
        gridems_oadr_event_free(&ev[e]);
    }
}
END_TEST

/* ---- ## The config section ---- */

#define BASE                                                                                       \
    "{\"site\":{\"id\":\"s1\"},\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1883\"},"                       \
    "\"state_dir\":\"/tmp/x\""

START_TEST(config_section)
{
    gridems_service_config_t cfg;
    char err[512] = "";
    const char *ok = BASE ",\"openadr\":{\"vtn_url\":\"http://127.0.0.1:8088/openadr3/3.1.0/\","
                          "\"token_file\":\"/etc/gridems/vtn.token\",\"programs\":[\"a\",\"b\"],"
                          "\"mqtt\":true,\"poll_seconds\":0,\"client_name\":\"ven-7\"}}";
    ck_assert_msg(gridems_service_config_parse(ok, strlen(ok), &cfg, err, sizeof err) == 0, "%s",
                  err);
    ck_assert(cfg.openadr.enabled);
    ck_assert_str_eq(cfg.openadr.vtn_url, "http://127.0.0.1:8088/openadr3/3.1.0");
    ck_assert_int_eq(cfg.openadr.n_programs, 2);
    ck_assert_str_eq(cfg.openadr.programs[1], "b");
    ck_assert(cfg.openadr.mqtt);
    ck_assert_int_eq(cfg.openadr.poll_seconds, 0);
    ck_assert_int_eq(cfg.openadr.timeout_seconds, 10);
    ck_assert_str_eq(cfg.openadr.client_name, "ven-7");
    gridems_service_config_free(&cfg);
    const char *none = BASE "}";
    ck_assert_int_eq(gridems_service_config_parse(none, strlen(none), &cfg, err, sizeof err), 0);
    ck_assert(!cfg.openadr.enabled);
    gridems_service_config_free(&cfg);
    const char *dflt = BASE ",\"openadr\":{\"vtn_url\":\"https://vtn.example\",\"token_file\":"
                            "\"t\",\"programs\":[\"a\"]}}";
    ck_assert_int_eq(gridems_service_config_parse(dflt, strlen(dflt), &cfg, err, sizeof err), 0);
    ck_assert_int_eq(cfg.openadr.poll_seconds, 60);
    ck_assert(!cfg.openadr.mqtt);
    ck_assert_ptr_null(cfg.openadr.client_name); /* the service's mqtt.client_id */
    gridems_service_config_free(&cfg);
}
END_TEST

#define OA(rest) BASE ",\"openadr\":{" rest "}}"
#define URL "\"vtn_url\":\"http://h/x\""
#define TOK "\"token_file\":\"t\""
#define PROG "\"programs\":[\"a\"]"

static const bad_t bad_cfg[] = {
    {BASE ",\"openadr\":[]}", "openadr: must be an object"},
    {OA(TOK "," PROG), "openadr.vtn_url: required"},
    {OA("\"vtn_url\":\"ftp://h\"," TOK "," PROG), "openadr.vtn_url: must be an http:// or "
                                                  "https:// URL"},
    {OA("\"vtn_url\":\"http://\"," TOK "," PROG), "openadr.vtn_url: must be an http://"},
    {OA(URL "," PROG), "openadr.token_file: required"},
    {OA(URL "," TOK), "openadr.programs: required"},
    {OA(URL "," TOK ",\"programs\":[]"), "openadr.programs: must hold 1 to 32 names, got 0"},
    {OA(URL "," TOK ",\"programs\":[\"a\",\"a\"]"), "openadr.programs[1]: \"a\" is already "
                                                    "openadr.programs[0]"},
    {OA(URL "," TOK ",\"programs\":[\"a\",3]"), "openadr.programs[1]: must be a name"},
    {OA(URL "," TOK "," PROG ",\"poll_seconds\":0"), "openadr.poll_seconds: must be at least 1 "
                                                     "without \"mqtt\": true"},
    {OA(URL "," TOK "," PROG ",\"poll_seconds\":1.5"), "openadr.poll_seconds: must be an "
                                                       "integer in 0..86400"},
    {OA(URL "," TOK "," PROG ",\"mqtt\":1"), "openadr.mqtt: must be true or false"},
    {OA(URL "," TOK "," PROG ",\"timeout_seconds\":0"), "openadr.timeout_seconds: must be an "
                                                        "integer in 1..300"},
    {OA(URL "," TOK "," PROG ",\"client_name\":\"\""), "openadr.client_name: must be a name of 1 "
                                                       "to 128 printable bytes"},
    {OA(URL "," TOK "," PROG ",\"client_name\":7"), "openadr.client_name: must be a name"},
    {OA(URL "," TOK "," PROG ",\"program\":[]"),
     "openadr.program: unknown key (did you mean \"programs\"?)"},
};

START_TEST(config_rules_name_their_key)
{
    const bad_t *c = &bad_cfg[_i];
    gridems_service_config_t cfg;
    char err[512] = "";
    int rc = gridems_service_config_parse(c->json, strlen(c->json), &cfg, err, sizeof err);
    ck_assert_msg(rc == GRIDEMS_ECONFIG, "case %d: rc %d (%s)", _i, rc, err);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    ck_assert_ptr_null(cfg.openadr.vtn_url);
}
END_TEST

/* ---- What the VEN applied, across restarts ---- */

START_TEST(applied_file_round_trip)
{
    gridems_oadr_piece_t price[2] = {
        {.start_ms = T0, .end_ms = T0 + MIN(30), .value = 12.25},
        {.start_ms = T0 + MIN(60), .end_ms = T0 + MIN(90), .value = -3}};
    gridems_oadr_piece_t ghg[1] = {{.start_ms = T0, .end_ms = T0 + MIN(60), .value = 0.45}};
    gridems_oadr_piece_t *pieces[GRIDEMS_OADR_IMPORT_CAP] = {price, NULL, ghg};
    size_t n[GRIDEMS_OADR_IMPORT_CAP] = {2, 0, 1};
    char *text = gridems_oadr_applied_to_json(pieces, n);
    ck_assert_ptr_nonnull(text);
    gridems_oadr_piece_t *back[GRIDEMS_OADR_IMPORT_CAP];
    size_t nb[GRIDEMS_OADR_IMPORT_CAP];
    char err[300] = "";
    int rc = gridems_oadr_applied_parse(text, strlen(text), back, nb, err, sizeof err);
    ck_assert_msg(rc == 0, "%s in %s", err, text);
    for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        ck_assert_uint_eq(nb[s], n[s]);
        for (size_t i = 0; i < n[s]; i++) {
            ck_assert_int_eq(back[s][i].start_ms, pieces[s][i].start_ms);
            ck_assert_int_eq(back[s][i].end_ms, pieces[s][i].end_ms);
            ck_assert_double_eq(back[s][i].value, pieces[s][i].value);
        }
        free(back[s]);
    }
    free(text);
}
END_TEST

#define APPLIED_HEAD "{\"version\":1,\"kind\":\"gridems-openadr-applied\",\"signals\":"
#define PIECE(a, b, v)                                                                             \
    "{\"start\":\"2026-12-01T" a "Z\",\"end\":\"2026-12-01T" b "Z\",\"value\":" v "}"

typedef struct bad_applied_s {
    const char *text;
    int rc;
    const char *want;
} bad_applied_t;

static const bad_applied_t bad_applied[] = {
    {APPLIED_HEAD "{\"PRICE\":[" PIECE("00:00:00", "00:30:00", "1") "]}} x", GRIDEMS_EPARSE,
     "trailing data at byte"},
    {APPLIED_HEAD "{\"PRICE\":[],\"PRICE\":[]}}", GRIDEMS_EPARSE,
     "duplicate key \"PRICE\" in $.signals"},
    {"{\"version\":2,\"kind\":\"gridems-openadr-applied\",\"signals\":{}}", GRIDEMS_EINVAL,
     "version: must be 1"},
    {"{\"version\":1,\"kind\":\"forecast\",\"signals\":{}}", GRIDEMS_EINVAL,
     "kind: must be \"gridems-openadr-applied\""},
    {APPLIED_HEAD "[]}", GRIDEMS_EINVAL, "signals: must be an object"},
    {APPLIED_HEAD "{\"GHG\":{}}}", GRIDEMS_EINVAL, "signals.GHG: must be an array"},
    {APPLIED_HEAD "{\"PRICE\":[" PIECE("00:30:00", "00:00:00", "1") "]}}", GRIDEMS_EINVAL,
     "signals.PRICE[0].end: must be after start"},
    {APPLIED_HEAD
     "{\"PRICE\":[" PIECE("00:00:00", "01:00:00", "1") "," PIECE("00:30:00", "01:30:00", "1") "]}}",
     GRIDEMS_EINVAL, "signals.PRICE[1].start: must not be before the previous interval's end"},
    {APPLIED_HEAD "{\"EXPORT_PRICE\":[" PIECE("00:00:00", "00:30:00", "1e999") "]}}",
     GRIDEMS_EINVAL, "signals.EXPORT_PRICE[0].value: must be a finite number"},
    {APPLIED_HEAD "{\"PRICE\":[{\"start\":\"yesterday\",\"end\":\"2026-12-01T00:30:00Z\","
                  "\"value\":1}]}}",
     GRIDEMS_EINVAL, "signals.PRICE[0].start: must be an ISO 8601 time"},
    {APPLIED_HEAD "{\"PRICE\":[7]}}", GRIDEMS_EINVAL, "signals.PRICE[0]: must be an object"},
};

START_TEST(applied_file_refused_whole)
{
    const bad_applied_t *c = &bad_applied[_i];
    gridems_oadr_piece_t *back[GRIDEMS_OADR_IMPORT_CAP];
    size_t nb[GRIDEMS_OADR_IMPORT_CAP];
    char err[300] = "";
    int rc = gridems_oadr_applied_parse(c->text, strlen(c->text), back, nb, err, sizeof err);
    ck_assert_msg(rc == c->rc, "case %d: rc %d, want %d (%s)", _i, rc, c->rc, err);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, c->want);
    for (int s = 0; s < GRIDEMS_OADR_IMPORT_CAP; s++) {
        ck_assert_ptr_null(back[s]);
        ck_assert_uint_eq(nb[s], 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openadr");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, intervals_follow_in_id_order);
    tcase_add_test(tc, snake_case_and_units);
    tcase_add_loop_test(tc, each_rejection_names_its_field, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, durations);
    tcase_add_test(tc, report_descriptors);
    tcase_add_test(tc, notifications);
    tcase_add_test(tc, programs_notifiers_topics);
    tcase_add_test(tc, compose_by_priority);
    tcase_add_loop_test(tc, compose_matches_brute_force, 0, 50);
    tcase_add_test(tc, applied_file_round_trip);
    tcase_add_loop_test(tc, applied_file_refused_whole, 0,
                        (int)(sizeof bad_applied / sizeof bad_applied[0]));
    tcase_add_test(tc, config_section);
    tcase_add_loop_test(tc, config_rules_name_their_key, 0,
                        (int)(sizeof bad_cfg / sizeof bad_cfg[0]));
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
