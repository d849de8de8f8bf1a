/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gridems-demo: the live demo of gridems at the Sakai AI data center.
 *
 * What it does, in order:
 *   1. starts a private mosquitto on a free loopback port (config in a temporary directory);
 *   2. writes the site config from examples/demo/sakai-site.json (the broker's port, the state
 *      and plugin directories and the source directory filled in) and starts the real
 *      `gridems run -c` on it: simulated batteries, site meter and GPU cluster behind simulated
 *      MQTT gateways, on a simulated clock running a week in a minute or two;
 *   3. acts as the utility: publishes the JEPX day-ahead prices (plus the network charge) the
 *      way the market makes them known, the first day at the start and day D+1 at noon of day
 *      D, simulated time, retained on the service's price topic;
 *   4. observes everything over MQTT (gridems/#), as any other client could, and per simulated
 *      day prints the energy cost with gridems against the same site with no batteries and no
 *      flexibility, the peak import of both, and the jobs finished by their deadlines
 *      (demo_ledger.c says exactly how);
 *   5. stops gridems with SIGTERM (it publishes "offline" and exits 0), then mosquitto, and
 *      removes its temporary directory. It exits 0 only if the week ran and gridems exited 0.
 *
 * The simulated time comes from the devices' telemetry ("ts", the service's clock), never
 * from the demo's own clock, so the demo and the service cannot drift apart.
 *
 * Blocking Paho MQTTClient in synchronous mode (no callbacks): one thread receives, publishes
 * and watches the children, which keeps shutdown on every path simple.
 */
#include <MQTTClient.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

#ifndef GRIDEMS_DEMO_SOURCE_DIR
#define GRIDEMS_DEMO_SOURCE_DIR "."
#endif
#ifndef GRIDEMS_DEMO_BUILD_DIR
#define GRIDEMS_DEMO_BUILD_DIR "build"
#endif

/* The site's network charges on top of the spot price (as in examples/sakai_day.json). */
#define NETWORK_CHARGE_JPY_PER_KWH 4.0
#define PRICE_CSV "examples/data/jepx_kansai_2023-05-08_week.csv"
#define SITE_TEMPLATE "examples/demo/sakai-site.json"
/* Real-time limits: the broker's start, a stalled simulation, the children's shutdown. */
#define BROKER_START_MS 5000
#define STALL_LIMIT_MS 30000
#define SERVICE_STOP_MS 15000
#define BROKER_STOP_MS 5000
#define MAX_DEVICES 32
#define MS_PER_DAY (INT64_C(86400000))

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

typedef enum dev_kind_e { DEV_METER, DEV_BATTERY, DEV_CLUSTER } dev_kind_t;

/* One simulated device gateway the demo listens to. */
typedef struct device_s {
    char name[64];
    char topic[320]; /* <topic_prefix>/telemetry */
    dev_kind_t kind;
    demo_register_t reg[2]; /* meter, cluster: [0]; battery: [0] charged, [1] discharged */
    int64_t last_ts;        /* 0 until the first reading */
    double capacity_kwh;    /* battery, for the header */
    double power_kw;        /* battery: largest discharge; cluster: cap */
    int have_soc;           /* battery: stored energy at the first and the latest reading */
    double soc_first_kwh;
    double soc_last_kwh;
} device_t;

typedef struct demo_s {
    /* Options. */
    char source_dir[PATH_MAX];
    double speed; /* 0: the template's */
    int keep;
    int verbose;

    /* Files and processes. */
    char build_dir[PATH_MAX];
    char gridems_bin[PATH_MAX + 16];
    char plugin_dir[PATH_MAX + 16];
    char mosquitto_bin[PATH_MAX];
    char tmp[PATH_MAX];
    int have_tmp;
    int port;
    pid_t broker;
    pid_t service;
    int service_status; /* waitpid status once it has exited */
    int service_exited;
    MQTTClient mqtt;
    int mqtt_created;

    /* The site, from the config. */
    cJSON *config;
    int offset_min;
    double clock_speed;
    char prefix[256];
    char topic_price[320];
    char topic_status[320];
    char topic_schedule[320];
    double demand_charge;
    const char *billing_period;
    device_t devices[MAX_DEVICES];
    int n_devices;

    /* Progress. */
    demo_ledger_t ledger;
    int ledger_ready;
    int n_days;
    int next_price_day; /* the next day whose prices are still to be published */
    int days_done;
    int64_t sim_now;    /* the latest telemetry time seen */
    demo_summary_t days[32];
    uint64_t plans;     /* schedules seen */
    uint64_t last_plan_id;
    char status[32];    /* the service's last status word */
} demo_t;

/* ---- ## Small helpers ---- */

static void path_join(char *out, size_t len, const char *dir, const char *rel)
{
    snprintf(out, len, "%s/%s", dir, rel);
}

/* An integer amount with thousands separators, e.g. -1,234,567. */
static const char *grouped(char *buf, size_t len, double v)
{
    long long n = llround(v);
    int neg = n < 0;
    unsigned long long u = neg ? (unsigned long long)(-(n + 1)) + 1 : (unsigned long long)n;
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", u);
    char tmp[48];
    int k = 0;
    if (neg) {
        tmp[k++] = '-';
    }
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) {
            tmp[k++] = ',';
        }
        tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    snprintf(buf, len, "%s", tmp);
    return buf;
}

