/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Logging: one line per message on stderr, "2026-05-11T00:00:00.123Z gridems[LEVEL] text", with
 * syslog levels. DEBUG lines are compiled in but filtered by the runtime level.
 *
 * Rate limiting (collectd's c_complain idea): a gridems_complaint_t remembers when its message was
 * last printed; gridems_log_complain() prints at most once per interval (doubling up to 1 hour)
 * and counts what it suppressed, so a dead device cannot flood the log. gridems_log_release()
 * prints one "recovered" line when the condition clears.
 *
 * Threads: gridems_log() may be called from any thread (each line is written with one fwrite
 * under a mutex). Complaint objects belong to one thread.
 */
#ifndef GRIDEMS_LOG_H
#define GRIDEMS_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GRIDEMS_LOG_ERR = 3,
    GRIDEMS_LOG_WARNING = 4,
    GRIDEMS_LOG_NOTICE = 5,
    GRIDEMS_LOG_INFO = 6,
    GRIDEMS_LOG_DEBUG = 7
} gridems_log_level_t;

/* Set the most verbose level printed (default INFO). Thread: any (the level is atomic). */
void gridems_log_set_level(gridems_log_level_t level);
gridems_log_level_t gridems_log_get_level(void);

/* Parse "err", "warning", "notice", "info", "debug". Returns 0 or -1. */
int gridems_log_level_parse(const char *name, gridems_log_level_t *out);

void gridems_log(gridems_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gridems_vlog(gridems_log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

typedef struct gridems_complaint_s {
    uint64_t last_ms;     /* monotonic time of the last printed line, 0 = never */
    uint64_t interval_ms; /* current back-off interval */
    uint64_t suppressed;  /* lines not printed since the last one */
    int active;           /* 1 while the condition holds */
} gridems_complaint_t;

/* clang-format off */
#define GRIDEMS_COMPLAINT_INIT {0, 0, 0, 0}
/* clang-format on */

/* Print (rate-limited) a complaint at `level`. Thread: the owner of c. */
void gridems_log_complain(gridems_complaint_t *c, gridems_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A fixed window instead of the back-off, for input that may be valid and invalid by turns (an
 * MQTT topic): at most one line per window_ms; the lines not printed are counted and the next
 * printed one says how many ("... (and 41 more in the last 60 s)"). Nothing resets it but time,
 * so valid messages in between cannot turn a flood of invalid ones into a flood of lines.
 * Thread: the owner of c. */
void gridems_log_windowed(gridems_complaint_t *c, uint64_t window_ms, gridems_log_level_t level,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The condition cleared: print fmt once at NOTICE if a complaint was active, and reset c. */
void gridems_log_release(gridems_complaint_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A message that repeats with other numbers while its cause lasts (a plan's shortfall: "plan 12:
 * 340 kWh unserved load ...", then "plan 13: 352 kWh ..."). It is news when its kind changes
 * (the text with every number that stands alone left out: "12" and "340" are numbers, "evt-7"
 * and "j3" are names), or when interval_ms of the caller's clock have passed since it was last
 * printed; gridems_news_check says whether to print and how many were held back since.
 * Pure: no clock or I/O of its own. Thread: the owner of n.
 */
typedef struct gridems_news_s {
    char kind[1024];    /* the last printed text without its numbers */
    int64_t printed_ms; /* when it was printed, on the caller's clock */
    uint64_t held;      /* messages of that kind not printed since */
    int printed;        /* 0 until the first */
} gridems_news_t;

/* Returns 1 when text is news at now_ms (then *held_since is how many messages of the last
 * printed kind were held back since it was printed, and the count restarts), 0 when it is not
 * (counted). */
int gridems_news_check(gridems_news_t *n, const char *text, int64_t now_ms, int64_t interval_ms,
                       uint64_t *held_since);

/* Forget what was printed: the next message is news (the cause went away and came back). */
void gridems_news_reset(gridems_news_t *n);

/* Log "<prefix><text>" at level when text is news at now_ms (gridems_news_check), with
 * " (N more like it since the last line)" when N were held back since; nothing otherwise.
 * prefix may be "". Thread: the owner of n. */
void gridems_news_log(gridems_news_t *n, gridems_log_level_t level, const char *prefix,
                      const char *text, int64_t now_ms, int64_t interval_ms);

/* Log text at notice when kind is news at now_ms (gridems_news_check on the kind, not the
 * text: the text may carry times that make every line a new kind), with " (N more since the
 * last notice)" when N were held back since; at info otherwise. For routine events an operator
 * should see now and then, every one kept at info. Thread: the owner of n. */
void gridems_news_log_or_info(gridems_news_t *n, const char *kind, const char *text, int64_t now_ms,
                              int64_t interval_ms);

#define gridems_log_err(...) gridems_log(GRIDEMS_LOG_ERR, __VA_ARGS__)
#define gridems_log_warn(...) gridems_log(GRIDEMS_LOG_WARNING, __VA_ARGS__)
#define gridems_log_notice(...) gridems_log(GRIDEMS_LOG_NOTICE, __VA_ARGS__)
#define gridems_log_info(...) gridems_log(GRIDEMS_LOG_INFO, __VA_ARGS__)
#define gridems_log_debug(...) gridems_log(GRIDEMS_LOG_DEBUG, __VA_ARGS__)

#endif
