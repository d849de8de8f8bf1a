/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "service_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_reader.h"
#include "file_util.h"
#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "plugin_dir.h"
#include "timeutil.h"
#include "trust.h"

/* cJSON_ParseWithLengthOpts appeared in 1.7.13. */
#if CJSON_VERSION_MAJOR < 1 ||                                                                     \
    (CJSON_VERSION_MAJOR == 1 &&                                                                   \
     (CJSON_VERSION_MINOR < 7 || (CJSON_VERSION_MINOR == 7 && CJSON_VERSION_PATCH < 13)))
#error "gridems needs cJSON 1.7.13 or later"
#endif

/* A config is a hand-written file of a few kilobytes; anything this large is a mistake (a data
 * file passed by accident) and is refused before cJSON allocates a tree for it. */
#define MAX_CONFIG_BYTES ((size_t)16 * 1024 * 1024)
/* MQTT limits a topic to 65535 bytes; the prefix leaves room for the suffixes we append. */
#define MAX_TOPIC_BYTES 65535
#define MAX_PREFIX_BYTES (MAX_TOPIC_BYTES - 64)
#define MAX_CLIENT_ID 256
/* state_dir gets "/state.json.tmp.XXXXXX" appended and must still fit PATH_MAX (4096). */
#define MAX_DIR_BYTES 4000

/* ---- ## Value rules ---- */

/* 1..max characters of [A-Za-z0-9_-], plus '.' or only [a-z0-9_] as the flags say. */
static bool ident_ok(const char *s, size_t max, bool lower_only)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
        if (!lower_only) {
            ok = ok || (ch >= 'A' && ch <= 'Z') || ch == '-';
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Length of the UTF-8 sequence at s, or 0 when it is malformed (overlong forms, surrogates and
 * code points past U+10FFFF included); *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, unsigned long *cp)
{
    unsigned char b = s[0];
    size_t n;
    unsigned long v;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        n = 2;
        v = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
        n = 3;
        v = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
        n = 4;
        v = b & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const unsigned long min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return n;
}

/*
 * An MQTT topic name we may publish to or subscribe to as an exact name: valid UTF-8 (the MQTT
 * spec requires it), no control characters (the spec discourages them and they garble logs), no
 * wildcards ('+', '#'), not starting with '$' (reserved for the broker's own topics), and within
 * max_bytes. Returns NULL when valid, else the broken rule.
 */
static const char *topic_problem(const char *s, size_t max_bytes)
{
    size_t n = strlen(s);
    if (n == 0) {
        return "must not be empty";
    }
    if (n > max_bytes) {
        return "is too long for an MQTT topic";
    }
    if (s[0] == '$') {
        return "must not start with '$' (reserved for the broker)";
    }
    for (size_t i = 0; i < n;) {
        unsigned long cp = 0;
        size_t len = utf8_seq((const unsigned char *)s + i, &cp);
        if (len == 0) {
            return "must be valid UTF-8";
        }
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            return "must not contain control characters";
        }
        if (cp == '+' || cp == '#') {
            return "must not contain the wildcards '+' or '#'";
        }
        i += len;
    }
    return NULL;
}

/* "+HH:MM" / "-HH:MM" within the offset bound. */
static bool parse_offset(const char *s, int *out)
{
    if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') {
        return false;
    }
    const int digits[] = {1, 2, 4, 5};
    for (int i = 0; i < 4; i++) {
        if (s[digits[i]] < '0' || s[digits[i]] > '9') {
            return false;
        }
    }
    int hh = (s[1] - '0') * 10 + (s[2] - '0');
    int mm = (s[4] - '0') * 10 + (s[5] - '0');
    if (mm > 59) {
        return false;
    }
    int total = hh * 60 + mm;
    if (total > GRIDEMS_TIME_MAX_OFFSET_MIN) {
        return false;
    }
    *out = s[0] == '-' ? -total : total;
    return true;
}

static bool step_minutes_ok(int m)
{
    if (m <= 0) {
        return false;
    }
    if (m <= 60) {
        return 60 % m == 0;
    }
    return m % 60 == 0 && 1440 % m == 0;
}

/* ---- ## Sections ---- */

