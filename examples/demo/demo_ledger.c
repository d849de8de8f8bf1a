/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The demo's accounting, per JEPX half hour, of the site with gridems and of the same site
 * without it.
 *
 * With gridems, energy comes from the devices' own cumulative registers in their telemetry,
 * never from sampled power: the meter's energy_kwh (the inflexible base load), the cluster's
 * energy_kwh (energy delivered to the training jobs) and each battery's charged_kwh (taken from
 * the site bus) and discharged_kwh (given to it). The gateways integrate those exactly on the
 * simulated clock, so no energy is lost between two messages however far apart they are. The
 * increase of a register between two readings is spread evenly over the time between them;
 * where that time crosses a half-hour boundary this can move at most one telemetry interval's
 * energy (about a simulated minute) to the neighbouring half hour.
 *
 * The site's import in a half hour is then base load + cluster + battery charging - battery
 * discharging (the site cannot export: export_limit_kw is 0). Its cost is that energy times the
 * import price of the half hour (the JEPX Kansai spot price plus the network charge), and its
 * "peak" is the largest half-hour mean import, the 30-minute demand that Japanese demand
 * charges are billed on.
 *
 * Without gridems (the baseline), the same base load, measured by the same meter, is kept, the
 * batteries do nothing, and every job runs at its full power from its arrival until done: what a
 * cluster scheduler does with no price signal. When the jobs together would exceed the
 * cluster's power cap, the ones with the earliest deadlines go first, as the cluster's own
 * scheduler would. The jobs are the ones the cluster's telemetry reported.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"

/* ---- ## Time ---- */

static int parse_fixed(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int demo_parse_iso(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
    if (strlen(s) < 16 || parse_fixed(s, 4, &y) < 0 || s[4] != '-' ||
        parse_fixed(s + 5, 2, &mo) < 0 || s[7] != '-' || parse_fixed(s + 8, 2, &d) < 0 ||
        (s[10] != 'T' && s[10] != ' ') || parse_fixed(s + 11, 2, &h) < 0 || s[13] != ':' ||
        parse_fixed(s + 14, 2, &mi) < 0) {
        return -1;
    }
    const char *p = s + 16;
    if (*p == ':') {
        if (parse_fixed(p + 1, 2, &sec) < 0) {
            return -1;
        }
        p += 3;
    }
    if (*p == 'Z' && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && parse_fixed(p + 1, 2, &oh) == 0 &&
               p[3] == ':' && parse_fixed(p + 4, 2, &om) == 0) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 18 ||
        om > 59) {
        return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    *out_ms = ((int64_t)t - (int64_t)sign * (oh * 3600 + om * 60)) * 1000;
    return 0;
}

void demo_local_tm(int64_t ms, int offset_min, struct tm *out)
{
    time_t t = (time_t)(ms / 1000 + (int64_t)offset_min * 60);
    if (gmtime_r(&t, out) == NULL) {
        memset(out, 0, sizeof *out);
    }
}

/* ---- ## Set-up ---- */

int demo_ledger_init(demo_ledger_t *l, const char *csv_path, double network_charge,
                     char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    FILE *f = fopen(csv_path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", csv_path, strerror(errno));
        return -1;
    }
    char line[256];
    int lineno = 0;
    int cap = 0;
    int64_t prev_ms = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#' || strncmp(line, "timestamp", 9) == 0) {
            continue;
        }
        char *comma = strchr(line, ',');
        char *end = NULL;
        int64_t t_ms;
        if (comma == NULL) {
            snprintf(err, errlen, "%s line %d: expected timestamp,price", csv_path, lineno);
            rc = -1;
            break;
        }
        *comma = '\0';
        double v = strtod(comma + 1, &end);
        if (demo_parse_iso(line, &t_ms) < 0 || end == comma + 1 || !isfinite(v)) {
            snprintf(err, errlen, "%s line %d: expected an ISO time with offset and a price",
                     csv_path, lineno);
            rc = -1;
            break;
        }
        if (l->n_slots == 0) {
            l->start_ms = t_ms;
        } else if (t_ms != prev_ms + DEMO_SLOT_MS) {
            snprintf(err, errlen, "%s line %d: rows must be 30 minutes apart", csv_path, lineno);
            rc = -1;
            break;
        }
        prev_ms = t_ms;
        if (l->n_slots == cap) {
            cap = cap == 0 ? 512 : cap * 2;
            double *bigger = realloc(l->spot, (size_t)cap * sizeof *bigger);
            if (bigger == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            l->spot = bigger;
        }
        l->spot[l->n_slots++] = v;
    }
    fclose(f);
    if (rc == 0 && (l->n_slots == 0 || l->n_slots % DEMO_SLOTS_PER_DAY != 0)) {
        snprintf(err, errlen, "%s: %d rows: expected whole days of 48 half hours", csv_path,
                 l->n_slots);
        rc = -1;
    }
    if (rc == 0) {
        size_t n = (size_t)l->n_slots;
        l->price = calloc(n, sizeof *l->price);
        l->baseline_cluster_kwh = calloc(n, sizeof *l->baseline_cluster_kwh);
        int ok = l->price != NULL && l->baseline_cluster_kwh != NULL;
        for (int i = 0; i < DEMO_FLOW_COUNT; i++) {
            l->flow_kwh[i] = calloc(n, sizeof *l->flow_kwh[i]);
            ok = ok && l->flow_kwh[i] != NULL;
        }
        if (!ok) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            for (size_t i = 0; i < n; i++) {
                l->price[i] = l->spot[i] + network_charge;
            }
        }
    }
    if (rc != 0) {
        demo_ledger_free(l);
        return -1;
    }
    l->baseline_t_ms = l->start_ms;
    l->cluster_cap_kw = HUGE_VAL;
    return 0;
}

