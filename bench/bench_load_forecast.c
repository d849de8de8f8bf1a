/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bench_load_forecast: measure the base-load forecast (core/src/planning/load_forecast.c) on a real
 * series read from a CSV file, against two baselines:
 *   - "last value": the newest reading, repeated over the whole horizon (the naive baseline);
 *   - "seasonal naive": the same step yesterday (the forecaster with one season day, no level
 *     correction and no blending), to show what those add.
 *
 * The series is replayed in time order. At every step boundary after the warm-up (the origin),
 * each method forecasts the next H steps; the truth for a step is the mean of the readings that
 * fall into it. Errors are reported overall and at a few lead times as MAE (in the series' units,
 * after --scale/--bias) and MAPE (steps whose truth is 0 are left out of MAPE).
 *
 * Usage:
 *   bench_load_forecast FILE --col NAME|INDEX
 *       [--time-col NAME|INDEX]      timestamps "YYYY-MM-DD[T ]HH:MM[:SS][offset]"; without an
 *                                    offset they are read as clock time at --offset-min
 *       [--start ISO --data-step-min M]  rows without a time column: row i is at start + i*M
 *       [--step-min S=15] [--horizon H=96] [--warmup-days D=1] [--offset-min O=0]
 *       [--days N] [--season-days M] [--level-min L] [--decay-hours X] [--ratio-min R]
 *       [--ratio-max R] [--combine 0|1]  (forecaster settings; unset ones keep the defaults of
 *                                    gridems_load_forecast_config_default())
 *       [--scale A=1] [--bias B=0]   value = B + A * column (e.g. a utilisation -> kW model)
 * Example (Google 2019 cell, 5-minute CPU utilisation, 15-minute steps, 24 h horizon):
 *   bench_load_forecast google2019_cell_cpu_mem_5min_28d.csv --col avg_cpu \
 *       --start 2019-05-01T00:00:00-07:00 --data-step-min 5 --offset-min -420
 *
 * A benchmark is a program, not a test: it reads files and prints; nothing here is in the library.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "load_forecast.h"
#include "timeutil.h"

#define MAX_LINE 65536
#define MAX_FIELDS 256

typedef struct {
    int64_t t_ms;
    double v;
} reading_t;

typedef struct {
    const char *file;
    const char *col;
    const char *time_col;
    const char *start;
    double data_step_min;
    double step_min;
    int horizon;
    double warmup_days;
    int offset_min;
    int days;
    int season_days;
    double level_min;
    double decay_hours;
    double ratio_min;
    double ratio_max;
    double scale;
    double bias;
    int combine;
} options_t;

/* Error sums for one method: overall and per lead time. */
typedef struct {
    const char *name;
    double abs_sum;
    double ape_sum;
    long n;
    long n_ape;
    double *abs_h; /* [horizon] */
    double *ape_h;
    long *n_h;
    long *n_ape_h;
} errors_t;

static void usage(void)
{
    fprintf(stderr, "usage: bench_load_forecast FILE --col NAME|INDEX [--time-col NAME|INDEX]\n"
                    "       [--start ISO --data-step-min M] [--step-min S] [--horizon H]\n"
                    "       [--warmup-days D] [--offset-min O] [--days N] [--season-days M]\n"
                    "       [--level-min L]\n"
                    "       [--decay-hours X] [--ratio-min R] [--ratio-max R] [--combine 0|1]\n"
                    "       [--scale A] [--bias B]\n");
}