static void format_iso(const demo_t *d, int64_t ms, char *out, size_t len)
{
    char local[40];
    struct tm tm;
    demo_local_tm(ms, d->offset_min, &tm);
    strftime(local, sizeof local, "%Y-%m-%dT%H:%M:%S", &tm);
    int off = d->offset_min < 0 ? -d->offset_min : d->offset_min;
    snprintf(out, len, "%s%c%02d:%02d", local, d->offset_min < 0 ? '-' : '+', off / 60, off % 60);
}

static int64_t day_start(const demo_t *d, int day)
{
    return d->ledger.start_ms + (int64_t)day * MS_PER_DAY;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gridems-demo [options] [SOURCE_DIR]\n"
            "\n"
            "The live demo: a private mosquitto, the real gridems service with the simulated\n"
            "Sakai data center, a week of JEPX Kansai day-ahead prices at accelerated time, and\n"
            "per simulated day the cost against the same site without gridems.\n"
            "\n"
            "  SOURCE_DIR    the gridems source tree (for %s and %s);\n"
            "                default %s\n"
            "  --speed N     simulated seconds per real second (default: the template's)\n"
            "  --verbose     show the service's log on stderr\n"
            "  --keep        keep the temporary directory (configs, logs) and print its path\n"
            "  -h, --help    this text\n",
            PRICE_CSV, SITE_TEMPLATE, GRIDEMS_DEMO_SOURCE_DIR);
}

/* ---- ## The site config ---- */

