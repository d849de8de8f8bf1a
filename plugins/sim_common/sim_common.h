/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Helpers shared by the simulated-device plugins (battery_sim, meter_sim, cluster_sim). This is
 * not a plugin (the directory has no CMakeLists.txt): each simulator compiles sim_common.c,
 * sim_json.c and sim_files.c (sim_common.cmake) into its own shared object, where
 * -fvisibility=hidden keeps these symbols private.
 *
 * What is here, and why each plugin needs it:
 *   - the JSON of the telemetry and command messages (sim_json.h, included here);
 *   - ISO 8601 timestamps, a CSV line splitter and a bounded file reader for profile and job
 *     files (sim_files.h, included here);
 *   - the options every simulator has, and their validation;
 *   - a deterministic random generator (noise and job arrivals must repeat for a given seed);
 *   - a count-based complaint limiter for log lines about bad messages;
 *   - the telemetry schedule and the wiring of a simulator's MQTT topics and timer.
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
#include "sim_files.h"
#include "sim_json.h"

/* Host-clock milliseconds per hour, as a double for energy integration. */
#define GRIDEMS__SIM_MS_PER_HOUR 3600000.0

/* Longest topic prefix accepted by the simulators (the suffixes are added to it). */
#define GRIDEMS__SIM_TOPIC_MAX 200

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
