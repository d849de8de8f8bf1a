/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `gridems backtest`: the command line and the run (backtest.h). The run: a private mosquitto on
 * a free loopback port; the operator's config with what a backtest sets (backtest_inputs.c);
 * the real service on a stepped clock under this driver, which plays the market (day-ahead
 * prices published at --publish-at each day, retained, on the service's price topic) and keeps
 * the ledger from what the devices report; at the end of the period the comparison.
 */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backtest.h"
#include "child_proc.h"
#include "commands.h"
#include "gridems/errors.h"
#include "optimizer_internal.h"
#include "service.h"
#include "timeutil.h"

#define MS_PER_DAY INT64_C(86400000)
#define MAX_DEVICES 64

static void usage(FILE *out)
{
    fputs(
        "usage: gridems backtest -c SITE.json --prices FILE.csv [options] [--report OUT.json]\n"
        "\n"
        "Run the real service over a period of real prices in simulated time, against a\n"
        "private mosquitto and the simulated devices of SITE.json, and compare what the site\n"
        "pays with gridems, without it (baseline) and with perfect foresight (one LP over the\n"
        "period). The same inputs and seed give the same report on every run.\n"
        "\n"
        "options:\n"
        "  -c, --config FILE      the site config (battery_sim, meter_sim, cluster_sim devices)\n"
        "      --prices FILE      import prices, CSV with a timestamp column (required)\n"
        "      --price-column N   the price column (default: the only one named like a price)\n"
        "      --price-unit U     kWh (default) or MWh\n"
        "      --price-adder X    added per kWh (network charges), default 0\n"
        "      --load FILE        the inflexible load as timestamp,kw (default: the meter's own)\n"
        "      --jobs FILE        training jobs, cluster_sim's CSV (default: the cluster's own)\n"
        "      --start ISO        the period's start (default: the file's first local midnight)\n"
        "      --days N           the period's length (default: the whole days of the file)\n"
        "      --warmup-days N    days run before the period, not counted (default 3)\n"
        "      --publish-at HH:MM local time the next day's prices are published (12:00)\n"
        "      --seed N           seed of every random choice (meter noise), default 1\n"
        "      --tick-seconds N   the devices' telemetry period, default 60\n"
        "      --report FILE      write the report JSON there\n"
        "      --pf-scenario FILE write the perfect-foresight scenario JSON there\n"
        "      --series FILE      write the per-step figures there (CSV: price, loads, imports)\n"
        "      --keep DIR         keep the run's files (config, state, broker log, every plan\n"
        "                         as plans/plan-N.json) in DIR\n"
        "      --speed X          at most X times real time, to watch it live (default: as\n"
        "                         fast as the service settles; the results are the same)\n"
        "      --verbose          the service's log at info level (default: warnings)\n"
        "      --quiet            no progress line\n"
        "  -h, --help             this text\n"
        "\n"
        "exit codes: 0 the period ran to its end and the service exited cleanly, 2 bad\n"
        "            input (the message names the file, line and column or the option),\n"
        "            1 otherwise\n",
        out);
}

/* ---- ## The driver ---- */

typedef struct run_s {
    const bt_options_t *o;
    const bt_prices_t *prices;
    int offset_min;
    const char *currency;
    char price_topic[300];
    char schedule_topic[300];
    int64_t period_start, period_end, run_start;
    double warmup_price;  /* flat, where the file has no prices before the period */
    int64_t next_publish; /* INT64_MIN until the first publication */
    int64_t next_progress;
    bt_ledger_t ledger;
    const bt_device_t *devs;
    int n_devs;
    int publish_failures;
    int64_t wall_start_ms;
    bool silent_checked; /* the devices were asked for a first reading (check_devices_heard) */
    char silent[512];    /* the devices that had sent none: the run stopped */
    int n_silent;
} run_t;

/* A device that has sent no telemetry an hour into the run (warm-up included) never will: its
 * plugin did not load, or it cannot reach its gateway. The service runs on without it, as it
 * should, but a backtest without it would compare figures of nothing (a battery that never
 * moves, a load of 0), so the run stops and says which. */
#define FIRST_READING_MS 3600000LL

static bool check_devices_heard(run_t *r)
{
    r->silent_checked = true;
    size_t used = 0;
    for (int i = 0; i < r->n_devs; i++) {
        if (!r->ledger.seen[i] && used < sizeof r->silent) {
            int n = snprintf(r->silent + used, sizeof r->silent - used, "%s%s",
                             used > 0 ? ", " : "", r->devs[i].name);
            used += n > 0 ? (size_t)n : 0;
            r->n_silent++;
        }
    }
    return used == 0;
}

static int64_t local_day_start(const run_t *r, int64_t t)
{
    int64_t out;
    gridems_time_align_down(t, MS_PER_DAY, r->offset_min, &out);
    return out;
}

/* The price of the file row holding t, or the warm-up's flat price before the file starts. */
static double price_at(const run_t *r, int64_t t)
{
    const bt_prices_t *p = r->prices;
    if (t < p->start_ms) {
        return r->warmup_price;
    }
    int64_t row = (t - p->start_ms) / p->step_ms;
    return p->per_kwh[row < p->n ? row : p->n - 1];
}

/* Publish [from, until) on the file's grid as one series message (retained). */
static void publish_prices(gridems_service_t *svc, run_t *r, int64_t from, int64_t until)
{
    const bt_prices_t *p = r->prices;
    int64_t file_end = p->start_ms + (int64_t)p->n * p->step_ms;
    if (until > file_end) {
        until = file_end; /* the market has not published further */
    }
    int64_t off = from - p->start_ms;
    from -= ((off % p->step_ms) + p->step_ms) % p->step_ms;
    if (until <= from) {
        return;
    }
    cJSON *msg = cJSON_CreateObject();
    char iso[GRIDEMS_TIME_ISO_BUFLEN];
    gridems_time_format_iso(from, r->offset_min, iso, sizeof iso);
    cJSON_AddStringToObject(msg, "start", iso);
    cJSON_AddNumberToObject(msg, "step_minutes", (double)(p->step_ms / 60000));
    cJSON *values = cJSON_AddArrayToObject(msg, "values");
    for (int64_t t = from; t < until; t += p->step_ms) {
        cJSON_AddItemToArray(values, cJSON_CreateNumber(price_at(r, t)));
    }
    cJSON_AddStringToObject(msg, "unit", "kWh");
    cJSON_AddStringToObject(msg, "currency", r->currency);
    char *text = gridems__json_print(msg);
    cJSON_Delete(msg);
    if (text == NULL ||
        gridems_service_publish(svc, r->price_topic, text, strlen(text), 1, 1) != 0) {
        r->publish_failures++;
    }
    free(text);
}

static void progress(run_t *r, int64_t now)
{
    /* A progress line that rewrites itself is for a person at a terminal, not for a log. */
    if (r->o->quiet || now < r->next_progress || !isatty(STDERR_FILENO)) {
        return;
    }
    r->next_progress = now + MS_PER_DAY;
    char iso[GRIDEMS_TIME_ISO_BUFLEN];
    gridems_time_format_iso(now, r->offset_min, iso, sizeof iso);
    fprintf(stderr, "\rbacktest: %.10s%s  (%.0f s)   ", iso,
            now < r->period_start ? " warm-up" : "",
            (double)(gridems_child_mono_ms() - r->wall_start_ms) / 1000.0);
    fflush(stderr);
}

/* --speed: hold the simulated clock back to at most that many times real time. Only the pace
 * changes: the lockstep makes the results independent of it. */
static void pace(const run_t *r, int64_t now)
{
    if (r->o->speed <= 0) {
        return;
    }
    int64_t due = r->wall_start_ms + (int64_t)((double)(now - r->run_start) / r->o->speed);
    int64_t wait = due - gridems_child_mono_ms();
    if (wait > 0) {
        struct timespec nap = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        nanosleep(&nap, NULL);
    }
}

static int64_t on_settled(gridems_service_t *svc, int64_t now, void *userdata)
{
    run_t *r = userdata;
    if (now >= r->period_end) {
        return -1;
    }
    if (!r->silent_checked && now >= r->run_start + FIRST_READING_MS && !check_devices_heard(r)) {
        return -1;
    }
    pace(r, now);
    progress(r, now);
    int64_t day = local_day_start(r, now);
    int64_t publish_today = day + (int64_t)r->o->publish_at_min * 60000;
    if (r->next_publish == INT64_MIN) {
        /* At the start the current day is known; after today's publication time, tomorrow too. */
        int64_t until = day + (now >= publish_today ? 2 : 1) * MS_PER_DAY;
        publish_prices(svc, r, now, until);
        r->next_publish = now >= publish_today ? publish_today + MS_PER_DAY : publish_today;
    } else if (now >= r->next_publish) {
        publish_prices(svc, r, now, day + 2 * MS_PER_DAY);
        r->next_publish += MS_PER_DAY;
    }
    int64_t next = r->next_publish < r->period_end ? r->next_publish : r->period_end;
    if (!r->silent_checked && r->run_start + FIRST_READING_MS < next) {
        next = r->run_start + FIRST_READING_MS;
    }
    return next > r->next_progress || r->o->quiet ? next : r->next_progress;
}

/* --keep: every plan as published, so a run can be taken apart afterwards (plans/plan-N.json,
 * N counting the plans of the run). */
static void keep_plan(run_t *r, const void *payload, size_t len)
{
    if (r->o->keep_dir == NULL) {
        return;
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/plans", r->o->keep_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/plans/plan-%06llu.json", r->o->keep_dir,
             (unsigned long long)r->ledger.plans);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fwrite(payload, 1, len, f);
        fclose(f);
    }
}

