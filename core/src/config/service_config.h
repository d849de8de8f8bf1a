/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The service's JSON config (config/README.md documents every key), parsed and validated into a
 * gridems_service_config_t.
 *
 * Validation is complete and strict, because a config is written by hand and a typo must not pass
 * silently: an unknown key, a duplicate key, a wrong JSON type or a value outside its rule is an
 * error. Every error is one line that names the key path and the rule, e.g.
 *   planner.step_minutes: must divide 60 or be a multiple of 60 dividing 1440, got 7
 *   plugins[1].name: duplicate instance name "bess1" (also plugins[0].name)
 * Defaults are filled in, so the caller reads every field without checking for presence (except
 * the few "has_" fields, whose absence means "no such limit").
 *
 * A plugin's "options" object is not validated here: the plugin loader checks it against the
 * plugin's own option table. The config keeps the parsed cJSON tree, and each plugin entry points
 * at its instance object inside it, which is what gridems__plugin_load() takes.
 *
 * Threads: none of these functions touch shared state. A parsed config is immutable by
 * convention and may be read from any thread; a SIGHUP reload parses a new one and swaps it in.
 */
#ifndef GRIDEMS_SERVICE_CONFIG_H
#define GRIDEMS_SERVICE_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "http_config.h"
#include "log.h"
#include "openadr_config.h"

/* When the billing-period peak (for the demand charge) resets, in the site's local time. */
typedef enum {
    GRIDEMS_BILLING_MONTH = 0, /* at local midnight on the first of each month */
    GRIDEMS_BILLING_DAY = 1,   /* at each local midnight */
    GRIDEMS_BILLING_NONE = 2   /* never */
} gridems_billing_period_t;

/* The final energy target the planner gives each battery. */
typedef enum {
    GRIDEMS_FINAL_SOC_INITIAL = 0, /* its energy at plan start: a plan never empties it just
                                      because the horizon ends */
    GRIDEMS_FINAL_SOC_NONE = 1,    /* its soc_min: the plan may use everything */
    GRIDEMS_FINAL_SOC_MID = 2,     /* the middle of its band: every plan leaves it half full,
                                      ready for tomorrow's peak, whatever it held at plan start */
    GRIDEMS_FINAL_SOC_VALUE = 3    /* no target: energy left at the horizon's end is worth the
                                      horizon's mean import price (planner.c) */
} gridems_final_soc_t;

/* How the planner sizes its margin below the billing-period peak. */
typedef enum {
    GRIDEMS_PEAK_MARGIN_FIXED = 0, /* planner.peak_margin_kw alone */
    GRIDEMS_PEAK_MARGIN_AUTO = 1   /* a quantile of the plans' measured error, at least
                                      planner.peak_margin_kw (core/src/planning/peak_margin.h) */
} gridems_peak_margin_mode_t;

/* What the automatic peak margin measures the plan's error on. */
typedef enum {
    GRIDEMS_MARGIN_ERROR_IMPORT = 0,   /* the step's mean import against the plan's import */
    GRIDEMS_MARGIN_ERROR_BASE_LOAD = 1 /* the step's mean base load against its forecast */
} gridems_margin_error_t;

/* Bounds the validator enforces (config/README.md gives them as rules). */
#define GRIDEMS_SERVICE_CONFIG_MAX_PLUGINS 256
#define GRIDEMS_SERVICE_CONFIG_MAX_HORIZON_STEPS 100000
#define GRIDEMS_SERVICE_CONFIG_MAX_REPLAN_SECONDS 604800
#define GRIDEMS_SERVICE_CONFIG_MAX_SOLVE_TIME_LIMIT_MS 3600000
/* Instance names: 1..63 characters, the plugin loader's limit (it also takes '.'; we do not). */
#define GRIDEMS_SERVICE_CONFIG_MAX_NAME 63
/* Most completed steps whose forecast error sizes the automatic peak margin. */
#define GRIDEMS_SERVICE_CONFIG_MAX_MARGIN_WINDOW 10000

