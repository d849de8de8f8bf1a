/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the simulated-device plugins; see sim_common.h. */
#include "sim_common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- ## Common options ---- */

static int check_common(const gridems_host_api_t *api, gridems_plugin_t *self,
                        const gridems__sim_common_opts_t *o)
{
    if (!gridems__sim_topic_prefix_valid(o->topic_prefix)) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"topic_prefix\" must be 1 to %d bytes without '+', '#', control "
                 "characters or a trailing '/' (got \"%s\")",
                 GRIDEMS__SIM_TOPIC_MAX, o->topic_prefix != NULL ? o->topic_prefix : "");
        return GRIDEMS_ECONFIG;
    }
    if (o->telemetry_interval_ms < 1 || o->telemetry_interval_ms > INT64_C(86400000) * 366) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"telemetry_interval_ms\" must be within 1 .. one year (got %" PRId64 ")",
                 o->telemetry_interval_ms);
        return GRIDEMS_ECONFIG;
    }
    if (o->stale_after_ms < 0 || o->stale_after_ms > (int64_t)UINT32_MAX) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"stale_after_ms\" must be within 0 .. %" PRIu32 " (got %" PRId64 ")",
                 UINT32_MAX, o->stale_after_ms);
        return GRIDEMS_ECONFIG;
    }
    if (o->tick_ms < 1 || o->tick_ms > 3600000) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"tick_ms\" must be within 1 .. 3600000 (got %" PRId64 ")", o->tick_ms);
        return GRIDEMS_ECONFIG;
    }
    return 0;
}

int gridems__sim_init_check(const gridems_host_api_t *api, gridems_plugin_t *self,
                            const gridems_config_t *cfg)
{
    if (!GRIDEMS_API_HAS(api, now_ms) || cfg->context == NULL) {
        return GRIDEMS_EABI;
    }
    const gridems__sim_common_opts_t *o = cfg->context; /* the first member of the options */
    return check_common(api, self, o);
}

int gridems__sim_bad_option(const gridems_host_api_t *api, gridems_plugin_t *self, const char *key,
                            const char *rule, double got)
{
    api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"%s\" %s (got %g)", key, rule, got);
    return GRIDEMS_ECONFIG;
}

/* ---- ## Validation ---- */

int gridems__sim_topic_prefix_valid(const char *prefix)
{
    if (prefix == NULL) {
        return 0;
    }
    size_t n = strlen(prefix);
    if (n == 0 || n > GRIDEMS__SIM_TOPIC_MAX || prefix[n - 1] == '/') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)prefix[i];
        if (c == '+' || c == '#' || c < 0x20 || c == 0x7F) {
            return 0;
        }
    }
    return 1;
}