static int read_site(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"id",
                                       "utc_offset",
                                       "currency",
                                       "import_limit_kw",
                                       "export_limit_kw",
                                       "demand_charge_per_kw",
                                       "billing_period",
                                       "compute_limit_kw",
                                       NULL};
    static const char *const billing[] = {"month", "day", "none", NULL};
    const cJSON *site = NULL;
    int rc = gridems_cfg_get_object(c, root, "", "site", &site);
    if (rc != 0) {
        return rc;
    }
    if (site == NULL) {
        return gridems_cfg_fail(c, "site", "required (an object with at least \"id\")");
    }
    if ((rc = gridems_cfg_check_keys(c, site, "site", keys)) != 0) {
        return rc;
    }
    const char *id = NULL, *offset = NULL, *currency = NULL;
    if ((rc = gridems_cfg_get_string(c, site, "site", "id", &id)) != 0) {
        return rc;
    }
    if (id == NULL) {
        return gridems_cfg_fail(c, "site.id", "required");
    }
    if (!ident_ok(id, 64, false)) {
        return gridems_cfg_fail(c, "site.id",
                                "must be 1 to 64 characters of [A-Za-z0-9_-], got \"%.80s\"", id);
    }
    if ((rc = gridems_cfg_get_string(c, site, "site", "utc_offset", &offset)) != 0) {
        return rc;
    }
    cfg->site.utc_offset_min = 0;
    if (offset != NULL && !parse_offset(offset, &cfg->site.utc_offset_min)) {
        return gridems_cfg_fail(
            c, "site.utc_offset",
            "must be +HH:MM or -HH:MM within +-18:00 (e.g. \"+09:00\"), got \"%.40s\"", offset);
    }
    if ((rc = gridems_cfg_get_string(c, site, "site", "currency", &currency)) != 0) {
        return rc;
    }
    if (currency == NULL) {
        currency = "JPY";
    }
    if (strlen(currency) != 3 || currency[0] < 'A' || currency[0] > 'Z' || currency[1] < 'A' ||
        currency[1] > 'Z' || currency[2] < 'A' || currency[2] > 'Z') {
        return gridems_cfg_fail(
            c, "site.currency",
            "must be an ISO 4217 code of three upper-case letters, got \"%.40s\"", currency);
    }
    if ((rc = gridems_cfg_get_bounded(c, site, "site", "import_limit_kw", 0, true, 1e9, NULL,
                                      &cfg->site.import_limit_kw)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, site, "site", "export_limit_kw", 0, false, 0, NULL,
                                      &cfg->site.export_limit_kw)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, site, "site", "demand_charge_per_kw", 0, false, 0, NULL,
                                      &cfg->site.demand_charge_per_kw)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, site, "site", "compute_limit_kw", 0, true, 0,
                                      &cfg->site.has_compute_limit, &cfg->site.compute_limit_kw)) !=
            0) {
        return rc;
    }
    int bp = 0;
    if ((rc = gridems_cfg_get_enum(c, site, "site", "billing_period", billing,
                                   GRIDEMS_BILLING_MONTH, &bp)) != 0) {
        return rc;
    }
    cfg->site.billing_period = (gridems_billing_period_t)bp;
    if ((rc = gridems_cfg_strdup(c, id, &cfg->site.id)) != 0) {
        return rc;
    }
    return gridems_cfg_strdup(c, currency, &cfg->site.currency);
}

/* One input topic: the configured name or <prefix><suffix>. */
static int read_topic(gridems_cfg_t *c, const cJSON *topics, const char *key, const char *prefix,
                      const char *suffix, char **out)
{
    const char *t = NULL;
    int rc = topics != NULL ? gridems_cfg_get_string(c, topics, "mqtt.topics", key, &t) : 0;
    if (rc != 0) {
        return rc;
    }
    if (t == NULL) {
        return gridems_cfg_aprintf(c, out, "%s%s", prefix, suffix);
    }
    const char *why = topic_problem(t, MAX_TOPIC_BYTES);
    if (why != NULL) {
        char path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(path, "mqtt.topics", key);
        return gridems_cfg_fail(c, path, "%s, got \"%.80s\"", why, t);
    }
    return gridems_cfg_strdup(c, t, out);
}

static bool uri_is_tls(const char *uri)
{
    return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0;
}

static int read_tls(gridems_cfg_t *c, const cJSON *mqtt, const char *uri,
                    gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"ca_file", "cert_file", "key_file", "verify", NULL};
    const cJSON *tls = NULL;
    int rc = gridems_cfg_get_object(c, mqtt, "mqtt", "tls", &tls);
    if (rc != 0) {
        return rc;
    }
    if (tls == NULL) {
        /* An ssl:// URI alone means TLS with the system trust store and full verification;
         * without this, Paho got no TLS options and failed every connect with "Invalid (NULL)
         * parameter" (docs/security.md). */
        cfg->mqtt.has_tls = uri_is_tls(uri);
        cfg->mqtt.tls.verify = cfg->mqtt.has_tls;
        return 0;
    }
    if ((rc = gridems_cfg_check_keys(c, tls, "mqtt.tls", keys)) != 0) {
        return rc;
    }
    if (!uri_is_tls(uri)) {
        /* Paho would ignore the TLS settings and send the credentials in clear. */
        return gridems_cfg_fail(c, "mqtt.tls",
                                "needs an ssl:// or mqtts:// mqtt.uri, got \"%.80s\"", uri);
    }
    const char *ca = NULL, *cert = NULL, *key = NULL;
    if ((rc = gridems_cfg_get_string(c, tls, "mqtt.tls", "ca_file", &ca)) != 0 ||
        (rc = gridems_cfg_get_string(c, tls, "mqtt.tls", "cert_file", &cert)) != 0 ||
        (rc = gridems_cfg_get_string(c, tls, "mqtt.tls", "key_file", &key)) != 0 ||
        (rc = gridems_cfg_get_bool(c, tls, "mqtt.tls", "verify", true, &cfg->mqtt.tls.verify)) !=
            0) {
        return rc;
    }
    if (key != NULL && cert == NULL) {
        return gridems_cfg_fail(c, "mqtt.tls.key_file",
                                "needs mqtt.tls.cert_file (a key without a "
                                "certificate is useless)");
    }
    cfg->mqtt.has_tls = true;
    if ((rc = gridems_cfg_strdup(c, ca, &cfg->mqtt.tls.ca_file)) != 0 ||
        (rc = gridems_cfg_strdup(c, cert, &cfg->mqtt.tls.cert_file)) != 0) {
        return rc;
    }
    return gridems_cfg_strdup(c, key, &cfg->mqtt.tls.key_file);
}

