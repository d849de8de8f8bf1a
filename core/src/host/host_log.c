/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin host's logging: a plugin's log lines, prefixed and rate-limited per instance. */
#include <stdarg.h>
#include <stdio.h>

#include "host_internal.h"

/* Plugin log lines allowed per instance and second before lines are dropped and counted. */
#define LOG_LINES_PER_SECOND 100

/* Whether this line of inst may be printed; counts it, and reports what the last window dropped.
 * Any thread: a work_fn may log. */
static bool admit(gridems_plugin_t *inst)
{
    uint64_t now = uv_hrtime() / 1000000u;
    uint64_t dropped = 0;
    bool ok = true;
    pthread_mutex_lock(&inst->log_lock);
    if (now - inst->log_window_ms >= 1000) {
        dropped = inst->log_dropped;
        inst->log_dropped = 0;
        inst->log_window_ms = now;
        inst->log_lines = 0;
    }
    if (inst->log_lines >= LOG_LINES_PER_SECOND) {
        inst->log_dropped++;
        ok = false;
    } else {
        inst->log_lines++;
    }
    pthread_mutex_unlock(&inst->log_lock);
    if (dropped > 0) {
        gridems_log_warn("%s %llu log lines dropped by the rate limit", inst->prefix,
                         (unsigned long long)dropped);
    }
    return ok;
}

void gridems__log_v(gridems_plugin_t *inst, int level, const char *fmt, va_list ap)
{
    if (level < GRIDEMS_LOG_ERR) {
        level = GRIDEMS_LOG_ERR;
    } else if (level > GRIDEMS_LOG_DEBUG) {
        level = GRIDEMS_LOG_DEBUG;
    }
    if (level > (int)gridems_log_get_level() || fmt == NULL) {
        return;
    }
    if (inst != NULL && !admit(inst)) {
        return;
    }
    char text[1536];
    vsnprintf(text, sizeof text, fmt, ap);
    gridems_log((gridems_log_level_t)level, "%s %s", inst != NULL ? inst->prefix : "[plugin]",
                text);
}

void gridems__log(gridems_plugin_t *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gridems__log_v(inst, level, fmt, ap);
    va_end(ap);
}
