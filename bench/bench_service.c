/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Service benchmark (README "Performance"): the whole service, `gridems run`, against a private
 * Mosquitto on loopback, on the canonical site (96 x 15 min, 4 batteries, 50 jobs).
 *
 *   a. latency: price updates published one at a time (each a full 96-step series with slightly
 *      changed values, QoS 1); the time from the publish to the arrival of the schedule whose
 *      plan.reason is "price" and whose plan id is new. Median and p99, beside the optimizer's
 *      own solve time (solver.solve_ms of those schedules).
 *   b. telemetry: a publisher floods small JSON telemetry messages (QoS 0, as fast as it can,
 *      for a bounded time) on the telemetry topic of a meter_sim instance that does nothing else
 *      (role "other", its own gateway silent), while `mosquitto_sub` subscribes to the same
 *      topic. mosquitto_sub's count and time come from its output (one line per message, with
 *      its own receive time); the service's from the mqtt_received counter of its status
 *      message, asked for with {"cmd":"status"} after the flood (see collect_service_count).
 *      The broker keeps its default limit of 1000 queued messages per client, so a subscriber
 *      that falls behind loses messages: each one's rate is what it sustained.
 *   c. memory: VmRSS of the service at start-up and along a series of re-plans forced with
 *      {"cmd":"replan"} (or price updates), each waited for before the next.
 * The results are printed as a markdown table. Everything started here is stopped on every path.
 *
 * usage: bench_service [--gridems PATH] [--plugin-dir DIR] [--mosquitto PATH]
 *                      [--mosquitto-sub PATH] [--updates N] [--gap-ms N] [--telemetry N]
 *                      [--telemetry-seconds S] [--replans N] [--replan-minutes M]
 *                      [--replan-by command|price] [--log-level LEVEL] [--broker-nagle]
 *                      [--keep]
 *   --gridems, --plugin-dir: default: next to this program (gridems, plugins/).
 *   --updates: price updates for the latency (100); --gap-ms: pause between them (100).
 *   --telemetry: messages the publisher sends at most (200000); --telemetry-seconds: its time
 *     bound (30).
 *   --replans: forced re-plans for the memory series (10000); --replan-minutes: time bound of
 *     that phase (60); the table says how many were done. --replan-by price: force each one with
 *     a changed price series instead of {"cmd":"replan"} (then every solve has simplex work to
 *     do; with unchanged inputs a warm re-solve takes next to no iterations).
 *   --log-level: the service's log level (warning).
 *   --broker-nagle: leave Nagle's algorithm on in the broker (Mosquitto's default). By default
 *     the broker gets set_tcp_nodelay, and this program sets TCP_NODELAY on its own sockets, so
 *     that no 40 ms delayed-ACK stall outside the service ends up in the latency.
 *   --keep: keep the temporary directory (configs, logs, the service's state).
 */
/* nftw() is an X/Open interface. */
#define _XOPEN_SOURCE 700

#include <MQTTClient.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SITE_PREFIX "gridems/sakai"
#define FLOOD_PREFIX SITE_PREFIX "/dev/flood"
#define STEPS 96
#define STEP_MINUTES 15
#define N_BATTERIES 4
#define N_JOBS 50
#define OFFSET_MS (9 * 3600 * 1000LL)
#define PATH_CAP 1024

typedef struct options_s {
    char gridems[PATH_CAP];
    char plugin_dir[PATH_CAP];
    const char *mosquitto;
    const char *mosquitto_sub;
    int updates;
    int gap_ms;
    long telemetry;
    double telemetry_seconds;
    long replans;
    double replan_minutes;
    bool replan_by_price;
    const char *log_level;
    bool broker_nagle;
    bool keep;
} options_t;

/* What the run has started, so that every exit path can stop it. */
static struct {
    char dir[256];
    int port;
    char uri[64];
    pid_t broker;
    pid_t service;
    pid_t sub;
    MQTTClient ctl;
    MQTTClient flood;
    bool keep;
} run;

static volatile sig_atomic_t interrupted;

/* The newest status and schedule seen by the control client. */
typedef struct status_s {
    uint64_t seq; /* how many status messages were seen */
    double at_wall;
    char state[32];
    double mqtt_received;
    double replans;
    double plan_id;
} status_t;

typedef struct schedule_s {
    uint64_t seq;
    double at_ms; /* monotonic arrival time */
    uint64_t id;
    char reason[32];
    double solve_ms;
    double iterations;
    char start_kind[32];
    int steps;
    int batteries;
    int jobs;
    size_t bytes;
} schedule_t;

static status_t last_status;
static schedule_t last_schedule;

/* ---- ## Small helpers ---- */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted) {
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v by the nearest-rank rule; sorts v. */
static double quantile(double *v, int n, double q)
{
    if (n <= 0) {
        return NAN;
    }
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    int rank = (int)ceil(q * n);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return v[rank - 1];
}

static void load_average(char *out, size_t len)
{
    double a = 0, b = 0, c = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3) {
        snprintf(out, len, "unknown");
    } else {
        snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* VmRSS or VmHWM of a process in KiB, or -1. */
static long proc_kb(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* User plus system CPU time a process has used, in seconds, or NAN. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NAN;
    }
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    /* Fields after the command name, which is in parentheses and may hold anything. */
    char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
        return NAN;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_service: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/* Lines in a file (0 if it cannot be read); *last gets the last complete line (may be NULL). */
static long count_lines(const char *path, char *last, size_t last_len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    static char buf[1 << 16];
    char line[128] = "";
    size_t used = 0;
    long n = 0;
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                n++;
                line[used] = '\0';
                if (last != NULL) {
                    snprintf(last, last_len, "%s", line);
                }
                used = 0;
            } else if (used + 1 < sizeof line) {
                line[used++] = buf[i];
            }
        }
    }
    close(fd);
    return n;
}

/* ---- ## Child processes ---- */

