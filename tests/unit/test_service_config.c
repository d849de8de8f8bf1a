/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for the service config: every default of a minimal config, every value of a full
 * one, one table row per rule (each error must name the key path and the rule), unknown and
 * duplicate keys, wrong types, broken JSON, file loading, and the shipped example config.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "service_config.h"
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITE "\"site\":{\"id\":\"s1\"}"
#define MQTT "\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1883\"}"
#define DIR "\"state_dir\":\"/tmp/gridems-test\""
#define BASE SITE "," MQTT "," DIR
#define PLUGIN(name) "{\"plugin\":\"battery_sim\",\"name\":\"" name "\"}"

static int parse(const char *json, gridems_service_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    return gridems_service_config_parse(json, strlen(json), cfg, err, errlen);
}

static void parse_ok(const char *json, gridems_service_config_t *cfg)
{
    char err[1024] = "";
    int rc = parse(json, cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "config refused (%d): %s", rc, err);
}

/* ---- ## Valid configs ---- */

START_TEST(minimal_config_gets_every_default)
{
    gridems_service_config_t cfg;
    parse_ok("{" BASE "}", &cfg);
    ck_assert_str_eq(cfg.site.id, "s1");
    ck_assert_int_eq(cfg.site.utc_offset_min, 0);
    ck_assert_str_eq(cfg.site.currency, "JPY");
    ck_assert(cfg.site.import_limit_kw == 1e9);
    ck_assert(cfg.site.export_limit_kw == 0);
    ck_assert(cfg.site.demand_charge_per_kw == 0);
    ck_assert_int_eq(cfg.site.billing_period, GRIDEMS_BILLING_MONTH);
    ck_assert(!cfg.site.has_compute_limit);

    ck_assert_str_eq(cfg.mqtt.uri, "tcp://127.0.0.1:1883");
    char want_id[64];
    snprintf(want_id, sizeof want_id, "gridems-s1-%ld", (long)getpid());
    ck_assert_str_eq(cfg.mqtt.client_id, want_id);
    ck_assert_str_eq(cfg.mqtt.topic_prefix, "gridems/s1");
    ck_assert_int_eq(cfg.mqtt.keepalive_s, 30);
    ck_assert_ptr_null(cfg.mqtt.username);
    ck_assert_ptr_null(cfg.mqtt.password);
    ck_assert(!cfg.mqtt.has_tls);
    ck_assert_str_eq(cfg.mqtt.topics.price, "gridems/s1/in/price");
    ck_assert_str_eq(cfg.mqtt.topics.price_export, "gridems/s1/in/price/export");
    ck_assert_str_eq(cfg.mqtt.topics.carbon, "gridems/s1/in/carbon");
    ck_assert_str_eq(cfg.mqtt.topics.event, "gridems/s1/in/event");
    ck_assert_str_eq(cfg.mqtt.topics.cmd, "gridems/s1/cmd");

    ck_assert_int_eq(cfg.planner.step_minutes, 15);
    ck_assert_int_eq(cfg.planner.horizon_steps, 96);
    ck_assert_int_eq(cfg.planner.replan_seconds, 300);
    ck_assert_int_eq(cfg.planner.debounce_ms, 500);
    ck_assert_int_eq(cfg.planner.solve_time_limit_ms, 10000);
    ck_assert(!cfg.planner.has_deviation);
    ck_assert(cfg.planner.carbon_price_per_kg == 0);
    ck_assert(cfg.planner.unmet_flexible_per_kwh == 1000);
    ck_assert_int_eq(cfg.planner.peak_margin, GRIDEMS_PEAK_MARGIN_FIXED);
    ck_assert(cfg.planner.peak_margin_quantile == 0.99);
    ck_assert_int_eq(cfg.planner.peak_margin_window_steps, 672); /* a week of 15 minutes */
    ck_assert(cfg.planner.defer_power_fraction == 0.5);
    ck_assert_int_eq(cfg.planner.peak_margin_error, GRIDEMS_MARGIN_ERROR_IMPORT);
    ck_assert(cfg.planner.unserved_load_per_kwh == 10000);
    ck_assert(cfg.planner.final_soc_shortfall_per_kwh == 1000);
    ck_assert_int_eq(cfg.planner.battery_final_soc, GRIDEMS_FINAL_SOC_INITIAL);
    ck_assert(!cfg.planner.running_step_whole);
    ck_assert(!cfg.planner.peak_guard.enabled);
    ck_assert_int_eq(cfg.planner.peak_guard.interval_seconds, 10);
    ck_assert(cfg.planner.peak_guard.margin_kw == 0);
    ck_assert(cfg.planner.peak_guard.shed_compute);

    ck_assert_int_eq(cfg.clock.mode, GRIDEMS_CLOCK_REAL);
    ck_assert(cfg.clock.speed == 1.0);
    ck_assert_str_eq(cfg.state_dir, "/tmp/gridems-test");
    ck_assert_int_eq(cfg.log_level, GRIDEMS_LOG_INFO);
    ck_assert_str_eq(cfg.plugin_dir, GRIDEMS_TEST_PLUGIN_DIR);
    ck_assert_int_eq(cfg.n_plugins, 0);
    ck_assert_ptr_nonnull(cfg.root);

    gridems_service_config_free(&cfg);
    ck_assert_ptr_null(cfg.root);
    ck_assert_ptr_null(cfg.site.id);
    gridems_service_config_free(&cfg); /* a second free is harmless */
    gridems_service_config_free(NULL);
}
END_TEST

