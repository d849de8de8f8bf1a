/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What every part of the host shares while plugin code runs: fresh ids, the host clock, the
 * identifier rule and the per-callback budget with its report. The ground floor of the host: it
 * calls no other host file, so the lifecycle (host_core.c) can call down into the loop, the
 * devices and the subscriptions without any of them calling back up.
 */
#include <string.h>
#include <time.h>

#include "host_internal.h"

/* The per-call budget of a plugin callback on the loop thread (gridems/plugin.h). */
#define CALLBACK_BUDGET_NS UINT64_C(5000000)

uint32_t gridems__host_alloc_id(gridems__host_t *host, gridems_plugin_t *inst,
                                bool (*in_use)(gridems_plugin_t *inst, uint32_t id))
{
    /* At most as many tries as ids are held, which is far below 2^32. */
    for (;;) {
        host->next_id++;
        if (host->next_id == 0) {
            host->next_id = 1;
        }
        if (in_use == NULL || !in_use(inst, host->next_id)) {
            return host->next_id;
        }
    }
}

int64_t gridems__host_now(gridems__host_t *host)
{
    if (host->services.now_ms != NULL) {
        return host->services.now_ms(host->services.ctx);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool gridems__ident_valid(const char *s)
{
    if (s == NULL) {
        return false;
    }
    size_t n = strlen(s);
    if (n == 0 || n >= GRIDEMS__IDENT_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void gridems__check_budget(gridems_plugin_t *inst, const char *what, uint64_t start_ns)
{
    uint64_t spent = uv_hrtime() - start_ns;
    if (spent > CALLBACK_BUDGET_NS) {
        inst->overruns++;
        gridems_log_complain(&inst->slow, GRIDEMS_LOG_WARNING,
                             "%s %s took %.1f ms, over the 5 ms budget of a loop callback "
                             "(blocking I/O belongs in queue_work)",
                             inst->prefix, what, (double)spent / 1e6);
    }
}

void gridems__callback_ran(gridems_plugin_t *inst, const char *what, uint64_t start_ns)
{
    uint64_t spent = uv_hrtime() - start_ns;
    gridems__check_budget(inst, what, start_ns);
    const gridems__host_services_t *sv = &inst->host->services;
    /* An unloading instance is not judged: its record belongs to whatever replaces it. */
    if (sv->callback_timed != NULL && inst->state != GRIDEMS__INST_CLOSING) {
        sv->callback_timed(sv->ctx, inst, what, spent);
    }
}