static void on_message(gridems_service_t *svc, const char *topic, const void *payload, size_t len,
                       int retained, void *userdata)
{
    run_t *r = userdata;
    (void)svc;
    (void)retained;
    for (int i = 0; i < r->n_devs; i++) {
        if (strcmp(topic, r->devs[i].topic) == 0) {
            bt_ledger_telemetry(&r->ledger, i, payload, len);
            return;
        }
    }
    if (strcmp(topic, r->schedule_topic) == 0) {
        bt_ledger_schedule(&r->ledger, payload, len);
        keep_plan(r, payload, len);
    }
}

/* ---- ## The command line ---- */

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int bad_option(const char *opt, const char *rule, const char *got)
{
    fprintf(stderr, "gridems backtest: %s: %s, got \"%.60s\"\n", opt, rule, got);
    return GRIDEMS_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, bt_options_t *o, const char **pf_path, int *verbose)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"prices", required_argument, NULL, 'p'},
                                             {"price-column", required_argument, NULL, 'C'},
                                             {"price-unit", required_argument, NULL, 'U'},
                                             {"price-adder", required_argument, NULL, 'A'},
                                             {"load", required_argument, NULL, 'L'},
                                             {"jobs", required_argument, NULL, 'J'},
                                             {"start", required_argument, NULL, 'S'},
                                             {"days", required_argument, NULL, 'D'},
                                             {"warmup-days", required_argument, NULL, 'W'},
                                             {"publish-at", required_argument, NULL, 'P'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"tick-seconds", required_argument, NULL, 'T'},
                                             {"report", required_argument, NULL, 'r'},
                                             {"pf-scenario", required_argument, NULL, 'F'},
                                             {"keep", required_argument, NULL, 'k'},
                                             {"series", required_argument, NULL, 'E'},
                                             {"speed", required_argument, NULL, 'X'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->warmup_days = 3;
    o->publish_at_min = 12 * 60;
    o->seed = 1;
    o->tick_seconds = 60;
    int c;
    long v;
    char *end = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'p':
            o->prices_path = optarg;
            break;
        case 'C':
            o->price_column = optarg;
            break;
        case 'U':
            if (strcmp(optarg, "kWh") != 0 && strcmp(optarg, "MWh") != 0) {
                return bad_option("--price-unit", "must be kWh or MWh", optarg);
            }
            o->price_per_mwh = strcmp(optarg, "MWh") == 0;
            break;
        case 'A':
            o->price_adder = strtod(optarg, &end);
            if (optarg[0] == '\0' || *end != '\0' || !isfinite(o->price_adder) ||
                fabs(o->price_adder) > 1e6) {
                return bad_option("--price-adder", "must be a number", optarg);
            }
            break;
        case 'L':
            o->load_path = optarg;
            break;
        case 'J':
            o->jobs_path = optarg;
            break;
        case 'S': {
            char why[160];
            if (gridems_time_parse_iso(optarg, &o->start_ms, NULL, why, sizeof why) != 0) {
                return bad_option("--start", why, optarg);
            }
            o->has_start = true;
            break;
        }
        case 'D':
            if (parse_int(optarg, 1, 366, &v) != 0) {
                return bad_option("--days", "must be a whole number of days in 1..366", optarg);
            }
            o->days = (int)v;
            break;
        case 'W':
            if (parse_int(optarg, 0, 28, &v) != 0) {
                return bad_option("--warmup-days", "must be a whole number in 0..28", optarg);
            }
            o->warmup_days = (int)v;
            break;
        case 'P': {
            int hh, mm;
            char tail;
            if (sscanf(optarg, "%2d:%2d%c", &hh, &mm, &tail) != 2 || hh < 0 || hh > 23 || mm < 0 ||
                mm > 59) {
                return bad_option("--publish-at", "must be HH:MM", optarg);
            }
            o->publish_at_min = hh * 60 + mm;
            break;
        }
        case 's':
            if (parse_int(optarg, 0, 2147483647L, &v) != 0) {
                return bad_option("--seed", "must be a whole number >= 0", optarg);
            }
            o->seed = v;
            break;
        case 'T':
            if (parse_int(optarg, 1, 1800, &v) != 0 ||
                !(60 % v == 0 || (v % 60 == 0 && 1800 % v == 0))) {
                return bad_option("--tick-seconds",
                                  "must divide a minute or be whole minutes dividing 30 minutes",
                                  optarg);
            }
            o->tick_seconds = (int)v;
            break;
        case 'r':
            o->report_path = optarg;
            break;
        case 'F':
            *pf_path = optarg;
            break;
        case 'E':
            o->series_path = optarg;
            break;
        case 'X':
            o->speed = strtod(optarg, &end);
            if (optarg[0] == '\0' || *end != '\0' || !(o->speed >= 1 && o->speed <= 1e7)) {
                return bad_option("--speed", "must be a number in 1..1e7", optarg);
            }
            break;
        case 'k':
            o->keep_dir = optarg;
            break;
        case 'v':
            *verbose = 1;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return GRIDEMS_EXIT_USAGE;
        }
    }
    if (o->config_path == NULL || o->prices_path == NULL || optind != argc) {
        usage(stderr);
        return GRIDEMS_EXIT_USAGE;
    }
    return 0;
}