/* Fork and exec argv[0] with stdout to out_path and stderr to err_path (files, truncated). The
 * child dies with the benchmark (PR_SET_PDEATHSIG), so a killed benchmark leaves nothing behind. */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_service: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        int err = strcmp(out_path, err_path) == 0
                      ? out
                      : open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Stop a child: sig, then SIGKILL after timeout_ms; reaps it. Returns its wait status or -1. */
static int stop_child(pid_t *pid, int sig, int timeout_ms)
{
    if (*pid <= 0) {
        return -1;
    }
    int status = -1;
    kill(*pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return status;
        }
        sleep_ms(10);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    *pid = 0;
    return status;
}

/* 1 if the child has exited (and reaps it), else 0. */
static int child_gone(pid_t *pid)
{
    int status;
    if (*pid > 0 && waitpid(*pid, &status, WNOHANG) == *pid) {
        *pid = 0;
        return 1;
    }
    return *pid <= 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void stop_all(void)
{
    if (run.flood != NULL) {
        MQTTClient_disconnect(run.flood, 100);
        MQTTClient_destroy(&run.flood);
    }
    if (run.ctl != NULL) {
        MQTTClient_disconnect(run.ctl, 100);
        MQTTClient_destroy(&run.ctl);
    }
    stop_child(&run.sub, SIGTERM, 2000);
    /* The service's own shutdown watchdog is 8 s. */
    int status = stop_child(&run.service, SIGTERM, 10000);
    if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "bench_service: gridems did not exit cleanly (status %#x)\n", status);
    }
    stop_child(&run.broker, SIGTERM, 3000);
    if (run.dir[0] != '\0') {
        if (run.keep) {
            fprintf(stderr, "bench_service: kept %s\n", run.dir);
        } else {
            nftw(run.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        run.dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    if (interrupted) {
        /* A second signal: stop the children at once and leave. */
        pid_t pids[] = {run.sub, run.service, run.broker};
        for (int i = 0; i < 3; i++) {
            if (pids[i] > 0) {
                kill(pids[i], SIGKILL);
            }
        }
        _exit(130);
    }
    interrupted = 1;
}

/* ---- ## The broker ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static int start_broker(const options_t *o)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        run.port = free_port();
        if (run.port < 0) {
            break;
        }
        char conf[PATH_CAP], log[PATH_CAP], text[512];
        snprintf(conf, sizeof conf, "%s/mosquitto.conf", run.dir);
        snprintf(log, sizeof log, "%s/mosquitto.log", run.dir);
        /* Broker defaults otherwise, max_queued_messages (1000) included: a subscriber that
         * falls more than that behind loses QoS 0 messages, as it would in production. */
        snprintf(text, sizeof text,
                 "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                 "log_dest stderr\nlog_type error\nlog_type warning\n%s",
                 run.port, o->broker_nagle ? "" : "set_tcp_nodelay true\n");
        if (write_file(conf, text) != 0) {
            return -1;
        }
        char *argv[] = {(char *)o->mosquitto, "-c", conf, NULL};
        run.broker = spawn(argv, log, log);
        if (run.broker < 0) {
            return -1;
        }
        for (int waited = 0; waited < 5000; waited += 20) {
            if (port_open(run.port)) {
                snprintf(run.uri, sizeof run.uri, "tcp://127.0.0.1:%d", run.port);
                return 0;
            }
            if (child_gone(&run.broker)) {
                break; /* the port was taken meanwhile, most likely: try another */
            }
            sleep_ms(20);
        }
        stop_child(&run.broker, SIGTERM, 1000);
    }
    fprintf(stderr, "bench_service: mosquitto (%s) did not start; see %s/mosquitto.log\n",
            o->mosquitto, run.dir);
    return -1;
}

/* ---- ## The site: jobs, config, service ---- */

/* 50 jobs, all arrived at start-up, deadlines spread from 4 h to 23.5 h: their windows cover the
 * 24 h horizon. At least 36 min of full power each, so none finishes during a short run. */