static const char *const full_config =
    "{\"site\":{\"id\":\"sakai-dc1\",\"utc_offset\":\"-05:30\",\"currency\":\"USD\","
    "\"import_limit_kw\":20000,\"export_limit_kw\":500,\"demand_charge_per_kw\":12.5,"
    "\"billing_period\":\"day\",\"compute_limit_kw\":9000},"
    "\"mqtt\":{\"uri\":\"ssl://broker.example:8883\",\"client_id\":\"ems-1\","
    "\"topic_prefix\":\"site/ems\",\"keepalive_s\":60,\"username\":\"u\",\"password\":\"p\","
    "\"tls\":{\"ca_file\":\"/etc/ca.pem\",\"cert_file\":\"/etc/c.pem\",\"key_file\":\"/etc/k.pem\","
    "\"verify\":false},"
    "\"topics\":{\"price\":\"utility/jepx/price\",\"price_export\":\"utility/jepx/export\","
    "\"carbon\":\"utility/co2\",\"event\":\"utility/dr\",\"cmd\":\"ops/cmd\"}},"
    "\"planner\":{\"step_minutes\":120,\"horizon_steps\":12,\"replan_seconds\":60,"
    "\"debounce_ms\":0,\"solve_time_limit_ms\":2500,\"deviation_kw\":250,"
    "\"carbon_price_per_kg\":0.05,\"battery_final_soc\":\"none\",\"running_step\":\"whole\","
    "\"penalties\":{\"unmet_flexible_per_kwh\":5,\"unserved_load_per_kwh\":6,"
    "\"final_soc_shortfall_per_kwh\":7},"
    "\"peak_guard\":{\"enabled\":true,\"interval_seconds\":5,\"margin_kw\":150,\"shed_compute\":"
    "false}},"
    "\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-05-11T00:00:00+09:00\",\"speed\":60},"
    "\"state_dir\":\"var/state\",\"log_level\":\"debug\",\"plugin_dir\":\"/opt/gridems/plugins\","
    "\"plugins\":[{\"plugin\":\"battery_sim\",\"name\":\"bess1\","
    "\"options\":{\"capacity_kwh\":100}},"
    "{\"name\":\"vendor-x\",\"path\":\"/opt/vendor/gridems_battery_x.so\"},"
    "{\"plugin\":\"meter_sim\",\"name\":\"m1\",\"path\":\"./m.so\"}]}";