/* One entry of the "plugins" array. Strings are owned by the config. */
typedef struct gridems_service_plugin_s {
    char *plugin; /* the plugin's name ([a-z0-9_]+), or NULL when only "path" is given */
    char *name;   /* the instance name, unique in the config */
    char *path;   /* the shared object: "path" if given, else <plugin_dir>/gridems_<plugin>.so */
    bool explicit_path; /* true when "path" was given */
    /* The whole instance object ({"plugin","name","path","options"}) inside the config's cJSON
     * tree: pass it to gridems__plugin_load(). Borrowed from the config; valid until it is freed.
     */
    const cJSON *instance;
    const cJSON *options; /* its "options" object inside instance, or NULL when absent */
} gridems_service_plugin_t;

/*
 * The validated config. Zero-initialise it (or leave it as gridems_service_config_free() left it)
 * before passing it to parse or load. Every string is owned by the struct and freed by
 * gridems_service_config_free().
 */
typedef struct gridems_service_config_s {
    struct {
        char *id;                    /* [A-Za-z0-9_-]{1,64} */
        int utc_offset_min;          /* minutes east of UTC, from "+HH:MM" */
        char *currency;              /* three upper-case letters (ISO 4217) */
        double import_limit_kw;      /* > 0 */
        double export_limit_kw;      /* >= 0 */
        double demand_charge_per_kw; /* >= 0 */
        gridems_billing_period_t billing_period;
        bool has_compute_limit;  /* false: no limit */
        double compute_limit_kw; /* > 0 when has_compute_limit */
    } site;
    struct {
        char *uri;
        char *client_id;     /* default gridems-<site.id>-<pid> */
        char *topic_prefix;  /* default gridems/<site.id>; no wildcards, no trailing '/' */
        int keepalive_s;     /* 5..3600 */
        char *username;      /* may be NULL */
        char *password;      /* may be NULL; only with a username; read from password_file by
                                gridems_service_config_load() when that is given */
        char *password_file; /* as written: an absolute path or a systemd credential name, or
                                NULL; never together with an inline password */
        bool has_tls;        /* a tls section, or an ssl:// or mqtts:// URI without one (then every
                                file is NULL: the system trust store, and verify is true) */
        struct {
            char *ca_file;   /* may be NULL */
            char *cert_file; /* may be NULL */
            char *key_file;  /* may be NULL */
            bool verify;
        } tls;
        struct {
            char *price;        /* default <prefix>/in/price */
            char *price_export; /* default <prefix>/in/price/export */
            char *carbon;       /* default <prefix>/in/carbon */
            char *event;        /* default <prefix>/in/event */
            char *cmd;          /* default <prefix>/cmd */
        } topics;
    } mqtt;
    struct {
        int step_minutes;           /* divides 60, or a multiple of 60 dividing 1440 */
        int horizon_steps;          /* 1..100000 */
        int replan_seconds;         /* 1..604800 */
        int debounce_ms;            /* 0..60000 */
        int solve_time_limit_ms;    /* 1..3600000 */
        bool has_deviation;         /* false: no deviation trigger */
        double deviation_kw;        /* > 0 when has_deviation */
        double carbon_price_per_kg; /* >= 0 */
        double peak_margin_kw;      /* >= 0: plans keep this much below the billing-period peak
                                       (with peak_margin AUTO: at least this much) */
        gridems_peak_margin_mode_t peak_margin;
        double peak_margin_quantile;              /* in (0, 1); AUTO only */
        int peak_margin_window_steps;             /* 1..MAX_MARGIN_WINDOW; AUTO only */
        gridems_margin_error_t peak_margin_error; /* AUTO only */
        double defer_power_fraction;   /* in (0, 1]: jobs due past the horizon are assumed to run
                                          after it at this fraction of their power and the cap */
        double unmet_flexible_per_kwh; /* > 0 */
        double unserved_load_per_kwh;  /* > 0 */
        double final_soc_shortfall_per_kwh; /* > 0 */
        gridems_final_soc_t battery_final_soc;
        /* The running step (step_progress.h): false ("rest", default): a plan's step-0 power is
         * sent for the rest of the step; true ("whole"): step 0 is planned as the whole step,
         * what jobs delivered in it counts as load, and dispatch delivers the step's energy. */
        bool running_step_whole;
        int peak_target_days; /* 0..7: the month-aware peak target's look-ahead (peak_target.h);
                                 0: off */
        struct {
            bool enabled;         /* default false */
            int interval_seconds; /* 1..3600, default 10 */
            double margin_kw;     /* >= 0, default 0 */
            bool shed_compute;    /* default true: compute may give way after the batteries */
        } peak_guard;
    } planner;
    struct {
        gridems_clock_mode_t mode;
        int64_t start_ms; /* simulated only: ms since the epoch */
        double speed;     /* simulated only: > 0, <= 1e6; 1 for real */
    } clock;
    gridems_http_config_t http; /* http_config.h; .enabled false when the section is absent */
    struct {
        double max_power_factor;      /* >= 1, default 4: readings and capabilities beyond this
                                         times site.import_limit_kw are implausible */
        int implausible_hold_seconds; /* 0..86400, default 300 (site clock) */
        int plugin_call_budget_ms;    /* 1..60000, default 1000: a slower call overruns */
        int plugin_overruns;          /* 1..1000, default 3: overruns that take a plugin out */
        int plugin_retry_seconds;     /* 1..86400, default 60 (real time): first probe after */
    } reliability;
    char *state_dir;
    gridems_log_level_t log_level;
    char *plugin_dir;
    gridems_service_plugin_t *plugins; /* [n_plugins], in config order */
    int n_plugins;
    gridems_openadr_config_t openadr; /* the "openadr" section (openadr_config.h) */
    cJSON *root; /* the parsed document; the plugins' instance pointers point into it */
} gridems_service_config_t;