static int write_jobs(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_service: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "id,arrival,energy_kwh,power_max_kw,deadline_hours\n");
    for (int j = 0; j < N_JOBS; j++) {
        double deadline_h = 4.0 + 19.5 * j / (N_JOBS - 1);
        double power = 200.0 + (double)((j * 37) % 13) * 100.0;
        double fraction = 0.15 + 0.3 * (double)((j * 11) % 7) / 6.0;
        fprintf(f, "train-%02d,0,%.1f,%.0f,%.2f\n", j, power * deadline_h * fraction, power,
                deadline_h);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int write_config(const options_t *o, const char *path, const char *jobs_path)
{
    static const double caps[N_BATTERIES] = {4000, 3000, 2500, 2000};
    char plugins[4096];
    size_t used = 0;
    for (int b = 0; b < N_BATTERIES; b++) {
        used += (size_t)snprintf(plugins + used, sizeof plugins - used,
                                 "{\"plugin\":\"battery_sim\",\"name\":\"bess%d\",\"options\":{"
                                 "\"topic_prefix\":\"" SITE_PREFIX "/dev/bess%d\","
                                 "\"telemetry_interval_ms\":10000,\"capacity_kwh\":%.0f,"
                                 "\"soc_kwh\":%.0f,\"soc_min_kwh\":%.0f,\"charge_max_kw\":%.0f,"
                                 "\"discharge_max_kw\":%.0f}},",
                                 b + 1, b + 1, caps[b], caps[b] / 2, caps[b] / 10, caps[b] / 2,
                                 caps[b] / 2);
    }
    char *text = malloc(16384);
    if (text == NULL) {
        return -1;
    }
    snprintf(text, 16384,
             "{\"site\":{\"id\":\"sakai\",\"utc_offset\":\"+09:00\",\"currency\":\"JPY\","
             "\"import_limit_kw\":20000,\"demand_charge_per_kw\":60,\"billing_period\":\"month\"},"
             "\"mqtt\":{\"uri\":\"%s\"},"
             "\"planner\":{\"step_minutes\":%d,\"horizon_steps\":%d,\"replan_seconds\":86400,"
             "\"debounce_ms\":0},"
             "\"clock\":{\"mode\":\"real\"},"
             "\"state_dir\":\"%s/state\",\"log_level\":\"%s\",\"plugin_dir\":\"%s\","
             "\"plugins\":[%s"
             "{\"plugin\":\"meter_sim\",\"name\":\"it_load\",\"options\":{"
             "\"topic_prefix\":\"" SITE_PREFIX "/dev/meter\",\"telemetry_interval_ms\":10000,"
             "\"base_kw\":9000,\"swing_kw\":600,\"utc_offset_hours\":9}},"
             "{\"plugin\":\"meter_sim\",\"name\":\"flood\",\"options\":{"
             "\"topic_prefix\":\"" FLOOD_PREFIX "\",\"role\":\"other\","
             "\"telemetry_interval_ms\":86400000,\"tick_ms\":1000}},"
             "{\"plugin\":\"cluster_sim\",\"name\":\"gpu\",\"options\":{"
             "\"topic_prefix\":\"" SITE_PREFIX "/dev/gpu\",\"telemetry_interval_ms\":10000,"
             "\"power_cap_kw\":12000,\"jobs\":\"%s\"}}]}\n",
             run.uri, STEP_MINUTES, STEPS, run.dir, o->log_level, o->plugin_dir, plugins,
             jobs_path);
    int rc = write_file(path, text);
    free(text);
    return rc;
}

static int start_service(const options_t *o)
{
    char conf[PATH_CAP], jobs[PATH_CAP], log[PATH_CAP];
    snprintf(conf, sizeof conf, "%s/gridems.json", run.dir);
    snprintf(jobs, sizeof jobs, "%s/jobs.csv", run.dir);
    snprintf(log, sizeof log, "%s/gridems.log", run.dir);
    if (write_jobs(jobs) != 0 || write_config(o, conf, jobs) != 0) {
        return -1;
    }
    char *argv[] = {(char *)o->gridems, "run", "-c", conf, NULL};
    run.service = spawn(argv, log, log);
    return run.service > 0 ? 0 : -1;
}

/* ---- ## MQTT ---- */

/* Paho 1.3 leaves Nagle's algorithm on and has no socket option hook: set TCP_NODELAY on every
 * TCP socket of this process (they are all Paho's). */
static void set_nodelay_everywhere(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int type = 0;
        socklen_t tlen = sizeof type;
        if (e->d_name[0] == '.' || fd == dirfd(d) ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
            getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
            (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)) {
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    closedir(d);
}

static MQTTClient connect_client(const char *id)
{
    MQTTClient c = NULL;
    if (MQTTClient_create(&c, run.uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS) {
        return NULL;
    }
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 120;
    co.cleansession = 1;
    int rc = MQTTClient_connect(c, &co);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "bench_service: cannot connect %s to %s: %d\n", id, run.uri, rc);
        MQTTClient_destroy(&c);
        return NULL;
    }
    set_nodelay_everywhere();
    return c;
}

static int publish(MQTTClient c, const char *topic, const char *payload, int qos)
{
    MQTTClient_deliveryToken token = 0;
    int rc = MQTTClient_publish(c, topic, (int)strlen(payload), payload, qos, 0, &token);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "bench_service: publish to %s failed: %d\n", topic, rc);
        return -1;
    }
    return 0;
}

static double number_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL) {
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    }
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void copy_string_at(const cJSON *obj, const char *a, const char *b, char *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL) {
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    }
    snprintf(out, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static void on_schedule(const char *payload, size_t len, double at_ms)
{
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (root == NULL) {
        fprintf(stderr, "bench_service: a schedule that is not JSON\n");
        return;
    }
    schedule_t s;
    memset(&s, 0, sizeof s);
    s.seq = last_schedule.seq + 1;
    s.at_ms = at_ms;
    double id = number_at(root, "plan", "id");
    s.id = isfinite(id) ? (uint64_t)id : 0;
    copy_string_at(root, "plan", "reason", s.reason, sizeof s.reason);
    copy_string_at(root, "solver", "start", s.start_kind, sizeof s.start_kind);
    s.solve_ms = number_at(root, "solver", "solve_ms");
    s.iterations = number_at(root, "solver", "iterations");
    s.steps = (int)number_at(root, "steps", NULL);
    s.batteries = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "batteries"));
    s.jobs = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "flexible_loads"));
    s.bytes = len;
    last_schedule = s;
    cJSON_Delete(root);
}

static void on_status(const char *payload, size_t len, double at_wall)
{
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (root == NULL) {
        return;
    }
    status_t s;
    memset(&s, 0, sizeof s);
    s.seq = last_status.seq + 1;
    s.at_wall = at_wall;
    copy_string_at(root, "state", NULL, s.state, sizeof s.state);
    s.mqtt_received = number_at(root, "counters", "mqtt_received");
    s.replans = number_at(root, "counters", "replans");
    s.plan_id = number_at(root, "plan_id", NULL);
    last_status = s;
    cJSON_Delete(root);
}

/* Take one message from the control client, waiting at most timeout_ms. Returns 1 when one was
 * handled, 0 on timeout, -1 when the connection is gone. */
static int pump(int timeout_ms)
{
    char *topic = NULL;
    int topic_len = 0;
    MQTTClient_message *msg = NULL;
    int rc = MQTTClient_receive(run.ctl, &topic, &topic_len, &msg, (unsigned long)timeout_ms);
    double at_ms = mono_ms();
    double at_wall = wall_s();
    if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
        fprintf(stderr, "bench_service: control connection lost (%d)\n", rc);
        return -1;
    }
    if (msg == NULL) {
        if (topic != NULL) {
            MQTTClient_free(topic);
        }
        return 0;
    }
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (strcmp(topic, SITE_PREFIX "/schedule") == 0) {
        on_schedule(msg->payload, len, at_ms);
    } else if (strcmp(topic, SITE_PREFIX "/status") == 0) {
        on_status(msg->payload, len, at_wall);
    }
    MQTTClient_freeMessage(&msg);
    MQTTClient_free(topic);
    return 1;
}

