/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * battery_sunspec and meter_sunspec against an independent Modbus implementation: Debian's
 * python3-pymodbus 3.0 (tests/sunspec/pymodbus_server.py) serving the same register images as
 * test_sunspec, three devices behind one server by unit id (legacy battery at 40000 on unit 1,
 * DER battery at 50000 on unit 2, meter at 0 on unit 3), through the real loader and service:
 * discovery, decoded values, set-points written and read back, the writes seen by pymodbus, and
 * a silent server (stale, safe command on return, back in the plan).
 * Skipped (exit 77) without mosquitto or pymodbus.
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

static int skipped;

static void expect_peer(const peer_t *p, size_t from, const char *needle, int timeout_ms)
{
    if (peer_wait_log(p, from, needle, timeout_ms)) {
        return;
    }
    char *log = test_read_file(p->log_path, NULL);
    ck_abort_msg("not in %s within %d ms: %s\n%s", p->log_path, timeout_ms, needle,
                 log != NULL ? log : "");
}

START_TEST(test_pymodbus_peer)
{
    site_t s;
    site_init(&s, "sunspec-pymodbus");
    img_t legacy, der, meter;
    uint32_t m124, m704;
    site_image_legacy(&legacy, 40000, &m124);
    site_image_der(&der, 50000, &m704);
    site_image_meter(&meter, 0);
    char pl[3][700], args[3][2200], log_path[700];
    const img_t *ims[3] = {&legacy, &der, &meter};
    for (int i = 0; i < 3; i++) {
        snprintf(pl[i], sizeof pl[i], "%s/unit%d.img", s.dir, i + 1);
        ck_assert_int_eq(img_write(ims[i], pl[i]), 0);
        snprintf(args[i], sizeof args[i], "%d=%s", i + 1, pl[i]);
    }
    snprintf(log_path, sizeof log_path, "%s/pymodbus.log", s.dir);
    char *argv[] = {(char *)"/usr/bin/python3",
                    (char *)GRIDEMS_TEST_PYMODBUS_SERVER,
                    (char *)"0",
                    args[0],
                    args[1],
                    args[2],
                    NULL};
    peer_t p;
    if (peer_start(&p, argv, log_path) == 77) {
        char *why = test_read_file(log_path, NULL);
        fprintf(stderr, "test_sunspec_pymodbus: skipped: %s\n", why != NULL ? why : "");
        free(why);
        broker_cleanup(&s.broker);
        skipped = 1;
        return;
    }
    char *a = site_plugin("battery_sunspec", "bess_a", p.port, 1, "");
    char *b = site_plugin("battery_sunspec", "bess_b", p.port, 2, "");
    char *m = site_plugin("meter_sunspec", "grid", p.port, 3, "");
    char plugins[4096];
    snprintf(plugins, sizeof plugins, "%s,\n%s,\n%s", a, b, m);
    free(a);
    free(b);
    free(m);
    site_start(&s, plugins);

    site_expect_log(&s, 0,
                    "unit 1: SunS at 40000, models found: 1 103 120 124; using 103 124 "
                    "120 (legacy family)",
                    T_MS);
    site_expect_log(&s, 0,
                    "unit 2: SunS at 50000, models found: 1 701 702 704 713 802; using "
                    "701 702 704 713 802 (der family)",
                    T_MS);
    site_expect_log(&s, 0, "unit 3: SunS at 0, models found: 1 203; using 203 (meter)", T_MS);
    site_expect_state(&s, "bess_a", LEGACY_POWER_KW, LEGACY_SOC_KWH, T_MS);
    site_expect_state(&s, "bess_b", DER_POWER_KW, DER_SOC_KWH, T_MS);
    site_expect_state(&s, "grid", METER_POWER_KW, NAN, T_MS);

    size_t from = peer_log_size(&p);
    site_publish_prices(&s);
    site_expect_log(&s, 0, "[battery_sunspec:bess_a] set-point written and read back", T_MS);
    site_expect_log(&s, 0, "[battery_sunspec:bess_b] set-point written and read back", T_MS);
    char needle[96];
    snprintf(needle, sizeof needle, "write 1 %u 1 3\n", (unsigned)(m124 + 5));
    expect_peer(&p, from, needle, T_MS);
    snprintf(needle, sizeof needle, "write 2 %u 6 1 1 ", (unsigned)(m704 + 22));
    expect_peer(&p, from, needle, T_MS);

    /* The server stops answering, then answers again. */
    size_t at = test_service_log_size(&s.svc);
    peer_signal(&p, SIGSTOP);
    site_expect_log(&s, at, "device bess_a: no reading for", T_MS);
    site_expect_log(&s, at, "device bess_b: no reading for", T_MS);
    from = peer_log_size(&p);
    at = test_service_log_size(&s.svc);
    peer_signal(&p, SIGCONT);
    site_expect_log(&s, at,
                    "[battery_sunspec:bess_a] safe command (hold at 0 kW) written and "
                    "read back",
                    T_MS);
    site_expect_log(&s, at,
                    "[battery_sunspec:bess_b] safe command (hold at 0 kW) written and "
                    "read back",
                    T_MS);
    snprintf(needle, sizeof needle, "write 2 %u 6 1 1 0 0 0 0\n", (unsigned)(m704 + 22));
    expect_peer(&p, from, needle, T_MS);
    site_expect_log(&s, at, "device bess_a: readings again; back in the plan", T_MS);
    site_expect_log(&s, at, "device bess_b: readings again; back in the plan", T_MS);

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
    if (!sunspec_built(0)) {
        fprintf(
            stderr,
            "test_sunspec_pymodbus: skipped: the SunSpec plugins were not built (libmodbus-dev is "
            "not installed)\n");
        return 77;
    }
    if (!broker_available()) {
        fprintf(stderr, "test_sunspec_pymodbus: skipped: mosquitto is not installed\n");
        return 77;
    }
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_sunspec_pymodbus: skipped: /usr/bin/python3 is missing\n");
        return 77;
    }
    Suite *s = suite_create("sunspec_pymodbus");
    TCase *tc = tcase_create("service");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_pymodbus_peer);
    suite_add_tcase(s, tc);
    int rc = test_run_suite_in_process(s); /* so that main sees `skipped` */
    return rc == EXIT_SUCCESS && skipped ? 77 : rc;
}
