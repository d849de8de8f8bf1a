/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SunSpec integration tests' site; see sunspec_site.h. */
#include "sunspec_site.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sunspec_regs.h"
#include "test_util.h"

void site_image_legacy(img_t *im, uint32_t base, uint32_t *m124)
{
    img_begin(im, base, "legacy-bess");
    unsigned inv = img_model(im, 103, 50);
    img_set(im, inv, SS10X_W, (uint16_t)-300);
    img_set(im, inv, SS10X_W_SF, 1);
    unsigned m120 = img_model(im, 120, 26);
    img_set(im, m120, SS120_WHRTG, 2000);
    img_set(im, m120, SS120_WHRTG_SF, 1);
    img_set(im, m120, SS120_MAXCHARTE, 0xFFFF); /* not implemented */
    img_set(im, m120, SS120_MAXCHARTE_SF, 0x8000);
    unsigned m = img_model(im, 124, 24);
    img_set(im, m, SS124_WCHAMAX, 500);
    img_set(im, m, SS124_WCHAMAX_SF, 1);
    img_set(im, m, SS124_CHASTATE, 655);
    img_set(im, m, SS124_CHASTATE_SF, (uint16_t)-1);
    img_set(im, m, SS124_MINRSVPCT, 10);
    img_set(im, m, SS124_MINRSVPCT_SF, 0);
    img_set(im, m, SS124_INOUTWRTE_SF, (uint16_t)-2);
    img_set(im, m, 9, 0xFFFF); /* StorAval: not implemented */
    img_end(im);
    if (m124 != NULL) {
        *m124 = base + m;
    }
}

void site_image_der(img_t *im, uint32_t base, uint32_t *m704)
{
    img_begin(im, base, "der-bess");
    unsigned m701 = img_model(im, 701, 153);
    img_set(im, m701, SS701_W, 1234);
    img_set(im, m701, SS701_W_SF, 1);
    unsigned m702 = img_model(im, 702, 50);
    img_set(im, m702, SS702_W_SF, 2);
    img_set(im, m702, SS702_WMAXRTG, 500);
    img_set(im, m702, SS702_WMAX, 400);
    img_set(im, m702, SS702_WCHARTEMAX, 0xFFFF); /* falls back to the rating, 30 kW */
    img_set(im, m702, SS702_WCHARTEMAXRTG, 300);
    img_set(im, m702, SS702_WDISCHARTEMAX, 350);
    unsigned m = img_model(im, 704, 65);
    img_set(im, m, SS704_WMAXLIMPCTENA, 1);
    img_set(im, m, SS704_WMAXLIMPCT, 50); /* discharge at most 50 % of 40 kW */
    img_set(im, m, SS704_WMAXLIMPCT_SF, 0);
    img_set(im, m, SS704_WSET_SF, (uint16_t)-1);
    unsigned m713 = img_model(im, 713, 7);
    img_set(im, m713, SS713_WHRTG, 1000);
    img_set(im, m713, SS713_WH_SF, 2);
    img_set(im, m713, SS713_WHAVAIL, 0xFFFF);
    img_set(im, m713, SS713_SOC, 4250);
    img_set(im, m713, SS713_PCT_SF, (uint16_t)-2);
    unsigned m802 = img_model(im, 802, 62);
    img_set(im, m802, SS802_WCHADISCHAMAX_SF, 3);
    img_set(im, m802, SS802_WCHARTEMAX, 25);
    img_set(im, m802, SS802_WDISCHARTEMAX, 0xFFFF);
    img_set(im, m802, SS802_SOC_SF, 0);
    img_set(im, m802, SS802_SOCMIN, 10);
    img_set(im, m802, SS802_SOCMAX, 95);
    img_end(im);
    if (m704 != NULL) {
        *m704 = base + m;
    }
}

void site_image_meter(img_t *im, uint32_t base)
{
    img_begin(im, base, "site-meter");
    unsigned m = img_model(im, 203, 105);
    img_set(im, m, SS20X_W, 12345);
    img_set(im, m, SS20X_W_SF, (uint16_t)-1);
    img_set32(im, m, SS20X_TOTWHIMP, 0x00123456);
    img_set(im, m, SS20X_TOTWH_SF, 1);
    img_end(im);
}

void site_init(site_t *s, const char *tag)
{
    memset(s, 0, sizeof *s);
    s->dir = test_make_tmpdir(tag);
    snprintf(s->cfg_path, sizeof s->cfg_path, "%s/gridems.json", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/gridems.log", s->dir);
    snprintf(s->prefix, sizeof s->prefix, "gridems/%s", tag);
    broker_start(&s->broker, tag);
}

char *site_plugin(const char *plugin, const char *name, int port, int unit, const char *extra)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"plugin\": \"%s\", \"name\": \"%s\", \"options\": {\"host\": \"127.0.0.1\", "
             "\"port\": %d, \"unit_id\": %d, \"poll_ms\": 100, \"timeout_ms\": 300, "
             "\"stale_after_ms\": 120000, \"reconnect_max_ms\": 400%s}}",
             plugin, name, port, unit, extra);
    char *out = strdup(buf);
    ck_assert_ptr_nonnull(out);
    return out;
}