/* Replace every @NAME@ in the string values of the tree. */
static int substitute(cJSON *node, const char *const names[], const char *const values[],
                      int n)
{
    if (cJSON_IsString(node) && strchr(node->valuestring, '@') != NULL) {
        char out[8192];
        size_t k = 0;
        const char *s = node->valuestring;
        while (*s != '\0') {
            int matched = 0;
            for (int i = 0; i < n && !matched; i++) {
                size_t nl = strlen(names[i]);
                if (strncmp(s, names[i], nl) == 0) {
                    size_t vl = strlen(values[i]);
                    if (k + vl >= sizeof out) {
                        return -1;
                    }
                    memcpy(out + k, values[i], vl);
                    k += vl;
                    s += nl;
                    matched = 1;
                }
            }
            if (!matched) {
                if (k + 1 >= sizeof out) {
                    return -1;
                }
                out[k++] = *s++;
            }
        }
        out[k] = '\0';
        return cJSON_SetValuestring(node, out) != NULL ? 0 : -1;
    }
    for (cJSON *c = node->child; c != NULL; c = c->next) {
        if (substitute(c, names, values, n) < 0) {
            return -1;
        }
    }
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static double number_or(const cJSON *obj, const char *key, double fallback)
{
    const cJSON *v = member(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static const char *string_or(const cJSON *obj, const char *key, const char *fallback)
{
    const cJSON *v = member(obj, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

/* Learn the site, its topics and its devices from the (filled-in) config. */
static int read_site(demo_t *d)
{
    const cJSON *site = member(d->config, "site");
    const cJSON *mqtt = member(d->config, "mqtt");
    const cJSON *clock = member(d->config, "clock");
    const char *id = string_or(site, "id", NULL);
    if (id == NULL || !cJSON_IsObject(mqtt) || !cJSON_IsObject(clock)) {
        fprintf(stderr, "gridems-demo: %s: needs site.id, mqtt and clock\n", SITE_TEMPLATE);
        return -1;
    }
    const char *offset = string_or(site, "utc_offset", "+00:00");
    int oh = 0, om = 0;
    if (strlen(offset) != 6 || sscanf(offset + 1, "%2d:%2d", &oh, &om) != 2) {
        fprintf(stderr, "gridems-demo: site.utc_offset: expected +HH:MM, got %s\n", offset);
        return -1;
    }
    d->offset_min = (offset[0] == '-' ? -1 : 1) * (oh * 60 + om);
    d->demand_charge = number_or(site, "demand_charge_per_kw", 0.0);
    d->billing_period = string_or(site, "billing_period", "month");
    d->clock_speed = number_or(clock, "speed", 1.0);
    snprintf(d->prefix, sizeof d->prefix, "%s", string_or(mqtt, "topic_prefix", ""));
    if (d->prefix[0] == '\0') {
        snprintf(d->prefix, sizeof d->prefix, "gridems/%s", id);
    }
    const char *price = string_or(member(mqtt, "topics"), "price", NULL);
    if (price != NULL) {
        snprintf(d->topic_price, sizeof d->topic_price, "%s", price);
    } else {
        snprintf(d->topic_price, sizeof d->topic_price, "%s/in/price", d->prefix);
    }
    snprintf(d->topic_status, sizeof d->topic_status, "%s/status", d->prefix);
    snprintf(d->topic_schedule, sizeof d->topic_schedule, "%s/schedule", d->prefix);

    const cJSON *plugins = member(d->config, "plugins");
    const cJSON *p;
    cJSON_ArrayForEach(p, plugins)
    {
        const char *plugin = string_or(p, "plugin", "");
        const cJSON *opts = member(p, "options");
        const char *topic_prefix = string_or(opts, "topic_prefix", NULL);
        dev_kind_t kind;
        if (strcmp(plugin, "battery_sim") == 0) {
            kind = DEV_BATTERY;
        } else if (strcmp(plugin, "cluster_sim") == 0) {
            kind = DEV_CLUSTER;
        } else if (strcmp(plugin, "meter_sim") == 0 &&
                   strcmp(string_or(opts, "role", "load"), "load") == 0) {
            kind = DEV_METER;
        } else {
            fprintf(stderr, "gridems-demo: plugin %s (%s) is not accounted for\n",
                    string_or(p, "name", "?"), plugin);
            continue;
        }
        if (topic_prefix == NULL) {
            fprintf(stderr, "gridems-demo: plugin %s: no options.topic_prefix\n",
                    string_or(p, "name", "?"));
            return -1;
        }
        if (d->n_devices == MAX_DEVICES) {
            fprintf(stderr, "gridems-demo: more than %d devices\n", MAX_DEVICES);
            return -1;
        }
        device_t *dev = &d->devices[d->n_devices++];
        memset(dev, 0, sizeof *dev);
        dev->kind = kind;
        snprintf(dev->name, sizeof dev->name, "%s", string_or(p, "name", plugin));
        snprintf(dev->topic, sizeof dev->topic, "%s/telemetry", topic_prefix);
        dev->capacity_kwh = number_or(opts, "capacity_kwh", 0.0);
        dev->power_kw = number_or(opts, kind == DEV_BATTERY ? "discharge_max_kw" : "power_cap_kw",
                                  0.0);
        /* The registers count from 0 when the gateway starts, at the start of the simulated
         * clock: the first reading's energy belongs to the time since then. */
        for (int r = 0; r < 2; r++) {
            dev->reg[r].t_ms = d->ledger.start_ms;
            dev->reg[r].kwh = 0.0;
        }
    }
    int meters = 0;
    for (int i = 0; i < d->n_devices; i++) {
        meters += d->devices[i].kind == DEV_METER;
    }
    if (meters != 1) {
        fprintf(stderr, "gridems-demo: the site needs exactly one load meter, has %d\n", meters);
        return -1;
    }
    return 0;
}

static int write_site_config(demo_t *d, const char *path)
{
    char template_path[PATH_MAX + 64];
    path_join(template_path, sizeof template_path, d->source_dir, SITE_TEMPLATE);
    char *text = read_text(template_path);
    if (text == NULL) {
        fprintf(stderr, "gridems-demo: cannot read %s: %s\n", template_path, strerror(errno));
        return -1;
    }
    d->config = cJSON_Parse(text);
    free(text);
    if (d->config == NULL) {
        fprintf(stderr, "gridems-demo: %s: not valid JSON\n", template_path);
        return -1;
    }
    char port[16], state_dir[PATH_MAX + 16];
    snprintf(port, sizeof port, "%d", d->port);
    path_join(state_dir, sizeof state_dir, d->tmp, "state");
    const char *names[] = {"@PORT@", "@STATE_DIR@", "@PLUGIN_DIR@", "@SOURCE_DIR@"};
    const char *values[] = {port, state_dir, d->plugin_dir, d->source_dir};
    if (substitute(d->config, names, values, 4) < 0) {
        fprintf(stderr, "gridems-demo: %s: a filled-in value is too long\n", template_path);
        return -1;
    }
    if (read_site(d) < 0) {
        return -1;
    }
    /* The simulated week starts with the first price; the speed may come from the command
     * line. */
    cJSON *clock = cJSON_GetObjectItemCaseSensitive(d->config, "clock");
    char start[64];
    format_iso(d, d->ledger.start_ms, start, sizeof start);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(clock, "start", cJSON_CreateString(start)) ||
        (d->speed > 0 &&
         !cJSON_ReplaceItemInObjectCaseSensitive(clock, "speed", cJSON_CreateNumber(d->speed)))) {
        fprintf(stderr, "gridems-demo: %s: needs a clock object with start and speed\n",
                template_path);
        return -1;
    }
    if (d->speed > 0) {
        d->clock_speed = d->speed;
    }
    char *out = cJSON_Print(d->config);
    FILE *f = out != NULL ? fopen(path, "w") : NULL;
    int ok = f != NULL && fputs(out, f) >= 0 && fputc('\n', f) != EOF;
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    cJSON_free(out);
    if (!ok) {
        fprintf(stderr, "gridems-demo: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- ## MQTT ---- */

static int publish(demo_t *d, const char *topic, const char *payload, int retained)
{
    MQTTClient_message msg = MQTTClient_message_initializer;
    msg.payload = (void *)payload;
    msg.payloadlen = (int)strlen(payload);
    msg.qos = 1;
    msg.retained = retained;
    MQTTClient_deliveryToken token = 0;
    int rc = MQTTClient_publishMessage(d->mqtt, topic, &msg, &token);
    if (rc == MQTTCLIENT_SUCCESS) {
        rc = MQTTClient_waitForCompletion(d->mqtt, token, 5000);
    }
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "gridems-demo: cannot publish on %s (Paho error %d)\n", topic, rc);
        return -1;
    }
    return 0;
}

/*
 * Publish the prices of days [first_day, last_day] as one series, retained, as the utility. The
 * message at noon repeats the current day with the next one: the running service already holds
 * today's prices (a new message only replaces what overlaps, with the same values), and a
 * service that restarts in the afternoon finds both days in the retained message.
 */
static int publish_prices(demo_t *d, int first_day, int last_day)
{
    cJSON *msg = cJSON_CreateObject();
    char start[64];
    format_iso(d, day_start(d, first_day), start, sizeof start);
    cJSON_AddStringToObject(msg, "start", start);
    cJSON_AddNumberToObject(msg, "step_minutes", 30);
    cJSON *values = cJSON_AddArrayToObject(msg, "values");
    for (int s = first_day * DEMO_SLOTS_PER_DAY; s < (last_day + 1) * DEMO_SLOTS_PER_DAY; s++) {
        /* Rounded to the market's 0.01 JPY, so that the message shows the published prices. */
        cJSON_AddItemToArray(values, cJSON_CreateNumber(round(d->ledger.price[s] * 100) / 100));
    }
    cJSON_AddStringToObject(msg, "unit", "kWh");
    cJSON_AddStringToObject(msg, "currency", "JPY");
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    int rc = text != NULL ? publish(d, d->topic_price, text, 1) : -1;
    cJSON_free(text);
    return rc;
}

static int64_t int_member(const cJSON *obj, const char *key, int *ok)
{
    const cJSON *v = member(obj, key);
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return 0;
    }
    return (int64_t)llround(v->valuedouble);
}

static double num_member(const cJSON *obj, const char *key, int *ok)
{
    const cJSON *v = member(obj, key);
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return 0.0;
    }
    return v->valuedouble;
}

static void on_cluster_jobs(demo_t *d, const cJSON *jobs)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        demo_job_t job;
        memset(&job, 0, sizeof job);
        int ok = 1;
        const char *id = string_or(j, "id", NULL);
        job.arrival_ms = int_member(j, "arrival", &ok);
        job.deadline_ms = int_member(j, "deadline", &ok);
        job.energy_kwh = num_member(j, "energy_kwh", &ok);
        job.power_max_kw = num_member(j, "power_max_kw", &ok);
        if (id == NULL || !ok) {
            continue;
        }
        snprintf(job.id, sizeof job.id, "%s", id);
        job.finished = cJSON_IsTrue(member(j, "finished"));
        int have_at = 1;
        job.finished_ms = int_member(j, "finished_at", &have_at);
        if (job.finished && !have_at) {
            continue; /* finished, but not when: wait for a complete message */
        }
        if (demo_ledger_job(&d->ledger, &job) < 0) {
            fprintf(stderr, "gridems-demo: out of memory tracking jobs\n");
        }
    }
}

static void on_telemetry(demo_t *d, device_t *dev, const cJSON *msg)
{
    int ok = 1;
    int64_t ts = int_member(msg, "ts", &ok);
    if (!ok || ts < dev->last_ts) {
        return;
    }
    demo_ledger_t *l = &d->ledger;
    switch (dev->kind) {
    case DEV_METER: {
        double kwh = num_member(msg, "energy_kwh", &ok);
        if (ok) {
            demo_ledger_add(l, DEMO_FLOW_BASE_LOAD, &dev->reg[0], ts, kwh);
        }
        break;
    }
    case DEV_BATTERY: {
        double in = num_member(msg, "charged_kwh", &ok);
        double out = num_member(msg, "discharged_kwh", &ok);
        if (ok) {
            demo_ledger_add(l, DEMO_FLOW_CHARGE, &dev->reg[0], ts, in);
            demo_ledger_add(l, DEMO_FLOW_DISCHARGE, &dev->reg[1], ts, out);
            int have = 1;
            double soc = num_member(msg, "soc_kwh", &have);
            if (have) {
                if (!dev->have_soc) {
                    dev->soc_first_kwh = soc;
                    dev->have_soc = 1;
                }
                dev->soc_last_kwh = soc;
            }
        }
        break;
    }
    case DEV_CLUSTER: {
        double kwh = num_member(msg, "energy_kwh", &ok);
        if (ok) {
            /* Jobs first: the baseline needs every job that arrived before this reading. */
            on_cluster_jobs(d, member(msg, "jobs"));
            int have_cap = 1;
            double cap = num_member(msg, "power_cap_kw", &have_cap);
            if (have_cap && cap > 0) {
                l->cluster_cap_kw = cap;
            }
            demo_ledger_add(l, DEMO_FLOW_CLUSTER, &dev->reg[0], ts, kwh);
        }
        break;
    }
    }
    if (ok) {
        dev->last_ts = ts;
        if (ts > d->sim_now) {
            d->sim_now = ts;
        }
    }
}

static void on_message(demo_t *d, const char *topic, const char *payload, size_t len)
{
    for (int i = 0; i < d->n_devices; i++) {
        if (strcmp(topic, d->devices[i].topic) == 0) {
            cJSON *msg = cJSON_ParseWithLength(payload, len);
            if (msg != NULL) {
                on_telemetry(d, &d->devices[i], msg);
            }
            cJSON_Delete(msg);
            return;
        }
    }
    if (strcmp(topic, d->topic_status) == 0) {
        cJSON *msg = cJSON_ParseWithLength(payload, len);
        snprintf(d->status, sizeof d->status, "%s", string_or(msg, "state", "?"));
        cJSON_Delete(msg);
    } else if (strcmp(topic, d->topic_schedule) == 0) {
        cJSON *msg = cJSON_ParseWithLength(payload, len);
        int ok = 1;
        uint64_t id = (uint64_t)int_member(member(msg, "plan"), "id", &ok);
        if (ok && id != d->last_plan_id) {
            d->plans++;
            d->last_plan_id = id;
        }
        cJSON_Delete(msg);
    }
}

/* ---- ## The table ---- */

/* A column group's title centred in a rule of dashes, e.g. "----- peak import, kW -----". */
static const char *span(char *buf, size_t len, const char *title, int width)
{
    int tl = (int)strlen(title) + 2;
    int left = (width - tl) / 2;
    int right = width - tl - left;
    if (left < 0 || right < 0 || (size_t)width >= len) {
        snprintf(buf, len, "%s", title);
        return buf;
    }
    memset(buf, '-', (size_t)left);
    snprintf(buf + left, len - (size_t)left, " %s ", title);
    memset(buf + left + tl, '-', (size_t)right);
    buf[width] = '\0';
    return buf;
}

static void print_header(const demo_t *d)
{
    char a[32], b[32], start[40], end[40];
    struct tm tm;
    demo_local_tm(d->ledger.start_ms, d->offset_min, &tm);
    strftime(start, sizeof start, "%Y-%m-%d", &tm);
    demo_local_tm(day_start(d, d->n_days) - 1, d->offset_min, &tm);
    strftime(end, sizeof end, "%Y-%m-%d", &tm);
    printf("gridems live demo: the Sakai AI data center on a week of real JEPX prices\n\n");
    printf("  site     ");
    int first = 1;
    for (int i = 0; i < d->n_devices; i++) {
        const device_t *dev = &d->devices[i];
        if (dev->kind == DEV_BATTERY) {
            printf("%sbattery %s %s kWh / %s kW", first ? "" : ", ", dev->name,
                   grouped(a, sizeof a, dev->capacity_kwh), grouped(b, sizeof b, dev->power_kw));
            first = 0;
        }
    }
    printf("\n");
    for (int i = 0; i < d->n_devices; i++) {
        const device_t *dev = &d->devices[i];
        if (dev->kind == DEV_METER) {
            printf("           base load ~9 MW with a daily shape (meter %s, synthetic profile)\n",
                   dev->name);
        } else if (dev->kind == DEV_CLUSTER) {
            printf("           GPU cluster %s, cap %s kW: training jobs with deadlines "
                   "(synthetic)\n",
                   dev->name, grouped(a, sizeof a, dev->power_kw));
        }
    }
    printf("  prices   JEPX day-ahead, Kansai area, %s..%s, plus %.2f JPY/kWh network\n"
           "           charge; day D+1 is published at noon of day D, as the market does\n",
           start, end, NETWORK_CHARGE_JPY_PER_KWH);
    double day_s = 86400.0 / d->clock_speed;
    printf("  clock    simulated from %s 00:00 (UTC%+03d:%02d) at %gx: a day every %.0f s\n", start,
           d->offset_min / 60, abs(d->offset_min % 60), d->clock_speed, day_s);
    printf("  broker   private mosquitto on 127.0.0.1:%d; watch it live with\n", d->port);
    printf("             mosquitto_sub -p %d -t 'gridems/#' -v\n\n", d->port);
    char g1[64], g2[64];
    printf("%-9s %8s %s %s %8s\n", "", "JEPX", span(g1, sizeof g1, "energy cost, JPY", 42),
           span(g2, sizeof g2, "peak import, kW", 23), "jobs");
    printf("%-9s %8s %12s %11s %10s %6s %11s %11s %8s\n", "day", "JPY/kWh", "gridems",
           "no gridems", "saving", "", "gridems", "no gridems", "on time");
    fflush(stdout);
}

static void print_row(const char *label, const demo_summary_t *s)
{
    char c1[32], c2[32], sv[32], p1[32], p2[32], jobs[32];
    double saving = s->base_cost - s->cost;
    double pct = s->base_cost > 0 ? 100.0 * saving / s->base_cost : 0.0;
    if (s->jobs_due > 0) {
        snprintf(jobs, sizeof jobs, "%d/%d", s->jobs_on_time, s->jobs_due);
    } else {
        snprintf(jobs, sizeof jobs, "-");
    }
    printf("%-9s %8.2f %12s %11s %10s %5.1f%% %11s %11s %8s\n", label, s->spot_avg,
           grouped(c1, sizeof c1, s->cost), grouped(c2, sizeof c2, s->base_cost),
           grouped(sv, sizeof sv, saving), pct, grouped(p1, sizeof p1, s->peak_kw),
           grouped(p2, sizeof p2, s->base_peak_kw), jobs);
    fflush(stdout);
}

static void finish_day(demo_t *d, int day)
{
    demo_ledger_run_baseline(&d->ledger, day_start(d, day + 1));
    demo_summary_t *s = &d->days[day];
    demo_ledger_summary(&d->ledger, day * DEMO_SLOTS_PER_DAY, DEMO_SLOTS_PER_DAY, s);
    char label[32];
    struct tm tm;
    demo_local_tm(day_start(d, day), d->offset_min, &tm);
    strftime(label, sizeof label, "%a %m-%d", &tm);
    print_row(label, s);
}

static void print_week(const demo_t *d, int64_t real_ms)
{
    demo_summary_t w;
    demo_ledger_summary(&d->ledger, 0, d->days_done * DEMO_SLOTS_PER_DAY, &w);
    char rule[128];
    memset(rule, '-', 94);
    rule[94] = '\0';
    printf("%s\n", rule);
    print_row("week", &w);
    char a[32], b[32], c[32], e[32];
    double first = 0, last = 0;
    for (int i = 0; i < d->n_devices; i++) {
        first += d->devices[i].have_soc ? d->devices[i].soc_first_kwh : 0.0;
        last += d->devices[i].have_soc ? d->devices[i].soc_last_kwh : 0.0;
    }
    printf("\nEnergy imported: %s MWh with gridems, %s MWh without (the batteries' round-trip "
           "losses).\n",
           grouped(a, sizeof a, w.import_kwh / 1000),
           grouped(b, sizeof b, w.base_import_kwh / 1000));
    printf("The batteries gave %s MWh to the site; they held %s kWh at the start, %s kWh at the "
           "end",
           grouped(a, sizeof a, w.battery_kwh_out / 1000), grouped(b, sizeof b, first),
           grouped(c, sizeof c, last));
    if (fabs(first - last) >= 1.0) {
        /* Not in the costs above: say what the difference is worth, to keep the saving honest. */
        double mean_price = w.spot_avg + NETWORK_CHARGE_JPY_PER_KWH;
        printf("\n(the difference is worth about %s JPY at the week's mean import price)",
               grouped(a, sizeof a, (first - last) * mean_price));
    }
    printf(".\n");
    if (d->demand_charge > 0) {
        double diff = (w.base_peak_kw - w.peak_kw) * d->demand_charge;
        printf("Peak (largest 30-minute mean import): %s kW with gridems, %s kW without; at the "
               "demand\ncharge of %s JPY per kW (billing period: %s) that %s %s JPY.\n",
               grouped(a, sizeof a, w.peak_kw), grouped(b, sizeof b, w.base_peak_kw),
               grouped(c, sizeof c, d->demand_charge), d->billing_period,
               diff >= 0 ? "saves" : "costs", grouped(e, sizeof e, fabs(diff)));
    }
    int not_due = 0;
    for (size_t i = 0; i < d->ledger.n_jobs; i++) {
        not_due += d->ledger.jobs[i].deadline_ms > day_start(d, d->days_done);
    }
    printf("Jobs: %d of %d finished by their deadlines with gridems, %d without%s.\n",
           w.jobs_on_time, w.jobs_due, w.base_jobs_on_time,
           not_due > 0 ? " (jobs due after the week are not counted)" : "");
    printf("Energy cost = each half hour's import x (JEPX Kansai price + %.2f JPY/kWh of network "
           "charges).\ngridems made %s plans; the week took %.0f s of real time.\n",
           NETWORK_CHARGE_JPY_PER_KWH, grouped(a, sizeof a, (double)d->plans),
           (double)real_ms / 1000.0);
    printf("出典: 日本卸電力取引所 (JEPX) スポット市場 関西エリアプライス "
           "(examples/data/README.md).\nThe base load and the training jobs are synthetic.\n");
    fflush(stdout);
}

/* ---- ## Running ---- */

static int fail_child(demo_t *d, const char *what, int status, const char *log)
{
    if (WIFEXITED(status)) {
        fprintf(stderr, "gridems-demo: %s exited early with status %d; its log ends:\n", what,
                WEXITSTATUS(status));
    } else {
        fprintf(stderr, "gridems-demo: %s died early (signal %d); its log ends:\n", what,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    char path[PATH_MAX + 32];
    path_join(path, sizeof path, d->tmp, log);
    demo_print_log_tail(path, 25);
    return EXIT_FAILED;
}

/* Start mosquitto and connect to it: 0, 1 when it exited at once and may be retried, -1. */
static int start_broker(demo_t *d, int retry)
{
    char conf[PATH_MAX + 32], log[PATH_MAX + 32];
    path_join(conf, sizeof conf, d->tmp, "mosquitto.conf");
    path_join(log, sizeof log, d->tmp, "mosquitto.log");
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        fprintf(stderr, "gridems-demo: cannot write %s: %s\n", conf, strerror(errno));
        return -1;
    }
    /* A private broker for this run only: loopback, no accounts, nothing kept on disk. */
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", d->port);
    fclose(f);
    char *argv[] = {d->mosquitto_bin, "-c", conf, NULL};
    d->broker = demo_spawn(argv, log);
    if (d->broker < 0) {
        fprintf(stderr, "gridems-demo: cannot start %s: %s\n", d->mosquitto_bin, strerror(errno));
        return -1;
    }
    char uri[64], client_id[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", d->port);
    snprintf(client_id, sizeof client_id, "gridems-demo-%ld", (long)getpid());
    if (MQTTClient_create(&d->mqtt, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "gridems-demo: cannot create the MQTT client\n");
        return -1;
    }
    d->mqtt_created = 1;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    opts.keepAliveInterval = 30;
    opts.cleansession = 1;
    opts.connectTimeout = 2;
    /* The broker needs a moment to listen: try until it does, or exits, or time is up. */
    int64_t give_up = demo_mono_ms() + BROKER_START_MS;
    for (;;) {
        int status;
        if (demo_child_exited(d->broker, &status) == 1) {
            d->broker = -1;
            if (retry) {
                return 1; /* most likely the port was taken since it was found free */
            }
            fail_child(d, "mosquitto", status, "mosquitto.log");
            return -1;
        }
        if (MQTTClient_connect(d->mqtt, &opts) == MQTTCLIENT_SUCCESS) {
            break;
        }
        if (demo_mono_ms() >= give_up || demo_stop_signal) {
            fprintf(stderr, "gridems-demo: cannot connect to mosquitto on %s\n", uri);
            demo_print_log_tail(log, 10);
            return -1;
        }
        usleep(50 * 1000);
    }
    if (MQTTClient_subscribe(d->mqtt, "gridems/#", 0) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "gridems-demo: cannot subscribe to gridems/#\n");
        return -1;
    }
    return 0;
}

static int start_service(demo_t *d)
{
    char site[PATH_MAX + 32], log[PATH_MAX + 32];
    path_join(site, sizeof site, d->tmp, "site.json");
    path_join(log, sizeof log, d->tmp, "gridems.log");
    if (write_site_config(d, site) < 0) {
        return -1;
    }
    d->n_days = d->ledger.n_slots / DEMO_SLOTS_PER_DAY;
    if (d->n_days > (int)(sizeof d->days / sizeof d->days[0])) {
        d->n_days = (int)(sizeof d->days / sizeof d->days[0]);
    }
    /* The first day's prices are known before the service starts, as at a real site. */
    if (publish_prices(d, 0, 0) < 0) {
        return -1;
    }
    d->next_price_day = 1;
    char *argv[] = {d->gridems_bin, "run", "-c", site, NULL};
    d->service = demo_spawn(argv, d->verbose ? NULL : log);
    if (d->service < 0) {
        fprintf(stderr, "gridems-demo: cannot start %s: %s\n", d->gridems_bin, strerror(errno));
        return -1;
    }
    return 0;
}

/* The simulated time every device has reported up to: all energy before it is in. */
static int64_t all_reported(const demo_t *d)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < d->n_devices; i++) {
        if (d->devices[i].last_ts < t) {
            t = d->devices[i].last_ts;
        }
    }
    return t;
}

