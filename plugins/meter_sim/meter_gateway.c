/* SPDX-License-Identifier: GPL-3.0-or-later */
/* meter_sim's simulated meter gateway: the profile it replays, the energy register and the
 * telemetry it publishes (meter_sim.c documents the message). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meter_gateway.h"

#define MS_PER_DAY INT64_C(86400000)
/* Largest profile file read (it is read once, in init). */
#define PROFILE_MAX_BYTES ((size_t)16 << 20)

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

void meter_gw_tick(gridems_plugin_t *self, gridems_timer_id_t id, void *arg)
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

static void profile_free(profile_t *p)
{
    free(p->x_ms);
    free(p->kw);
    memset(p, 0, sizeof *p);
}

/* ---- ## Gateway: start ---- */

int meter_gw_start(meter_t *m)
{
    const meter_opts_t *o = m->opts;
    m->jump_from_ms = INT64_MAX;
    m->jump_until_ms = INT64_MAX;
    if (o->jump_at != NULL && gridems__sim_parse_iso(o->jump_at, &m->jump_from_ms) == 0 &&
        o->jump_minutes > 0) {
        m->jump_until_ms = m->jump_from_ms + (int64_t)llround(o->jump_minutes * 60000.0);
    }
    return o->profile != NULL ? profile_load(m, o->profile) : 0;
}

void meter_gw_free(meter_t *m)
{
    profile_free(&m->profile);
}