static int write_text(const char *path, const char *text, const char *what)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "gridems backtest: cannot write the %s to %s\n", what, path);
        return -1;
    }
    return 0;
}

/* The period from the options and the file, in whole local days. */
static int choose_period(const bt_options_t *o, const bt_prices_t *p, int offset_min,
                         int64_t step_ms, int64_t *start, int *steps)
{
    int64_t file_end = p->start_ms + (int64_t)p->n * p->step_ms;
    if (o->has_start) {
        *start = o->start_ms;
        if (gridems_time_align_down(*start, step_ms, offset_min, start) != 0 ||
            *start != o->start_ms) {
            fprintf(stderr,
                    "gridems backtest: --start: must lie on the planner's %lld-minute "
                    "grid\n",
                    (long long)(step_ms / 60000));
            return GRIDEMS_EXIT_USAGE;
        }
    } else {
        int64_t d;
        gridems_time_align_down(p->start_ms, MS_PER_DAY, offset_min, &d);
        *start = d < p->start_ms ? d + MS_PER_DAY : d;
    }
    int days = o->days;
    if (days == 0) {
        days = (int)((file_end - *start) / MS_PER_DAY);
    }
    int64_t end = *start + days * MS_PER_DAY;
    if (days <= 0 || !bt_prices_cover(p, *start, end)) {
        fprintf(stderr,
                "gridems backtest: %s: the prices do not cover the period (%d days from "
                "the start)\n",
                o->prices_path, days);
        return GRIDEMS_EXIT_USAGE;
    }
    *steps = (int)((end - *start) / step_ms);
    return 0;
}