static int observe(demo_t *d)
{
    int64_t mark = INT64_MIN;
    int64_t mark_real = demo_mono_ms();
    while (d->days_done < d->n_days) {
        if (demo_stop_signal) {
            return EXIT_INTERRUPTED;
        }
        int status;
        if (demo_child_exited(d->service, &status) == 1) {
            d->service = -1;
            return fail_child(d, "gridems", status, "gridems.log");
        }
        if (demo_child_exited(d->broker, &status) == 1) {
            d->broker = -1;
            return fail_child(d, "mosquitto", status, "mosquitto.log");
        }
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *msg = NULL;
        int rc = MQTTClient_receive(d->mqtt, &topic, &topic_len, &msg, 100);
        if (msg != NULL) {
            on_message(d, topic, msg->payload, (size_t)msg->payloadlen);
            MQTTClient_freeMessage(&msg);
        }
        if (topic != NULL) {
            MQTTClient_free(topic);
        }
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED &&
            !MQTTClient_isConnected(d->mqtt)) {
            if (demo_stop_signal) {
                return EXIT_INTERRUPTED;
            }
            fprintf(stderr, "gridems-demo: lost the connection to mosquitto\n");
            return EXIT_FAILED;
        }
        /* The utility: at noon of day D, tomorrow's prices. */
        while (d->next_price_day < d->n_days &&
               d->sim_now >= day_start(d, d->next_price_day - 1) + MS_PER_DAY / 2) {
            if (publish_prices(d, d->next_price_day - 1, d->next_price_day) < 0) {
                return EXIT_FAILED;
            }
            d->next_price_day++;
        }
        int64_t reported = all_reported(d);
        while (d->days_done < d->n_days && reported >= day_start(d, d->days_done + 1)) {
            finish_day(d, d->days_done);
            d->days_done++;
        }
        if (reported > mark) {
            mark = reported;
            mark_real = demo_mono_ms();
        } else if (demo_mono_ms() - mark_real > STALL_LIMIT_MS) {
            fprintf(stderr, "gridems-demo: no telemetry from every device for %d s; the service "
                            "log ends:\n", STALL_LIMIT_MS / 1000);
            char path[PATH_MAX + 32];
            path_join(path, sizeof path, d->tmp, "gridems.log");
            demo_print_log_tail(path, 25);
            return EXIT_FAILED;
        }
    }
    return EXIT_OK;
}