static int read_mqtt(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"uri",      "client_id", "topic_prefix",  "keepalive_s",
                                       "username", "password",  "password_file", "tls",
                                       "topics",   NULL};
    static const char *const topic_keys[] = {"price", "price_export", "carbon",
                                             "event", "cmd",          NULL};
    const cJSON *mqtt = NULL;
    int rc = gridems_cfg_get_object(c, root, "", "mqtt", &mqtt);
    if (rc != 0) {
        return rc;
    }
    if (mqtt == NULL) {
        return gridems_cfg_fail(c, "mqtt", "required (an object with at least \"uri\")");
    }
    if ((rc = gridems_cfg_check_keys(c, mqtt, "mqtt", keys)) != 0) {
        return rc;
    }
    const char *uri = NULL, *client_id = NULL, *prefix = NULL, *user = NULL, *pass = NULL,
               *pass_file = NULL;
    if ((rc = gridems_cfg_get_string(c, mqtt, "mqtt", "uri", &uri)) != 0) {
        return rc;
    }
    if (uri == NULL) {
        return gridems_cfg_fail(c, "mqtt.uri", "required (e.g. \"tcp://127.0.0.1:1883\")");
    }
    static const char *const schemes[] = {"tcp://", "ssl://", "mqtt://", "mqtts://", NULL};
    size_t scheme_len = 0;
    for (const char *const *s = schemes; *s != NULL; s++) {
        if (strncmp(uri, *s, strlen(*s)) == 0) {
            scheme_len = strlen(*s);
        }
    }
    if (scheme_len == 0) {
        return gridems_cfg_fail(c, "mqtt.uri",
                                "must start with tcp://, ssl://, mqtt:// or mqtts://, got "
                                "\"%.80s\"",
                                uri);
    }
    if (uri[scheme_len] == '\0' || uri[scheme_len] == ':' || uri[scheme_len] == '/' ||
        !gridems_cfg_printable(uri)) {
        return gridems_cfg_fail(c, "mqtt.uri",
                                "must name a host after the scheme, without spaces, got "
                                "\"%.80s\"",
                                uri);
    }
    if ((rc = gridems_cfg_get_string(c, mqtt, "mqtt", "client_id", &client_id)) != 0) {
        return rc;
    }
    if (client_id != NULL &&
        (strlen(client_id) > MAX_CLIENT_ID || !gridems_cfg_printable(client_id))) {
        return gridems_cfg_fail(
            c, "mqtt.client_id",
            "must be 1 to %d printable ASCII characters without spaces, got \"%.80s\"",
            MAX_CLIENT_ID, client_id);
    }
    if ((rc = gridems_cfg_get_string(c, mqtt, "mqtt", "topic_prefix", &prefix)) != 0) {
        return rc;
    }
    if (prefix != NULL) {
        const char *why = topic_problem(prefix, MAX_PREFIX_BYTES);
        if (why == NULL && prefix[strlen(prefix) - 1] == '/') {
            why = "must not end with '/'";
        }
        if (why != NULL) {
            return gridems_cfg_fail(c, "mqtt.topic_prefix", "%s, got \"%.80s\"", why, prefix);
        }
    }
    if ((rc = gridems_cfg_get_int(c, mqtt, "mqtt", "keepalive_s", 5, 3600, 30,
                                  &cfg->mqtt.keepalive_s)) != 0 ||
        (rc = gridems_cfg_get_string(c, mqtt, "mqtt", "username", &user)) != 0 ||
        (rc = gridems_cfg_get_string(c, mqtt, "mqtt", "password", &pass)) != 0 ||
        (rc = gridems_cfg_get_string(c, mqtt, "mqtt", "password_file", &pass_file)) != 0) {
        return rc;
    }
    if (pass != NULL && user == NULL) {
        return gridems_cfg_fail(c, "mqtt.password", "needs mqtt.username");
    }
    if (pass_file != NULL && user == NULL) {
        return gridems_cfg_fail(c, "mqtt.password_file", "needs mqtt.username");
    }
    if (pass_file != NULL && pass != NULL) {
        return gridems_cfg_fail(
            c, "mqtt.password_file",
            "give mqtt.password or mqtt.password_file, not both (the file is preferred: "
            "it keeps the secret out of the config)");
    }
    if (pass_file != NULL && (pass_file[0] == '\0' || strlen(pass_file) > MAX_DIR_BYTES)) {
        return gridems_cfg_fail(
            c, "mqtt.password_file",
            "must be an absolute path or a systemd credential name of 1 to %d bytes",
            MAX_DIR_BYTES);
    }
    if ((rc = read_tls(c, mqtt, uri, cfg)) != 0) {
        return rc;
    }
    if ((rc = gridems_cfg_strdup(c, uri, &cfg->mqtt.uri)) != 0 ||
        (rc = gridems_cfg_strdup(c, user, &cfg->mqtt.username)) != 0 ||
        (rc = gridems_cfg_strdup(c, pass, &cfg->mqtt.password)) != 0 ||
        (rc = gridems_cfg_strdup(c, pass_file, &cfg->mqtt.password_file)) != 0) {
        return rc;
    }
    /* The pid makes two instances of the same site (a test and a live service, or a restart
     * overlapping the old process) distinct on the broker, which would otherwise kick one off. */
    rc = client_id != NULL ? gridems_cfg_strdup(c, client_id, &cfg->mqtt.client_id)
                           : gridems_cfg_aprintf(c, &cfg->mqtt.client_id, "gridems-%s-%ld",
                                                 cfg->site.id, (long)getpid());
    if (rc != 0) {
        return rc;
    }
    rc = prefix != NULL
             ? gridems_cfg_strdup(c, prefix, &cfg->mqtt.topic_prefix)
             : gridems_cfg_aprintf(c, &cfg->mqtt.topic_prefix, "gridems/%s", cfg->site.id);
    if (rc != 0) {
        return rc;
    }

    const cJSON *topics = NULL;
    if ((rc = gridems_cfg_get_object(c, mqtt, "mqtt", "topics", &topics)) != 0) {
        return rc;
    }
    if (topics != NULL &&
        (rc = gridems_cfg_check_keys(c, topics, "mqtt.topics", topic_keys)) != 0) {
        return rc;
    }
    const char *p = cfg->mqtt.topic_prefix;
    if ((rc = read_topic(c, topics, "price", p, "/in/price", &cfg->mqtt.topics.price)) != 0 ||
        (rc = read_topic(c, topics, "price_export", p, "/in/price/export",
                         &cfg->mqtt.topics.price_export)) != 0 ||
        (rc = read_topic(c, topics, "carbon", p, "/in/carbon", &cfg->mqtt.topics.carbon)) != 0 ||
        (rc = read_topic(c, topics, "event", p, "/in/event", &cfg->mqtt.topics.event)) != 0 ||
        (rc = read_topic(c, topics, "cmd", p, "/cmd", &cfg->mqtt.topics.cmd)) != 0) {
        return rc;
    }

    /* Two inputs on one topic could not be told apart, and subscribing to one of our own
     * outputs would feed the service its own messages. */
    const char *in[] = {cfg->mqtt.topics.price, cfg->mqtt.topics.price_export,
                        cfg->mqtt.topics.carbon, cfg->mqtt.topics.event, cfg->mqtt.topics.cmd};
    static const char *const outputs[] = {"/status", "/schedule", "/state"};
    for (int i = 0; i < 5; i++) {
        char path[GRIDEMS_CFG_PATH_CAP];
        gridems_cfg_join(path, "mqtt.topics", topic_keys[i]);
        for (int j = 0; j < i; j++) {
            if (strcmp(in[i], in[j]) == 0) {
                return gridems_cfg_fail(c, path, "same topic as mqtt.topics.%s (\"%.80s\")",
                                        topic_keys[j], in[i]);
            }
        }
        size_t plen = strlen(p);
        for (int k = 0; k < 3; k++) {
            if (strncmp(in[i], p, plen) == 0 && strcmp(in[i] + plen, outputs[k]) == 0) {
                return gridems_cfg_fail(
                    c, path, "\"%.80s\" is one of the service's own output topics", in[i]);
            }
        }
    }
    return 0;
}