void site_start(site_t *s, const char *plugins)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "{\"site\": {\"id\": \"sunspec\", \"utc_offset\": \"+09:00\", \"currency\": \"JPY\","
            " \"import_limit_kw\": 1000},\n"
            " \"mqtt\": {\"uri\": \"%s\", \"topic_prefix\": \"%s\"},\n"
            " \"planner\": {\"step_minutes\": 30, \"horizon_steps\": 48, \"replan_seconds\": 86400,"
            " \"debounce_ms\": 200},\n"
            " \"clock\": {\"mode\": \"simulated\", \"start\": \"2023-05-08T00:00:00+09:00\","
            " \"speed\": 60},\n"
            " \"state_dir\": \"%s/state\", \"log_level\": \"info\", \"plugin_dir\": \"%s\",\n"
            " \"plugins\": [%s]}\n",
            s->broker.uri, s->prefix, s->dir, GRIDEMS_TEST_PLUGIN_DIR, plugins);
    fclose(f);
    site_start_config(s, text);
    free(text);
}

void site_start_config(site_t *s, const char *config_text)
{
    ck_assert_int_eq(test_write_file(s->cfg_path, config_text), 0);
    s->bus = wire_connect(s->broker.uri, 5000);
    ck_assert_msg(s->bus != NULL, "cannot connect to %s", s->broker.uri);
    char topic[200];
    snprintf(topic, sizeof topic, "%s/state", s->prefix);
    ck_assert_int_eq(wire_subscribe(s->bus, topic, 5000), 0);
    test_service_start(&s->svc, s->cfg_path, s->log_path);
}

void site_publish_prices(site_t *s)
{
    char msg[2048];
    size_t at = 0;
    at += (size_t)snprintf(msg + at, sizeof msg - at,
                           "{\"start\": \"2023-05-08T00:00:00+09:00\", \"step_minutes\": 30, "
                           "\"unit\": \"kWh\", \"currency\": \"JPY\", \"values\": [");
    for (int i = 0; i < 96; i++) {
        int hour = (i / 2) % 24;
        double price = hour < 6 ? 8 : hour >= 17 && hour < 21 ? 40 : 20;
        at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%g", i ? "," : "", price);
    }
    snprintf(msg + at, sizeof msg - at, "]}");
    char topic[200];
    snprintf(topic, sizeof topic, "%s/in/price", s->prefix);
    ck_assert_int_eq(wire_publish(s->bus, topic, msg, 1, 1, 5000), 0);
}

void site_expect_log(site_t *s, size_t from, const char *needle, int timeout_ms)
{
    if (test_service_wait_log(&s->svc, from, needle, timeout_ms)) {
        return;
    }
    char *log = test_service_log(&s->svc);
    size_t len = log != NULL ? strlen(log) : 0;
    const char *tail = log != NULL ? log + (len > 6000 ? len - 6000 : 0) : "";
    fprintf(stderr, "---- service log (tail) ----\n%s\n", tail);
    free(log);
    ck_abort_msg("not in the service's log within %d ms: %s", timeout_ms, needle);
}

static int device_matches(const cJSON *root, const char *id, double power_kw, double soc_kwh)
{
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    const cJSON *d;
    cJSON_ArrayForEach(d, devs)
    {
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(d, "id");
        if (!cJSON_IsString(jid) || strcmp(jid->valuestring, id) != 0) {
            continue;
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "power_kw");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "soc_kwh");
        const cJSON *stale = cJSON_GetObjectItemCaseSensitive(d, "stale");
        if (!cJSON_IsNumber(p) || fabs(p->valuedouble - power_kw) > 1e-6 || cJSON_IsTrue(stale)) {
            return 0;
        }
        if (!isnan(soc_kwh) && (!cJSON_IsNumber(e) || fabs(e->valuedouble - soc_kwh) > 1e-6)) {
            return 0;
        }
        return 1;
    }
    return 0;
}

void site_expect_state(site_t *s, const char *id, double power_kw, double soc_kwh, int timeout_ms)
{
    char topic[200];
    snprintf(topic, sizeof topic, "%s/state", s->prefix);
    double deadline = test_now_ms() + timeout_ms;
    char last[2048] = "(none)";
    while (test_now_ms() < deadline) {
        wire_msg_t msg;
        if (wire_next(s->bus, topic, id, 500, &msg) != 0) {
            ck_assert_msg(test_service_running(&s->svc), "the service ended (status %d)",
                          s->svc.status);
            continue;
        }
        snprintf(last, sizeof last, "%s", msg.payload);
        cJSON *root = cJSON_Parse(msg.payload);
        wire_msg_free(&msg);
        int ok = root != NULL && device_matches(root, id, power_kw, soc_kwh);
        cJSON_Delete(root);
        if (ok) {
            return;
        }
    }
    ck_abort_msg("no state with %s at %g kW / %g kWh within %d ms; last: %s", id, power_kw, soc_kwh,
                 timeout_ms, last);
}

void site_finish(site_t *s)
{
    ck_assert_int_eq(test_service_signal(&s->svc, SIGTERM), 0);
    int status = test_service_wait_exit(&s->svc, 15000);
    ck_assert_msg(status == 0, "SIGTERM: exit status %d", status);
    char *log = test_service_log(&s->svc);
    const char *report = test_sanitizer_report(log);
    char excerpt[1500] = "";
    if (report != NULL) {
        snprintf(excerpt, sizeof excerpt, "%s", report);
    }
    free(log);
    ck_assert_msg(report == NULL, "sanitizer report in the service's log:\n%s", excerpt);
    wire_close(s->bus);
    s->bus = NULL;
    test_service_cleanup(&s->svc);
    broker_cleanup(&s->broker);
    test_remove_tree(s->dir);
    free(s->dir);
    s->dir = NULL;
}