void demo_ledger_free(demo_ledger_t *l)
{
    free(l->spot);
    free(l->price);
    free(l->baseline_cluster_kwh);
    for (int i = 0; i < DEMO_FLOW_COUNT; i++) {
        free(l->flow_kwh[i]);
    }
    free(l->jobs);
    memset(l, 0, sizeof *l);
}

/* ---- ## Energy into half hours ---- */

/* Add kwh, spent evenly over [t0, t1), to the half hours of arr (outside the week: dropped). */
static void spread(const demo_ledger_t *l, double *arr, int64_t t0, int64_t t1, double kwh)
{
    int64_t end = l->start_ms + (int64_t)l->n_slots * DEMO_SLOT_MS;
    if (t1 <= t0) {
        /* Two readings at the same instant: the difference belongs to that instant. */
        if (t0 >= l->start_ms && t0 < end) {
            arr[(t0 - l->start_ms) / DEMO_SLOT_MS] += kwh;
        }
        return;
    }
    double per_ms = kwh / (double)(t1 - t0);
    int64_t a = t0 > l->start_ms ? t0 : l->start_ms;
    int64_t b = t1 < end ? t1 : end;
    while (a < b) {
        int64_t slot = (a - l->start_ms) / DEMO_SLOT_MS;
        int64_t slot_end = l->start_ms + (slot + 1) * DEMO_SLOT_MS;
        int64_t upto = slot_end < b ? slot_end : b;
        arr[slot] += per_ms * (double)(upto - a);
        a = upto;
    }
}

void demo_ledger_add(demo_ledger_t *l, demo_flow_t flow, demo_register_t *reg, int64_t t_ms,
                     double kwh)
{
    if (t_ms < reg->t_ms || !isfinite(kwh)) {
        return; /* an older reading (a redelivery): nothing new */
    }
    double delta = kwh - reg->kwh;
    if (delta < 0) {
        /* The gateway restarted its register: what it counted since is all new. */
        delta = kwh;
    }
    spread(l, l->flow_kwh[flow], reg->t_ms, t_ms, delta);
    reg->t_ms = t_ms;
    reg->kwh = kwh;
}

/* ---- ## Jobs and the baseline cluster ---- */

int demo_ledger_job(demo_ledger_t *l, const demo_job_t *seen)
{
    for (size_t i = 0; i < l->n_jobs; i++) {
        demo_job_t *j = &l->jobs[i];
        if (strcmp(j->id, seen->id) == 0) {
            if (seen->finished && !j->finished) {
                j->finished = 1;
                j->finished_ms = seen->finished_ms;
            }
            return 0;
        }
    }
    if (l->n_jobs == l->cap_jobs) {
        size_t cap = l->cap_jobs == 0 ? 16 : l->cap_jobs * 2;
        demo_job_t *bigger = realloc(l->jobs, cap * sizeof *bigger);
        if (bigger == NULL) {
            return -1;
        }
        l->jobs = bigger;
        l->cap_jobs = cap;
    }
    demo_job_t *j = &l->jobs[l->n_jobs++];
    *j = *seen;
    j->base_left_kwh = seen->energy_kwh;
    j->base_finished = 0;
    j->base_finished_ms = 0;
    if (j->arrival_ms < l->baseline_t_ms) {
        /* Seen only after the baseline ran past its arrival (it cannot happen while the demo
         * runs the baseline only up to the cluster's latest reading); start it from there. */
        j->arrival_ms = l->baseline_t_ms;
    }
    return 0;
}

/* The baseline power of each job at time t: full power, earliest deadline first, within the
 * cluster's cap. Returns the number of running jobs. */