/* planner.peak_guard: the real-time peak guard (core/src/service/service_guard.c). */
static int read_peak_guard(gridems_cfg_t *c, const cJSON *pl, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"enabled", "interval_seconds", "margin_kw", "shed_compute",
                                       NULL};
    const cJSON *pg = NULL;
    int rc = gridems_cfg_get_object(c, pl, "planner", "peak_guard", &pg);
    cJSON empty;
    memset(&empty, 0, sizeof empty);
    empty.type = cJSON_Object;
    if (rc != 0) {
        return rc;
    }
    if (pg == NULL) {
        pg = &empty;
    }
    if ((rc = gridems_cfg_check_keys(c, pg, "planner.peak_guard", keys)) != 0 ||
        (rc = gridems_cfg_get_bool(c, pg, "planner.peak_guard", "enabled", false,
                                   &cfg->planner.peak_guard.enabled)) != 0 ||
        (rc = gridems_cfg_get_int(c, pg, "planner.peak_guard", "interval_seconds", 1, 3600, 10,
                                  &cfg->planner.peak_guard.interval_seconds)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, pg, "planner.peak_guard", "margin_kw", 0, false, 0, NULL,
                                      &cfg->planner.peak_guard.margin_kw)) != 0 ||
        (rc = gridems_cfg_get_bool(c, pg, "planner.peak_guard", "shed_compute", true,
                                   &cfg->planner.peak_guard.shed_compute)) != 0) {
        return rc;
    }
    return 0;
}

/* The peak margin's rule (planner.peak_margin*) and the deferral assumption. */
static int read_margin(gridems_cfg_t *c, const cJSON *pl, gridems_service_config_t *cfg)
{
    static const char *const modes[] = {"fixed", "auto", NULL};
    static const char *const errors[] = {"import", "base_load", NULL};
    int mode = 0, what = 0, week = 7 * 1440 / cfg->planner.step_minutes;
    bool q_here = false, w_here = false, f_here = false;
    double q = 0.99, f = 0.5, w = 0;
    int rc = gridems_cfg_get_enum(c, pl, "planner", "peak_margin", modes, GRIDEMS_PEAK_MARGIN_FIXED,
                                  &mode);
    if (rc != 0 ||
        (rc = gridems_cfg_get_enum(c, pl, "planner", "peak_margin_error", errors,
                                   GRIDEMS_MARGIN_ERROR_IMPORT, &what)) != 0 ||
        (rc = gridems_cfg_get_number(c, pl, "planner", "peak_margin_quantile", &q_here, &q)) != 0 ||
        (rc = gridems_cfg_get_number(c, pl, "planner", "peak_margin_window_steps", &w_here, &w)) !=
            0 ||
        (rc = gridems_cfg_get_number(c, pl, "planner", "defer_power_fraction", &f_here, &f)) != 0) {
        return rc;
    }
    cfg->planner.peak_margin = (gridems_peak_margin_mode_t)mode;
    bool what_here = cJSON_GetObjectItemCaseSensitive(pl, "peak_margin_error") != NULL;
    cfg->planner.peak_margin_error = (gridems_margin_error_t)what;
    if (mode != GRIDEMS_PEAK_MARGIN_AUTO && (q_here || w_here || what_here)) {
        /* Refused rather than ignored, so nobody believes the margin follows the error. */
        return gridems_cfg_fail(c,
                                q_here   ? "planner.peak_margin_quantile"
                                : w_here ? "planner.peak_margin_window_steps"
                                         : "planner.peak_margin_error",
                                "only allowed with planner.peak_margin \"auto\"");
    }
    if (q_here && !(q > 0 && q < 1)) {
        return gridems_cfg_fail(c, "planner.peak_margin_quantile",
                                "must be a number in (0, 1), got %g", q);
    }
    cfg->planner.peak_margin_quantile = q;
    if ((rc = gridems_cfg_get_int(c, pl, "planner", "peak_margin_window_steps", 1,
                                  GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW,
                                  week < GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW
                                      ? week
                                      : GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW,
                                  &cfg->planner.peak_margin_window_steps)) != 0) {
        return rc;
    }
    if (f_here && !(f > 0 && f <= 1)) {
        return gridems_cfg_fail(c, "planner.defer_power_fraction",
                                "must be a number in (0, 1], got %g", f);
    }
    cfg->planner.defer_power_fraction = f;
    return 0;
}