/* Stop gridems (SIGTERM: it publishes "offline" and exits 0), still reading MQTT meanwhile. */
static void stop_service(demo_t *d)
{
    if (d->service <= 0) {
        return;
    }
    kill(d->service, SIGTERM);
    int64_t give_up = demo_mono_ms() + SERVICE_STOP_MS;
    while (demo_mono_ms() < give_up) {
        int status;
        if (demo_child_exited(d->service, &status) == 1) {
            d->service = -1;
            d->service_exited = 1;
            d->service_status = status;
            break;
        }
        if (d->mqtt_created && MQTTClient_isConnected(d->mqtt)) {
            char *topic = NULL;
            int topic_len = 0;
            MQTTClient_message *msg = NULL;
            MQTTClient_receive(d->mqtt, &topic, &topic_len, &msg, 20);
            if (msg != NULL) {
                on_message(d, topic, msg->payload, (size_t)msg->payloadlen);
                MQTTClient_freeMessage(&msg);
            }
            if (topic != NULL) {
                MQTTClient_free(topic);
            }
        } else {
            usleep(20 * 1000);
        }
    }
    if (d->service > 0) {
        int killed = 0;
        d->service_status = demo_stop_child(d->service, SIGKILL, 1000, &killed);
        d->service_exited = 1;
        d->service = -1;
        fprintf(stderr, "gridems-demo: gridems did not stop within %d s; killed\n",
                SERVICE_STOP_MS / 1000);
    }
    /* Take the last messages the broker still holds for us (the "offline" status). */
    for (int i = 0; i < 20 && d->mqtt_created && MQTTClient_isConnected(d->mqtt); i++) {
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *msg = NULL;
        MQTTClient_receive(d->mqtt, &topic, &topic_len, &msg, 10);
        if (msg != NULL) {
            on_message(d, topic, msg->payload, (size_t)msg->payloadlen);
            MQTTClient_freeMessage(&msg);
        }
        if (topic != NULL) {
            MQTTClient_free(topic);
        }
        if (msg == NULL && strcmp(d->status, "offline") == 0) {
            break;
        }
    }
}