/* Wait for a schedule with a plan id above after_id and (if reason is not NULL) that reason.
 * Returns 0 with *out, or -1 on timeout, interruption or a lost connection. */
static int wait_schedule(const char *reason, uint64_t after_id, int timeout_ms, schedule_t *out)
{
    double deadline = mono_ms() + timeout_ms;
    for (;;) {
        if (last_schedule.seq > 0 && last_schedule.id > after_id &&
            (reason == NULL || strcmp(last_schedule.reason, reason) == 0)) {
            *out = last_schedule;
            return 0;
        }
        double left = deadline - mono_ms();
        if (left <= 0 || interrupted) {
            return -1;
        }
        if (pump(left > 500 ? 500 : (int)left + 1) < 0) {
            return -1;
        }
    }
}

/* Wait for the status count to pass seq. Returns 0 with *out, or -1. */
static int wait_status(uint64_t seq, int timeout_ms, status_t *out)
{
    double deadline = mono_ms() + timeout_ms;
    while (last_status.seq <= seq) {
        double left = deadline - mono_ms();
        if (left <= 0 || interrupted) {
            return -1;
        }
        if (pump(left > 500 ? 500 : (int)left + 1) < 0) {
            return -1;
        }
    }
    *out = last_status;
    return 0;
}

/* Take what the control client has waiting, until nothing comes for quiet_ms. */
static int drain(int quiet_ms)
{
    int rc;
    while ((rc = pump(quiet_ms)) > 0) {
    }
    return rc;
}

/* Ask for a status on client c and wait for it on the control client. Whatever was waiting
 * (the status that follows each plan, say) is taken first, so the answer is this request's. */
static int request_status(MQTTClient c, int timeout_ms, status_t *out)
{
    if (drain(100) < 0) {
        return -1;
    }
    uint64_t seq = last_status.seq;
    if (publish(c, SITE_PREFIX "/cmd", "{\"cmd\":\"status\"}", 1) != 0) {
        return -1;
    }
    return wait_status(seq, timeout_ms, out);
}

/* The current 15-minute step start, ms since the epoch (JST is a whole number of hours off UTC,
 * so a UTC-aligned step is a local-aligned one). */
static int64_t step_start_ms(void)
{
    int64_t now = (int64_t)(wall_s() * 1000.0);
    int64_t step = STEP_MINUTES * 60000LL;
    return now - now % step;
}

/* A full 96-step price series in JPY/kWh from start_ms; variant moves the values slightly. */
static void price_json(char *buf, size_t cap, int64_t start_ms, int variant)
{
    time_t local = (time_t)((start_ms + OFFSET_MS) / 1000);
    struct tm tm;
    gmtime_r(&local, &tm);
    char iso[40];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S+09:00", &tm);
    size_t used = (size_t)snprintf(buf, cap, "{\"start\":\"%s\",\"step_minutes\":%d,\"values\":[",
                                   iso, STEP_MINUTES);
    double hour0 = tm.tm_hour + tm.tm_min / 60.0;
    for (int t = 0; t < STEPS && used < cap; t++) {
        double h = hour0 + t * STEP_MINUTES / 60.0;
        double v = 14.0 + 6.0 * sin(2 * M_PI * (h - 8.0) / 24.0) + 2.5 * sin(2 * M_PI * h / 5.3) +
                   0.02 * (double)((variant * 31 + t * 7) % 11);
        used += (size_t)snprintf(buf + used, cap - used, "%s%.3f", t > 0 ? "," : "", v);
    }
    if (used < cap) {
        snprintf(buf + used, cap - used, "],\"unit\":\"kWh\",\"currency\":\"JPY\"}");
    }
}

static int publish_price(int variant)
{
    static char buf[8192];
    price_json(buf, sizeof buf, step_start_ms(), variant);
    return publish(run.ctl, SITE_PREFIX "/in/price", buf, 1);
}

/* ---- ## The phases ---- */

typedef struct results_s {
    char load_start[32];
    char load_latency[32];
    char load_replans[32];
    char load_telemetry[32];
    /* start-up */
    double warmup_s;
    schedule_t first;
    long rss_boot_kb; /* connected, before the first plan */
    long rss_start_kb;
    /* a. latency */
    int updates_done;
    int updates_lost;
    double lat_median, lat_p99, lat_max, solve_median, solve_p99, iterations_median;
    size_t schedule_bytes;
    char start_kinds[128];
    /* c. memory */
    long replans_done;
    double replans_seconds;
    double replan_median_ms;
    long rss_kb[64];
    long rss_at[64];
    int n_rss;
    long hwm_after_replans_kb;
    schedule_t last;
    /* b. telemetry */
    long sent;
    double pub_s;
    long sub_count;
    double sub_s;
    double svc_count;
    double svc_s;
    double svc_extra; /* growth of the count in the last second of polling */
    long rss_after_flood_kb;
    long hwm_after_flood_kb;
    /* CPU seconds used during the flood (the publisher: this program's publishing loop) */
    double cpu_pub, cpu_broker, cpu_sub, cpu_svc;
} results_t;