/*
 * With a peak margin, plans see the margin band (the last peak_margin kW below the real peak) as
 * new peak at the demand charge, though the site has already paid for it. A plan may then leave
 * a job's energy or a battery's final target short rather than draw in the band: one kW more for
 * one step costs demand_charge_per_kw and delivers step-hours kWh. So each such penalty must be
 * worth at least the demand charge per step-hour, or the margin would defend a phantom peak at
 * the cost of late jobs (measured: at 1800 JPY/kW and 1000 JPY/kWh on 30-minute steps it did).
 */
static int check_penalties_beat_margin(gridems_cfg_t *c, const gridems_service_config_t *cfg)
{
    if (cfg->planner.peak_margin != GRIDEMS_PEAK_MARGIN_AUTO &&
        !(cfg->planner.peak_margin_kw > 0)) {
        return 0;
    }
    double hours = cfg->planner.step_minutes / 60.0;
    double least = cfg->site.demand_charge_per_kw / hours;
    if (cfg->planner.unmet_flexible_per_kwh < least) {
        return gridems_cfg_fail(
            c, "planner.penalties.unmet_flexible_per_kwh",
            "must be at least site.demand_charge_per_kw / step hours (%g) while a peak "
            "margin is set, got %g (plans would leave jobs unfinished rather than draw "
            "inside the margin)",
            least, cfg->planner.unmet_flexible_per_kwh);
    }
    if (cfg->planner.final_soc_shortfall_per_kwh < least) {
        return gridems_cfg_fail(
            c, "planner.penalties.final_soc_shortfall_per_kwh",
            "must be at least site.demand_charge_per_kw / step hours (%g) while a peak "
            "margin is set, got %g (plans would leave batteries short rather than draw "
            "inside the margin)",
            least, cfg->planner.final_soc_shortfall_per_kwh);
    }
    return 0;
}

static int read_planner(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"step_minutes",
                                       "horizon_steps",
                                       "replan_seconds",
                                       "debounce_ms",
                                       "solve_time_limit_ms",
                                       "deviation_kw",
                                       "carbon_price_per_kg",
                                       "penalties",
                                       "battery_final_soc",
                                       "peak_margin_kw",
                                       "peak_guard",
                                       "peak_margin",
                                       "peak_margin_quantile",
                                       "peak_margin_window_steps",
                                       "peak_margin_error",
                                       "defer_power_fraction",
                                       "running_step",
                                       "peak_target_days",
                                       NULL};
    static const char *const penalty_keys[] = {"unmet_flexible_per_kwh", "unserved_load_per_kwh",
                                               "final_soc_shortfall_per_kwh", NULL};
    static const char *const final_soc[] = {"initial", "none", "mid", "value", NULL};
    static const char *const running_step[] = {"rest", "whole", NULL};
    const cJSON *pl = NULL, *pen = NULL;
    int rc = gridems_cfg_get_object(c, root, "", "planner", &pl);
    if (rc != 0) {
        return rc;
    }
    /* An absent planner section is an empty one: every key has a default. */
    cJSON empty;
    memset(&empty, 0, sizeof empty);
    empty.type = cJSON_Object;
    if (pl == NULL) {
        pl = &empty;
    }
    if ((rc = gridems_cfg_check_keys(c, pl, "planner", keys)) != 0) {
        return rc;
    }
    bool step_here = false;
    double step = 15;
    if ((rc = gridems_cfg_get_number(c, pl, "planner", "step_minutes", &step_here, &step)) != 0) {
        return rc;
    }
    if (step_here &&
        (step != floor(step) || step < 1 || step > 1440 || !step_minutes_ok((int)step))) {
        return gridems_cfg_fail(c, "planner.step_minutes",
                                "must divide 60 or be a multiple of 60 dividing 1440, got %g",
                                step);
    }
    cfg->planner.step_minutes = (int)step;
    int fs = 0;
    int rs = 0;
    if ((rc = gridems_cfg_get_int(c, pl, "planner", "horizon_steps", 1,
                                  GRIDEMS_SERVICE_CONFIG_MAX_HORIZON_STEPS, 96,
                                  &cfg->planner.horizon_steps)) != 0 ||
        (rc = gridems_cfg_get_int(c, pl, "planner", "replan_seconds", 1,
                                  GRIDEMS_SERVICE_CONFIG_MAX_REPLAN_SECONDS, 300,
                                  &cfg->planner.replan_seconds)) != 0 ||
        (rc = gridems_cfg_get_int(c, pl, "planner", "debounce_ms", 0, 60000, 500,
                                  &cfg->planner.debounce_ms)) != 0 ||
        (rc = gridems_cfg_get_int(c, pl, "planner", "solve_time_limit_ms", 1,
                                  GRIDEMS_SERVICE_CONFIG_MAX_SOLVE_TIME_LIMIT_MS, 10000,
                                  &cfg->planner.solve_time_limit_ms)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, pl, "planner", "deviation_kw", 0, true, 0,
                                      &cfg->planner.has_deviation, &cfg->planner.deviation_kw)) !=
            0 ||
        (rc = gridems_cfg_get_bounded(c, pl, "planner", "carbon_price_per_kg", 0, false, 0, NULL,
                                      &cfg->planner.carbon_price_per_kg)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, pl, "planner", "peak_margin_kw", 0, false, 0, NULL,
                                      &cfg->planner.peak_margin_kw)) != 0 ||
        (rc = gridems_cfg_get_enum(c, pl, "planner", "battery_final_soc", final_soc,
                                   GRIDEMS_FINAL_SOC_INITIAL, &fs)) != 0 ||
        (rc = gridems_cfg_get_enum(c, pl, "planner", "running_step", running_step, 0, &rs)) != 0 ||
        (rc = gridems_cfg_get_int(c, pl, "planner", "peak_target_days", 0, 7, 0,
                                  &cfg->planner.peak_target_days)) != 0 ||
        (rc = gridems_cfg_get_object(c, pl, "planner", "penalties", &pen)) != 0) {
        return rc;
    }
    cfg->planner.battery_final_soc = (gridems_final_soc_t)fs;
    cfg->planner.running_step_whole = rs == 1;
    if ((rc = read_margin(c, pl, cfg)) != 0) {
        return rc;
    }
    if (pen == NULL) {
        pen = &empty;
    }
    if ((rc = gridems_cfg_check_keys(c, pen, "planner.penalties", penalty_keys)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, pen, "planner.penalties", "unmet_flexible_per_kwh", 0,
                                      true, 1000, NULL, &cfg->planner.unmet_flexible_per_kwh)) !=
            0 ||
        (rc = gridems_cfg_get_bounded(c, pen, "planner.penalties", "unserved_load_per_kwh", 0, true,
                                      10000, NULL, &cfg->planner.unserved_load_per_kwh)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, pen, "planner.penalties", "final_soc_shortfall_per_kwh", 0,
                                      true, 1000, NULL,
                                      &cfg->planner.final_soc_shortfall_per_kwh)) != 0) {
        return rc;
    }
    if ((rc = read_peak_guard(c, pl, cfg)) != 0) {
        return rc;
    }
    return check_penalties_beat_margin(c, cfg);
}

