/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * meter_sim: a simulated meter that replays a load profile on the host clock and talks MQTT the
 * way a real meter gateway does (class GRIDEMS_DEV_METER). Its usual job is the site's
 * inflexible load (role "load").
 *
 * Two halves share nothing but the telemetry topic:
 *   - the gateway simulator evaluates the profile at the host clock (api->now_ms(), which may run
 *     much faster than real time) every tick_ms of real time, integrates the energy register,
 *     and publishes a telemetry message on <topic_prefix>/telemetry at least
 *     telemetry_interval_ms of host-clock time after the previous one;
 *   - the driver registers the device and turns each telemetry message into a measurement.
 * A meter takes no commands: nothing listens on <topic_prefix>/cmd.
 *
 * ---- ## Telemetry: <topic_prefix>/telemetry, QoS 0, not retained ----
 *
 *   {"ts":1683471600000,    host-clock ms (Unix epoch) of the reading
 *    "power_kw":9000.5,     power now; positive = in the direction of the role (consumption for
 *                           "load", import for "site", production for "pv")
 *    "energy_kwh":1234.5}   cumulative energy in the positive direction since the gateway
 *                           started (trapezoidal integral of the sampled power)
 * Both are rounded to the meter's resolution, 1 W and 1 Wh.
 *
 * Required: ts and power_kw; readers ignore members they do not know.
 * The driver takes the newest message by ts, and refuses one stamped more than a minute ahead
 * of the host clock (GRIDEMS_READING_MAX_AHEAD_MS: it would make every later message look older).
 *
 * ---- ## The profile ----
 *
 * Option `profile` names a CSV file with one reading per line, `time,kw`. Blank lines, lines
 * starting with '#' and a header line are skipped; columns after the second are ignored. The
 * first column decides the kind of file, for the whole file:
 *   - a number: the hour of the local day, 0 <= h < 24, fractional (13.5 = 13:30), increasing.
 *     Local time is UTC + utc_offset_hours. The profile repeats every day.
 *   - an ISO 8601 timestamp with an offset or Z (2023-05-08T00:00:00+09:00), increasing. The
 *     file repeats with a period of its span plus one step (the gap between its last two rows),
 *     so a week of data loops weekly.
 * Between rows the value is interpolated linearly (interpolate = true, also across the wrap
 * from the last row to the first) or held from the previous row (interpolate = false, for
 * interval data). Without `profile`, a built-in daily shape is used:
 *   kw = base_kw + swing_kw * cos(2 * pi * (local_hour - peak_hour) / 24).
 * The value is then multiplied by `scale` and by (1 + noise_pct/100 * u), where u in [-1, 1) is
 * a hash of (seed, the reading's host-clock ms): the same seed gives the same noise at the same
 * time however often the meter is sampled.
 *
 * ---- ## A scheduled jump ----
 *
 * For tests of what happens inside a step (the service's peak guard): `jump_at`, an ISO 8601
 * timestamp with an offset or Z, and `jump_kw`, a finite number of kW (negative = a drop), add
 * jump_kw to the scaled profile value from jump_at on, for `jump_minutes` (a number > 0) or, when
 * that is absent or 0, for good. The noise applies on top. jump_kw without jump_at, or jump_at
 * that is not such a timestamp, or a negative jump_minutes, refuses the instance.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/plugin.h"
#include "sim_common.h"

#define MS_PER_DAY INT64_C(86400000)
/* Largest profile file read (it is read once, in init). */
#define PROFILE_MAX_BYTES ((size_t)16 << 20)

/* ---- ## Options ---- */

typedef struct meter_opts_s {
    gridems__sim_common_opts_t common; /* first: gridems__sim_init_check reads it */
    const char *profile;
    const char *role;
    double scale;
    double noise_pct;
    int64_t seed;
    double utc_offset_hours;
    double base_kw;
    double swing_kw;
    double peak_hour;
    int interpolate;
    const char *jump_at;
    double jump_kw;
    double jump_minutes;
} meter_opts_t;
_Static_assert(offsetof(meter_opts_t, common) == 0,
               "gridems__sim_init_check reads the common options");

static const gridems_option_t meter_options[] = {
    GRIDEMS__SIM_COMMON_OPTIONS(meter_opts_t),
    {GRIDEMS_OPT_STRING, "profile", NULL, 0, offsetof(meter_opts_t, profile),
     "CSV of hour_of_day,kw or iso_timestamp,kw rows (default: the built-in daily shape)"},
    {GRIDEMS_OPT_STRING, "role", "load", 0, offsetof(meter_opts_t, role),
     "what the meter measures: site, load, pv or other"},
    {GRIDEMS_OPT_DOUBLE, "scale", "1", 0, offsetof(meter_opts_t, scale),
     "factor applied to every profile value"},
    {GRIDEMS_OPT_DOUBLE, "noise_pct", "0", 0, offsetof(meter_opts_t, noise_pct),
     "deterministic noise, +- percent of the value (0..100)"},
    {GRIDEMS_OPT_INT, "seed", "1", 0, offsetof(meter_opts_t, seed), "seed of the noise"},
    {GRIDEMS_OPT_DOUBLE, "utc_offset_hours", "0", 0, offsetof(meter_opts_t, utc_offset_hours),
     "local time = UTC + this, for hour-of-day profiles and the built-in shape (JST: 9)"},
    {GRIDEMS_OPT_DOUBLE, "base_kw", "1000", 0, offsetof(meter_opts_t, base_kw),
     "built-in shape: mean power, kW"},
    {GRIDEMS_OPT_DOUBLE, "swing_kw", "200", 0, offsetof(meter_opts_t, swing_kw),
     "built-in shape: amplitude of the daily swing, kW"},
    {GRIDEMS_OPT_DOUBLE, "peak_hour", "15", 0, offsetof(meter_opts_t, peak_hour),
     "built-in shape: local hour of the daily maximum"},
    {GRIDEMS_OPT_BOOL, "interpolate", "true", 0, offsetof(meter_opts_t, interpolate),
     "interpolate linearly between profile rows (false: hold each row's value)"},
    {GRIDEMS_OPT_STRING, "jump_at", NULL, 0, offsetof(meter_opts_t, jump_at),
     "ISO 8601 time with offset from which jump_kw is added (default: no jump)"},
    {GRIDEMS_OPT_DOUBLE, "jump_kw", "0", 0, offsetof(meter_opts_t, jump_kw),
     "kW added to the value from jump_at on (negative: a drop)"},
    {GRIDEMS_OPT_DOUBLE, "jump_minutes", "0", 0, offsetof(meter_opts_t, jump_minutes),
     "how long the jump lasts, host-clock minutes (0: for good)"},
    GRIDEMS_OPTION_END};

GRIDEMS_PLUGIN_DECLARE_VERSION(1);

const gridems_plugin_info_t gridems_plugin_info = {
    GRIDEMS_PLUGIN_INFO_HEADER,
    .name = "meter_sim",
    .version = "1.0",
    .description = "simulated meter replaying a load profile behind a simulated MQTT gateway",
    .classes = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER),
    .options = meter_options,
    .context_size = sizeof(meter_opts_t),
};

/* ---- ## State ---- */

/* A periodic profile: value(t) is found at (t - origin_ms) mod period_ms among the points. */
typedef struct profile_s {
    int64_t *x_ms; /* ascending offsets within [0, period_ms) */
    double *kw;
    size_t n; /* 0: the built-in shape */
    int64_t origin_ms;
    int64_t period_ms;
} profile_t;

typedef struct meter_s {
    gridems_plugin_t *self;
    const gridems_host_api_t *api;
    const meter_opts_t *opts;
    gridems_device_id_t dev;
    int32_t role;
    char topic_telemetry[GRIDEMS__SIM_TOPIC_MAX + 16];
    profile_t profile;
    int64_t jump_from_ms; /* the jump: [jump_from_ms, jump_until_ms), INT64_MAX = for good */
    int64_t jump_until_ms;

    /* Gateway. */
    int64_t t_ms;
    double power_kw;
    double energy_kwh;
    int sampled;
    gridems__sim_telemetry_t telemetry;
    gridems__sim_complaint_t clock_back;

    /* Driver: the last telemetry message. */
    int have;
    int64_t tel_ts;
    double tel_power_kw;
    double tel_energy_kwh;
    int tel_has_energy;
    gridems__sim_complaint_t bad_telemetry;

    gridems__sim_buf_t buf;
} meter_t;

/* ---- ## Profile ---- */

static int64_t floor_mod(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* The unscaled, noise-free value at host-clock time t. */
static double profile_value(const meter_t *m, int64_t t)
{
    const meter_opts_t *o = m->opts;
    const profile_t *p = &m->profile;
    if (p->n == 0) {
        double offset_ms = o->utc_offset_hours * GRIDEMS__SIM_MS_PER_HOUR;
        int64_t local = floor_mod(t + (int64_t)llround(offset_ms), MS_PER_DAY);
        double hour = (double)local / GRIDEMS__SIM_MS_PER_HOUR;
        return o->base_kw + o->swing_kw * cos(2.0 * M_PI * (hour - o->peak_hour) / 24.0);
    }
    if (p->n == 1) {
        return p->kw[0];
    }
    int64_t pos = floor_mod(t - p->origin_ms, p->period_ms);
    /* The segment [x0, x1) that holds pos, possibly across the wrap. */
    double x0, x1, y0, y1;
    if (pos < p->x_ms[0] || pos >= p->x_ms[p->n - 1]) {
        x0 = (double)p->x_ms[p->n - 1];
        y0 = p->kw[p->n - 1];
        x1 = (double)(p->x_ms[0] + p->period_ms);
        y1 = p->kw[0];
        if (pos < p->x_ms[0]) {
            x0 -= (double)p->period_ms;
            x1 -= (double)p->period_ms;
        }
    } else {
        size_t lo = 0, hi = p->n - 1; /* x[lo] <= pos < x[hi] */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (p->x_ms[mid] <= pos) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        x0 = (double)p->x_ms[lo];
        y0 = p->kw[lo];
        x1 = (double)p->x_ms[hi];
        y1 = p->kw[hi];
    }
    if (!o->interpolate) {
        return y0;
    }
    return y0 + (y1 - y0) * ((double)pos - x0) / (x1 - x0);
}

/* A meter's resolution: 1 W, 1 Wh. */
static double to_milli(double v)
{
    return round(v * 1000.0) / 1000.0;
}

/* The reading at host-clock time t: scaled, with the deterministic noise, at 1 W resolution. */
static double meter_value(const meter_t *m, int64_t t)
{
    double v = profile_value(m, t) * m->opts->scale;
    if (m->opts->jump_at != NULL && t >= m->jump_from_ms && t < m->jump_until_ms) {
        v += m->opts->jump_kw;
    }
    if (m->opts->noise_pct > 0) {
        v *= 1.0 + m->opts->noise_pct / 100.0 * gridems__sim_hash_unit((uint64_t)m->opts->seed, t);
    }
    return to_milli(v);
}

static int profile_push(profile_t *p, size_t *cap, int64_t x, double kw)
{
    if (p->n == *cap) {
        size_t ncap = *cap == 0 ? 64 : *cap * 2;
        int64_t *xs = realloc(p->x_ms, ncap * sizeof *xs);
        if (xs == NULL) {
            return GRIDEMS_ENOMEM;
        }
        p->x_ms = xs;
        double *ks = realloc(p->kw, ncap * sizeof *ks);
        if (ks == NULL) {
            return GRIDEMS_ENOMEM;
        }
        p->kw = ks;
        *cap = ncap;
    }
    p->x_ms[p->n] = x;
    p->kw[p->n] = kw;
    p->n++;
    return 0;
}

/* Read the profile file named by the option. Logs the reason and returns GRIDEMS_ECONFIG on a
 * bad file. */
static int profile_load(meter_t *m, const char *path)
{
    const gridems_host_api_t *api = m->api;
    char err[512];
    char *text = gridems__sim_read_file(path, PROFILE_MAX_BYTES, err, sizeof err);
    if (text == NULL) {
        api->log(m->self, GRIDEMS_PLUGIN_LOG_ERR, "option \"profile\": %s", err);
        return GRIDEMS_ECONFIG;
    }
    profile_t *p = &m->profile;
    size_t cap = 0;
    int mode = 0; /* 1: hour of day, 2: ISO timestamps */
    int header_seen = 0;
    int64_t first_t = 0;
    int lineno = 0;
    int rc = 0;
    char *cursor = text;
    char *line;
    const char *why = NULL;
    while ((line = gridems__sim_next_line(&cursor, &lineno)) != NULL) {
        char *f[2];
        int n = gridems__sim_split_csv(line, f, 2);
        double hour = 0, kw;
        int64_t t = 0;
        int is_hour = n >= 2 && gridems__sim_parse_double(f[0], &hour) == 0;
        int is_iso = n >= 2 && !is_hour && gridems__sim_parse_iso(f[0], &t) == 0;
        if (mode == 0 && !header_seen && !is_hour && !is_iso && n >= 2 &&
            gridems__sim_parse_double(f[1], &kw) < 0) {
            header_seen = 1; /* a header line names its columns: neither is a value */
            continue;
        }
        if (n < 2) {
            why = "expected time,kw";
        } else if (gridems__sim_parse_double(f[1], &kw) < 0) {
            why = "the kw column is not a number";
        } else if (mode == 0) {
            mode = is_hour ? 1 : is_iso ? 2 : 0;
            first_t = t;
            if (mode == 0) {
                why = "the first column is neither an hour of day nor an ISO timestamp with offset";
            }
        } else if ((mode == 1 && !is_hour) || (mode == 2 && !is_iso)) {
            why = mode == 1 ? "expected an hour of day, like the rows above"
                            : "expected an ISO timestamp with offset, like the rows above";
        }
        if (why == NULL && mode == 1 && !(hour >= 0 && hour < 24)) {
            why = "the hour of day must be within [0, 24)";
        }
        if (why != NULL) {
            break;
        }
        int64_t x = mode == 1 ? (int64_t)llround(hour * GRIDEMS__SIM_MS_PER_HOUR) : t - first_t;
        if (p->n > 0 && x <= p->x_ms[p->n - 1]) {
            why = "times must increase from row to row";
            break;
        }
        rc = profile_push(p, &cap, x, kw);
        if (rc < 0) {
            why = "out of memory";
            break;
        }
    }
    free(text);
    if (why == NULL && p->n == 0) {
        why = "no rows";
        lineno = 0;
    }
    if (why != NULL) {
        if (lineno > 0) {
            api->log(m->self, GRIDEMS_PLUGIN_LOG_ERR, "option \"profile\": %s line %d: %s", path,
                     lineno, why);
        } else {
            api->log(m->self, GRIDEMS_PLUGIN_LOG_ERR, "option \"profile\": %s: %s", path, why);
        }
        return rc < 0 ? rc : GRIDEMS_ECONFIG;
    }
    if (mode == 1) {
        p->period_ms = MS_PER_DAY;
        p->origin_ms = -(int64_t)llround(m->opts->utc_offset_hours * GRIDEMS__SIM_MS_PER_HOUR);
    } else {
        int64_t last_step = p->n >= 2 ? p->x_ms[p->n - 1] - p->x_ms[p->n - 2] : MS_PER_DAY;
        p->period_ms = p->x_ms[p->n - 1] + last_step;
        p->origin_ms = first_t;
    }
    return 0;
}

/* ---- ## Gateway ---- */

static void gw_publish(meter_t *m)
{
    gridems__sim_buf_t *w = &m->buf;
    gridems__sim_buf_reset(w);
    gridems__sim_json_begin_object(w);
    gridems__sim_json_kv_int(w, "ts", m->t_ms);
    gridems__sim_json_kv_num(w, "power_kw", m->power_kw);
    gridems__sim_json_kv_num(w, "energy_kwh", to_milli(m->energy_kwh));
    gridems__sim_json_end_object(w);
    gridems__sim_send_telemetry(m->api, m->self, m->topic_telemetry, w, m->t_ms, &m->telemetry);
}

static void gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
{
    (void)self;
    (void)id;
    meter_t *m = arg;
    int64_t now = m->api->now_ms(m->self);
    if (m->sampled && now < m->t_ms) {
        gridems__sim_complain_clock_back(m->api, m->self, &m->clock_back, m->t_ms - now);
        m->sampled = 0;
        m->telemetry.sent = 0;
    }
    if (!m->sampled || now > m->t_ms) {
        double p = meter_value(m, now);
        if (m->sampled) {
            double hours = (double)(now - m->t_ms) / GRIDEMS__SIM_MS_PER_HOUR;
            m->energy_kwh += (m->power_kw + p) / 2.0 * hours;
        }
        m->power_kw = p;
        m->t_ms = now;
        m->sampled = 1;
    }
    if (gridems__sim_telemetry_due(&m->telemetry, m->t_ms, m->opts->common.telemetry_interval_ms)) {
        gw_publish(m);
    }
}

/* ---- ## Driver ---- */

static int drv_post(meter_t *m)
{
    gridems_measurement_t meas = {
        .struct_size = sizeof meas,
        .device = m->dev,
        .timestamp_ms = m->tel_ts,
        .valid = GRIDEMS_MEAS_POWER | (m->tel_has_energy ? GRIDEMS_MEAS_ENERGY : 0u),
        .power_kw = m->tel_power_kw,
        .energy_kwh = m->tel_energy_kwh,
    };
    return m->api->post_measurement(m->self, &meas);
}

static void drv_on_telemetry(gridems_plugin_t *self, const gridems_message_t *msg, void *arg)
{
    (void)self;
    meter_t *m = arg;
    int64_t ts = 0;
    double power = 0, energy = 0;
    int have_ts = 0, have_power = 0, have_energy = 0;
    gridems__sim_jr_t r;
    gridems__sim_jr_init(&r, msg->payload, msg->len);
    if (gridems__sim_jr_begin_object(&r) == 0) {
        char key[64];
        while (gridems__sim_jr_next_key(&r, key, sizeof key) == 1) {
            if (strcmp(key, "ts") == 0) {
                have_ts = gridems__sim_jr_int64(&r, &ts) == 0;
            } else if (strcmp(key, "power_kw") == 0) {
                have_power = gridems__sim_jr_number(&r, &power) == 0;
            } else if (strcmp(key, "energy_kwh") == 0) {
                have_energy = gridems__sim_jr_number(&r, &energy) == 0;
            } else {
                gridems__sim_jr_skip(&r);
            }
        }
    }
    if (gridems__sim_jr_finish(&r) == 0 && (!have_ts || !have_power)) {
        gridems__sim_jr_fail(&r, "ts or power_kw is missing");
    }
    if (r.error != NULL) {
        gridems__sim_complain_malformed(m->api, m->self, &m->bad_telemetry,
                                        "driver: malformed telemetry", msg->topic, &r);
        return;
    }
    if (!gridems__sim_telemetry_takes(m->api, m->self, &m->bad_telemetry, msg->topic, ts, m->have,
                                      m->tel_ts)) {
        return;
    }
    m->have = 1;
    m->tel_ts = ts;
    m->tel_power_kw = power;
    m->tel_energy_kwh = energy;
    m->tel_has_energy = have_energy;
    drv_post(m);
}

static int drv_read(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    meter_t *m = userdata;
    return m->have ? drv_post(m) : 0;
}

static int drv_caps(gridems_device_id_t dev, void *userdata, gridems_caps_t *out)
{
    (void)dev;
    meter_t *m = userdata;
    out->stale_after_ms = (uint32_t)m->opts->common.stale_after_ms;
    out->measured_ms = m->have ? m->tel_ts : 0;
    out->u.meter.role = m->role;
    return 0;
}

static void profile_free(profile_t *p)
{
    free(p->x_ms);
    free(p->kw);
    memset(p, 0, sizeof *p);
}

static void drv_destroy(gridems_device_id_t dev, void *userdata)
{
    (void)dev;
    meter_t *m = userdata;
    profile_free(&m->profile);
    gridems__sim_buf_free(&m->buf);
    free(m);
}

/* ---- ## Init ---- */

static int parse_role(const char *s, int32_t *out)
{
    static const struct {
        const char *name;
        int32_t role;
    } roles[] = {{"site", GRIDEMS_METER_SITE},
                 {"load", GRIDEMS_METER_LOAD},
                 {"pv", GRIDEMS_METER_PV},
                 {"other", GRIDEMS_METER_OTHER}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (s != NULL && strcmp(s, roles[i].name) == 0) {
            *out = roles[i].role;
            return 0;
        }
    }
    return -1;
}

static int check_options(const gridems_host_api_t *api, gridems_plugin_t *self,
                         const meter_opts_t *o, int32_t *role)
{
    if (parse_role(o->role, role) < 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"role\" must be site, load, pv or other (got \"%s\")", o->role);
        return GRIDEMS_ECONFIG;
    }
    if (!(o->noise_pct >= 0 && o->noise_pct <= 100)) {
        return gridems__sim_bad_option(api, self, "noise_pct", "must be within [0, 100]",
                                       o->noise_pct);
    }
    if (!(fabs(o->utc_offset_hours) <= 24)) {
        return gridems__sim_bad_option(api, self, "utc_offset_hours", "must be within [-24, 24]",
                                       o->utc_offset_hours);
    }
    if (!(o->peak_hour >= 0 && o->peak_hour < 24)) {
        return gridems__sim_bad_option(api, self, "peak_hour", "must be within [0, 24)",
                                       o->peak_hour);
    }
    if (!(o->jump_minutes >= 0 && o->jump_minutes <= 1e9)) {
        return gridems__sim_bad_option(api, self, "jump_minutes", "must be within [0, 1e9]",
                                       o->jump_minutes);
    }
    if (o->jump_kw != 0 && o->jump_at == NULL) {
        return gridems__sim_bad_option(api, self, "jump_kw", "needs \"jump_at\"", o->jump_kw);
    }
    int64_t at;
    if (o->jump_at != NULL && gridems__sim_parse_iso(o->jump_at, &at) < 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_ERR,
                 "option \"jump_at\" must be an ISO 8601 time with an offset or Z (got \"%s\")",
                 o->jump_at);
        return GRIDEMS_ECONFIG;
    }
    return 0;
}

