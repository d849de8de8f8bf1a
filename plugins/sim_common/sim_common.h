/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Helpers shared by the simulated-device plugins (battery_sim, meter_sim, cluster_sim). This is
 * not a plugin (the directory has no CMakeLists.txt): each simulator compiles sim_common.c into
 * its own shared object, where -fvisibility=hidden keeps these symbols private.
 *
 * What is here, and why each plugin needs it:
 *   - a growable text buffer with a small JSON writer, for the telemetry and command messages
 *     (the plugins must not depend on cJSON, so that they survive a cJSON upgrade of the host);
 *   - a tolerant pull reader for the same flat JSON messages: unknown keys are skipped, so a
 *     newer gateway can add fields without breaking an older driver;
 *   - ISO 8601 timestamps, a CSV line splitter and a bounded file reader for profile and job
 *     files;
 *   - a deterministic random generator (noise and job arrivals must repeat for a given seed);
 *   - a count-based complaint limiter for log lines about bad messages.
 * The command protocol of the simulators that take commands is in sim_command.h.
 *
 * Everything here uses only the C library, runs on the caller's thread and keeps no global
 * state, so several instances may use it at once.
 */
#ifndef GRIDEMS_SIM_COMMON_H
#define GRIDEMS_SIM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "gridems/plugin.h"

/* Host-clock milliseconds per hour, as a double for energy integration. */
#define GRIDEMS__SIM_MS_PER_HOUR 3600000.0

/* Longest topic prefix accepted by the simulators (the suffixes are added to it). */
#define GRIDEMS__SIM_TOPIC_MAX 200

/* ---- ## Text buffer and JSON writer ---- */

/*
 * A growable NUL-terminated text buffer. Embedded by the caller and zero-initialised; release it
 * with gridems__sim_buf_free(). An allocation failure sets oom and makes every later append a
 * no-op, so a writer checks oom once at the end.
 */
typedef struct gridems__sim_buf_s {
    char *data;
    size_t len;
    size_t cap;
    int oom;
    /* JSON writer state: one bit per nesting level, set when the level already holds an item
     * (so the next item needs a comma). */
    uint32_t need_comma;
    int depth;
    int after_key; /* a key was just written: its value needs no comma */
} gridems__sim_buf_t;