static int run_backtest(bt_options_t *o, const char *pf_path, int verbose)
{
    char err[1024] = "";
    gridems_service_config_t site;
    memset(&site, 0, sizeof site);
    if (gridems_service_config_load(o->config_path, &site, err, sizeof err) != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        return GRIDEMS_EXIT_USAGE;
    }
    bt_prices_t prices;
    int rc = bt_prices_read(o->prices_path, o->price_column, o->price_per_mwh, o->price_adder,
                            &prices, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        gridems_service_config_free(&site);
        return GRIDEMS_EXIT_USAGE;
    }
    int64_t step_ms = (int64_t)site.planner.step_minutes * 60000;
    run_t r;
    memset(&r, 0, sizeof r);
    int steps = 0;
    rc = choose_period(o, &prices, site.site.utc_offset_min, step_ms, &r.period_start, &steps);
    char dir[4096] = "";
    gridems_broker_t broker = {-1, 0, ""};
    bt_device_t devs[MAX_DEVICES];
    bt_compare_t cmp;
    memset(&cmp, 0, sizeof cmp);
    int n_devs = 0, exit_code = GRIDEMS_EXIT_FAILURE;
    if (rc != 0) {
        exit_code = rc;
        goto done;
    }
    r.o = o;
    r.prices = &prices;
    r.offset_min = site.site.utc_offset_min;
    r.currency = site.site.currency;
    r.period_end = r.period_start + (int64_t)steps * step_ms;
    r.run_start = r.period_start - (int64_t)o->warmup_days * MS_PER_DAY;
    r.warmup_price = bt_prices_mean(&prices, r.period_start, r.period_start + MS_PER_DAY);
    r.next_publish = INT64_MIN;
    r.next_progress = r.run_start;
    r.wall_start_ms = gridems_child_mono_ms();
    snprintf(r.price_topic, sizeof r.price_topic, "%s", site.mqtt.topics.price);
    snprintf(r.schedule_topic, sizeof r.schedule_topic, "%s/schedule", site.mqtt.topic_prefix);
    if (o->keep_dir != NULL) {
        snprintf(dir, sizeof dir, "%s", o->keep_dir);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "gridems backtest: --keep: cannot create %s: %s\n", dir,
                    strerror(errno));
            exit_code = GRIDEMS_EXIT_USAGE;
            goto done;
        }
    } else if (gridems_child_make_temp_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "gridems backtest: cannot make a temporary directory: %s\n",
                strerror(errno));
        goto done;
    }
    if (gridems_broker_start(&broker, dir, err, sizeof err) != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        goto done;
    }
    if (!o->quiet) {
        /* gridems's own topics only: the device gateways' telemetry and commands (P/dev/...) and
         * the lockstep's barrier messages are most of the traffic and no use to a person. */
        fprintf(stderr,
                "backtest: private mosquitto on 127.0.0.1:%d; watch it live with\n"
                "  mosquitto_sub -h 127.0.0.1 -p %d -t '%s/#' -T '%s/dev/#' -T '%s/lockstep/#' "
                "-v\n",
                broker.port, broker.port, site.mqtt.topic_prefix, site.mqtt.topic_prefix,
                site.mqtt.topic_prefix);
    }
    char config_path[4200];
    rc = bt_write_config(o, dir, broker.port, r.run_start, devs, &n_devs, MAX_DEVICES, config_path,
                         sizeof config_path, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        exit_code = rc;
        goto done;
    }
    gridems_service_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (gridems_service_config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        exit_code = GRIDEMS_EXIT_USAGE;
        goto done;
    }
    if (!verbose && cfg.log_level > GRIDEMS_LOG_WARNING) {
        cfg.log_level = GRIDEMS_LOG_WARNING;
    }
    if (bt_ledger_init(&r.ledger, r.period_start, step_ms, steps, devs, n_devs) != 0) {
        gridems_service_config_free(&cfg);
        fprintf(stderr, "gridems backtest: out of memory\n");
        goto done;
    }
    r.devs = devs;
    r.n_devs = n_devs;
    gridems_service_driver_t driver = {&r, "#", on_message, on_settled};
    int svc_rc = gridems_service_run_driven(&cfg, config_path, &driver);
    if (!o->quiet && isatty(STDERR_FILENO)) {
        fputs("\n", stderr);
    }
    double wall_s = (double)(gridems_child_mono_ms() - r.wall_start_ms) / 1000.0;
    gridems_broker_stop(&broker);
    if (r.silent[0] != '\0') {
        fprintf(stderr,
                "gridems backtest: no telemetry from %s in the run's first simulated hour: %s "
                "(the service's log above says why); no figures without %s\n",
                r.silent,
                r.n_silent > 1 ? "their plugins did not load or cannot reach their devices"
                               : "its plugin did not load or cannot reach its device",
                r.n_silent > 1 ? "them" : "it");
        goto done;
    }
    if (svc_rc != 0 || r.publish_failures > 0) {
        fprintf(stderr, "gridems backtest: the service %s\n",
                svc_rc != 0 ? "did not run to the end cleanly" : "could not be sent every price");
        goto done;
    }
    char *pf_json = NULL;
    rc = bt_compare(&r.ledger, &prices, &site, &cmp, pf_path != NULL ? &pf_json : NULL, err,
                    sizeof err);
    if (pf_json != NULL) {
        write_text(pf_path, pf_json, "perfect-foresight scenario");
        free(pf_json);
    }
    if (rc != 0) {
        fprintf(stderr, "gridems backtest: %s\n", err);
        goto done;
    }
    bt_print_summary(stdout, &cmp, &r.ledger, &site, wall_s);
    if (o->series_path != NULL && bt_write_series(o->series_path, &cmp, &r.ledger, &site) != 0) {
        fprintf(stderr, "gridems backtest: cannot write the series to %s\n", o->series_path);
        goto done;
    }
    if (o->report_path != NULL) {
        char *report = bt_report_json(&cmp, &r.ledger, o, &site, wall_s);
        if (report == NULL || write_text(o->report_path, report, "report") != 0) {
            free(report);
            goto done;
        }
        free(report);
    }
    exit_code = GRIDEMS_EXIT_OK;
done:
    gridems_broker_stop(&broker);
    if (dir[0] != '\0' && o->keep_dir == NULL) {
        gridems_child_remove_tree(dir);
    }
    bt_compare_free(&cmp);
    if (r.ledger.steps > 0) {
        bt_ledger_free(&r.ledger);
    }
    bt_prices_free(&prices);
    gridems_service_config_free(&site);
    return exit_code;
}

int gridems__cmd_backtest(int argc, char **argv)
{
    bt_options_t o;
    const char *pf_path = NULL;
    int verbose = 0;
    int rc = parse_args(argc, argv, &o, &pf_path, &verbose);
    if (rc != 0) {
        return rc < 0 ? GRIDEMS_EXIT_OK : rc;
    }
    return run_backtest(&o, pf_path, verbose);
}