/* Split a CSV line in place on commas (no quoting: the datasets used here have none). */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r')) {
        p[--len] = '\0';
    }
    fields[n++] = p;
    for (; *p != '\0' && n < max; p++) {
        if (*p == ',') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

/* A column given by name (looked up in the header) or by zero-based index. */
static int resolve_column(const char *spec, char **header, int nh)
{
    char *end = NULL;
    long idx = strtol(spec, &end, 10);
    if (end != spec && *end == '\0') {
        return (idx >= 0 && idx < nh) ? (int)idx : -1;
    }
    for (int i = 0; i < nh; i++) {
        const char *h = header[i];
        /* Skip a UTF-8 byte-order mark on the first header field. */
        if (i == 0 && (unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB &&
            (unsigned char)h[2] == 0xBF) {
            h += 3;
        }
        if (strcmp(h, spec) == 0) {
            return i;
        }
    }
    return -1;
}

/* Timestamps with an offset are parsed as they are; bare ones get the site offset appended. */
static int parse_time(const char *text, int offset_min, int64_t *out)
{
    char buf[80];
    if (gridems_time_parse_iso(text, out, NULL, NULL, 0) == 0) {
        return 0;
    }
    int a = offset_min < 0 ? -offset_min : offset_min;
    snprintf(buf, sizeof buf, "%s%c%02d:%02d", text, offset_min < 0 ? '-' : '+', a / 60, a % 60);
    return gridems_time_parse_iso(buf, out, NULL, NULL, 0);
}

static int cmp_reading(const void *pa, const void *pb)
{
    const reading_t *a = pa, *b = pb;
    return (a->t_ms > b->t_ms) - (a->t_ms < b->t_ms);
}

static reading_t *load_csv(const options_t *o, size_t *out_n)
{
    FILE *f = fopen(o->file, "r");
    if (f == NULL) {
        perror(o->file);
        return NULL;
    }
    char *line = malloc(MAX_LINE);
    char *fields[MAX_FIELDS];
    size_t cap = 1024, n = 0;
    reading_t *r = malloc(cap * sizeof *r);
    int vcol = -1, tcol = -1;
    int64_t start_ms = 0;
    int64_t data_step_ms = llround(o->data_step_min * 60000.0);
    long lineno = 0, skipped = 0;
    if (line == NULL || r == NULL) {
        goto fail;
    }
    if (fgets(line, MAX_LINE, f) == NULL) {
        fprintf(stderr, "%s: empty file\n", o->file);
        goto fail;
    }
    lineno++;
    int nh = split(line, fields, MAX_FIELDS);
    vcol = resolve_column(o->col, fields, nh);
    if (vcol < 0) {
        fprintf(stderr, "%s: no column \"%s\"\n", o->file, o->col);
        goto fail;
    }
    if (o->time_col != NULL) {
        tcol = resolve_column(o->time_col, fields, nh);
        if (tcol < 0) {
            fprintf(stderr, "%s: no column \"%s\"\n", o->file, o->time_col);
            goto fail;
        }
    } else {
        if (o->start == NULL || data_step_ms <= 0 ||
            gridems_time_parse_iso(o->start, &start_ms, NULL, NULL, 0) != 0) {
            fprintf(stderr, "without --time-col, give --start ISO and --data-step-min M\n");
            goto fail;
        }
    }
    long row = 0;
    while (fgets(line, MAX_LINE, f) != NULL) {
        lineno++;
        int nf = split(line, fields, MAX_FIELDS);
        if (nf <= vcol || (tcol >= 0 && nf <= tcol)) {
            skipped++;
            continue;
        }
        char *end = NULL;
        double v = strtod(fields[vcol], &end);
        int64_t t = start_ms + row * data_step_ms;
        row++;
        if (end == fields[vcol] || !isfinite(v)) {
            skipped++;
            continue;
        }
        if (tcol >= 0 && parse_time(fields[tcol], o->offset_min, &t) != 0) {
            fprintf(stderr, "%s:%ld: bad time \"%s\"\n", o->file, lineno, fields[tcol]);
            skipped++;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            reading_t *g = realloc(r, cap * sizeof *r);
            if (g == NULL) {
                goto fail;
            }
            r = g;
        }
        r[n].t_ms = t;
        r[n].v = o->bias + o->scale * v;
        n++;
    }
    fclose(f);
    free(line);
    if (skipped > 0) {
        fprintf(stderr, "%s: skipped %ld unusable rows\n", o->file, skipped);
    }
    qsort(r, n, sizeof *r, cmp_reading);
    *out_n = n;
    return r;
fail:
    fclose(f);
    free(line);
    free(r);
    return NULL;
}

static int errors_init(errors_t *e, const char *name, int h)
{
    memset(e, 0, sizeof *e);
    e->name = name;
    e->abs_h = calloc((size_t)h, sizeof *e->abs_h);
    e->ape_h = calloc((size_t)h, sizeof *e->ape_h);
    e->n_h = calloc((size_t)h, sizeof *e->n_h);
    e->n_ape_h = calloc((size_t)h, sizeof *e->n_ape_h);
    return (e->abs_h && e->ape_h && e->n_h && e->n_ape_h) ? 0 : -1;
}

static void errors_free(errors_t *e)
{
    free(e->abs_h);
    free(e->ape_h);
    free(e->n_h);
    free(e->n_ape_h);
}

static void errors_add(errors_t *e, int h, double forecast, double truth)
{
    double a = fabs(forecast - truth);
    e->abs_sum += a;
    e->n++;
    e->abs_h[h] += a;
    e->n_h[h]++;
    if (truth != 0.0) {
        double p = a / fabs(truth);
        e->ape_sum += p;
        e->n_ape++;
        e->ape_h[h] += p;
        e->n_ape_h[h]++;
    }
}

static double get_num(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v)) {
        fprintf(stderr, "not a number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    options_t o = {0};
    o.step_min = 15;
    o.horizon = 96;
    o.warmup_days = 1;
    /* Forecaster settings left at NAN / -1 keep the library's defaults. */
    o.days = -1;
    o.season_days = -1;
    o.level_min = NAN;
    o.decay_hours = NAN;
    o.ratio_min = NAN;
    o.ratio_max = NAN;
    o.scale = 1.0;
    o.combine = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o.file = a;
            continue;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--col") == 0) {
            o.col = v;
        } else if (strcmp(a, "--time-col") == 0) {
            o.time_col = v;
        } else if (strcmp(a, "--start") == 0) {
            o.start = v;
        } else if (strcmp(a, "--data-step-min") == 0) {
            o.data_step_min = get_num(v);
        } else if (strcmp(a, "--step-min") == 0) {
            o.step_min = get_num(v);
        } else if (strcmp(a, "--horizon") == 0) {
            o.horizon = (int)get_num(v);
        } else if (strcmp(a, "--warmup-days") == 0) {
            o.warmup_days = get_num(v);
        } else if (strcmp(a, "--offset-min") == 0) {
            o.offset_min = (int)get_num(v);
        } else if (strcmp(a, "--days") == 0) {
            o.days = (int)get_num(v);
        } else if (strcmp(a, "--season-days") == 0) {
            o.season_days = (int)get_num(v);
        } else if (strcmp(a, "--level-min") == 0) {
            o.level_min = get_num(v);
        } else if (strcmp(a, "--decay-hours") == 0) {
            o.decay_hours = get_num(v);
        } else if (strcmp(a, "--ratio-min") == 0) {
            o.ratio_min = get_num(v);
        } else if (strcmp(a, "--ratio-max") == 0) {
            o.ratio_max = get_num(v);
        } else if (strcmp(a, "--combine") == 0) {
            o.combine = (int)get_num(v);
        } else if (strcmp(a, "--scale") == 0) {
            o.scale = get_num(v);
        } else if (strcmp(a, "--bias") == 0) {
            o.bias = get_num(v);
        } else {
            usage();
            return 2;
        }
    }
    if (o.file == NULL || o.col == NULL || o.horizon < 1) {
        usage();
        return 2;
    }

    size_t n = 0;
    reading_t *r = load_csv(&o, &n);
    if (r == NULL || n == 0) {
        free(r);
        return 1;
    }

    gridems_load_forecast_config_t cfg;
    int64_t step_ms = llround(o.step_min * 60000.0);
    gridems_load_forecast_config_default(&cfg, step_ms);
    cfg.offset_min = o.offset_min;
    if (o.days >= 0) {
        cfg.days = o.days;
        if (cfg.season_days > cfg.days) {
            cfg.season_days = cfg.days;
        }
    }
    if (o.season_days >= 0) {
        cfg.season_days = o.season_days;
    }
    if (o.combine >= 0) {
        cfg.combine = o.combine != 0;
    }
    if (!isnan(o.level_min)) {
        cfg.level_steps = (int)llround(o.level_min * 60000.0 / (double)step_ms);
        if (cfg.level_steps < 1) {
            cfg.level_steps = 1;
        }
    }
    if (!isnan(o.decay_hours)) {
        cfg.level_decay_steps = o.decay_hours * 3600000.0 / (double)step_ms;
    }
    if (!isnan(o.ratio_min)) {
        cfg.ratio_min = o.ratio_min;
    }
    if (!isnan(o.ratio_max)) {
        cfg.ratio_max = o.ratio_max;
    }
    gridems_load_forecast_config_t plain = cfg;
    plain.ratio_min = 1.0;
    plain.ratio_max = 1.0;
    plain.season_days = 1;
    plain.combine = false;

    gridems_load_forecast_t lf, sn;
    int rc = gridems_load_forecast_init(&lf, &cfg);
    if (rc == 0) {
        rc = gridems_load_forecast_init(&sn, &plain);
    }
    if (rc != 0) {
        fprintf(stderr, "bad forecaster settings: %s\n", gridems_strerror(rc));
        free(r);
        return 2;
    }

    /* Truth per step: the mean of the readings in it, indexed from the first reading's step. */
    int64_t off_ms = (int64_t)o.offset_min * GRIDEMS_TIME_MS_PER_MINUTE;
    int64_t k_first = gridems_time_floor_div(r[0].t_ms + off_ms, step_ms);
    int64_t k_last = gridems_time_floor_div(r[n - 1].t_ms + off_ms, step_ms);
    size_t nk = (size_t)(k_last - k_first + 1);
    double *tsum = calloc(nk, sizeof *tsum);
    long *tcnt = calloc(nk, sizeof *tcnt);
    double *fc = malloc((size_t)o.horizon * sizeof *fc);
    double *fs = malloc((size_t)o.horizon * sizeof *fs);
    errors_t e_lf, e_sn, e_last;
    if (tsum == NULL || tcnt == NULL || fc == NULL || fs == NULL ||
        errors_init(&e_lf, "gridems load_forecast", o.horizon) != 0 ||
        errors_init(&e_sn, "seasonal naive (yesterday)", o.horizon) != 0 ||
        errors_init(&e_last, "last value", o.horizon) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(gridems_time_floor_div(r[i].t_ms + off_ms, step_ms) - k_first);
        tsum[k] += r[i].v;
        tcnt[k]++;
    }

    /* Replay. An origin is the start of a step, once every reading before it has been fed. */
    int64_t warm_until = r[0].t_ms + llround(o.warmup_days * (double)GRIDEMS_TIME_MS_PER_DAY);
    long origins = 0;
    size_t i = 0;
    for (int64_t k = k_first + 1; k + o.horizon - 1 <= k_last; k++) {
        int64_t now = k * step_ms - off_ms;
        while (i < n && r[i].t_ms < now) {
            gridems_load_forecast_add(&lf, r[i].t_ms, r[i].v);
            gridems_load_forecast_add(&sn, r[i].t_ms, r[i].v);
            i++;
        }
        if (now < warm_until || i == 0) {
            continue;
        }
        if (gridems_load_forecast_predict(&lf, now, now, o.horizon, fc) != 0 ||
            gridems_load_forecast_predict(&sn, now, now, o.horizon, fs) != 0) {
            continue;
        }
        origins++;
        double last = r[i - 1].v;
        for (int h = 0; h < o.horizon; h++) {
            size_t kk = (size_t)(k + h - k_first);
            if (tcnt[kk] == 0) {
                continue;
            }
            double truth = tsum[kk] / (double)tcnt[kk];
            errors_add(&e_lf, h, fc[h], truth);
            errors_add(&e_sn, h, fs[h], truth);
            errors_add(&e_last, h, last, truth);
        }
    }

    char t0[GRIDEMS_TIME_ISO_BUFLEN], t1[GRIDEMS_TIME_ISO_BUFLEN];
    gridems_time_format_iso(r[0].t_ms, o.offset_min, t0, sizeof t0);
    gridems_time_format_iso(r[n - 1].t_ms, o.offset_min, t1, sizeof t1);
    double mean = 0.0;
    for (size_t j = 0; j < n; j++) {
        mean += r[j].v;
    }
    mean /= (double)n;
    printf("file      %s (column %s)\n", o.file, o.col);
    printf("readings  %zu, %s .. %s, mean %.6g\n", n, t0, t1, mean);
    printf("forecast  step %g min, horizon %d steps (%g h), warm-up %g d, %ld origins\n",
           o.step_min, o.horizon, o.horizon * o.step_min / 60.0, o.warmup_days, origins);
    printf("settings  days %d, season days %d, level window %d steps, decay %g steps, "
           "ratio [%g, %g], combine %s\n",
           cfg.days, cfg.season_days, cfg.level_steps, cfg.level_decay_steps, cfg.ratio_min,
           cfg.ratio_max, cfg.combine ? "on" : "off");
    printf("\n%-28s %12s %9s", "method", "MAE", "MAPE%");
    int marks[5] = {1, 4, o.horizon / 4, o.horizon / 2, o.horizon};
    for (int m = 0; m < 5; m++) {
        if (marks[m] >= 1 && marks[m] <= o.horizon && (m == 0 || marks[m] > marks[m - 1])) {
            printf("  MAPE%%@h%-3d", marks[m]);
        }
    }
    printf("\n");
    errors_t *all[3] = {&e_lf, &e_sn, &e_last};
    for (int k = 0; k < 3; k++) {
        errors_t *e = all[k];
        printf("%-28s %12.6g %9.3f", e->name, e->n ? e->abs_sum / (double)e->n : NAN,
               e->n_ape ? 100.0 * e->ape_sum / (double)e->n_ape : NAN);
        for (int m = 0; m < 5; m++) {
            if (marks[m] >= 1 && marks[m] <= o.horizon && (m == 0 || marks[m] > marks[m - 1])) {
                int h = marks[m] - 1;
                printf("  %11.3f",
                       e->n_ape_h[h] ? 100.0 * e->ape_h[h] / (double)e->n_ape_h[h] : NAN);
            }
        }
        printf("\n");
    }

    for (int k = 0; k < 3; k++) {
        errors_free(all[k]);
    }
    free(fc);
    free(fs);
    free(tsum);
    free(tcnt);
    free(r);
    gridems_load_forecast_close(&lf);
    gridems_load_forecast_close(&sn);
    return 0;
}