void gridems__sim_buf_free(gridems__sim_buf_t *b);
void gridems__sim_buf_reset(gridems__sim_buf_t *b);
void gridems__sim_buf_printf(gridems__sim_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The JSON writer. Objects and arrays nest up to 31 levels; commas are inserted automatically.
 * Numbers are written in the shortest form that reads back to the same double, so a reader gets
 * exactly the value the writer had (the tests compare integrated energies exactly). Non-finite
 * numbers are written as null. Strings are escaped.
 */
void gridems__sim_json_begin_object(gridems__sim_buf_t *b);
void gridems__sim_json_end_object(gridems__sim_buf_t *b);
void gridems__sim_json_begin_array(gridems__sim_buf_t *b);
void gridems__sim_json_end_array(gridems__sim_buf_t *b);
void gridems__sim_json_key(gridems__sim_buf_t *b, const char *key);
void gridems__sim_json_num(gridems__sim_buf_t *b, double v);
void gridems__sim_json_int(gridems__sim_buf_t *b, int64_t v);
void gridems__sim_json_bool(gridems__sim_buf_t *b, int v);
void gridems__sim_json_str(gridems__sim_buf_t *b, const char *s);
/* Shorthands for a key and its value inside an object. */
void gridems__sim_json_kv_num(gridems__sim_buf_t *b, const char *key, double v);
void gridems__sim_json_kv_int(gridems__sim_buf_t *b, const char *key, int64_t v);
void gridems__sim_json_kv_bool(gridems__sim_buf_t *b, const char *key, int v);
void gridems__sim_json_kv_str(gridems__sim_buf_t *b, const char *key, const char *s);

/* ---- ## JSON pull reader ---- */

/*
 * A reader over one JSON text (borrowed; it must stay valid while the reader is used). The caller
 * walks the structure it expects and skips the rest:
 *
 *   gridems__sim_jr_t r;
 *   gridems__sim_jr_init(&r, text, len);
 *   if (gridems__sim_jr_begin_object(&r) == 0) {
 *       char key[64];
 *       while (gridems__sim_jr_next_key(&r, key, sizeof key) == 1) {
 *           if (strcmp(key, "power_kw") == 0) gridems__sim_jr_number(&r, &power);
 *           else gridems__sim_jr_skip(&r);
 *       }
 *   }
 *   if (gridems__sim_jr_finish(&r) < 0) ... r.error says why ...
 *
 * Every function returns a negative value on a syntax or type error and records the first error
 * (error, at); after an error every call fails, so a loop always ends. Nesting is limited to 31
 * levels. A member name given twice in one object is an error (the host's JSON rule: which of
 * the two meant it is a guess), and so are more than GRIDEMS__SIM_JR_MAX_MEMBERS members in
 * the open objects together (the messages and files read this way are small and flat).
 */
#define GRIDEMS__SIM_JR_MAX_MEMBERS 64
typedef struct gridems__sim_jr_s {
    const char *start;
    const char *p;
    const char *end;
    const char *error; /* static text, NULL while the text is fine */
    size_t at;         /* byte offset of the error */
    uint32_t need_comma;
    int depth;
    /* Where each member name of the open objects starts in the text (innermost object last;
     * seen_from[d] is the first of level d), so that a name given twice is an error. */
    const char *seen[GRIDEMS__SIM_JR_MAX_MEMBERS];
    int n_seen;
    int seen_from[32];
} gridems__sim_jr_t;

void gridems__sim_jr_init(gridems__sim_jr_t *r, const char *text, size_t len);
/* Consume '{' / '['. Returns 0 or -1. */
int gridems__sim_jr_begin_object(gridems__sim_jr_t *r);
int gridems__sim_jr_begin_array(gridems__sim_jr_t *r);
/* The next member of the current object: 1 with its key in key (truncation is an error; keylen
 * at most 256) and the reader before the value; 0 at the closing '}' (consumed); -1 on error,
 * also for a key the object already had. */
int gridems__sim_jr_next_key(gridems__sim_jr_t *r, char *key, size_t keylen);
/* The next element of the current array: 1 with the reader before it; 0 at ']' (consumed); -1. */
int gridems__sim_jr_next_item(gridems__sim_jr_t *r);
/* Read one value of the given type. number: any finite JSON number. int64: a JSON number without
 * fraction or exponent, within int64_t. bool: true/false. string: unescaped into out (outlen
 * bytes with the NUL; longer is an error). Return 0 or -1 (wrong type is an error). */
int gridems__sim_jr_number(gridems__sim_jr_t *r, double *out);
int gridems__sim_jr_int64(gridems__sim_jr_t *r, int64_t *out);
int gridems__sim_jr_bool(gridems__sim_jr_t *r, int *out);
int gridems__sim_jr_string(gridems__sim_jr_t *r, char *out, size_t outlen);
/* Skip one value of any type. Returns 0 or -1. */
int gridems__sim_jr_skip(gridems__sim_jr_t *r);
/* After the top-level value: only whitespace may follow. Returns 0 or -1 (also for an earlier
 * error). */
int gridems__sim_jr_finish(gridems__sim_jr_t *r);
/* Record an error of the caller's own (a missing member, a value out of range). Returns -1. */
int gridems__sim_jr_fail(gridems__sim_jr_t *r, const char *why);

/* ---- ## Time, text files, CSV ---- */

/*
 * Parse an ISO 8601 / RFC 3339 timestamp "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z" or an
 * offset "+HH:MM" / "-HH:MM" ("+HHMM" too; 'T' may be a space). The offset is required: a local
 * time without one is ambiguous. Returns 0 with *ms (Unix epoch milliseconds), or -1.
 */
int gridems__sim_parse_iso(const char *s, int64_t *ms);

/*
 * Read a whole regular file of at most max_bytes into a NUL-terminated buffer.
 * Returns the buffer (caller frees with free()), or NULL with a reason in err (errlen bytes).
 * This blocks, briefly: the simulators call it only from init, on small local files.
 */
char *gridems__sim_read_file(const char *path, size_t max_bytes, char *err, size_t errlen);

/*
 * Iterate the lines of a text buffer in place: returns the next line (its '\n' and a trailing
 * '\r' replaced by NUL, surrounding blanks trimmed) and advances *cursor, or NULL at the end.
 * *lineno counts lines from 1. Blank lines and lines starting with '#' are skipped.
 */
char *gridems__sim_next_line(char **cursor, int *lineno);

/*
 * Split a line in place at commas into at most max fields (blanks around each field trimmed).
 * Returns the number of fields found (more than max counts as max + 1).
 */
int gridems__sim_split_csv(char *line, char **fields, int max);

/* Parse a whole field as a finite double. Returns 0 or -1. */
int gridems__sim_parse_double(const char *s, double *out);

/* ---- ## Options every simulator has ---- */

/* Embedded (as `common`) in each simulator's context struct. */
typedef struct gridems__sim_common_opts_s {
    const char *topic_prefix;      /* required: <prefix>/telemetry and <prefix>/cmd */
    int64_t telemetry_interval_ms; /* host-clock ms between telemetry messages */
    int64_t stale_after_ms;        /* reported in the capabilities; 0 = the host's default */
    int64_t tick_ms; /* real ms between simulation steps (host-clock on a stepped clock) */
} gridems__sim_common_opts_t;

/* The option-table entries of gridems__sim_common_opts_t, for a context struct `type` that
 * embeds it as member `common`. */
/* clang-format off */
#define GRIDEMS__SIM_COMMON_OPTIONS(type)                                                          \
    {GRIDEMS_OPT_STRING, "topic_prefix", NULL, 1, offsetof(type, common.topic_prefix),             \
     "MQTT topic prefix of the simulated gateway (<prefix>/telemetry, <prefix>/cmd)"},             \
        {GRIDEMS_OPT_INT, "telemetry_interval_ms", "60000", 0,                                     \
         offsetof(type, common.telemetry_interval_ms),                                             \
         "host-clock ms between telemetry messages (the host clock may be simulated)"},            \
        {GRIDEMS_OPT_INT, "stale_after_ms", "0", 0, offsetof(type, common.stale_after_ms),         \
         "host-clock ms after which a reading is stale; 0 = the service's default"},               \
        {GRIDEMS_OPT_INT, "tick_ms", "20", 0, offsetof(type, common.tick_ms),                      \
         "ms between simulation steps: real ms, host-clock ms on a stepped clock (1..3600000; "   \
         "physics uses host-clock deltas, not ticks)"}
/* clang-format on */

/*
 * The wiring every simulated device shares once it is registered: its driver half subscribes to
 * the gateway's telemetry, its gateway half to its commands (when on_cmd is not NULL), and the
 * gateway ticks every tick_ms real milliseconds. Strings are copied by the host.
 * Returns 0 or the host's error; the device is registered by then, so the host destroys it.
 */
int gridems__sim_wire(gridems_plugin_t *self, const gridems_host_api_t *api, void *userdata,
                      const char *topic_telemetry, gridems_message_fn on_telemetry,
                      const char *topic_cmd, gridems_message_fn on_cmd, int tick_ms,
                      gridems_timer_fn tick);

/*
 * The start of every simulator's init: the host must offer now_ms and the options
 * (cfg->context, a struct whose first member is gridems__sim_common_opts_t), and the common
 * options must be valid; the first bad one is logged (ERR), naming it.
 * Returns: 0, GRIDEMS_EABI or GRIDEMS_ECONFIG. Thread: loop.
 */
int gridems__sim_init_check(const gridems_host_api_t *api, gridems_plugin_t *self,
                            const gridems_config_t *cfg);

/*
 * Log (ERR) that option `key` breaks `rule`, with the value it has: option "key" rule (got v).
 * Returns GRIDEMS_ECONFIG, so that a check reads `return gridems__sim_bad_option(...)`.
 */
int gridems__sim_bad_option(const gridems_host_api_t *api, gridems_plugin_t *self, const char *key,
                            const char *rule, double got);

/* ---- ## Validation ---- */

/* A topic prefix the simulators can append "/telemetry" and "/cmd" to: 1 to
 * GRIDEMS__SIM_TOPIC_MAX bytes, no '+' or '#', no trailing '/', no NUL or control characters. */
int gridems__sim_topic_prefix_valid(const char *prefix);

/* An identifier that needs no escaping anywhere: 1 to 63 characters of [A-Za-z0-9_.:-]. */
int gridems__sim_ident_valid(const char *s);

/* ---- ## Deterministic random numbers ---- */

/* SplitMix64: a tiny, well-mixed generator; the same seed gives the same sequence everywhere. */
typedef struct gridems__sim_rng_s {
    uint64_t state;
} gridems__sim_rng_t;

void gridems__sim_rng_seed(gridems__sim_rng_t *r, uint64_t seed);
uint64_t gridems__sim_rng_next(gridems__sim_rng_t *r);
/* Uniform in [0, 1). */
double gridems__sim_rng_uniform(gridems__sim_rng_t *r);
/* A stateless hash of (seed, x) to a uniform value in [-1, 1): noise that depends only on the
 * time it is evaluated at, never on how often it was evaluated. */
double gridems__sim_hash_unit(uint64_t seed, int64_t x);

/* ---- ## Rate-limited complaints ---- */

/*
 * Counts occurrences of one kind of problem and logs only the 1st, 2nd, 4th, 8th ... occurrence
 * (with the count), so a peer that floods bad messages cannot flood the log. Counting instead of
 * timing keeps the limit independent of the host clock, which may run much faster than real
 * time. Zero-initialise.
 */
typedef struct gridems__sim_complaint_s {
    uint64_t count;
} gridems__sim_complaint_t;

void gridems__sim_complain(const gridems_host_api_t *api, gridems_plugin_t *self,
                           gridems__sim_complaint_t *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Complain (warning) about a message that reader r refused, naming what it was (the half and the
 * message, e.g. "driver: malformed telemetry"), its topic, the reason and the byte offset.
 */
void gridems__sim_complain_malformed(const gridems_host_api_t *api, gridems_plugin_t *self,
                                     gridems__sim_complaint_t *c, const char *what,
                                     const char *topic, const gridems__sim_jr_t *r);

/*
 * Whether a driver takes telemetry stamped ts (host-clock ms, received on topic) over what it
 * holds (have, held_ts): never one stamped more than GRIDEMS_READING_MAX_AHEAD_MS ahead of the host
 * clock (forged, or from a clock far ahead: held, it would make every later message look older
 * and be dropped; complained about on c), and not one older than what it holds (a late
 * redelivery, dropped quietly) unless what it holds is itself that far ahead (the host clock
 * went back: a simulation restarted). Returns 1 to take it, else 0.
 */
int gridems__sim_telemetry_takes(const gridems_host_api_t *api, gridems_plugin_t *self,
                                 gridems__sim_complaint_t *c, const char *topic, int64_t ts,
                                 int have, int64_t held_ts);

/*
 * A gateway's complaint (warning) that the host clock went back by behind_ms (a simulation
 * restarted); the gateway then continues from the new time.
 */
void gridems__sim_complain_clock_back(const gridems_host_api_t *api, gridems_plugin_t *self,
                                      gridems__sim_complaint_t *c, int64_t behind_ms);

/* ---- ## Telemetry schedule ---- */

/*
 * When a gateway sends telemetry: at once when it has sent none yet (also after the host clock
 * went back: the caller clears sent), then whenever telemetry_interval_ms of host-clock time
 * have passed since the last one. Zero-initialise.
 */
typedef struct gridems__sim_telemetry_s {
    int sent;        /* a message was sent since the start (or the clock going back) */
    int64_t last_ms; /* host-clock time of the state the last message reported */
    gridems__sim_complaint_t failed;
} gridems__sim_telemetry_t;

/* 1 when the next message is due at host-clock time now, else 0. */
int gridems__sim_telemetry_due(const gridems__sim_telemetry_t *t, int64_t now, int64_t interval_ms);

/*
 * A gateway sends the telemetry it has written into w, about host-clock time state_ms, on topic
 * (QoS 0, not retained), and notes it in *t. Out of memory while writing (w->oom: nothing is
 * sent or noted) or a refused publish is complained about through t->failed. A refused publish
 * still counts as sent: the next one follows the interval.
 */
void gridems__sim_send_telemetry(const gridems_host_api_t *api, gridems_plugin_t *self,
                                 const char *topic, const gridems__sim_buf_t *w, int64_t state_ms,
                                 gridems__sim_telemetry_t *t);

#endif