START_TEST(full_config_reads_every_value)
{
    gridems_service_config_t cfg;
    parse_ok(full_config, &cfg);
    ck_assert_str_eq(cfg.site.id, "sakai-dc1");
    ck_assert_int_eq(cfg.site.utc_offset_min, -330);
    ck_assert_str_eq(cfg.site.currency, "USD");
    ck_assert(cfg.site.import_limit_kw == 20000);
    ck_assert(cfg.site.export_limit_kw == 500);
    ck_assert(cfg.site.demand_charge_per_kw == 12.5);
    ck_assert_int_eq(cfg.site.billing_period, GRIDEMS_BILLING_DAY);
    ck_assert(cfg.site.has_compute_limit);
    ck_assert(cfg.site.compute_limit_kw == 9000);

    ck_assert_str_eq(cfg.mqtt.uri, "ssl://broker.example:8883");
    ck_assert_str_eq(cfg.mqtt.client_id, "ems-1");
    ck_assert_str_eq(cfg.mqtt.topic_prefix, "site/ems");
    ck_assert_int_eq(cfg.mqtt.keepalive_s, 60);
    ck_assert_str_eq(cfg.mqtt.username, "u");
    ck_assert_str_eq(cfg.mqtt.password, "p");
    ck_assert(cfg.mqtt.has_tls);
    ck_assert_str_eq(cfg.mqtt.tls.ca_file, "/etc/ca.pem");
    ck_assert_str_eq(cfg.mqtt.tls.cert_file, "/etc/c.pem");
    ck_assert_str_eq(cfg.mqtt.tls.key_file, "/etc/k.pem");
    ck_assert(!cfg.mqtt.tls.verify);
    ck_assert_str_eq(cfg.mqtt.topics.price, "utility/jepx/price");
    ck_assert_str_eq(cfg.mqtt.topics.price_export, "utility/jepx/export");
    ck_assert_str_eq(cfg.mqtt.topics.carbon, "utility/co2");
    ck_assert_str_eq(cfg.mqtt.topics.event, "utility/dr");
    ck_assert_str_eq(cfg.mqtt.topics.cmd, "ops/cmd");

    ck_assert_int_eq(cfg.planner.step_minutes, 120);
    ck_assert_int_eq(cfg.planner.horizon_steps, 12);
    ck_assert_int_eq(cfg.planner.replan_seconds, 60);
    ck_assert_int_eq(cfg.planner.debounce_ms, 0);
    ck_assert_int_eq(cfg.planner.solve_time_limit_ms, 2500);
    ck_assert(cfg.planner.has_deviation);
    ck_assert(cfg.planner.deviation_kw == 250);
    ck_assert(cfg.planner.carbon_price_per_kg == 0.05);
    ck_assert(cfg.planner.unmet_flexible_per_kwh == 5);
    ck_assert(cfg.planner.unserved_load_per_kwh == 6);
    ck_assert(cfg.planner.final_soc_shortfall_per_kwh == 7);
    ck_assert_int_eq(cfg.planner.battery_final_soc, GRIDEMS_FINAL_SOC_NONE);
    ck_assert(cfg.planner.running_step_whole);
    ck_assert(cfg.planner.peak_guard.enabled);
    ck_assert_int_eq(cfg.planner.peak_guard.interval_seconds, 5);
    ck_assert(cfg.planner.peak_guard.margin_kw == 150);
    ck_assert(!cfg.planner.peak_guard.shed_compute);

    ck_assert_int_eq(cfg.clock.mode, GRIDEMS_CLOCK_SIMULATED);
    /* 2026-05-11T00:00:00+09:00 = 2026-05-10T15:00:00Z. */
    ck_assert_int_eq(cfg.clock.start_ms, INT64_C(1778425200000));
    ck_assert(cfg.clock.speed == 60);
    ck_assert_str_eq(cfg.state_dir, "var/state");
    ck_assert_int_eq(cfg.log_level, GRIDEMS_LOG_DEBUG);
    ck_assert_str_eq(cfg.plugin_dir, "/opt/gridems/plugins");

    ck_assert_int_eq(cfg.n_plugins, 3);
    const gridems_service_plugin_t *p = cfg.plugins;
    ck_assert_str_eq(p[0].plugin, "battery_sim");
    ck_assert_str_eq(p[0].name, "bess1");
    ck_assert_str_eq(p[0].path, "/opt/gridems/plugins/gridems_battery_sim.so");
    ck_assert(!p[0].explicit_path);
    ck_assert_ptr_nonnull(p[0].options);
    ck_assert(cJSON_GetObjectItemCaseSensitive(p[0].options, "capacity_kwh")->valuedouble == 100);
    /* The instance object is what gridems__plugin_load() takes: the whole entry. */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p[0].instance, "name")->valuestring, "bess1");
    ck_assert_ptr_eq(cJSON_GetObjectItemCaseSensitive(p[0].instance, "options"), p[0].options);
    ck_assert_ptr_null(p[1].plugin);
    ck_assert_str_eq(p[1].path, "/opt/vendor/gridems_battery_x.so");
    ck_assert(p[1].explicit_path);
    ck_assert_ptr_null(p[1].options);
    ck_assert_str_eq(p[2].path, "./m.so");
    ck_assert_str_eq(gridems_service_config_billing_name(cfg.site.billing_period), "day");
    ck_assert_str_eq(gridems_service_config_final_soc_name(cfg.planner.battery_final_soc), "none");
    gridems_service_config_free(&cfg);
}
END_TEST

START_TEST(accepted_edge_values)
{
    /* Every legal step length, and the bounds of each integer range. */
    static const int steps[] = {1,  2,  3,   4,   5,   6,   10,  12,  15,  20,
                                30, 60, 120, 180, 240, 360, 480, 720, 1440};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{" BASE ",\"planner\":{\"step_minutes\":%d}}", steps[i]);
        gridems_service_config_t cfg;
        parse_ok(json, &cfg);
        ck_assert_int_eq(cfg.planner.step_minutes, steps[i]);
        gridems_service_config_free(&cfg);
    }
    gridems_service_config_t cfg;
    parse_ok("{\"site\":{\"id\":\"a123456789b123456789c123456789d123456789e123456789f123456789"
             "g123\",\"utc_offset\":\"-18:00\",\"export_limit_kw\":0},"
             "\"mqtt\":{\"uri\":\"mqtts://h:8883\",\"keepalive_s\":5,\"tls\":{}},"
             "\"planner\":{\"horizon_steps\":100000,\"debounce_ms\":60000,"
             "\"replan_seconds\":1,\"solve_time_limit_ms\":1},"
             "\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-01-01T00:00:00Z\","
             "\"speed\":1e6}," DIR ",\"plugins\":[]}",
             &cfg);
    ck_assert_int_eq((int)strlen(cfg.site.id), 64);
    ck_assert_int_eq(cfg.site.utc_offset_min, -1080);
    ck_assert(cfg.mqtt.has_tls);
    ck_assert(cfg.mqtt.tls.verify);
    ck_assert_ptr_null(cfg.mqtt.tls.ca_file);
    ck_assert_int_eq(cfg.planner.horizon_steps, 100000);
    ck_assert(cfg.clock.speed == 1e6);
    ck_assert_int_eq(cfg.n_plugins, 0);
    gridems_service_config_free(&cfg);
    /* The automatic margin, with penalties that outbid the demand charge per step-hour
     * (1800 / 0.5 h = 3600), is accepted; so is the edge of each new range. */
    parse_ok("{\"site\":{\"id\":\"s1\",\"demand_charge_per_kw\":1800}," MQTT "," DIR
             ",\"planner\":{\"step_minutes\":30,\"peak_margin\":\"auto\","
             "\"peak_margin_kw\":50,\"peak_margin_quantile\":0.9,"
             "\"peak_margin_window_steps\":10000,\"defer_power_fraction\":1,"
             "\"peak_margin_error\":\"base_load\","
             "\"penalties\":{\"unmet_flexible_per_kwh\":3600,"
             "\"final_soc_shortfall_per_kwh\":3600}}}",
             &cfg);
    ck_assert_int_eq(cfg.planner.peak_margin, GRIDEMS_PEAK_MARGIN_AUTO);
    ck_assert(cfg.planner.peak_margin_quantile == 0.9);
    ck_assert_int_eq(cfg.planner.peak_margin_window_steps, 10000);
    ck_assert(cfg.planner.defer_power_fraction == 1);
    ck_assert_int_eq(cfg.planner.peak_margin_error, GRIDEMS_MARGIN_ERROR_BASE_LOAD);
    gridems_service_config_free(&cfg);
}
END_TEST