/* Stop everything that was started, in order, on every path. */
static void cleanup(demo_t *d)
{
    stop_service(d);
    if (d->mqtt_created) {
        if (MQTTClient_isConnected(d->mqtt)) {
            MQTTClient_disconnect(d->mqtt, 500);
        }
        MQTTClient_destroy(&d->mqtt);
        d->mqtt_created = 0;
    }
    if (d->broker > 0) {
        int killed = 0;
        demo_stop_child(d->broker, SIGTERM, BROKER_STOP_MS, &killed);
        d->broker = -1;
    }
    if (d->have_tmp) {
        if (d->keep) {
            fprintf(stderr, "gridems-demo: configs and logs kept in %s\n", d->tmp);
        } else {
            demo_remove_tree(d->tmp);
        }
        d->have_tmp = 0;
    }
    cJSON_Delete(d->config);
    d->config = NULL;
    if (d->ledger_ready) {
        demo_ledger_free(&d->ledger);
        d->ledger_ready = 0;
    }
}

/* Where gridems and its plugins are: next to this program (the build directory). */
static int find_build(demo_t *d)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(d->build_dir, sizeof d->build_dir, "%s", self);
        }
    }
    if (d->build_dir[0] == '\0') {
        snprintf(d->build_dir, sizeof d->build_dir, "%s", GRIDEMS_DEMO_BUILD_DIR);
    }
    path_join(d->gridems_bin, sizeof d->gridems_bin, d->build_dir, "gridems");
    path_join(d->plugin_dir, sizeof d->plugin_dir, d->build_dir, "plugins");
    if (access(d->gridems_bin, X_OK) != 0) {
        fprintf(stderr, "gridems-demo: %s not found: build the project first\n", d->gridems_bin);
        return -1;
    }
    if (demo_find_mosquitto(d->mosquitto_bin, sizeof d->mosquitto_bin) == NULL) {
        fprintf(stderr, "gridems-demo: mosquitto not found on PATH nor in /usr/sbin "
                        "(apt-get install mosquitto)\n");
        return -1;
    }
    return 0;
}