static int read_clock(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"mode", "start", "speed", NULL};
    static const char *const modes[] = {"real", "simulated", NULL};
    const cJSON *ck = NULL;
    int rc = gridems_cfg_get_object(c, root, "", "clock", &ck);
    cfg->clock.mode = GRIDEMS_CLOCK_REAL;
    cfg->clock.start_ms = 0;
    cfg->clock.speed = 1.0;
    if (rc != 0 || ck == NULL) {
        return rc;
    }
    if ((rc = gridems_cfg_check_keys(c, ck, "clock", keys)) != 0) {
        return rc;
    }
    int mode = 0;
    const char *start = NULL;
    bool speed_here = false;
    double speed = 1.0;
    if ((rc = gridems_cfg_get_enum(c, ck, "clock", "mode", modes, GRIDEMS_CLOCK_REAL, &mode)) !=
            0 ||
        (rc = gridems_cfg_get_string(c, ck, "clock", "start", &start)) != 0 ||
        (rc = gridems_cfg_get_number(c, ck, "clock", "speed", &speed_here, &speed)) != 0) {
        return rc;
    }
    if (mode == GRIDEMS_CLOCK_REAL) {
        /* Settings that would be ignored are refused, so nobody believes the service is
         * replaying a day while it runs on the wall clock. */
        if (start != NULL) {
            return gridems_cfg_fail(c, "clock.start", "only allowed with clock.mode \"simulated\"");
        }
        if (speed_here) {
            return gridems_cfg_fail(c, "clock.speed", "only allowed with clock.mode \"simulated\"");
        }
        return 0;
    }
    if (start == NULL) {
        return gridems_cfg_fail(c, "clock.start",
                                "required when clock.mode is \"simulated\" (an ISO time "
                                "with offset, e.g. \"2026-05-11T00:00:00+09:00\")");
    }
    char why[160] = "";
    if (gridems_time_parse_iso(start, &cfg->clock.start_ms, NULL, why, sizeof why) != 0) {
        return gridems_cfg_fail(c, "clock.start", "%s, got \"%.60s\"", why, start);
    }
    if (!(speed > 0) || speed > GRIDEMS_CLOCK_MAX_SPEED) {
        return gridems_cfg_fail(c, "clock.speed", "must be a number > 0 and <= %g, got %g",
                                GRIDEMS_CLOCK_MAX_SPEED, speed);
    }
    cfg->clock.mode = GRIDEMS_CLOCK_SIMULATED;
    cfg->clock.speed = speed;
    return 0;
}

static int read_plugin(gridems_cfg_t *c, const cJSON *item, int index,
                       gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"plugin", "name", "path", "options", NULL};
    char path[GRIDEMS_CFG_PATH_CAP];
    snprintf(path, sizeof path, "plugins[%d]", index);
    if (!cJSON_IsObject(item)) {
        return gridems_cfg_fail(c, path, "must be an object, got %s",
                                gridems__json_type_name(item));
    }
    int rc = gridems_cfg_check_keys(c, item, path, keys);
    if (rc != 0) {
        return rc;
    }
    const char *plugin = NULL, *name = NULL, *so = NULL;
    const cJSON *options = NULL;
    char key_path[GRIDEMS_CFG_PATH_CAP];
    if ((rc = gridems_cfg_get_string(c, item, path, "name", &name)) != 0) {
        return rc;
    }
    gridems_cfg_join(key_path, path, "name");
    if (name == NULL) {
        return gridems_cfg_fail(c, key_path, "required (the instance name, e.g. \"bess1\")");
    }
    if (!ident_ok(name, GRIDEMS_SERVICE_CONFIG_MAX_NAME, false)) {
        return gridems_cfg_fail(c, key_path,
                                "must be 1 to %d characters of [A-Za-z0-9_-], got \"%.80s\"",
                                GRIDEMS_SERVICE_CONFIG_MAX_NAME, name);
    }
    for (int j = 0; j < index; j++) {
        if (strcmp(cfg->plugins[j].name, name) == 0) {
            return gridems_cfg_fail(
                c, key_path, "duplicate instance name \"%s\" (also plugins[%d].name)", name, j);
        }
    }
    if ((rc = gridems_cfg_get_string(c, item, path, "plugin", &plugin)) != 0 ||
        (rc = gridems_cfg_get_string(c, item, path, "path", &so)) != 0 ||
        (rc = gridems_cfg_get_object(c, item, path, "options", &options)) != 0) {
        return rc;
    }
    if (plugin != NULL && !ident_ok(plugin, 63, true)) {
        gridems_cfg_join(key_path, path, "plugin");
        return gridems_cfg_fail(c, key_path,
                                "must be 1 to 63 characters of [a-z0-9_], got \"%.80s\"", plugin);
    }
    if (plugin == NULL && so == NULL) {
        return gridems_cfg_fail(
            c, path,
            "give \"plugin\" (a plugin name such as \"battery_sim\") or \"path\" "
            "(a shared object file)");
    }
    gridems_service_plugin_t *p = &cfg->plugins[index];
    p->instance = item;
    p->options = options;
    p->explicit_path = so != NULL;
    if ((rc = gridems_cfg_strdup(c, name, &p->name)) != 0 ||
        (rc = gridems_cfg_strdup(c, plugin, &p->plugin)) != 0) {
        return rc;
    }
    return so != NULL
               ? gridems_cfg_strdup(c, so, &p->path)
               : gridems_cfg_aprintf(c, &p->path, "%s/gridems_%s.so", cfg->plugin_dir, plugin);
}