static int warm_up(results_t *r)
{
    status_t st;
    double t0 = mono_ms();
    if (wait_status(0, 20000, &st) != 0) {
        fprintf(stderr, "bench_service: no status from gridems; see %s/gridems.log\n", run.dir);
        return -1;
    }
    r->rss_boot_kb = proc_kb(run.service, "VmRSS");
    /* Until every device has reported: 4 batteries and 50 jobs in a 96-step plan. A device
     * joins the plans at the service's first control tick after its first reading (60 s with a
     * real clock), which then re-plans by itself; a price goes out every 10 s meanwhile. */
    double next_price = 0;
    int variant = 0;
    while (!interrupted && mono_ms() - t0 < 180000.0) {
        schedule_t s = last_schedule;
        if (s.seq > 0 && s.batteries == N_BATTERIES && s.jobs == N_JOBS && s.steps == STEPS) {
            uint64_t after = s.id;
            if (publish_price(variant++) != 0 || wait_schedule("price", after, 20000, &s) != 0) {
                break;
            }
            r->first = s;
            r->warmup_s = (mono_ms() - t0) / 1000.0;
            return 0;
        }
        if (mono_ms() >= next_price) {
            next_price = mono_ms() + 10000.0;
            if (publish_price(variant++) != 0) {
                break;
            }
        }
        if (pump(500) < 0) {
            break;
        }
    }
    if (!interrupted) {
        fprintf(stderr,
                "bench_service: the plan never held %d batteries, %d jobs and %d steps "
                "(last: %d, %d, %d); see %s/gridems.log\n",
                N_BATTERIES, N_JOBS, STEPS, last_schedule.batteries, last_schedule.jobs,
                last_schedule.steps, run.dir);
    }
    return -1;
}

static int phase_latency(const options_t *o, results_t *r)
{
    double *lat = calloc((size_t)o->updates, sizeof(double));
    double *solve = calloc((size_t)o->updates, sizeof(double));
    double *iterations = calloc((size_t)o->updates, sizeof(double));
    if (lat == NULL || solve == NULL || iterations == NULL) {
        free(lat);
        free(solve);
        free(iterations);
        return -1;
    }
    int update = 0, shifted = 0, cold = 0, fallback = 0;
    for (int i = 0; i < o->updates && !interrupted; i++) {
        /* Let the set-points and telemetry of the previous plan pass first. */
        sleep_ms(o->gap_ms);
        while (pump(0) > 0) {
        }
        uint64_t after = last_schedule.id;
        double t0 = mono_ms();
        if (publish_price(1000 + i) != 0) {
            break;
        }
        schedule_t s;
        if (wait_schedule("price", after, 10000, &s) != 0) {
            r->updates_lost++;
            continue;
        }
        lat[r->updates_done] = s.at_ms - t0;
        solve[r->updates_done] = s.solve_ms;
        iterations[r->updates_done] = s.iterations;
        r->updates_done++;
        r->schedule_bytes = s.bytes;
        update += strcmp(s.start_kind, "update") == 0;
        shifted += strcmp(s.start_kind, "shifted") == 0;
        cold += strcmp(s.start_kind, "cold") == 0;
        fallback += strcmp(s.start_kind, "fallback") == 0;
    }
    int n = r->updates_done;
    r->lat_median = quantile(lat, n, 0.5);
    r->lat_p99 = quantile(lat, n, 0.99);
    r->lat_max = n > 0 ? lat[n - 1] : NAN;
    r->solve_median = quantile(solve, n, 0.5);
    r->solve_p99 = quantile(solve, n, 0.99);
    r->iterations_median = quantile(iterations, n, 0.5);
    snprintf(r->start_kinds, sizeof r->start_kinds, "%d update, %d shifted, %d cold, %d fallback",
             update, shifted, cold, fallback);
    free(lat);
    free(solve);
    free(iterations);
    return n > 0 ? 0 : -1;
}

static int phase_replans(const options_t *o, results_t *r)
{
    double t0 = mono_ms();
    double limit_ms = o->replan_minutes * 60000.0;
    int64_t priced_step = step_start_ms();
    double *each = calloc((size_t)(o->replans > 0 ? o->replans : 1), sizeof(double));
    if (each == NULL) {
        return -1;
    }
    r->rss_at[0] = 0;
    r->rss_kb[0] = proc_kb(run.service, "VmRSS");
    r->n_rss = 1;
    long every = o->replans >= 20 ? o->replans / 10 : 1;
    while (r->replans_done < o->replans && !interrupted && mono_ms() - t0 < limit_ms) {
        /* Keep the horizon at 96 steps: a new step begins, the prices move on with it. */
        if (step_start_ms() != priced_step) {
            priced_step = step_start_ms();
            schedule_t s;
            if (publish_price(5000) != 0 ||
                wait_schedule("price", last_schedule.id, 20000, &s) != 0) {
                fprintf(stderr, "bench_service: no schedule after the step's price update\n");
                break;
            }
        }
        uint64_t after = last_schedule.id;
        double t1 = mono_ms();
        schedule_t s;
        int rc = o->replan_by_price
                     ? publish_price(20000 + (int)(r->replans_done % 100000))
                     : publish(run.ctl, SITE_PREFIX "/cmd", "{\"cmd\":\"replan\"}", 1);
        if (rc != 0 ||
            wait_schedule(o->replan_by_price ? "price" : "command", after, 20000, &s) != 0) {
            fprintf(stderr, "bench_service: no schedule after a forced re-plan (%ld done)\n",
                    r->replans_done);
            break;
        }
        each[r->replans_done] = mono_ms() - t1;
        r->replans_done++;
        r->last = s;
        bool mark = r->replans_done % every == 0 || r->replans_done == 1000;
        if (mark && r->n_rss < 64) {
            r->rss_at[r->n_rss] = r->replans_done;
            r->rss_kb[r->n_rss] = proc_kb(run.service, "VmRSS");
            r->n_rss++;
            fprintf(stderr, "bench_service: %ld re-plans, VmRSS %ld kB, %.0f s\n", r->replans_done,
                    r->rss_kb[r->n_rss - 1], (mono_ms() - t0) / 1000.0);
        }
    }
    if (r->n_rss < 64 && r->rss_at[r->n_rss - 1] != r->replans_done) {
        r->rss_at[r->n_rss] = r->replans_done;
        r->rss_kb[r->n_rss] = proc_kb(run.service, "VmRSS");
        r->n_rss++;
    }
    r->replans_seconds = (mono_ms() - t0) / 1000.0;
    r->replan_median_ms = quantile(each, (int)r->replans_done, 0.5);
    r->hwm_after_replans_kb = proc_kb(run.service, "VmHWM");
    free(each);
    return 0;
}

