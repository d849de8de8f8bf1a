/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * battery_sunspec and meter_sunspec through the real loader and the real service (`gridems run`
 * with a private mosquitto), against Modbus TCP servers the test starts on free loopback ports
 * (tests/sunspec/sunspec_server.c, libmodbus's server mode, serving register images built here):
 *   - both battery families and a meter, one at each base address (40000, 50000, 0), scale
 *     factors of several signs and "not implemented" points: the discovery is logged, the values
 *     reach the service's state, the set-points are written and read back;
 *   - a battery whose server stops answering is stale and in safe mode within its configured
 *     time, gets the safe command written when it answers again, and is back in the plan;
 *   - a device that drops the connection and returns, and one that answers with an exception;
 *   - a device that acknowledges writes but keeps its registers (not confirmed, retried), and the
 *     watchdog re-writing the command ahead of the device's reversion time;
 * examples/site-real.json against these servers and a real Slurm is test_site_real.c.
 * Needs mosquitto (skipped, exit 77, without it).
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "sunspec_peer.h"
#include "sunspec_site.h"
#include "test_util.h"

enum { T_MS = 20000 };

static void start_image_server(peer_t *p, site_t *s, const img_t *im, const char *name, int unit)
{
    char img_path[700], log_path[700], unit_s[16];
    snprintf(img_path, sizeof img_path, "%s/%s.img", s->dir, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", s->dir, name);
    snprintf(unit_s, sizeof unit_s, "%d", unit);
    ck_assert_int_eq(img_write(im, img_path), 0);
    char *argv[] = {(char *)GRIDEMS_TEST_SUNSPEC_SERVER, img_path, (char *)"0", unit_s, NULL};
    ck_assert_int_eq(peer_start(p, argv, log_path), 0);
}

static void expect_peer(const peer_t *p, size_t from, const char *needle, int timeout_ms)
{
    if (peer_wait_log(p, from, needle, timeout_ms)) {
        return;
    }
    char *log = test_read_file(p->log_path, NULL);
    ck_abort_msg("not in %s within %d ms: %s\n%s", p->log_path, timeout_ms, needle,
                 log != NULL ? log : "");
}

START_TEST(test_families_at_each_base)
{
    site_t s;
    site_init(&s, "sunspec-families");
    img_t legacy, der, meter;
    uint32_t m124, m704;
    site_image_legacy(&legacy, 40000, &m124);
    site_image_der(&der, 50000, &m704);
    site_image_meter(&meter, 0);
    peer_t pl, pd, pm;
    start_image_server(&pl, &s, &legacy, "legacy", 1);
    start_image_server(&pd, &s, &der, "der", 3); /* a unit id other than the default */
    start_image_server(&pm, &s, &meter, "meter", 1);
    char *a = site_plugin("battery_sunspec", "bess_a", pl.port, 1, ", \"revert_s\": 10");
    char *b = site_plugin("battery_sunspec", "bess_b", pd.port, 3, ", \"revert_s\": 30");
    char *m = site_plugin("meter_sunspec", "grid", pm.port, 1, ", \"role\": \"site\"");
    char plugins[4096];
    snprintf(plugins, sizeof plugins, "%s,\n%s,\n%s", a, b, m);
    free(a);
    free(b);
    free(m);
    site_start(&s, plugins);

    site_expect_log(&s, 0, "[battery_sunspec:bess_a] SunSpec device at 127.0.0.1:", T_MS);
    site_expect_log(&s, 0,
                    "SunS at 40000, models found: 1 103 120 124; using 103 124 120 (legacy "
                    "family) (Mn \"gridems-test\", Md \"legacy-bess\", SN \"SN17\")",
                    T_MS);
    site_expect_log(&s, 0,
                    "unit 3: SunS at 50000, models found: 1 701 702 704 713 802; using 701 702 "
                    "704 713 802 (der family)",
                    T_MS);
    site_expect_log(&s, 0, "SunS at 0, models found: 1 203; using 203 (meter)", T_MS);

    site_expect_state(&s, "bess_a", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);
    site_expect_state(&s, "bess_b", DER_POWER_KW, DER_SOC_KWH, T_MS);
    site_expect_state(&s, "grid", METER_POWER_KW, NAN, T_MS);

    /* A plan: every battery gets a set-point, written, read back, seen by the device. */
    size_t wl = peer_log_size(&pl), wd = peer_log_size(&pd);
    site_publish_prices(&s);
    site_expect_log(&s, 0, "[battery_sunspec:bess_a] set-point written and read back", T_MS);
    site_expect_log(&s, 0, "[battery_sunspec:bess_b] set-point written and read back", T_MS);
    char needle[96];
    snprintf(needle, sizeof needle, "write %u 1 3\n", (unsigned)(m124 + 5)); /* StorCtl_Mod */
    expect_peer(&pl, wl, needle, T_MS);
    snprintf(needle, sizeof needle, "write %u 4 ", (unsigned)(m124 + 12)); /* Out/InWRte.. */
    expect_peer(&pl, wl, needle, T_MS);
    snprintf(needle, sizeof needle, "write %u 6 1 1 ", (unsigned)(m704 + 22)); /* WSetEna.. */
    expect_peer(&pd, wd, needle, T_MS);

    /* The reversion time (10 s) goes with every rate write. */
    char *plog = test_read_file(pl.log_path, NULL);
    ck_assert_ptr_nonnull(plog);
    snprintf(needle, sizeof needle, "write %u 4 ", (unsigned)(m124 + 12));
    const char *first = strstr(plog + wl, needle);
    ck_assert_ptr_nonnull(first);
    size_t n = strcspn(first, "\n");
    ck_assert_msg(n > 3 && memcmp(first + n - 3, " 10", 3) == 0,
                  "the reversion time is not 10 s: "
                  "%.*s",
                  (int)n, first);
    free(plog);
    snprintf(needle, sizeof needle, "write %u 3 1 0 30\n", (unsigned)(m704 + 30)); /* revert */
    expect_peer(&pd, wd, needle, T_MS);

    site_finish(&s);
    peer_stop(&pl);
    peer_stop(&pd);
    peer_stop(&pm);
}
END_TEST

START_TEST(test_silent_battery_stale_safe_and_back)
{
    site_t s;
    site_init(&s, "sunspec-stale");
    img_t legacy;
    uint32_t m124;
    site_image_legacy(&legacy, 40000, &m124);
    peer_t p;
    start_image_server(&p, &s, &legacy, "legacy", 1);
    char *a = site_plugin("battery_sunspec", "bess_a", p.port, 1, "");
    site_start(&s, a);
    free(a);
    site_expect_state(&s, "bess_a", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);
    site_publish_prices(&s);
    site_expect_log(&s, 0, "[battery_sunspec:bess_a] set-point written and read back", T_MS);

    /* The server stops answering (its connections stay open, nothing comes back). */
    size_t from = test_service_log_size(&s.svc);
    peer_signal(&p, SIGSTOP);
    site_expect_log(&s, from, "[battery_sunspec:bess_a] device not answering", T_MS);
    site_expect_log(&s, from, "device bess_a: no reading for", T_MS);
    /* Safe mode: the plugin's own (silent for stale_after_ms) or the service's set-point,
     * whichever comes first. */
    site_expect_log(&s, from, "[battery_sunspec:bess_a] safe", T_MS);
    /* Within its configured time: stale after 120 s of host time, noticed at the next 60-s
     * control tick at the latest. */
    char *log = test_service_log(&s.svc);
    const char *at = strstr(log + from, "device bess_a: no reading for ");
    ck_assert_ptr_nonnull(at);
    int secs = atoi(at + strlen("device bess_a: no reading for "));
    free(log);
    ck_assert_msg(secs >= 120 && secs <= 120 + 60 + 12, "stale after %d s of host time", secs);

    /* It answers again: the safe command is written first, then it is back in the plan. */
    size_t pfrom = peer_log_size(&p);
    from = test_service_log_size(&s.svc);
    peer_signal(&p, SIGCONT);
    site_expect_log(&s, from, "[battery_sunspec:bess_a] device answers again", T_MS);
    site_expect_log(&s, from,
                    "[battery_sunspec:bess_a] safe command (hold at 0 kW) written and read back",
                    T_MS);
    char needle[96];
    snprintf(needle, sizeof needle, "write %u 4 0 0 ", (unsigned)(m124 + 12)); /* 0 %, 0 % */
    expect_peer(&p, pfrom, needle, T_MS);
    site_expect_log(&s, from, "device bess_a: readings again; back in the plan", T_MS);
    site_expect_log(&s, from, "[battery_sunspec:bess_a] set-point written and read back", T_MS);
    site_expect_state(&s, "bess_a", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);

    site_finish(&s);
    peer_stop(&p);
}
END_TEST

START_TEST(test_disconnect_and_exception)
{
    site_t s;
    site_init(&s, "sunspec-faults");
    img_t der, meter;
    site_image_der(&der, 50000, NULL);
    site_image_meter(&meter, 0);
    peer_t pd, pm;
    start_image_server(&pd, &s, &der, "der", 1);
    start_image_server(&pm, &s, &meter, "meter", 1);
    char *b = site_plugin("battery_sunspec", "bess_b", pd.port, 1, "");
    char *m = site_plugin("meter_sunspec", "grid", pm.port, 1, "");
    char plugins[4096];
    snprintf(plugins, sizeof plugins, "%s,\n%s", b, m);
    free(b);
    free(m);
    /* The meter answers every request with an exception from the start. */
    peer_signal(&pm, SIGUSR1);
    expect_peer(&pm, 0, "exceptions on", T_MS);
    site_start(&s, plugins);
    site_expect_log(&s, 0, "[meter_sunspec:grid] device not answering: no SunSpec map found", T_MS);
    site_expect_log(&s, 0, "Slave device or server failure", T_MS);
    site_expect_state(&s, "bess_b", DER_POWER_KW, DER_SOC_KWH, T_MS);
    size_t from = test_service_log_size(&s.svc);
    peer_signal(&pm, SIGUSR1); /* answers normally again */
    site_expect_log(&s, from, "[meter_sunspec:grid] SunSpec device at", T_MS);
    site_expect_state(&s, "grid", METER_POWER_KW, NAN, T_MS);

    /* The battery's server drops its clients: the driver reconnects and discovers again. */
    from = test_service_log_size(&s.svc);
    peer_signal(&pd, SIGUSR2);
    expect_peer(&pd, 0, "dropped 1", T_MS);
    site_expect_log(&s, from, "[battery_sunspec:bess_b] device not answering", T_MS);
    site_expect_log(&s, from, "[battery_sunspec:bess_b] device answers again", T_MS);
    site_expect_log(&s, from, "[battery_sunspec:bess_b] SunSpec device at", T_MS);
    site_expect_state(&s, "bess_b", DER_POWER_KW, DER_SOC_KWH, T_MS);

    /* The battery's server answers exceptions in the middle of its work, then recovers. */
    from = test_service_log_size(&s.svc);
    size_t pfrom = peer_log_size(&pd);
    peer_signal(&pd, SIGUSR1);
    expect_peer(&pd, pfrom, "exceptions on", T_MS);
    site_expect_log(&s, from, "[battery_sunspec:bess_b] device not answering: reading ", T_MS);
    site_expect_log(&s, from, "Slave device or server failure", T_MS);
    from = test_service_log_size(&s.svc);
    peer_signal(&pd, SIGUSR1);
    site_expect_log(&s, from, "[battery_sunspec:bess_b] device answers again", T_MS);
    site_expect_state(&s, "bess_b", DER_POWER_KW, DER_SOC_KWH, T_MS);

    site_finish(&s);
    peer_stop(&pd);
    peer_stop(&pm);
}
END_TEST

START_TEST(test_write_verified_and_watchdog)
{
    site_t s;
    site_init(&s, "sunspec-verify");
    img_t legacy;
    uint32_t m124;
    site_image_legacy(&legacy, 40000, &m124);
    peer_t p;
    start_image_server(&p, &s, &legacy, "legacy", 1);
    /* The device acknowledges writes but keeps its registers (a device in local mode), from
     * the start: the first command (the service's safe-mode set-point before any plan, then
     * the plan's) cannot be stored. */
    peer_signal(&p, SIGHUP);
    expect_peer(&p, 0, "writes ignored on", T_MS);
    char *a = site_plugin("battery_sunspec", "bess_a", p.port, 1, ", \"revert_s\": 10");
    site_start(&s, a);
    free(a);
    site_expect_state(&s, "bess_a", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);
    site_expect_log(&s, 0,
                    "[battery_sunspec:bess_a] write not confirmed: model 124 offset 12..15 reads "
                    "back different from what was written",
                    T_MS);
    /* Not taken as done: it is written again (with back-off), and confirmed once the device
     * stores it. */
    size_t from = test_service_log_size(&s.svc);
    peer_signal(&p, SIGHUP);
    expect_peer(&p, 0, "writes ignored off", T_MS);
    site_expect_log(&s, from, "written and read back", T_MS);

    /* The watchdog: without prices there is no plan, so the only command is the service's one
     * safe-mode set-point; it is written again every revert_s / 3 (3.3 s), each time the same
     * registers with the same values, ahead of the device's 10-s reversion. */
    char needle[96];
    snprintf(needle, sizeof needle, "write %u 4 0 0 0 10\n", (unsigned)(m124 + 12));
    size_t pfrom = peer_log_size(&p);
    double t0 = test_now_ms();
    expect_peer(&p, pfrom, needle, T_MS);
    double t1 = test_now_ms();
    expect_peer(&p, peer_log_size(&p), needle, T_MS);
    double t2 = test_now_ms();
    /* A measure, not a synchronisation: the gap between re-writes must stay under the
     * reversion time (a busy machine may stretch it, never beyond 10 s). */
    ck_assert_msg(t2 - t1 < 10000, "re-written after %.0f ms (then %.0f ms)", t2 - t1, t1 - t0);
    site_finish(&s);
    peer_stop(&p);
}
END_TEST

/* 1 when the SunSpec plugins (and, with server, the libmodbus test server) were built. */
static int sunspec_built(int server)
{
    static const char *const so[] = {"battery_sunspec", "meter_sunspec"};
    for (int i = 0; i < 2; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/gridems_%s.so", GRIDEMS_TEST_PLUGIN_DIR, so[i]);
        if (access(path, R_OK) != 0) {
            return 0;
        }
    }
    return !server || (GRIDEMS_TEST_SUNSPEC_SERVER[0] != '\0' &&
                       access(GRIDEMS_TEST_SUNSPEC_SERVER, X_OK) == 0);
}

int main(void)
{
    if (!sunspec_built(1)) {
        fprintf(stderr,
                "test_sunspec: skipped: the SunSpec plugins were not built (libmodbus-dev is "
                "not installed)\n");
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "test_sunspec: skipped: mosquitto is not installed\n");
        return 77;
    }
    Suite *s = suite_create("sunspec");
    TCase *tc = tcase_create("service");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_families_at_each_base);
    tcase_add_test(tc, test_silent_battery_stale_safe_and_back);
    tcase_add_test(tc, test_disconnect_and_exception);
    tcase_add_test(tc, test_write_verified_and_watchdog);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