/* ---- ## One row per rule ---- */

typedef struct bad_case_s {
    const char *json;
    int rc;
    const char *want; /* must appear in the message */
} bad_case_t;

#define BAD(body, want)                                                                            \
    {                                                                                              \
        "{" body "}", GRIDEMS_ECONFIG, want                                                        \
    }

static const bad_case_t bad_cases[] = {
    /* planner */
    BAD(BASE ",\"planner\":{\"step_minutes\":7}",
        "planner.step_minutes: must divide 60 or be a multiple of 60 dividing 1440, got 7"),
    BAD(BASE ",\"planner\":{\"step_minutes\":90}", "planner.step_minutes: must divide 60"),
    BAD(BASE ",\"planner\":{\"step_minutes\":0}", "planner.step_minutes: must divide 60"),
    BAD(BASE ",\"planner\":{\"step_minutes\":15.5}", "planner.step_minutes: must divide 60"),
    BAD(BASE ",\"planner\":{\"step_minutes\":2880}", "planner.step_minutes: must divide 60"),
    BAD(BASE ",\"planner\":{\"step_minutes\":900}", "planner.step_minutes: must divide 60"),
    BAD(BASE ",\"planner\":{\"horizon_steps\":0}",
        "planner.horizon_steps: must be an integer in 1..100000, got 0"),
    BAD(BASE ",\"planner\":{\"horizon_steps\":100001}", "planner.horizon_steps: must be an"),
    BAD(BASE ",\"planner\":{\"horizon_steps\":1.5}", "planner.horizon_steps: must be an integer"),
    BAD(BASE ",\"planner\":{\"replan_seconds\":0}", "planner.replan_seconds: must be an integer"),
    BAD(BASE ",\"planner\":{\"debounce_ms\":-1}", "planner.debounce_ms: must be an integer in"),
    BAD(BASE ",\"planner\":{\"debounce_ms\":60001}", "planner.debounce_ms: must be an integer"),
    BAD(BASE ",\"planner\":{\"solve_time_limit_ms\":0}", "planner.solve_time_limit_ms: must be"),
    BAD(BASE ",\"planner\":{\"deviation_kw\":0}", "planner.deviation_kw: must be a number > 0"),
    BAD(BASE ",\"planner\":{\"carbon_price_per_kg\":-1}",
        "planner.carbon_price_per_kg: must be a number >= 0, got -1"),
    BAD(BASE ",\"planner\":{\"peak_margin\":\"measured\"}",
        "planner.peak_margin: must be \"fixed\" or \"auto\", got \"measured\""),
    BAD(BASE ",\"planner\":{\"peak_margin_quantile\":0.9}",
        "planner.peak_margin_quantile: only allowed with planner.peak_margin \"auto\""),
    BAD(BASE ",\"planner\":{\"peak_margin_window_steps\":10}",
        "planner.peak_margin_window_steps: only allowed with planner.peak_margin \"auto\""),
    BAD(BASE ",\"planner\":{\"peak_margin\":\"auto\",\"peak_margin_quantile\":1}",
        "planner.peak_margin_quantile: must be a number in (0, 1), got 1"),
    BAD(BASE ",\"planner\":{\"peak_margin\":\"auto\",\"peak_margin_window_steps\":0}",
        "planner.peak_margin_window_steps: must be an integer in 1..10000, got 0"),
    BAD(BASE ",\"planner\":{\"peak_margin_error\":\"import\"}",
        "planner.peak_margin_error: only allowed with planner.peak_margin \"auto\""),
    BAD(BASE ",\"planner\":{\"peak_margin\":\"auto\",\"peak_margin_error\":\"load\"}",
        "planner.peak_margin_error: must be \"import\" or \"base_load\", got \"load\""),
    BAD(BASE ",\"planner\":{\"defer_power_fraction\":0}",
        "planner.defer_power_fraction: must be a number in (0, 1], got 0"),
    BAD(BASE ",\"planner\":{\"defer_power_fraction\":1.5}",
        "planner.defer_power_fraction: must be a number in (0, 1], got 1.5"),
    /* A margin band the penalties cannot outbid: 1800 per kW over half-hour steps is 3600. */
    BAD("\"site\":{\"id\":\"s1\",\"demand_charge_per_kw\":1800}," MQTT "," DIR
        ",\"planner\":{\"step_minutes\":30,\"peak_margin_kw\":600}",
        "planner.penalties.unmet_flexible_per_kwh: must be at least site.demand_charge_per_kw / "
        "step hours (3600) while a peak margin is set, got 1000"),
    BAD("\"site\":{\"id\":\"s1\",\"demand_charge_per_kw\":1800}," MQTT "," DIR
        ",\"planner\":{\"step_minutes\":30,\"peak_margin\":\"auto\","
        "\"penalties\":{\"unmet_flexible_per_kwh\":4000}}",
        "planner.penalties.final_soc_shortfall_per_kwh: must be at least"),
    BAD(BASE ",\"planner\":{\"penalties\":{\"unmet_flexible_per_kwh\":0}}",
        "planner.penalties.unmet_flexible_per_kwh: must be a number > 0"),
    BAD(BASE ",\"planner\":{\"penalties\":{\"unserved_load_per_kwh\":-5}}",
        "planner.penalties.unserved_load_per_kwh: must be a number > 0"),
    BAD(BASE ",\"planner\":{\"penalties\":{\"final_soc_shortfall_per_kwh\":0}}",
        "planner.penalties.final_soc_shortfall_per_kwh: must be a number > 0"),
    BAD(BASE ",\"planner\":{\"penalties\":{\"unmet_per_kwh\":1}}",
        "planner.penalties.unmet_per_kwh: unknown key"),
    BAD(BASE ",\"planner\":{\"battery_final_soc\":\"full\"}",
        "planner.battery_final_soc: must be \"initial\", \"none\", \"mid\" or \"value\", got "
        "\"full\""),
    BAD(BASE ",\"planner\":{\"running_step\":\"mean\"}",
        "planner.running_step: must be \"rest\" or \"whole\", got \"mean\""),
    BAD(BASE ",\"planner\":{\"peak_guard\":true}",
        "planner.peak_guard: must be an object, got boolean"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"enabled\":1}}",
        "planner.peak_guard.enabled: must be"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"interval_seconds\":0}}",
        "planner.peak_guard.interval_seconds: must be an integer in 1..3600, got 0"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"interval_seconds\":2.5}}",
        "planner.peak_guard.interval_seconds: must be an integer in 1..3600"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"margin_kw\":-1}}",
        "planner.peak_guard.margin_kw: must be a number >= 0, got -1"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"shed_compute\":\"no\"}}",
        "planner.peak_guard.shed_compute: must be"),
    BAD(BASE ",\"planner\":{\"peak_guard\":{\"interval\":10}}",
        "planner.peak_guard.interval: unknown key"),
    BAD(BASE ",\"planner\":{\"horizon_step\":96}",
        "planner.horizon_step: unknown key (did you mean \"horizon_steps\"?)"),
    /* site */
    BAD(MQTT "," DIR, "site: required"),
    BAD("\"site\":{}," MQTT "," DIR, "site.id: required"),
    BAD("\"site\":{\"id\":\"bad id\"}," MQTT "," DIR,
        "site.id: must be 1 to 64 characters of [A-Za-z0-9_-]"),
    BAD("\"site\":{\"id\":\"a123456789b123456789c123456789d123456789e123456789f123456789g1234\"}"
        "," MQTT "," DIR,
        "site.id: must be 1 to 64"),
    BAD("\"site\":{\"id\":\"\"}," MQTT "," DIR, "site.id: must not be empty"),
    BAD("\"site\":{\"id\":\"s\",\"utc_offset\":\"+9\"}," MQTT "," DIR,
        "site.utc_offset: must be +HH:MM or -HH:MM"),
    BAD("\"site\":{\"id\":\"s\",\"utc_offset\":\"+19:00\"}," MQTT "," DIR, "site.utc_offset: must"),
    BAD("\"site\":{\"id\":\"s\",\"utc_offset\":\"+09:60\"}," MQTT "," DIR, "site.utc_offset: must"),
    BAD("\"site\":{\"id\":\"s\",\"currency\":\"yen\"}," MQTT "," DIR,
        "site.currency: must be an ISO 4217 code"),
    BAD("\"site\":{\"id\":\"s\",\"import_limit_kw\":0}," MQTT "," DIR,
        "site.import_limit_kw: must be a number > 0, got 0"),
    BAD("\"site\":{\"id\":\"s\",\"import_limit_kw\":1e16}," MQTT "," DIR,
        "site.import_limit_kw: must be at most 1e+15"),
    BAD("\"site\":{\"id\":\"s\",\"import_limit_kw\":1e999}," MQTT "," DIR,
        "site.import_limit_kw: must be a finite number"),
    BAD("\"site\":{\"id\":\"s\",\"export_limit_kw\":-1}," MQTT "," DIR,
        "site.export_limit_kw: must be a number >= 0"),
    BAD("\"site\":{\"id\":\"s\",\"demand_charge_per_kw\":-0.5}," MQTT "," DIR,
        "site.demand_charge_per_kw: must be a number >= 0"),
    BAD("\"site\":{\"id\":\"s\",\"billing_period\":\"year\"}," MQTT "," DIR,
        "site.billing_period: must be \"month\", \"day\" or \"none\", got \"year\""),
    BAD("\"site\":{\"id\":\"s\",\"compute_limit_kw\":0}," MQTT "," DIR,
        "site.compute_limit_kw: must be a number > 0"),
    /* mqtt */
    BAD(SITE "," DIR, "mqtt: required"),
    BAD(SITE ",\"mqtt\":{}," DIR, "mqtt.uri: required"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"http://broker\"}," DIR,
        "mqtt.uri: must start with tcp://, ssl://, mqtt:// or mqtts://"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://\"}," DIR, "mqtt.uri: must name a host"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://a b\"}," DIR, "mqtt.uri: must name a host"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"keepalive_s\":4}," DIR,
        "mqtt.keepalive_s: must be an integer in 5..3600, got 4"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"keepalive_s\":3601}," DIR, "mqtt.keepalive_s"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"password\":\"p\"}," DIR,
        "mqtt.password: needs mqtt.username"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"tls\":{}}," DIR,
        "mqtt.tls: needs an ssl:// or mqtts:// mqtt.uri"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"ssl://h\",\"tls\":{\"key_file\":\"/k\"}}," DIR,
        "mqtt.tls.key_file: needs mqtt.tls.cert_file"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"ssl://h\",\"tls\":{\"verfy\":true}}," DIR,
        "mqtt.tls.verfy: unknown key (did you mean \"verify\"?)"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"ssl://h\",\"tls\":{\"verify\":\"yes\"}}," DIR,
        "mqtt.tls.verify: must be true or false, got string"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topic_prefix\":\"a/+/b\"}," DIR,
        "mqtt.topic_prefix: must not contain the wildcards"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topic_prefix\":\"a/b/\"}," DIR,
        "mqtt.topic_prefix: must not end with '/'"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topic_prefix\":\"$SYS/x\"}," DIR,
        "mqtt.topic_prefix: must not start with '$'"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topic_prefix\":\"a\\u0001b\"}," DIR,
        "mqtt.topic_prefix: must not contain control characters"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topics\":{\"price\":\"x/#\"}}," DIR,
        "mqtt.topics.price: must not contain the wildcards"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topics\":{\"price\":\"a\",\"carbon\":\"a\"}}," DIR,
        "mqtt.topics.carbon: same topic as mqtt.topics.price"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topics\":{\"cmd\":\"gridems/s1/status\"}}," DIR,
        "mqtt.topics.cmd: \"gridems/s1/status\" is one of the service's own output topics"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"topics\":{\"prices\":\"a\"}}," DIR,
        "mqtt.topics.prices: unknown key (did you mean \"price\"?)"),
    BAD(SITE ",\"mqtt\":{\"uri\":\"tcp://h\",\"client_id\":\"has space\"}," DIR,
        "mqtt.client_id: must be 1 to 256 printable ASCII characters"),
    /* clock */
    BAD(BASE ",\"clock\":{\"mode\":\"fast\"}",
        "clock.mode: must be \"real\" or \"simulated\", got \"fast\""),
    BAD(BASE ",\"clock\":{\"mode\":\"simulated\"}",
        "clock.start: required when clock.mode is \"simulated\""),
    BAD(BASE ",\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-05-11T00:00:00\"}",
        "clock.start: missing UTC offset"),
    BAD(BASE ",\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-05-11T00:00:00Z\",\"speed\":0}",
        "clock.speed: must be a number > 0 and <= 1e+06, got 0"),
    BAD(BASE ",\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-05-11T00:00:00Z\",\"speed\":2e6}",
        "clock.speed: must be a number > 0 and <= 1e+06"),
    BAD(BASE ",\"clock\":{\"start\":\"2026-05-11T00:00:00Z\"}",
        "clock.start: only allowed with clock.mode \"simulated\""),
    BAD(BASE ",\"clock\":{\"speed\":2}", "clock.speed: only allowed with clock.mode"),
    /* top level */
    BAD(SITE "," MQTT, "state_dir: required"),
    BAD(SITE "," MQTT ",\"state_dir\":\"\"", "state_dir: must not be empty"),
    BAD(BASE ",\"log_level\":\"verbose\"",
        "log_level: must be \"err\", \"warning\", \"notice\", \"info\" or \"debug\""),
    BAD(BASE ",\"log_level\":\"INFO\"", "log_level: must be"),
    BAD(BASE ",\"plugin_dir\":7", "plugin_dir: must be a string, got number"),
    BAD(BASE ",\"sit\":{}", "sit: unknown key (did you mean \"site\"?)"),
    BAD(BASE ",\"zzz_entirely_unrelated\":1",
        "zzz_entirely_unrelated: unknown key; expected one of: site, mqtt, planner"),
    /* plugins */
    BAD(BASE ",\"plugins\":{}", "plugins: must be an array, got object"),
    BAD(BASE ",\"plugins\":[1]", "plugins[0]: must be an object, got number"),
    BAD(BASE ",\"plugins\":[{\"plugin\":\"battery_sim\"}]", "plugins[0].name: required"),
    BAD(BASE ",\"plugins\":[" PLUGIN("bess1") "," PLUGIN("bess1") "]",
        "plugins[1].name: duplicate instance name \"bess1\" (also plugins[0].name)"),
    BAD(BASE ",\"plugins\":[" PLUGIN("bess.1") "]",
        "plugins[0].name: must be 1 to 63 characters of [A-Za-z0-9_-]"),
    BAD(BASE ",\"plugins\":[{\"plugin\":\"Battery\",\"name\":\"b\"}]",
        "plugins[0].plugin: must be 1 to 63 characters of [a-z0-9_]"),
    BAD(BASE ",\"plugins\":[{\"name\":\"b\"}]", "plugins[0]: give \"plugin\""),
    BAD(BASE ",\"plugins\":[{\"name\":\"b\",\"plugin\":\"x\",\"options\":[]}]",
        "plugins[0].options: must be an object, got array"),
    BAD(BASE ",\"plugins\":[{\"name\":\"b\",\"plugin\":\"x\",\"option\":{}}]",
        "plugins[0].option: unknown key (did you mean \"options\"?)"),
    BAD(BASE ",\"plugins\":[{\"name\":\"b\",\"plugin\":\"x\",\"path\":\"\"}]",
        "plugins[0].path: must not be empty"),
    /* duplicate keys, anywhere */
    BAD(BASE ",\"planner\":{\"step_minutes\":15,\"step_minutes\":30}",
        "planner.step_minutes: duplicate key"),
    BAD(BASE ",\"plugins\":[{\"name\":\"b\",\"plugin\":\"x\",\"options\":{\"a\":1,\"a\":2}}]",
        "plugins[0].options.a: duplicate key"),
    /* wrong types */
    BAD(BASE ",\"planner\":{\"step_minutes\":\"15\"}",
        "planner.step_minutes: must be a number, got string"),
    BAD("\"site\":{\"id\":5}," MQTT "," DIR, "site.id: must be a string, got number"),
    BAD(BASE ",\"planner\":[]", "planner: must be an object, got array"),
    BAD(BASE ",\"planner\":{\"penalties\":null}", "planner.penalties: must be an object, got null"),
    BAD("\"site\":\"s1\"," MQTT "," DIR, "site: must be an object, got string"),
    BAD(SITE ",\"mqtt\":{\"uri\":true}," DIR, "mqtt.uri: must be a string, got boolean"),
    BAD(BASE ",\"clock\":{\"mode\":\"simulated\",\"start\":\"2026-05-11T00:00:00Z\","
             "\"speed\":\"fast\"}",
        "clock.speed: must be a number, got string"),
    {"[1,2]", GRIDEMS_ECONFIG, "config: the top level must be an object, got array"},
    /* not JSON */
    {"{\"site\":{\"id\":\"s1\"", GRIDEMS_EPARSE, "config: JSON syntax error at line 1"},
    {"{\n  \"site\": {\n    \"id\": s1\n  }\n}", GRIDEMS_EPARSE,
     "config: JSON syntax error at line 3, column"},
    {"garbage", GRIDEMS_EPARSE, "config: JSON syntax error at line 1, column 1"},
    {"", GRIDEMS_EPARSE, "config: JSON syntax error"},
    {"{} {}", GRIDEMS_EPARSE, "unexpected data after the JSON document at line 1, column 4"},
};

