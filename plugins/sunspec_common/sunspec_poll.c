/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loop-thread connection health shared by the SunSpec plugins; see sunspec_poll.h. */
#include "sunspec_poll.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

int64_t ss_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bad(const gridems_host_api_t *api, gridems_plugin_t *self, const char *key,
               const char *rule, int64_t got)
{
    api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"%s\" %s (got %" PRId64 ")", key, rule, got);
    return GRIDEMS_ECONFIG;
}

int ss_check_common(const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o)
{
    if (o->host == NULL || o->host[0] == '\0') {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR, "option \"host\" must not be empty");
        return GRIDEMS_ECONFIG;
    }
    if (o->port < 1 || o->port > 65535) {
        return bad(api, self, "port", "must be in 1..65535", o->port);
    }
    if (o->unit_id < 0 || o->unit_id > 247) {
        return bad(api, self, "unit_id", "must be in 0..247", o->unit_id);
    }
    if (o->base < -1 || o->base > 65534) {
        return bad(api, self, "base", "must be -1 (auto) or in 0..65534", o->base);
    }
    if (o->poll_ms < 50 || o->poll_ms > 3600000) {
        return bad(api, self, "poll_ms", "must be in 50..3600000", o->poll_ms);
    }
    if (o->timeout_ms < 10 || o->timeout_ms > 60000) {
        return bad(api, self, "timeout_ms", "must be in 10..60000", o->timeout_ms);
    }
    if (o->stale_after_ms < 1000 || o->stale_after_ms > UINT32_MAX) {
        return bad(api, self, "stale_after_ms", "must be in 1000..4294967295", o->stale_after_ms);
    }
    if (o->reconnect_max_ms < o->poll_ms || o->reconnect_max_ms > 3600000) {
        return bad(api, self, "reconnect_max_ms", "must be in poll_ms..3600000",
                   o->reconnect_max_ms);
    }
    return 0;
}

int ss_init_check(const gridems_host_api_t *api, gridems_plugin_t *self,
                  const gridems_config_t *cfg)
{
    if (!GRIDEMS_API_HAS(api, now_ms) || cfg->context == NULL) {
        return GRIDEMS_EABI;
    }
    const ss_common_opts_t *o = cfg->context; /* the first member of the plugin's options */
    return ss_check_common(api, self, o);
}

int ss_register_polled(const gridems_host_api_t *api, gridems_plugin_t *self,
                       const ss_common_opts_t *o, const gridems_device_desc_t *desc, void *userdata,
                       gridems_device_id_t *dev, gridems_timer_fn on_timer,
                       gridems_timer_id_t *timer)
{
    char inst[32];
    snprintf(inst, sizeof inst, "unit %d", (int)o->unit_id);
    gridems_device_desc_t named = *desc;
    named.instance = inst; /* copied by the host */
    int rc = api->register_device(self, &named, userdata, dev);
    if (rc < 0) {
        desc->destroy(0, userdata);
        return rc;
    }
    return api->timer_start(self, 0, (uint64_t)o->poll_ms, on_timer, userdata, timer);
}

void ss_link_setup(ss_link_t *l, const ss_common_opts_t *o)
{
    l->host = o->host;
    l->port = (int)o->port;
    l->unit_id = (int)o->unit_id;
    l->timeout_ms = (int)o->timeout_ms;
    l->base = (long)o->base;
}

int ss_health_may_try(const ss_health_t *h)
{
    return h->failures == 0 || ss_mono_ms() >= h->next_try_mono;
}

void ss_health_ok(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                  int64_t now)
{
    if (h->failures > 0 || h->stale) {
        api->log(self, GRIDEMS_PLUGIN_LOG_NOTICE,
                 "device answers again after %u failed attempts (%" PRId64 " s of host time)",
                 h->failures, h->down_host_ms > 0 ? (now - h->down_host_ms) / 1000 : 0);
    }
    h->failures = 0;
    h->next_try_mono = 0;
    h->ok_host_ms = now;
    h->down_host_ms = 0;
    h->stale = 0;
}

void ss_health_fail(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o, int64_t now, const char *err)
{
    if (h->failures == 0) {
        h->down_host_ms = now;
        api->log(self, GRIDEMS_PLUGIN_LOG_WARNING,
                 "device not answering: %s; reconnecting "
                 "with back-off",
                 err);
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_DEBUG, "attempt %u failed: %s", h->failures + 1, err);
    }
    int64_t wait = o->poll_ms;
    for (unsigned i = 0; i < h->failures && wait < o->reconnect_max_ms; i++) {
        wait *= 2;
    }
    if (wait > o->reconnect_max_ms) {
        wait = o->reconnect_max_ms;
    }
    h->failures++;
    h->next_try_mono = ss_mono_ms() + wait;
}

int ss_health_stale(ss_health_t *h, const gridems_host_api_t *api, gridems_plugin_t *self,
                    const ss_common_opts_t *o, int64_t now)
{
    int64_t since = h->ok_host_ms > 0 ? h->ok_host_ms : h->down_host_ms;
    if (h->failures == 0 || since == 0 || now - since < o->stale_after_ms) {
        return 0;
    }
    if (!h->stale) {
        h->stale = 1;
        api->log(self, GRIDEMS_PLUGIN_LOG_WARNING, "device silent for %" PRId64 " s: stale",
                 (now - since) / 1000);
    }
    return 1;
}

void ss_log_discovery(const gridems_host_api_t *api, gridems_plugin_t *self, const ss_link_t *l,
                      const char *used)
{
    char models[SS_CHAIN_MAX * 6];
    ss_chain_describe(&l->chain, models, sizeof models);
    api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
             "SunSpec device at %s:%d unit %d: SunS at %u, models found: %s; using %s "
             "(Mn \"%s\", Md \"%s\", SN \"%s\")",
             l->host, l->port, l->unit_id, (unsigned)l->chain.base, models, used, l->mn, l->md,
             l->sn);
}