static int baseline_allocate(const demo_ledger_t *l, int64_t t, double *power)
{
    double left = l->cluster_cap_kw;
    int running = 0;
    for (size_t i = 0; i < l->n_jobs; i++) {
        power[i] = 0.0;
    }
    for (;;) {
        /* The next unserved job by deadline (the list is short: a selection is enough). */
        size_t best = l->n_jobs;
        for (size_t i = 0; i < l->n_jobs; i++) {
            const demo_job_t *j = &l->jobs[i];
            if (j->base_finished || j->arrival_ms > t || power[i] > 0 || j->base_left_kwh <= 0 ||
                !(j->power_max_kw > 0)) {
                continue;
            }
            if (best == l->n_jobs || j->deadline_ms < l->jobs[best].deadline_ms) {
                best = i;
            }
        }
        if (best == l->n_jobs || left <= 0) {
            return running;
        }
        double p = l->jobs[best].power_max_kw < left ? l->jobs[best].power_max_kw : left;
        power[best] = p;
        left -= p;
        running++;
    }
}

void demo_ledger_run_baseline(demo_ledger_t *l, int64_t t_ms)
{
    double *power = calloc(l->n_jobs > 0 ? l->n_jobs : 1, sizeof *power);
    if (power == NULL) {
        return;
    }
    while (l->baseline_t_ms < t_ms) {
        int64_t t = l->baseline_t_ms;
        baseline_allocate(l, t, power);
        /* Constant power until the next arrival, the next finish, or t_ms. */
        int64_t until = t_ms;
        for (size_t i = 0; i < l->n_jobs; i++) {
            const demo_job_t *j = &l->jobs[i];
            if (j->arrival_ms > t && j->arrival_ms < until) {
                until = j->arrival_ms;
            }
            if (power[i] > 0) {
                int64_t done = t + (int64_t)ceil(j->base_left_kwh / power[i] * DEMO_MS_PER_HOUR);
                if (done < until) {
                    until = done > t ? done : t + 1;
                }
            }
        }
        double hours = (double)(until - t) / DEMO_MS_PER_HOUR;
        for (size_t i = 0; i < l->n_jobs; i++) {
            demo_job_t *j = &l->jobs[i];
            if (power[i] <= 0) {
                continue;
            }
            double kwh = power[i] * hours;
            if (kwh >= j->base_left_kwh - 1e-9) {
                kwh = j->base_left_kwh;
                j->base_finished = 1;
                j->base_finished_ms = until;
            }
            j->base_left_kwh -= kwh;
            spread(l, l->baseline_cluster_kwh, t, until, kwh);
        }
        l->baseline_t_ms = until;
    }
    free(power);
}

/* ---- ## Summaries ---- */

void demo_ledger_summary(const demo_ledger_t *l, int first, int n, demo_summary_t *out)
{
    memset(out, 0, sizeof *out);
    double spot_sum = 0;
    for (int s = first; s < first + n && s < l->n_slots; s++) {
        double imp = l->flow_kwh[DEMO_FLOW_BASE_LOAD][s] + l->flow_kwh[DEMO_FLOW_CLUSTER][s] +
                     l->flow_kwh[DEMO_FLOW_CHARGE][s] - l->flow_kwh[DEMO_FLOW_DISCHARGE][s];
        imp = imp > 0 ? imp : 0.0; /* no export: a surplus would be curtailed, not paid */
        double base = l->flow_kwh[DEMO_FLOW_BASE_LOAD][s] + l->baseline_cluster_kwh[s];
        out->import_kwh += imp;
        out->base_import_kwh += base;
        out->cost += imp * l->price[s];
        out->base_cost += base * l->price[s];
        double hours = (double)DEMO_SLOT_MS / DEMO_MS_PER_HOUR;
        out->peak_kw = fmax(out->peak_kw, imp / hours);
        out->base_peak_kw = fmax(out->base_peak_kw, base / hours);
        out->battery_kwh_out += l->flow_kwh[DEMO_FLOW_DISCHARGE][s];
        spot_sum += l->spot[s];
    }
    out->spot_avg = n > 0 ? spot_sum / n : 0.0;
    /* A job belongs to the period its deadline falls in; one due exactly at midnight belongs to
     * the day that ends then. */
    int64_t from = l->start_ms + (int64_t)first * DEMO_SLOT_MS;
    int64_t to = from + (int64_t)n * DEMO_SLOT_MS;
    for (size_t i = 0; i < l->n_jobs; i++) {
        const demo_job_t *j = &l->jobs[i];
        if (j->deadline_ms <= from || j->deadline_ms > to) {
            continue;
        }
        out->jobs_due++;
        out->jobs_on_time += j->finished && j->finished_ms <= j->deadline_ms;
        out->base_jobs_on_time += j->base_finished && j->base_finished_ms <= j->deadline_ms;
    }
}