/*
 * After the flood: how many flood messages the service handled, and when it had handled them.
 * Status requests go at QoS 0 on the flood's own connection, so that they queue behind the flood
 * at the broker (Mosquitto does not keep QoS 0 and QoS 1 messages to a client in one order), one
 * every 20 ms until the counter has stopped growing for a second. Each answer counts the flood
 * messages before it plus the requests answered so far; the time is that of the first answer
 * that counts them all.
 */
static int collect_service_count(const status_t *before, double start, results_t *r)
{
    enum { MAX_ANSWERS = 4096 };
    static double at[MAX_ANSWERS], count[MAX_ANSWERS];
    int n = 0;
    const char *cmd = "{\"cmd\":\"status\"}";
    uint64_t seen = last_status.seq;
    double quiet_since = mono_ms(), limit = mono_ms() + 300000.0, last_count = -3;
    int answers_since_growth = 0;
    while (!interrupted && mono_ms() < limit && n < MAX_ANSWERS) {
        if (MQTTClient_publish(run.flood, SITE_PREFIX "/cmd", (int)strlen(cmd), cmd, 0, 0, NULL) !=
            MQTTCLIENT_SUCCESS) {
            return -1;
        }
        double until = mono_ms() + 20.0;
        while (mono_ms() < until && n < MAX_ANSWERS) {
            int got = pump((int)(until - mono_ms()) + 1);
            if (got < 0) {
                return -1;
            }
            if (got == 0 || last_status.seq == seen) {
                continue;
            }
            /* Every answer, not just the newest: each one stands for one request handled. */
            seen = last_status.seq;
            at[n] = last_status.at_wall;
            count[n] = last_status.mqtt_received - before->mqtt_received - (n + 1);
            n++;
            if (count[n - 1] > last_count + 2) {
                last_count = count[n - 1];
                quiet_since = mono_ms();
                answers_since_growth = 0;
            } else {
                answers_since_growth++;
            }
        }
        /* Quiet: answers keep coming (so the backlog is through) and the count stays. */
        if (answers_since_growth >= 10 && mono_ms() - quiet_since > 1000.0) {
            break;
        }
    }
    if (n == 0) {
        return -1;
    }
    r->svc_count = last_count;
    for (int k = 0; k < n; k++) {
        if (count[k] >= last_count) {
            r->svc_s = at[k] - start;
            break;
        }
    }
    r->svc_extra = count[n - 1] - last_count;
    return 0;
}

static int phase_telemetry(const options_t *o, results_t *r)
{
    const char *topic = FLOOD_PREFIX "/telemetry";
    char out[PATH_CAP], err[PATH_CAP], port[16];
    snprintf(out, sizeof out, "%s/mosquitto_sub.out", run.dir);
    snprintf(err, sizeof err, "%s/mosquitto_sub.err", run.dir);
    snprintf(port, sizeof port, "%d", run.port);
    char *argv[] = {(char *)o->mosquitto_sub,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    port,
                    "-q",
                    "0",
                    "-t",
                    (char *)topic,
                    "-F",
                    "%U",
                    NULL};
    run.sub = spawn(argv, out, err);
    run.flood = connect_client("bench-flood");
    if (run.sub < 0 || run.flood == NULL) {
        return -1;
    }
    /* Probe until mosquitto_sub is subscribed (the service has been for long). */
    char msg[128];
    long long ts = (long long)(wall_s() * 1000.0);
    snprintf(msg, sizeof msg, "{\"ts\":%lld,\"power_kw\":1}", ts);
    bool ready = false;
    for (int waited = 0; waited < 10000 && !interrupted; waited += 50) {
        if (publish(run.flood, topic, msg, 0) != 0) {
            return -1;
        }
        sleep_ms(50);
        if (count_lines(out, NULL, 0) > 0) {
            ready = true;
            break;
        }
    }
    if (!ready) {
        fprintf(stderr, "bench_service: mosquitto_sub never received; see %s\n", err);
        return -1;
    }
    sleep_ms(300);
    long base_lines = count_lines(out, NULL, 0);
    status_t before;
    if (request_status(run.ctl, 10000, &before) != 0) {
        return -1;
    }

    /* The flood: QoS 0, as fast as Paho's synchronous client sends, within the time bound. */
    double cpu_svc = proc_cpu_s(run.service), cpu_sub = proc_cpu_s(run.sub);
    double cpu_broker = proc_cpu_s(run.broker), cpu_self = self_cpu_s();
    double start = wall_s();
    double bound = start + o->telemetry_seconds;
    long i = 0;
    for (; i < o->telemetry && !interrupted; i++) {
        int len = snprintf(msg, sizeof msg, "{\"ts\":%lld,\"power_kw\":%ld}", ts, i % 10000);
        if (MQTTClient_publish(run.flood, topic, len, msg, 0, 0, NULL) != MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "bench_service: flood publish %ld failed\n", i);
            break;
        }
        if ((i & 1023) == 1023 && wall_s() > bound) {
            i++;
            break;
        }
    }
    r->sent = i;
    r->pub_s = wall_s() - start;
    r->cpu_pub = self_cpu_s() - cpu_self;
    if (collect_service_count(&before, start, r) != 0) {
        fprintf(stderr, "bench_service: no status after the flood\n");
        return -1;
    }
    r->rss_after_flood_kb = proc_kb(run.service, "VmRSS");
    r->hwm_after_flood_kb = proc_kb(run.service, "VmHWM");
    r->cpu_svc = proc_cpu_s(run.service) - cpu_svc;

    /* mosquitto_sub: wait until its output stops growing, then stop it. */
    long lines = count_lines(out, NULL, 0), stable = 0;
    for (int waited = 0; waited < 60000 && stable < 5 && !interrupted; waited += 200) {
        sleep_ms(200);
        long now_lines = count_lines(out, NULL, 0);
        stable = now_lines == lines ? stable + 1 : 0;
        lines = now_lines;
    }
    r->cpu_sub = proc_cpu_s(run.sub) - cpu_sub;
    r->cpu_broker = proc_cpu_s(run.broker) - cpu_broker;
    stop_child(&run.sub, SIGTERM, 2000);
    char last[128] = "";
    lines = count_lines(out, last, sizeof last);
    r->sub_count = lines - base_lines;
    r->sub_s = strtod(last, NULL) - start;
    return 0;
}

