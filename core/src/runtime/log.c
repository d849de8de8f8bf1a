/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Written on SIGHUP (the loop thread), read by every thread that logs (the solver, Paho's,
 * plugins' work): atomic, relaxed, since no other data is published through it. */
static _Atomic int max_level = GRIDEMS_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};

void gridems_log_set_level(gridems_log_level_t level)
{
    atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

gridems_log_level_t gridems_log_get_level(void)
{
    return (gridems_log_level_t)atomic_load_explicit(&max_level, memory_order_relaxed);
}

int gridems_log_level_parse(const char *name, gridems_log_level_t *out)
{
    for (int i = GRIDEMS_LOG_ERR; i <= GRIDEMS_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (gridems_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void gridems_vlog(gridems_log_level_t level, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load_explicit(&max_level, memory_order_relaxed)) {
        return;
    }
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ gridems[%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, level_names[level]);
    if (n < 0) {
        return;
    }
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        len = sizeof line - 2; /* truncated: keep the line a line */
    }
    line[len++] = '\n';
    pthread_mutex_lock(&log_lock);
    fwrite(line, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void gridems_log(gridems_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gridems_vlog(level, fmt, ap);
    va_end(ap);
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum { COMPLAIN_FIRST_MS = 10000, COMPLAIN_MAX_MS = 3600000 };

void gridems_log_complain(gridems_complaint_t *c, gridems_log_level_t level, const char *fmt, ...)
{
    uint64_t now = monotonic_ms();
    c->active = 1;
    if (c->last_ms != 0 && now - c->last_ms < c->interval_ms) {
        c->suppressed++;
        return;
    }
    char text[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->suppressed > 0) {
        gridems_log(level, "%s (repeated %llu times since the last report)", text,
                    (unsigned long long)c->suppressed);
    } else {
        gridems_log(level, "%s", text);
    }
    c->suppressed = 0;
    c->last_ms = now;
    c->interval_ms = c->interval_ms == 0 ? COMPLAIN_FIRST_MS : c->interval_ms * 2;
    if (c->interval_ms > COMPLAIN_MAX_MS) {
        c->interval_ms = COMPLAIN_MAX_MS;
    }
}

void gridems_log_windowed(gridems_complaint_t *c, uint64_t window_ms, gridems_log_level_t level,
                          const char *fmt, ...)
{
    uint64_t now = monotonic_ms();
    c->active = 1;
    if (c->last_ms != 0 && now - c->last_ms < window_ms) {
        c->suppressed++;
        return;
    }
    char text[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->suppressed > 0) {
        gridems_log(level, "%s (and %llu more in the last %.0f s)", text,
                    (unsigned long long)c->suppressed, (double)(now - c->last_ms) / 1000.0);
    } else {
        gridems_log(level, "%s", text);
    }
    c->suppressed = 0;
    c->last_ms = now;
}

void gridems_log_release(gridems_complaint_t *c, const char *fmt, ...)
{
    if (!c->active) {
        return;
    }
    char text[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gridems_log(GRIDEMS_LOG_NOTICE, "%s", text);
    memset(c, 0, sizeof *c);
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* text with each number that stands alone (not inside a name such as evt-7 or j3) as '#'. */
static void kind_of(const char *text, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; text[i] != '\0' && o + 1 < len;) {
        bool starts = text[i] >= '0' && text[i] <= '9' && (i == 0 || !is_name_char(text[i - 1]));
        size_t end = i;
        while (starts && ((text[end] >= '0' && text[end] <= '9') || text[end] == '.')) {
            end++;
        }
        if (starts && !is_name_char(text[end])) {
            out[o++] = '#';
            i = end;
        } else {
            out[o++] = text[i++];
        }
    }
    out[o] = '\0';
}

int gridems_news_check(gridems_news_t *n, const char *text, int64_t now_ms, int64_t interval_ms,
                       uint64_t *held_since)
{
    char kind[sizeof n->kind];
    kind_of(text, kind, sizeof kind);
    if (n->printed && strcmp(kind, n->kind) == 0 && now_ms - n->printed_ms < interval_ms) {
        n->held++;
        return 0;
    }
    *held_since = n->held;
    snprintf(n->kind, sizeof n->kind, "%s", kind);
    n->printed_ms = now_ms;
    n->held = 0;
    n->printed = 1;
    return 1;
}

void gridems_news_reset(gridems_news_t *n)
{
    memset(n, 0, sizeof *n);
}

void gridems_news_log(gridems_news_t *n, gridems_log_level_t level, const char *prefix,
                      const char *text, int64_t now_ms, int64_t interval_ms)
{
    uint64_t held = 0;
    if (!gridems_news_check(n, text, now_ms, interval_ms, &held)) {
        return;
    }
    if (held > 0) {
        gridems_log(level, "%s%s (%llu more like it since the last line)", prefix, text,
                    (unsigned long long)held);
    } else {
        gridems_log(level, "%s%s", prefix, text);
    }
}

void gridems_news_log_or_info(gridems_news_t *n, const char *kind, const char *text, int64_t now_ms,
                              int64_t interval_ms)
{
    uint64_t held = 0;
    if (!gridems_news_check(n, kind, now_ms, interval_ms, &held)) {
        gridems_log(GRIDEMS_LOG_INFO, "%s", text);
    } else if (held > 0) {
        gridems_log(GRIDEMS_LOG_NOTICE, "%s (%llu more since the last notice)", text,
                    (unsigned long long)held);
    } else {
        gridems_log(GRIDEMS_LOG_NOTICE, "%s", text);
    }
}