START_TEST(each_rule_names_its_key)
{
    const bad_case_t *c = &bad_cases[_i];
    gridems_service_config_t cfg;
    char err[1024] = "";
    int rc = parse(c->json, &cfg, err, sizeof err);
    ck_assert_msg(rc == c->rc, "case %d: rc %d (%s), want %d; message: %s", _i, rc,
                  gridems_err_name(rc), c->rc, err);
    ck_assert_msg(strstr(err, c->want) != NULL, "case %d: message \"%s\" lacks \"%s\"", _i, err,
                  c->want);
    /* A failed parse leaves nothing to free. */
    ck_assert_ptr_null(cfg.root);
    ck_assert_ptr_null(cfg.site.id);
    ck_assert_ptr_null(cfg.plugins);
    gridems_service_config_free(&cfg);
}
END_TEST

START_TEST(nul_byte_and_trailing_whitespace)
{
    static const char text[] = "{\"site\":{\"id\":\"s1\"}\0}";
    gridems_service_config_t cfg;
    char err[256] = "";
    ck_assert_int_eq(gridems_service_config_parse(text, sizeof text - 1, &cfg, err, sizeof err),
                     GRIDEMS_EPARSE);
    ck_assert_msg(strstr(err, "NUL byte at line 1") != NULL, "%s", err);
    /* Trailing whitespace (a final newline) is fine; the text need not be NUL-terminated. */
    char buf[256];
    const char *ok = "{" BASE "}\n\t \r\n";
    size_t n = strlen(ok);
    memcpy(buf, ok, n);
    buf[n] = 'X'; /* not part of the text */
    ck_assert_int_eq(gridems_service_config_parse(buf, n, &cfg, err, sizeof err), 0);
    gridems_service_config_free(&cfg);
    /* A NULL error buffer is fine too. */
    ck_assert_int_eq(parse("{}", &cfg, NULL, 0), GRIDEMS_ECONFIG);
}
END_TEST