int gridems__sim_ident_valid(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    size_t n = strlen(s);
    if (n == 0 || n > 63) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* ---- ## Random numbers ---- */

void gridems__sim_rng_seed(gridems__sim_rng_t *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t gridems__sim_rng_next(gridems__sim_rng_t *r)
{
    r->state += UINT64_C(0x9E3779B97F4A7C15);
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

double gridems__sim_rng_uniform(gridems__sim_rng_t *r)
{
    return (double)(gridems__sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double gridems__sim_hash_unit(uint64_t seed, int64_t x)
{
    gridems__sim_rng_t r;
    gridems__sim_rng_seed(&r, seed ^ ((uint64_t)x * UINT64_C(0xD1B54A32D192ED03)));
    gridems__sim_rng_next(&r);
    return gridems__sim_rng_uniform(&r) * 2.0 - 1.0;
}

/* ---- ## Complaints ---- */

void gridems__sim_complain(const gridems_host_api_t *api, gridems_plugin_t *self,
                           gridems__sim_complaint_t *c, int level, const char *fmt, ...)
{
    c->count++;
    if ((c->count & (c->count - 1)) != 0) {
        return; /* only the 1st, 2nd, 4th, 8th ... occurrence is logged */
    }
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->count == 1) {
        api->log(self, level, "%s", text);
    } else {
        api->log(self, level, "%s (%llu times so far; logging every power of two)", text,
                 (unsigned long long)c->count);
    }
}

void gridems__sim_complain_malformed(const gridems_host_api_t *api, gridems_plugin_t *self,
                                     gridems__sim_complaint_t *c, const char *what,
                                     const char *topic, const gridems__sim_jr_t *r)
{
    gridems__sim_complain(api, self, c, GRIDEMS_PLUGIN_LOG_WARNING,
                          "%s on %s ignored: %s at byte %zu", what, topic, r->error, r->at);
}

int gridems__sim_telemetry_takes(const gridems_host_api_t *api, gridems_plugin_t *self,
                                 gridems__sim_complaint_t *c, const char *topic, int64_t ts,
                                 int have, int64_t held_ts)
{
    /* Compared against now + the bound: ts is any int64_t a message carried, and ts - now could
     * overflow. */
    int64_t now = api->now_ms(self);
    int64_t limit = now + GRIDEMS_READING_MAX_AHEAD_MS;
    if (ts > limit) {
        gridems__sim_complain(api, self, c, GRIDEMS_PLUGIN_LOG_WARNING,
                              "driver: telemetry on %s ignored: ts %" PRId64
                              " is %.0f s ahead of the host clock (at most %d s)",
                              topic, ts, ((double)ts - (double)now) / 1000.0,
                              GRIDEMS_READING_MAX_AHEAD_MS / 1000);
        return 0;
    }
    return !have || ts >= held_ts || held_ts > limit;
}

void gridems__sim_complain_clock_back(const gridems_host_api_t *api, gridems_plugin_t *self,
                                      gridems__sim_complaint_t *c, int64_t behind_ms)
{
    gridems__sim_complain(api, self, c, GRIDEMS_PLUGIN_LOG_WARNING,
                          "gateway: the host clock went back by %" PRId64
                          " ms; the simulation continues from the new time",
                          behind_ms);
}

int gridems__sim_wire(gridems_plugin_t *self, const gridems_host_api_t *api, void *userdata,
                      const char *topic_telemetry, gridems_message_fn on_telemetry,
                      const char *topic_cmd, gridems_message_fn on_cmd, int tick_ms,
                      gridems_timer_fn tick)
{
    int rc = api->subscribe(self, topic_telemetry, on_telemetry, userdata);
    if (rc >= 0 && on_cmd != NULL) {
        rc = api->subscribe(self, topic_cmd, on_cmd, userdata);
    }
    gridems_timer_id_t timer;
    if (rc >= 0) {
        rc = api->timer_start(self, 0, (uint64_t)tick_ms, tick, userdata, &timer);
    }
    return rc < 0 ? rc : 0;
}

/* ---- ## Telemetry schedule ---- */

int gridems__sim_telemetry_due(const gridems__sim_telemetry_t *t, int64_t now, int64_t interval_ms)
{
    return !t->sent || now - t->last_ms >= interval_ms;
}

void gridems__sim_send_telemetry(const gridems_host_api_t *api, gridems_plugin_t *self,
                                 const char *topic, const gridems__sim_buf_t *w, int64_t state_ms,
                                 gridems__sim_telemetry_t *t)
{
    if (w->oom) {
        gridems__sim_complain(api, self, &t->failed, GRIDEMS_PLUGIN_LOG_ERR,
                              "gateway: out of memory writing telemetry");
        return;
    }
    int rc = api->publish(self, topic, w->data, w->len, 0, 0);
    if (rc < 0) {
        gridems__sim_complain(api, self, &t->failed, GRIDEMS_PLUGIN_LOG_WARNING,
                              "gateway: cannot publish telemetry on %s (error %d)", topic, rc);
    }
    t->sent = 1;
    t->last_ms = state_ms;
}