/* reliability: plausibility bounds and the stuck-plugin rule (docs/service.md, "Reliability"). */
static int read_reliability(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"max_power_factor",      "implausible_hold_seconds",
                                       "plugin_call_budget_ms", "plugin_overruns",
                                       "plugin_retry_seconds",  NULL};
    const cJSON *r = NULL;
    int rc = gridems_cfg_get_object(c, root, "", "reliability", &r);
    cJSON empty;
    memset(&empty, 0, sizeof empty);
    empty.type = cJSON_Object;
    if (rc != 0) {
        return rc;
    }
    if (r == NULL) {
        r = &empty;
    }
    if ((rc = gridems_cfg_check_keys(c, r, "reliability", keys)) != 0 ||
        (rc = gridems_cfg_get_bounded(c, r, "reliability", "max_power_factor", 1, false, 4, NULL,
                                      &cfg->reliability.max_power_factor)) != 0 ||
        (rc = gridems_cfg_get_int(c, r, "reliability", "implausible_hold_seconds", 0, 86400, 300,
                                  &cfg->reliability.implausible_hold_seconds)) != 0 ||
        (rc = gridems_cfg_get_int(c, r, "reliability", "plugin_call_budget_ms", 1, 60000, 1000,
                                  &cfg->reliability.plugin_call_budget_ms)) != 0 ||
        (rc = gridems_cfg_get_int(c, r, "reliability", "plugin_overruns", 1, 1000, 3,
                                  &cfg->reliability.plugin_overruns)) != 0 ||
        (rc = gridems_cfg_get_int(c, r, "reliability", "plugin_retry_seconds", 1, 86400, 60,
                                  &cfg->reliability.plugin_retry_seconds)) != 0) {
        return rc;
    }
    return 0;
}