/* ---- ## Report ---- */

static void print_results(const options_t *o, const results_t *r)
{
    printf("\n## gridems service benchmark: canonical site (%d x %d min, %d batteries, %d "
           "jobs)\n\n",
           STEPS, STEP_MINUTES, N_BATTERIES, N_JOBS);
    printf("load average (1/5/15 min): start %s; after latency %s; after re-plans %s; after "
           "telemetry %s; %ld CPUs online\n\n",
           r->load_start, r->load_latency, r->load_replans, r->load_telemetry,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("| measure | result | target | verdict |\n| --- | --- | --- | --- |\n");
    printf("| start-up: first full plan | %.1f s after start (plan %llu: %d steps, %d batteries, "
           "%d jobs) | | |\n",
           r->warmup_s, (unsigned long long)r->first.id, r->first.steps, r->first.batteries,
           r->first.jobs);
    double ratio = r->lat_median / r->solve_median;
    printf("| price -> schedule latency, median | %.2f ms (%d updates, %d lost, %d ms apart) | "
           "< 2 x warm solve | %s |\n",
           r->lat_median, r->updates_done, r->updates_lost, o->gap_ms,
           ratio < 2.0 ? "met" : "MISSED");
    printf("| price -> schedule latency, p99 / max | %.2f ms / %.2f ms | | |\n", r->lat_p99,
           r->lat_max);
    printf("| optimizer's own solve (solver.solve_ms), median / p99 | %.2f ms / %.2f ms (%s; "
           "median %.0f simplex iterations) | | |\n",
           r->solve_median, r->solve_p99, r->start_kinds, r->iterations_median);
    printf("| latency / solve, medians | %.2f | < 2 | %s |\n", ratio,
           ratio < 2.0 ? "met" : "MISSED");
    printf("| schedule message size | %zu bytes | | |\n", r->schedule_bytes);
    double pub_rate = r->sent / r->pub_s;
    double sub_rate = r->sub_count / r->sub_s;
    double svc_rate = r->svc_count / r->svc_s;
    printf("| telemetry: publisher | %ld msgs in %.2f s = %.0f msg/s (%.2f CPU s) | | |\n", r->sent,
           r->pub_s, pub_rate, r->cpu_pub);
    printf("| telemetry: mosquitto (broker) | %.2f CPU s over the flood | | |\n", r->cpu_broker);
    printf("| telemetry: mosquitto_sub | %ld msgs (%.1f %% of sent), last at %.2f s = %.0f msg/s "
           "(%.2f CPU s: %.1f us/msg) | | |\n",
           r->sub_count, 100.0 * r->sub_count / (double)r->sent, r->sub_s, sub_rate, r->cpu_sub,
           1e6 * r->cpu_sub / (double)r->sub_count);
    printf("| telemetry: gridems (mqtt_received) | %.0f msgs (%.1f %% of sent), all handled at "
           "%.2f s = %.0f msg/s (%.2f CPU s: %.1f us/msg) | | |\n",
           r->svc_count, 100.0 * r->svc_count / (double)r->sent, r->svc_s, svc_rate, r->cpu_svc,
           1e6 * r->cpu_svc / r->svc_count);
    printf("| telemetry: gridems / mosquitto_sub | rate %.1f %%, count %.1f %% | rate >= 80 %% | "
           "%s |\n",
           100.0 * svc_rate / sub_rate, 100.0 * r->svc_count / (double)r->sub_count,
           svc_rate >= 0.8 * sub_rate ? "met" : "MISSED");
    long max_rss = 0;
    for (int i = 0; i < r->n_rss; i++) {
        max_rss = r->rss_kb[i] > max_rss ? r->rss_kb[i] : max_rss;
    }
    printf("| resident memory at start: connected / first full plan | %.1f MiB / %.1f MiB | "
           "< 32 MiB | %s |\n",
           r->rss_boot_kb / 1024.0, r->rss_start_kb / 1024.0,
           r->rss_start_kb < 32 * 1024 ? "met" : "MISSED");
    printf("| re-plans forced (%s) | %ld of %ld in %.0f s (median %.1f ms each, last plan %llu: "
           "%d batteries, %d jobs) | | |\n",
           o->replan_by_price ? "price updates" : "{\"cmd\":\"replan\"}", r->replans_done,
           o->replans, r->replans_seconds, r->replan_median_ms, (unsigned long long)r->last.id,
           r->last.batteries, r->last.jobs);
    printf("| VmRSS after N re-plans | ");
    for (int i = 0; i < r->n_rss; i++) {
        printf("%s%ld: %.1f", i > 0 ? ", " : "", r->rss_at[i], r->rss_kb[i] / 1024.0);
    }
    long growth = r->n_rss > 1 ? r->rss_kb[r->n_rss - 1] - r->rss_kb[1] : 0;
    printf(" MiB (%+ld kB from re-plan %ld to %ld) | < 32 MiB, flat | %s |\n", growth,
           r->n_rss > 1 ? r->rss_at[1] : 0L, r->replans_done,
           max_rss < 32 * 1024 && growth < 1024 && r->replans_done == o->replans ? "met"
           : max_rss < 32 * 1024 && growth < 1024 ? "met for the re-plans done"
                                                  : "MISSED");
    printf("| VmHWM after re-plans / after telemetry | %.1f MiB / %.1f MiB | | |\n",
           r->hwm_after_replans_kb / 1024.0, r->hwm_after_flood_kb / 1024.0);
    printf("| VmRSS after telemetry | %.1f MiB | < 32 MiB | %s |\n", r->rss_after_flood_kb / 1024.0,
           r->rss_after_flood_kb < 32 * 1024 ? "met" : "MISSED");
    printf("\nAfter the flood, mqtt_received grew by %.0f more (device traffic) while it was "
           "polled; the broker %s Nagle's algorithm.\n",
           r->svc_extra, o->broker_nagle ? "kept" : "had TCP_NODELAY instead of");
    fflush(stdout);
}

/* ---- ## main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_service [--gridems PATH] [--plugin-dir DIR] [--mosquitto PATH]\n"
                    "                     [--mosquitto-sub PATH] [--updates N] [--gap-ms N]\n"
                    "                     [--telemetry N] [--telemetry-seconds S] [--replans N]\n"
                    "                     [--replan-minutes M] [--replan-by command|price]\n"
                    "                     [--log-level LEVEL] [--broker-nagle] [--keep]\n");
}

static int parse_args(int argc, char **argv, options_t *o)
{
    /* Room for "/gridems" and "/plugins" after the directory. */
    char self[PATH_CAP - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    snprintf(o->gridems, sizeof o->gridems, "%s/gridems", self);
    snprintf(o->plugin_dir, sizeof o->plugin_dir, "%s/plugins", self);
    o->mosquitto = access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto"
                                                            : "/usr/local/sbin/mosquitto";
    o->mosquitto_sub = "/usr/bin/mosquitto_sub";
    o->updates = 100;
    o->gap_ms = 100;
    o->telemetry = 200000;
    o->telemetry_seconds = 30;
    o->replans = 10000;
    o->replan_minutes = 60;
    o->replan_by_price = false;
    o->log_level = "warning";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (strcmp(a, "--broker-nagle") == 0) {
            o->broker_nagle = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--gridems") == 0) {
            snprintf(o->gridems, sizeof o->gridems, "%s", v);
        } else if (strcmp(a, "--plugin-dir") == 0) {
            snprintf(o->plugin_dir, sizeof o->plugin_dir, "%s", v);
        } else if (strcmp(a, "--mosquitto") == 0) {
            o->mosquitto = v;
        } else if (strcmp(a, "--mosquitto-sub") == 0) {
            o->mosquitto_sub = v;
        } else if (strcmp(a, "--updates") == 0) {
            o->updates = atoi(v);
        } else if (strcmp(a, "--gap-ms") == 0) {
            o->gap_ms = atoi(v);
        } else if (strcmp(a, "--telemetry") == 0) {
            o->telemetry = atol(v);
        } else if (strcmp(a, "--telemetry-seconds") == 0) {
            o->telemetry_seconds = atof(v);
        } else if (strcmp(a, "--replans") == 0) {
            o->replans = atol(v);
        } else if (strcmp(a, "--replan-minutes") == 0) {
            o->replan_minutes = atof(v);
        } else if (strcmp(a, "--replan-by") == 0 &&
                   (strcmp(v, "command") == 0 || strcmp(v, "price") == 0)) {
            o->replan_by_price = strcmp(v, "price") == 0;
        } else if (strcmp(a, "--log-level") == 0) {
            o->log_level = v;
        } else {
            usage();
            return -1;
        }
    }
    if (o->updates < 1 || o->gap_ms < 0 || o->telemetry < 1 || o->telemetry_seconds <= 0 ||
        o->replans < 0 || o->replan_minutes <= 0) {
        usage();
        return -1;
    }
    const char *need[] = {o->gridems, o->mosquitto, o->mosquitto_sub};
    for (int i = 0; i < 3; i++) {
        if (access(need[i], X_OK) != 0) {
            fprintf(stderr, "bench_service: %s is not an executable\n", need[i]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    memset(&o, 0, sizeof o);
    if (parse_args(argc, argv, &o) != 0) {
        return 2;
    }
    run.keep = o.keep;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    snprintf(run.dir, sizeof run.dir, "/tmp/gridems-bench-service-XXXXXX");
    if (mkdtemp(run.dir) == NULL) {
        fprintf(stderr, "bench_service: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    results_t *r = calloc(1, sizeof *r);
    int rc = 1;
    const char *failed = "start-up";
    if (r == NULL || start_broker(&o) != 0 || start_service(&o) != 0) {
        goto out;
    }
    load_average(r->load_start, sizeof r->load_start);
    run.ctl = connect_client("bench-control");
    if (run.ctl == NULL || MQTTClient_subscribe(run.ctl, SITE_PREFIX "/status", 1) != 0 ||
        MQTTClient_subscribe(run.ctl, SITE_PREFIX "/schedule", 1) != 0 || warm_up(r) != 0) {
        goto out;
    }
    r->rss_start_kb = proc_kb(run.service, "VmRSS");
    fprintf(stderr, "bench_service: plan %llu holds the canonical site after %.1f s; latency...\n",
            (unsigned long long)r->first.id, r->warmup_s);
    failed = "latency";
    if (phase_latency(&o, r) != 0) {
        goto out;
    }
    load_average(r->load_latency, sizeof r->load_latency);
    fprintf(stderr, "bench_service: latency median %.2f ms; %ld re-plans...\n", r->lat_median,
            o.replans);
    failed = "re-plans";
    if (phase_replans(&o, r) != 0) {
        goto out;
    }
    load_average(r->load_replans, sizeof r->load_replans);
    fprintf(stderr, "bench_service: telemetry...\n");
    failed = "telemetry";
    if (phase_telemetry(&o, r) != 0) {
        goto out;
    }
    load_average(r->load_telemetry, sizeof r->load_telemetry);
    if (!child_gone(&run.service)) {
        print_results(&o, r);
        rc = 0;
        failed = NULL;
    }
out:
    if (failed != NULL) {
        fprintf(stderr, "bench_service: failed during %s%s\n", failed,
                interrupted ? " (interrupted)" : "");
        if (run.dir[0] != '\0' && !interrupted) {
            run.keep = true; /* the logs explain the failure */
        }
    }
    stop_all();
    free(r);
    return rc;
}