/*
 * gridems_service_config_parse: parse and validate config JSON text.
 * Parameters:
 *   text: borrowed; len bytes, need not be NUL-terminated (trailing whitespace is allowed,
 *     anything else after the document, a NUL byte included, is an error);
 *   cfg: borrowed; filled on success; on failure left freed (zeroed). Any previous content is
 *     NOT freed: pass a zeroed or freed struct;
 *   err/errlen: borrowed buffer (may be NULL); on failure one line naming the key path and the
 *     rule (a syntax error gives the line and column).
 * Returns: 0; GRIDEMS_EPARSE (not JSON, or a NUL byte in it); GRIDEMS_ECONFIG (a rule is
 *   broken); GRIDEMS_ETOOBIG (over 16 MiB); GRIDEMS_ENOMEM; GRIDEMS_EINVAL (NULL cfg).
 * Thread: any.
 */
int gridems_service_config_parse(const char *text, size_t len, gridems_service_config_t *cfg,
                                 char *err, size_t errlen);

/*
 * gridems_service_config_load: read the file at path and parse it as above, then the secrets
 * (core/src/host/trust.h): mqtt.password from mqtt.password_file (refused when others may read it);
 * mqtt.tls.key_file checked the same way; a warning when the file holds an inline password and
 * is readable by group or others. Errors are prefixed with the file name
 * ("/etc/gridems.json: planner.horizon_steps: ...").
 * Parameters: path (borrowed); cfg, err, errlen as for parse.
 * Returns: 0; GRIDEMS_ENOENT, GRIDEMS_EIO, GRIDEMS_ETOOBIG (reading); or parse's codes.
 * Thread: any.
 */
int gridems_service_config_load(const char *path, gridems_service_config_t *cfg, char *err,
                                size_t errlen);

/*
 * gridems_service_config_free: release everything cfg owns (the cJSON tree included, so every
 * instance pointer dies with it) and zero it. Safe on a zeroed or already freed config.
 * Parameters: cfg (borrowed; NULL is fine). Thread: any.
 */
void gridems_service_config_free(gridems_service_config_t *cfg);

/*
 * gridems_service_config_billing_name / gridems_service_config_final_soc_name: the config's
 * spelling of a value ("month", "day", "none" / "initial", "none"), for logs; "?" for a value
 * outside the enum. Returns a static string. Thread: any.
 */
const char *gridems_service_config_billing_name(gridems_billing_period_t p);
const char *gridems_service_config_final_soc_name(gridems_final_soc_t f);

#endif