START_TEST(error_buffer_is_bounded)
{
    gridems_service_config_t cfg;
    char err[16];
    memset(err, 'Z', sizeof err);
    ck_assert_int_eq(parse("{" BASE ",\"planner\":{\"step_minutes\":7}}", &cfg, err, sizeof err),
                     GRIDEMS_ECONFIG);
    ck_assert_int_eq((int)strlen(err), 15);
}
END_TEST

/* ---- ## Files ---- */

START_TEST(load_prefixes_the_file_name)
{
    char *dir = test_make_tmpdir("svccfg");
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    ck_assert_int_eq(test_write_file(path, "{" BASE ",\"planner\":{\"step_minutes\":7}}"), 0);
    gridems_service_config_t cfg;
    char err[1024] = "";
    ck_assert_int_eq(gridems_service_config_load(path, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
    char want[600];
    snprintf(want, sizeof want, "%s: planner.step_minutes: must divide 60", path);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);

    snprintf(path, sizeof path, "%s/missing.json", dir);
    ck_assert_int_eq(gridems_service_config_load(path, &cfg, err, sizeof err), GRIDEMS_ENOENT);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);

    snprintf(path, sizeof path, "%s/good.json", dir);
    ck_assert_int_eq(test_write_file(path, "{" BASE "}"), 0);
    ck_assert_int_eq(gridems_service_config_load(path, &cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg.site.id, "s1");
    gridems_service_config_free(&cfg);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(example_config_parses)
{
    gridems_service_config_t cfg;
    char err[1024] = "";
    int rc = gridems_service_config_load(GRIDEMS_TEST_SOURCE_DIR "/config/gridems.example.json",
                                         &cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "example refused: %s", err);
    ck_assert_str_eq(cfg.site.id, "sakai-dc1");
    ck_assert_int_eq(cfg.site.utc_offset_min, 540);
    ck_assert_int_eq(cfg.clock.mode, GRIDEMS_CLOCK_SIMULATED);
    ck_assert_int_eq(cfg.n_plugins, 3);
    ck_assert_str_eq(cfg.plugins[0].plugin, "battery_sim");
    ck_assert_str_eq(cfg.plugins[1].plugin, "meter_sim");
    ck_assert_str_eq(cfg.plugins[2].plugin, "cluster_sim");
    ck_assert_str_eq(cfg.plugins[0].path, GRIDEMS_TEST_PLUGIN_DIR "/gridems_battery_sim.so");
    gridems_service_config_free(&cfg);
}
END_TEST

START_TEST(readme_documents_every_key)
{
    /* Each key the parser accepts appears in config/README.md as `key`. */
    static const char *const keys[] = {"id",
                                       "utc_offset",
                                       "currency",
                                       "import_limit_kw",
                                       "export_limit_kw",
                                       "demand_charge_per_kw",
                                       "billing_period",
                                       "compute_limit_kw",
                                       "uri",
                                       "client_id",
                                       "topic_prefix",
                                       "keepalive_s",
                                       "username",
                                       "password",
                                       "tls",
                                       "ca_file",
                                       "cert_file",
                                       "key_file",
                                       "verify",
                                       "topics",
                                       "price",
                                       "price_export",
                                       "carbon",
                                       "event",
                                       "cmd",
                                       "step_minutes",
                                       "horizon_steps",
                                       "replan_seconds",
                                       "debounce_ms",
                                       "solve_time_limit_ms",
                                       "deviation_kw",
                                       "carbon_price_per_kg",
                                       "penalties",
                                       "unmet_flexible_per_kwh",
                                       "unserved_load_per_kwh",
                                       "final_soc_shortfall_per_kwh",
                                       "battery_final_soc",
                                       "peak_margin_kw",
                                       "peak_guard",
                                       "enabled",
                                       "interval_seconds",
                                       "margin_kw",
                                       "shed_compute",
                                       "peak_margin",
                                       "peak_margin_quantile",
                                       "peak_margin_window_steps",
                                       "peak_margin_error",
                                       "defer_power_fraction",
                                       "mode",
                                       "start",
                                       "speed",
                                       "state_dir",
                                       "log_level",
                                       "plugin_dir",
                                       "plugins",
                                       "plugin",
                                       "name",
                                       "path",
                                       "options"};
    char *text = test_read_file(GRIDEMS_TEST_SOURCE_DIR "/config/README.md", NULL);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "| `%s` |", keys[i]);
        ck_assert_msg(strstr(text, quoted) != NULL, "README lacks a row for %s", keys[i]);
    }
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("service_config");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, minimal_config_gets_every_default);
    tcase_add_test(tc, full_config_reads_every_value);
    tcase_add_test(tc, accepted_edge_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_loop_test(tc, each_rule_names_its_key, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, nul_byte_and_trailing_whitespace);
    tcase_add_test(tc, error_buffer_is_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, load_prefixes_the_file_name);
    tcase_add_test(tc, example_config_parses);
    tcase_add_test(tc, readme_documents_every_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(config_suite());
}