static int read_top(gridems_cfg_t *c, const cJSON *root, gridems_service_config_t *cfg)
{
    static const char *const keys[] = {"site",      "mqtt",        "planner",    "clock",
                                       "state_dir", "log_level",   "plugin_dir", "plugins",
                                       "http",      "reliability", "openadr",    NULL};
    static const char *const levels[] = {"err", "warning", "notice", "info", "debug", NULL};
    int rc = gridems_cfg_check_keys(c, root, "", keys);
    if (rc != 0 || (rc = read_site(c, root, cfg)) != 0 || (rc = read_mqtt(c, root, cfg)) != 0 ||
        (rc = read_planner(c, root, cfg)) != 0 || (rc = read_clock(c, root, cfg)) != 0 ||
        (rc = gridems_http_config_read(root, &cfg->http, c->err, c->errlen)) != 0 ||
        (rc = read_reliability(c, root, cfg)) != 0) {
        return rc;
    }
    if ((rc = gridems_openadr_config_read(root, &cfg->openadr, c->err, c->errlen)) != 0) {
        return rc;
    }

    const char *state_dir = NULL, *plugin_dir = NULL;
    if ((rc = gridems_cfg_get_string(c, root, "", "state_dir", &state_dir)) != 0) {
        return rc;
    }
    if (state_dir == NULL) {
        return gridems_cfg_fail(c, "state_dir",
                                "required (the directory where state.json is kept)");
    }
    if (strlen(state_dir) > MAX_DIR_BYTES) {
        return gridems_cfg_fail(c, "state_dir", "must be at most %d bytes long", MAX_DIR_BYTES);
    }
    int level = 3;
    if ((rc = gridems_cfg_get_enum(c, root, "", "log_level", levels, 3, &level)) != 0) {
        return rc;
    }
    gridems_log_level_parse(levels[level], &cfg->log_level);
    if ((rc = gridems_cfg_get_string(c, root, "", "plugin_dir", &plugin_dir)) != 0) {
        return rc;
    }
    if (plugin_dir != NULL && strlen(plugin_dir) > MAX_DIR_BYTES) {
        return gridems_cfg_fail(c, "plugin_dir", "must be at most %d bytes long", MAX_DIR_BYTES);
    }
    if ((rc = gridems_cfg_strdup(c, state_dir, &cfg->state_dir)) != 0 ||
        (rc = gridems_cfg_strdup(c, plugin_dir != NULL ? plugin_dir : gridems__default_plugin_dir(),
                                 &cfg->plugin_dir)) != 0) {
        return rc;
    }

    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
    if (plugins == NULL) {
        return 0;
    }
    if (!cJSON_IsArray(plugins)) {
        return gridems_cfg_fail(c, "plugins", "must be an array, got %s",
                                gridems__json_type_name(plugins));
    }
    int n = cJSON_GetArraySize(plugins);
    if (n > GRIDEMS_SERVICE_CONFIG_MAX_PLUGINS) {
        return gridems_cfg_fail(c, "plugins", "at most %d instances, got %d",
                                GRIDEMS_SERVICE_CONFIG_MAX_PLUGINS, n);
    }
    if (n == 0) {
        return 0;
    }
    cfg->plugins = calloc((size_t)n, sizeof *cfg->plugins);
    if (cfg->plugins == NULL) {
        return gridems_cfg_oom(c);
    }
    int i = 0;
    for (const cJSON *it = plugins->child; it != NULL; it = it->next, i++) {
        /* Count as we go, so free() releases exactly what was filled. */
        cfg->n_plugins = i + 1;
        if ((rc = read_plugin(c, it, i, cfg)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- ## Public functions ---- */

int gridems_service_config_parse(const char *text, size_t len, gridems_service_config_t *cfg,
                                 char *err, size_t errlen)
{
    gridems_cfg_t c = {.err = err, .errlen = errlen};
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (cfg == NULL) {
        return gridems_cfg_fail_code(&c, GRIDEMS_EINVAL, "", "no config given");
    }
    memset(cfg, 0, sizeof *cfg);
    int rc = gridems_cfg_parse_document(&c, text, len, MAX_CONFIG_BYTES, &cfg->root);
    if (rc == 0) {
        rc = read_top(&c, cfg->root, cfg);
    }
    if (rc != 0) {
        gridems_service_config_free(cfg);
    }
    return rc;
}

/* The secrets named by a parsed config: read, or checked (core/src/host/trust.h). */
static int load_secrets(const char *config_path, gridems_service_config_t *cfg, char *err,
                        size_t errlen)
{
    int rc = 0;
    if (cfg->mqtt.password_file != NULL) {
        char *path = NULL;
        rc =
            gridems__secret_path(cfg->mqtt.password_file, "mqtt.password_file", &path, err, errlen);
        if (rc == 0) {
            rc = gridems__secret_read(path, "mqtt.password_file", &cfg->mqtt.password, err, errlen);
        }
        free(path);
    } else if (cfg->mqtt.password != NULL) {
        gridems__warn_if_readable(config_path, "an inline mqtt.password");
    }
    if (rc == 0 && cfg->mqtt.tls.key_file != NULL) {
        rc = gridems__secret_check(cfg->mqtt.tls.key_file, "mqtt.tls.key_file", err, errlen);
    }
    if (rc != 0) {
        gridems_service_config_free(cfg);
    }
    return rc;
}

int gridems_service_config_load(const char *path, gridems_service_config_t *cfg, char *err,
                                size_t errlen)
{
    if (path == NULL || cfg == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "config: no file given");
        }
        return GRIDEMS_EINVAL;
    }
    memset(cfg, 0, sizeof *cfg);
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(path, &text, &len);
    if (rc != 0) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, gridems_strerror(rc));
        }
        return rc;
    }
    char inner[768] = "";
    rc = gridems_service_config_parse(text, len, cfg, inner, sizeof inner);
    free(text);
    if (rc == 0) {
        rc = load_secrets(path, cfg, inner, sizeof inner);
    }
    if (rc != 0 && err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s: %s", path, inner);
    }
    return rc;
}

void gridems_service_config_free(gridems_service_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->site.id);
    free(cfg->site.currency);
    free(cfg->mqtt.uri);
    free(cfg->mqtt.client_id);
    free(cfg->mqtt.topic_prefix);
    free(cfg->mqtt.username);
    if (cfg->mqtt.password != NULL) {
        /* Wipe the secret before the allocator hands the memory to anyone else. */
        volatile char *wipe = cfg->mqtt.password;
        for (size_t i = 0; wipe[i] != '\0'; i++) {
            wipe[i] = 0;
        }
    }
    free(cfg->mqtt.password);
    free(cfg->mqtt.password_file);
    free(cfg->mqtt.tls.ca_file);
    free(cfg->mqtt.tls.cert_file);
    free(cfg->mqtt.tls.key_file);
    free(cfg->mqtt.topics.price);
    free(cfg->mqtt.topics.price_export);
    free(cfg->mqtt.topics.carbon);
    free(cfg->mqtt.topics.event);
    free(cfg->mqtt.topics.cmd);
    free(cfg->state_dir);
    free(cfg->plugin_dir);
    for (int i = 0; i < cfg->n_plugins; i++) {
        free(cfg->plugins[i].plugin);
        free(cfg->plugins[i].name);
        free(cfg->plugins[i].path);
    }
    free(cfg->plugins);
    gridems_http_config_free(&cfg->http);
    gridems_openadr_config_free(&cfg->openadr);
    cJSON_Delete(cfg->root);
    memset(cfg, 0, sizeof *cfg);
}

const char *gridems_service_config_billing_name(gridems_billing_period_t p)
{
    switch (p) {
    case GRIDEMS_BILLING_MONTH:
        return "month";
    case GRIDEMS_BILLING_DAY:
        return "day";
    case GRIDEMS_BILLING_NONE:
        return "none";
    }
    return "?";
}

const char *gridems_service_config_final_soc_name(gridems_final_soc_t f)
{
    switch (f) {
    case GRIDEMS_FINAL_SOC_INITIAL:
        return "initial";
    case GRIDEMS_FINAL_SOC_NONE:
        return "none";
    case GRIDEMS_FINAL_SOC_MID:
        return "mid";
    case GRIDEMS_FINAL_SOC_VALUE:
        return "value";
    }
    return "?";
}