int gridems_plugin_init(gridems_plugin_t *self, const gridems_host_api_t *api,
                        const gridems_config_t *cfg, void **userdata)
{
    (void)userdata;
    int rc = gridems__sim_init_check(api, self, cfg);
    if (rc < 0) {
        return rc;
    }
    const meter_opts_t *o = cfg->context;
    int32_t role = GRIDEMS_METER_LOAD;
    rc = check_options(api, self, o, &role);
    if (rc < 0) {
        return rc;
    }
    meter_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return GRIDEMS_ENOMEM;
    }
    m->self = self;
    m->api = api;
    m->opts = o;
    m->role = role;
    m->jump_from_ms = INT64_MAX;
    m->jump_until_ms = INT64_MAX;
    if (o->jump_at != NULL && gridems__sim_parse_iso(o->jump_at, &m->jump_from_ms) == 0 &&
        o->jump_minutes > 0) {
        m->jump_until_ms = m->jump_from_ms + (int64_t)llround(o->jump_minutes * 60000.0);
    }
    snprintf(m->topic_telemetry, sizeof m->topic_telemetry, "%s/telemetry", o->common.topic_prefix);
    if (o->profile != NULL) {
        rc = profile_load(m, o->profile);
        if (rc < 0) {
            profile_free(&m->profile);
            free(m);
            return rc;
        }
    }
    gridems_device_desc_t desc = {
        .struct_size = sizeof desc,
        .name = cfg->instance,
        .instance = o->common.topic_prefix,
        .klass = GRIDEMS_DEV_METER,
        .options = meter_options,
        .read = drv_read,
        .get_capabilities = drv_caps,
        .destroy = drv_destroy,
    };
    rc = api->register_device(self, &desc, m, &m->dev);
    if (rc < 0) {
        profile_free(&m->profile);
        free(m);
        return rc;
    }
    /* From here on m belongs to the device: the host calls drv_destroy even if init fails. */
    rc = gridems__sim_wire(self, api, m, m->topic_telemetry, drv_on_telemetry, NULL, NULL,
                           o->common.tick_ms, gw_tick);
    if (rc < 0) {
        return rc;
    }
    if (m->profile.n > 0) {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated meter: %zu profile rows from %s (period %.1f h), telemetry on %s",
                 m->profile.n, o->profile, (double)m->profile.period_ms / GRIDEMS__SIM_MS_PER_HOUR,
                 m->topic_telemetry);
    } else {
        api->log(self, GRIDEMS_PLUGIN_LOG_INFO,
                 "simulated meter: built-in daily shape %g +- %g kW, telemetry on %s", o->base_kw,
                 o->swing_kw, m->topic_telemetry);
    }
    return 0;
}