static int parse_args(demo_t *d, int argc, char **argv)
{
    const char *source = GRIDEMS_DEMO_SOURCE_DIR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        } else if (strcmp(a, "--keep") == 0) {
            d->keep = 1;
        } else if (strcmp(a, "--verbose") == 0) {
            d->verbose = 1;
        } else if (strcmp(a, "--speed") == 0 && i + 1 < argc) {
            char *end = NULL;
            d->speed = strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0' || !(d->speed > 0) || d->speed > 1e6) {
                fprintf(stderr, "gridems-demo: --speed: expected a number in (0, 1e6], got %s\n",
                        argv[i]);
                return -1;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "gridems-demo: unknown option %s\n", a);
            usage(stderr);
            return -1;
        } else {
            source = a;
        }
    }
    if (realpath(source, d->source_dir) == NULL) {
        fprintf(stderr, "gridems-demo: source directory %s: %s\n", source, strerror(errno));
        return -1;
    }
    return 0;
}

static int run(demo_t *d)
{
    char csv[PATH_MAX + 64], err[512];
    path_join(csv, sizeof csv, d->source_dir, PRICE_CSV);
    if (demo_ledger_init(&d->ledger, csv, NETWORK_CHARGE_JPY_PER_KWH, err, sizeof err) < 0) {
        fprintf(stderr, "gridems-demo: %s\n", err);
        return EXIT_FAILED;
    }
    d->ledger_ready = 1;
    if (demo_make_temp_dir(d->tmp, sizeof d->tmp) < 0) {
        fprintf(stderr, "gridems-demo: cannot create a temporary directory: %s\n",
                strerror(errno));
        return EXIT_FAILED;
    }
    d->have_tmp = 1;
    int rc = 1;
    for (int attempt = 0; attempt < 3 && rc == 1; attempt++) {
        if (d->mqtt_created) {
            MQTTClient_destroy(&d->mqtt);
            d->mqtt_created = 0;
        }
        d->port = demo_free_port();
        if (d->port < 0) {
            fprintf(stderr, "gridems-demo: no free loopback port: %s\n", strerror(errno));
            return EXIT_FAILED;
        }
        rc = start_broker(d, attempt < 2);
    }
    if (rc != 0 || start_service(d) < 0) {
        return demo_stop_signal ? EXIT_INTERRUPTED : EXIT_FAILED;
    }
    print_header(d);
    int64_t t0 = demo_mono_ms();
    rc = observe(d);
    if (rc == EXIT_INTERRUPTED) {
        fprintf(stderr, "gridems-demo: interrupted; stopping gridems and mosquitto\n");
    }
    stop_service(d);
    if (rc == EXIT_OK) {
        print_week(d, demo_mono_ms() - t0);
    }
    if (d->service_exited) {
        int st = d->service_status;
        int clean = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (rc == EXIT_OK) {
            printf("gridems stopped on SIGTERM: exit status %d, last status \"%s\".\n",
                   WIFEXITED(st) ? WEXITSTATUS(st) : -1, d->status);
        }
        if (!clean) {
            fprintf(stderr, "gridems-demo: gridems did not exit cleanly (status 0x%x)\n", st);
            if (rc == EXIT_OK) {
                rc = EXIT_FAILED;
            }
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    static demo_t demo; /* large: keep it off the stack */
    demo_t *d = &demo;
    d->broker = -1;
    d->service = -1;
    if (parse_args(d, argc, argv) < 0) {
        return EXIT_USAGE;
    }
    /* Line-buffered even into a pipe (tee, CI logs): the table is the demo's live output. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    demo_install_signals();
    int rc = find_build(d) < 0 ? EXIT_FAILED : run(d);
    cleanup(d);
    return rc;
}
